//! The test bed: the network namespaces, VM and traffic that ssinet's tests, benchmarks and demo
//! run on, with nothing of the cluster in it.
//!
//! - [`netns`]: network namespaces, veths, processes inside them, and the N-node lab topology (a
//!   switch namespace with the bridges, one namespace per node, a client and a gateway
//!   namespace), its config files, and the faults a test puts on a node's links.
//! - [`vm`]: a qemu VM booting Debian's stock kernel, for what this machine's kernel lacks (IPVS).
//! - [`probe`]: clients that measure what a user of an address sees (failover gaps, spread), and
//!   [`responder`], the server side they talk to.
//! - [`preload`]: builds the remote-socket preload library for tests that run `ssi-exec`.
//!
//! It must never depend on a cluster crate (ssinet-raft, ssinet-api, ssinet-config) or what they
//! bring (openraft, redb, rustls): the low crates' tests use it, and real `ssinetd` clusters
//! belong to the harness above it, `ssinet-lab`.

pub mod netns;
pub mod preload;
pub mod probe;
pub mod responder;
pub mod vm;

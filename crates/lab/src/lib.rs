//! The lab: throwaway clusters for ssinet's tests, benchmarks and demo.
//!
//! - [`netns`]: an N-node cluster built from network namespaces on this machine (a switch
//!   namespace with the bridges, one namespace per node, a client namespace, a gateway
//!   namespace), and the faults a test puts on a node's links.
//! - [`cluster`]: one real `ssinetd` per node of a namespace lab, and what a user checks on it.
//! - [`probe`]: clients that measure what a user of the CVIP sees (failover gaps, spread).
//! - [`demo`]: `ssinet-lab demo`, the tour of a cluster a newcomer runs first.
//! - [`vm`]: a qemu VM booting Debian's stock kernel, for what this machine's kernel lacks (IPVS).

pub mod cluster;
pub mod demo;
pub mod netns;
pub mod probe;
pub mod vm;

//! The cluster harness: real ssinet clusters for ssinet's tests, benchmarks and demo, built on
//! the namespace and VM test bed of `ssinet-testbed`.
//!
//! - [`cluster`]: one real `ssinetd` per node of a namespace lab
//!   ([`ssinet_testbed::netns::Lab`]), its admin client, `cvipctl` and `ipvsadm`, and what a user
//!   checks on it (who holds the CVIP, the ownership sampler).
//! - [`demo`]: `ssinet-lab demo`, the tour of a cluster a newcomer runs first.
//!
//! The `ssinet-lab` binary is the one CLI of both crates: namespace labs (`up`, `down`, ...), the
//! IPVS VM (`vm`, `vm-prepare`) and the demo.

pub mod cluster;
pub mod demo;

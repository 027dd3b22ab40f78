//! Shared pieces of ssinet's end-to-end tests and benchmarks, which run inside the IPVS VM
//! (`tests/vm/run-kernel-tests`) or, without IPVS, on the host (`benches/failover_host.rs`):
//! bringing up a director cluster and waiting for it the way an operator would check it
//! ([`director`]), the keepalived baseline the benchmarks compare with ([`keepalived`]), and
//! what `/proc` says about the processes they started ([`procstat`]).
//!
//! The programs under test (`ssinetd`, `cvipctl`) are found beside the test binary: build them
//! first with `cargo build --workspace --bins` (run-kernel-tests does).

pub mod director;
pub mod keepalived;
pub mod procstat;

/// The load-balanced port of every scenario (cvip.conf's port weight).
pub const PORT: u16 = 80;

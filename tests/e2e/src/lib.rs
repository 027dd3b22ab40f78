//! Shared pieces of ssinet's end-to-end tests and benchmarks, which run inside the IPVS VM
//! (`tests/vm/run-kernel-tests`): bringing up a director cluster and waiting for it the way an
//! operator would check it ([`director`]), and the keepalived baseline the benchmarks compare
//! with ([`keepalived`]).
//!
//! The programs under test (`ssinetd`, `cvipctl`) are found beside the test binary: build them
//! first with `cargo build --workspace --bins` (run-kernel-tests does).

pub mod director;
pub mod keepalived;

/// The load-balanced port of every scenario (cvip.conf's port weight).
pub const PORT: u16 = 80;

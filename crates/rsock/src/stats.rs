//! Counters the agent exports on /metrics.

use std::sync::atomic::{AtomicU64, Ordering};

/// A snapshot of the counters: the admin API's type, so the agent reports it as it is.
pub use ssinet_api::rsock::RsockCounters as Counters;

#[derive(Default)]
pub(crate) struct Stats {
    pub sockets_created: AtomicU64,
    pub connects: AtomicU64,
    pub connect_failures: AtomicU64,
    pub accepts: AtomicU64,
    pub bytes_in_closed: AtomicU64,
    pub bytes_out_closed: AtomicU64,
    pub refused_connections: AtomicU64,
    pub bad_frames: AtomicU64,
    pub origins_lost: AtomicU64,
    pub permission_denials: AtomicU64,
}

impl Stats {
    pub fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }
}

/// A count (bytes, sockets) as a counter's value; usize is at most 64 bits on every target.
pub(crate) fn counter_value(n: usize) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}

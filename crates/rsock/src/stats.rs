//! Counters the agent exports on /metrics.

use std::sync::atomic::{AtomicU64, Ordering};

use serde::Serialize;

/// A snapshot of the counters (monotonic unless noted).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Counters {
    /// Remote sockets created for local processes.
    pub sockets_created: u64,
    /// Remote sockets of local processes open now (gauge).
    pub sockets_open: u64,
    /// Real sockets this node serves as origin now, for any node (gauge).
    pub origin_sockets_open: u64,
    pub connects: u64,
    pub connect_failures: u64,
    pub accepts: u64,
    /// Bytes delivered to local applications.
    pub bytes_in: u64,
    /// Bytes sent by local applications.
    pub bytes_out: u64,
    /// Control or data connections refused (bad certificate, unknown node, bad token).
    pub refused_connections: u64,
    /// Frames refused as oversized or malformed.
    pub bad_frames: u64,
    /// Origin agents declared gone (disconnect or missed pings).
    pub origins_lost: u64,
    /// Requests refused by the credential rules (privileged ports, privileged options).
    pub permission_denials: u64,
}

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

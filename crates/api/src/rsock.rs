//! Remote sockets as the admin API reports them (`GET /v1/rsock`, `cvipctl rsock list`): every
//! live socket of a process homed elsewhere ("local") or homed here ("served"), and the counters.

use serde::{Deserialize, Serialize};
use ssinet_config::NodeId;

/// `GET`: this node's remote sockets, an [`RsockReport`].
pub const RSOCK: &str = "/v1/rsock";

/// The node's rsock service and its live sockets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RsockReport {
    pub node: NodeId,
    /// False when ssinetd runs with `--no-rsock`; the rest is then empty.
    pub enabled: bool,
    /// This agent's boot epoch, in hex (part of every socket id it creates).
    pub epoch: String,
    /// Where peers reach this node's origin side.
    pub listen: String,
    /// The broker's unix socket, which `ssi-exec` processes use.
    pub broker_socket: String,
    pub counters: RsockCounters,
    pub sockets: Vec<RsockSocket>,
}

/// One live remote socket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RsockSocket {
    /// `origin-node:epoch:sequence`: unique across the cluster and agent restarts.
    pub id: String,
    /// "local": a process on this node uses it; "served": this node holds the real socket for a
    /// process on `node`.
    pub role: String,
    /// The node the process runs on.
    pub node: NodeId,
    pub pid: i32,
    /// The process's name (`/proc/PID/comm`), when it runs on this node.
    pub process: Option<String>,
    pub uid: u32,
    /// The node holding the real socket.
    pub origin: NodeId,
    /// idle, bound, listening, connecting or connected.
    pub state: String,
    /// The real socket's addresses at the origin, when it has them.
    pub local: Option<String>,
    pub peer: Option<String>,
    /// Bytes delivered to the process.
    pub bytes_in: u64,
    /// Bytes the process sent.
    pub bytes_out: u64,
}

/// The service's counters (monotonic unless noted).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RsockCounters {
    pub sockets_created: u64,
    /// Gauge: remote sockets of local processes.
    pub sockets_open: u64,
    /// Gauge: real sockets this node holds as origin, for any node.
    pub origin_sockets_open: u64,
    pub connects: u64,
    pub connect_failures: u64,
    pub accepts: u64,
    pub bytes_in: u64,
    pub bytes_out: u64,
    pub refused_connections: u64,
    pub bad_frames: u64,
    pub origins_lost: u64,
    pub permission_denials: u64,
}

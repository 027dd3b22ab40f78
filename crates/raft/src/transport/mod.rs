//! Raft RPC over the interconnect: length-prefixed serde_json frames in mutual TLS.
//!
//! A dialing node opens one persistent connection per peer and purpose, sends `Hello { node }`
//! first, and then makes one request at a time, each answered by one reply. The server accepts
//! the hello only if the client certificate (already verified against the cluster CA) names that
//! node. An oversized or malformed frame closes the connection with a logged reason.

mod client;
mod network;
mod server;
mod wire;

use std::time::Duration;

pub use client::CallError;
pub(crate) use client::Peers;
pub use network::{Network, PeerClient};
pub use server::RpcServer;
pub(crate) use server::write_locally;
pub use wire::{ElectNowError, Frame, PreVoteRefusal, Reply, Request, WriteError, Written};

/// Limits and timeouts of the transport.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Largest frame accepted or sent; larger ones close the connection.
    pub max_frame_bytes: usize,
    /// TCP connect plus TLS handshake plus hello.
    pub connect_timeout: Duration,
    /// A forwarded client write, end to end (Raft RPCs use openraft's own deadline).
    pub forward_timeout: Duration,
    /// First delay before redialing a peer that failed; doubles up to `max_backoff`.
    pub min_backoff: Duration,
    /// Longest delay between redials. Short, because a node that comes back must get the log
    /// before it is needed as a successor (a director behind the other voters cannot win their
    /// votes); a redial of a node that is still down costs one failed connect.
    pub max_backoff: Duration,
    /// Concurrent inbound connections; more are refused until some close.
    pub max_connections: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_frame_bytes: 16 * 1024 * 1024,
            connect_timeout: Duration::from_secs(3),
            forward_timeout: Duration::from_secs(10),
            min_backoff: Duration::from_millis(50),
            max_backoff: Duration::from_millis(500),
            max_connections: 256,
        }
    }
}

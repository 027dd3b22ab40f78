//! Raft RPC over the interconnect: serde_json frames on [`ssinet_interconnect::Channel`]s.
//!
//! A dialing node opens one persistent channel per peer and purpose (the channel's hello tells
//! the server which node it is, and its certificate proves it), and then makes one request at a
//! time, each answered by one reply. An oversized or malformed frame closes the connection with
//! a logged reason.

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

/// The interconnect service the Raft RPC port serves.
pub const SERVICE: ssinet_interconnect::Service = ssinet_interconnect::Service("raft");

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

impl Limits {
    /// The bounds of one channel of the transport.
    pub(crate) fn channel(&self) -> ssinet_interconnect::Limits {
        ssinet_interconnect::Limits {
            max_frame_bytes: self.max_frame_bytes,
            handshake_timeout: self.connect_timeout,
        }
    }
}

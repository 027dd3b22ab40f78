//! Why a channel could not be opened or a frame not exchanged.

use std::net::SocketAddr;
use std::time::Duration;

use crate::NodeId;

/// Why a [`crate::Channel`] could not be opened, or a frame not exchanged on it.
#[derive(Debug, thiserror::Error)]
pub enum ChannelError {
    /// The TCP connection could not be made.
    #[error("cannot connect to node {node} at {addr}: {source}")]
    Connect {
        node: NodeId,
        addr: SocketAddr,
        source: std::io::Error,
    },
    /// The TLS handshake failed: a certificate not from the cluster CA, or not the node meant.
    #[error("TLS handshake with {peer} failed: {source}")]
    Tls {
        peer: String,
        source: std::io::Error,
    },
    /// A step of the handshake, or a frame the caller waited for, took too long.
    #[error("{what} did not complete within {after:?}")]
    Timeout { what: &'static str, after: Duration },
    /// The accepting node refused the hello, with its reason.
    #[error("node {node} refused the connection: {reason}")]
    Refused { node: NodeId, reason: String },
    /// The dialing node's hello is not acceptable (wrong node, wrong service, no certificate).
    #[error("refused the peer at {addr}: {reason}")]
    RefusedPeer { addr: SocketAddr, reason: String },
    /// The peer closed the connection.
    #[error("connection closed by the peer")]
    Closed,
    /// Reading or writing a frame failed.
    #[error("frame i/o: {0}")]
    Io(std::io::Error),
    /// The peer announced a frame above the limit; the connection is no longer usable.
    #[error("the peer announced a frame larger than the {max}-byte limit")]
    Oversized { max: usize },
    /// A frame to send is above the limit; nothing was sent.
    #[error("frame of {size} bytes exceeds the {max}-byte limit")]
    TooLarge { size: usize, max: usize },
    /// A frame did not decode as the message expected.
    #[error("malformed frame: {0}")]
    Malformed(serde_json::Error),
}

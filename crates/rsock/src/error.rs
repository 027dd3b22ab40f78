//! Errors of the embeddable service.

use std::path::PathBuf;

/// Why the rsock service could not start.
#[derive(Debug, thiserror::Error)]
pub enum RsockError {
    #[error(
        "cannot listen for peer agents on {addr}: {source}; is another agent running, or is the interconnect address wrong?"
    )]
    PeerListen {
        addr: std::net::SocketAddr,
        source: std::io::Error,
    },
    #[error(
        "cannot create the broker socket {path}: {reason}; check that the directory exists and is writable by the agent"
    )]
    Broker { path: PathBuf, reason: String },
    #[error("the TLS identity is for node {identity} but the service is configured as node {node}")]
    IdentityMismatch { identity: u64, node: u64 },
    #[error("system call failed while starting: {0}")]
    Kernel(std::io::Error),
}

use std::io;

use thiserror::Error;

/// Why listing the node's sockets failed.
#[derive(Debug, Error)]
pub enum ListenersError {
    #[error(
        "cannot open a NETLINK_SOCK_DIAG socket: {0}; the kernel needs CONFIG_INET_DIAG \
         (with TCP and UDP diag) for listener discovery"
    )]
    Open(#[source] io::Error),
    #[error("sock_diag netlink socket I/O failed while {during}: {source}")]
    Io {
        during: &'static str,
        #[source]
        source: io::Error,
    },
    #[error(
        "the kernel refused the sock_diag dump of {what}: {source}; ENOENT means its diag \
         module (inet_diag, tcp_diag or udp_diag) is not available"
    )]
    Refused {
        what: String,
        #[source]
        source: io::Error,
    },
    #[error("malformed sock_diag reply: {0}; this is a kernel/decoder mismatch, please report it")]
    Malformed(String),
}

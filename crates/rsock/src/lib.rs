//! Remote sockets for ssinet (issue 7): a process started with `ssi-exec --origin N` keeps its
//! inet sockets on node N. The application's socket fd is one end of a local socketpair, so every
//! data call stays a plain kernel call; the preload library forwards only control calls (socket,
//! bind, listen, accept, connect, get/setsockopt, getsockname/getpeername, shutdown) to the local
//! broker, which forwards them to N's agent over an authenticated control connection. Bytes flow
//! over one TCP data connection per socket between the agents.

mod broker;
mod error;
pub mod fdutil;
pub mod local_wire;
mod origin;
mod peer;
pub mod protocol;
mod relay;
mod service;
mod stats;

pub use error::RsockError;
pub use peer::{PEER_TIMEOUT, PING_INTERVAL};
pub use service::{RsockConfig, RsockLimits, RsockService, SocketInfo};
pub use stats::Counters;

/// The conventional rsock port on the interconnect.
pub const DEFAULT_PORT: u16 = 7948;

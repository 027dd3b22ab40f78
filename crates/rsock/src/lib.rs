//! Remote sockets for ssinet (issue 7): a process started with `ssi-exec --origin N` keeps its
//! inet sockets on node N. The application's socket fd is one end of a local socketpair, so every
//! data call stays a plain kernel call; the preload library forwards only control calls (socket,
//! bind, listen, accept, connect, get/setsockopt, getsockname/getpeername, shutdown) to the local
//! broker, which forwards them to N's agent over an authenticated control connection. Bytes flow
//! over one TCP data connection per socket between the agents.
//!
//! The wire between the preload library and the broker is the `ssinet-rsock-wire` crate, which
//! both link; the control protocol between agents is [`protocol`].
#![deny(
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    clippy::cast_possible_wrap,
    clippy::undocumented_unsafe_blocks
)]

mod broker;
mod error;
pub mod fdutil;
mod origin;
mod peer;
pub mod protocol;
mod relay;
mod service;
mod stats;

pub use error::{BrokerSocketError, CallError, Errno, RsockError, SysError};
pub use peer::{PEER_TIMEOUT, PING_INTERVAL};
pub use service::{RsockConfig, RsockLimits, RsockService, SocketInfo};
/// The broker wire (the `ssinet-rsock-wire` crate), for callers that name its constants, such
/// as [`local_wire::DEFAULT_BROKER_SOCKET`], through this crate.
pub use ssinet_rsock_wire as local_wire;
pub use stats::Counters;

/// The conventional rsock port on the interconnect.
pub const DEFAULT_PORT: u16 = 7948;

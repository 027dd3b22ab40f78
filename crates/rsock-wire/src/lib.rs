//! The wire between the preload library (`ssinet-preload`) and the local broker
//! (`ssinet-rsock`): one request and one reply per SOCK_SEQPACKET connection, a file descriptor
//! beside a message by SCM_RIGHTS.
//!
//! Both ends link this crate, so there is one definition of every byte. It depends on libc only
//! and neither locks nor keeps state: the preload library runs it inside any process, at any
//! moment a socket call may come (after fork, in a signal handler's socket call).
//!
//! - [`message`]: the request, reply and accept-record layouts (fixed, little-endian);
//! - [`sockaddr`]: the kernel's `sockaddr_in`/`sockaddr_in6`/`sockaddr_un` bytes;
//! - [`fdpass`]: a message with at most one descriptor attached, both directions;
//! - [`Errno`]: an errno value, as system calls leave it and the reply carries it.
//!
//! Widths change only through `From`/`TryFrom` (the workspace lints deny lossy `as` casts): a
//! length or value that does not fit is an error the caller maps to an errno, or saturates to one
//! the receiver refuses; it is never cut, and never a panic.

mod errno;
pub mod fdpass;
pub mod message;
pub mod sockaddr;

pub use errno::Errno;
pub use message::*;
pub use sockaddr::{BadSockaddr, parse_sockaddr, sockaddr_bytes};

/// Where the broker listens unless told otherwise.
/// Not under /run/ssinet: any user may start `ssi-exec`, so its directory must be traversable.
pub const DEFAULT_BROKER_SOCKET: &str = "/run/ssinet-rsock/broker.sock";
/// Environment variable naming the broker socket (set by ssi-exec).
pub const ENV_BROKER: &str = "SSINET_RSOCK_BROKER";
/// Environment variable naming the origin node (set by ssi-exec).
pub const ENV_ORIGIN: &str = "SSINET_RSOCK_ORIGIN";

//! Which load-balanced ports this node serves, read from the kernel through sock_diag netlink.
//!
//! OpenSSI hooked `listen()` in the kernel to register a node as a real server for a port. We
//! ask the kernel instead: [`ListenerDump`] lists the node's listening TCP sockets and bound,
//! unconnected UDP sockets (`NETLINK_SOCK_DIAG`, unprivileged), [`registrations`] keeps those
//! on a weighted port and bound to a CVIP or a wildcard address, and [`Watcher`] turns
//! successive polls into [`Changes`] the agent replicates as register/unregister commands.
//!
//! sock_diag has no event stream, so the watcher is level-triggered: poll on an interval, and
//! a missed poll costs only latency, never a stale registration.
//!
//! A netlink socket belongs to the network namespace of the thread that created it: create the
//! [`ListenerDump`] (or [`Watcher`]) on a thread inside the namespace to be watched.

mod decode;
mod dump;
mod error;
mod listener;
mod registrations;
mod watcher;

pub use decode::{DumpPart, DumpRequest, decode_dump_part};
pub use dump::ListenerDump;
pub use error::ListenersError;
pub use listener::{Listener, Protocol};
pub use registrations::{PortRange, Registration, registrations};
pub use watcher::{Changes, Watcher};

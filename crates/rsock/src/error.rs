//! The crate's errors: [`RsockError`] when the service cannot start, [`CallError`] when one
//! socket call fails, [`PeerError`] when a connection between agents is refused or breaks.
//!
//! A failed call becomes an errno ([`CallError::errno`]) only where it leaves the agent: in the
//! broker's reply to the preload library and in a reply frame to the agent whose process asked.
//! An errno that arrives in a reply frame stays one ([`CallError::Remote`]).

use ssinet_interconnect::NodeId;
use std::net::SocketAddr;
use std::path::PathBuf;

pub use ssinet_rsock_wire::Errno;
use ssinet_rsock_wire::{BadSockaddr, Malformed};

use crate::protocol::{Frame, FrameError, SocketId};

/// Why the rsock service could not start.
#[derive(Debug, thiserror::Error)]
pub enum RsockError {
    #[error(
        "cannot listen for peer agents on {addr}: {source}; is another agent running, or is the interconnect address wrong?"
    )]
    PeerListen {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error(
        "cannot create the broker socket {path}: {source}; check that the directory exists and is writable by the agent"
    )]
    Broker {
        path: PathBuf,
        source: BrokerSocketError,
    },
    #[error("the TLS identity is for node {identity} but the service is configured as node {node}")]
    IdentityMismatch { identity: NodeId, node: NodeId },
}

/// Why the broker's unix socket could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum BrokerSocketError {
    #[error("path too long for a unix socket")]
    PathTooLong,
    #[error("create {dir}: {source}")]
    CreateDir {
        dir: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "in use: another agent's broker listens there (stop it, or pass another --rsock-socket)"
    )]
    InUse,
    #[error("remove the stale socket: {0}")]
    RemoveStale(std::io::Error),
    #[error("chmod 0666: {0}")]
    Chmod(std::io::Error),
    #[error("start the broker thread: {0}")]
    Thread(std::io::Error),
    #[error(transparent)]
    Sys(#[from] SysError),
}

/// A system call on one of the agent's own descriptors failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{call}: {errno}")]
pub struct SysError {
    /// The call (or what it was for).
    pub call: &'static str,
    pub errno: Errno,
}

impl SysError {
    /// `call` failed with the calling thread's errno.
    pub fn last(call: &'static str) -> Self {
        Self {
            call,
            errno: Errno::last(),
        }
    }

    pub fn new(call: &'static str, errno: i32) -> Self {
        Self {
            call,
            errno: Errno::new(errno),
        }
    }
}

/// Why one socket call of an application failed, on this node or at the origin.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CallError {
    /// The kernel refused a call on the real socket or on the agent's side of it.
    #[error(transparent)]
    Sys(#[from] SysError),
    /// The origin agent's answer, as its reply frame carried it.
    #[error("node {node} answered: {errno}")]
    Remote { node: NodeId, errno: Errno },
    #[error(transparent)]
    Address(#[from] BadSockaddr),
    #[error("malformed request from the preload library")]
    Malformed,
    #[error("unknown broker operation {0}")]
    UnknownOp(u8),
    #[error("socket {0} is not one the caller holds here")]
    UnknownSocket(SocketId),
    #[error("address family {0}: only AF_INET and AF_INET6 sockets are remote")]
    Family(i32),
    #[error("socket type {0}: only SOCK_STREAM sockets are remote")]
    SocketType(i32),
    #[error("port {port} is privileged and uid {uid} lacks CAP_NET_BIND_SERVICE")]
    PrivilegedPort { port: u16, uid: u32 },
    #[error("socket option {level}/{name} needs CAP_NET_ADMIN, which uid {uid} lacks")]
    PrivilegedOption { level: i32, name: i32, uid: u32 },
    #[error("port {port} is in another user's SO_REUSEPORT group")]
    ReusePortGroup { port: u16 },
    #[error("a connect is already in progress")]
    ConnectPending,
    #[error("the socket is already connected or listening")]
    AlreadyConnected,
    #[error("the socket is not connected")]
    NotConnected,
    /// A non-blocking connect goes on in the background (the application polls for it).
    #[error("the connect goes on in the background")]
    InProgress,
    #[error("node {0} is not an origin this agent can reach")]
    OriginUnreachable(NodeId),
    #[error("{0} is not a node number")]
    NoSuchNode(i32),
    #[error("the control connection to node {0} closed")]
    OriginLost(NodeId),
    #[error("the socket's data connection is gone")]
    NoDataConnection,
    #[error("the limit of {0} remote sockets is reached")]
    TooManySockets(usize),
    #[error("the origin answered something other than what was asked")]
    UnexpectedAnswer,
    #[error("cannot start the socket's thread")]
    Thread,
}

impl From<Malformed> for CallError {
    fn from(_: Malformed) -> Self {
        Self::Malformed
    }
}

impl CallError {
    /// The errno the application sees: the one its kernel would give for the same refusal.
    pub fn errno(self) -> i32 {
        match self {
            Self::Sys(e) => e.errno.get(),
            Self::Remote { errno, .. } => errno.get(),
            Self::Address(e) => e.errno().get(),
            Self::Malformed | Self::UnknownOp(_) => libc::EINVAL,
            Self::UnknownSocket(_) => libc::EBADF,
            Self::Family(_) => libc::EAFNOSUPPORT,
            Self::SocketType(_) => libc::EPROTONOSUPPORT,
            Self::PrivilegedPort { .. } => libc::EACCES,
            Self::PrivilegedOption { .. } => libc::EPERM,
            Self::ReusePortGroup { .. } => libc::EADDRINUSE,
            Self::ConnectPending => libc::EALREADY,
            Self::AlreadyConnected => libc::EISCONN,
            Self::NotConnected => libc::ENOTCONN,
            Self::InProgress => libc::EINPROGRESS,
            Self::OriginUnreachable(_) | Self::NoSuchNode(_) => libc::EHOSTUNREACH,
            Self::OriginLost(_) => libc::ECONNRESET,
            Self::NoDataConnection => libc::EPIPE,
            Self::TooManySockets(_) => libc::ENFILE,
            Self::UnexpectedAnswer => libc::EIO,
            Self::Thread => libc::EAGAIN,
        }
    }
}

/// Why a control or data connection between agents was refused or ended.
#[derive(Debug, thiserror::Error)]
pub(crate) enum PeerError {
    #[error("node {0} is not a cluster peer")]
    NotAPeer(NodeId),
    #[error("{0} is not a cluster peer's interconnect address")]
    UnknownAddress(SocketAddr),
    #[error("no answer within the handshake timeout")]
    Timeout(#[from] tokio::time::error::Elapsed),
    #[error(transparent)]
    Io(#[from] std::io::Error),
    #[error("closed during HELLO")]
    ClosedInHello,
    #[error(transparent)]
    Channel(#[from] ssinet_interconnect::ChannelError),
    #[error(transparent)]
    Frame(#[from] FrameError),
    #[error("unexpected HELLO from node {node}: {frame:?}")]
    UnexpectedHello { node: NodeId, frame: Box<Frame> },
    #[error("expected HELLO, got {0:?}")]
    NotHello(Box<Frame>),
    #[error("protocol version {0}, this agent speaks {ours}", ours = crate::protocol::PROTOCOL_VERSION)]
    Version(u32),
    #[error("HELLO says node {node} but {from} is node {claimed}'s address")]
    WrongNode {
        node: NodeId,
        from: SocketAddr,
        claimed: NodeId,
    },
    #[error("data connection without a token line")]
    NoToken,
    #[error("data connection with an unknown token")]
    UnknownToken,
}

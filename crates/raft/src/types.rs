//! The openraft type configuration, generic over the replicated application.

use std::cmp::Ordering;
use std::fmt::{self, Debug};
use std::io::Cursor;
use std::marker::PhantomData;
use std::net::{Ipv4Addr, SocketAddr};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

pub use ssinet_interconnect::NodeId;

/// The replicated application: its commands, their responses and the state they build.
///
/// The crate knows nothing of CVIPs or port weights; the agent plugs its cluster model in here.
pub trait App: Send + Sync + 'static {
    /// A change to the state, one Raft log entry each.
    type Command: Serialize + DeserializeOwned + Clone + Debug + Send + Sync + 'static;
    /// What applying a command answers, including a rejection with its reason.
    type Response: Serialize + DeserializeOwned + Clone + Debug + Send + Sync + 'static;
    /// The whole replicated state; snapshots are this value serialized.
    type State: Serialize + DeserializeOwned + Clone + Default + Debug + Send + Sync + 'static;

    /// Applies `command` to `state`.
    ///
    /// Must be deterministic: every node applies the same log and must reach the same state and
    /// the same responses, rejections included. An invalid command leaves `state` unchanged and
    /// answers with the reason; it is never a Raft error.
    fn apply(state: &mut Self::State, command: &Self::Command) -> Self::Response;
}

/// A cluster member as Raft sees it: where its RPC server listens on the interconnect.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerNode {
    /// The node's Raft RPC address on the interconnect.
    pub addr: SocketAddr,
}

impl Default for PeerNode {
    /// openraft needs `Node: Default` to build memberships from bare id sets; such a node has no
    /// usable address and the transport refuses to dial it.
    fn default() -> Self {
        Self {
            addr: SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0)),
        }
    }
}

/// openraft's type configuration for application `A`.
///
/// Implemented by hand because openraft requires `Copy + Ord + Default` of the config type and
/// derives would demand the same of `A`.
pub struct TypeConfig<A>(PhantomData<fn() -> A>);

impl<A> Clone for TypeConfig<A> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<A> Copy for TypeConfig<A> {}
impl<A> Default for TypeConfig<A> {
    fn default() -> Self {
        Self(PhantomData)
    }
}
impl<A> PartialEq for TypeConfig<A> {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}
impl<A> Eq for TypeConfig<A> {}
impl<A> PartialOrd for TypeConfig<A> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl<A> Ord for TypeConfig<A> {
    fn cmp(&self, _: &Self) -> Ordering {
        Ordering::Equal
    }
}
impl<A> Debug for TypeConfig<A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TypeConfig")
    }
}

impl<A: App> openraft::RaftTypeConfig for TypeConfig<A> {
    type D = A::Command;
    /// `None` answers the entries the application never sees (blank and membership entries).
    type R = Option<A::Response>;
    type NodeId = NodeId;
    type Node = PeerNode;
    type Entry = openraft::Entry<Self>;
    type SnapshotData = Cursor<Vec<u8>>;
    type AsyncRuntime = openraft::TokioRuntime;
    type Responder = openraft::raft::responder::OneshotResponder<Self>;
}

/// The Raft handle for application `A`.
pub type Raft<A> = openraft::Raft<TypeConfig<A>>;
/// Raft metrics for application `A`.
pub type Metrics = openraft::RaftMetrics<NodeId, PeerNode>;
/// A log id.
pub type LogId = openraft::LogId<NodeId>;
/// A membership as stored in the log and state machine.
pub type StoredMembership = openraft::StoredMembership<NodeId, PeerNode>;
/// openraft's storage error for our node id.
pub type StorageError = openraft::StorageError<NodeId>;

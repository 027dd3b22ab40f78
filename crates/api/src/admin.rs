//! The admin API: HTTP/1.1 with JSON bodies on a unix socket only root can open.
//!
//! | Route | Answer |
//! |---|---|
//! | `GET` [`STATUS`] | 200 [`StatusReport`] |
//! | `GET` [`STATE`] | 200 [`ClusterState`](crate::ClusterState) (this node's applied state) |
//! | `POST` [`COMMANDS`] with a [`Command`](crate::Command) | 200 [`Response::Applied`](crate::Response), 422 [`Response::Rejected`](crate::Response) |
//! | `GET` [`METRICS`] | 200 Prometheus text format |
//!
//! Any other failure is an [`ApiError`] with the status of its [`ErrorCode`]: a write the
//! cluster cannot commit (no leader, no quorum) is 503, a malformed request 400. Writes sent to a
//! follower are forwarded to the leader by the agent; the client never needs to find it.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};
use ssinet_config::NodeId;

/// Where `ssinetd` listens and `cvipctl` connects by default.
pub const DEFAULT_SOCKET: &str = "/run/ssinet/admin.sock";

/// `GET`: the node's view of the cluster, a [`StatusReport`].
pub const STATUS: &str = "/v1/status";
/// `GET`: the node's applied [`ClusterState`](crate::ClusterState).
pub const STATE: &str = "/v1/state";
/// `POST` a [`Command`](crate::Command); answers a [`Response`](crate::Response).
pub const COMMANDS: &str = "/v1/commands";
/// `GET`: Prometheus text format (term, leader, commit index, apply latency, peers reachable).
pub const METRICS: &str = "/metrics";

/// HTTP status of an applied command.
pub const STATUS_APPLIED: u16 = 200;
/// HTTP status of a command the state machine rejected; the body is `Response::Rejected`.
pub const STATUS_REJECTED: u16 = 422;

/// A node's Raft role as this node last saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RaftRole {
    /// Holds the CVIP (once it has a quorum acknowledgement): the director.
    Leader,
    /// Standing for election.
    Candidate,
    /// A voter following the leader.
    Follower,
    /// Receives the log but does not vote (nodes beyond the 3 or 5 voters).
    Learner,
    /// The agent is stopping.
    Shutdown,
    /// Not known from here (the node is unreachable or not yet in the membership).
    Unknown,
}

impl RaftRole {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Leader => "leader",
            Self::Candidate => "candidate",
            Self::Follower => "follower",
            Self::Learner => "learner",
            Self::Shutdown => "shutdown",
            Self::Unknown => "unknown",
        }
    }
}

impl std::fmt::Display for RaftRole {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `GET /v1/status`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusReport {
    /// The node that answered.
    pub node: NodeId,
    pub role: RaftRole,
    pub term: u64,
    /// The leader (director) as this node knows it.
    pub leader: Option<NodeId>,
    /// Index of the last log entry known committed.
    pub commit_index: Option<u64>,
    /// Index of the last log entry applied to this node's state.
    pub last_applied: Option<u64>,
    /// Whether the cluster can commit writes right now, as far as this node can tell: on the
    /// leader, a quorum acknowledged it recently; on another node, a leader is known and
    /// reachable.
    pub quorum: bool,
    /// Leader only: milliseconds since a quorum last acknowledged it.
    #[serde(default)]
    pub millis_since_quorum_ack: Option<u64>,
    /// Every node of clustertab, in node order.
    pub nodes: Vec<NodeStatus>,
    /// The Raft learners this node's membership lists (voters are flagged in `nodes`): with a
    /// changed clustertab, what the leader has already added or not yet removed.
    #[serde(default)]
    pub learners: Vec<NodeId>,
    /// This node's data plane (kernel addresses and IPVS).
    #[serde(default)]
    pub data_plane: crate::dataplane::DataPlaneStatus,
}

/// One node in a [`StatusReport`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeStatus {
    pub num: NodeId,
    /// Interconnect address.
    pub ip: IpAddr,
    /// A `<director_node>` in cvip.conf: may lead, and so hold the CVIP.
    pub director_capable: bool,
    /// A Raft voter (else a learner).
    pub voter: bool,
    /// The answering node has a working connection to it (always true for itself).
    pub reachable: bool,
    pub role: RaftRole,
}

/// Why a request failed other than by a rejected command.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiError {
    pub code: ErrorCode,
    /// For people: what went wrong and what to do.
    pub message: String,
}

/// Machine-readable failure kinds; each has one HTTP status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// A leader exists but cannot reach a quorum, or this node is cut off from it (503).
    NoQuorum,
    /// No leader is known, e.g. during an election (503).
    NoLeader,
    /// The write was sent but no answer came in time; it may still be applied (504).
    Timeout,
    /// The agent is shutting down (503).
    ShuttingDown,
    /// The request could not be understood: bad JSON, unknown command (400).
    BadRequest,
    /// No such route (404).
    NotFound,
    /// The route exists but not with this method (405).
    MethodNotAllowed,
    /// Anything else; the message says what (500).
    Internal,
}

impl ErrorCode {
    pub fn http_status(self) -> u16 {
        match self {
            Self::NoQuorum | Self::NoLeader | Self::ShuttingDown => 503,
            Self::Timeout => 504,
            Self::BadRequest => 400,
            Self::NotFound => 404,
            Self::MethodNotAllowed => 405,
            Self::Internal => 500,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::NoQuorum => "no_quorum",
            Self::NoLeader => "no_leader",
            Self::Timeout => "timeout",
            Self::ShuttingDown => "shutting_down",
            Self::BadRequest => "bad_request",
            Self::NotFound => "not_found",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::Internal => "internal",
        }
    }

    /// The cluster cannot take writes now; retrying later may succeed.
    pub fn is_unavailable(self) -> bool {
        matches!(
            self,
            Self::NoQuorum | Self::NoLeader | Self::Timeout | Self::ShuttingDown
        )
    }
}

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.message, self.code.as_str())
    }
}

impl std::error::Error for ApiError {}

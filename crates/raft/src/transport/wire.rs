//! The Raft messages in the interconnect channel's frames (JSON, one per frame).

use openraft::error::{InstallSnapshotError, RaftError};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use serde::{Deserialize, Serialize};

use crate::types::{App, LogId, NodeId, TypeConfig};

/// Every frame: a per-connection sequence number, echoed by the reply, and the body.
///
/// The number lets a client skip the late reply to a request it stopped waiting for, instead of
/// dropping a good connection.
#[derive(Serialize, Deserialize)]
pub struct Frame<T> {
    pub id: u64,
    pub body: T,
}

/// A frame body from the dialing node.
#[derive(Serialize, Deserialize)]
#[serde(bound = "")]
pub enum Request<A: App> {
    AppendEntries(AppendEntriesRequest<TypeConfig<A>>),
    Vote(VoteRequest<NodeId>),
    InstallSnapshot(InstallSnapshotRequest<TypeConfig<A>>),
    /// A client write a follower forwards to the leader.
    ClientWrite(A::Command),
    /// From a leader that may not direct (a caretaker): "your log matches mine, stand for
    /// election now", so leadership passes to a director-capable node.
    ElectNow,
    /// "Would you vote for me if I stood now?" Asked before a node campaigns, so a node that
    /// cannot win (cut off, behind, or the leader is alive) never raises its term and deposes
    /// a working leader. Changes nothing on the asked node.
    PreVote {
        /// The asking node's last log id.
        last_log_id: Option<LogId>,
    },
}

/// A frame body from the server, answering the request with the same frame id.
#[derive(Serialize, Deserialize)]
#[serde(bound = "")]
pub enum Reply<A: App> {
    AppendEntries(Result<AppendEntriesResponse<NodeId>, RaftError<NodeId>>),
    Vote(Result<VoteResponse<NodeId>, RaftError<NodeId>>),
    InstallSnapshot(
        Result<InstallSnapshotResponse<NodeId>, RaftError<NodeId, InstallSnapshotError>>,
    ),
    ClientWrite(Result<Written<A::Response>, WriteError>),
    ElectNow(Result<(), ElectNowError>),
    PreVote(Result<(), PreVoteRefusal>),
}

impl<A: App> Reply<A> {
    /// The frame's kind, for error messages.
    pub fn kind(&self) -> &'static str {
        match self {
            Reply::AppendEntries(_) => "AppendEntries",
            Reply::Vote(_) => "Vote",
            Reply::InstallSnapshot(_) => "InstallSnapshot",
            Reply::ClientWrite(_) => "ClientWrite",
            Reply::ElectNow(_) => "ElectNow",
            Reply::PreVote(_) => "PreVote",
        }
    }
}

/// A committed and applied client write.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Written<R> {
    /// Where the command sits in the log.
    pub log_id: LogId,
    /// The application's answer, which may be a rejection with its reason.
    pub response: R,
}

/// Why a client write did not commit.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
pub enum WriteError {
    /// This node is not the leader and cannot forward (no leader known, or the leader moved).
    #[error("not the leader; the leader is {}", leader.map_or("unknown (election in progress, retry shortly)".to_string(), |n| format!("node {n}")))]
    NotLeader { leader: Option<NodeId> },
    /// The leader could not be reached to forward the write.
    #[error("cannot reach the leader, node {node}: {reason}")]
    Unreachable { node: NodeId, reason: String },
    /// The write did not complete in time; it may still commit.
    #[error(
        "the write did not complete within {millis} ms; it may still commit, check before retrying"
    )]
    Timeout { millis: u64 },
    /// Raft stopped or failed on this node or the leader.
    #[error("raft failed: {0}")]
    Raft(String),
    /// The application entry was answered without a response (should not happen).
    #[error("the leader returned no response for a normal entry")]
    NoResponse,
}

/// Why a node did not start the election a caretaker leader asked for.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
pub enum ElectNowError {
    /// Only director-capable nodes stand for election on request.
    #[error("node {node} is not director-capable and does not stand for election on request")]
    NotElectable { node: NodeId },
    /// The node's agent said it cannot serve as director now (e.g. its external link is down).
    #[error("node {node} cannot serve as director now (its agent stood it down)")]
    Ineligible { node: NodeId },
    /// Only the leader this node follows may hand leadership over.
    #[error("node {from} asked for an election but this node follows {}", leader.map_or("no known leader".to_string(), |n| format!("node {n}")))]
    NotFromLeader {
        from: NodeId,
        leader: Option<NodeId>,
    },
    /// Raft stopped on this node.
    #[error("raft failed: {0}")]
    Raft(String),
}

/// Why a voter would not vote for the asking node now (see [`Request::PreVote`]).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
pub enum PreVoteRefusal {
    /// The voter heard from an elected leader within the leader lease.
    #[error("heard from leader node {leader} {heard_ms_ago} ms ago (lease {lease_ms} ms)")]
    LeaderAlive {
        leader: NodeId,
        heard_ms_ago: u64,
        lease_ms: u64,
    },
    /// The voter is the leader and a quorum acknowledged it within the lease.
    #[error("node {leader} leads with a quorum acknowledgement {ack_ms_ago} ms old")]
    Leading { leader: NodeId, ack_ms_ago: u64 },
    /// The voter's log is ahead of the candidate's (Raft's up-to-date rule).
    #[error("the voter's log ({voter}) is ahead of the candidate's ({candidate})")]
    LogBehind { voter: String, candidate: String },
    /// Raft stopped on the voter.
    #[error("raft failed: {0}")]
    Raft(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Counter;

    impl App for Counter {
        type Command = u32;
        type Response = Result<u64, String>;
        type State = u64;

        fn apply(state: &mut u64, add: &u32) -> Result<u64, String> {
            *state = state.checked_add(u64::from(*add)).ok_or("overflow")?;
            Ok(*state)
        }
    }

    #[test]
    fn frames_round_trip_with_their_id() {
        let request = Frame {
            id: 7,
            body: Request::<Counter>::ClientWrite(5),
        };
        let raw = ssinet_interconnect::encode_json(&request, 1024).unwrap();
        let got: Frame<Request<Counter>> = serde_json::from_slice(&raw).unwrap();
        assert_eq!(got.id, 7);
        assert!(matches!(got.body, Request::ClientWrite(5)));

        let reply = Frame {
            id: 7,
            body: Reply::<Counter>::ClientWrite(Err(WriteError::NotLeader {
                leader: Some(NodeId(2)),
            })),
        };
        let raw = ssinet_interconnect::encode_json(&reply, 1024).unwrap();
        let got: Frame<Reply<Counter>> = serde_json::from_slice(&raw).unwrap();
        assert!(matches!(
            got.body,
            Reply::ClientWrite(Err(WriteError::NotLeader {
                leader: Some(NodeId(2))
            }))
        ));
    }
}

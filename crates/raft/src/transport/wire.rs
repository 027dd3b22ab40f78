//! The frames on the wire and their encoding.

use bytes::Bytes;
use futures::{SinkExt, StreamExt};
use openraft::error::{InstallSnapshotError, RaftError};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_util::codec::{Framed, LengthDelimitedCodec, LengthDelimitedCodecError};

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
    /// First frame of a connection: which node the client claims to be.
    Hello {
        node: NodeId,
    },
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
    HelloAccepted,
    /// The server refuses the connection and closes it.
    Refused {
        reason: String,
    },
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
            Reply::HelloAccepted => "HelloAccepted",
            Reply::Refused { .. } => "Refused",
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

pub(crate) type FramedStream<S> = Framed<S, LengthDelimitedCodec>;

/// Frames `stream` with the length-delimited codec bounded by `max_frame_bytes`.
pub(crate) fn framed<S: AsyncRead + AsyncWrite>(
    stream: S,
    max_frame_bytes: usize,
) -> FramedStream<S> {
    let codec = LengthDelimitedCodec::builder()
        .max_frame_length(max_frame_bytes)
        .new_codec();
    Framed::new(stream, codec)
}

/// Why a frame could not be exchanged.
#[derive(Debug, thiserror::Error)]
pub(crate) enum FrameError {
    #[error("connection closed by the peer")]
    Closed,
    #[error("frame i/o: {0}")]
    Io(#[from] std::io::Error),
    #[error("malformed frame: {0}")]
    Malformed(serde_json::Error),
    #[error("the peer announced a frame larger than the limit")]
    Oversized,
    #[error("reply frame {got} does not answer request {expected}")]
    OutOfStep { got: u64, expected: u64 },
    #[error("frame of {size} bytes exceeds the {max}-byte limit")]
    TooLarge { size: usize, max: usize },
}

/// Serializes a frame, refusing one larger than the limit before anything is sent.
pub(crate) fn encode<T: Serialize>(value: &T, max_frame_bytes: usize) -> Result<Bytes, FrameError> {
    let raw = serde_json::to_vec(value).map_err(FrameError::Malformed)?;
    if raw.len() > max_frame_bytes {
        return Err(FrameError::TooLarge {
            size: raw.len(),
            max: max_frame_bytes,
        });
    }
    Ok(Bytes::from(raw))
}

pub(crate) async fn send<S, T>(
    framed: &mut FramedStream<S>,
    value: &T,
    max_frame_bytes: usize,
) -> Result<(), FrameError>
where
    S: AsyncRead + AsyncWrite + Unpin,
    T: Serialize,
{
    framed.send(encode(value, max_frame_bytes)?).await?;
    Ok(())
}

pub(crate) async fn recv<S, T>(framed: &mut FramedStream<S>) -> Result<T, FrameError>
where
    S: AsyncRead + AsyncWrite + Unpin,
    T: DeserializeOwned,
{
    match framed.next().await {
        None => Err(FrameError::Closed),
        Some(Err(e))
            if e.get_ref()
                .is_some_and(|inner| inner.is::<LengthDelimitedCodecError>()) =>
        {
            Err(FrameError::Oversized)
        }
        Some(Err(e)) => Err(FrameError::Io(e)),
        Some(Ok(raw)) => serde_json::from_slice(&raw).map_err(FrameError::Malformed),
    }
}

/// Flushes and closes the stream, sending TLS close_notify, so the peer sees a clean end.
pub(crate) async fn close<S: AsyncRead + AsyncWrite + Unpin>(framed: &mut FramedStream<S>) {
    let _ = SinkExt::<Bytes>::close(framed).await;
}

#[cfg(test)]
mod tests {
    use tokio::io::AsyncWriteExt;

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

    #[tokio::test]
    async fn frames_round_trip_with_their_id() {
        let (a, b) = tokio::io::duplex(4096);
        let (mut a, mut b) = (framed(a, 1024), framed(b, 1024));
        let request = Frame {
            id: 7,
            body: Request::<Counter>::ClientWrite(5),
        };
        send(&mut a, &request, 1024).await.unwrap();
        let got: Frame<Request<Counter>> = recv(&mut b).await.unwrap();
        assert_eq!(got.id, 7);
        assert!(matches!(got.body, Request::ClientWrite(5)));

        let reply = Frame {
            id: 7,
            body: Reply::<Counter>::ClientWrite(Err(WriteError::NotLeader { leader: Some(2) })),
        };
        send(&mut b, &reply, 1024).await.unwrap();
        let got: Frame<Reply<Counter>> = recv(&mut a).await.unwrap();
        assert!(matches!(
            got.body,
            Reply::ClientWrite(Err(WriteError::NotLeader { leader: Some(2) }))
        ));
    }

    #[tokio::test]
    async fn oversized_frames_are_refused_both_ways() {
        let too_big = Frame {
            id: 1,
            body: Request::<Counter>::Hello { node: u64::MAX },
        };
        assert!(matches!(
            encode(&too_big, 16),
            Err(FrameError::TooLarge { max: 16, .. })
        ));

        let (mut raw, b) = tokio::io::duplex(4096);
        let mut b = framed(b, 64);
        raw.write_all(&1000u32.to_be_bytes()).await.unwrap();
        raw.write_all(&[0; 100]).await.unwrap();
        let got = recv::<_, Frame<Request<Counter>>>(&mut b).await;
        assert!(matches!(got, Err(FrameError::Oversized)));
    }

    #[tokio::test]
    async fn malformed_frames_are_reported() {
        let (a, b) = tokio::io::duplex(4096);
        let (mut a, mut b) = (framed(a, 1024), framed(b, 1024));
        a.send(Bytes::from_static(b"{\"id\":1}")).await.unwrap();
        let got = recv::<_, Frame<Request<Counter>>>(&mut b).await;
        assert!(matches!(got, Err(FrameError::Malformed(_))));
        drop(a);
        let got = recv::<_, Frame<Request<Counter>>>(&mut b).await;
        assert!(matches!(got, Err(FrameError::Closed)));
    }
}

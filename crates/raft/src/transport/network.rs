//! openraft's network traits on top of the peer connections.

use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use openraft::error::{
    InstallSnapshotError, NetworkError, PayloadTooLarge, RPCError, RaftError, RemoteError, Timeout,
    Unreachable,
};
use openraft::network::{Backoff, RPCOption};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use openraft::{AnyError, RPCTypes, RaftNetwork, RaftNetworkFactory};

use super::client::{CallError, PeerConnection, Peers, Purpose};
use super::wire::{ElectNowError, PreVoteRefusal, Reply, Request, WriteError, Written};
use crate::types::{App, LogId, NodeId, PeerNode, TypeConfig};

type RpcResult<T, E = RaftError<NodeId>> = Result<T, RPCError<NodeId, PeerNode, E>>;

/// The network factory handed to `openraft::Raft::new`; clones share the connection pool.
pub struct Network<A: App> {
    peers: Arc<Peers>,
    _app: PhantomData<fn() -> A>,
}

impl<A: App> Clone for Network<A> {
    fn clone(&self) -> Self {
        Self {
            peers: self.peers.clone(),
            _app: PhantomData,
        }
    }
}

impl<A: App> Network<A> {
    pub(crate) fn new(peers: Arc<Peers>) -> Self {
        Self {
            peers,
            _app: PhantomData,
        }
    }

    /// Closes every outgoing connection cleanly.
    pub(crate) async fn close_all(&self) {
        self.peers.close_all().await;
    }

    /// Drops the connections to `nodes` (no longer listed); a later call to one of them dials
    /// anew.
    pub(crate) fn forget(&self, nodes: &std::collections::BTreeSet<NodeId>) {
        self.peers.forget(nodes);
    }

    /// Forwards a client write to `leader`, which proposes it and answers once applied.
    pub async fn forward_write(
        &self,
        leader: NodeId,
        node: &PeerNode,
        command: A::Command,
    ) -> Result<Written<A::Response>, WriteError> {
        let conn = self.peers.connection(leader, node.addr, Purpose::Forward);
        // A little more than the leader's own deadline, so its answer wins the race.
        let timeout = self.peers.limits().forward_timeout + Duration::from_secs(1);
        match conn
            .call(&Request::<A>::ClientWrite(command), timeout)
            .await
        {
            Ok(Reply::ClientWrite(result)) => result,
            Ok(other) => Err(WriteError::Raft(format!(
                "unexpected reply {}",
                other.kind()
            ))),
            Err(CallError::Timeout { timeout, .. }) => Err(WriteError::Timeout {
                millis: u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX),
            }),
            Err(e) => Err(WriteError::Unreachable {
                node: leader,
                reason: e.to_string(),
            }),
        }
    }

    /// Asks `target` to stand for election now (see [`Request::ElectNow`]). The outer error is
    /// the transport's, the inner one the target's refusal.
    pub(crate) async fn ask_to_elect(
        &self,
        target: NodeId,
        node: &PeerNode,
        timeout: Duration,
    ) -> Result<Result<(), ElectNowError>, CallError> {
        let conn = self.peers.connection(target, node.addr, Purpose::Control);
        match conn.call(&Request::<A>::ElectNow, timeout).await? {
            Reply::ElectNow(result) => Ok(result),
            other => Err(CallError::Network {
                node: target,
                reason: format!("unexpected reply {}", other.kind()),
            }),
        }
    }
}

impl<A: App> Network<A> {
    /// Asks voter `target` for a pre-vote (see [`Request::PreVote`]). The outer error is the
    /// transport's, the inner one the voter's refusal.
    pub(crate) async fn ask_pre_vote(
        &self,
        target: NodeId,
        node: &PeerNode,
        last_log_id: Option<LogId>,
        timeout: Duration,
    ) -> Result<Result<(), PreVoteRefusal>, CallError> {
        let conn = self.peers.connection(target, node.addr, Purpose::Control);
        match conn
            .call(&Request::<A>::PreVote { last_log_id }, timeout)
            .await?
        {
            Reply::PreVote(result) => Ok(result),
            other => Err(CallError::Network {
                node: target,
                reason: format!("unexpected reply {}", other.kind()),
            }),
        }
    }
}

impl<A: App> RaftNetworkFactory<TypeConfig<A>> for Network<A> {
    type Network = PeerClient<A>;

    async fn new_client(&mut self, target: NodeId, node: &PeerNode) -> PeerClient<A> {
        PeerClient {
            me: self.peers.me(),
            target,
            conn: self.peers.connection(target, node.addr, Purpose::Raft),
            max_backoff: self.peers.limits().max_backoff,
            min_backoff: self.peers.limits().min_backoff,
            _app: PhantomData,
        }
    }
}

/// openraft's client for one peer.
pub struct PeerClient<A: App> {
    me: NodeId,
    target: NodeId,
    conn: Arc<PeerConnection>,
    min_backoff: Duration,
    max_backoff: Duration,
    _app: PhantomData<fn() -> A>,
}

impl<A: App> PeerClient<A> {
    async fn call<E: std::error::Error>(
        &self,
        request: Request<A>,
        action: RPCTypes,
        entries: usize,
        option: &RPCOption,
    ) -> RpcResult<Reply<A>, E> {
        let timeout = option.hard_ttl();
        self.conn
            .call(&request, timeout)
            .await
            .map_err(|e| match e {
                CallError::Unreachable { .. } => RPCError::Unreachable(Unreachable::new(&e)),
                CallError::Network { .. } => RPCError::Network(NetworkError::new(&e)),
                CallError::Timeout { timeout, .. } => RPCError::Timeout(Timeout {
                    action,
                    id: self.me,
                    target: self.target,
                    timeout,
                }),
                CallError::TooLarge { .. } if entries > 1 => RPCError::PayloadTooLarge(
                    PayloadTooLarge::new_entries_hint((entries / 2) as u64),
                ),
                CallError::TooLarge { .. } => RPCError::Network(NetworkError::new(&e)),
            })
    }

    fn unexpected<E: std::error::Error>(&self, reply: Reply<A>) -> RPCError<NodeId, PeerNode, E> {
        RPCError::Network(NetworkError::new(&AnyError::error(format!(
            "node {} answered with an unexpected frame {}",
            self.target,
            reply.kind()
        ))))
    }
}

impl<A: App> RaftNetwork<TypeConfig<A>> for PeerClient<A> {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig<A>>,
        option: RPCOption,
    ) -> RpcResult<AppendEntriesResponse<NodeId>> {
        let entries = rpc.entries.len();
        match self
            .call(
                Request::AppendEntries(rpc),
                RPCTypes::AppendEntries,
                entries,
                &option,
            )
            .await?
        {
            Reply::AppendEntries(Ok(r)) => Ok(r),
            Reply::AppendEntries(Err(e)) => {
                Err(RPCError::RemoteError(RemoteError::new(self.target, e)))
            }
            other => Err(self.unexpected(other)),
        }
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<TypeConfig<A>>,
        option: RPCOption,
    ) -> RpcResult<InstallSnapshotResponse<NodeId>, RaftError<NodeId, InstallSnapshotError>> {
        match self
            .call(
                Request::InstallSnapshot(rpc),
                RPCTypes::InstallSnapshot,
                0,
                &option,
            )
            .await?
        {
            Reply::InstallSnapshot(Ok(r)) => Ok(r),
            Reply::InstallSnapshot(Err(e)) => {
                Err(RPCError::RemoteError(RemoteError::new(self.target, e)))
            }
            other => Err(self.unexpected(other)),
        }
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<NodeId>,
        option: RPCOption,
    ) -> RpcResult<VoteResponse<NodeId>> {
        match self
            .call(Request::Vote(rpc), RPCTypes::Vote, 0, &option)
            .await?
        {
            Reply::Vote(Ok(r)) => Ok(r),
            Reply::Vote(Err(e)) => Err(RPCError::RemoteError(RemoteError::new(self.target, e))),
            other => Err(self.unexpected(other)),
        }
    }

    /// After `Unreachable`, openraft waits between retries: doubling from the transport's
    /// minimum backoff up to its maximum.
    fn backoff(&self) -> Backoff {
        let max = self.max_backoff;
        Backoff::new(std::iter::successors(Some(self.min_backoff), move |d| {
            Some((*d * 2).min(max))
        }))
    }
}

//! The RPC server: accepts authenticated peers and hands their requests to the local Raft.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use openraft::error::{ClientWriteError, RaftError};
use ssinet_interconnect::{Acceptor, ChannelError, NodeIdentity};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::wire::{ElectNowError, Frame, PreVoteRefusal, Reply, Request, WriteError, Written};
use super::{Limits, SERVICE};
use crate::node::{Eligibility, Roster, VoterView, answer_pre_vote};
use crate::types::{App, NodeId, Raft};

/// A running RPC server; stops when [`RpcServer::shutdown`] is called or it is dropped.
pub struct RpcServer {
    local_addr: SocketAddr,
    cancel: CancellationToken,
    task: Option<JoinHandle<()>>,
}

/// What requests are served from: the local Raft, the node list in force and the agent's
/// eligibility (whether this node may direct now decides whether it answers a caretaker's
/// `ElectNow`), and the leader lease pre-votes are judged by.
struct Local<A: App> {
    raft: Raft<A>,
    roster: watch::Receiver<Arc<Roster>>,
    eligible: Eligibility,
    lease: Duration,
}

impl<A: App> Clone for Local<A> {
    fn clone(&self) -> Self {
        Self {
            raft: self.raft.clone(),
            roster: self.roster.clone(),
            eligible: self.eligible.clone(),
            lease: self.lease,
        }
    }
}

impl RpcServer {
    /// Serves `raft` on `listener` as `identity`'s node, following the node list in `roster`.
    pub(crate) fn start<A: App>(
        listener: TcpListener,
        identity: NodeIdentity,
        raft: Raft<A>,
        limits: Limits,
        roster: watch::Receiver<Arc<Roster>>,
        eligible: Eligibility,
        lease: Duration,
    ) -> io::Result<Self> {
        let local_addr = listener.local_addr()?;
        let cancel = CancellationToken::new();
        let task = tokio::spawn(accept_loop(
            listener,
            identity,
            Local {
                raft,
                roster,
                eligible,
                lease,
            },
            limits,
            cancel.clone(),
        ));
        tracing::info!(%local_addr, "raft rpc server listening");
        Ok(Self {
            local_addr,
            cancel,
            task: Some(task),
        })
    }

    /// The address the server listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Stops accepting, closes every connection and waits for the accept loop to end.
    pub async fn shutdown(mut self) {
        self.cancel.cancel();
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for RpcServer {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

async fn accept_loop<A: App>(
    listener: TcpListener,
    identity: NodeIdentity,
    local: Local<A>,
    limits: Limits,
    cancel: CancellationToken,
) {
    let acceptor = Acceptor::new(&identity, SERVICE, limits.channel());
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let me = identity.node();
    loop {
        let (tcp, peer_addr) = tokio::select! {
            () = cancel.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    tracing::warn!(node = %me, error = %e, "accept failed");
                    tokio::time::sleep(limits.min_backoff).await;
                    continue;
                }
            },
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            tracing::warn!(node = %me, %peer_addr, max = limits.max_connections, "connection refused: too many connections");
            continue;
        };
        let acceptor = acceptor.clone();
        let local = local.clone();
        let cancel = cancel.clone();
        tokio::spawn(async move {
            let _slot = slot;
            serve_connection(tcp, peer_addr, acceptor, me, local, limits, cancel).await;
        });
    }
    tracing::info!(node = %me, "raft rpc server stopped");
}

async fn serve_connection<A: App>(
    tcp: TcpStream,
    peer_addr: SocketAddr,
    acceptor: Acceptor,
    me: NodeId,
    local: Local<A>,
    limits: Limits,
    cancel: CancellationToken,
) {
    let accepted = tokio::select! {
        () = cancel.cancelled() => return,
        accepted = acceptor.accept(tcp) => accepted,
    };
    let mut conn = match accepted {
        Ok(conn) => conn,
        Err(reason) => {
            tracing::warn!(node = %me, %peer_addr, %reason, "peer refused");
            return;
        }
    };
    let peer = conn.peer();
    tracing::debug!(node = %me, peer = %peer, %peer_addr, "peer connected");
    loop {
        let next = tokio::select! {
            () = cancel.cancelled() => break,
            next = conn.recv_json::<Frame<Request<A>>>() => next,
        };
        let Frame { id, body: request } = match next {
            Ok(frame) => frame,
            Err(ChannelError::Closed) => break,
            Err(ChannelError::Io(e)) => {
                tracing::info!(node = %me, peer = %peer, %peer_addr, reason = %e, "peer connection lost");
                break;
            }
            Err(e) => {
                tracing::warn!(node = %me, peer = %peer, %peer_addr, reason = %e, "closing peer connection: bad frame");
                break;
            }
        };
        let body = tokio::select! {
            () = cancel.cancelled() => break,
            body = handle(&local, peer, request, &limits) => body,
        };
        if let Err(e) = conn.send_json(&Frame { id, body }).await {
            tracing::warn!(node = %me, peer = %peer, %peer_addr, reason = %e, "closing peer connection");
            break;
        }
    }
    conn.close().await;
}

async fn handle<A: App>(
    local: &Local<A>,
    peer: NodeId,
    request: Request<A>,
    limits: &Limits,
) -> Reply<A> {
    let raft = &local.raft;
    match request {
        Request::AppendEntries(rpc) => Reply::AppendEntries(raft.append_entries(rpc).await),
        Request::Vote(rpc) => Reply::Vote(raft.vote(rpc).await),
        Request::InstallSnapshot(rpc) => Reply::InstallSnapshot(raft.install_snapshot(rpc).await),
        Request::ClientWrite(command) => {
            Reply::ClientWrite(write_locally(raft, command, limits).await)
        }
        Request::ElectNow => Reply::ElectNow(elect_now(local, peer).await),
        Request::PreVote { last_log_id } => Reply::PreVote(pre_vote(local, last_log_id).await),
    }
}

/// Answers a pre-vote from this node's Raft state; changes nothing.
async fn pre_vote<A: App>(
    local: &Local<A>,
    candidate_log: Option<crate::types::LogId>,
) -> Result<(), PreVoteRefusal> {
    let (me, leader, leading, ack) = {
        let m = local.raft.metrics();
        let m = m.borrow();
        (
            m.id,
            m.current_leader,
            m.state == openraft::ServerState::Leader,
            m.millis_since_quorum_ack,
        )
    };
    let heard = local
        .raft
        .with_raft_state(|s| {
            s.vote_last_modified()
                .filter(|_| s.vote_ref().is_committed())
                .map(|at| at.elapsed())
        })
        .await
        .map_err(|e| PreVoteRefusal::Raft(e.to_string()))?;
    let last_log_id = local.raft.data_metrics().borrow().last_log;
    let view = VoterView {
        me,
        leader,
        leading_ack_ago: ack.map(Duration::from_millis),
        leading,
        heard_leader_ago: heard,
        last_log_id,
    };
    answer_pre_vote(&view, candidate_log, local.lease)
}

/// Starts an election at a caretaker leader's request, if this node may lead and `from` is the
/// leader it follows (a stale or stray request must not disturb a working leader).
///
/// Raft's rules still decide: the election is won only with a quorum of votes from nodes whose
/// logs are not ahead of this one.
async fn elect_now<A: App>(local: &Local<A>, from: NodeId) -> Result<(), ElectNowError> {
    let raft = &local.raft;
    let me = raft.metrics().borrow().id;
    // The node list in force decides, not the configuration the node started with.
    let may_elect = local.roster.borrow().plan.may_elect(me);
    if !may_elect {
        return Err(ElectNowError::NotElectable { node: me });
    }
    if !local.eligible.get() {
        return Err(ElectNowError::Ineligible { node: me });
    }
    let leader = raft.metrics().borrow().current_leader;
    if leader != Some(from) {
        return Err(ElectNowError::NotFromLeader { from, leader });
    }
    tracing::info!(
        node = %me,
        caretaker = %from,
        "standing for election at the caretaker leader's request"
    );
    raft.trigger()
        .elect()
        .await
        .map_err(|e| ElectNowError::Raft(e.to_string()))
}

/// Proposes `command` on this node, which must be the leader.
pub(crate) async fn write_locally<A: App>(
    raft: &Raft<A>,
    command: A::Command,
    limits: &Limits,
) -> Result<Written<A::Response>, WriteError> {
    let result = tokio::time::timeout(limits.forward_timeout, raft.client_write(command)).await;
    match result {
        Err(_) => Err(WriteError::Timeout {
            millis: u64::try_from(limits.forward_timeout.as_millis()).unwrap_or(u64::MAX),
        }),
        Ok(Ok(written)) => match written.data {
            Some(response) => Ok(Written {
                log_id: written.log_id,
                response,
            }),
            None => Err(WriteError::NoResponse),
        },
        Ok(Err(RaftError::APIError(ClientWriteError::ForwardToLeader(f)))) => {
            Err(WriteError::NotLeader {
                leader: f.leader_id,
            })
        }
        Ok(Err(e)) => Err(WriteError::Raft(e.to_string())),
    }
}

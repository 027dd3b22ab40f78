//! Outgoing connections: one persistent TLS connection per peer and purpose, redialed with
//! exponential backoff.

use std::cmp::Ordering;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ssinet_interconnect::{Channel, ChannelError, NodeIdentity, encode_json};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::wire::{Frame, Reply, Request};
use super::{Limits, SERVICE};
use crate::types::{App, NodeId};

/// Why a call to a peer failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallError {
    /// No connection could be made (or we are backing off after failures).
    #[error("node {node} at {addr} is unreachable: {reason}")]
    Unreachable {
        node: NodeId,
        addr: SocketAddr,
        reason: String,
    },
    /// The connection broke during the call.
    #[error("connection to node {node} failed: {reason}")]
    Network { node: NodeId, reason: String },
    /// No reply within the deadline; the connection was dropped.
    #[error("node {node} did not answer within {timeout:?}")]
    Timeout { node: NodeId, timeout: Duration },
    /// The request is larger than the frame limit.
    #[error("request of {size} bytes exceeds the {max}-byte frame limit")]
    TooLarge { size: usize, max: usize },
}

/// Which connection to a peer, one channel each: Raft traffic, forwarded writes and leadership hand-over requests
/// never wait on each other.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Purpose {
    Raft,
    Forward,
    Control,
}

/// The pool of outgoing connections of one node.
pub(crate) struct Peers {
    identity: NodeIdentity,
    limits: Limits,
    connections: Mutex<HashMap<(NodeId, Purpose), Arc<PeerConnection>>>,
}

impl Peers {
    pub(crate) fn new(identity: NodeIdentity, limits: Limits) -> Self {
        Self {
            identity,
            limits,
            connections: Mutex::new(HashMap::new()),
        }
    }

    pub(crate) fn limits(&self) -> &Limits {
        &self.limits
    }

    pub(crate) fn me(&self) -> NodeId {
        self.identity.node()
    }

    /// Closes every connection cleanly (TLS close_notify) and forgets them.
    pub(crate) async fn close_all(&self) {
        let connections: Vec<Arc<PeerConnection>> = self
            .connections
            .lock()
            .expect("the peer map lock is never held across a panic")
            .drain()
            .map(|(_, c)| c)
            .collect();
        for connection in connections {
            connection.close().await;
        }
    }

    /// Forgets the connections to `nodes`; dropping one closes its socket once no call holds it.
    pub(crate) fn forget(&self, nodes: &std::collections::BTreeSet<NodeId>) {
        self.connections
            .lock()
            .expect("the peer map lock is never held across a panic")
            .retain(|(node, _), _| !nodes.contains(node));
    }

    /// The connection to `node` at `addr`; a changed address replaces the old connection.
    pub(crate) fn connection(
        &self,
        node: NodeId,
        addr: SocketAddr,
        purpose: Purpose,
    ) -> Arc<PeerConnection> {
        let mut connections = self
            .connections
            .lock()
            .expect("the peer map lock is never held across a panic");
        let entry = connections.entry((node, purpose)).or_insert_with(|| {
            Arc::new(PeerConnection::new(
                self.identity.clone(),
                node,
                addr,
                self.limits,
            ))
        });
        if entry.addr != addr {
            *entry = Arc::new(PeerConnection::new(
                self.identity.clone(),
                node,
                addr,
                self.limits,
            ));
        }
        entry.clone()
    }
}

/// Requests left unanswered (timed out or abandoned by the caller) after which a connection is
/// presumed dead and redialed.
const MAX_UNANSWERED: u32 = 3;

struct Open {
    conn: Channel,
    /// The id of the last request sent on `conn`.
    last_id: u64,
    /// Requests sent since the last reply that answered its request.
    unanswered: u32,
}

struct ConnState {
    open: Option<Open>,
    /// A dial in progress. It runs as its own task so that a caller giving up (openraft drops
    /// an RPC future at its deadline) does not throw away a half-made TLS connection.
    dialing: Option<JoinHandle<Result<Channel, ChannelError>>>,
    backoff: Duration,
    retry_at: Option<Instant>,
}

/// One persistent connection to a peer; calls on it are serialized (one request, one reply).
pub(crate) struct PeerConnection {
    identity: NodeIdentity,
    node: NodeId,
    addr: SocketAddr,
    limits: Limits,
    state: tokio::sync::Mutex<ConnState>,
}

impl PeerConnection {
    fn new(identity: NodeIdentity, node: NodeId, addr: SocketAddr, limits: Limits) -> Self {
        Self {
            identity,
            node,
            addr,
            limits,
            state: tokio::sync::Mutex::new(ConnState {
                open: None,
                dialing: None,
                backoff: limits.min_backoff,
                retry_at: None,
            }),
        }
    }

    /// Sends `request` and waits up to `timeout` for its reply, dialing first if needed.
    ///
    /// Cancel-safe: a request that times out or is abandoned leaves the connection open (its
    /// late reply is skipped by id) unless several in a row go unanswered.
    pub(crate) async fn call<A: App>(
        &self,
        request: &Request<A>,
        timeout: Duration,
    ) -> Result<Reply<A>, CallError> {
        let mut state = self.state.lock().await;
        let deadline = Instant::now() + timeout;
        let open = match tokio::time::timeout_at(deadline, self.ensure_open(&mut state)).await {
            Ok(open) => open?,
            Err(_) => {
                return Err(CallError::Unreachable {
                    node: self.node,
                    addr: self.addr,
                    reason: format!("still connecting after {timeout:?}"),
                });
            }
        };
        let id = open.last_id + 1;
        let frame = match encode_json(&Frame { id, body: request }, self.limits.max_frame_bytes) {
            Ok(frame) => frame,
            Err(ChannelError::TooLarge { size, max }) => {
                return Err(CallError::TooLarge { size, max });
            }
            Err(e) => {
                return Err(CallError::Network {
                    node: self.node,
                    reason: e.to_string(),
                });
            }
        };
        open.last_id = id;
        open.unanswered += 1;
        let conn = &mut open.conn;
        let exchange = async move {
            conn.send(frame).await.map_err(|e| e.to_string())?;
            loop {
                let reply: Frame<Reply<A>> = conn.recv_json().await.map_err(|e| e.to_string())?;
                match reply.id.cmp(&id) {
                    Ordering::Equal => return Ok(reply.body),
                    // The late reply to a request whose caller stopped waiting.
                    Ordering::Less => continue,
                    Ordering::Greater => {
                        return Err(format!(
                            "reply frame {} does not answer request {id}",
                            reply.id
                        ));
                    }
                }
            }
        };
        match tokio::time::timeout_at(deadline, exchange).await {
            Ok(Ok(reply)) => {
                open.unanswered = 0;
                Ok(reply)
            }
            Ok(Err(e)) => {
                tracing::debug!(peer = %self.node, reason = %e, "dropping connection");
                state.open = None;
                Err(CallError::Network {
                    node: self.node,
                    reason: e,
                })
            }
            Err(_) => Err(CallError::Timeout {
                node: self.node,
                timeout,
            }),
        }
    }

    async fn close(&self) {
        let mut state = self.state.lock().await;
        if let Some(dialing) = state.dialing.take() {
            dialing.abort();
        }
        if let Some(mut open) = state.open.take() {
            let _ = tokio::time::timeout(self.limits.connect_timeout, open.conn.close()).await;
        }
    }

    /// The open connection, dialing (or joining a dial in progress) if there is none.
    async fn ensure_open<'s>(&self, state: &'s mut ConnState) -> Result<&'s mut Open, CallError> {
        let unreachable = |reason: String| CallError::Unreachable {
            node: self.node,
            addr: self.addr,
            reason,
        };
        if let Some(mut stale) = state.open.take_if(|o| o.unanswered >= MAX_UNANSWERED) {
            tracing::debug!(
                peer = %self.node,
                "redialing after {MAX_UNANSWERED} unanswered requests"
            );
            let _ = tokio::time::timeout(self.limits.min_backoff, stale.conn.close()).await;
        }
        if state.open.is_none() {
            if state.dialing.is_none() {
                if self.addr.ip().is_unspecified() || self.addr.port() == 0 {
                    return Err(unreachable("no interconnect address known".into()));
                }
                if let Some(retry_at) = state.retry_at
                    && Instant::now() < retry_at
                {
                    return Err(unreachable(format!(
                        "backing off after a failed dial, next attempt in {:?}",
                        retry_at - Instant::now()
                    )));
                }
                let (identity, node, addr, limits) =
                    (self.identity.clone(), self.node, self.addr, self.limits);
                state.dialing = Some(tokio::spawn(async move {
                    ssinet_interconnect::dial(&identity, node, addr, SERVICE, limits.channel())
                        .await
                }));
            }
            let dialing = state.dialing.as_mut().expect("a dial was started above");
            let result = dialing
                .await
                .unwrap_or_else(|e| Err(ChannelError::Io(std::io::Error::other(e))))
                .map_err(|e| e.to_string());
            state.dialing = None;
            match result {
                Ok(conn) => {
                    state.backoff = self.limits.min_backoff;
                    state.retry_at = None;
                    tracing::debug!(node = %self.identity.node(), peer = %self.node, addr = %self.addr, "connected to peer");
                    state.open = Some(Open {
                        conn,
                        last_id: 0,
                        unanswered: 0,
                    });
                }
                Err(reason) => {
                    state.retry_at = Some(Instant::now() + state.backoff);
                    tracing::debug!(peer = %self.node, addr = %self.addr, %reason, backoff = ?state.backoff, "dial failed");
                    state.backoff = (state.backoff * 2).min(self.limits.max_backoff);
                    return Err(unreachable(reason));
                }
            }
        }
        Ok(state.open.as_mut().expect("opened above"))
    }
}

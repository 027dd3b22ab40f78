//! Peer status: every agent tells the others its Raft role, term and whether it has a quorum,
//! over the interconnect (one [`Channel`] per peer, kept open between probes, so a probe is one
//! small frame each way rather than a TLS handshake). This is what `cvipctl status` shows for
//! the other nodes, and how a follower cut off from its leader knows the cluster has no quorum
//! from here, which openraft 0.9 metrics cannot tell.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use ssinet_api::admin::RaftRole;
use ssinet_interconnect::{Acceptor, Channel, Limits, NodeIdentity, Service};
use ssinet_raft::NodeId;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

/// The interconnect service of the peer status port.
const SERVICE: Service = Service("status");
/// How often each peer is asked.
const PROBE_EVERY: Duration = Duration::from_millis(500);
/// Connect, handshake and answer must fit in this, or the peer counts as unreachable.
const PROBE_TIMEOUT: Duration = Duration::from_secs(1);
/// A report is one small JSON object; anything longer is not a peer of ours.
const LIMITS: Limits = Limits {
    max_frame_bytes: 4096,
    handshake_timeout: PROBE_TIMEOUT,
};
/// The one request: "your report, please".
const ASK: &[u8] = b"status?";
/// A server closes a channel that asked nothing for this long (probes come every 500 ms).
const IDLE_TIMEOUT: Duration = Duration::from_secs(5);
/// Channels served at once; more are refused until some close.
const MAX_CHANNELS: usize = 64;
/// What one agent reports about itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerReport {
    pub node: NodeId,
    pub role: RaftRole,
    pub term: u64,
    pub leader: Option<NodeId>,
    /// As in the admin API's status: the leader has a fresh quorum acknowledgement, or (not the
    /// leader) its leader is reachable and says so.
    pub quorum: bool,
}

/// The last probe of each peer: its report, or `None` when it did not answer.
pub type PeerTable = Arc<RwLock<BTreeMap<NodeId, Option<PeerReport>>>>;

/// Serves this node's report to any cluster member (client certificate from the cluster CA),
/// once per request frame, on channels kept open by the askers.
pub async fn serve(
    listener: TcpListener,
    identity: NodeIdentity,
    report: impl Fn() -> PeerReport + Send + Sync + 'static,
) {
    let acceptor = Acceptor::new(&identity, SERVICE, LIMITS);
    let slots = Arc::new(Semaphore::new(MAX_CHANNELS));
    let report = Arc::new(report);
    loop {
        let (tcp, peer_addr) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                tracing::warn!(error = %e, "peer status: accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let Ok(slot) = Arc::clone(&slots).try_acquire_owned() else {
            tracing::debug!(%peer_addr, "peer status: refused, {MAX_CHANNELS} channels open");
            continue;
        };
        let acceptor = acceptor.clone();
        let report = Arc::clone(&report);
        tokio::spawn(async move {
            let _slot = slot;
            let mut channel = match acceptor.accept(tcp).await {
                Ok(channel) => channel,
                Err(e) => {
                    tracing::debug!(%peer_addr, error = %e, "peer status: peer refused");
                    return;
                }
            };
            loop {
                match tokio::time::timeout(IDLE_TIMEOUT, channel.recv()).await {
                    Ok(Ok(ask)) if ask == ASK => {}
                    Ok(Ok(_)) => {
                        tracing::debug!(peer = %channel.peer(), "peer status: not a status request");
                        break;
                    }
                    Ok(Err(_)) | Err(_) => break,
                }
                if channel.send_json(&report()).await.is_err() {
                    break;
                }
            }
            channel.close().await;
        });
    }
}

/// The open channel to one peer, with the address it was dialed at.
type ChannelSlot = Arc<tokio::sync::Mutex<Option<(SocketAddr, Channel)>>>;

/// Asks peers for their reports.
#[derive(Clone)]
pub struct Prober {
    identity: NodeIdentity,
    /// Shared by the clones, so a changed clustertab reaches the watcher ([`Prober::set_peers`]).
    addrs: Arc<RwLock<BTreeMap<NodeId, SocketAddr>>>,
    /// One channel per peer, reused by the next probe; a failed probe drops it.
    channels: Arc<Mutex<BTreeMap<NodeId, ChannelSlot>>>,
}

impl Prober {
    /// A prober dialing each of `addrs` (the other nodes' peer status addresses) as `identity`.
    pub fn new(identity: &NodeIdentity, addrs: BTreeMap<NodeId, SocketAddr>) -> Self {
        Self {
            identity: identity.clone(),
            addrs: Arc::new(RwLock::new(addrs)),
            channels: Arc::new(Mutex::new(BTreeMap::new())),
        }
    }

    /// Replaces the peers to probe (the applied clustertab changed); true when they changed.
    pub fn set_peers(&self, addrs: BTreeMap<NodeId, SocketAddr>) -> bool {
        let mut current = self
            .addrs
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let changed = *current != addrs;
        self.channels
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .retain(|node, _| addrs.contains_key(node));
        *current = addrs;
        changed
    }

    fn peers(&self) -> BTreeMap<NodeId, SocketAddr> {
        self.addrs
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    fn slot(&self, node: NodeId) -> ChannelSlot {
        let mut channels = self
            .channels
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        Arc::clone(channels.entry(node).or_default())
    }

    /// Asks `node` for its report now, on the open channel or a new one.
    pub async fn probe(&self, node: NodeId) -> Result<PeerReport, String> {
        let addr = *self
            .peers()
            .get(&node)
            .ok_or_else(|| format!("node {node} is not a peer in clustertab"))?;
        let slot = self.slot(node);
        let mut slot = slot.lock().await;
        let asked = tokio::time::timeout(PROBE_TIMEOUT, async {
            // Taken out: a probe that fails or times out drops the channel with it.
            let mut channel = match slot.take() {
                Some((dialed, channel)) if dialed == addr => channel,
                _ => ssinet_interconnect::dial(&self.identity, node, addr, SERVICE, LIMITS)
                    .await
                    .map_err(|e| e.to_string())?,
            };
            channel
                .send(Bytes::from_static(ASK))
                .await
                .map_err(|e| e.to_string())?;
            let report: PeerReport = channel.recv_json().await.map_err(|e| e.to_string())?;
            if report.node != node {
                return Err(format!("answered as node {}", report.node));
            }
            *slot = Some((addr, channel));
            Ok(report)
        })
        .await;
        asked.unwrap_or_else(|_| Err("no answer within 1 s".into()))
    }

    /// Probes every peer forever, keeping `table` current. Logs when a peer comes and goes.
    pub async fn watch(self, me: NodeId, table: PeerTable) {
        let mut ticker = tokio::time::interval(PROBE_EVERY);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            let this = &self;
            let peers = self.peers();
            // A node no longer in clustertab is no longer reported on.
            table
                .write()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .retain(|node, _| peers.contains_key(node));
            let probes = peers
                .keys()
                .map(|node| async move { (*node, this.probe(*node).await) });
            // Each probe is bounded by PROBE_TIMEOUT, so a round is too.
            let results = futures::future::join_all(probes).await;
            for (node, result) in results {
                record(me, &table, node, result);
            }
        }
    }
}

/// Stores a probe's outcome, logging when a peer comes or goes.
pub fn record(me: NodeId, table: &PeerTable, node: NodeId, result: Result<PeerReport, String>) {
    let mut table = table
        .write()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let before = table.get(&node).copied().flatten();
    match result {
        Ok(report) => {
            if before.is_none() {
                tracing::info!(node = %me, peer = %node, "peer reachable");
            }
            table.insert(node, Some(report));
        }
        Err(reason) => {
            if before.is_some() || !table.contains_key(&node) {
                tracing::info!(node = %me, peer = %node, %reason, "peer unreachable");
            }
            table.insert(node, None);
        }
    }
}

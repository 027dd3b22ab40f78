//! Peer status: every agent tells the others its Raft role, term and whether it has a quorum,
//! over mutual TLS on the interconnect (the cluster CA vouches for both sides, the dialer checks
//! the peer is the node it meant). This is what `cvipctl status` shows for the other nodes, and
//! how a follower cut off from its leader knows the cluster has no quorum from here, which
//! openraft 0.9 metrics cannot tell.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use ssinet_api::admin::Role;
use ssinet_raft::NodeId;
use ssinet_raft::tls::NodeIdentity;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::{TlsAcceptor, TlsConnector};

/// How often each peer is asked.
const PROBE_EVERY: Duration = Duration::from_millis(500);
/// Connect, handshake and answer must fit in this, or the peer counts as unreachable.
const PROBE_TIMEOUT: Duration = Duration::from_secs(1);
/// A report is one small JSON object; anything longer is not a peer of ours.
const MAX_REPORT_BYTES: u64 = 4096;

/// What one agent reports about itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerReport {
    pub node: NodeId,
    pub role: Role,
    pub term: u64,
    pub leader: Option<NodeId>,
    /// As in the admin API's status: the leader has a fresh quorum acknowledgement, or (not the
    /// leader) its leader is reachable and says so.
    pub quorum: bool,
}

/// The last probe of each peer: its report, or `None` when it did not answer.
pub type PeerTable = Arc<RwLock<BTreeMap<NodeId, Option<PeerReport>>>>;

/// Serves this node's report to any cluster member (client certificate from the cluster CA).
pub async fn serve(
    listener: TcpListener,
    identity: NodeIdentity,
    report: impl Fn() -> PeerReport + Send + Sync + 'static,
) {
    let acceptor = TlsAcceptor::from(identity.server_config());
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
        let acceptor = acceptor.clone();
        let report = report.clone();
        tokio::spawn(async move {
            let answered = tokio::time::timeout(PROBE_TIMEOUT, async {
                let mut tls = acceptor.accept(tcp).await?;
                let body = serde_json::to_vec(&report()).map_err(std::io::Error::other)?;
                tls.write_all(&body).await?;
                tls.shutdown().await
            })
            .await;
            match answered {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tracing::debug!(%peer_addr, error = %e, "peer status request failed"),
                Err(_) => tracing::debug!(%peer_addr, "peer status request timed out"),
            }
        });
    }
}

/// Asks peers for their reports.
#[derive(Clone)]
pub struct Prober {
    connector: TlsConnector,
    /// Shared by the clones, so a changed clustertab reaches the watcher ([`Prober::set_peers`]).
    addrs: Arc<RwLock<BTreeMap<NodeId, SocketAddr>>>,
}

impl Prober {
    /// A prober dialing each of `addrs` (the other nodes' peer status addresses) as `identity`.
    pub fn new(identity: &NodeIdentity, addrs: BTreeMap<NodeId, SocketAddr>) -> Self {
        Self {
            connector: TlsConnector::from(identity.client_config()),
            addrs: Arc::new(RwLock::new(addrs)),
        }
    }

    /// Replaces the peers to probe (the applied clustertab changed); true when they changed.
    pub fn set_peers(&self, addrs: BTreeMap<NodeId, SocketAddr>) -> bool {
        let mut current = self
            .addrs
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let changed = *current != addrs;
        *current = addrs;
        changed
    }

    fn peers(&self) -> BTreeMap<NodeId, SocketAddr> {
        self.addrs
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Asks `node` for its report now.
    pub async fn probe(&self, node: NodeId) -> Result<PeerReport, String> {
        let addr = *self
            .peers()
            .get(&node)
            .ok_or_else(|| format!("node {node} is not a peer in clustertab"))?;
        let asked = tokio::time::timeout(PROBE_TIMEOUT, async {
            let tcp = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
            let tls = self
                .connector
                .connect(ssinet_raft::tls::server_name(node), tcp)
                .await
                .map_err(|e| format!("tls: {e}"))?;
            let mut body = Vec::new();
            tls.take(MAX_REPORT_BYTES)
                .read_to_end(&mut body)
                .await
                .map_err(|e| e.to_string())?;
            let report: PeerReport = serde_json::from_slice(&body).map_err(|e| e.to_string())?;
            if report.node != node {
                return Err(format!("answered as node {}", report.node));
            }
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
                tracing::info!(node = me, peer = node, "peer reachable");
            }
            table.insert(node, Some(report));
        }
        Err(reason) => {
            if before.is_some() || !table.contains_key(&node) {
                tracing::info!(node = me, peer = node, %reason, "peer unreachable");
            }
            table.insert(node, None);
        }
    }
}

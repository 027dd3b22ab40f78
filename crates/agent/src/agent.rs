//! The running agent: the Raft node plus what the admin API and the peer probes share.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use openraft::ServerState;
use ssinet_api::ClusterApp;
use ssinet_api::admin::{NodeStatus, RaftRole, StatusReport};
use ssinet_config::{ClusterConfig, NodeId};
use ssinet_raft::{ClusterNode, Timing};

use crate::metrics::LatencyHistogram;
use crate::peers::{PeerReport, PeerTable, Prober};

/// Shared by the admin API handlers, the peer status server and the seeding task.
pub struct Agent {
    pub node: ClusterNode<ClusterApp>,
    /// The files this agent started from: the node list and addresses for the status report
    /// (the replicated state may have moved on; its clustertab wins where it has one).
    pub files: ClusterConfig,
    pub timing: Timing,
    pub peers: PeerTable,
    pub prober: Prober,
    /// Submission to applied answer of the writes this node served.
    pub write_latency: Mutex<LatencyHistogram>,
    pub shutting_down: AtomicBool,
    /// The data-plane controller's last pass.
    pub data_plane: tokio::sync::watch::Receiver<ssinet_api::dataplane::DataPlaneStatus>,
    /// The remote-socket service, unless ssinetd runs with `--no-rsock`.
    pub rsock: Option<Arc<ssinet_rsock::RsockService>>,
}

impl Agent {
    pub fn new(
        node: ClusterNode<ClusterApp>,
        files: ClusterConfig,
        timing: Timing,
        prober: Prober,
        data_plane: tokio::sync::watch::Receiver<ssinet_api::dataplane::DataPlaneStatus>,
        rsock: Option<Arc<ssinet_rsock::RsockService>>,
    ) -> Arc<Self> {
        Arc::new(Self {
            node,
            files,
            timing,
            peers: PeerTable::default(),
            prober,
            write_latency: Mutex::new(LatencyHistogram::default()),
            shutting_down: AtomicBool::new(false),
            data_plane,
            rsock,
        })
    }

    pub fn id(&self) -> NodeId {
        self.node.id()
    }

    pub fn is_shutting_down(&self) -> bool {
        self.shutting_down.load(Ordering::Relaxed)
    }

    /// A snapshot of the peer table.
    pub fn peer_reports(&self) -> BTreeMap<NodeId, Option<PeerReport>> {
        self.peers
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Whether this leader heard from a quorum recently enough to still be the director: within
    /// `election_min`, after which followers may elect someone else.
    pub fn leader_has_quorum(&self) -> bool {
        let metrics = self.node.metrics();
        let m = metrics.borrow();
        m.state == ServerState::Leader
            && m.millis_since_quorum_ack
                .is_some_and(|ms| Duration::from_millis(ms) < self.timing.election_min)
    }

    /// This node's own view, as told to peers.
    pub fn own_report(&self) -> PeerReport {
        let (state, term, leader) = {
            let metrics = self.node.metrics();
            let m = metrics.borrow();
            (m.state, m.current_term, m.current_leader)
        };
        let role = if self.is_shutting_down() {
            RaftRole::Shutdown
        } else {
            role_of(state)
        };
        let quorum = if state == ServerState::Leader {
            self.leader_has_quorum()
        } else {
            // Cut off from the leader (or none known): no write can commit through this node.
            leader.is_some_and(|leader| {
                self.peer_reports()
                    .get(&leader)
                    .copied()
                    .flatten()
                    .is_some_and(|r| r.role == RaftRole::Leader && r.quorum && r.term >= term)
            })
        };
        PeerReport {
            node: self.id(),
            role,
            term,
            leader,
            quorum,
        }
    }

    /// `GET /v1/status`.
    pub fn status(&self) -> StatusReport {
        let own = self.own_report();
        let metrics = self.node.metrics();
        let m = metrics.borrow().clone();
        let membership = m.membership_config.membership();
        let voters: std::collections::BTreeSet<NodeId> = membership.voter_ids().collect();
        let learners = membership.learner_ids().collect();
        let peers = self.peer_reports();
        let state = self.node.state();
        let config = {
            let applied = state.borrow();
            if applied.state.is_empty() {
                self.files.clone()
            } else {
                applied.state.config.clone()
            }
        };
        let directors = config.director_nodes();
        let nodes = config
            .clustertab
            .nodes
            .iter()
            .map(|n| {
                let id = n.num;
                let (reachable, role) = if id == self.id() {
                    (true, own.role)
                } else {
                    match peers.get(&id).copied().flatten() {
                        Some(report) => (true, report.role),
                        None => (false, RaftRole::Unknown),
                    }
                };
                NodeStatus {
                    num: n.num,
                    ip: n.ip,
                    director_capable: directors.contains(&n.num),
                    voter: voters.contains(&id),
                    reachable,
                    role,
                }
            })
            .collect();
        StatusReport {
            node: self.id(),
            role: own.role,
            term: own.term,
            leader: own.leader,
            commit_index: commit_index(&m),
            last_applied: m.last_applied.map(|l| l.index),
            quorum: own.quorum,
            millis_since_quorum_ack: m.millis_since_quorum_ack,
            nodes,
            learners,
            data_plane: self.data_plane.borrow().clone(),
        }
    }
}

/// openraft's server state as the admin API names it.
pub fn role_of(state: ServerState) -> RaftRole {
    match state {
        ServerState::Leader => RaftRole::Leader,
        ServerState::Candidate => RaftRole::Candidate,
        ServerState::Follower => RaftRole::Follower,
        ServerState::Learner => RaftRole::Learner,
        ServerState::Shutdown => RaftRole::Shutdown,
    }
}

/// The highest index known committed. On the leader: the largest index a majority of voters
/// (the leader counting its own log) has stored. Elsewhere: the last applied index, since a
/// node applies only what it learned is committed.
pub fn commit_index(m: &ssinet_raft::types::Metrics) -> Option<u64> {
    let Some(replication) = m.replication.as_ref() else {
        return m.last_applied.map(|l| l.index);
    };
    let membership = m.membership_config.membership();
    let mut matched: Vec<Option<u64>> = membership
        .voter_ids()
        .map(|id| {
            if id == m.id {
                m.last_log_index
            } else {
                replication.get(&id).copied().flatten().map(|l| l.index)
            }
        })
        .collect();
    if matched.is_empty() {
        return m.last_applied.map(|l| l.index);
    }
    // Descending; the majority-th largest is stored on a majority.
    matched.sort_by(|a, b| b.cmp(a));
    matched[matched.len() / 2]
}

//! A running cluster member: store, transport, Raft, bootstrap and membership upkeep in one.

mod campaign;
mod election;
mod roster;
mod upkeep;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub(crate) use campaign::Eligibility;
pub use election::{
    VoterView, answer_pre_vote, handover_target, jitter, pre_vote_won, standby_may_elect,
};
pub use roster::MembershipChange;
pub(crate) use roster::Roster;

use crate::membership::{MemberCapabilities, MembershipError, MembershipPlan};
use crate::store::{AppliedState, Store, StoreClosed, StoreError};
use crate::transport::{Limits, Network, Peers, RpcServer, WriteError, Written};
use crate::types::{App, Metrics, NodeId, PeerNode, Raft};
use ssinet_interconnect::{IdentityError, NodeIdentity};

/// A node of the cluster as `clustertab` and `cvip.conf` describe it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClusterMember {
    /// What it may be (director, init node), for the membership plan.
    pub capabilities: MemberCapabilities,
    /// Its Raft RPC address on the interconnect.
    pub addr: SocketAddr,
}

/// Raft timing. The defaults suit a LAN interconnect (chosen by measurement: see
/// docs/BENCHMARKS.md, "Failover on the host").
///
/// Failover takes about `election_max` plus a few round trips: openraft's voters refuse a
/// candidate until `election_max` has passed since the last heartbeat (the leader lease), and
/// a director asks for a pre-vote as soon as that lease has lapsed for it (see the election
/// driver). Voters that are not director-capable stand only after [`Timing::standby_after`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timing {
    /// How often the leader heartbeats; also openraft's deadline for each append-entries RPC.
    pub heartbeat: Duration,
    /// The shortest time a node waits after standing before it stands again (a lost or split
    /// vote). A leader must release the CVIP sooner than this after its last quorum
    /// acknowledgement.
    pub election_min: Duration,
    /// The leader lease: voters refuse any candidate until this long after they last heard
    /// from their leader, and a director stands once it has heard nothing for this long.
    pub election_max: Duration,
}

impl Default for Timing {
    fn default() -> Self {
        Self {
            heartbeat: Duration::from_millis(30),
            election_min: Duration::from_millis(150),
            election_max: Duration::from_millis(200),
        }
    }
}

impl Timing {
    /// How long a voter that is not director-capable waits without hearing from any leader
    /// before it stands for election itself: three `election_max`, so every director has had
    /// its chance first. It then leads only as a caretaker, until a director has caught up.
    pub fn standby_after(&self) -> Duration {
        self.election_max * 3
    }
}

/// Everything a node needs to start.
#[derive(Clone, Debug)]
pub struct NodeConfig {
    /// This node's number.
    pub node: NodeId,
    /// The agent's data directory; the store is `<data_dir>/raft.redb`.
    pub data_dir: PathBuf,
    /// This node's PKI directory (`ca.pem`, `node.pem`, `node.key`).
    pub pki_dir: PathBuf,
    /// Where the RPC server binds; port 0 picks one (tests).
    pub listen: SocketAddr,
    /// Every node of the cluster, this one included.
    pub members: Vec<ClusterMember>,
    /// Raft timing.
    pub timing: Timing,
    /// Transport limits.
    pub limits: Limits,
    /// Build a snapshot (and purge the log before it) every this many applied entries.
    pub snapshot_every: u64,
}

/// Why a node could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The node list yields no usable membership.
    #[error("cluster membership: {0}")]
    Membership(#[from] MembershipError),
    /// This node is not in the node list.
    #[error("node {0} is not in the cluster's node list (clustertab)")]
    NotAMember(NodeId),
    /// The TLS identity is missing or wrong.
    #[error(transparent)]
    Identity(#[from] IdentityError),
    /// The store could not be opened.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The Raft timing is inconsistent.
    #[error("invalid raft configuration: {0}")]
    Config(String),
    /// The RPC address could not be bound.
    #[error(
        "cannot listen on {addr}: {source}; is the interconnect address configured on this node?"
    )]
    Listen {
        addr: SocketAddr,
        source: std::io::Error,
    },
    /// openraft failed to start or bootstrap.
    #[error("raft failed to start: {0}")]
    Raft(String),
}

/// A running cluster member.
pub struct ClusterNode<A: App> {
    node: NodeId,
    raft: Raft<A>,
    network: Network<A>,
    server: Option<RpcServer>,
    state: watch::Receiver<Arc<AppliedState<A::State>>>,
    /// The node list in force; upkeep, hand-over and the RPC server follow it.
    roster: watch::Sender<Arc<Roster>>,
    limits: Limits,
    upkeep: JoinHandle<()>,
    campaign: JoinHandle<()>,
    eligible: Eligibility,
    store_closed: StoreClosed,
}

impl<A: App> ClusterNode<A> {
    /// Opens the store, starts Raft and the RPC server, and bootstraps the cluster if this is
    /// the lowest-numbered director-capable node and no state exists anywhere on it.
    pub async fn start(config: NodeConfig) -> Result<Self, StartError> {
        let listener =
            TcpListener::bind(config.listen)
                .await
                .map_err(|source| StartError::Listen {
                    addr: config.listen,
                    source,
                })?;
        Self::start_on(config, listener).await
    }

    /// Like [`ClusterNode::start`], serving RPC on an already bound `listener` (so callers can
    /// bind port 0 and learn the port before building the member list).
    pub async fn start_on(config: NodeConfig, listener: TcpListener) -> Result<Self, StartError> {
        let roster = match Roster::new(config.node, &config.members) {
            Ok(roster) => roster,
            Err(MembershipError::NotListed(node)) => return Err(StartError::NotAMember(node)),
            Err(e) => return Err(e.into()),
        };
        let plan = roster.plan.clone();
        let members = roster.addresses.clone();
        let (roster, _) = watch::channel(Arc::new(roster));
        let identity = NodeIdentity::load(&config.pki_dir, config.node)?;
        let store = Store::<A>::open(&config.data_dir)?;
        let store_closed = store.closed.clone();
        let state = store.state_machine.subscribe();

        let raft_config = openraft::Config {
            cluster_name: "ssinet".into(),
            heartbeat_interval: millis(config.timing.heartbeat),
            election_timeout_min: millis(config.timing.election_min),
            election_timeout_max: millis(config.timing.election_max),
            // openraft never campaigns by itself: the election driver (`campaign`) decides,
            // after a pre-vote.
            enable_elect: false,
            snapshot_policy: openraft::SnapshotPolicy::LogsSinceLast(config.snapshot_every),
            max_in_snapshot_log_to_keep: config.snapshot_every / 2,
            // JSON spells each byte as up to 4 characters: keep a chunk's frame well below the limit.
            snapshot_max_chunk_size: (config.limits.max_frame_bytes / 8) as u64,
            ..Default::default()
        }
        .validate()
        .map_err(|e| StartError::Config(e.to_string()))?;

        let network = Network::<A>::new(Arc::new(Peers::new(identity.clone(), config.limits)));
        let eligible = Eligibility::default();
        let raft = Raft::<A>::new(
            config.node,
            Arc::new(raft_config),
            network.clone(),
            store.log,
            store.state_machine,
        )
        .await
        .map_err(|e| StartError::Raft(e.to_string()))?;

        let started = async {
            let server = RpcServer::start(
                listener,
                identity,
                raft.clone(),
                config.limits,
                roster.subscribe(),
                eligible.clone(),
                config.timing.election_max,
            )
                .map_err(|source| StartError::Listen {
                    addr: config.listen,
                    source,
                })?;
            let initialized = raft
                .is_initialized()
                .await
                .map_err(|e| StartError::Raft(e.to_string()))?;
            if !initialized && config.node == plan.bootstrap_node() {
                let voters: BTreeMap<NodeId, PeerNode> =
                    plan.voters.iter().map(|id| (*id, members[id])).collect();
                tracing::info!(node = %config.node, voters = ?plan.voters, "bootstrapping the cluster");
                if let Err(e) = raft.initialize(voters).await {
                    // Someone else's log reached us first: we are part of a cluster already.
                    tracing::warn!(node = %config.node, error = %e, "bootstrap skipped");
                }
            }
            Ok(server)
        }
        .await;
        let server = match started {
            Ok(server) => server,
            Err(e) => {
                let _ = raft.shutdown().await;
                return Err(e);
            }
        };

        let upkeep = tokio::spawn(upkeep::run(config.node, raft.clone(), roster.subscribe()));
        // Every node runs it: a director may be made a plain voter by a later node list.
        let campaign = tokio::spawn(campaign::run(
            config.node,
            raft.clone(),
            network.clone(),
            roster.subscribe(),
            config.timing,
            eligible.clone(),
        ));
        Ok(Self {
            node: config.node,
            raft,
            network,
            server: Some(server),
            state,
            roster,
            limits: config.limits,
            upkeep,
            campaign,
            eligible,
            store_closed,
        })
    }

    /// This node's number.
    pub fn id(&self) -> NodeId {
        self.node
    }

    /// The openraft handle, for metrics and administrative calls.
    pub fn raft(&self) -> &Raft<A> {
        &self.raft
    }

    /// Raft metrics (role, term, leader, `millis_since_quorum_ack`).
    pub fn metrics(&self) -> watch::Receiver<Metrics> {
        self.raft.metrics()
    }

    /// The applied state, updated after every applied batch.
    pub fn state(&self) -> watch::Receiver<Arc<AppliedState<A::State>>> {
        self.state.clone()
    }

    /// The membership plan computed from the node list in force (the one given at start or the
    /// last one [`ClusterNode::set_members`] accepted). A copy: it may change at any time.
    pub fn plan(&self) -> MembershipPlan {
        self.roster.borrow().plan.clone()
    }

    /// Replaces the node list, e.g. after the operator applied a changed clustertab.
    ///
    /// The new plan and addresses take effect at once on this node: forwarded writes and
    /// hand-over requests use the new addresses, this node stands for election if and only if
    /// it is now director-capable, and, while it leads, its upkeep brings the replicated
    /// membership in line with the new plan through Raft (new nodes join as learners, voters
    /// change, departed nodes are removed, one change at a time). Every node should be given
    /// the same list; the replicated membership follows the leader's. Giving the list in force
    /// again changes nothing.
    ///
    /// A list without this node is refused with [`MembershipError::NotListed`]: the node keeps
    /// working with its previous list until the operator stops it, and a leader given the new
    /// list removes it from the membership.
    pub fn set_members(
        &self,
        members: Vec<ClusterMember>,
    ) -> Result<MembershipChange, MembershipError> {
        let next = Roster::new(self.node, &members)?;
        let mut change = MembershipChange::default();
        // Compared and replaced under the channel's lock, so concurrent calls apply in order.
        self.roster.send_if_modified(|current| {
            change = current.change_to(&next, self.node);
            if change.is_unchanged() {
                return false;
            }
            *current = Arc::new(next);
            true
        });
        if change.is_unchanged() {
            return Ok(change);
        }
        self.network.forget(&change.removed);
        tracing::info!(
            node = %self.node,
            added = ?change.added,
            removed = ?change.removed,
            moved = ?change.moved,
            may_elect = ?change.may_elect,
            plan = ?self.roster.borrow().plan,
            "node list changed"
        );
        Ok(change)
    }

    /// Whether this node could serve as director now (its agent's view of its external link).
    /// An ineligible director-capable node never stands for election and refuses a caretaker's
    /// request to; while it leads it stands aside (see the election driver). Nodes start
    /// eligible.
    pub fn set_eligible(&self, eligible: bool) {
        let was = self.eligible.set(eligible);
        // The caller logs the change with its reason (the agent's external-link monitor).
        if was != eligible {
            tracing::debug!(node = %self.node, eligible, "director eligibility changed");
        }
    }

    /// Where the RPC server listens.
    pub fn rpc_addr(&self) -> Option<SocketAddr> {
        self.server.as_ref().map(RpcServer::local_addr)
    }

    /// Commits `command` through the leader, forwarding it if this node is not the leader.
    ///
    /// While no leader is known or the leader moves (the command was not proposed then), retries
    /// until the transport's `forward_timeout`; an unreachable leader or a timeout is returned at
    /// once, since the command may have committed.
    pub async fn write(&self, command: A::Command) -> Result<Written<A::Response>, WriteError> {
        let deadline = tokio::time::Instant::now() + self.limits.forward_timeout;
        loop {
            let result =
                match crate::transport::write_locally(&self.raft, command.clone(), &self.limits)
                    .await
                {
                    Err(WriteError::NotLeader {
                        leader: Some(leader),
                    }) if leader != self.node => match self.peer(leader) {
                        Some(peer) => {
                            self.network
                                .forward_write(leader, &peer, command.clone())
                                .await
                        }
                        None => Err(WriteError::NotLeader {
                            leader: Some(leader),
                        }),
                    },
                    other => other,
                };
            match result {
                Err(e @ WriteError::NotLeader { .. }) if tokio::time::Instant::now() < deadline => {
                    tracing::debug!(node = %self.node, reason = %e, "write waiting for a leader");
                    tokio::time::sleep(self.limits.min_backoff * 2).await;
                }
                other => return other,
            }
        }
    }

    /// A peer's address: as the replicated membership has it, else as the node list has it.
    fn peer(&self, node: NodeId) -> Option<PeerNode> {
        let metrics = self.raft.metrics();
        let from_membership = metrics
            .borrow()
            .membership_config
            .membership()
            .get_node(&node)
            .copied();
        from_membership.or_else(|| self.roster.borrow().addresses.get(&node).copied())
    }

    /// Stops the RPC server, membership upkeep and Raft, releasing the store.
    pub async fn shutdown(mut self) {
        self.upkeep.abort();
        self.campaign.abort();
        if let Some(server) = self.server.take() {
            server.shutdown().await;
        }
        if let Err(e) = self.raft.shutdown().await {
            tracing::warn!(node = %self.node, error = %e, "raft shutdown");
        }
        self.network.close_all().await;
        // openraft's replication tasks drop their log readers shortly after the core stops;
        // wait for the file to close so the data directory can be reopened once this returns.
        if tokio::time::timeout(Duration::from_secs(10), self.store_closed.wait())
            .await
            .is_err()
        {
            tracing::warn!(
                node = %self.node,
                "the raft database is still open after shutdown"
            );
        }
        tracing::info!(node = %self.node, "raft node stopped");
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

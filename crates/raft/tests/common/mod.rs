//! Helpers shared by the integration tests: a PKI in a temp dir and in-process nodes on loopback.
#![allow(dead_code)]

pub mod kv;

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use openraft::ServerState;
use ssinet_interconnect::pki::{self, PkiNode};
use ssinet_raft::transport::Limits;
use ssinet_raft::{ClusterMember, ClusterNode, MemberCapabilities, NodeConfig, NodeId, Timing};
use tokio::net::TcpListener;

use kv::KvApp;

pub const LOOPBACK: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

/// Logs to the test output when `RUST_LOG` is set.
pub fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "off".into()),
        )
        .with_test_writer()
        .try_init();
}

/// Short timings so tests converge quickly; correctness never depends on them.
pub fn test_timing() -> Timing {
    Timing {
        heartbeat: Duration::from_millis(50),
        election_min: Duration::from_millis(300),
        election_max: Duration::from_millis(600),
    }
}

pub fn pki_for(dir: &Path, nodes: &[u64]) {
    let nodes: Vec<PkiNode> = nodes
        .iter()
        .map(|&node| PkiNode {
            node: NodeId(node),
            interconnect_ip: LOOPBACK,
        })
        .collect();
    pki::init(&nodes, dir, false).unwrap();
}

/// A test cluster's fixed layout: capabilities, bound listeners, directories.
pub struct Layout {
    pub root: PathBuf,
    pub members: Vec<ClusterMember>,
    pub listeners: BTreeMap<u64, TcpListener>,
    pub snapshot_every: u64,
}

impl Layout {
    /// Binds one loopback listener per node and creates the PKI under `root/pki`.
    pub async fn new(root: &Path, nodes: &[MemberCapabilities]) -> Self {
        let ids: Vec<u64> = nodes.iter().map(|n| n.node.get()).collect();
        Self::with_pki_for(root, nodes, &ids).await
    }

    /// Like [`Layout::new`], with certificates from `pki init` for `certified` only (the others
    /// are added later, e.g. with `pki::add_node` into [`Layout::pki_dir`]).
    pub async fn with_pki_for(
        root: &Path,
        nodes: &[MemberCapabilities],
        certified: &[u64],
    ) -> Self {
        pki_for(&root.join("pki"), certified);
        let mut members = Vec::new();
        let mut listeners = BTreeMap::new();
        for node in nodes {
            let listener = TcpListener::bind((LOOPBACK, 0)).await.unwrap();
            members.push(ClusterMember {
                capabilities: *node,
                addr: listener.local_addr().unwrap(),
            });
            listeners.insert(node.node.get(), listener);
        }
        Self {
            root: root.to_path_buf(),
            members,
            listeners,
            snapshot_every: 1000,
        }
    }

    /// The `pki init` output directory (ca.pem, ca.key, node<N>/).
    pub fn pki_dir(&self) -> PathBuf {
        self.root.join("pki")
    }

    /// The members among `nodes`, as a clustertab listing only them would give.
    pub fn members_of(&self, nodes: &[u64]) -> Vec<ClusterMember> {
        self.members
            .iter()
            .filter(|m| nodes.contains(&m.capabilities.node.get()))
            .copied()
            .collect()
    }

    pub fn addr(&self, node: u64) -> SocketAddr {
        self.members
            .iter()
            .find(|m| m.capabilities.node == NodeId(node))
            .unwrap()
            .addr
    }

    pub fn config(&self, node: u64) -> NodeConfig {
        NodeConfig {
            node: NodeId(node),
            data_dir: self.root.join(format!("data{node}")),
            pki_dir: self.root.join("pki").join(format!("node{node}")),
            listen: self.addr(node),
            members: self.members.clone(),
            timing: test_timing(),
            limits: Limits::default(),
            snapshot_every: self.snapshot_every,
        }
    }

    /// Starts `node` on its pre-bound listener (first start) or rebinding its address (restart).
    pub async fn start(&mut self, node: u64) -> ClusterNode<KvApp> {
        let members = self.members.clone();
        self.start_listing(node, members).await
    }

    /// Like [`Layout::start`], with `members` as the node list it starts from.
    pub async fn start_listing(
        &mut self,
        node: u64,
        members: Vec<ClusterMember>,
    ) -> ClusterNode<KvApp> {
        let config = NodeConfig {
            members,
            ..self.config(node)
        };
        match self.listeners.remove(&node) {
            Some(listener) => ClusterNode::start_on(config, listener).await.unwrap(),
            // A restart: shutdown released the database, so this must succeed at once.
            None => ClusterNode::start(config).await.unwrap(),
        }
    }
}

pub fn capable(node: u64, director_capable: bool, init_capable: bool) -> MemberCapabilities {
    MemberCapabilities {
        node: NodeId(node),
        director_capable,
        init_capable,
    }
}

/// Tracing on, a [`Layout`] of `nodes` under `root`, and every node started on it.
pub async fn start_cluster(
    root: &Path,
    nodes: &[MemberCapabilities],
) -> (Layout, BTreeMap<u64, ClusterNode<KvApp>>) {
    init_tracing();
    let mut layout = Layout::new(root, nodes).await;
    let mut started = BTreeMap::new();
    for node in nodes {
        let id = node.node.get();
        started.insert(id, layout.start(id).await);
    }
    (layout, started)
}

/// Polls `check` until it holds, panicking with `what` after a generous deadline.
pub async fn eventually<F: FnMut() -> bool>(what: &str, mut check: F) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !check() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The leader every node names, if they agree and it is in fact leading.
pub fn leader_of(nodes: &BTreeMap<u64, ClusterNode<KvApp>>) -> Option<u64> {
    let leaders: BTreeSet<Option<u64>> = nodes
        .values()
        .map(|n| n.metrics().borrow().current_leader.map(NodeId::get))
        .collect();
    let leader = (*leaders.first()?)?;
    let is_leader = nodes
        .get(&leader)
        .is_some_and(|n| n.metrics().borrow().state == ServerState::Leader);
    (leaders.len() == 1 && is_leader).then_some(leader)
}

/// The voters and learners of the membership `node` has applied or appended.
pub fn membership_of(node: &ClusterNode<KvApp>) -> (BTreeSet<NodeId>, BTreeSet<NodeId>) {
    let metrics = node.metrics().borrow().clone();
    let membership = metrics.membership_config.membership();
    (
        membership.voter_ids().collect(),
        membership.learner_ids().collect(),
    )
}

/// A key's value in a node's applied state.
pub fn value(node: &ClusterNode<KvApp>, key: &str) -> Option<String> {
    node.state().borrow().state.get(key).cloned()
}

//! The leader keeps the replicated membership in line with the node list it was started with.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeSet;

use common::kv::set;
use common::{Layout, capable, eventually, init_tracing};
use openraft::ServerState;
use ssinet_raft::NodeId;
use tempfile::TempDir;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_dropped_from_the_list_leaves_the_membership() {
    init_tracing();
    let tmp = TempDir::new().unwrap();
    // Node 1 is the only director, so it is the leader whenever it runs.
    let mut layout = Layout::new(
        tmp.path(),
        &[
            capable(1, true, false),
            capable(2, false, true),
            capable(3, false, true),
            capable(4, false, false),
        ],
    )
    .await;
    let n1 = layout.start(1).await;
    let n2 = layout.start(2).await;
    let n3 = layout.start(3).await;
    let n4 = layout.start(4).await;
    let members_of = |m: &ssinet_raft::types::Metrics| -> (BTreeSet<u64>, BTreeSet<u64>) {
        let membership = m.membership_config.membership();
        (
            membership.voter_ids().map(NodeId::get).collect(),
            membership.learner_ids().map(NodeId::get).collect(),
        )
    };
    eventually("voters {1,2,3} and learner 4", || {
        members_of(&n1.metrics().borrow()) == (BTreeSet::from([1, 2, 3]), BTreeSet::from([4]))
    })
    .await;
    n2.write(set("a", "1")).await.unwrap();

    // The operator removes node 4 from clustertab and restarts node 1.
    n1.shutdown().await;
    layout.members.retain(|m| m.capabilities.node != NodeId(4));
    let n1 = layout.start(1).await;
    eventually("node 1 leading again", || {
        n1.metrics().borrow().state == ServerState::Leader
    })
    .await;
    eventually("node 4 removed", || {
        members_of(&n1.metrics().borrow()) == (BTreeSet::from([1, 2, 3]), BTreeSet::new())
    })
    .await;
    // The cluster still commits.
    n3.write(set("b", "2")).await.unwrap();
    eventually("node 2 applying the write", || {
        n2.state().borrow().state.contains_key("b")
    })
    .await;

    for node in [n1, n2, n3, n4] {
        node.shutdown().await;
    }
}

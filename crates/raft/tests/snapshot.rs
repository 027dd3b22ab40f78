//! A node that was down while the log was compacted catches up from a snapshot sent over TLS.
#![allow(clippy::unwrap_used)]

mod common;

use common::kv::{KvApp, set};
use common::{Layout, capable, eventually, init_tracing};
use openraft::ServerState;
use ssinet_raft::ClusterNode;
use tempfile::TempDir;

fn has_all_keys(node: &ClusterNode<KvApp>, count: usize) -> bool {
    let state = node.state();
    let applied = state.borrow();
    (0..count).all(|i| applied.state.contains_key(&format!("key{i}")))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lagging_node_catches_up_from_a_snapshot() {
    init_tracing();
    let tmp = TempDir::new().unwrap();
    let mut layout = Layout::new(
        tmp.path(),
        &[
            capable(1, true, true),
            capable(2, true, false),
            capable(3, false, false),
        ],
    )
    .await;
    layout.snapshot_every = 5;
    let n1 = layout.start(1).await;
    let n2 = layout.start(2).await;
    let n3 = layout.start(3).await;
    eventually("node 1 leading", || {
        n1.metrics().borrow().state == ServerState::Leader
    })
    .await;
    n1.write(set("before", "stop")).await.unwrap();
    eventually("node 3 applying the first write", || {
        n3.state().borrow().state.contains_key("before")
    })
    .await;
    n3.shutdown().await;

    const WRITES: usize = 40;
    for i in 0..WRITES {
        n2.write(set(&format!("key{i}"), "v")).await.unwrap();
    }
    // The leader compacted its log: entries node 3 lacks are gone, only a snapshot has them.
    eventually("the leader purging its log", || {
        let m = n1.metrics().borrow().clone();
        m.snapshot.is_some() && m.purged.is_some_and(|p| p.index > 10)
    })
    .await;

    let n3 = layout.start(3).await;
    eventually("node 3 catching up", || has_all_keys(&n3, WRITES)).await;
    assert!(
        n3.metrics().borrow().snapshot.is_some(),
        "node 3 should have installed a snapshot"
    );

    for node in [n1, n2, n3] {
        node.shutdown().await;
    }
}

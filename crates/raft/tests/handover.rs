//! Liveness past a lagging director, in process over real mutual TLS on loopback: directors 1
//! and 2, non-director voter 3. The leader commits with 3 while the other director is down, then
//! dies; the returning director's log is behind 3's, so 3 refuses it its vote. Node 3 stands by,
//! leads as a caretaker until the director has caught up, and hands leadership over.
#![allow(clippy::unwrap_used)]

mod common;

use common::kv::{KvResponse, set};
use common::{capable, eventually, leader_of, start_cluster, value};
use openraft::ServerState;
use tempfile::TempDir;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_caretaker_hands_leadership_to_the_lagging_director() {
    let tmp = TempDir::new().unwrap();
    let (mut layout, mut nodes) = start_cluster(
        tmp.path(),
        &[
            capable(1, true, true),
            capable(2, true, false),
            capable(3, false, false),
        ],
    )
    .await;
    let mut leader = None;
    eventually("a leader all nodes agree on", || {
        leader = leader_of(&nodes);
        leader.is_some()
    })
    .await;
    let first = leader.unwrap();
    assert!([1, 2].contains(&first), "leader {first} is not a director");
    let lagging = if first == 1 { 2 } else { 1 };

    // The other director goes down; the leader and node 3 commit without it.
    nodes.remove(&lagging).unwrap().shutdown().await;
    let written = nodes[&3].write(set("while", "down")).await.unwrap();
    assert_eq!(written.response, KvResponse::Done { previous: None });
    eventually("the write applied on node 3", || {
        value(&nodes[&3], "while").is_some()
    })
    .await;

    // Only a leader replicates, so the director can catch up only under caretaker 3.
    let mut node3 = nodes[&3].metrics();
    let caretaker = tokio::spawn(async move {
        loop {
            if node3.borrow_and_update().state == ServerState::Leader {
                return true;
            }
            if node3.changed().await.is_err() {
                return false;
            }
        }
    });

    // The leader dies and the lagging director returns: only it and node 3 are up.
    nodes.remove(&first).unwrap().shutdown().await;
    let restarted = layout.start(lagging).await;
    assert_eq!(value(&restarted, "while"), None, "the director lags");
    nodes.insert(lagging, restarted);

    // Node 3 may lead for a while as caretaker; in the end the director leads, caught up.
    eventually("the lagging director to lead", || {
        leader_of(&nodes) == Some(lagging)
    })
    .await;
    eventually(
        "the director to hold the write made while it was down",
        || value(&nodes[&lagging], "while").as_deref() == Some("down"),
    )
    .await;
    let written = nodes[&3].write(set("after", "handover")).await.unwrap();
    assert_eq!(written.response, KvResponse::Done { previous: None });
    assert_eq!(
        leader_of(&nodes),
        Some(lagging),
        "the director keeps leading"
    );

    assert!(caretaker.await.unwrap(), "node 3 led as caretaker");
    // Node 3's static configuration still keeps it out of ordinary elections.
    assert!(!nodes[&3].raft().config().enable_elect);

    for (_, node) in nodes {
        node.shutdown().await;
    }
}

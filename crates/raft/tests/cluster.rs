//! A 4-node in-process cluster over real mutual TLS on loopback.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeSet;

use common::kv::{KvCommand, KvResponse, set};
use common::{capable, eventually, leader_of, start_cluster, value};
use ssinet_raft::NodeId;
use tempfile::TempDir;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_elects_directors_replicates_fails_over_and_catches_up() {
    let tmp = TempDir::new().unwrap();
    // 1 and 2 may direct; 3 is init-capable so it fills the third voter seat; 4 is a learner.
    let (mut layout, mut nodes) = start_cluster(
        tmp.path(),
        &[
            capable(1, true, true),
            capable(2, true, false),
            capable(3, false, true),
            capable(4, false, false),
        ],
    )
    .await;
    // Nobody campaigns on its start configuration: directors stand for election once they
    // heard a leader or listened for one long enough, the others only ever as caretakers.
    for id in 1..=4 {
        assert!(!nodes[&id].raft().config().enable_elect);
    }

    // A leader is elected, and it is a director-capable node.
    let mut leader = None;
    eventually("a leader all nodes agree on", || {
        leader = leader_of(&nodes);
        leader.is_some()
    })
    .await;
    let first_leader = leader.unwrap();
    assert!(
        [1, 2].contains(&first_leader),
        "leader {first_leader} is not director-capable"
    );

    // The membership settles as planned: voters 1,2,3 and learner 4.
    eventually("voters {1,2,3} and learner 4", || {
        let m = nodes[&first_leader]
            .metrics()
            .borrow()
            .membership_config
            .clone();
        let voters: BTreeSet<u64> = m.membership().voter_ids().map(NodeId::get).collect();
        let learners: BTreeSet<u64> = m.membership().learner_ids().map(NodeId::get).collect();
        voters == BTreeSet::from([1, 2, 3]) && learners == BTreeSet::from([4])
    })
    .await;

    // A write through a non-director follower is forwarded to the leader and reaches everyone.
    let written = nodes[&3]
        .write(set("cvip", "192.168.200.10"))
        .await
        .unwrap();
    assert_eq!(written.response, KvResponse::Done { previous: None });
    eventually("the write on all nodes", || {
        nodes
            .values()
            .all(|n| value(n, "cvip").as_deref() == Some("192.168.200.10"))
    })
    .await;

    // An invalid command is rejected by the state machine, with its reason, on every node alike.
    let rejected = nodes[&4].write(set("", "x")).await.unwrap();
    assert_eq!(
        rejected.response,
        KvResponse::Rejected {
            reason: "the key is empty".into()
        }
    );
    let missing = nodes[&first_leader]
        .write(KvCommand::Delete {
            key: "nothing".into(),
        })
        .await
        .unwrap();
    assert!(matches!(missing.response, KvResponse::Rejected { .. }));

    // The leader goes away: the other director takes over and writes continue.
    nodes.remove(&first_leader).unwrap().shutdown().await;
    let other_director = if first_leader == 1 { 2 } else { 1 };
    // Node 3 may stand in as caretaker only if the director took very long; either way the
    // director ends up leading.
    eventually("the other director to lead", || {
        leader_of(&nodes) == Some(other_director)
    })
    .await;
    let written = nodes[&4].write(set("weight", "80")).await.unwrap();
    assert_eq!(written.response, KvResponse::Done { previous: None });

    // The old leader restarts on the same data dir and catches up from the log.
    let restarted = layout.start(first_leader).await;
    assert_eq!(
        value(&restarted, "cvip").as_deref(),
        Some("192.168.200.10"),
        "the applied state survived the restart"
    );
    nodes.insert(first_leader, restarted);
    eventually("the restarted node catching up", || {
        value(&nodes[&first_leader], "weight").as_deref() == Some("80")
    })
    .await;
    let written = nodes[&first_leader]
        .write(set("after", "restart"))
        .await
        .unwrap();
    assert_eq!(written.response, KvResponse::Done { previous: None });
    eventually("the last write on all nodes", || {
        nodes.values().all(|n| value(n, "after").is_some())
    })
    .await;

    for (_, node) in nodes {
        node.shutdown().await;
    }
}

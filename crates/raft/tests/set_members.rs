//! A changed node list (clustertab applied at runtime) changes the membership through Raft:
//! real nodes on loopback over mutual TLS, the added ones with certificates from
//! `pki::add_node`.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::{BTreeMap, BTreeSet};

use common::kv::{KvApp, set};
use common::{
    LOOPBACK, Layout, capable, eventually, init_tracing, leader_of, membership_of, value,
};
use ssinet_interconnect::pki::{self, PkiNode};
use ssinet_raft::{ClusterNode, MembershipError, NodeId};
use tempfile::TempDir;

fn ids(ids: &[u64]) -> BTreeSet<NodeId> {
    ids.iter().copied().map(NodeId).collect()
}

async fn settled_leader(nodes: &BTreeMap<u64, ClusterNode<KvApp>>) -> u64 {
    let mut leader = None;
    eventually("a leader all nodes agree on", || {
        leader = leader_of(nodes);
        leader.is_some()
    })
    .await;
    leader.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_join_and_leave_when_the_node_list_changes() {
    init_tracing();
    let tmp = TempDir::new().unwrap();
    // Directors 1 and 2 with voter 3; node 4 (a director) and node 5 come later.
    let mut layout = Layout::with_pki_for(
        tmp.path(),
        &[
            capable(1, true, false),
            capable(2, true, false),
            capable(3, false, false),
            capable(4, true, false),
            capable(5, false, false),
        ],
        &[1, 2, 3],
    )
    .await;
    let mut nodes = BTreeMap::new();
    let first = layout.members_of(&[1, 2, 3]);
    for id in 1..=3 {
        nodes.insert(id, layout.start_listing(id, first.clone()).await);
    }
    settled_leader(&nodes).await;
    nodes[&3].write(set("before", "1")).await.unwrap();

    // The operator issues the new nodes' certificates from the existing CA and starts them
    // with the new clustertab; they wait to be added.
    let pki_dir = layout.pki_dir();
    for id in [4, 5] {
        let node = PkiNode {
            node: NodeId(id),
            interconnect_ip: LOOPBACK,
        };
        pki::add_node(&pki_dir, node, &pki_dir, false).unwrap();
    }
    let all = layout.members_of(&[1, 2, 3, 4, 5]);
    for id in [4, 5] {
        nodes.insert(id, layout.start_listing(id, all.clone()).await);
    }

    // The new clustertab is applied on the running nodes.
    for id in 1..=3 {
        let change = nodes[&id].set_members(all.clone()).unwrap();
        assert_eq!(change.added, ids(&[4, 5]), "node {id}");
        assert!(change.removed.is_empty() && change.moved.is_empty());
        assert!(change.plan_changed);
        assert_eq!(
            change.may_elect, None,
            "node {id}'s capability is unchanged"
        );
        // The same list again changes nothing.
        assert!(nodes[&id].set_members(all.clone()).unwrap().is_unchanged());
    }
    // Directors 1, 2 and 4 vote; node 3 is demoted to a learner, node 5 learns.
    let plan = nodes[&1].plan();
    assert_eq!(
        (plan.voters, plan.learners),
        (ids(&[1, 2, 4]), ids(&[3, 5]))
    );
    for id in 1..=5 {
        eventually(
            &format!("node {id} to see voters 1,2,4 and learners 3,5"),
            || membership_of(&nodes[&id]) == (ids(&[1, 2, 4]), ids(&[3, 5])),
        )
        .await;
    }
    // The new nodes replicate the old log and new writes, also forwarded from a learner.
    nodes[&5].write(set("after", "2")).await.unwrap();
    for id in 1..=5 {
        eventually(&format!("node {id} to hold both writes"), || {
            value(&nodes[&id], "before").is_some() && value(&nodes[&id], "after").is_some()
        })
        .await;
    }

    // Node 5 leaves clustertab. It refuses the list without itself and keeps running as is.
    let without_5 = layout.members_of(&[1, 2, 3, 4]);
    let err = nodes[&5].set_members(without_5.clone()).unwrap_err();
    assert_eq!(err, MembershipError::NotListed(NodeId(5)));
    assert!(nodes[&5].plan().learners.contains(&NodeId(5)));
    for id in 1..=4 {
        let change = nodes[&id].set_members(without_5.clone()).unwrap();
        assert_eq!(change.removed, ids(&[5]), "node {id}");
    }
    for id in 1..=4 {
        eventually(&format!("node {id} to see node 5 removed"), || {
            membership_of(&nodes[&id]) == (ids(&[1, 2, 4]), ids(&[3]))
        })
        .await;
    }
    nodes[&2].write(set("gone", "3")).await.unwrap();
    for id in 1..=4 {
        eventually(&format!("node {id} to hold the last write"), || {
            value(&nodes[&id], "gone").is_some()
        })
        .await;
    }
    assert_eq!(
        value(&nodes[&5], "gone"),
        None,
        "a removed node gets no log"
    );

    for (_, node) in nodes {
        node.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn director_capability_follows_the_node_list() {
    init_tracing();
    let tmp = TempDir::new().unwrap();
    let mut layout = Layout::new(
        tmp.path(),
        &[
            capable(1, true, false),
            capable(2, true, false),
            capable(3, false, false),
        ],
    )
    .await;
    let mut nodes = BTreeMap::new();
    for id in 1..=3 {
        nodes.insert(id, layout.start(id).await);
    }
    let first = settled_leader(&nodes).await;
    assert!([1, 2].contains(&first));

    // Node 3 becomes the only director: the current leader is now a mere caretaker and hands
    // leadership to node 3, which may now be elected.
    let mut only_3 = layout.members.clone();
    for m in &mut only_3 {
        m.capabilities.director_capable = m.capabilities.node == NodeId(3);
    }
    for id in 1..=3 {
        let change = nodes[&id].set_members(only_3.clone()).unwrap();
        assert_eq!(change.may_elect, Some(id == 3), "node {id}");
        assert!(change.added.is_empty() && change.removed.is_empty());
    }
    assert!(nodes[&3].plan().may_elect(NodeId(3)));
    assert!(!nodes[&first].plan().may_elect(NodeId(first)));
    eventually("node 3 to lead", || leader_of(&nodes) == Some(3)).await;
    nodes[&1].write(set("director", "3")).await.unwrap();
    assert_eq!(leader_of(&nodes), Some(3));

    // And back: node 1 alone may direct; node 3 hands over to it.
    let mut only_1 = layout.members.clone();
    for m in &mut only_1 {
        m.capabilities.director_capable = m.capabilities.node == NodeId(1);
    }
    for id in 1..=3 {
        let change = nodes[&id].set_members(only_1.clone()).unwrap();
        let expected = match id {
            1 => Some(true),
            3 => Some(false),
            _ => None,
        };
        assert_eq!(change.may_elect, expected, "node {id}");
    }
    eventually("node 1 to lead", || leader_of(&nodes) == Some(1)).await;
    nodes[&3].write(set("director", "1")).await.unwrap();
    for id in 1..=3 {
        eventually(&format!("node {id} to hold the last write"), || {
            value(&nodes[&id], "director").as_deref() == Some("1")
        })
        .await;
    }

    for (_, node) in nodes {
        node.shutdown().await;
    }
}

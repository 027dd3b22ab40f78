//! A clustertab changed through `cvipctl config apply` (the `ApplyConfig` command it sends)
//! changes the Raft membership of the running cluster: a node added to the file joins as a
//! learner and receives the cluster's state and every later write; a node taken out of it is
//! removed from the membership, and the others go on without it.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;

use common::{Cluster, eventually};
use ssinet_api::{Command, Response};
use ssinet_config::{ClusterConfig, ConfigPaths, NodeId, PortWeight, Protocol};
use ssinet_testbed::netns::{LabSpec, clustertab, cvip_conf};

/// Directors 1 and 2 (voters 1, 2 and 3): a fourth node is a learner.
fn spec(nodes: u8) -> LabSpec {
    LabSpec {
        nodes,
        directors: vec![1, 2],
        ..LabSpec::default()
    }
}

/// What an operator does first: the same edited files on every node (here one shared
/// directory, which every agent reads).
fn write_files(dir: &Path, nodes: u8) {
    std::fs::write(dir.join("clustertab"), clustertab(&spec(nodes))).unwrap();
    std::fs::write(dir.join("cvip.conf"), cvip_conf(&spec(nodes))).unwrap();
}

/// Then `cvipctl config apply` on any node: the files, checked, as one command.
fn apply_files(cluster: &Cluster, via: u8, dir: &Path) {
    let paths = ConfigPaths {
        clustertab: dir.join("clustertab"),
        cvip_conf: dir.join("cvip.conf"),
        lvs_routing: dir.join("lvs_routing"),
        lvs_routing_required: false,
    };
    let loaded = ClusterConfig::load(&paths).unwrap_or_else(|d| panic!("{d:?}"));
    let answer = cluster.command_on(via, &Command::ApplyConfig(loaded.config));
    assert_eq!(answer.status, 200, "{}", answer.body);
    let response: Response = answer.json();
    assert!(response.is_applied(), "{response:?}");
}

fn weight(port: u16) -> PortWeight {
    PortWeight {
        proto: Protocol::Tcp,
        start_port: port,
        end_port: port,
        weight: 3,
        node: None,
    }
}

fn has_weight(cluster: &Cluster, node: u8, w: &PortWeight) -> bool {
    cluster
        .state(node)
        .is_some_and(|s| s.config.cvip_conf.port_weights.contains(w))
}

fn learners(cluster: &Cluster, node: u8) -> Option<Vec<NodeId>> {
    cluster.status(node).map(|s| s.learners)
}

#[test]
fn a_node_added_to_clustertab_joins_and_a_removed_one_leaves() {
    let mut cluster = Cluster::new(4, &[1, 2]);
    let dir = cluster.lab.config_dir().to_path_buf();
    write_files(&dir, 3);
    for n in 1..=3 {
        cluster.start_node(n);
    }
    let leader = cluster.wait_for_leader(&[1, 2, 3]);
    cluster.wait_until_seeded(&[1, 2, 3]);
    assert_eq!(learners(&cluster, leader), Some(vec![]));

    // Node 4 is added to the files and applied through node 3; then its agent starts.
    write_files(&dir, 4);
    apply_files(&cluster, 3, &dir);
    cluster.start_node(4);
    eventually(
        "the leader to list node 4 as a learner",
        || learners(&cluster, leader) == Some(vec![NodeId(4)]),
        &cluster,
    );
    let before = weight(8080);
    let answer = cluster.command_on(1, &Command::SetPortWeight(before.clone()));
    assert_eq!(answer.status, 200, "{}", answer.body);
    eventually(
        "node 4 to have the cluster's state and the new write",
        || {
            has_weight(&cluster, 4, &before)
                && cluster.state(4).map(|s| s.config.clustertab.nodes.len()) == Some(4)
        },
        &cluster,
    );

    // Node 4 is taken out again; the leader removes it and the others go on.
    write_files(&dir, 3);
    apply_files(&cluster, 2, &dir);
    eventually(
        "the leader to drop node 4 from its membership",
        || learners(&cluster, leader) == Some(vec![]),
        &cluster,
    );
    let after = weight(8081);
    let answer = cluster.command_on(3, &Command::SetPortWeight(after.clone()));
    assert_eq!(answer.status, 200, "{}", answer.body);
    eventually(
        "nodes 1-3 to apply a write made without node 4",
        || (1..=3).all(|n| has_weight(&cluster, n, &after)),
        &cluster,
    );
    let voters: Vec<bool> = cluster
        .status(leader)
        .unwrap()
        .nodes
        .iter()
        .map(|n| n.voter)
        .collect();
    assert_eq!(voters, vec![true, true, true], "nodes 1-3 stay the voters");
    assert!(
        !has_weight(&cluster, 4, &after),
        "node 4 received a write after it was removed from the membership"
    );
}

//! Three real `ssinetd` processes in a namespace lab (directors 1 and 2, node 3 a real server):
//! election, replication of writes made on any node, leader crash, and a restarted node catching
//! up from its log.
#![allow(clippy::unwrap_used)]

mod common;

use common::{Cluster, eventually};
use ssinet_api::admin::RaftRole;
use ssinet_api::{Command, Response};
use ssinet_config::{PortWeight, Protocol};

fn port_weight(start: u16, end: u16, weight: u32) -> PortWeight {
    PortWeight {
        proto: Protocol::Tcp,
        start_port: start,
        end_port: end,
        weight,
        node: None,
    }
}

fn has_weight(cluster: &Cluster, n: u8, wanted: &PortWeight) -> bool {
    cluster
        .state(n)
        .is_some_and(|s| s.config.cvip_conf.port_weights.contains(wanted))
}

/// Sets `weight` through node `via` and waits until every node in `nodes` has applied it.
fn write_and_see_everywhere(cluster: &Cluster, via: u8, weight: &PortWeight, nodes: &[u8]) {
    let answer = cluster.command_on(via, &Command::SetPortWeight(weight.clone()));
    assert_eq!(
        answer.status,
        200,
        "write via node {via}: {}\n{}",
        answer.body,
        cluster.logs()
    );
    assert!(answer.json::<Response>().is_applied());
    for n in nodes {
        eventually(
            &format!("node {n} to apply {weight:?} written via node {via}"),
            || has_weight(cluster, *n, weight),
            cluster,
        );
    }
}

#[test]
fn three_nodes_elect_a_director_replicate_fail_over_and_catch_up() {
    let mut cluster = Cluster::start(3, &[1, 2]);
    let all = [1, 2, 3];

    // A director-capable leader, seen by everyone; the state is seeded from cvip.conf.
    let leader = cluster.wait_for_leader(&all);
    assert!(
        cluster.is_director(leader),
        "leader {leader} is not director-capable"
    );
    for n in all {
        eventually(
            &format!("node {n} to hold the seeded state"),
            || {
                cluster.state(n).is_some_and(|s| {
                    s.config.cvip_conf.cvips.len() == 1
                        && s.config.clustertab.nodes.len() == 3
                        && s.config
                            .cvip_conf
                            .port_weights
                            .contains(&port_weight(80, 80, 1))
                })
            },
            &cluster,
        );
    }
    let status = cluster.status(3).unwrap();
    assert_eq!(status.node.0, 3, "node 3 detected its own number");
    assert!(
        status.nodes.iter().all(|n| n.voter),
        "3 nodes: all vote: {status:?}"
    );
    eventually(
        "node 3 to see every peer reachable",
        || {
            cluster
                .status(3)
                .is_some_and(|s| s.nodes.iter().all(|n| n.reachable))
        },
        &cluster,
    );

    // A write through any node is visible on every node.
    for (i, via) in (0u16..).zip(all) {
        let weight = port_weight(8000 + 10 * i, 8009 + 10 * i, 2 + u32::from(i));
        write_and_see_everywhere(&cluster, via, &weight, &all);
    }

    // Kill the leader: the other director takes over and writes continue.
    cluster.kill(leader);
    let survivors: Vec<u8> = cluster.running();
    let new_leader = cluster.wait_for_leader(&survivors);
    assert_ne!(new_leader, leader);
    assert!(
        cluster.is_director(new_leader),
        "new leader {new_leader} is not director-capable"
    );
    let after_kill = port_weight(9000, 9009, 7);
    let follower = *survivors.iter().find(|n| **n != new_leader).unwrap();
    write_and_see_everywhere(&cluster, follower, &after_kill, &survivors);

    // The killed node restarts from its disk and catches up with what it missed.
    cluster.start_node(leader);
    eventually(
        &format!("restarted node {leader} to catch up"),
        || has_weight(&cluster, leader, &after_kill),
        &cluster,
    );
    let status = cluster.status(leader).unwrap();
    assert_ne!(
        status.role,
        RaftRole::Leader,
        "the restarted node did not take over: {status:?}"
    );
    let last = port_weight(9100, 9100, 1);
    write_and_see_everywhere(&cluster, leader, &last, &all);

    // A clean stop and start: the store reopens, the node rejoins and takes writes again.
    let exit = cluster.terminate(3);
    assert!(
        exit.success(),
        "node 3 exited with {exit}\n{}",
        cluster.logs()
    );
    let while_down = port_weight(9200, 9200, 2);
    write_and_see_everywhere(&cluster, 1, &while_down, &[1, 2]);
    cluster.start_node(3);
    eventually(
        "node 3 to catch up after a clean restart",
        || has_weight(&cluster, 3, &while_down),
        &cluster,
    );
    write_and_see_everywhere(&cluster, 3, &port_weight(9300, 9300, 1), &all);

    // SIGTERM: a clean exit that removes the admin socket.
    for n in all {
        let exit = cluster.terminate(n);
        assert!(
            exit.success(),
            "node {n} exited with {exit}\n{}",
            cluster.logs()
        );
        assert!(
            !common::exists(&cluster.socket(n)),
            "node {n} left its socket behind"
        );
    }
}

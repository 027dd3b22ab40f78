//! Five real `ssinetd` processes, four of them director-capable (so five voters): the leader is
//! always a director, writes made on the one real server reach everyone, and a leader crash
//! hands over to another director.
#![allow(clippy::unwrap_used)]

mod common;

use common::{Cluster, eventually};
use ssinet_api::{Command, Response};
use ssinet_config::{PortWeight, Protocol};

fn weight(start: u16) -> PortWeight {
    PortWeight {
        proto: Protocol::Udp,
        start_port: start,
        end_port: start + 9,
        weight: 2,
        node: None,
    }
}

fn write_everywhere(cluster: &Cluster, via: u8, w: &PortWeight, nodes: &[u8]) {
    let answer = cluster.command_on(via, &Command::SetPortWeight(w.clone()));
    assert_eq!(answer.status, 200, "via node {via}: {}", answer.body);
    assert!(answer.json::<Response>().is_applied());
    for n in nodes {
        eventually(
            &format!("node {n} to apply {w:?}"),
            || {
                cluster
                    .state(*n)
                    .is_some_and(|s| s.config.cvip_conf.port_weights.contains(w))
            },
            cluster,
        );
    }
}

#[test]
fn five_nodes_elect_a_director_and_survive_a_leader_crash() {
    let mut cluster = Cluster::start(5, &[1, 2, 3, 4]);
    let all = [1, 2, 3, 4, 5];
    let leader = cluster.wait_for_leader(&all);
    assert!(
        cluster.is_director(leader),
        "leader {leader} is not director-capable"
    );
    eventually(
        "five voters",
        || {
            cluster
                .status(leader)
                .is_some_and(|s| s.nodes.len() == 5 && s.nodes.iter().all(|n| n.voter))
        },
        &cluster,
    );
    cluster.wait_until_seeded(&all);
    write_everywhere(&cluster, 5, &weight(6000), &all);

    cluster.kill(leader);
    let survivors = cluster.running();
    let next = cluster.wait_for_leader(&survivors);
    assert_ne!(next, leader);
    assert!(
        cluster.is_director(next),
        "leader {next} is not director-capable"
    );
    write_everywhere(&cluster, 5, &weight(6100), &survivors);
}

//! A partitioned minority (the leader itself, cut off from the switch) accepts no writes, the
//! majority elects another director and goes on, and healing brings the old leader back in line.
#![allow(clippy::unwrap_used)]

mod common;

use common::{Cluster, eventually};
use ssinet_api::admin::{ApiError, ErrorCode, RaftRole};
use ssinet_api::{Command, Response};
use ssinet_config::{PortWeight, Protocol};

fn weight(start: u16, weight: u32) -> PortWeight {
    PortWeight {
        proto: Protocol::Tcp,
        start_port: start,
        end_port: start,
        weight,
        node: None,
    }
}

fn has(cluster: &Cluster, n: u8, w: &PortWeight) -> bool {
    cluster
        .state(n)
        .is_some_and(|s| s.config.cvip_conf.port_weights.contains(w))
}

#[test]
fn a_partitioned_minority_accepts_no_writes_and_healing_reconciles_it() {
    let cluster = Cluster::start(3, &[1, 2]);
    let all = [1, 2, 3];
    let old = cluster.wait_for_leader(&all);
    eventually(
        "every node to be seeded and see its peers",
        || {
            all.iter().all(|n| {
                cluster.state(*n).is_some_and(|s| !s.is_empty())
                    && cluster
                        .status(*n)
                        .is_some_and(|s| s.nodes.iter().all(|p| p.reachable))
            })
        },
        &cluster,
    );

    cluster.lab.partition(old).unwrap();
    let majority: Vec<u8> = all.into_iter().filter(|n| *n != old).collect();

    // The cut-off leader soon knows it has no quorum, and refuses writes with that reason.
    eventually(
        &format!("node {old} to report no quorum"),
        || cluster.status(old).is_some_and(|s| !s.quorum),
        &cluster,
    );
    let refused = weight(7000, 9);
    let answer = cluster.command_on(old, &Command::SetPortWeight(refused.clone()));
    assert_eq!(
        answer.status, 503,
        "the minority took a write: {}",
        answer.body
    );
    assert_eq!(
        answer.json::<ApiError>().code,
        ErrorCode::NoQuorum,
        "{}",
        answer.body
    );

    // The majority elects the other director and keeps taking writes.
    let new = cluster.wait_for_leader(&majority);
    assert_ne!(new, old);
    assert!(cluster.is_director(new));
    let during = weight(7100, 3);
    // Node 3 is never the leader (not director-capable), so it is always in the majority.
    let answer = cluster.command_on(3, &Command::SetPortWeight(during.clone()));
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert!(answer.json::<Response>().is_applied());
    for n in &majority {
        eventually(
            &format!("node {n} to apply the majority's write"),
            || has(&cluster, *n, &during),
            &cluster,
        );
    }
    assert!(
        !has(&cluster, old, &during),
        "the partitioned node cannot have it yet"
    );

    // Heal: the old leader follows the new one and catches up; the refused write is nowhere.
    cluster.lab.restore(old).unwrap();
    eventually(
        &format!("node {old} to follow node {new} and catch up"),
        || {
            cluster.status(old).is_some_and(|s| {
                s.leader.map(|l| l.0) == Some(u64::from(new))
                    && s.role != RaftRole::Leader
                    && s.quorum
            }) && has(&cluster, old, &during)
        },
        &cluster,
    );
    let after = weight(7200, 2);
    let answer = cluster.command_on(old, &Command::SetPortWeight(after.clone()));
    assert_eq!(answer.status, 200, "{}", answer.body);
    for n in all {
        eventually(
            &format!("node {n} to apply the write after healing"),
            || has(&cluster, n, &after),
            &cluster,
        );
        assert!(
            !has(&cluster, n, &refused),
            "node {n} holds the write the minority refused"
        );
    }
}

//! Liveness past a lagging director: with directors 1 and 2 and node 3 a non-director voter, a
//! director whose log is behind node 3's cannot win node 3's vote (Raft's up-to-date rule). If
//! the leader dies while the other director lags, node 3 stands for election after hearing from
//! no leader for a while, leads as a caretaker until the lagging director has caught up, then
//! asks it to stand for election; the director leads, with every committed write.
#![allow(clippy::unwrap_used)]

mod common;

use common::{Cluster, eventually};
use ssinet_api::Command;
use ssinet_config::{PortWeight, Protocol};

#[test]
fn two_live_voters_elect_the_lagging_director() {
    let mut cluster = Cluster::start(3, &[1, 2]);
    let all = [1, 2, 3];
    let leader = cluster.wait_for_leader(&all);
    cluster.wait_until_seeded(&all);
    let other = if leader == 1 { 2 } else { 1 };

    // The other director goes down; the leader and node 3 commit a write without it.
    cluster.kill(other);
    let w = PortWeight {
        proto: Protocol::Tcp,
        start_port: 6000,
        end_port: 6000,
        weight: 3,
        node: None,
    };
    let answer = cluster.command_on(3, &Command::SetPortWeight(w.clone()));
    assert_eq!(answer.status, 200, "{}", answer.body);

    // The leader dies and the lagging director comes back: voters `other` and 3 are up.
    cluster.kill(leader);
    cluster.start_node(other);
    // Node 3 may lead for a moment as a caretaker; in the end the director leads.
    eventually(
        &format!("director {other} to lead, agreed by node 3"),
        || cluster.agreed_leader(&[other, 3]) == Some(other),
        &cluster,
    );
    // The write committed while it was down reached it.
    eventually(
        &format!("director {other} to hold the write made while it was down"),
        || {
            cluster
                .state(other)
                .is_some_and(|s| s.config.cvip_conf.port_weights.contains(&w))
        },
        &cluster,
    );
    // And the cluster takes writes again, through the non-director too.
    let again = PortWeight {
        start_port: 6001,
        end_port: 6001,
        ..w
    };
    let answer = cluster.command_on(3, &Command::SetPortWeight(again));
    assert_eq!(answer.status, 200, "{}", answer.body);
}

//! Known liveness gap (ignored until ssinet-raft handles it): with directors 1 and 2 and node 3 a
//! voter that may not stand for election, a director whose log is behind node 3's can never win
//! node 3's vote (Raft's up-to-date rule), and node 3 never campaigns. So if the leader dies
//! while the other director lags (it was down, or just restarted), two of three voters are alive
//! and the cluster still accepts no writes until the dead director returns. Run with
//! `cargo test -p ssinet-agent --test cluster_liveness -- --ignored`.
#![allow(clippy::unwrap_used)]

mod common;

use common::Cluster;
use ssinet_api::Command;
use ssinet_config::{PortWeight, Protocol};

#[test]
#[ignore = "known gap: a lagging director cannot be elected past a non-electable voter"]
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
    let answer = cluster.command_on(3, &Command::SetPortWeight(w));
    assert_eq!(answer.status, 200, "{}", answer.body);

    // The leader dies and the lagging director comes back: voters `other` and 3 are up.
    cluster.kill(leader);
    cluster.start_node(other);
    let new = cluster.wait_for_leader(&[other, 3]);
    assert_eq!(new, other);
}

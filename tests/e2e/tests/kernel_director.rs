//! ssinet's director against a real IPVS kernel (run in the VM: `tests/vm/run-kernel-tests`),
//! in DR and NAT mode, checked the way a user would: a client's HTTP requests to the CVIP reach
//! the nodes that listen, in their weight ratio; a node that starts listening gets traffic, one
//! that stops gets none; `cvipctl port-weight set` changes the ratio; a table flushed with
//! `ipvsadm -C` comes back; when the director dies, requests resume through the new one, and
//! (DR) an established connection keeps exchanging.
//!
//! The tests run one at a time (the VM has 2 CPUs) and never time anything: deadlines only
//! catch a hung cluster.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

use ssinet_e2e::PORT;
use ssinet_e2e::director::{self, PATIENCE};
use ssinet_lab::cluster::Cluster;
use ssinet_testbed::netns::Routing;
use ssinet_testbed::probe::{
    LongLivedConnection, ProbeConfig, Prober, Responder, count_nodes, failed_count,
};

static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn config() -> ProbeConfig {
    // TCG is slow: generous timeouts, as a user's client has, so a busy VM is not a failed
    // request. The connect timeout outlasts the first SYN retransmission (1 s): one SYN lost
    // or dropped (IPVS in NAT mode drops the first SYN of a connection reusing the port of one
    // it still tracks, for one) costs a second, as it would a real client, not a request. A
    // failure names its cause in the counts.
    ProbeConfig {
        io_timeout: Duration::from_secs(3),
        connect_timeout: Duration::from_secs(3),
        ..ProbeConfig::default()
    }
}

fn name(node: u8) -> String {
    format!("n{node}")
}

fn counts(cluster: &Cluster, requests: usize) -> BTreeMap<String, usize> {
    count_nodes(
        cluster.lab.client(),
        director::target(cluster),
        requests,
        &config(),
    )
    .unwrap()
}

/// Polls batches of 20 requests until `check` holds for one.
fn until_counts(
    cluster: &Cluster,
    what: &str,
    mut check: impl FnMut(&BTreeMap<String, usize>) -> bool,
) {
    let mut last = BTreeMap::new();
    let result = cluster.eventually(what, PATIENCE, || {
        last = counts(cluster, 20);
        check(&last)
    });
    if let Err(error) = result {
        panic!("{error}\nlast batch: {last:?}");
    }
}

/// `share` of `total` is `expected` within a factor of 1.6 either way: mh spreads by hash, so
/// 300 requests show the ratio, not its exact value.
fn assert_share(counts: &BTreeMap<String, usize>, node: u8, expected: f64) {
    let total: usize = counts.values().sum();
    let got = counts.get(&name(node)).copied().unwrap_or(0) as f64 / total as f64;
    assert!(
        got > expected / 1.6 && got < expected * 1.6,
        "node {node} served {got:.2} of the requests, expected about {expected:.2}: {counts:?}"
    );
}

fn scenario(routing: Routing) {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let (mut cluster, first) =
        director::start_with_tcg_timing(director::spec(3, &[1, 2], routing)).unwrap();
    let standby = if first == 1 { 2 } else { 1 };

    // The real servers hold the CVIP on lo; the client reaches the director's MAC for it.
    for n in [standby, 3] {
        cluster
            .eventually(
                &format!("node {n} to hold the CVIP on lo"),
                PATIENCE,
                || cluster.cvip_on_lo(n).unwrap(),
            )
            .unwrap();
    }

    // Every node listens; node 3 weighs 2.
    cluster.set_port_weight(3, "tcp", PORT, 2, Some(3)).unwrap();
    let mut responders: BTreeMap<u8, Responder> = (1..=3)
        .map(|n| {
            let netns = cluster.lab.node(n).netns();
            (n, Responder::start(netns, PORT, &name(n)).unwrap())
        })
        .collect();
    director::wait_for_destinations(&cluster, first, &[(1, 1), (2, 1), (3, 2)]).unwrap();
    let spread = counts(&cluster, 300);
    assert_eq!(
        failed_count(&spread),
        0,
        "{spread:?}; holders now {:?}\n{}",
        cluster.cvip_holders(),
        cluster.logs()
    );
    assert_share(&spread, 1, 0.25);
    assert_share(&spread, 2, 0.25);
    assert_share(&spread, 3, 0.5);
    // The client's ARP entry for the CVIP names the director. Under TCG a stall of over a
    // second can move the role between the directors while the cluster runs (the fence doing
    // its job); the director is the node that holds the CVIP now, and the rest of the
    // scenario follows it.
    let first = director::wait_for_director(&cluster, &[1, 2, 3]).unwrap();
    let standby = if first == 1 { 2 } else { 1 };
    let director_mac = cluster.external_mac(first).unwrap();
    let mut seen = None;
    let pointed = cluster.eventually(
        "the client's ARP entry for the CVIP to point at the director",
        PATIENCE,
        || {
            seen = cluster.client_cvip_neighbour().ok().flatten();
            seen.as_ref()
                .is_some_and(|entry| entry.lladdr.as_deref() == Some(&director_mac))
        },
    );
    assert!(
        pointed.is_ok(),
        "the client's ARP entry for the CVIP is {seen:?}, director {first} has {director_mac}; holders {:?}",
        cluster.cvip_holders()
    );

    // Drift: the table flushed behind the agent's back (`ipvsadm -C`) is programmed again.
    cluster
        .lab
        .node(first)
        .netns()
        .exec_ok(&["ipvsadm", "-C"])
        .unwrap();
    director::wait_for_destinations(&cluster, first, &[(1, 1), (2, 1), (3, 2)]).unwrap();

    // A node that stops listening gets no more traffic; when it listens again, it does.
    responders.remove(&2).unwrap().stop();
    director::wait_for_destinations(&cluster, first, &[(1, 1), (3, 2)]).unwrap();
    until_counts(&cluster, "no request to reach node 2", |batch| {
        !batch.contains_key("n2") && failed_count(batch) == 0
    });
    responders.insert(
        2,
        Responder::start(cluster.lab.node(2).netns(), PORT, "n2").unwrap(),
    );
    until_counts(&cluster, "requests to reach node 2 again", |batch| {
        batch.contains_key("n2")
    });

    // A weight change through cvipctl: the ratio follows (node 1 now weighs 4).
    cluster.set_port_weight(2, "tcp", PORT, 4, Some(1)).unwrap();
    director::wait_for_destinations(&cluster, first, &[(1, 4), (2, 1), (3, 2)]).unwrap();
    let spread = counts(&cluster, 300);
    assert_share(&spread, 1, 4.0 / 7.0);
    assert_share(&spread, 3, 2.0 / 7.0);

    // A long-lived connection held by a real server other than the director (DR: the reply
    // never passes the director, and the standby knows the connection from the sync daemon).
    let target = director::target(&cluster);
    let long_lived = (routing == Routing::Dr).then(|| {
        for _ in 0..50 {
            let connection = LongLivedConnection::start(
                cluster.lab.client(),
                target,
                Duration::from_millis(20),
                Duration::from_secs(30),
            )
            .unwrap();
            if connection.server() != name(first) {
                return connection;
            }
            connection.stop();
        }
        panic!("50 connections in a row landed on the director itself");
    });

    // The director dies; requests resume through the other director.
    let prober = Prober::start(cluster.lab.client(), target, config()).unwrap();
    cluster
        .eventually("the probe to see the cluster", PATIENCE, || {
            prober.snapshot().successes() >= 5
        })
        .unwrap();
    let exchanged_before = long_lived.as_ref().map(LongLivedConnection::exchanges);
    // The death is the moment its links are cut: a request begun after that cannot reach it.
    cluster.lab.partition(first).unwrap();
    let killed_at = prober.now();
    director::kill_director(&mut cluster, first).unwrap();
    drop(responders.remove(&first));
    let second = director::wait_for_director(&cluster, &[standby, 3]).unwrap();
    assert_eq!(second, standby);
    let new_mac = cluster.external_mac(second).unwrap();
    cluster
        .eventually(
            "the client's ARP entry for the CVIP to name the new director",
            PATIENCE,
            || {
                cluster
                    .client_cvip_neighbour()
                    .is_ok_and(|entry| entry.is_some_and(|e| e.lladdr.as_deref() == Some(&new_mac)))
            },
        )
        .unwrap();
    cluster
        .eventually(
            "requests to succeed through the new director",
            PATIENCE,
            || {
                prober
                    .snapshot()
                    .per_node_after(killed_at)
                    .values()
                    .sum::<usize>()
                    >= 10
            },
        )
        .unwrap();
    let log = prober.stop();
    let after = log.per_node_after(killed_at);
    assert!(
        !after.contains_key(&name(first)),
        "the dead node served after its death: {after:?}"
    );
    assert!(log.gap_around(killed_at).is_some());

    if let Some(connection) = long_lived {
        let before = exchanged_before.unwrap();
        cluster
            .eventually(
                "the long-lived connection to keep exchanging",
                PATIENCE,
                || connection.exchanges() >= before + 10 || !connection.is_alive(),
            )
            .unwrap();
        let report = connection.stop();
        assert!(
            report.survived(),
            "the long-lived DR connection broke when the director died: {report:?}"
        );
    }
}

#[test]
fn dr_director_balances_by_weight_follows_listeners_and_survives_its_death() {
    scenario(Routing::Dr);
}

#[test]
fn nat_director_balances_by_weight_follows_listeners_and_survives_its_death() {
    scenario(Routing::Nat);
}

//! Figures for operators: commit latency of a write and failover time on a 3-node loopback
//! cluster with real mutual TLS and fsync'd redb stores, at the default timings.
//!
//! Run: `cargo bench -p ssinet-raft --bench cluster`
#![allow(clippy::unwrap_used)]

#[path = "../tests/common/mod.rs"]
mod common;

use std::time::{Duration, Instant};

use common::kv::set;
use common::{Layout, capable};
use openraft::ServerState;
use ssinet_raft::Timing;
use tempfile::TempDir;

const WRITES: usize = 300;
const FAILOVERS: usize = 3;

/// The sample at quantile `q` (0.0..=1.0) of sorted samples, the index rounded to the nearest.
/// The float index lies in 0..=len-1 for such a `q`; `as` saturates (a NaN or negative `q`
/// gives index 0) and the `min` keeps a `q` above 1 at the last sample.
#[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
fn percentile(sorted: &[Duration], q: f64) -> Duration {
    let last = sorted.len() - 1;
    sorted[((last as f64 * q).round() as usize).min(last)]
}

async fn wait_for_leader(nodes: &[&ssinet_raft::ClusterNode<common::kv::KvApp>]) -> u64 {
    loop {
        for node in nodes {
            let m = node.metrics().borrow().clone();
            // A leader that has heard from a quorum: what the agent waits for before claiming the CVIP.
            if m.state == ServerState::Leader && m.millis_since_quorum_ack.is_some() {
                return node.id().get();
            }
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let timing = Timing::default();
    println!(
        "timing: heartbeat {:?}, election {:?}..{:?}",
        timing.heartbeat, timing.election_min, timing.election_max
    );

    // Commit latency: sequential writes on the leader and through a forwarding follower.
    let tmp = TempDir::new().unwrap();
    let mut layout = Layout::new(
        tmp.path(),
        &[
            capable(1, true, true),
            capable(2, true, false),
            capable(3, false, true),
        ],
    )
    .await;
    let mut nodes = Vec::new();
    for id in 1..=3 {
        let mut config = layout.config(id);
        config.timing = timing;
        let listener = layout.listeners.remove(&id).unwrap();
        nodes.push(
            ssinet_raft::ClusterNode::start_on(config, listener)
                .await
                .unwrap(),
        );
    }
    let leader = wait_for_leader(&nodes.iter().collect::<Vec<_>>()).await;
    let follower = nodes.iter().find(|n| n.id().get() == 3).unwrap();
    let leader_node = nodes.iter().find(|n| n.id().get() == leader).unwrap();
    for (label, node) in [
        ("on the leader", leader_node),
        ("forwarded by a follower", follower),
    ] {
        let mut latencies = Vec::with_capacity(WRITES);
        for i in 0..WRITES {
            let started = Instant::now();
            node.write(set(&format!("k{i}"), "v")).await.unwrap();
            latencies.push(started.elapsed());
        }
        latencies.sort();
        let total: Duration = latencies.iter().sum();
        println!(
            "write committed {label}: p50 {:?}, p99 {:?}, max {:?} ({:.0} writes/s sequential)",
            percentile(&latencies, 0.5),
            percentile(&latencies, 0.99),
            latencies[latencies.len() - 1],
            WRITES as f64 / total.as_secs_f64()
        );
    }

    // Failover: the leader stops; time until a new leader has a quorum acknowledgement.
    let mut failovers = Vec::new();
    for _ in 0..FAILOVERS {
        let leader = wait_for_leader(&nodes.iter().collect::<Vec<_>>()).await;
        let index = nodes.iter().position(|n| n.id().get() == leader).unwrap();
        let stopping = nodes.remove(index);
        let started = Instant::now();
        stopping.shutdown().await;
        let new_leader = wait_for_leader(&nodes.iter().collect::<Vec<_>>()).await;
        failovers.push(started.elapsed());
        println!("failover {leader} -> {new_leader}: {:?}", started.elapsed());
        let mut config = layout.config(leader);
        config.timing = timing;
        nodes.push(ssinet_raft::ClusterNode::start(config).await.unwrap());
        // Let the restarted node catch up and settle as a follower before the next round.
        tokio::time::sleep(timing.election_max * 2).await;
    }
    failovers.sort();
    println!(
        "failover to a quorum-acknowledged leader: min {:?}, max {:?} over {FAILOVERS} runs",
        failovers[0],
        failovers[failovers.len() - 1]
    );

    // A lagging director: the other director is down while a write commits, then the leader
    // stops and the lagging director returns. Node 3 must lead as caretaker to catch it up.
    let leader = wait_for_leader(&nodes.iter().collect::<Vec<_>>()).await;
    let lagging = if leader == 1 { 2 } else { 1 };
    let index = nodes.iter().position(|n| n.id().get() == lagging).unwrap();
    nodes.remove(index).shutdown().await;
    let via = nodes.iter().find(|n| n.id().get() == 3).unwrap();
    via.write(set("while", "down")).await.unwrap();
    let index = nodes.iter().position(|n| n.id().get() == leader).unwrap();
    let stopping = nodes.remove(index);
    let started = Instant::now();
    stopping.shutdown().await;
    let mut config = layout.config(lagging);
    config.timing = timing;
    nodes.push(ssinet_raft::ClusterNode::start(config).await.unwrap());
    let director = nodes.iter().find(|n| n.id().get() == lagging).unwrap();
    loop {
        let m = director.metrics().borrow().clone();
        if m.state == ServerState::Leader && m.millis_since_quorum_ack.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    println!(
        "lagging director {lagging} leads (via caretaker 3) {:?} after leader {leader} stopped",
        started.elapsed()
    );
    for node in nodes {
        node.shutdown().await;
    }
}

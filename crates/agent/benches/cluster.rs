//! Cluster benchmark on a 3-node namespace lab of real `ssinetd` processes with the default Raft
//! timing (heartbeat 30 ms, election 150-200 ms). Run by hand as root:
//!
//! ```sh
//! cargo build --release -p cvipctl                       # the bench runs this binary
//! cargo bench -p ssinet-agent --bench cluster            # 200 writes, 20 leader kills
//! cargo bench -p ssinet-agent --bench cluster -- 50 5    # fewer
//! ```
//!
//! 1. Port-weight set to applied on every node: the real `cvipctl --socket <node's admin socket>
//!    port-weight set ...` process, run against the nodes in turn (a third of the writes land on
//!    the leader, the rest are forwarded), timed from spawning it until every node's `/v1/state`
//!    shows the new weight. The figure includes starting the process, as an operator sees it.
//! 2. Re-election: SIGKILL the leader, time until the survivors agree on a new leader that reports
//!    a quorum acknowledgement (when it would claim the CVIP); restart the killed node, let the
//!    cluster settle, repeat.
#![allow(clippy::unwrap_used)]

#[path = "../tests/common/mod.rs"]
mod common;

use std::path::{Path, PathBuf};
use std::process::Command as Process;
use std::time::{Duration, Instant};

use common::Cluster;
use ssinet_config::{PortWeight, Protocol};

const POLL: Duration = Duration::from_millis(1);

/// The nearest-rank `p`th percentile (0.0..=100.0) of sorted samples: the rank rounded up.
/// `as` saturates (a NaN or negative `p` gives rank 0) and the clamp keeps the rank in
/// 1..=len, so any `p` names a sample.
#[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn report(what: &str, mut samples: Vec<Duration>) {
    samples.sort();
    let count = u32::try_from(samples.len()).expect("fewer than 2^32 samples");
    let mean = samples.iter().sum::<Duration>() / count;
    println!(
        "{what}: n={} p50={:.1} ms p99={:.1} ms min={:.1} ms max={:.1} ms mean={:.1} ms",
        samples.len(),
        percentile(&samples, 50.0).as_secs_f64() * 1e3,
        percentile(&samples, 99.0).as_secs_f64() * 1e3,
        samples[0].as_secs_f64() * 1e3,
        samples[samples.len() - 1].as_secs_f64() * 1e3,
        mean.as_secs_f64() * 1e3,
    );
}

/// `cvipctl` from the same build as `ssinetd` (the bench profile builds into the same directory).
fn cvipctl_binary() -> PathBuf {
    let path = Path::new(env!("CARGO_BIN_EXE_ssinetd")).with_file_name("cvipctl");
    assert!(
        path.is_file(),
        "{} is missing: build it first with the bench's profile: cargo build --release -p cvipctl",
        path.display()
    );
    path
}

/// Runs `cvipctl port-weight set` against node `via`'s admin socket, as an operator would.
fn cvipctl_set_weight(cvipctl: &Path, cluster: &Cluster, via: u8, weight: &PortWeight) {
    let output = Process::new(cvipctl)
        .arg("--socket")
        .arg(cluster.socket(via))
        .args(["port-weight", "set", "--proto", weight.proto.as_str()])
        .args(["--start-port", &weight.start_port.to_string()])
        .args(["--end-port", &weight.end_port.to_string()])
        .args(["--weight", &weight.weight.to_string()])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "cvipctl port-weight set via node {via} failed ({}): {}{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

fn weight_applied(cluster: &Cluster, n: u8, wanted: &PortWeight) -> bool {
    cluster
        .state(n)
        .is_some_and(|s| s.config.cvip_conf.port_weights.contains(wanted))
}

fn bench_writes(cluster: &Cluster, cvipctl: &Path, writes: u32) -> Vec<Duration> {
    let nodes = [1u8, 2, 3];
    let mut samples = Vec::new();
    for i in 0..writes {
        let wanted = PortWeight {
            proto: Protocol::Tcp,
            start_port: 8080,
            end_port: 8089,
            weight: i + 1,
            node: None,
        };
        let via = nodes[i as usize % nodes.len()];
        let started = Instant::now();
        cvipctl_set_weight(cvipctl, cluster, via, &wanted);
        for n in nodes {
            while !weight_applied(cluster, n, &wanted) {
                assert!(
                    started.elapsed() < Duration::from_secs(30),
                    "write {i} never reached node {n}"
                );
                std::thread::sleep(POLL);
            }
        }
        samples.push(started.elapsed());
    }
    samples
}

fn bench_failovers(cluster: &mut Cluster, kills: u32) -> Vec<Duration> {
    let all = [1u8, 2, 3];
    let mut samples = Vec::new();
    for i in 0..kills {
        let old = cluster.wait_for_leader(&all);
        // Let every node see every peer and apply the leader's whole log before the next
        // kill, so runs start alike (a director behind the other voters cannot win their votes;
        // that case is the caretaker's, measured by ssinet-raft's own bench).
        common::eventually(
            "a settled cluster",
            || {
                let committed = cluster.status(old).and_then(|s| s.commit_index);
                all.iter().all(|n| {
                    cluster.status(*n).is_some_and(|s| {
                        s.nodes.iter().all(|p| p.reachable)
                            && committed.is_some()
                            && s.last_applied >= committed
                    })
                })
            },
            cluster,
        );
        let survivors: Vec<u8> = all.into_iter().filter(|n| *n != old).collect();
        let started = Instant::now();
        cluster.kill(old);
        let new = loop {
            if let Some(new) = cluster.agreed_leader(&survivors).filter(|n| *n != old) {
                break new;
            }
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "kill {i}: no new leader\n{}",
                cluster.logs()
            );
            std::thread::sleep(POLL);
        };
        samples.push(started.elapsed());
        assert!(cluster.is_director(new));
        cluster.start_node(old);
    }
    samples
}

fn main() {
    let mut args = std::env::args().skip(1).filter(|a| !a.starts_with("--"));
    let writes: u32 = args.next().and_then(|a| a.parse().ok()).unwrap_or(200);
    let kills: u32 = args.next().and_then(|a| a.parse().ok()).unwrap_or(20);
    let cvipctl = cvipctl_binary();
    let mut cluster = Cluster::new(3, &[1, 2]);
    cluster.timing.clear();
    for n in 1..=3 {
        cluster.start_node(n);
    }
    cluster.wait_for_leader(&[1, 2, 3]);
    cluster.wait_until_seeded(&[1, 2, 3]);
    report(
        "port-weight set -> applied on all 3 nodes",
        bench_writes(&cluster, &cvipctl, writes),
    );
    report(
        "leader SIGKILL -> new leader with quorum ack",
        bench_failovers(&mut cluster, kills),
    );
}

//! Faults on the director of a real 3-node `ssinetd` cluster (directors 1 and 2, node 3 a real
//! server), one test per kind, each watched every 10 ms from inside every node by the lab's
//! [`OwnershipSampler`]. Whatever the fault, the CVIP must never be on two nodes' external
//! interfaces at once; it must end up, while the fault lasts, on exactly one other node; and
//! healing the fault must not move it again.
//!
//! Each test: wait until the cluster has settled (one node holds the CVIP on `eth1`, the others
//! on `lo`), start sampling, put the fault on the director, keep it at least [`FAULT_MIN`] and
//! longer (up to [`FAULT_MAX`]) while no other node holds the CVIP alone, heal it, keep sampling
//! at least [`AFTER_MIN`] (up to [`AFTER_MAX`] until one node holds it), then judge the samples.
//! Deadlines only catch a hung cluster; the one strict number is the count of dual samples (0).
//! A failure names every broken rule at once, with the ownership timeline and the agents' logs.
//!
//! The faults: the node's links cut (partition), its agent killed (SIGKILL) and restarted, its
//! agent frozen (SIGSTOP) and resumed, its external carrier lost, its external port silently cut.
//! The last three need an agent that notices them (a fence-guard lease for a frozen agent, an
//! external-link monitor for the other two).
#![allow(clippy::unwrap_used)]

use std::net::IpAddr;
use std::time::{Duration, Instant};

use ssinet_lab::cluster::ownership::{OwnershipSampler, OwnershipSummary, Sample, summarize};
use ssinet_lab::cluster::{Binaries, Cluster};
use ssinet_testbed::netns::{LabSpec, Segment};

/// How long the cluster may take to settle before the test calls it hung.
const WAIT: Duration = Duration::from_secs(60);
/// The sampling period.
const EVERY: Duration = Duration::from_millis(10);
/// Samples taken before the fault, so the run starts from the settled director.
const BEFORE: Duration = Duration::from_millis(500);
/// A fault lasts at least this long ...
const FAULT_MIN: Duration = Duration::from_secs(3);
/// ... and, while no other node holds the CVIP alone, up to this long.
const FAULT_MAX: Duration = Duration::from_secs(30);
/// After the heal, sampling goes on at least this long ...
const AFTER_MIN: Duration = Duration::from_secs(3);
/// ... and, while not exactly one node holds the CVIP, up to this long.
const AFTER_MAX: Duration = Duration::from_secs(30);

const NODES: [u8; 3] = [1, 2, 3];

#[derive(Debug, Clone, Copy)]
enum Fault {
    /// `lab.partition(n)`: both switch ports detached; the node sees nothing wrong locally.
    LinksCut,
    /// SIGKILL of the agent; healed by starting it again (same data dir).
    AgentKilled,
    /// SIGSTOP of the agent (its fence guard keeps running); healed by SIGCONT.
    AgentFrozen,
    /// The switch-side peer of `eth1` down: `eth1` shows NO-CARRIER.
    CarrierLost,
    /// `eth1`'s switch port detached: carrier kept, the gateway goes quiet.
    ExternalCut,
}

impl Fault {
    fn apply(self, cluster: &mut Cluster, node: u8) {
        match self {
            Fault::LinksCut => cluster.lab.partition(node).unwrap(),
            Fault::AgentKilled => cluster.kill(node).unwrap(),
            Fault::AgentFrozen => cluster.freeze(node).unwrap(),
            Fault::CarrierLost => cluster.lab.carrier_down(node).unwrap(),
            Fault::ExternalCut => cluster.lab.cut(node, &[Segment::External]).unwrap(),
        }
    }

    fn heal(self, cluster: &mut Cluster, node: u8) {
        match self {
            Fault::LinksCut => cluster.lab.restore(node).unwrap(),
            Fault::AgentKilled => cluster.start_node(node).unwrap(),
            Fault::AgentFrozen => cluster.thaw(node).unwrap(),
            Fault::CarrierLost => cluster.lab.carrier_up(node).unwrap(),
            Fault::ExternalCut => cluster.lab.reconnect(node, &[Segment::External]).unwrap(),
        }
    }
}

fn cluster() -> Cluster {
    Cluster::start(
        LabSpec::default(),
        Binaries::new(env!("CARGO_BIN_EXE_ssinetd")),
    )
    .unwrap()
}

/// The director once exactly one node holds the CVIP on eth1 and every other node holds it on
/// `lo`; `None` if that does not happen within `timeout`.
fn settled(cluster: &Cluster, timeout: Duration) -> Option<u8> {
    let mut director = None;
    let done = cluster.eventually(
        "one director on eth1, the CVIP on lo elsewhere",
        timeout,
        || {
            director = None;
            let Ok(holders) = cluster.cvip_holders() else {
                return false;
            };
            let [only] = holders.as_slice() else {
                return false;
            };
            let others_on_lo = NODES
                .iter()
                .filter(|n| **n != *only)
                .all(|n| cluster.cvip_on_lo(*n).unwrap_or(false));
            director = Some(*only);
            others_on_lo
        },
    );
    done.ok().and(director)
}

/// The CVIP's holders in the latest sample, if there is one.
fn latest_holders(sampler: &OwnershipSampler, cvip: IpAddr) -> Option<Vec<u8>> {
    sampler
        .latest()
        .map(|sample| sample.holders.get(&cvip).cloned().unwrap_or_default())
}

/// Every change of holders, with its offset from `origin` (negative: before it), for a
/// failure message: a few lines instead of thousands of samples.
fn timeline(samples: &[Sample], cvip: IpAddr, origin: Instant) -> String {
    let mut out = String::new();
    let mut previous: Option<&Vec<u8>> = None;
    for sample in samples {
        let holders = sample.holders.get(&cvip);
        if previous != holders {
            let offset = if sample.at >= origin {
                format!("+{} ms", (sample.at - origin).as_millis())
            } else {
                format!("-{} ms", (origin - sample.at).as_millis())
            };
            out.push_str(&format!(
                "  {offset:>10}: {:?}\n",
                holders.cloned().unwrap_or_default()
            ));
            previous = holders;
        }
    }
    out
}

/// The time of the last sample taken before `instant` (or `instant` if none): summaries from
/// there include the holder the heal found, so a move right at the heal counts.
fn last_sample_before(samples: &[Sample], instant: Instant) -> Instant {
    samples
        .iter()
        .rev()
        .find(|sample| sample.at < instant)
        .map_or(instant, |sample| sample.at)
}

/// Runs one fault on the director and judges it; see the module docs.
fn director_fault(fault: Fault) {
    let mut cluster = cluster();
    let faulted = settled(&cluster, WAIT)
        .unwrap_or_else(|| panic!("the cluster never settled\n{}", cluster.logs()));
    let cvip = IpAddr::V4(cluster.lab.cvip());
    let sampler = OwnershipSampler::start(&cluster.lab, vec![cvip], EVERY).unwrap();
    let start = Instant::now();
    std::thread::sleep(BEFORE);

    let log_marks = log_sizes(&cluster);
    let fault_at = Instant::now();
    fault.apply(&mut cluster, faulted);
    loop {
        std::thread::sleep(Duration::from_millis(50));
        let elapsed = fault_at.elapsed();
        let taken_over = latest_holders(&sampler, cvip)
            .is_some_and(|holders| matches!(holders.as_slice(), [only] if *only != faulted));
        if elapsed >= FAULT_MIN && (taken_over || elapsed >= FAULT_MAX) {
            break;
        }
    }
    let heal_at = Instant::now();
    fault.heal(&mut cluster, faulted);
    loop {
        std::thread::sleep(Duration::from_millis(50));
        let elapsed = heal_at.elapsed();
        let one = latest_holders(&sampler, cvip).is_some_and(|holders| holders.len() == 1);
        if elapsed >= AFTER_MIN && (one || elapsed >= AFTER_MAX) {
            break;
        }
    }
    let end = Instant::now();
    let failures_to_sample = sampler.failures();
    let samples = sampler.stop();

    let whole = summarize(&samples, cvip, start, end);
    let during = summarize(&samples, cvip, fault_at, heal_at);
    let after = summarize(&samples, cvip, last_sample_before(&samples, heal_at), end);
    let fault_lasted = heal_at - fault_at;
    let report = format!(
        "fault {fault:?} on node {faulted}, kept {} ms, sampled {} ms after the heal\n\
         whole run:  {whole:?}\nduring:     {during:?}\nafter heal: {after:?}\n\
         ticks without a sample: {failures_to_sample}\n\
         holders over time (from the fault):\n{}",
        fault_lasted.as_millis(),
        (end - heal_at).as_millis(),
        timeline(&samples, cvip, fault_at),
    );
    eprintln!("{report}");

    let mut broken = Vec::new();
    if whole.dual != 0 {
        let (offset, who) = whole.first_dual.clone().unwrap_or_default();
        let from_fault = (start + offset).saturating_duration_since(fault_at);
        broken.push(format!(
            "{} samples ({} ms at 10 ms) had the CVIP on several nodes' eth1; the first at +{} ms \
             from the fault: nodes {who:?}",
            whole.dual,
            whole.dual * 10,
            from_fault.as_millis()
        ));
    }
    match during.holders_at_end.as_slice() {
        [only] if *only != faulted && cluster.is_director(*only) => {}
        holders => broken.push(format!(
            "when the fault was healed the CVIP was on {holders:?}, not on exactly one other \
             director than node {faulted}"
        )),
    }
    // From the last sample before the heal: a single holder that changes at or after the heal,
    // with or without a gap or an overlap between, is a move.
    if after.moves != 0 {
        broken.push(format!(
            "the heal moved the CVIP: {} moves after it, from {:?} to {:?}",
            after.moves, during.holders_at_end, after.holders_at_end
        ));
    }
    if after.holders_at_end.len() != 1 {
        broken.push(format!(
            "the run ended with the CVIP on {:?}, not on exactly one node",
            after.holders_at_end
        ));
    }
    if whole.samples < 100 {
        broken.push(format!("only {} samples in the whole run", whole.samples));
    }
    if settled(&cluster, WAIT).is_none() {
        broken.push("the cluster did not settle again after the heal".into());
    }
    assert!(
        broken.is_empty(),
        "{}\n\n{report}\nwhat the agents logged from the fault on:\n{}\nagent logs:\n{}",
        broken.join("\n"),
        logged_since(&cluster, &log_marks),
        cluster.logs()
    );
}

/// Each node's log size now, to show later only what was logged after this point.
fn log_sizes(cluster: &Cluster) -> Vec<u64> {
    NODES
        .iter()
        .map(|n| std::fs::metadata(cluster.log_path(*n)).map_or(0, |m| m.len()))
        .collect()
}

/// What each node logged since `marks` ([`log_sizes`]), the first and last 60 lines when
/// longer: [`Cluster::logs`] keeps only the last 25, which after a long heal no longer show the
/// moments that matter.
fn logged_since(cluster: &Cluster, marks: &[u64]) -> String {
    let mut out = String::new();
    for (node, mark) in NODES.iter().zip(marks) {
        let text = std::fs::read(cluster.log_path(*node)).unwrap_or_default();
        let start = usize::try_from(*mark).unwrap_or(0).min(text.len());
        let text = String::from_utf8_lossy(&text[start..]);
        let lines: Vec<&str> = text.lines().collect();
        out.push_str(&format!("--- node {node}, {} lines ---\n", lines.len()));
        if lines.len() <= 120 {
            out.push_str(&lines.join("\n"));
        } else {
            out.push_str(&lines[..60].join("\n"));
            out.push_str(&format!("\n[... {} lines ...]\n", lines.len() - 120));
            out.push_str(&lines[lines.len() - 60..].join("\n"));
        }
        out.push('\n');
    }
    out
}

#[test]
fn links_cut_off_the_director() {
    director_fault(Fault::LinksCut);
}

#[test]
fn director_agent_killed_and_restarted() {
    director_fault(Fault::AgentKilled);
}

#[test]
fn director_agent_frozen_and_resumed() {
    director_fault(Fault::AgentFrozen);
}

#[test]
fn director_external_carrier_lost() {
    director_fault(Fault::CarrierLost);
}

#[test]
fn director_external_port_silently_cut() {
    director_fault(Fault::ExternalCut);
}

/// The judging rules themselves, on made-up samples (no cluster, no root): a clean takeover
/// passes, an overlap is a dual, a heal that moves the CVIP back is a move.
#[test]
fn the_rules_on_made_up_samples() {
    let cvip: IpAddr = "192.168.200.100".parse().unwrap();
    let base = Instant::now();
    let make = |holders: &[&[u8]]| -> Vec<Sample> {
        holders
            .iter()
            .enumerate()
            .map(|(i, h)| Sample {
                at: base + Duration::from_millis(10 * i as u64),
                holders: [(cvip, h.to_vec())].into(),
            })
            .collect()
    };
    let heal_at = base + Duration::from_millis(45);
    let end = base + Duration::from_secs(1);
    let clean = make(&[&[1], &[1], &[], &[2], &[2], &[2], &[2]]);
    assert_eq!(summarize(&clean, cvip, base, end).dual, 0);
    let after = summarize(&clean, cvip, last_sample_before(&clean, heal_at), end);
    assert_eq!((after.moves, after.holders_at_end), (0, vec![2]));
    let back = make(&[&[1], &[], &[2], &[2], &[2], &[], &[1]]);
    let after = summarize(&back, cvip, last_sample_before(&back, heal_at), end);
    assert_eq!(after.moves, 1);
    let overlap = make(&[&[1], &[1, 2], &[2]]);
    assert_eq!(
        summarize(&overlap, cvip, base, end),
        OwnershipSummary {
            samples: 3,
            dual: 1,
            none: 0,
            moves: 1,
            holders_at_end: vec![2],
            first_dual: Some((Duration::from_millis(10), vec![1, 2])),
        }
    );
    assert!(timeline(&overlap, cvip, base).contains("[1, 2]"));
}

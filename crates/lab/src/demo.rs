//! `ssinet-lab demo`: a 3-node ssinet cluster in namespaces, a responder on every node, the
//! client's requests spread over them, then the director killed and the client's outage
//! measured. Needs a kernel with IPVS (the CLI re-runs itself in the VM otherwise).
use crate::cluster::{Binaries, Cluster, ClusterError, Result, proc_ip_vs};
use ssinet_testbed::netns::{LabSpec, Netns, PortWeight, Protocol, Routing};
use ssinet_testbed::probe::{ProbeConfig, Prober, Responder, count_nodes};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// The demo's port (cvip.conf's port weight).
pub const PORT: u16 = 80;

/// How long a step may take before the demo gives up (a hung cluster, not a slow one).
const PATIENCE: Duration = Duration::from_secs(90);

/// What to build.
#[derive(Debug, Clone, Copy)]
pub struct DemoOptions {
    pub nodes: u8,
    pub routing: Routing,
    /// Requests for the spread table.
    pub requests: usize,
}

impl Default for DemoOptions {
    fn default() -> Self {
        DemoOptions {
            nodes: 3,
            routing: Routing::Dr,
            requests: 300,
        }
    }
}

/// What the demo saw.
#[derive(Debug, Clone)]
pub struct DemoReport {
    pub first_director: u8,
    /// Requests per serving node (`"(failed: <error>)"` for failures).
    pub spread: BTreeMap<String, usize>,
    pub second_director: u8,
    /// From the last success before the kill to the first after it.
    pub gap: Option<Duration>,
    pub failed_during_failover: usize,
}

/// Whether the running kernel has IPVS (the `ip_vs` module loaded or built in).
pub fn kernel_has_ipvs() -> bool {
    std::path::Path::new("/proc/net/ip_vs").exists()
}

/// Runs the demo; `say` gets a line per step. Returns early (everything torn down) once
/// `interrupted` is set.
pub fn run(
    options: DemoOptions,
    binaries: Binaries,
    interrupted: &AtomicBool,
    say: &mut dyn FnMut(String),
) -> Result<DemoReport> {
    let directors: Vec<u8> = (1..=options.nodes.min(2)).collect();
    let spec = LabSpec {
        nodes: options.nodes,
        directors: directors.clone(),
        routing: options.routing,
        port_weights: vec![PortWeight {
            protocol: Protocol::Tcp,
            start_port: PORT,
            end_port: PORT,
            weight: 1,
        }],
    };
    say(format!(
        "starting {} nodes ({:?}, directors {directors:?}), one ssinetd each",
        options.nodes, options.routing
    ));
    let mut cluster = Cluster::start(spec, binaries)?;
    let everyone = cluster.running();
    let first = wait_director(&cluster, &everyone, interrupted)?;
    say(format!(
        "node {first} is the director: it holds {} on eth1",
        cluster.lab.cvip()
    ));
    let mut responders: BTreeMap<u8, Responder> = BTreeMap::new();
    for node in &everyone {
        let netns = cluster.lab.node(*node).netns();
        responders.insert(
            *node,
            Responder::start(netns, PORT, &format!("node{node}"))?,
        );
    }
    say(format!(
        "a responder listens on port {PORT} on every node; waiting for the director to list them"
    ));
    wait(
        &cluster,
        "every node to be an IPVS destination",
        interrupted,
        || destinations(&cluster, first) >= everyone.len(),
    )?;
    let target = SocketAddr::from((cluster.lab.cvip(), PORT));
    // One attempt every 10 ms; a connect unanswered within 50 ms counts as failed, so the
    // outage is measured to about 50 ms (as in tests/e2e/benches/failover.rs).
    let config = ProbeConfig {
        connect_timeout: Duration::from_millis(50),
        io_timeout: Duration::from_secs(2),
        ..ProbeConfig::default()
    };
    let spread = count_nodes(cluster.lab.client(), target, options.requests, &config)?;
    check(interrupted)?;

    say(format!(
        "killing node {first} (links cut, agent SIGKILLed) while a client probes every 10 ms"
    ));
    let client = Netns::attach(cluster.lab.client().name())?;
    let prober = Prober::start(&client, target, config)?;
    wait(&cluster, "the probe to reach the CVIP", interrupted, || {
        prober.snapshot().successes() >= 5
    })?;
    // The death is the moment the links are cut: no request begun later can reach it.
    cluster.lab.partition(first)?;
    let killed_at = prober.now();
    cluster.kill(first)?;
    responders.remove(&first);
    let survivors: Vec<u8> = cluster.running();
    let second = wait_director(&cluster, &survivors, interrupted)?;
    wait(&cluster, "requests to succeed again", interrupted, || {
        prober
            .snapshot()
            .per_node_after(killed_at)
            .values()
            .sum::<usize>()
            >= 5
    })?;
    let log = prober.stop();
    let failed_during_failover = log
        .attempts
        .iter()
        .filter(|attempt| attempt.at > killed_at && !attempt.is_ok())
        .count();
    say(format!("node {second} took over"));
    Ok(DemoReport {
        first_director: first,
        spread,
        second_director: second,
        gap: log.gap_around(killed_at),
        failed_during_failover,
    })
}

fn check(interrupted: &AtomicBool) -> Result<()> {
    if interrupted.load(Ordering::SeqCst) {
        return Err(ClusterError::Node {
            node: 0,
            reason: "interrupted; tearing the demo down".into(),
        });
    }
    Ok(())
}

fn wait(
    cluster: &Cluster,
    what: &str,
    interrupted: &AtomicBool,
    mut condition: impl FnMut() -> bool,
) -> Result<()> {
    cluster.eventually(what, PATIENCE, || {
        interrupted.load(Ordering::SeqCst) || condition()
    })?;
    check(interrupted)
}

fn wait_director(cluster: &Cluster, among: &[u8], interrupted: &AtomicBool) -> Result<u8> {
    let mut director = None;
    wait(cluster, "a director holding the CVIP", interrupted, || {
        director = cluster
            .agreed_leader(among)
            .filter(|leader| cluster.is_director(*leader))
            .filter(|leader| cluster.cvip_holders().is_ok_and(|h| h == [*leader]));
        director.is_some()
    })?;
    Ok(director.expect("wait returned Ok only once a director was found"))
}

fn destinations(cluster: &Cluster, director: u8) -> usize {
    proc_ip_vs(cluster.lab.node(director).netns())
        .map(|table| {
            table
                .iter()
                .filter(|service| service.address == format!("{}:{PORT}", cluster.lab.cvip()))
                .map(|service| service.destinations.len())
                .sum()
        })
        .unwrap_or(0)
}

//! Failover of a virtual address on this host, ssinet against keepalived, in one namespace lab
//! and one run. No VM and no IPVS (this kernel has none): what moves the address is the control
//! plane, and that is what is measured.
//!
//! ```sh
//! cargo build --release --workspace --bins
//! cargo bench -p ssinet-e2e --bench failover_host                 # faults, 20 rounds
//! FAILOVER_ROUNDS=3 cargo bench -p ssinet-e2e --bench failover_host
//! cargo bench -p ssinet-e2e --bench failover_host -- idle         # CPU and RSS when idle
//! cargo bench -p ssinet-e2e --bench failover_host -- soak 600     # no faults, 600 s
//! ```
//!
//! Setup: `LabSpec::default()` (3 nodes, directors 1 and 2, DR), a real `ssinetd` per node with
//! ssinetd's default timing (no timing flags), a listener on port 80 (wildcard address) on
//! nodes 1 and 2, and Debian's keepalived on nodes 1 and 2 (priorities 100 and 90, `state
//! BACKUP`, `nopreempt`, VRRP only) with two instances on `eth1`:
//!
//! | system | address | timing |
//! |---|---|---|
//! | ssinet | CVIP 192.168.200.100 | heartbeat 30 ms, election 150-200 ms, fence 100 ms |
//! | keepalived, tuned | 192.168.200.101 | VRRPv3, `advert_int 0.1` |
//! | keepalived, default | 192.168.200.102 | VRRPv2, `advert_int 1` |
//!
//! Faults, each applied to the node holding the measured system's address (its death is the
//! moment the fault is in place): (a) both links cut (`Lab::partition`), (b) the agent SIGKILLed
//! (keepalived: its process group), healed by starting it again, (c) SIGSTOP for 3 s, then
//! SIGCONT (keepalived: its whole process group), (d) the external link's carrier gone
//! (`Lab::carrier_down`), (e) the external port cut silently, carrier kept (`Lab::cut`). A fault
//! is held 3 s, longer while the address is not yet held elsewhere (at most 15 s; SIGSTOP
//! exactly 3 s), then healed; the next round waits until every address has been on exactly one
//! node for 2 s and ssinet's nodes agree on a director-capable leader whose whole log every node
//! has applied.
//!
//! keepalived's two instances live in one process, as an operator runs them, so a round on the
//! node holding both measures both (the fault is held until both moved); each still gets
//! exactly N rounds of each fault, and `FAILOVER_SEPARATE=1` measures only the target. ssinet
//! has rounds of its own: a link fault on a node that also holds keepalived's addresses moves
//! them too, but they are not measured there (the fault's length follows ssinet).
//!
//! Measured per round: a client in the client namespace connects to each address on port 80
//! every 10 ms and fetches a line (50 ms for the connect, 50 ms for the answer). The **client
//! gap** is the longest time between two successes from the last success before the death to
//! the end of the fault (or, when the address came back only with the heal, to the first
//! success after it) (`ProbeLog::gap_around`); the **heal gap** the longest such time from
//! there until the client reaches the address again after the round is stable. A client still
//! failing 5 s after that is **black-holed**: its ARP entry names a node that gave the address
//! up while the holder announced nothing (keepalived, when two masters meet again and the one
//! that stays master never hears the other's lower-priority advert, sends no gratuitous ARP);
//! the entry would stay until it expires (up to about 50 s with Linux's defaults), so the bench
//! flushes it, counts the round and reports its heal gap as a lower bound.
//!
//! An ownership sampler (`ssinet_lab::cluster::ownership`, every 10 ms, in-process netlink in
//! every node) counts samples with two holders on `eth1` and **moves**: changes of the node the
//! client's traffic goes to, i.e. the single holder, or, while two hold the address, the one
//! that took it last (it announced itself with gratuitous ARP). Without dual samples that is
//! `OwnershipSummary::moves`. For ssinet, whether a node that may not direct (node 3) led
//! meanwhile (the caretaker path), from polling its `/v1/status` every 50 ms.
//!
//! Environment: `FAILOVER_ROUNDS` (20), `FAILOVER_FAULTS` (comma list of
//! `partition,kill,stop,carrier,extcut`), `FAILOVER_SYSTEMS` (`ssinet,ka-tuned,ka-default`),
//! `FAILOVER_SEPARATE=1`, `FAILOVER_MODE` (`failover`, `idle`, `soak`; or the first argument),
//! `FAILOVER_SOAK_SECONDS` (600; or the second argument), `FAILOVER_IDLE_SECONDS` (60),
//! `SSINET_TEST_LOGS=1` (the agents' log tails at the end).
//!
//! Prints progress on stderr and markdown tables for docs/BENCHMARKS.md on stdout.
#![allow(clippy::unwrap_used)]

use ssinet_api::admin::{RaftRole, STATUS, StatusReport};
use ssinet_e2e::keepalived::{self, Keepalived, VrrpInstance};
use ssinet_e2e::{PORT, procstat};
use ssinet_lab::cluster::admin;
use ssinet_lab::cluster::ownership::{OwnershipSampler, Sample, summarize};
use ssinet_lab::cluster::{Binaries, Cluster, ClusterError, Result};
use ssinet_testbed::netns::{LabSpec, Netns, Segment, addressing};
use ssinet_testbed::probe::{ProbeConfig, ProbeLog, Prober, Responder, Summary};
use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How long the lab may take to settle before the bench calls it hung (nothing here is timed
/// against it).
const PATIENCE: Duration = Duration::from_secs(90);
/// A fault is held at least this long...
const HOLD_MIN: Duration = Duration::from_secs(3);
/// ...and at most this long while the address is not held elsewhere.
const HOLD_MAX: Duration = Duration::from_secs(15);
/// Every address on exactly one node this long counts as stable.
const STABLE_FOR: Duration = Duration::from_secs(2);
/// The ownership sampler's period.
const SAMPLE_EVERY: Duration = Duration::from_millis(10);
/// Errors a failover run survives (the round is retried) before it gives up.
const MAX_ERRORS: usize = 3;
/// After a round is stable, how long the client may take to reach a measured address again
/// before its ARP entry for it is flushed (a client whose entry still names a node that gave the
/// address up without anyone announcing the new holder would wait for the entry to expire:
/// 15-45 s, then 5 s of delay and 3 probes, with Linux's defaults)...
const CLIENT_WAIT: Duration = Duration::from_secs(5);
/// ...and an address it does not measure (hit by a fault on the node that held it).
const CLIENT_WAIT_OTHER: Duration = Duration::from_secs(2);

const TUNED_VIP: Ipv4Addr = Ipv4Addr::new(192, 168, 200, 101);
const DEFAULT_VIP: Ipv4Addr = Ipv4Addr::new(192, 168, 200, 102);

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum System {
    Ssinet,
    Tuned,
    Default,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Software {
    Ssinet,
    Keepalived,
}

impl System {
    const ALL: [System; 3] = [System::Ssinet, System::Tuned, System::Default];

    fn vip(self) -> Ipv4Addr {
        match self {
            System::Ssinet => addressing::CVIP,
            System::Tuned => TUNED_VIP,
            System::Default => DEFAULT_VIP,
        }
    }

    fn ip(self) -> IpAddr {
        IpAddr::V4(self.vip())
    }

    fn key(self) -> &'static str {
        match self {
            System::Ssinet => "ssinet",
            System::Tuned => "ka-tuned",
            System::Default => "ka-default",
        }
    }

    fn label(self) -> &'static str {
        match self {
            System::Ssinet => "ssinet (default timing)",
            System::Tuned => "keepalived, VRRPv3 `advert_int 0.1`",
            System::Default => "keepalived, default `advert_int 1`",
        }
    }

    fn software(self) -> Software {
        match self {
            System::Ssinet => Software::Ssinet,
            System::Tuned | System::Default => Software::Keepalived,
        }
    }

    /// Its keepalived instance.
    fn instance(self) -> Option<VrrpInstance> {
        let (name, vip, virtual_router_id, advert_int, version3) = match self {
            System::Ssinet => return None,
            System::Tuned => ("VI_T", TUNED_VIP, 61, Some("0.1".to_owned()), true),
            System::Default => ("VI_D", DEFAULT_VIP, 62, None, false),
        };
        Some(VrrpInstance {
            name: name.to_owned(),
            vip,
            virtual_router_id,
            advert_int,
            version3,
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum Fault {
    Partition,
    Kill,
    Stop,
    CarrierDown,
    ExternalCut,
}

impl Fault {
    const ALL: [Fault; 5] = [
        Fault::Partition,
        Fault::Kill,
        Fault::Stop,
        Fault::CarrierDown,
        Fault::ExternalCut,
    ];

    fn key(self) -> &'static str {
        match self {
            Fault::Partition => "partition",
            Fault::Kill => "kill",
            Fault::Stop => "stop",
            Fault::CarrierDown => "carrier",
            Fault::ExternalCut => "extcut",
        }
    }

    fn label(self) -> &'static str {
        match self {
            Fault::Partition => "(a) both links cut",
            Fault::Kill => "(b) agent SIGKILL, restarted",
            Fault::Stop => "(c) SIGSTOP 3 s, SIGCONT",
            Fault::CarrierDown => "(d) external carrier down",
            Fault::ExternalCut => "(e) external port cut (carrier kept)",
        }
    }
}

/// What the run was asked to do.
#[derive(Debug, Clone)]
struct Options {
    rounds: usize,
    faults: Vec<Fault>,
    systems: Vec<System>,
    separate: bool,
}

fn env_list<T: Copy>(name: &str, all: &[T], key: fn(T) -> &'static str) -> Vec<T> {
    let Ok(text) = std::env::var(name) else {
        return all.to_vec();
    };
    let wanted: Vec<&str> = text.split(',').map(str::trim).collect();
    for word in &wanted {
        if !all.iter().any(|item| key(*item) == *word) {
            let known: Vec<&str> = all.iter().map(|item| key(*item)).collect();
            eprintln!("{name}: unknown {word:?} (known: {})", known.join(","));
            std::process::exit(2);
        }
    }
    all.iter()
        .copied()
        .filter(|item| wanted.contains(&key(*item)))
        .collect()
}

fn env_number(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|text| text.parse().ok())
}

/// One measured system's round.
#[derive(Debug, Clone)]
struct Outcome {
    /// The node the fault hit (which held the address).
    node: u8,
    /// Client gap around the death.
    gap: Duration,
    /// Longest time between successes from the end of the fault window until stable.
    heal_gap: Option<Duration>,
    /// From the death until a sample showed another node holding the address.
    elsewhere: Option<Duration>,
    /// Samples with two or more holders, from the death until stable.
    dual: usize,
    /// Samples with no holder, from the death until stable.
    none: usize,
    /// Moves (see the module docs) between the death and the heal, and after the heal.
    moves_fault: usize,
    moves_heal: usize,
    /// ssinet: a node that may not direct led meanwhile.
    caretaker: bool,
    /// The client still could not reach the address [`CLIENT_WAIT`] after the round was
    /// stable: its ARP entry then (it was flushed so the next round can start).
    black_hole: Option<String>,
    /// Holders at the end of the round.
    end: Vec<u8>,
    /// The first sample with two holders: after the death, and who.
    first_dual: Option<(Duration, Vec<u8>)>,
}

// ---------------------------------------------------------------------------------------------
// The lab with both systems.

/// Everything a run starts; dropping it (also while unwinding) ends it all: the field order is
/// the drop order (the watch's thread, keepalived's process groups, the listeners, then the
/// agents and the namespaces, then keepalived's files).
struct Setup {
    watch: Option<CaretakerWatch>,
    keepalived: BTreeMap<u8, Keepalived>,
    responders: Vec<Responder>,
    cluster: Cluster,
    /// A second, non-owning handle on the client namespace, for the probes.
    client: Netns,
    dir: tempfile::TempDir,
}

const PRIORITIES: [(u8, u8); 2] = [(1, 100), (2, 90)];

fn instances() -> Vec<VrrpInstance> {
    System::ALL.iter().filter_map(|s| s.instance()).collect()
}

impl Setup {
    fn start(watch: bool) -> Result<Setup> {
        let spec = LabSpec::default();
        let mut cluster = Cluster::new(spec, Binaries::beside_current_exe()?)?;
        // ssinetd's own defaults: no timing flags at all.
        cluster.timing.clear();
        for node in 1..=cluster.node_count() {
            cluster.start_node(node)?;
        }
        let client = Netns::attach(cluster.lab.client().name())?;
        let dir = tempfile::TempDir::new().map_err(|cause| ClusterError::Io {
            action: "create a temporary directory in",
            path: std::env::temp_dir(),
            cause,
        })?;
        let mut setup = Setup {
            watch: None,
            keepalived: BTreeMap::new(),
            responders: Vec::new(),
            cluster,
            client,
            dir,
        };
        for (node, _) in PRIORITIES {
            let netns = setup.cluster.lab.node(node).netns();
            setup
                .responders
                .push(Responder::start(netns, PORT, &format!("n{node}"))?);
        }
        for (node, _) in PRIORITIES {
            setup.start_keepalived(node)?;
        }
        if watch {
            setup.watch = Some(CaretakerWatch::start(&setup.cluster)?);
        }
        let sampler = setup.sampler()?;
        let result = setup.wait_stable(&sampler, Instant::now(), None);
        drop(sampler);
        result?;
        Ok(setup)
    }

    fn start_keepalived(&mut self, node: u8) -> Result<()> {
        let priority = PRIORITIES
            .iter()
            .find(|(n, _)| *n == node)
            .map_or(90, |(_, p)| *p);
        let started = Keepalived::start_vrrp(
            &self.cluster.lab,
            self.dir.path(),
            node,
            priority,
            &instances(),
        )?;
        self.keepalived.insert(node, started);
        Ok(())
    }

    fn sampler(&self) -> Result<OwnershipSampler> {
        OwnershipSampler::start(
            &self.cluster.lab,
            System::ALL.iter().map(|s| s.ip()).collect(),
            SAMPLE_EVERY,
        )
    }

    /// Who holds every address now (one sample).
    fn holders_now(&self) -> Result<BTreeMap<IpAddr, Vec<u8>>> {
        let sampler = self.sampler()?;
        let deadline = Instant::now() + Duration::from_secs(5);
        while sampler.samples().is_empty() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        let samples = sampler.stop();
        samples
            .last()
            .map(|s| s.holders.clone())
            .ok_or_else(|| ClusterError::Output {
                command: "the ownership sampler".into(),
                reason: "no sample in 5 s".into(),
            })
    }

    /// The director-capable leader every agent names, with a quorum, when every node reaches
    /// every other and has applied the leader's whole log.
    fn ssinet_settled(&self) -> Option<u8> {
        let cluster = &self.cluster;
        let all = cluster.running();
        if all.len() != usize::from(cluster.node_count()) {
            return None;
        }
        let leader = cluster
            .agreed_leader(&all)
            .filter(|n| cluster.is_director(*n))?;
        let committed = cluster.status(leader)?.commit_index?;
        all.iter()
            .all(|n| {
                cluster.status(*n).is_some_and(|s| {
                    s.nodes.iter().all(|p| p.reachable) && s.last_applied >= Some(committed)
                })
            })
            .then_some(leader)
    }

    /// Whether keepalived on `node` logged a state for every instance since it started.
    fn keepalived_ready(&self, node: u8) -> bool {
        let log = std::fs::read_to_string(keepalived::file_of(self.dir.path(), node, "log"))
            .unwrap_or_default();
        instances().iter().all(|instance| {
            ["BACKUP", "MASTER"]
                .iter()
                .any(|state| log.contains(&format!("({}) Entering {state} STATE", instance.name)))
        })
    }

    /// Waits until every address has been held by exactly one node for [`STABLE_FOR`] since
    /// `after`, ssinet is settled with its leader holding the CVIP, and keepalived on
    /// `restarted` (if any) has entered a state; the moment it was.
    fn wait_stable(
        &self,
        sampler: &OwnershipSampler,
        after: Instant,
        restarted: Option<u8>,
    ) -> Result<Instant> {
        let deadline = Instant::now() + PATIENCE;
        let mut why;
        loop {
            let now = Instant::now();
            let samples = sampler.samples();
            why = String::new();
            let mut cvip_holder = None;
            for system in System::ALL {
                match stable_since(&samples, system.ip()) {
                    Some((since, holder)) if now.duration_since(since.max(after)) >= STABLE_FOR => {
                        if system == System::Ssinet {
                            cvip_holder = Some(holder);
                        }
                    }
                    _ => {
                        let last = samples.last().and_then(|s| s.holders.get(&system.ip()));
                        why = format!("{} held by {last:?}", system.vip());
                        break;
                    }
                }
            }
            if why.is_empty() {
                match self.ssinet_settled() {
                    Some(leader) if Some(leader) == cvip_holder => {}
                    Some(leader) => {
                        why = format!("ssinet leader {leader}, CVIP on {cvip_holder:?}");
                    }
                    None => why = "ssinet not settled".into(),
                }
            }
            if why.is_empty()
                && let Some(node) = restarted
                && !self.keepalived_ready(node)
            {
                why = format!("keepalived on node {node} not in a state yet");
            }
            if why.is_empty() {
                return Ok(now);
            }
            if now > deadline {
                return Err(ClusterError::Timeout {
                    what: format!("a stable lab (last: {why})"),
                    seconds: PATIENCE.as_secs(),
                    logs: self.cluster.logs(),
                });
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// When the current run of samples in which `addr` has had exactly one holder, always the
/// same, began, and that holder; `None` when the last sample does not have one holder.
fn stable_since(samples: &[Sample], addr: IpAddr) -> Option<(Instant, u8)> {
    let holders = |s: &Sample| s.holders.get(&addr).cloned().unwrap_or_default();
    let last = samples.last()?;
    let [holder] = holders(last)[..] else {
        return None;
    };
    let mut since = last.at;
    for sample in samples.iter().rev() {
        if holders(sample) != [holder] {
            break;
        }
        since = sample.at;
    }
    Some((since, holder))
}

/// Polls the `/v1/status` of every node that may not direct every 50 ms and remembers when
/// one said it led: the caretaker path.
struct CaretakerWatch {
    stop: Arc<AtomicBool>,
    seen: Arc<Mutex<Vec<Instant>>>,
    thread: Option<JoinHandle<()>>,
}

impl CaretakerWatch {
    fn start(cluster: &Cluster) -> Result<CaretakerWatch> {
        let sockets: Vec<PathBuf> = (1..=cluster.node_count())
            .filter(|n| !cluster.is_director(*n))
            .map(|n| cluster.socket(n))
            .collect();
        let stop = Arc::new(AtomicBool::new(false));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let thread = {
            let (stop, seen) = (Arc::clone(&stop), Arc::clone(&seen));
            std::thread::Builder::new()
                .name("caretaker-watch".into())
                .spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        for socket in &sockets {
                            let status: Option<StatusReport> = admin::get_json(socket, STATUS);
                            if status.is_some_and(|s| s.role == RaftRole::Leader) {
                                seen.lock()
                                    .unwrap_or_else(|p| p.into_inner())
                                    .push(Instant::now());
                            }
                        }
                        std::thread::sleep(Duration::from_millis(50));
                    }
                })
                .map_err(|cause| ClusterError::Io {
                    action: "start the caretaker watch thread",
                    path: "(thread)".into(),
                    cause,
                })?
        };
        Ok(CaretakerWatch {
            stop,
            seen,
            thread: Some(thread),
        })
    }

    fn seen_between(&self, from: Instant, to: Instant) -> bool {
        self.seen
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .any(|at| *at >= from && *at <= to)
    }
}

impl Drop for CaretakerWatch {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The client.

/// A [`Prober`] against one address and the [`Instant`] its clock starts at. Dropping it
/// (a round that failed) stops the prober's thread too.
struct Probe {
    prober: Option<Prober>,
    base: Instant,
}

impl Drop for Probe {
    fn drop(&mut self) {
        if let Some(prober) = self.prober.take() {
            let _ = prober.stop();
        }
    }
}

impl Probe {
    fn start(client: &Netns, vip: Ipv4Addr) -> Result<Probe> {
        // The answer is bounded like the connect: an attempt that connected just before the
        // fault would otherwise wait out a long read timeout, and the sequential prober would
        // start nothing else meanwhile, stretching the gap it measures.
        let config = ProbeConfig {
            interval: Duration::from_millis(10),
            connect_timeout: Duration::from_millis(50),
            io_timeout: Duration::from_millis(50),
        };
        let prober = Prober::start(client, SocketAddr::from((vip, PORT)), config)?;
        let base = Instant::now()
            .checked_sub(prober.now())
            .unwrap_or_else(Instant::now);
        Ok(Probe {
            prober: Some(prober),
            base,
        })
    }

    fn snapshot(&self) -> ProbeLog {
        self.prober
            .as_ref()
            .map(Prober::snapshot)
            .unwrap_or_default()
    }

    /// Stops probing; every attempt.
    fn stop(mut self) -> ProbeLog {
        self.prober.take().map(Prober::stop).unwrap_or_default()
    }

    fn at(&self, instant: Instant) -> Duration {
        instant.saturating_duration_since(self.base)
    }

    /// Waits until the last 5 attempts succeeded.
    fn wait_healthy(&self, what: &str) -> Result<()> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let log = self.snapshot();
            let last = log.attempts.iter().rev().take(5);
            if log.attempts.len() >= 5 && last.clone().all(|a| a.is_ok()) {
                return Ok(());
            }
            if Instant::now() > deadline {
                let error = log
                    .attempts
                    .last()
                    .and_then(|a| a.outcome.clone().err())
                    .unwrap_or_default();
                return Err(ClusterError::Timeout {
                    what: format!("the client to reach {what} (last error: {error})"),
                    seconds: 30,
                    logs: String::new(),
                });
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// The client gap around `death` and the gap after the fault window (see the module docs).
fn gaps(log: &ProbeLog, death: Duration, heal: Duration) -> Option<(Duration, Option<Duration>)> {
    let ok: Vec<Duration> = log
        .attempts
        .iter()
        .filter(|a| a.is_ok())
        .map(|a| a.at)
        .collect();
    let recovered_in_fault = ok.iter().any(|at| *at > death && *at < heal);
    let end = if recovered_in_fault {
        ok.iter().rposition(|at| *at < heal)?
    } else {
        ok.iter().position(|at| *at >= heal)?
    };
    let window = ProbeLog {
        attempts: log
            .attempts
            .iter()
            .filter(|a| a.at <= ok[end])
            .cloned()
            .collect(),
    };
    let gap = window.gap_around(death)?;
    let heal_gap = ok[end..].windows(2).map(|w| w[1] - w[0]).max();
    Some((gap, heal_gap))
}

/// When the client's traffic changed node for `addr`, starting from `initial`: the single
/// holder, or while several hold it the one that took it last (it announced itself); nobody
/// holding it changes nothing.
fn owner_moves(samples: &[Sample], addr: IpAddr, initial: Option<u8>) -> Vec<Instant> {
    let mut moves = Vec::new();
    let mut owner: Option<u8> = initial;
    let mut previous: Vec<u8> = initial.into_iter().collect();
    for sample in samples {
        let holders = sample.holders.get(&addr).cloned().unwrap_or_default();
        let next = match holders.as_slice() {
            [] => owner,
            [only] => Some(*only),
            several => several
                .iter()
                .find(|n| !previous.contains(n))
                .copied()
                .or(owner.filter(|o| several.contains(o)))
                .or(several.first().copied()),
        };
        if owner.is_some() && next != owner {
            moves.push(sample.at);
        }
        owner = next;
        previous = holders;
    }
    moves
}

// ---------------------------------------------------------------------------------------------
// One round.

/// Applies `fault` to `node` for `target`'s software; the heal to run later.
fn apply(setup: &mut Setup, fault: Fault, target: System, node: u8) -> Result<Heal> {
    let lab = &setup.cluster.lab;
    match (fault, target.software()) {
        (Fault::Partition, _) => lab.partition(node)?,
        (Fault::CarrierDown, _) => lab.carrier_down(node)?,
        (Fault::ExternalCut, _) => lab.cut(node, &[Segment::External])?,
        (Fault::Kill, Software::Ssinet) => setup.cluster.kill(node)?,
        (Fault::Kill, Software::Keepalived) => {
            let running = setup
                .keepalived
                .remove(&node)
                .ok_or_else(|| ClusterError::Node {
                    node,
                    reason: "keepalived is not running there".into(),
                })?;
            let group = running.pid();
            running.kill();
            return Ok(Heal::Keepalived { group });
        }
        (Fault::Stop, Software::Ssinet) => setup.cluster.freeze(node)?,
        (Fault::Stop, Software::Keepalived) => {
            keepalived_of(setup, node)?.signal_group(nix::sys::signal::Signal::SIGSTOP)?
        }
    }
    Ok(Heal::Plain)
}

/// What healing needs to remember.
enum Heal {
    Plain,
    /// keepalived was SIGKILLed: its old process group, which must be gone before it restarts.
    Keepalived {
        group: u32,
    },
}

fn keepalived_of(setup: &Setup, node: u8) -> Result<&Keepalived> {
    setup
        .keepalived
        .get(&node)
        .ok_or_else(|| ClusterError::Node {
            node,
            reason: "keepalived is not running there".into(),
        })
}

/// Undoes `fault` on `node`; whether keepalived was restarted there.
fn heal(setup: &mut Setup, fault: Fault, target: System, node: u8, how: Heal) -> Result<bool> {
    let lab = &setup.cluster.lab;
    match (fault, target.software()) {
        (Fault::Partition, _) => lab.restore(node)?,
        (Fault::CarrierDown, _) => lab.carrier_up(node)?,
        (Fault::ExternalCut, _) => lab.reconnect(node, &[Segment::External])?,
        (Fault::Kill, Software::Ssinet) => setup.cluster.start_node(node)?,
        (Fault::Kill, Software::Keepalived) => {
            if let Heal::Keepalived { group } = how {
                let deadline = Instant::now() + Duration::from_secs(10);
                while !procstat::process_group(group).is_empty() && Instant::now() < deadline {
                    std::thread::sleep(Duration::from_millis(10));
                }
            }
            setup.start_keepalived(node)?;
            return Ok(true);
        }
        (Fault::Stop, Software::Ssinet) => setup.cluster.thaw(node)?,
        (Fault::Stop, Software::Keepalived) => {
            keepalived_of(setup, node)?.signal_group(nix::sys::signal::Signal::SIGCONT)?;
        }
    }
    Ok(false)
}

/// One round: `fault` on `node`, measured for `measured` (all of which `node` holds).
/// A client probe of every system's address, each once it answers.
fn probe_all(setup: &Setup) -> Result<Vec<(System, Probe)>> {
    let mut probes = Vec::new();
    for system in System::ALL {
        let probe = Probe::start(&setup.client, system.vip())?;
        probe.wait_healthy(&system.vip().to_string())?;
        probes.push((system, probe));
    }
    Ok(probes)
}

fn round(
    setup: &mut Setup,
    fault: Fault,
    target: System,
    node: u8,
    measured: &[System],
) -> Result<Vec<(System, Outcome)>> {
    let sampler = setup.sampler()?;
    // Every address is probed, measured or not: a round ends only once the client reaches all
    // of them again.
    let probes = probe_all(setup)?;
    let begun = Instant::now();
    let how = apply(setup, fault, target, node)?;
    let death = Instant::now();

    // Hold the fault: SIGSTOP exactly HOLD_MIN; the others at least HOLD_MIN, and until every
    // measured address is held elsewhere, at most HOLD_MAX.
    let mut elsewhere: BTreeMap<System, Instant> = BTreeMap::new();
    let mut scanned = 0;
    let held = loop {
        std::thread::sleep(Duration::from_millis(50));
        let samples = sampler.samples();
        for sample in samples.iter().skip(scanned) {
            for system in measured {
                let there = sample.holders.get(&system.ip());
                if there.is_some_and(|h| h.iter().any(|n| *n != node)) && sample.at >= death {
                    elsewhere.entry(*system).or_insert(sample.at);
                }
            }
        }
        scanned = samples.len();
        let elapsed = death.elapsed();
        let done = if fault == Fault::Stop {
            elapsed >= HOLD_MIN
        } else {
            elapsed >= HOLD_MAX || (elapsed >= HOLD_MIN && elsewhere.len() == measured.len())
        };
        if done {
            break elapsed;
        }
    };
    let restarted = heal(setup, fault, target, node, how)?;
    let heal_at = Instant::now();
    let stable = setup.wait_stable(&sampler, heal_at, restarted.then_some(node))?;
    let samples = sampler.stop();
    let caretaker = setup
        .watch
        .as_ref()
        .is_some_and(|w| w.seen_between(death, stable));
    let flushed = wait_for_client(setup, &probes, heal_at, stable, measured)?;

    let mut outcomes = Vec::new();
    for (system, probe) in probes {
        if !measured.contains(&system) {
            continue;
        }
        let (death_d, heal_d) = (probe.at(death), probe.at(heal_at));
        let log = probe.stop();
        let (gap, heal_gap) = gaps(&log, death_d, heal_d).ok_or_else(|| ClusterError::Output {
            command: format!("the client probe of {}", system.vip()),
            reason: "no success on one side of the fault".into(),
        })?;
        let addr = system.ip();
        let whole = summarize(&samples, addr, death, stable);
        // From the node that held it when the round began: a holder that drops the address
        // at once (keepalived on a lost carrier) may leave no sample of it after `begun`.
        let moves = owner_moves(
            &samples
                .iter()
                .filter(|s| s.at >= begun && s.at <= stable)
                .cloned()
                .collect::<Vec<_>>(),
            addr,
            Some(node),
        );
        outcomes.push((
            system,
            Outcome {
                node,
                gap,
                heal_gap,
                elsewhere: elsewhere.get(&system).map(|at| at.duration_since(death)),
                dual: whole.dual,
                none: whole.none,
                moves_fault: moves.iter().filter(|at| **at < heal_at).count(),
                moves_heal: moves.iter().filter(|at| **at >= heal_at).count(),
                caretaker: system == System::Ssinet && caretaker,
                black_hole: flushed.get(&system).cloned(),
                end: whole.holders_at_end,
                first_dual: whole.first_dual,
            },
        ));
    }
    eprintln!(
        "  held {} ms, stable {} ms after the heal",
        held.as_millis(),
        stable.duration_since(heal_at).as_millis()
    );
    Ok(outcomes)
}

/// Waits until the client's last 5 attempts at every address succeeded, all begun after
/// `heal`. An address still unreachable [`CLIENT_WAIT`] after `stable` ([`CLIENT_WAIT_OTHER`]
/// if not `measured`) is black-holed by a stale ARP entry: the entry is flushed (and returned
/// for the measured ones), after which the client must get through within [`PATIENCE`].
fn wait_for_client(
    setup: &Setup,
    probes: &[(System, Probe)],
    heal: Instant,
    stable: Instant,
    measured: &[System],
) -> Result<BTreeMap<System, String>> {
    let mut flushed = BTreeMap::new();
    let mut pending: Vec<&(System, Probe)> = probes.iter().collect();
    let deadline = stable + PATIENCE;
    while !pending.is_empty() {
        std::thread::sleep(Duration::from_millis(100));
        let now = Instant::now();
        let mut still = Vec::new();
        for entry in pending {
            let (system, probe) = entry;
            let log = probe.snapshot();
            let since = probe.at(heal);
            let recent: Vec<_> = log.attempts.iter().rev().take(5).collect();
            if recent.len() == 5 && recent.iter().all(|a| a.is_ok() && a.at > since) {
                continue;
            }
            let wait = if measured.contains(system) {
                CLIENT_WAIT
            } else {
                CLIENT_WAIT_OTHER
            };
            if now.duration_since(stable) >= wait && !flushed.contains_key(system) {
                let vip = system.vip().to_string();
                let client = setup.cluster.lab.client();
                let entry = client
                    .neighbours()?
                    .into_iter()
                    .find(|n| n.ip == vip)
                    .map_or_else(
                        || "none".to_owned(),
                        |n| {
                            let owner = setup
                                .cluster
                                .lab
                                .nodes()
                                .iter()
                                .map(|node| node.number())
                                .find(|node| {
                                    n.lladdr.as_deref().is_some_and(|mac| {
                                        setup.cluster.external_mac(*node).ok().as_deref()
                                            == Some(mac)
                                    })
                                });
                            format!(
                                "{} {} (node {}'s eth1)",
                                n.lladdr.unwrap_or_default(),
                                n.state.join(","),
                                owner.map_or_else(|| "?".to_owned(), |o| o.to_string())
                            )
                        },
                    );
                eprintln!(
                    "  the client still cannot reach {vip} {} ms after the round was stable; its \
                     ARP entry: {entry}; flushing it",
                    now.duration_since(stable).as_millis()
                );
                client.ip(&["-4", "neigh", "flush", "to", &vip])?;
                flushed.insert(*system, entry);
            }
            if now > deadline {
                return Err(ClusterError::Timeout {
                    what: format!("the client to reach {} again", system.vip()),
                    seconds: PATIENCE.as_secs(),
                    logs: String::new(),
                });
            }
            still.push(entry);
        }
        pending = still;
    }
    Ok(flushed
        .into_iter()
        .filter(|(system, _)| measured.contains(system))
        .collect())
}

type Results = BTreeMap<(System, Fault), Vec<Outcome>>;

fn failover(options: &Options) -> (Results, Vec<String>) {
    let mut results: Results = BTreeMap::new();
    let mut errors = Vec::new();
    let mut setup = match Setup::start(true) {
        Ok(setup) => setup,
        Err(error) => {
            errors.push(format!("setup: {error}"));
            return (results, errors);
        }
    };
    let started = Instant::now();
    let mut round_number = 0;
    'rounds: while round_number < options.rounds {
        for fault in &options.faults {
            for target in &options.systems {
                // A round that failed is tried once more, after the lab settled again.
                for _attempt in 0..2 {
                    let have = |results: &Results, s: System| {
                        results.get(&(s, *fault)).map_or(0, Vec::len)
                    };
                    if have(&results, *target) > round_number {
                        break;
                    }
                    let outcome =
                        one_round(&mut setup, &results, options, *fault, *target, round_number);
                    match outcome {
                        Ok(outcomes) => {
                            for (system, outcome) in outcomes {
                                eprintln!(
                                    "{}",
                                    describe(system, *fault, round_number + 1, &outcome)
                                );
                                results.entry((system, *fault)).or_default().push(outcome);
                            }
                        }
                        Err(error) => {
                            let text = format!(
                                "{} {} round {}: {error}",
                                target.key(),
                                fault.key(),
                                round_number + 1
                            );
                            eprintln!("bench: {text}");
                            errors.push(text);
                            if errors.len() >= MAX_ERRORS {
                                eprintln!("bench: {MAX_ERRORS} errors; giving up");
                                break 'rounds;
                            }
                            // Whatever the round left: wait for the lab to settle again.
                            let settled = setup
                                .sampler()
                                .and_then(|s| setup.wait_stable(&s, Instant::now(), None));
                            if let Err(error) = settled {
                                errors.push(format!("recovering: {error}"));
                                break 'rounds;
                            }
                        }
                    }
                }
            }
        }
        round_number += 1;
        let elapsed = started.elapsed().as_secs();
        let total = elapsed * options.rounds as u64 / round_number as u64;
        eprintln!(
            "bench: round {round_number} of {} done after {elapsed} s (about {} min in all)",
            options.rounds,
            total.div_ceil(60)
        );
    }
    if std::env::var_os("SSINET_TEST_LOGS").is_none() && !errors.is_empty() {
        eprintln!("{}", setup.cluster.logs());
    }
    (results, errors)
}

fn one_round(
    setup: &mut Setup,
    results: &Results,
    options: &Options,
    fault: Fault,
    target: System,
    round_number: usize,
) -> Result<Vec<(System, Outcome)>> {
    let holders = setup.holders_now()?;
    let holder_of = |s: System| match holders.get(&s.ip()).map(Vec::as_slice) {
        Some([only]) => Some(*only),
        _ => None,
    };
    let node = holder_of(target).ok_or_else(|| ClusterError::Output {
        command: "the ownership sampler".into(),
        reason: format!("{} is not held by exactly one node", target.vip()),
    })?;
    let measured: Vec<System> = options
        .systems
        .iter()
        .copied()
        .filter(|s| {
            *s == target
                || (!options.separate
                    && results.get(&(*s, fault)).map_or(0, Vec::len) <= round_number
                    && holder_of(*s) == Some(node)
                    && s.software() == target.software())
        })
        .collect();
    let names: Vec<&str> = measured.iter().map(|s| s.key()).collect();
    eprintln!(
        "bench: {} on node {node} (holding {}) for {}",
        fault.key(),
        target.vip(),
        names.join(", ")
    );
    round(setup, fault, target, node, &measured)
}

/// One round of one system, for the progress log.
fn describe(system: System, fault: Fault, round: usize, outcome: &Outcome) -> String {
    let mut text = format!(
        "{} {} round {round}: node {} -> {:?}: gap {} ms, elsewhere {}, heal gap {}, dual {}, \
         none {}, moves {}/{}",
        system.key(),
        fault.key(),
        outcome.node,
        outcome.end,
        outcome.gap.as_millis(),
        ms(outcome.elsewhere),
        ms(outcome.heal_gap),
        outcome.dual,
        outcome.none,
        outcome.moves_fault,
        outcome.moves_heal,
    );
    if outcome.caretaker {
        text.push_str(", caretaker");
    }
    if let Some((after, nodes)) = &outcome.first_dual {
        text.push_str(&format!(
            ", first dual {nodes:?} {} ms after the death",
            after.as_millis()
        ));
    }
    if let Some(entry) = &outcome.black_hole {
        text.push_str(&format!(", black-holed (ARP entry {entry})"));
    }
    text
}

fn ms(value: Option<Duration>) -> String {
    value.map_or_else(|| "-".to_owned(), |d| format!("{} ms", d.as_millis()))
}

// ---------------------------------------------------------------------------------------------
// Reports.

fn read_first_line(path: &str, prefix: &str) -> Option<String> {
    let text = std::fs::read_to_string(path).ok()?;
    text.lines()
        .find_map(|line| line.strip_prefix(prefix))
        .map(|rest| rest.trim_start_matches([' ', '\t', ':']).trim().to_owned())
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|text| {
            text.split_whitespace()
                .take(3)
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_else(|_| "?".into())
}

fn command_line(program: &str, args: &[&str]) -> String {
    std::process::Command::new(program)
        .args(args)
        .output()
        .map(|out| {
            let text = if out.stdout.is_empty() {
                out.stderr
            } else {
                out.stdout
            };
            String::from_utf8_lossy(&text)
                .lines()
                .next()
                .unwrap_or_default()
                .trim()
                .to_owned()
        })
        .unwrap_or_else(|error| format!("({program}: {error})"))
}

/// The machine and versions, for the section's header.
fn machine(load_at_start: &str) -> String {
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let model = read_first_line("/proc/cpuinfo", "model name").unwrap_or_else(|| "?".into());
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|k| k.trim().to_owned())
        .unwrap_or_default();
    let ssinetd = Binaries::beside_current_exe()
        .map(|b| command_line(&b.ssinetd.to_string_lossy(), &["--version"]))
        .unwrap_or_default();
    let git = command_line(
        "git",
        &[
            "-C",
            env!("CARGO_MANIFEST_DIR"),
            "log",
            "-1",
            "--format=%h %cs",
        ],
    );
    let dirty = std::process::Command::new("git")
        .args(["-C", env!("CARGO_MANIFEST_DIR"), "status", "--porcelain"])
        .output()
        .is_ok_and(|out| !out.stdout.is_empty());
    format!(
        "Machine: {cores} cores ({model}), kernel {kernel}, load average {load_at_start} at the \
         start and {} at the end; {}; {ssinetd} (release, main at {git}{}); {}.",
        load_average(),
        command_line("keepalived", &["-v"]),
        if dirty { " with local changes" } else { "" },
        command_line("date", &["-u", "+%F %H:%M UTC"]),
    )
}

fn show(summary: Option<Summary>) -> String {
    summary.map_or_else(
        || "-".to_owned(),
        |s| {
            format!(
                "{} / {} / {}",
                s.p50.as_millis(),
                s.p99.as_millis(),
                s.max.as_millis()
            )
        },
    )
}

/// `1 (20)`, or `1 (18), 2 (2)`: how often each count came up.
fn tally(values: impl Iterator<Item = usize>) -> String {
    let mut counts: BTreeMap<usize, usize> = BTreeMap::new();
    for value in values {
        *counts.entry(value).or_default() += 1;
    }
    counts
        .iter()
        .map(|(value, times)| format!("{value} ({times})"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn print_failover(options: &Options, results: &Results, errors: &[String]) {
    println!(
        "| system | fault | rounds | client gap p50 / p99 / max (ms) | address elsewhere p50 / max (ms) | gap after the heal, max (ms) | client black-holed after the heal | dual-ownership samples | moves during the fault | moves at the heal | caretaker leader |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|");
    for system in &options.systems {
        for fault in &options.faults {
            let outcomes = results.get(&(*system, *fault)).cloned().unwrap_or_default();
            if outcomes.is_empty() {
                println!(
                    "| {} | {} | 0 | - | - | - | - | - | - | - | - |",
                    system.label(),
                    fault.label()
                );
                continue;
            }
            let gaps: Vec<Duration> = outcomes.iter().map(|o| o.gap).collect();
            let elsewhere: Vec<Duration> = outcomes.iter().filter_map(|o| o.elsewhere).collect();
            let moved = elsewhere.len();
            let elsewhere = Summary::of(&elsewhere).map_or_else(
                || "never".to_owned(),
                |s| {
                    let of = if moved == outcomes.len() {
                        String::new()
                    } else {
                        format!(" ({moved} of {})", outcomes.len())
                    };
                    format!("{} / {}{of}", s.p50.as_millis(), s.max.as_millis())
                },
            );
            let heal_gap = outcomes
                .iter()
                .filter_map(|o| o.heal_gap)
                .max()
                .map_or_else(|| "-".to_owned(), |d| d.as_millis().to_string());
            let black_holes = outcomes.iter().filter(|o| o.black_hole.is_some()).count();
            let heal_gap = if black_holes > 0 {
                format!("≥ {heal_gap}")
            } else {
                heal_gap
            };
            let caretaker = if *system == System::Ssinet {
                format!(
                    "{} of {}",
                    outcomes.iter().filter(|o| o.caretaker).count(),
                    outcomes.len()
                )
            } else {
                "n/a".to_owned()
            };
            println!(
                "| {} | {} | {} | {} | {elsewhere} | {heal_gap} | {black_holes} of {} | {} | {} | {} | {caretaker} |",
                system.label(),
                fault.label(),
                outcomes.len(),
                show(Summary::of(&gaps)),
                outcomes.len(),
                outcomes.iter().map(|o| o.dual).sum::<usize>(),
                tally(outcomes.iter().map(|o| o.moves_fault)),
                tally(outcomes.iter().map(|o| o.moves_heal)),
            );
        }
    }
    if !errors.is_empty() {
        println!();
        println!("Errors ({}):", errors.len());
        for error in errors {
            println!("- {}", error.lines().next().unwrap_or_default());
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Idle and soak.

/// One process measured in idle mode.
struct Watched {
    what: String,
    pid: u32,
    cpu_at_start: Duration,
}

fn idle(seconds: u64) -> Result<()> {
    let setup = Setup::start(false)?;
    eprintln!("bench: settled; letting it idle 5 s before measuring");
    std::thread::sleep(Duration::from_secs(5));
    let mut watched = Vec::new();
    let mut watch = |what: String, pid: u32| {
        if let Ok(cpu) = procstat::cpu_time(pid) {
            watched.push(Watched {
                what,
                pid,
                cpu_at_start: cpu,
            });
        }
    };
    for node in setup.cluster.running() {
        let Some(pid) = setup.cluster.pid(node) else {
            continue;
        };
        watch(format!("ssinetd, node {node}"), pid);
        for child in procstat::children(pid) {
            watch(
                format!("{} (fence guard), node {node}", procstat::comm(child)),
                child,
            );
        }
    }
    for (node, running) in &setup.keepalived {
        for pid in running.processes() {
            let role = if pid == running.pid() {
                "parent"
            } else {
                "VRRP child"
            };
            watch(format!("keepalived {role}, node {node}"), pid);
        }
    }
    let begun = Instant::now();
    eprintln!(
        "bench: measuring {} processes for {seconds} s",
        watched.len()
    );
    std::thread::sleep(Duration::from_secs(seconds));
    let elapsed = begun.elapsed().as_secs_f64();
    println!("| process | CPU, % of one core | RSS (MiB) |");
    println!("|---|---|---|");
    for process in &watched {
        let cpu = procstat::cpu_time(process.pid)
            .map(|now| now.saturating_sub(process.cpu_at_start).as_secs_f64());
        let rss = procstat::rss_kib(process.pid);
        match (cpu, rss) {
            (Ok(cpu), Ok(rss)) => println!(
                "| {} | {:.2} | {:.1} |",
                process.what,
                cpu / elapsed * 100.0,
                rss as f64 / 1024.0
            ),
            _ => println!("| {} | (exited) | - |", process.what),
        }
    }
    println!();
    println!(
        "Over {elapsed:.0} s after the lab settled, CPU time from /proc/PID/stat (utime + stime, \
         {} ms ticks), RSS from VmRSS at the end.",
        procstat::clock_tick().as_millis()
    );
    drop(setup);
    Ok(())
}

fn soak(seconds: u64) -> Result<()> {
    eprintln!(
        "bench: REMINDER: the soak is meant to run under load; start a build alongside, e.g. \
         `cargo build --release --workspace` in another terminal (both cores busy)"
    );
    let setup = Setup::start(true)?;
    let term = |setup: &Setup| {
        setup
            .ssinet_settled()
            .and_then(|leader| Some((leader, setup.cluster.status(leader)?.term)))
            .map_or_else(
                || "not settled".to_owned(),
                |(leader, term)| format!("node {leader}, term {term}"),
            )
    };
    let at_start = term(&setup);
    let sampler = setup.sampler()?;
    let probes = probe_all(&setup)?;
    let begun = Instant::now();
    let end = begun + Duration::from_secs(seconds);
    let mut next_report = begun + Duration::from_secs(60);
    while Instant::now() < end {
        std::thread::sleep(Duration::from_millis(500));
        if Instant::now() >= next_report {
            eprintln!(
                "bench: soak {} of {seconds} s, load average {}",
                begun.elapsed().as_secs(),
                load_average()
            );
            next_report += Duration::from_secs(60);
        }
    }
    let finished = Instant::now();
    let samples = sampler.stop();
    let at_end = term(&setup);
    let caretaker = setup
        .watch
        .as_ref()
        .is_some_and(|w| w.seen_between(begun, finished));
    println!(
        "| address | samples | moves | removals (samples with no holder) | dual-ownership samples | holder at the end | client attempts failed | longest client gap (ms) |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    for (system, probe) in probes {
        let log = probe.stop();
        let summary = summarize(&samples, system.ip(), begun, finished);
        let window: Vec<Sample> = samples
            .iter()
            .filter(|s| s.at >= begun && s.at <= finished)
            .cloned()
            .collect();
        let initial =
            window
                .first()
                .and_then(|s| match s.holders.get(&system.ip()).map(Vec::as_slice) {
                    Some([only]) => Some(*only),
                    _ => None,
                });
        let moves = owner_moves(&window, system.ip(), initial);
        let ok: Vec<Duration> = log
            .attempts
            .iter()
            .filter(|a| a.is_ok())
            .map(|a| a.at)
            .collect();
        let longest = ok.windows(2).map(|w| w[1] - w[0]).max();
        let removals = samples
            .iter()
            .filter(|s| s.at >= begun && s.at <= finished)
            .map(|s| s.holders.get(&system.ip()).is_some_and(|h| !h.is_empty()))
            .collect::<Vec<bool>>()
            .windows(2)
            .filter(|w| w[0] && !w[1])
            .count();
        println!(
            "| {} ({}) | {} | {} | {removals} ({}) | {} | {:?} | {} of {} | {} |",
            system.vip(),
            system.label(),
            summary.samples,
            moves.len(),
            summary.none,
            summary.dual,
            summary.holders_at_end,
            log.failures(),
            log.attempts.len(),
            longest.map_or_else(|| "-".to_owned(), |d| d.as_millis().to_string())
        );
    }
    println!();
    println!(
        "{seconds} s without faults; ssinet's leader at the start: {at_start}, at the end: \
         {at_end}; a node that may not direct led meanwhile: {caretaker}."
    );
    Ok(())
}

// ---------------------------------------------------------------------------------------------

fn main() {
    let load_at_start = load_average();
    let begun = Instant::now();
    // `cargo bench` passes `--bench`; the first other argument may name the mode.
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|arg| !arg.starts_with('-'))
        .collect();
    let mode = args
        .first()
        .cloned()
        .or_else(|| std::env::var("FAILOVER_MODE").ok())
        .unwrap_or_else(|| "failover".to_owned());
    if command_line("keepalived", &["-v"]).starts_with('(') {
        eprintln!(
            "bench: keepalived is not installed: `apt-get install keepalived` (its service is \
             not needed; the bench starts its own instances)"
        );
        std::process::exit(2);
    }
    let status = match mode.as_str() {
        "idle" => {
            let seconds = env_number("FAILOVER_IDLE_SECONDS").unwrap_or(60);
            idle(seconds).map(|()| true)
        }
        "soak" => {
            let seconds = args
                .get(1)
                .and_then(|a| a.parse().ok())
                .or_else(|| env_number("FAILOVER_SOAK_SECONDS"))
                .unwrap_or(600);
            soak(seconds).map(|()| true)
        }
        "failover" => {
            let options = Options {
                rounds: env_number("FAILOVER_ROUNDS")
                    .and_then(|n| usize::try_from(n).ok())
                    .unwrap_or(20),
                faults: env_list("FAILOVER_FAULTS", &Fault::ALL, Fault::key),
                systems: env_list("FAILOVER_SYSTEMS", &System::ALL, System::key),
                separate: std::env::var_os("FAILOVER_SEPARATE").is_some(),
            };
            eprintln!("bench: {options:?}");
            let (results, errors) = failover(&options);
            print_failover(&options, &results, &errors);
            println!();
            println!(
                "{} rounds per system and fault; a client attempt every 10 ms (50 ms connect \
                 timeout, 50 ms for the answer); ownership sampled every 10 ms.",
                options.rounds
            );
            Ok(errors.is_empty())
        }
        other => {
            eprintln!("unknown mode {other:?}: failover (default), idle, soak [SECONDS]");
            std::process::exit(2);
        }
    };
    println!();
    println!("{}", machine(&load_at_start));
    println!("The run took {} s.", begun.elapsed().as_secs());
    match status {
        Ok(true) => {}
        Ok(false) => std::process::exit(1),
        Err(error) => {
            eprintln!("bench failed: {error}");
            std::process::exit(1);
        }
    }
}

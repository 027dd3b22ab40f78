//! Failover and reaction benchmarks of ssinet's director against the keepalived baseline, in
//! the IPVS VM:
//!
//! ```sh
//! cargo build --workspace --bins
//! CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_RUNNER=$PWD/tests/vm/cargo-runner \
//!     cargo bench -p ssinet-e2e --features vm-tests --bench failover
//! ```
//!
//! Topology (both): 4 nodes, directors 1 and 2, real servers 3 and 4 answering on port 80, DR.
//! - failover gap: a client connects to CVIP:80 every 10 ms; the director dies (links cut,
//!   process SIGKILLed) `SSINET_BENCH_KILLS` times (default 20); the gap is the time from the
//!   last success before the death to the first success after it (p50/p99/max).
//! - connections surviving a director kill: 1,000 established, idle connections through the
//!   CVIP; the director dies; each sends a byte and expects its echo.
//! - ssinet only: `cvipctl port-weight set` until the kernel's weight changes, and `listen()`
//!   on a real server until it is a destination (p50/p99 over 50).
//!
//! Prints a markdown table for docs/BENCHMARKS.md. A half that fails prints its error in its
//! column; the other still runs.
#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use ssinet_e2e::PORT;
use ssinet_e2e::director::{self, PATIENCE};
use ssinet_e2e::keepalived::{self, Keepalived};
use ssinet_lab::cluster::{ClusterError, Result, cvip_holders};
use ssinet_testbed::netns::{Lab, Netns, Routing};
use ssinet_testbed::probe::{IdleConnections, ProbeConfig, Prober, Responder, Summary};
use std::net::SocketAddr;

const IDLE_CONNECTIONS: usize = 1000;
const REACTIONS: usize = 50;

fn kills() -> usize {
    std::env::var("SSINET_BENCH_KILLS")
        .ok()
        .and_then(|text| text.parse().ok())
        .unwrap_or(20)
}

/// One attempt at a time, every 10 ms: a connect that gets no answer within 50 ms is a
/// failure, so an outage is resolved to about 50 ms (a SYN to a live director is answered in a
/// few ms even under TCG; a lost one would otherwise wait for the kernel's 1 s retransmission).
fn probe_config() -> ProbeConfig {
    ProbeConfig {
        connect_timeout: Duration::from_millis(50),
        io_timeout: Duration::from_secs(2),
        ..ProbeConfig::default()
    }
}

/// What one half measured.
#[derive(Default)]
struct Figures {
    gaps: Option<Summary>,
    survivors: Option<usize>,
    weight: Option<Summary>,
    listen: Option<Summary>,
    error: Option<String>,
}

/// Polls `check` every 10 ms until it holds; `what` in the error after [`PATIENCE`].
fn wait(what: &str, mut check: impl FnMut() -> Result<bool>) -> Result<()> {
    let deadline = Instant::now() + PATIENCE;
    loop {
        if check()? {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(ClusterError::Timeout {
                what: what.to_owned(),
                seconds: PATIENCE.as_secs(),
                logs: String::new(),
            });
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// One director death seen by a client: probe, `kill` the director, wait for 3 successes
/// after its death. `kill` calls `died` the moment the director's links are cut (no request
/// begun later can reach it), before it finishes it off (its process and what it held).
fn measure_gap(
    client: &Netns,
    target: SocketAddr,
    kill: impl FnOnce(&mut dyn FnMut()) -> Result<()>,
) -> Result<Duration> {
    let prober = Prober::start(client, target, probe_config())?;
    wait("the probe to reach the CVIP", || {
        Ok(prober.snapshot().successes() >= 5)
    })?;
    let mut death = None;
    kill(&mut || death = Some(prober.now()))?;
    let killed_at = death.ok_or_else(|| ClusterError::Output {
        command: "the failover probe".into(),
        reason: "the kill never cut the director's links".into(),
    })?;
    wait("requests to succeed after the director died", || {
        Ok(prober
            .snapshot()
            .per_node_after(killed_at)
            .values()
            .sum::<usize>()
            >= 3)
    })?;
    let log = prober.stop();
    log.gap_around(killed_at)
        .ok_or_else(|| ClusterError::Output {
            command: "the failover probe".into(),
            reason: "no success on one side of the kill".into(),
        })
}

/// Opens the idle connections through the CVIP.
fn open_idle(client: &Netns, target: SocketAddr) -> Result<IdleConnections> {
    let idle = IdleConnections::open(client, target, IDLE_CONNECTIONS)?;
    if let Some(error) = &idle.first_open_error {
        eprintln!(
            "{} connections failed to open: {error}",
            idle.failed_to_open
        );
    }
    Ok(idle)
}

/// How many connections `ipvsadm -Lnc` lists in node `node`.
fn synced_connections(lab: &Lab, node: u8) -> Result<usize> {
    let text = lab.node(node).netns().exec_ok(&["ipvsadm", "-Lnc"])?;
    Ok(text.lines().filter(|line| line.starts_with("TCP")).count())
}

/// Gives the sync daemon up to 20 s to tell the standby about `want` connections; prints how
/// many it knows then. Not a precondition: with `mh` and `sloppy_tcp` a standby also picks up
/// a connection it never heard of, on the same real server.
fn wait_for_sync(lab: &Lab, standby: u8, want: usize) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut known = synced_connections(lab, standby)?;
    while known < want && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(500));
        known = synced_connections(lab, standby)?;
    }
    eprintln!(
        "the standby (node {standby}) knows {known} of {want} connections from the sync daemon"
    );
    Ok(())
}

fn real_servers(lab: &Lab) -> Result<Vec<Responder>> {
    [3, 4]
        .into_iter()
        .map(|n| {
            Ok(Responder::start(
                lab.node(n).netns(),
                PORT,
                &format!("n{n}"),
            )?)
        })
        .collect()
}

fn keepalived_half(figures: &mut Figures) -> Result<()> {
    let lab = Lab::up(director::spec(4, &[1, 2], Routing::Dr))?;
    let dir = tempfile_dir()?;
    let servers = [3u8, 4].map(|n| lab.node(n).interconnect_ip());
    for n in [3, 4] {
        keepalived::prepare_real_server(&lab, n)?;
    }
    let _responders = real_servers(&lab)?;
    let priority = |n: u8| if n == 1 { 100 } else { 90 };
    let start = |n: u8| Keepalived::start(&lab, dir.path(), n, priority(n), &servers);
    let mut running = vec![start(1)?, start(2)?];
    let master = || -> Result<Option<u8>> {
        Ok(match cvip_holders(&lab)?.as_slice() {
            [only] => Some(*only),
            _ => None,
        })
    };
    let backup_ready = |n: u8| -> Result<bool> {
        let log = std::fs::read_to_string(dir.path().join(format!("keepalived-n{n}.log")))
            .unwrap_or_default();
        Ok(log.contains("Entering BACKUP STATE"))
    };
    wait("a keepalived MASTER with both real servers", || {
        Ok(match master()? {
            Some(m) => director::destinations(&lab, m)? == [(3, 1), (4, 1)],
            None => false,
        })
    })?;
    let kill_master = |running: &mut Vec<Keepalived>, died: &mut dyn FnMut()| -> Result<u8> {
        let m = master()?.ok_or_else(|| ClusterError::Output {
            command: "ip -j addr".into(),
            reason: "no single MASTER holds the CVIP".into(),
        })?;
        lab.partition(m)?;
        died();
        if let Some(index) = running.iter().position(|k| k.node() == m) {
            running.remove(index).kill();
        }
        director::power_off_state(&lab, m)?;
        Ok(m)
    };
    let target = director::target_of(&lab);
    let mut gaps = Vec::new();
    for round in 0..kills() {
        progress(format!("keepalived kill {round}"));
        let mut dead = 0;
        let gap = measure_gap(lab.client(), target, |died| {
            dead = kill_master(&mut running, died)?;
            Ok(())
        })?;
        eprintln!("keepalived kill {round}: node {dead}, gap {gap:?}");
        gaps.push(gap);
        reboot_and_rejoin_keepalived(&lab, dead, &mut running, &start, &backup_ready)?;
    }
    figures.gaps = Summary::of(&gaps);
    progress("keepalived: opening the idle connections");
    let mut idle = open_idle(lab.client(), target)?;
    let standby = if master()? == Some(1) { 2 } else { 1 };
    wait_for_sync(&lab, standby, idle.len())?;
    kill_master(&mut running, &mut || {})?;
    wait("the BACKUP to take over", || Ok(master()? == Some(standby)))?;
    figures.survivors = Some(idle.check(Duration::from_secs(20)));
    Ok(())
}

fn reboot_and_rejoin_keepalived(
    lab: &Lab,
    dead: u8,
    running: &mut Vec<Keepalived>,
    start: &dyn Fn(u8) -> Result<Keepalived>,
    backup_ready: &dyn Fn(u8) -> Result<bool>,
) -> Result<()> {
    lab.restore(dead)?;
    running.push(start(dead)?);
    wait(&format!("keepalived on node {dead} to be BACKUP"), || {
        backup_ready(dead)
    })?;
    // It enters BACKUP at start ("(init)"); two advertisements later it has heard the MASTER.
    std::thread::sleep(Duration::from_secs(2));
    Ok(())
}

fn tempfile_dir() -> Result<tempfile::TempDir> {
    tempfile::TempDir::new().map_err(|cause| ClusterError::Io {
        action: "create a temporary directory in",
        path: std::env::temp_dir(),
        cause,
    })
}

fn ssinet_half(figures: &mut Figures) -> Result<()> {
    let (mut cluster, mut current) = director::start(director::spec(4, &[1, 2], Routing::Dr))?;
    let mut responders = real_servers(&cluster.lab)?;
    director::wait_for_destinations(&cluster, current, &[(3, 1), (4, 1)])?;
    // A second, non-owning handle on the client namespace: the probe runs while the
    // cluster is changed.
    let client = Netns::attach(cluster.lab.client().name())?;
    let target = director::target(&cluster);
    let mut gaps = Vec::new();
    for round in 0..kills() {
        progress(format!("ssinet kill {round}"));
        let dead = current;
        let gap = measure_gap(&client, target, |died| {
            cluster.lab.partition(dead)?;
            died();
            director::kill_director(&mut cluster, dead)
        })?;
        eprintln!("ssinet kill {round}: node {dead}, gap {gap:?}");
        gaps.push(gap);
        current = director::wait_for_director(&cluster, &cluster.running())?;
        if std::env::var_os("SSINET_BENCH_VERBOSE").is_some() {
            // What the survivors did: role changes with their times, to explain a long gap.
            for line in cluster.logs().lines().filter(|line| {
                line.starts_with("---")
                    || [
                        "raft role",
                        "data plane role",
                        "caretaker",
                        "network change step=add",
                    ]
                    .iter()
                    .any(|what| line.contains(what))
            }) {
                eprintln!("  {line}");
            }
        }
        director::revive(&mut cluster, dead)?;
        // Ready again once the revived standby has pre-programmed the table.
        director::wait_for_destinations(&cluster, dead, &[(3, 1), (4, 1)])?;
    }
    figures.gaps = Summary::of(&gaps);

    let standby = if current == 1 { 2 } else { 1 };
    progress("ssinet: opening the idle connections");
    let mut idle = open_idle(&client, target)?;
    wait_for_sync(&cluster.lab, standby, idle.len())?;
    progress(format!(
        "ssinet: killing director {current} under the idle connections"
    ));
    director::kill_director(&mut cluster, current)?;
    progress("ssinet: waiting for the standby to take over");
    wait("the standby to take over", || {
        Ok(cvip_holders(&cluster.lab)? == [standby])
    })?;
    progress("ssinet: checking the idle connections");
    figures.survivors = Some(idle.check(Duration::from_secs(20)));
    eprintln!(
        "ssinet: {} of {} connections survived",
        figures.survivors.unwrap_or(0),
        idle.len()
    );
    progress(format!("ssinet: reviving node {current}"));
    director::revive(&mut cluster, current)?;
    current = standby;

    let mut weights = Vec::new();
    for round in 0..REACTIONS {
        progress(format!("ssinet: weight change {round}"));
        let weight = 2 + u32::try_from(round % 2).unwrap_or(0);
        let begun = Instant::now();
        cluster.set_port_weight(current, "tcp", PORT, weight, Some(3))?;
        wait("the kernel weight to change", || {
            Ok(director::destinations(&cluster.lab, current)?.contains(&(3, weight)))
        })?;
        weights.push(begun.elapsed());
    }
    figures.weight = Summary::of(&weights);

    let mut listens = Vec::new();
    let node3 = responders.remove(0);
    let weight3 = director::destinations(&cluster.lab, current)?
        .into_iter()
        .find(|(node, _)| *node == 3)
        .map_or(1, |(_, weight)| weight);
    node3.stop();
    for round in 0..REACTIONS {
        progress(format!("ssinet: listen {round}"));
        // Gone, or draining at weight 0 (it is deleted only after the drain time): either way
        // it gets no new connections until it listens again.
        wait("node 3 to leave the table or drain", || {
            Ok(!director::destinations(&cluster.lab, current)?
                .iter()
                .any(|(node, weight)| *node == 3 && *weight > 0))
        })?;
        let begun = Instant::now();
        let responder = Responder::start(cluster.lab.node(3).netns(), PORT, "n3")?;
        wait("node 3 to become a destination", || {
            Ok(director::destinations(&cluster.lab, current)?.contains(&(3, weight3)))
        })?;
        listens.push(begun.elapsed());
        responder.stop();
    }
    figures.listen = Summary::of(&listens);
    Ok(())
}

fn show(summary: Option<Summary>) -> String {
    summary.map_or_else(
        || "-".to_owned(),
        |s| {
            format!(
                "{:.0} / {:.0} / {:.0} ms",
                s.p50.as_secs_f64() * 1000.0,
                s.p99.as_secs_f64() * 1000.0,
                s.max.as_secs_f64() * 1000.0
            )
        },
    )
}

/// What the bench is doing, and since when: a watchdog reports a step stuck for a minute.
static PROGRESS: std::sync::Mutex<Option<(Instant, String)>> = std::sync::Mutex::new(None);

fn progress(step: impl Into<String>) {
    let step = step.into();
    eprintln!("bench: {step}");
    *PROGRESS.lock().unwrap_or_else(|p| p.into_inner()) = Some((Instant::now(), step));
}

/// Every 10 s: when the current step has run for over a minute, prints it and every task
/// sleeping uninterruptibly in the kernel (state D) with its kernel stack, once per step.
fn start_watchdog() {
    std::thread::spawn(|| {
        let mut reported = String::new();
        loop {
            std::thread::sleep(Duration::from_secs(10));
            let Some((since, step)) = PROGRESS.lock().unwrap_or_else(|p| p.into_inner()).clone()
            else {
                continue;
            };
            if since.elapsed() < Duration::from_secs(60) || reported == step {
                continue;
            }
            eprintln!("bench: stuck for {:?} in: {step}", since.elapsed());
            for task in stuck_tasks() {
                eprintln!("{task}");
            }
            reported = step;
        }
    });
}

/// `pid/tid (comm)` and the kernel stack of every task in state D.
fn stuck_tasks() -> Vec<String> {
    let mut found = Vec::new();
    let Ok(processes) = std::fs::read_dir("/proc") else {
        return found;
    };
    for process in processes.flatten() {
        let Ok(tasks) = std::fs::read_dir(process.path().join("task")) else {
            continue;
        };
        for task in tasks.flatten() {
            let stat = std::fs::read_to_string(task.path().join("stat")).unwrap_or_default();
            // `pid (comm) S ...`: the state follows the last ')'.
            let state = stat.rsplit(')').next().unwrap_or("").trim_start();
            if !state.starts_with('D') {
                continue;
            }
            let comm = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
            let stack = std::fs::read_to_string(task.path().join("stack")).unwrap_or_default();
            found.push(format!(
                "task {}/{} ({}) in D state:\n{stack}",
                process.file_name().to_string_lossy(),
                task.file_name().to_string_lossy(),
                comm.trim()
            ));
        }
    }
    found
}

/// 1,000 idle connections need more descriptors than the default soft limit of 1,024.
fn raise_fd_limit() {
    let limit = libc::rlimit {
        rlim_cur: 65536,
        rlim_max: 65536,
    };
    // SAFETY: setrlimit reads a valid rlimit; failure only leaves the old limit.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limit) } != 0 {
        eprintln!(
            "cannot raise the descriptor limit: {}",
            std::io::Error::last_os_error()
        );
    }
}

fn main() {
    raise_fd_limit();
    start_watchdog();
    // `cargo bench` passes `--bench`; a filter argument may pick one half.
    let filter: Option<String> = std::env::args().skip(1).find(|arg| !arg.starts_with('-'));
    let wanted = |half: &str| filter.as_deref().is_none_or(|f| half.contains(f));
    let mut ssinet = Figures::default();
    let mut keepalived = Figures::default();
    if wanted("keepalived")
        && let Err(error) = keepalived_half(&mut keepalived)
    {
        eprintln!("keepalived half failed: {error}");
        keepalived.error = Some(error.to_string());
    }
    if wanted("ssinet")
        && let Err(error) = ssinet_half(&mut ssinet)
    {
        eprintln!("ssinet half failed: {error}");
        ssinet.error = Some(error.to_string());
    }
    let first_line = |figures: &Figures| {
        figures
            .error
            .as_deref()
            .map(|e| format!(" (failed: {})", e.lines().next().unwrap_or_default()))
            .unwrap_or_default()
    };
    let survivors = |figures: &Figures| {
        figures
            .survivors
            .map_or_else(|| "-".to_owned(), |n| format!("{n} of {IDLE_CONNECTIONS}"))
    };
    let kills = kills();
    println!(
        "| measure (4 nodes, DR, in the VM under TCG) | ssinet{} | keepalived{} |",
        first_line(&ssinet),
        first_line(&keepalived)
    );
    println!("|---|---|---|");
    println!(
        "| failover gap, p50 / p99 / max ({kills} director kills, probe every 10 ms) | {} | {} |",
        show(ssinet.gaps),
        show(keepalived.gaps)
    );
    println!(
        "| connections surviving a director kill | {} | {} |",
        survivors(&ssinet),
        survivors(&keepalived)
    );
    println!(
        "| `port-weight set` to kernel weight, p50 / p99 / max ({REACTIONS}) | {} | n/a (edit + reload) |",
        show(ssinet.weight)
    );
    println!(
        "| `listen()` to IPVS destination, p50 / p99 / max ({REACTIONS}) | {} | n/a (static config) |",
        show(ssinet.listen)
    );
    if ssinet.error.is_some() || keepalived.error.is_some() {
        std::process::exit(1);
    }
}

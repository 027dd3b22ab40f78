//! `ssinet-lab demo`: start a cluster, show the load spread, kill the director, show the gap.
use anyhow::{Context, bail};
use clap::Args;
use nix::sys::signal::{SaFlags, SigAction, SigHandler, SigSet, Signal, sigaction};
use ssinet_lab::cluster::Binaries;
use ssinet_lab::demo::{self, DemoOptions, DemoReport};
use ssinet_testbed::netns::Routing;
use ssinet_testbed::vm::{self, VmSpec};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Run here even if this kernel has no IPVS (the VM's guest side uses it).
    #[arg(long)]
    here: bool,
    /// Nodes in the cluster (nodes 1 and 2 are the directors).
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u8).range(2..=9))]
    nodes: u8,
    /// LVS forwarding: dr or nat.
    #[arg(long, default_value = "dr", value_parser = parse_routing)]
    routing: Routing,
    /// Requests for the spread table.
    #[arg(long, default_value_t = 300)]
    requests: usize,
}

fn parse_routing(text: &str) -> Result<Routing, String> {
    match text.to_ascii_lowercase().as_str() {
        "dr" => Ok(Routing::Dr),
        "nat" => Ok(Routing::Nat),
        _ => Err(format!("{text:?}: use dr or nat")),
    }
}

static INTERRUPTED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_interrupt(_: libc::c_int) {
    INTERRUPTED.store(true, Ordering::SeqCst);
}

pub fn run(args: DemoArgs) -> anyhow::Result<ExitCode> {
    // Found before anything starts, here and (the same paths) in the VM.
    let binaries = Binaries::beside_current_exe()?;
    if !args.here && !demo::kernel_has_ipvs() {
        return rerun_in_vm(&args);
    }
    let handler = SigAction::new(
        SigHandler::Handler(on_interrupt),
        SaFlags::empty(),
        SigSet::empty(),
    );
    for signal in [Signal::SIGINT, Signal::SIGTERM] {
        // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
        unsafe { sigaction(signal, &handler) }.context("install the Ctrl-C handler")?;
    }
    let options = DemoOptions {
        nodes: args.nodes,
        routing: args.routing,
        requests: args.requests,
    };
    let report = demo::run(options, binaries, &INTERRUPTED, &mut |line| {
        println!("== {line}");
    })?;
    print_report(&report, args.requests);
    println!("== torn down: every namespace and process is gone");
    Ok(ExitCode::SUCCESS)
}

fn rerun_in_vm(args: &DemoArgs) -> anyhow::Result<ExitCode> {
    println!("== this kernel has no IPVS (/proc/net/ip_vs is missing): running the demo in the VM");
    let exe = std::env::current_exe().context("find this program")?;
    let routing = match args.routing {
        Routing::Dr => "dr",
        Routing::Nat => "nat",
    };
    let argv = [
        exe.into_os_string(),
        "demo".into(),
        "--here".into(),
        "--nodes".into(),
        args.nodes.to_string().into(),
        "--routing".into(),
        routing.into(),
        "--requests".into(),
        args.requests.to_string().into(),
    ];
    let spec = VmSpec {
        timeout: Duration::from_secs(600),
        ..VmSpec::default()
    }
    .inherit_env();
    let outcome = vm::run(&spec, &argv).context("run the demo in the VM")?;
    if !outcome.success() {
        bail!("the demo in the VM ended: {outcome}");
    }
    Ok(ExitCode::SUCCESS)
}

fn print_report(report: &DemoReport, requests: usize) {
    println!();
    println!(
        "{requests} requests to the CVIP through director node {}:",
        report.first_director
    );
    println!("  {:<10} {:>8} {:>6}", "served by", "requests", "share");
    let total: usize = report.spread.values().sum::<usize>().max(1);
    for (node, count) in &report.spread {
        let share = *count as f64 * 100.0 / total as f64;
        println!("  {node:<10} {count:>8} {share:>5.0}%");
    }
    println!();
    println!(
        "director node {} killed; node {} took over",
        report.first_director, report.second_director
    );
    match report.gap {
        Some(gap) => println!(
            "  the client saw no answer for {:.0} ms ({} attempts failed; one every 10 ms, 50 ms to connect)",
            gap.as_secs_f64() * 1000.0,
            report.failed_during_failover
        ),
        None => println!("  the probe did not cover the failover"),
    }
}

//! Benchmark inside the IPVS VM (not a pass/fail test): a full reconcile of 10,000 services x 10
//! destinations from an empty table against `ipvsadm -R` restoring the same table, and the time
//! one weight change takes to reach the kernel. Results go to docs/BENCHMARKS.md.
//!
//!   CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_RUNNER=$PWD/tests/vm/cargo-runner \
//!     cargo bench -p ssinet-ipvs --features vm-tests --bench reconcile
#![allow(clippy::unwrap_used)]

use std::io::Write;
use std::net::{IpAddr, Ipv4Addr};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use ssinet_ipvs::reconcile::{DrainState, plan, read_owned};
use ssinet_ipvs::*;
use ssinet_testbed::netns::Netns;

const SERVICES: usize = 10_000;
const DESTS: usize = 10;
const WEIGHT_CHANGES: usize = 1_000;

fn vip(i: usize) -> (IpAddr, u16) {
    // 100 virtual addresses x 100 ports.
    let octet = |n: usize| u8::try_from(n).expect("SERVICES keeps each octet below 256");
    let a = IpAddr::V4(Ipv4Addr::new(
        10,
        0,
        octet(i / 100 / 250),
        octet(i / 100 % 250 + 1),
    ));
    (a, 1000 + u16::try_from(i % 100).expect("below 100"))
}

fn real_server(j: usize) -> IpAddr {
    let host = u8::try_from(j + 1).expect("fewer than 255 real servers");
    IpAddr::V4(Ipv4Addr::new(10, 2, 0, host))
}

fn build() -> (DesiredTable, Ownership, String) {
    let mut desired = DesiredTable::new();
    let mut owned = Ownership::default();
    let mut script = String::with_capacity(SERVICES * (DESTS + 1) * 48);
    for i in 0..SERVICES {
        let (addr, port) = vip(i);
        owned.addresses.insert(addr);
        let service = Service::new(ServiceKey::tcp(addr, port), Scheduler::WeightedRoundRobin);
        script.push_str(&format!("-A -t {addr}:{port} -s wrr\n"));
        let destinations: Vec<Destination> = (0..DESTS)
            .map(|j| {
                let w = 1 + u32::try_from(j % 3).expect("below 3");
                script.push_str(&format!(
                    "-a -t {addr}:{port} -r {}:{port} -g -w {w}\n",
                    real_server(j)
                ));
                Destination::new(real_server(j), port, Forwarding::DirectRoute, w)
            })
            .collect();
        desired
            .insert(DesiredService {
                service,
                destinations,
            })
            .unwrap();
    }
    (desired, owned, script)
}

fn ipvsadm(args: &[&str], input: Option<&str>) {
    let mut child = Command::new("ipvsadm")
        .args(args)
        .stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .spawn()
        .unwrap();
    if let Some(text) = input {
        child
            .stdin
            .take()
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
    }
    assert!(child.wait().unwrap().success(), "ipvsadm {args:?}");
}

/// The sample at quantile `q` (0.0..=1.0) of sorted samples, the index rounded to the nearest.
/// The float index lies in 0..=len-1 for such a `q`; `as` saturates (a NaN or negative `q`
/// gives index 0) and the `min` keeps a `q` above 1 at the last sample.
#[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
fn percentile(sorted: &[Duration], q: f64) -> Duration {
    let last = sorted.len() - 1;
    sorted[((last as f64 * q).round() as usize).min(last)]
}

async fn count(c: &mut IpvsClient) -> (usize, usize) {
    let services = c.services().await.unwrap();
    let mut dests = 0;
    for s in services.iter().step_by(97) {
        dests += c.destinations(&s.service.key).await.unwrap().len();
    }
    (services.len(), dests)
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// Builds the table with `ipvsadm -R` in a fresh namespace (its own IPVS table, with no deleted
/// destinations in the kernel's trash list to search) and returns the time it took.
fn with_ipvsadm(script: &str) -> Duration {
    let ns = Netns::new("bench-ipvsadm").unwrap();
    ns.run(|| {
        runtime().block_on(async {
            let mut c = IpvsClient::connect().await.unwrap();
            let t = Instant::now();
            ipvsadm(&["-R"], Some(script));
            let took = t.elapsed();
            let (s, d) = count(&mut c).await;
            assert_eq!(
                (s, d),
                (SERVICES, SERVICES.div_ceil(97) * DESTS),
                "ipvsadm -R built the table"
            );
            // Stop its estimators before the next measurement.
            c.flush().await.unwrap();
            took
        })
    })
    .unwrap()
}

fn main() {
    // Measurements are in fresh namespaces: a namespace's flushed destinations stay in the
    // kernel's trash list for a while and every later add searches that list.
    let (desired, owned, script) = build();
    let uname =
        String::from_utf8(Command::new("uname").arg("-r").output().unwrap().stdout).unwrap();
    println!("kernel {}", uname.trim());
    println!("table: {SERVICES} services x {DESTS} destinations (DR, wrr)");
    let ipvsadm_time = with_ipvsadm(&script);
    let ns = Netns::new("bench-ours").unwrap();
    ns.run(|| {
        runtime().block_on(async {
            let mut c = IpvsClient::connect().await.unwrap();
            let sample = SERVICES.div_ceil(97);
            let mut r = Reconciler::new(PlanOptions::default());
            let t = Instant::now();
            let report = r.run(&mut c, &desired, &owned).await.unwrap();
            let ours = t.elapsed();
            assert!(report.failures.is_empty(), "{:?}", report.failures.first());
            assert_eq!(report.changes, SERVICES * (DESTS + 1));
            let (s, d) = count(&mut c).await;
            assert_eq!((s, d), (SERVICES, sample * DESTS), "the reconciler built the table");
            println!(
                "ipvsadm -R {:.3} s, reconcile from empty {:.3} s, ratio ipvsadm/ours {:.2}",
                ipvsadm_time.as_secs_f64(),
                ours.as_secs_f64(),
                ipvsadm_time.as_secs_f64() / ours.as_secs_f64()
            );

            // One weight change on the full table: time from the request to the kernel's ack.
            let keys: Vec<&DesiredService> = desired.iter().collect();
            let mut times = Vec::with_capacity(WEIGHT_CHANGES);
            for n in 0..WEIGHT_CHANGES {
                let ds = keys[(n * 7919) % keys.len()];
                let mut d = ds.destinations[n % DESTS].clone();
                d.weight = 10 + u32::try_from(n % 5).expect("below 5");
                let t = Instant::now();
                c.edit_destination(&ds.service, &d).await.unwrap();
                times.push(t.elapsed());
            }
            times.sort();
            println!(
                "weight change (SET_DEST, acked) x{WEIGHT_CHANGES}: p50 {:.3} ms, p99 {:.3} ms, max {:.3} ms",
                percentile(&times, 0.50).as_secs_f64() * 1e3,
                percentile(&times, 0.99).as_secs_f64() * 1e3,
                times.last().unwrap().as_secs_f64() * 1e3
            );

            // The same kind of change found by a full level-triggered pass: read, plan, apply.
            let t = Instant::now();
            let current = read_owned(&mut c, &owned).await.unwrap();
            let read = t.elapsed();
            let t = Instant::now();
            let p = plan(&current, &desired, &owned, &DrainState::new(), PlanOptions::default(), Instant::now());
            let planned = t.elapsed();
            println!(
                "full pass on the table: read {:.3} s, plan {:.3} ms ({} weight edits found)",
                read.as_secs_f64(),
                planned.as_secs_f64() * 1e3,
                p.changes.len()
            );
            c.flush().await.unwrap();
        })
    })
    .unwrap();
}

//! Remote sockets against a direct socket on the same path, in one run:
//!
//!     cargo build --release --workspace --bins
//!     cargo bench -p ssinet-e2e --bench rsock
//!
//! A two-node namespace lab with real ssinetd agents. A plain server runs in node 1. Four
//! clients, each this same program: direct from node 1 (loopback path), `ssi-exec --origin 1` on
//! node 1 (local origin), direct from node 2 (over the lab's veth and bridge), and
//! `ssi-exec --origin 1` on node 2 (remote origin: the bytes cross the interconnect to node 1's
//! agent, which holds the real socket). Each client measures bulk throughput (one connection,
//! 256 KiB writes), 1-byte round trips (TCP_NODELAY) and connect + first byte + close.
//! Environment: RSOCK_BENCH_MIB (default 2048), RSOCK_BENCH_RTTS (20000),
//! RSOCK_BENCH_CONNECTS (2000), RSOCK_BENCH_RUNS (3, the median is reported).
#![allow(clippy::unwrap_used)]

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::process::Command;
use std::time::{Duration, Instant};

use ssinet_lab::cluster::{Binaries, Cluster, rsock_socket_beside};
use ssinet_testbed::netns::LabSpec;
use ssinet_testbed::preload::preload_library;

const PORT: u16 = 9300;

/// The variable's value as a `T`, or `default` when it is unset, unparsable or out of `T`'s range.
fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// One connection at a time per thread: 'S' sink (reads to EOF, answers the byte count),
/// 'E' echo (1-byte ping-pong until EOF), 'C' connect test (answers one byte, closes).
fn server(addr: SocketAddr) {
    let listener = TcpListener::bind(addr).unwrap();
    println!("listening");
    for conn in listener.incoming() {
        let Ok(mut conn) = conn else { continue };
        std::thread::spawn(move || {
            let _ = conn.set_nodelay(true);
            let mut mode = [0u8; 1];
            if conn.read_exact(&mut mode).is_err() {
                return;
            }
            match mode[0] {
                b'S' => {
                    let mut buf = vec![0u8; 256 << 10];
                    let mut total = 0u64;
                    while let Ok(n) = conn.read(&mut buf) {
                        if n == 0 {
                            break;
                        }
                        total += n as u64;
                    }
                    let _ = conn.write_all(&total.to_le_bytes());
                }
                b'E' => {
                    let mut byte = [0u8; 1];
                    while conn.read_exact(&mut byte).is_ok() {
                        if conn.write_all(&byte).is_err() {
                            break;
                        }
                    }
                }
                _ => {
                    let _ = conn.write_all(b"c");
                }
            }
        });
    }
}

/// The sample at quantile `q` (0.0..=1.0) of sorted samples in µs, the index rounded to the
/// nearest. The float index lies in 0..=len-1 for such a `q`; `as` saturates (a NaN or
/// negative `q` gives index 0) and the `min` keeps a `q` above 1 at the last sample.
#[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
fn percentile(sorted: &[Duration], q: f64) -> f64 {
    let last = sorted.len() - 1;
    sorted[((last as f64 * q).round() as usize).min(last)].as_secs_f64() * 1e6
}

/// Prints one JSON line: gbit_s, rtt_p50_us, rtt_p99_us, connect_p50_us, connect_p99_us.
fn client(addr: SocketAddr) {
    let mib: u64 = env_or("RSOCK_BENCH_MIB", 2048);
    let rtts: usize = env_or("RSOCK_BENCH_RTTS", 20000);
    let connects: usize = env_or("RSOCK_BENCH_CONNECTS", 2000);

    let mut bulk = TcpStream::connect(addr).unwrap();
    let chunk = vec![0x5au8; 256 << 10];
    let total = mib << 20;
    let start = Instant::now();
    bulk.write_all(b"S").unwrap();
    let mut sent = 0u64;
    while sent < total {
        bulk.write_all(&chunk).unwrap();
        sent += chunk.len() as u64;
    }
    bulk.shutdown(Shutdown::Write).unwrap();
    let mut count = [0u8; 8];
    bulk.read_exact(&mut count).unwrap();
    let elapsed = start.elapsed();
    assert_eq!(
        u64::from_le_bytes(count),
        sent,
        "the sink counted a different size"
    );
    let gbit_s = sent as f64 * 8.0 / elapsed.as_secs_f64() / 1e9;

    let mut echo = TcpStream::connect(addr).unwrap();
    echo.set_nodelay(true).unwrap();
    echo.write_all(b"E").unwrap();
    let mut samples = Vec::with_capacity(rtts);
    let mut byte = [0u8; 1];
    for i in 0..rtts + 100 {
        let t = Instant::now();
        echo.write_all(b"x").unwrap();
        echo.read_exact(&mut byte).unwrap();
        if i >= 100 {
            samples.push(t.elapsed());
        }
    }
    samples.sort();
    let (rtt50, rtt99) = (percentile(&samples, 0.5), percentile(&samples, 0.99));

    let mut samples = Vec::with_capacity(connects);
    for _ in 0..connects {
        let t = Instant::now();
        let mut c = TcpStream::connect(addr).unwrap();
        c.write_all(b"C").unwrap();
        c.read_exact(&mut byte).unwrap();
        drop(c);
        samples.push(t.elapsed());
    }
    samples.sort();
    let (c50, c99) = (percentile(&samples, 0.5), percentile(&samples, 0.99));
    println!(
        "{{\"gbit_s\":{gbit_s:.2},\"rtt_p50_us\":{rtt50:.1},\"rtt_p99_us\":{rtt99:.1},\"connect_p50_us\":{c50:.0},\"connect_p99_us\":{c99:.0}}}"
    );
}

#[derive(Clone, Copy, Default)]
struct Figures {
    gbit_s: f64,
    rtt50: f64,
    rtt99: f64,
    c50: f64,
    c99: f64,
}

fn parse(line: &str) -> Figures {
    let v: serde_json::Value = serde_json::from_str(line.trim())
        .unwrap_or_else(|e| panic!("client printed {line:?}: {e}"));
    let f = |k: &str| v[k].as_f64().unwrap();
    Figures {
        gbit_s: f("gbit_s"),
        rtt50: f("rtt_p50_us"),
        rtt99: f("rtt_p99_us"),
        c50: f("connect_p50_us"),
        c99: f("connect_p99_us"),
    }
}

fn median(runs: &[Figures], pick: impl Fn(&Figures) -> f64) -> f64 {
    let mut v: Vec<f64> = runs.iter().map(pick).collect();
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("--server") => return server(args[2].parse().unwrap()),
        Some("--client") => return client(args[2].parse().unwrap()),
        _ => {}
    }
    let spec = LabSpec {
        nodes: 2,
        directors: vec![1, 2],
        ..LabSpec::default()
    };
    let cluster = Cluster::start(spec, Binaries::beside_current_exe().unwrap()).unwrap();
    cluster
        .wait_until_seeded(&[1, 2], Duration::from_secs(60))
        .unwrap();
    let profile = cluster.binaries.ssinetd.parent().unwrap().to_path_buf();
    let preload = preload_library(&profile).unwrap();
    let me = std::env::current_exe().unwrap();
    let server_addr = SocketAddr::from((cluster.lab.node(1).external_ip(), PORT));

    let mut server = cluster.lab.node(1).netns().command(&me);
    server
        .arg("--server")
        .arg(format!("0.0.0.0:{PORT}"))
        .stdout(std::process::Stdio::piped());
    let mut server = cluster.lab.node(1).netns().spawn(server).unwrap();
    let mut ready = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(server.take_stdout().unwrap()),
        &mut ready,
    )
    .unwrap();
    assert_eq!(ready.trim(), "listening");

    let run = |node: u8, homed: bool| -> Figures {
        let mut command: Command = if homed {
            let mut c = cluster
                .lab
                .node(node)
                .netns()
                .command(profile.join("ssi-exec"));
            c.arg("--origin")
                .arg("1")
                .arg("--preload")
                .arg(&preload)
                .arg("--broker")
                .arg(rsock_socket_beside(&cluster.socket(node)))
                .arg("--")
                .arg(&me);
            c
        } else {
            cluster.lab.node(node).netns().command(&me)
        };
        command.arg("--client").arg(server_addr.to_string());
        let out = command.output().unwrap();
        assert!(
            out.status.success(),
            "client on node {node} (homed {homed}): {}",
            String::from_utf8_lossy(&out.stderr)
        );
        parse(&String::from_utf8_lossy(&out.stdout))
    };
    let runs: usize = env_or("RSOCK_BENCH_RUNS", 3);
    let cases = [
        ("direct, node 1 to itself", 1u8, false),
        ("rsock, local origin (app on node 1, origin 1)", 1, true),
        ("direct, node 2 to node 1", 2, false),
        ("rsock, remote origin (app on node 2, origin 1)", 2, true),
    ];
    // Interleaved, so a burst of load on the machine hits every case alike.
    let mut per_case: Vec<Vec<Figures>> = vec![Vec::new(); cases.len()];
    for _ in 0..runs {
        for (i, (_, node, homed)) in cases.iter().enumerate() {
            per_case[i].push(run(*node, *homed));
        }
    }
    let results: Vec<Figures> = per_case
        .iter()
        .map(|r| Figures {
            gbit_s: median(r, |f| f.gbit_s),
            rtt50: median(r, |f| f.rtt50),
            rtt99: median(r, |f| f.rtt99),
            c50: median(r, |f| f.c50),
            c99: median(r, |f| f.c99),
        })
        .collect();
    println!(
        "| path | throughput Gbit/s (vs direct) | 1-byte RTT p50 / p99 µs (added p50) | connect+byte+close p50 / p99 µs |"
    );
    println!("|---|---|---|---|");
    for (i, (name, _, _)) in cases.iter().enumerate() {
        let f = results[i];
        let direct = results[i - i % 2];
        println!(
            "| {name} | {:.2} ({:.0} %) | {:.1} / {:.1} (+{:.1}) | {:.0} / {:.0} |",
            f.gbit_s,
            f.gbit_s / direct.gbit_s * 100.0,
            f.rtt50,
            f.rtt99,
            f.rtt50 - direct.rtt50,
            f.c50,
            f.c99
        );
    }
    let _ = server.kill();
}

//! Cost of one listing (`ListenerDump::listeners`: four sock_diag dumps) with many sockets,
//! in a fresh network namespace so only the sockets made here are walked. Needs root (for the
//! namespace). `cargo bench -p ssinet-listeners --bench dump`

use std::hint::black_box;
use std::net::{TcpListener, UdpSocket};

use criterion::{BenchmarkId, Criterion, Throughput};
use ssinet_listeners::ListenerDump;
use ssinet_testbed::netns::Netns;

/// Ports from here up; the namespace has nothing else bound.
const FIRST_PORT: u16 = 20000;

fn bench_listing(c: &mut Criterion) {
    let mut group = c.benchmark_group("listeners");
    for count in [10u16, 1000, 10000] {
        let tcp: Vec<TcpListener> = (0..count)
            .map(|i| {
                let port = FIRST_PORT + i;
                // Half IPv4, half IPv6 (v6-only would not matter: they are separate dumps).
                let at = if i % 2 == 0 {
                    format!("0.0.0.0:{port}")
                } else {
                    format!("[::]:{port}")
                };
                TcpListener::bind(at).expect("a free port in a fresh namespace")
            })
            .collect();
        let mut dump = ListenerDump::new().expect("sock_diag socket");
        assert_eq!(dump.listeners().expect("a dump").len(), usize::from(count));
        group.throughput(Throughput::Elements(u64::from(count)));
        group.bench_with_input(BenchmarkId::new("tcp_listen", count), &count, |b, _| {
            b.iter(|| black_box(dump.listeners().expect("a dump")))
        });
        drop(tcp);
    }
    {
        let count = 1000u16;
        let udp: Vec<UdpSocket> = (0..count)
            .map(|i| UdpSocket::bind(("0.0.0.0", FIRST_PORT + i)).expect("a free port"))
            .collect();
        let mut dump = ListenerDump::new().expect("sock_diag socket");
        assert_eq!(dump.listeners().expect("a dump").len(), usize::from(count));
        group.throughput(Throughput::Elements(u64::from(count)));
        group.bench_with_input(BenchmarkId::new("udp_bound", count), &count, |b, _| {
            b.iter(|| black_box(dump.listeners().expect("a dump")))
        });
        drop(udp);
    }
    group.finish();
}

fn main() {
    let netns = Netns::new("bench-listeners").expect("a namespace (run as root)");
    netns
        .run(|| {
            let mut criterion = Criterion::default().configure_from_args();
            bench_listing(&mut criterion);
            criterion.final_summary();
        })
        .expect("entering the namespace");
}

//! Real traffic inside the VM: client, director and two real servers in their own network
//! namespaces; our reconciler programs the director; HTTP requests to the virtual address reach
//! both real servers in the weight ratio, in NAT and in DR mode, and the counters agree with
//! `ipvsadm --stats`.
#![allow(clippy::unwrap_used)]

mod kernel_support;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use kernel_support::*;
use ssinet_ipvs::*;
use ssinet_testbed::netns::Netns;

const VIP: &str = "10.9.1.100";

/// A tiny HTTP responder on a listener made inside a real server's namespace.
struct Responder {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Responder {
    fn start(listener: TcpListener, name: &'static str) -> Responder {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        listener.set_nonblocking(true).unwrap();
        let thread = std::thread::spawn(move || {
            while !flag.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((mut s, _)) => {
                        s.set_nonblocking(false).unwrap();
                        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
                        let mut buf = [0u8; 1024];
                        let _ = s.read(&mut buf);
                        let _ = s.write_all(
                            format!(
                                "HTTP/1.0 200 OK\r\nContent-Length: {}\r\n\r\n{name}",
                                name.len()
                            )
                            .as_bytes(),
                        );
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        Responder {
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for Responder {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn sysctl(ns: &Netns, settings: &[&str]) {
    let mut argv = vec!["sysctl", "-q", "-w"];
    argv.extend_from_slice(settings);
    ns.exec_ok(&argv).unwrap();
}

/// client, director and two real servers on one bridge. NAT: the client and the virtual
/// address in 10.9.1.0/24, the real servers in 10.9.2.0/24 routed back through the director.
/// DR: everyone in 10.9.1.0/24, the real servers hold the virtual address on `lo`.
fn traffic(mode: Forwarding) {
    let nat = mode == Forwarding::Masquerade;
    let switch = kernel_support::netns("sw");
    let client = kernel_support::netns("client");
    let director = kernel_support::netns("dir");
    let rs = [kernel_support::netns("rs1"), kernel_support::netns("rs2")];
    Netns::veth(&switch, "p-client", &client, "eth0").unwrap();
    Netns::veth(&switch, "p-dir", &director, "eth0").unwrap();
    Netns::veth(&switch, "p-rs1", &rs[0], "eth0").unwrap();
    Netns::veth(&switch, "p-rs2", &rs[1], "eth0").unwrap();
    switch
        .add_bridge("br0", &["p-client", "p-dir", "p-rs1", "p-rs2"])
        .unwrap();
    client.add_address("eth0", "10.9.1.2/24").unwrap();
    director.add_address("eth0", "10.9.1.1/24").unwrap();
    director.add_address("eth0", &format!("{VIP}/32")).unwrap();
    let rs_ip = if nat {
        ["10.9.2.11", "10.9.2.12"]
    } else {
        ["10.9.1.11", "10.9.1.12"]
    };
    if nat {
        director.add_address("eth0", "10.9.2.1/24").unwrap();
        sysctl(
            &director,
            &[
                "net.ipv4.ip_forward=1",
                "net.ipv4.conf.all.send_redirects=0",
                "net.ipv4.conf.eth0.send_redirects=0",
            ],
        );
    }
    for (ns, ip) in rs.iter().zip(rs_ip) {
        ns.add_address("eth0", &format!("{ip}/24")).unwrap();
        if nat {
            ns.ip(&["route", "add", "default", "via", "10.9.2.1"])
                .unwrap();
        } else {
            ns.add_address("lo", &format!("{VIP}/32")).unwrap();
            sysctl(
                ns,
                &[
                    "net.ipv4.conf.all.arp_ignore=1",
                    "net.ipv4.conf.all.arp_announce=2",
                    "net.ipv4.conf.eth0.arp_ignore=1",
                    "net.ipv4.conf.eth0.arp_announce=2",
                ],
            );
        }
    }
    let names = ["rs1", "rs2"];
    let _servers: Vec<Responder> = rs
        .iter()
        .zip(names)
        .map(|(ns, name)| {
            let l = ns.run(|| TcpListener::bind("0.0.0.0:80").unwrap()).unwrap();
            Responder::start(l, name)
        })
        .collect();

    let svc = Service::new(ServiceKey::tcp(v4(VIP), 80), Scheduler::WeightedRoundRobin);
    let weights = [1u32, 2];
    let dests: Vec<Destination> = rs_ip
        .iter()
        .zip(weights)
        .map(|(ip, w)| Destination::new(v4(ip), 80, mode, w))
        .collect();
    director
        .run(|| {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap()
                .block_on(async {
                    let mut c = IpvsClient::connect().await.unwrap();
                    let mut desired = DesiredTable::new();
                    desired
                        .insert(DesiredService {
                            service: svc.clone(),
                            destinations: dests.clone(),
                        })
                        .unwrap();
                    let report = Reconciler::new(PlanOptions::default())
                        .run(&mut c, &desired, &Ownership::addresses([v4(VIP)]))
                        .await
                        .unwrap();
                    assert!(report.failures.is_empty(), "{:?}", report.failures);
                })
        })
        .unwrap();

    const REQUESTS: usize = 30;
    let answers: Vec<String> = client
        .run(|| {
            let to: SocketAddr = format!("{VIP}:80").parse().unwrap();
            (0..REQUESTS)
                .map(|i| {
                    let mut s = TcpStream::connect_timeout(&to, Duration::from_secs(5))
                        .unwrap_or_else(|e| panic!("request {i} to {to}: {e}"));
                    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
                    s.write_all(b"GET / HTTP/1.0\r\n\r\n").unwrap();
                    let mut body = String::new();
                    s.read_to_string(&mut body).unwrap();
                    body.rsplit("\r\n\r\n").next().unwrap().to_string()
                })
                .collect()
        })
        .unwrap();
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for a in &answers {
        *counts.entry(a.clone()).or_default() += 1;
    }
    // wrr is deterministic: over whole cycles the split is exactly the weight ratio.
    assert_eq!(counts.get("rs1"), Some(&(REQUESTS / 3)), "{counts:?}");
    assert_eq!(counts.get("rs2"), Some(&(2 * REQUESTS / 3)), "{counts:?}");

    // Counters lag (a 2 s estimator): poll both our client and ipvsadm --stats until they agree
    // with the traffic that went through.
    director
        .run(|| {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap()
                .block_on(async {
                    let mut c = IpvsClient::connect().await.unwrap();
                    let deadline = Instant::now() + Duration::from_secs(30);
                    loop {
                        let conns = c.services().await.unwrap()[0].counters.best().connections;
                        let per_dest: BTreeMap<String, u64> = c
                            .destinations(&svc.key)
                            .await
                            .unwrap()
                            .iter()
                            .map(|d| {
                                (
                                    format!("{}:{}", d.dest.addr, d.dest.port),
                                    d.counters.best().connections,
                                )
                            })
                            .collect();
                        let want: BTreeMap<String, u64> = [
                            (format!("{}:80", rs_ip[0]), (REQUESTS / 3) as u64),
                            (format!("{}:80", rs_ip[1]), (2 * REQUESTS / 3) as u64),
                        ]
                        .into();
                        // ipvsadm's columns: service or "-> dest", then Conns.
                        let shown = lines(&ipvsadm(&["-Ln", "--stats"]));
                        let conns_of = |prefix: &str| -> Option<u64> {
                            shown
                                .iter()
                                .find(|l| l.starts_with(prefix))
                                .and_then(|l| l.split(' ').nth(2))
                                .and_then(|v| v.parse().ok())
                        };
                        let ipvsadm_service = conns_of(&format!("TCP {VIP}:80"));
                        let ipvsadm_dests: BTreeMap<String, u64> = want
                            .keys()
                            .filter_map(|k| conns_of(&format!("-> {k}")).map(|v| (k.clone(), v)))
                            .collect();
                        if conns == REQUESTS as u64
                            && per_dest == want
                            && ipvsadm_service == Some(conns)
                            && ipvsadm_dests == want
                        {
                            break;
                        }
                        assert!(
                            Instant::now() < deadline,
                            "counters never matched: ours {conns} {per_dest:?}, ipvsadm {shown:?}"
                        );
                        tokio::time::sleep(Duration::from_millis(250)).await;
                    }
                })
        })
        .unwrap();
}

#[test]
fn http_through_nat_reaches_both_real_servers_in_weight_ratio() {
    traffic(Forwarding::Masquerade);
}

#[test]
fn http_through_direct_routing_reaches_both_real_servers_in_weight_ratio() {
    traffic(Forwarding::DirectRoute);
}

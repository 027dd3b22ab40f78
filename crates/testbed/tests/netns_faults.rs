//! The external-link faults a lab puts on a node, proven against the real kernel (run as root):
//! a lost carrier the node can see, and a silent cut it can only find by its gateway going
//! quiet. Also that the gateway is a namespace of its own that answers and does not forward.
#![allow(clippy::unwrap_used)]
use ssinet_testbed::netns::{Lab, LabSpec, Netns, Segment};
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

fn lab() -> Lab {
    Lab::up(LabSpec {
        nodes: 2,
        directors: vec![1],
        ..LabSpec::default()
    })
    .unwrap()
}

/// One echo request answered within a second, tried up to 5 times: what a user tries first
/// (right after a reconnect the first one may meet a failed ARP entry).
fn pings(from: &Netns, to: Ipv4Addr) -> bool {
    (0..5).any(|_| ping_once(from, to))
}

/// One echo request, answered within a second.
fn ping_once(from: &Netns, to: Ipv4Addr) -> bool {
    from.exec(&["ping", "-n", "-q", "-c", "1", "-W", "1", &to.to_string()])
        .unwrap()
        .status
        .success()
}

/// Two echo requests, one second each, and no answer: bounded, as every check here.
fn never_answers_ping(from: &Netns, to: Ipv4Addr) -> bool {
    !from
        .exec(&["ping", "-n", "-q", "-c", "2", "-W", "1", &to.to_string()])
        .unwrap()
        .status
        .success()
}

/// Whether `to` answers ARP on `ifname` (the first neighbour cache entry flushed, so the answer
/// is a fresh one): `arping` exits 0 once a reply came.
fn answers_arp(from: &Netns, ifname: &str, to: Ipv4Addr) -> bool {
    from.ip(&["neigh", "flush", "dev", ifname]).unwrap();
    from.exec(&[
        "arping",
        "-q",
        "-c",
        "2",
        "-w",
        "3",
        "-I",
        ifname,
        &to.to_string(),
    ])
    .unwrap()
    .status
    .success()
}

/// `ip -j link show IFNAME`: its flags and operstate, as a user reads them.
fn link(netns: &Netns, ifname: &str) -> (Vec<String>, String) {
    let json = netns.ip(&["-j", "link", "show", ifname]).unwrap();
    let links: Vec<serde_json::Value> = serde_json::from_str(&json).unwrap();
    let link = &links[0];
    let flags = link["flags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|flag| flag.as_str().unwrap().to_owned())
        .collect();
    (flags, link["operstate"].as_str().unwrap().to_owned())
}

fn no_carrier(netns: &Netns, ifname: &str) -> bool {
    let (flags, operstate) = link(netns, ifname);
    flags.iter().any(|f| f == "NO-CARRIER") && ["LOWERLAYERDOWN", "DOWN"].contains(&&*operstate)
}

fn admin_up(netns: &Netns, ifname: &str) -> bool {
    link(netns, ifname).0.iter().any(|f| f == "UP")
}

fn carrier_ok(netns: &Netns, ifname: &str) -> bool {
    let (flags, operstate) = link(netns, ifname);
    !flags.iter().any(|f| f == "NO-CARRIER") && operstate == "UP"
}

/// Polls `check` for up to 5 s: the kernel's link watcher updates operstate asynchronously.
fn soon(mut check: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        if check() {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn the_gateway_is_its_own_namespace_answers_arp_and_ping_and_does_not_forward() {
    let lab = lab();
    let gateway = lab.gateway_netns();
    assert!(gateway.name().ends_with("-gw"), "{}", gateway.name());
    assert!(lab.namespace_names().contains(&gateway.name().to_owned()));
    let held = gateway.ip(&["-br", "-4", "addr", "show", "eth0"]).unwrap();
    assert!(held.contains("192.168.200.1/24"), "{held}");
    let client = lab.client().ip(&["-br", "-4", "addr"]).unwrap();
    assert!(
        !client.contains("192.168.200.1/"),
        "the client no longer holds the gateway: {client}"
    );
    let forwarding = gateway
        .run(|| std::fs::read_to_string("/proc/sys/net/ipv4/ip_forward").unwrap())
        .unwrap();
    assert_eq!(forwarding.trim(), "0");
    for node in lab.nodes() {
        assert!(
            answers_arp(node.netns(), node.external_if(), lab.gateway()),
            "node {}",
            node.number()
        );
        assert!(pings(node.netns(), lab.gateway()), "node {}", node.number());
    }
    assert!(pings(lab.client(), lab.gateway()));
}

#[test]
fn carrier_down_leaves_eth1_up_without_carrier_and_cuts_the_gateway_off() {
    let lab = lab();
    let (n1, n2) = (lab.node(1).netns(), lab.node(2).netns());
    assert!(pings(n1, lab.gateway()));
    assert!(carrier_ok(n1, "eth1"));

    lab.carrier_down(1).unwrap();
    lab.carrier_down(1).unwrap(); // idempotent
    assert!(
        soon(|| no_carrier(n1, "eth1")),
        "eth1 shows no carrier: {:?}",
        link(n1, "eth1")
    );
    assert!(admin_up(n1, "eth1"), "still administratively up");
    assert!(never_answers_ping(n1, lab.gateway()));
    // Only node 1's cable, only its external one.
    assert!(pings(n2, lab.gateway()));
    assert!(carrier_ok(n1, "eth0"));
    assert!(pings(n1, lab.node(2).interconnect_ip()));

    lab.carrier_up(1).unwrap();
    lab.carrier_up(1).unwrap(); // idempotent
    assert!(
        soon(|| carrier_ok(n1, "eth1")),
        "carrier is back: {:?}",
        link(n1, "eth1")
    );
    assert!(pings(n1, lab.gateway()));
    assert!(pings(lab.client(), lab.node(1).external_ip()));

    assert!(lab.carrier_down(9).is_err(), "there is no node 9");
}

#[test]
fn a_silent_external_cut_keeps_the_carrier_but_the_gateway_goes_quiet() {
    let lab = lab();
    let n1 = lab.node(1).netns();
    assert!(answers_arp(n1, "eth1", lab.gateway()));

    lab.cut(1, &[Segment::External]).unwrap();
    // The carrier stays, and keeps staying: the node cannot see this fault in its link state.
    for _ in 0..10 {
        assert!(carrier_ok(n1, "eth1"), "{:?}", link(n1, "eth1"));
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        !answers_arp(n1, "eth1", lab.gateway()),
        "no ARP answer through a cut port"
    );
    assert!(never_answers_ping(n1, lab.gateway()));
    // The interconnect is untouched, and the others still reach the gateway.
    assert!(pings(n1, lab.node(2).interconnect_ip()));
    assert!(pings(lab.node(2).netns(), lab.gateway()));

    lab.reconnect(1, &[Segment::External]).unwrap();
    assert!(carrier_ok(n1, "eth1"));
    assert!(answers_arp(n1, "eth1", lab.gateway()));
    assert!(pings(n1, lab.gateway()));
}

#[test]
fn a_partitioned_node_keeps_the_carrier_of_both_links() {
    let lab = lab();
    let n1 = lab.node(1).netns();
    lab.partition(1).unwrap();
    std::thread::sleep(Duration::from_millis(500));
    assert!(carrier_ok(n1, "eth0") && carrier_ok(n1, "eth1"));
    assert!(never_answers_ping(n1, lab.gateway()));
    lab.restore(1).unwrap();
    assert!(pings(n1, lab.gateway()));
}

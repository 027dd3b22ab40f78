//! The namespace cluster, proven against the real kernel (run as root): who reaches whom, what a
//! partition cuts, and that nothing is left behind.
#![allow(clippy::unwrap_used)]
use ssinet_testbed::netns::{Lab, LabSpec, NETNS_RUN_DIR, Netns, Routing, Segment};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::time::Duration;

const PORT: u16 = 7000;

/// A TCP connect from inside `from` succeeds, retried for a few seconds: what a user would try
/// first. Retrying matters right after a restore, when the sender may still hold a failed ARP
/// entry from the partition (its first packet is then refused with EHOSTUNREACH).
fn reaches(from: &Netns, ip: Ipv4Addr) -> bool {
    let to = SocketAddr::from((ip, PORT));
    from.run(|| {
        (0..5).any(|attempt| {
            if attempt > 0 {
                std::thread::sleep(Duration::from_millis(200));
            }
            TcpStream::connect_timeout(&to, Duration::from_secs(1)).is_ok()
        })
    })
    .unwrap()
}

/// One TCP connect from inside `from` fails: no answer within a second, or refused.
fn cannot_connect(from: &Netns, ip: Ipv4Addr) -> bool {
    let to = SocketAddr::from((ip, PORT));
    from.run(|| TcpStream::connect_timeout(&to, Duration::from_secs(1)).is_err())
        .unwrap()
}

/// A listener on every address of `netns`, living in that namespace until dropped.
fn listen(netns: &Netns) -> TcpListener {
    netns
        .run(|| TcpListener::bind(("0.0.0.0", PORT)).unwrap())
        .unwrap()
}

/// What a lab leaves if its cleanup failed: mounted namespaces, or processes still inside them.
fn leftovers(names: &[String]) -> Vec<String> {
    names
        .iter()
        .filter(|name| Path::new(NETNS_RUN_DIR).join(name).exists())
        .cloned()
        .collect()
}

fn host_links() -> String {
    let out = std::process::Command::new("ip")
        .args(["-o", "link", "show"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn assert_host_has_no_lab_links() {
    let links = host_links();
    for name in ["br-ic", "br-ex", "n1ic", "n1ex", "n2ic", "client@", "gw@"] {
        assert!(
            !links.contains(&format!(": {name}")),
            "host has {name}: {links}"
        );
    }
}

#[test]
fn nodes_reach_each_other_over_the_interconnect() {
    let lab = Lab::up(LabSpec::default()).unwrap();
    let listeners: Vec<TcpListener> = lab
        .nodes()
        .iter()
        .map(|node| listen(node.netns()))
        .collect();
    for from in lab.nodes() {
        for to in lab.nodes().iter().filter(|to| to.number() != from.number()) {
            assert!(
                reaches(from.netns(), to.interconnect_ip()),
                "node {} cannot reach node {} at {}",
                from.number(),
                to.number(),
                to.interconnect_ip()
            );
        }
    }
    // The interconnect MAC is the clustertab one: node 2 learnt node 1's.
    let learnt = lab.node(2).netns().neighbour_mac("10.200.0.1").unwrap();
    assert_eq!(learnt.as_deref(), Some("02:00:00:00:00:01"));
    drop(listeners);
}

#[test]
fn the_client_reaches_every_external_address_and_nodes_reach_the_gateway() {
    let lab = Lab::up(LabSpec {
        nodes: 2,
        directors: vec![1],
        ..LabSpec::default()
    })
    .unwrap();
    let listeners: Vec<TcpListener> = lab
        .nodes()
        .iter()
        .map(|node| listen(node.netns()))
        .collect();
    for node in lab.nodes() {
        assert_eq!(
            node.external_ip(),
            Ipv4Addr::new(192, 168, 200, 10 + node.number())
        );
        assert!(
            reaches(lab.client(), node.external_ip()),
            "client cannot reach node {}",
            node.number()
        );
    }
    // The gateway is a namespace of its own (the client is only a client).
    let gateway = listen(lab.gateway_netns());
    for node in lab.nodes() {
        assert!(
            reaches(node.netns(), lab.gateway()),
            "node {} cannot reach the gateway",
            node.number()
        );
    }
    // The interconnect is not reachable from the outside.
    assert!(cannot_connect(lab.client(), lab.node(1).interconnect_ip()));
    drop((listeners, gateway));
}

#[test]
fn a_cut_node_is_unreachable_and_reachable_again_after_restore() {
    let lab = Lab::up(LabSpec::default()).unwrap();
    let listeners: Vec<TcpListener> = lab
        .nodes()
        .iter()
        .map(|node| listen(node.netns()))
        .collect();
    let (n1, n2, n3) = (lab.node(1), lab.node(2), lab.node(3));
    assert!(reaches(n1.netns(), n2.interconnect_ip()));

    lab.partition(2).unwrap();
    lab.partition(2).unwrap(); // idempotent
    assert!(
        cannot_connect(n1.netns(), n2.interconnect_ip()),
        "node 2 is cut off the interconnect"
    );
    assert!(
        cannot_connect(n2.netns(), n3.interconnect_ip()),
        "node 2 cannot get out either"
    );
    assert!(
        cannot_connect(lab.client(), n2.external_ip()),
        "node 2 is cut off the external side"
    );
    assert!(
        reaches(n1.netns(), n3.interconnect_ip()),
        "the others still talk"
    );
    // Like a dead switch, not a pulled cable: node 2's own interfaces stay up.
    let links = n2.netns().ip(&["-br", "link", "show", "eth0"]).unwrap();
    assert!(links.contains(" UP "), "{links}");

    lab.restore(2).unwrap();
    lab.restore(2).unwrap(); // idempotent
    assert!(reaches(n1.netns(), n2.interconnect_ip()));
    assert!(reaches(lab.client(), n2.external_ip()));
    drop(listeners);
}

#[test]
fn cutting_one_segment_leaves_the_other() {
    let lab = Lab::up(LabSpec {
        nodes: 2,
        directors: vec![1],
        ..LabSpec::default()
    })
    .unwrap();
    let listeners: Vec<TcpListener> = lab
        .nodes()
        .iter()
        .map(|node| listen(node.netns()))
        .collect();
    lab.cut(2, &[Segment::Interconnect]).unwrap();
    assert!(cannot_connect(
        lab.node(1).netns(),
        lab.node(2).interconnect_ip()
    ));
    assert!(reaches(lab.client(), lab.node(2).external_ip()));
    lab.reconnect(2, &[Segment::Interconnect]).unwrap();
    assert!(reaches(lab.node(1).netns(), lab.node(2).interconnect_ip()));
    assert!(
        lab.cut(9, &[Segment::External]).is_err(),
        "there is no node 9"
    );
    drop(listeners);
}

#[test]
fn two_labs_run_at_once_without_meeting() {
    let (a, b) = std::thread::scope(|scope| {
        let a = scope.spawn(|| Lab::up(LabSpec::default()).unwrap());
        let b = scope.spawn(|| Lab::up(LabSpec::default()).unwrap());
        (a.join().unwrap(), b.join().unwrap())
    });
    assert_ne!(a.prefix(), b.prefix());
    // Same addresses, separate switches: only lab a's node 1 listens, so only lab a reaches it.
    let listener = listen(a.node(1).netns());
    assert!(reaches(a.node(2).netns(), Ipv4Addr::new(10, 200, 0, 1)));
    assert!(cannot_connect(
        b.node(2).netns(),
        Ipv4Addr::new(10, 200, 0, 1)
    ));
    drop(listener);
}

#[test]
fn config_files_describe_the_topology() {
    let lab = Lab::up(LabSpec {
        nodes: 3,
        directors: vec![1, 2],
        routing: Routing::Nat,
        ..LabSpec::default()
    })
    .unwrap();
    let dir = lab.config_dir().to_path_buf();
    let clustertab = std::fs::read_to_string(dir.join("clustertab")).unwrap();
    for node in lab.nodes() {
        let init = if node.is_director() {
            "1 /dev/sda1"
        } else {
            "0"
        };
        let line = format!(
            "{} {} {} P {init}\n",
            node.number(),
            node.interconnect_ip(),
            node.interconnect_mac()
        );
        assert!(clustertab.contains(&line), "{line:?} not in {clustertab}");
        // ... and the MAC in clustertab is the interface's.
        let link = node
            .netns()
            .ip(&["-br", "link", "show", node.interconnect_if()])
            .unwrap();
        assert!(link.contains(&node.interconnect_mac()), "{link}");
    }
    let cvip = std::fs::read_to_string(dir.join("cvip.conf")).unwrap();
    assert!(
        cvip.contains("<routing>NAT</routing>")
            && cvip.contains(&format!("<ip_addr>{}</ip_addr>", lab.cvip()))
    );
    let lvs = std::fs::read_to_string(dir.join("lvs_routing")).unwrap();
    assert!(lvs.contains("LVS_INTERNAL_GW=10.200.0.254"));
    assert_eq!(lab.internal_gateway(), Some(Ipv4Addr::new(10, 200, 0, 254)));
    drop(lab);
    assert!(!dir.exists(), "the config directory goes with the lab");
}

#[test]
fn nothing_is_left_after_drop() {
    let lab = Lab::up(LabSpec::default()).unwrap();
    let names = lab.namespace_names();
    assert_eq!(
        leftovers(&names).len(),
        6,
        "switch, client, gateway, 3 nodes"
    );
    let mut sleeper = lab.node(3).netns().command("sleep");
    sleeper.arg("60");
    let mut sleeper = lab.node(3).netns().spawn(sleeper).unwrap();
    let config_dir = lab.config_dir().to_path_buf();
    drop(lab);
    assert_eq!(leftovers(&names), Vec::<String>::new());
    assert!(!config_dir.exists());
    use std::os::unix::process::ExitStatusExt as _;
    let status = sleeper.wait().unwrap();
    assert_eq!(
        status.signal(),
        Some(9),
        "the process inside was killed with the lab"
    );
    assert_host_has_no_lab_links();
}

#[test]
fn nothing_is_left_after_a_panic_in_the_test_body() {
    let seen: std::sync::Mutex<Option<(Vec<String>, PathBuf)>> = std::sync::Mutex::new(None);
    let outcome = std::panic::catch_unwind(|| {
        let lab = Lab::up(LabSpec::default()).unwrap();
        *seen.lock().unwrap() = Some((lab.namespace_names(), lab.config_dir().to_path_buf()));
        lab.node(1)
            .netns()
            .run(|| panic!("a failing assertion inside the namespace"))
            .unwrap();
    });
    assert!(outcome.is_err());
    let (names, config_dir) = seen.lock().unwrap().take().unwrap();
    assert_eq!(leftovers(&names), Vec::<String>::new());
    assert!(!config_dir.exists());
    assert_host_has_no_lab_links();
}

#[test]
fn a_dead_runs_namespace_is_swept() {
    // A PID that no longer runs: a child we started and reaped.
    let mut child = std::process::Command::new("true").spawn().unwrap();
    let dead = child.id();
    child.wait().unwrap();
    let name = format!("ssl{dead}x1-stale");
    let out = std::process::Command::new("ip")
        .args(["netns", "add", &name])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // A process the dead run left running inside it.
    let mut orphan = std::process::Command::new("ip")
        .args(["netns", "exec", &name, "sleep", "60"])
        .spawn()
        .unwrap();
    while std::fs::read_link(format!("/proc/{}/exe", orphan.id()))
        .is_ok_and(|exe| !exe.ends_with("sleep"))
    {
        std::thread::sleep(Duration::from_millis(5));
    }
    // Another test process may sweep it first; either way it is gone afterwards.
    ssinet_testbed::netns::sweep_stale().unwrap();
    use std::os::unix::process::ExitStatusExt as _;
    assert_eq!(
        orphan.wait().unwrap().signal(),
        Some(9),
        "the process inside was killed"
    );
    assert!(!Path::new(NETNS_RUN_DIR).join(&name).exists());
    // A living run's namespaces are left alone.
    let mine = Netns::new("alive").unwrap();
    assert!(
        !ssinet_testbed::netns::sweep_stale()
            .unwrap()
            .contains(&mine.name().to_owned())
    );
    assert!(mine.path().exists());
}

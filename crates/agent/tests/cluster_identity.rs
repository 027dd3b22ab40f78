//! What ssinetd refuses before it joins: a configuration with errors (reported with file, line
//! and column, nothing created) and another node's certificate; and what the cluster refuses: a
//! peer whose certificate comes from another CA.
#![allow(clippy::unwrap_used)]

mod common;

use std::process::{Command as Process, Output};
use std::time::{Duration, Instant};

use common::{Cluster, eventually};
use ssinet_api::Command;
use ssinet_config::{PortWeight, Protocol};
use ssinet_interconnect::pki::{self, PkiNode};
use ssinet_testbed::netns::{LabSpec, clustertab, cvip_conf};
use tempfile::TempDir;

/// Runs `command` to completion, killing it if it is still running after a generous deadline.
fn run_to_exit(cluster: &Cluster, node: u8, command: Process) -> (i32, String) {
    let mut child = cluster.lab.node(node).netns().spawn(command).unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let log = std::fs::read_to_string(cluster.log_path(node)).unwrap_or_default();
            return (status.code().unwrap_or(-1), log);
        }
        assert!(Instant::now() < deadline, "ssinetd kept running");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_bad_configuration_is_refused_with_its_position_and_creates_nothing() {
    let dir = TempDir::new().unwrap();
    let spec = LabSpec::default();
    std::fs::write(dir.path().join("clustertab"), clustertab(&spec)).unwrap();
    let conf = cvip_conf(&spec).replace("<routing>DR</routing>", "<routing>XR</routing>");
    std::fs::write(dir.path().join("cvip.conf"), conf).unwrap();
    let output: Output = Process::new(env!("CARGO_BIN_EXE_ssinetd"))
        .arg("--clustertab")
        .arg(dir.path().join("clustertab"))
        .arg("--cvip-conf")
        .arg(dir.path().join("cvip.conf"))
        .arg("--lvs-routing")
        .arg(dir.path().join("lvs_routing"))
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .arg("--tls-dir")
        .arg(dir.path().join("tls"))
        .arg("--admin-socket")
        .arg(dir.path().join("run/admin.sock"))
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    let position = format!("{}:2:", dir.path().join("cvip.conf").display());
    assert!(
        stderr.contains(&position) && stderr.contains("XR"),
        "{stderr}"
    );
    assert!(!dir.path().join("data").exists() && !dir.path().join("run").exists());
}

#[test]
fn another_nodes_certificate_is_refused_at_start() {
    let mut cluster = Cluster::new(3, &[1, 2]);
    let node2_files = cluster.tls_dirs[&2].clone();
    cluster.tls_dirs.insert(3, node2_files);
    let log = std::fs::File::create(cluster.log_path(3)).unwrap();
    let mut command = cluster.command(3);
    command.stdout(log.try_clone().unwrap()).stderr(log);
    let (code, log) = run_to_exit(&cluster, 3, command);
    assert_eq!(code, 1, "{log}");
    assert!(log.contains("not a certificate for node 3"), "{log}");
    assert!(
        !common::exists(&cluster.socket(3)),
        "the admin socket was left behind"
    );
}

#[test]
fn a_peer_with_a_certificate_from_another_ca_is_refused() {
    let mut cluster = Cluster::new(3, &[1, 2]);
    let other = cluster.dir.path().join("other-pki");
    let nodes: Vec<PkiNode> = cluster
        .lab
        .nodes()
        .iter()
        .map(|n| PkiNode {
            node: ssinet_lab::cluster::node_id(n.number()),
            interconnect_ip: std::net::IpAddr::V4(n.interconnect_ip()),
        })
        .collect();
    pki::init(&nodes, &other, false).unwrap();
    cluster.tls_dirs.insert(3, other.join("node3"));
    for n in 1..=3 {
        cluster.start_node(n);
    }
    // Nodes 1 and 2 are a quorum of the three voters: they elect and commit without node 3.
    let leader = cluster.wait_for_leader(&[1, 2]);
    eventually(
        "nodes 1 and 2 to be seeded",
        || {
            [1, 2]
                .iter()
                .all(|n| cluster.state(*n).is_some_and(|s| !s.is_empty()))
        },
        &cluster,
    );
    let w = PortWeight {
        proto: Protocol::Tcp,
        start_port: 443,
        end_port: 443,
        weight: 1,
        node: None,
    };
    let answer = cluster.command_on(leader, &Command::SetPortWeight(w.clone()));
    assert_eq!(answer.status, 200, "{}", answer.body);
    // Dialing node 3, nodes 1 and 2 reject the certificate it presents.
    eventually(
        "nodes 1 and 2 to apply the write and refuse node 3's certificate",
        || {
            [1, 2].iter().all(|n| {
                cluster
                    .state(*n)
                    .is_some_and(|s| s.config.cvip_conf.port_weights.contains(&w))
            }) && [1, 2].iter().any(|n| {
                std::fs::read_to_string(cluster.log_path(*n))
                    .unwrap_or_default()
                    .contains("invalid peer certificate")
            })
        },
        &cluster,
    );
    // Node 3 got nothing, and nobody counts it as reachable.
    let state3 = cluster.state(3).unwrap();
    assert!(state3.is_empty(), "node 3 received the state: {state3:?}");
    assert_eq!(cluster.status(3).unwrap().last_applied, None);
    for n in [1, 2] {
        let status = cluster.status(n).unwrap();
        let node3 = status.nodes.iter().find(|s| s.num.0 == 3).unwrap();
        assert!(!node3.reachable, "node {n} reaches node 3: {status:?}");
    }
}

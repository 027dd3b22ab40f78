//! The admin API on a three-node namespace cluster: invalid commands are rejected with their
//! reason and change nothing, only root gets in, and `/metrics` speaks Prometheus.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::process::Command as Process;

use common::{Cluster, eventually, http};
use ssinet_api::admin::{ApiError, ErrorCode};
use ssinet_api::{Command, Response};
use ssinet_config::{NodeId, PortWeight, Protocol};

fn rejected(cluster: &Cluster, via: u8, command: &Command, reason: &str) {
    let answer = cluster.command_on(via, command);
    assert_eq!(
        answer.status, 422,
        "{command:?} via node {via}: {}",
        answer.body
    );
    match answer.json::<Response>() {
        Response::Rejected { problems } => assert!(
            problems.iter().any(|p| p.contains(reason)),
            "{command:?}: expected a problem mentioning {reason:?}, got {problems:?}"
        ),
        other => panic!("{command:?} was not rejected: {other:?}"),
    }
}

/// curl as uid 65534 (`nobody`), with extra `setpriv` options; its exit status and stdout.
fn curl_as_nobody(extra: &[&str], socket: &std::path::Path) -> (bool, String) {
    let output = Process::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .args(extra)
        .args([
            "curl",
            "-sS",
            "--max-time",
            "10",
            "-w",
            "\n%{http_code}",
            "--unix-socket",
        ])
        .arg(socket)
        .arg("http://ssinetd/v1/status")
        .output()
        .unwrap();
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
    )
}

#[test]
fn admin_api_rejects_invalid_commands_refuses_non_root_and_serves_metrics() {
    let mut cluster = Cluster::new(3, &[1, 2]);
    // Let other users traverse the test's temp dir, so only the agent's own modes protect it.
    std::fs::set_permissions(cluster.dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    for n in 1..=3 {
        cluster.start_node(n);
    }
    let all = [1, 2, 3];
    let leader = cluster.wait_for_leader(&all);
    eventually(
        "every node to hold the seeded state",
        || {
            all.iter()
                .all(|n| cluster.state(*n).is_some_and(|s| !s.is_empty()))
        },
        &cluster,
    );
    let before = cluster.state(1).unwrap();

    // Invalid commands, sent to each node in turn: the reason comes back, nothing changes.
    let overlapping = Command::SetPortWeight(PortWeight {
        proto: Protocol::Tcp,
        start_port: 70,
        end_port: 90,
        weight: 5,
        node: None,
    });
    rejected(&cluster, 1, &overlapping, "overlap");
    let unknown_node = Command::AddDirector {
        node: NodeId(9),
        garp_interface: "eth1".into(),
        sync_interface: None,
    };
    rejected(&cluster, 2, &unknown_node, "node 9");
    let node_address = Command::AddCvip {
        ip: "10.200.0.1".parse::<IpAddr>().unwrap(),
        gateway: None,
        directors: None,
        real_servers: vec![],
    };
    rejected(&cluster, 3, &node_address, "interconnect address of node 1");
    let garbage = http::request(
        &cluster.socket(3),
        "POST",
        "/v1/commands",
        "{\"command\":\"x\"}",
    )
    .unwrap();
    assert_eq!(garbage.status, 400, "{}", garbage.body);
    assert_eq!(garbage.json::<ApiError>().code, ErrorCode::BadRequest);
    let nowhere = http::request(&cluster.socket(3), "GET", "/v1/nowhere", "").unwrap();
    assert_eq!(nowhere.status, 404);
    assert_eq!(nowhere.json::<ApiError>().code, ErrorCode::NotFound);

    // A valid write after them: once it is everywhere, so are the rejections' (non-)effects.
    let marker = PortWeight {
        proto: Protocol::Udp,
        start_port: 5000,
        end_port: 5001,
        weight: 4,
        node: None,
    };
    let answer = cluster.command_on(3, &Command::SetPortWeight(marker.clone()));
    assert_eq!(answer.status, 200, "{}", answer.body);
    for n in all {
        eventually(
            &format!("node {n} to apply the marker"),
            || {
                cluster
                    .state(n)
                    .is_some_and(|s| s.config.cvip_conf.port_weights.contains(&marker))
            },
            &cluster,
        );
        let after = cluster.state(n).unwrap();
        assert_eq!(
            after.config.clustertab, before.config.clustertab,
            "node {n}"
        );
        assert_eq!(
            after.config.cvip_conf.cvips, before.config.cvip_conf.cvips,
            "node {n}"
        );
        let mut expected: BTreeSet<String> = before
            .config
            .cvip_conf
            .port_weights
            .iter()
            .map(|w| format!("{w:?}"))
            .collect();
        expected.insert(format!("{marker:?}"));
        let got: BTreeSet<String> = after
            .config
            .cvip_conf
            .port_weights
            .iter()
            .map(|w| format!("{w:?}"))
            .collect();
        assert_eq!(got, expected, "node {n}");
    }

    // Only root: the socket directory is 0700, the socket 0600, both root's.
    let socket = cluster.socket(1);
    let dir_meta = std::fs::metadata(socket.parent().unwrap()).unwrap();
    assert_eq!(dir_meta.mode() & 0o777, 0o700);
    let sock_meta = std::fs::symlink_metadata(&socket).unwrap();
    assert_eq!(sock_meta.mode() & 0o777, 0o600);
    assert_eq!((dir_meta.uid(), sock_meta.uid()), (0, 0));
    let (ok, out) = curl_as_nobody(&[], &socket);
    assert!(
        !ok && !out.contains("\"term\""),
        "nobody reached the admin API: {out}"
    );
    // Even past the file modes (CAP_DAC_OVERRIDE), the agent checks the peer's uid.
    let (_, out) = curl_as_nobody(
        &["--inh-caps=+dac_override", "--ambient-caps=+dac_override"],
        &socket,
    );
    assert!(
        out.ends_with("\n403"),
        "nobody with CAP_DAC_OVERRIDE got: {out}"
    );
    assert!(out.contains("root only"), "{out}");
    assert!(cluster.status(1).is_some(), "root is still served");

    // Prometheus text on the leader, once its peer probes have reached everyone.
    eventually(
        "the leader to reach both peers",
        || {
            cluster
                .status(leader)
                .is_some_and(|s| s.nodes.iter().all(|n| n.reachable))
        },
        &cluster,
    );
    let metrics = http::request(&cluster.socket(leader), "GET", "/metrics", "").unwrap();
    assert_eq!(metrics.status, 200);
    let text = metrics.body;
    for line in [
        "# TYPE ssinet_raft_term gauge",
        "ssinet_is_leader 1",
        &format!("ssinet_raft_leader {leader}"),
        "# TYPE ssinet_apply_latency_seconds histogram",
        "ssinet_peers_reachable 2",
        "ssinet_quorum 1",
    ] {
        assert!(
            text.lines().any(|l| l == line || l.starts_with(line)),
            "no {line:?} in\n{text}"
        );
    }
    let commit = text
        .lines()
        .find_map(|l| l.strip_prefix("ssinet_raft_commit_index "))
        .unwrap();
    assert!(commit.parse::<i64>().unwrap() > 0, "commit index {commit}");
    // Node 3 served the marker write: its histogram counted it.
    let node3 = http::request(&cluster.socket(3), "GET", "/metrics", "")
        .unwrap()
        .body;
    let count = node3
        .lines()
        .find_map(|l| l.strip_prefix("ssinet_apply_latency_seconds_count "))
        .unwrap();
    assert!(count.parse::<u64>().unwrap() >= 1, "{node3}");
}

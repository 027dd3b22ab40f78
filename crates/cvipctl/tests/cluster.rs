//! cvipctl against real ssinetd processes in a namespace cluster (root only): writes on any
//! node reach every node, invalid changes are refused with their reason and change nothing,
//! config export/apply round-trips, and a cluster without quorum says so with exit code 4.
#![allow(clippy::unwrap_used)]

use std::ops::{Deref, DerefMut};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;
use std::time::Duration;

use serde_json::Value;
use ssinet_config::{ClusterConfig, ConfigPaths, PortWeight, Protocol};
use ssinet_lab::cluster::{self, Binaries};
use ssinet_testbed::netns::LabSpec;

/// The ssinetd binary of this build. `cargo test --workspace` builds it beside cvipctl; for
/// `cargo test -p cvipctl` it is built here (a no-op when it is up to date).
fn ssinetd() -> &'static Path {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT.get_or_init(|| {
        let cvipctl = Path::new(env!("CARGO_BIN_EXE_cvipctl"));
        let profile_dir = cvipctl.parent().unwrap();
        let mut build = Command::new(env!("CARGO"));
        build
            .args(["build", "--quiet", "-p", "ssinet-agent", "--bin", "ssinetd"])
            .arg("--target-dir")
            .arg(profile_dir.parent().unwrap())
            .current_dir(env!("CARGO_MANIFEST_DIR"));
        if profile_dir.file_name().is_some_and(|n| n == "release") {
            build.arg("--release");
        }
        let status = build.status().unwrap();
        assert!(status.success(), "cannot build ssinetd: {status}");
        profile_dir.join("ssinetd")
    })
}

/// The shared harness (`ssinet_lab::cluster`), panicking instead of returning errors: a failed
/// setup is a failed test. `lab`, `dir`, `agents`, `socket` are the harness's own.
struct Cluster(cluster::Cluster);

impl Deref for Cluster {
    type Target = cluster::Cluster;

    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl DerefMut for Cluster {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.0
    }
}

impl Cluster {
    /// `nodes` nodes, 1 and 2 director-capable, every agent started.
    fn start(nodes: u8) -> Self {
        let spec = LabSpec {
            nodes,
            directors: vec![1, 2],
            ..LabSpec::default()
        };
        let binaries = Binaries::new(ssinetd()).with_cvipctl(env!("CARGO_BIN_EXE_cvipctl"));
        Self(cluster::Cluster::start(spec, binaries).unwrap())
    }

    /// Runs cvipctl against node `n`'s agent (from the host: the socket is a path).
    fn cvipctl(&self, n: u8, args: &[&str]) -> Output {
        self.0.cvipctl(n, args).unwrap()
    }

    /// `cvipctl --json ARGS` on node `n`, which must succeed.
    fn json(&self, n: u8, args: &[&str]) -> Value {
        let out = self.cvipctl(n, &[&["--json"], args].concat());
        assert_eq!(out.status.code(), Some(0), "{}", self.explain(&out));
        serde_json::from_slice(&out.stdout).unwrap()
    }

    fn explain(&self, out: &Output) -> String {
        format!(
            "exit {:?}\nstdout: {}\nstderr: {}\n{}",
            out.status.code(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            self.logs()
        )
    }

    /// Polls until `check` holds; panics after a generous deadline (a hung cluster, not a
    /// slow one: nothing here asserts how long anything takes).
    fn eventually(&self, what: &str, check: impl FnMut() -> bool) {
        self.0
            .eventually(what, Duration::from_secs(60), check)
            .unwrap_or_else(|e| panic!("{e}"));
    }

    /// Waits until `cvipctl status` succeeds (a leader with quorum) on every running node.
    fn wait_ready(&self) {
        for n in self.running() {
            self.eventually(&format!("cvipctl status on node {n} to exit 0"), || {
                self.cvipctl(n, &["status"]).status.code() == Some(0)
            });
        }
    }

    fn stop(&mut self, n: u8) {
        self.0.kill(n).unwrap();
    }
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn has_range(list: &Value, start: u64, end: u64, weight: u64) -> bool {
    list.as_array()
        .unwrap()
        .iter()
        .any(|w| w["start_port"] == start && w["end_port"] == end && w["weight"] == weight)
}

#[test]
fn writes_through_cvipctl_on_any_node_reach_every_node_and_bad_ones_change_nothing() {
    let cluster = Cluster::start(3);
    cluster.wait_ready();
    let nodes = [1u8, 2, 3];

    // The leader is the director, and it is one of the director-capable nodes.
    let status = cluster.json(3, &["status"]);
    let leader = status["leader"].as_u64().unwrap();
    assert!([1, 2].contains(&leader), "{status}");
    let lvs = cluster.json(3, &["lvs"]);
    assert_eq!(lvs[0]["director_node"], leader, "{lvs}");
    assert_eq!(lvs[0]["cvip"], cluster.lab.cvip().to_string());

    // A port weight set on node 3 (not the leader) shows on every node.
    let out = cluster.cvipctl(
        3,
        &[
            "port-weight",
            "set",
            "--start-port",
            "8000",
            "--end-port",
            "8010",
            "--weight",
            "4",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", cluster.explain(&out));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "added tcp ports 8000-8010 with weight 4\n"
    );
    for n in nodes {
        cluster.eventually(&format!("tcp 8000-8010 on node {n}"), || {
            has_range(&cluster.json(n, &["port-weight", "list"]), 8000, 8010, 4)
        });
    }

    // A second CVIP added on node 2 takes the shared directors; a director added on node 1.
    let out = cluster.cvipctl(2, &["cvip", "add", "192.168.200.101"]);
    assert_eq!(out.status.code(), Some(0), "{}", cluster.explain(&out));
    let garp = cluster.lab.node(3).external_if();
    let out = cluster.cvipctl(1, &["director", "add", "3", "--garp-interface", garp]);
    assert_eq!(out.status.code(), Some(0), "{}", cluster.explain(&out));
    for n in nodes {
        cluster.eventually(&format!("the new CVIP and director on node {n}"), || {
            let cvips = cluster.json(n, &["cvip", "list"]);
            let directors = cluster.json(n, &["director", "list"]);
            cvips.as_array().unwrap().len() == 2
                && directors.as_array().unwrap().len() == 3
                && directors[2]["cvips"].as_array().unwrap().len() == 2
        });
    }

    // Invalid changes: refused with the reason, exit 1, on any node, and nothing changes.
    let before: Vec<Value> = nodes
        .iter()
        .map(|n| cluster.json(*n, &["cvip", "list"]))
        .collect();
    let weights_before = cluster.json(1, &["port-weight", "list"]);
    let node1_ip = cluster.lab.node(1).interconnect_ip().to_string();
    let refusals: [(u8, Vec<&str>, &str); 3] = [
        (
            3,
            vec![
                "port-weight",
                "set",
                "--start-port",
                "8005",
                "--end-port",
                "8020",
                "--weight",
                "1",
            ],
            "tcp ports 8005-8020 overlap tcp ports 8000-8010",
        ),
        (
            2,
            vec!["director", "add", "9", "--garp-interface", "eth1"],
            "node 9 is not in",
        ),
        (
            1,
            vec!["cvip", "add", &node1_ip],
            "is the interconnect address of node 1",
        ),
    ];
    for (n, args, reason) in refusals {
        let out = cluster.cvipctl(n, &args);
        assert_eq!(out.status.code(), Some(1), "{}", cluster.explain(&out));
        assert!(
            stderr(&out)
                .starts_with("cvipctl: the cluster rejected the change; nothing was changed:\n")
                && stderr(&out).contains(reason),
            "{}",
            cluster.explain(&out)
        );
    }
    // A later write that every node has applied proves the rejections were applied too.
    let out = cluster.cvipctl(
        2,
        &[
            "port-weight",
            "set",
            "--proto",
            "udp",
            "--start-port",
            "9000",
            "--weight",
            "1",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", cluster.explain(&out));
    for (i, n) in nodes.iter().enumerate() {
        cluster.eventually(&format!("udp 9000 on node {n}"), || {
            has_range(&cluster.json(*n, &["port-weight", "list"]), 9000, 9000, 1)
        });
        assert_eq!(cluster.json(*n, &["cvip", "list"]), before[i]);
        let mut weights = cluster.json(*n, &["port-weight", "list"]);
        weights.as_array_mut().unwrap().pop();
        assert_eq!(weights, weights_before);
    }

    // Export from one node, change the files, apply them on another: every node follows.
    let export = cluster.dir.path().join("export");
    let out = cluster.cvipctl(3, &["config", "export", "--out", export.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", cluster.explain(&out));
    let paths = ConfigPaths {
        clustertab: export.join("clustertab"),
        cvip_conf: export.join("cvip.conf"),
        lvs_routing: export.join("lvs_routing"),
        lvs_routing_required: false,
    };
    let mut config: ClusterConfig = ClusterConfig::load(&paths).unwrap().config;
    let apply_args = [
        "config",
        "apply",
        "--clustertab",
        paths.clustertab.to_str().unwrap(),
        "--cvip-conf",
        paths.cvip_conf.to_str().unwrap(),
    ];
    let out = cluster.cvipctl(1, &apply_args);
    assert_eq!(out.status.code(), Some(0), "{}", cluster.explain(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("already runs this configuration"));
    config.cvip_conf.port_weights.push(PortWeight {
        proto: Protocol::Tcp,
        start_port: 3000,
        end_port: 3001,
        weight: 7,
        node: None,
    });
    std::fs::write(
        &paths.cvip_conf,
        ssinet_config::to_cvip_conf_string(&config.cvip_conf),
    )
    .unwrap();
    let dry_run = cluster.cvipctl(2, &[&apply_args[..], &["--dry-run"]].concat());
    assert_eq!(
        dry_run.status.code(),
        Some(0),
        "{}",
        cluster.explain(&dry_run)
    );
    assert_eq!(
        String::from_utf8_lossy(&dry_run.stdout),
        "+ tcp ports 3000-3001 weight 7\ndry run: nothing was sent\n"
    );
    let out = cluster.cvipctl(1, &apply_args);
    assert_eq!(out.status.code(), Some(0), "{}", cluster.explain(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout)
            .starts_with("+ tcp ports 3000-3001 weight 7\napplied configuration: "),
        "{}",
        cluster.explain(&out)
    );
    for n in nodes {
        cluster.eventually(&format!("the applied file on node {n}"), || {
            has_range(&cluster.json(n, &["port-weight", "list"]), 3000, 3001, 7)
        });
    }
}

#[test]
fn without_quorum_cvipctl_says_so_and_exits_4() {
    let mut cluster = Cluster::start(3);
    cluster.wait_ready();
    cluster.stop(2);
    cluster.stop(3);

    // Writes cannot commit: the reason is a lost quorum or leader, never a rejection.
    let out = cluster.cvipctl(
        1,
        &[
            "port-weight",
            "set",
            "--start-port",
            "8080",
            "--weight",
            "1",
        ],
    );
    assert_eq!(out.status.code(), Some(4), "{}", cluster.explain(&out));
    let text = stderr(&out);
    assert!(
        text.contains("the cluster has no quorum")
            || text.contains("the cluster has no leader")
            || text.contains("the write was not confirmed in time"),
        "{}",
        cluster.explain(&out)
    );
    // `status` still answers, and exits 4 once this node sees the quorum is gone.
    cluster.eventually("cvipctl status to report no quorum", || {
        cluster.cvipctl(1, &["status"]).status.code() == Some(4)
    });
    let out = cluster.cvipctl(1, &["status"]);
    assert!(
        stderr(&out).contains("the cluster cannot take writes now"),
        "{}",
        cluster.explain(&out)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("quorum no"), "{stdout}");

    // With the agent gone too: exit 3 and how to start it.
    cluster.stop(1);
    let out = cluster.cvipctl(1, &["nodes"]);
    assert_eq!(out.status.code(), Some(3), "{}", cluster.explain(&out));
    assert!(stderr(&out).contains("ssinetd is not running on this node"));
}

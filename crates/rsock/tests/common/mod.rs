//! A namespace cluster with one rsock agent (the `rsock_node` example) per node.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use ssinet_interconnect::NodeId;
use ssinet_interconnect::pki::{self, PkiNode};
use ssinet_testbed::netns::{Lab, LabSpec, NetnsChild};

pub const PORT: u16 = 7948;

/// `target/<profile>` of this test binary.
pub fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    exe.parent().and_then(Path::parent).unwrap().to_path_buf()
}

/// The preload library (built on first use, see `ssinet_testbed::preload::preload_library`).
pub fn preload_library() -> PathBuf {
    ssinet_testbed::preload::preload_library(&profile_dir()).unwrap()
}

pub fn rsock_node_bin() -> PathBuf {
    let bin = profile_dir().join("examples").join("rsock_node");
    assert!(
        bin.is_file(),
        "{} missing: run `cargo test -p ssinet-rsock` (it builds examples)",
        bin.display()
    );
    bin
}

pub fn ssi_exec_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_ssi-exec"))
}

pub struct Cluster {
    pub lab: Lab,
    pub dir: tempfile::TempDir,
    pub agents: Vec<Option<NetnsChild>>,
    /// Each agent's boot epoch, from its "ready epoch=..." line.
    pub epochs: Vec<String>,
    nodes: u8,
}

impl Cluster {
    pub fn up(nodes: u8) -> Cluster {
        let lab = Lab::up(LabSpec {
            nodes,
            directors: vec![1],
            ..Default::default()
        })
        .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let pki_nodes: Vec<PkiNode> = (1..=nodes)
            .map(|n| PkiNode {
                node: NodeId(u64::from(n)),
                interconnect_ip: lab.node(n).interconnect_ip().into(),
            })
            .collect();
        pki::init(&pki_nodes, &dir.path().join("pki"), false).unwrap();
        let mut cluster = Cluster {
            lab,
            dir,
            agents: Vec::new(),
            epochs: Vec::new(),
            nodes,
        };
        for n in 1..=nodes {
            let (agent, epoch) = cluster.start_agent(n);
            cluster.agents.push(Some(agent));
            cluster.epochs.push(epoch);
        }
        cluster
    }

    pub fn broker(&self, node: u8) -> PathBuf {
        self.dir.path().join(format!("rsock-{node}.sock"))
    }

    pub fn interconnect(&self, node: u8) -> Ipv4Addr {
        self.lab.node(node).interconnect_ip()
    }

    pub fn external(&self, node: u8) -> Ipv4Addr {
        self.lab.node(node).external_ip()
    }

    /// Starts node `node`'s agent; returns it and its epoch.
    pub fn start_agent(&self, node: u8) -> (NetnsChild, String) {
        let pki_dir = self.dir.path().join("pki").join(format!("node{node}"));
        let mut cmd = Command::new(rsock_node_bin());
        cmd.arg("--node").arg(node.to_string());
        cmd.arg("--listen")
            .arg(format!("{}:{PORT}", self.interconnect(node)));
        for peer in (1..=self.nodes).filter(|p| *p != node) {
            cmd.arg("--peer")
                .arg(format!("{peer}={}:{PORT}", self.interconnect(peer)));
        }
        cmd.arg("--pki-dir")
            .arg(&pki_dir)
            .arg("--broker")
            .arg(self.broker(node));
        cmd.env(
            "RUST_LOG",
            std::env::var("RSOCK_TEST_LOG").unwrap_or_else(|_| "warn".into()),
        );
        cmd.stdout(Stdio::piped()).stderr(Stdio::inherit());
        let mut child = self.lab.node(node).netns().spawn(cmd).unwrap();
        let stdout = child.take_stdout().unwrap();
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).unwrap();
        let epoch = line
            .trim()
            .strip_prefix("ready epoch=")
            .unwrap_or_else(|| panic!("agent {node} did not start: {line:?}"))
            .to_owned();
        (child, epoch)
    }

    /// Starts a killed agent again; returns its new epoch.
    pub fn restart_agent(&mut self, node: u8) -> String {
        let (agent, epoch) = self.start_agent(node);
        self.agents[node as usize - 1] = Some(agent);
        self.epochs[node as usize - 1] = epoch.clone();
        epoch
    }

    pub fn kill_agent(&mut self, node: u8) {
        if let Some(mut agent) = self.agents[node as usize - 1].take() {
            agent.kill().unwrap();
        }
    }

    /// `ssi-exec --origin ORIGIN -- argv` inside node `node`.
    pub fn ssi_exec(&self, node: u8, origin: u8, argv: &[&str]) -> Command {
        let mut cmd = self.lab.node(node).netns().command(ssi_exec_bin());
        cmd.arg("--origin").arg(origin.to_string());
        cmd.arg("--preload").arg(preload_library());
        cmd.arg("--broker").arg(self.broker(node));
        cmd.arg("--");
        cmd.args(argv);
        cmd
    }
}

/// `tests/programs/NAME`: the helper programs the tests run.
pub fn script(name: &str) -> String {
    format!("{}/tests/programs/{name}", env!("CARGO_MANIFEST_DIR"))
}

/// Polls `f` until it returns Some or `limit` passes.
pub fn wait_for<T>(limit: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let start = Instant::now();
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if start.elapsed() > limit {
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

//! A namespace cluster of real `ssinetd` processes, and a small HTTP client for their admin
//! sockets. Each node runs in its lab namespace with its own data dir, TLS files and socket in a
//! temp dir; every process is killed and every namespace removed when the `Cluster` drops.
#![allow(dead_code, clippy::unwrap_used)]

pub mod http;

use std::collections::BTreeMap;
use std::fs::File;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::{Command as Process, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use ssinet_api::admin::{Role, StatusReport};
use ssinet_api::{ClusterState, Command};
use ssinet_lab::netns::{Lab, LabSpec, NetnsChild};
use ssinet_raft::pki::{self, PkiNode};
use tempfile::TempDir;

pub use http::Answer;

/// Short Raft timings so tests converge quickly; correctness never depends on them.
pub const TIMING_FLAGS: [&str; 6] = [
    "--heartbeat-ms",
    "50",
    "--election-min-ms",
    "300",
    "--election-max-ms",
    "600",
];

pub struct Cluster {
    pub lab: Lab,
    pub dir: TempDir,
    pub agents: BTreeMap<u8, NetnsChild>,
    /// Each node's TLS directory (tests may give a node other files).
    pub tls_dirs: BTreeMap<u8, PathBuf>,
    /// Raft timing flags for every agent: [`TIMING_FLAGS`], or none for ssinetd's defaults.
    pub timing: Vec<String>,
}

impl Cluster {
    /// A lab of `nodes` nodes with `directors` director-capable, its PKI, nothing started.
    pub fn new(nodes: u8, directors: &[u8]) -> Self {
        let lab = Lab::up(LabSpec {
            nodes,
            directors: directors.to_vec(),
            ..LabSpec::default()
        })
        .unwrap();
        let dir = TempDir::new().unwrap();
        let pki_nodes: Vec<PkiNode> = lab
            .nodes()
            .iter()
            .map(|n| PkiNode {
                node: u64::from(n.number()),
                interconnect_ip: IpAddr::V4(n.interconnect_ip()),
            })
            .collect();
        pki::init(&pki_nodes, &dir.path().join("pki"), false).unwrap();
        let tls_dirs = (1..=nodes)
            .map(|n| (n, dir.path().join("pki").join(format!("node{n}"))))
            .collect();
        Self {
            lab,
            dir,
            agents: BTreeMap::new(),
            tls_dirs,
            timing: TIMING_FLAGS.iter().map(ToString::to_string).collect(),
        }
    }

    /// A cluster with every node's agent started.
    pub fn start(nodes: u8, directors: &[u8]) -> Self {
        let mut cluster = Self::new(nodes, directors);
        for n in 1..=nodes {
            cluster.start_node(n);
        }
        cluster
    }

    pub fn node_count(&self) -> u8 {
        self.lab.spec().nodes
    }

    pub fn is_director(&self, n: u8) -> bool {
        self.lab.spec().is_director(n)
    }

    pub fn socket(&self, n: u8) -> PathBuf {
        self.dir.path().join(format!("run{n}")).join("admin.sock")
    }

    pub fn data_dir(&self, n: u8) -> PathBuf {
        self.dir.path().join(format!("data{n}"))
    }

    pub fn log_path(&self, n: u8) -> PathBuf {
        self.dir.path().join(format!("node{n}.log"))
    }

    /// The ssinetd command line for node `n` (no `--node`: it detects itself).
    pub fn command(&self, n: u8) -> Process {
        let config = self.lab.config_dir();
        let mut command = Process::new(env!("CARGO_BIN_EXE_ssinetd"));
        command
            .arg("--clustertab")
            .arg(config.join("clustertab"))
            .arg("--cvip-conf")
            .arg(config.join("cvip.conf"))
            .arg("--lvs-routing")
            .arg(config.join("lvs_routing"))
            .arg("--data-dir")
            .arg(self.data_dir(n))
            .arg("--tls-dir")
            .arg(&self.tls_dirs[&n])
            .arg("--admin-socket")
            .arg(self.socket(n))
            .args(&self.timing)
            .env("RUST_LOG", "info,openraft=warn")
            .stdin(Stdio::null());
        command
    }

    /// Starts (or restarts) node `n`'s agent, logging to `node<n>.log` (appended).
    pub fn start_node(&mut self, n: u8) {
        let log = File::options()
            .create(true)
            .append(true)
            .open(self.log_path(n))
            .unwrap();
        let mut command = self.command(n);
        command.stdout(log.try_clone().unwrap()).stderr(log);
        let child = self.lab.node(n).netns().spawn(command).unwrap();
        assert!(
            self.agents.insert(n, child).is_none(),
            "node {n} already running"
        );
    }

    /// SIGKILLs node `n`'s agent (a crash: no cleanup).
    pub fn kill(&mut self, n: u8) {
        let mut child = self.agents.remove(&n).expect("node is running");
        child.kill().unwrap();
    }

    /// SIGTERMs node `n`'s agent and waits for it; its exit status.
    pub fn terminate(&mut self, n: u8) -> std::process::ExitStatus {
        let mut child = self.agents.remove(&n).expect("node is running");
        child.signal(Signal::SIGTERM).unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < deadline, "node {n} ignored SIGTERM");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn running(&self) -> Vec<u8> {
        self.agents.keys().copied().collect()
    }

    pub fn status(&self, n: u8) -> Option<StatusReport> {
        http::get_json(&self.socket(n), ssinet_api::admin::STATUS)
    }

    pub fn state(&self, n: u8) -> Option<ClusterState> {
        http::get_json(&self.socket(n), ssinet_api::admin::STATE)
    }

    /// Sends `command` to node `n`'s admin API.
    pub fn command_on(&self, n: u8, command: &Command) -> Answer {
        http::request(
            &self.socket(n),
            "POST",
            ssinet_api::admin::COMMANDS,
            &serde_json::to_string(command).unwrap(),
        )
        .unwrap_or_else(|e| panic!("node {n}'s admin API: {e}"))
    }

    /// The leader every running node in `among` agrees on, if they do and it says so itself.
    pub fn agreed_leader(&self, among: &[u8]) -> Option<u8> {
        let mut leaders = Vec::new();
        for n in among {
            let status = self.status(*n)?;
            leaders.push(status.leader?.0);
        }
        let first = *leaders.first()?;
        if leaders.iter().any(|l| *l != first) {
            return None;
        }
        let leader = u8::try_from(first).ok()?;
        let own = self.status(leader)?;
        (own.role == Role::Leader && own.quorum).then_some(leader)
    }

    /// Waits for a director-capable leader all of `among` agree on.
    ///
    /// A non-director voter may lead for a moment as a caretaker (it never directs and hands
    /// over to the first director that has its whole log), so the leadership that matters, the
    /// one a test asserts on, is the one that settles on a director.
    pub fn wait_for_leader(&self, among: &[u8]) -> u8 {
        let mut leader = None;
        eventually(
            &format!("a director-capable leader agreed on by nodes {among:?}"),
            || {
                leader = self.agreed_leader(among).filter(|l| self.is_director(*l));
                leader.is_some()
            },
            self,
        );
        leader.unwrap()
    }

    /// Waits until each of `nodes` holds the state seeded from cvip.conf.
    pub fn wait_until_seeded(&self, nodes: &[u8]) {
        for n in nodes {
            eventually(
                &format!("node {n} to hold the seeded state"),
                || self.state(*n).is_some_and(|s| !s.is_empty()),
                self,
            );
        }
    }

    /// The last lines of every node's log, for a failing assertion.
    pub fn logs(&self) -> String {
        let mut out = String::new();
        for n in 1..=self.node_count() {
            let text = std::fs::read_to_string(self.log_path(n)).unwrap_or_default();
            let lines: Vec<&str> = text.lines().collect();
            let tail = &lines[lines.len().saturating_sub(25)..];
            out.push_str(&format!("--- node {n} ---\n{}\n", tail.join("\n")));
        }
        out
    }
}

/// Polls `check` until it holds; after a generous deadline panics with `what` and the logs.
pub fn eventually(what: &str, mut check: impl FnMut() -> bool, cluster: &Cluster) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !check() {
        if Instant::now() > deadline {
            panic!("timed out waiting for {what}\n{}", cluster.logs());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

pub fn exists(path: &Path) -> bool {
    std::fs::symlink_metadata(path).is_ok()
}

impl Drop for Cluster {
    /// `SSINET_TEST_LOGS=1` prints every node's log tail (also for passing tests).
    fn drop(&mut self) {
        if std::env::var_os("SSINET_TEST_LOGS").is_some() {
            eprintln!("{}", self.logs());
        }
    }
}

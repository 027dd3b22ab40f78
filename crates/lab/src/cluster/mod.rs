//! An agent cluster: a [`Lab`] with one real `ssinetd` per node namespace,
//! the test PKI they authenticate each other with, and what a user would check on it.
//!
//! ```no_run
//! # fn main() -> Result<(), ssinet_lab::cluster::ClusterError> {
//! use ssinet_lab::cluster::{Binaries, Cluster};
//! use ssinet_testbed::netns::LabSpec;
//! use std::time::Duration;
//! let mut cluster = Cluster::start(LabSpec::default(), Binaries::beside_current_exe()?)?;
//! let leader = cluster.wait_for_leader(&[1, 2, 3], Duration::from_secs(60))?;
//! let holders = cluster.cvip_holders()?;      // nodes with the CVIP on eth1 (`ip -j addr`)
//! let out = cluster.cvipctl(3, &["status"])?; // cvipctl against node 3's admin socket
//! cluster.kill(leader)?;                      // SIGKILL: a crash
//! cluster.start_node(leader)?;                // and back
//! cluster.freeze(leader)?;                    // SIGSTOP: hung, but alive
//! cluster.thaw(leader)?;                      // SIGCONT
//! # let _ = (holders, out); Ok(()) }
//! ```
//!
//! Each node's agent runs in its namespace with its own data dir, TLS files, admin socket and
//! log (`node<N>.log`) in a temporary directory; the agents get the lab's Raft timings
//! ([`TIMING_FLAGS`]). Dropping the [`Cluster`], also while unwinding from a panic, kills every
//! agent and removes the namespaces and the directory. `SSINET_TEST_LOGS=1` prints every node's
//! log tail on drop.
//!
//! Everything here blocks (no async runtime); the admin client is plain HTTP/1.1 over the unix
//! socket ([`admin`]).
//!
//! [`ownership`] watches who holds an address, every 10 ms from inside each node, for tests and
//! benchmarks that must prove no two nodes ever held the CVIP at once.

pub mod admin;
pub mod agents;
mod binaries;
mod cvipctl;
mod error;
pub mod ipvsadm;
mod observe;
pub mod ownership;

pub use admin::Answer;
pub use binaries::Binaries;
pub use error::{ClusterError, Result};
pub use ipvsadm::{IpvsDestination, IpvsService, ipvs_table, proc_ip_vs};
pub use observe::{Address, cvip_addresses, cvip_holders};
pub use ownership::{OwnershipSampler, OwnershipSummary, Sample, summarize};

use error::io_error;
use nix::sys::signal::Signal;
use ssinet_api::admin::{RaftRole, StatusReport};
use ssinet_api::{ClusterState, Command};
use ssinet_interconnect::NodeId;
use ssinet_interconnect::pki::{self, PkiNode};
use ssinet_testbed::netns::{Lab, LabSpec, NetnsChild};
use std::collections::BTreeMap;
use std::fs::File;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::{Command as Process, ExitStatus, Stdio};
use std::time::{Duration, Instant};
use tempfile::TempDir;

/// The lab's Raft timing: slower than ssinetd's defaults (heartbeat 30 ms, election 150-200 ms),
/// so the many clusters a test run starts at once on two cores do not miss a 30 ms
/// append-entries deadline and elect again; correctness never depends on them.
pub const TIMING_FLAGS: [&str; 6] = [
    "--heartbeat-ms",
    "50",
    "--election-min-ms",
    "300",
    "--election-max-ms",
    "600",
];

/// The agents' default log filter (openraft is chatty at info).
pub const LOG_FILTER: &str = "info,openraft=warn";

/// A lab with an `ssinetd` per node; see the [module docs](self).
#[derive(Debug)]
pub struct Cluster {
    // Field order is drop order: the agents die before their namespaces and files go.
    /// The running agents, by node number.
    pub agents: BTreeMap<u8, NetnsChild>,
    pub lab: Lab,
    /// Data dirs, sockets, logs and the PKI (`pki/`).
    pub dir: TempDir,
    /// Each node's TLS directory (tests may give a node other files).
    pub tls_dirs: BTreeMap<u8, PathBuf>,
    /// Raft timing flags for every agent: [`TIMING_FLAGS`], or none for ssinetd's defaults.
    pub timing: Vec<String>,
    /// `RUST_LOG` for the agents: [`LOG_FILTER`] unless changed.
    pub log_filter: String,
    pub binaries: Binaries,
}

impl Cluster {
    /// A lab built from `spec` and its PKI; no agent started.
    pub fn new(spec: LabSpec, binaries: Binaries) -> Result<Cluster> {
        binaries.require_ssinetd()?;
        let lab = Lab::up(spec)?;
        let dir = TempDir::new().map_err(io_error("create a temporary directory in", "/tmp"))?;
        let layout = init_pki(&lab, &dir.path().join("pki"))?;
        let tls_dirs = layout
            .node_dirs
            .into_iter()
            .filter_map(|(node, path)| Some((u8::try_from(node.get()).ok()?, path)))
            .collect();
        Ok(Cluster {
            agents: BTreeMap::new(),
            lab,
            dir,
            tls_dirs,
            timing: TIMING_FLAGS.iter().map(ToString::to_string).collect(),
            log_filter: LOG_FILTER.to_owned(),
            binaries,
        })
    }

    /// [`Cluster::new`] with every node's agent started.
    pub fn start(spec: LabSpec, binaries: Binaries) -> Result<Cluster> {
        let mut cluster = Cluster::new(spec, binaries)?;
        for node in 1..=cluster.node_count() {
            cluster.start_node(node)?;
        }
        Ok(cluster)
    }

    pub fn node_count(&self) -> u8 {
        self.lab.spec().nodes
    }

    pub fn is_director(&self, node: u8) -> bool {
        self.lab.spec().is_director(node)
    }

    /// Node `node`'s admin socket.
    pub fn socket(&self, node: u8) -> PathBuf {
        self.dir
            .path()
            .join(format!("run{node}"))
            .join("admin.sock")
    }

    pub fn data_dir(&self, node: u8) -> PathBuf {
        self.dir.path().join(format!("data{node}"))
    }

    /// Where node `node`'s agent writes stdout and stderr (appended across restarts).
    pub fn log_path(&self, node: u8) -> PathBuf {
        self.dir.path().join(format!("node{node}.log"))
    }

    /// The ssinetd command line for node `node` (no `--node`: it detects itself).
    pub fn command(&self, node: u8) -> Process {
        let mut command = Process::new(&self.binaries.ssinetd);
        agent_args(
            &mut command,
            self.lab.config_dir(),
            &self.data_dir(node),
            &self.tls_dirs.get(&node).cloned().unwrap_or_default(),
            &self.socket(node),
        );
        command.args(&self.timing).env("RUST_LOG", &self.log_filter);
        command
    }

    /// Starts (or restarts) node `node`'s agent in its namespace, logging to its log file.
    pub fn start_node(&mut self, node: u8) -> Result<()> {
        self.check_node(node)?;
        if self.agents.contains_key(&node) {
            return Err(ClusterError::Node {
                node,
                reason: "its agent is already running; kill or terminate it first".into(),
            });
        }
        let mut command = self.command(node);
        log_to(&mut command, &self.log_path(node))?;
        let child = self.lab.node(node).netns().spawn(command)?;
        self.agents.insert(node, child);
        Ok(())
    }

    /// SIGKILLs node `node`'s agent (a crash: it cleans nothing up) and reaps it.
    pub fn kill(&mut self, node: u8) -> Result<()> {
        let mut child = self.take_agent(node)?;
        child
            .kill()
            .map_err(io_error("kill the agent of", self.log_path(node)))?;
        Ok(())
    }

    /// SIGTERMs node `node`'s agent and waits up to `timeout` for it; its exit status.
    pub fn terminate(&mut self, node: u8, timeout: Duration) -> Result<ExitStatus> {
        let mut child = self.take_agent(node)?;
        child
            .signal(Signal::SIGTERM)
            .map_err(|errno| ClusterError::Node {
                node,
                reason: format!("cannot send SIGTERM to its agent: {errno}"),
            })?;
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = child
                .try_wait()
                .map_err(io_error("wait for the agent of", self.log_path(node)))?
            {
                return Ok(status);
            }
            if Instant::now() > deadline {
                // Put it back so the drop kills it.
                self.agents.insert(node, child);
                return Err(ClusterError::Node {
                    node,
                    reason: format!("its agent ignored SIGTERM for {} s", timeout.as_secs()),
                });
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The PID of node `node`'s agent, while this cluster runs one there (not its fence-guard
    /// child). For faults the harness has no method for; signal only this PID, never by name.
    pub fn pid(&self, node: u8) -> Option<u32> {
        self.agents.get(&node).map(NetnsChild::pid)
    }

    /// SIGSTOPs node `node`'s agent: a process that still exists, keeps its sockets, its pipe to
    /// its fence guard and every address it added, but does nothing (a hung or swapped-out
    /// agent, a VM paused by its host). Unlike [`Cluster::kill`] nothing notices a closed pipe
    /// or socket. The agent stays in [`Cluster::agents`]; [`Cluster::thaw`] resumes it, and
    /// dropping the cluster still kills it (SIGKILL ends a stopped process too).
    pub fn freeze(&self, node: u8) -> Result<()> {
        self.signal_agent(node, Signal::SIGSTOP)
    }

    /// SIGCONTs node `node`'s agent after [`Cluster::freeze`].
    pub fn thaw(&self, node: u8) -> Result<()> {
        self.signal_agent(node, Signal::SIGCONT)
    }

    fn signal_agent(&self, node: u8, signal: Signal) -> Result<()> {
        self.check_node(node)?;
        let agent = self.agents.get(&node).ok_or_else(|| ClusterError::Node {
            node,
            reason: "its agent is not running".into(),
        })?;
        agent.signal(signal).map_err(|errno| ClusterError::Node {
            node,
            reason: format!("cannot send {signal} to its agent: {errno}"),
        })
    }

    /// The nodes whose agents run.
    pub fn running(&self) -> Vec<u8> {
        self.agents.keys().copied().collect()
    }

    /// `GET /v1/status` on node `node`; `None` when it does not answer 200.
    pub fn status(&self, node: u8) -> Option<StatusReport> {
        admin::get_json(&self.socket(node), ssinet_api::admin::STATUS)
    }

    /// `GET /v1/state` on node `node`.
    pub fn state(&self, node: u8) -> Option<ClusterState> {
        admin::get_json(&self.socket(node), ssinet_api::admin::STATE)
    }

    /// `GET /v1/ipvs` on node `node`: the IPVS table it programs, as the agent reports it.
    pub fn ipvs(&self, node: u8) -> Option<serde_json::Value> {
        admin::get_json(&self.socket(node), admin::IPVS)
    }

    /// `POST /v1/commands` on node `node`; the answer whatever its status.
    pub fn command_on(&self, node: u8, command: &Command) -> Result<Answer> {
        let body = serde_json::to_string(command).map_err(|error| ClusterError::Node {
            node,
            reason: format!("cannot encode the command: {error}"),
        })?;
        admin::request(
            &self.socket(node),
            "POST",
            ssinet_api::admin::COMMANDS,
            &body,
        )
        .map_err(|error| ClusterError::Admin {
            node,
            socket: self.socket(node),
            reason: error.to_string(),
        })
    }

    /// The leader every node in `among` agrees on, if they do and it says so itself (leader
    /// with quorum).
    pub fn agreed_leader(&self, among: &[u8]) -> Option<u8> {
        let mut leaders = Vec::new();
        for node in among {
            leaders.push(self.status(*node)?.leader?.0);
        }
        let first = *leaders.first()?;
        if leaders.iter().any(|leader| *leader != first) {
            return None;
        }
        let leader = u8::try_from(first).ok()?;
        let own = self.status(leader)?;
        (own.role == RaftRole::Leader && own.quorum).then_some(leader)
    }

    /// Waits for a director-capable leader all of `among` agree on.
    ///
    /// A non-director voter may lead for a moment as a caretaker (it never directs and hands
    /// over to the first director that has its whole log), so the leadership that matters is
    /// the one that settles on a director.
    pub fn wait_for_leader(&self, among: &[u8], timeout: Duration) -> Result<u8> {
        let mut leader = None;
        self.eventually(
            &format!("a director-capable leader agreed on by nodes {among:?}"),
            timeout,
            || {
                leader = self
                    .agreed_leader(among)
                    .filter(|node| self.is_director(*node));
                leader.is_some()
            },
        )?;
        Ok(leader.expect("eventually returned Ok only once a leader was found"))
    }

    /// Waits until each of `nodes` holds the state seeded from cvip.conf.
    pub fn wait_until_seeded(&self, nodes: &[u8], timeout: Duration) -> Result<()> {
        for node in nodes {
            self.eventually(
                &format!("node {node} to hold the seeded state"),
                timeout,
                || self.state(*node).is_some_and(|state| !state.is_empty()),
            )?;
        }
        Ok(())
    }

    /// Polls `check` every 20 ms until it holds; after `timeout`, an error naming `what` with
    /// every node's log tail. Never a measurement: deadlines here only catch hung clusters.
    pub fn eventually(
        &self,
        what: &str,
        timeout: Duration,
        mut check: impl FnMut() -> bool,
    ) -> Result<()> {
        let deadline = Instant::now() + timeout;
        while !check() {
            if Instant::now() > deadline {
                return Err(ClusterError::Timeout {
                    what: what.to_owned(),
                    seconds: timeout.as_secs(),
                    logs: self.logs(),
                });
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(())
    }

    /// The last 25 lines of every node's log, for a failing assertion.
    pub fn logs(&self) -> String {
        let mut out = String::new();
        for node in 1..=self.node_count() {
            let text = std::fs::read_to_string(self.log_path(node)).unwrap_or_default();
            let lines: Vec<&str> = text.lines().collect();
            let tail = &lines[lines.len().saturating_sub(25)..];
            out.push_str(&format!("--- node {node} ---\n{}\n", tail.join("\n")));
            if let Some(agent) = self.agents.get(&node) {
                out.push_str(&blocked_threads(agent.pid()));
            }
        }
        out
    }

    fn check_node(&self, node: u8) -> Result<()> {
        if (1..=self.node_count()).contains(&node) {
            Ok(())
        } else {
            Err(ClusterError::Node {
                node,
                reason: format!("this cluster has nodes 1..={}", self.node_count()),
            })
        }
    }

    fn take_agent(&mut self, node: u8) -> Result<NetnsChild> {
        self.agents.remove(&node).ok_or_else(|| ClusterError::Node {
            node,
            reason: "its agent is not running".into(),
        })
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if std::env::var_os("SSINET_TEST_LOGS").is_some() {
            eprintln!("{}", self.logs());
        }
    }
}

/// The cluster CA and one certificate per node of `lab`, under `out`.
/// The cluster's node id of the test bed's node `n` (the test bed numbers its nodes as the
/// clustertab it writes does, in a `u8`): the one place the harness widens it.
pub fn node_id(n: u8) -> NodeId {
    NodeId(u64::from(n))
}

pub(crate) fn init_pki(lab: &Lab, out: &Path) -> Result<pki::PkiLayout> {
    let nodes: Vec<PkiNode> = lab
        .nodes()
        .iter()
        .map(|node| PkiNode {
            node: node_id(node.number()),
            interconnect_ip: IpAddr::V4(node.interconnect_ip()),
        })
        .collect();
    Ok(pki::init(&nodes, out, false)?)
}

/// The flags every lab agent gets: the lab's OpenSSI files, its data and TLS directories, its
/// admin socket and, beside it, its remote-socket broker (`rsock.sock`; lab agents share one
/// filesystem, so the default path would clash), with no stdin. No `--node`: it detects itself.
pub(crate) fn agent_args(
    command: &mut Process,
    config: &Path,
    data_dir: &Path,
    tls_dir: &Path,
    socket: &Path,
) {
    command
        .arg("--clustertab")
        .arg(config.join("clustertab"))
        .arg("--cvip-conf")
        .arg(config.join("cvip.conf"))
        .arg("--lvs-routing")
        .arg(config.join("lvs_routing"))
        .arg("--data-dir")
        .arg(data_dir)
        .arg("--tls-dir")
        .arg(tls_dir)
        .arg("--admin-socket")
        .arg(socket)
        .arg("--rsock-socket")
        .arg(rsock_socket_beside(socket))
        .stdin(Stdio::null());
}

/// The broker socket of the agent whose admin socket is `admin`.
pub fn rsock_socket_beside(admin: &Path) -> PathBuf {
    admin.with_file_name("rsock.sock")
}

/// Sends the command's stdout and stderr to `path`, appended.
pub(crate) fn log_to(command: &mut Process, path: &Path) -> Result<()> {
    let log = File::options()
        .create(true)
        .append(true)
        .open(path)
        .map_err(io_error("open the agent log", path))?;
    let stderr = log
        .try_clone()
        .map_err(io_error("duplicate the handle of", path))?;
    command.stdout(log).stderr(stderr);
    Ok(())
}

/// The agent's threads that sleep in the kernel outside the usual waits (futex, epoll, poll),
/// with their kernel stacks: what a hung data plane is stuck on. Empty when none, or when the
/// stacks cannot be read (they need root).
fn blocked_threads(pid: u32) -> String {
    const IDLE: [&str; 4] = ["futex_wait", "do_epoll_wait", "do_sys_poll", "do_select"];
    let mut out = String::new();
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return out;
    };
    for task in tasks.flatten() {
        let path = task.path();
        let Ok(stack) = std::fs::read_to_string(path.join("stack")) else {
            continue;
        };
        if stack.trim().is_empty() || IDLE.iter().any(|idle| stack.contains(idle)) {
            continue;
        }
        let comm = std::fs::read_to_string(path.join("comm")).unwrap_or_default();
        out.push_str(&format!(
            "thread {} ({}) blocked in the kernel:\n{stack}",
            task.file_name().to_string_lossy(),
            comm.trim()
        ));
    }
    out
}

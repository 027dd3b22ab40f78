//! The agents of a lab made by `ssinet-lab up`: one `ssinetd` per node, detached (a session of
//! its own) so it outlives `up`, with the cluster PKI, its data directory, admin socket and log
//! under the lab's directory (`/run/ssinet-lab/<name>/node<N>/`). `ssinet-lab down` ends them
//! with the namespaces (it kills what runs inside them); `ssinet-lab exec N -- cvipctl ...`
//! reaches node N's agent through [`ADMIN_SOCKET_ENV`].

use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use ssinet_api::admin::StatusReport;

use super::error::{ClusterError, Result, io_error};
use super::{Binaries, LOG_FILTER, admin, agent_args, init_pki, log_to};
use ssinet_testbed::netns::Lab;

/// The variable `cvipctl` reads its admin socket from (`--socket` wins).
pub const ADMIN_SOCKET_ENV: &str = "SSINET_ADMIN_SOCKET";
/// The variable `ssi-exec` reads its broker socket from (`--broker` wins).
pub const RSOCK_SOCKET_ENV: &str = "SSINET_RSOCK_BROKER";

/// Node `node`'s directory in the lab's directory.
pub fn node_dir(lab_dir: &Path, node: u8) -> PathBuf {
    lab_dir.join(format!("node{node}"))
}

/// Node `node`'s admin socket.
pub fn admin_socket(lab_dir: &Path, node: u8) -> PathBuf {
    node_dir(lab_dir, node).join("admin.sock")
}

/// Node `node`'s remote-socket broker (`ssi-exec` processes on it talk to this).
pub fn rsock_socket(lab_dir: &Path, node: u8) -> PathBuf {
    super::rsock_socket_beside(&admin_socket(lab_dir, node))
}

/// Node `node`'s agent log (stdout and stderr, appended).
pub fn log_path(lab_dir: &Path, node: u8) -> PathBuf {
    node_dir(lab_dir, node).join("ssinetd.log")
}

/// Creates the lab's PKI and starts every node's agent in its namespace with the lab's files
/// and ssinetd's default timing. The agents are not waited for (see [`wait_for_leader`]).
pub fn start(lab: &Lab, binaries: &Binaries) -> Result<()> {
    binaries.require_ssinetd()?;
    let dir = lab.config_dir();
    let layout = init_pki(lab, &dir.join("pki"))?;
    for node in lab.nodes() {
        let n = node.number();
        let home = node_dir(dir, n);
        std::fs::create_dir_all(&home).map_err(io_error("create", &home))?;
        let tls = layout
            .node_dirs
            .iter()
            .find(|(id, _)| *id == super::node_id(n))
            .map(|(_, path)| path.clone())
            .unwrap_or_default();
        let mut command = node.netns().command(&binaries.ssinetd);
        agent_args(
            &mut command,
            dir,
            &home.join("data"),
            &tls,
            &admin_socket(dir, n),
        );
        command.env("RUST_LOG", LOG_FILTER);
        log_to(&mut command, &log_path(dir, n))?;
        // SAFETY: between fork and exec only setsid (async-signal-safe) runs: the agent leaves
        // the caller's session so closing the terminal does not end it.
        unsafe {
            command.pre_exec(|| {
                if libc::setsid() < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        // Not kept: the agent outlives this process and `down` ends it with its namespace.
        command.spawn().map_err(|cause| ClusterError::Node {
            node: n,
            reason: format!("cannot start {}: {cause}", binaries.ssinetd.display()),
        })?;
    }
    Ok(())
}

/// The status reports of every node that answers.
pub fn statuses(lab: &Lab) -> Vec<(u8, StatusReport)> {
    lab.nodes()
        .iter()
        .filter_map(|node| {
            let n = node.number();
            admin::get_json(
                &admin_socket(lab.config_dir(), n),
                ssinet_api::admin::STATUS,
            )
            .map(|report| (n, report))
        })
        .collect()
}

/// Waits until every node answers, names the same leader and sees a quorum (so `cvipctl` on
/// any node can write); that leader.
pub fn wait_for_leader(lab: &Lab, timeout: Duration) -> Result<u8> {
    let deadline = Instant::now() + timeout;
    loop {
        let reports = statuses(lab);
        let leader = reports.first().and_then(|(_, r)| r.leader);
        let settled = reports.len() == usize::from(lab.spec().nodes)
            && reports.iter().all(|(_, r)| r.leader == leader && r.quorum);
        if let Some(leader) = leader.filter(|_| settled) {
            return Ok(u8::try_from(leader.0).unwrap_or(0));
        }
        if Instant::now() > deadline {
            let logs = lab
                .nodes()
                .iter()
                .map(|node| {
                    log_path(lab.config_dir(), node.number())
                        .display()
                        .to_string()
                })
                .collect::<Vec<_>>()
                .join(", ");
            return Err(ClusterError::Timeout {
                what: "the agents to agree on a leader".into(),
                seconds: timeout.as_secs(),
                logs: format!("the agents' logs: {logs}"),
            });
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

//! The fence guard: a small child process (`ssinetd --fence-guard DIR`) that outlives a killed
//! agent just long enough to take the CVIPs off the external interface.
//!
//! A partitioned director releases its CVIPs itself (the fence), but an agent that is killed or
//! crashes cannot, and its addresses would stay while a successor claims them: two owners. The
//! agent tells the guard, over the guard's stdin, which external addresses it holds (before
//! adding them). When that pipe closes without a final empty list, the agent is gone: the guard
//! takes the data directory's lock (released by the kernel when the agent died), releases those
//! addresses through the same ownership state, and exits. If a new agent got the lock first, it
//! reconciles by itself and the guard leaves it alone.

use std::fs::File;
use std::io::{BufRead, Write};
use std::net::IpAddr;
use std::os::fd::AsRawFd;
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context;

const LOCK_FILE: &str = "agent.lock";

/// The agent's end: the child and the pipe to it.
pub struct FenceGuard {
    child: Option<Child>,
    stdin: Option<ChildStdin>,
    held: Vec<(IpAddr, String)>,
}

impl FenceGuard {
    pub fn spawn(netconf_dir: &Path) -> anyhow::Result<Self> {
        let exe = std::env::current_exe().context("cannot find the ssinetd executable")?;
        let mut child = Command::new(exe)
            .arg("--fence-guard")
            .arg(netconf_dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .context("cannot start the fence guard")?;
        let stdin = child.stdin.take();
        Ok(Self {
            child: Some(child),
            stdin,
            held: Vec::new(),
        })
    }

    /// What the guard was last told.
    pub fn held(&self) -> &[(IpAddr, String)] {
        &self.held
    }

    pub fn tell(&mut self, held: &[(IpAddr, String)]) {
        if self.held == held {
            return;
        }
        let Some(stdin) = &mut self.stdin else {
            return;
        };
        let line = match serde_json::to_string(held) {
            Ok(line) => line,
            Err(e) => {
                tracing::warn!(error = %e, "cannot encode the fence guard's list");
                return;
            }
        };
        if let Err(e) = writeln!(stdin, "{line}").and_then(|()| stdin.flush()) {
            tracing::warn!(error = %e, "the fence guard is gone");
            self.stdin = None;
            return;
        }
        self.held = held.to_vec();
    }

    /// Closes the pipe (after a final list) and reaps the guard, which exits without acting
    /// when that list was empty.
    pub fn detach(mut self) {
        self.stdin = None;
        if let Some(mut child) = self.child.take() {
            let _ = child.wait();
        }
    }
}

/// Locks `netconf_dir` for this process, waiting up to `wait` for another holder (a guard
/// finishing its work, or a dying agent whose descriptors the kernel is still closing);
/// `None` when it stays held.
pub fn lock(netconf_dir: &Path, wait: Duration) -> anyhow::Result<Option<File>> {
    let path = netconf_dir.join(LOCK_FILE);
    let file = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .with_context(|| format!("cannot open {}", path.display()))?;
    let deadline = Instant::now() + wait;
    loop {
        // SAFETY: flock on a descriptor this function owns.
        let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        if rc == 0 {
            return Ok(Some(file));
        }
        if Instant::now() >= deadline {
            return Ok(None);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The guard process's main: returns its exit code.
pub fn run(netconf_dir: &Path) -> u8 {
    // The agent's process group may be signalled as a whole (Ctrl-C, systemd stop): the guard
    // must outlive the agent, so only the pipe ends it.
    // SAFETY: setting signal dispositions to SIG_IGN before any thread exists.
    unsafe {
        libc::signal(libc::SIGINT, libc::SIG_IGN);
        libc::signal(libc::SIGTERM, libc::SIG_IGN);
    }
    let mut held: Vec<(IpAddr, String)> = Vec::new();
    for line in std::io::stdin().lock().lines() {
        let Ok(line) = line else { break };
        match serde_json::from_str(&line) {
            Ok(list) => held = list,
            Err(e) => eprintln!("ssinetd fence guard: ignoring a malformed list: {e}"),
        }
    }
    if held.is_empty() {
        return 0;
    }
    // The agent is gone; the kernel frees its lock as it closes the dead agent's descriptors,
    // which may be just after the pipe. Still held after that: a new agent runs and reconciles.
    let lock = match lock(netconf_dir, Duration::from_secs(2)) {
        Ok(Some(lock)) => lock,
        Ok(None) => {
            eprintln!("ssinetd fence guard: another agent holds the state; leaving it to it");
            return 0;
        }
        Err(e) => {
            eprintln!("ssinetd fence guard: {e:#}");
            return 1;
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("ssinetd fence guard: {e}");
            return 1;
        }
    };
    let code = runtime.block_on(async {
        let mut net = match ssinet_netconf::Manager::open(netconf_dir).await {
            Ok(net) => net,
            Err(e) => {
                eprintln!("ssinetd fence guard: {e}");
                return 1;
            }
        };
        let mut code = 0;
        for (addr, ifname) in &held {
            match net.release_cvip(*addr).await {
                Ok(_) => {
                    eprintln!("ssinetd fence guard: the agent died; released {addr} from {ifname}")
                }
                Err(e) => {
                    eprintln!("ssinetd fence guard: cannot release {addr} from {ifname}: {e}");
                    code = 1;
                }
            }
        }
        code
    });
    drop(lock);
    code
}

//! The fence guard: a small child process (`ssinetd --fence-guard DIR`) that enforces the
//! director's fence when the agent cannot: killed, crashed or frozen.
//!
//! A partitioned director releases its CVIPs itself (the fence), but an agent that is killed,
//! crashes or is frozen (SIGSTOP, a stalled VM, a stuck kernel call) cannot, and its addresses
//! would stay while a successor claims them: two owners. The agent tells the guard, over the
//! guard's stdin, which external addresses it holds (before adding them) and until when its
//! fence allows it to hold them (a lease on the monotonic clock, renewed with every quorum
//! acknowledgement). Two ways out:
//! - **The lease runs out** (the agent is frozen or too slow to renew): the guard withdraws
//!   those addresses straight through netlink, without the state's lock the frozen agent still
//!   holds, and keeps guarding; the agent, when it runs again, finds them gone and reconciles.
//! - **The pipe closes** without a final empty list (the agent is gone): the guard takes the data
//!   directory's lock (released by the kernel when the agent died), releases those addresses
//!   through the same ownership state, and exits. If a new agent got the lock first, it
//!   reconciles by itself and the guard leaves it alone.

use std::fs::File;
use std::io::{BufRead, Write};
use std::net::IpAddr;
use std::os::fd::AsRawFd;
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context;
use serde::{Deserialize, Serialize};

const LOCK_FILE: &str = "agent.lock";
/// A renewal that moves the lease by less than this is not sent (fewer pipe writes; the
/// guard then acts up to this much earlier than the agent would, never later).
const RENEW_STEP: Duration = Duration::from_millis(10);

/// One line on the guard's stdin.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GuardMessage {
    /// The external addresses the agent holds or is about to add.
    pub held: Vec<(IpAddr, String)>,
    /// Until when (CLOCK_MONOTONIC, nanoseconds) the fence lets the agent hold them; `None`:
    /// no lease (nothing held, or no deadline known).
    pub until_ns: Option<u64>,
}

/// CLOCK_MONOTONIC now, in nanoseconds: the clock both processes share.
pub fn monotonic_ns() -> u64 {
    // SAFETY: timespec is plain data (two integers); all zeroes is a valid value.
    let mut ts: libc::timespec = unsafe { std::mem::zeroed() };
    // SAFETY: CLOCK_MONOTONIC is a valid clock id and `ts` a live, writable timespec, the only
    // memory clock_gettime writes.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    let secs = u64::try_from(ts.tv_sec).unwrap_or(0);
    let nanos = u64::try_from(ts.tv_nsec).unwrap_or(0);
    secs.saturating_mul(1_000_000_000).saturating_add(nanos)
}

/// `at` on the shared monotonic clock.
fn instant_ns(at: Instant) -> u64 {
    let now = Instant::now();
    let ns = monotonic_ns();
    match at.checked_duration_since(now) {
        Some(ahead) => ns.saturating_add(u64::try_from(ahead.as_nanos()).unwrap_or(u64::MAX)),
        None => {
            ns.saturating_sub(u64::try_from(now.duration_since(at).as_nanos()).unwrap_or(u64::MAX))
        }
    }
}

/// The agent's end: the child and the pipe to it.
pub struct FenceGuard {
    child: Option<Child>,
    stdin: Option<ChildStdin>,
    held: Vec<(IpAddr, String)>,
    /// The lease last sent.
    until: Option<Instant>,
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
            until: None,
        })
    }

    /// What the guard was last told.
    pub fn held(&self) -> &[(IpAddr, String)] {
        &self.held
    }

    /// The lease last sent.
    pub fn lease(&self) -> Option<Instant> {
        self.until
    }

    /// Tells the guard what is held, keeping the lease.
    pub fn tell(&mut self, held: &[(IpAddr, String)]) {
        if self.held == held {
            return;
        }
        self.send(held, self.until);
    }

    /// Renews (or drops, with `None`) the lease: the guard withdraws what is held once `until`
    /// passes without a newer renewal. Sent only when it moved by [`RENEW_STEP`] or more, or
    /// moved earlier.
    pub fn renew(&mut self, until: Option<Instant>) {
        let worth_sending = match (self.until, until) {
            (Some(old), Some(new)) => new < old || new.duration_since(old) >= RENEW_STEP,
            (old, new) => old != new,
        };
        if worth_sending {
            let held = self.held.clone();
            self.send(&held, until);
        }
    }

    fn send(&mut self, held: &[(IpAddr, String)], until: Option<Instant>) {
        let Some(stdin) = &mut self.stdin else {
            return;
        };
        let message = GuardMessage {
            held: held.to_vec(),
            until_ns: until.map(instant_ns),
        };
        let line = match serde_json::to_string(&message) {
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
        self.until = until;
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

/// Follows the agent's messages until the pipe closes, withdrawing what is held whenever the
/// lease runs out; returns the last list (what a dead agent left behind).
fn watch_lease() -> anyhow::Result<Vec<(IpAddr, String)>> {
    // Our own buffer over the pipe (not `Stdin`'s hidden one), so poll(2) is skipped while a
    // line is already buffered.
    let pipe = std::os::fd::AsFd::as_fd(&std::io::stdin())
        .try_clone_to_owned()
        .context("cannot duplicate stdin")?;
    let mut lines = std::io::BufReader::new(File::from(pipe));
    let mut last = GuardMessage {
        held: Vec::new(),
        until_ns: None,
    };
    // Whether the current lease's addresses were withdrawn already.
    let mut withdrawn = false;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the guard's runtime")?;
    loop {
        // Wait for a line, or until the lease runs out. Lines are far below PIPE_BUF, so a
        // readable pipe holds at least one whole line.
        let timeout_ms = match last.until_ns {
            Some(until) if !withdrawn && !last.held.is_empty() => {
                let left = until.saturating_sub(monotonic_ns());
                i32::try_from(left.div_ceil(1_000_000)).unwrap_or(i32::MAX)
            }
            _ => -1,
        };
        let ready = lines.buffer().is_empty().then(|| {
            let mut pfd = libc::pollfd {
                fd: libc::STDIN_FILENO,
                events: libc::POLLIN,
                revents: 0,
            };
            // SAFETY: one valid pollfd.
            unsafe { libc::poll(&mut pfd, 1, timeout_ms) }
        });
        if ready == Some(0) {
            // The lease ran out: the agent did not renew in time (frozen or stalled).
            withdrawn = true;
            match runtime.block_on(ssinet_netconf::withdraw_addresses(&last.held)) {
                Ok(removed) if !removed.is_empty() => eprintln!(
                    "ssinetd fence guard: the agent's lease ran out; withdrew {removed:?}"
                ),
                Ok(_) => {}
                Err(e) => eprintln!("ssinetd fence guard: cannot withdraw {:?}: {e}", last.held),
            }
            continue;
        }
        let mut line = String::new();
        match lines.read_line(&mut line) {
            Ok(0) | Err(_) => return Ok(last.held),
            Ok(_) => {}
        }
        match serde_json::from_str::<GuardMessage>(&line) {
            Ok(message) => {
                // A renewal after a withdrawal starts a new lease.
                if message.until_ns != last.until_ns || message.held != last.held {
                    withdrawn = false;
                }
                last = message;
            }
            Err(e) => eprintln!("ssinetd fence guard: ignoring a malformed message: {e}"),
        }
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
    let held = match watch_lease() {
        Ok(held) => held,
        Err(e) => {
            eprintln!("ssinetd fence guard: {e:#}");
            return 1;
        }
    };
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

//! [`NetnsChild`]: a process running inside a namespace, killed when its guard or its namespace
//! goes away.
//!
//! Killing is by PID, and only while the process is still our unreaped child: its PID cannot be
//! reused until we wait for it, so a kill never hits a stranger.
use nix::sys::signal::Signal;
use nix::unistd::Pid;
use std::process::{Child, ChildStderr, ChildStdin, ChildStdout, ExitStatus};
use std::sync::{Arc, Mutex, MutexGuard};

/// The PIDs of a namespace's children that are not reaped yet.
#[derive(Debug, Default)]
pub(crate) struct ChildRegistry {
    pids: Mutex<Vec<u32>>,
}

impl ChildRegistry {
    fn lock(&self) -> MutexGuard<'_, Vec<u32>> {
        // A panic while holding this lock cannot leave the list half-updated; keep using it.
        self.pids
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// SIGKILLs every registered child. They stay registered: their guards reap them.
    pub(crate) fn kill_all(&self) {
        for pid in self.lock().iter() {
            let _ = nix::sys::signal::kill(as_pid(*pid), Signal::SIGKILL);
        }
    }
}

fn as_pid(pid: u32) -> Pid {
    Pid::from_raw(i32::try_from(pid).expect("Linux PIDs fit in i32"))
}

/// A process started by [`super::Netns::spawn`]. Dropping it SIGKILLs and reaps the process
/// unless it was already waited for.
#[derive(Debug)]
pub struct NetnsChild {
    child: Child,
    registry: Arc<ChildRegistry>,
    namespace: String,
}

impl NetnsChild {
    pub(crate) fn register(child: Child, registry: &Arc<ChildRegistry>, namespace: &str) -> Self {
        registry.lock().push(child.id());
        NetnsChild {
            child,
            registry: Arc::clone(registry),
            namespace: namespace.to_owned(),
        }
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The namespace it was started in.
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// Its stdin, if the command asked for `Stdio::piped()`; can be taken once.
    pub fn take_stdin(&mut self) -> Option<ChildStdin> {
        self.child.stdin.take()
    }

    /// Its stdout, if the command asked for `Stdio::piped()`; can be taken once.
    pub fn take_stdout(&mut self) -> Option<ChildStdout> {
        self.child.stdout.take()
    }

    /// Its stderr, if the command asked for `Stdio::piped()`; can be taken once.
    pub fn take_stderr(&mut self) -> Option<ChildStderr> {
        self.child.stderr.take()
    }

    /// Whether it is still running; `Some(status)` once it has exited (and is reaped).
    pub fn try_wait(&mut self) -> std::io::Result<Option<ExitStatus>> {
        let mut pids = self.registry.lock();
        if !pids.contains(&self.child.id()) {
            return self.child.try_wait();
        }
        // Reap under the lock so a concurrent `kill_all` cannot signal a recycled PID.
        let status = self.child.try_wait()?;
        if status.is_some() {
            pids.retain(|pid| *pid != self.child.id());
        }
        Ok(status)
    }

    /// Waits for it to exit.
    pub fn wait(&mut self) -> std::io::Result<ExitStatus> {
        self.unregister();
        self.child.wait()
    }

    /// Sends `signal` (e.g. SIGTERM for a graceful stop) if it has not been reaped yet.
    pub fn signal(&self, signal: Signal) -> nix::Result<()> {
        let pids = self.registry.lock();
        if pids.contains(&self.child.id()) {
            nix::sys::signal::kill(as_pid(self.child.id()), signal)?;
        }
        Ok(())
    }

    /// SIGKILLs it and waits for it.
    pub fn kill(&mut self) -> std::io::Result<ExitStatus> {
        // Best effort: it may have exited already, which the wait reports.
        let _ = self.signal(Signal::SIGKILL);
        self.wait()
    }

    fn unregister(&self) -> bool {
        let mut pids = self.registry.lock();
        let before = pids.len();
        pids.retain(|pid| *pid != self.child.id());
        pids.len() != before
    }
}

impl Drop for NetnsChild {
    fn drop(&mut self) {
        if self.registry.lock().contains(&self.child.id()) {
            let _ = self.kill();
        }
    }
}

//! Booting qemu for one run and supervising it: the command's output streams through two
//! virtio serial ports (plain character devices in the guest, not ttys, so no `\r` and no
//! colour), the kernel's console goes to a log the host reads only when the VM died.
use super::cache::Prepared;
use super::error::{Result, VmError};
use super::guest_init::{MODULE_TREE_PARAM, STDERR_PORT, STDOUT_PORT};
use super::guest_run::read_outcome;
use super::spec::{VmOutcome, VmSpec};
use super::tools;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const QEMU: &str = "qemu-system-x86_64";

/// Files of one run on the host: the exchange share and qemu's and the console's logs.
pub struct RunDir<'a> {
    pub exchange: &'a Path,
    pub console_log: &'a Path,
    pub qemu_log: &'a Path,
}

/// Boots the VM, streams the command's output into `stdout`/`stderr` (with `\r` removed) and
/// returns how the command ended. The stage 2 script must already be in the exchange share.
pub fn boot_and_wait(
    prepared: &Prepared,
    spec: &VmSpec,
    dir: &RunDir<'_>,
    stdout: &mut (dyn Write + Send),
    stderr: &mut (dyn Write + Send),
) -> Result<VmOutcome> {
    let (stdout_read, stdout_write) = pipe()?;
    let (stderr_read, stderr_write) = pipe()?;
    let mut command = command(prepared, spec, dir, &stdout_write, &stderr_write)?;
    let qemu_log = std::fs::File::create(dir.qemu_log)
        .map_err(|e| VmError::io("creating", dir.qemu_log, e))?;
    let qemu_log_err = qemu_log
        .try_clone()
        .map_err(|e| VmError::io("duplicating", dir.qemu_log, e))?;
    command
        .stdin(Stdio::null())
        .stdout(qemu_log)
        .stderr(qemu_log_err);
    let inherited = [stdout_write.as_raw_fd(), stderr_write.as_raw_fd()];
    // SAFETY: the closure runs between fork and exec and calls only async-signal-safe
    // functions (fcntl, prctl) on plain integers; it allocates nothing and takes no locks.
    unsafe {
        command.pre_exec(move || {
            for fd in inherited {
                // qemu opens the pipes as /dev/fd/N: keep exactly these two open across exec.
                if libc::fcntl(fd, libc::F_SETFD, 0) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            // A VM must not outlive the process (or test) that started it.
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let started = Instant::now();
    let child = command.spawn().map_err(|source| VmError::Spawn {
        command: QEMU.into(),
        source,
    })?;
    // Only qemu holds the write ends now: the readers see EOF once it exits.
    drop((stdout_write, stderr_write));
    let mut qemu = KillOnDrop(child);
    tracing::debug!(pid = qemu.0.id(), "qemu started");

    let (status, timed_out) = std::thread::scope(|scope| {
        scope.spawn(|| pump(stdout_read, stdout, Some(started)));
        scope.spawn(|| pump(stderr_read, stderr, None));
        let waited = qemu.wait_until(started + spec.timeout);
        if waited.is_err() {
            // The readers end only when qemu does.
            qemu.kill();
        }
        waited
    })?;
    tracing::debug!(elapsed = ?started.elapsed(), %status, timed_out, "qemu ended");

    if tracing::enabled!(tracing::Level::DEBUG) {
        let console = std::fs::read(dir.console_log).unwrap_or_default();
        let console = String::from_utf8_lossy(&console).replace('\r', "");
        tracing::debug!(%console, "guest console");
    }
    // A status the guest managed to write wins, even if the timeout hit while it powered off.
    if let Some(outcome) = read_outcome(dir.exchange) {
        return Ok(outcome);
    }
    if timed_out {
        return Ok(VmOutcome::TimedOut);
    }
    Ok(VmOutcome::VmDied(death_reason(&status.to_string(), dir)))
}

fn pipe() -> Result<(OwnedFd, OwnedFd)> {
    nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
        .map_err(|errno| VmError::io("creating", "a pipe", std::io::Error::from(errno)))
}

/// qemu's option values escape a comma by doubling it.
fn option_value(path: &Path) -> String {
    path.to_string_lossy().replace(',', ",,")
}

fn command(
    prepared: &Prepared,
    spec: &VmSpec,
    dir: &RunDir<'_>,
    stdout_pipe: &OwnedFd,
    stderr_pipe: &OwnedFd,
) -> Result<Command> {
    let module_tree = prepared.module_tree.to_string_lossy();
    if module_tree.contains(|c: char| c.is_whitespace() || c == '"' || c == '\'') {
        return Err(VmError::CachePathUnusable {
            path: prepared.module_tree.clone(),
        });
    }
    let mut command = Command::new(QEMU);
    command
        .args([
            "-nodefaults",
            "-no-user-config",
            "-display",
            "none",
            "-no-reboot",
        ])
        .args(["-nic", "none"])
        // KVM here offers only PVM, which the stock kernel cannot use: TCG it is.
        .args(["-accel", "tcg,thread=multi,tb-size=256", "-cpu", "max"])
        .args([
            "-smp",
            &spec.cpus.to_string(),
            "-m",
            &spec.memory_mb.to_string(),
        ])
        .arg("-kernel")
        .arg(&prepared.kernel)
        .arg("-initrd")
        .arg(&prepared.initramfs)
        .arg("-append")
        .arg(kernel_command_line(&module_tree))
        .args([
            "-fsdev",
            "local,id=hostroot,path=/,security_model=none,readonly=on,multidevs=remap",
        ])
        .args(["-device", "virtio-9p-pci,fsdev=hostroot,mount_tag=hostroot"])
        .arg("-fsdev")
        .arg(format!(
            "local,id=exchange,path={},security_model=none,multidevs=remap",
            option_value(dir.exchange)
        ))
        .args(["-device", "virtio-9p-pci,fsdev=exchange,mount_tag=exchange"])
        .arg("-chardev")
        .arg(format!(
            "file,id=console,path={}",
            option_value(dir.console_log)
        ))
        .args(["-serial", "chardev:console"])
        .args(["-device", "virtio-serial-pci"])
        .arg("-chardev")
        .arg(format!(
            "file,id=stdout,path=/dev/fd/{}",
            stdout_pipe.as_raw_fd()
        ))
        .args([
            "-device",
            &format!("virtserialport,chardev=stdout,name={STDOUT_PORT}"),
        ])
        .arg("-chardev")
        .arg(format!(
            "file,id=stderr,path=/dev/fd/{}",
            stderr_pipe.as_raw_fd()
        ))
        .args([
            "-device",
            &format!("virtserialport,chardev=stderr,name={STDERR_PORT}"),
        ])
        .args(["-device", "virtio-rng-pci"]);
    if let Ok(extra) = std::env::var(QEMU_ARGS_ENV) {
        command.args(extra.split_whitespace());
    }
    Ok(command)
}

/// Environment variable with extra qemu arguments (split at whitespace), for debugging.
pub const QEMU_ARGS_ENV: &str = "SSINET_LAB_QEMU_ARGS";

/// Environment variable with extra kernel parameters, for debugging the guest (e.g.
/// `initcall_debug`, then `dmesg` in the guest).
pub const KERNEL_ARGS_ENV: &str = "SSINET_LAB_KERNEL_ARGS";

/// `quiet` keeps the console (a slow emulated UART) nearly silent: printing the full boot log
/// would cost seconds. A panic or oops powers the VM off at once, so a dead guest never waits
/// for the timeout. Measured under TCG (`initcall_debug`): `acpi=noirq` skips ACPI interrupt
/// routing, whose AML interpretation cost 250 ms per virtio PCI device (MSI-X does the work);
/// `cryptomgr.notests` skips the crypto self-tests (0.3 s).
fn kernel_command_line(module_tree: &str) -> String {
    let mut line = format!(
        "console=ttyS0 quiet panic=-1 oops=panic acpi=noirq cryptomgr.notests \
         {MODULE_TREE_PARAM}={module_tree}"
    );
    if let Ok(extra) = std::env::var(KERNEL_ARGS_ENV) {
        line.push(' ');
        line.push_str(&extra);
    }
    line
}

/// Copies one output stream of the guest to `sink`, dropping `\r`, until qemu closes it.
fn pump(source: OwnedFd, sink: &mut (dyn Write + Send), started: Option<Instant>) {
    let mut source = std::fs::File::from(source);
    let mut buffer = vec![0u8; 64 * 1024];
    let mut first = started;
    loop {
        let count = match source.read(&mut buffer) {
            Ok(0) => return,
            Ok(count) => count,
            Err(error) if error.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(error) => {
                tracing::warn!(%error, "reading the guest's output");
                return;
            }
        };
        if let Some(started) = first.take() {
            tracing::debug!(elapsed = ?started.elapsed(), "first output from the guest");
        }
        let chunk: Vec<u8> = buffer[..count]
            .iter()
            .copied()
            .filter(|&b| b != b'\r')
            .collect();
        // If our own stdout is gone (a closed pipe), keep draining so qemu never blocks.
        if sink.write_all(&chunk).and_then(|()| sink.flush()).is_err() {
            tracing::debug!("output sink closed; discarding the guest's output");
        }
    }
}

/// The qemu process; killed and reaped if dropped while running (a panic, an early return).
struct KillOnDrop(Child);

impl KillOnDrop {
    /// Waits for qemu to exit, killing it at `deadline`; returns its status and whether the
    /// deadline hit.
    fn wait_until(&mut self, deadline: Instant) -> Result<(std::process::ExitStatus, bool)> {
        let failed = |e| VmError::io("waiting for", QEMU, e);
        loop {
            if let Some(status) = self.0.try_wait().map_err(failed)? {
                return Ok((status, false));
            }
            if Instant::now() >= deadline {
                // ESRCH if it just exited; the wait below reaps it either way.
                let _ = self.0.kill();
                return Ok((self.0.wait().map_err(failed)?, true));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn kill(&mut self) {
        if matches!(self.0.try_wait(), Ok(None)) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Why the VM ended without a status, from qemu's exit, its own messages, and the console.
fn death_reason(qemu_status: &str, dir: &RunDir<'_>) -> String {
    let qemu_said = std::fs::read(dir.qemu_log).unwrap_or_default();
    let console = std::fs::read(dir.console_log).unwrap_or_default();
    let console = String::from_utf8_lossy(&console).replace('\r', "");
    let mut reason = format!("qemu ended ({qemu_status}) without a status from the guest");
    let qemu_said = tools::tail(&qemu_said, 1000);
    if !qemu_said.is_empty() {
        reason.push_str(&format!("; qemu said: {qemu_said}"));
    }
    let lines: Vec<&str> = console.lines().filter(|l| !l.trim().is_empty()).collect();
    let init_failure = lines
        .iter()
        .rev()
        .find(|l| l.contains("ssinet-lab-init: error:"));
    let panic_at = lines.iter().position(|l| l.contains("Kernel panic"));
    if let Some(line) = init_failure {
        reason.push_str(&format!("; {}", line.trim()));
    } else if let Some(at) = panic_at {
        let end = lines.len().min(at + 12);
        reason.push_str(&format!("; console:\n{}", lines[at..end].join("\n")));
    } else if !lines.is_empty() {
        let tail = &lines[lines.len().saturating_sub(15)..];
        reason.push_str(&format!("; console ends with:\n{}", tail.join("\n")));
    }
    reason
}

//! Running one command in a fresh VM.
use super::cache::{self, Prepared, prepare};
use super::error::{Result, VmError};
use super::guest_init::STAGE2_SCRIPT;
use super::guest_run::{guest_env, resolve_program, stage2_script};
use super::qemu::{RunDir, boot_and_wait};
use super::spec::{VmOutcome, VmSpec};
use std::ffi::{OsStr, OsString};
use std::io::Write;

/// The output and outcome of [`run_captured`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VmCapture {
    pub outcome: VmOutcome,
    /// The command's stdout, `\r` removed.
    pub stdout: Vec<u8>,
    /// The command's stderr, `\r` removed.
    pub stderr: Vec<u8>,
}

/// Boots a VM, runs `argv` (program and arguments; the program a host path or a name found in
/// the guest's PATH) as root in `spec.cwd`, streams its stdout and stderr to this process's,
/// and returns how it ended. Prepares the cache first ([`prepare`]) and waits while another VM
/// runs on this machine.
pub fn run<S: AsRef<OsStr>>(spec: &VmSpec, argv: &[S]) -> Result<VmOutcome> {
    let mut stdout = std::io::stdout();
    let mut stderr = std::io::stderr();
    run_with_output(spec, argv, &mut stdout, &mut stderr)
}

/// Like [`run`], but collects the command's output instead of printing it.
pub fn run_captured<S: AsRef<OsStr>>(spec: &VmSpec, argv: &[S]) -> Result<VmCapture> {
    let mut stdout = Vec::new();
    let mut stderr = Vec::new();
    let outcome = run_with_output(spec, argv, &mut stdout, &mut stderr)?;
    Ok(VmCapture {
        outcome,
        stdout,
        stderr,
    })
}

/// Like [`run`], with the command's stdout and stderr written to the given sinks.
pub fn run_with_output<S: AsRef<OsStr>>(
    spec: &VmSpec,
    argv: &[S],
    stdout: &mut (dyn Write + Send),
    stderr: &mut (dyn Write + Send),
) -> Result<VmOutcome> {
    let prepared = prepare()?;
    run_prepared(&prepared, spec, argv, stdout, stderr)
}

/// [`run_with_output`] with the cache already prepared.
pub fn run_prepared<S: AsRef<OsStr>>(
    prepared: &Prepared,
    spec: &VmSpec,
    argv: &[S],
    stdout: &mut (dyn Write + Send),
    stderr: &mut (dyn Write + Send),
) -> Result<VmOutcome> {
    let (program, args) = argv.split_first().ok_or(VmError::EmptyCommand)?;
    // The guest starts in /, so a relative cwd would mean something else there.
    let cwd = std::path::absolute(&spec.cwd).map_err(|e| VmError::io("resolving", &spec.cwd, e))?;
    let env = guest_env(&spec.env);
    let path_var = env
        .iter()
        .rev()
        .find(|(name, _)| name == "PATH")
        .map(|(_, value)| value.clone())
        .unwrap_or_default();
    let mut resolved: Vec<OsString> =
        vec![resolve_program(program.as_ref(), &cwd, &path_var)?.into()];
    resolved.extend(args.iter().map(|arg| arg.as_ref().to_owned()));
    let script = stage2_script(&resolved, &cwd, &env)?;

    // Two cores cannot run two TCG guests well: one VM at a time on this machine. Holding the
    // slot also means no other run is using its run directory, so whatever a killed run left
    // behind there can go.
    let purpose = format!("ssinet-lab VM running {}", resolved[0].to_string_lossy());
    let cache = cache::cache_dir();
    let _vm_slot = cache::lock(&cache.join("vm.lock"), &purpose)?;
    let runs = cache.join("runs");
    remove_leftover_runs(&runs);
    std::fs::create_dir_all(&runs).map_err(|e| VmError::io("creating", &runs, e))?;
    let work = tempfile::Builder::new()
        .prefix("run-")
        .tempdir_in(&runs)
        .map_err(|e| VmError::io("creating a directory in", &runs, e))?;
    let exchange = work.path().join("exchange");
    std::fs::create_dir(&exchange).map_err(|e| VmError::io("creating", &exchange, e))?;
    let stage2 = exchange.join(STAGE2_SCRIPT);
    std::fs::write(&stage2, script).map_err(|e| VmError::io("writing", &stage2, e))?;
    let dir = RunDir {
        exchange: &exchange,
        console_log: &work.path().join("console.log"),
        qemu_log: &work.path().join("qemu.log"),
    };

    tracing::debug!(argv = ?resolved, kernel = %prepared.kernel.display(), "booting the VM");
    boot_and_wait(prepared, spec, &dir, stdout, stderr)
}

/// Run directories of runs that were killed before cleaning up (SIGKILL, SIGTERM); only called
/// while holding the VM slot.
fn remove_leftover_runs(runs: &std::path::Path) {
    let Ok(entries) = std::fs::read_dir(runs) else {
        return;
    };
    for entry in entries.flatten() {
        if let Err(error) = std::fs::remove_dir_all(entry.path()) {
            tracing::debug!(%error, path = %entry.path().display(), "leaving a stale run dir");
        }
    }
}

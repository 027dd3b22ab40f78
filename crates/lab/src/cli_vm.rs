//! `ssinet-lab vm -- COMMAND ARGS...`: run a host command inside the IPVS test VM, and
//! `ssinet-lab vm-prepare`: fill the VM's cache ahead of time (CI's warm-up step).
use clap::{Args, Subcommand};
use ssinet_testbed::vm::{self, VmError, VmOutcome, VmSpec};
use std::ffi::OsString;
use std::process::ExitCode;
use std::time::Duration;

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Boot a qemu VM with Debian's stock kernel (IPVS included) and run COMMAND in it.
    ///
    /// The guest sees this host's root read-only (writes stay in the VM), runs COMMAND as root
    /// in the current directory, and has no network device. COMMAND's stdout and stderr
    /// appear here (stdin is /dev/null).
    /// Exit status: COMMAND's own; 128+N if signal N killed it; 124 on timeout; 125 if the
    /// VM died, never reported, or could not be prepared; 127 if COMMAND is not found.
    /// RUST_*, SSINET_* and CARGO_* variables pass through; add others with --env.
    #[command(verbatim_doc_comment)]
    Vm(VmArgs),

    /// Make sure the VM's host packages, kernel, vmlinux and initramfs are cached; print
    /// their paths.
    VmPrepare {
        /// Ask apt for the newest kernel instead of reusing the cached one.
        #[arg(long)]
        latest: bool,
    },
}

#[derive(Debug, Args)]
pub struct VmArgs {
    /// Guest memory in MiB.
    #[arg(long, value_name = "MB", default_value_t = 1024)]
    memory: u32,
    /// Guest CPUs.
    #[arg(long, value_name = "N", default_value_t = 2)]
    cpus: u32,
    /// Limit on the whole run, boot included; exit status 124 when it hits.
    #[arg(long, value_name = "SECS", default_value_t = 600)]
    timeout: u64,
    /// Set a variable in COMMAND's environment (repeatable).
    #[arg(long = "env", value_name = "K=V", value_parser = parse_env)]
    env: Vec<(String, String)>,
    /// The command and its arguments (a host path, or a name found in PATH).
    #[arg(required = true, trailing_var_arg = true, allow_hyphen_values = true)]
    command: Vec<OsString>,
}

fn parse_env(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((name, value)) if !name.is_empty() => Ok((name.to_owned(), value.to_owned())),
        _ => Err(format!("expected NAME=VALUE, got {text:?}")),
    }
}

/// Exit status when the VM could not run the command at all.
const VM_FAILED: u8 = 125;
/// Exit status when the command does not exist, as a shell would say.
const NOT_FOUND: u8 = 127;

pub fn run(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Vm(args) => Ok(run_vm(args)),
        Command::VmPrepare { latest } => {
            let prepared = if latest {
                vm::prepare_latest()
            } else {
                vm::prepare()
            }?;
            println!("kernel_version: {}", prepared.kernel_version);
            println!("kernel: {}", prepared.kernel.display());
            println!("bzimage: {}", prepared.bzimage.display());
            println!("module_tree: {}", prepared.module_tree.display());
            println!("initramfs: {}", prepared.initramfs.display());
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn run_vm(args: VmArgs) -> ExitCode {
    let spec = VmSpec {
        memory_mb: args.memory,
        cpus: args.cpus,
        timeout: Duration::from_secs(args.timeout),
        env: args.env,
        ..VmSpec::default()
    }
    .inherit_env();
    let outcome = match vm::run(&spec, &args.command) {
        Ok(outcome) => outcome,
        Err(error @ VmError::ProgramNotFound { .. }) => {
            eprintln!("ssinet-lab vm: {error}");
            return ExitCode::from(NOT_FOUND);
        }
        Err(error) => {
            eprintln!("ssinet-lab vm: {}", error_chain(&error));
            return ExitCode::from(VM_FAILED);
        }
    };
    match &outcome {
        VmOutcome::Exited(_) => {}
        VmOutcome::Signalled(_) => eprintln!("ssinet-lab vm: the command was {outcome}"),
        VmOutcome::TimedOut => eprintln!(
            "ssinet-lab vm: timed out after {} s (--timeout); the VM was killed",
            args.timeout
        ),
        VmOutcome::VmDied(_) => eprintln!("ssinet-lab vm: {outcome}"),
    }
    ExitCode::from(outcome.exit_code())
}

fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_pairs_split_at_the_first_equals_sign() {
        assert_eq!(parse_env("A=b=c"), Ok(("A".into(), "b=c".into())));
        assert_eq!(parse_env("A="), Ok(("A".into(), String::new())));
        assert!(parse_env("=x").is_err());
        assert!(parse_env("novalue").is_err());
    }
}

//! What to run in the VM, and how it ended.
use std::path::PathBuf;
use std::time::Duration;

/// How to boot the VM and run one command in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VmSpec {
    /// Guest memory (qemu `-m`).
    pub memory_mb: u32,
    /// Guest CPUs (qemu `-smp`).
    pub cpus: u32,
    /// Limit on the whole run, boot included (not the wait for another VM to finish).
    pub timeout: Duration,
    /// The command's environment, besides PATH and HOME (taken from this process) and
    /// whatever [`VmSpec::inherit_env`] added; later entries win.
    pub env: Vec<(String, String)>,
    /// The command's working directory, a host path (the guest sees the host's root).
    pub cwd: PathBuf,
}

impl Default for VmSpec {
    /// 1 GiB, 2 CPUs, 600 s, no extra environment, this process's working directory.
    fn default() -> Self {
        VmSpec {
            memory_mb: 1024,
            cpus: 2,
            timeout: Duration::from_secs(600),
            env: Vec::new(),
            cwd: std::env::current_dir().unwrap_or_else(|_| PathBuf::from("/")),
        }
    }
}

/// Prefixes of variables [`VmSpec::inherit_env`] passes into the guest: Rust's runtime and test
/// harness settings (RUST_BACKTRACE, RUST_LOG, RUST_TEST_THREADS, ...), the project's own
/// settings, and what cargo sets for a test binary (CARGO_MANIFEST_DIR, ...).
pub const INHERITED_ENV_PREFIXES: &[&str] = &["RUST_", "SSINET_", "CARGO_"];

impl VmSpec {
    /// Adds this process's variables named by [`INHERITED_ENV_PREFIXES`] to `env`, before the
    /// entries already there (so those still win).
    pub fn inherit_env(mut self) -> Self {
        let mut inherited: Vec<(String, String)> = std::env::vars()
            .filter(|(name, _)| INHERITED_ENV_PREFIXES.iter().any(|p| name.starts_with(p)))
            .collect();
        inherited.sort();
        inherited.append(&mut self.env);
        self.env = inherited;
        self
    }
}

/// How the guest command ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VmOutcome {
    /// The command exited with this status.
    Exited(i32),
    /// The command was killed by this signal.
    Signalled(i32),
    /// The timeout hit before the guest reported a status; qemu was killed.
    TimedOut,
    /// The VM ended without reporting the command's status (kernel panic, a guest setup step
    /// failed, qemu failed); the reason includes qemu's and the console's last words.
    VmDied(String),
}

impl VmOutcome {
    /// True if the command exited with status 0.
    pub fn success(&self) -> bool {
        *self == VmOutcome::Exited(0)
    }

    /// The status `ssinet-lab vm` exits with: the command's own, 128+N for signal N, 124 on
    /// timeout (as timeout(1)), 125 when the VM died.
    pub fn exit_code(&self) -> u8 {
        match self {
            VmOutcome::Exited(code) => u8::try_from(*code).unwrap_or(1),
            VmOutcome::Signalled(signal) => u8::try_from(128 + signal).unwrap_or(255),
            VmOutcome::TimedOut => 124,
            VmOutcome::VmDied(_) => 125,
        }
    }
}

impl std::fmt::Display for VmOutcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            VmOutcome::Exited(code) => write!(f, "exited with status {code}"),
            VmOutcome::Signalled(signal) => write!(f, "killed by signal {signal}"),
            VmOutcome::TimedOut => write!(f, "timed out"),
            VmOutcome::VmDied(reason) => write!(f, "the VM died: {reason}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_follow_the_shell_and_timeout_conventions() {
        assert_eq!(VmOutcome::Exited(7).exit_code(), 7);
        assert_eq!(VmOutcome::Signalled(15).exit_code(), 143);
        assert_eq!(VmOutcome::TimedOut.exit_code(), 124);
        assert_eq!(VmOutcome::VmDied("panic".into()).exit_code(), 125);
        assert!(VmOutcome::Exited(0).success());
        assert!(!VmOutcome::Signalled(9).success());
    }

    #[test]
    fn explicit_env_wins_over_inherited() {
        let spec = VmSpec {
            env: vec![("CARGO_PKG_NAME".into(), "mine".into())],
            ..VmSpec::default()
        };
        let spec = spec.inherit_env();
        let last = spec.env.iter().rev().find(|(k, _)| k == "CARGO_PKG_NAME");
        assert_eq!(last.map(|(_, v)| v.as_str()), Some("mine"));
    }
}

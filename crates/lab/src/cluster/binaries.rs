//! [`Binaries`]: where the harness finds `ssinetd` and `cvipctl`.
use super::error::{ClusterError, Result};
use std::path::{Path, PathBuf};

/// The programs a [`super::Cluster`] runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binaries {
    /// The agent, started once per node.
    pub ssinetd: PathBuf,
    /// The operator CLI; `None` when the caller never runs it.
    pub cvipctl: Option<PathBuf>,
}

impl Binaries {
    /// Just the agent (e.g. `env!("CARGO_BIN_EXE_ssinetd")` in the agent's own tests).
    pub fn new(ssinetd: impl Into<PathBuf>) -> Binaries {
        Binaries {
            ssinetd: ssinetd.into(),
            cvipctl: None,
        }
    }

    /// An error naming the agent's path when it is not there.
    pub fn require_ssinetd(&self) -> Result<()> {
        if self.ssinetd.is_file() {
            Ok(())
        } else {
            Err(ClusterError::BinaryMissing {
                program: "ssinetd",
                path: self.ssinetd.clone(),
            })
        }
    }

    /// Adds the CLI.
    pub fn with_cvipctl(mut self, cvipctl: impl Into<PathBuf>) -> Binaries {
        self.cvipctl = Some(cvipctl.into());
        self
    }

    /// Both programs from the cargo profile directory this program was built into
    /// (`target/debug` for `target/debug/ssinet-lab` and for `target/debug/deps/test-HASH`).
    /// Cargo builds another package's binaries only when asked, so the caller (or its script)
    /// runs `cargo build --workspace --bins` first.
    pub fn beside_current_exe() -> Result<Binaries> {
        let exe = std::env::current_exe().map_err(super::error::io_error(
            "find this program",
            "/proc/self/exe",
        ))?;
        let dir = exe.parent().unwrap_or(Path::new("/"));
        let profile_dir = if dir.file_name().is_some_and(|name| name == "deps") {
            dir.parent().unwrap_or(dir)
        } else {
            dir
        };
        Binaries::in_dir(profile_dir)
    }

    /// Both programs from `dir`; an error naming the first one missing.
    pub fn in_dir(dir: &Path) -> Result<Binaries> {
        let found = |program: &'static str| {
            let path = dir.join(program);
            if path.is_file() {
                Ok(path)
            } else {
                Err(ClusterError::BinaryMissing { program, path })
            }
        };
        Ok(Binaries {
            ssinetd: found("ssinetd")?,
            cvipctl: Some(found("cvipctl")?),
        })
    }

    /// The CLI's path, or an error saying the cluster was built without it.
    pub fn cvipctl(&self) -> Result<&Path> {
        self.cvipctl
            .as_deref()
            .ok_or_else(|| ClusterError::BinaryMissing {
                program: "cvipctl",
                path: PathBuf::from("(none given: use Binaries::with_cvipctl)"),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_program_is_named_with_the_place_it_was_looked_for() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("ssinetd"), "").unwrap();
        let error = Binaries::in_dir(dir.path()).unwrap_err().to_string();
        assert!(error.starts_with("cvipctl is not at "), "{error}");
        assert!(error.contains("cargo build --workspace --bins"), "{error}");
        std::fs::write(dir.path().join("cvipctl"), "").unwrap();
        let binaries = Binaries::in_dir(dir.path()).unwrap();
        assert_eq!(binaries.cvipctl().unwrap(), dir.path().join("cvipctl"));
        assert!(Binaries::new("/x").cvipctl().is_err());
    }
}

//! What can go wrong before or around a VM run (not the guest command's own failure, which is
//! a [`super::VmOutcome`]).
use std::path::PathBuf;

/// An error preparing the VM's kernel and initramfs, or starting qemu.
#[derive(Debug, thiserror::Error)]
pub enum VmError {
    #[error("{action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error(
        "could not run `{command}`: {source} (is it installed? `ssinet-lab vm-prepare` \
         installs the host packages)"
    )]
    Spawn {
        command: String,
        #[source]
        source: std::io::Error,
    },

    #[error("`{command}` failed ({status}): {stderr}")]
    Tool {
        command: String,
        status: String,
        stderr: String,
    },

    #[error(
        "host packages {packages:?} are missing and only root can install them; run as root or \
         `apt-get install -y {}`",
        packages.join(" ")
    )]
    PackagesNeedRoot { packages: Vec<String> },

    #[error(
        "cannot find the kernel package: `apt-cache depends linux-image-amd64` names no \
         linux-image-*-amd64 dependency (output: {output:?}); set SSINET_LAB_KERNEL=<version>, \
         e.g. 6.1.0-56-amd64, to pick one"
    )]
    KernelNotResolved { output: String },

    #[error(
        "kernel package {package} unpacked without {expected}; is it a Debian linux-image package?"
    )]
    KernelLayout { package: String, expected: PathBuf },

    #[error("{path} is not a usable bzImage: {reason}")]
    BzImage { path: PathBuf, reason: String },

    #[error(
        "{path} is not a static executable ({reason}); the initramfs needs the static busybox of \
         Debian's busybox-static package"
    )]
    BusyboxNotStatic { path: PathBuf, reason: String },

    #[error(
        "kernel module {module} is neither in {dep_file} nor built in; cannot build the initramfs"
    )]
    ModuleMissing { module: String, dep_file: PathBuf },

    #[error(
        "the cache directory {path} contains whitespace or quotes, which the kernel command line \
         cannot carry; set SSINET_LAB_CACHE to a plain path"
    )]
    CachePathUnusable { path: PathBuf },

    #[error("nothing to run: the command is empty")]
    EmptyCommand,

    #[error("{program}: command not found in the guest's PATH ({path})")]
    ProgramNotFound { program: String, path: String },

    #[error("environment variable name {name:?} is empty or contains '=' or NUL")]
    BadEnvName { name: String },

    #[error("{what} contains a NUL byte, which cannot pass into the guest")]
    NulByte { what: String },
}

/// Shorthand for results of this module.
pub type Result<T, E = VmError> = std::result::Result<T, E>;

impl VmError {
    pub(crate) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
        source: std::io::Error,
    ) -> Self {
        VmError::Io {
            action,
            path: path.into(),
            source,
        }
    }
}

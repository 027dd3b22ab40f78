//! What can go wrong while building or driving a namespace lab.
use std::path::PathBuf;

/// An error from the namespace harness. Every message says what failed and what to check.
#[derive(Debug, thiserror::Error)]
pub enum NetnsError {
    // The causes are part of the messages (not `#[source]`), so each is printed once.
    #[error("cannot {action} {}: {cause}{}", path.display(), root_hint(cause.raw_os_error()))]
    Io {
        action: &'static str,
        path: PathBuf,
        cause: std::io::Error,
    },
    #[error("cannot {action} namespace {name}: {cause}{}", root_hint(Some(*cause as i32)))]
    Kernel {
        action: &'static str,
        name: String,
        cause: nix::Error,
    },
    #[error("cannot start `{program}` in namespace {name}: {cause} (is it installed and on PATH?)")]
    Spawn {
        program: String,
        name: String,
        cause: std::io::Error,
    },
    #[error("`{command}` in namespace {name} failed with {status}: {stderr}")]
    Command {
        command: String,
        name: String,
        status: std::process::ExitStatus,
        stderr: String,
    },
    #[error("invalid namespace label {label:?}: use 1-40 characters of [a-z0-9_-]")]
    BadLabel { label: String },
    #[error("invalid lab spec: {0}")]
    Spec(String),
    #[error("no lab named {name:?} is recorded under {dir}; `ssinet-lab status` lists the labs")]
    UnknownLab { name: String, dir: PathBuf },
    #[error(
        "a lab named {name:?} already exists; remove it with `ssinet-lab down {name}` or pick another --name"
    )]
    LabExists { name: String },
    #[error("cannot read lab record {path}: {reason}; remove it with `ssinet-lab down --all`")]
    BadRecord { path: PathBuf, reason: String },
    #[error("unexpected output from `{command}`: {reason}")]
    Output { command: String, reason: String },
}

pub type Result<T, E = NetnsError> = std::result::Result<T, E>;

/// Permission errors mean "not root"; say so.
fn root_hint(errno: Option<i32>) -> &'static str {
    match errno {
        Some(libc::EPERM | libc::EACCES) => {
            " (the namespace harness needs root: CAP_SYS_ADMIN and CAP_NET_ADMIN)"
        }
        _ => "",
    }
}

pub(crate) fn io_error(
    action: &'static str,
    path: impl Into<PathBuf>,
) -> impl FnOnce(std::io::Error) -> NetnsError {
    let path = path.into();
    move |source| NetnsError::Io {
        action,
        path,
        cause: source,
    }
}

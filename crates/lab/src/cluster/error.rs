//! [`ClusterError`]: why the agent-cluster harness could not do what a test asked.
use std::path::PathBuf;

/// Why a [`super::Cluster`] operation failed.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// Building or driving the namespaces failed.
    #[error(transparent)]
    Netns(#[from] ssinet_testbed::netns::NetnsError),
    /// The test PKI could not be written.
    #[error("cannot create the cluster's test PKI: {0}")]
    Pki(#[from] ssinet_interconnect::pki::PkiError),
    /// A file or directory operation failed.
    #[error("cannot {action} {path}: {cause}")]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        cause: std::io::Error,
    },
    /// ssinetd or cvipctl was not found where the harness looked.
    #[error(
        "{program} is not at {path}; build the workspace's binaries first (`cargo build --workspace --bins`, with the same profile and target dir as this program)"
    )]
    BinaryMissing {
        program: &'static str,
        path: PathBuf,
    },
    /// The node number is not part of this cluster, or its agent is not in the expected state.
    #[error("node {node}: {reason}")]
    Node { node: u8, reason: String },
    /// The admin socket did not answer as HTTP/1.1 should.
    #[error("node {node}'s admin API at {socket}: {reason}")]
    Admin {
        node: u8,
        socket: PathBuf,
        reason: String,
    },
    /// A program's output was not what the harness can parse.
    #[error("cannot parse the output of `{command}`: {reason}")]
    Output { command: String, reason: String },
    /// A condition never held before its deadline; `logs` are the agents' log tails.
    #[error("timed out after {seconds} s waiting for {what}\n{logs}")]
    Timeout {
        what: String,
        seconds: u64,
        logs: String,
    },
}

/// The harness's result type.
pub type Result<T, E = ClusterError> = std::result::Result<T, E>;

pub(crate) fn io_error(
    action: &'static str,
    path: impl Into<PathBuf>,
) -> impl FnOnce(std::io::Error) -> ClusterError {
    let path = path.into();
    move |cause| ClusterError::Io {
        action,
        path,
        cause,
    }
}

//! ssi-exec --origin NODE -- COMMAND ARGS...
//!
//! Runs COMMAND on this node with its inet TCP sockets homed on NODE: the preload library
//! forwards their control calls to the local agent, which keeps the real sockets on NODE.

use std::os::unix::process::CommandExt;
use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::Parser;
use ssinet_rsock::fdutil;
use ssinet_rsock::local_wire::{
    DEFAULT_BROKER_SOCKET, ENV_BROKER, ENV_ORIGIN, LocalReply, LocalRequest, OP_ORIGIN,
};

const LIBRARY: &str = "libssinet_preload.so";

#[derive(Parser)]
#[command(about = "Run a command with its sockets homed on another node")]
struct Args {
    /// Node number (from /etc/clustertab) that holds the command's sockets; may be this node.
    #[arg(long)]
    origin: u64,
    /// The preload library (default: beside this executable, or $SSINET_PRELOAD).
    #[arg(long, env = "SSINET_PRELOAD")]
    preload: Option<PathBuf>,
    /// The local agent's broker socket (ssinetd --rsock-socket).
    #[arg(long, env = ENV_BROKER, default_value = DEFAULT_BROKER_SOCKET)]
    broker: PathBuf,
    #[arg(required = true, trailing_var_arg = true, allow_hyphen_values = true)]
    command: Vec<String>,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let preload = match args.preload {
        Some(path) => path,
        None => std::env::current_exe()
            .context("locating ssi-exec itself")?
            .parent()
            .map(|dir| dir.join(LIBRARY))
            .context("ssi-exec has no directory")?,
    };
    if !preload.is_file() {
        bail!(
            "preload library {} not found; pass --preload PATH or set SSINET_PRELOAD",
            preload.display()
        );
    }
    if !args.broker.exists() {
        bail!(
            "broker socket {} not found; is ssinetd running on this node? (--broker PATH)",
            args.broker.display()
        );
    }
    check_origin(&args.broker, args.origin)?;
    let preload = preload
        .canonicalize()
        .context("resolving the preload library path")?;
    let mut ld = preload.display().to_string();
    if let Ok(existing) = std::env::var("LD_PRELOAD")
        && !existing.is_empty()
    {
        ld = format!("{ld}:{existing}");
    }
    let (program, rest) = args.command.split_first().context("no command given")?;
    let err = std::process::Command::new(program)
        .args(rest)
        .env("LD_PRELOAD", ld)
        .env(ENV_ORIGIN, args.origin.to_string())
        .env(ENV_BROKER, &args.broker)
        .exec();
    Err(err).with_context(|| format!("cannot execute {program}"))
}

/// Asks the local agent whether it can home sockets on `origin`, so a wrong node number is an
/// error here rather than EHOSTUNREACH from every socket() of the command.
fn check_origin(broker: &std::path::Path, origin: u64) -> anyhow::Result<()> {
    use std::os::fd::AsRawFd;
    let unreachable = |e: i32| {
        anyhow::anyhow!(
            "cannot reach the agent's broker at {}: {}",
            broker.display(),
            std::io::Error::from_raw_os_error(e)
        )
    };
    let conn = fdutil::connect_seqpacket(broker).map_err(unreachable)?;
    let Ok(origin_arg) = i32::try_from(origin) else {
        bail!("--origin {origin}: node numbers are at most {}", i32::MAX);
    };
    let request = LocalRequest {
        op: OP_ORIGIN,
        args: [origin_arg, 0, 0, 0],
        blob: Vec::new(),
    };
    fdutil::send_with_fd(conn.as_raw_fd(), &request.encode(), None, 0).map_err(unreachable)?;
    let mut buf = vec![0u8; 64 + ssinet_rsock::local_wire::MAX_BLOB];
    let (n, _) = fdutil::recv_with_fd(conn.as_raw_fd(), &mut buf).map_err(unreachable)?;
    let reply = LocalReply::decode(&buf[..n]).map_err(|_| {
        anyhow::anyhow!("the broker at {} gave a malformed answer", broker.display())
    })?;
    match reply.errno {
        0 => Ok(()),
        libc::EHOSTUNREACH => bail!(
            "--origin {origin}: not a node this agent can home sockets on (nodes: {})",
            String::from_utf8_lossy(&reply.blob)
        ),
        e => bail!(
            "--origin {origin}: the agent refused: {}",
            std::io::Error::from_raw_os_error(e)
        ),
    }
}

//! ssi-exec --origin NODE -- COMMAND ARGS...
//!
//! Runs COMMAND on this node with its inet TCP sockets homed on NODE: the preload library
//! forwards their control calls to the local agent, which keeps the real sockets on NODE.
#![deny(
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    clippy::cast_possible_wrap,
    clippy::undocumented_unsafe_blocks
)]

use std::os::unix::process::CommandExt;
use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::Parser;
use ssinet_interconnect::NodeId;
use ssinet_rsock::fdutil;
use ssinet_rsock_wire::fdpass::{RoundTripError, round_trip};
use ssinet_rsock_wire::{DEFAULT_BROKER_SOCKET, ENV_BROKER, ENV_ORIGIN, LocalRequest, OP_ORIGIN};

const LIBRARY: &str = "libssinet_preload.so";

#[derive(Parser)]
#[command(about = "Run a command with its sockets homed on another node")]
struct Args {
    /// Node number (from /etc/clustertab) that holds the command's sockets; may be this node.
    #[arg(long)]
    origin: NodeId,
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
fn check_origin(broker: &std::path::Path, origin: NodeId) -> anyhow::Result<()> {
    use std::os::fd::AsRawFd;
    let unreachable = |e: ssinet_rsock_wire::Errno| {
        anyhow::anyhow!(
            "cannot reach the agent's broker at {}: {e}",
            broker.display()
        )
    };
    let conn = fdutil::connect_seqpacket(broker).map_err(|e| unreachable(e.errno))?;
    let Ok(origin_arg) = i32::try_from(origin.get()) else {
        bail!("--origin {origin}: node numbers are at most {}", i32::MAX);
    };
    let request = LocalRequest {
        op: OP_ORIGIN,
        args: [origin_arg, 0, 0, 0],
        blob: Vec::new(),
    };
    let (reply, fd) =
        round_trip(conn.as_raw_fd(), &request, None, libc::close).map_err(|e| match e {
            RoundTripError::Send(e) | RoundTripError::Receive(e) => unreachable(e),
            RoundTripError::Reply(_) => {
                anyhow::anyhow!("the broker at {} gave a malformed answer", broker.display())
            }
        })?;
    if let Some(fd) = fd {
        // SAFETY: received for us, held by nothing else; the answer needs no descriptor.
        drop(unsafe { <std::os::fd::OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd) });
    }
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

//! ssi-exec --origin NODE -- COMMAND ARGS...
//!
//! Runs COMMAND on this node with its inet TCP sockets homed on NODE: the preload library
//! forwards their control calls to the local agent, which keeps the real sockets on NODE.

use std::os::unix::process::CommandExt;
use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::Parser;
use ssinet_rsock::local_wire::{DEFAULT_BROKER_SOCKET, ENV_BROKER, ENV_ORIGIN};

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

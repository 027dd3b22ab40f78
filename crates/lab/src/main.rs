//! `ssinet-lab`: namespace clusters and the IPVS test VM from the shell.
use clap::{Parser, Subcommand};
use std::process::ExitCode;

mod cli_demo;
mod cli_netns;
mod cli_vm;

#[derive(Debug, Parser)]
#[command(
    version,
    about = "Throwaway ssinet clusters: network namespaces on this machine, or a qemu VM"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    #[command(flatten)]
    Netns(cli_netns::Command),
    #[command(flatten)]
    Vm(cli_vm::Command),
    /// Start a 3-node ssinet cluster (in the VM when this kernel has no IPVS), show the load
    /// spread over the nodes, kill the director and show the client's outage; tear down.
    /// Needs ssinetd and cvipctl beside this program (`cargo build --workspace --bins`).
    Demo(cli_demo::DemoArgs),
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Netns(command) => cli_netns::run(command),
        Command::Vm(command) => cli_vm::run(command),
        Command::Demo(args) => cli_demo::run(args),
    };
    match result {
        Ok(code) => code,
        Err(error) => {
            eprintln!("ssinet-lab: {error:#}");
            ExitCode::from(1)
        }
    }
}

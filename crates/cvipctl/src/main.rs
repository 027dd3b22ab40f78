//! `cvipctl`: the operator's CLI. Each subcommand group lives in its own module; `config` works on
//! the files alone, later groups talk to the local agent.

mod config;
mod table;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

const EXIT_CODES: &str = "\
Exit codes:
  0  success (for `config check`: the configuration is valid)
  1  the configuration is invalid or a file could not be read; every problem is printed
  2  usage error (unknown option, missing argument)";

/// Operate an ssinet cluster: its cluster virtual IPs (CVIPs), directors and port weights.
#[derive(Debug, Parser)]
#[command(name = "cvipctl", version, after_help = EXIT_CODES)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Work with the configuration files (clustertab, cvip.conf, lvs_routing) without the agent.
    #[command(subcommand)]
    Config(config::ConfigCommand),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Config(command) => config::run(command),
    };
    match result {
        Ok(code) => code,
        Err(error) => {
            eprintln!("cvipctl: {error:#}");
            ExitCode::from(1)
        }
    }
}

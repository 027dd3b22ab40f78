//! `cvipctl`: the operator's CLI. `config check` and `pki` work on files alone; every other
//! command is a client of the local ssinetd's admin socket, which forwards writes to the leader.

mod client;
mod cluster;
mod config;
mod exit;
mod ipvs;
mod output;
mod pki;
mod rsock;
mod state_cmds;
mod table;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Parser, Subcommand};

use crate::client::{AgentClient, ClientError};

/// Operate an ssinet cluster: its cluster virtual IPs (CVIPs), directors and port weights.
///
/// Talks to ssinetd on this node through its admin socket (root only); writes go through the
/// cluster's Raft log, so they apply on every node or not at all.
#[derive(Debug, Parser)]
#[command(name = "cvipctl", version, after_help = exit::HELP)]
struct Cli {
    /// The local ssinetd's admin socket.
    #[arg(long, global = true, value_name = "PATH", env = "SSINET_ADMIN_SOCKET", default_value = ssinet_api::admin::DEFAULT_SOCKET)]
    socket: PathBuf,

    /// Give up on the agent after this many seconds (writes may wait for an election).
    #[arg(long, global = true, value_name = "SECS", default_value_t = 15.0)]
    timeout: f64,

    /// Print machine-readable JSON on stdout instead of tables.
    #[arg(long, global = true)]
    json: bool,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// This node's view of the cluster: roles, leader (the director), term, quorum, reachability.
    ///
    /// Exits 4 when the cluster cannot take writes (no quorum or no leader).
    Status,
    /// Every node of clustertab with its address, capabilities and current role.
    Nodes,
    /// Each CVIP and the node directing it now, like OpenSSI's /proc/cluster/lvs.
    Lvs,
    /// This node's IPVS table with counters, like `ipvsadm -Ln --stats` (run it on the director;
    /// a standby shows the table it keeps ready).
    Ipvs,
    /// List, add or delete cluster virtual IPs.
    #[command(subcommand)]
    Cvip(state_cmds::CvipCommand),
    /// List, add or delete director-capable nodes (directors of every CVIP).
    #[command(subcommand)]
    Director(state_cmds::DirectorCommand),
    /// List, set or delete load-balanced port ranges and their weights (OpenSSI's setport_weight).
    #[command(subcommand)]
    PortWeight(state_cmds::PortWeightCommand),
    /// Set or clear the IPVS scheduler, of the cluster or one CVIP (see `cvip list`).
    #[command(subcommand)]
    Scheduler(state_cmds::SchedulerCommand),
    /// Set or clear client persistence (affinity), of the cluster or one CVIP.
    #[command(subcommand)]
    Persistence(state_cmds::PersistenceCommand),
    /// Show or change how real servers are health-checked and drained.
    #[command(subcommand)]
    Health(state_cmds::HealthCommand),
    /// Check configuration files, apply them to the running cluster, or export its configuration.
    #[command(subcommand)]
    Config(config::ConfigCommand),
    /// Remote sockets of `ssi-exec` processes: those running here and those homed here.
    #[command(subcommand)]
    Rsock(rsock::RsockCommand),
    /// Create the cluster's TLS certificates, or one for a node added to clustertab later.
    #[command(subcommand)]
    Pki(pki::PkiCommand),
}

/// What the commands that talk to the agent need.
pub struct Context {
    pub client: AgentClient,
    pub json: bool,
}

/// Where the agent is and how to print, from the global options.
pub struct AgentOptions {
    pub socket: PathBuf,
    pub timeout: f64,
    pub json: bool,
}

impl AgentOptions {
    /// Runs `f` with a client of the agent on a single-threaded runtime.
    pub fn run(
        &self,
        f: impl AsyncFnOnce(&Context) -> anyhow::Result<ExitCode>,
    ) -> anyhow::Result<ExitCode> {
        let timeout = self.timeout;
        if !(timeout.is_finite() && timeout > 0.0) {
            anyhow::bail!("--timeout must be a positive number of seconds, not {timeout}");
        }
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("cannot start the async runtime")?;
        let context = Context {
            client: AgentClient::new(&self.socket, Duration::from_secs_f64(timeout)),
            json: self.json,
        };
        runtime.block_on(f(&context))
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let agent = AgentOptions {
        socket: cli.socket,
        timeout: cli.timeout,
        json: cli.json,
    };
    let result = match cli.command {
        Command::Status => agent.run(async |c| cluster::status(c).await),
        Command::Nodes => agent.run(async |c| cluster::nodes(c).await),
        Command::Lvs => agent.run(async |c| cluster::lvs(c).await),
        Command::Ipvs => agent.run(async |c| ipvs::show(c).await),
        Command::Cvip(command) => agent.run(async move |c| state_cmds::cvip(c, command).await),
        Command::Director(command) => {
            agent.run(async move |c| state_cmds::director(c, command).await)
        }
        Command::PortWeight(command) => {
            agent.run(async move |c| state_cmds::port_weight(c, command).await)
        }
        Command::Scheduler(command) => {
            agent.run(async move |c| state_cmds::scheduler(c, command).await)
        }
        Command::Persistence(command) => {
            agent.run(async move |c| state_cmds::persistence(c, command).await)
        }
        Command::Health(command) => agent.run(async move |c| state_cmds::health(c, command).await),
        Command::Rsock(command) => agent.run(async move |c| rsock::run(c, command).await),
        Command::Config(command) => config::run(command, &agent),
        Command::Pki(command) => pki::run(command, agent.json),
    };
    match result {
        Ok(code) => code,
        Err(error) => {
            eprintln!("cvipctl: {error:#}");
            let code = error
                .downcast_ref::<ClientError>()
                .map_or(exit::UNEXPECTED, ClientError::exit_code);
            ExitCode::from(code)
        }
    }
}

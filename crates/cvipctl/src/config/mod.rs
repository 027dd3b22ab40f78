//! `cvipctl config ...`: the OpenSSI configuration files: check them alone, apply them to the
//! running cluster, or export the cluster's configuration as files.

mod apply;
mod diff;
mod export;
mod summary;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Args, Subcommand};
use ssinet_config::{
    ClusterConfig, ConfigPaths, DEFAULT_CLUSTERTAB_PATH, DEFAULT_CVIP_CONF_PATH,
    DEFAULT_LVS_ROUTING_PATH, Diagnostics,
};

use crate::{AgentOptions, exit};

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Validate clustertab, cvip.conf and lvs_routing together and summarize the cluster.
    ///
    /// Reads the files (nothing is changed anywhere), checks each file's syntax and the rules
    /// across them (unique node numbers, IPs and MACs; directors and real servers exist; CVIPs
    /// are unique and not node addresses; CVIPs share all directors or none; valid interface
    /// names; NAT has an internal gateway; port ranges and weights are sane), and prints either
    /// a summary or every problem found, each as FILE:LINE:COLUMN: error in FIELD: MESSAGE.
    #[command(after_help = "\
Exit codes:
  0  the configuration is valid (summary printed)
  1  the configuration is invalid or a file could not be read (all problems printed)
  2  usage error

Example:
  cvipctl config check --clustertab conf/dr/clustertab --cvip-conf conf/dr/cvip.conf")]
    Check(CheckArgs),
    /// Replace the running cluster's configuration with these files, atomically.
    ///
    /// The files are checked first with the same rules as `config check` (problems are printed
    /// as FILE:LINE:COLUMN and nothing is sent); then the whole configuration goes to the
    /// cluster as one change, which every node applies or none. A changed clustertab changes
    /// the Raft membership. Listener registrations that no longer fit are dropped.
    #[command(after_help = "\
Exit codes:
  0  applied on the cluster
  1  the files are invalid, or the cluster rejected them (all problems printed); nothing changed
  3  ssinetd is not reachable;  4  no quorum or no leader

Example:
  cvipctl config apply --cvip-conf /etc/cvip.conf.new --dry-run
  cvipctl config apply --cvip-conf /etc/cvip.conf.new")]
    Apply(ApplyArgs),
    /// Write the running cluster's configuration as clustertab, cvip.conf and lvs_routing.
    ///
    /// Without --out the files are printed one after another, each under a `==> NAME <==`
    /// line; with --json as one object. The files read back to the same configuration.
    Export(export::ExportArgs),
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// OpenSSI node table: number, interconnect IP, MAC, boot protocol, init-capable, boot device.
    #[arg(long, value_name = "PATH", default_value = DEFAULT_CLUSTERTAB_PATH)]
    clustertab: PathBuf,

    /// HA-LVS configuration: CVIPs, directors, real servers, routing, port weights.
    #[arg(long, value_name = "PATH", default_value = DEFAULT_CVIP_CONF_PATH)]
    cvip_conf: PathBuf,

    /// LVS_ROUTING and LVS_INTERNAL_GW (NAT's internal gateway) [default:
    /// /etc/default/lvs_routing]. Optional: a missing default file is ignored; a path given here
    /// must exist.
    #[arg(long, value_name = "PATH")]
    lvs_routing: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ApplyArgs {
    #[command(flatten)]
    files: CheckArgs,
    /// Only show what would change (one line a change: + added, - removed, ~ changed).
    #[arg(long)]
    dry_run: bool,
}

impl CheckArgs {
    fn paths(&self) -> ConfigPaths {
        ConfigPaths {
            clustertab: self.clustertab.clone(),
            cvip_conf: self.cvip_conf.clone(),
            lvs_routing: self
                .lvs_routing
                .clone()
                .unwrap_or_else(|| DEFAULT_LVS_ROUTING_PATH.into()),
            lvs_routing_required: self.lvs_routing.is_some(),
        }
    }
}

pub fn run(command: ConfigCommand, agent: &AgentOptions) -> anyhow::Result<ExitCode> {
    match command {
        ConfigCommand::Check(args) => check(&args, agent.json),
        ConfigCommand::Apply(args) => apply::run(&args.files.paths(), args.dry_run, agent),
        ConfigCommand::Export(args) => agent.run(async |context| export::run(context, &args).await),
    }
}

/// Prints every problem (JSON: `{"valid": false, "errors": [...]}`) and returns exit code 1.
fn print_problems(diagnostics: &Diagnostics, json: bool) -> anyhow::Result<ExitCode> {
    if json {
        let report = serde_json::json!({ "valid": false, "errors": diagnostics });
        let text =
            serde_json::to_string_pretty(&report).context("encoding the problems as JSON")?;
        println!("{text}");
    } else {
        for diagnostic in diagnostics {
            eprintln!("{diagnostic}");
        }
        let n = diagnostics.len();
        eprintln!(
            "cvipctl: the configuration is invalid: {n} problem{} found",
            if n == 1 { "" } else { "s" }
        );
    }
    Ok(ExitCode::from(exit::REJECTED))
}

fn check(args: &CheckArgs, json: bool) -> anyhow::Result<ExitCode> {
    let paths = args.paths();
    match ClusterConfig::load(&paths) {
        Ok(loaded) => {
            let summary =
                summary::Summary::new(&loaded.config, &paths, loaded.sources.lvs_routing.is_some());
            if json {
                let text = serde_json::to_string_pretty(&summary.to_json())
                    .context("encoding the summary as JSON")?;
                println!("{text}");
            } else {
                print!("{}", summary.render());
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(diagnostics) => print_problems(&diagnostics, json),
    }
}

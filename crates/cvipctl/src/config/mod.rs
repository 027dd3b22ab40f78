//! `cvipctl config ...`: work on the OpenSSI configuration files themselves.

mod summary;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Args, Subcommand};
use ssinet_config::{
    ClusterConfig, ConfigPaths, DEFAULT_CLUSTERTAB_PATH, DEFAULT_CVIP_CONF_PATH,
    DEFAULT_LVS_ROUTING_PATH,
};

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

    /// Print machine-readable JSON on stdout instead of tables (problems included).
    #[arg(long)]
    json: bool,
}

pub fn run(command: ConfigCommand) -> anyhow::Result<ExitCode> {
    match command {
        ConfigCommand::Check(args) => check(&args),
    }
}

fn check(args: &CheckArgs) -> anyhow::Result<ExitCode> {
    let paths = ConfigPaths {
        clustertab: args.clustertab.clone(),
        cvip_conf: args.cvip_conf.clone(),
        lvs_routing: args
            .lvs_routing
            .clone()
            .unwrap_or_else(|| DEFAULT_LVS_ROUTING_PATH.into()),
        lvs_routing_required: args.lvs_routing.is_some(),
    };
    match ClusterConfig::load(&paths) {
        Ok(loaded) => {
            let summary =
                summary::Summary::new(&loaded.config, &paths, loaded.sources.lvs_routing.is_some());
            if args.json {
                let text = serde_json::to_string_pretty(&summary.to_json())
                    .context("encoding the summary as JSON")?;
                println!("{text}");
            } else {
                print!("{}", summary.render());
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(diagnostics) => {
            if args.json {
                let report = serde_json::json!({ "valid": false, "errors": diagnostics });
                let text = serde_json::to_string_pretty(&report)
                    .context("encoding the problems as JSON")?;
                println!("{text}");
            } else {
                for diagnostic in &diagnostics {
                    eprintln!("{diagnostic}");
                }
                let n = diagnostics.len();
                eprintln!(
                    "cvipctl: the configuration is invalid: {n} problem{} found",
                    if n == 1 { "" } else { "s" }
                );
            }
            Ok(ExitCode::from(1))
        }
    }
}

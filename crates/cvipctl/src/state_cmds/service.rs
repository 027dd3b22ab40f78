//! `cvipctl scheduler|persistence|health`: how the directors balance and when they drain a node.

use std::net::IpAddr;
use std::process::ExitCode;

use clap::Subcommand;
use ssinet_api::Command;
use ssinet_config::{HealthCheck, Persistence, Scheduler, SchedulerFlag, SchedulerName};

use super::write;
use crate::Context;
use crate::output::print_json;

#[derive(Debug, Subcommand)]
pub enum SchedulerCommand {
    /// Set the IPVS scheduler of one CVIP (--cvip) or of the cluster.
    #[command(
        after_help = "Examples:\n  cvipctl scheduler set mh --flag mh-port\n  \
                            cvipctl scheduler set wlc --cvip 192.168.200.11"
    )]
    Set {
        /// rr, wrr, lc, wlc, lblc, lblcr, dh, sh, sed, nq, fo, ovf, mh or twos.
        #[arg(value_parser = parse_scheduler)]
        name: SchedulerName,
        /// A scheduler flag: sh-fallback, sh-port (sh), mh-fallback, mh-port (mh); repeatable.
        #[arg(long = "flag", value_name = "FLAG", value_parser = parse_flag)]
        flags: Vec<SchedulerFlag>,
        /// Only this CVIP (otherwise every CVIP without its own scheduler).
        #[arg(long, value_name = "IP")]
        cvip: Option<IpAddr>,
    },
    /// Remove the setting: a CVIP then uses the cluster's, the cluster's falls back to mh.
    Clear {
        #[arg(long, value_name = "IP")]
        cvip: Option<IpAddr>,
    },
}

#[derive(Debug, Subcommand)]
pub enum PersistenceCommand {
    /// Keep each client on one real server for a while (ipvsadm -p/-M).
    Set {
        /// How long an idle client keeps its real server, in seconds.
        #[arg(long, value_name = "SECS")]
        timeout: u32,
        /// Clients in the same prefix of this length share a real server.
        #[arg(long, value_name = "PREFIX")]
        netmask: Option<u8>,
        /// Only this CVIP.
        #[arg(long, value_name = "IP")]
        cvip: Option<IpAddr>,
    },
    /// Remove the setting (no affinity, or the cluster's for a CVIP).
    Clear {
        #[arg(long, value_name = "IP")]
        cvip: Option<IpAddr>,
    },
}

#[derive(Debug, Subcommand)]
pub enum HealthCommand {
    /// The health-check settings in force.
    Show,
    /// Change some health-check settings; the others keep their current values.
    Set {
        /// How often each real server is checked.
        #[arg(long, value_name = "MS")]
        interval_ms: Option<u32>,
        /// How long one check may take (at most the interval).
        #[arg(long, value_name = "MS")]
        timeout_ms: Option<u32>,
        /// Consecutive failed checks before the node's weight drops to 0.
        #[arg(long, value_name = "N")]
        failures: Option<u32>,
        /// How long a drained node keeps its existing connections before removal.
        #[arg(long, value_name = "MS")]
        drain_ms: Option<u32>,
        /// Also open a TCP connection to each balanced port: on or off.
        #[arg(long, value_name = "on|off", value_parser = parse_on_off)]
        tcp_check: Option<bool>,
    },
}

fn parse_scheduler(s: &str) -> Result<SchedulerName, String> {
    SchedulerName::parse(s).ok_or_else(|| {
        let all: Vec<&str> = SchedulerName::ALL.iter().map(|n| n.as_str()).collect();
        format!(
            "{s:?} is not an IPVS scheduler (expected one of: {})",
            all.join(", ")
        )
    })
}

fn parse_flag(s: &str) -> Result<SchedulerFlag, String> {
    SchedulerFlag::parse(s).ok_or_else(|| {
        let all: Vec<&str> = SchedulerFlag::ALL.iter().map(|f| f.as_str()).collect();
        format!(
            "{s:?} is not a scheduler flag (expected one of: {})",
            all.join(", ")
        )
    })
}

fn parse_on_off(s: &str) -> Result<bool, String> {
    match s {
        "on" | "yes" | "true" => Ok(true),
        "off" | "no" | "false" => Ok(false),
        _ => Err(format!("{s:?} is neither on nor off")),
    }
}

pub async fn scheduler(context: &Context, command: SchedulerCommand) -> anyhow::Result<ExitCode> {
    let command = match command {
        SchedulerCommand::Set { name, flags, cvip } => Command::SetScheduler {
            cvip,
            scheduler: Some(Scheduler { name, flags }),
        },
        SchedulerCommand::Clear { cvip } => Command::SetScheduler {
            cvip,
            scheduler: None,
        },
    };
    write(context, command).await
}

pub async fn persistence(
    context: &Context,
    command: PersistenceCommand,
) -> anyhow::Result<ExitCode> {
    let command = match command {
        PersistenceCommand::Set {
            timeout,
            netmask,
            cvip,
        } => Command::SetPersistence {
            cvip,
            persistence: Some(Persistence {
                timeout_secs: timeout,
                netmask_prefix: netmask,
            }),
        },
        PersistenceCommand::Clear { cvip } => Command::SetPersistence {
            cvip,
            persistence: None,
        },
    };
    write(context, command).await
}

pub async fn health(context: &Context, command: HealthCommand) -> anyhow::Result<ExitCode> {
    let current = context
        .client
        .state()
        .await?
        .config
        .cvip_conf
        .health_check();
    match command {
        HealthCommand::Show => {
            if context.json {
                print_json(&current)?;
            } else {
                print!("{}", render(&current));
            }
            Ok(ExitCode::SUCCESS)
        }
        HealthCommand::Set {
            interval_ms,
            timeout_ms,
            failures,
            drain_ms,
            tcp_check,
        } => {
            let health = HealthCheck {
                interval_ms: interval_ms.unwrap_or(current.interval_ms),
                timeout_ms: timeout_ms.unwrap_or(current.timeout_ms),
                failures_before_drain: failures.unwrap_or(current.failures_before_drain),
                drain_ms: drain_ms.unwrap_or(current.drain_ms),
                tcp_check: tcp_check.unwrap_or(current.tcp_check),
            };
            write(context, Command::SetHealthCheck(health)).await
        }
    }
}

fn render(health: &HealthCheck) -> String {
    format!(
        "interval     {} ms\ntimeout      {} ms\nfailures     {} (then the node's weight drops \
         to 0)\ndrain        {} ms\ntcp check    {}\n",
        health.interval_ms,
        health.timeout_ms,
        health.failures_before_drain,
        health.drain_ms,
        if health.tcp_check { "on" } else { "off" }
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_as_ipvsadm_writes_them() {
        assert_eq!(parse_scheduler("wlc"), Ok(SchedulerName::Wlc));
        assert!(
            parse_scheduler("fair")
                .unwrap_err()
                .contains("expected one of: rr, wrr")
        );
        assert_eq!(parse_flag("mh-port"), Ok(SchedulerFlag::MhPort));
        assert!(parse_flag("port").is_err());
        assert_eq!(parse_on_off("off"), Ok(false));
        assert!(parse_on_off("maybe").is_err());
    }

    #[test]
    fn health_settings_read_one_a_line() {
        assert_eq!(
            render(&HealthCheck::default()),
            "interval     1000 ms\ntimeout      500 ms\nfailures     3 (then the node's weight \
             drops to 0)\ndrain        30000 ms\ntcp check    off\n"
        );
    }
}

//! `cvipctl cvip list|add|del`.

use std::net::IpAddr;
use std::process::ExitCode;

use clap::Subcommand;
use serde_json::json;
use ssinet_api::Command;
use ssinet_config::{DirectorNode, NodeId, interface_name_problem};

use super::{parse_node, write};
use crate::Context;
use crate::output::{list, print_json};
use crate::table::Table;

#[derive(Debug, Subcommand)]
pub enum CvipCommand {
    /// Every CVIP with its gateway, directors and real servers.
    List,
    /// Add a CVIP. Without --director it gets the directors the other CVIPs share.
    ///
    /// Refused when the address is already a CVIP or a node's own address, or when its
    /// directors differ from the other CVIPs' (OpenSSI: CVIPs share all directors or none).
    #[command(after_help = "Example:\n  cvipctl cvip add 192.168.200.11 --gateway 192.168.200.1")]
    Add {
        /// The new cluster virtual IP (IPv4 or IPv6).
        ip: IpAddr,
        /// The external network's gateway for this CVIP.
        #[arg(long, value_name = "IP")]
        gateway: Option<IpAddr>,
        /// A director as NODE:GARP_INTERFACE[:SYNC_INTERFACE]; repeat for each.
        #[arg(long = "director", value_name = "NODE:IF[:SYNC_IF]", value_parser = parse_director)]
        directors: Vec<DirectorNode>,
        /// A node listed as real server (`<real_server_node>`); repeat for each.
        #[arg(long = "real-server", value_name = "NODE", value_parser = parse_node)]
        real_servers: Vec<NodeId>,
    },
    /// Delete a CVIP (not the last one).
    Del {
        /// The CVIP to delete.
        ip: IpAddr,
    },
}

/// `NODE:GARP_INTERFACE[:SYNC_INTERFACE]`.
fn parse_director(s: &str) -> Result<DirectorNode, String> {
    let mut parts = s.split(':');
    let node = parse_node(parts.next().unwrap_or_default())?;
    let garp_interface = parts.next().filter(|p| !p.is_empty()).ok_or_else(|| {
        format!("{s:?} names no interface (expected NODE:GARP_INTERFACE[:SYNC_INTERFACE])")
    })?;
    let sync_interface = parts.next().map(str::to_owned);
    if parts.next().is_some() {
        return Err(format!(
            "{s:?} has too many parts (expected NODE:GARP_INTERFACE[:SYNC_INTERFACE])"
        ));
    }
    for name in std::iter::once(garp_interface).chain(sync_interface.as_deref()) {
        if let Some(problem) = interface_name_problem(name) {
            return Err(format!("interface name {name:?} is not valid: {problem}"));
        }
    }
    Ok(DirectorNode {
        node,
        garp_interface: garp_interface.to_owned(),
        sync_interface,
    })
}

pub async fn run(context: &Context, command: CvipCommand) -> anyhow::Result<ExitCode> {
    match command {
        CvipCommand::List => list_cvips(context).await,
        CvipCommand::Add {
            ip,
            gateway,
            directors,
            real_servers,
        } => {
            let command = Command::AddCvip {
                ip,
                gateway,
                directors: (!directors.is_empty()).then_some(directors),
                real_servers,
            };
            write(context, command).await
        }
        CvipCommand::Del { ip } => write(context, Command::DelCvip { ip }).await,
    }
}

async fn list_cvips(context: &Context) -> anyhow::Result<ExitCode> {
    let state = context.client.state().await?;
    let cvips = &state.config.cvip_conf.cvips;
    if context.json {
        let rows: Vec<_> = cvips
            .iter()
            .map(|c| {
                json!({
                    "ip": c.ip,
                    "gateway": c.gateway,
                    "directors": c.directors,
                    "real_servers": c.real_servers,
                    "scheduler": state.config.cvip_conf.scheduler_for(c),
                })
            })
            .collect();
        print_json(&rows)?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut table = Table::new(&["CVIP", "GATEWAY", "DIRECTORS", "REAL-SERVERS", "SCHEDULER"]);
    for cvip in cvips {
        let scheduler = state.config.cvip_conf.scheduler_for(cvip);
        let flags = scheduler
            .flags
            .iter()
            .map(|f| f.as_str())
            .collect::<Vec<_>>();
        table.row(vec![
            cvip.ip.to_string(),
            cvip.gateway
                .map_or_else(|| "-".to_owned(), |g| g.to_string()),
            list(
                cvip.directors
                    .iter()
                    .map(|d| format!("{}({})", d.node, d.garp_interface)),
            ),
            list(&cvip.real_servers),
            if flags.is_empty() {
                scheduler.name.to_string()
            } else {
                format!("{} ({})", scheduler.name, flags.join(","))
            },
        ]);
    }
    print!("{}", table.render());
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn director_specs_name_node_and_interfaces() {
        assert_eq!(
            parse_director("2:eth1:eth0").unwrap(),
            DirectorNode {
                node: NodeId(2),
                garp_interface: "eth1".into(),
                sync_interface: Some("eth0".into())
            }
        );
        assert_eq!(parse_director("1:eth1").unwrap().sync_interface, None);
        assert!(
            parse_director("1")
                .unwrap_err()
                .contains("names no interface")
        );
        assert!(
            parse_director("1:a:b:c")
                .unwrap_err()
                .contains("too many parts")
        );
        assert!(
            parse_director("1:bad name")
                .unwrap_err()
                .contains("not valid")
        );
    }
}

//! `cvipctl director list|add|del`: directors belong to every CVIP (OpenSSI: CVIPs share all
//! directors or none), so adding or deleting one changes them all.

use std::process::ExitCode;

use clap::Subcommand;
use serde_json::json;
use ssinet_api::Command;
use ssinet_config::NodeId;

use super::{parse_node, write};
use crate::Context;
use crate::output::{list, print_json};
use crate::table::Table;

#[derive(Debug, Subcommand)]
pub enum DirectorCommand {
    /// Every director-capable node, its interfaces and the CVIPs it may hold.
    List,
    /// Make a node a director of every CVIP.
    #[command(
        after_help = "Example:\n  cvipctl director add 3 --garp-interface eth1 --sync-interface eth0"
    )]
    Add {
        /// The node number (from clustertab).
        #[arg(value_parser = parse_node)]
        node: NodeId,
        /// External interface: the CVIP goes here and gratuitous ARP goes out of it.
        #[arg(long, value_name = "IF")]
        garp_interface: String,
        /// Interface for the IPVS connection-sync daemon (usually the interconnect).
        #[arg(long, value_name = "IF")]
        sync_interface: Option<String>,
    },
    /// Remove a node from the directors of every CVIP (not the last director).
    Del {
        /// The node number.
        #[arg(value_parser = parse_node)]
        node: NodeId,
    },
}

pub async fn run(context: &Context, command: DirectorCommand) -> anyhow::Result<ExitCode> {
    match command {
        DirectorCommand::List => list_directors(context).await,
        DirectorCommand::Add {
            node,
            garp_interface,
            sync_interface,
        } => {
            let command = Command::AddDirector {
                node,
                garp_interface,
                sync_interface,
            };
            write(context, command).await
        }
        DirectorCommand::Del { node } => write(context, Command::DelDirector { node }).await,
    }
}

async fn list_directors(context: &Context) -> anyhow::Result<ExitCode> {
    let state = context.client.state().await?;
    let cvips = &state.config.cvip_conf.cvips;
    let rows: Vec<_> = state
        .config
        .director_nodes()
        .into_iter()
        .map(|node| {
            let holding: Vec<_> = cvips
                .iter()
                .filter(|c| c.directors.iter().any(|d| d.node == node))
                .collect();
            let entry = holding
                .first()
                .and_then(|c| c.directors.iter().find(|d| d.node == node))
                .cloned();
            let ips: Vec<String> = holding.iter().map(|c| c.ip.to_string()).collect();
            (node, entry, ips)
        })
        .collect();
    if context.json {
        let value: Vec<_> = rows
            .iter()
            .map(|(node, entry, ips)| {
                json!({
                    "node": node,
                    "garp_interface": entry.as_ref().map(|d| &d.garp_interface),
                    "sync_interface": entry.as_ref().and_then(|d| d.sync_interface.as_ref()),
                    "cvips": ips,
                })
            })
            .collect();
        print_json(&value)?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut table = Table::new(&["NODE", "GARP-INTERFACE", "SYNC-INTERFACE", "CVIPS"]);
    for (node, entry, ips) in rows {
        table.row(vec![
            node.to_string(),
            entry
                .as_ref()
                .map_or_else(|| "-".to_owned(), |d| d.garp_interface.clone()),
            entry
                .and_then(|d| d.sync_interface)
                .unwrap_or_else(|| "-".to_owned()),
            list(ips),
        ]);
    }
    print!("{}", table.render());
    Ok(ExitCode::SUCCESS)
}

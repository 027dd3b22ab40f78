//! `cvipctl port-weight list|set|del`, spelled like OpenSSI's `setport_weight`.

use std::process::ExitCode;

use clap::{Args, Subcommand};
use serde_json::json;
use ssinet_api::{ClusterState, Command};
use ssinet_config::{NodeId, PortWeight, Protocol};

use super::{parse_node, parse_proto, write};
use crate::Context;
use crate::output::{list, print_json};
use crate::table::Table;

#[derive(Debug, Subcommand)]
pub enum PortWeightCommand {
    /// Every load-balanced port range, its weight, and the nodes listening inside it.
    List,
    /// Load-balance a port range with a weight, for every node or one node (an override).
    ///
    /// Replaces the weight of the range with the same protocol, ports and node; otherwise adds
    /// the range. A range overlapping another of the same scope is refused. Weight 0 quiesces:
    /// existing connections stay, new ones go elsewhere.
    #[command(after_help = "Examples:
  cvipctl port-weight set --start-port 80 --end-port 80 --weight 1
  cvipctl port-weight set --start-port 80 --end-port 80 --weight 2 --node 3
  cvipctl port-weight set --proto udp --start-port 5060 --end-port 5061 --weight 1")]
    Set {
        #[command(flatten)]
        range: RangeArgs,
        /// Relative share of new connections, 0-2147483647.
        #[arg(long)]
        weight: u32,
    },
    /// Stop load-balancing a port range (exactly as it was set).
    Del {
        #[command(flatten)]
        range: RangeArgs,
    },
}

#[derive(Debug, Args)]
pub struct RangeArgs {
    /// First port of the range.
    #[arg(long, value_name = "PORT")]
    start_port: u16,
    /// Last port of the range [default: the start port].
    #[arg(long, value_name = "PORT")]
    end_port: Option<u16>,
    /// tcp or udp.
    #[arg(long, default_value = "tcp", value_parser = parse_proto)]
    proto: Protocol,
    /// Only this node's weight (an override of the default range).
    #[arg(long, value_name = "NODE", value_parser = parse_node)]
    node: Option<NodeId>,
}

impl RangeArgs {
    fn end_port(&self) -> u16 {
        self.end_port.unwrap_or(self.start_port)
    }
}

pub async fn run(context: &Context, command: PortWeightCommand) -> anyhow::Result<ExitCode> {
    match command {
        PortWeightCommand::List => list_weights(context).await,
        PortWeightCommand::Set { range, weight } => {
            let command = Command::SetPortWeight(PortWeight {
                proto: range.proto,
                start_port: range.start_port,
                end_port: range.end_port(),
                weight,
                node: range.node,
            });
            write(context, command).await
        }
        PortWeightCommand::Del { range } => {
            let command = Command::DelPortWeight {
                proto: range.proto,
                start_port: range.start_port,
                end_port: range.end_port(),
                node: range.node,
            };
            write(context, command).await
        }
    }
}

/// Nodes with a registered listener inside `weight`'s range (for an override, that node only).
fn listening(state: &ClusterState, weight: &PortWeight) -> Vec<NodeId> {
    let mut nodes: Vec<NodeId> = state
        .listeners
        .keys()
        .filter(|k| k.proto == weight.proto && weight.contains(k.port))
        .filter(|k| weight.node.is_none_or(|n| n == k.node))
        .map(|k| k.node)
        .collect();
    nodes.dedup();
    nodes
}

async fn list_weights(context: &Context) -> anyhow::Result<ExitCode> {
    let state = context.client.state().await?;
    let weights = &state.config.cvip_conf.port_weights;
    if context.json {
        let rows: Vec<_> = weights
            .iter()
            .map(|w| {
                json!({
                    "proto": w.proto.as_str(),
                    "start_port": w.start_port,
                    "end_port": w.end_port,
                    "weight": w.weight,
                    "node": w.node,
                    "listening": listening(&state, w),
                })
            })
            .collect();
        print_json(&rows)?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut table = Table::new(&["PROTO", "START", "END", "WEIGHT", "NODE", "LISTENING"]);
    for w in weights {
        table.row(vec![
            w.proto.to_string(),
            w.start_port.to_string(),
            w.end_port.to_string(),
            w.weight.to_string(),
            w.node.map_or_else(|| "all".to_owned(), |n| n.to_string()),
            list(listening(&state, w)),
        ]);
    }
    print!("{}", table.render());
    Ok(ExitCode::SUCCESS)
}

//! `cvipctl rsock list`: the remote sockets this node's agent knows, both those of `ssi-exec`
//! processes running here and those it holds as origin for processes on other nodes.

use std::process::ExitCode;

use clap::Subcommand;
use ssinet_api::rsock::RsockReport;

use crate::Context;
use crate::output::print_json;
use crate::table::Table;

#[derive(Debug, Subcommand)]
pub enum RsockCommand {
    /// Live remote sockets: process, origin node, state, addresses, bytes.
    List,
}

pub async fn run(context: &Context, command: RsockCommand) -> anyhow::Result<ExitCode> {
    match command {
        RsockCommand::List => {
            let report = context.client.rsock().await?;
            if context.json {
                print_json(&report)?;
            } else {
                print!("{}", render(&report));
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn render(report: &RsockReport) -> String {
    if !report.enabled {
        return format!(
            "node {}: the remote-socket service is off (ssinetd --no-rsock)\n",
            report.node
        );
    }
    let c = &report.counters;
    let mut out = format!(
        "node {} epoch {}: origin side on {}, broker {}\n\
         {} open here, {} served for other nodes; {} created, {} connects ({} failed), {} accepts, \
         {} B in, {} B out, {} denied\n",
        report.node,
        report.epoch,
        report.listen,
        report.broker_socket,
        c.sockets_open,
        report.sockets.iter().filter(|s| s.role == "served").count(),
        c.sockets_created,
        c.connects,
        c.connect_failures,
        c.accepts,
        c.bytes_in,
        c.bytes_out,
        c.permission_denials,
    );
    if report.sockets.is_empty() {
        out.push_str("no remote sockets\n");
        return out;
    }
    let mut table = Table::new(&[
        "ID", "ROLE", "NODE", "PID", "PROCESS", "UID", "ORIGIN", "STATE", "LOCAL", "PEER", "IN",
        "OUT",
    ]);
    for s in &report.sockets {
        table.row(vec![
            s.id.clone(),
            s.role.clone(),
            s.node.to_string(),
            s.pid.to_string(),
            s.process.clone().unwrap_or_else(|| "-".into()),
            s.uid.to_string(),
            s.origin.to_string(),
            s.state.clone(),
            s.local.clone().unwrap_or_else(|| "-".into()),
            s.peer.clone().unwrap_or_else(|| "-".into()),
            s.bytes_in.to_string(),
            s.bytes_out.to_string(),
        ]);
    }
    out.push_str(&table.render());
    out
}

#[cfg(test)]
mod tests {
    use ssinet_api::rsock::{RsockCounters, RsockSocket};
    use ssinet_config::NodeId;

    use super::*;

    fn report(sockets: Vec<RsockSocket>) -> RsockReport {
        RsockReport {
            node: NodeId(2),
            enabled: true,
            epoch: "abc1".into(),
            listen: "10.200.0.2:7948".into(),
            broker_socket: "/run/ssinet-rsock/broker.sock".into(),
            counters: RsockCounters {
                sockets_open: 1,
                connects: 1,
                ..Default::default()
            },
            sockets,
        }
    }

    #[test]
    fn a_connected_socket_shows_process_origin_state_and_addresses() {
        let text = render(&report(vec![RsockSocket {
            id: "1:abc1:7".into(),
            role: "local".into(),
            node: NodeId(2),
            pid: 4242,
            process: Some("curl".into()),
            uid: 1000,
            origin: NodeId(1),
            state: "connected".into(),
            local: Some("192.168.200.11:40000".into()),
            peer: Some("192.168.200.2:8080".into()),
            bytes_in: 120,
            bytes_out: 80,
        }]));
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].starts_with("node 2 epoch abc1"), "{text}");
        assert!(lines[2].starts_with("ID"), "{text}");
        let row: Vec<&str> = lines[3].split_whitespace().collect();
        assert_eq!(
            row,
            [
                "1:abc1:7",
                "local",
                "2",
                "4242",
                "curl",
                "1000",
                "1",
                "connected",
                "192.168.200.11:40000",
                "192.168.200.2:8080",
                "120",
                "80"
            ]
        );
    }

    #[test]
    fn an_agent_without_rsock_says_so() {
        let mut r = report(Vec::new());
        r.enabled = false;
        assert!(render(&r).contains("--no-rsock"));
        r.enabled = true;
        assert!(render(&r).contains("no remote sockets"));
    }
}

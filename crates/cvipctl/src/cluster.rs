//! `status`, `nodes`, `lvs`: what the cluster looks like from this node.

use std::net::IpAddr;
use std::process::ExitCode;

use serde::Serialize;
use serde_json::json;
use ssinet_api::ClusterState;
use ssinet_api::admin::{RaftRole, StatusReport};
use ssinet_config::NodeId;

use crate::output::{list, print_json, yes_no};
use crate::table::Table;
use crate::{Context, exit};

pub async fn status(context: &Context) -> anyhow::Result<ExitCode> {
    let report = context.client.status().await?;
    if context.json {
        print_json(&report)?;
    } else {
        print!("{}", render_status(&report));
    }
    if report.quorum {
        return Ok(ExitCode::SUCCESS);
    }
    eprintln!("{}", no_quorum_warning(&report));
    Ok(ExitCode::from(exit::NO_QUORUM))
}

fn no_quorum_warning(report: &StatusReport) -> String {
    let voters = report.nodes.iter().filter(|n| n.voter).count();
    let reachable = report
        .nodes
        .iter()
        .filter(|n| n.voter && n.reachable)
        .count();
    let leader = match report.leader {
        Some(leader) => format!("leader node {leader} cannot reach a quorum"),
        None => "no leader is known".into(),
    };
    format!(
        "cvipctl: the cluster cannot take writes now: {leader}; node {} reaches {reachable} of \
         {voters} voters (a majority is {})",
        report.node,
        voters / 2 + 1
    )
}

fn render_status(report: &StatusReport) -> String {
    let leader = report
        .leader
        .map_or_else(|| "none".to_owned(), |l| format!("node {l}"));
    let mut out = format!(
        "Node {}: {}, term {}, leader {leader}, quorum {}\n",
        report.node,
        report.role,
        report.term,
        yes_no(report.quorum)
    );
    let index = |i: Option<u64>| i.map_or_else(|| "-".to_owned(), |i| i.to_string());
    out.push_str(&format!(
        "Log: committed {}, applied {}",
        index(report.commit_index),
        index(report.last_applied)
    ));
    if let Some(ms) = report.millis_since_quorum_ack {
        out.push_str(&format!(", last quorum acknowledgement {ms} ms ago"));
    }
    out.push('\n');
    for (ifname, why) in &report.data_plane.link_down {
        out.push_str(&format!(
            "External link {ifname} cannot serve: {why}; this node neither claims the CVIPs nor \
             stands for election until it can (check the cable, the switch port and the gateway)\n"
        ));
    }
    out.push('\n');
    let mut table = Table::new(&["NODE", "IP", "ROLE", "DIRECTOR", "VOTER", "REACHABLE"]);
    for node in &report.nodes {
        table.row(vec![
            node.num.to_string(),
            node.ip.to_string(),
            node.role.to_string(),
            yes_no(node.director_capable),
            yes_no(node.voter),
            yes_no(node.reachable),
        ]);
    }
    out.push_str(&table.render());
    out
}

/// One line of `cvipctl nodes`: clustertab joined with what this node sees of each.
#[derive(Serialize)]
struct NodeRow {
    num: NodeId,
    ip: IpAddr,
    mac: String,
    init_capable: bool,
    director_capable: bool,
    real_server: bool,
    voter: bool,
    reachable: bool,
    role: RaftRole,
    listeners: usize,
}

pub async fn nodes(context: &Context) -> anyhow::Result<ExitCode> {
    let report = context.client.status().await?;
    let state = context.client.state().await?;
    let directors = state.config.director_nodes();
    let real_servers = state.config.real_server_nodes();
    let rows: Vec<NodeRow> = state
        .config
        .clustertab
        .nodes
        .iter()
        .map(|node| {
            let seen = report.nodes.iter().find(|n| n.num == node.num);
            NodeRow {
                num: node.num,
                ip: node.ip,
                mac: node.mac.to_string(),
                init_capable: node.init_capable,
                director_capable: directors.contains(&node.num),
                real_server: real_servers.contains(&node.num),
                voter: seen.is_some_and(|n| n.voter),
                reachable: seen.is_some_and(|n| n.reachable),
                role: seen.map_or(RaftRole::Unknown, |n| n.role),
                listeners: state.listeners_of(node.num).count(),
            }
        })
        .collect();
    if context.json {
        print_json(&rows)?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut table = Table::new(&[
        "NODE",
        "IP",
        "MAC",
        "INIT",
        "DIRECTOR",
        "VOTER",
        "ROLE",
        "REACHABLE",
        "LISTENERS",
    ]);
    for row in rows {
        table.row(vec![
            row.num.to_string(),
            row.ip.to_string(),
            row.mac,
            yes_no(row.init_capable),
            yes_no(row.director_capable),
            yes_no(row.voter),
            row.role.to_string(),
            yes_no(row.reachable),
            row.listeners.to_string(),
        ]);
    }
    print!("{}", table.render());
    Ok(ExitCode::SUCCESS)
}

/// The node directing `directors`' CVIPs now: the leader, when it is one of them and has a quorum.
fn directing(report: &StatusReport, directors: &[NodeId]) -> Option<NodeId> {
    report
        .leader
        .filter(|l| report.quorum && directors.contains(l))
}

pub async fn lvs(context: &Context) -> anyhow::Result<ExitCode> {
    let report = context.client.status().await?;
    let state: ClusterState = context.client.state().await?;
    let routing = state.config.routing();
    let rows: Vec<(String, Option<NodeId>, Vec<NodeId>)> = state
        .config
        .cvip_conf
        .cvips
        .iter()
        .map(|cvip| {
            let directors: Vec<NodeId> = cvip.directors.iter().map(|d| d.node).collect();
            (
                cvip.ip.to_string(),
                directing(&report, &directors),
                directors,
            )
        })
        .collect();
    if context.json {
        let value: Vec<_> = rows
            .iter()
            .map(|(ip, director, capable)| {
                json!({"cvip": ip, "director_node": director, "routing": routing.as_str(),
                       "director_capable": capable})
            })
            .collect();
        print_json(&value)?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut table = Table::new(&["CVIP", "DIRECTOR", "ROUTING", "DIRECTOR-CAPABLE"]);
    for (ip, director, capable) in rows {
        table.row(vec![
            ip,
            director.map_or_else(|| "none".to_owned(), |d| d.to_string()),
            routing.to_string(),
            list(capable),
        ]);
    }
    print!("{}", table.render());
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use ssinet_api::admin::NodeStatus;

    use super::*;

    fn report(quorum: bool, leader: Option<u64>) -> StatusReport {
        let node = |num: u64, role, reachable| NodeStatus {
            num: NodeId(num),
            ip: format!("10.0.0.{num}").parse().unwrap(),
            director_capable: num < 3,
            voter: true,
            reachable,
            role,
        };
        StatusReport {
            node: NodeId(2),
            role: RaftRole::Follower,
            term: 4,
            leader: leader.map(NodeId),
            commit_index: Some(17),
            last_applied: Some(16),
            quorum,
            millis_since_quorum_ack: None,
            nodes: vec![
                node(1, RaftRole::Leader, true),
                node(2, RaftRole::Follower, true),
                node(3, RaftRole::Unknown, false),
            ],
            learners: Vec::new(),
            data_plane: Default::default(),
        }
    }

    #[test]
    fn status_reads_as_a_header_and_a_table() {
        let text = render_status(&report(true, Some(1)));
        assert_eq!(
            text,
            "Node 2: follower, term 4, leader node 1, quorum yes\n\
             Log: committed 17, applied 16\n\
             \n\
             NODE  IP        ROLE      DIRECTOR  VOTER  REACHABLE\n\
             1     10.0.0.1  leader    yes       yes    yes\n\
             2     10.0.0.2  follower  yes       yes    yes\n\
             3     10.0.0.3  unknown   no        yes    no\n"
        );
    }

    #[test]
    fn without_quorum_the_warning_counts_voters() {
        let text = no_quorum_warning(&report(false, None));
        assert_eq!(
            text,
            "cvipctl: the cluster cannot take writes now: no leader is known; node 2 reaches 2 \
             of 3 voters (a majority is 2)"
        );
        assert_eq!(directing(&report(false, Some(1)), &[NodeId(1)]), None);
        assert_eq!(
            directing(&report(true, Some(1)), &[NodeId(1)]),
            Some(NodeId(1))
        );
    }
}

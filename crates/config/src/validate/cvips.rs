//! `<cvip>` rules: at least one CVIP, each unique and not a node's own address, directors and real
//! servers exist in clustertab and are listed once, several CVIPs share all directors or none,
//! interface names are valid.

use std::collections::{BTreeSet, HashMap};

use super::{Check, File, on_line};
use crate::model::NodeId;
use crate::spans::CvipSpans;

pub(super) fn check(check: &mut Check<'_>) {
    let config = check.config;
    let conf = &config.cvip_conf;
    if conf.cvips.is_empty() {
        let at = check.in_cvip_conf(|s| s.root);
        check.error(
            File::CvipConf,
            at,
            "<cvips>",
            "no <cvip> defined".into(),
            "at least one <cvip> with an <ip_addr> and a <director_node>".into(),
        );
    }
    let node_of_ip: HashMap<_, _> = config
        .clustertab
        .nodes
        .iter()
        .map(|n| (n.ip, n.num))
        .collect();
    let mut seen_ips = HashMap::new();
    for (i, cvip) in conf.cvips.iter().enumerate() {
        let at = |f: fn(&CvipSpans) -> Option<crate::diag::Position>| {
            check.in_cvip_conf(|s| s.cvips.get(i).and_then(f))
        };
        let (element_at, ip_at, gateway_at) = (
            at(|c| Some(c.element)),
            at(|c| Some(c.ip_addr)),
            at(|c| c.gateway),
        );
        if let Some(first_at) = seen_ips.get(&cvip.ip) {
            check.error(
                File::CvipConf,
                ip_at,
                "<cvip>/<ip_addr>",
                format!("CVIP {} is already defined{}", cvip.ip, on_line(*first_at)),
                "each CVIP once".into(),
            );
        } else {
            seen_ips.insert(cvip.ip, ip_at);
        }
        if let Some(owner) = node_of_ip.get(&cvip.ip) {
            let clustertab = check.file(File::Clustertab).to_owned();
            check.error(
                File::CvipConf,
                ip_at,
                "<cvip>/<ip_addr>",
                format!(
                    "CVIP {} is the interconnect address of node {owner} in {clustertab}",
                    cvip.ip
                ),
                "an address no node uses as its own".into(),
            );
        }
        if let Some(gateway) = cvip.gateway
            && gateway.is_ipv4() != cvip.ip.is_ipv4()
        {
            check.error(
                File::CvipConf,
                gateway_at,
                "<cvip>/<gateway>",
                format!(
                    "gateway {gateway} is not of the same IP family as CVIP {}",
                    cvip.ip
                ),
                format!("an IPv{} address", if cvip.ip.is_ipv4() { 4 } else { 6 }),
            );
        }
        if cvip.directors.is_empty() {
            check.error(
                File::CvipConf,
                element_at,
                "<cvip>",
                format!("CVIP {} has no <director_node>", cvip.ip),
                "at least one <director_node> with <node_num> and <garp_interface>".into(),
            );
        }
        check_members(check, i);
    }
    check_director_sets(check);
}

/// Directors and real servers of CVIP `i`: known nodes, each listed once, valid interfaces.
fn check_members(check: &mut Check<'_>, i: usize) {
    let config = check.config;
    let cvip = &config.cvip_conf.cvips[i];
    let (known, known_list) = check.known_nodes();
    let clustertab = check.file(File::Clustertab).to_owned();
    let mut seen = BTreeSet::new();
    for (j, director) in cvip.directors.iter().enumerate() {
        let spans = check
            .sources
            .cvip_conf
            .as_ref()
            .and_then(|s| s.cvips.get(i))
            .and_then(|c| c.directors.get(j));
        let (num_at, garp_at, sync_at) = (
            spans.map(|d| d.node_num),
            spans.map(|d| d.garp_interface),
            spans.and_then(|d| d.sync_interface),
        );
        const FIELD: &str = "<cvip>/<director_node>/<node_num>";
        if !known.contains(&director.node) {
            check.error(
                File::CvipConf,
                num_at,
                FIELD,
                format!("node {} is not in {clustertab}", director.node),
                format!("one of: {known_list}"),
            );
        }
        if !seen.insert(director.node) {
            check.error(
                File::CvipConf,
                num_at,
                FIELD,
                format!(
                    "node {} is listed twice as a director of CVIP {}",
                    director.node, cvip.ip
                ),
                "each director node once per <cvip>".into(),
            );
        }
        check_interface(
            check,
            garp_at,
            "<cvip>/<director_node>/<garp_interface>",
            &director.garp_interface,
        );
        if let Some(sync) = &director.sync_interface {
            check_interface(
                check,
                sync_at,
                "<cvip>/<director_node>/<sync_interface>",
                sync,
            );
        }
    }
    let mut seen = BTreeSet::new();
    for (j, node) in cvip.real_servers.iter().enumerate() {
        let at =
            check.in_cvip_conf(|s| s.cvips.get(i).and_then(|c| c.real_servers.get(j).copied()));
        const FIELD: &str = "<cvip>/<real_server_node>/<node_num>";
        if !known.contains(node) {
            check.error(
                File::CvipConf,
                at,
                FIELD,
                format!("node {node} is not in {clustertab}"),
                format!("one of: {known_list}"),
            );
        }
        if !seen.insert(*node) {
            check.error(
                File::CvipConf,
                at,
                FIELD,
                format!(
                    "node {node} is listed twice as a real server of CVIP {}",
                    cvip.ip
                ),
                "each real server node once per <cvip>".into(),
            );
        }
    }
}

/// Linux `dev_valid_name`: 1-15 bytes, not `.` or `..`, no `/`, `:` or whitespace. Control
/// characters are refused too: XML cannot carry them.
pub fn interface_name_problem(name: &str) -> Option<&'static str> {
    if name.is_empty() {
        Some("it is empty")
    } else if name.len() > 15 {
        Some("it is longer than 15 bytes")
    } else if name == "." || name == ".." {
        Some("it is . or ..")
    } else if name.contains(['/', ':']) {
        Some("it contains / or :")
    } else if name.chars().any(char::is_whitespace) {
        Some("it contains whitespace")
    } else if name.chars().any(char::is_control) {
        Some("it contains a control character")
    } else {
        None
    }
}

fn check_interface(
    check: &mut Check<'_>,
    at: Option<crate::diag::Position>,
    field: &str,
    name: &str,
) {
    if let Some(problem) = interface_name_problem(name) {
        check.error(
            File::CvipConf,
            at,
            field,
            format!("interface name {name:?} is not valid: {problem}"),
            "a Linux interface name: 1-15 bytes, not . or .., without /, : or whitespace".into(),
        );
    }
}

/// OpenSSI: several CVIPs either share all their director nodes or none of them.
fn check_director_sets(check: &mut Check<'_>) {
    let cvips = &check.config.cvip_conf.cvips;
    let sets: Vec<BTreeSet<NodeId>> = cvips
        .iter()
        .map(|c| c.directors.iter().map(|d| d.node).collect())
        .collect();
    for (j, set) in sets.iter().enumerate() {
        let conflict = sets[..j]
            .iter()
            .position(|earlier| earlier != set && !earlier.is_disjoint(set));
        let Some(i) = conflict else { continue };
        let list = |s: &BTreeSet<NodeId>| {
            s.iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        };
        let first_at = check.in_cvip_conf(|s| s.cvips.get(i).map(|c| c.element));
        let at = check.in_cvip_conf(|s| s.cvips.get(j).map(|c| c.element));
        check.error(File::CvipConf,
            at,
            "<cvip>/<director_node>",
            format!(
                "CVIP {} has directors {{{}}} but CVIP {}{} has {{{}}}: they share some but not all",
                cvips[j].ip,
                list(set),
                cvips[i].ip,
                on_line(first_at),
                list(&sets[i]),
            ),
            format!(
                "OpenSSI's rule: the same director nodes as CVIP {}, or none of them",
                cvips[i].ip
            ),
        );
    }
}

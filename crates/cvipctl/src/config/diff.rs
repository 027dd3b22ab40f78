//! What `config apply` would change: the running configuration against the files, one line a
//! change (`+` added, `-` removed, `~` changed), in the files' order.

use std::collections::BTreeMap;

use ssinet_config::{ClusterConfig, Cvip, Node, PortWeight};

pub fn changes(running: &ClusterConfig, files: &ClusterConfig) -> Vec<String> {
    let mut out = Vec::new();
    nodes(&running.clustertab.nodes, &files.clustertab.nodes, &mut out);
    if running.routing() != files.routing() {
        out.push(format!(
            "~ routing {} -> {}",
            running.routing(),
            files.routing()
        ));
    }
    if running.internal_gateway() != files.internal_gateway() {
        let show = |g: Option<std::net::IpAddr>| g.map_or_else(|| "none".into(), |g| g.to_string());
        out.push(format!(
            "~ NAT internal gateway {} -> {}",
            show(running.internal_gateway()),
            show(files.internal_gateway())
        ));
    }
    cvips(&running.cvip_conf.cvips, &files.cvip_conf.cvips, &mut out);
    weights(
        &running.cvip_conf.port_weights,
        &files.cvip_conf.port_weights,
        &mut out,
    );
    let (a, b) = (&running.cvip_conf, &files.cvip_conf);
    if a.scheduler != b.scheduler || a.persistence != b.persistence {
        out.push("~ global scheduler or persistence".into());
    }
    if a.health != b.health {
        out.push("~ health check settings".into());
    }
    out
}

fn nodes(running: &[Node], files: &[Node], out: &mut Vec<String>) {
    let by_num =
        |nodes: &[Node]| -> BTreeMap<_, _> { nodes.iter().map(|n| (n.num, n.clone())).collect() };
    let (old, new) = (by_num(running), by_num(files));
    for (num, node) in &new {
        match old.get(num) {
            None => out.push(format!("+ node {num} ({})", node.ip)),
            Some(before) if before != node => out.push(format!("~ node {num} ({})", node.ip)),
            Some(_) => {}
        }
    }
    for (num, node) in &old {
        if !new.contains_key(num) {
            out.push(format!("- node {num} ({})", node.ip));
        }
    }
}

fn cvips(running: &[Cvip], files: &[Cvip], out: &mut Vec<String>) {
    for cvip in files {
        match running.iter().find(|c| c.ip == cvip.ip) {
            None => out.push(format!("+ CVIP {}", cvip.ip)),
            Some(before) => {
                let directors = |c: &Cvip| {
                    let nodes: Vec<String> =
                        c.directors.iter().map(|d| d.node.to_string()).collect();
                    nodes.join(", ")
                };
                if directors(before) != directors(cvip) {
                    out.push(format!(
                        "~ CVIP {} directors {} -> {}",
                        cvip.ip,
                        directors(before),
                        directors(cvip)
                    ));
                } else if before != cvip {
                    out.push(format!("~ CVIP {}", cvip.ip));
                }
            }
        }
    }
    for cvip in running {
        if !files.iter().any(|c| c.ip == cvip.ip) {
            out.push(format!("- CVIP {}", cvip.ip));
        }
    }
}

fn describe(w: &PortWeight) -> String {
    let node = w.node.map(|n| format!(" for node {n}")).unwrap_or_default();
    format!("{} ports {}-{}{node}", w.proto, w.start_port, w.end_port)
}

fn weights(running: &[PortWeight], files: &[PortWeight], out: &mut Vec<String>) {
    let same = |a: &PortWeight, b: &PortWeight| {
        (a.proto, a.start_port, a.end_port, a.node) == (b.proto, b.start_port, b.end_port, b.node)
    };
    for w in files {
        match running.iter().find(|r| same(r, w)) {
            None => out.push(format!("+ {} weight {}", describe(w), w.weight)),
            Some(r) if r.weight != w.weight => out.push(format!(
                "~ {} weight {} -> {}",
                describe(w),
                r.weight,
                w.weight
            )),
            Some(_) => {}
        }
    }
    for r in running {
        if !files.iter().any(|w| same(r, w)) {
            out.push(format!("- {} weight {}", describe(r), r.weight));
        }
    }
}

#[cfg(test)]
mod tests {
    use ssinet_config::{NodeId, Protocol, Routing};

    use super::*;

    fn config() -> ClusterConfig {
        let tab = ssinet_config::parse_clustertab(
            "1 10.0.0.1 52:54:00:00:00:01 P 1 /dev/sda1\n2 10.0.0.2 52:54:00:00:00:02 P 0\n",
            "clustertab",
        )
        .unwrap();
        let conf = ssinet_config::parse_cvip_conf(
            "<cvips><routing>DR</routing><cvip><ip_addr>192.168.200.10</ip_addr>\
             <director_node><node_num>1</node_num><garp_interface>eth1</garp_interface>\
             </director_node></cvip><port_weight><proto>tcp</proto><start_port>80</start_port>\
             <end_port>80</end_port><weight>1</weight></port_weight></cvips>",
            "cvip.conf",
        )
        .unwrap();
        ClusterConfig {
            clustertab: tab,
            cvip_conf: conf,
            lvs_routing: None,
        }
    }

    #[test]
    fn the_same_configuration_has_no_changes() {
        assert!(changes(&config(), &config()).is_empty());
    }

    #[test]
    fn each_change_is_one_line() {
        let running = config();
        let mut files = config();
        files.clustertab.nodes.pop();
        files.cvip_conf.routing = Some(Routing::Nat);
        files.cvip_conf.cvips[0].directors[0].node = NodeId(2);
        files.cvip_conf.port_weights[0].weight = 3;
        files.cvip_conf.port_weights.push(PortWeight {
            proto: Protocol::Udp,
            start_port: 53,
            end_port: 53,
            weight: 1,
            node: Some(NodeId(1)),
        });
        assert_eq!(
            changes(&running, &files),
            [
                "- node 2 (10.0.0.2)",
                "~ routing DR -> NAT",
                "~ CVIP 192.168.200.10 directors 1 -> 2",
                "~ tcp ports 80-80 weight 1 -> 3",
                "+ udp ports 53-53 for node 1 weight 1",
            ]
        );
    }
}

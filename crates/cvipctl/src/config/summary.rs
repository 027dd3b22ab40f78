//! The summary `config check` prints for a valid configuration: as tables for people, as JSON
//! for scripts.

use std::path::Path;

use serde_json::{Value, json};
use ssinet_config::{BootProtocol, ClusterConfig, ConfigPaths, Cvip, CvipConf};

use crate::table::Table;

pub struct Summary<'a> {
    config: &'a ClusterConfig,
    paths: &'a ConfigPaths,
    lvs_routing_read: bool,
}

fn path(p: &Path) -> String {
    p.display().to_string()
}

fn count(n: usize, what: &str) -> String {
    format!("{n} {what}{}", if n == 1 { "" } else { "s" })
}

fn scheduler_text(conf: &CvipConf, cvip: &Cvip) -> String {
    let scheduler = conf.scheduler_for(cvip);
    if scheduler.flags.is_empty() {
        scheduler.name.to_string()
    } else {
        let flags: Vec<&str> = scheduler.flags.iter().map(|f| f.as_str()).collect();
        format!("{} ({})", scheduler.name, flags.join(","))
    }
}

impl<'a> Summary<'a> {
    pub fn new(config: &'a ClusterConfig, paths: &'a ConfigPaths, lvs_routing_read: bool) -> Self {
        Self {
            config,
            paths,
            lvs_routing_read,
        }
    }

    fn roles(&self, node: ssinet_config::NodeId) -> Vec<&'static str> {
        let mut roles = Vec::new();
        if self.config.director_nodes().contains(&node) {
            roles.push("director");
        }
        if self.config.real_server_nodes().contains(&node) {
            roles.push("real-server");
        }
        roles
    }

    pub fn render(&self) -> String {
        let config = self.config;
        let conf = &config.cvip_conf;
        let mut out = String::new();
        let lvs = if self.lvs_routing_read {
            path(&self.paths.lvs_routing)
        } else {
            format!("{} (not present)", path(&self.paths.lvs_routing))
        };
        out.push_str(&format!(
            "Configuration is valid: {} ({}), {} ({}), {lvs}\n",
            path(&self.paths.clustertab),
            count(config.clustertab.nodes.len(), "node"),
            path(&self.paths.cvip_conf),
            count(conf.cvips.len(), "CVIP"),
        ));
        out.push_str(&format!("Routing: {}", config.routing()));
        if let Some(gw) = config.internal_gateway() {
            out.push_str(&format!(", internal gateway {gw}"));
        }
        out.push_str("\n\n");

        let mut nodes = Table::new(&["NODE", "IP", "MAC", "BOOT", "INIT", "BOOT-DEVICE", "ROLES"]);
        for node in &config.clustertab.nodes {
            let roles = self.roles(node.num);
            nodes.row(vec![
                node.num.to_string(),
                node.ip.to_string(),
                node.mac.to_string(),
                match node.boot {
                    BootProtocol::Etherboot => "etherboot".into(),
                    BootProtocol::Pxe => "pxe".into(),
                },
                if node.init_capable { "yes" } else { "no" }.into(),
                node.boot_device.clone().unwrap_or_else(|| "-".into()),
                if roles.is_empty() {
                    "-".into()
                } else {
                    roles.join(",")
                },
            ]);
        }
        out.push_str(&nodes.render());
        out.push('\n');

        let mut cvips = Table::new(&[
            "CVIP",
            "GATEWAY",
            "DIRECTORS(garp/sync)",
            "REAL-SERVERS",
            "SCHEDULER",
            "PERSISTENCE",
        ]);
        for cvip in &conf.cvips {
            let directors: Vec<String> = cvip
                .directors
                .iter()
                .map(|d| {
                    format!(
                        "{}({}/{})",
                        d.node,
                        d.garp_interface,
                        d.sync_interface.as_deref().unwrap_or("-")
                    )
                })
                .collect();
            let real_servers: Vec<String> =
                cvip.real_servers.iter().map(ToString::to_string).collect();
            let persistence = conf.persistence_for(cvip).map_or_else(
                || "-".to_owned(),
                |p| match p.netmask_prefix {
                    Some(prefix) => format!("{}s /{prefix}", p.timeout_secs),
                    None => format!("{}s", p.timeout_secs),
                },
            );
            cvips.row(vec![
                cvip.ip.to_string(),
                cvip.gateway.map_or_else(|| "-".into(), |g| g.to_string()),
                directors.join(","),
                if real_servers.is_empty() {
                    "-".into()
                } else {
                    real_servers.join(",")
                },
                scheduler_text(conf, cvip),
                persistence,
            ]);
        }
        out.push_str(&cvips.render());
        out.push('\n');

        if conf.port_weights.is_empty() {
            out.push_str("Port weights: none (no port is load-balanced yet)\n");
        } else {
            let mut weights = Table::new(&["PROTO", "PORTS", "WEIGHT", "NODES"]);
            for pw in &conf.port_weights {
                weights.row(vec![
                    pw.proto.to_string(),
                    if pw.start_port == pw.end_port {
                        pw.start_port.to_string()
                    } else {
                        format!("{}-{}", pw.start_port, pw.end_port)
                    },
                    pw.weight.to_string(),
                    pw.node.map_or_else(|| "all".into(), |n| n.to_string()),
                ]);
            }
            out.push_str(&weights.render());
        }
        out
    }

    pub fn to_json(&self) -> Value {
        let config = self.config;
        let conf = &config.cvip_conf;
        let nodes: Vec<Value> = config
            .clustertab
            .nodes
            .iter()
            .map(|n| {
                json!({
                    "num": n.num,
                    "ip": n.ip,
                    "mac": n.mac.to_string(),
                    "boot": n.boot.letter().to_string(),
                    "init_capable": n.init_capable,
                    "boot_device": n.boot_device,
                    "roles": self.roles(n.num),
                })
            })
            .collect();
        let cvips: Vec<Value> = conf
            .cvips
            .iter()
            .map(|c| {
                let scheduler = conf.scheduler_for(c);
                json!({
                    "ip": c.ip,
                    "gateway": c.gateway,
                    "directors": c.directors.iter().map(|d| json!({
                        "node": d.node,
                        "garp_interface": d.garp_interface,
                        "sync_interface": d.sync_interface,
                    })).collect::<Vec<_>>(),
                    "real_servers": c.real_servers,
                    "scheduler": scheduler.name,
                    "scheduler_flags": scheduler.flags.iter().map(|f| f.as_str()).collect::<Vec<_>>(),
                    "persistence": conf.persistence_for(c).map(|p| json!({
                        "timeout_secs": p.timeout_secs,
                        "netmask_prefix": p.netmask_prefix,
                    })),
                })
            })
            .collect();
        let port_weights: Vec<Value> = conf
            .port_weights
            .iter()
            .map(|pw| {
                json!({
                    "proto": pw.proto.as_str(),
                    "start_port": pw.start_port,
                    "end_port": pw.end_port,
                    "weight": pw.weight,
                    "node": pw.node,
                })
            })
            .collect();
        let health = conf.health_check();
        json!({
            "valid": true,
            "files": {
                "clustertab": path(&self.paths.clustertab),
                "cvip_conf": path(&self.paths.cvip_conf),
                "lvs_routing": self.lvs_routing_read.then(|| path(&self.paths.lvs_routing)),
            },
            "routing": config.routing().as_str(),
            "internal_gateway": config.internal_gateway(),
            "nodes": nodes,
            "directors": config.director_nodes(),
            "real_servers": config.real_server_nodes(),
            "cvips": cvips,
            "port_weights": port_weights,
            "health_check": {
                "interval_ms": health.interval_ms,
                "timeout_ms": health.timeout_ms,
                "failures_before_drain": health.failures_before_drain,
                "drain_ms": health.drain_ms,
                "tcp_check": health.tcp_check,
            },
        })
    }
}

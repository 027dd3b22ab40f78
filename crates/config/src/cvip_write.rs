//! Writes cvip.conf: OpenSSI's elements in OpenSSI's order, ssinet's extensions after them, so a
//! file parsed from OpenSSI and written back is one OpenSSI reads.

use std::fmt::Write as _;

use crate::model::{CvipConf, Persistence, Scheduler};

const HEADER: &str = "<?xml version=\"1.0\"?>\n\
<!-- /etc/cvip.conf (written by ssinet).\n     \
OpenSSI elements come first; the ssinet extensions (port_weight, scheduler,\n     \
persistence, health_check) follow them and are absent when unused. -->\n";

/// Serializes `conf`; parsing the result gives `conf` back.
pub fn to_cvip_conf_string(conf: &CvipConf) -> String {
    let mut w = XmlWriter::default();
    w.out.push_str(HEADER);
    w.open("cvips");
    if let Some(routing) = conf.routing {
        w.leaf("routing", routing.as_str());
    }
    for cvip in &conf.cvips {
        w.open("cvip");
        w.leaf("ip_addr", &cvip.ip.to_string());
        if let Some(gateway) = cvip.gateway {
            w.leaf("gateway", &gateway.to_string());
        }
        for director in &cvip.directors {
            w.open("director_node");
            w.leaf("node_num", &director.node.to_string());
            w.leaf("garp_interface", &director.garp_interface);
            if let Some(sync) = &director.sync_interface {
                w.leaf("sync_interface", sync);
            }
            w.close("director_node");
        }
        for node in &cvip.real_servers {
            w.open("real_server_node");
            w.leaf("node_num", &node.to_string());
            w.close("real_server_node");
        }
        if let Some(scheduler) = &cvip.scheduler {
            w.scheduler(scheduler);
        }
        if let Some(persistence) = &cvip.persistence {
            w.persistence(persistence);
        }
        w.close("cvip");
    }
    for pw in &conf.port_weights {
        w.open("port_weight");
        w.leaf("proto", pw.proto.as_str());
        w.leaf("start_port", &pw.start_port.to_string());
        w.leaf("end_port", &pw.end_port.to_string());
        w.leaf("weight", &pw.weight.to_string());
        if let Some(node) = pw.node {
            w.leaf("node_num", &node.to_string());
        }
        w.close("port_weight");
    }
    if let Some(scheduler) = &conf.scheduler {
        w.scheduler(scheduler);
    }
    if let Some(persistence) = &conf.persistence {
        w.persistence(persistence);
    }
    if let Some(health) = &conf.health {
        w.open("health_check");
        w.leaf("interval_ms", &health.interval_ms.to_string());
        w.leaf("timeout_ms", &health.timeout_ms.to_string());
        w.leaf("failures", &health.failures_before_drain.to_string());
        w.leaf("drain_ms", &health.drain_ms.to_string());
        w.leaf("tcp_check", if health.tcp_check { "on" } else { "off" });
        w.close("health_check");
    }
    w.close("cvips");
    w.out
}

#[derive(Default)]
struct XmlWriter {
    out: String,
    depth: usize,
}

impl XmlWriter {
    fn indent(&mut self) {
        for _ in 0..self.depth {
            self.out.push('\t');
        }
    }

    fn open(&mut self, name: &str) {
        self.indent();
        let _ = writeln!(self.out, "<{name}>");
        self.depth += 1;
    }

    fn close(&mut self, name: &str) {
        self.depth = self.depth.saturating_sub(1);
        self.indent();
        let _ = writeln!(self.out, "</{name}>");
    }

    fn leaf(&mut self, name: &str, value: &str) {
        self.indent();
        let _ = write!(self.out, "<{name}>");
        escape_into(&mut self.out, value);
        let _ = writeln!(self.out, "</{name}>");
    }

    fn scheduler(&mut self, scheduler: &Scheduler) {
        self.leaf("scheduler", scheduler.name.as_str());
        for flag in &scheduler.flags {
            self.leaf("scheduler_flag", flag.as_str());
        }
    }

    fn persistence(&mut self, persistence: &Persistence) {
        self.open("persistence");
        self.leaf("timeout", &persistence.timeout_secs.to_string());
        if let Some(prefix) = persistence.netmask_prefix {
            self.leaf("netmask", &prefix.to_string());
        }
        self.close("persistence");
    }
}

/// Escapes markup characters, and control characters as character references: written raw, a
/// `\r` would come back as `\n` (XML end-of-line handling) and the value would change.
fn escape_into(out: &mut String, value: &str) {
    for c in value.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '\'' => out.push_str("&apos;"),
            '"' => out.push_str("&quot;"),
            c if c.is_control() => {
                let _ = write!(out, "&#x{:X};", u32::from(c));
            }
            c => out.push(c),
        }
    }
}

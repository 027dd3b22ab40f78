//! `cvipctl ipvs`: the node's IPVS table as the agent reads it from the kernel, laid out like
//! `ipvsadm -Ln --stats` (one line per service, its destinations indented below).

use std::process::ExitCode;

use ssinet_api::dataplane::{DataPlaneRole, IpvsReport};

use crate::Context;
use crate::output::print_json;
use crate::table::Table;

pub async fn show(context: &Context) -> anyhow::Result<ExitCode> {
    let report = context.client.ipvs().await?;
    if context.json {
        print_json(&report)?;
        return Ok(ExitCode::SUCCESS);
    }
    print!("{}", render(&report));
    Ok(ExitCode::SUCCESS)
}

fn render(report: &IpvsReport) -> String {
    let mut out = format!("node {} ({})", report.node, report.role);
    if !report.ipvs_present {
        out.push_str(": this kernel has no IPVS; the agent manages addresses only\n");
        return out;
    }
    if report.role == DataPlaneRole::RealServer {
        out.push_str(": a real server keeps no IPVS table; run this on the director\n");
        return out;
    }
    out.push('\n');
    let mut table = Table::new(&[
        "PROT",
        "ADDRESS:PORT",
        "SCHEDULER",
        "FORWARD",
        "WEIGHT",
        "ACTIVE",
        "INACTIVE",
        "CONNS",
        "INPKTS",
        "OUTPKTS",
        "INBYTES",
        "OUTBYTES",
    ]);
    for s in &report.services {
        let mut scheduler = s.scheduler.clone();
        if !s.flags.is_empty() {
            scheduler = format!("{scheduler} ({})", s.flags.join(","));
        }
        if let Some(timeout) = s.persistence {
            scheduler = format!("{scheduler} persistent {timeout}");
        }
        table.row(vec![
            s.proto.to_uppercase(),
            format!("{}:{}", host(&s.addr), s.port),
            scheduler,
            String::new(),
            String::new(),
            String::new(),
            String::new(),
            s.stats.conns.to_string(),
            s.stats.in_packets.to_string(),
            s.stats.out_packets.to_string(),
            s.stats.in_bytes.to_string(),
            s.stats.out_bytes.to_string(),
        ]);
        for d in &s.destinations {
            table.row(vec![
                String::new(),
                format!("  -> {}:{}", host(&d.addr), d.port),
                String::new(),
                d.forwarding.clone(),
                d.weight.to_string(),
                d.active_conns.to_string(),
                d.inactive_conns.to_string(),
                d.stats.conns.to_string(),
                d.stats.in_packets.to_string(),
                d.stats.out_packets.to_string(),
                d.stats.in_bytes.to_string(),
                d.stats.out_bytes.to_string(),
            ]);
        }
    }
    out.push_str(&table.render());
    out
}

fn host(addr: &std::net::IpAddr) -> String {
    match addr {
        std::net::IpAddr::V6(v6) => format!("[{v6}]"),
        std::net::IpAddr::V4(v4) => v4.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use ssinet_api::dataplane::{IpvsDestination, IpvsService, IpvsStats};

    use super::*;

    #[test]
    fn a_service_and_its_destinations_read_like_ipvsadm() {
        let report = IpvsReport {
            node: ssinet_config::NodeId(1),
            role: DataPlaneRole::Director,
            ipvs_present: true,
            services: vec![IpvsService {
                proto: "tcp".into(),
                addr: "192.168.200.100".parse().unwrap(),
                port: 80,
                scheduler: "mh".into(),
                flags: vec!["mh-port".into()],
                persistence: None,
                stats: IpvsStats {
                    conns: 7,
                    ..IpvsStats::default()
                },
                destinations: vec![IpvsDestination {
                    addr: "10.200.0.3".parse().unwrap(),
                    port: 80,
                    forwarding: "route".into(),
                    weight: 2,
                    active_conns: 1,
                    inactive_conns: 0,
                    stats: IpvsStats::default(),
                }],
            }],
        };
        let text = render(&report);
        assert!(text.starts_with("node 1 (director)\n"), "{text}");
        assert!(text.contains("TCP   192.168.200.100:80"), "{text}");
        assert!(text.contains("mh (mh-port)"), "{text}");
        assert!(text.contains("  -> 10.200.0.3:80"), "{text}");
        assert!(text.contains("route"), "{text}");
    }

    #[test]
    fn a_kernel_without_ipvs_is_said_plainly() {
        let report = IpvsReport {
            node: ssinet_config::NodeId(2),
            role: DataPlaneRole::Standby,
            ipvs_present: false,
            services: Vec::new(),
        };
        assert!(render(&report).contains("has no IPVS"));
    }
}

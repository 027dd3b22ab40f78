//! `GET /v1/ipvs`: this node's IPVS table with counters, read from the kernel on each request
//! (the services on the cluster's CVIPs only; other services on the node are not ours to show).

use ssinet_api::dataplane::{IpvsDestination, IpvsReport, IpvsService, IpvsStats};
use ssinet_ipvs::{Forwarding, IpvsClient, ServiceFlags, ServiceKey, Stats};

use crate::agent::Agent;

pub async fn report(agent: &Agent) -> anyhow::Result<IpvsReport> {
    let status = agent.data_plane.borrow().clone();
    let mut report = IpvsReport {
        node: agent.id(),
        role: status.role,
        ipvs_present: status.ipvs_present,
        services: Vec::new(),
    };
    if !status.ipvs_present {
        return Ok(report);
    }
    let cvips: Vec<std::net::IpAddr> = {
        let applied = agent.node.state().borrow().clone();
        applied
            .state
            .config
            .cvip_conf
            .cvips
            .iter()
            .map(|c| c.ip)
            .collect()
    };
    let mut client = IpvsClient::connect().await?;
    for entry in client.services().await? {
        let ServiceKey::Inet {
            protocol,
            addr,
            port,
        } = entry.service.key
        else {
            continue;
        };
        if !cvips.contains(&addr) {
            continue;
        }
        let destinations = client
            .destinations(&entry.service.key)
            .await?
            .into_iter()
            .map(|d| IpvsDestination {
                addr: d.dest.addr,
                port: d.dest.port,
                forwarding: match d.dest.forwarding {
                    Forwarding::DirectRoute => "route",
                    Forwarding::Masquerade => "masq",
                    Forwarding::Local => "local",
                    Forwarding::Tunnel(_) => "tunnel",
                }
                .to_string(),
                weight: d.dest.weight,
                active_conns: d.active_connections,
                inactive_conns: d.inactive_connections,
                stats: stats(d.counters.best()),
            })
            .collect();
        let flags = entry.service.flags;
        let scheduler = entry.service.scheduler.name().to_string();
        let mut flag_names = Vec::new();
        let hashing = match scheduler.as_str() {
            "mh" => Some("mh"),
            "sh" => Some("sh"),
            _ => None,
        };
        if let Some(prefix) = hashing {
            if flags.contains(ServiceFlags::SCHED1) {
                flag_names.push(format!("{prefix}-fallback"));
            }
            if flags.contains(ServiceFlags::SCHED2) {
                flag_names.push(format!("{prefix}-port"));
            }
        }
        if flags.contains(ServiceFlags::ONE_PACKET) {
            flag_names.push("ops".into());
        }
        report.services.push(IpvsService {
            proto: protocol.to_string().to_lowercase(),
            addr,
            port,
            scheduler,
            flags: flag_names,
            persistence: flags
                .contains(ServiceFlags::PERSISTENT)
                .then_some(entry.service.timeout),
            stats: stats(entry.counters.best()),
            destinations,
        });
    }
    Ok(report)
}

fn stats(s: Stats) -> IpvsStats {
    IpvsStats {
        conns: s.connections,
        in_packets: s.packets_in,
        out_packets: s.packets_out,
        in_bytes: s.bytes_in,
        out_bytes: s.bytes_out,
    }
}

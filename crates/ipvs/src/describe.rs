//! Human descriptions of requests, so an error names the service or destination it concerns.

use crate::message::{DaemonRole, Destination, Forwarding, IpvsMessage};

fn fwd(d: &Destination) -> &'static str {
    match d.forwarding {
        Forwarding::Masquerade => "NAT",
        Forwarding::Local => "local",
        Forwarding::Tunnel(_) => "tunnel",
        Forwarding::DirectRoute => "DR",
    }
}

fn role(r: DaemonRole) -> &'static str {
    match r {
        DaemonRole::Master => "master",
        DaemonRole::Backup => "backup",
    }
}

/// What the request asks the kernel to do, e.g. "add destination 10.0.0.2:80 (DR, weight 1) to
/// TCP 10.0.0.1:80".
pub fn describe(msg: &IpvsMessage) -> String {
    match msg {
        IpvsMessage::NewService { service, .. } => format!(
            "add service {} (scheduler {})",
            service.key, service.scheduler
        ),
        IpvsMessage::SetService(s) => format!("edit service {} (scheduler {})", s.key, s.scheduler),
        IpvsMessage::DelService(k) => format!("delete service {k}"),
        IpvsMessage::GetService(Some(k)) => format!("read service {k}"),
        IpvsMessage::GetService(None) => "list services".into(),
        IpvsMessage::NewDest { service, dest, .. } => match service {
            Some(s) => format!(
                "add destination {} ({}, weight {}) to {}",
                dest.key(),
                fwd(dest),
                dest.weight,
                s.key
            ),
            None => format!("add destination {}", dest.key()),
        },
        IpvsMessage::SetDest { service, dest } => format!(
            "edit destination {} ({}, weight {}) of {}",
            dest.key(),
            fwd(dest),
            dest.weight,
            service.key
        ),
        IpvsMessage::DelDest { service, dest } => {
            format!("delete destination {dest} from {service}")
        }
        IpvsMessage::GetDest(k) => format!("list destinations of {k}"),
        IpvsMessage::NewDaemon(d) => format!(
            "start sync daemon {} on {} (sync id {})",
            role(d.role),
            d.interface,
            d.sync_id
        ),
        IpvsMessage::DelDaemon(d) => format!("stop sync daemon {}", role(d.role)),
        IpvsMessage::GetDaemon => "list sync daemons".into(),
        IpvsMessage::SetConfig(t) => format!(
            "set timeouts tcp {:?} tcpfin {:?} udp {:?}",
            t.tcp, t.tcp_fin, t.udp
        ),
        IpvsMessage::GetConfig => "read timeouts".into(),
        IpvsMessage::SetInfo(_) => "set info".into(),
        IpvsMessage::GetInfo => "read IPVS info".into(),
        IpvsMessage::Zero(Some(k)) => format!("zero counters of {k}"),
        IpvsMessage::Zero(None) => "zero all counters".into(),
        IpvsMessage::Flush => "flush every service".into(),
    }
}

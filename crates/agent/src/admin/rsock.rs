//! `GET /v1/rsock`: the remote-socket service's live sockets and counters, for `cvipctl rsock`.

use ssinet_api::rsock::{RsockCounters, RsockReport, RsockSocket};
use ssinet_config::NodeId;
use ssinet_rsock::{RsockService, SocketInfo};

use crate::agent::Agent;

pub fn report(agent: &Agent) -> RsockReport {
    let Some(service) = &agent.rsock else {
        return RsockReport {
            node: agent.id(),
            enabled: false,
            epoch: String::new(),
            listen: String::new(),
            broker_socket: String::new(),
            counters: RsockCounters::default(),
            sockets: Vec::new(),
        };
    };
    report_of(agent.id(), service)
}

fn report_of(node: NodeId, service: &RsockService) -> RsockReport {
    RsockReport {
        node,
        enabled: true,
        epoch: format!("{:x}", service.epoch()),
        listen: service.listen().to_string(),
        broker_socket: service.broker_socket().display().to_string(),
        counters: service.counters(),
        sockets: service
            .sockets()
            .into_iter()
            .map(|s| socket(node, s))
            .collect(),
    }
}

fn socket(node: NodeId, s: SocketInfo) -> RsockSocket {
    // Only a process on this node has a name we can read.
    let process = (s.node == node)
        .then(|| std::fs::read_to_string(format!("/proc/{}/comm", s.pid)).ok())
        .flatten()
        .map(|comm| comm.trim_end().to_string());
    RsockSocket {
        id: s.id.to_string(),
        role: s.role.to_string(),
        node: s.node,
        pid: s.pid,
        process,
        uid: s.uid,
        origin: s.origin,
        state: s.state.to_string(),
        local: s.local.map(|a| a.to_string()),
        peer: s.peer.map(|a| a.to_string()),
        bytes_in: s.bytes_in,
        bytes_out: s.bytes_out,
    }
}

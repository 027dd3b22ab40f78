//! What a lab is made of ([`LabSpec`]) and its fixed address plan ([`addressing`]).
use super::error::{NetnsError, Result};
use serde::{Deserialize, Serialize};

/// The cluster to build. `LabSpec::default()` is 3 nodes, directors 1 and 2, DR, TCP port 80.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LabSpec {
    /// How many nodes, numbered 1..=nodes (at most [`addressing::MAX_NODES`]).
    pub nodes: u8,
    /// The director-capable nodes (init-capable in clustertab); at least one.
    pub directors: Vec<u8>,
    /// LVS forwarding written into cvip.conf (and lvs_routing for NAT).
    pub routing: Routing,
    /// The load-balanced port ranges written into cvip.conf.
    pub port_weights: Vec<PortWeight>,
}

impl Default for LabSpec {
    fn default() -> Self {
        LabSpec {
            nodes: 3,
            directors: vec![1, 2],
            routing: Routing::Dr,
            port_weights: vec![PortWeight {
                protocol: Protocol::Tcp,
                start_port: 80,
                end_port: 80,
                weight: 1,
            }],
        }
    }
}

impl LabSpec {
    /// Rejects specs the address plan or OpenSSI cannot express.
    pub fn validate(&self) -> Result<()> {
        let bad = |reason: String| Err(NetnsError::Spec(reason));
        if !(1..=addressing::MAX_NODES).contains(&self.nodes) {
            return bad(format!(
                "{} nodes; use 1 to {}",
                self.nodes,
                addressing::MAX_NODES
            ));
        }
        if self.directors.is_empty() {
            return bad("no director; name at least one node (e.g. directors 1)".into());
        }
        for (index, director) in self.directors.iter().enumerate() {
            if !(1..=self.nodes).contains(director) {
                return bad(format!(
                    "director {director} is not a node 1..={}",
                    self.nodes
                ));
            }
            if self.directors[..index].contains(director) {
                return bad(format!("director {director} is listed twice"));
            }
        }
        for weight in &self.port_weights {
            if weight.start_port == 0 || weight.start_port > weight.end_port {
                return bad(format!(
                    "port range {}-{}: start must be 1 or more and not after the end",
                    weight.start_port, weight.end_port
                ));
            }
        }
        Ok(())
    }

    /// Whether `node` is director-capable.
    pub fn is_director(&self, node: u8) -> bool {
        self.directors.contains(&node)
    }
}

/// LVS forwarding method.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Routing {
    /// Direct routing: real servers answer the client themselves (CVIP on their `lo`).
    Dr,
    /// NAT: replies return through the director's floating internal gateway.
    Nat,
}

/// A transport protocol of a port range.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    Tcp,
    Udp,
}

/// One `setport_weight` range.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortWeight {
    pub protocol: Protocol,
    pub start_port: u16,
    pub end_port: u16,
    pub weight: u32,
}

/// The address plan, the same in every lab (each lab has its own switch, so they never meet).
pub mod addressing {
    use std::net::Ipv4Addr;

    /// Node interfaces: interconnect and external.
    pub const INTERCONNECT_IF: &str = "eth0";
    pub const EXTERNAL_IF: &str = "eth1";
    /// The client's single interface.
    pub const CLIENT_IF: &str = "eth0";
    /// The bridges in the switch namespace.
    pub const INTERCONNECT_BRIDGE: &str = "br-ic";
    pub const EXTERNAL_BRIDGE: &str = "br-ex";
    /// The client's port on the external bridge.
    pub const CLIENT_PORT: &str = "client";
    /// The gateway's single interface.
    pub const GATEWAY_IF: &str = "eth0";
    /// The gateway's port on the external bridge.
    pub const GATEWAY_PORT: &str = "gw";
    /// Interconnect 10.200.0.0/24, external 192.168.200.0/24.
    pub const PREFIX_LEN: u8 = 24;
    /// The client's own address.
    pub const CLIENT: Ipv4Addr = Ipv4Addr::new(192, 168, 200, 2);
    /// The nodes' external default gateway, held by a namespace of its own (`<prefix>gw`) so
    /// that a node cut off the external side loses it while the client stays a separate
    /// witness; it answers ARP and ping and forwards nothing (nothing leaves the lab).
    pub const GATEWAY: Ipv4Addr = Ipv4Addr::new(192, 168, 200, 1);
    /// The cluster virtual IP written into cvip.conf (nobody holds it until a director does).
    pub const CVIP: Ipv4Addr = Ipv4Addr::new(192, 168, 200, 100);
    /// NAT mode's floating internal gateway (lvs_routing); nobody holds it until a director does.
    pub const INTERNAL_GATEWAY: Ipv4Addr = Ipv4Addr::new(10, 200, 0, 254);
    /// External addresses 192.168.200.11.. stay below the CVIP.
    pub const MAX_NODES: u8 = 89;

    /// Node N: 10.200.0.N.
    pub fn interconnect_ip(node: u8) -> Ipv4Addr {
        Ipv4Addr::new(10, 200, 0, node)
    }

    /// Node N: 192.168.200.(10+N).
    pub fn external_ip(node: u8) -> Ipv4Addr {
        Ipv4Addr::new(192, 168, 200, 10 + node)
    }

    /// Node N's interconnect MAC, as in clustertab: 02:00:00:00:00:<N in hex>.
    pub fn interconnect_mac(node: u8) -> String {
        format!("02:00:00:00:00:{node:02x}")
    }

    /// Node N's ports in the switch namespace: `n<N>ic`, `n<N>ex`.
    pub fn interconnect_port(node: u8) -> String {
        format!("n{node}ic")
    }

    pub fn external_port(node: u8) -> String {
        format!("n{node}ex")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_spec_is_valid() {
        assert!(LabSpec::default().validate().is_ok());
    }

    #[test]
    fn bad_specs_are_refused() {
        let spec = |nodes, directors: &[u8]| LabSpec {
            nodes,
            directors: directors.to_vec(),
            ..LabSpec::default()
        };
        assert!(spec(0, &[1]).validate().is_err());
        assert!(spec(90, &[1]).validate().is_err());
        assert!(spec(3, &[]).validate().is_err());
        assert!(spec(3, &[4]).validate().is_err());
        assert!(spec(3, &[1, 1]).validate().is_err());
        assert!(spec(89, &[89]).validate().is_ok());
    }
}

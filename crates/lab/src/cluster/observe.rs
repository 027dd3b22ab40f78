//! What a user checks with `ip` on a cluster: who holds the CVIP on its external interface,
//! who holds it on `lo`, and where the client's ARP entry for it points.
use super::Cluster;
use super::error::{ClusterError, Result};
use serde::Deserialize;
use ssinet_testbed::netns::{Lab, Neighbour, Netns};
use std::net::Ipv4Addr;

/// One IPv4 address of an interface, as `ip -j addr` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Address {
    pub ifname: String,
    pub ip: Ipv4Addr,
    pub prefix_len: u8,
    /// The address label (`eth1:ssi` for the agent's), or the interface name when unlabelled.
    pub label: String,
}

#[derive(Deserialize)]
struct Link {
    ifname: String,
    #[serde(default)]
    addr_info: Vec<AddrInfo>,
}

#[derive(Deserialize)]
struct AddrInfo {
    #[serde(default)]
    family: String,
    #[serde(default)]
    local: Option<String>,
    #[serde(default)]
    prefixlen: u8,
    #[serde(default)]
    label: Option<String>,
}

/// Parses `ip -j addr show` output into the IPv4 addresses equal to `ip`.
pub fn cvip_addresses(json: &str, ip: Ipv4Addr) -> serde_json::Result<Vec<Address>> {
    let links: Vec<Link> = serde_json::from_str(json)?;
    let mut found = Vec::new();
    for link in links {
        for info in link.addr_info {
            let local = info.local.as_deref().and_then(|text| text.parse().ok());
            if info.family == "inet" && local == Some(ip) {
                found.push(Address {
                    label: info.label.unwrap_or_else(|| link.ifname.clone()),
                    ifname: link.ifname.clone(),
                    ip,
                    prefix_len: info.prefixlen,
                });
            }
        }
    }
    Ok(found)
}

fn addresses_of(netns: &Netns, ip: Ipv4Addr) -> Result<Vec<Address>> {
    let json = netns.ip(&["-j", "-4", "addr", "show"])?;
    cvip_addresses(&json, ip).map_err(|error| ClusterError::Output {
        command: format!("ip -j -4 addr show (in {})", netns.name()),
        reason: error.to_string(),
    })
}

/// The nodes of `lab` holding its CVIP on their external interface (`eth1`), in node order.
/// More than one is a split brain.
pub fn cvip_holders(lab: &Lab) -> Result<Vec<u8>> {
    let mut holders = Vec::new();
    for node in lab.nodes() {
        let addresses = addresses_of(node.netns(), lab.cvip())?;
        if addresses
            .iter()
            .any(|address| address.ifname == node.external_if())
        {
            holders.push(node.number());
        }
    }
    Ok(holders)
}

impl Cluster {
    /// Where node `node` holds the CVIP: none, its external interface (director), `lo` (real
    /// server).
    pub fn cvip_addresses_of(&self, node: u8) -> Result<Vec<Address>> {
        addresses_of(self.lab.node(node).netns(), self.lab.cvip())
    }

    /// The nodes holding the CVIP on their external interface (`eth1`), in node order. More
    /// than one is a split brain.
    pub fn cvip_holders(&self) -> Result<Vec<u8>> {
        cvip_holders(&self.lab)
    }

    /// [`Cluster::cvip_holders`] among `nodes` only: a node whose agent was SIGKILLed keeps
    /// the address it held (nothing removed it), so a check after a kill names the living.
    pub fn cvip_holders_among(&self, nodes: &[u8]) -> Result<Vec<u8>> {
        Ok(self
            .cvip_holders()?
            .into_iter()
            .filter(|node| nodes.contains(node))
            .collect())
    }

    /// Whether node `node` holds the CVIP on `lo` (a real server's way).
    pub fn cvip_on_lo(&self, node: u8) -> Result<bool> {
        Ok(self
            .cvip_addresses_of(node)?
            .iter()
            .any(|address| address.ifname == "lo"))
    }

    /// The director a user would name: the single node holding the CVIP on `eth1`; `None`
    /// while nobody or several do.
    pub fn director(&self) -> Result<Option<u8>> {
        let holders = self.cvip_holders()?;
        Ok(match holders.as_slice() {
            [only] => Some(*only),
            _ => None,
        })
    }

    /// The client namespace's neighbour entry for the CVIP, if any.
    pub fn client_cvip_neighbour(&self) -> Result<Option<Neighbour>> {
        let cvip = self.lab.cvip().to_string();
        Ok(self
            .lab
            .client()
            .neighbours()?
            .into_iter()
            .find(|neighbour| neighbour.ip == cvip))
    }

    /// The MAC of node `node`'s external interface (what the client's ARP entry for the CVIP
    /// must point at while `node` directs).
    pub fn external_mac(&self, node: u8) -> Result<String> {
        let netns = self.lab.node(node).netns();
        let interface = self.lab.node(node).external_if();
        // /sys shows the host's interfaces to a process that only entered the namespace;
        // `ip` asks the kernel over netlink instead.
        let json = netns.ip(&["-j", "link", "show", interface])?;
        let links: Vec<serde_json::Value> =
            serde_json::from_str(&json).map_err(|error| ClusterError::Output {
                command: format!("ip -j link show {interface} (in {})", netns.name()),
                reason: error.to_string(),
            })?;
        links
            .first()
            .and_then(|link| link["address"].as_str())
            .map(str::to_owned)
            .ok_or_else(|| ClusterError::Output {
                command: format!("ip -j link show {interface}"),
                reason: "no link-layer address in the answer".into(),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cvip_is_found_with_its_interface_and_label() {
        let json = r#"[
          {"ifindex":1,"ifname":"lo","addr_info":[
            {"family":"inet","local":"127.0.0.1","prefixlen":8,"label":"lo"},
            {"family":"inet","local":"192.168.200.100","prefixlen":32,"label":"lo"}]},
          {"ifindex":3,"ifname":"eth1","addr_info":[
            {"family":"inet","local":"192.168.200.11","prefixlen":24,"label":"eth1"},
            {"family":"inet","local":"192.168.200.100","prefixlen":24,"label":"eth1:ssi"},
            {"family":"inet6","local":"fe80::1","prefixlen":64}]},
          {"ifindex":4,"ifname":"eth2"}
        ]"#;
        let cvip = Ipv4Addr::new(192, 168, 200, 100);
        let found = cvip_addresses(json, cvip).unwrap();
        assert_eq!(found.len(), 2);
        assert_eq!((found[0].ifname.as_str(), found[0].prefix_len), ("lo", 32));
        assert_eq!(found[1].label, "eth1:ssi");
        assert!(cvip_addresses("[]", cvip).unwrap().is_empty());
        assert!(cvip_addresses("{", cvip).is_err());
    }
}

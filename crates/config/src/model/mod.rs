//! The configuration as plain data. No spans, no file names: the Raft state machine replicates
//! these values, and the same validation rules run on them whether they came from a file or from
//! a command.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

mod service;

pub use service::*;

/// An OpenSSI node number (> 0 in a valid clustertab, which also keeps it within `u32`): the
/// one node id of every crate, from clustertab to Raft, the interconnect's certificates and
/// remote sockets. On the wire and on disk it is a plain number; a wire that carries a
/// narrower width converts at its edge.
#[derive(
    Debug, Default, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct NodeId(pub u64);

impl NodeId {
    /// The number as clustertab writes it.
    pub fn get(self) -> u64 {
        self.0
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl FromStr for NodeId {
    type Err = String;

    /// A node number as an operator types it (`--origin 2`): a positive integer.
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim().parse::<u64>() {
            Ok(n) if n > 0 => Ok(NodeId(n)),
            _ => Err(format!(
                "{s:?} is not a node number (expected a number of 1 or more, as in clustertab)"
            )),
        }
    }
}

impl From<NodeId> for u64 {
    fn from(node: NodeId) -> u64 {
        node.0
    }
}

impl From<u64> for NodeId {
    fn from(raw: u64) -> Self {
        NodeId(raw)
    }
}

/// An Ethernet MAC address; written lower-case, colon separated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct MacAddr(pub [u8; 6]);

impl fmt::Display for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = self.0;
        write!(
            f,
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            b[0], b[1], b[2], b[3], b[4], b[5]
        )
    }
}

impl FromStr for MacAddr {
    type Err = ();

    /// Six hex octets separated by `:` or `-` (one separator style throughout).
    fn from_str(s: &str) -> Result<Self, ()> {
        let sep = if s.contains('-') { '-' } else { ':' };
        let mut out = [0u8; 6];
        let mut parts = s.split(sep);
        for byte in &mut out {
            let part = parts.next().ok_or(())?;
            if part.is_empty() || part.len() > 2 || !part.bytes().all(|c| c.is_ascii_hexdigit()) {
                return Err(());
            }
            *byte = u8::from_str_radix(part, 16).map_err(|_| ())?;
        }
        if parts.next().is_some() {
            return Err(());
        }
        Ok(Self(out))
    }
}

/// How a node boots: `E` (Etherboot) or `P` (PXE).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum BootProtocol {
    Etherboot,
    Pxe,
}

impl BootProtocol {
    pub fn letter(self) -> char {
        match self {
            Self::Etherboot => 'E',
            Self::Pxe => 'P',
        }
    }
}

/// One line of `/etc/clustertab`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Node {
    pub num: NodeId,
    /// Interconnect address.
    pub ip: IpAddr,
    /// Interconnect MAC.
    pub mac: MacAddr,
    pub boot: BootProtocol,
    /// May become the root (init) node after a failure.
    pub init_capable: bool,
    /// Local boot device; required when `init_capable`.
    pub boot_device: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Clustertab {
    pub nodes: Vec<Node>,
}

/// IPVS forwarding method for the CVIPs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Routing {
    /// Direct routing (`ipvsadm -g`): real servers answer clients directly.
    Dr,
    /// Masquerading (`ipvsadm -m`): replies return through the director's internal gateway.
    Nat,
}

impl Routing {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Dr => "DR",
            Self::Nat => "NAT",
        }
    }

    /// Case-insensitive, as OpenSSI's scripts compared it.
    pub fn parse(s: &str) -> Option<Self> {
        if s.eq_ignore_ascii_case("DR") {
            Some(Self::Dr)
        } else if s.eq_ignore_ascii_case("NAT") {
            Some(Self::Nat)
        } else {
            None
        }
    }
}

impl fmt::Display for Routing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A node that may hold the CVIP.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct DirectorNode {
    pub node: NodeId,
    /// External interface: the CVIP goes here and gratuitous ARP goes out of it.
    pub garp_interface: String,
    /// Interface for the IPVS connection-sync daemon; without it no sync daemon runs.
    pub sync_interface: Option<String>,
}

/// One `<cvip>`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Cvip {
    pub ip: IpAddr,
    pub gateway: Option<IpAddr>,
    pub directors: Vec<DirectorNode>,
    pub real_servers: Vec<NodeId>,
    /// Overrides the global scheduler for this CVIP.
    pub scheduler: Option<Scheduler>,
    /// Overrides the global persistence for this CVIP.
    pub persistence: Option<Persistence>,
}

/// `/etc/cvip.conf`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct CvipConf {
    /// `<routing>`; may instead (or also) come from `lvs_routing`.
    pub routing: Option<Routing>,
    pub cvips: Vec<Cvip>,
    pub port_weights: Vec<PortWeight>,
    /// Global scheduler; `None` = [`Scheduler::default`].
    pub scheduler: Option<Scheduler>,
    pub persistence: Option<Persistence>,
    /// `None` = [`HealthCheck::default`].
    pub health: Option<HealthCheck>,
}

/// `/etc/default/lvs_routing`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct LvsRouting {
    pub routing: Option<Routing>,
    /// NAT mode's internal gateway, which floats with the director.
    pub internal_gw: Option<IpAddr>,
}

/// All three files together; the unit that is validated and replicated.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ClusterConfig {
    pub clustertab: Clustertab,
    pub cvip_conf: CvipConf,
    pub lvs_routing: Option<LvsRouting>,
}

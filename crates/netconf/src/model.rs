//! The desired state the agent asks for, and the kernel objects it expands to.

use std::fmt;
use std::net::IpAddr;

use serde::{Deserialize, Serialize};

/// Everything the agent wants to own on this node. Objects it owns that are not listed here are
/// removed (sysctls restored); objects it does not own are never touched.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetConfig {
    /// Virtual addresses: CVIPs on the `garp_interface` or on `lo`, the NAT internal gateway.
    pub addresses: Vec<OwnedAddress>,
    /// Per-namespace `net.*` sysctls; the value found before the first change is restored when a
    /// key leaves this list.
    pub sysctls: Vec<SysctlSetting>,
    /// Per-CVIP policy routing: CVIP-sourced traffic leaves through the CVIP's gateway.
    pub cvip_routes: Vec<CvipRoute>,
    /// NAT mode on a real server: replies leave through the floating internal gateway.
    pub nat_return: Option<NatReturnPath>,
}

/// An address held on an interface.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct OwnedAddress {
    pub addr: IpAddr,
    /// 32 or 128 for a CVIP.
    pub prefix_len: u8,
    pub ifname: String,
}

impl OwnedAddress {
    /// A host address (/32 or /128), the form every CVIP takes.
    pub fn host(addr: IpAddr, ifname: impl Into<String>) -> Self {
        let prefix_len = if addr.is_ipv4() { 32 } else { 128 };
        Self {
            addr,
            prefix_len,
            ifname: ifname.into(),
        }
    }
}

impl fmt::Display for OwnedAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{} dev {}", self.addr, self.prefix_len, self.ifname)
    }
}

/// One sysctl, `net.ipv4.conf.all.arp_ignore` style (or slash-separated when an interface name
/// contains a dot).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct SysctlSetting {
    pub key: String,
    pub value: String,
}

impl SysctlSetting {
    pub fn new(key: impl Into<String>, value: impl Into<String>) -> Self {
        Self {
            key: key.into(),
            value: value.into(),
        }
    }

    /// What a real server holding a CVIP on `lo` needs: never answer or announce ARP for it
    /// (`arp_ignore=1`, `arp_announce=2` on `all` and on each listed interface).
    pub fn real_server_arp(ifnames: &[&str]) -> Vec<Self> {
        let mut out = Vec::new();
        for scope in std::iter::once("all").chain(ifnames.iter().copied()) {
            out.push(Self::new(format!("net/ipv4/conf/{scope}/arp_ignore"), "1"));
            out.push(Self::new(
                format!("net/ipv4/conf/{scope}/arp_announce"),
                "2",
            ));
        }
        out
    }

    /// IPv4 forwarding, needed by a NAT director.
    pub fn ip_forward() -> Self {
        Self::new("net.ipv4.ip_forward", "1")
    }

    /// Reverse-path filtering on `scope` (`all`, `default` or an interface): DR setups where a
    /// reply leaves by another interface than the request came in need it loose (2) or off (0).
    pub fn rp_filter(scope: &str, value: u8) -> Self {
        Self::new(
            format!("net/ipv4/conf/{scope}/rp_filter"),
            value.to_string(),
        )
    }

    /// An IPVS knob under `net.ipv4.vs` (`backup_only`, `sloppy_tcp`, `expire_nodest_conn`,
    /// `conn_reuse_mode`...). These exist only while IPVS is loaded: planning one without it
    /// fails with [`crate::NetconfError::IpvsNotPresent`]; check [`crate::ipvs_present`] first.
    pub fn ipvs(knob: &str, value: impl Into<String>) -> Self {
        Self::new(format!("net/ipv4/vs/{knob}"), value)
    }
}

/// Policy routing for one CVIP: a table of its own whose default route is `gateway` on `ifname`
/// (plus `ifname`'s connected subnets, so neighbours are still reached directly), and a rule
/// `from <cvip> lookup <table>`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct CvipRoute {
    pub cvip: IpAddr,
    pub gateway: IpAddr,
    pub ifname: String,
}

/// NAT return path on a real server: traffic sourced from `source` (the node's interconnect
/// address, which IPVS NAT forwards to) leaves through `gateway` (the floating
/// `LVS_INTERNAL_GW`) unless its destination is on `ifname`'s own subnets; a table of its own
/// and a rule `from <source> lookup <table>`. Other traffic of the node is left alone, so a
/// real server's external interface cannot bypass the director for NAT replies.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct NatReturnPath {
    pub gateway: IpAddr,
    pub ifname: String,
    pub source: IpAddr,
}

/// What a routing table is allocated for; the state file maps each to its table number.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum TableKey {
    Cvip(IpAddr),
    NatReturn { ipv6: bool },
}

impl fmt::Display for TableKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Cvip(ip) => write!(f, "cvip {ip}"),
            Self::NatReturn { ipv6 } => {
                write!(f, "nat-return {}", if *ipv6 { "ipv6" } else { "ipv4" })
            }
        }
    }
}

/// An owned route as the kernel holds it (always with protocol [`crate::OWNER_PROTOCOL`]).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct RouteSpec {
    pub table: u32,
    /// Destination and prefix length; `0.0.0.0/0` or `::/0` for a default route.
    pub destination: IpAddr,
    pub prefix_len: u8,
    pub gateway: Option<IpAddr>,
    pub ifname: String,
}

impl fmt::Display for RouteSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.destination, self.prefix_len)?;
        if let Some(gw) = self.gateway {
            write!(f, " via {gw}")?;
        }
        write!(f, " dev {} table {}", self.ifname, self.table)
    }
}

/// An owned policy rule (always with protocol [`crate::OWNER_PROTOCOL`]).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct RuleSpec {
    pub ipv6: bool,
    pub priority: u32,
    /// Source selector; `None` matches all.
    pub from: Option<(IpAddr, u8)>,
    pub table: u32,
}

impl fmt::Display for RuleSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} pref {} from ",
            if self.ipv6 { "-6" } else { "-4" },
            self.priority
        )?;
        match self.from {
            Some((ip, len)) => write!(f, "{ip}/{len}")?,
            None => write!(f, "all")?,
        }
        write!(f, " lookup {}", self.table)
    }
}

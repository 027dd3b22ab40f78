//! The data plane as the admin API reports it: the node's kernel role and, on a director or
//! standby, its IPVS table with counters (`GET /v1/ipvs`, `cvipctl ipvs`).

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

/// `GET`: the node's IPVS table with statistics, an [`IpvsReport`].
pub const IPVS: &str = "/v1/ipvs";

/// What the node does for the CVIPs: the role its data-plane controller computes and applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DataPlaneRole {
    /// The fenced Raft leader: CVIPs on its `garp_interface`, IPVS scheduling.
    Director,
    /// Director-capable but not directing: a real server that keeps the IPVS table and the
    /// connection sync ready for a takeover.
    Standby,
    /// Holds the CVIPs on `lo` and serves what the director forwards.
    RealServer,
    /// The replicated state is not loaded yet, or the controller has not run.
    Starting,
}

impl DataPlaneRole {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Director => "director",
            Self::Standby => "standby",
            Self::RealServer => "real_server",
            Self::Starting => "starting",
        }
    }
}

impl std::fmt::Display for DataPlaneRole {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The data-plane controller's last pass, part of the status report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DataPlaneStatus {
    pub role: DataPlaneRole,
    /// The kernel has IPVS; without it only addresses and routes are managed.
    pub ipvs_present: bool,
    /// Addresses held on external interfaces (the CVIPs, on the director).
    pub external: Vec<IpAddr>,
    /// Services in the IPVS table this node programs.
    pub services: usize,
    /// The last failure to bring the kernel in line, if the last pass failed.
    pub error: Option<String>,
    /// External interfaces this director-capable node judges unable to serve (no carrier, or
    /// the gateway does not answer ARP), with the reason; while any is listed the node neither
    /// claims the CVIPs nor stands for election.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub link_down: std::collections::BTreeMap<String, String>,
}

impl Default for DataPlaneStatus {
    fn default() -> Self {
        Self {
            role: DataPlaneRole::Starting,
            ipvs_present: false,
            external: Vec::new(),
            services: 0,
            error: None,
            link_down: Default::default(),
        }
    }
}

/// `GET /v1/ipvs`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IpvsReport {
    pub node: ssinet_config::NodeId,
    pub role: DataPlaneRole,
    pub ipvs_present: bool,
    pub services: Vec<IpvsService>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IpvsService {
    /// `tcp` or `udp`.
    pub proto: String,
    pub addr: IpAddr,
    pub port: u16,
    pub scheduler: String,
    /// Scheduler flags as ipvsadm prints them (`mh-port`...).
    pub flags: Vec<String>,
    /// Seconds, when persistent.
    pub persistence: Option<u32>,
    pub stats: IpvsStats,
    pub destinations: Vec<IpvsDestination>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IpvsDestination {
    pub addr: IpAddr,
    pub port: u16,
    /// `route` (DR), `masq` (NAT), `local`, `tunnel`.
    pub forwarding: String,
    pub weight: u32,
    pub active_conns: u32,
    pub inactive_conns: u32,
    pub stats: IpvsStats,
}

/// Totals as `ipvsadm -Ln --stats` shows them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IpvsStats {
    pub conns: u64,
    pub in_packets: u64,
    pub out_packets: u64,
    pub in_bytes: u64,
    pub out_bytes: u64,
}

//! What this node's kernel should hold, computed from the replicated state and the node's role.
//! Pure: the controller diffs the result against the kernel, so this is where the rules live;
//! `apply` only brings the kernel to what it is given.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::time::Duration;

use ssinet_api::ClusterState;
use ssinet_api::dataplane::DataPlaneRole;
use ssinet_config::{ClusterConfig, Cvip, NodeId, Protocol, Routing, SchedulerFlag};
use ssinet_ipvs::{
    DaemonRole, DesiredService, DesiredTable, Destination, Forwarding, PlanOptions, Scheduler,
    Service, ServiceFlags, ServiceKey, SyncDaemon,
};
use ssinet_netconf::{CvipRoute, NatReturnPath, NetConfig, OwnedAddress, SysctlSetting};

/// The sync id every ssinet director uses: one cluster per interconnect.
pub const SYNC_ID: u32 = 83;

/// Facts about this node the replicated state does not carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Local {
    pub node: NodeId,
    /// The interface holding this node's clustertab address.
    pub interconnect_if: String,
    /// IPVS exists in this kernel; without it only addresses and routes are managed.
    pub ipvs: bool,
}

/// Everything the controller applies in one pass.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeDesired {
    pub role: DataPlaneRole,
    pub net: NetConfig,
    /// `None` when IPVS is absent: the controller leaves IPVS alone entirely.
    pub ipvs: Option<IpvsDesired>,
    /// CVIPs held on an external interface (to announce), with that interface.
    pub announced: Vec<(IpAddr, String)>,
}

impl NodeDesired {
    /// The pass takes or keeps the CVIPs (the director): IPVS is programmed before the
    /// addresses appear, and nothing is claimed once the fence has expired. Otherwise the
    /// addresses go first.
    pub fn claims_cvips(&self) -> bool {
        self.role == DataPlaneRole::Director
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IpvsDesired {
    pub table: DesiredTable,
    pub daemons: Vec<SyncDaemon>,
    /// The addresses whose IPVS services ssinet owns: every configured CVIP, whatever the role
    /// (a real server's table is empty, so stray services there are removed). The kernel side
    /// also remembers the CVIPs it owned before, so the services of a CVIP removed from the
    /// configuration are still cleaned up.
    pub owned: BTreeSet<IpAddr>,
    /// How destinations leave: drained at weight 0 for the health check's `drain_ms`.
    pub options: PlanOptions,
}

/// Which registered listeners may take new connections.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Serving {
    /// Nodes whose agents answer (see `health`); registered nodes outside it are left out and
    /// the reconciler drains them.
    pub nodes: BTreeSet<NodeId>,
    /// (node, TCP port) pairs failing the optional TCP check.
    pub failing_tcp: BTreeSet<(NodeId, u16)>,
}

/// The role this node takes: director when it is director-capable and `may_direct` (the fence
/// holds and its external links serve), standby when director-capable otherwise, else real
/// server.
pub fn role(config: &ClusterConfig, node: NodeId, may_direct: bool) -> DataPlaneRole {
    match (config.director_nodes().contains(&node), may_direct) {
        (true, true) => DataPlaneRole::Director,
        (true, false) => DataPlaneRole::Standby,
        (false, _) => DataPlaneRole::RealServer,
    }
}

/// Computes the kernel state for `role`. [`DataPlaneRole::Starting`] is only reported before
/// the first pass; given it, this holds what a real server holds.
pub fn desired(
    state: &ClusterState,
    local: &Local,
    role: DataPlaneRole,
    serving: &Serving,
) -> NodeDesired {
    let config = &state.config;
    let routing = config.routing();
    let mut net = NetConfig::default();
    let mut announced = Vec::new();
    let cvips = &config.cvip_conf.cvips;
    match role {
        DataPlaneRole::Director => {
            for cvip in cvips {
                let Some(director) = cvip.directors.iter().find(|d| d.node == local.node) else {
                    continue;
                };
                net.addresses
                    .push(OwnedAddress::host(cvip.ip, &director.garp_interface));
                announced.push((cvip.ip, director.garp_interface.clone()));
                if let Some(gateway) = cvip.gateway {
                    net.cvip_routes.push(CvipRoute {
                        cvip: cvip.ip,
                        gateway,
                        ifname: director.garp_interface.clone(),
                    });
                }
            }
            if routing == Routing::Nat {
                if let Some(gw) = config.internal_gateway() {
                    net.addresses
                        .push(OwnedAddress::host(gw, &local.interconnect_if));
                    announced.push((gw, local.interconnect_if.clone()));
                }
                net.sysctls.push(SysctlSetting::ip_forward());
            }
        }
        DataPlaneRole::Standby | DataPlaneRole::RealServer | DataPlaneRole::Starting => {
            for cvip in cvips {
                net.addresses.push(OwnedAddress::host(cvip.ip, "lo"));
            }
            if !cvips.is_empty() {
                let mut arp_ifs: Vec<&str> = vec![local.interconnect_if.as_str()];
                for cvip in cvips {
                    for d in &cvip.directors {
                        if d.node == local.node && !arp_ifs.contains(&d.garp_interface.as_str()) {
                            arp_ifs.push(&d.garp_interface);
                        }
                    }
                }
                net.sysctls.extend(SysctlSetting::real_server_arp(&arp_ifs));
                match routing {
                    // DR: requests arrive on the interconnect from client addresses routed out
                    // of the external interface; strict reverse-path filtering would drop them.
                    Routing::Dr => {
                        net.sysctls.push(SysctlSetting::rp_filter("all", 2));
                        net.sysctls
                            .push(SysctlSetting::rp_filter(&local.interconnect_if, 2));
                    }
                    Routing::Nat => {
                        if let (Some(gateway), Some(source)) =
                            (config.internal_gateway(), own_ip(config, local.node))
                        {
                            net.nat_return = Some(NatReturnPath {
                                gateway,
                                ifname: local.interconnect_if.clone(),
                                source,
                            });
                        }
                    }
                }
            }
        }
    }
    let ipvs = local.ipvs.then(|| {
        let sync_if = sync_interface(config, local.node);
        let mut daemons = Vec::new();
        let table = match role {
            DataPlaneRole::Director => {
                net.sysctls.push(SysctlSetting::ipvs("sloppy_tcp", "1"));
                if let Some(ifname) = &sync_if {
                    daemons.push(SyncDaemon::new(DaemonRole::Master, ifname, SYNC_ID));
                }
                table(state, serving)
            }
            // A standby keeps the director's table and its synced connections only where the
            // backup sync daemon runs: `backup_only` works only with it, and without it the
            // table would re-balance traffic the director sends here as a real server.
            DataPlaneRole::Standby if sync_if.is_some() => {
                net.sysctls.push(SysctlSetting::ipvs("sloppy_tcp", "1"));
                net.sysctls.push(SysctlSetting::ipvs("backup_only", "1"));
                if let Some(ifname) = &sync_if {
                    daemons.push(SyncDaemon::new(DaemonRole::Backup, ifname, SYNC_ID));
                }
                table(state, serving)
            }
            DataPlaneRole::Standby | DataPlaneRole::RealServer | DataPlaneRole::Starting => {
                DesiredTable::new()
            }
        };
        let drain = config.cvip_conf.health_check().drain_ms;
        IpvsDesired {
            table,
            daemons,
            owned: cvips.iter().map(|c| c.ip).collect(),
            options: PlanOptions {
                drain: Some(Duration::from_millis(u64::from(drain))),
            },
        }
    });
    NodeDesired {
        role,
        net,
        ipvs,
        announced,
    }
}

fn own_ip(config: &ClusterConfig, node: NodeId) -> Option<IpAddr> {
    config.node(node).map(|n| n.ip)
}

fn sync_interface(config: &ClusterConfig, node: NodeId) -> Option<String> {
    config
        .cvip_conf
        .cvips
        .iter()
        .flat_map(|c| c.directors.iter())
        .find(|d| d.node == node)
        .and_then(|d| d.sync_interface.clone())
}

/// One service per (CVIP, protocol, port) with a serving registered node; destinations in node
/// order, so every director builds the same Maglev table.
pub fn table(state: &ClusterState, serving: &Serving) -> DesiredTable {
    let config = &state.config;
    let forwarding = match config.routing() {
        Routing::Dr => Forwarding::DirectRoute,
        Routing::Nat => Forwarding::Masquerade,
    };
    let mut ports: BTreeMap<(Protocol, u16), Vec<NodeId>> = BTreeMap::new();
    for key in state.listeners.keys() {
        let failing =
            key.proto == Protocol::Tcp && serving.failing_tcp.contains(&(key.node, key.port));
        if serving.nodes.contains(&key.node) && !failing {
            ports
                .entry((key.proto, key.port))
                .or_default()
                .push(key.node);
        }
    }
    let mut table = DesiredTable::new();
    for cvip in &config.cvip_conf.cvips {
        for ((proto, port), nodes) in &ports {
            let mut destinations = Vec::new();
            let mut sorted = nodes.clone();
            sorted.sort();
            for node in sorted {
                let (Some(n), Some(weight)) =
                    (config.node(node), config.weight_for(node, *proto, *port))
                else {
                    continue;
                };
                if n.ip.is_ipv4() != cvip.ip.is_ipv4() {
                    continue;
                }
                destinations.push(Destination::new(n.ip, *port, forwarding, weight));
            }
            if destinations.is_empty() {
                continue;
            }
            let service = service(config, cvip, *proto, *port);
            // Keys are unique: one service per (CVIP, protocol, port) by construction.
            if let Err(e) = table.insert(DesiredService {
                service,
                destinations,
            }) {
                tracing::warn!(error = %e, "IPVS service left out");
            }
        }
    }
    table
}

fn service(config: &ClusterConfig, cvip: &Cvip, proto: Protocol, port: u16) -> Service {
    let key = match proto {
        Protocol::Tcp => ServiceKey::tcp(cvip.ip, port),
        Protocol::Udp => ServiceKey::udp(cvip.ip, port),
    };
    let scheduler = config.cvip_conf.scheduler_for(cvip);
    let mut flags = ServiceFlags::default();
    for flag in &scheduler.flags {
        flags = flags | service_flag(*flag);
    }
    let mut service =
        Service::new(key, Scheduler::from_name(scheduler.name.as_str())).with_flags(flags);
    if let Some(p) = config.cvip_conf.persistence_for(cvip) {
        let full = if cvip.ip.is_ipv4() { 32 } else { 128 };
        service = service.with_persistence(p.timeout_secs, p.netmask_prefix.unwrap_or(full));
    }
    service
}

fn service_flag(flag: SchedulerFlag) -> ServiceFlags {
    match flag {
        SchedulerFlag::MhPort => ServiceFlags::MH_PORT,
        SchedulerFlag::MhFallback => ServiceFlags::MH_FALLBACK,
        SchedulerFlag::ShPort => ServiceFlags::SH_PORT,
        SchedulerFlag::ShFallback => ServiceFlags::SH_FALLBACK,
    }
}

#[cfg(test)]
#[path = "desired_tests.rs"]
pub(super) mod tests;

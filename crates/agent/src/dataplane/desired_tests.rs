use std::collections::BTreeSet;
use std::net::IpAddr;

use ssinet_api::{ClusterState, ListenerKey, Registration};
use ssinet_config::{ClusterConfig, ConfigPaths, HealthCheck, NodeId, Protocol};
use ssinet_ipvs::{DaemonRole, Forwarding, Scheduler, ServiceFlags, ServiceKey};

use super::*;

fn config(routing: &str) -> ClusterConfig {
    let dir = tempfile::tempdir().unwrap();
    let clustertab = dir.path().join("clustertab");
    let cvip_conf = dir.path().join("cvip.conf");
    let lvs = dir.path().join("lvs_routing");
    std::fs::write(
        &clustertab,
        "1 10.200.0.1 02:00:00:00:00:01 P 1 /dev/sda\n\
         2 10.200.0.2 02:00:00:00:00:02 P 1 /dev/sda\n\
         3 10.200.0.3 02:00:00:00:00:03 P 0\n",
    )
    .unwrap();
    std::fs::write(
        &cvip_conf,
        format!(
            "<cvips><routing>{routing}</routing><cvip><ip_addr>192.168.200.100</ip_addr>\
             <gateway>192.168.200.1</gateway>\
             <director_node><node_num>1</node_num><garp_interface>eth1</garp_interface>\
             <sync_interface>eth0</sync_interface></director_node>\
             <director_node><node_num>2</node_num><garp_interface>eth1</garp_interface>\
             <sync_interface>eth0</sync_interface></director_node>\
             <real_server_node><node_num>3</node_num></real_server_node></cvip>\
             <port_weight><proto>tcp</proto><start_port>80</start_port><end_port>80</end_port>\
             <weight>1</weight></port_weight>\
             <port_weight><node_num>3</node_num><proto>tcp</proto><start_port>80</start_port>\
             <end_port>80</end_port><weight>2</weight></port_weight></cvips>"
        ),
    )
    .unwrap();
    std::fs::write(&lvs, "LVS_INTERNAL_GW=10.200.0.254\n").unwrap();
    ClusterConfig::load(&ConfigPaths {
        clustertab,
        cvip_conf,
        lvs_routing: lvs,
        lvs_routing_required: false,
    })
    .unwrap()
    .config
}

/// A 3-node state (10.200.0.1-3) with `listening` nodes registered on TCP port 80.
pub(in crate::dataplane) fn state(routing: &str, listening: &[u64]) -> ClusterState {
    let mut state = ClusterState {
        config: config(routing),
        ..ClusterState::default()
    };
    for n in listening {
        state.listeners.insert(
            ListenerKey {
                node: NodeId(*n),
                proto: Protocol::Tcp,
                port: 80,
            },
            Registration::default(),
        );
    }
    state
}

fn local(node: u64) -> Local {
    Local {
        node: NodeId(node),
        interconnect_if: "eth0".into(),
        ipvs: true,
    }
}

fn all() -> Serving {
    nodes(&[1, 2, 3])
}

fn nodes(list: &[u64]) -> Serving {
    Serving {
        nodes: list.iter().copied().map(NodeId).collect(),
        failing_tcp: BTreeSet::new(),
    }
}

const CVIP: &str = "192.168.200.100";

fn cvip() -> IpAddr {
    CVIP.parse().unwrap()
}

#[test]
fn the_director_holds_the_cvip_on_its_garp_interface_and_balances_every_listener() {
    let s = state("DR", &[3, 1, 2]);
    let d = desired(&s, &local(1), DataPlaneRole::Director, &all());
    assert_eq!(d.announced, vec![(cvip(), "eth1".to_string())]);
    assert!(d.net.addresses.iter().all(|a| a.ifname != "lo"));
    assert_eq!(d.net.cvip_routes.len(), 1);
    let ipvs = d.ipvs.unwrap();
    let service = ipvs.table.get(&ServiceKey::tcp(cvip(), 80)).unwrap();
    assert_eq!(service.service.scheduler, Scheduler::Maglev);
    assert!(service.service.flags.contains(ServiceFlags::MH_PORT));
    let dests: Vec<(String, u32)> = service
        .destinations
        .iter()
        .map(|d| (d.addr.to_string(), d.weight))
        .collect();
    // Node order (the same Maglev table on every director), node 3's own weight.
    assert_eq!(
        dests,
        [
            ("10.200.0.1".into(), 1),
            ("10.200.0.2".into(), 1),
            ("10.200.0.3".into(), 2)
        ]
    );
    assert!(
        service
            .destinations
            .iter()
            .all(|d| d.forwarding == Forwarding::DirectRoute)
    );
    assert_eq!(ipvs.daemons.len(), 1);
    assert_eq!(ipvs.daemons[0].role, DaemonRole::Master);
}

#[test]
fn a_standby_holds_the_cvip_on_lo_and_pre_programs_the_same_table() {
    let s = state("DR", &[1, 2, 3]);
    let director = desired(&s, &local(1), DataPlaneRole::Director, &all());
    let standby = desired(&s, &local(2), DataPlaneRole::Standby, &all());
    assert!(standby.announced.is_empty());
    assert!(
        standby
            .net
            .addresses
            .iter()
            .any(|a| a.addr == cvip() && a.ifname == "lo")
    );
    let (d, s) = (director.ipvs.unwrap(), standby.ipvs.unwrap());
    assert_eq!(d.table, s.table);
    assert_eq!(s.daemons[0].role, DaemonRole::Backup);
    assert!(
        standby
            .net
            .sysctls
            .iter()
            .any(|x| x.key.ends_with("backup_only") && x.value == "1")
    );
}

#[test]
fn a_real_server_has_no_ipvs_table_and_ignores_arp_for_the_cvip() {
    let s = state("DR", &[1, 3]);
    let d = desired(&s, &local(3), DataPlaneRole::RealServer, &all());
    assert!(d.ipvs.unwrap().table.is_empty());
    assert!(
        d.net
            .sysctls
            .iter()
            .any(|x| x.key == "net/ipv4/conf/all/arp_ignore" && x.value == "1")
    );
    assert!(d.net.nat_return.is_none());
}

#[test]
fn nat_mode_floats_the_internal_gateway_and_routes_replies_through_it() {
    let s = state("NAT", &[1, 3]);
    let director = desired(&s, &local(1), DataPlaneRole::Director, &all());
    let gw: IpAddr = "10.200.0.254".parse().unwrap();
    assert!(
        director
            .net
            .addresses
            .iter()
            .any(|a| a.addr == gw && a.ifname == "eth0")
    );
    assert!(
        director
            .net
            .sysctls
            .iter()
            .any(|x| x.key == "net.ipv4.ip_forward")
    );
    let service_dests = &director
        .ipvs
        .unwrap()
        .table
        .get(&ServiceKey::tcp(cvip(), 80))
        .unwrap()
        .destinations
        .clone();
    assert!(
        service_dests
            .iter()
            .all(|d| d.forwarding == Forwarding::Masquerade)
    );
    let real = desired(&s, &local(3), DataPlaneRole::RealServer, &all());
    let ret = real.net.nat_return.unwrap();
    assert_eq!(ret.gateway, gw);
    assert_eq!(ret.source.to_string(), "10.200.0.3");
}

#[test]
fn unhealthy_nodes_leave_the_table_and_an_empty_port_has_no_service() {
    let s = state("DR", &[2, 3]);
    let d = desired(&s, &local(1), DataPlaneRole::Director, &nodes(&[1, 2]));
    let table = d.ipvs.unwrap().table;
    let dests = &table
        .get(&ServiceKey::tcp(cvip(), 80))
        .unwrap()
        .destinations;
    assert_eq!(dests.len(), 1);
    let none = desired(&s, &local(1), DataPlaneRole::Director, &nodes(&[1]));
    assert!(none.ipvs.unwrap().table.is_empty());
}

#[test]
fn without_ipvs_only_addresses_are_managed() {
    let s = state("DR", &[1]);
    let mut l = local(1);
    l.ipvs = false;
    let d = desired(&s, &l, DataPlaneRole::Director, &all());
    assert!(d.ipvs.is_none());
    assert!(d.net.sysctls.iter().all(|x| !x.key.contains("/vs/")));
}

#[test]
fn a_port_failing_the_tcp_check_leaves_only_that_port() {
    let s = state("DR", &[1, 2, 3]);
    let mut serving = all();
    serving.failing_tcp.insert((NodeId(2), 80));
    let d = desired(&s, &local(1), DataPlaneRole::Director, &serving);
    let table = d.ipvs.unwrap().table;
    let dests: Vec<String> = table
        .get(&ServiceKey::tcp(cvip(), 80))
        .unwrap()
        .destinations
        .iter()
        .map(|d| d.addr.to_string())
        .collect();
    assert_eq!(dests, ["10.200.0.1", "10.200.0.3"]);
}

#[test]
fn a_director_capable_node_directs_only_when_allowed_and_stands_by_otherwise() {
    let s = state("DR", &[1, 2, 3]);
    assert_eq!(role(&s.config, NodeId(1), true), DataPlaneRole::Director);
    assert_eq!(role(&s.config, NodeId(2), false), DataPlaneRole::Standby);
    assert_eq!(role(&s.config, NodeId(3), true), DataPlaneRole::RealServer);
    assert_eq!(role(&s.config, NodeId(3), false), DataPlaneRole::RealServer);
}

#[test]
fn only_the_director_claims_the_cvips() {
    let s = state("DR", &[1, 2, 3]);
    assert!(desired(&s, &local(1), DataPlaneRole::Director, &all()).claims_cvips());
    assert!(!desired(&s, &local(2), DataPlaneRole::Standby, &all()).claims_cvips());
    assert!(!desired(&s, &local(3), DataPlaneRole::RealServer, &all()).claims_cvips());
}

#[test]
fn every_role_owns_the_ipvs_services_of_the_configured_cvips() {
    let s = state("DR", &[1, 2, 3]);
    for (node, role) in [
        (1, DataPlaneRole::Director),
        (2, DataPlaneRole::Standby),
        (3, DataPlaneRole::RealServer),
    ] {
        let ipvs = desired(&s, &local(node), role, &all()).ipvs.unwrap();
        assert_eq!(ipvs.owned, BTreeSet::from([cvip()]), "{role}");
    }
}

#[test]
fn leaving_destinations_drain_for_the_configured_drain_ms() {
    let mut s = state("DR", &[1, 2, 3]);
    let d = desired(&s, &local(1), DataPlaneRole::Director, &all());
    assert_eq!(
        d.ipvs.unwrap().options.drain,
        Some(Duration::from_millis(30_000))
    );
    s.config.cvip_conf.health = Some(HealthCheck {
        drain_ms: 1500,
        ..HealthCheck::default()
    });
    let d = desired(&s, &local(2), DataPlaneRole::Standby, &all());
    assert_eq!(
        d.ipvs.unwrap().options.drain,
        Some(Duration::from_millis(1500))
    );
}

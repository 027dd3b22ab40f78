//! Each command on the `conf/dr` example: what an operator asks, what the state then holds, and
//! the reason given when it is refused (with the state untouched).
#![allow(clippy::unwrap_used)]

mod common;

use common::{apply, dr_config, dr_state, problems, summary};
use ssinet_api::{ClusterState, Command, Listener, ListenerKey};
use ssinet_config::{DirectorNode, NodeId, PortWeight, Protocol};

/// `cvipctl cvip add IP`: no gateway, the cluster's directors, no real servers.
fn add_cvip(ip: &str) -> Command {
    Command::AddCvip {
        ip: ip.parse().unwrap(),
        gateway: None,
        directors: None,
        real_servers: vec![],
    }
}

fn port_weight(
    proto: Protocol,
    start: u16,
    end: u16,
    weight: u32,
    node: Option<u64>,
) -> PortWeight {
    PortWeight {
        proto,
        start_port: start,
        end_port: end,
        weight,
        node: node.map(NodeId),
    }
}

/// Applies `command`, expects a rejection that leaves the state as it was, returns the problems.
fn refused(state: &mut ClusterState, command: Command) -> Vec<String> {
    let before = state.clone();
    let problems = problems(apply(state, command));
    assert_eq!(*state, before, "a rejected command changed the state");
    assert!(!problems.is_empty());
    problems
}

#[test]
fn bootstrap_seeds_an_empty_state_only() {
    let mut state = ClusterState::default();
    assert!(state.is_empty());
    let text = summary(apply(&mut state, Command::Bootstrap(dr_config())));
    assert_eq!(
        text,
        "bootstrapped: 3 nodes, 1 CVIP, 4 port-weight ranges, routing DR"
    );
    assert_eq!(state.config, dr_config());

    let mut other = dr_config();
    other.cvip_conf.cvips[0].ip = "192.168.200.99".parse().unwrap();
    let problems = refused(&mut state, Command::Bootstrap(other));
    assert!(problems[0].contains("already initialized"), "{problems:?}");
}

#[test]
fn an_invalid_bootstrap_leaves_the_state_empty() {
    let mut state = ClusterState::default();
    let mut config = dr_config();
    config.cvip_conf.cvips.clear();
    let problems = refused(&mut state, Command::Bootstrap(config));
    assert_eq!(
        problems,
        [
            "<cvips>: no <cvip> defined (expected at least one <cvip> with an <ip_addr> and a \
          <director_node>)"
        ]
    );
    assert!(state.is_empty());
}

#[test]
fn commands_other_than_seeding_need_a_seeded_state() {
    let mut state = ClusterState::default();
    let problems = refused(
        &mut state,
        Command::DelCvip {
            ip: "192.168.200.10".parse().unwrap(),
        },
    );
    assert!(
        problems[0].contains("the cluster state is empty"),
        "{problems:?}"
    );
    // `config apply` may seed it, like a bootstrap.
    summary(apply(&mut state, Command::ApplyConfig(dr_config())));
    assert_eq!(state.config, dr_config());
}

#[test]
fn a_cvip_added_without_directors_gets_the_shared_ones() {
    let mut state = dr_state();
    let text = summary(apply(
        &mut state,
        Command::AddCvip {
            ip: "192.168.200.11".parse().unwrap(),
            gateway: None,
            directors: None,
            real_servers: vec![NodeId(3)],
        },
    ));
    assert_eq!(text, "added CVIP 192.168.200.11");
    let cvips = &state.config.cvip_conf.cvips;
    assert_eq!(cvips.len(), 2);
    assert_eq!(cvips[1].directors, cvips[0].directors);
    assert_eq!(cvips[1].real_servers, [NodeId(3)]);
    state.config.validate().unwrap();
}

#[test]
fn a_cvip_equal_to_a_node_address_is_refused() {
    let mut state = dr_state();
    let problems = refused(&mut state, add_cvip("10.0.0.2"));
    assert_eq!(
        problems,
        [
            "<cvip>/<ip_addr>: CVIP 10.0.0.2 is the interconnect address of node 2 in \
          /etc/clustertab (expected an address no node uses as its own)"
        ]
    );
}

#[test]
fn a_cvip_equal_to_its_gateway_is_refused() {
    let mut state = dr_state();
    let problems = refused(
        &mut state,
        Command::AddCvip {
            ip: "192.168.200.1".parse().unwrap(),
            gateway: Some("192.168.200.1".parse().unwrap()),
            directors: None,
            real_servers: vec![],
        },
    );
    assert_eq!(
        problems,
        [
            "<cvip>/<ip_addr>: CVIP 192.168.200.1 is also its own <gateway> (expected a \
             <gateway> that is another host: the router the CVIP's replies go through)"
        ]
    );
}

#[test]
fn a_loopback_cvip_is_refused() {
    let mut state = dr_state();
    let problems = refused(&mut state, add_cvip("127.0.0.1"));
    assert_eq!(
        problems,
        [
            "<cvip>/<ip_addr>: CVIP 127.0.0.1 is a loopback address (127.0.0.0/8 or ::1) \
             (expected a unicast address clients can reach: not unspecified (0.0.0.0, ::), \
             loopback, multicast, link-local or 255.255.255.255)"
        ]
    );
}

#[test]
fn a_duplicate_cvip_and_unshared_directors_are_refused() {
    let mut state = dr_state();
    let problems = refused(&mut state, add_cvip("192.168.200.10"));
    assert!(problems[0].contains("is already defined"), "{problems:?}");
    let problems = refused(
        &mut state,
        Command::AddCvip {
            ip: "192.168.200.12".parse().unwrap(),
            gateway: None,
            directors: Some(vec![DirectorNode {
                node: NodeId(1),
                garp_interface: "eth1".into(),
                sync_interface: None,
            }]),
            real_servers: vec![],
        },
    );
    assert!(
        problems.iter().any(|p| p.contains("director")),
        "{problems:?}"
    );
}

#[test]
fn deleting_cvips_down_to_none_is_refused() {
    let mut state = dr_state();
    let problems = refused(
        &mut state,
        Command::DelCvip {
            ip: "192.168.200.77".parse().unwrap(),
        },
    );
    assert_eq!(
        problems,
        ["<cvip>/<ip_addr>: there is no CVIP 192.168.200.77 (expected one of: 192.168.200.10)"]
    );
    let problems = refused(
        &mut state,
        Command::DelCvip {
            ip: "192.168.200.10".parse().unwrap(),
        },
    );
    assert!(problems[0].contains("no <cvip> defined"), "{problems:?}");
}

#[test]
fn directors_are_added_to_and_removed_from_every_cvip() {
    let mut state = dr_state();
    summary(apply(&mut state, add_cvip("192.168.200.11")));
    let text = summary(apply(
        &mut state,
        Command::AddDirector {
            node: NodeId(3),
            garp_interface: "eth1".into(),
            sync_interface: Some("eth0".into()),
        },
    ));
    assert_eq!(text, "added director node 3 (external interface eth1)");
    for cvip in &state.config.cvip_conf.cvips {
        assert!(cvip.directors.iter().any(|d| d.node == NodeId(3)));
    }
    let problems = refused(
        &mut state,
        Command::AddDirector {
            node: NodeId(3),
            garp_interface: "eth2".into(),
            sync_interface: None,
        },
    );
    assert!(problems[0].contains("already a director"), "{problems:?}");

    summary(apply(&mut state, Command::DelDirector { node: NodeId(1) }));
    summary(apply(&mut state, Command::DelDirector { node: NodeId(2) }));
    assert_eq!(
        state
            .config
            .director_nodes()
            .into_iter()
            .collect::<Vec<_>>(),
        [NodeId(3)]
    );
    let problems = refused(&mut state, Command::DelDirector { node: NodeId(3) });
    assert!(
        problems
            .iter()
            .all(|p| p.contains("has no <director_node>")),
        "{problems:?}"
    );
    let problems = refused(&mut state, Command::DelDirector { node: NodeId(1) });
    assert_eq!(
        problems,
        ["<director_node>/<node_num>: node 1 is not a director (expected one of: 3)"]
    );
}

#[test]
fn a_director_must_be_a_known_node_with_a_valid_interface() {
    let mut state = dr_state();
    let problems = refused(
        &mut state,
        Command::AddDirector {
            node: NodeId(9),
            garp_interface: "eth1".into(),
            sync_interface: None,
        },
    );
    assert_eq!(
        problems,
        [
            "<cvip>/<director_node>/<node_num>: node 9 is not in /etc/clustertab (expected one \
          of: 1, 2, 3)"
        ]
    );
    let problems = refused(
        &mut state,
        Command::AddDirector {
            node: NodeId(3),
            garp_interface: "eth 1".into(),
            sync_interface: None,
        },
    );
    assert!(problems[0].contains("interface name"), "{problems:?}");
}

#[test]
fn set_port_weight_adds_or_replaces_and_refuses_overlaps() {
    let mut state = dr_state();
    let text = summary(apply(
        &mut state,
        Command::SetPortWeight(port_weight(Protocol::Tcp, 80, 80, 5, None)),
    ));
    assert_eq!(text, "set tcp ports 80-80 to weight 5 (was 1)");
    assert_eq!(
        state.config.weight_for(NodeId(1), Protocol::Tcp, 80),
        Some(5)
    );
    let text = summary(apply(
        &mut state,
        Command::SetPortWeight(port_weight(Protocol::Tcp, 8000, 8099, 1, None)),
    ));
    assert_eq!(text, "added tcp ports 8000-8099 with weight 1");

    let problems = refused(
        &mut state,
        Command::SetPortWeight(port_weight(Protocol::Tcp, 8050, 8150, 1, None)),
    );
    assert_eq!(
        problems,
        [
            "<port_weight>: tcp ports 8050-8150 overlap tcp ports 8000-8099 (both are default \
          ranges) (expected port ranges that do not overlap, per protocol)"
        ]
    );
    // The same ports for UDP, or as one node's override, do not overlap the TCP default range.
    summary(apply(
        &mut state,
        Command::SetPortWeight(port_weight(Protocol::Udp, 8050, 8150, 1, None)),
    ));
    summary(apply(
        &mut state,
        Command::SetPortWeight(port_weight(Protocol::Tcp, 8050, 8060, 3, Some(2))),
    ));
    let problems = refused(
        &mut state,
        Command::SetPortWeight(port_weight(Protocol::Tcp, 100, 90, 1, Some(7))),
    );
    assert_eq!(problems.len(), 2, "{problems:?}");
    assert!(problems[0].contains("start port 100 is above end port 90"));
    assert!(problems[1].contains("node 7 is not in /etc/clustertab"));
}

#[test]
fn deleting_a_range_drops_the_listeners_it_held() {
    let mut state = dr_state();
    for node in [1, 3] {
        summary(apply(
            &mut state,
            Command::RegisterListener {
                node: NodeId(node),
                proto: Protocol::Udp,
                port: 5061,
            },
        ));
    }
    summary(apply(
        &mut state,
        Command::RegisterListener {
            node: NodeId(2),
            proto: Protocol::Tcp,
            port: 443,
        },
    ));
    let text = summary(apply(
        &mut state,
        Command::DelPortWeight {
            proto: Protocol::Udp,
            start_port: 5060,
            end_port: 5061,
            node: None,
        },
    ));
    assert_eq!(
        text,
        "deleted udp ports 5060-5061; dropped 2 listener registrations that no longer fit"
    );
    assert_eq!(
        state.listeners.keys().copied().collect::<Vec<_>>(),
        [ListenerKey {
            node: NodeId(2),
            proto: Protocol::Tcp,
            port: 443
        }]
    );
    let problems = refused(
        &mut state,
        Command::DelPortWeight {
            proto: Protocol::Udp,
            start_port: 5060,
            end_port: 5061,
            node: None,
        },
    );
    assert!(
        problems[0].starts_with(
            "<port_weight>: there is no udp ports 5060-5061 (expected one of: tcp ports 80-80;"
        ),
        "{problems:?}"
    );
}

#[test]
fn listeners_register_only_on_balanced_ports_of_known_nodes() {
    let mut state = dr_state();
    let register = |node, port| Command::RegisterListener {
        node: NodeId(node),
        proto: Protocol::Tcp,
        port,
    };
    assert_eq!(
        summary(apply(&mut state, register(3, 80))),
        "registered listener tcp/80 on node 3"
    );
    assert_eq!(
        summary(apply(&mut state, register(3, 80))),
        "listener tcp/80 on node 3 was already registered"
    );
    let problems = refused(&mut state, register(3, 8080));
    assert_eq!(
        problems,
        [
            "listener: tcp/8080 on node 3 is not inside any port-weight range (expected a port set \
          with `cvipctl port-weight set`)"
        ]
    );
    let problems = refused(&mut state, register(4, 80));
    assert_eq!(
        problems,
        ["listener: node 4 is not in clustertab (expected one of: 1, 2, 3)"]
    );
    let unregister = Command::UnregisterListener {
        node: NodeId(3),
        proto: Protocol::Tcp,
        port: 80,
    };
    assert_eq!(
        summary(apply(&mut state, unregister.clone())),
        "unregistered listener tcp/80 on node 3"
    );
    assert_eq!(
        summary(apply(&mut state, unregister)),
        "listener tcp/80 on node 3 was not registered"
    );
    assert!(state.listeners.is_empty());
}

#[test]
fn replace_listeners_resyncs_one_node_as_a_whole() {
    let mut state = dr_state();
    let listener = |proto, port| Listener { proto, port };
    summary(apply(
        &mut state,
        Command::RegisterListener {
            node: NodeId(1),
            proto: Protocol::Tcp,
            port: 80,
        },
    ));
    let text = summary(apply(
        &mut state,
        Command::ReplaceListeners {
            node: NodeId(2),
            set: vec![listener(Protocol::Tcp, 443), listener(Protocol::Udp, 5060)],
        },
    ));
    assert_eq!(text, "node 2 now has 2 registered listeners");
    summary(apply(
        &mut state,
        Command::ReplaceListeners {
            node: NodeId(2),
            set: vec![listener(Protocol::Tcp, 80)],
        },
    ));
    let keys: Vec<(u64, u16)> = state.listeners.keys().map(|k| (k.node.0, k.port)).collect();
    assert_eq!(keys, [(1, 80), (2, 80)]);
    let problems = refused(
        &mut state,
        Command::ReplaceListeners {
            node: NodeId(2),
            set: vec![listener(Protocol::Tcp, 443), listener(Protocol::Tcp, 22)],
        },
    );
    assert_eq!(problems.len(), 1);
    assert!(problems[0].contains("tcp/22 on node 2"), "{problems:?}");
}

#[test]
fn apply_config_replaces_everything_and_drops_unfit_listeners() {
    let mut state = dr_state();
    summary(apply(
        &mut state,
        Command::ReplaceListeners {
            node: NodeId(3),
            set: vec![
                Listener {
                    proto: Protocol::Tcp,
                    port: 80,
                },
                Listener {
                    proto: Protocol::Tcp,
                    port: 443,
                },
            ],
        },
    ));
    let mut config = dr_config();
    config.clustertab.nodes.retain(|n| n.num != NodeId(3));
    config.cvip_conf.cvips[0]
        .real_servers
        .retain(|n| *n != NodeId(3));
    config.cvip_conf.port_weights.retain(|w| w.node.is_none());
    let text = summary(apply(&mut state, Command::ApplyConfig(config.clone())));
    assert_eq!(
        text,
        "applied configuration: 2 nodes, 1 CVIP, 3 port-weight ranges, routing DR; dropped 2 \
         listener registrations that no longer fit"
    );
    assert_eq!(state.config, config);
    assert!(state.listeners.is_empty());

    let mut broken = config.clone();
    broken.clustertab.nodes[1].ip = broken.clustertab.nodes[0].ip;
    let problems = refused(&mut state, Command::ApplyConfig(broken));
    assert_eq!(
        problems,
        [
            "interconnect IP: IP 10.0.0.1 is already used by node 1 (expected a unique \
          interconnect IP per node)"
        ]
    );
}

#[test]
fn scheduler_persistence_and_health_are_set_per_cvip_or_globally() {
    use ssinet_config::{HealthCheck, Persistence, Scheduler, SchedulerFlag, SchedulerName};

    let mut state = dr_state();
    let cvip: std::net::IpAddr = "192.168.200.10".parse().unwrap();
    let sh = Scheduler {
        name: SchedulerName::Sh,
        flags: vec![SchedulerFlag::ShPort],
    };
    let text = summary(apply(
        &mut state,
        Command::SetScheduler {
            cvip: Some(cvip),
            scheduler: Some(sh.clone()),
        },
    ));
    assert_eq!(text, "scheduler of CVIP 192.168.200.10 set to sh (sh-port)");
    assert_eq!(
        state
            .config
            .cvip_conf
            .scheduler_for(&state.config.cvip_conf.cvips[0]),
        sh
    );
    let problems = refused(
        &mut state,
        Command::SetScheduler {
            cvip: None,
            scheduler: Some(Scheduler {
                name: SchedulerName::Wlc,
                flags: vec![SchedulerFlag::MhPort],
            }),
        },
    );
    assert_eq!(
        problems,
        [
            "<scheduler_flag>: flag mh-port belongs to the mh scheduler, not wlc (expected no \
          <scheduler_flag> with scheduler wlc)"
        ]
    );
    let text = summary(apply(
        &mut state,
        Command::SetScheduler {
            cvip: Some(cvip),
            scheduler: None,
        },
    ));
    assert_eq!(text, "scheduler of CVIP 192.168.200.10 cleared");

    let text = summary(apply(
        &mut state,
        Command::SetPersistence {
            cvip: None,
            persistence: Some(Persistence {
                timeout_secs: 300,
                netmask_prefix: Some(24),
            }),
        },
    ));
    assert_eq!(text, "persistence of the cluster set to 300 s per /24");
    let problems = refused(
        &mut state,
        Command::SetPersistence {
            cvip: Some("192.168.200.99".parse().unwrap()),
            persistence: None,
        },
    );
    assert!(
        problems[0].contains("there is no CVIP 192.168.200.99"),
        "{problems:?}"
    );

    let mut health = HealthCheck {
        timeout_ms: 2000,
        ..HealthCheck::default()
    };
    let problems = refused(&mut state, Command::SetHealthCheck(health.clone()));
    assert_eq!(
        problems,
        [
            "<health_check>/<timeout_ms>: timeout 2000 ms is longer than the interval 1000 ms \
          (expected a timeout no longer than <interval_ms>)"
        ]
    );
    health.timeout_ms = 300;
    let text = summary(apply(&mut state, Command::SetHealthCheck(health)));
    assert_eq!(
        text,
        "health check every 1000 ms (timeout 300 ms), drain after 3 failures for 30000 ms, TCP \
         check off"
    );
}

//! Properties of `apply` over random command sequences on the `conf/dr` example, invalid
//! commands included: the same log gives the same state and answers (also after the JSON round
//! trip every log entry makes), a rejection changes nothing, and the state always validates.
#![allow(clippy::unwrap_used)]

mod common;

use std::net::IpAddr;

use common::{dr_config, dr_state};
use proptest::prelude::*;
use ssinet_api::{ClusterApp, ClusterState, Command, Listener, Response};
use ssinet_config::{
    ClusterConfig, DirectorNode, HealthCheck, NodeId, Persistence, PortWeight, Protocol, Scheduler,
    SchedulerFlag, SchedulerName,
};

fn node() -> impl Strategy<Value = NodeId> {
    (1u32..=4).prop_map(|n| NodeId(u64::from(n)))
}

fn proto() -> impl Strategy<Value = Protocol> {
    prop_oneof![Just(Protocol::Tcp), Just(Protocol::Udp)]
}

/// Balanced ports, ports next to them, unbalanced ones and the invalid 0.
fn port() -> impl Strategy<Value = u16> {
    prop_oneof![
        Just(0u16),
        Just(79),
        Just(80),
        Just(443),
        Just(5060),
        Just(5061),
        Just(8080),
        1u16..=65535
    ]
}

/// CVIP candidates: free addresses, the example's CVIP and gateway, a node's address, an IPv6
/// one, and addresses no CVIP or gateway may be.
fn ip() -> impl Strategy<Value = IpAddr> {
    prop_oneof![
        Just("192.168.200.10"),
        Just("192.168.200.11"),
        Just("192.168.200.12"),
        Just("192.168.200.1"),
        Just("10.0.0.1"),
        Just("fd00::10"),
        Just("127.0.0.1"),
        Just("fe80::1"),
    ]
    .prop_map(|s| s.parse().unwrap())
}

fn interface() -> impl Strategy<Value = String> {
    prop_oneof![Just("eth1"), Just("eth0"), Just(""), Just("bad name")].prop_map(String::from)
}

fn director() -> impl Strategy<Value = DirectorNode> {
    (node(), interface(), proptest::option::of(interface())).prop_map(
        |(node, garp_interface, sync_interface)| DirectorNode {
            node,
            garp_interface,
            sync_interface,
        },
    )
}

fn port_weight() -> impl Strategy<Value = PortWeight> {
    (
        proto(),
        port(),
        0u16..20,
        prop_oneof![Just(0u32), Just(1), Just(2), Just(u32::MAX)],
        proptest::option::of(node()),
    )
        .prop_map(|(proto, start_port, span, weight, node)| PortWeight {
            proto,
            start_port,
            end_port: start_port.saturating_add(span),
            weight,
            node,
        })
}

/// Schedulers with flags that fit them or not.
fn scheduler() -> impl Strategy<Value = Scheduler> {
    let name = prop_oneof![
        Just(SchedulerName::Mh),
        Just(SchedulerName::Sh),
        Just(SchedulerName::Wlc)
    ];
    let flag = prop_oneof![
        Just(SchedulerFlag::MhPort),
        Just(SchedulerFlag::ShPort),
        Just(SchedulerFlag::MhFallback)
    ];
    (name, proptest::collection::vec(flag, 0..3))
        .prop_map(|(name, flags)| Scheduler { name, flags })
}

fn persistence() -> impl Strategy<Value = Persistence> {
    (
        prop_oneof![Just(0u32), Just(300)],
        proptest::option::of(prop_oneof![Just(24u8), Just(64)]),
    )
        .prop_map(|(timeout_secs, netmask_prefix)| Persistence {
            timeout_secs,
            netmask_prefix,
        })
}

fn health() -> impl Strategy<Value = HealthCheck> {
    (
        prop_oneof![Just(0u32), Just(200), Just(1000)],
        prop_oneof![Just(0u32), Just(500)],
        prop_oneof![Just(0u32), Just(3)],
        any::<bool>(),
    )
        .prop_map(
            |(interval_ms, timeout_ms, failures_before_drain, tcp_check)| HealthCheck {
                interval_ms,
                timeout_ms,
                failures_before_drain,
                drain_ms: 30_000,
                tcp_check,
            },
        )
}

/// The example itself, or one changed in a way that is valid or not.
fn config() -> impl Strategy<Value = ClusterConfig> {
    (0u8..4).prop_map(|variant| {
        let mut config = dr_config();
        match variant {
            0 => {}
            1 => config.cvip_conf.port_weights.truncate(1),
            2 => config.cvip_conf.cvips.clear(),
            _ => config.clustertab.nodes.retain(|n| n.num != NodeId(3)),
        }
        config
    })
}

fn command() -> impl Strategy<Value = Command> {
    prop_oneof![
        config().prop_map(Command::Bootstrap),
        config().prop_map(Command::ApplyConfig),
        (
            ip(),
            proptest::option::of(ip()),
            proptest::option::of(proptest::collection::vec(director(), 0..3)),
            proptest::collection::vec(node(), 0..3)
        )
            .prop_map(|(ip, gateway, directors, real_servers)| Command::AddCvip {
                ip,
                gateway,
                directors,
                real_servers
            }),
        ip().prop_map(|ip| Command::DelCvip { ip }),
        director().prop_map(|d| Command::AddDirector {
            node: d.node,
            garp_interface: d.garp_interface,
            sync_interface: d.sync_interface
        }),
        node().prop_map(|node| Command::DelDirector { node }),
        port_weight().prop_map(Command::SetPortWeight),
        port_weight().prop_map(|w| Command::DelPortWeight {
            proto: w.proto,
            start_port: w.start_port,
            end_port: w.end_port,
            node: w.node
        }),
        (
            proptest::option::of(ip()),
            proptest::option::of(scheduler())
        )
            .prop_map(|(cvip, scheduler)| Command::SetScheduler { cvip, scheduler }),
        (
            proptest::option::of(ip()),
            proptest::option::of(persistence())
        )
            .prop_map(|(cvip, persistence)| Command::SetPersistence { cvip, persistence }),
        health().prop_map(Command::SetHealthCheck),
        (node(), proto(), port()).prop_map(|(node, proto, port)| Command::RegisterListener {
            node,
            proto,
            port
        }),
        (node(), proto(), port()).prop_map(|(node, proto, port)| Command::UnregisterListener {
            node,
            proto,
            port
        }),
        (
            node(),
            proptest::collection::vec(
                (proto(), port()).prop_map(|(proto, port)| Listener { proto, port }),
                0..4
            )
        )
            .prop_map(|(node, set)| Command::ReplaceListeners { node, set }),
    ]
}

/// Every registration fits the configuration: known node, port inside a weighted range.
fn listeners_fit(state: &ClusterState) -> bool {
    state.listeners.keys().all(|k| {
        state.config.node(k.node).is_some()
            && state.config.weight_for(k.node, k.proto, k.port).is_some()
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn apply_keeps_the_state_valid_and_rejections_change_nothing(
        commands in proptest::collection::vec(command(), 1..40)
    ) {
        let mut state = dr_state();
        for command in &commands {
            let before = state.clone();
            let response = ClusterApp::apply(&mut state, command);
            match &response {
                Response::Rejected { problems } => {
                    prop_assert_eq!(&state, &before, "rejected {:?} changed the state", command);
                    prop_assert!(!problems.is_empty());
                }
                Response::Applied { summary } => prop_assert!(!summary.is_empty()),
            }
            prop_assert!(state.config.validate().is_ok(), "{:?} left an invalid state", command);
            prop_assert!(listeners_fit(&state), "{:?} left an unfit listener", command);
            if matches!(command, Command::Bootstrap(_)) {
                prop_assert!(!response.is_applied(), "bootstrap applied on a seeded state");
            }
        }
    }

    #[test]
    fn the_same_log_gives_the_same_state_and_answers_on_every_node(
        commands in proptest::collection::vec(command(), 1..40)
    ) {
        // Node A applies the commands as written; node B as they arrive over the wire (JSON).
        let (mut a, mut b) = (dr_state(), dr_state());
        for command in &commands {
            let wire = serde_json::to_string(command).unwrap();
            let received: Command = serde_json::from_str(&wire).unwrap();
            prop_assert_eq!(&received, command);
            let answer_a = ClusterApp::apply(&mut a, command);
            let answer_b = ClusterApp::apply(&mut b, &received);
            prop_assert_eq!(answer_a, answer_b);
            prop_assert_eq!(&a, &b);
        }
        // A snapshot (the state as JSON) restores the same state.
        let snapshot = serde_json::to_vec(&a).unwrap();
        let restored: ClusterState = serde_json::from_slice(&snapshot).unwrap();
        prop_assert_eq!(restored, a);
    }

    #[test]
    fn bootstrap_applies_only_to_an_empty_state_and_only_when_valid(config in config()) {
        let mut state = ClusterState::default();
        let valid = config.validate().is_ok();
        let response = ClusterApp::apply(&mut state, &Command::Bootstrap(config.clone()));
        prop_assert_eq!(response.is_applied(), valid);
        if valid {
            prop_assert_eq!(&state.config, &config);
        } else {
            prop_assert!(state.is_empty());
        }
    }

    #[test]
    fn an_empty_state_accepts_only_seeding_commands(command in command()) {
        let mut state = ClusterState::default();
        let response = ClusterApp::apply(&mut state, &command);
        if !matches!(command, Command::Bootstrap(_) | Command::ApplyConfig(_)) {
            prop_assert!(!response.is_applied());
            prop_assert!(state.is_empty());
        }
    }
}

/// Guards the properties above against a generator that only produces rejections: over a fixed
/// sample every kind of command is both applied and rejected at least once.
#[test]
fn the_generated_commands_are_both_applied_and_rejected_for_every_kind() {
    use std::collections::BTreeMap;

    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;

    let mut runner = TestRunner::deterministic();
    let strategy = command();
    let mut outcomes: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    let mut state = dr_state();
    let mut bootstraps = 0;
    for _ in 0..5000 {
        let command = strategy.new_tree(&mut runner).unwrap().current();
        // Bootstrap applies only to an empty state: every other one goes to a fresh state.
        let fresh = matches!(command, Command::Bootstrap(_)) && {
            bootstraps += 1;
            bootstraps % 2 == 0
        };
        let response = if fresh {
            ClusterApp::apply(&mut ClusterState::default(), &command)
        } else {
            ClusterApp::apply(&mut state, &command)
        };
        let entry = outcomes.entry(command.name()).or_default();
        if response.is_applied() {
            entry.0 += 1;
        } else {
            entry.1 += 1;
        }
    }
    assert_eq!(outcomes.len(), 14, "{outcomes:?}");
    for (name, (applied, rejected)) in &outcomes {
        assert!(
            *applied > 0 && *rejected > 0,
            "{name}: {applied} applied, {rejected} rejected"
        );
    }
}

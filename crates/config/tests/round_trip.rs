//! Serializing a model and parsing the text again gives the same model, for each file.
#![allow(clippy::unwrap_used)]

use std::net::IpAddr;

use proptest::collection::vec;
use proptest::option;
use proptest::prelude::*;
use ssinet_config::{
    BootProtocol, Clustertab, Cvip, CvipConf, DirectorNode, HealthCheck, LvsRouting, MacAddr, Node,
    NodeId, Persistence, PortWeight, Protocol, Routing, Scheduler, SchedulerFlag, SchedulerName,
    parse_clustertab, parse_cvip_conf, parse_lvs_routing, to_clustertab_string,
    to_cvip_conf_string, to_lvs_routing_string,
};

fn node_num() -> impl Strategy<Value = NodeId> {
    any::<u32>().prop_map(|n| NodeId(u64::from(n)))
}

fn node() -> impl Strategy<Value = Node> {
    (
        node_num(),
        any::<IpAddr>(),
        any::<[u8; 6]>(),
        prop_oneof![Just(BootProtocol::Etherboot), Just(BootProtocol::Pxe)],
        any::<bool>(),
        // Anything a clustertab field can hold: no whitespace, no `#`.
        option::of("[!-\"$-~é]{1,20}"),
    )
        .prop_map(|(num, ip, mac, boot, init_capable, boot_device)| Node {
            num,
            ip,
            mac: MacAddr(mac),
            boot,
            init_capable,
            boot_device,
        })
}

fn routing() -> impl Strategy<Value = Routing> {
    prop_oneof![Just(Routing::Dr), Just(Routing::Nat)]
}

/// Interface names with the characters XML must escape, never with whitespace (trimmed).
fn interface() -> impl Strategy<Value = String> {
    "[a-z0-9._<>&'\"-]{1,15}"
}

fn scheduler() -> impl Strategy<Value = Scheduler> {
    (
        proptest::sample::select(SchedulerName::ALL.to_vec()),
        vec(proptest::sample::select(SchedulerFlag::ALL.to_vec()), 0..3),
    )
        .prop_map(|(name, flags)| Scheduler { name, flags })
}

fn persistence() -> impl Strategy<Value = Persistence> {
    (any::<u32>(), option::of(0u8..=128)).prop_map(|(timeout_secs, netmask_prefix)| Persistence {
        timeout_secs,
        netmask_prefix,
    })
}

fn cvip() -> impl Strategy<Value = Cvip> {
    let director = (node_num(), interface(), option::of(interface())).prop_map(
        |(node, garp_interface, sync_interface)| DirectorNode {
            node,
            garp_interface,
            sync_interface,
        },
    );
    (
        any::<IpAddr>(),
        option::of(any::<IpAddr>()),
        vec(director, 0..3),
        vec(node_num(), 0..4),
        option::of(scheduler()),
        option::of(persistence()),
    )
        .prop_map(
            |(ip, gateway, directors, real_servers, scheduler, persistence)| Cvip {
                ip,
                gateway,
                directors,
                real_servers,
                scheduler,
                persistence,
            },
        )
}

fn port_weight() -> impl Strategy<Value = PortWeight> {
    (
        prop_oneof![Just(Protocol::Tcp), Just(Protocol::Udp)],
        any::<u16>(),
        any::<u16>(),
        any::<u32>(),
        option::of(node_num()),
    )
        .prop_map(|(proto, start_port, end_port, weight, node)| PortWeight {
            proto,
            start_port,
            end_port,
            weight,
            node,
        })
}

fn health() -> impl Strategy<Value = HealthCheck> {
    (
        any::<u32>(),
        any::<u32>(),
        any::<u32>(),
        any::<u32>(),
        any::<bool>(),
    )
        .prop_map(
            |(interval_ms, timeout_ms, failures_before_drain, drain_ms, tcp_check)| HealthCheck {
                interval_ms,
                timeout_ms,
                failures_before_drain,
                drain_ms,
                tcp_check,
            },
        )
}

fn cvip_conf() -> impl Strategy<Value = CvipConf> {
    (
        option::of(routing()),
        vec(cvip(), 0..4),
        vec(port_weight(), 0..4),
        option::of(scheduler()),
        option::of(persistence()),
        option::of(health()),
    )
        .prop_map(
            |(routing, cvips, port_weights, scheduler, persistence, health)| CvipConf {
                routing,
                cvips,
                port_weights,
                scheduler,
                persistence,
                health,
            },
        )
}

proptest! {
    #[test]
    fn clustertab_round_trips(nodes in vec(node(), 0..8)) {
        let tab = Clustertab { nodes };
        let text = to_clustertab_string(&tab);
        prop_assert_eq!(parse_clustertab(&text, "ct").unwrap(), tab);
    }

    #[test]
    fn cvip_conf_round_trips(conf in cvip_conf()) {
        let text = to_cvip_conf_string(&conf);
        let parsed = parse_cvip_conf(&text, "cv");
        prop_assert!(parsed.is_ok(), "{}\n{}", text, parsed.unwrap_err());
        prop_assert_eq!(parsed.unwrap(), conf);
    }

    #[test]
    fn lvs_routing_round_trips(routing in option::of(routing()), internal_gw in option::of(any::<IpAddr>())) {
        let value = LvsRouting { routing, internal_gw };
        let text = to_lvs_routing_string(&value);
        prop_assert_eq!(parse_lvs_routing(&text, "lvs").unwrap(), value);
    }
}

/// Found by fuzzing: control characters reach the model through character references, and must
/// be written back as references (raw `\r` would come back as `\n`; NUL is refused on input).
#[test]
fn control_characters_in_values_round_trip() {
    let text = "<cvips><cvip><ip_addr>10.0.0.9</ip_addr><director_node><node_num>1</node_num>\
                <garp_interface>a&#13;b&#x85;c\u{7}</garp_interface></director_node></cvip></cvips>";
    assert!(parse_cvip_conf(text, "cv").is_err(), "raw BEL is not XML");
    let text = text.replace('\u{7}', "");
    let conf = parse_cvip_conf(&text, "cv").unwrap();
    assert_eq!(conf.cvips[0].directors[0].garp_interface, "a\rb\u{85}c");
    assert_eq!(
        parse_cvip_conf(&to_cvip_conf_string(&conf), "cv").unwrap(),
        conf
    );
}

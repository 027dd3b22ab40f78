//! Policy routing per CVIP and the NAT return path, shown by where datagrams arrive.
#![allow(clippy::unwrap_used)]

mod common;

use std::net::IpAddr;

use common::{received, send_udp, udp_listener, with_manager};
use ssinet_netconf::{CvipRoute, NatReturnPath, NetConfig, OwnedAddress, SysctlSetting};
use ssinet_testbed::netns::{Lab, LabSpec, Netns, Routing, addressing};

/// A destination outside every lab subnet, held by each candidate gateway on its `lo`, so the
/// gateway a datagram was routed through is the one whose listener receives it.
const FAR: &str = "198.51.100.7";

fn far_listener(ns: &Netns) -> std::net::UdpSocket {
    ns.ip(&["addr", "add", &format!("{FAR}/32"), "dev", "lo"])
        .unwrap();
    udp_listener(ns, &format!("{FAR}:9999"))
}

#[test]
fn each_cvip_leaves_through_its_own_gateway_even_on_a_shared_subnet() {
    let lab = Lab::up(LabSpec {
        nodes: 1,
        directors: vec![1],
        ..LabSpec::default()
    })
    .unwrap();
    // A second router on the external subnet: 192.168.200.3.
    let router2 = Netns::new("router2").unwrap();
    lab.switch()
        .ip(&[
            "link",
            "add",
            "r2",
            "up",
            "master",
            "br-ex",
            "type",
            "veth",
            "peer",
            "name",
            "eth0",
            "netns",
            router2.name(),
        ])
        .unwrap();
    router2.link_up("eth0").unwrap();
    router2.add_address("eth0", "192.168.200.3/24").unwrap();
    let via_gateway = far_listener(lab.gateway_netns());
    let via_router2 = far_listener(&router2);

    let director = lab.node(1).netns();
    let (cvip_a, cvip_b): (IpAddr, IpAddr) = (
        "192.168.200.100".parse().unwrap(),
        "192.168.200.101".parse().unwrap(),
    );
    let desired = NetConfig {
        addresses: vec![
            OwnedAddress::host(cvip_a, "eth1"),
            OwnedAddress::host(cvip_b, "eth1"),
        ],
        cvip_routes: vec![
            CvipRoute {
                cvip: cvip_a,
                gateway: IpAddr::V4(addressing::GATEWAY),
                ifname: "eth1".into(),
            },
            CvipRoute {
                cvip: cvip_b,
                gateway: "192.168.200.3".parse().unwrap(),
                ifname: "eth1".into(),
            },
        ],
        ..NetConfig::default()
    };
    let data = tempfile::tempdir().unwrap();
    with_manager(director, data.path(), |m| {
        Box::pin(async move { m.reconcile(&desired).await.unwrap() })
    });

    let to = format!("{FAR}:9999");
    send_udp(director, cvip_a, &to, "from-a", 3);
    send_udp(director, cvip_b, &to, "from-b", 3);
    // The node's own address follows the main table's default route (the gateway).
    send_udp(
        director,
        IpAddr::V4(addressing::external_ip(1)),
        &to,
        "from-node",
        3,
    );

    let at_gateway = received(&via_gateway);
    let at_router2 = received(&via_router2);
    assert!(at_gateway.contains(&"from-a".to_string()), "{at_gateway:?}");
    assert!(
        at_gateway.contains(&"from-node".to_string()),
        "{at_gateway:?}"
    );
    assert!(
        !at_gateway.contains(&"from-b".to_string()),
        "{at_gateway:?}"
    );
    assert!(
        at_router2.iter().all(|p| p == "from-b") && !at_router2.is_empty(),
        "{at_router2:?}"
    );
}

#[test]
fn nat_replies_go_back_through_the_floating_internal_gateway() {
    let lab = Lab::up(LabSpec {
        nodes: 2,
        directors: vec![1],
        routing: Routing::Nat,
        ..LabSpec::default()
    })
    .unwrap();
    let (director, real) = (lab.node(1).netns(), lab.node(2).netns());
    let internal_gw = IpAddr::V4(addressing::INTERNAL_GATEWAY);
    let via_director = far_listener(director);
    let via_gateway = far_listener(lab.gateway_netns());

    // The director holds the internal gateway and forwards.
    let on_director = NetConfig {
        addresses: vec![OwnedAddress {
            addr: internal_gw,
            prefix_len: 32,
            ifname: "eth0".into(),
        }],
        sysctls: vec![SysctlSetting::ip_forward()],
        ..NetConfig::default()
    };
    let d1 = tempfile::tempdir().unwrap();
    with_manager(director, d1.path(), |m| {
        Box::pin(async move { m.reconcile(&on_director).await.unwrap() })
    });

    // The real server sends what IPVS NAT hands it back through that gateway.
    let rip = IpAddr::V4(addressing::interconnect_ip(2));
    let on_real = NetConfig {
        nat_return: Some(NatReturnPath {
            gateway: internal_gw,
            ifname: "eth0".into(),
            source: rip,
        }),
        ..NetConfig::default()
    };
    let d2 = tempfile::tempdir().unwrap();
    with_manager(real, d2.path(), |m| {
        Box::pin(async move { m.reconcile(&on_real).await.unwrap() })
    });

    let to = format!("{FAR}:9999");
    send_udp(real, rip, &to, "reply", 3);
    // The node's other traffic keeps its own routes (main's default via the gateway).
    send_udp(
        real,
        IpAddr::V4(addressing::external_ip(2)),
        &to,
        "other",
        3,
    );
    let at_director = received(&via_director);
    let at_gateway = received(&via_gateway);
    assert!(
        at_director.iter().all(|p| p == "reply") && !at_director.is_empty(),
        "{at_director:?}"
    );
    assert!(
        at_gateway.iter().all(|p| p == "other") && !at_gateway.is_empty(),
        "{at_gateway:?}"
    );

    // Interconnect neighbours are still reached directly, not through the gateway.
    let to_director = format!("{}:9998", addressing::interconnect_ip(1));
    let direct = udp_listener(director, &to_director);
    send_udp(real, rip, &to_director, "direct", 1);
    assert_eq!(received(&direct), ["direct"]);
    let route = real
        .ip(&[
            "route",
            "get",
            &addressing::interconnect_ip(1).to_string(),
            "from",
            &rip.to_string(),
        ])
        .unwrap();
    assert!(!route.contains(" via "), "{route}");
}

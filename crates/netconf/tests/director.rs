//! A director claiming and releasing CVIPs, the marks it leaves, and what it never touches.
#![allow(clippy::unwrap_used)]

mod common;

use std::net::IpAddr;
use std::time::Duration;

use common::{addresses, claim_cvip, has_address, snapshot, sysctl, with_manager};
use ssinet_netconf::{
    ApplyError, CvipRoute, GarpBurst, NetConfig, NetconfError, OwnedAddress, SysctlSetting,
    TABLE_RANGE,
};
use ssinet_testbed::netns::{Lab, LabSpec, addressing};

fn lab(nodes: u8) -> Lab {
    Lab::up(LabSpec {
        nodes,
        directors: vec![1],
        ..LabSpec::default()
    })
    .unwrap()
}

fn cvip() -> IpAddr {
    IpAddr::V4(addressing::CVIP)
}

fn gateway() -> IpAddr {
    IpAddr::V4(addressing::GATEWAY)
}

fn quiet() -> GarpBurst {
    GarpBurst {
        count: 1,
        interval: Duration::from_millis(10),
        ..GarpBurst::default()
    }
}

#[test]
fn claim_marks_what_it_adds_and_release_restores_the_node() {
    let lab = lab(1);
    let ns = lab.node(1).netns();
    let data = tempfile::tempdir().unwrap();
    let before = snapshot(ns);

    let applied = with_manager(ns, data.path(), |m| {
        Box::pin(async move {
            claim_cvip(m, cvip(), "eth1", Some(gateway()), quiet())
                .await
                .unwrap()
        })
    });
    assert!(applied.changed());

    // The address, with its label.
    assert!(
        addresses(ns).contains(&(
            "192.168.200.100".into(),
            32,
            "eth1".into(),
            Some("eth1:ssi".into())
        )),
        "{:?}",
        addresses(ns)
    );
    // Its own table: default via the CVIP's gateway and the connected subnet, both marked.
    let table = TABLE_RANGE.start().to_string();
    let routes = ns.ip(&["route", "show", "table", &table]).unwrap();
    assert!(
        routes.contains("default via 192.168.200.1 dev eth1 proto 83"),
        "{routes}"
    );
    assert!(
        routes.contains("192.168.200.0/24 dev eth1 proto 83 scope link"),
        "{routes}"
    );
    // The source rule.
    let rules = ns.ip(&["rule", "show"]).unwrap();
    assert!(
        rules.contains(&format!(
            "1000:\tfrom 192.168.200.100 lookup {table} proto 83"
        )),
        "{rules}"
    );

    // Claiming again (a restarted agent, a repeated controller pass) changes nothing.
    let again = with_manager(ns, data.path(), |m| {
        Box::pin(async move {
            claim_cvip(m, cvip(), "eth1", Some(gateway()), quiet())
                .await
                .unwrap()
        })
    });
    assert!(!again.changed(), "{:?}", again.steps);

    with_manager(ns, data.path(), |m| {
        Box::pin(async move { m.release_cvip(cvip()).await.unwrap() })
    });
    assert_eq!(snapshot(ns), before);
}

#[test]
fn ipv6_cvip_is_recognised_after_the_state_file_is_lost() {
    let lab = lab(1);
    let ns = lab.node(1).netns();
    ns.ip(&["addr", "add", "fd00:200::11/64", "dev", "eth1", "nodad"])
        .unwrap();
    let before = snapshot(ns);
    let data = tempfile::tempdir().unwrap();
    let cvip6: IpAddr = "fd00:200::100".parse().unwrap();
    let gw6: IpAddr = "fd00:200::1".parse().unwrap();

    with_manager(ns, data.path(), |m| {
        Box::pin(async move {
            claim_cvip(m, cvip6, "eth1", Some(gw6), quiet())
                .await
                .unwrap();
            claim_cvip(m, cvip(), "eth1", Some(gateway()), quiet())
                .await
                .unwrap();
        })
    });
    assert!(has_address(ns, "fd00:200::100"));
    let rules = ns.ip(&["-6", "rule", "show"]).unwrap();
    assert!(rules.contains("from fd00:200::100 lookup"), "{rules}");

    // A new agent with an empty data directory still knows its objects by their marks (IPv4
    // label, IPv6 address protocol, route/rule protocol) and removes all of them.
    let fresh = tempfile::tempdir().unwrap();
    let removed = with_manager(ns, fresh.path(), |m| {
        Box::pin(async move { m.reconcile(&NetConfig::default()).await.unwrap() })
    });
    assert!(removed.changed());
    assert_eq!(snapshot(ns), before);
}

#[test]
fn lookalikes_owned_by_others_are_never_touched() {
    let lab = lab(1);
    let ns = lab.node(1).netns();
    let table = TABLE_RANGE.start().to_string();
    ns.ip_batch(&format!(
        "addr add 192.168.200.101/32 dev eth1 label eth1:x\n\
         addr add 192.168.200.102/32 dev lo\n\
         addr add 192.168.200.103/32 dev eth1 label eth1:ssi2\n\
         addr add fd00:200::102/128 dev eth1 nodad\n\
         route add default via 192.168.200.1 dev eth1 table {table} proto static\n\
         route add 198.51.100.0/24 via 192.168.200.1 dev eth1 proto boot\n\
         rule add from 192.168.200.101 lookup {table} pref 1000\n\
         rule add from 192.168.200.102 lookup {table} pref 1001 proto 82\n"
    ))
    .unwrap();
    let before = snapshot(ns);
    let data = tempfile::tempdir().unwrap();

    let desired = NetConfig {
        addresses: vec![
            OwnedAddress::host(cvip(), "eth1"),
            OwnedAddress::host("fd00:200::100".parse().unwrap(), "eth1"),
        ],
        sysctls: vec![SysctlSetting::ip_forward()],
        cvip_routes: vec![CvipRoute {
            cvip: cvip(),
            gateway: gateway(),
            ifname: "eth1".into(),
        }],
        nat_return: None,
    };
    let d = desired.clone();
    with_manager(ns, data.path(), |m| {
        Box::pin(async move { m.reconcile(&d).await.unwrap() })
    });
    // Table 10000 is somebody else's: ours is the next one.
    let ours = (TABLE_RANGE.start() + 1).to_string();
    assert!(
        ns.ip(&["route", "show", "table", &ours])
            .unwrap()
            .contains("proto 83")
    );
    assert!(
        ns.ip(&["route", "show", "table", &table])
            .unwrap()
            .contains("proto static")
    );

    with_manager(ns, data.path(), |m| {
        Box::pin(async move { m.reconcile(&NetConfig::default()).await.unwrap() })
    });
    assert_eq!(snapshot(ns), before);
}

#[test]
fn bad_input_is_refused_precisely_and_changes_nothing() {
    let lab = lab(1);
    let ns = lab.node(1).netns();
    // Somebody else's address where the CVIP should go.
    ns.ip(&["addr", "add", "192.168.200.100/32", "dev", "eth1"])
        .unwrap();
    let before = snapshot(ns);
    let data = tempfile::tempdir().unwrap();

    let errors = with_manager(ns, data.path(), |m| {
        Box::pin(async move {
            let mut errors = Vec::new();
            let other: IpAddr = "192.168.200.110".parse().unwrap();
            errors.push(
                claim_cvip(m, other, "eth9", None, quiet())
                    .await
                    .unwrap_err(),
            );
            let v6_gateway: IpAddr = "fd00:200::1".parse().unwrap();
            errors.push(
                claim_cvip(m, other, "eth1", Some(v6_gateway), quiet())
                    .await
                    .unwrap_err(),
            );
            errors.push(
                claim_cvip(m, cvip(), "eth1", None, quiet())
                    .await
                    .unwrap_err(),
            );
            let ipvs = NetConfig {
                sysctls: vec![SysctlSetting::ipvs("sloppy_tcp", "1")],
                ..NetConfig::default()
            };
            errors.push(m.reconcile(&ipvs).await.unwrap_err());
            (errors, ssinet_netconf::ipvs_present())
        })
    });
    let (errors, ipvs_present) = errors;
    assert!(
        matches!(&errors[0], NetconfError::UnknownInterface { field: "addresses.ifname", ifname } if ifname == "eth9"),
        "{}",
        errors[0]
    );
    assert!(errors[0].to_string().contains("\"eth9\""), "{}", errors[0]);
    assert!(
        matches!(
            &errors[1],
            NetconfError::WrongFamily {
                field: "cvip_routes.gateway",
                ..
            }
        ),
        "{}",
        errors[1]
    );
    assert!(
        errors[1].to_string().contains("fd00:200::1"),
        "{}",
        errors[1]
    );
    assert!(
        matches!(&errors[2], NetconfError::AddressConflict { ifname, label: Some(l), .. } if ifname == "eth1" && l == "eth1"),
        "{}",
        errors[2]
    );
    assert!(
        errors[2].to_string().contains("192.168.200.100"),
        "{}",
        errors[2]
    );
    // No IPVS in this kernel: the IPVS knob is refused with a reason the caller can act on.
    assert!(!ipvs_present);
    assert!(
        matches!(&errors[3], NetconfError::IpvsNotPresent { .. }),
        "{}",
        errors[3]
    );
    assert_eq!(snapshot(ns), before);
    assert_eq!(sysctl(ns, "net/ipv4/ip_forward"), "0");
}

#[test]
fn a_stale_plan_is_refused() {
    let lab = lab(1);
    let ns = lab.node(1).netns();
    let data = tempfile::tempdir().unwrap();
    let stale = with_manager(ns, data.path(), |m| {
        Box::pin(async move {
            let desired = NetConfig {
                addresses: vec![OwnedAddress::host(cvip(), "eth1")],
                ..NetConfig::default()
            };
            let first = m.plan(&desired).await.unwrap();
            let second = m.plan(&desired).await.unwrap();
            m.apply(first).await.unwrap();
            m.apply(second).await.unwrap_err()
        })
    });
    assert!(matches!(stale, ApplyError::Stale), "{stale}");
}

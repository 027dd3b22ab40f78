//! A step failing half-way: the applied steps are undone and the node is exactly as before.
#![allow(clippy::unwrap_used)]

mod common;

use std::net::IpAddr;

use common::{block_on_in, has_address, snapshot, sysctl, with_manager};
use ssinet_netconf::{
    ApplyError, CvipRoute, Manager, NetConfig, NetconfError, OwnedAddress, Step, SysctlSetting,
};
use ssinet_testbed::netns::{Lab, LabSpec, addressing};

fn cvip(last: u8) -> IpAddr {
    format!("192.168.200.{last}").parse().unwrap()
}

fn gateway() -> IpAddr {
    IpAddr::V4(addressing::GATEWAY)
}

/// What the node held before the failing change: one CVIP with its policy routing, forwarding.
fn holding_first_cvip() -> NetConfig {
    NetConfig {
        addresses: vec![OwnedAddress::host(cvip(100), "eth1")],
        sysctls: vec![SysctlSetting::ip_forward()],
        cvip_routes: vec![CvipRoute {
            cvip: cvip(100),
            gateway: gateway(),
            ifname: "eth1".into(),
        }],
        nat_return: None,
    }
}

/// Plans `desired`, lets `sabotage` change the node, applies, and returns the failure and the
/// files left in the data directory.
fn plan_sabotage_apply(
    lab: &Lab,
    data: &std::path::Path,
    desired: NetConfig,
    sabotage: impl FnOnce() + Send,
) -> (ApplyError, Vec<String>) {
    block_on_in(lab.node(1).netns(), || async move {
        let mut m = Manager::open(data).await.unwrap();
        let plan = m.plan(&desired).await.unwrap();
        sabotage();
        let err = m.apply(plan).await.unwrap_err();
        let files = std::fs::read_dir(m.data_dir())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
            .collect();
        (err, files)
    })
}

#[test]
fn an_interface_that_vanished_rolls_back_addresses_routes_rules_and_sysctls() {
    let lab = Lab::up(LabSpec {
        nodes: 1,
        directors: vec![1],
        ..LabSpec::default()
    })
    .unwrap();
    let ns = lab.node(1).netns();
    ns.ip(&[
        "link", "add", "eth9", "up", "type", "veth", "peer", "name", "eth9p",
    ])
    .unwrap();
    let data = tempfile::tempdir().unwrap();
    let first = holding_first_cvip();
    with_manager(ns, data.path(), |m| {
        Box::pin(async move { m.reconcile(&first).await.unwrap() })
    });

    // The change: give up the first CVIP (its rule, routes and address go first), become a real
    // server for another (ARP sysctls), and add a third CVIP on eth9, which vanishes meanwhile.
    let change = NetConfig {
        addresses: vec![
            OwnedAddress::host(cvip(101), "eth1"),
            OwnedAddress::host(cvip(102), "eth9"),
        ],
        sysctls: SysctlSetting::real_server_arp(&["eth1"]),
        cvip_routes: vec![CvipRoute {
            cvip: cvip(101),
            gateway: gateway(),
            ifname: "eth1".into(),
        }],
        nat_return: None,
    };
    let mut before = String::new();
    let (err, files) = plan_sabotage_apply(&lab, data.path(), change, || {
        ns.ip(&["link", "del", "eth9"]).unwrap();
        before = snapshot(ns);
    });
    let ApplyError::Step {
        index,
        step,
        source,
        rollback_failures,
    } = &err
    else {
        panic!("{err}")
    };
    assert_eq!(
        step,
        &Step::AddAddress(OwnedAddress::host(cvip(102), "eth9")),
        "{err}"
    );
    assert_eq!(
        *index, 9,
        "rule, 2 routes, address, 4 sysctls and an address came first: {err}"
    );
    assert!(
        matches!(source, NetconfError::UnknownInterface { ifname, .. } if ifname == "eth9"),
        "{err}"
    );
    assert!(rollback_failures.is_empty(), "{err}");
    assert!(
        err.to_string()
            .contains("all applied steps were rolled back"),
        "{err}"
    );
    assert_eq!(snapshot(ns), before);
    assert_eq!(sysctl(ns, "net/ipv4/conf/all/arp_ignore"), "0");
    assert!(has_address(ns, "192.168.200.100"));
    assert!(!files.contains(&"journal.json".to_string()), "{files:?}");
}

#[test]
fn a_conflicting_address_rolls_back_and_the_other_owner_keeps_it() {
    let lab = Lab::up(LabSpec {
        nodes: 1,
        directors: vec![1],
        ..LabSpec::default()
    })
    .unwrap();
    let ns = lab.node(1).netns();
    let data = tempfile::tempdir().unwrap();
    let mut desired = holding_first_cvip();
    desired
        .sysctls
        .extend(SysctlSetting::real_server_arp(&["eth1"]));
    desired
        .addresses
        .push(OwnedAddress::host(cvip(101), "eth1"));
    let mut before = String::new();
    // Between plan and apply, somebody else adds the second CVIP's address.
    let (err, _) = plan_sabotage_apply(&lab, data.path(), desired, || {
        ns.ip(&["addr", "add", "192.168.200.101/32", "dev", "eth1"])
            .unwrap();
        before = snapshot(ns);
    });
    let ApplyError::Step {
        step,
        rollback_failures,
        ..
    } = &err
    else {
        panic!("{err}")
    };
    assert_eq!(
        step,
        &Step::AddAddress(OwnedAddress::host(cvip(101), "eth1")),
        "{err}"
    );
    assert!(err.to_string().contains("File exists"), "{err}");
    assert!(rollback_failures.is_empty(), "{err}");
    assert_eq!(snapshot(ns), before);
    assert!(
        has_address(ns, "192.168.200.101"),
        "the other owner's address was removed"
    );
    assert!(!has_address(ns, "192.168.200.100"));
}

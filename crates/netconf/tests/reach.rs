//! What the external-link monitor and the fence guard rely on, against the kernel in a lab
//! namespace: carrier as `ip link` shows it, an ARP probe the lab's gateway answers until the
//! port is cut, and the guard's withdrawal, which removes only ssinet's addresses.
#![allow(clippy::unwrap_used)]

mod common;

use std::net::IpAddr;
use std::time::Duration;

use common::{block_on_in, eventually, has_address, with_manager};
use ssinet_netconf::{GatewayProbe, LinkState, NetConfig, OwnedAddress, withdraw_addresses};
use ssinet_testbed::netns::{Lab, LabSpec, Segment, addressing};

fn one_node() -> Lab {
    Lab::up(LabSpec {
        nodes: 1,
        directors: vec![1],
        ..LabSpec::default()
    })
    .unwrap()
}

fn eth1(lab: &Lab, dir: &std::path::Path) -> LinkState {
    with_manager(lab.node(1).netns(), dir, |m| {
        Box::pin(async move { m.link_state("eth1").await.unwrap().unwrap() })
    })
}

/// Sends one probe and reports whether an answer arrived within `wait` (earlier frames are
/// drained first, so an old reply does not count).
fn probe_answered(probe: &GatewayProbe, wait: Duration) -> bool {
    let _ = probe.answered();
    probe.send().unwrap();
    eventually(wait, || probe.answered())
}

#[test]
fn carrier_follows_the_link_and_the_gateway_answers_until_the_port_is_cut() {
    let lab = one_node();
    let dir = tempfile::tempdir().unwrap();
    let link = eth1(&lab, dir.path());
    assert!(link.carrier, "{link:?}");
    let no_such = with_manager(lab.node(1).netns(), dir.path(), |m| {
        Box::pin(async move { m.link_state("eth9").await.unwrap() })
    });
    assert_eq!(no_such, None);

    let mac = link.mac.unwrap();
    let probe = lab
        .node(1)
        .netns()
        .run(move || GatewayProbe::open("eth1", link.index, mac, addressing::GATEWAY))
        .unwrap()
        .unwrap();
    assert!(
        probe_answered(&probe, Duration::from_secs(2)),
        "gateway silent"
    );

    // Carrier kept, port detached: the probe goes unanswered.
    lab.cut(1, &[Segment::External]).unwrap();
    assert!(eth1(&lab, dir.path()).carrier);
    assert!(!probe_answered(&probe, Duration::from_millis(300)));
    lab.reconnect(1, &[Segment::External]).unwrap();
    assert!(probe_answered(&probe, Duration::from_secs(2)));

    lab.carrier_down(1).unwrap();
    assert!(eventually(Duration::from_secs(2), || !eth1(
        &lab,
        dir.path()
    )
    .carrier));
    lab.carrier_up(1).unwrap();
    assert!(eventually(Duration::from_secs(2), || eth1(
        &lab,
        dir.path()
    )
    .carrier));
}

#[test]
fn withdrawal_removes_ssinets_addresses_and_nothing_else() {
    let lab = one_node();
    let ns = lab.node(1).netns();
    let dir = tempfile::tempdir().unwrap();
    let cvip: IpAddr = "192.168.200.100".parse().unwrap();
    let desired = NetConfig {
        addresses: vec![OwnedAddress::host(cvip, "eth1")],
        ..NetConfig::default()
    };
    with_manager(ns, dir.path(), |m| {
        Box::pin(async move { m.reconcile(&desired).await.unwrap() })
    });
    // Someone else's address, named in the list all the same.
    ns.ip(&["addr", "add", "192.168.200.77/32", "dev", "eth1"])
        .unwrap();
    let foreign: IpAddr = "192.168.200.77".parse().unwrap();

    let held = vec![(cvip, "eth1".to_string()), (foreign, "eth1".to_string())];
    let again = held.clone();
    let removed = block_on_in(
        ns,
        || async move { withdraw_addresses(&held).await.unwrap() },
    );
    assert_eq!(removed, vec![cvip]);
    assert!(!has_address(ns, "192.168.200.100"));
    assert!(has_address(ns, "192.168.200.77"));
    // Nothing left to withdraw: a second call changes nothing.
    let removed = block_on_in(
        ns,
        || async move { withdraw_addresses(&again).await.unwrap() },
    );
    assert!(removed.is_empty());
}

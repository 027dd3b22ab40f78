//! Announcing a CVIP (gratuitous ARP, unsolicited NA) and hiding it on real servers, observed
//! from the client's side of the external network.
#![allow(clippy::unwrap_used)]

mod common;

use std::net::IpAddr;
use std::time::Duration;

use common::{
    claim_cvip, eventually, hold_on_loopback, mac_of, release_loopback, snapshot, sysctl,
    with_manager,
};
use ssinet_netconf::{ArpForm, GarpBurst, NetConfig, OwnedAddress};
use ssinet_testbed::netns::{Lab, LabSpec, addressing};

fn burst(count: u32, arp_form: ArpForm) -> GarpBurst {
    GarpBurst {
        count,
        interval: Duration::from_millis(50),
        arp_form,
    }
}

/// The client's neighbour entry for the CVIP at three moments.
struct Seen {
    /// While node 1 holds the CVIP.
    before: Option<String>,
    /// Node 2 holds it, but has announced nothing yet.
    unannounced: Option<String>,
    /// After node 2's announcement burst.
    after: Option<String>,
}

/// Claims `cvip` on node 1, makes the client resolve it, moves it to node 2 silently, then
/// announces it from node 2 on demand.
fn move_cvip(lab: &Lab, cvip: IpAddr, form: ArpForm, ping: &[&str]) -> Seen {
    let (first, second) = (lab.node(1).netns(), lab.node(2).netns());
    let (d1, d2) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    with_manager(first, d1.path(), |m| {
        Box::pin(async move {
            claim_cvip(m, cvip, "eth1", None, burst(1, form))
                .await
                .unwrap()
        })
    });
    let target = cvip.to_string();
    let mut argv = ping.to_vec();
    argv.push(&target);
    assert!(
        lab.client().exec(&argv).unwrap().status.success(),
        "the client cannot reach {cvip}"
    );
    let before = lab.client().neighbour_mac(&target).unwrap();

    with_manager(first, d1.path(), |m| {
        Box::pin(async move { m.release_cvip(cvip).await.unwrap() })
    });
    with_manager(second, d2.path(), |m| {
        Box::pin(async move {
            claim_cvip(m, cvip, "eth1", None, burst(0, form))
                .await
                .unwrap()
        })
    });
    let unannounced = lab.client().neighbour_mac(&target).unwrap();
    with_manager(second, d2.path(), |m| {
        Box::pin(async move { m.send_garp("eth1", cvip, burst(3, form)).await.unwrap() })
    });
    let expected = mac_of(second, "eth1");
    eventually(Duration::from_secs(3), || {
        lab.client().neighbour_mac(&target).unwrap().as_deref() == Some(expected.as_str())
    });
    Seen {
        before,
        unannounced,
        after: lab.client().neighbour_mac(&target).unwrap(),
    }
}

fn assert_moved(lab: &Lab, seen: &Seen, what: &str) {
    let first = mac_of(lab.node(1).netns(), "eth1");
    let second = mac_of(lab.node(2).netns(), "eth1");
    assert_eq!(
        seen.before.as_deref(),
        Some(first.as_str()),
        "{what}: before"
    );
    assert_eq!(
        seen.unannounced.as_deref(),
        Some(first.as_str()),
        "{what}: no announcement yet"
    );
    assert_eq!(
        seen.after.as_deref(),
        Some(second.as_str()),
        "{what}: after the announcement"
    );
}

#[test]
fn gratuitous_arp_moves_the_clients_neighbour_entry_to_the_new_owner() {
    for form in [ArpForm::Request, ArpForm::Reply] {
        let lab = Lab::up(LabSpec {
            nodes: 2,
            directors: vec![1, 2],
            ..LabSpec::default()
        })
        .unwrap();
        let seen = move_cvip(
            &lab,
            IpAddr::V4(addressing::CVIP),
            form,
            &["ping", "-c1", "-W2"],
        );
        assert_moved(&lab, &seen, &format!("{form:?}"));
    }
}

#[test]
fn unsolicited_neighbour_advertisement_moves_an_ipv6_cvip() {
    let lab = Lab::up(LabSpec {
        nodes: 2,
        directors: vec![1, 2],
        ..LabSpec::default()
    })
    .unwrap();
    lab.client()
        .ip(&["addr", "add", "fd00:200::2/64", "dev", "eth0", "nodad"])
        .unwrap();
    for n in [1u8, 2] {
        let addr = format!("fd00:200::{}/64", 10 + n);
        lab.node(n)
            .netns()
            .ip(&["addr", "add", &addr, "dev", "eth1", "nodad"])
            .unwrap();
    }
    let cvip: IpAddr = "fd00:200::100".parse().unwrap();
    let seen = move_cvip(&lab, cvip, ArpForm::Request, &["ping", "-6", "-c1", "-W2"]);
    assert_moved(&lab, &seen, "IPv6");
}

/// Whether the client gets an ARP answer for the CVIP (bounded: 2 requests, 2 seconds).
fn client_gets_arp_answer(lab: &Lab) -> bool {
    let cvip = addressing::CVIP.to_string();
    let out = lab
        .client()
        .exec(&["arping", "-c", "2", "-w", "2", "-I", "eth0", &cvip])
        .unwrap();
    out.status.success()
}

#[test]
fn real_server_holding_the_cvip_on_lo_never_answers_arp_for_it() {
    let lab = Lab::up(LabSpec {
        nodes: 2,
        directors: vec![1],
        ..LabSpec::default()
    })
    .unwrap();
    let real = lab.node(2).netns();
    let cvip = IpAddr::V4(addressing::CVIP);
    let data = tempfile::tempdir().unwrap();
    let before = snapshot(real);

    // Control: the CVIP on lo without the ARP settings is answered, so silence below means the
    // settings work, not that the test cannot hear.
    let bare = NetConfig {
        addresses: vec![OwnedAddress::host(cvip, "lo")],
        ..NetConfig::default()
    };
    with_manager(real, data.path(), |m| {
        Box::pin(async move { m.reconcile(&bare).await.unwrap() })
    });
    assert!(
        client_gets_arp_answer(&lab),
        "control: a bare lo CVIP should be answered"
    );

    with_manager(real, data.path(), |m| {
        Box::pin(async move { hold_on_loopback(m, cvip, &["eth1"]).await.unwrap() })
    });
    assert_eq!(sysctl(real, "net/ipv4/conf/all/arp_ignore"), "1");
    assert_eq!(sysctl(real, "net/ipv4/conf/eth1/arp_announce"), "2");
    // Flush what the control taught the client, then ask again.
    lab.client().ip(&["neigh", "flush", "dev", "eth0"]).unwrap();
    assert!(
        !client_gets_arp_answer(&lab),
        "a real server answered ARP for the CVIP"
    );
    assert!(
        lab.client()
            .neighbour_mac(&addressing::CVIP.to_string())
            .unwrap()
            .is_none()
    );

    // Releasing puts every sysctl back to what it was.
    with_manager(real, data.path(), |m| {
        Box::pin(async move { release_loopback(m, cvip).await.unwrap() })
    });
    assert_eq!(snapshot(real), before);
}

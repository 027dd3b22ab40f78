use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use proptest::prelude::*;

use super::*;

const CVIP: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 168, 200, 100));
const OWN: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 168, 200, 11));

fn listener(proto: Protocol, addr: &str, port: u16) -> Listener {
    Listener {
        proto,
        addr: addr.parse().unwrap(),
        port,
        inode: 1,
        uid: 0,
        v6only: false,
    }
}

fn web() -> Vec<PortRange> {
    vec![
        PortRange {
            proto: Protocol::Tcp,
            start: 80,
            end: 80,
        },
        PortRange {
            proto: Protocol::Tcp,
            start: 8000,
            end: 8099,
        },
        PortRange {
            proto: Protocol::Udp,
            start: 53,
            end: 53,
        },
    ]
}

#[test]
fn wildcard_and_cvip_listeners_on_weighted_ports_register() {
    let listeners = [
        listener(Protocol::Tcp, "0.0.0.0", 80),
        listener(Protocol::Tcp, "::", 8000),
        listener(Protocol::Tcp, "192.168.200.100", 8099),
        listener(Protocol::Tcp, "::ffff:192.168.200.100", 8050),
        listener(Protocol::Tcp, "::ffff:0.0.0.0", 8051),
        listener(Protocol::Udp, "0.0.0.0", 53),
    ];
    let got = registrations(&listeners, &[CVIP], &web());
    let want: BTreeSet<Registration> = [
        (Protocol::Tcp, 80),
        (Protocol::Tcp, 8000),
        (Protocol::Tcp, 8050),
        (Protocol::Tcp, 8051),
        (Protocol::Tcp, 8099),
        (Protocol::Udp, 53),
    ]
    .into();
    assert_eq!(got, want);
}

#[test]
fn own_address_loopback_unweighted_port_and_other_protocol_do_not_register() {
    let listeners = [
        listener(Protocol::Tcp, &OWN.to_string(), 80),
        listener(Protocol::Tcp, "127.0.0.1", 80),
        listener(Protocol::Tcp, "::1", 80),
        listener(Protocol::Tcp, "0.0.0.0", 81),
        listener(Protocol::Tcp, "0.0.0.0", 8100),
        listener(Protocol::Udp, "0.0.0.0", 80),
        listener(Protocol::Tcp, "0.0.0.0", 53),
    ];
    assert_eq!(registrations(&listeners, &[CVIP], &web()), BTreeSet::new());
}

#[test]
fn v6only_wildcard_serves_ipv6_cvips_only_and_ipv4_wildcard_ipv4_only() {
    let v6_cvip: IpAddr = "2001:db8::100".parse().unwrap();
    let v6only = Listener {
        v6only: true,
        ..listener(Protocol::Tcp, "::", 80)
    };
    let dual = listener(Protocol::Tcp, "::", 8000);
    let v4 = listener(Protocol::Tcp, "0.0.0.0", 8001);
    let listeners = [v6only, dual, v4];
    let only_v4: BTreeSet<Registration> = [(Protocol::Tcp, 8000), (Protocol::Tcp, 8001)].into();
    assert_eq!(registrations(&listeners, &[CVIP], &web()), only_v4);
    let only_v6: BTreeSet<Registration> = [(Protocol::Tcp, 80), (Protocol::Tcp, 8000)].into();
    assert_eq!(registrations(&listeners, &[v6_cvip], &web()), only_v6);
    assert_eq!(
        registrations(&listeners, &[], &web()),
        BTreeSet::new(),
        "no CVIP, no service"
    );
}

#[test]
fn ipv6_cvip_matches_ipv6_listener_and_v4_mapped_cvip_matches_v4() {
    let v6_cvip: IpAddr = "2001:db8::100".parse().unwrap();
    let mapped_cvip = IpAddr::V6(Ipv4Addr::new(192, 168, 200, 100).to_ipv6_mapped());
    let listeners = [
        listener(Protocol::Tcp, "2001:db8::100", 80),
        listener(Protocol::Tcp, "192.168.200.100", 8000),
    ];
    let got = registrations(&listeners, &[v6_cvip, mapped_cvip], &web());
    assert_eq!(got, [(Protocol::Tcp, 80), (Protocol::Tcp, 8000)].into());
}

#[test]
fn range_from_port_weight_keeps_protocol_and_bounds() {
    let weight = PortWeight {
        proto: Protocol::Udp,
        start_port: 5000,
        end_port: 5010,
        weight: 3,
        node: None,
    };
    let range = PortRange::from(&weight);
    assert!(range.contains(Protocol::Udp, 5000) && range.contains(Protocol::Udp, 5010));
    assert!(!range.contains(Protocol::Udp, 5011) && !range.contains(Protocol::Tcp, 5005));
}

fn any_addr() -> impl Strategy<Value = IpAddr> {
    prop_oneof![
        Just(CVIP),
        Just(OWN),
        Just(IpAddr::V4(Ipv4Addr::UNSPECIFIED)),
        Just(IpAddr::V6(Ipv6Addr::UNSPECIFIED)),
        Just(IpAddr::V6(
            Ipv4Addr::new(192, 168, 200, 100).to_ipv6_mapped()
        )),
        any::<[u8; 4]>().prop_map(|b| IpAddr::V4(Ipv4Addr::from(b))),
        any::<[u8; 16]>().prop_map(|b| IpAddr::V6(Ipv6Addr::from(b))),
    ]
}

fn any_listener() -> impl Strategy<Value = Listener> {
    (
        any::<bool>(),
        any_addr(),
        0u16..200,
        any::<u32>(),
        any::<bool>(),
    )
        .prop_map(|(udp, addr, port, inode, v6only)| {
            let proto = if udp { Protocol::Udp } else { Protocol::Tcp };
            let v6only = v6only && addr.is_ipv6();
            Listener {
                proto,
                addr,
                port,
                inode,
                uid: 0,
                v6only,
            }
        })
}

fn any_range() -> impl Strategy<Value = PortRange> {
    (any::<bool>(), 0u16..200, 0u16..20).prop_map(|(udp, start, len)| PortRange {
        proto: if udp { Protocol::Udp } else { Protocol::Tcp },
        start,
        end: start + len,
    })
}

proptest! {
    /// Each registration is justified by a listener, and each qualifying listener registers.
    #[test]
    fn registrations_are_exactly_the_qualifying_listeners(
        listeners in prop::collection::vec(any_listener(), 0..30),
        ranges in prop::collection::vec(any_range(), 0..5),
    ) {
        let got = registrations(&listeners, &[CVIP], &ranges);
        for listener in &listeners {
            // CVIP is IPv4: reached through itself (also v4-mapped), 0.0.0.0 (also
            // v4-mapped), or a dual-stack `::`.
            let reachable = match listener.addr {
                IpAddr::V4(a) => a.is_unspecified() || IpAddr::V4(a) == CVIP,
                IpAddr::V6(a) => match a.to_ipv4_mapped() {
                    Some(v4) => v4.is_unspecified() || IpAddr::V4(v4) == CVIP,
                    None => a.is_unspecified() && !listener.v6only,
                },
            };
            let weighted = ranges.iter().any(|r| {
                r.proto == listener.proto && r.start <= listener.port && listener.port <= r.end
            });
            if reachable && weighted {
                prop_assert!(got.contains(&(listener.proto, listener.port)));
            }
        }
        for (proto, port) in &got {
            prop_assert!(listeners.iter().any(|l| l.proto == *proto && l.port == *port
                && l.serves(CVIP)));
        }
    }

    /// Order and duplicates of listeners do not matter.
    #[test]
    fn registrations_ignore_order_and_duplicates(
        listeners in prop::collection::vec(any_listener(), 0..30),
        ranges in prop::collection::vec(any_range(), 0..5),
    ) {
        let mut shuffled = listeners.clone();
        shuffled.reverse();
        shuffled.extend(listeners.iter().copied());
        prop_assert_eq!(
            registrations(&listeners, &[CVIP], &ranges),
            registrations(&shuffled, &[CVIP], &ranges)
        );
    }

    /// Applying the changes to the old set gives the new set.
    #[test]
    fn changes_turn_the_old_set_into_the_new(
        before in prop::collection::btree_set((any::<bool>(), 0u16..50), 0..20),
        after in prop::collection::btree_set((any::<bool>(), 0u16..50), 0..20),
    ) {
        let proto = |udp: bool| if udp { Protocol::Udp } else { Protocol::Tcp };
        let before: BTreeSet<Registration> = before.into_iter().map(|(u, p)| (proto(u), p)).collect();
        let after: BTreeSet<Registration> = after.into_iter().map(|(u, p)| (proto(u), p)).collect();
        let changes = crate::Changes::between(&before, &after);
        let mut applied = before.clone();
        for gone in &changes.removed { prop_assert!(applied.remove(gone)); }
        for new in &changes.added { prop_assert!(applied.insert(*new)); }
        prop_assert_eq!(applied, after);
    }
}

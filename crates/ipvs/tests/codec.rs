#![allow(clippy::unwrap_used)]

//! Encode/decode round trips of every IPVS message kind, and wire-format facts from ip_vs.h.

mod strategies;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use proptest::prelude::*;
use ssinet_ipvs::*;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn every_message_round_trips(msg in strategies::message()) {
        let bytes = msg.encode_attrs();
        let back = IpvsMessage::decode(msg.command() as u8, &bytes).unwrap();
        prop_assert_eq!(back, msg);
    }

    #[test]
    fn decoding_garbage_never_panics(cmd in any::<u8>(), bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = IpvsMessage::decode(cmd, &bytes);
    }

    #[test]
    fn truncating_an_encoding_is_an_error_or_a_shorter_message(msg in strategies::message(), cut in 1usize..64) {
        let bytes = msg.encode_attrs();
        let end = bytes.len().saturating_sub(cut);
        let _ = IpvsMessage::decode(msg.command() as u8, &bytes[..end]);
    }
}

fn tcp_service() -> Service {
    Service::new(
        ServiceKey::tcp(IpAddr::V4(Ipv4Addr::new(192, 168, 200, 10)), 80),
        Scheduler::WeightedRoundRobin,
    )
}

/// Finds attribute `kind` in a flat attribute buffer.
fn find(buf: &[u8], kind: u16) -> Option<&[u8]> {
    let mut pos = 0;
    while pos + 4 <= buf.len() {
        let len = u16::from_ne_bytes([buf[pos], buf[pos + 1]]) as usize;
        let k = u16::from_ne_bytes([buf[pos + 2], buf[pos + 3]]) & 0x3fff;
        if k == kind {
            return Some(&buf[pos + 4..pos + len]);
        }
        pos += (len + 3) & !3;
    }
    None
}

#[test]
fn ipv4_service_uses_the_kernel_layout() {
    let msg = IpvsMessage::NewService {
        service: tcp_service(),
        counters: Counters::default(),
    };
    let bytes = msg.encode_attrs();
    let svc = find(&bytes, 1).expect("service nest");
    assert_eq!(
        find(svc, 1),
        Some(&2u16.to_ne_bytes()[..]),
        "AF_INET, host order"
    );
    assert_eq!(
        find(svc, 2),
        Some(&6u16.to_ne_bytes()[..]),
        "IPPROTO_TCP, host order"
    );
    let addr = find(svc, 3).expect("address");
    assert_eq!(addr.len(), 16, "nf_inet_addr is always 16 bytes");
    assert_eq!(&addr[..4], &[192, 168, 200, 10]);
    assert_eq!(find(svc, 4), Some(&[0u8, 80][..]), "port in network order");
    assert_eq!(
        find(svc, 6),
        Some(&b"wrr\0"[..]),
        "NUL-terminated scheduler"
    );
    let flags = find(svc, 7).expect("flags");
    assert_eq!(
        &flags[4..],
        &u32::MAX.to_ne_bytes(),
        "mask covers every flag"
    );
    assert_eq!(
        find(svc, 9),
        Some(&[0xffu8, 0xff, 0xff, 0xff][..]),
        "IPv4 netmask bytes"
    );
}

#[test]
fn ipv6_persistence_netmask_is_a_prefix_length() {
    let svc = Service::new(
        ServiceKey::tcp(IpAddr::V6(Ipv6Addr::LOCALHOST), 443),
        Scheduler::Maglev,
    )
    .with_persistence(600, 64);
    let bytes = IpvsMessage::SetService(svc.clone()).encode_attrs();
    let nest = find(&bytes, 1).expect("service nest");
    assert_eq!(find(nest, 9), Some(&64u32.to_ne_bytes()[..]));
    assert_eq!(find(nest, 8), Some(&600u32.to_ne_bytes()[..]));
    assert!(svc.flags.contains(ServiceFlags::PERSISTENT));
}

#[test]
fn ipv4_persistence_prefix_becomes_a_mask() {
    let svc = tcp_service().with_persistence(300, 24);
    assert_eq!(svc.netmask, 0xffff_ff00);
}

#[test]
fn gue_tunnel_destination_carries_type_port_and_flags() {
    let d = Destination::new(
        IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)),
        80,
        Forwarding::Tunnel(TunnelEncap::Gue {
            port: 6080,
            flags: TunnelFlags::REMOTE_CSUM,
        }),
        3,
    );
    let bytes = IpvsMessage::NewDest {
        service: Some(tcp_service()),
        dest: d,
        status: None,
    }
    .encode_attrs();
    let nest = find(&bytes, 2).expect("dest nest");
    assert_eq!(
        find(nest, 3),
        Some(&2u32.to_ne_bytes()[..]),
        "IP_VS_CONN_F_TUNNEL"
    );
    assert_eq!(find(nest, 13), Some(&[1u8][..]), "GUE");
    assert_eq!(
        find(nest, 14),
        Some(&6080u16.to_be_bytes()[..]),
        "tunnel port big-endian"
    );
    assert_eq!(find(nest, 15), Some(&2u16.to_ne_bytes()[..]));
    assert_eq!(find(nest, 4), Some(&3u32.to_ne_bytes()[..]));
}

#[test]
fn kernel_hashed_flag_is_not_configuration() {
    let a = tcp_service().with_flags(ServiceFlags::MH_PORT);
    let mut b = a.clone();
    b.flags = b.flags | ServiceFlags::HASHED;
    assert!(a.same_config(&b));
}

#[test]
fn unknown_scheduler_names_survive() {
    assert_eq!(Scheduler::from_name("mh"), Scheduler::Maglev);
    assert_eq!(Scheduler::from_name("xyz").name(), "xyz");
    for s in Scheduler::all_known() {
        assert_eq!(Scheduler::from_name(s.name()), s);
    }
}

#[test]
fn info_version_reads_like_ipvsadm() {
    let i = Info {
        version: 0x010201,
        conn_table_size: 4096,
    };
    assert_eq!(i.version_string(), "1.2.1");
}

#[test]
fn missing_attributes_are_named() {
    // A service nest with only an address family.
    let mut nest = Vec::new();
    nest.extend_from_slice(&6u16.to_ne_bytes());
    nest.extend_from_slice(&1u16.to_ne_bytes());
    nest.extend_from_slice(&2u16.to_ne_bytes());
    nest.extend_from_slice(&[0, 0]);
    let mut msg = Vec::new();
    msg.extend_from_slice(&u16::try_from(4 + nest.len()).unwrap().to_ne_bytes());
    msg.extend_from_slice(&(1u16 | 0x8000).to_ne_bytes());
    msg.extend_from_slice(&nest);
    let err = IpvsMessage::decode(3, &msg).unwrap_err();
    assert_eq!(
        err.to_string(),
        "service lacks the ADDR attribute",
        "the error names the missing piece"
    );
}

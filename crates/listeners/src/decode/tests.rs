use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use netlink_packet_core::Emitable;
use netlink_packet_sock_diag::inet::nlas::Nla;
use netlink_packet_sock_diag::inet::{InetResponse, InetResponseHeader, SocketId};

use super::*;

/// `NLM_F_MULTI`, set on every message of a dump.
const MULTI: u16 = 2;
const TCP_ESTABLISHED: u8 = 1;
const ENOENT: i32 = 2;
const TCP4: DumpRequest = DumpRequest {
    proto: Protocol::Tcp,
    ipv6: false,
};
const UDP6: DumpRequest = DumpRequest {
    proto: Protocol::Udp,
    ipv6: true,
};

/// One netlink message as the kernel frames it: header, payload, padding to 4 bytes.
fn frame(message_type: u16, sequence: u32, payload: &[u8]) -> Vec<u8> {
    let length = u32::try_from(16 + payload.len()).unwrap();
    let mut bytes = Vec::new();
    bytes.extend_from_slice(&length.to_ne_bytes());
    bytes.extend_from_slice(&message_type.to_ne_bytes());
    bytes.extend_from_slice(&MULTI.to_ne_bytes());
    bytes.extend_from_slice(&sequence.to_ne_bytes());
    bytes.extend_from_slice(&0u32.to_ne_bytes());
    bytes.extend_from_slice(payload);
    bytes.resize(bytes.len().next_multiple_of(4), 0);
    bytes
}

fn socket(family: u8, state: u8, addr: IpAddr, port: u16, inode: u32) -> Vec<u8> {
    socket_with(family, state, addr, port, inode, &[])
}

fn socket_with(
    family: u8,
    state: u8,
    addr: IpAddr,
    port: u16,
    inode: u32,
    nlas: &[Nla],
) -> Vec<u8> {
    let mut socket_id = if family == AF_INET6 {
        SocketId::new_v6()
    } else {
        SocketId::new_v4()
    };
    socket_id.source_address = addr;
    socket_id.source_port = port;
    let response = InetResponse {
        header: InetResponseHeader {
            family,
            state,
            timer: None,
            socket_id,
            recv_queue: 0,
            send_queue: 128,
            uid: 1000,
            inode,
        },
        nlas: nlas.iter().cloned().collect(),
    };
    let mut bytes = vec![0; response.buffer_len()];
    response.emit(&mut bytes);
    frame(SOCK_DIAG_BY_FAMILY, 7, &bytes)
}

#[test]
fn listeners_then_done_decode_in_order_with_port_inode_and_owner() {
    let mut datagram = socket(AF_INET, TCP_LISTEN, Ipv4Addr::UNSPECIFIED.into(), 80, 11);
    datagram.extend(socket(
        AF_INET,
        TCP_LISTEN,
        Ipv4Addr::new(192, 168, 200, 100).into(),
        443,
        12,
    ));
    datagram.extend(frame(NLMSG_DONE, 7, &0i32.to_ne_bytes()));
    let part = decode_dump_part(&datagram, TCP4, 7).unwrap();
    assert!(part.done);
    let got: Vec<(IpAddr, u16, u32, u32)> = part
        .listeners
        .iter()
        .map(|l| (l.addr, l.port, l.inode, l.uid))
        .collect();
    assert_eq!(
        got,
        vec![
            (Ipv4Addr::UNSPECIFIED.into(), 80, 11, 1000),
            (Ipv4Addr::new(192, 168, 200, 100).into(), 443, 12, 1000),
        ]
    );
}

#[test]
fn a_datagram_without_done_leaves_the_dump_open() {
    let datagram = socket(AF_INET6, TCP_CLOSE, Ipv6Addr::UNSPECIFIED.into(), 53, 3);
    let part = decode_dump_part(&datagram, UDP6, 7).unwrap();
    assert!(!part.done);
    assert_eq!(part.listeners.len(), 1);
    assert_eq!(part.listeners[0].proto, Protocol::Udp);
}

#[test]
fn other_states_port_zero_and_stale_sequences_are_skipped() {
    let mut datagram = socket(AF_INET6, TCP_ESTABLISHED, Ipv6Addr::LOCALHOST.into(), 53, 1);
    datagram.extend(socket(
        AF_INET6,
        TCP_CLOSE,
        Ipv6Addr::UNSPECIFIED.into(),
        0,
        2,
    ));
    let mut stale = socket(AF_INET6, TCP_CLOSE, Ipv6Addr::UNSPECIFIED.into(), 54, 3);
    stale[8..12].copy_from_slice(&6u32.to_ne_bytes());
    datagram.extend(stale);
    datagram.extend(frame(NLMSG_DONE, 6, &0i32.to_ne_bytes()));
    let part = decode_dump_part(&datagram, UDP6, 7).unwrap();
    assert_eq!(part, DumpPart::default());
}

#[test]
fn v6only_is_read_from_its_attribute_among_others() {
    let wildcard: IpAddr = Ipv6Addr::UNSPECIFIED.into();
    let attributes = |v6only| [Nla::Shutdown(0), Nla::SkV6Only(v6only), Nla::Mark(5)];
    let mut datagram = socket_with(AF_INET6, TCP_CLOSE, wildcard, 53, 1, &attributes(true));
    datagram.extend(socket_with(
        AF_INET6,
        TCP_CLOSE,
        wildcard,
        54,
        2,
        &attributes(false),
    ));
    datagram.extend(socket(AF_INET6, TCP_CLOSE, wildcard, 55, 3));
    let part = decode_dump_part(&datagram, UDP6, 7).unwrap();
    let got: Vec<(u16, bool)> = part.listeners.iter().map(|l| (l.port, l.v6only)).collect();
    assert_eq!(got, vec![(53, true), (54, false), (55, false)]);
}

#[test]
fn a_kernel_error_names_the_dump_and_the_errno() {
    let mut payload = (-ENOENT).to_ne_bytes().to_vec();
    payload.extend_from_slice(&[0; 16]);
    let err = decode_dump_part(&frame(NLMSG_ERROR, 7, &payload), UDP6, 7).unwrap_err();
    let text = err.to_string();
    assert!(text.contains("UDP/IPv6 bound sockets"), "{text}");
    assert!(text.contains("No such file or directory"), "{text}");
}

#[test]
fn truncated_and_foreign_messages_are_malformed_not_panics() {
    let whole = socket(AF_INET, TCP_LISTEN, Ipv4Addr::UNSPECIFIED.into(), 80, 1);
    for cut in 1..whole.len() {
        assert!(
            decode_dump_part(&whole[..cut], TCP4, 7).is_err(),
            "cut at {cut}"
        );
    }
    let wrong_family = socket(AF_INET6, TCP_LISTEN, Ipv6Addr::UNSPECIFIED.into(), 80, 1);
    assert!(matches!(
        decode_dump_part(&wrong_family, TCP4, 7),
        Err(ListenersError::Malformed(_))
    ));
    assert!(matches!(
        decode_dump_part(&frame(99, 7, &[]), TCP4, 7),
        Err(ListenersError::Malformed(_))
    ));
}

/// The fuzz seeds (first byte: the dump selector) decode as their names say, so the fuzzer
/// starts from inputs that reach every branch.
#[test]
fn fuzz_seeds_decode_as_named() {
    let seeds = concat!(env!("CARGO_MANIFEST_DIR"), "/fuzz/seeds/decode/");
    let read = |name: &str| std::fs::read(format!("{seeds}{name}")).unwrap();

    let tcp4 = read("tcp4-two-listeners-done");
    let part = decode_dump_part(&tcp4[1..], TCP4, 7).unwrap();
    assert!(part.done);
    let ports: Vec<u16> = part.listeners.iter().map(|l| l.port).collect();
    assert_eq!(ports, vec![80, 443]);

    let udp6 = read("udp6-bound-and-connected-done");
    let part = decode_dump_part(&udp6[1..], UDP6, 7).unwrap();
    assert!(part.done);
    let ports: Vec<u16> = part.listeners.iter().map(|l| l.port).collect();
    assert_eq!(ports, vec![53], "the connected socket is skipped");

    let error = read("error-enoent");
    let request = DumpRequest {
        proto: Protocol::Tcp,
        ipv6: true,
    };
    assert!(matches!(
        decode_dump_part(&error[1..], request, 7),
        Err(ListenersError::Refused { .. })
    ));
}

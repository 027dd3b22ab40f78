//! Ethernet frames for announcing an address: gratuitous ARP (IPv4) and unsolicited neighbour
//! advertisement (IPv6), built byte by byte so no external tool is needed.

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

/// An Ethernet MAC address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MacAddr(pub [u8; 6]);

impl MacAddr {
    pub const BROADCAST: Self = Self([0xff; 6]);
}

impl fmt::Display for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let m = self.0;
        write!(
            f,
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            m[0], m[1], m[2], m[3], m[4], m[5]
        )
    }
}

const ETHERTYPE_ARP: u16 = 0x0806;
const ETHERTYPE_IPV6: u16 = 0x86dd;
const ARP_REQUEST: u16 = 1;
const ARP_REPLY: u16 = 2;
const ICMPV6: u8 = 58;
const ICMPV6_NEIGHBOR_ADVERTISEMENT: u8 = 136;
const NA_FLAG_OVERRIDE: u8 = 0x20;
const OPTION_TARGET_LINK_LAYER: u8 = 2;

/// Which form of gratuitous ARP to send. Linux peers update an existing entry on either; some
/// switches and older stacks only listen to one, so `Both` sends a request and a reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ArpForm {
    /// ARP request, sender IP == target IP, target MAC zero (RFC 5227 announcement).
    #[default]
    Request,
    /// ARP reply, sender IP == target IP, target MAC == sender MAC (Linux accepts a gratuitous
    /// reply only in this form).
    Reply,
    Both,
}

fn ethernet_header(frame: &mut Vec<u8>, dst: MacAddr, src: MacAddr, ethertype: u16) {
    frame.extend_from_slice(&dst.0);
    frame.extend_from_slice(&src.0);
    frame.extend_from_slice(&ethertype.to_be_bytes());
}

/// A broadcast gratuitous ARP frame announcing that `ip` is at `mac`. `form` must be `Request`
/// or `Reply`; `Both` builds the request.
pub fn arp_announcement(mac: MacAddr, ip: Ipv4Addr, form: ArpForm) -> Vec<u8> {
    let (op, target_mac) = match form {
        ArpForm::Reply => (ARP_REPLY, mac),
        ArpForm::Request | ArpForm::Both => (ARP_REQUEST, MacAddr([0; 6])),
    };
    let mut frame = Vec::with_capacity(60);
    ethernet_header(&mut frame, MacAddr::BROADCAST, mac, ETHERTYPE_ARP);
    frame.extend_from_slice(&1u16.to_be_bytes()); // hardware type: Ethernet
    frame.extend_from_slice(&0x0800u16.to_be_bytes()); // protocol type: IPv4
    frame.push(6);
    frame.push(4);
    frame.extend_from_slice(&op.to_be_bytes());
    frame.extend_from_slice(&mac.0);
    frame.extend_from_slice(&ip.octets());
    frame.extend_from_slice(&target_mac.0);
    frame.extend_from_slice(&ip.octets());
    frame.resize(60, 0); // minimum Ethernet frame without FCS
    frame
}

/// An ARP probe for `target` (RFC 5227: sender address 0.0.0.0), broadcast from `mac`. A
/// Linux host that holds `target` answers it with a unicast reply and, since the sender is
/// 0.0.0.0, learns no neighbour entry from it: probing a gateway leaves no trace there.
pub fn arp_probe(mac: MacAddr, target: Ipv4Addr) -> Vec<u8> {
    let mut frame = Vec::with_capacity(60);
    ethernet_header(&mut frame, MacAddr::BROADCAST, mac, ETHERTYPE_ARP);
    frame.extend_from_slice(&1u16.to_be_bytes());
    frame.extend_from_slice(&0x0800u16.to_be_bytes());
    frame.push(6);
    frame.push(4);
    frame.extend_from_slice(&ARP_REQUEST.to_be_bytes());
    frame.extend_from_slice(&mac.0);
    frame.extend_from_slice(&Ipv4Addr::UNSPECIFIED.octets());
    frame.extend_from_slice(&[0; 6]);
    frame.extend_from_slice(&target.octets());
    frame.resize(60, 0);
    frame
}

/// The sender of an ARP reply frame (Ethernet, IPv4): `(sender IP, sender MAC)`. `None` for
/// anything else or anything malformed; never panics, whatever the bytes.
pub fn parse_arp_reply(frame: &[u8]) -> Option<(Ipv4Addr, MacAddr)> {
    let arp = frame.get(14..42)?;
    if frame.get(12..14)? != ETHERTYPE_ARP.to_be_bytes() {
        return None;
    }
    let (htype, ptype, hlen, plen, op) = (
        &arp[0..2],
        &arp[2..4],
        arp[4],
        arp[5],
        u16::from_be_bytes([arp[6], arp[7]]),
    );
    if htype != [0, 1] || ptype != [8, 0] || hlen != 6 || plen != 4 || op != ARP_REPLY {
        return None;
    }
    let mac = MacAddr(arp[8..14].try_into().ok()?);
    let ip = Ipv4Addr::from(<[u8; 4]>::try_from(&arp[14..18]).ok()?);
    Some((ip, mac))
}

/// An unsolicited neighbour advertisement for `target` at `mac`, from `target` to all nodes
/// (ff02::1), with the override flag and the target link-layer address option (RFC 4861 7.2.6).
pub fn ipv6_unsolicited_na(mac: MacAddr, target: Ipv6Addr) -> Vec<u8> {
    let all_nodes = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);
    let mut icmp = Vec::with_capacity(32);
    icmp.push(ICMPV6_NEIGHBOR_ADVERTISEMENT);
    icmp.push(0); // code
    icmp.extend_from_slice(&[0, 0]); // checksum, filled below
    icmp.extend_from_slice(&[NA_FLAG_OVERRIDE, 0, 0, 0]);
    icmp.extend_from_slice(&target.octets());
    icmp.push(OPTION_TARGET_LINK_LAYER);
    icmp.push(1); // length in units of 8 bytes
    icmp.extend_from_slice(&mac.0);
    let checksum = icmpv6_checksum(&target, &all_nodes, &icmp);
    icmp[2..4].copy_from_slice(&checksum.to_be_bytes());

    let mut frame = Vec::with_capacity(14 + 40 + icmp.len());
    // 33:33 + low 32 bits of the multicast group
    let dst_mac = MacAddr([0x33, 0x33, 0, 0, 0, 1]);
    ethernet_header(&mut frame, dst_mac, mac, ETHERTYPE_IPV6);
    frame.extend_from_slice(&[0x60, 0, 0, 0]); // version 6, traffic class 0, flow label 0
    let payload_len = u16::try_from(icmp.len()).expect("an NA is 32 bytes");
    frame.extend_from_slice(&payload_len.to_be_bytes());
    frame.push(ICMPV6);
    frame.push(255); // hop limit: receivers drop neighbour discovery with anything else
    frame.extend_from_slice(&target.octets());
    frame.extend_from_slice(&all_nodes.octets());
    frame.extend_from_slice(&icmp);
    frame
}

/// The ICMPv6 checksum: one's complement sum over the IPv6 pseudo-header and the message.
pub(crate) fn icmpv6_checksum(src: &Ipv6Addr, dst: &Ipv6Addr, message: &[u8]) -> u16 {
    let mut pseudo = Vec::with_capacity(40 + message.len());
    pseudo.extend_from_slice(&src.octets());
    pseudo.extend_from_slice(&dst.octets());
    let len = u32::try_from(message.len()).expect("ICMPv6 messages are small");
    pseudo.extend_from_slice(&len.to_be_bytes());
    pseudo.extend_from_slice(&[0, 0, 0, ICMPV6]);
    pseudo.extend_from_slice(message);
    !ones_complement_sum(&pseudo)
}

fn ones_complement_sum(data: &[u8]) -> u16 {
    let mut sum: u32 = 0;
    for chunk in data.chunks(2) {
        let word = match chunk {
            [hi, lo] => u16::from_be_bytes([*hi, *lo]),
            [hi] => u16::from_be_bytes([*hi, 0]),
            _ => unreachable!("chunks(2) yields one or two bytes"),
        };
        sum += u32::from(word);
        sum = (sum & 0xffff) + (sum >> 16);
    }
    u16::try_from(sum).expect("folded to 16 bits")
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const MAC: MacAddr = MacAddr([0x02, 0x53, 0x53, 0x00, 0x00, 0x01]);

    #[test]
    fn an_arp_probe_asks_for_the_target_from_0_0_0_0() {
        let target = Ipv4Addr::new(192, 168, 200, 1);
        let frame = arp_probe(MAC, target);
        assert_eq!(frame.len(), 60);
        assert_eq!(&frame[28..32], &[0, 0, 0, 0]);
        assert_eq!(&frame[38..42], &target.octets());
        // A request is not a reply.
        assert_eq!(parse_arp_reply(&frame), None);
    }

    #[test]
    fn an_arp_reply_is_read_back_and_garbage_is_not() {
        let ip = Ipv4Addr::new(192, 168, 200, 1);
        let reply = arp_announcement(MAC, ip, ArpForm::Reply);
        assert_eq!(parse_arp_reply(&reply), Some((ip, MAC)));
        assert_eq!(parse_arp_reply(&reply[..41]), None);
        assert_eq!(parse_arp_reply(&[]), None);
        let mut wrong_type = reply.clone();
        wrong_type[12] = 0x86;
        assert_eq!(parse_arp_reply(&wrong_type), None);
    }

    proptest::proptest! {
        #[test]
        fn parse_arp_reply_never_panics(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..80)) {
            let _ = parse_arp_reply(&bytes);
        }
    }

    #[test]
    fn gratuitous_request_layout() {
        let f = arp_announcement(MAC, Ipv4Addr::new(192, 168, 200, 10), ArpForm::Request);
        assert_eq!(f.len(), 60);
        assert_eq!(&f[0..6], &[0xff; 6]);
        assert_eq!(&f[6..12], &MAC.0);
        assert_eq!(&f[12..14], &[0x08, 0x06]);
        assert_eq!(&f[20..22], &[0, 1], "opcode request");
        assert_eq!(&f[22..28], &MAC.0, "sender MAC");
        assert_eq!(&f[28..32], &[192, 168, 200, 10], "sender IP");
        assert_eq!(&f[32..38], &[0; 6], "target MAC");
        assert_eq!(&f[38..42], &[192, 168, 200, 10], "target IP == sender IP");
    }

    #[test]
    fn gratuitous_reply_has_target_mac_equal_sender() {
        let f = arp_announcement(MAC, Ipv4Addr::new(10, 0, 0, 1), ArpForm::Reply);
        assert_eq!(&f[20..22], &[0, 2]);
        assert_eq!(&f[32..38], &MAC.0);
    }

    #[test]
    fn checksum_matches_rfc1071_example() {
        // RFC 1071 section 3 example: words 0001 f203 f4f5 f6f7 sum to ddf2.
        assert_eq!(
            ones_complement_sum(&[0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7]),
            0xddf2
        );
    }

    proptest! {
        #[test]
        fn na_checksum_verifies(octets in any::<[u8; 16]>(), mac in any::<[u8; 6]>()) {
            let target = Ipv6Addr::from(octets);
            let f = ipv6_unsolicited_na(MacAddr(mac), target);
            prop_assert_eq!(f.len(), 14 + 40 + 32);
            prop_assert_eq!(f[20], ICMPV6);
            prop_assert_eq!(f[21], 255);
            let icmp = &f[54..];
            prop_assert_eq!(icmp[0], 136);
            prop_assert_eq!(icmp[4], NA_FLAG_OVERRIDE);
            prop_assert_eq!(&icmp[8..24], &octets[..]);
            prop_assert_eq!(&icmp[26..32], &mac[..]);
            // A receiver sums pseudo-header and message including the checksum: all ones.
            let all_nodes = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);
            prop_assert_eq!(icmpv6_checksum(&target, &all_nodes, icmp), 0);
        }

        #[test]
        fn arp_frames_carry_the_address(ip in any::<[u8; 4]>(), mac in any::<[u8; 6]>()) {
            for form in [ArpForm::Request, ArpForm::Reply] {
                let f = arp_announcement(MacAddr(mac), Ipv4Addr::from(ip), form);
                prop_assert_eq!(&f[28..32], &ip[..]);
                prop_assert_eq!(&f[38..42], &ip[..]);
                prop_assert_eq!(&f[22..28], &mac[..]);
            }
        }
    }
}

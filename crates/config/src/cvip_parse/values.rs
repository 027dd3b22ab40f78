//! Leaf values as an operator writes them.

use std::net::IpAddr;

use crate::model::{NodeId, Protocol};

pub(super) fn parse_ip(s: &str) -> Option<IpAddr> {
    s.parse().ok()
}

pub(super) fn parse_node_num(s: &str) -> Option<NodeId> {
    parse_u32(s).map(|n| NodeId(u64::from(n)))
}

/// Plain decimal digits only (no sign, no hex), as the operator would write them.
pub(crate) fn parse_u32(s: &str) -> Option<u32> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

pub(super) fn parse_u16(s: &str) -> Option<u16> {
    parse_u32(s).and_then(|v| u16::try_from(v).ok())
}

pub(super) fn parse_protocol(s: &str) -> Option<Protocol> {
    if s.eq_ignore_ascii_case("tcp") {
        Some(Protocol::Tcp)
    } else if s.eq_ignore_ascii_case("udp") {
        Some(Protocol::Udp)
    } else {
        None
    }
}

pub(super) fn parse_switch(s: &str) -> Option<bool> {
    match s.to_ascii_lowercase().as_str() {
        "on" | "yes" | "true" | "1" => Some(true),
        "off" | "no" | "false" | "0" => Some(false),
        _ => None,
    }
}

/// A prefix length, or a contiguous dotted IPv4 mask (as `ipvsadm -M` takes it).
pub(super) fn parse_netmask(s: &str) -> Option<u8> {
    if let Some(prefix) = parse_u32(s) {
        return u8::try_from(prefix).ok().filter(|p| *p <= 128);
    }
    let mask: std::net::Ipv4Addr = s.parse().ok()?;
    let bits = u32::from(mask);
    let prefix = bits.leading_ones();
    (bits.checked_shl(prefix).unwrap_or(0) == 0).then(|| u8::try_from(prefix).ok())?
}

pub(super) fn non_empty(s: &str) -> Option<String> {
    (!s.is_empty()).then(|| s.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn netmask_accepts_prefix_or_contiguous_mask() {
        assert_eq!(parse_netmask("24"), Some(24));
        assert_eq!(parse_netmask("255.255.255.0"), Some(24));
        assert_eq!(parse_netmask("255.255.255.255"), Some(32));
        assert_eq!(parse_netmask("0.0.0.0"), Some(0));
        assert_eq!(parse_netmask("255.0.255.0"), None);
        assert_eq!(parse_netmask("129"), None);
    }
}

//! Translating between rtnetlink messages and ssinet's model: parsing dumps, building requests
//! that carry the ownership marks.

use std::net::IpAddr;

use rtnetlink::packet_route::AddressFamily;
use rtnetlink::packet_route::address::{AddressAttribute, AddressMessage, AddressScope};
use rtnetlink::packet_route::link::{LinkAttribute, LinkFlags, LinkMessage};
use rtnetlink::packet_route::route::{
    RouteAddress, RouteAttribute, RouteMessage, RouteProtocol, RouteScope, RouteType,
};
use rtnetlink::packet_route::rule::{RuleAction, RuleAttribute, RuleMessage};

use crate::frame::MacAddr;
use crate::kernel::{Link, ObservedAddress};
use crate::model::{OwnedAddress, RouteSpec, RuleSpec};
use crate::{OWNER_PROTOCOL, address_label};

fn family(ip: &IpAddr) -> AddressFamily {
    if ip.is_ipv4() {
        AddressFamily::Inet
    } else {
        AddressFamily::Inet6
    }
}

pub(crate) fn parse_link(link: &LinkMessage) -> Link {
    let mut name = String::new();
    let mut mac = None;
    for attr in &link.attributes {
        match attr {
            LinkAttribute::IfName(n) => name.clone_from(n),
            LinkAttribute::Address(bytes) => {
                if let Ok(octets) = <[u8; 6]>::try_from(bytes.as_slice()) {
                    mac = Some(MacAddr(octets));
                }
            }
            _ => {}
        }
    }
    Link {
        index: link.header.index,
        name,
        mac,
        carrier: link.header.flags.contains(LinkFlags::LowerUp),
    }
}

fn link_name(links: &[Link], index: u32) -> Option<String> {
    links
        .iter()
        .find(|l| l.index == index)
        .map(|l| l.name.clone())
}

pub(crate) fn parse_address(m: &AddressMessage, links: &[Link]) -> Option<ObservedAddress> {
    let mut local = None;
    let mut address = None;
    let mut label = None;
    let mut protocol = None;
    for attr in &m.attributes {
        match attr {
            AddressAttribute::Local(ip) => local = Some(*ip),
            AddressAttribute::Address(ip) => address = Some(*ip),
            AddressAttribute::Label(l) => label = Some(l.clone()),
            AddressAttribute::Protocol(p) => protocol = Some(u8::from(*p)),
            _ => {}
        }
    }
    // IPv4 reports the interface's own address as IFA_LOCAL (IFA_ADDRESS is the peer on
    // point-to-point links); IPv6 only sends IFA_ADDRESS.
    let addr = local.or(address)?;
    Some(ObservedAddress {
        address: OwnedAddress {
            addr,
            prefix_len: m.header.prefix_len,
            ifname: link_name(links, m.header.index)?,
        },
        label,
        protocol,
    })
}

pub(crate) fn address_message(a: &OwnedAddress, ifindex: u32) -> AddressMessage {
    let mut m = AddressMessage::default();
    m.header.family = family(&a.addr);
    m.header.prefix_len = a.prefix_len;
    m.header.index = ifindex;
    m.header.scope = AddressScope::Universe;
    if a.addr.is_ipv4() {
        m.attributes.push(AddressAttribute::Local(a.addr));
        m.attributes.push(AddressAttribute::Address(a.addr));
        m.attributes
            .push(AddressAttribute::Label(address_label(&a.ifname)));
    } else {
        m.attributes.push(AddressAttribute::Address(a.addr));
    }
    m
}

fn route_ip(a: &RouteAddress) -> Option<IpAddr> {
    match a {
        RouteAddress::Inet(v4) => Some(IpAddr::V4(*v4)),
        RouteAddress::Inet6(v6) => Some(IpAddr::V6(*v6)),
        _ => None,
    }
}

fn unspecified(ipv6: bool) -> IpAddr {
    if ipv6 {
        IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED)
    } else {
        IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED)
    }
}

pub(crate) fn parse_route(r: &RouteMessage, links: &[Link]) -> Option<RouteSpec> {
    let ipv6 = r.header.address_family == AddressFamily::Inet6;
    let mut table = u32::from(r.header.table);
    let mut destination = unspecified(ipv6);
    let mut gateway = None;
    let mut oif = None;
    for attr in &r.attributes {
        match attr {
            RouteAttribute::Table(t) => table = *t,
            RouteAttribute::Destination(d) => destination = route_ip(d)?,
            RouteAttribute::Gateway(g) => gateway = route_ip(g),
            RouteAttribute::Oif(i) => oif = Some(*i),
            _ => {}
        }
    }
    Some(RouteSpec {
        table,
        destination,
        prefix_len: r.header.destination_prefix_length,
        gateway,
        ifname: oif.and_then(|i| link_name(links, i)).unwrap_or_default(),
    })
}

pub(crate) fn route_message(r: &RouteSpec, ifindex: u32) -> RouteMessage {
    let mut m = RouteMessage::default();
    m.header.address_family = family(&r.destination);
    m.header.destination_prefix_length = r.prefix_len;
    m.header.table = u8::try_from(r.table).unwrap_or(0);
    m.header.protocol = RouteProtocol::from(OWNER_PROTOCOL);
    m.header.scope = if r.gateway.is_some() {
        RouteScope::Universe
    } else {
        RouteScope::Link
    };
    m.header.kind = RouteType::Unicast;
    if r.prefix_len > 0 {
        m.attributes
            .push(RouteAttribute::Destination(RouteAddress::from(
                r.destination,
            )));
    }
    if let Some(gw) = r.gateway {
        m.attributes
            .push(RouteAttribute::Gateway(RouteAddress::from(gw)));
    }
    m.attributes.push(RouteAttribute::Oif(ifindex));
    m.attributes.push(RouteAttribute::Table(r.table));
    m
}

pub(crate) fn parse_rule(r: &RuleMessage) -> Option<RuleSpec> {
    let ipv6 = r.header.family == AddressFamily::Inet6;
    let mut spec = RuleSpec {
        ipv6,
        priority: 0,
        from: None,
        table: u32::from(r.header.table),
    };
    let mut owned = false;
    for attr in &r.attributes {
        match attr {
            RuleAttribute::Protocol(p) => owned = u8::from(*p) == OWNER_PROTOCOL,
            RuleAttribute::Priority(p) => spec.priority = *p,
            RuleAttribute::Source(ip) => spec.from = Some((*ip, r.header.src_len)),
            RuleAttribute::Table(t) => spec.table = *t,
            _ => {}
        }
    }
    owned.then_some(spec)
}

pub(crate) fn rule_message(r: &RuleSpec) -> RuleMessage {
    let mut m = RuleMessage::default();
    m.header.family = if r.ipv6 {
        AddressFamily::Inet6
    } else {
        AddressFamily::Inet
    };
    m.header.action = RuleAction::ToTable;
    m.header.table = u8::try_from(r.table).unwrap_or(0);
    if let Some((ip, len)) = r.from {
        m.header.src_len = len;
        m.attributes.push(RuleAttribute::Source(ip));
    }
    m.attributes.push(RuleAttribute::Priority(r.priority));
    m.attributes.push(RuleAttribute::Table(r.table));
    m.attributes
        .push(RuleAttribute::Protocol(RouteProtocol::from(OWNER_PROTOCOL)));
    m
}

//! The kernel side: links, addresses, routes and rules over rtnetlink. Reads return what the
//! kernel holds; writes carry ssinet's ownership marks.

use std::collections::BTreeSet;

use futures::StreamExt;
use rtnetlink::packet_core::{
    NLM_F_ACK, NLM_F_CREATE, NLM_F_DUMP, NLM_F_EXCL, NLM_F_REQUEST, NetlinkMessage, NetlinkPayload,
};
use rtnetlink::packet_route::address::{
    AddressAttribute, AddressFlags, AddressMessage, AddressProtocol,
};
use rtnetlink::packet_route::link::LinkMessage;
use rtnetlink::packet_route::route::{
    RouteAttribute, RouteHeader, RouteMessage, RouteProtocol, RouteType,
};
use rtnetlink::packet_route::rule::RuleMessage;
use rtnetlink::packet_route::{AddressFamily, RouteNetlinkMessage};

use crate::OWNER_PROTOCOL;
use crate::error::NetconfError;
use crate::frame::MacAddr;
use crate::messages::{
    address_message, parse_address, parse_link, parse_route, parse_rule, route_message,
    rule_message,
};
use crate::model::{OwnedAddress, RouteSpec, RuleSpec};

/// A network interface as the kernel reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Link {
    pub index: u32,
    pub name: String,
    pub mac: Option<MacAddr>,
    /// `IFF_LOWER_UP`: the link has carrier.
    pub carrier: bool,
}

/// An address as the kernel reports it, with what marks it carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ObservedAddress {
    pub address: OwnedAddress,
    pub label: Option<String>,
    pub protocol: Option<u8>,
}

/// What a route dump yields.
#[derive(Debug, Clone, Default)]
pub(crate) struct RouteDump {
    pub owned: Vec<RouteSpec>,
    /// The kernel's prefix routes in `main` (`proto kernel`, no gateway): the subnets an
    /// interface reaches directly.
    pub connected: Vec<RouteSpec>,
    pub tables_in_use: BTreeSet<u32>,
}

/// An rtnetlink connection. Its socket lives in the network namespace of the thread that called
/// [`Kernel::connect`].
#[derive(Debug, Clone)]
pub(crate) struct Kernel {
    handle: rtnetlink::Handle,
}

/// The errno a netlink failure carries, if it came from the kernel.
pub(crate) fn errno(error: &NetconfError) -> Option<i32> {
    match error {
        NetconfError::Netlink {
            source: rtnetlink::Error::NetlinkError(m),
            ..
        } => Some(m.raw_code().abs()),
        _ => None,
    }
}

impl Kernel {
    /// Opens the socket and spawns its connection task on the current tokio runtime.
    pub(crate) fn connect() -> Result<Self, NetconfError> {
        let (connection, handle, _) =
            rtnetlink::new_connection().map_err(NetconfError::NetlinkSocket)?;
        tokio::spawn(connection);
        Ok(Self { handle })
    }

    async fn dump(
        &self,
        what: &str,
        message: RouteNetlinkMessage,
    ) -> Result<Vec<RouteNetlinkMessage>, NetconfError> {
        let mut request = NetlinkMessage::from(message);
        request.header.flags = NLM_F_REQUEST | NLM_F_DUMP;
        let mut handle = self.handle.clone();
        let mut responses = handle
            .request(request)
            .map_err(|e| NetconfError::netlink(format!("dumping {what}"), e))?;
        let mut out = Vec::new();
        while let Some(message) = responses.next().await {
            match message.payload {
                NetlinkPayload::InnerMessage(inner) => out.push(inner),
                NetlinkPayload::Error(e) if e.code.is_some() => {
                    return Err(NetconfError::netlink(
                        format!("dumping {what}"),
                        rtnetlink::Error::NetlinkError(e),
                    ));
                }
                _ => {}
            }
        }
        Ok(out)
    }

    async fn ack(
        &self,
        what: String,
        message: RouteNetlinkMessage,
        extra_flags: u16,
    ) -> Result<(), NetconfError> {
        let mut request = NetlinkMessage::from(message);
        request.header.flags = NLM_F_REQUEST | NLM_F_ACK | extra_flags;
        let mut handle = self.handle.clone();
        let mut responses = handle
            .request(request)
            .map_err(|e| NetconfError::netlink(what.clone(), e))?;
        while let Some(message) = responses.next().await {
            if let NetlinkPayload::Error(e) = message.payload
                && e.code.is_some()
            {
                return Err(NetconfError::netlink(
                    what,
                    rtnetlink::Error::NetlinkError(e),
                ));
            }
        }
        Ok(())
    }

    pub(crate) async fn links(&self) -> Result<Vec<Link>, NetconfError> {
        let replies = self
            .dump(
                "links",
                RouteNetlinkMessage::GetLink(LinkMessage::default()),
            )
            .await?;
        Ok(replies
            .into_iter()
            .filter_map(|m| match m {
                RouteNetlinkMessage::NewLink(link) => Some(parse_link(&link)),
                _ => None,
            })
            .collect())
    }

    pub(crate) async fn addresses(
        &self,
        links: &[Link],
    ) -> Result<Vec<ObservedAddress>, NetconfError> {
        let replies = self
            .dump(
                "addresses",
                RouteNetlinkMessage::GetAddress(AddressMessage::default()),
            )
            .await?;
        Ok(replies
            .into_iter()
            .filter_map(|m| match m {
                RouteNetlinkMessage::NewAddress(a) => parse_address(&a, links),
                _ => None,
            })
            .collect())
    }

    pub(crate) async fn add_address(
        &self,
        a: &OwnedAddress,
        ifindex: u32,
    ) -> Result<(), NetconfError> {
        let mut m = address_message(a, ifindex);
        m.attributes
            .push(AddressAttribute::Protocol(AddressProtocol::from(
                OWNER_PROTOCOL,
            )));
        if a.addr.is_ipv6() {
            // A floating address must be usable at once, not after duplicate detection.
            m.attributes
                .push(AddressAttribute::Flags(AddressFlags::Nodad));
        }
        self.ack(
            format!("adding address {a}"),
            RouteNetlinkMessage::NewAddress(m),
            NLM_F_CREATE | NLM_F_EXCL,
        )
        .await
    }

    pub(crate) async fn del_address(
        &self,
        a: &OwnedAddress,
        ifindex: u32,
    ) -> Result<(), NetconfError> {
        let m = address_message(a, ifindex);
        self.ack(
            format!("removing address {a}"),
            RouteNetlinkMessage::DelAddress(m),
            0,
        )
        .await
    }

    /// Routes: ssinet's (by protocol mark, in every table), the kernel's connected routes in
    /// `main`, and every table any route uses.
    pub(crate) async fn routes(&self, links: &[Link]) -> Result<RouteDump, NetconfError> {
        let mut dump = RouteDump::default();
        for family in [AddressFamily::Inet, AddressFamily::Inet6] {
            let mut m = RouteMessage::default();
            m.header.address_family = family;
            for reply in self
                .dump("routes", RouteNetlinkMessage::GetRoute(m))
                .await?
            {
                let RouteNetlinkMessage::NewRoute(r) = reply else {
                    continue;
                };
                let Some(spec) = parse_route(&r, links) else {
                    continue;
                };
                dump.tables_in_use.insert(spec.table);
                if u8::from(r.header.protocol) == OWNER_PROTOCOL {
                    dump.owned.push(spec);
                } else if r.header.protocol == RouteProtocol::Kernel
                    && r.header.kind == RouteType::Unicast
                    && spec.table == u32::from(RouteHeader::RT_TABLE_MAIN)
                    && spec.gateway.is_none()
                    && spec.prefix_len > 0
                    && !spec.ifname.is_empty()
                {
                    dump.connected.push(spec);
                }
            }
        }
        Ok(dump)
    }

    pub(crate) async fn add_route(&self, r: &RouteSpec, ifindex: u32) -> Result<(), NetconfError> {
        let m = route_message(r, ifindex);
        self.ack(
            format!("adding route {r}"),
            RouteNetlinkMessage::NewRoute(m),
            NLM_F_CREATE | NLM_F_EXCL,
        )
        .await
    }

    pub(crate) async fn del_route(
        &self,
        r: &RouteSpec,
        ifindex: Option<u32>,
    ) -> Result<(), NetconfError> {
        let mut m = route_message(r, ifindex.unwrap_or(0));
        if ifindex.is_none() {
            m.attributes
                .retain(|a| !matches!(a, RouteAttribute::Oif(_)));
        }
        self.ack(
            format!("removing route {r}"),
            RouteNetlinkMessage::DelRoute(m),
            0,
        )
        .await
    }

    /// Rules carrying ssinet's protocol mark.
    pub(crate) async fn owned_rules(&self) -> Result<Vec<RuleSpec>, NetconfError> {
        let mut out = Vec::new();
        for family in [AddressFamily::Inet, AddressFamily::Inet6] {
            let mut m = RuleMessage::default();
            m.header.family = family;
            for reply in self.dump("rules", RouteNetlinkMessage::GetRule(m)).await? {
                if let RouteNetlinkMessage::NewRule(r) = reply
                    && let Some(spec) = parse_rule(&r)
                {
                    out.push(spec);
                }
            }
        }
        Ok(out)
    }

    pub(crate) async fn add_rule(&self, r: &RuleSpec) -> Result<(), NetconfError> {
        self.ack(
            format!("adding rule {r}"),
            RouteNetlinkMessage::NewRule(rule_message(r)),
            NLM_F_CREATE | NLM_F_EXCL,
        )
        .await
    }

    pub(crate) async fn del_rule(&self, r: &RuleSpec) -> Result<(), NetconfError> {
        self.ack(
            format!("removing rule {r}"),
            RouteNetlinkMessage::DelRule(rule_message(r)),
            0,
        )
        .await
    }
}

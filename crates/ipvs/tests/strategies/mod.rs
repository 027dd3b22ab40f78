//! proptest strategies for IPVS messages, shared by the codec and reconciler tests.
#![allow(dead_code)]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use proptest::prelude::*;
use ssinet_ipvs::*;

pub fn ip() -> impl Strategy<Value = IpAddr> {
    prop_oneof![
        any::<[u8; 4]>().prop_map(|o| IpAddr::V4(Ipv4Addr::from(o))),
        any::<[u8; 16]>().prop_map(|o| IpAddr::V6(Ipv6Addr::from(o))),
    ]
}

pub fn protocol() -> impl Strategy<Value = Protocol> {
    prop_oneof![
        Just(Protocol::Tcp),
        Just(Protocol::Udp),
        Just(Protocol::Sctp),
        any::<u16>()
            .prop_filter("not a named protocol", |n| ![6, 17, 132].contains(n))
            .prop_map(Protocol::Other),
    ]
}

pub fn family() -> impl Strategy<Value = Family> {
    prop_oneof![Just(Family::Ipv4), Just(Family::Ipv6)]
}

pub fn service_key() -> impl Strategy<Value = ServiceKey> {
    prop_oneof![
        (protocol(), ip(), any::<u16>()).prop_map(|(protocol, addr, port)| ServiceKey::Inet {
            protocol,
            addr,
            port
        }),
        (family(), 1u32..).prop_map(|(family, mark)| ServiceKey::Fwmark { family, mark }),
    ]
}

pub fn scheduler() -> impl Strategy<Value = Scheduler> {
    let known = Scheduler::all_known();
    prop_oneof![
        proptest::sample::select(known),
        "[a-z]{5,15}".prop_map(|n| Scheduler::from_name(&n)),
    ]
}

pub fn service() -> impl Strategy<Value = Service> {
    (
        service_key(),
        scheduler(),
        any::<u32>(),
        any::<u32>(),
        any::<u32>(),
        proptest::option::of("[a-z]{1,15}"),
    )
        .prop_map(|(key, scheduler, flags, timeout, netmask, pe)| Service {
            key,
            scheduler,
            flags: ServiceFlags(flags),
            timeout,
            netmask,
            persistence_engine: pe,
        })
}

pub fn tunnel() -> impl Strategy<Value = TunnelEncap> {
    prop_oneof![
        Just(TunnelEncap::Ipip),
        (any::<u16>(), any::<u16>()).prop_map(|(port, f)| TunnelEncap::Gue {
            port,
            flags: TunnelFlags(f)
        }),
        any::<u16>().prop_map(|f| TunnelEncap::Gre {
            flags: TunnelFlags(f)
        }),
    ]
}

pub fn forwarding() -> impl Strategy<Value = Forwarding> {
    prop_oneof![
        Just(Forwarding::Masquerade),
        Just(Forwarding::Local),
        Just(Forwarding::DirectRoute),
        tunnel().prop_map(Forwarding::Tunnel),
    ]
}

pub fn destination() -> impl Strategy<Value = Destination> {
    (
        ip(),
        any::<u16>(),
        forwarding(),
        any::<u32>(),
        any::<u32>(),
        any::<u32>(),
    )
        .prop_map(|(addr, port, forwarding, weight, u, l)| Destination {
            addr,
            port,
            forwarding,
            weight,
            upper_threshold: u,
            lower_threshold: l,
        })
}

pub fn stats() -> impl Strategy<Value = Stats> {
    proptest::array::uniform10(any::<u64>()).prop_map(|v| Stats {
        connections: v[0],
        packets_in: v[1],
        packets_out: v[2],
        bytes_in: v[3],
        bytes_out: v[4],
        connections_per_second: v[5],
        packets_in_per_second: v[6],
        packets_out_per_second: v[7],
        bytes_in_per_second: v[8],
        bytes_out_per_second: v[9],
    })
}

pub fn counters() -> impl Strategy<Value = Counters> {
    (
        proptest::option::of(stats().prop_map(Stats::truncated_to_32)),
        proptest::option::of(stats()),
    )
        .prop_map(|(stats32, stats64)| Counters { stats32, stats64 })
}

pub fn dest_status() -> impl Strategy<Value = DestStatus> {
    (any::<u32>(), any::<u32>(), any::<u32>(), counters()).prop_map(|(a, i, p, counters)| {
        DestStatus {
            active_connections: a,
            inactive_connections: i,
            persistent_connections: p,
            counters,
        }
    })
}

pub fn role() -> impl Strategy<Value = DaemonRole> {
    prop_oneof![Just(DaemonRole::Master), Just(DaemonRole::Backup)]
}

pub fn daemon() -> impl Strategy<Value = SyncDaemon> {
    (
        role(),
        "[a-z0-9]{1,15}",
        any::<u32>(),
        proptest::option::of(any::<u16>()),
        proptest::option::of(ip()),
        proptest::option::of(any::<u16>()),
        proptest::option::of(any::<u8>()),
    )
        .prop_map(
            |(role, interface, sync_id, max_len, group, port, ttl)| SyncDaemon {
                role,
                interface,
                sync_id,
                max_len,
                group,
                port,
                ttl,
            },
        )
}

pub fn timeouts() -> impl Strategy<Value = Timeouts> {
    (
        proptest::option::of(any::<u32>()),
        proptest::option::of(any::<u32>()),
        proptest::option::of(any::<u32>()),
    )
        .prop_map(|(tcp, tcp_fin, udp)| Timeouts { tcp, tcp_fin, udp })
}

pub fn message() -> impl Strategy<Value = IpvsMessage> {
    prop_oneof![
        (service(), counters())
            .prop_map(|(service, counters)| IpvsMessage::NewService { service, counters }),
        service().prop_map(IpvsMessage::SetService),
        service_key().prop_map(IpvsMessage::DelService),
        proptest::option::of(service_key()).prop_map(IpvsMessage::GetService),
        (
            proptest::option::of(service()),
            destination(),
            proptest::option::of(dest_status())
        )
            .prop_map(|(service, dest, status)| IpvsMessage::NewDest {
                service,
                dest,
                status
            }),
        (service(), destination())
            .prop_map(|(service, dest)| IpvsMessage::SetDest { service, dest }),
        (service_key(), destination()).prop_map(|(service, d)| IpvsMessage::DelDest {
            service,
            dest: d.key()
        }),
        service_key().prop_map(IpvsMessage::GetDest),
        daemon().prop_map(IpvsMessage::NewDaemon),
        (role(), proptest::option::of(any::<u32>()))
            .prop_map(|(role, sync_id)| IpvsMessage::DelDaemon(DaemonStop { role, sync_id })),
        Just(IpvsMessage::GetDaemon),
        timeouts().prop_map(IpvsMessage::SetConfig),
        Just(IpvsMessage::GetConfig),
        (any::<u32>(), any::<u32>()).prop_map(|(version, conn_table_size)| IpvsMessage::SetInfo(
            Info {
                version,
                conn_table_size
            }
        )),
        Just(IpvsMessage::GetInfo),
        proptest::option::of(service_key()).prop_map(IpvsMessage::Zero),
        Just(IpvsMessage::Flush),
    ]
}

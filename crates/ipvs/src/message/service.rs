//! Virtual services (`IPVS_CMD_ATTR_SERVICE`).

use std::fmt;
use std::net::IpAddr;

use super::nla::{AF_INET, AF_INET6, Nla, NlaWriter, attrs, inet_addr, u16_constant};
use super::scheduler::{Scheduler, ServiceFlags};
use super::stats::{Counters, Stats};
use crate::error::DecodeError;

/// The IP protocol numbers as the service nest carries them (a u16).
const IPPROTO_TCP: u16 = u16_constant(libc::IPPROTO_TCP);
const IPPROTO_UDP: u16 = u16_constant(libc::IPPROTO_UDP);
const IPPROTO_SCTP: u16 = u16_constant(libc::IPPROTO_SCTP);

const AF: u16 = 1;
const PROTOCOL: u16 = 2;
const ADDR: u16 = 3;
const PORT: u16 = 4;
const FWMARK: u16 = 5;
const SCHED_NAME: u16 = 6;
const FLAGS: u16 = 7;
const TIMEOUT: u16 = 8;
const NETMASK: u16 = 9;
const STATS: u16 = 10;
const PE_NAME: u16 = 11;
const STATS64: u16 = 12;

/// Address family of a service or destination.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Family {
    Ipv4,
    Ipv6,
}

impl Family {
    pub(crate) fn to_af(self) -> u16 {
        match self {
            Family::Ipv4 => AF_INET,
            Family::Ipv6 => AF_INET6,
        }
    }

    pub(crate) fn from_af(af: u16) -> Result<Family, DecodeError> {
        match af {
            AF_INET => Ok(Family::Ipv4),
            AF_INET6 => Ok(Family::Ipv6),
            other => Err(DecodeError::UnknownFamily(other)),
        }
    }

    pub fn of(addr: IpAddr) -> Family {
        match addr {
            IpAddr::V4(_) => Family::Ipv4,
            IpAddr::V6(_) => Family::Ipv6,
        }
    }
}

/// Transport protocol of a service (the kernel balances TCP, UDP and SCTP).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Protocol {
    Tcp,
    Udp,
    Sctp,
    /// Another IP protocol number, as a foreign tool may have configured.
    Other(u16),
}

impl Protocol {
    pub fn number(self) -> u16 {
        match self {
            Protocol::Tcp => IPPROTO_TCP,
            Protocol::Udp => IPPROTO_UDP,
            Protocol::Sctp => IPPROTO_SCTP,
            Protocol::Other(n) => n,
        }
    }

    pub fn from_number(n: u16) -> Protocol {
        match i32::from(n) {
            libc::IPPROTO_TCP => Protocol::Tcp,
            libc::IPPROTO_UDP => Protocol::Udp,
            libc::IPPROTO_SCTP => Protocol::Sctp,
            _ => Protocol::Other(n),
        }
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Protocol::Tcp => f.write_str("TCP"),
            Protocol::Udp => f.write_str("UDP"),
            Protocol::Sctp => f.write_str("SCTP"),
            Protocol::Other(n) => write!(f, "proto {n}"),
        }
    }
}

/// What identifies a service in the kernel's table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ServiceKey {
    /// A virtual address, protocol and port (`ipvsadm -t/-u/--sctp-service`).
    Inet {
        protocol: Protocol,
        addr: IpAddr,
        port: u16,
    },
    /// A firewall mark (`ipvsadm -f`); packets carry it from an nftables/iptables rule.
    Fwmark { family: Family, mark: u32 },
}

impl ServiceKey {
    pub fn tcp(addr: IpAddr, port: u16) -> ServiceKey {
        ServiceKey::Inet {
            protocol: Protocol::Tcp,
            addr,
            port,
        }
    }

    pub fn udp(addr: IpAddr, port: u16) -> ServiceKey {
        ServiceKey::Inet {
            protocol: Protocol::Udp,
            addr,
            port,
        }
    }

    pub fn family(&self) -> Family {
        match self {
            ServiceKey::Inet { addr, .. } => Family::of(*addr),
            ServiceKey::Fwmark { family, .. } => *family,
        }
    }

    pub(crate) fn emit(&self, w: &mut NlaWriter) {
        w.u16(AF, self.family().to_af());
        match self {
            ServiceKey::Fwmark { mark, .. } => w.u32(FWMARK, *mark),
            ServiceKey::Inet {
                protocol,
                addr,
                port,
            } => {
                w.u16(PROTOCOL, protocol.number());
                w.inet_addr(ADDR, *addr);
                w.u16_be(PORT, *port);
            }
        }
    }
}

impl fmt::Display for ServiceKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ServiceKey::Inet {
                protocol,
                addr: IpAddr::V6(a),
                port,
            } => write!(f, "{protocol} [{a}]:{port}"),
            ServiceKey::Inet {
                protocol,
                addr,
                port,
            } => write!(f, "{protocol} {addr}:{port}"),
            ServiceKey::Fwmark { family, mark } => {
                let fam = match family {
                    Family::Ipv4 => "IPv4",
                    Family::Ipv6 => "IPv6",
                };
                write!(f, "FWM {mark} {fam}")
            }
        }
    }
}

/// A virtual service and its configuration.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Service {
    pub key: ServiceKey,
    pub scheduler: Scheduler,
    pub flags: ServiceFlags,
    /// Persistence timeout in seconds (meaningful with [`ServiceFlags::PERSISTENT`]).
    pub timeout: u32,
    /// Persistence granularity as the kernel stores it: for IPv4 the mask as a big-endian number
    /// (`0xffff_ffff` is /32), for IPv6 the prefix length (128). Use [`Service::with_persistence`].
    pub netmask: u32,
    /// Persistence engine (`--pe sip`).
    pub persistence_engine: Option<String>,
}

impl Service {
    /// A service with the given scheduler, no persistence.
    pub fn new(key: ServiceKey, scheduler: Scheduler) -> Service {
        Service {
            netmask: Self::full_netmask(key.family()),
            key,
            scheduler,
            flags: ServiceFlags::default(),
            timeout: 0,
            persistence_engine: None,
        }
    }

    fn full_netmask(family: Family) -> u32 {
        match family {
            Family::Ipv4 => u32::MAX,
            Family::Ipv6 => 128,
        }
    }

    /// Persistent service: clients from the same `prefix`-long network stick to one destination
    /// for `timeout_secs` after their last connection.
    pub fn with_persistence(mut self, timeout_secs: u32, prefix: u8) -> Service {
        self.flags = self.flags | ServiceFlags::PERSISTENT;
        self.timeout = timeout_secs;
        self.netmask = match self.key.family() {
            Family::Ipv4 => match prefix.min(32) {
                0 => 0,
                p => u32::MAX << (32 - u32::from(p)),
            },
            Family::Ipv6 => u32::from(prefix.min(128)),
        };
        self
    }

    pub fn with_flags(mut self, flags: ServiceFlags) -> Service {
        self.flags = self.flags | flags;
        self
    }

    /// Whether two services configure the kernel the same way.
    pub fn same_config(&self, other: &Service) -> bool {
        self.key == other.key
            && self.scheduler == other.scheduler
            && self.flags.configured() == other.flags.configured()
            && self.timeout == other.timeout
            && self.netmask == other.netmask
            && self.persistence_engine == other.persistence_engine
    }

    pub(crate) fn emit(&self, w: &mut NlaWriter) {
        self.key.emit(w);
        w.string(SCHED_NAME, self.scheduler.name());
        if let Some(pe) = &self.persistence_engine {
            w.string(PE_NAME, pe);
        }
        let mut flags = [0u8; 8];
        flags[..4].copy_from_slice(&self.flags.0.to_ne_bytes());
        flags[4..].copy_from_slice(&u32::MAX.to_ne_bytes());
        w.bytes(FLAGS, &flags);
        w.u32(TIMEOUT, self.timeout);
        match self.key.family() {
            Family::Ipv4 => w.bytes(NETMASK, &self.netmask.to_be_bytes()),
            Family::Ipv6 => w.u32(NETMASK, self.netmask),
        }
    }
}

/// A service attribute nest as read, before deciding whether it is a key or a full service.
#[derive(Default)]
pub(crate) struct ServiceAttrs {
    af: Option<u16>,
    protocol: Option<u16>,
    addr: Option<[u8; 16]>,
    port: Option<u16>,
    fwmark: Option<u32>,
    sched: Option<String>,
    flags: Option<u32>,
    timeout: Option<u32>,
    netmask: Option<[u8; 4]>,
    pe: Option<String>,
    pub(crate) counters: Counters,
}

impl ServiceAttrs {
    pub(crate) fn parse(nest: Nla<'_>) -> Result<ServiceAttrs, DecodeError> {
        let mut s = ServiceAttrs::default();
        for a in attrs(nest.value) {
            let a = a?;
            match a.kind {
                AF => s.af = Some(a.u16("service address family")?),
                PROTOCOL => s.protocol = Some(a.u16("service protocol")?),
                ADDR => s.addr = Some(a.addr16("service address")?),
                PORT => s.port = Some(a.u16_be("service port")?),
                FWMARK => s.fwmark = Some(a.u32("service fwmark")?),
                SCHED_NAME => s.sched = Some(a.string("scheduler name")?),
                FLAGS => s.flags = Some(a.u32("service flags")?),
                TIMEOUT => s.timeout = Some(a.u32("service timeout")?),
                NETMASK => s.netmask = Some(a.raw4("service netmask")?),
                PE_NAME => s.pe = Some(a.string("persistence engine name")?),
                STATS => s.counters.stats32 = Some(Stats::parse(a, false)?),
                STATS64 => s.counters.stats64 = Some(Stats::parse(a, true)?),
                _ => {}
            }
        }
        Ok(s)
    }

    pub(crate) fn key(&self) -> Result<ServiceKey, DecodeError> {
        let missing = |attribute| DecodeError::Missing {
            object: "service",
            attribute,
        };
        let family = Family::from_af(self.af.ok_or(missing("AF"))?)?;
        // The kernel treats a non-zero fwmark as the identity, as ip_vs_genl_parse_service does.
        if let Some(mark) = self.fwmark {
            return Ok(ServiceKey::Fwmark { family, mark });
        }
        let addr = inet_addr(family.to_af(), self.addr.ok_or(missing("ADDR"))?)?;
        Ok(ServiceKey::Inet {
            protocol: Protocol::from_number(self.protocol.ok_or(missing("PROTOCOL"))?),
            addr,
            port: self.port.ok_or(missing("PORT"))?,
        })
    }

    pub(crate) fn service(&self) -> Result<Service, DecodeError> {
        let missing = |attribute| DecodeError::Missing {
            object: "service",
            attribute,
        };
        let key = self.key()?;
        let raw_mask = self.netmask.ok_or(missing("NETMASK"))?;
        let netmask = match key.family() {
            Family::Ipv4 => u32::from_be_bytes(raw_mask),
            Family::Ipv6 => u32::from_ne_bytes(raw_mask),
        };
        Ok(Service {
            key,
            scheduler: Scheduler::from_name(self.sched.as_deref().ok_or(missing("SCHED_NAME"))?),
            flags: ServiceFlags(self.flags.ok_or(missing("FLAGS"))?),
            timeout: self.timeout.ok_or(missing("TIMEOUT"))?,
            netmask,
            persistence_engine: self.pe.clone(),
        })
    }
}

pub(crate) fn emit_key_or_service(w: &mut NlaWriter, kind: u16, key: &ServiceKey) {
    w.nested(kind, |w| key.emit(w));
}

pub(crate) fn emit_service(
    w: &mut NlaWriter,
    kind: u16,
    svc: &Service,
    counters: Option<&Counters>,
) {
    w.nested(kind, |w| {
        svc.emit(w);
        if let Some(c) = counters {
            if let Some(s) = &c.stats32 {
                w.nested(STATS, |w| s.emit(w, false));
            }
            if let Some(s) = &c.stats64 {
                w.nested(STATS64, |w| s.emit(w, true));
            }
        }
    });
}

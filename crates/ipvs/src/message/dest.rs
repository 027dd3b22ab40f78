//! Real servers of a service (`IPVS_CMD_ATTR_DEST`).

use std::fmt;
use std::net::IpAddr;

use super::nla::{Nla, NlaWriter, attrs, family_of, inet_addr};
use super::stats::{Counters, Stats};
use crate::error::DecodeError;

const ADDR: u16 = 1;
const PORT: u16 = 2;
const FWD_METHOD: u16 = 3;
const WEIGHT: u16 = 4;
const U_THRESH: u16 = 5;
const L_THRESH: u16 = 6;
const ACTIVE_CONNS: u16 = 7;
const INACT_CONNS: u16 = 8;
const PERSIST_CONNS: u16 = 9;
const STATS: u16 = 10;
const ADDR_FAMILY: u16 = 11;
const STATS64: u16 = 12;
const TUN_TYPE: u16 = 13;
const TUN_PORT: u16 = 14;
const TUN_FLAGS: u16 = 15;

const FWD_MASQ: u32 = 0;
const FWD_LOCALNODE: u32 = 1;
const FWD_TUNNEL: u32 = 2;
const FWD_DROUTE: u32 = 3;

const TUN_IPIP: u8 = 0;
const TUN_GUE: u8 = 1;
const TUN_GRE: u8 = 2;

/// `IP_VS_TUNNEL_ENCAP_FLAG_*`: checksum handling of GUE and GRE encapsulation.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct TunnelFlags(pub u16);

impl TunnelFlags {
    pub const NO_CSUM: TunnelFlags = TunnelFlags(0);
    pub const CSUM: TunnelFlags = TunnelFlags(1);
    pub const REMOTE_CSUM: TunnelFlags = TunnelFlags(2);
}

/// Encapsulation of tunnelled forwarding (`ipvsadm -i --tun-type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TunnelEncap {
    Ipip,
    /// Generic UDP Encapsulation to the given UDP port.
    Gue {
        port: u16,
        flags: TunnelFlags,
    },
    Gre {
        flags: TunnelFlags,
    },
}

/// How packets reach a real server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Forwarding {
    /// NAT (`-m`): the director rewrites the destination; replies must route back through it.
    Masquerade,
    /// Delivered to a local socket on the director.
    Local,
    /// IP-in-IP, GUE or GRE tunnel (`-i`).
    Tunnel(TunnelEncap),
    /// Direct routing (`-g`): the frame is sent to the real server's MAC unchanged; the real
    /// server holds the virtual address on `lo`.
    DirectRoute,
}

impl Forwarding {
    fn method(&self) -> u32 {
        match self {
            Forwarding::Masquerade => FWD_MASQ,
            Forwarding::Local => FWD_LOCALNODE,
            Forwarding::Tunnel(_) => FWD_TUNNEL,
            Forwarding::DirectRoute => FWD_DROUTE,
        }
    }
}

/// What identifies a destination within its service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DestKey {
    pub addr: IpAddr,
    pub port: u16,
}

impl fmt::Display for DestKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.addr {
            IpAddr::V6(a) => write!(f, "[{a}]:{}", self.port),
            IpAddr::V4(a) => write!(f, "{a}:{}", self.port),
        }
    }
}

/// A real server and its configuration.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Destination {
    pub addr: IpAddr,
    pub port: u16,
    pub forwarding: Forwarding,
    /// 0 drains: no new connections, established ones continue. At most `i32::MAX`.
    pub weight: u32,
    /// Upper connection threshold (0 = none).
    pub upper_threshold: u32,
    /// Lower connection threshold (0 = none).
    pub lower_threshold: u32,
}

impl Destination {
    pub fn new(addr: IpAddr, port: u16, forwarding: Forwarding, weight: u32) -> Destination {
        Destination {
            addr,
            port,
            forwarding,
            weight,
            upper_threshold: 0,
            lower_threshold: 0,
        }
    }

    pub fn key(&self) -> DestKey {
        DestKey {
            addr: self.addr,
            port: self.port,
        }
    }

    pub(crate) fn emit(&self, w: &mut NlaWriter) {
        w.u16(ADDR_FAMILY, family_of(self.addr));
        w.inet_addr(ADDR, self.addr);
        w.u16_be(PORT, self.port);
        w.u32(FWD_METHOD, self.forwarding.method());
        w.u32(WEIGHT, self.weight);
        // Like ipvsadm 1.31, always send the tunnel attributes (zero unless tunnelling); kernels
        // before 5.2 ignore attributes they do not know.
        let (tun_type, tun_port, tun_flags) = match self.forwarding {
            Forwarding::Tunnel(TunnelEncap::Ipip) => (TUN_IPIP, 0, 0),
            Forwarding::Tunnel(TunnelEncap::Gue { port, flags }) => (TUN_GUE, port, flags.0),
            Forwarding::Tunnel(TunnelEncap::Gre { flags }) => (TUN_GRE, 0, flags.0),
            _ => (TUN_IPIP, 0, 0),
        };
        w.u8(TUN_TYPE, tun_type);
        w.u16_be(TUN_PORT, tun_port);
        w.u16(TUN_FLAGS, tun_flags);
        w.u32(U_THRESH, self.upper_threshold);
        w.u32(L_THRESH, self.lower_threshold);
    }
}

/// A destination as the kernel lists it: configuration, connection counts and traffic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DestinationEntry {
    pub dest: Destination,
    pub active_connections: u32,
    pub inactive_connections: u32,
    pub persistent_connections: u32,
    pub counters: Counters,
}

/// A destination nest as read.
#[derive(Default)]
pub(crate) struct DestAttrs {
    af: Option<u16>,
    addr: Option<[u8; 16]>,
    port: Option<u16>,
    fwd: Option<u32>,
    weight: Option<u32>,
    u_thresh: Option<u32>,
    l_thresh: Option<u32>,
    active: Option<u32>,
    inactive: Option<u32>,
    persistent: Option<u32>,
    tun_type: Option<u8>,
    tun_port: Option<u16>,
    tun_flags: Option<u16>,
    counters: Counters,
}

impl DestAttrs {
    pub(crate) fn parse(nest: Nla<'_>) -> Result<DestAttrs, DecodeError> {
        let mut d = DestAttrs::default();
        for a in attrs(nest.value) {
            let a = a?;
            match a.kind {
                ADDR => d.addr = Some(a.addr16("destination address")?),
                PORT => d.port = Some(a.u16_be("destination port")?),
                FWD_METHOD => d.fwd = Some(a.u32("forwarding method")?),
                WEIGHT => d.weight = Some(a.u32("weight")?),
                U_THRESH => d.u_thresh = Some(a.u32("upper threshold")?),
                L_THRESH => d.l_thresh = Some(a.u32("lower threshold")?),
                ACTIVE_CONNS => d.active = Some(a.u32("active connections")?),
                INACT_CONNS => d.inactive = Some(a.u32("inactive connections")?),
                PERSIST_CONNS => d.persistent = Some(a.u32("persistent connections")?),
                STATS => d.counters.stats32 = Some(Stats::parse(a, false)?),
                ADDR_FAMILY => d.af = Some(a.u16("destination address family")?),
                STATS64 => d.counters.stats64 = Some(Stats::parse(a, true)?),
                TUN_TYPE => d.tun_type = Some(a.u8("tunnel type")?),
                TUN_PORT => d.tun_port = Some(a.u16_be("tunnel port")?),
                TUN_FLAGS => d.tun_flags = Some(a.u16("tunnel flags")?),
                _ => {}
            }
        }
        Ok(d)
    }

    fn missing(attribute: &'static str) -> DecodeError {
        DecodeError::Missing {
            object: "destination",
            attribute,
        }
    }

    /// `default_af` is the service's family, used when the kernel omits the destination's.
    pub(crate) fn key(&self, default_af: u16) -> Result<DestKey, DecodeError> {
        let af = self.af.unwrap_or(default_af);
        Ok(DestKey {
            addr: inet_addr(af, self.addr.ok_or(Self::missing("ADDR"))?)?,
            port: self.port.ok_or(Self::missing("PORT"))?,
        })
    }

    pub(crate) fn destination(&self, default_af: u16) -> Result<Destination, DecodeError> {
        let key = self.key(default_af)?;
        let flags = TunnelFlags(self.tun_flags.unwrap_or(0));
        let forwarding = match self.fwd.ok_or(Self::missing("FWD_METHOD"))? {
            FWD_MASQ => Forwarding::Masquerade,
            FWD_LOCALNODE => Forwarding::Local,
            FWD_DROUTE => Forwarding::DirectRoute,
            FWD_TUNNEL => Forwarding::Tunnel(match self.tun_type.unwrap_or(TUN_IPIP) {
                TUN_IPIP => TunnelEncap::Ipip,
                TUN_GUE => TunnelEncap::Gue {
                    port: self.tun_port.unwrap_or(0),
                    flags,
                },
                TUN_GRE => TunnelEncap::Gre { flags },
                other => {
                    return Err(DecodeError::UnknownValue {
                        what: "tunnel type",
                        value: u32::from(other),
                    });
                }
            }),
            other => {
                return Err(DecodeError::UnknownValue {
                    what: "forwarding method",
                    value: other,
                });
            }
        };
        Ok(Destination {
            addr: key.addr,
            port: key.port,
            forwarding,
            weight: self.weight.ok_or(Self::missing("WEIGHT"))?,
            upper_threshold: self.u_thresh.ok_or(Self::missing("U_THRESH"))?,
            lower_threshold: self.l_thresh.ok_or(Self::missing("L_THRESH"))?,
        })
    }

    pub(crate) fn entry(&self, default_af: u16) -> Result<DestinationEntry, DecodeError> {
        Ok(DestinationEntry {
            dest: self.destination(default_af)?,
            active_connections: self.active.unwrap_or(0),
            inactive_connections: self.inactive.unwrap_or(0),
            persistent_connections: self.persistent.unwrap_or(0),
            counters: self.counters,
        })
    }

    /// Whether the kernel's connection counts are present (a listing, not a request).
    pub(crate) fn has_status(&self) -> bool {
        self.active.is_some()
    }
}

pub(crate) fn emit_dest_key(w: &mut NlaWriter, kind: u16, key: &DestKey) {
    w.nested(kind, |w| {
        w.u16(ADDR_FAMILY, family_of(key.addr));
        w.inet_addr(ADDR, key.addr);
        w.u16_be(PORT, key.port);
    });
}

pub(crate) fn emit_entry(w: &mut NlaWriter, kind: u16, e: &DestinationEntry) {
    w.nested(kind, |w| {
        e.dest.emit(w);
        w.u32(ACTIVE_CONNS, e.active_connections);
        w.u32(INACT_CONNS, e.inactive_connections);
        w.u32(PERSIST_CONNS, e.persistent_connections);
        if let Some(s) = &e.counters.stats32 {
            w.nested(STATS, |w| s.emit(w, false));
        }
        if let Some(s) = &e.counters.stats64 {
            w.nested(STATS64, |w| s.emit(w, true));
        }
    });
}

pub(crate) fn emit_dest(w: &mut NlaWriter, kind: u16, d: &Destination) {
    w.nested(kind, |w| d.emit(w));
}

//! The connection synchronisation daemon (`IPVS_CMD_ATTR_DAEMON`): the master multicasts
//! connection state, a backup director learns it, so established flows survive a failover.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::nla::{Nla, NlaWriter, attrs};
use crate::error::DecodeError;

const STATE: u16 = 1;
const MCAST_IFN: u16 = 2;
const SYNC_ID: u16 = 3;
const SYNC_MAXLEN: u16 = 4;
const MCAST_GROUP: u16 = 5;
const MCAST_GROUP6: u16 = 6;
const MCAST_PORT: u16 = 7;
const MCAST_TTL: u16 = 8;

const STATE_MASTER: u32 = 1;
const STATE_BACKUP: u32 = 2;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DaemonRole {
    Master,
    Backup,
}

impl DaemonRole {
    fn state(self) -> u32 {
        match self {
            DaemonRole::Master => STATE_MASTER,
            DaemonRole::Backup => STATE_BACKUP,
        }
    }

    fn from_state(state: u32) -> Result<DaemonRole, DecodeError> {
        match state {
            STATE_MASTER => Ok(DaemonRole::Master),
            STATE_BACKUP => Ok(DaemonRole::Backup),
            value => Err(DecodeError::UnknownValue {
                what: "sync daemon state",
                value,
            }),
        }
    }
}

/// A sync daemon. Optional fields left `None` take the kernel's defaults (multicast group
/// 224.0.0.81, port 8848, TTL 1, maximum packet length from the interface MTU); the kernel
/// always reports them.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SyncDaemon {
    pub role: DaemonRole,
    /// The interface the sync messages go out of (master) or come in on (backup).
    pub interface: String,
    /// Directors only accept sync messages carrying their own id (0-255).
    pub sync_id: u32,
    pub max_len: Option<u16>,
    pub group: Option<IpAddr>,
    pub port: Option<u16>,
    pub ttl: Option<u8>,
}

impl SyncDaemon {
    pub fn new(role: DaemonRole, interface: &str, sync_id: u32) -> SyncDaemon {
        SyncDaemon {
            role,
            interface: interface.to_owned(),
            sync_id,
            max_len: None,
            group: None,
            port: None,
            ttl: None,
        }
    }

    pub(crate) fn emit(&self, w: &mut NlaWriter) {
        w.u32(STATE, self.role.state());
        w.string(MCAST_IFN, &self.interface);
        w.u32(SYNC_ID, self.sync_id);
        if let Some(v) = self.max_len {
            w.u16(SYNC_MAXLEN, v);
        }
        if let Some(v) = self.port {
            w.u16(MCAST_PORT, v);
        }
        if let Some(v) = self.ttl {
            w.u8(MCAST_TTL, v);
        }
        match self.group {
            Some(IpAddr::V6(g)) => w.bytes(MCAST_GROUP6, &g.octets()),
            Some(IpAddr::V4(g)) => w.bytes(MCAST_GROUP, &g.octets()),
            None => {}
        }
    }
}

/// Which daemon to stop; ipvsadm also sends the sync id, the kernel only needs the role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DaemonStop {
    pub role: DaemonRole,
    pub sync_id: Option<u32>,
}

impl DaemonStop {
    pub(crate) fn emit(&self, w: &mut NlaWriter) {
        w.u32(STATE, self.role.state());
        if let Some(id) = self.sync_id {
            w.u32(SYNC_ID, id);
        }
    }
}

#[derive(Default)]
pub(crate) struct DaemonAttrs {
    state: Option<u32>,
    ifn: Option<String>,
    sync_id: Option<u32>,
    max_len: Option<u16>,
    group: Option<IpAddr>,
    port: Option<u16>,
    ttl: Option<u8>,
}

impl DaemonAttrs {
    pub(crate) fn parse(nest: Nla<'_>) -> Result<DaemonAttrs, DecodeError> {
        let mut d = DaemonAttrs::default();
        for a in attrs(nest.value) {
            let a = a?;
            match a.kind {
                STATE => d.state = Some(a.u32("daemon state")?),
                MCAST_IFN => d.ifn = Some(a.string("daemon interface")?),
                SYNC_ID => d.sync_id = Some(a.u32("sync id")?),
                SYNC_MAXLEN => d.max_len = Some(a.u16("sync max length")?),
                MCAST_GROUP => d.group = Some(IpAddr::V4(Ipv4Addr::from(a.raw4("group")?))),
                MCAST_GROUP6 => d.group = Some(IpAddr::V6(Ipv6Addr::from(a.addr16("group6")?))),
                MCAST_PORT => d.port = Some(a.u16("multicast port")?),
                MCAST_TTL => d.ttl = Some(a.u8("multicast TTL")?),
                _ => {}
            }
        }
        Ok(d)
    }

    fn role(&self) -> Result<DaemonRole, DecodeError> {
        DaemonRole::from_state(self.state.ok_or(DecodeError::Missing {
            object: "sync daemon",
            attribute: "STATE",
        })?)
    }

    pub(crate) fn stop(&self) -> Result<DaemonStop, DecodeError> {
        Ok(DaemonStop {
            role: self.role()?,
            sync_id: self.sync_id,
        })
    }

    pub(crate) fn daemon(&self) -> Result<SyncDaemon, DecodeError> {
        let missing = |attribute| DecodeError::Missing {
            object: "sync daemon",
            attribute,
        };
        Ok(SyncDaemon {
            role: self.role()?,
            interface: self.ifn.clone().ok_or(missing("MCAST_IFN"))?,
            sync_id: self.sync_id.ok_or(missing("SYNC_ID"))?,
            max_len: self.max_len,
            group: self.group,
            port: self.port,
            ttl: self.ttl,
        })
    }
}

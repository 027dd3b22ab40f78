//! Connection timeouts (`ipvsadm --set`) and module information.

use super::nla::{Nla, NlaWriter};
use crate::error::DecodeError;

pub(crate) const TIMEOUT_TCP: u16 = 4;
pub(crate) const TIMEOUT_TCP_FIN: u16 = 5;
pub(crate) const TIMEOUT_UDP: u16 = 6;

const INFO_VERSION: u16 = 1;
const INFO_CONN_TAB_SIZE: u16 = 2;

/// Connection timeouts in seconds. In a change, `None` (or 0) keeps the kernel's value.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Timeouts {
    pub tcp: Option<u32>,
    pub tcp_fin: Option<u32>,
    pub udp: Option<u32>,
}

impl Timeouts {
    pub(crate) fn emit(&self, w: &mut NlaWriter) {
        if let Some(v) = self.tcp {
            w.u32(TIMEOUT_TCP, v);
        }
        if let Some(v) = self.tcp_fin {
            w.u32(TIMEOUT_TCP_FIN, v);
        }
        if let Some(v) = self.udp {
            w.u32(TIMEOUT_UDP, v);
        }
    }

    /// Returns whether the attribute was a timeout.
    pub(crate) fn absorb(&mut self, a: Nla<'_>) -> Result<bool, DecodeError> {
        match a.kind {
            TIMEOUT_TCP => self.tcp = Some(a.u32("TCP timeout")?),
            TIMEOUT_TCP_FIN => self.tcp_fin = Some(a.u32("TCP FIN timeout")?),
            TIMEOUT_UDP => self.udp = Some(a.u32("UDP timeout")?),
            _ => return Ok(false),
        }
        Ok(true)
    }
}

/// `IPVS_CMD_GET_INFO`: module version and connection hash table size.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Info {
    /// `0x010201` is 1.2.1.
    pub version: u32,
    pub conn_table_size: u32,
}

impl Info {
    /// The version as ipvsadm prints it.
    pub fn version_string(&self) -> String {
        format!(
            "{}.{}.{}",
            (self.version >> 16) & 0xff,
            (self.version >> 8) & 0xff,
            self.version & 0xff
        )
    }

    pub(crate) fn emit(&self, w: &mut NlaWriter) {
        w.u32(INFO_VERSION, self.version);
        w.u32(INFO_CONN_TAB_SIZE, self.conn_table_size);
    }

    pub(crate) fn parse<'a>(
        attrs: impl Iterator<Item = Result<Nla<'a>, DecodeError>>,
    ) -> Result<Info, DecodeError> {
        let (mut version, mut size) = (None, None);
        for a in attrs {
            let a = a?;
            match a.kind {
                INFO_VERSION => version = Some(a.u32("IPVS version")?),
                INFO_CONN_TAB_SIZE => size = Some(a.u32("connection table size")?),
                _ => {}
            }
        }
        let missing = |attribute| DecodeError::Missing {
            object: "info",
            attribute,
        };
        Ok(Info {
            version: version.ok_or(missing("VERSION"))?,
            conn_table_size: size.ok_or(missing("CONN_TAB_SIZE"))?,
        })
    }
}

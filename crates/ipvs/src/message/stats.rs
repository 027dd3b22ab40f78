//! Traffic counters of a service or destination (`IPVS_*_ATTR_STATS` and `..._STATS64`).
//!
//! The kernel sends both nests: the 32-bit one for old tools (its counters wrap) and the 64-bit
//! one. [`Counters::best`] prefers the 64-bit values.

use super::nla::{Nla, NlaWriter, attrs};
use crate::error::DecodeError;

const CONNS: u16 = 1;
const INPKTS: u16 = 2;
const OUTPKTS: u16 = 3;
const INBYTES: u16 = 4;
const OUTBYTES: u16 = 5;
const CPS: u16 = 6;
const INPPS: u16 = 7;
const OUTPPS: u16 = 8;
const INBPS: u16 = 9;
const OUTBPS: u16 = 10;

/// Counters and rate estimates; rates are per second and refreshed by a 2 s kernel estimator.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    pub connections: u64,
    pub packets_in: u64,
    pub packets_out: u64,
    pub bytes_in: u64,
    pub bytes_out: u64,
    pub connections_per_second: u64,
    pub packets_in_per_second: u64,
    pub packets_out_per_second: u64,
    pub bytes_in_per_second: u64,
    pub bytes_out_per_second: u64,
}

/// Both counter nests as the kernel sent them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    /// `..._ATTR_STATS`: every field but the byte counts is 32 bits wide on the wire.
    pub stats32: Option<Stats>,
    /// `..._ATTR_STATS64`.
    pub stats64: Option<Stats>,
}

impl Counters {
    /// The widest counters available.
    pub fn best(&self) -> Stats {
        self.stats64.or(self.stats32).unwrap_or_default()
    }
}

impl Stats {
    /// What the 32-bit nest can carry: the low 32 bits of each counter, as the kernel fills it
    /// (byte counters stay 64-bit there).
    pub fn truncated_to_32(self) -> Stats {
        let t = |v: u64| u64::from(low_32(v));
        Stats {
            connections: t(self.connections),
            packets_in: t(self.packets_in),
            packets_out: t(self.packets_out),
            bytes_in: self.bytes_in,
            bytes_out: self.bytes_out,
            connections_per_second: t(self.connections_per_second),
            packets_in_per_second: t(self.packets_in_per_second),
            packets_out_per_second: t(self.packets_out_per_second),
            bytes_in_per_second: t(self.bytes_in_per_second),
            bytes_out_per_second: t(self.bytes_out_per_second),
        }
    }

    fn fields(&self) -> [(u16, u64, bool); 10] {
        // (attribute, value, is 64-bit even in the 32-bit nest)
        [
            (CONNS, self.connections, false),
            (INPKTS, self.packets_in, false),
            (OUTPKTS, self.packets_out, false),
            (INBYTES, self.bytes_in, true),
            (OUTBYTES, self.bytes_out, true),
            (CPS, self.connections_per_second, false),
            (INPPS, self.packets_in_per_second, false),
            (OUTPPS, self.packets_out_per_second, false),
            (INBPS, self.bytes_in_per_second, false),
            (OUTBPS, self.bytes_out_per_second, false),
        ]
    }

    pub(crate) fn emit(&self, w: &mut NlaWriter, wide: bool) {
        for (kind, value, always_wide) in self.fields() {
            if wide || always_wide {
                w.u64(kind, value);
            } else {
                w.u32(kind, low_32(value));
            }
        }
    }

    pub(crate) fn parse(nest: Nla<'_>, wide: bool) -> Result<Stats, DecodeError> {
        let mut s = Stats::default();
        for a in attrs(nest.value) {
            let a = a?;
            let value = |always_wide: bool| -> Result<u64, DecodeError> {
                if wide || always_wide {
                    a.u64("stats counter")
                } else {
                    a.u32("stats counter").map(u64::from)
                }
            };
            match a.kind {
                CONNS => s.connections = value(false)?,
                INPKTS => s.packets_in = value(false)?,
                OUTPKTS => s.packets_out = value(false)?,
                INBYTES => s.bytes_in = value(true)?,
                OUTBYTES => s.bytes_out = value(true)?,
                CPS => s.connections_per_second = value(false)?,
                INPPS => s.packets_in_per_second = value(false)?,
                OUTPPS => s.packets_out_per_second = value(false)?,
                INBPS => s.bytes_in_per_second = value(false)?,
                OUTBPS => s.bytes_out_per_second = value(false)?,
                _ => {} // IPVS_STATS_ATTR_PAD and future counters
            }
        }
        Ok(s)
    }
}

/// The low 32 bits of a counter: what the kernel puts in the 32-bit stats nest (a `(u32)` cast
/// of its 64-bit counter), so a counter past 2^32 wraps there as it does in the kernel's.
fn low_32(value: u64) -> u32 {
    let [b0, b1, b2, b3, ..] = value.to_le_bytes();
    u32::from_le_bytes([b0, b1, b2, b3])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_32_bit_nest_keeps_the_low_bits() {
        assert_eq!(low_32(7), 7);
        assert_eq!(low_32(u64::from(u32::MAX)), u32::MAX);
        assert_eq!(low_32((5 << 32) | 9), 9);
    }
}

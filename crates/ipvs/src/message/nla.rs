//! Netlink attribute writing and reading for the IPVS family.
//!
//! IPVS attributes are flat TLVs plus three nests (service, destination, daemon) and two stats
//! nests. A hand-written reader keeps every length check in one place so the decoders never index
//! out of bounds on hostile input (see the fuzz target).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::error::DecodeError;

/// Header size of one attribute (`struct nlattr`).
const NLA_HEADER: usize = 4;
/// Marks a nested attribute. libnl (and so ipvsadm) sets it on every nest it starts; the kernel
/// accepts nests with or without it.
pub(crate) const NLA_F_NESTED: u16 = 0x8000;
const NLA_TYPE_MASK: u16 = 0x3fff;

pub(crate) const AF_INET: u16 = u16_constant(libc::AF_INET);
pub(crate) const AF_INET6: u16 = u16_constant(libc::AF_INET6);

/// A kernel constant (a `c_int` in libc) as the u16 netlink carries it. Used for constants
/// only: a value outside 0..=u16::MAX stops the build instead of being cut.
pub(crate) const fn u16_constant(value: libc::c_int) -> u16 {
    let [low, high, 0, 0] = value.to_le_bytes() else {
        panic!("the constant does not fit a netlink u16");
    };
    u16::from_le_bytes([low, high])
}

fn align(len: usize) -> usize {
    (len + 3) & !3
}

/// Appends attributes to a byte buffer.
#[derive(Default)]
pub(crate) struct NlaWriter {
    buf: Vec<u8>,
}

impl NlaWriter {
    pub(crate) fn into_bytes(self) -> Vec<u8> {
        self.buf
    }

    pub(crate) fn bytes(&mut self, kind: u16, value: &[u8]) {
        let len = u16::try_from(NLA_HEADER + value.len())
            .expect("IPVS attributes are far below the 64 KiB netlink attribute limit");
        self.buf.extend_from_slice(&len.to_ne_bytes());
        self.buf.extend_from_slice(&kind.to_ne_bytes());
        self.buf.extend_from_slice(value);
        self.buf.resize(align(self.buf.len()), 0);
    }

    pub(crate) fn u8(&mut self, kind: u16, value: u8) {
        self.bytes(kind, &[value]);
    }

    pub(crate) fn u16(&mut self, kind: u16, value: u16) {
        self.bytes(kind, &value.to_ne_bytes());
    }

    pub(crate) fn u16_be(&mut self, kind: u16, value: u16) {
        self.bytes(kind, &value.to_be_bytes());
    }

    pub(crate) fn u32(&mut self, kind: u16, value: u32) {
        self.bytes(kind, &value.to_ne_bytes());
    }

    pub(crate) fn u64(&mut self, kind: u16, value: u64) {
        self.bytes(kind, &value.to_ne_bytes());
    }

    /// A NUL-terminated string, as the kernel's `NLA_NUL_STRING` policy requires.
    pub(crate) fn string(&mut self, kind: u16, value: &str) {
        let mut v = Vec::with_capacity(value.len() + 1);
        v.extend_from_slice(value.as_bytes());
        v.push(0);
        self.bytes(kind, &v);
    }

    /// A 16-byte `union nf_inet_addr`: IPv4 in the first four bytes, zero padded.
    pub(crate) fn inet_addr(&mut self, kind: u16, addr: IpAddr) {
        self.bytes(kind, &inet_addr_bytes(addr));
    }

    pub(crate) fn nested(&mut self, kind: u16, fill: impl FnOnce(&mut NlaWriter)) {
        let mut inner = NlaWriter::default();
        fill(&mut inner);
        self.bytes(kind | NLA_F_NESTED, &inner.buf);
    }
}

pub(crate) fn inet_addr_bytes(addr: IpAddr) -> [u8; 16] {
    let mut out = [0u8; 16];
    match addr {
        IpAddr::V4(a) => out[..4].copy_from_slice(&a.octets()),
        IpAddr::V6(a) => out.copy_from_slice(&a.octets()),
    }
    out
}

/// One attribute as read: its type (flags stripped) and value.
#[derive(Clone, Copy)]
pub(crate) struct Nla<'a> {
    pub(crate) kind: u16,
    pub(crate) value: &'a [u8],
}

/// Iterates over the attributes in `buf`, checking every length.
pub(crate) fn attrs(buf: &[u8]) -> impl Iterator<Item = Result<Nla<'_>, DecodeError>> {
    let mut pos = 0usize;
    std::iter::from_fn(move || {
        if pos >= buf.len() {
            return None;
        }
        let rest = &buf[pos..];
        if rest.len() < NLA_HEADER {
            pos = buf.len();
            return Some(Err(DecodeError::Truncated {
                what: "attribute header",
                need: NLA_HEADER,
                have: rest.len(),
            }));
        }
        let len = usize::from(u16::from_ne_bytes([rest[0], rest[1]]));
        let kind = u16::from_ne_bytes([rest[2], rest[3]]) & NLA_TYPE_MASK;
        if len < NLA_HEADER || len > rest.len() {
            pos = buf.len();
            return Some(Err(DecodeError::BadAttributeLength {
                kind,
                len,
                available: rest.len(),
            }));
        }
        pos += align(len);
        Some(Ok(Nla {
            kind,
            value: &rest[NLA_HEADER..len],
        }))
    })
}

impl<'a> Nla<'a> {
    fn fixed<const N: usize>(&self, what: &'static str) -> Result<[u8; N], DecodeError> {
        self.value
            .get(..N)
            .and_then(|s| <[u8; N]>::try_from(s).ok())
            .ok_or(DecodeError::Truncated {
                what,
                need: N,
                have: self.value.len(),
            })
    }

    pub(crate) fn u8(&self, what: &'static str) -> Result<u8, DecodeError> {
        Ok(self.fixed::<1>(what)?[0])
    }

    pub(crate) fn u16(&self, what: &'static str) -> Result<u16, DecodeError> {
        Ok(u16::from_ne_bytes(self.fixed(what)?))
    }

    pub(crate) fn u16_be(&self, what: &'static str) -> Result<u16, DecodeError> {
        Ok(u16::from_be_bytes(self.fixed(what)?))
    }

    pub(crate) fn u32(&self, what: &'static str) -> Result<u32, DecodeError> {
        Ok(u32::from_ne_bytes(self.fixed(what)?))
    }

    pub(crate) fn u64(&self, what: &'static str) -> Result<u64, DecodeError> {
        Ok(u64::from_ne_bytes(self.fixed(what)?))
    }

    pub(crate) fn raw4(&self, what: &'static str) -> Result<[u8; 4], DecodeError> {
        self.fixed(what)
    }

    pub(crate) fn addr16(&self, what: &'static str) -> Result<[u8; 16], DecodeError> {
        self.fixed(what)
    }

    pub(crate) fn string(&self, what: &'static str) -> Result<String, DecodeError> {
        let end = self
            .value
            .iter()
            .position(|b| *b == 0)
            .unwrap_or(self.value.len());
        String::from_utf8(self.value[..end].to_vec()).map_err(|_| DecodeError::NotUtf8 { what })
    }
}

/// Reads a 16-byte `nf_inet_addr` as the given address family.
pub(crate) fn inet_addr(family: u16, raw: [u8; 16]) -> Result<IpAddr, DecodeError> {
    match family {
        AF_INET => Ok(IpAddr::V4(Ipv4Addr::new(raw[0], raw[1], raw[2], raw[3]))),
        AF_INET6 => Ok(IpAddr::V6(Ipv6Addr::from(raw))),
        other => Err(DecodeError::UnknownFamily(other)),
    }
}

pub(crate) fn family_of(addr: IpAddr) -> u16 {
    match addr {
        IpAddr::V4(_) => AF_INET,
        IpAddr::V6(_) => AF_INET6,
    }
}

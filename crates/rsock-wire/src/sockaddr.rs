//! Socket addresses as the kernel lays them out: what an application hands to bind/connect and
//! gets back from accept/getsockname/getpeername, and the broker's own `sockaddr_un`.

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

/// Room for the largest sockaddr we produce (sockaddr_in6 is 28 bytes).
pub const SOCKADDR_MAX: usize = 28;

const AF_INET: u16 = 2;
const AF_INET6: u16 = 10;

/// Why raw sockaddr bytes are no inet address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BadSockaddr {
    /// Fewer bytes than the family's structure (or no family at all).
    Short { len: usize },
    /// A family other than AF_INET and AF_INET6.
    Family(u16),
}

impl BadSockaddr {
    /// What the kernel answers for such an address: EINVAL, or EAFNOSUPPORT.
    pub fn errno(self) -> crate::Errno {
        crate::Errno::new(match self {
            Self::Short { .. } => libc::EINVAL,
            Self::Family(_) => libc::EAFNOSUPPORT,
        })
    }
}

impl fmt::Display for BadSockaddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Short { len } => write!(f, "a socket address of {len} bytes is too short"),
            Self::Family(family) => write!(f, "address family {family} is not inet"),
        }
    }
}

impl std::error::Error for BadSockaddr {}

/// The kernel's `sockaddr_in`/`sockaddr_in6` bytes for `addr`.
pub fn sockaddr_bytes(addr: &SocketAddr) -> Vec<u8> {
    match addr {
        SocketAddr::V4(v4) => {
            let mut out = vec![0u8; 16];
            out[0..2].copy_from_slice(&AF_INET.to_ne_bytes());
            out[2..4].copy_from_slice(&v4.port().to_be_bytes());
            out[4..8].copy_from_slice(&v4.ip().octets());
            out
        }
        SocketAddr::V6(v6) => {
            let mut out = vec![0u8; 28];
            out[0..2].copy_from_slice(&AF_INET6.to_ne_bytes());
            out[2..4].copy_from_slice(&v6.port().to_be_bytes());
            out[4..8].copy_from_slice(&v6.flowinfo().to_be_bytes());
            out[8..24].copy_from_slice(&v6.ip().octets());
            out[24..28].copy_from_slice(&v6.scope_id().to_ne_bytes());
            out
        }
    }
}

/// Parses a `sockaddr_in`/`sockaddr_in6`; bytes beyond the family's structure are ignored.
pub fn parse_sockaddr(bytes: &[u8]) -> Result<SocketAddr, BadSockaddr> {
    let short = BadSockaddr::Short { len: bytes.len() };
    let [f0, f1, ..] = *bytes else {
        return Err(short);
    };
    match u16::from_ne_bytes([f0, f1]) {
        AF_INET if bytes.len() >= 16 => {
            let port = u16::from_be_bytes([bytes[2], bytes[3]]);
            let ip = Ipv4Addr::new(bytes[4], bytes[5], bytes[6], bytes[7]);
            Ok(SocketAddr::V4(SocketAddrV4::new(ip, port)))
        }
        AF_INET6 if bytes.len() >= 28 => {
            let port = u16::from_be_bytes([bytes[2], bytes[3]]);
            let flow = u32::from_be_bytes(word(&bytes[4..]));
            let mut ip = [0u8; 16];
            ip.copy_from_slice(&bytes[8..24]);
            let scope = u32::from_ne_bytes(word(&bytes[24..]));
            Ok(SocketAddr::V6(SocketAddrV6::new(
                Ipv6Addr::from(ip),
                port,
                flow,
                scope,
            )))
        }
        AF_INET | AF_INET6 => Err(short),
        family => Err(BadSockaddr::Family(family)),
    }
}

/// The first four bytes of `bytes` (which has at least four).
pub(crate) fn word(bytes: &[u8]) -> [u8; 4] {
    [bytes[0], bytes[1], bytes[2], bytes[3]]
}

/// `path` as a unix socket address; None when it does not fit `sun_path` with its NUL.
pub fn unix_address(path: &[u8]) -> Option<libc::sockaddr_un> {
    // SAFETY: sockaddr_un is plain data, all zeroes is a valid (empty) value.
    let mut addr: libc::sockaddr_un = unsafe { std::mem::zeroed() };
    if path.len() >= addr.sun_path.len() {
        return None;
    }
    addr.sun_family = libc::sa_family_t::try_from(libc::AF_UNIX).ok()?;
    for (dst, src) in addr.sun_path.iter_mut().zip(path) {
        *dst = libc::c_char::from_ne_bytes([*src]);
    }
    Some(addr)
}

/// `size_of::<T>()` as a socket length, for the structures handed to the kernel.
pub fn socklen_of<T>() -> libc::socklen_t {
    socklen(std::mem::size_of::<T>())
}

/// A buffer length as a socket length, saturating (the kernel then checks it against the
/// structure it expects, as it would a caller's).
pub fn socklen(len: usize) -> libc::socklen_t {
    libc::socklen_t::try_from(len).unwrap_or(libc::socklen_t::MAX)
}

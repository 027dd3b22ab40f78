//! The messages between the preload library and the local broker. One request and one reply
//! per SOCK_SEQPACKET connection; a file descriptor travels beside a message by SCM_RIGHTS.
//!
//! This file is compiled into both `ssinet-rsock` and the `ssinet-preload` cdylib (which may
//! depend on nothing but libc), so it uses `std` only and a fixed little-endian layout.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

/// Where the broker listens unless told otherwise.
/// Not under /run/ssinet: any user may start `ssi-exec`, so its directory must be traversable.
pub const DEFAULT_BROKER_SOCKET: &str = "/run/ssinet-rsock/broker.sock";
/// Environment variable naming the broker socket (set by ssi-exec).
pub const ENV_BROKER: &str = "SSINET_RSOCK_BROKER";
/// Environment variable naming the origin node (set by ssi-exec).
pub const ENV_ORIGIN: &str = "SSINET_RSOCK_ORIGIN";

/// Creates a remote socket: args = [domain, type without flags, protocol, origin node].
pub const OP_SOCKET: u8 = 1;
/// args[0] unused; blob = raw sockaddr.
pub const OP_BIND: u8 = 2;
/// args[0] = backlog.
pub const OP_LISTEN: u8 = 3;
/// args[0] = 1 for a non-blocking connect; blob = raw sockaddr.
pub const OP_CONNECT: u8 = 4;
/// reply blob = raw sockaddr.
pub const OP_GETSOCKNAME: u8 = 5;
/// reply blob = raw sockaddr.
pub const OP_GETPEERNAME: u8 = 6;
/// args = [level, name, buffer length]; reply blob = option bytes.
pub const OP_GETSOCKOPT: u8 = 7;
/// args = [level, name]; blob = option bytes.
pub const OP_SETSOCKOPT: u8 = 8;
/// args[0] = how.
pub const OP_SHUTDOWN: u8 = 9;
/// Is the attached fd a remote socket? value = 1 if so.
pub const OP_PROBE: u8 = 10;
/// May processes here use origin args[0]? ok, or EHOSTUNREACH with blob = the nodes this agent
/// can serve as origins, comma-separated (ssi-exec asks before it runs the command).
pub const OP_ORIGIN: u8 = 11;

/// Reply errno meaning "this fd is not a remote socket": the library calls the real function.
pub const ERRNO_NOT_REMOTE: i32 = -1;

/// Largest blob in either direction (a sockaddr or a socket option value).
pub const MAX_BLOB: usize = 1024;
/// Size of one accept record (see [`AcceptRecord`]).
pub const ACCEPT_RECORD_SIZE: usize = 2 * (4 + SOCKADDR_MAX);
/// Room for the largest sockaddr we produce (sockaddr_in6 is 28 bytes).
pub const SOCKADDR_MAX: usize = 28;

/// A request from the library.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LocalRequest {
    pub op: u8,
    pub args: [i32; 4],
    pub blob: Vec<u8>,
}

/// The broker's answer: `errno` 0 means success and `value` is the call's return value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LocalReply {
    pub errno: i32,
    pub value: i64,
    pub blob: Vec<u8>,
}

/// Why a local message did not decode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Malformed;

impl LocalRequest {
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(20 + self.blob.len());
        out.push(self.op);
        out.extend_from_slice(&[0, 0, 0]);
        for arg in self.args {
            out.extend_from_slice(&arg.to_le_bytes());
        }
        out.extend_from_slice(&(self.blob.len() as u16).to_le_bytes());
        out.extend_from_slice(&self.blob);
        out
    }

    pub fn decode(bytes: &[u8]) -> Result<Self, Malformed> {
        if bytes.len() < 22 {
            return Err(Malformed);
        }
        let mut args = [0i32; 4];
        for (i, arg) in args.iter_mut().enumerate() {
            *arg = i32::from_le_bytes(le4(&bytes[4 + 4 * i..]));
        }
        let len = u16::from_le_bytes([bytes[20], bytes[21]]) as usize;
        if len > MAX_BLOB || bytes.len() != 22 + len {
            return Err(Malformed);
        }
        Ok(Self {
            op: bytes[0],
            args,
            blob: bytes[22..].to_vec(),
        })
    }
}

impl LocalReply {
    pub fn ok(value: i64) -> Self {
        Self {
            errno: 0,
            value,
            blob: Vec::new(),
        }
    }

    pub fn err(errno: i32) -> Self {
        Self {
            errno,
            value: -1,
            blob: Vec::new(),
        }
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(14 + self.blob.len());
        out.extend_from_slice(&self.errno.to_le_bytes());
        out.extend_from_slice(&self.value.to_le_bytes());
        out.extend_from_slice(&(self.blob.len() as u16).to_le_bytes());
        out.extend_from_slice(&self.blob);
        out
    }

    pub fn decode(bytes: &[u8]) -> Result<Self, Malformed> {
        if bytes.len() < 14 {
            return Err(Malformed);
        }
        let errno = i32::from_le_bytes(le4(bytes));
        let mut value = [0u8; 8];
        value.copy_from_slice(&bytes[4..12]);
        let len = u16::from_le_bytes([bytes[12], bytes[13]]) as usize;
        if len > MAX_BLOB || bytes.len() != 14 + len {
            return Err(Malformed);
        }
        Ok(Self {
            errno,
            value: i64::from_le_bytes(value),
            blob: bytes[14..].to_vec(),
        })
    }
}

fn le4(bytes: &[u8]) -> [u8; 4] {
    [bytes[0], bytes[1], bytes[2], bytes[3]]
}

const AF_INET: u16 = 2;
const AF_INET6: u16 = 10;

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

/// Parses a `sockaddr_in`/`sockaddr_in6`; `Err(errno)` says what the kernel would answer.
pub fn parse_sockaddr(bytes: &[u8]) -> Result<SocketAddr, i32> {
    const EINVAL: i32 = 22;
    const EAFNOSUPPORT: i32 = 97;
    if bytes.len() < 2 {
        return Err(EINVAL);
    }
    let family = u16::from_ne_bytes([bytes[0], bytes[1]]);
    match family {
        AF_INET if bytes.len() >= 16 => {
            let port = u16::from_be_bytes([bytes[2], bytes[3]]);
            let ip = Ipv4Addr::new(bytes[4], bytes[5], bytes[6], bytes[7]);
            Ok(SocketAddr::V4(SocketAddrV4::new(ip, port)))
        }
        AF_INET6 if bytes.len() >= 28 => {
            let port = u16::from_be_bytes([bytes[2], bytes[3]]);
            let flow = u32::from_be_bytes(le4(&bytes[4..]));
            let mut ip = [0u8; 16];
            ip.copy_from_slice(&bytes[8..24]);
            let scope = u32::from_ne_bytes(le4(&bytes[24..]));
            Ok(SocketAddr::V6(SocketAddrV6::new(
                Ipv6Addr::from(ip),
                port,
                flow,
                scope,
            )))
        }
        AF_INET | AF_INET6 => Err(EINVAL),
        _ => Err(EAFNOSUPPORT),
    }
}

/// What the listening fd carries per accepted connection, beside the connection's fd.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AcceptRecord {
    pub local: SocketAddr,
    pub peer: SocketAddr,
}

impl AcceptRecord {
    pub fn encode(&self) -> [u8; ACCEPT_RECORD_SIZE] {
        let mut out = [0u8; ACCEPT_RECORD_SIZE];
        for (i, addr) in [self.local, self.peer].iter().enumerate() {
            let raw = sockaddr_bytes(addr);
            let base = i * (4 + SOCKADDR_MAX);
            out[base..base + 4].copy_from_slice(&(raw.len() as u32).to_le_bytes());
            out[base + 4..base + 4 + raw.len()].copy_from_slice(&raw);
        }
        out
    }

    pub fn decode(bytes: &[u8]) -> Result<Self, Malformed> {
        if bytes.len() != ACCEPT_RECORD_SIZE {
            return Err(Malformed);
        }
        let addr = |i: usize| -> Result<SocketAddr, Malformed> {
            let base = i * (4 + SOCKADDR_MAX);
            let len = u32::from_le_bytes(le4(&bytes[base..])) as usize;
            if len > SOCKADDR_MAX {
                return Err(Malformed);
            }
            parse_sockaddr(&bytes[base + 4..base + 4 + len]).map_err(|_| Malformed)
        };
        Ok(Self {
            local: addr(0)?,
            peer: addr(1)?,
        })
    }
}

//! The messages: a fixed little-endian layout, std only.
//!
//! Request: `op u8, 3 bytes padding, args 4 x i32, blob length u16, blob`.
//! Reply: `errno i32, value i64, blob length u16, blob`.
//! Accept record: two `(length u32, sockaddr padded to SOCKADDR_MAX)` slots, local then peer.

use std::net::SocketAddr;

use crate::sockaddr::{SOCKADDR_MAX, parse_sockaddr, sockaddr_bytes, word};

/// Creates a remote socket: `args` = [domain, type without flags, protocol, origin node].
pub const OP_SOCKET: u8 = 1;
/// `args[0]` unused; blob = raw sockaddr.
pub const OP_BIND: u8 = 2;
/// `args[0]` = backlog.
pub const OP_LISTEN: u8 = 3;
/// `args[0]` = 1 for a non-blocking connect; blob = raw sockaddr.
pub const OP_CONNECT: u8 = 4;
/// reply blob = raw sockaddr.
pub const OP_GETSOCKNAME: u8 = 5;
/// reply blob = raw sockaddr.
pub const OP_GETPEERNAME: u8 = 6;
/// `args` = [level, name, buffer length]; reply blob = option bytes.
pub const OP_GETSOCKOPT: u8 = 7;
/// `args` = [level, name]; blob = option bytes.
pub const OP_SETSOCKOPT: u8 = 8;
/// `args[0]` = how.
pub const OP_SHUTDOWN: u8 = 9;
/// Is the attached fd a remote socket? value = 1 if so (2 if it listens).
pub const OP_PROBE: u8 = 10;
/// May processes here use origin `args[0]`? ok, or EHOSTUNREACH with blob = the nodes this agent
/// can serve as origins, comma-separated (ssi-exec asks before it runs the command).
pub const OP_ORIGIN: u8 = 11;

/// Reply errno meaning "this fd is not a remote socket": the library calls the real function.
pub const ERRNO_NOT_REMOTE: i32 = -1;

/// Largest blob in either direction (a sockaddr or a socket option value).
pub const MAX_BLOB: usize = 1024;
/// A receive buffer this large holds any message of this wire (a longer one is malformed).
pub const MESSAGE_ROOM: usize = 64 + MAX_BLOB;
/// Size of one accept record (see [`AcceptRecord`]).
pub const ACCEPT_RECORD_SIZE: usize = 2 * (4 + SOCKADDR_MAX);

const REQUEST_HEADER: usize = 22;
const REPLY_HEADER: usize = 14;

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

impl std::fmt::Display for Malformed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("malformed broker message")
    }
}

impl std::error::Error for Malformed {}

/// Appends the blob's length word and the blob. A blob longer than [`MAX_BLOB`] is sent as it
/// is and refused by the decoder; one beyond the word's range says u16::MAX, which no longer
/// matches the bytes.
fn push_blob(out: &mut Vec<u8>, blob: &[u8]) {
    let len = u16::try_from(blob.len()).unwrap_or(u16::MAX);
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(blob);
}

/// The blob after a header of `header` bytes whose last two bytes are its length word; the
/// message must be exactly header and blob, the blob at most [`MAX_BLOB`] bytes.
fn blob_after(bytes: &[u8], header: usize) -> Result<&[u8], Malformed> {
    let (head, blob) = bytes.split_at_checked(header).ok_or(Malformed)?;
    let len = usize::from(u16::from_le_bytes([head[header - 2], head[header - 1]]));
    if len > MAX_BLOB || blob.len() != len {
        return Err(Malformed);
    }
    Ok(blob)
}

impl LocalRequest {
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(REQUEST_HEADER + self.blob.len());
        out.push(self.op);
        out.extend_from_slice(&[0, 0, 0]);
        for arg in self.args {
            out.extend_from_slice(&arg.to_le_bytes());
        }
        push_blob(&mut out, &self.blob);
        out
    }

    pub fn decode(bytes: &[u8]) -> Result<Self, Malformed> {
        let blob = blob_after(bytes, REQUEST_HEADER)?.to_vec();
        let mut args = [0i32; 4];
        for (i, arg) in args.iter_mut().enumerate() {
            *arg = i32::from_le_bytes(word(&bytes[4 + 4 * i..]));
        }
        Ok(Self {
            op: bytes[0],
            args,
            blob,
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

    /// Success with `blob` (an address or an option value) and value 0.
    pub fn with_blob(blob: Vec<u8>) -> Self {
        Self {
            errno: 0,
            value: 0,
            blob,
        }
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(REPLY_HEADER + self.blob.len());
        out.extend_from_slice(&self.errno.to_le_bytes());
        out.extend_from_slice(&self.value.to_le_bytes());
        push_blob(&mut out, &self.blob);
        out
    }

    pub fn decode(bytes: &[u8]) -> Result<Self, Malformed> {
        let blob = blob_after(bytes, REPLY_HEADER)?.to_vec();
        let mut value = [0u8; 8];
        value.copy_from_slice(&bytes[4..12]);
        Ok(Self {
            errno: i32::from_le_bytes(word(bytes)),
            value: i64::from_le_bytes(value),
            blob,
        })
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
        for (slot, addr) in out
            .chunks_exact_mut(4 + SOCKADDR_MAX)
            .zip([self.local, self.peer])
        {
            let raw = sockaddr_bytes(&addr);
            // A sockaddr_in or sockaddr_in6: 16 or 28 bytes, both below u32::MAX.
            let len = u32::try_from(raw.len()).unwrap_or(u32::MAX);
            slot[..4].copy_from_slice(&len.to_le_bytes());
            slot[4..4 + raw.len()].copy_from_slice(&raw);
        }
        out
    }

    pub fn decode(bytes: &[u8]) -> Result<Self, Malformed> {
        if bytes.len() != ACCEPT_RECORD_SIZE {
            return Err(Malformed);
        }
        let addr = |slot: &[u8]| -> Result<SocketAddr, Malformed> {
            let len = usize::try_from(u32::from_le_bytes(word(slot))).map_err(|_| Malformed)?;
            if len > SOCKADDR_MAX {
                return Err(Malformed);
            }
            parse_sockaddr(&slot[4..4 + len]).map_err(|_| Malformed)
        };
        let mut slots = bytes.chunks_exact(4 + SOCKADDR_MAX);
        let (Some(local), Some(peer)) = (slots.next(), slots.next()) else {
            return Err(Malformed);
        };
        Ok(Self {
            local: addr(local)?,
            peer: addr(peer)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_layout() {
        let req = LocalRequest {
            op: OP_GETSOCKOPT,
            args: [1, -2, 3, i32::MIN],
            blob: vec![7, 8],
        };
        let bytes = req.encode();
        assert_eq!(
            bytes,
            [
                7, 0, 0, 0, 1, 0, 0, 0, 0xfe, 0xff, 0xff, 0xff, 3, 0, 0, 0, 0, 0, 0, 0x80, 2, 0, 7,
                8
            ]
        );
        assert_eq!(LocalRequest::decode(&bytes), Ok(req));
    }

    #[test]
    fn reply_layout() {
        let reply = LocalReply {
            errno: 0,
            value: 2,
            blob: vec![9],
        };
        let bytes = reply.encode();
        assert_eq!(bytes, [0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 1, 0, 9]);
        assert_eq!(LocalReply::decode(&bytes), Ok(reply));
        assert_eq!(
            LocalReply::err(ERRNO_NOT_REMOTE).encode(),
            [0xff; 12].into_iter().chain([0, 0]).collect::<Vec<_>>()
        );
    }

    #[test]
    fn oversized_blobs_do_not_decode() {
        let req = LocalRequest {
            op: OP_BIND,
            args: [0; 4],
            blob: vec![0; MAX_BLOB + 1],
        };
        assert_eq!(LocalRequest::decode(&req.encode()), Err(Malformed));
        let reply = LocalReply::with_blob(vec![0; usize::from(u16::MAX) + 5]);
        assert_eq!(LocalReply::decode(&reply.encode()), Err(Malformed));
        assert_eq!(LocalReply::decode(&[0; 13]), Err(Malformed));
    }

    #[test]
    fn accept_records_round_trip() {
        let record = AcceptRecord {
            local: "10.0.0.1:80".parse().unwrap(),
            peer: "[fe80::1%3]:4000".parse().unwrap(),
        };
        let bytes = record.encode();
        assert_eq!(bytes[..4], [16, 0, 0, 0]);
        assert_eq!(bytes[32..36], [28, 0, 0, 0]);
        assert_eq!(AcceptRecord::decode(&bytes), Ok(record));
        let mut bad = bytes;
        bad[0] = 29;
        assert_eq!(AcceptRecord::decode(&bad), Err(Malformed));
    }
}

//! Decoding one received sock_diag datagram: the fixed `inet_diag_msg` header, and of the
//! attributes only INET_DIAG_SKV6ONLY (the others are skipped unread, so an attribute a newer
//! kernel adds cannot break discovery).

use std::fmt;
use std::io;

use netlink_packet_core::{
    NLMSG_DONE, NLMSG_ERROR, NLMSG_NOOP, NetlinkBuffer, NlasIterator, Parseable,
};
use netlink_packet_sock_diag::SOCK_DIAG_BY_FAMILY;
use netlink_packet_sock_diag::constants::{
    AF_INET, AF_INET6, INET_DIAG_SKV6ONLY, TCP_CLOSE, TCP_LISTEN,
};
use netlink_packet_sock_diag::inet::InetResponseHeader;

use crate::error::ListenersError;
use crate::listener::{Listener, Protocol};

/// `sizeof(struct inet_diag_msg)`: the attributes follow it.
const INET_DIAG_MSG_LEN: usize = 72;

/// One of the four dumps a listing takes: TCP or UDP, IPv4 or IPv6.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DumpRequest {
    pub proto: Protocol,
    pub ipv6: bool,
}

impl DumpRequest {
    pub const ALL: [DumpRequest; 4] = [
        DumpRequest {
            proto: Protocol::Tcp,
            ipv6: false,
        },
        DumpRequest {
            proto: Protocol::Tcp,
            ipv6: true,
        },
        DumpRequest {
            proto: Protocol::Udp,
            ipv6: false,
        },
        DumpRequest {
            proto: Protocol::Udp,
            ipv6: true,
        },
    ];

    pub fn family(self) -> u8 {
        if self.ipv6 { AF_INET6 } else { AF_INET }
    }

    /// The socket state that makes a socket serve clients. TCP: LISTEN. UDP: the kernel reports
    /// a bound, unconnected socket as TCP_CLOSE; a connected one (ESTABLISHED) accepts datagrams
    /// from its one peer only, so it cannot serve clients arriving through the director.
    pub fn serving_state(self) -> u8 {
        match self.proto {
            Protocol::Tcp => TCP_LISTEN,
            Protocol::Udp => TCP_CLOSE,
        }
    }
}

impl fmt::Display for DumpRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let family = if self.ipv6 { "IPv6" } else { "IPv4" };
        match self.proto {
            Protocol::Tcp => write!(f, "TCP/{family} listening sockets"),
            Protocol::Udp => write!(f, "UDP/{family} bound sockets"),
        }
    }
}

/// What one received datagram of a dump held.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct DumpPart {
    pub listeners: Vec<Listener>,
    /// The kernel sent NLMSG_DONE: the dump is complete.
    pub done: bool,
}

/// Decodes one datagram received in answer to `request` sent with `sequence`.
///
/// Messages with another sequence number are leftovers of an earlier, abandoned dump on the
/// same socket and are skipped. Sockets in another state or on port 0 are skipped too (the
/// kernel already filters by state; this keeps a lax kernel from registering a client socket).
pub fn decode_dump_part(
    datagram: &[u8],
    request: DumpRequest,
    sequence: u32,
) -> Result<DumpPart, ListenersError> {
    let mut part = DumpPart::default();
    let mut rest = datagram;
    while !rest.is_empty() {
        let message = NetlinkBuffer::new_checked(rest)
            .map_err(|e| ListenersError::Malformed(format!("netlink framing: {e}")))?;
        let length = message.length() as usize;
        // Messages are 4-byte aligned; the last one may lack its padding.
        rest = rest.get(length.next_multiple_of(4)..).unwrap_or_default();
        if message.sequence_number() != sequence {
            continue;
        }
        let payload = message.payload();
        match message.message_type() {
            NLMSG_NOOP => {}
            NLMSG_DONE => {
                // The payload is an errno (negative) if the dump was cut short.
                let code = read_i32(payload).unwrap_or(0);
                if code < 0 {
                    return Err(refused(request, code));
                }
                part.done = true;
                return Ok(part);
            }
            NLMSG_ERROR => {
                let code = read_i32(payload).ok_or_else(|| {
                    ListenersError::Malformed(format!(
                        "NLMSG_ERROR with a {} byte payload, expected at least 4",
                        payload.len()
                    ))
                })?;
                if code != 0 {
                    return Err(refused(request, code));
                }
            }
            SOCK_DIAG_BY_FAMILY => {
                if let Some(listener) = decode_socket(payload, request)? {
                    part.listeners.push(listener);
                }
            }
            other => {
                return Err(ListenersError::Malformed(format!(
                    "unexpected netlink message type {other} in a sock_diag dump"
                )));
            }
        }
    }
    Ok(part)
}

fn decode_socket(payload: &[u8], request: DumpRequest) -> Result<Option<Listener>, ListenersError> {
    let header = InetResponseHeader::parse(payload)
        .map_err(|e| ListenersError::Malformed(format!("inet_diag_msg: {e}")))?;
    if header.family != request.family() {
        return Err(ListenersError::Malformed(format!(
            "a socket of address family {} in the dump of {request}",
            header.family
        )));
    }
    let port = header.socket_id.source_port;
    if header.state != request.serving_state() || port == 0 {
        return Ok(None);
    }
    let v6only = header.family == AF_INET6
        && v6only_attribute(payload.get(INET_DIAG_MSG_LEN..).unwrap_or_default())?;
    Ok(Some(Listener {
        proto: request.proto,
        addr: header.socket_id.source_address,
        port,
        inode: header.inode,
        uid: header.uid,
        v6only,
    }))
}

/// INET_DIAG_SKV6ONLY, which the kernel adds to every AF_INET6 socket; absent means false.
fn v6only_attribute(attributes: &[u8]) -> Result<bool, ListenersError> {
    for attribute in NlasIterator::new(attributes) {
        let attribute = attribute
            .map_err(|e| ListenersError::Malformed(format!("inet_diag attribute: {e}")))?;
        if attribute.kind() == INET_DIAG_SKV6ONLY {
            return match attribute.value() {
                [flag, ..] => Ok(*flag != 0),
                [] => Err(ListenersError::Malformed(
                    "empty INET_DIAG_SKV6ONLY".to_owned(),
                )),
            };
        }
    }
    Ok(false)
}

fn read_i32(payload: &[u8]) -> Option<i32> {
    let bytes: [u8; 4] = payload.get(..4)?.try_into().ok()?;
    Some(i32::from_ne_bytes(bytes))
}

fn refused(request: DumpRequest, code: i32) -> ListenersError {
    ListenersError::Refused {
        what: request.to_string(),
        source: io::Error::from_raw_os_error(code.saturating_neg()),
    }
}

#[cfg(test)]
mod tests;

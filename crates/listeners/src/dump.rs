//! The kernel side: one NETLINK_SOCK_DIAG socket, four dumps per listing.

use netlink_packet_core::{NLM_F_DUMP, NLM_F_REQUEST, NetlinkHeader, NetlinkMessage};
use netlink_packet_sock_diag::SockDiagMessage;
use netlink_packet_sock_diag::constants::{IPPROTO_TCP, IPPROTO_UDP};
use netlink_packet_sock_diag::inet::{ExtensionFlags, InetRequest, SocketId, StateFlags};
use netlink_sys::protocols::NETLINK_SOCK_DIAG;
use netlink_sys::{Socket, SocketAddr};

use crate::decode::{DumpRequest, decode_dump_part};
use crate::error::ListenersError;
use crate::listener::{Listener, Protocol};

/// Room for one datagram of a dump; the kernel fills up to a page-sized skb (at most 32 KiB
/// with large pages), so this never truncates.
const RECEIVE_BUFFER: usize = 64 * 1024;

/// Lists the listening sockets of the network namespace this was created in.
///
/// Keep one and reuse it: opening the socket costs as much as a small dump.
pub struct ListenerDump {
    socket: Socket,
    sequence: u32,
    receive: Vec<u8>,
}

impl ListenerDump {
    /// Opens the sock_diag socket in the calling thread's network namespace (no privileges
    /// needed).
    pub fn new() -> Result<Self, ListenersError> {
        let mut socket = Socket::new(NETLINK_SOCK_DIAG).map_err(ListenersError::Open)?;
        socket.bind_auto().map_err(ListenersError::Open)?;
        socket
            .connect(&SocketAddr::new(0, 0))
            .map_err(ListenersError::Open)?;
        Ok(Self {
            socket,
            sequence: 0,
            receive: Vec::with_capacity(RECEIVE_BUFFER),
        })
    }

    /// Every TCP socket in LISTEN and every bound, unconnected UDP socket, IPv4 and IPv6,
    /// sorted. A socket listed twice by the kernel (it can move between hash buckets during a
    /// dump) is listed once.
    pub fn listeners(&mut self) -> Result<Vec<Listener>, ListenersError> {
        let mut all = Vec::new();
        for request in DumpRequest::ALL {
            self.dump_into(request, &mut all)?;
        }
        all.sort_unstable();
        all.dedup();
        Ok(all)
    }

    /// One dump: the sockets of one protocol and address family.
    pub fn dump(&mut self, request: DumpRequest) -> Result<Vec<Listener>, ListenersError> {
        let mut found = Vec::new();
        self.dump_into(request, &mut found)?;
        Ok(found)
    }

    fn dump_into(
        &mut self,
        request: DumpRequest,
        found: &mut Vec<Listener>,
    ) -> Result<(), ListenersError> {
        self.sequence = self.sequence.wrapping_add(1);
        let sequence = self.sequence;
        self.send_request(request, sequence)?;
        loop {
            self.receive.clear();
            match self.socket.recv(&mut self.receive, 0) {
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(source) => {
                    return Err(ListenersError::Io {
                        during: "receiving a dump",
                        source,
                    });
                }
            }
            let part = decode_dump_part(&self.receive, request, sequence)?;
            found.extend(part.listeners);
            if part.done {
                return Ok(());
            }
        }
    }

    fn send_request(&self, request: DumpRequest, sequence: u32) -> Result<(), ListenersError> {
        let mut header = NetlinkHeader::default();
        header.flags = NLM_F_REQUEST | NLM_F_DUMP;
        header.sequence_number = sequence;
        let states = match request.proto {
            Protocol::Tcp => StateFlags::LISTEN,
            Protocol::Udp => StateFlags::CLOSE,
        };
        let message = InetRequest {
            family: request.family(),
            protocol: match request.proto {
                Protocol::Tcp => IPPROTO_TCP,
                Protocol::Udp => IPPROTO_UDP,
            },
            extensions: ExtensionFlags::empty(),
            states,
            socket_id: if request.ipv6 {
                SocketId::new_v6()
            } else {
                SocketId::new_v4()
            },
        };
        let mut packet = NetlinkMessage::new(header, SockDiagMessage::InetRequest(message).into());
        packet.finalize();
        let mut bytes = vec![0; packet.buffer_len()];
        packet.serialize(&mut bytes);
        self.socket
            .send(&bytes, 0)
            .map_err(|source| ListenersError::Io {
                during: "sending a dump request",
                source,
            })?;
        Ok(())
    }
}

//! An async IPVS client: one generic netlink socket, the family id resolved once, requests
//! pipelined and matched to their acknowledgements by sequence number.
//!
//! Typed operations (list services, add a destination, start a sync daemon...) are in `ops`.
//!
//! A netlink socket belongs to the network namespace of the thread that opened it, so open the
//! client from the namespace whose IPVS table you mean to program.

use std::ops::ControlFlow;

use netlink_packet_core::{
    NLM_F_ACK, NLM_F_DUMP, NLM_F_REQUEST, NetlinkHeader, NetlinkMessage, NetlinkPayload,
};
use netlink_packet_generic::ctrl::nlas::GenlCtrlAttrs;
use netlink_packet_generic::ctrl::{GenlCtrl, GenlCtrlCmd};
use netlink_packet_generic::{GenlHeader, GenlMessage};
use netlink_sys::{AsyncSocket, AsyncSocketExt, SocketAddr, TokioSocket, protocols};

use crate::describe::describe;
use crate::error::IpvsError;
use crate::message::{IpvsMessage, Service};

mod ops;

const NLMSG_HDRLEN: usize = 16;
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const GENL_HDRLEN: usize = 4;
/// The generic netlink controller's fixed family id.
const GENL_ID_CTRL: u16 = crate::message::nla::u16_constant(libc::GENL_ID_CTRL);
/// Requests packed into one `sendmsg`; the kernel handles them one after another.
const SEND_CHUNK_BYTES: usize = 16 * 1024;
/// Receive buffer asked for: acknowledgements of a pipelined window must fit in it, or the
/// kernel drops them (ENOBUFS) and the outcome of those requests is unknown.
const RCVBUF_BYTES: libc::c_int = 8 * 1024 * 1024;
const RECV_BYTES: usize = 256 * 1024;

/// A service as the kernel lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceEntry {
    pub service: Service,
    pub counters: crate::message::Counters,
}

/// The outcome of one request in a batch.
pub type OpResult = Result<(), IpvsError>;

/// A connected IPVS client.
pub struct IpvsClient {
    socket: TokioSocket,
    family_id: u16,
    seq: u32,
    /// Requests in flight at most; derived from the receive buffer the kernel granted.
    window: usize,
    recv_buf: Vec<u8>,
}

struct Frame<'a> {
    msg_type: u16,
    seq: u32,
    payload: &'a [u8],
}

/// Splits a datagram into netlink messages.
fn frames(buf: &[u8]) -> Result<Vec<Frame<'_>>, IpvsError> {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos + NLMSG_HDRLEN <= buf.len() {
        let h = &buf[pos..];
        let len = u32::from_ne_bytes([h[0], h[1], h[2], h[3]]) as usize;
        if len < NLMSG_HDRLEN || len > h.len() {
            return Err(crate::DecodeError::Netlink(format!(
                "message length {len} with {} bytes left",
                h.len()
            ))
            .into());
        }
        out.push(Frame {
            msg_type: u16::from_ne_bytes([h[4], h[5]]),
            seq: u32::from_ne_bytes([h[8], h[9], h[10], h[11]]),
            payload: &h[NLMSG_HDRLEN..len],
        });
        pos += (len + 3) & !3;
    }
    Ok(out)
}

fn error_code(payload: &[u8]) -> Result<i32, IpvsError> {
    payload
        .get(..4)
        .map(|b| i32::from_ne_bytes([b[0], b[1], b[2], b[3]]))
        .ok_or_else(|| crate::DecodeError::Netlink("short NLMSG_ERROR".into()).into())
}

/// The family id in a controller reply (`CTRL_CMD_NEWFAMILY`), if it carries one.
fn family_id(f: &Frame<'_>) -> Result<Option<u16>, IpvsError> {
    let mut whole = Vec::with_capacity(NLMSG_HDRLEN + f.payload.len());
    let len = u32::try_from(NLMSG_HDRLEN + f.payload.len()).map_err(|_| {
        crate::DecodeError::Netlink("controller reply beyond a netlink length word".into())
    })?;
    whole.extend_from_slice(&len.to_ne_bytes());
    whole.extend_from_slice(&f.msg_type.to_ne_bytes());
    whole.extend_from_slice(&[0; 10]);
    whole.extend_from_slice(f.payload);
    let parsed = NetlinkMessage::<GenlMessage<GenlCtrl>>::deserialize(&whole)
        .map_err(|e| crate::DecodeError::Netlink(e.to_string()))?;
    let mut family = None;
    if let NetlinkPayload::InnerMessage(m) = parsed.payload {
        for nla in m.payload.nlas {
            if let GenlCtrlAttrs::FamilyId(id) = nla {
                family = Some(id);
            }
        }
    }
    Ok(family)
}

/// A whole netlink request: `nlmsghdr`, `genlmsghdr` and the message's attributes. The port id
/// is left 0 (the kernel knows the sender).
pub fn encode_request(family_id: u16, msg: &IpvsMessage, flags: u16, seq: u32) -> Vec<u8> {
    let attrs = msg.encode_attrs();
    let len = NLMSG_HDRLEN + GENL_HDRLEN + attrs.len();
    let mut out = Vec::with_capacity(len);
    // Each attribute's length is a u16 (NlaWriter checks), and a message has a few of them.
    let len = u32::try_from(len).expect("an IPVS request is a few u16-sized attributes");
    out.extend_from_slice(&len.to_ne_bytes());
    out.extend_from_slice(&family_id.to_ne_bytes());
    out.extend_from_slice(&flags.to_ne_bytes());
    out.extend_from_slice(&seq.to_ne_bytes());
    out.extend_from_slice(&0u32.to_ne_bytes());
    out.extend_from_slice(&[msg.command() as u8, crate::message::FAMILY_VERSION, 0, 0]);
    out.extend_from_slice(&attrs);
    out
}

impl IpvsClient {
    /// Opens the socket in the calling thread's network namespace and resolves the `IPVS`
    /// family (which makes the kernel load `ip_vs` if it is a module).
    pub async fn connect() -> Result<IpvsClient, IpvsError> {
        let mut socket = TokioSocket::new(protocols::NETLINK_GENERIC).map_err(IpvsError::Socket)?;
        {
            let s = socket.socket_mut();
            s.bind_auto().map_err(IpvsError::Socket)?;
            s.connect(&SocketAddr::new(0, 0))
                .map_err(IpvsError::Socket)?;
            // Errors then echo only the request's header, not its attributes.
            s.set_cap_ack(true).map_err(IpvsError::Socket)?;
        }
        let granted = Self::grow_receive_buffer(&socket);
        let window = (granted / 2048).clamp(16, 2048);
        tracing::debug!(granted, window, "IPVS netlink socket open");
        let mut client = IpvsClient {
            socket,
            family_id: 0,
            seq: 0,
            window,
            recv_buf: Vec::with_capacity(RECV_BYTES),
        };
        client.family_id = client.resolve_family().await?;
        Ok(client)
    }

    fn grow_receive_buffer(socket: &TokioSocket) -> usize {
        use std::os::fd::AsRawFd;
        let fd = socket.as_raw_fd();
        let size = RCVBUF_BYTES;
        let size_len = libc::socklen_t::try_from(std::mem::size_of_val(&size))
            .expect("a c_int's size fits socklen_t");
        for opt in [libc::SO_RCVBUFFORCE, libc::SO_RCVBUF] {
            // SAFETY: fd is our open socket; the option value is a c_int that outlives the call.
            let rc = unsafe {
                libc::setsockopt(
                    fd,
                    libc::SOL_SOCKET,
                    opt,
                    (&size as *const libc::c_int).cast(),
                    size_len,
                )
            };
            if rc == 0 {
                break;
            }
        }
        socket.socket_ref().get_rx_buf_sz().unwrap_or(212_992)
    }

    /// The family id the kernel assigned to `IPVS`.
    pub fn family_id(&self) -> u16 {
        self.family_id
    }

    fn next_seq(&mut self) -> u32 {
        self.seq = self.seq.wrapping_add(1);
        self.seq
    }

    async fn resolve_family(&mut self) -> Result<u16, IpvsError> {
        let mut genl = GenlMessage::from_payload(GenlCtrl {
            cmd: GenlCtrlCmd::GetFamily,
            nlas: vec![GenlCtrlAttrs::FamilyName(
                crate::message::FAMILY_NAME.to_owned(),
            )],
        });
        genl.finalize();
        let mut msg = NetlinkMessage::new(NetlinkHeader::default(), NetlinkPayload::from(genl));
        msg.header.flags = NLM_F_REQUEST | NLM_F_ACK;
        msg.header.message_type = GENL_ID_CTRL;
        let seq = self.next_seq();
        msg.header.sequence_number = seq;
        msg.finalize();
        let mut bytes = vec![0u8; msg.buffer_len()];
        msg.serialize(&mut bytes);
        let mut family = None;
        self.exchange(&bytes, seq, |f| match f.msg_type {
            NLMSG_ERROR => match error_code(f.payload)? {
                0 => Ok(ControlFlow::Break(())),
                code => Err(IpvsError::FamilyMissing(
                    std::io::Error::from_raw_os_error(-code).to_string(),
                )),
            },
            _ => {
                if let Some(id) = family_id(f)? {
                    family = Some(id);
                }
                Ok(ControlFlow::Continue(()))
            }
        })
        .await?;
        family.ok_or_else(|| IpvsError::FamilyMissing("controller sent no family id".into()))
    }

    /// Sends one request (`bytes`, sequence number `seq`) and hands each message of the
    /// kernel's answer to it, in order, to `on_reply` until that breaks or fails. Messages with
    /// other sequence numbers (late answers to abandoned exchanges) are skipped.
    async fn exchange(
        &mut self,
        bytes: &[u8],
        seq: u32,
        mut on_reply: impl FnMut(&Frame<'_>) -> Result<ControlFlow<()>, IpvsError>,
    ) -> Result<(), IpvsError> {
        self.socket.send(bytes).await?;
        loop {
            let datagram = self.receive().await?;
            let flow = frames(&datagram).and_then(|frames| {
                for f in frames.iter().filter(|f| f.seq == seq) {
                    if on_reply(f)?.is_break() {
                        return Ok(ControlFlow::Break(()));
                    }
                }
                Ok(ControlFlow::Continue(()))
            });
            self.recycle(datagram);
            if flow?.is_break() {
                return Ok(());
            }
        }
    }

    /// Receives one datagram into the client's buffer; hand it back with [`Self::recycle`] so
    /// the next receive does not allocate (a fresh 256 KiB buffer per ack is an mmap each time).
    async fn receive(&mut self) -> Result<Vec<u8>, IpvsError> {
        let mut buf = std::mem::take(&mut self.recv_buf);
        buf.clear();
        buf.reserve(RECV_BYTES);
        self.socket.recv(&mut buf).await?;
        Ok(buf)
    }

    fn recycle(&mut self, buf: Vec<u8>) {
        self.recv_buf = buf;
    }

    /// Serializes one request with the given flags and sequence number.
    pub fn encode_request(&self, msg: &IpvsMessage, flags: u16, seq: u32) -> Vec<u8> {
        encode_request(self.family_id, msg, flags, seq)
    }

    fn decode_reply(payload: &[u8]) -> Result<IpvsMessage, IpvsError> {
        let header =
            GenlHeader::parse(payload).map_err(|e| crate::DecodeError::Netlink(e.to_string()))?;
        Ok(IpvsMessage::decode(header.cmd, &payload[GENL_HDRLEN..])?)
    }

    /// Sends one request and waits for its acknowledgement; returns the replies before it.
    pub async fn request(&mut self, msg: &IpvsMessage) -> Result<Vec<IpvsMessage>, IpvsError> {
        let seq = self.next_seq();
        let bytes = self.encode_request(msg, NLM_F_REQUEST | NLM_F_ACK, seq);
        let mut replies = Vec::new();
        self.exchange(&bytes, seq, |f| match f.msg_type {
            NLMSG_ERROR => match error_code(f.payload)? {
                0 => Ok(ControlFlow::Break(())),
                code => Err(IpvsError::kernel(describe(msg), -code)),
            },
            NLMSG_DONE => Ok(ControlFlow::Break(())),
            _ => {
                replies.push(Self::decode_reply(f.payload)?);
                Ok(ControlFlow::Continue(()))
            }
        })
        .await?;
        Ok(replies)
    }

    /// Sends a dump request and collects every reply until the kernel says it is done.
    pub async fn dump(&mut self, msg: &IpvsMessage) -> Result<Vec<IpvsMessage>, IpvsError> {
        let seq = self.next_seq();
        let bytes = self.encode_request(msg, NLM_F_REQUEST | NLM_F_ACK | NLM_F_DUMP, seq);
        let mut replies = Vec::new();
        self.exchange(&bytes, seq, |f| match f.msg_type {
            NLMSG_DONE => match error_code(f.payload).unwrap_or(0) {
                code if code < 0 => Err(IpvsError::kernel(describe(msg), -code)),
                _ => Ok(ControlFlow::Break(())),
            },
            NLMSG_ERROR => match error_code(f.payload)? {
                0 => Ok(ControlFlow::Continue(())),
                code => Err(IpvsError::kernel(describe(msg), -code)),
            },
            _ => {
                replies.push(Self::decode_reply(f.payload)?);
                Ok(ControlFlow::Continue(()))
            }
        })
        .await?;
        Ok(replies)
    }

    /// Sends every request without waiting for each acknowledgement (up to a window the
    /// receive buffer can hold), then matches acknowledgements to requests. The kernel handles
    /// requests in order and goes on after a failure, so a failed request does not stop later
    /// ones; each gets its own result, in request order. Meant for changes: replies other than
    /// acknowledgements are discarded (read with [`Self::request`] or [`Self::dump`]).
    pub async fn execute(&mut self, msgs: &[IpvsMessage]) -> Result<Vec<OpResult>, IpvsError> {
        let mut results: Vec<Option<OpResult>> = (0..msgs.len()).map(|_| None).collect();
        let first_seq = self.seq.wrapping_add(1);
        let mut next = 0usize; // next request to send
        let mut done = 0usize; // results received
        let mut in_flight = 0usize;
        while done < msgs.len() {
            // Fill the window, packing requests into few sendmsg calls.
            let mut chunk = Vec::with_capacity(SEND_CHUNK_BYTES);
            while next < msgs.len() && in_flight < self.window {
                let seq = self.next_seq();
                let bytes = self.encode_request(&msgs[next], NLM_F_REQUEST | NLM_F_ACK, seq);
                if !chunk.is_empty() && chunk.len() + bytes.len() > SEND_CHUNK_BYTES {
                    self.socket.send(&chunk).await?;
                    chunk.clear();
                }
                chunk.extend_from_slice(&bytes);
                next += 1;
                in_flight += 1;
            }
            if !chunk.is_empty() {
                self.socket.send(&chunk).await?;
            }
            let datagram = self.receive().await?;
            for f in frames(&datagram)? {
                if f.msg_type != NLMSG_ERROR {
                    continue;
                }
                let index = f.seq.wrapping_sub(first_seq) as usize;
                if index >= next || results[index].is_some() {
                    continue; // a reply to an earlier, abandoned exchange
                }
                let code = error_code(f.payload)?;
                results[index] = Some(if code == 0 {
                    Ok(())
                } else {
                    Err(IpvsError::kernel(describe(&msgs[index]), -code))
                });
                done += 1;
                in_flight -= 1;
            }
            self.recycle(datagram);
        }
        Ok(results
            .into_iter()
            .map(|r| r.expect("the loop ends only when every request has its result"))
            .collect())
    }
}

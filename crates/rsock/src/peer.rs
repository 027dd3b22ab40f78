//! Connections between agents: one interconnect channel per origin for control (dialed by the
//! node whose processes use that origin, carrying requests, replies, pushes and pings), and plain
//! TCP data connections, one per socket, bound by a token sent in their first line.

use ssinet_interconnect::NodeId;
use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::net::SocketAddr;
use std::os::fd::OwnedFd;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use ssinet_interconnect::{
    Acceptor, ChannelError, ChannelReader, ChannelWriter, Limits, NodeIdentity, Service,
};
use tokio::io::AsyncReadExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot};

use crate::error::{CallError, PeerError, SysError};
use crate::origin::Origin;
use crate::protocol::{Answer, Frame, Op, PROTOCOL_VERSION, Push};
use crate::stats::Stats;
use ssinet_rsock_wire::Errno;

/// How often a control connection is pinged, and how long silence means the other agent is gone.
pub const PING_INTERVAL: Duration = Duration::from_millis(500);
pub const PEER_TIMEOUT: Duration = Duration::from_millis(2000);
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(3);
/// The interconnect service of the rsock port.
const SERVICE: Service = Service("rsock");
const DATA_PREFIX: &str = "RSOCK-DATA ";

/// Events the broker must act on.
pub(crate) enum PeerEvent {
    Push(NodeId, Push),
    /// The origin agent on this node is gone (disconnected, silent, or restarted).
    OriginLost(NodeId),
}

struct PeerConn {
    writer: mpsc::UnboundedSender<Frame>,
    pending: Mutex<HashMap<u64, oneshot::Sender<Result<Answer, CallError>>>>,
    next_req: AtomicU64,
}

pub(crate) struct Peers {
    node: NodeId,
    epoch: u64,
    addrs: BTreeMap<NodeId, SocketAddr>,
    identity: NodeIdentity,
    acceptor: Acceptor,
    conns: tokio::sync::Mutex<HashMap<NodeId, Arc<PeerConn>>>,
    events: mpsc::UnboundedSender<PeerEvent>,
    max_frame: usize,
    stats: Arc<Stats>,
}

impl Peers {
    pub fn new(
        node: NodeId,
        epoch: u64,
        addrs: BTreeMap<NodeId, SocketAddr>,
        identity: NodeIdentity,
        events: mpsc::UnboundedSender<PeerEvent>,
        max_frame: usize,
        stats: Arc<Stats>,
    ) -> Arc<Self> {
        let limits = Limits {
            max_frame_bytes: max_frame,
            handshake_timeout: HANDSHAKE_TIMEOUT,
        };
        Arc::new(Self {
            node,
            epoch,
            addrs,
            acceptor: Acceptor::new(&identity, SERVICE, limits),
            identity,
            conns: Default::default(),
            events,
            max_frame,
            stats,
        })
    }

    /// This agent's HELLO: the first frame either side sends.
    fn hello(&self) -> Bytes {
        Bytes::from(
            Frame::Hello {
                node: self.node,
                epoch: self.epoch,
                version: PROTOCOL_VERSION,
            }
            .encode(),
        )
    }

    /// The peers' node numbers, in order.
    pub fn nodes(&self) -> impl Iterator<Item = NodeId> + '_ {
        self.addrs.keys().copied()
    }

    pub fn knows(&self, node: NodeId) -> bool {
        self.addrs.contains_key(&node)
    }

    pub fn addr(&self, node: NodeId) -> Option<SocketAddr> {
        self.addrs.get(&node).copied()
    }

    /// Sends `op` to `node`'s origin and waits for its answer.
    pub async fn call(self: &Arc<Self>, node: NodeId, op: Op) -> Result<Answer, CallError> {
        let conn = self.conn(node).await?;
        let req = conn.next_req.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        conn.pending
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(req, tx);
        if conn.writer.send(Frame::Request { req, op }).is_err() {
            return Err(CallError::OriginLost(node));
        }
        rx.await.unwrap_or(Err(CallError::OriginLost(node)))
    }

    async fn conn(self: &Arc<Self>, node: NodeId) -> Result<Arc<PeerConn>, CallError> {
        let mut conns = self.conns.lock().await;
        if let Some(conn) = conns.get(&node)
            && !conn.writer.is_closed()
        {
            return Ok(Arc::clone(conn));
        }
        let conn = self.dial(node).await.map_err(|e| {
            tracing::warn!(node = %node, "cannot reach the rsock origin agent: {e}");
            CallError::OriginUnreachable(node)
        })?;
        conns.insert(node, Arc::clone(&conn));
        Ok(conn)
    }

    async fn dial(self: &Arc<Self>, node: NodeId) -> Result<Arc<PeerConn>, PeerError> {
        let addr = self.addr(node).ok_or(PeerError::NotAPeer(node))?;
        let limits = Limits {
            max_frame_bytes: self.max_frame,
            handshake_timeout: HANDSHAKE_TIMEOUT,
        };
        let mut channel =
            ssinet_interconnect::dial(&self.identity, node, addr, SERVICE, limits).await?;
        channel.send(self.hello()).await?;
        let hello = hello_frame(tokio::time::timeout(HANDSHAKE_TIMEOUT, channel.recv()).await?)?;
        match Frame::decode(&hello, self.max_frame)? {
            Frame::Hello {
                node: n,
                version,
                epoch,
            } if n == node && version == PROTOCOL_VERSION => {
                tracing::info!(
                    node = %node,
                    epoch = format!("{epoch:x}"),
                    "rsock control connection up"
                );
            }
            other => {
                return Err(PeerError::UnexpectedHello {
                    node,
                    frame: Box::new(other),
                });
            }
        }
        let (writer, rx) = mpsc::unbounded_channel();
        let conn = Arc::new(PeerConn {
            writer,
            pending: Mutex::new(HashMap::new()),
            next_req: AtomicU64::new(1),
        });
        let this = Arc::clone(self);
        let conn2 = Arc::clone(&conn);
        let (sink, stream) = channel.split();
        tokio::spawn(async move {
            this.run_client(node, sink, stream, rx, &conn2).await;
            let pending: Vec<_> = conn2
                .pending
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .drain()
                .collect();
            for (_, tx) in pending {
                let _ = tx.send(Err(CallError::OriginLost(node)));
            }
            let mut conns = this.conns.lock().await;
            if conns.get(&node).is_some_and(|c| Arc::ptr_eq(c, &conn2)) {
                conns.remove(&node);
            }
            drop(conns);
            Stats::bump(&this.stats.origins_lost);
            tracing::warn!(
                node = %node,
                "rsock origin agent lost; its sockets report EOF/EPIPE"
            );
            let _ = this.events.send(PeerEvent::OriginLost(node));
        });
        Ok(conn)
    }

    async fn run_client(
        &self,
        node: NodeId,
        mut sink: ChannelWriter,
        mut stream: ChannelReader,
        mut rx: mpsc::UnboundedReceiver<Frame>,
        conn: &PeerConn,
    ) {
        let mut ping = tokio::time::interval(PING_INTERVAL);
        let mut last_heard = Instant::now();
        let mut seq = 0u64;
        loop {
            tokio::select! {
                out = rx.recv() => match out {
                    Some(frame) => if sink.send(Bytes::from(frame.encode())).await.is_err() { break },
                    None => break,
                },
                incoming = stream.recv() => {
                    let Ok(bytes) = incoming else { break };
                    last_heard = Instant::now();
                    match Frame::decode(&bytes, self.max_frame) {
                        Ok(Frame::Reply { req, result }) => {
                            let waiter = conn.pending.lock().unwrap_or_else(|p| p.into_inner()).remove(&req);
                            if let Some(waiter) = waiter {
                                let _ = waiter.send(result.map_err(|errno| CallError::Remote { node, errno: Errno::new(errno) }));
                            }
                        }
                        Ok(Frame::Push(push)) => { let _ = self.events.send(PeerEvent::Push(node, push)); }
                        Ok(Frame::Ping { seq }) => { let _ = sink.send(Bytes::from(Frame::Pong { seq }.encode())).await; }
                        Ok(_) => {}
                        Err(e) => {
                            Stats::bump(&self.stats.bad_frames);
                            tracing::warn!(node = %node, "bad frame from origin: {e}");
                            break;
                        }
                    }
                }
                _ = ping.tick() => {
                    if last_heard.elapsed() > PEER_TIMEOUT {
                        tracing::warn!(node = %node, "origin agent silent for {:?}", last_heard.elapsed());
                        break;
                    }
                    seq += 1;
                    if sink.send(Bytes::from(Frame::Ping { seq }.encode())).await.is_err() { break }
                }
            }
        }
        sink.close().await;
    }

    /// Accepts control and data connections from peers until the task is aborted.
    pub async fn serve(self: Arc<Self>, listener: TcpListener, origin: Arc<Origin>) {
        loop {
            let Ok((tcp, from)) = listener.accept().await else {
                continue;
            };
            let this = Arc::clone(&self);
            let origin = Arc::clone(&origin);
            tokio::spawn(async move {
                if let Err(e) = this.serve_one(tcp, from, origin).await {
                    Stats::bump(&this.stats.refused_connections);
                    tracing::warn!(%from, "rsock connection refused or failed: {e}");
                }
            });
        }
    }

    fn peer_by_ip(&self, from: SocketAddr) -> Option<NodeId> {
        self.addrs
            .iter()
            .find(|(_, a)| a.ip() == from.ip())
            .map(|(n, _)| *n)
    }

    async fn serve_one(
        &self,
        tcp: TcpStream,
        from: SocketAddr,
        origin: Arc<Origin>,
    ) -> Result<(), PeerError> {
        let claimed = self
            .peer_by_ip(from)
            .ok_or(PeerError::UnknownAddress(from))?;
        tcp.set_nodelay(true)?;
        let mut first = [0u8; 1];
        tokio::time::timeout(HANDSHAKE_TIMEOUT, tcp.peek(&mut first)).await??;
        if first[0] != 0x16 {
            return self.serve_data(tcp, &origin).await;
        }
        // The channel's hello names the node and its certificate proves it.
        let mut channel = self.acceptor.accept(tcp).await?;
        let node = channel.peer();
        if node != claimed {
            return Err(PeerError::WrongNode {
                node,
                from,
                claimed,
            });
        }
        let hello = hello_frame(tokio::time::timeout(HANDSHAKE_TIMEOUT, channel.recv()).await?)?;
        match Frame::decode(&hello, self.max_frame)? {
            Frame::Hello {
                node: said,
                version,
                ..
            } if version == PROTOCOL_VERSION && said == node => {}
            Frame::Hello { version, .. } if version != PROTOCOL_VERSION => {
                return Err(PeerError::Version(version));
            }
            other => return Err(PeerError::NotHello(Box::new(other))),
        }
        channel.send(self.hello()).await?;
        tracing::info!(node = %node, "rsock peer connected");

        let (push_tx, mut push_rx) = mpsc::unbounded_channel::<Push>();
        let (reply_tx, mut reply_rx) = mpsc::unbounded_channel::<Frame>();
        origin.set_sink(node, push_tx.clone());
        let (mut sink, mut stream) = channel.split();
        let mut check = tokio::time::interval(PING_INTERVAL);
        let mut last_heard = Instant::now();
        loop {
            tokio::select! {
                push = push_rx.recv() => match push {
                    Some(push) => if sink.send(Bytes::from(Frame::Push(push).encode())).await.is_err() { break },
                    None => break,
                },
                reply = reply_rx.recv() => if let Some(frame) = reply
                    && sink.send(Bytes::from(frame.encode())).await.is_err()
                {
                    break
                },
                incoming = stream.recv() => {
                    let Ok(bytes) = incoming else { break };
                    last_heard = Instant::now();
                    match Frame::decode(&bytes, self.max_frame) {
                        Ok(Frame::Request { req, op }) => {
                            let origin = Arc::clone(&origin);
                            let reply_tx = reply_tx.clone();
                            tokio::spawn(async move {
                                // The reply frame carries the errno the application will see.
                                let result = origin.handle(op, node).await.map_err(CallError::errno);
                                let _ = reply_tx.send(Frame::Reply { req, result });
                            });
                        }
                        Ok(Frame::Ping { seq }) => { if sink.send(Bytes::from(Frame::Pong { seq }.encode())).await.is_err() { break } }
                        Ok(_) => {}
                        Err(e) => {
                            Stats::bump(&self.stats.bad_frames);
                            tracing::warn!(node = %node, "bad frame from peer: {e}");
                            break;
                        }
                    }
                }
                _ = check.tick() => if last_heard.elapsed() > PEER_TIMEOUT {
                    tracing::warn!(node = %node, "peer agent silent for {:?}", last_heard.elapsed());
                    break;
                }
            }
        }
        sink.close().await;
        if origin.detach_sink(node, &push_tx) {
            origin.peer_gone(node);
        }
        Ok(())
    }

    async fn serve_data(&self, mut tcp: TcpStream, origin: &Arc<Origin>) -> Result<(), PeerError> {
        let mut line = Vec::with_capacity(64);
        let read_line = async {
            let mut byte = [0u8; 1];
            while line.len() < 64 {
                tcp.read_exact(&mut byte).await?;
                if byte[0] == b'\n' {
                    return Ok::<_, std::io::Error>(());
                }
                line.push(byte[0]);
            }
            Err(std::io::Error::other("first line too long"))
        };
        tokio::time::timeout(HANDSHAKE_TIMEOUT, read_line).await??;
        let token = std::str::from_utf8(&line)
            .ok()
            .and_then(|text| text.strip_prefix(DATA_PREFIX))
            .and_then(|hex| u128::from_str_radix(hex, 16).ok())
            .ok_or(PeerError::NoToken)?;
        let std = tcp.into_std()?;
        if !origin.attach_data(token, OwnedFd::from(std)) {
            return Err(PeerError::UnknownToken);
        }
        Ok(())
    }
}

/// The peer's HELLO frame, or why there is none.
fn hello_frame(received: Result<Bytes, ChannelError>) -> Result<Bytes, PeerError> {
    match received {
        Err(ChannelError::Closed) => Err(PeerError::ClosedInHello),
        other => Ok(other?),
    }
}

/// Opens the data connection of socket `token` to the origin at `addr` (blocking).
pub(crate) fn dial_data(addr: SocketAddr, token: u128) -> Result<OwnedFd, SysError> {
    let errno = |e: std::io::Error| SysError {
        call: "data connection to the origin",
        errno: Errno::of_io(&e, libc::EHOSTUNREACH),
    };
    let mut tcp = std::net::TcpStream::connect_timeout(&addr, HANDSHAKE_TIMEOUT).map_err(errno)?;
    tcp.set_nodelay(true).map_err(errno)?;
    tcp.write_all(format!("{DATA_PREFIX}{token:032x}\n").as_bytes())
        .map_err(errno)?;
    Ok(OwnedFd::from(tcp))
}

//! The origin side: owns the real kernel sockets of processes homed on this node, wherever they
//! run, and applies each caller's credentials the way the local kernel would.

use ssinet_interconnect::NodeId;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::io::unix::AsyncFd;
use tokio::sync::mpsc::UnboundedSender;

use crate::error::{CallError, SysError};
use crate::fdutil::{self, random_u128};
use crate::protocol::{Answer, Creds, MAX_OPTION_LEN, Op, Push, SocketId};
use crate::relay::{self, AppSide, RelayControl};
use crate::stats::Stats;
use ssinet_rsock_wire::Errno;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum OriginState {
    Fresh,
    Connecting,
    Connected,
    Listening,
}

pub(crate) struct Entry {
    owner: NodeId,
    creds: Creds,
    fd: Arc<OwnedFd>,
    pub state: OriginState,
    token: u128,
    data: Option<OwnedFd>,
    relay: Option<Arc<RelayControl>>,
    reuseport: bool,
    bound: Option<SocketAddr>,
    accept_task: Option<tokio::task::JoinHandle<()>>,
}

impl Drop for Entry {
    fn drop(&mut self) {
        if let Some(task) = self.accept_task.take() {
            task.abort();
        }
        if let Some(relay) = &self.relay {
            relay.abort();
        }
    }
}

/// What the origin serves, for listings.
#[derive(Clone, Debug)]
pub(crate) struct ServedSocket {
    pub id: SocketId,
    pub owner: NodeId,
    pub pid: i32,
    pub uid: u32,
    pub state: OriginState,
    pub local: Option<SocketAddr>,
    pub peer: Option<SocketAddr>,
    pub bytes_in: u64,
    pub bytes_out: u64,
}

pub(crate) struct Origin {
    pub node: NodeId,
    pub epoch: u64,
    seq: AtomicU64,
    sockets: Mutex<HashMap<u64, Entry>>,
    tokens: Mutex<HashMap<u128, u64>>,
    sinks: Mutex<HashMap<NodeId, UnboundedSender<Push>>>,
    pub stats: Arc<Stats>,
    runtime: tokio::runtime::Handle,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Origin {
    pub fn new(
        node: NodeId,
        epoch: u64,
        stats: Arc<Stats>,
        runtime: tokio::runtime::Handle,
    ) -> Arc<Self> {
        Arc::new(Self {
            node,
            epoch,
            seq: AtomicU64::new(1),
            sockets: Mutex::new(HashMap::new()),
            tokens: Mutex::new(HashMap::new()),
            sinks: Mutex::new(HashMap::new()),
            stats,
            runtime,
        })
    }

    /// Where pushes about `node`'s sockets go.
    pub fn set_sink(&self, node: NodeId, sink: UnboundedSender<Push>) {
        lock(&self.sinks).insert(node, sink);
    }

    /// Forgets `sink` if it is still the one registered for `node`; true if it was.
    pub fn detach_sink(&self, node: NodeId, sink: &UnboundedSender<Push>) -> bool {
        let mut sinks = lock(&self.sinks);
        if sinks.get(&node).is_some_and(|s| s.same_channel(sink)) {
            sinks.remove(&node);
            true
        } else {
            false
        }
    }

    /// `node` is gone (its control connection closed): its sockets close.
    pub fn peer_gone(&self, node: NodeId) {
        lock(&self.sinks).remove(&node);
        let removed: Vec<Entry> = {
            let mut sockets = lock(&self.sockets);
            let seqs: Vec<u64> = sockets
                .iter()
                .filter(|(_, e)| e.owner == node)
                .map(|(s, _)| *s)
                .collect();
            seqs.iter().filter_map(|s| sockets.remove(s)).collect()
        };
        let mut tokens = lock(&self.tokens);
        for entry in &removed {
            tokens.remove(&entry.token);
        }
        if !removed.is_empty() {
            tracing::info!(
                node = %node,
                sockets = removed.len(),
                "peer agent gone; closed the sockets it held here"
            );
        }
    }

    pub fn served(&self) -> Vec<ServedSocket> {
        lock(&self.sockets)
            .iter()
            .map(|(seq, e)| ServedSocket {
                id: self.id(*seq),
                owner: e.owner,
                pid: e.creds.pid,
                uid: e.creds.uid,
                state: e.state,
                local: fdutil::local_name(e.fd.as_raw_fd())
                    .ok()
                    .filter(|a| a.port() != 0),
                peer: fdutil::peer_name(e.fd.as_raw_fd()).ok(),
                bytes_in: e
                    .relay
                    .as_ref()
                    .map_or(0, |r| r.bytes_in.load(Ordering::Relaxed)),
                bytes_out: e
                    .relay
                    .as_ref()
                    .map_or(0, |r| r.bytes_out.load(Ordering::Relaxed)),
            })
            .collect()
    }

    pub fn open_count(&self) -> usize {
        lock(&self.sockets).len()
    }

    fn id(&self, seq: u64) -> SocketId {
        SocketId {
            node: self.node,
            epoch: self.epoch,
            seq,
        }
    }

    /// A duplicate of the real socket, for the local broker's relay (origin = this node).
    pub fn real_fd(&self, id: SocketId, from: NodeId) -> Result<OwnedFd, CallError> {
        let sockets = lock(&self.sockets);
        let entry = self.entry(&sockets, id, from)?;
        Ok(fdutil::dup(entry.fd.as_raw_fd())?)
    }

    fn entry<'a>(
        &self,
        sockets: &'a HashMap<u64, Entry>,
        id: SocketId,
        from: NodeId,
    ) -> Result<&'a Entry, CallError> {
        if id.node != self.node || id.epoch != self.epoch {
            return Err(CallError::UnknownSocket(id));
        }
        match sockets.get(&id.seq) {
            Some(entry) if entry.owner == from => Ok(entry),
            _ => Err(CallError::UnknownSocket(id)),
        }
    }

    fn with_entry<T>(
        &self,
        id: SocketId,
        from: NodeId,
        f: impl FnOnce(&mut Entry) -> Result<T, CallError>,
    ) -> Result<T, CallError> {
        if id.node != self.node || id.epoch != self.epoch {
            return Err(CallError::UnknownSocket(id));
        }
        let mut sockets = lock(&self.sockets);
        match sockets.get_mut(&id.seq) {
            Some(entry) if entry.owner == from => f(entry),
            _ => Err(CallError::UnknownSocket(id)),
        }
    }

    /// Executes one control operation for a process on node `from`.
    pub async fn handle(self: &Arc<Self>, op: Op, from: NodeId) -> Result<Answer, CallError> {
        match op {
            Op::Create {
                domain,
                kind,
                protocol,
                creds,
            } => self.create(domain, kind, protocol, creds, from),
            Op::SetSockOpt {
                id,
                level,
                name,
                value,
                creds,
            } => {
                if privileged_option(level, name, &value) && !(creds.uid == 0 || creds.net_admin) {
                    Stats::bump(&self.stats.permission_denials);
                    return Err(CallError::PrivilegedOption {
                        level,
                        name,
                        uid: creds.uid,
                    });
                }
                self.with_entry(id, from, |e| {
                    fdutil::setsockopt_raw(e.fd.as_raw_fd(), level, name, &value)?;
                    if level == libc::SOL_SOCKET && name == libc::SO_REUSEPORT {
                        e.reuseport = value.first().is_some_and(|b| *b != 0);
                    }
                    Ok(Answer::Done)
                })
            }
            Op::GetSockOpt {
                id,
                level,
                name,
                len,
            } => self.with_entry(id, from, |e| {
                let len = usize::try_from(len).unwrap_or(MAX_OPTION_LEN);
                let value = fdutil::getsockopt_raw(e.fd.as_raw_fd(), level, name, len)?;
                Ok(Answer::Value(value))
            }),
            Op::Bind { id, addr, creds } => self.bind(id, addr, creds, from),
            Op::Listen { id, backlog } => self.listen(id, backlog, from),
            Op::Connect { id, addr } => self.connect(id, addr, from).await,
            Op::Shutdown { id, how } => self.with_entry(id, from, |e| {
                if e.state != OriginState::Connected {
                    return Err(CallError::NotConnected);
                }
                // SHUT_WR travels in band (the data connection's FIN) so no byte is lost.
                if how == libc::SHUT_RD || how == libc::SHUT_RDWR {
                    // SAFETY: shutdown on a socket we own.
                    unsafe { libc::shutdown(e.fd.as_raw_fd(), libc::SHUT_RD) };
                }
                Ok(Answer::Done)
            }),
            Op::GetName { id, peer } => self.with_entry(id, from, |e| {
                let raw = e.fd.as_raw_fd();
                let addr = if peer {
                    fdutil::peer_name(raw)
                } else {
                    fdutil::local_name(raw)
                };
                Ok(Answer::Address(addr?))
            }),
            Op::Close { id } => {
                self.close(id, from);
                Ok(Answer::Done)
            }
        }
    }

    fn create(
        &self,
        domain: i32,
        kind: i32,
        protocol: i32,
        creds: Creds,
        from: NodeId,
    ) -> Result<Answer, CallError> {
        if domain != libc::AF_INET && domain != libc::AF_INET6 {
            return Err(CallError::Family(domain));
        }
        if kind != libc::SOCK_STREAM {
            return Err(CallError::SocketType(kind));
        }
        // SAFETY: socket returns a new descriptor we own.
        let raw = unsafe {
            libc::socket(
                domain,
                kind | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
                protocol,
            )
        };
        if raw < 0 {
            return Err(SysError::last("socket").into());
        }
        // SAFETY: socket just returned `raw` (not -1, checked above), so it is open and owned
        // by nobody else.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        let (seq, token) = self.insert(from, creds, fd, OriginState::Fresh);
        Ok(Answer::Created {
            id: self.id(seq),
            token,
        })
    }

    /// Keeps a new real socket for a process on `owner`; its sequence number and data token (a
    /// peer's data connection presents the token; the local broker needs none).
    fn insert(&self, owner: NodeId, creds: Creds, fd: OwnedFd, state: OriginState) -> (u64, u128) {
        let seq = self.seq.fetch_add(1, Ordering::Relaxed);
        let token = random_u128();
        lock(&self.sockets).insert(
            seq,
            Entry {
                owner,
                creds,
                fd: Arc::new(fd),
                state,
                token,
                data: None,
                relay: None,
                reuseport: false,
                bound: None,
                accept_task: None,
            },
        );
        if owner != self.node {
            lock(&self.tokens).insert(token, seq);
        }
        (seq, token)
    }

    fn bind(
        &self,
        id: SocketId,
        addr: SocketAddr,
        creds: Creds,
        from: NodeId,
    ) -> Result<Answer, CallError> {
        let port = addr.port();
        if port != 0
            && port < unprivileged_port_start()
            && !(creds.uid == 0 || creds.net_bind_service)
        {
            Stats::bump(&self.stats.permission_denials);
            return Err(CallError::PrivilegedPort {
                port,
                uid: creds.uid,
            });
        }
        let mut sockets = lock(&self.sockets);
        let entry = self.entry(&sockets, id, from)?;
        if entry.reuseport && port != 0 {
            let (uid, me) = (entry.creds.uid, id.seq);
            let stolen = sockets.iter().any(|(seq, other)| {
                *seq != me
                    && other.reuseport
                    && other.creds.uid != uid
                    && other.bound.is_some_and(|b| b.port() == port)
            });
            if stolen {
                Stats::bump(&self.stats.permission_denials);
                return Err(CallError::ReusePortGroup { port });
            }
        }
        fdutil::bind(entry.fd.as_raw_fd(), &addr)?;
        let bound = fdutil::local_name(entry.fd.as_raw_fd())?;
        if let Some(entry) = sockets.get_mut(&id.seq) {
            entry.bound = Some(bound);
        }
        Ok(Answer::Address(bound))
    }

    fn listen(
        self: &Arc<Self>,
        id: SocketId,
        backlog: i32,
        from: NodeId,
    ) -> Result<Answer, CallError> {
        let listener = self.with_entry(id, from, |e| {
            // SAFETY: listen on a socket we own.
            if unsafe { libc::listen(e.fd.as_raw_fd(), backlog) } < 0 {
                return Err(SysError::last("listen").into());
            }
            if e.state == OriginState::Listening {
                return Ok(None);
            }
            e.state = OriginState::Listening;
            if let Some(data) = e.data.take() {
                drop(data);
            }
            Ok(fdutil::dup(e.fd.as_raw_fd()).map(Some)?)
        })?;
        if let Some(listener) = listener {
            let this = Arc::clone(self);
            let task = self
                .runtime
                .spawn(async move { this.accept_loop(id, listener).await });
            let _ = self.with_entry(id, from, |e| {
                e.accept_task = Some(task);
                Ok(())
            });
        }
        Ok(Answer::Done)
    }

    async fn accept_loop(self: Arc<Self>, listener_id: SocketId, listener: OwnedFd) {
        // SAFETY: the OwnedFd moves into the AsyncFd and stays open for as long as it is registered.
        let afd = match unsafe {
            AsyncFd::register_with_interest(listener, tokio::io::Interest::READABLE)
        } {
            Ok(afd) => afd,
            Err(_) => {
                tracing::warn!(%listener_id, "cannot watch a listening socket");
                return;
            }
        };
        loop {
            let mut guard = match afd.readable().await {
                Ok(guard) => guard,
                Err(_) => return,
            };
            // SAFETY: accept4 on our listening socket with null address pointers.
            let raw = unsafe {
                libc::accept4(
                    afd.get_ref().as_raw_fd(),
                    std::ptr::null_mut(),
                    std::ptr::null_mut(),
                    libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
                )
            };
            if raw < 0 {
                let e = SysError::last("accept4");
                match e.errno.get() {
                    libc::EAGAIN => guard.clear_ready(),
                    libc::EINTR | libc::ECONNABORTED => {}
                    libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM => {
                        tracing::warn!(%listener_id, "accept: out of descriptors or memory; retrying in 100 ms");
                        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                    }
                    _ => {
                        tracing::debug!(%listener_id, "listening socket closed: {e}");
                        return;
                    }
                }
                continue;
            }
            // SAFETY: accept4 returned a new descriptor we own.
            let conn = unsafe { OwnedFd::from_raw_fd(raw) };
            self.accepted(listener_id, conn);
        }
    }

    fn accepted(&self, listener_id: SocketId, conn: OwnedFd) {
        let (local, peer) = match (
            fdutil::local_name(conn.as_raw_fd()),
            fdutil::peer_name(conn.as_raw_fd()),
        ) {
            (Ok(l), Ok(p)) => (l, p),
            _ => return,
        };
        let Some((owner, creds)) = lock(&self.sockets)
            .get(&listener_id.seq)
            .map(|e| (e.owner, e.creds))
        else {
            return;
        };
        let (seq, token) = self.insert(owner, creds, conn, OriginState::Connected);
        Stats::bump(&self.stats.accepts);
        let push = Push::Accepted {
            listener: listener_id,
            id: self.id(seq),
            token,
            local,
            peer,
        };
        let sent = lock(&self.sinks)
            .get(&owner)
            .is_some_and(|sink| sink.send(push).is_ok());
        if !sent {
            self.remove(seq);
        }
    }

    async fn connect(
        self: &Arc<Self>,
        id: SocketId,
        addr: SocketAddr,
        from: NodeId,
    ) -> Result<Answer, CallError> {
        let fd = self.with_entry(id, from, |e| match e.state {
            OriginState::Connecting => Err(CallError::ConnectPending),
            OriginState::Connected | OriginState::Listening => Err(CallError::AlreadyConnected),
            OriginState::Fresh => {
                e.state = OriginState::Connecting;
                Ok(fdutil::dup(e.fd.as_raw_fd())?)
            }
        })?;
        let result = match fdutil::connect(fd.as_raw_fd(), &addr) {
            Ok(()) => Ok(()),
            Err(e) if e.errno.get() == libc::EINPROGRESS => wait_connected(fd).await,
            Err(e) => Err(e),
        };
        let outcome = self.with_entry(id, from, |e| match result {
            Ok(()) => {
                e.state = OriginState::Connected;
                let raw = e.fd.as_raw_fd();
                Ok(Answer::Connected {
                    local: fdutil::local_name(raw)?,
                    peer: fdutil::peer_name(raw)?,
                })
            }
            Err(failed) => {
                e.state = OriginState::Fresh;
                Err(failed.into())
            }
        });
        match &outcome {
            Ok(_) => {
                Stats::bump(&self.stats.connects);
                self.maybe_start_relay(id.seq);
            }
            Err(_) => Stats::bump(&self.stats.connect_failures),
        }
        outcome
    }

    /// A data connection from a peer agent presented `token`.
    pub fn attach_data(self: &Arc<Self>, token: u128, data: OwnedFd) -> bool {
        let Some(seq) = lock(&self.tokens).remove(&token) else {
            return false;
        };
        let attached = match lock(&self.sockets).get_mut(&seq) {
            Some(entry) => {
                entry.data = Some(data);
                true
            }
            None => false,
        };
        if attached {
            self.maybe_start_relay(seq);
        }
        attached
    }

    fn maybe_start_relay(self: &Arc<Self>, seq: u64) {
        let started = {
            let mut sockets = lock(&self.sockets);
            let Some(entry) = sockets.get_mut(&seq) else {
                return;
            };
            if entry.state != OriginState::Connected
                || entry.relay.is_some()
                || entry.data.is_none()
            {
                return;
            }
            let Ok(ctl) = RelayControl::new() else { return };
            let Ok(net) = fdutil::dup(entry.fd.as_raw_fd()) else {
                return;
            };
            let Some(data) = entry.data.take() else {
                return;
            };
            entry.relay = Some(Arc::clone(&ctl));
            (data, net, ctl)
        };
        let (data, net, ctl) = started;
        let this = Arc::clone(self);
        let spawned = std::thread::Builder::new()
            .name(format!("rsock-origin-{seq}"))
            .spawn(move || {
                let end = relay::run(data, net, AppSide::DataConn, &ctl);
                tracing::debug!(seq, ?end, "origin relay ended");
                this.remove(seq);
            });
        if spawned.is_err() {
            self.remove(seq);
        }
    }

    fn close(&self, id: SocketId, from: NodeId) {
        let relay = self.with_entry(id, from, |e| Ok(e.relay.clone()));
        match relay {
            Ok(Some(relay)) => relay.hang_up(),
            Ok(None) => self.remove(id.seq),
            Err(_) => {}
        }
    }

    fn remove(&self, seq: u64) {
        let entry = lock(&self.sockets).remove(&seq);
        if let Some(entry) = entry {
            lock(&self.tokens).remove(&entry.token);
        }
    }
}

/// Waits for a non-blocking connect to finish; its outcome is the socket's SO_ERROR.
async fn wait_connected(fd: OwnedFd) -> Result<(), SysError> {
    let failed = |e: std::io::Error| SysError {
        call: "connect",
        errno: Errno::of_io(&e, libc::EIO),
    };
    // SAFETY: the OwnedFd moves into the AsyncFd and stays open for as long as it is registered.
    let afd = unsafe { AsyncFd::register_with_interest(fd, tokio::io::Interest::WRITABLE) }
        .map_err(|_| SysError::new("connect", libc::EIO))?;
    let _guard = afd.writable().await.map_err(failed)?;
    match fdutil::getsockopt_int(afd.get_ref().as_raw_fd(), libc::SOL_SOCKET, libc::SO_ERROR)? {
        0 => Ok(()),
        e => Err(SysError::new("connect", e)),
    }
}

/// The first port an unprivileged process may bind in this namespace, as the kernel sees it.
fn unprivileged_port_start() -> u16 {
    std::fs::read_to_string("/proc/sys/net/ipv4/ip_unprivileged_port_start")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(1024)
}

/// Options the kernel reserves for CAP_NET_ADMIN / CAP_NET_RAW holders.
fn privileged_option(level: i32, name: i32, value: &[u8]) -> bool {
    const IPV6_TRANSPARENT: i32 = 75;
    match (level, name) {
        (
            libc::SOL_SOCKET,
            libc::SO_BINDTODEVICE
            | libc::SO_MARK
            | libc::SO_SNDBUFFORCE
            | libc::SO_RCVBUFFORCE
            | libc::SO_DEBUG,
        ) => true,
        (libc::SOL_SOCKET, libc::SO_PRIORITY) => {
            value.len() >= 4
                && !(0..=6).contains(&i32::from_ne_bytes([
                    value[0], value[1], value[2], value[3],
                ]))
        }
        (libc::SOL_IP, libc::IP_TRANSPARENT) => true,
        (libc::SOL_IPV6, IPV6_TRANSPARENT) => true,
        _ => false,
    }
}

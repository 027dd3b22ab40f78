//! The local broker: the preload library's only contact. It learns the caller from SO_PEERCRED,
//! hands out socketpair ends as the application's socket fds, forwards control calls to the
//! origin (this node or a peer) and pumps each connected socket's bytes on a thread of its own.

use ssinet_interconnect::NodeId;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use ssinet_rsock_wire::sockaddr::socklen_of;
use ssinet_rsock_wire::*;

use crate::error::{BrokerSocketError, CallError, RsockError, SysError};
use crate::fdutil::{self, dup, inode, peer_creds, recv_with_fd, send_with_fd, stream_pair};
use crate::origin::Origin;
use crate::peer::{PeerEvent, Peers, dial_data};
use crate::protocol::{Answer, Creds, Op, Push, SocketId};
use crate::relay::{self, AppSide, RelayControl};
use crate::stats::Stats;

/// Where a local process's remote socket stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    Idle,
    Bound,
    Listening,
    Connecting,
    Connected,
}

struct LocalState {
    phase: Phase,
    /// Filler bytes in the agent end keeping the application's end unwritable until connected.
    filler: usize,
    /// A connect error not yet read by getsockopt(SO_ERROR).
    so_error: Option<CallError>,
    /// The data connection to a remote origin, until the relay takes it.
    data: Option<OwnedFd>,
    relay_net: Option<OwnedFd>,
    /// The real socket's addresses at the origin, once bound, connected or accepted.
    local: Option<SocketAddr>,
    peer: Option<SocketAddr>,
}

pub(crate) struct LocalSock {
    pub id: SocketId,
    pub origin: NodeId,
    pub creds: Creds,
    agent_end: OwnedFd,
    state: Mutex<LocalState>,
    pub ctl: Arc<RelayControl>,
}

impl LocalSock {
    pub fn phase(&self) -> Phase {
        lock(&self.state).phase
    }

    /// The real socket's (local, peer) addresses, as far as this node has learnt them.
    pub fn names(&self) -> (Option<SocketAddr>, Option<SocketAddr>) {
        let st = lock(&self.state);
        (st.local, st.peer)
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[derive(Default)]
struct Table {
    by_inode: HashMap<u64, Arc<LocalSock>>,
    by_id: HashMap<SocketId, u64>,
}

pub(crate) struct Broker {
    node: NodeId,
    origin: Arc<Origin>,
    peers: Arc<Peers>,
    table: Mutex<Table>,
    runtime: tokio::runtime::Handle,
    stats: Arc<Stats>,
    max_sockets: usize,
    stopping: AtomicBool,
    listen_fd: Mutex<Option<OwnedFd>>,
    pub path: PathBuf,
}

impl Broker {
    pub fn new(
        node: NodeId,
        origin: Arc<Origin>,
        peers: Arc<Peers>,
        stats: Arc<Stats>,
        max_sockets: usize,
        path: PathBuf,
    ) -> Arc<Self> {
        Arc::new(Self {
            node,
            origin,
            peers,
            table: Mutex::new(Table::default()),
            runtime: tokio::runtime::Handle::current(),
            stats,
            max_sockets,
            stopping: AtomicBool::new(false),
            listen_fd: Mutex::new(None),
            path,
        })
    }

    /// Creates the broker socket (mode 0666: any local user may ask; SO_PEERCRED says who).
    pub fn listen(self: &Arc<Self>) -> Result<(), RsockError> {
        let err = |source: BrokerSocketError| RsockError::Broker {
            path: self.path.clone(),
            source,
        };
        let fd = bind_seqpacket(&self.path).map_err(err)?;
        let raw = fd.as_raw_fd();
        *lock(&self.listen_fd) = Some(fd);
        let this = Arc::clone(self);
        std::thread::Builder::new()
            .name("rsock-broker".into())
            .spawn(move || this.accept_loop(raw))
            .map_err(|e| err(BrokerSocketError::Thread(e)))?;
        Ok(())
    }

    pub fn stop(&self) {
        self.stopping.store(true, Ordering::SeqCst);
        if let Some(fd) = lock(&self.listen_fd).as_ref() {
            // SAFETY: wakes the accept loop; the descriptor stays open until dropped below.
            unsafe { libc::shutdown(fd.as_raw_fd(), libc::SHUT_RDWR) };
        }
        let _ = std::fs::remove_file(&self.path);
        let socks: Vec<_> = lock(&self.table).by_inode.values().cloned().collect();
        for sock in socks {
            sock.ctl.abort();
        }
    }

    pub fn sockets(&self) -> Vec<Arc<LocalSock>> {
        lock(&self.table).by_inode.values().cloned().collect()
    }

    fn accept_loop(self: Arc<Self>, listen_fd: RawFd) {
        while !self.stopping.load(Ordering::SeqCst) {
            // SAFETY: accept4 on our listening socket with null address pointers.
            let raw = unsafe {
                libc::accept4(
                    listen_fd,
                    std::ptr::null_mut(),
                    std::ptr::null_mut(),
                    libc::SOCK_CLOEXEC,
                )
            };
            if raw < 0 {
                match SysError::last("accept4").errno.get() {
                    libc::EINTR | libc::ECONNABORTED => continue,
                    libc::EMFILE | libc::ENFILE => {
                        std::thread::sleep(std::time::Duration::from_millis(50));
                        continue;
                    }
                    _ => break,
                }
            }
            // SAFETY: accept4 returned a new descriptor we own.
            let conn = unsafe { OwnedFd::from_raw_fd(raw) };
            let this = Arc::clone(&self);
            let _ = std::thread::Builder::new()
                .name("rsock-call".into())
                .spawn(move || this.serve_call(conn));
        }
        *lock(&self.listen_fd) = None;
    }

    fn serve_call(self: Arc<Self>, conn: OwnedFd) {
        let Ok(cred) = peer_creds(conn.as_raw_fd()) else {
            return;
        };
        let mut buf = [0u8; MESSAGE_ROOM];
        let Ok((n, fd)) = recv_with_fd(conn.as_raw_fd(), &mut buf) else {
            return;
        };
        let (reply, out) = match LocalRequest::decode(&buf[..n]) {
            Ok(req) => self.dispatch(req, fd, cred),
            Err(e) => (LocalReply::err(CallError::from(e).errno()), None),
        };
        let _ = send_with_fd(
            conn.as_raw_fd(),
            &reply.encode(),
            out.as_ref().map(|f| f.as_raw_fd()),
            0,
        );
    }

    /// Whether processes here may have their sockets on `origin`: this node or a peer.
    fn serves(&self, origin: NodeId) -> bool {
        origin == self.node || self.peers.knows(origin)
    }

    /// Sends `op` to the origin's agent: this one, or a peer over its control connection.
    async fn send(&self, origin: NodeId, op: Op) -> Result<Answer, CallError> {
        if origin == self.node {
            self.origin.handle(op, self.node).await
        } else {
            self.peers.call(origin, op).await
        }
    }

    /// [`Broker::send`] from a broker thread, waiting for the answer.
    fn call(&self, origin: NodeId, op: Op) -> Result<Answer, CallError> {
        self.runtime.block_on(self.send(origin, op))
    }

    fn dispatch(
        self: &Arc<Self>,
        req: LocalRequest,
        fd: Option<OwnedFd>,
        cred: libc::ucred,
    ) -> (LocalReply, Option<OwnedFd>) {
        if req.op == OP_ORIGIN {
            if node_arg(req.args[0]).is_some_and(|origin| self.serves(origin)) {
                return (LocalReply::ok(0), None);
            }
            let mut nodes: Vec<NodeId> = self.peers.nodes().chain([self.node]).collect();
            nodes.sort_unstable();
            let list: Vec<String> = nodes.iter().map(NodeId::to_string).collect();
            let mut reply = LocalReply::err(libc::EHOSTUNREACH);
            reply.blob = list.join(",").into_bytes();
            reply.blob.truncate(MAX_BLOB);
            return (reply, None);
        }
        if req.op == OP_SOCKET {
            let [domain, kind, protocol, origin] = req.args;
            let creds = caller_creds(cred);
            return match self.create(domain, kind, protocol, origin, creds) {
                Ok(app) => (LocalReply::ok(0), Some(app)),
                Err(e) => (LocalReply::err(e.errno()), None),
            };
        }
        let sock = fd
            .as_ref()
            .and_then(|fd| inode(fd.as_raw_fd()).ok())
            .and_then(|ino| lock(&self.table).by_inode.get(&ino).cloned());
        let Some(sock) = sock else {
            return (LocalReply::err(ERRNO_NOT_REMOTE), None);
        };
        let reply = match self.control(&sock, &req, cred) {
            Ok(reply) => reply,
            Err(e) => {
                tracing::trace!(id = %sock.id, op = req.op, "call failed: {e}");
                LocalReply::err(e.errno())
            }
        };
        (reply, None)
    }

    fn control(
        self: &Arc<Self>,
        sock: &Arc<LocalSock>,
        req: &LocalRequest,
        cred: libc::ucred,
    ) -> Result<LocalReply, CallError> {
        let id = sock.id;
        match req.op {
            OP_PROBE => Ok(LocalReply::ok(if sock.phase() == Phase::Listening {
                2
            } else {
                1
            })),
            OP_BIND => {
                let addr = parse_sockaddr(&req.blob)?;
                let creds = caller_creds(cred);
                let bound = self.call(sock.origin, Op::Bind { id, addr, creds })?;
                let mut st = lock(&sock.state);
                if st.phase == Phase::Idle {
                    st.phase = Phase::Bound;
                }
                if let Answer::Address(bound) = bound {
                    st.local = Some(bound);
                }
                Ok(LocalReply::ok(0))
            }
            OP_LISTEN => {
                self.call(
                    sock.origin,
                    Op::Listen {
                        id,
                        backlog: req.args[0],
                    },
                )?;
                lock(&sock.state).phase = Phase::Listening;
                Ok(LocalReply::ok(0))
            }
            OP_CONNECT => self.connect(sock, req),
            OP_GETSOCKNAME | OP_GETPEERNAME => {
                match self.call(
                    sock.origin,
                    Op::GetName {
                        id,
                        peer: req.op == OP_GETPEERNAME,
                    },
                )? {
                    Answer::Address(addr) => Ok(LocalReply::with_blob(sockaddr_bytes(&addr))),
                    _ => Err(CallError::UnexpectedAnswer),
                }
            }
            OP_GETSOCKOPT => {
                let [level, name, len, _] = req.args;
                if level == libc::SOL_SOCKET && name == libc::SO_ERROR {
                    let mut st = lock(&sock.state);
                    if st.so_error.is_some() || st.phase == Phase::Connecting {
                        // The option's value is the errno itself: 0 while the connect goes on.
                        let e = st.so_error.take().map_or(0, CallError::errno);
                        return Ok(LocalReply::with_blob(e.to_ne_bytes().to_vec()));
                    }
                }
                // A negative buffer length asks for nothing; no option is longer than the limit.
                let len = u32::try_from(len)
                    .unwrap_or(0)
                    .min(crate::protocol::MAX_OPTION_LEN_U32);
                match self.call(
                    sock.origin,
                    Op::GetSockOpt {
                        id,
                        level,
                        name,
                        len,
                    },
                )? {
                    Answer::Value(blob) => Ok(LocalReply::with_blob(blob)),
                    _ => Err(CallError::UnexpectedAnswer),
                }
            }
            OP_SETSOCKOPT => {
                let [level, name, _, _] = req.args;
                self.call(
                    sock.origin,
                    Op::SetSockOpt {
                        id,
                        level,
                        name,
                        value: req.blob.clone(),
                        creds: caller_creds(cred),
                    },
                )?;
                if level == libc::SOL_SOCKET && name == libc::SO_LINGER && req.blob.len() >= 8 {
                    let word = |i: usize| {
                        i32::from_ne_bytes([
                            req.blob[i],
                            req.blob[i + 1],
                            req.blob[i + 2],
                            req.blob[i + 3],
                        ])
                    };
                    sock.ctl.set_abortive_close(word(0) != 0 && word(4) == 0);
                }
                Ok(LocalReply::ok(0))
            }
            OP_SHUTDOWN => {
                if sock.phase() != Phase::Connected {
                    return Err(CallError::NotConnected);
                }
                self.call(
                    sock.origin,
                    Op::Shutdown {
                        id,
                        how: req.args[0],
                    },
                )?;
                Ok(LocalReply::ok(0))
            }
            op => Err(CallError::UnknownOp(op)),
        }
    }

    fn connect(
        self: &Arc<Self>,
        sock: &Arc<LocalSock>,
        req: &LocalRequest,
    ) -> Result<LocalReply, CallError> {
        let addr: SocketAddr = parse_sockaddr(&req.blob)?;
        {
            let mut st = lock(&sock.state);
            match st.phase {
                Phase::Connecting => return Err(CallError::ConnectPending),
                Phase::Connected | Phase::Listening => return Err(CallError::AlreadyConnected),
                Phase::Idle | Phase::Bound => st.phase = Phase::Connecting,
            }
        }
        let op = Op::Connect { id: sock.id, addr };
        if req.args[0] != 0 {
            let this = Arc::clone(self);
            let sock = Arc::clone(sock);
            self.runtime.spawn(async move {
                let result = this.send(sock.origin, op).await;
                let _ =
                    tokio::task::spawn_blocking(move || this.finish_connect(&sock, result)).await;
            });
            return Err(CallError::InProgress);
        }
        let result = self.call(sock.origin, op);
        self.finish_connect(sock, result.clone());
        result.map(|_| LocalReply::ok(0))
    }

    fn finish_connect(&self, sock: &LocalSock, result: Result<Answer, CallError>) {
        let mut st = lock(&sock.state);
        if let Ok(Answer::Connected { local, peer }) = &result {
            st.local = Some(*local);
            st.peer = Some(*peer);
        }
        let net = match result {
            Ok(_) if sock.origin == self.node => self.origin.real_fd(sock.id, self.node),
            Ok(_) => st.data.take().ok_or(CallError::NoDataConnection),
            Err(e) => Err(e),
        };
        if st.filler > 0 {
            // The application's end becomes writable: POLLOUT, then SO_ERROR tells the outcome.
            if fdutil::drain(sock.agent_end.as_raw_fd(), st.filler).is_ok() {
                st.filler = 0;
            }
        }
        match net {
            Ok(net) => {
                st.phase = Phase::Connected;
                st.relay_net = Some(net);
                sock.ctl.nudge();
            }
            Err(e) => {
                st.phase = Phase::Idle;
                st.so_error = Some(e);
            }
        }
    }

    fn create(
        self: &Arc<Self>,
        domain: i32,
        kind: i32,
        protocol: i32,
        origin: i32,
        creds: Creds,
    ) -> Result<OwnedFd, CallError> {
        let origin = node_arg(origin).ok_or(CallError::NoSuchNode(origin))?;
        if !self.serves(origin) {
            return Err(CallError::OriginUnreachable(origin));
        }
        if lock(&self.table).by_inode.len() >= self.max_sockets {
            return Err(CallError::TooManySockets(self.max_sockets));
        }
        let Answer::Created { id, token } = self.call(
            origin,
            Op::Create {
                domain,
                kind,
                protocol,
                creds,
            },
        )?
        else {
            return Err(CallError::UnexpectedAnswer);
        };
        let data = if origin == self.node {
            None
        } else {
            match self
                .peers
                .addr(origin)
                .ok_or(CallError::OriginUnreachable(origin))
                .and_then(|addr| Ok(dial_data(addr, token)?))
            {
                Ok(data) => Some(data),
                Err(e) => {
                    let _ = self.call(origin, Op::Close { id });
                    return Err(e);
                }
            }
        };
        let (app, agent) = stream_pair()?;
        let filler = fdutil::fill_send_buffer(app.as_raw_fd())?;
        Stats::bump(&self.stats.sockets_created);
        let state = LocalState {
            phase: Phase::Idle,
            filler,
            so_error: None,
            data,
            relay_net: None,
            local: None,
            peer: None,
        };
        self.register(id, origin, creds, &app, agent, state)?;
        Ok(app)
    }

    fn register(
        self: &Arc<Self>,
        id: SocketId,
        origin: NodeId,
        creds: Creds,
        app: &OwnedFd,
        agent: OwnedFd,
        state: LocalState,
    ) -> Result<(), CallError> {
        let ino = inode(app.as_raw_fd())?;
        let sock = Arc::new(LocalSock {
            id,
            origin,
            creds,
            agent_end: agent,
            state: Mutex::new(state),
            ctl: RelayControl::new()?,
        });
        {
            let mut table = lock(&self.table);
            table.by_inode.insert(ino, Arc::clone(&sock));
            table.by_id.insert(id, ino);
        }
        let this = Arc::clone(self);
        let spawned = std::thread::Builder::new()
            .name(format!("rsock-{}", id.seq))
            .spawn(move || {
                this.socket_thread(&sock);
                this.finish(ino, &sock);
            });
        spawned.map(|_| ()).map_err(|_| CallError::Thread)
    }

    /// Waits for the application to hang up or the socket to get connected, then relays.
    fn socket_thread(&self, sock: &LocalSock) {
        loop {
            if sock.ctl.is_aborted() {
                return;
            }
            // Taken in its own statement: an `if let` scrutinee's guard would live through the relay.
            let net = lock(&sock.state).relay_net.take();
            if let Some(net) = net {
                let Ok(app) = dup(sock.agent_end.as_raw_fd()) else {
                    return;
                };
                let end = relay::run(app, net, AppSide::UnixEnd, &sock.ctl);
                tracing::debug!(id = %sock.id, ?end, "relay ended");
                return;
            }
            let mut fds = [
                libc::pollfd {
                    fd: sock.agent_end.as_raw_fd(),
                    events: 0,
                    revents: 0,
                },
                libc::pollfd {
                    fd: sock.ctl.wake_fd(),
                    events: libc::POLLIN,
                    revents: 0,
                },
            ];
            // SAFETY: two valid pollfds.
            unsafe { libc::poll(fds.as_mut_ptr(), 2, -1) };
            if fds[0].revents & (libc::POLLHUP | libc::POLLERR) != 0
                && lock(&sock.state).relay_net.is_none()
            {
                return;
            }
            if fds[1].revents & libc::POLLIN != 0 {
                fdutil::clear_eventfd(sock.ctl.wake_fd());
            }
        }
    }

    fn finish(self: &Arc<Self>, ino: u64, sock: &LocalSock) {
        {
            let mut table = lock(&self.table);
            table.by_inode.remove(&ino);
            table.by_id.remove(&sock.id);
        }
        self.stats
            .bytes_in_closed
            .fetch_add(sock.ctl.bytes_in.load(Ordering::Relaxed), Ordering::Relaxed);
        self.stats.bytes_out_closed.fetch_add(
            sock.ctl.bytes_out.load(Ordering::Relaxed),
            Ordering::Relaxed,
        );
        if sock.ctl.is_aborted() && sock.origin != self.node {
            return;
        }
        let op = Op::Close { id: sock.id };
        let (this, origin) = (Arc::clone(self), sock.origin);
        self.runtime.spawn(async move {
            let _ = this.send(origin, op).await;
        });
    }

    /// Handles pushes and lost origins until the channel closes.
    pub async fn events(
        self: Arc<Self>,
        mut events: tokio::sync::mpsc::UnboundedReceiver<PeerEvent>,
    ) {
        while let Some(event) = events.recv().await {
            match event {
                PeerEvent::Push(origin, push) => {
                    let this = Arc::clone(&self);
                    tokio::task::spawn_blocking(move || this.pushed(origin, push));
                }
                PeerEvent::OriginLost(origin) => {
                    let socks: Vec<_> = lock(&self.table)
                        .by_inode
                        .values()
                        .filter(|s| s.origin == origin)
                        .cloned()
                        .collect();
                    for sock in socks {
                        sock.ctl.abort();
                    }
                }
            }
        }
    }

    fn pushed(self: &Arc<Self>, origin: NodeId, push: Push) {
        let Push::Accepted {
            listener,
            id,
            token,
            local,
            peer,
        } = push;
        let listening = {
            let table = lock(&self.table);
            table
                .by_id
                .get(&listener)
                .and_then(|ino| table.by_inode.get(ino).cloned())
        };
        let result = match listening {
            Some(listening) => self.hand_over(&listening, origin, id, token, local, peer),
            None => Err(CallError::UnknownSocket(listener)),
        };
        if let Err(e) = result {
            tracing::debug!(%id, "accepted connection dropped (listener gone or backlog full): {e}");
            let this = Arc::clone(self);
            self.runtime.spawn(async move {
                let _ = this.send(origin, Op::Close { id }).await;
            });
        }
    }

    /// Gives the connection `id` the listening socket accepted to the application: a new
    /// socketpair end sent beside its accept record down the listening fd.
    fn hand_over(
        self: &Arc<Self>,
        listening: &LocalSock,
        origin: NodeId,
        id: SocketId,
        token: u128,
        local: SocketAddr,
        peer: SocketAddr,
    ) -> Result<(), CallError> {
        let net = if origin == self.node {
            self.origin.real_fd(id, self.node)?
        } else {
            let addr = self
                .peers
                .addr(origin)
                .ok_or(CallError::OriginUnreachable(origin))?;
            dial_data(addr, token)?
        };
        let (app, agent) = stream_pair()?;
        let state = LocalState {
            phase: Phase::Connected,
            filler: 0,
            so_error: None,
            data: None,
            relay_net: Some(net),
            local: Some(local),
            peer: Some(peer),
        };
        self.register(id, origin, listening.creds, &app, agent, state)?;
        Stats::bump(&self.stats.sockets_created);
        let record = AcceptRecord { local, peer }.encode();
        send_with_fd(
            listening.agent_end.as_raw_fd(),
            &record,
            Some(app.as_raw_fd()),
            libc::MSG_DONTWAIT,
        )?;
        Ok(())
    }
}

fn bind_seqpacket(path: &Path) -> Result<OwnedFd, BrokerSocketError> {
    use std::os::unix::fs::PermissionsExt;
    let addr =
        fdutil::unix_socket_address("bind", path).map_err(|_| BrokerSocketError::PathTooLong)?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty())
        && !dir.exists()
    {
        use std::os::unix::fs::DirBuilderExt;
        // 0755 whatever the umask: every local user's ssi-exec processes must reach the socket.
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o755)
            .create(dir)
            .and_then(|()| std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)))
            .map_err(|source| BrokerSocketError::CreateDir {
                dir: dir.to_path_buf(),
                source,
            })?;
    }
    if fdutil::connect_seqpacket(path).is_ok() {
        return Err(BrokerSocketError::InUse);
    }
    match std::fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(BrokerSocketError::RemoveStale(e)),
    }
    let fd = fdutil::seqpacket_socket()?;
    // SAFETY: `addr` is a complete sockaddr_un of the stated length.
    let bound = unsafe {
        libc::bind(
            fd.as_raw_fd(),
            (&raw const addr).cast(),
            socklen_of::<libc::sockaddr_un>(),
        )
    };
    if bound < 0 {
        return Err(SysError::last("bind").into());
    }
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o666))
        .map_err(BrokerSocketError::Chmod)?;
    // SAFETY: listen on our socket.
    if unsafe { libc::listen(fd.as_raw_fd(), 512) } < 0 {
        return Err(SysError::last("listen").into());
    }
    Ok(fd)
}

/// A node number from a request's argument word (negative ones name no node).
fn node_arg(arg: i32) -> Option<NodeId> {
    u64::try_from(arg).ok().map(NodeId)
}

/// The caller's credentials, with the two capabilities the origin's rules look at. It reads
/// /proc, so only the calls those rules judge (socket, bind, setsockopt) ask for it.
fn caller_creds(cred: libc::ucred) -> Creds {
    let cap_eff = std::fs::read_to_string(format!("/proc/{}/status", cred.pid))
        .ok()
        .and_then(|status| {
            status.lines().find_map(|l| {
                l.strip_prefix("CapEff:")
                    .map(|v| u64::from_str_radix(v.trim(), 16).unwrap_or(0))
            })
        })
        .unwrap_or(0);
    Creds {
        pid: cred.pid,
        uid: cred.uid,
        gid: cred.gid,
        net_bind_service: cap_eff & (1 << 10) != 0,
        net_admin: cap_eff & (1 << 12) != 0,
    }
}

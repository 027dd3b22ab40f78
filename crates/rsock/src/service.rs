//! The embeddable service the agent runs: origin, peer connections and the local broker.

use ssinet_interconnect::NodeId;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use serde::Serialize;
use ssinet_interconnect::NodeIdentity;
use tokio::net::TcpListener;

use crate::broker::{Broker, Phase};
use crate::error::RsockError;
use crate::origin::{Origin, OriginState};
use crate::peer::Peers;
use crate::protocol::{DEFAULT_MAX_FRAME, SocketId};
use crate::stats::{Counters, Stats, counter_value};

/// Bounds on what peers and local processes may ask of this agent.
#[derive(Clone, Debug)]
pub struct RsockLimits {
    /// Largest control frame accepted from a peer.
    pub max_frame: usize,
    /// Remote sockets local processes may hold at once.
    pub max_sockets: usize,
}

impl Default for RsockLimits {
    fn default() -> Self {
        Self {
            max_frame: DEFAULT_MAX_FRAME,
            max_sockets: 16384,
        }
    }
}

/// How the agent runs rsock.
#[derive(Clone, Debug)]
pub struct RsockConfig {
    pub node: NodeId,
    /// Interconnect address peers dial (port 7948 by convention).
    pub listen: SocketAddr,
    /// Every other node's rsock address.
    pub peers: BTreeMap<NodeId, SocketAddr>,
    pub identity: NodeIdentity,
    /// The broker's unix socket (default /run/ssinet-rsock/broker.sock), mode 0666, in a
    /// directory anyone may traverse.
    pub broker_socket: PathBuf,
    pub limits: RsockLimits,
}

/// One live remote socket, as `cvipctl rsock list` shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SocketInfo {
    pub id: SocketId,
    /// "local": a process on this node uses it; "served": this node is the origin for a process
    /// on `node`.
    pub role: &'static str,
    /// The node whose process uses it.
    pub node: NodeId,
    pub pid: i32,
    pub uid: u32,
    pub origin: NodeId,
    pub state: &'static str,
    /// The real socket's addresses at the origin, where this node knows them.
    pub local: Option<SocketAddr>,
    pub peer: Option<SocketAddr>,
    pub bytes_in: u64,
    pub bytes_out: u64,
}

/// The running service.
pub struct RsockService {
    broker: Arc<Broker>,
    origin: Arc<Origin>,
    stats: Arc<Stats>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    epoch: u64,
    listen: SocketAddr,
    broker_socket: PathBuf,
}

impl RsockService {
    /// Starts listening for peers and for local processes. Must be called inside a tokio runtime.
    pub async fn start(cfg: RsockConfig) -> Result<Self, RsockError> {
        if cfg.identity.node() != cfg.node {
            return Err(RsockError::IdentityMismatch {
                identity: cfg.identity.node(),
                node: cfg.node,
            });
        }
        let epoch = crate::fdutil::random_epoch();
        let stats = Arc::new(Stats::default());
        let origin = Origin::new(
            cfg.node,
            epoch,
            Arc::clone(&stats),
            tokio::runtime::Handle::current(),
        );
        let (events_tx, events_rx) = tokio::sync::mpsc::unbounded_channel();
        let peers = Peers::new(
            cfg.node,
            epoch,
            cfg.peers.clone(),
            cfg.identity.clone(),
            events_tx.clone(),
            cfg.limits.max_frame,
            Arc::clone(&stats),
        );
        let listener =
            TcpListener::bind(cfg.listen)
                .await
                .map_err(|source| RsockError::PeerListen {
                    addr: cfg.listen,
                    source,
                })?;
        let listen = listener.local_addr().unwrap_or(cfg.listen);
        let broker = Broker::new(
            cfg.node,
            Arc::clone(&origin),
            Arc::clone(&peers),
            Arc::clone(&stats),
            cfg.limits.max_sockets,
            cfg.broker_socket.clone(),
        );
        // Pushes for this node's own processes (origin = this node) take the same path as peers'.
        let (local_tx, mut local_rx) = tokio::sync::mpsc::unbounded_channel();
        origin.set_sink(cfg.node, local_tx);
        let node = cfg.node;
        let forward = tokio::spawn(async move {
            while let Some(push) = local_rx.recv().await {
                if events_tx
                    .send(crate::peer::PeerEvent::Push(node, push))
                    .is_err()
                {
                    break;
                }
            }
        });
        let serve = tokio::spawn(Arc::clone(&peers).serve(listener, Arc::clone(&origin)));
        let events = tokio::spawn(Arc::clone(&broker).events(events_rx));
        broker.listen()?;
        tracing::info!(node = %cfg.node, epoch = format!("{epoch:x}"), listen = %cfg.listen, broker = %cfg.broker_socket.display(), "rsock service started");
        Ok(Self {
            broker,
            origin,
            stats,
            tasks: vec![forward, serve, events],
            epoch,
            listen,
            broker_socket: cfg.broker_socket,
        })
    }

    /// This agent's boot epoch (part of every socket id it creates).
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// Where peers reach this node's origin side.
    pub fn listen(&self) -> SocketAddr {
        self.listen
    }

    /// The broker's unix socket.
    pub fn broker_socket(&self) -> &std::path::Path {
        &self.broker_socket
    }

    pub fn sockets(&self) -> Vec<SocketInfo> {
        let mut out: Vec<SocketInfo> = self
            .broker
            .sockets()
            .iter()
            .map(|s| {
                let (local, peer) = s.names();
                SocketInfo {
                    id: s.id,
                    role: "local",
                    node: self.origin.node,
                    pid: s.creds.pid,
                    uid: s.creds.uid,
                    origin: s.origin,
                    state: match s.phase() {
                        Phase::Idle => "idle",
                        Phase::Bound => "bound",
                        Phase::Listening => "listening",
                        Phase::Connecting => "connecting",
                        Phase::Connected => "connected",
                    },
                    local,
                    peer,
                    bytes_in: s.ctl.bytes_in.load(std::sync::atomic::Ordering::Relaxed),
                    bytes_out: s.ctl.bytes_out.load(std::sync::atomic::Ordering::Relaxed),
                }
            })
            .collect();
        out.extend(
            self.origin
                .served()
                .into_iter()
                .filter(|s| s.owner != self.origin.node)
                .map(|s| SocketInfo {
                    id: s.id,
                    role: "served",
                    node: s.owner,
                    pid: s.pid,
                    uid: s.uid,
                    origin: self.origin.node,
                    state: match s.state {
                        OriginState::Fresh => "idle",
                        OriginState::Connecting => "connecting",
                        OriginState::Connected => "connected",
                        OriginState::Listening => "listening",
                    },
                    local: s.local,
                    peer: s.peer,
                    bytes_in: s.bytes_in,
                    bytes_out: s.bytes_out,
                }),
        );
        out.sort_by_key(|s| s.id);
        out
    }

    pub fn counters(&self) -> Counters {
        let socks = self.broker.sockets();
        let live_in: u64 = socks
            .iter()
            .map(|s| s.ctl.bytes_in.load(std::sync::atomic::Ordering::Relaxed))
            .sum();
        let live_out: u64 = socks
            .iter()
            .map(|s| s.ctl.bytes_out.load(std::sync::atomic::Ordering::Relaxed))
            .sum();
        let s = &self.stats;
        Counters {
            sockets_created: Stats::get(&s.sockets_created),
            sockets_open: counter_value(socks.len()),
            origin_sockets_open: counter_value(self.origin.open_count()),
            connects: Stats::get(&s.connects),
            connect_failures: Stats::get(&s.connect_failures),
            accepts: Stats::get(&s.accepts),
            bytes_in: Stats::get(&s.bytes_in_closed) + live_in,
            bytes_out: Stats::get(&s.bytes_out_closed) + live_out,
            refused_connections: Stats::get(&s.refused_connections),
            bad_frames: Stats::get(&s.bad_frames),
            origins_lost: Stats::get(&s.origins_lost),
            permission_denials: Stats::get(&s.permission_denials),
        }
    }

    /// Stops accepting, closes every remote socket of local processes and removes the broker socket.
    pub async fn shutdown(&self) {
        self.broker.stop();
        for task in &self.tasks {
            task.abort();
        }
        for node in self
            .origin
            .served()
            .iter()
            .map(|s| s.owner)
            .collect::<std::collections::BTreeSet<_>>()
        {
            self.origin.peer_gone(node);
        }
    }
}

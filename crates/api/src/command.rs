//! The commands that change the replicated state, one Raft log entry each, and their answers.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};
use ssinet_config::{
    ClusterConfig, DirectorNode, HealthCheck, NodeId, Persistence, PortWeight, Protocol, Scheduler,
};

/// A change to the [`ClusterState`](crate::ClusterState). In JSON an object tagged by
/// `"command"`, e.g. `{"command": "del_cvip", "ip": "192.168.200.11"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "command", rename_all = "snake_case")]
pub enum Command {
    /// Seeds the state from the files at first start; rejected once the state holds anything,
    /// so every agent may send it on every start and only the first one counts.
    Bootstrap(ClusterConfig),
    /// Replaces the whole configuration at once (`cvipctl config apply`). Registrations that no
    /// longer fit (node gone, port no longer balanced) are dropped with it.
    ApplyConfig(ClusterConfig),
    /// Adds a CVIP. Without `directors` it gets the directors the other CVIPs share (OpenSSI:
    /// CVIPs share all directors or none).
    AddCvip {
        ip: IpAddr,
        #[serde(default)]
        gateway: Option<IpAddr>,
        #[serde(default)]
        directors: Option<Vec<DirectorNode>>,
        #[serde(default)]
        real_servers: Vec<NodeId>,
    },
    /// Removes a CVIP; the last one cannot go (a cluster without a CVIP has no face).
    DelCvip { ip: IpAddr },
    /// Makes `node` a director of every CVIP.
    AddDirector {
        node: NodeId,
        garp_interface: String,
        #[serde(default)]
        sync_interface: Option<String>,
    },
    /// Removes `node` from the directors of every CVIP; the last director cannot go.
    DelDirector { node: NodeId },
    /// Sets a port range's weight (for every node, or for `node` only): replaces the range with
    /// the same protocol, ports and node, else adds it. Overlapping ranges are rejected.
    SetPortWeight(PortWeight),
    /// Removes the range with exactly this protocol, ports and node.
    DelPortWeight {
        proto: Protocol,
        start_port: u16,
        end_port: u16,
        #[serde(default)]
        node: Option<NodeId>,
    },
    /// Sets the IPVS scheduler of one CVIP, or without `cvip` the global one. Without
    /// `scheduler` it clears that setting (a CVIP then uses the global scheduler, the global
    /// one falls back to mh with mh-port). Flags must belong to the scheduler.
    SetScheduler {
        #[serde(default)]
        cvip: Option<IpAddr>,
        #[serde(default)]
        scheduler: Option<Scheduler>,
    },
    /// Sets client persistence (`ipvsadm -p/-M`) of one CVIP or globally; without
    /// `persistence` it clears that setting.
    SetPersistence {
        #[serde(default)]
        cvip: Option<IpAddr>,
        #[serde(default)]
        persistence: Option<Persistence>,
    },
    /// Replaces the health-check settings.
    SetHealthCheck(HealthCheck),
    /// `node` listens on `proto`/`port`; the port must be inside a port-weight range.
    /// Registering again is a no-op.
    RegisterListener {
        node: NodeId,
        proto: Protocol,
        port: u16,
    },
    /// `node` stopped listening on `proto`/`port`. Unregistering what is not registered is a no-op.
    UnregisterListener {
        node: NodeId,
        proto: Protocol,
        port: u16,
    },
    /// Replaces everything `node` has registered with `set` (a watcher's full resync). Rejected
    /// as a whole when any entry is outside the port-weight ranges.
    ReplaceListeners { node: NodeId, set: Vec<Listener> },
}

impl Command {
    /// The command's name as in JSON, for logs and metrics.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Bootstrap(_) => "bootstrap",
            Self::ApplyConfig(_) => "apply_config",
            Self::AddCvip { .. } => "add_cvip",
            Self::DelCvip { .. } => "del_cvip",
            Self::AddDirector { .. } => "add_director",
            Self::DelDirector { .. } => "del_director",
            Self::SetPortWeight(_) => "set_port_weight",
            Self::DelPortWeight { .. } => "del_port_weight",
            Self::SetScheduler { .. } => "set_scheduler",
            Self::SetPersistence { .. } => "set_persistence",
            Self::SetHealthCheck(_) => "set_health_check",
            Self::RegisterListener { .. } => "register_listener",
            Self::UnregisterListener { .. } => "unregister_listener",
            Self::ReplaceListeners { .. } => "replace_listeners",
        }
    }
}

/// A listening (protocol, port) in a [`Command::ReplaceListeners`] set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Listener {
    pub proto: Protocol,
    pub port: u16,
}

/// What applying a command answered. In JSON tagged by `"outcome"`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Response {
    /// The state changed as asked (or already was as asked). `summary` says what happened in
    /// words that do not depend on the log index, e.g. `added CVIP 192.168.200.11`.
    Applied { summary: String },
    /// Nothing changed. Each problem is one line, `field: message (expected ...)`, from the
    /// same validation as `cvipctl config check`.
    Rejected { problems: Vec<String> },
}

impl Response {
    pub fn is_applied(&self) -> bool {
        matches!(self, Self::Applied { .. })
    }
}

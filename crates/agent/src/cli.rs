//! `ssinetd`'s command line. Every path defaults to where OpenSSI (or ssinet's packaging) puts it,
//! so a node configured for OpenSSI starts with no flags at all.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use ssinet_config::{DEFAULT_CLUSTERTAB_PATH, DEFAULT_CVIP_CONF_PATH, DEFAULT_LVS_ROUTING_PATH};

/// The TCP port of the Raft RPC server on every node's interconnect address.
pub const DEFAULT_RAFT_PORT: u16 = 7946;

/// ssinetd: the ssinet node agent (Raft cluster member, director election, admin API).
#[derive(Debug, Clone, Parser)]
#[command(name = "ssinetd", version)]
pub struct Args {
    /// OpenSSI node table: node number, interconnect IP, MAC, boot protocol, init flag, device.
    #[arg(long, value_name = "PATH", default_value = DEFAULT_CLUSTERTAB_PATH)]
    pub clustertab: PathBuf,

    /// OpenSSI CVIP configuration (XML); seeds the replicated state at first start.
    #[arg(long, value_name = "PATH", default_value = DEFAULT_CVIP_CONF_PATH)]
    pub cvip_conf: PathBuf,

    /// OpenSSI LVS routing defaults (LVS_ROUTING, LVS_INTERNAL_GW); optional for DR clusters.
    #[arg(long, value_name = "PATH", default_value = DEFAULT_LVS_ROUTING_PATH)]
    pub lvs_routing: PathBuf,

    /// Directory for the Raft log and state (raft.redb); created 0700 if missing.
    #[arg(long, value_name = "DIR", default_value = "/var/lib/ssinet")]
    pub data_dir: PathBuf,

    /// This node's TLS files from `cvipctl pki init`: ca.pem, node.pem, node.key.
    #[arg(long, value_name = "DIR", default_value = "/etc/ssinet/tls")]
    pub tls_dir: PathBuf,

    /// Unix socket of the root-only admin API (cvipctl talks to it).
    #[arg(long, value_name = "PATH", default_value = ssinet_api::admin::DEFAULT_SOCKET)]
    pub admin_socket: PathBuf,

    /// This node's number; default: the clustertab node whose interconnect IP this host has.
    #[arg(long, value_name = "N")]
    pub node: Option<ssinet_config::NodeId>,

    /// Raft RPC port, the same on every node (peers are dialed at <interconnect IP>:<port>).
    #[arg(long, value_name = "PORT", default_value_t = DEFAULT_RAFT_PORT)]
    pub raft_port: u16,

    /// Peer status port (mTLS, answers role and quorum to other agents); default raft port + 1.
    #[arg(long, value_name = "PORT")]
    pub peer_port: Option<u16>,

    /// Bind the Raft RPC server here instead of <own interconnect IP>:<raft port>.
    #[arg(long, value_name = "ADDR:PORT")]
    pub listen: Option<SocketAddr>,

    /// Leader heartbeat interval in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 30)]
    pub heartbeat_ms: u64,

    /// Shortest time between two elections this node stands in (ms); the fence releases sooner.
    #[arg(long, value_name = "MS", default_value_t = 150)]
    pub election_min_ms: u64,

    /// Leader lease (ms): voters refuse a new leader until this long after the last heartbeat,
    /// and a director stands for election once it heard none for this long. Failover takes
    /// about this plus a few round trips.
    #[arg(long, value_name = "MS", default_value_t = 200)]
    pub election_max_ms: u64,

    /// Director fence: drop the CVIPs when no quorum acknowledged us for this long (ms; must be
    /// below --election-min-ms; default two thirds of it).
    #[arg(long, value_name = "MS")]
    pub release_ms: Option<u64>,

    /// Remote-socket (rsock) port on the interconnect, the same on every node; default raft
    /// port + 2. Processes started with `ssi-exec --origin N` reach node N's sockets through it.
    #[arg(long, value_name = "PORT")]
    pub rsock_port: Option<u16>,

    /// The rsock broker's unix socket, which `ssi-exec` processes on this node talk to.
    #[arg(long, value_name = "PATH", default_value = ssinet_rsock::local_wire::DEFAULT_BROKER_SOCKET)]
    pub rsock_socket: PathBuf,

    /// Do not run the remote-socket service (no broker, no origin side).
    #[arg(long)]
    pub no_rsock: bool,

    /// Internal: run as the fence guard of the agent that started this process.
    #[arg(long, value_name = "DIR", hide = true)]
    pub fence_guard: Option<PathBuf>,
}

impl Args {
    pub fn timing(&self) -> ssinet_raft::Timing {
        ssinet_raft::Timing {
            heartbeat: Duration::from_millis(self.heartbeat_ms),
            election_min: Duration::from_millis(self.election_min_ms),
            election_max: Duration::from_millis(self.election_max_ms),
        }
    }

    /// The fence's release time, checked against the election timeout.
    pub fn release(&self) -> Result<Duration, String> {
        let release = self.release_ms.unwrap_or(self.election_min_ms * 2 / 3);
        if release == 0 || release >= self.election_min_ms {
            return Err(format!(
                "--release-ms {release} must be above 0 and below --election-min-ms {} (a \
                 partitioned director must let go of the CVIPs before a successor can be elected)",
                self.election_min_ms
            ));
        }
        Ok(Duration::from_millis(release))
    }

    pub fn peer_port(&self) -> u16 {
        self.peer_port
            .unwrap_or_else(|| self.raft_port.saturating_add(1))
    }

    pub fn rsock_port(&self) -> u16 {
        self.rsock_port
            .unwrap_or_else(|| self.raft_port.saturating_add(2))
    }
}

//! What is balanced and how: port weights, IPVS scheduler, persistence, health checks.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::NodeId;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Protocol {
    Tcp,
    Udp,
}

impl Protocol {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Tcp => "tcp",
            Self::Udp => "udp",
        }
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The largest weight IPVS accepts (the kernel rejects negative `int` weights).
pub const MAX_WEIGHT: u32 = i32::MAX as u32;

/// A load-balanced port range, OpenSSI's `setport_weight`. Without `node` it is the default weight
/// of every node; with `node` it overrides that node's weight for the range.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PortWeight {
    pub proto: Protocol,
    pub start_port: u16,
    pub end_port: u16,
    /// 0 = quiesced: existing connections stay, no new ones.
    pub weight: u32,
    pub node: Option<NodeId>,
}

impl PortWeight {
    pub fn contains(&self, port: u16) -> bool {
        self.start_port <= port && port <= self.end_port
    }

    pub fn overlaps(&self, other: &PortWeight) -> bool {
        self.proto == other.proto
            && self.start_port <= other.end_port
            && other.start_port <= self.end_port
    }
}

/// IPVS schedulers known to the kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SchedulerName {
    Rr,
    Wrr,
    Lc,
    Wlc,
    Lblc,
    Lblcr,
    Dh,
    Sh,
    Sed,
    Nq,
    Fo,
    Ovf,
    Mh,
    Twos,
}

impl SchedulerName {
    pub const ALL: [Self; 14] = [
        Self::Rr,
        Self::Wrr,
        Self::Lc,
        Self::Wlc,
        Self::Lblc,
        Self::Lblcr,
        Self::Dh,
        Self::Sh,
        Self::Sed,
        Self::Nq,
        Self::Fo,
        Self::Ovf,
        Self::Mh,
        Self::Twos,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Rr => "rr",
            Self::Wrr => "wrr",
            Self::Lc => "lc",
            Self::Wlc => "wlc",
            Self::Lblc => "lblc",
            Self::Lblcr => "lblcr",
            Self::Dh => "dh",
            Self::Sh => "sh",
            Self::Sed => "sed",
            Self::Nq => "nq",
            Self::Fo => "fo",
            Self::Ovf => "ovf",
            Self::Mh => "mh",
            Self::Twos => "twos",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|n| n.as_str() == s)
    }
}

impl fmt::Display for SchedulerName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// IPVS scheduler flags (`ipvsadm -b`); each belongs to one scheduler.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum SchedulerFlag {
    ShFallback,
    ShPort,
    MhFallback,
    MhPort,
}

impl SchedulerFlag {
    pub const ALL: [Self; 4] = [
        Self::ShFallback,
        Self::ShPort,
        Self::MhFallback,
        Self::MhPort,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::ShFallback => "sh-fallback",
            Self::ShPort => "sh-port",
            Self::MhFallback => "mh-fallback",
            Self::MhPort => "mh-port",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|n| n.as_str() == s)
    }

    /// The scheduler this flag is meaningful for.
    pub fn scheduler(self) -> SchedulerName {
        match self {
            Self::ShFallback | Self::ShPort => SchedulerName::Sh,
            Self::MhFallback | Self::MhPort => SchedulerName::Mh,
        }
    }
}

impl fmt::Display for SchedulerFlag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `<scheduler>` plus its `<scheduler_flag>`s.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Scheduler {
    pub name: SchedulerName,
    pub flags: Vec<SchedulerFlag>,
}

impl Default for Scheduler {
    /// Maglev hashing with the port in the hash: two directors build the same table, so a
    /// failover keeps established flows on their real server.
    fn default() -> Self {
        Self {
            name: SchedulerName::Mh,
            flags: vec![SchedulerFlag::MhPort],
        }
    }
}

/// Client affinity (`ipvsadm -p timeout -M netmask`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Persistence {
    pub timeout_secs: u32,
    /// Clients in the same prefix of this length share a real server; `None` = per address.
    pub netmask_prefix: Option<u8>,
}

/// How the director decides a real server is gone.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct HealthCheck {
    pub interval_ms: u32,
    pub timeout_ms: u32,
    /// Consecutive failed checks before the node's weight drops to 0.
    pub failures_before_drain: u32,
    /// How long a drained node keeps its existing connections before removal.
    pub drain_ms: u32,
    /// Also open a TCP connection to each balanced port, not only watch the listener registry.
    pub tcp_check: bool,
}

impl Default for HealthCheck {
    fn default() -> Self {
        Self {
            interval_ms: 1000,
            timeout_ms: 500,
            failures_before_drain: 3,
            drain_ms: 30_000,
            tcp_check: false,
        }
    }
}

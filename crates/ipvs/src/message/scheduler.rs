//! Schedulers and the service flags that tune them.

use std::fmt;

/// A kernel scheduler (`ipvsadm -s`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Scheduler {
    RoundRobin,
    WeightedRoundRobin,
    LeastConnection,
    WeightedLeastConnection,
    LocalityBasedLeastConnection,
    LocalityBasedLeastConnectionReplication,
    DestinationHashing,
    SourceHashing,
    ShortestExpectedDelay,
    NeverQueue,
    WeightedFailover,
    WeightedOverflow,
    /// Maglev hashing: consistent across directors that add destinations in the same order.
    Maglev,
    /// Weighted random twos choice.
    TwoChoice,
    /// A scheduler this crate does not know by name.
    Other(String),
}

impl Scheduler {
    const NAMES: [(&'static str, Scheduler); 14] = [
        ("rr", Scheduler::RoundRobin),
        ("wrr", Scheduler::WeightedRoundRobin),
        ("lc", Scheduler::LeastConnection),
        ("wlc", Scheduler::WeightedLeastConnection),
        ("lblc", Scheduler::LocalityBasedLeastConnection),
        ("lblcr", Scheduler::LocalityBasedLeastConnectionReplication),
        ("dh", Scheduler::DestinationHashing),
        ("sh", Scheduler::SourceHashing),
        ("sed", Scheduler::ShortestExpectedDelay),
        ("nq", Scheduler::NeverQueue),
        ("fo", Scheduler::WeightedFailover),
        ("ovf", Scheduler::WeightedOverflow),
        ("mh", Scheduler::Maglev),
        ("twos", Scheduler::TwoChoice),
    ];

    /// Every scheduler the kernel ships.
    pub fn all_known() -> Vec<Scheduler> {
        Self::NAMES.iter().map(|(_, s)| s.clone()).collect()
    }

    pub fn name(&self) -> &str {
        match self {
            Scheduler::Other(n) => n,
            known => Self::NAMES
                .iter()
                .find(|(_, s)| s == known)
                .map(|(n, _)| *n)
                .expect("every named variant is in NAMES"),
        }
    }

    pub fn from_name(name: &str) -> Scheduler {
        Self::NAMES
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, s)| s.clone())
            .unwrap_or_else(|| Scheduler::Other(name.to_owned()))
    }
}

impl fmt::Display for Scheduler {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// `IP_VS_SVC_F_*` service flags.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct ServiceFlags(pub u32);

impl ServiceFlags {
    pub const PERSISTENT: ServiceFlags = ServiceFlags(0x1);
    /// Set by the kernel on every service in its hash table; not configuration.
    pub const HASHED: ServiceFlags = ServiceFlags(0x2);
    /// One-packet scheduling (`-o`): every UDP datagram scheduled on its own.
    pub const ONE_PACKET: ServiceFlags = ServiceFlags(0x4);
    pub const SCHED1: ServiceFlags = ServiceFlags(0x8);
    pub const SCHED2: ServiceFlags = ServiceFlags(0x10);
    pub const SCHED3: ServiceFlags = ServiceFlags(0x20);
    /// `sh-fallback`: pick another destination when the hashed one is unavailable.
    pub const SH_FALLBACK: ServiceFlags = Self::SCHED1;
    /// `sh-port`: hash the source port too.
    pub const SH_PORT: ServiceFlags = Self::SCHED2;
    /// `mh-fallback`.
    pub const MH_FALLBACK: ServiceFlags = Self::SCHED1;
    /// `mh-port`.
    pub const MH_PORT: ServiceFlags = Self::SCHED2;

    pub fn contains(self, other: ServiceFlags) -> bool {
        self.0 & other.0 == other.0
    }

    /// The flags an operator sets (without the kernel's `HASHED` bookkeeping bit).
    pub fn configured(self) -> ServiceFlags {
        ServiceFlags(self.0 & !Self::HASHED.0)
    }
}

impl std::ops::BitOr for ServiceFlags {
    type Output = ServiceFlags;
    fn bitor(self, rhs: ServiceFlags) -> ServiceFlags {
        ServiceFlags(self.0 | rhs.0)
    }
}

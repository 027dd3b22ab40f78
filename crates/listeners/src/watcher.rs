//! Level-triggered watching: every poll reports the whole current set, and [`Changes`] says
//! what to register and unregister since the previous one. A lost or failed poll therefore
//! never leaves a registration behind: the next successful one corrects it.

use std::collections::BTreeSet;
use std::net::IpAddr;

use tracing::debug;

use crate::dump::ListenerDump;
use crate::error::ListenersError;
use crate::registrations::{PortRange, Registration, registrations};

/// What changed between two sets of registrations.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Changes {
    /// Ports the node now serves: send Register.
    pub added: BTreeSet<Registration>,
    /// Ports the node no longer serves: send Unregister.
    pub removed: BTreeSet<Registration>,
}

impl Changes {
    pub fn between(before: &BTreeSet<Registration>, after: &BTreeSet<Registration>) -> Self {
        Self {
            added: after.difference(before).copied().collect(),
            removed: before.difference(after).copied().collect(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.removed.is_empty()
    }
}

/// Polls the node's listeners and keeps the last registration set.
pub struct Watcher {
    dump: ListenerDump,
    cvips: Vec<IpAddr>,
    weighted_ranges: Vec<PortRange>,
    current: BTreeSet<Registration>,
}

impl Watcher {
    /// Opens the sock_diag socket in the calling thread's network namespace. The first
    /// [`Watcher::poll_changes`] reports everything registered as added.
    pub fn new(
        cvips: Vec<IpAddr>,
        weighted_ranges: Vec<PortRange>,
    ) -> Result<Self, ListenersError> {
        Ok(Self {
            dump: ListenerDump::new()?,
            cvips,
            weighted_ranges,
            current: BTreeSet::new(),
        })
    }

    /// Replaces the CVIPs and weighted ranges (the replicated configuration changed); the next
    /// poll reports the difference this makes.
    pub fn reconfigure(&mut self, cvips: Vec<IpAddr>, weighted_ranges: Vec<PortRange>) {
        self.cvips = cvips;
        self.weighted_ranges = weighted_ranges;
    }

    /// The registrations the node's sockets make now.
    pub fn poll(&mut self) -> Result<BTreeSet<Registration>, ListenersError> {
        let listeners = self.dump.listeners()?;
        Ok(registrations(
            &listeners,
            &self.cvips,
            &self.weighted_ranges,
        ))
    }

    /// Polls and returns what changed since the last successful poll.
    pub fn poll_changes(&mut self) -> Result<Changes, ListenersError> {
        let now = self.poll()?;
        let changes = Changes::between(&self.current, &now);
        if !changes.is_empty() {
            debug!(added = ?changes.added, removed = ?changes.removed, "listener registrations changed");
        }
        self.current = now;
        Ok(changes)
    }

    /// The set as of the last successful [`Watcher::poll_changes`].
    pub fn current(&self) -> &BTreeSet<Registration> {
        &self.current
    }

    /// Forgets the last set, so the next poll reports every registration as added: for
    /// re-sending everything after the agent lost contact with the leader.
    pub fn forget(&mut self) {
        self.current.clear();
    }
}

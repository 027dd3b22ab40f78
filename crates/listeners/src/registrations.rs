//! Which listeners make this node a real server: OpenSSI's rule for its `listen()` hook.

use std::collections::BTreeSet;
use std::net::IpAddr;

use ssinet_config::PortWeight;

use crate::listener::{Listener, Protocol};

/// A load-balanced port range of one protocol (a `setport_weight` range, weight aside).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PortRange {
    pub proto: Protocol,
    pub start: u16,
    pub end: u16,
}

impl PortRange {
    pub fn contains(&self, proto: Protocol, port: u16) -> bool {
        self.proto == proto && self.start <= port && port <= self.end
    }
}

impl From<&PortWeight> for PortRange {
    fn from(weight: &PortWeight) -> Self {
        Self {
            proto: weight.proto,
            start: weight.start_port,
            end: weight.end_port,
        }
    }
}

/// A port this node serves: what the agent registers through Raft.
pub type Registration = (Protocol, u16);

/// The ports the node registers for: a listener counts when its port lies in a weighted range
/// of its protocol and traffic to one of the CVIPs reaches it ([`Listener::serves`]: bound to
/// the CVIP, or to a wildcard address of the CVIP's family), since only then can it take what
/// the director forwards. A listener on the node's own specific address is local and stays out;
/// with no CVIP configured nothing registers.
pub fn registrations(
    listeners: &[Listener],
    cvips: &[IpAddr],
    weighted_ranges: &[PortRange],
) -> BTreeSet<Registration> {
    listeners
        .iter()
        .filter(|listener| cvips.iter().any(|cvip| listener.serves(*cvip)))
        .filter(|listener| {
            weighted_ranges
                .iter()
                .any(|range| range.contains(listener.proto, listener.port))
        })
        .map(|listener| (listener.proto, listener.port))
        .collect()
}

#[cfg(test)]
mod tests;

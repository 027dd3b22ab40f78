//! Which nodes the director sends new connections to: a node whose agent stops answering for
//! `failures_before_drain` health intervals leaves the table (the IPVS reconciler then drains
//! it at weight 0 for `drain_ms` before deleting it). A node that answers again is back at once.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use ssinet_config::{HealthCheck, NodeId};

#[derive(Debug, Default)]
pub struct Health {
    last_seen: BTreeMap<NodeId, Instant>,
}

impl Health {
    /// Records which nodes answered the last probe round (`reachable`), at `now`.
    pub fn observe(&mut self, reachable: impl IntoIterator<Item = NodeId>, now: Instant) {
        for node in reachable {
            self.last_seen.insert(node, now);
        }
    }

    /// The nodes to serve: `me`, and every node of `nodes` seen within the grace period. A node
    /// never seen counts from `started` (the agent's start), so a restarted director does not
    /// drain everyone before its first probes return.
    pub fn serving(
        &self,
        me: NodeId,
        nodes: impl IntoIterator<Item = NodeId>,
        check: &HealthCheck,
        started: Instant,
        now: Instant,
    ) -> BTreeSet<NodeId> {
        let grace = Duration::from_millis(
            u64::from(check.interval_ms) * u64::from(check.failures_before_drain.max(1)),
        );
        nodes
            .into_iter()
            .filter(|node| {
                *node == me || {
                    let seen = self.last_seen.get(node).copied().unwrap_or(started);
                    now.saturating_duration_since(seen) < grace
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_silent_node_leaves_after_the_grace_period_and_returns_when_seen() {
        let t0 = Instant::now();
        let check = HealthCheck::default(); // 3 x 1000 ms
        let mut health = Health::default();
        let nodes = [NodeId(1), NodeId(2), NodeId(3)];
        health.observe([NodeId(2), NodeId(3)], t0);
        let at = |ms| t0 + Duration::from_millis(ms);
        assert_eq!(
            health.serving(NodeId(1), nodes, &check, t0, at(2999)).len(),
            3
        );
        health.observe([NodeId(2)], at(2000));
        let serving = health.serving(NodeId(1), nodes, &check, t0, at(3000));
        assert_eq!(serving, BTreeSet::from([NodeId(1), NodeId(2)]));
        health.observe([NodeId(3)], at(3100));
        assert_eq!(
            health.serving(NodeId(1), nodes, &check, t0, at(3100)).len(),
            3
        );
    }
}

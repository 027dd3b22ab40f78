//! The Raft node list follows the replicated configuration: when `cvipctl config apply` adds,
//! removes or re-addresses a clustertab node, or changes which nodes may direct, every agent
//! hands ssinet-raft the new list (`ClusterNode::set_members`), and the leader's upkeep moves
//! the replicated membership there one committed change at a time; the peer-status prober
//! (node health, `cvipctl status`) follows the same list. Both are derived as at start
//! ([`startup::members`], [`startup::peer_status_addrs`]), so an unchanged configuration
//! changes nothing.

use std::sync::Arc;

use crate::agent::Agent;
use crate::startup;

/// Runs until the state channel closes (the node shut down).
pub async fn follow(agent: Arc<Agent>, raft_port: u16, peer_port: u16) {
    let mut state = agent.node.state();
    loop {
        let lists = {
            let applied = state.borrow_and_update();
            (!applied.state.is_empty()).then(|| {
                let config = &applied.state.config;
                (
                    startup::members(config, raft_port),
                    startup::peer_status_addrs(config, agent.id(), peer_port),
                )
            })
        };
        if let Some((members, peers)) = lists {
            if agent.prober.set_peers(peers) {
                tracing::info!(
                    node = %agent.id(),
                    "peer-status probes follow the applied clustertab"
                );
            }
            let term = agent.node.metrics().borrow().current_term;
            match agent.node.set_members(members) {
                Ok(change) if change.is_unchanged() => {}
                Ok(change) => tracing::info!(
                    node = %agent.id(),
                    term,
                    added = ?change.added,
                    removed = ?change.removed,
                    moved = ?change.moved,
                    may_elect = ?change.may_elect,
                    "node list changed by the applied configuration"
                ),
                // This node is no longer listed: it keeps its list until the operator stops it.
                Err(e) => {
                    tracing::warn!(node = %agent.id(), term, error = %e, "node list not taken")
                }
            }
        }
        if state.changed().await.is_err() {
            return;
        }
    }
}

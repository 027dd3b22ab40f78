//! Membership upkeep: role-change logging and, on the leader, bringing the membership in line
//! with the plan computed from the node list in force (which `set_members` may replace).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use openraft::{ChangeMembers, ServerState};
use tokio::sync::watch;

use super::Roster;
use crate::membership::MembershipPlan;
use crate::types::{App, Metrics, NodeId, PeerNode, Raft};

/// Logs every role change, and while leader brings the membership in line with the plan.
pub(super) async fn run<A: App>(
    node: NodeId,
    raft: Raft<A>,
    mut roster: watch::Receiver<Arc<Roster>>,
) {
    let mut metrics = raft.metrics();
    let mut seen: Option<(ServerState, u64, Option<NodeId>)> = None;
    let mut retry_at = tokio::time::Instant::now();
    loop {
        let m = metrics.borrow_and_update().clone();
        let now = (m.state, m.current_term, m.current_leader);
        if seen != Some(now) {
            tracing::info!(node = %node, term = m.current_term, state = ?m.state, leader = ?m.current_leader, "raft role");
            seen = Some(now);
        }
        let current = roster.borrow_and_update().clone();
        if m.state == ServerState::Leader
            && tokio::time::Instant::now() >= retry_at
            && !reconcile_membership(node, &raft, &current.plan, &current.addresses, &m).await
        {
            retry_at = tokio::time::Instant::now() + Duration::from_secs(1);
        }
        tokio::select! {
            changed = metrics.changed() => if changed.is_err() { return },
            changed = roster.changed() => if changed.is_err() { return },
            // Retry a failed change even when nothing else happens.
            () = tokio::time::sleep(Duration::from_secs(1)) => {}
        }
    }
}

/// Adds missing nodes as learners and sets the voters to the plan's. Returns false if a change
/// failed and should be retried later.
async fn reconcile_membership<A: App>(
    node: NodeId,
    raft: &Raft<A>,
    plan: &MembershipPlan,
    members: &BTreeMap<NodeId, PeerNode>,
    metrics: &Metrics,
) -> bool {
    let config = &metrics.membership_config;
    // Change nothing until the current membership has been applied (so it is committed), or
    // openraft refuses with "already undergoing a configuration change".
    let applied = metrics.last_applied.map(|l| l.index);
    if config.log_id().map(|l| l.index) > applied {
        return true;
    }
    let membership = config.membership();
    if membership.get_joint_config().len() > 1 {
        return true;
    }
    let known: BTreeSet<NodeId> = membership.nodes().map(|(id, _)| *id).collect();
    let voters: BTreeSet<NodeId> = membership.voter_ids().collect();
    for id in plan.learners.iter().chain(plan.voters.iter()) {
        if !known.contains(id) {
            tracing::info!(
                node = %node,
                learner = %id,
                term = metrics.current_term,
                "adding learner"
            );
            if let Err(e) = raft.add_learner(*id, members[id], false).await {
                tracing::warn!(node = %node, learner = %id, error = %e, "adding learner failed; will retry");
                return false;
            }
        }
    }
    // Addresses follow the node list (an interconnect IP changed in clustertab).
    let moved: BTreeMap<NodeId, PeerNode> = membership
        .nodes()
        .filter_map(|(id, peer)| {
            members
                .get(id)
                .filter(|want| *want != peer)
                .map(|want| (*id, *want))
        })
        .collect();
    if !moved.is_empty() {
        tracing::info!(node = %node, term = metrics.current_term, nodes = ?moved, "updating node addresses");
        if let Err(e) = raft
            .change_membership(ChangeMembers::SetNodes(moved), false)
            .await
        {
            tracing::warn!(node = %node, error = %e, "updating node addresses failed; will retry");
            return false;
        }
    }
    if voters != plan.voters {
        tracing::info!(node = %node, term = metrics.current_term, from = ?voters, to = ?plan.voters, "changing voters");
        let change = ChangeMembers::ReplaceAllVoters(plan.voters.clone());
        // Former voters stay as learners: a demoted node keeps the log, a departed one goes
        // in the next pass.
        if let Err(e) = raft.change_membership(change, true).await {
            tracing::warn!(node = %node, error = %e, "changing voters failed; will retry");
            return false;
        }
        // The next pass sees the new voters and removes leftovers.
        return true;
    }
    // Nodes gone from the node list stop receiving the log.
    let gone: BTreeSet<NodeId> = known
        .iter()
        .filter(|id| !members.contains_key(id) && !voters.contains(id))
        .copied()
        .collect();
    if !gone.is_empty() {
        tracing::info!(node = %node, term = metrics.current_term, nodes = ?gone, "removing nodes no longer listed");
        if let Err(e) = raft
            .change_membership(ChangeMembers::RemoveNodes(gone), false)
            .await
        {
            tracing::warn!(node = %node, error = %e, "removing nodes failed; will retry");
            return false;
        }
    }
    true
}

//! Liveness when a director lags: voters that may not direct stand by, lead as caretakers only
//! when no director can win, and hand leadership to a director as soon as one has caught up.
//!
//! Raft's up-to-date rule makes a voter refuse a candidate whose log is behind its own. If only
//! directors could campaign, a director that lags a non-director voter (it was down while the
//! others committed) could never be elected while the up-to-date director is away, and the
//! cluster would stall. So a non-director voter stands for election too, but only after
//! [`Timing::standby_after`] without hearing from any leader, well after every director had its
//! chance. The switch is openraft's runtime `elect` flag, not a longer election timeout in its
//! `Config`: openraft derives the leader lease from `election_timeout_max`, and a longer lease on
//! a voter would make it refuse directors for longer and slow every ordinary failover.
//!
//! A leader that is not director-capable is a caretaker: it replicates (which brings the
//! directors up to date) and, once some director-capable voter has matched its whole log, asks
//! that director to stand for election now ([`Request::ElectNow`]). The director wins with the
//! ordinary Raft rules, and the caretaker steps down when it sees the higher term. Nothing here
//! bypasses a Raft rule: only who campaigns, and when, changes.
//!
//! [`Request::ElectNow`]: crate::transport::Request::ElectNow

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use openraft::ServerState;
use tokio::sync::watch;
use tokio::time::{Instant, MissedTickBehavior};

use super::{Roster, Timing};
use crate::membership::MembershipPlan;
use crate::transport::Network;
use crate::types::{App, LogId, NodeId, Raft};

/// The director-capable voter a caretaker leader `me` should hand leadership to: the
/// lowest-numbered one whose replicated log reaches the leader's last index. `None` if `me` may
/// direct itself (it is no caretaker) or no director has caught up yet.
pub fn handover_target(
    me: NodeId,
    plan: &MembershipPlan,
    voters: &BTreeSet<NodeId>,
    last_log_index: Option<u64>,
    replication: &BTreeMap<NodeId, Option<LogId>>,
) -> Option<NodeId> {
    if plan.may_elect(me) {
        return None;
    }
    let last = last_log_index?;
    plan.electable
        .iter()
        .filter(|id| voters.contains(id))
        .find(|id| {
            replication
                .get(id)
                .copied()
                .flatten()
                .is_some_and(|matched| matched.index >= last)
        })
        .copied()
}

/// Whether a voter that is not director-capable should stand for election, having heard from
/// no leader for `silence`.
pub fn standby_may_elect(silence: Duration, timing: &Timing) -> bool {
    silence >= timing.standby_after()
}

/// Runs the standby and caretaker duties while this node is not director-capable in the node
/// list in force; a director-capable node only keeps track of its leaders, in case a later node
/// list makes it a plain voter.
pub(super) async fn run<A: App>(
    node: NodeId,
    raft: Raft<A>,
    network: Network<A>,
    mut roster: watch::Receiver<Arc<Roster>>,
    timing: Timing,
) {
    // The last time this node heard from an established leader (or became one). Candidates'
    // votes do not count: a lagging director that keeps campaigning must not keep the standby
    // from standing, and a failed round of its own must not delay its next one.
    let started = Instant::now();
    let mut leader_heard = started;
    // Whether an established leader was heard from since this node started.
    let mut heard_since_start = false;
    // The runtime `elect` flag as last set: off at start, then by `set_members` (to whether
    // the node may direct), or here.
    let mut elect_enabled = false;
    // Skip the first roster check: the start list is in force and handled below.
    roster.borrow_and_update();
    let mut last_ask: Option<(NodeId, Instant)> = None;
    let mut tick = tokio::time::interval(timing.heartbeat);
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if roster.has_changed().unwrap_or(false) {
            // `set_members` set the flag already; setting it again here undoes a standby
            // decision this loop made from the previous list while the new one arrived.
            elect_enabled = roster.borrow_and_update().plan.may_elect(node);
            raft.runtime_config().elect(elect_enabled);
        }
        let current = roster.borrow().clone();
        let plan = &current.plan;
        // openraft refreshes the vote's timestamp on every append-entries from the leader; a
        // committed vote is an elected leader's.
        let Ok((committed, modified)) = raft
            .with_raft_state(|s| (s.vote_ref().is_committed(), s.vote_last_modified()))
            .await
        else {
            return;
        };
        if let Some(modified) = modified.filter(|m| committed && *m > leader_heard) {
            leader_heard = modified;
            heard_since_start = true;
        }
        if plan.may_elect(node) {
            // A director stands for election and never needs a caretaker's duties, but one
            // that (re)starts first listens for the leader: a returning node whose election
            // timer fires before the leader's first append-entries reaches it would otherwise
            // campaign, depose a working leader and leave the voters' logs ahead of its own.
            let want_elect = heard_since_start || started.elapsed() >= timing.returning_grace();
            if want_elect != elect_enabled {
                if heard_since_start {
                    tracing::info!(
                        node,
                        "heard from the leader: standing for election when it goes"
                    );
                } else {
                    tracing::info!(node, "no leader heard since start: standing for election");
                }
                raft.runtime_config().elect(want_elect);
                elect_enabled = want_elect;
            }
            last_ask = None;
            continue;
        }
        // On a leader: how long ago it won its term.
        let silence = leader_heard.elapsed();
        let want_elect = standby_may_elect(silence, &timing);
        if want_elect != elect_enabled {
            if want_elect {
                tracing::warn!(
                    node,
                    silent_ms = silence.as_millis(),
                    "no leader heard from: standing for election as a caretaker until a director has caught up"
                );
            } else {
                tracing::info!(node, "a leader was elected: standing by");
            }
            raft.runtime_config().elect(want_elect);
            elect_enabled = want_elect;
        }

        let m = raft.metrics().borrow().clone();
        if m.state != ServerState::Leader {
            last_ask = None;
            continue;
        }
        // openraft refuses any vote while its own vote is younger than the leader lease
        // (`election_max`); asking earlier would only cost the director a failed round.
        if silence <= timing.election_max + timing.heartbeat {
            continue;
        }
        let voters: BTreeSet<NodeId> = m.membership_config.membership().voter_ids().collect();
        let Some(target) = handover_target(
            node,
            plan,
            &voters,
            m.last_log_index,
            m.replication.as_ref().unwrap_or(&BTreeMap::new()),
        ) else {
            continue;
        };
        // One request per election period: the director needs that long to win or fail.
        if last_ask.is_some_and(|(asked, at)| asked == target && at.elapsed() < timing.election_max)
        {
            continue;
        }
        last_ask = Some((target, Instant::now()));
        let peer = m
            .membership_config
            .membership()
            .get_node(&target)
            .copied()
            .or_else(|| current.addresses.get(&target).copied());
        let Some(peer) = peer else {
            continue;
        };
        tracing::info!(
            node,
            director = target,
            term = m.current_term,
            "caretaker leader: director caught up, asking it to stand for election"
        );
        match network
            .ask_to_elect(target, &peer, timing.election_max)
            .await
        {
            Ok(Ok(())) => {}
            Ok(Err(refused)) => {
                tracing::warn!(node, director = target, reason = %refused, "director declined to stand for election");
            }
            Err(e) => {
                tracing::warn!(node, director = target, error = %e, "cannot ask the director to stand for election; will retry");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::membership::{NodeRole, plan_membership};
    use proptest::prelude::*;

    fn plan(directors: &[NodeId], nodes: NodeId) -> MembershipPlan {
        let roles: Vec<NodeRole> = (1..=nodes)
            .map(|node| NodeRole {
                node,
                director_capable: directors.contains(&node),
                init_capable: false,
            })
            .collect();
        plan_membership(&roles).unwrap()
    }

    fn matched(index: u64) -> Option<LogId> {
        Some(LogId::new(openraft::CommittedLeaderId::new(1, 1), index))
    }

    #[test]
    fn caretaker_hands_over_to_the_first_caught_up_director() {
        let plan = plan(&[1, 2], 3);
        let voters = plan.voters.clone();
        let mut replication = BTreeMap::from([(1, None), (2, matched(7))]);
        // Director 2 lags: keep replicating.
        assert_eq!(
            handover_target(3, &plan, &voters, Some(9), &replication),
            None
        );
        replication.insert(2, matched(9));
        assert_eq!(
            handover_target(3, &plan, &voters, Some(9), &replication),
            Some(2)
        );
        replication.insert(1, matched(9));
        assert_eq!(
            handover_target(3, &plan, &voters, Some(9), &replication),
            Some(1)
        );
        // A director leader is no caretaker.
        assert_eq!(
            handover_target(1, &plan, &voters, Some(9), &replication),
            None
        );
    }

    #[test]
    fn standby_waits_three_election_timeouts() {
        let timing = Timing::default();
        assert!(!standby_may_elect(Duration::ZERO, &timing));
        assert!(!standby_may_elect(timing.election_max * 2, &timing));
        assert!(standby_may_elect(timing.standby_after(), &timing));
        // Every director gets at least two full election rounds first.
        assert!(timing.standby_after() >= timing.election_max * 3);
    }

    proptest! {
        #[test]
        fn handover_goes_only_to_a_caught_up_director_voter(
            directors in prop::collection::btree_set(1u64..8, 1..4),
            me in 1u64..8,
            last in 0u64..20,
            progress in prop::collection::btree_map(1u64..8, prop::option::of(0u64..25), 0..8),
        ) {
            let plan = plan(&directors.iter().copied().collect::<Vec<_>>(), 7);
            let replication: BTreeMap<NodeId, Option<LogId>> =
                progress.iter().map(|(id, i)| (*id, i.and_then(matched))).collect();
            let caught_up = |d: &NodeId| progress.get(d).copied().flatten().is_some_and(|i| i >= last);
            let target = handover_target(me, &plan, &plan.voters, Some(last), &replication);
            match target {
                Some(t) => {
                    prop_assert!(!plan.may_elect(me));
                    prop_assert!(plan.electable.contains(&t) && plan.voters.contains(&t));
                    prop_assert!(caught_up(&t));
                    // The lowest-numbered such director.
                    let earlier_caught_up = plan.electable.iter().take_while(|d| **d < t).any(caught_up);
                    prop_assert!(!earlier_caught_up);
                }
                None => {
                    let any_caught_up = plan.electable.iter().any(caught_up);
                    prop_assert!(plan.may_elect(me) || !any_caught_up);
                }
            }
        }
    }
}

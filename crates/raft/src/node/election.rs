//! Who stands for election, and when: openraft never campaigns by itself here
//! (`enable_elect` stays off); this driver decides, after a pre-vote.
//!
//! - **Pre-vote.** Before a node campaigns it asks every voter whether it would vote for it
//!   now ([`Request::PreVote`]): a voter says no while it heard from an elected leader within
//!   the leader lease (`election_max`), while it leads with a fresh quorum acknowledgement, or
//!   when its log is ahead. Only with a quorum of yeses does the node raise its term. So a node
//!   that is cut off, frozen, restarted or behind never raises its term and never deposes a
//!   working leader when it comes back; a heal moves nothing.
//! - **Timing.** A director-capable node asks once it has not heard from a leader for
//!   `election_max` (the lease its peers honour, so the first ask usually wins) and asks again
//!   every half heartbeat until it wins: failover is about `election_max` plus a few round
//!   trips, not `election_max` plus a random election timeout.
//! - **Eligibility.** The agent tells the node whether it could serve the CVIPs now
//!   ([`super::ClusterNode::set_eligible`]). An ineligible director never campaigns, and one that
//!   leads stands aside: it stops its heartbeats so the leases lapse and an eligible director
//!   wins the next election (openraft 0.9 has no leadership transfer). If none does within
//!   [`Timing::standby_after`], it leads on without the CVIPs and tries again later.
//! - **Caretakers.** Raft's up-to-date rule lets a voter refuse every director whose log is
//!   behind its own. So a non-director voter stands for election too, but only after
//!   [`Timing::standby_after`] without a leader, and as a caretaker leader it replicates until
//!   a director-capable voter has its whole log, then asks it to stand ([`Request::ElectNow`]).
//!
//! Nothing here bypasses a Raft rule: only who campaigns, and when, changes.
//!
//! [`Request::PreVote`]: crate::transport::Request::PreVote
//! [`Request::ElectNow`]: crate::transport::Request::ElectNow

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use super::Timing;
use crate::membership::MembershipPlan;
use crate::transport::PreVoteRefusal;
use crate::types::{LogId, NodeId};

/// What a voter knows of its own position when a pre-vote request arrives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VoterView {
    /// The voter's node number.
    pub me: NodeId,
    /// The leader it follows or is, if any.
    pub leader: Option<NodeId>,
    /// Leader only: how long ago a quorum acknowledged it (`None` before the first ack).
    pub leading_ack_ago: Option<Duration>,
    /// Whether it is the leader.
    pub leading: bool,
    /// Follower only: how long ago it heard from an elected leader (`None`: no elected leader
    /// since it started, or it is a candidate).
    pub heard_leader_ago: Option<Duration>,
    /// Its last log id.
    pub last_log_id: Option<LogId>,
}

/// A voter's answer to a pre-vote from a candidate whose last log id is `candidate_log`: yes
/// exactly when openraft would grant the real vote as far as the lease and the log tell (the
/// term is left to the real vote, which a candidate behind in term loses harmlessly and learns
/// the term from).
pub fn answer_pre_vote(
    view: &VoterView,
    candidate_log: Option<LogId>,
    lease: Duration,
) -> Result<(), PreVoteRefusal> {
    let ms = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
    if view.leading {
        if let Some(ack) = view.leading_ack_ago.filter(|ack| *ack < lease) {
            return Err(PreVoteRefusal::Leading {
                leader: view.me,
                ack_ms_ago: ms(ack),
            });
        }
    } else if let Some(heard) = view.heard_leader_ago.filter(|heard| *heard <= lease) {
        return Err(PreVoteRefusal::LeaderAlive {
            leader: view.leader.unwrap_or(NodeId(0)),
            heard_ms_ago: ms(heard),
            lease_ms: ms(lease),
        });
    }
    if candidate_log < view.last_log_id {
        let show = |l: Option<LogId>| l.map_or_else(|| "empty".to_string(), |l| l.to_string());
        return Err(PreVoteRefusal::LogBehind {
            voter: show(view.last_log_id),
            candidate: show(candidate_log),
        });
    }
    Ok(())
}

/// Whether `granted` (the voters that said yes) together with the candidate `me` are a
/// majority of `voters`. A yes from a node that is not a voter does not count.
pub fn pre_vote_won(me: NodeId, voters: &BTreeSet<NodeId>, granted: &BTreeSet<NodeId>) -> bool {
    let yes = voters
        .iter()
        .filter(|v| **v == me || granted.contains(v))
        .count();
    yes * 2 > voters.len()
}

/// A small deterministic spread in `[0, span)` from `seed`, so directors that lost a split
/// vote do not ask again in lockstep (splitmix64).
pub fn jitter(seed: u64, span: Duration) -> Duration {
    let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    let span_us = u64::try_from(span.as_micros()).unwrap_or(u64::MAX).max(1);
    Duration::from_micros(z % span_us)
}

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

#[cfg(test)]
mod tests {
    use super::*;

    fn follower(heard: Option<u64>, last: Option<u64>) -> VoterView {
        VoterView {
            me: NodeId(3),
            leader: Some(NodeId(1)),
            leading_ack_ago: None,
            leading: false,
            heard_leader_ago: heard.map(Duration::from_millis),
            last_log_id: last.and_then(matched),
        }
    }

    #[test]
    fn a_voter_that_hears_its_leader_refuses_a_pre_vote() {
        let lease = Duration::from_millis(200);
        let view = follower(Some(150), Some(5));
        assert!(matches!(
            answer_pre_vote(&view, matched(5), lease),
            Err(PreVoteRefusal::LeaderAlive {
                leader: NodeId(1),
                heard_ms_ago: 150,
                lease_ms: 200
            })
        ));
        // The lease is inclusive, as openraft's own vote check is.
        assert!(answer_pre_vote(&follower(Some(200), Some(5)), matched(5), lease).is_err());
        assert!(answer_pre_vote(&follower(Some(201), Some(5)), matched(5), lease).is_ok());
        assert!(answer_pre_vote(&follower(None, Some(5)), matched(6), lease).is_ok());
    }

    #[test]
    fn a_leader_with_a_fresh_quorum_refuses_and_a_stale_one_grants() {
        let lease = Duration::from_millis(200);
        let mut view = follower(None, Some(5));
        view.leading = true;
        view.me = NodeId(1);
        view.leading_ack_ago = Some(Duration::from_millis(30));
        assert!(matches!(
            answer_pre_vote(&view, matched(5), lease),
            Err(PreVoteRefusal::Leading {
                leader: NodeId(1),
                ..
            })
        ));
        view.leading_ack_ago = Some(Duration::from_millis(400));
        assert!(answer_pre_vote(&view, matched(5), lease).is_ok());
    }

    #[test]
    fn a_candidate_behind_the_voter_is_refused() {
        let lease = Duration::from_millis(200);
        let view = follower(None, Some(7));
        assert!(matches!(
            answer_pre_vote(&view, matched(6), lease),
            Err(PreVoteRefusal::LogBehind { .. })
        ));
        assert!(answer_pre_vote(&view, None, lease).is_err());
        assert!(answer_pre_vote(&follower(None, None), None, lease).is_ok());
    }

    #[test]
    fn pre_vote_needs_a_majority_of_voters_counting_the_candidate() {
        let voters = ids(&[1, 2, 3]);
        assert!(!pre_vote_won(NodeId(2), &voters, &BTreeSet::new()));
        assert!(pre_vote_won(NodeId(2), &voters, &ids(&[3])));
        // A learner's yes does not count.
        assert!(!pre_vote_won(NodeId(2), &voters, &ids(&[4, 5])));
        let five = ids(&[1, 2, 3, 4, 5]);
        assert!(!pre_vote_won(NodeId(1), &five, &ids(&[2])));
        assert!(pre_vote_won(NodeId(1), &five, &ids(&[2, 3])));
    }
    use crate::membership::{MemberCapabilities, plan_membership};
    use proptest::prelude::*;

    fn plan(directors: &[u64], nodes: u64) -> MembershipPlan {
        let nodes: Vec<MemberCapabilities> = (1..=nodes)
            .map(|node| MemberCapabilities {
                node: NodeId(node),
                director_capable: directors.contains(&node),
                init_capable: false,
            })
            .collect();
        plan_membership(&nodes).unwrap()
    }

    fn ids(raw: &[u64]) -> BTreeSet<NodeId> {
        raw.iter().copied().map(NodeId).collect()
    }

    fn matched(index: u64) -> Option<LogId> {
        Some(LogId::new(
            openraft::CommittedLeaderId::new(1, NodeId(1)),
            index,
        ))
    }

    #[test]
    fn caretaker_hands_over_to_the_first_caught_up_director() {
        let plan = plan(&[1, 2], 3);
        let voters = plan.voters.clone();
        let mut replication = BTreeMap::from([(NodeId(1), None), (NodeId(2), matched(7))]);
        // Director 2 lags: keep replicating.
        assert_eq!(
            handover_target(NodeId(3), &plan, &voters, Some(9), &replication),
            None
        );
        replication.insert(NodeId(2), matched(9));
        assert_eq!(
            handover_target(NodeId(3), &plan, &voters, Some(9), &replication),
            Some(NodeId(2))
        );
        replication.insert(NodeId(1), matched(9));
        assert_eq!(
            handover_target(NodeId(3), &plan, &voters, Some(9), &replication),
            Some(NodeId(1))
        );
        // A director leader is no caretaker.
        assert_eq!(
            handover_target(NodeId(1), &plan, &voters, Some(9), &replication),
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
        fn jitter_stays_in_its_span(seed in any::<u64>(), span_ms in 1u64..1000) {
            let span = Duration::from_millis(span_ms);
            prop_assert!(jitter(seed, span) < span);
        }

        #[test]
        fn a_pre_vote_is_won_exactly_with_a_strict_majority(
            voters in prop::collection::btree_set((1u64..10).prop_map(NodeId), 1..8),
            granted in prop::collection::btree_set((1u64..12).prop_map(NodeId), 0..10),
            me in (1u64..10).prop_map(NodeId),
        ) {
            let yes: BTreeSet<NodeId> = voters.iter().copied()
                .filter(|v| *v == me || granted.contains(v)).collect();
            prop_assert_eq!(pre_vote_won(me, &voters, &granted), yes.len() * 2 > voters.len());
        }

        #[test]
        fn handover_goes_only_to_a_caught_up_director_voter(
            directors in prop::collection::btree_set(1u64..8, 1..4),
            me in (1u64..8).prop_map(NodeId),
            last in 0u64..20,
            progress in prop::collection::btree_map((1u64..8).prop_map(NodeId), prop::option::of(0u64..25), 0..8),
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

//! Who votes and who may lead: computed from the node list alone, so every node agrees.
//!
//! The director is a leader that is director-capable, so director-capable nodes are the ones that
//! stand for election (`enable_elect`). Voters are the director-capable nodes plus enough others to
//! make an odd quorum of 3 or 5 (init-capable nodes first, as OpenSSI prefers them for the root
//! file system); every other node is a learner that receives the log but never votes. A voter
//! that is not director-capable stands for election only when no leader has been heard from for
//! a long while (a director that lags its log could never win its vote), and then leads only as
//! a caretaker until a director has caught up (see `node::handover`).

use std::collections::BTreeSet;

use crate::types::NodeId;

/// What the membership plan needs to know about a node: what it may be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MemberCapabilities {
    /// Node number from `clustertab`.
    pub node: NodeId,
    /// Named as a `director_node` in `cvip.conf`.
    pub director_capable: bool,
    /// The `clustertab` init-capable flag.
    pub init_capable: bool,
}

/// The voters and learners of the cluster.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MembershipPlan {
    /// Nodes that vote and form the quorum.
    pub voters: BTreeSet<NodeId>,
    /// Nodes that replicate the log without voting.
    pub learners: BTreeSet<NodeId>,
    /// Nodes that stand for election (`Config::enable_elect`) and may direct: the
    /// director-capable ones. Other voters campaign only as standby caretakers.
    pub electable: BTreeSet<NodeId>,
}

impl MembershipPlan {
    /// The node that bootstraps a cluster with no state: the lowest-numbered director-capable.
    pub fn bootstrap_node(&self) -> NodeId {
        *self
            .electable
            .first()
            .expect("a plan always has at least one director-capable node")
    }

    /// Whether `node` stands for election at once and may direct when it leads.
    pub fn may_elect(&self, node: NodeId) -> bool {
        self.electable.contains(&node)
    }
}

/// Why no membership could be computed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum MembershipError {
    /// Without a director-capable node no leader could ever be elected.
    #[error("no director-capable node: name at least one director_node in cvip.conf")]
    NoDirector,
    /// Node numbers must be unique and positive, as in `clustertab`.
    #[error(
        "node number {0} is listed twice or is 0: node numbers in clustertab are unique and > 0"
    )]
    BadNodeNumber(NodeId),
    /// A running node was given a node list without itself: it does not leave on its own.
    #[error(
        "node {0} is no longer in the node list (clustertab): it keeps running with its previous membership until you stop its ssinetd; a leader given the new list removes it from the cluster"
    )]
    NotListed(NodeId),
}

/// Computes voters, learners and electable nodes from the node list.
///
/// The voter count is the smallest of 3 or 5 that holds every director-capable node (more
/// directors than that: all of them, plus one more if that makes the count odd), but never more
/// than the cluster has. Fillers are chosen init-capable first, then by lowest node number, so the
/// plan depends only on the list's content, not its order.
pub fn plan_membership(nodes: &[MemberCapabilities]) -> Result<MembershipPlan, MembershipError> {
    let mut seen = BTreeSet::new();
    for n in nodes {
        if n.node == NodeId(0) || !seen.insert(n.node) {
            return Err(MembershipError::BadNodeNumber(n.node));
        }
    }
    let electable: BTreeSet<NodeId> = nodes
        .iter()
        .filter(|n| n.director_capable)
        .map(|n| n.node)
        .collect();
    if electable.is_empty() {
        return Err(MembershipError::NoDirector);
    }
    let directors = electable.len();
    let wanted = match directors {
        0..=3 => 3,
        4..=5 => 5,
        d if d % 2 == 1 => d,
        d => d + 1,
    }
    .min(nodes.len());

    let mut others: Vec<&MemberCapabilities> =
        nodes.iter().filter(|n| !n.director_capable).collect();
    others.sort_by_key(|n| (!n.init_capable, n.node));

    let mut voters = electable.clone();
    voters.extend(others.iter().take(wanted - directors).map(|n| n.node));
    let learners = nodes
        .iter()
        .map(|n| n.node)
        .filter(|id| !voters.contains(id))
        .collect();
    Ok(MembershipPlan {
        voters,
        learners,
        electable,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn capable(node: u64, director_capable: bool, init_capable: bool) -> MemberCapabilities {
        MemberCapabilities {
            node: NodeId(node),
            director_capable,
            init_capable,
        }
    }

    fn set(ids: &[u64]) -> BTreeSet<NodeId> {
        ids.iter().copied().map(NodeId).collect()
    }

    #[test]
    fn two_directors_and_init_capable_filler() {
        let plan = plan_membership(&[
            capable(1, true, true),
            capable(2, true, false),
            capable(3, false, false),
            capable(4, false, true),
            capable(5, false, false),
        ])
        .unwrap();
        assert_eq!(plan.voters, set(&[1, 2, 4]));
        assert_eq!(plan.learners, set(&[3, 5]));
        assert_eq!(plan.electable, set(&[1, 2]));
        assert_eq!(plan.bootstrap_node(), NodeId(1));
    }

    #[test]
    fn four_directors_make_five_voters() {
        let nodes: Vec<_> = (1..=7).map(|n| capable(n, n >= 4, false)).collect();
        let plan = plan_membership(&nodes).unwrap();
        assert_eq!(plan.voters, set(&[1, 4, 5, 6, 7]));
        assert_eq!(plan.bootstrap_node(), NodeId(4));
    }

    #[test]
    fn small_cluster_makes_everyone_a_voter() {
        let plan = plan_membership(&[capable(2, true, false), capable(7, false, false)]).unwrap();
        assert_eq!(plan.voters, set(&[2, 7]));
        assert!(plan.learners.is_empty());
    }

    #[test]
    fn six_directors_round_up_to_seven() {
        let nodes: Vec<_> = (1..=9).map(|n| capable(n, n <= 6, n == 9)).collect();
        let plan = plan_membership(&nodes).unwrap();
        assert_eq!(plan.voters, set(&[1, 2, 3, 4, 5, 6, 9]));
    }

    #[test]
    fn rejects_no_director_and_bad_numbers() {
        assert_eq!(
            plan_membership(&[capable(1, false, true)]),
            Err(MembershipError::NoDirector)
        );
        assert_eq!(
            plan_membership(&[capable(1, true, true), capable(1, false, false)]),
            Err(MembershipError::BadNodeNumber(NodeId(1)))
        );
        assert_eq!(
            plan_membership(&[capable(0, true, true)]),
            Err(MembershipError::BadNodeNumber(NodeId(0)))
        );
    }

    fn arb_nodes() -> impl Strategy<Value = Vec<MemberCapabilities>> {
        prop::collection::btree_map(1u64..64, (any::<bool>(), any::<bool>()), 1..20).prop_map(|m| {
            m.into_iter()
                .map(|(node, (d, i))| capable(node, d, i))
                .collect::<Vec<_>>()
        })
    }

    proptest! {
        #[test]
        fn plan_invariants(nodes in arb_nodes(), seed in any::<usize>()) {
            let Ok(plan) = plan_membership(&nodes) else {
                prop_assert!(nodes.iter().all(|n| !n.director_capable));
                return Ok(());
            };
            let all: BTreeSet<NodeId> = nodes.iter().map(|n| n.node).collect();
            // Voters and learners partition the cluster.
            prop_assert!(plan.voters.is_disjoint(&plan.learners));
            prop_assert_eq!(plan.voters.union(&plan.learners).copied().collect::<BTreeSet<_>>(), all.clone());
            // Every director-capable node votes, and only they may elect.
            for n in &nodes {
                prop_assert_eq!(plan.electable.contains(&n.node), n.director_capable);
                if n.director_capable { prop_assert!(plan.voters.contains(&n.node)); }
            }
            // Quorum size: 3 or 5 (or all directors, odd) unless the cluster is smaller.
            let d = plan.electable.len();
            let expected = match d { 0..=3 => 3, 4..=5 => 5, d => d | 1 }.min(all.len());
            prop_assert_eq!(plan.voters.len(), expected);
            // Init-capable fillers are preferred: no init-capable learner while a
            // non-init-capable non-director votes.
            let init_learner = nodes.iter().any(|n| plan.learners.contains(&n.node) && n.init_capable);
            let plain_voter = nodes.iter().any(|n| plan.voters.contains(&n.node) && !n.director_capable && !n.init_capable);
            prop_assert!(!(init_learner && plain_voter));
            // The order of the list does not matter.
            let mut shuffled = nodes.clone();
            let len = shuffled.len();
            shuffled.rotate_left(seed % len);
            shuffled.reverse();
            prop_assert_eq!(plan_membership(&shuffled).unwrap(), plan);
        }
    }
}

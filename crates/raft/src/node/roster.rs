//! The node list a running node works from, and what replacing it changes.
//!
//! The list lives in a `watch` channel: [`ClusterNode::set_members`] replaces it when the
//! operator applies a changed clustertab or cvip.conf, and the upkeep, hand-over and RPC tasks
//! read the current one on every pass, so the change takes effect without a restart. The
//! membership itself still changes only through Raft, one step at a time, on the leader.
//!
//! [`ClusterNode::set_members`]: super::ClusterNode::set_members

use std::collections::{BTreeMap, BTreeSet};

use super::ClusterMember;
use crate::membership::{MemberCapabilities, MembershipError, MembershipPlan, plan_membership};
use crate::types::{NodeId, PeerNode};

/// The plan and every listed node's RPC address.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Roster {
    pub(crate) plan: MembershipPlan,
    pub(crate) addresses: BTreeMap<NodeId, PeerNode>,
}

impl Roster {
    /// Plans the membership of `members`; `me` must be one of them.
    pub(crate) fn new(me: NodeId, members: &[ClusterMember]) -> Result<Self, MembershipError> {
        let nodes: Vec<MemberCapabilities> = members.iter().map(|m| m.capabilities).collect();
        let plan = plan_membership(&nodes)?;
        if !members.iter().any(|m| m.capabilities.node == me) {
            return Err(MembershipError::NotListed(me));
        }
        let addresses = members
            .iter()
            .map(|m| (m.capabilities.node, PeerNode { addr: m.addr }))
            .collect();
        Ok(Self { plan, addresses })
    }

    /// What replacing `self` with `next` changes, seen from node `me`.
    pub(crate) fn change_to(&self, next: &Roster, me: NodeId) -> MembershipChange {
        let before: BTreeSet<NodeId> = self.addresses.keys().copied().collect();
        let after: BTreeSet<NodeId> = next.addresses.keys().copied().collect();
        let moved = self
            .addresses
            .iter()
            .filter(|(id, peer)| next.addresses.get(id).is_some_and(|p| p != *peer))
            .map(|(id, _)| *id)
            .collect();
        let (was, is) = (self.plan.may_elect(me), next.plan.may_elect(me));
        MembershipChange {
            added: after.difference(&before).copied().collect(),
            removed: before.difference(&after).copied().collect(),
            moved,
            plan_changed: self.plan != next.plan,
            may_elect: (was != is).then_some(is),
        }
    }
}

/// What [`ClusterNode::set_members`] changed on this node. The replicated membership follows
/// through the leader's upkeep; this says what the node now works towards.
///
/// [`ClusterNode::set_members`]: super::ClusterNode::set_members
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MembershipChange {
    /// Nodes newly listed: the leader adds them as learners (and voters, if planned so).
    pub added: BTreeSet<NodeId>,
    /// Nodes no longer listed: the leader removes them from the membership.
    pub removed: BTreeSet<NodeId>,
    /// Listed nodes whose RPC address changed.
    pub moved: BTreeSet<NodeId>,
    /// Whether voters, learners or director-capable nodes changed.
    pub plan_changed: bool,
    /// This node's new director capability (whether it stands for election), if it changed.
    pub may_elect: Option<bool>,
}

impl MembershipChange {
    /// True when the new node list equals the one in force (the call changed nothing).
    pub fn is_unchanged(&self) -> bool {
        self == &Self::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, SocketAddr};

    fn member(node: u64, director_capable: bool, port: u16) -> ClusterMember {
        ClusterMember {
            capabilities: MemberCapabilities {
                node: NodeId(node),
                director_capable,
                init_capable: false,
            },
            addr: SocketAddr::from((Ipv4Addr::LOCALHOST, port)),
        }
    }

    #[test]
    fn a_changed_list_reports_added_removed_moved_and_election_rights() {
        let old = Roster::new(
            NodeId(3),
            &[member(1, true, 1), member(2, true, 2), member(3, false, 3)],
        )
        .unwrap();
        let new = Roster::new(
            NodeId(3),
            &[member(1, true, 1), member(3, true, 30), member(4, false, 4)],
        )
        .unwrap();
        let change = old.change_to(&new, NodeId(3));
        assert_eq!(change.added, BTreeSet::from([NodeId(4)]));
        assert_eq!(change.removed, BTreeSet::from([NodeId(2)]));
        assert_eq!(change.moved, BTreeSet::from([NodeId(3)]));
        assert!(change.plan_changed);
        assert_eq!(change.may_elect, Some(true));
        assert_eq!(new.change_to(&old, NodeId(3)).may_elect, Some(false));
        assert_eq!(new.change_to(&old, NodeId(1)).may_elect, None);
    }

    #[test]
    fn the_same_list_in_another_order_changes_nothing() {
        let list = [member(1, true, 1), member(2, false, 2), member(3, false, 3)];
        let mut reversed = list;
        reversed.reverse();
        let a = Roster::new(NodeId(2), &list).unwrap();
        let b = Roster::new(NodeId(2), &reversed).unwrap();
        assert!(a.change_to(&b, NodeId(2)).is_unchanged());
    }

    #[test]
    fn a_list_without_this_node_is_refused() {
        let err = Roster::new(NodeId(9), &[member(1, true, 1)]).unwrap_err();
        assert_eq!(err, MembershipError::NotListed(NodeId(9)));
        assert!(err.to_string().contains("stop"), "{err}");
    }
}

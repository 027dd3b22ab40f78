//! Raft for ssinet: openraft with a redb store, and its RPC over the interconnect's channels.
//!
//! [`ClusterNode`] is the entry point: it opens the [`Store`], loads the node's TLS identity,
//! starts Raft and the RPC server, bootstraps the cluster when it is the lowest-numbered
//! director-capable node with no state, and keeps the membership in line with
//! [`plan_membership`] of the node list in force ([`ClusterNode::set_members`] replaces it).
//! The replicated application is the [`App`] trait. The node's TLS identity and the
//! cluster PKI belong to `ssinet-interconnect`.

pub mod membership;
pub mod node;
pub mod store;
pub mod transport;
pub mod types;

pub use membership::{MemberCapabilities, MembershipError, MembershipPlan, plan_membership};
pub use node::{
    ClusterMember, ClusterNode, MembershipChange, NodeConfig, StartError, Timing, VoterView,
    answer_pre_vote, handover_target, jitter, pre_vote_won, standby_may_elect,
};
pub use store::{AppliedState, Store, StoreError};
pub use transport::{ElectNowError, Limits, PreVoteRefusal, WriteError, Written};
pub use types::{App, NodeId, PeerNode, Raft, TypeConfig};

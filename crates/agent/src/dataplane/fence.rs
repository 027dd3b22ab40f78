//! The fence: whether this node may hold the CVIPs on its external interfaces right now.
//!
//! openraft 0.9 never steps a partitioned leader down, so the agent fences itself: a leader
//! holds the CVIPs only while a quorum acknowledged it less than `release` ago, with `release`
//! shorter than `election_timeout_min`. Followers refuse to vote until `election_timeout_max`
//! after the last heartbeat they saw, so no successor can be elected while the old director
//! still holds. `millis_since_quorum_ack` is computed when openraft publishes metrics: if the
//! Raft core stalls, the published value goes stale, so the fence ages it by the time since the
//! metrics last changed (the watchdog: stale metrics release the CVIPs like a lost quorum).

use std::time::{Duration, Instant};

use openraft::ServerState;

/// What the fence needs from one metrics publication.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeaderView {
    pub leader: bool,
    pub term: u64,
    /// Leader only: milliseconds since a quorum acknowledged it, `None` before the first ack.
    pub millis_since_quorum_ack: Option<u64>,
}

impl LeaderView {
    pub fn of(m: &ssinet_raft::types::Metrics) -> Self {
        Self {
            leader: m.state == ServerState::Leader && m.current_leader == Some(m.id),
            term: m.current_term,
            millis_since_quorum_ack: m.millis_since_quorum_ack,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Fence {
    release: Duration,
    view: LeaderView,
    seen_at: Instant,
}

impl Fence {
    pub fn new(release: Duration, now: Instant) -> Self {
        Self {
            release,
            view: LeaderView {
                leader: false,
                term: 0,
                millis_since_quorum_ack: None,
            },
            seen_at: now,
        }
    }

    /// Records a metrics publication seen at `now`.
    pub fn observe(&mut self, view: LeaderView, now: Instant) {
        self.view = view;
        self.seen_at = now;
    }

    /// Records a publication and says whether it changes what the data plane would do: the
    /// leader, the term, or whether this node may hold the CVIPs. A follower's publications
    /// (one per append-entries) and the election driver's state reads change none of these,
    /// so a node that does not direct need not run a pass for each.
    pub fn observe_changes_role(&mut self, view: LeaderView, now: Instant) -> bool {
        let before = (self.view.leader, self.view.term, self.may_hold(now));
        self.observe(view, now);
        before != (self.view.leader, self.view.term, self.may_hold(now))
    }

    /// How long ago a quorum acknowledged this leader, as of `now`.
    pub fn ack_age(&self, now: Instant) -> Option<Duration> {
        let ms = self.view.millis_since_quorum_ack?;
        Some(Duration::from_millis(ms) + now.saturating_duration_since(self.seen_at))
    }

    /// True while this node is the leader, has had a quorum acknowledgement, and that
    /// acknowledgement is younger than the release time.
    pub fn may_hold(&self, now: Instant) -> bool {
        self.view.leader && self.ack_age(now).is_some_and(|age| age < self.release)
    }

    /// The current term (announcements are repeated on every term change).
    pub fn term(&self) -> u64 {
        self.view.term
    }

    /// When `may_hold` turns false if nothing new is observed: the controller wakes then.
    pub fn expires_at(&self) -> Option<Instant> {
        let ms = self.view.millis_since_quorum_ack?;
        let left = self.release.checked_sub(Duration::from_millis(ms))?;
        Some(self.seen_at + left)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leader(ack: Option<u64>) -> LeaderView {
        LeaderView {
            leader: true,
            term: 3,
            millis_since_quorum_ack: ack,
        }
    }

    #[test]
    fn a_new_leader_waits_for_its_first_quorum_ack() {
        let t0 = Instant::now();
        let mut fence = Fence::new(Duration::from_millis(300), t0);
        fence.observe(leader(None), t0);
        assert!(!fence.may_hold(t0));
        fence.observe(leader(Some(5)), t0);
        assert!(fence.may_hold(t0));
    }

    #[test]
    fn stale_metrics_release_like_a_lost_quorum() {
        let t0 = Instant::now();
        let mut fence = Fence::new(Duration::from_millis(300), t0);
        fence.observe(leader(Some(100)), t0);
        assert!(fence.may_hold(t0 + Duration::from_millis(199)));
        assert!(!fence.may_hold(t0 + Duration::from_millis(200)));
        assert_eq!(fence.expires_at(), Some(t0 + Duration::from_millis(200)));
    }

    #[test]
    fn only_a_new_leader_term_or_hold_verdict_changes_the_role() {
        let t0 = Instant::now();
        let mut fence = Fence::new(Duration::from_millis(300), t0);
        let follower = LeaderView {
            leader: false,
            term: 3,
            millis_since_quorum_ack: None,
        };
        assert!(fence.observe_changes_role(follower, t0));
        assert!(!fence.observe_changes_role(follower, t0 + Duration::from_millis(30)));
        assert!(fence.observe_changes_role(leader(None), t0));
        assert!(fence.observe_changes_role(leader(Some(5)), t0));
        assert!(!fence.observe_changes_role(leader(Some(7)), t0));
        assert!(fence.observe_changes_role(leader(Some(400)), t0));
    }

    #[test]
    fn an_old_ack_or_a_follower_never_holds() {
        let t0 = Instant::now();
        let mut fence = Fence::new(Duration::from_millis(300), t0);
        fence.observe(leader(Some(300)), t0);
        assert!(!fence.may_hold(t0));
        assert_eq!(fence.expires_at(), Some(t0));
        fence.observe(
            LeaderView {
                leader: false,
                term: 4,
                millis_since_quorum_ack: Some(0),
            },
            t0,
        );
        assert!(!fence.may_hold(t0));
    }
}

//! The election driver: runs on every node and decides, every half heartbeat, whether this
//! node should stand for election (after a pre-vote), stand aside, or hand leadership over.
//! The rules are in [`super::election`].

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use futures::StreamExt;
use futures::stream::FuturesUnordered;
use openraft::ServerState;
use tokio::sync::watch;
use tokio::time::{Instant, MissedTickBehavior};

use super::election::{handover_target, jitter, pre_vote_won, standby_may_elect};
use super::{Roster, Timing};
use crate::transport::{Network, PreVoteRefusal};
use crate::types::{App, LogId, Metrics, NodeId, Raft};

/// Whether this node could serve as director now, as its agent last said. Shared by the
/// driver and the RPC server (which refuses a caretaker's `ElectNow` while it is false).
#[derive(Clone, Debug)]
pub(crate) struct Eligibility(Arc<AtomicBool>);

impl Default for Eligibility {
    fn default() -> Self {
        Self(Arc::new(AtomicBool::new(true)))
    }
}

impl Eligibility {
    pub(crate) fn get(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }

    /// Sets it; returns the previous value.
    pub(crate) fn set(&self, eligible: bool) -> bool {
        self.0.swap(eligible, Ordering::Relaxed)
    }
}

/// What one pre-vote round came to.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Outcome {
    Won,
    /// The refusals (and silences) it met, for one log line per change.
    Lost(BTreeMap<NodeId, String>),
}

/// The driver's memory between ticks.
struct Driver<A: App> {
    node: NodeId,
    raft: Raft<A>,
    network: Network<A>,
    timing: Timing,
    eligible: Eligibility,
    /// The last time this node heard from an elected leader (or led). Candidates do not count.
    leader_heard: Instant,
    /// No pre-vote before this (spacing after a round or after standing).
    next_ask: Instant,
    /// The last round's outcome, logged only when it changes.
    last_outcome: Option<Outcome>,
    /// A leader standing aside: since when its heartbeats are off.
    aside_since: Option<Instant>,
    /// No standing aside again before this (none took over the last time).
    aside_again: Instant,
    /// Whether openraft's heartbeats are on (off only while standing aside).
    heartbeats_on: bool,
    /// A caretaker's last hand-over request.
    last_ask: Option<(NodeId, Instant)>,
    /// Whether the last tick saw this node as not-standby (for one log line per change).
    standing: Option<bool>,
}

/// Runs the driver until Raft stops.
pub(super) async fn run<A: App>(
    node: NodeId,
    raft: Raft<A>,
    network: Network<A>,
    roster: watch::Receiver<Arc<Roster>>,
    timing: Timing,
    eligible: Eligibility,
) {
    let now = Instant::now();
    let mut driver = Driver {
        node,
        raft,
        network,
        timing,
        eligible,
        leader_heard: now,
        next_ask: now,
        last_outcome: None,
        aside_since: None,
        aside_again: now,
        heartbeats_on: true,
        last_ask: None,
        standing: None,
    };
    let mut tick = tokio::time::interval((timing.heartbeat / 2).max(Duration::from_millis(2)));
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let roster = roster.borrow().clone();
        if driver.tick(&roster).await.is_err() {
            return;
        }
    }
}

/// Raft stopped.
struct Stopped;

impl<A: App> Driver<A> {
    async fn tick(&mut self, roster: &Roster) -> Result<(), Stopped> {
        // openraft refreshes the vote's timestamp on every append-entries from the leader; a
        // committed vote is an elected leader's.
        let (committed, modified) = self
            .raft
            .with_raft_state(|s| (s.vote_ref().is_committed(), s.vote_last_modified()))
            .await
            .map_err(|_| Stopped)?;
        // Published with every metrics report, so as fresh as the state read above.
        let last_log_id = self.raft.data_metrics().borrow().last_log;
        if let Some(modified) = modified.filter(|m| committed && *m > self.leader_heard) {
            self.leader_heard = modified;
        }
        let m = self.raft.metrics().borrow().clone();
        let may_direct = roster.plan.may_elect(self.node);
        if m.state == ServerState::Leader {
            self.leader_heard = Instant::now();
            self.last_outcome = None;
            if may_direct {
                self.stand_aside_if_ineligible(&m);
            } else {
                self.aside_since = None;
                self.set_heartbeats(true);
                self.hand_over(roster, &m).await;
            }
            return Ok(());
        }
        self.aside_since = None;
        self.set_heartbeats(true);
        self.last_ask = None;
        let voters: BTreeSet<NodeId> = m.membership_config.membership().voter_ids().collect();
        if !voters.contains(&self.node) {
            return Ok(());
        }
        let silence = self.leader_heard.elapsed();
        let stands = if may_direct {
            self.eligible.get() && silence > self.timing.election_max
        } else {
            standby_may_elect(silence, &self.timing)
        };
        if self.standing != Some(stands) {
            self.log_standing(stands, may_direct, silence);
            self.standing = Some(stands);
        }
        if !stands || Instant::now() < self.next_ask {
            return Ok(());
        }
        let outcome = self.pre_vote(&voters, last_log_id, &m).await;
        let now = Instant::now();
        if outcome == Outcome::Won {
            tracing::info!(
                node = %self.node,
                term = m.current_term + 1,
                silent_ms = silence.as_millis(),
                caretaker = !may_direct,
                "pre-vote won: standing for election"
            );
            self.raft.trigger().elect().await.map_err(|_| Stopped)?;
            // Give the election a full round before asking again; a lost split vote retries
            // with a spread so two directors do not keep colliding.
            let seed = u64::from(self.node) ^ u64::from(now.elapsed().subsec_nanos());
            self.next_ask = now
                + self.timing.election_min
                + jitter(seed, self.timing.election_max - self.timing.election_min);
        } else {
            if self.last_outcome.as_ref() != Some(&outcome)
                && let Outcome::Lost(refusals) = &outcome
            {
                tracing::info!(node = %self.node, refusals = ?refusals, "pre-vote lost: not standing for election");
            }
            self.next_ask = now + self.timing.heartbeat / 2;
        }
        self.last_outcome = Some(outcome);
        Ok(())
    }

    /// Asks every other voter at once; returns as soon as a majority said yes, or when all
    /// answered or the round's deadline passed.
    async fn pre_vote(
        &self,
        voters: &BTreeSet<NodeId>,
        last_log_id: Option<LogId>,
        m: &Metrics,
    ) -> Outcome {
        let deadline = (self.timing.heartbeat * 2).max(Duration::from_millis(50));
        let membership = m.membership_config.membership();
        let mut asks: FuturesUnordered<_> = voters
            .iter()
            .filter(|v| **v != self.node)
            .filter_map(|v| membership.get_node(v).map(|peer| (*v, *peer)))
            .map(|(voter, peer)| {
                let network = self.network.clone();
                async move {
                    let answer = network
                        .ask_pre_vote(voter, &peer, last_log_id, deadline)
                        .await;
                    (voter, answer)
                }
            })
            .collect();
        let mut granted = BTreeSet::new();
        let mut refusals = BTreeMap::new();
        if pre_vote_won(self.node, voters, &granted) {
            return Outcome::Won;
        }
        while let Some((voter, answer)) = asks.next().await {
            match answer {
                Ok(Ok(())) => {
                    granted.insert(voter);
                    if pre_vote_won(self.node, voters, &granted) {
                        return Outcome::Won;
                    }
                }
                Ok(Err(refusal)) => {
                    refusals.insert(voter, refusal_summary(&refusal));
                }
                Err(e) => {
                    refusals.insert(voter, format!("unreachable: {e}"));
                }
            }
        }
        Outcome::Lost(refusals)
    }

    /// A director leader that cannot serve stops heartbeating so that an eligible director's
    /// pre-vote succeeds once the leases lapse; if none takes over, it heartbeats again.
    fn stand_aside_if_ineligible(&mut self, m: &Metrics) {
        if self.eligible.get() {
            self.aside_since = None;
            self.set_heartbeats(true);
            return;
        }
        let now = Instant::now();
        match self.aside_since {
            None if now >= self.aside_again => {
                tracing::warn!(
                    node = %self.node,
                    term = m.current_term,
                    "cannot serve as director: standing aside (heartbeats off) for a director that can"
                );
                self.aside_since = Some(now);
                self.set_heartbeats(false);
            }
            Some(since) if since.elapsed() > self.timing.standby_after() => {
                tracing::warn!(
                    node = %self.node,
                    term = m.current_term,
                    "no other director took over: leading on without the CVIPs, standing aside again later"
                );
                self.aside_since = None;
                self.aside_again = now + self.timing.standby_after() * 10;
                self.set_heartbeats(true);
            }
            _ => {}
        }
    }

    fn set_heartbeats(&mut self, on: bool) {
        if self.heartbeats_on != on {
            self.raft.runtime_config().heartbeat(on);
            self.heartbeats_on = on;
        }
    }

    /// A caretaker leader hands leadership to a director-capable voter that caught up.
    async fn hand_over(&mut self, roster: &Roster, m: &Metrics) {
        let voters: BTreeSet<NodeId> = m.membership_config.membership().voter_ids().collect();
        let Some(target) = handover_target(
            self.node,
            &roster.plan,
            &voters,
            m.last_log_index,
            m.replication.as_ref().unwrap_or(&BTreeMap::new()),
        ) else {
            return;
        };
        // One request per election period: the director needs that long to win or fail.
        if self
            .last_ask
            .is_some_and(|(asked, at)| asked == target && at.elapsed() < self.timing.election_max)
        {
            return;
        }
        self.last_ask = Some((target, Instant::now()));
        let peer = m
            .membership_config
            .membership()
            .get_node(&target)
            .copied()
            .or_else(|| roster.addresses.get(&target).copied());
        let Some(peer) = peer else {
            return;
        };
        tracing::info!(
            node = %self.node,
            director = %target,
            term = m.current_term,
            "caretaker leader: director caught up, asking it to stand for election"
        );
        match self
            .network
            .ask_to_elect(target, &peer, self.timing.election_max)
            .await
        {
            Ok(Ok(())) => {}
            Ok(Err(refused)) => {
                tracing::warn!(node = %self.node, director = %target, reason = %refused, "director declined to stand for election");
            }
            Err(e) => {
                tracing::warn!(node = %self.node, director = %target, error = %e, "cannot ask the director to stand for election; will retry");
            }
        }
    }

    fn log_standing(&self, stands: bool, may_direct: bool, silence: Duration) {
        let node = self.node;
        let silent_ms = silence.as_millis();
        match (stands, may_direct) {
            (true, true) => {
                tracing::info!(node = %node, silent_ms, "no leader heard: asking for a pre-vote")
            }
            (true, false) => tracing::warn!(
                node = %node,
                silent_ms,
                "no leader heard for long: asking for a pre-vote as a caretaker until a director has caught up"
            ),
            (false, true) if !self.eligible.get() => {
                tracing::info!(node = %node, "cannot serve as director: not standing for election")
            }
            (false, _) => tracing::debug!(node = %node, "a leader is heard: standing by"),
        }
    }
}

fn refusal_summary(refusal: &PreVoteRefusal) -> String {
    match refusal {
        PreVoteRefusal::LeaderAlive { leader, .. } => format!("follows node {leader}"),
        PreVoteRefusal::Leading { .. } => "leads".into(),
        other => other.to_string(),
    }
}

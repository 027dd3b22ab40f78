//! Automatic registration, OpenSSI's `listen()` hook in user space: the node's listening TCP
//! and bound UDP sockets on a weighted port (on a CVIP or a wildcard address) make it a real
//! server for that port. sock_diag has no events, so this polls; each difference between what
//! the node serves and what the replicated state says is sent as one `ReplaceListeners`.

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use ssinet_api::{ClusterState, Command, Listener, Response};
use ssinet_config::NodeId;
use ssinet_listeners::{PortRange, Watcher};

use crate::agent::Agent;

/// How often the node's sockets are listed (one listing costs about 0.1 ms).
const POLL_EVERY: Duration = Duration::from_millis(100);
/// After a failed write (no leader, no quorum), wait this long before sending the same set.
const RETRY_AFTER: Duration = Duration::from_secs(1);

pub async fn run(agent: Arc<Agent>) {
    let me = agent.id();
    let mut watcher: Option<Watcher> = None;
    let mut config_seen: Option<(Vec<IpAddr>, Vec<PortRange>)> = None;
    let mut failed: Option<(BTreeSet<Listener>, tokio::time::Instant)> = None;
    let mut ticker = tokio::time::interval(POLL_EVERY);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        if agent.is_shutting_down() {
            return;
        }
        let applied = agent.node.state().borrow().clone();
        let state = &applied.state;
        if state.is_empty() {
            continue;
        }
        let wanted_config = watch_config(state, me);
        let watcher = match &mut watcher {
            Some(w) => {
                if config_seen.as_ref() != Some(&wanted_config) {
                    w.reconfigure(wanted_config.0.clone(), wanted_config.1.clone());
                }
                w
            }
            None => match Watcher::new(wanted_config.0.clone(), wanted_config.1.clone()) {
                Ok(w) => watcher.insert(w),
                Err(e) => {
                    tracing::warn!(node = me.0, error = %e, "cannot list sockets; retrying");
                    tokio::time::sleep(RETRY_AFTER).await;
                    continue;
                }
            },
        };
        config_seen = Some(wanted_config);
        let serving: BTreeSet<Listener> = match watcher.poll() {
            Ok(set) => set
                .into_iter()
                .map(|(proto, port)| Listener { proto, port })
                .collect(),
            Err(e) => {
                tracing::warn!(node = me.0, error = %e, "cannot list sockets");
                continue;
            }
        };
        let registered: BTreeSet<Listener> = state
            .listeners_of(me)
            .map(|k| Listener {
                proto: k.proto,
                port: k.port,
            })
            .collect();
        if serving == registered {
            failed = None;
            continue;
        }
        if let Some((set, at)) = &failed
            && *set == serving
            && tokio::time::Instant::now() < *at
        {
            continue;
        }
        let command = Command::ReplaceListeners {
            node: me,
            set: serving.iter().copied().collect(),
        };
        let term = agent.node.metrics().borrow().current_term;
        match agent.node.write(command).await {
            Ok(written) => match written.response {
                Response::Applied { .. } => {
                    failed = None;
                    let added: Vec<String> =
                        serving.difference(&registered).map(describe).collect();
                    let removed: Vec<String> =
                        registered.difference(&serving).map(describe).collect();
                    tracing::info!(
                        node = me.0,
                        term,
                        ?added,
                        ?removed,
                        "listener registrations replicated"
                    );
                }
                Response::Rejected { problems } => {
                    tracing::warn!(
                        node = me.0,
                        term,
                        ?problems,
                        "listener registrations rejected"
                    );
                    failed = Some((serving, tokio::time::Instant::now() + RETRY_AFTER));
                }
            },
            Err(e) => {
                tracing::debug!(node = me.0, term, error = %e, "cannot replicate listener registrations; retrying");
                failed = Some((serving, tokio::time::Instant::now() + RETRY_AFTER));
            }
        }
    }
}

fn describe(l: &Listener) -> String {
    format!("{}/{}", l.proto, l.port)
}

/// The CVIPs and this node's weighted ranges (cluster-wide ones and its own overrides).
fn watch_config(state: &ClusterState, me: NodeId) -> (Vec<IpAddr>, Vec<PortRange>) {
    let cvips = state.config.cvip_conf.cvips.iter().map(|c| c.ip).collect();
    let ranges = state
        .config
        .cvip_conf
        .port_weights
        .iter()
        .filter(|w| w.node.is_none() || w.node == Some(me))
        .map(PortRange::from)
        .collect();
    (cvips, ranges)
}

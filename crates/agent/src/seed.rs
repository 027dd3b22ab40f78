//! Seeding the replicated state from the files: `Command::Bootstrap`, which the state machine
//! applies only while the state is empty. Every agent sends it once after start until some node's
//! bootstrap (or an earlier one) is in the state, so the first cluster start needs no operator
//! step and a restart with edited files changes nothing (`cvipctl config apply` does that).

use std::sync::Arc;
use std::time::Duration;

use ssinet_api::{Command, Response};
use ssinet_config::ClusterConfig;

use crate::agent::Agent;

/// Sends `Bootstrap(files)` until the applied state is not empty.
pub async fn seed_state(agent: Arc<Agent>, files: ClusterConfig) {
    let mut state = agent.node.state();
    let mut delay = Duration::from_millis(200);
    loop {
        if !state.borrow_and_update().state.is_empty() {
            tracing::debug!(node = %agent.id(), "replicated state already seeded");
            return;
        }
        if agent.is_shutting_down() {
            return;
        }
        let has_leader = agent.node.metrics().borrow().current_leader.is_some();
        if has_leader {
            match agent.node.write(Command::Bootstrap(files.clone())).await {
                Ok(written) => match written.response {
                    Response::Applied { summary } => {
                        tracing::info!(node = %agent.id(), index = written.log_id.index, %summary, "seeded the replicated state from the files");
                        return;
                    }
                    // Someone else's bootstrap won: the state holds the cluster's config.
                    Response::Rejected { problems } => {
                        tracing::info!(
                            node = %agent.id(),
                            ?problems,
                            "bootstrap not applied: the state is already seeded"
                        );
                        return;
                    }
                },
                Err(e) => {
                    tracing::debug!(node = %agent.id(), error = %e, "bootstrap write failed; retrying");
                }
            }
        }
        // Wake on the next applied change or after the delay, whichever is first.
        let _ = tokio::time::timeout(delay, state.changed()).await;
        delay = (delay * 2).min(Duration::from_secs(5));
    }
}

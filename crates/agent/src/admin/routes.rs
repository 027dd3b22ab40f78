//! The admin API's routes (paths and types from `ssinet_api::admin`).

use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response as HttpResponse};
use axum::routing::{get, post};
use ssinet_api::admin::{self, ApiError, ErrorCode, RaftRole};
use ssinet_api::{Command, Response};
use ssinet_raft::WriteError;

use crate::agent::Agent;

/// Every route of the admin API.
pub fn router(agent: Arc<Agent>) -> Router {
    Router::new()
        .route(admin::STATUS, get(status))
        .route(admin::STATE, get(state))
        .route(admin::COMMANDS, post(command))
        .route(admin::METRICS, get(metrics))
        .route(ssinet_api::dataplane::IPVS, get(ipvs))
        .route(ssinet_api::rsock::RSOCK, get(rsock))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(agent)
}

fn json<T: serde::Serialize>(status: u16, body: &T) -> HttpResponse {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    match serde_json::to_vec(body) {
        Ok(bytes) => (status, [(header::CONTENT_TYPE, "application/json")], bytes).into_response(),
        Err(e) => error(
            ErrorCode::Internal,
            format!("cannot encode the answer: {e}"),
        ),
    }
}

fn error(code: ErrorCode, message: impl Into<String>) -> HttpResponse {
    let body = ApiError::new(code, message);
    let status =
        StatusCode::from_u16(code.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let bytes = serde_json::to_vec(&body).unwrap_or_default();
    (status, [(header::CONTENT_TYPE, "application/json")], bytes).into_response()
}

async fn status(State(agent): State<Arc<Agent>>) -> HttpResponse {
    json(200, &agent.status())
}

async fn state(State(agent): State<Arc<Agent>>) -> HttpResponse {
    let applied = agent.node.state().borrow().clone();
    json(200, &applied.state)
}

async fn ipvs(State(agent): State<Arc<Agent>>) -> HttpResponse {
    match crate::admin::ipvs::report(&agent).await {
        Ok(report) => json(200, &report),
        Err(e) => error(ErrorCode::Internal, format!("{e:#}")),
    }
}

async fn rsock(State(agent): State<Arc<Agent>>) -> HttpResponse {
    json(200, &crate::admin::rsock::report(&agent))
}

async fn metrics(State(agent): State<Arc<Agent>>) -> HttpResponse {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        crate::metrics::render(&agent),
    )
        .into_response()
}

async fn not_found() -> HttpResponse {
    error(
        ErrorCode::NotFound,
        format!(
            "no such route; the admin API serves GET {}, GET {}, POST {}, GET {}, GET {}, GET {}",
            admin::STATUS,
            admin::STATE,
            admin::COMMANDS,
            ssinet_api::dataplane::IPVS,
            ssinet_api::rsock::RSOCK,
            admin::METRICS
        ),
    )
}

async fn method_not_allowed() -> HttpResponse {
    error(
        ErrorCode::MethodNotAllowed,
        format!(
            "wrong method: {} takes POST, the other routes GET",
            admin::COMMANDS
        ),
    )
}

/// `POST /v1/commands`: commit through the leader (forwarded if this node is not it).
async fn command(State(agent): State<Arc<Agent>>, body: Bytes) -> HttpResponse {
    let command: Command = match serde_json::from_slice(&body) {
        Ok(command) => command,
        Err(e) => {
            return error(
                ErrorCode::BadRequest,
                format!(
                    "the body is not a command: {e}; expected JSON like {{\"command\": \"del_cvip\", \"ip\": \"192.168.200.10\"}}"
                ),
            );
        }
    };
    if agent.is_shutting_down() {
        return error(
            ErrorCode::ShuttingDown,
            "this agent is shutting down; use another node",
        );
    }
    if let Some(refusal) = cut_off(&agent).await {
        return refusal;
    }
    let name = command.name();
    let started = Instant::now();
    let written = agent.node.write(command).await;
    match written {
        Ok(written) => {
            agent
                .write_latency
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .observe(started.elapsed());
            let index = written.log_id.index;
            match written.response {
                response @ Response::Applied { .. } => {
                    tracing::info!(node = %agent.id(), command = name, index, "command applied");
                    json(admin::STATUS_APPLIED, &response)
                }
                response @ Response::Rejected { .. } => {
                    tracing::info!(
                        node = %agent.id(),
                        command = name,
                        index,
                        ?response,
                        "command rejected"
                    );
                    json(admin::STATUS_REJECTED, &response)
                }
            }
        }
        Err(e) => write_failed(&agent, e),
    }
}

/// Refuses a write at once when this node can tell it cannot commit: it is a leader whose last
/// quorum acknowledgement is older than `election_min` (the same rule as its status's `quorum`),
/// or its leader did not answer the last peer probe, or answered that it has no quorum itself.
/// Without this the write would wait for the full forward timeout and then fail anyway. The
/// probe table can be half a second old (an election just happened), so a refusal it suggests is
/// confirmed by asking the leader again first.
async fn cut_off(agent: &Agent) -> Option<HttpResponse> {
    let metrics = agent.node.metrics();
    let (state, term, leader, since_ack) = {
        let m = metrics.borrow();
        (
            m.state,
            m.current_term,
            m.current_leader,
            m.millis_since_quorum_ack,
        )
    };
    if state == openraft::ServerState::Leader {
        let since_ack = since_ack?;
        return (!agent.leader_has_quorum()).then(|| {
            error(
                ErrorCode::NoQuorum,
                format!(
                    "this node (the leader) has not heard from a quorum of voters for {since_ack} \
                     ms; the cluster has no quorum from here (network partition or voters down)"
                ),
            )
        });
    }
    let leader = leader.filter(|l| *l != agent.id())?;
    let seen = agent.peer_reports().get(&leader).copied();
    let doubtful = match seen {
        Some(None) => true,
        Some(Some(report)) => report.role == RaftRole::Leader && !report.quorum,
        None => false,
    };
    if !doubtful {
        return None;
    }
    let fresh = agent.prober.probe(leader).await;
    crate::peers::record(agent.id(), &agent.peers, leader, fresh.clone());
    match fresh.ok() {
        None => Some(error(
            ErrorCode::NoQuorum,
            format!(
                "this node cannot reach the leader, node {leader}, and no other leader is known: \
                 the cluster has no quorum from here (network partition?)"
            ),
        )),
        Some(report)
            if report.role == RaftRole::Leader && report.term >= term && !report.quorum =>
        {
            Some(error(
                ErrorCode::NoQuorum,
                format!(
                    "the leader, node {leader}, has no quorum of voters (network partition or \
                     voters down)"
                ),
            ))
        }
        _ => None,
    }
}

fn write_failed(agent: &Agent, e: WriteError) -> HttpResponse {
    if agent.is_shutting_down() {
        return error(
            ErrorCode::ShuttingDown,
            format!("this agent is shutting down ({e}); use another node"),
        );
    }
    match e {
        WriteError::NotLeader { .. } => error(
            ErrorCode::NoLeader,
            format!(
                "no leader: {e}; the director-capable voters are electing one or too few of them \
                 are reachable for a quorum"
            ),
        ),
        WriteError::Unreachable { .. } => error(
            ErrorCode::NoQuorum,
            format!("{e}; this node may be cut off from the cluster"),
        ),
        WriteError::Timeout { .. } => error(ErrorCode::Timeout, e.to_string()),
        WriteError::Raft(_) | WriteError::NoResponse => error(ErrorCode::Internal, e.to_string()),
    }
}

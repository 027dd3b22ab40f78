//! The Raft application: how a [`Command`] changes the [`ClusterState`].
//!
//! Each command is applied to a copy of the state; the copy is validated with the rules of
//! `cvipctl config check` plus the listener rules, and replaces the state only when valid. Every
//! step iterates in model order, so all nodes reach the same state and the same answers.

use std::net::IpAddr;

use ssinet_config::{ClusterConfig, Cvip, Diagnostic, DirectorNode, PortWeight, Scheduler};

mod listeners;

use crate::command::{Command, Response};
use crate::state::ClusterState;

/// The replicated application `ssinetd` runs on `ssinet_raft::ClusterNode` (with the `raft`
/// feature, which the agent enables; the API's other users need no Raft).
#[derive(Debug, Clone, Copy, Default)]
pub struct ClusterApp;

#[cfg(feature = "raft")]
impl ssinet_raft::App for ClusterApp {
    type Command = Command;
    type Response = Response;
    type State = ClusterState;

    fn apply(state: &mut ClusterState, command: &Command) -> Response {
        ClusterApp::apply(state, command)
    }
}

impl ClusterApp {
    /// Applies `command` to `state`, or leaves it unchanged and answers why not.
    pub fn apply(state: &mut ClusterState, command: &Command) -> Response {
        let mut next = state.clone();
        let summary = match change(&mut next, command) {
            Ok(summary) => summary,
            Err(problems) => return Response::Rejected { problems },
        };
        if let Err(diagnostics) = next.config.validate() {
            return Response::Rejected {
                problems: diagnostics.iter().map(problem_line).collect(),
            };
        }
        let dropped = listeners::drop_unfit(&mut next);
        *state = next;
        let summary = if dropped == 0 {
            summary
        } else {
            format!(
                "{summary}; dropped {dropped} listener registration{} that no longer fit",
                plural(dropped)
            )
        };
        Response::Applied { summary }
    }
}

/// One diagnostic as a line without the file position (the values came from a command).
fn problem_line(d: &Diagnostic) -> String {
    match &d.expected {
        Some(expected) => format!("{}: {} (expected {expected})", d.field, d.message),
        None => format!("{}: {}", d.field, d.message),
    }
}

pub(super) fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// Applies `command` to `state` without validating the result; `Err` holds the problems that
/// make it meaningless (nothing to delete, state not seeded, ...).
fn change(state: &mut ClusterState, command: &Command) -> Result<String, Vec<String>> {
    match command {
        Command::Bootstrap(config) => {
            if !state.is_empty() {
                return Err(vec![
                    "bootstrap: the cluster state is already initialized, so the files are not \
                     read again (expected `cvipctl config apply` to replace the configuration)"
                        .into(),
                ]);
            }
            state.config = config.clone();
            state.listeners.clear();
            Ok(format!("bootstrapped: {}", describe(config)))
        }
        Command::ApplyConfig(config) => {
            state.config = config.clone();
            Ok(format!("applied configuration: {}", describe(config)))
        }
        _ if state.is_empty() => Err(vec![
            "state: the cluster state is empty (expected ssinetd to seed it from cvip.conf at its \
             first start, or `cvipctl config apply`)"
                .into(),
        ]),
        Command::AddCvip {
            ip,
            gateway,
            directors,
            real_servers,
        } => {
            let cvips = &mut state.config.cvip_conf.cvips;
            let directors = match directors {
                Some(directors) => directors.clone(),
                None => cvips
                    .first()
                    .map(|c| c.directors.clone())
                    .unwrap_or_default(),
            };
            cvips.push(Cvip {
                ip: *ip,
                gateway: *gateway,
                directors,
                real_servers: real_servers.clone(),
                scheduler: None,
                persistence: None,
            });
            Ok(format!("added CVIP {ip}"))
        }
        Command::DelCvip { ip } => {
            let cvips = &mut state.config.cvip_conf.cvips;
            let Some(at) = cvips.iter().position(|c| c.ip == *ip) else {
                let known: Vec<String> = cvips.iter().map(|c| c.ip.to_string()).collect();
                return Err(vec![format!(
                    "<cvip>/<ip_addr>: there is no CVIP {ip} (expected one of: {})",
                    known.join(", ")
                )]);
            };
            cvips.remove(at);
            Ok(format!("deleted CVIP {ip}"))
        }
        Command::AddDirector {
            node,
            garp_interface,
            sync_interface,
        } => {
            let cvips = &mut state.config.cvip_conf.cvips;
            if cvips
                .iter()
                .any(|c| c.directors.iter().any(|d| d.node == *node))
            {
                return Err(vec![format!(
                    "<director_node>/<node_num>: node {node} is already a director (expected a \
                     node that is not; to change its interfaces delete it first)"
                )]);
            }
            for cvip in cvips.iter_mut() {
                cvip.directors.push(DirectorNode {
                    node: *node,
                    garp_interface: garp_interface.clone(),
                    sync_interface: sync_interface.clone(),
                });
            }
            Ok(format!(
                "added director node {node} (external interface {garp_interface})"
            ))
        }
        Command::DelDirector { node } => {
            let cvips = &mut state.config.cvip_conf.cvips;
            if !cvips
                .iter()
                .any(|c| c.directors.iter().any(|d| d.node == *node))
            {
                let directors: Vec<String> = state
                    .config
                    .director_nodes()
                    .iter()
                    .map(ToString::to_string)
                    .collect();
                return Err(vec![format!(
                    "<director_node>/<node_num>: node {node} is not a director (expected one of: \
                     {})",
                    directors.join(", ")
                )]);
            }
            for cvip in cvips.iter_mut() {
                cvip.directors.retain(|d| d.node != *node);
            }
            Ok(format!("deleted director node {node}"))
        }
        Command::SetPortWeight(weight) => {
            let weights = &mut state.config.cvip_conf.port_weights;
            let what = describe_range(weight);
            match weights.iter().position(|w| same_range(w, weight)) {
                Some(at) => {
                    let old = std::mem::replace(&mut weights[at], weight.clone());
                    Ok(format!(
                        "set {what} to weight {} (was {})",
                        weight.weight, old.weight
                    ))
                }
                None => {
                    weights.push(weight.clone());
                    Ok(format!("added {what} with weight {}", weight.weight))
                }
            }
        }
        Command::DelPortWeight {
            proto,
            start_port,
            end_port,
            node,
        } => {
            let probe = PortWeight {
                proto: *proto,
                start_port: *start_port,
                end_port: *end_port,
                weight: 0,
                node: *node,
            };
            let weights = &mut state.config.cvip_conf.port_weights;
            let Some(at) = weights.iter().position(|w| same_range(w, &probe)) else {
                let known: Vec<String> = weights.iter().map(describe_range).collect();
                return Err(vec![format!(
                    "<port_weight>: there is no {} (expected one of: {})",
                    describe_range(&probe),
                    if known.is_empty() {
                        "none are set".into()
                    } else {
                        known.join("; ")
                    }
                )]);
            };
            weights.remove(at);
            Ok(format!("deleted {}", describe_range(&probe)))
        }
        Command::SetScheduler { cvip, scheduler } => {
            let (slot, scope) = match cvip {
                Some(ip) => {
                    let cvip = find_cvip(&mut state.config.cvip_conf.cvips, *ip)?;
                    (&mut cvip.scheduler, format!("CVIP {ip}"))
                }
                None => (&mut state.config.cvip_conf.scheduler, "the cluster".into()),
            };
            *slot = scheduler.clone();
            Ok(match scheduler {
                Some(s) => format!("scheduler of {scope} set to {}", describe_scheduler(s)),
                None => format!("scheduler of {scope} cleared"),
            })
        }
        Command::SetPersistence { cvip, persistence } => {
            let (slot, scope) = match cvip {
                Some(ip) => {
                    let cvip = find_cvip(&mut state.config.cvip_conf.cvips, *ip)?;
                    (&mut cvip.persistence, format!("CVIP {ip}"))
                }
                None => (
                    &mut state.config.cvip_conf.persistence,
                    "the cluster".into(),
                ),
            };
            *slot = persistence.clone();
            Ok(match persistence {
                Some(p) => format!(
                    "persistence of {scope} set to {} s{}",
                    p.timeout_secs,
                    p.netmask_prefix
                        .map(|n| format!(" per /{n}"))
                        .unwrap_or_default()
                ),
                None => format!("persistence of {scope} cleared"),
            })
        }
        Command::SetHealthCheck(health) => {
            state.config.cvip_conf.health = Some(health.clone());
            Ok(format!(
                "health check every {} ms (timeout {} ms), drain after {} failures for {} ms, TCP \
                 check {}",
                health.interval_ms,
                health.timeout_ms,
                health.failures_before_drain,
                health.drain_ms,
                if health.tcp_check { "on" } else { "off" }
            ))
        }
        Command::RegisterListener { node, proto, port } => {
            listeners::register(state, *node, *proto, *port)
        }
        Command::UnregisterListener { node, proto, port } => {
            listeners::unregister(state, *node, *proto, *port)
        }
        Command::ReplaceListeners { node, set } => listeners::replace(state, *node, set),
    }
}

fn find_cvip(cvips: &mut [Cvip], ip: IpAddr) -> Result<&mut Cvip, Vec<String>> {
    let known: Vec<String> = cvips.iter().map(|c| c.ip.to_string()).collect();
    cvips.iter_mut().find(|c| c.ip == ip).ok_or_else(|| {
        vec![format!(
            "<cvip>/<ip_addr>: there is no CVIP {ip} (expected one of: {})",
            known.join(", ")
        )]
    })
}

/// `mh (mh-port)`.
fn describe_scheduler(scheduler: &Scheduler) -> String {
    if scheduler.flags.is_empty() {
        return scheduler.name.to_string();
    }
    let flags: Vec<&str> = scheduler.flags.iter().map(|f| f.as_str()).collect();
    format!("{} ({})", scheduler.name, flags.join(", "))
}

fn same_range(a: &PortWeight, b: &PortWeight) -> bool {
    a.proto == b.proto
        && a.start_port == b.start_port
        && a.end_port == b.end_port
        && a.node == b.node
}

/// `tcp ports 80-80` / `udp ports 5000-5100 for node 3`.
fn describe_range(w: &PortWeight) -> String {
    let node = w.node.map(|n| format!(" for node {n}")).unwrap_or_default();
    format!("{} ports {}-{}{node}", w.proto, w.start_port, w.end_port)
}

fn describe(config: &ClusterConfig) -> String {
    let nodes = config.clustertab.nodes.len();
    let cvips = config.cvip_conf.cvips.len();
    let ranges = config.cvip_conf.port_weights.len();
    format!(
        "{nodes} node{}, {cvips} CVIP{}, {ranges} port-weight range{}, routing {}",
        plural(nodes),
        plural(cvips),
        plural(ranges),
        config.routing()
    )
}

//! The listener registry: what each node's sock_diag watcher reports. Registering twice and
//! unregistering what is not there are applied no-ops, so a watcher may simply repeat itself.

use ssinet_config::{ClusterConfig, NodeId, Protocol};

use super::plural;
use crate::command::Listener;
use crate::state::{ClusterState, ListenerKey, Registration, node_list};

pub(super) fn register(
    state: &mut ClusterState,
    node: NodeId,
    proto: Protocol,
    port: u16,
) -> Result<String, Vec<String>> {
    let key = ListenerKey { node, proto, port };
    if let Some(problem) = state.listener_problem(&key) {
        return Err(vec![problem]);
    }
    let added = state
        .listeners
        .insert(key, Registration::default())
        .is_none();
    Ok(if added {
        format!("registered listener {proto}/{port} on node {node}")
    } else {
        format!("listener {proto}/{port} on node {node} was already registered")
    })
}

pub(super) fn unregister(
    state: &mut ClusterState,
    node: NodeId,
    proto: Protocol,
    port: u16,
) -> Result<String, Vec<String>> {
    known_node(&state.config, node)?;
    let key = ListenerKey { node, proto, port };
    Ok(if state.listeners.remove(&key).is_some() {
        format!("unregistered listener {proto}/{port} on node {node}")
    } else {
        format!("listener {proto}/{port} on node {node} was not registered")
    })
}

/// Replaces all of `node`'s registrations; rejected as a whole if any entry does not fit.
pub(super) fn replace(
    state: &mut ClusterState,
    node: NodeId,
    set: &[Listener],
) -> Result<String, Vec<String>> {
    known_node(&state.config, node)?;
    let keys: Vec<ListenerKey> = set
        .iter()
        .map(|l| ListenerKey {
            node,
            proto: l.proto,
            port: l.port,
        })
        .collect();
    let problems: Vec<String> = keys
        .iter()
        .filter_map(|k| state.listener_problem(k))
        .collect();
    if !problems.is_empty() {
        return Err(problems);
    }
    state.listeners.retain(|k, _| k.node != node);
    for key in keys {
        state.listeners.insert(key, Registration::default());
    }
    let count = state.listeners_of(node).count();
    Ok(format!(
        "node {node} now has {count} registered listener{}",
        plural(count)
    ))
}

/// Removes registrations whose node or port range is gone; returns how many.
pub(super) fn drop_unfit(state: &mut ClusterState) -> usize {
    let unfit: Vec<ListenerKey> = state
        .listeners
        .keys()
        .filter(|k| state.listener_problem(k).is_some())
        .copied()
        .collect();
    for key in &unfit {
        state.listeners.remove(key);
    }
    unfit.len()
}

fn known_node(config: &ClusterConfig, node: NodeId) -> Result<(), Vec<String>> {
    if config.node(node).is_some() {
        return Ok(());
    }
    Err(vec![format!(
        "listener: node {node} is not in clustertab (expected one of: {})",
        node_list(config)
    )])
}

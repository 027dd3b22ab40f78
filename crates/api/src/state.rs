//! The replicated state: the cluster's configuration plus the listeners nodes have registered.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use ssinet_config::{ClusterConfig, NodeId, Protocol};

/// Everything Raft replicates. Empty (the default) until the first `Bootstrap` seeds it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterState {
    /// clustertab, cvip.conf and lvs_routing as one validated value.
    pub config: ClusterConfig,
    /// Listening sockets on a load-balanced port (bound to a CVIP or a wildcard address), as each
    /// node's sock_diag watcher reports them. A node with a registration here is a real server
    /// for that port. In JSON a list of `{node, proto, port, ...}` objects, since JSON object
    /// keys must be strings.
    #[serde(with = "listener_list")]
    pub listeners: BTreeMap<ListenerKey, Registration>,
}

impl ClusterState {
    /// True before the first `Bootstrap` (or `ApplyConfig`) was applied.
    pub fn is_empty(&self) -> bool {
        self.config.clustertab.nodes.is_empty()
    }

    /// The listeners `node` has registered, in (protocol, port) order.
    pub fn listeners_of(&self, node: NodeId) -> impl Iterator<Item = &ListenerKey> {
        self.listeners.keys().filter(move |k| k.node == node)
    }

    /// Why a registration of `key` would not fit the configuration, if it would not.
    pub(crate) fn listener_problem(&self, key: &ListenerKey) -> Option<String> {
        if self.config.node(key.node).is_none() {
            return Some(format!(
                "listener: node {} is not in clustertab (expected one of: {})",
                key.node,
                node_list(&self.config)
            ));
        }
        if self
            .config
            .weight_for(key.node, key.proto, key.port)
            .is_none()
        {
            return Some(format!(
                "listener: {}/{} on node {} is not inside any port-weight range (expected a port \
                 set with `cvipctl port-weight set`)",
                key.proto, key.port, key.node
            ));
        }
        None
    }
}

pub(crate) fn node_list(config: &ClusterConfig) -> String {
    let nodes: Vec<String> = config
        .clustertab
        .nodes
        .iter()
        .map(|n| n.num.to_string())
        .collect();
    if nodes.is_empty() {
        "none: the cluster state is empty".into()
    } else {
        nodes.join(", ")
    }
}

/// One listening (protocol, port) on one node. Ordered by node, then protocol, then port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ListenerKey {
    pub node: NodeId,
    pub proto: Protocol,
    pub port: u16,
}

/// What is known about a registered listener beyond its key. Empty for now: the key alone makes
/// the node a real server; fields added later default when reading older state.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(default)]
pub struct Registration {}

/// Serializes the listener map as a list, since JSON object keys must be strings.
mod listener_list {
    use std::collections::BTreeMap;

    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    use super::{ListenerKey, Registration};

    #[derive(Serialize, Deserialize)]
    struct Entry {
        #[serde(flatten)]
        key: ListenerKey,
        #[serde(flatten)]
        registration: Registration,
    }

    pub fn serialize<S: Serializer>(
        map: &BTreeMap<ListenerKey, Registration>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(map.iter().map(|(key, registration)| Entry {
            key: *key,
            registration: registration.clone(),
        }))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<BTreeMap<ListenerKey, Registration>, D::Error> {
        let entries = Vec::<Entry>::deserialize(deserializer)?;
        Ok(entries
            .into_iter()
            .map(|e| (e.key, e.registration))
            .collect())
    }
}

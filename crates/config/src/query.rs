//! Questions the agent asks of a configuration: who may direct, who serves, what weight a node
//! carries on a port, which scheduler and routing apply.

use std::collections::BTreeSet;
use std::net::IpAddr;

use crate::model::{
    ClusterConfig, Clustertab, Cvip, CvipConf, HealthCheck, Node, NodeId, Persistence, Protocol,
    Routing, Scheduler,
};

impl Clustertab {
    pub fn node(&self, num: NodeId) -> Option<&Node> {
        self.nodes.iter().find(|n| n.num == num)
    }

    /// Nodes that may become the root node, in clustertab order.
    pub fn init_capable_nodes(&self) -> Vec<NodeId> {
        self.nodes
            .iter()
            .filter(|n| n.init_capable)
            .map(|n| n.num)
            .collect()
    }
}

impl CvipConf {
    /// Director-capable nodes: every node that is a `<director_node>` of some CVIP.
    pub fn director_nodes(&self) -> BTreeSet<NodeId> {
        self.cvips
            .iter()
            .flat_map(|c| c.directors.iter().map(|d| d.node))
            .collect()
    }

    /// Nodes named as `<real_server_node>` of some CVIP.
    pub fn real_server_nodes(&self) -> BTreeSet<NodeId> {
        self.cvips
            .iter()
            .flat_map(|c| c.real_servers.iter().copied())
            .collect()
    }

    /// The weight `node` carries for `proto`/`port`: its own override for a range holding the
    /// port, else the default range's weight; `None` when the port is not load-balanced for it.
    pub fn weight_for(&self, node: NodeId, proto: Protocol, port: u16) -> Option<u32> {
        let matching = |for_node: Option<NodeId>| {
            self.port_weights
                .iter()
                .find(|pw| pw.node == for_node && pw.proto == proto && pw.contains(port))
                .map(|pw| pw.weight)
        };
        matching(Some(node)).or_else(|| matching(None))
    }

    /// The scheduler a CVIP uses: its own, else the global one, else mh with mh-port.
    pub fn scheduler_for(&self, cvip: &Cvip) -> Scheduler {
        cvip.scheduler
            .clone()
            .or_else(|| self.scheduler.clone())
            .unwrap_or_default()
    }

    /// The persistence a CVIP uses: its own, else the global one.
    pub fn persistence_for<'a>(&'a self, cvip: &'a Cvip) -> Option<&'a Persistence> {
        cvip.persistence.as_ref().or(self.persistence.as_ref())
    }

    pub fn health_check(&self) -> HealthCheck {
        self.health.clone().unwrap_or_default()
    }
}

impl ClusterConfig {
    /// The routing mode: cvip.conf's `<routing>`, else lvs_routing's, else DR (OpenSSI's default).
    pub fn routing(&self) -> Routing {
        self.cvip_conf
            .routing
            .or_else(|| self.lvs_routing.as_ref().and_then(|l| l.routing))
            .unwrap_or(Routing::Dr)
    }

    /// NAT mode's floating internal gateway.
    pub fn internal_gateway(&self) -> Option<IpAddr> {
        self.lvs_routing.as_ref().and_then(|l| l.internal_gw)
    }

    pub fn node(&self, num: NodeId) -> Option<&Node> {
        self.clustertab.node(num)
    }

    pub fn director_nodes(&self) -> BTreeSet<NodeId> {
        self.cvip_conf.director_nodes()
    }

    pub fn real_server_nodes(&self) -> BTreeSet<NodeId> {
        self.cvip_conf.real_server_nodes()
    }

    pub fn init_capable_nodes(&self) -> Vec<NodeId> {
        self.clustertab.init_capable_nodes()
    }

    pub fn weight_for(&self, node: NodeId, proto: Protocol, port: u16) -> Option<u32> {
        self.cvip_conf.weight_for(node, proto, port)
    }
}

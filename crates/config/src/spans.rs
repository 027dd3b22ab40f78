//! Where each parsed value was written, kept beside the span-free model (same shape, same
//! indices) so cross-file diagnostics can point at the offending line and column.

use crate::diag::Position;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeSpans {
    pub num: Position,
    pub ip: Position,
    pub mac: Position,
    pub boot: Position,
    pub init_capable: Position,
    pub boot_device: Option<Position>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClustertabSpans {
    pub file: String,
    /// Parallel to `Clustertab::nodes`.
    pub nodes: Vec<NodeSpans>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirectorSpans {
    pub element: Position,
    pub node_num: Position,
    pub garp_interface: Position,
    pub sync_interface: Option<Position>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchedulerSpans {
    pub name: Position,
    /// Parallel to `Scheduler::flags`.
    pub flags: Vec<Position>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PersistenceSpans {
    pub element: Position,
    pub timeout: Position,
    pub netmask: Option<Position>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CvipSpans {
    pub element: Position,
    pub ip_addr: Position,
    pub gateway: Option<Position>,
    /// Parallel to `Cvip::directors`.
    pub directors: Vec<DirectorSpans>,
    /// The `<node_num>` of each `<real_server_node>`, parallel to `Cvip::real_servers`.
    pub real_servers: Vec<Position>,
    pub scheduler: Option<SchedulerSpans>,
    pub persistence: Option<PersistenceSpans>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortWeightSpans {
    pub element: Position,
    pub proto: Position,
    pub start_port: Position,
    pub end_port: Position,
    pub weight: Position,
    pub node_num: Option<Position>,
}

/// Fields left out fall back to defaults; their span is then the `<health_check>` element.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthSpans {
    pub element: Position,
    pub interval_ms: Position,
    pub timeout_ms: Position,
    pub failures: Position,
    pub drain_ms: Position,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CvipConfSpans {
    pub file: String,
    pub root: Option<Position>,
    pub routing: Option<Position>,
    pub cvips: Vec<CvipSpans>,
    pub port_weights: Vec<PortWeightSpans>,
    pub scheduler: Option<SchedulerSpans>,
    pub persistence: Option<PersistenceSpans>,
    pub health: Option<HealthSpans>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LvsRoutingSpans {
    pub file: String,
    pub routing: Option<Position>,
    pub internal_gw: Option<Position>,
}

/// Spans for whichever files the configuration was read from; empty for in-memory values.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SourceMap {
    pub clustertab: Option<ClustertabSpans>,
    pub cvip_conf: Option<CvipConfSpans>,
    pub lvs_routing: Option<LvsRoutingSpans>,
}

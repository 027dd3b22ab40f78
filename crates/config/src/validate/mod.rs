//! Cross-file validation. The same rules run on values read from files (diagnostics then point at
//! the line and column where the offending item was written) and on in-memory values, e.g. in the
//! Raft state machine, where they must be deterministic: every rule iterates in model order.

mod cvips;
pub use cvips::{cvip_address_problem, gateway_address_problem, interface_name_problem};
mod nodes;
mod services;

use crate::diag::{Diagnostic, Diagnostics, Position};
use std::collections::BTreeSet;

use crate::model::{ClusterConfig, NodeId, Routing};
use crate::spans::{ClustertabSpans, CvipConfSpans, LvsRoutingSpans, SourceMap};
use crate::{DEFAULT_CLUSTERTAB_PATH, DEFAULT_CVIP_CONF_PATH, DEFAULT_LVS_ROUTING_PATH};

impl ClusterConfig {
    /// Checks every rule; all violations are reported together. Diagnostics carry no positions.
    pub fn validate(&self) -> Result<(), Diagnostics> {
        self.validate_with_sources(&SourceMap::default())
    }

    /// Like [`ClusterConfig::validate`], with positions from the files the values were read from.
    pub fn validate_with_sources(&self, sources: &SourceMap) -> Result<(), Diagnostics> {
        let mut check = Check {
            config: self,
            sources,
            diagnostics: Diagnostics::default(),
        };
        nodes::check(&mut check);
        cvips::check(&mut check);
        services::check(&mut check);
        check_routing(&mut check);
        check.diagnostics.into_result()
    }
}

/// A validation pass: the values, where they came from, and what was found so far.
pub(crate) struct Check<'a> {
    pub config: &'a ClusterConfig,
    pub sources: &'a SourceMap,
    pub diagnostics: Diagnostics,
}

/// Which of the operator's files a diagnostic points into.
#[derive(Clone, Copy)]
pub(crate) enum File {
    Clustertab,
    CvipConf,
    LvsRouting,
}

impl Check<'_> {
    /// The path of `file` as the operator gave it, or its default path.
    pub fn file(&self, file: File) -> &str {
        let (read, default) = match file {
            File::Clustertab => (
                self.sources.clustertab.as_ref().map(|s| &s.file),
                DEFAULT_CLUSTERTAB_PATH,
            ),
            File::CvipConf => (
                self.sources.cvip_conf.as_ref().map(|s| &s.file),
                DEFAULT_CVIP_CONF_PATH,
            ),
            File::LvsRouting => (
                self.sources.lvs_routing.as_ref().map(|s| &s.file),
                DEFAULT_LVS_ROUTING_PATH,
            ),
        };
        read.map_or(default, String::as_str)
    }

    pub fn in_clustertab(
        &self,
        at: impl FnOnce(&ClustertabSpans) -> Option<Position>,
    ) -> Option<Position> {
        self.sources.clustertab.as_ref().and_then(at)
    }

    pub fn in_cvip_conf(
        &self,
        at: impl FnOnce(&CvipConfSpans) -> Option<Position>,
    ) -> Option<Position> {
        self.sources.cvip_conf.as_ref().and_then(at)
    }

    pub fn in_lvs_routing(
        &self,
        at: impl FnOnce(&LvsRoutingSpans) -> Option<Position>,
    ) -> Option<Position> {
        self.sources.lvs_routing.as_ref().and_then(at)
    }

    /// The clustertab's node numbers, and the same as a list for messages ("1, 2, 3").
    pub fn known_nodes(&self) -> (BTreeSet<NodeId>, String) {
        let known: BTreeSet<NodeId> = self.config.clustertab.nodes.iter().map(|n| n.num).collect();
        let list = known
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", ");
        (known, list)
    }

    /// Records a problem in `file` at `position`, with what was expected.
    pub fn error(
        &mut self,
        file: File,
        position: Option<Position>,
        field: &str,
        message: String,
        expected: String,
    ) {
        let d = Diagnostic::new(self.file(file), position, field, message).expected(expected);
        self.diagnostics.push(d);
    }
}

/// " (line N)" when the position is known, for messages that refer to an earlier definition.
pub(crate) fn on_line(position: Option<Position>) -> String {
    position.map_or_else(String::new, |p| format!(" on line {}", p.line))
}

/// `<routing>` and `LVS_ROUTING` must agree; NAT needs `LVS_INTERNAL_GW`.
fn check_routing(check: &mut Check<'_>) {
    let in_conf = check.config.cvip_conf.routing;
    let lvs = check.config.lvs_routing.as_ref();
    let in_lvs = lvs.and_then(|l| l.routing);
    let conf_at = check.in_cvip_conf(|s| s.routing);
    let lvs_at = check.in_lvs_routing(|s| s.routing);
    if let (Some(a), Some(b)) = (in_conf, in_lvs)
        && a != b
    {
        let lvs_file = check.file(File::LvsRouting).to_owned();
        check.error(
            File::CvipConf,
            conf_at,
            "<routing>",
            format!(
                "<routing> is {a} but {lvs_file} sets LVS_ROUTING={b}{}",
                on_line(lvs_at)
            ),
            "the same routing mode in both files (or set it in only one)".into(),
        );
        return;
    }
    if in_conf.or(in_lvs) != Some(Routing::Nat) || lvs.and_then(|l| l.internal_gw).is_some() {
        return;
    }
    let lvs_file = check.file(File::LvsRouting).to_owned();
    let message =
        format!("NAT routing needs an internal gateway, but {lvs_file} sets no LVS_INTERNAL_GW");
    let expected = format!("LVS_INTERNAL_GW=<ip> in {lvs_file}");
    if in_conf.is_some() {
        check.error(File::CvipConf, conf_at, "<routing>", message, expected);
    } else {
        check.error(File::LvsRouting, lvs_at, "LVS_ROUTING", message, expected);
    }
}

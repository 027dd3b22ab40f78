//! OpenSSI configuration files: `clustertab`, `cvip.conf`, `lvs_routing`.
//!
//! Parsing keeps the model ([`model`]) free of positions, so it can be replicated as is; where each
//! value was written is returned beside it ([`spans`]) and used by [`ClusterConfig::validate_with_sources`]
//! to point diagnostics at the right line and column. Each file can be written back, and parsing
//! what was written gives the same model.

mod clustertab;
mod cvip_parse;
mod cvip_write;
mod diag;
mod load;
mod lvs_routing;
pub mod model;
mod query;
pub mod spans;
mod validate;
mod xml_tree;

pub use clustertab::{parse_clustertab, parse_clustertab_with_spans, to_clustertab_string};
pub use cvip_parse::{parse_cvip_conf, parse_cvip_conf_with_spans};
pub use cvip_write::to_cvip_conf_string;
pub use diag::{Diagnostic, Diagnostics, Position};
pub use load::{ConfigPaths, LoadedConfig};
pub use lvs_routing::{parse_lvs_routing, parse_lvs_routing_with_spans, to_lvs_routing_string};
pub use model::*;
pub use spans::SourceMap;
pub use validate::{cvip_address_problem, gateway_address_problem, interface_name_problem};

pub const DEFAULT_CLUSTERTAB_PATH: &str = "/etc/clustertab";
pub const DEFAULT_CVIP_CONF_PATH: &str = "/etc/cvip.conf";
pub const DEFAULT_LVS_ROUTING_PATH: &str = "/etc/default/lvs_routing";

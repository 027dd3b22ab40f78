//! `cvipctl config export`: the replicated configuration written back as OpenSSI files.

use ssinet_config::{
    ClusterConfig, to_clustertab_string, to_cvip_conf_string, to_lvs_routing_string,
};

/// The text of each file, as ssinet-config's writers produce it (parsing it gives the same
/// configuration back).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportedFiles {
    pub clustertab: String,
    pub cvip_conf: String,
    /// Only when the configuration has an lvs_routing part (NAT clusters, usually).
    pub lvs_routing: Option<String>,
}

impl ExportedFiles {
    pub fn from_config(config: &ClusterConfig) -> Self {
        Self {
            clustertab: to_clustertab_string(&config.clustertab),
            cvip_conf: to_cvip_conf_string(&config.cvip_conf),
            lvs_routing: config.lvs_routing.as_ref().map(to_lvs_routing_string),
        }
    }
}

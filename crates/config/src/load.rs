//! Reading the files from disk. A file that cannot be read is a diagnostic like any other, so
//! `cvipctl config check` reports it beside the problems in the other files.

use std::path::{Path, PathBuf};

use crate::diag::{Diagnostic, Diagnostics};
use crate::model::{ClusterConfig, Clustertab, CvipConf, LvsRouting};
use crate::spans::SourceMap;
use crate::{
    DEFAULT_CLUSTERTAB_PATH, DEFAULT_CVIP_CONF_PATH, DEFAULT_LVS_ROUTING_PATH,
    parse_clustertab_with_spans, parse_cvip_conf_with_spans, parse_lvs_routing_with_spans,
};

/// Where the three files are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigPaths {
    pub clustertab: PathBuf,
    pub cvip_conf: PathBuf,
    pub lvs_routing: PathBuf,
    /// When false, a missing lvs_routing file means "not used" (OpenSSI's DR clusters lack it).
    pub lvs_routing_required: bool,
}

impl Default for ConfigPaths {
    fn default() -> Self {
        Self {
            clustertab: DEFAULT_CLUSTERTAB_PATH.into(),
            cvip_conf: DEFAULT_CVIP_CONF_PATH.into(),
            lvs_routing: DEFAULT_LVS_ROUTING_PATH.into(),
            lvs_routing_required: false,
        }
    }
}

/// A validated configuration and where each of its values was written.
#[derive(Debug, Clone)]
pub struct LoadedConfig {
    pub config: ClusterConfig,
    pub sources: SourceMap,
}

fn read(path: &Path) -> Result<String, Diagnostic> {
    std::fs::read_to_string(path).map_err(|e| {
        Diagnostic::new(
            path.display().to_string(),
            None,
            "file",
            format!("cannot read it: {e}"),
        )
        .expected("a readable UTF-8 text file")
    })
}

impl Clustertab {
    pub fn load(path: &Path) -> Result<Self, Diagnostics> {
        crate::parse_clustertab(&read(path)?, &path.display().to_string())
    }
}

impl CvipConf {
    pub fn load(path: &Path) -> Result<Self, Diagnostics> {
        crate::parse_cvip_conf(&read(path)?, &path.display().to_string())
    }
}

impl LvsRouting {
    pub fn load(path: &Path) -> Result<Self, Diagnostics> {
        crate::parse_lvs_routing(&read(path)?, &path.display().to_string())
    }
}

impl ClusterConfig {
    /// Reads, parses and validates all files; every problem in every file is reported at once.
    pub fn load(paths: &ConfigPaths) -> Result<LoadedConfig, Diagnostics> {
        let mut diagnostics = Diagnostics::default();
        let mut sources = SourceMap::default();
        let name = |p: &Path| p.display().to_string();
        let clustertab = read(&paths.clustertab)
            .map_err(Diagnostics::from)
            .and_then(|text| parse_clustertab_with_spans(&text, &name(&paths.clustertab)));
        let cvip_conf = read(&paths.cvip_conf)
            .map_err(Diagnostics::from)
            .and_then(|text| parse_cvip_conf_with_spans(&text, &name(&paths.cvip_conf)));
        let lvs_routing = match std::fs::exists(&paths.lvs_routing) {
            Ok(false) if !paths.lvs_routing_required => Ok(None),
            _ => read(&paths.lvs_routing)
                .map_err(Diagnostics::from)
                .and_then(|text| parse_lvs_routing_with_spans(&text, &name(&paths.lvs_routing)))
                .map(Some),
        };
        let clustertab = clustertab
            .map(|(value, spans)| {
                sources.clustertab = Some(spans);
                value
            })
            .map_err(|e| diagnostics.extend(e));
        let cvip_conf = cvip_conf
            .map(|(value, spans)| {
                sources.cvip_conf = Some(spans);
                value
            })
            .map_err(|e| diagnostics.extend(e));
        let lvs_routing = lvs_routing
            .map(|parsed| {
                parsed.map(|(value, spans)| {
                    sources.lvs_routing = Some(spans);
                    value
                })
            })
            .map_err(|e| diagnostics.extend(e));
        let (Ok(clustertab), Ok(cvip_conf), Ok(lvs_routing)) = (clustertab, cvip_conf, lvs_routing)
        else {
            diagnostics.sort();
            return Err(diagnostics);
        };
        let config = ClusterConfig {
            clustertab,
            cvip_conf,
            lvs_routing,
        };
        config.validate_with_sources(&sources)?;
        Ok(LoadedConfig { config, sources })
    }
}

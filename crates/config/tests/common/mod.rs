//! Shared helpers: small valid files to mutate, and a way to name a position by the text there.
#![allow(dead_code, clippy::unwrap_used)]

use ssinet_config::{
    ClusterConfig, Diagnostic, Diagnostics, SourceMap, parse_clustertab_with_spans,
    parse_cvip_conf_with_spans, parse_lvs_routing_with_spans,
};

pub const CLUSTERTAB: &str = "\
# test cluster
1 10.0.0.1 52:54:00:00:00:01 P 1 /dev/sda1
2 10.0.0.2 52:54:00:00:00:02 P 1 /dev/sda1
3 10.0.0.3 52:54:00:00:00:03 P 0
";

pub const CVIP_CONF: &str = "\
<cvips>
<cvip>
<ip_addr>192.168.200.10</ip_addr>
<director_node><node_num>1</node_num><garp_interface>eth1</garp_interface></director_node>
<director_node><node_num>2</node_num><garp_interface>eth1</garp_interface></director_node>
<real_server_node><node_num>3</node_num></real_server_node>
</cvip>
<!--EXTRA-->
</cvips>
";

/// `CVIP_CONF` with `extra` where the placeholder comment is.
pub fn cvip_conf_with(extra: &str) -> String {
    CVIP_CONF.replace("<!--EXTRA-->", extra)
}

/// (line, column) of the `nth` (0-based) occurrence of `needle` plus `skip` characters.
pub fn locate(text: &str, needle: &str, nth: usize, skip: usize) -> (u32, u32) {
    let offset = text
        .match_indices(needle)
        .nth(nth)
        .unwrap_or_else(|| panic!("{needle:?} not found {nth} times"))
        .0
        + skip;
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().unwrap().chars().count() + 1;
    (u32::try_from(line).unwrap(), u32::try_from(column).unwrap())
}

pub fn at(d: &Diagnostic) -> (u32, u32) {
    (d.line.unwrap(), d.column.unwrap())
}

/// Parses all files (which must parse) and validates them; returns what validation found.
pub fn validate(clustertab: &str, cvip_conf: &str, lvs_routing: Option<&str>) -> Diagnostics {
    let (tab, tab_spans) = parse_clustertab_with_spans(clustertab, "ct").unwrap();
    let (conf, conf_spans) = parse_cvip_conf_with_spans(cvip_conf, "cv").unwrap();
    let lvs = lvs_routing.map(|text| parse_lvs_routing_with_spans(text, "lvs").unwrap());
    let config = ClusterConfig {
        clustertab: tab,
        cvip_conf: conf,
        lvs_routing: lvs.as_ref().map(|l| l.0.clone()),
    };
    let sources = SourceMap {
        clustertab: Some(tab_spans),
        cvip_conf: Some(conf_spans),
        lvs_routing: lvs.map(|l| l.1),
    };
    match config.validate_with_sources(&sources) {
        Ok(()) => Diagnostics::default(),
        Err(d) => d,
    }
}

/// The single diagnostic, failing with all of them otherwise.
pub fn only(diagnostics: &Diagnostics) -> &Diagnostic {
    assert_eq!(
        diagnostics.len(),
        1,
        "expected one problem, got:\n{diagnostics}"
    );
    &diagnostics.0[0]
}

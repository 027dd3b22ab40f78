//! Three files in one input, split at NUL bytes: whatever parses is validated, which never
//! panics and gives the same answer twice (the Raft state machine relies on determinism).
#![no_main]

use libfuzzer_sys::fuzz_target;
use ssinet_config::{
    ClusterConfig, SourceMap, parse_clustertab_with_spans, parse_cvip_conf_with_spans,
    parse_lvs_routing_with_spans,
};

fuzz_target!(|text: &str| {
    let mut parts = text.splitn(3, '\0');
    let (tab, conf, lvs) = (
        parts.next().unwrap_or_default(),
        parts.next().unwrap_or_default(),
        parts.next(),
    );
    let Ok((clustertab, tab_spans)) = parse_clustertab_with_spans(tab, "ct") else {
        return;
    };
    let Ok((cvip_conf, conf_spans)) = parse_cvip_conf_with_spans(conf, "cv") else {
        return;
    };
    let lvs = match lvs.map(|l| parse_lvs_routing_with_spans(l, "lvs")) {
        None => None,
        Some(Ok(parsed)) => Some(parsed),
        Some(Err(_)) => return,
    };
    let config = ClusterConfig {
        clustertab,
        cvip_conf,
        lvs_routing: lvs.as_ref().map(|l| l.0.clone()),
    };
    let sources = SourceMap {
        clustertab: Some(tab_spans),
        cvip_conf: Some(conf_spans),
        lvs_routing: lvs.map(|l| l.1),
    };
    let with_spans = config.validate_with_sources(&sources);
    assert_eq!(with_spans, config.validate_with_sources(&sources));
    // Without spans the same problems are found, only without positions.
    let without = config.validate();
    assert_eq!(with_spans.is_ok(), without.is_ok());
    if let (Err(a), Err(b)) = (&with_spans, &without) {
        assert_eq!(a.len(), b.len());
    }
});

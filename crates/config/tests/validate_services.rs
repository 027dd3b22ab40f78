//! One test per validation rule (port weight, scheduler, persistence and health-check rules): each asserts the file, line, column and message an operator
//! would read.
#![allow(clippy::unwrap_used)]

mod common;

use common::{CLUSTERTAB, CVIP_CONF, at, cvip_conf_with, locate, only, validate};

fn port_weight(proto: &str, start: u32, end: u32, weight: u64, node: Option<u32>) -> String {
    let node = node.map_or(String::new(), |n| format!("<node_num>{n}</node_num>"));
    format!(
        "<port_weight><proto>{proto}</proto><start_port>{start}</start_port>\
         <end_port>{end}</end_port><weight>{weight}</weight>{node}</port_weight>\n"
    )
}

#[test]
fn port_zero_is_refused() {
    let cv = cvip_conf_with(&port_weight("tcp", 0, 80, 1, None));
    let d = validate(CLUSTERTAB, &cv, None);
    let d = only(&d);
    assert_eq!(at(d), locate(&cv, "<start_port>0", 0, 12));
    assert_eq!(d.field, "<port_weight>/<start_port>");
    assert_eq!(d.message, "port 0 cannot be load-balanced");
    assert_eq!(d.expected.as_deref(), Some("a port number 1-65535"));
}

#[test]
fn start_port_not_above_end_port() {
    let cv = cvip_conf_with(&port_weight("tcp", 90, 80, 1, None));
    let d = validate(CLUSTERTAB, &cv, None);
    let d = only(&d);
    assert_eq!(at(d), locate(&cv, "90", 0, 0));
    assert_eq!(d.message, "start port 90 is above end port 80");
}

#[test]
fn default_ranges_do_not_overlap_per_protocol() {
    let extra = port_weight("tcp", 80, 90, 1, None)
        + &port_weight("udp", 80, 90, 1, None)
        + &port_weight("tcp", 85, 100, 1, None)
        + &port_weight("tcp", 80, 90, 5, Some(3));
    let cv = cvip_conf_with(&extra);
    let d = validate(CLUSTERTAB, &cv, None);
    let d = only(&d);
    assert_eq!(at(d), (10, 1));
    assert_eq!(d.field, "<port_weight>");
    assert_eq!(
        d.message,
        "tcp ports 85-100 overlap tcp ports 80-90 on line 8 (both are default ranges)"
    );
}

#[test]
fn one_nodes_overrides_do_not_overlap() {
    let extra = port_weight("tcp", 80, 90, 1, Some(3))
        + &port_weight("tcp", 80, 90, 1, Some(2))
        + &port_weight("tcp", 90, 95, 1, Some(3));
    let cv = cvip_conf_with(&extra);
    let d = validate(CLUSTERTAB, &cv, None);
    let d = only(&d);
    assert_eq!(at(d), (10, 1));
    assert_eq!(
        d.message,
        "tcp ports 90-95 overlap tcp ports 80-90 on line 8 (both are overrides for node 3)"
    );
}

#[test]
fn weight_within_ipvs_range() {
    let cv = cvip_conf_with(&port_weight("tcp", 80, 80, 2_147_483_648, None));
    let d = validate(CLUSTERTAB, &cv, None);
    let d = only(&d);
    assert_eq!(at(d), locate(&cv, "2147483648", 0, 0));
    assert_eq!(d.message, "weight 2147483648 is above what IPVS accepts");
    assert!(
        validate(
            CLUSTERTAB,
            &cvip_conf_with(&port_weight("tcp", 80, 80, 2_147_483_647, None)),
            None
        )
        .is_empty()
    );
    assert!(
        validate(
            CLUSTERTAB,
            &cvip_conf_with(&port_weight("tcp", 80, 80, 0, None)),
            None
        )
        .is_empty()
    );
}

#[test]
fn port_weight_node_must_be_in_clustertab() {
    let cv = cvip_conf_with(&port_weight("udp", 53, 53, 1, Some(7)));
    let d = validate(CLUSTERTAB, &cv, None);
    let d = only(&d);
    assert_eq!(at(d), locate(&cv, "<node_num>7", 0, 10));
    assert_eq!(d.field, "<port_weight>/<node_num>");
    assert_eq!(d.message, "node 7 is not in ct");
}

#[test]
fn scheduler_flags_fit_the_scheduler() {
    let cv = cvip_conf_with(
        "<scheduler>sh</scheduler><scheduler_flag>sh-port</scheduler_flag>\
         <scheduler_flag>mh-port</scheduler_flag><scheduler_flag>sh-port</scheduler_flag>",
    );
    let d = validate(CLUSTERTAB, &cv, None);
    assert_eq!(d.len(), 2, "{d}");
    assert_eq!(at(&d.0[0]), locate(&cv, "mh-port", 0, 0));
    assert_eq!(
        d.0[0].message,
        "flag mh-port belongs to the mh scheduler, not sh"
    );
    assert_eq!(
        d.0[0].expected.as_deref(),
        Some("one of: sh-fallback, sh-port")
    );
    assert_eq!(at(&d.0[1]), locate(&cv, "sh-port", 1, 0));
    assert_eq!(d.0[1].message, "flag sh-port is given twice");
}

#[test]
fn persistence_has_a_timeout_and_a_fitting_netmask() {
    let cv = CVIP_CONF.replace(
        "</real_server_node>\n</cvip>",
        "</real_server_node>\n<persistence><timeout>0</timeout><netmask>48</netmask></persistence></cvip>",
    );
    let d = validate(CLUSTERTAB, &cv, None);
    assert_eq!(d.len(), 2, "{d}");
    assert_eq!(at(&d.0[0]), locate(&cv, "<timeout>0", 0, 9));
    assert_eq!(d.0[0].field, "<cvip>/<persistence>/<timeout>");
    assert_eq!(
        d.0[0].message,
        "a persistence timeout of 0 seconds keeps no affinity"
    );
    assert_eq!(at(&d.0[1]), locate(&cv, "48", 0, 0));
    assert_eq!(
        d.0[1].message,
        "prefix length 48 is longer than an IPv4 address"
    );
}

#[test]
fn health_check_values_are_usable() {
    let cv = cvip_conf_with(
        "<health_check>\n<interval_ms>100</interval_ms>\n<timeout_ms>200</timeout_ms>\n<failures>0</failures>\n</health_check>",
    );
    let d = validate(CLUSTERTAB, &cv, None);
    assert_eq!(d.len(), 2, "{d}");
    assert_eq!(at(&d.0[0]), (10, 13));
    assert_eq!(d.0[0].field, "<health_check>/<timeout_ms>");
    assert_eq!(
        d.0[0].message,
        "timeout 200 ms is longer than the interval 100 ms"
    );
    assert_eq!(at(&d.0[1]), (11, 11));
    assert_eq!(
        d.0[1].message,
        "0 failures before drain would drain healthy nodes"
    );
}

#[test]
fn all_problems_are_reported_at_once() {
    let tab = CLUSTERTAB.replace("52:54:00:00:00:03", "52:54:00:00:00:01");
    let cv = CVIP_CONF
        .replace("<node_num>2</node_num>", "<node_num>9</node_num>")
        .replace("<!--EXTRA-->", &port_weight("tcp", 0, 10, 1, None));
    let d = validate(&tab, &cv, Some("LVS_ROUTING=NAT\n"));
    let files: Vec<&str> = d.iter().map(|d| d.file.as_str()).collect();
    assert_eq!(files, ["ct", "cv", "cv", "lvs"], "{d}");
}

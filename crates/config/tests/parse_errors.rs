//! Syntax problems in each file: every one named with file, line, column, field and expectation,
//! and all of a file's problems reported together.
#![allow(clippy::unwrap_used)]

mod common;

use common::{CVIP_CONF, at, cvip_conf_with, locate, only};
use ssinet_config::{parse_clustertab, parse_cvip_conf, parse_lvs_routing};

#[test]
fn clustertab_reports_each_bad_field_at_its_column() {
    let text = "1 10.0.0.1 52:54:00:00:00:01 P 1 /dev/sda1\n\
                2 10.0.0.300 52:54:00:00:00 X 2\n";
    let d = parse_clustertab(text, "/etc/clustertab").unwrap_err();
    let fields: Vec<(&str, (u32, u32))> = d.iter().map(|d| (d.field.as_str(), at(d))).collect();
    assert_eq!(
        fields,
        [
            ("interconnect IP", (2, 3)),
            ("MAC address", (2, 14)),
            ("boot protocol", (2, 29)),
            ("init-capable flag", (2, 31)),
        ]
    );
    assert_eq!(
        d.0[1].to_string(),
        "/etc/clustertab:2:14: error in MAC address: invalid value \"52:54:00:00:00\" \
         (expected a MAC address like 52:54:00:12:34:56)"
    );
}

#[test]
fn clustertab_short_and_long_lines() {
    let d = parse_clustertab(
        "1 10.0.0.1 52:54:00:00:00:01\n2 10.0.0.2 52:54:00:00:00:02 P 0 /dev/x extra # c\n",
        "ct",
    )
    .unwrap_err();
    assert_eq!(d.len(), 2, "{d}");
    assert_eq!(at(&d.0[0]), (1, 29));
    assert_eq!(d.0[0].field, "boot protocol");
    assert_eq!(
        d.0[0].message,
        "line ends before the boot protocol (field 4)"
    );
    assert_eq!(at(&d.0[1]), (2, 41));
    assert_eq!(d.0[1].message, "unexpected 7th field \"extra\"");
}

#[test]
fn clustertab_accepts_ipv6_comments_and_mac_styles() {
    let tab = parse_clustertab(
        "  # c\n\n1\tfd00::1\t02-00-00-00-00-0A\tE\t0 # trailing\n",
        "ct",
    )
    .unwrap();
    assert_eq!(tab.nodes.len(), 1);
    assert_eq!(tab.nodes[0].ip.to_string(), "fd00::1");
    assert_eq!(tab.nodes[0].mac.to_string(), "02:00:00:00:00:0a");
}

#[test]
fn unknown_element_is_named_with_what_is_allowed() {
    let cv = CVIP_CONF.replace("real_server_node", "real_server");
    let d = parse_cvip_conf(&cv, "/etc/cvip.conf").unwrap_err();
    let d = only(&d);
    assert_eq!(
        d.to_string(),
        "/etc/cvip.conf:6:1: error in <cvip>: unknown element <real_server> (expected one of: \
         <ip_addr>, <gateway>, <director_node>, <real_server_node>, <scheduler>, \
         <scheduler_flag>, <persistence>)"
    );
}

#[test]
fn unknown_attribute_is_an_error() {
    let cv = CVIP_CONF.replace("<cvip>", "<cvip id=\"1\">");
    let d = parse_cvip_conf(&cv, "cv").unwrap_err();
    let d = only(&d);
    assert_eq!(at(d), (2, 1));
    assert_eq!(d.message, "unknown attribute \"id\" on <cvip>");
}

#[test]
fn every_problem_in_cvip_conf_at_once() {
    let cv = CVIP_CONF
        .replace("192.168.200.10", "192.168.200.300")
        .replace("<node_num>2</node_num>", "<node_num>two</node_num>")
        .replace("<!--EXTRA-->", "<routing>DR</routing>\n<routing>NAT</routing>\n<port_weight><proto>sctp</proto><start_port>70000</start_port></port_weight>");
    let d = parse_cvip_conf(&cv, "cv").unwrap_err();
    let got: Vec<(String, (u32, u32))> = d.iter().map(|d| (d.message.clone(), at(d))).collect();
    assert_eq!(
        got,
        [
            ("invalid value \"192.168.200.300\"".to_owned(), (3, 10)),
            ("invalid value \"two\"".to_owned(), (5, 26)),
            (
                "<routing> given more than once in <cvips>".to_owned(),
                (9, 1)
            ),
            ("<port_weight> has no <end_port>".to_owned(), (10, 1)),
            ("<port_weight> has no <weight>".to_owned(), (10, 1)),
            ("invalid value \"sctp\"".to_owned(), (10, 21)),
            ("invalid value \"70000\"".to_owned(), (10, 45)),
        ]
    );
    assert_eq!(d.0[6].expected.as_deref(), Some("a port number 1-65535"));
}

#[test]
fn missing_required_elements() {
    let d = parse_cvip_conf(
        "<cvips><cvip><director_node><node_num>1</node_num></director_node></cvip></cvips>",
        "cv",
    )
    .unwrap_err();
    let got: Vec<&str> = d.iter().map(|d| d.message.as_str()).collect();
    assert_eq!(
        got,
        [
            "<cvip> has no <ip_addr>",
            "<director_node> has no <garp_interface>"
        ]
    );
    assert_eq!(at(&d.0[1]), (1, 14));
}

#[test]
fn malformed_xml_points_at_the_break() {
    let d = parse_cvip_conf("<cvips>\n  <cvip>\n  </cvips>\n", "cv").unwrap_err();
    let d = only(&d);
    assert_eq!(d.field, "XML");
    assert_eq!(d.line, Some(3));
    assert!(d.message.starts_with("malformed XML"), "{d}");
    let d = parse_cvip_conf("<cvips>\n<cvip>\n", "cv").unwrap_err();
    assert_eq!(only(&d).message, "file ends inside <cvip>");
    let d = parse_cvip_conf("", "cv").unwrap_err();
    assert_eq!(only(&d).message, "no root element");
    let d = parse_cvip_conf("<cvips/><cvips/>", "cv").unwrap_err();
    assert_eq!(at(only(&d)), (1, 9));
}

#[test]
fn wrong_root_and_stray_text() {
    let d = parse_cvip_conf("<cvip></cvip>", "cv").unwrap_err();
    assert_eq!(only(&d).message, "root element is <cvip>");
    let d = parse_cvip_conf("<cvips>\n  hello <cvip/></cvips>", "cv").unwrap_err();
    let first = &d.0[0];
    assert_eq!(
        (first.message.as_str(), at(first)),
        ("unexpected text \"hello\"", (2, 3))
    );
    let d = parse_cvip_conf("<cvips><routing>DR<x/></routing></cvips>", "cv").unwrap_err();
    assert_eq!(only(&d).message, "unexpected element <x> inside <routing>");
}

#[test]
fn scheduler_flag_needs_a_scheduler_and_known_names() {
    let cv = cvip_conf_with("<scheduler_flag>mh-port</scheduler_flag>");
    let d = parse_cvip_conf(&cv, "cv").unwrap_err();
    assert_eq!(
        only(&d).message,
        "<scheduler_flag> without a <scheduler> beside it"
    );
    let cv = cvip_conf_with("<scheduler>maglev</scheduler>");
    let d = parse_cvip_conf(&cv, "cv").unwrap_err();
    let d = only(&d);
    assert_eq!(at(d), locate(&cv, "maglev", 0, 0));
    assert_eq!(
        d.expected.as_deref(),
        Some("one of: rr, wrr, lc, wlc, lblc, lblcr, dh, sh, sed, nq, fo, ovf, mh, twos")
    );
}

#[test]
fn entities_cdata_and_empty_elements() {
    let cv = CVIP_CONF
        .replace(">eth1<", "><![CDATA[eth1]]><")
        .replace("192.168.200.10", "192.168.200.&#49;0")
        .replace("<!--EXTRA-->", "<health_check/>");
    let conf = parse_cvip_conf(&cv, "cv").unwrap();
    assert_eq!(conf.cvips[0].ip.to_string(), "192.168.200.10");
    assert_eq!(conf.cvips[0].directors[0].garp_interface, "eth1");
    assert_eq!(conf.health, Some(ssinet_config::HealthCheck::default()));
    let d = parse_cvip_conf(&CVIP_CONF.replace("eth1", "&foo;"), "cv").unwrap_err();
    assert!(d.0[0].message.starts_with("unknown entity &foo;"), "{d}");
}

#[test]
fn lvs_routing_problems() {
    let text = "LVS_ROUTING=nat\nLVS_ROUTING=DR\nLVS_INTERNAL_GW=10.0.0\nfoo\nLVS_INTERNAL_GW=\"10.0.0.1\n";
    let d = parse_lvs_routing(text, "lvs").unwrap_err();
    let got: Vec<(String, (u32, u32))> = d.iter().map(|d| (d.message.clone(), at(d))).collect();
    assert_eq!(
        got,
        [
            (
                "LVS_ROUTING set again (first set on line 1)".to_owned(),
                (2, 1)
            ),
            ("invalid value \"10.0.0\"".to_owned(), (3, 17)),
            ("not an assignment: \"foo\"".to_owned(), (4, 1)),
            ("missing closing \"".to_owned(), (5, 17)),
        ]
    );
    let ok = parse_lvs_routing("LVS_ROUTING=nat\nLVS_INTERNAL_GW=\n", "lvs").unwrap();
    assert_eq!(ok.routing, Some(ssinet_config::Routing::Nat));
    assert_eq!(ok.internal_gw, None);
    let d = parse_lvs_routing("LVS_ROUTING=NAT extra\n", "lvs").unwrap_err();
    assert_eq!(
        only(&d).message,
        "unexpected text after the value: \"extra\""
    );
}

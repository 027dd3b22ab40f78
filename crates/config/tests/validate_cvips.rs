//! One test per validation rule (<cvip> and routing rules): each asserts the file, line, column and message an operator
//! would read.
#![allow(clippy::unwrap_used)]

mod common;

use common::{CLUSTERTAB, CVIP_CONF, at, cvip_conf_with, locate, only, validate};

#[test]
fn at_least_one_cvip() {
    let d = validate(
        CLUSTERTAB,
        "<?xml version=\"1.0\"?>\n<cvips><routing>DR</routing></cvips>",
        None,
    );
    let d = only(&d);
    assert_eq!((d.file.as_str(), at(d)), ("cv", (2, 1)));
    assert_eq!(d.message, "no <cvip> defined");
}

#[test]
fn cvips_are_unique() {
    let second = CVIP_CONF
        .split("<cvip>")
        .nth(1)
        .unwrap()
        .split("</cvip>")
        .next()
        .unwrap();
    let cv = cvip_conf_with(&format!("<cvip>{second}</cvip>"));
    let d = validate(CLUSTERTAB, &cv, None);
    let d = only(&d);
    assert_eq!(at(d), locate(&cv, "192.168.200.10", 1, 0));
    assert_eq!(d.field, "<cvip>/<ip_addr>");
    assert_eq!(
        d.message,
        "CVIP 192.168.200.10 is already defined on line 3"
    );
}

#[test]
fn cvip_is_not_a_node_address() {
    let cv = CVIP_CONF.replace("192.168.200.10", "10.0.0.3");
    let d = validate(CLUSTERTAB, &cv, None);
    let d = only(&d);
    assert_eq!(at(d), (3, 10));
    assert_eq!(
        d.message,
        "CVIP 10.0.0.3 is the interconnect address of node 3 in ct"
    );
}

#[test]
fn director_must_be_in_clustertab() {
    let cv = CVIP_CONF.replace("<node_num>2</node_num>", "<node_num>9</node_num>");
    let d = validate(CLUSTERTAB, &cv, None);
    let d = only(&d);
    assert_eq!(
        d.to_string(),
        "cv:5:26: error in <cvip>/<director_node>/<node_num>: node 9 is not in ct \
         (expected one of: 1, 2, 3)"
    );
}

#[test]
fn real_server_must_be_in_clustertab() {
    let cv = CVIP_CONF.replace("<node_num>3</node_num>", "<node_num>4</node_num>");
    let d = validate(CLUSTERTAB, &cv, None);
    let d = only(&d);
    assert_eq!(at(d), (6, 29));
    assert_eq!(d.field, "<cvip>/<real_server_node>/<node_num>");
    assert_eq!(d.message, "node 4 is not in ct");
}

#[test]
fn cvip_needs_a_director() {
    let cv = CVIP_CONF
        .lines()
        .filter(|l| !l.starts_with("<director_node>"))
        .collect::<Vec<_>>()
        .join("\n");
    let d = validate(CLUSTERTAB, &cv, None);
    let d = only(&d);
    assert_eq!(at(d), (2, 1));
    assert_eq!(d.message, "CVIP 192.168.200.10 has no <director_node>");
}

#[test]
fn director_and_real_server_listed_once() {
    let cv = CVIP_CONF.replace("<node_num>2</node_num>", "<node_num>1</node_num>").replace(
        "<real_server_node><node_num>3</node_num></real_server_node>",
        "<real_server_node><node_num>3</node_num></real_server_node><real_server_node><node_num>3</node_num></real_server_node>",
    );
    let d = validate(CLUSTERTAB, &cv, None);
    assert_eq!(d.len(), 2, "{d}");
    assert_eq!(at(&d.0[0]), (5, 26));
    assert_eq!(
        d.0[0].message,
        "node 1 is listed twice as a director of CVIP 192.168.200.10"
    );
    assert_eq!(at(&d.0[1]), locate(&cv, "<node_num>3", 1, 10));
    assert_eq!(
        d.0[1].message,
        "node 3 is listed twice as a real server of CVIP 192.168.200.10"
    );
}

#[test]
fn cvips_share_all_directors_or_none() {
    let partial = "<cvip><ip_addr>192.168.200.11</ip_addr>\
        <director_node><node_num>1</node_num><garp_interface>eth1</garp_interface></director_node></cvip>";
    let cv = cvip_conf_with(partial);
    let d = validate(CLUSTERTAB, &cv, None);
    let d = only(&d);
    assert_eq!(at(d), (8, 1));
    assert_eq!(d.field, "<cvip>/<director_node>");
    assert_eq!(
        d.message,
        "CVIP 192.168.200.11 has directors {1} but CVIP 192.168.200.10 on line 2 has {1, 2}: \
         they share some but not all"
    );
    // The same set, or a disjoint one, is fine.
    let same = partial.replace(
        "</cvip>",
        "<director_node><node_num>2</node_num><garp_interface>eth1</garp_interface></director_node></cvip>",
    );
    assert!(validate(CLUSTERTAB, &cvip_conf_with(&same), None).is_empty());
    let disjoint = partial.replace("<node_num>1</node_num>", "<node_num>3</node_num>");
    assert!(validate(CLUSTERTAB, &cvip_conf_with(&disjoint), None).is_empty());
}

#[test]
fn interface_names_follow_linux_rules() {
    let cv = CVIP_CONF
        .replacen("<garp_interface>eth1<", "<garp_interface>eth1:0<", 1)
        .replacen(
            "</garp_interface></director_node>\n<real",
            "</garp_interface><sync_interface>a-very-long-name0</sync_interface></director_node>\n<real",
            1,
        );
    let d = validate(CLUSTERTAB, &cv, None);
    assert_eq!(d.len(), 2, "{d}");
    assert_eq!(at(&d.0[0]), locate(&cv, "eth1:0", 0, 0));
    assert_eq!(d.0[0].field, "<cvip>/<director_node>/<garp_interface>");
    assert_eq!(
        d.0[0].message,
        "interface name \"eth1:0\" is not valid: it contains / or :"
    );
    assert_eq!(at(&d.0[1]), locate(&cv, "a-very-long", 0, 0));
    assert_eq!(
        d.0[1].message,
        "interface name \"a-very-long-name0\" is not valid: it is longer than 15 bytes"
    );
    let problem = ssinet_config::interface_name_problem;
    assert_eq!(problem("eth0"), None);
    assert_eq!(problem("123456789012345"), None);
    assert!(problem("").is_some());
    assert!(problem(".").is_some());
    assert!(problem("..").is_some());
    assert!(problem("a/b").is_some());
    assert!(problem("a b").is_some());
}

#[test]
fn gateway_is_of_the_cvip_family() {
    let cv = CVIP_CONF.replace("</ip_addr>", "</ip_addr><gateway>fd00::1</gateway>");
    let d = validate(CLUSTERTAB, &cv, None);
    let d = only(&d);
    assert_eq!(at(d), locate(&cv, "fd00::1", 0, 0));
    assert_eq!(
        d.message,
        "gateway fd00::1 is not of the same IP family as CVIP 192.168.200.10"
    );
}

#[test]
fn routing_in_both_files_must_agree() {
    let cv = cvip_conf_with("<routing>DR</routing>");
    let d = validate(
        CLUSTERTAB,
        &cv,
        Some("LVS_ROUTING=NAT\nLVS_INTERNAL_GW=10.0.0.254\n"),
    );
    let d = only(&d);
    assert_eq!((d.file.as_str(), at(d)), ("cv", (8, 10)));
    assert_eq!(
        d.message,
        "<routing> is DR but lvs sets LVS_ROUTING=NAT on line 1"
    );
}

#[test]
fn nat_needs_an_internal_gateway() {
    let cv = cvip_conf_with("<routing>NAT</routing>");
    let d = validate(CLUSTERTAB, &cv, None);
    let d = only(&d);
    assert_eq!((d.file.as_str(), at(d)), ("cv", (8, 10)));
    assert_eq!(
        d.to_string(),
        "cv:8:10: error in <routing>: NAT routing needs an internal gateway, but \
         /etc/default/lvs_routing sets no LVS_INTERNAL_GW (expected LVS_INTERNAL_GW=<ip> in \
         /etc/default/lvs_routing)"
    );
    // NAT from lvs_routing alone: the problem is in that file.
    let d = validate(CLUSTERTAB, CVIP_CONF, Some("# x\nLVS_ROUTING=NAT\n"));
    let d = only(&d);
    assert_eq!(
        (d.file.as_str(), at(d), d.field.as_str()),
        ("lvs", (2, 13), "LVS_ROUTING")
    );
    assert!(
        validate(
            CLUSTERTAB,
            CVIP_CONF,
            Some("LVS_ROUTING=NAT\nLVS_INTERNAL_GW=10.0.0.254\n")
        )
        .is_empty()
    );
}

#[test]
fn cvip_is_not_its_own_gateway() {
    let cv = CVIP_CONF.replace("</ip_addr>", "</ip_addr><gateway>192.168.200.10</gateway>");
    let d = validate(CLUSTERTAB, &cv, None);
    let d = only(&d);
    assert_eq!(
        d.to_string(),
        "cv:3:10: error in <cvip>/<ip_addr>: CVIP 192.168.200.10 is also its own <gateway> \
         (expected a <gateway> that is another host: the router the CVIP's replies go through)"
    );
}

#[test]
fn cvip_is_not_the_nat_internal_gateway() {
    let cv = cvip_conf_with("<routing>NAT</routing>");
    let lvs =
        "LVS_ROUTING=NAT\n# the director's interconnect address\nLVS_INTERNAL_GW=192.168.200.10;\n";
    let d = validate(CLUSTERTAB, &cv, Some(lvs));
    let d = only(&d);
    assert_eq!((d.file.as_str(), at(d)), ("cv", (3, 10)));
    assert_eq!(d.field, "<cvip>/<ip_addr>");
    assert_eq!(
        d.message,
        "CVIP 192.168.200.10 is the NAT internal gateway (LVS_INTERNAL_GW in lvs on line 3)"
    );
    assert_eq!(
        d.expected.as_deref(),
        Some("a CVIP other than LVS_INTERNAL_GW, which the director holds on the interconnect")
    );
}

#[test]
fn cvip_is_an_address_clients_can_reach() {
    for (addr, problem) in [
        ("0.0.0.0", "the unspecified address (0.0.0.0 or ::)"),
        ("127.0.0.1", "a loopback address (127.0.0.0/8 or ::1)"),
        ("::1", "a loopback address (127.0.0.0/8 or ::1)"),
        (
            "224.0.0.18",
            "a multicast address (224.0.0.0/4 or ff00::/8)",
        ),
        (
            "169.254.0.10",
            "a link-local address (169.254.0.0/16 or fe80::/10)",
        ),
        (
            "fe80::10",
            "a link-local address (169.254.0.0/16 or fe80::/10)",
        ),
        (
            "255.255.255.255",
            "the IPv4 broadcast address 255.255.255.255",
        ),
    ] {
        let cv = CVIP_CONF.replace("192.168.200.10", addr);
        let d = validate(CLUSTERTAB, &cv, None);
        let d = only(&d);
        assert_eq!(
            d.to_string(),
            format!(
                "cv:3:10: error in <cvip>/<ip_addr>: CVIP {addr} is {problem} (expected a \
                 unicast address clients can reach: not unspecified (0.0.0.0, ::), loopback, \
                 multicast, link-local or 255.255.255.255)"
            )
        );
    }
    let problem = ssinet_config::cvip_address_problem;
    assert_eq!(problem("192.168.200.10".parse().unwrap()), None);
    assert_eq!(problem("fd00::10".parse().unwrap()), None);
}

#[test]
fn gateway_is_a_unicast_address() {
    for (addr, problem) in [
        ("0.0.0.0", "the unspecified address (0.0.0.0 or ::)"),
        ("127.0.0.1", "a loopback address (127.0.0.0/8 or ::1)"),
        ("239.1.1.1", "a multicast address (224.0.0.0/4 or ff00::/8)"),
        (
            "255.255.255.255",
            "the IPv4 broadcast address 255.255.255.255",
        ),
    ] {
        let cv = CVIP_CONF.replace(
            "</ip_addr>",
            &format!("</ip_addr><gateway>{addr}</gateway>"),
        );
        let d = validate(CLUSTERTAB, &cv, None);
        let d = only(&d);
        assert_eq!(at(d), locate(&cv, "<gateway>", 0, 9));
        assert_eq!(d.field, "<cvip>/<gateway>");
        assert_eq!(
            d.message,
            format!("gateway {addr} of CVIP 192.168.200.10 is {problem}")
        );
        assert_eq!(
            d.expected.as_deref(),
            Some(
                "a router's unicast address: not unspecified (0.0.0.0, ::), loopback, multicast \
                 or 255.255.255.255"
            )
        );
    }
    // A link-local gateway is how IPv6 routers are usually reached; a subnet's own gateway is fine.
    let v6 = "<cvip><ip_addr>2001:db8::10</ip_addr><gateway>fe80::1</gateway>\
        <director_node><node_num>1</node_num><garp_interface>eth1</garp_interface></director_node>\
        <director_node><node_num>2</node_num><garp_interface>eth1</garp_interface></director_node></cvip>";
    assert!(validate(CLUSTERTAB, &cvip_conf_with(v6), None).is_empty());
    let cv = CVIP_CONF.replace("</ip_addr>", "</ip_addr><gateway>192.168.200.1</gateway>");
    assert!(validate(CLUSTERTAB, &cv, None).is_empty());
}

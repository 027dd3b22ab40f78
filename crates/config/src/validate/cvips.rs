//! `<cvip>` rules: at least one CVIP, each unique, a unicast address clients can reach and not a
//! node's own address, its gateway or the NAT internal gateway; directors and real servers exist in
//! clustertab and are listed once, several CVIPs share all directors or none, interface names are
//! valid.

use std::collections::{BTreeSet, HashMap};
use std::net::IpAddr;

use super::{Check, File, on_line};
use crate::model::NodeId;
use crate::spans::CvipSpans;

pub(super) fn check(check: &mut Check<'_>) {
    let config = check.config;
    let conf = &config.cvip_conf;
    if conf.cvips.is_empty() {
        let at = check.in_cvip_conf(|s| s.root);
        check.error(
            File::CvipConf,
            at,
            "<cvips>",
            "no <cvip> defined".into(),
            "at least one <cvip> with an <ip_addr> and a <director_node>".into(),
        );
    }
    let node_of_ip: HashMap<_, _> = config
        .clustertab
        .nodes
        .iter()
        .map(|n| (n.ip, n.num))
        .collect();
    let internal_gw = config.lvs_routing.as_ref().and_then(|l| l.internal_gw);
    let internal_gw_at = check.in_lvs_routing(|s| s.internal_gw);
    let mut seen_ips = HashMap::new();
    for (i, cvip) in conf.cvips.iter().enumerate() {
        let at = |f: fn(&CvipSpans) -> Option<crate::diag::Position>| {
            check.in_cvip_conf(|s| s.cvips.get(i).and_then(f))
        };
        let (element_at, ip_at, gateway_at) = (
            at(|c| Some(c.element)),
            at(|c| Some(c.ip_addr)),
            at(|c| c.gateway),
        );
        if let Some(first_at) = seen_ips.get(&cvip.ip) {
            check.error(
                File::CvipConf,
                ip_at,
                "<cvip>/<ip_addr>",
                format!("CVIP {} is already defined{}", cvip.ip, on_line(*first_at)),
                "each CVIP once".into(),
            );
        } else {
            seen_ips.insert(cvip.ip, ip_at);
        }
        if let Some(owner) = node_of_ip.get(&cvip.ip) {
            let clustertab = check.file(File::Clustertab).to_owned();
            check.error(
                File::CvipConf,
                ip_at,
                "<cvip>/<ip_addr>",
                format!(
                    "CVIP {} is the interconnect address of node {owner} in {clustertab}",
                    cvip.ip
                ),
                "an address no node uses as its own".into(),
            );
        }
        if let Some(problem) = cvip_address_problem(cvip.ip) {
            check.error(
                File::CvipConf,
                ip_at,
                "<cvip>/<ip_addr>",
                format!("CVIP {} is {problem}", cvip.ip),
                "a unicast address clients can reach: not unspecified (0.0.0.0, ::), loopback, \
                 multicast, link-local or 255.255.255.255"
                    .into(),
            );
        }
        if cvip.gateway == Some(cvip.ip) {
            check.error(
                File::CvipConf,
                ip_at,
                "<cvip>/<ip_addr>",
                format!("CVIP {} is also its own <gateway>", cvip.ip),
                "a <gateway> that is another host: the router the CVIP's replies go through".into(),
            );
        }
        if internal_gw == Some(cvip.ip) {
            let lvs_file = check.file(File::LvsRouting).to_owned();
            check.error(
                File::CvipConf,
                ip_at,
                "<cvip>/<ip_addr>",
                format!(
                    "CVIP {} is the NAT internal gateway (LVS_INTERNAL_GW in {lvs_file}{})",
                    cvip.ip,
                    on_line(internal_gw_at)
                ),
                "a CVIP other than LVS_INTERNAL_GW, which the director holds on the interconnect"
                    .into(),
            );
        }
        if let Some(gateway) = cvip.gateway
            && let Some(problem) = gateway_address_problem(gateway)
        {
            check.error(
                File::CvipConf,
                gateway_at,
                "<cvip>/<gateway>",
                format!("gateway {gateway} of CVIP {} is {problem}", cvip.ip),
                "a router's unicast address: not unspecified (0.0.0.0, ::), loopback, multicast \
                 or 255.255.255.255"
                    .into(),
            );
        }
        if let Some(gateway) = cvip.gateway
            && gateway.is_ipv4() != cvip.ip.is_ipv4()
        {
            check.error(
                File::CvipConf,
                gateway_at,
                "<cvip>/<gateway>",
                format!(
                    "gateway {gateway} is not of the same IP family as CVIP {}",
                    cvip.ip
                ),
                format!("an IPv{} address", if cvip.ip.is_ipv4() { 4 } else { 6 }),
            );
        }
        if cvip.directors.is_empty() {
            check.error(
                File::CvipConf,
                element_at,
                "<cvip>",
                format!("CVIP {} has no <director_node>", cvip.ip),
                "at least one <director_node> with <node_num> and <garp_interface>".into(),
            );
        }
        check_members(check, i);
    }
    check_director_sets(check);
}

/// Directors and real servers of CVIP `i`: known nodes, each listed once, valid interfaces.
fn check_members(check: &mut Check<'_>, i: usize) {
    let config = check.config;
    let cvip = &config.cvip_conf.cvips[i];
    let (known, known_list) = check.known_nodes();
    let clustertab = check.file(File::Clustertab).to_owned();
    let mut seen = BTreeSet::new();
    for (j, director) in cvip.directors.iter().enumerate() {
        let spans = check
            .sources
            .cvip_conf
            .as_ref()
            .and_then(|s| s.cvips.get(i))
            .and_then(|c| c.directors.get(j));
        let (num_at, garp_at, sync_at) = (
            spans.map(|d| d.node_num),
            spans.map(|d| d.garp_interface),
            spans.and_then(|d| d.sync_interface),
        );
        const FIELD: &str = "<cvip>/<director_node>/<node_num>";
        if !known.contains(&director.node) {
            check.error(
                File::CvipConf,
                num_at,
                FIELD,
                format!("node {} is not in {clustertab}", director.node),
                format!("one of: {known_list}"),
            );
        }
        if !seen.insert(director.node) {
            check.error(
                File::CvipConf,
                num_at,
                FIELD,
                format!(
                    "node {} is listed twice as a director of CVIP {}",
                    director.node, cvip.ip
                ),
                "each director node once per <cvip>".into(),
            );
        }
        check_interface(
            check,
            garp_at,
            "<cvip>/<director_node>/<garp_interface>",
            &director.garp_interface,
        );
        if let Some(sync) = &director.sync_interface {
            check_interface(
                check,
                sync_at,
                "<cvip>/<director_node>/<sync_interface>",
                sync,
            );
        }
    }
    let mut seen = BTreeSet::new();
    for (j, node) in cvip.real_servers.iter().enumerate() {
        let at =
            check.in_cvip_conf(|s| s.cvips.get(i).and_then(|c| c.real_servers.get(j).copied()));
        const FIELD: &str = "<cvip>/<real_server_node>/<node_num>";
        if !known.contains(node) {
            check.error(
                File::CvipConf,
                at,
                FIELD,
                format!("node {node} is not in {clustertab}"),
                format!("one of: {known_list}"),
            );
        }
        if !seen.insert(*node) {
            check.error(
                File::CvipConf,
                at,
                FIELD,
                format!(
                    "node {node} is listed twice as a real server of CVIP {}",
                    cvip.ip
                ),
                "each real server node once per <cvip>".into(),
            );
        }
    }
}

/// Why `ip` cannot be a CVIP, or `None`: clients reach a CVIP from outside, so it is not the
/// unspecified address, loopback, multicast, link-local (169.254.0.0/16, fe80::/10; the kernel
/// routes neither beyond the link and IPVS services on them are unreachable) nor the IPv4
/// limited broadcast. An IPv4-mapped IPv6 address is judged by the IPv4 address inside it.
pub fn cvip_address_problem(ip: IpAddr) -> Option<&'static str> {
    let ip = ip.to_canonical();
    if let Some(problem) = gateway_address_problem(ip) {
        return Some(problem);
    }
    let link_local = match ip {
        IpAddr::V4(v4) => v4.is_link_local(),
        IpAddr::V6(v6) => v6.is_unicast_link_local(),
    };
    link_local.then_some("a link-local address (169.254.0.0/16 or fe80::/10)")
}

/// Why `ip` cannot be a `<gateway>`, or `None`: a router's address is unicast, so not the
/// unspecified address, loopback, multicast nor the IPv4 limited broadcast. A link-local gateway
/// is fine (IPv6 routers are commonly reached at fe80::1).
pub fn gateway_address_problem(ip: IpAddr) -> Option<&'static str> {
    let ip = ip.to_canonical();
    if ip.is_unspecified() {
        Some("the unspecified address (0.0.0.0 or ::)")
    } else if ip.is_loopback() {
        Some("a loopback address (127.0.0.0/8 or ::1)")
    } else if ip.is_multicast() {
        Some("a multicast address (224.0.0.0/4 or ff00::/8)")
    } else if ip == IpAddr::V4(std::net::Ipv4Addr::BROADCAST) {
        Some("the IPv4 broadcast address 255.255.255.255")
    } else {
        None
    }
}

/// Linux `dev_valid_name`: 1-15 bytes, not `.` or `..`, no `/`, `:` or whitespace. Control
/// characters are refused too: XML cannot carry them.
pub fn interface_name_problem(name: &str) -> Option<&'static str> {
    if name.is_empty() {
        Some("it is empty")
    } else if name.len() > 15 {
        Some("it is longer than 15 bytes")
    } else if name == "." || name == ".." {
        Some("it is . or ..")
    } else if name.contains(['/', ':']) {
        Some("it contains / or :")
    } else if name.chars().any(char::is_whitespace) {
        Some("it contains whitespace")
    } else if name.chars().any(char::is_control) {
        Some("it contains a control character")
    } else {
        None
    }
}

fn check_interface(
    check: &mut Check<'_>,
    at: Option<crate::diag::Position>,
    field: &str,
    name: &str,
) {
    if let Some(problem) = interface_name_problem(name) {
        check.error(
            File::CvipConf,
            at,
            field,
            format!("interface name {name:?} is not valid: {problem}"),
            "a Linux interface name: 1-15 bytes, not . or .., without /, : or whitespace".into(),
        );
    }
}

/// OpenSSI: several CVIPs either share all their director nodes or none of them.
fn check_director_sets(check: &mut Check<'_>) {
    let cvips = &check.config.cvip_conf.cvips;
    let sets: Vec<BTreeSet<NodeId>> = cvips
        .iter()
        .map(|c| c.directors.iter().map(|d| d.node).collect())
        .collect();
    for (j, set) in sets.iter().enumerate() {
        let conflict = sets[..j]
            .iter()
            .position(|earlier| earlier != set && !earlier.is_disjoint(set));
        let Some(i) = conflict else { continue };
        let list = |s: &BTreeSet<NodeId>| {
            s.iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        };
        let first_at = check.in_cvip_conf(|s| s.cvips.get(i).map(|c| c.element));
        let at = check.in_cvip_conf(|s| s.cvips.get(j).map(|c| c.element));
        check.error(File::CvipConf,
            at,
            "<cvip>/<director_node>",
            format!(
                "CVIP {} has directors {{{}}} but CVIP {}{} has {{{}}}: they share some but not all",
                cvips[j].ip,
                list(set),
                cvips[i].ip,
                on_line(first_at),
                list(&sets[i]),
            ),
            format!(
                "OpenSSI's rule: the same director nodes as CVIP {}, or none of them",
                cvips[i].ip
            ),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn cvip_addresses_clients_cannot_reach_are_named() {
        for (addr, problem) in [
            ("0.0.0.0", "the unspecified address (0.0.0.0 or ::)"),
            ("::", "the unspecified address (0.0.0.0 or ::)"),
            ("127.0.0.1", "a loopback address (127.0.0.0/8 or ::1)"),
            ("127.255.0.9", "a loopback address (127.0.0.0/8 or ::1)"),
            ("::1", "a loopback address (127.0.0.0/8 or ::1)"),
            (
                "::ffff:127.0.0.1",
                "a loopback address (127.0.0.0/8 or ::1)",
            ),
            (
                "224.0.0.18",
                "a multicast address (224.0.0.0/4 or ff00::/8)",
            ),
            (
                "239.255.255.255",
                "a multicast address (224.0.0.0/4 or ff00::/8)",
            ),
            ("ff02::1", "a multicast address (224.0.0.0/4 or ff00::/8)"),
            (
                "169.254.1.1",
                "a link-local address (169.254.0.0/16 or fe80::/10)",
            ),
            (
                "fe80::1",
                "a link-local address (169.254.0.0/16 or fe80::/10)",
            ),
            (
                "febf::1",
                "a link-local address (169.254.0.0/16 or fe80::/10)",
            ),
            (
                "255.255.255.255",
                "the IPv4 broadcast address 255.255.255.255",
            ),
        ] {
            assert_eq!(cvip_address_problem(ip(addr)), Some(problem), "{addr}");
        }
        for addr in [
            "192.168.200.10",
            "203.0.113.10",
            "10.0.0.254",
            "1.1.1.1",
            "223.255.255.254",
            "169.253.255.255",
            "169.255.0.1",
            "192.168.200.255", // a subnet broadcast address is only known with a prefix length
            "fd00::10",
            "2001:db8::1",
            "fec0::1",
        ] {
            assert_eq!(cvip_address_problem(ip(addr)), None, "{addr}");
        }
    }

    #[test]
    fn a_gateway_may_be_link_local_but_not_the_rest() {
        assert_eq!(gateway_address_problem(ip("fe80::1")), None);
        assert_eq!(gateway_address_problem(ip("169.254.0.1")), None);
        assert_eq!(gateway_address_problem(ip("192.168.200.1")), None);
        for addr in [
            "0.0.0.0",
            "::",
            "127.0.0.1",
            "::1",
            "224.0.0.1",
            "ff02::2",
            "255.255.255.255",
        ] {
            assert!(gateway_address_problem(ip(addr)).is_some(), "{addr}");
        }
    }

    proptest! {
        /// The rules by address range, written independently of the standard library's predicates.
        #[test]
        fn ipv4_cvip_rules_follow_the_ranges(a in any::<u8>(), b in any::<u8>(), c in any::<u8>(), d in any::<u8>()) {
            let addr = IpAddr::from([a, b, c, d]);
            let refused = (a, b, c, d) == (0, 0, 0, 0)
                || a == 127
                || (224..=239).contains(&a)
                || (a, b) == (169, 254)
                || (a, b, c, d) == (255, 255, 255, 255);
            prop_assert_eq!(cvip_address_problem(addr).is_some(), refused, "{}", addr);
            // Every gateway problem is a CVIP problem too; link-local is the only difference.
            if gateway_address_problem(addr).is_some() {
                prop_assert_eq!(gateway_address_problem(addr), cvip_address_problem(addr));
            }
            // The IPv4-mapped IPv6 form is judged the same.
            let mapped = IpAddr::V6(std::net::Ipv4Addr::new(a, b, c, d).to_ipv6_mapped());
            prop_assert_eq!(cvip_address_problem(mapped), cvip_address_problem(addr));
        }

        #[test]
        fn ipv6_cvip_rules_follow_the_ranges(segments in any::<[u16; 8]>()) {
            let v6 = std::net::Ipv6Addr::from(segments);
            prop_assume!(v6.to_ipv4_mapped().is_none());
            let refused = segments == [0; 8]
                || segments == [0, 0, 0, 0, 0, 0, 0, 1]
                || segments[0] >> 8 == 0xff
                || segments[0] & 0xffc0 == 0xfe80;
            prop_assert_eq!(cvip_address_problem(IpAddr::V6(v6)).is_some(), refused, "{}", v6);
        }
    }
}

//! The OpenSSI files that describe a lab to ssinetd: `clustertab`, `cvip.conf`, `lvs_routing`.
//!
//! Written as plain text, in the formats OpenSSI used (plus ssinet's `<port_weight>` extension),
//! so the harness does not depend on the parser it is meant to test.
use super::spec::{LabSpec, Protocol, Routing, addressing};
use std::fmt::Write as _;

/// `clustertab`: `N <interconnect ip> <mac> P <init-capable> [/dev/sda1]`, one node a line.
/// Directors are the init-capable nodes.
pub fn clustertab(spec: &LabSpec) -> String {
    let mut text =
        String::from("# node  interconnect-ip  interconnect-mac  boot  init  boot-device\n");
    for node in 1..=spec.nodes {
        let ip = addressing::interconnect_ip(node);
        let mac = addressing::interconnect_mac(node);
        if spec.directors.contains(&node) {
            let _ = writeln!(text, "{node} {ip} {mac} P 1 /dev/sda1");
        } else {
            let _ = writeln!(text, "{node} {ip} {mac} P 0");
        }
    }
    text
}

/// `cvip.conf` in OpenSSI's XML: one CVIP, the directors (gARP on the external interface, sync
/// on the interconnect), the other nodes as real servers, and the port weights.
pub fn cvip_conf(spec: &LabSpec) -> String {
    let routing = match spec.routing {
        Routing::Dr => "DR",
        Routing::Nat => "NAT",
    };
    let mut xml = format!("<cvips>\n  <routing>{routing}</routing>\n  <cvip>\n");
    let _ = writeln!(xml, "    <ip_addr>{}</ip_addr>", addressing::CVIP);
    let _ = writeln!(xml, "    <gateway>{}</gateway>", addressing::GATEWAY);
    for node in &spec.directors {
        let _ = writeln!(
            xml,
            "    <director_node><node_num>{node}</node_num><garp_interface>{}</garp_interface>\
             <sync_interface>{}</sync_interface></director_node>",
            addressing::EXTERNAL_IF,
            addressing::INTERCONNECT_IF
        );
    }
    for node in (1..=spec.nodes).filter(|node| !spec.directors.contains(node)) {
        let _ = writeln!(
            xml,
            "    <real_server_node><node_num>{node}</node_num></real_server_node>"
        );
    }
    xml.push_str("  </cvip>\n");
    // Port weights are cluster-wide (OpenSSI's setport_weight), so they sit beside the CVIPs.
    for weight in &spec.port_weights {
        let proto = match weight.protocol {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
        };
        let _ = writeln!(
            xml,
            "  <port_weight><proto>{proto}</proto><start_port>{}</start_port>\
             <end_port>{}</end_port><weight>{}</weight></port_weight>",
            weight.start_port, weight.end_port, weight.weight
        );
    }
    xml.push_str("</cvips>\n");
    xml
}

/// `lvs_routing` (OpenSSI's `/etc/default/lvs_routing`); only NAT labs have one.
pub fn lvs_routing(spec: &LabSpec) -> Option<String> {
    (spec.routing == Routing::Nat).then(|| {
        format!(
            "LVS_ROUTING=NAT\nLVS_INTERNAL_GW={}\n",
            addressing::INTERNAL_GATEWAY
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clustertab_marks_directors_init_capable() {
        let spec = LabSpec {
            nodes: 3,
            directors: vec![1, 2],
            ..LabSpec::default()
        };
        let text = clustertab(&spec);
        let lines: Vec<&str> = text.lines().filter(|line| !line.starts_with('#')).collect();
        assert_eq!(
            lines,
            [
                "1 10.200.0.1 02:00:00:00:00:01 P 1 /dev/sda1",
                "2 10.200.0.2 02:00:00:00:00:02 P 1 /dev/sda1",
                "3 10.200.0.3 02:00:00:00:00:03 P 0",
            ]
        );
    }

    #[test]
    fn clustertab_mac_is_the_node_number_in_hex() {
        let spec = LabSpec {
            nodes: 12,
            directors: vec![1],
            ..LabSpec::default()
        };
        assert!(clustertab(&spec).contains("12 10.200.0.12 02:00:00:00:00:0c P 0\n"));
    }

    #[test]
    fn cvip_conf_lists_directors_real_servers_and_ports() {
        let spec = LabSpec {
            nodes: 3,
            directors: vec![1, 2],
            ..LabSpec::default()
        };
        let xml = cvip_conf(&spec);
        assert!(xml.starts_with("<cvips>\n  <routing>DR</routing>\n"));
        assert!(xml.contains("<ip_addr>192.168.200.100</ip_addr>"));
        assert!(xml.contains("<gateway>192.168.200.1</gateway>"));
        assert!(xml.contains(
            "<director_node><node_num>2</node_num><garp_interface>eth1</garp_interface>\
             <sync_interface>eth0</sync_interface></director_node>"
        ));
        assert!(xml.contains("<real_server_node><node_num>3</node_num></real_server_node>"));
        assert!(!xml.contains("<real_server_node><node_num>1<"));
        assert!(xml.contains(
            "<port_weight><proto>tcp</proto><start_port>80</start_port><end_port>80</end_port>\
             <weight>1</weight></port_weight>"
        ));
        assert!(lvs_routing(&spec).is_none());
    }

    #[test]
    fn nat_labs_have_lvs_routing() {
        let spec = LabSpec {
            routing: Routing::Nat,
            ..LabSpec::default()
        };
        assert!(cvip_conf(&spec).contains("<routing>NAT</routing>"));
        assert_eq!(
            lvs_routing(&spec).as_deref(),
            Some("LVS_ROUTING=NAT\nLVS_INTERNAL_GW=10.200.0.254\n")
        );
    }
}

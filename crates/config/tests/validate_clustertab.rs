//! One test per validation rule (clustertab rules, and the same rules on in-memory values): each asserts the file, line, column and message an operator
//! would read.
#![allow(clippy::unwrap_used)]

mod common;

use common::{CLUSTERTAB, CVIP_CONF, at, only, validate};
use ssinet_config::{
    BootProtocol, ClusterConfig, Clustertab, Cvip, CvipConf, DirectorNode, MacAddr, Node, NodeId,
};

#[test]
fn the_base_files_are_valid() {
    assert!(validate(CLUSTERTAB, CVIP_CONF, None).is_empty());
}

#[test]
fn node_number_must_be_positive() {
    let tab = CLUSTERTAB.replace("3 10.0.0.3", "0 10.0.0.3");
    let cv = CVIP_CONF.replace("<node_num>3</node_num>", "<node_num>1</node_num>");
    let d = validate(&tab, &cv, None);
    let d = only(&d);
    assert_eq!(d.file, "ct");
    assert_eq!(at(d), (4, 1));
    assert_eq!(d.field, "node number");
    assert_eq!(d.message, "node number 0 is not allowed");
}

#[test]
fn node_numbers_are_unique() {
    let tab = CLUSTERTAB.replace("3 10.0.0.3", "2 10.0.0.3");
    let cv = CVIP_CONF.replace("<node_num>3</node_num>", "<node_num>1</node_num>");
    let d = validate(&tab, &cv, None);
    let d = only(&d);
    assert_eq!((d.file.as_str(), at(d)), ("ct", (4, 1)));
    assert_eq!(d.message, "node 2 is already defined on line 3");
}

#[test]
fn interconnect_ips_are_unique() {
    let tab = CLUSTERTAB.replace("3 10.0.0.3", "3 10.0.0.1");
    let d = validate(&tab, CVIP_CONF, None);
    let d = only(&d);
    assert_eq!(at(d), (4, 3));
    assert_eq!(d.field, "interconnect IP");
    assert_eq!(d.message, "IP 10.0.0.1 is already used by node 1 on line 2");
}

#[test]
fn macs_are_unique() {
    let tab = CLUSTERTAB.replace("52:54:00:00:00:03", "52:54:00:00:00:01");
    let d = validate(&tab, CVIP_CONF, None);
    let d = only(&d);
    assert_eq!(at(d), (4, 12));
    assert_eq!(d.field, "MAC address");
    assert_eq!(
        d.message,
        "MAC 52:54:00:00:00:01 is already used by node 1 on line 2"
    );
}

#[test]
fn init_capable_node_needs_a_boot_device() {
    let tab = CLUSTERTAB.replace("P 1 /dev/sda1\n2", "P 1\n2");
    let d = validate(&tab, CVIP_CONF, None);
    let d = only(&d);
    assert_eq!(at(d), (2, 32));
    assert_eq!(d.field, "boot device");
    assert_eq!(d.message, "node 1 is init-capable but names no boot device");
}

#[test]
fn clustertab_needs_nodes() {
    let d = validate("# nothing\n", CVIP_CONF, None);
    // Every director/real server is then unknown too; the first problem names the empty file.
    let first = &d.0[0];
    assert_eq!((first.file.as_str(), at(first)), ("ct", (1, 1)));
    assert_eq!(first.message, "no nodes defined");
}

fn in_memory() -> ClusterConfig {
    let node = |n: u8, init: bool| Node {
        num: NodeId(u64::from(n)),
        ip: format!("10.1.0.{n}").parse().unwrap(),
        mac: MacAddr([2, 0, 0, 0, 0, n]),
        boot: BootProtocol::Pxe,
        init_capable: init,
        boot_device: init.then(|| "/dev/sda".to_owned()),
    };
    ClusterConfig {
        clustertab: Clustertab {
            nodes: vec![node(1, true), node(2, false)],
        },
        cvip_conf: CvipConf {
            cvips: vec![Cvip {
                ip: "10.2.0.1".parse().unwrap(),
                gateway: None,
                directors: vec![DirectorNode {
                    node: NodeId(1),
                    garp_interface: "eth1".into(),
                    sync_interface: None,
                }],
                real_servers: vec![NodeId(2)],
                scheduler: None,
                persistence: None,
            }],
            ..CvipConf::default()
        },
        lvs_routing: None,
    }
}

#[test]
fn in_memory_values_are_checked_by_the_same_rules() {
    let mut config = in_memory();
    assert_eq!(config.validate(), Ok(()));
    config.cvip_conf.cvips[0].directors[0].node = NodeId(5);
    config.clustertab.nodes[1].boot_device = Some("/dev/sd a".into());
    let d = config.validate().unwrap_err();
    assert_eq!(
        d.to_string(),
        "/etc/clustertab: error in boot device: boot device \"/dev/sd a\" cannot be written in \
         clustertab (expected a device path without spaces, control characters or #)\n\
         /etc/cvip.conf: error in <cvip>/<director_node>/<node_num>: node 5 is not in \
         /etc/clustertab (expected one of: 1, 2)"
    );
    assert_eq!(d.0[0].line, None);
}

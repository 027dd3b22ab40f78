//! clustertab rules: node numbers > 0 and unique, IPs and MACs unique, init-capable nodes have a
//! boot device.

use std::collections::HashMap;

use super::{Check, File, on_line};
use crate::diag::Position;
use crate::spans::NodeSpans;

pub(super) fn check(check: &mut Check<'_>) {
    let nodes = &check.config.clustertab.nodes;
    if nodes.is_empty() {
        let at = check.in_clustertab(|_| Some(Position { line: 1, column: 1 }));
        check.error(
            File::Clustertab,
            at,
            "file",
            "no nodes defined".into(),
            "one line per node: number, IP, MAC, boot protocol, init-capable, boot device".into(),
        );
    }
    let mut nums = HashMap::new();
    let mut ips = HashMap::new();
    let mut macs = HashMap::new();
    for (i, node) in nodes.iter().enumerate() {
        let at = |f: fn(&NodeSpans) -> Position| check.in_clustertab(|s| s.nodes.get(i).map(f));
        let (num_at, ip_at, mac_at, init_at) = (
            at(|n| n.num),
            at(|n| n.ip),
            at(|n| n.mac),
            at(|n| n.init_capable),
        );
        let device_at = check.in_clustertab(|s| s.nodes.get(i).and_then(|n| n.boot_device));
        if node.num.0 == 0 {
            check.error(
                File::Clustertab,
                num_at,
                "node number",
                "node number 0 is not allowed".into(),
                "a node number of 1 or more".into(),
            );
        }
        if let Some(first_at) = nums.get(&node.num) {
            check.error(
                File::Clustertab,
                num_at,
                "node number",
                format!("node {} is already defined{}", node.num, on_line(*first_at)),
                "each node number once".into(),
            );
        } else {
            nums.insert(node.num, num_at);
        }
        if let Some((first_at, owner)) = ips.get(&node.ip) {
            check.error(
                File::Clustertab,
                ip_at,
                "interconnect IP",
                format!(
                    "IP {} is already used by node {owner}{}",
                    node.ip,
                    on_line(*first_at)
                ),
                "a unique interconnect IP per node".into(),
            );
        } else {
            ips.insert(node.ip, (ip_at, node.num));
        }
        if let Some((first_at, owner)) = macs.get(&node.mac) {
            check.error(
                File::Clustertab,
                mac_at,
                "MAC address",
                format!(
                    "MAC {} is already used by node {owner}{}",
                    node.mac,
                    on_line(*first_at)
                ),
                "a unique MAC address per node".into(),
            );
        } else {
            macs.insert(node.mac, (mac_at, node.num));
        }
        match &node.boot_device {
            None if node.init_capable => check.error(
                File::Clustertab,
                init_at,
                "boot device",
                format!("node {} is init-capable but names no boot device", node.num),
                "a 6th field with the local boot device (e.g. /dev/sda1), or init-capable 0".into(),
            ),
            Some(device)
                if device.is_empty()
                    || device.contains('#')
                    || device.chars().any(|c| c.is_whitespace() || c.is_control()) =>
            {
                check.error(
                    File::Clustertab,
                    device_at,
                    "boot device",
                    format!("boot device {device:?} cannot be written in clustertab"),
                    "a device path without spaces, control characters or #".into(),
                );
            }
            _ => {}
        }
    }
}

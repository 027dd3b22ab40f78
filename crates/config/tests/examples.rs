//! The shipped examples in conf/ and a verbatim-style OpenSSI file are accepted; exporting the
//! OpenSSI file gives back a file with only OpenSSI's elements, in OpenSSI's order.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use ssinet_config::{
    ClusterConfig, ConfigPaths, NodeId, Protocol, Routing, parse_clustertab, parse_cvip_conf,
    parse_lvs_routing, to_clustertab_string, to_cvip_conf_string, to_lvs_routing_string,
};

fn repo(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(relative)
}

fn paths(dir: &str, lvs: bool) -> ConfigPaths {
    ConfigPaths {
        clustertab: repo(&format!("{dir}/clustertab")),
        cvip_conf: repo(&format!("{dir}/cvip.conf")),
        lvs_routing: repo(&format!("{dir}/lvs_routing")),
        lvs_routing_required: lvs,
    }
}

#[test]
fn dr_example_is_valid_and_means_what_its_comments_say() {
    let loaded = ClusterConfig::load(&paths("conf/dr", false)).unwrap();
    let config = &loaded.config;
    assert_eq!(config.routing(), Routing::Dr);
    assert_eq!(config.clustertab.nodes.len(), 3);
    assert_eq!(
        config.director_nodes().into_iter().collect::<Vec<_>>(),
        [NodeId(1), NodeId(2)]
    );
    assert_eq!(config.init_capable_nodes(), [NodeId(1), NodeId(2)]);
    assert_eq!(config.weight_for(NodeId(1), Protocol::Tcp, 80), Some(1));
    assert_eq!(config.weight_for(NodeId(3), Protocol::Tcp, 80), Some(2));
    assert_eq!(config.weight_for(NodeId(3), Protocol::Tcp, 443), Some(1));
    assert_eq!(config.weight_for(NodeId(3), Protocol::Udp, 5061), Some(1));
    assert_eq!(config.weight_for(NodeId(1), Protocol::Tcp, 22), None);
    assert_eq!(config.weight_for(NodeId(1), Protocol::Udp, 80), None);
    assert_eq!(config.node(NodeId(2)).unwrap().ip.to_string(), "10.0.0.2");
}

#[test]
fn nat_example_is_valid() {
    let loaded = ClusterConfig::load(&paths("conf/nat", true)).unwrap();
    let config = &loaded.config;
    assert_eq!(config.routing(), Routing::Nat);
    assert_eq!(
        config.internal_gateway().unwrap().to_string(),
        "172.16.0.254"
    );
    let conf = &config.cvip_conf;
    let shop = &conf.cvips[1];
    assert_eq!(conf.scheduler_for(shop).name.as_str(), "wlc");
    assert_eq!(conf.persistence_for(shop).unwrap().netmask_prefix, Some(24));
    assert_eq!(
        conf.scheduler_for(&conf.cvips[0]),
        ssinet_config::Scheduler::default()
    );
    assert_eq!(config.weight_for(NodeId(4), Protocol::Tcp, 8050), Some(0));
    assert_eq!(config.weight_for(NodeId(3), Protocol::Tcp, 8050), Some(10));
}

#[test]
fn nat_example_without_lvs_routing_lacks_the_gateway() {
    let mut p = paths("conf/nat", false);
    p.lvs_routing = repo("conf/nat/does-not-exist");
    let d = ClusterConfig::load(&p).unwrap_err();
    assert_eq!(d.len(), 1, "{d}");
    assert!(
        d.0[0]
            .message
            .starts_with("NAT routing needs an internal gateway"),
        "{d}"
    );
    p.lvs_routing_required = true;
    let d = ClusterConfig::load(&p).unwrap_err();
    assert!(d.0[0].message.starts_with("cannot read it:"), "{d}");
}

#[test]
fn verbatim_openssi_files_are_accepted() {
    let p = ConfigPaths {
        clustertab: repo("crates/config/tests/fixtures/openssi-clustertab"),
        cvip_conf: repo("crates/config/tests/fixtures/openssi-cvip.conf"),
        lvs_routing: repo("crates/config/tests/fixtures/absent"),
        lvs_routing_required: false,
    };
    let loaded = ClusterConfig::load(&p).unwrap();
    let conf = &loaded.config.cvip_conf;
    assert_eq!(conf.routing, Some(Routing::Dr));
    let cvip = &conf.cvips[0];
    assert_eq!(cvip.gateway.unwrap().to_string(), "192.168.200.1");
    let directors: Vec<(u64, &str)> = cvip
        .directors
        .iter()
        .map(|d| (d.node.0, d.garp_interface.as_str()))
        .collect();
    assert_eq!(directors, [(2, "eth1"), (1, "eth1")]);
    assert_eq!(cvip.real_servers, [NodeId(3), NodeId(1)]);
    assert!(conf.port_weights.is_empty() && conf.scheduler.is_none() && conf.health.is_none());
    // Diagnostics on this CRLF file still count lines and columns right.
    let text = std::fs::read_to_string(&p.cvip_conf)
        .unwrap()
        .replace("<node_num>3<", "<node_num>x<");
    let d = parse_cvip_conf(&text, "cv").unwrap_err();
    assert_eq!((d.0[0].line, d.0[0].column), (Some(15), Some(31)));
}

#[test]
fn exported_openssi_file_has_only_openssi_elements_in_openssi_order() {
    let text =
        std::fs::read_to_string(repo("crates/config/tests/fixtures/openssi-cvip.conf")).unwrap();
    let conf = parse_cvip_conf(&text, "cv").unwrap();
    let exported = to_cvip_conf_string(&conf);
    assert!(exported.starts_with("<?xml version=\"1.0\"?>\n"));
    for extension in ["port_weight", "scheduler", "persistence", "health_check"] {
        assert!(!exported.contains(&format!("<{extension}>")), "{exported}");
    }
    let order: Vec<usize> = [
        "<routing>",
        "<ip_addr>",
        "<gateway>",
        "<director_node>",
        "<real_server_node>",
    ]
    .iter()
    .map(|tag| exported.find(tag).unwrap())
    .collect();
    assert!(order.windows(2).all(|w| w[0] < w[1]), "{exported}");
    assert_eq!(parse_cvip_conf(&exported, "cv").unwrap(), conf);
}

#[test]
fn examples_round_trip_through_serialization() {
    for dir in ["conf/dr", "conf/nat"] {
        let tab = parse_clustertab(
            &std::fs::read_to_string(repo(&format!("{dir}/clustertab"))).unwrap(),
            "ct",
        )
        .unwrap();
        assert_eq!(
            parse_clustertab(&to_clustertab_string(&tab), "ct").unwrap(),
            tab
        );
        let conf = parse_cvip_conf(
            &std::fs::read_to_string(repo(&format!("{dir}/cvip.conf"))).unwrap(),
            "cv",
        )
        .unwrap();
        assert_eq!(
            parse_cvip_conf(&to_cvip_conf_string(&conf), "cv").unwrap(),
            conf
        );
    }
    let lvs = parse_lvs_routing(
        &std::fs::read_to_string(repo("conf/nat/lvs_routing")).unwrap(),
        "l",
    )
    .unwrap();
    assert_eq!(
        parse_lvs_routing(&to_lvs_routing_string(&lvs), "l").unwrap(),
        lvs
    );
}

#[test]
fn model_serializes_for_replication() {
    let loaded = ClusterConfig::load(&paths("conf/nat", true)).unwrap();
    let json = serde_json::to_string(&loaded.config).unwrap();
    let back: ClusterConfig = serde_json::from_str(&json).unwrap();
    assert_eq!(back, loaded.config);
}

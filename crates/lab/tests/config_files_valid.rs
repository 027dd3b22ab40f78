//! The files a lab writes for ssinetd are files `cvipctl config check` accepts, DR and NAT alike.
use ssinet_config::{ClusterConfig, ConfigPaths};
use ssinet_testbed::netns::{
    LabSpec, PortWeight, Protocol, Routing, clustertab, cvip_conf, lvs_routing,
};

fn check(spec: &LabSpec) -> ssinet_config::LoadedConfig {
    let dir = tempfile::tempdir().expect("temp dir");
    let paths = ConfigPaths {
        clustertab: dir.path().join("clustertab"),
        cvip_conf: dir.path().join("cvip.conf"),
        lvs_routing: dir.path().join("lvs_routing"),
        lvs_routing_required: false,
    };
    std::fs::write(&paths.clustertab, clustertab(spec)).expect("write clustertab");
    std::fs::write(&paths.cvip_conf, cvip_conf(spec)).expect("write cvip.conf");
    if let Some(text) = lvs_routing(spec) {
        std::fs::write(&paths.lvs_routing, text).expect("write lvs_routing");
    }
    ClusterConfig::load(&paths).unwrap_or_else(|problems| panic!("lab files rejected:\n{problems}"))
}

#[test]
fn a_dr_lab_writes_a_valid_configuration() {
    let loaded = check(&LabSpec {
        nodes: 5,
        directors: vec![1, 2],
        ..LabSpec::default()
    });
    assert_eq!(loaded.config.clustertab.nodes.len(), 5);
}

#[test]
fn a_nat_lab_with_several_port_ranges_writes_a_valid_configuration() {
    check(&LabSpec {
        nodes: 3,
        directors: vec![1],
        routing: Routing::Nat,
        port_weights: vec![
            PortWeight {
                protocol: Protocol::Tcp,
                start_port: 80,
                end_port: 80,
                weight: 1,
            },
            PortWeight {
                protocol: Protocol::Udp,
                start_port: 5060,
                end_port: 5061,
                weight: 3,
            },
        ],
    });
}

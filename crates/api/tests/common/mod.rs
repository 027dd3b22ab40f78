//! The shipped example configurations, loaded as an operator's files would be.
#![allow(dead_code)]

use std::path::Path;

use ssinet_api::{ClusterApp, ClusterState, Command, Response};
use ssinet_config::{ClusterConfig, ConfigPaths};

/// `conf/dr`: nodes 1-3, one CVIP 192.168.200.10 directed by 1 and 2, tcp 80 and 443, udp
/// 5060-5061, and a node-3 override for tcp 80.
pub fn dr_config() -> ClusterConfig {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../conf/dr");
    let paths = ConfigPaths {
        clustertab: dir.join("clustertab"),
        cvip_conf: dir.join("cvip.conf"),
        lvs_routing: dir.join("no-lvs_routing"),
        lvs_routing_required: false,
    };
    ClusterConfig::load(&paths)
        .expect("conf/dr is a valid example")
        .config
}

/// A state bootstrapped from `conf/dr`.
pub fn dr_state() -> ClusterState {
    let mut state = ClusterState::default();
    let response = ClusterApp::apply(&mut state, &Command::Bootstrap(dr_config()));
    assert!(response.is_applied(), "{response:?}");
    state
}

pub fn apply(state: &mut ClusterState, command: Command) -> Response {
    ClusterApp::apply(state, &command)
}

/// The problems of a rejection; panics on an applied response.
pub fn problems(response: Response) -> Vec<String> {
    match response {
        Response::Rejected { problems } => problems,
        Response::Applied { summary } => panic!("expected a rejection, got applied: {summary}"),
    }
}

pub fn summary(response: Response) -> String {
    match response {
        Response::Applied { summary } => summary,
        Response::Rejected { problems } => panic!("expected applied, got rejected: {problems:?}"),
    }
}

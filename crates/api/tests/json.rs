//! The JSON that crosses the admin socket and the Raft log, as scripts and the agent see it.
#![allow(clippy::unwrap_used)]

mod common;

use common::{apply, dr_state};
use serde_json::json;
use ssinet_api::admin::{ApiError, ErrorCode, NodeStatus, RaftRole, StatusReport};
use ssinet_api::{ClusterState, Command, Response};
use ssinet_config::{NodeId, PortWeight, Protocol};

#[test]
fn commands_are_tagged_objects() {
    let del = Command::DelCvip {
        ip: "192.168.200.11".parse().unwrap(),
    };
    assert_eq!(
        serde_json::to_value(&del).unwrap(),
        json!({"command": "del_cvip", "ip": "192.168.200.11"})
    );
    let set = Command::SetPortWeight(PortWeight {
        proto: Protocol::Tcp,
        start_port: 80,
        end_port: 81,
        weight: 3,
        node: None,
    });
    assert_eq!(
        serde_json::to_value(&set).unwrap(),
        json!({"command": "set_port_weight", "proto": "Tcp", "start_port": 80, "end_port": 81,
               "weight": 3, "node": null})
    );
    // Optional fields may be left out by scripts.
    let add: Command = serde_json::from_value(json!({
        "command": "add_director", "node": 3, "garp_interface": "eth1"
    }))
    .unwrap();
    assert_eq!(
        add,
        Command::AddDirector {
            node: NodeId(3),
            garp_interface: "eth1".into(),
            sync_interface: None
        }
    );
    assert_eq!(add.name(), "add_director");
}

#[test]
fn responses_are_tagged_by_outcome() {
    let mut state = dr_state();
    let rejected = apply(
        &mut state,
        Command::DelCvip {
            ip: "192.168.200.99".parse().unwrap(),
        },
    );
    let value = serde_json::to_value(&rejected).unwrap();
    assert_eq!(value["outcome"], "rejected");
    assert_eq!(value["problems"].as_array().unwrap().len(), 1);
    let applied: Response =
        serde_json::from_value(json!({"outcome": "applied", "summary": "added CVIP 1.2.3.4"}))
            .unwrap();
    assert!(applied.is_applied());
}

#[test]
fn listeners_are_a_list_in_state_json() {
    let mut state = dr_state();
    apply(
        &mut state,
        Command::RegisterListener {
            node: NodeId(2),
            proto: Protocol::Udp,
            port: 5060,
        },
    );
    let value = serde_json::to_value(&state).unwrap();
    assert_eq!(
        value["listeners"],
        json!([{"node": 2, "proto": "Udp", "port": 5060}])
    );
    let back: ClusterState = serde_json::from_value(value).unwrap();
    assert_eq!(back, state);
}

#[test]
fn status_and_errors_round_trip() {
    let report = StatusReport {
        node: NodeId(2),
        role: RaftRole::Follower,
        term: 7,
        leader: Some(NodeId(1)),
        commit_index: Some(42),
        last_applied: Some(42),
        quorum: true,
        millis_since_quorum_ack: None,
        nodes: vec![NodeStatus {
            num: NodeId(1),
            ip: "10.0.0.1".parse().unwrap(),
            director_capable: true,
            voter: true,
            reachable: true,
            role: RaftRole::Leader,
        }],
        learners: Vec::new(),
        data_plane: Default::default(),
    };
    let value = serde_json::to_value(&report).unwrap();
    assert_eq!(value["role"], "follower");
    assert_eq!(value["nodes"][0]["role"], "leader");
    assert_eq!(
        serde_json::from_value::<StatusReport>(value).unwrap(),
        report
    );

    let error = ApiError::new(ErrorCode::NoQuorum, "only 1 of 3 voters reachable");
    let value = serde_json::to_value(&error).unwrap();
    assert_eq!(
        value,
        json!({"code": "no_quorum", "message": "only 1 of 3 voters reachable"})
    );
    assert_eq!(ErrorCode::NoQuorum.http_status(), 503);
    assert_eq!(
        error.to_string(),
        "only 1 of 3 voters reachable (no_quorum)"
    );
}

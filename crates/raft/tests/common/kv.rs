//! A small replicated key-value map with a rejection rule, standing in for the agent's model.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use ssinet_raft::App;

pub struct KvApp;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum KvCommand {
    Set { key: String, value: String },
    Delete { key: String },
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum KvResponse {
    Done { previous: Option<String> },
    Rejected { reason: String },
}

pub type KvState = BTreeMap<String, String>;

impl App for KvApp {
    type Command = KvCommand;
    type Response = KvResponse;
    type State = KvState;

    fn apply(state: &mut KvState, command: &KvCommand) -> KvResponse {
        match command {
            KvCommand::Set { key, .. } if key.is_empty() => KvResponse::Rejected {
                reason: "the key is empty".into(),
            },
            KvCommand::Set { key, value } => KvResponse::Done {
                previous: state.insert(key.clone(), value.clone()),
            },
            KvCommand::Delete { key } => match state.remove(key) {
                Some(previous) => KvResponse::Done {
                    previous: Some(previous),
                },
                None => KvResponse::Rejected {
                    reason: format!("no key {key:?}"),
                },
            },
        }
    }
}

pub fn set(key: &str, value: &str) -> KvCommand {
    KvCommand::Set {
        key: key.into(),
        value: value.into(),
    }
}

//! openraft's storage conformance suite against the real redb store, plus durability checks.
#![allow(clippy::unwrap_used)]

mod common;

use common::kv::{KvApp, KvResponse, set};
use openraft::storage::{RaftLogStorage, RaftStateMachine};
use openraft::testing::{StoreBuilder, Suite};
use openraft::{CommittedLeaderId, Entry, EntryPayload, LogId, RaftLogReader, Vote};
use ssinet_raft::store::{LogStore, StateMachine};
use ssinet_raft::{NodeId, Store, TypeConfig};
use tempfile::TempDir;

type C = TypeConfig<KvApp>;

struct RedbBuilder;

impl StoreBuilder<C, LogStore<KvApp>, StateMachine<KvApp>, TempDir> for RedbBuilder {
    async fn build(
        &self,
    ) -> Result<(TempDir, LogStore<KvApp>, StateMachine<KvApp>), openraft::StorageError<NodeId>>
    {
        let dir = TempDir::new().unwrap();
        let store = Store::<KvApp>::open(dir.path()).unwrap();
        Ok((dir, store.log, store.state_machine))
    }
}

#[test]
fn openraft_storage_suite() {
    Suite::test_all(RedbBuilder).unwrap();
}

fn entry(index: u64, payload: EntryPayload<C>) -> Entry<C> {
    Entry {
        log_id: LogId::new(CommittedLeaderId::new(1, NodeId(1)), index),
        payload,
    }
}

#[tokio::test]
async fn log_vote_and_state_survive_reopen() {
    let dir = TempDir::new().unwrap();
    {
        let Store {
            mut log,
            mut state_machine,
            ..
        } = Store::<KvApp>::open(dir.path()).unwrap();
        log.save_vote(&Vote::new(3, NodeId(1))).await.unwrap();
        let entries = vec![
            entry(1, EntryPayload::Blank),
            entry(2, EntryPayload::Normal(set("a", "1"))),
            entry(3, EntryPayload::Normal(set("", "x"))),
        ];
        let responses = state_machine.apply(entries).await.unwrap();
        assert_eq!(
            responses,
            vec![
                None,
                Some(KvResponse::Done { previous: None }),
                Some(KvResponse::Rejected {
                    reason: "the key is empty".into()
                }),
            ]
        );
    }
    let Store {
        mut log,
        mut state_machine,
        ..
    } = Store::<KvApp>::open(dir.path()).unwrap();
    assert_eq!(
        log.read_vote().await.unwrap(),
        Some(Vote::new(3, NodeId(1)))
    );
    let (applied, _) = state_machine.applied_state().await.unwrap();
    assert_eq!(applied.unwrap().index, 3);
    let state = state_machine.subscribe().borrow().state.clone();
    assert_eq!(state.get("a").map(String::as_str), Some("1"));
    assert_eq!(state.len(), 1);
    assert!(log.try_get_log_entries(0..10).await.unwrap().is_empty());
}

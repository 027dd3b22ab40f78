//! The applied state machine and its snapshot in redb.

use std::io::Cursor;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use openraft::storage::RaftStateMachine;
use openraft::{
    AnyError, EntryPayload, RaftSnapshotBuilder, Snapshot, SnapshotMeta, StorageIOError,
};
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use super::{
    AppMarker, Db, KEY_APPLIED, KEY_SNAPSHOT, OpError, STATE, encode, get_record, put_records,
};
use crate::types::{App, LogId, NodeId, PeerNode, StorageError, StoredMembership, TypeConfig};

type Entry<A> = openraft::Entry<TypeConfig<A>>;
type Meta = SnapshotMeta<NodeId, PeerNode>;

/// The state machine as applied up to `last_applied`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct AppliedState<S> {
    /// The last log entry reflected in `state`.
    pub last_applied: Option<LogId>,
    /// The last membership applied.
    pub membership: StoredMembership,
    /// The application's state.
    pub state: S,
}

/// The stored current snapshot: its metadata and the serialized state.
#[derive(Serialize, Deserialize)]
struct StoredSnapshot {
    meta: Meta,
    data: Vec<u8>,
}

/// The applied state machine. Every apply is durable before it returns, so a restart resumes from
/// the stored state instead of replaying the log.
pub struct StateMachine<A: App> {
    db: Arc<Db>,
    current: Arc<AppliedState<A::State>>,
    published: watch::Sender<Arc<AppliedState<A::State>>>,
    _app: AppMarker<A>,
}

impl<A: App> StateMachine<A> {
    pub(super) fn new(db: Arc<Db>, applied: AppliedState<A::State>) -> Self {
        let current = Arc::new(applied);
        let (published, _) = watch::channel(current.clone());
        Self {
            db,
            current,
            published,
            _app: Default::default(),
        }
    }

    /// Watches the applied state; each applied batch or installed snapshot publishes a new value.
    ///
    /// Level-triggered controllers reconcile from the latest value and never miss the end state.
    pub fn subscribe(&self) -> watch::Receiver<Arc<AppliedState<A::State>>> {
        self.published.subscribe()
    }

    fn persist_and_publish(
        &mut self,
        next: AppliedState<A::State>,
        snapshot: Option<&StoredSnapshot>,
    ) -> Result<(), OpError> {
        let applied = encode(&next)?;
        let snapshot = snapshot.map(encode).transpose()?;
        let mut records: Vec<(&str, &[u8])> = vec![(KEY_APPLIED, &applied)];
        if let Some(snapshot) = &snapshot {
            records.push((KEY_SNAPSHOT, snapshot));
        }
        put_records(&self.db, STATE, &records)?;
        self.current = Arc::new(next);
        self.published.send_replace(self.current.clone());
        Ok(())
    }
}

fn sm_write_err(e: OpError) -> StorageError {
    StorageIOError::write_state_machine(AnyError::new(&e)).into()
}

impl<A: App> RaftStateMachine<TypeConfig<A>> for StateMachine<A> {
    type SnapshotBuilder = SnapshotBuilder<A>;

    async fn applied_state(&mut self) -> Result<(Option<LogId>, StoredMembership), StorageError> {
        Ok((self.current.last_applied, self.current.membership.clone()))
    }

    async fn apply<I>(&mut self, entries: I) -> Result<Vec<Option<A::Response>>, StorageError>
    where
        I: IntoIterator<Item = Entry<A>> + Send,
        I::IntoIter: Send,
    {
        let mut next = (*self.current).clone();
        let mut responses = Vec::new();
        for entry in entries {
            next.last_applied = Some(entry.log_id);
            match entry.payload {
                EntryPayload::Blank => responses.push(None),
                EntryPayload::Normal(command) => {
                    responses.push(Some(A::apply(&mut next.state, &command)));
                }
                EntryPayload::Membership(membership) => {
                    tracing::info!(log_id = %entry.log_id, %membership, "membership applied");
                    next.membership = StoredMembership::new(Some(entry.log_id), membership);
                    responses.push(None);
                }
            }
        }
        if !responses.is_empty() {
            self.persist_and_publish(next, None).map_err(sm_write_err)?;
        }
        Ok(responses)
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        SnapshotBuilder {
            db: self.db.clone(),
            applied: self.current.clone(),
            _app: Default::default(),
        }
    }

    async fn begin_receiving_snapshot(&mut self) -> Result<Box<Cursor<Vec<u8>>>, StorageError> {
        Ok(Box::new(Cursor::new(Vec::new())))
    }

    async fn install_snapshot(
        &mut self,
        meta: &Meta,
        snapshot: Box<Cursor<Vec<u8>>>,
    ) -> Result<(), StorageError> {
        let data = snapshot.into_inner();
        let state: A::State = serde_json::from_slice(&data).map_err(|e| {
            StorageIOError::read_snapshot(Some(meta.signature()), AnyError::new(&e))
        })?;
        let next = AppliedState {
            last_applied: meta.last_log_id,
            membership: meta.last_membership.clone(),
            state,
        };
        let stored = StoredSnapshot {
            meta: meta.clone(),
            data,
        };
        self.persist_and_publish(next, Some(&stored)).map_err(|e| {
            StorageIOError::write_snapshot(Some(meta.signature()), AnyError::new(&e))
        })?;
        tracing::info!(snapshot_id = %meta.snapshot_id, last_log_id = ?meta.last_log_id, "snapshot installed");
        Ok(())
    }

    async fn get_current_snapshot(
        &mut self,
    ) -> Result<Option<Snapshot<TypeConfig<A>>>, StorageError> {
        let stored: Option<StoredSnapshot> = get_record(&self.db, STATE, KEY_SNAPSHOT)
            .map_err(|e| StorageIOError::read_snapshot(None, AnyError::new(&e)))?;
        Ok(stored.map(|s| Snapshot {
            meta: s.meta,
            snapshot: Box::new(Cursor::new(s.data)),
        }))
    }
}

/// Builds a snapshot from the state as it was when the builder was made.
pub struct SnapshotBuilder<A: App> {
    db: Arc<Db>,
    applied: Arc<AppliedState<A::State>>,
    _app: AppMarker<A>,
}

impl<A: App> RaftSnapshotBuilder<TypeConfig<A>> for SnapshotBuilder<A> {
    async fn build_snapshot(&mut self) -> Result<Snapshot<TypeConfig<A>>, StorageError> {
        let write_err = |e: OpError| StorageIOError::write_snapshot(None, AnyError::new(&e));
        let data = encode(&self.applied.state).map_err(write_err)?;
        let built_at = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_micros())
            .unwrap_or_default();
        let snapshot_id = match self.applied.last_applied {
            Some(id) => format!("{}-{}-{built_at}", id.leader_id.term, id.index),
            None => format!("empty-{built_at}"),
        };
        let meta = Meta {
            last_log_id: self.applied.last_applied,
            last_membership: self.applied.membership.clone(),
            snapshot_id,
        };
        let stored = StoredSnapshot {
            meta: meta.clone(),
            data,
        };
        let raw = encode(&stored).map_err(write_err)?;
        put_records(&self.db, STATE, &[(KEY_SNAPSHOT, &raw)]).map_err(write_err)?;
        tracing::info!(snapshot_id = %meta.snapshot_id, "snapshot built");
        Ok(Snapshot {
            meta,
            snapshot: Box::new(Cursor::new(stored.data)),
        })
    }
}

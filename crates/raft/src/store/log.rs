//! The Raft log and vote in redb.

use std::fmt::Debug;
use std::ops::{Bound, RangeBounds};
use std::sync::Arc;

use openraft::storage::{LogFlushed, RaftLogStorage};
use openraft::{AnyError, LogState, RaftLogReader, StorageIOError, Vote};
use redb::{ReadableDatabase, ReadableTable};

use super::{
    AppMarker, Db, KEY_COMMITTED, KEY_LAST_PURGED, KEY_VOTE, LOG, LOG_META, OpError, encode,
    get_record, put_records,
};
use crate::types::{App, LogId, NodeId, StorageError, TypeConfig};

type Entry<A> = openraft::Entry<TypeConfig<A>>;

/// Log and vote storage; cheap to clone (clones share the database).
pub struct LogStore<A: App> {
    db: Arc<Db>,
    _app: AppMarker<A>,
}

impl<A: App> Clone for LogStore<A> {
    fn clone(&self) -> Self {
        Self::new(self.db.clone())
    }
}

impl<A: App> LogStore<A> {
    pub(super) fn new(db: Arc<Db>) -> Self {
        Self {
            db,
            _app: Default::default(),
        }
    }

    fn read_entries<RB: RangeBounds<u64>>(&self, range: RB) -> Result<Vec<Entry<A>>, OpError> {
        let txn = self.db.begin_read()?;
        let table = txn.open_table(LOG)?;
        let mut entries = Vec::new();
        for item in
            table.range::<u64>((range.start_bound().cloned(), range.end_bound().cloned()))?
        {
            let (_, raw) = item?;
            entries.push(serde_json::from_slice(raw.value())?);
        }
        Ok(entries)
    }

    fn last_entry(&self) -> Result<Option<Entry<A>>, OpError> {
        let txn = self.db.begin_read()?;
        let table = txn.open_table(LOG)?;
        match table.last()? {
            Some((_, raw)) => Ok(Some(serde_json::from_slice(raw.value())?)),
            None => Ok(None),
        }
    }

    fn append_entries(&self, entries: impl IntoIterator<Item = Entry<A>>) -> Result<(), OpError> {
        let txn = self.db.begin_write()?;
        {
            let mut table = txn.open_table(LOG)?;
            for entry in entries {
                table.insert(entry.log_id.index, encode(&entry)?.as_slice())?;
            }
        }
        txn.commit()?;
        Ok(())
    }

    /// Removes entries in `range`; with `purged` also records the last purged log id, in the
    /// same transaction so a crash never leaves a hole without its marker.
    fn remove_entries(
        &self,
        range: (Bound<u64>, Bound<u64>),
        purged: Option<&LogId>,
    ) -> Result<(), OpError> {
        let txn = self.db.begin_write()?;
        {
            let mut table = txn.open_table(LOG)?;
            table.retain_in::<u64, _>(range, |_, _| false)?;
            if let Some(purged) = purged {
                let mut meta = txn.open_table(LOG_META)?;
                meta.insert(KEY_LAST_PURGED, encode(purged)?.as_slice())?;
            }
        }
        txn.commit()?;
        Ok(())
    }
}

fn read_err(e: OpError) -> StorageError {
    StorageIOError::read_logs(AnyError::new(&e)).into()
}

fn write_err(e: OpError) -> StorageError {
    StorageIOError::write_logs(AnyError::new(&e)).into()
}

impl<A: App> RaftLogReader<TypeConfig<A>> for LogStore<A> {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + Send>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry<A>>, StorageError> {
        self.read_entries(range).map_err(read_err)
    }
}

impl<A: App> RaftLogStorage<TypeConfig<A>> for LogStore<A> {
    type LogReader = Self;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig<A>>, StorageError> {
        let last_purged_log_id: Option<LogId> =
            get_record(&self.db, LOG_META, KEY_LAST_PURGED).map_err(read_err)?;
        let last = self.last_entry().map_err(read_err)?.map(|e| e.log_id);
        Ok(LogState {
            last_purged_log_id,
            last_log_id: last.or(last_purged_log_id),
        })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote<NodeId>) -> Result<(), StorageError> {
        let raw = encode(vote).map_err(|e| StorageIOError::write_vote(AnyError::new(&e)))?;
        put_records(&self.db, LOG_META, &[(KEY_VOTE, &raw)])
            .map_err(|e| StorageIOError::write_vote(AnyError::new(&e)))?;
        tracing::debug!(term = vote.leader_id.term, voted_for = ?vote.leader_id.voted_for(), "vote saved");
        Ok(())
    }

    async fn read_vote(&mut self) -> Result<Option<Vote<NodeId>>, StorageError> {
        Ok(get_record(&self.db, LOG_META, KEY_VOTE)
            .map_err(|e| StorageIOError::read_vote(AnyError::new(&e)))?)
    }

    async fn save_committed(&mut self, committed: Option<LogId>) -> Result<(), StorageError> {
        let raw = encode(&committed).map_err(write_err)?;
        put_records(&self.db, LOG_META, &[(KEY_COMMITTED, &raw)]).map_err(write_err)?;
        Ok(())
    }

    async fn read_committed(&mut self) -> Result<Option<LogId>, StorageError> {
        let committed: Option<Option<LogId>> =
            get_record(&self.db, LOG_META, KEY_COMMITTED).map_err(read_err)?;
        Ok(committed.flatten())
    }

    async fn append<I>(
        &mut self,
        entries: I,
        callback: LogFlushed<TypeConfig<A>>,
    ) -> Result<(), StorageError>
    where
        I: IntoIterator<Item = Entry<A>> + Send,
        I::IntoIter: Send,
    {
        // The commit below is durable (redb's default immediate durability) before the callback
        // tells openraft the entries are on disk.
        match self.append_entries(entries) {
            Ok(()) => {
                callback.log_io_completed(Ok(()));
                Ok(())
            }
            Err(e) => {
                callback.log_io_completed(Err(std::io::Error::other(e.to_string())));
                Err(write_err(e))
            }
        }
    }

    async fn truncate(&mut self, log_id: LogId) -> Result<(), StorageError> {
        tracing::debug!(%log_id, "truncating log");
        self.remove_entries((Bound::Included(log_id.index), Bound::Unbounded), None)
            .map_err(write_err)
    }

    async fn purge(&mut self, log_id: LogId) -> Result<(), StorageError> {
        tracing::debug!(%log_id, "purging log");
        self.remove_entries(
            (Bound::Unbounded, Bound::Included(log_id.index)),
            Some(&log_id),
        )
        .map_err(write_err)
    }
}

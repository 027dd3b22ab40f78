//! The durable Raft store: one redb file, `<data_dir>/raft.redb`.
//!
//! It holds the log, the vote, the committed and last-purged log ids, the applied state machine
//! (state, last applied log id, membership) and the current snapshot. Every write is a redb
//! transaction committed with immediate durability before openraft is told it happened.

mod log;
mod state_machine;

use std::marker::PhantomData;
use std::ops::Deref;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use redb::{Database, ReadableDatabase, TableDefinition};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::sync::watch;

pub use self::log::LogStore;
pub use self::state_machine::{AppliedState, SnapshotBuilder, StateMachine};
use crate::types::App;

/// Log entries by index, each serde_json of `openraft::Entry`.
const LOG: TableDefinition<u64, &[u8]> = TableDefinition::new("log");
/// Small records of the log side: vote, committed, last purged.
const LOG_META: TableDefinition<&str, &[u8]> = TableDefinition::new("log_meta");
/// The applied state machine and the current snapshot.
const STATE: TableDefinition<&str, &[u8]> = TableDefinition::new("state_machine");

const KEY_VOTE: &str = "vote";
const KEY_COMMITTED: &str = "committed";
const KEY_LAST_PURGED: &str = "last_purged";
const KEY_APPLIED: &str = "applied";
const KEY_SNAPSHOT: &str = "snapshot";

/// The database file name inside the data directory.
pub const DB_FILE: &str = "raft.redb";

/// Why the store could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The data directory is missing and could not be created.
    #[error("cannot create the data directory {path}: {source}; check the path and permissions")]
    CreateDir {
        path: PathBuf,
        source: std::io::Error,
    },
    /// redb refused the file (locked by another process, corrupt, or unreadable).
    #[error(
        "cannot open the Raft database {path}: {source}; is another ssinetd running on this data directory?"
    )]
    Open {
        path: PathBuf,
        source: redb::DatabaseError,
    },
    /// Reading or initializing the tables failed.
    #[error("cannot read the Raft database {path}: {source}")]
    Database { path: PathBuf, source: redb::Error },
    /// A stored record does not decode: the file was written by an incompatible version.
    #[error(
        "the Raft database {path} holds an unreadable {record} record: {source}; restore it from backup or remove it to rejoin the cluster empty"
    )]
    Corrupt {
        path: PathBuf,
        record: &'static str,
        source: serde_json::Error,
    },
}

/// The opened store: hand both halves to `openraft::Raft::new`.
pub struct Store<A: App> {
    /// Log and vote storage.
    pub log: LogStore<A>,
    /// The applied state and snapshots.
    pub state_machine: StateMachine<A>,
    /// Resolves once both halves (and every clone) are gone and the file is closed.
    pub closed: StoreClosed,
}

/// The shared database; tells [`StoreClosed`] once redb has closed the file.
struct Db {
    inner: Option<Database>,
    closed: watch::Sender<bool>,
}

impl Deref for Db {
    type Target = Database;

    fn deref(&self) -> &Database {
        self.inner
            .as_ref()
            .expect("the database is only taken out when dropped")
    }
}

impl Drop for Db {
    fn drop(&mut self) {
        // Close the file (releasing its lock) before telling anyone it is closed.
        drop(self.inner.take());
        self.closed.send_replace(true);
    }
}

/// Waits for the store to close, so the data directory can be reopened (restart in place).
#[derive(Clone, Debug)]
pub struct StoreClosed(watch::Receiver<bool>);

impl StoreClosed {
    /// Returns once the database file is closed.
    pub async fn wait(&mut self) {
        // An error means the sender is gone, which happens only after it reported closing.
        let _ = self.0.wait_for(|closed| *closed).await;
    }
}

impl<A: App> Store<A> {
    /// Opens (or creates) `<dir>/raft.redb`, creating `dir` if needed.
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        std::fs::create_dir_all(dir).map_err(|source| StoreError::CreateDir {
            path: dir.to_path_buf(),
            source,
        })?;
        let path = dir.join(DB_FILE);
        let db = Database::create(&path).map_err(|source| StoreError::Open {
            path: path.clone(),
            source,
        })?;
        let db_err = |source: redb::Error| StoreError::Database {
            path: path.clone(),
            source,
        };
        let txn = db.begin_write().map_err(|e| db_err(e.into()))?;
        txn.open_table(LOG).map_err(|e| db_err(e.into()))?;
        txn.open_table(LOG_META).map_err(|e| db_err(e.into()))?;
        txn.open_table(STATE).map_err(|e| db_err(e.into()))?;
        txn.commit().map_err(|e| db_err(e.into()))?;

        let applied: AppliedState<A::State> =
            read_record(&db, STATE, KEY_APPLIED, &path)?.unwrap_or_default();
        let (closed, closed_rx) = watch::channel(false);
        let db = Arc::new(Db {
            inner: Some(db),
            closed,
        });
        Ok(Self {
            log: LogStore::new(db.clone()),
            state_machine: StateMachine::new(db, applied),
            closed: StoreClosed(closed_rx),
        })
    }
}

/// Reads one serde_json record at open time.
fn read_record<T: DeserializeOwned>(
    db: &Database,
    table: TableDefinition<&str, &[u8]>,
    key: &'static str,
    path: &Path,
) -> Result<Option<T>, StoreError> {
    let db_err = |source: redb::Error| StoreError::Database {
        path: path.to_path_buf(),
        source,
    };
    let txn = db.begin_read().map_err(|e| db_err(e.into()))?;
    let table = txn.open_table(table).map_err(|e| db_err(e.into()))?;
    let Some(raw) = redb::ReadableTable::get(&table, key).map_err(|e| db_err(e.into()))? else {
        return Ok(None);
    };
    serde_json::from_slice(raw.value())
        .map(Some)
        .map_err(|source| StoreError::Corrupt {
            path: path.to_path_buf(),
            record: key,
            source,
        })
}

/// Errors inside a store operation, before they become openraft's `StorageError`.
#[derive(Debug, thiserror::Error)]
enum OpError {
    #[error("redb: {0}")]
    Db(#[from] redb::Error),
    #[error("serde_json: {0}")]
    Json(#[from] serde_json::Error),
}

macro_rules! from_redb {
    ($($t:ty),*) => {$(
        impl From<$t> for OpError {
            fn from(e: $t) -> Self {
                OpError::Db(e.into())
            }
        }
    )*};
}
from_redb!(
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError
);

fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, OpError> {
    Ok(serde_json::to_vec(value)?)
}

/// Reads one record of a small key-value table in its own read transaction.
fn get_record<T: DeserializeOwned>(
    db: &Database,
    table: TableDefinition<&str, &[u8]>,
    key: &str,
) -> Result<Option<T>, OpError> {
    let txn = db.begin_read()?;
    let table = txn.open_table(table)?;
    match redb::ReadableTable::get(&table, key)? {
        Some(raw) => Ok(Some(serde_json::from_slice(raw.value())?)),
        None => Ok(None),
    }
}

/// Writes records of one table in one durable transaction.
fn put_records(
    db: &Database,
    table: TableDefinition<&str, &[u8]>,
    records: &[(&str, &[u8])],
) -> Result<(), OpError> {
    let txn = db.begin_write()?;
    {
        let mut t = txn.open_table(table)?;
        for (key, value) in records {
            t.insert(*key, *value)?;
        }
    }
    txn.commit()?;
    Ok(())
}

/// Keeps `A` in the type of a store half without requiring anything of it.
type AppMarker<A> = PhantomData<fn() -> A>;

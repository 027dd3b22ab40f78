//! Persistent labs: what `ssinet-lab up` made, recorded under `/run/ssinet-lab/<name>/` so that
//! `status`, `exec` and `down` find it from another process, and the stale sweep leaves it be.
//!
//! Each lab's directory holds `lab.json` (a [`LabRecord`]) and the config files (`clustertab`,
//! `cvip.conf`, `lvs_routing`). `/run` is a tmpfs: after a reboot the namespaces and the records
//! are gone together.
use super::error::{NetnsError, Result, io_error};
use super::spec::LabSpec;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Where persistent labs are recorded.
pub const LABS_DIR: &str = "/run/ssinet-lab";

/// What `lab.json` holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LabRecord {
    /// The lab's name (`--name`).
    pub name: String,
    /// The prefix of all its namespaces: `ssl-<name>-`.
    pub prefix: String,
    /// What it was built from.
    pub spec: LabSpec,
    /// Every namespace it made (or was about to make: the record is written first).
    pub namespaces: Vec<String>,
    /// The process that created it.
    pub created_by_pid: u32,
}

impl LabRecord {
    /// The lab's directory: `lab.json` and the config files.
    pub fn dir(&self) -> PathBuf {
        lab_dir(&self.name)
    }
}

pub(crate) fn lab_dir(name: &str) -> PathBuf {
    Path::new(LABS_DIR).join(name)
}

/// Writes `record` to `<dir>/lab.json` atomically (write, then rename).
pub(crate) fn write(record: &LabRecord) -> Result<()> {
    let dir = record.dir();
    std::fs::create_dir_all(&dir).map_err(io_error("create", &dir))?;
    let json = serde_json::to_string_pretty(record).expect("a LabRecord always serialises");
    let partial = dir.join("lab.json.partial");
    std::fs::write(&partial, json).map_err(io_error("write", &partial))?;
    let path = dir.join("lab.json");
    std::fs::rename(&partial, &path).map_err(io_error("rename into", &path))
}

/// Reads the record of the lab `name`.
pub fn read(name: &str) -> Result<LabRecord> {
    let path = lab_dir(name).join("lab.json");
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            return Err(NetnsError::UnknownLab {
                name: name.to_owned(),
                dir: LABS_DIR.into(),
            });
        }
        Err(error) => return Err(io_error("read", &path)(error)),
    };
    serde_json::from_str(&text).map_err(|error| NetnsError::BadRecord {
        path,
        reason: error.to_string(),
    })
}

/// The names of all recorded labs, sorted. A directory without a readable record is listed too
/// (a crashed `up`), so that `down` can remove it.
pub fn list() -> Result<Vec<String>> {
    let entries = match std::fs::read_dir(LABS_DIR) {
        Ok(entries) => entries,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(error) => return Err(io_error("list", LABS_DIR)(error)),
    };
    let mut names: Vec<String> = entries
        .filter_map(|entry| {
            let entry = entry.ok()?;
            entry.file_type().ok()?.is_dir().then_some(())?;
            entry.file_name().into_string().ok()
        })
        .collect();
    names.sort();
    Ok(names)
}

/// Every namespace named by any record (the stale sweep skips these).
pub(crate) fn recorded_namespaces() -> Vec<String> {
    let Ok(names) = list() else { return Vec::new() };
    names
        .iter()
        .filter_map(|name| read(name).ok())
        .flat_map(|record| record.namespaces)
        .collect()
}

/// Removes a lab's directory (record and config files).
pub(crate) fn remove(name: &str) -> Result<()> {
    let dir = lab_dir(name);
    match std::fs::remove_dir_all(&dir) {
        Ok(()) => Ok(()),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(error) => Err(io_error("remove", &dir)(error)),
    }
}

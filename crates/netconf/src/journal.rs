//! What survives a restart: the ownership state (`state.json`) and, while a plan is being
//! applied, its journal (`journal.json`). Both are replaced atomically (write, fsync, rename).

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::NetconfError;
use crate::model::{NetConfig, OwnedAddress, TableKey};
use crate::plan::Step;

pub(crate) const STATE_FILE: &str = "state.json";
pub(crate) const JOURNAL_FILE: &str = "journal.json";

/// What ssinet owns beyond what the kernel's marks say.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct OwnedState {
    /// Routing tables allocated to CVIPs and the NAT return path.
    pub tables: Vec<(TableKey, u32)>,
    /// Each managed sysctl's value from before ssinet first changed it.
    pub sysctl_originals: BTreeMap<String, String>,
    /// Addresses ssinet holds; the only ownership record for IPv6 addresses on kernels without
    /// an address protocol.
    pub addresses: BTreeSet<OwnedAddress>,
    /// The desired state last applied, which the one-call conveniences extend.
    pub desired: NetConfig,
}

impl OwnedState {
    pub(crate) fn table_of(&self, key: &TableKey) -> Option<u32> {
        self.tables.iter().find(|(k, _)| k == key).map(|(_, t)| *t)
    }
}

/// A plan in progress. `started` steps have been begun (the last may or may not have reached
/// the kernel), `completed` have finished; `committed` means every step finished and only the
/// state file remains to be written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct JournalRecord {
    pub steps: Vec<Step>,
    pub started: usize,
    pub completed: usize,
    pub committed: bool,
    pub state_after: OwnedState,
}

pub(crate) fn write_atomic<T: Serialize>(
    dir: &Path,
    name: &str,
    value: &T,
) -> Result<(), NetconfError> {
    let path = dir.join(name);
    let tmp = dir.join(format!(".{name}.tmp"));
    let io = |what, source| NetconfError::StateIo {
        what,
        path: path.clone(),
        source,
    };
    let bytes = serde_json::to_vec_pretty(value).expect("state types serialize to JSON");
    let mut file = std::fs::File::create(&tmp).map_err(|e| io("creating", e))?;
    file.write_all(&bytes).map_err(|e| io("writing", e))?;
    file.sync_all().map_err(|e| io("syncing", e))?;
    std::fs::rename(&tmp, &path).map_err(|e| io("renaming into place", e))?;
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| io("syncing the directory of", e))?;
    Ok(())
}

pub(crate) fn read_json<T: for<'de> Deserialize<'de>>(
    path: &Path,
    what: &'static str,
) -> Result<Option<T>, NetconfError> {
    match std::fs::read(path) {
        Ok(bytes) => {
            serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|source| NetconfError::StateCorrupt {
                    what,
                    path: path.to_path_buf(),
                    source,
                })
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(NetconfError::StateIo {
            what: "reading",
            path: path.to_path_buf(),
            source,
        }),
    }
}

pub(crate) fn remove(path: PathBuf) -> Result<(), NetconfError> {
    match std::fs::remove_file(&path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(source) => Err(NetconfError::StateIo {
            what: "removing",
            path,
            source,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{RouteSpec, SysctlSetting};
    use proptest::prelude::*;
    use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

    fn sample() -> JournalRecord {
        let v4 = OwnedAddress::host(IpAddr::V4(Ipv4Addr::new(192, 168, 200, 10)), "eth1");
        let v6 = OwnedAddress::host(
            IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 10)),
            "lo",
        );
        let mut state = OwnedState::default();
        state.tables.push((TableKey::Cvip(v4.addr), 10_000));
        state
            .tables
            .push((TableKey::NatReturn { ipv6: false }, 10_001));
        state
            .sysctl_originals
            .insert("net/ipv4/ip_forward".into(), "0".into());
        state.addresses.insert(v6.clone());
        state.desired.sysctls.push(SysctlSetting::ip_forward());
        JournalRecord {
            steps: vec![
                Step::AddAddress(v4),
                Step::SetSysctl {
                    key: "net/ipv4/ip_forward".into(),
                    value: "1".into(),
                    previous: "0".into(),
                },
                Step::AddRoute(RouteSpec {
                    table: 10_000,
                    destination: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
                    prefix_len: 0,
                    gateway: Some(IpAddr::V4(Ipv4Addr::new(192, 168, 200, 1))),
                    ifname: "eth1".into(),
                }),
            ],
            started: 2,
            completed: 1,
            committed: false,
            state_after: state,
        }
    }

    #[test]
    fn journal_survives_a_round_trip_through_the_data_dir() {
        let dir = tempfile::tempdir().unwrap();
        let record = sample();
        write_atomic(dir.path(), JOURNAL_FILE, &record).unwrap();
        let back: JournalRecord = read_json(&dir.path().join(JOURNAL_FILE), "journal")
            .unwrap()
            .unwrap();
        assert_eq!(back, record);
        assert!(!dir.path().join(format!(".{JOURNAL_FILE}.tmp")).exists());
    }

    #[test]
    fn corrupt_file_is_named_in_the_error() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(STATE_FILE), b"{not json").unwrap();
        let err = read_json::<OwnedState>(&dir.path().join(STATE_FILE), "state file").unwrap_err();
        assert!(err.to_string().contains("state.json"), "{err}");
    }

    proptest! {
        #[test]
        fn steps_round_trip(key in "[a-z]{1,8}", value in "[0-9]{1,3}", previous in "[0-9]{1,3}") {
            let step = Step::SetSysctl { key, value, previous };
            let json = serde_json::to_string(&step).unwrap();
            let back: Step = serde_json::from_str(&json).unwrap();
            prop_assert_eq!(&back, &step);
            prop_assert_eq!(back.inverse().inverse(), step);
        }
    }
}

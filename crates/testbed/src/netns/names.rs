//! Unique namespace names, and the sweep that removes what a killed test run left behind.
//!
//! Every namespace a process creates starts with `ssl<pid>x<seq>-`, `<seq>` counting up within
//! the process, so parallel tests (threads or processes) never clash. A namespace whose `<pid>`
//! no longer runs was left by a run that could not clean up (SIGKILL, abort): the sweep deletes
//! it, after killing the processes still inside it. Persistent labs (`ssinet-lab up`) use
//! `ssl-<lab name>-` and are recorded, so the sweep never touches them.
use super::error::{NetnsError, Result};
use super::mount::{NETNS_RUN_DIR, delete_mount, path_of};
use super::records;
use std::os::unix::fs::MetadataExt as _;
use std::path::Path;
use std::sync::atomic::{AtomicU32, Ordering};

/// The prefix for the next namespace or lab of this process: `ssl<pid>x<seq>-`.
pub(crate) fn next_prefix() -> String {
    static SEQUENCE: AtomicU32 = AtomicU32::new(1);
    format!(
        "ssl{}x{}-",
        std::process::id(),
        SEQUENCE.fetch_add(1, Ordering::Relaxed)
    )
}

/// Labels and lab names: short, and safe in a path and an `ip` command line.
pub(crate) fn check_label(label: &str) -> Result<()> {
    let fine = (1..=40).contains(&label.len())
        && label
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
    if fine {
        Ok(())
    } else {
        Err(NetnsError::BadLabel {
            label: label.to_owned(),
        })
    }
}

/// The PID in a per-run name (`ssl<pid>x<seq>-...`), or None for any other name.
fn owner_pid(name: &str) -> Option<u32> {
    let rest = name.strip_prefix("ssl")?;
    let (pid, rest) = rest.split_once('x')?;
    let (seq, _) = rest.split_once('-')?;
    let numeric = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if numeric(pid) && numeric(seq) {
        pid.parse().ok()
    } else {
        None
    }
}

/// Runs [`sweep_stale`] once per process, before its first namespace is created.
pub(crate) fn sweep_once() {
    static SWEPT: std::sync::Once = std::sync::Once::new();
    SWEPT.call_once(|| match sweep_stale() {
        Ok(removed) if !removed.is_empty() => {
            tracing::info!(?removed, "removed namespaces left behind by dead test runs");
        }
        Ok(_) => {}
        Err(error) => tracing::warn!(%error, "could not sweep stale namespaces"),
    });
}

/// Deletes every `ssl<pid>x<seq>-*` namespace whose process is gone and that no persistent lab
/// records, killing the processes still inside it. Returns the names deleted.
pub fn sweep_stale() -> Result<Vec<String>> {
    let entries = match std::fs::read_dir(NETNS_RUN_DIR) {
        Ok(entries) => entries,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(error) => return Err(super::error::io_error("list", NETNS_RUN_DIR)(error)),
    };
    let recorded = records::recorded_namespaces();
    let stale: Vec<String> = entries
        .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
        .filter(|name| {
            owner_pid(name).is_some_and(|pid| !Path::new(&format!("/proc/{pid}")).exists())
        })
        .filter(|name| !recorded.contains(name))
        .collect();
    for name in &stale {
        kill_processes_inside(&path_of(name));
        delete_mount(&path_of(name))?;
    }
    Ok(stale)
}

/// SIGKILLs every process whose network namespace is the one pinned at `path`. Used only for
/// namespaces of our own dead runs: whatever runs in there, those runs started.
pub(crate) fn kill_processes_inside(path: &Path) {
    let Ok(pinned) = std::fs::metadata(path) else {
        return;
    };
    let Ok(processes) = std::fs::read_dir("/proc") else {
        return;
    };
    let me = std::process::id();
    for process in processes.filter_map(|entry| entry.ok()) {
        let Some(pid) = process
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(netns) = std::fs::metadata(process.path().join("ns/net")) else {
            continue;
        };
        // A pid is positive and at most the kernel's pid_max (2^22), so it fits a pid_t.
        if netns.dev() == pinned.dev()
            && netns.ino() == pinned.ino()
            && pid != me
            && let Ok(pid) = i32::try_from(pid)
        {
            let target = nix::unistd::Pid::from_raw(pid);
            let _ = nix::sys::signal::kill(target, nix::sys::signal::Signal::SIGKILL);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owner_pid_reads_only_per_run_names() {
        assert_eq!(owner_pid("ssl1234x7-n1"), Some(1234));
        assert_eq!(owner_pid("ssl1234x7-"), Some(1234));
        assert_eq!(owner_pid("ssl-demo-n1"), None);
        assert_eq!(owner_pid("sslx7-n1"), None);
        assert_eq!(owner_pid("ssl12x-n1"), None);
        assert_eq!(owner_pid("myns"), None);
    }

    #[test]
    fn prefixes_are_unique_within_a_process() {
        assert_ne!(next_prefix(), next_prefix());
    }

    #[test]
    fn labels_are_checked() {
        assert!(check_label("peer-1_a").is_ok());
        assert!(check_label("").is_err());
        assert!(check_label("Peer").is_err());
        assert!(check_label("a/b").is_err());
        assert!(check_label(&"a".repeat(41)).is_err());
    }
}

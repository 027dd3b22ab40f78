//! What `/proc` says about a process the benchmarks started: its CPU time, its resident memory,
//! its children and the members of its process group. Read-only; nothing here signals anything.
use std::path::Path;
use std::time::Duration;

/// The fields of `/proc/PID/stat` after the command name (which may hold spaces and parens):
/// index 0 is field 3 (`state`) of proc(5).
fn stat_fields(pid: u32) -> std::io::Result<Vec<String>> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    let rest = text
        .rsplit_once(')')
        .map(|(_, rest)| rest)
        .ok_or_else(|| std::io::Error::other(format!("/proc/{pid}/stat has no command name")))?;
    Ok(rest.split_whitespace().map(str::to_owned).collect())
}

fn field(fields: &[String], number: usize) -> std::io::Result<u64> {
    fields
        .get(number - 3)
        .and_then(|value| value.parse().ok())
        .ok_or_else(|| {
            std::io::Error::other(format!("no numeric field {number} in /proc/PID/stat"))
        })
}

/// `utime + stime` of process `pid`, in clock ticks ([`clock_tick`]).
pub fn cpu_ticks(pid: u32) -> std::io::Result<u64> {
    let fields = stat_fields(pid)?;
    Ok(field(&fields, 14)? + field(&fields, 15)?)
}

/// The length of one clock tick (`sysconf(_SC_CLK_TCK)`, 100 Hz on Linux).
pub fn clock_tick() -> Duration {
    // SAFETY: sysconf only reads a constant of the C library.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    let hz = u64::try_from(hz).ok().filter(|hz| *hz > 0).unwrap_or(100);
    Duration::from_nanos(1_000_000_000 / hz)
}

/// CPU time of process `pid` so far (user and system).
pub fn cpu_time(pid: u32) -> std::io::Result<Duration> {
    let ticks = u32::try_from(cpu_ticks(pid)?).unwrap_or(u32::MAX);
    Ok(clock_tick() * ticks)
}

/// `VmRSS` of process `pid`, in KiB.
pub fn rss_kib(pid: u32) -> std::io::Result<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    text.lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|value| value.split_whitespace().next()?.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("no VmRSS in /proc/{pid}/status")))
}

/// The command name of process `pid` (`/proc/PID/comm`).
pub fn comm(pid: u32) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/comm"))
        .map(|text| text.trim().to_owned())
        .unwrap_or_default()
}

/// The direct children of process `pid` (every thread's `children` list).
pub fn children(pid: u32) -> Vec<u32> {
    let mut found = Vec::new();
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return found;
    };
    for task in tasks.flatten() {
        let text = std::fs::read_to_string(task.path().join("children")).unwrap_or_default();
        found.extend(
            text.split_whitespace()
                .filter_map(|pid| pid.parse::<u32>().ok()),
        );
    }
    found.sort_unstable();
    found.dedup();
    found
}

/// Every live process whose process group is `group`, in PID order.
pub fn process_group(group: u32) -> Vec<u32> {
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return found;
    };
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|name| name.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(fields) = stat_fields(pid) else {
            continue;
        };
        // A zombie is no longer running anything; it only waits for its parent.
        let zombie = fields.first().is_some_and(|state| state == "Z");
        if !zombie && field(&fields, 5).ok() == Some(u64::from(group)) {
            found.push(pid);
        }
    }
    found.sort_unstable();
    found
}

/// Whether `/proc/PID` exists.
pub fn exists(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_has_cpu_time_memory_and_a_group() {
        let me = std::process::id();
        assert!(rss_kib(me).unwrap() > 0);
        let spin = std::time::Instant::now();
        while spin.elapsed() < Duration::from_millis(50) {
            std::hint::black_box(spin.elapsed());
        }
        assert!(cpu_time(me).unwrap() > Duration::ZERO);
        // SAFETY: getpgrp has no preconditions.
        let group = u32::try_from(unsafe { libc::getpgrp() }).unwrap();
        assert!(process_group(group).contains(&me));
        assert!(exists(me));
        assert!(!comm(me).is_empty());
        let child = std::process::Command::new("sleep").arg("5").spawn();
        let mut child = child.unwrap();
        assert!(children(me).contains(&child.id()));
        child.kill().unwrap();
        child.wait().unwrap();
    }
}

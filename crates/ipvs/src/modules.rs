//! Loading IPVS and its schedulers before the first service is programmed.
//!
//! The kernel loads a missing scheduler module on demand, but it does so while holding IPVS's
//! global mutex; `lblc`/`lblcr` then wait for any namespace teardown in progress, which waits
//! for that mutex: a kernel deadlock seen in our VM tests. Loading every configured scheduler
//! up front, outside that mutex, avoids it.

use std::process::Command;

use crate::message::Scheduler;

/// The module that implements `scheduler` (`ip_vs_mh` for `mh`).
pub fn scheduler_module(scheduler: &Scheduler) -> String {
    format!("ip_vs_{}", scheduler.name())
}

/// What [`load`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModuleReport {
    /// IPVS answers in this kernel (built in or loaded): its `/proc/net/ip_vs` exists.
    pub ipvs_present: bool,
    /// Modules `modprobe` could not load, with its message (none when they are built in).
    pub failed: Vec<(String, String)>,
}

/// Runs `modprobe` for `ip_vs` and every scheduler's module, then reports whether IPVS is
/// there. A kernel without module support (or with IPVS built in) makes modprobe fail
/// harmlessly; only `ipvs_present` says whether IPVS can be used.
pub fn load(schedulers: &[Scheduler]) -> ModuleReport {
    let mut modules = vec!["ip_vs".to_string()];
    for scheduler in schedulers {
        let module = scheduler_module(scheduler);
        if !modules.contains(&module) {
            modules.push(module);
        }
    }
    let mut failed = Vec::new();
    for module in modules {
        match Command::new("modprobe").arg("-q").arg(&module).output() {
            Ok(out) if out.status.success() => {}
            Ok(out) => failed.push((
                module,
                String::from_utf8_lossy(&out.stderr).trim().to_string(),
            )),
            Err(e) => failed.push((module, format!("cannot run modprobe: {e}"))),
        }
    }
    ModuleReport {
        ipvs_present: std::path::Path::new("/proc/net/ip_vs").exists(),
        failed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn module_names_follow_the_scheduler() {
        assert_eq!(scheduler_module(&Scheduler::Maglev), "ip_vs_mh");
        assert_eq!(
            scheduler_module(&Scheduler::WeightedRoundRobin),
            "ip_vs_wrr"
        );
    }
}

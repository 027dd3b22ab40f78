//! The manager: plans against the kernel, applies with a journal, rolls back, recovers.

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use tracing::{info, warn};

use crate::error::{ApplyError, NetconfError};
use crate::journal::{self, JOURNAL_FILE, JournalRecord, OwnedState, STATE_FILE};
use crate::kernel::{Kernel, Link, errno};
use crate::model::{NetConfig, OwnedAddress};
use crate::plan::{Observed, Plan, Step, compute_plan};
use crate::sysctl::SysctlKey;

/// What an apply changed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Applied {
    pub steps: Vec<Step>,
}

impl Applied {
    /// Whether the kernel was changed at all.
    pub fn changed(&self) -> bool {
        !self.steps.is_empty()
    }
}

/// How a step is executed: forward (strict), or undoing a journaled step (already-undone is
/// fine). `certain` says the journal shows the step finished, rather than merely started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Forward,
    Undo { certain: bool },
}

/// The node's network configuration manager. Create it on the thread (and so in the network
/// namespace) it is to manage, inside a tokio runtime.
#[derive(Debug)]
pub struct Manager {
    data_dir: PathBuf,
    kernel: Kernel,
    state: OwnedState,
    generation: u64,
}

impl Manager {
    /// Opens the data directory (creating it), loads the ownership state and, when a previous
    /// process died in the middle of an apply, finishes a committed change or rolls back an
    /// unfinished one.
    pub async fn open(data_dir: impl Into<PathBuf>) -> Result<Self, NetconfError> {
        let data_dir = data_dir.into();
        std::fs::create_dir_all(&data_dir).map_err(|source| NetconfError::StateIo {
            what: "creating the data directory",
            path: data_dir.clone(),
            source,
        })?;
        let state =
            journal::read_json(&data_dir.join(STATE_FILE), "state file")?.unwrap_or_default();
        let mut manager = Self {
            data_dir,
            kernel: Kernel::connect()?,
            state,
            generation: 0,
        };
        if let Some(record) =
            journal::read_json::<JournalRecord>(&manager.journal_path(), "journal")?
        {
            manager.recover(record).await?;
        }
        Ok(manager)
    }

    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// The desired state last applied.
    pub fn desired(&self) -> &NetConfig {
        &self.state.desired
    }

    /// The routing table allocated to a CVIP's policy routing, if it has one.
    pub fn table_of(&self, cvip: IpAddr) -> Option<u32> {
        self.state.table_of(&crate::TableKey::Cvip(cvip))
    }

    fn journal_path(&self) -> PathBuf {
        self.data_dir.join(JOURNAL_FILE)
    }

    async fn recover(&mut self, record: JournalRecord) -> Result<(), NetconfError> {
        if record.committed {
            journal::write_atomic(&self.data_dir, STATE_FILE, &record.state_after)?;
            self.state = record.state_after;
            info!(
                steps = record.steps.len(),
                "completed a committed network change interrupted by a crash"
            );
        } else {
            let started = record.started.min(record.steps.len());
            for index in (0..started).rev() {
                let step = &record.steps[index];
                let undo = step.inverse();
                let certain = index < record.completed;
                self.execute(&undo, Mode::Undo { certain })
                    .await
                    .map_err(|e| NetconfError::Recovery {
                        index,
                        step: step.to_string(),
                        source: Box::new(e),
                    })?;
            }
            info!(
                undone = started,
                "rolled back a network change interrupted by a crash"
            );
        }
        self.generation += 1;
        journal::remove(self.journal_path())
    }

    async fn observe(&self) -> Result<Observed, NetconfError> {
        let links = self.kernel.links().await?;
        let addresses = self.kernel.addresses(&links).await?;
        let routes = self.kernel.routes(&links).await?;
        let owned_rules = self.kernel.owned_rules().await?;
        Ok(Observed {
            links,
            addresses,
            owned_routes: routes.owned,
            connected: routes.connected,
            tables_in_use: routes.tables_in_use,
            owned_rules,
        })
    }

    /// Validates `desired` and computes the steps from what the kernel holds now. Nothing is
    /// changed; an invalid desired state is refused here with the offending field and value.
    pub async fn plan(&self, desired: &NetConfig) -> Result<Plan, NetconfError> {
        let observed = self.observe().await?;
        compute_plan(
            desired,
            &observed,
            &self.state,
            self.generation,
            &|key: &SysctlKey| key.read(),
        )
    }

    /// Applies a plan step by step, journaling each step before it runs. On a failure the
    /// applied steps are undone in reverse order and the node is as it was before.
    pub async fn apply(&mut self, plan: Plan) -> Result<Applied, ApplyError> {
        if plan.generation != self.generation {
            return Err(ApplyError::Stale);
        }
        let Plan {
            steps, state_after, ..
        } = plan;
        if steps.is_empty() {
            if state_after != self.state {
                journal::write_atomic(&self.data_dir, STATE_FILE, &state_after)
                    .map_err(ApplyError::Journal)?;
                self.state = state_after;
                self.generation += 1;
            }
            return Ok(Applied::default());
        }
        let mut record = JournalRecord {
            steps,
            started: 0,
            completed: 0,
            committed: false,
            state_after,
        };
        for index in 0..record.steps.len() {
            record.started = index + 1;
            record.completed = index;
            let outcome = match journal::write_atomic(&self.data_dir, JOURNAL_FILE, &record) {
                Ok(()) => self.execute(&record.steps[index], Mode::Forward).await,
                Err(e) => Err(e),
            };
            match outcome {
                Ok(()) => info!(step = %record.steps[index], "applied"),
                Err(source) => return Err(self.roll_back(&record.steps, index, source).await),
            }
            #[cfg(any(test, feature = "fault-injection"))]
            fault_injection::pause_if_requested(index);
        }
        record.completed = record.steps.len();
        record.committed = true;
        let commit = journal::write_atomic(&self.data_dir, JOURNAL_FILE, &record)
            .and_then(|()| journal::write_atomic(&self.data_dir, STATE_FILE, &record.state_after));
        if let Err(source) = commit {
            let failed = record.steps.len() - 1;
            return Err(self.roll_back(&record.steps, failed + 1, source).await);
        }
        self.state = record.state_after;
        self.generation += 1;
        journal::remove(self.journal_path()).map_err(ApplyError::Journal)?;
        Ok(Applied {
            steps: record.steps,
        })
    }

    /// Undoes `steps[..failed]` in reverse and builds the error for the step that failed.
    async fn roll_back(
        &mut self,
        steps: &[Step],
        failed: usize,
        source: NetconfError,
    ) -> ApplyError {
        warn!(step = failed, error = %source, "network change failed; rolling back");
        let mut rollback_failures = Vec::new();
        for step in steps[..failed].iter().rev() {
            if let Err(e) = self
                .execute(&step.inverse(), Mode::Undo { certain: true })
                .await
            {
                warn!(step = %step, error = %e, "could not undo");
                rollback_failures.push((step.clone(), e));
            }
        }
        if rollback_failures.is_empty()
            && let Err(e) = journal::remove(self.journal_path())
        {
            warn!(error = %e, "could not remove the journal; the next start will roll back again");
        }
        self.generation += 1;
        let index = failed.min(steps.len().saturating_sub(1));
        ApplyError::Step {
            index,
            step: steps[index].clone(),
            source,
            rollback_failures,
        }
    }

    /// Plans and applies in one call: the level-triggered entry point for the agent.
    pub async fn reconcile(&mut self, desired: &NetConfig) -> Result<Applied, NetconfError> {
        let plan = self.plan(desired).await?;
        self.apply(plan)
            .await
            .map_err(|e| NetconfError::Apply(Box::new(e)))
    }

    /// Lets go of `cvip` (address and its policy routing): the last applied desired state
    /// without it, reconciled. The fence guard releases a dead agent's CVIPs so.
    pub async fn release_cvip(&mut self, cvip: IpAddr) -> Result<Applied, NetconfError> {
        let mut desired = self.desired().clone();
        desired.addresses.retain(|a| a.addr != cvip);
        desired.cvip_routes.retain(|r| r.cvip != cvip);
        self.reconcile(&desired).await
    }

    /// The interface that holds `addr` (any owner), e.g. the interconnect interface from the
    /// node's clustertab address; `None` when no interface has it.
    pub async fn interface_holding(&self, addr: IpAddr) -> Result<Option<String>, NetconfError> {
        let links = self.kernel.links().await?;
        Ok(self
            .kernel
            .addresses(&links)
            .await?
            .into_iter()
            .find(|a| a.address.addr == addr)
            .map(|a| a.address.ifname))
    }

    pub(crate) async fn link(&self, ifname: &str) -> Result<Option<Link>, NetconfError> {
        Ok(self
            .kernel
            .links()
            .await?
            .into_iter()
            .find(|l| l.name == ifname))
    }

    pub(crate) async fn require_link(
        &self,
        field: &'static str,
        ifname: &str,
    ) -> Result<Link, NetconfError> {
        self.link(ifname)
            .await?
            .ok_or_else(|| NetconfError::UnknownInterface {
                field,
                ifname: ifname.to_string(),
            })
    }

    async fn execute(&mut self, step: &Step, mode: Mode) -> Result<(), NetconfError> {
        let undo = matches!(mode, Mode::Undo { .. });
        let tolerate = |result: Result<(), NetconfError>, harmless: &[i32]| match result {
            Err(e) if undo && errno(&e).is_some_and(|n| harmless.contains(&n)) => Ok(()),
            other => other,
        };
        let gone = [libc::ESRCH, libc::ENOENT, libc::EADDRNOTAVAIL, libc::ENODEV];
        match step {
            Step::AddAddress(a) => {
                let link = self.require_link("addresses.ifname", &a.ifname).await?;
                tolerate(
                    self.kernel.add_address(a, link.index).await,
                    &[libc::EEXIST],
                )
            }
            Step::RemoveAddress(a) => {
                let Some(link) = self.link(&a.ifname).await? else {
                    // The address went with its interface.
                    return if undo {
                        Ok(())
                    } else {
                        Err(NetconfError::UnknownInterface {
                            field: "addresses.ifname",
                            ifname: a.ifname.clone(),
                        })
                    };
                };
                if mode == (Mode::Undo { certain: false }) && !self.marked_as_ours(a, &link).await?
                {
                    // The add may never have reached the kernel; what is there is not ours.
                    return Ok(());
                }
                tolerate(self.kernel.del_address(a, link.index).await, &gone)
            }
            Step::SetSysctl { key, value, .. } => match SysctlKey::parse(key)?.write(value) {
                Err(NetconfError::SysctlMissing { .. }) if undo => Ok(()),
                other => other,
            },
            Step::AddRoute(r) => {
                let link = self.require_link("routes.ifname", &r.ifname).await?;
                tolerate(self.kernel.add_route(r, link.index).await, &[libc::EEXIST])
            }
            Step::RemoveRoute(r) => {
                let index = self.link(&r.ifname).await?.map(|l| l.index);
                tolerate(self.kernel.del_route(r, index).await, &gone)
            }
            Step::AddRule(r) => tolerate(self.kernel.add_rule(r).await, &[libc::EEXIST]),
            Step::RemoveRule(r) => tolerate(self.kernel.del_rule(r).await, &gone),
        }
    }

    /// Whether `a` is on `link` with ssinet's mark (IPv4 deletes carry the label, so the kernel
    /// itself refuses to delete a foreign IPv4 address).
    async fn marked_as_ours(&self, a: &OwnedAddress, link: &Link) -> Result<bool, NetconfError> {
        if a.addr.is_ipv4() {
            return Ok(true);
        }
        let addresses = self.kernel.addresses(std::slice::from_ref(link)).await?;
        Ok(addresses
            .iter()
            .any(|o| &o.address == a && o.protocol == Some(crate::OWNER_PROTOCOL)))
    }
}

#[cfg(any(test, feature = "fault-injection"))]
mod fault_injection {
    /// Env var: the index of the step after which `apply` stops (for crash tests).
    pub const PAUSE_AFTER_STEP: &str = "SSINET_NETCONF_PAUSE_AFTER_STEP";
    /// Env var: a file created once paused, so the test knows when to kill.
    pub const PAUSE_MARKER: &str = "SSINET_NETCONF_PAUSE_MARKER";

    pub(super) fn pause_if_requested(index: usize) {
        let wanted = std::env::var(PAUSE_AFTER_STEP)
            .ok()
            .and_then(|v| v.parse::<usize>().ok());
        if wanted != Some(index) {
            return;
        }
        if let Ok(marker) = std::env::var(PAUSE_MARKER) {
            let _ = std::fs::write(marker, index.to_string());
        }
        tracing::warn!(
            index,
            "fault injection: paused between two steps, waiting to be killed"
        );
        loop {
            std::thread::park();
        }
    }
}

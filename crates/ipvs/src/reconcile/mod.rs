//! Level-triggered reconciliation of the kernel's IPVS table: read the owned part, plan the
//! minimal changes, apply them pipelined, remember which destinations are draining.

mod plan;

pub use plan::{Change, DrainState, KernelTable, Plan, PlanOptions, plan};

use std::time::Instant;

use crate::client::IpvsClient;
use crate::desired::{DesiredTable, Ownership};
use crate::error::IpvsError;

/// What one run did.
#[derive(Debug, Default)]
pub struct RunReport {
    /// Changes sent to the kernel.
    pub changes: usize,
    /// Changes the kernel refused, each naming its service or destination.
    pub failures: Vec<IpvsError>,
    /// Run again at this time to finish draining destinations.
    pub next_run: Option<Instant>,
}

/// Reads the owned services and their destinations (foreign services' destinations are not
/// even read).
pub async fn read_owned(
    client: &mut IpvsClient,
    owned: &Ownership,
) -> Result<KernelTable, IpvsError> {
    let mut table = KernelTable::new();
    for entry in client.services().await? {
        let key = entry.service.key;
        if !owned.owns(&key) {
            continue;
        }
        let dests = client
            .destinations(&key)
            .await?
            .into_iter()
            .map(|e| e.dest)
            .collect();
        table.insert(key, (entry.service, dests));
    }
    Ok(table)
}

/// Keeps the drain bookkeeping between runs; one per IPVS table (network namespace).
#[derive(Debug, Default)]
pub struct Reconciler {
    pub options: PlanOptions,
    draining: DrainState,
}

impl Reconciler {
    pub fn new(options: PlanOptions) -> Reconciler {
        Reconciler {
            options,
            draining: DrainState::new(),
        }
    }

    /// Destinations currently drained, and since when.
    pub fn draining(&self) -> &DrainState {
        &self.draining
    }

    /// Brings the owned part of the kernel's table to `desired`; services outside `owned` are
    /// never touched. Kernel refusals are collected in the report rather than stopping the run,
    /// so one bad destination does not hold back the rest.
    pub async fn run(
        &mut self,
        client: &mut IpvsClient,
        desired: &DesiredTable,
        owned: &Ownership,
    ) -> Result<RunReport, IpvsError> {
        owned.check(desired)?;
        let current = read_owned(client, owned).await?;
        let plan = plan(
            &current,
            desired,
            owned,
            &self.draining,
            self.options,
            Instant::now(),
        );
        let report = self.apply(client, plan).await?;
        Ok(report)
    }

    /// Applies a plan computed elsewhere (e.g. from a cached table) and keeps its drain state.
    pub async fn apply(
        &mut self,
        client: &mut IpvsClient,
        plan: Plan,
    ) -> Result<RunReport, IpvsError> {
        let messages: Vec<_> = plan.changes.iter().map(Change::to_message).collect();
        for c in &plan.changes {
            tracing::debug!(change = ?c, "IPVS change");
        }
        let results = client.execute(&messages).await?;
        let failures: Vec<IpvsError> = results.into_iter().filter_map(Result::err).collect();
        for f in &failures {
            tracing::warn!(error = %f, "IPVS change refused");
        }
        if !messages.is_empty() {
            tracing::info!(
                changes = messages.len(),
                failed = failures.len(),
                draining = plan.draining.len(),
                "IPVS table reconciled"
            );
        }
        self.draining = plan.draining;
        Ok(RunReport {
            changes: messages.len(),
            failures,
            next_run: plan.next_run,
        })
    }
}

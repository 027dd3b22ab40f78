//! The data plane of every role (director, standby, real server): the controller makes the
//! kernel hold what this node's role asks for (CVIPs on the director's external interface or on
//! `lo`, NAT routing, IPVS services and the connection sync daemon), level-triggered, on a thread
//! of its own so admin or Raft load never delays a fence release. `desired` computes what to
//! hold (every rule), `apply` brings the kernel there.

mod apply;
pub mod desired;
pub mod fence;
pub mod guard;
pub mod health;
pub mod link;
mod tcp_check;

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ssinet_api::ClusterState;
use ssinet_api::dataplane::{DataPlaneRole, DataPlaneStatus};
use ssinet_config::NodeId;
use ssinet_raft::AppliedState;
use ssinet_raft::types::Metrics;
use tokio::sync::watch;

use crate::peers::PeerTable;
use apply::Kernel;
use desired::{Local, NodeDesired, Serving, desired};
use fence::{Fence, LeaderView};
use health::Health;

/// How often the controller re-reads the kernel even when nothing changed (drift repair).
const RESYNC_EVERY: Duration = Duration::from_millis(500);
/// The longest the controller sleeps between fence checks.
const TICK: Duration = Duration::from_millis(50);
/// Gratuitous ARPs per claim or term change, and their spacing.
const GARP_COUNT: u32 = 5;
const GARP_SPACING: Duration = Duration::from_millis(200);
/// The longest one pass over the kernel may take. Past it the pass is abandoned and retried,
/// so a kernel call that never answers cannot keep a director from releasing the CVIPs.
const APPLY_TIMEOUT: Duration = Duration::from_secs(5);

/// What the controller reads and where it reports.
pub struct DataPlane {
    pub node: NodeId,
    /// The node's clustertab (interconnect) address, to find the interconnect interface.
    pub own_ip: IpAddr,
    /// Holds `netconf/` (ownership state and journal) and the IPVS ownership list.
    pub data_dir: PathBuf,
    pub release: Duration,
    pub metrics: watch::Receiver<Metrics>,
    pub state: watch::Receiver<Arc<AppliedState<ClusterState>>>,
    pub peers: PeerTable,
    pub status: watch::Sender<DataPlaneStatus>,
    /// Whether this node could serve as director now (its external links), for the election
    /// driver.
    pub eligible: watch::Sender<bool>,
    pub stop: watch::Receiver<bool>,
}

impl DataPlane {
    /// Runs the controller on its own thread with its own runtime until `stop` turns true; on
    /// stop a director lets go of its external addresses first.
    pub fn spawn(self) -> std::io::Result<std::thread::JoinHandle<()>> {
        std::thread::Builder::new()
            .name("data-plane".into())
            .spawn(move || {
                let runtime = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(runtime) => runtime,
                    Err(e) => {
                        tracing::error!(error = %e, "data plane: cannot start its runtime");
                        return;
                    }
                };
                runtime.block_on(self.run());
            })
    }

    async fn run(mut self) {
        let node = self.node;
        let mut fence = Fence::new(self.release, Instant::now());
        let mut kernel = loop {
            match Kernel::open(&self.data_dir, self.own_ip).await {
                Ok(kernel) => break kernel,
                Err(e) => {
                    self.report_error(format!("{e:#}"));
                    tracing::warn!(node = node.0, error = %format!("{e:#}"), "data plane cannot start; retrying");
                    if self
                        .sleep_or_stop(Duration::from_secs(1), &mut fence, false)
                        .await
                    {
                        return;
                    }
                }
            }
        };
        let started = Instant::now();
        let mut health = Health::default();
        let mut last: Option<NodeDesired> = None;
        let mut next_resync = started;
        let mut announcer = Announcer::default();
        let mut links = link::LinkMonitor::default();
        let mut link_down = std::collections::BTreeMap::new();
        let tcp_check = tcp_check::TcpCheck::default();
        fence.observe(LeaderView::of(&self.metrics.borrow_and_update()), started);
        loop {
            let now = Instant::now();
            // Only a new publication moves the fence's clock: openraft publishes on every
            // event (a leader's with each acknowledgement), so metrics that stop changing mean
            // a stalled or frozen Raft core, and the fence ages them until it releases.
            if self.metrics.has_changed().unwrap_or(false) {
                let m = self.metrics.borrow_and_update();
                fence.observe(LeaderView::of(&m), now);
            }
            if *self.stop.borrow() {
                break;
            }
            let applied = self.state.borrow_and_update().clone();
            let state = &applied.state;
            if state.is_empty() {
                // Nothing replicated yet: leave the kernel as it is (a restart adopts it).
                if self.sleep_or_stop(TICK, &mut fence, false).await {
                    break;
                }
                continue;
            }
            let reachable: Vec<NodeId> = self
                .peers
                .read()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .iter()
                .filter(|(_, report)| report.is_some())
                .map(|(id, _)| *id)
                .collect();
            health.observe(reachable, now);
            let verdict = links.check(kernel.net(), state, node, now).await;
            if verdict.down != link_down {
                if verdict.healthy() {
                    tracing::info!(
                        node = node.0,
                        "external links serve again: eligible to direct"
                    );
                } else {
                    tracing::warn!(node = node.0, down = ?verdict.down, "external link cannot serve: not eligible to direct");
                }
                link_down.clone_from(&verdict.down);
            }
            self.eligible.send_if_modified(|e| {
                let changed = *e != verdict.healthy();
                *e = verdict.healthy();
                changed
            });
            let role = desired::role(
                &state.config,
                node,
                fence.may_hold(now) && verdict.healthy(),
            );
            // The guard's lease: what the fence allows while directing; once not directing,
            // anything still held must go now if the agent stalls before removing it.
            let lease = match role {
                DataPlaneRole::Director => fence.expires_at(),
                _ if kernel.holds_external() => Some(now),
                _ => None,
            };
            kernel.renew_lease(lease);
            let registered: BTreeSet<NodeId> = state.listeners.keys().map(|k| k.node).collect();
            let check = state.config.cvip_conf.health_check();
            // Only a node that keeps a table checks ports.
            tcp_check.keep(state, check.tcp_check && role != DataPlaneRole::RealServer);
            let serving = Serving {
                nodes: health.serving(node, registered, &check, started, now),
                failing_tcp: tcp_check.failing(check.failures_before_drain),
            };
            let local = Local {
                node,
                interconnect_if: kernel.interconnect_if.clone(),
                ipvs: kernel.ipvs_present(),
            };
            let want = desired(state, &local, role, &serving);
            if last.as_ref().map(|d| d.role) != Some(role) {
                tracing::info!(
                    node = node.0,
                    term = fence.term(),
                    role = role.as_str(),
                    "data plane role"
                );
            }
            if last.as_ref() != Some(&want) || now >= next_resync {
                let result = apply_in_time(&mut kernel, &want).await;
                self.publish(&want, &kernel, result.as_ref().err(), &link_down);
                match result {
                    Ok(()) => {
                        announcer.plan(&want.announced, fence.term(), now);
                        last = Some(want);
                    }
                    Err(e) => {
                        // Retried on the next tick; `last` stays unset so the next pass re-plans.
                        tracing::warn!(node = node.0, term = fence.term(), error = %format!("{e:#}"), "data plane: cannot apply");
                        last = None;
                    }
                }
                next_resync = now + RESYNC_EVERY;
            }
            announcer.send_due(&kernel, Instant::now()).await;
            let mut wake = TICK;
            if let Some(expiry) = fence.expires_at() {
                wake = wake.min(expiry.saturating_duration_since(Instant::now()));
            }
            let directing = last
                .as_ref()
                .is_some_and(|d| d.role == DataPlaneRole::Director);
            if self.sleep_or_stop(wake, &mut fence, directing).await {
                break;
            }
        }
        // Shutting down: a director gives up its external addresses so a successor can claim
        // them; real-server state stays so a restart does not flap it.
        if let Some(last) = last
            && last.role == DataPlaneRole::Director
        {
            let applied = self.state.borrow().clone();
            let local = Local {
                node,
                interconnect_if: kernel.interconnect_if.clone(),
                ipvs: kernel.ipvs_present(),
            };
            let serving = Serving {
                nodes: applied.state.listeners.keys().map(|k| k.node).collect(),
                failing_tcp: BTreeSet::new(),
            };
            let standby = desired(&applied.state, &local, DataPlaneRole::Standby, &serving);
            match apply_in_time(&mut kernel, &standby).await {
                Ok(()) => tracing::info!(node = node.0, "released the CVIPs on shutdown"),
                Err(e) => {
                    tracing::warn!(node = node.0, error = %format!("{e:#}"), "cannot release the CVIPs on shutdown")
                }
            }
        }
        kernel.close();
    }

    /// Sleeps `d` or until the state, stop, or metrics that matter change; true when asked to
    /// stop. Every metrics publication goes to the fence here (`changed()` marks it seen, so
    /// the loop's own `has_changed()` would miss it). A directing node wakes for each one (its
    /// pass renews the guard's lease from the fresh acknowledgement); any other node only when
    /// the leader, the term or its right to hold changed, not for every append-entries.
    async fn sleep_or_stop(&mut self, d: Duration, fence: &mut Fence, directing: bool) -> bool {
        let deadline = tokio::time::Instant::now() + d;
        loop {
            tokio::select! {
                () = tokio::time::sleep_until(deadline) => break,
                r = self.metrics.changed() => {
                    if r.is_err() {
                        break;
                    }
                    let view = LeaderView::of(&self.metrics.borrow_and_update());
                    if fence.observe_changes_role(view, Instant::now()) || directing {
                        break;
                    }
                }
                _ = self.state.changed() => break,
                _ = self.stop.changed() => break,
            }
        }
        *self.stop.borrow()
    }

    fn report_error(&self, error: String) {
        self.status.send_modify(|s| s.error = Some(error));
    }

    fn publish(
        &self,
        want: &NodeDesired,
        kernel: &Kernel,
        error: Option<&anyhow::Error>,
        link_down: &std::collections::BTreeMap<String, String>,
    ) {
        let status = DataPlaneStatus {
            role: want.role,
            ipvs_present: kernel.ipvs_present(),
            external: want.announced.iter().map(|(addr, _)| *addr).collect(),
            services: want.ipvs.as_ref().map_or(0, |i| i.table.len()),
            error: error.map(|e| format!("{e:#}")),
            link_down: link_down.clone(),
        };
        self.status.send_if_modified(|s| {
            let changed = *s != status;
            *s = status;
            changed
        });
    }
}

/// [`Kernel::apply`] bounded by [`APPLY_TIMEOUT`]; a pass that overran is an error naming the
/// step it was stuck in.
async fn apply_in_time(kernel: &mut Kernel, want: &NodeDesired) -> anyhow::Result<()> {
    match tokio::time::timeout(APPLY_TIMEOUT, kernel.apply(want)).await {
        Ok(result) => result,
        Err(_) => {
            let step = kernel.step;
            kernel.reset_ipvs().await;
            anyhow::bail!("the kernel did not answer within {APPLY_TIMEOUT:?} while {step}")
        }
    }
}

/// Gratuitous ARP bursts: one per newly held external address and again on every term change,
/// sent one frame per tick so the controller never sleeps inside a burst.
#[derive(Default)]
struct Announcer {
    /// (address, interface) -> term announced for.
    announced: std::collections::BTreeMap<(IpAddr, String), u64>,
    /// (address, interface, frames left, next send).
    due: Vec<(IpAddr, String, u32, Instant)>,
}

impl Announcer {
    fn plan(&mut self, held: &[(IpAddr, String)], term: u64, now: Instant) {
        self.announced
            .retain(|key, _| held.iter().any(|(a, i)| (a, i) == (&key.0, &key.1)));
        self.due
            .retain(|(a, i, _, _)| held.iter().any(|(ha, hi)| ha == a && hi == i));
        for (addr, ifname) in held {
            let key = (*addr, ifname.clone());
            if self.announced.get(&key) != Some(&term) {
                self.announced.insert(key, term);
                self.due.retain(|(a, i, _, _)| !(a == addr && i == ifname));
                self.due.push((*addr, ifname.clone(), GARP_COUNT, now));
            }
        }
    }

    async fn send_due(&mut self, kernel: &Kernel, now: Instant) {
        for entry in &mut self.due {
            if entry.3 <= now && entry.2 > 0 {
                kernel.announce(entry.0, &entry.1).await;
                entry.2 -= 1;
                entry.3 = now + GARP_SPACING;
            }
        }
        self.due.retain(|e| e.2 > 0);
    }
}

//! The kernel side of the controller: netconf for addresses, routes and sysctls; the IPVS
//! reconciler for services; the sync daemons; the fence guard told before any external address
//! appears.

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use ssinet_ipvs::{IpvsClient, Ownership, PlanOptions, Reconciler, SyncDaemon};
use ssinet_netconf::{GarpBurst, Manager};

use super::desired::NodeDesired;
use super::guard::FenceGuard;

/// IPVS services on these addresses were programmed by this agent at some time; kept across
/// restarts so a CVIP removed from the configuration still has its services cleaned up.
const OWNED_FILE: &str = "ipvs-owned.json";

pub struct Kernel {
    net: Manager,
    ipvs: Option<Ipvs>,
    guard: Option<FenceGuard>,
    pub interconnect_if: String,
    /// What [`Kernel::apply`] is doing now: named when the kernel does not answer in time.
    pub step: &'static str,
    data_dir: PathBuf,
    /// Held while the agent runs: the fence guard of a dead agent waits for it.
    _lock: std::fs::File,
}

struct Ipvs {
    client: IpvsClient,
    reconciler: Reconciler,
    owned: BTreeSet<IpAddr>,
    loaded_schedulers: BTreeSet<String>,
}

impl Kernel {
    pub async fn open(data_dir: &Path, own_ip: IpAddr) -> anyhow::Result<Self> {
        let netconf_dir = data_dir.join("netconf");
        std::fs::create_dir_all(&netconf_dir)
            .with_context(|| format!("cannot create {}", netconf_dir.display()))?;
        let lock = super::guard::lock(&netconf_dir, Duration::from_secs(10))?
            .context("the data directory is locked by another agent")?;
        let net = Manager::open(&netconf_dir)
            .await
            .context("cannot open the network configuration state")?;
        let interconnect_if = net
            .interface_holding(own_ip)
            .await
            .context("cannot list addresses")?
            .with_context(|| {
                format!("no interface holds this node's clustertab address {own_ip}")
            })?;
        let guard = match FenceGuard::spawn(&netconf_dir) {
            Ok(guard) => Some(guard),
            Err(e) => {
                tracing::warn!(error = %format!("{e:#}"), "no fence guard: a killed agent would leave its CVIPs behind");
                None
            }
        };
        let owned = read_owned(data_dir);
        let ipvs = if ssinet_ipvs::modules::load(&[]).ipvs_present {
            let client = IpvsClient::connect()
                .await
                .context("cannot open the IPVS netlink socket")?;
            Some(Ipvs {
                client,
                reconciler: Reconciler::new(PlanOptions::default()),
                owned,
                loaded_schedulers: BTreeSet::new(),
            })
        } else {
            tracing::warn!(
                "this kernel has no IPVS: managing CVIP addresses and routes only, no load balancing"
            );
            None
        };
        Ok(Self {
            net,
            ipvs,
            guard,
            interconnect_if,
            step: "idle",
            data_dir: data_dir.to_path_buf(),
            _lock: lock,
        })
    }

    pub fn ipvs_present(&self) -> bool {
        self.ipvs.is_some()
    }

    /// The network state manager, for read-only checks (the external-link monitor).
    pub fn net(&self) -> &Manager {
        &self.net
    }

    /// Whether the fence guard was told of external addresses held.
    pub fn holds_external(&self) -> bool {
        self.guard.as_ref().is_some_and(|g| !g.held().is_empty())
    }

    /// Renews the fence guard's lease (see [`FenceGuard::renew`]).
    pub fn renew_lease(&mut self, until: Option<std::time::Instant>) {
        if let Some(guard) = &mut self.guard {
            guard.renew(until);
        }
    }

    /// Brings the kernel to `want`. Addresses go first when not claiming the CVIPs (the
    /// fence), IPVS first when claiming them (the table is ready before traffic arrives).
    pub async fn apply(&mut self, want: &NodeDesired) -> anyhow::Result<()> {
        let result = if want.claims_cvips() {
            match self.apply_ipvs(want).await {
                Ok(()) => self.apply_net(want).await,
                Err(e) => Err(e),
            }
        } else {
            match self.apply_net(want).await {
                Ok(()) => self.apply_ipvs(want).await,
                Err(e) => Err(e),
            }
        };
        self.step = "idle";
        result
    }

    /// After [`Kernel::apply`] was abandoned mid-way (the kernel did not answer in time): a
    /// fresh IPVS socket, so a reply still owed on the old one cannot be taken for a new one.
    pub async fn reset_ipvs(&mut self) {
        let Some(ipvs) = &mut self.ipvs else {
            return;
        };
        match IpvsClient::connect().await {
            Ok(client) => ipvs.client = client,
            Err(e) => tracing::warn!(error = %e, "cannot reopen the IPVS netlink socket"),
        }
        self.step = "idle";
    }

    async fn apply_net(&mut self, want: &NodeDesired) -> anyhow::Result<()> {
        // Checked again right before the kernel call: a pass computed before the agent was
        // frozen must not claim on resume after its fence ran out (the guard would withdraw
        // it, but a moment of two owners and a stray gratuitous ARP would have been seen).
        if want.claims_cvips()
            && let Some(until) = self.guard.as_ref().and_then(FenceGuard::lease)
            && std::time::Instant::now() >= until
        {
            anyhow::bail!("the fence expired before the CVIPs could be claimed; not claiming");
        }
        let held: Vec<(IpAddr, String)> = want.announced.clone();
        if let Some(guard) = &mut self.guard {
            // Before the kernel has them: a crash right after the change is still covered.
            let mut union = guard.held().to_vec();
            for h in &held {
                if !union.contains(h) {
                    union.push(h.clone());
                }
            }
            guard.tell(&union);
        }
        self.step = "applying addresses, routes and sysctls";
        let applied = self
            .net
            .reconcile(&want.net)
            .await
            .context("cannot apply the network configuration")?;
        for step in &applied.steps {
            tracing::info!(%step, "network change");
        }
        if let Some(guard) = &mut self.guard {
            guard.tell(&held);
        }
        Ok(())
    }

    async fn apply_ipvs(&mut self, want: &NodeDesired) -> anyhow::Result<()> {
        let (Some(ipvs), Some(desired)) = (&mut self.ipvs, &want.ipvs) else {
            return Ok(());
        };
        // Load schedulers before the kernel would (see ssinet_ipvs::modules).
        let needed: Vec<ssinet_ipvs::Scheduler> = desired
            .table
            .iter()
            .map(|s| s.service.scheduler.clone())
            .filter(|s| !ipvs.loaded_schedulers.contains(s.name()))
            .collect();
        if !needed.is_empty() {
            self.step = "loading scheduler modules";
            let report = ssinet_ipvs::modules::load(&needed);
            for (module, error) in &report.failed {
                tracing::debug!(module, error, "modprobe failed (built in or missing)");
            }
            ipvs.loaded_schedulers
                .extend(needed.iter().map(|s| s.name().to_string()));
        }
        // Owned once, owned until cleaned up: kept across restarts.
        if !desired.owned.is_subset(&ipvs.owned) {
            ipvs.owned.extend(desired.owned.iter().copied());
            write_owned(&self.data_dir, &ipvs.owned);
        }
        ipvs.reconciler.options = desired.options;
        let owned = Ownership::addresses(ipvs.owned.iter().copied());
        self.step = "reconciling the IPVS table";
        let report = ipvs
            .reconciler
            .run(&mut ipvs.client, &desired.table, &owned)
            .await
            .context("cannot reconcile the IPVS table")?;
        if let Some(first) = report.failures.first() {
            anyhow::bail!(
                "the kernel refused {} IPVS change(s), first: {first}",
                report.failures.len()
            );
        }
        self.step = "starting or stopping the IPVS sync daemons";
        sync_daemons(&mut ipvs.client, &desired.daemons).await
    }

    /// Sends one gratuitous ARP (or unsolicited NA) for `addr` out of `ifname`.
    pub async fn announce(&self, addr: IpAddr, ifname: &str) {
        let burst = GarpBurst {
            count: 1,
            ..GarpBurst::default()
        };
        if let Err(e) = self.net.send_garp(ifname, addr, burst).await {
            tracing::warn!(%addr, ifname, error = %e, "cannot announce");
        }
    }

    /// Tells the guard nothing is held any more (the agent released or never held anything).
    pub fn close(mut self) {
        if let Some(mut guard) = self.guard.take() {
            if self
                .net
                .desired()
                .addresses
                .iter()
                .all(|a| a.ifname == "lo")
            {
                guard.tell(&[]);
            }
            guard.detach();
        }
    }
}

async fn sync_daemons(client: &mut IpvsClient, want: &[SyncDaemon]) -> anyhow::Result<()> {
    let running = client
        .daemons()
        .await
        .context("cannot list the IPVS sync daemons")?;
    let same = |a: &SyncDaemon, b: &SyncDaemon| {
        a.role == b.role && a.interface == b.interface && a.sync_id == b.sync_id
    };
    for daemon in &running {
        if !want.iter().any(|w| same(w, daemon)) {
            client
                .stop_daemon(daemon.role)
                .await
                .with_context(|| format!("cannot stop the {:?} sync daemon", daemon.role))?;
            tracing::info!(role = ?daemon.role, interface = daemon.interface, "sync daemon stopped");
        }
    }
    for daemon in want {
        if !running.iter().any(|r| same(daemon, r)) {
            client.start_daemon(daemon).await.with_context(|| {
                format!(
                    "cannot start the {:?} sync daemon on {}",
                    daemon.role, daemon.interface
                )
            })?;
            tracing::info!(role = ?daemon.role, interface = daemon.interface, "sync daemon started");
        }
    }
    Ok(())
}

fn read_owned(data_dir: &Path) -> BTreeSet<IpAddr> {
    let path = data_dir.join(OWNED_FILE);
    match std::fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or_else(|e| {
            tracing::warn!(path = %path.display(), error = %e, "unreadable IPVS ownership list; starting from the configuration");
            BTreeSet::new()
        }),
        Err(_) => BTreeSet::new(),
    }
}

fn write_owned(data_dir: &Path, owned: &BTreeSet<IpAddr>) {
    let path = data_dir.join(OWNED_FILE);
    let tmp = data_dir.join(format!("{OWNED_FILE}.tmp"));
    let result = serde_json::to_vec(owned)
        .map_err(std::io::Error::other)
        .and_then(|bytes| std::fs::write(&tmp, bytes))
        .and_then(|()| std::fs::rename(&tmp, &path));
    if let Err(e) = result {
        tracing::warn!(path = %path.display(), error = %e, "cannot record IPVS ownership");
    }
}

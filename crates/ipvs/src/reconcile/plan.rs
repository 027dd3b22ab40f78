//! The pure part of reconciliation: from the kernel's table and the desired one, the minimal
//! ordered list of changes. No I/O, so it is property-tested against a simulated kernel.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use crate::desired::{DesiredTable, Ownership};
use crate::message::{DestKey, Destination, IpvsMessage, Service, ServiceKey};

/// The owned part of the kernel's table: services and their destinations in kernel order.
pub type KernelTable = BTreeMap<ServiceKey, (Service, Vec<Destination>)>;

/// Destinations being drained (weight 0) and since when.
pub type DrainState = BTreeMap<(ServiceKey, DestKey), Instant>;

/// One change to the kernel's table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    AddService(Service),
    EditService(Service),
    DeleteService(ServiceKey),
    AddDestination(Service, Destination),
    EditDestination(Service, Destination),
    DeleteDestination(ServiceKey, DestKey),
}

impl Change {
    pub fn to_message(&self) -> IpvsMessage {
        match self {
            Change::AddService(s) => IpvsMessage::NewService {
                service: s.clone(),
                counters: Default::default(),
            },
            Change::EditService(s) => IpvsMessage::SetService(s.clone()),
            Change::DeleteService(k) => IpvsMessage::DelService(*k),
            Change::AddDestination(s, d) => IpvsMessage::NewDest {
                service: Some(s.clone()),
                dest: d.clone(),
                status: None,
            },
            Change::EditDestination(s, d) => IpvsMessage::SetDest {
                service: s.clone(),
                dest: d.clone(),
            },
            Change::DeleteDestination(s, d) => IpvsMessage::DelDest {
                service: *s,
                dest: *d,
            },
        }
    }
}

/// What to change now, and the drain bookkeeping to keep for the next run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    pub changes: Vec<Change>,
    pub draining: DrainState,
    /// When a drain ends and the reconciler should run again.
    pub next_run: Option<Instant>,
}

/// How destinations leave.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PlanOptions {
    /// `Some(t)`: set a leaving destination's weight to 0 and delete it `t` later, so its
    /// established connections can finish (a deleted destination's packets are dropped).
    /// `None`: delete at once.
    pub drain: Option<Duration>,
}

struct Planner<'a> {
    opts: PlanOptions,
    now: Instant,
    old_draining: &'a DrainState,
    plan: Plan,
}

impl Planner<'_> {
    /// Whether a leaving destination must still be kept (at weight 0) for draining; records the
    /// drain and asks for a zero weight if it has not got one yet.
    fn still_draining(&mut self, service: &Service, dest: &Destination) -> bool {
        let Some(drain) = self.opts.drain else {
            return false;
        };
        let id = (service.key, dest.key());
        let since = self.old_draining.get(&id).copied().unwrap_or(self.now);
        let until = since + drain;
        if self.now >= until {
            return false;
        }
        if dest.weight != 0 {
            let mut zero = dest.clone();
            zero.weight = 0;
            self.plan
                .changes
                .push(Change::EditDestination(service.clone(), zero));
        }
        self.plan.draining.insert(id, since);
        self.plan.next_run = Some(self.plan.next_run.map_or(until, |t| t.min(until)));
        true
    }
}

/// Computes the changes that turn the owned part of `current` into `desired`.
///
/// Services outside `owned` are ignored even if `current` lists them. Services and destinations
/// are edited in place where the kernel allows it (scheduler, flags, timeouts, forwarding,
/// weight, thresholds); new destinations are added in the desired order.
pub fn plan(
    current: &KernelTable,
    desired: &DesiredTable,
    owned: &Ownership,
    draining: &DrainState,
    opts: PlanOptions,
    now: Instant,
) -> Plan {
    let mut p = Planner {
        opts,
        now,
        old_draining: draining,
        plan: Plan::default(),
    };
    // Owned services nobody wants any more: deleted once none of their destinations drains.
    for (key, (service, dests)) in current {
        if !owned.owns(key) || desired.get(key).is_some() {
            continue;
        }
        let mut draining_any = false;
        for d in dests {
            draining_any |= p.still_draining(service, d);
        }
        if !draining_any {
            p.plan.changes.push(Change::DeleteService(*key));
        }
    }
    for want in desired.iter() {
        let key = want.service.key;
        if !owned.owns(&key) {
            continue;
        }
        let Some((have, have_dests)) = current.get(&key) else {
            p.plan
                .changes
                .push(Change::AddService(want.service.clone()));
            for d in &want.destinations {
                p.plan
                    .changes
                    .push(Change::AddDestination(want.service.clone(), d.clone()));
            }
            continue;
        };
        if !have.same_config(&want.service) {
            p.plan
                .changes
                .push(Change::EditService(want.service.clone()));
        }
        let wanted: BTreeMap<DestKey, &Destination> =
            want.destinations.iter().map(|d| (d.key(), d)).collect();
        let present: BTreeMap<DestKey, &Destination> =
            have_dests.iter().map(|d| (d.key(), d)).collect();
        for d in have_dests {
            if !wanted.contains_key(&d.key()) && !p.still_draining(&want.service, d) {
                p.plan.changes.push(Change::DeleteDestination(key, d.key()));
            }
        }
        for d in &want.destinations {
            match present.get(&d.key()) {
                Some(h) if *h == d => {}
                Some(_) => p
                    .plan
                    .changes
                    .push(Change::EditDestination(want.service.clone(), d.clone())),
                None => p
                    .plan
                    .changes
                    .push(Change::AddDestination(want.service.clone(), d.clone())),
            }
        }
    }
    p.plan
}

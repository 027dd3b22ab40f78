//! Plans: the ordered steps that turn what the kernel holds into what the agent asked for,
//! computed only over objects ssinet owns.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use crate::error::NetconfError;
use crate::journal::OwnedState;
use crate::kernel::{Link, ObservedAddress};
use crate::model::{NetConfig, OwnedAddress, RouteSpec, RuleSpec, TableKey};
use crate::sysctl::SysctlKey;
use crate::{RULE_PRIORITY_BASE, TABLE_RANGE, address_label};

/// One change to the kernel. Every step has an exact inverse, which is how rollback works.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Step {
    RemoveRule(RuleSpec),
    RemoveRoute(RouteSpec),
    RemoveAddress(OwnedAddress),
    /// Write `value`; `previous` is what was there, written back on rollback.
    SetSysctl {
        key: String,
        value: String,
        previous: String,
    },
    AddAddress(OwnedAddress),
    AddRoute(RouteSpec),
    AddRule(RuleSpec),
}

impl Step {
    /// The step that undoes this one.
    pub fn inverse(&self) -> Step {
        match self {
            Step::RemoveRule(r) => Step::AddRule(r.clone()),
            Step::RemoveRoute(r) => Step::AddRoute(r.clone()),
            Step::RemoveAddress(a) => Step::AddAddress(a.clone()),
            Step::SetSysctl {
                key,
                value,
                previous,
            } => Step::SetSysctl {
                key: key.clone(),
                value: previous.clone(),
                previous: value.clone(),
            },
            Step::AddAddress(a) => Step::RemoveAddress(a.clone()),
            Step::AddRoute(r) => Step::RemoveRoute(r.clone()),
            Step::AddRule(r) => Step::RemoveRule(r.clone()),
        }
    }
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Step::RemoveRule(r) => write!(f, "remove rule {r}"),
            Step::RemoveRoute(r) => write!(f, "remove route {r}"),
            Step::RemoveAddress(a) => write!(f, "remove address {a}"),
            Step::SetSysctl {
                key,
                value,
                previous,
            } => {
                write!(f, "set sysctl {key} = {value} (was {previous})")
            }
            Step::AddAddress(a) => write!(f, "add address {a}"),
            Step::AddRoute(r) => write!(f, "add route {r}"),
            Step::AddRule(r) => write!(f, "add rule {r}"),
        }
    }
}

/// An ordered list of steps and the ownership state the node is in once they all succeed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub(crate) steps: Vec<Step>,
    pub(crate) state_after: OwnedState,
    /// The manager state generation this plan was computed against; a plan is stale once
    /// another plan has been applied.
    pub(crate) generation: u64,
}

impl Plan {
    pub fn steps(&self) -> &[Step] {
        &self.steps
    }

    /// No change needed: the node already is as desired.
    pub fn is_empty(&self) -> bool {
        self.steps.is_empty()
    }
}

/// What the kernel holds, as far as planning needs it.
#[derive(Debug, Clone, Default)]
pub(crate) struct Observed {
    pub links: Vec<Link>,
    pub addresses: Vec<ObservedAddress>,
    /// Routes carrying ssinet's protocol mark.
    pub owned_routes: Vec<RouteSpec>,
    /// The kernel's connected routes in `main`, copied into each owned table.
    pub connected: Vec<RouteSpec>,
    /// Every routing table some route uses, owned or not; never allocated to a CVIP.
    pub tables_in_use: BTreeSet<u32>,
    pub owned_rules: Vec<RuleSpec>,
}

/// Whether an address the kernel holds is ssinet's: by its mark where it has one (IPv4 label,
/// IPv6 address protocol), else by the state file.
pub(crate) fn is_owned(observed: &ObservedAddress, state: &OwnedState) -> bool {
    let a = &observed.address;
    match a.addr {
        IpAddr::V4(_) => {
            let label = address_label(&a.ifname);
            if label != a.ifname {
                observed.label.as_deref() == Some(label.as_str())
            } else {
                state.addresses.contains(a)
            }
        }
        IpAddr::V6(_) => match observed.protocol {
            Some(p) => p == crate::OWNER_PROTOCOL,
            None => state.addresses.contains(a),
        },
    }
}

fn host_len(ip: &IpAddr) -> u8 {
    if ip.is_ipv4() { 32 } else { 128 }
}

fn family_name(ip: &IpAddr) -> &'static str {
    if ip.is_ipv4() {
        "an IPv4 address"
    } else {
        "an IPv6 address"
    }
}

fn require_link(links: &[Link], field: &'static str, ifname: &str) -> Result<(), NetconfError> {
    if links.iter().any(|l| l.name == ifname) {
        Ok(())
    } else {
        Err(NetconfError::UnknownInterface {
            field,
            ifname: ifname.to_string(),
        })
    }
}

fn unspecified(ipv6: bool) -> IpAddr {
    if ipv6 {
        IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED)
    } else {
        IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED)
    }
}

/// Gives every key a table: the one it had, else the lowest free one in [`TABLE_RANGE`].
fn allocate_tables(
    keys: &[TableKey],
    state: &OwnedState,
    tables_in_use: &BTreeSet<u32>,
) -> Result<BTreeMap<TableKey, u32>, NetconfError> {
    let mut out = BTreeMap::new();
    for key in keys {
        if let Some(t) = state.table_of(key) {
            out.insert(key.clone(), t);
        }
    }
    for key in keys {
        if out.contains_key(key) {
            continue;
        }
        let taken: BTreeSet<u32> = out
            .values()
            .copied()
            .chain(state.tables.iter().map(|(_, t)| *t))
            .collect();
        let free = TABLE_RANGE
            .clone()
            .find(|t| !taken.contains(t) && !tables_in_use.contains(t))
            .ok_or(NetconfError::TablesExhausted {
                first: *TABLE_RANGE.start(),
                last: *TABLE_RANGE.end(),
            })?;
        out.insert(key.clone(), free);
    }
    Ok(out)
}

fn priority_of(table: u32) -> u32 {
    RULE_PRIORITY_BASE + (table - TABLE_RANGE.start())
}

/// Validates `desired` and diffs it against `observed`. `read_sysctl` returns a key's current
/// value (the manager reads `/proc/sys`; tests pass a map).
pub(crate) fn compute_plan(
    desired: &NetConfig,
    observed: &Observed,
    state: &OwnedState,
    generation: u64,
    read_sysctl: &dyn Fn(&SysctlKey) -> Result<String, NetconfError>,
) -> Result<Plan, NetconfError> {
    // --- validate, before anything is decided
    let mut seen = BTreeSet::new();
    for a in &desired.addresses {
        require_link(&observed.links, "addresses.ifname", &a.ifname)?;
        let max = host_len(&a.addr);
        if a.prefix_len > max || a.prefix_len == 0 {
            return Err(NetconfError::BadPrefixLength {
                field: "addresses.prefix_len",
                addr: a.addr,
                prefix_len: a.prefix_len,
                max,
            });
        }
        if !seen.insert(a.addr) {
            return Err(NetconfError::Duplicate {
                field: "addresses.addr",
                value: a.addr.to_string(),
            });
        }
        if let Some(foreign) = observed
            .addresses
            .iter()
            .find(|o| o.address.addr == a.addr && !is_owned(o, state))
        {
            return Err(NetconfError::AddressConflict {
                addr: a.addr,
                ifname: foreign.address.ifname.clone(),
                label: foreign.label.clone(),
            });
        }
    }
    let mut seen_cvips = BTreeSet::new();
    for r in &desired.cvip_routes {
        require_link(&observed.links, "cvip_routes.ifname", &r.ifname)?;
        if r.cvip.is_ipv4() != r.gateway.is_ipv4() {
            return Err(NetconfError::WrongFamily {
                field: "cvip_routes.gateway",
                value: r.gateway,
                cvip: r.cvip,
                found: family_name(&r.gateway),
                expected: family_name(&r.cvip),
            });
        }
        if !seen_cvips.insert(r.cvip) {
            return Err(NetconfError::Duplicate {
                field: "cvip_routes.cvip",
                value: r.cvip.to_string(),
            });
        }
    }
    if let Some(nat) = &desired.nat_return {
        require_link(&observed.links, "nat_return.ifname", &nat.ifname)?;
        if nat.source.is_ipv4() != nat.gateway.is_ipv4() {
            return Err(NetconfError::WrongFamily {
                field: "nat_return.gateway",
                value: nat.gateway,
                cvip: nat.source,
                found: family_name(&nat.gateway),
                expected: family_name(&nat.source),
            });
        }
    }
    let mut desired_sysctls = BTreeMap::new();
    for s in &desired.sysctls {
        let key = SysctlKey::parse(&s.key)?;
        if desired_sysctls
            .insert(key.clone(), s.value.clone())
            .is_some()
        {
            return Err(NetconfError::Duplicate {
                field: "sysctls.key",
                value: key.to_string(),
            });
        }
    }

    // --- expand routing into owned routes and rules
    let mut table_keys: Vec<TableKey> = desired
        .cvip_routes
        .iter()
        .map(|r| TableKey::Cvip(r.cvip))
        .collect();
    if let Some(nat) = &desired.nat_return {
        table_keys.push(TableKey::NatReturn {
            ipv6: nat.gateway.is_ipv6(),
        });
    }
    let tables = allocate_tables(&table_keys, state, &observed.tables_in_use)?;
    let mut routes = BTreeSet::new();
    let mut rules = BTreeSet::new();
    let mut add_table = |table: u32, source: IpAddr, gateway: IpAddr, ifname: &str| {
        let ipv6 = source.is_ipv6();
        routes.insert(RouteSpec {
            table,
            destination: unspecified(ipv6),
            prefix_len: 0,
            gateway: Some(gateway),
            ifname: ifname.to_string(),
        });
        for c in &observed.connected {
            if c.ifname == ifname && c.destination.is_ipv6() == ipv6 {
                routes.insert(RouteSpec { table, ..c.clone() });
            }
        }
        rules.insert(RuleSpec {
            ipv6,
            priority: priority_of(table),
            from: Some((source, host_len(&source))),
            table,
        });
    };
    for r in &desired.cvip_routes {
        add_table(
            tables[&TableKey::Cvip(r.cvip)],
            r.cvip,
            r.gateway,
            &r.ifname,
        );
    }
    if let Some(nat) = &desired.nat_return {
        let table = tables[&TableKey::NatReturn {
            ipv6: nat.gateway.is_ipv6(),
        }];
        add_table(table, nat.source, nat.gateway, &nat.ifname);
    }

    // --- diff
    let owned_addresses: BTreeSet<OwnedAddress> = observed
        .addresses
        .iter()
        .filter(|o| is_owned(o, state))
        .map(|o| o.address.clone())
        .collect();
    let wanted_addresses: BTreeSet<OwnedAddress> = desired.addresses.iter().cloned().collect();
    let owned_routes: BTreeSet<RouteSpec> = observed.owned_routes.iter().cloned().collect();
    let owned_rules: BTreeSet<RuleSpec> = observed.owned_rules.iter().cloned().collect();

    let mut steps = Vec::new();
    steps.extend(
        owned_rules
            .difference(&rules)
            .cloned()
            .map(Step::RemoveRule),
    );
    steps.extend(
        owned_routes
            .difference(&routes)
            .cloned()
            .map(Step::RemoveRoute),
    );
    steps.extend(
        owned_addresses
            .difference(&wanted_addresses)
            .cloned()
            .map(Step::RemoveAddress),
    );

    let mut state_after = state.clone();
    // Sysctls go in before the addresses, so a real server's ARP settings are in force before
    // the CVIP appears on `lo`.
    for (key, value) in &desired_sysctls {
        let current = read_sysctl(key)?;
        if &current != value {
            steps.push(Step::SetSysctl {
                key: key.to_string(),
                value: value.clone(),
                previous: current.clone(),
            });
            state_after
                .sysctl_originals
                .entry(key.to_string())
                .or_insert(current);
        }
    }
    steps.extend(
        wanted_addresses
            .difference(&owned_addresses)
            .cloned()
            .map(Step::AddAddress),
    );
    steps.extend(
        routes
            .difference(&owned_routes)
            .cloned()
            .map(Step::AddRoute),
    );
    steps.extend(rules.difference(&owned_rules).cloned().map(Step::AddRule));
    // Released sysctls go back to the value found before ssinet first changed them, last, once
    // the addresses that needed them are gone.
    for (key, original) in &state.sysctl_originals {
        let parsed = SysctlKey::parse(key)?;
        if desired_sysctls.contains_key(&parsed) {
            continue;
        }
        let current = read_sysctl(&parsed)?;
        if &current != original {
            steps.push(Step::SetSysctl {
                key: key.clone(),
                value: original.clone(),
                previous: current,
            });
        }
        state_after.sysctl_originals.remove(key);
    }

    state_after.tables = tables.into_iter().collect();
    state_after.addresses = wanted_addresses;
    state_after.desired = desired.clone();
    Ok(Plan {
        steps,
        state_after,
        generation,
    })
}

#[cfg(test)]
#[path = "plan_tests.rs"]
mod tests;

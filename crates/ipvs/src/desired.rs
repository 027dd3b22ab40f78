//! The table the caller wants, and which part of the kernel's table it owns.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use crate::error::IpvsError;
use crate::message::{Destination, Family, Service, ServiceKey};

/// A service and its destinations in the order they are to be added. Maglev (`mh`) and other
/// table-building schedulers depend on that order, so directors that must agree should give the
/// same order (ssinet sorts by node number).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DesiredService {
    pub service: Service,
    pub destinations: Vec<Destination>,
}

/// Services the caller wants, keyed by their kernel identity.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DesiredTable {
    services: BTreeMap<ServiceKey, DesiredService>,
}

impl DesiredTable {
    pub fn new() -> DesiredTable {
        DesiredTable::default()
    }

    /// Adds a service; refuses a second service with the same key or a destination listed twice.
    pub fn insert(&mut self, desired: DesiredService) -> Result<(), IpvsError> {
        let key = desired.service.key;
        if self.services.contains_key(&key) {
            return Err(IpvsError::Invalid {
                what: format!("desired service {key}"),
                why: "listed twice".into(),
            });
        }
        let mut seen = BTreeSet::new();
        for d in &desired.destinations {
            if !seen.insert(d.key()) {
                return Err(IpvsError::Invalid {
                    what: format!("destination {} of {key}", d.key()),
                    why: "listed twice".into(),
                });
            }
            if d.weight > i32::MAX as u32 {
                return Err(IpvsError::Invalid {
                    what: format!("destination {} of {key}", d.key()),
                    why: format!(
                        "weight {} exceeds the kernel's maximum {}",
                        d.weight,
                        i32::MAX
                    ),
                });
            }
        }
        self.services.insert(key, desired);
        Ok(())
    }

    pub fn get(&self, key: &ServiceKey) -> Option<&DesiredService> {
        self.services.get(key)
    }

    pub fn get_mut(&mut self, key: &ServiceKey) -> Option<&mut DesiredService> {
        self.services.get_mut(key)
    }

    pub fn iter(&self) -> impl Iterator<Item = &DesiredService> {
        self.services.values()
    }

    pub fn len(&self) -> usize {
        self.services.len()
    }

    pub fn is_empty(&self) -> bool {
        self.services.is_empty()
    }
}

/// The services a reconciler may touch: those on its virtual addresses and its firewall marks.
/// Everything else in the kernel's table belongs to someone else and is never changed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ownership {
    pub addresses: BTreeSet<IpAddr>,
    pub fwmarks: BTreeSet<(Family, u32)>,
}

impl Ownership {
    pub fn addresses(addrs: impl IntoIterator<Item = IpAddr>) -> Ownership {
        Ownership {
            addresses: addrs.into_iter().collect(),
            fwmarks: BTreeSet::new(),
        }
    }

    pub fn owns(&self, key: &ServiceKey) -> bool {
        match key {
            ServiceKey::Inet { addr, .. } => self.addresses.contains(addr),
            ServiceKey::Fwmark { family, mark } => self.fwmarks.contains(&(*family, *mark)),
        }
    }

    /// Every desired service must be owned, or the reconciler could never remove it again.
    pub fn check(&self, desired: &DesiredTable) -> Result<(), IpvsError> {
        match desired.iter().find(|d| !self.owns(&d.service.key)) {
            Some(d) => Err(IpvsError::Invalid {
                what: format!("desired service {}", d.service.key),
                why: "its virtual address or fwmark is not in the owned set".into(),
            }),
            None => Ok(()),
        }
    }
}

#![allow(clippy::unwrap_used)]

//! The reconciler's plan, applied to a simulated kernel table: it reaches exactly the desired
//! owned table, leaves foreign services alone, is idempotent, and drains before deleting.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use proptest::prelude::*;
use ssinet_ipvs::reconcile::{DrainState, KernelTable, plan};
use ssinet_ipvs::*;

fn v4(last: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(10, 0, 0, last))
}

const OWNED: [u8; 2] = [1, 2];
const FOREIGN: u8 = 9;

fn owned() -> Ownership {
    let mut o = Ownership::addresses(OWNED.map(v4));
    o.fwmarks.insert((Family::Ipv4, 7));
    o
}

fn key(addr: u8, port: u16, fwmark: bool) -> ServiceKey {
    if fwmark {
        ServiceKey::Fwmark {
            family: Family::Ipv4,
            mark: u32::from(addr),
        }
    } else {
        ServiceKey::tcp(v4(addr), port)
    }
}

fn small_service(addrs: Vec<u8>) -> impl Strategy<Value = Service> {
    (
        proptest::sample::select(addrs),
        prop_oneof![Just(80u16), Just(443)],
        proptest::bool::weighted(0.15),
        proptest::sample::select(vec![
            Scheduler::RoundRobin,
            Scheduler::WeightedRoundRobin,
            Scheduler::Maglev,
        ]),
        proptest::bool::ANY,
    )
        .prop_map(|(a, port, fwm, sched, mh_port)| {
            let k = if fwm {
                key(7, 0, true)
            } else {
                key(a, port, false)
            };
            let mut s = Service::new(k, sched);
            if mh_port {
                s = s.with_flags(ServiceFlags::MH_PORT);
            }
            s
        })
}

fn small_dests() -> impl Strategy<Value = Vec<Destination>> {
    proptest::collection::vec(
        (
            1u8..6,
            prop_oneof![Just(80u16), Just(8080)],
            prop_oneof![Just(Forwarding::DirectRoute), Just(Forwarding::Masquerade)],
            0u32..4,
        ),
        0..5,
    )
    .prop_map(|v| {
        let mut seen = std::collections::BTreeSet::new();
        v.into_iter()
            .filter(|(a, p, _, _)| seen.insert((*a, *p)))
            .map(|(a, p, f, w)| Destination::new(IpAddr::V4(Ipv4Addr::new(10, 1, 0, a)), p, f, w))
            .collect()
    })
}

fn table(addrs: Vec<u8>) -> impl Strategy<Value = KernelTable> {
    proptest::collection::vec((small_service(addrs), small_dests()), 0..6).prop_map(|v| {
        v.into_iter()
            .map(|(s, d)| (s.key, (s, d)))
            .collect::<BTreeMap<_, _>>()
    })
}

fn desired_from(t: &KernelTable) -> DesiredTable {
    let mut d = DesiredTable::new();
    for (s, dests) in t.values() {
        d.insert(DesiredService {
            service: s.clone(),
            destinations: dests.clone(),
        })
        .unwrap();
    }
    d
}

/// Applies changes with the kernel's semantics; any refusal is a planning bug.
fn apply(t: &mut KernelTable, changes: &[Change]) {
    for c in changes {
        match c {
            Change::AddService(s) => {
                assert!(
                    t.insert(s.key, (s.clone(), vec![])).is_none(),
                    "EEXIST {c:?}"
                )
            }
            Change::EditService(s) => {
                let e = t.get_mut(&s.key).expect("ESRCH");
                e.0 = s.clone();
            }
            Change::DeleteService(k) => {
                t.remove(k).expect("ESRCH");
            }
            Change::AddDestination(s, d) => {
                let e = t.get_mut(&s.key).expect("ESRCH");
                assert!(e.1.iter().all(|x| x.key() != d.key()), "EEXIST {c:?}");
                e.1.push(d.clone());
            }
            Change::EditDestination(s, d) => {
                let e = t.get_mut(&s.key).expect("ESRCH");
                let x = e.1.iter_mut().find(|x| x.key() == d.key()).expect("ENOENT");
                *x = d.clone();
            }
            Change::DeleteDestination(k, d) => {
                let e = t.get_mut(k).expect("ESRCH");
                let before = e.1.len();
                e.1.retain(|x| x.key() != *d);
                assert_eq!(e.1.len() + 1, before, "ENOENT {c:?}");
            }
        }
    }
}

fn owned_part(t: &KernelTable, o: &Ownership) -> KernelTable {
    t.iter()
        .filter(|(k, _)| o.owns(k))
        .map(|(k, v)| (*k, v.clone()))
        .collect()
}

fn sorted(mut v: Vec<Destination>) -> Vec<Destination> {
    v.sort_by_key(|d| d.key());
    v
}

fn assert_reaches(result: &KernelTable, want: &KernelTable) {
    assert_eq!(result.len(), want.len());
    for (k, (s, d)) in want {
        let (rs, rd) = result.get(k).expect("desired service present");
        assert!(rs.same_config(s));
        assert_eq!(sorted(rd.clone()), sorted(d.clone()));
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    #[test]
    fn reaches_desired_and_spares_foreign(
        owned_now in table(OWNED.to_vec()),
        foreign in table(vec![FOREIGN]),
        want in table(OWNED.to_vec()),
    ) {
        let o = owned();
        let foreign: KernelTable = foreign.into_iter().filter(|(k, _)| !o.owns(k)).collect();
        let mut kernel = owned_now.clone();
        kernel.extend(foreign.clone());
        let desired = desired_from(&want);
        let now = Instant::now();
        let p = plan(&kernel, &desired, &o, &DrainState::new(), PlanOptions::default(), now);
        apply(&mut kernel, &p.changes);
        assert_reaches(&owned_part(&kernel, &o), &want);
        let foreign_after: KernelTable = kernel.iter().filter(|(k, _)| !o.owns(k)).map(|(k, v)| (*k, v.clone())).collect();
        prop_assert_eq!(foreign_after, foreign);
        let again = plan(&kernel, &desired, &o, &DrainState::new(), PlanOptions::default(), now);
        prop_assert!(again.changes.is_empty(), "second run changes {:?}", again.changes);
    }

    #[test]
    fn new_destinations_are_added_in_desired_order(want in table(OWNED.to_vec())) {
        let o = owned();
        let mut kernel = KernelTable::new();
        let p = plan(&kernel, &desired_from(&want), &o, &DrainState::new(), PlanOptions::default(), Instant::now());
        apply(&mut kernel, &p.changes);
        prop_assert_eq!(kernel, want);
    }

    #[test]
    fn draining_keeps_leaving_destinations_at_weight_zero_until_the_time_is_up(
        start in table(OWNED.to_vec()),
        want in table(OWNED.to_vec()),
    ) {
        let o = owned();
        let drain = Duration::from_secs(30);
        let opts = PlanOptions { drain: Some(drain) };
        let desired = desired_from(&want);
        let t0 = Instant::now();
        let mut kernel = start.clone();
        let p1 = plan(&kernel, &desired, &o, &DrainState::new(), opts, t0);
        prop_assert!(!p1.changes.iter().any(|c| matches!(c, Change::DeleteDestination(..))));
        apply(&mut kernel, &p1.changes);
        // Every destination that leaves is still there, with weight 0.
        for (k, (_, dests)) in &start {
            for d in dests {
                let wanted = want.get(k).is_some_and(|(_, w)| w.iter().any(|x| x.key() == d.key()));
                if !wanted {
                    let (_, now_dests) = kernel.get(k).expect("service kept while draining");
                    let x = now_dests.iter().find(|x| x.key() == d.key()).expect("still present");
                    prop_assert_eq!(x.weight, 0);
                    prop_assert!(p1.draining.contains_key(&(*k, d.key())));
                }
            }
        }
        // Before the time is up nothing more happens; afterwards the table is exactly desired.
        let p2 = plan(&kernel, &desired, &o, &p1.draining, opts, t0 + drain / 2);
        prop_assert!(p2.changes.is_empty(), "{:?}", p2.changes);
        let p3 = plan(&kernel, &desired, &o, &p2.draining, opts, t0 + drain);
        apply(&mut kernel, &p3.changes);
        assert_reaches(&kernel, &want);
        prop_assert!(p3.draining.is_empty());
    }
}

#[test]
fn edits_in_place_instead_of_delete_and_add() {
    let o = owned();
    let svc = Service::new(key(1, 80, false), Scheduler::RoundRobin);
    let d = Destination::new(v4(50), 80, Forwarding::DirectRoute, 1);
    let mut kernel = KernelTable::new();
    kernel.insert(svc.key, (svc.clone(), vec![d.clone()]));
    let mut want_svc = svc.clone();
    want_svc.scheduler = Scheduler::Maglev;
    let mut want_d = d.clone();
    want_d.weight = 5;
    want_d.forwarding = Forwarding::Masquerade;
    let mut desired = DesiredTable::new();
    desired
        .insert(DesiredService {
            service: want_svc.clone(),
            destinations: vec![want_d.clone()],
        })
        .unwrap();
    let p = plan(
        &kernel,
        &desired,
        &o,
        &DrainState::new(),
        PlanOptions::default(),
        Instant::now(),
    );
    assert_eq!(
        p.changes,
        vec![
            Change::EditService(want_svc.clone()),
            Change::EditDestination(want_svc, want_d)
        ]
    );
}

#[test]
fn desired_service_outside_the_owned_set_is_refused() {
    let mut desired = DesiredTable::new();
    desired
        .insert(DesiredService {
            service: Service::new(key(FOREIGN, 80, false), Scheduler::RoundRobin),
            destinations: vec![],
        })
        .unwrap();
    let err = owned().check(&desired).unwrap_err();
    assert!(err.to_string().contains("TCP 10.0.0.9:80"), "{err}");
}

#[test]
fn duplicate_destinations_are_refused() {
    let d = Destination::new(v4(50), 80, Forwarding::DirectRoute, 1);
    let err = DesiredTable::new()
        .insert(DesiredService {
            service: Service::new(key(1, 80, false), Scheduler::RoundRobin),
            destinations: vec![d.clone(), d],
        })
        .unwrap_err();
    assert!(err.to_string().contains("10.0.0.50:80"), "{err}");
}

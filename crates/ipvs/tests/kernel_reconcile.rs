//! The reconciler against the real kernel (inside the VM): from arbitrary starting tables with
//! foreign services, after `ipvsadm -C`, and draining.
#![allow(clippy::unwrap_used)]

mod kernel_support;

use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use kernel_support::*;
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, TestRunner};
use ssinet_ipvs::reconcile::{DrainState, read_owned};
use ssinet_ipvs::*;

fn owned() -> Ownership {
    let mut o = Ownership::addresses([v4("10.0.0.1"), v4("10.0.0.2")]);
    o.fwmarks.insert((Family::Ipv4, 7));
    o
}

/// An `ipvsadm -R` line for a service (its identity options).
fn ipvsadm_id(k: &ServiceKey) -> String {
    match k {
        ServiceKey::Inet {
            protocol,
            addr,
            port,
        } => {
            let opt = match protocol {
                Protocol::Udp => "-u",
                Protocol::Sctp => "--sctp-service",
                _ => "-t",
            };
            format!("{opt} {addr}:{port}")
        }
        ServiceKey::Fwmark { mark, .. } => format!("-f {mark}"),
    }
}

fn restore_script(table: &[(Service, Vec<Destination>)]) -> String {
    let mut out = String::new();
    for (s, dests) in table {
        out.push_str(&format!("-A {} -s {}\n", ipvsadm_id(&s.key), s.scheduler));
        for d in dests {
            let fwd = match d.forwarding {
                Forwarding::Masquerade => "-m",
                Forwarding::Tunnel(_) => "-i",
                _ => "-g",
            };
            out.push_str(&format!(
                "-a {} -r {}:{} {fwd} -w {}\n",
                ipvsadm_id(&s.key),
                d.addr,
                d.port,
                d.weight
            ));
        }
    }
    out
}

fn service_on(addrs: &'static [&'static str]) -> impl Strategy<Value = Service> {
    (
        proptest::sample::select(addrs),
        prop_oneof![Just(80u16), Just(443)],
        proptest::sample::select(vec![
            Scheduler::RoundRobin,
            Scheduler::WeightedRoundRobin,
            Scheduler::Maglev,
        ]),
    )
        .prop_map(|(a, port, s)| {
            let key = match a.strip_prefix("fwm") {
                Some(mark) => ServiceKey::Fwmark {
                    family: Family::Ipv4,
                    mark: mark.parse().unwrap(),
                },
                None => ServiceKey::tcp(a.parse().unwrap(), port),
            };
            Service::new(key, s)
        })
}

/// Destinations on distinct addresses: `ipvsadm` gives a direct-routed destination the
/// service's port (the packet keeps it), so two DR destinations on one address with different
/// ports would be one destination to `ipvsadm -R` ("Destination already exists") and the
/// restored starting table would fail to load.
fn dests() -> impl Strategy<Value = Vec<Destination>> {
    proptest::collection::btree_map(
        1u8..6,
        (
            prop_oneof![Just(80u16), Just(8080)],
            proptest::bool::ANY,
            0u32..4,
        ),
        0..4,
    )
    .prop_map(|m| {
        m.into_iter()
            .map(|(a, (p, dr, w))| {
                let fwd = if dr {
                    Forwarding::DirectRoute
                } else {
                    Forwarding::Masquerade
                };
                Destination::new(IpAddr::V4(Ipv4Addr::new(10, 1, 0, a)), p, fwd, w)
            })
            .collect()
    })
}

fn table(
    addrs: &'static [&'static str],
) -> impl Strategy<Value = Vec<(Service, Vec<Destination>)>> {
    proptest::collection::vec((service_on(addrs), dests()), 0..5).prop_map(|v| {
        let mut seen = std::collections::BTreeSet::new();
        v.into_iter().filter(|(s, _)| seen.insert(s.key)).collect()
    })
}

fn desired_of(t: &[(Service, Vec<Destination>)]) -> DesiredTable {
    let mut d = DesiredTable::new();
    for (s, dests) in t {
        d.insert(DesiredService {
            service: s.clone(),
            destinations: dests.clone(),
        })
        .unwrap();
    }
    d
}

/// The `ipvsadm -Ln` blocks of services outside the owned set.
fn foreign_blocks(o: &Ownership) -> Blocks {
    let all = parse_ln(&ipvsadm(&["-Ln"]));
    let owned_prefixes: Vec<String> = ["10.0.0.1:", "10.0.0.2:"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let _ = o;
    all.into_iter()
        .filter(|(l, _)| {
            !owned_prefixes.iter().any(|p| l.contains(p.as_str())) && !l.starts_with("FWM 7 ")
        })
        .collect()
}

async fn assert_owned_is(c: &mut IpvsClient, want: &[(Service, Vec<Destination>)]) {
    let got = read_owned(c, &owned()).await.unwrap();
    assert_eq!(got.len(), want.len(), "owned services {got:?}");
    for (s, d) in want {
        let (gs, gd) = got.get(&s.key).unwrap();
        assert!(gs.same_config(s), "{gs:?} vs {s:?}");
        let mut gd = gd.clone();
        let mut d = d.clone();
        gd.sort_by_key(|x| x.key());
        d.sort_by_key(|x| x.key());
        assert_eq!(gd, d);
    }
}

#[test]
fn reconcile_reaches_desired_spares_foreign_is_idempotent_and_repairs_a_flush() {
    in_netns("rec", || async {
        let mut c = IpvsClient::connect().await.unwrap();
        let o = owned();
        let cases = (
            table(&["10.0.0.1", "10.0.0.2", "fwm7"]),
            table(&["10.0.0.9", "fwm99"]),
            table(&["10.0.0.1", "10.0.0.2", "fwm7"]),
        );
        let mut runner = TestRunner::new(Config {
            cases: 6,
            ..Config::default()
        });
        let mut samples = Vec::new();
        for _ in 0..6 {
            samples.push(cases.new_tree(&mut runner).unwrap().current());
        }
        for (start, foreign, want) in samples {
            ipvsadm(&["-C"]);
            let mut initial = start.clone();
            initial.extend(foreign.clone());
            ipvsadm_with_input(&["-R"], &restore_script(&initial));
            let foreign_before = foreign_blocks(&o);
            let desired = desired_of(&want);
            let mut r = Reconciler::new(PlanOptions::default());
            let report = r.run(&mut c, &desired, &o).await.unwrap();
            assert!(report.failures.is_empty(), "{:?}", report.failures);
            assert_owned_is(&mut c, &want).await;
            assert_eq!(
                foreign_blocks(&o),
                foreign_before,
                "foreign services untouched"
            );
            let again = r.run(&mut c, &desired, &o).await.unwrap();
            assert_eq!(again.changes, 0, "a second run changes nothing");
            ipvsadm(&["-C"]);
            let repair = r.run(&mut c, &desired, &o).await.unwrap();
            assert!(repair.failures.is_empty());
            assert_owned_is(&mut c, &want).await;
            // And ipvsadm agrees with our reading.
            assert_matches_ipvsadm(&mut c).await;
        }
    });
}

#[test]
fn leaving_destinations_drain_at_weight_zero_before_deletion() {
    in_netns("drain", || async {
        let mut c = IpvsClient::connect().await.unwrap();
        let o = owned();
        let svc = Service::new(
            ServiceKey::tcp(v4("10.0.0.1"), 80),
            Scheduler::WeightedRoundRobin,
        );
        let a = Destination::new(v4("10.1.0.1"), 80, Forwarding::DirectRoute, 3);
        let b = Destination::new(v4("10.1.0.2"), 80, Forwarding::DirectRoute, 3);
        let mut r = Reconciler::new(PlanOptions {
            drain: Some(Duration::from_secs(30)),
        });
        r.run(
            &mut c,
            &desired_of(&[(svc.clone(), vec![a.clone(), b.clone()])]),
            &o,
        )
        .await
        .unwrap();

        let only_a = desired_of(&[(svc.clone(), vec![a.clone()])]);
        let t0 = Instant::now();
        let current = read_owned(&mut c, &o).await.unwrap();
        let p = reconcile::plan(&current, &only_a, &o, &DrainState::new(), r.options, t0);
        r.apply(&mut c, p).await.unwrap();
        let shown = parse_ln(&ipvsadm(&["-Ln"]));
        assert_eq!(
            shown[0].1,
            vec!["-> 10.1.0.1:80 Route 3 0 0", "-> 10.1.0.2:80 Route 0 0 0"]
        );

        let current = read_owned(&mut c, &o).await.unwrap();
        let p = reconcile::plan(
            &current,
            &only_a,
            &o,
            r.draining(),
            r.options,
            t0 + Duration::from_secs(30),
        );
        r.apply(&mut c, p).await.unwrap();
        let shown = parse_ln(&ipvsadm(&["-Ln"]));
        assert_eq!(shown[0].1, vec!["-> 10.1.0.1:80 Route 3 0 0"]);
    });
}

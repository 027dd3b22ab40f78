use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use proptest::prelude::*;

use super::*;
use crate::model::{CvipRoute, NatReturnPath, SysctlSetting};

fn v4(last: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(192, 168, 200, last))
}

fn v6(last: u16) -> IpAddr {
    IpAddr::V6(Ipv6Addr::new(0xfd00, 0x200, 0, 0, 0, 0, 0, last))
}

fn links() -> Vec<Link> {
    ["lo", "eth0", "eth1"]
        .iter()
        .enumerate()
        .map(|(i, n)| Link {
            index: u32::try_from(i).unwrap() + 1,
            name: (*n).to_string(),
            mac: None,
            carrier: true,
        })
        .collect()
}

fn observed() -> Observed {
    Observed {
        links: links(),
        connected: vec![RouteSpec {
            table: 254,
            destination: v4(0),
            prefix_len: 24,
            gateway: None,
            ifname: "eth1".into(),
        }],
        tables_in_use: [254, 255].into_iter().collect(),
        ..Observed::default()
    }
}

/// The kernel after `plan` ran: what a real apply would leave (owned objects marked).
fn after(mut observed: Observed, plan: &Plan) -> Observed {
    for step in &plan.steps {
        match step {
            Step::AddAddress(a) => observed.addresses.push(ours(a)),
            Step::RemoveAddress(a) => observed.addresses.retain(|o| &o.address != a),
            Step::AddRoute(r) => observed.owned_routes.push(r.clone()),
            Step::RemoveRoute(r) => observed.owned_routes.retain(|o| o != r),
            Step::AddRule(r) => observed.owned_rules.push(r.clone()),
            Step::RemoveRule(r) => observed.owned_rules.retain(|o| o != r),
            Step::SetSysctl { .. } => {}
        }
    }
    observed
}

fn ours(a: &OwnedAddress) -> ObservedAddress {
    ObservedAddress {
        address: a.clone(),
        label: a.addr.is_ipv4().then(|| address_label(&a.ifname)),
        protocol: Some(crate::OWNER_PROTOCOL),
    }
}

fn sysctls_after(mut values: BTreeMap<String, String>, plan: &Plan) -> BTreeMap<String, String> {
    for step in &plan.steps {
        if let Step::SetSysctl { key, value, .. } = step {
            values.insert(key.clone(), value.clone());
        }
    }
    values
}

fn plan_with(
    desired: &NetConfig,
    observed: &Observed,
    state: &OwnedState,
    sysctls: &BTreeMap<String, String>,
) -> Result<Plan, NetconfError> {
    compute_plan(desired, observed, state, 0, &|k: &SysctlKey| {
        sysctls
            .get(k.as_str())
            .cloned()
            .ok_or_else(|| NetconfError::SysctlMissing {
                key: k.to_string(),
                path: k.path(),
            })
    })
}

fn director() -> NetConfig {
    NetConfig {
        addresses: vec![
            OwnedAddress::host(v4(100), "eth1"),
            OwnedAddress::host(v6(100), "eth1"),
        ],
        sysctls: vec![SysctlSetting::ip_forward()],
        cvip_routes: vec![CvipRoute {
            cvip: v4(100),
            gateway: v4(1),
            ifname: "eth1".into(),
        }],
        nat_return: None,
    }
}

fn initial_sysctls() -> BTreeMap<String, String> {
    [
        ("net/ipv4/ip_forward", "0"),
        ("net/ipv4/conf/all/arp_ignore", "0"),
        ("net/ipv4/conf/all/arp_announce", "0"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

#[test]
fn second_plan_of_the_same_state_is_empty() {
    let sysctls = initial_sysctls();
    let first = plan_with(&director(), &observed(), &OwnedState::default(), &sysctls).unwrap();
    assert_eq!(first.steps.len(), 6, "{:#?}", first.steps);
    let second = plan_with(
        &director(),
        &after(observed(), &first),
        &first.state_after,
        &sysctls_after(sysctls, &first),
    )
    .unwrap();
    assert!(second.is_empty(), "{:#?}", second.steps);
}

#[test]
fn cvip_table_copies_connected_routes_and_gets_a_rule() {
    let plan = plan_with(
        &director(),
        &observed(),
        &OwnedState::default(),
        &initial_sysctls(),
    )
    .unwrap();
    let table = *TABLE_RANGE.start();
    assert!(plan.steps.contains(&Step::AddRoute(RouteSpec {
        table,
        destination: v4(0),
        prefix_len: 24,
        gateway: None,
        ifname: "eth1".into()
    })));
    assert!(plan.steps.contains(&Step::AddRoute(RouteSpec {
        table,
        destination: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        prefix_len: 0,
        gateway: Some(v4(1)),
        ifname: "eth1".into()
    })));
    assert!(plan.steps.contains(&Step::AddRule(RuleSpec {
        ipv6: false,
        priority: RULE_PRIORITY_BASE,
        from: Some((v4(100), 32)),
        table
    })));
    assert_eq!(
        plan.state_after.table_of(&TableKey::Cvip(v4(100))),
        Some(table)
    );
}

#[test]
fn releasing_removes_first_and_restores_sysctls_last() {
    let sysctls = initial_sysctls();
    let first = plan_with(&director(), &observed(), &OwnedState::default(), &sysctls).unwrap();
    let kernel = after(observed(), &first);
    let release = plan_with(
        &NetConfig::default(),
        &kernel,
        &first.state_after,
        &sysctls_after(sysctls, &first),
    )
    .unwrap();
    let kinds: Vec<&str> = release
        .steps
        .iter()
        .map(|s| match s {
            Step::RemoveRule(_) => "rule",
            Step::RemoveRoute(_) => "route",
            Step::RemoveAddress(_) => "address",
            Step::SetSysctl { .. } => "sysctl",
            _ => "add",
        })
        .collect();
    assert_eq!(
        kinds,
        ["rule", "route", "route", "address", "address", "sysctl"]
    );
    assert_eq!(
        release.steps.last(),
        Some(&Step::SetSysctl {
            key: "net/ipv4/ip_forward".into(),
            value: "0".into(),
            previous: "1".into()
        })
    );
    assert!(release.state_after.sysctl_originals.is_empty());
    assert!(release.state_after.tables.is_empty());
}

#[test]
fn sysctls_go_in_before_addresses() {
    let desired = NetConfig {
        addresses: vec![OwnedAddress::host(v4(100), "lo")],
        sysctls: SysctlSetting::real_server_arp(&[]),
        ..NetConfig::default()
    };
    let plan = plan_with(
        &desired,
        &observed(),
        &OwnedState::default(),
        &initial_sysctls(),
    )
    .unwrap();
    assert!(
        matches!(plan.steps.last(), Some(Step::AddAddress(_))),
        "{:#?}",
        plan.steps
    );
    assert_eq!(plan.steps.len(), 3);
}

#[test]
fn foreign_address_is_a_conflict_and_never_removed() {
    let mut kernel = observed();
    kernel.addresses.push(ObservedAddress {
        address: OwnedAddress::host(v4(100), "eth0"),
        label: Some("eth0".into()),
        protocol: None,
    });
    let err = plan_with(
        &director(),
        &kernel,
        &OwnedState::default(),
        &initial_sysctls(),
    )
    .unwrap_err();
    assert!(
        matches!(&err, NetconfError::AddressConflict { addr, ifname, .. } if *addr == v4(100) && ifname == "eth0"),
        "{err}"
    );
    let release = plan_with(
        &NetConfig::default(),
        &kernel,
        &OwnedState::default(),
        &initial_sysctls(),
    )
    .unwrap();
    assert!(
        release.is_empty(),
        "a foreign address must not be removed: {:#?}",
        release.steps
    );
}

#[test]
fn ipv6_ownership_follows_the_protocol_mark_or_the_state_file() {
    let a = OwnedAddress::host(v6(7), "eth1");
    let unmarked = ObservedAddress {
        address: a.clone(),
        label: None,
        protocol: None,
    };
    let foreign = ObservedAddress {
        address: a.clone(),
        label: None,
        protocol: Some(3),
    };
    let mut state = OwnedState::default();
    assert!(!is_owned(&unmarked, &state));
    assert!(is_owned(&ours(&a), &state));
    state.addresses.insert(a.clone());
    assert!(
        is_owned(&unmarked, &state),
        "old kernels: the state file decides"
    );
    assert!(
        !is_owned(&foreign, &state),
        "someone else's protocol wins over the state file"
    );
}

#[test]
fn bad_input_names_the_field_and_value() {
    let sysctls = initial_sysctls();
    let state = OwnedState::default();
    let mut d = director();
    d.addresses[0].ifname = "eth7".into();
    let err = plan_with(&d, &observed(), &state, &sysctls).unwrap_err();
    assert!(
        matches!(&err, NetconfError::UnknownInterface { field: "addresses.ifname", ifname } if ifname == "eth7")
    );
    assert!(err.to_string().contains("eth7"), "{err}");

    let mut d = director();
    d.cvip_routes[0].gateway = v6(1);
    let err = plan_with(&d, &observed(), &state, &sysctls).unwrap_err();
    assert!(
        matches!(
            err,
            NetconfError::WrongFamily {
                field: "cvip_routes.gateway",
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("fd00:200::1"), "{err}");

    let mut d = director();
    d.nat_return = Some(NatReturnPath {
        gateway: v6(1),
        ifname: "eth0".into(),
        source: v4(3),
    });
    let err = plan_with(&d, &observed(), &state, &sysctls).unwrap_err();
    assert!(
        matches!(
            err,
            NetconfError::WrongFamily {
                field: "nat_return.gateway",
                ..
            }
        ),
        "{err}"
    );

    let mut d = director();
    d.addresses.push(OwnedAddress::host(v4(100), "eth0"));
    let err = plan_with(&d, &observed(), &state, &sysctls).unwrap_err();
    assert!(
        matches!(
            err,
            NetconfError::Duplicate {
                field: "addresses.addr",
                ..
            }
        ),
        "{err}"
    );

    let mut d = director();
    d.addresses[0].prefix_len = 33;
    assert!(matches!(
        plan_with(&d, &observed(), &state, &sysctls),
        Err(NetconfError::BadPrefixLength { prefix_len: 33, .. })
    ));

    let mut d = director();
    d.sysctls.push(SysctlSetting::new("kernel.panic", "1"));
    assert!(matches!(
        plan_with(&d, &observed(), &state, &sysctls),
        Err(NetconfError::SysctlKeyNotAllowed { .. })
    ));
}

#[test]
fn tables_skip_those_in_use_and_stay_with_their_cvip() {
    let mut kernel = observed();
    kernel.tables_in_use.insert(*TABLE_RANGE.start());
    let mut d = director();
    d.cvip_routes.push(CvipRoute {
        cvip: v4(101),
        gateway: v4(1),
        ifname: "eth1".into(),
    });
    let plan = plan_with(&d, &kernel, &OwnedState::default(), &initial_sysctls()).unwrap();
    let first = plan.state_after.table_of(&TableKey::Cvip(v4(100))).unwrap();
    let second = plan.state_after.table_of(&TableKey::Cvip(v4(101))).unwrap();
    assert_eq!(
        (first, second),
        (TABLE_RANGE.start() + 1, TABLE_RANGE.start() + 2)
    );

    // Dropping the first CVIP keeps the second one's table.
    d.cvip_routes.remove(0);
    d.addresses.retain(|a| a.addr != v4(100));
    let next = plan_with(
        &d,
        &after(kernel, &plan),
        &plan.state_after,
        &initial_sysctls(),
    )
    .unwrap();
    assert_eq!(
        next.state_after.table_of(&TableKey::Cvip(v4(101))),
        Some(second)
    );
    assert_eq!(next.state_after.table_of(&TableKey::Cvip(v4(100))), None);
}

proptest! {
    /// Whatever the agent owned before and wants now, the plan adds exactly what is missing,
    /// removes exactly what is no longer wanted, and converges in one apply.
    #[test]
    fn address_plans_converge(owned in prop::collection::btree_set(0u8..8, 0..8), wanted in prop::collection::btree_set(0u8..8, 0..8)) {
        let pool = |i: u8| if i.is_multiple_of(2) { OwnedAddress::host(v4(100 + i), "eth1") } else { OwnedAddress::host(v6(u16::from(i)), "lo") };
        let mut kernel = observed();
        kernel.addresses = owned.iter().map(|i| ours(&pool(*i))).collect();
        let desired = NetConfig { addresses: wanted.iter().map(|i| pool(*i)).collect(), ..NetConfig::default() };
        let plan = plan_with(&desired, &kernel, &OwnedState::default(), &BTreeMap::new()).unwrap();
        let adds = plan.steps.iter().filter(|s| matches!(s, Step::AddAddress(_))).count();
        let removes = plan.steps.iter().filter(|s| matches!(s, Step::RemoveAddress(_))).count();
        prop_assert_eq!(adds, wanted.difference(&owned).count());
        prop_assert_eq!(removes, owned.difference(&wanted).count());
        let again = plan_with(&desired, &after(kernel, &plan), &plan.state_after, &BTreeMap::new()).unwrap();
        prop_assert!(again.is_empty());
    }
}

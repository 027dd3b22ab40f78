//! Which clustertab node this host is: the one whose interconnect IP is configured here.

use std::collections::BTreeSet;
use std::net::IpAddr;

use ssinet_config::{Clustertab, NodeId};

/// Why this host's node number could not be determined.
#[derive(Debug, thiserror::Error)]
pub enum DetectError {
    #[error("cannot list this host's addresses: {0}")]
    Addresses(#[source] nix::Error),
    #[error(
        "none of this host's addresses ({}) is an interconnect IP in clustertab; configure the \
         interconnect address or pass --node N",
        list(.0)
    )]
    NoMatch(Vec<IpAddr>),
    #[error(
        "this host has the interconnect IPs of several clustertab nodes ({}); pass --node N",
        .0.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
    )]
    Several(Vec<NodeId>),
}

fn list(addresses: &[IpAddr]) -> String {
    if addresses.is_empty() {
        "none".into()
    } else {
        addresses
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// The addresses configured on this host's interfaces (in this network namespace).
pub fn local_addresses() -> Result<BTreeSet<IpAddr>, DetectError> {
    let addrs = nix::ifaddrs::getifaddrs().map_err(DetectError::Addresses)?;
    Ok(addrs
        .filter_map(|ifa| {
            let address = ifa.address?;
            if let Some(v4) = address.as_sockaddr_in() {
                Some(IpAddr::V4(v4.ip()))
            } else {
                address.as_sockaddr_in6().map(|v6| IpAddr::V6(v6.ip()))
            }
        })
        .collect())
}

/// The one node of `tab` whose interconnect IP is in `local`.
pub fn node_from_addresses(
    tab: &Clustertab,
    local: &BTreeSet<IpAddr>,
) -> Result<NodeId, DetectError> {
    let matches: Vec<NodeId> = tab
        .nodes
        .iter()
        .filter(|n| local.contains(&n.ip))
        .map(|n| n.num)
        .collect();
    match matches.as_slice() {
        [one] => Ok(*one),
        [] => Err(DetectError::NoMatch(local.iter().copied().collect())),
        _ => Err(DetectError::Several(matches)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tab() -> Clustertab {
        ssinet_config::parse_clustertab(
            "1 10.0.0.1 02:00:00:00:00:01 P 1 /dev/sda1\n2 10.0.0.2 02:00:00:00:00:02 P 0\n",
            "clustertab",
        )
        .unwrap()
    }

    fn ips(list: &[&str]) -> BTreeSet<IpAddr> {
        list.iter().map(|s| s.parse().unwrap()).collect()
    }

    #[test]
    fn finds_the_one_matching_node() {
        let found = node_from_addresses(&tab(), &ips(&["127.0.0.1", "10.0.0.2"])).unwrap();
        assert_eq!(found, NodeId(2));
    }

    #[test]
    fn no_match_names_the_addresses_and_the_flag() {
        let err = node_from_addresses(&tab(), &ips(&["127.0.0.1"])).unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("127.0.0.1") && text.contains("--node"),
            "{text}"
        );
    }

    #[test]
    fn several_matches_are_refused() {
        let err = node_from_addresses(&tab(), &ips(&["10.0.0.1", "10.0.0.2"])).unwrap_err();
        assert!(matches!(err, DetectError::Several(ref n) if n == &[NodeId(1), NodeId(2)]));
    }

    #[test]
    fn this_host_has_loopback() {
        assert!(
            local_addresses()
                .unwrap()
                .contains(&"127.0.0.1".parse::<IpAddr>().unwrap())
        );
    }
}

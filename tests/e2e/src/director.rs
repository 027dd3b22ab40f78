//! An ssinet director cluster, and the checks a user would make on it: who holds the CVIP,
//! what `ipvsadm -Ln` shows on the director, which nodes serve the client.
use crate::PORT;
use ssinet_lab::cluster::{Binaries, Cluster, ClusterError, Result, cvip_addresses, proc_ip_vs};
use ssinet_testbed::netns::{Lab, LabSpec, PortWeight, Protocol, Routing};
use std::net::SocketAddr;
use std::time::Duration;

/// How long a cluster may take to settle before a test calls it hung (TCG is slow; nothing
/// here is a measurement).
pub const PATIENCE: Duration = Duration::from_secs(90);

/// `nodes` nodes, `directors` director-capable, `routing`, TCP port 80 weight 1.
pub fn spec(nodes: u8, directors: &[u8], routing: Routing) -> LabSpec {
    LabSpec {
        nodes,
        directors: directors.to_vec(),
        routing,
        port_weights: vec![PortWeight {
            protocol: Protocol::Tcp,
            start_port: PORT,
            end_port: PORT,
            weight: 1,
        }],
    }
}

/// Starts every agent (binaries beside this program) and waits for a director.
pub fn start(spec: LabSpec) -> Result<(Cluster, u8)> {
    let cluster = Cluster::start(spec, Binaries::beside_current_exe()?)?;
    let director = wait_for_director(&cluster, &cluster.running())?;
    Ok((cluster, director))
}

/// Raft timing for clusters under TCG, where one guest RPC can take tens of milliseconds and
/// the whole guest stalls for up to a second or more now and then: heartbeat 100 ms
/// (openraft's append-entries deadline too), election 3000-4000 ms, so a 2 s fence release.
/// ssinetd's defaults (30 ms, 150-200 ms) are meant for real hardware; with the lab's (50 ms,
/// 300-600 ms), and in one run of three with 1000-1500 ms, a stall outlived the fence's
/// release and the director let the CVIP go for a moment: right for the fence (it cannot tell
/// a stalled guest from a partition), but a test that counts every request sees it.
pub const TCG_TIMING: [&str; 6] = [
    "--heartbeat-ms",
    "100",
    "--election-min-ms",
    "3000",
    "--election-max-ms",
    "4000",
];

/// Like [`start`], with [`TCG_TIMING`] instead of the lab's timing.
pub fn start_with_tcg_timing(spec: LabSpec) -> Result<(Cluster, u8)> {
    let mut cluster = Cluster::new(spec, Binaries::beside_current_exe()?)?;
    cluster.timing = TCG_TIMING.iter().map(ToString::to_string).collect();
    for node in 1..=cluster.node_count() {
        cluster.start_node(node)?;
    }
    let director = wait_for_director(&cluster, &cluster.running())?;
    Ok((cluster, director))
}

/// Waits until the Raft leader agreed on by `among` is the only node holding the CVIP on its
/// external interface; that node.
pub fn wait_for_director(cluster: &Cluster, among: &[u8]) -> Result<u8> {
    let leader = cluster.wait_for_leader(among, PATIENCE)?;
    cluster.eventually(
        &format!("node {leader} (the leader) to be the only one holding the CVIP on eth1"),
        PATIENCE,
        || {
            cluster
                .cvip_holders_among(among)
                .is_ok_and(|holders| holders == [leader])
        },
    )?;
    Ok(leader)
}

/// The CVIP:80 the client talks to.
pub fn target(cluster: &Cluster) -> SocketAddr {
    target_of(&cluster.lab)
}

/// The CVIP:80 of a lab.
pub fn target_of(lab: &Lab) -> SocketAddr {
    SocketAddr::from((lab.cvip(), PORT))
}

/// Waits until the director's IPVS service for CVIP:80 has exactly `expected` (node, weight)
/// destinations, as the kernel shows them (`/proc/net/ip_vs`, what `ipvsadm -Ln` prints).
pub fn wait_for_destinations(
    cluster: &Cluster,
    director: u8,
    expected: &[(u8, u32)],
) -> Result<()> {
    let mut last = String::from("(nothing read yet)");
    let found = cluster.eventually(
        &format!(
            "the IPVS table of node {director} to show CVIP:{PORT} with (node, weight) {expected:?}"
        ),
        PATIENCE,
        || match destinations(&cluster.lab, director) {
            Ok(found) => {
                last = format!("{found:?}");
                found.as_slice() == expected
            }
            Err(error) => {
                last = error.to_string();
                false
            }
        },
    );
    found.map_err(|error| match error {
        ClusterError::Timeout {
            what,
            seconds,
            logs,
        } => ClusterError::Timeout {
            what: format!("{what}; last seen: {last}"),
            seconds,
            logs,
        },
        other => other,
    })
}

/// The (node, weight) destinations of the CVIP:80 service in node `node`'s kernel, in node
/// order.
pub fn destinations(lab: &Lab, node: u8) -> Result<Vec<(u8, u32)>> {
    let service = format!("{}:{PORT}", lab.cvip());
    let table = proc_ip_vs(lab.node(node).netns())?;
    let mut found: Vec<(u8, u32)> = table
        .iter()
        .filter(|candidate| candidate.proto == "TCP" && candidate.address == service)
        .flat_map(|candidate| &candidate.destinations)
        .filter_map(|destination| {
            let ip = destination.address.split(':').next()?;
            let node = ip.strip_prefix("10.200.0.")?.parse().ok()?;
            Some((node, destination.weight))
        })
        .collect();
    found.sort_unstable();
    Ok(found)
}

/// The director dies: its links are cut, then its agent is SIGKILLed, as when a node loses
/// power (nothing it held answers any more, and it says no goodbye). What it held goes with
/// it ([`power_off_state`]), so checks of who holds the CVIP see only the living.
pub fn kill_director(cluster: &mut Cluster, node: u8) -> Result<()> {
    cluster.lab.partition(node)?;
    cluster.kill(node)?;
    power_off_state(&cluster.lab, node)
}

/// The dead node boots again and reconnects, and its agent starts; returns once it has applied
/// everything the leader had committed by then (healthy again, as an operator checks before
/// the next failure: a director behind the other voters could not win their votes).
pub fn revive(cluster: &mut Cluster, node: u8) -> Result<()> {
    cluster.lab.restore(node)?;
    cluster.start_node(node)?;
    let others: Vec<u8> = cluster
        .running()
        .into_iter()
        .filter(|n| *n != node)
        .collect();
    let leader = cluster.wait_for_leader(&others, PATIENCE)?;
    let committed = cluster
        .status(leader)
        .and_then(|s| s.commit_index)
        .unwrap_or(0);
    cluster.eventually(
        &format!("node {node} to apply the leader's log up to index {committed}"),
        PATIENCE,
        || {
            cluster
                .status(node)
                .and_then(|s| s.last_applied)
                .is_some_and(|applied| applied >= committed)
        },
    )
}

/// Removes what a node loses when it powers off: the CVIP and the NAT internal gateway on
/// any interface, and the IPVS table. Only for a partitioned node (nobody sees the change).
pub fn power_off_state(lab: &Lab, node: u8) -> Result<()> {
    let netns = lab.node(node).netns();
    let json = netns.ip(&["-j", "-4", "addr", "show"])?;
    let floating = [Some(lab.cvip()), lab.internal_gateway()];
    let mut addresses = Vec::new();
    for ip in floating.into_iter().flatten() {
        addresses.extend(
            cvip_addresses(&json, ip).map_err(|error| ClusterError::Output {
                command: format!("ip -j -4 addr show (in {})", netns.name()),
                reason: error.to_string(),
            })?,
        );
    }
    for address in addresses {
        let deleted = netns.ip(&[
            "addr",
            "del",
            &format!("{}/{}", address.ip, address.prefix_len),
            "dev",
            &address.ifname,
        ]);
        // The dead agent's fence guard may have released it in the meantime: only an address
        // that is still there is a failure.
        if let Err(error) = deleted {
            let json = netns.ip(&["-j", "-4", "addr", "show", "dev", &address.ifname])?;
            if json.contains(&format!("\"{}\"", address.ip)) {
                return Err(ClusterError::Netns(error));
            }
        }
    }
    netns.exec_ok(&["ipvsadm", "-C"])?;
    Ok(())
}

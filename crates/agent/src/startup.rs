//! From the files and flags to a Raft node configuration, refusing anything invalid before a
//! single file or socket is created.

use std::net::{IpAddr, SocketAddr};

use anyhow::{Context, bail};
use ssinet_config::{ClusterConfig, ConfigPaths, NodeId};
use ssinet_raft::{ClusterMember, Limits, MemberCapabilities, NodeConfig};

use crate::cli::Args;
use crate::detect;

/// The configuration files failed to load or validate; the diagnostics say where and why.
#[derive(Debug, thiserror::Error)]
#[error("the configuration is invalid, nothing was started:\n{0}")]
pub struct InvalidConfig(pub ssinet_config::Diagnostics);

/// Loads and validates clustertab, cvip.conf and lvs_routing.
pub fn load_config(args: &Args) -> Result<ClusterConfig, InvalidConfig> {
    let paths = ConfigPaths {
        clustertab: args.clustertab.clone(),
        cvip_conf: args.cvip_conf.clone(),
        lvs_routing: args.lvs_routing.clone(),
        lvs_routing_required: false,
    };
    ClusterConfig::load(&paths)
        .map(|loaded| loaded.config)
        .map_err(InvalidConfig)
}

/// This node's number: `--node`, checked against clustertab, or detected from local addresses.
pub fn own_node(args: &Args, config: &ClusterConfig) -> anyhow::Result<NodeId> {
    match args.node {
        Some(n) => {
            let num = n;
            if config.node(num).is_none() {
                let known: Vec<String> = config
                    .clustertab
                    .nodes
                    .iter()
                    .map(|n| n.num.to_string())
                    .collect();
                bail!(
                    "--node {n} is not in {} (its nodes: {})",
                    args.clustertab.display(),
                    known.join(", ")
                );
            }
            Ok(num)
        }
        None => {
            let local = detect::local_addresses()?;
            Ok(detect::node_from_addresses(&config.clustertab, &local)?)
        }
    }
}

/// Where `node`'s agent serves Raft RPC (`port` is cluster-wide).
pub fn raft_addr(ip: IpAddr, port: u16) -> SocketAddr {
    SocketAddr::new(ip, port)
}

/// Every clustertab node as a Raft member: director-capable = a `<director_node>` of cvip.conf.
pub fn members(config: &ClusterConfig, raft_port: u16) -> Vec<ClusterMember> {
    let directors = config.director_nodes();
    config
        .clustertab
        .nodes
        .iter()
        .map(|n| ClusterMember {
            capabilities: MemberCapabilities {
                node: n.num,
                director_capable: directors.contains(&n.num),
                init_capable: n.init_capable,
            },
            addr: raft_addr(n.ip, raft_port),
        })
        .collect()
}

/// Every other clustertab node's peer-status address (`port` is cluster-wide).
pub fn peer_status_addrs(
    config: &ClusterConfig,
    me: NodeId,
    port: u16,
) -> std::collections::BTreeMap<NodeId, SocketAddr> {
    config
        .clustertab
        .nodes
        .iter()
        .map(|n| (n.num, SocketAddr::new(n.ip, port)))
        .filter(|(id, _)| *id != me)
        .collect()
}

/// The Raft node configuration for this node.
pub fn node_config(
    args: &Args,
    config: &ClusterConfig,
    node: NodeId,
) -> anyhow::Result<NodeConfig> {
    let own = config
        .node(node)
        .context("own node missing from clustertab (checked before)")?;
    let timing = args.timing();
    if timing.election_min >= timing.election_max || timing.heartbeat >= timing.election_min {
        bail!(
            "timing: need --heartbeat-ms < --election-min-ms < --election-max-ms (got {} < {} < {})",
            args.heartbeat_ms,
            args.election_min_ms,
            args.election_max_ms
        );
    }
    Ok(NodeConfig {
        node,
        data_dir: args.data_dir.clone(),
        pki_dir: args.tls_dir.clone(),
        listen: args
            .listen
            .unwrap_or_else(|| raft_addr(own.ip, args.raft_port)),
        members: members(config, args.raft_port),
        timing,
        limits: Limits::default(),
        snapshot_every: 1000,
    })
}

//! The optional TCP check (`<health_check><tcp_check>on`): the director (and a standby that
//! keeps the table) connects to every registered TCP port on its node's interconnect address
//! each `interval_ms`; after `failures` refused or timed-out connects in a row that (node, port)
//! leaves the table (and is drained), and the first successful connect brings it back. The
//! check dials the interconnect address, so a service bound only to the CVIP cannot be checked
//! this way (leave the check off for it).

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ssinet_api::ClusterState;
use ssinet_config::{HealthCheck, NodeId, Protocol};

pub type CheckKey = (NodeId, u16);

/// Consecutive failures per (node, TCP port), shared with the probe tasks.
#[derive(Debug, Clone, Default)]
pub struct TcpCheck {
    failures: Arc<Mutex<BTreeMap<CheckKey, u32>>>,
    running: Arc<Mutex<Option<Probing>>>,
}

/// The probe loop and what it was started for.
#[derive(Debug)]
struct Probing {
    task: tokio::task::JoinHandle<()>,
    targets: Vec<(CheckKey, SocketAddr)>,
    check: HealthCheck,
}

impl TcpCheck {
    /// The (node, port) pairs that failed `limit` times in a row.
    pub fn failing(&self, limit: u32) -> BTreeSet<CheckKey> {
        self.failures
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .iter()
            .filter(|(_, n)| **n >= limit.max(1))
            .map(|(k, _)| *k)
            .collect()
    }

    /// Starts or stops the probe loop to match the configuration; call on every pass.
    pub fn keep(&self, state: &ClusterState, enabled: bool) {
        let mut running = self
            .running
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if !enabled {
            if let Some(probing) = running.take() {
                probing.task.abort();
            }
            self.failures
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .clear();
            return;
        }
        let targets: Vec<(CheckKey, SocketAddr)> = state
            .listeners
            .keys()
            .filter(|k| k.proto == Protocol::Tcp)
            .filter_map(|k| {
                let ip: IpAddr = state.config.node(k.node)?.ip;
                Some(((k.node, k.port), SocketAddr::new(ip, k.port)))
            })
            .collect();
        let check = state.config.cvip_conf.health_check();
        if running
            .as_ref()
            .is_some_and(|p| p.targets == targets && p.check == check)
        {
            return;
        }
        if let Some(probing) = running.take() {
            probing.task.abort();
        }
        let failures = self.failures.clone();
        failures
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .retain(|k, _| targets.iter().any(|(t, _)| t == k));
        let interval = Duration::from_millis(u64::from(check.interval_ms.max(10)));
        let timeout = Duration::from_millis(u64::from(check.timeout_ms.max(1)));
        let probe_targets = targets.clone();
        let probe_check = check.clone();
        let task = tokio::spawn(async move {
            let (targets, check) = (probe_targets, probe_check);
            loop {
                let probes = targets.iter().map(|(key, addr)| async move {
                    let ok = matches!(
                        tokio::time::timeout(timeout, tokio::net::TcpStream::connect(addr)).await,
                        Ok(Ok(_))
                    );
                    (*key, ok)
                });
                for (key, ok) in futures::future::join_all(probes).await {
                    let mut map = failures
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner);
                    let count = map.entry(key).or_insert(0);
                    if ok {
                        if *count > 0 {
                            tracing::info!(node = key.0.0, port = key.1, "TCP check passes again");
                        }
                        *count = 0;
                    } else {
                        *count = count.saturating_add(1);
                        if *count == check.failures_before_drain.max(1) {
                            tracing::warn!(
                                node = key.0.0,
                                port = key.1,
                                failures = *count,
                                "TCP check failing: draining"
                            );
                        }
                    }
                }
                tokio::time::sleep(interval).await;
            }
        });
        *running = Some(Probing {
            task,
            targets,
            check,
        });
    }
}

#[cfg(test)]
mod tests {
    use std::net::TcpListener;

    use ssinet_testbed::netns::Netns;

    use super::*;

    /// Polls `check` every 50 ms for up to 15 s (the check's own interval is 1 s).
    async fn eventually(what: &str, mut check: impl FnMut() -> bool) {
        for _ in 0..300 {
            if check() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("{what} did not happen within 15 s");
    }

    /// Real connects in a namespace of its own: the three nodes' addresses on its `lo`, port 80
    /// listening on nodes 1 and 3 only. Node 2's refused port fails the check; once it listens
    /// the failure count goes back to zero.
    #[test]
    fn a_registered_port_that_refuses_connections_fails_the_check_until_it_answers() {
        let netns = Netns::new("tcpcheck").unwrap();
        netns.ip(&["link", "set", "lo", "up"]).unwrap();
        for n in 1..=3 {
            netns
                .ip(&["addr", "add", &format!("10.200.0.{n}/32"), "dev", "lo"])
                .unwrap();
        }
        let state = crate::dataplane::desired::tests::state("DR", &[1, 2, 3]);
        netns
            .run(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                runtime.block_on(async move {
                    let _one = TcpListener::bind("10.200.0.1:80").unwrap();
                    let _three = TcpListener::bind("10.200.0.3:80").unwrap();
                    let check = TcpCheck::default();
                    check.keep(&state, true);
                    let failing_node_2 = BTreeSet::from([(NodeId(2), 80)]);
                    eventually("node 2's refused port to fail", || {
                        check.failing(1) == failing_node_2
                    })
                    .await;
                    let _two = TcpListener::bind("10.200.0.2:80").unwrap();
                    eventually("node 2 to pass again", || check.failing(1).is_empty()).await;
                    // Turned off, the check forgets what it counted.
                    check.keep(&state, false);
                    assert!(check.failing(1).is_empty());
                });
            })
            .unwrap();
    }
}

//! The external-link monitor: whether this node could serve the CVIPs on its external
//! interfaces now. A director-capable node checks each of its `garp_interface`s: carrier, and
//! (where the CVIP has an IPv4 gateway) that the gateway answers an ARP probe. A node whose
//! link is dead is not eligible: it never claims, never stands for election, and a director
//! stands aside for one that can serve.
//!
//! An ARP miss is counted only when a probe is sent and the one before it got no answer, so a
//! controller that was stalled (probes not sent) never reads its own delay as a dead link.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use ssinet_api::ClusterState;
use ssinet_config::NodeId;
use ssinet_netconf::{GatewayProbe, Manager};

/// How often each gateway is probed.
pub const PROBE_EVERY: Duration = Duration::from_millis(50);
/// Unanswered probes in a row before the link counts as dead (about 150-200 ms).
pub const DEAD_AFTER_MISSES: u32 = 3;

/// The pure part: probe bookkeeping for one gateway.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ArpHealth {
    sent: bool,
    answered: bool,
    misses: u32,
}

impl ArpHealth {
    /// A probe is about to be sent: the previous one is judged now.
    pub fn on_send(&mut self) {
        if self.sent {
            if self.answered {
                self.misses = 0;
            } else {
                self.misses = self.misses.saturating_add(1);
            }
        }
        self.sent = true;
        self.answered = false;
    }

    /// The gateway answered the probe in flight.
    pub fn on_answer(&mut self) {
        self.answered = true;
        self.misses = 0;
    }

    pub fn alive(&self) -> bool {
        self.misses < DEAD_AFTER_MISSES
    }
}

/// One external interface (and its gateway) this node would serve on.
struct Watch {
    probe: Option<GatewayProbe>,
    health: ArpHealth,
    last_sent: Option<Instant>,
}

/// The monitor's verdict.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LinkVerdict {
    /// Dead links: interface -> why.
    pub down: BTreeMap<String, String>,
}

impl LinkVerdict {
    pub fn healthy(&self) -> bool {
        self.down.is_empty()
    }
}

#[derive(Default)]
pub struct LinkMonitor {
    watches: BTreeMap<(String, Option<Ipv4Addr>), Watch>,
}

impl LinkMonitor {
    /// Checks every external interface `node` directs on; nothing to check (not
    /// director-capable) is healthy.
    pub async fn check(
        &mut self,
        net: &Manager,
        state: &ClusterState,
        node: NodeId,
        now: Instant,
    ) -> LinkVerdict {
        let mut wanted: Vec<(String, Option<Ipv4Addr>)> = Vec::new();
        for cvip in &state.config.cvip_conf.cvips {
            if let Some(d) = cvip.directors.iter().find(|d| d.node == node) {
                let gateway = match cvip.gateway {
                    Some(IpAddr::V4(gw)) => Some(gw),
                    // IPv6 gateways: carrier only (a neighbour-solicitation probe is not built).
                    _ => None,
                };
                let key = (d.garp_interface.clone(), gateway);
                if !wanted.contains(&key) {
                    wanted.push(key);
                }
            }
        }
        self.watches.retain(|key, _| wanted.contains(key));
        let mut verdict = LinkVerdict::default();
        for key in wanted {
            let (ifname, gateway) = &key;
            let link = match net.link_state(ifname).await {
                Ok(Some(link)) => link,
                Ok(None) => {
                    verdict
                        .down
                        .insert(ifname.clone(), "no such interface".into());
                    continue;
                }
                Err(e) => {
                    verdict.down.insert(ifname.clone(), format!("{e}"));
                    continue;
                }
            };
            if !link.carrier {
                // A probe would only queue; start afresh once carrier is back.
                self.watches.remove(&key);
                verdict.down.insert(ifname.clone(), "no carrier".into());
                continue;
            }
            let Some(gateway) = gateway else {
                continue;
            };
            let watch = self.watches.entry(key.clone()).or_insert_with(|| Watch {
                probe: None,
                health: ArpHealth::default(),
                last_sent: None,
            });
            if watch.probe.is_none() {
                match link
                    .mac
                    .map(|mac| GatewayProbe::open(ifname, link.index, mac, *gateway))
                {
                    Some(Ok(probe)) => watch.probe = Some(probe),
                    Some(Err(e)) => {
                        // Cannot probe (no CAP_NET_RAW?): judge by carrier alone.
                        tracing::debug!(ifname, error = %e, "cannot probe the gateway");
                        continue;
                    }
                    None => continue,
                }
            }
            let Some(probe) = &watch.probe else {
                continue;
            };
            if probe.answered() {
                watch.health.on_answer();
            }
            if watch
                .last_sent
                .is_none_or(|at| now.saturating_duration_since(at) >= PROBE_EVERY)
            {
                watch.health.on_send();
                if let Err(e) = probe.send() {
                    tracing::debug!(ifname, error = %e, "cannot send a gateway probe");
                }
                watch.last_sent = Some(now);
            }
            if !watch.health.alive() {
                verdict.down.insert(
                    ifname.clone(),
                    format!("gateway {gateway} does not answer ARP"),
                );
            }
        }
        verdict
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_link_dies_after_three_unanswered_probes_and_lives_on_one_answer() {
        let mut h = ArpHealth::default();
        h.on_send();
        assert!(h.alive());
        for _ in 0..DEAD_AFTER_MISSES {
            assert!(h.alive());
            h.on_send();
        }
        assert!(!h.alive());
        h.on_answer();
        assert!(h.alive());
    }

    #[test]
    fn answered_probes_never_count_as_misses() {
        let mut h = ArpHealth::default();
        for _ in 0..100 {
            h.on_send();
            h.on_answer();
        }
        h.on_send();
        assert!(h.alive());
    }

    proptest::proptest! {
        /// Misses count only unanswered probes in a row, however events interleave.
        #[test]
        fn dead_exactly_after_enough_unanswered_probes(events in proptest::collection::vec(proptest::prelude::any::<bool>(), 0..60)) {
            let mut h = ArpHealth::default();
            let mut run = 0u32;
            let mut pending: Option<bool> = None;
            for answer in events {
                // Each event: a probe is sent, and `answer` says whether it will be answered.
                h.on_send();
                if let Some(answered) = pending {
                    run = if answered { 0 } else { run + 1 };
                }
                if answer {
                    h.on_answer();
                    run = 0;
                }
                pending = Some(answer);
                proptest::prop_assert_eq!(h.alive(), run < DEAD_AFTER_MISSES);
            }
        }
    }
}

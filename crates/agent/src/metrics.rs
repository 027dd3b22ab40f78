//! `/metrics` in the Prometheus text exposition format (version 0.0.4), written by hand: a
//! handful of gauges and one histogram do not justify a metrics framework.

use std::fmt::Write as _;
use std::time::Duration;

use ssinet_api::admin::RaftRole;

use crate::agent::Agent;

/// Upper bounds (seconds) of the write latency buckets: 1 ms to 10 s.
const BUCKETS: [f64; 14] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 7.5, 10.0,
];

/// A cumulative Prometheus histogram of durations.
#[derive(Debug, Clone, Default)]
pub struct LatencyHistogram {
    /// Observations at or below each bound in [`BUCKETS`] (not cumulative; summed on output).
    counts: [u64; BUCKETS.len()],
    count: u64,
    sum_seconds: f64,
}

impl LatencyHistogram {
    pub fn observe(&mut self, elapsed: Duration) {
        let seconds = elapsed.as_secs_f64();
        if let Some(i) = BUCKETS.iter().position(|bound| seconds <= *bound) {
            self.counts[i] += 1;
        }
        self.count += 1;
        self.sum_seconds += seconds;
    }

    fn write(&self, out: &mut String, name: &str, help: &str) {
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} histogram");
        let mut cumulative = 0;
        for (bound, count) in BUCKETS.iter().zip(self.counts) {
            cumulative += count;
            let _ = writeln!(out, "{name}_bucket{{le=\"{bound}\"}} {cumulative}");
        }
        let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {}", self.count);
        let _ = writeln!(out, "{name}_sum {}", self.sum_seconds);
        let _ = writeln!(out, "{name}_count {}", self.count);
    }
}

fn gauge(out: &mut String, name: &str, help: &str, value: impl std::fmt::Display) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} gauge");
    let _ = writeln!(out, "{name} {value}");
}

/// The whole `/metrics` page.
pub fn render(agent: &Agent) -> String {
    let status = agent.status();
    let mut out = String::new();
    gauge(
        &mut out,
        "ssinet_node",
        "This agent's node number.",
        status.node,
    );
    gauge(
        &mut out,
        "ssinet_raft_term",
        "Current Raft term.",
        status.term,
    );
    gauge(
        &mut out,
        "ssinet_raft_leader",
        "Node number of the leader (the director) as this node knows it; 0 when none.",
        status.leader.map_or(0, |n| n.0),
    );
    gauge(
        &mut out,
        "ssinet_is_leader",
        "1 when this node is the Raft leader.",
        u8::from(status.role == RaftRole::Leader),
    );
    gauge(
        &mut out,
        "ssinet_raft_commit_index",
        "Highest log index known committed (-1 before the first entry).",
        status.commit_index.map_or(-1, |i| i as i128),
    );
    gauge(
        &mut out,
        "ssinet_raft_last_applied",
        "Highest log index applied to this node's state (-1 before the first entry).",
        status.last_applied.map_or(-1, |i| i as i128),
    );
    gauge(
        &mut out,
        "ssinet_quorum",
        "1 when writes can commit through this node (leader: fresh quorum acknowledgement; \
         others: the leader is reachable and has one).",
        u8::from(status.quorum),
    );
    let peers = status.nodes.iter().filter(|n| n.num != status.node);
    let (reachable, total) = peers.fold((0, 0), |(r, t), n| (r + u32::from(n.reachable), t + 1));
    gauge(
        &mut out,
        "ssinet_peers_reachable",
        "Other nodes that answered this node's last peer status probe.",
        reachable,
    );
    gauge(
        &mut out,
        "ssinet_peers",
        "Other nodes in clustertab.",
        total,
    );
    if let Some(ms) = status.millis_since_quorum_ack {
        gauge(
            &mut out,
            "ssinet_raft_millis_since_quorum_ack",
            "Leader only: milliseconds since a quorum last acknowledged it.",
            ms,
        );
    }
    gauge(
        &mut out,
        "ssinet_director_holds_cvip",
        "1 when this node's data plane holds CVIPs on its external interfaces (it directs).",
        u8::from(!status.data_plane.external.is_empty()),
    );
    gauge(
        &mut out,
        "ssinet_external_links_down",
        "External interfaces this director-capable node judges unable to serve (no carrier, or \
         the gateway does not answer ARP); while above 0 it neither claims nor stands for election.",
        status.data_plane.link_down.len(),
    );
    agent
        .write_latency
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .write(
            &mut out,
            "ssinet_apply_latency_seconds",
            "Commands submitted through this node's admin API: submission to applied answer \
             (committed on a quorum and applied on the leader).",
        );
    if let Some(rsock) = &agent.rsock {
        write_rsock(&mut out, rsock.counters());
    }
    out
}

fn counter(out: &mut String, name: &str, help: &str, value: u64) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} counter");
    let _ = writeln!(out, "{name} {value}");
}

/// The remote-socket service's counters (`ssi-exec` processes on this node, sockets served here).
fn write_rsock(out: &mut String, c: ssinet_rsock::Counters) {
    gauge(
        out,
        "ssinet_rsock_sockets_open",
        "Remote sockets of processes on this node, open now.",
        c.sockets_open,
    );
    gauge(
        out,
        "ssinet_rsock_origin_sockets_open",
        "Real sockets this node holds as origin, for processes on any node.",
        c.origin_sockets_open,
    );
    for (name, help, value) in [
        (
            "ssinet_rsock_sockets_created_total",
            "Remote sockets created for processes on this node.",
            c.sockets_created,
        ),
        (
            "ssinet_rsock_connects_total",
            "Outgoing connections this node's origin side completed.",
            c.connects,
        ),
        (
            "ssinet_rsock_connect_failures_total",
            "Outgoing connections this node's origin side saw fail.",
            c.connect_failures,
        ),
        (
            "ssinet_rsock_accepts_total",
            "Connections accepted on listening sockets this node holds as origin.",
            c.accepts,
        ),
        (
            "ssinet_rsock_received_bytes_total",
            "Bytes delivered to processes on this node through remote sockets.",
            c.bytes_in,
        ),
        (
            "ssinet_rsock_sent_bytes_total",
            "Bytes processes on this node sent through remote sockets.",
            c.bytes_out,
        ),
        (
            "ssinet_rsock_refused_connections_total",
            "Control or data connections refused (not a peer, bad certificate, unknown token).",
            c.refused_connections,
        ),
        (
            "ssinet_rsock_bad_frames_total",
            "Control frames refused as oversized or malformed.",
            c.bad_frames,
        ),
        (
            "ssinet_rsock_origins_lost_total",
            "Origin agents declared gone (disconnected or silent).",
            c.origins_lost,
        ),
        (
            "ssinet_rsock_permission_denials_total",
            "Requests refused by the caller's credentials (privileged ports or options).",
            c.permission_denials,
        ),
    ] {
        counter(out, name, help, value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_is_cumulative_and_counts_everything() {
        let mut h = LatencyHistogram::default();
        h.observe(Duration::from_micros(500));
        h.observe(Duration::from_millis(3));
        h.observe(Duration::from_secs(60));
        let mut out = String::new();
        h.write(&mut out, "x", "help");
        assert!(out.contains("x_bucket{le=\"0.001\"} 1\n"), "{out}");
        assert!(out.contains("x_bucket{le=\"0.005\"} 2\n"), "{out}");
        assert!(out.contains("x_bucket{le=\"10\"} 2\n"), "{out}");
        assert!(out.contains("x_bucket{le=\"+Inf\"} 3\n"), "{out}");
        assert!(out.contains("x_count 3\n"), "{out}");
        assert!(out.contains("# TYPE x histogram\n"), "{out}");
    }
}

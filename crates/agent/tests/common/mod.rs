//! The agent's tests on a namespace cluster of real `ssinetd` processes: a thin layer over
//! [`ssinet_lab::cluster::Cluster`] that panics instead of returning errors (a failed setup is a
//! failed test) and keeps the names these tests use. Every process is killed and every
//! namespace removed when the `Cluster` drops.
#![allow(dead_code, clippy::unwrap_used)]

pub mod http;

use std::ops::{Deref, DerefMut};
use std::path::Path;
use std::time::Duration;

use ssinet_api::Command;
use ssinet_lab::cluster::{self, Binaries};
use ssinet_testbed::netns::LabSpec;

pub use http::Answer;
#[allow(unused_imports)] // for tests that change the timings
pub use ssinet_lab::cluster::TIMING_FLAGS;

/// How long a cluster may take to do something before the test calls it hung. Never a
/// measurement: nothing here asserts how long anything takes.
const PATIENCE: Duration = Duration::from_secs(60);

/// The shared harness; everything not redefined here (`lab`, `dir`, `tls_dirs`, `timing`,
/// `socket`, `status`, `state`, `logs`, ...) is the harness's own, through `Deref`.
pub struct Cluster(cluster::Cluster);

impl Deref for Cluster {
    type Target = cluster::Cluster;

    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl DerefMut for Cluster {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.0
    }
}

impl Cluster {
    /// A lab of `nodes` nodes with `directors` director-capable, its PKI, nothing started.
    pub fn new(nodes: u8, directors: &[u8]) -> Self {
        let spec = LabSpec {
            nodes,
            directors: directors.to_vec(),
            ..LabSpec::default()
        };
        Self(cluster::Cluster::new(spec, Binaries::new(env!("CARGO_BIN_EXE_ssinetd"))).unwrap())
    }

    /// A cluster with every node's agent started.
    pub fn start(nodes: u8, directors: &[u8]) -> Self {
        let mut cluster = Self::new(nodes, directors);
        for n in 1..=nodes {
            cluster.start_node(n);
        }
        cluster
    }

    /// Starts (or restarts) node `n`'s agent, logging to `node<n>.log` (appended).
    pub fn start_node(&mut self, n: u8) {
        self.0.start_node(n).unwrap();
    }

    /// SIGKILLs node `n`'s agent (a crash: no cleanup).
    pub fn kill(&mut self, n: u8) {
        self.0.kill(n).unwrap();
    }

    /// SIGTERMs node `n`'s agent and waits for it; its exit status.
    pub fn terminate(&mut self, n: u8) -> std::process::ExitStatus {
        self.0
            .terminate(n, Duration::from_secs(30))
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// Sends `command` to node `n`'s admin API.
    pub fn command_on(&self, n: u8, command: &Command) -> Answer {
        self.0
            .command_on(n, command)
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// Waits for a director-capable leader all of `among` agree on.
    pub fn wait_for_leader(&self, among: &[u8]) -> u8 {
        self.0
            .wait_for_leader(among, PATIENCE)
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// Waits until each of `nodes` holds the state seeded from cvip.conf.
    pub fn wait_until_seeded(&self, nodes: &[u8]) {
        self.0
            .wait_until_seeded(nodes, PATIENCE)
            .unwrap_or_else(|e| panic!("{e}"));
    }
}

/// Polls `check` until it holds; after a generous deadline panics with `what` and the logs.
pub fn eventually(what: &str, check: impl FnMut() -> bool, cluster: &Cluster) {
    cluster
        .eventually(what, PATIENCE, check)
        .unwrap_or_else(|e| panic!("{e}"));
}

pub fn exists(path: &Path) -> bool {
    std::fs::symlink_metadata(path).is_ok()
}

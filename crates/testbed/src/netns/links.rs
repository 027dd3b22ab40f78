//! Links and addresses inside a [`Netns`], through iproute2's `ip` run in the namespace.
//!
//! This is a test harness: `ip` is simple and speaks every link type. To keep it fast, batch
//! several commands into one `ip -batch -` process with [`Netns::ip_batch`].
use super::error::{NetnsError, Result};
use super::namespace::Netns;
use serde::Deserialize;

/// One entry of a namespace's neighbour (ARP/NDP) table.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Neighbour {
    /// The neighbour's IP address.
    #[serde(rename = "dst")]
    pub ip: String,
    /// The interface it was seen on.
    pub dev: String,
    /// Its link-layer address, absent while unresolved.
    pub lladdr: Option<String>,
    /// Kernel states such as `REACHABLE`, `STALE`, `FAILED`, `PERMANENT`.
    #[serde(default)]
    pub state: Vec<String>,
}

impl Netns {
    /// Runs `ip ARGS...` in the namespace; its stdout, or an error with its stderr.
    pub fn ip(&self, args: &[&str]) -> Result<String> {
        let mut argv = Vec::with_capacity(args.len() + 1);
        argv.push("ip");
        argv.extend_from_slice(args);
        self.exec_ok(&argv)
    }

    /// Runs several `ip` commands (one a line, without the leading `ip`, e.g.
    /// `addr add 10.0.0.1/24 dev eth0`) in one `ip -batch -` process; stops at the first failure.
    pub fn ip_batch(&self, commands: &str) -> Result<String> {
        self.exec_with_input(&["ip", "-batch", "-"], commands)
    }

    /// Joins two namespaces with a veth pair, `a_if` in `a` and `b_if` in `b`, both brought up.
    pub fn veth(a: &Netns, a_if: &str, b: &Netns, b_if: &str) -> Result<()> {
        a.ip(&[
            "link",
            "add",
            a_if,
            "up",
            "type",
            "veth",
            "peer",
            "name",
            b_if,
            "netns",
            b.name(),
        ])?;
        // The kernel refuses `up` for a peer created in another namespace; bring it up there.
        b.link_up(b_if)
    }

    /// Adds an address (`"10.0.0.1/24"`, `"fd00::1/64"`) to an interface.
    pub fn add_address(&self, ifname: &str, cidr: &str) -> Result<()> {
        self.ip(&["addr", "add", cidr, "dev", ifname]).map(drop)
    }

    /// Creates a bridge (STP off, so ports forward at once), up, and attaches `ports` to it.
    pub fn add_bridge(&self, bridge: &str, ports: &[&str]) -> Result<()> {
        let mut batch = format!("link add {bridge} up type bridge\n");
        for port in ports {
            batch.push_str(&format!("link set {port} master {bridge} up\n"));
        }
        self.ip_batch(&batch).map(drop)
    }

    /// The namespace's neighbour table (`ip -j neigh show`), IPv4 and IPv6.
    pub fn neighbours(&self) -> Result<Vec<Neighbour>> {
        let json = self.ip(&["-j", "neigh", "show"])?;
        serde_json::from_str(&json).map_err(|error| NetnsError::Output {
            command: format!("ip -j neigh show (in {})", self.name()),
            reason: error.to_string(),
        })
    }

    /// The MAC this namespace has learnt for `ip`, if any (`None` while unresolved or failed).
    pub fn neighbour_mac(&self, ip: &str) -> Result<Option<String>> {
        Ok(self
            .neighbours()?
            .into_iter()
            .find(|n| n.ip == ip)
            .and_then(|n| n.lladdr))
    }
}

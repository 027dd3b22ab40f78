//! Node network configuration for ssinet: everything the agent changes on a node's network other
//! than IPVS goes through this crate.
//!
//! The model is level-triggered. The agent describes what it wants to own ([`NetConfig`]); the
//! [`Manager`] reads the kernel, diffs the desired state against the objects it owns (and only
//! those), and produces a [`Plan`] of ordered [`Step`]s. Applying a plan journals every step before
//! it runs, so a failure rolls the applied steps back in reverse and a crash is rolled back by the
//! next [`Manager::open`]. Applying the same desired state twice plans nothing.
//!
//! ```no_run
//! # async fn director() -> Result<(), ssinet_netconf::NetconfError> {
//! use ssinet_netconf::{CvipRoute, GarpBurst, Manager, NetConfig, OwnedAddress};
//! let mut net = Manager::open("/var/lib/ssinet/netconf").await?; // rolls back a crashed change
//! let cvip = "192.168.200.10".parse().expect("an address");
//! let gateway = "192.168.200.1".parse().expect("an address");
//! let director = NetConfig {
//!     addresses: vec![OwnedAddress::host(cvip, "eth1")],
//!     cvip_routes: vec![CvipRoute { cvip, gateway, ifname: "eth1".into() }],
//!     ..NetConfig::default()
//! };
//! net.reconcile(&director).await?; // again: plans nothing
//! net.send_garp("eth1", cvip, GarpBurst::default()).await?; // on every claim and term change
//! net.release_cvip(cvip).await?;
//! # Ok(()) }
//! ```
//!
//! Ownership marks, so a restarted agent recognises its objects and never touches anyone else's:
//! - IPv4 addresses carry the label `<ifname>:ssi` ([`address_label`]).
//! - IPv6 addresses carry the address protocol [`OWNER_PROTOCOL`] (`IFA_PROTO`) and are also listed
//!   in the state file, because kernels before 5.18 have no address protocol.
//! - Routes and rules carry the routing protocol [`OWNER_PROTOCOL`] (0x53 = 83, not in
//!   iproute2's `rt_protos`; a `83 ssinet` line in `/etc/iproute2/rt_protos.d/ssinet.conf` makes
//!   `ip route` print it by name).
//! - Per-CVIP routing tables are allocated from [`TABLE_RANGE`] and remembered in the state file.

mod error;
mod frame;
mod garp;
mod journal;
mod kernel;
mod manager;
mod messages;
mod model;
mod plan;
mod reach;
mod sysctl;

pub use error::{ApplyError, NetconfError};
pub use frame::{
    ArpForm, MacAddr, arp_announcement, arp_probe, ipv6_unsolicited_na, parse_arp_reply,
};
pub use garp::GarpBurst;
pub use manager::{Applied, Manager};
pub use model::{
    CvipRoute, NatReturnPath, NetConfig, OwnedAddress, RouteSpec, RuleSpec, SysctlSetting, TableKey,
};
pub use plan::{Plan, Step};
pub use reach::{GatewayProbe, LinkState, withdraw_addresses};
pub use sysctl::{SysctlKey, ipvs_present};

/// The protocol number that marks routes, rules and (where the kernel supports it) IPv6 addresses
/// as owned by ssinet. 0x53 is "S"; it is not in iproute2's reserved list.
pub const OWNER_PROTOCOL: u8 = 0x53;

/// Routing tables ssinet allocates for per-CVIP policy routing and the NAT return path.
pub const TABLE_RANGE: std::ops::RangeInclusive<u32> = 10_000..=10_999;

/// Rule priorities ssinet uses: `RULE_PRIORITY_BASE + (table - TABLE_RANGE.start())`, all ahead
/// of the `main` table's 32766.
pub const RULE_PRIORITY_BASE: u32 = 1_000;

/// The label suffix of owned IPv4 addresses.
pub const LABEL_SUFFIX: &str = ":ssi";

/// The label an owned IPv4 address carries on `ifname`. Linux labels must start with the
/// interface name and fit in 15 bytes; a name too long for the suffix gets a shortened suffix,
/// and as a last resort the bare interface name (ownership then rests on the state file).
pub fn address_label(ifname: &str) -> String {
    for suffix in [LABEL_SUFFIX, ":s"] {
        if ifname.len() + suffix.len() <= 15 {
            return format!("{ifname}{suffix}");
        }
    }
    ifname.to_string()
}

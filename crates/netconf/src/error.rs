//! Errors: each names what was wrong (field and value) and what to do about it.

use std::net::IpAddr;
use std::path::PathBuf;

use crate::plan::Step;

/// Everything that can go wrong while validating, planning, or talking to the kernel.
#[derive(Debug, thiserror::Error)]
pub enum NetconfError {
    #[error(
        "interface {ifname:?} (field `{field}`) does not exist on this node; check the name in cvip.conf or lvs_routing"
    )]
    UnknownInterface { field: &'static str, ifname: String },

    #[error("`{field}` = {value} is {found}, but {expected} is required here (the CVIP is {cvip})")]
    WrongFamily {
        field: &'static str,
        value: IpAddr,
        cvip: IpAddr,
        found: &'static str,
        expected: &'static str,
    },

    #[error("`{field}` prefix length /{prefix_len} is invalid for {addr}: at most /{max}")]
    BadPrefixLength {
        field: &'static str,
        addr: IpAddr,
        prefix_len: u8,
        max: u8,
    },

    #[error(
        "address {addr} is already present on {ifname} and is not owned by ssinet (label {label:?}); remove it by hand or choose another CVIP"
    )]
    AddressConflict {
        addr: IpAddr,
        ifname: String,
        label: Option<String>,
    },

    #[error("`{field}` = {value} is listed twice in the desired configuration")]
    Duplicate { field: &'static str, value: String },

    #[error(
        "sysctl key {key:?} is not allowed: only per-namespace `net.*` keys without `..` are managed"
    )]
    SysctlKeyNotAllowed { key: String },

    #[error(
        "sysctl {key} does not exist ({path}): the kernel lacks the feature or the interface is missing"
    )]
    SysctlMissing { key: String, path: PathBuf },

    #[error(
        "sysctl {key} is an IPVS knob but IPVS is not present in this kernel ({path} is missing); load ip_vs or leave IPVS settings out"
    )]
    IpvsNotPresent { key: String, path: PathBuf },

    #[error("reading sysctl {key} from {path}: {source}")]
    SysctlRead {
        key: String,
        path: PathBuf,
        source: std::io::Error,
    },

    #[error("writing {value:?} to sysctl {key} ({path}): {source}")]
    SysctlWrite {
        key: String,
        value: String,
        path: PathBuf,
        source: std::io::Error,
    },

    #[error("no free routing table left in {first}..={last}; release unused CVIPs")]
    TablesExhausted { first: u32, last: u32 },

    #[error("netlink {operation}: {source}")]
    Netlink {
        operation: String,
        source: rtnetlink::Error,
    },

    #[error("opening a netlink socket: {0}; the agent needs CAP_NET_ADMIN")]
    NetlinkSocket(std::io::Error),

    #[error("{operation} on {ifname}: {source}")]
    PacketSocket {
        operation: &'static str,
        ifname: String,
        source: std::io::Error,
    },

    #[error(
        "interface {ifname} has no Ethernet (6-byte) hardware address; gratuitous ARP needs one"
    )]
    NoHardwareAddress { ifname: String },

    #[error("{what} {path}: {source}; check the data directory's permissions and free space")]
    StateIo {
        what: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },

    #[error("{path} is not a valid {what}: {source}; move it aside to start from an empty state")]
    StateCorrupt {
        what: &'static str,
        path: PathBuf,
        source: serde_json::Error,
    },

    #[error(transparent)]
    Apply(Box<ApplyError>),

    #[error("rolling back after a crash: step {index} ({step}) could not be undone: {source}")]
    Recovery {
        index: usize,
        step: String,
        source: Box<NetconfError>,
    },
}

impl NetconfError {
    pub(crate) fn netlink(operation: impl Into<String>, source: rtnetlink::Error) -> Self {
        Self::Netlink {
            operation: operation.into(),
            source,
        }
    }
}

/// A failed [`crate::Manager::apply`].
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    #[error("the plan is stale: another change was applied after it was planned; plan again")]
    Stale,

    #[error("writing the state file after all steps succeeded: {0}")]
    Journal(NetconfError),

    /// A step failed; the steps before it were undone in reverse.
    #[error("step {index} ({step}) failed: {source}{}", rollback_summary(.rollback_failures))]
    Step {
        /// Index of the failed step in the plan.
        index: usize,
        /// The step that failed.
        step: Step,
        /// Why it failed.
        #[source]
        source: NetconfError,
        /// Steps that could not be undone (empty when the node is back to its previous state).
        rollback_failures: Vec<(Step, NetconfError)>,
    },
}

fn rollback_summary(failures: &[(Step, NetconfError)]) -> String {
    if failures.is_empty() {
        "; all applied steps were rolled back".to_string()
    } else {
        let list: Vec<String> = failures.iter().map(|(s, e)| format!("{s}: {e}")).collect();
        format!("; rollback left these steps in place: {}", list.join("; "))
    }
}

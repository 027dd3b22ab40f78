//! Errors of the codec, the client and the reconciler.

use std::io;

/// A message from the kernel (or a fuzzer) that does not follow the IPVS wire format.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("truncated {what}: need {need} bytes, have {have}")]
    Truncated {
        what: &'static str,
        need: usize,
        have: usize,
    },
    #[error("attribute {kind} claims length {len} but {available} bytes remain")]
    BadAttributeLength {
        kind: u16,
        len: usize,
        available: usize,
    },
    #[error("{what} is not valid UTF-8")]
    NotUtf8 { what: &'static str },
    #[error("address family {0} is neither AF_INET (2) nor AF_INET6 (10)")]
    UnknownFamily(u16),
    #[error("{object} lacks the {attribute} attribute")]
    Missing {
        object: &'static str,
        attribute: &'static str,
    },
    #[error("unknown IPVS command {0}")]
    UnknownCommand(u8),
    #[error("unknown {what} value {value}")]
    UnknownValue { what: &'static str, value: u32 },
    #[error("netlink framing: {0}")]
    Netlink(String),
}

/// What a failed operation was doing, so the error names the service or destination.
pub type OperationLabel = String;

/// Errors of [`crate::IpvsClient`] and [`crate::reconcile`].
#[derive(Debug, thiserror::Error)]
pub enum IpvsError {
    #[error(
        "cannot open the generic netlink socket: {0} (IPVS needs root or CAP_NET_ADMIN in this network namespace)"
    )]
    Socket(#[source] io::Error),
    #[error(
        "the kernel has no IPVS generic netlink family ({0}); load the ip_vs module (`modprobe ip_vs`) or use a kernel built with CONFIG_IP_VS"
    )]
    FamilyMissing(String),
    #[error("netlink I/O failed: {0}")]
    Io(#[from] io::Error),
    #[error("the kernel sent a reply that cannot be decoded: {0}")]
    Decode(#[from] DecodeError),
    #[error("{operation}: kernel refused with {errno_name} ({errno}): {hint}")]
    Kernel {
        operation: OperationLabel,
        errno: i32,
        errno_name: &'static str,
        hint: &'static str,
    },
    #[error("invalid {what}: {why}")]
    Invalid { what: String, why: String },
}

impl IpvsError {
    /// The kernel errno of a refused request, if that is what this is.
    pub fn errno(&self) -> Option<i32> {
        match self {
            IpvsError::Kernel { errno, .. } => Some(*errno),
            _ => None,
        }
    }

    pub(crate) fn kernel(operation: OperationLabel, errno: i32) -> Self {
        let (errno_name, hint) = match errno {
            libc::EEXIST => ("EEXIST", "it already exists; edit it instead of adding it"),
            libc::ESRCH => ("ESRCH", "no such virtual service; add the service first"),
            libc::ENOENT => (
                "ENOENT",
                "no such object (destination, scheduler or persistence engine); check the name or add it first",
            ),
            libc::EINVAL => (
                "EINVAL",
                "the kernel rejected the arguments (a missing attribute, a bad netmask, or a real server address on a down `lo`)",
            ),
            libc::EPERM => ("EPERM", "run as root or with CAP_NET_ADMIN"),
            libc::EAFNOSUPPORT => (
                "EAFNOSUPPORT",
                "address family not supported (kernel without CONFIG_IP_VS_IPV6?)",
            ),
            libc::EBUSY => (
                "EBUSY",
                "busy: the sync daemon is already running in that role",
            ),
            libc::ENOMEM => ("ENOMEM", "the kernel is out of memory"),
            libc::ENOBUFS => ("ENOBUFS", "the netlink receive buffer overflowed; retry"),
            _ => ("errno", "see errno(3)"),
        };
        IpvsError::Kernel {
            operation,
            errno,
            errno_name,
            hint,
        }
    }
}

//! Sysctls through `/proc/sys`. `net.*` files resolve against the network namespace of the
//! thread that opens them, so a manager running on a thread inside a namespace sees that
//! namespace's values.

use std::fmt;
use std::path::{Path, PathBuf};

use crate::error::NetconfError;

const PROC_SYS: &str = "/proc/sys";

/// A validated sysctl key, kept in its slash-separated form (`net/ipv4/conf/eth0.10/arp_ignore`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SysctlKey(String);

impl SysctlKey {
    /// Accepts `net.ipv4.ip_forward` (dots) or `net/ipv4/conf/eth0.10/rp_filter` (slashes, needed
    /// when an interface name contains a dot). Only `net` keys are managed: they are per
    /// namespace, which is what the agent configures.
    pub fn parse(key: &str) -> Result<Self, NetconfError> {
        let slashed = if key.contains('/') {
            key.to_string()
        } else {
            key.replace('.', "/")
        };
        let parts: Vec<&str> = slashed.split('/').collect();
        let valid = parts.len() >= 2
            && parts[0] == "net"
            && parts
                .iter()
                .all(|p| !p.is_empty() && *p != "." && *p != "..");
        if valid {
            Ok(Self(slashed))
        } else {
            Err(NetconfError::SysctlKeyNotAllowed {
                key: key.to_string(),
            })
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn path(&self) -> PathBuf {
        Path::new(PROC_SYS).join(&self.0)
    }

    /// IPVS knobs live under `net/ipv4/vs` and exist only while `ip_vs` is loaded.
    pub fn is_ipvs(&self) -> bool {
        self.0.starts_with("net/ipv4/vs/")
    }

    pub fn read(&self) -> Result<String, NetconfError> {
        let path = self.path();
        match std::fs::read_to_string(&path) {
            Ok(v) => Ok(v.trim().to_string()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(self.missing(path)),
            Err(source) => Err(NetconfError::SysctlRead {
                key: self.0.clone(),
                path,
                source,
            }),
        }
    }

    pub fn write(&self, value: &str) -> Result<(), NetconfError> {
        let path = self.path();
        match std::fs::write(&path, value.as_bytes()) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(self.missing(path)),
            Err(source) => Err(NetconfError::SysctlWrite {
                key: self.0.clone(),
                value: value.to_string(),
                path,
                source,
            }),
        }
    }

    fn missing(&self, path: PathBuf) -> NetconfError {
        if self.is_ipvs() {
            NetconfError::IpvsNotPresent {
                key: self.0.clone(),
                path,
            }
        } else {
            NetconfError::SysctlMissing {
                key: self.0.clone(),
                path,
            }
        }
    }
}

impl fmt::Display for SysctlKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Whether IPVS is present in this network namespace (its `net.ipv4.vs` sysctls exist). Callers
/// leave the `net.ipv4.vs.*` settings out when it is not.
pub fn ipvs_present() -> bool {
    Path::new(PROC_SYS).join("net/ipv4/vs").is_dir()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dotted_and_slashed_keys() {
        assert_eq!(
            SysctlKey::parse("net.ipv4.ip_forward").unwrap().as_str(),
            "net/ipv4/ip_forward"
        );
        let k = SysctlKey::parse("net/ipv4/conf/eth0.10/arp_ignore").unwrap();
        assert_eq!(
            k.path(),
            PathBuf::from("/proc/sys/net/ipv4/conf/eth0.10/arp_ignore")
        );
        assert!(
            SysctlKey::parse("net.ipv4.vs.sloppy_tcp")
                .unwrap()
                .is_ipvs()
        );
    }

    #[test]
    fn rejects_keys_outside_net_and_traversal() {
        for bad in [
            "kernel.panic",
            "net",
            "net/../kernel/panic",
            "net//x",
            "vm.swappiness",
        ] {
            assert!(
                matches!(
                    SysctlKey::parse(bad),
                    Err(NetconfError::SysctlKeyNotAllowed { .. })
                ),
                "{bad}"
            );
        }
    }
}

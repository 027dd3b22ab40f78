use std::net::IpAddr;

pub use ssinet_config::Protocol;

/// A socket that can accept clients on a port: TCP in LISTEN, or UDP bound and not connected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Listener {
    pub proto: Protocol,
    /// The local address as the kernel reports it: `0.0.0.0` / `::` for a wildcard bind; an
    /// IPv6 socket bound to an IPv4 address shows it v4-mapped (`::ffff:a.b.c.d`).
    pub addr: IpAddr,
    pub port: u16,
    /// Socket inode, as in `/proc/<pid>/fd` (`socket:[inode]`): find the owning process.
    pub inode: u32,
    pub uid: u32,
    /// IPV6_V6ONLY: an IPv6 socket that takes no IPv4 traffic (a wildcard one then does not
    /// serve an IPv4 CVIP). Always false for IPv4 sockets.
    pub v6only: bool,
}

impl Listener {
    /// The bound address with a v4-mapped IPv6 address turned into the IPv4 address it names.
    pub fn canonical_addr(&self) -> IpAddr {
        self.addr.to_canonical()
    }

    /// Whether the socket is bound to no particular address.
    pub fn is_wildcard(&self) -> bool {
        self.canonical_addr().is_unspecified()
    }

    /// Whether traffic to `cvip` reaches this socket: bound to it, or a wildcard of its
    /// family. A dual-stack `::` socket takes IPv4 too, a v6-only one does not; `0.0.0.0` (also
    /// as `::ffff:0.0.0.0`) takes IPv4 only.
    pub fn serves(&self, cvip: IpAddr) -> bool {
        let cvip = cvip.to_canonical();
        let addr = self.canonical_addr();
        if !addr.is_unspecified() {
            return addr == cvip;
        }
        match (addr, cvip) {
            (IpAddr::V4(_), cvip) => cvip.is_ipv4(),
            (IpAddr::V6(_), IpAddr::V6(_)) => true,
            (IpAddr::V6(_), IpAddr::V4(_)) => !self.v6only,
        }
    }
}

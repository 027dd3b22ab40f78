//! Whether an external interface can still serve: its carrier, and whether its gateway still
//! answers ARP. A director whose link died (carrier lost, or the port silently cut behind a
//! switch) must stand aside, and a standby whose link is dead must never claim; keepalived
//! learns this only indirectly, from adverts that stop arriving.
//!
//! Also the fence guard's direct withdrawal of the addresses a frozen agent holds.

use std::net::{IpAddr, Ipv4Addr};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use crate::error::NetconfError;
use crate::frame::{MacAddr, arp_probe, parse_arp_reply};
use crate::garp::PacketSender;
use crate::kernel::Kernel;
use crate::manager::Manager;
use crate::plan::is_owned;

const ETH_P_ARP: u16 = 0x0806;

/// An interface as the reachability check needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinkState {
    pub index: u32,
    /// `IFF_LOWER_UP`.
    pub carrier: bool,
    pub mac: Option<MacAddr>,
}

impl Manager {
    /// `ifname`'s index, carrier and MAC; `None` when there is no such interface.
    pub async fn link_state(&self, ifname: &str) -> Result<Option<LinkState>, NetconfError> {
        Ok(self.link(ifname).await?.map(|l| LinkState {
            index: l.index,
            carrier: l.carrier,
            mac: l.mac,
        }))
    }
}

/// Sends ARP probes for a gateway out of one interface and notices its replies.
pub struct GatewayProbe {
    sender: PacketSender,
    /// Receives ARP frames arriving on the interface (non-blocking).
    receiver: OwnedFd,
    frame: Vec<u8>,
    gateway: Ipv4Addr,
}

impl GatewayProbe {
    /// A probe for `gateway` from `ifname` (index `ifindex`, hardware address `mac`).
    pub fn open(
        ifname: &str,
        ifindex: u32,
        mac: MacAddr,
        gateway: Ipv4Addr,
    ) -> Result<Self, NetconfError> {
        let sender = PacketSender::open(ifname, ifindex)?;
        let error = |operation: &'static str| NetconfError::PacketSocket {
            operation,
            ifname: ifname.to_string(),
            source: std::io::Error::last_os_error(),
        };
        let protocol = i32::from(ETH_P_ARP.to_be());
        // SAFETY: plain socket(2) call; the result is checked before use.
        let raw = unsafe {
            libc::socket(
                libc::AF_PACKET,
                libc::SOCK_RAW | libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK,
                protocol,
            )
        };
        if raw < 0 {
            return Err(error("opening an AF_PACKET socket for ARP replies"));
        }
        // SAFETY: `raw` is a fresh descriptor this function exclusively owns.
        let receiver = unsafe { OwnedFd::from_raw_fd(raw) };
        // SAFETY: sockaddr_ll is plain old data; all-zero is a valid starting value.
        let mut addr: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        addr.sll_family = u16::try_from(libc::AF_PACKET).expect("AF_PACKET fits in u16");
        addr.sll_protocol = ETH_P_ARP.to_be();
        addr.sll_ifindex = i32::try_from(ifindex).map_err(|_| NetconfError::PacketSocket {
            operation: "interface index out of range",
            ifname: ifname.to_string(),
            source: std::io::Error::from(std::io::ErrorKind::InvalidInput),
        })?;
        let len = u32::try_from(std::mem::size_of::<libc::sockaddr_ll>()).expect("small struct");
        // SAFETY: the address is valid for the length passed.
        let rc = unsafe { libc::bind(receiver.as_raw_fd(), std::ptr::from_ref(&addr).cast(), len) };
        if rc < 0 {
            return Err(error("binding the ARP socket to the interface"));
        }
        Ok(Self {
            sender,
            receiver,
            frame: arp_probe(mac, gateway),
            gateway,
        })
    }

    /// Sends one probe.
    pub fn send(&self) -> Result<(), NetconfError> {
        self.sender.send(&self.frame)
    }

    /// Reads every frame queued since the last call; true if one was the gateway's ARP reply.
    pub fn answered(&self) -> bool {
        let mut buf = [0u8; 128];
        let mut answered = false;
        loop {
            // SAFETY: the buffer is valid for its length; the socket is non-blocking.
            let n = unsafe {
                libc::recv(
                    self.receiver.as_raw_fd(),
                    buf.as_mut_ptr().cast(),
                    buf.len(),
                    0,
                )
            };
            let Ok(n) = usize::try_from(n) else {
                // EAGAIN (nothing left) or an error: either way, done for now.
                return answered;
            };
            if n == 0 {
                return answered;
            }
            if parse_arp_reply(&buf[..n]).is_some_and(|(ip, _)| ip == self.gateway) {
                answered = true;
            }
        }
    }
}

/// Removes those of `held` (address, interface) that are present and marked as ssinet's,
/// straight through netlink and without touching the ownership state: the fence guard's way
/// of taking the CVIPs from an agent that stopped renewing its lease (frozen) while it still
/// holds the state's lock. The agent, when it runs again, finds them gone and reconciles.
/// Returns what it removed.
pub async fn withdraw_addresses(held: &[(IpAddr, String)]) -> Result<Vec<IpAddr>, NetconfError> {
    let kernel = Kernel::connect()?;
    let links = kernel.links().await?;
    let observed = kernel.addresses(&links).await?;
    let mut removed = Vec::new();
    for (addr, ifname) in held {
        let Some(link) = links.iter().find(|l| &l.name == ifname) else {
            continue;
        };
        let present = observed.iter().find(|o| {
            o.address.addr == *addr
                && o.address.ifname == *ifname
                && is_owned(o, &Default::default())
        });
        if let Some(o) = present {
            kernel.del_address(&o.address, link.index).await?;
            removed.push(*addr);
        }
    }
    Ok(removed)
}

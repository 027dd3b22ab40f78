//! Announcing an address (gratuitous ARP, unsolicited neighbour advertisement): frames sent
//! through an AF_PACKET socket bound to one interface.

use std::net::IpAddr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::Duration;

use tracing::info;

use crate::error::NetconfError;
use crate::frame::{ArpForm, MacAddr, arp_announcement, ipv6_unsolicited_na};
use crate::manager::Manager;

/// How many announcements to send and how far apart. The default (5 at 200 ms) matches
/// keepalived's `garp_master_repeat`-style bursts, spread so a peer that drops one still updates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GarpBurst {
    pub count: u32,
    pub interval: Duration,
    pub arp_form: ArpForm,
}

impl Default for GarpBurst {
    fn default() -> Self {
        Self {
            count: 5,
            interval: Duration::from_millis(200),
            arp_form: ArpForm::Request,
        }
    }
}

impl Manager {
    /// Sends gratuitous ARP (IPv4) or unsolicited neighbour advertisements (IPv6) for `addr` out
    /// of `ifname`: `burst.count` announcements, `burst.interval` apart.
    pub async fn send_garp(
        &self,
        ifname: &str,
        addr: IpAddr,
        burst: GarpBurst,
    ) -> Result<(), NetconfError> {
        let link = self.require_link("garp_interface", ifname).await?;
        let mac = link.mac.ok_or_else(|| NetconfError::NoHardwareAddress {
            ifname: ifname.to_string(),
        })?;
        let sender = PacketSender::open(ifname, link.index)?;
        let frames = announcement_frames(mac, addr, burst.arp_form);
        for n in 0..burst.count {
            for frame in &frames {
                sender.send(frame)?;
            }
            if n + 1 < burst.count {
                tokio::time::sleep(burst.interval).await;
            }
        }
        info!(%addr, ifname, count = burst.count, "announced address");
        Ok(())
    }
}

/// The frames one announcement of `addr` consists of.
pub(crate) fn announcement_frames(mac: MacAddr, addr: IpAddr, form: ArpForm) -> Vec<Vec<u8>> {
    match addr {
        IpAddr::V4(v4) => match form {
            ArpForm::Both => vec![
                arp_announcement(mac, v4, ArpForm::Request),
                arp_announcement(mac, v4, ArpForm::Reply),
            ],
            single => vec![arp_announcement(mac, v4, single)],
        },
        IpAddr::V6(v6) => vec![ipv6_unsolicited_na(mac, v6)],
    }
}

/// A raw packet socket that only sends (protocol 0: the kernel queues nothing to it).
pub(crate) struct PacketSender {
    fd: OwnedFd,
    ifindex: i32,
    ifname: String,
}

impl PacketSender {
    pub(crate) fn open(ifname: &str, ifindex: u32) -> Result<Self, NetconfError> {
        let ifindex = i32::try_from(ifindex).map_err(|_| NetconfError::PacketSocket {
            operation: "interface index out of range",
            ifname: ifname.to_string(),
            source: std::io::Error::from(std::io::ErrorKind::InvalidInput),
        })?;
        // SAFETY: plain socket(2) call; the result is checked before use.
        let raw = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW | libc::SOCK_CLOEXEC, 0) };
        if raw < 0 {
            return Err(NetconfError::PacketSocket {
                operation: "opening an AF_PACKET socket (needs CAP_NET_RAW)",
                ifname: ifname.to_string(),
                source: std::io::Error::last_os_error(),
            });
        }
        // SAFETY: `raw` is a fresh descriptor this function exclusively owns.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        Ok(Self {
            fd,
            ifindex,
            ifname: ifname.to_string(),
        })
    }

    /// Sends one complete Ethernet frame (destination MAC in bytes 0..6, ethertype in 12..14).
    pub(crate) fn send(&self, frame: &[u8]) -> Result<(), NetconfError> {
        // SAFETY: sockaddr_ll is plain old data; all-zero is a valid starting value.
        let mut addr: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        addr.sll_family = u16::try_from(libc::AF_PACKET).expect("AF_PACKET fits in u16");
        addr.sll_protocol = u16::from_be_bytes([frame[12], frame[13]]).to_be();
        addr.sll_ifindex = self.ifindex;
        addr.sll_halen = 6;
        addr.sll_addr[..6].copy_from_slice(&frame[..6]);
        let len = u32::try_from(std::mem::size_of::<libc::sockaddr_ll>()).expect("small struct");
        // SAFETY: the buffer and the address are valid for the lengths passed.
        let sent = unsafe {
            libc::sendto(
                self.fd.as_raw_fd(),
                frame.as_ptr().cast(),
                frame.len(),
                0,
                std::ptr::from_ref(&addr).cast(),
                len,
            )
        };
        if sent < 0 {
            return Err(NetconfError::PacketSocket {
                operation: "sending an announcement frame",
                ifname: self.ifname.clone(),
                source: std::io::Error::last_os_error(),
            });
        }
        Ok(())
    }
}

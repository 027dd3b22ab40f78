//! The one-call operations the agent's roles need, on top of [`Manager::reconcile`]: each
//! extends the desired state last applied and reconciles it.

use std::net::IpAddr;

use tracing::info;

use crate::error::NetconfError;
use crate::garp::{GarpBurst, PacketSender, announcement_frames};
use crate::manager::{Applied, Manager};
use crate::model::{CvipRoute, OwnedAddress, SysctlSetting};

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

    /// Director: holds `cvip` on `ifname` (the `garp_interface`), routes CVIP-sourced traffic
    /// through `gateway` when given, then announces the CVIP with `burst`.
    pub async fn claim_cvip(
        &mut self,
        cvip: IpAddr,
        ifname: &str,
        gateway: Option<IpAddr>,
        burst: GarpBurst,
    ) -> Result<Applied, NetconfError> {
        let mut desired = self.desired().clone();
        desired.addresses.retain(|a| a.addr != cvip);
        desired.addresses.push(OwnedAddress::host(cvip, ifname));
        desired.cvip_routes.retain(|r| r.cvip != cvip);
        if let Some(gateway) = gateway {
            desired.cvip_routes.push(CvipRoute {
                cvip,
                gateway,
                ifname: ifname.to_string(),
            });
        }
        let applied = self.reconcile(&desired).await?;
        if burst.count > 0 {
            self.send_garp(ifname, cvip, burst).await?;
        }
        Ok(applied)
    }

    /// Director: lets go of `cvip` (address and its policy routing).
    pub async fn release_cvip(&mut self, cvip: IpAddr) -> Result<Applied, NetconfError> {
        let mut desired = self.desired().clone();
        desired.addresses.retain(|a| a.addr != cvip);
        desired.cvip_routes.retain(|r| r.cvip != cvip);
        self.reconcile(&desired).await
    }

    /// Real server: holds `cvip` on `lo`, with `arp_ignore=1`/`arp_announce=2` on `all` and on
    /// `arp_interfaces` so the node never answers ARP for it.
    pub async fn hold_on_loopback(
        &mut self,
        cvip: IpAddr,
        arp_interfaces: &[&str],
    ) -> Result<Applied, NetconfError> {
        let mut desired = self.desired().clone();
        desired.addresses.retain(|a| a.addr != cvip);
        desired.addresses.push(OwnedAddress::host(cvip, "lo"));
        for setting in SysctlSetting::real_server_arp(arp_interfaces) {
            desired.sysctls.retain(|s| s.key != setting.key);
            desired.sysctls.push(setting);
        }
        self.reconcile(&desired).await
    }

    /// Real server: drops `cvip` from `lo`; once no CVIP is left there, the ARP sysctls go back
    /// to the values they had before.
    pub async fn release_loopback(&mut self, cvip: IpAddr) -> Result<Applied, NetconfError> {
        let mut desired = self.desired().clone();
        desired
            .addresses
            .retain(|a| !(a.addr == cvip && a.ifname == "lo"));
        if !desired.addresses.iter().any(|a| a.ifname == "lo") {
            desired
                .sysctls
                .retain(|s| !(s.key.ends_with("arp_ignore") || s.key.ends_with("arp_announce")));
        }
        self.reconcile(&desired).await
    }
}

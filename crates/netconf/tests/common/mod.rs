//! Shared helpers for the namespace tests: run async code inside a namespace, claim or hold a CVIP
//! as the agent's desired state would (one reconcile each), take a snapshot of everything netconf
//! may change, read interfaces and sysctls from outside.
#![allow(dead_code, clippy::unwrap_used)]

use std::future::Future;
use std::net::{IpAddr, UdpSocket};
use std::path::Path;
use std::time::Duration;

use ssinet_netconf::{
    Applied, CvipRoute, GarpBurst, Manager, NetconfError, OwnedAddress, SysctlSetting,
};
use ssinet_testbed::netns::Netns;

/// Runs `f` on a thread inside `ns`, on a current-thread runtime built there, so the manager's
/// netlink socket, packet socket and `/proc/sys/net` all belong to `ns`.
pub fn block_on_in<T, F, Fut>(ns: &Netns, f: F) -> T
where
    T: Send,
    F: FnOnce() -> Fut + Send,
    Fut: Future<Output = T>,
{
    ns.run(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(f())
    })
    .unwrap()
}

/// Opens a manager in `ns` with `data_dir` and runs `f` with it; the manager ends with the call,
/// so each call is also an agent restart that must adopt what the previous one left.
pub fn with_manager<T, F>(ns: &Netns, data_dir: &Path, f: F) -> T
where
    T: Send,
    F: for<'m> FnOnce(&'m mut Manager) -> std::pin::Pin<Box<dyn Future<Output = T> + 'm>> + Send,
{
    block_on_in(ns, || async move {
        let mut manager = Manager::open(data_dir).await.unwrap();
        f(&mut manager).await
    })
}

/// A director's claim, built on [`Manager::reconcile`] as the agent's desired state does it:
/// the last applied state plus `cvip` on `ifname`, CVIP-sourced traffic routed through `gateway`
/// when given; then `burst` announcements.
pub async fn claim_cvip(
    m: &mut Manager,
    cvip: IpAddr,
    ifname: &str,
    gateway: Option<IpAddr>,
    burst: GarpBurst,
) -> Result<Applied, NetconfError> {
    let mut desired = m.desired().clone();
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
    let applied = m.reconcile(&desired).await?;
    if burst.count > 0 {
        m.send_garp(ifname, cvip, burst).await?;
    }
    Ok(applied)
}

/// A real server's hold: the last applied state plus `cvip` on `lo`, with `arp_ignore=1`/
/// `arp_announce=2` on `all` and on `arp_interfaces`.
pub async fn hold_on_loopback(
    m: &mut Manager,
    cvip: IpAddr,
    arp_interfaces: &[&str],
) -> Result<Applied, NetconfError> {
    let mut desired = m.desired().clone();
    desired.addresses.retain(|a| a.addr != cvip);
    desired.addresses.push(OwnedAddress::host(cvip, "lo"));
    for setting in SysctlSetting::real_server_arp(arp_interfaces) {
        desired.sysctls.retain(|s| s.key != setting.key);
        desired.sysctls.push(setting);
    }
    m.reconcile(&desired).await
}

/// Drops `cvip` from `lo`; once no CVIP is left there, the ARP sysctls go back to the values
/// they had before.
pub async fn release_loopback(m: &mut Manager, cvip: IpAddr) -> Result<Applied, NetconfError> {
    let mut desired = m.desired().clone();
    desired
        .addresses
        .retain(|a| !(a.addr == cvip && a.ifname == "lo"));
    if !desired.addresses.iter().any(|a| a.ifname == "lo") {
        desired
            .sysctls
            .retain(|s| !(s.key.ends_with("arp_ignore") || s.key.ends_with("arp_announce")));
    }
    m.reconcile(&desired).await
}

/// The sysctls any test here touches.
pub const WATCHED_SYSCTLS: &[&str] = &[
    "net/ipv4/ip_forward",
    "net/ipv4/conf/all/arp_ignore",
    "net/ipv4/conf/all/arp_announce",
    "net/ipv4/conf/all/rp_filter",
    "net/ipv4/conf/lo/arp_ignore",
    "net/ipv4/conf/eth0/arp_ignore",
    "net/ipv4/conf/eth0/arp_announce",
    "net/ipv4/conf/eth1/arp_ignore",
    "net/ipv4/conf/eth1/arp_announce",
];

/// Everything netconf may change in `ns`, as text: addresses, routes and rules of both
/// families in every table, and the watched sysctls. Link-local IPv6 (whose duplicate address
/// detection finishes on its own time) is left out, and the kernel's own IPv6 local routes are
/// waited for, so two snapshots differ only by what someone changed.
pub fn snapshot(ns: &Netns) -> String {
    let settled = eventually(Duration::from_secs(5), || {
        let local = ns.ip(&["-6", "route", "show", "table", "local"]).unwrap();
        addresses(ns).iter().all(|(a, _, _, _)| {
            !a.contains(':') || a.starts_with("fe80") || local.contains(&format!("local {a} "))
        })
    });
    assert!(settled, "IPv6 local routes did not appear in {}", ns.name());
    let mut out = String::new();
    for args in [
        &["-d", "addr", "show"][..],
        &["-4", "route", "show", "table", "all"],
        &["-6", "route", "show", "table", "all"],
        &["-4", "rule", "show"],
        &["-6", "rule", "show"],
    ] {
        out.push_str(&format!("## ip {}\n", args.join(" ")));
        for line in ns.ip(args).unwrap().lines() {
            if !line.contains("fe80") {
                out.push_str(&line.replace(" tentative", ""));
                out.push('\n');
            }
        }
    }
    for key in WATCHED_SYSCTLS {
        out.push_str(&format!("{key} = {}\n", sysctl(ns, key)));
    }
    out
}

/// A sysctl's value as seen in `ns` ("absent" if the file does not exist).
pub fn sysctl(ns: &Netns, key: &str) -> String {
    let output = ns.exec(&["cat", &format!("/proc/sys/{key}")]).unwrap();
    if output.status.success() {
        String::from_utf8(output.stdout).unwrap().trim().to_string()
    } else {
        "absent".to_string()
    }
}

/// The MAC address of `ifname` in `ns`.
pub fn mac_of(ns: &Netns, ifname: &str) -> String {
    let json: serde_json::Value =
        serde_json::from_str(&ns.ip(&["-j", "link", "show", ifname]).unwrap()).unwrap();
    json[0]["address"].as_str().unwrap().to_string()
}

/// `ip -j addr show` entries of `ns` as (address, prefix, interface, label).
pub fn addresses(ns: &Netns) -> Vec<(String, u64, String, Option<String>)> {
    let json: serde_json::Value =
        serde_json::from_str(&ns.ip(&["-j", "addr", "show"]).unwrap()).unwrap();
    let mut out = Vec::new();
    for link in json.as_array().unwrap() {
        let ifname = link["ifname"].as_str().unwrap().to_string();
        for info in link["addr_info"].as_array().unwrap() {
            out.push((
                info["local"].as_str().unwrap().to_string(),
                info["prefixlen"].as_u64().unwrap(),
                ifname.clone(),
                info["label"].as_str().map(str::to_string),
            ));
        }
    }
    out
}

pub fn has_address(ns: &Netns, addr: &str) -> bool {
    addresses(ns).iter().any(|(a, ..)| a == addr)
}

/// Waits (at most `limit`) until `check` holds; returns whether it did.
pub fn eventually(limit: Duration, mut check: impl FnMut() -> bool) -> bool {
    let deadline = std::time::Instant::now() + limit;
    loop {
        if check() {
            return true;
        }
        if std::time::Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A UDP socket bound in `ns` (it stays in `ns` when used from this thread).
pub fn udp_listener(ns: &Netns, addr: &str) -> UdpSocket {
    let addr = addr.to_string();
    let socket = ns.run(move || UdpSocket::bind(addr).unwrap()).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_millis(1000)))
        .unwrap();
    socket
}

/// Sends `count` datagrams carrying `payload` from `source` (port chosen by the kernel) to `to`,
/// from inside `ns`.
pub fn send_udp(ns: &Netns, source: IpAddr, to: &str, payload: &str, count: usize) {
    let to = to.to_string();
    let payload = payload.to_string();
    ns.run(move || {
        let socket = UdpSocket::bind((source, 0)).unwrap();
        for _ in 0..count {
            socket.send_to(payload.as_bytes(), &to).unwrap();
        }
    })
    .unwrap();
}

/// Payloads received on `socket` until it stays quiet for one read timeout (at most 50).
pub fn received(socket: &UdpSocket) -> Vec<String> {
    let mut out = Vec::new();
    let mut buf = [0u8; 256];
    while out.len() < 50 {
        match socket.recv_from(&mut buf) {
            Ok((n, _)) => out.push(String::from_utf8_lossy(&buf[..n]).to_string()),
            Err(_) => break,
        }
    }
    out
}

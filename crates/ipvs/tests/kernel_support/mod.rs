//! Shared by the kernel tests (they run inside the qemu VM): a namespace per test, a tokio
//! runtime inside it, and ipvsadm as the independent oracle.
#![allow(dead_code, clippy::unwrap_used)]

use std::future::Future;
use std::net::IpAddr;
use std::process::Command;

use ssinet_ipvs::*;
use ssinet_testbed::netns::Netns;

/// The IPVS core and every scheduler module Debian's 6.1 kernel ships (`twos` came in 6.2).
const IPVS_MODULES: &[&str] = &[
    "ip_vs",
    "ip_vs_rr",
    "ip_vs_wrr",
    "ip_vs_lc",
    "ip_vs_wlc",
    "ip_vs_lblc",
    "ip_vs_lblcr",
    "ip_vs_dh",
    "ip_vs_sh",
    "ip_vs_sed",
    "ip_vs_nq",
    "ip_vs_fo",
    "ip_vs_ovf",
    "ip_vs_mh",
];

/// Loads IPVS and all its schedulers once, before any test makes or drops a namespace.
///
/// Why: the kernel loads a missing scheduler from inside IPVS_CMD_NEW_SERVICE while it holds
/// IPVS's global mutex; `lblc`/`lblcr` register per-namespace state when they load, which waits
/// for any namespace teardown in progress, and that teardown waits for IPVS's mutex. With tests
/// creating and dropping namespaces in parallel this deadlocked the VM (an idle qemu, two tests
/// "running for over 60 seconds"). With the modules loaded first, no test loads one.
pub fn preload_ipvs_modules() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let out = Command::new("modprobe")
            .arg("-a")
            .args(IPVS_MODULES)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "modprobe -a {IPVS_MODULES:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    });
}

/// A fresh namespace for a kernel test, created only after the IPVS modules are loaded.
pub fn netns(label: &str) -> Netns {
    preload_ipvs_modules();
    Netns::new(label).unwrap()
}

/// Runs `f` on a thread inside a fresh network namespace (`lo` up), with a tokio runtime.
pub fn in_netns<T: Send, Fut: Future<Output = T>>(
    label: &str,
    f: impl FnOnce() -> Fut + Send,
) -> T {
    let ns = netns(label);
    ns.run(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(f())
    })
    .unwrap()
}

/// Runs ipvsadm in the calling thread's namespace (a forked child inherits it).
pub fn ipvsadm(args: &[&str]) -> String {
    let out = Command::new("ipvsadm").args(args).output().unwrap();
    assert!(
        out.status.success(),
        "ipvsadm {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

pub fn ipvsadm_with_input(args: &[&str], input: &str) {
    use std::io::Write;
    let mut child = Command::new("ipvsadm")
        .args(args)
        .stdin(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    assert!(
        child.wait().unwrap().success(),
        "ipvsadm {args:?} < {input}"
    );
}

/// Whitespace-normalised lines.
pub fn lines(s: &str) -> Vec<String> {
    s.lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .filter(|l| !l.is_empty())
        .collect()
}

fn addr_port(addr: IpAddr, port: u16) -> String {
    match addr {
        IpAddr::V4(a) => format!("{a}:{port}"),
        IpAddr::V6(a) => format!("[{a}]:{port}"),
    }
}

/// The service line `ipvsadm -Ln` prints (whitespace-normalised).
pub fn ln_service_line(s: &Service) -> String {
    let mut out = match s.key {
        ServiceKey::Inet {
            protocol,
            addr,
            port,
        } => format!("{protocol} {} {}", addr_port(addr, port), s.scheduler),
        ServiceKey::Fwmark { family, mark } => match family {
            Family::Ipv4 => format!("FWM {mark} {}", s.scheduler),
            Family::Ipv6 => format!("FWM {mark} IPv6 {}", s.scheduler),
        },
    };
    let f = s.flags;
    if f.0 & 0x38 != 0 {
        let prefix = match s.scheduler.name() {
            "sh" => ["sh-fallback", "sh-port", "flag-3"],
            "mh" => ["mh-fallback", "mh-port", "flag-3"],
            _ => ["flag-1", "flag-2", "flag-3"],
        };
        let names: Vec<&str> = [0x8, 0x10, 0x20]
            .iter()
            .zip(prefix)
            .filter(|(bit, _)| f.0 & **bit != 0)
            .map(|(_, n)| n)
            .collect();
        out.push_str(&format!(" ({})", names.join(",")));
    }
    if f.contains(ServiceFlags::PERSISTENT) {
        out.push_str(&format!(" persistent {}", s.timeout));
        match s.key.family() {
            Family::Ipv4 if s.netmask != u32::MAX => {
                out.push_str(&format!(" mask {}", std::net::Ipv4Addr::from(s.netmask)))
            }
            Family::Ipv6 if s.netmask != 128 => out.push_str(&format!(" mask {}", s.netmask)),
            _ => {}
        }
        if let Some(pe) = &s.persistence_engine {
            out.push_str(&format!(" pe {pe}"));
        }
    }
    if f.contains(ServiceFlags::ONE_PACKET) {
        out.push_str(" ops");
    }
    out
}

/// The destination line `ipvsadm -Ln` prints (whitespace-normalised).
pub fn ln_dest_line(d: &DestinationEntry) -> String {
    let fwd = match d.dest.forwarding {
        Forwarding::Masquerade => "Masq",
        Forwarding::Local => "Local",
        Forwarding::Tunnel(_) => "Tunnel",
        Forwarding::DirectRoute => "Route",
    };
    format!(
        "-> {} {fwd} {} {} {}",
        addr_port(d.dest.addr, d.dest.port),
        d.dest.weight,
        d.active_connections,
        d.inactive_connections
    )
}

/// A table as sorted blocks of (service line, sorted destination lines).
pub type Blocks = Vec<(String, Vec<String>)>;

/// Parses `ipvsadm -Ln` (after its three header lines) into blocks.
pub fn parse_ln(out: &str) -> Blocks {
    let mut blocks: Blocks = Vec::new();
    for l in lines(out).into_iter().skip(3) {
        if l.starts_with("->") {
            blocks.last_mut().unwrap().1.push(l);
        } else {
            blocks.push((l, Vec::new()));
        }
    }
    for b in &mut blocks {
        b.1.sort();
    }
    blocks.sort();
    blocks
}

/// What our client reads, rendered as ipvsadm would print it.
pub async fn client_blocks(client: &mut IpvsClient) -> Blocks {
    let mut blocks = Vec::new();
    for e in client.services().await.unwrap() {
        let mut d: Vec<String> = client
            .destinations(&e.service.key)
            .await
            .unwrap()
            .iter()
            .map(ln_dest_line)
            .collect();
        d.sort();
        blocks.push((ln_service_line(&e.service), d));
    }
    blocks.sort();
    blocks
}

/// Asserts that ipvsadm and our client see the same table.
pub async fn assert_matches_ipvsadm(client: &mut IpvsClient) -> Blocks {
    let ours = client_blocks(client).await;
    let theirs = parse_ln(&ipvsadm(&["-Ln"]));
    assert_eq!(ours, theirs, "our client's reading vs `ipvsadm -Ln`");
    ours
}

pub fn v4(s: &str) -> IpAddr {
    s.parse().unwrap()
}

//! The baseline: keepalived (Debian's) on two director namespaces, VRRP on `eth1` with its
//! default 1 s advertisements, a DR `virtual_server` for CVIP:80 over the same real servers,
//! and the IPVS sync daemon, the way an operator sets it up by hand ([`config`], for the VM).
//!
//! Without IPVS (the host benchmark), a VRRP-only configuration ([`vrrp_config`]): one or more
//! `vrrp_instance`s that only move addresses, started with [`Keepalived::start_vrrp`].
use crate::PORT;
use nix::sys::signal::Signal;
use nix::unistd::Pid;
use ssinet_lab::cluster::{ClusterError, Result};
use ssinet_testbed::netns::{Lab, NetnsChild};
use std::fmt::Write as _;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// `keepalived.conf` for director `node` with VRRP `priority` over `real_servers`.
pub fn config(lab: &Lab, node: u8, priority: u8, real_servers: &[Ipv4Addr]) -> String {
    let cvip = lab.cvip();
    let external = lab.node(node).external_if();
    let interconnect = lab.node(node).interconnect_if();
    let mut text = format!(
        "global_defs {{
    router_id lab_n{node}
    lvs_sync_daemon {interconnect} VI_1
}}
vrrp_instance VI_1 {{
    state BACKUP
    nopreempt
    interface {external}
    virtual_router_id 51
    priority {priority}
    advert_int 1
    virtual_ipaddress {{
        {cvip}/24 dev {external}
    }}
}}
virtual_server {cvip} {PORT} {{
    delay_loop 1
    lb_algo mh
    mh-port
    lb_kind DR
    protocol TCP
"
    );
    for server in real_servers {
        let _ = writeln!(
            text,
            "    real_server {server} {PORT} {{\n        weight 1\n        TCP_CHECK {{\n            connect_timeout 1\n        }}\n    }}"
        );
    }
    text.push_str("}\n");
    text
}

/// One `vrrp_instance` of a VRRP-only keepalived: a virtual address on the node's external
/// interface, nothing else (no `virtual_server`: no IPVS).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VrrpInstance {
    /// The instance's name (`VI_T`), as keepalived logs it: `(VI_T) Entering MASTER STATE`.
    pub name: String,
    /// The virtual address, added as `/24` on `eth1` (what an operator writes).
    pub vip: Ipv4Addr,
    /// `virtual_router_id`; distinct per instance on one link.
    pub virtual_router_id: u8,
    /// `advert_int` as written (`"0.1"`); `None` leaves keepalived's default, 1 s.
    pub advert_int: Option<String>,
    /// VRRPv3 for this instance (`version 3`; keepalived 2.2 rejects `vrrp_version` inside an
    /// instance, it is the `global_defs` default), which sub-second adverts need; `false`
    /// leaves keepalived's default, VRRPv2.
    pub version3: bool,
}

/// A VRRP-only `keepalived.conf` for director `node` with VRRP `priority`: every instance
/// `state BACKUP` and `nopreempt` (the usual hand-written pair: no node takes the address
/// back when it returns) on the external interface.
pub fn vrrp_config(lab: &Lab, node: u8, priority: u8, instances: &[VrrpInstance]) -> String {
    let external = lab.node(node).external_if();
    let mut text = format!("global_defs {{\n    router_id lab_n{node}\n}}\n");
    for instance in instances {
        let _ = writeln!(text, "vrrp_instance {} {{", instance.name);
        let _ = writeln!(text, "    state BACKUP\n    nopreempt");
        let _ = writeln!(text, "    interface {external}");
        let _ = writeln!(text, "    virtual_router_id {}", instance.virtual_router_id);
        if instance.version3 {
            let _ = writeln!(text, "    version 3");
        }
        let _ = writeln!(text, "    priority {priority}");
        if let Some(advert) = &instance.advert_int {
            let _ = writeln!(text, "    advert_int {advert}");
        }
        let _ = writeln!(
            text,
            "    virtual_ipaddress {{\n        {}/24 dev {external}\n    }}\n}}",
            instance.vip
        );
    }
    text
}

/// A keepalived started in a director's namespace. It forks its VRRP and checker processes
/// into its own process group; dropping this (or [`Keepalived::kill`]) SIGKILLs that group,
/// then reaps the leader.
#[derive(Debug)]
pub struct Keepalived {
    node: u8,
    child: NetnsChild,
}

/// Where keepalived of node `node` keeps its file `name` (`conf`, `log`, `pid`, ...) under `dir`.
pub fn file_of(dir: &Path, node: u8, name: &str) -> PathBuf {
    dir.join(format!("keepalived-n{node}.{name}"))
}

impl Keepalived {
    /// Writes the config and pid files under `dir` and starts keepalived in node `node`.
    pub fn start(
        lab: &Lab,
        dir: &Path,
        node: u8,
        priority: u8,
        real_servers: &[Ipv4Addr],
    ) -> Result<Keepalived> {
        Keepalived::spawn(lab, dir, node, &config(lab, node, priority, real_servers))
    }

    /// Starts keepalived in node `node` with the VRRP-only configuration of `instances`
    /// ([`vrrp_config`]); its files under `dir` ([`file_of`]), the log started afresh. Pid
    /// files a killed predecessor left behind are removed first (keepalived refuses to start
    /// while they name a live process, and a SIGKILLed group's VRRP child may take a moment to
    /// be reaped by init).
    pub fn start_vrrp(
        lab: &Lab,
        dir: &Path,
        node: u8,
        priority: u8,
        instances: &[VrrpInstance],
    ) -> Result<Keepalived> {
        for name in ["pid", "vrrp.pid", "checkers.pid"] {
            let path = file_of(dir, node, name);
            match std::fs::remove_file(&path) {
                Err(cause) if cause.kind() != std::io::ErrorKind::NotFound => {
                    return Err(ClusterError::Io {
                        action: "remove",
                        path,
                        cause,
                    });
                }
                _ => {}
            }
        }
        Keepalived::spawn(lab, dir, node, &vrrp_config(lab, node, priority, instances))
    }

    fn spawn(lab: &Lab, dir: &Path, node: u8, text: &str) -> Result<Keepalived> {
        let file = |name: &str| -> PathBuf { file_of(dir, node, name) };
        let conf = file("conf");
        std::fs::write(&conf, text).map_err(|cause| ClusterError::Io {
            action: "write",
            path: conf.clone(),
            cause,
        })?;
        let log = std::fs::File::create(file("log")).map_err(|cause| ClusterError::Io {
            action: "create",
            path: file("log"),
            cause,
        })?;
        let log_err = log.try_clone().map_err(|cause| ClusterError::Io {
            action: "duplicate",
            path: file("log"),
            cause,
        })?;
        let mut command = Command::new("keepalived");
        command
            .args(["--dont-fork", "--log-console", "--log-detail"])
            .arg("--use-file")
            .arg(&conf)
            .arg(format!("--pid={}", file("pid").display()))
            .arg(format!("--vrrp_pid={}", file("vrrp.pid").display()))
            .arg(format!("--checkers_pid={}", file("checkers.pid").display()))
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err);
        std::os::unix::process::CommandExt::process_group(&mut command, 0);
        let child = lab.node(node).netns().spawn(command)?;
        Ok(Keepalived { node, child })
    }

    pub fn node(&self) -> u8 {
        self.node
    }

    /// The PID of keepalived's parent process, which is also its process group.
    pub fn pid(&self) -> u32 {
        self.child.pid()
    }

    /// Every process of keepalived's process group (the parent and the VRRP and checker
    /// children it forked), from `/proc`.
    pub fn processes(&self) -> Vec<u32> {
        crate::procstat::process_group(self.child.pid())
    }

    /// Sends `signal` to keepalived's whole process group (SIGSTOP / SIGCONT freeze and thaw
    /// the VRRP child with its parent).
    pub fn signal_group(&self, signal: Signal) -> Result<()> {
        let pid = i32::try_from(self.child.pid()).map_err(|_| ClusterError::Node {
            node: self.node,
            reason: format!("keepalived's PID {} is not a PID", self.child.pid()),
        })?;
        // The group's leader is our unreaped child, so the group id cannot be reused yet.
        nix::sys::signal::killpg(Pid::from_raw(pid), signal).map_err(|errno| ClusterError::Node {
            node: self.node,
            reason: format!("cannot send {signal} to keepalived's process group: {errno}"),
        })
    }

    /// SIGKILLs keepalived and the processes it forked (its process group), and reaps it.
    pub fn kill(mut self) {
        self.kill_group();
    }

    /// [`Keepalived::kill`], then waits up to `timeout` until no process of its group is left
    /// (the children are reaped by init, not by us); whether they all went.
    pub fn kill_and_wait(mut self, timeout: Duration) -> bool {
        let group = self.child.pid();
        self.kill_group();
        let deadline = Instant::now() + timeout;
        loop {
            if crate::procstat::process_group(group).is_empty() {
                return true;
            }
            if Instant::now() > deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn kill_group(&mut self) {
        if let Ok(pid) = i32::try_from(self.child.pid()) {
            // The group's leader is our unreaped child, so the group id cannot be reused yet.
            let _ = nix::sys::signal::killpg(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
        let _ = self.child.kill();
    }
}

impl Drop for Keepalived {
    fn drop(&mut self) {
        self.kill_group();
    }
}

/// Makes node `node` a DR real server by hand, as keepalived's documentation says: the CVIP
/// /32 on `lo`, and ARP settings so only the director answers for it.
pub fn prepare_real_server(lab: &Lab, node: u8) -> Result<()> {
    let netns = lab.node(node).netns();
    netns.ip(&["addr", "add", &format!("{}/32", lab.cvip()), "dev", "lo"])?;
    let written = netns.run(|| -> std::io::Result<()> {
        for (name, value) in [("arp_ignore", "1"), ("arp_announce", "2")] {
            for interface in ["all", "eth1"] {
                std::fs::write(format!("/proc/sys/net/ipv4/conf/{interface}/{name}"), value)?;
            }
        }
        Ok(())
    })?;
    written.map_err(|cause| ClusterError::Io {
        action: "set arp_ignore/arp_announce in",
        path: netns.name().into(),
        cause,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_config_names_the_vip_the_servers_and_the_sync_daemon() {
        let lab = Lab::up(ssinet_testbed::netns::LabSpec::default()).expect("a lab (needs root)");
        let servers = [Ipv4Addr::new(10, 200, 0, 3)];
        let text = config(&lab, 2, 90, &servers);
        assert!(text.contains("lvs_sync_daemon eth0 VI_1"), "{text}");
        assert!(text.contains("priority 90"), "{text}");
        assert!(text.contains("192.168.200.100/24 dev eth1"), "{text}");
        assert!(text.contains("virtual_server 192.168.200.100 80"), "{text}");
        assert!(text.contains("real_server 10.200.0.3 80"), "{text}");
        assert_eq!(text.matches('{').count(), text.matches('}').count());
    }

    #[test]
    fn a_vrrp_only_config_has_one_block_per_instance_and_no_virtual_server() {
        let lab = Lab::up(ssinet_testbed::netns::LabSpec::default()).expect("a lab (needs root)");
        let instances = [
            VrrpInstance {
                name: "VI_T".into(),
                vip: Ipv4Addr::new(192, 168, 200, 101),
                virtual_router_id: 61,
                advert_int: Some("0.1".into()),
                version3: true,
            },
            VrrpInstance {
                name: "VI_D".into(),
                vip: Ipv4Addr::new(192, 168, 200, 102),
                virtual_router_id: 62,
                advert_int: None,
                version3: false,
            },
        ];
        let text = vrrp_config(&lab, 1, 100, &instances);
        assert!(text.contains("vrrp_instance VI_T {"), "{text}");
        assert!(text.contains("vrrp_instance VI_D {"), "{text}");
        assert_eq!(text.matches("version 3").count(), 1, "{text}");
        assert_eq!(text.matches("advert_int").count(), 1, "{text}");
        assert_eq!(text.matches("nopreempt").count(), 2, "{text}");
        assert!(text.contains("192.168.200.101/24 dev eth1"), "{text}");
        assert!(!text.contains("virtual_server"), "{text}");
        assert_eq!(text.matches('{').count(), text.matches('}').count());
    }
}

//! The baseline: keepalived (Debian's) on two director namespaces, VRRP on `eth1` with its
//! default 1 s advertisements, a DR `virtual_server` for CVIP:80 over the same real servers,
//! and the IPVS sync daemon, the way an operator sets it up by hand.
use crate::PORT;
use ssinet_lab::cluster::{ClusterError, Result};
use ssinet_lab::netns::{Lab, NetnsChild};
use std::fmt::Write as _;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

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

/// A keepalived started in a director's namespace. It forks its VRRP and checker processes
/// into its own process group; dropping this (or [`Keepalived::kill`]) SIGKILLs that group,
/// then reaps the leader.
#[derive(Debug)]
pub struct Keepalived {
    node: u8,
    child: NetnsChild,
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
        let file = |name: &str| -> PathBuf { dir.join(format!("keepalived-n{node}.{name}")) };
        let conf = file("conf");
        std::fs::write(&conf, config(lab, node, priority, real_servers)).map_err(|cause| {
            ClusterError::Io {
                action: "write",
                path: conf.clone(),
                cause,
            }
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

    /// SIGKILLs keepalived and the processes it forked (its process group), and reaps it.
    pub fn kill(mut self) {
        self.kill_group();
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
        let lab = Lab::up(ssinet_lab::netns::LabSpec::default()).expect("a lab (needs root)");
        let servers = [Ipv4Addr::new(10, 200, 0, 3)];
        let text = config(&lab, 2, 90, &servers);
        assert!(text.contains("lvs_sync_daemon eth0 VI_1"), "{text}");
        assert!(text.contains("priority 90"), "{text}");
        assert!(text.contains("192.168.200.100/24 dev eth1"), "{text}");
        assert!(text.contains("virtual_server 192.168.200.100 80"), "{text}");
        assert!(text.contains("real_server 10.200.0.3 80"), "{text}");
        assert_eq!(text.matches('{').count(), text.matches('}').count());
    }
}

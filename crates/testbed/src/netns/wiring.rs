//! Building a lab's wires and files: one `ip -batch` in the switch creates every veth (the far
//! ends straight in the node, client and gateway namespaces), then each node, the client and the
//! gateway configure their side concurrently; then the OpenSSI config files.
use super::config_files;
use super::error::{Result, io_error};
use super::lab::Lab;
use super::namespace::Netns;
use super::spec::addressing;

impl Lab {
    /// The switch's bridges and ports (creating every veth, the far ends straight in the node,
    /// client and gateway namespaces), then each node, the client and the gateway configured
    /// concurrently.
    pub(super) fn wire(&self) -> Result<()> {
        let mut switch = format!(
            "link add {} up type bridge\nlink add {} up type bridge\n",
            addressing::INTERCONNECT_BRIDGE,
            addressing::EXTERNAL_BRIDGE
        );
        for node in self.nodes() {
            let n = node.number();
            switch.push_str(&format!(
                "link add {} up master {} type veth peer name {} address {} netns {}\n\
                 link add {} up master {} type veth peer name {} netns {}\n",
                addressing::interconnect_port(n),
                addressing::INTERCONNECT_BRIDGE,
                addressing::INTERCONNECT_IF,
                addressing::interconnect_mac(n),
                node.netns().name(),
                addressing::external_port(n),
                addressing::EXTERNAL_BRIDGE,
                addressing::EXTERNAL_IF,
                node.netns().name(),
            ));
        }
        switch.push_str(&format!(
            "link add {} up master {} type veth peer name {} netns {}\n",
            addressing::CLIENT_PORT,
            addressing::EXTERNAL_BRIDGE,
            addressing::CLIENT_IF,
            self.client().name()
        ));
        switch.push_str(&format!(
            "link add {} up master {} type veth peer name {} netns {}\n",
            addressing::GATEWAY_PORT,
            addressing::EXTERNAL_BRIDGE,
            addressing::GATEWAY_IF,
            self.gateway_netns().name()
        ));
        self.switch().ip_batch(&switch)?;

        let len = addressing::PREFIX_LEN;
        let mut jobs: Vec<(&Netns, String)> = self
            .nodes()
            .iter()
            .map(|node| {
                let batch = format!(
                    "link set {ic} up\nlink set {ex} up\naddr add {ic_ip}/{len} dev {ic}\n\
                     addr add {ex_ip}/{len} dev {ex}\nroute add default via {gw} dev {ex}\n",
                    ic = addressing::INTERCONNECT_IF,
                    ex = addressing::EXTERNAL_IF,
                    ic_ip = node.interconnect_ip(),
                    ex_ip = node.external_ip(),
                    gw = addressing::GATEWAY,
                );
                (node.netns(), batch)
            })
            .collect();
        jobs.push((
            self.client(),
            format!(
                "link set {c} up\naddr add {client}/{len} dev {c}\n",
                c = addressing::CLIENT_IF,
                client = addressing::CLIENT,
            ),
        ));
        jobs.push((
            self.gateway_netns(),
            format!(
                "link set {g} up\naddr add {gw}/{len} dev {g}\n",
                g = addressing::GATEWAY_IF,
                gw = addressing::GATEWAY,
            ),
        ));
        std::thread::scope(|scope| {
            let running: Vec<_> = jobs
                .iter()
                .map(|(netns, batch)| scope.spawn(move || netns.ip_batch(batch)))
                .collect();
            running
                .into_iter()
                .map(|job| {
                    job.join()
                        .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
                })
                .collect::<Result<Vec<_>>>()
        })?;
        no_forwarding(self.gateway_netns())?;
        Ok(())
    }

    pub(super) fn write_config_files(&self) -> Result<()> {
        let dir = self.config_dir();
        std::fs::create_dir_all(dir).map_err(io_error("create the config directory", dir))?;
        let mut files = vec![
            ("clustertab", config_files::clustertab(self.spec())),
            ("cvip.conf", config_files::cvip_conf(self.spec())),
        ];
        if let Some(text) = config_files::lvs_routing(self.spec()) {
            files.push(("lvs_routing", text));
        }
        for (name, text) in files {
            let path = dir.join(name);
            std::fs::write(&path, text).map_err(io_error("write", &path))?;
        }
        Ok(())
    }
}

/// Turns IPv4 forwarding off in `netns`. A new namespace copies the host's IPv4 settings
/// (`net.core.devconf_inherit_init_net` 0, the default), so on a host that forwards (any
/// machine running containers) the gateway would route; it must not: nothing leaves the lab,
/// and a node's packet for a far address must die at the gateway, not bounce back.
fn no_forwarding(netns: &Netns) -> Result<()> {
    const FORWARDING: &str = "/proc/sys/net/ipv4/ip_forward";
    // A thread inside the namespace sees that namespace's /proc/sys/net.
    netns
        .run(|| std::fs::write(FORWARDING, "0"))?
        .map_err(io_error("write 0 to", FORWARDING))
}

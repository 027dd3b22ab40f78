//! [`Lab`]: an N-node cluster of namespaces, its switch, its client, its gateway and its config
//! files; and the faults a test puts on a node's links.
use super::error::{NetnsError, Result, io_error};
use super::ioctl;
use super::names;
use super::namespace::Netns;
use super::spec::{LabSpec, Routing, addressing};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

/// One of a node's two links.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Segment {
    /// `eth0`, on the switch's `br-ic`.
    Interconnect,
    /// `eth1`, on the switch's `br-ex`.
    External,
}

impl Segment {
    pub const BOTH: [Segment; 2] = [Segment::Interconnect, Segment::External];

    fn bridge(self) -> &'static str {
        match self {
            Segment::Interconnect => addressing::INTERCONNECT_BRIDGE,
            Segment::External => addressing::EXTERNAL_BRIDGE,
        }
    }

    /// The node's veth end in the switch namespace (`n<N>ic`, `n<N>ex`).
    fn port(self, node: u8) -> String {
        match self {
            Segment::Interconnect => addressing::interconnect_port(node),
            Segment::External => addressing::external_port(node),
        }
    }
}

/// A node of a [`Lab`]: its namespace and its addresses.
#[derive(Debug)]
pub struct Node {
    number: u8,
    director: bool,
    netns: Netns,
}

impl Node {
    /// Its node number (1-based, as in clustertab).
    pub fn number(&self) -> u8 {
        self.number
    }

    /// Its namespace.
    pub fn netns(&self) -> &Netns {
        &self.netns
    }

    /// Whether it is director-capable (and init-capable in clustertab).
    pub fn is_director(&self) -> bool {
        self.director
    }

    /// 10.200.0.N, on [`Node::interconnect_if`].
    pub fn interconnect_ip(&self) -> Ipv4Addr {
        addressing::interconnect_ip(self.number)
    }

    /// 192.168.200.(10+N), on [`Node::external_if`].
    pub fn external_ip(&self) -> Ipv4Addr {
        addressing::external_ip(self.number)
    }

    /// The clustertab MAC of its interconnect interface, 02:00:00:00:00:<N in hex>.
    pub fn interconnect_mac(&self) -> String {
        addressing::interconnect_mac(self.number)
    }

    /// `eth0`.
    pub fn interconnect_if(&self) -> &'static str {
        addressing::INTERCONNECT_IF
    }

    /// `eth1`.
    pub fn external_if(&self) -> &'static str {
        addressing::EXTERNAL_IF
    }
}

/// A running namespace cluster; see the [module docs](super) for the topology. Dropping it
/// (also while unwinding from a panic) kills what was spawned in it and deletes its namespaces
/// and its config directory, unless it is a persistent lab ([`Lab::up_persistent`]).
#[derive(Debug)]
pub struct Lab {
    // Field order is drop order: nodes, client and gateway before the switch that holds their
    // peers.
    nodes: Vec<Node>,
    client: Netns,
    gateway: Netns,
    switch: Netns,
    spec: LabSpec,
    prefix: String,
    config_dir: PathBuf,
    persistent: Option<String>,
}

impl Lab {
    /// Builds a lab with a fresh per-run prefix (`ssl<pid>x<seq>-`); its config files go to a
    /// directory under the system temp dir, removed with the lab.
    pub fn up(spec: LabSpec) -> Result<Lab> {
        let prefix = names::next_prefix();
        let config_dir =
            std::env::temp_dir().join(format!("ssinet-lab-{}", prefix.trim_end_matches('-')));
        Lab::build(spec, prefix, config_dir, None)
    }

    pub(crate) fn build(
        spec: LabSpec,
        prefix: String,
        config_dir: PathBuf,
        persistent: Option<String>,
    ) -> Result<Lab> {
        spec.validate()?;
        let switch = Netns::create(format!("{prefix}sw"))?;
        let client = Netns::create(format!("{prefix}client"))?;
        let gateway = Netns::create(format!("{prefix}gw"))?;
        let mut nodes = Vec::with_capacity(usize::from(spec.nodes));
        for number in 1..=spec.nodes {
            let netns = Netns::create(format!("{prefix}n{number}"))?;
            nodes.push(Node {
                number,
                director: spec.is_director(number),
                netns,
            });
        }
        let lab = Lab {
            nodes,
            client,
            gateway,
            switch,
            spec,
            prefix,
            config_dir,
            persistent,
        };
        lab.wire()?;
        lab.write_config_files()?;
        tracing::debug!(prefix = %lab.prefix, nodes = lab.nodes.len(), "lab is up");
        Ok(lab)
    }

    /// Node `number`. Panics if the lab has no such node (a bug in the test calling it).
    pub fn node(&self, number: u8) -> &Node {
        self.nodes
            .get(usize::from(number).wrapping_sub(1))
            .unwrap_or_else(|| panic!("this lab has nodes 1..={}, not {number}", self.nodes.len()))
    }

    /// All nodes, in order.
    pub fn nodes(&self) -> &[Node] {
        &self.nodes
    }

    /// The client namespace: 192.168.200.2 on its `eth0`, on the external bridge.
    pub fn client(&self) -> &Netns {
        &self.client
    }

    /// The gateway namespace: 192.168.200.1 on its `eth0`, on the external bridge. It answers
    /// ARP and ping and forwards nothing. It is a namespace of its own, not the client's, so that
    /// what a node's external-link check sees (can I still reach my gateway?) and what the client
    /// sees (does the CVIP answer?) are two separate witnesses.
    pub fn gateway_netns(&self) -> &Netns {
        &self.gateway
    }

    /// The switch namespace, holding `br-ic`, `br-ex` and every node's ports.
    pub fn switch(&self) -> &Netns {
        &self.switch
    }

    pub fn spec(&self) -> &LabSpec {
        &self.spec
    }

    /// The prefix every namespace of this lab starts with.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The persistent lab's name, if it is one.
    pub fn persistent_name(&self) -> Option<&str> {
        self.persistent.as_deref()
    }

    /// 192.168.200.100: the CVIP of cvip.conf.
    pub fn cvip(&self) -> Ipv4Addr {
        addressing::CVIP
    }

    /// 192.168.200.1: the nodes' default gateway, held by [`Lab::gateway_netns`].
    pub fn gateway(&self) -> Ipv4Addr {
        addressing::GATEWAY
    }

    /// 192.168.200.2.
    pub fn client_ip(&self) -> Ipv4Addr {
        addressing::CLIENT
    }

    /// 10.200.0.254: NAT mode's floating internal gateway (in lvs_routing of NAT labs).
    pub fn internal_gateway(&self) -> Option<Ipv4Addr> {
        (self.spec.routing == Routing::Nat).then_some(addressing::INTERNAL_GATEWAY)
    }

    /// The directory holding `clustertab`, `cvip.conf` and (NAT only) `lvs_routing`.
    pub fn config_dir(&self) -> &Path {
        &self.config_dir
    }

    /// Cuts both links of node `number`: its switch ports are detached from their bridges. The
    /// node's interfaces stay up with carrier, as behind a failed switch: frames leave and are
    /// dropped, nothing arrives. Idempotent.
    pub fn partition(&self, number: u8) -> Result<()> {
        self.cut(number, &Segment::BOTH)
    }

    /// Puts node `number`'s ports back on their bridges. Idempotent.
    pub fn restore(&self, number: u8) -> Result<()> {
        self.reconnect(number, &Segment::BOTH)
    }

    /// Cuts only some of node `number`'s links (e.g. just the interconnect).
    pub fn cut(&self, number: u8, segments: &[Segment]) -> Result<()> {
        self.set_ports(
            number,
            segments,
            "detach from its bridge the switch port",
            ioctl::bridge_detach,
        )
    }

    /// Reconnects some of node `number`'s links.
    pub fn reconnect(&self, number: u8, segments: &[Segment]) -> Result<()> {
        self.set_ports(
            number,
            segments,
            "attach to its bridge the switch port",
            ioctl::bridge_attach,
        )
    }

    /// Takes the carrier away from node `number`'s external interface (`eth1`): its peer in the
    /// switch namespace (`n<N>ex`) is set administratively down. Inside the node `eth1` stays
    /// administratively up but shows NO-CARRIER (operstate LOWERLAYERDOWN): a pulled cable or a
    /// dead switch port, which the node can see, unlike [`Lab::cut`] (a silent cut that keeps
    /// the carrier). Idempotent.
    pub fn carrier_down(&self, number: u8) -> Result<()> {
        self.set_ports(
            number,
            &[Segment::External],
            "set administratively down the switch port",
            |_, port| ioctl::set_down(port).map(|()| true),
        )
    }

    /// Gives node `number`'s external interface its carrier back (the switch-side peer up
    /// again; its bridge membership was never touched). Idempotent.
    pub fn carrier_up(&self, number: u8) -> Result<()> {
        self.set_ports(
            number,
            &[Segment::External],
            "set administratively up the switch port",
            |_, port| ioctl::set_up(port).map(|()| true),
        )
    }

    /// Applies `change(bridge, port)` to node `number`'s switch ports of `segments`, inside the
    /// switch namespace (ioctls: no process forked, so benchmarks can do it in a loop).
    fn set_ports(
        &self,
        number: u8,
        segments: &[Segment],
        action: &'static str,
        change: fn(&str, &str) -> std::io::Result<bool>,
    ) -> Result<()> {
        if !(1..=self.spec.nodes).contains(&number) {
            return Err(NetnsError::Spec(format!(
                "node {number} is not in this lab (nodes 1..={})",
                self.spec.nodes
            )));
        }
        self.switch.run(|| {
            for segment in segments {
                let port = segment.port(number);
                change(segment.bridge(), &port)
                    .map_err(io_error(action, format!("{}:{port}", self.switch.name())))?;
            }
            Ok(())
        })?
    }

    /// Keeps the namespaces and files after this value is dropped (for `ssinet-lab up`).
    pub(crate) fn disown(&mut self) {
        for node in &mut self.nodes {
            node.netns.disown();
        }
        self.client.disown();
        self.gateway.disown();
        self.switch.disown();
    }

    /// Re-opens a persistent lab's namespaces without owning them.
    pub(crate) fn attached(
        spec: LabSpec,
        prefix: String,
        config_dir: PathBuf,
        name: String,
    ) -> Result<Lab> {
        let switch = Netns::attach(&format!("{prefix}sw"))?;
        let client = Netns::attach(&format!("{prefix}client"))?;
        let gateway = Netns::attach(&format!("{prefix}gw"))?;
        let nodes = (1..=spec.nodes)
            .map(|number| {
                let netns = Netns::attach(&format!("{prefix}n{number}"))?;
                Ok(Node {
                    number,
                    director: spec.is_director(number),
                    netns,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Lab {
            nodes,
            client,
            gateway,
            switch,
            spec,
            prefix,
            config_dir,
            persistent: Some(name),
        })
    }

    /// The names of every namespace of this lab: switch, client, gateway, nodes.
    pub fn namespace_names(&self) -> Vec<String> {
        namespace_names(&self.prefix, self.spec.nodes)
    }
}

pub(crate) fn namespace_names(prefix: &str, nodes: u8) -> Vec<String> {
    let mut names = vec![
        format!("{prefix}sw"),
        format!("{prefix}client"),
        format!("{prefix}gw"),
    ];
    names.extend((1..=nodes).map(|number| format!("{prefix}n{number}")));
    names
}

impl Drop for Lab {
    fn drop(&mut self) {
        // The namespaces go with their fields; the config files are ours to remove.
        if self.persistent.is_none()
            && let Err(error) = std::fs::remove_dir_all(&self.config_dir)
            && error.kind() != std::io::ErrorKind::NotFound
        {
            let dir = self.config_dir.display();
            tracing::warn!(%dir, %error, "could not remove lab config files");
        }
    }
}

//! Network-namespace clusters: the topology ssinet's tests, benchmarks and demo run on.
//!
//! Everything here needs root (CAP_SYS_ADMIN for the mounts, CAP_NET_ADMIN for the links) and
//! touches only namespaces it created: nothing is ever added to the host's own namespace.
//!
//! # One namespace: [`Netns`]
//!
//! ```no_run
//! # fn main() -> Result<(), ssinet_testbed::netns::NetnsError> {
//! use ssinet_testbed::netns::Netns;
//! let a = Netns::new("a")?;                     // /run/netns/ssl<pid>x<seq>-a, `lo` up
//! let b = Netns::new("b")?;
//! Netns::veth(&a, "eth0", &b, "eth0")?;         // a veth pair, both ends up
//! a.add_address("eth0", "10.9.0.1/24")?;
//! b.ip_batch("addr add 10.9.0.2/24 dev eth0\naddr add 10.9.0.3/24 dev eth0\n")?; // one `ip`
//! // Rust code on a thread inside the namespace (sockets made there live there):
//! let reached = a.run(|| {
//!     let to = "10.9.0.2:22".parse().expect("an address");
//!     std::net::TcpStream::connect_timeout(&to, std::time::Duration::from_secs(1)).is_ok()
//! })?;
//! let neighbours = a.neighbours()?;             // `ip -j neigh show`, parsed
//! let routes: String = a.exec_ok(&["ip", "route"])?; // stdout, or an error with stderr
//! let output = a.exec(&["ping", "-c1", "-W1", "10.9.0.2"])?; // std::process::Output
//! let server = b.spawn(b.command("python3"))?;  // SIGKILLed when `server` or `b` drops
//! # let _ = (reached, neighbours, routes, output, server); Ok(()) }
//! ```
//!
//! [`Netns::run`] starts a thread, enters the namespace with `setns`, runs the closure and
//! propagates its panics; build a current-thread tokio runtime inside it for async code.
//! [`Netns::spawn_thread`] starts a long-lived thread inside (an in-process server), and
//! [`Netns::handle`] lets threads made elsewhere enter (tokio's `on_thread_start`).
//! [`Netns::command`] gives a `std::process::Command` that enters the namespace between fork and
//! exec (no `ip netns exec`; the child still sees the host's `/sys`).
//!
//! # A cluster: [`Lab`]
//!
//! ```text
//!                 switch namespace  <prefix>sw
//!     br-ic (interconnect)                      br-ex (external)
//!   n1ic  n2ic  n3ic                       n1ex  n2ex  n3ex  client   gw
//!    |     |     |                          |     |     |      |      |
//!   eth0  eth0  eth0   <- node namespaces -> eth1  eth1  eth1   eth0   eth0
//!   <prefix>n1 .. n3                                    <prefix>client  <prefix>gw
//! ```
//!
//! | what | address |
//! |---|---|
//! | node N `eth0` (interconnect) | 10.200.0.N/24, MAC 02:00:00:00:00:<N hex> |
//! | node N `eth1` (external) | 192.168.200.(10+N)/24, default route via 192.168.200.1 |
//! | client `eth0` (`<prefix>client`) | 192.168.200.2/24 |
//! | gateway `eth0` (`<prefix>gw`) | 192.168.200.1/24: answers ARP and ping, forwards nothing (nothing leaves the lab) |
//! | CVIP (cvip.conf) | 192.168.200.100, held by nobody until a director claims it |
//! | NAT internal gateway (lvs_routing) | 10.200.0.254, held by nobody until a director claims it |
//!
//! ```no_run
//! # fn main() -> Result<(), ssinet_testbed::netns::NetnsError> {
//! use ssinet_testbed::netns::{Lab, LabSpec, Routing, Segment};
//! let lab = Lab::up(LabSpec { nodes: 3, directors: vec![1, 2], routing: Routing::Dr, ..LabSpec::default() })?;
//! let n1 = lab.node(1);
//! let _ = (n1.netns(), n1.interconnect_ip(), n1.external_ip(), n1.interconnect_if(), n1.external_if());
//! let _ = (lab.client(), lab.switch(), lab.cvip(), lab.config_dir());
//! let _ = (lab.gateway(), lab.gateway_netns()); // 192.168.200.1 and the namespace holding it
//! lab.partition(1)?;   // detach node 1's switch ports from both bridges
//! lab.restore(1)?;     // attach them again
//! lab.cut(1, &[Segment::External])?;       // only eth1's port: a silent cut, carrier kept
//! lab.reconnect(1, &[Segment::External])?;
//! lab.carrier_down(1)?; // eth1 loses its carrier (NO-CARRIER), still administratively up
//! lab.carrier_up(1)?;
//! # Ok(()) }
//! ```
//!
//! `lab.config_dir()` holds `clustertab`, `cvip.conf` and, for NAT labs, `lvs_routing`, matching
//! the topology (directors are init-capable, the others real servers).
//!
//! **Partition** detaches a node's ports from the bridges in the switch namespace (an ioctl, no
//! process forked). The node's own interfaces keep carrier and stay up, like a node behind a dead
//! switch: it can send, nothing arrives. Use [`Lab::cut`] to cut one [`Segment`] only. After a
//! restore, a peer that tried the node during the cut may hold a failed ARP entry and see one
//! EHOSTUNREACH: a check that the node is back should retry for a moment, as a user would.
//!
//! **Carrier loss** ([`Lab::carrier_down`]) is the other external fault: the switch-side peer of
//! the node's `eth1` goes administratively down, so `eth1` shows NO-CARRIER (operstate
//! LOWERLAYERDOWN) while it stays administratively up, like a pulled cable. A node can see this
//! one in its link state; a silent cut (`cut(n, &[Segment::External])`) it can only find by
//! noticing that its gateway no longer answers ARP. Tests of an external-link monitor need both.
//!
//! **NAT labs**: every node also has an external interface, so a real server's connected route
//! to the client would bypass the director; the agent's NAT return routing must account for it.
//!
//! # Names and cleanup
//!
//! Namespaces are named `ssl<pid>x<seq>-<label>` (a lab: `-sw`, `-client`, `-gw`, `-n1`...), unique per
//! process and call, so tests run in parallel. Dropping a [`Netns`] or [`Lab`], also while
//! unwinding from a panic, kills the processes spawned in it and deletes its namespaces (links
//! inside go with them) and its temporary config directory. A run killed with SIGKILL cannot do
//! that: the first namespace created by any later process sweeps `ssl<pid>x<seq>-*` namespaces
//! whose `<pid>` is dead ([`sweep_stale`]).
//!
//! Persistent labs ([`Lab::up_persistent`], `ssinet-lab up`) are named `ssl-<name>-*`, recorded
//! under `/run/ssinet-lab/<name>/` ([`records`]) and removed only by [`Lab::down_persistent`]
//! (`ssinet-lab down`).

mod config_files;
mod error;
pub mod ioctl;
mod lab;
mod links;
mod mount;
mod names;
mod namespace;
mod persistent;
mod process;
pub mod records;
mod spec;
mod wiring;

pub use config_files::{clustertab, cvip_conf, lvs_routing};
pub use error::{NetnsError, Result};
pub use lab::{Lab, Node, Segment};
pub use links::Neighbour;
pub use mount::NETNS_RUN_DIR;
pub use names::sweep_stale;
pub use namespace::{Netns, NetnsHandle};
pub use persistent::{EndpointStatus, LabStatus, NamespaceStatus, NodeStatus};
pub use process::NetnsChild;
pub use spec::{LabSpec, PortWeight, Protocol, Routing, addressing};

//! Labs that outlive the process that made them: `ssinet-lab up`, `status`, `exec`, `down`.
use super::error::{NetnsError, Result};
use super::ioctl;
use super::lab::{Lab, namespace_names};
use super::mount::{NETNS_RUN_DIR, delete_mount, path_of};
use super::names::{check_label, kill_processes_inside};
use super::records::{self, LabRecord};
use super::spec::{LabSpec, addressing};
use serde::Serialize;

impl Lab {
    /// Builds a lab named `name` that stays after this process exits: namespaces
    /// `ssl-<name>-sw`, `-client`, `-gw`, `-n<N>`, config files and `lab.json` under
    /// `/run/ssinet-lab/<name>/`. The record is written before anything is created, so
    /// [`Lab::down_persistent`] can clean up even after a crash half-way.
    pub fn up_persistent(name: &str, spec: LabSpec) -> Result<Lab> {
        check_label(name)?;
        spec.validate()?;
        if records::lab_dir(name).exists() {
            return Err(NetnsError::LabExists {
                name: name.to_owned(),
            });
        }
        let prefix = format!("ssl-{name}-");
        let record = LabRecord {
            name: name.to_owned(),
            prefix: prefix.clone(),
            namespaces: namespace_names(&prefix, spec.nodes),
            spec: spec.clone(),
            created_by_pid: std::process::id(),
        };
        records::write(&record)?;
        match Lab::build(spec, prefix, record.dir(), Some(name.to_owned())) {
            Ok(mut lab) => {
                lab.disown();
                Ok(lab)
            }
            Err(error) => {
                // The half-built lab's namespaces went with it; the record goes too.
                let _ = records::remove(name);
                Err(error)
            }
        }
    }

    /// Opens the persistent lab `name` to run things in it; dropping it changes nothing.
    pub fn attach(name: &str) -> Result<Lab> {
        let record = records::read(name)?;
        let dir = record.dir();
        Lab::attached(record.spec, record.prefix, dir, record.name)
    }

    /// Removes the persistent lab `name`: kills the processes inside its namespaces, deletes
    /// the namespaces (also any `ssl-<name>-*` a crashed `up` did not record) and its directory.
    pub fn down_persistent(name: &str) -> Result<Vec<String>> {
        check_label(name)?;
        let prefix = format!("ssl-{name}-");
        let mut names = match records::read(name) {
            Ok(record) => record.namespaces,
            Err(NetnsError::UnknownLab { .. }) | Err(NetnsError::BadRecord { .. }) => Vec::new(),
            Err(error) => return Err(error),
        };
        if let Ok(entries) = std::fs::read_dir(NETNS_RUN_DIR) {
            names.extend(
                entries
                    .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
                    .filter(|ns| ns.starts_with(&prefix)),
            );
        }
        names.sort();
        names.dedup();
        let known = records::lab_dir(name).exists();
        if names.is_empty() && !known {
            return Err(NetnsError::UnknownLab {
                name: name.to_owned(),
                dir: records::LABS_DIR.into(),
            });
        }
        let mut removed = Vec::new();
        for ns in names {
            let path = path_of(&ns);
            if path.exists() {
                kill_processes_inside(&path);
                delete_mount(&path)?;
                removed.push(ns);
            }
        }
        records::remove(name)?;
        Ok(removed)
    }

    /// How every persistent lab is doing.
    pub fn status_all() -> Result<Vec<LabStatus>> {
        records::list()?
            .iter()
            .map(|name| LabStatus::of(name))
            .collect()
    }
}

/// The health of a persistent lab, for `ssinet-lab status`.
#[derive(Debug, Clone, Serialize)]
pub struct LabStatus {
    pub name: String,
    /// Where `lab.json` and the config files are.
    pub dir: String,
    /// None if `lab.json` could not be read.
    pub spec: Option<LabSpec>,
    pub namespaces: Vec<NamespaceStatus>,
    pub nodes: Vec<NodeStatus>,
    /// The namespaces on the external side that are not nodes: the client and the gateway.
    pub endpoints: Vec<EndpointStatus>,
    /// All namespaces present, every node's, the client's and the gateway's links up and
    /// attached.
    pub healthy: bool,
    /// Why not, if not.
    pub problems: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct NamespaceStatus {
    pub name: String,
    pub present: bool,
}

/// The client or the gateway of a persistent lab.
#[derive(Debug, Clone, Serialize)]
pub struct EndpointStatus {
    /// `client` or `gateway`.
    pub role: String,
    pub namespace: String,
    /// Its address on the external subnet.
    pub ip: String,
    /// Its interface is up with carrier.
    pub link_up: bool,
    /// Its switch port is attached to `br-ex`.
    pub attached: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct NodeStatus {
    pub node: u8,
    pub namespace: String,
    pub director: bool,
    pub interconnect_ip: String,
    pub external_ip: String,
    /// Both of its interfaces are up with carrier.
    pub links_up: bool,
    /// Some of its switch ports are detached (`ssinet-lab partition`).
    pub partitioned: bool,
}

impl LabStatus {
    fn of(name: &str) -> Result<LabStatus> {
        let dir = records::lab_dir(name).display().to_string();
        let record = match records::read(name) {
            Ok(record) => record,
            Err(error) => {
                return Ok(LabStatus {
                    name: name.to_owned(),
                    dir,
                    spec: None,
                    namespaces: Vec::new(),
                    nodes: Vec::new(),
                    endpoints: Vec::new(),
                    healthy: false,
                    problems: vec![error.to_string()],
                });
            }
        };
        let mut problems = Vec::new();
        let namespaces: Vec<NamespaceStatus> = record
            .namespaces
            .iter()
            .map(|ns| NamespaceStatus {
                name: ns.clone(),
                present: path_of(ns).exists(),
            })
            .collect();
        for missing in namespaces.iter().filter(|ns| !ns.present) {
            problems.push(format!("namespace {} is missing", missing.name));
        }
        // Labs recorded before the gateway had a namespace of its own (it was the client's
        // second address) cannot be opened as today's labs; say how to get a current one.
        let gateway_ns = format!("{}gw", record.prefix);
        if !record.namespaces.contains(&gateway_ns) {
            problems.push(format!(
                "recorded without a gateway namespace ({gateway_ns}) by an older ssinet-lab: \
                 `ssinet-lab down {name}` and `ssinet-lab up` again"
            ));
        }
        let mut nodes = Vec::new();
        let mut endpoints = Vec::new();
        if problems.is_empty() {
            let lab = Lab::attach(name)?;
            let masters = port_masters(lab.switch())?;
            for node in lab.nodes() {
                let ifaces = [node.interconnect_if(), node.external_if()];
                let links_up = node
                    .netns()
                    .run(|| ifaces.iter().all(|ifname| link_running(ifname)))?;
                let attached = |port: String, bridge: &str| {
                    masters
                        .iter()
                        .any(|(p, master)| *p == port && master == bridge)
                };
                let partitioned = !attached(
                    addressing::interconnect_port(node.number()),
                    addressing::INTERCONNECT_BRIDGE,
                ) || !attached(
                    addressing::external_port(node.number()),
                    addressing::EXTERNAL_BRIDGE,
                );
                if !links_up {
                    problems.push(format!("node {}: an interface is down", node.number()));
                }
                if partitioned {
                    problems.push(format!("node {} is partitioned", node.number()));
                }
                nodes.push(NodeStatus {
                    node: node.number(),
                    namespace: node.netns().name().to_owned(),
                    director: node.is_director(),
                    interconnect_ip: node.interconnect_ip().to_string(),
                    external_ip: node.external_ip().to_string(),
                    links_up,
                    partitioned,
                });
            }
            let sides = [
                (
                    "client",
                    lab.client(),
                    addressing::CLIENT_IF,
                    addressing::CLIENT_PORT,
                    lab.client_ip(),
                ),
                (
                    "gateway",
                    lab.gateway_netns(),
                    addressing::GATEWAY_IF,
                    addressing::GATEWAY_PORT,
                    lab.gateway(),
                ),
            ];
            for (role, netns, ifname, port, ip) in sides {
                let link_up = netns.run(|| link_running(ifname))?;
                let attached = masters
                    .iter()
                    .any(|(p, master)| p == port && master == addressing::EXTERNAL_BRIDGE);
                if !link_up {
                    problems.push(format!("the {role}'s interface is down"));
                }
                if !attached {
                    problems.push(format!("the {role}'s switch port is detached"));
                }
                endpoints.push(EndpointStatus {
                    role: role.to_owned(),
                    namespace: netns.name().to_owned(),
                    ip: ip.to_string(),
                    link_up,
                    attached,
                });
            }
        }
        Ok(LabStatus {
            name: name.to_owned(),
            dir,
            healthy: problems.is_empty(),
            spec: Some(record.spec),
            namespaces,
            nodes,
            endpoints,
            problems,
        })
    }
}

/// Up, with carrier.
fn link_running(ifname: &str) -> bool {
    ioctl::flags(ifname).is_ok_and(|flags| flags & libc::IFF_UP != 0)
        && ioctl::carrier(ifname).unwrap_or(false)
}

/// (port, bridge) for every link of the switch that is attached to a bridge.
fn port_masters(switch: &super::Netns) -> Result<Vec<(String, String)>> {
    #[derive(serde::Deserialize)]
    struct Link {
        ifname: String,
        master: Option<String>,
    }
    let json = switch.ip(&["-j", "link", "show"])?;
    let links: Vec<Link> = serde_json::from_str(&json).map_err(|error| NetnsError::Output {
        command: format!("ip -j link show (in {})", switch.name()),
        reason: error.to_string(),
    })?;
    Ok(links
        .into_iter()
        .filter_map(|link| Some((link.ifname, link.master?)))
        .collect())
}

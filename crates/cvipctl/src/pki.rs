//! `cvipctl pki init|add-node`: the cluster CA and one certificate per clustertab node.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Subcommand;
use ssinet_config::{Clustertab, DEFAULT_CLUSTERTAB_PATH, NodeId};
use ssinet_interconnect::pki::{self, PkiLayout, PkiNode};

use crate::exit;
use crate::output::print_json;
use crate::state_cmds::parse_node;

#[derive(Debug, Subcommand)]
pub enum PkiCommand {
    /// Create the cluster CA and a key and certificate for every node in clustertab.
    ///
    /// Writes OUT/ca.pem, OUT/ca.key (keep it offline) and OUT/node<N>/{ca.pem,node.pem,node.key}
    /// for each node. Copy OUT/node<N>/ to node N's PKI directory (ssinetd --tls-dir, default /etc/ssinet/tls),
    /// keeping node.key mode 0600 and owned by root. Refuses to replace an existing CA.
    #[command(
        after_help = "Example:\n  cvipctl pki init --clustertab /etc/clustertab --out /root/ssinet-pki"
    )]
    Init {
        /// The node table; each node's certificate names its number and interconnect IP.
        #[arg(long, value_name = "PATH", default_value = DEFAULT_CLUSTERTAB_PATH)]
        clustertab: PathBuf,
        /// Directory to create the files in.
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        /// Replace an existing CA: every node then needs its new files before it can talk to
        /// the others again.
        #[arg(long)]
        overwrite: bool,
    },
    /// Issue a key and certificate for a node added to clustertab, signed by the existing CA.
    ///
    /// Reads CA_DIR/ca.pem and CA_DIR/ca.key (the `pki init` output) and writes
    /// OUT/node<N>/{ca.pem,node.pem,node.key}, the same files `pki init` writes. The running
    /// nodes trust the same CA, so they accept the new node as it is. Copy OUT/node<N>/ to the
    /// new node's PKI directory (ssinetd --tls-dir), keeping node.key mode 0600, then apply the
    /// new clustertab. Refuses to replace an existing node directory unless --force.
    #[command(
        after_help = "Example:\n  cvipctl pki add-node --ca-dir /root/ssinet-pki --node 4 --ip 10.0.0.4 --out /root/ssinet-pki"
    )]
    AddNode {
        /// The directory `pki init` wrote, holding ca.pem and ca.key.
        #[arg(long, value_name = "DIR")]
        ca_dir: PathBuf,
        /// The new node's number, as in clustertab.
        #[arg(long, value_name = "N", value_parser = parse_node)]
        node: NodeId,
        /// The new node's interconnect IP, as in clustertab.
        #[arg(long, value_name = "IP")]
        ip: IpAddr,
        /// Directory to create node<N>/ in (usually the CA directory).
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        /// Replace an existing node<N>/ directory: that node needs the new files before it can
        /// talk to the others again.
        #[arg(long)]
        force: bool,
    },
}

pub fn run(command: PkiCommand, json: bool) -> anyhow::Result<ExitCode> {
    match command {
        PkiCommand::Init {
            clustertab,
            out,
            overwrite,
        } => init(&clustertab, &out, overwrite, json),
        PkiCommand::AddNode {
            ca_dir,
            node,
            ip,
            out,
            force,
        } => add_node(&ca_dir, node, ip, &out, force, json),
    }
}

fn init(clustertab: &Path, out: &Path, overwrite: bool, json: bool) -> anyhow::Result<ExitCode> {
    let tab = match Clustertab::load(clustertab) {
        Ok(tab) => tab,
        Err(diagnostics) => {
            for diagnostic in &diagnostics {
                eprintln!("{diagnostic}");
            }
            eprintln!("cvipctl: no certificates were created: fix clustertab first");
            return Ok(ExitCode::from(exit::REJECTED));
        }
    };
    let nodes: Vec<PkiNode> = tab
        .nodes
        .iter()
        .map(|n| PkiNode {
            node: n.num,
            interconnect_ip: n.ip,
        })
        .collect();
    let layout = match pki::init(&nodes, out, overwrite) {
        Ok(layout) => layout,
        Err(error) => {
            eprintln!("cvipctl: {error}");
            return Ok(ExitCode::from(exit::REJECTED));
        }
    };
    print_layout(&layout, out, json)
}

fn print_layout(layout: &PkiLayout, out: &Path, json: bool) -> anyhow::Result<ExitCode> {
    if json {
        print_json(&serde_json::json!({
            "ca_cert": layout.ca_cert,
            "ca_key": layout.ca_key,
            "nodes": layout.node_dirs.iter().map(|(node, dir)| {
                serde_json::json!({"node": node, "dir": dir})
            }).collect::<Vec<_>>(),
        }))?;
        return Ok(ExitCode::SUCCESS);
    }
    println!("Cluster CA: {}", layout.ca_cert.display());
    println!(
        "CA key:     {} (keep it offline; needed only to issue certificates)",
        layout.ca_key.display()
    );
    for (node, dir) in &layout.node_dirs {
        println!("node {node}:     {}/", dir.display());
    }
    println!(
        "Copy {}/node<N>/ to node N's PKI directory (ssinetd --tls-dir), node.key mode 0600.",
        out.display()
    );
    Ok(ExitCode::SUCCESS)
}

fn add_node(
    ca_dir: &Path,
    node: NodeId,
    ip: IpAddr,
    out: &Path,
    force: bool,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let pki_node = PkiNode {
        node,
        interconnect_ip: ip,
    };
    let dir = match pki::add_node(ca_dir, pki_node, out, force) {
        Ok(dir) => dir,
        Err(error) => {
            eprintln!("cvipctl: {error}");
            return Ok(ExitCode::from(exit::REJECTED));
        }
    };
    if json {
        print_json(&serde_json::json!({"node": node.0, "ip": ip, "dir": dir}))?;
        return Ok(ExitCode::SUCCESS);
    }
    println!("node {node}:     {}/ (interconnect IP {ip})", dir.display());
    println!(
        "Copy {}/ to node {node}'s PKI directory (ssinetd --tls-dir), node.key mode 0600, then apply the clustertab that lists it.",
        dir.display()
    );
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;
    use std::os::unix::fs::PermissionsExt;

    /// The `pki` subcommand as `cvipctl pki ...` parses it.
    #[derive(Debug, Parser)]
    struct PkiCli {
        #[command(subcommand)]
        command: PkiCommand,
    }

    fn run_cli(args: &[&str]) -> ExitCode {
        let cli =
            PkiCli::try_parse_from(std::iter::once("pki").chain(args.iter().copied())).unwrap();
        run(cli.command, false).unwrap()
    }

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn add_node_writes_the_node_files_with_a_private_key() {
        let tmp = tempfile::TempDir::new().unwrap();
        let tab = tmp.path().join("clustertab");
        std::fs::write(
            &tab,
            "1 10.0.0.1 02:00:00:00:00:01 P 1 /dev/sda1\n2 10.0.0.2 02:00:00:00:00:02 P 0\n",
        )
        .unwrap();
        let out = tmp.path().join("pki");
        let out_arg = out.to_str().unwrap();
        let init = [
            "init",
            "--clustertab",
            tab.to_str().unwrap(),
            "--out",
            out_arg,
        ];
        assert_eq!(run_cli(&init), ExitCode::SUCCESS);

        let add = [
            "add-node", "--ca-dir", out_arg, "--node", "3", "--ip", "10.0.0.3", "--out", out_arg,
        ];
        assert_eq!(run_cli(&add), ExitCode::SUCCESS);
        let dir = out.join("node3");
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&dir.join("node.key")), 0o600);
        assert_eq!(
            std::fs::read(dir.join("ca.pem")).unwrap(),
            std::fs::read(out.join("ca.pem")).unwrap()
        );
        ssinet_interconnect::identity::NodeIdentity::load(&dir, NodeId(3)).unwrap();

        // A second run would replace node 3's key: refused, the files stay, unless --force.
        let key = std::fs::read(dir.join("node.key")).unwrap();
        assert_eq!(run_cli(&add), ExitCode::from(exit::REJECTED));
        assert_eq!(std::fs::read(dir.join("node.key")).unwrap(), key);
        let mut forced = add.to_vec();
        forced.push("--force");
        assert_eq!(run_cli(&forced), ExitCode::SUCCESS);
        assert_ne!(std::fs::read(dir.join("node.key")).unwrap(), key);
        assert_eq!(mode(&dir.join("node.key")), 0o600);
    }

    #[test]
    fn add_node_needs_the_ca_directory() {
        let tmp = tempfile::TempDir::new().unwrap();
        let missing = tmp.path().join("nothing");
        let add = [
            "add-node",
            "--ca-dir",
            missing.to_str().unwrap(),
            "--node",
            "3",
            "--ip",
            "10.0.0.3",
            "--out",
            tmp.path().to_str().unwrap(),
        ];
        assert_eq!(run_cli(&add), ExitCode::from(exit::REJECTED));
        assert!(!tmp.path().join("node3").exists());
        assert!(PkiCli::try_parse_from(["pki", "add-node", "--node", "0"]).is_err());
    }
}

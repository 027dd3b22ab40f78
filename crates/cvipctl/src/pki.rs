//! `cvipctl pki init`: the cluster CA and one certificate per clustertab node.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Subcommand;
use ssinet_config::{Clustertab, DEFAULT_CLUSTERTAB_PATH};
use ssinet_raft::pki::{self, PkiNode};

use crate::exit;
use crate::output::print_json;

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
}

pub fn run(command: PkiCommand, json: bool) -> anyhow::Result<ExitCode> {
    let PkiCommand::Init {
        clustertab,
        out,
        overwrite,
    } = command;
    let tab = match Clustertab::load(&clustertab) {
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
            node: u64::from(n.num.0),
            interconnect_ip: n.ip,
        })
        .collect();
    let layout = match pki::init(&nodes, &out, overwrite) {
        Ok(layout) => layout,
        Err(error) => {
            eprintln!("cvipctl: {error}");
            return Ok(ExitCode::from(exit::REJECTED));
        }
    };
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

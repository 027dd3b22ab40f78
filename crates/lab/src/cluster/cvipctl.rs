//! Running `cvipctl` against a node's agent, as an operator would on that node.
use super::Cluster;
use super::error::{ClusterError, Result, io_error};
use std::process::Output;

impl Cluster {
    /// Runs `cvipctl --socket <node's socket> ARGS...` (from the host side: the socket is a
    /// path, no namespace needed) and returns its output whatever its exit status.
    pub fn cvipctl(&self, node: u8, args: &[&str]) -> Result<Output> {
        let program = self.binaries.cvipctl()?;
        std::process::Command::new(program)
            .arg("--socket")
            .arg(self.socket(node))
            .args(args)
            .stdin(std::process::Stdio::null())
            .output()
            .map_err(io_error("run", program))
    }

    /// `cvipctl --json ARGS...` on node `node`, which must exit 0; its stdout parsed.
    pub fn cvipctl_json(&self, node: u8, args: &[&str]) -> Result<serde_json::Value> {
        let output = self.cvipctl(node, &[&["--json"], args].concat())?;
        let command = format!("cvipctl --json {}", args.join(" "));
        if !output.status.success() {
            return Err(ClusterError::Output {
                command,
                reason: format!(
                    "it exited with {}: {}",
                    output.status,
                    String::from_utf8_lossy(&output.stderr).trim()
                ),
            });
        }
        serde_json::from_slice(&output.stdout).map_err(|error| ClusterError::Output {
            command,
            reason: error.to_string(),
        })
    }

    /// `cvipctl port-weight set` on node `node` for one port, which must succeed; `only_for`
    /// makes it a per-node override (`--node`).
    pub fn set_port_weight(
        &self,
        node: u8,
        proto: &str,
        port: u16,
        weight: u32,
        only_for: Option<u8>,
    ) -> Result<()> {
        let (port, weight) = (port.to_string(), weight.to_string());
        let only_for = only_for.map(|node| node.to_string());
        let mut args = vec![
            "port-weight",
            "set",
            "--proto",
            proto,
            "--start-port",
            &port,
            "--end-port",
            &port,
            "--weight",
            &weight,
        ];
        if let Some(only_for) = &only_for {
            args.extend(["--node", only_for]);
        }
        let output = self.cvipctl(node, &args)?;
        if output.status.success() {
            Ok(())
        } else {
            Err(ClusterError::Output {
                command: format!("cvipctl {}", args.join(" ")),
                reason: format!(
                    "it exited with {}: {}",
                    output.status,
                    String::from_utf8_lossy(&output.stderr).trim()
                ),
            })
        }
    }
}

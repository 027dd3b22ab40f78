//! `cvipctl config apply`: check the files here, show what changes, then replace the cluster's
//! configuration in one command.

use std::process::ExitCode;

use ssinet_api::{Command, Response};
use ssinet_config::{ClusterConfig, ConfigPaths};

use super::{diff, print_problems};
use crate::AgentOptions;
use crate::output::{print_json, report};

pub fn run(paths: &ConfigPaths, dry_run: bool, agent: &AgentOptions) -> anyhow::Result<ExitCode> {
    // The same rules the cluster applies, but with file:line:col, and before anything is sent.
    let loaded = match ClusterConfig::load(paths) {
        Ok(loaded) => loaded,
        Err(diagnostics) => return print_problems(&diagnostics, agent.json),
    };
    agent.run(async |context| {
        let current = context.client.state().await?;
        let changes = diff::changes(&current.config, &loaded.config);
        if changes.is_empty() || dry_run {
            let summary = if changes.is_empty() {
                "the cluster already runs this configuration; nothing was sent"
            } else {
                "dry run: nothing was sent"
            };
            if context.json {
                print_json(&serde_json::json!({
                    "outcome": if changes.is_empty() { "unchanged" } else { "dry_run" },
                    "summary": summary,
                    "changes": changes,
                }))?;
            } else {
                for change in &changes {
                    println!("{change}");
                }
                println!("{summary}");
            }
            return Ok(ExitCode::SUCCESS);
        }
        let response = context
            .client
            .send(&Command::ApplyConfig(loaded.config))
            .await?;
        if !context.json && matches!(response, Response::Applied { .. }) {
            for change in &changes {
                println!("{change}");
            }
        }
        report(&response, context.json)
    })
}

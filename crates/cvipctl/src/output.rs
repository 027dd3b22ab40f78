//! How results reach people (tables, one-line summaries) and scripts (`--json`).

use std::process::ExitCode;

use anyhow::Context as _;
use serde::Serialize;
use ssinet_api::Response;

use crate::exit;

pub fn print_json<T: Serialize + ?Sized>(value: &T) -> anyhow::Result<()> {
    let text = serde_json::to_string_pretty(value).context("encoding the answer as JSON")?;
    println!("{text}");
    Ok(())
}

/// Prints what the cluster answered to a command and picks the exit code.
pub fn report(response: &Response, json: bool) -> anyhow::Result<ExitCode> {
    if json {
        print_json(response)?;
    }
    match response {
        Response::Applied { summary } => {
            if !json {
                println!("{summary}");
            }
            Ok(ExitCode::SUCCESS)
        }
        Response::Rejected { problems } => {
            if !json {
                eprintln!("cvipctl: the cluster rejected the change; nothing was changed:");
                for problem in problems {
                    eprintln!("  {problem}");
                }
            }
            Ok(ExitCode::from(exit::REJECTED))
        }
    }
}

pub fn yes_no(value: bool) -> String {
    if value { "yes" } else { "no" }.into()
}

/// `1, 2, 3` or `-` for none.
pub fn list<T: ToString>(items: impl IntoIterator<Item = T>) -> String {
    let items: Vec<String> = items.into_iter().map(|i| i.to_string()).collect();
    if items.is_empty() {
        "-".into()
    } else {
        items.join(", ")
    }
}

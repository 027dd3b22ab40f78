//! `cvipctl config export`: the running configuration as OpenSSI files.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use clap::Args;
use ssinet_api::ExportedFiles;

use crate::output::print_json;
use crate::{Context, exit};

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Write DIR/clustertab, DIR/cvip.conf and (if set) DIR/lvs_routing instead of printing.
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Replace files that already exist in DIR.
    #[arg(long, requires = "out")]
    force: bool,
}

pub async fn run(context: &Context, args: &ExportArgs) -> anyhow::Result<ExitCode> {
    let state = context.client.state().await?;
    if state.is_empty() {
        eprintln!(
            "cvipctl: the cluster state is empty: no leader has seeded it from cvip.conf yet (see \
             `cvipctl status`)"
        );
        return Ok(ExitCode::from(exit::NO_QUORUM));
    }
    let files = ExportedFiles::from_config(&state.config);
    let named = [
        ("clustertab", Some(&files.clustertab)),
        ("cvip.conf", Some(&files.cvip_conf)),
        ("lvs_routing", files.lvs_routing.as_ref()),
    ];
    match &args.out {
        Some(dir) => {
            let mut written = Vec::new();
            for (name, text) in named {
                if let Some(text) = text {
                    let path = dir.join(name);
                    write_file(&path, text, args.force)?;
                    written.push(path);
                }
            }
            if context.json {
                print_json(&written)?;
            } else {
                for path in written {
                    println!("wrote {}", path.display());
                }
            }
        }
        None if context.json => print_json(&serde_json::json!({
            "clustertab": files.clustertab,
            "cvip_conf": files.cvip_conf,
            "lvs_routing": files.lvs_routing,
        }))?,
        None => {
            let mut first = true;
            for (name, text) in named {
                if let Some(text) = text {
                    if !first {
                        println!();
                    }
                    first = false;
                    println!("==> {name} <==");
                    print!("{text}");
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Writes through a temporary file and a rename, so a reader never sees half a file.
fn write_file(path: &Path, text: &str, force: bool) -> anyhow::Result<()> {
    if !force && path.exists() {
        anyhow::bail!(
            "{} already exists; pass --force to replace it, or choose another --out directory",
            path.display()
        );
    }
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)
        .with_context(|| format!("cannot create the directory {}", dir.display()))?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let temporary = dir.join(format!(".{name}.cvipctl-{}", std::process::id()));
    let result = (|| {
        let mut file = std::fs::File::create(&temporary)?;
        file.write_all(text.as_bytes())?;
        file.sync_all()?;
        std::fs::rename(&temporary, path)
    })();
    if let Err(e) = result {
        let _ = std::fs::remove_file(&temporary);
        return Err(e).with_context(|| format!("cannot write {}", path.display()));
    }
    Ok(())
}

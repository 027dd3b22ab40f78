//! [`preload_library`]: the remote-socket preload library (`crates/preload`) for tests that run
//! `ssi-exec`.
use std::path::{Path, PathBuf};

/// `cargo build -p ssinet-preload` failed or did not leave the library behind.
#[derive(Debug, thiserror::Error)]
#[error("cannot build the remote-socket preload library: {reason}")]
pub struct PreloadError {
    pub reason: String,
}

/// `libssinet_preload.so` for the profile in `profile_dir` (`target/debug` or `target/release`),
/// built once per process into `target/rsock-preload`: `cargo test` of one package does not
/// build the cdylib, and that target dir has a build lock of its own, so the cargo running the
/// tests does not block it.
pub fn preload_library(profile_dir: &Path) -> Result<PathBuf, PreloadError> {
    static BUILT: std::sync::Mutex<Option<PathBuf>> = std::sync::Mutex::new(None);
    let mut built = BUILT
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(lib) = built.as_ref() {
        return Ok(lib.clone());
    }
    let fail = |reason: String| PreloadError { reason };
    let release = profile_dir.file_name().is_some_and(|n| n == "release");
    let target = profile_dir
        .parent()
        .unwrap_or(profile_dir)
        .join("rsock-preload");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut command = std::process::Command::new(&cargo);
    command
        .args(["build", "--quiet", "-p", "ssinet-preload", "--target-dir"])
        .arg(&target)
        .current_dir(env!("CARGO_MANIFEST_DIR"));
    if release {
        command.arg("--release");
    }
    let status = command
        .status()
        .map_err(|e| fail(format!("cannot run {cargo}: {e}")))?;
    if !status.success() {
        return Err(fail(format!("cargo build -p ssinet-preload: {status}")));
    }
    let lib = target
        .join(if release { "release" } else { "debug" })
        .join("libssinet_preload.so");
    if !lib.is_file() {
        return Err(fail(format!("{} missing after the build", lib.display())));
    }
    *built = Some(lib.clone());
    Ok(lib)
}

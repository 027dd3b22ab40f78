//! Debian's stock kernel for the guest: resolve it from the `linux-image-amd64` metapackage,
//! download and unpack it, and generate its `modules.dep` (the .deb ships none).
use super::error::{Result, VmError};
use super::host_packages::apt_update;
use super::tools;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The generic amd64 flavour. Not `cloud-amd64`: that flavour has no 9p, and the guest's root
/// is the host's over 9p.
const METAPACKAGE: &str = "linux-image-amd64";

/// The kernel release (`uname -r` in the guest, e.g. `6.1.0-56-amd64`) that the metapackage
/// currently depends on. Runs `apt-get update` once if apt does not know the metapackage.
pub fn resolve_version() -> Result<String> {
    match depends_version() {
        Ok(version) => Ok(version),
        Err(_) => {
            apt_update()?;
            depends_version()
        }
    }
}

fn depends_version() -> Result<String> {
    let out = tools::output(Command::new("apt-cache").args(["depends", METAPACKAGE]))?;
    let text = String::from_utf8_lossy(&out);
    version_from_depends(&text).ok_or_else(|| VmError::KernelNotResolved {
        output: tools::tail(&out, 500),
    })
}

/// Picks `6.1.0-56-amd64` out of `apt-cache depends` output such as
/// `  Depends: linux-image-6.1.0-56-amd64`.
pub(crate) fn version_from_depends(text: &str) -> Option<String> {
    text.lines()
        .filter_map(|line| line.trim().strip_prefix("Depends:"))
        .map(str::trim)
        .filter_map(|package| package.strip_prefix("linux-image-"))
        .find(|version| {
            version.ends_with("-amd64") && version.starts_with(|c: char| c.is_ascii_digit())
        })
        .map(str::to_owned)
}

/// The package that ships kernel `version`.
pub fn package_name(version: &str) -> String {
    format!("linux-image-{version}")
}

/// Downloads the kernel package into `dir`, unpacks it into `dir/root` and runs depmod there.
/// Returns the unpacked root. Retries the download once after `apt-get update`, since the
/// archive drops superseded kernels from stale package lists.
pub fn download_and_unpack(version: &str, dir: &Path) -> Result<PathBuf> {
    let package = package_name(version);
    let download = || {
        tools::output(
            Command::new("apt-get")
                .args(["download", &package])
                .current_dir(dir),
        )
    };
    if download().is_err() {
        apt_update()?;
        download()?;
    }
    let deb = find_deb(dir, &package)?;
    let root = dir.join("root");
    tools::output(Command::new("dpkg").arg("-x").arg(&deb).arg(&root))?;
    std::fs::remove_file(&deb).map_err(|e| VmError::io("removing", &deb, e))?;
    link_usr_merged_modules(&root, version, &package)?;
    tools::output(Command::new("depmod").arg("-b").arg(&root).arg(version))?;
    for expected in [bzimage_path(&root, version), module_tree(&root, version)] {
        if !expected.exists() {
            return Err(VmError::KernelLayout { package, expected });
        }
    }
    Ok(root)
}

fn find_deb(dir: &Path, package: &str) -> Result<PathBuf> {
    let entries = std::fs::read_dir(dir).map_err(|e| VmError::io("reading", dir, e))?;
    for entry in entries {
        let path = entry.map_err(|e| VmError::io("reading", dir, e))?.path();
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
        if name.is_some_and(|n| n.starts_with(&format!("{package}_")) && n.ends_with(".deb")) {
            return Ok(path);
        }
    }
    Err(VmError::KernelLayout {
        package: package.to_owned(),
        expected: dir.join(format!("{package}_*.deb")),
    })
}

/// Newer packages put modules under `usr/lib/modules`; depmod (kmod 30) and the guest look
/// under `lib/modules`, so point one at the other.
fn link_usr_merged_modules(root: &Path, version: &str, package: &str) -> Result<()> {
    let classic = root.join("lib/modules").join(version);
    let merged = root.join("usr/lib/modules").join(version);
    if classic.exists() || !merged.exists() {
        return Ok(());
    }
    let lib = root.join("lib");
    if lib.exists() {
        return Err(VmError::KernelLayout {
            package: package.to_owned(),
            expected: classic,
        });
    }
    std::os::unix::fs::symlink("usr/lib", &lib).map_err(|e| VmError::io("creating", &lib, e))
}

/// The compressed kernel (`boot/vmlinuz-VERSION`) inside an unpacked package root.
pub fn bzimage_path(root: &Path, version: &str) -> PathBuf {
    root.join("boot").join(format!("vmlinuz-{version}"))
}

/// The module tree (`lib/modules/VERSION`) inside an unpacked package root.
pub fn module_tree(root: &Path, version: &str) -> PathBuf {
    root.join("lib/modules").join(version)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_kernel_version_comes_from_the_metapackage_dependency() {
        let text = "linux-image-amd64\n  Depends: linux-image-6.1.0-56-amd64\n";
        assert_eq!(
            version_from_depends(text).as_deref(),
            Some("6.1.0-56-amd64")
        );
    }

    #[test]
    fn unrelated_dependencies_are_skipped() {
        let text = "linux-image-amd64\n  Depends: linux-base\n  Depends: \
                    linux-image-6.12.48+deb13-amd64\n  Recommends: firmware\n";
        assert_eq!(
            version_from_depends(text).as_deref(),
            Some("6.12.48+deb13-amd64")
        );
        assert_eq!(version_from_depends("N: Unable to locate package"), None);
    }
}

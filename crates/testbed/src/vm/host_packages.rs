//! The Debian packages the VM runner needs on the host. The guest's root is the host's root,
//! so everything the guest runs (ipvsadm, ip) must be installed here too.
use super::error::{Result, VmError};
use super::tools;
use std::process::Command;

/// Host packages: qemu to boot, static busybox for the initramfs and the guest's init, kmod
/// for depmod and the guest's module autoloading, xz/zstd to unpack kernel images and modules,
/// ipvsadm and iproute2 for what the tests run inside.
pub const HOST_PACKAGES: &[&str] = &[
    "qemu-system-x86",
    "busybox-static",
    "ipvsadm",
    "iproute2",
    "cpio",
    "kmod",
    "xz-utils",
    "zstd",
];

/// The packages of `wanted` that dpkg does not report as installed.
pub fn missing(wanted: &[&str]) -> Result<Vec<String>> {
    // `dpkg-query -W` exits 1 when a package is unknown, but still prints the known ones, so
    // read its output whatever the status and treat absent lines as missing.
    let out = Command::new("dpkg-query")
        .args(["-W", "-f=${Package} ${db:Status-Status}\n"])
        .args(wanted)
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .output()
        .map_err(|source| VmError::Spawn {
            command: "dpkg-query -W".into(),
            source,
        })?;
    let listing = String::from_utf8_lossy(&out.stdout);
    let installed: Vec<&str> = listing
        .lines()
        .filter_map(|line| line.strip_suffix(" installed"))
        .map(|name| name.split(':').next().unwrap_or(name))
        .collect();
    Ok(wanted
        .iter()
        .filter(|name| !installed.contains(name))
        .map(|name| (*name).to_owned())
        .collect())
}

/// Installs whichever of [`HOST_PACKAGES`] are missing (`apt-get install`, after an
/// `apt-get update` if the first attempt cannot find them). Fast when nothing is missing.
pub fn ensure_installed() -> Result<()> {
    let missing = missing(HOST_PACKAGES)?;
    if missing.is_empty() {
        return Ok(());
    }
    if !nix::unistd::geteuid().is_root() {
        return Err(VmError::PackagesNeedRoot { packages: missing });
    }
    tracing::info!(packages = ?missing, "installing missing host packages");
    if install(&missing).is_err() {
        apt_update()?;
        install(&missing)?;
    }
    Ok(())
}

fn install(packages: &[String]) -> Result<()> {
    tools::output(
        Command::new("apt-get")
            .args(["install", "-y", "--no-install-recommends"])
            .args(packages)
            .env("DEBIAN_FRONTEND", "noninteractive"),
    )
    .map(drop)
}

/// `apt-get update`: the archive drops superseded kernels, so stale lists name packages that
/// no longer download.
pub(crate) fn apt_update() -> Result<()> {
    tracing::info!("running apt-get update");
    tools::output(
        Command::new("apt-get")
            .arg("update")
            .env("DEBIAN_FRONTEND", "noninteractive"),
    )
    .map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unknown_package_is_missing_and_an_installed_one_is_not() {
        let found = missing(&["dpkg", "ssinet-lab-no-such-package"]).unwrap();
        assert_eq!(found, vec!["ssinet-lab-no-such-package".to_owned()]);
    }
}

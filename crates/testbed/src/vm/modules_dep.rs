//! Which kernel modules the initramfs must load, and in what order, from depmod's output.
use super::error::{Result, VmError};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// Modules the initramfs loads before it can reach the host's root: virtio PCI transport, 9p
/// over virtio, overlayfs for the writable layer, virtio consoles for the command's output,
/// and virtio-rng so the guest's entropy pool fills at once. Everything else (ip_vs and its
/// schedulers, veth, nf_conntrack) the kernel autoloads later through the host's modprobe.
pub const INITRAMFS_MODULES: &[&str] = &[
    "virtio_pci",
    "9pnet_virtio",
    "9p",
    "overlay",
    "virtio_console",
    "virtio_rng",
];

/// Module names compare with `-` and `_` as the same character, as modprobe does.
fn canonical(name: &str) -> String {
    name.replace('-', "_")
}

/// `kernel/fs/9p/9p.ko.xz` -> `9p`.
fn module_name(path: &str) -> String {
    let file = path.rsplit('/').next().unwrap_or(path);
    let stem = file.split(".ko").next().unwrap_or(file);
    canonical(stem)
}

/// The module files (relative to the module tree) to load, dependencies first, each once.
/// Modules built into the kernel are skipped.
pub fn load_order(module_tree: &Path, wanted: &[&str]) -> Result<Vec<PathBuf>> {
    let dep_file = module_tree.join("modules.dep");
    let deps =
        std::fs::read_to_string(&dep_file).map_err(|e| VmError::io("reading", &dep_file, e))?;
    let builtin_file = module_tree.join("modules.builtin");
    let builtin = std::fs::read_to_string(&builtin_file).unwrap_or_default();
    order_from(&deps, &builtin, wanted)
        .map_err(|module| VmError::ModuleMissing { module, dep_file })
}

/// [`load_order`] over the text of `modules.dep` and `modules.builtin`; the error is the name of
/// a wanted module found in neither.
pub(crate) fn order_from(
    deps: &str,
    builtin: &str,
    wanted: &[&str],
) -> Result<Vec<PathBuf>, String> {
    let mut by_name: HashMap<String, (&str, Vec<&str>)> = HashMap::new();
    for line in deps.lines() {
        let Some((module, needs)) = line.split_once(':') else {
            continue;
        };
        by_name.insert(
            module_name(module),
            (module, needs.split_whitespace().collect()),
        );
    }
    let builtin: Vec<String> = builtin.lines().map(module_name).collect();
    let mut order: Vec<PathBuf> = Vec::new();
    for want in wanted {
        let want = canonical(want);
        let Some((path, needs)) = by_name.get(&want) else {
            if builtin.contains(&want) {
                continue;
            }
            return Err(want);
        };
        // modules.dep lists every (transitive) dependency, the last one first to load.
        for file in needs.iter().rev().chain(std::iter::once(path)) {
            let file = PathBuf::from(file);
            if !order.contains(&file) {
                order.push(file);
            }
        }
    }
    Ok(order)
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEPS: &str = "\
kernel/fs/9p/9p.ko: kernel/fs/fscache/fscache.ko kernel/fs/netfs/netfs.ko kernel/net/9p/9pnet.ko
kernel/net/9p/9pnet.ko:
kernel/net/9p/9pnet_virtio.ko: kernel/net/9p/9pnet.ko kernel/drivers/virtio/virtio_ring.ko kernel/drivers/virtio/virtio.ko
kernel/fs/netfs/netfs.ko:
kernel/fs/fscache/fscache.ko: kernel/fs/netfs/netfs.ko
kernel/drivers/virtio/virtio.ko:
kernel/drivers/virtio/virtio_ring.ko:
";

    #[test]
    fn dependencies_load_first_and_once() {
        let order = order_from(DEPS, "", &["9pnet_virtio", "9p"]).unwrap();
        let names: Vec<String> = order
            .iter()
            .map(|p| module_name(&p.to_string_lossy()))
            .collect();
        assert_eq!(
            names,
            [
                "virtio",
                "virtio_ring",
                "9pnet",
                "9pnet_virtio",
                "netfs",
                "fscache",
                "9p"
            ]
        );
    }

    #[test]
    fn builtin_modules_are_skipped_and_unknown_ones_named() {
        let builtin = "kernel/fs/overlayfs/overlay.ko\n";
        assert_eq!(
            order_from(DEPS, builtin, &["overlay"]).unwrap(),
            Vec::<PathBuf>::new()
        );
        assert_eq!(
            order_from(DEPS, builtin, &["virtio-rng"]),
            Err("virtio_rng".into())
        );
    }

    #[test]
    fn compressed_module_files_keep_their_names() {
        assert_eq!(module_name("kernel/fs/9p/9p.ko.xz"), "9p");
        assert_eq!(module_name("kernel/net/ipv4/ip-vs.ko.zst"), "ip_vs");
    }
}

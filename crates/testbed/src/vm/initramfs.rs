//! The guest's initramfs: the host's static busybox, the stage 1 `/init`, and the modules it
//! loads (decompressed, because busybox `insmod` reads only plain `.ko` files).
use super::cpio::CpioWriter;
use super::error::{Result, VmError};
use super::guest_init::stage1_script;
use super::modules_dep::{INITRAMFS_MODULES, load_order};
use super::tools;
use std::path::Path;

/// Where Debian's busybox-static installs its binary.
pub const HOST_BUSYBOX: &str = "/bin/busybox";

/// Bumped whenever the initramfs layout changes in a way the script text does not show.
const LAYOUT_VERSION: u32 = 1;

/// A short stable key for the initramfs of `kernel_version`: it changes whenever the stage 1
/// script or the module list does, so a cached image never outlives the code that made it.
pub fn cache_key(kernel_version: &str) -> String {
    // FNV-1a: tiny and stable across Rust releases (std's hasher is not).
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let mut feed = |bytes: &[u8]| {
        for byte in bytes {
            hash ^= u64::from(*byte);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
    };
    feed(&LAYOUT_VERSION.to_le_bytes());
    feed(stage1_script(kernel_version).as_bytes());
    for module in INITRAMFS_MODULES {
        feed(module.as_bytes());
        feed(b"\n");
    }
    format!("{hash:016x}")
}

/// Builds the gzip-compressed initramfs for the kernel whose module tree is `module_tree`.
pub fn build(kernel_version: &str, module_tree: &Path) -> Result<Vec<u8>> {
    let busybox_path = Path::new(HOST_BUSYBOX);
    let busybox =
        std::fs::read(busybox_path).map_err(|e| VmError::io("reading", busybox_path, e))?;
    check_static(&busybox).map_err(|reason| VmError::BusyboxNotStatic {
        path: busybox_path.to_owned(),
        reason,
    })?;

    let mut archive = CpioWriter::new();
    for dir in [
        "/bin", "/dev", "/proc", "/sys", "/lower", "/upper", "/newroot", "/modules",
    ] {
        archive.directory(dir, 0o755);
    }
    // The kernel opens /dev/console for init's stdio before devtmpfs is mounted.
    archive.char_device("/dev/console", 0o600, 5, 1);
    archive.file("/bin/busybox", 0o755, &busybox);
    archive.file("/init", 0o755, stage1_script(kernel_version).as_bytes());

    let mut order = String::new();
    for relative in load_order(module_tree, INITRAMFS_MODULES)? {
        let path = module_tree.join(&relative);
        let compressed = std::fs::read(&path).map_err(|e| VmError::io("reading", &path, e))?;
        let file_name = relative
            .file_name()
            .map(|name| name.to_string_lossy().into_owned())
            .unwrap_or_default();
        let (name, plain) = if let Some(name) = file_name.strip_suffix(".xz") {
            (name, tools::filter("xz", &["-dc"], &compressed)?)
        } else if let Some(name) = file_name.strip_suffix(".zst") {
            (name, tools::filter("zstd", &["-dcq"], &compressed)?)
        } else if let Some(name) = file_name.strip_suffix(".gz") {
            (name, tools::filter("gzip", &["-dc"], &compressed)?)
        } else {
            (file_name.as_str(), compressed)
        };
        archive.file(&format!("/modules/{name}"), 0o644, &plain);
        order.push_str(name);
        order.push('\n');
    }
    archive.file("/modules/load-order", 0o644, order.as_bytes());
    tools::filter("gzip", &["-n", "-6", "-c"], &archive.finish())
}

/// An ELF executable is static when it has no PT_INTERP (dynamic loader) segment.
fn check_static(elf: &[u8]) -> Result<(), String> {
    const PT_INTERP: u32 = 3;
    if !elf.starts_with(b"\x7fELF\x02\x01") {
        return Err("not a 64-bit little-endian ELF".into());
    }
    let read = |at: usize, len: usize| -> Result<u64, String> {
        let bytes = at
            .checked_add(len)
            .and_then(|end| elf.get(at..end))
            .ok_or("truncated ELF")?;
        Ok(bytes
            .iter()
            .rev()
            .fold(0, |acc, b| (acc << 8) | u64::from(*b)))
    };
    // An offset or count of the file; one beyond the address space is past the end too.
    let read_usize = |at: usize, len: usize| -> Result<usize, String> {
        usize::try_from(read(at, len)?).map_err(|_| "truncated ELF".to_owned())
    };
    let phoff = read_usize(0x20, 8)?;
    let phentsize = read_usize(0x36, 2)?;
    let phnum = read_usize(0x38, 2)?;
    for index in 0..phnum {
        let header = index
            .checked_mul(phentsize)
            .and_then(|at| at.checked_add(phoff))
            .ok_or("truncated ELF")?;
        if read(header, 4)? == u64::from(PT_INTERP) {
            return Err("it asks for a dynamic loader".into());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_host_busybox_is_static_and_dpkg_is_not() {
        check_static(&std::fs::read(HOST_BUSYBOX).unwrap()).unwrap();
        let dynamic = std::fs::read("/usr/bin/dpkg").unwrap();
        assert!(check_static(&dynamic).is_err());
    }

    #[test]
    fn the_cache_key_follows_the_kernel_version() {
        assert_eq!(cache_key("6.1.0-56-amd64"), cache_key("6.1.0-56-amd64"));
        assert_ne!(cache_key("6.1.0-56-amd64"), cache_key("6.12.1-amd64"));
    }
}

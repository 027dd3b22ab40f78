//! The cache of guest kernels and initramfs images, outside the repository.
//!
//! ```text
//! $SSINET_LAB_CACHE (default /var/cache/ssinet-lab)/
//!   lock                         held while building (flock); builds also use atomic renames
//!   vm.lock                      held while a VM runs: one VM at a time on this machine
//!   runs/run-XXXX/               the running VM's exchange share and logs (removed after)
//!   current-kernel               the kernel version last resolved through apt
//!   kernels/VERSION/root/        the unpacked linux-image package, with modules.dep
//!   kernels/VERSION/vmlinux      the ELF kernel with its PVH entry (absent if not extractable)
//!   kernels/VERSION/initramfs-KEY.img
//! ```
use super::bzimage::extract_vmlinux;
use super::error::{Result, VmError};
use super::{host_packages, initramfs, kernel_package};
use nix::fcntl::{Flock, FlockArg};
use std::fs::File;
use std::path::{Path, PathBuf};

/// Environment variable naming the cache directory.
pub const CACHE_ENV: &str = "SSINET_LAB_CACHE";
/// Environment variable pinning the guest kernel version (e.g. `6.1.0-56-amd64`) instead of
/// what `linux-image-amd64` depends on.
pub const KERNEL_ENV: &str = "SSINET_LAB_KERNEL";
const DEFAULT_CACHE: &str = "/var/cache/ssinet-lab";

/// Everything a VM boot needs, cached on the host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prepared {
    /// The guest kernel's release, as `uname -r` prints it inside.
    pub kernel_version: String,
    /// The image qemu boots: the extracted ELF `vmlinux` when it has a PVH entry, else the
    /// bzImage (slower to boot, same kernel).
    pub kernel: PathBuf,
    /// The package's compressed kernel.
    pub bzimage: PathBuf,
    /// The kernel's module tree (with `modules.dep`), mounted at `/lib/modules/VERSION` in the
    /// guest.
    pub module_tree: PathBuf,
    /// The gzip-compressed cpio initramfs.
    pub initramfs: PathBuf,
}

/// The cache directory: `$SSINET_LAB_CACHE`, else `/var/cache/ssinet-lab`.
pub fn cache_dir() -> PathBuf {
    std::env::var_os(CACHE_ENV)
        .filter(|dir| !dir.is_empty())
        .map_or_else(|| PathBuf::from(DEFAULT_CACHE), PathBuf::from)
}

/// Makes sure the host packages, the guest kernel, its module tree, vmlinux and the initramfs
/// are in the cache, and returns their paths. Fast when all is cached (no apt, no lock); safe
/// when several processes call it at once (one builds under the cache lock, the others wait
/// and then find the result, and every result appears by an atomic rename).
pub fn prepare() -> Result<Prepared> {
    prepare_in(&cache_dir(), false)
}

/// Like [`prepare`], but asks apt which kernel `linux-image-amd64` depends on now instead of
/// reusing the one resolved before (unless `SSINET_LAB_KERNEL` pins one).
pub fn prepare_latest() -> Result<Prepared> {
    prepare_in(&cache_dir(), true)
}

fn prepare_in(cache: &Path, re_resolve: bool) -> Result<Prepared> {
    host_packages::ensure_installed()?;
    let pinned = std::env::var(KERNEL_ENV).ok().filter(|v| !v.is_empty());
    let current_file = cache.join("current-kernel");
    let remembered = || {
        std::fs::read_to_string(&current_file)
            .ok()
            .map(|text| text.trim().to_owned())
            .filter(|v| !v.is_empty())
    };
    if !re_resolve
        && let Some(version) = pinned.clone().or_else(remembered)
        && let Some(prepared) = cached(cache, &version)
    {
        return Ok(prepared);
    }

    std::fs::create_dir_all(cache.join("kernels"))
        .map_err(|e| VmError::io("creating", cache, e))?;
    let _lock = lock(
        &cache.join("lock"),
        "ssinet-lab building the VM kernel cache",
    )?;
    let known = pinned.or_else(|| if re_resolve { None } else { remembered() });
    let version = match known {
        Some(version) => version,
        None => kernel_package::resolve_version()?,
    };
    let prepared = build(cache, &version)?;
    write_atomically(&current_file, format!("{version}\n").as_bytes())?;
    Ok(prepared)
}

/// The cached files for `version`, if all are present.
fn cached(cache: &Path, version: &str) -> Option<Prepared> {
    let prepared = layout(cache, version);
    let complete = prepared.kernel.is_file()
        && prepared.initramfs.is_file()
        && prepared.module_tree.join("modules.dep").is_file();
    complete.then_some(prepared)
}

/// Where the files for `version` live (whether or not they exist yet).
fn layout(cache: &Path, version: &str) -> Prepared {
    let dir = cache.join("kernels").join(version);
    let root = dir.join("root");
    let bzimage = kernel_package::bzimage_path(&root, version);
    let vmlinux = dir.join("vmlinux");
    Prepared {
        kernel_version: version.to_owned(),
        kernel: if vmlinux.is_file() {
            vmlinux
        } else {
            bzimage.clone()
        },
        module_tree: kernel_package::module_tree(&root, version),
        initramfs: dir.join(format!("initramfs-{}.img", initramfs::cache_key(version))),
        bzimage,
    }
}

/// Builds what is missing for `version`; the caller holds the cache lock.
fn build(cache: &Path, version: &str) -> Result<Prepared> {
    let dir = cache.join("kernels").join(version);
    if !dir.join("root").is_dir() {
        let started = std::time::Instant::now();
        let partial = cache
            .join("kernels")
            .join(format!(".{version}.partial-{}", std::process::id()));
        remove_partials(&cache.join("kernels"))?;
        std::fs::create_dir_all(&partial).map_err(|e| VmError::io("creating", &partial, e))?;
        tracing::info!(
            version,
            "downloading and unpacking the guest kernel (once per version)"
        );
        let root = kernel_package::download_and_unpack(version, &partial)?;
        match extract_vmlinux(&kernel_package::bzimage_path(&root, version)) {
            Ok(elf) => {
                let path = partial.join("vmlinux");
                std::fs::write(&path, elf).map_err(|e| VmError::io("writing", &path, e))?;
            }
            Err(error) => tracing::warn!(%error, "booting the bzImage instead (about 3 s slower)"),
        }
        std::fs::rename(&partial, &dir).map_err(|e| VmError::io("renaming into", &dir, e))?;
        tracing::info!(version, elapsed = ?started.elapsed(), "guest kernel cached");
    }
    let prepared = layout(cache, version);
    if !prepared.initramfs.is_file() {
        let image = initramfs::build(version, &prepared.module_tree)?;
        write_atomically(&prepared.initramfs, &image)?;
        remove_other_initramfs(&dir, &prepared.initramfs);
    }
    Ok(prepared)
}

/// Images built by other versions of this code, once unused for a week: another version may
/// still be running beside this one (a developer's older build), so recent ones stay.
fn remove_other_initramfs(dir: &Path, keep: &Path) {
    const UNUSED_FOR: std::time::Duration = std::time::Duration::from_secs(7 * 24 * 3600);
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        let stale = entry
            .metadata()
            .and_then(|meta| meta.accessed())
            .ok()
            .and_then(|used| used.elapsed().ok())
            .is_some_and(|age| age > UNUSED_FOR);
        if name.starts_with("initramfs-")
            && path != keep
            && stale
            && let Err(error) = std::fs::remove_file(&path)
        {
            tracing::debug!(%error, path = %path.display(), "keeping an old initramfs");
        }
    }
}

/// Leftovers of builds that died; only called under the cache lock, so none is in progress.
fn remove_partials(kernels: &Path) -> Result<()> {
    let entries = std::fs::read_dir(kernels).map_err(|e| VmError::io("reading", kernels, e))?;
    for entry in entries.flatten() {
        if entry.file_name().to_string_lossy().contains(".partial-") {
            let path = entry.path();
            std::fs::remove_dir_all(&path).map_err(|e| VmError::io("removing", &path, e))?;
        }
    }
    Ok(())
}

/// Writes `path` through a temporary sibling and a rename, so readers see all or nothing.
fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut temporary = path.as_os_str().to_owned();
    temporary.push(format!(".tmp-{}", std::process::id()));
    let temporary = PathBuf::from(temporary);
    std::fs::write(&temporary, bytes).map_err(|e| VmError::io("writing", &temporary, e))?;
    std::fs::rename(&temporary, path).map_err(|e| VmError::io("renaming into", path, e))
}

/// Takes an exclusive flock on `path` (created if needed), telling the user when it has to
/// wait, and for whom: the holder writes its pid and `purpose` into the file. The lock ends
/// when the returned guard drops.
pub(crate) fn lock(path: &Path, purpose: &str) -> Result<Flock<File>> {
    use std::io::Write;
    let mut locked = acquire(path)?;
    // Best effort: the note only serves the message of whoever waits next.
    let note = format!("pid {}: {purpose}\n", std::process::id());
    let _ = locked
        .set_len(0)
        .and_then(|()| locked.write_all(note.as_bytes()));
    Ok(locked)
}

fn acquire(path: &Path) -> Result<Flock<File>> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(|e| VmError::io("creating", parent, e))?;
    }
    let file = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .map_err(|e| VmError::io("opening", path, e))?;
    let file = match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
        Ok(locked) => return Ok(locked),
        Err((file, _busy)) => file,
    };
    let holder = std::fs::read_to_string(path).unwrap_or_default();
    tracing::info!(lock = %path.display(), "waiting for {}", holder.trim());
    Flock::lock(file, FlockArg::LockExclusive)
        .map_err(|(_, errno)| VmError::io("locking", path, std::io::Error::from(errno)))
}

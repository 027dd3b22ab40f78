//! Pinning namespaces at `/run/netns/<name>` the way iproute2 does, and unpinning them.
use super::error::{NetnsError, Result, io_error};
use super::ioctl;
use nix::mount::{MntFlags, MsFlags};
use nix::sched::CloneFlags;
use std::fs::File;
use std::path::{Path, PathBuf};

/// Where iproute2 keeps named namespaces; `ip netns exec NAME` finds ours there.
pub const NETNS_RUN_DIR: &str = "/run/netns";

pub(crate) fn path_of(name: &str) -> PathBuf {
    Path::new(NETNS_RUN_DIR).join(name)
}

/// Runs on a throwaway thread: gives it a new network namespace, pins that namespace at `path`
/// and brings `lo` up. The thread ends right after, so nothing else ever runs in there by
/// accident.
pub(crate) fn new_namespace_on_this_thread(name: &str, path: &Path) -> Result<()> {
    let kernel = |action| {
        move |source| NetnsError::Kernel {
            action,
            name: name.to_owned(),
            cause: source,
        }
    };
    nix::sched::unshare(CloneFlags::CLONE_NEWNET).map_err(kernel("create (unshare)"))?;
    nix::mount::mount(
        Some("/proc/thread-self/ns/net"),
        path,
        None::<&str>,
        MsFlags::MS_BIND,
        None::<&str>,
    )
    .map_err(kernel("pin (bind mount)"))?;
    ioctl::set_up("lo").map_err(io_error("bring up lo in", path))
}

/// Makes `/run/netns` a shared mount point, exactly as `ip netns add` does, so namespaces pinned
/// there show in every mount namespace (and `ip netns` treats ours like its own).
pub(crate) fn ensure_run_dir() -> Result<()> {
    static READY: std::sync::OnceLock<Result<(), String>> = std::sync::OnceLock::new();
    READY
        .get_or_init(|| make_run_dir_shared().map_err(|error| error.to_string()))
        .clone()
        .map_err(|reason| NetnsError::Io {
            action: "prepare",
            path: NETNS_RUN_DIR.into(),
            cause: std::io::Error::other(reason),
        })
}

fn make_run_dir_shared() -> Result<()> {
    std::fs::create_dir_all(NETNS_RUN_DIR).map_err(io_error("create", NETNS_RUN_DIR))?;
    // Serialise with other processes doing the same, so the bind mount is not stacked twice.
    let dir = File::open(NETNS_RUN_DIR).map_err(io_error("open", NETNS_RUN_DIR))?;
    let _lock = nix::fcntl::Flock::lock(dir, nix::fcntl::FlockArg::LockExclusive)
        .map_err(|(_, errno)| io_error("lock", NETNS_RUN_DIR)(errno.into()))?;
    let mut bound = false;
    loop {
        let shared = MsFlags::MS_SHARED | MsFlags::MS_REC;
        match nix::mount::mount(
            None::<&str>,
            NETNS_RUN_DIR,
            Some("none"),
            shared,
            None::<&str>,
        ) {
            Ok(()) => return Ok(()),
            // Not a mount point yet: bind it onto itself, then it can be made shared.
            Err(nix::Error::EINVAL) if !bound => {
                let bind = MsFlags::MS_BIND | MsFlags::MS_REC;
                nix::mount::mount(
                    Some(NETNS_RUN_DIR),
                    NETNS_RUN_DIR,
                    Some("none"),
                    bind,
                    None::<&str>,
                )
                .map_err(|errno| io_error("bind-mount", NETNS_RUN_DIR)(errno.into()))?;
                bound = true;
            }
            Err(errno) => return Err(io_error("make shared", NETNS_RUN_DIR)(errno.into())),
        }
    }
}

/// Unpins a namespace: detach its mount, remove the mount point. Missing pieces are not errors.
pub(crate) fn delete_mount(path: &Path) -> Result<()> {
    match nix::mount::umount2(path, MntFlags::MNT_DETACH) {
        Ok(()) | Err(nix::Error::EINVAL) | Err(nix::Error::ENOENT) => {}
        Err(errno) => return Err(io_error("unmount", path)(errno.into())),
    }
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(error) => Err(io_error("remove", path)(error)),
    }
}

pub(crate) fn remove_mount(path: &Path) {
    if let Err(error) = delete_mount(path) {
        tracing::warn!(path = %path.display(), %error, "could not clean up a half-made namespace");
    }
}

//! The qemu VM test bed: run a host command inside a throwaway VM that boots Debian's stock
//! kernel, for what this machine's kernel lacks (IPVS, loadable modules).
//!
//! The guest's root is the host's root, read-only over 9p, under a tmpfs overlay: the guest
//! runs the host's binaries (test binaries built on the host included) and may write anywhere,
//! but nothing it writes reaches the host. It runs as root, with a fresh tmpfs on `/run` (so
//! `ip netns` works), the host's `/tmp` (overlaid too), `lo` up, and no network device, so
//! test traffic cannot leave it. The kernel autoloads `ip_vs` and its schedulers through the
//! host's own modprobe from the cached module tree.
//!
//! # Library API
//!
//! ```no_run
//! use ssinet_testbed::vm::{self, VmOutcome, VmSpec};
//! use std::time::Duration;
//!
//! # fn main() -> Result<(), ssinet_testbed::vm::VmError> {
//! let spec = VmSpec {
//!     timeout: Duration::from_secs(120),
//!     env: vec![("SSINET_MODE".into(), "dr".into())],
//!     ..VmSpec::default() // 1024 MB, 2 CPUs, 600 s, this process's cwd
//! }
//! .inherit_env(); // RUST_*, SSINET_*, CARGO_* from this process
//! match vm::run(&spec, &["ipvsadm", "-Ln"])? {
//!     VmOutcome::Exited(0) => {}
//!     other => panic!("ipvsadm in the VM: {other}"),
//! }
//! let captured = vm::run_captured(&spec, &["/bin/sh", "-c", "uname -r"])?;
//! assert!(captured.outcome.success());
//! # Ok(())
//! # }
//! ```
//!
//! - [`run`] streams the command's stdout/stderr to this process's, [`run_captured`] collects
//!   them, [`run_with_output`] writes them to any sinks; `\r` is removed and kernel messages
//!   never mix in (they go to the console, kept only to explain a dead VM).
//! - [`VmOutcome`]: `Exited(status)`, `Signalled(signal)`, `TimedOut` (the whole run, boot
//!   included, exceeded `timeout`), `VmDied(reason)` (kernel panic, a guest setup step failed,
//!   qemu failed). [`VmOutcome::exit_code`] maps them to 0-255 / 128+N / 124 / 125.
//! - [`prepare`] makes sure the host packages, kernel, module tree, vmlinux and initramfs are
//!   cached and returns their paths ([`Prepared`]); `run` calls it. Idempotent, fast when
//!   cached, safe when several processes call it at once (a lock file and atomic renames).
//!   The first call downloads about 70 MB (the `linux-image-*-amd64` package).
//! - One VM runs at a time on a machine (a lock file): callers wait, their timeout starts when
//!   their VM boots.
//!
//! Environment: `SSINET_LAB_CACHE` (cache directory, default `/var/cache/ssinet-lab`),
//! `SSINET_LAB_KERNEL` (pin a kernel version such as `6.1.0-56-amd64`).
//!
//! A boot costs about 2.5 s of an idle 2-core machine under TCG, and every process the guest
//! starts costs 0.1-0.2 s: prefer in-process work in VM tests, and one VM per test binary
//! (`tests/vm/cargo-runner`).
//!
//! Host side needs root (to install packages, write the cache, and read all of `/` for the
//! guest).

mod bzimage;
mod cache;
mod cpio;
mod error;
mod guest_init;
mod guest_run;
mod host_packages;
mod initramfs;
mod kernel_package;
mod modules_dep;
mod qemu;
mod run;
mod spec;
mod tools;

pub use cache::{CACHE_ENV, KERNEL_ENV, Prepared, cache_dir, prepare, prepare_latest};
pub use error::{Result, VmError};
pub use host_packages::HOST_PACKAGES;
pub use run::{VmCapture, run, run_captured, run_prepared, run_with_output};
pub use spec::{INHERITED_ENV_PREFIXES, VmOutcome, VmSpec};

/// The VM as a value, for callers that prefer `Vm::new(spec).run(argv)`.
#[derive(Debug, Clone, Default)]
pub struct Vm {
    pub spec: VmSpec,
}

impl Vm {
    pub fn new(spec: VmSpec) -> Self {
        Vm { spec }
    }

    /// [`run`] with this VM's spec.
    pub fn run<S: AsRef<std::ffi::OsStr>>(&self, argv: &[S]) -> Result<VmOutcome> {
        run(&self.spec, argv)
    }

    /// [`run_captured`] with this VM's spec.
    pub fn run_captured<S: AsRef<std::ffi::OsStr>>(&self, argv: &[S]) -> Result<VmCapture> {
        run_captured(&self.spec, argv)
    }
}

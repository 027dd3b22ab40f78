//! [`Netns`]: one owned, named network namespace, and running code or programs inside it.
use super::error::{NetnsError, Result, io_error};
use super::mount::{
    delete_mount, ensure_run_dir, new_namespace_on_this_thread, path_of, remove_mount,
};
use super::process::{ChildRegistry, NetnsChild};
use super::{ioctl, names};
use nix::sched::CloneFlags;
use std::ffi::OsStr;
use std::fs::{File, OpenOptions};
use std::io::Write as _;
use std::os::fd::{AsRawFd as _, OwnedFd};
use std::os::unix::fs::{MetadataExt as _, OpenOptionsExt as _};
use std::os::unix::process::CommandExt as _;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::sync::Arc;

/// A network namespace mounted at `/run/netns/<name>`.
///
/// An owned namespace (from [`Netns::new`] or a [`super::Lab`]) is deleted when dropped, also
/// while unwinding from a panic: the processes spawned into it are killed first, then its mount
/// is detached. An attached one ([`Netns::attach`]) is left as it is.
pub struct Netns {
    name: String,
    /// Keeps the namespace alive and is what `setns` enters; shared with `Command`s built by
    /// [`Netns::command`] so they can still enter it after `self` is gone.
    fd: Arc<OwnedFd>,
    children: Arc<ChildRegistry>,
    owned: bool,
}

impl std::fmt::Debug for Netns {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Netns")
            .field("name", &self.name)
            .field("owned", &self.owned)
            .finish()
    }
}

impl Netns {
    /// Creates a namespace named `<unique run prefix><label>` (e.g. `ssl1234x7-peer`) with `lo`
    /// up. `label` is 1-40 characters of `[a-z0-9_-]`.
    pub fn new(label: &str) -> Result<Netns> {
        names::check_label(label)?;
        Netns::create(format!("{}{label}", names::next_prefix()))
    }

    /// Creates a namespace with exactly this name (used by labs, which pick one prefix for all
    /// their namespaces).
    pub(crate) fn create(name: String) -> Result<Netns> {
        names::sweep_once();
        ensure_run_dir()?;
        let path = path_of(&name);
        // The bind-mount target; `create_new` makes a name clash an error instead of a takeover.
        OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o444)
            .open(&path)
            .map_err(io_error("create the namespace mount point", &path))?;
        let made = std::thread::scope(|scope| {
            std::thread::Builder::new()
                .name(format!("netns-new-{name}"))
                .spawn_scoped(scope, || new_namespace_on_this_thread(&name, &path))
                .map_err(io_error("start a thread to create", &path))?
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
        });
        if let Err(error) = made {
            remove_mount(&path);
            return Err(error);
        }
        match Netns::open(&name, true) {
            Ok(netns) => Ok(netns),
            Err(error) => {
                remove_mount(&path);
                Err(error)
            }
        }
    }

    /// Opens an existing namespace `/run/netns/<name>` without taking ownership: dropping the
    /// returned value does not delete it (processes spawned through it are still killed).
    pub fn attach(name: &str) -> Result<Netns> {
        Netns::open(name, false)
    }

    fn open(name: &str, owned: bool) -> Result<Netns> {
        let path = path_of(name);
        let file = File::open(&path).map_err(io_error("open the namespace", &path))?;
        // A leftover mount point without its mount is a plain file: entering it must fail here,
        // not later (and never leave a command running in the host namespace).
        let nsfs = std::fs::metadata("/proc/thread-self/ns/net")
            .map_err(io_error("inspect", "/proc/thread-self/ns/net"))?;
        let pinned = file.metadata().map_err(io_error("inspect", &path))?;
        if pinned.dev() != nsfs.dev() {
            return Err(NetnsError::Io {
                action: "open the namespace",
                path,
                cause: std::io::Error::other(
                    "not a mounted network namespace; remove the stale file or `ssinet-lab down`",
                ),
            });
        }
        Ok(Netns {
            name: name.to_owned(),
            fd: Arc::new(OwnedFd::from(file)),
            children: Arc::default(),
            owned,
        })
    }

    /// The full name, as `ip netns exec <name> ...` wants it.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// `/run/netns/<name>`.
    pub fn path(&self) -> PathBuf {
        path_of(&self.name)
    }

    /// Runs `f` on a fresh thread that has entered this namespace and returns its result. Sockets
    /// (and netlink sockets, and tokio runtimes built inside `f`) created there belong to this
    /// namespace. A panic in `f` is propagated to the caller.
    ///
    /// Inside, read `/proc/thread-self/net/...`, not `/proc/net/...` (that follows the process's
    /// main thread, which stays in the host namespace); `/proc/sys/net/...` is this namespace's.
    pub fn run<T: Send, F: FnOnce() -> T + Send>(&self, f: F) -> Result<T> {
        std::thread::scope(|scope| {
            std::thread::Builder::new()
                .name(format!("netns-{}", self.name))
                .spawn_scoped(scope, || {
                    nix::sched::setns(&*self.fd, CloneFlags::CLONE_NEWNET).map_err(|source| {
                        NetnsError::Kernel {
                            action: "enter (setns)",
                            name: self.name.clone(),
                            cause: source,
                        }
                    })?;
                    Ok(f())
                })
                .map_err(io_error("start a thread to enter", self.path()))?
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
        })
    }

    /// Starts a named thread inside the namespace that may outlive this call (e.g. an in-process
    /// server for the whole test). The thread keeps the namespace itself alive, not its name: join
    /// it before the `Netns` is dropped.
    pub fn spawn_thread<T, F>(&self, f: F) -> Result<std::thread::JoinHandle<T>>
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        let handle = self.handle();
        let (entered_tx, entered_rx) = std::sync::mpsc::sync_channel(1);
        let thread = std::thread::Builder::new()
            .name(format!("netns-{}", self.name))
            .spawn(move || match handle.enter_current_thread() {
                Ok(()) => {
                    let _ = entered_tx.send(Ok(()));
                    f()
                }
                Err(error) => {
                    let _ = entered_tx.send(Err(error));
                    // Never run `f` in the host namespace; end the thread without a panic message.
                    std::panic::resume_unwind(Box::new(()))
                }
            })
            .map_err(io_error("start a thread to enter", self.path()))?;
        match entered_rx.recv() {
            Ok(Ok(())) => Ok(thread),
            Ok(Err(error)) => {
                let _ = thread.join();
                Err(error)
            }
            Err(_) => Err(NetnsError::Spec(format!(
                "the thread for namespace {} ended before entering it",
                self.name
            ))),
        }
    }

    /// A cheap, cloneable, `'static` reference to this namespace for code that must enter it on
    /// threads it does not create itself, e.g. tokio's `Builder::on_thread_start`.
    pub fn handle(&self) -> NetnsHandle {
        NetnsHandle {
            name: self.name.clone(),
            fd: Arc::clone(&self.fd),
        }
    }

    /// A `Command` for `program` that enters this namespace between fork and exec (no
    /// `ip netns exec` in between). The child still sees the host's `/sys`; run it under
    /// `ip netns exec <name>` if it reads `/sys/class/net`.
    pub fn command(&self, program: impl AsRef<OsStr>) -> Command {
        let mut command = Command::new(program);
        self.enter_on_exec(&mut command);
        command
    }

    fn enter_on_exec(&self, command: &mut Command) {
        let fd = Arc::clone(&self.fd);
        // SAFETY: the hook runs between fork and exec and only makes the `setns` system call
        // (async-signal-safe) and reads errno; it neither allocates nor takes locks.
        unsafe {
            command.pre_exec(move || {
                if libc::setns(fd.as_raw_fd(), libc::CLONE_NEWNET) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
    }

    /// Runs `argv` inside the namespace and collects its output, whatever its exit status.
    pub fn exec<S: AsRef<OsStr>>(&self, argv: &[S]) -> Result<Output> {
        let (program, args) = split_argv(argv)?;
        let mut command = self.command(program);
        command.args(args).stdin(Stdio::null());
        command
            .output()
            .map_err(|source| self.spawn_error(program, source))
    }

    /// Runs `argv` inside the namespace; its stdout if it exits 0, else an error carrying its
    /// exit status and stderr.
    pub fn exec_ok<S: AsRef<OsStr>>(&self, argv: &[S]) -> Result<String> {
        let output = self.exec(argv)?;
        self.checked(argv, output)
    }

    /// Like [`Netns::exec_ok`], feeding `input` to the program's stdin.
    pub fn exec_with_input<S: AsRef<OsStr>>(&self, argv: &[S], input: &str) -> Result<String> {
        let (program, args) = split_argv(argv)?;
        let mut command = self.command(program);
        command
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = command
            .spawn()
            .map_err(|source| self.spawn_error(program, source))?;
        if let Some(mut stdin) = child.stdin.take() {
            // A program that exits early closes its stdin; its exit status tells why.
            let _ = stdin.write_all(input.as_bytes());
        }
        let output = child
            .wait_with_output()
            .map_err(|source| self.spawn_error(program, source))?;
        self.checked(argv, output)
    }

    /// Starts `command` inside the namespace. The returned guard kills it (SIGKILL, by the PID
    /// it still owns) when dropped; dropping this `Netns` kills it too.
    pub fn spawn(&self, mut command: Command) -> Result<NetnsChild> {
        self.enter_on_exec(&mut command);
        let program = command.get_program().to_string_lossy().into_owned();
        let child = command
            .spawn()
            .map_err(|source| self.spawn_error(&program, source))?;
        Ok(NetnsChild::register(child, &self.children, &self.name))
    }

    /// Deletes the namespace now, reporting failures that a drop could only log.
    pub fn delete(mut self) -> Result<()> {
        self.children.kill_all();
        self.owned = false;
        delete_mount(&self.path())
    }

    /// Whether dropping this value deletes the namespace.
    pub fn is_owned(&self) -> bool {
        self.owned
    }

    /// Stops dropping from deleting the namespace (a lab that must outlive this process).
    pub(crate) fn disown(&mut self) {
        self.owned = false;
    }

    fn spawn_error(&self, program: impl AsRef<OsStr>, source: std::io::Error) -> NetnsError {
        NetnsError::Spawn {
            program: program.as_ref().to_string_lossy().into_owned(),
            name: self.name.clone(),
            cause: source,
        }
    }

    fn checked<S: AsRef<OsStr>>(&self, argv: &[S], output: Output) -> Result<String> {
        if output.status.success() {
            return Ok(String::from_utf8_lossy(&output.stdout).into_owned());
        }
        Err(NetnsError::Command {
            command: argv
                .iter()
                .map(|arg| arg.as_ref().to_string_lossy())
                .collect::<Vec<_>>()
                .join(" "),
            name: self.name.clone(),
            status: output.status,
            stderr: String::from_utf8_lossy(&output.stderr).trim().to_owned(),
        })
    }

    /// Brings an interface of this namespace up, in-process (an ioctl; no `ip` to fork).
    pub fn link_up(&self, ifname: &str) -> Result<()> {
        self.run(|| ioctl::set_up(ifname))?.map_err(io_error(
            "bring up interface",
            format!("{}:{ifname}", self.name),
        ))
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        self.children.kill_all();
        if self.owned
            && let Err(error) = delete_mount(&self.path())
        {
            tracing::warn!(namespace = %self.name, %error, "could not delete the namespace");
        }
    }
}

/// See [`Netns::handle`]. Holding one keeps the namespace alive (not its `/run/netns` name).
#[derive(Debug, Clone)]
pub struct NetnsHandle {
    name: String,
    fd: Arc<OwnedFd>,
}

impl NetnsHandle {
    /// The namespace's full name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Moves the calling thread into the namespace, for good. Only for threads made for it.
    pub fn enter_current_thread(&self) -> Result<()> {
        nix::sched::setns(&*self.fd, CloneFlags::CLONE_NEWNET).map_err(|source| {
            NetnsError::Kernel {
                action: "enter (setns)",
                name: self.name.clone(),
                cause: source,
            }
        })
    }
}

fn split_argv<S: AsRef<OsStr>>(argv: &[S]) -> Result<(&OsStr, impl Iterator<Item = &OsStr>)> {
    let (program, args) = argv
        .split_first()
        .ok_or_else(|| NetnsError::Spec("an empty command line; give at least a program".into()))?;
    Ok((program.as_ref(), args.iter().map(AsRef::as_ref)))
}

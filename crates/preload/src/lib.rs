//! LD_PRELOAD library for ssinet remote sockets.
//!
//! Only control calls on inet TCP sockets are intercepted; the fd the application gets is a real
//! AF_UNIX socket whose other end the local agent pumps to the origin node, so read/write/poll/
//! epoll/sendfile/fork/exec need nothing from us. Calls on other fds cost one atomic load (the
//! per-fd flag table) before going to libc. The real functions are resolved with
//! dlsym(RTLD_NEXT) at load time. No lock is ever taken, so fork is safe at any moment.
//!
//! Limits (documented failures): fds above 65535 are never remote; UDP and other families stay
//! local; a broker that cannot be reached makes socket() fail with ENETDOWN; fds duplicated with
//! fcntl(F_DUPFD) are recognised again only after an exec.
//!
//! The messages to the broker, and the descriptors passed beside them, are the
//! `ssinet-rsock-wire` crate's, the same code the broker runs.
//!
//! No `as` cast between integer widths (the workspace lints deny them): a value the caller
//! passes that does not fit fails the call with the errno the kernel would give, never a panic.

mod real;

use std::ffi::{c_int, c_void};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};

use libc::{sockaddr, socklen_t};
use ssinet_rsock_wire::fdpass;
use ssinet_rsock_wire::sockaddr::{socklen, socklen_of, unix_address};
use ssinet_rsock_wire::*;

const MAX_FDS: usize = 65536;
const REMOTE: u8 = 1;
const LISTENING: u8 = 2;

#[allow(clippy::declare_interior_mutable_const)]
const CLEAR: AtomicU8 = AtomicU8::new(0);
static FLAGS: [AtomicU8; MAX_FDS] = [CLEAR; MAX_FDS];
/// The origin node, or u64::MAX when interception is off.
static ORIGIN: AtomicU64 = AtomicU64::new(u64::MAX);
static BROKER: OnceLock<libc::sockaddr_un> = OnceLock::new();

#[used]
#[unsafe(link_section = ".init_array")]
static INIT: extern "C" fn() = init;

extern "C" fn init() {
    real::resolve_all();
    let Some(origin) = std::env::var(ENV_ORIGIN)
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
    else {
        return;
    };
    let path = std::env::var(ENV_BROKER).unwrap_or_else(|_| DEFAULT_BROKER_SOCKET.to_string());
    let Some(addr) = unix_address(path.as_bytes()) else {
        return;
    };
    let _ = BROKER.set(addr);
    ORIGIN.store(origin, Ordering::SeqCst);
    adopt_inherited_fds();
}

/// After an exec, remote sockets inherited from the parent are plain unix sockets to us; ask
/// the broker about each unix socket we hold.
fn adopt_inherited_fds() {
    let Ok(dir) = std::fs::read_dir("/proc/self/fd") else {
        return;
    };
    let fds: Vec<c_int> = dir
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect();
    for fd in fds {
        if slot(fd).is_none() {
            continue;
        }
        // SAFETY: `stat` is plain data (integers only); all zeroes is a valid value.
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        // SAFETY: `st` is a live, writable stat that fstat only writes into; an fd closed
        // meanwhile makes the call fail, nothing else.
        if unsafe { libc::fstat(fd, &mut st) } != 0 || st.st_mode & libc::S_IFMT != libc::S_IFSOCK {
            continue;
        }
        let mut domain: c_int = 0;
        let mut len = socklen_of::<c_int>();
        // SAFETY: `domain` is a live c_int and `len` says so (socklen_of::<c_int>()); the kernel
        // writes at most that many bytes. The real getsockopt, not our interposed one.
        let ok = unsafe {
            real::getsockopt()(
                fd,
                libc::SOL_SOCKET,
                libc::SO_DOMAIN,
                (&raw mut domain).cast(),
                &mut len,
            )
        };
        if ok != 0 || domain != libc::AF_UNIX {
            continue;
        }
        if let Ok((reply, _)) = call(&request(OP_PROBE, [0; 4], Vec::new()), Some(fd))
            && reply.errno == 0
            && reply.value > 0
        {
            let flags = if reply.value == 2 {
                REMOTE | LISTENING
            } else {
                REMOTE
            };
            set_flags(fd, flags);
        }
    }
}

/// The flag word of `fd`; None for a negative fd or one beyond the table.
#[inline]
fn slot(fd: c_int) -> Option<&'static AtomicU8> {
    FLAGS.get(usize::try_from(fd).ok()?)
}

#[inline]
fn flags(fd: c_int) -> u8 {
    slot(fd).map_or(0, |flags| flags.load(Ordering::Relaxed))
}

fn set_flags(fd: c_int, value: u8) {
    if let Some(flags) = slot(fd) {
        flags.store(value, Ordering::Relaxed);
    }
}

fn set_errno(e: c_int) {
    // SAFETY: __errno_location returns a valid, non-null pointer to this thread's errno.
    unsafe { *libc::__errno_location() = e };
}

fn fail<T: From<i8>>(e: c_int) -> T {
    set_errno(e);
    T::from(-1)
}

fn request(op: u8, args: [i32; 4], blob: Vec<u8>) -> LocalRequest {
    LocalRequest { op, args, blob }
}

/// Sets O_NONBLOCK on a descriptor the broker just gave us.
fn add_nonblock(fd: c_int) {
    // SAFETY: fcntl on a descriptor we own.
    unsafe {
        let fl = libc::fcntl(fd, libc::F_GETFL);
        libc::fcntl(fd, libc::F_SETFL, fl | libc::O_NONBLOCK);
    }
}

/// One round trip to the broker: a fresh SOCK_SEQPACKET connection (fork-safe, no shared state).
/// The broker being unreachable, or answering nonsense, is ENETDOWN.
fn call(req: &LocalRequest, fd: Option<c_int>) -> Result<(LocalReply, Option<c_int>), c_int> {
    let addr = BROKER.get().ok_or(libc::ENETDOWN)?;
    // SAFETY: the real socket(2) with constant arguments.
    let s = unsafe { real::socket()(libc::AF_UNIX, libc::SOCK_SEQPACKET | libc::SOCK_CLOEXEC, 0) };
    if s < 0 {
        return Err(Errno::last().get());
    }
    // SAFETY: `addr` is a complete sockaddr_un of the stated length.
    let connected = unsafe {
        real::connect()(
            s,
            (&raw const *addr).cast(),
            socklen_of::<libc::sockaddr_un>(),
        )
    } == 0;
    let result = if connected {
        fdpass::round_trip(s, req, fd, real::close()).map_err(|_| libc::ENETDOWN)
    } else {
        Err(libc::ENETDOWN)
    };
    // SAFETY: closes the descriptor created above, which nothing else holds.
    unsafe { real::close()(s) };
    result
}

/// Forwards a control call on remote socket `fd`. `Ok(None)` means the broker does not know the
/// fd (a stale flag): the caller clears it and uses the real function.
fn forward(fd: c_int, op: u8, args: [i32; 4], blob: Vec<u8>) -> Result<Option<LocalReply>, c_int> {
    let (reply, extra) = call(&request(op, args, blob), Some(fd))?;
    if let Some(extra) = extra {
        // SAFETY: closing a descriptor we were just given.
        unsafe { real::close()(extra) };
    }
    if reply.errno == ERRNO_NOT_REMOTE {
        set_flags(fd, 0);
        return Ok(None);
    }
    if reply.errno != 0 {
        return Err(reply.errno);
    }
    Ok(Some(reply))
}

/// Copies an address into the caller's `addr` buffer of `*len` bytes (cut to fit) and sets
/// `*len` to its full size, as the kernel does.
///
/// # Safety
/// `addr` and `len` are null or valid as accept(2)/getsockname(2) require.
unsafe fn copy_addr(blob: &[u8], addr: *mut sockaddr, len: *mut socklen_t) {
    if addr.is_null() || len.is_null() {
        return;
    }
    // SAFETY: the caller passed a buffer of *len bytes; we write at most that much.
    unsafe {
        let room = usize::try_from(*len).map_or(blob.len(), |room| room.min(blob.len()));
        std::ptr::copy_nonoverlapping(blob.as_ptr(), addr.cast::<u8>(), room);
        *len = socklen(blob.len());
    }
}

/// The caller's `len` bytes at `addr`, at most [`MAX_BLOB`] of them.
///
/// # Safety
/// `addr` is null or points to `len` readable bytes.
unsafe fn caller_bytes(addr: *const c_void, len: socklen_t) -> Result<Vec<u8>, c_int> {
    let len = usize::try_from(len)
        .ok()
        .filter(|len| *len <= MAX_BLOB)
        .ok_or(libc::EINVAL)?;
    if len == 0 {
        return Ok(Vec::new());
    }
    if addr.is_null() {
        return Err(libc::EFAULT);
    }
    // SAFETY: the caller vouches for `len` readable bytes at `addr`.
    Ok(unsafe { std::slice::from_raw_parts(addr.cast::<u8>(), len) }.to_vec())
}

/// The caller's sockaddr bytes; a null address is EFAULT whatever its length, as in the kernel.
///
/// # Safety
/// `addr` is null or points to `len` readable bytes.
unsafe fn addr_blob(addr: *const sockaddr, len: socklen_t) -> Result<Vec<u8>, c_int> {
    if addr.is_null() {
        return Err(libc::EFAULT);
    }
    // SAFETY: the caller's promise, passed on.
    unsafe { caller_bytes(addr.cast(), len) }
}

/// # Safety
/// Same contract as socket(2).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn socket(domain: c_int, ty: c_int, protocol: c_int) -> c_int {
    let origin = ORIGIN.load(Ordering::Relaxed);
    let kind = ty & !(libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC);
    let tcp = (domain == libc::AF_INET || domain == libc::AF_INET6)
        && kind == libc::SOCK_STREAM
        && (protocol == 0 || protocol == libc::IPPROTO_TCP);
    if origin == u64::MAX || !tcp {
        // SAFETY: the real function with the caller's arguments.
        return unsafe { real::socket()(domain, ty, protocol) };
    }
    // A node number beyond the wire's argument word names no node the broker could serve.
    let Ok(origin) = i32::try_from(origin) else {
        return fail(libc::EHOSTUNREACH);
    };
    let req = request(OP_SOCKET, [domain, kind, protocol, origin], Vec::new());
    match call(&req, None) {
        Ok((reply, Some(fd))) if reply.errno == 0 => {
            if ty & libc::SOCK_NONBLOCK != 0 {
                add_nonblock(fd);
            }
            if ty & libc::SOCK_CLOEXEC == 0 {
                // SAFETY: fcntl on the descriptor we were just given.
                unsafe { libc::fcntl(fd, libc::F_SETFD, 0) };
            }
            set_flags(fd, REMOTE);
            fd
        }
        Ok((reply, extra)) => {
            if let Some(extra) = extra {
                // SAFETY: closing a descriptor we were just given.
                unsafe { real::close()(extra) };
            }
            fail(if reply.errno > 0 {
                reply.errno
            } else {
                libc::EIO
            })
        }
        Err(e) => fail(e),
    }
}

/// # Safety
/// Same contract as bind(2).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bind(fd: c_int, addr: *const sockaddr, len: socklen_t) -> c_int {
    // SAFETY: bind(2)'s contract, passed on.
    unsafe { address_call(real::bind(), OP_BIND, fd, addr, len, || [0; 4]) }
}

/// The real bind or connect.
type AddressFn = unsafe extern "C" fn(c_int, *const sockaddr, socklen_t) -> c_int;

/// bind(2) or connect(2): on a remote socket the caller's address goes to the broker with
/// `args()`; otherwise, or when the broker does not know the fd, the real call runs.
///
/// # Safety
/// The contract of the call: `addr` is null or points to `len` readable bytes.
unsafe fn address_call(
    real: AddressFn,
    op: u8,
    fd: c_int,
    addr: *const sockaddr,
    len: socklen_t,
    args: impl FnOnce() -> [i32; 4],
) -> c_int {
    if flags(fd) == 0 {
        // SAFETY: the real function with the caller's arguments.
        return unsafe { real(fd, addr, len) };
    }
    // SAFETY: the caller's buffer.
    let blob = match unsafe { addr_blob(addr, len) } {
        Ok(blob) => blob,
        Err(e) => return fail(e),
    };
    match forward(fd, op, args(), blob) {
        Ok(Some(_)) => 0,
        // SAFETY: the real function with the caller's arguments.
        Ok(None) => unsafe { real(fd, addr, len) },
        Err(e) => fail(e),
    }
}

/// # Safety
/// Same contract as listen(2).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn listen(fd: c_int, backlog: c_int) -> c_int {
    if flags(fd) == 0 {
        // SAFETY: the real function with the caller's arguments.
        return unsafe { real::listen()(fd, backlog) };
    }
    match forward(fd, OP_LISTEN, [backlog, 0, 0, 0], Vec::new()) {
        Ok(Some(_)) => {
            set_flags(fd, REMOTE | LISTENING);
            0
        }
        // SAFETY: the real function with the caller's arguments.
        Ok(None) => unsafe { real::listen()(fd, backlog) },
        Err(e) => fail(e),
    }
}

/// # Safety
/// Same contract as connect(2).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn connect(fd: c_int, addr: *const sockaddr, len: socklen_t) -> c_int {
    let nonblocking = || {
        // SAFETY: F_GETFL on the caller's descriptor.
        let fl = unsafe { libc::fcntl(fd, libc::F_GETFL) };
        [i32::from(fl & libc::O_NONBLOCK != 0), 0, 0, 0]
    };
    // SAFETY: connect(2)'s contract, passed on.
    unsafe { address_call(real::connect(), OP_CONNECT, fd, addr, len, nonblocking) }
}

/// # Safety
/// Same contract as accept4(2).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn accept4(
    fd: c_int,
    addr: *mut sockaddr,
    len: *mut socklen_t,
    fl: c_int,
) -> c_int {
    let f = flags(fd);
    if f == 0 {
        // SAFETY: the real function with the caller's arguments.
        return unsafe { real::accept4()(fd, addr, len, fl) };
    }
    if f & LISTENING == 0 {
        return fail(libc::EINVAL);
    }
    if fl & !(libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC) != 0 {
        return fail(libc::EINVAL);
    }
    let mut record = [0u8; ACCEPT_RECORD_SIZE];
    let cloexec = if fl & libc::SOCK_CLOEXEC != 0 {
        libc::MSG_CMSG_CLOEXEC
    } else {
        0
    };
    // Not restarted after a signal: accept(2) answers EINTR then, and so do we.
    let (n, new) = match fdpass::recv_with_fd(fd, &mut record, cloexec, real::close()) {
        Ok(received) => received,
        Err(e) => return fail(e.get()),
    };
    let Some(new) = new else {
        // The listening socket is gone on the origin's side.
        return fail(if n == 0 { libc::EINVAL } else { libc::EPROTO });
    };
    let Ok(rec) = AcceptRecord::decode(&record[..n]) else {
        // SAFETY: closes the descriptor just received, which nothing else holds.
        unsafe { real::close()(new) };
        return fail(libc::EPROTO);
    };
    if fl & libc::SOCK_NONBLOCK != 0 {
        add_nonblock(new);
    }
    set_flags(new, REMOTE);
    // SAFETY: the caller's buffer, under accept(2)'s contract.
    unsafe { copy_addr(&sockaddr_bytes(&rec.peer), addr, len) };
    new
}

/// # Safety
/// Same contract as accept(2).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn accept(fd: c_int, addr: *mut sockaddr, len: *mut socklen_t) -> c_int {
    if flags(fd) == 0 {
        // SAFETY: the real function with the caller's arguments.
        return unsafe { real::accept()(fd, addr, len) };
    }
    // SAFETY: accept(2)'s contract on `addr` and `len` is accept4(2)'s, passed on unchanged.
    unsafe { accept4(fd, addr, len, 0) }
}

/// getsockname or getpeername (`peer`) of a socket flagged remote.
///
/// # Safety
/// `addr` and `len` are null or valid as getsockname(2)/getpeername(2) require.
unsafe fn name(fd: c_int, addr: *mut sockaddr, len: *mut socklen_t, peer: bool) -> c_int {
    if addr.is_null() || len.is_null() {
        return fail(libc::EFAULT);
    }
    let op = if peer { OP_GETPEERNAME } else { OP_GETSOCKNAME };
    match forward(fd, op, [0; 4], Vec::new()) {
        Ok(Some(reply)) => {
            // SAFETY: the caller's buffer of *len bytes.
            unsafe { copy_addr(&reply.blob, addr, len) };
            0
        }
        // SAFETY: the real functions with the caller's arguments.
        Ok(None) => unsafe {
            if peer {
                real::getpeername()(fd, addr, len)
            } else {
                real::getsockname()(fd, addr, len)
            }
        },
        Err(e) => fail(e),
    }
}

/// # Safety
/// Same contract as getsockname(2).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn getsockname(fd: c_int, addr: *mut sockaddr, len: *mut socklen_t) -> c_int {
    if flags(fd) == 0 {
        // SAFETY: the real function with the caller's arguments.
        return unsafe { real::getsockname()(fd, addr, len) };
    }
    // SAFETY: the caller's `addr` and `len` under getsockname(2)'s contract, which is name's.
    unsafe { name(fd, addr, len, false) }
}

/// # Safety
/// Same contract as getpeername(2).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn getpeername(fd: c_int, addr: *mut sockaddr, len: *mut socklen_t) -> c_int {
    if flags(fd) == 0 {
        // SAFETY: the real function with the caller's arguments.
        return unsafe { real::getpeername()(fd, addr, len) };
    }
    // SAFETY: the caller's `addr` and `len` under getpeername(2)'s contract, which is name's.
    unsafe { name(fd, addr, len, true) }
}

/// Options that belong to the local fd (they govern the application's own blocking calls).
fn local_option(level: c_int, name: c_int) -> bool {
    level == libc::SOL_SOCKET && (name == libc::SO_RCVTIMEO || name == libc::SO_SNDTIMEO)
}

/// # Safety
/// Same contract as getsockopt(2).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn getsockopt(
    fd: c_int,
    level: c_int,
    name: c_int,
    val: *mut c_void,
    len: *mut socklen_t,
) -> c_int {
    if flags(fd) == 0 || local_option(level, name) {
        // SAFETY: the real function with the caller's arguments.
        return unsafe { real::getsockopt()(fd, level, name, val, len) };
    }
    if val.is_null() || len.is_null() {
        return fail(libc::EFAULT);
    }
    // SAFETY: `len` is not null (checked above) and getsockopt(2)'s contract makes it a
    // readable socklen_t.
    let want = unsafe { *len };
    // The kernel reads optlen as an int and refuses a negative one.
    let Ok(want) = c_int::try_from(want) else {
        return fail(libc::EINVAL);
    };
    match forward(fd, OP_GETSOCKOPT, [level, name, want, 0], Vec::new()) {
        Ok(Some(reply)) => {
            // SAFETY: the caller's buffer of *len bytes.
            unsafe {
                let n = usize::try_from(want).map_or(0, |want| want.min(reply.blob.len()));
                std::ptr::copy_nonoverlapping(reply.blob.as_ptr(), val.cast::<u8>(), n);
                *len = socklen(n);
            }
            0
        }
        // SAFETY: the real function with the caller's arguments.
        Ok(None) => unsafe { real::getsockopt()(fd, level, name, val, len) },
        Err(e) => fail(e),
    }
}

/// # Safety
/// Same contract as setsockopt(2).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn setsockopt(
    fd: c_int,
    level: c_int,
    name: c_int,
    val: *const c_void,
    len: socklen_t,
) -> c_int {
    if flags(fd) == 0 || local_option(level, name) {
        // SAFETY: the real function with the caller's arguments.
        return unsafe { real::setsockopt()(fd, level, name, val, len) };
    }
    // SAFETY: the caller vouches for `len` readable bytes at `val` (setsockopt(2)).
    let blob = match unsafe { caller_bytes(val, len) } {
        Ok(blob) => blob,
        Err(e) => return fail(e),
    };
    match forward(fd, OP_SETSOCKOPT, [level, name, 0, 0], blob) {
        Ok(Some(_)) => 0,
        // SAFETY: the real function with the caller's arguments.
        Ok(None) => unsafe { real::setsockopt()(fd, level, name, val, len) },
        Err(e) => fail(e),
    }
}

/// # Safety
/// Same contract as shutdown(2).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shutdown(fd: c_int, how: c_int) -> c_int {
    if flags(fd) == 0 {
        // SAFETY: the real function with the caller's arguments.
        return unsafe { real::shutdown()(fd, how) };
    }
    if !(libc::SHUT_RD..=libc::SHUT_RDWR).contains(&how) {
        return fail(libc::EINVAL);
    }
    match forward(fd, OP_SHUTDOWN, [how, 0, 0, 0], Vec::new()) {
        // The write side's FIN travels in band: shutting our end makes the agent read EOF.
        // SAFETY: the real function on the caller's descriptor.
        Ok(_) => unsafe { real::shutdown()(fd, how) },
        Err(e) => fail(e),
    }
}

/// # Safety
/// Same contract as close(2). Neither allocates nor logs.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn close(fd: c_int) -> c_int {
    set_flags(fd, 0);
    // SAFETY: the real function with the caller's arguments.
    unsafe { real::close()(fd) }
}

/// # Safety
/// Same contract as dup(2).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dup(fd: c_int) -> c_int {
    // SAFETY: the real function with the caller's arguments.
    let new = unsafe { real::dup()(fd) };
    if new >= 0 {
        set_flags(new, flags(fd));
    }
    new
}

/// # Safety
/// Same contract as dup2(2).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dup2(old: c_int, new: c_int) -> c_int {
    // SAFETY: the real function with the caller's arguments.
    let r = unsafe { real::dup2()(old, new) };
    if r >= 0 {
        set_flags(r, flags(old));
    }
    r
}

/// # Safety
/// Same contract as dup3(2).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dup3(old: c_int, new: c_int, fl: c_int) -> c_int {
    // SAFETY: the real function with the caller's arguments.
    let r = unsafe { real::dup3()(old, new, fl) };
    if r >= 0 {
        set_flags(r, flags(old));
    }
    r
}

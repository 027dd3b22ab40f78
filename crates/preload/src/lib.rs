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

#[allow(dead_code)]
#[path = "../../rsock/src/local_wire.rs"]
mod local_wire;
mod real;

use std::ffi::{c_int, c_void};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};

use libc::{sockaddr, socklen_t};
use local_wire::*;

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
    // SAFETY: sockaddr_un is plain data.
    let mut addr: libc::sockaddr_un = unsafe { std::mem::zeroed() };
    if path.len() >= addr.sun_path.len() {
        return;
    }
    addr.sun_family = libc::AF_UNIX as libc::sa_family_t;
    for (dst, src) in addr.sun_path.iter_mut().zip(path.as_bytes()) {
        *dst = *src as libc::c_char;
    }
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
        if fd < 0 || fd as usize >= MAX_FDS {
            continue;
        }
        // SAFETY: stat is plain data; fstat fills it.
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        // SAFETY: valid out-pointer.
        if unsafe { libc::fstat(fd, &mut st) } != 0 || st.st_mode & libc::S_IFMT != libc::S_IFSOCK {
            continue;
        }
        let mut domain: c_int = 0;
        let mut len = 4 as socklen_t;
        // SAFETY: valid out-pointers for an int option.
        let ok = unsafe {
            real::getsockopt()(
                fd,
                libc::SOL_SOCKET,
                libc::SO_DOMAIN,
                (&mut domain as *mut c_int).cast(),
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
            FLAGS[fd as usize].store(flags, Ordering::Relaxed);
        }
    }
}

#[inline]
fn flags(fd: c_int) -> u8 {
    if fd >= 0 && (fd as usize) < MAX_FDS {
        FLAGS[fd as usize].load(Ordering::Relaxed)
    } else {
        0
    }
}

fn set_flags(fd: c_int, value: u8) {
    if fd >= 0 && (fd as usize) < MAX_FDS {
        FLAGS[fd as usize].store(value, Ordering::Relaxed);
    }
}

fn set_errno(e: c_int) {
    // SAFETY: errno is thread-local and always valid.
    unsafe { *libc::__errno_location() = e };
}

fn fail<T: From<i8>>(e: c_int) -> T {
    set_errno(e);
    T::from(-1)
}

fn request(op: u8, args: [i32; 4], blob: Vec<u8>) -> LocalRequest {
    LocalRequest { op, args, blob }
}

/// One round trip to the broker: a fresh SOCK_SEQPACKET connection (fork-safe, no shared state).
fn call(req: &LocalRequest, fd: Option<c_int>) -> Result<(LocalReply, Option<c_int>), c_int> {
    let addr = BROKER.get().ok_or(libc::ENETDOWN)?;
    // SAFETY: plain system calls on a descriptor we create and close here; all pointers are live.
    unsafe {
        let s = real::socket()(libc::AF_UNIX, libc::SOCK_SEQPACKET | libc::SOCK_CLOEXEC, 0);
        if s < 0 {
            return Err(*libc::__errno_location());
        }
        let result = exchange(s, addr, req, fd);
        real::close()(s);
        result
    }
}

unsafe fn exchange(
    s: c_int,
    addr: &libc::sockaddr_un,
    req: &LocalRequest,
    fd: Option<c_int>,
) -> Result<(LocalReply, Option<c_int>), c_int> {
    // SAFETY (whole function): every pointer handed to the kernel points into live locals.
    unsafe {
        if real::connect()(
            s,
            (addr as *const libc::sockaddr_un).cast(),
            std::mem::size_of::<libc::sockaddr_un>() as socklen_t,
        ) != 0
        {
            return Err(libc::ENETDOWN);
        }
        let bytes = req.encode();
        let mut iov = libc::iovec {
            iov_base: bytes.as_ptr() as *mut c_void,
            iov_len: bytes.len(),
        };
        let mut control = [0u64; 8];
        let mut msg: libc::msghdr = std::mem::zeroed();
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        if let Some(fd) = fd {
            msg.msg_control = control.as_mut_ptr().cast();
            msg.msg_controllen = libc::CMSG_SPACE(4) as usize;
            let cmsg = libc::CMSG_FIRSTHDR(&msg);
            (*cmsg).cmsg_level = libc::SOL_SOCKET;
            (*cmsg).cmsg_type = libc::SCM_RIGHTS;
            (*cmsg).cmsg_len = libc::CMSG_LEN(4) as usize;
            std::ptr::write_unaligned(libc::CMSG_DATA(cmsg).cast::<c_int>(), fd);
        }
        loop {
            if libc::sendmsg(s, &msg, libc::MSG_NOSIGNAL) >= 0 {
                break;
            }
            let e = *libc::__errno_location();
            if e != libc::EINTR {
                return Err(libc::ENETDOWN);
            }
        }
        let mut buf = vec![0u8; 64 + MAX_BLOB];
        let mut iov = libc::iovec {
            iov_base: buf.as_mut_ptr().cast(),
            iov_len: buf.len(),
        };
        let mut control = [0u64; 8];
        let mut msg: libc::msghdr = std::mem::zeroed();
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control.as_mut_ptr().cast();
        msg.msg_controllen = std::mem::size_of_val(&control);
        let n = loop {
            let n = libc::recvmsg(s, &mut msg, libc::MSG_CMSG_CLOEXEC);
            if n >= 0 {
                break n as usize;
            }
            let e = *libc::__errno_location();
            if e != libc::EINTR {
                return Err(libc::ENETDOWN);
            }
        };
        let received = received_fd(&msg);
        match LocalReply::decode(&buf[..n]) {
            Ok(reply) => Ok((reply, received)),
            Err(_) => {
                if let Some(fd) = received {
                    real::close()(fd);
                }
                Err(libc::ENETDOWN)
            }
        }
    }
}

/// The first descriptor of an SCM_RIGHTS message in `msg` (others are closed).
unsafe fn received_fd(msg: &libc::msghdr) -> Option<c_int> {
    let mut found = None;
    // SAFETY: walks control messages the kernel wrote into the caller's buffer.
    unsafe {
        let mut cmsg = libc::CMSG_FIRSTHDR(msg);
        while !cmsg.is_null() {
            if (*cmsg).cmsg_level == libc::SOL_SOCKET && (*cmsg).cmsg_type == libc::SCM_RIGHTS {
                let count = ((*cmsg).cmsg_len - libc::CMSG_LEN(0) as usize) / 4;
                for i in 0..count {
                    let fd = std::ptr::read_unaligned(libc::CMSG_DATA(cmsg).cast::<c_int>().add(i));
                    if found.is_none() {
                        found = Some(fd)
                    } else {
                        real::close()(fd);
                    }
                }
            }
            cmsg = libc::CMSG_NXTHDR(msg, cmsg);
        }
    }
    found
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

unsafe fn copy_addr(blob: &[u8], addr: *mut sockaddr, len: *mut socklen_t) {
    if addr.is_null() || len.is_null() {
        return;
    }
    // SAFETY: the caller passed a buffer of *len bytes; we write at most that much.
    unsafe {
        let room = (*len as usize).min(blob.len());
        std::ptr::copy_nonoverlapping(blob.as_ptr(), addr.cast::<u8>(), room);
        *len = blob.len() as socklen_t;
    }
}

unsafe fn addr_blob(addr: *const sockaddr, len: socklen_t) -> Result<Vec<u8>, c_int> {
    if addr.is_null() {
        return Err(libc::EFAULT);
    }
    if len as usize > MAX_BLOB {
        return Err(libc::EINVAL);
    }
    // SAFETY: the caller vouches for `len` readable bytes at `addr`.
    Ok(unsafe { std::slice::from_raw_parts(addr.cast::<u8>(), len as usize) }.to_vec())
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
    let req = request(
        OP_SOCKET,
        [domain, kind, protocol, origin as i32],
        Vec::new(),
    );
    match call(&req, None) {
        Ok((reply, Some(fd))) if reply.errno == 0 => {
            // SAFETY: fcntl on the descriptor we were just given.
            unsafe {
                if ty & libc::SOCK_NONBLOCK != 0 {
                    let fl = libc::fcntl(fd, libc::F_GETFL);
                    libc::fcntl(fd, libc::F_SETFL, fl | libc::O_NONBLOCK);
                }
                if ty & libc::SOCK_CLOEXEC == 0 {
                    libc::fcntl(fd, libc::F_SETFD, 0);
                }
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
    if flags(fd) == 0 {
        // SAFETY: the real function with the caller's arguments.
        return unsafe { real::bind()(fd, addr, len) };
    }
    // SAFETY: the caller's buffer.
    let blob = match unsafe { addr_blob(addr, len) } {
        Ok(blob) => blob,
        Err(e) => return fail(e),
    };
    match forward(fd, OP_BIND, [0; 4], blob) {
        Ok(Some(_)) => 0,
        // SAFETY: the real function with the caller's arguments.
        Ok(None) => unsafe { real::bind()(fd, addr, len) },
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
    if flags(fd) == 0 {
        // SAFETY: the real function with the caller's arguments.
        return unsafe { real::connect()(fd, addr, len) };
    }
    // SAFETY: the caller's buffer.
    let blob = match unsafe { addr_blob(addr, len) } {
        Ok(blob) => blob,
        Err(e) => return fail(e),
    };
    // SAFETY: F_GETFL on the caller's descriptor.
    let nonblocking = unsafe { libc::fcntl(fd, libc::F_GETFL) } & libc::O_NONBLOCK != 0;
    match forward(fd, OP_CONNECT, [nonblocking as i32, 0, 0, 0], blob) {
        Ok(Some(_)) => 0,
        // SAFETY: the real function with the caller's arguments.
        Ok(None) => unsafe { real::connect()(fd, addr, len) },
        Err(e) => fail(e),
    }
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
    // SAFETY: receives into live locals; the descriptor arrives with the record.
    unsafe {
        let mut iov = libc::iovec {
            iov_base: record.as_mut_ptr().cast(),
            iov_len: record.len(),
        };
        let mut control = [0u64; 8];
        let mut msg: libc::msghdr = std::mem::zeroed();
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control.as_mut_ptr().cast();
        msg.msg_controllen = std::mem::size_of_val(&control);
        let cloexec = if fl & libc::SOCK_CLOEXEC != 0 {
            libc::MSG_CMSG_CLOEXEC
        } else {
            0
        };
        let n = libc::recvmsg(fd, &mut msg, cloexec);
        if n < 0 {
            return -1;
        }
        let new = received_fd(&msg);
        let Some(new) = new else {
            // The listening socket is gone on the origin's side.
            return fail(if n == 0 { libc::EINVAL } else { libc::EPROTO });
        };
        let Ok(rec) = (n as usize == ACCEPT_RECORD_SIZE)
            .then_some(())
            .ok_or(())
            .and_then(|()| AcceptRecord::decode(&record).map_err(|_| ()))
        else {
            real::close()(new);
            return fail(libc::EPROTO);
        };
        if fl & libc::SOCK_NONBLOCK != 0 {
            let cur = libc::fcntl(new, libc::F_GETFL);
            libc::fcntl(new, libc::F_SETFL, cur | libc::O_NONBLOCK);
        }
        set_flags(new, REMOTE);
        copy_addr(&sockaddr_bytes(&rec.peer), addr, len);
        new
    }
}

/// # Safety
/// Same contract as accept(2).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn accept(fd: c_int, addr: *mut sockaddr, len: *mut socklen_t) -> c_int {
    if flags(fd) == 0 {
        // SAFETY: the real function with the caller's arguments.
        return unsafe { real::accept()(fd, addr, len) };
    }
    // SAFETY: same contract.
    unsafe { accept4(fd, addr, len, 0) }
}

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
    // SAFETY: same contract.
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
    // SAFETY: same contract.
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
    // SAFETY: the caller's length word.
    let want = unsafe { *len } as i32;
    match forward(fd, OP_GETSOCKOPT, [level, name, want, 0], Vec::new()) {
        Ok(Some(reply)) => {
            // SAFETY: the caller's buffer of *len bytes.
            unsafe {
                let n = (want.max(0) as usize).min(reply.blob.len());
                std::ptr::copy_nonoverlapping(reply.blob.as_ptr(), val.cast::<u8>(), n);
                *len = n as socklen_t;
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
    if len as usize > MAX_BLOB {
        return fail(libc::EINVAL);
    }
    if val.is_null() && len > 0 {
        return fail(libc::EFAULT);
    }
    let blob = if len == 0 {
        Vec::new()
    } else {
        // SAFETY: the caller vouches for `len` readable bytes.
        unsafe { std::slice::from_raw_parts(val.cast::<u8>(), len as usize) }.to_vec()
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

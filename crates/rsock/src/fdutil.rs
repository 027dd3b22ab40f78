//! Thin wrappers over the socket system calls the agent needs with raw option bytes and
//! descriptor passing. Each returns the errno the kernel gave, so it can travel to the caller.

use std::io;
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use crate::local_wire::{parse_sockaddr, sockaddr_bytes};

/// The calling thread's errno.
pub fn errno() -> i32 {
    io::Error::last_os_error()
        .raw_os_error()
        .unwrap_or(libc::EIO)
}

fn check(ret: libc::c_int) -> Result<libc::c_int, i32> {
    if ret < 0 { Err(errno()) } else { Ok(ret) }
}

/// `path` as a unix socket address; ENAMETOOLONG when it does not fit.
pub fn unix_address(path: &std::path::Path) -> Result<libc::sockaddr_un, i32> {
    use std::os::unix::ffi::OsStrExt;
    let bytes = path.as_os_str().as_bytes();
    // SAFETY: sockaddr_un is plain data.
    let mut addr: libc::sockaddr_un = unsafe { std::mem::zeroed() };
    if bytes.len() >= addr.sun_path.len() {
        return Err(libc::ENAMETOOLONG);
    }
    addr.sun_family = libc::AF_UNIX as libc::sa_family_t;
    for (dst, src) in addr.sun_path.iter_mut().zip(bytes) {
        *dst = *src as libc::c_char;
    }
    Ok(addr)
}

/// A SOCK_SEQPACKET connection to the broker at `path` (a stale socket file refuses it).
pub fn connect_seqpacket(path: &std::path::Path) -> Result<OwnedFd, i32> {
    let addr = unix_address(path)?;
    // SAFETY: socket returns a new descriptor we own.
    let raw = check(unsafe {
        libc::socket(libc::AF_UNIX, libc::SOCK_SEQPACKET | libc::SOCK_CLOEXEC, 0)
    })?;
    // SAFETY: just created.
    let fd = unsafe { OwnedFd::from_raw_fd(raw) };
    // SAFETY: `addr` is a complete sockaddr_un.
    check(unsafe {
        libc::connect(
            fd.as_raw_fd(),
            (&addr as *const libc::sockaddr_un).cast(),
            std::mem::size_of::<libc::sockaddr_un>() as libc::socklen_t,
        )
    })?;
    Ok(fd)
}

/// A connected AF_UNIX stream pair, both ends close-on-exec.
pub fn stream_pair() -> Result<(OwnedFd, OwnedFd), i32> {
    let mut fds = [0 as RawFd; 2];
    // SAFETY: `fds` has room for the two descriptors socketpair writes.
    check(unsafe {
        libc::socketpair(
            libc::AF_UNIX,
            libc::SOCK_STREAM | libc::SOCK_CLOEXEC,
            0,
            fds.as_mut_ptr(),
        )
    })?;
    // SAFETY: socketpair succeeded, so both descriptors are open and owned by nobody else.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

pub fn set_nonblocking(fd: RawFd, on: bool) -> Result<(), i32> {
    // SAFETY: plain fcntl calls on a descriptor the caller keeps open.
    let flags = check(unsafe { libc::fcntl(fd, libc::F_GETFL) })?;
    let flags = if on {
        flags | libc::O_NONBLOCK
    } else {
        flags & !libc::O_NONBLOCK
    };
    // SAFETY: as above.
    check(unsafe { libc::fcntl(fd, libc::F_SETFL, flags) }).map(|_| ())
}

pub fn dup(fd: RawFd) -> Result<OwnedFd, i32> {
    // SAFETY: F_DUPFD_CLOEXEC returns a new descriptor that we then own.
    let new = check(unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 0) })?;
    // SAFETY: `new` was just created and is owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(new) })
}

/// The inode of a descriptor: the identity of a socket across dup, fork, exec and SCM_RIGHTS.
pub fn inode(fd: RawFd) -> Result<u64, i32> {
    // SAFETY: `st` is plain data fstat fills in.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: `st` is a valid out-pointer.
    check(unsafe { libc::fstat(fd, &mut st) })?;
    Ok(st.st_ino)
}

/// Makes the application's end of a fresh pair unwritable until the agent reads the filler
/// back: a non-blocking connect must not report POLLOUT before the origin connected. Returns
/// how many filler bytes the agent end now holds.
pub fn fill_send_buffer(app_end: RawFd) -> Result<usize, i32> {
    set_nonblocking(app_end, true)?;
    let chunk = [0u8; 65536];
    let mut total = 0usize;
    loop {
        // SAFETY: writes from a live buffer of the stated length.
        let n = unsafe {
            libc::send(
                app_end,
                chunk.as_ptr().cast(),
                chunk.len(),
                libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL,
            )
        };
        if n < 0 {
            let e = errno();
            if e == libc::EAGAIN {
                break;
            }
            return Err(e);
        }
        total += n as usize;
    }
    set_nonblocking(app_end, false)?;
    Ok(total)
}

/// Reads back and discards exactly `count` filler bytes from the agent's end.
pub fn drain(agent_end: RawFd, mut count: usize) -> Result<(), i32> {
    let mut buf = vec![0u8; 65536];
    while count > 0 {
        let want = count.min(buf.len());
        // SAFETY: reads into a live buffer of at least `want` bytes.
        let n = unsafe { libc::recv(agent_end, buf.as_mut_ptr().cast(), want, 0) };
        if n < 0 {
            let e = errno();
            if e == libc::EINTR || e == libc::EAGAIN {
                poll_one(agent_end, libc::POLLIN, 1000);
                continue;
            }
            return Err(e);
        }
        if n == 0 {
            return Err(libc::EPIPE);
        }
        count -= n as usize;
    }
    Ok(())
}

/// Waits up to `timeout_ms` for `events` on `fd`; returns the revents.
pub fn poll_one(fd: RawFd, events: libc::c_short, timeout_ms: i32) -> libc::c_short {
    let mut pfd = libc::pollfd {
        fd,
        events,
        revents: 0,
    };
    // SAFETY: one valid pollfd.
    let n = unsafe { libc::poll(&mut pfd, 1, timeout_ms) };
    if n <= 0 { 0 } else { pfd.revents }
}

/// Sends `bytes` with at most one descriptor attached.
pub fn send_with_fd(sock: RawFd, bytes: &[u8], fd: Option<RawFd>, flags: i32) -> Result<(), i32> {
    let mut iov = libc::iovec {
        iov_base: bytes.as_ptr() as *mut libc::c_void,
        iov_len: bytes.len(),
    };
    // SAFETY: CMSG_SPACE is a pure size computation.
    let space = unsafe { libc::CMSG_SPACE(std::mem::size_of::<RawFd>() as u32) } as usize;
    let mut control = vec![0u8; space];
    // SAFETY: msghdr is plain data; every pointer set below outlives the sendmsg call.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    if let Some(fd) = fd {
        msg.msg_control = control.as_mut_ptr().cast();
        msg.msg_controllen = space;
        // SAFETY: the control buffer has room for one header carrying one descriptor.
        unsafe {
            let cmsg = libc::CMSG_FIRSTHDR(&msg);
            (*cmsg).cmsg_level = libc::SOL_SOCKET;
            (*cmsg).cmsg_type = libc::SCM_RIGHTS;
            (*cmsg).cmsg_len = libc::CMSG_LEN(std::mem::size_of::<RawFd>() as u32) as usize;
            std::ptr::write_unaligned(libc::CMSG_DATA(cmsg).cast::<RawFd>(), fd);
        }
    }
    loop {
        // SAFETY: `msg` is fully initialised.
        let n = unsafe { libc::sendmsg(sock, &msg, flags | libc::MSG_NOSIGNAL) };
        if n >= 0 {
            return Ok(());
        }
        let e = errno();
        if e != libc::EINTR {
            return Err(e);
        }
    }
}

/// Receives one message into `buf` and at most one attached descriptor.
pub fn recv_with_fd(sock: RawFd, buf: &mut [u8]) -> Result<(usize, Option<OwnedFd>), i32> {
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    // SAFETY: pure size computation.
    let space = unsafe { libc::CMSG_SPACE((4 * std::mem::size_of::<RawFd>()) as u32) } as usize;
    let mut control = vec![0u8; space];
    // SAFETY: plain data; pointers outlive the call.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = space;
    let n = loop {
        // SAFETY: `msg` is fully initialised.
        let n = unsafe { libc::recvmsg(sock, &mut msg, libc::MSG_CMSG_CLOEXEC) };
        if n >= 0 {
            break n as usize;
        }
        let e = errno();
        if e != libc::EINTR {
            return Err(e);
        }
    };
    let mut received = None;
    // SAFETY: walks the control messages the kernel wrote into our buffer.
    unsafe {
        let mut cmsg = libc::CMSG_FIRSTHDR(&msg);
        while !cmsg.is_null() {
            if (*cmsg).cmsg_level == libc::SOL_SOCKET && (*cmsg).cmsg_type == libc::SCM_RIGHTS {
                let count =
                    ((*cmsg).cmsg_len - libc::CMSG_LEN(0) as usize) / std::mem::size_of::<RawFd>();
                for i in 0..count {
                    let fd = std::ptr::read_unaligned(libc::CMSG_DATA(cmsg).cast::<RawFd>().add(i));
                    let owned = OwnedFd::from_raw_fd(fd);
                    if received.is_none() {
                        received = Some(owned);
                    }
                }
            }
            cmsg = libc::CMSG_NXTHDR(&msg, cmsg);
        }
    }
    Ok((n, received))
}

/// The peer's pid, uid and gid as the kernel recorded them at connect time.
pub fn peer_creds(sock: RawFd) -> Result<libc::ucred, i32> {
    // SAFETY: ucred is plain data.
    let mut cred: libc::ucred = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::ucred>() as libc::socklen_t;
    // SAFETY: valid out-pointers of the stated length.
    check(unsafe {
        libc::getsockopt(
            sock,
            libc::SOL_SOCKET,
            libc::SO_PEERCRED,
            (&mut cred as *mut libc::ucred).cast(),
            &mut len,
        )
    })?;
    Ok(cred)
}

pub fn setsockopt_raw(fd: RawFd, level: i32, name: i32, value: &[u8]) -> Result<(), i32> {
    // SAFETY: the value pointer and length describe a live buffer.
    check(unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            value.as_ptr().cast(),
            value.len() as libc::socklen_t,
        )
    })
    .map(|_| ())
}

pub fn getsockopt_raw(fd: RawFd, level: i32, name: i32, len: usize) -> Result<Vec<u8>, i32> {
    let mut buf = vec![0u8; len];
    let mut out_len = len as libc::socklen_t;
    // SAFETY: out-pointers to a live buffer of the stated length.
    check(unsafe { libc::getsockopt(fd, level, name, buf.as_mut_ptr().cast(), &mut out_len) })?;
    buf.truncate(out_len as usize);
    Ok(buf)
}

pub fn getsockopt_int(fd: RawFd, level: i32, name: i32) -> Result<i32, i32> {
    let raw = getsockopt_raw(fd, level, name, 4)?;
    Ok(i32::from_ne_bytes([raw[0], raw[1], raw[2], raw[3]]))
}

fn name_of(fd: RawFd, peer: bool) -> Result<SocketAddr, i32> {
    // SAFETY: sockaddr_storage is plain data.
    let mut storage: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
    let ptr = (&mut storage as *mut libc::sockaddr_storage).cast::<libc::sockaddr>();
    // SAFETY: out-pointers of the stated length.
    check(unsafe {
        if peer {
            libc::getpeername(fd, ptr, &mut len)
        } else {
            libc::getsockname(fd, ptr, &mut len)
        }
    })?;
    // SAFETY: the kernel wrote `len` bytes (capped at the storage size) into `storage`.
    let bytes = unsafe {
        std::slice::from_raw_parts(
            (&storage as *const libc::sockaddr_storage).cast::<u8>(),
            (len as usize).min(std::mem::size_of::<libc::sockaddr_storage>()),
        )
    };
    parse_sockaddr(bytes)
}

pub fn local_name(fd: RawFd) -> Result<SocketAddr, i32> {
    name_of(fd, false)
}

pub fn peer_name(fd: RawFd) -> Result<SocketAddr, i32> {
    name_of(fd, true)
}

pub fn bind(fd: RawFd, addr: &SocketAddr) -> Result<(), i32> {
    let raw = sockaddr_bytes(addr);
    // SAFETY: `raw` is a complete sockaddr of the stated length.
    check(unsafe { libc::bind(fd, raw.as_ptr().cast(), raw.len() as libc::socklen_t) }).map(|_| ())
}

pub fn connect(fd: RawFd, addr: &SocketAddr) -> Result<(), i32> {
    let raw = sockaddr_bytes(addr);
    // SAFETY: `raw` is a complete sockaddr of the stated length.
    check(unsafe { libc::connect(fd, raw.as_ptr().cast(), raw.len() as libc::socklen_t) })
        .map(|_| ())
}

/// An eventfd that wakes a thread blocked in poll.
pub struct Wake(OwnedFd);

impl Wake {
    pub fn new() -> Result<Self, i32> {
        // SAFETY: eventfd returns a new descriptor we own.
        let fd = check(unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) })?;
        // SAFETY: just created.
        Ok(Self(unsafe { OwnedFd::from_raw_fd(fd) }))
    }

    pub fn wake(&self) {
        let one: u64 = 1;
        // SAFETY: writes 8 bytes from a live u64.
        unsafe { libc::write(self.0.as_raw_fd(), (&one as *const u64).cast(), 8) };
    }

    pub fn clear(&self) {
        let mut value: u64 = 0;
        // SAFETY: reads 8 bytes into a live u64.
        unsafe { libc::read(self.0.as_raw_fd(), (&mut value as *mut u64).cast(), 8) };
    }

    pub fn fd(&self) -> RawFd {
        self.0.as_raw_fd()
    }
}

/// Random bytes from the kernel, for data-connection tokens and epochs.
pub fn random_u128() -> u128 {
    let mut buf = [0u8; 16];
    let mut filled = 0;
    while filled < buf.len() {
        // SAFETY: writes into the unfilled tail of a live buffer.
        let n =
            unsafe { libc::getrandom(buf[filled..].as_mut_ptr().cast(), buf.len() - filled, 0) };
        if n > 0 {
            filled += n as usize;
        }
    }
    u128::from_ne_bytes(buf)
}

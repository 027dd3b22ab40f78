//! Thin wrappers over the socket system calls the agent needs with raw option bytes and
//! descriptor passing. Each failure is a [`SysError`] naming the call and the kernel's errno,
//! so the errno can travel to the application unchanged.

use std::net::SocketAddr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use ssinet_rsock_wire::fdpass;
use ssinet_rsock_wire::sockaddr::{socklen, socklen_of, unix_address};
use ssinet_rsock_wire::{parse_sockaddr, sockaddr_bytes};

use crate::error::SysError;

/// `ret`, or the calling thread's errno when the call named `call` returned -1.
fn check(call: &'static str, ret: libc::c_int) -> Result<libc::c_int, SysError> {
    if ret < 0 {
        Err(SysError::last(call))
    } else {
        Ok(ret)
    }
}

/// A byte count a successful read or write returned (never negative).
fn count(call: &'static str, ret: isize) -> Result<usize, SysError> {
    usize::try_from(ret).map_err(|_| SysError::last(call))
}

/// `path` as a unix socket address; ENAMETOOLONG when it does not fit.
pub fn unix_socket_address(
    call: &'static str,
    path: &std::path::Path,
) -> Result<libc::sockaddr_un, SysError> {
    use std::os::unix::ffi::OsStrExt;
    unix_address(path.as_os_str().as_bytes()).ok_or(SysError::new(call, libc::ENAMETOOLONG))
}

/// A new AF_UNIX SOCK_SEQPACKET socket, close-on-exec: the broker wire's kind of socket.
pub fn seqpacket_socket() -> Result<OwnedFd, SysError> {
    // SAFETY: socket(2) with constant arguments; it returns a new descriptor or -1.
    let raw = check("socket", unsafe {
        libc::socket(libc::AF_UNIX, libc::SOCK_SEQPACKET | libc::SOCK_CLOEXEC, 0)
    })?;
    // SAFETY: `raw` was just created and is owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(raw) })
}

/// A SOCK_SEQPACKET connection to the broker at `path` (a stale socket file refuses it).
pub fn connect_seqpacket(path: &std::path::Path) -> Result<OwnedFd, SysError> {
    let addr = unix_socket_address("connect", path)?;
    let fd = seqpacket_socket()?;
    // SAFETY: `addr` is a complete sockaddr_un of the stated length.
    check("connect", unsafe {
        libc::connect(
            fd.as_raw_fd(),
            (&raw const addr).cast(),
            socklen_of::<libc::sockaddr_un>(),
        )
    })?;
    Ok(fd)
}

/// A connected AF_UNIX stream pair, both ends close-on-exec.
pub fn stream_pair() -> Result<(OwnedFd, OwnedFd), SysError> {
    let mut fds = [0 as RawFd; 2];
    // SAFETY: `fds` has room for the two descriptors socketpair writes.
    check("socketpair", unsafe {
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

pub fn set_nonblocking(fd: RawFd, on: bool) -> Result<(), SysError> {
    // SAFETY: plain fcntl calls on a descriptor the caller keeps open.
    let flags = check("fcntl", unsafe { libc::fcntl(fd, libc::F_GETFL) })?;
    let flags = if on {
        flags | libc::O_NONBLOCK
    } else {
        flags & !libc::O_NONBLOCK
    };
    // SAFETY: F_SETFL takes an int and touches no memory of ours; a bad fd only fails.
    check("fcntl", unsafe { libc::fcntl(fd, libc::F_SETFL, flags) }).map(|_| ())
}

pub fn dup(fd: RawFd) -> Result<OwnedFd, SysError> {
    // SAFETY: F_DUPFD_CLOEXEC returns a new descriptor that we then own.
    let new = check("dup", unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 0) })?;
    // SAFETY: `new` was just created and is owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(new) })
}

/// The inode of a descriptor: the identity of a socket across dup, fork, exec and SCM_RIGHTS.
pub fn inode(fd: RawFd) -> Result<u64, SysError> {
    // SAFETY: `st` is plain data fstat fills in.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: `st` is a valid out-pointer.
    check("fstat", unsafe { libc::fstat(fd, &mut st) })?;
    Ok(st.st_ino)
}

/// Makes the application's end of a fresh pair unwritable until the agent reads the filler
/// back: a non-blocking connect must not report POLLOUT before the origin connected. Returns
/// how many filler bytes the agent end now holds.
pub fn fill_send_buffer(app_end: RawFd) -> Result<usize, SysError> {
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
        match count("send", n) {
            Ok(n) => total += n,
            Err(e) if e.errno.get() == libc::EAGAIN => break,
            Err(e) => return Err(e),
        }
    }
    set_nonblocking(app_end, false)?;
    Ok(total)
}

/// Reads back and discards exactly `count` filler bytes from the agent's end (EPIPE if the
/// application's end closes first).
pub fn drain(agent_end: RawFd, mut left: usize) -> Result<(), SysError> {
    let mut buf = vec![0u8; 65536];
    while left > 0 {
        let want = left.min(buf.len());
        // SAFETY: reads into a live buffer of at least `want` bytes.
        let n = unsafe { libc::recv(agent_end, buf.as_mut_ptr().cast(), want, 0) };
        match count("recv", n) {
            Ok(0) => return Err(SysError::new("recv", libc::EPIPE)),
            Ok(n) => left -= n,
            Err(e) if e.errno.get() == libc::EINTR || e.errno.get() == libc::EAGAIN => {
                poll_one(agent_end, libc::POLLIN, 1000);
            }
            Err(e) => return Err(e),
        }
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

/// Sends `bytes` with at most one descriptor attached (the broker wire's way, see
/// [`ssinet_rsock_wire::fdpass`]).
pub fn send_with_fd(
    sock: RawFd,
    bytes: &[u8],
    fd: Option<RawFd>,
    flags: i32,
) -> Result<(), SysError> {
    fdpass::send_with_fd(sock, bytes, fd, flags).map_err(|errno| SysError {
        call: "sendmsg",
        errno,
    })
}

/// Receives one message into `buf` and at most one attached descriptor (close-on-exec).
pub fn recv_with_fd(sock: RawFd, buf: &mut [u8]) -> Result<(usize, Option<OwnedFd>), SysError> {
    let receive = || fdpass::recv_with_fd(sock, buf, libc::MSG_CMSG_CLOEXEC, libc::close);
    let (n, fd) = fdpass::restarting(receive).map_err(|errno| SysError {
        call: "recvmsg",
        errno,
    })?;
    // SAFETY: the kernel installed the descriptor for us; nothing else holds it.
    Ok((n, fd.map(|fd| unsafe { OwnedFd::from_raw_fd(fd) })))
}

/// The peer's pid, uid and gid as the kernel recorded them at connect time.
pub fn peer_creds(sock: RawFd) -> Result<libc::ucred, SysError> {
    // SAFETY: ucred is plain data.
    let mut cred: libc::ucred = unsafe { std::mem::zeroed() };
    let mut len = socklen_of::<libc::ucred>();
    // SAFETY: valid out-pointers of the stated length.
    check("getsockopt", unsafe {
        libc::getsockopt(
            sock,
            libc::SOL_SOCKET,
            libc::SO_PEERCRED,
            (&raw mut cred).cast(),
            &mut len,
        )
    })?;
    Ok(cred)
}

pub fn setsockopt_raw(fd: RawFd, level: i32, name: i32, value: &[u8]) -> Result<(), SysError> {
    // SAFETY: the value pointer and length describe a live buffer.
    check("setsockopt", unsafe {
        libc::setsockopt(fd, level, name, value.as_ptr().cast(), socklen(value.len()))
    })
    .map(|_| ())
}

pub fn getsockopt_raw(fd: RawFd, level: i32, name: i32, len: usize) -> Result<Vec<u8>, SysError> {
    let mut buf = vec![0u8; len];
    let mut out_len = socklen(len);
    // SAFETY: out-pointers to a live buffer of at least the stated length.
    check("getsockopt", unsafe {
        libc::getsockopt(fd, level, name, buf.as_mut_ptr().cast(), &mut out_len)
    })?;
    buf.truncate(usize::try_from(out_len).unwrap_or(len));
    Ok(buf)
}

pub fn getsockopt_int(fd: RawFd, level: i32, name: i32) -> Result<i32, SysError> {
    let raw = getsockopt_raw(fd, level, name, 4)?;
    Ok(i32::from_ne_bytes([raw[0], raw[1], raw[2], raw[3]]))
}

fn name_of(fd: RawFd, peer: bool) -> Result<SocketAddr, SysError> {
    let call = if peer { "getpeername" } else { "getsockname" };
    // SAFETY: sockaddr_storage is plain data.
    let mut storage: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let mut len = socklen_of::<libc::sockaddr_storage>();
    let ptr = (&raw mut storage).cast::<libc::sockaddr>();
    // SAFETY: out-pointers of the stated length.
    check(call, unsafe {
        if peer {
            libc::getpeername(fd, ptr, &mut len)
        } else {
            libc::getsockname(fd, ptr, &mut len)
        }
    })?;
    let size = std::mem::size_of::<libc::sockaddr_storage>();
    let len = usize::try_from(len).map_or(size, |len| len.min(size));
    // SAFETY: the kernel wrote `len` bytes (capped at the storage size) into `storage`.
    let bytes = unsafe { std::slice::from_raw_parts((&raw const storage).cast::<u8>(), len) };
    parse_sockaddr(bytes).map_err(|e| SysError {
        call,
        errno: e.errno(),
    })
}

pub fn local_name(fd: RawFd) -> Result<SocketAddr, SysError> {
    name_of(fd, false)
}

pub fn peer_name(fd: RawFd) -> Result<SocketAddr, SysError> {
    name_of(fd, true)
}

pub fn bind(fd: RawFd, addr: &SocketAddr) -> Result<(), SysError> {
    let raw = sockaddr_bytes(addr);
    // SAFETY: `raw` is a complete sockaddr of the stated length.
    check("bind", unsafe {
        libc::bind(fd, raw.as_ptr().cast(), socklen(raw.len()))
    })
    .map(|_| ())
}

pub fn connect(fd: RawFd, addr: &SocketAddr) -> Result<(), SysError> {
    let raw = sockaddr_bytes(addr);
    // SAFETY: `raw` is a complete sockaddr of the stated length.
    check("connect", unsafe {
        libc::connect(fd, raw.as_ptr().cast(), socklen(raw.len()))
    })
    .map(|_| ())
}

/// An eventfd that wakes a thread blocked in poll.
pub struct Wake(OwnedFd);

impl Wake {
    pub fn new() -> Result<Self, SysError> {
        // SAFETY: eventfd returns a new descriptor we own.
        let fd = check("eventfd", unsafe {
            libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK)
        })?;
        // SAFETY: eventfd just returned `fd` (check() refused -1), so it is open and owned by
        // nobody else.
        Ok(Self(unsafe { OwnedFd::from_raw_fd(fd) }))
    }

    pub fn wake(&self) {
        let one: u64 = 1;
        // SAFETY: writes 8 bytes from a live u64.
        unsafe { libc::write(self.0.as_raw_fd(), (&raw const one).cast(), 8) };
    }

    pub fn clear(&self) {
        clear_eventfd(self.0.as_raw_fd());
    }

    pub fn fd(&self) -> RawFd {
        self.0.as_raw_fd()
    }
}

/// Reads (and so resets) the counter of the eventfd `fd`.
pub fn clear_eventfd(fd: RawFd) {
    let mut value: u64 = 0;
    // SAFETY: reads 8 bytes into a live u64.
    unsafe { libc::read(fd, (&raw mut value).cast(), 8) };
}

/// Random bytes from the kernel, for data-connection tokens and epochs.
pub fn random_u128() -> u128 {
    u128::from_ne_bytes(random_bytes())
}

/// A random epoch: never 0, so a zero field is never taken for an epoch.
pub fn random_epoch() -> u64 {
    let bytes: [u8; 8] = random_bytes();
    u64::from_ne_bytes(bytes) | 1
}

fn random_bytes<const N: usize>() -> [u8; N] {
    let mut buf = [0u8; N];
    let mut filled = 0;
    while filled < N {
        // SAFETY: writes into the unfilled tail of a live buffer.
        let n = unsafe { libc::getrandom(buf[filled..].as_mut_ptr().cast(), N - filled, 0) };
        if let Ok(n) = usize::try_from(n) {
            filled += n;
        }
    }
    buf
}

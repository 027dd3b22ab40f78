//! A message with at most one file descriptor beside it (SCM_RIGHTS), the way every message of
//! this wire travels, and the one request/reply round trip of a library call.
//!
//! Nothing here allocates (the control buffers live on the stack) or takes a lock. Descriptors
//! the kernel hands over beyond the first are closed with a function the caller names: in the
//! preload library that is the real `close`, its own being the interposed one.

use std::ffi::c_int;
use std::os::fd::RawFd;

use crate::Errno;
use crate::message::{LocalReply, LocalRequest, MESSAGE_ROOM, Malformed};

/// How a receiver closes descriptors it did not ask for (`libc::close`, or the real one).
pub type CloseFn = unsafe extern "C" fn(c_int) -> c_int;

const FD_SIZE: libc::c_uint = 4;
const _: () = assert!(std::mem::size_of::<RawFd>() == 4);

/// Room for control messages, aligned for `cmsghdr`: one descriptor out, a few in.
#[repr(C, align(8))]
struct ControlBuffer([u8; 64]);

impl ControlBuffer {
    fn new() -> Self {
        Self([0; 64])
    }
}

/// Sends `bytes` with at most one descriptor attached; `flags` gain MSG_NOSIGNAL. A signal that
/// interrupts the call makes it try again.
pub fn send_with_fd(
    sock: RawFd,
    bytes: &[u8],
    fd: Option<RawFd>,
    flags: c_int,
) -> Result<(), Errno> {
    let mut iov = libc::iovec {
        iov_base: bytes.as_ptr().cast_mut().cast(),
        iov_len: bytes.len(),
    };
    let mut control = ControlBuffer::new();
    // SAFETY: msghdr is plain data, all zeroes is a valid empty header.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    if let Some(fd) = fd {
        // SAFETY: CMSG_SPACE and CMSG_LEN are pure size computations.
        let (space, len) = unsafe { (libc::CMSG_SPACE(FD_SIZE), libc::CMSG_LEN(FD_SIZE)) };
        let (Ok(space), Ok(len)) = (usize::try_from(space), usize::try_from(len)) else {
            return Err(Errno::new(libc::EINVAL));
        };
        msg.msg_control = control.0.as_mut_ptr().cast();
        msg.msg_controllen = space;
        // SAFETY: the control buffer (64 bytes, aligned) has room for one header carrying one
        // descriptor, so CMSG_FIRSTHDR is non-null and its data lies inside the buffer.
        unsafe {
            let cmsg = libc::CMSG_FIRSTHDR(&msg);
            (*cmsg).cmsg_level = libc::SOL_SOCKET;
            (*cmsg).cmsg_type = libc::SCM_RIGHTS;
            (*cmsg).cmsg_len = len;
            std::ptr::write_unaligned(libc::CMSG_DATA(cmsg).cast::<RawFd>(), fd);
        }
    }
    restarting(|| {
        // SAFETY: `msg` is initialised and every pointer in it (iov, bytes, control) outlives
        // the call.
        if unsafe { libc::sendmsg(sock, &msg, flags | libc::MSG_NOSIGNAL) } >= 0 {
            Ok(())
        } else {
            Err(Errno::last())
        }
    })
}

/// Runs `call` again for as long as a signal interrupts it (EINTR).
pub fn restarting<T>(mut call: impl FnMut() -> Result<T, Errno>) -> Result<T, Errno> {
    loop {
        match call() {
            Err(e) if e.get() == libc::EINTR => {}
            other => return other,
        }
    }
}

/// Receives one message into `buf` and the first descriptor beside it; further ones are closed
/// with `close_extra`. A signal that interrupts the call makes it answer EINTR, as the blocking
/// call the application made (accept) would; wrap it in [`restarting`] to try again instead.
pub fn recv_with_fd(
    sock: RawFd,
    buf: &mut [u8],
    flags: c_int,
    close_extra: CloseFn,
) -> Result<(usize, Option<RawFd>), Errno> {
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    let mut control = ControlBuffer::new();
    // SAFETY: msghdr is plain data, all zeroes is a valid empty header.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.0.as_mut_ptr().cast();
    msg.msg_controllen = std::mem::size_of::<ControlBuffer>();
    // SAFETY: `msg` is initialised; the kernel writes at most iov_len bytes into `buf` and
    // msg_controllen bytes into `control`, both live for the call.
    let n = unsafe { libc::recvmsg(sock, &mut msg, flags) };
    let Ok(n) = usize::try_from(n) else {
        return Err(Errno::last());
    };
    // SAFETY: `msg` is the header recvmsg just filled in, its control buffer still live.
    let fd = unsafe { first_fd(&msg, close_extra) };
    Ok((n, fd))
}

/// The first descriptor of the SCM_RIGHTS messages in `msg`; the others are closed.
///
/// # Safety
/// `msg` is a header recvmsg filled in, whose control buffer is still live.
unsafe fn first_fd(msg: &libc::msghdr, close_extra: CloseFn) -> Option<RawFd> {
    let mut found = None;
    // SAFETY: the caller's promise: the control messages the kernel wrote lie in a live
    // buffer, and CMSG_FIRSTHDR/CMSG_NXTHDR stay inside it; each descriptor we read was
    // installed for us and is ours to keep or close.
    unsafe {
        let header = usize::try_from(libc::CMSG_LEN(0)).unwrap_or(usize::MAX);
        let mut cmsg = libc::CMSG_FIRSTHDR(msg);
        while !cmsg.is_null() {
            if (*cmsg).cmsg_level == libc::SOL_SOCKET && (*cmsg).cmsg_type == libc::SCM_RIGHTS {
                let count = (*cmsg).cmsg_len.saturating_sub(header) / std::mem::size_of::<RawFd>();
                let data = libc::CMSG_DATA(cmsg).cast::<RawFd>();
                for i in 0..count {
                    let fd = std::ptr::read_unaligned(data.add(i));
                    if found.is_none() {
                        found = Some(fd);
                    } else {
                        close_extra(fd);
                    }
                }
            }
            cmsg = libc::CMSG_NXTHDR(msg, cmsg);
        }
    }
    found
}

/// Why a round trip to the broker failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RoundTripError {
    Send(Errno),
    Receive(Errno),
    /// The reply does not decode (the broker speaks another version of this wire).
    Reply(Malformed),
}

impl std::fmt::Display for RoundTripError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Send(e) => write!(f, "sending the request: {e}"),
            Self::Receive(e) => write!(f, "receiving the reply: {e}"),
            Self::Reply(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for RoundTripError {}

/// One library call on a connected broker socket: `req` with `fd` attached, then the reply and
/// the descriptor that may come with it (further ones are closed with `close_extra`). The
/// received descriptor is close-on-exec.
pub fn round_trip(
    sock: RawFd,
    req: &LocalRequest,
    fd: Option<RawFd>,
    close_extra: CloseFn,
) -> Result<(LocalReply, Option<RawFd>), RoundTripError> {
    send_with_fd(sock, &req.encode(), fd, 0).map_err(RoundTripError::Send)?;
    let mut buf = [0u8; MESSAGE_ROOM];
    let (n, received) =
        restarting(|| recv_with_fd(sock, &mut buf, libc::MSG_CMSG_CLOEXEC, close_extra))
            .map_err(RoundTripError::Receive)?;
    match LocalReply::decode(&buf[..n]) {
        Ok(reply) => Ok((reply, received)),
        Err(e) => {
            if let Some(fd) = received {
                // SAFETY: the descriptor was just installed for us and nothing else holds it.
                unsafe { close_extra(fd) };
            }
            Err(RoundTripError::Reply(e))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

    fn seqpacket_pair() -> (OwnedFd, OwnedFd) {
        let mut fds = [0; 2];
        // SAFETY: `fds` has room for the two descriptors socketpair writes.
        let rc = unsafe {
            libc::socketpair(
                libc::AF_UNIX,
                libc::SOCK_SEQPACKET | libc::SOCK_CLOEXEC,
                0,
                fds.as_mut_ptr(),
            )
        };
        assert_eq!(rc, 0);
        // SAFETY: socketpair succeeded; both descriptors are ours.
        unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) }
    }

    #[test]
    fn a_descriptor_travels_beside_a_message() {
        let (a, b) = seqpacket_pair();
        let (x, _y) = seqpacket_pair();
        send_with_fd(a.as_raw_fd(), b"hello", Some(x.as_raw_fd()), 0).unwrap();
        let mut buf = [0u8; 16];
        let (n, fd) =
            recv_with_fd(b.as_raw_fd(), &mut buf, libc::MSG_CMSG_CLOEXEC, libc::close).unwrap();
        assert_eq!(&buf[..n], b"hello");
        // SAFETY: received for us.
        let fd = unsafe { OwnedFd::from_raw_fd(fd.unwrap()) };
        assert_ne!(fd.as_raw_fd(), x.as_raw_fd());

        send_with_fd(a.as_raw_fd(), b"bare", None, 0).unwrap();
        let (n, fd) = recv_with_fd(b.as_raw_fd(), &mut buf, 0, libc::close).unwrap();
        assert_eq!((&buf[..n], fd), (&b"bare"[..], None));
    }

    #[test]
    fn a_round_trip_decodes_the_reply() {
        let (a, b) = seqpacket_pair();
        let server = std::thread::spawn(move || {
            let mut buf = [0u8; MESSAGE_ROOM];
            let (n, fd) = recv_with_fd(b.as_raw_fd(), &mut buf, 0, libc::close).unwrap();
            assert_eq!(fd, None);
            let req = LocalRequest::decode(&buf[..n]).unwrap();
            let reply = LocalReply::err(i32::from(req.op));
            send_with_fd(b.as_raw_fd(), &reply.encode(), None, 0).unwrap();
            send_with_fd(b.as_raw_fd(), b"junk", None, 0).unwrap();
        });
        let req = LocalRequest {
            op: crate::OP_PROBE,
            args: [0; 4],
            blob: Vec::new(),
        };
        let (reply, fd) = round_trip(a.as_raw_fd(), &req, None, libc::close).unwrap();
        assert_eq!((reply.errno, fd), (i32::from(crate::OP_PROBE), None));
        server.join().unwrap();
        let mut buf = [0u8; 8];
        let (n, _) = recv_with_fd(a.as_raw_fd(), &mut buf, 0, libc::close).unwrap();
        assert_eq!(LocalReply::decode(&buf[..n]), Err(Malformed));
    }
}

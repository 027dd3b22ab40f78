//! Pumps bytes between the application's side and the network side of one socket, on its own
//! thread with poll(2), so half-closes, hang-ups and back-pressure map one to one: a read of 0
//! becomes a shutdown(SHUT_WR) on the other side, a full buffer stops reading.

use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use crate::error::SysError;
use crate::fdutil::{Wake, set_nonblocking};
use crate::stats::counter_value;

const BUFFER: usize = 256 * 1024;

/// How the relay learns that the application let go of its side.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AppSide {
    /// The agent's end of the socketpair: POLLHUP means the last application reference closed.
    UnixEnd,
    /// A data connection from the caller's agent: it sends Close on the control connection.
    DataConn,
}

/// Shared with whoever may need to stop the relay from outside.
pub struct RelayControl {
    wake: Wake,
    hangup: AtomicBool,
    abort: AtomicBool,
    /// The application set SO_LINGER 0: its last close must reach the peer as a RST.
    abortive_close: AtomicBool,
    /// Bytes from the application towards the network.
    pub bytes_out: AtomicU64,
    /// Bytes from the network towards the application.
    pub bytes_in: AtomicU64,
}

impl RelayControl {
    pub fn new() -> Result<Arc<Self>, SysError> {
        Ok(Arc::new(Self {
            wake: Wake::new()?,
            hangup: AtomicBool::new(false),
            abort: AtomicBool::new(false),
            abortive_close: AtomicBool::new(false),
            bytes_out: AtomicU64::new(0),
            bytes_in: AtomicU64::new(0),
        }))
    }

    /// The application closed its last reference: flush what it sent, then close.
    pub fn hang_up(&self) {
        self.hangup.store(true, Ordering::SeqCst);
        self.wake.wake();
    }

    /// The other node is gone: close both sides now.
    pub fn abort(&self) {
        self.abort.store(true, Ordering::SeqCst);
        self.wake.wake();
    }

    /// Wakes the thread waiting on this control (it then looks for new work).
    pub fn nudge(&self) {
        self.wake.wake();
    }

    /// Records the application's SO_LINGER choice (zero linger time: close resets).
    pub fn set_abortive_close(&self, on: bool) {
        self.abortive_close.store(on, Ordering::SeqCst);
    }

    pub fn is_aborted(&self) -> bool {
        self.abort.load(Ordering::SeqCst)
    }

    pub fn wake_fd(&self) -> RawFd {
        self.wake.fd()
    }
}

struct Direction {
    buf: Vec<u8>,
    start: usize,
    end: usize,
    eof: bool,
    shut: bool,
}

impl Direction {
    fn new() -> Self {
        Self {
            buf: vec![0; BUFFER],
            start: 0,
            end: 0,
            eof: false,
            shut: false,
        }
    }

    fn pending(&self) -> bool {
        self.start < self.end
    }

    /// Reads what is available; Err on a read error.
    fn fill(&mut self, from: RawFd) -> Result<(), SysError> {
        if self.pending() || self.eof {
            return Ok(());
        }
        // SAFETY: reads into a live buffer of BUFFER bytes.
        let n = unsafe { libc::read(from, self.buf.as_mut_ptr().cast(), BUFFER) };
        let Ok(n) = usize::try_from(n) else {
            return retry_later(SysError::last("read"));
        };
        if n == 0 {
            self.eof = true;
        }
        self.start = 0;
        self.end = n;
        Ok(())
    }

    /// Writes what is buffered; returns bytes written.
    fn flush(&mut self, to: RawFd) -> Result<usize, SysError> {
        let mut written = 0;
        while self.pending() {
            // SAFETY: writes from the live, initialised part of the buffer.
            let n = unsafe {
                libc::send(
                    to,
                    self.buf[self.start..].as_ptr().cast(),
                    self.end - self.start,
                    libc::MSG_NOSIGNAL | libc::MSG_DONTWAIT,
                )
            };
            let Ok(n) = usize::try_from(n) else {
                return retry_later(SysError::last("send")).map(|()| written);
            };
            self.start += n;
            written += n;
        }
        Ok(written)
    }
}

/// A non-blocking read or write that would block or was interrupted is tried again on the
/// next round; any other failure ends the relay.
fn retry_later(e: SysError) -> Result<(), SysError> {
    if e.errno.get() == libc::EAGAIN || e.errno.get() == libc::EINTR {
        Ok(())
    } else {
        Err(e)
    }
}

/// Why a relay ended (for logs and counters).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RelayEnd {
    Closed,
    HungUp,
    Aborted,
    Failed(SysError),
}

/// The application closed its last reference. With SO_LINGER 0 the network side is reset rather
/// than half-closed: the data connection's RST makes the origin close the real socket, whose
/// own SO_LINGER 0 (set through the proxy) turns that close into the RST the peer expects.
fn hung_up(net: RawFd, side: AppSide, ctl: &RelayControl) -> RelayEnd {
    if side == AppSide::UnixEnd && ctl.abortive_close.load(Ordering::SeqCst) {
        let linger = libc::linger {
            l_onoff: 1,
            l_linger: 0,
        };
        // SAFETY: a complete struct linger for SO_LINGER on a descriptor we own.
        unsafe {
            libc::setsockopt(
                net,
                libc::SOL_SOCKET,
                libc::SO_LINGER,
                (&linger as *const libc::linger).cast(),
                ssinet_rsock_wire::sockaddr::socklen_of::<libc::linger>(),
            )
        };
    }
    RelayEnd::HungUp
}

/// Runs until both directions finished, the application hung up, or `ctl` aborted it. Both
/// descriptors are closed when it returns (with SO_LINGER 0 on `net`, that close is a RST).
pub fn run(app: OwnedFd, net: OwnedFd, side: AppSide, ctl: &RelayControl) -> RelayEnd {
    let (a, n) = (app.as_raw_fd(), net.as_raw_fd());
    if let Err(e) = set_nonblocking(a, true).and_then(|()| set_nonblocking(n, true)) {
        return RelayEnd::Failed(e);
    }
    let mut up = Direction::new();
    let mut down = Direction::new();
    let mut app_gone = false;
    loop {
        if ctl.is_aborted() {
            return RelayEnd::Aborted;
        }
        if !app_gone && ctl.hangup.load(Ordering::SeqCst) {
            app_gone = true;
        }
        // Move whatever can move without blocking.
        if let Err(e) = up.fill(a) {
            return RelayEnd::Failed(e);
        }
        match up.flush(n) {
            Ok(w) => {
                ctl.bytes_out.fetch_add(counter_value(w), Ordering::Relaxed);
            }
            Err(e) => return RelayEnd::Failed(e),
        }
        if up.eof && !up.pending() && !up.shut {
            // A read of 0 is a SHUT_WR or the last close; only the close also hangs up the
            // unix end (both arrive in the same instant), so ask now rather than trust the last
            // poll, which may predate it.
            if side == AppSide::UnixEnd && crate::fdutil::poll_one(a, 0, 0) & libc::POLLHUP != 0 {
                app_gone = true;
            }
            if app_gone {
                return hung_up(n, side, ctl);
            }
            // SAFETY: shutdown on a descriptor we own.
            unsafe { libc::shutdown(n, libc::SHUT_WR) };
            up.shut = true;
        }
        if !app_gone {
            if let Err(e) = down.fill(n) {
                return RelayEnd::Failed(e);
            }
            match down.flush(a) {
                Ok(w) => {
                    ctl.bytes_in.fetch_add(counter_value(w), Ordering::Relaxed);
                }
                // The application shut its reading side or went away: drop what arrives.
                Err(e) if e.errno.get() == libc::EPIPE => {
                    down.start = down.end;
                    if side == AppSide::UnixEnd {
                        app_gone = true;
                    }
                }
                Err(e) => return RelayEnd::Failed(e),
            }
            if down.eof && !down.pending() && !down.shut {
                // SAFETY: shutdown on a descriptor we own.
                unsafe { libc::shutdown(a, libc::SHUT_WR) };
                down.shut = true;
            }
        }
        if up.shut && down.shut {
            if side == AppSide::DataConn && !app_gone {
                // Wait for the caller's Close so the origin socket outlives a half-close pair
                // only as long as the caller holds it.
            } else {
                return RelayEnd::Closed;
            }
        }
        if app_gone && up.eof && !up.pending() {
            return hung_up(n, side, ctl);
        }

        let mut fds = [
            libc::pollfd {
                fd: a,
                events: 0,
                revents: 0,
            },
            libc::pollfd {
                fd: n,
                events: 0,
                revents: 0,
            },
            libc::pollfd {
                fd: ctl.wake_fd(),
                events: libc::POLLIN,
                revents: 0,
            },
        ];
        if !up.eof && !up.pending() {
            fds[0].events |= libc::POLLIN;
        }
        if up.pending() {
            fds[1].events |= libc::POLLOUT;
        }
        if !app_gone {
            if !down.eof && !down.pending() {
                fds[1].events |= libc::POLLIN;
            }
            if down.pending() {
                fds[0].events |= libc::POLLOUT;
            }
        }
        // An idle side is left out of the poll set, so a lasting POLLHUP cannot spin us; the
        // application's unix end stays in it to notice its last close.
        if fds[0].events == 0 && (app_gone || side == AppSide::DataConn) {
            fds[0].fd = -1;
        }
        if fds[1].events == 0 {
            fds[1].fd = -1;
        }
        // SAFETY: three valid pollfds.
        let ready = unsafe { libc::poll(fds.as_mut_ptr(), 3, -1) };
        if ready < 0 {
            let e = SysError::last("poll");
            if e.errno.get() != libc::EINTR {
                return RelayEnd::Failed(e);
            }
        }
        if fds[2].revents & libc::POLLIN != 0 {
            ctl.wake.clear();
        }
        if side == AppSide::UnixEnd && fds[0].revents & libc::POLLHUP != 0 {
            // Last reference closed (or both directions shut): read what is left, then finish.
            app_gone = true;
        }
        if fds[1].revents & libc::POLLERR != 0 && fds[1].revents & libc::POLLIN == 0 {
            let pending = crate::fdutil::getsockopt_int(n, libc::SOL_SOCKET, libc::SO_ERROR);
            return RelayEnd::Failed(match pending {
                Ok(errno) => SysError::new("network side", errno),
                Err(e) => e,
            });
        }
    }
}

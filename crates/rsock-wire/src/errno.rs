//! An errno value with a name for what it is.

use std::ffi::c_int;
use std::fmt;

/// What a failed system call left in `errno`; also what a remote socket call answers the
/// application (the reply's errno word). Shown as the C library's message for it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Errno(c_int);

impl Errno {
    pub const fn new(errno: c_int) -> Self {
        Self(errno)
    }

    /// The calling thread's errno (EIO if the platform gave none).
    pub fn last() -> Self {
        Self(
            std::io::Error::last_os_error()
                .raw_os_error()
                .unwrap_or(libc::EIO),
        )
    }

    /// An I/O error's errno, or `fallback` when it did not come from the kernel.
    pub fn of_io(err: &std::io::Error, fallback: c_int) -> Self {
        Self(err.raw_os_error().unwrap_or(fallback))
    }

    pub const fn get(self) -> c_int {
        self.0
    }
}

impl fmt::Display for Errno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        std::io::Error::from_raw_os_error(self.0).fmt(f)
    }
}

impl std::error::Error for Errno {}

impl From<Errno> for std::io::Error {
    fn from(errno: Errno) -> Self {
        std::io::Error::from_raw_os_error(errno.0)
    }
}

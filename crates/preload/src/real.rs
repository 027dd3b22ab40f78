//! The real libc functions behind our interposed ones, found with dlsym(RTLD_NEXT).

use std::ffi::{c_int, c_void};
use std::sync::atomic::{AtomicPtr, Ordering};

use libc::{sockaddr, socklen_t};

macro_rules! real {
    ($($getter:ident = $name:literal : fn($($arg:ty),*) -> $ret:ty;)*) => {
        $(
            pub fn $getter() -> unsafe extern "C" fn($($arg),*) -> $ret {
                static PTR: AtomicPtr<c_void> = AtomicPtr::new(std::ptr::null_mut());
                let mut p = PTR.load(Ordering::Relaxed);
                if p.is_null() {
                    // SAFETY: dlsym only looks a symbol up; RTLD_NEXT is a valid handle and the
                    // name is a NUL-terminated literal (concat! appends the NUL).
                    p = unsafe { libc::dlsym(libc::RTLD_NEXT, concat!($name, "\0").as_ptr().cast()) };
                    if p.is_null() {
                        // Without the real function nothing can work; this cannot happen with glibc.
                        std::process::abort();
                    }
                    PTR.store(p, Ordering::Relaxed);
                }
                // SAFETY: `p` is the non-null address dlsym gave for the libc function `$name`,
                // whose C prototype is this signature; on Linux a data pointer and a function
                // pointer have the same size and representation (POSIX requires it of dlsym).
                unsafe { std::mem::transmute::<*mut c_void, unsafe extern "C" fn($($arg),*) -> $ret>(p) }
            }
        )*

        /// Resolves everything at load time, so no dlsym runs later (e.g. after fork).
        pub fn resolve_all() {
            $( let _ = $getter(); )*
        }
    };
}

real! {
    socket = "socket": fn(c_int, c_int, c_int) -> c_int;
    bind = "bind": fn(c_int, *const sockaddr, socklen_t) -> c_int;
    listen = "listen": fn(c_int, c_int) -> c_int;
    connect = "connect": fn(c_int, *const sockaddr, socklen_t) -> c_int;
    accept = "accept": fn(c_int, *mut sockaddr, *mut socklen_t) -> c_int;
    accept4 = "accept4": fn(c_int, *mut sockaddr, *mut socklen_t, c_int) -> c_int;
    getsockname = "getsockname": fn(c_int, *mut sockaddr, *mut socklen_t) -> c_int;
    getpeername = "getpeername": fn(c_int, *mut sockaddr, *mut socklen_t) -> c_int;
    getsockopt = "getsockopt": fn(c_int, c_int, c_int, *mut c_void, *mut socklen_t) -> c_int;
    setsockopt = "setsockopt": fn(c_int, c_int, c_int, *const c_void, socklen_t) -> c_int;
    shutdown = "shutdown": fn(c_int, c_int) -> c_int;
    close = "close": fn(c_int) -> c_int;
    dup = "dup": fn(c_int) -> c_int;
    dup2 = "dup2": fn(c_int, c_int) -> c_int;
    dup3 = "dup3": fn(c_int, c_int, c_int) -> c_int;
}

//! Interface ioctls for the calling thread's namespace: no `ip` process to fork, which matters
//! when a benchmark partitions and restores nodes in a loop.
//!
//! Every function acts in the network namespace of the calling thread; call them inside
//! [`super::Netns::run`].
use std::io;
use std::os::fd::{AsRawFd as _, FromRawFd as _, OwnedFd};

/// From `linux/sockios.h`; the libc crate does not carry the bridge ioctls.
const SIOCBRADDIF: libc::c_ulong = 0x89a2;
const SIOCBRDELIF: libc::c_ulong = 0x89a3;
const SIOCETHTOOL: libc::c_ulong = 0x8946;
/// `IFF_UP` (1) as the `short` of `ifr_flags`; a flag beyond 16 bits would stop the build.
const IFF_UP: libc::c_short = {
    let [low, high, 0, 0] = libc::IFF_UP.to_le_bytes() else {
        panic!("IFF_UP does not fit ifr_flags");
    };
    libc::c_short::from_le_bytes([low, high])
};

fn control_socket() -> io::Result<OwnedFd> {
    // SAFETY: plain socket(2); the result is checked before it is wrapped.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` is a fresh descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn request(ifname: &str) -> io::Result<libc::ifreq> {
    let bytes = ifname.as_bytes();
    if bytes.is_empty() || bytes.len() >= libc::IFNAMSIZ || bytes.contains(&0) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{ifname:?} is not an interface name (1-15 bytes)"),
        ));
    }
    // SAFETY: ifreq is plain old data; all zeroes is a valid value.
    let mut ifr: libc::ifreq = unsafe { std::mem::zeroed() };
    for (slot, byte) in ifr.ifr_name.iter_mut().zip(bytes) {
        *slot = libc::c_char::from_ne_bytes([*byte]);
    }
    Ok(ifr)
}

fn ioctl(socket: &OwnedFd, op: libc::c_ulong, ifr: &mut libc::ifreq) -> io::Result<()> {
    // SAFETY: every request used here reads or writes one `ifreq`, which `ifr` points to.
    if unsafe { libc::ioctl(socket.as_raw_fd(), op as _, ifr as *mut libc::ifreq) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// The interface's flags (`IFF_UP`, `IFF_RUNNING`, ...).
pub(crate) fn flags(ifname: &str) -> io::Result<libc::c_int> {
    let socket = control_socket()?;
    let mut ifr = request(ifname)?;
    ioctl(&socket, libc::SIOCGIFFLAGS, &mut ifr)?;
    // SAFETY: SIOCGIFFLAGS filled the flags member of the union.
    Ok(libc::c_int::from(unsafe { ifr.ifr_ifru.ifru_flags }))
}

/// Whether the interface has carrier (ethtool's link state): set at once when a veth peer comes
/// up, unlike `IFF_RUNNING`, which the kernel's link watcher updates up to a second later.
pub(crate) fn carrier(ifname: &str) -> io::Result<bool> {
    #[repr(C)]
    struct EthtoolValue {
        cmd: u32,
        data: u32,
    }
    const ETHTOOL_GLINK: u32 = 0x0a;
    let socket = control_socket()?;
    let mut ifr = request(ifname)?;
    let mut value = EthtoolValue {
        cmd: ETHTOOL_GLINK,
        data: 0,
    };
    ifr.ifr_ifru.ifru_data = (&raw mut value).cast();
    ioctl(&socket, SIOCETHTOOL, &mut ifr)?;
    Ok(value.data != 0)
}

/// Sets `IFF_UP` on an interface.
pub(crate) fn set_up(ifname: &str) -> io::Result<()> {
    set_admin(ifname, true)
}

/// Clears `IFF_UP` on an interface. On one end of a veth pair this also takes the carrier
/// away from the other end (which stays administratively up): a pulled cable as the far side
/// sees it.
pub(crate) fn set_down(ifname: &str) -> io::Result<()> {
    set_admin(ifname, false)
}

fn set_admin(ifname: &str, up: bool) -> io::Result<()> {
    let socket = control_socket()?;
    let mut ifr = request(ifname)?;
    ioctl(&socket, libc::SIOCGIFFLAGS, &mut ifr)?;
    // SAFETY: SIOCGIFFLAGS filled the flags member of the union; we update it in place.
    unsafe {
        if up {
            ifr.ifr_ifru.ifru_flags |= IFF_UP;
        } else {
            ifr.ifr_ifru.ifru_flags &= !IFF_UP;
        }
    }
    ioctl(&socket, libc::SIOCSIFFLAGS, &mut ifr)
}

/// The interface's index (what netlink messages name it by).
pub fn index(ifname: &str) -> io::Result<u32> {
    let socket = control_socket()?;
    let index = ifindex(&socket, ifname)?;
    u32::try_from(index).map_err(|_| io::Error::other(format!("{ifname} has index {index}")))
}

fn ifindex(socket: &OwnedFd, ifname: &str) -> io::Result<libc::c_int> {
    let mut ifr = request(ifname)?;
    ioctl(socket, libc::SIOCGIFINDEX, &mut ifr)?;
    // SAFETY: SIOCGIFINDEX filled the ifindex member of the union.
    Ok(unsafe { ifr.ifr_ifru.ifru_ifindex })
}

/// Attaches `port` to `bridge`; true if it was attached by this call, false if it already was.
pub(crate) fn bridge_attach(bridge: &str, port: &str) -> io::Result<bool> {
    bridge_port(bridge, port, SIOCBRADDIF)
}

/// Detaches `port` from `bridge`; true if it was detached by this call, false if it was not a
/// port of the bridge.
pub(crate) fn bridge_detach(bridge: &str, port: &str) -> io::Result<bool> {
    bridge_port(bridge, port, SIOCBRDELIF)
}

fn bridge_port(bridge: &str, port: &str, op: libc::c_ulong) -> io::Result<bool> {
    let socket = control_socket()?;
    let index = ifindex(&socket, port)?;
    let mut ifr = request(bridge)?;
    ifr.ifr_ifru.ifru_ifindex = index;
    match ioctl(&socket, op, &mut ifr) {
        Ok(()) => Ok(true),
        // EBUSY: already a port (of this bridge, in our topology); EINVAL: not a port of it.
        Err(error) if matches!(error.raw_os_error(), Some(libc::EBUSY | libc::EINVAL)) => Ok(false),
        Err(error) => Err(error),
    }
}

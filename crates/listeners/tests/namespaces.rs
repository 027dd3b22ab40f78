//! Listener discovery against the real kernel, each test in its own network namespace
//! (needs root to create them; the dumps themselves are unprivileged).
#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::os::fd::AsRawFd;
use std::os::unix::fs::MetadataExt;
use std::sync::{Mutex, MutexGuard, PoisonError};

use ssinet_listeners::{Listener, ListenerDump, PortRange, Protocol, Registration, Watcher};
use ssinet_testbed::netns::Netns;

const CVIP: &str = "192.168.200.100";
const CVIP6: &str = "2001:db8::100";
const OWN: &str = "192.168.200.11";

/// Held for a whole test: the tests fork `ip` while setting up namespaces, and a child forked
/// between another test's bind and close holds that socket open until it execs, so a closed
/// listener could still be listed. One test at a time keeps "closed means gone" exact.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn serialize() -> MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A namespace with the CVIPs and the node's own address on `lo`, as on a real server.
fn real_server_netns(label: &str) -> Netns {
    let netns = Netns::new(label).unwrap();
    netns
        .ip_batch(&format!(
            "addr add {CVIP}/32 dev lo\naddr add {OWN}/32 dev lo\naddr add {CVIP6}/128 dev lo nodad\n"
        ))
        .unwrap();
    netns
}

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn find(listeners: &[Listener], proto: Protocol, port: u16) -> Vec<Listener> {
    listeners
        .iter()
        .filter(|l| l.proto == proto && l.port == port)
        .copied()
        .collect()
}

/// The inode the kernel gives the socket behind `fd`, as `ls -l /proc/self/fd` shows it.
fn inode_of(fd: &impl AsRawFd) -> u32 {
    let ino = std::fs::metadata(format!("/proc/thread-self/fd/{}", fd.as_raw_fd()))
        .unwrap()
        .ino();
    u32::try_from(ino).unwrap()
}

#[test]
fn tcp_listeners_appear_with_address_port_inode_and_owner_then_disappear_when_closed() {
    let _one = serialize();
    let netns = real_server_netns("lst-tcp");
    netns
        .run(|| {
            let mut dump = ListenerDump::new().unwrap();
            let wildcard4 = TcpListener::bind(addr("0.0.0.0:8080")).unwrap();
            let wildcard6 = TcpListener::bind(addr("[::]:8081")).unwrap();
            let specific4 = TcpListener::bind(addr(&format!("{CVIP}:8082"))).unwrap();
            let specific6 = TcpListener::bind(addr(&format!("[{CVIP6}]:8083"))).unwrap();
            let listeners = dump.listeners().unwrap();

            // The kernel makes a socket bound to a specific IPv6 address v6-only itself.
            for (socket, ip, port, v6only) in [
                (&wildcard4, "0.0.0.0", 8080, false),
                (&wildcard6, "::", 8081, false),
                (&specific4, CVIP, 8082, false),
                (&specific6, CVIP6, 8083, true),
            ] {
                let want = Listener {
                    proto: Protocol::Tcp,
                    addr: ip.parse().unwrap(),
                    port,
                    inode: inode_of(socket),
                    uid: 0,
                    v6only,
                };
                assert_eq!(
                    find(&listeners, Protocol::Tcp, port),
                    vec![want],
                    "{listeners:?}"
                );
            }
            assert_eq!(
                listeners.len(),
                4,
                "only the sockets made here: {listeners:?}"
            );

            drop(wildcard4);
            let after = dump.listeners().unwrap();
            assert!(find(&after, Protocol::Tcp, 8080).is_empty(), "{after:?}");
            assert_eq!(after.len(), 3);
        })
        .unwrap();
}

#[test]
fn connections_are_not_listeners() {
    let _one = serialize();
    let netns = real_server_netns("lst-conn");
    netns
        .run(|| {
            let server = TcpListener::bind(addr("127.0.0.1:9000")).unwrap();
            let client = TcpStream::connect(addr("127.0.0.1:9000")).unwrap();
            let (accepted, _) = server.accept().unwrap();
            let listeners = ListenerDump::new().unwrap().listeners().unwrap();
            assert_eq!(listeners.len(), 1, "{listeners:?}");
            assert_eq!(listeners[0].port, 9000);
            drop((client, accepted));
        })
        .unwrap();
}

#[test]
fn bound_udp_sockets_appear_and_connected_ones_do_not() {
    let _one = serialize();
    let netns = real_server_netns("lst-udp");
    netns
        .run(|| {
            let wildcard4 = UdpSocket::bind(addr("0.0.0.0:5353")).unwrap();
            let wildcard6 = UdpSocket::bind(addr("[::]:5354")).unwrap();
            let on_cvip = UdpSocket::bind(addr(&format!("{CVIP}:5355"))).unwrap();
            // A client: bound to an ephemeral port and connected to one peer.
            let client = UdpSocket::bind(addr("127.0.0.1:0")).unwrap();
            client.connect(addr("127.0.0.1:5353")).unwrap();
            let client_port = client.local_addr().unwrap().port();

            let listeners = ListenerDump::new().unwrap().listeners().unwrap();
            let udp: BTreeSet<(IpAddr, u16)> = listeners
                .iter()
                .filter(|l| l.proto == Protocol::Udp)
                .map(|l| (l.addr, l.port))
                .collect();
            let want: BTreeSet<(IpAddr, u16)> = [
                ("0.0.0.0".parse().unwrap(), 5353),
                ("::".parse().unwrap(), 5354),
                (CVIP.parse().unwrap(), 5355),
            ]
            .into();
            assert_eq!(
                udp, want,
                "connected client port {client_port} must not be listed"
            );
            assert!(listeners.iter().all(|l| l.proto == Protocol::Udp));
            drop((wildcard4, wildcard6, on_cvip, client));
        })
        .unwrap();
}

#[test]
fn sockets_of_another_namespace_are_not_seen() {
    let _one = serialize();
    let here = Netns::new("lst-here").unwrap();
    let there = Netns::new("lst-there").unwrap();
    let (bound_tx, bound_rx) = std::sync::mpsc::channel();
    let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
    let holder = there
        .spawn_thread(move || {
            let _tcp = TcpListener::bind(addr("0.0.0.0:7070")).unwrap();
            let _udp = UdpSocket::bind(addr("0.0.0.0:7071")).unwrap();
            bound_tx.send(()).unwrap();
            done_rx.recv().ok();
        })
        .unwrap();
    bound_rx.recv().unwrap();

    let seen_here = here
        .run(|| ListenerDump::new().unwrap().listeners().unwrap())
        .unwrap();
    let seen_there = there
        .run(|| ListenerDump::new().unwrap().listeners().unwrap())
        .unwrap();
    done_tx.send(()).unwrap();
    holder.join().unwrap();

    assert!(seen_here.is_empty(), "{seen_here:?}");
    let ports: BTreeSet<(Protocol, u16)> = seen_there.iter().map(|l| (l.proto, l.port)).collect();
    assert_eq!(ports, [(Protocol::Tcp, 7070), (Protocol::Udp, 7071)].into());
}

#[test]
fn watcher_registers_weighted_ports_on_cvip_or_wildcard_and_unregisters_closed_ones() {
    let _one = serialize();
    let netns = real_server_netns("lst-watch");
    netns
        .run(|| {
            let ranges = vec![
                PortRange {
                    proto: Protocol::Tcp,
                    start: 80,
                    end: 90,
                },
                PortRange {
                    proto: Protocol::Udp,
                    start: 53,
                    end: 53,
                },
            ];
            let cvips = vec![CVIP.parse().unwrap(), CVIP6.parse().unwrap()];
            let mut watcher = Watcher::new(cvips, ranges).unwrap();
            assert!(watcher.poll_changes().unwrap().is_empty());

            let web = TcpListener::bind(addr("0.0.0.0:80")).unwrap();
            let own_address = TcpListener::bind(addr(&format!("{OWN}:85"))).unwrap();
            let unweighted = TcpListener::bind(addr("0.0.0.0:9999")).unwrap();
            let dns = UdpSocket::bind(addr("[::]:53")).unwrap();
            let tcp_on_udp_port = TcpListener::bind(addr("0.0.0.0:53")).unwrap();
            let changes = watcher.poll_changes().unwrap();
            let want: BTreeSet<Registration> = [(Protocol::Tcp, 80), (Protocol::Udp, 53)].into();
            assert_eq!(changes.added, want);
            assert!(changes.removed.is_empty());

            let on_cvip6 = TcpListener::bind(addr(&format!("[{CVIP6}]:86"))).unwrap();
            drop(web);
            let changes = watcher.poll_changes().unwrap();
            assert_eq!(changes.added, [(Protocol::Tcp, 86)].into());
            assert_eq!(changes.removed, [(Protocol::Tcp, 80)].into());
            assert_eq!(
                watcher.current(),
                &[(Protocol::Tcp, 86), (Protocol::Udp, 53)].into()
            );

            assert!(
                watcher.poll_changes().unwrap().is_empty(),
                "level-triggered: no news"
            );
            drop((own_address, unweighted, dns, tcp_on_udp_port, on_cvip6));
        })
        .unwrap();
}

#[test]
fn v6only_wildcard_listener_is_reported_and_serves_only_an_ipv6_cvip() {
    let _one = serialize();
    let netns = real_server_netns("lst-v6only");
    netns
        .run(|| {
            // New sockets in this namespace are v6-only, as with `bindv6only = 1` in sysctl.conf.
            std::fs::write("/proc/sys/net/ipv6/bindv6only", "1").unwrap();
            let v6only = TcpListener::bind(addr("[::]:80")).unwrap();
            let listeners = ListenerDump::new().unwrap().listeners().unwrap();
            assert!(
                find(&listeners, Protocol::Tcp, 80)[0].v6only,
                "{listeners:?}"
            );

            let ranges = vec![PortRange {
                proto: Protocol::Tcp,
                start: 80,
                end: 80,
            }];
            let mut v4_only_cvip =
                Watcher::new(vec![CVIP.parse().unwrap()], ranges.clone()).unwrap();
            assert!(
                v4_only_cvip.poll().unwrap().is_empty(),
                "IPv4 clients cannot reach it"
            );
            let mut v6_cvip = Watcher::new(vec![CVIP6.parse().unwrap()], ranges).unwrap();
            assert_eq!(v6_cvip.poll().unwrap(), [(Protocol::Tcp, 80)].into());
            drop(v6only);
        })
        .unwrap();
}

#[test]
fn an_unprivileged_user_lists_listeners_and_sees_their_owners() {
    const NOBODY: libc::uid_t = 65534;
    let _one = serialize();
    let netns = real_server_netns("lst-nobody");
    netns
        .run(|| {
            let roots = TcpListener::bind(addr("0.0.0.0:8080")).unwrap();
            // The raw syscall changes this thread's credentials only (glibc's setresuid would
            // change every thread of the test process); the thread ends with the closure.
            // SAFETY: plain syscall with integer arguments; it touches no memory of ours.
            let dropped = unsafe { libc::syscall(libc::SYS_setresuid, NOBODY, NOBODY, NOBODY) };
            assert_eq!(dropped, 0, "setresuid: {}", std::io::Error::last_os_error());

            let nobodys = TcpListener::bind(addr("0.0.0.0:8081")).unwrap();
            let listeners = ListenerDump::new().unwrap().listeners().unwrap();
            let owners: Vec<(u16, u32)> = listeners.iter().map(|l| (l.port, l.uid)).collect();
            assert_eq!(owners, vec![(8080, 0), (8081, NOBODY)]);
            drop((roots, nobodys));
        })
        .unwrap();
}

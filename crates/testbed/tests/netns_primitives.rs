//! The single-namespace primitives, against the real kernel (run as root).
#![allow(clippy::unwrap_used)]
use ssinet_testbed::netns::{NETNS_RUN_DIR, Netns, NetnsError};
use std::io::{BufRead as _, BufReader};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

fn connects(from: &Netns, to: &str) -> bool {
    let to: SocketAddr = to.parse().unwrap();
    from.run(|| TcpStream::connect_timeout(&to, Duration::from_secs(2)).is_ok())
        .unwrap()
}

/// Two namespaces joined by a veth pair.
fn pair() -> (Netns, Netns) {
    let a = Netns::new("a").unwrap();
    let b = Netns::new("b").unwrap();
    Netns::veth(&a, "eth0", &b, "eth0").unwrap();
    a.add_address("eth0", "10.9.0.1/24").unwrap();
    b.add_address("eth0", "10.9.0.2/24").unwrap();
    (a, b)
}

#[test]
fn a_namespace_is_named_visible_and_gone_after_drop() {
    let ns = Netns::new("visible").unwrap();
    assert!(
        ns.name()
            .starts_with(&format!("ssl{}x", std::process::id()))
    );
    assert!(ns.name().ends_with("-visible"));
    let path = Path::new(NETNS_RUN_DIR).join(ns.name());
    assert!(path.exists());
    // `ip netns exec` (what a person debugging uses) finds it, and `lo` is up in it.
    let out = Command::new("ip")
        .args(["netns", "exec", ns.name(), "ip", "-br", "link"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let links = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(links.starts_with("lo") && links.contains("UP"), "{links}");
    drop(ns);
    assert!(!path.exists());
}

#[test]
fn run_executes_inside_and_host_stays_untouched() {
    let ns = Netns::new("inside").unwrap();
    ns.add_address("lo", "10.77.0.1/32").unwrap();
    // A socket made inside `run` lives in the namespace: it binds the namespace's address.
    let listener = ns
        .run(|| TcpListener::bind("10.77.0.1:4000").unwrap())
        .unwrap();
    assert!(connects(&ns, "10.77.0.1:4000"));
    drop(listener);
    let inside = ns
        .run(|| std::fs::read_link("/proc/thread-self/ns/net").unwrap())
        .unwrap();
    let pinned = std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(ns.path()).unwrap());
    assert_eq!(inside.to_string_lossy(), format!("net:[{pinned}]"));
    assert_ne!(
        inside,
        std::fs::read_link("/proc/thread-self/ns/net").unwrap()
    );
    let addresses = ns
        .exec_ok(&["ip", "-4", "addr", "show", "dev", "lo"])
        .unwrap();
    assert!(addresses.contains("10.77.0.1/32"), "{addresses}");
    // The host's own namespace never got it (read only; no traffic leaves the namespace).
    let host = Command::new("ip")
        .args(["-4", "addr", "show"])
        .output()
        .unwrap();
    assert!(!String::from_utf8_lossy(&host.stdout).contains("10.77.0.1"));
}

#[test]
fn veth_pair_carries_traffic_and_neighbours_are_learnt() {
    let (a, b) = pair();
    let listener = b
        .run(|| TcpListener::bind("10.9.0.2:5000").unwrap())
        .unwrap();
    assert!(connects(&a, "10.9.0.2:5000"));
    drop(listener);
    let b_mac = b.ip(&["-j", "link", "show", "eth0"]).unwrap();
    let learnt = a.neighbour_mac("10.9.0.2").unwrap().expect("a resolved b");
    assert!(b_mac.contains(&learnt), "{learnt} not in {b_mac}");
}

#[test]
fn exec_ok_reports_the_failure_and_stderr() {
    let ns = Netns::new("fails").unwrap();
    let error = ns
        .exec_ok(&["ip", "link", "show", "nosuchlink"])
        .unwrap_err();
    assert!(matches!(error, NetnsError::Command { .. }));
    let message = error.to_string();
    assert!(
        message.contains("nosuchlink") && message.contains(ns.name()),
        "{message}"
    );
    let output = ns.exec(&["ip", "link", "show", "nosuchlink"]).unwrap();
    assert!(!output.status.success());
}

#[test]
fn spawned_processes_live_inside_and_die_with_their_guard() {
    let ns = Netns::new("spawn").unwrap();
    let mut command = ns.command("sh");
    command
        .args(["-c", "readlink /proc/self/ns/net; exec sleep 60"])
        .stdout(Stdio::piped());
    let mut child = ns.spawn(command).unwrap();
    let mut line = String::new();
    BufReader::new(child.take_stdout().unwrap())
        .read_line(&mut line)
        .unwrap();
    let expected = std::fs::read_link(format!("/proc/{}/ns/net", child.pid())).unwrap();
    let own = std::fs::read_link("/proc/self/ns/net").unwrap();
    assert_eq!(line.trim(), expected.to_string_lossy());
    assert_ne!(expected, own, "the child must not be in the host namespace");
    assert!(child.try_wait().unwrap().is_none());
    let pid = child.pid();
    drop(child);
    assert!(
        !Path::new(&format!("/proc/{pid}")).exists(),
        "the guard killed and reaped it"
    );
}

#[test]
fn dropping_the_namespace_kills_what_runs_inside() {
    let ns = Netns::new("killall").unwrap();
    let mut command = ns.command("sleep");
    command.arg("60");
    let mut child = ns.spawn(command).unwrap();
    drop(ns);
    let status = child.wait().unwrap();
    use std::os::unix::process::ExitStatusExt as _;
    assert_eq!(
        status.signal(),
        Some(9),
        "sleep 60 was SIGKILLed, not finished"
    );
}

#[test]
fn a_panic_inside_run_propagates_and_the_namespace_is_still_removed() {
    let ns = Netns::new("panics").unwrap();
    let path = ns.path();
    let outcome = std::panic::catch_unwind(|| {
        let ns = Netns::new("panics-inner").unwrap();
        let inner = ns.path();
        let _ = ns.run(|| panic!("boom inside"));
        inner
    });
    assert!(outcome.is_err());
    assert!(path.exists());
    drop(ns);
    assert!(!path.exists());
    let leftovers: Vec<String> = std::fs::read_dir(NETNS_RUN_DIR)
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|name| {
            name.starts_with(&format!("ssl{}x", std::process::id()))
                && name.ends_with("-panics-inner")
        })
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn bad_labels_are_refused() {
    assert!(matches!(
        Netns::new("Bad/Label"),
        Err(NetnsError::BadLabel { .. })
    ));
}

fn ns_link(netns: &Netns) -> String {
    let inode = std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(netns.path()).unwrap());
    format!("net:[{inode}]")
}

fn this_threads_netns() -> String {
    std::fs::read_link("/proc/thread-self/ns/net")
        .unwrap()
        .to_string_lossy()
        .into_owned()
}

#[test]
fn long_lived_threads_and_handles_enter_the_namespace() {
    let ns = Netns::new("threads").unwrap();
    let server = ns.spawn_thread(this_threads_netns).unwrap();
    assert_eq!(server.join().unwrap(), ns_link(&ns));
    // A handle is what e.g. tokio's `on_thread_start` gets: entering on a thread made elsewhere.
    let handle = ns.handle();
    let inside = std::thread::spawn(move || {
        handle.enter_current_thread().unwrap();
        this_threads_netns()
    });
    assert_eq!(inside.join().unwrap(), ns_link(&ns));
    assert_ne!(
        this_threads_netns(),
        ns_link(&ns),
        "the test thread never moved"
    );
}

#[test]
fn attach_refuses_what_is_not_a_namespace_and_leaves_what_it_does_not_own() {
    // A stale mount point without its mount (seq 0 is never handed out).
    let name = format!("ssl{}x0-notns", std::process::id());
    let path = Path::new(NETNS_RUN_DIR).join(&name);
    std::fs::write(&path, b"").unwrap();
    let refused = Netns::attach(&name);
    std::fs::remove_file(&path).unwrap();
    assert!(refused.is_err());

    let owner = Netns::new("owner").unwrap();
    let attached = Netns::attach(owner.name()).unwrap();
    assert!(!attached.is_owned());
    assert_eq!(
        attached
            .exec_ok(&["ip", "-br", "link", "show", "lo"])
            .unwrap()
            .split_whitespace()
            .next(),
        Some("lo")
    );
    drop(attached);
    assert!(
        owner.path().exists(),
        "dropping an attached namespace does not delete it"
    );
}

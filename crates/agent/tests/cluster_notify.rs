//! systemd readiness (`Type=notify` in deploy/ssinetd.service): an agent started with
//! `NOTIFY_SOCKET` says `READY=1` once it has joined the cluster (a leader is known and the
//! replicated state is there), and `STOPPING=1` when it is asked to stop.
#![allow(clippy::unwrap_used)]

mod common;

use std::os::unix::net::UnixDatagram;
use std::time::{Duration, Instant};

use common::Cluster;
use nix::sys::signal::Signal;

/// The next datagram on `socket` containing `what`, or a panic after a minute.
fn wait_for(socket: &UnixDatagram, what: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut buf = [0u8; 4096];
    loop {
        assert!(Instant::now() < deadline, "no {what:?} from the agent");
        if let Ok(n) = socket.recv(&mut buf) {
            let message = String::from_utf8_lossy(&buf[..n]).into_owned();
            if message.contains(what) {
                return message;
            }
        }
    }
}

#[test]
fn an_agent_tells_systemd_it_is_ready_once_it_joined_and_that_it_stops() {
    let mut cluster = Cluster::new(3, &[1, 2]);
    let path = cluster.dir.path().join("notify.sock");
    let socket = UnixDatagram::bind(&path).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let mut command = cluster.command(1);
    command.env("NOTIFY_SOCKET", &path);
    let log = std::fs::File::create(cluster.log_path(1)).unwrap();
    command.stdout(log.try_clone().unwrap()).stderr(log);
    let mut agent = cluster.lab.node(1).netns().spawn(command).unwrap();
    // Alone, node 1 cannot join: no quorum, no leader. Its peers come up a little later.
    std::thread::sleep(Duration::from_millis(500));
    cluster.start_node(2);
    cluster.start_node(3);
    let ready = wait_for(&socket, "READY=1");
    assert!(ready.contains("STATUS=joined the cluster"), "{ready}");
    cluster.wait_until_seeded(&[1, 2, 3]);

    agent.signal(Signal::SIGTERM).unwrap();
    wait_for(&socket, "STOPPING=1");
    assert!(agent.wait().unwrap().success());
}

//! ssinetd runs the remote-socket service: a process started with `ssi-exec --origin 1` on node 2
//! gets its connection from node 1, and both agents show it in `cvipctl rsock list` and count it
//! on `/metrics`, until the process ends. Real agents in a namespace lab (no IPVS needed).
#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use ssinet_lab::cluster::{Binaries, Cluster, rsock_socket_beside};
use ssinet_testbed::netns::LabSpec;
use ssinet_testbed::preload::preload_library;

const PATIENCE: Duration = Duration::from_secs(60);

/// A server in the client namespace that accepts one connection and reports what it read.
const HOLDING_SERVER: &str = "import socket,sys,time
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(('0.0.0.0', 9000))
s.listen(1)
print('listening', flush=True)
c, a = s.accept()
print('peer', a[0], flush=True)
print('got', c.recv(100).decode().strip(), flush=True)
time.sleep(120)
";

fn cvipctl(cluster: &Cluster, node: u8, args: &[&str]) -> String {
    let out = Command::new(cluster.binaries.cvipctl().unwrap())
        .arg("--socket")
        .arg(cluster.socket(node))
        .args(args)
        .output()
        .unwrap();
    assert!(out.status.success(), "cvipctl {args:?}: {out:?}");
    String::from_utf8(out.stdout).unwrap()
}

fn rsock_list(cluster: &Cluster, node: u8) -> serde_json::Value {
    serde_json::from_str(&cvipctl(cluster, node, &["--json", "rsock", "list"])).unwrap()
}

fn metrics(socket: &Path) -> String {
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "5", "--unix-socket"])
        .arg(socket)
        .arg("http://ssinetd/metrics")
        .output()
        .unwrap();
    String::from_utf8(out.stdout).unwrap()
}

fn profile_dir(ssinetd: &Path) -> PathBuf {
    ssinetd.parent().unwrap().to_path_buf()
}

#[test]
fn ssinetd_serves_ssi_exec_processes_and_lists_their_sockets() {
    let spec = LabSpec {
        nodes: 2,
        directors: vec![1, 2],
        ..LabSpec::default()
    };
    let cluster = Cluster::start(spec, Binaries::beside_current_exe().unwrap()).unwrap();
    cluster.wait_until_seeded(&[1, 2], PATIENCE).unwrap();
    let profile = profile_dir(&cluster.binaries.ssinetd);
    let preload = preload_library(&profile).unwrap();

    let mut server = cluster.lab.client().command("python3");
    server
        .args(["-u", "-c", HOLDING_SERVER])
        .stdout(Stdio::piped());
    let mut server = cluster.lab.client().spawn(server).unwrap();
    let mut said = BufReader::new(server.take_stdout().unwrap());
    let mut line = String::new();
    said.read_line(&mut line).unwrap();
    assert_eq!(line.trim(), "listening");

    let client = cluster.lab.client_ip().to_string();
    let mut nc = cluster
        .lab
        .node(2)
        .netns()
        .command(profile.join("ssi-exec"));
    nc.arg("--origin")
        .arg("1")
        .arg("--preload")
        .arg(&preload)
        .arg("--broker")
        .arg(rsock_socket_beside(&cluster.socket(2)))
        .args(["--", "nc", &client, "9000"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null());
    let mut nc = cluster.lab.node(2).netns().spawn(nc).unwrap();
    let mut nc_input = nc.take_stdin().unwrap();
    nc_input.write_all(b"hello\n").unwrap();
    let mut peer = String::new();
    said.read_line(&mut peer).unwrap();
    assert_eq!(
        peer.trim(),
        format!("peer {}", cluster.lab.node(1).external_ip())
    );
    let mut got = String::new();
    said.read_line(&mut got).unwrap();
    assert_eq!(got.trim(), "got hello");

    // Node 2 lists the process's socket, node 1 the real socket it holds for node 2.
    let target = format!("{client}:9000");
    cluster
        .eventually(
            "node 2 to list nc's socket with its 6 bytes",
            PATIENCE,
            || {
                let list = rsock_list(&cluster, 2);
                let sockets = list["sockets"].as_array().unwrap();
                sockets.len() == 1
                    && sockets[0]["role"] == "local"
                    && sockets[0]["origin"] == 1
                    && sockets[0]["process"] == "nc"
                    && sockets[0]["state"] == "connected"
                    && sockets[0]["peer"] == target.as_str()
                    && sockets[0]["bytes_out"] == 6
            },
        )
        .unwrap();
    let served = rsock_list(&cluster, 1);
    let served = served["sockets"].as_array().unwrap();
    assert_eq!(served.len(), 1, "{served:?}");
    assert_eq!(served[0]["role"], "served");
    assert_eq!(served[0]["node"], 2);
    assert_eq!(served[0]["state"], "connected");
    assert_eq!(served[0]["peer"], target.as_str());
    // Counted as the process sees it: the 6 bytes it sent are "out" on both nodes.
    assert_eq!(served[0]["bytes_out"], 6, "{served:?}");
    let table = cvipctl(&cluster, 2, &["rsock", "list"]);
    let row = table
        .lines()
        .find(|l| l.contains(" nc "))
        .unwrap_or_else(|| panic!("{table}"));
    assert!(
        row.contains("connected") && row.contains(&target),
        "{table}"
    );
    let page = metrics(&cluster.socket(2));
    assert!(page.contains("\nssinet_rsock_sockets_open 1\n"), "{page}");
    assert!(
        page.contains("\nssinet_rsock_sockets_created_total 1\n"),
        "{page}"
    );
    assert!(
        page.contains("\nssinet_rsock_sent_bytes_total 6\n"),
        "{page}"
    );

    // When the process ends, both agents let go of the socket.
    nc.kill().unwrap();
    cluster
        .eventually("both agents to drop the socket", PATIENCE, || {
            [1, 2].iter().all(|n| {
                rsock_list(&cluster, *n)["sockets"]
                    .as_array()
                    .is_some_and(Vec::is_empty)
            })
        })
        .unwrap();
    assert!(metrics(&cluster.socket(2)).contains("\nssinet_rsock_sockets_open 0\n"));
}

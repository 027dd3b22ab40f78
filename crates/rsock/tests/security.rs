//! What the origin lets a caller do (the kernel's rules, applied to the caller's credentials),
//! who may talk to an agent at all, and what an application sees when its origin agent dies.
#![allow(clippy::unwrap_used)]

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::process::Stdio;
use std::sync::Arc;

use common::{Cluster, PORT, script};
use ssinet_interconnect::NodeId;
use ssinet_interconnect::identity::{NodeIdentity, server_name};
use ssinet_interconnect::pki::{self, PkiNode};

const NOBODY: [&str; 4] = [
    "setpriv",
    "--reuid=65534",
    "--regid=65534",
    "--clear-groups",
];

/// The result lines of `creds.py` for `argv`, run as given on `node`, homed on `origin`.
fn creds(cluster: &Cluster, node: u8, origin: Option<u8>, argv: &[&str]) -> Vec<String> {
    let out = match origin {
        Some(origin) => cluster.ssi_exec(node, origin, argv).output().unwrap(),
        None => cluster
            .lab
            .node(node)
            .netns()
            .command(argv[0])
            .args(&argv[1..])
            .output()
            .unwrap(),
    };
    assert!(
        out.status.success(),
        "{argv:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_owned)
        .collect()
}

#[test]
fn the_origin_applies_the_callers_credentials_as_the_kernel_would() {
    let cluster = Cluster::up(2);
    // Unprivileged processes reach the broker sockets in the cluster directory.
    std::fs::set_permissions(cluster.dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let ip = cluster.external(1).to_string();
    let creds_py = script("creds.py");
    let nobody = |ip: &str| -> Vec<String> {
        NOBODY
            .iter()
            .map(|s| s.to_string())
            .chain(["/usr/bin/python3", &creds_py, ip, "80", "8080"].map(str::to_owned))
            .collect()
    };
    let as_root = ["python3", creds_py.as_str(), &ip, "81", "8081"];

    for (origin, origin_ip) in [(1u8, ip.clone()), (2, cluster.external(2).to_string())] {
        let argv = nobody(&origin_ip);
        let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
        // The kernel's own answer on the origin, for a plain process.
        let plain = creds(&cluster, origin, None, &argv);
        assert_eq!(plain, ["bind_low errno=13", "bind_high ok"]);
        // The same process on node 2, homed on the origin, gets the same answers: the agent
        // (root, CAP_NET_BIND_SERVICE) does not lend it its own privileges.
        assert_eq!(
            creds(&cluster, 2, Some(origin), &argv),
            plain,
            "homed on {origin}"
        );
    }
    // Root may.
    assert_eq!(
        creds(&cluster, 2, Some(1), &as_root),
        ["bind_low ok", "bind_high ok"]
    );

    // SO_REUSEPORT: another user's socket on the same port cannot join the group, as with
    // plain sockets (the kernel compares the owners' uids; through the proxy all real sockets
    // belong to the agent, so the origin compares the callers').
    let mut holder = cluster.ssi_exec(
        2,
        1,
        &["python3", &creds_py, &ip, "9501", "9502", "9500", "--hold"],
    );
    holder.stdin(Stdio::piped()).stdout(Stdio::piped());
    let mut holder = holder.spawn().unwrap();
    let mut out = BufReader::new(holder.stdout.take().unwrap());
    for expected in ["bind_low ok", "bind_high ok", "bind_reuseport ok"] {
        let mut line = String::new();
        out.read_line(&mut line).unwrap();
        assert_eq!(line.trim(), expected);
    }
    let thief: Vec<&str> = NOBODY
        .iter()
        .copied()
        .chain(["/usr/bin/python3", &creds_py, &ip, "9503", "9504", "9500"])
        .collect();
    assert_eq!(
        creds(&cluster, 2, Some(1), &thief),
        ["bind_low ok", "bind_high ok", "bind_reuseport errno=98"]
    );
    drop(holder.stdin.take());
    holder.wait().unwrap();
}

#[test]
fn only_cluster_peers_with_the_cluster_ca_may_talk_to_an_agent() {
    let cluster = Cluster::up(2);
    // A certificate for node 2 from another CA, presented from node 2's own address.
    let other = tempfile::tempdir().unwrap();
    pki::init(
        &[PkiNode {
            node: NodeId(2),
            interconnect_ip: cluster.interconnect(2).into(),
        }],
        other.path(),
        false,
    )
    .unwrap();
    let stranger = NodeIdentity::load(&other.path().join("node2"), NodeId(2)).unwrap();
    let target = std::net::SocketAddr::from((cluster.interconnect(1), PORT));
    let outcome = cluster
        .lab
        .node(2)
        .netns()
        .run(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                let tcp = tokio::net::TcpStream::connect(target).await.unwrap();
                let connector =
                    tokio_rustls::TlsConnector::from(Arc::clone(&stranger.client_config()));
                let tls = tokio::time::timeout(
                    std::time::Duration::from_secs(5),
                    connector.connect(server_name(NodeId(1)), tcp),
                )
                .await
                .expect("the handshake neither finished nor failed within 5 s");
                match tls {
                    Err(e) => format!("refused: {e}"),
                    Ok(mut stream) => {
                        // TLS 1.3 servers check the client certificate after the client's
                        // Finished: the refusal shows up as the first read.
                        use tokio::io::AsyncReadExt;
                        let mut buf = [0u8; 16];
                        match stream.read(&mut buf).await {
                            Ok(0) => "refused: closed".into(),
                            Ok(n) => format!("answered {n} bytes"),
                            Err(e) => format!("refused: {e}"),
                        }
                    }
                }
            })
        })
        .unwrap();
    assert!(outcome.starts_with("refused"), "{outcome}");

    // A data connection with a made-up token is closed without a byte.
    let said = cluster
        .lab
        .node(2)
        .netns()
        .run(move || {
            let mut tcp = std::net::TcpStream::connect(target).unwrap();
            tcp.set_read_timeout(Some(std::time::Duration::from_secs(5)))
                .unwrap();
            tcp.write_all(format!("RSOCK-DATA {:032x}\n", 0xdead_beef_u128).as_bytes())
                .unwrap();
            let mut buf = Vec::new();
            tcp.read_to_end(&mut buf).map(|_| buf.len())
        })
        .unwrap();
    assert_eq!(said.unwrap(), 0);

    // An address that is no cluster node's interconnect address is turned away at once.
    let said = cluster
        .lab
        .client()
        .run(move || {
            let external = std::net::SocketAddr::from((cluster_external_of_node1(), PORT));
            std::net::TcpStream::connect(external).map(|_| ())
        })
        .unwrap();
    // Node 1's rsock port listens only on the interconnect, so the external side refuses.
    assert!(said.is_err());
}

fn cluster_external_of_node1() -> std::net::Ipv4Addr {
    // The lab's address plan (crates/testbed): node N is 192.168.200.(10+N) outside.
    std::net::Ipv4Addr::new(192, 168, 200, 11)
}

/// A connection of `hold.py` on node 2 homed on node 1, to a server in the client namespace.
fn held_connection(
    cluster: &Cluster,
) -> (
    ssinet_testbed::netns::NetnsChild,
    std::process::Child,
    BufReader<std::process::ChildStdout>,
) {
    let mut server = cluster.lab.client().command("python3");
    server.args(["-u", &script("count_server.py"), "9000"]);
    server.stdout(Stdio::piped());
    let mut server = cluster.lab.client().spawn(server).unwrap();
    let mut line = String::new();
    BufReader::new(server.take_stdout().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(line.trim(), "listening");
    let client = cluster.lab.client_ip().to_string();
    let mut app = cluster.ssi_exec(
        2,
        1,
        &["python3", "-u", &script("hold.py"), &client, "9000"],
    );
    app.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    let mut app = app.spawn().unwrap();
    let mut out = BufReader::new(app.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    assert_eq!(line.trim(), "connected");
    (server, app, out)
}

/// Tells `hold.py` the origin is gone, then checks it saw EOF (or a reset) within 3 s.
fn assert_ended_within_3_s(
    app: &mut std::process::Child,
    out: &mut BufReader<std::process::ChildStdout>,
) {
    app.stdin.as_mut().unwrap().write_all(b"go\n").unwrap();
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    let words: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(words.first(), Some(&"ended"), "{line}");
    assert!(
        words[1].starts_with("eof") || words[1] == "reset",
        "the application saw {line}"
    );
    let seconds: f64 = words[2].parse().unwrap();
    assert!(seconds < 3.0, "the end took {seconds} s: {line}");
    app.wait().unwrap();
}

#[test]
fn when_the_origin_node_falls_silent_the_application_gets_eof_within_3_s() {
    let cluster = Cluster::up(2);
    let (_server, mut app, mut out) = held_connection(&cluster);
    // No FIN, no RST: node 1 just stops answering (its links are cut at the switch).
    cluster.lab.partition(1).unwrap();
    assert_ended_within_3_s(&mut app, &mut out);
}

#[test]
fn when_the_origin_agent_dies_the_application_gets_eof_within_3_s_and_a_restart_is_a_new_epoch() {
    let mut cluster = Cluster::up(2);
    let (_server, mut app, mut out) = held_connection(&cluster);
    let old_epoch = cluster.epochs[0].clone();
    cluster.kill_agent(1);
    assert_ended_within_3_s(&mut app, &mut out);

    let new_epoch = cluster.restart_agent(1);
    assert_ne!(
        new_epoch, old_epoch,
        "a restarted agent must not reuse its socket ids"
    );
    // And the restarted origin serves new sockets.
    let client = cluster.lab.client_ip().to_string();
    let out = cluster
        .ssi_exec(2, 1, &["nc", "-z", "-w", "5", &client, "9000"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
}

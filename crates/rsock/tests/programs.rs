//! Unmodified programs (curl, python3 http.server and socket, nc) run on node 2 with their sockets
//! homed on node 1 (and locally), in a namespace cluster.
#![allow(clippy::unwrap_used)]

mod common;

use std::io::{BufRead, BufReader, Read};
use std::process::Stdio;
use std::time::Duration;

use common::{Cluster, script, wait_for};

/// A python HTTP server in the client namespace that logs each request's peer address.
fn client_http_server(
    cluster: &Cluster,
    port: u16,
) -> (ssinet_testbed::netns::NetnsChild, std::process::ChildStderr) {
    let mut cmd = cluster.lab.client().command("python3");
    cmd.args([
        "-u",
        "-m",
        "http.server",
        "--bind",
        "0.0.0.0",
        &port.to_string(),
    ]);
    cmd.current_dir(cluster.dir.path());
    cmd.stdout(Stdio::null()).stderr(Stdio::piped());
    let mut child = cluster.lab.client().spawn(cmd).unwrap();
    let stderr = child.take_stderr().unwrap();
    let ip = cluster.lab.client_ip().to_string();
    let up = wait_for(Duration::from_secs(10), || {
        cluster
            .lab
            .client()
            .exec(&[
                "curl",
                "-sf",
                "-o",
                "/dev/null",
                &format!("http://{ip}:{port}/"),
            ])
            .ok()
            .filter(|o| o.status.success())
    });
    assert!(
        up.is_some(),
        "http.server in the client namespace did not come up"
    );
    (child, stderr)
}

#[test]
fn curl_on_node2_homed_on_node1_reaches_the_client_from_node1s_address() {
    let cluster = Cluster::up(2);
    std::fs::write(
        cluster.dir.path().join("hello.txt"),
        "hello from the client side\n",
    )
    .unwrap();
    let (_server, stderr) = client_http_server(&cluster, 8080);
    let url = format!("http://{}:8080/hello.txt", cluster.lab.client_ip());
    for origin in [1u8, 2] {
        let out = cluster
            .ssi_exec(2, origin, &["curl", "-sS", "--max-time", "10", &url])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "curl homed on {origin} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            "hello from the client side\n"
        );
    }
    // The server's log names the peer of each request: first node 1's address, then node 2's.
    drop(_server);
    let mut log = String::new();
    BufReader::new(stderr).read_to_string(&mut log).unwrap();
    let peers: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("GET /hello.txt"))
        .map(|l| l.split(' ').next().unwrap())
        .collect();
    assert_eq!(
        peers,
        vec![
            cluster.external(1).to_string(),
            cluster.external(2).to_string()
        ],
        "server log:\n{log}"
    );
}

#[test]
fn python_http_server_on_node2_homed_on_node1_answers_on_node1s_address() {
    let cluster = Cluster::up(2);
    std::fs::write(
        cluster.dir.path().join("page.txt"),
        "served from node 2, homed on node 1\n",
    )
    .unwrap();
    let mut cmd = cluster.ssi_exec(
        2,
        1,
        &[
            "python3",
            "-u",
            "-m",
            "http.server",
            "--bind",
            "0.0.0.0",
            "8000",
        ],
    );
    cmd.current_dir(cluster.dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut server = cluster.lab.node(2).netns().spawn(cmd).unwrap();
    let stdout = server.take_stdout().unwrap();
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).unwrap();
    assert!(line.contains("Serving HTTP"), "server said {line:?}");
    let url = format!("http://{}:8000/page.txt", cluster.external(1));
    for _ in 0..3 {
        let body = cluster
            .lab
            .client()
            .exec_ok(&["curl", "-sS", "--max-time", "10", &url])
            .unwrap();
        assert_eq!(body, "served from node 2, homed on node 1\n");
    }
    // Nothing listens on node 2 itself.
    let direct = cluster
        .lab
        .client()
        .exec(&[
            "curl",
            "-sS",
            "--max-time",
            "5",
            &format!("http://{}:8000/page.txt", cluster.external(2)),
        ])
        .unwrap();
    assert!(!direct.status.success());
    server.kill().unwrap();
    let mut log = String::new();
    server
        .take_stderr()
        .unwrap()
        .read_to_string(&mut log)
        .unwrap();
    assert!(
        log.contains(&format!("{} - - ", cluster.lab.client_ip())),
        "peer in server log:\n{log}"
    );
}

/// A python server in the client namespace that prints one line per event on stdout.
fn client_script_server(
    cluster: &Cluster,
    argv: &[&str],
) -> (
    ssinet_testbed::netns::NetnsChild,
    BufReader<std::process::ChildStdout>,
) {
    let mut cmd = cluster.lab.client().command("python3");
    cmd.arg("-u").args(argv);
    cmd.stdout(Stdio::piped()).stderr(Stdio::inherit());
    let mut child = cluster.lab.client().spawn(cmd).unwrap();
    let mut out = BufReader::new(child.take_stdout().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    assert_eq!(line.trim(), "listening", "server said {line:?}");
    (child, out)
}

#[test]
fn nc_half_close_and_refused_connections_behave_as_on_a_plain_socket() {
    let cluster = Cluster::up(2);
    // A server that reads until the client's FIN, then answers how much it got and closes.
    let (_server, _out) = client_script_server(&cluster, &[&script("count_server.py"), "9000"]);
    let client = cluster.lab.client_ip().to_string();
    for origin in [1u8, 2] {
        let mut cmd = cluster.ssi_exec(2, origin, &["nc", "-N", "-w", "10", &client, "9000"]);
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().unwrap();
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(b"hello, half-closed world\n")
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "nc -N failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        // The answer arrives after nc's own FIN: the half-close travelled and the read side stayed open.
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            format!("got 25 bytes from {}", cluster.external(origin))
        );
    }
    // -z: an open port succeeds, a closed one is refused (fast, not a timeout).
    for origin in [1u8, 2] {
        let open = cluster
            .ssi_exec(2, origin, &["nc", "-z", "-w", "5", &client, "9000"])
            .output()
            .unwrap();
        assert!(open.status.success(), "nc -z to an open port: {open:?}");
        let refused = cluster
            .ssi_exec(2, origin, &["nc", "-v", "-z", "-w", "5", &client, "9001"])
            .output()
            .unwrap();
        assert!(
            !refused.status.success(),
            "nc -z to a closed port succeeded"
        );
        let said = String::from_utf8_lossy(&refused.stderr);
        assert!(said.contains("refused"), "nc said: {said}");
    }
}

/// 256 MiB each way, byte-exact (SHA-256 computed independently at both ends).
#[test]
fn a_256_mib_transfer_arrives_byte_exact_in_both_directions() {
    const SIZE: u64 = 256 << 20;
    let cluster = Cluster::up(2);
    let bulk = script("bulk.py");
    let (_server, mut server_out) = client_script_server(&cluster, &[&bulk, "serve", "9100"]);
    let client = cluster.lab.client_ip().to_string();
    let size = SIZE.to_string();
    for origin in [1u8, 2] {
        let seed = format!("seed-{origin}");
        let up = cluster
            .ssi_exec(
                2,
                origin,
                &["python3", &bulk, "up", &client, "9100", &size, &seed],
            )
            .output()
            .unwrap();
        assert!(
            up.status.success(),
            "upload: {}",
            String::from_utf8_lossy(&up.stderr)
        );
        let said = String::from_utf8_lossy(&up.stdout).to_string();
        let words: Vec<&str> = said.split_whitespace().collect();
        let mut line = String::new();
        server_out.read_line(&mut line).unwrap();
        let server: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(server, ["up", words[1], &size], "client said {said}");
        assert_eq!(
            words[4], words[1],
            "the server's hash as the client read it: {said}"
        );

        let down = cluster
            .ssi_exec(
                2,
                origin,
                &["python3", &bulk, "down", &client, "9100", &size, &seed],
            )
            .output()
            .unwrap();
        assert!(
            down.status.success(),
            "download: {}",
            String::from_utf8_lossy(&down.stderr)
        );
        let said = String::from_utf8_lossy(&down.stdout).to_string();
        let mut line = String::new();
        server_out.read_line(&mut line).unwrap();
        let server: Vec<&str> = line.split_whitespace().collect();
        let client_words: Vec<&str> = said.split_whitespace().collect();
        assert_eq!(
            client_words,
            ["received", server[1], &size],
            "server said {line}"
        );
        // Same seed, same stream: what went up is what came down.
        assert_eq!(server[1], words[1]);
    }
}

#[test]
fn ssi_exec_refuses_an_origin_that_is_no_cluster_node_and_names_the_nodes() {
    let cluster = Cluster::up(2);
    let out = cluster.ssi_exec(2, 7, &["true"]).output().unwrap();
    assert!(!out.status.success());
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(
        said.contains("--origin 7: not a node this agent can home sockets on (nodes: 1,2)"),
        "ssi-exec said: {said}"
    );
    let ok = cluster.ssi_exec(2, 1, &["true"]).output().unwrap();
    assert!(ok.status.success(), "{ok:?}");
}

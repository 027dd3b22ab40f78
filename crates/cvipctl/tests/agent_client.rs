//! cvipctl as a client of the admin socket, against a small in-test server that answers canned
//! HTTP responses: what is sent, what the operator reads, and which exit code scripts see. The
//! real cluster behind the socket is tested end to end with ssinetd (crates/agent).
#![allow(clippy::unwrap_used)]

use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::thread::JoinHandle;

use serde_json::{Value, json};
use ssinet_api::{ClusterApp, ClusterState};
use ssinet_config::{ClusterConfig, ConfigPaths};

fn repo(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(relative)
}

fn cvipctl(socket: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cvipctl"))
        .arg("--socket")
        .arg(socket)
        .arg("--timeout")
        .arg("10")
        .args(args)
        .output()
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8(bytes.to_vec()).unwrap()
}

/// One request as the fake agent received it.
#[derive(Debug)]
struct Request {
    method: String,
    path: String,
    body: Vec<u8>,
}

/// A unix socket answering each connection with the next canned response, then closing.
struct FakeAgent {
    dir: tempfile::TempDir,
    thread: Option<JoinHandle<Vec<Request>>>,
}

impl FakeAgent {
    /// `answers`: (HTTP status, body) in the order requests will arrive.
    fn serve(answers: Vec<(u16, String)>) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let listener = UnixListener::bind(dir.path().join("admin.sock")).unwrap();
        let thread = std::thread::spawn(move || {
            let mut seen = Vec::new();
            for (status, body) in answers {
                let (mut stream, _) = listener.accept().unwrap();
                seen.push(read_request(&mut stream));
                let reply = format!(
                    "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: \
                     {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                stream.write_all(reply.as_bytes()).unwrap();
            }
            seen
        });
        Self {
            dir,
            thread: Some(thread),
        }
    }

    fn socket(&self) -> PathBuf {
        self.dir.path().join("admin.sock")
    }

    /// Every request received; panics unless all canned answers were used.
    fn requests(mut self) -> Vec<Request> {
        self.thread.take().unwrap().join().unwrap()
    }
}

fn read_request(stream: &mut std::os::unix::net::UnixStream) -> Request {
    let mut bytes = Vec::new();
    let mut buf = [0u8; 4096];
    let head_end = loop {
        let n = stream.read(&mut buf).unwrap();
        assert!(n > 0, "the client closed before sending a whole request");
        bytes.extend_from_slice(&buf[..n]);
        if let Some(at) = bytes.windows(4).position(|w| w == b"\r\n\r\n") {
            break at;
        }
    };
    let head = text(&bytes[..head_end]);
    let length: usize = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-length:")
                .map(|v| v.trim().parse().unwrap())
        })
        .unwrap_or(0);
    while bytes.len() < head_end + 4 + length {
        let n = stream.read(&mut buf).unwrap();
        assert!(n > 0);
        bytes.extend_from_slice(&buf[..n]);
    }
    let mut first = head.lines().next().unwrap().split(' ');
    Request {
        method: first.next().unwrap().into(),
        path: first.next().unwrap().into(),
        body: bytes[head_end + 4..].to_vec(),
    }
}

fn dr_config() -> ClusterConfig {
    let dir = repo("conf/dr");
    let paths = ConfigPaths {
        clustertab: dir.join("clustertab"),
        cvip_conf: dir.join("cvip.conf"),
        lvs_routing: dir.join("absent"),
        lvs_routing_required: false,
    };
    ClusterConfig::load(&paths).unwrap().config
}

fn dr_state_json() -> String {
    let mut state = ClusterState::default();
    let response = ClusterApp::apply(&mut state, &ssinet_api::Command::Bootstrap(dr_config()));
    assert!(response.is_applied());
    serde_json::to_string(&state).unwrap()
}

fn status_json(quorum: bool, leader: Option<u32>) -> String {
    let node = |num: u32, role: &str| {
        json!({"num": num, "ip": format!("10.0.0.{num}"), "director_capable": num < 3,
               "voter": true, "reachable": role != "unknown", "role": role})
    };
    json!({
        "node": 2, "role": "follower", "term": 5, "leader": leader, "commit_index": 9,
        "last_applied": 9, "quorum": quorum,
        "nodes": [node(1, if leader.is_some() { "leader" } else { "unknown" }),
                  node(2, "follower"), node(3, "unknown")]
    })
    .to_string()
}

#[test]
fn no_agent_means_exit_3_and_how_to_start_it() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("admin.sock");
    let out = cvipctl(&socket, &["status"]);
    assert_eq!(out.status.code(), Some(3));
    let stderr = text(&out.stderr);
    assert!(
        stderr.starts_with(&format!(
            "cvipctl: ssinetd is not running on this node: cannot connect to {}",
            socket.display()
        )),
        "{stderr}"
    );
    assert!(
        stderr.contains("start it with systemctl start ssinetd"),
        "{stderr}"
    );

    // A socket file left behind by a dead agent: connection refused, same answer.
    drop(UnixListener::bind(&socket).unwrap());
    let out = cvipctl(&socket, &["cvip", "list"]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("ssinetd is not running on this node"));
}

#[test]
fn a_user_who_may_not_open_the_socket_is_told_so() {
    let agent = FakeAgent::serve(vec![]);
    std::fs::set_permissions(agent.dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(agent.socket(), std::fs::Permissions::from_mode(0o600)).unwrap();
    // A copy nobody may run: the build's own path may sit below a directory only root enters
    // (a checkout under /root), and then the test would see EACCES from exec, not cvipctl's.
    let bin_dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(bin_dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let bin = bin_dir.path().join("cvipctl");
    std::fs::copy(env!("CARGO_BIN_EXE_cvipctl"), &bin).unwrap();
    std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755)).unwrap();
    // Another test thread's fork may still hold the copy's write descriptor for a moment
    // (ETXTBSY until that child execs).
    let mut tries = 0;
    let out = loop {
        tries += 1;
        let run = Command::new(&bin)
            .arg("--socket")
            .arg(agent.socket())
            .arg("status")
            .uid(65534)
            .gid(65534)
            .output();
        match run {
            Err(e) if e.kind() == std::io::ErrorKind::ExecutableFileBusy && tries < 100 => {
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            other => break other.unwrap(),
        }
    };
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("permission denied; the admin socket is for root only"),
        "{}",
        text(&out.stderr)
    );
    assert!(agent.requests().is_empty());
}

#[test]
fn port_weight_set_sends_openssi_spelling_as_one_command() {
    let applied =
        json!({"outcome": "applied", "summary": "added udp ports 8000-8010 with weight 3"});
    let agent = FakeAgent::serve(vec![(200, applied.to_string())]);
    let out = cvipctl(
        &agent.socket(),
        &[
            "port-weight",
            "set",
            "--start-port",
            "8000",
            "--end-port",
            "8010",
            "--weight",
            "3",
            "--proto",
            "UDP",
            "--node",
            "2",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout),
        "added udp ports 8000-8010 with weight 3\n"
    );
    let requests = agent.requests();
    assert_eq!(
        (requests[0].method.as_str(), requests[0].path.as_str()),
        ("POST", "/v1/commands")
    );
    let body: Value = serde_json::from_slice(&requests[0].body).unwrap();
    assert_eq!(
        body,
        json!({"command": "set_port_weight", "proto": "Udp", "start_port": 8000,
               "end_port": 8010, "weight": 3, "node": 2})
    );
}

#[test]
fn a_rejected_command_prints_every_reason_and_exits_1() {
    let rejected = json!({"outcome": "rejected", "problems": [
        "<port_weight>: tcp ports 80-90 overlap tcp ports 80-80 (both are default ranges) \
         (expected port ranges that do not overlap, per protocol)"]});
    let agent = FakeAgent::serve(vec![
        (422, rejected.to_string()),
        (422, rejected.to_string()),
    ]);
    let out = cvipctl(
        &agent.socket(),
        &[
            "port-weight",
            "set",
            "--start-port",
            "80",
            "--end-port",
            "90",
            "--weight",
            "1",
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        text(&out.stderr),
        "cvipctl: the cluster rejected the change; nothing was changed:\n  <port_weight>: tcp \
         ports 80-90 overlap tcp ports 80-80 (both are default ranges) (expected port ranges \
         that do not overlap, per protocol)\n"
    );
    // Scripts get the same answer as JSON on stdout, and the same exit code.
    let out = cvipctl(&agent.socket(), &["--json", "director", "del", "2"]);
    assert_eq!(out.status.code(), Some(1));
    let answer: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(answer["outcome"], "rejected");
    let requests = agent.requests();
    let body: Value = serde_json::from_slice(&requests[1].body).unwrap();
    assert_eq!(body, json!({"command": "del_director", "node": 2}));
}

#[test]
fn no_quorum_or_no_leader_exits_4_with_what_it_means() {
    let agent = FakeAgent::serve(vec![
        (
            503,
            json!({"code": "no_quorum", "message": "leader 1 reaches 1 of 3 voters"}).to_string(),
        ),
        (
            503,
            json!({"code": "no_leader", "message": "no leader elected"}).to_string(),
        ),
        (200, status_json(false, None)),
    ]);
    let out = cvipctl(&agent.socket(), &["cvip", "del", "192.168.200.10"]);
    assert_eq!(out.status.code(), Some(4));
    assert_eq!(
        text(&out.stderr),
        "cvipctl: the cluster has no quorum, so nothing can be changed now: leader 1 reaches 1 \
         of 3 voters (a majority of the voters must reach each other; see `cvipctl status`)\n"
    );
    let out = cvipctl(
        &agent.socket(),
        &["director", "add", "3", "--garp-interface", "eth1"],
    );
    assert_eq!(out.status.code(), Some(4));
    assert!(text(&out.stderr).contains("the cluster has no leader right now: no leader elected"));
    // `status` still shows what it knows, and says why the cluster cannot take writes.
    let out = cvipctl(&agent.socket(), &["status"]);
    assert_eq!(out.status.code(), Some(4));
    let stdout = text(&out.stdout);
    assert!(
        stdout.starts_with("Node 2: follower, term 5, leader none, quorum no\n"),
        "{stdout}"
    );
    assert!(
        stdout.contains("\n3     10.0.0.3  unknown   no        yes    no\n"),
        "{stdout}"
    );
    assert!(text(&out.stderr).contains("the cluster cannot take writes now: no leader is known"));
    agent.requests();
}

#[test]
fn an_answer_cvipctl_cannot_read_exits_5() {
    let agent = FakeAgent::serve(vec![(200, "<html>not json</html>".into())]);
    let out = cvipctl(&agent.socket(), &["status"]);
    assert_eq!(out.status.code(), Some(5));
    assert!(
        text(&out.stderr).contains("ssinetd answered 200 with a body cvipctl does not understand")
    );
    agent.requests();
}

#[test]
fn status_and_lists_read_the_state_as_tables_and_json() {
    let state = dr_state_json();
    let agent = FakeAgent::serve(vec![
        (200, status_json(true, Some(1))),
        (200, state.clone()),
        (200, state.clone()),
        (200, status_json(true, Some(1))),
        (200, state.clone()),
        (200, state),
    ]);
    let socket = agent.socket();
    let out = cvipctl(&socket, &["--json", "status"]);
    assert_eq!(out.status.code(), Some(0));
    let status: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(status["leader"], 1);

    let out = cvipctl(&socket, &["cvip", "list"]);
    assert_eq!(
        text(&out.stdout),
        "CVIP            GATEWAY        DIRECTORS         REAL-SERVERS  SCHEDULER\n\
         192.168.200.10  192.168.200.1  1(eth1), 2(eth1)  1, 2, 3       mh (mh-port)\n"
    );
    let out = cvipctl(&socket, &["port-weight", "list"]);
    assert_eq!(
        text(&out.stdout),
        "PROTO  START  END   WEIGHT  NODE  LISTENING\n\
         tcp    80     80    1       all   -\n\
         tcp    443    443   1       all   -\n\
         tcp    80     80    2       3     -\n\
         udp    5060   5061  1       all   -\n"
    );
    let out = cvipctl(&socket, &["lvs"]);
    assert_eq!(
        text(&out.stdout),
        "CVIP            DIRECTOR  ROUTING  DIRECTOR-CAPABLE\n\
         192.168.200.10  1         DR       1, 2\n"
    );
    let out = cvipctl(&socket, &["--json", "director", "list"]);
    let directors: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        directors,
        json!([{"node": 1, "garp_interface": "eth1", "sync_interface": "eth0", "cvips": ["192.168.200.10"]},
               {"node": 2, "garp_interface": "eth1", "sync_interface": "eth0", "cvips": ["192.168.200.10"]}])
    );
    let requests = agent.requests();
    assert!(requests.iter().all(|r| r.method == "GET"));
    assert_eq!(requests[1].path, "/v1/state");
}

#[test]
fn config_export_writes_files_that_read_back_the_same() {
    let agent = FakeAgent::serve(vec![(200, dr_state_json()), (200, dr_state_json())]);
    let out_dir = tempfile::tempdir().unwrap();
    let out = cvipctl(
        &agent.socket(),
        &[
            "config",
            "export",
            "--out",
            out_dir.path().to_str().unwrap(),
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let paths = ConfigPaths {
        clustertab: out_dir.path().join("clustertab"),
        cvip_conf: out_dir.path().join("cvip.conf"),
        lvs_routing: out_dir.path().join("lvs_routing"),
        lvs_routing_required: false,
    };
    assert_eq!(ClusterConfig::load(&paths).unwrap().config, dr_config());
    // A second export does not overwrite what is there unless told to.
    let out = cvipctl(
        &agent.socket(),
        &[
            "config",
            "export",
            "--out",
            out_dir.path().to_str().unwrap(),
        ],
    );
    assert_eq!(out.status.code(), Some(5));
    assert!(text(&out.stderr).contains("already exists; pass --force to replace it"));
    agent.requests();
}

#[test]
fn config_apply_checks_the_files_before_sending_anything() {
    let dir = tempfile::tempdir().unwrap();
    let broken = dir.path().join("cvip.conf");
    let good = std::fs::read_to_string(repo("conf/dr/cvip.conf")).unwrap();
    std::fs::write(
        &broken,
        good.replace("<node_num>2</node_num>", "<node_num>9</node_num>"),
    )
    .unwrap();
    // No agent at all: the files are refused here, with their positions, before any connection.
    let socket = dir.path().join("absent.sock");
    let out = cvipctl(
        &socket,
        &[
            "config",
            "apply",
            "--clustertab",
            repo("conf/dr/clustertab").to_str().unwrap(),
            "--cvip-conf",
            broken.to_str().unwrap(),
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains(&format!("{}:", broken.display())) && stderr.contains("node 9 is not in"),
        "{stderr}"
    );

    // Valid files go to the agent as one apply_config command.
    let mut changed = dr_config();
    changed.cvip_conf.port_weights.pop();
    let changed_conf = ssinet_config::to_cvip_conf_string(&changed.cvip_conf);
    std::fs::write(&broken, changed_conf).unwrap();
    let applied = json!({"outcome": "applied", "summary": "applied configuration: 3 nodes"});
    let agent = FakeAgent::serve(vec![(200, dr_state_json()), (200, applied.to_string())]);
    let out = cvipctl(
        &agent.socket(),
        &[
            "config",
            "apply",
            "--clustertab",
            repo("conf/dr/clustertab").to_str().unwrap(),
            "--cvip-conf",
            broken.to_str().unwrap(),
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let requests = agent.requests();
    let sent: ssinet_api::Command = serde_json::from_slice(&requests[1].body).unwrap();
    assert_eq!(sent, ssinet_api::Command::ApplyConfig(changed));
}

#[test]
fn usage_errors_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("admin.sock");
    let out = cvipctl(&socket, &["port-weight", "set", "--start-port", "80"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("--weight <WEIGHT>"));
    let out = cvipctl(
        &socket,
        &[
            "port-weight",
            "del",
            "--start-port",
            "80",
            "--proto",
            "sctp",
        ],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("expected tcp or udp"));
}

#[test]
fn pki_init_issues_a_certificate_per_clustertab_node() {
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("pki");
    let socket = dir.path().join("unused.sock");
    let clustertab = repo("conf/dr/clustertab");
    let args = [
        "pki",
        "init",
        "--clustertab",
        clustertab.to_str().unwrap(),
        "--out",
        out_dir.to_str().unwrap(),
    ];
    let out = cvipctl(&socket, &args);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    for node in 1..=3 {
        for file in ["ca.pem", "node.pem", "node.key"] {
            assert!(out_dir.join(format!("node{node}/{file}")).is_file());
        }
    }
    let mode = std::fs::metadata(out_dir.join("node1/node.key"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    // The CA is never replaced by accident.
    let out = cvipctl(&socket, &args);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("refusing to replace the cluster CA"));
}

#[test]
fn nodes_joins_clustertab_with_what_this_node_sees() {
    let agent = FakeAgent::serve(vec![
        (200, status_json(true, Some(1))),
        (200, dr_state_json()),
    ]);
    let out = cvipctl(&agent.socket(), &["nodes"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout),
        "NODE  IP        MAC                INIT  DIRECTOR  VOTER  ROLE      REACHABLE  LISTENERS\n\
         1     10.0.0.1  52:54:00:00:00:01  yes   yes       yes    leader    yes        0\n\
         2     10.0.0.2  52:54:00:00:00:02  yes   yes       yes    follower  yes        0\n\
         3     10.0.0.3  52:54:00:00:00:03  no    no        yes    unknown   no         0\n"
    );
    let requests = agent.requests();
    assert_eq!(requests[0].path, "/v1/status");
    assert_eq!(requests[1].path, "/v1/state");
}

#[test]
fn health_set_changes_only_the_given_settings_and_scheduler_set_names_its_cvip() {
    let applied = json!({"outcome": "applied", "summary": "ok"}).to_string();
    let agent = FakeAgent::serve(vec![
        (200, dr_state_json()),
        (200, applied.clone()),
        (200, applied),
    ]);
    let out = cvipctl(
        &agent.socket(),
        &["health", "set", "--failures", "5", "--tcp-check", "on"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let out = cvipctl(
        &agent.socket(),
        &[
            "scheduler",
            "set",
            "sh",
            "--flag",
            "sh-port",
            "--cvip",
            "192.168.200.10",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let requests = agent.requests();
    let health: Value = serde_json::from_slice(&requests[1].body).unwrap();
    // conf/dr sets interval 1000, timeout 500, drain 30000: those stay.
    assert_eq!(
        health,
        json!({"command": "set_health_check", "interval_ms": 1000, "timeout_ms": 500,
               "failures_before_drain": 5, "drain_ms": 30000, "tcp_check": true})
    );
    let scheduler: Value = serde_json::from_slice(&requests[2].body).unwrap();
    assert_eq!(
        scheduler,
        json!({"command": "set_scheduler", "cvip": "192.168.200.10",
               "scheduler": {"name": "sh", "flags": ["ShPort"]}})
    );
}

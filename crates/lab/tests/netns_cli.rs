//! `ssinet-lab up` / `status` / `exec` / `partition` / `restore` / `down` from the shell, as an
//! operator runs them (as root).
#![allow(clippy::unwrap_used)]
use std::path::Path;
use std::process::{Command, Output};

fn lab_cli(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ssinet-lab"))
        .args(args)
        .output()
        .unwrap()
}

/// `ssinet-lab status --json`, parsed (it exits 1 while a lab is unhealthy, so no status check).
fn status_json() -> serde_json::Value {
    let out = lab_cli(&["status", "--json"]);
    serde_json::from_slice(&out.stdout).unwrap()
}

fn ok(args: &[&str]) -> String {
    let out = lab_cli(args);
    assert!(
        out.status.success(),
        "ssinet-lab {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Runs `ssinet-lab down NAME` if the test fails half-way.
struct DownOnDrop(String);

impl Drop for DownOnDrop {
    fn drop(&mut self) {
        let _ = lab_cli(&["down", &self.0]);
    }
}

fn namespaces_of(name: &str) -> Vec<String> {
    let prefix = format!("ssl-{name}-");
    std::fs::read_dir("/run/netns")
        .map(|dir| {
            dir.filter_map(|e| e.ok()?.file_name().into_string().ok())
                .filter(|ns| ns.starts_with(&prefix))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn up_status_exec_partition_down_round_trip_leaves_nothing() {
    let name = format!("t{}", std::process::id());
    let _cleanup = DownOnDrop(name.clone());

    let table = ok(&[
        "up",
        "--nodes",
        "3",
        "--directors",
        "1,2",
        "--routing",
        "nat",
        "--name",
        &name,
        "--no-agents",
    ]);
    for expected in [
        "10.200.0.3/24",
        "192.168.200.13/24",
        "director",
        "real server",
        "lvs_routing",
    ] {
        assert!(
            table.contains(expected),
            "{expected:?} missing from:\n{table}"
        );
    }
    assert_eq!(
        namespaces_of(&name).len(),
        6,
        "switch, client, gateway, 3 nodes"
    );
    let dir = Path::new("/run/ssinet-lab").join(&name);
    assert!(
        dir.join("clustertab").exists()
            && dir.join("cvip.conf").exists()
            && dir.join("lab.json").exists()
    );
    assert!(
        !lab_cli(&["up", "--name", &name, "--no-agents"])
            .status
            .success(),
        "a second lab of the same name is refused"
    );

    let status: serde_json::Value = status_json();
    let ours = status
        .as_array()
        .unwrap()
        .iter()
        .find(|lab| lab["name"] == name.as_str())
        .unwrap()
        .clone();
    assert_eq!(ours["healthy"], true, "{ours}");
    assert_eq!(ours["nodes"].as_array().unwrap().len(), 3);
    let endpoints = ours["endpoints"].as_array().unwrap();
    assert_eq!(endpoints.len(), 2, "client and gateway: {ours}");
    assert!(
        endpoints
            .iter()
            .all(|e| e["link_up"] == true && e["attached"] == true),
        "{ours}"
    );
    let text = ok(&["status"]);
    assert!(
        text.contains(&format!("ssl-{name}-gw")) && text.contains("192.168.200.1"),
        "{text}"
    );
    let gateway = ok(&[
        "exec", "gateway", "--lab", &name, "--", "ip", "-br", "addr", "show", "eth0",
    ]);
    assert!(gateway.contains("192.168.200.1/24"), "{gateway}");

    let addresses = ok(&[
        "exec", "2", "--lab", &name, "--", "ip", "-br", "addr", "show", "eth0",
    ]);
    assert!(addresses.contains("10.200.0.2/24"), "{addresses}");
    // Node 1 pings node 3 over the interconnect: bounded, and succeeds if any reply comes
    // (right after a restore the first may be lost to a stale ARP entry).
    let ping = |count: &str| {
        let argv = [
            "exec", "1", "--lab", &name, "--", "ping", "-c", count, "-i", "0.2",
        ];
        let out = Command::new(env!("CARGO_BIN_EXE_ssinet-lab"))
            .args(argv)
            .args(["-W", "1", "10.200.0.3"])
            .output()
            .unwrap();
        out.status.success()
    };
    assert!(ping("5"));
    assert!(
        !lab_cli(&["exec", "9", "--lab", &name, "--", "true"])
            .status
            .success()
    );

    ok(&["partition", "3", "--lab", &name]);
    assert!(!ping("1"), "node 3 is cut off");
    let status: serde_json::Value = status_json();
    let ours = status
        .as_array()
        .unwrap()
        .iter()
        .find(|lab| lab["name"] == name.as_str())
        .unwrap()
        .clone();
    assert_eq!(ours["healthy"], false);
    assert_eq!(ours["nodes"][2]["partitioned"], true, "{ours}");
    ok(&["restore", "3", "--lab", &name]);
    assert!(ping("5"), "node 3 is back");

    ok(&["down", &name]);
    assert_eq!(namespaces_of(&name), Vec::<String>::new());
    assert!(!dir.exists());
    let status: serde_json::Value = status_json();
    assert!(
        status
            .as_array()
            .unwrap()
            .iter()
            .all(|lab| lab["name"] != name.as_str())
    );
    assert!(!lab_cli(&["down", &name]).status.success(), "it is gone");
}

/// The PIDs of the processes running `program` whose command line names `needle` (each agent
/// also runs a `--fence-guard` child of the same program; those count too).
fn processes(program: &Path, needle: &str) -> Vec<u32> {
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|entry| {
            let pid: u32 = entry.ok()?.file_name().to_str()?.parse().ok()?;
            let exe = std::fs::read_link(format!("/proc/{pid}/exe")).ok()?;
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
            (exe == program && String::from_utf8_lossy(&cmdline).contains(needle)).then_some(pid)
        })
        .collect()
}

/// `up` starts an ssinetd per node (the workspace builds it beside ssinet-lab for its own
/// tests: `cargo build --workspace --bins` when running this crate's tests alone): a director
/// is elected and holds the CVIP, `exec N -- cvipctl` talks to node N's agent, and `down` ends
/// every agent with the namespaces.
#[test]
fn up_starts_a_cluster_that_cvipctl_reaches_and_down_ends_it() {
    let lab_bin = Path::new(env!("CARGO_BIN_EXE_ssinet-lab"));
    let ssinetd = lab_bin.with_file_name("ssinetd");
    let cvipctl = lab_bin.with_file_name("cvipctl");
    assert!(
        ssinetd.is_file() && cvipctl.is_file(),
        "ssinetd and cvipctl must be beside {}: cargo build --workspace --bins",
        lab_bin.display()
    );
    let name = format!("a{}", std::process::id());
    let _cleanup = DownOnDrop(name.clone());
    let dir = Path::new("/run/ssinet-lab").join(&name);

    let shown = ok(&["up", "--nodes", "3", "--name", &name]);
    assert!(shown.contains("directs"), "{shown}");
    assert_eq!(
        processes(&ssinetd, dir.to_str().unwrap()).len(),
        6,
        "one agent and its fence guard per node"
    );

    let cvipctl = cvipctl.to_str().unwrap();
    let status: serde_json::Value = serde_json::from_str(&ok(&[
        "exec", "3", "--lab", &name, "--", cvipctl, "--json", "status",
    ]))
    .unwrap();
    assert_eq!(status["node"], 3, "node 3's own agent answered: {status}");
    let leader = status["leader"].as_u64().unwrap();
    assert!(
        [1, 2].contains(&leader),
        "a director-capable leader: {status}"
    );
    // By name too, as `up`'s hints write it: the one beside ssinet-lab.
    let by_name: serde_json::Value = serde_json::from_str(&ok(&[
        "exec", "2", "--lab", &name, "--", "cvipctl", "--json", "status",
    ]))
    .unwrap();
    assert_eq!(by_name["node"], 2, "node 2's own agent answered: {by_name}");
    let addresses = ok(&[
        "exec",
        &leader.to_string(),
        "--lab",
        &name,
        "--",
        "ip",
        "-br",
        "addr",
        "show",
        "eth1",
    ]);
    assert!(addresses.contains("192.168.200.100/32"), "{addresses}");

    ok(&["down", &name]);
    assert_eq!(
        processes(&ssinetd, dir.to_str().unwrap()),
        Vec::<u32>::new()
    );
    assert_eq!(namespaces_of(&name), Vec::<String>::new());
}

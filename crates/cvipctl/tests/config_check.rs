//! `cvipctl config check` run as an operator runs it: on the shipped examples, on broken files,
//! with and without --json; asserting exit codes and what the operator reads.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn repo(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(relative)
}

fn cvipctl(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cvipctl"))
        .args(args)
        .output()
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8(bytes.to_vec()).unwrap()
}

fn check(dir: &str, extra: &[&str]) -> Output {
    let clustertab = repo(&format!("{dir}/clustertab"));
    let cvip_conf = repo(&format!("{dir}/cvip.conf"));
    let mut args = vec![
        "config",
        "check",
        "--clustertab",
        clustertab.to_str().unwrap(),
        "--cvip-conf",
        cvip_conf.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    cvipctl(&args)
}

#[test]
fn dr_example_passes_with_a_summary() {
    let out = check("conf/dr", &[]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", text(&out.stderr));
    assert!(stdout.starts_with("Configuration is valid: "), "{stdout}");
    assert!(
        stdout.contains("(3 nodes)") && stdout.contains("(1 CVIP)"),
        "{stdout}"
    );
    assert!(stdout.contains("Routing: DR\n"), "{stdout}");
    let node3 = stdout.lines().find(|l| l.starts_with("3 ")).unwrap();
    assert!(
        node3.contains("10.0.0.3") && node3.ends_with("real-server"),
        "{node3}"
    );
    let cvip = stdout
        .lines()
        .find(|l| l.starts_with("192.168.200.10"))
        .unwrap();
    assert!(
        cvip.contains("1(eth1/eth0),2(eth1/eth0)") && cvip.contains("mh (mh-port)"),
        "{cvip}"
    );
    assert!(stdout.contains("udp    5060-5061  1       all"), "{stdout}");
}

#[test]
fn nat_example_passes_and_reports_the_gateway_as_json() {
    let lvs = repo("conf/nat/lvs_routing");
    let out = check(
        "conf/nat",
        &["--lvs-routing", lvs.to_str().unwrap(), "--json"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["valid"], true);
    assert_eq!(json["routing"], "NAT");
    assert_eq!(json["internal_gateway"], "172.16.0.254");
    assert_eq!(json["directors"], serde_json::json!([1, 2]));
    assert_eq!(json["real_servers"], serde_json::json!([3, 4]));
    assert_eq!(json["cvips"][1]["scheduler"], "wlc");
    assert_eq!(json["cvips"][1]["persistence"]["netmask_prefix"], 24);
    assert_eq!(json["port_weights"][1]["node"], 4);
    assert_eq!(json["port_weights"][1]["weight"], 0);
}

#[test]
fn nat_example_without_its_lvs_routing_fails() {
    // The default /etc/default/lvs_routing is absent here, so NAT has no internal gateway.
    if Path::new("/etc/default/lvs_routing").exists() {
        return;
    }
    let out = check("conf/nat", &[]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(
        stderr
            .contains("cvip.conf:13:11: error in <routing>: NAT routing needs an internal gateway"),
        "{stderr}"
    );
}

#[test]
fn broken_files_print_every_problem_and_exit_1() {
    let dir = tempfile::tempdir().unwrap();
    let clustertab = dir.path().join("clustertab");
    let cvip_conf = dir.path().join("cvip.conf");
    std::fs::write(
        &clustertab,
        "1 10.0.0.1 52:54:00:00:00:01 P 1 /dev/sda1\n2 10.0.0.1 52:54:00:00:00:02 P 0\n",
    )
    .unwrap();
    std::fs::write(
        &cvip_conf,
        "<cvips>\n  <cvip>\n    <ip_addr>10.0.0.50</ip_addr>\n    <director_node>\n      \
         <node_num>9</node_num>\n      <garp_interface>eth1</garp_interface>\n    \
         </director_node>\n  </cvip>\n</cvips>\n",
    )
    .unwrap();
    let out = cvipctl(&[
        "config",
        "check",
        "--clustertab",
        clustertab.to_str().unwrap(),
        "--cvip-conf",
        cvip_conf.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    let stderr = text(&out.stderr);
    let ct = clustertab.display();
    let cv = cvip_conf.display();
    assert_eq!(
        stderr,
        format!(
            "{ct}:2:3: error in interconnect IP: IP 10.0.0.1 is already used by node 1 on line 1 \
             (expected a unique interconnect IP per node)\n\
             {cv}:5:17: error in <cvip>/<director_node>/<node_num>: node 9 is not in {ct} \
             (expected one of: 1, 2)\n\
             cvipctl: the configuration is invalid: 2 problems found\n"
        )
    );
}

#[test]
fn a_typo_in_an_element_name_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let cvip_conf = dir.path().join("cvip.conf");
    let original = std::fs::read_to_string(repo("conf/dr/cvip.conf")).unwrap();
    std::fs::write(
        &cvip_conf,
        original.replacen(
            "<sync_interface>eth0</sync_interface>",
            "<sync_intreface>eth0</sync_intreface>",
            1,
        ),
    )
    .unwrap();
    let clustertab = repo("conf/dr/clustertab");
    let out = cvipctl(&[
        "config",
        "check",
        "--json",
        "--clustertab",
        clustertab.to_str().unwrap(),
        "--cvip-conf",
        cvip_conf.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["valid"], false);
    let error = &json["errors"][0];
    assert_eq!(error["line"], 19);
    assert_eq!(error["column"], 4);
    assert_eq!(error["message"], "unknown element <sync_intreface>");
    assert_eq!(
        error["expected"],
        "one of: <node_num>, <garp_interface>, <sync_interface>"
    );
}

#[test]
fn missing_files_are_reported_not_fatal() {
    let out = cvipctl(&[
        "config",
        "check",
        "--clustertab",
        "/nonexistent/clustertab",
        "--cvip-conf",
        "/nonexistent/cvip.conf",
        "--lvs-routing",
        "/nonexistent/lvs",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    for file in [
        "/nonexistent/clustertab",
        "/nonexistent/cvip.conf",
        "/nonexistent/lvs",
    ] {
        assert!(
            stderr.contains(&format!(
                "{file}: error in file: cannot read it: No such file or directory"
            )),
            "{stderr}"
        );
    }
}

#[test]
fn usage_errors_exit_2_and_help_documents_exit_codes() {
    let out = cvipctl(&["config", "check", "--no-such-flag"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("--no-such-flag"));
    let out = cvipctl(&["config", "check", "--help"]);
    assert_eq!(out.status.code(), Some(0));
    let help = text(&out.stdout);
    for needle in [
        "--clustertab <PATH>",
        "[default: /etc/clustertab]",
        "--json",
        "Exit codes:",
        "1  the configuration is invalid",
    ] {
        assert!(help.contains(needle), "{needle:?} missing from:\n{help}");
    }
    let out = cvipctl(&["--help"]);
    assert!(text(&out.stdout).contains("2  usage error"));
}

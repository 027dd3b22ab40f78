//! The RSOCK.md checklist, call by call: `programs/checklist.c` (plain libc calls) runs as a plain
//! process, then under `ssi-exec` homed on another node and on its own node. Every call must
//! behave as on a plain socket, so the three runs must print the same "ok" lines.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::Cluster;

/// Compiles the checklist program with the system C compiler.
fn checklist_binary(dir: &Path) -> PathBuf {
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/programs/checklist.c");
    let binary = dir.join("checklist");
    let status = Command::new("cc")
        .args(["-O1", "-Wall", "-Wno-unused-result", "-o"])
        .arg(&binary)
        .arg(&source)
        .status()
        .expect("run cc (Debian: gcc) to build tests/programs/checklist.c");
    assert!(status.success(), "cc failed on {}", source.display());
    binary
}

fn lines(out: &std::process::Output) -> Vec<String> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_owned)
        .collect()
}

#[test]
fn every_checklist_call_behaves_as_on_a_plain_socket() {
    let cluster = Cluster::up(2);
    let binary = checklist_binary(cluster.dir.path());
    let program = binary.to_str().unwrap();
    let me = cluster.external(2).to_string();

    let plain = cluster
        .lab
        .node(2)
        .netns()
        .command(program)
        .args([&me, &me])
        .output()
        .unwrap();
    let expected = lines(&plain);
    assert!(
        plain.status.success(),
        "the checklist fails on plain sockets, so it tests the wrong thing:\n{}",
        expected.join("\n")
    );
    assert!(expected.len() > 40, "{expected:?}");

    for origin in [1u8, 2] {
        let origin_ip = cluster.external(origin).to_string();
        let homed = cluster
            .ssi_exec(2, origin, &[program, &me, &origin_ip])
            .output()
            .unwrap();
        let got = lines(&homed);
        let failed: Vec<&String> = got.iter().filter(|l| !l.starts_with("ok ")).collect();
        assert!(
            failed.is_empty() && homed.status.success(),
            "homed on node {origin}, these calls differ from a plain socket:\n{}\nstderr: {}",
            failed
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join("\n"),
            String::from_utf8_lossy(&homed.stderr)
        );
        assert_eq!(got, expected, "homed on node {origin}");
    }
}

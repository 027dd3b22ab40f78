//! The VM runner end to end: each test boots the real VM (Debian's kernel under qemu), so they
//! are few and each checks several things. VMs run one at a time (the runner's lock), so
//! these tests queue behind each other. Needs root, qemu and (the first time) the network to
//! fetch the kernel, like `ssinet-lab vm` itself.
#![allow(clippy::unwrap_used)]

use ssinet_testbed::vm::{self, VmOutcome, VmSpec};
use std::process::{Command, Output};

/// `ssinet-lab`, quiet about waiting for the other tests' VMs, so stderr holds only the
/// guest's output and the runner's verdicts.
fn lab() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_ssinet-lab"));
    command.env("RUST_LOG", "warn");
    command
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn describe(out: &Output) -> String {
    format!(
        "status {:?}\n--- stdout\n{}\n--- stderr\n{}",
        out.status,
        text(&out.stdout),
        text(&out.stderr)
    )
}

/// One boot: the exit status, both output streams exactly (so no `\r`, no kernel lines),
/// IPVS, the working directory, the environment, a fresh /run for `ip netns` (the host's
/// namespaces stay out of sight), and the host's root staying untouched.
#[test]
fn a_command_runs_in_the_vm_with_cwd_env_ipvs_and_a_private_root() {
    let cwd = tempfile::tempdir().unwrap();
    let probe = format!("ssinet-lab-probe-{}", std::process::id());
    let etc_probe = format!("/etc/{probe}");
    let script = format!(
        r#"echo "cwd=$(pwd)"
echo "inherited=$SSINET_VM_TEST_VALUE given=$GIVEN_VAR other=${{UNRELATED_VM_TEST_VAR-unset}}"
ipvsadm -Ln > /dev/null && echo ipvs=ok
grep -q '^ip_vs ' /proc/modules && echo ip_vs=loaded
echo "namespaces before=$(ip netns list | wc -l)"
ip netns add vm-probe && ip netns list | cut -d' ' -f1
echo written > {probe} && cat {probe}
echo written > {etc_probe} && cat {etc_probe}
echo to-stderr > /dev/stderr
exit 7"#
    );
    let out = lab()
        .args([
            "vm",
            "--env",
            "GIVEN_VAR=given value",
            "--",
            "sh",
            "-c",
            &script,
        ])
        .current_dir(cwd.path())
        .env("SSINET_VM_TEST_VALUE", "from host")
        .env("UNRELATED_VM_TEST_VAR", "leaked")
        .output()
        .unwrap();
    let expected_stdout = format!(
        "cwd={}\ninherited=from host given=given value other=unset\nipvs=ok\nip_vs=loaded\n\
         namespaces before=0\nvm-probe\nwritten\nwritten\n",
        cwd.path().display()
    );
    assert_eq!(text(&out.stdout), expected_stdout, "{}", describe(&out));
    assert_eq!(text(&out.stderr), "to-stderr\n", "{}", describe(&out));
    assert_eq!(out.status.code(), Some(7), "{}", describe(&out));
    assert!(
        !cwd.path().join(&probe).exists(),
        "the guest wrote into the host's cwd"
    );
    assert!(
        !std::path::Path::new(&etc_probe).exists(),
        "the guest wrote into the host's /etc"
    );
}

#[test]
fn a_signal_death_exits_with_128_plus_the_signal() {
    let out = lab()
        .args([
            "vm",
            "--",
            "sh",
            "-c",
            "echo before; kill -TERM $$; echo after",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(143), "{}", describe(&out));
    assert_eq!(text(&out.stdout), "before\n", "{}", describe(&out));
    assert!(
        text(&out.stderr).contains("signal 15"),
        "{}",
        describe(&out)
    );
}

#[test]
fn the_timeout_kills_the_vm_and_exits_124() {
    let out = lab()
        .args(["vm", "--timeout", "2", "--", "sleep", "1000"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(124), "{}", describe(&out));
    assert!(
        text(&out.stderr).contains("timed out"),
        "{}",
        describe(&out)
    );
}

#[test]
fn a_kernel_panic_is_a_dead_vm_and_exits_125() {
    let out = lab()
        .args([
            "vm",
            "--",
            "sh",
            "-c",
            "echo c > /proc/sysrq-trigger; sleep 1000",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(125), "{}", describe(&out));
    assert!(
        text(&out.stderr).contains("Kernel panic"),
        "{}",
        describe(&out)
    );
}

/// The library API: success, captured output with `\r` removed, the spec's environment.
#[test]
fn the_library_captures_output_and_reports_success() {
    let spec = VmSpec {
        env: vec![("SSINET_LIBRARY_TEST".into(), "spec value".into())],
        cpus: 1,
        memory_mb: 512,
        ..VmSpec::default()
    };
    let captured = vm::run_captured(
        &spec,
        &[
            "/bin/sh",
            "-c",
            r#"printf 'line one\r\n%s\n' "$SSINET_LIBRARY_TEST"; nproc"#,
        ],
    )
    .unwrap();
    assert_eq!(captured.outcome, VmOutcome::Exited(0), "{captured:?}");
    assert_eq!(text(&captured.stdout), "line one\nspec value\n1\n");
    assert_eq!(text(&captured.stderr), "");
}

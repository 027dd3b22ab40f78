//! A process killed between two steps of an apply: the next start rolls the change back (or,
//! when every step had finished, completes it).
#![allow(clippy::unwrap_used)]

mod common;

use std::net::IpAddr;
use std::path::Path;
use std::time::Duration;

use common::{block_on_in, eventually, has_address, snapshot, sysctl, with_manager};
use nix::sys::signal::Signal;
use ssinet_netconf::{CvipRoute, Manager, NetConfig, OwnedAddress, SysctlSetting};
use ssinet_testbed::netns::{Lab, LabSpec, addressing};

const CHILD_DATA_DIR: &str = "SSINET_NETCONF_TEST_CHILD_DATA_DIR";

/// Sysctl, address, two routes, a rule: five steps.
fn desired() -> NetConfig {
    let cvip = IpAddr::V4(addressing::CVIP);
    NetConfig {
        addresses: vec![OwnedAddress::host(cvip, "eth1")],
        sysctls: vec![SysctlSetting::ip_forward()],
        cvip_routes: vec![CvipRoute {
            cvip,
            gateway: IpAddr::V4(addressing::GATEWAY),
            ifname: "eth1".into(),
        }],
        nat_return: None,
    }
}

/// Not a test of its own: the body of the child process the crash tests start (this test binary
/// re-executed inside the node's namespace). Without the environment variable it does nothing.
#[test]
fn crash_child_entry() {
    let Ok(data) = std::env::var(CHILD_DATA_DIR) else {
        return;
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let mut manager = Manager::open(&data).await.unwrap();
        // Pauses inside (fault injection) until the parent kills this process.
        manager.reconcile(&desired()).await.unwrap();
    });
    panic!("the apply should have paused and been killed");
}

/// Starts the child in node 1's namespace, waits until it paused after step `pause_after`, kills
/// it with SIGKILL.
fn apply_and_kill(lab: &Lab, data: &Path, pause_after: usize) {
    let ns = lab.node(1).netns();
    let marker = data.join("paused-marker");
    let mut command = ns.command(std::env::current_exe().unwrap());
    command
        .args([
            "--exact",
            "crash_child_entry",
            "--nocapture",
            "--test-threads",
            "1",
        ])
        .env(CHILD_DATA_DIR, data)
        .env("SSINET_NETCONF_PAUSE_AFTER_STEP", pause_after.to_string())
        .env("SSINET_NETCONF_PAUSE_MARKER", &marker)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    let mut child = ns.spawn(command).unwrap();
    let paused = eventually(Duration::from_secs(30), || {
        marker.exists() || child.try_wait().unwrap().is_some()
    });
    assert!(
        paused && marker.exists(),
        "the child never paused (exit: {:?})",
        child.try_wait()
    );
    child.signal(Signal::SIGKILL).unwrap();
    let status = child.wait().unwrap();
    assert!(!status.success(), "{status:?}");
    assert!(
        data.join("journal.json").exists(),
        "the killed apply left no journal"
    );
}

#[test]
fn killed_between_two_steps_the_next_start_rolls_back() {
    // After the sysctl and the address (step 1), and after the last step but before the commit.
    for pause_after in [1, 4] {
        let lab = Lab::up(LabSpec {
            nodes: 1,
            directors: vec![1],
            ..LabSpec::default()
        })
        .unwrap();
        let ns = lab.node(1).netns();
        let data = tempfile::tempdir().unwrap();
        let before = snapshot(ns);

        apply_and_kill(&lab, data.path(), pause_after);
        // The node is half-changed now.
        assert_eq!(sysctl(ns, "net/ipv4/ip_forward"), "1");
        assert!(has_address(ns, &addressing::CVIP.to_string()));

        // The next start rolls back, then the change can be made cleanly.
        let dir = data.path().to_path_buf();
        block_on_in(ns, || async move { Manager::open(&dir).await.unwrap() });
        assert_eq!(snapshot(ns), before, "pause after step {pause_after}");
        assert!(!data.path().join("journal.json").exists());
        let applied = with_manager(ns, data.path(), |m| {
            Box::pin(async move { m.reconcile(&desired()).await.unwrap() })
        });
        assert_eq!(applied.steps.len(), 5);
    }
}

#[test]
fn a_committed_change_interrupted_before_its_state_was_saved_is_completed() {
    let lab = Lab::up(LabSpec {
        nodes: 1,
        directors: vec![1],
        ..LabSpec::default()
    })
    .unwrap();
    let ns = lab.node(1).netns();
    let data = tempfile::tempdir().unwrap();
    let applied = with_manager(ns, data.path(), |m| {
        Box::pin(async move { m.reconcile(&desired()).await.unwrap() })
    });
    let after = snapshot(ns);

    // What a crash between "journal committed" and "state written" leaves: the committed journal
    // next to the previous (empty) state.
    let state: serde_json::Value =
        serde_json::from_slice(&std::fs::read(data.path().join("state.json")).unwrap()).unwrap();
    let journal = serde_json::json!({
        "steps": applied.steps,
        "started": applied.steps.len(),
        "completed": applied.steps.len(),
        "committed": true,
        "state_after": state,
    });
    std::fs::write(
        data.path().join("journal.json"),
        serde_json::to_vec(&journal).unwrap(),
    )
    .unwrap();
    std::fs::remove_file(data.path().join("state.json")).unwrap();

    let again = with_manager(ns, data.path(), |m| {
        Box::pin(async move { (m.desired().clone(), m.reconcile(&desired()).await.unwrap()) })
    });
    assert_eq!(
        again.0,
        desired(),
        "the state file was completed from the journal"
    );
    assert!(!again.1.changed(), "{:?}", again.1.steps);
    assert_eq!(snapshot(ns), after);
    assert!(!data.path().join("journal.json").exists());
}

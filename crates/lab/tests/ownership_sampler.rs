//! The ownership sampler against the real kernel (run as root): it sees addresses come and go
//! on the nodes' external interfaces only, IPv4 and IPv6, every 10 ms.
#![allow(clippy::unwrap_used)]
use ssinet_lab::cluster::ownership::{OwnershipSampler, summarize};
use ssinet_testbed::netns::{Lab, LabSpec};
use std::net::IpAddr;
use std::time::{Duration, Instant};

const EVERY: Duration = Duration::from_millis(10);

/// Waits until the sampler's latest sample says `addr` is held by exactly `nodes`.
fn until_held(sampler: &OwnershipSampler, addr: IpAddr, nodes: &[u8]) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let samples = sampler.samples();
        if samples
            .last()
            .is_some_and(|s| s.holders.get(&addr).map(Vec::as_slice) == Some(nodes))
        {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "never saw {addr} held by {nodes:?}; last sample {:?}",
            samples.last()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn the_sampler_sees_who_holds_an_address_on_eth1_and_ignores_lo() {
    let lab = Lab::up(LabSpec::default()).unwrap();
    let cvip = IpAddr::V4(lab.cvip());
    let v6: IpAddr = "fd00:5353::100".parse().unwrap();
    let from = Instant::now();
    let sampler = OwnershipSampler::start(&lab, vec![cvip, v6], EVERY).unwrap();
    until_held(&sampler, cvip, &[]);

    let ip = |node: u8, args: &[&str]| lab.node(node).netns().ip(args).unwrap();
    ip(1, &["addr", "add", "192.168.200.100/32", "dev", "eth1"]);
    until_held(&sampler, cvip, &[1]);
    // A real server's way: on lo. Not a holder.
    ip(3, &["addr", "add", "192.168.200.100/32", "dev", "lo"]);
    ip(2, &["addr", "add", "192.168.200.100/32", "dev", "eth1"]);
    until_held(&sampler, cvip, &[1, 2]);
    ip(1, &["addr", "del", "192.168.200.100/32", "dev", "eth1"]);
    until_held(&sampler, cvip, &[2]);
    ip(
        2,
        &[
            "-6",
            "addr",
            "add",
            "fd00:5353::100/128",
            "dev",
            "eth1",
            "nodad",
        ],
    );
    until_held(&sampler, v6, &[2]);

    // One second of steady sampling: at 10 ms, about 100 samples.
    let steady = Instant::now();
    std::thread::sleep(Duration::from_secs(1));
    let to = Instant::now();
    let samples = sampler.stop();
    assert!(samples.windows(2).all(|w| w[0].at <= w[1].at), "in order");

    let whole = summarize(&samples, cvip, from, to);
    assert_eq!(whole.moves, 1, "1, then 1 and 2, then 2: {whole:?}");
    assert!(whole.dual > 0 && whole.none > 0, "{whole:?}");
    assert_eq!(whole.holders_at_end, vec![2]);
    assert_eq!(whole.first_dual.as_ref().unwrap().1, vec![1, 2]);
    assert_eq!(summarize(&samples, v6, from, to).holders_at_end, vec![2]);

    // A sample of all three nodes takes far less than the period, so the period holds.
    let quiet = summarize(&samples, cvip, steady, to);
    assert!(
        quiet.samples >= 60,
        "only {} samples in a second at {EVERY:?}",
        quiet.samples
    );
    assert_eq!((quiet.moves, quiet.dual, quiet.none), (0, 0, 0));
}

#[test]
fn a_sampler_stops_on_drop_and_on_stop_and_samples_no_address_as_empty() {
    let lab = Lab::up(LabSpec {
        nodes: 2,
        directors: vec![1],
        ..LabSpec::default()
    })
    .unwrap();
    let sampler = OwnershipSampler::start(&lab, vec![IpAddr::V4(lab.cvip())], EVERY).unwrap();
    std::thread::sleep(Duration::from_millis(100));
    assert!(!sampler.samples().is_empty());
    drop(sampler); // also on drop the threads end
    let sampler = OwnershipSampler::start(&lab, vec![], EVERY).unwrap();
    std::thread::sleep(Duration::from_millis(50));
    let samples = sampler.stop();
    assert!(samples.iter().all(|s| s.holders.is_empty()));
    assert!(!samples.is_empty());
}

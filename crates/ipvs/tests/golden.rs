//! Golden bytes: what our client sends equals what ipvsadm 1.31 sends for the same command
//! (captured once in the VM by tests/fixtures/capture-ipvsadm.sh), except the sequence number
//! and port id, which every sender chooses for itself.
#![allow(clippy::unwrap_used)]

use std::net::{IpAddr, Ipv4Addr};

use ssinet_ipvs::client::encode_request;
use ssinet_ipvs::*;

/// The last netlink message of a capture (the IPVS command; before it come libnl's family
/// lookups and ipvsadm's GET_INFO).
fn last_message(fixture: &str) -> Vec<u8> {
    let text = std::fs::read_to_string(format!(
        "{}/tests/fixtures/{fixture}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    let mut blocks: Vec<Vec<u8>> = vec![Vec::new()];
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        if line.trim() == "--" {
            blocks.push(Vec::new());
            continue;
        }
        let block = blocks.last_mut().unwrap();
        block.extend(
            line.split_whitespace()
                .map(|h| u8::from_str_radix(h, 16).unwrap()),
        );
    }
    blocks.into_iter().rfind(|b| !b.is_empty()).unwrap()
}

fn assert_same_request(ours: &IpvsMessage, fixture: &str) {
    let theirs = last_message(fixture);
    let family = u16::from_ne_bytes([theirs[4], theirs[5]]);
    let flags = u16::from_ne_bytes([theirs[6], theirs[7]]);
    let mut mine = encode_request(family, ours, flags, 0);
    let mut theirs_masked = theirs.clone();
    theirs_masked[8..16].fill(0); // sequence number and port id
    mine[8..16].fill(0);
    assert_eq!(mine, theirs_masked, "ours vs ipvsadm for {fixture}");
    assert_eq!(flags, 0x5, "NLM_F_REQUEST | NLM_F_ACK, as we send");
}

fn vip() -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(192, 168, 200, 10))
}

#[test]
fn new_service_matches_ipvsadm() {
    // ipvsadm -A -t 192.168.200.10:80 -s wrr
    let service = Service::new(ServiceKey::tcp(vip(), 80), Scheduler::WeightedRoundRobin);
    assert_same_request(
        &IpvsMessage::NewService {
            service,
            counters: Counters::default(),
        },
        "new-service.hex",
    );
}

#[test]
fn new_destination_matches_ipvsadm() {
    // ipvsadm -a -t 192.168.200.10:80 -r 10.200.0.3:80 -g -w 2. ipvsadm sends the service with
    // an empty scheduler name here (the kernel reads only the service's identity for
    // destination commands), so the service below does the same.
    let service = Service::new(ServiceKey::tcp(vip(), 80), Scheduler::Other(String::new()));
    let dest = Destination::new(
        IpAddr::V4(Ipv4Addr::new(10, 200, 0, 3)),
        80,
        Forwarding::DirectRoute,
        2,
    );
    assert_same_request(
        &IpvsMessage::NewDest {
            service: Some(service),
            dest,
            status: None,
        },
        "new-dest.hex",
    );
}

#[test]
fn start_sync_daemon_matches_ipvsadm() {
    // ipvsadm --start-daemon master --mcast-interface lo --syncid 5
    let daemon = SyncDaemon::new(DaemonRole::Master, "lo", 5);
    assert_same_request(&IpvsMessage::NewDaemon(daemon), "new-daemon.hex");
}

//! The director's control plane on the host kernel, in namespaces (this kernel has no IPVS, so
//! the agents manage addresses and registrations only): where the CVIP lives, how it moves
//! when the director dies or is cut off, and that restarting an agent changes nothing.
#![allow(clippy::unwrap_used)]

use std::net::IpAddr;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use ssinet_api::dataplane::DataPlaneRole;
use ssinet_lab::cluster::{Binaries, Cluster};
use ssinet_testbed::netns::LabSpec;
use ssinet_testbed::responder::Responder;

const WAIT: Duration = Duration::from_secs(60);

fn cluster() -> Cluster {
    Cluster::start(
        LabSpec::default(),
        Binaries::new(env!("CARGO_BIN_EXE_ssinetd")),
    )
    .unwrap()
}

/// Waits until exactly one node holds the CVIP on eth1 and every other node holds it on `lo`;
/// returns that director.
fn settled(cluster: &Cluster, running: &[u8]) -> u8 {
    let mut director = 0;
    cluster
        .eventually(
            "one director on eth1, the CVIP on lo elsewhere",
            WAIT,
            || {
                let Ok(holders) = cluster.cvip_holders() else {
                    return false;
                };
                let [only] = holders.as_slice() else {
                    return false;
                };
                director = *only;
                running.contains(&director)
                    && running
                        .iter()
                        .filter(|n| **n != director)
                        .all(|n| cluster.cvip_on_lo(*n).unwrap_or(false))
            },
        )
        .unwrap();
    director
}

/// Reads, from a thread inside each node's namespace, which interface holds the CVIP: in-process
/// netlink, so one sample of all nodes takes well under a millisecond.
struct Sampler {
    requests: Vec<mpsc::Sender<mpsc::Sender<Option<String>>>>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Sampler {
    fn new(cluster: &Cluster) -> Sampler {
        let cvip = IpAddr::V4(cluster.lab.cvip());
        let mut requests = Vec::new();
        let mut threads = Vec::new();
        for node in cluster.lab.nodes() {
            let (tx, rx) = mpsc::channel::<mpsc::Sender<Option<String>>>();
            let state_dir = cluster.dir.path().join(format!("sampler{}", node.number()));
            threads.push(
                node.netns()
                    .spawn_thread(move || {
                        let runtime = tokio::runtime::Builder::new_current_thread()
                            .enable_all()
                            .build()
                            .unwrap();
                        runtime.block_on(async move {
                            let net = ssinet_netconf::Manager::open(state_dir).await.unwrap();
                            while let Ok(reply) = rx.recv() {
                                let _ = reply.send(net.interface_holding(cvip).await.unwrap());
                            }
                        });
                    })
                    .unwrap(),
            );
            requests.push(tx);
        }
        Sampler { requests, threads }
    }

    /// Each node's interface holding the CVIP, as of now.
    fn sample(&self) -> Vec<Option<String>> {
        let replies: Vec<_> = self
            .requests
            .iter()
            .map(|tx| {
                let (reply_tx, reply_rx) = mpsc::channel();
                tx.send(reply_tx).unwrap();
                reply_rx
            })
            .collect();
        replies.into_iter().map(|rx| rx.recv().unwrap()).collect()
    }

    fn external_holders(&self) -> usize {
        self.sample()
            .iter()
            .filter(|i| i.as_deref() == Some("eth1"))
            .count()
    }

    fn stop(self) {
        drop(self.requests);
        for t in self.threads {
            t.join().unwrap();
        }
    }
}

#[test]
fn the_director_holds_the_cvip_on_eth1_and_every_other_node_on_lo() {
    let cluster = cluster();
    let director = settled(&cluster, &[1, 2, 3]);
    assert!(
        cluster.is_director(director),
        "node {director} is not director-capable"
    );
    let status = cluster.status(director).unwrap();
    assert_eq!(status.data_plane.role, DataPlaneRole::Director);
    assert_eq!(
        status.data_plane.external,
        vec![IpAddr::V4(cluster.lab.cvip())]
    );
    for n in [1, 2, 3].into_iter().filter(|n| *n != director) {
        let expected = if cluster.is_director(n) {
            DataPlaneRole::Standby
        } else {
            DataPlaneRole::RealServer
        };
        // The status is published when the pass that put the CVIP on lo has finished (a
        // standby programs its IPVS table after the address), a moment after `settled` saw it.
        let mut role = DataPlaneRole::Starting;
        let _ = cluster.eventually(&format!("node {n} to report {expected:?}"), WAIT, || {
            role = cluster.status(n).unwrap().data_plane.role;
            role == expected
        });
        assert_eq!(role, expected, "node {n}");
    }
}

#[test]
fn killing_the_director_moves_the_cvip_and_the_clients_neighbour_entry() {
    let mut cluster = cluster();
    let old = settled(&cluster, &[1, 2, 3]);
    // The client talks to the CVIP once, so it has a neighbour entry for GARP to update.
    cluster
        .eventually("the client reaches the CVIP", WAIT, || {
            cluster
                .lab
                .client()
                .exec(&[
                    "ping",
                    "-c",
                    "1",
                    "-W",
                    "1",
                    &cluster.lab.cvip().to_string(),
                ])
                .is_ok_and(|o| o.status.success())
        })
        .unwrap();
    assert_eq!(
        cluster
            .client_cvip_neighbour()
            .unwrap()
            .unwrap()
            .lladdr
            .unwrap(),
        cluster.external_mac(old).unwrap()
    );
    cluster.kill(old).unwrap();
    let running: Vec<u8> = [1, 2, 3].into_iter().filter(|n| *n != old).collect();
    let new = settled(&cluster, &running);
    assert_ne!(new, old);
    let new_mac = cluster.external_mac(new).unwrap();
    cluster
        .eventually(
            "the client's neighbour entry points at the new director",
            WAIT,
            || {
                cluster
                    .client_cvip_neighbour()
                    .ok()
                    .flatten()
                    .is_some_and(|n| n.lladdr.as_deref() == Some(new_mac.as_str()))
            },
        )
        .unwrap();
    // The killed agent's fence guard took the CVIP off its external interface.
    assert!(!cluster.cvip_holders().unwrap().contains(&old));
}

#[test]
fn partitioning_the_director_never_shows_two_owners() {
    let cluster = cluster();
    let sampler = Sampler::new(&cluster);
    let mut samples = 0u64;
    let check_for = |duration: Duration, samples: &mut u64| {
        let end = Instant::now() + duration;
        while Instant::now() < end {
            let sample = sampler.sample();
            let owners = sample
                .iter()
                .filter(|i| i.as_deref() == Some("eth1"))
                .count();
            assert!(owners <= 1, "two owners of the CVIP at once: {sample:?}");
            *samples += 1;
            std::thread::sleep(Duration::from_millis(10));
        }
    };
    for round in 0..20 {
        let director = settled(&cluster, &[1, 2, 3]);
        cluster.lab.partition(director).unwrap();
        // Sample until another node directs, then a little longer.
        let deadline = Instant::now() + WAIT;
        loop {
            check_for(Duration::from_millis(50), &mut samples);
            let holders = cluster.cvip_holders().unwrap();
            if holders.len() == 1 && holders[0] != director {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "round {round}: no new director\n{}",
                cluster.logs()
            );
        }
        check_for(Duration::from_millis(300), &mut samples);
        cluster.lab.restore(director).unwrap();
        check_for(Duration::from_millis(500), &mut samples);
    }
    assert!(sampler.external_holders() <= 1);
    sampler.stop();
    assert!(samples > 20 * 40, "only {samples} samples");
}

#[test]
fn restarting_an_agent_changes_nothing_on_its_node() {
    let mut cluster = cluster();
    let director = settled(&cluster, &[1, 2, 3]);
    let real = [1, 2, 3].into_iter().find(|n| *n != director).unwrap();
    let sampler = Sampler::new(&cluster);
    let index = usize::from(real - 1);
    let director_index = usize::from(director - 1);
    cluster.terminate(real, WAIT).unwrap();
    cluster.start_node(real).unwrap();
    let until = Instant::now() + Duration::from_secs(3);
    let mut samples = 0;
    while Instant::now() < until {
        let sample = sampler.sample();
        assert_eq!(
            sample[index].as_deref(),
            Some("lo"),
            "node {real} lost its CVIP on lo"
        );
        assert_eq!(
            sample[director_index].as_deref(),
            Some("eth1"),
            "the director flapped"
        );
        samples += 1;
        std::thread::sleep(Duration::from_millis(10));
    }
    cluster
        .eventually("the restarted agent reports its role", WAIT, || {
            cluster
                .status(real)
                .is_some_and(|s| s.data_plane.role != DataPlaneRole::Starting)
        })
        .unwrap();
    sampler.stop();
    assert!(samples > 100);
}

#[test]
fn a_node_that_listens_on_a_weighted_port_registers_itself_and_leaves_when_it_stops() {
    let cluster = cluster();
    settled(&cluster, &[1, 2, 3]);
    let registered = |node: u64| {
        cluster
            .state(1)
            .is_some_and(|s| s.listeners.keys().any(|k| k.node.0 == node && k.port == 80))
    };
    assert!(!registered(3));
    let server = Responder::start(cluster.lab.node(3).netns(), 80, "node3").unwrap();
    cluster
        .eventually("node 3 registered for tcp/80", WAIT, || registered(3))
        .unwrap();
    // A listener on a port outside every weighted range registers nothing.
    let other = Responder::start(cluster.lab.node(2).netns(), 8080, "node2").unwrap();
    server.stop();
    cluster
        .eventually("node 3 unregistered", WAIT, || !registered(3))
        .unwrap();
    assert!(
        cluster
            .state(1)
            .unwrap()
            .listeners
            .keys()
            .all(|k| k.port != 8080)
    );
    other.stop();
}

/// Drift: the CVIP deleted behind the agents' backs (`ip addr del`), on the director's eth1 and
/// on a real server's lo, comes back by itself (the data plane re-reads the kernel every 500 ms).
#[test]
fn a_cvip_deleted_behind_the_agents_back_comes_back() {
    let cluster = cluster();
    let director = settled(&cluster, &[1, 2, 3]);
    let other = [1, 2, 3].into_iter().find(|n| *n != director).unwrap();
    let cvip = format!("{}/32", cluster.lab.cvip());
    for (node, device) in [(director, "eth1"), (other, "lo")] {
        cluster
            .lab
            .node(node)
            .netns()
            .ip(&["addr", "del", &cvip, "dev", device])
            .unwrap();
    }
    assert_eq!(settled(&cluster, &[1, 2, 3]), director, "the same director");
}

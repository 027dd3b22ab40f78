//! Every IPVS message kind against the real kernel (run inside the VM): sent by our client, read
//! back by our client, and checked against `ipvsadm`. Each test has its own network namespace,
//! so its own IPVS table.
#![allow(clippy::unwrap_used)]

mod kernel_support;

use std::net::IpAddr;

use kernel_support::*;
use ssinet_ipvs::*;

fn service_kinds() -> Vec<Service> {
    let a = v4("10.0.0.1");
    let v6: IpAddr = "2001:db8::1".parse().unwrap();
    vec![
        Service::new(ServiceKey::tcp(a, 80), Scheduler::WeightedRoundRobin),
        Service::new(ServiceKey::udp(a, 53), Scheduler::RoundRobin)
            .with_flags(ServiceFlags::ONE_PACKET),
        Service::new(
            ServiceKey::Inet {
                protocol: Protocol::Sctp,
                addr: a,
                port: 3868,
            },
            Scheduler::LeastConnection,
        ),
        Service::new(
            ServiceKey::Fwmark {
                family: Family::Ipv4,
                mark: 7,
            },
            Scheduler::WeightedLeastConnection,
        ),
        Service::new(
            ServiceKey::Fwmark {
                family: Family::Ipv6,
                mark: 8,
            },
            Scheduler::NeverQueue,
        ),
        Service::new(ServiceKey::tcp(a, 443), Scheduler::SourceHashing)
            .with_flags(ServiceFlags::SH_PORT | ServiceFlags::SH_FALLBACK),
        Service::new(ServiceKey::tcp(v6, 80), Scheduler::Maglev)
            .with_flags(ServiceFlags::MH_PORT | ServiceFlags::MH_FALLBACK),
        Service::new(ServiceKey::tcp(v6, 443), Scheduler::ShortestExpectedDelay)
            .with_persistence(600, 64),
        Service::new(
            ServiceKey::tcp(a, 8443),
            Scheduler::LocalityBasedLeastConnection,
        )
        .with_persistence(300, 24),
        Service::new(ServiceKey::tcp(a, 5060), Scheduler::RoundRobin).with_persistence(120, 32),
        Service::new(
            ServiceKey::tcp(a, 81),
            Scheduler::LocalityBasedLeastConnectionReplication,
        ),
        Service::new(ServiceKey::tcp(a, 82), Scheduler::DestinationHashing),
        Service::new(ServiceKey::tcp(a, 83), Scheduler::WeightedFailover),
        Service::new(ServiceKey::tcp(a, 84), Scheduler::WeightedOverflow),
        // `twos` arrived in Linux 6.2; Debian's 6.1 kernel has no such module.
    ]
}

#[test]
fn every_service_kind_reads_back_and_matches_ipvsadm() {
    in_netns("svc", || async {
        let mut c = IpvsClient::connect().await.unwrap();
        let want = service_kinds();
        for s in &want {
            c.add_service(s).await.unwrap();
        }
        let got = c.services().await.unwrap();
        assert_eq!(got.len(), want.len());
        for s in &want {
            let g = got.iter().find(|e| e.service.key == s.key).unwrap();
            assert!(
                g.service.same_config(s),
                "{:?} read back as {:?}",
                s,
                g.service
            );
            assert!(g.service.flags.contains(ServiceFlags::HASHED));
            let one = c.service(&s.key).await.unwrap().unwrap();
            assert!(one.service.same_config(s));
        }
        assert_matches_ipvsadm(&mut c).await;
    });
}

#[test]
fn every_destination_kind_reads_back_and_matches_ipvsadm() {
    in_netns("dst", || async {
        let mut c = IpvsClient::connect().await.unwrap();
        let svc = Service::new(
            ServiceKey::tcp(v4("10.0.0.1"), 80),
            Scheduler::WeightedRoundRobin,
        );
        c.add_service(&svc).await.unwrap();
        let mut dests = vec![
            Destination::new(v4("10.1.0.1"), 80, Forwarding::DirectRoute, 1),
            Destination::new(v4("10.1.0.2"), 8080, Forwarding::Masquerade, 5),
            Destination::new(v4("10.1.0.3"), 80, Forwarding::Tunnel(TunnelEncap::Ipip), 2),
            Destination::new(
                v4("10.1.0.4"),
                80,
                Forwarding::Tunnel(TunnelEncap::Gue {
                    port: 6080,
                    flags: TunnelFlags::CSUM,
                }),
                3,
            ),
            Destination::new(
                v4("10.1.0.5"),
                80,
                Forwarding::Tunnel(TunnelEncap::Gre {
                    flags: TunnelFlags::REMOTE_CSUM,
                }),
                4,
            ),
            Destination::new(v4("10.1.0.6"), 80, Forwarding::DirectRoute, 0),
        ];
        dests[0].upper_threshold = 100;
        dests[0].lower_threshold = 10;
        for d in &dests {
            c.add_destination(&svc, d).await.unwrap();
        }
        let got = c.destinations(&svc.key).await.unwrap();
        let mut got: Vec<Destination> = got.into_iter().map(|e| e.dest).collect();
        got.reverse();
        assert_eq!(got, dests, "the kernel lists the most recently added first");
        assert_matches_ipvsadm(&mut c).await;
        // Thresholds as ipvsadm lists them, tunnel settings as it saves them.
        let thresholds = lines(&ipvsadm(&["-Ln", "--thresholds"]));
        assert!(
            thresholds.contains(&"-> 10.1.0.1:80 100 10 0 0".to_string()),
            "{thresholds:?}"
        );
        let saved = lines(&ipvsadm(&["-Sn"]));
        assert!(
            saved.iter().any(|l| l.contains("-r 10.1.0.4:80")
                && l.contains("--tun-type gue --tun-port 6080 --tun-csum")),
            "{saved:?}"
        );
        assert!(
            saved.iter().any(|l| l.contains("-r 10.1.0.5:80") && l.contains("--tun-type gre --tun-remcsum")),
            "{saved:?}"
        );
    });
}

#[test]
fn edits_and_deletes_are_what_ipvsadm_sees() {
    in_netns("edit", || async {
        let mut c = IpvsClient::connect().await.unwrap();
        let mut svc = Service::new(ServiceKey::tcp(v4("10.0.0.1"), 80), Scheduler::RoundRobin);
        c.add_service(&svc).await.unwrap();
        let mut d = Destination::new(v4("10.1.0.1"), 80, Forwarding::DirectRoute, 1);
        c.add_destination(&svc, &d).await.unwrap();
        let other = Destination::new(v4("10.1.0.2"), 80, Forwarding::DirectRoute, 1);
        c.add_destination(&svc, &other).await.unwrap();

        svc.scheduler = Scheduler::Maglev;
        svc.flags = ServiceFlags::MH_PORT;
        c.edit_service(&svc).await.unwrap();
        d.weight = 7;
        d.forwarding = Forwarding::Masquerade;
        c.edit_destination(&svc, &d).await.unwrap();
        c.delete_destination(&svc.key, &other.key()).await.unwrap();
        let blocks = assert_matches_ipvsadm(&mut c).await;
        assert_eq!(
            blocks,
            vec![(
                "TCP 10.0.0.1:80 mh (mh-port)".to_string(),
                vec!["-> 10.1.0.1:80 Masq 7 0 0".to_string()]
            )]
        );
        c.delete_service(&svc.key).await.unwrap();
        assert!(c.services().await.unwrap().is_empty());
        assert!(parse_ln(&ipvsadm(&["-Ln"])).is_empty());
    });
}

#[test]
fn kernel_refusals_are_typed_and_name_the_object() {
    in_netns("err", || async {
        let mut c = IpvsClient::connect().await.unwrap();
        let svc = Service::new(ServiceKey::tcp(v4("10.0.0.1"), 80), Scheduler::RoundRobin);
        c.add_service(&svc).await.unwrap();
        let err = c.add_service(&svc).await.unwrap_err();
        assert_eq!(err.errno(), Some(libc::EEXIST));
        assert!(
            err.to_string().contains("add service TCP 10.0.0.1:80"),
            "{err}"
        );

        let missing = ServiceKey::tcp(v4("10.0.0.2"), 80);
        let d = Destination::new(v4("10.1.0.1"), 80, Forwarding::DirectRoute, 1);
        let err = c
            .add_destination(&Service::new(missing, Scheduler::RoundRobin), &d)
            .await
            .unwrap_err();
        assert_eq!(err.errno(), Some(libc::ESRCH));
        assert!(
            err.to_string().contains("10.1.0.1:80") && err.to_string().contains("TCP 10.0.0.2:80"),
            "{err}"
        );

        let err = c.delete_destination(&svc.key, &d.key()).await.unwrap_err();
        assert_eq!(err.errno(), Some(libc::ENOENT));
        let unknown = Service::new(
            ServiceKey::tcp(v4("10.0.0.1"), 90),
            Scheduler::Other("nosuch".into()),
        );
        let err = c.add_service(&unknown).await.unwrap_err();
        assert_eq!(err.errno(), Some(libc::ENOENT), "{err}");
        assert!(c.service(&missing).await.unwrap().is_none());

        // A pipelined batch goes on past a failure and reports each outcome.
        let results = c
            .execute(&[
                IpvsMessage::NewService {
                    service: svc.clone(),
                    counters: Counters::default(),
                },
                IpvsMessage::NewDest {
                    service: Some(svc.clone()),
                    dest: d.clone(),
                    status: None,
                },
            ])
            .await
            .unwrap();
        assert_eq!(results[0].as_ref().unwrap_err().errno(), Some(libc::EEXIST));
        assert!(results[1].is_ok());
    });
}

#[test]
fn timeouts_info_zero_and_flush_match_ipvsadm() {
    in_netns("cfg", || async {
        let mut c = IpvsClient::connect().await.unwrap();
        c.set_timeouts(&Timeouts {
            tcp: Some(901),
            tcp_fin: Some(121),
            udp: Some(301),
        })
        .await
        .unwrap();
        assert_eq!(
            c.timeouts().await.unwrap(),
            Timeouts {
                tcp: Some(901),
                tcp_fin: Some(121),
                udp: Some(301)
            }
        );
        assert_eq!(
            lines(&ipvsadm(&["-Ln", "--timeout"])),
            vec!["Timeout (tcp tcpfin udp): 901 121 301"]
        );
        // A partial change keeps the other values.
        c.set_timeouts(&Timeouts {
            udp: Some(302),
            ..Timeouts::default()
        })
        .await
        .unwrap();
        assert_eq!(
            lines(&ipvsadm(&["-Ln", "--timeout"])),
            vec!["Timeout (tcp tcpfin udp): 901 121 302"]
        );

        let info = c.info().await.unwrap();
        let header = lines(&ipvsadm(&["-Ln"]))[0].clone();
        assert_eq!(
            header,
            format!(
                "IP Virtual Server version {} (size={})",
                info.version_string(),
                info.conn_table_size
            )
        );

        let svc = Service::new(ServiceKey::tcp(v4("10.0.0.1"), 80), Scheduler::RoundRobin);
        c.add_service(&svc).await.unwrap();
        c.zero(Some(&svc.key)).await.unwrap();
        c.zero(None).await.unwrap();
        let stats = lines(&ipvsadm(&["-Ln", "--stats"]));
        assert!(
            stats.contains(&"TCP 10.0.0.1:80 0 0 0 0 0".to_string()),
            "{stats:?}"
        );
        assert_eq!(
            c.services().await.unwrap()[0].counters.best(),
            Stats::default()
        );
        c.flush().await.unwrap();
        assert!(c.services().await.unwrap().is_empty());
        assert!(parse_ln(&ipvsadm(&["-Ln"])).is_empty());
    });
}

#[test]
fn sync_daemons_start_list_and_stop_like_ipvsadm_shows() {
    let ns = kernel_support::netns("sync");
    let peer = kernel_support::netns("syncpeer");
    ssinet_testbed::netns::Netns::veth(&ns, "sync0", &peer, "sync0").unwrap();
    ns.add_address("sync0", "10.5.0.1/24").unwrap();
    ns.run(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(async {
                let mut c = IpvsClient::connect().await.unwrap();
                let mut master = SyncDaemon::new(DaemonRole::Master, "sync0", 5);
                master.group = Some("239.1.2.3".parse().unwrap());
                master.port = Some(8849);
                master.ttl = Some(2);
                master.max_len = Some(1400);
                c.start_daemon(&master).await.unwrap();
                let backup = SyncDaemon::new(DaemonRole::Backup, "sync0", 6);
                c.start_daemon(&backup).await.unwrap();
                let listed = c.daemons().await.unwrap();
                let m = listed.iter().find(|d| d.role == DaemonRole::Master).unwrap();
                assert_eq!(m, &master);
                let b = listed.iter().find(|d| d.role == DaemonRole::Backup).unwrap();
                assert_eq!((b.interface.as_str(), b.sync_id), ("sync0", 6));
                let shown = lines(&ipvsadm(&["-Ln", "--daemon"]));
                assert!(
                    shown.contains(&"master sync daemon (mcast=sync0, syncid=5, maxlen=1400, group=239.1.2.3, port=8849, ttl=2)".to_string()),
                    "{shown:?}"
                );
                assert!(shown.iter().any(|l| l.starts_with("backup sync daemon (mcast=sync0, syncid=6")), "{shown:?}");
                c.stop_daemon(DaemonRole::Master).await.unwrap();
                c.stop_daemon(DaemonRole::Backup).await.unwrap();
                assert!(c.daemons().await.unwrap().is_empty());
                assert!(lines(&ipvsadm(&["-Ln", "--daemon"])).is_empty());
            })
    })
    .unwrap();
}

//! Channels between nodes on loopback, with a real cluster PKI: who may connect, for what, and
//! the frame limit.
#![allow(clippy::unwrap_used)]

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;
use std::time::Duration;

use bytes::Bytes;
use ssinet_interconnect::pki::{self, PkiNode};
use ssinet_interconnect::{
    Acceptor, Channel, ChannelError, Limits, NodeId, NodeIdentity, Service, dial,
};
use tempfile::TempDir;
use tokio::net::TcpListener;

const RAFT: Service = Service("raft");
const LIMITS: Limits = Limits {
    max_frame_bytes: 1024,
    handshake_timeout: Duration::from_secs(5),
};

fn cluster_pki(dir: &Path) {
    let nodes: Vec<PkiNode> = [1, 2, 3]
        .into_iter()
        .map(|node| PkiNode {
            node: NodeId(node),
            interconnect_ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
        })
        .collect();
    pki::init(&nodes, dir, false).unwrap();
}

fn identity(dir: &Path, node: u64) -> NodeIdentity {
    NodeIdentity::load(&dir.join(format!("node{node}")), NodeId(node)).unwrap()
}

/// Node `server` accepts one connection for `service`; the accept's outcome.
async fn accept_one(
    dir: &Path,
    server: u64,
    service: Service,
) -> (
    SocketAddr,
    tokio::task::JoinHandle<Result<Channel, ChannelError>>,
) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let acceptor = Acceptor::new(&identity(dir, server), service, LIMITS);
    let task = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        acceptor.accept(tcp).await
    });
    (addr, task)
}

#[tokio::test]
async fn both_ends_know_who_the_other_is_and_exchange_frames() {
    let tmp = TempDir::new().unwrap();
    cluster_pki(tmp.path());
    let (addr, accepted) = accept_one(tmp.path(), 1, RAFT).await;
    let mut client = dial(&identity(tmp.path(), 2), NodeId(1), addr, RAFT, LIMITS)
        .await
        .unwrap();
    let mut server = accepted.await.unwrap().unwrap();
    assert_eq!((client.peer(), server.peer()), (NodeId(1), NodeId(2)));

    client.send(Bytes::from_static(b"ping")).await.unwrap();
    assert_eq!(server.recv().await.unwrap(), Bytes::from_static(b"ping"));
    server.send_json(&vec![1u32, 2, 3]).await.unwrap();
    assert_eq!(client.recv_json::<Vec<u32>>().await.unwrap(), vec![1, 2, 3]);

    client.close().await;
    assert!(matches!(server.recv().await, Err(ChannelError::Closed)));
}

#[tokio::test]
async fn a_peer_asking_for_another_service_is_told_why_and_refused() {
    let tmp = TempDir::new().unwrap();
    cluster_pki(tmp.path());
    let (addr, accepted) = accept_one(tmp.path(), 1, RAFT).await;
    let dialed = dial(
        &identity(tmp.path(), 2),
        NodeId(1),
        addr,
        Service("status"),
        LIMITS,
    )
    .await;
    let Err(ChannelError::Refused {
        node: NodeId(1),
        reason,
    }) = dialed
    else {
        panic!("a status client was accepted on the raft port: {dialed:?}");
    };
    assert!(reason.contains("this port serves \"raft\""), "{reason}");
    let refused = accepted.await.unwrap();
    assert!(
        matches!(refused, Err(ChannelError::RefusedPeer { .. })),
        "{refused:?}"
    );
}

#[tokio::test]
async fn a_server_that_is_not_the_node_meant_is_refused() {
    let tmp = TempDir::new().unwrap();
    cluster_pki(tmp.path());
    // Node 1 answers at this address, but node 2 means to reach node 3.
    let (addr, _accepted) = accept_one(tmp.path(), 1, RAFT).await;
    let dialed = dial(&identity(tmp.path(), 2), NodeId(3), addr, RAFT, LIMITS).await;
    assert!(
        matches!(dialed, Err(ChannelError::Tls { .. })),
        "node 1's certificate passed as node 3's: {dialed:?}"
    );
}

#[tokio::test]
async fn a_node_of_another_cluster_is_refused() {
    let tmp = TempDir::new().unwrap();
    cluster_pki(tmp.path());
    let other = TempDir::new().unwrap();
    cluster_pki(other.path());
    let (addr, accepted) = accept_one(tmp.path(), 1, RAFT).await;
    let dialed = dial(&identity(other.path(), 2), NodeId(1), addr, RAFT, LIMITS).await;
    assert!(dialed.is_err(), "a foreign CA's node 2 was accepted");
    assert!(accepted.await.unwrap().is_err());
}

#[tokio::test]
async fn frames_above_the_limit_are_refused_both_ways() {
    let tmp = TempDir::new().unwrap();
    cluster_pki(tmp.path());
    let (addr, accepted) = accept_one(tmp.path(), 1, RAFT).await;
    let big = Limits {
        max_frame_bytes: 4096,
        ..LIMITS
    };
    // The client allows itself bigger frames than the server accepts.
    let mut client = dial(&identity(tmp.path(), 2), NodeId(1), addr, RAFT, big)
        .await
        .unwrap();
    let mut server = accepted.await.unwrap().unwrap();

    let too_big = server.send(Bytes::from(vec![b'x'; 2000])).await;
    assert!(
        matches!(
            too_big,
            Err(ChannelError::TooLarge {
                size: 2000,
                max: 1024
            })
        ),
        "{too_big:?}"
    );
    client.send(Bytes::from(vec![b'x'; 2000])).await.unwrap();
    let got = server.recv().await;
    assert!(
        matches!(got, Err(ChannelError::Oversized { max: 1024 })),
        "{got:?}"
    );
}

//! The RPC server's gatekeeping, exercised with raw TLS clients on loopback.
#![allow(clippy::unwrap_used)]

mod common;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use common::kv::{KvApp, KvResponse, set};
use common::{Layout, capable, eventually, init_tracing, pki_for};
use futures::{SinkExt, StreamExt};
use openraft::ServerState;
use rustls::ClientConfig;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use ssinet_interconnect::identity::{NodeIdentity, server_name};
use ssinet_interconnect::{Hello, HelloReply};
use ssinet_raft::transport::{Frame, Reply, Request, SERVICE};
use ssinet_raft::{ClusterNode, ElectNowError, NodeId};
use tempfile::TempDir;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;
use tokio_util::codec::{Framed, LengthDelimitedCodec};

type Conn = Framed<TlsStream<TcpStream>, LengthDelimitedCodec>;

/// A one-node cluster (node 1) with certificates issued for nodes 1, 2 and 3.
async fn single_node(tmp: &Path) -> (ClusterNode<KvApp>, SocketAddr) {
    init_tracing();
    let mut layout = Layout::new(tmp, &[capable(1, true, true)]).await;
    // Certificates for would-be peers 2 and 3 from the same CA.
    std::fs::remove_dir_all(tmp.join("pki")).unwrap();
    pki_for(&tmp.join("pki"), &[1, 2, 3]);
    let addr = layout.addr(1);
    let node = layout.start(1).await;
    eventually("node 1 leading itself", || {
        node.metrics().borrow().state == ServerState::Leader
    })
    .await;
    (node, addr)
}

async fn tls_connect(
    config: Arc<ClientConfig>,
    addr: SocketAddr,
    server: u64,
) -> std::io::Result<Conn> {
    let tcp = TcpStream::connect(addr).await?;
    let tls = TlsConnector::from(config)
        .connect(server_name(NodeId(server)), tcp)
        .await?;
    let codec = LengthDelimitedCodec::builder()
        .max_frame_length(64 * 1024 * 1024)
        .new_codec();
    Ok(Framed::new(tls, codec))
}

async fn send_frame(conn: &mut Conn, id: u64, body: Request<KvApp>) -> std::io::Result<()> {
    let raw = serde_json::to_vec(&Frame { id, body }).unwrap();
    conn.send(Bytes::from(raw)).await
}

/// The next reply, or `None` once the server has closed the connection (or failed it).
async fn next_reply(conn: &mut Conn) -> Option<Frame<Reply<KvApp>>> {
    let next = tokio::time::timeout(Duration::from_secs(20), conn.next())
        .await
        .expect("the server neither answered nor closed the connection");
    match next {
        Some(Ok(raw)) => Some(serde_json::from_slice(&raw).unwrap()),
        Some(Err(_)) | None => None,
    }
}

fn identity(tmp: &Path, node: u64) -> NodeIdentity {
    NodeIdentity::load(&tmp.join("pki").join(format!("node{node}")), NodeId(node)).unwrap()
}

/// Dials node 1 with `config`, claims in the interconnect hello to be `claim`, and returns the
/// hello reply (`None` if the server closed the connection instead).
async fn hello(
    config: Arc<ClientConfig>,
    addr: SocketAddr,
    claim: u64,
) -> (Option<Conn>, Option<HelloReply>) {
    let Ok(mut conn) = tls_connect(config, addr, 1).await else {
        return (None, None);
    };
    let hello = Hello {
        node: NodeId(claim),
        service: SERVICE.0.to_owned(),
    };
    let raw = serde_json::to_vec(&hello).unwrap();
    if conn.send(Bytes::from(raw)).await.is_err() {
        return (None, None);
    }
    let next = tokio::time::timeout(Duration::from_secs(20), conn.next())
        .await
        .expect("the server neither answered the hello nor closed the connection");
    let reply = match next {
        Some(Ok(raw)) => Some(serde_json::from_slice(&raw).unwrap()),
        Some(Err(_)) | None => None,
    };
    (Some(conn), reply)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_named_by_its_certificate_is_served() {
    let tmp = TempDir::new().unwrap();
    let (node, addr) = single_node(tmp.path()).await;
    let (conn, reply) = hello(identity(tmp.path(), 2).client_config(), addr, 2).await;
    assert!(matches!(reply, Some(HelloReply::Accepted)));
    let mut conn = conn.unwrap();

    send_frame(&mut conn, 1, Request::ClientWrite(set("k", "v")))
        .await
        .unwrap();
    let reply = next_reply(&mut conn).await.unwrap();
    assert_eq!(reply.id, 1);
    let Reply::ClientWrite(Ok(written)) = reply.body else {
        panic!("the forwarded write was not applied");
    };
    assert_eq!(written.response, KvResponse::Done { previous: None });
    assert_eq!(
        node.state().borrow().state.get("k").map(String::as_str),
        Some("v")
    );
    SinkExt::<Bytes>::close(&mut conn).await.unwrap();
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_claiming_another_node_is_refused() {
    let tmp = TempDir::new().unwrap();
    let (node, addr) = single_node(tmp.path()).await;
    // Node 2's certificate, claiming to be node 3.
    let (conn, reply) = hello(identity(tmp.path(), 2).client_config(), addr, 3).await;
    let Some(HelloReply::Refused { reason }) = reply else {
        panic!("a node 2 certificate was accepted as node 3");
    };
    assert!(reason.contains("claims node 3"), "{reason}");
    // And the server hangs up.
    assert!(next_reply(&mut conn.unwrap()).await.is_none());
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_certificate_from_another_ca_is_refused() {
    let tmp = TempDir::new().unwrap();
    let (node, addr) = single_node(tmp.path()).await;
    let foreign = TempDir::new().unwrap();
    pki_for(foreign.path(), &[2]);

    // Trusts our CA (so the server's certificate is fine) but presents a foreign node 2 cert.
    let our_ca = CertificateDer::pem_file_iter(tmp.path().join("pki/ca.pem"))
        .unwrap()
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    let mut roots = rustls::RootCertStore::empty();
    roots.add_parsable_certificates(our_ca);
    let chain = CertificateDer::pem_file_iter(foreign.path().join("node2/node.pem"))
        .unwrap()
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    let key = PrivateKeyDer::from_pem_file(foreign.path().join("node2/node.key")).unwrap();
    let config =
        ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_protocol_versions(&[&rustls::version::TLS13])
            .unwrap()
            .with_root_certificates(roots)
            .with_client_auth_cert(chain, key)
            .unwrap();
    let (_, reply) = hello(Arc::new(config), addr, 2).await;
    assert!(
        reply.is_none(),
        "a foreign certificate got a reply: {reply:?}"
    );

    // The whole foreign identity does not even accept our server.
    let foreign_id = NodeIdentity::load(&foreign.path().join("node2"), NodeId(2)).unwrap();
    assert!(
        tls_connect(foreign_id.client_config(), addr, 1)
            .await
            .is_err()
    );
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_not_named_as_the_dialed_node_is_refused() {
    let tmp = TempDir::new().unwrap();
    let (node, addr) = single_node(tmp.path()).await;
    // Node 1 answers at this address, but we meant to reach node 3.
    let err = tls_connect(identity(tmp.path(), 2).client_config(), addr, 3).await;
    assert!(err.is_err(), "node 1's certificate passed as node 3's");
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_and_malformed_frames_close_the_connection() {
    let tmp = TempDir::new().unwrap();
    let (node, addr) = single_node(tmp.path()).await;
    let config = identity(tmp.path(), 2).client_config();

    // A length prefix above the 16 MiB limit: the server hangs up without reading the body.
    let (conn, reply) = hello(config.clone(), addr, 2).await;
    assert!(matches!(reply, Some(HelloReply::Accepted)));
    let mut tls = conn.unwrap().into_inner();
    let announced: u32 = 17 * 1024 * 1024;
    tls.write_all(&announced.to_be_bytes()).await.unwrap();
    tls.write_all(&[b'x'; 1024]).await.unwrap();
    tls.flush().await.unwrap();
    let codec = LengthDelimitedCodec::builder().new_codec();
    let mut conn = Framed::new(tls, codec);
    assert!(next_reply(&mut conn).await.is_none());

    // A frame that is not a request: closed too.
    let (conn, reply) = hello(config.clone(), addr, 2).await;
    assert!(matches!(reply, Some(HelloReply::Accepted)));
    let mut conn = conn.unwrap();
    conn.send(Bytes::from_static(b"{\"id\":1,\"body\":\"nonsense\"}"))
        .await
        .unwrap();
    assert!(next_reply(&mut conn).await.is_none());

    // The server still serves well-behaved peers.
    let (_, reply) = hello(config, addr, 2).await;
    assert!(matches!(reply, Some(HelloReply::Accepted)));
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn elect_now_from_a_node_that_is_not_the_leader_is_refused() {
    let tmp = TempDir::new().unwrap();
    let (node, addr) = single_node(tmp.path()).await;
    let term = node.metrics().borrow().current_term;
    let (conn, reply) = hello(identity(tmp.path(), 2).client_config(), addr, 2).await;
    assert!(matches!(reply, Some(HelloReply::Accepted)));
    let mut conn = conn.unwrap();

    // Node 2 is not the leader node 1 follows (node 1 leads itself): no election is started.
    send_frame(&mut conn, 1, Request::ElectNow).await.unwrap();
    let reply = next_reply(&mut conn).await.unwrap();
    let Reply::ElectNow(Err(refused)) = reply.body else {
        panic!("a stray ElectNow was accepted");
    };
    assert_eq!(
        refused,
        ElectNowError::NotFromLeader {
            from: NodeId(2),
            leader: Some(NodeId(1))
        }
    );
    assert!(refused.to_string().contains("follows node 1"), "{refused}");
    let m = node.metrics().borrow().clone();
    assert_eq!((m.state, m.current_term), (ServerState::Leader, term));
    SinkExt::<Bytes>::close(&mut conn).await.unwrap();
    node.shutdown().await;
}

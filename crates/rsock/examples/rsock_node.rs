//! One node's rsock service as a process, for tests and benchmarks until ssinetd embeds it.
//!
//! rsock_node --node 1 --listen 10.200.0.1:7948 --peer 2=10.200.0.2:7948 \
//!            --pki-dir /tmp/pki/node1 --broker /tmp/rsock-1.sock

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use clap::Parser;
use ssinet_interconnect::{NodeId, NodeIdentity};
use ssinet_rsock::{RsockConfig, RsockLimits, RsockService};

#[derive(Parser)]
struct Args {
    #[arg(long)]
    node: NodeId,
    #[arg(long)]
    listen: SocketAddr,
    /// NODE=ADDR, repeated.
    #[arg(long = "peer")]
    peers: Vec<String>,
    /// Directory holding ca.pem, node.pem, node.key.
    #[arg(long)]
    pki_dir: PathBuf,
    #[arg(long, default_value = ssinet_rsock_wire::DEFAULT_BROKER_SOCKET)]
    broker: PathBuf,
}

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    let mut peers = BTreeMap::new();
    for spec in &args.peers {
        let (node, addr) = spec
            .split_once('=')
            .with_context(|| format!("--peer {spec}: expected NODE=ADDR"))?;
        peers.insert(
            node.parse::<NodeId>()
                .map_err(|e| anyhow::anyhow!("--peer {spec}: {e}"))?,
            addr.parse()
                .with_context(|| format!("--peer {spec}: bad address"))?,
        );
    }
    let identity =
        NodeIdentity::load(&args.pki_dir, args.node).context("loading the node's TLS identity")?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let service = RsockService::start(RsockConfig {
            node: args.node,
            listen: args.listen,
            peers,
            identity,
            broker_socket: args.broker,
            limits: RsockLimits::default(),
        })
        .await
        .context("starting the rsock service")?;
        // Tests wait for this line before they use the broker.
        println!("ready epoch={:x}", service.epoch());
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
        service.shutdown().await;
        anyhow::Ok(())
    })
}

//! `ssinetd`: the ssinet node agent. It reads OpenSSI's clustertab and cvip.conf, joins the Raft
//! cluster on the interconnect (mutual TLS), seeds the replicated state from cvip.conf on first
//! start, and serves the root-only admin API that `cvipctl` uses.

mod admin;
mod agent;
mod cli;
mod dataplane;
mod detect;
mod membership;
mod metrics;
mod notify;
mod peers;
mod register;
mod seed;
mod startup;

use std::net::SocketAddr;
use std::os::unix::fs::DirBuilderExt;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use anyhow::Context;
use clap::Parser;
use ssinet_api::ClusterApp;
use ssinet_config::NodeId;
use ssinet_interconnect::NodeIdentity;
use ssinet_raft::ClusterNode;
use tokio::net::TcpListener;
use tokio::signal::unix::{SignalKind, signal};

use crate::agent::Agent;
use crate::cli::Args;

fn main() -> ExitCode {
    let args = Args::parse();
    if let Some(dir) = &args.fence_guard {
        return ExitCode::from(dataplane::guard::run(dir));
    }
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,openraft=warn".into()),
        )
        .with_writer(std::io::stderr)
        // Colours only on a terminal; journald and log files get plain text.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    // A bad configuration is refused before anything is created or bound.
    if let Err(e) = args.release() {
        eprintln!("ssinetd: {e}");
        return ExitCode::from(2);
    }
    let files = match startup::load_config(&args) {
        Ok(files) => files,
        Err(e) => {
            eprintln!("ssinetd: {e}");
            return ExitCode::from(1);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("ssinetd: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(run(args, files)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e:#}");
            eprintln!("ssinetd: {e:#}");
            ExitCode::from(1)
        }
    }
}

async fn run(args: Args, files: ssinet_config::ClusterConfig) -> anyhow::Result<()> {
    let node_num = startup::own_node(&args, &files)?;
    let config = startup::node_config(&args, &files, node_num)?;
    let me = config.node;
    // Raft's own identity check runs again in ClusterNode::start; the peer status server needs it too.
    let identity = NodeIdentity::load(&config.pki_dir, me)?;
    let own_ip = files
        .node(node_num)
        .context("own node missing from clustertab")?
        .ip;
    let peer_port = args.peer_port();
    let peer_listener = TcpListener::bind(SocketAddr::new(config.listen.ip(), peer_port))
        .await
        .with_context(|| {
            format!(
                "cannot listen for peer status on {}:{peer_port}",
                config.listen.ip()
            )
        })?;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&config.data_dir)
        .with_context(|| {
            format!(
                "cannot create the data directory {}",
                config.data_dir.display()
            )
        })?;
    let mut socket = admin::AdminSocket::bind(&args.admin_socket)?;

    let timing = config.timing;
    let config_ip = config.listen.ip();
    let release = args.release().map_err(anyhow::Error::msg)?;
    let data_dir = config.data_dir.clone();
    tracing::info!(node = %me, ip = %own_ip, raft = %config.listen, data_dir = %config.data_dir.display(), "starting");
    let node = match ClusterNode::<ClusterApp>::start(config).await {
        Ok(node) => node,
        Err(e) => {
            socket.remove();
            return Err(e).context("cannot start the Raft node");
        }
    };
    let rsock = if args.no_rsock {
        None
    } else {
        match start_rsock(&args, &files, me, config_ip, &identity).await {
            Ok(service) => Some(Arc::new(service)),
            Err(e) => {
                socket.remove();
                node.shutdown().await;
                return Err(e);
            }
        }
    };
    let peer_addrs = startup::peer_status_addrs(&files, me, peer_port);
    let (data_plane_tx, data_plane_rx) = tokio::sync::watch::channel(Default::default());
    let agent = Agent::new(
        node,
        files.clone(),
        timing,
        peers::Prober::new(&identity, peer_addrs),
        data_plane_rx,
        rsock.clone(),
    );
    let (stop_data_plane, data_plane_stop) = tokio::sync::watch::channel(false);
    let (eligible_tx, mut eligible_rx) = tokio::sync::watch::channel(true);
    let data_plane = dataplane::DataPlane {
        node: node_num,
        own_ip,
        data_dir,
        release,
        metrics: agent.node.metrics(),
        state: agent.node.state(),
        peers: agent.peers.clone(),
        status: data_plane_tx,
        eligible: eligible_tx,
        stop: data_plane_stop,
    }
    .spawn()
    .context("cannot start the data-plane thread")?;
    let reporter = agent.clone();
    let elector = agent.clone();
    let tasks = vec![
        // The data plane judges the external links; the election driver acts on it.
        tokio::spawn(async move {
            while eligible_rx.changed().await.is_ok() {
                let eligible = *eligible_rx.borrow_and_update();
                elector.node.set_eligible(eligible);
            }
        }),
        tokio::spawn(peers::serve(peer_listener, identity.clone(), move || {
            reporter.own_report()
        })),
        tokio::spawn(agent.prober.clone().watch(me, agent.peers.clone())),
        tokio::spawn(seed::seed_state(agent.clone(), files)),
        tokio::spawn(membership::follow(agent.clone(), args.raft_port, peer_port)),
        tokio::spawn(register::run(agent.clone())),
        tokio::spawn(notify::ready_when_joined(agent.clone())),
    ];

    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let serving = {
        let agent = agent.clone();
        async move {
            socket
                .serve(agent, async {
                    let _ = stop_rx.await;
                })
                .await
                .map(|()| socket)
        }
    };
    let server = tokio::spawn(serving);
    let signal_name = wait_for_signal().await?;
    tracing::info!(node = %me, signal = signal_name, "shutting down");
    notify::stopping();
    agent.shutting_down.store(true, Ordering::Relaxed);
    // The director lets go of its CVIPs first, so a successor can take them at once.
    let _ = stop_data_plane.send(true);
    if tokio::task::spawn_blocking(move || data_plane.join())
        .await
        .is_err()
    {
        tracing::warn!(node = %me, "the data-plane thread ended abnormally");
    }
    let _ = stop_tx.send(());
    if let Some(rsock) = &rsock {
        rsock.shutdown().await;
    }
    drop(rsock);
    for task in &tasks {
        task.abort();
    }
    // Aborted tasks drop their futures (and their hold on the agent) when awaited.
    for task in tasks {
        let _ = task.await;
    }
    // In-flight admin requests get a moment to finish; a stuck one does not hold up shutdown.
    let socket = match tokio::time::timeout(std::time::Duration::from_secs(5), server).await {
        Ok(Ok(Ok(socket))) => Some(socket),
        Ok(Ok(Err(e))) => {
            tracing::warn!(error = %e, "admin API stopped with an error");
            None
        }
        _ => None,
    };
    if let Some(socket) = &socket {
        socket.remove();
    } else if let Err(e) = std::fs::remove_file(&args.admin_socket) {
        tracing::warn!(error = %e, "cannot remove the admin socket");
    }
    let agent = Arc::into_inner(agent);
    match agent {
        Some(agent) => agent.node.shutdown().await,
        None => tracing::warn!(
            node = %me,
            "admin requests still hold the node; exiting without a clean Raft shutdown"
        ),
    }
    tracing::info!(node = %me, "stopped");
    Ok(())
}

/// The remote-socket service: the origin side on the interconnect, peers at every other
/// clustertab node's interconnect address, the broker for this node's `ssi-exec` processes.
async fn start_rsock(
    args: &Args,
    files: &ssinet_config::ClusterConfig,
    me: NodeId,
    ip: std::net::IpAddr,
    identity: &NodeIdentity,
) -> anyhow::Result<ssinet_rsock::RsockService> {
    let port = args.rsock_port();
    let config = ssinet_rsock::RsockConfig {
        node: me,
        listen: SocketAddr::new(ip, port),
        peers: startup::peer_status_addrs(files, me, port),
        identity: identity.clone(),
        broker_socket: args.rsock_socket.clone(),
        limits: ssinet_rsock::RsockLimits::default(),
    };
    ssinet_rsock::RsockService::start(config)
        .await
        .context("cannot start the remote-socket service (--rsock-port, --rsock-socket; --no-rsock turns it off)")
}

async fn wait_for_signal() -> anyhow::Result<&'static str> {
    let mut term = signal(SignalKind::terminate()).context("cannot handle SIGTERM")?;
    let mut int = signal(SignalKind::interrupt()).context("cannot handle SIGINT")?;
    Ok(tokio::select! {
        _ = term.recv() => "SIGTERM",
        _ = int.recv() => "SIGINT",
    })
}

//! systemd readiness (`Type=notify`): `READY=1` once the node has joined the cluster (the
//! replicated state is here and a leader is known), `STOPPING=1` on shutdown. Spoken directly
//! on `$NOTIFY_SOCKET` (a unix datagram socket, `@` meaning the abstract namespace); nothing
//! happens when the variable is unset.

use std::sync::Arc;
use std::time::Duration;

use crate::agent::Agent;

pub async fn ready_when_joined(agent: Arc<Agent>) {
    if std::env::var_os("NOTIFY_SOCKET").is_none() {
        return;
    }
    loop {
        let joined = !agent.node.state().borrow().state.is_empty()
            && agent.node.metrics().borrow().current_leader.is_some();
        if joined {
            let leader = agent.node.metrics().borrow().current_leader;
            send(&format!(
                "READY=1\nSTATUS=joined the cluster (leader {})",
                leader.map_or_else(|| "unknown".into(), |l| l.to_string())
            ));
            tracing::info!(node = %agent.id(), "told systemd: ready");
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

pub fn stopping() {
    send("STOPPING=1");
}

fn send(message: &str) {
    let Some(path) = std::env::var_os("NOTIFY_SOCKET") else {
        return;
    };
    let result = (|| -> std::io::Result<()> {
        use std::os::unix::net::{SocketAddr, UnixDatagram};
        let socket = UnixDatagram::unbound()?;
        let bytes = std::os::unix::ffi::OsStrExt::as_bytes(path.as_os_str());
        let addr = match bytes.strip_prefix(b"@") {
            Some(name) => {
                use std::os::linux::net::SocketAddrExt;
                SocketAddr::from_abstract_name(name)?
            }
            None => SocketAddr::from_pathname(std::path::Path::new(&path))?,
        };
        socket.send_to_addr(message.as_bytes(), &addr)?;
        Ok(())
    })();
    if let Err(e) = result {
        tracing::warn!(error = %e, "cannot notify systemd");
    }
}

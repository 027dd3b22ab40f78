//! The admin API's transport: a unix socket only root can open (directory 0700 when we create
//! it, socket 0600) and, on every connection, the peer's `SO_PEERCRED` uid must be 0, so a
//! socket file made reachable by mistake still serves nobody else.

mod ipvs;
mod routes;
mod rsock;

use std::io;
use std::os::unix::fs::{DirBuilderExt, FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, bail};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{UnixListener, UnixStream};

use crate::agent::Agent;

pub use routes::router;

/// Why a connection from anyone but root is refused (the body of a 403).
const FORBIDDEN_BODY: &str = "the ssinet admin API is for root only: run cvipctl as root (uid 0)\n";

fn forbidden() -> String {
    format!(
        "HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n{FORBIDDEN_BODY}",
        FORBIDDEN_BODY.len()
    )
}

/// The bound admin socket; removing the file is the owner's job ([`AdminSocket::remove`]).
pub struct AdminSocket {
    path: PathBuf,
    listener: Option<UnixListener>,
}

impl AdminSocket {
    /// Creates the socket at `path`, replacing a stale one left by a crashed agent but refusing
    /// to take over from a running one.
    pub fn bind(path: &Path) -> anyhow::Result<Self> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty())
            && !dir.exists()
        {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
        }
        match std::fs::symlink_metadata(path) {
            Ok(meta) if meta.file_type().is_socket() => {
                if std::os::unix::net::UnixStream::connect(path).is_ok() {
                    bail!(
                        "{} is in use: another ssinetd is running on this node (stop it first, \
                         or pass another --admin-socket)",
                        path.display()
                    );
                }
                std::fs::remove_file(path).with_context(|| {
                    format!("cannot remove the stale socket {}", path.display())
                })?;
            }
            Ok(_) => bail!(
                "{} exists and is not a socket; remove it or pass another --admin-socket",
                path.display()
            ),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e).with_context(|| format!("cannot inspect {}", path.display())),
        }
        let listener = UnixListener::bind(path)
            .with_context(|| format!("cannot listen on {}", path.display()))?;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
            .with_context(|| format!("cannot make {} private (0600)", path.display()))?;
        tracing::info!(socket = %path.display(), "admin API listening");
        Ok(Self {
            path: path.to_path_buf(),
            listener: Some(listener),
        })
    }

    /// Serves the admin API until `shutdown` resolves.
    pub async fn serve(
        &mut self,
        agent: Arc<Agent>,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> io::Result<()> {
        let listener = self
            .listener
            .take()
            .ok_or_else(|| io::Error::other("the admin socket is already being served"))?;
        axum::serve(RootOnly(listener), router(agent))
            .with_graceful_shutdown(shutdown)
            .await
    }

    /// Removes the socket file.
    pub fn remove(&self) {
        if let Err(e) = std::fs::remove_file(&self.path)
            && e.kind() != io::ErrorKind::NotFound
        {
            tracing::warn!(socket = %self.path.display(), error = %e, "cannot remove the admin socket");
        }
    }
}

/// A listener that hands axum only connections from uid 0 and answers the rest with 403.
struct RootOnly(UnixListener);

impl axum::serve::Listener for RootOnly {
    type Io = UnixStream;
    type Addr = tokio::net::unix::SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let (stream, addr) = match self.0.accept().await {
                Ok(accepted) => accepted,
                Err(e) => {
                    tracing::warn!(error = %e, "admin socket: accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            };
            match stream.peer_cred() {
                Ok(cred) if cred.uid() == 0 => return (stream, addr),
                Ok(cred) => {
                    tracing::warn!(uid = cred.uid(), pid = ?cred.pid(), "admin API refused a non-root client");
                    tokio::spawn(refuse(stream));
                }
                Err(e) => {
                    tracing::warn!(error = %e, "admin API: cannot read the client's credentials; refused")
                }
            }
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.0.local_addr()
    }
}

/// Answers 403 and closes. The request is read first: closing a unix socket with unread data
/// resets the connection, and the client would see the reset instead of the answer.
async fn refuse(mut stream: UnixStream) {
    let _ = tokio::time::timeout(std::time::Duration::from_secs(2), async {
        let mut request = Vec::new();
        let mut buf = [0u8; 1024];
        while !request.windows(4).any(|w| w == b"\r\n\r\n") && request.len() < 16 * 1024 {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => request.extend_from_slice(&buf[..n]),
            }
        }
        let _ = stream.write_all(forbidden().as_bytes()).await;
        let _ = stream.shutdown().await;
        // Drain what else arrives (a body) until the client closes.
        while let Ok(n) = stream.read(&mut buf).await {
            if n == 0 {
                break;
            }
        }
    })
    .await;
}

#[cfg(test)]
mod tests {
    #[test]
    fn forbidden_is_a_complete_response() {
        let text = super::forbidden();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("HTTP/1.1 403 Forbidden\r\n"));
        assert!(head.contains(&format!("Content-Length: {}", body.len())));
    }
}

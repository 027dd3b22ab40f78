//! The local agent's admin API, spoken over its unix socket. Every failure maps to one of
//! cvipctl's exit codes and says what the operator can do about it.

mod http;

use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::de::DeserializeOwned;
use ssinet_api::admin::{self, ApiError, ErrorCode, StatusReport};
use ssinet_api::{ClusterState, Command, Response};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;

use crate::exit;

/// Why a request to the agent failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error(
        "ssinetd is not running on this node: cannot connect to {} ({source}) (start it with \
         systemctl start ssinetd, or pass --socket PATH if it listens elsewhere)",
        socket.display()
    )]
    NotRunning {
        socket: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "cannot connect to {}: permission denied; the admin socket is for root only (run cvipctl \
         as root)",
        socket.display()
    )]
    PermissionDenied { socket: PathBuf },
    #[error("cannot talk to ssinetd on {}: {source}", socket.display())]
    Io {
        socket: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "ssinetd on {} did not answer within {} s (is it stuck? see journalctl -u ssinetd; \
         --timeout SECS waits longer)",
        socket.display(),
        after.as_secs_f64()
    )]
    Timeout { socket: PathBuf, after: Duration },
    #[error("{0}")]
    Http(#[from] http::HttpError),
    #[error(
        "ssinetd answered {status} with a body cvipctl does not understand ({reason}); are cvipctl and ssinetd the same version?"
    )]
    UnexpectedBody { status: u16, reason: String },
    /// The cluster cannot commit now (no quorum, no leader, shutting down, timed out).
    #[error("{}", unavailable_message(.0))]
    Unavailable(ApiError),
    /// Any other error the agent reported.
    #[error("ssinetd refused the request: {0}")]
    Api(ApiError),
}

fn unavailable_message(error: &ApiError) -> String {
    match error.code {
        ErrorCode::NoQuorum => format!(
            "the cluster has no quorum, so nothing can be changed now: {} (a majority of the \
             voters must reach each other; see `cvipctl status`)",
            error.message
        ),
        ErrorCode::NoLeader => format!(
            "the cluster has no leader right now: {} (an election may be under way; retry in a \
             few seconds, and see `cvipctl status`)",
            error.message
        ),
        ErrorCode::ShuttingDown => format!(
            "ssinetd on this node is shutting down: {} (retry on another node or once it is \
             back)",
            error.message
        ),
        _ => format!(
            "the write was not confirmed in time: {} (it may still be applied; check with \
             `cvipctl status` and the list commands before retrying)",
            error.message
        ),
    }
}

impl ClientError {
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::NotRunning { .. }
            | Self::PermissionDenied { .. }
            | Self::Io { .. }
            | Self::Timeout { .. } => exit::AGENT_UNREACHABLE,
            Self::Unavailable(_) => exit::NO_QUORUM,
            Self::Http(_) | Self::UnexpectedBody { .. } | Self::Api(_) => exit::UNEXPECTED,
        }
    }
}

/// A client of one agent's admin socket.
pub struct AgentClient {
    socket: PathBuf,
    timeout: Duration,
}

impl AgentClient {
    pub fn new(socket: &Path, timeout: Duration) -> Self {
        Self {
            socket: socket.to_owned(),
            timeout,
        }
    }

    pub async fn status(&self) -> Result<StatusReport, ClientError> {
        let response = self.request("GET", admin::STATUS, None).await?;
        ok_json(response)
    }

    pub async fn state(&self) -> Result<ClusterState, ClientError> {
        let response = self.request("GET", admin::STATE, None).await?;
        ok_json(response)
    }

    pub async fn ipvs(&self) -> Result<ssinet_api::dataplane::IpvsReport, ClientError> {
        let response = self
            .request("GET", ssinet_api::dataplane::IPVS, None)
            .await?;
        ok_json(response)
    }

    pub async fn rsock(&self) -> Result<ssinet_api::rsock::RsockReport, ClientError> {
        let response = self.request("GET", ssinet_api::rsock::RSOCK, None).await?;
        ok_json(response)
    }

    /// Sends a command; both an applied and a rejected command are `Ok`.
    pub async fn send(&self, command: &Command) -> Result<Response, ClientError> {
        let body = serde_json::to_vec(command).map_err(|e| ClientError::UnexpectedBody {
            status: 0,
            reason: format!("cannot encode the command: {e}"),
        })?;
        let response = self.request("POST", admin::COMMANDS, Some(&body)).await?;
        if response.status == admin::STATUS_APPLIED || response.status == admin::STATUS_REJECTED {
            return decode(&response);
        }
        Err(api_error(&response))
    }

    async fn request(
        &self,
        method: &str,
        path: &str,
        body: Option<&[u8]>,
    ) -> Result<http::HttpResponse, ClientError> {
        let exchange = async {
            let mut stream = UnixStream::connect(&self.socket)
                .await
                .map_err(|source| self.connect_error(source))?;
            let request = http::encode_request(method, path, body);
            stream.write_all(&request).await.map_err(|e| self.io(e))?;
            let mut bytes = Vec::new();
            (&mut stream)
                .take(http::MAX_RESPONSE_BYTES as u64 + 1)
                .read_to_end(&mut bytes)
                .await
                .map_err(|e| self.io(e))?;
            if bytes.len() > http::MAX_RESPONSE_BYTES {
                return Err(http::HttpError("the answer is larger than 64 MiB".into()).into());
            }
            Ok(http::parse_response(&bytes)?)
        };
        tokio::time::timeout(self.timeout, exchange)
            .await
            .map_err(|_| ClientError::Timeout {
                socket: self.socket.clone(),
                after: self.timeout,
            })?
    }

    fn connect_error(&self, source: std::io::Error) -> ClientError {
        let socket = self.socket.clone();
        match source.kind() {
            ErrorKind::NotFound | ErrorKind::ConnectionRefused => {
                ClientError::NotRunning { socket, source }
            }
            ErrorKind::PermissionDenied => ClientError::PermissionDenied { socket },
            _ => ClientError::Io { socket, source },
        }
    }

    fn io(&self, source: std::io::Error) -> ClientError {
        ClientError::Io {
            socket: self.socket.clone(),
            source,
        }
    }
}

fn decode<T: DeserializeOwned>(response: &http::HttpResponse) -> Result<T, ClientError> {
    serde_json::from_slice(&response.body).map_err(|e| ClientError::UnexpectedBody {
        status: response.status,
        reason: e.to_string(),
    })
}

fn ok_json<T: DeserializeOwned>(response: http::HttpResponse) -> Result<T, ClientError> {
    if response.status == 200 {
        decode(&response)
    } else {
        Err(api_error(&response))
    }
}

/// A non-success answer: the agent's `ApiError` when it sent one.
fn api_error(response: &http::HttpResponse) -> ClientError {
    match serde_json::from_slice::<ApiError>(&response.body) {
        Ok(error) if error.code.is_unavailable() => ClientError::Unavailable(error),
        Ok(error) => ClientError::Api(error),
        Err(_) => {
            let text = String::from_utf8_lossy(&response.body);
            let text = text.trim();
            ClientError::UnexpectedBody {
                status: response.status,
                reason: if text.is_empty() {
                    "empty body".into()
                } else {
                    text.chars().take(200).collect()
                },
            }
        }
    }
}

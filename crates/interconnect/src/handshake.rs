//! Opening a channel: TCP, TLS 1.3 with both certificates from the cluster CA, then one hello
//! frame each way.
//!
//! TLS proves the server is the node the dialer meant (its certificate names that node). The
//! server learns who the client is from the hello: the node it claims must be the one its
//! certificate names, and the service it asks for must be the one the port serves, so a
//! connection to the wrong port fails with a reason instead of a decoding error later.

use std::net::SocketAddr;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::net::TcpStream;
use tokio_rustls::{TlsAcceptor, TlsConnector, TlsStream};

use crate::channel::Channel;
use crate::frame::{close, decode_json, encode_json, framed, recv, send};
use crate::identity::{NodeIdentity, certificate_names_node, server_name};
use crate::{ChannelError, NodeId};

/// The name of a peer service, one per port (`"raft"`, `"status"`, `"rsock"`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Service(pub &'static str);

/// A channel's bounds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Largest frame sent or accepted, hellos included; a peer announcing a larger one is cut
    /// off.
    pub max_frame_bytes: usize,
    /// TCP connect (dialing), TLS handshake and hello together.
    pub handshake_timeout: Duration,
}

/// The dialing node's first frame.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hello {
    /// The node the client says it is; its certificate must name it.
    pub node: NodeId,
    /// The service it wants; the port must serve it.
    pub service: String,
}

/// The accepting node's answer to a [`Hello`]; after a refusal it closes the connection.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum HelloReply {
    Accepted,
    Refused { reason: String },
}

/// Opens a channel to `node` at `addr` for `service`, as `identity`'s node.
pub async fn dial(
    identity: &NodeIdentity,
    node: NodeId,
    addr: SocketAddr,
    service: Service,
    limits: Limits,
) -> Result<Channel, ChannelError> {
    let handshake = async move {
        let max = limits.max_frame_bytes;
        let tcp = TcpStream::connect(addr)
            .await
            .map_err(|source| ChannelError::Connect { node, addr, source })?;
        // Small request/reply frames: never wait for Nagle.
        let _ = tcp.set_nodelay(true);
        let tls = TlsConnector::from(identity.client_config())
            .connect(server_name(node), tcp)
            .await
            .map_err(|source| ChannelError::Tls {
                peer: format!("node {node} at {addr}"),
                source,
            })?;
        let mut stream = framed(TlsStream::Client(tls), max);
        let hello = Hello {
            node: identity.node(),
            service: service.0.to_owned(),
        };
        send(&mut stream, encode_json(&hello, max)?, max).await?;
        let reply = match recv(&mut stream, max).await {
            Err(ChannelError::Closed) => {
                return Err(ChannelError::Refused {
                    node,
                    reason: "closed during the hello (our certificate refused?)".into(),
                });
            }
            reply => decode_json(&reply?)?,
        };
        match reply {
            HelloReply::Accepted => Ok(Channel::new(stream, node, max)),
            HelloReply::Refused { reason } => Err(ChannelError::Refused { node, reason }),
        }
    };
    bounded(
        "connect, TLS handshake and hello",
        limits.handshake_timeout,
        handshake,
    )
    .await
}

/// `handshake`, or [`ChannelError::Timeout`] naming `what` once `after` has passed.
async fn bounded(
    what: &'static str,
    after: Duration,
    handshake: impl Future<Output = Result<Channel, ChannelError>>,
) -> Result<Channel, ChannelError> {
    tokio::time::timeout(after, handshake)
        .await
        .map_err(|_| ChannelError::Timeout { what, after })?
}

/// Accepts channels for one service on behalf of one node.
#[derive(Clone)]
pub struct Acceptor {
    tls: TlsAcceptor,
    service: Service,
    limits: Limits,
}

impl Acceptor {
    /// Accepts peers of `identity`'s cluster asking for `service`.
    pub fn new(identity: &NodeIdentity, service: Service, limits: Limits) -> Self {
        Self {
            tls: TlsAcceptor::from(identity.server_config()),
            service,
            limits,
        }
    }

    /// Completes TLS and the hello on an accepted connection; the channel knows the peer node.
    /// A refused peer is told why before the connection closes.
    pub async fn accept(&self, tcp: TcpStream) -> Result<Channel, ChannelError> {
        let addr = tcp.peer_addr().map_err(ChannelError::Io)?;
        let _ = tcp.set_nodelay(true);
        bounded(
            "TLS handshake and hello",
            self.limits.handshake_timeout,
            self.accept_unbounded(tcp, addr),
        )
        .await
    }

    async fn accept_unbounded(
        &self,
        tcp: TcpStream,
        addr: SocketAddr,
    ) -> Result<Channel, ChannelError> {
        let max = self.limits.max_frame_bytes;
        let tls = self
            .tls
            .accept(tcp)
            .await
            .map_err(|source| ChannelError::Tls {
                peer: addr.to_string(),
                source,
            })?;
        let leaf = tls
            .get_ref()
            .1
            .peer_certificates()
            .and_then(|chain| chain.first())
            .cloned();
        let mut stream = framed(TlsStream::Server(tls), max);
        let hello: Hello = decode_json(&recv(&mut stream, max).await?)?;
        let verdict = if hello.service != self.service.0 {
            Err(format!(
                "asks for service {:?} but this port serves {:?}",
                hello.service, self.service.0
            ))
        } else {
            match leaf {
                None => Err("presents no client certificate".to_owned()),
                Some(leaf) => certificate_names_node(&leaf, hello.node).map_err(|reason| {
                    format!("claims node {} but its certificate is {reason}", hello.node)
                }),
            }
        };
        match verdict {
            Ok(()) => {
                send(&mut stream, encode_json(&HelloReply::Accepted, max)?, max).await?;
                Ok(Channel::new(stream, hello.node, max))
            }
            Err(reason) => {
                let refusal = HelloReply::Refused {
                    reason: reason.clone(),
                };
                if let Ok(frame) = encode_json(&refusal, max) {
                    let _ = send(&mut stream, frame, max).await;
                }
                close(&mut stream).await;
                Err(ChannelError::RefusedPeer { addr, reason })
            }
        }
    }
}

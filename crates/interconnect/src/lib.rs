//! The cluster interconnect: who a node is, how the cluster vouches for it, and the one
//! connection every peer service (Raft RPC, peer status, remote sockets) talks over.
//!
//! - [`pki`]: the cluster CA and a key and certificate per node (`cvipctl pki init`).
//! - [`NodeIdentity`]: a node's loaded files, as TLS 1.3 server and client configurations that
//!   trust only the cluster CA.
//! - [`Channel`]: one mutually authenticated TCP connection to one peer node, carrying
//!   length-delimited frames with a size limit. [`dial`] checks that the server's certificate
//!   names the node meant; an [`Acceptor`] checks that the client's certificate names the node
//!   its hello claims, and that it asked for the service the port serves.
//!
//! The crate knows nothing of Raft or sockets; services put their own messages in the frames.
//! It must never depend on the agent, Raft or the remote-socket crates.

mod channel;
mod error;
mod frame;
mod handshake;
pub mod identity;
pub mod pki;

pub use channel::{Channel, ChannelReader, ChannelWriter};
pub use error::ChannelError;
pub use frame::encode_json;
pub use handshake::{Acceptor, Hello, HelloReply, Limits, Service, dial};
pub use identity::{IdentityError, NodeIdentity};

pub use ssinet_config::NodeId;

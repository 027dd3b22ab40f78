//! What `ssinetd` and `cvipctl` agree on: the replicated cluster state ([`ClusterState`]), the
//! commands that change it ([`Command`]) and their answers ([`Response`]), the Raft application
//! that applies them ([`ClusterApp`]), and the admin API spoken on the agent's unix socket
//! ([`admin`]).
//!
//! Every command is validated by the same rules as `cvipctl config check`
//! ([`ssinet_config::ClusterConfig::validate`]) after it is applied to a copy of the state; the copy
//! is kept only when it is valid. So a rejected command changes nothing, and every node, applying
//! the same log, reaches the same state and the same answers.

pub mod admin;
mod apply;
mod command;
pub mod dataplane;
mod export;
pub mod rsock;
mod state;

pub use apply::ClusterApp;
pub use command::{Command, Listener, Response};
pub use export::ExportedFiles;
pub use state::{ClusterState, ListenerKey, Registration};

//! `cvip`, `director`, `port-weight`: list from this node's applied state, change through a
//! command the agent commits via the leader.

mod cvip;
mod director;
mod port_weight;
mod service;

pub use cvip::{CvipCommand, run as cvip};
pub use director::{DirectorCommand, run as director};
pub use port_weight::{PortWeightCommand, run as port_weight};
pub use service::{
    HealthCommand, PersistenceCommand, SchedulerCommand, health, persistence, scheduler,
};

use std::process::ExitCode;

use ssinet_api::Command;
use ssinet_config::{NodeId, Protocol};

use crate::Context;
use crate::output::report;

/// Sends `command` and reports the cluster's answer.
async fn write(context: &Context, command: Command) -> anyhow::Result<ExitCode> {
    let response = context.client.send(&command).await?;
    report(&response, context.json)
}

/// `tcp` or `udp`, any case.
pub fn parse_proto(s: &str) -> Result<Protocol, String> {
    if s.eq_ignore_ascii_case("tcp") {
        Ok(Protocol::Tcp)
    } else if s.eq_ignore_ascii_case("udp") {
        Ok(Protocol::Udp)
    } else {
        Err(format!("{s:?} is not a protocol (expected tcp or udp)"))
    }
}

/// A node number from clustertab (1 or more), with [`NodeId`]'s message when it is not one.
pub fn parse_node(s: &str) -> Result<NodeId, String> {
    s.parse()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protocols_and_nodes_parse_as_operators_write_them() {
        assert_eq!(parse_proto("TCP"), Ok(Protocol::Tcp));
        assert_eq!(parse_proto("udp"), Ok(Protocol::Udp));
        assert_eq!(
            parse_proto("sctp").unwrap_err(),
            "\"sctp\" is not a protocol (expected tcp or udp)"
        );
        assert_eq!(parse_node("3"), Ok(NodeId(3)));
        assert!(parse_node("0").is_err());
        assert!(parse_node("x").is_err());
    }
}

//! The kernel IPVS load balancer over generic netlink: typed messages for the whole `IPVS`
//! family, an async client that pipelines requests on one socket, and a reconciler that brings
//! the kernel's table to a desired one while leaving services it does not own alone.
//!
//! ```no_run
//! # async fn demo() -> Result<(), ssinet_ipvs::IpvsError> {
//! use ssinet_ipvs::*;
//! let vip = "192.168.200.10".parse().expect("an address");
//! let service = Service::new(ServiceKey::tcp(vip, 80), Scheduler::Maglev)
//!     .with_flags(ServiceFlags::MH_PORT);
//! let real = Destination::new("10.200.0.3".parse().expect("an address"), 80, Forwarding::DirectRoute, 1);
//! let mut desired = DesiredTable::new();
//! desired.insert(DesiredService { service, destinations: vec![real] })?;
//! let mut client = IpvsClient::connect().await?; // this thread's network namespace
//! let mut reconciler = Reconciler::new(PlanOptions { drain: Some(std::time::Duration::from_secs(30)) });
//! let report = reconciler.run(&mut client, &desired, &Ownership::addresses([vip])).await?;
//! assert!(report.failures.is_empty());
//! # Ok(()) }
//! ```

pub mod client;
pub mod describe;
pub mod desired;
pub mod error;
pub mod message;
pub mod modules;
pub mod reconcile;

pub use client::{IpvsClient, OpResult, ServiceEntry};
pub use desired::{DesiredService, DesiredTable, Ownership};
pub use error::{DecodeError, IpvsError};
pub use message::*;
pub use reconcile::{Change, Plan, PlanOptions, Reconciler, RunReport};

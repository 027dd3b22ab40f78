//! Typed messages of the `IPVS` generic netlink family (`include/uapi/linux/ip_vs.h`).
//!
//! Attributes are written in the order ipvsadm's libipvs writes them, so what this crate sends
//! can be compared byte for byte with what ipvsadm sends (see `tests/fixtures/`).

mod config;
mod daemon;
mod dest;
pub(crate) mod nla;
mod scheduler;
mod service;
mod stats;

pub use config::{Info, Timeouts};
pub use daemon::{DaemonRole, DaemonStop, SyncDaemon};
pub use dest::{DestKey, Destination, DestinationEntry, Forwarding, TunnelEncap, TunnelFlags};
pub use scheduler::{Scheduler, ServiceFlags};
pub use service::{Family, Protocol, Service, ServiceKey};
pub use stats::{Counters, Stats};

use netlink_packet_core::{Emitable, ParseableParametrized};
use netlink_packet_generic::{GenlFamily, GenlHeader};

use self::daemon::DaemonAttrs;
use self::dest::DestAttrs;
use self::nla::{AF_INET, NlaWriter, attrs};
use self::service::ServiceAttrs;
use crate::error::DecodeError;

/// The generic netlink family name and version the kernel registers.
pub const FAMILY_NAME: &str = "IPVS";
pub const FAMILY_VERSION: u8 = 1;

const CMD_ATTR_SERVICE: u16 = 1;
const CMD_ATTR_DEST: u16 = 2;
const CMD_ATTR_DAEMON: u16 = 3;

/// `IPVS_CMD_*`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Command {
    NewService = 1,
    SetService = 2,
    DelService = 3,
    GetService = 4,
    NewDest = 5,
    SetDest = 6,
    DelDest = 7,
    GetDest = 8,
    NewDaemon = 9,
    DelDaemon = 10,
    GetDaemon = 11,
    SetConfig = 12,
    GetConfig = 13,
    SetInfo = 14,
    GetInfo = 15,
    Zero = 16,
    Flush = 17,
}

/// Connection counts and traffic of a destination, present in the kernel's listings.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DestStatus {
    pub active_connections: u32,
    pub inactive_connections: u32,
    pub persistent_connections: u32,
    pub counters: Counters,
}

/// One IPVS request or reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IpvsMessage {
    /// Add a service; in the kernel's listings, one service with its counters.
    NewService {
        service: Service,
        counters: Counters,
    },
    SetService(Service),
    DelService(ServiceKey),
    /// `None` with `NLM_F_DUMP` lists every service.
    GetService(Option<ServiceKey>),
    /// Add a destination (`service` is sent in full, as ipvsadm does); in the kernel's listings,
    /// one destination with its `status` and no service.
    NewDest {
        service: Option<Service>,
        dest: Destination,
        status: Option<DestStatus>,
    },
    SetDest {
        service: Service,
        dest: Destination,
    },
    DelDest {
        service: ServiceKey,
        dest: DestKey,
    },
    /// With `NLM_F_DUMP`, lists the destinations of the service.
    GetDest(ServiceKey),
    NewDaemon(SyncDaemon),
    DelDaemon(DaemonStop),
    GetDaemon,
    /// Change timeouts; also the kernel's reply to `GetConfig`, with all three set.
    SetConfig(Timeouts),
    GetConfig,
    /// The kernel's reply to `GetInfo`.
    SetInfo(Info),
    GetInfo,
    /// Zero the counters of one service, or of all with `None`.
    Zero(Option<ServiceKey>),
    /// Delete every service (`ipvsadm -C`).
    Flush,
}

impl IpvsMessage {
    pub fn command(&self) -> Command {
        match self {
            IpvsMessage::NewService { .. } => Command::NewService,
            IpvsMessage::SetService(_) => Command::SetService,
            IpvsMessage::DelService(_) => Command::DelService,
            IpvsMessage::GetService(_) => Command::GetService,
            IpvsMessage::NewDest { .. } => Command::NewDest,
            IpvsMessage::SetDest { .. } => Command::SetDest,
            IpvsMessage::DelDest { .. } => Command::DelDest,
            IpvsMessage::GetDest(_) => Command::GetDest,
            IpvsMessage::NewDaemon(_) => Command::NewDaemon,
            IpvsMessage::DelDaemon(_) => Command::DelDaemon,
            IpvsMessage::GetDaemon => Command::GetDaemon,
            IpvsMessage::SetConfig(_) => Command::SetConfig,
            IpvsMessage::GetConfig => Command::GetConfig,
            IpvsMessage::SetInfo(_) => Command::SetInfo,
            IpvsMessage::GetInfo => Command::GetInfo,
            IpvsMessage::Zero(_) => Command::Zero,
            IpvsMessage::Flush => Command::Flush,
        }
    }

    /// The attributes after the generic netlink header.
    pub fn encode_attrs(&self) -> Vec<u8> {
        let mut w = NlaWriter::default();
        match self {
            IpvsMessage::NewService { service, counters } => {
                service::emit_service(&mut w, CMD_ATTR_SERVICE, service, Some(counters))
            }
            IpvsMessage::SetService(s) => service::emit_service(&mut w, CMD_ATTR_SERVICE, s, None),
            IpvsMessage::DelService(k) | IpvsMessage::GetDest(k) => {
                service::emit_key_or_service(&mut w, CMD_ATTR_SERVICE, k)
            }
            IpvsMessage::GetService(k) | IpvsMessage::Zero(k) => {
                if let Some(k) = k {
                    service::emit_key_or_service(&mut w, CMD_ATTR_SERVICE, k)
                }
            }
            IpvsMessage::NewDest {
                service,
                dest,
                status,
            } => {
                if let Some(s) = service {
                    service::emit_service(&mut w, CMD_ATTR_SERVICE, s, None);
                }
                match status {
                    None => dest::emit_dest(&mut w, CMD_ATTR_DEST, dest),
                    Some(st) => dest::emit_entry(
                        &mut w,
                        CMD_ATTR_DEST,
                        &DestinationEntry {
                            dest: dest.clone(),
                            active_connections: st.active_connections,
                            inactive_connections: st.inactive_connections,
                            persistent_connections: st.persistent_connections,
                            counters: st.counters,
                        },
                    ),
                }
            }
            IpvsMessage::SetDest { service, dest } => {
                service::emit_service(&mut w, CMD_ATTR_SERVICE, service, None);
                dest::emit_dest(&mut w, CMD_ATTR_DEST, dest);
            }
            IpvsMessage::DelDest { service, dest } => {
                service::emit_key_or_service(&mut w, CMD_ATTR_SERVICE, service);
                dest::emit_dest_key(&mut w, CMD_ATTR_DEST, dest);
            }
            IpvsMessage::NewDaemon(d) => w.nested(CMD_ATTR_DAEMON, |w| d.emit(w)),
            IpvsMessage::DelDaemon(d) => w.nested(CMD_ATTR_DAEMON, |w| d.emit(w)),
            IpvsMessage::SetConfig(t) => t.emit(&mut w),
            IpvsMessage::SetInfo(i) => i.emit(&mut w),
            IpvsMessage::GetDaemon
            | IpvsMessage::GetConfig
            | IpvsMessage::GetInfo
            | IpvsMessage::Flush => {}
        }
        w.into_bytes()
    }

    /// Decodes the attributes of a message whose generic netlink command is `cmd`.
    pub fn decode(cmd: u8, buf: &[u8]) -> Result<IpvsMessage, DecodeError> {
        if cmd == Command::SetInfo as u8 || cmd == Command::GetInfo as u8 {
            if cmd == Command::GetInfo as u8 {
                return Ok(IpvsMessage::GetInfo);
            }
            return Ok(IpvsMessage::SetInfo(Info::parse(attrs(buf))?));
        }
        let mut svc = None;
        let mut dst = None;
        let mut daemon = None;
        let mut timeouts = Timeouts::default();
        for a in attrs(buf) {
            let a = a?;
            match a.kind {
                CMD_ATTR_SERVICE => svc = Some(ServiceAttrs::parse(a)?),
                CMD_ATTR_DEST => dst = Some(DestAttrs::parse(a)?),
                CMD_ATTR_DAEMON => daemon = Some(DaemonAttrs::parse(a)?),
                _ => {
                    timeouts.absorb(a)?;
                }
            }
        }
        let need = |what: &'static str| DecodeError::Missing {
            object: "message",
            attribute: what,
        };
        let svc_af = |s: &Option<ServiceAttrs>| {
            s.as_ref()
                .and_then(|s| s.key().ok())
                .map(|k| k.family().to_af())
                .unwrap_or(AF_INET)
        };
        Ok(match cmd {
            1 => {
                let s = svc.ok_or(need("SERVICE"))?;
                IpvsMessage::NewService {
                    service: s.service()?,
                    counters: s.counters,
                }
            }
            2 => IpvsMessage::SetService(svc.ok_or(need("SERVICE"))?.service()?),
            3 => IpvsMessage::DelService(svc.ok_or(need("SERVICE"))?.key()?),
            4 => IpvsMessage::GetService(svc.map(|s| s.key()).transpose()?),
            5 => {
                let af = svc_af(&svc);
                let d = dst.ok_or(need("DEST"))?;
                let entry = d.entry(af)?;
                IpvsMessage::NewDest {
                    service: svc.map(|s| s.service()).transpose()?,
                    status: d.has_status().then_some(DestStatus {
                        active_connections: entry.active_connections,
                        inactive_connections: entry.inactive_connections,
                        persistent_connections: entry.persistent_connections,
                        counters: entry.counters,
                    }),
                    dest: entry.dest,
                }
            }
            6 => {
                let af = svc_af(&svc);
                IpvsMessage::SetDest {
                    service: svc.ok_or(need("SERVICE"))?.service()?,
                    dest: dst.ok_or(need("DEST"))?.destination(af)?,
                }
            }
            7 => {
                let af = svc_af(&svc);
                IpvsMessage::DelDest {
                    service: svc.ok_or(need("SERVICE"))?.key()?,
                    dest: dst.ok_or(need("DEST"))?.key(af)?,
                }
            }
            8 => IpvsMessage::GetDest(svc.ok_or(need("SERVICE"))?.key()?),
            9 => IpvsMessage::NewDaemon(daemon.ok_or(need("DAEMON"))?.daemon()?),
            10 => IpvsMessage::DelDaemon(daemon.ok_or(need("DAEMON"))?.stop()?),
            11 => IpvsMessage::GetDaemon,
            12 => IpvsMessage::SetConfig(timeouts),
            13 => IpvsMessage::GetConfig,
            16 => IpvsMessage::Zero(svc.map(|s| s.key()).transpose()?),
            17 => IpvsMessage::Flush,
            other => return Err(DecodeError::UnknownCommand(other)),
        })
    }
}

impl GenlFamily for IpvsMessage {
    fn family_name() -> &'static str {
        FAMILY_NAME
    }

    fn command(&self) -> u8 {
        IpvsMessage::command(self) as u8
    }

    fn version(&self) -> u8 {
        FAMILY_VERSION
    }
}

impl Emitable for IpvsMessage {
    fn buffer_len(&self) -> usize {
        self.encode_attrs().len()
    }

    fn emit(&self, buffer: &mut [u8]) {
        let bytes = self.encode_attrs();
        buffer[..bytes.len()].copy_from_slice(&bytes);
    }
}

impl ParseableParametrized<[u8], GenlHeader> for IpvsMessage {
    fn parse_with_param(
        buf: &[u8],
        header: GenlHeader,
    ) -> Result<Self, netlink_packet_core::DecodeError> {
        IpvsMessage::decode(header.cmd, buf)
            .map_err(|e| netlink_packet_core::DecodeError::from(e.to_string()))
    }
}

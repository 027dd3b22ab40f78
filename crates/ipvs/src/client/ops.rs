//! Typed operations on top of the client's request, dump and pipelined execute.

use super::{IpvsClient, ServiceEntry};
use crate::error::IpvsError;
use crate::message::{
    DaemonRole, DaemonStop, DestKey, DestStatus, Destination, DestinationEntry, IpvsMessage,
    Service, ServiceKey, SyncDaemon, Timeouts,
};

impl IpvsClient {
    /// Every service in this namespace's table, with counters.
    pub async fn services(&mut self) -> Result<Vec<ServiceEntry>, IpvsError> {
        let replies = self.dump(&IpvsMessage::GetService(None)).await?;
        Ok(replies
            .into_iter()
            .filter_map(|m| match m {
                IpvsMessage::NewService { service, counters } => {
                    Some(ServiceEntry { service, counters })
                }
                _ => None,
            })
            .collect())
    }

    /// One service, or `None` if the kernel has no such service.
    pub async fn service(&mut self, key: &ServiceKey) -> Result<Option<ServiceEntry>, IpvsError> {
        match self.request(&IpvsMessage::GetService(Some(*key))).await {
            Ok(replies) => Ok(replies.into_iter().find_map(|m| match m {
                IpvsMessage::NewService { service, counters } => {
                    Some(ServiceEntry { service, counters })
                }
                _ => None,
            })),
            Err(e) if e.errno() == Some(libc::ESRCH) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The destinations of a service, in the kernel's order: the most recently added first.
    pub async fn destinations(
        &mut self,
        key: &ServiceKey,
    ) -> Result<Vec<DestinationEntry>, IpvsError> {
        let replies = self.dump(&IpvsMessage::GetDest(*key)).await?;
        Ok(replies
            .into_iter()
            .filter_map(|m| match m {
                IpvsMessage::NewDest { dest, status, .. } => {
                    let st: DestStatus = status.unwrap_or_default();
                    Some(DestinationEntry {
                        dest,
                        active_connections: st.active_connections,
                        inactive_connections: st.inactive_connections,
                        persistent_connections: st.persistent_connections,
                        counters: st.counters,
                    })
                }
                _ => None,
            })
            .collect())
    }

    async fn one(&mut self, msg: IpvsMessage) -> Result<(), IpvsError> {
        self.request(&msg).await.map(|_| ())
    }

    pub async fn add_service(&mut self, service: &Service) -> Result<(), IpvsError> {
        self.one(IpvsMessage::NewService {
            service: service.clone(),
            counters: Default::default(),
        })
        .await
    }

    pub async fn edit_service(&mut self, service: &Service) -> Result<(), IpvsError> {
        self.one(IpvsMessage::SetService(service.clone())).await
    }

    pub async fn delete_service(&mut self, key: &ServiceKey) -> Result<(), IpvsError> {
        self.one(IpvsMessage::DelService(*key)).await
    }

    pub async fn add_destination(
        &mut self,
        service: &Service,
        dest: &Destination,
    ) -> Result<(), IpvsError> {
        self.one(IpvsMessage::NewDest {
            service: Some(service.clone()),
            dest: dest.clone(),
            status: None,
        })
        .await
    }

    pub async fn edit_destination(
        &mut self,
        service: &Service,
        dest: &Destination,
    ) -> Result<(), IpvsError> {
        self.one(IpvsMessage::SetDest {
            service: service.clone(),
            dest: dest.clone(),
        })
        .await
    }

    pub async fn delete_destination(
        &mut self,
        service: &ServiceKey,
        dest: &DestKey,
    ) -> Result<(), IpvsError> {
        self.one(IpvsMessage::DelDest {
            service: *service,
            dest: *dest,
        })
        .await
    }

    pub async fn start_daemon(&mut self, daemon: &SyncDaemon) -> Result<(), IpvsError> {
        self.one(IpvsMessage::NewDaemon(daemon.clone())).await
    }

    pub async fn stop_daemon(&mut self, role: DaemonRole) -> Result<(), IpvsError> {
        self.one(IpvsMessage::DelDaemon(DaemonStop {
            role,
            sync_id: None,
        }))
        .await
    }

    /// The running sync daemons.
    pub async fn daemons(&mut self) -> Result<Vec<SyncDaemon>, IpvsError> {
        let replies = self.dump(&IpvsMessage::GetDaemon).await?;
        Ok(replies
            .into_iter()
            .filter_map(|m| match m {
                IpvsMessage::NewDaemon(d) => Some(d),
                _ => None,
            })
            .collect())
    }

    pub async fn timeouts(&mut self) -> Result<Timeouts, IpvsError> {
        let replies = self.request(&IpvsMessage::GetConfig).await?;
        replies
            .into_iter()
            .find_map(|m| match m {
                IpvsMessage::SetConfig(t) => Some(t),
                _ => None,
            })
            .ok_or_else(|| {
                crate::DecodeError::Netlink("no timeouts in GET_CONFIG reply".into()).into()
            })
    }

    pub async fn set_timeouts(&mut self, timeouts: &Timeouts) -> Result<(), IpvsError> {
        self.one(IpvsMessage::SetConfig(*timeouts)).await
    }

    pub async fn info(&mut self) -> Result<crate::message::Info, IpvsError> {
        let replies = self.request(&IpvsMessage::GetInfo).await?;
        replies
            .into_iter()
            .find_map(|m| match m {
                IpvsMessage::SetInfo(i) => Some(i),
                _ => None,
            })
            .ok_or_else(|| crate::DecodeError::Netlink("no info in GET_INFO reply".into()).into())
    }

    /// Zeroes the counters of one service, or of every service with `None`.
    pub async fn zero(&mut self, key: Option<&ServiceKey>) -> Result<(), IpvsError> {
        self.one(IpvsMessage::Zero(key.copied())).await
    }

    /// Deletes every service in this namespace, owned or not (`ipvsadm -C`).
    pub async fn flush(&mut self) -> Result<(), IpvsError> {
        self.one(IpvsMessage::Flush).await
    }
}

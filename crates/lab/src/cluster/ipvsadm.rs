//! The IPVS table as an operator sees it: `ipvsadm -Ln` run inside a node's namespace, or
//! the kernel's own `/proc/net/ip_vs` (the same layout with hex addresses) read in-process,
//! which polls without starting a process (0.1-0.2 s each in the VM).
use super::error::{ClusterError, Result};
use ssinet_testbed::netns::Netns;

/// One virtual service and its real servers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IpvsService {
    /// `TCP`, `UDP`, `SCTP` or `FWM`.
    pub proto: String,
    /// `192.168.200.100:80`.
    pub address: String,
    /// `mh`, `wrr`...
    pub scheduler: String,
    /// The rest of the service line, e.g. `(mh-port)`.
    pub flags: String,
    pub destinations: Vec<IpvsDestination>,
}

/// One real server of a service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IpvsDestination {
    /// `10.200.0.3:80`.
    pub address: String,
    /// `Route` (DR), `Masq` (NAT), `Local`, `Tunnel`.
    pub forward: String,
    pub weight: u32,
    pub active: u64,
    pub inactive: u64,
}

impl IpvsService {
    /// The weight of the destination whose address starts with `ip:`.
    pub fn weight_of(&self, ip: &str) -> Option<u32> {
        self.destinations
            .iter()
            .find(|destination| destination.address.split(':').next() == Some(ip))
            .map(|destination| destination.weight)
    }
}

/// Parses `ipvsadm -Ln` output.
pub fn parse_ipvsadm(text: &str) -> std::result::Result<Vec<IpvsService>, String> {
    let mut services: Vec<IpvsService> = Vec::new();
    for line in text.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            [] | ["IP", "Virtual", ..] | ["Prot", ..] | ["->", "RemoteAddress:Port", ..] => {}
            ["->", address, forward, weight, active, inactive, ..] => {
                let service = services
                    .last_mut()
                    .ok_or_else(|| format!("a destination before any service: {line:?}"))?;
                let number = |text: &str| {
                    text.parse::<u64>()
                        .map_err(|_| format!("not a number in {line:?}"))
                };
                service.destinations.push(IpvsDestination {
                    address: decimal_address(address),
                    forward: (*forward).to_owned(),
                    weight: u32::try_from(number(weight)?)
                        .map_err(|_| format!("weight out of range in {line:?}"))?,
                    active: number(active)?,
                    inactive: number(inactive)?,
                });
            }
            [proto, address, scheduler, flags @ ..]
                if ["TCP", "UDP", "SCTP", "FWM"].contains(proto) =>
            {
                services.push(IpvsService {
                    proto: (*proto).to_owned(),
                    address: decimal_address(address),
                    scheduler: (*scheduler).to_owned(),
                    flags: flags.join(" "),
                    destinations: Vec::new(),
                });
            }
            _ => return Err(format!("unexpected line {line:?}")),
        }
    }
    Ok(services)
}

/// `C0A8C864:0050` (IPv4 in /proc/net/ip_vs) as `192.168.200.100:80`; anything else as is.
fn decimal_address(address: &str) -> String {
    let decoded = address.split_once(':').and_then(|(ip, port)| {
        if ip.len() != 8 || port.len() != 4 {
            return None;
        }
        let ip = u32::from_str_radix(ip, 16).ok()?;
        let port = u16::from_str_radix(port, 16).ok()?;
        Some(format!("{}:{port}", std::net::Ipv4Addr::from(ip)))
    });
    decoded.unwrap_or_else(|| address.to_owned())
}

/// The kernel's IPVS table of `netns` from `/proc/net/ip_vs`, read on a thread inside it.
/// Empty (not an error) when the kernel has no IPVS.
pub fn proc_ip_vs(netns: &Netns) -> Result<Vec<IpvsService>> {
    let text = netns.run(|| std::fs::read_to_string("/proc/thread-self/net/ip_vs"))?;
    let text = match text {
        Ok(text) => text,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(cause) => {
            return Err(ClusterError::Io {
                action: "read",
                path: format!("/proc/net/ip_vs of {}", netns.name()).into(),
                cause,
            });
        }
    };
    parse_ipvsadm(&text).map_err(|reason| ClusterError::Output {
        command: format!("cat /proc/net/ip_vs (in {})", netns.name()),
        reason,
    })
}

/// `ipvsadm -Ln` inside `netns`, parsed.
pub fn ipvs_table(netns: &Netns) -> Result<Vec<IpvsService>> {
    let text = netns.exec_ok(&["ipvsadm", "-Ln"])?;
    parse_ipvsadm(&text).map_err(|reason| ClusterError::Output {
        command: format!("ipvsadm -Ln (in {})", netns.name()),
        reason,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipvsadm_listings_parse_into_services_and_destinations() {
        let text = "IP Virtual Server version 1.2.1 (size=4096)
Prot LocalAddress:Port Scheduler Flags
  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn
TCP  192.168.200.100:80 mh (mh-port)
  -> 10.200.0.1:80                Local   1      0          0
  -> 10.200.0.3:80                Route   2      5          17
UDP  192.168.200.100:53 wrr
";
        let services = parse_ipvsadm(text).unwrap();
        assert_eq!(services.len(), 2);
        assert_eq!(services[0].scheduler, "mh");
        assert_eq!(services[0].flags, "(mh-port)");
        assert_eq!(services[0].weight_of("10.200.0.3"), Some(2));
        assert_eq!(services[0].destinations[1].inactive, 17);
        assert_eq!(services[0].weight_of("10.200.0.2"), None);
        assert!(services[1].destinations.is_empty());
        assert!(parse_ipvsadm("  -> 10.0.0.1:80 Route 1 0 0\n").is_err());
        let proc = "IP Virtual Server version 1.2.1 (size=4096)
Prot LocalAddress:Port Scheduler Flags
  -> RemoteAddress:Port Forward Weight ActiveConn InActConn
TCP  C0A8C864:0050 mh 
  -> 0AC80003:0050      Route   3      0          0         
";
        let services = parse_ipvsadm(proc).unwrap();
        assert_eq!(services[0].address, "192.168.200.100:80");
        assert_eq!(services[0].weight_of("10.200.0.3"), Some(3));
        assert!(parse_ipvsadm("TCP 1.2.3.4:80 mh\n  -> 10.0.0.1:80 Route x 0 0\n").is_err());
    }
}

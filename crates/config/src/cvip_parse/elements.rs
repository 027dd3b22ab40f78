//! One method per element of cvip.conf: each checks its children, parses their values and
//! returns the model part with its spans, or `None` after reporting every problem inside it.

use super::values::{
    non_empty, parse_ip, parse_netmask, parse_node_num, parse_protocol, parse_switch, parse_u16,
    parse_u32,
};
use super::{Walker, child_path};
use crate::model::{
    Cvip, CvipConf, DirectorNode, HealthCheck, Persistence, PortWeight, Routing, Scheduler,
    SchedulerFlag, SchedulerName,
};
use crate::spans::{
    CvipConfSpans, CvipSpans, DirectorSpans, HealthSpans, PersistenceSpans, PortWeightSpans,
    SchedulerSpans,
};
use crate::xml_tree::Element;

const ROOT_CHILDREN: &[&str] = &[
    "routing",
    "cvip",
    "port_weight",
    "scheduler",
    "scheduler_flag",
    "persistence",
    "health_check",
];
const CVIP_CHILDREN: &[&str] = &[
    "ip_addr",
    "gateway",
    "director_node",
    "real_server_node",
    "scheduler",
    "scheduler_flag",
    "persistence",
];
const DIRECTOR_CHILDREN: &[&str] = &["node_num", "garp_interface", "sync_interface"];
const REAL_SERVER_CHILDREN: &[&str] = &["node_num"];
const PORT_WEIGHT_CHILDREN: &[&str] = &["proto", "start_port", "end_port", "weight", "node_num"];
const PERSISTENCE_CHILDREN: &[&str] = &["timeout", "netmask"];
const HEALTH_CHILDREN: &[&str] = &[
    "interval_ms",
    "timeout_ms",
    "failures",
    "drain_ms",
    "tcp_check",
];

impl Walker<'_> {
    pub(super) fn root(&mut self, root: &Element) -> Option<(CvipConf, CvipConfSpans)> {
        if root.name != "cvips" {
            self.error(
                root.start,
                "document",
                format!("root element is <{}>", root.name),
            )
            .expected = Some("<cvips>".into());
            return None;
        }
        self.check_container(root, "<cvips>", ROOT_CHILDREN);
        let routing = self.field(root, "routing", "", "DR or NAT", Routing::parse);
        let mut cvips = Vec::new();
        let mut cvip_spans = Vec::new();
        let mut all_ok = true;
        for element in root.children.iter().filter(|c| c.name == "cvip") {
            match self.cvip(element) {
                Some((cvip, spans)) => {
                    cvips.push(cvip);
                    cvip_spans.push(spans);
                }
                None => all_ok = false,
            }
        }
        let mut port_weights = Vec::new();
        let mut port_weight_spans = Vec::new();
        for element in root.children.iter().filter(|c| c.name == "port_weight") {
            match self.port_weight(element) {
                Some((pw, spans)) => {
                    port_weights.push(pw);
                    port_weight_spans.push(spans);
                }
                None => all_ok = false,
            }
        }
        let scheduler = self.scheduler(root, "");
        let persistence = self.persistence(root, "");
        let health = match self.single(root, "health_check", "", false) {
            Some(element) => self.health(element).map(Some),
            None => Some(None),
        };
        let routing = routing?;
        let scheduler = scheduler?;
        let persistence = persistence?;
        let health = health?;
        if !all_ok {
            return None;
        }
        let conf = CvipConf {
            routing: routing.map(|r| r.0),
            cvips,
            port_weights,
            scheduler: scheduler.as_ref().map(|s| s.0.clone()),
            persistence: persistence.as_ref().map(|p| p.0.clone()),
            health: health.as_ref().map(|h| h.0.clone()),
        };
        let spans = CvipConfSpans {
            file: self.file.to_owned(),
            root: Some(self.pos(root.start)),
            routing: routing.map(|r| r.1),
            cvips: cvip_spans,
            port_weights: port_weight_spans,
            scheduler: scheduler.map(|s| s.1),
            persistence: persistence.map(|p| p.1),
            health: health.map(|h| h.1),
        };
        Some((conf, spans))
    }

    fn cvip(&mut self, element: &Element) -> Option<(Cvip, CvipSpans)> {
        const PATH: &str = "<cvip>";
        self.check_container(element, PATH, CVIP_CHILDREN);
        let ip = self.required(
            element,
            "ip_addr",
            PATH,
            "an IPv4 or IPv6 address",
            parse_ip,
        );
        let gateway = self.field(
            element,
            "gateway",
            PATH,
            "an IPv4 or IPv6 address",
            parse_ip,
        );
        let mut directors = Vec::new();
        let mut ok = true;
        for child in element
            .children
            .iter()
            .filter(|c| c.name == "director_node")
        {
            match self.director(child) {
                Some(d) => directors.push(d),
                None => ok = false,
            }
        }
        let mut real_servers = Vec::new();
        for child in element
            .children
            .iter()
            .filter(|c| c.name == "real_server_node")
        {
            const RS: &str = "<cvip>/<real_server_node>";
            self.check_container(child, RS, REAL_SERVER_CHILDREN);
            match self.required(child, "node_num", RS, "a node number", parse_node_num) {
                Some(n) => real_servers.push(n),
                None => ok = false,
            }
        }
        let scheduler = self.scheduler(element, PATH);
        let persistence = self.persistence(element, PATH);
        let (ip, gateway, scheduler, persistence) = (ip?, gateway?, scheduler?, persistence?);
        if !ok {
            return None;
        }
        let cvip = Cvip {
            ip: ip.0,
            gateway: gateway.map(|g| g.0),
            directors: directors.iter().map(|d| d.0.clone()).collect(),
            real_servers: real_servers.iter().map(|r| r.0).collect(),
            scheduler: scheduler.as_ref().map(|s| s.0.clone()),
            persistence: persistence.as_ref().map(|p| p.0.clone()),
        };
        let spans = CvipSpans {
            element: self.pos(element.start),
            ip_addr: ip.1,
            gateway: gateway.map(|g| g.1),
            directors: directors.into_iter().map(|d| d.1).collect(),
            real_servers: real_servers.into_iter().map(|r| r.1).collect(),
            scheduler: scheduler.map(|s| s.1),
            persistence: persistence.map(|p| p.1),
        };
        Some((cvip, spans))
    }

    fn director(&mut self, element: &Element) -> Option<(DirectorNode, DirectorSpans)> {
        const PATH: &str = "<cvip>/<director_node>";
        self.check_container(element, PATH, DIRECTOR_CHILDREN);
        let node = self.required(element, "node_num", PATH, "a node number", parse_node_num);
        let garp = self.required(
            element,
            "garp_interface",
            PATH,
            "an interface name",
            non_empty,
        );
        let sync = self.field(
            element,
            "sync_interface",
            PATH,
            "an interface name",
            non_empty,
        );
        let (node, garp, sync) = (node?, garp?, sync?);
        Some((
            DirectorNode {
                node: node.0,
                garp_interface: garp.0,
                sync_interface: sync.as_ref().map(|s| s.0.clone()),
            },
            DirectorSpans {
                element: self.pos(element.start),
                node_num: node.1,
                garp_interface: garp.1,
                sync_interface: sync.map(|s| s.1),
            },
        ))
    }

    fn port_weight(&mut self, element: &Element) -> Option<(PortWeight, PortWeightSpans)> {
        const PATH: &str = "<port_weight>";
        const PORT: &str = "a port number 1-65535";
        self.check_container(element, PATH, PORT_WEIGHT_CHILDREN);
        let proto = self.required(element, "proto", PATH, "tcp or udp", parse_protocol);
        let start = self.required(element, "start_port", PATH, PORT, parse_u16);
        let end = self.required(element, "end_port", PATH, PORT, parse_u16);
        let weight = self.required(element, "weight", PATH, "a weight 0-2147483647", parse_u32);
        let node = self.field(element, "node_num", PATH, "a node number", parse_node_num);
        let (proto, start, end, weight, node) = (proto?, start?, end?, weight?, node?);
        Some((
            PortWeight {
                proto: proto.0,
                start_port: start.0,
                end_port: end.0,
                weight: weight.0,
                node: node.map(|n| n.0),
            },
            PortWeightSpans {
                element: self.pos(element.start),
                proto: proto.1,
                start_port: start.1,
                end_port: end.1,
                weight: weight.1,
                node_num: node.map(|n| n.1),
            },
        ))
    }

    /// `<scheduler>` and its `<scheduler_flag>`s directly inside `parent`.
    fn scheduler(
        &mut self,
        parent: &Element,
        path: &str,
    ) -> Option<Option<(Scheduler, SchedulerSpans)>> {
        let names = SchedulerName::ALL.map(SchedulerName::as_str).join(", ");
        let name = self.field(
            parent,
            "scheduler",
            path,
            &format!("one of: {names}"),
            SchedulerName::parse,
        );
        let flag_names = SchedulerFlag::ALL.map(SchedulerFlag::as_str).join(", ");
        let mut flags = Vec::new();
        let mut ok = true;
        let flag_path = child_path(path, "scheduler_flag");
        for child in parent
            .children
            .iter()
            .filter(|c| c.name == "scheduler_flag")
        {
            match self.value(child, &flag_path, &format!("one of: {flag_names}"), |s| {
                SchedulerFlag::parse(s)
            }) {
                Some(flag) => flags.push(flag),
                None => ok = false,
            }
        }
        let name = name?;
        if !ok {
            return None;
        }
        match name {
            Some((name, position)) => Some(Some((
                Scheduler {
                    name,
                    flags: flags.iter().map(|f| f.0).collect(),
                },
                SchedulerSpans {
                    name: position,
                    flags: flags.into_iter().map(|f| f.1).collect(),
                },
            ))),
            None => {
                if let Some(first) = parent.children.iter().find(|c| c.name == "scheduler_flag") {
                    self.error(
                        first.start,
                        &flag_path,
                        "<scheduler_flag> without a <scheduler> beside it".into(),
                    )
                    .expected = Some(format!("a <scheduler> element in <{}>", parent.name));
                    return None;
                }
                Some(None)
            }
        }
    }

    fn persistence(
        &mut self,
        parent: &Element,
        path: &str,
    ) -> Option<Option<(Persistence, PersistenceSpans)>> {
        let Some(element) = self.single(parent, "persistence", path, false) else {
            return Some(None);
        };
        let path = child_path(path, "persistence");
        self.check_container(element, &path, PERSISTENCE_CHILDREN);
        let timeout = self.required(element, "timeout", &path, "seconds, 1 or more", parse_u32);
        let netmask = self.field(
            element,
            "netmask",
            &path,
            "a prefix length (0-128) or an IPv4 netmask like 255.255.255.0",
            parse_netmask,
        );
        let (timeout, netmask) = (timeout?, netmask?);
        Some(Some((
            Persistence {
                timeout_secs: timeout.0,
                netmask_prefix: netmask.map(|n| n.0),
            },
            PersistenceSpans {
                element: self.pos(element.start),
                timeout: timeout.1,
                netmask: netmask.map(|n| n.1),
            },
        )))
    }

    fn health(&mut self, element: &Element) -> Option<(HealthCheck, HealthSpans)> {
        const PATH: &str = "<health_check>";
        const MS: &str = "milliseconds";
        self.check_container(element, PATH, HEALTH_CHILDREN);
        let interval = self.field(element, "interval_ms", PATH, MS, parse_u32);
        let timeout = self.field(element, "timeout_ms", PATH, MS, parse_u32);
        let failures = self.field(element, "failures", PATH, "a count, 1 or more", parse_u32);
        let drain = self.field(element, "drain_ms", PATH, MS, parse_u32);
        let tcp_check = self.field(element, "tcp_check", PATH, "on or off", parse_switch);
        let (interval, timeout, failures, drain, tcp_check) =
            (interval?, timeout?, failures?, drain?, tcp_check?);
        let defaults = HealthCheck::default();
        let here = self.pos(element.start);
        Some((
            HealthCheck {
                interval_ms: interval.map_or(defaults.interval_ms, |v| v.0),
                timeout_ms: timeout.map_or(defaults.timeout_ms, |v| v.0),
                failures_before_drain: failures.map_or(defaults.failures_before_drain, |v| v.0),
                drain_ms: drain.map_or(defaults.drain_ms, |v| v.0),
                tcp_check: tcp_check.map_or(defaults.tcp_check, |v| v.0),
            },
            HealthSpans {
                element: here,
                interval_ms: interval.map_or(here, |v| v.1),
                timeout_ms: timeout.map_or(here, |v| v.1),
                failures: failures.map_or(here, |v| v.1),
                drain_ms: drain.map_or(here, |v| v.1),
            },
        ))
    }
}

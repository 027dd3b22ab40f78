//! Service rules: port ranges within 1-65535 with start <= end, no overlaps per protocol among
//! the defaults nor among one node's overrides, weights IPVS accepts, override nodes exist,
//! scheduler flags fit their scheduler, persistence and health-check values are usable.

use std::collections::BTreeSet;

use super::{Check, File, on_line};
use crate::diag::Position;
use crate::model::{MAX_WEIGHT, Persistence, Scheduler};
use crate::spans::{PersistenceSpans, PortWeightSpans, SchedulerSpans};

pub(super) fn check(check: &mut Check<'_>) {
    check_port_weights(check);
    let conf = &check.config.cvip_conf;
    let global_scheduler = check
        .sources
        .cvip_conf
        .as_ref()
        .and_then(|s| s.scheduler.clone());
    if let Some(scheduler) = &conf.scheduler {
        check_scheduler(
            check,
            scheduler,
            global_scheduler.as_ref(),
            "<scheduler_flag>",
        );
    }
    let global_persistence = check
        .sources
        .cvip_conf
        .as_ref()
        .and_then(|s| s.persistence.clone());
    if let Some(persistence) = &conf.persistence {
        // The global value applies to every CVIP that has none of its own.
        let ipv4 = conf
            .cvips
            .iter()
            .any(|c| c.persistence.is_none() && c.ip.is_ipv4());
        check_persistence(
            check,
            persistence,
            global_persistence.as_ref(),
            ipv4,
            "<persistence>",
        );
    }
    for (i, cvip) in conf.cvips.iter().enumerate() {
        let spans = check
            .sources
            .cvip_conf
            .as_ref()
            .and_then(|s| s.cvips.get(i));
        let (scheduler_spans, persistence_spans) = (
            spans.and_then(|c| c.scheduler.clone()),
            spans.and_then(|c| c.persistence.clone()),
        );
        if let Some(scheduler) = &cvip.scheduler {
            check_scheduler(
                check,
                scheduler,
                scheduler_spans.as_ref(),
                "<cvip>/<scheduler_flag>",
            );
        }
        if let Some(persistence) = &cvip.persistence {
            let ipv4 = cvip.ip.is_ipv4();
            check_persistence(
                check,
                persistence,
                persistence_spans.as_ref(),
                ipv4,
                "<cvip>/<persistence>",
            );
        }
    }
    check_health(check);
}

fn check_port_weights(check: &mut Check<'_>) {
    let config = check.config;
    let (known, known_list) = check.known_nodes();
    let clustertab = check.file(File::Clustertab).to_owned();
    let weights = &config.cvip_conf.port_weights;
    for (i, pw) in weights.iter().enumerate() {
        let spans = spans_of(check, i);
        const PORTS: &str = "a port number 1-65535";
        if pw.start_port == 0 {
            check.error(
                File::CvipConf,
                spans.map(|s| s.start_port),
                "<port_weight>/<start_port>",
                "port 0 cannot be load-balanced".into(),
                PORTS.into(),
            );
        }
        if pw.end_port == 0 {
            check.error(
                File::CvipConf,
                spans.map(|s| s.end_port),
                "<port_weight>/<end_port>",
                "port 0 cannot be load-balanced".into(),
                PORTS.into(),
            );
        }
        if pw.start_port > pw.end_port {
            check.error(
                File::CvipConf,
                spans.map(|s| s.start_port),
                "<port_weight>/<start_port>",
                format!(
                    "start port {} is above end port {}",
                    pw.start_port, pw.end_port
                ),
                "start_port <= end_port".into(),
            );
        }
        if pw.weight > MAX_WEIGHT {
            check.error(
                File::CvipConf,
                spans.map(|s| s.weight),
                "<port_weight>/<weight>",
                format!("weight {} is above what IPVS accepts", pw.weight),
                format!("a weight 0-{MAX_WEIGHT}; 0 quiesces the node"),
            );
        }
        if let Some(node) = pw.node
            && !known.contains(&node)
        {
            check.error(
                File::CvipConf,
                spans.and_then(|s| s.node_num),
                "<port_weight>/<node_num>",
                format!("node {node} is not in {clustertab}"),
                format!("one of: {known_list}"),
            );
        }
        // Only the first earlier range it overlaps, so one mistake gives one message.
        let overlapping = weights[..i]
            .iter()
            .position(|earlier| earlier.node == pw.node && earlier.overlaps(pw));
        if let Some(j) = overlapping {
            let earlier = &weights[j];
            let first_at = spans_of(check, j).map(|s| s.element);
            let scope = pw.node.map_or_else(
                || "default ranges".to_owned(),
                |n| format!("overrides for node {n}"),
            );
            check.error(
                File::CvipConf,
                spans.map(|s| s.element),
                "<port_weight>",
                format!(
                    "{} ports {}-{} overlap {} ports {}-{}{} (both are {scope})",
                    pw.proto,
                    pw.start_port,
                    pw.end_port,
                    earlier.proto,
                    earlier.start_port,
                    earlier.end_port,
                    on_line(first_at),
                ),
                "port ranges that do not overlap, per protocol".into(),
            );
        }
    }
}

fn spans_of<'s>(check: &Check<'s>, i: usize) -> Option<&'s PortWeightSpans> {
    check
        .sources
        .cvip_conf
        .as_ref()
        .and_then(|s| s.port_weights.get(i))
}

fn check_scheduler(
    check: &mut Check<'_>,
    scheduler: &Scheduler,
    spans: Option<&SchedulerSpans>,
    field: &str,
) {
    let mut seen = BTreeSet::new();
    for (k, flag) in scheduler.flags.iter().enumerate() {
        let at: Option<Position> = spans.and_then(|s| s.flags.get(k).copied());
        if flag.scheduler() != scheduler.name {
            let fitting: Vec<&str> = crate::model::SchedulerFlag::ALL
                .iter()
                .filter(|f| f.scheduler() == scheduler.name)
                .map(|f| f.as_str())
                .collect();
            let expected = if fitting.is_empty() {
                format!("no <scheduler_flag> with scheduler {}", scheduler.name)
            } else {
                format!("one of: {}", fitting.join(", "))
            };
            check.error(
                File::CvipConf,
                at,
                field,
                format!(
                    "flag {flag} belongs to the {} scheduler, not {}",
                    flag.scheduler(),
                    scheduler.name
                ),
                expected,
            );
        }
        if !seen.insert(flag.as_str()) {
            check.error(
                File::CvipConf,
                at,
                field,
                format!("flag {flag} is given twice"),
                "each flag once".into(),
            );
        }
    }
}

fn check_persistence(
    check: &mut Check<'_>,
    persistence: &Persistence,
    spans: Option<&PersistenceSpans>,
    applies_to_ipv4: bool,
    field: &str,
) {
    if persistence.timeout_secs == 0 {
        check.error(
            File::CvipConf,
            spans.map(|s| s.timeout),
            &format!("{field}/<timeout>"),
            "a persistence timeout of 0 seconds keeps no affinity".into(),
            "seconds, 1 or more (leave out <persistence> for none)".into(),
        );
    }
    let max = if applies_to_ipv4 { 32 } else { 128 };
    if let Some(prefix) = persistence.netmask_prefix
        && prefix > max
    {
        check.error(
            File::CvipConf,
            spans.and_then(|s| s.netmask),
            &format!("{field}/<netmask>"),
            format!(
                "prefix length {prefix} is longer than an IPv{} address",
                if max == 32 { 4 } else { 6 }
            ),
            format!("a prefix length 0-{max}"),
        );
    }
}

fn check_health(check: &mut Check<'_>) {
    let Some(health) = &check.config.cvip_conf.health else {
        return;
    };
    let spans = check
        .sources
        .cvip_conf
        .as_ref()
        .and_then(|s| s.health.clone());
    let mut problems = Vec::new();
    if health.interval_ms == 0 {
        problems.push((
            spans.as_ref().map(|s| s.interval_ms),
            "interval_ms",
            "an interval of 0 ms".to_owned(),
            "milliseconds, 1 or more".to_owned(),
        ));
    }
    if health.timeout_ms == 0 {
        problems.push((
            spans.as_ref().map(|s| s.timeout_ms),
            "timeout_ms",
            "a timeout of 0 ms".to_owned(),
            "milliseconds, 1 or more".to_owned(),
        ));
    } else if health.timeout_ms > health.interval_ms && health.interval_ms > 0 {
        problems.push((
            spans.as_ref().map(|s| s.timeout_ms),
            "timeout_ms",
            format!(
                "timeout {} ms is longer than the interval {} ms",
                health.timeout_ms, health.interval_ms
            ),
            "a timeout no longer than <interval_ms>".to_owned(),
        ));
    }
    if health.failures_before_drain == 0 {
        problems.push((
            spans.as_ref().map(|s| s.failures),
            "failures",
            "0 failures before drain would drain healthy nodes".to_owned(),
            "a count, 1 or more".to_owned(),
        ));
    }
    for (at, name, message, expected) in problems {
        check.error(
            File::CvipConf,
            at,
            &format!("<health_check>/<{name}>"),
            message,
            expected,
        );
    }
}

//! Probes a user would run against a CVIP, from inside the client namespace:
//!
//! - [`Prober`]: a new TCP connection every 10 ms (`GET / HTTP/1.0`, the answer names the
//!   serving node), each attempt recorded; [`ProbeLog::gap_around`] turns the record into the
//!   outage a client saw around an event (a director killed).
//! - [`fetch`] / [`count_nodes`]: single requests, and which nodes served a batch of them.
//! - [`LongLivedConnection`]: one connection exchanging a small message every few tens of ms,
//!   reporting whether it survived and its longest stall.
//! - [`IdleConnections`]: many established, idle connections, checked later with one echo each.
//! - [`Responder`]: the server side (answers `GET` with its node name, echoes anything else).
//!
//! Timestamps are offsets from the probe's start, so a caller marks events with
//! [`Prober::now`] on the same clock.
pub use crate::responder::Responder;

use crate::netns::{Netns, NetnsError};
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How a [`Prober`] paces and bounds its attempts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProbeConfig {
    /// Time between attempt starts (a slow attempt delays the next one, never overlaps it).
    pub interval: Duration,
    /// Connect timeout; a SYN lost to a dead director costs at most this.
    pub connect_timeout: Duration,
    /// Read/write timeout once connected.
    pub io_timeout: Duration,
}

impl Default for ProbeConfig {
    fn default() -> Self {
        ProbeConfig {
            interval: Duration::from_millis(10),
            connect_timeout: Duration::from_millis(200),
            io_timeout: Duration::from_millis(500),
        }
    }
}

/// One attempt: when it started (offset from the probe's start) and what it got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    pub at: Duration,
    /// The serving node's name, or why the attempt failed.
    pub outcome: Result<String, String>,
}

impl Attempt {
    pub fn is_ok(&self) -> bool {
        self.outcome.is_ok()
    }
}

/// Every attempt of a probe run, in order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProbeLog {
    pub attempts: Vec<Attempt>,
}

impl ProbeLog {
    /// The outage a client saw around `event`: the longest time between the starts of two
    /// successive successful attempts, from the last success at or before `event` to the end of
    /// the record. Not just the first interval: a request that slipped through right after the
    /// event (one already under way in the kernel) must not hide the outage that follows.
    /// `None` when there is no success on one side (the probe did not cover the event).
    pub fn gap_around(&self, event: Duration) -> Option<Duration> {
        let before = self
            .attempts
            .iter()
            .rev()
            .find(|attempt| attempt.at <= event && attempt.is_ok())?;
        let mut previous = before.at;
        let mut longest = None;
        for attempt in self
            .attempts
            .iter()
            .filter(|attempt| attempt.at > before.at && attempt.is_ok())
        {
            let gap = attempt.at - previous;
            longest = Some(longest.map_or(gap, |l: Duration| l.max(gap)));
            previous = attempt.at;
        }
        longest
    }

    /// Successful attempts per serving node.
    pub fn per_node(&self) -> BTreeMap<String, usize> {
        let mut counts = BTreeMap::new();
        for attempt in &self.attempts {
            if let Ok(node) = &attempt.outcome {
                *counts.entry(node.clone()).or_insert(0) += 1;
            }
        }
        counts
    }

    pub fn successes(&self) -> usize {
        self.attempts
            .iter()
            .filter(|attempt| attempt.is_ok())
            .count()
    }

    pub fn failures(&self) -> usize {
        self.attempts.len() - self.successes()
    }

    /// Successful attempts per node among those started after `from`.
    pub fn per_node_after(&self, from: Duration) -> BTreeMap<String, usize> {
        ProbeLog {
            attempts: self
                .attempts
                .iter()
                .filter(|attempt| attempt.at > from)
                .cloned()
                .collect(),
        }
        .per_node()
    }
}

/// One `GET / HTTP/1.0` to `target` on a new connection; the body's first line (the serving
/// node's name). Call it from a thread inside the client's namespace.
pub fn fetch(target: SocketAddr, config: &ProbeConfig) -> std::io::Result<String> {
    let mut stream = TcpStream::connect_timeout(&target, config.connect_timeout)?;
    stream.set_read_timeout(Some(config.io_timeout))?;
    stream.set_write_timeout(Some(config.io_timeout))?;
    stream.write_all(b"GET / HTTP/1.0\r\n\r\n")?;
    let mut raw = Vec::with_capacity(128);
    stream.read_to_end(&mut raw)?;
    parse_node_answer(&raw)
}

fn parse_node_answer(raw: &[u8]) -> std::io::Result<String> {
    let text = String::from_utf8_lossy(raw);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| std::io::Error::other(format!("not an HTTP answer: {text:?}")))?;
    if !head.starts_with("HTTP/1.0 200") && !head.starts_with("HTTP/1.1 200") {
        return Err(std::io::Error::other(format!(
            "answer was not 200: {head:?}"
        )));
    }
    let node = body.lines().next().unwrap_or_default().trim();
    if node.is_empty() {
        return Err(std::io::Error::other("the answer names no node"));
    }
    Ok(node.to_owned())
}

/// `requests` sequential [`fetch`]es from inside `netns`; successes per node, and failures under
/// a key that names their cause, `"(failed: <error>)"` (see [`failed_count`]).
pub fn count_nodes(
    netns: &Netns,
    target: SocketAddr,
    requests: usize,
    config: &ProbeConfig,
) -> Result<BTreeMap<String, usize>, NetnsError> {
    netns.run(|| {
        let mut counts = BTreeMap::new();
        for _ in 0..requests {
            let key = fetch(target, config).unwrap_or_else(|error| format!("{FAILED}: {error})"));
            *counts.entry(key).or_insert(0) += 1;
        }
        counts
    })
}

/// How [`count_nodes`] keys start for failed requests.
pub const FAILED: &str = "(failed";

/// The failed requests among [`count_nodes`]' counts, whatever their cause.
pub fn failed_count(counts: &BTreeMap<String, usize>) -> usize {
    counts
        .iter()
        .filter(|(key, _)| key.starts_with(FAILED))
        .map(|(_, count)| count)
        .sum()
}

/// A running probe; [`Prober::stop`] ends it and returns its [`ProbeLog`].
#[derive(Debug)]
pub struct Prober {
    started: Instant,
    stop: Arc<AtomicBool>,
    log: Arc<Mutex<ProbeLog>>,
    thread: JoinHandle<()>,
}

impl Prober {
    /// Starts probing `target` from a thread inside `netns`.
    pub fn start(
        netns: &Netns,
        target: SocketAddr,
        config: ProbeConfig,
    ) -> Result<Prober, NetnsError> {
        let stop = Arc::new(AtomicBool::new(false));
        let log = Arc::new(Mutex::new(ProbeLog::default()));
        let started = Instant::now();
        let thread = {
            let (stop, log) = (Arc::clone(&stop), Arc::clone(&log));
            netns.spawn_thread(move || {
                let mut next = started;
                while !stop.load(Ordering::Relaxed) {
                    let now = Instant::now();
                    if next > now {
                        std::thread::sleep(next - now);
                    }
                    let begun = Instant::now();
                    let outcome = fetch(target, &config).map_err(|error| error.to_string());
                    lock(&log).attempts.push(Attempt {
                        at: begun - started,
                        outcome,
                    });
                    next = (next + config.interval).max(Instant::now());
                }
            })?
        };
        Ok(Prober {
            started,
            stop,
            log,
            thread,
        })
    }

    /// Now, on the probe's clock (to mark an event).
    pub fn now(&self) -> Duration {
        self.started.elapsed()
    }

    /// A copy of the attempts so far (to poll for recovery while it keeps probing).
    pub fn snapshot(&self) -> ProbeLog {
        lock(&self.log).clone()
    }

    /// Stops after the attempt in flight and returns every attempt.
    pub fn stop(self) -> ProbeLog {
        self.stop.store(true, Ordering::Relaxed);
        if let Err(panic) = self.thread.join() {
            std::panic::resume_unwind(panic);
        }
        std::mem::take(&mut *lock(&self.log))
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// What a [`LongLivedConnection`] saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LongLivedReport {
    /// Messages sent and echoed back intact.
    pub exchanges: u64,
    /// The longest time between two successful exchanges (or from the start to the first).
    pub longest_stall: Duration,
    /// Why the connection ended before it was stopped; `None` if it survived.
    pub broken: Option<String>,
}

impl LongLivedReport {
    pub fn survived(&self) -> bool {
        self.broken.is_none()
    }
}

/// One TCP connection to an echoing server (a [`Responder`]) exchanging an 8-byte counter
/// every `interval`, until stopped or broken. It first asks the server's name
/// ([`Responder`]'s `HELLO` line), so a test knows which real server holds it.
#[derive(Debug)]
pub struct LongLivedConnection {
    server: String,
    exchanges: Arc<std::sync::atomic::AtomicU64>,
    stop: Arc<AtomicBool>,
    thread: JoinHandle<LongLivedReport>,
}

impl LongLivedConnection {
    /// Connects from inside `netns` (the connect itself must succeed) and starts exchanging.
    /// A message not echoed within `stall_limit` breaks the connection.
    pub fn start(
        netns: &Netns,
        target: SocketAddr,
        interval: Duration,
        stall_limit: Duration,
    ) -> Result<LongLivedConnection, NetnsError> {
        let (stream, server) =
            netns
                .run(|| hello(target, stall_limit))?
                .map_err(|cause| NetnsError::Io {
                    action: "open a long-lived connection to",
                    path: target.to_string().into(),
                    cause,
                })?;
        let stop = Arc::new(AtomicBool::new(false));
        let exchanges = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let thread = {
            let (stop, exchanges) = (Arc::clone(&stop), Arc::clone(&exchanges));
            std::thread::Builder::new()
                .name("long-lived".into())
                .spawn(move || {
                    exchange_until_stopped(stream, interval, stall_limit, &stop, &exchanges)
                })
                .map_err(|cause| NetnsError::Io {
                    action: "start the long-lived connection's thread for",
                    path: target.to_string().into(),
                    cause,
                })?
        };
        Ok(LongLivedConnection {
            server,
            exchanges,
            stop,
            thread,
        })
    }

    /// The name of the real server holding the connection.
    pub fn server(&self) -> &str {
        &self.server
    }

    /// Messages exchanged so far.
    pub fn exchanges(&self) -> u64 {
        self.exchanges.load(Ordering::Relaxed)
    }

    /// Whether it is still exchanging.
    pub fn is_alive(&self) -> bool {
        !self.thread.is_finished()
    }

    /// Stops exchanging, closes the connection, and reports.
    pub fn stop(self) -> LongLivedReport {
        self.stop.store(true, Ordering::Relaxed);
        self.thread
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    }
}

/// Connects and reads the server's name line.
fn hello(target: SocketAddr, timeout: Duration) -> std::io::Result<(TcpStream, String)> {
    let mut stream = TcpStream::connect_timeout(&target, timeout)?;
    stream.set_read_timeout(Some(timeout))?;
    stream.write_all(crate::responder::HELLO)?;
    let mut name = Vec::new();
    let mut byte = [0u8; 1];
    while name.len() < 256 {
        stream.read_exact(&mut byte)?;
        if byte[0] == b'\n' {
            return Ok((stream, String::from_utf8_lossy(&name).into_owned()));
        }
        name.push(byte[0]);
    }
    Err(std::io::Error::other("the server's name line is too long"))
}

fn exchange_until_stopped(
    mut stream: TcpStream,
    interval: Duration,
    stall_limit: Duration,
    stop: &AtomicBool,
    exchanges: &std::sync::atomic::AtomicU64,
) -> LongLivedReport {
    let mut report = LongLivedReport {
        exchanges: 0,
        longest_stall: Duration::ZERO,
        broken: None,
    };
    let _ = stream.set_nodelay(true);
    if let Err(error) = stream.set_read_timeout(Some(stall_limit)) {
        report.broken = Some(error.to_string());
        return report;
    }
    let mut last_success = Instant::now();
    let mut counter: u64 = 0;
    while !stop.load(Ordering::Relaxed) {
        counter += 1;
        let sent = counter.to_be_bytes();
        let mut echoed = [0u8; 8];
        let result = stream
            .write_all(&sent)
            .and_then(|()| stream.read_exact(&mut echoed));
        match result {
            Ok(()) if echoed == sent => {
                report.exchanges += 1;
                exchanges.store(report.exchanges, Ordering::Relaxed);
                report.longest_stall = report.longest_stall.max(last_success.elapsed());
                last_success = Instant::now();
            }
            Ok(()) => {
                report.broken = Some(format!("message {counter} came back as {echoed:?}"));
                break;
            }
            Err(error) => {
                report.broken = Some(format!("exchange {counter}: {error}"));
                report.longest_stall = report.longest_stall.max(last_success.elapsed());
                break;
            }
        }
        std::thread::sleep(interval);
    }
    let _ = stream.shutdown(Shutdown::Both);
    report
}

/// Many established connections that stay idle until [`IdleConnections::check`].
#[derive(Debug)]
pub struct IdleConnections {
    streams: Vec<TcpStream>,
    /// Connections that could not be opened at all, and the first reason.
    pub failed_to_open: usize,
    pub first_open_error: Option<String>,
}

impl IdleConnections {
    /// Opens `count` connections to `target` from inside `netns`, each proven with one echoed
    /// byte (so each is established with data, as a user's connection would be, and the
    /// director has seen enough of it to sync it to the standby).
    pub fn open(
        netns: &Netns,
        target: SocketAddr,
        count: usize,
    ) -> Result<IdleConnections, NetnsError> {
        netns.run(|| {
            let mut idle = IdleConnections {
                streams: Vec::with_capacity(count),
                failed_to_open: 0,
                first_open_error: None,
            };
            for _ in 0..count {
                let opened = TcpStream::connect_timeout(&target, Duration::from_secs(2)).and_then(
                    |mut stream| {
                        stream.set_read_timeout(Some(Duration::from_secs(2)))?;
                        stream.write_all(b"x")?;
                        let mut byte = [0u8; 1];
                        stream.read_exact(&mut byte)?;
                        if byte != *b"x" {
                            return Err(std::io::Error::other("the server did not echo"));
                        }
                        Ok(stream)
                    },
                );
                match opened {
                    Ok(stream) => idle.streams.push(stream),
                    Err(error) => {
                        idle.failed_to_open += 1;
                        idle.first_open_error
                            .get_or_insert_with(|| error.to_string());
                    }
                }
            }
            idle
        })
    }

    /// How many connections are open.
    pub fn len(&self) -> usize {
        self.streams.len()
    }

    pub fn is_empty(&self) -> bool {
        self.streams.is_empty()
    }

    /// Sends one byte on every connection and counts those that echo it within `timeout`
    /// (all are sent first, then all are read, so the wait is shared).
    pub fn check(&mut self, timeout: Duration) -> usize {
        let mut sent = Vec::with_capacity(self.streams.len());
        for stream in &mut self.streams {
            sent.push(stream.write_all(b"x").is_ok());
        }
        let deadline = Instant::now() + timeout;
        let mut survivors = 0;
        for (stream, sent) in self.streams.iter_mut().zip(sent) {
            if !sent {
                continue;
            }
            let left = deadline
                .saturating_duration_since(Instant::now())
                .max(Duration::from_millis(1));
            let mut byte = [0u8; 1];
            if stream.set_read_timeout(Some(left)).is_ok()
                && stream.read_exact(&mut byte).is_ok()
                && byte == *b"x"
            {
                survivors += 1;
            }
        }
        survivors
    }
}

/// p50, p99 and max of a set of durations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Summary {
    pub count: usize,
    pub p50: Duration,
    pub p99: Duration,
    pub max: Duration,
}

impl Summary {
    /// `None` for an empty set. Percentiles are nearest-rank.
    pub fn of(values: &[Duration]) -> Option<Summary> {
        let mut sorted = values.to_vec();
        sorted.sort();
        let rank = |percent: usize| {
            let index = (percent * sorted.len()).div_ceil(100).max(1) - 1;
            sorted[index.min(sorted.len() - 1)]
        };
        let max = *sorted.last()?;
        Some(Summary {
            count: sorted.len(),
            p50: rank(50),
            p99: rank(99),
            max,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(value: u64) -> Duration {
        Duration::from_millis(value)
    }

    fn attempt(at: u64, node: Option<&str>) -> Attempt {
        Attempt {
            at: ms(at),
            outcome: node.map(str::to_owned).ok_or_else(|| "refused".to_owned()),
        }
    }

    #[test]
    fn a_request_that_slips_through_after_the_event_does_not_hide_the_outage() {
        let log = ProbeLog {
            attempts: vec![
                attempt(0, Some("n1")),
                attempt(10, Some("n1")),
                attempt(20, Some("n1")),
                attempt(30, None),
                attempt(80, None),
                attempt(1230, Some("n2")),
                attempt(1240, Some("n2")),
            ],
        };
        // The director died at 15 ms; the attempt begun at 20 was already on its way.
        assert_eq!(log.gap_around(ms(15)), Some(ms(1210)));
    }

    #[test]
    fn the_gap_runs_from_the_last_success_before_to_the_first_after() {
        let log = ProbeLog {
            attempts: vec![
                attempt(0, Some("n1")),
                attempt(10, Some("n1")),
                attempt(20, None),
                attempt(220, None),
                attempt(420, Some("n2")),
                attempt(430, Some("n3")),
            ],
        };
        // Killed at 15 ms: last success at 10, first after at 420.
        assert_eq!(log.gap_around(ms(15)), Some(ms(410)));
        // An event at an attempt's start counts that attempt as before.
        assert_eq!(log.gap_around(ms(10)), Some(ms(410)));
        // An event between two successes: the plain interval.
        assert_eq!(log.gap_around(ms(425)), Some(ms(10)));
        // Not covered on one side.
        assert_eq!(log.gap_around(ms(430)), None);
        assert_eq!(ProbeLog::default().gap_around(ms(1)), None);
        assert_eq!((log.successes(), log.failures()), (4, 2));
        let counts = log.per_node();
        assert_eq!(counts["n1"], 2);
        assert_eq!(counts["n2"], 1);
        assert_eq!(
            log.per_node_after(ms(420)).keys().collect::<Vec<_>>(),
            ["n3"]
        );
    }

    #[test]
    fn answers_name_their_node() {
        let answer = b"HTTP/1.0 200 OK\r\nContent-Length: 3\r\n\r\nn2\n";
        assert_eq!(parse_node_answer(answer).unwrap(), "n2");
        assert!(parse_node_answer(b"HTTP/1.0 503 No\r\n\r\nn2\n").is_err());
        assert!(parse_node_answer(b"HTTP/1.0 200 OK\r\n\r\n").is_err());
        assert!(parse_node_answer(b"garbage").is_err());
    }

    #[test]
    fn percentiles_are_nearest_rank() {
        let values: Vec<Duration> = (1..=100).rev().map(ms).collect();
        let summary = Summary::of(&values).unwrap();
        assert_eq!(
            (summary.p50, summary.p99, summary.max),
            (ms(50), ms(99), ms(100))
        );
        let one = Summary::of(&[ms(7)]).unwrap();
        assert_eq!(
            (one.count, one.p50, one.p99, one.max),
            (1, ms(7), ms(7), ms(7))
        );
        assert_eq!(Summary::of(&[]), None);
    }

    /// Polls `check` until it holds (a hung setup fails after a minute; nothing is timed).
    fn wait_for(what: &str, mut check: impl FnMut() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while !check() {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            std::thread::sleep(ms(10));
        }
    }

    /// Needs root: two namespaces joined by a veth, a responder in one, the probes in the other.
    #[test]
    fn probes_see_a_server_go_away_and_come_back() {
        let client = Netns::new("probe-client").unwrap();
        let server = Netns::new("probe-server").unwrap();
        Netns::veth(&client, "eth0", &server, "eth0").unwrap();
        client.add_address("eth0", "10.9.0.1/24").unwrap();
        server.add_address("eth0", "10.9.0.2/24").unwrap();
        let target: SocketAddr = "10.9.0.2:8080".parse().unwrap();
        let config = ProbeConfig::default();

        let responder = Responder::start(&server, 8080, "server").unwrap();
        let counts = count_nodes(&client, target, 20, &config).unwrap();
        assert_eq!(counts, BTreeMap::from([("server".to_owned(), 20)]));
        assert_eq!(responder.answered(), 20);

        let prober = Prober::start(&client, target, config).unwrap();
        wait_for("5 successes", || prober.snapshot().successes() >= 5);
        let down = prober.now();
        responder.stop();
        wait_for("3 failures", || {
            let log = prober.snapshot();
            log.attempts
                .iter()
                .filter(|a| a.at > down && !a.is_ok())
                .count()
                >= 3
        });
        let up = prober.now();
        let responder = Responder::start(&server, 8080, "server").unwrap();
        wait_for("3 successes after the restart", || {
            prober.snapshot().per_node_after(up).get("server") >= Some(&3)
        });
        let log = prober.stop();
        let gap = log.gap_around(down).unwrap();
        assert!(
            gap >= up - down,
            "gap {gap:?} shorter than the outage {:?}",
            up - down
        );
        assert!(log.failures() >= 3);
        assert_eq!(log.per_node().keys().collect::<Vec<_>>(), ["server"]);

        // A long-lived connection keeps exchanging while the server lives...
        let long_lived = LongLivedConnection::start(&client, target, ms(10), ms(2000)).unwrap();
        assert_eq!(long_lived.server(), "server");
        wait_for("5 exchanges", || long_lived.exchanges() >= 5);
        let report = long_lived.stop();
        assert!(report.survived(), "{report:?}");
        assert!(report.exchanges >= 5);

        // ...and so do idle connections, until the server goes.
        let mut idle = IdleConnections::open(&client, target, 50).unwrap();
        assert_eq!((idle.len(), idle.failed_to_open), (50, 0));
        assert_eq!(idle.check(Duration::from_secs(5)), 50);
        let long_lived = LongLivedConnection::start(&client, target, ms(10), ms(2000)).unwrap();
        responder.stop();
        wait_for("the long-lived connection to break", || {
            !long_lived.is_alive()
        });
        assert!(!long_lived.stop().survived());
        assert_eq!(idle.check(Duration::from_secs(1)), 0);
    }
}

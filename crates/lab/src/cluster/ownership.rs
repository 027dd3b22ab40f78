//! Who holds an address, sampled every few milliseconds from inside every node: the witness for
//! "no two nodes ever held the CVIP at once" in tests and benchmarks.
//!
//! ```no_run
//! # fn main() -> Result<(), ssinet_lab::cluster::ClusterError> {
//! use ssinet_lab::cluster::ownership::{OwnershipSampler, summarize};
//! use ssinet_testbed::netns::{Lab, LabSpec};
//! use std::time::{Duration, Instant};
//! let lab = Lab::up(LabSpec::default())?;
//! let cvip = std::net::IpAddr::V4(lab.cvip());
//! let from = Instant::now();
//! let sampler = OwnershipSampler::start(&lab, vec![cvip], Duration::from_millis(10))?;
//! // ... cut the director off, heal ...
//! let samples = sampler.stop();
//! let summary = summarize(&samples, cvip, from, Instant::now());
//! assert_eq!(summary.dual, 0, "two holders at once: {:?}", summary.first_dual);
//! # Ok(()) }
//! ```
//!
//! Why this shape:
//!
//! - **In-process netlink, one thread per node namespace.** A netlink socket answers for the
//!   namespace it was made in, so each node gets a thread that entered its namespace and keeps
//!   one `NETLINK_ROUTE` socket. A sample is one address dump per node, filtered to `eth1`
//!   (tens of microseconds), where `ip -j addr` would fork and exec a process per node per
//!   sample (milliseconds each, on a loaded 2-core CI machine tens): at a 10 ms period the
//!   forks alone would blur the very overlap the sampler is there to catch.
//! - **All nodes asked at once.** A coordinating thread wakes every period and asks every node
//!   thread together, so one [`Sample`] is a near-simultaneous picture of the cluster. A move
//!   done right (release, then claim) has the release and the claim hundreds of milliseconds
//!   apart (a Raft election lies between them), far more than the spread of one sample, so a
//!   dual sample is a real overlap, not a skew of the sampler.
//! - **Only the external interface.** Real servers hold the CVIP on `lo` by design; only `eth1`
//!   answers ARP for it, so only `eth1` counts as holding it.
//! - **Plain `libc`, no netlink crate.** The lab drives the kernel with plain system calls
//!   elsewhere too (the bridge ioctls); one request and a flat parse need nothing more.
//!
//! A dump that fails, or that the kernel marks as interrupted by a concurrent change twice in a
//! row, leaves no sample for that tick (a sample is never made of a guess); such ticks are
//! counted ([`OwnershipSampler::failures`]) and logged.
use super::error::{ClusterError, Result};
use ssinet_testbed::netns::{Lab, addressing, ioctl};
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, mpsc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// What the nodes held at one instant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sample {
    /// When the nodes were asked.
    pub at: Instant,
    /// For every sampled address, the numbers of the nodes holding it on their external
    /// interface (`eth1`), sorted; an empty list when nobody does.
    pub holders: BTreeMap<IpAddr, Vec<u8>>,
}

/// Samples who holds some addresses until stopped; see the [module docs](self).
///
/// The threads keep the nodes' namespaces alive (not their names) while they run: stop the
/// sampler (or drop it) before the lab goes.
pub struct OwnershipSampler {
    samples: Arc<Mutex<Vec<Sample>>>,
    failures: Arc<AtomicUsize>,
    /// Dropping it wakes the coordinator and ends it; it then drops the node threads' request
    /// channels, which ends them.
    stop: Option<mpsc::Sender<()>>,
    coordinator: Option<JoinHandle<()>>,
    nodes: Vec<JoinHandle<()>>,
}

impl std::fmt::Debug for OwnershipSampler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OwnershipSampler")
            .field("samples", &lock(&self.samples).len())
            .field("failures", &self.failures.load(Ordering::Relaxed))
            .field("nodes", &self.nodes.len())
            .finish()
    }
}

/// A node thread's answer: which of the wanted addresses its `eth1` holds, in order.
type Answer = (usize, std::io::Result<Vec<bool>>);

impl OwnershipSampler {
    /// Samples every `every` (10 ms in tests; at least 1 ms), from one thread per node namespace
    /// using in-process netlink (no process spawn per sample), which nodes hold each of `addrs`
    /// on their external interface (eth1).
    ///
    /// Returns once every node thread has its netlink socket, so the first sample follows at
    /// once; an error names the node whose namespace could not be read.
    pub fn start(lab: &Lab, addrs: Vec<IpAddr>, every: Duration) -> Result<OwnershipSampler> {
        let every = every.max(Duration::from_millis(1));
        let wanted: Arc<[IpAddr]> = addrs.into();
        let (answers_tx, answers_rx) = mpsc::channel::<Answer>();
        let mut requests = Vec::new();
        let mut nodes = Vec::new();
        let mut numbers = Vec::new();
        for (index, node) in lab.nodes().iter().enumerate() {
            let (request_tx, request_rx) = mpsc::channel::<()>();
            let (ready_tx, ready_rx) = mpsc::sync_channel::<std::io::Result<()>>(1);
            let answers = answers_tx.clone();
            let wanted = Arc::clone(&wanted);
            let thread = node.netns().spawn_thread(move || {
                let mut dump = match AddressDump::open(addressing::EXTERNAL_IF) {
                    Ok(dump) => {
                        let _ = ready_tx.send(Ok(()));
                        dump
                    }
                    Err(error) => {
                        let _ = ready_tx.send(Err(error));
                        return;
                    }
                };
                while request_rx.recv().is_ok() {
                    let held = dump
                        .addresses()
                        .map(|present| wanted.iter().map(|a| present.contains(a)).collect());
                    if answers.send((index, held)).is_err() {
                        break;
                    }
                }
            })?;
            let ready = ready_rx.recv().unwrap_or_else(|_| {
                Err(std::io::Error::other("its sampling thread ended at start"))
            });
            if let Err(error) = ready {
                drop(requests);
                let _ = thread.join();
                for thread in nodes {
                    let _ = JoinHandle::join(thread);
                }
                return Err(ClusterError::Node {
                    node: node.number(),
                    reason: format!(
                        "cannot read the addresses of {} in {}: {error}",
                        addressing::EXTERNAL_IF,
                        node.netns().name()
                    ),
                });
            }
            requests.push(request_tx);
            nodes.push(thread);
            numbers.push(node.number());
        }
        drop(answers_tx);

        let samples = Arc::new(Mutex::new(Vec::new()));
        let failures = Arc::new(AtomicUsize::new(0));
        let (stop_tx, stop_rx) = mpsc::channel::<()>();
        let coordinator = Coordinator {
            requests,
            answers: answers_rx,
            numbers,
            wanted,
            samples: Arc::clone(&samples),
            failures: Arc::clone(&failures),
        };
        let coordinator = std::thread::Builder::new()
            .name("ownership-sampler".into())
            .spawn(move || coordinator.run(every, &stop_rx))
            .map_err(|cause| ClusterError::Io {
                action: "start the ownership sampler's thread",
                path: "(thread)".into(),
                cause,
            })?;
        Ok(OwnershipSampler {
            samples,
            failures,
            stop: Some(stop_tx),
            coordinator: Some(coordinator),
            nodes,
        })
    }

    /// A copy of every sample so far, in time order.
    pub fn samples(&self) -> Vec<Sample> {
        lock(&self.samples).clone()
    }

    /// The latest sample, if any: what a test polls while it waits for a takeover.
    pub fn latest(&self) -> Option<Sample> {
        lock(&self.samples).last().cloned()
    }

    /// Ticks that left no sample because a node's dump failed (logged as they happen).
    pub fn failures(&self) -> usize {
        self.failures.load(Ordering::Relaxed)
    }

    /// Ends the threads and returns every sample, in time order.
    pub fn stop(mut self) -> Vec<Sample> {
        self.shutdown();
        std::mem::take(&mut *lock(&self.samples))
    }

    fn shutdown(&mut self) {
        drop(self.stop.take());
        if let Some(coordinator) = self.coordinator.take() {
            let _ = coordinator.join();
        }
        for node in self.nodes.drain(..) {
            let _ = node.join();
        }
    }
}

impl Drop for OwnershipSampler {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// A poisoned lock only means a panic elsewhere; the samples are still whole.
fn lock(samples: &Mutex<Vec<Sample>>) -> MutexGuard<'_, Vec<Sample>> {
    samples
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The thread that keeps time and assembles samples from the node threads' answers.
struct Coordinator {
    requests: Vec<mpsc::Sender<()>>,
    answers: mpsc::Receiver<Answer>,
    numbers: Vec<u8>,
    wanted: Arc<[IpAddr]>,
    samples: Arc<Mutex<Vec<Sample>>>,
    failures: Arc<AtomicUsize>,
}

impl Coordinator {
    /// A node thread that does not answer within this is stuck; the sampler gives up on it.
    const ANSWER_TIMEOUT: Duration = Duration::from_secs(5);

    fn run(self, every: Duration, stop: &mpsc::Receiver<()>) {
        let mut next = Instant::now();
        loop {
            if !self.sample_once() {
                return;
            }
            // A fixed rate, not a fixed pause: ticks stay `every` apart however long a sample
            // took; a tick missed (the machine was busy) is skipped, not made up in a burst.
            next += every;
            let now = Instant::now();
            if next < now {
                next = now;
            }
            match stop.recv_timeout(next - now) {
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Ok(()) | Err(mpsc::RecvTimeoutError::Disconnected) => return,
            }
        }
    }

    /// Asks every node, records the sample; false once a node thread is gone.
    fn sample_once(&self) -> bool {
        let at = Instant::now();
        for request in &self.requests {
            if request.send(()).is_err() {
                tracing::warn!("an ownership sampler node thread ended; sampling stops");
                return false;
            }
        }
        let mut held: Vec<Option<Vec<bool>>> = vec![None; self.requests.len()];
        let mut failed = false;
        for _ in 0..self.requests.len() {
            match self.answers.recv_timeout(Self::ANSWER_TIMEOUT) {
                Ok((index, Ok(answer))) => held[index] = Some(answer),
                Ok((index, Err(error))) => {
                    let node = self.numbers[index];
                    tracing::warn!(node, %error, "ownership sample failed");
                    failed = true;
                }
                Err(_) => {
                    tracing::warn!("an ownership sampler node thread stopped answering");
                    return false;
                }
            }
        }
        if failed {
            self.failures.fetch_add(1, Ordering::Relaxed);
            return true;
        }
        let mut holders: BTreeMap<IpAddr, Vec<u8>> =
            self.wanted.iter().map(|addr| (*addr, Vec::new())).collect();
        for (index, answer) in held.iter().enumerate() {
            let Some(answer) = answer else { continue };
            for (addr, present) in self.wanted.iter().zip(answer) {
                if *present && let Some(list) = holders.get_mut(addr) {
                    list.push(self.numbers[index]);
                }
            }
        }
        for list in holders.values_mut() {
            list.sort_unstable();
            list.dedup();
        }
        lock(&self.samples).push(Sample { at, holders });
        true
    }
}

/// What a stretch of samples says about one address.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OwnershipSummary {
    /// Samples in the stretch.
    pub samples: usize,
    /// Samples with more than one holder: a split brain.
    pub dual: usize,
    /// Samples with no holder: an outage.
    pub none: usize,
    /// How often the single holder changed to a different node. Samples with no holder in
    /// between do not count as a holder (1, none, 2 is one move; 1, none, 1 is none), nor do
    /// samples with several holders.
    pub moves: usize,
    /// The holders in the last sample of the stretch (empty if none or no sample).
    pub holders_at_end: Vec<u8>,
    /// The first sample with more than one holder: its offset from `from`, and who.
    pub first_dual: Option<(Duration, Vec<u8>)>,
}

/// Summarizes who held `addr` in the samples taken from `from` to `to` (both included).
/// `samples` are in time order, as [`OwnershipSampler`] records them.
pub fn summarize(samples: &[Sample], addr: IpAddr, from: Instant, to: Instant) -> OwnershipSummary {
    let mut summary = OwnershipSummary::default();
    let mut single: Option<u8> = None;
    for sample in samples.iter().filter(|s| s.at >= from && s.at <= to) {
        let holders = sample.holders.get(&addr).map_or(&[][..], Vec::as_slice);
        summary.samples += 1;
        match holders {
            [] => summary.none += 1,
            [only] => {
                if single.is_some_and(|previous| previous != *only) {
                    summary.moves += 1;
                }
                single = Some(*only);
            }
            several => {
                summary.dual += 1;
                if summary.first_dual.is_none() {
                    let offset = sample.at.saturating_duration_since(from);
                    summary.first_dual = Some((offset, several.to_vec()));
                }
            }
        }
        summary.holders_at_end = holders.to_vec();
    }
    summary
}

/// A `NETLINK_ROUTE` socket of the calling thread's namespace that lists one interface's
/// addresses (`RTM_GETADDR` dump).
struct AddressDump {
    socket: std::os::fd::OwnedFd,
    ifindex: u32,
    sequence: u32,
    buffer: Vec<u8>,
}

// From linux/netlink.h and linux/rtnetlink.h (the libc crate lacks some for this target).
const NLMSG_HDRLEN: usize = 16;
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const NLM_F_REQUEST: u16 = 0x1;
const NLM_F_DUMP: u16 = 0x300;
const NLM_F_DUMP_INTR: u16 = 0x10;
const RTM_NEWADDR: u16 = 20;
const RTM_GETADDR: u16 = 22;
const IFADDRMSG_LEN: usize = 8;
const IFA_ADDRESS: u16 = 1;
const IFA_LOCAL: u16 = 2;
const SOL_NETLINK: libc::c_int = 270;
const NETLINK_GET_STRICT_CHK: libc::c_int = 12;

impl AddressDump {
    /// Opens the socket and finds `ifname`, both in the calling thread's namespace.
    fn open(ifname: &str) -> std::io::Result<AddressDump> {
        use std::os::fd::{AsRawFd as _, FromRawFd as _};
        let ifindex = ioctl::index(ifname)?;
        // SAFETY: plain socket(2); the result is checked before it is wrapped.
        let fd = unsafe {
            libc::socket(
                libc::AF_NETLINK,
                libc::SOCK_RAW | libc::SOCK_CLOEXEC,
                libc::NETLINK_ROUTE,
            )
        };
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: `fd` is a fresh descriptor that nothing else owns.
        let socket = unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) };
        // A kernel that never answers must not hang the sampler: give up after 2 s.
        let timeout = libc::timeval {
            tv_sec: 2,
            tv_usec: 0,
        };
        setsockopt(
            socket.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVTIMEO,
            &timeout,
        )?;
        // Strict checking lets the kernel filter the dump by interface (Linux 4.20+); without
        // it the whole table comes back and is filtered here, which is only slower.
        let _ = setsockopt(socket.as_raw_fd(), SOL_NETLINK, NETLINK_GET_STRICT_CHK, &1);
        Ok(AddressDump {
            socket,
            ifindex,
            sequence: 0,
            buffer: vec![0; 64 * 1024],
        })
    }

    /// The addresses of the interface, now. A dump the kernel marks as interrupted (an address
    /// changed while it was being listed) is taken again once.
    fn addresses(&mut self) -> std::io::Result<Vec<IpAddr>> {
        match self.dump_once()? {
            Some(addresses) => Ok(addresses),
            None => self.dump_once()?.ok_or_else(|| {
                std::io::Error::other("the address dump was interrupted twice in a row")
            }),
        }
    }

    /// One dump; None when the kernel says it was interrupted.
    fn dump_once(&mut self) -> std::io::Result<Option<Vec<IpAddr>>> {
        use std::os::fd::AsRawFd as _;
        self.sequence = self.sequence.wrapping_add(1);
        let request = address_request(self.sequence, self.ifindex);
        // SAFETY: sends `request.len()` bytes from a live buffer on a socket we own.
        let sent = unsafe {
            libc::send(
                self.socket.as_raw_fd(),
                request.as_ptr().cast(),
                request.len(),
                0,
            )
        };
        if sent < 0 {
            return Err(std::io::Error::last_os_error());
        }
        let mut addresses = Vec::new();
        let mut interrupted = false;
        loop {
            // SAFETY: receives at most `buffer.len()` bytes into a buffer we own.
            let received = unsafe {
                libc::recv(
                    self.socket.as_raw_fd(),
                    self.buffer.as_mut_ptr().cast(),
                    self.buffer.len(),
                    0,
                )
            };
            if received < 0 {
                let error = std::io::Error::last_os_error();
                if error.kind() == std::io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(error);
            }
            let length = usize::try_from(received).unwrap_or(0);
            let part = parse_dump(
                &self.buffer[..length],
                self.sequence,
                self.ifindex,
                &mut addresses,
            )?;
            interrupted |= part.interrupted;
            if part.done {
                return Ok((!interrupted).then_some(addresses));
            }
        }
    }
}

fn setsockopt<T>(
    fd: libc::c_int,
    level: libc::c_int,
    name: libc::c_int,
    value: &T,
) -> std::io::Result<()> {
    let size = libc::socklen_t::try_from(std::mem::size_of::<T>())
        .map_err(|_| std::io::Error::other("option value too large"))?;
    // SAFETY: `value` points to a live `T` of `size` bytes for the duration of the call.
    let result = unsafe { libc::setsockopt(fd, level, name, (value as *const T).cast(), size) };
    if result < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// An `RTM_GETADDR` dump request for every family, filtered (where the kernel can) to
/// interface `ifindex`.
fn address_request(sequence: u32, ifindex: u32) -> Vec<u8> {
    let length = NLMSG_HDRLEN + IFADDRMSG_LEN;
    let mut request = Vec::with_capacity(length);
    request.extend_from_slice(&u32::try_from(length).unwrap_or(24).to_ne_bytes());
    request.extend_from_slice(&RTM_GETADDR.to_ne_bytes());
    request.extend_from_slice(&(NLM_F_REQUEST | NLM_F_DUMP).to_ne_bytes());
    request.extend_from_slice(&sequence.to_ne_bytes());
    request.extend_from_slice(&0u32.to_ne_bytes()); // to the kernel
    // struct ifaddrmsg: family (AF_UNSPEC: both), prefix length, flags, scope, index.
    request.extend_from_slice(&[0, 0, 0, 0]);
    request.extend_from_slice(&ifindex.to_ne_bytes());
    request
}

/// What one datagram of a dump said.
#[derive(Debug, Default, PartialEq, Eq)]
struct DumpPart {
    done: bool,
    interrupted: bool,
}

fn u16_at(bytes: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_ne_bytes(bytes.get(at..at + 2)?.try_into().ok()?))
}

fn u32_at(bytes: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_ne_bytes(bytes.get(at..at + 4)?.try_into().ok()?))
}

fn i32_at(bytes: &[u8], at: usize) -> Option<i32> {
    Some(i32::from_ne_bytes(bytes.get(at..at + 4)?.try_into().ok()?))
}

const fn align4(length: usize) -> usize {
    (length + 3) & !3
}

/// Parses one datagram of an address dump, adding the local addresses of interface `ifindex`
/// to `addresses`. Messages of another sequence (a stale dump) are skipped.
fn parse_dump(
    datagram: &[u8],
    sequence: u32,
    ifindex: u32,
    addresses: &mut Vec<IpAddr>,
) -> std::io::Result<DumpPart> {
    let malformed = || std::io::Error::new(std::io::ErrorKind::InvalidData, "malformed netlink");
    let mut part = DumpPart::default();
    let mut offset = 0;
    while offset + NLMSG_HDRLEN <= datagram.len() {
        let length = u32_at(datagram, offset).ok_or_else(malformed)? as usize;
        let kind = u16_at(datagram, offset + 4).ok_or_else(malformed)?;
        let flags = u16_at(datagram, offset + 6).ok_or_else(malformed)?;
        let seq = u32_at(datagram, offset + 8).ok_or_else(malformed)?;
        if length < NLMSG_HDRLEN || offset + length > datagram.len() {
            return Err(malformed());
        }
        let message = &datagram[offset + NLMSG_HDRLEN..offset + length];
        offset += align4(length);
        if seq != sequence {
            continue;
        }
        part.interrupted |= flags & NLM_F_DUMP_INTR != 0;
        match kind {
            NLMSG_DONE => part.done = true,
            NLMSG_ERROR => {
                // struct nlmsgerr: a negative errno, or 0 for an acknowledgement.
                let errno = i32_at(message, 0).ok_or_else(malformed)?;
                if errno != 0 {
                    return Err(std::io::Error::from_raw_os_error(errno.saturating_neg()));
                }
            }
            RTM_NEWADDR => {
                if let Some(addr) = local_address(message, ifindex) {
                    addresses.push(addr);
                }
            }
            _ => {}
        }
    }
    Ok(part)
}

/// The local address an `RTM_NEWADDR` body describes, if it is on interface `ifindex`:
/// `IFA_LOCAL` when present (the local end of a point-to-point address), else `IFA_ADDRESS`.
fn local_address(message: &[u8], ifindex: u32) -> Option<IpAddr> {
    let family = *message.first()?;
    if u32_at(message, 4)? != ifindex {
        return None;
    }
    let (mut local, mut address) = (None, None);
    let mut offset = IFADDRMSG_LEN;
    while offset + 4 <= message.len() {
        let length = usize::from(u16_at(message, offset)?);
        let kind = u16_at(message, offset + 2)?;
        if length < 4 || offset + length > message.len() {
            break;
        }
        let value = &message[offset + 4..offset + length];
        let ip = match (i32::from(family), value.len()) {
            (libc::AF_INET, 4) => <[u8; 4]>::try_from(value).ok().map(IpAddr::from),
            (libc::AF_INET6, 16) => <[u8; 16]>::try_from(value).ok().map(IpAddr::from),
            _ => None,
        };
        match kind {
            IFA_LOCAL => local = ip,
            IFA_ADDRESS => address = ip,
            _ => {}
        }
        offset += align4(length);
    }
    local.or(address)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    const CVIP: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 168, 200, 100));
    const OTHER: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 168, 200, 101));

    /// Samples 10 ms apart from `base`, the CVIP held by the given nodes in each.
    fn samples(base: Instant, holders: &[&[u8]]) -> Vec<Sample> {
        holders
            .iter()
            .enumerate()
            .map(|(i, nodes)| Sample {
                at: base + Duration::from_millis(10 * i as u64),
                holders: [(CVIP, nodes.to_vec()), (OTHER, vec![9])].into(),
            })
            .collect()
    }

    fn all(list: &[Sample]) -> OwnershipSummary {
        let from = list.first().map_or_else(Instant::now, |s| s.at);
        let to = list.last().map_or(from, |s| s.at);
        summarize(list, CVIP, from, to)
    }

    #[test]
    fn a_clean_move_is_one_move_and_no_dual() {
        let base = Instant::now();
        let summary = all(&samples(base, &[&[1], &[1], &[], &[], &[2], &[2]]));
        assert_eq!(
            summary,
            OwnershipSummary {
                samples: 6,
                dual: 0,
                none: 2,
                moves: 1,
                holders_at_end: vec![2],
                first_dual: None,
            }
        );
    }

    #[test]
    fn dual_samples_are_counted_and_the_first_is_named() {
        let base = Instant::now();
        let list = samples(base, &[&[1], &[1, 2], &[1, 2, 3], &[2], &[1, 2]]);
        let summary = all(&list);
        assert_eq!(summary.dual, 3);
        assert_eq!(
            summary.moves, 1,
            "1 -> 2; the dual samples are not single holders"
        );
        assert_eq!(
            summary.first_dual,
            Some((Duration::from_millis(10), vec![1, 2]))
        );
        assert_eq!(summary.holders_at_end, vec![1, 2]);
    }

    #[test]
    fn a_gap_back_to_the_same_holder_is_no_move() {
        let base = Instant::now();
        let summary = all(&samples(base, &[&[1], &[], &[], &[1], &[], &[1]]));
        assert_eq!((summary.moves, summary.none), (0, 3));
    }

    #[test]
    fn only_the_window_counts_and_the_offset_is_from_its_start() {
        let base = Instant::now();
        let list = samples(base, &[&[1, 2], &[1], &[2], &[2, 3], &[3]]);
        let from = base + Duration::from_millis(10);
        let to = base + Duration::from_millis(30);
        let summary = summarize(&list, CVIP, from, to);
        assert_eq!(summary.samples, 3);
        assert_eq!(summary.dual, 1);
        assert_eq!(summary.moves, 1);
        assert_eq!(
            summary.first_dual,
            Some((Duration::from_millis(20), vec![2, 3]))
        );
        assert_eq!(summary.holders_at_end, vec![2, 3]);
        let empty = summarize(&list, CVIP, to + Duration::from_secs(1), to);
        assert_eq!(empty, OwnershipSummary::default());
    }

    #[test]
    fn an_address_never_sampled_has_no_holder() {
        let base = Instant::now();
        let list = samples(base, &[&[1], &[2]]);
        let from = base;
        let to = base + Duration::from_secs(1);
        let unknown = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
        let summary = summarize(&list, unknown, from, to);
        assert_eq!((summary.samples, summary.none, summary.moves), (2, 2, 0));
        assert_eq!(summarize(&list, OTHER, from, to).holders_at_end, vec![9]);
    }

    /// A small deterministic generator (xorshift64*): property cases without a dependency.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }

        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }

        /// 0, 1 or several holders among nodes 1..=4, sorted.
        fn holders(&mut self) -> Vec<u8> {
            match self.below(10) {
                0..=2 => Vec::new(),
                3..=7 => vec![u8::try_from(self.below(4)).unwrap() + 1],
                _ => {
                    let mut nodes: Vec<u8> = (1..=4).filter(|_| self.below(2) == 0).collect();
                    if nodes.len() < 2 {
                        nodes = vec![1, 3];
                    }
                    nodes
                }
            }
        }
    }

    /// The moves of a holder sequence, the slow obvious way: keep only the single holders,
    /// then count neighbours that differ.
    fn reference_moves(sequence: &[Vec<u8>]) -> usize {
        let singles: Vec<u8> = sequence
            .iter()
            .filter(|h| h.len() == 1)
            .map(|h| h[0])
            .collect();
        singles.windows(2).filter(|w| w[0] != w[1]).count()
    }

    #[test]
    fn property_counts_agree_with_a_reference_and_gaps_never_make_moves() {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        for case in 0..500 {
            let length = usize::try_from(rng.below(40)).unwrap();
            let sequence: Vec<Vec<u8>> = (0..length).map(|_| rng.holders()).collect();
            let refs: Vec<&[u8]> = sequence.iter().map(Vec::as_slice).collect();
            let base = Instant::now();
            let summary = all(&samples(base, &refs));

            let singles = sequence.iter().filter(|h| h.len() == 1).count();
            assert_eq!(summary.samples, length, "case {case}");
            assert_eq!(
                summary.samples,
                summary.none + summary.dual + singles,
                "case {case}"
            );
            assert_eq!(
                summary.dual,
                sequence.iter().filter(|h| h.len() > 1).count()
            );
            assert_eq!(summary.moves, reference_moves(&sequence), "case {case}");
            assert!(summary.moves <= singles.saturating_sub(1), "case {case}");
            assert_eq!(
                summary.holders_at_end,
                sequence.last().cloned().unwrap_or_default()
            );
            assert_eq!(summary.first_dual.is_some(), summary.dual > 0);

            // No-holder gaps inserted anywhere change `none` only.
            let mut gapped = sequence.clone();
            let gaps = usize::try_from(rng.below(10)).unwrap();
            for _ in 0..gaps {
                let at = usize::try_from(rng.below(gapped.len() as u64 + 1)).unwrap();
                gapped.insert(at, Vec::new());
            }
            let refs: Vec<&[u8]> = gapped.iter().map(Vec::as_slice).collect();
            let with_gaps = all(&samples(base, &refs));
            assert_eq!(with_gaps.moves, summary.moves, "case {case}: {gapped:?}");
            assert_eq!(with_gaps.dual, summary.dual, "case {case}");
            assert_eq!(with_gaps.none, summary.none + gaps, "case {case}");

            // Sampling faster (every sample twice) sees the same moves and twice the duals.
            let doubled: Vec<&[u8]> = sequence
                .iter()
                .flat_map(|h| [h.as_slice(), h.as_slice()])
                .collect();
            let fast = all(&samples(base, &doubled));
            assert_eq!(fast.moves, summary.moves, "case {case}");
            assert_eq!(fast.dual, 2 * summary.dual, "case {case}");
        }
    }

    /// One `RTM_NEWADDR` message with the given attributes, as the kernel lays it out.
    fn new_addr(
        sequence: u32,
        flags: u16,
        family: u8,
        ifindex: u32,
        attrs: &[(u16, &[u8])],
    ) -> Vec<u8> {
        let mut body = vec![family, 24, 0, 0];
        body.extend_from_slice(&ifindex.to_ne_bytes());
        for (kind, value) in attrs {
            let length = 4 + value.len();
            body.extend_from_slice(&u16::try_from(length).unwrap().to_ne_bytes());
            body.extend_from_slice(&kind.to_ne_bytes());
            body.extend_from_slice(value);
            body.resize(align4(body.len()), 0);
        }
        message(RTM_NEWADDR, flags, sequence, &body)
    }

    fn message(kind: u16, flags: u16, sequence: u32, body: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        let length = u32::try_from(NLMSG_HDRLEN + body.len()).unwrap();
        out.extend_from_slice(&length.to_ne_bytes());
        out.extend_from_slice(&kind.to_ne_bytes());
        out.extend_from_slice(&flags.to_ne_bytes());
        out.extend_from_slice(&sequence.to_ne_bytes());
        out.extend_from_slice(&0u32.to_ne_bytes());
        out.extend_from_slice(body);
        out.resize(align4(out.len()), 0);
        out
    }

    #[test]
    fn a_dump_yields_the_local_addresses_of_the_interface_only() {
        let v6 = [0xfdu8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
        let mut datagram = Vec::new();
        datagram.extend(new_addr(
            7,
            0,
            2,
            3,
            &[
                (IFA_ADDRESS, &[192, 168, 200, 11]),
                (IFA_LOCAL, &[192, 168, 200, 11]),
            ],
        ));
        datagram.extend(new_addr(
            7,
            0,
            2,
            3,
            &[
                (IFA_ADDRESS, &[192, 168, 200, 100]),
                (IFA_LOCAL, &[192, 168, 200, 100]),
                (3, b"eth1:ssi\0"),
            ],
        ));
        datagram.extend(new_addr(7, 0, 2, 1, &[(IFA_LOCAL, &[192, 168, 200, 100])])); // on lo
        datagram.extend(new_addr(7, 0, 10, 3, &[(IFA_ADDRESS, &v6)]));
        datagram.extend(new_addr(6, 0, 2, 3, &[(IFA_LOCAL, &[10, 9, 9, 9])])); // a stale dump
        let mut found = Vec::new();
        let part = parse_dump(&datagram, 7, 3, &mut found).unwrap();
        assert_eq!(part, DumpPart::default(), "not done yet");
        assert_eq!(
            found,
            vec![
                IpAddr::V4(Ipv4Addr::new(192, 168, 200, 11)),
                CVIP,
                IpAddr::from(v6)
            ]
        );

        let done = message(NLMSG_DONE, NLM_F_DUMP_INTR, 7, &0u32.to_ne_bytes());
        let part = parse_dump(&done, 7, 3, &mut found).unwrap();
        assert_eq!(
            part,
            DumpPart {
                done: true,
                interrupted: true
            }
        );
        let error = message(NLMSG_ERROR, 0, 7, &(-libc::EINVAL).to_ne_bytes());
        let failed = parse_dump(&error, 7, 3, &mut found).unwrap_err();
        assert_eq!(failed.raw_os_error(), Some(libc::EINVAL));
        let mut truncated = new_addr(7, 0, 2, 3, &[(IFA_LOCAL, &[1, 2, 3, 4])]);
        truncated.truncate(20);
        assert!(parse_dump(&truncated, 7, 3, &mut found).is_err());
    }

    #[test]
    fn the_request_is_a_dump_of_one_interface() {
        let request = address_request(5, 42);
        assert_eq!(request.len(), 24);
        assert_eq!(u32_at(&request, 0), Some(24));
        assert_eq!(u16_at(&request, 4), Some(RTM_GETADDR));
        assert_eq!(u16_at(&request, 6), Some(NLM_F_REQUEST | NLM_F_DUMP));
        assert_eq!(u32_at(&request, 8), Some(5));
        assert_eq!(u32_at(&request, 20), Some(42));
    }
}

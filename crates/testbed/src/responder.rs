//! [`Responder`]: the tiny server a test runs on a node: it answers `GET` with the node's name
//! (so a client learns which real server served it) and echoes anything else back (so one
//! long-lived connection can keep exchanging data through the director). A connection that
//! starts with [`HELLO`] first gets the name as one line, then the echo.
//!
//! It runs as threads of the test process inside the node's namespace: no process to start,
//! which matters in the VM, where every process costs 0.1-0.2 s.
use crate::netns::{Netns, NetnsError};
use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

/// The first bytes of a connection that wants the server's name line before the echo.
pub const HELLO: &[u8] = b"HELLO\n";

/// Connection threads only shuttle small buffers; a small stack lets a test hold a thousand.
const CONNECTION_STACK: usize = 64 * 1024;

/// A running responder; [`Responder::stop`] or dropping it closes the listening socket and
/// every connection it accepted.
#[derive(Debug)]
pub struct Responder {
    name: String,
    local: SocketAddr,
    shared: Arc<Shared>,
    acceptor: Option<JoinHandle<()>>,
}

#[derive(Debug, Default)]
struct Shared {
    stopping: AtomicBool,
    answered: AtomicU64,
    listener_fd: Mutex<Option<i32>>,
    connections: Mutex<Vec<TcpStream>>,
}

impl Responder {
    /// Listens on `0.0.0.0:port` inside `netns` and answers `GET` with `name`.
    pub fn start(netns: &Netns, port: u16, name: &str) -> Result<Responder, NetnsError> {
        let bind = SocketAddr::from(([0, 0, 0, 0], port));
        let listener = netns
            .run(|| TcpListener::bind(bind))?
            .map_err(|cause| NetnsError::Io {
                action: "listen on",
                path: format!("{}:{bind}", netns.name()).into(),
                cause,
            })?;
        let local = listener.local_addr().map_err(|cause| NetnsError::Io {
            action: "read the address of the listener in",
            path: netns.name().into(),
            cause,
        })?;
        let shared = Arc::new(Shared::default());
        *lock(&shared.listener_fd) = Some(listener.as_raw_fd());
        let answer = format!(
            "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\r\n{name}\n",
            name.len() + 1
        );
        let acceptor = {
            let shared = Arc::clone(&shared);
            std::thread::Builder::new()
                .name(format!("responder-{name}"))
                .spawn(move || accept_loop(listener, &shared, &Arc::from(answer)))
                .map_err(|cause| NetnsError::Io {
                    action: "start the responder thread for",
                    path: netns.name().into(),
                    cause,
                })?
        };
        Ok(Responder {
            name: name.to_owned(),
            local,
            shared,
            acceptor: Some(acceptor),
        })
    }

    /// The name it answers with.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.local.port()
    }

    /// How many `GET`s it answered.
    pub fn answered(&self) -> u64 {
        self.shared.answered.load(Ordering::Relaxed)
    }

    /// Stops listening and closes every connection (the node stops being a real server).
    pub fn stop(mut self) {
        self.shut_down();
    }

    fn shut_down(&mut self) {
        self.shared.stopping.store(true, Ordering::SeqCst);
        if let Some(fd) = lock(&self.shared.listener_fd).take() {
            // On Linux, shutdown() of a listening socket wakes a blocked accept() (EINVAL);
            // the acceptor then drops (closes) the listener itself.
            // SAFETY: `fd` belongs to the listener the acceptor thread still owns: it closes
            // it only after this lock was taken and the fd removed.
            unsafe {
                libc::shutdown(fd, libc::SHUT_RDWR);
            }
        }
        for connection in lock(&self.shared.connections).drain(..) {
            let _ = connection.shutdown(Shutdown::Both);
        }
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
    }
}

impl Drop for Responder {
    fn drop(&mut self) {
        self.shut_down();
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

fn accept_loop(listener: TcpListener, shared: &Arc<Shared>, answer: &Arc<str>) {
    loop {
        let accepted = listener.accept();
        if shared.stopping.load(Ordering::SeqCst) {
            break;
        }
        let Ok((stream, _)) = accepted else {
            continue;
        };
        if let Ok(clone) = stream.try_clone() {
            let mut connections = lock(&shared.connections);
            // Forget connections that ended, so a long run does not pile them up.
            connections.retain(|connection| connection.peer_addr().is_ok());
            connections.push(clone);
        }
        let shared = Arc::clone(shared);
        let answer = Arc::clone(answer);
        let spawned = std::thread::Builder::new()
            .name("responder-conn".into())
            .stack_size(CONNECTION_STACK)
            .spawn(move || serve(stream, &shared, &answer));
        if spawned.is_err() {
            tracing::warn!("responder: no thread for a connection; it is dropped");
        }
    }
    // Hold the fd lock while the listener closes, so `shut_down` never touches a reused fd.
    let guard = lock(&shared.listener_fd);
    drop(listener);
    drop(guard);
}

/// `GET ...` gets the HTTP answer; anything else is echoed until the peer closes.
fn serve(mut stream: TcpStream, shared: &Shared, answer: &str) {
    let _ = stream.set_nodelay(true);
    // An idle long-lived connection may wait minutes between messages; a stuck one ends with
    // the responder.
    let _ = stream.set_read_timeout(Some(Duration::from_secs(600)));
    let mut buffer = [0u8; 4096];
    let Ok(first) = stream.read(&mut buffer) else {
        return;
    };
    if first == 0 {
        return;
    }
    if buffer[..first].starts_with(b"GET ") {
        // The request line is all we need; the rest of the header is not read.
        if stream.write_all(answer.as_bytes()).is_ok() {
            shared.answered.fetch_add(1, Ordering::Relaxed);
        }
        let _ = stream.shutdown(Shutdown::Write);
        return;
    }
    let mut pending = &buffer[..first];
    if let Some(rest) = pending.strip_prefix(HELLO) {
        let name = answer.rsplit("\r\n\r\n").next().unwrap_or_default();
        if stream.write_all(name.as_bytes()).is_err() {
            return;
        }
        pending = rest;
    }
    loop {
        if stream.write_all(pending).is_err() {
            return;
        }
        match stream.read(&mut buffer) {
            Ok(0) | Err(_) => return,
            Ok(read) => pending = &buffer[..read],
        }
    }
}

//! HTTP/1.1 over a unix socket, just enough for the admin API: one request per connection.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

use serde::de::DeserializeOwned;

/// Status code and body of an answer.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub body: String,
}

impl Answer {
    pub fn json<T: DeserializeOwned>(&self) -> T {
        serde_json::from_str(&self.body).unwrap_or_else(|e| {
            panic!(
                "answer {} is not the expected JSON ({e}): {}",
                self.status, self.body
            )
        })
    }
}

pub fn request(socket: &Path, method: &str, path: &str, body: &str) -> std::io::Result<Answer> {
    let mut stream = UnixStream::connect(socket)?;
    // Writes wait at most for the agent's forward timeout (10 s); this is well above it.
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: ssinetd\r\nConnection: close\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes())?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    let text = String::from_utf8(raw).map_err(std::io::Error::other)?;
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| std::io::Error::other(format!("no HTTP header end in {text:?}")))?;
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("bad status line in {head:?}")))?;
    if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        return Err(std::io::Error::other(
            "chunked answers are not expected from the admin API",
        ));
    }
    Ok(Answer {
        status,
        body: body.to_string(),
    })
}

/// GETs `path` and decodes a 200 answer; `None` when the agent is not up or answers otherwise.
pub fn get_json<T: DeserializeOwned>(socket: &Path, path: &str) -> Option<T> {
    let answer = request(socket, "GET", path, "").ok()?;
    (answer.status == 200).then(|| answer.json())
}

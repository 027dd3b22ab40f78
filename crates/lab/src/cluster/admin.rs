//! HTTP/1.1 over a unix socket, just enough for ssinetd's admin API: one request per
//! connection, no chunked answers (the agent never sends them).
use serde::de::DeserializeOwned;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

/// `GET` the director's IPVS table (services, destinations and their counters).
pub const IPVS: &str = "/v1/ipvs";

/// Status code and body of an answer.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub body: String,
}

impl Answer {
    /// Decodes the body as JSON.
    pub fn decode<T: DeserializeOwned>(&self) -> serde_json::Result<T> {
        serde_json::from_str(&self.body)
    }

    /// Decodes the body as JSON, panicking with the body when it is not `T`: a test's
    /// assertion that the agent answered what the API promises.
    pub fn json<T: DeserializeOwned>(&self) -> T {
        self.decode().unwrap_or_else(|error| {
            panic!(
                "answer {} is not the expected JSON ({error}): {}",
                self.status, self.body
            )
        })
    }
}

/// Sends one request and reads the whole answer.
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
    parse_answer(raw)
}

fn parse_answer(raw: Vec<u8>) -> std::io::Result<Answer> {
    let text = String::from_utf8(raw).map_err(std::io::Error::other)?;
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| std::io::Error::other(format!("no HTTP header end in {text:?}")))?;
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
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
        body: body.to_owned(),
    })
}

/// GETs `path` and decodes a 200 answer; `None` when the agent is not up or answers otherwise.
pub fn get_json<T: DeserializeOwned>(socket: &Path, path: &str) -> Option<T> {
    let answer = request(socket, "GET", path, "").ok()?;
    (answer.status == 200)
        .then(|| answer.decode().ok())
        .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_split_into_status_and_body() {
        let answer =
            parse_answer(b"HTTP/1.1 422 Unprocessable Entity\r\nA: b\r\n\r\n{\"x\":1}".to_vec())
                .unwrap();
        assert_eq!(answer.status, 422);
        assert_eq!(answer.json::<serde_json::Value>()["x"], 1);
        assert!(parse_answer(b"HTTP/1.1 200 OK\r\n".to_vec()).is_err());
        assert!(
            parse_answer(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec())
                .is_err()
        );
    }
}

//! Just enough HTTP/1.1 for the admin socket: one request per connection (`Connection: close`),
//! the response read to the end of the stream, bodies sized by Content-Length or chunked.

/// Largest response accepted; the state of a big cluster is well below this.
pub const MAX_RESPONSE_BYTES: usize = 64 << 20;

/// A parsed HTTP response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpResponse {
    pub status: u16,
    pub content_type: Option<String>,
    pub body: Vec<u8>,
}

/// Why a response could not be understood.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed HTTP response from the agent: {0}")]
pub struct HttpError(pub String);

fn malformed(what: impl Into<String>) -> HttpError {
    HttpError(what.into())
}

/// The bytes of a request; `body` is sent as JSON.
pub fn encode_request(method: &str, path: &str, body: Option<&[u8]>) -> Vec<u8> {
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\nUser-Agent: cvipctl/{}\r\nAccept: \
         application/json\r\nConnection: close\r\n",
        env!("CARGO_PKG_VERSION")
    );
    if let Some(body) = body {
        head.push_str(&format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n",
            body.len()
        ));
    }
    head.push_str("\r\n");
    let mut out = head.into_bytes();
    if let Some(body) = body {
        out.extend_from_slice(body);
    }
    out
}

/// Parses a complete response (everything the server sent before closing).
pub fn parse_response(bytes: &[u8]) -> Result<HttpResponse, HttpError> {
    let head_end = find(bytes, b"\r\n\r\n")
        .ok_or_else(|| malformed("the connection closed before the end of the headers"))?;
    let head = std::str::from_utf8(&bytes[..head_end])
        .map_err(|_| malformed("the headers are not UTF-8"))?;
    let rest = &bytes[head_end + 4..];
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let mut parts = status_line.splitn(3, ' ');
    let (version, code) = (parts.next().unwrap_or_default(), parts.next());
    if !version.starts_with("HTTP/1.") {
        return Err(malformed(format!("unexpected status line {status_line:?}")));
    }
    let status = code
        .and_then(|c| c.parse::<u16>().ok())
        .filter(|c| (100..600).contains(c))
        .ok_or_else(|| malformed(format!("unexpected status line {status_line:?}")))?;
    let (mut content_length, mut chunked, mut content_type) = (None, false, None);
    for line in lines {
        let (name, value) = line
            .split_once(':')
            .ok_or_else(|| malformed(format!("header line without a colon: {line:?}")))?;
        let value = value.trim();
        if name.eq_ignore_ascii_case("content-length") {
            content_length = Some(
                value
                    .parse::<usize>()
                    .map_err(|_| malformed(format!("bad Content-Length {value:?}")))?,
            );
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            chunked = value
                .rsplit(',')
                .next()
                .is_some_and(|v| v.trim().eq_ignore_ascii_case("chunked"));
        } else if name.eq_ignore_ascii_case("content-type") {
            content_type = Some(value.to_owned());
        }
    }
    let body = if chunked {
        dechunk(rest)?
    } else if let Some(length) = content_length {
        if rest.len() < length {
            return Err(malformed(format!(
                "the body ended after {} of {length} bytes",
                rest.len()
            )));
        }
        rest[..length].to_vec()
    } else {
        rest.to_vec()
    };
    Ok(HttpResponse {
        status,
        content_type,
        body,
    })
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Decodes a chunked body: `<hex size>[;ext]\r\n<data>\r\n` ... `0\r\n\r\n`.
fn dechunk(mut rest: &[u8]) -> Result<Vec<u8>, HttpError> {
    let mut body = Vec::new();
    loop {
        let line_end =
            find(rest, b"\r\n").ok_or_else(|| malformed("a chunk size line is cut off"))?;
        let line = std::str::from_utf8(&rest[..line_end])
            .map_err(|_| malformed("a chunk size line is not UTF-8"))?;
        let hex = line.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(hex, 16)
            .map_err(|_| malformed(format!("bad chunk size {hex:?}")))?;
        rest = &rest[line_end + 2..];
        if size == 0 {
            return Ok(body);
        }
        if rest.len() < size + 2 || &rest[size..size + 2] != b"\r\n" {
            return Err(malformed("a chunk is cut off"));
        }
        if body.len() + size > MAX_RESPONSE_BYTES {
            return Err(malformed("the body is larger than 64 MiB"));
        }
        body.extend_from_slice(&rest[..size]);
        rest = &rest[size + 2..];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_post_carries_its_json_body_and_asks_to_close() {
        let bytes = encode_request("POST", "/v1/commands", Some(b"{\"a\":1}"));
        let text = String::from_utf8(bytes).unwrap();
        assert!(text.starts_with("POST /v1/commands HTTP/1.1\r\nHost: localhost\r\n"));
        assert!(text.contains("\r\nConnection: close\r\n"));
        assert!(text.contains("\r\nContent-Length: 7\r\n"));
        assert!(text.ends_with("\r\n\r\n{\"a\":1}"));
        let get = String::from_utf8(encode_request("GET", "/v1/status", None)).unwrap();
        assert!(!get.contains("Content-Length"));
        assert!(get.ends_with("\r\n\r\n"));
    }

    #[test]
    fn content_length_bodies_are_cut_at_their_length() {
        let raw = b"HTTP/1.1 422 Unprocessable Entity\r\ncontent-type: application/json\r\n\
                    content-length: 2\r\n\r\n{}trailing";
        let response = parse_response(raw).unwrap();
        assert_eq!(response.status, 422);
        assert_eq!(response.content_type.as_deref(), Some("application/json"));
        assert_eq!(response.body, b"{}");
    }

    #[test]
    fn chunked_bodies_are_joined() {
        let raw =
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nWiki\r\n6;x=y\r\npedia \
                    \r\n0\r\n\r\n";
        assert_eq!(parse_response(raw).unwrap().body, b"Wikipedia ");
    }

    #[test]
    fn broken_responses_say_what_is_wrong() {
        let cut = parse_response(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc").unwrap_err();
        assert_eq!(cut.0, "the body ended after 3 of 10 bytes");
        let early = parse_response(b"HTTP/1.1 200 OK\r\nContent-Le").unwrap_err();
        assert_eq!(
            early.0,
            "the connection closed before the end of the headers"
        );
        let junk = parse_response(b"SSH-2.0-OpenSSH\r\n\r\n").unwrap_err();
        assert!(junk.0.starts_with("unexpected status line"), "{junk}");
    }
}

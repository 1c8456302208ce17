//! The oversized body over a plain TCP connection, reading while writing.
//!
//! A server that refuses a large body often answers 413 at once and closes
//! the connection without reading the rest; the client's next write then
//! meets a reset. An HTTP client that reads the answer only after sending
//! the whole body (as `reqwest` does) then sees a reset instead of the 413,
//! and a well-behaved server would fail the probe by chance. Here the answer
//! is read while the body is written, so it counts whenever it arrives. Used
//! for `http://` endpoints reached directly (no proxy); others go through
//! the provider's client.

use std::time::{Duration, Instant};

use bytes::Bytes;
use reqwest::header::HeaderMap;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// What came back: status, response headers (lowercase names) and the
/// start of the body; or why nothing did.
pub(super) struct RawAnswer {
    pub status: Option<u16>,
    pub headers: Headers,
    pub body: Vec<u8>,
    pub elapsed: Duration,
    pub error: Option<String>,
    pub unreachable: bool,
}

/// Send `head_headers` and a body of `pieces` (whose lengths sum to
/// `total`) to `url` with `method`, reading the answer meanwhile; at most
/// `body_max` bytes of the answer's body are kept. Bounded by `timeout`.
pub(super) async fn send(
    url: &reqwest::Url,
    method: &reqwest::Method,
    head_headers: &HeaderMap,
    pieces: impl Iterator<Item = Bytes>,
    total: u64,
    timeout: Duration,
    body_max: usize,
) -> RawAnswer {
    let start = Instant::now();
    let mut answer = RawAnswer {
        status: None,
        headers: Vec::new(),
        body: Vec::new(),
        elapsed: Duration::ZERO,
        error: None,
        unreachable: false,
    };
    let result = tokio::time::timeout(
        timeout,
        exchange(
            url,
            method,
            head_headers,
            pieces,
            total,
            body_max,
            &mut answer,
        ),
    )
    .await;
    answer.elapsed = start.elapsed();
    if result.is_err() && answer.status.is_none() {
        answer.error = Some(format!(
            "no response within {} (the probe's timeout)",
            crate::util::fmt::duration_ms(timeout.as_secs_f64() * 1000.0)
        ));
    }
    answer
}

async fn exchange(
    url: &reqwest::Url,
    method: &reqwest::Method,
    head_headers: &HeaderMap,
    pieces: impl Iterator<Item = Bytes>,
    total: u64,
    body_max: usize,
    answer: &mut RawAnswer,
) {
    let Some(host) = url.host_str() else {
        answer.error = Some("the URL has no host".into());
        answer.unreachable = true;
        return;
    };
    let port = url.port_or_known_default().unwrap_or(80);
    let connect_host = host.trim_start_matches('[').trim_end_matches(']');
    let stream = match tokio::net::TcpStream::connect((connect_host, port)).await {
        Ok(s) => s,
        Err(e) => {
            answer.error = Some(format!("cannot connect ({e})"));
            answer.unreachable = true;
            return;
        }
    };
    let _ = stream.set_nodelay(true);
    let (mut rd, mut wr) = stream.into_split();
    let mut head = format!(
        "{method} {}{} HTTP/1.1\r\nhost: {}\r\n",
        url.path(),
        url.query().map(|q| format!("?{q}")).unwrap_or_default(),
        match url.port() {
            Some(p) => format!("{host}:{p}"),
            None => host.to_string(),
        }
    )
    .into_bytes();
    for (name, value) in head_headers {
        if matches!(
            name.as_str(),
            "host" | "content-length" | "transfer-encoding" | "connection"
        ) {
            continue;
        }
        head.extend_from_slice(name.as_str().as_bytes());
        head.extend_from_slice(b": ");
        head.extend_from_slice(value.as_bytes());
        head.extend_from_slice(b"\r\n");
    }
    head.extend_from_slice(
        format!(
            "user-agent: evalgate-probe\r\ncontent-length: {total}\r\nconnection: close\r\n\r\n"
        )
        .as_bytes(),
    );
    let write = async move {
        wr.write_all(&head).await?;
        for piece in pieces {
            wr.write_all(&piece).await?;
        }
        wr.flush().await
    };
    tokio::pin!(write);
    let mut written: Option<std::io::Result<()>> = None;
    let mut buf: Vec<u8> = Vec::new();
    let mut chunk = vec![0u8; 16 << 10];
    loop {
        tokio::select! {
            r = &mut write, if written.is_none() => {
                written = Some(r);
            }
            n = rd.read(&mut chunk) => {
                match n {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        buf.extend_from_slice(&chunk[..n]);
                        if response_complete(&buf, body_max) {
                            break;
                        }
                    }
                }
            }
        }
    }
    match parse(&buf, body_max) {
        Some((status, headers, body)) => {
            answer.status = Some(status);
            answer.headers = headers;
            answer.body = body;
        }
        None => {
            let why = match written {
                Some(Err(e)) => format!(" (sending the body: {e})"),
                _ => String::new(),
            };
            answer.error = Some(format!("connection closed without a response{why}"));
        }
    }
}

/// The end of the head (after `\r\n\r\n`), if it came.
fn head_end(buf: &[u8]) -> Option<usize> {
    memchr::memmem::find(buf, b"\r\n\r\n").map(|i| i + 4)
}

/// Whether the whole answer (or `body_max` bytes of its body) is in `buf`.
fn response_complete(buf: &[u8], body_max: usize) -> bool {
    let Some(end) = head_end(buf) else {
        return false;
    };
    let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
    let length = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse::<usize>().ok());
    let have = buf.len() - end;
    match length {
        Some(n) => have >= n.min(body_max),
        // Chunked or until close: the last chunk, or enough of it.
        None => have >= body_max || buf.ends_with(b"0\r\n\r\n"),
    }
}

/// Response headers: lowercase names and their values.
type Headers = Vec<(String, String)>;

/// Status, headers and body (de-chunked, at most `body_max` bytes).
fn parse(buf: &[u8], body_max: usize) -> Option<(u16, Headers, Vec<u8>)> {
    let end = head_end(buf)?;
    let head = String::from_utf8_lossy(&buf[..end]);
    let mut lines = head.split("\r\n");
    let status_line = lines.next()?;
    let mut parts = status_line.split_whitespace();
    if !parts.next()?.starts_with("HTTP/") {
        return None;
    }
    let status: u16 = parts.next()?.parse().ok()?;
    let headers: Headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let raw = &buf[end..];
    let chunked = headers
        .iter()
        .any(|(n, v)| n == "transfer-encoding" && v.to_ascii_lowercase().contains("chunked"));
    let mut body = if chunked { dechunk(raw) } else { raw.to_vec() };
    body.truncate(body_max);
    Some((status, headers, body))
}

/// A chunked body's data, as far as it came.
fn dechunk(mut raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(eol) = memchr::memmem::find(raw, b"\r\n") {
        let size_text = String::from_utf8_lossy(&raw[..eol]);
        let Ok(size) = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)
        else {
            break;
        };
        if size == 0 {
            break;
        }
        let data = &raw[eol + 2..];
        let take = size.min(data.len());
        out.extend_from_slice(&data[..take]);
        if take < size || data.len() < size + 2 {
            break;
        }
        raw = &data[size + 2..];
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_parsed_whole_or_chunked() {
        let plain = b"HTTP/1.1 413 Payload Too Large\r\nContent-Type: application/json\r\nContent-Length: 4\r\n\r\n{}xx";
        assert!(response_complete(plain, 100));
        let (status, headers, body) = parse(plain, 100).unwrap();
        assert_eq!(status, 413);
        assert_eq!(
            headers[0],
            ("content-type".into(), "application/json".into())
        );
        assert_eq!(body, b"{}xx");
        let chunked = b"HTTP/1.1 400 Bad Request\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n";
        assert!(response_complete(chunked, 100));
        assert_eq!(parse(chunked, 100).unwrap().2, b"abcde");
        assert!(!response_complete(
            b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc",
            100
        ));
        assert!(parse(b"garbage\r\n\r\n", 10).is_none());
    }
}

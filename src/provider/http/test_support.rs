//! Helpers for the provider tests.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::provider::{Message, Request};

pub(crate) fn request(messages: &[(&str, &str)]) -> Request {
    Request {
        suite: "s".into(),
        case_id: "c".into(),
        repeat: 1,
        messages: messages
            .iter()
            .map(|(role, content)| Message::new(role.to_string(), content.to_string()))
            .collect(),
        timeout: Duration::from_secs(5),
        vars: serde_json::json!({}),
        call: std::borrow::Cow::Borrowed(crate::provider::ANSWER),
        format: crate::provider::Format::Text,
        observer: None,
    }
}

/// A secret with characters a URL percent-encodes.
pub(crate) const SPACED_SECRET: &str = "sig with spaces \"quoted\" 8Jw3Qp";

/// `secret` as it appears percent-encoded in a query.
pub(crate) fn encoded(secret: &str) -> String {
    let url = reqwest::Url::parse(&format!("http://x/?s={secret}")).unwrap();
    let enc = url.query().unwrap().trim_start_matches("s=").to_string();
    assert_ne!(enc, secret);
    enc
}

/// An address on 127.0.0.1 where nothing listens (bound, then released).
pub(crate) fn free_port() -> std::net::SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap()
}

/// A server on 127.0.0.1 that answers one request with a 200 chunked
/// response of content type `content_type` carrying `partial` as one
/// chunk, then closes the connection without the final chunk.
pub(crate) async fn dropping_server(content_type: &'static str, partial: &'static str) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let (mut sock, _) = listener.accept().await.unwrap();
        // Read the request head and its body (Content-Length).
        let mut buf = Vec::new();
        let mut chunk = [0u8; 4096];
        let head_end = loop {
            let n = sock.read(&mut chunk).await.unwrap();
            if n == 0 {
                return;
            }
            buf.extend_from_slice(&chunk[..n]);
            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
        let len: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .map(|v| v.trim().parse().unwrap())
            .unwrap_or(0);
        while buf.len() < head_end + len {
            let n = sock.read(&mut chunk).await.unwrap();
            if n == 0 {
                break;
            }
            buf.extend_from_slice(&chunk[..n]);
        }
        let response = format!(
            "HTTP/1.1 200 OK\r\ncontent-type: {content_type}\r\ntransfer-encoding: chunked\r\n\r\n{:x}\r\n{partial}\r\n",
            partial.len()
        );
        sock.write_all(response.as_bytes()).await.unwrap();
        sock.flush().await.unwrap();
        tokio::time::sleep(Duration::from_millis(20)).await;
        // Dropping the socket closes the connection mid-body.
    });
    format!("http://{addr}")
}

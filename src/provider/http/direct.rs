//! The lean client of a chat endpoint reached over plain `http://` with no
//! proxy in the way (a model server on this machine or the local network,
//! `serve-mock`): hyper's HTTP/1.1 connection API with a pool of its own,
//! instead of `reqwest`'s general client (its URL parsing, redirect and retry
//! layers cost more per request than a local server takes to answer).
//!
//! Every connection's socket is wrapped so that the request's first byte
//! written and each read of the answer are stamped as the bytes move
//! ([`Stamps`]): the latency reported is the time on the wire, not the time
//! until the run got round to looking, which matters when many requests are
//! in flight on a busy machine.
//!
//! What this client does not do is left to `reqwest`: TLS, proxies and
//! redirects. An answer with a redirect status is returned to the caller,
//! which sends the request again through `reqwest` (same-origin redirects
//! only, as configured there). A pooled connection the server closed while
//! idle is replaced before the request is written; a request is never sent
//! twice.

use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::client::conn::http1::SendRequest;
use reqwest::header::{HeaderMap, HeaderValue, ACCEPT, HOST, USER_AGENT};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

use crate::config::provider::Limits;

/// When the bytes of one connection moved: the first write of the request
/// in flight, and the last read. HTTP/1.1 sends one request at a time on a
/// connection, so after an answer's headers or body arrived these belong to
/// that request.
#[derive(Debug)]
pub(crate) struct Stamps {
    base: Instant,
    /// Nanoseconds after `base`.
    first_write: AtomicU64,
    last_read: AtomicU64,
    /// A write happened since the last read (the next write is not a first).
    writing: AtomicBool,
}

impl Stamps {
    fn new() -> Self {
        Stamps {
            base: Instant::now(),
            first_write: AtomicU64::new(0),
            last_read: AtomicU64::new(0),
            writing: AtomicBool::new(false),
        }
    }

    fn now(&self) -> u64 {
        u64::try_from(self.base.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }

    fn at(&self, nanos: u64) -> Instant {
        self.base + Duration::from_nanos(nanos)
    }

    /// When the request in flight began to be written.
    pub(crate) fn first_write(&self) -> Instant {
        self.at(self.first_write.load(Ordering::Acquire))
    }

    /// When bytes were last read from the socket.
    pub(crate) fn last_read(&self) -> Instant {
        self.at(self.last_read.load(Ordering::Acquire))
    }
}

/// A socket that stamps its reads and the first write of each request.
struct Stamped {
    io: TcpStream,
    stamps: Arc<Stamps>,
}

impl Stamped {
    fn wrote(&self, n: usize) {
        if n > 0 && !self.stamps.writing.swap(true, Ordering::AcqRel) {
            self.stamps
                .first_write
                .store(self.stamps.now(), Ordering::Release);
        }
    }
}

impl AsyncRead for Stamped {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.io).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.stamps
                .last_read
                .store(self.stamps.now(), Ordering::Release);
            self.stamps.writing.store(false, Ordering::Release);
        }
        polled
    }
}

impl AsyncWrite for Stamped {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let polled = Pin::new(&mut self.io).poll_write(cx, buf);
        if let Poll::Ready(Ok(n)) = polled {
            self.wrote(n);
        }
        polled
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let polled = Pin::new(&mut self.io).poll_write_vectored(cx, bufs);
        if let Poll::Ready(Ok(n)) = polled {
            self.wrote(n);
        }
        polled
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

/// One open connection.
struct Conn {
    sender: SendRequest<Full<Bytes>>,
    stamps: Arc<Stamps>,
}

/// Idle connections of one endpoint.
#[derive(Default)]
struct Pool {
    idle: Mutex<Vec<Conn>>,
}

impl Pool {
    fn take(&self) -> Option<Conn> {
        self.idle.lock().ok()?.pop()
    }

    fn give(&self, conn: Conn, max: usize) {
        if conn.sender.is_closed() {
            return;
        }
        if let Ok(mut idle) = self.idle.lock() {
            if idle.len() < max {
                idle.push(conn);
            }
        }
    }
}

/// A transport failure of either client (sending, or reading a body), as a
/// message naming what failed (no URL: the caller adds the one configured).
#[derive(Debug)]
pub(crate) struct Failure {
    pub message: String,
    pub timeout: bool,
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl Failure {
    fn connect(e: &std::io::Error) -> Self {
        Failure {
            message: format!(
                "error sending request: client error (Connect): tcp connect error: {e}"
            ),
            timeout: false,
        }
    }

    fn send(e: &hyper::Error) -> Self {
        Failure {
            message: format!(
                "error sending request: client error (SendRequest): {}",
                crate::provider::http::transport::error_chain(e)
            ),
            timeout: e.is_timeout(),
        }
    }
}

/// Where one chat endpoint is, and its pool.
pub(crate) struct Direct {
    /// `host:port` to connect to (an IPv6 address in brackets).
    connect_to: String,
    /// The request target: the path and query.
    uri: hyper::Uri,
    /// The `Host` header.
    host: HeaderValue,
    connect_timeout: Duration,
    read_timeout: Duration,
    pool: Arc<Pool>,
    max_idle: usize,
}

impl Direct {
    /// The direct client for `url`, or `None` when `reqwest` must carry the
    /// requests: https, or a proxy in effect for it (read from the
    /// environment as `reqwest` reads it).
    pub(crate) fn for_url(url: &reqwest::Url, limits: &Limits) -> Option<Direct> {
        if url.scheme() != "http" || !url.username().is_empty() || url.password().is_some() {
            return None;
        }
        if super::transport::proxy_for(url.as_str(), |n| std::env::var(n).ok()).is_some() {
            return None;
        }
        let port = url.port_or_known_default()?;
        let host = url.host_str().filter(|h| !h.is_empty())?;
        let connect_to = format!("{host}:{port}");
        let authority = match url.port() {
            Some(p) => format!("{host}:{p}"),
            None => host.to_string(),
        };
        let target = match url.query() {
            Some(q) => format!("{}?{q}", url.path()),
            None => url.path().to_string(),
        };
        Some(Direct {
            connect_to,
            uri: target.parse().ok()?,
            host: HeaderValue::from_str(&authority).ok()?,
            connect_timeout: limits.connect_timeout,
            read_timeout: limits.read_timeout,
            pool: Arc::default(),
            max_idle: limits.max_concurrency.unwrap_or(0).max(64),
        })
    }

    /// A new connection: its sender and how long opening it took.
    async fn connect(&self) -> Result<(Conn, f64), Failure> {
        let start = Instant::now();
        let stream =
            match tokio::time::timeout(self.connect_timeout, TcpStream::connect(&self.connect_to))
                .await
            {
                Ok(Ok(s)) => s,
                Ok(Err(e)) => return Err(Failure::connect(&e)),
                Err(_) => {
                    return Err(Failure {
                        message:
                            "error sending request: client error (Connect): operation timed out"
                                .to_string(),
                        timeout: true,
                    })
                }
            };
        let _ = stream.set_nodelay(true);
        let stamps = Arc::new(Stamps::new());
        let io = hyper_util::rt::TokioIo::new(Stamped {
            io: stream,
            stamps: stamps.clone(),
        });
        let (sender, connection) = hyper::client::conn::http1::Builder::new()
            .handshake(io)
            .await
            .map_err(|e| Failure::send(&e))?;
        tokio::spawn(async move {
            // Its errors reach the request being sent.
            let _ = connection.await;
        });
        let connect_ms = start.elapsed().as_secs_f64() * 1000.0;
        Ok((Conn { sender, stamps }, connect_ms))
    }

    /// POST `body` with `headers`: the answer's head, its body still to
    /// read, and the connect time when a new connection was opened.
    pub(crate) async fn post(
        &self,
        headers: &HeaderMap,
        body: Bytes,
    ) -> Result<(Response, Option<f64>), Failure> {
        let mut req = hyper::Request::new(Full::new(body));
        *req.method_mut() = hyper::Method::POST;
        *req.uri_mut() = self.uri.clone();
        let h = req.headers_mut();
        h.reserve(headers.len() + 3);
        h.insert(HOST, self.host.clone());
        for (name, value) in headers {
            h.append(name, value.clone());
        }
        if !h.contains_key(USER_AGENT) {
            h.insert(
                USER_AGENT,
                HeaderValue::from_static(super::transport::USER_AGENT),
            );
        }
        if !h.contains_key(ACCEPT) {
            h.insert(ACCEPT, HeaderValue::from_static("*/*"));
        }
        let mut req = Some(req);
        // Pooled connections first; one the server closed while idle gives
        // the request back unsent, and the next one is tried.
        while let Some(mut conn) = self.pool.take() {
            if conn.sender.ready().await.is_err() {
                continue;
            }
            let Some(r) = req.take() else { break };
            match self.until_headers(conn.sender.try_send_request(r)).await? {
                Ok(resp) => return Ok((self.answer(resp, conn), None)),
                Err(mut e) => match e.take_message() {
                    Some(back) => req = Some(back),
                    None => return Err(Failure::send(e.error())),
                },
            }
        }
        let Some(req) = req else {
            return Err(Failure {
                message: "error sending request: the request was lost".to_string(),
                timeout: false,
            });
        };
        let (mut conn, connect_ms) = self.connect().await?;
        match self.until_headers(conn.sender.send_request(req)).await? {
            Ok(resp) => Ok((self.answer(resp, conn), Some(connect_ms))),
            Err(e) => Err(Failure::send(&e)),
        }
    }

    /// Wait for an answer's headers at most the read timeout (the longest
    /// silence allowed, as `reqwest` applies it).
    async fn until_headers<T>(
        &self,
        sent: impl std::future::Future<Output = T>,
    ) -> Result<T, Failure> {
        tokio::time::timeout(self.read_timeout, sent)
            .await
            .map_err(|_| Failure {
                message: "error sending request: client error (SendRequest): operation timed out"
                    .to_string(),
                timeout: true,
            })
    }

    fn answer(&self, resp: hyper::Response<Incoming>, conn: Conn) -> Response {
        let (head, body) = resp.into_parts();
        Response {
            status: head.status,
            headers: head.headers,
            stamps: conn.stamps.clone(),
            body,
            conn: Some(conn),
            pool: self.pool.clone(),
            max_idle: self.max_idle,
            read_timeout: self.read_timeout,
        }
    }
}

/// An answer of the direct client: its head, and its body read chunk by
/// chunk. The connection goes back to the pool once the body has been read
/// to its end; an answer dropped before that closes it.
pub(crate) struct Response {
    pub status: reqwest::StatusCode,
    pub headers: HeaderMap,
    pub stamps: Arc<Stamps>,
    body: Incoming,
    conn: Option<Conn>,
    pool: Arc<Pool>,
    max_idle: usize,
    read_timeout: Duration,
}

impl Response {
    /// The body's length, when the server announced it.
    pub(crate) fn content_length(&self) -> Option<u64> {
        hyper::body::Body::size_hint(&self.body).exact()
    }

    /// The next chunk of the body; `None` at its end. Waiting longer than
    /// the read timeout for a chunk is an error.
    pub(crate) async fn chunk(&mut self) -> Result<Option<Bytes>, Failure> {
        loop {
            let frame = match tokio::time::timeout(self.read_timeout, self.body.frame()).await {
                Ok(f) => f,
                Err(_) => {
                    return Err(Failure {
                        message: "error decoding response body: operation timed out".to_string(),
                        timeout: true,
                    })
                }
            };
            match frame {
                None => {
                    if let Some(conn) = self.conn.take() {
                        self.pool.give(conn, self.max_idle);
                    }
                    return Ok(None);
                }
                Some(Ok(frame)) => match frame.into_data() {
                    Ok(data) if data.is_empty() => {}
                    Ok(data) => return Ok(Some(data)),
                    // Trailers: nothing evalgate reads.
                    Err(_) => {}
                },
                Some(Err(e)) => {
                    return Err(Failure {
                        message: format!(
                            "error decoding response body: {}",
                            crate::provider::http::transport::error_chain(&e)
                        ),
                        timeout: e.is_timeout(),
                    })
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wiremock::matchers::method;
    use wiremock::{Mock, MockServer, ResponseTemplate};

    fn limits() -> Limits {
        Limits {
            connect_timeout: Duration::from_secs(5),
            read_timeout: Duration::from_secs(5),
            ..Limits::default()
        }
    }

    async fn read_all(resp: &mut Response) -> Vec<u8> {
        let mut out = Vec::new();
        while let Some(c) = resp.chunk().await.unwrap() {
            out.extend_from_slice(&c);
        }
        out
    }

    #[tokio::test]
    async fn stamps_span_the_time_on_the_wire_and_connections_are_reused() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(
                ResponseTemplate::new(200)
                    .set_body_string("answer")
                    .set_delay(Duration::from_millis(40)),
            )
            .mount(&server)
            .await;
        let url = reqwest::Url::parse(&format!("{}/v1/chat?x=1", server.uri())).unwrap();
        let direct = Direct::for_url(&url, &limits()).unwrap();
        for i in 0..3 {
            let before = Instant::now();
            let (mut resp, connect_ms) = direct
                .post(&HeaderMap::new(), Bytes::from_static(b"{}"))
                .await
                .unwrap();
            assert_eq!(connect_ms.is_some(), i == 0, "request {i}");
            assert_eq!(read_all(&mut resp).await, b"answer");
            let start = resp.stamps.first_write();
            let end = resp.stamps.last_read();
            assert!(start >= before, "request {i}");
            let ms = end.saturating_duration_since(start).as_secs_f64() * 1000.0;
            assert!(ms >= 40.0, "request {i}: {ms} ms");
        }
        let got = server.received_requests().await.unwrap();
        assert_eq!(got.len(), 3);
        assert_eq!(got[0].url.path(), "/v1/chat");
        assert_eq!(got[0].url.query(), Some("x=1"));
        assert!(got[0].headers.get("user-agent").is_some());
    }

    /// A server on 127.0.0.1 that answers each connection's first request
    /// with `answer` bytes, then waits `linger` and closes it.
    async fn raw_server(answer: &'static [u8], linger: Duration) -> (String, Arc<AtomicU64>) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let accepted = Arc::new(AtomicU64::new(0));
        let count = accepted.clone();
        tokio::spawn(async move {
            while let Ok((mut sock, _)) = listener.accept().await {
                count.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 4096];
                    let mut got = Vec::new();
                    while !got.windows(4).any(|w| w == b"\r\n\r\n") {
                        match sock.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => got.extend_from_slice(&buf[..n]),
                        }
                    }
                    let _ = sock.write_all(answer).await;
                    tokio::time::sleep(linger).await;
                });
            }
        });
        (format!("http://{addr}/v1"), accepted)
    }

    #[tokio::test]
    async fn a_pooled_connection_the_server_closed_is_replaced_before_sending() {
        let (url, accepted) = raw_server(
            b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok",
            Duration::from_millis(10),
        )
        .await;
        let direct = Direct::for_url(&reqwest::Url::parse(&url).unwrap(), &limits()).unwrap();
        for _ in 0..3 {
            let (mut resp, _) = direct
                .post(&HeaderMap::new(), Bytes::from_static(b"{}"))
                .await
                .unwrap();
            assert_eq!(read_all(&mut resp).await, b"ok");
            // The server closes its side while the connection is idle.
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(accepted.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn a_stalled_body_times_out_and_a_refused_connection_says_so() {
        let (url, _) = raw_server(
            b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nab",
            Duration::from_secs(5),
        )
        .await;
        let quick = Limits {
            read_timeout: Duration::from_millis(200),
            ..limits()
        };
        let direct = Direct::for_url(&reqwest::Url::parse(&url).unwrap(), &quick).unwrap();
        let (mut resp, _) = direct
            .post(&HeaderMap::new(), Bytes::from_static(b"{}"))
            .await
            .unwrap();
        assert_eq!(&resp.chunk().await.unwrap().unwrap()[..], b"ab");
        let err = resp.chunk().await.unwrap_err();
        assert!(err.timeout, "{err:?}");

        // A server that never answers: the read timeout holds until the headers too.
        let (url, _) = raw_server(b"", Duration::from_secs(5)).await;
        let direct = Direct::for_url(&reqwest::Url::parse(&url).unwrap(), &quick).unwrap();
        let err = direct
            .post(&HeaderMap::new(), Bytes::from_static(b"{}"))
            .await
            .err()
            .unwrap();
        assert!(err.timeout, "{err:?}");

        // A port nobody listens on.
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let url = reqwest::Url::parse(&format!("http://127.0.0.1:{port}/v1")).unwrap();
        let direct = Direct::for_url(&url, &limits()).unwrap();
        let err = direct
            .post(&HeaderMap::new(), Bytes::from_static(b"{}"))
            .await
            .err()
            .unwrap();
        assert!(
            err.message.starts_with(
                "error sending request: client error (Connect): tcp connect error: Connection refused"
            ),
            "{}",
            err.message
        );
    }

    #[test]
    fn only_plain_http_without_credentials_in_the_url_goes_direct() {
        let direct = |u: &str| Direct::for_url(&reqwest::Url::parse(u).unwrap(), &limits());
        assert!(direct("http://127.0.0.1:8000/v1/chat/completions").is_some());
        assert!(direct("http://localhost/v1?api-version=1").is_some());
        assert!(direct("http://[::1]:9/v1").is_some());
        assert!(direct("https://127.0.0.1:8000/v1").is_none());
        assert!(direct("http://user:pw@127.0.0.1:8000/v1").is_none());
        let d = direct("http://localhost/v1/x?api-version=1").unwrap();
        assert_eq!(d.uri.to_string(), "/v1/x?api-version=1");
        assert_eq!(d.host, "localhost");
        assert_eq!(d.connect_to, "localhost:80");
    }
}

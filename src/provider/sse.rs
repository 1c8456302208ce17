//! Server-sent events over an HTTP answer, for the streaming providers.
//!
//! [`SseReader::next_event`] yields each event's name (`message` when the
//! server gave none) and data, with its arrival time in milliseconds since
//! the request started. The end of the body is `Ok(None)`: whether that is a
//! proper end (a `[DONE]` payload, a `message_stop` event) is for the caller
//! to decide. A connection lost mid-stream or invalid UTF-8 is a
//! [`ProviderError::Stream`] (retryable); a stream larger than
//! [`MAX_STREAM_BYTES`] is a [`ProviderError::Provider`].
//!
//! The parser follows the HTML specification's event stream format: lines
//! end with LF, CR or CRLF (a CRLF may be split across chunks); a leading
//! byte order mark is skipped; `:` lines are comments; `event:` names the
//! event; `data:` lines are joined with `\n` (one space after the colon is
//! stripped); `id:`, `retry:` and unknown fields are ignored; a blank line
//! dispatches the event (none without a `data` line). A body that ends
//! cleanly without the final blank line still delivers its last event.
//! Only bytes not yet searched are scanned for line ends, so a long event
//! arriving in many chunks costs time linear in its size.

use std::time::Instant;

use super::http::response::HttpResponse;
use super::http::transport::ms_between;
use super::ProviderError;

/// Largest event stream read (bytes over the whole response).
pub(crate) const MAX_STREAM_BYTES: u64 = 64 << 20;

/// One server-sent event.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct SseEvent {
    /// The `event:` name; `message` when the server gave none.
    pub event: String,
    /// The `data:` lines joined with `\n`.
    pub data: String,
    /// Arrival time in milliseconds since the request started.
    pub at_ms: f64,
    /// When the server stamped the event with its send time (a
    /// `: sent_us=MICROS` comment, as `serve-mock --stamp-events` writes):
    /// the milliseconds from that send to this event being parsed here.
    pub delay_ms: Option<f64>,
}

/// Reads the events of one response.
pub(crate) struct SseReader {
    resp: HttpResponse,
    parser: Parser,
    /// The body ended cleanly.
    ended: bool,
    /// Bytes read so far, and the most allowed ([`MAX_STREAM_BYTES`]).
    total: u64,
    limit: u64,
    /// The bytes read, in the run-wide response memory budget.
    held: super::http::transport::Held,
    start: Instant,
    /// When the bytes being parsed arrived, in milliseconds since `start`.
    arrived_ms: f64,
    received: usize,
}

impl SseReader {
    /// `start` is when the request was sent; arrival times are relative to it.
    pub(crate) fn new(resp: HttpResponse, start: Instant) -> Self {
        SseReader {
            resp,
            parser: Parser::default(),
            ended: false,
            total: 0,
            limit: MAX_STREAM_BYTES,
            held: super::http::transport::Held::default(),
            start,
            arrived_ms: 0.0,
            received: 0,
        }
    }

    /// The next event; `Ok(None)` when the body ended.
    pub(crate) async fn next_event(&mut self) -> Result<Option<SseEvent>, ProviderError> {
        loop {
            match self.parser.next_event(self.ended) {
                Ok(Some((event, data))) => {
                    self.received += 1;
                    let delay_ms = self.parser.dispatched_stamp.take().map(|sent| {
                        let now = std::time::SystemTime::now()
                            .duration_since(std::time::UNIX_EPOCH)
                            .map_or(0, |d| d.as_micros() as u64);
                        now.saturating_sub(sent) as f64 / 1000.0
                    });
                    return Ok(Some(SseEvent {
                        event,
                        data,
                        at_ms: self.arrived_ms,
                        delay_ms,
                    }));
                }
                Ok(None) if self.ended => return Ok(None),
                Ok(None) => {}
                Err(e) => {
                    return Err(ProviderError::Stream(format!(
                        "invalid UTF-8 in the event stream after {} events: {e}",
                        self.received
                    )))
                }
            }
            match self.resp.chunk().await {
                Ok(Some(chunk)) => {
                    self.arrived_ms = ms_between(self.start, self.resp.arrived());
                    self.total = self.total.saturating_add(chunk.len() as u64);
                    if self.total > self.limit {
                        return Err(ProviderError::Provider(format!(
                            "event stream larger than {} MiB",
                            self.limit >> 20
                        )));
                    }
                    self.held.grow(chunk.len() as u64)?;
                    self.parser.push(&chunk);
                }
                Ok(None) => self.ended = true,
                Err(e) => {
                    return Err(ProviderError::Stream(format!(
                        "connection lost after {} events: {e}",
                        self.received,
                    )))
                }
            }
        }
    }

    /// When the bytes of the last event arrived, in milliseconds since the
    /// request was sent.
    pub(crate) fn arrived_ms(&self) -> f64 {
        self.arrived_ms
    }

    /// Events read so far.
    pub(crate) fn events_received(&self) -> usize {
        self.received
    }
}

const BOM: &[u8] = b"\xEF\xBB\xBF";

/// An incremental event stream parser: bytes in with [`Parser::push`],
/// events out with [`Parser::next_event`].
#[derive(Default)]
struct Parser {
    /// Received bytes; those before `pos` are consumed.
    buf: Vec<u8>,
    pos: usize,
    /// `buf[pos..scan]` holds no line end: the next search starts at `scan`.
    scan: usize,
    /// The last line ended with a CR that was the last byte received: a LF
    /// starting the next chunk belongs to it (a split CRLF).
    skip_lf: bool,
    /// The start of the stream was checked for a byte order mark.
    bom_checked: bool,
    /// The event being built: its `event:` name and `data:` lines, each
    /// followed by `\n`.
    event: String,
    data: String,
    /// A `: sent_us=` stamp of the event being built, and of the last one
    /// dispatched.
    stamp: Option<u64>,
    dispatched_stamp: Option<u64>,
}

impl Parser {
    /// Add received bytes.
    fn push(&mut self, chunk: &[u8]) {
        if self.pos > 0 {
            // Only an incomplete line is left: cheap to move.
            self.buf.drain(..self.pos);
            self.scan = self.scan.saturating_sub(self.pos);
            self.pos = 0;
        }
        self.buf.extend_from_slice(chunk);
    }

    /// The next complete event (name, data) from the bytes received; with
    /// `eof` (the body ended), a last incomplete line and event count as
    /// complete. `Ok(None)` when more bytes are needed (or, with `eof`, when
    /// no event is left).
    fn next_event(&mut self, eof: bool) -> Result<Option<(String, String)>, std::str::Utf8Error> {
        loop {
            let Some(line) = self.next_line(eof) else {
                return Ok(if eof { self.dispatch() } else { None });
            };
            let line = &self.buf[line];
            if line.is_empty() {
                match self.dispatch() {
                    Some(event) => return Ok(Some(event)),
                    None => continue,
                }
            }
            if line[0] == b':' {
                if let Some(us) = line
                    .strip_prefix(b": sent_us=")
                    .and_then(|v| std::str::from_utf8(v).ok())
                    .and_then(|v| v.trim().parse::<u64>().ok())
                {
                    self.stamp = Some(us);
                }
                continue;
            }
            let line = std::str::from_utf8(line)?;
            let (field, value) = match line.split_once(':') {
                Some((field, value)) => (field, value.strip_prefix(' ').unwrap_or(value)),
                None => (line, ""),
            };
            match field {
                "event" => {
                    self.event.clear();
                    self.event.push_str(value);
                }
                "data" => {
                    self.data.push_str(value);
                    self.data.push('\n');
                }
                // `id`, `retry` and unknown fields: nothing to keep.
                _ => {}
            }
        }
    }

    /// The event built so far, if it has data; the builder is reset either way.
    fn dispatch(&mut self) -> Option<(String, String)> {
        self.dispatched_stamp = self.stamp.take();
        let mut event = std::mem::take(&mut self.event);
        let mut data = std::mem::take(&mut self.data);
        if data.is_empty() {
            return None;
        }
        data.pop();
        if event.is_empty() {
            event.push_str("message");
        }
        Some((event, data))
    }

    /// The range in `buf` of the next complete line, without its line end.
    fn next_line(&mut self, eof: bool) -> Option<std::ops::Range<usize>> {
        if !self.bom_checked {
            let rest = &self.buf[self.pos..];
            if !eof && rest.len() < BOM.len() && BOM.starts_with(rest) {
                return None;
            }
            if rest.starts_with(BOM) {
                self.pos += BOM.len();
            }
            self.bom_checked = true;
        }
        if self.skip_lf {
            match self.buf.get(self.pos) {
                None if !eof => return None,
                Some(b'\n') => self.pos += 1,
                _ => {}
            }
            self.skip_lf = false;
        }
        let start = self.pos;
        let from = self.scan.max(start);
        match memchr::memchr2(b'\n', b'\r', &self.buf[from..]) {
            Some(i) => {
                let end = from + i;
                let mut next = end + 1;
                if self.buf[end] == b'\r' {
                    match self.buf.get(next) {
                        Some(b'\n') => next += 1,
                        Some(_) => {}
                        None => self.skip_lf = true,
                    }
                }
                self.pos = next;
                self.scan = next;
                Some(start..end)
            }
            None => {
                self.scan = self.buf.len();
                if eof && start < self.buf.len() {
                    self.pos = self.buf.len();
                    Some(start..self.buf.len())
                } else {
                    None
                }
            }
        }
    }
}

/// ` (received N characters of text)` for messages about a stream cut short.
pub(crate) fn received(text: &str) -> String {
    if text.is_empty() {
        " (no text received)".to_string()
    } else {
        format!(" (received {} characters of text)", text.chars().count())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provider::http::test_support::dropping_server;
    use wiremock::{Mock, MockServer, ResponseTemplate};

    async fn get(url: &str) -> (reqwest::Response, Instant) {
        let start = Instant::now();
        let resp = reqwest::Client::new().post(url).send().await.unwrap();
        (resp, start)
    }

    #[tokio::test]
    async fn reads_named_and_unnamed_events_with_arrival_times() {
        let server = MockServer::start().await;
        let body = ": comment\n\n\
                    event: message_start\r\ndata: {\"a\":1}\r\n\r\n\
                    data: line1\ndata: line2\n\n\
                    data: [DONE]\n\n";
        Mock::given(wiremock::matchers::any())
            .respond_with(ResponseTemplate::new(200).set_body_raw(body, "text/event-stream"))
            .mount(&server)
            .await;
        let (resp, start) = get(&server.uri()).await;
        let mut r = SseReader::new(resp.into(), start);
        let e1 = r.next_event().await.unwrap().unwrap();
        assert_eq!(
            (e1.event.as_str(), e1.data.as_str()),
            ("message_start", "{\"a\":1}")
        );
        assert!(e1.at_ms >= 0.0);
        let e2 = r.next_event().await.unwrap().unwrap();
        assert_eq!(
            (e2.event.as_str(), e2.data.as_str()),
            ("message", "line1\nline2")
        );
        let e3 = r.next_event().await.unwrap().unwrap();
        assert_eq!(e3.data, "[DONE]");
        assert!(e3.at_ms >= e1.at_ms);
        assert_eq!(r.next_event().await.unwrap(), None);
        assert_eq!(r.events_received(), 3);
    }

    #[tokio::test]
    async fn a_last_event_without_a_blank_line_is_delivered() {
        let server = MockServer::start().await;
        Mock::given(wiremock::matchers::any())
            .respond_with(
                ResponseTemplate::new(200)
                    .set_body_raw("data: one\n\ndata: [DONE]", "text/event-stream"),
            )
            .mount(&server)
            .await;
        let (resp, start) = get(&server.uri()).await;
        let mut r = SseReader::new(resp.into(), start);
        assert_eq!(r.next_event().await.unwrap().unwrap().data, "one");
        assert_eq!(r.next_event().await.unwrap().unwrap().data, "[DONE]");
        assert_eq!(r.next_event().await.unwrap(), None);
    }

    /// The events of a stream received as `chunks`, read as they become
    /// complete, then at the end of the body; or the first error.
    fn parse(chunks: &[&[u8]]) -> Result<Vec<(String, String)>, std::str::Utf8Error> {
        let mut p = Parser::default();
        let mut events = Vec::new();
        for chunk in chunks {
            p.push(chunk);
            while let Some(e) = p.next_event(false)? {
                events.push(e);
            }
        }
        while let Some(e) = p.next_event(true)? {
            events.push(e);
        }
        Ok(events)
    }

    /// [`parse`] of `body` in one chunk, checked to give the same events
    /// however it is split: in two at every position, and byte by byte.
    fn parse_split(body: &[u8]) -> Vec<(String, String)> {
        let whole = parse(&[body]).unwrap();
        for i in 0..=body.len() {
            let (a, b) = body.split_at(i);
            assert_eq!(parse(&[a, b]).unwrap(), whole, "split at {i}");
        }
        let bytes: Vec<&[u8]> = body.chunks(1).collect();
        assert_eq!(parse(&bytes).unwrap(), whole, "byte by byte");
        whole
    }

    fn ev(event: &str, data: &str) -> (String, String) {
        (event.to_string(), data.to_string())
    }

    #[test]
    fn lf_cr_and_crlf_line_endings() {
        assert_eq!(parse_split(b"data: a\n\n"), [ev("message", "a")]);
        assert_eq!(parse_split(b"data: a\r\r"), [ev("message", "a")]);
        assert_eq!(parse_split(b"data: a\r\n\r\n"), [ev("message", "a")]);
        // Mixed within one stream and one event.
        assert_eq!(
            parse_split(b"event: x\rdata: a\r\ndata: b\n\r\ndata: c\r\n\ndata: d\r\r\n"),
            [ev("x", "a\nb"), ev("message", "c"), ev("message", "d")]
        );
    }

    #[test]
    fn a_crlf_split_across_chunks_is_one_line_end() {
        // Were the LF a line of its own, it would be a blank line
        // dispatching `a` without `b`.
        assert_eq!(
            parse(&[b"data: a\r", b"\ndata: b\r", b"\n\r", b"\n"]).unwrap(),
            [ev("message", "a\nb")]
        );
        // A CR at the end of a chunk followed by anything but LF.
        assert_eq!(
            parse(&[b"data: a\r", b"data: b\r", b"\r"]).unwrap(),
            [ev("message", "a\nb")]
        );
        // A CR as the very last byte.
        assert_eq!(parse(&[b"data: a\r"]).unwrap(), [ev("message", "a")]);
    }

    #[test]
    fn comments_fields_and_data_lines() {
        let body = b": a comment\n\
            :another\n\
            id: 7\n\
            retry: 1000\n\
            unknown: field\n\
            data:no space\n\
            data:  two spaces\n\
            data\n\
            data: last\n\
            \n";
        assert_eq!(
            parse_split(body),
            [ev("message", "no space\n two spaces\n\nlast")]
        );
        // A value may hold colons; `event` is kept until the dispatch.
        assert_eq!(
            parse_split(b"event: a:b\ndata: {\"k\": \"v:w\"}\n\ndata: x\n\n"),
            [ev("a:b", "{\"k\": \"v:w\"}"), ev("message", "x")]
        );
    }

    #[test]
    fn blank_lines_dispatch_only_events_with_data() {
        // No data: nothing dispatched, and the name does not carry over.
        assert_eq!(
            parse_split(b"\n\n: keepalive\n\nevent: ping\n\ndata: a\n\n\n\n"),
            [ev("message", "a")]
        );
        // An empty data line is data.
        assert_eq!(parse_split(b"data:\n\n"), [ev("message", "")]);
        assert_eq!(parse_split(b"data\ndata\n\n"), [ev("message", "\n")]);
    }

    #[test]
    fn the_last_event_is_delivered_without_a_blank_line() {
        assert_eq!(
            parse_split(b"data: one\n\ndata: [DONE]"),
            [ev("message", "one"), ev("message", "[DONE]")]
        );
        assert_eq!(parse_split(b"event: end\ndata: x\n"), [ev("end", "x")]);
        // A trailing comment or field without data delivers nothing.
        assert_eq!(parse_split(b"data: a\n\n: bye"), [ev("message", "a")]);
        assert!(parse_split(b"").is_empty());
    }

    #[test]
    fn utf8_split_across_chunks_and_a_leading_bom() {
        let body = "data: é€😀 ok\n\nevent: ünï\ndata: x\n\n".as_bytes();
        assert_eq!(
            parse_split(body),
            [ev("message", "é€😀 ok"), ev("ünï", "x")]
        );
        let mut with_bom = b"\xEF\xBB\xBF".to_vec();
        with_bom.extend_from_slice(b"data: a\n\n");
        assert_eq!(parse_split(&with_bom), [ev("message", "a")]);
        // Only at the start of the stream.
        assert_eq!(
            parse_split("data: \u{feff}a\n\n".as_bytes()),
            [ev("message", "\u{feff}a")]
        );
        assert!(parse(&[b"data: \xFFa\n\n"]).is_err());
    }

    #[test]
    fn a_4_mb_event_in_small_chunks_is_scanned_once() {
        // The previous parser searched the whole pending buffer for a line
        // end at every chunk: quadratic, about 20 s for this in a debug
        // build. Scanning only new bytes takes milliseconds.
        let payload = "x".repeat(4 << 20);
        let body = format!("data: {payload}\n\n");
        let chunks: Vec<&[u8]> = body.as_bytes().chunks(1024).collect();
        let events = parse(&chunks).unwrap();
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].1.len(), payload.len());
        assert!(events[0].1 == payload);
    }

    #[tokio::test]
    async fn a_4_mb_event_over_http() {
        // About 20 s in a debug build with eventsource-stream (1.3 s for
        // 1 MB); well under a second now.
        let payload = "y".repeat(4 << 20);
        let body = format!("event: big\r\ndata: {payload}\r\n\r\ndata: [DONE]\r\n\r\n");
        let server = MockServer::start().await;
        Mock::given(wiremock::matchers::any())
            .respond_with(ResponseTemplate::new(200).set_body_raw(body, "text/event-stream"))
            .mount(&server)
            .await;
        let (resp, start) = get(&server.uri()).await;
        let mut r = SseReader::new(resp.into(), start);
        let e = r.next_event().await.unwrap().unwrap();
        assert_eq!(e.event, "big");
        assert!(e.data == payload, "{} bytes", e.data.len());
        assert_eq!(r.next_event().await.unwrap().unwrap().data, "[DONE]");
        assert_eq!(r.next_event().await.unwrap(), None);
        assert_eq!(r.events_received(), 2);
    }

    #[tokio::test]
    async fn invalid_utf8_is_a_stream_error() {
        let server = MockServer::start().await;
        Mock::given(wiremock::matchers::any())
            .respond_with(
                ResponseTemplate::new(200)
                    .set_body_raw(&b"data: ok\n\ndata: \xC3(\n\n"[..], "text/event-stream"),
            )
            .mount(&server)
            .await;
        let (resp, start) = get(&server.uri()).await;
        let mut r = SseReader::new(resp.into(), start);
        assert_eq!(r.next_event().await.unwrap().unwrap().data, "ok");
        let err = r.next_event().await.unwrap_err();
        assert!(matches!(err, ProviderError::Stream(_)), "{err}");
        assert!(
            err.to_string()
                .contains("invalid UTF-8 in the event stream after 1 events"),
            "{err}"
        );
    }

    #[tokio::test]
    async fn a_stream_over_the_size_limit_is_a_provider_error() {
        let server = MockServer::start().await;
        let body = format!("data: one\n\ndata: {}\n\n", "z".repeat(3 << 20));
        Mock::given(wiremock::matchers::any())
            .respond_with(ResponseTemplate::new(200).set_body_raw(body, "text/event-stream"))
            .mount(&server)
            .await;
        let (resp, start) = get(&server.uri()).await;
        let mut r = SseReader::new(resp.into(), start);
        r.limit = 2 << 20;
        let mut err = None;
        for _ in 0..3 {
            match r.next_event().await {
                Ok(Some(e)) => assert_eq!(e.data, "one"),
                Ok(None) => panic!("the body was read whole"),
                Err(e) => {
                    err = Some(e);
                    break;
                }
            }
        }
        let err = err.expect("an error");
        assert!(matches!(err, ProviderError::Provider(_)), "{err}");
        assert_eq!(
            err.to_string(),
            "provider error: event stream larger than 2 MiB"
        );
        assert!(!err.retryable());
    }

    #[tokio::test]
    async fn a_dropped_connection_is_a_stream_error() {
        let url = dropping_server("text/event-stream", "data: one\n\ndata: tw").await;
        let (resp, start) = get(&url).await;
        let mut r = SseReader::new(resp.into(), start);
        assert_eq!(r.next_event().await.unwrap().unwrap().data, "one");
        let err = r.next_event().await.unwrap_err();
        assert!(matches!(err, ProviderError::Stream(_)), "{err}");
        assert!(
            err.to_string().contains("connection lost after 1 events"),
            "{err}"
        );
        assert!(err.retryable());
    }
}

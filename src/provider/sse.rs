//! Server-sent events over a `reqwest::Response`, for the streaming providers.
//!
//! [`SseReader::next_event`] yields each event's name (`message` when the
//! server gave none) and data, with its arrival time in milliseconds since
//! the request started. The end of the body is `Ok(None)`: whether that is a
//! proper end (a `[DONE]` payload, a `message_stop` event) is for the caller
//! to decide. A connection lost mid-stream, invalid UTF-8 or a malformed
//! stream is a [`ProviderError::Stream`] (retryable); a stream larger than
//! [`MAX_STREAM_BYTES`] is a [`ProviderError::Provider`].

use std::pin::Pin;
use std::time::Instant;

use eventsource_stream::{Event, EventStreamError, Eventsource};
use futures::{Stream, StreamExt};

use super::http::{elapsed_ms, error_chain, EXCERPT_CHARS};
use super::{excerpt, ProviderError};

/// Largest event stream read (bytes over the whole response).
pub const MAX_STREAM_BYTES: u64 = 64 << 20;

/// One server-sent event.
#[derive(Debug, Clone, PartialEq)]
pub struct SseEvent {
    /// The `event:` name; `message` when the server gave none.
    pub event: String,
    /// The `data:` lines joined with `\n`.
    pub data: String,
    /// Arrival time in milliseconds since the request started.
    pub at_ms: f64,
}

/// Why the byte stream under the event parser stopped.
#[derive(Debug)]
enum SourceError {
    Transport(reqwest::Error),
    TooLarge,
}

impl std::fmt::Display for SourceError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SourceError::Transport(e) => f.write_str(&error_chain(e)),
            SourceError::TooLarge => write!(f, "stream larger than {} MiB", MAX_STREAM_BYTES >> 20),
        }
    }
}

/// A body chunk, or the blank line added after a clean end of the body.
enum Chunk<B> {
    Data(B),
    End,
}

impl<B: AsRef<[u8]>> AsRef<[u8]> for Chunk<B> {
    fn as_ref(&self) -> &[u8] {
        match self {
            Chunk::Data(b) => b.as_ref(),
            Chunk::End => b"\n\n",
        }
    }
}

type Events = Pin<Box<dyn Stream<Item = Result<Event, EventStreamError<SourceError>>> + Send>>;

/// Reads the events of one response.
pub struct SseReader {
    events: Events,
    start: Instant,
    received: usize,
}

impl SseReader {
    /// `start` is when the request was sent; arrival times are relative to it.
    pub fn new(resp: reqwest::Response, start: Instant) -> Self {
        let mut total: u64 = 0;
        let bytes = resp
            .bytes_stream()
            .map(move |chunk| match chunk {
                Ok(b) => {
                    total = total.saturating_add(b.len() as u64);
                    if total > MAX_STREAM_BYTES {
                        Err(SourceError::TooLarge)
                    } else {
                        Ok(Chunk::Data(b))
                    }
                }
                // Without its URL: reqwest quotes it percent-encoded, where
                // a secret in it escapes redaction.
                Err(e) => Err(SourceError::Transport(e.without_url())),
            })
            // A body that ends cleanly right after a last event's data line
            // (no blank line) still delivers that event.
            .chain(futures::stream::once(async { Ok(Chunk::End) }));
        SseReader {
            events: Box::pin(bytes.eventsource()),
            start,
            received: 0,
        }
    }

    /// The next event; `Ok(None)` when the body ended.
    pub async fn next_event(&mut self) -> Result<Option<SseEvent>, ProviderError> {
        match self.events.next().await {
            None => Ok(None),
            Some(Ok(ev)) => {
                self.received += 1;
                Ok(Some(SseEvent {
                    event: ev.event,
                    data: ev.data,
                    at_ms: elapsed_ms(self.start),
                }))
            }
            Some(Err(EventStreamError::Transport(SourceError::TooLarge))) => {
                Err(ProviderError::Provider(format!(
                    "event stream larger than {} MiB",
                    MAX_STREAM_BYTES >> 20
                )))
            }
            Some(Err(EventStreamError::Transport(SourceError::Transport(e)))) => {
                Err(ProviderError::Stream(format!(
                    "connection lost after {} events: {}",
                    self.received,
                    error_chain(&e)
                )))
            }
            Some(Err(EventStreamError::Utf8(e))) => Err(ProviderError::Stream(format!(
                "invalid UTF-8 in the event stream after {} events: {e}",
                self.received
            ))),
            Some(Err(EventStreamError::Parser(e))) => Err(ProviderError::Stream(format!(
                "malformed event stream after {} events: {}",
                self.received,
                excerpt(&e.input, EXCERPT_CHARS)
            ))),
        }
    }

    /// Events read so far.
    pub fn events_received(&self) -> usize {
        self.received
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
        let mut r = SseReader::new(resp, start);
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
        let mut r = SseReader::new(resp, start);
        assert_eq!(r.next_event().await.unwrap().unwrap().data, "one");
        assert_eq!(r.next_event().await.unwrap().unwrap().data, "[DONE]");
        assert_eq!(r.next_event().await.unwrap(), None);
    }

    #[tokio::test]
    async fn a_dropped_connection_is_a_stream_error() {
        let url = dropping_server("text/event-stream", "data: one\n\ndata: tw").await;
        let (resp, start) = get(&url).await;
        let mut r = SseReader::new(resp, start);
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

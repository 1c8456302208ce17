//! A chat API provider (`openai`, `anthropic`): [`Chat`] is the provider,
//! [`ChatApi`] the wire format each API implements in its own file.
//!
//! The flow is the same for both: build the body, POST it to the endpoint
//! (the client, the URL and the headers, built once), then read the answer
//! by its content type: one JSON body parsed whole, with the latency to its
//! end, or server-sent events folded one by one into the API's stream
//! state, the arrival of each event that carried a token timed (time to
//! first token, chunk gaps). A stream that closes before the API's end
//! marker is a [`ProviderError::Stream`], never an answer with partial text.

use std::time::{Instant, SystemTime};

use futures::future::BoxFuture;
use serde_json::Value;

use super::api_error::{error_from_response, EXCERPT_CHARS};
use super::direct::Direct;
use super::json::compact;
use super::response::HttpResponse;
use super::transport::{
    client, direct_send_error, header_map, is_event_stream, join_url, join_url_text, ms_between,
    read_body, send_error, timed_send, MAX_BODY_BYTES,
};
use crate::config::provider::Limits;
use crate::model::Timing;
use crate::provider::sse::{SseEvent, SseReader};
use crate::provider::{excerpt, Provider, ProviderError, Request, Response};

/// The wire format of one chat API: its request body and request key, how
/// a whole answer is parsed, and how a streamed one is read event by event.
pub(crate) trait ChatApi: Send + Sync {
    /// What a stream has delivered so far.
    type Stream: Default + Send;

    /// The request body for `request`.
    fn body(&self, request: &Request) -> Value;

    /// The normalised request ([`Provider::request_key`]).
    fn request_key(&self, request: &Request) -> Value;

    /// A whole (non-streamed) answer: `value` parsed from the body `text`
    /// (quoted in errors). The timing is set by the caller.
    fn parse(&self, value: &Value, text: &str) -> Result<Response, ProviderError>;

    /// A whole answer in its usual shape, read straight into typed fields
    /// (no `Value` tree); `None` for anything else (an error object, tool
    /// calls, unusual types, invalid JSON), which then goes through
    /// [`Self::parse`]. Must give what `parse` gives for the same text.
    fn parse_usual(&self, _text: &str) -> Option<Response> {
        None
    }

    /// Fold one event of a stream into `acc`.
    fn fold(&self, acc: &mut Self::Stream, event: &SseEvent) -> Result<Fold, ProviderError>;

    /// The message of the [`ProviderError::Stream`] for a stream that closed
    /// before its end, after `events` events.
    fn cut_short(&self, acc: &Self::Stream, events: usize) -> String;

    /// The answer of a stream that ended properly. The timing is set by the
    /// caller.
    fn finish(&self, acc: Self::Stream) -> Response;
}

/// What one event did to a stream.
pub(crate) enum Fold {
    /// Nothing to time (a role-only chunk, usage, a ping).
    Quiet,
    /// It carried a token: its arrival counts for time to first token and
    /// the chunk gaps.
    Token,
    /// It ended the stream (`[DONE]`, `message_stop`).
    End,
}

/// A chat API provider: its name, its endpoint and its wire format.
pub(crate) struct Chat<A> {
    name: String,
    endpoint: ChatEndpoint,
    api: A,
}

impl<A: ChatApi> Chat<A> {
    pub(crate) fn from_parts(name: &str, endpoint: ChatEndpoint, api: A) -> Self {
        Chat {
            name: name.to_string(),
            endpoint,
            api,
        }
    }

    #[cfg(test)]
    /// The request body for `request`.
    pub(crate) fn body(&self, request: &Request) -> Value {
        self.api.body(request)
    }

    async fn read_stream(
        &self,
        resp: HttpResponse,
        start: Instant,
        started_at: SystemTime,
    ) -> Result<Response, ProviderError> {
        let mut reader = SseReader::new(resp, start);
        let mut acc = A::Stream::default();
        let mut arrivals = Vec::new();
        let mut delays = Vec::new();
        loop {
            let Some(event) = reader.next_event().await? else {
                let msg = self.api.cut_short(&acc, reader.events_received());
                return Err(ProviderError::Stream(msg));
            };
            match self.api.fold(&mut acc, &event)? {
                Fold::Quiet => {}
                Fold::Token => {
                    arrivals.push(event.at_ms);
                    delays.extend(event.delay_ms);
                }
                Fold::End => break,
            }
        }
        let mut timing = Timing {
            started_at: Some(started_at),
            // Until the end marker arrived.
            latency_ms: reader.arrived_ms(),
            ..Default::default()
        };
        timing.set_stream(&arrivals);
        timing.set_event_delays(delays);
        Ok(Response {
            timing,
            ..self.api.finish(acc)
        })
    }
}

impl<A: ChatApi> Provider for Chat<A> {
    fn name(&self) -> &str {
        &self.name
    }

    fn complete<'a>(
        &'a self,
        request: &'a Request,
    ) -> BoxFuture<'a, Result<Response, ProviderError>> {
        Box::pin(async move {
            let body = compact(&self.api.body(request));
            let started_at = SystemTime::now();
            let (text, latency_ms, times) = match self.endpoint.post(body).await? {
                Posted::Stream(resp, times, start) => {
                    let mut r = self.read_stream(resp, start, started_at).await?;
                    times.apply(&mut r.timing);
                    return Ok(r);
                }
                Posted::Json {
                    text,
                    latency_ms,
                    times,
                } => (text, latency_ms, times),
            };
            let response = match self.api.parse_usual(&text) {
                Some(r) => r,
                None => {
                    let value = serde_json::from_str(&text).map_err(|_| {
                        ProviderError::Provider(format!(
                            "malformed JSON response: {}",
                            excerpt(&text, EXCERPT_CHARS)
                        ))
                    })?;
                    self.api.parse(&value, &text)?
                }
            };
            let mut timing = Timing {
                started_at: Some(started_at),
                latency_ms,
                ..Default::default()
            };
            times.apply(&mut timing);
            Ok(Response { timing, ..response })
        })
    }

    fn request_key(&self, request: &Request) -> Value {
        self.api.request_key(request)
    }

    /// The base URL as configured, unredacted: every `${NAME}` URL is a
    /// registered secret, so redacted ones would all look alike and share
    /// cached answers. Only hashed into the response cache key, never
    /// displayed.
    fn endpoint(&self) -> String {
        self.endpoint.base_url().to_string()
    }
}

/// What a chat API answered: an event stream still to read, or a whole
/// JSON body (already read, with the latency to its end).
enum Posted {
    /// With when the request was sent.
    Stream(HttpResponse, Times, Instant),
    Json {
        text: String,
        latency_ms: f64,
        times: Times,
    },
}

/// When the connection was open and the headers arrived.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Times {
    pub connect_ms: Option<f64>,
    pub headers_ms: f64,
}

impl Times {
    pub(crate) fn apply(self, timing: &mut Timing) {
        timing.connect_ms = self.connect_ms;
        timing.headers_ms = Some(self.headers_ms);
    }
}

/// Where a chat API provider (`openai`, `anthropic`) sends its requests:
/// the client, the URL and the headers, built once.
pub(crate) struct ChatEndpoint {
    client: reqwest::Client,
    /// As configured (expanded), without trailing slashes: the endpoint,
    /// never displayed.
    base_url: String,
    /// Where requests go: `base_url` with the API's path appended to its
    /// path, its query kept. `None` while `base_url` still holds `${NAME}`
    /// references (built for request keys only).
    url: Option<reqwest::Url>,
    /// `url` as configured (not percent-encoded), for messages (redacted).
    url_text: String,
    headers: reqwest::header::HeaderMap,
    /// The lean client, for a plain-http endpoint with no proxy.
    direct: Option<Direct>,
}

impl ChatEndpoint {
    /// `path` is the API's (`/chat/completions`, `/v1/messages`);
    /// `configured` headers (values resolved) replace `defaults` of the same name.
    pub(crate) fn new(
        base_url: &str,
        path: &str,
        defaults: Vec<(reqwest::header::HeaderName, reqwest::header::HeaderValue)>,
        configured: &[(String, String)],
        limits: &Limits,
    ) -> Result<Self, String> {
        let url = join_url(base_url, path)?;
        let direct = url.as_ref().and_then(|u| Direct::for_url(u, limits));
        Ok(ChatEndpoint {
            direct,
            client: client(base_url, limits)?,
            base_url: base_url.trim().trim_end_matches('/').to_string(),
            url,
            url_text: join_url_text(base_url, path),
            headers: header_map(defaults, configured)?,
        })
    }

    /// The configured base URL (hashed into cache keys, never displayed).
    pub(crate) fn base_url(&self) -> &str {
        &self.base_url
    }

    /// POST `body`. Non-2xx answers, transport errors and malformed JSON
    /// become the matching [`ProviderError`]; an event stream is returned
    /// unread, with when the request was sent. Through the direct client
    /// that is when its first byte was written, and the latency ends when
    /// the last byte was read (the socket's stamps); a redirect it gets is
    /// followed by sending again through `reqwest`.
    async fn post(&self, body: String) -> Result<Posted, ProviderError> {
        let Some(url) = &self.url else {
            return Err(ProviderError::Provider(format!(
                "`base_url` `{}` still holds `${{NAME}}` references",
                crate::secret::redact(&self.base_url)
            )));
        };
        let body = hyper::body::Bytes::from(body);
        let mut start = Instant::now();
        let mut sent = None;
        if let Some(direct) = &self.direct {
            let (resp, connect_ms) = direct
                .post(&self.headers, body.clone())
                .await
                .map_err(|e| direct_send_error(&self.url_text, e))?;
            if !resp.status.is_redirection() {
                start = resp.stamps.first_write();
                let times = Times {
                    connect_ms,
                    headers_ms: ms_between(start, resp.stamps.last_read()),
                };
                sent = Some((HttpResponse::Direct(resp), times));
            } else {
                start = Instant::now();
            }
        }
        let (mut resp, times) = match sent {
            Some(sent) => sent,
            None => {
                let (resp, connect_ms) = timed_send(
                    self.client
                        .post(url.clone())
                        .headers(self.headers.clone())
                        .body(body)
                        .send(),
                )
                .await;
                let resp = resp.map_err(|e| send_error(&self.url_text, e))?;
                let times = Times {
                    connect_ms,
                    headers_ms: ms_between(start, Instant::now()),
                };
                (HttpResponse::from(resp), times)
            }
        };
        if !resp.status().is_success() {
            return Err(error_from_response(resp).await);
        }
        if is_event_stream(&resp) {
            return Ok(Posted::Stream(resp, times, start));
        }
        let bytes = read_body(&mut resp, MAX_BODY_BYTES).await?;
        let latency_ms = ms_between(start, resp.arrived());
        let text = match String::from_utf8(bytes) {
            Ok(t) => t,
            Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
        };
        Ok(Posted::Json {
            text,
            latency_ms,
            times,
        })
    }
}

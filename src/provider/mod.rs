//! Providers: where outputs come from. One trait, one file per implementation.
//!
//! A provider receives rendered messages and returns the text, tool calls,
//! timing (time to first token and chunk gaps when streamed), token usage and
//! the model id. Network providers are wrapped by [`resilience::Resilient`]
//! (per-try timeout, retries with backoff, concurrency and rate limits) and
//! optionally by the recorder or the response cache (`cassette`, `cache`).

pub(crate) mod anthropic;
pub(crate) mod build;
pub(crate) mod cache;
pub(crate) mod cassette;
pub(crate) mod echo;
pub(crate) mod exec;
pub(crate) mod http;
pub(crate) mod mock;
pub(crate) mod openai;
pub(crate) mod resilience;
pub(crate) mod sse;
pub(crate) mod store;
pub(crate) mod target;

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;

pub(crate) use crate::model::{Message, ToolCall};
use crate::model::{Timing, Usage};

/// What a provider is asked.
#[derive(Debug, Clone)]
pub struct Request {
    pub suite: String,
    pub case_id: String,
    /// 1-based repeat index.
    pub repeat: u32,
    pub messages: Vec<Message>,
    /// Time allowed for one try (the case's `timeout`).
    pub timeout: Duration,
    /// The case variables (for the `http` provider's body template).
    pub vars: serde_json::Value,
    /// Which call of the attempt this is: [`ANSWER`] for the answer itself,
    /// or the id of the check that makes it (a grader). Cassettes key an
    /// exchange on (case, repeat, call).
    pub call: Cow<'static, str>,
    /// What kind of answer is asked for: text (the default), a JSON object
    /// valid against a schema (a judge's grade), or embeddings.
    pub format: Format,
    /// Told about retries as they happen (the engine's attempt events);
    /// `None` when nobody listens.
    pub observer: Option<Arc<dyn CallObserver>>,
}

/// What kind of answer a request asks for.
#[derive(Debug, Clone, Default, PartialEq)]
pub enum Format {
    /// Free text (every case's answer).
    #[default]
    Text,
    /// A JSON object valid against this schema: APIs that support
    /// structured output are sent it (`response_format` of the `openai`
    /// type); the caller parses the text strictly in any case.
    Json(Arc<serde_json::Value>),
    /// Embeddings of every message's content, in order: the answer's text
    /// is a JSON array of vectors, so the cache and cassettes keep it like
    /// any answer. Only an `openai` provider with `embeddings_model` answers.
    Embeddings,
}

/// The call id of the answer to a case (as opposed to a check's own call).
pub(crate) const ANSWER: &str = "answer";

/// Listens to one request's retries.
pub trait CallObserver: Send + Sync + std::fmt::Debug {
    /// Try number `retry` (1-based) is about to start after `wait`, because
    /// the previous one failed with `error`.
    fn retrying(&self, retry: u32, error: &ProviderError, wait: Duration);
}

/// Every provider of a run by name, built through its layers (resilience,
/// cache, record, replay). The answer's provider and any provider a check
/// names (a grader) come from here.
#[derive(Clone, Default)]
pub struct Registry {
    providers: BTreeMap<String, Arc<dyn Provider>>,
    /// `judge_provider` of evalgate.yaml: the grader of a check that names none.
    judge: Option<String>,
}

impl Registry {
    /// Set the provider a check that names none calls (`judge_provider`).
    pub fn set_judge(&mut self, name: Option<String>) {
        self.judge = name;
    }

    /// The provider a check names, by its name; the empty name is the
    /// run's `judge_provider`. With the name it resolved to.
    pub fn resolve<'r>(&'r self, name: &'r str) -> Option<(&'r str, &'r Arc<dyn Provider>)> {
        let name = if name.is_empty() {
            self.judge.as_deref()?
        } else {
            name
        };
        self.providers.get(name).map(|p| (name, p))
    }

    pub fn insert(&mut self, name: String, provider: Arc<dyn Provider>) {
        self.providers.insert(name, provider);
    }

    pub fn get(&self, name: &str) -> Option<&Arc<dyn Provider>> {
        self.providers.get(name)
    }

    pub fn contains(&self, name: &str) -> bool {
        self.providers.contains_key(name)
    }
}

impl Request {
    /// The rendered prompt as one string (message contents joined by newlines).
    pub fn prompt_text(&self) -> String {
        let mut s = String::new();
        for m in &self.messages {
            if !s.is_empty() {
                s.push('\n');
            }
            s.push_str(&m.content);
        }
        s
    }
}

/// What a provider answered.
#[derive(Debug, Clone, Default)]
pub struct Response {
    pub text: String,
    pub tool_calls: Vec<ToolCall>,
    pub timing: Timing,
    pub usage: Option<Usage>,
    pub model: Option<String>,
    pub finish_reason: Option<String>,
    /// Tries that failed before this answer (filled in by the retry layer).
    pub retries: u32,
}

/// Why there is no usable answer. Always an `error` outcome, never a `fail`.
///
/// Messages must never contain a secret: body excerpts pass through
/// [`crate::secret::redact`] where they are built.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ProviderError {
    /// A try took longer than allowed.
    #[error("timed out after {}", timeout_text(*.0))]
    Timeout(Duration),
    /// Could not connect, connection reset, body cut off. Retryable.
    #[error("transport error: {0}")]
    Transport(String),
    /// The server answered with an error status. Retryable on 408, 429 and 5xx (not 409: to an app it is a conflict, not a transient state).
    #[error("HTTP {status}: {body}")]
    Http {
        status: u16,
        /// An excerpt of the body (at most ~500 characters), secrets redacted.
        body: String,
        /// From `retry-after-ms` or `Retry-After` (seconds or HTTP date).
        retry_after: Option<Duration>,
    },
    /// A stream ended without its terminator, was cut mid-way or carried an
    /// error event: never a pass on the partial text. Retryable.
    #[error("stream error: {0}")]
    Stream(String),
    /// A usable answer was impossible: malformed JSON, missing fields, a
    /// command that exited non-zero, a configuration problem. Not retried.
    #[error("provider error: {0}")]
    Provider(String),
    /// `--replay` found no recording for this request.
    #[error("{0}")]
    NoRecording(String),
    /// `--replay` found a recording whose request changed since (a new
    /// prompt, model or parameter): the suite changed, not the endpoint.
    #[error("{0}")]
    StaleRecording(String),
    /// A recorded error, answered again by `--replay`: the original message,
    /// retries and latency, so the replayed report matches the recorded run.
    #[error("{message}")]
    Replayed {
        message: String,
        retries: u32,
        latency_ms: f64,
    },
    /// The retry layer gave up: the last try's error, after `tries` tries.
    #[error("{last} (after {tries} tries)")]
    Retried {
        tries: u32,
        last: Box<ProviderError>,
    },
}

impl ProviderError {
    /// Whether another try may succeed.
    pub fn retryable(&self) -> bool {
        match self {
            ProviderError::Timeout(_) | ProviderError::Transport(_) | ProviderError::Stream(_) => {
                true
            }
            ProviderError::Http { status, .. } => {
                matches!(status, 408 | 429) || (500..=599).contains(status)
            }
            ProviderError::Provider(_)
            | ProviderError::NoRecording(_)
            | ProviderError::StaleRecording(_)
            | ProviderError::Replayed { .. } => false,
            ProviderError::Retried { last, .. } => last.retryable(),
        }
    }

    /// Whether replay had no usable recording: missing, or stale.
    pub(crate) fn recording(&self) -> Option<crate::model::Recording> {
        match self {
            ProviderError::NoRecording(_) => Some(crate::model::Recording::Missing),
            ProviderError::StaleRecording(_) => Some(crate::model::Recording::Stale),
            ProviderError::Retried { last, .. } => last.recording(),
            _ => None,
        }
    }

    /// Tries that failed before this error was final (0 without retries).
    pub fn retries(&self) -> u32 {
        match self {
            ProviderError::Retried { tries, .. } => tries.saturating_sub(1),
            ProviderError::Replayed { retries, .. } => *retries,
            _ => 0,
        }
    }

    /// The latency a replayed error was recorded with.
    pub fn recorded_latency_ms(&self) -> Option<f64> {
        match self {
            ProviderError::Replayed { latency_ms, .. } => Some(*latency_ms),
            _ => None,
        }
    }

    /// The wait the server asked for, if any.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            ProviderError::Http { retry_after, .. } => *retry_after,
            ProviderError::Retried { last, .. } => last.retry_after(),
            _ => None,
        }
    }
}

impl Response {
    /// Every string of the answer with registered secrets masked. The one
    /// place network (or command) output is redacted: [`Redacting`] calls it
    /// right above the endpoint, so the cache, cassettes, goldens, reports and
    /// the console only ever see the redacted answer. The destructuring names
    /// every field, so a new field does not compile until it is handled here.
    pub(crate) fn redact_secrets(&mut self) {
        let Response {
            text,
            tool_calls,
            timing: _, // numbers and a timestamp only
            usage: _,  // numbers only
            model,
            finish_reason,
            retries: _,
        } = self;
        redact_in_place(text);
        for ToolCall {
            id,
            name,
            arguments,
        } in tool_calls
        {
            if let Some(id) = id {
                redact_in_place(id);
            }
            redact_in_place(name);
            redact_in_place(arguments);
        }
        for s in [model, finish_reason].into_iter().flatten() {
            redact_in_place(s);
        }
    }
}

impl ProviderError {
    /// The error with registered secrets masked in every message it carries.
    pub(crate) fn redact_secrets(self) -> ProviderError {
        let r = |s: String| crate::secret::redact(&s);
        match self {
            ProviderError::Timeout(d) => ProviderError::Timeout(d),
            ProviderError::Transport(m) => ProviderError::Transport(r(m)),
            ProviderError::Http {
                status,
                body,
                retry_after,
            } => ProviderError::Http {
                status,
                body: r(body),
                retry_after,
            },
            ProviderError::Stream(m) => ProviderError::Stream(r(m)),
            ProviderError::Provider(m) => ProviderError::Provider(r(m)),
            ProviderError::NoRecording(m) => ProviderError::NoRecording(r(m)),
            ProviderError::StaleRecording(m) => ProviderError::StaleRecording(r(m)),
            ProviderError::Replayed {
                message,
                retries,
                latency_ms,
            } => ProviderError::Replayed {
                message: r(message),
                retries,
                latency_ms,
            },
            ProviderError::Retried { tries, last } => ProviderError::Retried {
                tries,
                last: Box::new(last.redact_secrets()),
            },
        }
    }
}

fn redact_in_place(s: &mut String) {
    let r = crate::secret::redact(s);
    if r != *s {
        *s = r;
    }
}

/// The redaction layer: wraps every endpoint (network, exec, replay) so that
/// no string an endpoint returns reaches a layer above it (retries, cache,
/// recorder, checks, goldens, reports) before [`Response::redact_secrets`].
pub(crate) struct Redacting {
    inner: Arc<dyn Provider>,
}

impl Redacting {
    pub(crate) fn new(inner: Arc<dyn Provider>) -> Self {
        Redacting { inner }
    }
}

impl Provider for Redacting {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn complete<'a>(
        &'a self,
        request: &'a Request,
    ) -> BoxFuture<'a, Result<Response, ProviderError>> {
        Box::pin(async move {
            match self.inner.complete(request).await {
                Ok(mut r) => {
                    if crate::secret::any() {
                        r.redact_secrets();
                    }
                    Ok(r)
                }
                Err(e) if crate::secret::any() => Err(e.redact_secrets()),
                Err(e) => Err(e),
            }
        })
    }

    fn request_key(&self, request: &Request) -> serde_json::Value {
        self.inner.request_key(request)
    }

    fn endpoint(&self) -> String {
        self.inner.endpoint()
    }
}

/// The provider interface.
pub trait Provider: Send + Sync {
    /// The configured name (e.g. `mock`, `staging`).
    fn name(&self) -> &str;

    /// Produce an answer for one try. Timeouts, retries and rate limits are
    /// applied around this call by [`resilience::Resilient`].
    fn complete<'a>(
        &'a self,
        request: &'a Request,
    ) -> BoxFuture<'a, Result<Response, ProviderError>>;

    /// The normalised request: what decides the answer (provider type, model,
    /// parameters, messages), without endpoints, headers or secrets. Record
    /// and replay key cassettes on it, so it must be deterministic.
    fn request_key(&self, request: &Request) -> serde_json::Value {
        serde_json::json!({ "messages": request.messages })
    }

    /// Where requests go (base URL, command), added to the response-cache key.
    fn endpoint(&self) -> String {
        String::new()
    }
}

/// `30s`, `1.5s`, `250ms`.
fn timeout_text(d: Duration) -> String {
    if d.as_millis() % 1000 == 0 {
        format!("{}s", d.as_secs())
    } else if d < Duration::from_secs(1) {
        format!("{}ms", d.as_millis())
    } else {
        format!("{:.1}s", d.as_secs_f64())
    }
}

/// Rough token estimate for providers that do not report usage (mock, echo):
/// whitespace-separated words. Marked as an estimate in the README.
pub(crate) fn estimate_tokens(text: &str) -> u64 {
    text.split_whitespace().count() as u64
}

/// At most `max` characters of `text`, with an ellipsis when cut; secrets
/// redacted. For error messages that quote a body or stderr.
pub(crate) fn excerpt(text: &str, max: usize) -> String {
    let text = crate::secret::redact(text.trim());
    let mut out: String = text.chars().take(max).collect();
    if text.chars().count() > max {
        out.push('…');
    }
    out
}

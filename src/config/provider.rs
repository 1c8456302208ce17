//! Provider definitions from `evalgate.yaml` (`providers:`), one struct per
//! type, plus the settings every network provider shares (`Limits`).
//!
//! Header values and URLs may reference environment variables as `${NAME}`;
//! `api_key_env: NAME` names the variable holding the API key. Nothing here
//! holds a secret: values are read from the environment when the run's
//! providers are built ([`crate::plan`]), after validation.

use std::path::PathBuf;
use std::time::Duration;

/// Retry, timeout, concurrency, rate-limit and cache settings, shared by the
/// `openai`, `anthropic`, `http` and `exec` types.
#[derive(Debug, Clone, PartialEq)]
pub struct Limits {
    /// Retries after the first try (0 = no retry). Default 3.
    pub max_retries: u32,
    /// First backoff; doubles per retry, with full jitter. Default 500 ms.
    pub backoff_initial: Duration,
    /// Cap on one backoff wait and on an honoured `Retry-After`. Default 60 s.
    pub backoff_max: Duration,
    /// Per-try timeout; `None` = the case's `timeout`.
    pub timeout: Option<Duration>,
    /// TCP connect timeout. Default 10 s.
    pub connect_timeout: Duration,
    /// In-flight requests to this provider at most (`None` = the run's concurrency).
    pub max_concurrency: Option<usize>,
    pub requests_per_minute: Option<u32>,
    /// Enforced from reported usage: a request waits while the last minute's
    /// tokens reach this.
    pub tokens_per_minute: Option<u64>,
    /// Development response cache (`cache: true`).
    pub cache: bool,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_retries: 3,
            backoff_initial: Duration::from_millis(500),
            backoff_max: Duration::from_secs(60),
            timeout: None,
            connect_timeout: Duration::from_secs(10),
            max_concurrency: None,
            requests_per_minute: None,
            tokens_per_minute: None,
            cache: false,
        }
    }
}

/// A header as written: the value may hold `${NAME}` references.
#[derive(Debug, Clone, PartialEq)]
pub struct Header {
    pub name: String,
    pub value: String,
}

/// `type: openai`: the Chat Completions API at any base URL.
#[derive(Debug, Clone, PartialEq)]
pub struct OpenAiConfig {
    /// e.g. `https://api.openai.com/v1` or `http://127.0.0.1:8000/v1`;
    /// requests go to `{base_url}/chat/completions`.
    pub base_url: String,
    pub model: String,
    /// Sent as `Authorization: Bearer <value>` when set.
    pub api_key_env: Option<String>,
    pub headers: Vec<Header>,
    pub stream: bool,
    /// Body fields sent as they are: temperature, max_tokens, top_p, seed,
    /// stop, response_format, tools, tool_choice, and everything under
    /// `extra_body` (merged last). Keys in insertion order.
    pub params: serde_json::Map<String, serde_json::Value>,
}

/// `type: anthropic`: the Messages API.
#[derive(Debug, Clone, PartialEq)]
pub struct AnthropicConfig {
    /// Default `https://api.anthropic.com`; requests go to `{base_url}/v1/messages`.
    pub base_url: String,
    pub model: String,
    /// Sent as `x-api-key`. Default `ANTHROPIC_API_KEY` is NOT assumed: unset = no header.
    pub api_key_env: Option<String>,
    /// `anthropic-version` header. Default `2023-06-01`.
    pub version: String,
    /// Required by the API. Default 1024.
    pub max_tokens: u64,
    /// A system prompt; `system` messages from the suite's prompt are appended to it.
    pub system: Option<String>,
    pub headers: Vec<Header>,
    pub stream: bool,
    /// temperature, top_p, top_k, stop_sequences, tools, tool_choice,
    /// metadata and `extra_body` fields, sent as they are.
    pub params: serde_json::Map<String, serde_json::Value>,
}

/// How the `http` provider finds the output in a response.
#[derive(Debug, Clone, PartialEq)]
pub enum Extract {
    /// The whole body as text.
    Raw,
    /// An RFC 6901 JSON pointer into the JSON body, e.g. `/choices/0/message/content`.
    Pointer(String),
}

/// `stream:` of the `http` provider: the body is server-sent events.
#[derive(Debug, Clone, PartialEq)]
pub struct HttpStream {
    /// JSON pointer to each event's text delta (`Raw`: the event data itself).
    pub delta: Extract,
    /// The `data:` payload that ends the stream, e.g. `[DONE]`. `None`: the
    /// stream ends when the connection closes normally.
    pub done: Option<String>,
}

/// `type: http`: any JSON/HTTP API.
#[derive(Debug, Clone, PartialEq)]
pub struct HttpConfig {
    /// `POST` by default.
    pub method: String,
    /// May hold `${NAME}` references.
    pub url: String,
    pub headers: Vec<Header>,
    /// Optional; adds `Authorization: Bearer <value>`.
    pub api_key_env: Option<String>,
    /// The body: any YAML value whose strings are minijinja templates,
    /// rendered with `prompt`, `messages`, `case` (`id`, `suite`, `repeat`)
    /// and `vars`. A string that is exactly one `{{ expr }}` keeps the type
    /// of its value (e.g. `messages` stays a list). `None`: no body.
    pub body: Option<serde_json::Value>,
    /// Where the output is (non-streaming). Default `Raw`.
    pub output: Extract,
    /// Optional pointers to token counts in the JSON body.
    pub usage_input: Option<String>,
    pub usage_output: Option<String>,
    pub stream: Option<HttpStream>,
}

/// How `exec` passes the prompt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExecInput {
    /// On stdin (default), then stdin is closed.
    Stdin,
    /// As the last argument.
    Arg,
}

/// `type: exec`: runs a local command per request. stdout is the output.
#[derive(Debug, Clone, PartialEq)]
pub struct ExecConfig {
    /// Program and arguments (no shell). Relative programs containing `/`
    /// resolve against the project root.
    pub command: Vec<String>,
    pub input: ExecInput,
    /// Extra environment (values may hold `${NAME}`).
    pub env: Vec<Header>,
    /// Working directory; default the project root.
    pub cwd: PathBuf,
}

/// `type: replay`: answers from cassettes recorded from provider `of`.
#[derive(Debug, Clone, PartialEq)]
pub struct ReplayConfig {
    pub of: String,
}

//! Provider definitions from `evalgate.yaml` (`providers:`), one struct per
//! type, plus the settings every network provider shares (`Limits`), and
//! [`PROVIDER_TYPES`]: the one table of provider types (name, keys, decoder,
//! whether it is recorded and retried) that decoding, hints and the run's
//! build read. A new type is a row there, a [`ProviderKind`] variant and
//! its arm in `provider/build.rs`.
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
    /// Longest silence while reading an answer (between two reads of the
    /// body or stream, and until the response headers): a stalled stream is
    /// a retryable transport error long before the per-try timeout. Default 30 s.
    pub read_timeout: Duration,
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
            read_timeout: Duration::from_secs(30),
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
    /// The model of `POST {base_url}/embeddings` (the `similar` check);
    /// with it, `model` may be left out (empty: an embeddings-only provider).
    pub embeddings_model: Option<String>,
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
    /// Program and arguments (no shell), exactly as written in the config
    /// (request keys use this form, so cassettes do not depend on where the
    /// project is checked out). A relative program containing `/` runs from
    /// the project `root`.
    pub command: Vec<String>,
    /// The project root (the directory of evalgate.yaml).
    pub root: PathBuf,
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
    /// Where `of` is written (for errors about it).
    pub of_pos: Option<crate::error::Pos>,
}

/// What a provider definition says: its type and that type's settings.
#[derive(Debug, Clone, PartialEq)]
pub enum ProviderKind {
    Mock {
        responses: Option<PathBuf>,
        latency: Duration,
        model: Option<String>,
    },
    Echo,
    OpenAi(OpenAiConfig),
    Anthropic(AnthropicConfig),
    Http(HttpConfig),
    Exec(ExecConfig),
    Replay(ReplayConfig),
}

impl ProviderKind {
    /// The type of this definition, in [`PROVIDER_TYPES`].
    pub fn provider_type(&self) -> &'static ProviderType {
        match self {
            ProviderKind::Mock { .. } => &MOCK,
            ProviderKind::Echo => &ECHO,
            ProviderKind::OpenAi(_) => &OPENAI,
            ProviderKind::Anthropic(_) => &ANTHROPIC,
            ProviderKind::Http(_) => &HTTP,
            ProviderKind::Exec(_) => &EXEC,
            ProviderKind::Replay(_) => &REPLAY,
        }
    }

    pub fn type_name(&self) -> &'static str {
        self.provider_type().name
    }
}

/// One provider type: its `type:` name, the keys its definition takes, how
/// it decodes, and what a run may do with it. Every question about a type
/// (the decoder, "did you mean" lists, whether it is recorded) reads this.
pub struct ProviderType {
    /// Its `type:` name.
    pub name: &'static str,
    /// Keys its definition takes besides `type`, in the order hints list
    /// them.
    keys: &'static [&'static [&'static str]],
    /// Its answers come from outside (a network API or a subprocess): it is
    /// recorded with `--record`, answered from its cassettes with
    /// `--replay`, and takes the retry and limit settings.
    pub recorded: bool,
    /// Retried by default (`max_retries` 3, else 0).
    retried: bool,
    /// Decodes a definition of this type: `(ctx, fields, name, what)`, its
    /// keys and limits already checked.
    decode: fn(&mut Ctx<'_>, &Fields<'_>, &str, &str) -> Option<ProviderKind>,
}

const MOCK: ProviderType = ProviderType {
    name: "mock",
    keys: &[&["responses", "latency_ms", "model", "pricing"]],
    recorded: false,
    retried: false,
    decode: decode_mock,
};

const ECHO: ProviderType = ProviderType {
    name: "echo",
    keys: &[],
    recorded: false,
    retried: false,
    decode: |_, _, _, _| Some(ProviderKind::Echo),
};

const OPENAI: ProviderType = ProviderType {
    name: "openai",
    keys: &[
        &[
            "base_url",
            "model",
            "embeddings_model",
            "api_key_env",
            "no_api_key",
            "headers",
            "redact_headers",
            "stream",
            "extra_body",
            "probes",
            "pricing",
        ],
        OPENAI_PARAMS,
        LIMIT_KEYS,
    ],
    recorded: true,
    retried: true,
    decode: decode_openai,
};

const ANTHROPIC: ProviderType = ProviderType {
    name: "anthropic",
    keys: &[
        &[
            "base_url",
            "model",
            "api_key_env",
            "no_api_key",
            "anthropic_version",
            "max_tokens",
            "system",
            "headers",
            "redact_headers",
            "stream",
            "extra_body",
            "probes",
            "pricing",
        ],
        ANTHROPIC_PARAMS,
        LIMIT_KEYS,
    ],
    recorded: true,
    retried: true,
    decode: decode_anthropic,
};

const HTTP: ProviderType = ProviderType {
    name: "http",
    keys: &[
        &[
            "method",
            "url",
            "headers",
            "redact_headers",
            "api_key_env",
            "body",
            "output",
            "usage",
            "stream",
            "probes",
            "pricing",
        ],
        LIMIT_KEYS,
    ],
    recorded: true,
    retried: true,
    decode: decode_http,
};

const EXEC: ProviderType = ProviderType {
    name: "exec",
    keys: &[&["command", "input", "env", "cwd", "pricing"], LIMIT_KEYS],
    recorded: true,
    retried: false,
    decode: decode_exec,
};

const REPLAY: ProviderType = ProviderType {
    name: "replay",
    keys: &[&["of"]],
    recorded: false,
    retried: false,
    decode: decode_replay,
};

/// Provider types known to this build, in the order messages list them.
pub(crate) const PROVIDER_TYPES: &[&ProviderType] =
    &[&MOCK, &ECHO, &OPENAI, &ANTHROPIC, &HTTP, &EXEC, &REPLAY];

impl ProviderType {
    /// The type named `name`.
    pub fn named(name: &str) -> Option<&'static ProviderType> {
        PROVIDER_TYPES.iter().copied().find(|t| t.name == name)
    }

    /// Keys its definition takes, `type` first.
    pub(crate) fn keys(&self) -> Vec<&'static str> {
        let mut keys = vec!["type"];
        for group in self.keys {
            keys.extend_from_slice(group);
        }
        keys
    }
}

/// The names of the recorded types as prose, the last joined with
/// `conjunction`: `openai, anthropic, http and exec`.
pub(crate) fn recorded_types(conjunction: &str) -> String {
    let names: Vec<&str> = PROVIDER_TYPES
        .iter()
        .filter(|t| t.recorded)
        .map(|t| t.name)
        .collect();
    match names.split_last() {
        Some((last, rest)) if !rest.is_empty() => {
            format!("{} {conjunction} {last}", rest.join(", "))
        }
        Some((last, _)) => last.to_string(),
        None => String::new(),
    }
}

/// `an` before a vowel, else `a`.
pub(crate) fn article(word: &str) -> &'static str {
    if word.starts_with(['a', 'e', 'i', 'o', 'u']) {
        "an"
    } else {
        "a"
    }
}

// ---------------------------------------------------------------------------
// Decoding
// ---------------------------------------------------------------------------

use crate::syntax::decode::{duration, Ctx, Fields};
use crate::syntax::node::{Node, Value};

const LIMIT_KEYS: &[&str] = &[
    "timeout",
    "connect_timeout",
    "read_timeout",
    "max_retries",
    "backoff",
    "backoff_max",
    "max_concurrency",
    "requests_per_minute",
    "tokens_per_minute",
    "cache",
];

const OPENAI_PARAMS: &[&str] = &[
    "temperature",
    "max_tokens",
    "max_completion_tokens",
    "top_p",
    "seed",
    "stop",
    "response_format",
    "tools",
    "tool_choice",
    "presence_penalty",
    "frequency_penalty",
    "logit_bias",
    "user",
    "n",
    "reasoning_effort",
    "stream_options",
];

const ANTHROPIC_PARAMS: &[&str] = &[
    "temperature",
    "top_p",
    "top_k",
    "stop_sequences",
    "tools",
    "tool_choice",
    "metadata",
    "thinking",
];

/// Every key any provider type accepts (for "unknown key" with did-you-mean).
fn all_keys() -> Vec<&'static str> {
    let mut keys: Vec<&'static str> = PROVIDER_TYPES.iter().flat_map(|t| t.keys()).collect();
    keys.sort_unstable();
    keys.dedup();
    keys
}

/// A decoded provider definition.
pub(crate) struct Decoded {
    pub kind: ProviderKind,
    pub limits: Limits,
    /// Header names whose values are secret besides the built-in ones.
    pub redact_headers: Vec<String>,
    /// Endpoint probes (`probes:`), for `openai`, `anthropic` and `http`.
    pub probes: Vec<crate::config::probe::Probe>,
    /// `pricing:`, the provider's own price (over the built-in table).
    pub pricing: Option<crate::config::pricing::Price>,
}

/// Decode one `providers.<name>` entry. Errors go to `ctx`; `None` when the
/// definition is unusable.
pub(crate) fn decode(ctx: &mut Ctx<'_>, name: &str, node: &Node) -> Option<Decoded> {
    let what = format!("provider `{name}`");
    let all = all_keys();
    let pf = ctx.map(node, &what, &all)?;
    let t = ctx.require(&pf, "type", &what)?;
    let ty = ctx.string(t, "`type`")?;
    let Some(provider_type) = ProviderType::named(&ty) else {
        let names = PROVIDER_TYPES.iter().map(|t| t.name);
        let hint = match crate::error::did_you_mean(&ty, names.clone()) {
            Some(s) => format!("did you mean `{s}`?"),
            None => format!("provider types: {}", names.collect::<Vec<_>>().join(", ")),
        };
        ctx.error(t.pos, format!("unknown provider type `{ty}`"), Some(hint));
        return None;
    };
    let allowed = provider_type.keys();
    let before = ctx.errors.len();
    for e in pf.entries {
        if all.contains(&e.key.as_str()) && !allowed.contains(&e.key.as_str()) {
            let article = article(&ty);
            ctx.error(
                e.key_pos,
                format!("`{}` does not apply to a provider of type `{ty}`", e.key),
                Some(
                    if allowed.contains(&"extra_body")
                        && (OPENAI_PARAMS.contains(&e.key.as_str())
                            || ANTHROPIC_PARAMS.contains(&e.key.as_str()))
                    {
                        format!(
                        "to send it anyway, put it in the request body: `extra_body: {{{}: …}}`",
                        e.key
                    )
                    } else if allowed.len() > 1 {
                        format!(
                            "{article} `{ty}` provider takes: {}",
                            allowed[1..].join(", ")
                        )
                    } else {
                        format!("{article} `{ty}` provider takes no settings besides `type`")
                    },
                ),
            );
        }
    }
    let mut limits = if provider_type.retried {
        Limits::default()
    } else {
        Limits {
            max_retries: 0,
            ..Limits::default()
        }
    };
    decode_limits(ctx, &pf, &mut limits);
    let redact_headers = pf
        .get("redact_headers")
        .and_then(|n| ctx.string_list(n, "`redact_headers`"))
        .unwrap_or_default();
    let probes = pf
        .get("probes")
        .map(|n| crate::config::probe::decode(ctx, n))
        .unwrap_or_default();
    let pricing = pf
        .get("pricing")
        .and_then(|n| crate::config::pricing::decode(ctx, n));
    let kind = (provider_type.decode)(ctx, &pf, name, &what)?;
    (ctx.errors.len() == before).then_some(Decoded {
        kind,
        limits,
        redact_headers,
        probes,
        pricing,
    })
}

fn decode_mock(
    ctx: &mut Ctx<'_>,
    pf: &Fields<'_>,
    _name: &str,
    _what: &str,
) -> Option<ProviderKind> {
    Some(ProviderKind::Mock {
        responses: pf
            .get("responses")
            .and_then(|n| ctx.string(n, "`responses`"))
            .map(|s| ctx.resolve_path(&s)),
        latency: std::time::Duration::from_millis(
            pf.get("latency_ms")
                .and_then(|n| ctx.uint(n, "`latency_ms`", 0, 3_600_000))
                .unwrap_or(0),
        ),
        model: pf
            .get("model")
            .and_then(|n| ctx.scalar_string(n, "`model`")),
    })
}

fn decode_openai(
    ctx: &mut Ctx<'_>,
    pf: &Fields<'_>,
    _name: &str,
    what: &str,
) -> Option<ProviderKind> {
    let base_url = url(ctx, pf, "base_url", what, None)?;
    let embeddings_model = pf
        .get("embeddings_model")
        .and_then(|n| ctx.string(n, "`embeddings_model`"));
    // An embeddings-only provider needs no chat model.
    let model = if embeddings_model.is_some() && pf.get("model").is_none() {
        String::new()
    } else {
        required_string(ctx, pf, "model", what)?
    };
    let mut params = serde_json::Map::new();
    for k in OPENAI_PARAMS {
        if let Some(n) = pf.get(k) {
            params.insert((*k).to_string(), n.to_json());
        }
    }
    extra_body(ctx, pf, &mut params, &["model", "messages", "stream"]);
    let api_key_env = env_name(ctx, pf);
    let headers = headers(ctx, pf);
    require_api_key(
        ctx,
        pf,
        &base_url,
        api_key_env.as_ref(),
        &headers,
        what,
        "OPENAI_API_KEY",
    );
    Some(ProviderKind::OpenAi(OpenAiConfig {
        base_url,
        model,
        api_key_env,
        headers,
        stream: flag(ctx, pf, "stream"),
        params,
        embeddings_model,
    }))
}

fn decode_anthropic(
    ctx: &mut Ctx<'_>,
    pf: &Fields<'_>,
    _name: &str,
    what: &str,
) -> Option<ProviderKind> {
    let base_url = url(ctx, pf, "base_url", what, Some("https://api.anthropic.com"))?;
    let model = required_string(ctx, pf, "model", what)?;
    let mut params = serde_json::Map::new();
    for k in ANTHROPIC_PARAMS {
        if let Some(n) = pf.get(k) {
            params.insert((*k).to_string(), n.to_json());
        }
    }
    extra_body(
        ctx,
        pf,
        &mut params,
        &["model", "messages", "stream", "system", "max_tokens"],
    );
    let api_key_env = env_name(ctx, pf);
    let headers = headers(ctx, pf);
    require_api_key(
        ctx,
        pf,
        &base_url,
        api_key_env.as_ref(),
        &headers,
        what,
        "ANTHROPIC_API_KEY",
    );
    Some(ProviderKind::Anthropic(AnthropicConfig {
        base_url,
        model,
        api_key_env,
        version: pf
            .get("anthropic_version")
            .and_then(|n| ctx.scalar_string(n, "`anthropic_version`"))
            .unwrap_or_else(|| "2023-06-01".to_string()),
        max_tokens: pf
            .get("max_tokens")
            .and_then(|n| ctx.uint(n, "`max_tokens`", 1, 10_000_000))
            .unwrap_or(1024),
        system: pf.get("system").and_then(|n| ctx.string(n, "`system`")),
        headers,
        stream: flag(ctx, pf, "stream"),
        params,
    }))
}

fn decode_replay(
    ctx: &mut Ctx<'_>,
    pf: &Fields<'_>,
    name: &str,
    what: &str,
) -> Option<ProviderKind> {
    let of = required_string(ctx, pf, "of", what)?;
    if of == name {
        ctx.error(
            pf.get("of").map_or(pf.pos, |n| n.pos),
            format!("provider `{name}` cannot replay itself"),
            Some("name the provider whose recordings it answers with".into()),
        );
        return None;
    }
    Some(ProviderKind::Replay(ReplayConfig {
        of,
        of_pos: pf.get("of").map(|n| n.pos),
    }))
}

fn decode_limits(ctx: &mut Ctx<'_>, pf: &Fields<'_>, l: &mut Limits) {
    if let Some(n) = pf.get("timeout") {
        l.timeout = duration(ctx, n, "`timeout`");
    }
    if let Some(d) = pf
        .get("connect_timeout")
        .and_then(|n| duration(ctx, n, "`connect_timeout`"))
    {
        l.connect_timeout = d;
    }
    if let Some(d) = pf
        .get("read_timeout")
        .and_then(|n| duration(ctx, n, "`read_timeout`"))
    {
        l.read_timeout = d;
    }
    if let Some(v) = pf
        .get("max_retries")
        .and_then(|n| ctx.uint(n, "`max_retries`", 0, 100))
    {
        l.max_retries = v as u32;
    }
    if let Some(d) = pf
        .get("backoff")
        .and_then(|n| duration(ctx, n, "`backoff`"))
    {
        l.backoff_initial = d;
    }
    if let Some(d) = pf
        .get("backoff_max")
        .and_then(|n| duration(ctx, n, "`backoff_max`"))
    {
        l.backoff_max = d;
    }
    if let Some(v) = pf
        .get("max_concurrency")
        .and_then(|n| ctx.uint(n, "`max_concurrency`", 1, 10_000))
    {
        l.max_concurrency = Some(v as usize);
    }
    if let Some(v) = pf
        .get("requests_per_minute")
        .and_then(|n| ctx.uint(n, "`requests_per_minute`", 1, 10_000_000))
    {
        l.requests_per_minute = Some(v as u32);
    }
    if let Some(v) = pf
        .get("tokens_per_minute")
        .and_then(|n| ctx.uint(n, "`tokens_per_minute`", 1, u64::MAX >> 1))
    {
        l.tokens_per_minute = Some(v);
    }
    if let Some(b) = pf.get("cache").and_then(|n| ctx.bool(n, "`cache`")) {
        l.cache = b;
    }
}

fn required_string(ctx: &mut Ctx<'_>, pf: &Fields<'_>, key: &str, what: &str) -> Option<String> {
    let n = ctx.require(pf, key, what)?;
    let s = ctx.scalar_string(n, &format!("`{key}`"))?;
    if s.trim().is_empty() {
        ctx.error(n.pos, format!("`{key}` must not be empty"), None);
        return None;
    }
    Some(s)
}

fn flag(ctx: &mut Ctx<'_>, pf: &Fields<'_>, key: &str) -> bool {
    pf.get(key)
        .and_then(|n| ctx.bool(n, &format!("`{key}`")))
        .unwrap_or(false)
}

/// A URL: `http://` or `https://`, `${NAME}` references allowed.
fn url(
    ctx: &mut Ctx<'_>,
    pf: &Fields<'_>,
    key: &str,
    what: &str,
    default: Option<&str>,
) -> Option<String> {
    let Some(n) = pf.get(key) else {
        if let Some(d) = default {
            return Some(d.to_string());
        }
        ctx.require(pf, key, what)?;
        return None;
    };
    let s = ctx.string(n, &format!("`{key}`"))?;
    let t = s.trim();
    if !(t.starts_with("http://") || t.starts_with("https://") || t.starts_with("${")) {
        ctx.error(
            n.pos,
            format!("`{key}` must be an http:// or https:// URL, found {t:?}"),
            Some("e.g. https://api.openai.com/v1 or http://127.0.0.1:8000/v1".into()),
        );
        return None;
    }
    Some(t.trim_end_matches('/').to_string())
}

/// Whether `base_url` is on this machine or a private network (a local
/// server that may need no key); None when it cannot tell (`${VAR}`).
fn is_local_url(base_url: &str) -> Option<bool> {
    if base_url.contains("${") {
        return None;
    }
    let rest = base_url.split_once("://").map_or(base_url, |(_, r)| r);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = if let Some(v6) = host_port.strip_prefix('[') {
        v6.split(']').next().unwrap_or("")
    } else {
        host_port.split(':').next().unwrap_or("")
    };
    let host = host.to_ascii_lowercase();
    if host == "localhost" || host.ends_with(".localhost") || host.ends_with(".local") {
        return Some(true);
    }
    Some(match host.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V4(ip)) => {
            ip.is_loopback() || ip.is_private() || ip.is_link_local() || ip.is_unspecified()
        }
        Ok(std::net::IpAddr::V6(ip)) => ip.is_loopback() || ip.is_unspecified(),
        Err(_) => false,
    })
}

/// An `openai` or `anthropic` provider sends its key from `api_key_env`.
/// Pointed at a hosted API without one, every request would go out
/// unauthenticated: refused, unless `no_api_key: true` says the endpoint
/// needs none (or `headers` carry the credentials).
fn require_api_key(
    ctx: &mut Ctx<'_>,
    pf: &Fields<'_>,
    base_url: &str,
    api_key_env: Option<&String>,
    headers: &[Header],
    what: &str,
    example: &str,
) {
    let no_key = flag(ctx, pf, "no_api_key");
    let auth_header = headers.iter().any(|h| {
        let n = h.name.trim().to_ascii_lowercase();
        n == "authorization" || n == "x-api-key" || n == "api-key"
    });
    if no_key || api_key_env.is_some() || pf.get("api_key_env").is_some() || auth_header {
        return;
    }
    if is_local_url(base_url) == Some(false) {
        ctx.error(
            pf.pos,
            format!("{what} sends requests to {base_url} without an API key (no `api_key_env`)"),
            Some(format!(
                "add `api_key_env: {example}` (the NAME of the variable holding the key), or `no_api_key: true` if this endpoint needs none"
            )),
        );
    }
}

fn env_name(ctx: &mut Ctx<'_>, pf: &Fields<'_>) -> Option<String> {
    let n = pf.get("api_key_env")?;
    let s = ctx.string(n, "`api_key_env`")?;
    if s.is_empty() || !s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        // No source line and no value in the message: it may be a pasted key.
        let d = crate::error::Diagnostic::new(
            ctx.file,
            Some(n.pos),
            "`api_key_env` must be the NAME of an environment variable (letters, digits, _), not a key",
        )
        .with_hint(
            "write the variable's name (api_key_env: OPENAI_API_KEY) and export the key in the environment; if this was a real key, revoke it",
        );
        ctx.errors.push(d);
        return None;
    }
    Some(s)
}

/// HTTP header names are tokens (RFC 9110): letters, digits and
/// ``!#$%&'*+-.^_`|~``.
fn valid_header_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c))
}

/// Header values are visible ASCII, spaces and tabs (what the HTTP client
/// sends); `${NAME}` references are checked when they are read.
fn valid_header_value(value: &str) -> bool {
    let mut literal = value.to_string();
    for name in crate::secret::env_refs(value) {
        literal = literal.replace(&format!("${{{name}}}"), "");
    }
    literal
        .chars()
        .all(|c| c == '\t' || (' '..='~').contains(&c))
}

/// `headers:`, checked as `run` checks them before sending, so `validate`
/// refuses what a run would.
fn headers(ctx: &mut Ctx<'_>, pf: &Fields<'_>) -> Vec<Header> {
    let out = string_map(ctx, pf, "headers");
    if let Some(Value::Map(entries)) = pf.get("headers").map(|n| &n.value) {
        for e in entries {
            let name = e.key.trim();
            if !valid_header_name(name) {
                ctx.error(
                    e.key_pos,
                    format!("invalid header name `{name}`"),
                    Some("header names are letters, digits and !#$%&'*+-.^_`|~ (no spaces or colons)".into()),
                );
            } else if let Some(h) = out.iter().find(|h| h.name == e.key) {
                if !valid_header_value(h.value.trim()) {
                    ctx.error(
                        e.value.pos,
                        format!("the value of header `{name}` is not a valid header value"),
                        Some("header values are visible ASCII, spaces and tabs: no line breaks or non-ASCII characters (percent-encode them if the server expects that)".into()),
                    );
                }
            }
        }
    }
    out
}

fn string_map(ctx: &mut Ctx<'_>, pf: &Fields<'_>, key: &str) -> Vec<Header> {
    let Some(n) = pf.get(key) else {
        return Vec::new();
    };
    let Value::Map(entries) = &n.value else {
        ctx.error(
            n.pos,
            format!(
                "`{key}` must be a mapping of names to values, found {}",
                n.kind_name()
            ),
            None,
        );
        return Vec::new();
    };
    let mut out = Vec::new();
    for e in entries {
        if let Some(v) = ctx.scalar_string(&e.value, &format!("`{key}.{}`", e.key)) {
            for name in crate::secret::env_refs(&v) {
                if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                    ctx.error(
                        e.value.pos,
                        format!("`${{{name}}}` is not a valid environment variable reference"),
                        Some("write ${NAME} with letters, digits and _".into()),
                    );
                }
            }
            out.push(Header {
                name: e.key.clone(),
                value: v,
            });
        }
    }
    out
}

fn extra_body(
    ctx: &mut Ctx<'_>,
    pf: &Fields<'_>,
    params: &mut serde_json::Map<String, serde_json::Value>,
    reserved: &[&str],
) {
    let Some(n) = pf.get("extra_body") else {
        return;
    };
    let Value::Map(entries) = &n.value else {
        ctx.error(
            n.pos,
            format!("`extra_body` must be a mapping, found {}", n.kind_name()),
            None,
        );
        return;
    };
    for e in entries {
        if reserved.contains(&e.key.as_str()) {
            ctx.error(
                e.key_pos,
                format!("`extra_body.{}` is set by evalgate", e.key),
                Some(format!(
                    "set it with the provider's own key{}",
                    if e.key == "messages" {
                        " (messages come from the suite's prompt)"
                    } else {
                        ""
                    }
                )),
            );
            continue;
        }
        params.insert(e.key.clone(), e.value.to_json());
    }
}

fn pointer(ctx: &mut Ctx<'_>, n: &Node, what: &str) -> Option<Extract> {
    let s = ctx.string(n, what)?;
    if s == "raw" {
        return Some(Extract::Raw);
    }
    if !s.starts_with('/') {
        ctx.error(
            n.pos,
            format!("{what} must be `raw` or a JSON pointer starting with `/`, found {s:?}"),
            Some("e.g. /choices/0/message/content (RFC 6901)".into()),
        );
        return None;
    }
    Some(Extract::Pointer(s))
}

fn decode_http(
    ctx: &mut Ctx<'_>,
    pf: &Fields<'_>,
    _name: &str,
    what: &str,
) -> Option<ProviderKind> {
    let url = url(ctx, pf, "url", what, None)?;
    let method = pf
        .get("method")
        .and_then(|n| ctx.string(n, "`method`"))
        .map(|m| m.to_ascii_uppercase())
        .unwrap_or_else(|| "POST".to_string());
    if !matches!(method.as_str(), "GET" | "POST" | "PUT" | "PATCH" | "DELETE") {
        ctx.error(
            pf.get("method").map_or(pf.pos, |n| n.pos),
            format!("unsupported `method` {method:?}"),
            Some("use GET, POST, PUT, PATCH or DELETE".into()),
        );
    }
    let body = pf.get("body").map(|n| n.to_json());
    if let Some(b) = &body {
        check_templates(ctx, pf.get("body").map_or(pf.pos, |n| n.pos), b);
    }
    let output = match pf.get("output") {
        Some(n) => pointer(ctx, n, "`output`")?,
        None => Extract::Raw,
    };
    let (mut usage_input, mut usage_output) = (None, None);
    if let Some(n) = pf.get("usage") {
        if let Some(uf) = ctx.map(n, "`usage`", &["input", "output"]) {
            for (k, slot) in [("input", &mut usage_input), ("output", &mut usage_output)] {
                if let Some(v) = uf.get(k) {
                    if let Some(Extract::Pointer(p)) = pointer(ctx, v, &format!("`usage.{k}`")) {
                        *slot = Some(p);
                    }
                }
            }
        }
    }
    let stream = match pf.get("stream") {
        None => None,
        Some(n) if matches!(n.value, Value::Bool(false)) => None,
        Some(n) => {
            let sf = ctx.map(n, "`stream`", &["delta", "done"])?;
            let delta = match sf.get("delta") {
                Some(d) => pointer(ctx, d, "`stream.delta`")?,
                None => Extract::Raw,
            };
            let done = sf.get("done").and_then(|d| ctx.string(d, "`stream.done`"));
            Some(HttpStream { delta, done })
        }
    };
    Some(ProviderKind::Http(HttpConfig {
        method,
        url,
        headers: headers(ctx, pf),
        api_key_env: env_name(ctx, pf),
        body,
        output,
        usage_input,
        usage_output,
        stream,
    }))
}

/// Compile every string in an `http` body as a template, so mistakes are
/// found before the run.
fn check_templates(ctx: &mut Ctx<'_>, pos: crate::error::Pos, v: &serde_json::Value) {
    match v {
        serde_json::Value::String(s) if s.contains("{{") || s.contains("{%") => {
            let env = crate::template::environment();
            let checked = crate::template::check_bounds(s)
                .map_err(|(m, _)| m)
                .and_then(|()| {
                    env.template_from_str(s)
                        .map(|_| ())
                        .map_err(|e| e.to_string())
                });
            if let Err(e) = checked {
                ctx.error(
                    pos,
                    format!("invalid template in `body`: {e}"),
                    Some("body strings are minijinja templates: {{ prompt }}, {{ messages }}, {{ vars.x }}, {{ case.id }}".into()),
                );
            }
        }
        serde_json::Value::Array(items) => items.iter().for_each(|i| check_templates(ctx, pos, i)),
        serde_json::Value::Object(m) => m.values().for_each(|i| check_templates(ctx, pos, i)),
        _ => {}
    }
}

fn decode_exec(
    ctx: &mut Ctx<'_>,
    pf: &Fields<'_>,
    _name: &str,
    what: &str,
) -> Option<ProviderKind> {
    let n = ctx.require(pf, "command", what)?;
    let command: Vec<String> = match &n.value {
        Value::Str(s) => s.split_whitespace().map(str::to_string).collect(),
        _ => ctx.string_list(n, "`command`")?,
    };
    if command.is_empty() || command[0].is_empty() {
        ctx.error(
            n.pos,
            "`command` must name a program",
            Some("e.g. command: [python3, app/answer.py]".into()),
        );
        return None;
    }
    let input = match pf.get("input") {
        None => ExecInput::Stdin,
        Some(i) => match ctx.string(i, "`input`")?.as_str() {
            "stdin" => ExecInput::Stdin,
            "arg" => ExecInput::Arg,
            other => {
                ctx.error(
                    i.pos,
                    format!("unknown `input` {other:?}"),
                    Some("use `stdin` (default) or `arg` (the prompt as the last argument)".into()),
                );
                return None;
            }
        },
    };
    let cwd = match pf.get("cwd").and_then(|c| ctx.string(c, "`cwd`")) {
        Some(c) => ctx.resolve_path(&c),
        None => ctx.root.clone(),
    };
    Some(ProviderKind::Exec(ExecConfig {
        command,
        root: ctx.root.clone(),
        input,
        env: string_map(ctx, pf, "env"),
        cwd,
    }))
}

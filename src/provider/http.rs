//! HTTP plumbing shared by the network providers (client, `Retry-After`,
//! error mapping, bounded body reads) and the generic `http` provider.
//!
//! Every message built here passes through [`crate::secret::redact`]: URLs
//! may hold a secret expanded from `${NAME}` and error bodies may echo a key.
//! A URL is only ever quoted as configured (unencoded, then redacted), never
//! as `reqwest` formats it: percent-encoding (`a b` → `a%20b`) would hide a
//! secret from redaction, so `reqwest` errors are stripped of their URL.
//!
//! ## The `http` provider
//!
//! * The body is the configured value with every string leaf rendered as a
//!   minijinja template, with `prompt`, `messages` (a list of `{role,
//!   content}`), `case` (`id`, `suite`, `repeat`) and `vars`. A string that is
//!   exactly one `{{ expr }}` keeps the JSON type of its value. A body that
//!   renders to a JSON string is sent as that text (`text/plain` unless a
//!   `content-type` header is configured); anything else is sent as JSON.
//! * The output is the raw body text or the value at a JSON pointer (a
//!   string as is, any other value as compact JSON).
//! * With `stream`, the body is read as server-sent events; each event's
//!   data gives a text delta (raw or through a pointer; events where the
//!   pointer is missing carry no text). The `done` payload ends the stream;
//!   when `done` is set, a stream that closes before it is an error. An
//!   event named `error` is an error, classified like an error object in a
//!   chat stream ([`stream_error`]: retried only when transient); its data
//!   is read as JSON (its `error` member when it has one) or as text.
//!
//! ## Proxies
//!
//! Requests honour the proxy environment variables as `reqwest` reads
//! them, except to a loopback endpoint (`localhost`, `127.0.0.0/8`, `::1`),
//! always reached directly. Transport errors name the proxy in use.

use std::collections::BTreeMap;
use std::time::{Duration, Instant, SystemTime};

use futures::future::BoxFuture;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue, ACCEPT, CONTENT_TYPE, RETRY_AFTER};
use serde_json::Value;

use super::sse::SseReader;
use super::{excerpt, Provider, ProviderError, Request, Response};
use crate::config::provider::{Extract, HttpConfig, HttpStream, Limits};
use crate::model::{Timing, Usage};

/// `User-Agent` of every request.
pub const USER_AGENT: &str = concat!("evalgate/", env!("CARGO_PKG_VERSION"));

/// Largest response body read (non-streamed answers and event streams).
pub const MAX_BODY_BYTES: usize = 64 << 20;

/// How much of an error body is read before summarising it.
const MAX_ERROR_BODY_BYTES: usize = 64 << 10;

/// Characters of a body quoted in an error message.
pub const EXCERPT_CHARS: usize = 500;

/// Redirects followed at most (same origin only).
const MAX_REDIRECTS: usize = 5;

/// A client for one provider, sending to `url` (the configured endpoint):
/// connect timeout from `limits`, no overall timeout (the retry layer bounds
/// each try by dropping its future), a pool sized for high concurrency, and
/// redirects followed only within the same origin (so credentials never
/// travel to another host).
///
/// Proxies come from the environment (`HTTPS_PROXY`, `HTTP_PROXY`,
/// `ALL_PROXY`, `NO_PROXY`, as `reqwest` reads them), except for a loopback
/// endpoint (`127.0.0.0/8`, `::1`, `localhost`), which is always reached
/// directly: a corporate proxy cannot reach a server on this machine.
pub fn client(url: &str, limits: &Limits) -> Result<reqwest::Client, String> {
    client_builder(url, limits, reqwest::Client::builder())
        .build()
        .map_err(|e| format!("cannot build the HTTP client: {}", error_chain(&e)))
}

/// [`client`]'s settings applied to `builder`.
fn client_builder(
    url: &str,
    limits: &Limits,
    builder: reqwest::ClientBuilder,
) -> reqwest::ClientBuilder {
    let idle = limits.max_concurrency.unwrap_or(0).max(64);
    let builder = builder
        .user_agent(USER_AGENT)
        .connect_timeout(limits.connect_timeout)
        .pool_max_idle_per_host(idle)
        .pool_idle_timeout(Duration::from_secs(90))
        .tcp_nodelay(true)
        .tcp_keepalive(Duration::from_secs(60))
        .redirect(reqwest::redirect::Policy::custom(|attempt| {
            let previous = attempt.previous();
            if previous.len() > MAX_REDIRECTS {
                return attempt.error("too many redirects");
            }
            let same_origin = previous.first().is_some_and(|first| {
                first.scheme() == attempt.url().scheme()
                    && first.host_str() == attempt.url().host_str()
                    && first.port_or_known_default() == attempt.url().port_or_known_default()
            });
            if same_origin {
                attempt.follow()
            } else {
                attempt.stop()
            }
        }));
    if is_loopback_url(url) {
        // Clears every proxy, those of the environment included.
        builder.no_proxy()
    } else {
        builder
    }
}

/// Whether `url` names this machine: `localhost`, `127.0.0.0/8` or `::1`.
/// A URL that does not parse (still holding `${NAME}`) is not.
fn is_loopback_url(url: &str) -> bool {
    reqwest::Url::parse(url.trim())
        .ok()
        .and_then(|u| host_of(&u))
        .is_some_and(|h| h.is_loopback())
}

/// The host of a URL: an IP address or a domain name (ASCII, lowercase).
enum Host {
    Ip(std::net::IpAddr),
    Domain(String),
}

fn host_of(url: &reqwest::Url) -> Option<Host> {
    let host = url.host_str().filter(|h| !h.is_empty())?;
    let bare = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    Some(match bare.parse::<std::net::IpAddr>() {
        Ok(ip) => Host::Ip(ip),
        Err(_) => Host::Domain(host.to_ascii_lowercase()),
    })
}

impl Host {
    fn is_loopback(&self) -> bool {
        match self {
            Host::Domain(d) => d.strip_suffix('.').unwrap_or(d) == "localhost",
            Host::Ip(std::net::IpAddr::V4(ip)) => ip.is_loopback(),
            Host::Ip(std::net::IpAddr::V6(ip)) => {
                ip.is_loopback() || ip.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
            }
        }
    }
}

/// The proxy a request to `url` goes through, for messages only: its
/// scheme, host and port (credentials replaced by `[REDACTED]`), secrets
/// redacted; `None` when the request goes directly. Mirrors how `reqwest`
/// reads the environment (through `env`): no proxy for a loopback `url`
/// (see [`client`]) or under CGI (`REQUEST_METHOD` set); `HTTPS_PROXY` or
/// `https_proxy` for https, `HTTP_PROXY` or `http_proxy` for http (the
/// first one set), else `ALL_PROXY` or `all_proxy`; none for a host listed
/// in `NO_PROXY` or `no_proxy`.
pub fn proxy_for(url: &str, env: impl Fn(&str) -> Option<String>) -> Option<String> {
    let url = reqwest::Url::parse(url.trim()).ok()?;
    let host = host_of(&url)?;
    if host.is_loopback() || env("REQUEST_METHOD").is_some() {
        return None;
    }
    let first = |names: [&str; 2]| names.iter().find_map(|n| env(n)).unwrap_or_default();
    let specific = match url.scheme() {
        "https" => first(["HTTPS_PROXY", "https_proxy"]),
        "http" => first(["HTTP_PROXY", "http_proxy"]),
        _ => return None,
    };
    let proxy = proxy_text(&specific).or_else(|| proxy_text(&first(["ALL_PROXY", "all_proxy"])))?;
    let no_proxy = first(["NO_PROXY", "no_proxy"]);
    if no_proxy_matches(&no_proxy, &host) {
        return None;
    }
    Some(proxy)
}

/// A proxy setting as `scheme://host[:port]` (`http` when no scheme is
/// given), or `None` when `reqwest` would not use it either.
fn proxy_text(value: &str) -> Option<String> {
    let value = value.trim();
    if value.is_empty() {
        return None;
    }
    let with_scheme = if value.contains("://") {
        value.to_string()
    } else {
        format!("http://{value}")
    };
    let u = reqwest::Url::parse(&with_scheme).ok()?;
    if !matches!(
        u.scheme(),
        "http" | "https" | "socks4" | "socks4a" | "socks5" | "socks5h"
    ) {
        return None;
    }
    let host = u.host_str().filter(|h| !h.is_empty())?;
    let credentials = if u.username().is_empty() && u.password().is_none() {
        ""
    } else {
        "[REDACTED]@"
    };
    let port = u.port().map(|p| format!(":{p}")).unwrap_or_default();
    Some(crate::secret::redact(&format!(
        "{}://{credentials}{host}{port}",
        u.scheme()
    )))
}

/// Whether a `NO_PROXY` list exempts `host`, by the rules `reqwest` applies:
/// comma-separated entries; an IP address or network (`10.0.0.0/8`)
/// matches IP hosts; any other entry is a domain matching itself and its
/// subdomains (a leading `.` is optional), `*` matching every domain.
fn no_proxy_matches(list: &str, host: &Host) -> bool {
    list.split(',')
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .any(|entry| match (ip_entry(entry), host) {
            (Some(net), Host::Ip(ip)) => net.contains(*ip),
            (None, Host::Domain(domain)) => entry == "*" || domain_matches(entry, domain),
            _ => false,
        })
}

/// An IP address or network in a `NO_PROXY` list.
struct IpEntry {
    addr: std::net::IpAddr,
    prefix: u8,
}

impl IpEntry {
    fn contains(&self, ip: std::net::IpAddr) -> bool {
        use std::net::IpAddr::{V4, V6};
        match (self.addr, ip) {
            (V4(net), V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (V6(net), V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

fn ip_entry(entry: &str) -> Option<IpEntry> {
    let (addr, prefix) = match entry.split_once('/') {
        Some((addr, prefix)) => (addr, Some(prefix)),
        None => (entry, None),
    };
    let addr: std::net::IpAddr = addr.parse().ok()?;
    let max = if addr.is_ipv4() { 32 } else { 128 };
    let prefix = match prefix {
        Some(p) => p.parse::<u8>().ok().filter(|p| *p <= max)?,
        None => max,
    };
    Some(IpEntry { addr, prefix })
}

/// `domain` is `entry` (a leading `.` ignored) or one of its subdomains.
fn domain_matches(entry: &str, domain: &str) -> bool {
    let domain = domain.strip_suffix('.').unwrap_or(domain);
    let entry = entry.strip_prefix('.').unwrap_or(entry);
    if entry.is_empty() {
        return false;
    }
    let (domain, entry) = (domain.as_bytes(), entry.as_bytes());
    if domain.eq_ignore_ascii_case(entry) {
        return true;
    }
    domain.len() > entry.len()
        && domain[domain.len() - entry.len() - 1] == b'.'
        && domain[domain.len() - entry.len()..].eq_ignore_ascii_case(entry)
}

/// The wait a response asks for: `retry-after-ms` (milliseconds, possibly
/// fractional) first, then `Retry-After` as delta-seconds (integer or
/// fractional) or an HTTP date (a date in the past is zero).
pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    if let Some(ms) = headers
        .get("retry-after-ms")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<f64>().ok())
    {
        if let Some(d) = seconds(ms / 1000.0) {
            return Some(d);
        }
    }
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(secs) = value.parse::<f64>() {
        return seconds(secs);
    }
    let when = httpdate::parse_http_date(value).ok()?;
    Some(
        when.duration_since(SystemTime::now())
            .unwrap_or(Duration::ZERO),
    )
}

fn seconds(secs: f64) -> Option<Duration> {
    if secs.is_finite() && secs >= 0.0 {
        Duration::try_from_secs_f64(secs).ok()
    } else {
        None
    }
}

/// A non-2xx response as [`ProviderError::Http`]: the status, `Retry-After`,
/// and an excerpt of the body (for JSON error bodies such as OpenAI's
/// `{"error":{"message":..}}` or Anthropic's `{"type":"error","error":{..}}`,
/// the short `type: message`), secrets redacted.
pub async fn error_from_response(resp: reqwest::Response) -> ProviderError {
    let status = resp.status();
    let retry_after = retry_after(resp.headers());
    let body = match read_prefix(resp, MAX_ERROR_BODY_BYTES).await {
        Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
        Err(e) => format!("(body unreadable: {})", error_chain(&e.without_url())),
    };
    let summary = error_summary(&body).unwrap_or(body);
    // Servers often quote the request URL, percent-encoded.
    let mut body = excerpt(&redact_encoded(&summary), EXCERPT_CHARS);
    if body.is_empty() {
        body = match status.canonical_reason() {
            Some(reason) => format!("{reason} (empty body)"),
            None => "(empty body)".to_string(),
        };
    }
    ProviderError::Http {
        status: status.as_u16(),
        body,
        retry_after,
    }
}

/// A `reqwest` failure as [`ProviderError::Transport`] (connection refused or
/// reset, body cut off, connect timeout), with the error's source chain, secrets
/// redacted. Request-building and redirect failures are configuration
/// problems: [`ProviderError::Provider`]. The URL `reqwest` would quote is
/// left out: it is percent-encoded, so a secret in it escapes redaction.
pub fn transport_error(e: reqwest::Error) -> ProviderError {
    classify_error(e, None)
}

/// [`transport_error`] for sending a request to `url`, the URL as
/// configured (unencoded), which the message names, redacted.
pub fn send_error(url: &str, e: reqwest::Error) -> ProviderError {
    classify_error(e, Some(url))
}

fn classify_error(e: reqwest::Error, url: Option<&str>) -> ProviderError {
    let e = e.without_url();
    let mut msg = error_chain(&e);
    if let Some(url) = url {
        msg.push_str(&url_note(url, |name| std::env::var(name).ok()));
    }
    if e.is_builder() || e.is_redirect() {
        ProviderError::Provider(msg)
    } else if e.is_timeout() {
        ProviderError::Transport(format!("timed out: {msg}"))
    } else {
        ProviderError::Transport(msg)
    }
}

/// ` (url: <url>)` for an error message, with `, via proxy <proxy>` when
/// the request goes through one ([`proxy_for`], reading `env`): `reqwest`
/// does not say whether the connection that failed was the proxy's.
/// Secrets redacted.
fn url_note(url: &str, env: impl Fn(&str) -> Option<String>) -> String {
    let via = proxy_for(url, env)
        .map(|p| format!(", via proxy {p}"))
        .unwrap_or_default();
    format!(" (url: {}{via})", crate::secret::redact(url))
}

/// An error and its sources as one line (`a: b: c`), skipping sources whose
/// text the message already holds; secrets redacted. Strip the URL of a
/// `reqwest::Error` first (`without_url`): it is percent-encoded.
pub fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut msg = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !text.is_empty() && !msg.contains(&text) {
            msg.push_str(": ");
            msg.push_str(&text);
        }
        source = s.source();
    }
    crate::secret::redact(&msg)
}

/// A short `type: message` for a JSON error body, if it is one.
pub fn error_summary(body: &str) -> Option<String> {
    let v: Value = serde_json::from_str(body.trim()).ok()?;
    json_error_summary(&v)
}

/// A short `type: message` for a parsed error body: `{"error": "text"}`,
/// `{"error": {"type"|"code": .., "message": ..}}`, `{"message": ..}` or
/// `{"detail": "text"}`.
pub fn json_error_summary(v: &Value) -> Option<String> {
    fn kind_and_message(o: &Value) -> Option<String> {
        let message = o.get("message").and_then(Value::as_str)?;
        let kind = ["type", "code"]
            .iter()
            .filter_map(|k| o.get(*k))
            .find_map(|k| match k {
                Value::String(s) if !s.is_empty() && s != "error" => Some(s.clone()),
                Value::Number(n) => Some(n.to_string()),
                _ => None,
            });
        Some(match kind {
            Some(kind) => format!("{kind}: {message}"),
            None => message.to_string(),
        })
    }
    match v.get("error") {
        Some(Value::String(s)) => return Some(s.clone()),
        Some(e @ Value::Object(_)) => {
            if let Some(s) = kind_and_message(e) {
                return Some(s);
            }
        }
        _ => {}
    }
    if let Some(s) = kind_and_message(v) {
        return Some(s);
    }
    v.get("detail").and_then(Value::as_str).map(str::to_string)
}

/// An `error` object received inside a stream (an OpenAI error chunk, an
/// Anthropic `error` event, an `http` provider's `error` event). Transient
/// errors ([`is_transient_error`]) are [`ProviderError::Stream`] (retried);
/// anything else is [`ProviderError::Provider`].
pub fn stream_error(error: &Value) -> ProviderError {
    let msg = error_object_text(error);
    if is_transient_error(error) {
        ProviderError::Stream(format!("error event: {msg}"))
    } else {
        ProviderError::Provider(format!("error in stream: {msg}"))
    }
}

/// An `error` object in a successful (2xx), non-streamed answer (vLLM and
/// LiteLLM answer 200 with `{"error":{"type":"server_error","code":503}}`),
/// classified like [`stream_error`]. A transient error is a retryable
/// [`ProviderError::Http`] with the status the object states (`code` or
/// `status`, when it is a retryable HTTP status), else 502 (a gateway
/// relaying an upstream failure), its body noting the error came in a
/// successful response; anything else is [`ProviderError::Provider`].
pub fn response_error(error: &Value) -> ProviderError {
    let msg = error_object_text(error);
    if is_transient_error(error) {
        let status = ["code", "status"]
            .iter()
            .filter_map(|k| error.get(*k))
            .filter_map(|v| match v {
                Value::Number(n) => n.as_u64(),
                Value::String(s) => s.trim().parse().ok(),
                _ => None,
            })
            .find(|n| is_retryable_status(*n))
            .and_then(|n| u16::try_from(n).ok())
            .unwrap_or(502);
        ProviderError::Http {
            status,
            body: format!("{msg} (error object in a successful response)"),
            retry_after: None,
        }
    } else {
        ProviderError::Provider(format!("error in response: {msg}"))
    }
}

/// `type: message` of an error object (a string as is), an excerpt,
/// secrets redacted.
fn error_object_text(error: &Value) -> String {
    let wrapped = serde_json::json!({ "error": error });
    let summary = json_error_summary(&wrapped).unwrap_or_else(|| compact(error));
    excerpt(&summary, EXCERPT_CHARS)
}

/// Whether an error object reports a transient failure, worth another try:
/// its `type`, `code` or `status` names an overload, rate-limit, server or
/// timeout error, or is an HTTP status that is retried (408, 429, 5xx).
pub fn is_transient_error(error: &Value) -> bool {
    let transient_kind = |s: &str| {
        matches!(
            s,
            "overloaded_error"
                | "overloaded"
                | "api_error"
                | "server_error"
                | "internal_error"
                | "internal_server_error"
                | "rate_limit_error"
                | "rate_limit_exceeded"
                | "timeout_error"
                | "service_unavailable"
        )
    };
    ["type", "code", "status"]
        .iter()
        .filter_map(|k| error.get(*k))
        .any(|v| match v {
            Value::String(s) => {
                transient_kind(s) || s.trim().parse::<u64>().is_ok_and(is_retryable_status)
            }
            Value::Number(n) => n.as_u64().is_some_and(is_retryable_status),
            _ => false,
        })
}

/// HTTP statuses an error object may state that are worth another try.
fn is_retryable_status(n: u64) -> bool {
    n == 408 || n == 429 || (500..=599).contains(&n)
}

/// Read a whole body, at most `limit` bytes. A body cut off mid-way is a
/// transport error; a larger body is a provider error.
pub async fn read_body(
    mut resp: reqwest::Response,
    limit: usize,
) -> Result<Vec<u8>, ProviderError> {
    if resp.content_length().is_some_and(|n| n > limit as u64) {
        return Err(too_large(limit));
    }
    let mut out = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(transport_error)? {
        if out.len() + chunk.len() > limit {
            return Err(too_large(limit));
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}

fn too_large(limit: usize) -> ProviderError {
    ProviderError::Provider(format!("response body larger than {} MiB", limit >> 20))
}

/// The first `limit` bytes of a body (the rest is not read).
async fn read_prefix(mut resp: reqwest::Response, limit: usize) -> Result<Vec<u8>, reqwest::Error> {
    let mut out = Vec::new();
    while let Some(chunk) = resp.chunk().await? {
        let room = limit.saturating_sub(out.len());
        out.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if out.len() >= limit {
            break;
        }
    }
    Ok(out)
}

/// Whether a response is a server-sent event stream.
pub fn is_event_stream(resp: &reqwest::Response) -> bool {
    resp.headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.trim()
                .to_ascii_lowercase()
                .starts_with("text/event-stream")
        })
}

/// Header names whose values must never be logged.
fn is_sensitive(name: &HeaderName) -> bool {
    crate::secret::SENSITIVE_HEADERS.contains(&name.as_str())
}

/// `defaults` with the configured headers applied over them: a configured
/// name replaces the default of the same name; repeated configured names
/// are all sent. Errors name the header, never its value.
pub fn header_map(
    defaults: Vec<(HeaderName, HeaderValue)>,
    configured: &[(String, String)],
) -> Result<HeaderMap, String> {
    let mut map = HeaderMap::new();
    for (name, mut value) in defaults {
        if is_sensitive(&name) {
            value.set_sensitive(true);
        }
        map.insert(name, value);
    }
    let mut replaced: Vec<HeaderName> = Vec::new();
    for (name, value) in configured {
        let n = HeaderName::from_bytes(name.trim().as_bytes())
            .map_err(|_| format!("invalid header name `{}`", crate::secret::redact(name)))?;
        let mut v = HeaderValue::from_str(value.trim()).map_err(|_| {
            format!("the value of header `{n}` is not a valid header value (visible ASCII only)")
        })?;
        if is_sensitive(&n) {
            v.set_sensitive(true);
            crate::secret::register(value.trim());
        }
        if !replaced.contains(&n) {
            map.remove(&n);
            replaced.push(n.clone());
        }
        map.append(n, v);
    }
    Ok(map)
}

/// A sensitive header value from a secret (e.g. `Bearer <key>`).
pub fn secret_header(value: &str) -> Result<HeaderValue, String> {
    let mut v = HeaderValue::from_str(value)
        .map_err(|_| "the API key is not a valid header value (visible ASCII only)".to_string())?;
    v.set_sensitive(true);
    Ok(v)
}

/// Check that `url` is an absolute http(s) URL. The error never quotes it
/// unredacted. A URL still holding `${NAME}` references (a provider built
/// only for its request keys, with nothing read from the environment) is
/// not checked: it is never called.
pub fn check_url(url: &str) -> Result<(), String> {
    if url.contains("${") {
        return Ok(());
    }
    let parsed = reqwest::Url::parse(url)
        .map_err(|e| format!("invalid URL `{}`: {e}", crate::secret::redact(url)))?;
    match parsed.scheme() {
        "http" | "https" => Ok(()),
        other => Err(format!(
            "unsupported URL scheme `{other}` in `{}` (use http or https)",
            crate::secret::redact(url)
        )),
    }
}

/// `base` (an absolute http(s) URL, possibly with a query such as
/// `?api-version=…`) with `suffix` (`/chat/completions`) appended to its
/// path, trailing slashes of the path dropped first; the query is kept.
/// `Ok(None)` for a URL still holding `${NAME}` references (a provider built
/// only for its request keys: never called). Errors never quote it unredacted.
pub fn join_url(base: &str, suffix: &str) -> Result<Option<reqwest::Url>, String> {
    let base = base.trim();
    if base.contains("${") {
        return Ok(None);
    }
    check_url(base)?;
    let mut url = reqwest::Url::parse(base)
        .map_err(|e| format!("invalid URL `{}`: {e}", crate::secret::redact(base)))?;
    let path = format!("{}{suffix}", url.path().trim_end_matches('/'));
    url.set_path(&path);
    Ok(Some(url))
}

/// The text of [`join_url`]`(base, suffix)` as configured (not
/// percent-encoded), for messages: pass it through [`crate::secret::redact`].
pub fn join_url_text(base: &str, suffix: &str) -> String {
    let base = base.trim();
    let cut = base.find(['?', '#']).unwrap_or(base.len());
    let (head, rest) = base.split_at(cut);
    format!("{}{suffix}{rest}", head.trim_end_matches('/'))
}

/// `text` with secrets redacted, also where it quotes them percent-encoded
/// (a server echoing the request URL). Encoded text holds no whitespace, so
/// each whitespace-separated word is decoded (`%XX`, then also `+` as a
/// space); a word whose decoded form shows a secret is replaced by that
/// form, redacted. Other words are kept as they are.
pub fn redact_encoded(text: &str) -> String {
    let plain = crate::secret::redact(text);
    if !crate::secret::any() || !(plain.contains('%') || plain.contains('+')) {
        return plain;
    }
    let mut out = String::with_capacity(plain.len());
    for piece in plain.split_inclusive(char::is_whitespace) {
        let word = piece.trim_end_matches(char::is_whitespace);
        let space = &piece[word.len()..];
        let revealed = if word.contains('%') || word.contains('+') {
            [false, true].into_iter().find_map(|plus_is_space| {
                let decoded = percent_decode(word, plus_is_space);
                let redacted = crate::secret::redact(&decoded);
                (redacted != decoded).then_some(redacted)
            })
        } else {
            None
        };
        out.push_str(revealed.as_deref().unwrap_or(word));
        out.push_str(space);
    }
    out
}

/// `%XX` sequences decoded (invalid UTF-8 replaced), optionally `+` as a space.
fn percent_decode(text: &str, plus_is_space: bool) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push((h * 16 + l) as u8);
                    i += 3;
                    continue;
                }
                _ => out.push(b'%'),
            },
            b'+' if plus_is_space => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Milliseconds since `start`.
/// What a chat API answered: an event stream still to read, or a whole
/// JSON body (already read, with the latency to its end).
pub enum Posted {
    Stream(reqwest::Response),
    Json {
        value: serde_json::Value,
        text: String,
        latency_ms: f64,
    },
}

/// Where a chat API provider (`openai`, `anthropic`) sends its requests:
/// the client, the URL and the headers, built once.
pub struct ChatEndpoint {
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
}

impl ChatEndpoint {
    /// `path` is the API's (`/chat/completions`, `/v1/messages`);
    /// `configured` headers (values resolved) replace `defaults` of the same name.
    pub fn new(
        base_url: &str,
        path: &str,
        defaults: Vec<(reqwest::header::HeaderName, reqwest::header::HeaderValue)>,
        configured: &[(String, String)],
        limits: &Limits,
    ) -> Result<Self, String> {
        let url = join_url(base_url, path)?;
        Ok(ChatEndpoint {
            client: client(base_url, limits)?,
            base_url: base_url.trim().trim_end_matches('/').to_string(),
            url,
            url_text: join_url_text(base_url, path),
            headers: header_map(defaults, configured)?,
        })
    }

    /// The configured base URL (hashed into cache keys, never displayed).
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// POST `body`. Non-2xx answers, transport errors and malformed JSON
    /// become the matching [`ProviderError`]; an event stream is returned
    /// unread. `start` is when the request was sent.
    pub async fn post(&self, body: String, start: Instant) -> Result<Posted, ProviderError> {
        let Some(url) = &self.url else {
            return Err(ProviderError::Provider(format!(
                "`base_url` `{}` still holds `${{NAME}}` references",
                crate::secret::redact(&self.base_url)
            )));
        };
        let resp = self
            .client
            .post(url.clone())
            .headers(self.headers.clone())
            .body(body)
            .send()
            .await
            .map_err(|e| send_error(&self.url_text, e))?;
        if !resp.status().is_success() {
            return Err(error_from_response(resp).await);
        }
        if is_event_stream(&resp) {
            return Ok(Posted::Stream(resp));
        }
        let bytes = read_body(resp, MAX_BODY_BYTES).await?;
        let latency_ms = elapsed_ms(start);
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let value = serde_json::from_str(&text).map_err(|_| {
            ProviderError::Provider(format!(
                "malformed JSON response: {}",
                excerpt(&text, EXCERPT_CHARS)
            ))
        })?;
        Ok(Posted::Json {
            value,
            text,
            latency_ms,
        })
    }
}

pub fn elapsed_ms(start: Instant) -> f64 {
    start.elapsed().as_secs_f64() * 1000.0
}

/// Compact JSON text of a value.
pub fn compact(v: &Value) -> String {
    serde_json::to_string(v).unwrap_or_default()
}

/// `v` with the keys of every object sorted (serde_json keeps insertion
/// order in this crate), for deterministic request keys.
pub fn sorted_json(v: &Value) -> Value {
    match v {
        Value::Object(m) => {
            let sorted: BTreeMap<&String, &Value> = m.iter().collect();
            Value::Object(
                sorted
                    .into_iter()
                    .map(|(k, v)| (k.clone(), sorted_json(v)))
                    .collect(),
            )
        }
        Value::Array(a) => Value::Array(a.iter().map(sorted_json).collect()),
        other => other.clone(),
    }
}

/// A token count: a non-negative integer, an integral float or a numeric string.
pub fn json_u64(v: &Value) -> Option<u64> {
    match v {
        Value::Number(n) => n.as_u64().or_else(|| {
            n.as_f64()
                .filter(|f| f.is_finite() && *f >= 0.0 && f.fract() == 0.0 && *f <= u64::MAX as f64)
                .map(|f| f as u64)
        }),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// Usage from two optional counts: `None` when neither is known.
pub fn usage_of(input: Option<u64>, output: Option<u64>) -> Option<Usage> {
    if input.is_none() && output.is_none() {
        return None;
    }
    let input_tokens = input.unwrap_or(0);
    let output_tokens = output.unwrap_or(0);
    Some(Usage {
        input_tokens,
        output_tokens,
        total_tokens: input_tokens.saturating_add(output_tokens),
    })
}

/// Text of a JSON value for an output: a string as is, anything else as compact JSON.
fn value_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => compact(other),
    }
}

/// The `http` provider: any JSON/HTTP API.
pub struct HttpApi {
    name: String,
    client: reqwest::Client,
    method: reqwest::Method,
    url: String,
    headers: HeaderMap,
    body: Option<Value>,
    env: minijinja::Environment<'static>,
    output: Extract,
    usage_input: Option<String>,
    usage_output: Option<String>,
    stream: Option<HttpStream>,
}

impl HttpApi {
    /// `url` has its `${NAME}` references expanded, `headers` are the
    /// resolved values, `api_key` (when set) adds `Authorization: Bearer`.
    /// Templates, pointers, the method, the URL and the headers are checked here.
    pub fn new(
        name: &str,
        cfg: &HttpConfig,
        url: String,
        headers: Vec<(String, String)>,
        api_key: Option<String>,
        limits: &Limits,
    ) -> Result<Self, String> {
        let method_text = cfg.method.trim().to_ascii_uppercase();
        let method = reqwest::Method::from_bytes(method_text.as_bytes())
            .map_err(|_| format!("invalid HTTP method `{}`", cfg.method))?;
        check_url(&url)?;
        for (what, pointer) in [
            (
                "output",
                match &cfg.output {
                    Extract::Pointer(p) => Some(p),
                    Extract::Raw => None,
                },
            ),
            ("usage_input", cfg.usage_input.as_ref()),
            ("usage_output", cfg.usage_output.as_ref()),
            (
                "stream.delta",
                match cfg.stream.as_ref().map(|s| &s.delta) {
                    Some(Extract::Pointer(p)) => Some(p),
                    _ => None,
                },
            ),
        ] {
            if let Some(p) = pointer {
                check_pointer(what, p)?;
            }
        }
        let env = crate::template::environment();
        if let Some(body) = &cfg.body {
            check_templates(&env, body, "body")?;
        }

        let mut defaults = Vec::new();
        match &cfg.body {
            Some(Value::String(_)) => defaults.push((
                CONTENT_TYPE,
                HeaderValue::from_static("text/plain; charset=utf-8"),
            )),
            Some(_) => defaults.push((CONTENT_TYPE, HeaderValue::from_static("application/json"))),
            None => {}
        }
        if cfg.stream.is_some() {
            defaults.push((ACCEPT, HeaderValue::from_static("text/event-stream")));
        }
        if let Some(key) = &api_key {
            crate::secret::register(key);
            defaults.push((
                reqwest::header::AUTHORIZATION,
                secret_header(&format!("Bearer {key}"))?,
            ));
        }
        let headers = header_map(defaults, &headers)?;
        Ok(HttpApi {
            name: name.to_string(),
            client: client(&url, limits)?,
            method,
            url,
            headers,
            body: cfg.body.clone(),
            env,
            output: cfg.output.clone(),
            usage_input: cfg.usage_input.clone(),
            usage_output: cfg.usage_output.clone(),
            stream: cfg.stream.clone(),
        })
    }

    /// The body for `request`, or a description of the template error.
    pub fn render_body(&self, request: &Request) -> Result<Option<Value>, String> {
        let Some(body) = &self.body else {
            return Ok(None);
        };
        let ctx = minijinja::Value::from_serialize(serde_json::json!({
            "prompt": request.prompt_text(),
            "messages": request.messages,
            "case": {
                "id": request.case_id,
                "suite": request.suite,
                "repeat": request.repeat,
            },
            "vars": request.vars,
        }));
        render_value(&self.env, body, &ctx, "body").map(Some)
    }

    fn usage(&self, json: &Value) -> Option<Usage> {
        let get = |p: &Option<String>| p.as_ref().and_then(|p| json.pointer(p)).and_then(json_u64);
        usage_of(get(&self.usage_input), get(&self.usage_output))
    }

    async fn read_stream(
        &self,
        resp: reqwest::Response,
        stream: &HttpStream,
        start: Instant,
        started_at: SystemTime,
    ) -> Result<Response, ProviderError> {
        let content_type = (!is_event_stream(&resp)).then(|| {
            resp.headers()
                .get(CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("no content type")
                .to_string()
        });
        let mut reader = SseReader::new(resp, start);
        let mut text = String::new();
        let mut arrivals = Vec::new();
        let mut usage = None;
        let wants_json = matches!(stream.delta, Extract::Pointer(_))
            || self.usage_input.is_some()
            || self.usage_output.is_some();
        loop {
            let Some(event) = reader.next_event().await? else {
                if let (Some(ct), 0) = (&content_type, reader.events_received()) {
                    return Err(ProviderError::Provider(format!(
                        "`stream` is set but the response ({ct}) holds no server-sent events"
                    )));
                }
                if let Some(done) = &stream.done {
                    return Err(ProviderError::Stream(format!(
                        "stream ended before `{done}` after {} events{}",
                        reader.events_received(),
                        received(&text)
                    )));
                }
                break;
            };
            if stream
                .done
                .as_deref()
                .is_some_and(|d| event.data.trim() == d.trim())
            {
                break;
            }
            if event.event == "error" {
                return Err(error_event(&event.data));
            }
            let json: Option<Value> = if wants_json {
                serde_json::from_str(&event.data).ok()
            } else {
                None
            };
            if let Some(j) = &json {
                if let Some(u) = self.usage(j) {
                    usage = Some(u);
                }
            }
            let delta = match &stream.delta {
                Extract::Raw => event.data,
                Extract::Pointer(p) => {
                    let Some(j) = &json else {
                        return Err(ProviderError::Stream(format!(
                            "malformed event (not JSON, needed for delta pointer `{p}`): {}",
                            excerpt(&event.data, EXCERPT_CHARS)
                        )));
                    };
                    match j.pointer(p) {
                        None | Some(Value::Null) => continue,
                        Some(v) => value_text(v),
                    }
                }
            };
            if !delta.is_empty() {
                arrivals.push(event.at_ms);
                text.push_str(&delta);
            }
        }
        let mut timing = Timing {
            started_at: Some(started_at),
            latency_ms: elapsed_ms(start),
            ..Default::default()
        };
        timing.set_stream(&arrivals);
        Ok(Response {
            text,
            timing,
            usage,
            ..Default::default()
        })
    }
}

/// An `http` provider's `error` event, classified like an error object in
/// a chat stream ([`stream_error`]): its data as JSON (the `error` member
/// when there is one, as in `{"type":"error","error":{..}}`), or as text.
fn error_event(data: &str) -> ProviderError {
    match serde_json::from_str::<Value>(data.trim()) {
        Ok(v) => {
            let error = v.get("error").filter(|e| !e.is_null()).unwrap_or(&v);
            stream_error(error)
        }
        Err(_) => stream_error(&Value::String(data.trim().to_string())),
    }
}

/// ` (received N characters of text)` for stream error messages.
pub fn received(text: &str) -> String {
    if text.is_empty() {
        " (no text received)".to_string()
    } else {
        format!(" (received {} characters of text)", text.chars().count())
    }
}

fn check_pointer(what: &str, pointer: &str) -> Result<(), String> {
    if pointer.is_empty() || pointer.starts_with('/') {
        Ok(())
    } else {
        Err(format!(
            "`{what}` pointer `{pointer}` must be empty or start with `/` (RFC 6901), e.g. `/{pointer}`"
        ))
    }
}

/// The expression of a string that is exactly one `{{ expr }}`.
fn single_expression(s: &str) -> Option<&str> {
    let inner = s.trim().strip_prefix("{{")?.strip_suffix("}}")?;
    let inner = inner.strip_prefix(['-', '+']).unwrap_or(inner);
    let inner = inner.strip_suffix(['-', '+']).unwrap_or(inner);
    if ["{{", "}}", "{%", "%}", "{#", "#}"]
        .iter()
        .any(|t| inner.contains(t))
    {
        return None;
    }
    let inner = inner.trim();
    (!inner.is_empty()).then_some(inner)
}

fn check_templates(env: &minijinja::Environment<'_>, v: &Value, path: &str) -> Result<(), String> {
    match v {
        Value::String(s) if crate::template::is_template(s) => {
            let result = match single_expression(s) {
                Some(expr) => env.compile_expression(expr).map(|_| ()),
                None => env.template_from_str(s).map(|_| ()),
            };
            result.map_err(|e| {
                format!(
                    "invalid template in `{path}`: {}",
                    crate::template::describe(&e)
                )
            })
        }
        Value::Array(items) => items
            .iter()
            .enumerate()
            .try_for_each(|(i, item)| check_templates(env, item, &format!("{path}[{i}]"))),
        Value::Object(m) => m
            .iter()
            .try_for_each(|(k, item)| check_templates(env, item, &format!("{path}.{k}"))),
        _ => Ok(()),
    }
}

fn render_value(
    env: &minijinja::Environment<'_>,
    v: &Value,
    ctx: &minijinja::Value,
    path: &str,
) -> Result<Value, String> {
    let fail = |e: minijinja::Error| format!("`{path}`: {}", crate::template::describe(&e));
    match v {
        Value::String(s) if crate::template::is_template(s) => match single_expression(s) {
            Some(expr) => {
                let value = env
                    .compile_expression(expr)
                    .and_then(|e| e.eval(ctx))
                    .map_err(fail)?;
                if value.is_undefined() {
                    return Err(format!("`{path}`: `{expr}` is undefined"));
                }
                serde_json::to_value(&value)
                    .map_err(|e| format!("`{path}`: `{expr}` is not representable as JSON: {e}"))
            }
            None => crate::template::render(env, s, ctx)
                .map(Value::String)
                .map_err(|e| format!("`{path}`: {e}")),
        },
        Value::Array(items) => items
            .iter()
            .enumerate()
            .map(|(i, item)| render_value(env, item, ctx, &format!("{path}[{i}]")))
            .collect::<Result<Vec<_>, _>>()
            .map(Value::Array),
        Value::Object(m) => m
            .iter()
            .map(|(k, item)| {
                Ok((
                    k.clone(),
                    render_value(env, item, ctx, &format!("{path}.{k}"))?,
                ))
            })
            .collect::<Result<serde_json::Map<_, _>, String>>()
            .map(Value::Object),
        other => Ok(other.clone()),
    }
}

impl Provider for HttpApi {
    fn name(&self) -> &str {
        &self.name
    }

    fn complete<'a>(
        &'a self,
        request: &'a Request,
    ) -> BoxFuture<'a, Result<Response, ProviderError>> {
        Box::pin(async move {
            let body = self.render_body(request).map_err(|e| {
                ProviderError::Provider(format!("cannot render the request body: {e}"))
            })?;
            let mut builder = self
                .client
                .request(self.method.clone(), &self.url)
                .headers(self.headers.clone());
            match body {
                Some(Value::String(s)) => builder = builder.body(s),
                Some(v) => builder = builder.body(compact(&v)),
                None => {}
            }
            let started_at = SystemTime::now();
            let start = Instant::now();
            let resp = builder.send().await.map_err(|e| send_error(&self.url, e))?;
            if !resp.status().is_success() {
                return Err(error_from_response(resp).await);
            }
            if let Some(stream) = &self.stream {
                return self.read_stream(resp, stream, start, started_at).await;
            }
            let bytes = read_body(resp, MAX_BODY_BYTES).await?;
            let latency_ms = elapsed_ms(start);
            let body_text = String::from_utf8_lossy(&bytes);
            let json: Option<Value> = serde_json::from_slice(&bytes).ok();
            let text = match &self.output {
                Extract::Raw => body_text.into_owned(),
                Extract::Pointer(p) => {
                    let Some(j) = &json else {
                        return Err(ProviderError::Provider(format!(
                            "response is not JSON (needed for output pointer `{p}`): {}",
                            excerpt(&body_text, EXCERPT_CHARS)
                        )));
                    };
                    match j.pointer(p) {
                        Some(v) => value_text(v),
                        None => {
                            return Err(ProviderError::Provider(format!(
                                "output pointer `{p}` not found in the response: {}",
                                excerpt(&body_text, EXCERPT_CHARS)
                            )))
                        }
                    }
                }
            };
            Ok(Response {
                text,
                timing: Timing {
                    started_at: Some(started_at),
                    latency_ms,
                    ..Default::default()
                },
                usage: json.as_ref().and_then(|j| self.usage(j)),
                ..Default::default()
            })
        })
    }

    fn request_key(&self, request: &Request) -> Value {
        match self.render_body(request) {
            Ok(body) => serde_json::json!({
                "type": "http",
                "method": self.method.as_str(),
                "body": body,
            }),
            Err(e) => serde_json::json!({
                "type": "http",
                "method": self.method.as_str(),
                "body_error": e,
                "messages": request.messages,
            }),
        }
    }

    /// The method and URL, unredacted (two URLs differing only in an
    /// expanded secret must not share cached answers). Only hashed into the
    /// response cache key, never displayed.
    fn endpoint(&self) -> String {
        format!("{} {}", self.method, self.url)
    }
}

/// Helpers for the provider tests.
#[cfg(test)]
pub(crate) mod test_support {
    use std::time::Duration;

    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use crate::provider::{Message, Request};

    pub fn request(messages: &[(&str, &str)]) -> Request {
        Request {
            suite: "s".into(),
            case_id: "c".into(),
            repeat: 1,
            messages: messages
                .iter()
                .map(|(role, content)| Message {
                    role: role.to_string(),
                    content: content.to_string(),
                })
                .collect(),
            timeout: Duration::from_secs(5),
            vars: serde_json::json!({}),
            call: std::borrow::Cow::Borrowed(crate::provider::ANSWER),
            observer: None,
        }
    }

    /// A secret with characters a URL percent-encodes.
    pub const SPACED_SECRET: &str = "sig with spaces \"quoted\" 8Jw3Qp";

    /// `secret` as it appears percent-encoded in a query.
    pub fn encoded(secret: &str) -> String {
        let url = reqwest::Url::parse(&format!("http://x/?s={secret}")).unwrap();
        let enc = url.query().unwrap().trim_start_matches("s=").to_string();
        assert_ne!(enc, secret);
        enc
    }

    /// An address on 127.0.0.1 where nothing listens (bound, then released).
    pub fn free_port() -> std::net::SocketAddr {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    }

    /// A server on 127.0.0.1 that answers one request with a 200 chunked
    /// response of content type `content_type` carrying `partial` as one
    /// chunk, then closes the connection without the final chunk.
    pub async fn dropping_server(content_type: &'static str, partial: &'static str) -> String {
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
}

#[cfg(test)]
mod tests {
    use super::test_support::{dropping_server, encoded, free_port, request, SPACED_SECRET};
    use super::*;
    use wiremock::matchers::{body_json, header, method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.insert(
                HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        map
    }

    fn config(body: Option<Value>, output: Extract) -> HttpConfig {
        HttpConfig {
            method: "POST".into(),
            url: String::new(),
            headers: vec![],
            api_key_env: None,
            body,
            output,
            usage_input: None,
            usage_output: None,
            stream: None,
        }
    }

    fn api(server: &MockServer, cfg: &HttpConfig) -> HttpApi {
        HttpApi::new(
            "h",
            cfg,
            format!("{}/gen", server.uri()),
            vec![],
            None,
            &Limits::default(),
        )
        .unwrap()
    }

    #[test]
    fn retry_after_ms_first_and_fractional() {
        let h = headers(&[("retry-after-ms", "1500.5"), ("retry-after", "30")]);
        assert_eq!(retry_after(&h), Some(Duration::from_micros(1_500_500)));
        let h = headers(&[("retry-after-ms", "nonsense"), ("retry-after", "2")]);
        assert_eq!(retry_after(&h), Some(Duration::from_secs(2)));
        let h = headers(&[("retry-after-ms", "-5")]);
        assert_eq!(retry_after(&h), None);
    }

    #[test]
    fn retry_after_seconds_integer_and_fractional() {
        assert_eq!(
            retry_after(&headers(&[("retry-after", "7")])),
            Some(Duration::from_secs(7))
        );
        assert_eq!(
            retry_after(&headers(&[("retry-after", " 0.25 ")])),
            Some(Duration::from_millis(250))
        );
        assert_eq!(retry_after(&headers(&[("retry-after", "soon")])), None);
        assert_eq!(retry_after(&headers(&[("retry-after", "-1")])), None);
        assert_eq!(retry_after(&headers(&[("retry-after", "1e400")])), None);
        assert_eq!(retry_after(&HeaderMap::new()), None);
    }

    #[test]
    fn retry_after_http_date_future_and_past() {
        let future = httpdate::fmt_http_date(SystemTime::now() + Duration::from_secs(30));
        let d = retry_after(&headers(&[("retry-after", &future)])).unwrap();
        assert!(
            d > Duration::from_secs(28) && d <= Duration::from_secs(30),
            "{d:?}"
        );
        let past = "Wed, 21 Oct 2015 07:28:00 GMT";
        assert_eq!(
            retry_after(&headers(&[("retry-after", past)])),
            Some(Duration::ZERO)
        );
    }

    #[test]
    fn error_summaries_of_known_shapes() {
        assert_eq!(
            error_summary(
                r#"{"error":{"message":"Bad model","type":"invalid_request_error","code":null}}"#
            )
            .as_deref(),
            Some("invalid_request_error: Bad model")
        );
        assert_eq!(
            error_summary(
                r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#
            )
            .as_deref(),
            Some("overloaded_error: Overloaded")
        );
        assert_eq!(
            error_summary(r#"{"error":"nope"}"#).as_deref(),
            Some("nope")
        );
        assert_eq!(
            error_summary(r#"{"detail":"Not Found"}"#).as_deref(),
            Some("Not Found")
        );
        assert_eq!(error_summary("<html>oops</html>"), None);
    }

    #[test]
    fn stream_errors_are_retryable_only_for_transient_kinds() {
        let e =
            stream_error(&serde_json::json!({"type":"overloaded_error","message":"Overloaded"}));
        assert!(
            matches!(e, ProviderError::Stream(_)) && e.retryable(),
            "{e}"
        );
        let e = stream_error(&serde_json::json!({"type":"invalid_request_error","message":"bad"}));
        assert!(matches!(e, ProviderError::Provider(_)), "{e}");
        assert!(e.to_string().contains("invalid_request_error: bad"), "{e}");
    }

    #[test]
    fn error_objects_in_successful_responses_are_classified_like_stream_errors() {
        // LiteLLM and vLLM answer 200 with the status they meant in `code`.
        let e = response_error(&serde_json::json!({
            "type": "server_error", "code": 503, "message": "Service Unavailable"
        }));
        assert!(e.retryable(), "{e}");
        assert!(matches!(e, ProviderError::Http { status: 503, .. }), "{e}");
        assert_eq!(
            e.to_string(),
            "HTTP 503: server_error: Service Unavailable (error object in a successful response)"
        );
        let e = response_error(&serde_json::json!({"code": "429", "message": "slow down"}));
        assert!(matches!(e, ProviderError::Http { status: 429, .. }), "{e}");
        // A transient kind without a status: 502.
        let e = response_error(&serde_json::json!({"type": "overloaded_error", "message": "Busy"}));
        assert!(matches!(e, ProviderError::Http { status: 502, .. }), "{e}");
        assert!(e.retryable());
        // Anything else is final, as in a stream.
        for err in [
            serde_json::json!({"type": "invalid_request_error", "message": "bad", "code": 400}),
            serde_json::json!("plain text"),
            serde_json::json!({"message": "no kind"}),
        ] {
            let e = response_error(&err);
            assert!(matches!(e, ProviderError::Provider(_)), "{e}");
            assert!(e.to_string().contains("error in response: "), "{e}");
            assert_eq!(
                e.retryable(),
                stream_error(&err).retryable(),
                "{err} is classified alike"
            );
        }
        for err in [
            serde_json::json!({"type": "server_error", "code": 503, "message": "x"}),
            serde_json::json!({"status": 500, "message": "x"}),
            serde_json::json!({"type": "rate_limit_exceeded", "message": "x"}),
        ] {
            assert!(response_error(&err).retryable(), "{err}");
            assert!(stream_error(&err).retryable(), "{err}");
        }
    }

    #[test]
    fn loopback_urls_are_recognised() {
        for url in [
            "http://127.0.0.1:8080/v1",
            "http://127.9.8.7/",
            "http://localhost:11434",
            "https://LOCALHOST./v1",
            "http://[::1]:8000/v1",
            "http://[::ffff:127.0.0.1]/",
            " http://localhost/ ",
        ] {
            assert!(is_loopback_url(url), "{url}");
        }
        for url in [
            "http://10.0.0.1/",
            "https://api.openai.com/v1",
            "http://localhost.example.com/",
            "http://mylocalhost/",
            "http://[::2]/",
            "${BASE_URL}/v1",
            "not a url",
        ] {
            assert!(!is_loopback_url(url), "{url}");
        }
    }

    /// An environment holding `vars` only.
    fn env_of<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn proxy_for_reads_the_environment_like_reqwest() {
        let corp = [
            ("HTTP_PROXY", "http://corp:3128"),
            ("HTTPS_PROXY", "corp-tls:3129"),
        ];
        let env = env_of(&corp);
        assert_eq!(
            proxy_for("http://api.example.com/v1", &env).as_deref(),
            Some("http://corp:3128")
        );
        // No scheme: http.
        assert_eq!(
            proxy_for("https://api.example.com/v1", &env).as_deref(),
            Some("http://corp-tls:3129")
        );
        // Never for loopback: the client does not use it either.
        for url in [
            "http://127.0.0.1:8080/v1",
            "https://localhost/",
            "http://[::1]/",
        ] {
            assert_eq!(proxy_for(url, &env), None, "{url}");
        }
        // Lowercase names, the upper case first; ALL_PROXY as the fallback.
        let env = env_of(&[
            ("http_proxy", "http://lower:1"),
            ("all_proxy", "socks5://all:2"),
        ]);
        assert_eq!(
            proxy_for("http://h/", &env).as_deref(),
            Some("http://lower:1")
        );
        assert_eq!(
            proxy_for("https://h/", &env).as_deref(),
            Some("socks5://all:2")
        );
        let env = env_of(&[
            ("HTTP_PROXY", "http://upper:1"),
            ("http_proxy", "http://lower:1"),
        ]);
        assert_eq!(
            proxy_for("http://h/", &env).as_deref(),
            Some("http://upper:1")
        );
        // An unusable value falls back to ALL_PROXY; none at all: direct.
        let env = env_of(&[("HTTP_PROXY", "ftp://x:1"), ("ALL_PROXY", "http://all:3")]);
        assert_eq!(
            proxy_for("http://h/", &env).as_deref(),
            Some("http://all:3")
        );
        assert_eq!(proxy_for("http://h/", env_of(&[])), None);
        // Credentials are never shown.
        let env = env_of(&[("HTTPS_PROXY", "http://user:pa55word@corp:3128/")]);
        let shown = proxy_for("https://h/", &env).unwrap();
        assert_eq!(shown, "http://[REDACTED]@corp:3128");
        // Under CGI reqwest uses no proxy.
        let env = env_of(&[
            ("HTTP_PROXY", "http://corp:3128"),
            ("REQUEST_METHOD", "GET"),
        ]);
        assert_eq!(proxy_for("http://h/", &env), None);
    }

    #[test]
    fn no_proxy_exempts_listed_hosts() {
        let no = |list: &'static str, url: &str| {
            let vars = [("HTTP_PROXY", "http://corp:3128"), ("NO_PROXY", list)];
            proxy_for(url, env_of(&vars)).is_none()
        };
        assert!(no("example.com", "http://example.com/"));
        assert!(no("example.com", "http://api.EXAMPLE.com/"));
        assert!(no(".example.com", "http://example.com/"));
        assert!(no("a.org, .example.com", "http://x.example.com/"));
        assert!(!no("example.com", "http://notexample.com/"));
        assert!(no("*", "http://anything.org/"));
        assert!(no("10.0.0.0/8", "http://10.1.2.3/"));
        assert!(!no("10.0.0.0/8", "http://11.1.2.3/"));
        assert!(no("192.168.1.5", "http://192.168.1.5:8000/"));
        assert!(no("fd00::/8", "http://[fd00::1]/"));
        assert!(!no("", "http://example.com/"));
        let vars = [
            ("HTTP_PROXY", "http://corp:3128"),
            ("no_proxy", "example.com"),
        ];
        assert_eq!(proxy_for("http://example.com/", env_of(&vars)), None);
    }

    #[test]
    fn url_notes_name_the_proxy() {
        let secret = "url-note-secret-3kd93Lx";
        crate::secret::register(secret);
        let vars = [("HTTPS_PROXY", "http://corp:3128")];
        assert_eq!(
            url_note(
                &format!("https://api.example.com/v1?key={secret}"),
                env_of(&vars)
            ),
            " (url: https://api.example.com/v1?key=[REDACTED], via proxy http://corp:3128)"
        );
        assert_eq!(
            url_note("http://127.0.0.1:9/v1", env_of(&vars)),
            " (url: http://127.0.0.1:9/v1)"
        );
    }

    #[tokio::test]
    async fn loopback_endpoints_bypass_proxies() {
        // Regression: a proxy from the environment (here set on the builder,
        // which is where the environment's go) was used for 127.0.0.1 too.
        let server = MockServer::start().await;
        Mock::given(path("/gen"))
            .respond_with(ResponseTemplate::new(200).set_body_string("direct"))
            .mount(&server)
            .await;
        let url = format!("{}/gen", server.uri());
        let bogus = || reqwest::Proxy::all(format!("http://{}", free_port())).unwrap();
        let limits = Limits::default();
        let with_proxy = reqwest::Client::builder().proxy(bogus()).build().unwrap();
        assert!(
            with_proxy.get(&url).send().await.is_err(),
            "the bogus proxy is used without the loopback rule"
        );
        let client = client_builder(&url, &limits, reqwest::Client::builder().proxy(bogus()))
            .build()
            .unwrap();
        let resp = client.get(&url).send().await.unwrap();
        assert_eq!(resp.text().await.unwrap(), "direct");
    }

    #[tokio::test]
    async fn other_hosts_keep_their_proxy() {
        // The mock server plays the proxy: it receives the request for the
        // unresolvable host.
        let proxy = MockServer::start().await;
        Mock::given(wiremock::matchers::any())
            .respond_with(ResponseTemplate::new(200).set_body_string("via proxy"))
            .expect(1)
            .mount(&proxy)
            .await;
        let url = "http://evalgate-proxy-test.invalid/gen";
        let client = client_builder(
            url,
            &Limits::default(),
            reqwest::Client::builder().proxy(reqwest::Proxy::http(proxy.uri()).unwrap()),
        )
        .build()
        .unwrap();
        let resp = client.get(url).send().await.unwrap();
        assert_eq!(resp.text().await.unwrap(), "via proxy");
    }

    #[test]
    fn sorted_json_sorts_nested_keys() {
        let v = serde_json::json!({"b": 1, "a": {"z": 1, "y": [ {"d": 1, "c": 2} ]}});
        assert_eq!(
            compact(&sorted_json(&v)),
            r#"{"a":{"y":[{"c":2,"d":1}],"z":1},"b":1}"#
        );
    }

    #[test]
    fn single_expressions_are_recognised() {
        assert_eq!(single_expression("{{ messages }}"), Some("messages"));
        assert_eq!(
            single_expression("  {{- case.repeat -}} "),
            Some("case.repeat")
        );
        assert_eq!(single_expression("{{ a }} {{ b }}"), None);
        assert_eq!(single_expression("x {{ a }}"), None);
    }

    #[test]
    fn new_rejects_bad_configuration() {
        let limits = Limits::default();
        let mut cfg = config(None, Extract::Pointer("out".into()));
        let err = HttpApi::new("h", &cfg, "http://x/".into(), vec![], None, &limits)
            .err()
            .unwrap();
        assert!(err.contains("must be empty or start with `/`"), "{err}");
        cfg.output = Extract::Raw;
        cfg.body = Some(serde_json::json!({"p": "{{ prompt "}));
        let err = HttpApi::new("h", &cfg, "http://x/".into(), vec![], None, &limits)
            .err()
            .unwrap();
        assert!(err.contains("body.p"), "{err}");
        cfg.body = None;
        let err = HttpApi::new("h", &cfg, "ftp://x/".into(), vec![], None, &limits)
            .err()
            .unwrap();
        assert!(err.contains("scheme"), "{err}");
        // Unexpanded references: built for request keys only, not checked.
        assert!(HttpApi::new("h", &cfg, "${BASE}/gen".into(), vec![], None, &limits).is_ok());
        let err = HttpApi::new("h", &cfg, "not a url".into(), vec![], None, &limits)
            .err()
            .unwrap();
        assert!(err.contains("invalid URL"), "{err}");
        let err = HttpApi::new(
            "h",
            &cfg,
            "http://x/".into(),
            vec![("x-bad".into(), "a\nb".into())],
            None,
            &limits,
        )
        .err()
        .unwrap();
        assert!(err.contains("x-bad") && !err.contains("a\nb"), "{err}");
    }

    #[tokio::test]
    async fn renders_the_body_keeping_types_and_extracts_a_pointer() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/gen"))
            .and(header("content-type", "application/json"))
            .and(body_json(serde_json::json!({
                "input": "You are terse.\nHi there",
                "messages": [
                    {"role": "system", "content": "You are terse."},
                    {"role": "user", "content": "Hi there"}
                ],
                "meta": {"case": "s/c#1", "repeat": 1, "topic": "geo", "n": 3},
                "fixed": 0.5
            })))
            .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
                "result": {"text": "Paris"},
                "usage": {"in": 12, "out": "3"}
            })))
            .expect(1)
            .mount(&server)
            .await;
        let mut cfg = config(
            Some(serde_json::json!({
                "input": "{{ prompt }}",
                "messages": "{{ messages }}",
                "meta": {
                    "case": "{{ case.suite }}/{{ case.id }}#{{ case.repeat }}",
                    "repeat": "{{ case.repeat }}",
                    "topic": "{{ vars.topic }}",
                    "n": "{{ vars.n }}"
                },
                "fixed": 0.5
            })),
            Extract::Pointer("/result/text".into()),
        );
        cfg.usage_input = Some("/usage/in".into());
        cfg.usage_output = Some("/usage/out".into());
        let api = api(&server, &cfg);
        let mut req = request(&[("system", "You are terse."), ("user", "Hi there")]);
        req.vars = serde_json::json!({"topic": "geo", "n": 3});
        let resp = api.complete(&req).await.unwrap();
        assert_eq!(resp.text, "Paris");
        assert_eq!(
            resp.usage,
            Some(Usage {
                input_tokens: 12,
                output_tokens: 3,
                total_tokens: 15
            })
        );
        assert!(resp.timing.started_at.is_some());
        assert_eq!(resp.timing.ttft_ms, None);
        let key = api.request_key(&req);
        assert_eq!(key["type"], "http");
        assert_eq!(key["method"], "POST");
        assert_eq!(key["body"]["meta"]["n"], 3);
        assert!(api.endpoint().starts_with("POST http://127.0.0.1"));
    }

    #[tokio::test]
    async fn non_string_pointer_values_are_compact_json_and_raw_is_the_body() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(
                ResponseTemplate::new(200)
                    .set_body_raw(r#"{"out": {"a": [1, 2]}}"#, "application/json"),
            )
            .mount(&server)
            .await;
        let req = request(&[("user", "q")]);
        let api1 = api(&server, &config(None, Extract::Pointer("/out".into())));
        assert_eq!(api1.complete(&req).await.unwrap().text, r#"{"a":[1,2]}"#);
        let api2 = api(&server, &config(None, Extract::Raw));
        assert_eq!(
            api2.complete(&req).await.unwrap().text,
            r#"{"out": {"a": [1, 2]}}"#
        );
    }

    #[tokio::test]
    async fn a_string_body_is_sent_as_text() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(header("content-type", "text/plain; charset=utf-8"))
            .and(wiremock::matchers::body_string("Say hi"))
            .respond_with(ResponseTemplate::new(200).set_body_string("hi"))
            .expect(1)
            .mount(&server)
            .await;
        let api = api(
            &server,
            &config(Some(Value::String("{{ prompt }}".into())), Extract::Raw),
        );
        assert_eq!(
            api.complete(&request(&[("user", "Say hi")]))
                .await
                .unwrap()
                .text,
            "hi"
        );
    }

    #[tokio::test]
    async fn missing_pointer_and_non_json_body_are_provider_errors() {
        let server = MockServer::start().await;
        Mock::given(path("/gen"))
            .respond_with(ResponseTemplate::new(200).set_body_string("not json at all"))
            .mount(&server)
            .await;
        let req = request(&[("user", "q")]);
        let api1 = api(&server, &config(None, Extract::Pointer("/x".into())));
        let err = api1.complete(&req).await.unwrap_err();
        assert!(matches!(err, ProviderError::Provider(_)), "{err}");
        assert!(
            err.to_string().contains("`/x`") && err.to_string().contains("not json at all"),
            "{err}"
        );

        let server2 = MockServer::start().await;
        Mock::given(path("/gen"))
            .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({"y": 1})))
            .mount(&server2)
            .await;
        let api2 = api(&server2, &config(None, Extract::Pointer("/x".into())));
        let err = api2.complete(&req).await.unwrap_err();
        assert!(
            err.to_string().contains("output pointer `/x` not found"),
            "{err}"
        );
        assert!(!err.retryable());
    }

    #[tokio::test]
    async fn undefined_template_variables_are_provider_errors() {
        let server = MockServer::start().await;
        let api = api(
            &server,
            &config(
                Some(serde_json::json!({"a": "{{ vars.nope }}"})),
                Extract::Raw,
            ),
        );
        let err = api.complete(&request(&[("user", "q")])).await.unwrap_err();
        assert!(matches!(err, ProviderError::Provider(_)), "{err}");
        assert!(err.to_string().contains("body.a"), "{err}");
        let key = api.request_key(&request(&[("user", "q")]));
        assert!(key.get("body_error").is_some());
    }

    #[tokio::test]
    async fn http_errors_carry_status_excerpt_and_retry_after() {
        let server = MockServer::start().await;
        Mock::given(path("/gen"))
            .respond_with(
                ResponseTemplate::new(503)
                    .insert_header("retry-after", "3")
                    .set_body_string("x".repeat(2000)),
            )
            .mount(&server)
            .await;
        let err = api(&server, &config(None, Extract::Raw))
            .complete(&request(&[("user", "q")]))
            .await
            .unwrap_err();
        match &err {
            ProviderError::Http {
                status,
                body,
                retry_after,
            } => {
                assert_eq!(*status, 503);
                assert_eq!(body.chars().count(), EXCERPT_CHARS + 1);
                assert!(body.ends_with('…'));
                assert_eq!(*retry_after, Some(Duration::from_secs(3)));
            }
            other => panic!("{other}"),
        }
        assert!(err.retryable());
    }

    #[tokio::test]
    async fn empty_error_bodies_name_the_status() {
        let server = MockServer::start().await;
        Mock::given(path("/gen"))
            .respond_with(ResponseTemplate::new(404))
            .mount(&server)
            .await;
        let err = api(&server, &config(None, Extract::Raw))
            .complete(&request(&[("user", "q")]))
            .await
            .unwrap_err();
        assert_eq!(err.to_string(), "HTTP 404: Not Found (empty body)");
        assert!(!err.retryable());
    }

    #[tokio::test]
    async fn secrets_in_the_url_and_echoed_keys_are_redacted() {
        let secret = "sk-http-test-0123456789abcdef";
        crate::secret::register(secret);
        let server = MockServer::start().await;
        Mock::given(path("/gen"))
            .respond_with(
                ResponseTemplate::new(401).set_body_string(format!("bad key: Bearer {secret}")),
            )
            .mount(&server)
            .await;
        let cfg = config(None, Extract::Raw);
        let api = HttpApi::new(
            "h",
            &cfg,
            format!("{}/gen?key={secret}", server.uri()),
            vec![],
            Some(secret.to_string()),
            &Limits::default(),
        )
        .unwrap();
        let err = api.complete(&request(&[("user", "q")])).await.unwrap_err();
        assert!(!err.to_string().contains(secret), "{err}");
        assert!(err.to_string().contains("[REDACTED]"), "{err}");
        // The endpoint is only hashed (cache key), never displayed: unredacted.
        assert!(api.endpoint().contains(secret));

        // A transport error quotes the URL: redacted too.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        let api = HttpApi::new(
            "h",
            &cfg,
            format!("http://{addr}/gen?key={secret}"),
            vec![],
            None,
            &Limits::default(),
        )
        .unwrap();
        let err = api.complete(&request(&[("user", "q")])).await.unwrap_err();
        assert!(matches!(err, ProviderError::Transport(_)), "{err}");
        assert!(!err.to_string().contains(secret), "{err}");
    }

    #[tokio::test]
    async fn percent_encoded_secrets_in_the_url_do_not_leak_from_transport_errors() {
        crate::secret::register(SPACED_SECRET);
        let addr = free_port();
        let url = format!("http://{addr}/gen?sig={SPACED_SECRET}");
        let api = HttpApi::new(
            "h",
            &config(None, Extract::Raw),
            url,
            vec![],
            None,
            &Limits::default(),
        )
        .unwrap();
        let err = api.complete(&request(&[("user", "q")])).await.unwrap_err();
        let text = err.to_string();
        assert!(matches!(err, ProviderError::Transport(_)), "{text}");
        assert!(!text.contains(SPACED_SECRET), "{text}");
        assert!(!text.contains(&encoded(SPACED_SECRET)), "{text}");
        assert!(!text.contains("%20"), "{text}");
        // The URL is named as configured, redacted.
        assert!(
            text.contains(&format!("(url: http://{addr}/gen?sig=[REDACTED])")),
            "{text}"
        );
    }

    #[tokio::test]
    async fn error_bodies_echoing_the_encoded_url_are_redacted() {
        let secret = "echo secret/with spaces+plus 3Rt9";
        crate::secret::register(secret);
        let server = MockServer::start().await;
        let url = format!("{}/gen?sig={secret}", server.uri());
        let sent = reqwest::Url::parse(&url).unwrap();
        let form: String = secret.replace('+', "%2B").replace(' ', "+");
        Mock::given(path("/gen"))
            .respond_with(ResponseTemplate::new(404).set_body_json(serde_json::json!({
                "error": {"message": format!("no route for {sent} (form: {form})"), "type": "not_found"}
            })))
            .mount(&server)
            .await;
        let api = HttpApi::new(
            "h",
            &config(None, Extract::Raw),
            url,
            vec![],
            None,
            &Limits::default(),
        )
        .unwrap();
        let err = api.complete(&request(&[("user", "q")])).await.unwrap_err();
        let text = err.to_string();
        assert!(
            text.starts_with("HTTP 404: not_found: no route for"),
            "{text}"
        );
        assert!(!text.contains(secret), "{text}");
        assert!(!text.contains(&encoded(secret)), "{text}");
        assert!(!text.contains("3Rt9"), "{text}");
        assert!(text.contains("[REDACTED]"), "{text}");
    }

    #[test]
    fn redact_encoded_decodes_only_to_find_secrets() {
        let secret = "redact encoded 5Vb1";
        crate::secret::register(secret);
        assert_eq!(
            redact_encoded("a%20b and redact%20encoded%205Vb1, x"),
            "a%20b and [REDACTED], x"
        );
        assert_eq!(
            redact_encoded("got redact+encoded+5Vb1\n"),
            "got [REDACTED]\n"
        );
        // No secret once decoded: the text is kept as is.
        assert_eq!(
            redact_encoded("a%20b 100% + c %zz %4"),
            "a%20b 100% + c %zz %4"
        );
        assert_eq!(percent_decode("%41%2b%e2%82%ac%", false), "A+€%");
        assert_eq!(percent_decode("a+b", true), "a b");
    }

    #[test]
    fn join_url_appends_to_the_path_and_keeps_the_query() {
        let j = |base: &str| {
            join_url(base, "/chat/completions")
                .unwrap()
                .unwrap()
                .to_string()
        };
        assert_eq!(
            j("http://host/openai/deployments/gpt4o?api-version=2024-02-01"),
            "http://host/openai/deployments/gpt4o/chat/completions?api-version=2024-02-01"
        );
        assert_eq!(
            j("http://host/v1/?a=1&b=x/y"),
            "http://host/v1/chat/completions?a=1&b=x/y"
        );
        assert_eq!(j(" http://host "), "http://host/chat/completions");
        assert_eq!(j("https://host/v1//"), "https://host/v1/chat/completions");
        assert_eq!(
            join_url_text("http://host/v1/?sig=a b", "/chat/completions"),
            "http://host/v1/chat/completions?sig=a b"
        );
        assert_eq!(
            join_url_text("http://host/v1#frag", "/x"),
            "http://host/v1/x#frag"
        );
        assert!(join_url("${BASE}/v1", "/x").unwrap().is_none());
        assert!(join_url("ftp://host", "/x").is_err());
    }

    #[tokio::test]
    async fn connection_refused_is_a_transport_error() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        let api = HttpApi::new(
            "h",
            &config(None, Extract::Raw),
            format!("http://{addr}/gen"),
            vec![],
            None,
            &Limits::default(),
        )
        .unwrap();
        let err = api.complete(&request(&[("user", "q")])).await.unwrap_err();
        assert!(matches!(err, ProviderError::Transport(_)), "{err}");
        assert!(err.retryable());
        assert!(err.to_string().to_lowercase().contains("connect"), "{err}");
    }

    fn stream_config(delta: Extract, done: Option<&str>) -> HttpConfig {
        let mut cfg = config(Some(serde_json::json!({"q": "{{ prompt }}"})), Extract::Raw);
        cfg.stream = Some(HttpStream {
            delta,
            done: done.map(str::to_string),
        });
        cfg
    }

    #[tokio::test]
    async fn streams_deltas_until_done() {
        let server = MockServer::start().await;
        let body = "data: {\"t\":\"Hel\"}\n\n\
                    data: {\"other\":1}\n\n\
                    data: {\"t\":\"lo\",\"u\":{\"i\":4,\"o\":2}}\n\n\
                    data: [DONE]\n\n";
        Mock::given(path("/gen"))
            .and(header("accept", "text/event-stream"))
            .respond_with(ResponseTemplate::new(200).set_body_raw(body, "text/event-stream"))
            .mount(&server)
            .await;
        let mut cfg = stream_config(Extract::Pointer("/t".into()), Some("[DONE]"));
        cfg.usage_input = Some("/u/i".into());
        cfg.usage_output = Some("/u/o".into());
        let resp = api(&server, &cfg)
            .complete(&request(&[("user", "q")]))
            .await
            .unwrap();
        assert_eq!(resp.text, "Hello");
        assert_eq!(resp.timing.chunks, Some(2));
        assert!(resp.timing.ttft_ms.is_some());
        assert_eq!(resp.usage.map(|u| u.total_tokens), Some(6));
    }

    #[tokio::test]
    async fn raw_streams_without_done_end_at_close() {
        let server = MockServer::start().await;
        Mock::given(path("/gen"))
            .respond_with(
                ResponseTemplate::new(200)
                    .set_body_raw("data: a\n\ndata: b\n\n", "text/event-stream"),
            )
            .mount(&server)
            .await;
        let resp = api(&server, &stream_config(Extract::Raw, None))
            .complete(&request(&[("user", "q")]))
            .await
            .unwrap();
        assert_eq!(resp.text, "ab");
        assert_eq!(resp.timing.chunks, Some(2));
    }

    #[tokio::test]
    async fn a_stream_closed_before_done_is_a_stream_error() {
        let server = MockServer::start().await;
        Mock::given(path("/gen"))
            .respond_with(
                ResponseTemplate::new(200)
                    .set_body_raw("data: {\"t\":\"Hel\"}\n\n", "text/event-stream"),
            )
            .mount(&server)
            .await;
        let err = api(
            &server,
            &stream_config(Extract::Pointer("/t".into()), Some("[DONE]")),
        )
        .complete(&request(&[("user", "q")]))
        .await
        .unwrap_err();
        assert!(matches!(err, ProviderError::Stream(_)), "{err}");
        assert!(
            err.to_string()
                .contains("stream ended before `[DONE]` after 1 events"),
            "{err}"
        );
    }

    #[tokio::test]
    async fn a_dropped_stream_connection_is_a_stream_error() {
        let url = dropping_server(
            "text/event-stream",
            "data: {\"t\":\"Hel\"}\n\ndata: {\"t\":",
        )
        .await;
        let api = HttpApi::new(
            "h",
            &stream_config(Extract::Pointer("/t".into()), None),
            format!("{url}/gen"),
            vec![],
            None,
            &Limits::default(),
        )
        .unwrap();
        let err = api.complete(&request(&[("user", "q")])).await.unwrap_err();
        assert!(matches!(err, ProviderError::Stream(_)), "{err}");
        assert!(
            err.to_string().contains("connection lost after 1 events"),
            "{err}"
        );
    }

    #[tokio::test]
    async fn a_json_answer_to_a_stream_config_is_a_provider_error() {
        let server = MockServer::start().await;
        Mock::given(path("/gen"))
            .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({"t": "x"})))
            .mount(&server)
            .await;
        let err = api(&server, &stream_config(Extract::Pointer("/t".into()), None))
            .complete(&request(&[("user", "q")]))
            .await
            .unwrap_err();
        assert!(matches!(err, ProviderError::Provider(_)), "{err}");
        assert!(err.to_string().contains("application/json"), "{err}");
    }

    #[tokio::test]
    async fn error_events_are_retried_only_when_transient() {
        // Regression: every `error` event was a retried stream error.
        let cases = [
            (
                r#"{"type":"error","error":{"type":"invalid_request_error","message":"bad input"}}"#,
                false,
                "invalid_request_error: bad input",
            ),
            (
                r#"{"type":"overloaded_error","message":"busy"}"#,
                true,
                "overloaded_error: busy",
            ),
            (
                r#"{"error":{"code":503,"message":"down"}}"#,
                true,
                "503: down",
            ),
            ("model crashed", false, "model crashed"),
        ];
        for (data, retryable, text) in cases {
            let server = MockServer::start().await;
            let body = format!("data: {{\"t\":\"Hel\"}}\n\nevent: error\ndata: {data}\n\n");
            Mock::given(path("/gen"))
                .respond_with(ResponseTemplate::new(200).set_body_raw(body, "text/event-stream"))
                .mount(&server)
                .await;
            let err = api(
                &server,
                &stream_config(Extract::Pointer("/t".into()), Some("[DONE]")),
            )
            .complete(&request(&[("user", "q")]))
            .await
            .unwrap_err();
            assert_eq!(err.retryable(), retryable, "{data}: {err}");
            if retryable {
                assert!(matches!(err, ProviderError::Stream(_)), "{err}");
            } else {
                assert!(matches!(err, ProviderError::Provider(_)), "{err}");
            }
            assert!(err.to_string().contains(text), "{data}: {err}");
        }
    }

    #[tokio::test]
    async fn a_non_json_event_with_a_delta_pointer_is_a_stream_error() {
        let server = MockServer::start().await;
        Mock::given(path("/gen"))
            .respond_with(
                ResponseTemplate::new(200)
                    .set_body_raw("data: {oops\n\ndata: [DONE]\n\n", "text/event-stream"),
            )
            .mount(&server)
            .await;
        let err = api(
            &server,
            &stream_config(Extract::Pointer("/t".into()), Some("[DONE]")),
        )
        .complete(&request(&[("user", "q")]))
        .await
        .unwrap_err();
        assert!(matches!(err, ProviderError::Stream(_)), "{err}");
        assert!(err.to_string().contains("{oops"), "{err}");
    }
}

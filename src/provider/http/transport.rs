//! How a request travels: the HTTP client of a provider (connect timeout,
//! pool, same-origin redirects, proxies), URL checks and joins, header maps,
//! bounded body reads, and transport errors naming the URL as configured
//! (never as `reqwest` percent-encodes it), secrets redacted. The lowest
//! layer of the providers' HTTP: it imports none of the others.
//!
//! ## Proxies
//!
//! Requests honour the proxy environment variables as `reqwest` reads
//! them, except to a loopback endpoint (`localhost`, `127.0.0.0/8`, `::1`),
//! always reached directly. Transport errors name the proxy in use.

use std::time::{Duration, Instant};

use reqwest::header::{HeaderMap, HeaderName, HeaderValue, CONTENT_TYPE};

use super::direct::Failure;
use super::response::HttpResponse;
use crate::config::provider::Limits;
use crate::provider::ProviderError;

/// `User-Agent` of every request.
pub(crate) const USER_AGENT: &str = concat!("evalgate/", env!("CARGO_PKG_VERSION"));

/// Largest response body read (non-streamed answers and event streams).
pub(crate) const MAX_BODY_BYTES: usize = 64 << 20;

/// Default of the run-wide budget for response bytes held at once (all
/// bodies and streams being read): 16 endless streams cannot take more.
pub(crate) const DEFAULT_RESPONSE_MEMORY: u64 = 256 << 20;

/// The variable that overrides [`DEFAULT_RESPONSE_MEMORY`] (bytes).
pub(crate) const RESPONSE_MEMORY_VAR: &str = "EVALGATE_MAX_RESPONSE_MEMORY_BYTES";

/// Response bytes held by every reader of the process right now.
static HELD: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

fn response_memory_budget() -> u64 {
    static BUDGET: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    *BUDGET.get_or_init(|| {
        std::env::var(RESPONSE_MEMORY_VAR)
            .ok()
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(DEFAULT_RESPONSE_MEMORY)
    })
}

/// A reader's share of the run-wide response memory budget, returned when
/// dropped (the body was parsed, or the try was abandoned).
#[derive(Debug, Default)]
pub(crate) struct Held(u64);

impl Held {
    /// Account for `n` more bytes; an error when the run's budget is spent.
    pub(crate) fn grow(&mut self, n: u64) -> Result<(), ProviderError> {
        use std::sync::atomic::Ordering;
        let budget = response_memory_budget();
        let before = HELD.fetch_add(n, Ordering::SeqCst);
        if before.saturating_add(n) > budget {
            HELD.fetch_sub(n, Ordering::SeqCst);
            return Err(ProviderError::Provider(format!(
                "responses being read at once exceed the run's memory budget of {} MiB \
                 (raise {RESPONSE_MEMORY_VAR}, or lower `concurrency`)",
                budget >> 20
            )));
        }
        self.0 += n;
        Ok(())
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        HELD.fetch_sub(self.0, std::sync::atomic::Ordering::SeqCst);
    }
}

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
pub(crate) fn client(url: &str, limits: &Limits) -> Result<reqwest::Client, String> {
    client_builder(url, limits, reqwest::Client::builder())
        .build()
        .map_err(|e| format!("cannot build the HTTP client: {}", error_chain(&e)))
}

tokio::task_local! {
    /// Filled by [`ConnectTimer`] when the request being sent opens a connection.
    static CONNECT_MS: std::cell::Cell<Option<f64>>;
}

/// Await `send` (a request's send future) and say how long opening a new
/// connection took, if it needed one (`None`: a pooled connection was
/// reused, or the connection was opened outside this request).
pub(crate) async fn timed_send<F: std::future::Future>(send: F) -> (F::Output, Option<f64>) {
    CONNECT_MS
        .scope(std::cell::Cell::new(None), async {
            let out = send.await;
            (out, CONNECT_MS.with(std::cell::Cell::get))
        })
        .await
}

/// A connector layer that times each connection (DNS, TCP, TLS) and hands
/// the time to the request that asked for it (see [`timed_send`]).
#[derive(Debug, Clone, Copy)]
struct ConnectTimer;

impl<S> tower_layer::Layer<S> for ConnectTimer {
    type Service = TimedConnector<S>;
    fn layer(&self, inner: S) -> Self::Service {
        TimedConnector(inner)
    }
}

#[derive(Debug, Clone)]
struct TimedConnector<S>(S);

impl<S, R> tower_service::Service<R> for TimedConnector<S>
where
    S: tower_service::Service<R>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future =
        std::pin::Pin<Box<dyn std::future::Future<Output = Result<S::Response, S::Error>> + Send>>;

    fn poll_ready(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, req: R) -> Self::Future {
        let connect = self.0.call(req);
        Box::pin(async move {
            let start = std::time::Instant::now();
            let out = connect.await;
            if out.is_ok() {
                let ms = start.elapsed().as_secs_f64() * 1000.0;
                // Outside a `timed_send` (a connection opened in the background) nobody asks.
                let _ = CONNECT_MS.try_with(|c| c.set(Some(ms)));
            }
            out
        })
    }
}

/// [`client`]'s settings applied to `builder`.
fn client_builder(
    url: &str,
    limits: &Limits,
    builder: reqwest::ClientBuilder,
) -> reqwest::ClientBuilder {
    let idle = limits.max_concurrency.unwrap_or(0).max(64);
    let builder = builder
        .connector_layer(ConnectTimer)
        .user_agent(USER_AGENT)
        .connect_timeout(limits.connect_timeout)
        // Idle time between reads: a stalled stream fails fast (and is retried).
        .read_timeout(limits.read_timeout)
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

/// [`send_error`] for the direct client's failure to send to `url`.
pub(crate) fn direct_send_error(url: &str, e: Failure) -> ProviderError {
    let note = url_note(url, |n| std::env::var(n).ok());
    transport_failure(Failure {
        message: format!("{}{note}", crate::secret::redact(&e.message)),
        ..e
    })
}

/// A failure as [`ProviderError::Transport`], `timed out: ` first when it was
/// a timeout.
fn transport_failure(e: Failure) -> ProviderError {
    if e.timeout {
        ProviderError::Transport(format!("timed out: {}", e.message))
    } else {
        ProviderError::Transport(e.message)
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
pub(crate) fn proxy_for(url: &str, env: impl Fn(&str) -> Option<String>) -> Option<String> {
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

/// A `reqwest` failure sending a request to `url` as
/// [`ProviderError::Transport`] (connection refused or reset, body cut off,
/// connect timeout), with the error's source chain and the URL as
/// configured (unencoded), secrets redacted. Request-building and redirect
/// failures are configuration problems: [`ProviderError::Provider`]. The URL
/// `reqwest` would quote is left out: it is percent-encoded, so a secret in
/// it escapes redaction.
pub(crate) fn send_error(url: &str, e: reqwest::Error) -> ProviderError {
    let e = e.without_url();
    let mut msg = error_chain(&e);
    msg.push_str(&url_note(url, |name| std::env::var(name).ok()));
    if e.is_builder() || e.is_redirect() {
        ProviderError::Provider(msg)
    } else {
        transport_failure(Failure {
            message: msg,
            timeout: e.is_timeout(),
        })
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
pub(crate) fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
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

/// Read a whole body, at most `limit` bytes. A body cut off mid-way is a
/// transport error; a larger body is a provider error.
pub(crate) async fn read_body(
    resp: &mut HttpResponse,
    limit: usize,
) -> Result<Vec<u8>, ProviderError> {
    if resp.content_length().is_some_and(|n| n > limit as u64) {
        return Err(too_large(limit));
    }
    let mut out = Vec::new();
    let mut held = Held::default();
    while let Some(chunk) = resp.chunk().await.map_err(transport_failure)? {
        if out.len() + chunk.len() > limit {
            return Err(too_large(limit));
        }
        held.grow(chunk.len() as u64)?;
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}

fn too_large(limit: usize) -> ProviderError {
    ProviderError::Provider(format!("response body larger than {} MiB", limit >> 20))
}

/// The first `limit` bytes of a body (the rest is not read).
pub(crate) async fn read_prefix(mut resp: HttpResponse, limit: usize) -> Result<Vec<u8>, Failure> {
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
pub(crate) fn is_event_stream(resp: &HttpResponse) -> bool {
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
pub(crate) fn header_map(
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
pub(crate) fn secret_header(value: &str) -> Result<HeaderValue, String> {
    let mut v = HeaderValue::from_str(value)
        .map_err(|_| "the API key is not a valid header value (visible ASCII only)".to_string())?;
    v.set_sensitive(true);
    Ok(v)
}

/// Check that `url` is an absolute http(s) URL. The error never quotes it
/// unredacted. A URL still holding `${NAME}` references (a provider built
/// only for its request keys, with nothing read from the environment) is
/// not checked: it is never called.
pub(crate) fn check_url(url: &str) -> Result<(), String> {
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
pub(crate) fn join_url(base: &str, suffix: &str) -> Result<Option<reqwest::Url>, String> {
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
pub(crate) fn join_url_text(base: &str, suffix: &str) -> String {
    let base = base.trim();
    let cut = base.find(['?', '#']).unwrap_or(base.len());
    let (head, rest) = base.split_at(cut);
    format!("{}{suffix}{rest}", head.trim_end_matches('/'))
}

/// Milliseconds since `start`.
pub(crate) fn elapsed_ms(start: Instant) -> f64 {
    start.elapsed().as_secs_f64() * 1000.0
}

/// Milliseconds from `start` to `end` (0 when `end` came first).
pub(crate) fn ms_between(start: Instant, end: Instant) -> f64 {
    end.saturating_duration_since(start).as_secs_f64() * 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provider::http::test_support::free_port;
    use wiremock::matchers::path;
    use wiremock::{Mock, MockServer, ResponseTemplate};

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
}

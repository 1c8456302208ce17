//! The probe runner: a [`Provider`] whose answer to case `auth` (or
//! `rate_limit`, …) is the evidence of that probe against one provider's
//! endpoint: the raw HTTP exchanges, each with its status, headers, time
//! and body excerpt, under a first line that is the verdict (`PASS: …` or
//! `FAIL: …`, read by [`super::ProbeCheck`]). A probe that cannot reach the
//! endpoint at all is an error, as for any provider.
//!
//! Every request goes to the provider's configured URL with its client
//! (timeouts, proxies, same-origin redirects only). Every probe is bounded
//! in requests, bytes and time, and the probes of one provider run one at a
//! time, so a burst does not answer another probe with a 429.

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::future::BoxFuture;
use futures::stream::{FuturesUnordered, StreamExt};
use reqwest::header::{HeaderMap, HeaderValue, CONTENT_LENGTH, CONTENT_TYPE};

use crate::check::security::{scan, StackTraces};
use crate::config::probe::{Probe, ProbeKind, DEFAULT_BURST, MAX_BURST};
use crate::model::Timing;
use crate::provider::http::transport::{error_chain, proxy_for};
use crate::provider::target::ProbeTarget;
use crate::provider::{Provider, ProviderError, Request, Response};
use crate::util::text::one_line;

/// Bytes of a response body read for the verdict; the rest is not read.
const BODY_READ: usize = 64 << 10;
/// Characters of a body shown in the evidence.
const BODY_SHOWN: usize = 300;
/// Longest wait for a `Retry-After` before the recovery request.
pub(crate) const MAX_RETRY_WAIT: Duration = Duration::from_secs(10);
/// Requests of a burst in flight at once.
const BURST_CONCURRENCY: usize = 16;
/// Size of one chunk of an oversized body's padding.
const PAD_CHUNK: usize = 64 << 10;
/// Response headers shown in the evidence, when present.
const SHOWN_HEADERS: &[&str] = &[
    "content-type",
    "content-length",
    "retry-after",
    "www-authenticate",
];

/// Status codes a malformed request may be answered with.
const MALFORMED_OK: &[u16] = &[400, 415, 422];

/// The probes of one provider, as the cases of its `probes` suite.
pub(crate) struct ProbeRunner {
    name: String,
    target: ProbeTarget,
    probes: Vec<Probe>,
    /// One probe at a time against this endpoint.
    turn: tokio::sync::Mutex<()>,
}

impl ProbeRunner {
    pub(crate) fn new(name: &str, target: ProbeTarget, probes: Vec<Probe>) -> Self {
        ProbeRunner {
            name: name.to_string(),
            target,
            probes,
            turn: tokio::sync::Mutex::new(()),
        }
    }
}

impl Provider for ProbeRunner {
    fn name(&self) -> &str {
        &self.name
    }

    fn complete<'a>(
        &'a self,
        request: &'a Request,
    ) -> BoxFuture<'a, Result<Response, ProviderError>> {
        Box::pin(async move {
            let Some(probe) = self.probes.iter().find(|p| p.name() == request.case_id) else {
                return Err(ProviderError::Provider(format!(
                    "provider `{}` has no probe `{}`",
                    self.name, request.case_id
                )));
            };
            let _turn = self.turn.lock().await;
            let start = Instant::now();
            let report = match &probe.kind {
                ProbeKind::Auth => self.auth().await,
                ProbeKind::RateLimit { burst, within } => {
                    self.rate_limit(self.burst(*burst), *within).await
                }
                ProbeKind::OversizedBody { bytes } => self.oversized(*bytes).await,
                ProbeKind::MalformedRequest => self.malformed().await,
            }?;
            let latency_ms = start.elapsed().as_secs_f64() * 1000.0;
            let mut text = format!(
                "{}: {}\nprobe {} → {} {}\n",
                if report.passed { "PASS" } else { "FAIL" },
                report.verdict,
                probe.name(),
                self.target.method,
                self.target.url_text,
            );
            text.push_str(&report.evidence);
            Ok(Response {
                text: crate::secret::redact(text.trim_end()),
                timing: Timing {
                    latency_ms,
                    ..Timing::default()
                },
                ..Response::default()
            })
        })
    }

    fn request_key(&self, request: &Request) -> serde_json::Value {
        serde_json::json!({ "probe": request.case_id })
    }

    fn endpoint(&self) -> String {
        self.target.url_text.clone()
    }
}

/// What one probe concluded.
struct Report {
    passed: bool,
    verdict: String,
    evidence: String,
}

/// One request and what came back.
struct Exchange {
    label: String,
    status: Option<u16>,
    headers: Vec<(String, String)>,
    /// The first [`BODY_READ`] bytes of the body.
    body: String,
    elapsed: Duration,
    /// Why there is no response (a timeout, a reset).
    error: Option<String>,
    /// Could not connect at all.
    unreachable: bool,
}

impl Exchange {
    fn status_text(&self) -> String {
        match (self.status, &self.error) {
            (Some(s), _) => format!("HTTP {s}"),
            (None, Some(e)) => e.clone(),
            (None, None) => "no response".into(),
        }
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The exchange as evidence lines.
    fn describe(&self, n: usize, out: &mut String) {
        let _ = writeln!(
            out,
            "{n}. {}: {} in {}",
            self.label,
            self.status_text(),
            dur(self.elapsed)
        );
        for (name, value) in &self.headers {
            let _ = writeln!(out, "   {name}: {}", one_line(value, 120));
        }
        if !self.body.is_empty() {
            let _ = writeln!(out, "   body: {}", one_line(&self.body, BODY_SHOWN));
        }
    }
}

/// A strict `Retry-After`: delay-seconds or an HTTP date (RFC 9110).
fn parse_retry_after(value: &str) -> Option<Duration> {
    let v = value.trim();
    if !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()) {
        return v.parse::<u64>().ok().map(Duration::from_secs);
    }
    let at = httpdate::parse_http_date(v).ok()?;
    Some(
        at.duration_since(std::time::SystemTime::now())
            .unwrap_or(Duration::ZERO),
    )
}

impl ProbeRunner {
    /// The burst size: configured, else twice `requests_per_minute`, else
    /// [`DEFAULT_BURST`]; at most [`MAX_BURST`].
    fn burst(&self, configured: Option<u32>) -> u32 {
        configured
            .or_else(|| self.target.requests_per_minute.map(|r| r.saturating_mul(2)))
            .unwrap_or(DEFAULT_BURST)
            .clamp(1, MAX_BURST)
    }

    /// Send one request and read at most [`BODY_READ`] bytes of the answer,
    /// within the provider's per-try timeout.
    async fn send(
        &self,
        label: impl Into<String>,
        headers: HeaderMap,
        body: reqwest::Body,
    ) -> Exchange {
        let label = label.into();
        let start = Instant::now();
        let timeout = self.target.timeout;
        let request = self
            .target
            .client
            .request(self.target.method.clone(), self.target.url.clone())
            .headers(headers)
            .body(body)
            .send();
        let mut ex = Exchange {
            label,
            status: None,
            headers: Vec::new(),
            body: String::new(),
            elapsed: Duration::ZERO,
            error: None,
            unreachable: false,
        };
        let result = tokio::time::timeout(timeout, async {
            let mut resp = request.await?;
            let status = resp.status().as_u16();
            let headers: Vec<(String, String)> = SHOWN_HEADERS
                .iter()
                .filter_map(|h| {
                    resp.headers()
                        .get(*h)
                        .map(|v| (h.to_string(), String::from_utf8_lossy(v.as_bytes()).into()))
                })
                .collect();
            let mut body = Vec::new();
            while body.len() < BODY_READ {
                match resp.chunk().await {
                    Ok(Some(c)) => {
                        body.extend_from_slice(&c[..c.len().min(BODY_READ - body.len())])
                    }
                    Ok(None) => break,
                    // The status and headers came: a body cut short is still an answer.
                    Err(_) => break,
                }
            }
            Ok::<_, reqwest::Error>((status, headers, body))
        })
        .await;
        ex.elapsed = start.elapsed();
        match result {
            Ok(Ok((status, headers, body))) => {
                ex.status = Some(status);
                ex.headers = headers;
                ex.body = crate::secret::redact(&String::from_utf8_lossy(&body));
            }
            Ok(Err(e)) => {
                ex.unreachable = e.is_connect();
                let what = if e.is_connect() {
                    "cannot connect"
                } else if e.is_timeout() {
                    "timed out"
                } else {
                    "connection closed without a response"
                };
                let url = e.url().map(|u| u.to_string());
                let mut chain = error_chain(&e.without_url());
                if let Some(u) = url {
                    chain = chain.replace(&u, "");
                }
                ex.error = Some(crate::secret::redact(&format!("{what} ({chain})")));
            }
            Err(_) => {
                ex.error = Some(format!(
                    "no response within {} (the probe's timeout)",
                    dur(timeout)
                ));
            }
        }
        ex
    }

    /// A valid request with `headers`.
    async fn send_valid(&self, label: &str, headers: HeaderMap) -> Exchange {
        self.send(
            label,
            headers,
            reqwest::Body::from(self.target.valid.clone()),
        )
        .await
    }

    /// An error when the endpoint could not be reached at all.
    fn reachable(&self, ex: &Exchange) -> Result<(), ProviderError> {
        if ex.unreachable {
            return Err(ProviderError::Transport(format!(
                "probe could not reach {}: {}",
                crate::secret::redact(&self.target.url_text),
                ex.status_text()
            )));
        }
        Ok(())
    }

    async fn auth(&self) -> Result<Report, ProviderError> {
        let mut none = self.target.headers.clone();
        for name in &self.target.credentials {
            none.remove(name);
        }
        let names: Vec<&str> = self.target.credentials.iter().map(|n| n.as_str()).collect();
        let without = if names.is_empty() {
            "without credentials (none are configured)".to_string()
        } else {
            format!("without credentials (no {} header)", names.join(", "))
        };
        let first = self.send_valid(&without, none).await;
        self.reachable(&first)?;
        let mut wrong = self.target.headers.clone();
        let wrong_creds = self.target.wrong_credentials();
        for (name, value) in &wrong_creds {
            wrong.insert(name.clone(), value.clone());
        }
        let shown: Vec<String> = wrong_creds
            .iter()
            .map(|(n, v)| format!("{n}: {}", String::from_utf8_lossy(v.as_bytes())))
            .collect();
        let second = self
            .send_valid(&format!("with a wrong key ({})", shown.join(", ")), wrong)
            .await;
        let mut problems = Vec::new();
        for (what, ex) in [
            ("a request without credentials", &first),
            ("a request with a wrong key", &second),
        ] {
            match ex.status {
                Some(401 | 403) => {}
                Some(s @ 200..=299) => problems.push(format!("accepted {what} (HTTP {s})")),
                Some(s @ 500..=599) => problems.push(format!(
                    "answered {what} with HTTP {s} (a server error, not 401/403)"
                )),
                Some(s) => problems.push(format!("answered {what} with HTTP {s}, not 401/403")),
                None => problems.push(format!("no answer to {what}: {}", ex.status_text())),
            }
        }
        let mut evidence = String::new();
        first.describe(1, &mut evidence);
        second.describe(2, &mut evidence);
        Ok(if problems.is_empty() {
            Report {
                passed: true,
                verdict: format!(
                    "refused a request without credentials ({}) and with a wrong key ({})",
                    first.status_text(),
                    second.status_text()
                ),
                evidence,
            }
        } else {
            Report {
                passed: false,
                verdict: problems.join("; "),
                evidence,
            }
        })
    }

    async fn rate_limit(&self, burst: u32, within: Duration) -> Result<Report, ProviderError> {
        let start = Instant::now();
        let deadline = tokio::time::Instant::now() + within;
        let mut in_flight = FuturesUnordered::new();
        let mut sent: u32 = 0;
        let mut answered: u32 = 0;
        let mut statuses: std::collections::BTreeMap<String, u32> = Default::default();
        let mut first_429: Option<(u32, Exchange)> = None;
        let mut unreachable: Option<Exchange> = None;
        let mut last: Option<(u32, Exchange)> = None;
        loop {
            while first_429.is_none()
                && sent < burst
                && in_flight.len() < BURST_CONCURRENCY
                && tokio::time::Instant::now() < deadline
            {
                sent += 1;
                let n = sent;
                let headers = self.target.headers.clone();
                in_flight.push(async move {
                    (n, self.send_valid(&format!("request {n}"), headers).await)
                });
            }
            if in_flight.is_empty() {
                break;
            }
            let Ok(next) = tokio::time::timeout_at(deadline, in_flight.next()).await else {
                break; // the time bound: what is still in flight is dropped
            };
            let Some((n, ex)) = next else { break };
            answered += 1;
            *statuses.entry(ex.status_text()).or_default() += 1;
            if ex.unreachable && unreachable.is_none() {
                unreachable = Some(ex);
                break;
            }
            if ex.status == Some(429) && first_429.as_ref().is_none_or(|(m, _)| n < *m) {
                first_429 = Some((n, ex));
            } else if ex.status != Some(429) {
                last = Some((n, ex));
            }
        }
        drop(in_flight);
        let burst_time = start.elapsed();
        if let Some(ex) = unreachable.filter(|_| answered == 1) {
            self.reachable(&ex)?;
        }
        let counts: Vec<String> = statuses.iter().map(|(s, n)| format!("{n} × {s}")).collect();
        let mut evidence = format!(
            "burst: {sent} requests sent (at most {burst} within {}, {BURST_CONCURRENCY} at a time), {answered} answered in {}: {}\n",
            dur(within),
            dur(burst_time),
            counts.join(", ")
        );
        if let Some((m, ex)) = &last {
            let _ = writeln!(evidence, "last answer that was not a 429:");
            ex.describe(*m as usize, &mut evidence);
        }
        let Some((n, limited)) = first_429 else {
            return Ok(Report {
                passed: false,
                verdict: format!(
                    "no 429 after {sent} requests in {} (never rate-limited)",
                    dur(burst_time)
                ),
                evidence,
            });
        };
        let _ = writeln!(evidence, "first 429 at request {n}");
        limited.describe(n as usize, &mut evidence);
        let raw = limited.header("retry-after").map(str::to_string);
        let parsed = raw.as_deref().and_then(parse_retry_after);
        let mut problems = Vec::new();
        let wait = match (&raw, parsed) {
            (None, _) => {
                problems.push("the 429 has no Retry-After header".to_string());
                Duration::from_secs(1)
            }
            (Some(r), None) => {
                problems.push(format!(
                    "the 429's Retry-After {r:?} is neither seconds nor an HTTP date"
                ));
                Duration::from_secs(1)
            }
            (Some(_), Some(d)) => d,
        };
        let capped = wait.min(MAX_RETRY_WAIT);
        let _ = writeln!(
            evidence,
            "Retry-After: {} → waited {}{}",
            raw.as_deref().unwrap_or("(none)"),
            dur(capped),
            if capped < wait { " (capped)" } else { "" }
        );
        tokio::time::sleep(capped).await;
        let after = self
            .send_valid("after waiting Retry-After", self.target.headers.clone())
            .await;
        after.describe(n as usize + 1, &mut evidence);
        let recovered = after.status.is_some_and(|s| (200..300).contains(&s));
        let _ = writeln!(
            evidence,
            "recovered: {}",
            if recovered { "yes" } else { "no" }
        );
        if !recovered {
            problems.push(format!(
                "did not recover after waiting {} ({})",
                dur(capped),
                after.status_text()
            ));
        }
        Ok(Report {
            passed: problems.is_empty(),
            verdict: if problems.is_empty() {
                format!(
                    "429 at request {n} of {sent} with Retry-After {}, recovered after waiting",
                    raw.as_deref().unwrap_or_default()
                )
            } else {
                format!("429 at request {n} of {sent}, but {}", problems.join("; "))
            },
            evidence,
        })
    }

    async fn oversized(&self, bytes: u64) -> Result<Report, ProviderError> {
        let (prefix, suffix) = &self.target.padded;
        let frame = (prefix.len() + suffix.len()) as u64;
        let pad = bytes.saturating_sub(frame);
        let total = frame + pad;
        let chunk = Bytes::from(vec![b'a'; PAD_CHUNK]);
        let (full, rest) = (pad / PAD_CHUNK as u64, (pad % PAD_CHUNK as u64) as usize);
        let pieces = std::iter::once(Bytes::from(prefix.clone()))
            .chain(std::iter::repeat_n(chunk.clone(), full as usize))
            .chain(std::iter::once(chunk.slice(..rest)))
            .chain(std::iter::once(Bytes::from(suffix.clone())))
            .map(Ok::<Bytes, std::io::Error>);
        let mut headers = self.target.headers.clone();
        headers.insert(CONTENT_LENGTH, HeaderValue::from(total));
        let label = format!("a {total}-byte body ({})", size_text(total));
        let direct = self.target.url.scheme() == "http"
            && proxy_for(self.target.url.as_str(), |n| std::env::var(n).ok()).is_none();
        let ex = if direct {
            // Read the answer while the body is written (see `raw`).
            let pieces = pieces.filter_map(Result::ok);
            let a = super::raw::send(
                &self.target.url,
                &self.target.method,
                &headers,
                pieces,
                total,
                self.target.timeout,
                BODY_READ,
            )
            .await;
            Exchange {
                label,
                status: a.status,
                headers: SHOWN_HEADERS
                    .iter()
                    .filter_map(|h| {
                        a.headers
                            .iter()
                            .find(|(n, _)| n == h)
                            .map(|(n, v)| (n.clone(), v.clone()))
                    })
                    .collect(),
                body: crate::secret::redact(&String::from_utf8_lossy(&a.body)),
                elapsed: a.elapsed,
                error: a.error.map(|e| crate::secret::redact(&e)),
                unreachable: a.unreachable,
            }
        } else {
            let body = reqwest::Body::wrap_stream(futures::stream::iter(pieces));
            self.send(label, headers, body).await
        };
        self.reachable(&ex)?;
        let mut evidence = String::new();
        ex.describe(1, &mut evidence);
        let body = a(&size_text(total));
        let (passed, verdict) = match ex.status {
            Some(413) => (true, format!("refused {body} body with HTTP 413")),
            Some(s @ 400..=499) => (
                true,
                format!("refused {body} body with HTTP {s} (a clean 4xx)"),
            ),
            Some(s @ 200..=299) => (
                false,
                format!("accepted {body} body (HTTP {s}), expected 413"),
            ),
            Some(s @ 500..=599) => (
                false,
                format!("answered {body} body with HTTP {s} (a server error), expected 413"),
            ),
            Some(s) => (
                false,
                format!("answered {body} body with HTTP {s}, expected 413"),
            ),
            None => (
                false,
                format!("no clean answer to {body} body: {}", ex.status_text()),
            ),
        };
        Ok(Report {
            passed,
            verdict,
            evidence,
        })
    }

    async fn malformed(&self) -> Result<Report, ProviderError> {
        let json = HeaderValue::from_static("application/json");
        let with_type = |ty: &HeaderValue| {
            let mut h = self.target.headers.clone();
            h.insert(CONTENT_TYPE, ty.clone());
            h
        };
        let invalid = self
            .send(
                "invalid JSON (Content-Type: application/json)",
                with_type(&json),
                reqwest::Body::from(r#"{"messages": [{"role": "user", "content": "unterminated"#),
            )
            .await;
        self.reachable(&invalid)?;
        let wrong_type = self
            .send(
                "a valid body sent as Content-Type: text/plain",
                with_type(&HeaderValue::from_static("text/plain")),
                reqwest::Body::from(self.target.valid.clone()),
            )
            .await;
        let missing = self
            .send(
                format!(
                    "a body missing the required fields ({})",
                    String::from_utf8_lossy(&self.target.missing_fields)
                ),
                with_type(&json),
                reqwest::Body::from(self.target.missing_fields.clone()),
            )
            .await;
        let mut evidence = String::new();
        let mut grouped: Vec<(Vec<&str>, String)> = Vec::new();
        for (i, (what, ex)) in [
            ("invalid JSON", &invalid),
            ("a wrong content type", &wrong_type),
            ("missing fields", &missing),
        ]
        .into_iter()
        .enumerate()
        {
            ex.describe(i + 1, &mut evidence);
            let mut wrong = Vec::new();
            match ex.status {
                Some(s) if MALFORMED_OK.contains(&s) => {}
                Some(s) => wrong.push(format!("HTTP {s}")),
                None => wrong.push(ex.status_text()),
            }
            if ex.status.is_some()
                && serde_json::from_str::<serde_json::Value>(ex.body.trim()).is_err()
            {
                let ty = ex.header("content-type").unwrap_or("no content type");
                let ty = ty.split(';').next().unwrap_or(ty).trim();
                wrong.push(format!("a body that is not JSON ({ty})"));
            }
            let traces = scan(&StackTraces::default(), &ex.body);
            if let Some(f) = traces.findings.first() {
                let _ = writeln!(evidence, "   stack trace: {}", f.describe());
                wrong.push(format!("a {}", f.kind));
            }
            if !wrong.is_empty() {
                let wrong = wrong.join(", ");
                // Requests answered alike share one line.
                match grouped.iter_mut().find(|(_, w)| *w == wrong) {
                    Some((whats, _)) => whats.push(what),
                    None => grouped.push((vec![what], wrong)),
                }
            }
        }
        let mut problems: Vec<String> = grouped
            .iter()
            .map(|(whats, wrong)| format!("{} → {wrong}", and_list(whats)))
            .collect();
        if !problems.is_empty() {
            problems.push("expected 400/415/422 with a JSON error body and no stack trace".into());
        }
        Ok(if problems.is_empty() {
            Report {
                passed: true,
                verdict: format!(
                    "refused invalid JSON ({}), a wrong content type ({}) and missing fields ({}) with JSON error bodies and no stack trace",
                    invalid.status_text(),
                    wrong_type.status_text(),
                    missing.status_text()
                ),
                evidence,
            }
        } else {
            Report {
                passed: false,
                verdict: problems.join("; "),
                evidence,
            }
        })
    }
}

/// `a`, `a and b`, `a, b and c`.
fn and_list(items: &[&str]) -> String {
    match items.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} and {last}", rest.join(", ")),
        Some((last, _)) => (*last).to_string(),
        None => String::new(),
    }
}

/// `an 8 MiB body`, `a 2 MiB body`.
fn a(size: &str) -> String {
    let an = size.starts_with('8') || size.starts_with("11 ") || size.starts_with("18 ");
    format!("{} {size}", if an { "an" } else { "a" })
}

/// `10 s` for a whole number of seconds, else as the reports write times.
fn dur(d: Duration) -> String {
    if d.subsec_nanos() == 0 && !d.is_zero() {
        format!("{} s", d.as_secs())
    } else {
        crate::util::fmt::duration_ms(d.as_secs_f64() * 1000.0)
    }
}

/// `8 MiB`, `512 KiB`, `300 bytes`.
fn size_text(bytes: u64) -> String {
    if bytes >= 1 << 20 && bytes % (1 << 20) == 0 {
        format!("{} MiB", bytes >> 20)
    } else if bytes >= 1 << 20 {
        format!("{:.1} MiB", bytes as f64 / f64::from(1 << 20))
    } else if bytes >= 1 << 10 {
        format!("{:.0} KiB", bytes as f64 / 1024.0)
    } else {
        format!("{bytes} bytes")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_is_seconds_or_a_date() {
        assert_eq!(parse_retry_after("1"), Some(Duration::from_secs(1)));
        assert_eq!(parse_retry_after(" 30 "), Some(Duration::from_secs(30)));
        assert_eq!(parse_retry_after("1.5"), None);
        assert_eq!(parse_retry_after("-1"), None);
        assert_eq!(parse_retry_after("soon"), None);
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"),
            Some(Duration::ZERO)
        );
    }

    #[test]
    fn sizes() {
        assert_eq!(size_text(8 << 20), "8 MiB");
        assert_eq!(size_text(1536 << 10), "1.5 MiB");
        assert_eq!(size_text(2048), "2 KiB");
        assert_eq!(size_text(10), "10 bytes");
    }
}

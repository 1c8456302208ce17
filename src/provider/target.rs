//! What an endpoint probe needs to know about a provider (`crate::probe`):
//! where its requests go, the headers it sends (which of them carry
//! credentials), and bodies in its wire format: a valid request, one missing
//! required fields, and a valid request whose prompt is padding. Built by
//! `build::probe_target` from the provider's configuration, with the same
//! credentials, client settings (timeouts, proxies, same-origin redirects
//! only) and URL as its answers.

use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use serde_json::{json, Map, Value};

use super::http::transport::{client, header_map, join_url, secret_header};
use super::http::HttpApi;
use super::{Message, Request};
use crate::config::provider::{AnthropicConfig, HttpConfig, Limits, OpenAiConfig};

/// The prompt of a probe's valid request.
const PROMPT: &str = "Reply with the single word: pong.";

/// Where the padding of an oversized body goes, replaced while streaming.
const PAD_MARK: &str = "EVALGATE-PROBE-PADDING-7c1e";

/// A provider's endpoint, as its probes send to it.
pub(crate) struct ProbeTarget {
    pub client: reqwest::Client,
    pub method: reqwest::Method,
    pub url: reqwest::Url,
    /// The URL as configured, for evidence (pass it through redaction).
    pub url_text: String,
    /// Every header of a valid request, credentials included.
    pub headers: HeaderMap,
    /// The names of the headers that carry credentials (sensitive headers,
    /// `redact_headers`, and headers whose value came from the environment).
    pub credentials: Vec<HeaderName>,
    /// A valid request body.
    pub valid: Vec<u8>,
    /// A body without the fields the API requires (`messages`, …).
    pub missing_fields: Vec<u8>,
    /// A valid body split where its prompt is: the padding goes in between.
    pub padded: (String, String),
    /// The per-try timeout of one exchange.
    pub timeout: Duration,
    pub requests_per_minute: Option<u32>,
}

impl ProbeTarget {
    /// The credential headers with a wrong value of the same shape
    /// (`Bearer <wrong>` for a bearer token).
    pub(crate) fn wrong_credentials(&self) -> Vec<(HeaderName, HeaderValue)> {
        let wrong = "evalgate-probe-wrong-key-0000000000000000";
        let mut out = Vec::new();
        for name in &self.credentials {
            let scheme = self
                .headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.split_once(' '))
                .map(|(s, _)| s.to_string());
            let value = match scheme {
                Some(s) => format!("{s} {wrong}"),
                None => wrong.to_string(),
            };
            if let Ok(v) = HeaderValue::from_str(&value) {
                out.push((name.clone(), v));
            }
        }
        if out.is_empty() {
            // No credential configured: a wrong bearer token is still a wrong key.
            if let Ok(v) = HeaderValue::from_str(&format!("Bearer {wrong}")) {
                out.push((reqwest::header::AUTHORIZATION, v));
            }
        }
        out
    }
}

/// The per-try timeout of a probe exchange: the provider's, at most 60 s,
/// 30 s when it has none.
fn timeout(limits: &Limits) -> Duration {
    limits
        .timeout
        .unwrap_or(Duration::from_secs(30))
        .min(Duration::from_secs(60))
}

/// A body as sent: a JSON value, or a string body as its text.
fn json_bytes(v: &Value) -> Vec<u8> {
    match v {
        Value::String(s) => s.clone().into_bytes(),
        v => serde_json::to_vec(v).unwrap_or_default(),
    }
}

/// `(before, after)` the padding mark in `body` serialised; a body without
/// the mark gets a `padding` field.
fn split_padded(body: &Value) -> (String, String) {
    let text = serde_json::to_string(body).unwrap_or_default();
    match text.split_once(PAD_MARK) {
        Some((a, b)) => (a.to_string(), b.to_string()),
        None => (r#"{"padding":""#.to_string(), r#""}"#.to_string()),
    }
}

/// Names of headers whose configured value is secret.
fn credential_names(
    headers: &HeaderMap,
    env_headers: &[String],
    redact: &[String],
) -> Vec<HeaderName> {
    let mut names: Vec<HeaderName> = Vec::new();
    for name in headers.keys() {
        let secret = crate::secret::SENSITIVE_HEADERS.contains(&name.as_str())
            || redact.iter().any(|r| r.eq_ignore_ascii_case(name.as_str()))
            || env_headers
                .iter()
                .any(|h| h.eq_ignore_ascii_case(name.as_str()));
        if secret && !names.contains(name) {
            names.push(name.clone());
        }
    }
    names
}

fn url_of(base: &str, suffix: &str) -> Result<reqwest::Url, String> {
    join_url(base, suffix)?.ok_or_else(|| "the URL holds an unexpanded `${…}`".to_string())
}

/// `type: openai`.
pub(crate) fn openai(
    cfg: &OpenAiConfig,
    key: Option<&str>,
    headers: &[(String, String)],
    env_headers: &[String],
    redact: &[String],
    limits: &Limits,
) -> Result<ProbeTarget, String> {
    let mut defaults = vec![(
        reqwest::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    )];
    if let Some(key) = key {
        defaults.push((
            reqwest::header::AUTHORIZATION,
            secret_header(&format!("Bearer {key}"))?,
        ));
    }
    let headers = header_map(defaults, headers)?;
    let body = |prompt: &str| {
        let mut m = Map::new();
        m.insert("model".into(), Value::String(cfg.model.clone()));
        m.insert(
            "messages".into(),
            json!([{"role": "user", "content": prompt}]),
        );
        for (k, v) in &cfg.params {
            m.insert(k.clone(), v.clone());
        }
        Value::Object(m)
    };
    chat_target(
        Endpoint {
            base_url: &cfg.base_url,
            path: "/chat/completions",
            headers,
            env_headers,
            redact,
            limits,
        },
        body,
        json!({"model": cfg.model}),
    )
}

/// Where a chat API target sends, and with which headers.
struct Endpoint<'a> {
    base_url: &'a str,
    path: &'a str,
    headers: reqwest::header::HeaderMap,
    env_headers: &'a [String],
    redact: &'a [String],
    limits: &'a Limits,
}

/// A chat API's target: a POST to `base_url` + `path`; `body(prompt)` is a
/// valid request, `missing_fields` one without its messages.
fn chat_target(
    e: Endpoint<'_>,
    body: impl Fn(&str) -> Value,
    missing_fields: Value,
) -> Result<ProbeTarget, String> {
    Ok(ProbeTarget {
        client: client(e.base_url, e.limits)?,
        method: reqwest::Method::POST,
        url: url_of(e.base_url, e.path)?,
        url_text: super::http::transport::join_url_text(e.base_url, e.path),
        credentials: credential_names(&e.headers, e.env_headers, e.redact),
        headers: e.headers,
        valid: json_bytes(&body(PROMPT)),
        missing_fields: json_bytes(&missing_fields),
        padded: split_padded(&body(PAD_MARK)),
        timeout: timeout(e.limits),
        requests_per_minute: e.limits.requests_per_minute,
    })
}

/// `type: anthropic`.
pub(crate) fn anthropic(
    cfg: &AnthropicConfig,
    key: Option<&str>,
    headers: &[(String, String)],
    env_headers: &[String],
    redact: &[String],
    limits: &Limits,
) -> Result<ProbeTarget, String> {
    let version = HeaderValue::from_str(cfg.version.trim())
        .map_err(|_| format!("invalid anthropic version `{}`", cfg.version))?;
    let mut defaults = vec![
        (
            reqwest::header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        ),
        (HeaderName::from_static("anthropic-version"), version),
    ];
    if let Some(key) = key {
        defaults.push((HeaderName::from_static("x-api-key"), secret_header(key)?));
    }
    let headers = header_map(defaults, headers)?;
    let body = |prompt: &str| {
        let mut m = Map::new();
        m.insert("model".into(), Value::String(cfg.model.clone()));
        m.insert("max_tokens".into(), Value::from(cfg.max_tokens.min(16)));
        m.insert(
            "messages".into(),
            json!([{"role": "user", "content": prompt}]),
        );
        Value::Object(m)
    };
    chat_target(
        Endpoint {
            base_url: &cfg.base_url,
            path: "/v1/messages",
            headers,
            env_headers,
            redact,
            limits,
        },
        body,
        json!({"model": cfg.model, "max_tokens": 16}),
    )
}

/// `type: http`: the configured body rendered with a short prompt.
#[allow(clippy::too_many_arguments)]
pub(crate) fn http(
    name: &str,
    cfg: &HttpConfig,
    url: String,
    key: Option<String>,
    headers: Vec<(String, String)>,
    env_headers: &[String],
    redact: &[String],
    limits: &Limits,
) -> Result<ProbeTarget, String> {
    let mut plain = cfg.clone();
    plain.stream = None;
    let api = HttpApi::new(name, &plain, url.clone(), headers, key, limits)?;
    let render = |prompt: &str| -> Result<Value, String> {
        let request = Request {
            suite: "probes".into(),
            case_id: "probe".into(),
            repeat: 1,
            messages: vec![Message::new("user", prompt)],
            timeout: timeout(limits),
            vars: json!({}),
            call: super::ANSWER.into(),
            format: crate::provider::Format::Text,
            observer: None,
        };
        Ok(api.render_body(&request)?.unwrap_or_else(|| json!({})))
    };
    let valid = render(PROMPT)?;
    let headers = api.headers().clone();
    let method = api.method().clone();
    Ok(ProbeTarget {
        client: client(&url, limits)?,
        method,
        url: reqwest::Url::parse(url.trim())
            .map_err(|e| format!("invalid URL `{}`: {e}", crate::secret::redact(&url)))?,
        url_text: url,
        credentials: credential_names(&headers, env_headers, redact),
        headers,
        valid: json_bytes(&valid),
        missing_fields: b"{}".to_vec(),
        padded: split_padded(&render(PAD_MARK)?),
        timeout: timeout(limits),
        requests_per_minute: limits.requests_per_minute,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::provider::Extract;

    fn text(b: &[u8]) -> String {
        String::from_utf8_lossy(b).into_owned()
    }

    #[test]
    fn openai_target() {
        let cfg = OpenAiConfig {
            base_url: "http://127.0.0.1:9/v1".into(),
            model: "m".into(),
            api_key_env: Some("K".into()),
            headers: Vec::new(),
            stream: true,
            params: Map::new(),
            embeddings_model: None,
        };
        let headers = vec![("X-Tenant".to_string(), "t-1".to_string())];
        let t = openai(
            &cfg,
            Some("sk-1"),
            &headers,
            &["X-Tenant".into()],
            &[],
            &Limits::default(),
        )
        .unwrap();
        assert_eq!(t.url.as_str(), "http://127.0.0.1:9/v1/chat/completions");
        let names: Vec<&str> = t.credentials.iter().map(|n| n.as_str()).collect();
        assert_eq!(names, ["authorization", "x-tenant"]);
        let wrong = t.wrong_credentials();
        assert!(wrong[0]
            .1
            .to_str()
            .unwrap()
            .starts_with("Bearer evalgate-probe-wrong-key"));
        assert!(!wrong[1].1.to_str().unwrap().starts_with("Bearer"));
        // Probes ask for a whole answer, never a stream.
        assert!(!text(&t.valid).contains("stream"));
        assert_eq!(text(&t.missing_fields), r#"{"model":"m"}"#);
        let (a, b) = &t.padded;
        assert!(a.ends_with(r#""content":""#), "{a}");
        assert!(b.starts_with('"'), "{b}");
        assert_eq!(t.timeout, Duration::from_secs(30));
    }

    #[test]
    fn anthropic_target() {
        let cfg = AnthropicConfig {
            base_url: "http://127.0.0.1:9".into(),
            model: "claude".into(),
            api_key_env: Some("K".into()),
            version: "2023-06-01".into(),
            max_tokens: 1024,
            system: None,
            headers: Vec::new(),
            stream: false,
            params: Map::new(),
        };
        let t = anthropic(&cfg, Some("sk-ant-1"), &[], &[], &[], &Limits::default()).unwrap();
        assert_eq!(t.url.as_str(), "http://127.0.0.1:9/v1/messages");
        let names: Vec<&str> = t.credentials.iter().map(|n| n.as_str()).collect();
        assert_eq!(names, ["x-api-key"]);
        assert!(t.headers.contains_key("anthropic-version"));
        let wrong = t.wrong_credentials();
        assert!(wrong[0]
            .1
            .to_str()
            .unwrap()
            .starts_with("evalgate-probe-wrong-key"));
        assert_eq!(
            text(&t.missing_fields),
            r#"{"model":"claude","max_tokens":16}"#
        );
        assert!(text(&t.valid).contains(r#""max_tokens":16"#));
    }

    #[test]
    fn http_target_renders_the_configured_body() {
        let cfg = HttpConfig {
            method: "PUT".into(),
            url: "http://127.0.0.1:9/chat".into(),
            headers: Vec::new(),
            api_key_env: None,
            body: Some(json!({"message": "{{ prompt }}", "session": "s-{{ case.id }}"})),
            output: Extract::Pointer("/reply".into()),
            usage_input: None,
            usage_output: None,
            stream: None,
        };
        let t = http(
            "app",
            &cfg,
            cfg.url.clone(),
            None,
            Vec::new(),
            &[],
            &[],
            &Limits::default(),
        )
        .unwrap();
        assert_eq!(t.method, reqwest::Method::PUT);
        assert!(t.credentials.is_empty());
        // No credential configured: a wrong bearer token is still a wrong key.
        assert_eq!(t.wrong_credentials()[0].0, reqwest::header::AUTHORIZATION);
        let valid: Value = serde_json::from_slice(&t.valid).unwrap();
        assert_eq!(valid["message"], PROMPT);
        assert_eq!(valid["session"], "s-probe");
        assert_eq!(text(&t.missing_fields), "{}");
        assert!(t.padded.0.contains(r#""message":""#), "{:?}", t.padded);
    }
}

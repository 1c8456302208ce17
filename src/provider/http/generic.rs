//! The `http` provider type: any JSON/HTTP API.
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

use std::time::{Instant, SystemTime};

use futures::future::BoxFuture;
use reqwest::header::{HeaderMap, HeaderValue, ACCEPT, CONTENT_TYPE};
use serde_json::Value;

use super::api_error::{error_from_response, stream_error, EXCERPT_CHARS};
use super::chat::Times;
use super::json::{compact, json_u64, usage_of};
use super::response::HttpResponse;
use super::transport::{
    check_url, client, elapsed_ms, header_map, is_event_stream, read_body, secret_header,
    send_error, timed_send, MAX_BODY_BYTES,
};
use crate::config::provider::{Extract, HttpConfig, HttpStream, Limits};
use crate::model::{Timing, Usage};
use crate::provider::sse::{received, SseReader};
use crate::provider::{excerpt, Provider, ProviderError, Request, Response};

/// Text of a JSON value for an output: a string as is, anything else as compact JSON.
fn value_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => compact(other),
    }
}

/// The `http` provider: any JSON/HTTP API.
pub(crate) struct HttpApi {
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
    pub(crate) fn new(
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

    /// The headers of every request (credentials included).
    pub(crate) fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    pub(crate) fn method(&self) -> &reqwest::Method {
        &self.method
    }

    /// The body for `request`, or a description of the template error.
    pub(crate) fn render_body(&self, request: &Request) -> Result<Option<Value>, String> {
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
        resp: HttpResponse,
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
            if let Err((m, _)) = crate::template::check_bounds(s) {
                return Err(format!("invalid template in `{path}`: {m}"));
            }
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
            let (resp, connect_ms) = timed_send(builder.send()).await;
            let mut resp = HttpResponse::from(resp.map_err(|e| send_error(&self.url, e))?);
            let times = Times {
                connect_ms,
                headers_ms: elapsed_ms(start),
            };
            if !resp.status().is_success() {
                return Err(error_from_response(resp).await);
            }
            if let Some(stream) = &self.stream {
                let mut r = self.read_stream(resp, stream, start, started_at).await?;
                times.apply(&mut r.timing);
                return Ok(r);
            }
            let bytes = read_body(&mut resp, MAX_BODY_BYTES).await?;
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
                timing: {
                    let mut t = Timing {
                        started_at: Some(started_at),
                        latency_ms,
                        ..Default::default()
                    };
                    times.apply(&mut t);
                    t
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provider::http::test_support::{
        dropping_server, encoded, free_port, request, SPACED_SECRET,
    };
    use std::time::Duration;
    use wiremock::matchers::{body_json, header, method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};

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

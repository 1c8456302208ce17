//! `anthropic`: the Messages API (`POST {base_url}/v1/messages`).
//! `/v1/messages` is appended to the path of `base_url`; a query in it is
//! kept.
//!
//! `system` is the configured system prompt followed by the suite's
//! `system` messages, joined with blank lines (omitted when empty); the
//! other messages are sent as `{role, content}`. `max_tokens` is always
//! sent, then the configured parameters in order.
//!
//! The answer's text is the concatenation of its `text` blocks; `tool_use`
//! blocks become tool calls with the input as compact JSON. With `stream:
//! true` the typed events are read: `text_delta`, `input_json_delta` and
//! `thinking_delta` with content count as token chunks (thinking is not
//! output text); `message_stop` ends the stream, and a stream that ends
//! without it is a [`ProviderError::Stream`]. An `error` event is a
//! [`ProviderError::Stream`] (retried) for overload, API, rate-limit and
//! timeout errors, a [`ProviderError::Provider`] otherwise.
//!
//! The response's content type decides how it is read (an event stream or
//! one JSON message). An error in a successful non-streamed answer is
//! classified like an `error` event ([`api_error::response_error`]).

use std::collections::BTreeMap;

use reqwest::header::{HeaderName, HeaderValue, CONTENT_TYPE};
use serde_json::{Map, Value};

use super::http::api_error::{self, stream_error, EXCERPT_CHARS};
use super::http::chat::{Chat, ChatApi, ChatEndpoint, Fold};
use super::http::json::{compact, json_u64, usage_of};
use super::http::transport::secret_header;
use super::sse::{received, SseEvent};
use super::{excerpt, Message, ProviderError, Request, Response, ToolCall};
use crate::config::provider::{AnthropicConfig, Limits};
use crate::model::Usage;
use crate::util::json::canonical;

/// The Anthropic Messages API.
pub(crate) type Anthropic = Chat<Messages>;

impl Anthropic {
    /// `api_key` (resolved) is sent as `x-api-key`; `headers` are the
    /// configured headers with their values resolved (they replace defaults
    /// of the same name).
    pub(crate) fn new(
        name: &str,
        cfg: &AnthropicConfig,
        api_key: Option<String>,
        headers: Vec<(String, String)>,
        limits: &Limits,
    ) -> Result<Self, String> {
        let version = HeaderValue::from_str(cfg.version.trim())
            .map_err(|_| format!("invalid anthropic version `{}`", cfg.version))?;
        let mut defaults = vec![
            (CONTENT_TYPE, HeaderValue::from_static("application/json")),
            (HeaderName::from_static("anthropic-version"), version),
        ];
        if let Some(key) = &api_key {
            crate::secret::register(key);
            defaults.push((HeaderName::from_static("x-api-key"), secret_header(key)?));
        }
        let endpoint =
            ChatEndpoint::new(&cfg.base_url, "/v1/messages", defaults, &headers, limits)?;
        let api = Messages {
            model: cfg.model.clone(),
            max_tokens: cfg.max_tokens,
            system: cfg.system.clone(),
            stream: cfg.stream,
            params: cfg.params.clone(),
        };
        Ok(Chat::from_parts(name, endpoint, api))
    }
}

/// The Messages wire format.
pub(crate) struct Messages {
    model: String,
    max_tokens: u64,
    system: Option<String>,
    stream: bool,
    params: Map<String, Value>,
}

impl Messages {
    /// The system prompt (configured, then the suite's system messages) and
    /// the other messages.
    fn split<'r>(&self, request: &'r Request) -> (Option<String>, Vec<&'r Message>) {
        let mut parts: Vec<&str> = Vec::new();
        if let Some(s) = self.system.as_deref().filter(|s| !s.trim().is_empty()) {
            parts.push(s);
        }
        let mut messages = Vec::new();
        for m in &request.messages {
            if m.role == "system" {
                if !m.content.trim().is_empty() {
                    parts.push(&m.content);
                }
            } else {
                messages.push(m);
            }
        }
        let system = (!parts.is_empty()).then(|| parts.join("\n\n"));
        (system, messages)
    }
}

/// The messages in the Messages API format: `{role, content}`; in a
/// conversation an assistant's tool calls become `tool_use` blocks and the
/// `tool` messages answering them one user message of `tool_result` blocks.
fn wire_messages(messages: &[&Message]) -> Value {
    let mut out: Vec<Value> = Vec::new();
    for (i, m) in messages.iter().enumerate() {
        if m.role == "tool" {
            let block = serde_json::json!({
                "type": "tool_result",
                "tool_use_id": m.tool_call_id.clone().unwrap_or_default(),
                "content": m.content,
            });
            // Results of one turn's calls go in one user message.
            let merged = i > 0 && messages[i - 1].role == "tool";
            if let (true, Some(Value::Object(last))) = (merged, out.last_mut()) {
                if let Some(Value::Array(blocks)) = last.get_mut("content") {
                    blocks.push(block);
                    continue;
                }
            }
            out.push(serde_json::json!({"role": "user", "content": [block]}));
        } else if !m.tool_calls.is_empty() {
            let mut blocks = Vec::new();
            if !m.content.is_empty() {
                blocks.push(serde_json::json!({"type": "text", "text": m.content}));
            }
            for (k, c) in m.tool_calls.iter().enumerate() {
                let input: Value = serde_json::from_str(&c.arguments)
                    .unwrap_or_else(|_| Value::Object(Map::new()));
                blocks.push(serde_json::json!({
                    "type": "tool_use",
                    "id": c.id.clone().unwrap_or_else(|| format!("toolu_{}", k + 1)),
                    "name": c.name,
                    "input": input,
                }));
            }
            out.push(serde_json::json!({"role": m.role, "content": blocks}));
        } else {
            out.push(serde_json::json!({"role": m.role, "content": m.content}));
        }
    }
    Value::Array(out)
}

impl ChatApi for Messages {
    type Stream = StreamAcc;

    fn body(&self, request: &Request) -> Value {
        let (system, messages) = self.split(request);
        let mut body = Map::new();
        body.insert("model".into(), Value::String(self.model.clone()));
        body.insert("max_tokens".into(), Value::from(self.max_tokens));
        if let Some(system) = system {
            body.insert("system".into(), Value::String(system));
        }
        body.insert("messages".into(), wire_messages(&messages));
        for (k, v) in &self.params {
            body.insert(k.clone(), v.clone());
        }
        if self.stream {
            body.insert("stream".into(), Value::Bool(true));
        }
        Value::Object(body)
    }

    fn request_key(&self, request: &Request) -> Value {
        let (system, messages) = self.split(request);
        serde_json::json!({
            "type": "anthropic",
            "model": self.model,
            "max_tokens": self.max_tokens,
            "system": system,
            "params": canonical(&Value::Object(self.params.clone())),
            "messages": messages,
        })
    }

    fn parse(&self, value: &Value, text: &str) -> Result<Response, ProviderError> {
        parse_message(value, text)
    }

    fn fold(&self, acc: &mut StreamAcc, event: &SseEvent) -> Result<Fold, ProviderError> {
        let data = event.data.trim();
        let v: Value = serde_json::from_str(data).map_err(|_| {
            ProviderError::Stream(format!(
                "malformed `{}` event: {}",
                event.event,
                excerpt(data, EXCERPT_CHARS)
            ))
        })?;
        let kind = v
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or(event.event.as_str());
        acc.event(kind, &v)
    }

    fn cut_short(&self, acc: &StreamAcc, events: usize) -> String {
        format!(
            "stream ended after {events} events without message_stop{}",
            received(&acc.text)
        )
    }

    fn finish(&self, acc: StreamAcc) -> Response {
        Response {
            text: acc.text,
            tool_calls: acc
                .blocks
                .into_values()
                .filter_map(|b| match b {
                    Block::ToolUse {
                        id,
                        name,
                        input,
                        partial,
                    } => Some(ToolCall {
                        id,
                        name,
                        arguments: tool_arguments(&partial, &input),
                    }),
                    Block::Other => None,
                })
                .collect(),
            usage: usage_of(acc.input_tokens, acc.output_tokens),
            model: acc.model,
            finish_reason: acc.stop_reason,
            ..Default::default()
        }
    }
}

/// Streamed tool input as compact JSON (like a non-streamed answer's
/// `input`); the text as sent when it does not parse; the start block's
/// `input` when no delta came.
fn tool_arguments(partial: &str, input: &Value) -> String {
    if partial.trim().is_empty() {
        return compact(input);
    }
    match serde_json::from_str::<Value>(partial) {
        Ok(v) => compact(&v),
        Err(_) => partial.to_string(),
    }
}

enum Block {
    ToolUse {
        id: Option<String>,
        name: String,
        input: Value,
        partial: String,
    },
    Other,
}

/// What a stream has delivered so far.
#[derive(Default)]
pub(crate) struct StreamAcc {
    text: String,
    blocks: BTreeMap<u64, Block>,
    model: Option<String>,
    stop_reason: Option<String>,
    input_tokens: Option<u64>,
    output_tokens: Option<u64>,
}

impl StreamAcc {
    /// Apply one event of type `kind`.
    fn event(&mut self, kind: &str, v: &Value) -> Result<Fold, ProviderError> {
        let index = v.get("index").and_then(Value::as_u64).unwrap_or(0);
        let mut token = false;
        match kind {
            "message_start" => {
                let message = v.get("message");
                if let Some(m) = message.and_then(|m| m.get("model")).and_then(Value::as_str) {
                    self.model = Some(m.to_string());
                }
                if let Some(u) = message.and_then(|m| m.get("usage")) {
                    self.usage(u);
                }
            }
            "content_block_start" => {
                let block = v.get("content_block");
                let block_type = block.and_then(|b| b.get("type")).and_then(Value::as_str);
                let entry = match (block, block_type) {
                    (Some(b), Some("tool_use")) => Block::ToolUse {
                        id: b.get("id").and_then(Value::as_str).map(str::to_string),
                        name: b
                            .get("name")
                            .and_then(Value::as_str)
                            .unwrap_or_default()
                            .to_string(),
                        input: b
                            .get("input")
                            .cloned()
                            .unwrap_or_else(|| Value::Object(Map::new())),
                        partial: String::new(),
                    },
                    (Some(b), Some("text")) => {
                        // A start block may already carry text (normally "").
                        if let Some(t) = b.get("text").and_then(Value::as_str) {
                            if !t.is_empty() {
                                self.text.push_str(t);
                                token = true;
                            }
                        }
                        Block::Other
                    }
                    _ => Block::Other,
                };
                self.blocks.insert(index, entry);
            }
            "content_block_delta" => {
                let delta = v.get("delta");
                let delta_type = delta.and_then(|d| d.get("type")).and_then(Value::as_str);
                let field = |name: &str| {
                    delta
                        .and_then(|d| d.get(name))
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                };
                match delta_type {
                    Some("text_delta") => {
                        let t = field("text");
                        if !t.is_empty() {
                            self.text.push_str(t);
                            token = true;
                        }
                    }
                    Some("input_json_delta") => {
                        let p = field("partial_json");
                        if let Some(Block::ToolUse { partial, .. }) = self.blocks.get_mut(&index) {
                            partial.push_str(p);
                        }
                        if !p.is_empty() {
                            token = true;
                        }
                    }
                    Some("thinking_delta") if !field("thinking").is_empty() => {
                        token = true;
                    }
                    _ => {}
                }
            }
            "message_delta" => {
                if let Some(r) = v
                    .get("delta")
                    .and_then(|d| d.get("stop_reason"))
                    .and_then(Value::as_str)
                {
                    self.stop_reason = Some(r.to_string());
                }
                if let Some(u) = v.get("usage") {
                    self.usage(u);
                }
            }
            "message_stop" => return Ok(Fold::End),
            "error" => {
                let err = v.get("error").unwrap_or(v);
                return Err(stream_error(err));
            }
            // ping, content_block_stop and event types added later.
            _ => {}
        }
        Ok(if token { Fold::Token } else { Fold::Quiet })
    }

    fn usage(&mut self, u: &Value) {
        if let Some(n) = u.get("input_tokens").and_then(json_u64) {
            self.input_tokens = Some(n);
        }
        if let Some(n) = u.get("output_tokens").and_then(json_u64) {
            self.output_tokens = Some(n);
        }
    }
}

/// A non-streamed message.
fn parse_message(v: &Value, body: &str) -> Result<Response, ProviderError> {
    if v.get("type").and_then(Value::as_str) == Some("error")
        || v.get("error").is_some_and(|e| !e.is_null())
    {
        // Classified like an `error` event in a stream: transient ones retried.
        let err = v.get("error").filter(|e| !e.is_null()).unwrap_or(v);
        return Err(api_error::response_error(err));
    }
    let content = v.get("content").and_then(Value::as_array).ok_or_else(|| {
        ProviderError::Provider(format!(
            "malformed response (no `content`): {}",
            excerpt(body, EXCERPT_CHARS)
        ))
    })?;
    let mut text = String::new();
    let mut tool_calls = Vec::new();
    for block in content {
        match block.get("type").and_then(Value::as_str) {
            Some("text") => {
                if let Some(t) = block.get("text").and_then(Value::as_str) {
                    text.push_str(t);
                }
            }
            Some("tool_use") => tool_calls.push(ToolCall {
                id: block.get("id").and_then(Value::as_str).map(str::to_string),
                name: block
                    .get("name")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string(),
                arguments: compact(block.get("input").unwrap_or(&Value::Object(Map::new()))),
            }),
            _ => {}
        }
    }
    let usage: Option<Usage> = v.get("usage").and_then(|u| {
        usage_of(
            u.get("input_tokens").and_then(json_u64),
            u.get("output_tokens").and_then(json_u64),
        )
    });
    Ok(Response {
        text,
        tool_calls,
        usage,
        model: v.get("model").and_then(Value::as_str).map(str::to_string),
        finish_reason: v
            .get("stop_reason")
            .and_then(Value::as_str)
            .map(str::to_string),
        ..Default::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provider::http::test_support::{
        dropping_server, encoded, free_port, request, SPACED_SECRET,
    };
    use crate::provider::Provider;
    use std::time::Duration;
    use wiremock::matchers::{body_json, header, method, path, query_param};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    fn config(base_url: &str, stream: bool) -> AnthropicConfig {
        AnthropicConfig {
            base_url: format!("{base_url}/"),
            model: "claude-test".into(),
            api_key_env: None,
            version: "2023-06-01".into(),
            max_tokens: 256,
            system: None,
            headers: vec![],
            stream,
            params: Map::new(),
        }
    }

    fn provider(base_url: &str, stream: bool) -> Anthropic {
        Anthropic::new(
            "an",
            &config(base_url, stream),
            None,
            vec![],
            &Limits::default(),
        )
        .unwrap()
    }

    async fn serve(server: &MockServer, response: ResponseTemplate) {
        Mock::given(method("POST"))
            .and(path("/v1/messages"))
            .respond_with(response)
            .mount(server)
            .await;
    }

    fn sse(events: &[(&str, &str)]) -> String {
        events
            .iter()
            .map(|(e, d)| format!("event: {e}\ndata: {d}\n\n"))
            .collect()
    }

    const START: (&str, &str) = (
        "message_start",
        r#"{"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","content":[],"model":"claude-test-20250101","stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":25,"output_tokens":1}}}"#,
    );
    const TEXT_START: (&str, &str) = (
        "content_block_start",
        r#"{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}"#,
    );
    const PING: (&str, &str) = ("ping", r#"{"type": "ping"}"#);
    const HEL: (&str, &str) = (
        "content_block_delta",
        r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hel"}}"#,
    );
    const LO: (&str, &str) = (
        "content_block_delta",
        r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"lo"}}"#,
    );
    const TEXT_STOP: (&str, &str) = (
        "content_block_stop",
        r#"{"type":"content_block_stop","index":0}"#,
    );
    const DELTA: (&str, &str) = (
        "message_delta",
        r#"{"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":15}}"#,
    );
    const STOP: (&str, &str) = ("message_stop", r#"{"type":"message_stop"}"#);

    #[tokio::test]
    async fn non_streaming_answer_with_system_usage_and_headers() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/v1/messages"))
            .and(header("x-api-key", "sk-ant-unit-key"))
            .and(header("anthropic-version", "2023-06-01"))
            .and(header("content-type", "application/json"))
            .and(body_json(serde_json::json!({
                "model": "claude-test",
                "max_tokens": 256,
                "system": "Be brief.\n\nAnswer in French.",
                "messages": [{"role": "user", "content": "Capital of France?"}],
                "temperature": 0
            })))
            .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
                "id": "msg_1",
                "type": "message",
                "role": "assistant",
                "model": "claude-test-20250101",
                "content": [
                    {"type": "text", "text": "Paris"},
                    {"type": "text", "text": "."}
                ],
                "stop_reason": "end_turn",
                "stop_sequence": null,
                "usage": {"input_tokens": 20, "output_tokens": 3}
            })))
            .expect(1)
            .mount(&server)
            .await;
        let mut cfg = config(&server.uri(), false);
        cfg.system = Some("Be brief.".into());
        cfg.params
            .insert("temperature".into(), serde_json::json!(0));
        let p = Anthropic::new(
            "an",
            &cfg,
            Some("sk-ant-unit-key".into()),
            vec![],
            &Limits::default(),
        )
        .unwrap();
        let resp = p
            .complete(&request(&[
                ("system", "Answer in French."),
                ("user", "Capital of France?"),
            ]))
            .await
            .unwrap();
        assert_eq!(resp.text, "Paris.");
        assert_eq!(resp.finish_reason.as_deref(), Some("end_turn"));
        assert_eq!(resp.model.as_deref(), Some("claude-test-20250101"));
        assert_eq!(
            resp.usage,
            Some(Usage {
                input_tokens: 20,
                output_tokens: 3,
                total_tokens: 23
            })
        );
        assert_eq!(resp.timing.ttft_ms, None);
    }

    #[tokio::test]
    async fn system_is_omitted_when_empty() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(body_json(serde_json::json!({
                "model": "claude-test",
                "max_tokens": 256,
                "messages": [{"role": "user", "content": "hi"}]
            })))
            .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
                "content": [{"type": "text", "text": "hello"}]
            })))
            .expect(1)
            .mount(&server)
            .await;
        let resp = provider(&server.uri(), false)
            .complete(&request(&[("user", "hi")]))
            .await
            .unwrap();
        assert_eq!(resp.text, "hello");
        assert_eq!(resp.usage, None);
    }

    #[tokio::test]
    async fn non_streaming_tool_use() {
        let server = MockServer::start().await;
        serve(
            &server,
            ResponseTemplate::new(200).set_body_json(serde_json::json!({
                "model": "claude-test",
                "content": [
                    {"type": "text", "text": "Let me check."},
                    {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Paris", "units": "c"}}
                ],
                "stop_reason": "tool_use",
                "usage": {"input_tokens": 5, "output_tokens": 7}
            })),
        )
        .await;
        let resp = provider(&server.uri(), false)
            .complete(&request(&[("user", "weather?")]))
            .await
            .unwrap();
        assert_eq!(resp.text, "Let me check.");
        assert_eq!(
            resp.tool_calls,
            vec![ToolCall {
                id: Some("toolu_1".into()),
                name: "get_weather".into(),
                arguments: r#"{"city":"Paris","units":"c"}"#.into()
            }]
        );
        assert_eq!(resp.finish_reason.as_deref(), Some("tool_use"));
    }

    #[tokio::test]
    async fn streaming_answer_with_usage_and_timing() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/v1/messages"))
            .and(|req: &wiremock::Request| {
                let v: Value = serde_json::from_slice(&req.body).unwrap();
                v["stream"] == true
            })
            .respond_with(ResponseTemplate::new(200).set_body_raw(
                sse(&[START, TEXT_START, PING, HEL, LO, TEXT_STOP, DELTA, STOP]),
                "text/event-stream",
            ))
            .expect(1)
            .mount(&server)
            .await;
        let resp = provider(&server.uri(), true)
            .complete(&request(&[("user", "hi")]))
            .await
            .unwrap();
        assert_eq!(resp.text, "Hello");
        assert_eq!(
            resp.timing.chunks,
            Some(2),
            "message_start and ping are not tokens"
        );
        assert!(resp.timing.ttft_ms.is_some());
        assert_eq!(resp.finish_reason.as_deref(), Some("end_turn"));
        assert_eq!(resp.model.as_deref(), Some("claude-test-20250101"));
        assert_eq!(
            resp.usage,
            Some(Usage {
                input_tokens: 25,
                output_tokens: 15,
                total_tokens: 40
            })
        );
    }

    #[tokio::test]
    async fn streamed_tool_use_and_thinking() {
        let server = MockServer::start().await;
        let events = [
            START,
            (
                "content_block_start",
                r#"{"type":"content_block_start","index":0,"content_block":{"type":"thinking","thinking":""}}"#,
            ),
            (
                "content_block_delta",
                r#"{"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"The user wants weather."}}"#,
            ),
            (
                "content_block_delta",
                r#"{"type":"content_block_delta","index":0,"delta":{"type":"signature_delta","signature":"abc"}}"#,
            ),
            (
                "content_block_stop",
                r#"{"type":"content_block_stop","index":0}"#,
            ),
            (
                "content_block_start",
                r#"{"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"toolu_9","name":"get_weather","input":{}}}"#,
            ),
            (
                "content_block_delta",
                r#"{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":""}}"#,
            ),
            (
                "content_block_delta",
                r#"{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{\"city\": \"Pa"}}"#,
            ),
            (
                "content_block_delta",
                r#"{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"ris\"}"}}"#,
            ),
            (
                "content_block_stop",
                r#"{"type":"content_block_stop","index":1}"#,
            ),
            (
                "content_block_start",
                r#"{"type":"content_block_start","index":2,"content_block":{"type":"tool_use","id":"toolu_10","name":"get_time","input":{}}}"#,
            ),
            (
                "content_block_stop",
                r#"{"type":"content_block_stop","index":2}"#,
            ),
            (
                "message_delta",
                r#"{"type":"message_delta","delta":{"stop_reason":"tool_use","stop_sequence":null},"usage":{"output_tokens":40}}"#,
            ),
            STOP,
        ];
        serve(
            &server,
            ResponseTemplate::new(200).set_body_raw(sse(&events), "text/event-stream"),
        )
        .await;
        let resp = provider(&server.uri(), true)
            .complete(&request(&[("user", "weather?")]))
            .await
            .unwrap();
        assert_eq!(resp.text, "", "thinking is not output text");
        assert_eq!(
            resp.tool_calls,
            vec![
                ToolCall {
                    id: Some("toolu_9".into()),
                    name: "get_weather".into(),
                    arguments: r#"{"city":"Paris"}"#.into()
                },
                ToolCall {
                    id: Some("toolu_10".into()),
                    name: "get_time".into(),
                    arguments: "{}".into()
                }
            ]
        );
        // One thinking delta and two non-empty input_json deltas.
        assert_eq!(resp.timing.chunks, Some(3));
        assert_eq!(resp.finish_reason.as_deref(), Some("tool_use"));
    }

    #[tokio::test]
    async fn a_stream_without_message_stop_is_an_error() {
        let server = MockServer::start().await;
        serve(
            &server,
            ResponseTemplate::new(200)
                .set_body_raw(sse(&[START, TEXT_START, HEL, LO]), "text/event-stream"),
        )
        .await;
        let err = provider(&server.uri(), true)
            .complete(&request(&[("user", "hi")]))
            .await
            .unwrap_err();
        assert!(matches!(err, ProviderError::Stream(_)), "{err}");
        assert!(
            err.to_string().contains(
                "stream ended after 4 events without message_stop (received 5 characters of text)"
            ),
            "{err}"
        );
    }

    #[tokio::test]
    async fn overloaded_error_event_is_retryable_and_others_are_not() {
        let server = MockServer::start().await;
        let overloaded = (
            "error",
            r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#,
        );
        serve(
            &server,
            ResponseTemplate::new(200).set_body_raw(
                sse(&[START, TEXT_START, HEL, overloaded]),
                "text/event-stream",
            ),
        )
        .await;
        let err = provider(&server.uri(), true)
            .complete(&request(&[("user", "hi")]))
            .await
            .unwrap_err();
        assert!(matches!(err, ProviderError::Stream(_)), "{err}");
        assert!(err.retryable());
        assert!(
            err.to_string().contains("overloaded_error: Overloaded"),
            "{err}"
        );

        let server = MockServer::start().await;
        let invalid = (
            "error",
            r#"{"type":"error","error":{"type":"invalid_request_error","message":"prompt is too long"}}"#,
        );
        serve(
            &server,
            ResponseTemplate::new(200).set_body_raw(sse(&[START, invalid]), "text/event-stream"),
        )
        .await;
        let err = provider(&server.uri(), true)
            .complete(&request(&[("user", "hi")]))
            .await
            .unwrap_err();
        assert!(matches!(err, ProviderError::Provider(_)), "{err}");
        assert!(!err.retryable());
    }

    #[tokio::test]
    async fn a_dropped_stream_connection_is_a_stream_error() {
        let partial = "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"model\":\"m\"}}\n\nevent: content_block_delta\ndata: {\"ty";
        let url = dropping_server("text/event-stream", partial).await;
        let err = provider(&url, true)
            .complete(&request(&[("user", "hi")]))
            .await
            .unwrap_err();
        assert!(matches!(err, ProviderError::Stream(_)), "{err}");
        assert!(
            err.to_string().contains("connection lost after 1 events"),
            "{err}"
        );
    }

    #[tokio::test]
    async fn a_malformed_event_is_a_stream_error() {
        let server = MockServer::start().await;
        serve(
            &server,
            ResponseTemplate::new(200).set_body_raw(
                sse(&[START, ("content_block_delta", "{nope"), STOP]),
                "text/event-stream",
            ),
        )
        .await;
        let err = provider(&server.uri(), true)
            .complete(&request(&[("user", "hi")]))
            .await
            .unwrap_err();
        assert!(matches!(err, ProviderError::Stream(_)), "{err}");
        assert!(
            err.to_string()
                .contains("malformed `content_block_delta` event: {nope"),
            "{err}"
        );
    }

    #[tokio::test]
    async fn http_errors_are_summarised_and_carry_retry_after() {
        let server = MockServer::start().await;
        serve(
            &server,
            ResponseTemplate::new(529)
                .insert_header("retry-after", "4")
                .set_body_json(serde_json::json!({
                    "type": "error",
                    "error": {"type": "overloaded_error", "message": "Overloaded"}
                })),
        )
        .await;
        let err = provider(&server.uri(), false)
            .complete(&request(&[("user", "hi")]))
            .await
            .unwrap_err();
        assert_eq!(err.to_string(), "HTTP 529: overloaded_error: Overloaded");
        assert!(err.retryable());
        assert_eq!(err.retry_after(), Some(Duration::from_secs(4)));
    }

    #[tokio::test]
    async fn an_error_body_with_status_200_is_classified_like_an_error_event() {
        // Regression: a transient error in a 200 answer was final, while the
        // same error as a stream event is retried.
        let cases = [
            (
                serde_json::json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}),
                true,
                "HTTP 502: overloaded_error: Overloaded (error object in a successful response)",
            ),
            (
                serde_json::json!({"type": "error", "error": {"type": "api_error", "message": "Internal", "status": 500}}),
                true,
                "HTTP 500: api_error: Internal",
            ),
            (
                serde_json::json!({"type": "error", "error": {"type": "invalid_request_error", "message": "prompt is too long"}}),
                false,
                "provider error: error in response: invalid_request_error: prompt is too long",
            ),
        ];
        for (body, retryable, text) in cases {
            let server = MockServer::start().await;
            serve(&server, ResponseTemplate::new(200).set_body_json(&body)).await;
            let err = provider(&server.uri(), false)
                .complete(&request(&[("user", "hi")]))
                .await
                .unwrap_err();
            assert_eq!(err.retryable(), retryable, "{body}: {err}");
            assert!(err.to_string().starts_with(text), "{err}");
            assert_eq!(
                stream_error(&body["error"]).retryable(),
                retryable,
                "{body}"
            );
        }
    }

    #[tokio::test]
    async fn malformed_json_is_a_provider_error() {
        let server = MockServer::start().await;
        serve(
            &server,
            ResponseTemplate::new(200).set_body_raw("{\"content\": [", "application/json"),
        )
        .await;
        let err = provider(&server.uri(), false)
            .complete(&request(&[("user", "hi")]))
            .await
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "provider error: malformed JSON response: {\"content\": ["
        );
    }

    #[tokio::test]
    async fn the_api_key_never_appears_in_errors() {
        let key = "sk-ant-secret-key-123456789";
        crate::secret::register(key);
        let server = MockServer::start().await;
        serve(
            &server,
            ResponseTemplate::new(401).set_body_string(format!("invalid x-api-key: {key}")),
        )
        .await;
        let p = Anthropic::new(
            "an",
            &config(&server.uri(), false),
            Some(key.into()),
            vec![],
            &Limits::default(),
        )
        .unwrap();
        let err = p.complete(&request(&[("user", "hi")])).await.unwrap_err();
        assert!(!err.to_string().contains(key), "{err}");
        assert!(err.to_string().contains("[REDACTED]"), "{err}");
    }

    #[tokio::test]
    async fn a_query_in_base_url_is_kept_after_the_path() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/proxy/anthropic/v1/messages"))
            .and(query_param("tenant", "qa team"))
            .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
                "type": "message",
                "content": [{"type": "text", "text": "proxied"}]
            })))
            .expect(1)
            .mount(&server)
            .await;
        let mut cfg = config("", false);
        cfg.base_url = format!("{}/proxy/anthropic/?tenant=qa%20team", server.uri());
        let p = Anthropic::new("an", &cfg, None, vec![], &Limits::default()).unwrap();
        let resp = p.complete(&request(&[("user", "hi")])).await.unwrap();
        assert_eq!(resp.text, "proxied");
    }

    #[tokio::test]
    async fn percent_encoded_secrets_in_base_url_do_not_leak_from_transport_errors() {
        crate::secret::register(SPACED_SECRET);
        let addr = free_port();
        let mut cfg = config("", false);
        cfg.base_url = format!("http://{addr}?sig={SPACED_SECRET}");
        let p = Anthropic::new("an", &cfg, None, vec![], &Limits::default()).unwrap();
        let err = p.complete(&request(&[("user", "hi")])).await.unwrap_err();
        let text = err.to_string();
        assert!(matches!(err, ProviderError::Transport(_)), "{text}");
        assert!(!text.contains(SPACED_SECRET), "{text}");
        assert!(!text.contains(&encoded(SPACED_SECRET)), "{text}");
        assert!(
            text.contains(&format!("(url: http://{addr}/v1/messages?sig=[REDACTED])")),
            "{text}"
        );
    }

    #[test]
    fn endpoint_is_the_unredacted_base_url() {
        let secret = "anthropic-endpoint-secret-2Kd8";
        crate::secret::register(secret);
        let mut cfg = config("", false);
        cfg.base_url = format!("http://a.example/?k={secret}");
        let p = Anthropic::new("an", &cfg, None, vec![], &Limits::default()).unwrap();
        assert_eq!(p.endpoint(), format!("http://a.example/?k={secret}"));
    }

    #[test]
    fn request_key_holds_system_sorted_params_and_messages() {
        let mut cfg = config("http://a.example", true);
        cfg.system = Some("Be brief.".into());
        cfg.params.insert("top_k".into(), serde_json::json!(5));
        cfg.params
            .insert("temperature".into(), serde_json::json!(0));
        let p = Anthropic::new("an", &cfg, None, vec![], &Limits::default()).unwrap();
        let key = p.request_key(&request(&[("system", "French."), ("user", "hi")]));
        assert_eq!(
            compact(&key),
            r#"{"type":"anthropic","model":"claude-test","max_tokens":256,"system":"Be brief.\n\nFrench.","params":{"temperature":0,"top_k":5},"messages":[{"role":"user","content":"hi"}]}"#
        );
        assert_eq!(p.endpoint(), "http://a.example");
    }

    #[test]
    fn a_conversation_sends_tool_use_and_tool_result_blocks() {
        use crate::model::{Message, ToolCall};
        let mut call = Message::new("assistant", "Looking.");
        call.tool_calls = vec![
            ToolCall {
                id: Some("toolu_1".into()),
                name: "get_order".into(),
                arguments: r#"{"order": 7}"#.into(),
            },
            ToolCall {
                id: Some("toolu_2".into()),
                name: "get_user".into(),
                arguments: "not json".into(),
            },
        ];
        let mut r1 = Message::new("tool", r#"{"status":"shipped"}"#);
        r1.tool_call_id = Some("toolu_1".into());
        let mut r2 = Message::new("tool", "Ada");
        r2.tool_call_id = Some("toolu_2".into());
        let messages = [Message::new("user", "refund 7"), call, r1, r2];
        let refs: Vec<&Message> = messages.iter().collect();
        assert_eq!(
            wire_messages(&refs),
            serde_json::json!([
                {"role": "user", "content": "refund 7"},
                {"role": "assistant", "content": [
                    {"type": "text", "text": "Looking."},
                    {"type": "tool_use", "id": "toolu_1", "name": "get_order", "input": {"order": 7}},
                    {"type": "tool_use", "id": "toolu_2", "name": "get_user", "input": {}}
                ]},
                {"role": "user", "content": [
                    {"type": "tool_result", "tool_use_id": "toolu_1", "content": "{\"status\":\"shipped\"}"},
                    {"type": "tool_result", "tool_use_id": "toolu_2", "content": "Ada"}
                ]}
            ])
        );
    }
}

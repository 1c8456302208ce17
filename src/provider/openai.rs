//! `openai`: the Chat Completions API (`POST {base_url}/chat/completions`)
//! at OpenAI or any compatible server (vLLM, llama.cpp, Ollama, LiteLLM…).
//! `/chat/completions` is appended to the path of `base_url`: a query in it
//! (Azure's `…/deployments/gpt4o?api-version=2024-02-01`) is kept.
//!
//! The body is `model`, `messages`, then the configured parameters in order.
//! With `stream: true` the request adds `"stream": true` and
//! `"stream_options": {"include_usage": true}` (unless `stream_options` is
//! configured) and the answer is read as server-sent events:
//!
//! * time to first token is the arrival of the first chunk whose delta
//!   carries non-empty content, a refusal, reasoning (`reasoning_content`
//!   or `reasoning`) or a tool call; a role-only chunk is not a token. The
//!   arrival times of all such chunks give the chunk count and gaps;
//! * the refusal deltas, joined, are the output when no content came (as
//!   `message.refusal` is for a non-streamed answer);
//! * tool-call deltas are merged by `index` (id and name from the first
//!   delta, arguments concatenated);
//! * the stream must end with `data: [DONE]`: a body that ends without it,
//!   or a connection that drops, is a [`ProviderError::Stream`], never an
//!   answer with partial text. A chunk that is not JSON is an error, and so
//!   is an `error` object inside a chunk.
//!
//! The response's content type decides how it is read: an event stream is
//! parsed as chunks, anything else as one JSON completion (some compatible
//! servers ignore `stream`). An `error` object in a successful non-streamed
//! answer is classified like one in a stream ([`api_error::response_error`]):
//! transient errors are retried.
//!
//! A request for a JSON grade ([`Format::Json`]) adds `response_format`
//! (`json_schema`, strict) unless the provider configures its own. With
//! `embeddings_model`, a request for embeddings ([`Format::Embeddings`]) goes
//! to `POST {base_url}/embeddings` as `{"model", "input": [...]}`, and its
//! answer's text is the `data[].embedding` vectors in input order, as a JSON
//! array.

use std::collections::BTreeMap;

use reqwest::header::{HeaderValue, AUTHORIZATION, CONTENT_TYPE};
use serde_json::{Map, Value};

use super::http::api_error::{self, stream_error, EXCERPT_CHARS};
use super::http::chat::{Chat, ChatApi, ChatEndpoint, Fold};
use super::http::json::{compact, json_u64, usage_of};
use super::http::transport::secret_header;
use super::sse::{received, SseEvent};
use super::{excerpt, Format, Provider, ProviderError, Request, Response, ToolCall};
use crate::config::provider::{Limits, OpenAiConfig};
use crate::model::Usage;
use crate::util::json::canonical;

/// An OpenAI-compatible Chat Completions endpoint.
pub(crate) type OpenAi = Chat<ChatCompletions>;

impl OpenAi {
    /// `api_key` (resolved) is sent as `Authorization: Bearer`; `headers`
    /// are the configured headers with their values resolved (they replace
    /// defaults of the same name).
    pub(crate) fn new(
        name: &str,
        cfg: &OpenAiConfig,
        api_key: Option<String>,
        headers: Vec<(String, String)>,
        limits: &Limits,
    ) -> Result<Self, String> {
        let mut defaults = vec![(CONTENT_TYPE, HeaderValue::from_static("application/json"))];
        if let Some(key) = &api_key {
            crate::secret::register(key);
            defaults.push((AUTHORIZATION, secret_header(&format!("Bearer {key}"))?));
        }
        let endpoint = ChatEndpoint::new(
            &cfg.base_url,
            "/chat/completions",
            defaults,
            &headers,
            limits,
        )?;
        let api = ChatCompletions {
            model: cfg.model.clone(),
            stream: cfg.stream,
            params: cfg.params.clone(),
        };
        Ok(Chat::from_parts(name, endpoint, api))
    }
}

/// An `openai` provider: Chat Completions, and the Embeddings API when
/// `embeddings_model` is configured. Requests go to one or the other by
/// their [`Format`].
pub(crate) struct OpenAiEndpoint {
    chat: OpenAi,
    embeddings: Option<Chat<EmbeddingsApi>>,
    /// False for an embeddings-only provider (no `model`).
    has_model: bool,
}

impl OpenAiEndpoint {
    pub(crate) fn new(
        name: &str,
        cfg: &OpenAiConfig,
        api_key: Option<String>,
        headers: Vec<(String, String)>,
        limits: &Limits,
    ) -> Result<Self, String> {
        let chat = OpenAi::new(name, cfg, api_key.clone(), headers.clone(), limits)?;
        let embeddings = match &cfg.embeddings_model {
            None => None,
            Some(model) => {
                let mut defaults =
                    vec![(CONTENT_TYPE, HeaderValue::from_static("application/json"))];
                if let Some(key) = &api_key {
                    defaults.push((AUTHORIZATION, secret_header(&format!("Bearer {key}"))?));
                }
                let endpoint =
                    ChatEndpoint::new(&cfg.base_url, "/embeddings", defaults, &headers, limits)?;
                Some(Chat::from_parts(
                    name,
                    endpoint,
                    EmbeddingsApi {
                        model: model.clone(),
                    },
                ))
            }
        };
        Ok(OpenAiEndpoint {
            chat,
            embeddings,
            has_model: !cfg.model.is_empty(),
        })
    }

    fn no_endpoint(&self, request: &Request) -> Option<ProviderError> {
        match (&request.format, &self.embeddings) {
            (Format::Embeddings, None) => Some(ProviderError::Provider(format!(
                "provider `{}` has no `embeddings_model`",
                self.chat.name()
            ))),
            (Format::Text | Format::Json(_), _) if !self.has_model => {
                Some(ProviderError::Provider(format!(
                    "provider `{}` has no `model` (it only serves embeddings)",
                    self.chat.name()
                )))
            }
            _ => None,
        }
    }
}

impl Provider for OpenAiEndpoint {
    fn name(&self) -> &str {
        self.chat.name()
    }

    fn complete<'a>(
        &'a self,
        request: &'a Request,
    ) -> futures::future::BoxFuture<'a, Result<Response, ProviderError>> {
        if let Some(e) = self.no_endpoint(request) {
            return Box::pin(async move { Err(e) });
        }
        match (&request.format, &self.embeddings) {
            (Format::Embeddings, Some(e)) => e.complete(request),
            _ => self.chat.complete(request),
        }
    }

    fn request_key(&self, request: &Request) -> Value {
        match (&request.format, &self.embeddings) {
            (Format::Embeddings, Some(e)) => e.request_key(request),
            _ => self.chat.request_key(request),
        }
    }

    fn endpoint(&self) -> String {
        self.chat.endpoint()
    }
}

/// The Embeddings API wire format (`POST {base_url}/embeddings`): every
/// message's content is one input.
pub(crate) struct EmbeddingsApi {
    model: String,
}

impl EmbeddingsApi {
    fn inputs(request: &Request) -> Vec<&str> {
        request
            .messages
            .iter()
            .map(|m| m.content.as_str())
            .collect()
    }
}

impl ChatApi for EmbeddingsApi {
    type Stream = ();

    fn body(&self, request: &Request) -> Value {
        serde_json::json!({ "model": self.model, "input": Self::inputs(request) })
    }

    fn request_key(&self, request: &Request) -> Value {
        serde_json::json!({
            "type": "openai-embeddings",
            "model": self.model,
            "input": Self::inputs(request),
        })
    }

    fn parse(&self, value: &Value, text: &str) -> Result<Response, ProviderError> {
        if let Some(err) = value.get("error").filter(|e| !e.is_null()) {
            return Err(api_error::response_error(err));
        }
        let malformed = |what: &str| {
            ProviderError::Provider(format!(
                "malformed embeddings response ({what}): {}",
                excerpt(text, EXCERPT_CHARS)
            ))
        };
        let data = value
            .get("data")
            .and_then(Value::as_array)
            .ok_or_else(|| malformed("no `data`"))?;
        let mut vectors: Vec<(u64, Vec<f64>)> = Vec::with_capacity(data.len());
        for (pos, item) in data.iter().enumerate() {
            let index = item
                .get("index")
                .and_then(Value::as_u64)
                .unwrap_or(pos as u64);
            let vector = item
                .get("embedding")
                .and_then(Value::as_array)
                .ok_or_else(|| malformed("an item without an `embedding` list"))?
                .iter()
                .map(|x| x.as_f64().filter(|f| f.is_finite()))
                .collect::<Option<Vec<f64>>>()
                .ok_or_else(|| malformed("an embedding that is not a list of numbers"))?;
            vectors.push((index, vector));
        }
        vectors.sort_by_key(|(i, _)| *i);
        let vectors: Vec<Vec<f64>> = vectors.into_iter().map(|(_, v)| v).collect();
        Ok(Response {
            text: serde_json::to_string(&vectors).unwrap_or_default(),
            usage: value.get("usage").and_then(parse_usage),
            model: value
                .get("model")
                .and_then(Value::as_str)
                .map(str::to_string),
            ..Default::default()
        })
    }

    fn fold(&self, _acc: &mut (), event: &SseEvent) -> Result<Fold, ProviderError> {
        Err(ProviderError::Provider(format!(
            "the embeddings endpoint answered with an event stream: {}",
            excerpt(&event.data, EXCERPT_CHARS)
        )))
    }

    fn cut_short(&self, _acc: &(), events: usize) -> String {
        format!("embeddings stream ended after {events} events")
    }

    fn finish(&self, _acc: ()) -> Response {
        Response::default()
    }
}

/// The messages in the Chat Completions format: `{role, content}`, with an
/// assistant's `tool_calls` (`{id, type: function, function: {name,
/// arguments}}`) and a `tool` message's `tool_call_id` in a conversation.
fn wire_messages(messages: &[crate::model::Message]) -> Value {
    Value::Array(
        messages
            .iter()
            .map(|m| {
                let mut o = Map::new();
                o.insert("role".into(), Value::String(m.role.clone()));
                o.insert("content".into(), Value::String(m.content.clone()));
                if !m.tool_calls.is_empty() {
                    let calls = m
                        .tool_calls
                        .iter()
                        .enumerate()
                        .map(|(i, c)| {
                            serde_json::json!({
                                "id": c.id.clone().unwrap_or_else(|| format!("call_{}", i + 1)),
                                "type": "function",
                                "function": {"name": c.name, "arguments": c.arguments},
                            })
                        })
                        .collect();
                    o.insert("tool_calls".into(), Value::Array(calls));
                }
                if let Some(id) = &m.tool_call_id {
                    o.insert("tool_call_id".into(), Value::String(id.clone()));
                }
                Value::Object(o)
            })
            .collect(),
    )
}

/// The Chat Completions wire format.
pub(crate) struct ChatCompletions {
    model: String,
    stream: bool,
    params: Map<String, Value>,
}

impl ChatApi for ChatCompletions {
    type Stream = StreamAcc;

    fn body(&self, request: &Request) -> Value {
        let mut body = Map::new();
        body.insert("model".into(), Value::String(self.model.clone()));
        body.insert("messages".into(), wire_messages(&request.messages));
        for (k, v) in &self.params {
            body.insert(k.clone(), v.clone());
        }
        if let Format::Json(schema) = &request.format {
            if !self.params.contains_key("response_format") {
                body.insert(
                    "response_format".into(),
                    serde_json::json!({
                        "type": "json_schema",
                        "json_schema": {"name": "grade", "strict": true, "schema": schema.as_ref()},
                    }),
                );
            }
        }
        if self.stream {
            body.insert("stream".into(), Value::Bool(true));
            if !self.params.contains_key("stream_options") {
                body.insert(
                    "stream_options".into(),
                    serde_json::json!({ "include_usage": true }),
                );
            }
        }
        Value::Object(body)
    }

    fn request_key(&self, request: &Request) -> Value {
        let mut key = serde_json::json!({
            "type": "openai",
            "model": self.model,
            "params": canonical(&Value::Object(self.params.clone())),
            "messages": request.messages,
        });
        if let (Format::Json(schema), Some(k)) = (&request.format, key.as_object_mut()) {
            k.insert("response_schema".into(), canonical(schema));
        }
        key
    }

    fn parse(&self, value: &Value, text: &str) -> Result<Response, ProviderError> {
        parse_completion(value, text)
    }

    fn parse_usual(&self, text: &str) -> Option<Response> {
        parse_usual_completion(text)
    }

    fn fold(&self, acc: &mut StreamAcc, event: &SseEvent) -> Result<Fold, ProviderError> {
        let data = event.data.trim();
        if data.is_empty() {
            return Ok(Fold::Quiet);
        }
        if data == "[DONE]" {
            return Ok(Fold::End);
        }
        // The common chunk, read into borrowed typed fields (no tree of
        // values per event); anything unusual (an error, a field of an
        // unexpected type, a duplicate key) takes the general path below,
        // which decides exactly as before.
        if event.event != "error" {
            if let Ok(chunk) = serde_json::from_str::<FastChunk<'_>>(data) {
                if chunk.error.is_none() {
                    return Ok(if acc.fast_chunk(chunk) {
                        Fold::Token
                    } else {
                        Fold::Quiet
                    });
                }
            }
        }
        let chunk: Value = serde_json::from_str(data).map_err(|_| {
            ProviderError::Stream(format!(
                "malformed chunk after {} chunks: {}",
                acc.chunks,
                excerpt(data, EXCERPT_CHARS)
            ))
        })?;
        if let Some(err) = chunk.get("error").filter(|e| !e.is_null()) {
            return Err(stream_error(err));
        }
        if event.event == "error" {
            return Err(stream_error(&chunk));
        }
        Ok(if acc.chunk(&chunk) {
            Fold::Token
        } else {
            Fold::Quiet
        })
    }

    fn cut_short(&self, acc: &StreamAcc, _events: usize) -> String {
        format!(
            "stream ended after {} chunks without [DONE]{}",
            acc.chunks,
            received(&acc.text)
        )
    }

    fn finish(&self, mut acc: StreamAcc) -> Response {
        // Like `message.refusal` in a non-streamed answer.
        if acc.text.is_empty() {
            acc.text = std::mem::take(&mut acc.refusal);
        }
        Response {
            text: acc.text,
            tool_calls: acc
                .tools
                .into_values()
                .map(|t| ToolCall {
                    id: t.id,
                    name: t.name,
                    arguments: t.arguments,
                })
                .collect(),
            usage: acc.usage,
            model: acc.model,
            finish_reason: acc.finish_reason,
            ..Default::default()
        }
    }
}

#[derive(Default)]
struct ToolAcc {
    id: Option<String>,
    name: String,
    arguments: String,
}

/// What a stream has delivered so far.
#[derive(Default)]
pub(crate) struct StreamAcc {
    chunks: u32,
    text: String,
    /// `delta.refusal` text: the output when no content came.
    refusal: String,
    tools: BTreeMap<u64, ToolAcc>,
    finish_reason: Option<String>,
    model: Option<String>,
    usage: Option<Usage>,
}

/// A stream chunk as it usually comes, its strings borrowed from the event.
#[derive(serde::Deserialize)]
struct FastChunk<'a> {
    #[serde(borrow, default)]
    model: Option<std::borrow::Cow<'a, str>>,
    #[serde(default)]
    usage: Option<Value>,
    #[serde(borrow, default)]
    choices: Option<Vec<FastChoice<'a>>>,
    #[serde(default)]
    error: Option<Value>,
}

#[derive(serde::Deserialize)]
struct FastChoice<'a> {
    #[serde(default)]
    index: Option<u64>,
    #[serde(borrow, default)]
    delta: Option<FastDelta<'a>>,
    #[serde(borrow, default)]
    finish_reason: Option<std::borrow::Cow<'a, str>>,
}

#[derive(serde::Deserialize)]
struct FastDelta<'a> {
    #[serde(borrow, default)]
    content: Option<std::borrow::Cow<'a, str>>,
    #[serde(borrow, default)]
    refusal: Option<std::borrow::Cow<'a, str>>,
    #[serde(borrow, default)]
    reasoning_content: Option<std::borrow::Cow<'a, str>>,
    #[serde(borrow, default)]
    reasoning: Option<std::borrow::Cow<'a, str>>,
    #[serde(default)]
    tool_calls: Option<Value>,
}

impl StreamAcc {
    /// [`StreamAcc::chunk`] for a chunk read into typed fields: the same
    /// decisions, field by field.
    fn fast_chunk(&mut self, chunk: FastChunk<'_>) -> bool {
        self.chunks += 1;
        if let Some(m) = chunk.model.filter(|m| !m.is_empty()) {
            self.model = Some(m.into_owned());
        }
        if let Some(u) = chunk.usage.as_ref().and_then(parse_usage) {
            self.usage = Some(u);
        }
        let Some(choices) = chunk.choices else {
            return false;
        };
        let mut token = false;
        for choice in choices.into_iter().filter(|c| c.index.unwrap_or(0) == 0) {
            if let Some(delta) = choice.delta {
                if let Some(text) = delta.content.filter(|t| !t.is_empty()) {
                    self.text.push_str(&text);
                    token = true;
                }
                if let Some(refusal) = delta.refusal.filter(|t| !t.is_empty()) {
                    self.refusal.push_str(&refusal);
                    token = true;
                }
                if [&delta.reasoning_content, &delta.reasoning]
                    .iter()
                    .any(|r| r.as_ref().is_some_and(|s| !s.is_empty()))
                {
                    token = true;
                }
                if let Some(calls) = delta.tool_calls.as_ref().and_then(Value::as_array) {
                    token |= self.tool_calls(calls);
                }
            }
            if let Some(reason) = choice.finish_reason {
                self.finish_reason = Some(reason.into_owned());
            }
        }
        token
    }

    /// Merge tool-call deltas by `index`; whether there were any.
    fn tool_calls(&mut self, calls: &[Value]) -> bool {
        for (pos, call) in calls.iter().enumerate() {
            let index = call
                .get("index")
                .and_then(Value::as_u64)
                .unwrap_or(pos as u64);
            let tool = self.tools.entry(index).or_default();
            if let Some(id) = call.get("id").and_then(Value::as_str) {
                if tool.id.is_none() && !id.is_empty() {
                    tool.id = Some(id.to_string());
                }
            }
            let function = call.get("function");
            if let Some(name) = function.and_then(|f| f.get("name")).and_then(Value::as_str) {
                if tool.name.is_empty() {
                    tool.name = name.to_string();
                }
            }
            if let Some(args) = function.and_then(|f| f.get("arguments")) {
                match args {
                    Value::String(s) => tool.arguments.push_str(s),
                    Value::Null => {}
                    other => tool.arguments.push_str(&compact(other)),
                }
            }
        }
        !calls.is_empty()
    }

    /// Apply one chunk; whether it carried a token.
    fn chunk(&mut self, chunk: &Value) -> bool {
        self.chunks += 1;
        if let Some(m) = chunk
            .get("model")
            .and_then(Value::as_str)
            .filter(|m| !m.is_empty())
        {
            self.model = Some(m.to_string());
        }
        if let Some(u) = chunk.get("usage").and_then(parse_usage) {
            self.usage = Some(u);
        }
        let Some(choices) = chunk.get("choices").and_then(Value::as_array) else {
            return false;
        };
        let mut token = false;
        for choice in choices
            .iter()
            .filter(|c| c.get("index").and_then(Value::as_u64).unwrap_or(0) == 0)
        {
            if let Some(delta) = choice.get("delta") {
                if let Some(text) = delta.get("content").and_then(Value::as_str) {
                    if !text.is_empty() {
                        self.text.push_str(text);
                        token = true;
                    }
                }
                if let Some(refusal) = delta.get("refusal").and_then(Value::as_str) {
                    if !refusal.is_empty() {
                        self.refusal.push_str(refusal);
                        token = true;
                    }
                }
                if ["reasoning_content", "reasoning"].iter().any(|k| {
                    delta
                        .get(*k)
                        .and_then(Value::as_str)
                        .is_some_and(|s| !s.is_empty())
                }) {
                    token = true;
                }
                if let Some(calls) = delta.get("tool_calls").and_then(Value::as_array) {
                    token |= self.tool_calls(calls);
                }
            }
            if let Some(reason) = choice.get("finish_reason").and_then(Value::as_str) {
                self.finish_reason = Some(reason.to_string());
            }
        }
        token
    }
}

/// `prompt_tokens` / `completion_tokens` / `total_tokens` (total defaults to the sum).
fn parse_usage(u: &Value) -> Option<Usage> {
    if !u.is_object() {
        return None;
    }
    let mut usage = usage_of(
        u.get("prompt_tokens").and_then(json_u64),
        u.get("completion_tokens").and_then(json_u64),
    )?;
    if let Some(total) = u.get("total_tokens").and_then(json_u64) {
        usage.total_tokens = total;
    }
    Some(usage)
}

/// Text of a message `content`: a string, null, or a list of parts with `text`.
fn content_text(content: Option<&Value>) -> String {
    match content {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(parts)) => parts
            .iter()
            .filter_map(|p| p.get("text").and_then(Value::as_str))
            .collect(),
        _ => String::new(),
    }
}

fn arguments_text(v: Option<&Value>) -> String {
    match v {
        Some(Value::String(s)) => s.clone(),
        None | Some(Value::Null) => String::new(),
        Some(other) => compact(other),
    }
}

/// A non-streamed completion.
fn parse_completion(v: &Value, body: &str) -> Result<Response, ProviderError> {
    if let Some(err) = v.get("error").filter(|e| !e.is_null()) {
        // Classified like the same error in a stream: transient ones retried.
        return Err(api_error::response_error(err));
    }
    let malformed = |what: &str| {
        ProviderError::Provider(format!(
            "malformed response ({what}): {}",
            excerpt(body, EXCERPT_CHARS)
        ))
    };
    let choices = v
        .get("choices")
        .and_then(Value::as_array)
        .ok_or_else(|| malformed("no `choices`"))?;
    let choice = choices
        .iter()
        .find(|c| c.get("index").and_then(Value::as_u64).unwrap_or(0) == 0)
        .or_else(|| choices.first())
        .ok_or_else(|| malformed("empty `choices`"))?;
    let message = choice
        .get("message")
        .filter(|m| m.is_object())
        .ok_or_else(|| malformed("no `choices[0].message`"))?;
    let mut text = content_text(message.get("content"));
    if text.is_empty() {
        if let Some(refusal) = message.get("refusal").and_then(Value::as_str) {
            text = refusal.to_string();
        }
    }
    let mut tool_calls: Vec<ToolCall> = message
        .get("tool_calls")
        .and_then(Value::as_array)
        .map(|calls| {
            calls
                .iter()
                .map(|c| {
                    let f = c.get("function");
                    ToolCall {
                        id: c.get("id").and_then(Value::as_str).map(str::to_string),
                        name: f
                            .and_then(|f| f.get("name"))
                            .and_then(Value::as_str)
                            .unwrap_or_default()
                            .to_string(),
                        arguments: arguments_text(f.and_then(|f| f.get("arguments"))),
                    }
                })
                .collect()
        })
        .unwrap_or_default();
    if let Some(f) = message.get("function_call").filter(|f| f.is_object()) {
        tool_calls.push(ToolCall {
            id: None,
            name: f
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
            arguments: arguments_text(f.get("arguments")),
        });
    }
    Ok(Response {
        text,
        tool_calls,
        usage: v.get("usage").and_then(parse_usage),
        model: v.get("model").and_then(Value::as_str).map(str::to_string),
        finish_reason: choice
            .get("finish_reason")
            .and_then(Value::as_str)
            .map(str::to_string),
        ..Default::default()
    })
}

/// A whole answer as it usually comes, its strings borrowed from the body.
#[derive(serde::Deserialize)]
struct UsualCompletion<'a> {
    #[serde(borrow, default)]
    model: Option<std::borrow::Cow<'a, str>>,
    #[serde(default)]
    usage: Option<Value>,
    #[serde(borrow, default)]
    choices: Option<Vec<UsualChoice<'a>>>,
    #[serde(default)]
    error: Option<Value>,
}

#[derive(serde::Deserialize)]
struct UsualChoice<'a> {
    #[serde(default)]
    index: Option<Value>,
    #[serde(borrow, default)]
    message: Option<UsualMessage<'a>>,
    #[serde(default)]
    finish_reason: Option<Value>,
}

#[derive(serde::Deserialize)]
struct UsualMessage<'a> {
    #[serde(borrow, default)]
    content: Option<std::borrow::Cow<'a, str>>,
    #[serde(default)]
    refusal: Option<Value>,
    #[serde(default)]
    tool_calls: Option<Value>,
    #[serde(default)]
    function_call: Option<Value>,
}

/// [`parse_completion`] for an answer in its usual shape (one message with
/// string or null content, no tool calls, no error), without building a
/// `Value` of the body; `None` sends it through `parse_completion`.
fn parse_usual_completion(text: &str) -> Option<Response> {
    let c: UsualCompletion<'_> = serde_json::from_str(text).ok()?;
    if c.error.as_ref().is_some_and(|e| !e.is_null()) {
        return None;
    }
    let choices = c.choices?;
    // The choice `parse_completion` picks: index 0 (missing or not a number
    // counts as 0), else the first.
    let index_of = |ch: &UsualChoice<'_>| ch.index.as_ref().and_then(Value::as_u64).unwrap_or(0);
    let choice = choices
        .iter()
        .find(|ch| index_of(ch) == 0)
        .or_else(|| choices.first())?;
    let message = choice.message.as_ref()?;
    let absent = |v: &Option<Value>| v.as_ref().is_none_or(Value::is_null);
    if !absent(&message.tool_calls) || !absent(&message.function_call) {
        return None;
    }
    let mut text = message.content.as_deref().unwrap_or_default().to_string();
    if text.is_empty() {
        if let Some(refusal) = message.refusal.as_ref().and_then(Value::as_str) {
            text = refusal.to_string();
        }
    }
    Some(Response {
        text,
        tool_calls: Vec::new(),
        usage: c.usage.as_ref().and_then(parse_usage),
        model: c.model.map(std::borrow::Cow::into_owned),
        finish_reason: choice
            .finish_reason
            .as_ref()
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
    use std::time::{Duration, SystemTime};
    use wiremock::matchers::{body_json, header, method, path, query_param};
    use wiremock::{Mock, MockServer, Request as WireRequest, ResponseTemplate};

    #[test]
    fn usual_answers_parse_as_values_do() {
        let bodies = [
            r#"{"id":"1","model":"m-1","choices":[{"index":0,"message":{"role":"assistant","content":"Paris \"é\" \u00e9"},"finish_reason":"stop"}],"usage":{"prompt_tokens":3,"completion_tokens":4,"total_tokens":7}}"#,
            r#"{"choices":[{"message":{"content":null,"refusal":"no"}}]}"#,
            r#"{"choices":[{"index":1,"message":{"content":"second"}},{"index":0,"message":{"content":"first"}}]}"#,
            r#"{"choices":[{"index":"x","message":{"content":"odd index"}}],"model":null,"usage":null}"#,
            r#"{"choices":[{"index":0,"message":{"content":""},"finish_reason":null}],"error":null}"#,
            r#"{"choices":[{"index":2,"message":{"content":"only"},"finish_reason":7}]}"#,
        ];
        for b in bodies {
            let fast = parse_usual_completion(b).unwrap_or_else(|| panic!("not usual: {b}"));
            let v: Value = serde_json::from_str(b).unwrap();
            let slow = parse_completion(&v, b).unwrap();
            assert_eq!(format!("{fast:?}"), format!("{slow:?}"), "{b}");
        }
        // Anything else goes the general way.
        for b in [
            r#"{"error":{"message":"overloaded","type":"server_error"}}"#,
            r#"{"choices":[{"message":{"content":null,"tool_calls":[{"id":"c","function":{"name":"f","arguments":"{}"}}]}}]}"#,
            r#"{"choices":[{"message":{"content":[{"type":"text","text":"parts"}]}}]}"#,
            r#"{"choices":[]}"#,
            r#"{"choices":[{"message":null}]}"#,
            r#"{"model":"a","model":"b","choices":[{"message":{"content":"dup"}}]}"#,
            "not json",
        ] {
            assert!(parse_usual_completion(b).is_none(), "{b}");
        }
    }

    #[test]
    fn typed_chunks_fold_as_values_do() {
        let chunks = [
            r#"{"id":"1","model":"m-1","choices":[{"index":0,"delta":{"role":"assistant"}}]}"#,
            r#"{"choices":[{"index":0,"delta":{"content":"Hi \"there\" \u00e9"}}]}"#,
            r#"{"choices":[{"delta":{"refusal":"no"},"finish_reason":null}]}"#,
            r#"{"choices":[{"index":1,"delta":{"content":"other choice"}}]}"#,
            r#"{"choices":[{"index":0,"delta":{"reasoning_content":"think"}}]}"#,
            r#"{"choices":[{"index":0,"delta":{"reasoning":""}}]}"#,
            r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"c1","function":{"name":"f","arguments":"{\"a\""}}]}}]}"#,
            r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":":1}"}}]}}]}"#,
            r#"{"choices":[{"index":0,"delta":{"tool_calls":[]}}]}"#,
            r#"{"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}"#,
            r#"{"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":4,"total_tokens":9}}"#,
            r#"{"model":"","choices":null,"usage":null}"#,
        ];
        let mut fast = StreamAcc::default();
        let mut slow = StreamAcc::default();
        for c in chunks {
            let typed: FastChunk<'_> = serde_json::from_str(c).unwrap();
            let a = fast.fast_chunk(typed);
            let b = slow.chunk(&serde_json::from_str(c).unwrap());
            assert_eq!(a, b, "{c}");
        }
        let tools = |acc: &StreamAcc| -> Vec<(u64, Option<String>, String, String)> {
            acc.tools
                .iter()
                .map(|(i, t)| (*i, t.id.clone(), t.name.clone(), t.arguments.clone()))
                .collect()
        };
        assert_eq!(fast.chunks, slow.chunks);
        assert_eq!(fast.text, slow.text);
        assert_eq!(fast.refusal, slow.refusal);
        assert_eq!(fast.finish_reason, slow.finish_reason);
        assert_eq!(fast.model, slow.model);
        assert_eq!(fast.usage, slow.usage);
        assert_eq!(tools(&fast), tools(&slow));
        assert_eq!(fast.text, "Hi \"there\" \u{e9}");
        // Unusual chunks do not read as typed ones: they take the general path.
        for odd in [
            r#"{"choices":[{"index":-1,"delta":{"content":"x"}}]}"#,
            r#"{"choices":[{"index":0,"delta":{"content":5}}]}"#,
            r#"{"model":1,"choices":[]}"#,
            r#"{"choices":[{"index":0,"index":0}]}"#,
            r#"[1]"#,
        ] {
            assert!(serde_json::from_str::<FastChunk<'_>>(odd).is_err(), "{odd}");
        }
    }

    fn config(base_url: &str, stream: bool) -> OpenAiConfig {
        OpenAiConfig {
            base_url: format!("{base_url}/v1/"),
            model: "gpt-test".into(),
            api_key_env: None,
            headers: vec![],
            stream,
            params: Map::new(),
            embeddings_model: None,
        }
    }

    fn provider(base_url: &str, stream: bool) -> OpenAi {
        OpenAi::new(
            "oa",
            &config(base_url, stream),
            None,
            vec![],
            &Limits::default(),
        )
        .unwrap()
    }

    async fn serve(server: &MockServer, response: ResponseTemplate) {
        Mock::given(method("POST"))
            .and(path("/v1/chat/completions"))
            .respond_with(response)
            .mount(server)
            .await;
    }

    fn sse(chunks: &[&str]) -> String {
        chunks.iter().map(|c| format!("data: {c}\n\n")).collect()
    }

    const ROLE: &str = r#"{"id":"c1","object":"chat.completion.chunk","created":1,"model":"gpt-test-0613","choices":[{"index":0,"delta":{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}]}"#;
    const HEL: &str = r#"{"id":"c1","object":"chat.completion.chunk","created":1,"model":"gpt-test-0613","choices":[{"index":0,"delta":{"content":"Hel"},"logprobs":null,"finish_reason":null}]}"#;
    const LO: &str = r#"{"id":"c1","object":"chat.completion.chunk","created":1,"model":"gpt-test-0613","choices":[{"index":0,"delta":{"content":"lo"},"logprobs":null,"finish_reason":null}]}"#;
    const STOP: &str = r#"{"id":"c1","object":"chat.completion.chunk","created":1,"model":"gpt-test-0613","choices":[{"index":0,"delta":{},"logprobs":null,"finish_reason":"stop"}]}"#;
    const USAGE: &str = r#"{"id":"c1","object":"chat.completion.chunk","created":1,"model":"gpt-test-0613","choices":[],"usage":{"prompt_tokens":9,"completion_tokens":2,"total_tokens":11}}"#;

    #[test]
    fn a_grade_request_asks_for_its_json_schema_unless_configured() {
        let schema = std::sync::Arc::new(serde_json::json!({"type": "object"}));
        let mut req = request(&[("user", "grade")]);
        req.format = Format::Json(schema.clone());
        let body = provider("http://127.0.0.1:9", false).body(&req);
        assert_eq!(
            body["response_format"],
            serde_json::json!({"type": "json_schema", "json_schema": {"name": "grade", "strict": true, "schema": {"type": "object"}}})
        );
        let key = provider("http://127.0.0.1:9", false).request_key(&req);
        assert_eq!(
            key["response_schema"],
            serde_json::json!({"type": "object"})
        );
        let mut cfg = config("http://127.0.0.1:9", false);
        cfg.params.insert(
            "response_format".into(),
            serde_json::json!({"type": "json_object"}),
        );
        let own = OpenAi::new("oa", &cfg, None, vec![], &Limits::default()).unwrap();
        assert_eq!(own.body(&req)["response_format"]["type"], "json_object");
        let text = request(&[("user", "answer")]);
        assert!(provider("http://127.0.0.1:9", false)
            .body(&text)
            .get("response_format")
            .is_none());
    }

    #[tokio::test]
    async fn embeddings_go_to_their_endpoint_in_input_order() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/v1/embeddings"))
            .and(body_json(
                serde_json::json!({"model": "emb-1", "input": ["a", "b"]}),
            ))
            .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
                "data": [
                    {"index": 1, "embedding": [0.0, 1.0]},
                    {"index": 0, "embedding": [1.0, 0.5]},
                ],
                "model": "emb-1",
                "usage": {"prompt_tokens": 2, "total_tokens": 2},
            })))
            .mount(&server)
            .await;
        let mut cfg = config(&server.uri(), false);
        cfg.embeddings_model = Some("emb-1".into());
        cfg.model = String::new();
        let p = OpenAiEndpoint::new("emb", &cfg, None, vec![], &Limits::default()).unwrap();
        let mut req = request(&[("user", "a"), ("user", "b")]);
        req.format = Format::Embeddings;
        let r = p.complete(&req).await.unwrap();
        assert_eq!(r.text, "[[1.0,0.5],[0.0,1.0]]");
        assert_eq!(r.usage.map(|u| u.input_tokens), Some(2));
        assert_eq!(p.request_key(&req)["type"], "openai-embeddings");
        // An embeddings-only provider answers no chat request.
        let e = p.complete(&request(&[("user", "hi")])).await.unwrap_err();
        assert_eq!(
            e.to_string(),
            "provider error: provider `emb` has no `model` (it only serves embeddings)"
        );
        let chat_only = OpenAiEndpoint::new(
            "oa",
            &config(&server.uri(), false),
            None,
            vec![],
            &Limits::default(),
        )
        .unwrap();
        let e = chat_only.complete(&req).await.unwrap_err();
        assert_eq!(
            e.to_string(),
            "provider error: provider `oa` has no `embeddings_model`"
        );
    }

    #[tokio::test]
    async fn non_streaming_answer_with_usage_and_auth() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/v1/chat/completions"))
            .and(header("authorization", "Bearer sk-openai-unit-key"))
            .and(header("x-team", "qa"))
            .and(body_json(serde_json::json!({
                "model": "gpt-test",
                "messages": [{"role": "user", "content": "Capital of France?"}],
                "temperature": 0.0,
                "max_tokens": 16
            })))
            .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
                "id": "chatcmpl-1",
                "object": "chat.completion",
                "model": "gpt-test-0613",
                "choices": [{
                    "index": 0,
                    "message": {"role": "assistant", "content": "Paris."},
                    "finish_reason": "stop"
                }],
                "usage": {"prompt_tokens": 12, "completion_tokens": 2, "total_tokens": 14}
            })))
            .expect(1)
            .mount(&server)
            .await;
        let mut cfg = config(&server.uri(), false);
        cfg.params
            .insert("temperature".into(), serde_json::json!(0.0));
        cfg.params
            .insert("max_tokens".into(), serde_json::json!(16));
        let p = OpenAi::new(
            "oa",
            &cfg,
            Some("sk-openai-unit-key".into()),
            vec![("x-team".into(), "qa".into())],
            &Limits::default(),
        )
        .unwrap();
        let resp = p
            .complete(&request(&[("user", "Capital of France?")]))
            .await
            .unwrap();
        assert_eq!(resp.text, "Paris.");
        assert_eq!(resp.finish_reason.as_deref(), Some("stop"));
        assert_eq!(resp.model.as_deref(), Some("gpt-test-0613"));
        assert_eq!(
            resp.usage,
            Some(Usage {
                input_tokens: 12,
                output_tokens: 2,
                total_tokens: 14
            })
        );
        assert!(resp.tool_calls.is_empty());
        assert!(resp.timing.started_at.is_some());
        assert_eq!(resp.timing.ttft_ms, None);
        assert_eq!(resp.timing.chunks, None);
    }

    #[tokio::test]
    async fn a_same_origin_redirect_is_followed() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/v1/chat/completions"))
            .respond_with(
                ResponseTemplate::new(307).insert_header("location", "/v2/chat/completions"),
            )
            .mount(&server)
            .await;
        Mock::given(method("POST"))
            .and(path("/v2/chat/completions"))
            .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
                "model": "gpt-test",
                "choices": [{"index": 0, "message": {"role": "assistant", "content": "moved"},
                             "finish_reason": "stop"}]
            })))
            .mount(&server)
            .await;
        let api = provider(&server.uri(), false);
        let r = api
            .complete(&request(&[("user", "Capital of France?")]))
            .await
            .unwrap();
        assert_eq!(r.text, "moved");
    }

    #[tokio::test]
    async fn non_streaming_tool_calls_and_null_content() {
        let server = MockServer::start().await;
        serve(
            &server,
            ResponseTemplate::new(200).set_body_json(serde_json::json!({
                "model": "gpt-test",
                "choices": [{
                    "index": 0,
                    "message": {
                        "role": "assistant",
                        "content": null,
                        "tool_calls": [{
                            "id": "call_1",
                            "type": "function",
                            "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}
                        }]
                    },
                    "finish_reason": "tool_calls"
                }]
            })),
        )
        .await;
        let resp = provider(&server.uri(), false)
            .complete(&request(&[("user", "weather?")]))
            .await
            .unwrap();
        assert_eq!(resp.text, "");
        assert_eq!(
            resp.tool_calls,
            vec![ToolCall {
                id: Some("call_1".into()),
                name: "get_weather".into(),
                arguments: "{\"city\":\"Paris\"}".into()
            }]
        );
        assert_eq!(resp.finish_reason.as_deref(), Some("tool_calls"));
        assert_eq!(resp.usage, None);
    }

    #[tokio::test]
    async fn streaming_answer_role_chunk_is_not_the_first_token() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/v1/chat/completions"))
            .and(|req: &WireRequest| {
                let v: Value = serde_json::from_slice(&req.body).unwrap();
                v["stream"] == true && v["stream_options"]["include_usage"] == true
            })
            .respond_with(ResponseTemplate::new(200).set_body_raw(
                sse(&[ROLE, HEL, LO, STOP, USAGE, "[DONE]"]),
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
            "the role-only chunk is not a token"
        );
        assert!(resp.timing.ttft_ms.is_some());
        assert!(resp.timing.mean_gap_ms.is_some());
        assert_eq!(resp.finish_reason.as_deref(), Some("stop"));
        assert_eq!(resp.model.as_deref(), Some("gpt-test-0613"));
        assert_eq!(
            resp.usage
                .map(|u| (u.input_tokens, u.output_tokens, u.total_tokens)),
            Some((9, 2, 11))
        );
    }

    #[tokio::test]
    async fn streaming_ttft_counts_reasoning_but_not_roles() {
        let server = MockServer::start().await;
        let think = r#"{"choices":[{"index":0,"delta":{"reasoning_content":"hmm"}}]}"#;
        let think2 = r#"{"choices":[{"index":0,"delta":{"reasoning":"ok","content":null}}]}"#;
        serve(
            &server,
            ResponseTemplate::new(200).set_body_raw(
                sse(&[ROLE, think, think2, HEL, STOP, "[DONE]"]),
                "text/event-stream",
            ),
        )
        .await;
        let resp = provider(&server.uri(), true)
            .complete(&request(&[("user", "hi")]))
            .await
            .unwrap();
        assert_eq!(resp.text, "Hel", "reasoning is not output text");
        assert_eq!(resp.timing.chunks, Some(3));
        assert_eq!(resp.usage, None);
    }

    #[tokio::test]
    async fn user_stream_options_are_kept() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(|req: &WireRequest| {
                let v: Value = serde_json::from_slice(&req.body).unwrap();
                v["stream_options"] == serde_json::json!({"include_usage": false})
            })
            .respond_with(
                ResponseTemplate::new(200).set_body_raw(sse(&[HEL, "[DONE]"]), "text/event-stream"),
            )
            .expect(1)
            .mount(&server)
            .await;
        let mut cfg = config(&server.uri(), true);
        cfg.params.insert(
            "stream_options".into(),
            serde_json::json!({"include_usage": false}),
        );
        let p = OpenAi::new("oa", &cfg, None, vec![], &Limits::default()).unwrap();
        assert_eq!(
            p.complete(&request(&[("user", "hi")])).await.unwrap().text,
            "Hel"
        );
    }

    #[tokio::test]
    async fn streamed_tool_call_deltas_are_merged_by_index() {
        let server = MockServer::start().await;
        let c1 = r#"{"model":"gpt-test","choices":[{"index":0,"delta":{"role":"assistant","content":null,"tool_calls":[{"index":0,"id":"call_a","type":"function","function":{"name":"get_weather","arguments":""}}]},"finish_reason":null}]}"#;
        let c2 = r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"ci"}}]},"finish_reason":null}]}"#;
        let c3 = r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":1,"id":"call_b","type":"function","function":{"name":"get_time","arguments":"{}"}}]},"finish_reason":null}]}"#;
        let c4 = r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"ty\":\"Paris\"}"}}]},"finish_reason":null}]}"#;
        let c5 = r#"{"choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}]}"#;
        serve(
            &server,
            ResponseTemplate::new(200)
                .set_body_raw(sse(&[c1, c2, c3, c4, c5, "[DONE]"]), "text/event-stream"),
        )
        .await;
        let resp = provider(&server.uri(), true)
            .complete(&request(&[("user", "weather?")]))
            .await
            .unwrap();
        assert_eq!(resp.text, "");
        assert_eq!(
            resp.tool_calls,
            vec![
                ToolCall {
                    id: Some("call_a".into()),
                    name: "get_weather".into(),
                    arguments: "{\"city\":\"Paris\"}".into()
                },
                ToolCall {
                    id: Some("call_b".into()),
                    name: "get_time".into(),
                    arguments: "{}".into()
                }
            ]
        );
        assert_eq!(resp.timing.chunks, Some(4));
        assert_eq!(resp.finish_reason.as_deref(), Some("tool_calls"));
    }

    #[tokio::test]
    async fn a_stream_without_done_is_an_error_not_partial_text() {
        let server = MockServer::start().await;
        serve(
            &server,
            ResponseTemplate::new(200).set_body_raw(sse(&[ROLE, HEL, LO]), "text/event-stream"),
        )
        .await;
        let err = provider(&server.uri(), true)
            .complete(&request(&[("user", "hi")]))
            .await
            .unwrap_err();
        assert!(matches!(err, ProviderError::Stream(_)), "{err}");
        assert!(
            err.to_string().contains(
                "stream ended after 3 chunks without [DONE] (received 5 characters of text)"
            ),
            "{err}"
        );
        assert!(err.retryable());
    }

    #[tokio::test]
    async fn a_dropped_stream_connection_is_a_stream_error() {
        let partial =
            "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hel\"}}]}\n\ndata: {\"choi";
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
    async fn a_malformed_chunk_is_a_stream_error() {
        let server = MockServer::start().await;
        serve(
            &server,
            ResponseTemplate::new(200).set_body_raw(
                sse(&[HEL, "{\"choices\": [", "[DONE]"]),
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
                .contains("malformed chunk after 1 chunks: {\"choices\": ["),
            "{err}"
        );
    }

    #[tokio::test]
    async fn an_error_body_with_status_200_is_classified_like_an_error_chunk() {
        // Regression: vLLM and LiteLLM answer 200 with a transient error
        // object; it was a final provider error, while the same object in a
        // stream is retried.
        let cases = [
            (
                serde_json::json!({"error": {"type": "server_error", "code": 503, "message": "Service Unavailable"}}),
                true,
                "HTTP 503: server_error: Service Unavailable",
            ),
            (
                serde_json::json!({"error": {"message": "The server had an error", "type": "server_error", "code": null}}),
                true,
                "HTTP 502: server_error: The server had an error",
            ),
            (
                serde_json::json!({"error": {"message": "Invalid tool schema", "type": "invalid_request_error"}}),
                false,
                "provider error: error in response: invalid_request_error: Invalid tool schema",
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
            // The same object in a stream is classified alike.
            assert_eq!(
                stream_error(&body["error"]).retryable(),
                retryable,
                "{body}"
            );
        }
    }

    #[tokio::test]
    async fn a_streamed_refusal_is_the_output() {
        // Regression: `delta.refusal` was dropped (empty output, no chunks),
        // while a non-streamed answer uses `message.refusal`.
        let refusal = |text: &str| {
            format!(
                r#"{{"id":"c1","object":"chat.completion.chunk","model":"gpt-test-0613","choices":[{{"index":0,"delta":{{"refusal":"{text}"}},"finish_reason":null}}]}}"#
            )
        };
        let (a, b) = (refusal("I can't"), refusal(" help with that."));
        let server = MockServer::start().await;
        serve(
            &server,
            ResponseTemplate::new(200).set_body_raw(
                sse(&[ROLE, &a, &b, STOP, USAGE, "[DONE]"]),
                "text/event-stream",
            ),
        )
        .await;
        let resp = provider(&server.uri(), true)
            .complete(&request(&[("user", "hi")]))
            .await
            .unwrap();
        assert_eq!(resp.text, "I can't help with that.");
        assert_eq!(resp.timing.chunks, Some(2));
        assert!(resp.timing.ttft_ms.is_some());
        assert_eq!(resp.finish_reason.as_deref(), Some("stop"));

        // Content, when there is some, is the output (as non-streamed).
        let server = MockServer::start().await;
        serve(
            &server,
            ResponseTemplate::new(200).set_body_raw(
                sse(&[ROLE, HEL, &a, LO, STOP, "[DONE]"]),
                "text/event-stream",
            ),
        )
        .await;
        let resp = provider(&server.uri(), true)
            .complete(&request(&[("user", "hi")]))
            .await
            .unwrap();
        assert_eq!(resp.text, "Hello");
        assert_eq!(resp.timing.chunks, Some(3));
    }

    #[tokio::test]
    async fn an_error_chunk_mid_stream_is_an_error() {
        let server = MockServer::start().await;
        let err_chunk =
            r#"{"error":{"message":"The server had an error","type":"server_error","code":null}}"#;
        serve(
            &server,
            ResponseTemplate::new(200)
                .set_body_raw(sse(&[ROLE, HEL, err_chunk, "[DONE]"]), "text/event-stream"),
        )
        .await;
        let err = provider(&server.uri(), true)
            .complete(&request(&[("user", "hi")]))
            .await
            .unwrap_err();
        assert!(matches!(err, ProviderError::Stream(_)), "{err}");
        assert!(
            err.to_string()
                .contains("server_error: The server had an error"),
            "{err}"
        );

        let server = MockServer::start().await;
        let err_chunk =
            r#"{"error":{"message":"Invalid tool schema","type":"invalid_request_error"}}"#;
        serve(
            &server,
            ResponseTemplate::new(200).set_body_raw(sse(&[err_chunk]), "text/event-stream"),
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
    async fn malformed_json_body_is_a_provider_error() {
        let server = MockServer::start().await;
        serve(
            &server,
            ResponseTemplate::new(200).set_body_raw("{\"choices\": [", "application/json"),
        )
        .await;
        let err = provider(&server.uri(), false)
            .complete(&request(&[("user", "hi")]))
            .await
            .unwrap_err();
        assert!(matches!(err, ProviderError::Provider(_)), "{err}");
        assert_eq!(
            err.to_string(),
            "provider error: malformed JSON response: {\"choices\": ["
        );

        let server = MockServer::start().await;
        serve(
            &server,
            ResponseTemplate::new(200).set_body_json(serde_json::json!({"object": "list"})),
        )
        .await;
        let err = provider(&server.uri(), false)
            .complete(&request(&[("user", "hi")]))
            .await
            .unwrap_err();
        assert!(err.to_string().contains("no `choices`"), "{err}");
    }

    #[tokio::test]
    async fn http_errors_use_the_json_error_message() {
        let server = MockServer::start().await;
        serve(
            &server,
            ResponseTemplate::new(400).set_body_json(serde_json::json!({
                "error": {
                    "message": "The model `gpt-nope` does not exist",
                    "type": "invalid_request_error",
                    "param": null,
                    "code": "model_not_found"
                }
            })),
        )
        .await;
        let err = provider(&server.uri(), false)
            .complete(&request(&[("user", "hi")]))
            .await
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "HTTP 400: invalid_request_error: The model `gpt-nope` does not exist"
        );
        assert!(!err.retryable());
    }

    #[tokio::test]
    async fn rate_limits_carry_retry_after_in_every_form() {
        for (name, value, expected) in [
            ("retry-after", "2".to_string(), Duration::from_secs(2)),
            (
                "retry-after-ms",
                "250".to_string(),
                Duration::from_millis(250),
            ),
        ] {
            let server = MockServer::start().await;
            serve(
                &server,
                ResponseTemplate::new(429)
                    .insert_header(name, value.as_str())
                    .set_body_string("slow down"),
            )
            .await;
            let err = provider(&server.uri(), false)
                .complete(&request(&[("user", "hi")]))
                .await
                .unwrap_err();
            assert!(err.retryable());
            assert_eq!(err.retry_after(), Some(expected), "{name}");
        }
        let server = MockServer::start().await;
        let date = httpdate::fmt_http_date(SystemTime::now() + Duration::from_secs(20));
        serve(
            &server,
            ResponseTemplate::new(429).insert_header("retry-after", date.as_str()),
        )
        .await;
        let err = provider(&server.uri(), false)
            .complete(&request(&[("user", "hi")]))
            .await
            .unwrap_err();
        let wait = err.retry_after().unwrap();
        assert!(
            wait > Duration::from_secs(17) && wait <= Duration::from_secs(20),
            "{wait:?}"
        );
    }

    #[tokio::test]
    async fn the_api_key_never_appears_in_errors() {
        let key = "sk-openai-secret-key-987654321";
        crate::secret::register(key);
        let server = MockServer::start().await;
        serve(
            &server,
            ResponseTemplate::new(401).set_body_json(serde_json::json!({
                "error": {
                    "message": format!("Incorrect API key provided: Bearer {key}"),
                    "type": "invalid_request_error"
                }
            })),
        )
        .await;
        let p = OpenAi::new(
            "oa",
            &config(&server.uri(), false),
            Some(key.into()),
            vec![],
            &Limits::default(),
        )
        .unwrap();
        let err = p.complete(&request(&[("user", "hi")])).await.unwrap_err();
        assert!(!err.to_string().contains(key), "{err}");
        assert!(err.to_string().contains("[REDACTED]"), "{err}");
        assert!(!format!("{err:?}").contains(key));
    }

    #[tokio::test]
    async fn a_json_answer_to_a_stream_request_is_read_as_a_completion() {
        let server = MockServer::start().await;
        serve(
            &server,
            ResponseTemplate::new(200).set_body_json(serde_json::json!({
                "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}]
            })),
        )
        .await;
        let resp = provider(&server.uri(), true)
            .complete(&request(&[("user", "hi")]))
            .await
            .unwrap();
        assert_eq!(resp.text, "hi");
        assert_eq!(resp.timing.chunks, None);
    }

    fn completion(text: &str) -> ResponseTemplate {
        ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text}}]
        }))
    }

    #[tokio::test]
    async fn a_query_in_base_url_is_kept_after_the_path() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/openai/deployments/gpt4o/chat/completions"))
            .and(query_param("api-version", "2024-02-01"))
            .respond_with(completion("azure"))
            .expect(2)
            .mount(&server)
            .await;
        for base in [
            "/openai/deployments/gpt4o?api-version=2024-02-01",
            "/openai/deployments/gpt4o/?api-version=2024-02-01",
        ] {
            let mut cfg = config(&server.uri(), false);
            cfg.base_url = format!("{}{base}", server.uri());
            let p = OpenAi::new("oa", &cfg, None, vec![], &Limits::default()).unwrap();
            let resp = p.complete(&request(&[("user", "hi")])).await.unwrap();
            assert_eq!(resp.text, "azure", "{base}");
        }
    }

    #[tokio::test]
    async fn percent_encoded_secrets_in_base_url_do_not_leak_from_transport_errors() {
        crate::secret::register(SPACED_SECRET);
        let addr = free_port();
        let mut cfg = config("", false);
        cfg.base_url = format!("http://{addr}/v1?sig={SPACED_SECRET}");
        let p = OpenAi::new("oa", &cfg, None, vec![], &Limits::default()).unwrap();
        let err = p.complete(&request(&[("user", "hi")])).await.unwrap_err();
        let text = err.to_string();
        assert!(matches!(err, ProviderError::Transport(_)), "{text}");
        assert!(!text.contains(SPACED_SECRET), "{text}");
        assert!(!text.contains(&encoded(SPACED_SECRET)), "{text}");
        assert!(
            text.contains(&format!(
                "(url: http://{addr}/v1/chat/completions?sig=[REDACTED])"
            )),
            "{text}"
        );
    }

    /// Two endpoints whose URLs are secrets (as every `${NAME}` URL is)
    /// under the same provider name: the cache must not answer one with
    /// the other's answer.
    #[tokio::test]
    async fn the_cache_tells_endpoints_with_secret_urls_apart() {
        use crate::provider::cache::Cached;
        use std::sync::Arc;
        let cache = tempfile::tempdir().unwrap();
        let mut answers = Vec::new();
        for (i, answer) in ["from one", "from two"].into_iter().enumerate() {
            let server = MockServer::start().await;
            serve(&server, completion(answer)).await;
            let base_url = format!("{}/v1?key=cache-secret-{i}-9Xw2", server.uri());
            // As the provider builder does for `${NAME}` URLs.
            crate::secret::register(&base_url);
            crate::secret::register(&format!("cache-secret-{i}-9Xw2"));
            let mut cfg = config("", false);
            cfg.base_url = base_url.clone();
            let p = OpenAi::new("oa", &cfg, None, vec![], &Limits::default()).unwrap();
            assert_eq!(p.endpoint(), base_url, "unredacted: only hashed");
            let cached = Cached::new(Arc::new(p), cache.path().to_path_buf());
            let req = request(&[("user", "same question")]);
            answers.push(cached.complete(&req).await.unwrap().text);
            // Served from the cache now that the server is gone.
            drop(server);
            assert_eq!(cached.complete(&req).await.unwrap().text, answer);
        }
        assert_eq!(answers, ["from one", "from two"]);
    }

    /// A judge's samples are the same request under different call ids:
    /// the cache keeps each its own answer, and the case's answer keeps the
    /// key it always had.
    #[tokio::test]
    async fn the_cache_keeps_a_checks_calls_apart() {
        use crate::provider::cache::Cached;
        use std::sync::Arc;
        let cache = tempfile::tempdir().unwrap();
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/v1/chat/completions"))
            .respond_with(completion("graded"))
            .expect(3)
            .mount(&server)
            .await;
        let p = provider(&server.uri(), false);
        let cached = Cached::new(Arc::new(p), cache.path().to_path_buf());
        let mut req = request(&[("user", "grade this")]);
        for call in ["answer", "checks[0].judge#1", "checks[0].judge#2"] {
            req.call = call.to_string().into();
            assert_eq!(cached.complete(&req).await.unwrap().text, "graded");
            // Again: from the cache.
            assert_eq!(cached.complete(&req).await.unwrap().text, "graded");
        }
    }

    #[test]
    fn request_key_sorts_params_and_ignores_stream_and_endpoint() {
        let mut a = config("http://a.example", false);
        a.params
            .insert("temperature".into(), serde_json::json!(0.2));
        a.params.insert("seed".into(), serde_json::json!(7));
        let mut b = config("http://b.example", true);
        b.params.insert("seed".into(), serde_json::json!(7));
        b.params
            .insert("temperature".into(), serde_json::json!(0.2));
        let limits = Limits::default();
        let pa = OpenAi::new("a", &a, None, vec![], &limits).unwrap();
        let pb = OpenAi::new("b", &b, None, vec![], &limits).unwrap();
        let req = request(&[("user", "hi")]);
        let ka = compact(&pa.request_key(&req));
        assert_eq!(ka, compact(&pb.request_key(&req)));
        assert_eq!(
            ka,
            r#"{"type":"openai","model":"gpt-test","params":{"seed":7,"temperature":0.2},"messages":[{"role":"user","content":"hi"}]}"#
        );
        assert_eq!(pa.endpoint(), "http://a.example/v1");
    }

    #[test]
    fn body_puts_params_after_model_and_messages() {
        let mut cfg = config("http://a.example", true);
        cfg.params
            .insert("temperature".into(), serde_json::json!(0));
        cfg.params.insert("tools".into(), serde_json::json!([]));
        let p = OpenAi::new("a", &cfg, None, vec![], &Limits::default()).unwrap();
        let body = p.body(&request(&[("user", "hi")]));
        let keys: Vec<&String> = body.as_object().unwrap().keys().collect();
        assert_eq!(
            keys,
            [
                "model",
                "messages",
                "temperature",
                "tools",
                "stream",
                "stream_options"
            ]
        );
    }

    #[test]
    fn a_conversation_sends_tool_calls_and_tool_messages() {
        use crate::model::{Message, ToolCall};
        let mut call = Message::new("assistant", "");
        call.tool_calls = vec![ToolCall {
            id: None,
            name: "get_order".into(),
            arguments: r#"{"order":7}"#.into(),
        }];
        let mut result = Message::new("tool", "shipped");
        result.tool_call_id = Some("call_1".into());
        assert_eq!(
            wire_messages(&[Message::new("user", "hi"), call, result]),
            serde_json::json!([
                {"role": "user", "content": "hi"},
                {"role": "assistant", "content": "", "tool_calls": [
                    {"id": "call_1", "type": "function", "function": {"name": "get_order", "arguments": "{\"order\":7}"}}
                ]},
                {"role": "tool", "content": "shipped", "tool_call_id": "call_1"}
            ])
        );
    }
}

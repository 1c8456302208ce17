//! The two wire formats `serve-mock` speaks: OpenAI Chat Completions and
//! Anthropic Messages, whole answers and server-sent events.

use bytes::Bytes;
use serde_json::{json, Value};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Api {
    OpenAi,
    Anthropic,
}

impl Api {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Api::OpenAi => "openai",
            Api::Anthropic => "anthropic",
        }
    }
}

/// What `serve-mock` reads from a request body.
#[derive(Debug, Default)]
pub(crate) struct ChatRequest {
    pub(crate) model: Option<String>,
    pub(crate) stream: bool,
    /// OpenAI `stream_options.include_usage`.
    pub(crate) include_usage: bool,
    /// The text of every message (system first), joined with newlines: the
    /// prompt the fixtures' `prompt` regexes see, as the `mock` provider's.
    pub(crate) prompt: String,
}

/// A message's text: a string, or the `text` of its content parts.
fn content_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Array(parts) => parts
            .iter()
            .filter_map(|p| p.get("text").and_then(Value::as_str))
            .collect::<Vec<_>>()
            .join(""),
        _ => String::new(),
    }
}

pub(crate) fn parse_request(api: Api, body: &[u8]) -> Result<ChatRequest, String> {
    let v: Value =
        serde_json::from_slice(body).map_err(|e| format!("the body is not JSON: {e}"))?;
    let Some(messages) = v.get("messages").and_then(Value::as_array) else {
        return Err("`messages` must be an array".into());
    };
    let mut texts = Vec::new();
    if api == Api::Anthropic {
        if let Some(system) = v.get("system") {
            let s = content_text(system);
            if !s.is_empty() {
                texts.push(s);
            }
        }
    }
    for m in messages {
        texts.push(content_text(m.get("content").unwrap_or(&Value::Null)));
    }
    Ok(ChatRequest {
        model: v.get("model").and_then(Value::as_str).map(str::to_string),
        stream: v.get("stream").and_then(Value::as_bool).unwrap_or(false),
        include_usage: v
            .pointer("/stream_options/include_usage")
            .and_then(Value::as_bool)
            .unwrap_or(false),
        prompt: texts.join("\n"),
    })
}

/// The answer to send.
pub(crate) struct Answer<'a> {
    pub(crate) id: String,
    pub(crate) model: &'a str,
    pub(crate) text: &'a str,
    pub(crate) input_tokens: u64,
    pub(crate) output_tokens: u64,
    pub(crate) created: i64,
    /// The calls the answer asks for (after its text).
    pub(crate) tool_calls: &'a [crate::model::ToolCall],
}

impl Answer<'_> {
    fn openai_finish(&self) -> &'static str {
        if self.tool_calls.is_empty() {
            "stop"
        } else {
            "tool_calls"
        }
    }

    fn anthropic_stop(&self) -> &'static str {
        if self.tool_calls.is_empty() {
            "end_turn"
        } else {
            "tool_use"
        }
    }
}

fn call_id(c: &crate::model::ToolCall, i: usize) -> String {
    c.id.clone().unwrap_or_else(|| format!("call_{}", i + 1))
}

/// Anthropic's `input` is a JSON object: the arguments parsed, or `{}`.
fn tool_input(c: &crate::model::ToolCall) -> Value {
    serde_json::from_str::<Value>(&c.arguments)
        .ok()
        .filter(Value::is_object)
        .unwrap_or_else(|| json!({}))
}

pub(crate) fn whole(api: Api, a: &Answer<'_>) -> Value {
    match api {
        Api::OpenAi => {
            let mut message = json!({"role": "assistant", "content": a.text});
            if !a.tool_calls.is_empty() {
                message["tool_calls"] = a
                    .tool_calls
                    .iter()
                    .enumerate()
                    .map(|(i, c)| {
                        json!({"id": call_id(c, i), "type": "function",
                            "function": {"name": c.name, "arguments": c.arguments}})
                    })
                    .collect();
            }
            json!({
            "id": a.id,
            "object": "chat.completion",
            "created": a.created,
            "model": a.model,
            "choices": [{
                "index": 0,
                "message": message,
                "logprobs": null,
                "finish_reason": a.openai_finish()
            }],
            "usage": {
                "prompt_tokens": a.input_tokens,
                "completion_tokens": a.output_tokens,
                "total_tokens": a.input_tokens + a.output_tokens
            }
            })
        }
        Api::Anthropic => {
            let mut content = Vec::new();
            if !a.text.is_empty() || a.tool_calls.is_empty() {
                content.push(json!({"type": "text", "text": a.text}));
            }
            for (i, c) in a.tool_calls.iter().enumerate() {
                content.push(json!({"type": "tool_use", "id": call_id(c, i),
                    "name": c.name, "input": tool_input(c)}));
            }
            json!({
            "id": a.id,
            "type": "message",
            "role": "assistant",
            "model": a.model,
            "content": content,
            "stop_reason": a.anthropic_stop(),
            "stop_sequence": null,
            "usage": {"input_tokens": a.input_tokens, "output_tokens": a.output_tokens}
            })
        }
    }
}

/// An error body in the API's format.
pub(crate) fn error_body(api: Api, status: u16, message: &str) -> Value {
    let kind = match (api, status) {
        (_, 400 | 404 | 413 | 422) => "invalid_request_error",
        (_, 401) => "authentication_error",
        (_, 429) => "rate_limit_error",
        (Api::Anthropic, 529) => "overloaded_error",
        (Api::Anthropic, _) => "api_error",
        (Api::OpenAi, _) => "server_error",
    };
    match api {
        Api::OpenAi => {
            json!({"error": {"message": message, "type": kind, "param": null, "code": null}})
        }
        Api::Anthropic => json!({"type": "error", "error": {"type": kind, "message": message}}),
    }
}

/// The text cut into token-sized pieces: each word with the whitespace
/// before the next one. Concatenated they give the text back.
pub(crate) fn pieces(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut prev_ws = false;
    for (i, c) in text.char_indices() {
        let ws = c.is_whitespace();
        if prev_ws && !ws && i > start {
            out.push(&text[start..i]);
            start = i;
        }
        prev_ws = ws;
    }
    if start < text.len() {
        out.push(&text[start..]);
    }
    out
}

/// The events of a streamed answer, in order: `head` (sent with the
/// headers), one per piece of text, then `tail`.
pub(crate) struct StreamEvents {
    pub(crate) head: Vec<Bytes>,
    pub(crate) tokens: Vec<Bytes>,
    pub(crate) tail: Vec<Bytes>,
}

fn data(v: &Value) -> Bytes {
    Bytes::from(format!("data: {v}\n\n"))
}

fn event(name: &str, v: &Value) -> Bytes {
    Bytes::from(format!("event: {name}\ndata: {v}\n\n"))
}

/// A token event whose data is not JSON (for `--malformed-rate`).
pub(crate) fn malformed(api: Api) -> Bytes {
    match api {
        Api::OpenAi => Bytes::from_static(b"data: {\"choices\": [{\"delta\": {\"content\": \n\n"),
        Api::Anthropic => Bytes::from_static(
            b"event: content_block_delta\ndata: {\"type\": \"content_block_delta\", \"delta\": \n\n",
        ),
    }
}

pub(crate) fn stream(api: Api, a: &Answer<'_>, include_usage: bool) -> StreamEvents {
    let parts = pieces(a.text);
    match api {
        Api::OpenAi => {
            let chunk = |delta: Value, finish: Value| {
                data(&json!({
                    "id": a.id, "object": "chat.completion.chunk", "created": a.created,
                    "model": a.model,
                    "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish}]
                }))
            };
            let head = vec![chunk(
                json!({"role": "assistant", "content": ""}),
                Value::Null,
            )];
            let mut tokens: Vec<Bytes> = parts
                .iter()
                .map(|p| chunk(json!({"content": p}), Value::Null))
                .collect();
            // A tool call: its name and id first, then its arguments.
            for (i, c) in a.tool_calls.iter().enumerate() {
                tokens.push(chunk(
                    json!({"tool_calls": [{"index": i, "id": call_id(c, i), "type": "function",
                        "function": {"name": c.name, "arguments": ""}}]}),
                    Value::Null,
                ));
                tokens.push(chunk(
                    json!({"tool_calls": [{"index": i, "function": {"arguments": c.arguments}}]}),
                    Value::Null,
                ));
            }
            let mut tail = vec![chunk(json!({}), json!(a.openai_finish()))];
            if include_usage {
                tail.push(data(&json!({
                    "id": a.id, "object": "chat.completion.chunk", "created": a.created,
                    "model": a.model, "choices": [],
                    "usage": {
                        "prompt_tokens": a.input_tokens,
                        "completion_tokens": a.output_tokens,
                        "total_tokens": a.input_tokens + a.output_tokens
                    }
                })));
            }
            tail.push(Bytes::from_static(b"data: [DONE]\n\n"));
            StreamEvents { head, tokens, tail }
        }
        Api::Anthropic => {
            let head = vec![
                event(
                    "message_start",
                    &json!({"type": "message_start", "message": {
                        "id": a.id, "type": "message", "role": "assistant", "content": [],
                        "model": a.model, "stop_reason": null, "stop_sequence": null,
                        "usage": {"input_tokens": a.input_tokens, "output_tokens": 1}
                    }}),
                ),
                event(
                    "content_block_start",
                    &json!({"type": "content_block_start", "index": 0,
                        "content_block": {"type": "text", "text": ""}}),
                ),
                event("ping", &json!({"type": "ping"})),
            ];
            let mut tokens: Vec<Bytes> = parts
                .iter()
                .map(|p| {
                    event(
                        "content_block_delta",
                        &json!({"type": "content_block_delta", "index": 0,
                            "delta": {"type": "text_delta", "text": p}}),
                    )
                })
                .collect();
            // Tool calls are blocks after the text: start, the input as JSON, stop.
            for (i, c) in a.tool_calls.iter().enumerate() {
                let index = i + 1;
                if i == 0 {
                    tokens.push(event(
                        "content_block_stop",
                        &json!({"type": "content_block_stop", "index": 0}),
                    ));
                }
                tokens.push(event(
                    "content_block_start",
                    &json!({"type": "content_block_start", "index": index,
                        "content_block": {"type": "tool_use", "id": call_id(c, i),
                            "name": c.name, "input": {}}}),
                ));
                tokens.push(event(
                    "content_block_delta",
                    &json!({"type": "content_block_delta", "index": index,
                        "delta": {"type": "input_json_delta",
                            "partial_json": tool_input(c).to_string()}}),
                ));
                tokens.push(event(
                    "content_block_stop",
                    &json!({"type": "content_block_stop", "index": index}),
                ));
            }
            let mut tail = Vec::new();
            if a.tool_calls.is_empty() {
                tail.push(event(
                    "content_block_stop",
                    &json!({"type": "content_block_stop", "index": 0}),
                ));
            }
            tail.extend([
                event(
                    "message_delta",
                    &json!({"type": "message_delta",
                        "delta": {"stop_reason": a.anthropic_stop(), "stop_sequence": null},
                        "usage": {"output_tokens": a.output_tokens}}),
                ),
                event("message_stop", &json!({"type": "message_stop"})),
            ]);
            StreamEvents { head, tokens, tail }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pieces_give_the_text_back() {
        for t in ["", "Paris", "Paris is  the\ncapital. ", "  lead", "a b"] {
            assert_eq!(pieces(t).concat(), t);
        }
        assert_eq!(pieces("Paris is nice"), ["Paris ", "is ", "nice"]);
    }

    #[test]
    fn prompts_join_system_and_messages() {
        let r = parse_request(
            Api::Anthropic,
            br#"{"model":"m","system":"Be brief.","messages":[{"role":"user","content":[{"type":"text","text":"Hi"}]}],"stream":true}"#,
        )
        .unwrap();
        assert_eq!(r.prompt, "Be brief.\nHi");
        assert!(r.stream);
        let r = parse_request(
            Api::OpenAi,
            br#"{"messages":[{"role":"system","content":"S"},{"role":"user","content":"Q"}],"stream_options":{"include_usage":true}}"#,
        )
        .unwrap();
        assert_eq!(r.prompt, "S\nQ");
        assert!(r.include_usage && !r.stream);
        assert!(parse_request(Api::OpenAi, b"{}").is_err());
        assert!(parse_request(Api::OpenAi, b"nope").is_err());
    }
}

//! `mock`: deterministic in-process answers from a fixtures file.
//!
//! Rules are tried in order; the first whose `case` equals the case id (or
//! `suite/case`) or whose `prompt` regex matches the rendered prompt answers.
//! `replies` cycles by repeat index (to simulate flaky output), `error`
//! simulates a provider failure, `latency_ms` simulates a slow model.
//!
//! ```yaml
//! default: "I don't know."
//! responses:
//!   - case: capitals/france
//!     reply: "Paris is the capital of France."
//!   - prompt: "(?i)weather"
//!     reply: "Sunny."
//!     latency_ms: 20
//!   - prompt: "(?i)order 1182"
//!     reply: ""
//!     tool_calls: [{name: get_order, arguments: {order: 1182}}]
//! ```
//!
//! `tool_calls` are the calls the answer asks for (arguments as a mapping
//! or as JSON text); `serve-mock` sends them in the API's own format.

use std::path::Path;
use std::time::{Duration, Instant, SystemTime};

use futures::future::BoxFuture;
use regex::Regex;

use super::{estimate_tokens, Provider, ProviderError, Request, Response};
use crate::error::Diagnostic;
use crate::model::{Timing, Usage};
use crate::syntax::decode::Ctx;
use crate::syntax::node::{self, Node};
use crate::util::text::regex_error;

#[derive(Debug, Clone)]
enum Answer {
    Replies(Vec<String>),
    Error(String),
}

#[derive(Debug, Clone)]
enum Matcher {
    Case(String),
    Prompt(Regex),
}

#[derive(Debug, Clone)]
struct Rule {
    matcher: Matcher,
    answer: Answer,
    latency: Option<Duration>,
    tool_calls: Vec<crate::model::ToolCall>,
    faults: Option<RuleFaults>,
}

/// A rule's own `faults:` for `serve-mock` (each replaces the server's flag
/// of the same name for the requests the rule answers; the in-process
/// `mock` provider ignores them).
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct RuleFaults {
    pub(crate) latency: Option<crate::util::dist::Dist>,
    pub(crate) ttft: Option<Duration>,
    pub(crate) token_delay: Option<Duration>,
    pub(crate) error_rate: Option<f64>,
    pub(crate) error_status: Option<u16>,
    pub(crate) rate_limit_rate: Option<f64>,
    pub(crate) retry_after: Option<u64>,
    pub(crate) truncate_rate: Option<f64>,
    pub(crate) stall_rate: Option<f64>,
    pub(crate) stall_for: Option<Duration>,
    pub(crate) malformed_rate: Option<f64>,
}

/// The top-level keys of a mock responses file.
pub(crate) const ROOT_KEYS: &[&str] = &["default", "responses"];
/// The keys of a `responses:` rule.
pub(crate) const RULE_KEYS: &[&str] = &[
    "case",
    "prompt",
    "reply",
    "replies",
    "error",
    "latency_ms",
    "tool_calls",
    "faults",
];
/// The keys of a rule's tool call.
pub(crate) const TOOL_CALL_KEYS: &[&str] = &["name", "arguments", "id"];
/// The keys of a rule's `faults:`.
pub(crate) const FAULT_KEYS: &[&str] = &[
    "latency",
    "ttft_ms",
    "token_delay_ms",
    "error_rate",
    "error_status",
    "rate_limit_rate",
    "retry_after",
    "truncate_rate",
    "stall_rate",
    "stall_for_ms",
    "malformed_rate",
];

fn decode_faults(ctx: &mut Ctx<'_>, node: &Node) -> Option<RuleFaults> {
    let f = ctx.map(node, "`faults`", FAULT_KEYS)?;
    let mut out = RuleFaults::default();
    if let Some(n) = f.get("latency") {
        let text = match &n.value {
            node::Value::Str(s) => Some(s.clone()),
            _ => n.to_json().as_f64().map(|v| v.to_string()),
        };
        match text.map(|t| crate::util::dist::Dist::parse(&t)) {
            Some(Ok(d)) => out.latency = Some(d),
            Some(Err(e)) => ctx.error(n.pos, e, Some("e.g. `50`, `uniform:10,50`, `normal:100,20`, `lognormal:100,0.5` (milliseconds)".into())),
            None => ctx.error(n.pos, "`latency` must be a number of milliseconds or a distribution", None),
        }
    }
    let ms = |ctx: &mut Ctx<'_>, key: &str| {
        f.get(key)
            .and_then(|n| ctx.uint(n, &format!("`{key}`"), 0, 3_600_000))
            .map(Duration::from_millis)
    };
    out.ttft = ms(ctx, "ttft_ms");
    out.token_delay = ms(ctx, "token_delay_ms");
    out.stall_for = ms(ctx, "stall_for_ms");
    let rate = |ctx: &mut Ctx<'_>, key: &str| {
        f.get(key)
            .and_then(|n| ctx.number(n, &format!("`{key}`"), 0.0, 1.0))
    };
    out.error_rate = rate(ctx, "error_rate");
    out.rate_limit_rate = rate(ctx, "rate_limit_rate");
    out.truncate_rate = rate(ctx, "truncate_rate");
    out.stall_rate = rate(ctx, "stall_rate");
    out.malformed_rate = rate(ctx, "malformed_rate");
    out.error_status = f
        .get("error_status")
        .and_then(|n| ctx.uint(n, "`error_status`", 400, 599))
        .map(|v| v as u16);
    out.retry_after = f
        .get("retry_after")
        .and_then(|n| ctx.uint(n, "`retry_after`", 0, 86_400));
    Some(out)
}

/// The compiled fixtures of a mock provider.
#[derive(Debug, Clone, Default)]
pub(crate) struct MockResponses {
    rules: Vec<Rule>,
    default: Option<String>,
}

impl MockResponses {
    /// Load and validate a responses file. Errors carry file:line:column.
    pub(crate) fn load(path: &Path) -> Result<Self, Vec<Diagnostic>> {
        let text =
            crate::util::fsafe::read_to_string(path, crate::util::fsafe::Kind::Fixture, true)
                .map_err(|e| {
                    vec![Diagnostic::new(
                        path,
                        None,
                        format!("cannot read mock responses file: {e}"),
                    )
                    .with_hint("check the `responses` path of the mock provider in evalgate.yaml")]
                })?;
        let root = node::parse(path, &text)?;
        let mut ctx = Ctx::new(path, &text);
        let parsed = Self::decode(&mut ctx, &root);
        if ctx.errors.is_empty() {
            Ok(parsed)
        } else {
            Err(ctx.errors)
        }
    }

    fn decode(ctx: &mut Ctx<'_>, root: &Node) -> Self {
        let mut out = MockResponses::default();
        let Some(f) = ctx.map(root, "mock responses file", ROOT_KEYS) else {
            return out;
        };
        if let Some(n) = f.get("default") {
            out.default = ctx.scalar_string(n, "`default`");
        }
        let Some(list) = f.get("responses") else {
            return out;
        };
        let Some(items) = ctx.seq(list, "`responses`") else {
            return out;
        };
        for item in items {
            let Some(rf) = ctx.map(item, "a mock response", RULE_KEYS) else {
                continue;
            };
            let matcher = match (rf.get("case"), rf.get("prompt")) {
                (Some(c), None) => ctx.scalar_string(c, "`case`").map(Matcher::Case),
                (None, Some(p)) => {
                    let Some(src) = ctx.string(p, "`prompt`") else {
                        continue;
                    };
                    match Regex::new(&src) {
                        Ok(re) => Some(Matcher::Prompt(re)),
                        Err(e) => {
                            ctx.error(
                                p.pos,
                                format!("invalid regex in `prompt`: {}", regex_error(&e)),
                                Some(
                                    "use Rust regex syntax; escape special characters with \\\\"
                                        .into(),
                                ),
                            );
                            None
                        }
                    }
                }
                _ => {
                    ctx.error(
                        item.pos,
                        "a mock response needs exactly one of `case` or `prompt`",
                        Some("match on a case id with `case: <id>` or on the prompt with `prompt: <regex>`".into()),
                    );
                    None
                }
            };
            let answer = match (rf.get("reply"), rf.get("replies"), rf.get("error")) {
                (Some(r), None, None) => ctx
                    .scalar_string(r, "`reply`")
                    .map(|s| Answer::Replies(vec![s])),
                (None, Some(r), None) => match ctx.string_list(r, "`replies`") {
                    Some(v) if !v.is_empty() => Some(Answer::Replies(v)),
                    Some(_) => {
                        ctx.error(r.pos, "`replies` must not be empty", None);
                        None
                    }
                    None => None,
                },
                (None, None, Some(e)) => ctx.scalar_string(e, "`error`").map(Answer::Error),
                _ => {
                    ctx.error(
                        item.pos,
                        "a mock response needs exactly one of `reply`, `replies` or `error`",
                        None,
                    );
                    None
                }
            };
            let latency = rf
                .get("latency_ms")
                .and_then(|n| ctx.uint(n, "`latency_ms`", 0, 3_600_000))
                .map(Duration::from_millis);
            let tool_calls = rf
                .get("tool_calls")
                .map(|n| decode_tool_calls(ctx, n))
                .unwrap_or_default();
            let faults = rf.get("faults").and_then(|n| decode_faults(ctx, n));
            if let (Some(matcher), Some(answer)) = (matcher, answer) {
                out.rules.push(Rule {
                    matcher,
                    answer,
                    latency,
                    tool_calls,
                    faults,
                });
            }
        }
        out
    }

    /// The answer for a call: the first rule that matches (`case` is the
    /// case as `(suite, id)`; a `case` rule matches `id` or `suite/id`),
    /// else the `default`. `repeat` (from 1) picks among `replies`.
    /// The `mock` provider and `evalgate serve-mock` both answer with it.
    pub(crate) fn answer(
        &self,
        case: Option<(&str, &str)>,
        prompt: &str,
        repeat: u32,
    ) -> Found<'_> {
        let rule = self.rules.iter().find(|r| match &r.matcher {
            Matcher::Case(id) => case.is_some_and(|(suite, case_id)| {
                id == case_id
                    || (id.len() == suite.len() + 1 + case_id.len()
                        && id.starts_with(suite)
                        && id[suite.len()..].starts_with('/')
                        && id.ends_with(case_id))
            }),
            Matcher::Prompt(re) => re.is_match(prompt),
        });
        let reply = match rule.map(|r| &r.answer) {
            Some(Answer::Replies(replies)) => {
                let i = (repeat.saturating_sub(1) as usize) % replies.len();
                Reply::Text(&replies[i])
            }
            Some(Answer::Error(e)) => Reply::Error(e),
            None => match &self.default {
                Some(d) => Reply::Text(d),
                None => Reply::Nothing,
            },
        };
        Found {
            reply,
            latency: rule.and_then(|r| r.latency),
            tool_calls: rule.map_or(&[], |r| r.tool_calls.as_slice()),
            faults: rule.and_then(|r| r.faults.as_ref()),
        }
    }
}

/// `tool_calls: [{name: get_order, arguments: {order: 1182}, id: call_1}]`.
fn decode_tool_calls(ctx: &mut Ctx<'_>, node: &Node) -> Vec<crate::model::ToolCall> {
    let Some(items) = ctx.seq(node, "`tool_calls`") else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let Some(f) = ctx.map(item, "a tool call", TOOL_CALL_KEYS) else {
            continue;
        };
        let Some(name) = ctx
            .require(&f, "name", "a tool call")
            .and_then(|n| ctx.scalar_string(n, "`name`"))
        else {
            continue;
        };
        let arguments = match f.get("arguments") {
            None => "{}".to_string(),
            Some(n) => match &n.value {
                node::Value::Str(s) => s.clone(),
                _ => n.to_json().to_string(),
            },
        };
        let id = match f.get("id") {
            Some(n) => ctx.scalar_string(n, "`id`"),
            None => Some(format!("call_{}", i + 1)),
        };
        out.push(crate::model::ToolCall {
            id,
            name,
            arguments,
        });
    }
    out
}

/// What the fixtures answer for one call.
pub(crate) struct Found<'a> {
    pub(crate) reply: Reply<'a>,
    /// The rule's own `latency_ms`, if it has one.
    pub(crate) latency: Option<Duration>,
    /// The tool calls the answer asks for.
    pub(crate) tool_calls: &'a [crate::model::ToolCall],
    /// The rule's own `faults` (serve-mock).
    pub(crate) faults: Option<&'a RuleFaults>,
}

pub(crate) enum Reply<'a> {
    Text(&'a str),
    /// The rule's `error`.
    Error(&'a str),
    /// No rule matched and there is no `default`.
    Nothing,
}

pub(crate) struct Mock {
    name: String,
    model: String,
    responses: MockResponses,
    latency: Duration,
}

impl Mock {
    pub(crate) fn new(
        name: impl Into<String>,
        model: Option<String>,
        responses: MockResponses,
        latency: Duration,
    ) -> Self {
        Mock {
            name: name.into(),
            model: model.unwrap_or_else(|| "mock".to_string()),
            responses,
            latency,
        }
    }
}

impl Provider for Mock {
    fn name(&self) -> &str {
        &self.name
    }

    fn complete<'a>(
        &'a self,
        request: &'a Request,
    ) -> BoxFuture<'a, Result<Response, ProviderError>> {
        Box::pin(async move {
            let started_at = SystemTime::now();
            let started = Instant::now();
            let prompt = request.prompt_text();
            let found = self.responses.answer(
                Some((&request.suite, &request.case_id)),
                &prompt,
                request.repeat,
            );
            let latency = found.latency.unwrap_or(self.latency);
            if !latency.is_zero() {
                tokio::time::sleep(latency).await;
            }
            let text = match found.reply {
                Reply::Text(t) => t.to_string(),
                Reply::Error(e) => return Err(ProviderError::Provider(e.to_string())),
                Reply::Nothing => {
                    return Err(ProviderError::Provider(format!(
                        "mock has no response for case `{}/{}` and no `default`",
                        request.suite, request.case_id
                    )))
                }
            };
            let input_tokens = estimate_tokens(&prompt);
            let output_tokens = estimate_tokens(&text);
            Ok(Response {
                timing: Timing {
                    started_at: Some(started_at),
                    ttft_ms: None,
                    latency_ms: started.elapsed().as_secs_f64() * 1000.0,
                    ..Default::default()
                },
                usage: Some(Usage {
                    input_tokens,
                    output_tokens,
                    total_tokens: input_tokens + output_tokens,
                }),
                model: Some(self.model.clone()),
                finish_reason: Some(
                    if found.tool_calls.is_empty() {
                        "stop"
                    } else {
                        "tool_calls"
                    }
                    .to_string(),
                ),
                tool_calls: found.tool_calls.to_vec(),
                text,
                ..Default::default()
            })
        })
    }
}

//! One attempt of a conversation (`turns:`): the prompt's system messages,
//! then each turn's user message; the model's answers are fed back as
//! assistant messages. Within a turn, tool calls that `tool_results` answers
//! are answered (the assistant message with its calls, then one `tool`
//! message per call) and the model is called again, at most `max_steps`
//! times; an answer with no call, or with a call no fixture answers, ends
//! the turn. Each turn's checks run on its answer.
//!
//! Each model call has its own call id (`turn2`, `turn2.step2`; `@variant`
//! for a prompt variant), so a cassette keeps them apart.

use std::borrow::Cow;
use std::time::SystemTime;

use super::executor::{error_attempt, prompt_hash, Attempt};
use crate::check::golden::GoldenCtx;
use crate::check::EvalCtx;
use crate::model::{AttemptResult, Message, Timing, ToolCall, TurnResult, Usage};
use crate::provider::{Request, Response};
use crate::suite::Conversation;

/// The call id of step `step` (1-based) of turn `turn`.
fn call_id(turn: usize, step: u32, variant: Option<&str>) -> String {
    let mut id = if step == 1 {
        format!("turn{turn}")
    } else {
        format!("turn{turn}.step{step}")
    };
    if let Some(v) = variant {
        id.push('@');
        id.push_str(v);
    }
    id
}

/// A fixture as the `tool` message's content: a string as is, anything else
/// as compact JSON.
fn fixture_text(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn add_usage(total: &mut Option<Usage>, u: Option<Usage>) {
    if let Some(u) = u {
        let t = total.get_or_insert_with(Usage::default);
        t.input_tokens = t.input_tokens.saturating_add(u.input_tokens);
        t.output_tokens = t.output_tokens.saturating_add(u.output_tokens);
        t.total_tokens = t.total_tokens.saturating_add(u.total_tokens);
    }
}

impl Attempt {
    pub(super) async fn converse(&self, conv: &Conversation) -> AttemptResult {
        let repeat = self.id.repeat;
        let vars = minijinja::Value::from_serialize(&self.case.vars);
        let variant = self.case.variant.as_deref();
        let mut messages: Vec<Message> = match self.prompt.render(&self.env, &vars) {
            Ok(m) => m.into_iter().filter(|m| m.role == "system").collect(),
            Err(e) => {
                return error_attempt(
                    repeat,
                    format!("cannot render the system prompt: {e}"),
                    String::new(),
                    0.0,
                )
            }
        };
        let started_at = SystemTime::now();
        let mut turns: Vec<TurnResult> = Vec::new();
        // Provider calls the checks of every turn made (judges, embedders).
        let mut check_calls = Vec::new();
        let mut usage: Option<Usage> = None;
        let mut retries = 0;
        let mut total_ms = 0.0;
        let mut hash = String::new();
        let mut last: Option<Response> = None;
        // An attempt that ends early keeps the turns it finished.
        let fail = |message: String,
                    hash: String,
                    total_ms: f64,
                    turns: Vec<TurnResult>,
                    retries: u32,
                    recording| {
            let mut a = error_attempt(repeat, message, hash, total_ms);
            a.turns = turns;
            a.retries = retries;
            a.recording = recording;
            a
        };
        for (i, turn) in conv.turns.iter().enumerate() {
            let n = i + 1;
            let user = match turn.user.render(&self.env, &vars) {
                Ok(m) => m
                    .into_iter()
                    .map(|m| m.content)
                    .collect::<Vec<_>>()
                    .join("\n"),
                Err(e) => {
                    return fail(
                        format!("turn {n}: cannot render the user message: {e}"),
                        hash,
                        total_ms,
                        turns,
                        retries,
                        None,
                    )
                }
            };
            messages.push(Message::new("user", user.clone()));
            let first_step = messages.len();
            let mut turn_ms = 0.0;
            let mut step = 0;
            let response = loop {
                step += 1;
                hash = prompt_hash(&messages);
                let request = Request {
                    suite: self.id.suite.to_string(),
                    case_id: self.case.id.clone(),
                    repeat,
                    messages: messages.clone(),
                    timeout: self.case.settings.timeout,
                    vars: serde_json::Value::Object(self.case.vars.clone()),
                    call: Cow::Owned(call_id(n, step, variant)),
                    format: crate::provider::Format::Text,
                    observer: self.observer.clone(),
                };
                let started = std::time::Instant::now();
                let r = match self.provider.complete(&request).await {
                    Ok(r) => r,
                    Err(e) => {
                        let ms = e
                            .recorded_latency_ms()
                            .unwrap_or_else(|| started.elapsed().as_secs_f64() * 1000.0);
                        let retries = retries + e.retries();
                        let recording = e.recording();
                        return fail(
                            format!("turn {n}: {e}"),
                            hash,
                            total_ms + ms,
                            turns,
                            retries,
                            recording,
                        );
                    }
                };
                turn_ms += r.timing.latency_ms;
                total_ms += r.timing.latency_ms;
                retries += r.retries;
                add_usage(&mut usage, r.usage);
                let answered = !r.tool_calls.is_empty()
                    && r.tool_calls
                        .iter()
                        .all(|c| conv.tool_results.contains_key(&c.name));
                if !answered {
                    break r;
                }
                if step >= conv.max_steps {
                    return fail(
                        format!(
                            "turn {n}: the model still called tools after {step} model call{} (max_steps: {})",
                            crate::util::fmt::plural(step),
                            conv.max_steps
                        ),
                        hash,
                        total_ms,
                        turns,
                        retries,
                        None,
                    );
                }
                // The calls with ids (as the API needs them to pair results).
                let calls: Vec<ToolCall> = r
                    .tool_calls
                    .iter()
                    .enumerate()
                    .map(|(k, c)| ToolCall {
                        id: Some(
                            c.id.clone()
                                .unwrap_or_else(|| format!("call_{n}_{step}_{}", k + 1)),
                        ),
                        ..c.clone()
                    })
                    .collect();
                let mut assistant = Message::new("assistant", r.text.clone());
                assistant.tool_calls = calls.clone();
                messages.push(assistant);
                for c in &calls {
                    let result = conv
                        .tool_results
                        .get(&c.name)
                        .map(fixture_text)
                        .unwrap_or_default();
                    let mut m = Message::new("tool", result);
                    m.tool_call_id = c.id.clone();
                    messages.push(m);
                }
            };
            let steps: Vec<Message> = messages.get(first_step..).unwrap_or_default().to_vec();
            let mut response = response;
            response
                .timing
                .derive_rates(response.usage.as_ref(), &response.text);
            let golden = GoldenCtx {
                store: &self.golden,
                suite: &self.id.suite,
                case: &self.case.id,
                provider: &self.id.provider,
                variant,
                turn: Some(n),
                model: response.model.as_deref(),
                prompt_hash: &hash,
                repeat,
            };
            let mut ctx = EvalCtx::for_response(&response, &vars, &self.env)
                .with_golden(golden)
                .with_call(&messages, &self.id, &self.providers)
                .with_timeout(self.case.settings.timeout);
            ctx.turn = Some(n);
            // `max_latency_ms` on a turn judges the whole turn (every model call).
            ctx.latency_ms = turn_ms;
            let mut checks = Vec::with_capacity(turn.checks.len());
            for (i, check) in turn.checks.iter().enumerate() {
                ctx.set_check_index(i);
                checks.push(check.run(&ctx).await);
            }
            check_calls.extend(ctx.take_calls());
            drop(ctx);
            // The answer goes back into the conversation; calls no fixture
            // answered are not sent back (an API wants a result for each).
            messages.push(Message::new("assistant", response.text.clone()));
            turns.push(TurnResult {
                turn: n as u32,
                user,
                steps,
                output: response.text.clone(),
                tool_calls: response.tool_calls.clone(),
                latency_ms: turn_ms,
                passed: checks.iter().all(|c| c.passed),
                checks,
            });
            last = Some(response);
        }
        let Some(last) = last else {
            return fail(
                "the conversation has no turns".into(),
                hash,
                total_ms,
                turns,
                retries,
                None,
            );
        };
        let checks: Vec<_> = turns
            .iter()
            .flat_map(|t| {
                t.checks.iter().map(move |c| {
                    let mut c = c.clone();
                    c.name = format!("turn {}: {}", t.turn, c.name);
                    c
                })
            })
            .collect();
        let (outcome, score, check_error) =
            super::executor::verdict(&checks, self.case.settings.threshold);
        let recorded = last.timing.recorded;
        AttemptResult {
            repeat,
            outcome,
            score,
            checks,
            output: Some(last.text),
            error: check_error.map(|e| crate::secret::redact(&e)),
            tool_calls: last.tool_calls,
            retries,
            timing: Timing {
                started_at: Some(started_at),
                latency_ms: total_ms,
                recorded,
                ..Default::default()
            },
            usage,
            check_calls,
            cost_usd: None,
            judge_cost_usd: None,
            finish_reason: last.finish_reason,
            model: last.model,
            prompt_hash: hash,
            turns,
            recording: None,
        }
    }
}

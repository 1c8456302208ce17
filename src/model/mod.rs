//! The result types that flow from the engine to reporters and the gate.
//!
//! These are also the wire types of the JSON report (schema version
//! [`REPORT_SCHEMA_VERSION`]); changing a field is a schema change.

use serde::{Deserialize, Serialize};

mod json;
pub(crate) use json::{write_attempt, write_case};

/// Value of the JSON report's `schema` field.
pub(crate) const REPORT_SCHEMA_NAME: &str = "evalgate.report";

/// Version of the JSON report schema (`schema/report.v1.json`).
pub(crate) const REPORT_SCHEMA_VERSION: u32 = 1;

/// One chat message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    pub role: String,
    pub content: String,
    /// An assistant message of a conversation: the tool calls it asked for.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub tool_calls: Vec<ToolCall>,
    /// A `tool` message of a conversation: the call it answers.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub tool_call_id: Option<String>,
}

impl Message {
    /// A plain message: a role and its text.
    pub fn new(role: impl Into<String>, content: impl Into<String>) -> Self {
        Message {
            role: role.into(),
            content: content.into(),
            tool_calls: Vec::new(),
            tool_call_id: None,
        }
    }
}

/// Outcome of one attempt or one case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Outcome {
    /// Every check passed (or the score threshold was met).
    Pass,
    /// The answer was wrong: a check failed.
    Fail,
    /// No usable answer: timeout, transport or provider error.
    Error,
    /// Not run.
    Skipped,
}

impl Outcome {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Outcome::Pass => "pass",
            Outcome::Fail => "fail",
            Outcome::Error => "error",
            Outcome::Skipped => "skipped",
        }
    }
}

/// Token usage reported by a provider (or estimated by the mock).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub total_tokens: u64,
}

/// One provider call a check made (a judge's grade, an embedding).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct CheckCall {
    /// The provider's name in `evalgate.yaml`.
    pub provider: String,
    /// The check's display name.
    pub check: String,
    /// Model id the provider reported.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub model: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub usage: Option<Usage>,
}

/// The result of one check on one output.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckResult {
    /// Display name: the user's `name`, or the check kind with `not ` when negated.
    pub name: String,
    /// The check kind, e.g. `contains`.
    pub kind: String,
    pub negated: bool,
    pub weight: f64,
    pub passed: bool,
    /// In [0, 1].
    pub score: f64,
    /// One-line explanation.
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub expected: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub actual: Option<String>,
    /// Excerpt of the output around the mismatch.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub excerpt: Option<String>,
    /// Unified diff from the expected text (e.g. the golden) to the output.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub diff: Option<String>,
    /// The check itself could not judge (a judge that timed out or answered
    /// no valid grade, a `script` that crashed or timed out): the attempt is
    /// an `error`, never a `fail`.
    #[serde(skip_serializing_if = "is_false", default)]
    pub error: bool,
}

/// Timing of one provider call, in milliseconds from the start of the request.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Timing {
    /// Wall-clock start of the request (RFC 3339 in the report).
    #[serde(with = "rfc3339", skip_serializing_if = "Option::is_none", default)]
    pub started_at: Option<std::time::SystemTime>,
    /// Time to first token when streaming (None when not streamed).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub ttft_ms: Option<f64>,
    /// Latency of the try that answered (retries and backoff waits are not
    /// counted; see `retries`). For an error, the time until it was final.
    pub latency_ms: f64,
    /// Streamed responses: chunks that carried content, reasoning or a tool call.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub chunks: Option<u32>,
    /// Streamed responses: the mean and the longest gap between such chunks.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub mean_gap_ms: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub max_gap_ms: Option<f64>,
    /// Time spent waiting for the provider's concurrency or rate-limit slot
    /// before the try that answered was sent (not part of `latency_ms`).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub queue_ms: Option<f64>,
    /// Time to open the connection (DNS, TCP, TLS), when the request needed
    /// a new one (absent when a pooled connection was reused).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub connect_ms: Option<f64>,
    /// Time to the response headers.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub headers_ms: Option<f64>,
    /// Streamed responses: arrival of the last token-bearing chunk.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub last_token_ms: Option<f64>,
    /// Time per output token after the first: (last token − first token) /
    /// (output tokens − 1). Streamed responses with at least 2 tokens.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub tpot_ms: Option<f64>,
    /// Output tokens per second of `latency_ms`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub output_tokens_per_s: Option<f64>,
    /// The output token count behind `tpot_ms` and `output_tokens_per_s`
    /// was estimated (the provider reported no usage): content chunks of a
    /// stream, else whitespace-separated words.
    #[serde(skip_serializing_if = "is_false", default)]
    pub tokens_estimated: bool,
    /// The answer came from the response cache or a cassette: its timings
    /// are the recorded ones, not a latency sample of this run.
    #[serde(skip_serializing_if = "is_false", default)]
    pub recorded: bool,
    /// Streamed from a server that stamps each event with its send time
    /// (`serve-mock --stamp-events`): the delay from each token event's send
    /// to evalgate having parsed it (network, HTTP client, SSE parser).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub event_delay: Option<Percentiles>,
}

fn is_false(b: &bool) -> bool {
    !*b
}

impl Timing {
    /// Derive TPOT and output tokens per second from the output tokens the
    /// provider reported (`usage`), or an estimate from `text`.
    pub fn derive_rates(&mut self, usage: Option<&Usage>, text: &str) {
        let (tokens, estimated) = match usage {
            Some(u) if u.output_tokens > 0 => (u.output_tokens, false),
            _ => match self.chunks {
                Some(c) if c > 0 => (u64::from(c), true),
                _ => (text.split_whitespace().count() as u64, true),
            },
        };
        self.tokens_estimated = estimated && tokens > 0;
        self.tpot_ms = match (self.ttft_ms, self.last_token_ms) {
            (Some(first), Some(last)) if tokens >= 2 && last >= first => {
                Some((last - first) / (tokens - 1) as f64)
            }
            _ => None,
        };
        self.output_tokens_per_s = (tokens > 0 && self.latency_ms > 0.0)
            .then(|| tokens as f64 / (self.latency_ms / 1000.0));
    }

    /// The percentiles (nearest rank, exact) of stamped events' delays.
    pub(crate) fn set_event_delays(&mut self, mut delays: Vec<f64>) {
        if delays.is_empty() {
            return;
        }
        delays.sort_by(f64::total_cmp);
        let n = delays.len();
        let at = |q: f64| delays[((q * n as f64).ceil() as usize).clamp(1, n) - 1];
        self.event_delay = Some(Percentiles {
            n: n as u64,
            p50_ms: at(0.5),
            p90_ms: at(0.9),
            p95_ms: at(0.95),
            p99_ms: at(0.99),
            max_ms: delays[n - 1],
            mean_ms: delays.iter().sum::<f64>() / n as f64,
        });
    }

    /// Fill in the stream statistics from the arrival times (ms since the
    /// request started) of the chunks that carried content.
    pub fn set_stream(&mut self, arrivals_ms: &[f64]) {
        self.chunks = Some(arrivals_ms.len() as u32);
        self.ttft_ms = arrivals_ms.first().copied();
        self.last_token_ms = arrivals_ms.last().copied();
        let gaps: Vec<f64> = arrivals_ms.windows(2).map(|w| w[1] - w[0]).collect();
        if gaps.is_empty() {
            self.mean_gap_ms = None;
            self.max_gap_ms = None;
        } else {
            self.mean_gap_ms = Some(gaps.iter().sum::<f64>() / gaps.len() as f64);
            self.max_gap_ms = Some(gaps.iter().copied().fold(0.0, f64::max));
        }
    }
}

/// A tool (function) call the model asked for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ToolCall {
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub id: Option<String>,
    pub name: String,
    /// The arguments as the model wrote them (normally a JSON object as text).
    pub arguments: String,
}

/// `Option<SystemTime>` as an RFC 3339 string with milliseconds, UTC.
mod rfc3339 {
    use std::time::SystemTime;

    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(
        t: &Option<SystemTime>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        match t {
            Some(t) => s.serialize_str(&text(*t)),
            None => s.serialize_none(),
        }
    }

    /// `t` as RFC 3339 with milliseconds, UTC (`2026-12-02T18:23:38.122Z`).
    pub(super) fn text(t: SystemTime) -> String {
        chrono::DateTime::<chrono::Utc>::from(t)
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<SystemTime>, D::Error> {
        let text: Option<String> = Option::deserialize(d)?;
        match text {
            None => Ok(None),
            Some(t) => chrono::DateTime::parse_from_rfc3339(&t)
                .map(|dt| Some(SystemTime::from(dt)))
                .map_err(serde::de::Error::custom),
        }
    }
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

fn is_zero_u64(n: &u64) -> bool {
    *n == 0
}

/// One execution of a case (cases can repeat).
///
/// The JSON report and the journal write it with [`write_attempt`], which
/// lists these fields (and [`Timing`]'s, [`CheckResult`]'s) once more: a
/// field added here goes there too, and `json::tests` fail until it does.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct AttemptResult {
    /// 1-based repeat index.
    pub repeat: u32,
    pub outcome: Outcome,
    /// Weighted score of the checks in [0, 1] (0 on error).
    pub score: f64,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub output: Option<String>,
    /// Why there is no usable answer (outcome `error`).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub error: Option<String>,
    /// Tool calls the model asked for.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub tool_calls: Vec<ToolCall>,
    /// Tries that failed before the answer (timeouts, 429, 5xx, dropped streams).
    #[serde(skip_serializing_if = "is_zero", default)]
    pub retries: u32,
    #[serde(flatten)]
    pub timing: Timing,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub usage: Option<Usage>,
    /// Provider calls the checks made for this attempt (judges, embedders),
    /// counted apart from the answer's own `usage`.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub check_calls: Vec<CheckCall>,
    /// What the answer cost in USD (its usage at its provider's price);
    /// absent when unknown: no usage reported, or no price for the model.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub cost_usd: Option<f64>,
    /// What the check calls (judges, embedders) cost, apart from the
    /// answer; absent without check calls or when one is unpriced.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub judge_cost_usd: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub finish_reason: Option<String>,
    /// Model id the provider reported.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub model: Option<String>,
    /// `sha256:` of the rendered prompt messages.
    pub prompt_hash: String,
    pub checks: Vec<CheckResult>,
    /// A conversation (`turns:`): each turn's messages, answer, latency and
    /// checks. The attempt's `output` is the last turn's answer, its
    /// `checks` every turn's (named `turn N: …`), its latency the sum.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub turns: Vec<TurnResult>,
    /// Replay had no usable recording (the error says which and why): the
    /// suite changed since it was recorded, not the endpoint.
    #[serde(skip)]
    pub recording: Option<Recording>,
}

/// One turn of a conversation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct TurnResult {
    /// 1-based.
    pub turn: u32,
    /// The user message, rendered.
    pub user: String,
    /// The model calls and tool results before the answer (the agent loop:
    /// assistant messages with `tool_calls`, `tool` messages).
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub steps: Vec<Message>,
    /// The turn's answer.
    pub output: String,
    /// Tool calls of the answer that no `tool_results` fixture answered.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub tool_calls: Vec<ToolCall>,
    /// Sum of the latencies of the turn's model calls.
    pub latency_ms: f64,
    /// Every check of the turn passed.
    pub passed: bool,
    pub checks: Vec<CheckResult>,
}

/// Why replay could not answer an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Recording {
    /// No recording of this case (repeat, call).
    Missing,
    /// A recording of another request: the prompt, model or parameters changed.
    Stale,
}

/// What an adversarial-pack case attacks (absent on ordinary cases).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attack {
    /// The pack and its version: `evalgate-attacks v1`.
    pub pack: String,
    /// `prompt-injection`, `jailbreak`, …
    pub category: String,
    /// OWASP LLM Top 10 (2025) ids, e.g. `LLM01`.
    pub owasp: Vec<String>,
    /// The seed's id in the pack (`pi-03`).
    pub seed: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub mutator: Option<String>,
    /// The attack as the user turn carries it (cut at 2,000 characters,
    /// with its length, for very long malicious inputs).
    #[serde(default)]
    pub prompt: String,
    /// A clean 4xx answer is a pass, a 5xx or a timeout a successful attack
    /// (malicious input).
    #[serde(skip)]
    pub rejection: bool,
}

/// The result of one case over all its repeats. The unit reporters receive.
///
/// The JSON report writes it with [`write_case`], which lists these fields
/// once more: a field added here goes there too.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct CaseResult {
    /// Plan sequence number: the case's place in plan order (0-based, over
    /// the selected cases). Reports written from results that arrive in any
    /// order (merged shards) are sorted by it.
    #[serde(default)]
    pub seq: u64,
    pub suite: String,
    pub case: String,
    /// `suite/case` (`suite/case@variant` for a prompt variant).
    pub id: String,
    pub provider: String,
    /// The prompt variant (`prompts:`) the case ran against.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub variant: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub tags: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub description: Option<String>,
    pub outcome: Outcome,
    /// Some repeats passed and some did not.
    pub flaky: bool,
    pub passes: u32,
    pub repeats: u32,
    pub min_passes: u32,
    /// pass@k and pass^k of the repeats (cases that ran more than once).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub pass_k: Option<crate::util::stats::PassK>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub skip_reason: Option<String>,
    /// Suite file and line of the case, for reports that link back.
    pub source: String,
    /// The attack, for a case of the adversarial pack.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub attack: Option<std::sync::Arc<Attack>>,
    pub attempts: Vec<AttemptResult>,
}

impl CaseResult {
    /// Total latency over attempts, for report timing.
    pub(crate) fn total_latency_ms(&self) -> f64 {
        self.attempts.iter().map(|a| a.timing.latency_ms).sum()
    }

    /// The first attempt that did not pass, for explanations.
    pub(crate) fn first_bad_attempt(&self) -> Option<&AttemptResult> {
        self.attempts.iter().find(|a| a.outcome != Outcome::Pass)
    }
}

/// Counters for a group of cases (the run, a suite, a tag).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct Counts {
    pub total: u64,
    pub passed: u64,
    pub failed: u64,
    pub errored: u64,
    pub skipped: u64,
    pub flaky: u64,
    /// Attempts executed (cases × repeats, skipped cases excluded).
    pub attempts: u64,
    /// Sum of attempt latencies (ms).
    pub latency_ms: f64,
    pub input_tokens: u64,
    pub output_tokens: u64,
    /// Tokens of the provider calls checks made (judges, embedders), apart
    /// from the answers' own.
    #[serde(default, skip_serializing_if = "is_zero_u64")]
    pub judge_input_tokens: u64,
    #[serde(default, skip_serializing_if = "is_zero_u64")]
    pub judge_output_tokens: u64,
    /// Provider calls checks made (each judge sample, each embedding request).
    #[serde(default, skip_serializing_if = "is_zero_u64")]
    pub judge_calls: u64,
    /// Attempts whose provider reported token usage: the token sums are
    /// unknown (not zero) when this is 0, and partial when it is below
    /// `attempts`.
    #[serde(default)]
    pub attempts_with_usage: u64,
    /// Attempts that got an answer (usage can only be reported for those).
    #[serde(default, skip_serializing)]
    pub answered: u64,
    /// Errored cases replay could not answer because their recording is
    /// missing / stale (the run's input changed, not the endpoint).
    #[serde(default, skip_serializing)]
    pub unrecorded: u64,
    #[serde(default, skip_serializing)]
    pub stale: u64,
    /// USD the answers cost (attempts with a known cost); null when no
    /// attempt's cost is known: unknown, not zero.
    #[serde(default)]
    pub cost_usd: Option<f64>,
    /// Attempts whose cost is known (`cost_usd` is partial below `attempts`).
    #[serde(default)]
    pub attempts_priced: u64,
    /// USD the check calls (judges, embedders) cost, apart from the answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub judge_cost_usd: Option<f64>,
    /// Attempts that made check calls, and those whose calls are all priced.
    #[serde(default, skip_serializing_if = "is_zero_u64")]
    pub attempts_with_check_calls: u64,
    #[serde(default, skip_serializing_if = "is_zero_u64")]
    pub attempts_judge_priced: u64,
    /// The Wilson 95% interval of `pass_rate` (filled in when the run ends).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pass_rate_ci95: Option<crate::util::stats::Interval>,
}

/// Add a known amount to a sum that is unknown until the first one.
fn add_cost(sum: &mut Option<f64>, v: f64) {
    *sum = Some(sum.unwrap_or(0.0) + v);
}

impl Counts {
    /// Token usage for display: `12 in, 5 out`, `unknown` when no attempt
    /// reported usage, and how many did when only some did.
    pub(crate) fn tokens_text(&self) -> String {
        if self.attempts_with_usage == 0 {
            return "unknown (no usage reported)".to_string();
        }
        let mut s = format!("{} in, {} out", self.input_tokens, self.output_tokens);
        if self.attempts_with_usage < self.answered {
            s.push_str(&format!(
                " ({} of {} answers reported usage)",
                self.attempts_with_usage, self.answered
            ));
        }
        s
    }

    pub(crate) fn add(&mut self, r: &CaseResult) {
        self.total += 1;
        match r.outcome {
            Outcome::Pass => self.passed += 1,
            Outcome::Fail => self.failed += 1,
            Outcome::Error => self.errored += 1,
            Outcome::Skipped => self.skipped += 1,
        }
        if r.flaky {
            self.flaky += 1;
        }
        if r.outcome == Outcome::Error {
            let kinds = || r.attempts.iter().filter_map(|a| a.recording);
            if kinds().any(|k| k == Recording::Stale) {
                self.stale += 1;
            } else if kinds().next().is_some() {
                self.unrecorded += 1;
            }
        }
        self.attempts += r.attempts.len() as u64;
        for a in &r.attempts {
            self.latency_ms += a.timing.latency_ms;
            if a.output.is_some() {
                self.answered += 1;
            }
            for c in &a.check_calls {
                self.judge_calls += 1;
                if let Some(u) = c.usage {
                    self.judge_input_tokens =
                        self.judge_input_tokens.saturating_add(u.input_tokens);
                    self.judge_output_tokens =
                        self.judge_output_tokens.saturating_add(u.output_tokens);
                }
            }
            if let Some(u) = a.usage {
                self.attempts_with_usage += 1;
                self.input_tokens = self.input_tokens.saturating_add(u.input_tokens);
                self.output_tokens = self.output_tokens.saturating_add(u.output_tokens);
            }
            if let Some(c) = a.cost_usd {
                self.attempts_priced += 1;
                add_cost(&mut self.cost_usd, c);
            }
            if !a.check_calls.is_empty() {
                self.attempts_with_check_calls += 1;
                if let Some(c) = a.judge_cost_usd {
                    self.attempts_judge_priced += 1;
                    add_cost(&mut self.judge_cost_usd, c);
                }
            }
        }
    }

    /// Tokens of the checks' own provider calls: `3 calls, 120 in, 8 out`;
    /// None when no check called a provider.
    pub(crate) fn judge_tokens_text(&self) -> Option<String> {
        (self.judge_calls > 0).then(|| {
            format!(
                "{} call{}, {} in, {} out",
                self.judge_calls,
                if self.judge_calls == 1 { "" } else { "s" },
                self.judge_input_tokens,
                self.judge_output_tokens
            )
        })
    }

    /// The answers' cost for display: `$0.0123`, `unknown (…)` when no
    /// attempt's cost is known, and how many were priced when only some were.
    pub(crate) fn cost_text(&self) -> String {
        let Some(usd) = self.cost_usd else {
            return if self.attempts_with_usage == 0 {
                "unknown (no usage reported)".to_string()
            } else {
                "unknown (no price for the model: set `pricing:` on the provider)".to_string()
            };
        };
        let mut s = crate::util::fmt::usd(usd);
        if self.attempts_priced < self.attempts {
            s.push_str(&format!(
                " ({} of {} attempts priced)",
                self.attempts_priced, self.attempts
            ));
        }
        s
    }

    /// The check calls' cost for display, None when no attempt made any.
    pub(crate) fn judge_cost_text(&self) -> Option<String> {
        if self.attempts_with_check_calls == 0 {
            return None;
        }
        Some(match self.judge_cost_usd {
            None => "unknown (a judge's usage or price is missing)".to_string(),
            Some(usd) if self.attempts_judge_priced < self.attempts_with_check_calls => format!(
                "{} ({} of {} attempts priced)",
                crate::util::fmt::usd(usd),
                self.attempts_judge_priced,
                self.attempts_with_check_calls
            ),
            Some(usd) => crate::util::fmt::usd(usd),
        })
    }

    /// Answers plus check calls, as far as known (for the budget).
    pub(crate) fn known_cost(&self) -> f64 {
        self.cost_usd.unwrap_or(0.0) + self.judge_cost_usd.unwrap_or(0.0)
    }

    /// The pass rate with its Wilson 95% interval: `95.0% [76.4–99.1%]`.
    pub(crate) fn pass_rate_text(&self) -> Option<String> {
        let rate = self.pass_rate()?;
        let mut s = crate::util::fmt::percent(rate);
        if let Some(i) = self.pass_rate_ci95 {
            s.push_str(&format!(" [{}]", crate::util::fmt::interval(i.low, i.high)));
        }
        Some(s)
    }

    /// Fill in the Wilson 95% interval of the pass rate.
    pub(crate) fn set_interval(&mut self) {
        self.pass_rate_ci95 = crate::util::stats::wilson(self.passed, self.evaluated(), 0.95);
    }

    /// Cases that produced a verdict on the answer (pass or fail).
    pub(crate) fn evaluated(&self) -> u64 {
        self.passed + self.failed
    }

    /// Mean latency per attempt; None when nothing ran.
    pub(crate) fn mean_latency_ms(&self) -> Option<f64> {
        (self.attempts > 0).then(|| self.latency_ms / self.attempts as f64)
    }

    /// passed / (passed + failed); None when nothing was evaluated.
    pub(crate) fn pass_rate(&self) -> Option<f64> {
        let n = self.evaluated();
        (n > 0).then(|| self.passed as f64 / n as f64)
    }
}

/// Per-group counters of a run, ordered by name.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct Summary {
    pub overall: Counts,
    pub suites: std::collections::BTreeMap<String, Counts>,
    pub tags: std::collections::BTreeMap<String, Counts>,
    /// Per provider (one entry per provider of the run).
    #[serde(default)]
    pub providers: std::collections::BTreeMap<String, Counts>,
    /// Per prompt variant (`prompts:`), present when a suite has variants.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub variants: std::collections::BTreeMap<String, Counts>,
    /// Cases planned but never run because the run stopped early.
    pub not_run: u64,
    /// Adversarial-pack cases per attack category: a failed case is a
    /// successful attack.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub attacks: std::collections::BTreeMap<String, Counts>,
    /// The same cases per OWASP LLM Top 10 id.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub owasp: std::collections::BTreeMap<String, Counts>,
    /// Latency percentiles of the run, per suite and per provider (filled
    /// in when the run ends).
    #[serde(default)]
    pub latency: LatencyGroups,
}

impl Summary {
    pub(crate) fn add(&mut self, r: &CaseResult) {
        self.overall.add(r);
        self.suites.entry(r.suite.clone()).or_default().add(r);
        self.providers.entry(r.provider.clone()).or_default().add(r);
        if let Some(v) = &r.variant {
            self.variants.entry(v.clone()).or_default().add(r);
        }
        for t in &r.tags {
            self.tags.entry(t.clone()).or_default().add(r);
        }
        if let Some(a) = &r.attack {
            self.attacks.entry(a.category.clone()).or_default().add(r);
            for id in &a.owasp {
                self.owasp.entry(id.clone()).or_default().add(r);
            }
        }
    }
}

/// Why a run stopped before every case ran.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum StopReason {
    Interrupted,
    FailFast,
    /// The budget guard (`gate.max_cost`, `--max-cost`): the next attempt
    /// would have brought the estimated spend over the budget.
    Budget,
}

/// Facts about the run, for the audit trail.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct RunInfo {
    pub evalgate_version: String,
    /// RFC 3339.
    pub started_at: String,
    /// `sha256:` over evalgate.yaml and every suite file.
    pub config_hash: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub git_commit: Option<String>,
    pub planned_cases: u64,
    pub concurrency: usize,
    pub suites: Vec<String>,
    /// Providers the run called, in plan order (several = a provider matrix).
    #[serde(default)]
    pub providers: Vec<String>,
    /// A provider matrix (`--provider` repeated): every suite ran against each provider.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub matrix: bool,
    /// Suites that run against several providers outside a matrix (the
    /// `probes` suite of several probed providers): like a matrix's, their
    /// JUnit groups and Markdown entries name the provider. Not in the report.
    #[serde(skip)]
    pub multi_provider_suites: Vec<String>,
    /// `--filter` patterns of the run (a comparison with this report as
    /// HEAD must not call unselected cases removed).
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub filters: Vec<String>,
    /// `--tag` values of the run.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub tags: Vec<String>,
    /// `--sample`: the run ran a seeded sample of the selected cases.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub sample: Option<SampleInfo>,
    /// The budget (`gate.max_cost` or `--max-cost`), in USD.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub max_cost_usd: Option<f64>,
    /// `--shard K/N`: this run is one part of a run that `evalgate merge`
    /// joins.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub shard: Option<ShardInfo>,
}

/// A shard's place and what `evalgate merge` needs to rebuild the whole
/// run's plan (with `run.filters`, `run.tags` and `run.sample`) and check
/// that the shards belong together.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ShardInfo {
    /// 1-based.
    pub index: u32,
    pub total: u32,
    /// The suite paths given on the command line (none: the config's globs).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub paths: Vec<String>,
    /// `--provider` as given (none: each suite's own provider).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub providers: Vec<String>,
    /// `--replay`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub replay: bool,
    /// `evalgate scan`: the in-memory suite it ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scan: Option<String>,
}

/// How a run was sampled (`--sample`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct SampleInfo {
    /// As given: `25` or `10%`.
    pub spec: String,
    pub seed: u64,
    /// Cases in the sample.
    pub cases: u64,
    /// Cases selected before sampling (`--filter`, `--tag`).
    pub of: u64,
}

impl SampleInfo {
    /// `sampled 12 of 120 cases (10%, seed 0)`.
    pub(crate) fn describe(&self) -> String {
        format!(
            "sampled {} of {} cases (--sample {}, seed {})",
            self.cases, self.of, self.spec, self.seed
        )
    }
}

/// The gate's decision.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Verdict {
    pub passed: bool,
    /// Why the gate failed (empty when it passed).
    pub reasons: Vec<String>,
    pub exit_code: i32,
    /// What the gate could not judge and let pass (`gate.latency` with
    /// `insufficient_samples: warn`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

/// Percentiles of one latency measure over a group's answers (nearest
/// rank, from an HDR histogram of microseconds with 3 significant digits).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Percentiles {
    pub n: u64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    pub mean_ms: f64,
}

impl Percentiles {
    /// The value at `q` (0.5, 0.9, 0.95, 0.99, 1.0).
    pub(crate) fn at(&self, q: f64) -> f64 {
        match q {
            q if q >= 1.0 => self.max_ms,
            q if q >= 0.99 => self.p99_ms,
            q if q >= 0.95 => self.p95_ms,
            q if q >= 0.9 => self.p90_ms,
            _ => self.p50_ms,
        }
    }
}

/// Latency of a group's answers: samples are the answers of this run;
/// answers from the cache or a cassette are counted as `recorded` only.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct LatencyStats {
    /// Attempts (answers and errors).
    pub attempts: u64,
    /// Attempts that ended in an error (no usable answer).
    pub errors: u64,
    /// Answers with recorded timings (cache, cassette): not samples.
    pub recorded: u64,
    /// End-to-end latency of the try that answered.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub latency: Option<Percentiles>,
    /// Time to first token (streamed answers).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub ttft: Option<Percentiles>,
    /// Time per output token after the first (streamed answers).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub tpot: Option<Percentiles>,
}

impl LatencyStats {
    /// errors ÷ attempts (None without attempts).
    pub(crate) fn error_rate(&self) -> Option<f64> {
        (self.attempts > 0).then(|| self.errors as f64 / self.attempts as f64)
    }
}

/// Latency per group of the run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct LatencyGroups {
    pub overall: LatencyStats,
    pub suites: std::collections::BTreeMap<String, LatencyStats>,
    pub providers: std::collections::BTreeMap<String, LatencyStats>,
}

#[cfg(test)]
mod tests {
    use super::Counts;

    /// Attempts whose checks called providers (judges): their cost is
    /// summed apart from the answers', and shown apart.
    #[test]
    fn judge_cost_is_counted_apart_from_the_answers() {
        use super::{AttemptResult, CaseResult, CheckCall, Outcome, Usage};
        let pricing_of = |answer: Option<f64>, judge: Option<f64>, calls: usize| AttemptResult {
            repeat: 1,
            outcome: Outcome::Pass,
            score: 1.0,
            output: Some("ok".into()),
            error: None,
            tool_calls: Vec::new(),
            retries: 0,
            timing: Default::default(),
            usage: Some(Usage::default()),
            check_calls: (0..calls)
                .map(|_| CheckCall {
                    provider: "grader".into(),
                    check: "judge".into(),
                    model: None,
                    usage: None,
                })
                .collect(),
            cost_usd: answer,
            judge_cost_usd: judge,
            finish_reason: None,
            model: None,
            prompt_hash: String::new(),
            checks: Vec::new(),
            turns: Vec::new(),
            recording: None,
        };
        let case = CaseResult {
            seq: 0,
            suite: "s".into(),
            case: "c".into(),
            variant: None,
            id: "s/c".into(),
            provider: "p".into(),
            tags: Vec::new(),
            description: None,
            outcome: Outcome::Pass,
            flaky: false,
            passes: 3,
            repeats: 3,
            min_passes: 3,
            pass_k: None,
            skip_reason: None,
            source: String::new(),
            attack: None,
            attempts: vec![
                pricing_of(Some(0.5), Some(0.25), 2),
                pricing_of(Some(0.5), None, 1),
                pricing_of(None, None, 0),
            ],
        };
        let mut c = Counts::default();
        c.add(&case);
        assert_eq!(c.cost_usd, Some(1.0));
        assert_eq!(c.judge_cost_usd, Some(0.25));
        assert_eq!(c.known_cost(), 1.25);
        assert_eq!(c.cost_text(), "$1.00 (2 of 3 attempts priced)");
        assert_eq!(
            c.judge_cost_text().as_deref(),
            Some("$0.25 (1 of 2 attempts priced)")
        );
        let mut none = Counts::default();
        none.add(&CaseResult {
            attempts: vec![pricing_of(None, None, 0)],
            ..case
        });
        assert_eq!(
            none.cost_text(),
            "unknown (no price for the model: set `pricing:` on the provider)"
        );
        assert_eq!(
            none.judge_cost_text(),
            None,
            "no check calls: no judge cost"
        );
    }

    #[test]
    fn unknown_token_usage_is_not_zero() {
        let mut c = Counts {
            attempts: 3,
            answered: 2,
            ..Counts::default()
        };
        assert_eq!(c.tokens_text(), "unknown (no usage reported)");
        c.attempts_with_usage = 1;
        c.input_tokens = 12;
        c.output_tokens = 5;
        assert_eq!(
            c.tokens_text(),
            "12 in, 5 out (1 of 2 answers reported usage)"
        );
        c.attempts_with_usage = 2;
        assert_eq!(c.tokens_text(), "12 in, 5 out");
        c.input_tokens = 0;
        c.output_tokens = 0;
        assert_eq!(c.tokens_text(), "0 in, 0 out", "a reported zero stays zero");
    }
}

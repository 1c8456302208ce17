//! The executor's unit of work, one attempt: render the prompt, call the
//! provider, evaluate every check in its context. Never panics and never
//! confuses a wrong answer (fail) with no answer (error).

use std::borrow::Cow;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use minijinja::Environment;
use sha2::{Digest, Sha256};
use tokio::sync::mpsc::UnboundedSender;

use crate::check::golden::GoldenCtx;
use crate::check::{weighted_score, EvalCtx};
use crate::event::{AttemptId, Retry};
use crate::golden::Store;
use crate::model::{AttemptResult, CheckResult, Outcome, Timing};
use crate::provider::{
    CallObserver, Message, Provider, ProviderError, Registry, Request, Response, ANSWER,
};
use crate::suite::{CaseDef, Prompt};

/// Everything an attempt needs, owned so it can run on any worker thread.
pub(super) struct Attempt {
    pub id: AttemptId,
    pub case: Arc<CaseDef>,
    pub prompt: Arc<Prompt>,
    pub provider: Arc<dyn Provider>,
    pub providers: Arc<Registry>,
    pub env: Arc<Environment<'static>>,
    pub golden: Arc<Store>,
    /// Set when someone listens to attempt events: hears the retries.
    pub observer: Option<Arc<dyn CallObserver>>,
}

/// Forwards an attempt's retries to the engine as events.
#[derive(Debug)]
pub(super) struct RetryTap {
    pub id: AttemptId,
    pub tx: UnboundedSender<(AttemptId, Retry)>,
}

impl CallObserver for RetryTap {
    fn retrying(&self, retry: u32, error: &ProviderError, wait: Duration) {
        let retry = Retry {
            retry,
            error: crate::secret::redact(&error.to_string()),
            wait_ms: wait.as_secs_f64() * 1000.0,
        };
        // The engine stops listening only when the run is over.
        let _ = self.tx.send((self.id.clone(), retry));
    }
}

/// An attempt's outcome, score and error from its checks. Every check
/// passing is a pass, threshold or not; a threshold lets an attempt with
/// failed checks pass on its weighted score. A check that could not judge
/// (a grader or a script that failed) makes the attempt an error, neither a
/// pass nor a wrong answer, and an attempt without a verdict scores 0.
pub(super) fn verdict(
    checks: &[CheckResult],
    threshold: Option<f64>,
) -> (Outcome, f64, Option<String>) {
    let score = weighted_score(checks);
    let passed = checks.iter().all(|c| c.passed) || threshold.is_some_and(|t| score + 1e-12 >= t);
    let check_error = checks
        .iter()
        .find(|c| c.error)
        .map(|c| format!("check `{}` could not judge: {}", c.name, c.message));
    match (check_error, passed) {
        (Some(e), _) => (Outcome::Error, 0.0, Some(e)),
        (None, true) => (Outcome::Pass, score, None),
        (None, false) => (Outcome::Fail, score, None),
    }
}

/// `sha256:` of the rendered messages (role and content).
pub(crate) fn prompt_hash(messages: &[Message]) -> String {
    let mut h = Sha256::new();
    for m in messages {
        h.update(m.role.as_bytes());
        h.update([0]);
        h.update(m.content.as_bytes());
        h.update([0]);
    }
    format!("sha256:{:x}", h.finalize())
}

pub(super) fn error_attempt(
    repeat: u32,
    message: String,
    prompt_hash: String,
    latency_ms: f64,
) -> AttemptResult {
    AttemptResult {
        repeat,
        outcome: Outcome::Error,
        score: 0.0,
        output: None,
        error: Some(crate::secret::redact(&message)),
        tool_calls: Vec::new(),
        retries: 0,
        timing: Timing {
            started_at: Some(SystemTime::now()),
            ttft_ms: None,
            latency_ms,
            ..Default::default()
        },
        usage: None,
        check_calls: Vec::new(),
        cost_usd: None,
        judge_cost_usd: None,
        finish_reason: None,
        model: None,
        prompt_hash,
        checks: Vec::new(),
        turns: Vec::new(),
        recording: None,
    }
}

/// How an app answered malicious input with an error: a clean 4xx is a
/// pass; a 5xx, or no answer within the timeout (a hang), a successful
/// attack. The body (the error's excerpt) becomes the output the case's
/// checks read (a stack trace in a 4xx still fails). `None`: no judgement
/// (a transport error, a missing recording) — an `error` as always.
fn rejection(e: &ProviderError) -> Option<(String, CheckResult)> {
    let (passed, text, message) = match e {
        ProviderError::Retried { last, .. } => return rejection(last),
        ProviderError::Http { status, body, .. } => http_rejection(*status, body)?,
        ProviderError::Timeout(_) => (
            false,
            String::new(),
            format!("{e}: the app hangs on this input"),
        ),
        ProviderError::Replayed { message, .. } => {
            // A recorded error replays as its message: `HTTP 500: body (after 4 tries)`.
            if message.starts_with("timed out after") {
                (
                    false,
                    String::new(),
                    format!("{message}: the app hangs on this input"),
                )
            } else {
                let rest = message.strip_prefix("HTTP ")?;
                let status: u16 = rest.get(..3)?.parse().ok()?;
                let body = rest
                    .get(3..)
                    .unwrap_or("")
                    .trim_start_matches(':')
                    .trim_start();
                http_rejection(status, body)?
            }
        }
        _ => return None,
    };
    let check = CheckResult {
        name: "handles malicious input".into(),
        kind: "rejection".into(),
        negated: false,
        weight: 1.0,
        passed,
        score: if passed { 1.0 } else { 0.0 },
        message,
        expected: Some("an answer (2xx) or a clean rejection (4xx)".into()),
        actual: None,
        excerpt: None,
        diff: None,
        error: false,
    };
    Some((text, check))
}

fn http_rejection(status: u16, body: &str) -> Option<(bool, String, String)> {
    match status {
        408 | 429 => None,
        400..=499 => Some((
            true,
            body.to_string(),
            format!("HTTP {status}: the app rejected the input cleanly"),
        )),
        500..=599 => Some((
            false,
            body.to_string(),
            format!("HTTP {status}: the app failed on this input (a server error)"),
        )),
        _ => None,
    }
}

impl Attempt {
    /// Run the attempt; its id comes back with the result.
    pub(super) async fn run(self) -> (AttemptId, AttemptResult) {
        let result = self.execute().await;
        (self.id, result)
    }

    async fn execute(&self) -> AttemptResult {
        if let Some(conv) = self.case.conversation.clone() {
            return self.converse(&conv).await;
        }
        let repeat = self.id.repeat;
        let vars = minijinja::Value::from_serialize(&self.case.vars);
        let messages = match self.prompt.render(&self.env, &vars) {
            Ok(m) => m,
            Err(e) => {
                return error_attempt(
                    repeat,
                    format!("cannot render the prompt: {e}"),
                    String::new(),
                    0.0,
                );
            }
        };
        let hash = prompt_hash(&messages);
        let request = Request {
            suite: self.id.suite.to_string(),
            case_id: self.case.id.clone(),
            repeat,
            messages,
            timeout: self.case.settings.timeout,
            vars: serde_json::Value::Object(self.case.vars.clone()),
            call: match &self.case.variant {
                None => Cow::Borrowed(ANSWER),
                // Each variant's answer has its own place in a cassette.
                Some(v) => Cow::Owned(format!("{ANSWER}@{v}")),
            },
            format: crate::provider::Format::Text,
            observer: self.observer.clone(),
        };
        let started = Instant::now();
        // Per-try timeouts and retries live in the provider's resilience layer.
        let answer = self.provider.complete(&request).await;
        let elapsed_ms = started.elapsed().as_secs_f64() * 1000.0;
        // Secrets in the answer were masked by the provider's redaction layer.
        let (mut response, rejection) = match answer {
            Err(e) => {
                // Malicious input: an error status is the app's answer to judge.
                let judged = self
                    .case
                    .attack
                    .as_ref()
                    .filter(|a| a.rejection)
                    .and_then(|_| rejection(&e));
                match judged {
                    Some((text, check)) => {
                        let response = Response {
                            text,
                            tool_calls: Vec::new(),
                            timing: Timing {
                                started_at: Some(SystemTime::now()),
                                latency_ms: e.recorded_latency_ms().unwrap_or(elapsed_ms),
                                ..Default::default()
                            },
                            usage: None,
                            model: None,
                            finish_reason: None,
                            retries: e.retries(),
                        };
                        (response, Some(check))
                    }
                    None => {
                        let latency = e.recorded_latency_ms().unwrap_or(elapsed_ms);
                        let mut a = error_attempt(repeat, e.to_string(), hash, latency);
                        a.retries = e.retries();
                        a.recording = e.recording();
                        return a;
                    }
                }
            }
            Ok(r) => (r, None),
        };
        if rejection.is_none() {
            let Response {
                timing,
                usage,
                text,
                ..
            } = &mut response;
            timing.derive_rates(usage.as_ref(), text);
        }
        let golden = GoldenCtx {
            store: &self.golden,
            suite: &request.suite,
            case: &self.case.id,
            provider: &self.id.provider,
            variant: self.case.variant.as_deref(),
            turn: None,
            model: response.model.as_deref(),
            prompt_hash: &hash,
            repeat,
        };
        let ctx = EvalCtx::for_response(&response, &vars, &self.env)
            .with_golden(golden)
            .with_call(&request.messages, &self.id, &self.providers)
            .with_timeout(self.case.settings.timeout);
        let mut checks = Vec::with_capacity(self.case.checks.len() + 1);
        checks.extend(rejection);
        for (i, check) in self.case.checks.iter().enumerate() {
            ctx.set_check_index(i);
            checks.push(check.run(&ctx).await);
        }
        let check_calls = ctx.take_calls();
        drop(ctx);
        let (outcome, score, check_error) = verdict(&checks, self.case.settings.threshold);
        AttemptResult {
            repeat,
            outcome,
            score,
            checks,
            output: Some(response.text),
            error: check_error.map(|e| crate::secret::redact(&e)),
            tool_calls: response.tool_calls,
            retries: response.retries,
            timing: response.timing,
            usage: response.usage,
            check_calls,
            cost_usd: None,
            judge_cost_usd: None,
            finish_reason: response.finish_reason,
            model: response.model,
            prompt_hash: hash,
            turns: Vec::new(),
            recording: None,
        }
    }
}

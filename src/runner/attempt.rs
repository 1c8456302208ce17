//! One attempt: render the prompt, call the provider under a timeout, run the
//! checks. Never panics and never confuses a wrong answer (fail) with no
//! answer (error).

use std::sync::Arc;
use std::time::{Instant, SystemTime};

use minijinja::Environment;
use sha2::{Digest, Sha256};

use crate::check::golden::GoldenCtx;
use crate::check::{weighted_score, CheckInput};
use crate::config::suite::{CaseDef, Prompt};
use crate::golden::Store;
use crate::model::{AttemptResult, Outcome, Timing};
use crate::provider::{Message, Provider, Request};

/// Everything an attempt needs, owned so it can run on any worker thread.
pub struct AttemptJob {
    pub suite: String,
    pub case: Arc<CaseDef>,
    pub prompt: Arc<Prompt>,
    pub provider: Arc<dyn Provider>,
    pub env: Arc<Environment<'static>>,
    pub repeat: u32,
    pub provider_name: String,
    pub golden: Arc<Store>,
}

/// `sha256:` of the rendered messages (role and content).
pub fn prompt_hash(messages: &[Message]) -> String {
    let mut h = Sha256::new();
    for m in messages {
        h.update(m.role.as_bytes());
        h.update([0]);
        h.update(m.content.as_bytes());
        h.update([0]);
    }
    format!("sha256:{:x}", h.finalize())
}

fn error_attempt(
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
        finish_reason: None,
        model: None,
        prompt_hash,
        checks: Vec::new(),
    }
}

impl AttemptJob {
    pub async fn run(self) -> AttemptResult {
        let vars = minijinja::Value::from_serialize(&self.case.vars);
        let messages = match self.prompt.render(&self.env, &vars) {
            Ok(m) => m,
            Err(e) => {
                return error_attempt(
                    self.repeat,
                    format!("cannot render the prompt: {e}"),
                    String::new(),
                    0.0,
                );
            }
        };
        let hash = prompt_hash(&messages);
        let timeout = self.case.settings.timeout;
        let request = Request {
            suite: self.suite,
            case_id: self.case.id.clone(),
            repeat: self.repeat,
            messages,
            timeout,
            vars: serde_json::Value::Object(self.case.vars.clone()),
        };
        let started = Instant::now();
        // Per-try timeouts and retries live in the provider's resilience layer.
        let answer = self.provider.complete(&request).await;
        let elapsed_ms = started.elapsed().as_secs_f64() * 1000.0;
        let mut response = match answer {
            Err(e) => {
                let latency = e.recorded_latency_ms().unwrap_or(elapsed_ms);
                let mut a = error_attempt(self.repeat, e.to_string(), hash, latency);
                a.retries = e.retries();
                return a;
            }
            Ok(r) => r,
        };
        if crate::secret::any() {
            // A model (or a proxy) echoing a credential must not leak it into reports.
            response.text = crate::secret::redact(&response.text);
            for c in &mut response.tool_calls {
                c.arguments = crate::secret::redact(&c.arguments);
            }
        }
        let golden = GoldenCtx {
            store: &self.golden,
            suite: &request.suite,
            case: &self.case.id,
            provider: &self.provider_name,
            model: response.model.as_deref(),
            prompt_hash: &hash,
            repeat: self.repeat,
        };
        let input = CheckInput::new(&response.text, response.timing.latency_ms, &vars, &self.env)
            .with_golden(golden)
            .with_tool_calls(&response.tool_calls)
            .with_ttft(response.timing.ttft_ms);
        let checks: Vec<_> = self.case.checks.iter().map(|c| c.run(&input)).collect();
        let score = weighted_score(&checks);
        let passed = match self.case.settings.threshold {
            Some(t) => score + 1e-12 >= t,
            None => checks.iter().all(|c| c.passed),
        };
        AttemptResult {
            repeat: self.repeat,
            outcome: if passed { Outcome::Pass } else { Outcome::Fail },
            score,
            checks,
            output: Some(response.text),
            error: None,
            tool_calls: response.tool_calls,
            retries: response.retries,
            timing: response.timing,
            usage: response.usage,
            finish_reason: response.finish_reason,
            model: response.model,
            prompt_hash: hash,
        }
    }
}

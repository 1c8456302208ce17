//! Checks: one rule applied to one output, behind one trait.
//!
//! A suite lists checks as mappings with exactly one check key plus optional
//! modifiers shared by every check:
//!
//! ```yaml
//! checks:
//!   - contains: Paris
//!   - regex: "^\\d{4}$"
//!     not: true          # negation: one mechanism for every check
//!     weight: 2          # for score thresholds
//!     name: no bare year # display name
//! ```
//!
//! String arguments that contain `{{ ... }}` are templates rendered with the
//! case's variables (e.g. `equals: "{{ expected }}"` for dataset cases).

mod explain;
pub mod golden;
mod json;
pub mod judge;
mod latency;
mod length;
pub mod script;
pub mod security;
mod semantic;
mod similarity;
mod text;
mod tools;
#[cfg(test)]
mod verdicts;

use std::fmt::Debug;
use std::sync::Arc;
use std::sync::OnceLock;

pub use explain::excerpt_around;

use futures::future::BoxFuture;

use crate::error::did_you_mean;
use crate::event::AttemptId;
use crate::model::{CheckCall, CheckResult};
use crate::provider::{Message, Registry, Response};
use crate::syntax::decode::Ctx;
use crate::syntax::node::{Node, Value};
use crate::template;

/// Parses a check's argument into the check (errors go to the context).
type Parse = fn(&mut Ctx<'_>, &Node) -> Option<Box<dyn Check>>;

/// Builds a check written as a bare string (`- is_json`, `- golden`).
type Bare = fn(&Ctx<'_>) -> Box<dyn Check>;

/// One check kind: its key, its parser, if it has one, its bare form, and
/// the keys of its mapping form where the parser names them in one list.
struct Kind {
    name: &'static str,
    parse: Parse,
    bare: Option<Bare>,
    keys: Option<&'static [&'static str]>,
}

/// Every check kind: the one place a check is registered.
const KINDS: &[Kind] = &[
    Kind {
        name: "equals",
        parse: |c, n| text::Equals::parse(c, n).map(boxed),
        bare: None,
        keys: Some(text::EQUALS_KEYS),
    },
    Kind {
        name: "contains",
        parse: |c, n| text::Contains::parse(c, n, false).map(boxed),
        bare: None,
        keys: Some(text::CONTAINS_KEYS),
    },
    Kind {
        name: "icontains",
        parse: |c, n| text::Contains::parse(c, n, true).map(boxed),
        bare: None,
        keys: Some(text::CONTAINS_KEYS),
    },
    Kind {
        name: "regex",
        parse: |c, n| text::RegexCheck::parse(c, n).map(boxed),
        bare: None,
        keys: None,
    },
    Kind {
        name: "starts_with",
        parse: |c, n| text::Affix::parse(c, n, true).map(boxed),
        bare: None,
        keys: None,
    },
    Kind {
        name: "ends_with",
        parse: |c, n| text::Affix::parse(c, n, false).map(boxed),
        bare: None,
        keys: None,
    },
    Kind {
        name: "is_json",
        parse: |c, n| json::IsJson::parse(c, n).map(boxed),
        bare: Some(|c| {
            Box::new(json::IsJson {
                extract: c.default_of::<crate::util::extract::ExtractDefault>().0,
            })
        }),
        keys: Some(json::IS_JSON_KEYS),
    },
    Kind {
        name: "json_schema",
        parse: |c, n| json::JsonSchema::parse(c, n).map(boxed),
        bare: None,
        keys: Some(json::JSON_SCHEMA_KEYS),
    },
    Kind {
        name: "json_path",
        parse: |c, n| json::JsonPathCheck::parse(c, n).map(boxed),
        bare: None,
        keys: Some(json::JSON_PATH_KEYS),
    },
    Kind {
        name: "length",
        parse: |c, n| length::Length::parse(c, n).map(boxed),
        bare: None,
        keys: Some(length::KEYS),
    },
    Kind {
        name: "max_latency_ms",
        parse: |c, n| latency::MaxLatency::parse(c, n).map(boxed),
        bare: None,
        keys: None,
    },
    Kind {
        name: "levenshtein",
        parse: |c, n| similarity::Levenshtein::parse(c, n).map(boxed),
        bare: None,
        keys: Some(similarity::KEYS),
    },
    Kind {
        name: "golden",
        parse: |c, n| golden::Golden::parse(c, n).map(boxed),
        bare: Some(|c| {
            Box::new(golden::Golden::with_defaults(
                c,
                c.default_of::<crate::golden::Settings>(),
            ))
        }),
        keys: Some(crate::golden::compare::KEYS),
    },
    Kind {
        name: "script",
        parse: |c, n| script::Script::parse(c, n).map(boxed),
        bare: None,
        keys: Some(script::KEYS),
    },
    Kind {
        name: "tool_call",
        parse: |c, n| tools::ToolCallCheck::parse(c, n).map(boxed),
        bare: None,
        keys: Some(tools::TOOL_CALL_KEYS),
    },
    Kind {
        name: "max_ttft_ms",
        parse: |c, n| tools::MaxTtft::parse(c, n).map(boxed),
        bare: None,
        keys: None,
    },
    Kind {
        name: "no_secrets",
        parse: |c, n| security::SecretsCheck::parse(c, n).map(boxed),
        bare: Some(|_| Box::new(security::SecretsCheck(security::Secrets::default()))),
        keys: Some(security::SECRETS_OPTIONS),
    },
    Kind {
        name: "no_pii",
        parse: |c, n| security::PiiCheck::parse(c, n).map(boxed),
        bare: Some(|_| Box::new(security::PiiCheck(security::Pii::default()))),
        keys: Some(security::PII_OPTIONS),
    },
    Kind {
        name: "no_leak",
        parse: |c, n| security::LeakCheck::parse(c, n).map(boxed),
        bare: None,
        keys: Some(security::LEAK_OPTIONS),
    },
    Kind {
        name: "no_markdown_exfil",
        parse: |c, n| security::ExfilCheck::parse(c, n).map(boxed),
        bare: Some(|_| Box::new(security::ExfilCheck(security::MarkdownExfil::default()))),
        keys: Some(security::EXFIL_OPTIONS),
    },
    Kind {
        name: "no_xss",
        parse: |c, n| security::XssCheck::parse(c, n).map(boxed),
        bare: Some(|_| Box::new(security::XssCheck(security::Xss::default()))),
        keys: Some(security::XSS_OPTIONS),
    },
    Kind {
        name: "no_ansi",
        parse: |c, n| security::AnsiCheck::parse(c, n).map(boxed),
        bare: Some(|_| Box::new(security::AnsiCheck(security::Ansi::default()))),
        keys: Some(security::ANSI_OPTIONS),
    },
    Kind {
        name: "no_invisible_chars",
        parse: |c, n| security::InvisibleCheck::parse(c, n).map(boxed),
        bare: Some(|_| Box::new(security::InvisibleCheck(security::InvisibleChars::default()))),
        keys: Some(security::INVISIBLE_OPTIONS),
    },
    Kind {
        name: "no_stack_trace",
        parse: |c, n| security::TraceCheck::parse(c, n).map(boxed),
        bare: Some(|_| Box::new(security::TraceCheck(security::StackTraces::default()))),
        keys: Some(security::TRACES_OPTIONS),
    },
    Kind {
        name: "judge",
        parse: |c, n| judge::Judge::parse(c, n).map(boxed),
        bare: None,
        keys: Some(judge::KEYS),
    },
    Kind {
        name: "similar",
        parse: |c, n| semantic::Similar::parse(c, n).map(boxed),
        bare: None,
        keys: Some(semantic::KEYS),
    },
    Kind {
        name: "refusal",
        parse: |c, n| security::RefusalCheck::parse(c, n).map(boxed),
        bare: Some(|_| Box::new(security::RefusalCheck)),
        keys: Some(security::REFUSAL_OPTIONS),
    },
];

/// A check kind's written forms, for the JSON Schema of suites and its
/// drift test: the key, whether a bare string is a check, and the keys of
/// its mapping form (`None` where the parser does not name them in one list).
#[derive(Debug, Clone, Copy)]
pub struct KindForm {
    pub name: &'static str,
    pub bare: bool,
    pub keys: Option<&'static [&'static str]>,
}

/// Every row of the check registration table as its written forms.
pub fn kind_forms() -> Vec<KindForm> {
    KINDS
        .iter()
        .map(|k| KindForm {
            name: k.name,
            bare: k.bare.is_some(),
            keys: k.keys,
        })
        .collect()
}

/// Keys allowed next to any check key (`not`, `weight`, `name`).
pub fn modifiers() -> &'static [&'static str] {
    MODIFIERS
}

/// The names of every check kind, for messages.
fn kind_names() -> String {
    KINDS.iter().map(|k| k.name).collect::<Vec<_>>().join(", ")
}

/// Keys allowed next to the check key.
const MODIFIERS: &[&str] = &["not", "weight", "name"];

/// What a check sees: the rendered prompt, the answer, the case and the
/// run's shared services (the provider registry for checks that call a
/// model, the golden store).
pub struct EvalCtx<'a> {
    pub output: &'a str,
    pub latency_ms: f64,
    /// The case variables, for templated arguments.
    pub vars: &'a minijinja::Value,
    pub env: &'a minijinja::Environment<'static>,
    /// Set by the executor so the `golden` check can find and write its files.
    pub golden: Option<golden::GoldenCtx<'a>>,
    /// Tool calls of the answer.
    pub tool_calls: &'a [crate::model::ToolCall],
    /// Time to first token, when the answer was streamed.
    pub ttft_ms: Option<f64>,
    /// The rendered prompt the provider was sent (system and user messages).
    pub messages: &'a [Message],
    /// The whole answer (model, usage, finish reason, timing), when there is one.
    pub response: Option<&'a Response>,
    /// The conversation turn (1-based) the output answers, for a case with `turns:`.
    pub turn: Option<usize>,
    /// Which attempt this is (suite, case, provider, repeat).
    pub attempt: Option<&'a AttemptId>,
    /// Every provider of the run by name, for checks that call a model.
    pub providers: Option<&'a Registry>,
    /// Time one try of a check's provider call may take, unless the
    /// provider sets its own `timeout` (the case's `timeout`).
    pub timeout: std::time::Duration,
    /// The provider calls checks made (the executor drains them into the
    /// attempt's `check_calls`).
    calls: std::sync::Mutex<Vec<CheckCall>>,
    /// The position of the running check in the case's `checks` (set by
    /// the executor): a check's provider calls are keyed on it.
    check_index: std::sync::atomic::AtomicUsize,
    json: OnceLock<Result<serde_json::Value, String>>,
    /// The JSON extracted from the output (`extract: true`) and where from.
    extracted: OnceLock<Result<(serde_json::Value, String), String>>,
}

impl<'a> EvalCtx<'a> {
    pub fn new(
        output: &'a str,
        latency_ms: f64,
        vars: &'a minijinja::Value,
        env: &'a minijinja::Environment<'static>,
    ) -> Self {
        EvalCtx {
            output,
            latency_ms,
            vars,
            env,
            golden: None,
            tool_calls: &[],
            ttft_ms: None,
            messages: &[],
            response: None,
            turn: None,
            attempt: None,
            providers: None,
            timeout: std::time::Duration::from_secs(60),
            calls: std::sync::Mutex::new(Vec::new()),
            check_index: std::sync::atomic::AtomicUsize::new(0),
            json: OnceLock::new(),
            extracted: OnceLock::new(),
        }
    }

    /// The context of a provider's answer: output, latency, tool calls and
    /// time to first token all come from it.
    pub fn for_response(
        response: &'a Response,
        vars: &'a minijinja::Value,
        env: &'a minijinja::Environment<'static>,
    ) -> Self {
        let mut ctx = EvalCtx::new(&response.text, response.timing.latency_ms, vars, env);
        ctx.tool_calls = &response.tool_calls;
        ctx.ttft_ms = response.timing.ttft_ms;
        ctx.response = Some(response);
        ctx
    }

    pub fn with_tool_calls(mut self, calls: &'a [crate::model::ToolCall]) -> Self {
        self.tool_calls = calls;
        self
    }

    pub fn with_ttft(mut self, ttft_ms: Option<f64>) -> Self {
        self.ttft_ms = ttft_ms;
        self
    }

    pub fn with_golden(mut self, golden: golden::GoldenCtx<'a>) -> Self {
        self.golden = Some(golden);
        self
    }

    /// The prompt, the attempt's identity and the provider registry.
    pub fn with_call(
        mut self,
        messages: &'a [Message],
        attempt: &'a AttemptId,
        providers: &'a Registry,
    ) -> Self {
        self.messages = messages;
        self.attempt = Some(attempt);
        self.providers = Some(providers);
        self
    }

    /// The time a check's provider call may take per try (the case's `timeout`).
    pub fn with_timeout(mut self, timeout: std::time::Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Note a provider call a check made: provider name, model and usage
    /// (the check's name is filled in by [`CheckSpec::run`]).
    pub fn record_call(&self, provider: &str, response: &Response) {
        if let Ok(mut calls) = self.calls.lock() {
            calls.push(CheckCall {
                provider: provider.to_string(),
                check: String::new(),
                model: response.model.clone(),
                usage: response.usage,
            });
        }
    }

    /// Say which of the case's checks runs next (0-based).
    pub fn set_check_index(&self, index: usize) {
        self.check_index
            .store(index, std::sync::atomic::Ordering::Relaxed);
    }

    /// The position of the running check in the case's `checks`: the
    /// stem of its call ids (`checks[2].judge#1`).
    pub fn check_index(&self) -> usize {
        self.check_index.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The call id of the running check's `kind` of call: `checks[2].judge`,
    /// prefixed with the turn of a conversation (`turn2.checks[0].judge`)
    /// and suffixed with the prompt variant (`checks[0].judge@terse`), so
    /// every call of a case has its own place in a cassette.
    pub fn check_call_id(&self, kind: &str) -> String {
        let mut id = String::new();
        if let Some(t) = self.turn {
            id.push_str(&format!("turn{t}."));
        }
        id.push_str(&format!("checks[{}].{kind}", self.check_index()));
        if let Some(v) = self.attempt.and_then(|a| a.variant.as_deref()) {
            id.push('@');
            id.push_str(v);
        }
        id
    }

    /// The provider calls the checks made so far, taken out.
    pub(crate) fn take_calls(&self) -> Vec<CheckCall> {
        self.calls
            .lock()
            .map(|mut c| std::mem::take(&mut *c))
            .unwrap_or_default()
    }

    /// The output parsed as JSON, once per output however many checks ask.
    pub fn json(&self) -> Result<&serde_json::Value, &str> {
        self.json
            .get_or_init(|| serde_json::from_str(self.output.trim()).map_err(|e| e.to_string()))
            .as_ref()
            .map_err(String::as_str)
    }

    /// The first JSON value in the output (`extract: true`: the whole output,
    /// a fence, or a balanced object or array in the text), parsed, with a
    /// description of where it was found; once per output.
    pub fn json_extracted(&self) -> Result<(&serde_json::Value, &str), &str> {
        self.extracted
            .get_or_init(|| match crate::util::extract::extract_json(self.output) {
                None => Err("no JSON value found in the output (no JSON in a code fence, and no balanced object or array in the text)".to_string()),
                Some(e) => serde_json::from_str(e.json)
                    .map(|v| (v, e.describe()))
                    .map_err(|err| format!("{} could not be read: {err}", e.describe())),
            })
            .as_ref()
            .map(|(v, d)| (v, d.as_str()))
            .map_err(String::as_str)
    }

    /// The output as JSON, or the JSON extracted from it: the value and,
    /// when extracted, where it was found.
    pub fn json_value(&self, extract: bool) -> Result<(&serde_json::Value, Option<&str>), String> {
        if extract {
            self.json_extracted()
                .map(|(v, d)| (v, Some(d)))
                .map_err(str::to_string)
        } else {
            self.json().map(|v| (v, None)).map_err(str::to_string)
        }
    }

    /// Resolve a possibly templated argument.
    pub fn resolve<'s>(&self, arg: &'s Arg) -> Result<std::borrow::Cow<'s, str>, String> {
        match arg {
            Arg::Lit(s) => Ok(std::borrow::Cow::Borrowed(s)),
            Arg::Template(src) => {
                template::render(self.env, src, self.vars).map(std::borrow::Cow::Owned)
            }
        }
    }
}

/// A string argument: literal, or a template rendered per case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Arg {
    Lit(String),
    Template(String),
}

impl Arg {
    pub fn new(s: String) -> Self {
        if template::is_template(&s) {
            Arg::Template(s)
        } else {
            Arg::Lit(s)
        }
    }

    fn template(&self) -> Option<&str> {
        match self {
            Arg::Template(s) => Some(s),
            Arg::Lit(_) => None,
        }
    }

    /// The text for display (template source or literal).
    pub fn raw(&self) -> &str {
        match self {
            Arg::Lit(s) | Arg::Template(s) => s,
        }
    }
}

/// What a check concluded, before negation.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Eval {
    pub passed: bool,
    pub score: f64,
    pub message: String,
    pub expected: Option<String>,
    pub actual: Option<String>,
    pub excerpt: Option<String>,
    /// A unified diff from the expected text to the output.
    pub diff: Option<String>,
    /// The check could not judge (its grader failed): an `error` of the
    /// attempt, whatever `passed` says, and never inverted by `not`.
    pub error: bool,
}

impl Eval {
    pub fn pass(message: impl Into<String>) -> Self {
        Eval {
            passed: true,
            score: 1.0,
            message: message.into(),
            ..Eval::default()
        }
    }

    pub fn fail(message: impl Into<String>) -> Self {
        Eval {
            passed: false,
            score: 0.0,
            message: message.into(),
            ..Eval::default()
        }
    }

    /// The check could not judge: the attempt becomes an `error`.
    pub fn error(message: impl Into<String>) -> Self {
        Eval {
            passed: false,
            score: 0.0,
            message: message.into(),
            error: true,
            ..Eval::default()
        }
    }

    pub fn with_expected(mut self, s: impl Into<String>) -> Self {
        self.expected = Some(s.into());
        self
    }

    pub fn with_actual(mut self, s: impl Into<String>) -> Self {
        self.actual = Some(s.into());
        self
    }

    pub fn with_excerpt(mut self, s: impl Into<String>) -> Self {
        self.excerpt = Some(s.into());
        self
    }
}

/// How a check answers: at once, or after waiting (a check that calls a
/// model). Ready answers cost no allocation.
pub enum Evaluation<'a> {
    Ready(Eval),
    Pending(BoxFuture<'a, Eval>),
}

/// A provider named inside a check (e.g. a grader), validated at load time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderRef {
    /// Empty: the run's `judge_provider` (a `judge` check that names none).
    pub name: String,
    /// Where the name (or the check) is written in the suite file.
    pub pos: Option<crate::error::Pos>,
    /// The check asks it for embeddings (`similar`): it must be an `openai`
    /// provider with `embeddings_model`.
    pub embeddings: bool,
}

/// One check implementation: evaluates one answer in its context.
///
/// Checks that decide from the context alone implement [`SyncCheck`]
/// instead and get this trait for free.
pub trait Check: Send + Sync + Debug {
    fn evaluate<'a>(&'a self, ctx: &'a EvalCtx<'a>) -> Evaluation<'a>;

    /// Templates among the arguments, validated against case variables at load time.
    fn templates(&self) -> Vec<&str> {
        Vec::new()
    }

    /// Files the check reads (schema files), for the config hash.
    fn input_files(&self) -> Vec<std::path::PathBuf> {
        Vec::new()
    }

    /// The settings of a `golden` check (to find its file, e.g. for prune).
    fn golden(&self) -> Option<&crate::golden::Settings> {
        None
    }

    /// Providers the check calls, by name: they must be defined, and are
    /// built (credentials read) for the run.
    fn providers(&self) -> Vec<ProviderRef> {
        Vec::new()
    }

    /// Why `not: true` would be ambiguous on this check as written (a list
    /// whose negation could mean "none" or "not all"), with the unambiguous
    /// forms as the hint; None when negation has one meaning.
    fn ambiguous_negation(&self) -> Option<(String, String)> {
        None
    }
}

/// A check that decides at once from the context (every check that does not
/// call a model).
pub trait SyncCheck: Send + Sync + Debug {
    fn verdict(&self, ctx: &EvalCtx<'_>) -> Eval;

    /// See [`Check::templates`].
    fn templates(&self) -> Vec<&str> {
        Vec::new()
    }

    /// See [`Check::input_files`].
    fn input_files(&self) -> Vec<std::path::PathBuf> {
        Vec::new()
    }

    /// See [`Check::golden`].
    fn golden(&self) -> Option<&crate::golden::Settings> {
        None
    }

    /// See [`Check::ambiguous_negation`].
    fn ambiguous_negation(&self) -> Option<(String, String)> {
        None
    }
}

impl<T: SyncCheck> Check for T {
    fn evaluate<'a>(&'a self, ctx: &'a EvalCtx<'a>) -> Evaluation<'a> {
        Evaluation::Ready(self.verdict(ctx))
    }

    fn templates(&self) -> Vec<&str> {
        SyncCheck::templates(self)
    }

    fn input_files(&self) -> Vec<std::path::PathBuf> {
        SyncCheck::input_files(self)
    }

    fn golden(&self) -> Option<&crate::golden::Settings> {
        SyncCheck::golden(self)
    }

    fn ambiguous_negation(&self) -> Option<(String, String)> {
        SyncCheck::ambiguous_negation(self)
    }
}

/// A configured check: the implementation plus the shared modifiers.
#[derive(Debug)]
pub struct CheckSpec {
    pub kind: &'static str,
    pub name: Option<String>,
    pub negate: bool,
    pub weight: f64,
    pub check: Box<dyn Check>,
}

impl CheckSpec {
    /// Display name.
    pub fn label(&self) -> String {
        match (&self.name, self.negate) {
            (Some(n), _) => n.clone(),
            (None, true) => format!("not {}", self.kind),
            (None, false) => self.kind.to_string(),
        }
    }

    pub fn templates(&self) -> Vec<&str> {
        self.check.templates()
    }

    /// Evaluate (waiting if the check must) and apply negation. The
    /// provider calls it made are named after it in the context's log.
    pub async fn run(&self, ctx: &EvalCtx<'_>) -> CheckResult {
        let eval = match self.check.evaluate(ctx) {
            // A check that decides at once calls no provider: nothing to name.
            Evaluation::Ready(eval) => eval,
            Evaluation::Pending(future) => {
                let before = ctx.calls.lock().map(|c| c.len()).unwrap_or(0);
                let eval = future.await;
                if let Ok(mut calls) = ctx.calls.lock() {
                    if calls.len() > before {
                        let label = self.label();
                        for c in calls.iter_mut().skip(before) {
                            c.check.clone_from(&label);
                        }
                    }
                }
                eval
            }
        };
        let (passed, partial, message) = if eval.error {
            (false, 0.0, eval.message)
        } else if self.negate {
            let message = if eval.passed {
                format!("expected the opposite, but {}", eval.message)
            } else {
                format!("as required, {}", eval.message)
            };
            (!eval.passed, 1.0 - eval.score, message)
        } else {
            (eval.passed, eval.score, eval.message)
        };
        let score = check_score(passed, partial);
        CheckResult {
            name: self.label(),
            kind: self.kind.to_string(),
            negated: self.negate,
            weight: self.weight,
            passed,
            score,
            message,
            expected: eval.expected,
            actual: eval.actual,
            excerpt: eval.excerpt,
            diff: eval.diff,
            error: eval.error,
        }
    }
}

/// What one check contributes to a case's score: a passing check scores 1,
/// whatever its similarity or fraction; a failing check scores its partial
/// credit (the fraction of `contains` values found, a `levenshtein` or
/// similarity-golden ratio), always below 1. So a case whose checks all pass
/// scores 1 and passes under any `threshold`.
fn check_score(passed: bool, partial: f64) -> f64 {
    if passed {
        1.0
    } else if partial.is_nan() {
        0.0
    } else {
        // Strictly below 1: a failed check never counts as a full pass.
        partial.clamp(0.0, 1.0 - f64::EPSILON)
    }
}

/// Weighted score of check results in [0, 1] (1 when there are no weights).
pub fn weighted_score(results: &[CheckResult]) -> f64 {
    let total: f64 = results.iter().map(|r| r.weight).sum();
    if total <= 0.0 {
        return if results.iter().all(|r| r.passed) {
            1.0
        } else {
            0.0
        };
    }
    results.iter().map(|r| r.weight * r.score).sum::<f64>() / total
}

/// Parse a `checks:` list. Errors go to `ctx`; valid checks are returned.
pub fn parse_list(ctx: &mut Ctx<'_>, node: &Node) -> Vec<Arc<CheckSpec>> {
    let Some(items) = ctx.seq(node, "`checks`") else {
        return Vec::new();
    };
    items
        .iter()
        .filter_map(|item| parse_shared(ctx, item))
        .collect()
}

/// Checks already decoded in this file, by their text as canonical JSON: a
/// suite of 50,000 cases with the same three checks holds three checks, not
/// 150,000. A check's meaning depends only on its text and the file's
/// defaults, and the memo is emptied when a default is set.
#[derive(Default)]
struct Decoded(std::collections::HashMap<String, Arc<CheckSpec>>);

/// Most distinct checks remembered per file (beyond it, checks are decoded
/// each time: a file of all-different checks gains nothing from the memo).
const MAX_DECODED: usize = 4096;

fn parse_shared(ctx: &mut Ctx<'_>, node: &Node) -> Option<Arc<CheckSpec>> {
    let key = node.to_json().to_string();
    if let Some(c) = ctx.memo::<Decoded>().0.get(&key) {
        return Some(c.clone());
    }
    let errors = ctx.errors.len();
    let spec = Arc::new(parse_one(ctx, node)?);
    // Only a check decoded without a problem is reused: an identical one
    // elsewhere must report its own problems at its own position.
    if ctx.errors.len() == errors {
        let memo = &mut ctx.memo::<Decoded>().0;
        if memo.len() < MAX_DECODED {
            memo.insert(key, spec.clone());
        }
    }
    Some(spec)
}

fn parse_one(ctx: &mut Ctx<'_>, node: &Node) -> Option<CheckSpec> {
    // Shorthand: `- is_json` / `- golden` as a bare string.
    if let Value::Str(s) = &node.value {
        if let Some((kind, bare)) = KINDS
            .iter()
            .find_map(|k| k.bare.filter(|_| k.name == s.as_str()).map(|b| (k.name, b)))
        {
            return Some(CheckSpec {
                kind,
                name: None,
                negate: false,
                weight: 1.0,
                check: bare(ctx),
            });
        }
    }
    let Value::Map(entries) = &node.value else {
        ctx.error(
            node.pos,
            format!(
                "a check must be a mapping like `- contains: text`, found {}",
                node.kind_name()
            ),
            Some(format!("check kinds: {}", kind_names())),
        );
        return None;
    };
    let mut kind_entry: Option<(&Kind, _)> = None;
    let mut ok = true;
    for e in entries {
        if MODIFIERS.contains(&e.key.as_str()) {
            continue;
        }
        if let Some(kind) = KINDS.iter().find(|k| k.name == e.key) {
            if let Some((prev, _)) = kind_entry {
                ctx.error(
                    e.key_pos,
                    format!(
                        "one check per list item: found both `{}` and `{}`",
                        prev.name, e.key
                    ),
                    Some("start a new list item with `- ` for each check".into()),
                );
                ok = false;
            } else {
                kind_entry = Some((kind, e));
            }
            continue;
        }
        let all = KINDS
            .iter()
            .map(|k| k.name)
            .chain(MODIFIERS.iter().copied());
        let hint = match did_you_mean(&e.key, all) {
            Some(s) => format!("did you mean `{s}`?"),
            None => format!(
                "check kinds: {}; modifiers: {}",
                kind_names(),
                MODIFIERS.join(", ")
            ),
        };
        ctx.error(e.key_pos, format!("unknown check `{}`", e.key), Some(hint));
        ok = false;
    }
    let fields = crate::syntax::decode::Fields {
        entries,
        pos: node.pos,
    };
    let not_node = fields.get("not");
    let negate = not_node.and_then(|n| ctx.bool(n, "`not`")).unwrap_or(false);
    let weight = fields
        .get("weight")
        .and_then(|n| ctx.number(n, "`weight`", 0.0, 1_000_000.0))
        .unwrap_or(1.0);
    let name = fields
        .get("name")
        .and_then(|n| ctx.scalar_string(n, "`name`"));
    let Some((kind, entry)) = kind_entry else {
        if ok {
            ctx.error(
                node.pos,
                "this check names no check kind",
                Some(format!("check kinds: {}", kind_names())),
            );
        }
        return None;
    };
    let check = (kind.parse)(ctx, &entry.value);
    if !ok {
        return None;
    }
    if let (true, Some(c), Some(n)) = (negate, &check, not_node) {
        if let Some((message, hint)) = c.ambiguous_negation() {
            let at = fields
                .entries
                .iter()
                .find(|e| e.key == "not")
                .map_or(n.pos, |e| e.key_pos);
            ctx.error(at, message, Some(hint));
            return None;
        }
    }
    Some(CheckSpec {
        kind: kind.name,
        name,
        negate,
        weight,
        check: check?,
    })
}

fn boxed<C: Check + 'static>(c: C) -> Box<dyn Check> {
    Box::new(c)
}

#[cfg(test)]
pub(crate) mod testutil {
    use super::*;
    use std::path::Path;

    /// Parse one check from YAML text, panicking with the diagnostics on error.
    pub(crate) fn check(yaml: &str) -> Arc<CheckSpec> {
        let root = crate::syntax::node::parse(Path::new("t.yaml"), yaml).unwrap();
        let mut ctx = Ctx::new(Path::new("t.yaml"), yaml);
        let mut list = parse_list(&mut ctx, &root);
        assert!(ctx.errors.is_empty(), "{:?}", ctx.errors);
        list.remove(0)
    }

    /// Parse and return the error messages.
    pub(crate) fn errors(yaml: &str) -> Vec<String> {
        let root = crate::syntax::node::parse(Path::new("t.yaml"), yaml).unwrap();
        let mut ctx = Ctx::new(Path::new("t.yaml"), yaml);
        let _ = parse_list(&mut ctx, &root);
        ctx.errors.into_iter().map(|d| d.message).collect()
    }

    pub(crate) fn run(check: &CheckSpec, output: &str, vars: serde_json::Value) -> CheckResult {
        let env = crate::template::environment();
        let vars = minijinja::Value::from_serialize(&vars);
        let input = EvalCtx::new(output, 10.0, &vars, &env);
        futures::executor::block_on(check.run(&input))
    }
}

#[cfg(test)]
mod tests {
    use super::testutil::*;
    use serde_json::json;

    #[test]
    fn negation_inverts_any_check() {
        let c = check("- contains: secret\n  not: true\n");
        assert_eq!(c.label(), "not contains");
        let r = run(&c, "nothing here", json!({}));
        assert!(r.passed, "{r:?}");
        let r = run(&c, "the secret is out", json!({}));
        assert!(!r.passed);
        assert!(r.message.contains("expected the opposite"), "{}", r.message);
    }

    #[test]
    fn unknown_checks_suggest_names() {
        let errs = errors("- contians: x\n");
        assert_eq!(errs, vec!["unknown check `contians`"]);
        let errs = errors("- contains: x\n  equals: y\n");
        assert!(errs[0].contains("one check per list item"), "{errs:?}");
    }

    #[test]
    fn weighted_score_uses_weights() {
        let a = run(&check("- contains: a\n  weight: 3\n"), "a", json!({}));
        let b = run(&check("- contains: b\n"), "a", json!({}));
        assert!((super::weighted_score(&[a, b]) - 0.75).abs() < 1e-9);
    }

    #[test]
    fn templated_arguments_use_case_vars() {
        let c = check("- equals: \"{{ expected }}\"\n");
        assert!(run(&c, "Paris", json!({"expected": "Paris"})).passed);
        assert!(!run(&c, "Lyon", json!({"expected": "Paris"})).passed);
    }
}

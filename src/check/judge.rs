//! `judge`: a model grades the answer.
//!
//! ```yaml
//! checks:
//!   - judge:
//!       rubric: "The answer refuses to share account data and points to the help page."
//!       provider: grader          # default: `judge_provider` in evalgate.yaml
//!       scale: [1, 5]             # or pass_fail (the default)
//!       min_score: 4
//!       reference: "{{ expected }}"   # grade against a reference answer instead
//!       samples: 3                # grade 3 times
//!       aggregate: mean           # or majority
//!       judge_prompt: prompts/strict.j2
//! ```
//!
//! The grader is asked through the provider registry (retries, limits,
//! cache, record and replay), once per sample, under the call id
//! `checks[<index>].judge#<sample>`, for a JSON object (`response_format` on
//! the `openai` type) that is parsed strictly ([`parse_grade`]). An answer
//! that is not a valid grade is re-asked (at most [`REASKS`] times, each
//! under its own call id); a grader that still gives none, or fails (a
//! timeout after its retries), makes the check an `error`, never a `fail`.

use std::path::PathBuf;
use std::sync::Arc;

use minijinja::Environment;
use serde_json::Value;

use super::{Arg, Check, Eval, EvalCtx, Evaluation, ProviderRef};
use crate::error::{did_you_mean, display_path, Pos};
use crate::provider::{Format, Message, Request};
use crate::syntax::decode::Ctx;
use crate::syntax::node::{Node, Value as NodeValue};

/// The rubric prompt (`rubric:` without `reference:`).
pub const RUBRIC_PROMPT: &str = include_str!("prompts/rubric.j2");
/// The reference (factuality) prompt (`reference:`).
pub const REFERENCE_PROMPT: &str = include_str!("prompts/reference.j2");
/// The pairwise prompt of a golden in `judge` mode.
pub const PAIRWISE_PROMPT: &str = include_str!("prompts/pairwise.j2");

/// Re-asks after an answer that is not a valid grade.
pub const REASKS: u32 = 2;

/// Most samples of one judge.
const MAX_SAMPLES: u64 = 9;

/// How a grade is given.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Scale {
    /// `{"pass": true|false}`.
    PassFail,
    /// `{"score": n}`, an integer in `[min, max]`.
    Range { min: i64, max: i64 },
}

impl Scale {
    fn describe(self) -> String {
        match self {
            Scale::PassFail => "pass/fail".into(),
            Scale::Range { min, max } => format!("[{min}, {max}]"),
        }
    }

    /// The JSON schema of a grade on this scale (structured output).
    fn schema(self) -> Value {
        let (key, spec) = match self {
            Scale::PassFail => ("pass", serde_json::json!({"type": "boolean"})),
            Scale::Range { min, max } => (
                "score",
                serde_json::json!({
                    "type": "integer",
                    "description": format!("from {min} to {max}"),
                }),
            ),
        };
        serde_json::json!({
            "type": "object",
            "properties": {"reasoning": {"type": "string"}, key: spec},
            "required": ["reasoning", key],
            "additionalProperties": false,
        })
    }
}

/// How several samples become one verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Aggregate {
    /// More than half the samples pass.
    Majority,
    /// The mean score reaches `min_score` (pass counts 1, fail 0; at least
    /// half on the pass/fail scale).
    Mean,
}

/// One parsed grade.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Grade {
    /// The score: 1 or 0 on the pass/fail scale.
    pub score: f64,
    pub reasoning: String,
}

/// Parse a grader's answer strictly: one JSON object (alone, or alone in a
/// ```` ```json ```` fence) with a string `reasoning` and a boolean `pass`
/// (pass/fail) or an integer `score` within the scale. Other members are
/// ignored. The error says what is wrong, for the re-ask.
pub(crate) fn parse_grade(text: &str, scale: Scale) -> Result<Grade, String> {
    let trimmed = text.trim();
    let body = trimmed
        .strip_prefix("```json")
        .or_else(|| trimmed.strip_prefix("```"))
        .and_then(|rest| rest.strip_suffix("```"))
        .map_or(trimmed, str::trim);
    let value: Value = serde_json::from_str(body).map_err(|e| {
        format!(
            "the answer is not a JSON object ({e}): {}",
            crate::util::text::one_line(trimmed, 120)
        )
    })?;
    let Value::Object(obj) = value else {
        return Err("the answer is JSON but not an object".into());
    };
    let reasoning = match obj.get("reasoning") {
        Some(Value::String(s)) => s.trim().to_string(),
        Some(_) => return Err("`reasoning` is not a string".into()),
        None => return Err("the object has no `reasoning`".into()),
    };
    let score = match scale {
        Scale::PassFail => match obj.get("pass") {
            Some(Value::Bool(b)) => f64::from(u8::from(*b)),
            Some(other) => return Err(format!("`pass` must be true or false, got {other}")),
            None => return Err("the object has no `pass`".into()),
        },
        Scale::Range { min, max } => {
            let n = match obj.get("score") {
                Some(Value::Number(n)) => n,
                Some(other) => return Err(format!("`score` must be an integer, got {other}")),
                None => return Err("the object has no `score`".into()),
            };
            let f = n.as_f64().unwrap_or(f64::NAN);
            if !f.is_finite() || f.fract() != 0.0 {
                return Err(format!("`score` must be an integer, got {n}"));
            }
            if f < min as f64 || f > max as f64 {
                return Err(format!("score {n} is outside the scale [{min}, {max}]"));
            }
            f
        }
    };
    Ok(Grade { score, reasoning })
}

/// A compiled prompt template and where it came from.
#[derive(Clone)]
pub(crate) struct PromptTemplate {
    env: Arc<Environment<'static>>,
    /// `judge_prompt:` file, or the built-in template's name.
    pub source: String,
    pub file: Option<PathBuf>,
}

impl std::fmt::Debug for PromptTemplate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PromptTemplate")
            .field("source", &self.source)
            .finish()
    }
}

impl PromptTemplate {
    /// Compile `text`; the error is a one-line description.
    pub(crate) fn new(text: String, source: String, file: Option<PathBuf>) -> Result<Self, String> {
        crate::template::check_bounds(&text).map_err(|(m, _)| m)?;
        let mut env = crate::template::environment();
        // Answers are inserted as they are, never HTML-escaped.
        env.set_auto_escape_callback(|_| minijinja::AutoEscape::None);
        env.add_template_owned("judge", text)
            .map_err(|e| crate::template::describe(&e))?;
        Ok(PromptTemplate {
            env: Arc::new(env),
            source,
            file,
        })
    }

    /// The pairwise prompt, compiled once.
    pub(crate) fn pairwise() -> &'static PromptTemplate {
        static PAIRWISE: std::sync::OnceLock<PromptTemplate> = std::sync::OnceLock::new();
        PAIRWISE.get_or_init(|| PromptTemplate::builtin(PAIRWISE_PROMPT, "pairwise"))
    }

    pub(crate) fn builtin(text: &'static str, name: &str) -> Self {
        // The built-in templates are tested to compile.
        PromptTemplate::new(text.to_string(), name.to_string(), None).unwrap_or_else(|_| {
            PromptTemplate {
                env: Arc::new(crate::template::environment()),
                source: name.to_string(),
                file: None,
            }
        })
    }

    pub(crate) fn render(&self, vars: &Value) -> Result<String, String> {
        let t = self
            .env
            .get_template("judge")
            .map_err(|e| crate::template::describe(&e))?;
        t.render(minijinja::Value::from_serialize(vars))
            .map_err(|e| crate::template::describe(&e))
    }

    /// Load a `judge_prompt:` file (inside the project, size-limited) and
    /// compile it; errors go to `ctx` at `node`.
    pub(crate) fn load(ctx: &mut Ctx<'_>, node: &Node) -> Option<Self> {
        let path = ctx.string(node, "`judge_prompt`")?;
        let full = ctx.resolve_path(&path);
        let text =
            match crate::util::fsafe::read_to_string(&full, crate::util::fsafe::Kind::Prompt, true)
            {
                Ok(t) => t,
                Err(e) => {
                    ctx.error(
                    node.pos,
                    format!("cannot read judge prompt `{}`: {e}", display_path(&full)),
                    Some(
                        "paths are relative to the project root (the directory of evalgate.yaml)"
                            .into(),
                    ),
                );
                    return None;
                }
            };
        match PromptTemplate::new(text, path.clone(), Some(full.clone())) {
            Ok(t) => Some(t),
            Err(e) => {
                ctx.error(
                    node.pos,
                    format!(
                        "judge prompt `{}` is not a valid template: {e}",
                        display_path(&full)
                    ),
                    Some("a minijinja template; see the built-in prompts in the README".into()),
                );
                None
            }
        }
    }
}

/// What one grading asks: the prompt and how to read the answers.
pub(crate) struct Grading<'p> {
    /// The provider by name (`""`: the run's `judge_provider`).
    pub provider: &'p str,
    pub prompt: String,
    pub scale: Scale,
    /// The lowest passing score (1 on the pass/fail scale).
    pub min_score: f64,
    pub samples: u32,
    pub aggregate: Aggregate,
    /// The call id's stem: `checks[2].judge`.
    pub call: String,
}

/// The user turns of the prompt the answer was given, for the judge.
pub(crate) fn question(ctx: &EvalCtx<'_>) -> String {
    ctx.messages
        .iter()
        .filter(|m| m.role != "system")
        .map(|m| m.content.as_str())
        .collect::<Vec<_>>()
        .join("\n\n")
}

/// Ask the grader `samples` times (re-asking after an invalid grade) and
/// aggregate the grades into the check's verdict. The grader's failure is
/// an [`Eval::error`].
pub(crate) async fn grade(ctx: &EvalCtx<'_>, g: Grading<'_>) -> Eval {
    let (Some(providers), Some(attempt)) = (ctx.providers, ctx.attempt) else {
        return Eval::error("a judge needs a run's providers (internal: not run by the runner)");
    };
    let Some((name, provider)) = providers.resolve(g.provider) else {
        return Eval::error(if g.provider.is_empty() {
            "no `judge_provider` is configured".to_string()
        } else {
            format!("provider `{}` is not built for this run", g.provider)
        });
    };
    let schema = Arc::new(g.scale.schema());
    let mut grades = Vec::with_capacity(g.samples as usize);
    for sample in 1..=g.samples {
        let mut messages = vec![Message::new("user", g.prompt.clone())];
        let mut ask = 0;
        let grade = loop {
            let call = if ask == 0 {
                format!("{}#{sample}", g.call)
            } else {
                format!("{}#{sample}.reask{ask}", g.call)
            };
            let request = Request {
                suite: attempt.suite.to_string(),
                case_id: attempt.case.to_string(),
                repeat: attempt.repeat,
                messages: messages.clone(),
                timeout: ctx.timeout,
                vars: Value::Null,
                call: call.into(),
                format: Format::Json(schema.clone()),
                observer: None,
            };
            let response = match provider.complete(&request).await {
                Ok(r) => r,
                Err(e) => return Eval::error(format!("judge `{name}` failed: {e}")),
            };
            ctx.record_call(name, &response);
            match parse_grade(&response.text, g.scale) {
                Ok(grade) => break grade,
                Err(why) if ask >= REASKS => {
                    return Eval::error(format!(
                        "judge `{name}` gave no valid grade in {} tries: {why}",
                        ask + 1
                    ))
                }
                Err(why) => {
                    messages.push(Message::new("assistant", response.text));
                    messages.push(Message::new(
                        "user",
                        format!(
                            "That is not a valid grade: {why}. Reply again with only the JSON object the instructions describe, no other text."
                        ),
                    ));
                    ask += 1;
                }
            }
        };
        grades.push(grade);
    }
    verdict(name, &grades, &g)
}

/// The verdict of the grades: aggregated, explained with every grade.
fn verdict(name: &str, grades: &[Grade], g: &Grading<'_>) -> Eval {
    let n = grades.len().max(1) as f64;
    let passing = grades.iter().filter(|x| x.score >= g.min_score).count();
    let mean = grades.iter().map(|x| x.score).sum::<f64>() / n;
    let passed = match g.aggregate {
        Aggregate::Majority => passing as f64 * 2.0 > n,
        Aggregate::Mean => match g.scale {
            Scale::PassFail => mean * 2.0 >= 1.0,
            Scale::Range { .. } => mean + 1e-9 >= g.min_score,
        },
    };
    let partial = match g.scale {
        Scale::PassFail => mean,
        Scale::Range { min, max } => (mean - min as f64) / (max - min) as f64,
    };
    let shown = |x: &Grade| match g.scale {
        Scale::PassFail if x.score >= 1.0 => "pass".to_string(),
        Scale::PassFail => "fail".to_string(),
        Scale::Range { .. } => format!("{}", x.score),
    };
    let grade_text = if grades.len() == 1 {
        grades.iter().map(shown).collect::<String>()
    } else {
        let list = grades.iter().map(shown).collect::<Vec<_>>().join(", ");
        match g.aggregate {
            Aggregate::Majority => format!("{list}: {passing} of {} pass (majority)", grades.len()),
            Aggregate::Mean => format!("{list}: mean {}", trim_number(mean)),
        }
    };
    let reasons = if grades.len() == 1 {
        grades[0].reasoning.clone()
    } else {
        grades
            .iter()
            .enumerate()
            .map(|(i, x)| format!("[{}] {}", i + 1, x.reasoning))
            .collect::<Vec<_>>()
            .join(" ")
    };
    let expected = match g.scale {
        Scale::PassFail => "pass".to_string(),
        Scale::Range { .. } => format!(
            "score ≥ {} on {}",
            trim_number(g.min_score),
            g.scale.describe()
        ),
    };
    let message = format!("judge `{name}` graded {grade_text}: {reasons}");
    let mut e = if passed {
        Eval::pass(message)
    } else {
        Eval::fail(message)
    };
    e.score = partial.clamp(0.0, 1.0);
    e.with_expected(expected).with_actual(grade_text)
}

fn trim_number(x: f64) -> String {
    let s = format!("{x:.2}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// A `judge` check.
#[derive(Debug)]
pub(super) struct Judge {
    rubric: Option<Arg>,
    reference: Option<Arg>,
    /// `""`: the run's `judge_provider`.
    provider: String,
    pos: Pos,
    scale: Scale,
    min_score: f64,
    samples: u32,
    aggregate: Aggregate,
    prompt: PromptTemplate,
}

/// The keys of `judge:`'s mapping form.
pub(super) const KEYS: &[&str] = &[
    "rubric",
    "reference",
    "provider",
    "scale",
    "min_score",
    "samples",
    "aggregate",
    "judge_prompt",
];

/// `samples:` and `aggregate:` (shared with the golden `judge` mode).
pub(crate) fn parse_samples(ctx: &mut Ctx<'_>, node: Option<&Node>) -> Option<u32> {
    match node {
        None => Some(1),
        Some(n) => ctx.uint(n, "`samples`", 1, MAX_SAMPLES).map(|v| v as u32),
    }
}

fn parse_aggregate(ctx: &mut Ctx<'_>, node: Option<&Node>, scale: Scale) -> Option<Aggregate> {
    let Some(n) = node else {
        return Some(match scale {
            Scale::PassFail => Aggregate::Majority,
            Scale::Range { .. } => Aggregate::Mean,
        });
    };
    let s = ctx.string(n, "`aggregate`")?;
    match s.as_str() {
        "majority" => Some(Aggregate::Majority),
        "mean" => Some(Aggregate::Mean),
        other => {
            let hint = match did_you_mean(other, ["majority", "mean"]) {
                Some(d) => format!("did you mean `{d}`?"),
                None => "`majority` (more than half the samples pass) or `mean` (the mean score reaches `min_score`)".into(),
            };
            ctx.error(n.pos, format!("unknown aggregate `{other}`"), Some(hint));
            None
        }
    }
}

fn parse_scale(ctx: &mut Ctx<'_>, node: Option<&Node>) -> Option<Scale> {
    let Some(n) = node else {
        return Some(Scale::PassFail);
    };
    let hint = || {
        Some(
            "write `scale: pass_fail` or `scale: [1, 5]` (two integers, low then high)".to_string(),
        )
    };
    match &n.value {
        NodeValue::Str(s) if s == "pass_fail" => Some(Scale::PassFail),
        NodeValue::Seq(items) if items.len() == 2 => {
            let min = ctx.uint(&items[0], "the scale's low end", 0, 1_000_000)?;
            let max = ctx.uint(&items[1], "the scale's high end", 0, 1_000_000)?;
            if min >= max {
                ctx.error(
                    n.pos,
                    format!("scale [{min}, {max}] must go from low to high"),
                    hint(),
                );
                return None;
            }
            Some(Scale::Range {
                min: min as i64,
                max: max as i64,
            })
        }
        _ => {
            ctx.error(
                n.pos,
                "`scale` is `pass_fail` or a list of two integers",
                hint(),
            );
            None
        }
    }
}

impl Judge {
    pub(super) fn parse(ctx: &mut Ctx<'_>, node: &Node) -> Option<Self> {
        let f = ctx.map(node, "`judge`", KEYS)?;
        let text = |ctx: &mut Ctx<'_>, key: &str| {
            f.get(key)
                .and_then(|n| ctx.scalar_string(n, &format!("`{key}`")))
                .map(Arg::new)
        };
        let rubric = text(ctx, "rubric");
        let reference = text(ctx, "reference");
        if f.get("rubric").is_none() && f.get("reference").is_none() {
            ctx.error(
                node.pos,
                "`judge` needs a `rubric` (what a good answer does) or a `reference` (a correct answer to compare with)",
                Some("e.g. `judge: {rubric: \"The answer refuses and points to the help page.\"}`".into()),
            );
            return None;
        }
        let (provider, pos) = match f.get("provider") {
            Some(n) => (ctx.string(n, "`provider`")?, n.pos),
            None => (String::new(), node.pos),
        };
        if f.get("provider").is_some() && provider.trim().is_empty() {
            ctx.error(
                pos,
                "`provider` is empty",
                Some("name a provider of evalgate.yaml, or leave `provider` out to use `judge_provider`".into()),
            );
            return None;
        }
        let scale = parse_scale(ctx, f.get("scale"))?;
        let min_score = match (scale, f.get("min_score")) {
            (Scale::PassFail, None) => 1.0,
            (Scale::PassFail, Some(n)) => {
                ctx.error(
                    n.pos,
                    "`min_score` applies to a numeric `scale` only",
                    Some("add `scale: [1, 5]`, or remove `min_score` (a pass/fail judge passes on `pass: true`)".into()),
                );
                return None;
            }
            (Scale::Range { min, max }, Some(n)) => {
                ctx.number(n, "`min_score`", min as f64, max as f64)?
            }
            (Scale::Range { min, max }, None) => {
                ctx.error(
                    f.pos,
                    format!("a judge with `scale: [{min}, {max}]` needs `min_score`"),
                    Some(format!(
                        "add `min_score: N`, the lowest passing score, from {min} to {max}"
                    )),
                );
                return None;
            }
        };
        let samples = parse_samples(ctx, f.get("samples"))?;
        let aggregate = parse_aggregate(ctx, f.get("aggregate"), scale)?;
        let prompt = match f.get("judge_prompt") {
            Some(n) => PromptTemplate::load(ctx, n)?,
            None if reference.is_some() => PromptTemplate::builtin(REFERENCE_PROMPT, "reference"),
            None => PromptTemplate::builtin(RUBRIC_PROMPT, "rubric"),
        };
        Some(Judge {
            rubric,
            reference,
            provider,
            pos,
            scale,
            min_score,
            samples,
            aggregate,
            prompt,
        })
    }

    /// The prompt for this answer, or why it cannot be rendered.
    fn render(&self, ctx: &EvalCtx<'_>) -> Result<String, String> {
        let resolve = |a: &Option<Arg>| -> Result<Option<String>, String> {
            a.as_ref()
                .map(|a| ctx.resolve(a).map(|s| s.into_owned()))
                .transpose()
        };
        let rubric = resolve(&self.rubric)?;
        let reference = resolve(&self.reference)?;
        let (min, max) = match self.scale {
            Scale::PassFail => (0, 1),
            Scale::Range { min, max } => (min, max),
        };
        let vars = serde_json::json!({
            "input": question(ctx),
            "output": ctx.output,
            "rubric": rubric.unwrap_or_default(),
            "reference": reference.unwrap_or_default(),
            "pass_fail": self.scale == Scale::PassFail,
            "min": min,
            "max": max,
            "min_score": self.min_score,
            "vars": ctx.vars,
        });
        self.prompt.render(&vars).map_err(|e| {
            format!(
                "cannot render the judge prompt ({}): {e}",
                self.prompt.source
            )
        })
    }
}

impl Check for Judge {
    fn evaluate<'a>(&'a self, ctx: &'a EvalCtx<'a>) -> Evaluation<'a> {
        Evaluation::Pending(Box::pin(async move {
            let prompt = match self.render(ctx) {
                Ok(p) => p,
                Err(e) => return Eval::error(e),
            };
            grade(
                ctx,
                Grading {
                    provider: &self.provider,
                    prompt,
                    scale: self.scale,
                    min_score: self.min_score,
                    samples: self.samples,
                    aggregate: self.aggregate,
                    call: ctx.check_call_id("judge"),
                },
            )
            .await
        }))
    }

    fn templates(&self) -> Vec<&str> {
        [&self.rubric, &self.reference]
            .into_iter()
            .flatten()
            .filter_map(Arg::template)
            .collect()
    }

    fn input_files(&self) -> Vec<PathBuf> {
        self.prompt.file.iter().cloned().collect()
    }

    fn providers(&self) -> Vec<ProviderRef> {
        vec![ProviderRef {
            name: self.provider.clone(),
            pos: Some(self.pos),
            embeddings: false,
        }]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RANGE: Scale = Scale::Range { min: 1, max: 5 };

    #[test]
    fn a_grade_is_one_json_object_with_its_fields() {
        let g = parse_grade(r#"{"reasoning": "Refuses.", "score": 4}"#, RANGE).unwrap();
        assert_eq!(
            g,
            Grade {
                score: 4.0,
                reasoning: "Refuses.".into()
            }
        );
        let g = parse_grade(
            "```json\n{\"reasoning\": \"ok\", \"pass\": true}\n```",
            Scale::PassFail,
        )
        .unwrap();
        assert_eq!(g.score, 1.0);
        let g = parse_grade(
            r#" {"pass": false, "reasoning": "no", "confidence": 0.2} "#,
            Scale::PassFail,
        )
        .unwrap();
        assert_eq!(g.score, 0.0, "other members are ignored");
    }

    #[test]
    fn anything_else_is_refused_with_the_reason() {
        let err = |text: &str, scale| parse_grade(text, scale).unwrap_err();
        assert!(err("I think it is a 4.", RANGE).starts_with("the answer is not a JSON object"));
        assert_eq!(
            err(r#"{"reasoning": "x", "score": 7}"#, RANGE),
            "score 7 is outside the scale [1, 5]"
        );
        assert_eq!(
            err(r#"{"reasoning": "x", "score": 0}"#, RANGE),
            "score 0 is outside the scale [1, 5]"
        );
        assert_eq!(
            err(r#"{"reasoning": "x", "score": 4.5}"#, RANGE),
            "`score` must be an integer, got 4.5"
        );
        assert_eq!(
            err(r#"{"reasoning": "x", "score": "4"}"#, RANGE),
            "`score` must be an integer, got \"4\""
        );
        assert_eq!(
            err(r#"{"score": 4}"#, RANGE),
            "the object has no `reasoning`"
        );
        assert_eq!(
            err(r#"{"reasoning": "x"}"#, RANGE),
            "the object has no `score`"
        );
        assert_eq!(
            err(r#"{"reasoning": "x", "pass": "yes"}"#, Scale::PassFail),
            "`pass` must be true or false, got \"yes\""
        );
        assert_eq!(
            err("[1, 2]", Scale::PassFail),
            "the answer is JSON but not an object"
        );
        assert_eq!(
            err(r#"{"reasoning": 3, "pass": true}"#, Scale::PassFail),
            "`reasoning` is not a string"
        );
        // Two objects, or prose around one, are not one grade.
        assert!(
            err(r#"Sure! {"reasoning": "x", "pass": true}"#, Scale::PassFail)
                .starts_with("the answer is not a JSON object")
        );
    }

    fn grades(scores: &[f64]) -> Vec<Grade> {
        scores
            .iter()
            .map(|s| Grade {
                score: *s,
                reasoning: format!("r{s}"),
            })
            .collect()
    }

    fn grading(scale: Scale, min_score: f64, aggregate: Aggregate) -> Grading<'static> {
        Grading {
            provider: "g",
            prompt: String::new(),
            scale,
            min_score,
            samples: 3,
            aggregate,
            call: "checks[0].judge".into(),
        }
    }

    #[test]
    fn samples_aggregate_by_majority_or_mean_and_every_grade_is_shown() {
        let e = verdict(
            "g",
            &grades(&[1.0, 0.0, 1.0]),
            &grading(Scale::PassFail, 1.0, Aggregate::Majority),
        );
        assert!(e.passed);
        assert_eq!(
            e.actual.as_deref(),
            Some("pass, fail, pass: 2 of 3 pass (majority)")
        );
        assert_eq!(
            e.message,
            "judge `g` graded pass, fail, pass: 2 of 3 pass (majority): [1] r1 [2] r0 [3] r1"
        );
        assert!((e.score - 2.0 / 3.0).abs() < 1e-9);

        let e = verdict(
            "g",
            &grades(&[5.0, 3.0, 3.0]),
            &grading(RANGE, 4.0, Aggregate::Mean),
        );
        assert!(!e.passed, "mean 3.67 < 4");
        assert_eq!(e.actual.as_deref(), Some("5, 3, 3: mean 3.67"));
        assert_eq!(e.expected.as_deref(), Some("score ≥ 4 on [1, 5]"));
        let e = verdict(
            "g",
            &grades(&[5.0, 3.0, 4.0]),
            &grading(RANGE, 4.0, Aggregate::Mean),
        );
        assert!(e.passed, "mean 4 reaches 4");
        let e = verdict(
            "g",
            &grades(&[5.0, 3.0, 3.0]),
            &grading(RANGE, 4.0, Aggregate::Majority),
        );
        assert!(!e.passed, "1 of 3 reach 4");

        let one = Grading {
            samples: 1,
            ..grading(RANGE, 4.0, Aggregate::Mean)
        };
        let e = verdict("g", &grades(&[4.0]), &one);
        assert_eq!(e.message, "judge `g` graded 4: r4");
        assert!(e.passed);
        assert_eq!(e.score, 0.75);
    }

    #[test]
    fn the_built_in_prompts_compile_and_render() {
        for (text, name) in [
            (RUBRIC_PROMPT, "rubric"),
            (REFERENCE_PROMPT, "reference"),
            (PAIRWISE_PROMPT, "pairwise"),
        ] {
            let t = PromptTemplate::new(text.to_string(), name.into(), None).unwrap();
            let out = t
                .render(&serde_json::json!({
                    "input": "Q?", "output": "A <b>&", "rubric": "R", "reference": "REF",
                    "golden": "G", "pass_fail": false, "min": 1, "max": 5,
                }))
                .unwrap();
            assert!(out.contains("A <b>&"), "not escaped: {out}");
            assert!(out.contains("Q?"), "{out}");
        }
    }

    #[test]
    fn config_errors_name_the_fix() {
        use crate::check::testutil::errors;
        let e = errors("- judge: {scale: [1, 5], min_score: 4}\n");
        assert!(e[0].contains("needs a `rubric`"), "{e:?}");
        let e = errors("- judge: {rubric: r, scale: [1, 5]}\n");
        assert_eq!(e, vec!["a judge with `scale: [1, 5]` needs `min_score`"]);
        let e = errors("- judge: {rubric: r, min_score: 4}\n");
        assert_eq!(e, vec!["`min_score` applies to a numeric `scale` only"]);
        let e = errors("- judge: {rubric: r, scale: [5, 1], min_score: 4}\n");
        assert_eq!(e, vec!["scale [5, 1] must go from low to high"]);
        let e = errors("- judge: {rubric: r, aggregate: majorty}\n");
        assert_eq!(e, vec!["unknown aggregate `majorty`"]);
        let e = errors("- judge: {rubric: r, samples: 0}\n");
        assert!(e[0].contains("`samples`"), "{e:?}");
        let e = errors("- judge: {rubric: r, provider: \"\"}\n");
        assert_eq!(e, vec!["`provider` is empty"]);
        let e = errors("- judge: {rubric: r, rubrik: x}\n");
        assert!(e[0].contains("rubrik"), "{e:?}");
    }
}

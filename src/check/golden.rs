//! `golden`: compare the output with its reviewed reference under `golden/`.
//!
//! ```yaml
//! checks:
//!   - golden                       # suite defaults (or exact)
//!   - golden: {mode: normalized, redact: [{regex: '\d{4}-\d{2}-\d{2}', with: '[DATE]'}]}
//! ```
//!
//! What happens on a mismatch or a missing golden depends on the run's
//! `--update-golden` mode (see `golden::Writes`).
//!
//! In `judge` mode an output that differs from its golden after
//! normalizing is graded by a model with the pairwise prompt ("does the new
//! answer say the same as the reviewed one?"); a grader that fails is an
//! `error` of the check.

use super::judge::{grade, question, Aggregate, Grading, PromptTemplate, Scale};
use super::{Check, Eval, EvalCtx, Evaluation, ProviderRef};
use crate::error::display_path;
use crate::golden::file::{Golden as GoldenFile, Header};
use crate::golden::store::Store;
use crate::golden::{diff, Mode, Settings, Writes};
use crate::syntax::decode::Ctx;
use crate::syntax::node::{Node, Value};

/// What the golden check needs to know about the attempt.
#[derive(Debug, Clone, Copy)]
pub struct GoldenCtx<'a> {
    pub store: &'a Store,
    pub suite: &'a str,
    pub case: &'a str,
    pub provider: &'a str,
    /// The prompt variant of the case, if any (`per_variant` goldens).
    pub variant: Option<&'a str>,
    /// The conversation turn (1-based) of a case with `turns:`: each turn
    /// has its own golden.
    pub turn: Option<usize>,
    pub model: Option<&'a str>,
    pub prompt_hash: &'a str,
    /// 1-based repeat index: only repeat 1 writes files.
    pub repeat: u32,
}

#[derive(Debug)]
pub struct Golden {
    pub settings: Settings,
}

/// A diff against the raw text of a golden file that could not be read as one.
fn raw_diff(path: &std::path::Path, body: &str) -> String {
    let old = crate::util::fsafe::read_to_string(path, crate::util::fsafe::Kind::Golden, true)
        .unwrap_or_default();
    diff::unified(&old, &format!("{body}\n"))
}

impl Golden {
    /// The output differs from the golden (or the golden is unusable): apply
    /// the write policy and explain.
    #[allow(clippy::too_many_arguments)]
    fn differs(
        &self,
        g: &GoldenCtx<'_>,
        path: &std::path::Path,
        pending: &std::path::Path,
        writes: Writes,
        why: String,
        note: Option<&str>,
        d: String,
        score: f64,
        body: String,
    ) -> Eval {
        let shown = display_path(path);
        let note = note.map(|n| format!("; {n}")).unwrap_or_default();
        let action = match writes {
            Writes::All => match self.file(g, body).write(path) {
                Ok(()) => {
                    if pending.exists() {
                        let _ = std::fs::remove_file(pending);
                    }
                    let mut e = Eval::pass(format!(
                        "{why}: golden {shown} updated (--update-golden=always){note}"
                    ));
                    e.diff = Some(d);
                    return e;
                }
                Err(e) => format!("; updating the golden failed: {e}"),
            },
            Writes::Pending => match self.file(g, body).write(pending) {
                Ok(()) => format!(
                    "; wrote {} (review with `evalgate golden review`)",
                    display_path(pending)
                ),
                Err(e) => format!("; writing {} failed: {e}", display_path(pending)),
            },
            Writes::Missing | Writes::Nothing => String::new(),
        };
        let mut e = Eval::fail(format!("{why}{note}{action}"));
        e.score = score;
        e.diff = Some(d);
        e
    }

    pub fn parse(ctx: &mut Ctx<'_>, node: &Node) -> Option<Self> {
        let settings = match &node.value {
            Value::Bool(true) | Value::Null => ctx.default_of::<Settings>(),
            Value::Map(_) => Settings::parse(ctx, node, &ctx.default_of::<Settings>())?,
            _ => {
                ctx.error(
                    node.pos,
                    format!("`golden` takes `true` or a mapping of options, found {}", node.kind_name()),
                    Some("e.g. `golden: {mode: normalized}`; modes: exact, normalized, json, similarity, judge".into()),
                );
                return None;
            }
        };
        Some(Golden::with_defaults(ctx, settings))
    }

    /// The check with the suite's `defaults.extract_json` applied when its
    /// settings do not say.
    pub fn with_defaults(ctx: &Ctx<'_>, mut settings: Settings) -> Self {
        if settings.extract.is_none() {
            settings.extract = Some(ctx.default_of::<crate::util::extract::ExtractDefault>().0);
        }
        Golden { settings }
    }

    fn file(&self, g: &GoldenCtx<'_>, body: String) -> GoldenFile {
        GoldenFile {
            header: Header {
                suite: g.suite.to_string(),
                case: golden_case(g, self.settings.per_variant),
                provider: g.provider.to_string(),
                model: g.model.map(str::to_string),
                prompt_hash: g.prompt_hash.to_string(),
            },
            body,
        }
    }
}

/// The golden's case name: the case, `case@variant` with `per_variant`,
/// and `#turn` for a turn of a conversation.
pub(crate) fn golden_case(g: &GoldenCtx<'_>, per_variant: bool) -> String {
    let mut case = g.case.to_string();
    if let (true, Some(v)) = (per_variant, g.variant) {
        case.push('@');
        case.push_str(v);
    }
    if let Some(t) = g.turn {
        case.push('#');
        case.push_str(&t.to_string());
    }
    case
}

/// Whether two bodies differ only by one side ending in one more newline.
fn only_a_trailing_newline(golden: &str, output: &str) -> bool {
    let longer_by_newline = |a: &str, b: &str| {
        a.strip_suffix('\n')
            .map(|a| a.strip_suffix('\r').unwrap_or(a))
            .is_some_and(|a| a == b)
    };
    longer_by_newline(golden, output) || longer_by_newline(output, golden)
}

impl Golden {
    /// `judge` mode: the grader's verdict on an output that differs from
    /// its golden after normalizing (`None` when no grade is needed: no
    /// golden yet, an unreadable one, or equal texts).
    async fn judged(&self, input: &EvalCtx<'_>) -> Option<Eval> {
        let g = input.golden.as_ref()?;
        let s = &self.settings;
        let provider = s.per_provider.then_some(g.provider);
        let path = g.store.path_for(g.suite, g.case, provider, s.ext());
        let existing = GoldenFile::read(&path).ok()??;
        let cmp = s.compare(&existing.body, &s.body_for(input.output)).ok()?;
        if cmp.equal {
            return None;
        }
        let prompt = PromptTemplate::pairwise();
        let vars = serde_json::json!({
            "input": question(input),
            "golden": cmp.expected_view,
            "output": cmp.actual_view,
            "vars": input.vars,
        });
        let prompt = match prompt.render(&vars) {
            Ok(p) => p,
            Err(e) => {
                return Some(Eval::error(format!(
                    "cannot render the pairwise prompt: {e}"
                )))
            }
        };
        Some(
            grade(
                input,
                Grading {
                    provider: &s.judge_provider,
                    prompt,
                    scale: Scale::PassFail,
                    min_score: 1.0,
                    samples: s.judge_samples,
                    aggregate: Aggregate::Majority,
                    call: input.check_call_id("golden"),
                },
            )
            .await,
        )
    }

    fn verdict(&self, input: &EvalCtx<'_>, judged: Option<&Eval>) -> Eval {
        let Some(g) = &input.golden else {
            return Eval::fail(
                "golden check without a golden store (internal: not run by the runner)",
            );
        };
        let s = &self.settings;
        let provider = s.per_provider.then_some(g.provider);
        let case = golden_case(g, s.per_variant);
        let path = g.store.path_for(g.suite, &case, provider, s.ext());
        let pending = Store::pending_path(&path);
        let body = s.body_for(input.output);
        let shown = display_path(&path);
        // Only the first repeat writes or removes files: repeats run
        // concurrently and must not race on the same golden.
        let writes = if g.repeat == 1 {
            g.store.writes
        } else {
            Writes::Nothing
        };
        let drop_pending = || {
            if writes != Writes::Nothing && pending.exists() {
                let _ = std::fs::remove_file(&pending);
            }
        };
        let existing = match GoldenFile::read(&path) {
            Ok(Some(e)) => e,
            Ok(None) => {
                return match writes {
                    Writes::Missing | Writes::All => match self.file(g, body).write(&path) {
                        Ok(()) => {
                            drop_pending();
                            Eval::pass(format!("no golden yet: wrote {shown}"))
                        }
                        Err(e) => Eval::fail(format!("no golden yet, and writing {shown} failed: {e}")),
                    },
                    Writes::Pending => match self.file(g, body).write(&pending) {
                        Ok(()) => Eval::fail(format!(
                            "no golden yet: wrote {}; accept it with `evalgate golden review` or `evalgate golden accept`",
                            display_path(&pending)
                        )),
                        Err(e) => Eval::fail(format!("no golden yet, and writing {} failed: {e}", display_path(&pending))),
                    },
                    Writes::Nothing if g.store.writes != Writes::Nothing => Eval::fail(format!(
                        "no golden at {shown} (goldens are written from repeat 1 only)"
                    )),
                    Writes::Nothing => Eval::fail(format!(
                        "no golden at {shown}; create it locally with `evalgate run --update-golden=new` (or run, then `evalgate golden accept`) and commit it"
                    )),
                };
            }
            // An unreadable golden is a difference, not a dead end: it can be replaced.
            Err(e) => {
                return self.differs(
                    g,
                    &path,
                    &pending,
                    writes,
                    e,
                    None,
                    raw_diff(&path, &body),
                    0.0,
                    body,
                )
            }
        };
        let cmp = match s.compare(&existing.body, input.output) {
            // judge mode: the grader decides about texts that differ.
            Ok(mut c) => {
                if let (false, Some(j)) = (c.equal, judged) {
                    c.equal = j.passed;
                    c.score = j.score;
                    c.note = Some(j.message.clone());
                }
                c
            }
            Err(e) => {
                let d = diff::unified(&format!("{}\n", existing.body), &format!("{body}\n"));
                let why = format!(
                    "cannot compare with {shown} ({} mode): {e}",
                    s.mode.as_str()
                );
                return self.differs(g, &path, &pending, writes, why, None, d, 0.0, body);
            }
        };
        if cmp.equal {
            drop_pending();
            let mut e = Eval::pass(format!(
                "output matches {shown} ({}{})",
                s.mode.as_str(),
                cmp.note.map(|n| format!(", {n}")).unwrap_or_default()
            ));
            e.score = cmp.score;
            return e;
        }
        let mut d = diff::unified(
            &format!("{}\n", cmp.expected_view),
            &format!("{}\n", cmp.actual_view),
        );
        if d.is_empty() {
            d = "(the difference is not visible line by line)\n".to_string();
        }
        let stale =
            !existing.header.prompt_hash.is_empty() && existing.header.prompt_hash != g.prompt_hash;
        let why = format!(
            "output differs from {shown} ({} mode{})",
            s.mode.as_str(),
            cmp.note.map(|n| format!(", {n}")).unwrap_or_default()
        );
        let mut notes = Vec::new();
        if stale {
            notes.push("note: the prompt changed since this golden was accepted, so the golden may be stale rather than the output wrong");
        }
        if only_a_trailing_newline(&existing.body, &body) {
            notes.push("note: they differ only in a trailing newline; a golden file's last newline is not part of the output (evalgate adds one when writing and strips one when reading), so an output that ends in a newline needs an empty last line in the golden");
        }
        let note = (!notes.is_empty()).then(|| notes.join("; "));
        self.differs(
            g,
            &path,
            &pending,
            writes,
            why,
            note.as_deref(),
            d,
            cmp.score,
            body,
        )
    }
}

impl Check for Golden {
    fn evaluate<'a>(&'a self, ctx: &'a EvalCtx<'a>) -> Evaluation<'a> {
        if self.settings.mode != Mode::Judge {
            return Evaluation::Ready(self.verdict(ctx, None));
        }
        Evaluation::Pending(Box::pin(async move {
            match self.judged(ctx).await {
                Some(j) if j.error => j,
                judged => self.verdict(ctx, judged.as_ref()),
            }
        }))
    }

    fn golden(&self) -> Option<&Settings> {
        Some(&self.settings)
    }

    fn providers(&self) -> Vec<ProviderRef> {
        if self.settings.mode != Mode::Judge {
            return Vec::new();
        }
        vec![ProviderRef {
            name: self.settings.judge_provider.clone(),
            pos: self.settings.judge_pos,
            embeddings: false,
        }]
    }
}

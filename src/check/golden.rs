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

use super::{Check, CheckInput, Eval};
use crate::config::decode::Ctx;
use crate::config::node::{Node, Value};
use crate::golden::file::{Golden as GoldenFile, Header};
use crate::golden::store::{show, Store};
use crate::golden::{diff, Settings, Writes};

/// What the golden check needs to know about the attempt.
#[derive(Debug, Clone, Copy)]
pub struct GoldenCtx<'a> {
    pub store: &'a Store,
    pub suite: &'a str,
    pub case: &'a str,
    pub provider: &'a str,
    pub model: Option<&'a str>,
    pub prompt_hash: &'a str,
}

#[derive(Debug)]
pub struct Golden {
    pub settings: Settings,
}

impl Golden {
    pub fn parse(ctx: &mut Ctx<'_>, node: &Node) -> Option<Self> {
        let settings = match &node.value {
            Value::Bool(true) | Value::Null => ctx.golden_defaults.clone(),
            Value::Map(_) => Settings::parse(ctx, node, &ctx.golden_defaults.clone())?,
            _ => {
                ctx.error(
                    node.pos,
                    format!("`golden` takes `true` or a mapping of options, found {}", node.kind_name()),
                    Some("e.g. `golden: {mode: normalized}`; modes: exact, normalized, json, similarity".into()),
                );
                return None;
            }
        };
        Some(Golden { settings })
    }

    fn file(&self, g: &GoldenCtx<'_>, body: String) -> GoldenFile {
        GoldenFile {
            header: Header {
                suite: g.suite.to_string(),
                case: g.case.to_string(),
                provider: g.provider.to_string(),
                model: g.model.map(str::to_string),
                prompt_hash: g.prompt_hash.to_string(),
                accepted_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            },
            body,
        }
    }
}

impl Check for Golden {
    fn evaluate(&self, input: &CheckInput<'_>) -> Eval {
        let Some(g) = &input.golden else {
            return Eval::fail(
                "golden check without a golden store (internal: not run by the runner)",
            );
        };
        let s = &self.settings;
        let provider = s.per_provider.then_some(g.provider);
        let path = g.store.path_for(g.suite, g.case, provider, s.ext());
        let pending = Store::pending_path(&path);
        let body = s.body_for(input.output);
        let shown = show(&path);
        let existing = match GoldenFile::read(&path) {
            Ok(e) => e,
            Err(e) => return Eval::fail(e),
        };
        let Some(existing) = existing else {
            return match g.store.writes {
                Writes::Missing | Writes::All => match self.file(g, body).write(&path) {
                    Ok(()) => Eval::pass(format!("no golden yet: wrote {shown}")),
                    Err(e) => Eval::fail(format!("no golden yet, and writing {shown} failed: {e}")),
                },
                Writes::Pending => match self.file(g, body).write(&pending) {
                    Ok(()) => Eval::fail(format!(
                        "no golden yet: wrote {}; accept it with `evalgate golden review` or `evalgate golden accept`",
                        show(&pending)
                    )),
                    Err(e) => Eval::fail(format!("no golden yet, and writing {} failed: {e}", show(&pending))),
                },
                Writes::Nothing => Eval::fail(format!(
                    "no golden at {shown}; create it locally with `evalgate run --update-golden=new` (or run, then `evalgate golden accept`) and commit it"
                )),
            };
        };
        let cmp = match s.compare(&existing.body, &body) {
            Ok(c) => c,
            Err(e) => {
                return Eval::fail(format!(
                    "cannot compare with {shown} ({} mode): {e}",
                    s.mode.as_str()
                ))
            }
        };
        let stale = (!existing.header.prompt_hash.is_empty() && existing.header.prompt_hash != g.prompt_hash)
            .then_some("; note: the prompt changed since this golden was accepted, so the golden may be stale rather than the output wrong");
        if cmp.equal {
            // A pending change that no longer differs is obsolete.
            if g.store.writes == Writes::Pending && pending.exists() {
                let _ = std::fs::remove_file(&pending);
            }
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
        let action = match g.store.writes {
            Writes::All => match self.file(g, body).write(&path) {
                Ok(()) => {
                    let mut e = Eval::pass(format!(
                        "output differed from {shown}: golden updated (--update-golden=always)"
                    ));
                    e.diff = Some(d);
                    return e;
                }
                Err(e) => format!("; updating the golden failed: {e}"),
            },
            Writes::Pending => match self.file(g, body).write(&pending) {
                Ok(()) => format!(
                    "; wrote {} (review with `evalgate golden review`)",
                    show(&pending)
                ),
                Err(e) => format!("; writing {} failed: {e}", show(&pending)),
            },
            Writes::Missing | Writes::Nothing => String::new(),
        };
        let mut e = Eval::fail(format!(
            "output differs from {shown} ({} mode{}){}{action}",
            s.mode.as_str(),
            cmp.note.map(|n| format!(", {n}")).unwrap_or_default(),
            stale.unwrap_or("")
        ));
        e.score = cmp.score;
        e.diff = Some(d);
        e
    }

    fn golden(&self) -> Option<&Settings> {
        Some(&self.settings)
    }
}

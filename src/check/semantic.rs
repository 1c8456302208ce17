//! `similar`: the cosine similarity of the output's and a reference's
//! embeddings, from an `openai` provider with `embeddings_model`.
//!
//! ```yaml
//! checks:
//!   - similar: {value: "Paris is the capital of France.", min: 0.85, provider: embedder}
//! ```
//!
//! One request per check and attempt embeds both texts (`input: [output,
//! value]`) under the call id `checks[<index>].similar`, through the
//! provider registry: the vectors are cached, recorded and replayed like
//! any answer. An embedder that fails is an `error` of the check.

use super::{Arg, Check, Eval, EvalCtx, Evaluation, ProviderRef};
use crate::error::Pos;
use crate::provider::{Format, Message, Request};
use crate::syntax::decode::Ctx;
use crate::syntax::node::Node;

#[derive(Debug)]
pub(super) struct Similar {
    value: Arg,
    min: f64,
    provider: String,
    pos: Pos,
}

/// Cosine similarity of two vectors of the same length; None when either
/// has no length (all zeros) or the lengths differ.
pub(crate) fn cosine(a: &[f64], b: &[f64]) -> Option<f64> {
    if a.len() != b.len() || a.is_empty() {
        return None;
    }
    let (mut dot, mut na, mut nb) = (0.0, 0.0, 0.0);
    for (x, y) in a.iter().zip(b) {
        dot += x * y;
        na += x * x;
        nb += y * y;
    }
    let norm = na.sqrt() * nb.sqrt();
    (norm > 0.0 && norm.is_finite()).then(|| (dot / norm).clamp(-1.0, 1.0))
}

/// The keys of `similar:`.
pub(super) const KEYS: &[&str] = &["value", "min", "provider"];

impl Similar {
    pub(super) fn parse(ctx: &mut Ctx<'_>, node: &Node) -> Option<Self> {
        let f = ctx.map(node, "`similar`", KEYS)?;
        let value = ctx.require(&f, "value", "`similar`")?;
        let value = ctx.scalar_string(value, "`value`")?;
        let min = match f.get("min") {
            Some(n) => ctx.number(n, "`min`", -1.0, 1.0)?,
            None => {
                ctx.error(
                    f.pos,
                    "`similar` needs `min`, the lowest passing cosine similarity",
                    Some("e.g. `similar: {value: \"…\", min: 0.85, provider: embedder}`".into()),
                );
                return None;
            }
        };
        let Some(p) = f.get("provider") else {
            ctx.error(
                f.pos,
                "`similar` needs `provider`: an `openai` provider with `embeddings_model`",
                Some("e.g. `similar: {value: \"…\", min: 0.85, provider: embedder}`".into()),
            );
            return None;
        };
        let provider = ctx.string(p, "`provider`")?;
        Some(Similar {
            value: Arg::new(value),
            min,
            provider,
            pos: p.pos,
        })
    }
}

/// The two vectors of an embeddings answer (a JSON array of vectors).
fn two_vectors(text: &str) -> Result<(Vec<f64>, Vec<f64>), String> {
    let mut vectors: Vec<Vec<f64>> = serde_json::from_str(text)
        .map_err(|e| format!("the embeddings are not a list of vectors: {e}"))?;
    if vectors.len() != 2 {
        return Err(format!("expected 2 embeddings, got {}", vectors.len()));
    }
    let b = vectors.pop().unwrap_or_default();
    let a = vectors.pop().unwrap_or_default();
    Ok((a, b))
}

impl Check for Similar {
    fn evaluate<'a>(&'a self, ctx: &'a EvalCtx<'a>) -> Evaluation<'a> {
        Evaluation::Pending(Box::pin(async move {
            let reference = match ctx.resolve(&self.value) {
                Ok(v) => v.into_owned(),
                Err(e) => return Eval::error(format!("could not render `value`: {e}")),
            };
            if ctx.output.trim().is_empty() {
                return Eval::fail("the output is empty: nothing to compare");
            }
            let (Some(providers), Some(attempt)) = (ctx.providers, ctx.attempt) else {
                return Eval::error(
                    "`similar` needs a run's providers (internal: not run by the runner)",
                );
            };
            let Some((name, provider)) = providers.resolve(&self.provider) else {
                return Eval::error(format!(
                    "provider `{}` is not built for this run",
                    self.provider
                ));
            };
            let text = |content: &str| Message::new("user", content);
            let request = Request {
                suite: attempt.suite.to_string(),
                case_id: attempt.case.to_string(),
                repeat: attempt.repeat,
                messages: vec![text(ctx.output), text(&reference)],
                timeout: ctx.timeout,
                vars: serde_json::Value::Null,
                call: ctx.check_call_id("similar").into(),
                format: Format::Embeddings,
                observer: None,
            };
            let response = match provider.complete(&request).await {
                Ok(r) => r,
                Err(e) => return Eval::error(format!("embedder `{name}` failed: {e}")),
            };
            ctx.record_call(name, &response);
            let (a, b) = match two_vectors(&response.text) {
                Ok(v) => v,
                Err(e) => return Eval::error(format!("embedder `{name}`: {e}")),
            };
            let Some(sim) = cosine(&a, &b) else {
                return Eval::error(format!(
                    "embedder `{name}` returned vectors of lengths {} and {} (or all zeros): no cosine similarity",
                    a.len(),
                    b.len()
                ));
            };
            let message = format!(
                "cosine similarity {sim:.4} to the reference ({} {:.4}, embedder `{name}`)",
                if sim + 1e-12 >= self.min { "≥" } else { "<" },
                self.min
            );
            let mut e = if sim + 1e-12 >= self.min {
                Eval::pass(message)
            } else {
                Eval::fail(message)
            };
            e.score = sim.clamp(0.0, 1.0);
            e.with_expected(format!("similarity ≥ {} to: {reference}", self.min))
                .with_actual(format!("{sim:.4}"))
        }))
    }

    fn templates(&self) -> Vec<&str> {
        self.value.template().into_iter().collect()
    }

    fn providers(&self) -> Vec<ProviderRef> {
        vec![ProviderRef {
            name: self.provider.clone(),
            pos: Some(self.pos),
            embeddings: true,
        }]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cosine_similarity() {
        assert_eq!(cosine(&[1.0, 0.0], &[1.0, 0.0]), Some(1.0));
        assert_eq!(cosine(&[1.0, 0.0], &[0.0, 2.0]), Some(0.0));
        assert!(
            (cosine(&[1.0, 1.0], &[1.0, 0.0]).unwrap() - std::f64::consts::FRAC_1_SQRT_2).abs()
                < 1e-9
        );
        assert_eq!(cosine(&[1.0], &[1.0, 0.0]), None);
        assert_eq!(cosine(&[0.0, 0.0], &[1.0, 0.0]), None);
        assert_eq!(cosine(&[], &[]), None);
    }

    #[test]
    fn embeddings_answers_hold_two_vectors() {
        assert_eq!(
            two_vectors("[[1,2],[3,4]]").unwrap(),
            (vec![1.0, 2.0], vec![3.0, 4.0])
        );
        assert_eq!(
            two_vectors("[[1,2]]").unwrap_err(),
            "expected 2 embeddings, got 1"
        );
        assert!(two_vectors("nope")
            .unwrap_err()
            .starts_with("the embeddings are not"));
    }

    #[test]
    fn an_empty_output_fails_and_no_embedder_is_an_error() {
        use crate::check::testutil::{check, run};
        let c = check("- similar: {value: x, min: 0.5, provider: e}\n");
        let r = run(&c, "  ", serde_json::json!({}));
        assert!(!r.passed && !r.error, "{r:?}");
        assert_eq!(r.message, "the output is empty: nothing to compare");
        let r = run(&c, "text", serde_json::json!({}));
        assert!(r.error, "{r:?}");
        // Negation does not turn an error into a pass.
        let c = check("- similar: {value: x, min: 0.5, provider: e}\n  not: true\n");
        let r = run(&c, "text", serde_json::json!({}));
        assert!(r.error && !r.passed, "{r:?}");
    }

    #[test]
    fn config_errors_name_the_fix() {
        use crate::check::testutil::errors;
        assert_eq!(
            errors("- similar: {value: x, provider: e}\n"),
            vec!["`similar` needs `min`, the lowest passing cosine similarity"]
        );
        assert_eq!(
            errors("- similar: {value: x, min: 0.8}\n"),
            vec!["`similar` needs `provider`: an `openai` provider with `embeddings_model`"]
        );
        assert!(errors("- similar: {value: x, min: 2, provider: e}\n")[0].contains("`min`"));
    }
}

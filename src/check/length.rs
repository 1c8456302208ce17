//! `length`: bounds on the number of characters and words of the output.

use super::{Eval, EvalCtx, SyncCheck};
use crate::syntax::decode::Ctx;
use crate::syntax::node::Node;

#[derive(Debug, Default)]
pub(super) struct Length {
    min_chars: Option<u64>,
    max_chars: Option<u64>,
    min_words: Option<u64>,
    max_words: Option<u64>,
}

/// The keys of `length:`.
pub(super) const KEYS: &[&str] = &["min_chars", "max_chars", "min_words", "max_words"];

impl Length {
    pub(super) fn parse(ctx: &mut Ctx<'_>, node: &Node) -> Option<Self> {
        let f = ctx.map(node, "`length`", KEYS)?;
        let mut get = |k: &str| {
            f.get(k)
                .and_then(|n| ctx.uint(n, &format!("`{k}`"), 0, u64::MAX >> 1))
        };
        let l = Length {
            min_chars: get("min_chars"),
            max_chars: get("max_chars"),
            min_words: get("min_words"),
            max_words: get("max_words"),
        };
        if f.entries.is_empty() {
            ctx.error(
                node.pos,
                "`length` needs at least one bound",
                Some("use min_chars, max_chars, min_words or max_words".into()),
            );
            return None;
        }
        for (lo, hi, what) in [
            (l.min_chars, l.max_chars, "chars"),
            (l.min_words, l.max_words, "words"),
        ] {
            if let (Some(lo), Some(hi)) = (lo, hi) {
                if lo > hi {
                    ctx.error(
                        node.pos,
                        format!("`min_{what}` ({lo}) is greater than `max_{what}` ({hi})"),
                        None,
                    );
                    return None;
                }
            }
        }
        Some(l)
    }
}

impl SyncCheck for Length {
    fn verdict(&self, input: &EvalCtx<'_>) -> Eval {
        let chars = input.output.chars().count() as u64;
        let words = input.output.split_whitespace().count() as u64;
        let mut problems = Vec::new();
        let mut bounds = Vec::new();
        let mut test = |v: u64, lo: Option<u64>, hi: Option<u64>, unit: &str| {
            if let Some(lo) = lo {
                bounds.push(format!("at least {lo} {unit}"));
                if v < lo {
                    problems.push(format!("{v} {unit} < {lo}"));
                }
            }
            if let Some(hi) = hi {
                bounds.push(format!("at most {hi} {unit}"));
                if v > hi {
                    problems.push(format!("{v} {unit} > {hi}"));
                }
            }
        };
        test(chars, self.min_chars, self.max_chars, "chars");
        test(words, self.min_words, self.max_words, "words");
        let actual = format!("{chars} chars, {words} words");
        if problems.is_empty() {
            Eval::pass(format!("output length is within bounds ({actual})"))
        } else {
            Eval::fail(format!(
                "output length out of bounds: {}",
                problems.join(", ")
            ))
            .with_expected(bounds.join(", "))
            .with_actual(actual)
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::check::testutil::*;
    use serde_json::json;

    #[test]
    fn bounds() {
        let c = check("- length: {min_words: 2, max_chars: 10}\n");
        assert!(run(&c, "two words", json!({})).passed);
        let r = run(&c, "one", json!({}));
        assert!(
            !r.passed && r.message.contains("1 words < 2"),
            "{}",
            r.message
        );
        assert!(!run(&c, "this is far too long", json!({})).passed);
        assert!(errors("- length: {min_chars: 5, max_chars: 2}\n")[0].contains("greater than"));
        assert!(errors("- length: {max_lines: 2}\n")[0].contains("unknown key `max_lines`"));
    }
}

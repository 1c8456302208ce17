//! `levenshtein`: edit distance to a reference, as a maximum distance or a
//! minimum similarity (1 - distance / longer length).

use super::{Arg, Eval, EvalCtx, SyncCheck};
use crate::syntax::decode::Ctx;
use crate::syntax::node::Node;
use crate::util::text::truncate_chars;

#[derive(Debug)]
enum Bound {
    MaxDistance(u64),
    MinSimilarity(f64),
}

#[derive(Debug)]
pub(super) struct Levenshtein {
    value: Arg,
    bound: Bound,
}

/// The keys of `levenshtein:`.
pub(super) const KEYS: &[&str] = &["value", "max_distance", "min_similarity"];

impl Levenshtein {
    pub(super) fn parse(ctx: &mut Ctx<'_>, node: &Node) -> Option<Self> {
        let f = ctx.map(node, "`levenshtein`", KEYS)?;
        let value = ctx.require(&f, "value", "`levenshtein`")?;
        let value = ctx.scalar_string(value, "`value`")?;
        let bound = match (f.get("max_distance"), f.get("min_similarity")) {
            (Some(d), None) => {
                Bound::MaxDistance(ctx.uint(d, "`max_distance`", 0, u64::MAX >> 1)?)
            }
            (None, Some(s)) => Bound::MinSimilarity(ctx.number(s, "`min_similarity`", 0.0, 1.0)?),
            _ => {
                ctx.error(
                    node.pos,
                    "`levenshtein` takes exactly one of `max_distance` or `min_similarity`",
                    None,
                );
                return None;
            }
        };
        Some(Levenshtein {
            value: Arg::new(value),
            bound,
        })
    }
}

impl SyncCheck for Levenshtein {
    fn verdict(&self, input: &EvalCtx<'_>) -> Eval {
        let reference = match input.resolve(&self.value) {
            Ok(v) => v,
            Err(e) => return Eval::fail(format!("could not render the expected value: {e}")),
        };
        use crate::util::levenshtein::{distance, Distance};
        let longest = reference
            .chars()
            .count()
            .max(input.output.chars().count())
            .max(1) as f64;
        // The bound caps the work: past it the exact distance does not matter.
        let max = match self.bound {
            Bound::MaxDistance(max) => max,
            Bound::MinSimilarity(min) => ((1.0 - min) * longest).floor() as u64,
        };
        let (shown, distance) = match distance(&reference, input.output, Some(max)) {
            Distance::Exact(d) => (d.to_string(), d),
            Distance::AtLeast(d) => (format!("more than {max}"), d),
            Distance::TooLong => {
                return Eval::fail(format!(
                    "the texts are too long to compare ({} and {} characters; at most {} 64-character blocks × characters)",
                    reference.chars().count(),
                    input.output.chars().count(),
                    crate::util::levenshtein::MAX_BLOCK_STEPS
                ))
            }
        };
        let similarity = (1.0 - distance as f64 / longest).max(0.0);
        let (passed, bound) = match self.bound {
            Bound::MaxDistance(max) => (distance <= max, format!("distance <= {max}")),
            Bound::MinSimilarity(min) => (similarity >= min, format!("similarity >= {min}")),
        };
        let msg = format!("edit distance {shown}, similarity {similarity:.3} (required {bound})");
        let mut eval = if passed {
            Eval::pass(msg)
        } else {
            Eval::fail(msg)
        };
        eval.score = similarity;
        if !passed {
            eval = eval
                .with_expected(truncate_chars(&reference, 200))
                .with_actual(truncate_chars(input.output, 200));
        }
        eval
    }

    fn templates(&self) -> Vec<&str> {
        self.value.template().into_iter().collect()
    }
}

#[cfg(test)]
mod tests {
    use crate::check::testutil::*;
    use serde_json::json;

    #[test]
    fn distance_and_similarity() {
        let c = check("- levenshtein: {value: kitten, max_distance: 3}\n");
        let r = run(&c, "sitting", json!({}));
        assert!(r.passed, "{}", r.message);
        assert!(
            !run(
                &check("- levenshtein: {value: kitten, max_distance: 2}\n"),
                "sitting",
                json!({})
            )
            .passed
        );
        let r = run(
            &check("- levenshtein: {value: abcd, min_similarity: 0.75}\n"),
            "abce",
            json!({}),
        );
        // A passing check scores 1; the similarity is in the message.
        assert!(r.passed && r.score == 1.0, "{r:?}");
        assert!(r.message.contains("similarity 0.750"), "{}", r.message);
        let r = run(
            &check(
                "- levenshtein: {value: abcd, min_similarity: 0.9}
",
            ),
            "abce",
            json!({}),
        );
        assert!(!r.passed && (r.score - 0.75).abs() < 1e-9, "{r:?}");
        assert!(errors("- levenshtein: {value: a}\n")[0].contains("exactly one of"));
    }
}

//! Text checks: equals, contains / icontains, regex, starts_with, ends_with.

use std::sync::Arc;

use regex::Regex;

use super::explain::{excerpt_around, first_difference};
use super::{Arg, Eval, EvalCtx, SyncCheck};
use crate::syntax::decode::Ctx;
use crate::syntax::node::{Node, Value};
use crate::util::text::{regex_error, truncate_chars};

const EXCERPT: usize = 40;
const SHOW: usize = 200;

fn arg_error(e: String) -> Eval {
    Eval::fail(format!("could not render the expected value: {e}"))
}

/// `equals: text` or `equals: {value, trim, ignore_case}`.
#[derive(Debug)]
pub(super) struct Equals {
    value: Arg,
    trim: bool,
    ignore_case: bool,
}

/// The keys of `equals:`'s mapping form.
pub(super) const EQUALS_KEYS: &[&str] = &["value", "trim", "ignore_case"];

impl Equals {
    pub(super) fn parse(ctx: &mut Ctx<'_>, node: &Node) -> Option<Self> {
        if let Value::Map(_) = node.value {
            let f = ctx.map(node, "`equals`", EQUALS_KEYS)?;
            let value = ctx.require(&f, "value", "`equals`")?;
            let value = ctx.scalar_string(value, "`equals.value`")?;
            let trim = f
                .get("trim")
                .and_then(|n| ctx.bool(n, "`trim`"))
                .unwrap_or(false);
            let ignore_case = f
                .get("ignore_case")
                .and_then(|n| ctx.bool(n, "`ignore_case`"))
                .unwrap_or(false);
            return Some(Equals {
                value: Arg::new(value),
                trim,
                ignore_case,
            });
        }
        let value = ctx.scalar_string(node, "`equals`")?;
        Some(Equals {
            value: Arg::new(value),
            trim: false,
            ignore_case: false,
        })
    }
}

impl SyncCheck for Equals {
    fn verdict(&self, input: &EvalCtx<'_>) -> Eval {
        let expected = match input.resolve(&self.value) {
            Ok(v) => v,
            Err(e) => return arg_error(e),
        };
        let (mut exp, mut out) = (expected.to_string(), input.output.to_string());
        if self.trim {
            exp = exp.trim().to_string();
            out = out.trim().to_string();
        }
        if self.ignore_case {
            exp = exp.to_lowercase();
            out = out.to_lowercase();
        }
        if exp == out {
            return Eval::pass("output equals the expected text");
        }
        let at = first_difference(&exp, &out);
        Eval::fail(format!(
            "output differs from the expected text at character {} (expected {} chars, got {})",
            at + 1,
            exp.chars().count(),
            out.chars().count()
        ))
        .with_expected(truncate_chars(&expected, SHOW))
        .with_actual(truncate_chars(input.output, SHOW))
        .with_excerpt(format!(
            "expected: {}\n     got: {}",
            excerpt_around(&exp, at, EXCERPT),
            excerpt_around(&out, at, EXCERPT)
        ))
    }

    fn templates(&self) -> Vec<&str> {
        self.value.template().into_iter().collect()
    }
}

/// `contains: text`, `contains: [a, b]` (all), `contains: {any: [...]}` or `{all: [...]}`.
#[derive(Debug)]
pub(super) struct Contains {
    values: Vec<Arg>,
    any: bool,
    ignore_case: bool,
    /// Written as a plain list of several values (`contains: [a, b]`),
    /// whose negation is ambiguous.
    list_form: bool,
    /// `contains` or `icontains`, for messages.
    key: &'static str,
}

/// The keys of `contains:`'s and `icontains:`'s mapping form.
pub(super) const CONTAINS_KEYS: &[&str] = &["any", "all"];

impl Contains {
    pub(super) fn parse(ctx: &mut Ctx<'_>, node: &Node, ignore_case: bool) -> Option<Self> {
        let what = if ignore_case {
            "`icontains`"
        } else {
            "`contains`"
        };
        let list_form = matches!(&node.value, Value::Seq(items) if items.len() > 1);
        let (list, any) = match &node.value {
            Value::Map(_) => {
                let f = ctx.map(node, what, CONTAINS_KEYS)?;
                match (f.get("any"), f.get("all")) {
                    (Some(n), None) => (ctx.string_list(n, "`any`")?, true),
                    (None, Some(n)) => (ctx.string_list(n, "`all`")?, false),
                    _ => {
                        ctx.error(
                            node.pos,
                            format!("{what} takes exactly one of `any` or `all`"),
                            None,
                        );
                        return None;
                    }
                }
            }
            Value::Seq(_) | Value::Str(_) => (ctx.string_list(node, what)?, false),
            _ => (vec![ctx.scalar_string(node, what)?], false),
        };
        if list.is_empty() {
            ctx.error(node.pos, format!("{what} needs at least one value"), None);
            return None;
        }
        Some(Contains {
            values: list.into_iter().map(Arg::new).collect(),
            any,
            ignore_case,
            list_form,
            key: if ignore_case { "icontains" } else { "contains" },
        })
    }
}

impl SyncCheck for Contains {
    fn verdict(&self, input: &EvalCtx<'_>) -> Eval {
        let haystack = if self.ignore_case {
            input.output.to_lowercase()
        } else {
            input.output.to_string()
        };
        let mut found = Vec::new();
        let mut missing = Vec::new();
        for v in &self.values {
            let v = match input.resolve(v) {
                Ok(v) => v.into_owned(),
                Err(e) => return arg_error(e),
            };
            let needle = if self.ignore_case {
                v.to_lowercase()
            } else {
                v.clone()
            };
            if haystack.contains(&needle) {
                found.push(v);
            } else {
                missing.push(v);
            }
        }
        let total = self.values.len() as f64;
        let quote = |v: &[String]| {
            v.iter()
                .map(|s| format!("{s:?}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let passed = if self.any {
            !found.is_empty()
        } else {
            missing.is_empty()
        };
        let score = if self.any {
            f64::from(u8::from(passed))
        } else {
            found.len() as f64 / total
        };
        let case = if self.ignore_case {
            " (ignoring case)"
        } else {
            ""
        };
        let mut eval = if passed {
            Eval::pass(format!("output contains {}{case}", quote(&found)))
        } else if self.any {
            Eval::fail(format!("output contains none of {}{case}", quote(&missing)))
        } else {
            Eval::fail(format!("output is missing {}{case}", quote(&missing)))
        };
        eval.score = score;
        if !passed {
            eval = eval
                .with_expected(format!(
                    "{} of {}",
                    if self.any { "any" } else { "all" },
                    quote(&missing)
                ))
                .with_actual(truncate_chars(input.output, SHOW));
        }
        eval
    }

    fn templates(&self) -> Vec<&str> {
        self.values.iter().filter_map(Arg::template).collect()
    }

    fn ambiguous_negation(&self) -> Option<(String, String)> {
        if !self.list_form {
            return None;
        }
        let k = self.key;
        let list = self
            .values
            .iter()
            .map(Arg::raw)
            .collect::<Vec<_>>()
            .join(", ");
        Some((
            format!(
                "`not: true` on `{k}: [{list}]` is ambiguous: none of them, or not all of them?"
            ),
            format!(
                "write `{k}: {{any: [{list}]}}` with `not: true` for \"contains none of them\", \
                 or `{k}: {{all: [{list}]}}` with `not: true` for \"does not contain all of them\""
            ),
        ))
    }
}

/// The compiled regex of `pattern`, shared by every check that uses the
/// same pattern: a suite of thousands of cases with one `regex:` holds one
/// regex, not one per case. Shared as one instance, not as clones: a clone
/// keeps its own matching caches (about 100 KB for a Unicode-aware pattern
/// once used), which thousands of cases would each keep.
pub(crate) fn shared_regex(pattern: &str) -> Result<Arc<Regex>, regex::Error> {
    static CACHE: std::sync::LazyLock<std::sync::Mutex<rustc_hash::FxHashMap<String, Arc<Regex>>>> =
        std::sync::LazyLock::new(Default::default);
    let mut cache = match CACHE.lock() {
        Ok(c) => c,
        // A panic while holding the lock left a consistent map: keep using it.
        Err(poisoned) => poisoned.into_inner(),
    };
    if let Some(re) = cache.get(pattern) {
        return Ok(re.clone());
    }
    let re = Arc::new(Regex::new(pattern)?);
    cache.insert(pattern.to_string(), Arc::clone(&re));
    Ok(re)
}

/// `regex: pattern` (Rust regex syntax; use `(?i)` for case-insensitive).
#[derive(Debug)]
pub(super) struct RegexCheck {
    source: Arg,
    compiled: Option<Arc<Regex>>,
}

impl RegexCheck {
    pub(super) fn parse(ctx: &mut Ctx<'_>, node: &Node) -> Option<Self> {
        let source = ctx.scalar_string(node, "`regex`")?;
        let arg = Arg::new(source.clone());
        let compiled = match &arg {
            Arg::Template(_) => None,
            Arg::Lit(s) => match shared_regex(s) {
                Ok(r) => Some(r),
                Err(e) => {
                    ctx.error(
                        node.pos,
                        format!("invalid regex {source:?}: {}", regex_error(&e)),
                        Some("use Rust regex syntax (https://docs.rs/regex); in YAML double quotes write \\\\ for a backslash, or use single quotes".into()),
                    );
                    return None;
                }
            },
        };
        Some(RegexCheck {
            source: arg,
            compiled,
        })
    }
}

impl SyncCheck for RegexCheck {
    fn verdict(&self, input: &EvalCtx<'_>) -> Eval {
        let owned;
        let re = match &self.compiled {
            Some(r) => r,
            None => {
                let src = match input.resolve(&self.source) {
                    Ok(s) => s,
                    Err(e) => return arg_error(e),
                };
                owned = match Regex::new(&src) {
                    Ok(r) => r,
                    Err(e) => {
                        return Eval::fail(format!(
                            "rendered regex {src:?} is invalid: {}",
                            regex_error(&e)
                        ))
                    }
                };
                &owned
            }
        };
        match re.find(input.output) {
            Some(m) => {
                let at = input.output[..m.start()].chars().count();
                Eval::pass(format!(
                    "output matches /{}/ at character {}: {:?}",
                    re.as_str(),
                    at + 1,
                    truncate_chars(m.as_str(), 60)
                ))
                .with_excerpt(excerpt_around(input.output, at, EXCERPT))
            }
            None => Eval::fail(format!("output does not match /{}/", re.as_str()))
                .with_expected(format!("/{}/", re.as_str()))
                .with_actual(truncate_chars(input.output, SHOW)),
        }
    }

    fn templates(&self) -> Vec<&str> {
        self.source.template().into_iter().collect()
    }
}

/// `starts_with: text` / `ends_with: text`.
#[derive(Debug)]
pub(super) struct Affix {
    value: Arg,
    start: bool,
}

impl Affix {
    pub(super) fn parse(ctx: &mut Ctx<'_>, node: &Node, start: bool) -> Option<Self> {
        let what = if start {
            "`starts_with`"
        } else {
            "`ends_with`"
        };
        let value = ctx.scalar_string(node, what)?;
        Some(Affix {
            value: Arg::new(value),
            start,
        })
    }
}

impl SyncCheck for Affix {
    fn verdict(&self, input: &EvalCtx<'_>) -> Eval {
        let v = match input.resolve(&self.value) {
            Ok(v) => v,
            Err(e) => return arg_error(e),
        };
        let (ok, side) = if self.start {
            (input.output.starts_with(v.as_ref()), "start")
        } else {
            (input.output.ends_with(v.as_ref()), "end")
        };
        if ok {
            return Eval::pass(format!("output {side}s with {v:?}"));
        }
        let n = v.chars().count();
        let chars: Vec<char> = input.output.chars().collect();
        let shown: String = if self.start {
            chars.iter().take(n + 10).collect()
        } else {
            chars[chars.len().saturating_sub(n + 10)..].iter().collect()
        };
        Eval::fail(format!("output does not {side} with {v:?}"))
            .with_expected(v.to_string())
            .with_actual(if self.start {
                format!("{shown}…")
            } else {
                format!("…{shown}")
            })
    }

    fn templates(&self) -> Vec<&str> {
        self.value.template().into_iter().collect()
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn checks_with_one_pattern_share_one_regex() {
        let a = super::shared_regex("(?i)capital of \\w+").unwrap();
        let b = super::shared_regex("(?i)capital of \\w+").unwrap();
        let c = super::shared_regex("(?i)other").unwrap();
        assert!(std::sync::Arc::ptr_eq(&a, &b));
        assert!(!std::sync::Arc::ptr_eq(&a, &c));
        assert!(super::shared_regex("(").is_err());
    }

    use crate::check::testutil::*;
    use serde_json::json;

    #[test]
    fn equals_explains_first_difference() {
        let c = check("- equals: Paris is nice\n");
        let r = run(&c, "Paris is nice", json!({}));
        assert!(r.passed);
        let r = run(&c, "Paris is mean", json!({}));
        assert!(!r.passed);
        assert!(r.message.contains("character 10"), "{}", r.message);
        assert!(r.excerpt.unwrap().contains("▶mean"));
        let c = check("- equals: {value: PARIS, trim: true, ignore_case: true}\n");
        assert!(run(&c, "  paris\n", json!({})).passed);
    }

    #[test]
    fn contains_all_any_and_icontains() {
        let c = check("- contains: [Paris, France]\n");
        let r = run(&c, "Paris!", json!({}));
        assert!(!r.passed);
        assert_eq!(r.score, 0.5);
        assert!(r.message.contains("\"France\""));
        let c = check("- contains: {any: [Lyon, Paris]}\n");
        assert!(run(&c, "Paris!", json!({})).passed);
        let c = check("- icontains: PARIS\n");
        assert!(run(&c, "paris!", json!({})).passed);
    }

    #[test]
    fn regex_and_affixes() {
        let c = check("- regex: '^\\d{4}-\\d{2}$'\n");
        assert!(run(&c, "2024-05", json!({})).passed);
        assert!(!run(&c, "May 2024", json!({})).passed);
        assert!(errors("- regex: '(unclosed'\n")[0].starts_with("invalid regex"));
        assert!(run(&check("- starts_with: Hello\n"), "Hello you", json!({})).passed);
        let r = run(&check("- ends_with: \"!\"\n"), "Hello you.", json!({}));
        assert!(!r.passed && r.actual.unwrap().ends_with("you."));
    }
}

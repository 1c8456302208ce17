//! What tokens cost: a provider's own `pricing:` in `evalgate.yaml`, else
//! the built-in table of public models ([`BUILTIN`]), looked up by the model
//! the response reports and then by the provider's configured model.
//!
//! ```yaml
//! providers:
//!   staging:
//!     type: openai
//!     model: my-finetune
//!     pricing: {input_per_million: 0.30, output_per_million: 1.20}
//! ```
//!
//! An answer without reported usage, or of a model without a price, has an
//! unknown cost: never zero.

use std::collections::BTreeMap;

use crate::config::provider::ProviderKind;
use crate::model::{AttemptResult, Usage};
use crate::syntax::decode::Ctx;
use crate::syntax::node::Node;

/// USD per million tokens.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Price {
    pub input_per_million: f64,
    pub output_per_million: f64,
}

impl Price {
    /// The cost of `usage` in USD.
    pub(crate) fn cost(&self, usage: &Usage) -> f64 {
        (usage.input_tokens as f64 * self.input_per_million
            + usage.output_tokens as f64 * self.output_per_million)
            / 1_000_000.0
    }
}

/// Published list prices (USD per million input / output tokens, as of
/// 2025-11-30; the README's table states the date too) of common
/// public models, standard tier, no batch or cache discounts. A model id
/// matches an entry when it is the entry, or the entry followed by a date
/// (`-2024-08-06`, `-20250514`) or `-latest`.
pub(crate) const BUILTIN: &[(&str, f64, f64)] = &[
    // OpenAI
    ("gpt-4o", 2.50, 10.00),
    ("gpt-4o-2024-05-13", 5.00, 15.00),
    ("gpt-4o-mini", 0.15, 0.60),
    ("gpt-4.1", 2.00, 8.00),
    ("gpt-4.1-mini", 0.40, 1.60),
    ("gpt-4.1-nano", 0.10, 0.40),
    ("gpt-5", 1.25, 10.00),
    ("gpt-5-mini", 0.25, 2.00),
    ("gpt-5-nano", 0.05, 0.40),
    ("gpt-4-turbo", 10.00, 30.00),
    ("gpt-3.5-turbo", 0.50, 1.50),
    ("o1", 15.00, 60.00),
    ("o1-mini", 1.10, 4.40),
    ("o1-pro", 150.00, 600.00),
    ("o3", 2.00, 8.00),
    ("o3-mini", 1.10, 4.40),
    ("o3-pro", 20.00, 80.00),
    ("o4-mini", 1.10, 4.40),
    // Anthropic
    ("claude-3-haiku", 0.25, 1.25),
    ("claude-3-opus", 15.00, 75.00),
    ("claude-3-5-haiku", 0.80, 4.00),
    ("claude-3-5-sonnet", 3.00, 15.00),
    ("claude-3-7-sonnet", 3.00, 15.00),
    ("claude-sonnet-4", 3.00, 15.00),
    ("claude-sonnet-4-0", 3.00, 15.00),
    ("claude-sonnet-4-5", 3.00, 15.00),
    ("claude-opus-4", 15.00, 75.00),
    ("claude-opus-4-0", 15.00, 75.00),
    ("claude-opus-4-1", 15.00, 75.00),
    ("claude-opus-4-5", 5.00, 25.00),
    ("claude-haiku-4-5", 1.00, 5.00),
];

/// A date suffix: `-YYYYMMDD`, `-YYYY-MM-DD`, or `-latest`.
fn is_version_suffix(rest: &str) -> bool {
    let Some(rest) = rest.strip_prefix('-') else {
        return false;
    };
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if rest == "latest" {
        return true;
    }
    if rest.len() == 8 && digits(rest) {
        return true;
    }
    let parts: Vec<&str> = rest.split('-').collect();
    matches!(parts.as_slice(), [y, m, d] if y.len() == 4 && m.len() == 2 && d.len() == 2 && digits(y) && digits(m) && digits(d))
}

/// The built-in price of `model` (exact id first, then an entry plus a
/// date or `-latest`). A model whose first letter starts no entry (`mock`,
/// a local model) is rejected without a scan: this runs once per answer.
pub(crate) fn builtin(model: &str) -> Option<Price> {
    let first = *model.as_bytes().first()?;
    if !matches!(first, b'g' | b'o' | b'c') {
        return None;
    }
    let price = |&(_, i, o): &(&str, f64, f64)| Price {
        input_per_million: i,
        output_per_million: o,
    };
    let candidates = || {
        BUILTIN
            .iter()
            .filter(move |(name, _, _)| name.as_bytes().first() == Some(&first))
    };
    if let Some(e) = candidates().find(|(name, _, _)| *name == model) {
        return Some(price(e));
    }
    candidates()
        .filter(|(name, _, _)| model.strip_prefix(name).is_some_and(is_version_suffix))
        .max_by_key(|(name, _, _)| name.len())
        .map(price)
}

/// The keys of `pricing:`.
pub(crate) const KEYS: &[&str] = &["input_per_million", "output_per_million"];

/// Decode `pricing: {input_per_million: 2.5, output_per_million: 10}`.
pub(crate) fn decode(ctx: &mut Ctx<'_>, node: &Node) -> Option<Price> {
    let what = "`pricing`";
    let f = ctx.map(node, what, KEYS)?;
    let input = ctx.require(&f, "input_per_million", what).and_then(|n| {
        ctx.number(
            n,
            "`input_per_million` (USD per million input tokens)",
            0.0,
            1e9,
        )
    });
    let output = ctx.require(&f, "output_per_million", what).and_then(|n| {
        ctx.number(
            n,
            "`output_per_million` (USD per million output tokens)",
            0.0,
            1e9,
        )
    });
    Some(Price {
        input_per_million: input?,
        output_per_million: output?,
    })
}

/// Where a provider's price comes from.
#[derive(Debug, Clone, Default)]
struct ProviderPrice {
    /// Its own `pricing:` (wins over the table).
    configured: Option<Price>,
    /// The model of its definition, looked up in the table when the
    /// response reports none (or one the table does not know).
    model: Option<String>,
}

/// The prices of a run's providers, by provider name.
#[derive(Debug, Clone, Default)]
pub(crate) struct Pricing {
    providers: BTreeMap<String, ProviderPrice>,
}

impl Pricing {
    /// From the configured providers (a `replay` provider costs what the
    /// provider it replays costs).
    pub(crate) fn new(
        providers: &BTreeMap<String, crate::config::project::ProviderConfig>,
    ) -> Self {
        let own = |pc: &crate::config::project::ProviderConfig| ProviderPrice {
            configured: pc.pricing,
            model: match &pc.kind {
                ProviderKind::OpenAi(c) => Some(c.model.clone()),
                ProviderKind::Anthropic(c) => Some(c.model.clone()),
                ProviderKind::Mock { model, .. } => model.clone(),
                _ => None,
            },
        };
        let mut out = BTreeMap::new();
        for (name, pc) in providers {
            let p = match &pc.kind {
                ProviderKind::Replay(r) => providers.get(&r.of).map(own).unwrap_or_default(),
                _ => own(pc),
            };
            out.insert(name.clone(), p);
        }
        Pricing { providers: out }
    }

    /// The price of `provider`'s answers when the response reports `model`.
    pub(crate) fn price(&self, provider: &str, model: Option<&str>) -> Option<Price> {
        let p = self.providers.get(provider)?;
        p.configured
            .or_else(|| model.and_then(builtin))
            .or_else(|| p.model.as_deref().and_then(builtin))
    }

    /// Whether `provider` has a price before any answer: its `pricing:` or
    /// a configured model the table knows.
    pub(crate) fn known_upfront(&self, provider: &str) -> bool {
        self.providers.get(provider).is_some_and(|p| {
            p.configured.is_some() || p.model.as_deref().and_then(builtin).is_some()
        })
    }

    /// Fill in an attempt's cost: its answer's (`cost_usd`) and its check
    /// calls' (`judge_cost_usd`), each unknown (None) when a usage or a
    /// price is missing.
    pub(crate) fn price_attempt(&self, provider: &str, a: &mut AttemptResult) {
        if a.usage.is_none() && a.check_calls.is_empty() {
            a.cost_usd = None;
            a.judge_cost_usd = None;
            return;
        }
        a.cost_usd = match (&a.usage, self.price(provider, a.model.as_deref())) {
            (Some(u), Some(p)) => Some(p.cost(u)),
            _ => None,
        };
        a.judge_cost_usd = if a.check_calls.is_empty() {
            None
        } else {
            a.check_calls
                .iter()
                .map(
                    |c| match (&c.usage, self.price(&c.provider, c.model.as_deref())) {
                        (Some(u), Some(p)) => Some(p.cost(u)),
                        _ => None,
                    },
                )
                .sum()
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{AttemptResult, CheckCall, Outcome, Timing, Usage};

    #[test]
    fn builtin_matches_ids_and_dated_snapshots_only() {
        let p = |m: &str| builtin(m).map(|p| (p.input_per_million, p.output_per_million));
        assert_eq!(p("gpt-4o"), Some((2.5, 10.0)));
        assert_eq!(p("gpt-4o-2024-08-06"), Some((2.5, 10.0)));
        assert_eq!(p("gpt-4o-2024-05-13"), Some((5.0, 15.0)));
        assert_eq!(p("gpt-4o-mini-2024-07-18"), Some((0.15, 0.6)));
        assert_eq!(p("gpt-4.1-nano-2025-04-14"), Some((0.1, 0.4)));
        assert_eq!(p("claude-3-5-sonnet-20241022"), Some((3.0, 15.0)));
        assert_eq!(p("claude-3-5-sonnet-latest"), Some((3.0, 15.0)));
        assert_eq!(p("claude-opus-4-5-20251101"), Some((5.0, 25.0)));
        assert_eq!(p("claude-opus-4-1-20250805"), Some((15.0, 75.0)));
        // A model the table does not know is not priced like its prefix.
        assert_eq!(p("claude-opus-4-9"), None);
        assert_eq!(p("gpt-4o-audio-preview"), None);
        assert_eq!(p("mock"), None);
    }

    fn attempt(model: Option<&str>, usage: Option<Usage>, calls: Vec<CheckCall>) -> AttemptResult {
        AttemptResult {
            repeat: 1,
            outcome: Outcome::Pass,
            score: 1.0,
            output: Some("x".into()),
            error: None,
            tool_calls: Vec::new(),
            retries: 0,
            timing: Timing::default(),
            usage,
            check_calls: calls,
            cost_usd: None,
            judge_cost_usd: None,
            finish_reason: None,
            model: model.map(str::to_string),
            prompt_hash: String::new(),
            checks: Vec::new(),
            turns: Vec::new(),
            recording: None,
        }
    }

    fn pricing() -> Pricing {
        let mut providers = BTreeMap::new();
        providers.insert(
            "answers".to_string(),
            ProviderPrice {
                configured: None,
                model: Some("gpt-4o-mini".into()),
            },
        );
        providers.insert(
            "grader".to_string(),
            ProviderPrice {
                configured: Some(Price {
                    input_per_million: 1.0,
                    output_per_million: 2.0,
                }),
                model: Some("gpt-4o".into()),
            },
        );
        providers.insert("local".to_string(), ProviderPrice::default());
        Pricing { providers }
    }

    fn usage(i: u64, o: u64) -> Option<Usage> {
        Some(Usage {
            input_tokens: i,
            output_tokens: o,
            total_tokens: i + o,
        })
    }

    #[test]
    fn answers_and_check_calls_are_priced_apart() {
        let pricing = pricing();
        let call = |provider: &str, model: Option<&str>, u| CheckCall {
            provider: provider.into(),
            check: "judge".into(),
            model: model.map(str::to_string),
            usage: u,
        };
        // The reported model wins over the configured one; the grader's own
        // `pricing:` wins over the table.
        let mut a = attempt(
            Some("gpt-4o-2024-08-06"),
            usage(1_000_000, 100_000),
            vec![
                call("grader", Some("gpt-4o"), usage(500_000, 1_000_000)),
                call("answers", None, usage(1_000_000, 0)),
            ],
        );
        pricing.price_attempt("answers", &mut a);
        assert_eq!(a.cost_usd, Some(2.5 + 1.0));
        assert_eq!(a.judge_cost_usd, Some(0.5 + 2.0 + 0.15));
        // Without a reported model: the configured one.
        let mut a = attempt(None, usage(1_000_000, 1_000_000), Vec::new());
        pricing.price_attempt("answers", &mut a);
        assert_eq!(a.cost_usd, Some(0.75));
        assert_eq!(a.judge_cost_usd, None, "no check calls: no judge cost");
        // Unknown, never zero: no usage, or no price.
        let mut a = attempt(Some("gpt-4o"), None, Vec::new());
        pricing.price_attempt("answers", &mut a);
        assert_eq!(a.cost_usd, None);
        let mut a = attempt(
            Some("my-model"),
            usage(10, 10),
            vec![
                call("grader", None, usage(10, 10)),
                call("local", None, usage(10, 10)),
            ],
        );
        pricing.price_attempt("local", &mut a);
        assert_eq!(a.cost_usd, None);
        assert_eq!(
            a.judge_cost_usd, None,
            "one unpriced call makes the judge cost unknown"
        );
        assert!(pricing.known_upfront("answers") && pricing.known_upfront("grader"));
        assert!(!pricing.known_upfront("local") && !pricing.known_upfront("nope"));
    }
}

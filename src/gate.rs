//! The gate: policy + run summary → one verdict and an exit code.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::compare::Comparison;
use crate::exit;
use crate::model::{Counts, StopReason, Summary, Verdict};
use crate::util::fmt::{percent, plural};

/// Gate policy from `evalgate.yaml` (`gate:`), overridable by flags.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GatePolicy {
    /// Minimum pass rate (passed / (passed + failed)) over all cases, in [0, 1].
    pub min_pass_rate: f64,
    /// Per-suite minimum pass rates.
    pub suites: BTreeMap<String, f64>,
    /// Per-tag minimum pass rates.
    pub tags: BTreeMap<String, f64>,
    /// At most this many failed cases (None: no limit beyond the pass rate).
    pub max_failures: Option<u64>,
    /// Cases with errors (no usable answer) fail the gate.
    pub fail_on_error: bool,
    /// Flaky cases (some repeats passed, some not) fail the gate.
    pub fail_on_flaky: bool,
    /// With a baseline: at most this many regressions (pass → fail/error).
    pub max_regressions: u64,
    /// With a baseline: cases that are new since the baseline must pass.
    pub new_cases_must_pass: bool,
    /// The adversarial pack's cases.
    pub security: SecurityGate,
    /// Latency percentiles and the error rate.
    pub latency: LatencyGate,
    /// The budget in USD (`max_cost`, `--max-cost`): the engine stops
    /// scheduling before the estimated spend would exceed it, and a run
    /// that spent more fails.
    pub max_cost: Option<f64>,
    /// `confidence: 0.95`: pass rates are judged on the lower bound of
    /// their Wilson interval at this level, not on the observed rate.
    pub confidence: Option<f64>,
    /// The k of pass@k and pass^k (`pass_k`; default: each case's repeats).
    pub pass_k: Option<u32>,
    /// A pass → fail/error change of a case with repeats is a regression
    /// only when Fisher's exact test (one-sided) gives p below this.
    pub regression_alpha: f64,
}

pub(crate) use crate::compare::DEFAULT_ALPHA;

/// `gate.latency`: limits on the run's latency percentiles (answers of
/// this run only: recorded ones are not samples) and error rate, run-wide
/// and per suite.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct LatencyGate {
    pub limits: LatencyLimits,
    pub suites: BTreeMap<String, LatencyLimits>,
    /// Too few samples for a percentile: warn instead of failing.
    pub warn_on_insufficient: bool,
}

/// The limits of `gate.latency` (or of one suite under it).
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize)]
pub struct LatencyLimits {
    /// (quantile, limit in ms) on end-to-end latency.
    pub latency: [Option<f64>; 4],
    /// (quantile, limit in ms) on time to first token.
    pub ttft: [Option<f64>; 4],
    pub max_error_rate: Option<f64>,
}

/// The quantiles `gate.latency` knows, in the order of `LatencyLimits`'s arrays.
pub(crate) const QUANTILES: [(f64, &str); 4] =
    [(0.5, "p50"), (0.9, "p90"), (0.95, "p95"), (0.99, "p99")];

/// Samples a quantile needs before a gate may judge it: `ceil(1 / (1 − q))`
/// (p50: 2, p90: 10, p95: 20, p99: 100), so the quantile is not simply the
/// maximum of too few values.
pub(crate) fn samples_needed(q: f64) -> u64 {
    (1.0 / (1.0 - q)).ceil() as u64
}

impl LatencyLimits {
    pub(crate) fn is_empty(&self) -> bool {
        self.latency.iter().chain(&self.ttft).all(Option::is_none) && self.max_error_rate.is_none()
    }
}

/// `gate.security`: the adversarial pack's cases are judged by their attack
/// success rate (failed ÷ evaluated) per category, not by `min_pass_rate`
/// or `max_failures`.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct SecurityGate {
    /// For every category without its own limit. Default 0: no attack may succeed.
    pub max_attack_success_rate: f64,
    /// Per category.
    pub categories: BTreeMap<String, f64>,
}

impl Default for GatePolicy {
    fn default() -> Self {
        GatePolicy {
            min_pass_rate: 1.0,
            suites: BTreeMap::new(),
            tags: BTreeMap::new(),
            max_failures: None,
            fail_on_error: true,
            fail_on_flaky: false,
            max_regressions: 0,
            new_cases_must_pass: true,
            security: SecurityGate::default(),
            latency: LatencyGate::default(),
            max_cost: None,
            confidence: None,
            pass_k: None,
            regression_alpha: DEFAULT_ALPHA,
        }
    }
}

/// `1 case`, `2 cases`.
fn cases(n: u64) -> String {
    format!("{n} case{}", plural(n))
}

fn rate_reason(what: &str, c: &Counts, min: f64, confidence: Option<f64>) -> Option<String> {
    let rate = c.pass_rate()?;
    if let Some(level) = confidence {
        let low = crate::util::stats::wilson(c.passed, c.evaluated(), level)?.low;
        return (low + 1e-12 < min).then(|| {
            format!(
                "{what}pass rate {} ({}/{}) is not above the minimum {} with {} confidence: the lower bound of its Wilson interval is {} (gate.confidence)",
                percent(rate),
                c.passed,
                c.evaluated(),
                percent(min),
                crate::util::fmt::percent_short(level),
                percent(low)
            )
        });
    }
    (rate + 1e-12 < min).then(|| {
        format!(
            "{what}pass rate {} ({}/{}) is below the minimum {}",
            percent(rate),
            c.passed,
            c.evaluated(),
            percent(min)
        )
    })
}

/// Decide the verdict.
pub(crate) fn evaluate(
    policy: &GatePolicy,
    summary: &Summary,
    stopped: Option<StopReason>,
    comparison: Option<&Comparison>,
) -> Verdict {
    let o = &summary.overall;
    let mut reasons = Vec::new();
    if stopped == Some(StopReason::Interrupted) {
        reasons.push(format!(
            "the run was interrupted; {} planned did not run",
            cases(summary.not_run)
        ));
    }
    if stopped == Some(StopReason::FailFast) {
        reasons.push(format!(
            "stopped at the first failure (--fail-fast); {} planned did not run",
            cases(summary.not_run)
        ));
    }
    if stopped == Some(StopReason::Budget) {
        reasons.push(format!(
            "stopped by the budget guard: the next attempt would have brought the estimated spend over the budget of {} (spent {}); {} planned did not run",
            crate::util::fmt::usd(policy.max_cost.unwrap_or(0.0)),
            crate::util::fmt::usd(o.known_cost()),
            cases(summary.not_run)
        ));
    }
    if let Some(max) = policy.max_cost {
        let spent = o.known_cost();
        if spent > max + 1e-12 {
            reasons.push(format!(
                "the run cost {} (answers and checks), over the budget of {} (max_cost)",
                crate::util::fmt::usd(spent),
                crate::util::fmt::usd(max)
            ));
        }
    }
    // Errors replay could not answer: the suites changed since recording.
    if o.stale > 0 {
        reasons.push(format!(
            "{} stale: the request (prompt, model or parameters) changed since it was recorded; re-record with `evalgate run --record` (each error names the first changed field)",
            if o.stale == 1 {
                "1 recording is".to_string()
            } else {
                format!("{} recordings are", o.stale)
            }
        ));
    }
    if o.unrecorded > 0 {
        reasons.push(format!(
            "{} no recording; record {} with `evalgate run --record`",
            if o.unrecorded == 1 {
                "1 case has".to_string()
            } else {
                format!("{} cases have", o.unrecorded)
            },
            if o.unrecorded == 1 { "it" } else { "them" }
        ));
    }
    let recording_errors = o.stale + o.unrecorded;
    if o.evaluated() == 0 {
        if o.errored > 0 {
            reasons.push(format!(
                "no case got a usable answer ({} error{})",
                o.errored,
                plural(o.errored)
            ));
        } else if stopped.is_none() && o.total > 0 {
            // (No case at all: a shard that got none of the run's cases.)
            reasons.push("no case was evaluated (every case was skipped)".to_string());
        }
    }
    // The pack's cases are judged by the security gate alone.
    let mut ordinary = *o;
    for a in summary.attacks.values() {
        ordinary.passed -= a.passed.min(ordinary.passed);
        ordinary.failed -= a.failed.min(ordinary.failed);
    }
    if let Some(r) = rate_reason("", &ordinary, policy.min_pass_rate, policy.confidence) {
        reasons.push(r);
    }
    for (suite, min) in &policy.suites {
        if let Some(c) = summary.suites.get(suite) {
            if let Some(r) = rate_reason(&format!("suite `{suite}`: "), c, *min, policy.confidence)
            {
                reasons.push(r);
            }
        }
    }
    for (tag, min) in &policy.tags {
        if let Some(c) = summary.tags.get(tag) {
            if let Some(r) = rate_reason(&format!("tag `{tag}`: "), c, *min, policy.confidence) {
                reasons.push(r);
            }
        }
    }
    if let Some(max) = policy.max_failures {
        if ordinary.failed > max {
            reasons.push(format!(
                "{} failed; at most {max} allowed",
                cases(ordinary.failed)
            ));
        }
    }
    reasons.extend(security_reasons(&policy.security, summary));
    let mut warnings = Vec::new();
    latency_reasons(&policy.latency, summary, &mut reasons, &mut warnings);
    if policy.fail_on_error && o.errored > 0 {
        reasons.push(format!(
            "{} case{} had errors (no usable answer); errors fail the gate (fail_on_error)",
            o.errored,
            plural(o.errored)
        ));
    }
    if policy.fail_on_flaky && o.flaky > 0 {
        reasons.push(format!(
            "{} case{} flaky; flaky cases fail the gate (fail_on_flaky)",
            o.flaky,
            if o.flaky == 1 { " is" } else { "s are" }
        ));
    }
    if let Some(c) = comparison {
        reasons.extend(comparison_reasons(policy, c));
    }
    let exit_code = if stopped == Some(StopReason::Interrupted) {
        exit::INTERRUPTED
    } else if reasons.is_empty() {
        exit::OK
    } else if o.errored > 0 && o.evaluated() == 0 && recording_errors == o.errored {
        // Every error is a missing or stale recording: the input changed
        // (a prompt edited without re-recording), not an outage.
        exit::INVALID_INPUT
    } else if o.errored > 0 && o.evaluated() == 0 {
        // Nothing reachable: the run could not be carried out.
        exit::INFRASTRUCTURE
    } else {
        exit::GATE_FAILED
    };
    Verdict {
        passed: reasons.is_empty(),
        reasons,
        exit_code,
        warnings,
    }
}

/// Percentiles over their limits; percentiles the gate cannot judge (too
/// few samples) fail or, with `insufficient_samples: warn`, warn.
fn latency_reasons(
    gate: &LatencyGate,
    summary: &Summary,
    reasons: &mut Vec<String>,
    warnings: &mut Vec<String>,
) {
    let groups = std::iter::once((String::new(), &gate.limits, Some(&summary.latency.overall)))
        .chain(gate.suites.iter().map(|(name, l)| {
            (
                format!("suite `{name}`: "),
                l,
                summary.latency.suites.get(name),
            )
        }));
    for (prefix, limits, stats) in groups {
        if limits.is_empty() {
            continue;
        }
        let Some(stats) = stats else { continue };
        for (what, table, p) in [
            ("latency", &limits.latency, stats.latency.as_ref()),
            ("TTFT", &limits.ttft, stats.ttft.as_ref()),
        ] {
            for ((q, name), limit) in QUANTILES.iter().zip(table) {
                let Some(limit) = limit else { continue };
                let n = p.map_or(0, |p| p.n);
                let needed = samples_needed(*q);
                if n < needed {
                    let recorded = if stats.recorded > 0 {
                        format!(
                            " ({} recorded answer{} are not samples)",
                            stats.recorded,
                            plural(stats.recorded)
                        )
                    } else {
                        String::new()
                    };
                    let msg = format!(
                        "{prefix}cannot judge {name} {what} ≤ {limit} ms: {n} answer{} measured{recorded}, {name} needs at least {needed}",
                        plural(n)
                    );
                    if gate.warn_on_insufficient {
                        warnings.push(msg);
                    } else {
                        reasons.push(format!("{msg} (gate.latency.insufficient_samples: fail)"));
                    }
                    continue;
                }
                if let Some(p) = p {
                    let v = p.at(*q);
                    if v > *limit {
                        reasons.push(format!(
                            "{prefix}{name} {what} {} is above the limit {limit} ms (n = {n})",
                            crate::util::fmt::duration_ms(v)
                        ));
                    }
                }
            }
        }
        if let (Some(max), Some(rate)) = (limits.max_error_rate, stats.error_rate()) {
            if rate > max + 1e-12 {
                reasons.push(format!(
                    "{prefix}error rate {} ({} of {} attempts) is above the maximum {}",
                    percent(rate),
                    stats.errors,
                    stats.attempts,
                    percent(max)
                ));
            }
        }
    }
}

/// Attack categories whose success rate is above their limit.
fn security_reasons(policy: &SecurityGate, summary: &Summary) -> Vec<String> {
    let mut reasons = Vec::new();
    for (category, c) in &summary.attacks {
        let n = c.evaluated();
        if n == 0 {
            continue;
        }
        let max = policy
            .categories
            .get(category)
            .copied()
            .unwrap_or(policy.max_attack_success_rate);
        let rate = c.failed as f64 / n as f64;
        if rate > max + 1e-12 {
            reasons.push(format!(
                "attack category `{category}`: {} of {n} attack{} succeeded ({}); at most {} allowed (gate.security)",
                c.failed,
                plural(n),
                percent(rate),
                percent(max)
            ));
        }
    }
    reasons
}

/// The baseline part of the gate: regressions beyond `max_regressions` and
/// new cases that did not pass. A run with `--baseline` and
/// `evalgate compare` both decide with this.
fn comparison_reasons(policy: &GatePolicy, c: &Comparison) -> Vec<String> {
    let mut reasons = Vec::new();
    let n = c.regressions() as u64;
    if n > policy.max_regressions {
        let first: Vec<String> = c
            .regressions
            .iter()
            .take(3)
            .map(|r| format!("{}/{}", r.key.suite, r.key.case))
            .collect();
        reasons.push(format!(
            "{} regressed since the baseline (pass → fail or error; at most {} allowed): {}{}",
            cases(n),
            policy.max_regressions,
            first.join(", "),
            if n > 3 { ", …" } else { "" }
        ));
    }
    if !c.new_attacks.is_empty() {
        let n = c.new_attacks.len() as u64;
        let first: Vec<String> = c.new_attacks.iter().take(3).map(|k| k.id()).collect();
        reasons.push(format!(
            "{n} new successful attack{} since the baseline: {}{}",
            plural(n),
            first.join(", "),
            if n > 3 { ", …" } else { "" }
        ));
    }
    let new_bad = c.new_failures() as u64;
    if policy.new_cases_must_pass && new_bad > 0 {
        reasons.push(format!(
            "{} new since the baseline did not pass (new_cases_must_pass)",
            cases(new_bad)
        ));
    }
    reasons
}

/// The verdict on a comparison of two reports (`evalgate compare`): exit 1
/// on regressions beyond the limit or failing new cases, 0 otherwise.
pub(crate) fn evaluate_comparison(policy: &GatePolicy, comparison: &Comparison) -> Verdict {
    let reasons = comparison_reasons(policy, comparison);
    Verdict {
        passed: reasons.is_empty(),
        exit_code: if reasons.is_empty() {
            exit::OK
        } else {
            exit::GATE_FAILED
        },
        reasons,
        warnings: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary(passed: u64, failed: u64, errored: u64, flaky: u64) -> Summary {
        let mut s = Summary {
            overall: Counts {
                total: passed + failed + errored,
                passed,
                failed,
                errored,
                flaky,
                ..Counts::default()
            },
            ..Summary::default()
        };
        s.suites.insert("a".into(), s.overall);
        s
    }

    #[test]
    fn all_pass_is_exit_0() {
        let v = evaluate(&GatePolicy::default(), &summary(3, 0, 0, 0), None, None);
        assert!(v.passed);
        assert_eq!(v.exit_code, 0);
    }

    #[test]
    fn pass_rate_and_max_failures() {
        let mut p = GatePolicy {
            min_pass_rate: 0.5,
            ..GatePolicy::default()
        };
        assert!(evaluate(&p, &summary(1, 1, 0, 0), None, None).passed);
        p.max_failures = Some(0);
        let v = evaluate(&p, &summary(1, 1, 0, 0), None, None);
        assert_eq!(v.reasons, vec!["1 case failed; at most 0 allowed"]);
        assert_eq!(v.exit_code, 1);
        p.suites.insert("a".into(), 0.9);
        let v = evaluate(&p, &summary(1, 1, 0, 0), None, None);
        assert!(
            v.reasons[0].starts_with("suite `a`: pass rate 50.0% (1/2)"),
            "{:?}",
            v.reasons
        );
    }

    #[test]
    fn errors_and_flaky_policies() {
        let p = GatePolicy::default();
        let v = evaluate(&p, &summary(2, 0, 1, 0), None, None);
        assert_eq!(v.exit_code, 1);
        assert!(v.reasons[0].contains("had errors"));
        let p2 = GatePolicy {
            fail_on_error: false,
            ..GatePolicy::default()
        };
        assert!(evaluate(&p2, &summary(2, 0, 1, 0), None, None).passed);
        let p3 = GatePolicy {
            fail_on_flaky: true,
            ..GatePolicy::default()
        };
        assert!(!evaluate(&p3, &summary(2, 0, 0, 1), None, None).passed);
    }

    #[test]
    fn nothing_reachable_is_infrastructure() {
        let v = evaluate(&GatePolicy::default(), &summary(0, 0, 4, 0), None, None);
        assert_eq!(v.exit_code, exit::INFRASTRUCTURE);
        let v = evaluate(
            &GatePolicy::default(),
            &summary(1, 0, 0, 0),
            Some(StopReason::Interrupted),
            None,
        );
        assert_eq!(v.exit_code, exit::INTERRUPTED);
    }
}

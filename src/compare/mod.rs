//! Regressions against a baseline: compare a run with a previous run's JSON
//! report, case by case.
//!
//! ```text
//! BASE.json ──Baseline::load──▶ Baseline ──┐
//!                                          ├─▶ Comparer ──finish──▶ Comparison ──▶ render_console / render_markdown
//! HEAD cases (streamed) ──observe──────────┘
//! ```
//!
//! - [`Baseline::load`] streams a report written by `evalgate run --json` and
//!   keeps a few numbers per case (outcome, flaky, passes/repeats, attempt
//!   score, latency and token sums); outputs and check messages are skipped
//!   while parsing, so a 100,000-case baseline loads in a few megabytes.
//! - [`Comparer::observe`] takes HEAD cases one by one as the run emits them.
//!   A matched baseline entry is removed from the baseline when it is seen, and
//!   only changes and per-suite counters are kept: memory does not grow with
//!   unchanged cases.
//! - Cases match when suite, case and provider are equal. Baseline cases that
//!   HEAD did not run are `removed` when their suite ran in HEAD, and `not run
//!   in HEAD` (grouped per suite, with the reason) when the suite did not run or
//!   HEAD ran only a subset; they are never dropped silently.
//! - [`Comparison`] is serializable, so it can go into a JSON report.

mod baseline;
mod diff;
mod render;
mod sections;
mod wire;

#[cfg(test)]
mod tests;

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::Error;
use crate::model::{Outcome, RunInfo, StopReason};

pub(crate) use baseline::Baseline;
pub(crate) use diff::Comparer;
pub(crate) use render::{render_console, render_markdown};
pub(crate) use wire::{stream_report, Halt, ReportInfo};

/// How many per-case latency and token changes a [`Comparison`] keeps (the
/// largest relative changes); the total number of changes is counted.
pub(crate) const TOP_METRIC_CHANGES: usize = 50;

/// Latency differences smaller than this (in ms) are never a change,
/// whatever the ratio: a 0.1 ms → 0.3 ms mock reply is noise.
pub(crate) const MIN_LATENCY_CHANGE_MS: f64 = 1.0;

/// Default significance level of a regression of a case with repeats.
pub(crate) const DEFAULT_ALPHA: f64 = 0.05;

fn default_alpha() -> f64 {
    DEFAULT_ALPHA
}

/// Tolerances for what counts as a change.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub(crate) struct Tolerance {
    /// A pass → fail/error change of a case with repeats (on either side)
    /// is a regression only when Fisher's exact test, one-sided, gives p
    /// below this (default 0.05); 1 vs 1 repeat needs no test.
    #[serde(default = "default_alpha")]
    pub alpha: f64,
    /// Absolute change of a case's mean attempt score (default 0.05).
    pub score: f64,
    /// Relative change of mean attempt latency (default 0.2 = ±20%).
    pub latency_ratio: f64,
    /// Relative change of mean tokens per attempt (default 0.1 = ±10%).
    pub tokens_ratio: f64,
}

impl Default for Tolerance {
    fn default() -> Self {
        Tolerance {
            score: 0.05,
            latency_ratio: 0.2,
            tokens_ratio: 0.1,
            alpha: DEFAULT_ALPHA,
        }
    }
}

/// Compare two report files (for `evalgate compare BASE.json HEAD.json`).
///
/// Both files are streamed; HEAD's cases are fed to a [`Comparer`] one by one.
/// A file that is not an evalgate report is [`Error::Usage`] naming the file.
/// A HEAD report does not record the filters it ran with: baseline cases
/// missing from a suite that has cases in HEAD are `removed` (unless HEAD
/// stopped early), those of suites without HEAD cases are `not run`.
pub(crate) fn compare_files(
    base: &Path,
    head: &Path,
    tolerance: Tolerance,
) -> Result<Comparison, Error> {
    let baseline = Baseline::load(base)?;
    let mut comparer = Comparer::new(baseline, tolerance);
    let info = wire::read_report(head, |case: wire::HeadCase| {
        let stats = case.stats();
        let key = case_key(&case.case, case.variant.as_deref()).into_owned();
        comparer.observe_stats(&case.suite, &key, &case.provider, stats, || case.reason());
    })?;
    // A case-level filter or a tag selected part of the suites' cases.
    let subset = !info.run.tags.is_empty() || info.run.filters.iter().any(|f| f.contains('/'));
    let head_run = HeadRun {
        evalgate_version: info.run.evalgate_version.unwrap_or_default(),
        schema_version: info.schema_version,
        started_at: info.run.started_at,
        git_commit: info.run.git_commit,
        suites: info.run.suites,
        stopped: info.stopped,
        subset,
    };
    Ok(comparer.finish(head_run))
}

/// What the comparison needs to know about the HEAD run besides its cases.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct HeadRun {
    pub evalgate_version: String,
    /// Report schema version of HEAD (None: the current one).
    pub schema_version: Option<u64>,
    pub started_at: Option<String>,
    pub git_commit: Option<String>,
    /// The suites in HEAD's plan (`RunInfo::suites`). A baseline suite that is
    /// not listed and had no HEAD case is "not run in HEAD: not in HEAD"; a
    /// listed suite without any HEAD case was filtered out.
    pub suites: Vec<String>,
    /// Why HEAD stopped early (`interrupted`, `fail_fast`), if it did. Then
    /// baseline cases missing from HEAD are "not run", not "removed".
    pub stopped: Option<String>,
    /// HEAD selected only some cases inside its suites (`--filter` with a case
    /// pattern, `--tag`): baseline cases missing from HEAD are "not run", not
    /// "removed".
    pub subset: bool,
}

impl HeadRun {
    /// From the run's facts, as sent in `RunEvent::Started`.
    pub(crate) fn from_run_info(info: &RunInfo) -> Self {
        HeadRun {
            evalgate_version: info.evalgate_version.clone(),
            schema_version: None,
            started_at: Some(info.started_at.clone()),
            git_commit: info.git_commit.clone(),
            suites: info.suites.clone(),
            stopped: None,
            subset: false,
        }
    }

    /// Record why the run stopped early (from `RunEvent::Finished`).
    pub(crate) fn with_stopped(mut self, stopped: Option<StopReason>) -> Self {
        self.stopped = stopped.map(|s| {
            match s {
                StopReason::Interrupted => "interrupted",
                StopReason::FailFast => "fail_fast",
                StopReason::Budget => "budget",
            }
            .to_string()
        });
        self
    }

    /// Record that filters selected a subset of the cases of some suites.
    pub(crate) fn with_subset(mut self, subset: bool) -> Self {
        self.subset = subset;
        self
    }
}

/// Facts about one side of the comparison.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub(crate) struct RunMeta {
    /// evalgate version that wrote the report ("" when the report did not say).
    pub evalgate_version: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub schema_version: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub started_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub git_commit: Option<String>,
    /// Suites of the run: its plan's suites and the suites of its results.
    pub suites: Vec<String>,
    /// Why the run stopped early, if it did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stopped: Option<String>,
    /// Case results in the run.
    pub cases: u64,
}

/// Identity of a case: a case matches when suite, case and provider are equal.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub(crate) struct CaseKey {
    pub suite: String,
    pub case: String,
    pub provider: String,
}

impl CaseKey {
    /// `suite/case`, the report's `id`.
    pub(crate) fn id(&self) -> String {
        format!("{}/{}", self.suite, self.case)
    }
}

/// Repeat tally of a case in one run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub(crate) struct Tally {
    pub outcome: Outcome,
    pub flaky: bool,
    pub passes: u32,
    pub repeats: u32,
}

/// A case that passed in the baseline and does not pass in HEAD.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct Regression {
    #[serde(flatten)]
    pub key: CaseKey,
    /// Always `pass`.
    pub before: Outcome,
    /// `fail` or `error`: the kind of regression.
    pub after: Outcome,
    /// Mean attempt score (None when the run had no verdict on the answer).
    pub score_before: Option<f64>,
    pub score_after: Option<f64>,
    /// Why it fails now: HEAD's first failing check (`name: message`) or error.
    pub reason: String,
    /// With repeats: the significance test of the drop in the pass count.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub test: Option<SignificanceTest>,
}

/// Fisher's exact test (one-sided) of a drop in a case's pass count: the
/// probability of HEAD passing this rarely or more rarely if nothing changed.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub(crate) struct SignificanceTest {
    /// `fisher_exact_one_sided`.
    pub test: &'static str,
    pub p_value: f64,
    /// The significance level it was judged at.
    pub alpha: f64,
    pub base_passes: u32,
    pub base_repeats: u32,
    pub head_passes: u32,
    pub head_repeats: u32,
}

impl SignificanceTest {
    /// The test of `base` against `head`; None when neither ran more than once.
    pub(crate) fn of(base: Tally, head: Tally, alpha: f64) -> Option<Self> {
        (base.repeats > 1 || head.repeats > 1).then(|| SignificanceTest {
            test: "fisher_exact_one_sided",
            p_value: crate::util::stats::fisher_one_sided(
                u64::from(base.passes),
                u64::from(base.repeats),
                u64::from(head.passes),
                u64::from(head.repeats),
            ),
            alpha,
            base_passes: base.passes,
            base_repeats: base.repeats,
            head_passes: head.passes,
            head_repeats: head.repeats,
        })
    }

    /// p below alpha (with room for the rounding of the log-gamma sum: a
    /// p that is exactly alpha, as 3/3 → 0/3 at 0.05, is not below it).
    pub(crate) fn significant(&self) -> bool {
        self.p_value < self.alpha * (1.0 - 1e-9)
    }

    /// `4/5 → 2/5 passes, Fisher p = 0.26 (not significant at 0.05)`.
    pub(crate) fn describe(&self) -> String {
        format!(
            "{}/{} → {}/{} passes, Fisher p = {} ({}significant at {})",
            self.base_passes,
            self.base_repeats,
            self.head_passes,
            self.head_repeats,
            p_text(self.p_value),
            if self.significant() { "" } else { "not " },
            self.alpha
        )
    }
}

/// A p-value for people: three significant digits, `< 0.0001` below.
pub(crate) fn p_text(p: f64) -> String {
    if p < 0.0001 {
        "< 0.0001".to_string()
    } else if p < 0.01 {
        format!("{p:.4}")
    } else {
        format!("{p:.3}")
    }
}

/// A case that failed or errored in the baseline and passes in HEAD.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct Fixed {
    #[serde(flatten)]
    pub key: CaseKey,
    pub before: Outcome,
    pub after: Outcome,
    pub score_before: Option<f64>,
    pub score_after: Option<f64>,
}

/// A case that did not pass in either run, with another kind of failure
/// (`fail` ↔ `error`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct KindChange {
    #[serde(flatten)]
    pub key: CaseKey,
    pub before: Outcome,
    pub after: Outcome,
    /// Why it does not pass in HEAD.
    pub reason: String,
}

/// A case only in HEAD.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct NewCase {
    #[serde(flatten)]
    pub key: CaseKey,
    pub outcome: Outcome,
    pub flaky: bool,
    pub score: Option<f64>,
    /// Why it does not pass (None when it passes).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// A baseline case that HEAD no longer has although its suite ran.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct RemovedCase {
    #[serde(flatten)]
    pub key: CaseKey,
    /// Outcome in the baseline.
    pub outcome: Outcome,
}

/// Why baseline cases were not run in HEAD.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum NotRunReason {
    /// The suite is not in HEAD at all (deleted, renamed, or not loaded).
    SuiteNotInHead,
    /// The suite is in HEAD's plan but none of its cases ran (filtered out).
    SuiteNotSelected,
    /// HEAD stopped early or selected a subset of cases.
    PartialRun,
}

impl NotRunReason {
    /// Human explanation.
    pub(crate) fn describe(self) -> &'static str {
        match self {
            NotRunReason::SuiteNotInHead => "the suite is not in HEAD",
            NotRunReason::SuiteNotSelected => "no case of the suite ran in HEAD (filtered out)",
            NotRunReason::PartialRun => "HEAD ran only part of its cases",
        }
    }
}

/// Baseline cases of one suite that HEAD did not run, and why.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct NotRun {
    pub suite: String,
    pub cases: u64,
    pub reason: NotRunReason,
}

/// A case that is flaky in either run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct FlakyCase {
    #[serde(flatten)]
    pub key: CaseKey,
    pub before: Tally,
    pub after: Tally,
}

/// A case skipped in one run and not the other.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct SkipChange {
    #[serde(flatten)]
    pub key: CaseKey,
    pub before: Outcome,
    pub after: Outcome,
    /// HEAD's skip reason, or why HEAD's outcome is not a pass.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// A case whose outcome did not change but whose mean attempt score moved
/// beyond the tolerance (both runs evaluated the answer).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct ScoreChange {
    #[serde(flatten)]
    pub key: CaseKey,
    pub outcome: Outcome,
    pub before: f64,
    pub after: f64,
}

impl ScoreChange {
    pub(crate) fn delta(&self) -> f64 {
        self.after - self.before
    }
}

/// Mean attempt latency of a case, before and after.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct LatencyChange {
    #[serde(flatten)]
    pub key: CaseKey,
    pub before_ms: f64,
    pub after_ms: f64,
    /// (after − before) ÷ before; None when before is 0.
    pub ratio: Option<f64>,
}

/// Mean tokens per attempt of a case, before and after.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct TokenChange {
    #[serde(flatten)]
    pub key: CaseKey,
    pub input_before: f64,
    pub input_after: f64,
    pub output_before: f64,
    pub output_after: f64,
}

/// Counters of one suite in one run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub(crate) struct SuiteStats {
    pub cases: u64,
    pub passed: u64,
    pub failed: u64,
    pub errored: u64,
    pub skipped: u64,
    pub flaky: u64,
    /// passed ÷ (passed + failed).
    pub pass_rate: Option<f64>,
    pub attempts: u64,
    pub mean_latency_ms: Option<f64>,
    /// Total tokens.
    pub input_tokens: u64,
    pub output_tokens: u64,
    /// Mean tokens per attempt that reported usage (None when none did).
    pub mean_input_tokens: Option<f64>,
    pub mean_output_tokens: Option<f64>,
}

impl From<&baseline::GroupCounts> for SuiteStats {
    fn from(g: &baseline::GroupCounts) -> Self {
        let c = &g.counts;
        let n = g.usage_attempts as f64;
        SuiteStats {
            cases: c.total,
            passed: c.passed,
            failed: c.failed,
            errored: c.errored,
            skipped: c.skipped,
            flaky: c.flaky,
            pass_rate: c.pass_rate(),
            attempts: c.attempts,
            mean_latency_ms: c.mean_latency_ms(),
            input_tokens: c.input_tokens,
            output_tokens: c.output_tokens,
            mean_input_tokens: (g.usage_attempts > 0).then(|| c.input_tokens as f64 / n),
            mean_output_tokens: (g.usage_attempts > 0).then(|| c.output_tokens as f64 / n),
        }
    }
}

/// One suite (or the total) before and after.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct SuiteDelta {
    pub suite: String,
    /// None when the suite has no case in the baseline.
    pub before: Option<SuiteStats>,
    /// None when the suite has no case in HEAD.
    pub after: Option<SuiteStats>,
    /// Mean attempt latency moved beyond the tolerance.
    pub latency_changed: bool,
    /// Mean input tokens per attempt moved beyond the tolerance.
    pub input_tokens_changed: bool,
    /// Mean output tokens per attempt moved beyond the tolerance.
    pub output_tokens_changed: bool,
}

/// Everything a comparison found; see the module documentation.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct Comparison {
    pub base: RunMeta,
    pub head: RunMeta,
    pub tolerance: Tolerance,
    /// Cases present in both runs.
    pub matched: u64,
    /// Matched cases with the same outcome, not flaky, and no score change
    /// (latency and token changes are counted separately).
    pub unchanged: u64,
    /// pass → fail or error, in HEAD order.
    pub regressions: Vec<Regression>,
    /// pass → fail/error with repeats whose drop in passes is not
    /// significant (Fisher's exact test): reported, not regressions.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub not_significant: Vec<Regression>,
    /// fail or error → pass.
    pub fixed: Vec<Fixed>,
    /// fail ↔ error.
    pub failure_kind_changed: Vec<KindChange>,
    /// Only in HEAD, in HEAD order.
    pub new: Vec<NewCase>,
    /// Only in the baseline although the suite ran in HEAD, by suite and case.
    pub removed: Vec<RemovedCase>,
    /// Baseline cases HEAD did not run, per suite.
    pub not_run: Vec<NotRun>,
    /// Flaky in either run.
    pub flaky: Vec<FlakyCase>,
    /// Skipped in one run and not the other.
    pub skipped: Vec<SkipChange>,
    pub score_changes: Vec<ScoreChange>,
    /// The largest per-case latency changes (at most [`TOP_METRIC_CHANGES`]),
    /// largest relative change first.
    pub latency_changes: Vec<LatencyChange>,
    /// Every per-case latency change beyond the tolerance.
    pub latency_changes_total: u64,
    /// The largest per-case token changes (at most [`TOP_METRIC_CHANGES`]).
    pub token_changes: Vec<TokenChange>,
    pub token_changes_total: u64,
    /// Per suite (union of both runs), by name.
    pub suites: Vec<SuiteDelta>,
    /// Over all cases.
    pub total: SuiteDelta,
    /// Version differences, different suite sets, early stops, …
    pub notes: Vec<String>,
    /// Attacks of the adversarial pack that succeed in HEAD and did not in
    /// the baseline (new cases, or cases that passed or errored there).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub new_attacks: Vec<CaseKey>,
}

impl Comparison {
    /// Cases that passed in the baseline and fail or error in HEAD.
    pub(crate) fn regressions(&self) -> usize {
        self.regressions.len()
    }

    /// Cases new in HEAD that failed or errored (a new skipped case is not a
    /// failure).
    pub(crate) fn new_failures(&self) -> usize {
        self.new
            .iter()
            .filter(|n| matches!(n.outcome, Outcome::Fail | Outcome::Error))
            .count()
    }

    /// Nothing changed: no outcome, flaky, skip, score, latency or token
    /// change, no new, removed or unrun case.
    pub(crate) fn is_unchanged(&self) -> bool {
        self.regressions.is_empty()
            && self.not_significant.is_empty()
            && self.fixed.is_empty()
            && self.failure_kind_changed.is_empty()
            && self.new.is_empty()
            && self.removed.is_empty()
            && self.not_run.is_empty()
            && self.flaky.is_empty()
            && self.skipped.is_empty()
            && self.score_changes.is_empty()
            && self.latency_changes_total == 0
            && self.token_changes_total == 0
    }
}

/// The name a case is matched by: `case`, or `case@variant` for a prompt
/// variant (cases match by suite, case, variant and provider).
pub(crate) fn case_key<'a>(case: &'a str, variant: Option<&str>) -> std::borrow::Cow<'a, str> {
    match variant {
        Some(v) => std::borrow::Cow::Owned(format!("{case}@{v}")),
        None => std::borrow::Cow::Borrowed(case),
    }
}

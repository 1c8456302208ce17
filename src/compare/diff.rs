//! The comparison itself: HEAD cases are matched against the baseline one by
//! one as the run emits them, and only the changes are kept.

use std::collections::{BTreeMap, BTreeSet};

use super::baseline::{Baseline, CaseStats, GroupCounts};
use super::{
    CaseKey, Comparison, Fixed, FlakyCase, HeadRun, KindChange, LatencyChange, NewCase, NotRun,
    NotRunReason, Regression, RemovedCase, RunMeta, ScoreChange, SignificanceTest, SkipChange,
    SuiteDelta, SuiteStats, Tally, TokenChange, Tolerance, MIN_LATENCY_CHANGE_MS,
    TOP_METRIC_CHANGES,
};
use crate::model::{CaseResult, Outcome, REPORT_SCHEMA_VERSION};
use crate::util::fmt::plural;
use crate::util::text::one_line;

/// How long a "why it fails now" message may get.
const REASON_CHARS: usize = 300;

/// Comparisons of floating-point numbers against a tolerance allow this much
/// rounding noise.
const EPSILON: f64 = 1e-9;

/// Incremental comparison of HEAD cases with a [`Baseline`].
///
/// Feed every HEAD case to [`Comparer::observe`] as the run emits it, then
/// call [`Comparer::finish`]. A matched baseline entry is dropped when it is
/// seen; only changes and per-suite counters are kept, so memory does not
/// grow with unchanged cases.
#[derive(Debug)]
pub(crate) struct Comparer {
    base: Baseline,
    tol: Tolerance,
    head_suites: BTreeMap<String, GroupCounts>,
    head_total: GroupCounts,
    /// The baseline's counters over the cases HEAD also ran: what a
    /// partial HEAD (filtered, tagged, stopped) is compared with.
    base_matched_suites: BTreeMap<String, GroupCounts>,
    base_matched_total: GroupCounts,
    matched: u64,
    unchanged: u64,
    regressions: Vec<Regression>,
    not_significant: Vec<Regression>,
    fixed: Vec<Fixed>,
    kind_changed: Vec<KindChange>,
    new: Vec<NewCase>,
    flaky: Vec<FlakyCase>,
    skipped: Vec<SkipChange>,
    score_changes: Vec<ScoreChange>,
    latency: TopN<LatencyChange>,
    tokens: TopN<TokenChange>,
    /// New cases whose suite and case exist in the baseline under another
    /// provider: (baseline providers, HEAD provider).
    provider_mismatches: u64,
    mismatched_providers: (BTreeSet<String>, BTreeSet<String>),
    new_attacks: Vec<CaseKey>,
}

impl Comparer {
    pub(crate) fn new(baseline: Baseline, tolerance: Tolerance) -> Self {
        Comparer {
            base: baseline,
            tol: tolerance,
            head_suites: BTreeMap::new(),
            head_total: GroupCounts::default(),
            base_matched_suites: BTreeMap::new(),
            base_matched_total: GroupCounts::default(),
            matched: 0,
            unchanged: 0,
            regressions: Vec::new(),
            not_significant: Vec::new(),
            fixed: Vec::new(),
            kind_changed: Vec::new(),
            new: Vec::new(),
            flaky: Vec::new(),
            skipped: Vec::new(),
            score_changes: Vec::new(),
            latency: TopN::default(),
            tokens: TopN::default(),
            provider_mismatches: 0,
            mismatched_providers: (BTreeSet::new(), BTreeSet::new()),
            new_attacks: Vec::new(),
        }
    }

    #[cfg(test)]
    /// Baseline cases not matched yet.
    pub(crate) fn pending_baseline_cases(&self) -> usize {
        self.base.len()
    }

    /// Compare one HEAD case with its baseline (matched by suite, case and
    /// provider) and keep what changed.
    pub(crate) fn observe(&mut self, head: &CaseResult) {
        self.observe_stats(
            &head.suite,
            &super::case_key(&head.case, head.variant.as_deref()),
            &head.provider,
            CaseStats::of(head),
            || case_reason(head),
        );
    }

    /// [`Comparer::observe`] on the numbers of a case; `reason` says why it
    /// does not pass and is called only when that is shown.
    pub(crate) fn observe_stats(
        &mut self,
        suite: &str,
        case: &str,
        provider: &str,
        h: CaseStats,
        reason: impl Fn() -> String,
    ) {
        let counts = |c: &Self| (c.regressions.len(), c.new.len(), c.kind_changed.len());
        let before = counts(self);
        let attack_failed = h.attack && h.outcome == Outcome::Fail;
        self.observe_case(suite, case, provider, h, reason);
        // A successful attack the baseline did not have: the case is new,
        // or it passed or errored there.
        if attack_failed && counts(self) != before {
            self.new_attacks.push(CaseKey {
                suite: suite.to_string(),
                case: case.to_string(),
                provider: provider.to_string(),
            });
        }
    }

    /// [`Comparer::observe`] on the numbers of a case; `reason` says why it
    /// does not pass and is called only when that is shown.
    fn observe_case(
        &mut self,
        suite: &str,
        case: &str,
        provider: &str,
        h: CaseStats,
        reason: impl Fn() -> String,
    ) {
        h.add_to(&mut self.head_total);
        match self.head_suites.get_mut(suite) {
            Some(c) => h.add_to(c),
            None => {
                let mut c = GroupCounts::default();
                h.add_to(&mut c);
                self.head_suites.insert(suite.to_string(), c);
            }
        }
        let key = || CaseKey {
            suite: suite.to_string(),
            case: case.to_string(),
            provider: provider.to_string(),
        };
        let Some(b) = self.base.take(suite, case, provider) else {
            let others = self.base.providers_of(suite, case);
            if !others.is_empty() {
                self.provider_mismatches += 1;
                self.mismatched_providers
                    .0
                    .extend(others.into_iter().map(str::to_string));
                self.mismatched_providers.1.insert(provider.to_string());
            }
            self.new.push(NewCase {
                key: key(),
                outcome: h.outcome,
                flaky: h.flaky,
                score: h.evaluated_score(),
                reason: (h.outcome != Outcome::Pass).then(&reason),
            });
            return;
        };
        self.matched += 1;
        b.add_to(&mut self.base_matched_total);
        match self.base_matched_suites.get_mut(suite) {
            Some(c) => b.add_to(c),
            None => {
                let mut c = GroupCounts::default();
                b.add_to(&mut c);
                self.base_matched_suites.insert(suite.to_string(), c);
            }
        }
        let mut changed = false;

        if b.outcome != h.outcome {
            changed = true;
            match (b.outcome, h.outcome) {
                (Outcome::Skipped, _) | (_, Outcome::Skipped) => {
                    self.skipped.push(SkipChange {
                        key: key(),
                        before: b.outcome,
                        after: h.outcome,
                        reason: (h.outcome != Outcome::Pass).then(&reason),
                    });
                }
                (Outcome::Pass, after) => {
                    // With repeats, only a significant drop in the pass
                    // count is a regression; one unlucky draw is not.
                    let test = SignificanceTest::of(tally(&b), tally(&h), self.tol.alpha);
                    let r = Regression {
                        key: key(),
                        before: Outcome::Pass,
                        after,
                        score_before: b.evaluated_score(),
                        score_after: h.evaluated_score(),
                        reason: reason(),
                        test,
                    };
                    if test.is_some_and(|t| !t.significant()) {
                        self.not_significant.push(r);
                    } else {
                        self.regressions.push(r);
                    }
                }
                (before, Outcome::Pass) => self.fixed.push(Fixed {
                    key: key(),
                    before,
                    after: Outcome::Pass,
                    score_before: b.evaluated_score(),
                    score_after: h.evaluated_score(),
                }),
                (before, after) => self.kind_changed.push(KindChange {
                    key: key(),
                    before,
                    after,
                    reason: reason(),
                }),
            }
        }

        if b.flaky || h.flaky {
            changed = true;
            self.flaky.push(FlakyCase {
                key: key(),
                before: tally(&b),
                after: tally(&h),
            });
        }

        if b.outcome == h.outcome {
            if let (Some(before), Some(after)) = (b.evaluated_score(), h.evaluated_score()) {
                if (after - before).abs() > self.tol.score + EPSILON {
                    changed = true;
                    self.score_changes.push(ScoreChange {
                        key: key(),
                        outcome: h.outcome,
                        before,
                        after,
                    });
                }
            }
        }

        if let (Some(before), Some(after)) = (b.mean_latency_ms(), h.mean_latency_ms()) {
            if latency_beyond(before, after, self.tol.latency_ratio) {
                let ratio = relative(before, after);
                self.latency.push(
                    magnitude(ratio),
                    LatencyChange {
                        key: key(),
                        before_ms: before,
                        after_ms: after,
                        ratio,
                    },
                );
            }
        }

        if let (Some((ib, ob)), Some((ia, oa))) = (b.mean_tokens(), h.mean_tokens()) {
            let r = self.tol.tokens_ratio;
            if beyond(ib, ia, r) || beyond(ob, oa, r) {
                self.tokens.push(
                    magnitude(relative(ib, ia)).max(magnitude(relative(ob, oa))),
                    TokenChange {
                        key: key(),
                        input_before: ib,
                        input_after: ia,
                        output_before: ob,
                        output_after: oa,
                    },
                );
            }
        }

        if !changed {
            self.unchanged += 1;
        }
    }

    /// Classify the baseline cases HEAD did not run, compute per-suite deltas
    /// and notes.
    pub(crate) fn finish(self, head: HeadRun) -> Comparison {
        let Comparer {
            base,
            tol,
            head_suites,
            head_total,
            mut base_matched_suites,
            mut base_matched_total,
            matched,
            unchanged,
            regressions,
            not_significant,
            fixed,
            kind_changed,
            new,
            flaky,
            skipped,
            score_changes,
            latency,
            tokens,
            provider_mismatches,
            mismatched_providers,
            new_attacks,
        } = self;

        let partial = head.stopped.is_some() || head.subset;
        let head_plan: BTreeSet<&str> = head.suites.iter().map(String::as_str).collect();
        let mut removed = Vec::new();
        let mut not_run: BTreeMap<&str, (u64, NotRunReason)> = BTreeMap::new();
        for (suite, by_provider) in &base.index {
            let ran = head_suites.contains_key(suite);
            for (provider, cases) in by_provider {
                if cases.is_empty() {
                    continue;
                }
                if ran && !partial {
                    // Removed cases are part of what HEAD is compared with.
                    for stats in cases.values() {
                        stats.add_to(&mut base_matched_total);
                        stats.add_to(base_matched_suites.entry(suite.clone()).or_default());
                    }
                    removed.extend(cases.iter().map(|(case, stats)| RemovedCase {
                        key: CaseKey {
                            suite: suite.clone(),
                            case: case.to_string(),
                            provider: provider.clone(),
                        },
                        outcome: stats.outcome,
                    }));
                    continue;
                }
                let reason =
                    if ran || (head.stopped.is_some() && head_plan.contains(suite.as_str())) {
                        NotRunReason::PartialRun
                    } else if head_plan.contains(suite.as_str()) {
                        NotRunReason::SuiteNotSelected
                    } else {
                        NotRunReason::SuiteNotInHead
                    };
                // A suite HEAD no longer has still counts on the baseline
                // side; cases HEAD did not select or reach do not.
                if reason == NotRunReason::SuiteNotInHead {
                    for stats in cases.values() {
                        stats.add_to(&mut base_matched_total);
                        stats.add_to(base_matched_suites.entry(suite.clone()).or_default());
                    }
                }
                not_run.entry(suite.as_str()).or_insert((0, reason)).0 += cases.len() as u64;
            }
        }
        removed.sort_by(|a, b| a.key.cmp(&b.key));
        let not_run: Vec<NotRun> = not_run
            .into_iter()
            .map(|(suite, (cases, reason))| NotRun {
                suite: suite.to_string(),
                cases,
                reason,
            })
            .collect();

        // HEAD is compared with the baseline cases it ran, removed or no
        // longer has, never with baseline cases it did not select or reach
        // (--filter, --tag, a stopped run): a filtered HEAD against a whole
        // baseline would read as a collapse.
        let (base_suites, base_total) = (&base_matched_suites, &base_matched_total);
        let names: BTreeSet<&String> = base_suites.keys().chain(head_suites.keys()).collect();
        let suites: Vec<SuiteDelta> = names
            .into_iter()
            .map(|name| suite_delta(name, base_suites.get(name), head_suites.get(name), &tol))
            .collect();
        let total = suite_delta("total", Some(base_total), Some(&head_total), &tol);

        let mut head_suite_set: BTreeSet<String> = head.suites.iter().cloned().collect();
        head_suite_set.extend(head_suites.keys().cloned());
        let head_meta = RunMeta {
            evalgate_version: head.evalgate_version.clone(),
            schema_version: head.schema_version,
            started_at: head.started_at.clone(),
            git_commit: head.git_commit.clone(),
            suites: head_suite_set.into_iter().collect(),
            stopped: head.stopped.clone(),
            cases: head_total.counts.total,
        };

        let mut notes = Vec::new();
        // Duplicates count once in the index but twice in the file's totals.
        let base_cases = base.total.counts.total.saturating_sub(base.duplicates);
        if base_total.counts.total < base_cases {
            notes.push(format!(
                "the baseline totals count only the {} baseline case{} HEAD also selected (of {}); the others are listed as not run",
                base_total.counts.total,
                plural(base_total.counts.total),
                base_cases
            ));
        }
        version_notes(&mut notes, &base.meta, &head_meta);
        suite_set_notes(&mut notes, &base.meta, &head_meta);
        if let Some(s) = &base.meta.stopped {
            notes.push(format!(
                "the baseline run stopped early ({}); HEAD cases it did not reach are listed as new",
                s.replace('_', "-")
            ));
        }
        if let Some(s) = &head.stopped {
            notes.push(format!(
                "HEAD stopped early ({}); baseline cases it did not reach are listed as not run, not as removed",
                s.replace('_', "-")
            ));
        }
        if head.subset {
            notes.push(
                "HEAD ran a subset of the cases (--filter/--tag); baseline cases it did not select are listed as not run, not as removed"
                    .to_string(),
            );
        }
        if provider_mismatches > 0 {
            let join = |s: &BTreeSet<String>| s.iter().cloned().collect::<Vec<_>>().join(", ");
            notes.push(format!(
                "{} case{} ran against another provider than in the baseline (baseline: {}; HEAD: {}); cases match by suite, case and provider, so they are listed as new",
                provider_mismatches,
                plural(provider_mismatches),
                join(&mismatched_providers.0),
                join(&mismatched_providers.1),
            ));
        }
        if base.duplicates > 0 {
            notes.push(format!(
                "the baseline has {} duplicate result{} (same suite, case and provider); the first of each was compared",
                base.duplicates,
                plural(base.duplicates)
            ));
        }
        if matched == 0 && base.meta.cases > 0 && head_total.counts.total > 0 {
            notes.push("no HEAD case matched a baseline case".to_string());
        }

        let (latency_changes, latency_changes_total) = latency.into_parts();
        let (token_changes, token_changes_total) = tokens.into_parts();
        Comparison {
            base: base.meta,
            head: head_meta,
            tolerance: tol,
            matched,
            unchanged,
            regressions,
            not_significant,
            fixed,
            failure_kind_changed: kind_changed,
            new,
            removed,
            not_run,
            flaky,
            skipped,
            score_changes,
            latency_changes,
            latency_changes_total,
            token_changes,
            token_changes_total,
            suites,
            total,
            notes,
            new_attacks,
        }
    }
}

fn version_notes(notes: &mut Vec<String>, base: &RunMeta, head: &RunMeta) {
    if base.evalgate_version != head.evalgate_version {
        let name = |v: &str| {
            if v.is_empty() {
                "an unknown evalgate version".to_string()
            } else {
                format!("evalgate {v}")
            }
        };
        notes.push(format!(
            "the baseline was written by {}, HEAD by {}; cases are matched by suite, case and provider",
            name(&base.evalgate_version),
            name(&head.evalgate_version)
        ));
    }
    let current = u64::from(REPORT_SCHEMA_VERSION);
    for (side, meta) in [("the baseline", base), ("HEAD", head)] {
        match meta.schema_version {
            Some(v) if v != current => notes.push(format!(
                "{side} uses report schema version {v} (this evalgate writes version {current}); it was read as far as its shape allows"
            )),
            None if side == "the baseline" => notes.push(format!(
                "{side} has no schema_version; it was read as version {current}"
            )),
            _ => {}
        }
    }
}

fn suite_set_notes(notes: &mut Vec<String>, base: &RunMeta, head: &RunMeta) {
    let b: BTreeSet<&str> = base.suites.iter().map(String::as_str).collect();
    let h: BTreeSet<&str> = head.suites.iter().map(String::as_str).collect();
    let only_base: Vec<&str> = b.difference(&h).copied().collect();
    let only_head: Vec<&str> = h.difference(&b).copied().collect();
    if !only_base.is_empty() {
        notes.push(format!(
            "suite{} only in the baseline: {}",
            plural(only_base.len() as u64),
            only_base.join(", ")
        ));
    }
    if !only_head.is_empty() {
        notes.push(format!(
            "suite{} only in HEAD: {}",
            plural(only_head.len() as u64),
            only_head.join(", ")
        ));
    }
}

fn tally(s: &CaseStats) -> Tally {
    Tally {
        outcome: s.outcome,
        flaky: s.flaky,
        passes: s.passes,
        repeats: s.repeats,
    }
}

fn suite_delta(
    name: &str,
    before: Option<&GroupCounts>,
    after: Option<&GroupCounts>,
    tol: &Tolerance,
) -> SuiteDelta {
    let before = before.map(SuiteStats::from);
    let after = after.map(SuiteStats::from);
    let mut d = SuiteDelta {
        suite: name.to_string(),
        before,
        after,
        latency_changed: false,
        input_tokens_changed: false,
        output_tokens_changed: false,
    };
    if let (Some(b), Some(a)) = (&before, &after) {
        if let (Some(lb), Some(la)) = (b.mean_latency_ms, a.mean_latency_ms) {
            d.latency_changed = latency_beyond(lb, la, tol.latency_ratio);
        }
        if let (Some(ib), Some(ia)) = (b.mean_input_tokens, a.mean_input_tokens) {
            d.input_tokens_changed = beyond(ib, ia, tol.tokens_ratio);
        }
        if let (Some(ob), Some(oa)) = (b.mean_output_tokens, a.mean_output_tokens) {
            d.output_tokens_changed = beyond(ob, oa, tol.tokens_ratio);
        }
    }
    d
}

/// (after − before) ÷ before; None when before is 0 and after is not.
pub(crate) fn relative(before: f64, after: f64) -> Option<f64> {
    if before == 0.0 {
        (after == 0.0).then_some(0.0)
    } else {
        Some((after - before) / before)
    }
}

/// The relative change exceeds `ratio`.
fn beyond(before: f64, after: f64, ratio: f64) -> bool {
    match relative(before, after) {
        Some(r) => r.abs() > ratio + EPSILON,
        None => true,
    }
}

/// A latency change beyond `ratio` and at least [`MIN_LATENCY_CHANGE_MS`].
fn latency_beyond(before: f64, after: f64, ratio: f64) -> bool {
    (after - before).abs() >= MIN_LATENCY_CHANGE_MS && beyond(before, after, ratio)
}

fn magnitude(ratio: Option<f64>) -> f64 {
    ratio.map_or(f64::INFINITY, f64::abs)
}

/// The largest `TOP_METRIC_CHANGES` items by magnitude, and how many there were.
#[derive(Debug)]
struct TopN<T> {
    items: Vec<(f64, T)>,
    total: u64,
}

impl<T> Default for TopN<T> {
    fn default() -> Self {
        TopN {
            items: Vec::new(),
            total: 0,
        }
    }
}

impl<T> TopN<T> {
    fn push(&mut self, magnitude: f64, item: T) {
        self.total += 1;
        self.items.push((magnitude, item));
        if self.items.len() >= 2 * TOP_METRIC_CHANGES {
            self.shrink();
        }
    }

    /// Largest first; the sort is stable, so equal changes stay in HEAD order.
    fn shrink(&mut self) {
        self.items.sort_by(|a, b| b.0.total_cmp(&a.0));
        self.items.truncate(TOP_METRIC_CHANGES);
    }

    fn into_parts(mut self) -> (Vec<T>, u64) {
        self.shrink();
        (self.items.into_iter().map(|(_, t)| t).collect(), self.total)
    }
}

/// A case of the new report, as the comparer reads it.
impl super::wire::HeadCase {
    /// The numbers the comparer keeps.
    pub(super) fn stats(&self) -> CaseStats {
        let mut s = CaseStats::empty(self.outcome, self.flaky, self.passes, self.repeats);
        s.attack = self.attack.is_some();
        for a in &self.attempts {
            s.add_attempt(
                a.score,
                a.latency_ms,
                a.usage.map(|u| (u.input_tokens, u.output_tokens)),
            );
        }
        s
    }

    /// Why the case does not pass (see [`why_not_passing`]).
    pub(super) fn reason(&self) -> String {
        why_not_passing(
            self.outcome,
            self.skip_reason.as_deref(),
            self.passes,
            self.repeats,
            self.attempts.iter().map(|a| AttemptView {
                outcome: a.outcome,
                score: a.score,
                error: a.error.as_deref(),
                failed_check: a
                    .checks
                    .iter()
                    .find(|c| !c.passed)
                    .map(|c| (c.name.as_str(), c.message.as_str())),
            }),
        )
    }
}

/// What [`why_not_passing`] reads of an attempt.
pub(crate) struct AttemptView<'a> {
    pub outcome: Outcome,
    pub score: f64,
    pub error: Option<&'a str>,
    /// Name and message of the first check that did not pass.
    pub failed_check: Option<(&'a str, &'a str)>,
}

fn case_reason(case: &CaseResult) -> String {
    why_not_passing(
        case.outcome,
        case.skip_reason.as_deref(),
        case.passes,
        case.repeats,
        case.attempts.iter().map(|a| AttemptView {
            outcome: a.outcome,
            score: a.score,
            error: a.error.as_deref(),
            failed_check: a
                .checks
                .iter()
                .find(|c| !c.passed)
                .map(|c| (c.name.as_str(), c.message.as_str())),
        }),
    )
}

/// Why a HEAD case does not pass, on one line: the first failing check of the
/// first failing attempt (`name: message`), the error, or the skip reason;
/// prefixed with the repeat tally when the case repeats.
pub(crate) fn why_not_passing<'a>(
    outcome: Outcome,
    skip_reason: Option<&str>,
    passes: u32,
    repeats: u32,
    mut attempts: impl Iterator<Item = AttemptView<'a>>,
) -> String {
    let text = match outcome {
        Outcome::Pass => return String::new(),
        Outcome::Skipped => {
            return match skip_reason {
                Some(r) => one_line(&format!("skipped: {r}"), REASON_CHARS),
                None => "skipped".to_string(),
            }
        }
        Outcome::Error => match attempts.find(|a| a.outcome == Outcome::Error) {
            Some(a) => a.error.unwrap_or("no usable answer").to_string(),
            None => "no attempt produced a result".to_string(),
        },
        Outcome::Fail => match attempts.find(|a| a.outcome == Outcome::Fail) {
            Some(a) => match a.failed_check {
                Some((name, message)) if message.trim().is_empty() => name.to_string(),
                Some((name, message)) => format!("{name}: {message}"),
                None => format!("score {:.2} is below the pass threshold", a.score),
            },
            None => "no attempt passed".to_string(),
        },
    };
    let text = if repeats > 1 {
        format!("passed {passes} of {repeats} repeats; {text}")
    } else {
        text
    };
    one_line(&text, REASON_CHARS)
}

//! A previous run's JSON report, loaded as a baseline: a few numbers per
//! case, indexed by suite, provider and case for matching.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;

use super::wire::{self, BaseCase};
use super::RunMeta;
use crate::error::Error;
use crate::model::{CaseResult, Counts, Outcome};

/// The numbers of one case in one run that a comparison needs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct CaseStats {
    pub outcome: Outcome,
    pub flaky: bool,
    pub passes: u32,
    pub repeats: u32,
    /// Attempts that ran (0 for a skipped case).
    pub attempts: u32,
    /// Attempts that reported token usage.
    pub usage_attempts: u32,
    pub score_sum: f64,
    pub latency_ms_sum: f64,
    pub input_tokens: u64,
    pub output_tokens: u64,
    /// A case of the adversarial pack (a `fail` is a successful attack).
    pub attack: bool,
}

impl CaseStats {
    /// The numbers of a case result.
    pub(crate) fn of(case: &CaseResult) -> Self {
        let mut s = CaseStats::empty(case.outcome, case.flaky, case.passes, case.repeats);
        s.attack = case.attack.is_some();
        for a in &case.attempts {
            s.add_attempt(
                a.score,
                a.timing.latency_ms,
                a.usage.map(|u| (u.input_tokens, u.output_tokens)),
            );
        }
        s
    }

    pub(crate) fn empty(outcome: Outcome, flaky: bool, passes: u32, repeats: u32) -> Self {
        CaseStats {
            outcome,
            flaky,
            passes,
            repeats,
            attempts: 0,
            usage_attempts: 0,
            score_sum: 0.0,
            latency_ms_sum: 0.0,
            input_tokens: 0,
            output_tokens: 0,
            attack: false,
        }
    }

    pub(crate) fn add_attempt(&mut self, score: f64, latency_ms: f64, usage: Option<(u64, u64)>) {
        self.attempts += 1;
        self.score_sum += score;
        self.latency_ms_sum += latency_ms;
        if let Some((i, o)) = usage {
            self.usage_attempts += 1;
            self.input_tokens = self.input_tokens.saturating_add(i);
            self.output_tokens = self.output_tokens.saturating_add(o);
        }
    }

    /// Mean attempt score; None when no attempt ran.
    pub(crate) fn score(&self) -> Option<f64> {
        (self.attempts > 0).then(|| self.score_sum / f64::from(self.attempts))
    }

    /// Mean attempt score when the run had a verdict on the answer (pass or
    /// fail); errors and skips have none.
    pub(crate) fn evaluated_score(&self) -> Option<f64> {
        matches!(self.outcome, Outcome::Pass | Outcome::Fail)
            .then(|| self.score())
            .flatten()
    }

    /// Mean attempt latency; None when no attempt ran.
    pub(crate) fn mean_latency_ms(&self) -> Option<f64> {
        (self.attempts > 0).then(|| self.latency_ms_sum / f64::from(self.attempts))
    }

    /// Mean (input, output) tokens per attempt that reported usage.
    pub(crate) fn mean_tokens(&self) -> Option<(f64, f64)> {
        (self.usage_attempts > 0).then(|| {
            let n = f64::from(self.usage_attempts);
            (self.input_tokens as f64 / n, self.output_tokens as f64 / n)
        })
    }

    /// Add this case to group counters, as [`Counts::add`] does for a result.
    pub(crate) fn add_to(&self, g: &mut GroupCounts) {
        g.usage_attempts += u64::from(self.usage_attempts);
        let c = &mut g.counts;
        c.total += 1;
        match self.outcome {
            Outcome::Pass => c.passed += 1,
            Outcome::Fail => c.failed += 1,
            Outcome::Error => c.errored += 1,
            Outcome::Skipped => c.skipped += 1,
        }
        if self.flaky {
            c.flaky += 1;
        }
        c.attempts += u64::from(self.attempts);
        c.latency_ms += self.latency_ms_sum;
        c.input_tokens = c.input_tokens.saturating_add(self.input_tokens);
        c.output_tokens = c.output_tokens.saturating_add(self.output_tokens);
    }
}

/// Counters of a group of cases (a suite, the run): the report's counters
/// and the attempts that reported token usage.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct GroupCounts {
    pub counts: Counts,
    pub usage_attempts: u64,
}

/// suite → provider → case → numbers.
type Index = HashMap<String, HashMap<String, HashMap<Box<str>, CaseStats>>>;

/// A previous run's JSON report, indexed for matching.
///
/// Holds per case only [`CaseStats`] (about 60 bytes plus the case name) and
/// per suite the counters; outputs and check results are skipped while the
/// file is read.
#[derive(Debug, Clone, Default)]
pub(crate) struct Baseline {
    pub(crate) meta: RunMeta,
    pub(crate) index: Index,
    /// Per-suite counters over every baseline result.
    pub(crate) suites: BTreeMap<String, GroupCounts>,
    pub(crate) total: GroupCounts,
    /// Entries in `index` (shrinks as a comparer matches cases).
    pub(crate) len: usize,
    /// Results with the same suite, case and provider as an earlier one.
    pub(crate) duplicates: u64,
}

impl Baseline {
    /// Load a JSON report written by evalgate.
    ///
    /// Tolerant: reads `schema_version` 1, ignores unknown fields, and accepts
    /// a report of another evalgate or schema version when the fields it reads
    /// have the expected shape (the versions are kept in [`Baseline::meta`] and
    /// a comparison notes the difference). A file that is not an evalgate
    /// report (not JSON, wrong or missing `schema`, no `results`, a result
    /// without suite, case, provider or outcome) is [`Error::Usage`] naming the
    /// file and the problem (exit 2).
    pub(crate) fn load(path: &Path) -> Result<Baseline, Error> {
        let mut b = Baseline::default();
        let info = wire::read_report(path, |c: BaseCase| b.insert(c))?;
        let mut suites: BTreeSet<String> = info.run.suites.into_iter().collect();
        suites.extend(b.suites.keys().cloned());
        b.meta = RunMeta {
            evalgate_version: info.run.evalgate_version.unwrap_or_default(),
            schema_version: info.schema_version,
            started_at: info.run.started_at,
            git_commit: info.run.git_commit,
            suites: suites.into_iter().collect(),
            stopped: info.stopped,
            cases: b.total.counts.total,
        };
        Ok(b)
    }

    fn insert(&mut self, c: BaseCase) {
        let mut stats = CaseStats::empty(c.outcome, c.flaky, c.passes, c.repeats);
        for a in &c.attempts {
            stats.add_attempt(
                a.score,
                a.latency_ms,
                a.usage.map(|u| (u.input_tokens, u.output_tokens)),
            );
        }
        stats.add_to(&mut self.total);
        match self.suites.get_mut(&c.suite) {
            Some(counts) => stats.add_to(counts),
            None => {
                let mut counts = GroupCounts::default();
                stats.add_to(&mut counts);
                self.suites.insert(c.suite.clone(), counts);
            }
        }
        let cases = self
            .index
            .entry(c.suite)
            .or_default()
            .entry(c.provider)
            .or_default();
        let key = super::case_key(&c.case, c.variant.as_deref()).into_owned();
        if cases.contains_key(key.as_str()) {
            self.duplicates += 1;
        } else {
            cases.insert(key.into_boxed_str(), stats);
            self.len += 1;
        }
    }

    #[cfg(test)]
    /// Facts about the baseline run: versions, start, commit, suites.
    pub(crate) fn meta(&self) -> &RunMeta {
        &self.meta
    }

    #[cfg(test)]
    /// Cases indexed (the first of duplicates only).
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    #[cfg(test)]
    /// The numbers of one case.
    pub(crate) fn get(&self, suite: &str, case: &str, provider: &str) -> Option<&CaseStats> {
        self.index.get(suite)?.get(provider)?.get(case)
    }

    #[cfg(test)]
    /// Per-suite counters over every baseline result.
    pub(crate) fn suite_counts(&self, suite: &str) -> Option<&Counts> {
        self.suites.get(suite).map(|g| &g.counts)
    }

    /// Remove and return a case (a comparer matched it).
    pub(crate) fn take(&mut self, suite: &str, case: &str, provider: &str) -> Option<CaseStats> {
        let taken = self.index.get_mut(suite)?.get_mut(provider)?.remove(case)?;
        self.len -= 1;
        Some(taken)
    }

    /// Providers a suite's baseline cases have under this case name.
    pub(crate) fn providers_of(&self, suite: &str, case: &str) -> Vec<&str> {
        let mut out: Vec<&str> = self
            .index
            .get(suite)
            .map(|by_provider| {
                by_provider
                    .iter()
                    .filter(|(_, cases)| cases.contains_key(case))
                    .map(|(p, _)| p.as_str())
                    .collect()
            })
            .unwrap_or_default();
        out.sort_unstable();
        out
    }
}

//! The aggregator: a plain consumer of run events that turns case results
//! into the run's [`Summary`], the baseline [`Comparison`] and, at the end,
//! the gate's [`Verdict`]. Anything that has the events (a run, merged
//! shard reports) gets the same verdict from it.

use crate::compare::{Comparer, Comparison, HeadRun};
use crate::error::Error;
use crate::event::RunEvent;
use crate::gate::{self, GatePolicy};
use crate::model::{Outcome, RunInfo, StopReason, Summary, Verdict};
use crate::report::Reporter;

/// What a finished run amounts to.
#[derive(Debug, Clone)]
pub(crate) struct Totals {
    pub summary: Summary,
    pub verdict: Verdict,
    pub stopped: Option<StopReason>,
    pub comparison: Option<Comparison>,
}

pub(crate) struct Aggregator {
    policy: GatePolicy,
    comparer: Option<Comparer>,
    /// `--filter`/`--tag` selected part of the suites: unselected baseline
    /// cases are "not run", not "removed".
    subset: bool,
    info: Option<RunInfo>,
    summary: Summary,
    latency: crate::report::latency::LatencyRecorder,
    cases: u64,
    failure_seen: bool,
}

impl Aggregator {
    pub(crate) fn new(policy: GatePolicy, comparer: Option<Comparer>, subset: bool) -> Self {
        Aggregator {
            policy,
            comparer,
            subset,
            info: None,
            summary: Summary::default(),
            latency: Default::default(),
            cases: 0,
            failure_seen: false,
        }
    }

    /// A case failed or errored (for `--fail-fast`).
    pub(crate) fn failure_seen(&self) -> bool {
        self.failure_seen
    }

    /// The summary, comparison and verdict of everything seen. `aborted`: the
    /// run could not be carried out (the verdict says why; exit code 3).
    pub(crate) fn finish(self, stopped: Option<StopReason>, aborted: Option<&Error>) -> Totals {
        let mut summary = self.summary;
        summary.latency = self.latency.finish();
        summary.overall.set_interval();
        for c in summary
            .suites
            .values_mut()
            .chain(summary.tags.values_mut())
            .chain(summary.providers.values_mut())
            .chain(summary.variants.values_mut())
        {
            c.set_interval();
        }
        let planned = self.info.as_ref().map_or(0, |i| i.planned_cases);
        summary.not_run = planned.saturating_sub(self.cases);
        let comparison = match (self.comparer, &self.info) {
            (Some(c), Some(info)) => Some(
                c.finish(
                    HeadRun::from_run_info(info)
                        .with_stopped(stopped)
                        .with_subset(self.subset),
                ),
            ),
            _ => None,
        };
        let mut verdict = gate::evaluate(&self.policy, &summary, stopped, comparison.as_ref());
        if let Some(e) = aborted {
            verdict.passed = false;
            verdict.reasons.push(format!(
                "the run was aborted: {}",
                e.to_string().trim_start_matches("error: ")
            ));
            verdict.exit_code = crate::exit::INFRASTRUCTURE;
        }
        Totals {
            summary,
            verdict,
            stopped,
            comparison,
        }
    }
}

impl Reporter for Aggregator {
    fn on_event(&mut self, event: &RunEvent<'_>) -> Result<(), Error> {
        match event {
            RunEvent::Started(info) => self.info = Some((*info).clone()),
            RunEvent::AttemptFinished { attempt, result } => {
                // A case that runs once has failed with its attempt: --fail-fast
                // reacts at once, without waiting for earlier cases.
                self.failure_seen |= attempt.repeats == 1 && result.outcome != Outcome::Pass;
            }
            RunEvent::CaseFinished(r) => {
                self.cases += 1;
                self.summary.add(r);
                self.latency.observe(r);
                self.failure_seen |= matches!(r.outcome, Outcome::Fail | Outcome::Error);
                if let Some(c) = self.comparer.as_mut() {
                    c.observe(r);
                }
            }
            RunEvent::AttemptStarted(_)
            | RunEvent::AttemptRetried { .. }
            | RunEvent::Finished { .. } => {}
        }
        Ok(())
    }
}

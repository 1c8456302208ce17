//! The runner: schedules attempts (case × repeat) on tokio with bounded
//! concurrency, reorders completions into plan order, folds repeats into case
//! results and sends them as events to every reporter.
//!
//! Memory is bounded: at most `concurrency` attempts run and at most a window
//! of completed-but-not-yet-emitted attempts wait for an earlier one; results
//! are handed to reporters and dropped. Ctrl-C stops scheduling, aborts what is
//! in flight and still reports everything that finished.

mod attempt;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use futures::stream::{FuturesUnordered, StreamExt};
use tokio::task::JoinHandle;

pub use attempt::prompt_hash;
use attempt::AttemptJob;

use crate::compare::{Comparer, Comparison, HeadRun};
use crate::config::suite::CaseDef;
use crate::error::{display_path, Error};
use crate::gate::{self, GatePolicy};
use crate::model::{
    AttemptResult, CaseResult, Outcome, RunEvent, RunInfo, StopReason, Summary, Verdict,
};
use crate::plan::Plan;
use crate::report::Reporter;

/// Options of one run.
#[derive(Debug, Clone)]
pub struct RunOptions {
    pub concurrency: usize,
    pub fail_fast: bool,
    /// Where goldens live and what this run may write there.
    pub golden: Arc<crate::golden::Store>,
    /// `--filter`/`--tag` selected only some cases of the suites (for the
    /// baseline comparison: unselected cases are "not run", not "removed").
    pub subset: bool,
    /// The gate policy (config plus flags).
    pub policy: GatePolicy,
}

/// What a run produced.
#[derive(Debug)]
pub struct RunOutcome {
    pub summary: Summary,
    pub verdict: Verdict,
    pub stopped: Option<StopReason>,
    pub comparison: Option<crate::compare::Comparison>,
}

/// One scheduled unit, in plan order.
struct Slot {
    suite: usize,
    case: Arc<CaseDef>,
    /// None for a skipped case.
    attempt: Option<AttemptResult>,
    repeats: u32,
}

/// An event with owned data, as it crosses to the reporter thread.
enum Owned {
    Started(Box<RunInfo>),
    Case(Box<CaseResult>),
    Finished(Box<Finished>),
}

struct Finished {
    summary: Summary,
    verdict: Verdict,
    stopped: Option<StopReason>,
    duration_ms: f64,
    comparison: Option<Comparison>,
}

/// Fans events out to the reporters on a thread of their own, so writing
/// reports overlaps with running attempts. The channel is bounded: when the
/// reporters fall behind, the runner waits (memory stays flat).
struct Fanout {
    tx: Option<tokio::sync::mpsc::Sender<Owned>>,
    thread: Option<std::thread::JoinHandle<Option<Error>>>,
}

impl Fanout {
    fn start(mut reporters: Vec<Box<dyn Reporter>>) -> Self {
        let (tx, mut rx) = tokio::sync::mpsc::channel::<Owned>(256);
        let thread = std::thread::spawn(move || {
            let mut first_error: Option<Error> = None;
            while let Some(ev) = rx.blocking_recv() {
                let event = match &ev {
                    Owned::Started(info) => RunEvent::Started(info),
                    Owned::Case(r) => RunEvent::CaseFinished(r),
                    Owned::Finished(f) => RunEvent::Finished {
                        summary: &f.summary,
                        verdict: &f.verdict,
                        stopped: f.stopped,
                        duration_ms: f.duration_ms,
                        comparison: f.comparison.as_ref(),
                    },
                };
                for r in reporters.iter_mut() {
                    if let Err(e) = r.on_event(&event) {
                        first_error.get_or_insert(e);
                    }
                }
            }
            first_error
        });
        Fanout {
            tx: Some(tx),
            thread: Some(thread),
        }
    }

    async fn send(&mut self, ev: Owned) {
        if let Some(tx) = &self.tx {
            // A closed channel means the thread ended; `finish` reports why.
            let _ = tx.send(ev).await;
        }
    }

    /// Close the channel and wait for the reporters; their first error.
    fn finish(mut self) -> Option<Error> {
        self.tx = None;
        match self.thread.take().map(std::thread::JoinHandle::join) {
            Some(Ok(err)) => err,
            Some(Err(_)) => Some(Error::Infrastructure("a reporter panicked".to_string())),
            None => None,
        }
    }
}

/// Folds results into the summary, progress and comparison, then hands them
/// to the reporters.
struct Emitter<'p> {
    out: Fanout,
    summary: Summary,
    emitted: u64,
    failure_seen: bool,
    progress: &'p mut dyn Progress,
    comparer: Option<Comparer>,
}

impl Emitter<'_> {
    async fn emit(&mut self, r: CaseResult) {
        self.emitted += 1;
        self.summary.add(&r);
        self.progress.case_done(&r);
        self.failure_seen |= matches!(r.outcome, Outcome::Fail | Outcome::Error);
        if let Some(c) = self.comparer.as_mut() {
            c.observe(&r);
        }
        self.out.send(Owned::Case(Box::new(r))).await;
    }
}

/// Progress callback (the progress bar lives in the CLI layer).
pub trait Progress: Send {
    fn case_done(&mut self, result: &CaseResult);
    fn finish(&mut self);
}

/// Run the plan. Reporters receive `Started`, one `CaseFinished` per case in
/// plan order, and `Finished` (always, also when interrupted).
pub async fn run(
    plan: &Plan,
    info: &RunInfo,
    opts: &RunOptions,
    reporters: Vec<Box<dyn Reporter>>,
    progress: &mut dyn Progress,
    comparer: Option<Comparer>,
    interrupt: impl std::future::Future<Output = ()>,
) -> Result<RunOutcome, Error> {
    let started = Instant::now();
    let mut out = Fanout::start(reporters);
    out.send(Owned::Started(Box::new(info.clone()))).await;
    let mut em = Emitter {
        out,
        summary: Summary::default(),
        emitted: 0,
        failure_seen: false,
        progress,
        comparer,
    };

    let concurrency = opts.concurrency.max(1);
    let window = (concurrency * 4).max(64) as u64;
    let mut cases = plan.cases();
    // The case being expanded into repeats: (suite, case, next repeat).
    let mut expanding: Option<(usize, Arc<CaseDef>, u32)> = None;
    let mut next_seq: u64 = 0;
    let mut next_emit: u64 = 0;
    let mut in_flight: FuturesUnordered<JoinHandle<(u64, Slot)>> = FuturesUnordered::new();
    let mut handles_open = true;
    let mut done: BTreeMap<u64, Slot> = BTreeMap::new();
    let mut current: Vec<AttemptResult> = Vec::new();
    let mut stopped: Option<StopReason> = None;
    let mut infra_error: Option<Error> = None;
    let planned = info.planned_cases;
    tokio::pin!(interrupt);

    // Set when no further attempt may start (fail-fast, an infrastructure error).
    let mut halt = false;

    loop {
        // Emit everything contiguous.
        while let Some(slot) = done.remove(&next_emit) {
            next_emit += 1;
            if let Some(result) = fold(plan, slot, &mut current) {
                em.emit(result).await;
            }
        }
        if opts.fail_fast && em.failure_seen && !halt {
            halt = true;
            // Only a stop if something was left unscheduled.
            if handles_open || expanding.is_some() {
                stopped = Some(StopReason::FailFast);
            }
        }

        // Schedule while there is room in the concurrency limit and the window.
        while !halt
            && handles_open
            && in_flight.len() < concurrency
            && next_seq < next_emit + window
        {
            if expanding.is_none() {
                match cases.next() {
                    None => {
                        handles_open = false;
                        break;
                    }
                    Some(Err(e)) => {
                        infra_error = Some(e);
                        handles_open = false;
                        break;
                    }
                    Some(Ok(pc)) => {
                        if pc.case.skip.is_some() {
                            done.insert(
                                next_seq,
                                Slot {
                                    suite: pc.suite,
                                    case: pc.case,
                                    attempt: None,
                                    repeats: 0,
                                },
                            );
                            next_seq += 1;
                            continue;
                        }
                        expanding = Some((pc.suite, pc.case, 1));
                    }
                }
            }
            let Some((suite_idx, case, repeat)) = expanding.take() else {
                continue;
            };
            let ps = &plan.suites[suite_idx];
            let prompt = match case.prompt.clone().or_else(|| ps.suite.prompt.clone()) {
                Some(p) => p,
                None => {
                    infra_error = Some(Error::Infrastructure(format!(
                        "case `{}` has no prompt",
                        case.id
                    )));
                    handles_open = false;
                    break;
                }
            };
            let repeats = case.settings.repeat;
            if repeat == 1 {
                if let Some(rec) = &plan.recorder {
                    rec.planned(&ps.provider_name, &ps.suite.name, &case.id, repeats);
                }
            }
            if repeat < repeats {
                expanding = Some((suite_idx, case.clone(), repeat + 1));
            }
            let job = AttemptJob {
                suite: ps.suite.name.clone(),
                case: case.clone(),
                prompt,
                provider: ps.provider.clone(),
                env: plan.env.clone(),
                repeat,
                provider_name: ps.provider_name.clone(),
                golden: opts.golden.clone(),
            };
            let seq = next_seq;
            next_seq += 1;
            in_flight.push(tokio::spawn(async move {
                let result = job.run().await;
                (
                    seq,
                    Slot {
                        suite: suite_idx,
                        case,
                        attempt: Some(result),
                        repeats,
                    },
                )
            }));
        }
        if infra_error.is_some() {
            halt = true;
        }

        // Skipped cases scheduled just now can be emitted without waiting.
        if done.contains_key(&next_emit) {
            continue;
        }
        if in_flight.is_empty() {
            // Nothing can complete any more: everything is emitted, or what is
            // left in `done` sits behind a gap that will never fill.
            if !handles_open || halt {
                break;
            }
            continue;
        }

        tokio::select! {
            biased;
            _ = &mut interrupt => {
                stopped = Some(StopReason::Interrupted);
                for h in in_flight.iter() {
                    h.abort();
                }
                // Collect what already finished; aborted tasks yield errors.
                while let Some(joined) = in_flight.next().await {
                    if let Ok((seq, slot)) = joined {
                        done.insert(seq, slot);
                    }
                }
                // First everything that is in order, then complete cases past gaps.
                while let Some(slot) = done.remove(&next_emit) {
                    next_emit += 1;
                    if let Some(result) = fold(plan, slot, &mut current) {
                        em.emit(result).await;
                    }
                }
                for result in flush_with_gaps(plan, &mut done, &mut current) {
                    em.emit(result).await;
                }
                break;
            }
            joined = in_flight.next() => {
                match joined {
                    Some(Ok((seq, slot))) => {
                        // --fail-fast reacts to a failed single-shot attempt at once,
                        // without waiting for earlier cases to be emitted.
                        let bad = slot
                            .attempt
                            .as_ref()
                            .is_some_and(|a| slot.repeats == 1 && a.outcome != Outcome::Pass);
                        em.failure_seen |= bad;
                        done.insert(seq, slot);
                    }
                    Some(Err(e)) => {
                        infra_error.get_or_insert(Error::Infrastructure(format!("a worker task failed: {e}")));
                        halt = true;
                    }
                    None => {}
                }
            }
        }
    }

    let Emitter {
        mut out,
        mut summary,
        emitted,
        progress,
        comparer,
        ..
    } = em;
    summary.not_run = planned.saturating_sub(emitted);
    progress.finish();
    let comparison = comparer.map(|c| {
        let head = HeadRun::from_run_info(info)
            .with_stopped(stopped)
            .with_subset(opts.subset);
        c.finish(head)
    });
    let mut verdict = gate::evaluate(&opts.policy, &summary, stopped, comparison.as_ref());
    if let Some(e) = &infra_error {
        // The run could not be carried out: the reports say so and the exit code is 3.
        verdict.passed = false;
        verdict.reasons.push(format!(
            "the run was aborted: {}",
            e.to_string().trim_start_matches("error: ")
        ));
        verdict.exit_code = crate::exit::INFRASTRUCTURE;
    }
    let duration_ms = started.elapsed().as_secs_f64() * 1000.0;
    out.send(Owned::Finished(Box::new(Finished {
        summary: summary.clone(),
        verdict: verdict.clone(),
        stopped,
        duration_ms,
        comparison: comparison.clone(),
    })))
    .await;
    let report_error = out.finish();
    if let Some(e) = infra_error.or(report_error) {
        return Err(e);
    }
    Ok(RunOutcome {
        summary,
        verdict,
        stopped,
        comparison,
    })
}

/// Emit remaining complete cases in order after an interruption: attempts of
/// a case are contiguous, so a case is complete when all its repeats are there.
fn flush_with_gaps(
    plan: &Plan,
    done: &mut BTreeMap<u64, Slot>,
    current: &mut Vec<AttemptResult>,
) -> Vec<CaseResult> {
    let mut out = Vec::new();
    current.clear();
    let mut pending: Vec<(u64, Slot)> = std::mem::take(done).into_iter().collect();
    pending.sort_by_key(|(s, _)| *s);
    let mut i = 0;
    while i < pending.len() {
        let (seq, slot) = &pending[i];
        if slot.attempt.is_none() {
            if let Some(r) = fold(plan, take_slot(&mut pending, i), current) {
                out.push(r);
            }
            i += 1;
            continue;
        }
        // The first attempt of a case has repeat 1; check its repeats are all present.
        let repeat = slot.attempt.as_ref().map_or(1, |a| a.repeat);
        let n = slot.repeats;
        let complete = repeat == 1
            && (0..u64::from(n)).all(|k| {
                pending
                    .get(i + k as usize)
                    .is_some_and(|(s, _)| *s == seq + k)
            });
        if complete {
            for k in 0..n as usize {
                if let Some(r) = fold(plan, take_slot(&mut pending, i + k), current) {
                    out.push(r);
                }
            }
            i += n as usize;
        } else {
            i += 1;
        }
    }
    out
}

fn take_slot(pending: &mut [(u64, Slot)], i: usize) -> Slot {
    let (_, slot) = &mut pending[i];
    Slot {
        suite: slot.suite,
        case: slot.case.clone(),
        attempt: slot.attempt.take(),
        repeats: slot.repeats,
    }
}

/// Fold an in-order slot into the current case; returns the case result when
/// its last repeat arrived (or it was skipped).
fn fold(plan: &Plan, slot: Slot, current: &mut Vec<AttemptResult>) -> Option<CaseResult> {
    let ps = &plan.suites[slot.suite];
    let case = &slot.case;
    let base = |outcome, attempts: Vec<AttemptResult>, passes, flaky| CaseResult {
        suite: ps.suite.name.clone(),
        case: case.id.clone(),
        id: format!("{}/{}", ps.suite.name, case.id),
        provider: ps.provider_name.clone(),
        tags: case.tags.clone(),
        description: case.description.clone(),
        outcome,
        flaky,
        passes,
        repeats: case.settings.repeat,
        min_passes: case.settings.min_passes(),
        skip_reason: case.skip.clone(),
        source: display_path(std::path::Path::new(&case.source)),
        attempts,
    };
    let Some(attempt) = slot.attempt else {
        return Some(base(Outcome::Skipped, Vec::new(), 0, false));
    };
    let last = attempt.repeat >= slot.repeats;
    current.push(attempt);
    if !last {
        return None;
    }
    let attempts = std::mem::take(current);
    let passes = attempts
        .iter()
        .filter(|a| a.outcome == Outcome::Pass)
        .count() as u32;
    let fails = attempts
        .iter()
        .filter(|a| a.outcome == Outcome::Fail)
        .count() as u32;
    let outcome = if passes >= case.settings.min_passes() {
        Outcome::Pass
    } else if fails > 0 {
        Outcome::Fail
    } else {
        Outcome::Error
    };
    let flaky = passes > 0 && fails > 0;
    Some(base(outcome, attempts, passes, flaky))
}

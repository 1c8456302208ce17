//! The engine: runs a plan as stages joined by events.
//!
//! ```text
//! Plan ─cases─▶ executor (attempt = render → provider → checks, on tokio)
//!      ─AttemptFinished─▶ folder (plan order, repeats → one CaseResult)
//!      ─CaseFinished─▶ aggregator (summary, comparison) and every reporter
//!      ─Finished{summary, verdict, comparison}─▶ every reporter
//! ```
//!
//! Memory is bounded: at most `concurrency` attempts run and at most a window
//! of finished attempts wait in the folder for an earlier one; results are
//! handed to the reporters' thread and dropped. Ctrl-C stops scheduling,
//! aborts what is in flight and still reports every case that finished.

mod aggregator;
mod conversation;
mod executor;
mod folder;
pub(crate) mod journal;

use std::sync::Arc;
use std::time::Instant;

use futures::stream::{FuturesUnordered, StreamExt};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

pub(crate) use aggregator::{Aggregator, Totals};
use executor::{Attempt, RetryTap};
use folder::{Folder, Slot};

use crate::compare::Comparer;
use crate::error::Error;
use crate::event::{AttemptId, Retry, RunEvent};
use crate::gate::GatePolicy;
use crate::model::{AttemptResult, CaseResult, RunInfo, StopReason};
use crate::plan::Plan;
use crate::report::Reporter;
use crate::suite::CaseDef;

/// Options of one run.
#[derive(Debug, Clone)]
pub(crate) struct RunOptions {
    pub concurrency: usize,
    pub fail_fast: bool,
    /// Where goldens live and what this run may write there.
    pub golden: Arc<crate::golden::Store>,
    /// `--filter`/`--tag` selected only some cases of the suites (for the
    /// baseline comparison: unselected cases are "not run", not "removed").
    pub subset: bool,
    /// The gate policy (config plus flags).
    pub policy: GatePolicy,
    /// The run's journal (`run --resume`): finished attempts are appended
    /// to it, and those it held when resumed are replayed, not run.
    pub journal: Option<Arc<journal::Journal>>,
}

/// An event with owned data, as it crosses to the reporters' thread.
enum Owned {
    Started(Box<RunInfo>),
    AttemptStarted(Box<AttemptId>),
    AttemptRetried(Box<(AttemptId, Retry)>),
    AttemptFinished(Box<(AttemptId, AttemptResult)>),
    Case(Box<CaseResult>),
    Finished(Box<(Totals, f64)>),
}

impl Owned {
    fn event(&self) -> RunEvent<'_> {
        match self {
            Owned::Started(info) => RunEvent::Started(info),
            Owned::AttemptStarted(id) => RunEvent::AttemptStarted(id),
            Owned::AttemptRetried(r) => RunEvent::AttemptRetried {
                attempt: &r.0,
                retry: &r.1,
            },
            Owned::AttemptFinished(f) => RunEvent::AttemptFinished {
                attempt: &f.0,
                result: &f.1,
            },
            Owned::Case(r) => RunEvent::CaseFinished(r),
            Owned::Finished(f) => RunEvent::Finished {
                summary: &f.0.summary,
                verdict: &f.0.verdict,
                stopped: f.0.stopped,
                duration_ms: f.1,
                comparison: f.0.comparison.as_ref(),
            },
        }
    }
}

/// Events cross to the reporters' thread in batches of at most this many:
/// one wake-up of that thread per batch, not per event.
const BATCH: usize = 64;

/// A batch waits at most this long for more events before it is sent, so
/// a slow run's reporters (the progress bar, the console) stay live.
const BATCH_WAIT: std::time::Duration = std::time::Duration::from_millis(20);

/// Fans events out to the reporters on a thread of their own, so writing
/// reports overlaps with running attempts. Events go in batches over a
/// bounded channel: when the reporters fall behind, the engine waits
/// (memory stays flat).
struct Fanout {
    tx: Option<mpsc::Sender<Vec<Owned>>>,
    thread: Option<std::thread::JoinHandle<Option<Error>>>,
    /// Some reporter listens to attempt events.
    attempts: bool,
    /// Events not sent yet, and when the first of them came.
    batch: Vec<Owned>,
    since: Option<Instant>,
}

impl Fanout {
    fn start(mut reporters: Vec<Box<dyn Reporter>>) -> Self {
        let attempts = reporters.iter().any(|r| r.wants_attempts());
        let (tx, mut rx) = mpsc::channel::<Vec<Owned>>(8);
        let thread = std::thread::spawn(move || {
            let mut first_error: Option<Error> = None;
            while let Some(batch) = rx.blocking_recv() {
                for owned in batch {
                    let event = owned.event();
                    let attempt = event.is_attempt();
                    for r in reporters.iter_mut() {
                        if attempt && !r.wants_attempts() {
                            continue;
                        }
                        if let Err(e) = r.on_event(&event) {
                            first_error.get_or_insert(e);
                        }
                    }
                }
            }
            first_error
        });
        Fanout {
            tx: Some(tx),
            thread: Some(thread),
            attempts,
            batch: Vec::with_capacity(BATCH),
            since: None,
        }
    }

    /// Queue an event; a full batch is sent.
    async fn send(&mut self, ev: Owned) {
        self.batch.push(ev);
        if self.since.is_none() {
            self.since = Some(Instant::now());
        }
        if self.batch.len() >= BATCH {
            self.flush().await;
        }
    }

    /// When the waiting batch must go at the latest.
    fn deadline(&self) -> Option<Instant> {
        self.since.map(|t| t + BATCH_WAIT)
    }

    /// Send what is waiting.
    async fn flush(&mut self) {
        self.since = None;
        if self.batch.is_empty() {
            return;
        }
        let batch = std::mem::replace(&mut self.batch, Vec::with_capacity(BATCH));
        if let Some(tx) = &self.tx {
            // A closed channel means the thread ended; `finish` reports why.
            let _ = tx.send(batch).await;
        }
    }

    /// Send what is waiting, close the channel and wait for the reporters;
    /// their first error.
    async fn finish(mut self) -> Option<Error> {
        self.flush().await;
        self.tx = None;
        match self.thread.take().map(std::thread::JoinHandle::join) {
            Some(Ok(err)) => err,
            Some(Err(_)) => Some(Error::Infrastructure("a reporter panicked".to_string())),
            None => None,
        }
    }
}

/// The consumers of events, in the order they hear them: the aggregator
/// (on the engine's task, so the verdict is ready at the end), then the
/// reporters (on their own thread).
struct Sinks {
    aggregator: Aggregator,
    out: Fanout,
}

impl Sinks {
    async fn case(&mut self, r: CaseResult) {
        // The aggregator never fails.
        let _ = self.aggregator.on_event(&RunEvent::CaseFinished(&r));
        self.out.send(Owned::Case(Box::new(r))).await;
    }

    async fn attempt_finished(&mut self, id: AttemptId, result: &AttemptResult) {
        let _ = self.aggregator.on_event(&RunEvent::AttemptFinished {
            attempt: &id,
            result,
        });
        if self.out.attempts {
            self.out
                .send(Owned::AttemptFinished(Box::new((id, result.clone()))))
                .await;
        }
    }
}

/// What a spawned attempt hands back.
struct Done {
    seq: u64,
    suite: usize,
    case: Arc<CaseDef>,
    id: AttemptId,
    result: AttemptResult,
    /// What the budget guard reserved for it when it was scheduled.
    reserved: f64,
}

/// The budget guard (`gate.max_cost`, `--max-cost`): before an attempt is
/// scheduled, the spend so far plus what the attempts in flight are
/// expected to cost plus this attempt's estimate must stay within the
/// budget. An attempt's estimate is the mean cost (answer and check calls)
/// of its provider's finished, priced attempts; until one of a provider's
/// attempts has finished, that provider runs one attempt at a time (its
/// first cost is not known in advance). An attempt whose cost stays
/// unknown (no usage reported) counts at its estimate.
struct Budget {
    max: f64,
    spent: f64,
    reserved: f64,
    /// Per provider: (sum of known costs, priced attempts, attempts in flight).
    providers: std::collections::HashMap<Arc<str>, (f64, u64, u64)>,
}

impl Budget {
    /// What the next attempt of `provider` may reserve; None when it must
    /// wait (its provider's first attempt is still running).
    fn estimate(&self, provider: &str) -> Option<f64> {
        match self.providers.get(provider) {
            Some(&(sum, n, _)) if n > 0 => Some(sum / n as f64),
            Some(&(_, _, in_flight)) if in_flight > 0 => None,
            _ => Some(0.0),
        }
    }

    /// Whether an attempt with this estimate fits in the budget.
    fn fits(&self, estimate: f64) -> bool {
        self.spent + self.reserved + estimate <= self.max + 1e-12
    }

    fn start(&mut self, provider: &Arc<str>, estimate: f64) {
        self.reserved += estimate;
        self.providers.entry(provider.clone()).or_default().2 += 1;
    }

    fn finish(&mut self, provider: &Arc<str>, reserved: f64, result: &AttemptResult) {
        self.reserved = (self.reserved - reserved).max(0.0);
        let e = self.providers.entry(provider.clone()).or_default();
        e.2 = e.2.saturating_sub(1);
        let judge_known = result.check_calls.is_empty() || result.judge_cost_usd.is_some();
        match result.cost_usd {
            Some(c) if judge_known => {
                let c = c + result.judge_cost_usd.unwrap_or(0.0);
                e.0 += c;
                e.1 += 1;
                self.spent += c;
            }
            _ => self.spent += reserved,
        }
    }
}

/// Run the plan. Reporters receive `Started`, one `CaseFinished` per case in
/// plan order, and `Finished` (always, also when interrupted); those that
/// ask also get every attempt's events.
pub(crate) async fn run(
    plan: &Plan,
    info: &RunInfo,
    opts: &RunOptions,
    reporters: Vec<Box<dyn Reporter>>,
    comparer: Option<Comparer>,
    interrupt: impl std::future::Future<Output = ()>,
) -> Result<Totals, Error> {
    let started = Instant::now();
    let mut sinks = Sinks {
        aggregator: Aggregator::new(opts.policy.clone(), comparer, opts.subset),
        out: Fanout::start(reporters),
    };
    let _ = sinks.aggregator.on_event(&RunEvent::Started(info));
    sinks.out.send(Owned::Started(Box::new(info.clone()))).await;
    let listen = sinks.out.attempts;
    // Suite and provider names, shared by every attempt's id.
    let names: Vec<(Arc<str>, Arc<str>)> = plan
        .suites
        .iter()
        .map(|ps| {
            (
                ps.suite.name.as_str().into(),
                ps.provider_name.as_str().into(),
            )
        })
        .collect();
    let (retry_tx, mut retry_rx) = mpsc::unbounded_channel::<(AttemptId, Retry)>();

    let concurrency = opts.concurrency.max(1);
    let window = (concurrency * 4).max(64) as u64;
    let mut cases = plan.cases();
    // The case being expanded into repeats: (suite, case seq, case, next repeat).
    let mut expanding: Option<(usize, u64, Arc<CaseDef>, u32)> = None;
    let mut next_seq: u64 = 0;
    let mut folder = Folder::default();
    let mut in_flight: FuturesUnordered<JoinHandle<Done>> = FuturesUnordered::new();
    let mut handles_open = true;
    let mut stopped: Option<StopReason> = None;
    let mut infra_error: Option<Error> = None;
    tokio::pin!(interrupt);
    let timer = tokio::time::sleep(BATCH_WAIT);
    tokio::pin!(timer);
    let mut timer_set: Option<Instant> = None;

    // Set when no further attempt may start (fail-fast, an infrastructure error).
    let mut halt = false;
    let mut budget = opts.policy.max_cost.map(|max| Budget {
        max,
        spent: 0.0,
        reserved: 0.0,
        providers: std::collections::HashMap::new(),
    });
    let pass_k = opts.policy.pass_k;
    let journal = opts.journal.as_deref();
    // Resuming a complete run: only what its journal holds is replayed.
    let replay_only = journal.and_then(journal::Journal::was_complete);

    loop {
        while let Some(mut result) = folder.pop(plan) {
            set_pass_k(&mut result, pass_k);
            sinks.case(result).await;
        }
        if opts.fail_fast && sinks.aggregator.failure_seen() && !halt && replay_only.is_none() {
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
            && next_seq < folder.next() + window
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
                        // The case's place in the whole run (a shard skips others').
                        let case_seq = pc.seq;
                        if pc.case.skip.is_some() {
                            let slot = Slot {
                                suite: pc.suite,
                                case_seq,
                                case: pc.case,
                                attempt: None,
                                repeats: 0,
                            };
                            folder.insert(next_seq, slot);
                            next_seq += 1;
                            continue;
                        }
                        expanding = Some((pc.suite, case_seq, pc.case, 1));
                    }
                }
            }
            let Some((suite_idx, case_seq, case, repeat)) = expanding.take() else {
                continue;
            };
            if let Some(j) = journal.filter(|j| j.resuming()) {
                // An attempt that finished before the run was resumed: its
                // result, checks and check calls come from the journal.
                let (suite_name, provider_name) = &names[suite_idx];
                let repeats = case.settings.repeat;
                let id = AttemptId {
                    seq: case_seq,
                    suite: suite_name.clone(),
                    case: case.id.as_str().into(),
                    provider: provider_name.clone(),
                    variant: case.variant.clone(),
                    repeat,
                    repeats,
                };
                match j.replay(&id) {
                    Ok(Some(result)) => {
                        if repeat < repeats {
                            expanding = Some((suite_idx, case_seq, case.clone(), repeat + 1));
                        }
                        if listen {
                            sinks
                                .out
                                .send(Owned::AttemptStarted(Box::new(id.clone())))
                                .await;
                        }
                        if let Some(b) = &mut budget {
                            b.start(provider_name, 0.0);
                        }
                        let done = Done {
                            seq: next_seq,
                            suite: suite_idx,
                            case,
                            id,
                            result,
                            reserved: 0.0,
                        };
                        next_seq += 1;
                        finished(&mut sinks, &mut folder, budget.as_mut(), done).await;
                        if opts.fail_fast
                            && sinks.aggregator.failure_seen()
                            && replay_only.is_none()
                        {
                            break;
                        }
                        continue;
                    }
                    Ok(None) if replay_only.is_some() => {
                        // The complete run never ran it: neither does its replay.
                        halt = true;
                        break;
                    }
                    Ok(None) => {}
                    Err(e) => {
                        infra_error = Some(e);
                        handles_open = false;
                        break;
                    }
                }
            }
            let mut reserved = 0.0;
            if let Some(b) = &mut budget {
                let provider = &names[suite_idx].1;
                match b.estimate(provider) {
                    None => {
                        // Wait for the provider's first cost.
                        expanding = Some((suite_idx, case_seq, case, repeat));
                        break;
                    }
                    Some(e) if !b.fits(e) => {
                        halt = true;
                        stopped = Some(StopReason::Budget);
                        break;
                    }
                    Some(e) => {
                        b.start(provider, e);
                        reserved = e;
                    }
                }
            }
            let ps = &plan.suites[suite_idx];
            let prompt = case.prompt.clone().or_else(|| ps.suite.prompt.clone());
            // A conversation needs no prompt: its turns are its messages.
            let prompt = match (prompt, &case.conversation) {
                (None, Some(_)) => Some(Arc::new(crate::suite::Prompt::empty())),
                (p, _) => p,
            };
            let Some(prompt) = prompt else {
                infra_error = Some(Error::Infrastructure(format!(
                    "case `{}` has no prompt",
                    case.id
                )));
                handles_open = false;
                break;
            };
            let repeats = case.settings.repeat;
            if repeat == 1 {
                if let Some(rec) = &plan.recorder {
                    rec.planned(&ps.provider_name, &ps.suite.name, &case.id, repeats);
                }
            }
            if repeat < repeats {
                expanding = Some((suite_idx, case_seq, case.clone(), repeat + 1));
            }
            let (suite_name, provider_name) = &names[suite_idx];
            let id = AttemptId {
                seq: case_seq,
                suite: suite_name.clone(),
                case: case.id.as_str().into(),
                provider: provider_name.clone(),
                variant: case.variant.clone(),
                repeat,
                repeats,
            };
            let observer = listen.then(|| {
                Arc::new(RetryTap {
                    id: id.clone(),
                    tx: retry_tx.clone(),
                }) as Arc<dyn crate::provider::CallObserver>
            });
            if listen {
                sinks
                    .out
                    .send(Owned::AttemptStarted(Box::new(id.clone())))
                    .await;
            }
            let attempt = Attempt {
                id,
                case: case.clone(),
                prompt,
                provider: ps.provider.clone(),
                providers: plan.providers.clone(),
                env: plan.env.clone(),
                golden: opts.golden.clone(),
                observer,
            };
            let seq = next_seq;
            next_seq += 1;
            let pricing = plan.pricing.clone();
            let journal = opts.journal.clone();
            // Boxed: the attempt's future is large, and the task then holds
            // (and moves) only a pointer to it.
            in_flight.push(tokio::spawn(Box::pin(async move {
                let (id, mut result) = attempt.run().await;
                pricing.price_attempt(&id.provider, &mut result);
                // Journaled by the worker that ran it, as it finishes: the
                // encoding and the write stay off the run loop.
                if let Some(j) = journal {
                    j.append(&journal::encode(&id, &result));
                }
                Done {
                    seq,
                    suite: suite_idx,
                    case,
                    id,
                    result,
                    reserved,
                }
            })));
        }
        if infra_error.is_some() {
            halt = true;
        }

        // Skipped cases scheduled just now can be folded without waiting.
        if folder.ready() {
            continue;
        }
        if in_flight.is_empty() {
            // Nothing can complete any more: everything is folded, or what is
            // left waits behind a gap that will never fill.
            if !handles_open || halt {
                break;
            }
            continue;
        }

        // The reporters hear of finished cases at the latest BATCH_WAIT later:
        // the timer is set again only when a new batch began.
        let deadline = sinks.out.deadline();
        if deadline.is_some() && deadline != timer_set {
            if let Some(d) = deadline {
                timer.as_mut().reset(d.into());
            }
            timer_set = deadline;
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
                    if let Ok(done) = joined {
                        finished(&mut sinks, &mut folder, budget.as_mut(), done).await;
                    }
                }
                // First everything that is in order, then complete cases past gaps.
                while let Some(mut result) = folder.pop(plan) {
                    set_pass_k(&mut result, pass_k);
                    sinks.case(result).await;
                }
                for mut result in folder.drain_complete(plan) {
                    set_pass_k(&mut result, pass_k);
                    sinks.case(result).await;
                }
                break;
            }
            _ = &mut timer, if deadline.is_some() => {
                sinks.out.flush().await;
            }
            Some((id, retry)) = retry_rx.recv(), if listen => {
                sinks.out.send(Owned::AttemptRetried(Box::new((id, retry)))).await;
            }
            joined = in_flight.next() => {
                match joined {
                    Some(Ok(done)) => finished(&mut sinks, &mut folder, budget.as_mut(), done).await,
                    Some(Err(e)) => {
                        infra_error.get_or_insert(Error::Infrastructure(format!("a worker task failed: {e}")));
                        halt = true;
                    }
                    None => {}
                }
            }
        }
    }

    let Sinks {
        aggregator,
        mut out,
    } = sinks;
    // Retries heard after their attempt was collected (an interrupted run).
    while let Ok((id, retry)) = retry_rx.try_recv() {
        out.send(Owned::AttemptRetried(Box::new((id, retry)))).await;
    }
    if let (Some(how), None) = (replay_only, stopped) {
        // The replay of a complete run stops where that run stopped.
        stopped = how;
    }
    let totals = aggregator.finish(stopped, infra_error.as_ref());
    let duration_ms = started.elapsed().as_secs_f64() * 1000.0;
    out.send(Owned::Finished(Box::new((totals.clone(), duration_ms))))
        .await;
    let report_error = out.finish().await;
    if let Some(e) = infra_error.or(report_error) {
        return Err(e);
    }
    Ok(totals)
}

/// pass@k and pass^k of a case that ran more than once (k: `gate.pass_k`,
/// else its repeats).
fn set_pass_k(r: &mut CaseResult, k: Option<u32>) {
    if r.repeats > 1 {
        r.pass_k = crate::util::stats::pass_k(r.passes, r.repeats, k.unwrap_or(r.repeats));
    }
}

/// An attempt came back: count its cost, tell the listeners, then queue it
/// for folding.
async fn finished(sinks: &mut Sinks, folder: &mut Folder, budget: Option<&mut Budget>, done: Done) {
    if let Some(b) = budget {
        b.finish(&done.id.provider, done.reserved, &done.result);
    }
    let repeats = done.id.repeats;
    let case_seq = done.id.seq;
    sinks.attempt_finished(done.id, &done.result).await;
    folder.insert(
        done.seq,
        Slot {
            suite: done.suite,
            case_seq,
            case: done.case,
            attempt: Some(done.result),
            repeats,
        },
    );
}

#[cfg(test)]
mod tests;

//! `evalgate bench`: latency and throughput of a provider under a defined
//! load, with numbers an engineer can defend.
//!
//! - Closed loop (`--concurrency N`): N workers, each sends its next request
//!   when its previous one answered. Latency is measured from the actual
//!   send. This is what most load tools do, and it under-reports the tail
//!   (coordinated omission): while the server stalls, the workers wait
//!   instead of sending, so the stall is seen by N requests only.
//! - Open loop (`--rate R`): the send times are computed up front
//!   ([`schedule`]) and kept whatever the server does; latency is measured
//!   from the intended send time (coordinated-omission corrected) and, as a
//!   second figure, from the actual send. A send later than 1 ms after its
//!   intended time is late; more than 1% late sends make the run invalid.
//!
//! Requests render each selected case's prompt once, up front, then cycle
//! through the cases. Providers are built without cache, cassettes,
//! retries or client-side limiters (see `BuildOptions::bench`). Each worker
//! (closed loop) records into its own HDR histograms, merged at the end;
//! the open loop records in one collector. Two providers run side by side:
//! request i goes to one of them by a seeded coin per pair of requests
//! (A, B or B, A), on the same schedule.

pub(crate) mod report;
pub(crate) mod schedule;
pub(crate) mod stats;

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use minijinja::Environment;
use tokio::sync::{mpsc, watch, Semaphore};

use crate::check::golden::GoldenCtx;
use crate::check::EvalCtx;
use crate::event::AttemptId;
use crate::golden::Store;
use crate::model::Message;
use crate::provider::{Provider, ProviderError, Registry, Request, ANSWER};
use crate::suite::CaseDef;
use schedule::Arrival;
use stats::Hist;

/// One provider under test.
pub(crate) struct Target {
    pub name: String,
    pub provider: Arc<dyn Provider>,
    /// `mock`/`echo` count words: their token counts are estimates.
    pub estimates_tokens: bool,
}

/// One case of the workload, rendered once.
pub(crate) struct Item {
    pub suite: Arc<str>,
    pub case: Arc<CaseDef>,
    pub messages: Vec<Message>,
    pub vars: minijinja::Value,
}

/// The load model.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Load {
    Closed {
        concurrency: usize,
    },
    Open {
        rate: f64,
        arrival: Arrival,
        /// In-flight requests at most (a send waits for a slot, and is late).
        max_in_flight: usize,
    },
}

/// What the command asked for.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub load: Load,
    /// Measured time (after the warmup).
    pub duration: Option<Duration>,
    /// Measured requests (after the warmup).
    pub requests: Option<u64>,
    pub warmup: Duration,
    pub timeout: Duration,
    pub seed: u64,
    /// Evaluate each answer's checks (goodput counts correct answers only).
    pub check: bool,
    /// Per-request goodput thresholds, from the SLOs.
    pub good_latency_ms: Option<f64>,
    pub good_ttft_ms: Option<f64>,
    /// A live line on stderr (a terminal only).
    pub live: bool,
}

/// Everything the run shares.
pub(crate) struct Workload {
    pub targets: Vec<Target>,
    pub items: Vec<Item>,
    pub env: Arc<Environment<'static>>,
    pub registry: Arc<Registry>,
    pub golden: Arc<Store>,
}

/// Per provider: what was measured.
#[derive(Debug, Clone)]
pub(crate) struct PerTarget {
    /// Successful answers: from the intended send (open loop) or the actual send (closed loop).
    pub latency: Hist,
    /// Open loop: successful answers from the actual send.
    pub latency_sent: Hist,
    /// Time to first token, from the same origin as `latency`.
    pub ttft: Hist,
    pub ok: u64,
    pub errors: BTreeMap<String, u64>,
    pub output_tokens: u64,
    /// Answers whose tokens were estimated (no usage reported, or a provider that counts words).
    pub tokens_estimated: u64,
    pub good: u64,
    pub checks_passed: u64,
    pub checks_failed: u64,
}

impl PerTarget {
    fn new(timeout: Duration) -> PerTarget {
        PerTarget {
            latency: Hist::new(timeout),
            latency_sent: Hist::new(timeout),
            ttft: Hist::new(timeout),
            ok: 0,
            errors: BTreeMap::new(),
            output_tokens: 0,
            tokens_estimated: 0,
            good: 0,
            checks_passed: 0,
            checks_failed: 0,
        }
    }

    fn merge(&mut self, o: &PerTarget) {
        self.latency.merge(&o.latency);
        self.latency_sent.merge(&o.latency_sent);
        self.ttft.merge(&o.ttft);
        self.ok += o.ok;
        for (k, v) in &o.errors {
            *self.errors.entry(k.clone()).or_default() += v;
        }
        self.output_tokens += o.output_tokens;
        self.tokens_estimated += o.tokens_estimated;
        self.good += o.good;
        self.checks_passed += o.checks_passed;
        self.checks_failed += o.checks_failed;
    }

    pub(crate) fn requests(&self) -> u64 {
        self.ok + self.errors.values().sum::<u64>()
    }
}

/// One point of the latency-over-time chart.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Point {
    /// Seconds since the measurement started (the intended send in open loop).
    pub t: f32,
    pub latency_ms: f32,
    pub target: u8,
    pub ok: bool,
}

/// The most chart points one recorder keeps (the chart thins them anyway).
const MAX_POINTS: usize = 200_000;

/// A worker's (or the collector's) measurements.
#[derive(Debug, Clone)]
pub(crate) struct Recorder {
    pub per: Vec<PerTarget>,
    /// Open loop: send lateness (actual − intended), measured sends only.
    pub lateness: Hist,
    pub sends: u64,
    pub late: u64,
    pub points: Vec<Point>,
    /// When the last measured answer came (for the rates).
    pub last_finish: Option<Instant>,
    /// The most points this recorder keeps: when full, every other point is
    /// dropped and only every `stride`-th request is kept from then on, so
    /// the points cover the whole run evenly.
    points_cap: usize,
    stride: u64,
    seen: u64,
}

impl Recorder {
    fn new(targets: usize, timeout: Duration) -> Recorder {
        Recorder {
            per: (0..targets).map(|_| PerTarget::new(timeout)).collect(),
            lateness: Hist::new(timeout),
            sends: 0,
            late: 0,
            points: Vec::new(),
            last_finish: None,
            points_cap: MAX_POINTS,
            stride: 1,
            seen: 0,
        }
    }

    fn merge(&mut self, o: Recorder) {
        for (a, b) in self.per.iter_mut().zip(&o.per) {
            a.merge(b);
        }
        self.lateness.merge(&o.lateness);
        self.sends += o.sends;
        self.late += o.late;
        let room = MAX_POINTS.saturating_sub(self.points.len());
        self.points.extend(o.points.into_iter().take(room));
        self.last_finish = self.last_finish.max(o.last_finish);
    }

    fn record(&mut self, d: Done, origin: Instant, settings: &Settings) {
        let open = matches!(settings.load, Load::Open { .. });
        let from = if open { d.intended } else { d.sent };
        let lateness = d.sent.saturating_duration_since(d.intended);
        if open {
            self.sends += 1;
            self.lateness.record(lateness);
            if lateness > stats::LATE_AFTER {
                self.late += 1;
            }
        }
        self.last_finish = self.last_finish.max(Some(d.finished));
        let latency = d.finished.saturating_duration_since(from);
        let p = &mut self.per[d.target];
        let ok = d.error.is_none();
        match d.error {
            Some(kind) => *p.errors.entry(kind).or_default() += 1,
            None => {
                p.ok += 1;
                p.latency.record(latency);
                if open {
                    p.latency_sent
                        .record(d.finished.saturating_duration_since(d.sent));
                }
                // TTFT from the provider is measured from its own send; in the
                // open loop the send's lateness is added (the same origin as latency).
                let ttft = d.ttft_ms.map(|t| {
                    Duration::from_secs_f64(t.max(0.0) / 1000.0)
                        + if open { lateness } else { Duration::ZERO }
                });
                if let Some(t) = ttft {
                    p.ttft.record(t);
                }
                p.output_tokens += d.tokens;
                if d.tokens_estimated {
                    p.tokens_estimated += 1;
                }
                match d.correct {
                    Some(true) => p.checks_passed += 1,
                    Some(false) => p.checks_failed += 1,
                    None => {}
                }
                let ms = latency.as_secs_f64() * 1000.0;
                let within_latency = settings.good_latency_ms.is_none_or(|l| ms <= l);
                let within_ttft = match (settings.good_ttft_ms, ttft) {
                    (Some(l), Some(t)) => t.as_secs_f64() * 1000.0 <= l,
                    _ => true,
                };
                if within_latency && within_ttft && d.correct != Some(false) {
                    p.good += 1;
                }
            }
        }
        self.seen += 1;
        if (self.seen - 1) % self.stride == 0 && self.points.len() >= self.points_cap {
            let kept: Vec<Point> = self.points.iter().step_by(2).copied().collect();
            self.points = kept;
            self.stride *= 2;
        }
        if (self.seen - 1) % self.stride == 0 {
            self.points.push(Point {
                t: from.saturating_duration_since(origin).as_secs_f32(),
                latency_ms: (latency.as_secs_f64() * 1000.0) as f32,
                target: d.target as u8,
                ok,
            });
        }
    }
}

/// One finished request.
#[derive(Debug)]
struct Done {
    target: usize,
    intended: Instant,
    sent: Instant,
    finished: Instant,
    ttft_ms: Option<f64>,
    tokens: u64,
    tokens_estimated: bool,
    error: Option<String>,
    correct: Option<bool>,
}

/// The result of a run.
#[derive(Debug)]
pub(crate) struct Measured {
    pub rec: Recorder,
    /// Sends the schedule held (open loop; warmup included).
    pub scheduled: u64,
    /// Requests sent (warmup included).
    pub sent_total: u64,
    /// Measured seconds: from the end of the warmup to the last measured answer.
    pub elapsed: Duration,
    pub started_at: SystemTime,
    pub interrupted: bool,
}

/// Which provider request `i` goes to: one provider alone, or a seeded
/// coin per pair of requests (A, B or B, A) for two side by side.
pub(crate) fn target_of(i: u64, targets: usize, seed: u64) -> usize {
    if targets < 2 {
        return 0;
    }
    let flip = (mix(seed ^ mix(i / 2)) & 1) as usize;
    ((i % 2) as usize) ^ flip
}

fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The kind of an error, as the reports count them.
pub(crate) fn error_kind(e: &ProviderError) -> String {
    match e {
        ProviderError::Timeout(_) => "timeout".into(),
        ProviderError::Http { status: 429, .. } => "http_429".into(),
        ProviderError::Http { status, .. } if *status >= 500 => "http_5xx".into(),
        ProviderError::Http { .. } => "http_4xx".into(),
        ProviderError::Transport(_) => "transport".into(),
        ProviderError::Stream(_) => "stream".into(),
        ProviderError::Retried { last, .. } => error_kind(last),
        _ => "provider".into(),
    }
}

/// Send request `i` and wait for its answer (and its checks, after the
/// answer: checks are never part of the latency).
async fn call(w: &Workload, settings: &Settings, i: u64, target: usize, intended: Instant) -> Done {
    let item = &w.items[(i % w.items.len() as u64) as usize];
    let t = &w.targets[target];
    let cycle = (i / w.items.len() as u64).min(u32::MAX as u64 - 1) as u32;
    let request = Request {
        suite: item.suite.to_string(),
        case_id: item.case.id.clone(),
        repeat: cycle + 1,
        messages: item.messages.clone(),
        timeout: settings.timeout,
        vars: serde_json::Value::Object(item.case.vars.clone()),
        call: std::borrow::Cow::Borrowed(ANSWER),
        format: crate::provider::Format::Text,
        observer: None,
    };
    let sent = Instant::now();
    let answer = t.provider.complete(&request).await;
    let finished = Instant::now();
    let mut done = Done {
        target,
        intended,
        sent,
        finished,
        ttft_ms: None,
        tokens: 0,
        tokens_estimated: false,
        error: None,
        correct: None,
    };
    match answer {
        Err(e) => done.error = Some(error_kind(&e)),
        Ok(mut r) => {
            done.ttft_ms = r.timing.ttft_ms;
            match &r.usage {
                Some(u) => {
                    done.tokens = u.output_tokens;
                    done.tokens_estimated = t.estimates_tokens;
                }
                None => {
                    done.tokens = crate::provider::estimate_tokens(&r.text);
                    done.tokens_estimated = true;
                }
            }
            if settings.check {
                r.timing.latency_ms =
                    finished.saturating_duration_since(sent).as_secs_f64() * 1000.0;
                done.correct = Some(checks_pass(w, item, t, &request, &r, cycle + 1).await);
            }
        }
    }
    done
}

async fn checks_pass(
    w: &Workload,
    item: &Item,
    t: &Target,
    request: &Request,
    response: &crate::provider::Response,
    repeat: u32,
) -> bool {
    let id = AttemptId {
        seq: 0,
        suite: item.suite.clone(),
        case: Arc::from(item.case.id.as_str()),
        provider: Arc::from(t.name.as_str()),
        variant: item.case.variant.clone(),
        repeat,
        repeats: 1,
    };
    let golden = GoldenCtx {
        store: &w.golden,
        suite: &request.suite,
        case: &item.case.id,
        provider: &t.name,
        variant: item.case.variant.as_deref(),
        turn: None,
        model: response.model.as_deref(),
        prompt_hash: "",
        repeat,
    };
    let ctx = EvalCtx::for_response(response, &item.vars, &w.env)
        .with_golden(golden)
        .with_call(&request.messages, &id, &w.registry);
    let mut results = Vec::with_capacity(item.case.checks.len());
    for c in &item.case.checks {
        results.push(c.run(&ctx).await);
    }
    let score = crate::check::weighted_score(&results);
    results.iter().all(|c| c.passed)
        || item
            .case
            .settings
            .threshold
            .is_some_and(|th| score + 1e-12 >= th)
}

/// Counters for the live line.
#[derive(Default)]
struct Live {
    sent: AtomicU64,
    done: AtomicU64,
    errors: AtomicU64,
}

/// Run the benchmark until its limits, or until `stop` resolves (then
/// `interrupted` is set and what was measured so far is returned).
pub(crate) async fn run(
    w: Arc<Workload>,
    settings: Settings,
    stop: impl std::future::Future<Output = ()>,
) -> Measured {
    let (stop_tx, stop_rx) = watch::channel(false);
    let started_at = SystemTime::now();
    let origin = Instant::now();
    let warmup_end = origin + settings.warmup;
    let live = Arc::new(Live::default());
    let settings = Arc::new(settings);
    let live_task = settings.live.then(|| {
        let live = Arc::clone(&live);
        let mut stop = stop_rx.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            tick.tick().await;
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    _ = stop.wait_for(|s| *s) => break,
                }
                let (s, d, e) = (
                    live.sent.load(Ordering::Relaxed),
                    live.done.load(Ordering::Relaxed),
                    live.errors.load(Ordering::Relaxed),
                );
                let secs = origin.elapsed().as_secs_f64();
                let _ = write!(
                    std::io::stderr(),
                    "\r\x1b[2K  {secs:6.1} s  sent {s}  answered {d}  errors {e}  in flight {}  {:.1} req/s",
                    s.saturating_sub(d),
                    d as f64 / secs.max(1e-9)
                );
            }
            let _ = write!(std::io::stderr(), "\r\x1b[2K");
        })
    });
    let work = run_load(
        Arc::clone(&w),
        Arc::clone(&settings),
        origin,
        warmup_end,
        stop_rx.clone(),
        Arc::clone(&live),
    );
    tokio::pin!(work);
    tokio::pin!(stop);
    let mut interrupted = false;
    let (rec, scheduled) = tokio::select! {
        r = &mut work => r,
        () = &mut stop => {
            interrupted = true;
            let _ = stop_tx.send(true);
            // Workers and the collector return what they measured at once.
            work.await
        }
    };
    let _ = stop_tx.send(true);
    if let Some(t) = live_task {
        let _ = t.await;
    }
    let end = rec.last_finish.unwrap_or_else(Instant::now);
    let elapsed = end.saturating_duration_since(warmup_end);
    Measured {
        rec,
        scheduled,
        sent_total: live.sent.load(Ordering::Relaxed),
        elapsed,
        started_at,
        interrupted,
    }
}

/// The load itself: (what was measured, sends scheduled).
async fn run_load(
    w: Arc<Workload>,
    settings: Arc<Settings>,
    origin: Instant,
    warmup_end: Instant,
    stop: watch::Receiver<bool>,
    live: Arc<Live>,
) -> (Recorder, u64) {
    let targets = w.targets.len();
    match settings.load {
        Load::Closed { concurrency } => {
            let next = Arc::new(AtomicU64::new(0));
            let measured = Arc::new(AtomicU64::new(0));
            let end = settings.duration.map(|d| warmup_end + d);
            let mut workers = Vec::with_capacity(concurrency);
            for _ in 0..concurrency {
                let (w, settings, next, measured, live) = (
                    Arc::clone(&w),
                    Arc::clone(&settings),
                    Arc::clone(&next),
                    Arc::clone(&measured),
                    Arc::clone(&live),
                );
                let mut stop = stop.clone();
                workers.push(tokio::spawn(async move {
                    let mut rec = Recorder::new(targets, settings.timeout);
                    // The chart's points are shared out between the workers.
                    rec.points_cap = (MAX_POINTS / concurrency).max(1_000);
                    loop {
                        if *stop.borrow() {
                            break;
                        }
                        let now = Instant::now();
                        if end.is_some_and(|e| now >= e) {
                            break;
                        }
                        let is_measured = now >= warmup_end;
                        if is_measured {
                            if let Some(n) = settings.requests {
                                if measured.fetch_add(1, Ordering::Relaxed) >= n {
                                    break;
                                }
                            }
                        }
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let target = target_of(i, targets, settings.seed);
                        live.sent.fetch_add(1, Ordering::Relaxed);
                        let done = tokio::select! {
                            d = call(&w, &settings, i, target, now) => d,
                            _ = stop.wait_for(|s| *s) => break,
                        };
                        live.done.fetch_add(1, Ordering::Relaxed);
                        if done.error.is_some() {
                            live.errors.fetch_add(1, Ordering::Relaxed);
                        }
                        if is_measured {
                            rec.record(done, warmup_end, &settings);
                        }
                    }
                    rec
                }));
            }
            let mut all = Recorder::new(targets, settings.timeout);
            for h in workers {
                if let Ok(rec) = h.await {
                    all.merge(rec);
                }
            }
            (all, 0)
        }
        Load::Open {
            rate,
            arrival,
            max_in_flight,
        } => {
            let offsets = schedule::offsets(
                arrival,
                rate,
                settings.seed,
                settings.warmup,
                settings.duration.map(|d| d + settings.warmup),
                settings.requests,
            )
            .unwrap_or_default();
            let scheduled = offsets.len() as u64;
            let (tx, mut rx) = mpsc::unbounded_channel::<Done>();
            let slots = Arc::new(Semaphore::new(
                max_in_flight.clamp(1, Semaphore::MAX_PERMITS),
            ));
            let handle = tokio::runtime::Handle::current();
            // The dispatcher: a thread of its own, waking 3 ms before each
            // send time (sleep, then spin for the last 200 µs) to start the
            // request's task, which waits awake on the runtime for the send
            // time; lateness is measured where the request is actually sent.
            let dispatcher = {
                let (w, settings, live, stop) = (
                    Arc::clone(&w),
                    Arc::clone(&settings),
                    Arc::clone(&live),
                    stop.clone(),
                );
                std::thread::Builder::new()
                    .name("evalgate-bench-dispatch".into())
                    .spawn(move || {
                        for (i, off) in offsets.into_iter().enumerate() {
                            let intended = origin + off;
                            // Start the request's task a little early: it waits
                            // on the runtime, awake, for its send time.
                            wait_until(intended.checked_sub(LEAD).unwrap_or(intended), &stop);
                            if *stop.borrow() {
                                break;
                            }
                            let i = i as u64;
                            let target = target_of(i, targets, settings.seed);
                            let (w, settings, tx, slots, live) = (
                                Arc::clone(&w),
                                Arc::clone(&settings),
                                tx.clone(),
                                Arc::clone(&slots),
                                Arc::clone(&live),
                            );
                            let mut stop = stop.clone();
                            live.sent.fetch_add(1, Ordering::Relaxed);
                            handle.spawn(async move {
                                arrive_at(intended).await;
                                // A send that waits here for a slot is late.
                                let Ok(_slot) = slots.acquire_owned().await else {
                                    return;
                                };
                                let done = tokio::select! {
                                    d = call(&w, &settings, i, target, intended) => d,
                                    _ = stop.wait_for(|s| *s) => return,
                                };
                                live.done.fetch_add(1, Ordering::Relaxed);
                                if done.error.is_some() {
                                    live.errors.fetch_add(1, Ordering::Relaxed);
                                }
                                let _ = tx.send(done);
                            });
                        }
                    })
            };
            let mut rec = Recorder::new(targets, settings.timeout);
            let mut stop = stop.clone();
            if dispatcher.is_ok() {
                loop {
                    tokio::select! {
                        d = rx.recv() => match d {
                            Some(d) => {
                                if d.intended >= warmup_end {
                                    rec.record(d, warmup_end, &settings);
                                }
                            }
                            None => break,
                        },
                        _ = stop.wait_for(|s| *s) => break,
                    }
                }
            }
            if let Ok(t) = dispatcher {
                // It stops at its next send time once the stop flag is set.
                let _ = tokio::task::spawn_blocking(move || t.join()).await;
            }
            (rec, scheduled)
        }
    }
}

/// How far ahead of its send time a request's task is started (open loop).
const LEAD: Duration = Duration::from_millis(3);

/// On the runtime: sleep on the timer (1 ms resolution) until shortly
/// before `t`, then yield until `t`, so that a worker thread is awake at
/// the send time (waking a parked worker can take milliseconds on a busy
/// machine).
async fn arrive_at(t: Instant) {
    if let Some(coarse) = t.checked_sub(Duration::from_micros(1500)) {
        tokio::time::sleep_until(coarse.into()).await;
    }
    while Instant::now() < t {
        tokio::task::yield_now().await;
    }
}

/// Sleep until `t` (coarsely), then spin for the last stretch: OS sleeps
/// overshoot by up to a millisecond, which would make every send late.
fn wait_until(t: Instant, stop: &watch::Receiver<bool>) {
    loop {
        let now = Instant::now();
        if now >= t || *stop.borrow() {
            return;
        }
        let left = t - now;
        if left > Duration::from_millis(2) {
            // Wake at least every 50 ms to see a stop.
            std::thread::sleep((left - Duration::from_millis(1)).min(Duration::from_millis(50)));
        } else if left > Duration::from_micros(200) {
            std::thread::sleep(Duration::from_micros(50));
        } else {
            std::hint::spin_loop();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn side_by_side_alternates_in_seeded_pairs() {
        let a: Vec<usize> = (0..1000).map(|i| target_of(i, 2, 9)).collect();
        // Each pair has one of each.
        for p in a.chunks(2) {
            assert_ne!(p[0], p[1]);
        }
        // Both orders occur, reproducibly from the seed.
        let firsts = a.chunks(2).filter(|p| p[0] == 0).count();
        assert!((200..300).contains(&firsts), "{firsts}");
        let b: Vec<usize> = (0..1000).map(|i| target_of(i, 2, 9)).collect();
        assert_eq!(a, b);
        assert!((0..100).all(|i| target_of(i, 1, 9) == 0));
    }

    fn done(target: usize, intended: Instant, late_us: u64, latency_ms: u64) -> Done {
        let sent = intended + Duration::from_micros(late_us);
        Done {
            target,
            intended,
            sent,
            finished: sent + Duration::from_millis(latency_ms),
            ttft_ms: Some(1.0),
            tokens: 3,
            tokens_estimated: false,
            error: None,
            correct: None,
        }
    }

    fn settings(load: Load) -> Settings {
        Settings {
            load,
            duration: None,
            requests: Some(100),
            warmup: Duration::ZERO,
            timeout: Duration::from_secs(10),
            seed: 0,
            check: false,
            good_latency_ms: Some(50.0),
            good_ttft_ms: None,
            live: false,
        }
    }

    #[test]
    fn open_loop_latency_counts_from_the_intended_send_and_late_sends_are_counted() {
        let s = settings(Load::Open {
            rate: 100.0,
            arrival: Arrival::Constant,
            max_in_flight: 10,
        });
        let t0 = Instant::now();
        let mut r = Recorder::new(1, s.timeout);
        // 98 sends on time, 2 sends 30 ms late (a synthetic clock: the
        // instants are made up, nothing waits).
        for i in 0..100u64 {
            let late = if i < 2 { 30_000 } else { 100 };
            r.record(
                done(0, t0 + Duration::from_millis(10 * i), late, 20),
                t0,
                &s,
            );
        }
        assert_eq!((r.sends, r.late), (100, 2));
        assert!(stats::too_many_late(r.sends, r.late));
        let p = &r.per[0];
        // From the intended send: the 30 ms of lateness is in the latency.
        assert!((p.latency.summary().max - 50.0).abs() < 0.1);
        // From the actual send: not.
        assert!((p.latency_sent.summary().max - 20.0).abs() < 0.1);
        // Goodput: within 50 ms (the two late ones are exactly 50.0 ms: within).
        assert_eq!(p.good, 100);
        // One late send in 100 is within the rule.
        let mut r = Recorder::new(1, s.timeout);
        for i in 0..100u64 {
            let late = if i == 0 { 5_000 } else { 0 };
            r.record(
                done(0, t0 + Duration::from_millis(10 * i), late, 20),
                t0,
                &s,
            );
        }
        assert!(!stats::too_many_late(r.sends, r.late));
    }

    #[test]
    fn chart_points_stay_bounded_and_cover_the_whole_run() {
        let s = settings(Load::Closed { concurrency: 1 });
        let t0 = Instant::now();
        let mut r = Recorder::new(1, s.timeout);
        r.points_cap = 1_000;
        for i in 0..100_000u64 {
            r.record(done(0, t0 + Duration::from_millis(i), 0, 1), t0, &s);
        }
        assert!(
            r.points.len() <= 1_000 && r.points.len() > 500,
            "{}",
            r.points.len()
        );
        // Evenly spread from the start to the end.
        assert_eq!(r.points[0].t, 0.0);
        assert!(
            r.points.last().unwrap().t > 99.0,
            "{}",
            r.points.last().unwrap().t
        );
        let gaps: Vec<f32> = r.points.windows(2).map(|w| w[1].t - w[0].t).collect();
        assert!(gaps.iter().all(|g| (g - gaps[0]).abs() < 1e-3), "uneven");
        // Every request is still in the histograms.
        assert_eq!(r.per[0].latency.len(), 100_000);
    }

    #[test]
    fn closed_loop_counts_from_the_actual_send_and_has_no_late_sends() {
        let s = settings(Load::Closed { concurrency: 1 });
        let t0 = Instant::now();
        let mut r = Recorder::new(2, s.timeout);
        r.record(done(1, t0, 30_000, 20), t0, &s);
        assert_eq!((r.sends, r.late), (0, 0));
        assert!((r.per[1].latency.summary().max - 20.0).abs() < 0.1);
        assert_eq!(r.per[0].requests(), 0);
    }
}

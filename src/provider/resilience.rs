//! `Resilient`: the per-try timeout, retries with backoff, and the
//! concurrency and rate limits wrapped around a network provider.
//!
//! One `Resilient` is built per provider and shared by every case that uses
//! it, so its limiters are per provider and shared across concurrent cases.
//! Each try, in order:
//!
//! 1. takes a concurrency permit (`max_concurrency`; tokio's semaphore is
//!    FIFO-fair). The permit is held for the try only and released before a
//!    backoff wait, so a waiting retry does not hold a slot;
//! 2. waits for the requests-per-minute limiter (`requests_per_minute`): a
//!    smooth limiter (GCRA) spacing tries `60 / rpm` seconds apart, with a
//!    burst allowance of `clamp(rpm / 60, 1, 3)` tries after an idle period
//!    (at most a second's worth, at most three). Callers reserve their slot
//!    in arrival order and sleep until it: fair, and no polling;
//! 3. waits for the tokens-per-minute limiter (`tokens_per_minute`): a
//!    sliding one-minute window of the `total_tokens` that responses
//!    reported. A try waits while the window's sum is at least the limit,
//!    until enough entries have expired. Responses without usage count zero;
//! 4. calls the inner provider under the per-try timeout
//!    (`limits.timeout`, else the case's `timeout`). A try that times out is
//!    dropped, so a late answer can never surface next to a retry's.
//!
//! A retryable error ([`ProviderError::retryable`]) with retries left waits
//! and tries again: the server's `Retry-After` when given, **capped at
//! `backoff_max`** (a server asking for ten minutes gets `backoff_max`; the
//! next try may then be refused again and use another retry), otherwise
//! exponential backoff with full jitter, uniform in
//! `[0, min(backoff_max, backoff_initial · 2^retry)]`, see [`backoff`]. The
//! backoff waits happen outside the limiters, and retries go through the
//! limiters again like any request.
//!
//! The final error is the last try's error; when more than one try was
//! made it is wrapped in `ProviderError::Retried { tries, last }`, whose
//! text ends in ` (after N tries)` and whose `retries()` the report shows.
//! A successful response carries the number of failed tries before it in
//! [`Response::retries`].
//!
//! Zero limits (`max_concurrency: 0`, `requests_per_minute: 0`,
//! `tokens_per_minute: 0`) are treated as unset rather than as "never";
//! configuration validation is expected to reject them.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use futures::future::BoxFuture;
use tokio::sync::Semaphore;
use tokio::time::Instant;

use super::{Provider, ProviderError, Request, Response};
use crate::config::provider::Limits;
use crate::model::Usage;

/// The span of the tokens-per-minute window and of one rpm period.
const MINUTE: Duration = Duration::from_secs(60);

/// The largest burst the requests-per-minute limiter allows after idling.
const MAX_BURST: u32 = 3;

/// A provider with timeouts, retries and limits applied around each call.
pub(crate) struct Resilient {
    inner: Arc<dyn Provider>,
    limits: Limits,
    concurrency: Option<Semaphore>,
    requests: Option<RateLimiter>,
    tokens: Option<TokenWindow>,
}

impl std::fmt::Debug for Resilient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Resilient")
            .field("inner", &self.inner.name())
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

impl Resilient {
    /// Wrap `inner` with the given limits. Build one per provider and share
    /// it (behind an `Arc`) between all cases that use the provider.
    pub(crate) fn new(inner: Arc<dyn Provider>, limits: &Limits) -> Resilient {
        Resilient {
            inner,
            limits: limits.clone(),
            concurrency: limits
                .max_concurrency
                .filter(|&n| n > 0)
                .map(|n| Semaphore::new(n.min(Semaphore::MAX_PERMITS))),
            requests: limits
                .requests_per_minute
                .filter(|&n| n > 0)
                .map(RateLimiter::per_minute),
            tokens: limits
                .tokens_per_minute
                .filter(|&n| n > 0)
                .map(|n| TokenWindow::new(n, MINUTE)),
        }
    }

    async fn run(&self, request: &Request) -> Result<Response, ProviderError> {
        let timeout = self.limits.timeout.unwrap_or(request.timeout);
        let mut failed: u32 = 0;
        loop {
            match self.try_once(request, timeout).await {
                Ok(mut response) => {
                    response.retries = failed;
                    return Ok(response);
                }
                Err(err) => {
                    if !err.retryable() || failed >= self.limits.max_retries {
                        return Err(with_tries(err, failed + 1));
                    }
                    let wait = self.retry_wait(&err, failed);
                    failed += 1;
                    if let Some(observer) = &request.observer {
                        observer.retrying(failed, &err, wait);
                    }
                    if !wait.is_zero() {
                        tokio::time::sleep(wait).await;
                    }
                }
            }
        }
    }

    /// One try: permit, rate limits, then the inner call under `timeout`.
    /// The permit is released when this returns.
    async fn try_once(
        &self,
        request: &Request,
        timeout: Duration,
    ) -> Result<Response, ProviderError> {
        let queued = Instant::now();
        let _permit = match &self.concurrency {
            Some(semaphore) => Some(semaphore.acquire().await.map_err(|_| {
                ProviderError::Provider("the concurrency limiter was closed".to_string())
            })?),
            None => None,
        };
        // Tokens first: a request that waits for the token window must not
        // hold a request slot meanwhile (the slots would then all fire at once).
        let _reservation = match &self.tokens {
            Some(tokens) => Some(tokens.acquire().await),
            None => None,
        };
        if let Some(requests) = &self.requests {
            requests.acquire().await;
        }
        let queue_ms = queued.elapsed().as_secs_f64() * 1000.0;
        let mut response = match tokio::time::timeout(timeout, self.inner.complete(request)).await {
            Ok(result) => result?,
            Err(_) => return Err(ProviderError::Timeout(timeout)),
        };
        if !response.timing.recorded {
            response.timing.queue_ms = Some(queue_ms);
        }
        if let (Some(tokens), Some(usage)) = (&self.tokens, &response.usage) {
            tokens.record(Instant::now(), usage_tokens(usage));
        }
        Ok(response)
    }

    /// The wait before retry number `retry + 1` (`retry` = failed tries - 1).
    fn retry_wait(&self, err: &ProviderError, retry: u32) -> Duration {
        let cap = backoff(&self.limits, retry);
        match err.retry_after() {
            // Never sooner than half the backoff: `Retry-After: 0` (or a
            // past date) must not turn the retries into a burst.
            Some(asked) => asked.min(self.limits.backoff_max).max(cap / 2),
            None => jitter(cap),
        }
    }
}

impl Provider for Resilient {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn complete<'a>(
        &'a self,
        request: &'a Request,
    ) -> BoxFuture<'a, Result<Response, ProviderError>> {
        Box::pin(self.run(request))
    }

    fn request_key(&self, request: &Request) -> serde_json::Value {
        self.inner.request_key(request)
    }

    fn endpoint(&self) -> String {
        self.inner.endpoint()
    }
}

/// The cap of the jittered backoff before retry `attempt + 1` (0-based:
/// `attempt` 0 is the wait after the first failed try):
/// `min(backoff_max, backoff_initial · 2^attempt)`, without overflow. The
/// actual wait is uniform in `[0, backoff(limits, attempt)]`.
pub(crate) fn backoff(limits: &Limits, attempt: u32) -> Duration {
    let factor = 2u32.checked_pow(attempt).unwrap_or(u32::MAX);
    limits
        .backoff_initial
        .saturating_mul(factor)
        .min(limits.backoff_max)
}

/// Full jitter: uniform in `[0, cap]`.
fn jitter(cap: Duration) -> Duration {
    let nanos = u64::try_from(cap.as_nanos()).unwrap_or(u64::MAX);
    Duration::from_nanos(fastrand::u64(0..=nanos))
}

/// The tokens a response counts for: `total_tokens`, or input + output when
/// a provider reported the parts but no total.
fn usage_tokens(usage: &Usage) -> u64 {
    if usage.total_tokens > 0 {
        usage.total_tokens
    } else {
        usage.input_tokens.saturating_add(usage.output_tokens)
    }
}

/// The error to return after `tries` tries: the last error itself, or
/// wrapped in [`ProviderError::Retried`] (whose text ends in
/// ` (after N tries)`) when there was more than one try.
fn with_tries(err: ProviderError, tries: u32) -> ProviderError {
    if tries <= 1 {
        return err;
    }
    ProviderError::Retried {
        tries,
        last: Box::new(err),
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A smooth requests-per-minute limiter (generic cell rate algorithm):
/// slots `interval` apart, with `burst` slots available at once after idling.
/// Each caller reserves the next slot under a short lock and sleeps until it,
/// so callers are served in arrival order without polling. A caller dropped
/// while waiting leaves its slot unused (errs on the slow side).
#[derive(Debug)]
struct RateLimiter {
    interval: Duration,
    /// `(burst - 1) · interval`: how far ahead of the schedule a caller may go.
    tolerance: Duration,
    /// The theoretical arrival time of the next request; `None` before the first.
    tat: Mutex<Option<Instant>>,
}

impl RateLimiter {
    fn per_minute(rpm: u32) -> RateLimiter {
        let rpm = rpm.max(1);
        let burst = (rpm / 60).clamp(1, MAX_BURST);
        RateLimiter::new(MINUTE / rpm, burst)
    }

    fn new(interval: Duration, burst: u32) -> RateLimiter {
        RateLimiter {
            interval,
            tolerance: interval.saturating_mul(burst.max(1) - 1),
            tat: Mutex::new(None),
        }
    }

    /// Reserve the next slot for a request arriving at `now`; returns when
    /// it may start (never before `now`).
    fn reserve(&self, now: Instant) -> Instant {
        let mut tat = lock(&self.tat);
        let base = tat.map_or(now, |t| t.max(now));
        let start = base.checked_sub(self.tolerance).map_or(now, |s| s.max(now));
        *tat = Some(base + self.interval);
        start
    }

    async fn acquire(&self) {
        let now = Instant::now();
        let start = self.reserve(now);
        if start > now {
            tokio::time::sleep_until(start).await;
        }
    }
}

/// A sliding window of the tokens used in the last `window`, from the
/// responses that reported usage.
#[derive(Debug)]
struct TokenWindow {
    limit: u64,
    window: Duration,
    state: Mutex<WindowState>,
    /// Woken when a reservation is released.
    released: tokio::sync::Notify,
}

/// Tokens held for a request in flight; released on drop.
struct TokenReservation<'a> {
    window: &'a TokenWindow,
    estimate: u64,
}

impl Drop for TokenReservation<'_> {
    fn drop(&mut self) {
        {
            let mut state = lock(&self.window.state);
            state.in_flight = state.in_flight.saturating_sub(self.estimate);
            state.in_flight_requests = state.in_flight_requests.saturating_sub(1);
        }
        self.window.released.notify_waiters();
    }
}

#[derive(Debug, Default)]
struct WindowState {
    /// (when the response arrived, its tokens), oldest first.
    entries: VecDeque<(Instant, u64)>,
    sum: u64,
    /// Estimated tokens of the requests admitted and not answered yet.
    in_flight: u64,
    /// How many requests are admitted and not answered yet.
    in_flight_requests: u64,
    /// Every response recorded so far, for the estimate of the next one.
    recorded_tokens: u64,
    recorded_responses: u64,
}

impl WindowState {
    fn prune(&mut self, now: Instant, window: Duration) {
        while let Some(&(at, tokens)) = self.entries.front() {
            if at + window > now {
                break;
            }
            self.entries.pop_front();
            self.sum = self.sum.saturating_sub(tokens);
        }
    }
}

impl TokenWindow {
    fn new(limit: u64, window: Duration) -> TokenWindow {
        TokenWindow {
            limit,
            window,
            state: Mutex::new(WindowState::default()),
            released: tokio::sync::Notify::new(),
        }
    }

    /// `None` when a request may start at `now`; otherwise the instant when
    /// enough entries will have expired to bring the sum below the limit.
    fn wait_until(&self, now: Instant) -> Option<Instant> {
        let mut state = lock(&self.state);
        state.prune(now, self.window);
        if state.sum < self.limit {
            return None;
        }
        let mut sum = state.sum;
        for &(at, tokens) in &state.entries {
            sum = sum.saturating_sub(tokens);
            if sum < self.limit {
                return Some(at + self.window);
            }
        }
        // Unreachable with limit > 0: removing every entry leaves 0.
        state.entries.back().map(|&(at, _)| at + self.window)
    }

    /// Admit one request now, or say when to look again (`None`: when a
    /// request in flight is answered). While the window is under the limit:
    /// a request starts when nothing is in flight; before the first answer
    /// (whose size is unknown) one request at a time; after it, while the
    /// window plus the estimated tokens of the requests in flight and of
    /// this one (the mean answer so far) stay within the limit.
    fn try_admit(&self, now: Instant) -> Result<u64, Option<Instant>> {
        let mut state = lock(&self.state);
        state.prune(now, self.window);
        if state.sum >= self.limit {
            drop(state);
            return Err(self.wait_until(now));
        }
        let estimate = state
            .recorded_tokens
            .checked_div(state.recorded_responses)
            .unwrap_or(0);
        let fits = state.in_flight_requests == 0
            || (state.recorded_responses > 0
                && state
                    .sum
                    .saturating_add(state.in_flight)
                    .saturating_add(estimate)
                    <= self.limit);
        if !fits {
            return Err(None);
        }
        state.in_flight = state.in_flight.saturating_add(estimate);
        state.in_flight_requests += 1;
        Ok(estimate)
    }

    /// Wait until a request may start; the reservation it returns holds its
    /// estimated tokens until it is dropped (after the answer was recorded).
    async fn acquire(&self) -> TokenReservation<'_> {
        loop {
            let released = self.released.notified();
            match self.try_admit(Instant::now()) {
                Ok(estimate) => {
                    return TokenReservation {
                        window: self,
                        estimate,
                    }
                }
                Err(Some(at)) => {
                    tokio::select! {
                        _ = tokio::time::sleep_until(at) => {}
                        _ = released => {}
                    }
                }
                Err(None) => released.await,
            }
        }
    }

    fn record(&self, now: Instant, tokens: u64) {
        if tokens == 0 {
            return;
        }
        let mut state = lock(&self.state);
        state.recorded_tokens = state.recorded_tokens.saturating_add(tokens);
        state.recorded_responses += 1;
        state.prune(now, self.window);
        // Keep the entries ordered even if two tasks read the clock out of order.
        let at = state.entries.back().map_or(now, |&(last, _)| last.max(now));
        state.entries.push_back((at, tokens));
        state.sum = state.sum.saturating_add(tokens);
    }
}

#[cfg(test)]
mod tests {
    //! Timing tests run on tokio's paused clock (`start_paused`): time
    //! advances only when every task waits, so waits are exact and the tests
    //! neither take real time nor depend on the machine's load. The
    //! limiters' arithmetic is also tested with synthetic instants.

    use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};

    use super::*;

    const MS: Duration = Duration::from_millis(1);

    struct Step {
        delay: Duration,
        result: Result<Response, ProviderError>,
    }

    fn ok(text: &str) -> Step {
        Step {
            delay: Duration::ZERO,
            result: Ok(Response {
                text: text.to_string(),
                ..Response::default()
            }),
        }
    }

    fn ok_with_tokens(text: &str, total: u64) -> Step {
        let mut step = ok(text);
        if let Ok(r) = &mut step.result {
            r.usage = Some(Usage {
                input_tokens: total / 2,
                output_tokens: total - total / 2,
                total_tokens: total,
            });
        }
        step
    }

    fn fail(err: ProviderError) -> Step {
        Step {
            delay: Duration::ZERO,
            result: Err(err),
        }
    }

    fn http(status: u16, retry_after: Option<Duration>) -> ProviderError {
        ProviderError::Http {
            status,
            body: format!("status {status}"),
            retry_after,
        }
    }

    fn slow(delay: Duration, step: Step) -> Step {
        Step { delay, ..step }
    }

    /// Answers from a script, then `answer N` (after `default_delay`).
    /// Counts calls, in-flight calls and their peak, and logs each call.
    struct Fake {
        script: Mutex<VecDeque<Step>>,
        default_delay: Duration,
        calls: AtomicU32,
        in_flight: AtomicUsize,
        peak: AtomicUsize,
        log: Mutex<Vec<(Instant, String)>>,
    }

    struct InFlight<'a>(&'a AtomicUsize);

    impl Drop for InFlight<'_> {
        fn drop(&mut self) {
            self.0.fetch_sub(1, Ordering::SeqCst);
        }
    }

    impl Fake {
        fn new(script: Vec<Step>) -> Arc<Fake> {
            Fake::with_delay(script, Duration::ZERO)
        }

        fn with_delay(script: Vec<Step>, default_delay: Duration) -> Arc<Fake> {
            Arc::new(Fake {
                script: Mutex::new(script.into()),
                default_delay,
                calls: AtomicU32::new(0),
                in_flight: AtomicUsize::new(0),
                peak: AtomicUsize::new(0),
                log: Mutex::new(Vec::new()),
            })
        }

        fn calls(&self) -> u32 {
            self.calls.load(Ordering::SeqCst)
        }

        fn peak(&self) -> usize {
            self.peak.load(Ordering::SeqCst)
        }

        fn log(&self) -> Vec<(Instant, String)> {
            lock(&self.log).clone()
        }
    }

    impl Provider for Fake {
        fn name(&self) -> &str {
            "fake"
        }

        fn complete<'a>(
            &'a self,
            request: &'a Request,
        ) -> BoxFuture<'a, Result<Response, ProviderError>> {
            Box::pin(async move {
                let n = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
                lock(&self.log).push((Instant::now(), request.case_id.clone()));
                let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
                self.peak.fetch_max(now, Ordering::SeqCst);
                let _guard = InFlight(&self.in_flight);
                let step = lock(&self.script).pop_front().unwrap_or_else(|| Step {
                    delay: self.default_delay,
                    ..ok(&format!("answer {n}"))
                });
                if !step.delay.is_zero() {
                    tokio::time::sleep(step.delay).await;
                }
                step.result
            })
        }

        fn request_key(&self, request: &Request) -> serde_json::Value {
            serde_json::json!({ "fake": request.case_id })
        }

        fn endpoint(&self) -> String {
            "fake://endpoint".to_string()
        }
    }

    fn request(case_id: &str) -> Request {
        Request {
            suite: "suite".to_string(),
            case_id: case_id.to_string(),
            repeat: 1,
            messages: Vec::new(),
            timeout: Duration::from_secs(30),
            vars: serde_json::Value::Null,
            call: std::borrow::Cow::Borrowed(crate::provider::ANSWER),
            format: crate::provider::Format::Text,
            observer: None,
        }
    }

    /// Fast retries: 1 ms initial backoff.
    fn limits() -> Limits {
        Limits {
            max_retries: 3,
            backoff_initial: MS,
            backoff_max: Duration::from_secs(10),
            ..Limits::default()
        }
    }

    fn wrap(fake: &Arc<Fake>, limits: &Limits) -> Resilient {
        Resilient::new(fake.clone(), limits)
    }

    #[test]
    fn backoff_doubles_from_initial_and_is_capped() {
        let limits = Limits::default(); // 500 ms initial, 60 s max
        assert_eq!(backoff(&limits, 0), Duration::from_millis(500));
        assert_eq!(backoff(&limits, 1), Duration::from_secs(1));
        assert_eq!(backoff(&limits, 2), Duration::from_secs(2));
        assert_eq!(backoff(&limits, 6), Duration::from_secs(32));
        assert_eq!(backoff(&limits, 7), Duration::from_secs(60));
        assert_eq!(backoff(&limits, 40), Duration::from_secs(60));
        assert_eq!(backoff(&limits, u32::MAX), Duration::from_secs(60));
        let zero = Limits {
            backoff_initial: Duration::ZERO,
            ..Limits::default()
        };
        assert_eq!(backoff(&zero, 5), Duration::ZERO);
    }

    #[test]
    fn jitter_stays_within_cap() {
        let cap = Duration::from_millis(250);
        let waits: Vec<Duration> = (0..2000).map(|_| jitter(cap)).collect();
        assert!(waits.iter().all(|w| *w <= cap));
        // Full jitter spreads over the whole range.
        assert!(waits.iter().any(|w| *w < cap / 4));
        assert!(waits.iter().any(|w| *w > cap * 3 / 4));
        assert_eq!(jitter(Duration::ZERO), Duration::ZERO);
    }

    #[tokio::test(start_paused = true)]
    async fn delegates_name_key_and_endpoint() {
        let fake = Fake::new(vec![]);
        let r = wrap(&fake, &limits());
        assert_eq!(r.name(), "fake");
        assert_eq!(
            r.request_key(&request("c1")),
            serde_json::json!({ "fake": "c1" })
        );
        assert_eq!(r.endpoint(), "fake://endpoint");
    }

    #[tokio::test(start_paused = true)]
    async fn succeeds_after_two_503s_and_reports_retries() {
        let fake = Fake::new(vec![
            fail(http(503, None)),
            fail(http(503, None)),
            ok("fine"),
        ]);
        let r = wrap(&fake, &limits());
        let response = r.complete(&request("c")).await.unwrap();
        assert_eq!(response.text, "fine");
        assert_eq!(response.retries, 2);
        assert_eq!(fake.calls(), 3);
    }

    #[derive(Debug, Default)]
    struct Watcher(Mutex<Vec<(u32, String)>>);

    impl crate::provider::CallObserver for Watcher {
        fn retrying(&self, retry: u32, error: &ProviderError, _wait: Duration) {
            if let Ok(mut seen) = self.0.lock() {
                seen.push((retry, error.to_string()));
            }
        }
    }

    #[tokio::test(start_paused = true)]
    async fn the_observer_hears_every_retry_before_it_happens() {
        let fake = Fake::new(vec![
            fail(http(503, None)),
            fail(http(429, None)),
            ok("fine"),
        ]);
        let watcher = Arc::new(Watcher::default());
        let mut q = request("c");
        q.observer = Some(watcher.clone());
        let response = wrap(&fake, &limits()).complete(&q).await.unwrap();
        assert_eq!(response.retries, 2);
        let seen = watcher.0.lock().unwrap().clone();
        assert_eq!(seen.iter().map(|(n, _)| *n).collect::<Vec<_>>(), vec![1, 2]);
        assert!(seen[0].1.starts_with("HTTP 503"), "{seen:?}");
        assert!(seen[1].1.starts_with("HTTP 429"), "{seen:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn first_try_success_reports_no_retries() {
        let fake = Fake::new(vec![ok("fine")]);
        let response = wrap(&fake, &limits())
            .complete(&request("c"))
            .await
            .unwrap();
        assert_eq!((response.text.as_str(), response.retries), ("fine", 0));
        assert_eq!(fake.calls(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn retry_after_is_honoured() {
        // Backoff alone would wait at most 1 ms: the 150 ms can only come
        // from the server's Retry-After.
        let fake = Fake::new(vec![
            fail(http(429, Some(Duration::from_millis(150)))),
            ok("fine"),
        ]);
        let r = wrap(&fake, &limits());
        let start = Instant::now();
        let response = r.complete(&request("c")).await.unwrap();
        let elapsed = start.elapsed();
        assert_eq!(response.retries, 1);
        assert!(elapsed >= Duration::from_millis(150), "{elapsed:?}");
        assert!(elapsed < Duration::from_secs(5), "{elapsed:?}");
        let log = fake.log();
        assert!(log[1].0 - log[0].0 >= Duration::from_millis(150));
    }

    #[tokio::test(start_paused = true)]
    async fn retry_after_is_capped_at_backoff_max() {
        let fake = Fake::new(vec![
            fail(http(429, Some(Duration::from_secs(600)))),
            ok("fine"),
        ]);
        let limits = Limits {
            backoff_max: Duration::from_millis(80),
            ..limits()
        };
        let start = Instant::now();
        let response = wrap(&fake, &limits).complete(&request("c")).await.unwrap();
        let elapsed = start.elapsed();
        assert_eq!(response.retries, 1);
        assert!(elapsed >= Duration::from_millis(80), "{elapsed:?}");
        assert!(elapsed < Duration::from_secs(5), "{elapsed:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn non_retryable_error_is_not_retried() {
        let fake = Fake::new(vec![fail(ProviderError::Provider("malformed JSON".into()))]);
        let err = wrap(&fake, &limits())
            .complete(&request("c"))
            .await
            .unwrap_err();
        assert!(
            matches!(&err, ProviderError::Provider(m) if m == "malformed JSON"),
            "{err}"
        );
        assert_eq!(fake.calls(), 1);

        let fake = Fake::new(vec![fail(http(400, None))]);
        let err = wrap(&fake, &limits())
            .complete(&request("c"))
            .await
            .unwrap_err();
        assert!(
            matches!(&err, ProviderError::Http { status: 400, body, .. } if body == "status 400")
        );
        assert_eq!(err.to_string(), "HTTP 400: status 400");
        assert_eq!(fake.calls(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn max_retries_zero_means_one_try() {
        let fake = Fake::new(vec![fail(http(503, None)), ok("never")]);
        let limits = Limits {
            max_retries: 0,
            ..limits()
        };
        let err = wrap(&fake, &limits)
            .complete(&request("c"))
            .await
            .unwrap_err();
        assert_eq!(err.to_string(), "HTTP 503: status 503");
        assert_eq!(fake.calls(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn timeout_per_try_then_success() {
        // The first try would answer "late" after 10 s; it must be cut at
        // 50 ms, and its answer must never be returned.
        let fake = Fake::new(vec![
            slow(Duration::from_secs(10), ok("late")),
            ok("on time"),
        ]);
        let limits = Limits {
            timeout: Some(Duration::from_millis(50)),
            ..limits()
        };
        let start = Instant::now();
        let response = wrap(&fake, &limits).complete(&request("c")).await.unwrap();
        let elapsed = start.elapsed();
        assert_eq!(response.text, "on time");
        assert_eq!(response.retries, 1);
        assert_eq!(fake.calls(), 2);
        assert_eq!(
            fake.in_flight.load(Ordering::SeqCst),
            0,
            "the timed-out try was dropped"
        );
        assert!(elapsed >= Duration::from_millis(50), "{elapsed:?}");
        assert!(elapsed < Duration::from_secs(5), "{elapsed:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn case_timeout_applies_when_limits_timeout_is_unset() {
        let fake = Fake::new(vec![slow(Duration::from_secs(10), ok("late"))]);
        let limits = Limits {
            max_retries: 0,
            ..limits()
        };
        let mut req = request("c");
        req.timeout = Duration::from_millis(40);
        let err = wrap(&fake, &limits).complete(&req).await.unwrap_err();
        assert!(matches!(err, ProviderError::Timeout(d) if d == Duration::from_millis(40)));
        assert!(err.retryable());
    }

    #[tokio::test(start_paused = true)]
    async fn error_after_last_retry_mentions_the_number_of_tries() {
        let fake = Fake::new((0..5).map(|_| fail(http(503, None))).collect());
        let err = wrap(&fake, &limits())
            .complete(&request("c"))
            .await
            .unwrap_err();
        assert_eq!(fake.calls(), 4);
        assert!(
            matches!(&err, ProviderError::Retried { last, .. } if matches!(**last, ProviderError::Http { status: 503, .. }))
        );
        assert_eq!(err.retries(), 3);
        assert!(err.retryable(), "the variant and status are kept");
        assert_eq!(err.to_string(), "HTTP 503: status 503 (after 4 tries)");

        let fake = Fake::new(
            (0..5)
                .map(|_| fail(ProviderError::Transport("reset".into())))
                .collect(),
        );
        let limits = Limits {
            max_retries: 1,
            ..limits()
        };
        let err = wrap(&fake, &limits)
            .complete(&request("c"))
            .await
            .unwrap_err();
        assert_eq!(fake.calls(), 2);
        assert_eq!(err.to_string(), "transport error: reset (after 2 tries)");
    }

    #[tokio::test(start_paused = true)]
    async fn non_retryable_error_after_retries_mentions_the_tries() {
        let fake = Fake::new(vec![
            fail(http(503, None)),
            fail(http(401, None)),
            ok("never"),
        ]);
        let err = wrap(&fake, &limits())
            .complete(&request("c"))
            .await
            .unwrap_err();
        assert_eq!(fake.calls(), 2);
        assert!(
            matches!(&err, ProviderError::Retried { last, .. } if matches!(**last, ProviderError::Http { status: 401, .. }))
        );
        assert_eq!(err.to_string(), "HTTP 401: status 401 (after 2 tries)");
    }

    #[tokio::test(start_paused = true)]
    async fn timeout_after_retries_keeps_its_variant() {
        let fake = Fake::with_delay(vec![], Duration::from_secs(10));
        let limits = Limits {
            max_retries: 1,
            timeout: Some(Duration::from_millis(20)),
            ..limits()
        };
        let err = wrap(&fake, &limits)
            .complete(&request("c"))
            .await
            .unwrap_err();
        assert_eq!(fake.calls(), 2);
        assert!(
            matches!(&err, ProviderError::Retried { tries: 2, last } if matches!(**last, ProviderError::Timeout(d) if d == Duration::from_millis(20)))
        );
        assert_eq!(err.retries(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn max_concurrency_is_respected_under_20_concurrent_calls() {
        let fake = Fake::with_delay(vec![], Duration::from_millis(20));
        let limits = Limits {
            max_concurrency: Some(3),
            ..limits()
        };
        let r = wrap(&fake, &limits);
        let requests: Vec<Request> = (0..20).map(|i| request(&format!("c{i}"))).collect();
        let results = futures::future::join_all(requests.iter().map(|q| r.complete(q))).await;
        assert!(results.iter().all(|r| r.is_ok()));
        assert_eq!(fake.calls(), 20);
        assert_eq!(fake.peak(), 3);

        // Without the limit all 20 are in flight at once.
        let fake = Fake::with_delay(vec![], Duration::from_millis(20));
        let r = wrap(&fake, &self::limits());
        let results = futures::future::join_all(requests.iter().map(|q| r.complete(q))).await;
        assert!(results.iter().all(|r| r.is_ok()));
        assert_eq!(fake.peak(), 20);
    }

    #[tokio::test(start_paused = true)]
    async fn permit_is_released_during_backoff() {
        // One slot. `a` fails with a 200 ms Retry-After; `b`, waiting for the
        // slot, must run during a's wait, not after it.
        let fake = Fake::new(vec![fail(http(503, Some(Duration::from_millis(200))))]);
        let limits = Limits {
            max_concurrency: Some(1),
            ..limits()
        };
        let r = wrap(&fake, &limits);
        let (a, b) = (request("a"), request("b"));
        let (ra, rb) = futures::future::join(r.complete(&a), r.complete(&b)).await;
        assert_eq!(ra.unwrap().retries, 1);
        assert_eq!(rb.unwrap().retries, 0);
        let order: Vec<String> = fake.log().into_iter().map(|(_, id)| id).collect();
        assert_eq!(order, ["a", "b", "a"]);
        assert_eq!(fake.peak(), 1);
    }

    #[test]
    fn rate_limiter_spaces_reservations_after_a_burst() {
        // rpm 600: one slot per 100 ms, burst 3.
        let limiter = RateLimiter::per_minute(600);
        assert_eq!(limiter.interval, Duration::from_millis(100));
        let t0 = Instant::now();
        let starts: Vec<Duration> = (0..20).map(|_| limiter.reserve(t0) - t0).collect();
        let expected: Vec<Duration> = (0..20u32)
            .map(|i| Duration::from_millis(100) * i.saturating_sub(2))
            .collect();
        assert_eq!(starts, expected);
        // 20 requests take 1.7 s: 2 s of spacing minus the burst.
        assert_eq!(starts[19], Duration::from_millis(1700));

        // After idling the burst is available again, and no more than it.
        let later = t0 + Duration::from_secs(10);
        let starts: Vec<Duration> = (0..5).map(|_| limiter.reserve(later) - later).collect();
        assert_eq!(starts, [0, 0, 0, 100, 200].map(Duration::from_millis));

        // A caller arriving on schedule goes at once.
        let limiter = RateLimiter::per_minute(600);
        for i in 0..10 {
            let now = t0 + Duration::from_millis(100) * i;
            assert_eq!(limiter.reserve(now), now);
        }
    }

    #[test]
    fn rate_limiter_burst_is_at_most_a_second_of_requests() {
        assert_eq!(RateLimiter::per_minute(30).tolerance, Duration::ZERO);
        assert_eq!(RateLimiter::per_minute(60).tolerance, Duration::ZERO);
        let two = RateLimiter::per_minute(120);
        assert_eq!(two.tolerance, two.interval);
        let many = RateLimiter::per_minute(100_000);
        assert_eq!(many.tolerance, many.interval * 2);
        // rpm 30: one request every 2 s, no burst.
        let limiter = RateLimiter::per_minute(30);
        let t0 = Instant::now();
        assert_eq!(limiter.reserve(t0), t0);
        assert_eq!(limiter.reserve(t0), t0 + Duration::from_secs(2));
    }

    #[tokio::test(start_paused = true)]
    async fn requests_per_minute_spacing() {
        // rpm 6000: one slot per 10 ms, burst 3, so 20 concurrent requests
        // take at least (20 - 3) × 10 ms = 170 ms.
        let fake = Fake::new(vec![]);
        let limits = Limits {
            requests_per_minute: Some(6000),
            ..limits()
        };
        let r = wrap(&fake, &limits);
        let requests: Vec<Request> = (0..20).map(|i| request(&format!("c{i}"))).collect();
        let start = Instant::now();
        let results = futures::future::join_all(requests.iter().map(|q| r.complete(q))).await;
        let elapsed = start.elapsed();
        assert!(results.iter().all(|r| r.is_ok()));
        assert!(elapsed >= Duration::from_millis(170), "{elapsed:?}");
        assert!(elapsed < Duration::from_secs(3), "{elapsed:?}");
        let mut at: Vec<Duration> = fake.log().into_iter().map(|(t, _)| t - start).collect();
        at.sort();
        for (i, t) in at.iter().enumerate() {
            let slot = Duration::from_millis(10) * (i as u32).saturating_sub(2);
            assert!(*t >= slot, "call {i} at {t:?}, slot {slot:?}");
        }
    }

    #[test]
    fn token_window_waits_until_enough_tokens_expire() {
        let window = TokenWindow::new(100, MINUTE);
        let t0 = Instant::now();
        assert_eq!(window.wait_until(t0), None);
        window.record(t0, 60);
        window.record(t0 + Duration::from_secs(10), 30);
        assert_eq!(
            window.wait_until(t0 + Duration::from_secs(10)),
            None,
            "90 < 100"
        );
        window.record(t0 + Duration::from_secs(20), 50);
        // 140 in the window: the first entry (60) must expire, at t0 + 60 s.
        assert_eq!(
            window.wait_until(t0 + Duration::from_secs(20)),
            Some(t0 + MINUTE)
        );
        assert_eq!(window.wait_until(t0 + MINUTE), None, "80 < 100");
        // Reaching the limit exactly also waits; several entries may need to go.
        let window = TokenWindow::new(100, MINUTE);
        window.record(t0, 10);
        window.record(t0 + Duration::from_secs(1), 10);
        window.record(t0 + Duration::from_secs(2), 90);
        // 110: dropping the first leaves 100 (still full), the second 90.
        assert_eq!(
            window.wait_until(t0 + Duration::from_secs(3)),
            Some(t0 + Duration::from_secs(61))
        );
        assert!(window.wait_until(t0 + Duration::from_secs(60)).is_some());
        assert_eq!(window.wait_until(t0 + Duration::from_secs(61)), None);
    }

    #[tokio::test(start_paused = true)]
    async fn tokens_per_minute_waits_when_the_window_is_full() {
        // Limit 100 tokens; each answer reports 60. The window is shortened
        // to 300 ms for the test (the real one is a minute).
        let fake = Fake::new(vec![
            ok_with_tokens("one", 60),
            ok_with_tokens("two", 60),
            ok_with_tokens("three", 60),
        ]);
        let limits = Limits {
            tokens_per_minute: Some(100),
            ..limits()
        };
        let mut r = wrap(&fake, &limits);
        r.tokens = Some(TokenWindow::new(100, Duration::from_millis(300)));
        let start = Instant::now();
        r.complete(&request("c1")).await.unwrap();
        r.complete(&request("c2")).await.unwrap(); // 60 < 100: goes at once
        let before_third = start.elapsed();
        let third = r.complete(&request("c3")).await.unwrap(); // 120 ≥ 100: waits
        assert_eq!(third.text, "three");
        let log = fake.log();
        assert!(
            log[2].0 - log[0].0 >= Duration::from_millis(300),
            "{:?}",
            log[2].0 - log[0].0
        );
        assert!(
            before_third < Duration::from_millis(300),
            "{before_third:?}"
        );
        assert!(start.elapsed() < Duration::from_secs(5));
    }

    #[tokio::test(start_paused = true)]
    async fn retry_after_zero_still_backs_off() {
        let fake = Fake::new(vec![
            fail(http(429, Some(Duration::ZERO))),
            fail(http(429, Some(Duration::ZERO))),
            fail(http(429, Some(Duration::ZERO))),
            ok("done"),
        ]);
        let limits = Limits {
            backoff_initial: Duration::from_millis(100),
            ..limits()
        };
        let start = Instant::now();
        let r = wrap(&fake, &limits).complete(&request("c")).await.unwrap();
        assert_eq!(r.retries, 3);
        // Half of 100, 200 and 400 ms at least.
        assert!(
            start.elapsed() >= Duration::from_millis(350),
            "{:?}",
            start.elapsed()
        );
    }

    #[tokio::test(start_paused = true)]
    async fn tokens_per_minute_admits_one_request_at_a_time_with_requests_per_minute() {
        // 20 tokens a minute, each answer uses 20, 60 requests a minute: one
        // request per minute, never a burst when the window frees up.
        let fake = Fake::new(
            (0..5)
                .map(|i| ok_with_tokens(&format!("a{i}"), 20))
                .collect(),
        );
        let limits = Limits {
            tokens_per_minute: Some(20),
            requests_per_minute: Some(60),
            ..limits()
        };
        let r = Arc::new(wrap(&fake, &limits));
        let tasks: Vec<_> = (0..5)
            .map(|i| {
                let r = r.clone();
                tokio::spawn(async move { r.complete(&request(&format!("c{i}"))).await })
            })
            .collect();
        for t in tasks {
            assert!(t.await.unwrap().is_ok());
        }
        let log = fake.log();
        assert_eq!(log.len(), 5);
        let mut starts: Vec<Instant> = log.iter().map(|e| e.0).collect();
        starts.sort();
        // The first goes at once; the next waits for its answer (20 tokens,
        // the whole budget) to leave the window: one request per minute.
        for w in starts.windows(2) {
            assert!(w[1] - w[0] >= Duration::from_secs(59), "{:?}", w[1] - w[0]);
        }
    }

    #[tokio::test(start_paused = true)]
    async fn tokens_per_minute_holds_back_the_first_burst() {
        // 40 tokens a minute, answers of 15: no burst of 8 at the start.
        let fake = Fake::with_delay(
            (0..8)
                .map(|i| ok_with_tokens(&format!("a{i}"), 15))
                .collect(),
            Duration::from_millis(100),
        );
        let limits = Limits {
            tokens_per_minute: Some(40),
            ..limits()
        };
        let r = Arc::new(wrap(&fake, &limits));
        let tasks: Vec<_> = (0..8)
            .map(|i| {
                let r = r.clone();
                tokio::spawn(async move { r.complete(&request(&format!("c{i}"))).await })
            })
            .collect();
        for t in tasks {
            assert!(t.await.unwrap().is_ok());
        }
        let mut starts: Vec<Instant> = fake.log().iter().map(|e| e.0).collect();
        starts.sort();
        // In any minute, at most the limit plus one answer's worth started.
        for (i, t) in starts.iter().enumerate() {
            let in_minute = starts[i..].iter().filter(|s| **s < *t + MINUTE).count();
            assert!(
                in_minute * 15 <= 40 + 15,
                "{in_minute} requests in a minute"
            );
        }
    }

    #[tokio::test(start_paused = true)]
    async fn zero_limits_are_treated_as_unset() {
        let fake = Fake::new(vec![]);
        let limits = Limits {
            max_concurrency: Some(0),
            requests_per_minute: Some(0),
            tokens_per_minute: Some(0),
            ..limits()
        };
        let r = wrap(&fake, &limits);
        assert!(r.concurrency.is_none() && r.requests.is_none() && r.tokens.is_none());
        assert!(r.complete(&request("c")).await.is_ok());
    }
}

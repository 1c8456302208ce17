//! The progress bar: shown only on an interactive terminal and never in CI
//! (`CI` set) or when stderr is piped.

use std::io::{IsTerminal, Write};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::error::Error;
use crate::event::{AttemptId, Retry, RunEvent};
use crate::model::{CaseResult, Outcome};
use crate::report::Reporter;

/// Progress shown while a run goes: told of each case and of the end, and of
/// attempts and retries when it asks for them.
pub(crate) trait Progress: Send {
    fn case_done(&mut self, result: &CaseResult);
    fn finish(&mut self);
    /// Whether [`Progress::attempt`] and [`Progress::retrying`] are wanted.
    fn wants_attempts(&self) -> bool {
        false
    }
    /// An attempt started (`true`) or finished (`false`).
    fn attempt(&mut self, _attempt: &AttemptId, _started: bool) {}
    /// A provider call failed and is tried again after a wait.
    fn retrying(&mut self, _attempt: &AttemptId, _retry: &Retry) {}
}

/// A progress display is a reporter like any other.
pub(crate) struct ProgressReporter(pub Box<dyn Progress>);

impl Reporter for ProgressReporter {
    fn on_event(&mut self, event: &RunEvent<'_>) -> Result<(), Error> {
        match event {
            RunEvent::CaseFinished(r) => self.0.case_done(r),
            RunEvent::Finished { .. } => self.0.finish(),
            RunEvent::AttemptStarted(a) => self.0.attempt(a, true),
            RunEvent::AttemptFinished { attempt, .. } => self.0.attempt(attempt, false),
            RunEvent::AttemptRetried { attempt, retry } => self.0.retrying(attempt, retry),
            RunEvent::Started(_) => {}
        }
        Ok(())
    }

    fn wants_attempts(&self) -> bool {
        self.0.wants_attempts()
    }
}

/// Whether a progress bar should be drawn.
pub(crate) fn wanted(disabled: bool) -> bool {
    !disabled && std::io::stderr().is_terminal() && !crate::util::ci::in_ci()
}

pub(crate) struct Bar {
    bar: ProgressBar,
    failed: u64,
    in_flight: u64,
    /// The last retry, shown until its attempt finishes.
    retry: Option<(AttemptId, String)>,
}

impl Bar {
    pub(crate) fn new(total: u64) -> Self {
        Self::with_target(total, ProgressDrawTarget::stderr())
    }

    fn with_target(total: u64, target: ProgressDrawTarget) -> Self {
        let bar = ProgressBar::with_draw_target(Some(total), target);
        let style = ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} cases  {msg}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar());
        bar.set_style(style);
        Bar {
            bar,
            failed: 0,
            in_flight: 0,
            retry: None,
        }
    }

    fn show(&self) {
        let mut parts = Vec::new();
        if self.failed > 0 {
            parts.push(format!("{} failing", self.failed));
        }
        if self.in_flight > 0 {
            parts.push(format!("{} running", self.in_flight));
        }
        if let Some((_, note)) = &self.retry {
            parts.push(note.clone());
        }
        self.bar.set_message(parts.join(" · "));
    }
}

impl Progress for Bar {
    fn case_done(&mut self, result: &CaseResult) {
        if matches!(result.outcome, Outcome::Fail | Outcome::Error) {
            self.failed += 1;
            self.show();
        }
        self.bar.inc(1);
    }

    fn wants_attempts(&self) -> bool {
        true
    }

    fn attempt(&mut self, attempt: &AttemptId, started: bool) {
        if started {
            self.in_flight += 1;
        } else {
            self.in_flight = self.in_flight.saturating_sub(1);
            if self.retry.as_ref().is_some_and(|(a, _)| a == attempt) {
                self.retry = None;
            }
        }
        self.show();
    }

    fn retrying(&mut self, attempt: &AttemptId, retry: &Retry) {
        let note = format!(
            "retry {} of {}/{}: {} (waiting {})",
            retry.retry,
            attempt.suite,
            attempt.case,
            crate::util::text::one_line(&retry.error, 60),
            crate::util::fmt::duration_ms(retry.wait_ms)
        );
        self.retry = Some((attempt.clone(), note));
        self.show();
    }

    fn finish(&mut self) {
        self.bar.finish_and_clear();
    }
}

/// Without a terminal (CI logs): a plain line on stderr at most every 30
/// seconds, so long runs show they are alive (CI systems kill silent jobs).
/// Short runs print nothing; `quiet` prints nothing at all.
pub(crate) struct Periodic {
    total: u64,
    done: u64,
    failing: u64,
    quiet: bool,
    started: std::time::Instant,
    last: std::time::Instant,
}

/// How often [`Periodic`] reports.
const PERIOD: std::time::Duration = std::time::Duration::from_secs(30);

impl Periodic {
    pub(crate) fn new(total: u64, quiet: bool) -> Self {
        let now = std::time::Instant::now();
        Periodic {
            total,
            done: 0,
            failing: 0,
            quiet,
            started: now,
            last: now,
        }
    }
}

impl Progress for Periodic {
    fn case_done(&mut self, result: &CaseResult) {
        self.done += 1;
        if matches!(result.outcome, Outcome::Fail | Outcome::Error) {
            self.failing += 1;
        }
        if !self.quiet && self.last.elapsed() >= PERIOD {
            self.last = std::time::Instant::now();
            // A closed stderr must not panic (and lose the run): ignore errors.
            let _ = writeln!(
                std::io::stderr(),
                "evalgate: {}/{} cases done, {} failing, {:.0} s elapsed",
                self.done,
                self.total,
                self.failing,
                self.started.elapsed().as_secs_f64()
            );
        }
    }

    fn finish(&mut self) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(case: &str) -> AttemptId {
        AttemptId {
            seq: 0,
            suite: "geo".into(),
            case: case.into(),
            provider: "p".into(),
            variant: None,
            repeat: 1,
            repeats: 1,
        }
    }

    #[test]
    fn the_bar_shows_attempts_in_flight_and_the_last_retry_until_it_ends() {
        let mut bar = Bar::with_target(2, ProgressDrawTarget::hidden());
        assert!(Progress::wants_attempts(&bar));
        bar.attempt(&id("fr"), true);
        bar.attempt(&id("de"), true);
        assert_eq!(bar.bar.message(), "2 running");
        let retry = Retry {
            retry: 1,
            error: "HTTP 429 Too Many Requests\nslow down".into(),
            wait_ms: 1200.0,
        };
        bar.retrying(&id("fr"), &retry);
        assert_eq!(
            bar.bar.message(),
            "2 running · retry 1 of geo/fr: HTTP 429 Too Many Requests⏎slow down (waiting 1.20 s)"
        );
        bar.attempt(&id("de"), false);
        assert!(bar.bar.message().contains("retry 1 of geo/fr"));
        bar.attempt(&id("fr"), false);
        assert_eq!(bar.bar.message(), "");
    }
}

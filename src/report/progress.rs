//! The progress bar: shown only on an interactive terminal and never in CI
//! (`CI` set) or when stderr is piped.

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::error::Error;
use crate::event::RunEvent;
use crate::model::{CaseResult, Outcome};
use crate::report::Reporter;

/// Progress shown while a run goes: told of each case and of the end.
pub trait Progress: Send {
    fn case_done(&mut self, result: &CaseResult);
    fn finish(&mut self);
}

/// A progress display is a reporter like any other.
pub struct ProgressReporter(pub Box<dyn Progress>);

impl Reporter for ProgressReporter {
    fn on_event(&mut self, event: &RunEvent<'_>) -> Result<(), Error> {
        match event {
            RunEvent::CaseFinished(r) => self.0.case_done(r),
            RunEvent::Finished { .. } => self.0.finish(),
            _ => {}
        }
        Ok(())
    }
}

/// Whether a progress bar should be drawn.
pub fn wanted(disabled: bool) -> bool {
    !disabled && std::io::stderr().is_terminal() && !crate::util::ci::in_ci()
}

pub struct Bar {
    bar: ProgressBar,
    failed: u64,
}

impl Bar {
    pub fn new(total: u64) -> Self {
        let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
        let style = ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} cases  {msg}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar());
        bar.set_style(style);
        Bar { bar, failed: 0 }
    }
}

impl Progress for Bar {
    fn case_done(&mut self, result: &CaseResult) {
        if matches!(result.outcome, Outcome::Fail | Outcome::Error) {
            self.failed += 1;
            self.bar.set_message(format!("{} failing", self.failed));
        }
        self.bar.inc(1);
    }

    fn finish(&mut self) {
        self.bar.finish_and_clear();
    }
}

/// Without a terminal (CI logs): a plain line on stderr at most every 30
/// seconds, so long runs show they are alive (CI systems kill silent jobs).
/// Short runs print nothing; `quiet` prints nothing at all.
pub struct Periodic {
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
    pub fn new(total: u64, quiet: bool) -> Self {
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
            eprintln!(
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

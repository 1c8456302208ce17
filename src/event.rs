//! The events that join the stages of a run.
//!
//! ```text
//! Executor ──AttemptStarted / AttemptRetried / AttemptFinished──▶
//! Folder   ──CaseFinished (plan order)──▶ Aggregator and every reporter
//! Engine   ──Finished {summary, verdict, comparison}──▶ every reporter
//! ```
//!
//! Events borrow their data: a reporter that keeps something copies it.
//! Attempt events are delivered only to reporters that ask for them
//! ([`crate::report::Reporter::wants_attempts`]), so a run nobody watches
//! live pays nothing for them.

use std::sync::Arc;

use crate::compare::Comparison;
use crate::model::{AttemptResult, CaseResult, RunInfo, StopReason, Summary, Verdict};

/// Which attempt an attempt event is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttemptId {
    /// Plan sequence number of the case (0-based, skipped cases counted).
    pub seq: u64,
    /// Names shared by every attempt of a suite (cheap to clone).
    pub suite: Arc<str>,
    pub case: Arc<str>,
    pub provider: Arc<str>,
    /// The prompt variant (`prompts:`), if the suite has variants.
    pub variant: Option<Arc<str>>,
    /// 1-based repeat index.
    pub repeat: u32,
    /// How many times the case runs.
    pub repeats: u32,
}

/// A provider call that failed and is about to be tried again.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Retry {
    /// 1-based number of the retry about to happen.
    pub retry: u32,
    /// Why the previous try failed (secrets redacted).
    pub error: String,
    /// The backoff before the retry, in milliseconds.
    pub wait_ms: f64,
}

/// What the engine emits; the aggregator and reporters consume these in order.
#[derive(Debug, Clone)]
pub(crate) enum RunEvent<'a> {
    Started(&'a RunInfo),
    /// An attempt was handed to a worker (its prompt is about to be rendered).
    AttemptStarted(&'a AttemptId),
    /// A provider call of an attempt failed and will be tried again.
    AttemptRetried {
        attempt: &'a AttemptId,
        retry: &'a Retry,
    },
    /// An attempt finished (in completion order, not plan order).
    AttemptFinished {
        attempt: &'a AttemptId,
        result: &'a AttemptResult,
    },
    /// A case finished, all its repeats folded; in plan order.
    CaseFinished(&'a CaseResult),
    Finished {
        summary: &'a Summary,
        verdict: &'a Verdict,
        stopped: Option<StopReason>,
        duration_ms: f64,
        /// The comparison with `--baseline`, when one was given.
        comparison: Option<&'a Comparison>,
    },
}

impl RunEvent<'_> {
    /// Whether this is one of the per-attempt events.
    pub(crate) fn is_attempt(&self) -> bool {
        matches!(
            self,
            RunEvent::AttemptStarted(_)
                | RunEvent::AttemptRetried { .. }
                | RunEvent::AttemptFinished { .. }
        )
    }
}

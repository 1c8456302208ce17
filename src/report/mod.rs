//! Reporters: consumers of [`RunEvent`]s. One file per output format.
//!
//! The engine emits events in plan order (suite, case, repeat); every reporter
//! sees the same stream. File reporters write through [`AtomicFile`], so a
//! report appears whole or not at all, and is written even when the run is
//! interrupted (the engine always sends `Finished`).

pub(crate) mod console;
pub(crate) mod explain;
pub(crate) mod github;
pub(crate) mod html;
pub(crate) mod json;
pub(crate) mod junit;
mod junit_cases;
pub(crate) mod latency;
pub(crate) mod markdown;
pub(crate) mod progress;
pub(crate) mod security;
pub(crate) mod variants;

use crate::error::Error;
use crate::event::RunEvent;

pub(crate) use crate::util::atomic::AtomicFile;

/// A consumer of run events.
pub(crate) trait Reporter: Send {
    fn on_event(&mut self, event: &RunEvent<'_>) -> Result<(), Error>;

    /// Whether this reporter wants the per-attempt events (started,
    /// retried, finished); most need only cases and the end.
    fn wants_attempts(&self) -> bool {
        false
    }
}

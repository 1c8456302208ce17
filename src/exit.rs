//! Documented process exit codes: a contract users script against (see README).

/// The gate passed.
pub(crate) const OK: i32 = 0;
/// The gate failed: failures, regressions or policy violations.
pub(crate) const GATE_FAILED: i32 = 1;
/// Invalid input: usage, config or suite errors. Nothing was run.
pub(crate) const INVALID_INPUT: i32 = 2;
/// Infrastructure: the run could not be carried out (no provider answered, a report
/// could not be written).
pub(crate) const INFRASTRUCTURE: i32 = 3;
/// Interrupted (Ctrl-C); reports of what finished were written.
pub(crate) const INTERRUPTED: i32 = 130;

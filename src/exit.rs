//! Documented process exit codes: a contract users script against (see README).

/// The gate passed.
pub const OK: i32 = 0;
/// The gate failed: failures, regressions or policy violations.
pub const GATE_FAILED: i32 = 1;
/// Invalid input: usage, config or suite errors. Nothing was run.
pub const INVALID_INPUT: i32 = 2;
/// Infrastructure: the run could not be carried out (no provider answered, a report
/// could not be written).
pub const INFRASTRUCTURE: i32 = 3;
/// Interrupted (Ctrl-C); reports of what finished were written.
pub const INTERRUPTED: i32 = 130;

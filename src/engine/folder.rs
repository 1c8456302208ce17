//! The folder: attempts arrive in completion order; cases leave in plan
//! order, each with all its repeats folded into one [`CaseResult`] (outcome,
//! flaky, passes) that carries its plan sequence number.
//!
//! Attempts wait here only until every earlier attempt has arrived; the
//! executor never runs more than a window ahead of the oldest unfinished
//! attempt, so what waits is bounded.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::model::{AttemptResult, CaseResult, Outcome};
use crate::plan::Plan;
use crate::suite::CaseDef;

/// One scheduled unit: an attempt of a case, or a skipped case.
pub(super) struct Slot {
    /// Index of the planned suite.
    pub suite: usize,
    /// Plan sequence number of the case.
    pub case_seq: u64,
    pub case: Arc<CaseDef>,
    /// None for a skipped case.
    pub attempt: Option<AttemptResult>,
    pub repeats: u32,
}

/// Reorders slots (numbered in schedule order) and folds repeats.
#[derive(Default)]
pub(super) struct Folder {
    waiting: BTreeMap<u64, Slot>,
    next: u64,
    /// Repeats of the case being folded.
    current: Vec<AttemptResult>,
}

impl Folder {
    /// The number of the first slot not yet folded.
    pub(super) fn next(&self) -> u64 {
        self.next
    }

    /// Whether the next slot in order is here.
    pub(super) fn ready(&self) -> bool {
        self.waiting.contains_key(&self.next)
    }

    pub(super) fn insert(&mut self, seq: u64, slot: Slot) {
        self.waiting.insert(seq, slot);
    }

    /// The next finished case in plan order, if its slots are all here.
    pub(super) fn pop(&mut self, plan: &Plan) -> Option<CaseResult> {
        while let Some(slot) = self.waiting.remove(&self.next) {
            self.next += 1;
            if let Some(result) = fold(plan, slot, &mut self.current) {
                return Some(result);
            }
        }
        None
    }

    /// After an interruption: the cases whose repeats all finished, in plan
    /// order, past the gaps left by attempts that never will. Attempts of a
    /// case are numbered contiguously, so a case is complete when all its
    /// repeats are there.
    pub(super) fn drain_complete(&mut self, plan: &Plan) -> Vec<CaseResult> {
        let mut out = Vec::new();
        self.current.clear();
        let mut pending: Vec<(u64, Slot)> = std::mem::take(&mut self.waiting).into_iter().collect();
        pending.sort_by_key(|(s, _)| *s);
        let mut i = 0;
        while i < pending.len() {
            let (seq, slot) = &pending[i];
            let Some(attempt) = &slot.attempt else {
                if let Some(r) = fold(plan, take_slot(&mut pending, i), &mut self.current) {
                    out.push(r);
                }
                i += 1;
                continue;
            };
            let n = slot.repeats;
            let complete = attempt.repeat == 1
                && (0..u64::from(n)).all(|k| {
                    pending
                        .get(i + k as usize)
                        .is_some_and(|(s, _)| *s == seq + k)
                });
            if complete {
                for k in 0..n as usize {
                    if let Some(r) = fold(plan, take_slot(&mut pending, i + k), &mut self.current) {
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
}

fn take_slot(pending: &mut [(u64, Slot)], i: usize) -> Slot {
    let (_, slot) = &mut pending[i];
    Slot {
        suite: slot.suite,
        case_seq: slot.case_seq,
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
        seq: slot.case_seq,
        suite: ps.suite.name.clone(),
        case: case.id.clone(),
        id: match &case.variant {
            Some(v) => format!("{}/{}@{v}", ps.suite.name, case.id),
            None => format!("{}/{}", ps.suite.name, case.id),
        },
        variant: case.variant.as_deref().map(str::to_string),
        provider: ps.provider_name.clone(),
        tags: case.tags.clone(),
        description: case.description.clone(),
        outcome,
        flaky,
        passes,
        repeats: case.settings.repeat,
        min_passes: case.settings.min_passes(),
        pass_k: None,
        skip_reason: case.skip.clone(),
        // Already as messages show it (`suites/x.yaml:12`, `data.jsonl:3`).
        source: case.source.clone(),
        attack: case.attack.clone(),
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

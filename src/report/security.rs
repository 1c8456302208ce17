//! The security section every report shares: the attack success rate per
//! attack category and per OWASP id, and each successful attack with its
//! prompt, mutator, output and detector evidence.

use crate::model::{CaseResult, Counts, Outcome, Summary};
use crate::util::fmt::percent;
use crate::util::text::one_line;

/// One row: a category or an OWASP id.
pub(crate) struct Row {
    pub name: String,
    /// The category's OWASP ids (empty on an OWASP row).
    pub owasp: String,
    pub attacks: u64,
    pub succeeded: u64,
    pub errors: u64,
    /// `-` when no attack got an answer.
    pub rate: String,
}

fn row(name: &str, owasp: String, c: &Counts) -> Row {
    let n = c.evaluated();
    Row {
        name: name.to_string(),
        owasp,
        attacks: c.total - c.skipped,
        succeeded: c.failed,
        errors: c.errored,
        rate: if n == 0 {
            "-".to_string()
        } else {
            percent(c.failed as f64 / n as f64)
        },
    }
}

/// Per category, in the pack's order, then categories it does not know.
pub(crate) fn category_rows(summary: &Summary) -> Vec<Row> {
    let order: Vec<String> = crate::attack::pack()
        .map(|p| p.categories.iter().map(|c| c.name.clone()).collect())
        .unwrap_or_default();
    let owasp_of = |name: &str| -> String {
        crate::attack::pack()
            .ok()
            .and_then(|p| p.category(name).map(|i| p.categories[i].owasp.join(", ")))
            .unwrap_or_default()
    };
    let mut rows: Vec<Row> = order
        .iter()
        .filter_map(|n| summary.attacks.get(n).map(|c| row(n, owasp_of(n), c)))
        .collect();
    for (n, c) in &summary.attacks {
        if !order.contains(n) {
            rows.push(row(n, String::new(), c));
        }
    }
    rows
}

pub(crate) fn owasp_rows(summary: &Summary) -> Vec<Row> {
    summary
        .owasp
        .iter()
        .map(|(id, c)| row(id, String::new(), c))
        .collect()
}

/// Every attack category's cases together.
pub(crate) fn total(summary: &Summary) -> Row {
    let mut t = Counts::default();
    for c in summary.attacks.values() {
        t.total += c.total;
        t.passed += c.passed;
        t.failed += c.failed;
        t.errored += c.errored;
        t.skipped += c.skipped;
    }
    row("all attacks", String::new(), &t)
}

/// A successful attack, for the list reports show.
pub(crate) struct Success {
    pub id: String,
    pub category: String,
    pub owasp: String,
    pub mutator: String,
    /// The attack, on one line, cut.
    pub prompt: String,
    /// The answer, on one line, cut.
    pub output: String,
    /// The failed detectors' messages (what matched, where, which decoding).
    pub evidence: Vec<String>,
}

/// The successful attack a case is, if it is one.
pub(crate) fn success(case: &CaseResult) -> Option<Success> {
    let a = case.attack.as_ref()?;
    if case.outcome != Outcome::Fail {
        return None;
    }
    let attempt = case.attempts.iter().find(|x| x.outcome == Outcome::Fail)?;
    Some(Success {
        id: case.id.clone(),
        category: a.category.clone(),
        owasp: a.owasp.join(", "),
        mutator: a.mutator.clone().unwrap_or_else(|| "none".to_string()),
        prompt: one_line(&a.prompt, 160),
        output: attempt
            .output
            .as_deref()
            .map(|o| one_line(o, 160))
            .unwrap_or_default(),
        evidence: attempt
            .checks
            .iter()
            .filter(|c| !c.passed)
            .map(|c| {
                let mut s = format!("{}: {}", c.name, c.message);
                if let Some(first) = c.excerpt.as_deref().and_then(|e| e.lines().next()) {
                    s.push_str(&format!(" — {}", one_line(first, 200)));
                }
                s
            })
            .collect(),
    })
}

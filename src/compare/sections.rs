//! The case lists of a [`Comparison`] as a format-neutral model: each
//! section has a heading, columns and rows of cells that know how they read
//! as plain text and as Markdown. The console and Markdown renderers (and any
//! later one) walk the same sections instead of re-deriving them.

use super::diff::relative;
use super::{CaseKey, Comparison, Tally};
use crate::model::Outcome;
use crate::util::fmt::{duration_ms, percent_change, percent_short};

/// Rows per list before "…and N more".
pub(super) const MAX_ROWS: usize = 50;

/// Per-case latency and token changes shown.
pub(super) const TOP_ROWS: usize = 10;

/// One value of a row: its plain-text form, and the Markdown cells it fills
/// (usually one; a before/after pair can fill two columns).
pub(super) struct Cell {
    pub(super) text: String,
    pub(super) md: Vec<String>,
}

impl Cell {
    /// The same words in both formats (Markdown cells are escaped by the renderer).
    fn same(s: String) -> Cell {
        Cell {
            md: vec![s.clone()],
            text: s,
        }
    }

    fn new(text: String, md: Vec<String>) -> Cell {
        Cell { text, md }
    }
}

/// Where a row's explanation goes in plain text (Markdown always gives it
/// the last column).
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum ReasonAt {
    /// On its own indented line below the row.
    Below,
    /// In parentheses at the end of the row.
    Inline,
    /// The section has no explanations.
    Nowhere,
}

pub(super) struct Row<'c> {
    /// A one-character marker before the case in plain text (`✗`, `✓`, …).
    pub(super) mark: Option<&'static str>,
    pub(super) key: &'c CaseKey,
    pub(super) cells: Vec<Cell>,
    pub(super) reason: Option<String>,
}

pub(super) struct Section<'c> {
    /// Plain-text heading, e.g. `REGRESSIONS (2)`.
    pub(super) text_heading: String,
    /// Markdown heading, e.g. `❌ Regressions (2)`.
    pub(super) md_heading: String,
    /// Markdown column names after `case`, and their alignment row.
    pub(super) columns: &'static [&'static str],
    pub(super) align: &'static str,
    pub(super) reason_at: ReasonAt,
    pub(super) rows: Vec<Row<'c>>,
    /// How many entries the section has (rows may hold fewer).
    pub(super) total: usize,
    /// Whether entries past `rows` are announced as "…and N more" (lists) or
    /// not (the largest-changes sections say so in their heading).
    pub(super) more: bool,
    /// Markdown shows it collapsed (`<details>`).
    pub(super) collapsed: bool,
}

fn score(s: Option<f64>) -> String {
    s.map_or_else(|| "—".to_string(), |s| format!("{s:.2}"))
}

pub(super) fn tokens(t: f64) -> String {
    if t.fract() == 0.0 {
        format!("{t:.0}")
    } else {
        format!("{t:.1}")
    }
}

fn repeats(t: &Tally) -> String {
    let flaky = if t.flaky { ", flaky" } else { "" };
    if t.outcome == Outcome::Skipped {
        return "skipped".to_string();
    }
    format!(
        "{} ({} of {} repeats passed{flaky})",
        t.outcome.as_str(),
        t.passes,
        t.repeats
    )
}

/// `fail → error` in text, `fail → **error**` in Markdown.
fn outcome_change(before: Outcome, after: Outcome) -> Cell {
    Cell::new(
        format!("{} → {}", before.as_str(), after.as_str()),
        vec![format!("{} → **{}**", before.as_str(), after.as_str())],
    )
}

fn scores(before: Option<f64>, after: Option<f64>) -> Cell {
    let pair = format!("{} → {}", score(before), score(after));
    Cell::new(format!("score {pair}"), vec![pair])
}

fn largest_note(total: u64) -> String {
    if total as usize > TOP_ROWS {
        format!("; the largest {TOP_ROWS}")
    } else {
        String::new()
    }
}

/// A list section of up to [`MAX_ROWS`] rows.
#[allow(clippy::too_many_arguments)]
fn list<'c, T: 'c>(
    title_text: &str,
    title_md: &str,
    note: &str,
    columns: &'static [&'static str],
    align: &'static str,
    reason_at: ReasonAt,
    items: &'c [T],
    row: impl Fn(&'c T) -> Row<'c>,
) -> Section<'c> {
    let n = items.len();
    Section {
        text_heading: format!("{title_text} ({n}{note})"),
        md_heading: format!("{title_md} ({n}{note})"),
        columns,
        align,
        reason_at,
        rows: items.iter().take(MAX_ROWS).map(row).collect(),
        total: n,
        more: true,
        collapsed: false,
    }
}

/// The case lists that come before the per-suite table, in order:
/// regressions, fixed, failure kind changed, new, removed, flaky, skipped,
/// score changes. Empty sections are left out.
pub(super) fn case_lists(c: &Comparison) -> Vec<Section<'_>> {
    let new_failures = c.new_failures();
    let new_note = if new_failures > 0 {
        format!(", {new_failures} failing")
    } else {
        String::new()
    };
    let score_note = format!(", beyond ±{:.2}", c.tolerance.score);
    let sections = vec![
        list(
            "REGRESSIONS",
            "❌ Regressions",
            "",
            &["baseline → HEAD", "score", "why it fails now"],
            "|---|---|---|---|",
            ReasonAt::Below,
            &c.regressions,
            |r| Row {
                mark: Some(if r.after == Outcome::Error {
                    "!"
                } else {
                    "✗"
                }),
                key: &r.key,
                cells: vec![
                    outcome_change(r.before, r.after),
                    scores(r.score_before, r.score_after),
                ],
                reason: Some(match &r.test {
                    Some(t) => format!("{}; {}", t.describe(), r.reason),
                    None => r.reason.clone(),
                }),
            },
        ),
        list(
            "NOT SIGNIFICANT",
            "〰️ Pass → fail, not significant",
            ", not regressions",
            &["baseline → HEAD", "Fisher's exact test", "why it fails now"],
            "|---|---|---|---|",
            ReasonAt::Below,
            &c.not_significant,
            |r| Row {
                mark: Some("~"),
                key: &r.key,
                cells: vec![
                    outcome_change(r.before, r.after),
                    match &r.test {
                        Some(t) => Cell::new(t.describe(), vec![t.describe()]),
                        None => Cell::new(String::new(), vec![String::new()]),
                    },
                ],
                reason: Some(r.reason.clone()),
            },
        ),
        list(
            "FIXED",
            "✅ Fixed",
            "",
            &["baseline → HEAD", "score"],
            "|---|---|---|",
            ReasonAt::Nowhere,
            &c.fixed,
            |f| Row {
                mark: Some("✓"),
                key: &f.key,
                cells: vec![
                    outcome_change(f.before, f.after),
                    scores(f.score_before, f.score_after),
                ],
                reason: None,
            },
        ),
        list(
            "FAILURE KIND CHANGED",
            "Failure kind changed",
            "",
            &["baseline → HEAD", "why it does not pass"],
            "|---|---|---|",
            ReasonAt::Below,
            &c.failure_kind_changed,
            |k| Row {
                mark: Some("*"),
                key: &k.key,
                cells: vec![outcome_change(k.before, k.after)],
                reason: Some(k.reason.clone()),
            },
        ),
        list(
            "NEW",
            "New cases",
            &new_note,
            &["outcome", "score", "why it does not pass"],
            "|---|---|---|---|",
            ReasonAt::Below,
            &c.new,
            |n| Row {
                mark: Some("+"),
                key: &n.key,
                cells: vec![
                    Cell::new(
                        format!(
                            "{}{}",
                            n.outcome.as_str(),
                            if n.flaky { ", flaky" } else { "" }
                        ),
                        vec![format!(
                            "{}{}",
                            n.outcome.as_str(),
                            if n.flaky { " (flaky)" } else { "" }
                        )],
                    ),
                    Cell::new(format!("score {}", score(n.score)), vec![score(n.score)]),
                ],
                reason: n.reason.clone(),
            },
        ),
        list(
            "REMOVED",
            "Removed cases",
            "",
            &["baseline outcome"],
            "|---|---|",
            ReasonAt::Nowhere,
            &c.removed,
            |r| Row {
                mark: Some("-"),
                key: &r.key,
                cells: vec![Cell::new(
                    format!("(was {})", r.outcome.as_str()),
                    vec![r.outcome.as_str().to_string()],
                )],
                reason: None,
            },
        ),
        list(
            "FLAKY",
            "Flaky",
            "",
            &["baseline", "HEAD"],
            "|---|---|---|",
            ReasonAt::Nowhere,
            &c.flaky,
            |f| {
                let (b, a) = (repeats(&f.before), repeats(&f.after));
                Row {
                    mark: Some("~"),
                    key: &f.key,
                    cells: vec![Cell::new(format!("{b} → {a}"), vec![b, a])],
                    reason: None,
                }
            },
        ),
        list(
            "SKIPPED",
            "Skipped",
            "",
            &["baseline → HEAD", "note"],
            "|---|---|---|",
            ReasonAt::Inline,
            &c.skipped,
            |k| Row {
                mark: Some("-"),
                key: &k.key,
                cells: vec![Cell::same(format!(
                    "{} → {}",
                    k.before.as_str(),
                    k.after.as_str()
                ))],
                reason: k.reason.clone(),
            },
        ),
        list(
            "SCORE CHANGES",
            "Score changes",
            &score_note,
            &["outcome", "before", "after", "Δ"],
            "|---|---|--:|--:|--:|",
            ReasonAt::Nowhere,
            &c.score_changes,
            |k| {
                let (b, a, d) = (
                    format!("{:.2}", k.before),
                    format!("{:.2}", k.after),
                    format!("{:+.2}", k.delta()),
                );
                Row {
                    mark: None,
                    key: &k.key,
                    cells: vec![
                        Cell::same(k.outcome.as_str().to_string()),
                        Cell::new(format!("{b} → {a} ({d})"), vec![b, a, d]),
                    ],
                    reason: None,
                }
            },
        ),
    ];
    sections.into_iter().filter(|s| s.total > 0).collect()
}

/// The largest per-case latency and token changes (after the per-suite
/// table). Empty sections are left out.
pub(super) fn largest_changes(c: &Comparison) -> Vec<Section<'_>> {
    let latency_tol = percent_short(c.tolerance.latency_ratio);
    let tokens_tol = percent_short(c.tolerance.tokens_ratio);
    let sections = vec![
        Section {
            text_heading: format!(
                "LATENCY CHANGES ({} beyond ±{latency_tol}{})",
                c.latency_changes_total,
                largest_note(c.latency_changes_total)
            ),
            md_heading: format!(
                "Per-case latency changes: {} beyond ±{latency_tol}{}",
                c.latency_changes_total,
                largest_note(c.latency_changes_total)
            ),
            columns: &["before", "after", "Δ"],
            align: "|---|--:|--:|--:|",
            reason_at: ReasonAt::Nowhere,
            rows: c
                .latency_changes
                .iter()
                .take(TOP_ROWS)
                .map(|l| {
                    let (b, a, d) = (
                        duration_ms(l.before_ms),
                        duration_ms(l.after_ms),
                        percent_change(l.ratio),
                    );
                    Row {
                        mark: None,
                        key: &l.key,
                        cells: vec![Cell::new(format!("{b} → {a} ({d})"), vec![b, a, d])],
                        reason: None,
                    }
                })
                .collect(),
            total: c.latency_changes_total as usize,
            more: false,
            collapsed: true,
        },
        Section {
            text_heading: format!(
                "TOKEN CHANGES ({} beyond ±{tokens_tol} per attempt{})",
                c.token_changes_total,
                largest_note(c.token_changes_total)
            ),
            md_heading: format!(
                "Per-case token changes (per attempt): {} beyond ±{tokens_tol}{}",
                c.token_changes_total,
                largest_note(c.token_changes_total)
            ),
            columns: &["tokens in", "Δ", "tokens out", "Δ"],
            align: "|---|--:|--:|--:|--:|",
            reason_at: ReasonAt::Nowhere,
            rows: c
                .token_changes
                .iter()
                .take(TOP_ROWS)
                .map(|t| {
                    let input = format!("{} → {}", tokens(t.input_before), tokens(t.input_after));
                    let input_d = percent_change(relative(t.input_before, t.input_after));
                    let output =
                        format!("{} → {}", tokens(t.output_before), tokens(t.output_after));
                    let output_d = percent_change(relative(t.output_before, t.output_after));
                    Row {
                        mark: None,
                        key: &t.key,
                        cells: vec![Cell::new(
                            format!("in {input} ({input_d}), out {output} ({output_d})"),
                            vec![input, input_d, output, output_d],
                        )],
                        reason: None,
                    }
                })
                .collect(),
            total: c.token_changes_total as usize,
            more: false,
            collapsed: true,
        },
    ];
    sections.into_iter().filter(|s| s.total > 0).collect()
}

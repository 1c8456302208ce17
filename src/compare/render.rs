//! A [`Comparison`] as plain console text and as Markdown (for a PR comment
//! or `$GITHUB_STEP_SUMMARY`). Both lead with the regressions; long lists are
//! cut at [`MAX_ROWS`] with "…and N more".

use std::collections::BTreeSet;
use std::fmt::Write as _;

use super::{CaseKey, Comparison, RunMeta, SuiteDelta, SuiteStats, Tally};
use crate::model::Outcome;
use crate::util::fmt::{duration_ms, percent, percent_change, percent_short, plural};
use crate::util::text::one_line;
use crate::util::text::{code_span, html};

/// Rows per list before "…and N more".
pub(super) const MAX_ROWS: usize = 50;

/// Per-case latency and token changes shown.
pub(super) const TOP_ROWS: usize = 10;

/// How long a message may get in a list or a cell.
const MESSAGE_CHARS: usize = 300;

/// Plain text (no colour codes). Sections, each omitted when empty:
/// regressions, fixed, failure kind changed, new, removed, flaky, skipped,
/// score changes, latency and tokens per suite (with the largest per-case
/// changes), not run in HEAD, notes.
pub(crate) fn render_console(c: &Comparison) -> String {
    let names = Names::new(c);
    let mut s = String::new();
    let _ = writeln!(s, "evalgate compare");
    let _ = writeln!(s, "  baseline: {}", run_line(&c.base, false));
    let _ = writeln!(s, "  HEAD:     {}", run_line(&c.head, false));
    let _ = writeln!(s, "  {}", tally_line(c));
    if c.is_unchanged() {
        let _ = writeln!(
            s,
            "\nno changes: every matched case has the same outcome, score, latency and token usage"
        );
    }

    section(&mut s, "REGRESSIONS", c.regressions.len(), "", |s| {
        for r in c.regressions.iter().take(MAX_ROWS) {
            let mark = if r.after == Outcome::Error {
                "!"
            } else {
                "✗"
            };
            let _ = writeln!(
                s,
                "  {mark} {}  {} → {}  score {} → {}",
                names.plain(&r.key),
                r.before.as_str(),
                r.after.as_str(),
                score(r.score_before),
                score(r.score_after)
            );
            let _ = writeln!(s, "      {}", one_line(&r.reason, MESSAGE_CHARS));
        }
        more(s, c.regressions.len());
    });
    section(&mut s, "FIXED", c.fixed.len(), "", |s| {
        for f in c.fixed.iter().take(MAX_ROWS) {
            let _ = writeln!(
                s,
                "  ✓ {}  {} → {}  score {} → {}",
                names.plain(&f.key),
                f.before.as_str(),
                f.after.as_str(),
                score(f.score_before),
                score(f.score_after)
            );
        }
        more(s, c.fixed.len());
    });
    section(
        &mut s,
        "FAILURE KIND CHANGED",
        c.failure_kind_changed.len(),
        "",
        |s| {
            for k in c.failure_kind_changed.iter().take(MAX_ROWS) {
                let _ = writeln!(
                    s,
                    "  * {}  {} → {}",
                    names.plain(&k.key),
                    k.before.as_str(),
                    k.after.as_str()
                );
                let _ = writeln!(s, "      {}", one_line(&k.reason, MESSAGE_CHARS));
            }
            more(s, c.failure_kind_changed.len());
        },
    );
    let new_failures = c.new_failures();
    let new_note = if new_failures > 0 {
        format!(", {new_failures} failing")
    } else {
        String::new()
    };
    section(&mut s, "NEW", c.new.len(), &new_note, |s| {
        for n in c.new.iter().take(MAX_ROWS) {
            let flaky = if n.flaky { ", flaky" } else { "" };
            let _ = writeln!(
                s,
                "  + {}  {}{flaky}  score {}",
                names.plain(&n.key),
                n.outcome.as_str(),
                score(n.score)
            );
            if let Some(r) = &n.reason {
                let _ = writeln!(s, "      {}", one_line(r, MESSAGE_CHARS));
            }
        }
        more(s, c.new.len());
    });
    section(&mut s, "REMOVED", c.removed.len(), "", |s| {
        for r in c.removed.iter().take(MAX_ROWS) {
            let _ = writeln!(
                s,
                "  - {}  (was {})",
                names.plain(&r.key),
                r.outcome.as_str()
            );
        }
        more(s, c.removed.len());
    });
    section(&mut s, "FLAKY", c.flaky.len(), "", |s| {
        for f in c.flaky.iter().take(MAX_ROWS) {
            let _ = writeln!(
                s,
                "  ~ {}  {} → {}",
                names.plain(&f.key),
                repeats(&f.before),
                repeats(&f.after)
            );
        }
        more(s, c.flaky.len());
    });
    section(&mut s, "SKIPPED", c.skipped.len(), "", |s| {
        for k in c.skipped.iter().take(MAX_ROWS) {
            let note = k
                .reason
                .as_deref()
                .map(|r| format!("  ({})", one_line(r, MESSAGE_CHARS)))
                .unwrap_or_default();
            let _ = writeln!(
                s,
                "  - {}  {} → {}{note}",
                names.plain(&k.key),
                k.before.as_str(),
                k.after.as_str()
            );
        }
        more(s, c.skipped.len());
    });
    let tol_note = format!(", beyond ±{:.2}", c.tolerance.score);
    section(
        &mut s,
        "SCORE CHANGES",
        c.score_changes.len(),
        &tol_note,
        |s| {
            for k in c.score_changes.iter().take(MAX_ROWS) {
                let _ = writeln!(
                    s,
                    "  {}  {}  {:.2} → {:.2} ({:+.2})",
                    names.plain(&k.key),
                    k.outcome.as_str(),
                    k.before,
                    k.after,
                    k.delta()
                );
            }
            more(s, c.score_changes.len());
        },
    );

    if !c.suites.is_empty() {
        let _ = writeln!(
            s,
            "\nLATENCY AND TOKENS PER SUITE (! marks a change beyond ±{} latency, ±{} tokens)",
            percent_short(c.tolerance.latency_ratio),
            percent_short(c.tolerance.tokens_ratio)
        );
        let mut rows = vec![vec![
            "SUITE".to_string(),
            "CASES".to_string(),
            "PASS RATE".to_string(),
            "MEAN LATENCY".to_string(),
            "TOKENS IN/ATTEMPT".to_string(),
            "TOKENS OUT/ATTEMPT".to_string(),
        ]];
        for d in c.suites.iter().chain(std::iter::once(&c.total)) {
            let name = if std::ptr::eq(d, &c.total) {
                "TOTAL".to_string()
            } else {
                d.suite.clone()
            };
            let cells = SuiteCells::of(d);
            let flag = |yes: bool| if yes { " !" } else { "" };
            rows.push(vec![
                name,
                cells.cases,
                cells.pass_rate,
                format!(
                    "{}{}",
                    with_delta(&cells.latency, &cells.latency_delta),
                    flag(d.latency_changed)
                ),
                format!(
                    "{}{}",
                    with_delta(&cells.input, &cells.input_delta),
                    flag(d.input_tokens_changed)
                ),
                format!(
                    "{}{}",
                    with_delta(&cells.output, &cells.output_delta),
                    flag(d.output_tokens_changed)
                ),
            ]);
        }
        s.push_str(&text_table(&rows, "  "));
        let _ = writeln!(s, "  {}", total_tokens_line(&c.total));
    }
    if c.latency_changes_total > 0 {
        let _ = writeln!(
            s,
            "\nLATENCY CHANGES ({} beyond ±{}{})",
            c.latency_changes_total,
            percent_short(c.tolerance.latency_ratio),
            largest_note(c.latency_changes_total)
        );
        for l in c.latency_changes.iter().take(TOP_ROWS) {
            let _ = writeln!(
                s,
                "  {}  {} → {} ({})",
                names.plain(&l.key),
                duration_ms(l.before_ms),
                duration_ms(l.after_ms),
                percent_change(l.ratio)
            );
        }
    }
    if c.token_changes_total > 0 {
        let _ = writeln!(
            s,
            "\nTOKEN CHANGES ({} beyond ±{} per attempt{})",
            c.token_changes_total,
            percent_short(c.tolerance.tokens_ratio),
            largest_note(c.token_changes_total)
        );
        for t in c.token_changes.iter().take(TOP_ROWS) {
            let _ = writeln!(
                s,
                "  {}  in {} → {} ({}), out {} → {} ({})",
                names.plain(&t.key),
                tokens(t.input_before),
                tokens(t.input_after),
                percent_change(super::diff::relative(t.input_before, t.input_after)),
                tokens(t.output_before),
                tokens(t.output_after),
                percent_change(super::diff::relative(t.output_before, t.output_after)),
            );
        }
    }
    let not_run: u64 = c.not_run.iter().map(|n| n.cases).sum();
    if not_run > 0 {
        let _ = writeln!(s, "\nNOT RUN IN HEAD ({not_run})");
        for n in &c.not_run {
            let _ = writeln!(
                s,
                "  {}: {} case{} ({})",
                n.suite,
                n.cases,
                plural(n.cases),
                n.reason.describe()
            );
        }
    }
    if !c.notes.is_empty() {
        let _ = writeln!(s, "\nNOTES");
        for n in &c.notes {
            let _ = writeln!(s, "  - {n}");
        }
    }
    s
}

/// Markdown: a heading with the number of regressions, the regression table
/// (case, baseline → HEAD outcome, score before → after, why it fails now),
/// then fixes, failure kind changes, new, removed, flaky, skipped, score
/// changes, a per-suite latency and token table with deltas, the largest
/// per-case latency and token changes (collapsed), cases not run in HEAD and
/// notes.
pub(crate) fn render_markdown(c: &Comparison) -> String {
    let names = Names::new(c);
    let mut md = String::new();
    let n = c.regressions.len();
    if n == 0 {
        let _ = writeln!(md, "## ✅ evalgate compare: no regressions\n");
    } else {
        let _ = writeln!(md, "## ❌ evalgate compare: {n} regression{}\n", plural(n));
    }
    let _ = writeln!(
        md,
        "Baseline: {}<br>\nHEAD: {}\n",
        run_line(&c.base, true),
        run_line(&c.head, true)
    );
    let _ = writeln!(md, "{}\n", tally_line(c));

    if n > 0 {
        let _ = writeln!(md, "### ❌ Regressions ({n})\n");
        let _ = writeln!(md, "| case | baseline → HEAD | score | why it fails now |");
        let _ = writeln!(md, "|---|---|---|---|");
        for r in c.regressions.iter().take(MAX_ROWS) {
            let _ = writeln!(
                md,
                "| {} | {} → **{}** | {} → {} | {} |",
                names.code(&r.key),
                r.before.as_str(),
                r.after.as_str(),
                score(r.score_before),
                score(r.score_after),
                cell(&r.reason)
            );
        }
        md_more(&mut md, n);
        md.push('\n');
    }
    if !c.fixed.is_empty() {
        let _ = writeln!(md, "### ✅ Fixed ({})\n", c.fixed.len());
        let _ = writeln!(md, "| case | baseline → HEAD | score |");
        let _ = writeln!(md, "|---|---|---|");
        for f in c.fixed.iter().take(MAX_ROWS) {
            let _ = writeln!(
                md,
                "| {} | {} → **{}** | {} → {} |",
                names.code(&f.key),
                f.before.as_str(),
                f.after.as_str(),
                score(f.score_before),
                score(f.score_after)
            );
        }
        md_more(&mut md, c.fixed.len());
        md.push('\n');
    }
    if !c.failure_kind_changed.is_empty() {
        let _ = writeln!(
            md,
            "### Failure kind changed ({})\n",
            c.failure_kind_changed.len()
        );
        let _ = writeln!(md, "| case | baseline → HEAD | why it does not pass |");
        let _ = writeln!(md, "|---|---|---|");
        for k in c.failure_kind_changed.iter().take(MAX_ROWS) {
            let _ = writeln!(
                md,
                "| {} | {} → **{}** | {} |",
                names.code(&k.key),
                k.before.as_str(),
                k.after.as_str(),
                cell(&k.reason)
            );
        }
        md_more(&mut md, c.failure_kind_changed.len());
        md.push('\n');
    }
    if !c.new.is_empty() {
        let failing = c.new_failures();
        let note = if failing > 0 {
            format!(", {failing} failing")
        } else {
            String::new()
        };
        let _ = writeln!(md, "### New cases ({}{note})\n", c.new.len());
        let _ = writeln!(md, "| case | outcome | score | why it does not pass |");
        let _ = writeln!(md, "|---|---|---|---|");
        for nc in c.new.iter().take(MAX_ROWS) {
            let flaky = if nc.flaky { " (flaky)" } else { "" };
            let _ = writeln!(
                md,
                "| {} | {}{flaky} | {} | {} |",
                names.code(&nc.key),
                nc.outcome.as_str(),
                score(nc.score),
                nc.reason.as_deref().map(cell).unwrap_or_default()
            );
        }
        md_more(&mut md, c.new.len());
        md.push('\n');
    }
    if !c.removed.is_empty() {
        let _ = writeln!(md, "### Removed cases ({})\n", c.removed.len());
        let _ = writeln!(md, "| case | baseline outcome |");
        let _ = writeln!(md, "|---|---|");
        for r in c.removed.iter().take(MAX_ROWS) {
            let _ = writeln!(md, "| {} | {} |", names.code(&r.key), r.outcome.as_str());
        }
        md_more(&mut md, c.removed.len());
        md.push('\n');
    }
    if !c.flaky.is_empty() {
        let _ = writeln!(md, "### Flaky ({})\n", c.flaky.len());
        let _ = writeln!(md, "| case | baseline | HEAD |");
        let _ = writeln!(md, "|---|---|---|");
        for f in c.flaky.iter().take(MAX_ROWS) {
            let _ = writeln!(
                md,
                "| {} | {} | {} |",
                names.code(&f.key),
                repeats(&f.before),
                repeats(&f.after)
            );
        }
        md_more(&mut md, c.flaky.len());
        md.push('\n');
    }
    if !c.skipped.is_empty() {
        let _ = writeln!(md, "### Skipped ({})\n", c.skipped.len());
        let _ = writeln!(md, "| case | baseline → HEAD | note |");
        let _ = writeln!(md, "|---|---|---|");
        for k in c.skipped.iter().take(MAX_ROWS) {
            let _ = writeln!(
                md,
                "| {} | {} → {} | {} |",
                names.code(&k.key),
                k.before.as_str(),
                k.after.as_str(),
                k.reason.as_deref().map(cell).unwrap_or_default()
            );
        }
        md_more(&mut md, c.skipped.len());
        md.push('\n');
    }
    if !c.score_changes.is_empty() {
        let _ = writeln!(
            md,
            "### Score changes ({}, beyond ±{:.2})\n",
            c.score_changes.len(),
            c.tolerance.score
        );
        let _ = writeln!(md, "| case | outcome | before | after | Δ |");
        let _ = writeln!(md, "|---|---|--:|--:|--:|");
        for k in c.score_changes.iter().take(MAX_ROWS) {
            let _ = writeln!(
                md,
                "| {} | {} | {:.2} | {:.2} | {:+.2} |",
                names.code(&k.key),
                k.outcome.as_str(),
                k.before,
                k.after,
                k.delta()
            );
        }
        md_more(&mut md, c.score_changes.len());
        md.push('\n');
    }
    if !c.suites.is_empty() {
        let _ = writeln!(
            md,
            "### Latency and tokens per suite\n\n⚠️ marks a change beyond ±{} (latency) or ±{} (tokens).\n",
            percent_short(c.tolerance.latency_ratio),
            percent_short(c.tolerance.tokens_ratio)
        );
        let _ = writeln!(
            md,
            "| suite | cases | pass rate | mean latency | Δ | tokens in / attempt | Δ | tokens out / attempt | Δ |"
        );
        let _ = writeln!(md, "|---|--:|--:|--:|--:|--:|--:|--:|--:|");
        let warn = |yes: bool| if yes { " ⚠️" } else { "" };
        for d in c.suites.iter().chain(std::iter::once(&c.total)) {
            let name = if std::ptr::eq(d, &c.total) {
                "**total**".to_string()
            } else {
                cell(&d.suite)
            };
            let k = SuiteCells::of(d);
            let _ = writeln!(
                md,
                "| {name} | {} | {} | {} | {}{} | {} | {}{} | {} | {}{} |",
                k.cases,
                k.pass_rate,
                k.latency,
                k.latency_delta,
                warn(d.latency_changed),
                k.input,
                k.input_delta,
                warn(d.input_tokens_changed),
                k.output,
                k.output_delta,
                warn(d.output_tokens_changed),
            );
        }
        let _ = writeln!(md, "\n{}\n", total_tokens_line(&c.total));
    }
    if c.latency_changes_total > 0 {
        let _ = writeln!(
            md,
            "<details>\n<summary>Per-case latency changes: {} beyond ±{}{}</summary>\n",
            c.latency_changes_total,
            percent_short(c.tolerance.latency_ratio),
            largest_note(c.latency_changes_total)
        );
        let _ = writeln!(md, "| case | before | after | Δ |");
        let _ = writeln!(md, "|---|--:|--:|--:|");
        for l in c.latency_changes.iter().take(TOP_ROWS) {
            let _ = writeln!(
                md,
                "| {} | {} | {} | {} |",
                names.code(&l.key),
                duration_ms(l.before_ms),
                duration_ms(l.after_ms),
                percent_change(l.ratio)
            );
        }
        let _ = writeln!(md, "\n</details>\n");
    }
    if c.token_changes_total > 0 {
        let _ = writeln!(
            md,
            "<details>\n<summary>Per-case token changes (per attempt): {} beyond ±{}{}</summary>\n",
            c.token_changes_total,
            percent_short(c.tolerance.tokens_ratio),
            largest_note(c.token_changes_total)
        );
        let _ = writeln!(md, "| case | tokens in | Δ | tokens out | Δ |");
        let _ = writeln!(md, "|---|--:|--:|--:|--:|");
        for t in c.token_changes.iter().take(TOP_ROWS) {
            let _ = writeln!(
                md,
                "| {} | {} → {} | {} | {} → {} | {} |",
                names.code(&t.key),
                tokens(t.input_before),
                tokens(t.input_after),
                percent_change(super::diff::relative(t.input_before, t.input_after)),
                tokens(t.output_before),
                tokens(t.output_after),
                percent_change(super::diff::relative(t.output_before, t.output_after)),
            );
        }
        let _ = writeln!(md, "\n</details>\n");
    }
    let not_run: u64 = c.not_run.iter().map(|n| n.cases).sum();
    if not_run > 0 {
        let _ = writeln!(md, "### Not run in HEAD ({not_run})\n");
        for nr in &c.not_run {
            let _ = writeln!(
                md,
                "- {}: {} case{}: {}",
                code(&nr.suite),
                nr.cases,
                plural(nr.cases),
                nr.reason.describe()
            );
        }
        md.push('\n');
    }
    if !c.notes.is_empty() {
        let _ = writeln!(md, "### Notes\n");
        for note in &c.notes {
            let _ = writeln!(md, "- {}", html(&one_line(note, 1000)));
        }
        md.push('\n');
    }
    while md.ends_with("\n\n") {
        md.pop();
    }
    md
}

/// How cases are named: `suite/case`, with ` [provider]` when the listed
/// cases use more than one provider.
struct Names {
    with_provider: bool,
}

impl Names {
    fn new(c: &Comparison) -> Self {
        let keys = c
            .regressions
            .iter()
            .map(|x| &x.key)
            .chain(c.fixed.iter().map(|x| &x.key))
            .chain(c.failure_kind_changed.iter().map(|x| &x.key))
            .chain(c.new.iter().map(|x| &x.key))
            .chain(c.removed.iter().map(|x| &x.key))
            .chain(c.flaky.iter().map(|x| &x.key))
            .chain(c.skipped.iter().map(|x| &x.key))
            .chain(c.score_changes.iter().map(|x| &x.key))
            .chain(c.latency_changes.iter().map(|x| &x.key))
            .chain(c.token_changes.iter().map(|x| &x.key));
        let providers: BTreeSet<&str> = keys.map(|k| k.provider.as_str()).collect();
        Names {
            with_provider: providers.len() > 1,
        }
    }

    /// Plain text on one line.
    fn plain(&self, k: &CaseKey) -> String {
        let name = if self.with_provider {
            format!("{} [{}]", k.id(), k.provider)
        } else {
            k.id()
        };
        one_line(&name, MESSAGE_CHARS)
    }

    /// A code span for a Markdown table cell.
    fn code(&self, k: &CaseKey) -> String {
        let id = code(&k.id());
        if self.with_provider {
            format!("{id} ({})", cell(&k.provider))
        } else {
            id
        }
    }
}

/// `evalgate 0.1.0 · started … · commit … · 12 cases`.
fn run_line(m: &RunMeta, markdown: bool) -> String {
    let mut parts = Vec::new();
    if m.evalgate_version.is_empty() {
        parts.push("evalgate (unknown version)".to_string());
    } else {
        parts.push(format!("evalgate {}", m.evalgate_version));
    }
    if let Some(t) = &m.started_at {
        parts.push(format!("started {t}"));
    }
    if let Some(commit) = &m.git_commit {
        if markdown {
            parts.push(format!("commit {}", code(commit)));
        } else {
            parts.push(format!("commit {commit}"));
        }
    }
    parts.push(format!("{} case{}", m.cases, plural(m.cases)));
    if let Some(s) = &m.stopped {
        parts.push(format!("stopped early ({})", s.replace('_', "-")));
    }
    let line = parts.join(" · ");
    if markdown {
        line
    } else {
        one_line(&line, 1000)
    }
}

/// `12 matched (6 unchanged) · 2 regressions · 1 fixed · …`.
fn tally_line(c: &Comparison) -> String {
    let mut parts = vec![format!("{} matched ({} unchanged)", c.matched, c.unchanged)];
    fn add(parts: &mut Vec<String>, n: usize, one: &str, many: &str) {
        if n > 0 {
            parts.push(format!("{n} {}", if n == 1 { one } else { many }));
        }
    }
    add(&mut parts, c.regressions.len(), "regression", "regressions");
    add(&mut parts, c.fixed.len(), "fixed", "fixed");
    add(
        &mut parts,
        c.failure_kind_changed.len(),
        "failure kind changed",
        "failure kinds changed",
    );
    match c.new_failures() {
        0 => add(&mut parts, c.new.len(), "new", "new"),
        failing => parts.push(format!("{} new ({failing} failing)", c.new.len())),
    }
    add(&mut parts, c.removed.len(), "removed", "removed");
    let not_run: u64 = c.not_run.iter().map(|n| n.cases).sum();
    add(
        &mut parts,
        not_run as usize,
        "not run in HEAD",
        "not run in HEAD",
    );
    add(&mut parts, c.flaky.len(), "flaky", "flaky");
    add(&mut parts, c.skipped.len(), "skip change", "skip changes");
    add(
        &mut parts,
        c.score_changes.len(),
        "score change",
        "score changes",
    );
    add(
        &mut parts,
        c.latency_changes_total as usize,
        "latency change",
        "latency changes",
    );
    add(
        &mut parts,
        c.token_changes_total as usize,
        "token change",
        "token changes",
    );
    parts.join(" · ")
}

/// A console section: heading with the count, body when not empty.
fn section(s: &mut String, title: &str, n: usize, note: &str, body: impl FnOnce(&mut String)) {
    if n == 0 {
        return;
    }
    let _ = writeln!(s, "\n{title} ({n}{note})");
    body(s);
}

fn more(s: &mut String, n: usize) {
    if n > MAX_ROWS {
        let _ = writeln!(s, "  …and {} more", n - MAX_ROWS);
    }
}

fn md_more(md: &mut String, n: usize) {
    if n > MAX_ROWS {
        let _ = writeln!(md, "\n…and {} more", n - MAX_ROWS);
    }
}

fn largest_note(total: u64) -> String {
    if total as usize > TOP_ROWS {
        format!("; the largest {TOP_ROWS}")
    } else {
        String::new()
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

fn score(s: Option<f64>) -> String {
    s.map_or_else(|| "—".to_string(), |s| format!("{s:.2}"))
}

fn tokens(t: f64) -> String {
    if t.fract() == 0.0 {
        format!("{t:.0}")
    } else {
        format!("{t:.1}")
    }
}

/// The cells of a per-suite row, shared by both renderers.
struct SuiteCells {
    cases: String,
    pass_rate: String,
    latency: String,
    latency_delta: String,
    input: String,
    input_delta: String,
    output: String,
    output_delta: String,
}

impl SuiteCells {
    fn of(d: &SuiteDelta) -> Self {
        let (b, a) = (d.before.as_ref(), d.after.as_ref());
        let pair = |f: &dyn Fn(&SuiteStats) -> String| {
            format!(
                "{} → {}",
                b.map_or_else(|| "—".to_string(), f),
                a.map_or_else(|| "—".to_string(), f)
            )
        };
        let delta = |f: &dyn Fn(&SuiteStats) -> Option<f64>| match (b.and_then(f), a.and_then(f)) {
            (Some(x), Some(y)) => percent_change(super::diff::relative(x, y)),
            _ => String::new(),
        };
        SuiteCells {
            cases: pair(&|s| s.cases.to_string()),
            pass_rate: pair(&|s| s.pass_rate.map_or_else(|| "—".to_string(), percent)),
            latency: pair(&|s| {
                s.mean_latency_ms
                    .map_or_else(|| "—".to_string(), duration_ms)
            }),
            latency_delta: delta(&|s| s.mean_latency_ms),
            input: pair(&|s| s.mean_input_tokens.map_or_else(|| "—".to_string(), tokens)),
            input_delta: delta(&|s| s.mean_input_tokens),
            output: pair(&|s| s.mean_output_tokens.map_or_else(|| "—".to_string(), tokens)),
            output_delta: delta(&|s| s.mean_output_tokens),
        }
    }
}

/// `total tokens: 204 in, 136 out → 204 in, 168 out (+23.5%)`.
fn total_tokens_line(total: &SuiteDelta) -> String {
    let side = |s: Option<&SuiteStats>| {
        s.map_or_else(
            || "—".to_string(),
            |s| format!("{} in, {} out", s.input_tokens, s.output_tokens),
        )
    };
    let (b, a) = (total.before.as_ref(), total.after.as_ref());
    let sum = |s: Option<&SuiteStats>| s.map(|s| (s.input_tokens + s.output_tokens) as f64);
    let delta = match (sum(b), sum(a)) {
        (Some(x), Some(y)) => format!(" ({})", percent_change(super::diff::relative(x, y))),
        _ => String::new(),
    };
    format!("total tokens: {} → {}{delta}", side(b), side(a))
}

fn with_delta(value: &str, delta: &str) -> String {
    if delta.is_empty() {
        value.to_string()
    } else {
        format!("{value} ({delta})")
    }
}

/// Columns padded to their widest cell (by characters), trailing spaces
/// trimmed.
fn text_table(rows: &[Vec<String>], indent: &str) -> String {
    let cols = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..cols)
        .map(|i| {
            rows.iter()
                .filter_map(|r| r.get(i))
                .map(|c| c.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for row in rows {
        let mut line = indent.to_string();
        for (i, cell) in row.iter().enumerate() {
            let width = widths.get(i).copied().unwrap_or(0);
            let pad = width.saturating_sub(cell.chars().count());
            line.push_str(cell);
            if i + 1 < row.len() {
                line.push_str(&" ".repeat(pad + 2));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// Text safe inside a table cell: no `|` column breaks, no line breaks.
fn cell(s: &str) -> String {
    html(&one_line(s, MESSAGE_CHARS)).replace('|', "\\|")
}

/// A code span that survives backticks, and pipes inside table cells.
fn code(s: &str) -> String {
    code_span(&one_line(s, MESSAGE_CHARS)).replace('|', "\\|")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_escape_pipes_and_newlines() {
        assert_eq!(cell("a|b\nc <d>"), "a\\|b⏎c &lt;d&gt;");
        assert_eq!(code("x|y"), "`x\\|y`");
        assert_eq!(code("a`b"), "``a`b``");
        assert_eq!(code("`a"), "`` `a ``");
    }

    #[test]
    fn numbers() {
        assert_eq!(tokens(12.0), "12");
        assert_eq!(tokens(12.5), "12.5");
        assert_eq!(score(None), "—");
    }

    #[test]
    fn text_table_pads_columns() {
        let rows = vec![
            vec!["A".to_string(), "BB".to_string(), "C".to_string()],
            vec!["long".to_string(), "x".to_string(), "y".to_string()],
        ];
        assert_eq!(text_table(&rows, "  "), "  A     BB  C\n  long  x   y\n");
    }
}

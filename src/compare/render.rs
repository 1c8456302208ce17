//! A [`Comparison`] as plain console text and as Markdown (for a PR comment
//! or `$GITHUB_STEP_SUMMARY`). Both lead with the regressions; long lists are
//! cut at [`MAX_ROWS`] with "…and N more".

use std::collections::BTreeSet;
use std::fmt::Write as _;

use super::sections::{case_lists, largest_changes, tokens, ReasonAt, Section, MAX_ROWS};
use super::{CaseKey, Comparison, RunMeta, SuiteDelta, SuiteStats};
use crate::util::fmt::{duration_ms, percent, percent_change, percent_short, plural};
use crate::util::text::one_line;
use crate::util::text::{code_span, html};

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

    for section in case_lists(c) {
        text_section(&mut s, &names, &section);
    }

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
    for section in largest_changes(c) {
        text_section(&mut s, &names, &section);
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

    for section in case_lists(c) {
        md_section(&mut md, &names, &section);
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
    for section in largest_changes(c) {
        md_section(&mut md, &names, &section);
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

/// One section as plain text: heading, a line per row (explanations below
/// or inline), "…and N more".
fn text_section(s: &mut String, names: &Names, section: &Section<'_>) {
    let _ = writeln!(s, "\n{}", section.text_heading);
    for row in &section.rows {
        let mut line = String::from("  ");
        if let Some(mark) = row.mark {
            line.push_str(mark);
            line.push(' ');
        }
        line.push_str(&names.plain(row.key));
        for cell in &row.cells {
            line.push_str("  ");
            line.push_str(&cell.text);
        }
        match (&row.reason, section.reason_at) {
            (Some(r), ReasonAt::Inline) => {
                let _ = write!(line, "  ({})", one_line(r, MESSAGE_CHARS));
            }
            (Some(r), ReasonAt::Below) => {
                let _ = write!(line, "\n      {}", one_line(r, MESSAGE_CHARS));
            }
            _ => {}
        }
        let _ = writeln!(s, "{line}");
    }
    if section.more && section.total > MAX_ROWS {
        let _ = writeln!(s, "  …and {} more", section.total - MAX_ROWS);
    }
}

/// One section as Markdown: a heading (or a collapsed `<details>`), a table
/// with the case first and the explanation last, "…and N more".
fn md_section(md: &mut String, names: &Names, section: &Section<'_>) {
    if section.collapsed {
        let _ = writeln!(
            md,
            "<details>\n<summary>{}</summary>\n",
            html(&section.md_heading)
        );
    } else {
        let _ = writeln!(md, "### {}\n", section.md_heading);
    }
    let _ = writeln!(md, "| case | {} |", section.columns.join(" | "));
    let _ = writeln!(md, "{}", section.align);
    for row in &section.rows {
        let mut cells = vec![names.code(row.key)];
        cells.extend(row.cells.iter().flat_map(|c| c.md.iter().map(|m| cell(m))));
        if section.reason_at != ReasonAt::Nowhere {
            cells.push(row.reason.as_deref().map(cell).unwrap_or_default());
        }
        let _ = writeln!(md, "| {} |", cells.join(" | "));
    }
    if section.more && section.total > MAX_ROWS {
        let _ = writeln!(md, "\n…and {} more", section.total - MAX_ROWS);
    }
    if section.collapsed {
        let _ = writeln!(md, "\n</details>\n");
    } else {
        md.push('\n');
    }
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

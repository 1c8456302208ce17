//! Markdown summary, fit for a pull-request comment or a GitHub Actions step
//! summary (`$GITHUB_STEP_SUMMARY`).
//!
//! Content: the verdict (✅/❌ with the gate's reasons), totals, a note when
//! the run stopped early, a per-suite table, the first [`MAX_DETAILED`]
//! failures and errors each in a `<details>` block, and the flaky cases.
//! Only bounded data is kept while the run streams: the suite order and the
//! first entries of each list; counters come from the `Finished` summary.

use std::fmt::Write as _;
use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::compare::Comparison;
use crate::error::Error;
use crate::event::RunEvent;
use crate::model::{CaseResult, Counts, Outcome, RunInfo, StopReason, Summary, Verdict};
use crate::report::explain;
use crate::report::{AtomicFile, Reporter};
use crate::util::fmt::{duration_ms, plural};
use crate::util::text::{code_span, html, longest_run, one_line, truncate_chars};

/// Failures and errors shown in detail; the rest are counted.
pub(crate) const MAX_DETAILED: usize = 50;

/// Flaky cases listed; the rest are counted.
const MAX_FLAKY: usize = 50;

/// Longest explanation kept per detailed entry.
const MAX_DETAILS_CHARS: usize = 8000;

/// Longest one-line message in a `<summary>` or list item.
const MAX_MESSAGE_CHARS: usize = 300;

/// A failed or errored case kept for the details section.
struct Problem {
    id: String,
    outcome: Outcome,
    message: String,
    details: String,
    source: String,
    /// (check name, unified diff) of failed checks that carry a diff.
    diffs: Vec<(String, String)>,
}

/// A flaky case kept for the flaky list.
struct Flaky {
    id: String,
    outcome: Outcome,
    note: String,
}

/// Writes the Markdown summary; see the module documentation.
pub(crate) struct MarkdownReporter {
    path: Option<PathBuf>,
    out: Option<AtomicFile>,
    step_summary: Option<PathBuf>,
    done: bool,
    info: Option<RunInfo>,
    /// Suites in the order their results arrived.
    suites: Vec<String>,
    problems: Vec<Problem>,
    more_failed: u64,
    more_errored: u64,
    flaky: Vec<Flaky>,
    more_flaky: u64,
    /// A provider matrix: per-provider latencies and per-case outcomes.
    matrix: Option<Matrix>,
    /// Prompt variants side by side.
    variants: super::variants::Variants,
    /// Successful attacks of the adversarial pack (the first `MAX_DETAILED`).
    attacks: Vec<super::security::Success>,
    more_attacks: u64,
}

/// What the side-by-side provider tables need.
#[derive(Default)]
struct Matrix {
    providers: Vec<String>,
    /// Per provider: attempt latencies and times to first token (ms).
    latencies: Vec<Vec<f32>>,
    ttfts: Vec<Vec<f32>>,
    /// `suite/case` → outcome and mean latency per provider (index as in `providers`).
    cases: std::collections::BTreeMap<String, Vec<Option<(Outcome, f64)>>>,
    /// Order in which cases first finished.
    order: Vec<String>,
}

/// Rows of the "differs between providers" table at most.
const MAX_MATRIX_ROWS: usize = 50;

fn percentile(sorted: &[f32], p: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    Some(f64::from(sorted[rank - 1]))
}

impl Matrix {
    fn add(&mut self, case: &CaseResult) {
        let Some(i) = self.providers.iter().position(|p| *p == case.provider) else {
            return;
        };
        for a in &case.attempts {
            if a.outcome != Outcome::Skipped && a.error.is_none() {
                self.latencies[i].push(a.timing.latency_ms as f32);
                if let Some(t) = a.timing.ttft_ms {
                    self.ttfts[i].push(t as f32);
                }
            }
        }
        let n = self.providers.len();
        let row = self.cases.entry(case.id.clone()).or_insert_with(|| {
            self.order.push(case.id.clone());
            vec![None; n]
        });
        let mean = if case.attempts.is_empty() {
            0.0
        } else {
            case.total_latency_ms() / case.attempts.len() as f64
        };
        row[i] = Some((case.outcome, mean));
    }

    fn render(&self, md: &mut String, summary: &Summary) {
        let _ = writeln!(
            md,
            "### Providers side by side
"
        );
        let mut head = String::from("| |");
        let mut rule = String::from("|---|");
        for p in &self.providers {
            let _ = write!(head, " {} |", cell(p));
            rule.push_str("--:|");
        }
        let _ = writeln!(
            md,
            "{head}
{rule}"
        );
        let sorted = |v: &Vec<Vec<f32>>| -> Vec<Vec<f32>> {
            v.iter()
                .map(|l| {
                    let mut l = l.clone();
                    l.sort_by(f32::total_cmp);
                    l
                })
                .collect()
        };
        let (latencies, ttfts) = (sorted(&self.latencies), sorted(&self.ttfts));
        let counts: Vec<Counts> = self
            .providers
            .iter()
            .map(|p| summary.providers.get(p).copied().unwrap_or_default())
            .collect();
        let ms = |v: Option<f64>| v.map_or_else(|| "—".to_string(), duration_ms);
        let rows: Vec<(&str, Vec<String>)> = vec![
            ("pass rate", counts.iter().map(pass_rate).collect()),
            (
                "pass / fail / error",
                counts
                    .iter()
                    .map(|c| format!("{} / {} / {}", c.passed, c.failed, c.errored))
                    .collect(),
            ),
            (
                "mean latency",
                counts.iter().map(|c| ms(c.mean_latency_ms())).collect(),
            ),
            (
                "p50 latency",
                latencies.iter().map(|l| ms(percentile(l, 0.5))).collect(),
            ),
            (
                "p95 latency",
                latencies.iter().map(|l| ms(percentile(l, 0.95))).collect(),
            ),
            (
                "p50 time to first token",
                ttfts.iter().map(|l| ms(percentile(l, 0.5))).collect(),
            ),
            ("tokens in / out", counts.iter().map(tokens_cell).collect()),
            ("cost", counts.iter().map(cost_cell).collect()),
        ];
        for (label, values) in rows {
            let _ = writeln!(md, "| {label} | {} |", values.join(" | "));
        }
        md.push('\n');
        // Cases whose outcome differs between providers.
        let differing: Vec<&String> = self
            .order
            .iter()
            .filter(|id| {
                let row = &self.cases[*id];
                let first = row.iter().flatten().map(|(o, _)| *o).next();
                row.iter().any(|c| c.map(|(o, _)| o) != first)
            })
            .collect();
        if differing.is_empty() {
            let _ = writeln!(md, "Every case has the same outcome with every provider.\n");
            return;
        }
        let _ = writeln!(
            md,
            "<details open>\n<summary>{} case{} with different outcomes</summary>\n",
            differing.len(),
            plural(differing.len())
        );
        let _ = writeln!(md, "{}", head.replacen("| |", "| case |", 1));
        let _ = writeln!(md, "{}", rule.replace("--:", ":-:"));
        for id in differing.iter().take(MAX_MATRIX_ROWS) {
            let cells: Vec<String> = self.cases[*id]
                .iter()
                .map(|c| match c {
                    Some((o, lat)) => format!("{} {}", icon(*o), duration_ms(*lat)),
                    None => "not run".to_string(),
                })
                .collect();
            let _ = writeln!(md, "| {} | {} |", code(id), cells.join(" | "));
        }
        if differing.len() > MAX_MATRIX_ROWS {
            let _ = writeln!(
                md,
                "\n…and {} more (see the JSON report).",
                differing.len() - MAX_MATRIX_ROWS
            );
        }
        let _ = writeln!(md, "\n</details>\n");
    }
}

fn icon(o: Outcome) -> &'static str {
    match o {
        Outcome::Pass => "✅",
        Outcome::Fail => "❌",
        Outcome::Error => "⚠️",
        Outcome::Skipped => "⏭️",
    }
}

impl MarkdownReporter {
    /// Open the report file (when `path` is given) and check that the step
    /// summary (when given) can be appended to, so a bad location fails
    /// before the run.
    pub(crate) fn create(
        path: Option<&Path>,
        step_summary: Option<PathBuf>,
    ) -> Result<Self, Error> {
        let out = path.map(AtomicFile::create).transpose()?;
        if let Some(p) = &step_summary {
            open_append(p)?;
        }
        Ok(MarkdownReporter {
            path: path.map(Path::to_path_buf),
            out,
            step_summary,
            done: false,
            info: None,
            suites: Vec::new(),
            problems: Vec::new(),
            more_failed: 0,
            more_errored: 0,
            flaky: Vec::new(),
            more_flaky: 0,
            matrix: None,
            variants: super::variants::Variants::default(),
            attacks: Vec::new(),
            more_attacks: 0,
        })
    }

    fn case_finished(&mut self, case: &CaseResult) {
        self.variants.add(case);
        if let Some(m) = &mut self.matrix {
            m.add(case);
        }
        if self.suites.last() != Some(&case.suite) && !self.suites.contains(&case.suite) {
            self.suites.push(case.suite.clone());
        }
        if matches!(case.outcome, Outcome::Fail | Outcome::Error) {
            if self.problems.len() < MAX_DETAILED {
                self.problems.push(Problem {
                    id: if self.matrix.is_some()
                        || self
                            .info
                            .as_ref()
                            .is_some_and(|i| i.multi_provider_suites.contains(&case.suite))
                    {
                        format!("{} [{}]", case.id, case.provider)
                    } else {
                        case.id.clone()
                    },
                    outcome: case.outcome,
                    message: one_line(&explain::failure_message(case), MAX_MESSAGE_CHARS),
                    // Diffs get their own collapsed blocks below, not a second copy here.
                    details: truncate_chars(
                        &explain::failure_details_with(case, &|_| String::new()),
                        MAX_DETAILS_CHARS,
                    ),
                    source: case.source.clone(),
                    diffs: case
                        .first_bad_attempt()
                        .map(|a| {
                            a.checks
                                .iter()
                                .filter(|c| !c.passed)
                                .filter_map(|c| {
                                    c.diff.as_ref().map(|d| {
                                        (c.name.clone(), truncate_chars(d, MAX_DETAILS_CHARS))
                                    })
                                })
                                .collect()
                        })
                        .unwrap_or_default(),
                });
            } else if case.outcome == Outcome::Fail {
                self.more_failed += 1;
            } else {
                self.more_errored += 1;
            }
        }
        if let Some(s) = super::security::success(case) {
            if self.attacks.len() < MAX_DETAILED {
                self.attacks.push(s);
            } else {
                self.more_attacks += 1;
            }
        }
        if case.flaky {
            if self.flaky.len() < MAX_FLAKY {
                self.flaky.push(Flaky {
                    id: case.id.clone(),
                    outcome: case.outcome,
                    note: explain::repeats_note(case).unwrap_or_else(|| "flaky".to_string()),
                });
            } else {
                self.more_flaky += 1;
            }
        }
    }

    /// The whole summary text.
    fn render(
        &self,
        summary: &Summary,
        verdict: &Verdict,
        stopped: Option<StopReason>,
        duration_ms: f64,
        comparison: Option<&Comparison>,
    ) -> String {
        let mut md = String::new();
        self.render_verdict(&mut md, summary, verdict, duration_ms);
        render_stop_note(&mut md, summary, stopped);
        // With a baseline, the regressions lead, then fixes, then the rest.
        if let Some(c) = comparison {
            md.push_str(&crate::compare::render_markdown(c));
            md.push('\n');
        }
        self.render_table(&mut md, summary);
        if let Some(m) = &self.matrix {
            m.render(&mut md, summary);
        }
        if self.variants.any() {
            md.push_str(&self.variants.markdown());
        }
        render_latency(&mut md, summary);
        self.render_security(&mut md, summary);
        self.render_problems(&mut md, summary);
        self.render_flaky(&mut md);
        if let Some(info) = &self.info {
            let mut footer = format!(
                "evalgate {} · started {} · config <code>{}</code>",
                html(&info.evalgate_version),
                html(&info.started_at),
                html(&info.config_hash)
            );
            if let Some(commit) = &info.git_commit {
                let _ = write!(footer, " · commit <code>{}</code>", html(commit));
            }
            let _ = writeln!(md, "<sub>{footer}</sub>");
        }
        md
    }

    fn render_verdict(
        &self,
        md: &mut String,
        summary: &Summary,
        verdict: &Verdict,
        duration_ms: f64,
    ) {
        if verdict.passed {
            let _ = writeln!(md, "## ✅ evalgate: gate passed\n");
        } else {
            let _ = writeln!(md, "## ❌ evalgate: gate failed\n");
            for reason in &verdict.reasons {
                let _ = writeln!(md, "- {}", inline(reason));
            }
            if !verdict.reasons.is_empty() {
                md.push('\n');
            }
        }
        for w in &verdict.warnings {
            let _ = writeln!(md, "- ⚠️ {}", inline(w));
        }
        if !verdict.warnings.is_empty() {
            md.push('\n');
        }
        let o = &summary.overall;
        let _ = writeln!(
            md,
            "**{} case{}**: {} passed · {} failed · {} errored · {} skipped · {} flaky · pass rate {} · cost {}{} · {}\n",
            o.total,
            plural(o.total),
            o.passed,
            o.failed,
            o.errored,
            o.skipped,
            o.flaky,
            pass_rate(o),
            o.cost_text(),
            o.judge_cost_text()
                .map(|j| format!(" answers, judges {j}"))
                .unwrap_or_default(),
            crate::util::fmt::duration_ms(duration_ms),
        );
        if let Some(info) = &self.info {
            if let Some(sample) = &info.sample {
                let _ = writeln!(
                    md,
                    "> ℹ️ **Sampled:** {}. The pass rates are the sample's.\n",
                    inline(&sample.describe())
                );
            }
        }
    }

    fn render_table(&self, md: &mut String, summary: &Summary) {
        if summary.suites.is_empty() {
            return;
        }
        md.push_str("| suite | cases | pass | fail | error | skipped | flaky | pass rate [95% CI] | mean latency | tokens in / out | cost |\n");
        md.push_str("|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n");
        // Report order first, then any suite only the summary knows.
        let mut rows: Vec<(&str, &Counts)> = Vec::new();
        for name in &self.suites {
            if let Some(c) = summary.suites.get(name) {
                rows.push((name, c));
            }
        }
        for (name, c) in &summary.suites {
            if !self.suites.contains(name) {
                rows.push((name, c));
            }
        }
        for (name, c) in &rows {
            write_row(md, &cell(name), c);
        }
        if rows.len() > 1 {
            write_row(md, "**total**", &summary.overall);
        }
        md.push('\n');
        if let Some(judge) = summary.overall.judge_tokens_text() {
            let _ = writeln!(
                md,
                "Checks' own provider calls (judges, embedders): {judge}.\n"
            );
        }
    }

    /// Attack success rate per category and OWASP id; the successful attacks.
    fn render_security(&self, md: &mut String, summary: &Summary) {
        use super::security::{category_rows, owasp_rows, total, Row};
        if summary.attacks.is_empty() {
            return;
        }
        md.push_str("### Security: attack success rate\n\n");
        md.push_str("| attack category | OWASP | attacks | succeeded | errors | success rate |\n");
        md.push_str("|---|---|--:|--:|--:|--:|\n");
        let line = |md: &mut String, r: &Row, bold: bool| {
            let name = if bold {
                format!("**{}**", cell(&r.name))
            } else {
                cell(&r.name)
            };
            let _ = writeln!(
                md,
                "| {name} | {} | {} | {} | {} | {} |",
                cell(&r.owasp),
                r.attacks,
                r.succeeded,
                r.errors,
                r.rate
            );
        };
        for r in category_rows(summary) {
            line(md, &r, false);
        }
        line(md, &total(summary), true);
        md.push_str(
            "\n| OWASP id | attacks | succeeded | errors | success rate |\n|---|--:|--:|--:|--:|\n",
        );
        for r in owasp_rows(summary) {
            let _ = writeln!(
                md,
                "| {} | {} | {} | {} | {} |",
                cell(&r.name),
                r.attacks,
                r.succeeded,
                r.errors,
                r.rate
            );
        }
        md.push('\n');
        if self.attacks.is_empty() {
            return;
        }
        let n = self.attacks.len() as u64 + self.more_attacks;
        let _ = writeln!(md, "#### Successful attacks ({n})\n");
        md.push_str("| case | category | mutator | attack | output | evidence |\n|---|---|---|---|---|---|\n");
        for s in &self.attacks {
            let _ = writeln!(
                md,
                "| {} | {} ({}) | {} | {} | {} | {} |",
                code(&s.id),
                cell(&s.category),
                cell(&s.owasp),
                cell(&s.mutator),
                cell(&s.prompt),
                cell(&s.output),
                cell(&s.evidence.join("\n"))
            );
        }
        if self.more_attacks > 0 {
            let _ = writeln!(
                md,
                "\n…and {} more; see the JUnit or JSON report.",
                self.more_attacks
            );
        }
        md.push('\n');
    }

    fn render_problems(&self, md: &mut String, summary: &Summary) {
        let o = &summary.overall;
        if self.problems.is_empty() && o.failed + o.errored == 0 {
            return;
        }
        let _ = writeln!(
            md,
            "### Failures and errors ({} failed, {} errored)\n",
            o.failed, o.errored
        );
        for p in &self.problems {
            let (icon, label) = match p.outcome {
                Outcome::Error => ("⚠️", "error"),
                _ => ("❌", "fail"),
            };
            let _ = writeln!(md, "<details>");
            let _ = writeln!(
                md,
                "<summary>{icon} <code>{}</code> {label}: {}</summary>\n",
                html(&one_line(&p.id, MAX_MESSAGE_CHARS)),
                html(&p.message)
            );
            let _ = writeln!(md, "Source: {}\n", code(&p.source));
            let fence = fence_for(&p.details);
            let _ = writeln!(md, "{fence}text\n{}\n{fence}\n", p.details);
            for (name, diff) in &p.diffs {
                let fence = fence_for(diff);
                let _ = writeln!(md, "<details>\n<summary>diff: {}</summary>\n", html(name));
                let _ = writeln!(md, "{fence}diff\n{}\n{fence}\n", diff.trim_end());
                let _ = writeln!(md, "</details>\n");
            }
            let _ = writeln!(md, "</details>\n");
        }
        let more = self.more_failed + self.more_errored;
        if more > 0 {
            let _ = writeln!(
                md,
                "…and {more} more ({} failed, {} errored); see the JUnit or JSON report.\n",
                self.more_failed, self.more_errored
            );
        }
    }

    fn render_flaky(&self, md: &mut String) {
        let total = self.flaky.len() as u64 + self.more_flaky;
        if total == 0 {
            return;
        }
        let _ = writeln!(md, "### Flaky cases ({total})\n");
        for f in &self.flaky {
            let icon = if f.outcome == Outcome::Pass {
                "✅"
            } else {
                "❌"
            };
            let _ = writeln!(md, "- {icon} {}: {}", code(&f.id), inline(&f.note));
        }
        if self.more_flaky > 0 {
            let _ = writeln!(md, "- …and {} more", self.more_flaky);
        }
        md.push('\n');
    }

    fn finished(
        &mut self,
        summary: &Summary,
        verdict: &Verdict,
        stopped: Option<StopReason>,
        duration_ms: f64,
        comparison: Option<&Comparison>,
    ) -> Result<(), Error> {
        self.variants.flush();
        let text = self.render(summary, verdict, stopped, duration_ms, comparison);
        if let Some(mut out) = self.out.take() {
            let path = self.path.clone().unwrap_or_default();
            out.write_all(text.as_bytes())
                .map_err(|e| Error::output(&path, e))?;
            out.commit()?;
        }
        if let Some(p) = &self.step_summary {
            let mut f = open_append(p)?;
            f.write_all(text.as_bytes())
                .and_then(|()| f.flush())
                .map_err(|e| Error::output(p, e))?;
        }
        Ok(())
    }
}

impl Reporter for MarkdownReporter {
    fn on_event(&mut self, event: &RunEvent<'_>) -> Result<(), Error> {
        if self.done {
            return Ok(());
        }
        match event {
            RunEvent::Started(info) => {
                self.variants.multi_provider = info.matrix;
                if info.matrix {
                    let n = info.providers.len();
                    self.matrix = Some(Matrix {
                        providers: info.providers.clone(),
                        latencies: vec![Vec::new(); n],
                        ttfts: vec![Vec::new(); n],
                        ..Matrix::default()
                    });
                }
                self.info = Some((*info).clone());
            }
            RunEvent::AttemptStarted(_)
            | RunEvent::AttemptRetried { .. }
            | RunEvent::AttemptFinished { .. } => {}
            RunEvent::CaseFinished(case) => self.case_finished(case),
            RunEvent::Finished {
                summary,
                verdict,
                stopped,
                duration_ms,
                comparison,
            } => {
                self.done = true;
                return self.finished(summary, verdict, *stopped, *duration_ms, *comparison);
            }
        }
        Ok(())
    }
}

fn open_append(p: &Path) -> Result<std::fs::File, Error> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(p)
        .map_err(|e| Error::output(p, e))
}

fn render_stop_note(md: &mut String, summary: &Summary, stopped: Option<StopReason>) {
    let not_run = match summary.not_run {
        0 => String::new(),
        1 => "; 1 planned case did not run".to_string(),
        n => format!("; {n} planned cases did not run"),
    };
    match stopped {
        Some(StopReason::Interrupted) => {
            let _ = writeln!(
                md,
                "> ⚠️ **Interrupted:** the run was stopped before it finished{not_run}. These results are partial.\n"
            );
        }
        Some(StopReason::FailFast) => {
            let _ = writeln!(
                md,
                "> ⚠️ **Stopped by `--fail-fast`** after the first failure{not_run}. These results are partial.\n"
            );
        }
        Some(StopReason::Budget) => {
            let _ = writeln!(
                md,
                "> ⚠️ **Stopped by the budget guard** (`max_cost`) before the estimated spend would exceed the budget{not_run}. These results are partial.\n"
            );
        }
        None => {}
    }
}

/// Latency percentiles per suite (and provider), with n and recorded answers.
fn render_latency(md: &mut String, summary: &Summary) {
    if !super::latency::any(summary) {
        return;
    }
    md.push_str("| latency | n | p50 | p90 | p95 | p99 | max | TTFT p50 | TTFT p95 | recorded |\n");
    md.push_str("|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n");
    for r in super::latency::rows(summary) {
        let [p50, p90, p95, p99, max] = &r.latency;
        let _ = writeln!(
            md,
            "| {} | {} | {p50} | {p90} | {p95} | {p99} | {max} | {} | {} | {} |",
            cell(&r.name),
            r.n,
            r.ttft[0],
            r.ttft[1],
            r.recorded
        );
    }
    let _ = writeln!(md, "\n<sub>{}</sub>\n", html(super::latency::NOTE));
}

fn write_row(md: &mut String, name: &str, c: &Counts) {
    let mean = c
        .mean_latency_ms()
        .map_or_else(|| "—".to_string(), duration_ms);
    let _ = writeln!(
        md,
        "| {name} | {} | {} | {} | {} | {} | {} | {} | {mean} | {} | {} |",
        c.total,
        c.passed,
        c.failed,
        c.errored,
        c.skipped,
        c.flaky,
        pass_rate(c),
        tokens_cell(c),
        cost_cell(c)
    );
}

/// The answers' cost, and the judges' apart; `unknown` when not priced.
fn cost_cell(c: &Counts) -> String {
    if c.attempts == 0 {
        return "—".to_string();
    }
    let priced = |usd: Option<f64>, priced: u64, of: u64| match usd {
        None => "unknown".to_string(),
        Some(v) if priced < of => format!("{} ({priced} of {of} priced)", crate::util::fmt::usd(v)),
        Some(v) => crate::util::fmt::usd(v),
    };
    let mut s = priced(c.cost_usd, c.attempts_priced, c.attempts);
    if c.attempts_with_check_calls > 0 {
        let _ = write!(
            s,
            " + judges {}",
            priced(
                c.judge_cost_usd,
                c.attempts_judge_priced,
                c.attempts_with_check_calls
            )
        );
    }
    cell(&s)
}

/// `in / out`, or `unknown` when no attempt reported usage (zero and
/// unknown differ).
fn tokens_cell(c: &Counts) -> String {
    if c.answered == 0 {
        "—".to_string()
    } else if c.attempts_with_usage == 0 {
        "unknown".to_string()
    } else {
        format!("{} / {}", c.input_tokens, c.output_tokens)
    }
}

fn pass_rate(c: &Counts) -> String {
    c.pass_rate_text().unwrap_or_else(|| "—".to_string())
}

/// Text safe inside a table cell: no `|` column breaks, no line breaks.
fn cell(s: &str) -> String {
    html(s)
        .replace('|', "\\|")
        .replace("\r\n", "<br>")
        .replace(['\n', '\r'], "<br>")
}

/// Text on one Markdown line (list item).
fn inline(s: &str) -> String {
    html(&one_line(s, MAX_MESSAGE_CHARS))
}

/// A code span that survives backticks in `s`.
fn code(s: &str) -> String {
    code_span(&one_line(s, MAX_MESSAGE_CHARS))
}

/// A code fence longer than any backtick run in `s`.
fn fence_for(s: &str) -> String {
    "`".repeat((longest_run(s, '`') + 1).max(3))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::explain::fixtures::*;

    fn write(cases: &[CaseResult], verdict: &Verdict, stopped: Option<StopReason>) -> String {
        write_report(
            "reports/summary.md",
            |p| MarkdownReporter::create(Some(p), None),
            cases,
            verdict,
            stopped,
        )
    }

    #[test]
    fn snapshot_of_a_small_report() {
        insta::assert_snapshot!(write(&all_kinds(), &failed_verdict(), None));
    }

    #[test]
    fn passing_run_is_short() {
        let verdict = Verdict {
            passed: true,
            reasons: vec![],
            exit_code: 0,
            warnings: vec![],
        };
        let md = write(
            &[pass_case("geo", "rome"), flaky_case("geo", "add")],
            &verdict,
            None,
        );
        assert!(
            md.starts_with("## ✅ evalgate: gate passed\n\n**2 cases**: 2 passed · 0 failed"),
            "{md}"
        );
        assert!(!md.contains("Failures and errors"), "{md}");
        assert!(
            md.contains("### Flaky cases (1)\n\n- ✅ `geo/add`: passed 2 of 3 repeats (needs 2)\n"),
            "{md}"
        );
        assert!(!md.contains("**total**"), "one suite, no total row: {md}");
        // mean latency: (120.5 + 120.5 + 220.5 + 320.5) / 4 attempts
        assert!(
            md.contains("| geo | 2 | 2 | 0 | 0 | 0 | 1 | 100.0% | 196 ms | 48 / 32 |"),
            "{md}"
        );
    }

    #[test]
    fn stop_notes() {
        let md = write(
            &[fail_case("geo", "capital")],
            &failed_verdict(),
            Some(StopReason::Interrupted),
        );
        assert!(md.contains("> ⚠️ **Interrupted:** the run was stopped before it finished; 5 planned cases did not run."), "{md}");
        let md = write(
            &[fail_case("geo", "capital")],
            &failed_verdict(),
            Some(StopReason::FailFast),
        );
        assert!(md.contains("**Stopped by `--fail-fast`** after the first failure; 5 planned cases did not run."), "{md}");
    }

    #[test]
    fn caps_detailed_failures() {
        let mut cases: Vec<CaseResult> = (0..MAX_DETAILED + 3)
            .map(|i| fail_case("geo", &format!("c{i:03}")))
            .collect();
        cases.push(error_case("geo", "zz"));
        let md = write(&cases, &failed_verdict(), None);
        assert_eq!(md.matches("<details>").count(), MAX_DETAILED);
        assert!(
            md.contains("### Failures and errors (53 failed, 1 errored)"),
            "{md}"
        );
        assert!(
            md.contains("…and 4 more (3 failed, 1 errored); see the JUnit or JSON report."),
            "{md}"
        );
    }

    #[test]
    fn escapes_cells_and_fences() {
        let mut c = fail_case("a|b\nc<d>", "x`y");
        c.attempts[0].output = Some("```\ncode\n```".into());
        let md = write(&[c], &failed_verdict(), None);
        assert!(md.contains("| a\\|b<br>c&lt;d&gt; | 1 |"), "{md}");
        assert!(md.contains("<code>a|b⏎c&lt;d&gt;/x`y</code>"), "{md}");
        assert!(md.contains("````text\n"), "{md}");
        assert_eq!(code("a`b"), "``a`b``");
        assert_eq!(duration_ms(0.123), "0.12 ms");
        assert_eq!(duration_ms(4.56), "4.6 ms");
        assert_eq!(duration_ms(1234.5), "1.23 s");
        assert_eq!(code("`a"), "`` `a ``");
    }

    #[test]
    fn appends_to_step_summary() {
        let dir = tempfile::tempdir().unwrap();
        let step = dir.path().join("step_summary.md");
        std::fs::write(&step, "previous step\n").unwrap();
        for _ in 0..2 {
            let mut r = MarkdownReporter::create(None, Some(step.clone())).unwrap();
            run(
                &mut r,
                &run_info(&["geo"]),
                &[pass_case("geo", "rome")],
                &failed_verdict(),
                None,
            )
            .unwrap();
        }
        let text = std::fs::read_to_string(&step).unwrap();
        assert!(
            text.starts_with("previous step\n## ❌ evalgate: gate failed\n"),
            "{text}"
        );
        assert_eq!(text.matches("## ❌ evalgate").count(), 2);
    }

    #[test]
    fn file_and_step_summary_get_the_same_text() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("summary.md");
        let step = dir.path().join("new/step.md");
        assert!(
            MarkdownReporter::create(Some(&path), Some(step.clone())).is_err(),
            "missing directory"
        );
        let step = dir.path().join("step.md");
        let mut r = MarkdownReporter::create(Some(&path), Some(step.clone())).unwrap();
        run(
            &mut r,
            &run_info(&["geo"]),
            &all_kinds(),
            &failed_verdict(),
            None,
        )
        .unwrap();
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            std::fs::read_to_string(&step).unwrap()
        );
    }
}

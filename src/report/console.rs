//! Console reporter: a summary table per suite, then every failure and error
//! with its explanation (up to a limit), then the gate verdict.

use std::io::Write;

use console::{style, Style};

use super::explain::failure_details_with;
use super::Reporter;
use crate::error::Error;
use crate::event::RunEvent;
use crate::model::{CaseResult, Counts, Outcome, StopReason};
use crate::util::fmt::{percent, plural};

/// How much to print.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verbosity {
    Quiet,
    Normal,
    Verbose,
}

pub(crate) struct ConsoleReporter<W: Write + Send> {
    out: W,
    verbosity: Verbosity,
    max_shown: usize,
    /// The first `max_shown` failed or errored cases.
    shown: Vec<CaseResult>,
    /// Failed or errored cases beyond `max_shown`.
    hidden: u64,
    flaky: Vec<String>,
    /// Flaky cases beyond `max_shown`.
    flaky_hidden: u64,
    header: Option<String>,
    /// A provider matrix: lines name the provider.
    matrix: bool,
    /// The run's providers in plan order.
    providers: Vec<String>,
    /// Prompt variants side by side.
    variants: super::variants::Variants,
}

impl<W: Write + Send> ConsoleReporter<W> {
    pub(crate) fn new(out: W, verbosity: Verbosity, max_shown: usize) -> Self {
        ConsoleReporter {
            out,
            verbosity,
            max_shown,
            shown: Vec::new(),
            hidden: 0,
            flaky: Vec::new(),
            flaky_hidden: 0,
            header: None,
            matrix: false,
            providers: Vec::new(),
            variants: super::variants::Variants::default(),
        }
    }

    fn write(&mut self, s: &str) -> Result<(), Error> {
        // A closed pipe (`evalgate run | head`), a closed or full stdout: the
        // console is for people; the reports and the exit code still tell, so
        // a console that cannot be written is skipped, never a failure.
        let _ = self.out.write_all(s.as_bytes());
        Ok(())
    }
}

fn rate(c: &Counts) -> String {
    c.pass_rate().map_or_else(|| "-".to_string(), percent)
}

fn mean_latency(c: &Counts) -> String {
    c.mean_latency_ms()
        .map_or_else(|| "-".to_string(), |ms| format!("{ms:.1} ms"))
}

fn row(name: &str, c: &Counts, width: usize) -> String {
    format!(
        "{name:<width$}  {:>5}  {:>5}  {:>5}  {:>5}  {:>5}  {:>5}  {:>9}  {:>12}  {:>12}  {:>10}\n",
        c.total,
        c.passed,
        c.failed,
        c.errored,
        c.skipped,
        c.flaky,
        rate(c),
        c.pass_rate_ci95.map_or_else(
            || "-".to_string(),
            |i| crate::util::fmt::interval(i.low, i.high)
        ),
        mean_latency(c),
        cost_cell(c),
    )
}

/// A group's cost in the table: the answers' and check calls' known cost,
/// `unknown` when nothing is priced, `~` when only part is.
fn cost_cell(c: &Counts) -> String {
    match (c.cost_usd, c.judge_cost_usd) {
        (None, None) => "unknown".to_string(),
        _ => {
            let partial = c.attempts_priced < c.attempts
                || c.attempts_judge_priced < c.attempts_with_check_calls;
            format!(
                "{}{}",
                if partial { "~" } else { "" },
                crate::util::fmt::usd(c.known_cost())
            )
        }
    }
}

/// Latency percentiles per suite (and provider), with n and recorded answers.
fn latency_table(summary: &crate::model::Summary) -> String {
    let rows = super::latency::rows(summary);
    let width = rows
        .iter()
        .map(|r| r.name.chars().count())
        .max()
        .unwrap_or(0)
        .max("LATENCY".len());
    let mut s = format!(
        "\n{}\n",
        style(format!(
            "{:<width$}  {:>6}  {:>9}  {:>9}  {:>9}  {:>9}  {:>9}  {:>9}  {:>9}  {:>8}",
            "LATENCY", "N", "P50", "P90", "P95", "P99", "MAX", "TTFT P50", "TTFT P95", "RECORDED"
        ))
        .bold()
    );
    for r in &rows {
        s.push_str(&format!(
            "{:<width$}  {:>6}  {:>9}  {:>9}  {:>9}  {:>9}  {:>9}  {:>9}  {:>9}  {:>8}\n",
            r.name,
            r.n,
            r.latency[0],
            r.latency[1],
            r.latency[2],
            r.latency[3],
            r.latency[4],
            r.ttft[0],
            r.ttft[1],
            r.recorded
        ));
    }
    s
}

/// The attack success rate per category and per OWASP id.
fn security_table(summary: &crate::model::Summary) -> String {
    use super::security;
    let rows = security::category_rows(summary);
    let width = rows
        .iter()
        .map(|r| r.name.chars().count())
        .max()
        .unwrap_or(0)
        .max("ATTACK CATEGORY".len());
    let mut s = format!(
        "\n{}\n",
        style(format!(
            "{:<width$}  {:<12}  {:>7}  {:>9}  {:>6}  {:>12}",
            "ATTACK CATEGORY", "OWASP", "ATTACKS", "SUCCEEDED", "ERRORS", "SUCCESS RATE"
        ))
        .bold()
    );
    let line = |r: &security::Row| {
        format!(
            "{:<width$}  {:<12}  {:>7}  {:>9}  {:>6}  {:>12}",
            r.name, r.owasp, r.attacks, r.succeeded, r.errors, r.rate
        )
    };
    for r in &rows {
        s.push_str(&line(r));
        s.push('\n');
    }
    s.push_str(
        &style(line(&security::total(summary)).trim_end())
            .bold()
            .to_string(),
    );
    s.push('\n');
    let owasp: Vec<String> = security::owasp_rows(summary)
        .iter()
        .map(|r| format!("{} {}/{} ({})", r.name, r.succeeded, r.attacks, r.rate))
        .collect();
    s.push_str(&format!("by OWASP id: {}\n", owasp.join(" · ")));
    s
}

fn indent(s: &str, by: &str) -> String {
    s.lines().map(|l| format!("{by}{l}\n")).collect()
}

impl<W: Write + Send> Reporter for ConsoleReporter<W> {
    fn on_event(&mut self, event: &RunEvent<'_>) -> Result<(), Error> {
        match event {
            RunEvent::Started(info) => {
                self.matrix = info.matrix;
                self.providers = info.providers.clone();
                self.variants.multi_provider = info.matrix;
                let mut extra = String::new();
                if let Some(sample) = &info.sample {
                    extra.push_str(&format!(" · {}", sample.describe()));
                }
                if let Some(max) = info.max_cost_usd {
                    extra.push_str(&format!(" · budget {}", crate::util::fmt::usd(max)));
                }
                self.header = Some(format!(
                    "evalgate {} · {} suite{} · {} case{} · concurrency {}{extra}\n",
                    info.evalgate_version,
                    info.suites.len(),
                    plural(info.suites.len()),
                    info.planned_cases,
                    plural(info.planned_cases),
                    info.concurrency
                ));
                if self.verbosity != Verbosity::Quiet {
                    let h = self.header.clone().unwrap_or_default();
                    self.write(&h)?;
                }
            }
            RunEvent::AttemptStarted(_)
            | RunEvent::AttemptRetried { .. }
            | RunEvent::AttemptFinished { .. } => {}
            RunEvent::CaseFinished(r) => {
                self.variants.add(r);
                if r.flaky && self.flaky.len() >= self.max_shown {
                    self.flaky_hidden += 1;
                } else if r.flaky {
                    let k = r
                        .pass_k
                        .map(|p| {
                            format!(
                                "; pass@{k} {:.2}, pass^{k} {:.2}",
                                p.pass_at_k,
                                p.pass_pow_k,
                                k = p.k
                            )
                        })
                        .unwrap_or_default();
                    self.flaky.push(format!(
                        "{} ({} of {} repeats passed{k})",
                        r.id, r.passes, r.repeats
                    ));
                }
                match r.outcome {
                    Outcome::Fail | Outcome::Error => {
                        if self.shown.len() < self.max_shown {
                            self.shown.push((*r).clone());
                        } else {
                            self.hidden += 1;
                        }
                    }
                    Outcome::Pass | Outcome::Skipped => {
                        if self.verbosity == Verbosity::Verbose {
                            let mark = if r.outcome == Outcome::Pass && r.flaky {
                                style("~ pass").yellow().to_string()
                            } else if r.outcome == Outcome::Pass {
                                style("✓ pass").green().to_string()
                            } else {
                                style("- skip").yellow().to_string()
                            };
                            let note = r
                                .skip_reason
                                .as_deref()
                                .map(|s| format!("  ({s})"))
                                .unwrap_or_default();
                            let note = if r.flaky {
                                format!(
                                    "{note}  (flaky: {} of {} repeats passed)",
                                    r.passes, r.repeats
                                )
                            } else {
                                note
                            };
                            let retried = r.attempts.iter().map(|a| a.retries).sum::<u32>();
                            let retried = if retried > 0 {
                                format!("  (retried {retried}×)")
                            } else {
                                String::new()
                            };
                            let line = if self.matrix {
                                format!("{mark}  {} [{}]{note}{retried}\n", r.id, r.provider)
                            } else {
                                format!("{mark}  {}{note}{retried}\n", r.id)
                            };
                            self.write(&line)?;
                        }
                    }
                }
            }
            RunEvent::Finished {
                summary,
                verdict,
                stopped,
                duration_ms,
                comparison,
            } => {
                let mut s = String::new();
                if self.verbosity != Verbosity::Quiet {
                    let width = summary
                        .suites
                        .keys()
                        .map(|k| k.chars().count())
                        .max()
                        .unwrap_or(5)
                        .max(5);
                    s.push('\n');
                    s.push_str(
                        &style(format!(
                            "{:<width$}  {:>5}  {:>5}  {:>5}  {:>5}  {:>5}  {:>5}  {:>9}  {:>12}  {:>12}  {:>10}",
                            "SUITE",
                            "CASES",
                            "PASS",
                            "FAIL",
                            "ERROR",
                            "SKIP",
                            "FLAKY",
                            "PASS RATE",
                            "95% CI",
                            "MEAN LATENCY",
                            "COST"
                        ))
                        .bold()
                        .to_string(),
                    );
                    // Styles end before the newline, so the next line starts clean.
                    s.push('\n');
                    for (name, c) in &summary.suites {
                        s.push_str(&row(name, c, width));
                    }
                    s.push_str(
                        &style(row("TOTAL", &summary.overall, width).trim_end())
                            .bold()
                            .to_string(),
                    );
                    s.push('\n');
                    if summary.providers.len() > 1 {
                        // In plan order, as the Markdown report and `run.providers`.
                        let ordered = self
                            .providers
                            .iter()
                            .filter_map(|n| summary.providers.get(n).map(|c| (n, c)))
                            .chain(
                                summary
                                    .providers
                                    .iter()
                                    .filter(|(n, _)| !self.providers.contains(n)),
                            );
                        for (name, c) in ordered {
                            s.push_str(&format!(
                                "provider {name}: {} passed, {} failed, {} error{} · pass rate {} · mean latency {} · tokens {} · cost {}{}\n",
                                c.passed,
                                c.failed,
                                c.errored,
                                plural(c.errored),
                                c.pass_rate_text().unwrap_or_else(|| "-".to_string()),
                                c.mean_latency_ms()
                                    .map_or_else(|| "-".to_string(), |m| format!("{m:.1} ms")),
                                c.tokens_text(),
                                c.cost_text(),
                                c.judge_cost_text()
                                    .map(|j| format!(", judges {j}"))
                                    .unwrap_or_default()
                            ));
                        }
                    }
                    self.variants.flush();
                    if self.variants.any() {
                        s.push_str(&self.variants.console());
                    }
                    if super::latency::any(summary) {
                        s.push_str(&latency_table(summary));
                    }
                    if !summary.attacks.is_empty() {
                        s.push_str(&security_table(summary));
                    }
                    let o = &summary.overall;
                    if let Some(judge) = o.judge_tokens_text() {
                        s.push_str(&format!("judge tokens (checks' own calls): {judge}\n"));
                    }
                    if o.answered > 0 {
                        s.push_str(&format!(
                            "tokens: {} · cost: {}{} · wall time {:.2} s\n",
                            o.tokens_text(),
                            o.cost_text(),
                            o.judge_cost_text()
                                .map(|j| format!(" answers, judges {j}"))
                                .unwrap_or_default(),
                            duration_ms / 1000.0
                        ));
                    } else {
                        s.push_str(&format!("wall time {:.2} s\n", duration_ms / 1000.0));
                    }
                }
                let bad = self.shown.len() as u64 + self.hidden;
                if bad > 0 {
                    s.push_str(&format!(
                        "\n{}\n",
                        style(format!("FAILURES AND ERRORS ({bad})")).bold()
                    ));
                    for r in &self.shown {
                        let (mark, st) = match r.outcome {
                            Outcome::Error => ("! error", Style::new().magenta().bold()),
                            _ => ("✗ fail ", Style::new().red().bold()),
                        };
                        s.push_str(&format!(
                            "\n{}  {}  {}\n",
                            st.apply_to(mark),
                            style(&r.id).bold(),
                            style(format!("[{} · {}]", r.source, r.provider)).dim()
                        ));
                        let colour = console::colors_enabled();
                        let style = |d: &str| {
                            if colour {
                                crate::golden::diff::colorize(d)
                            } else {
                                d.to_string()
                            }
                        };
                        s.push_str(&indent(&failure_details_with(r, &style), "  "));
                    }
                    if self.hidden > 0 {
                        s.push_str(&format!(
                            "\n…and {} more (raise --show-failures or read the JUnit/JSON report)\n",
                            self.hidden
                        ));
                    }
                }
                if !self.flaky.is_empty() {
                    s.push_str(&format!(
                        "\n{}\n",
                        style(format!(
                            "FLAKY ({})",
                            self.flaky.len() as u64 + self.flaky_hidden
                        ))
                        .yellow()
                        .bold()
                    ));
                    for f in &self.flaky {
                        s.push_str(&format!("  ~ {f}\n"));
                    }
                    if self.flaky_hidden > 0 {
                        s.push_str(&format!("  …and {} more\n", self.flaky_hidden));
                    }
                }
                if let Some(c) = comparison {
                    s.push_str(&format!(
                        "\n{}\n",
                        style("COMPARED WITH THE BASELINE").bold()
                    ));
                    s.push_str(&crate::compare::render_console(c));
                    if !s.ends_with('\n') {
                        s.push('\n');
                    }
                }
                match stopped {
                    Some(StopReason::Interrupted) => s.push_str(&format!(
                        "\n{}: {} planned case{} did not run\n",
                        style("interrupted").yellow().bold(),
                        summary.not_run,
                        plural(summary.not_run)
                    )),
                    Some(StopReason::FailFast) => s.push_str(&format!(
                        "\n{}: {} planned case{} did not run\n",
                        style("stopped by --fail-fast").yellow().bold(),
                        summary.not_run,
                        plural(summary.not_run)
                    )),
                    Some(StopReason::Budget) => s.push_str(&format!(
                        "\n{}: {} planned case{} did not run\n",
                        style("stopped by the budget guard").yellow().bold(),
                        summary.not_run,
                        plural(summary.not_run)
                    )),
                    None => {}
                }
                s.push('\n');
                if verdict.passed {
                    s.push_str(&format!(
                        "{} {}\n",
                        style("gate:").bold(),
                        style("PASSED").green().bold()
                    ));
                } else {
                    s.push_str(&format!(
                        "{} {}\n",
                        style("gate:").bold(),
                        style("FAILED").red().bold()
                    ));
                    for r in &verdict.reasons {
                        s.push_str(&format!("  - {r}\n"));
                    }
                }
                for w in &verdict.warnings {
                    s.push_str(&format!("  {} {w}\n", style("warning:").yellow().bold()));
                }
                // -q prints no header, so nothing comes before: no leading blank line.
                let s = if self.verbosity == Verbosity::Quiet {
                    s.trim_start_matches('\n')
                } else {
                    &s
                };
                self.write(s)?;
                let _ = self.out.flush();
            }
        }
        Ok(())
    }
}

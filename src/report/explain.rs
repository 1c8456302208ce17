//! Plain-text explanations of case results, shared by every reporter.
//!
//! [`failure_message`] is one line (a JUnit `message`, a Markdown summary, a
//! console line); [`failure_details`] is a multi-line block with every failed
//! check, its expected/actual values and an excerpt of the output. Both are
//! plain text: readable in a terminal, in a JUnit body and in a fenced block.

use std::fmt::Write as _;

use crate::model::{AttemptResult, CaseResult, CheckResult, Outcome};
use crate::util::fmt::plural;
use crate::util::text::{one_line, truncate_chars};

/// How much of an output the details show.
pub(crate) const OUTPUT_EXCERPT_CHARS: usize = 2000;

/// How much of an expected or actual value the details show.
const VALUE_CHARS: usize = 1000;

/// How many failed checks a one-line message names before "and N more".
const MAX_CHECKS_IN_LINE: usize = 5;

/// How long one check message may get inside a one-line message.
const CHECK_MESSAGE_CHARS: usize = 160;

/// `passed 1 of 3 repeats (needs 2)` for cases that repeat, None otherwise.
pub(crate) fn repeats_note(case: &CaseResult) -> Option<String> {
    let n = repeat_count(case);
    (n > 1).then(|| {
        let k = case
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
        format!(
            "passed {} of {} repeats (needs {}{k})",
            case.passes, n, case.min_passes
        )
    })
}

/// One line about one attempt: `2 of 3 checks failed: contains (…), regex (…)`,
/// `provider error: …`, `passed` or `skipped`.
pub(crate) fn attempt_message(attempt: &AttemptResult) -> String {
    match attempt.outcome {
        Outcome::Pass => "passed".to_string(),
        Outcome::Skipped => "skipped".to_string(),
        Outcome::Error => error_message(attempt),
        Outcome::Fail => {
            let failed: Vec<&CheckResult> = attempt.checks.iter().filter(|c| !c.passed).collect();
            if failed.is_empty() {
                return format!(
                    "score {:.2} is below the pass threshold ({} checks passed)",
                    attempt.score,
                    attempt.checks.len()
                );
            }
            let mut line = format!(
                "{} of {} check{} failed: ",
                failed.len(),
                attempt.checks.len(),
                plural(attempt.checks.len())
            );
            let named: Vec<String> = failed
                .iter()
                .take(MAX_CHECKS_IN_LINE)
                .map(|c| {
                    let msg = one_line(&c.message, CHECK_MESSAGE_CHARS);
                    if msg.is_empty() {
                        one_line(&c.name, CHECK_MESSAGE_CHARS)
                    } else {
                        format!("{} ({msg})", one_line(&c.name, CHECK_MESSAGE_CHARS))
                    }
                })
                .collect();
            line.push_str(&named.join(", "));
            if failed.len() > MAX_CHECKS_IN_LINE {
                let _ = write!(line, ", and {} more", failed.len() - MAX_CHECKS_IN_LINE);
            }
            line
        }
    }
}

/// One line explaining why a case did not pass (or, for a flaky pass, what
/// went wrong on the way).
///
/// Examples: `2 of 3 checks failed: contains (output is missing "Paris"), regex (…)`,
/// `provider error: timeout after 30000 ms`,
/// `passed 1 of 3 repeats (needs 2): 1 of 1 check failed: …`,
/// `skipped: needs a live provider`.
pub(crate) fn failure_message(case: &CaseResult) -> String {
    if case.outcome == Outcome::Skipped {
        return match &case.skip_reason {
            Some(r) => format!("skipped: {}", one_line(r, 500)),
            None => "skipped".to_string(),
        };
    }
    let Some(attempt) = representative_attempt(case) else {
        return match case.outcome {
            Outcome::Pass => match repeats_note(case) {
                Some(note) => note,
                None => "passed".to_string(),
            },
            Outcome::Error => "error: no attempt produced a result".to_string(),
            _ => "no attempt ran".to_string(),
        };
    };
    let what = attempt_message(attempt);
    match (repeats_note(case), case.outcome) {
        (Some(note), Outcome::Pass) => {
            format!("flaky: {note}; repeat {}: {what}", attempt.repeat)
        }
        (Some(note), _) => format!("{note}: {what}"),
        (None, _) => what,
    }
}

/// Multi-line explanation of one attempt: header, each failed check with its
/// message, expected, actual and excerpt, then the output (truncated).
pub(crate) fn attempt_details(case: &CaseResult, attempt: &AttemptResult) -> String {
    attempt_details_with(case, attempt, &|d| d.to_string())
}

/// [`attempt_details`] with diffs rendered by `diff_style` (e.g. coloured).
pub(crate) fn attempt_details_with(
    case: &CaseResult,
    attempt: &AttemptResult,
    diff_style: &dyn Fn(&str) -> String,
) -> String {
    let mut out = String::new();
    let n = repeat_count(case);
    if n > 1 {
        let _ = write!(out, "repeat {} of {}: ", attempt.repeat, n);
    }
    match attempt.outcome {
        Outcome::Error => {
            let _ = writeln!(out, "{}", error_message(attempt));
        }
        Outcome::Fail => {
            let failed = attempt.checks.iter().filter(|c| !c.passed).count();
            let _ = writeln!(
                out,
                "fail (score {:.2}): {} of {} check{} failed",
                attempt.score,
                failed,
                attempt.checks.len(),
                plural(attempt.checks.len())
            );
            if let Some(a) = &case.attack {
                let _ = writeln!(
                    out,
                    "  successful attack: {} ({}), seed {}{}",
                    a.category,
                    a.owasp.join(", "),
                    a.seed,
                    a.mutator
                        .as_deref()
                        .map(|m| format!(", {m} mutation"))
                        .unwrap_or_default()
                );
                let _ = writeln!(out, "  attack: {}", one_line(&a.prompt, 300));
            }
            for check in attempt.checks.iter().filter(|c| !c.passed) {
                write_check(&mut out, check, diff_style);
            }
        }
        Outcome::Pass => {
            let _ = writeln!(out, "pass (score {:.2})", attempt.score);
        }
        Outcome::Skipped => {
            let _ = writeln!(out, "skipped");
        }
    }
    match &attempt.output {
        _ if !attempt.turns.is_empty() => write_transcript(&mut out, attempt),
        Some(output) => write_output(&mut out, output),
        None if attempt.outcome != Outcome::Skipped => {
            let _ = writeln!(out, "  output: (none)");
        }
        None => {}
    }
    let plain_calls: &[crate::model::ToolCall] = if attempt.turns.is_empty() {
        &attempt.tool_calls
    } else {
        &[]
    };
    for call in plain_calls {
        let _ = writeln!(
            out,
            "  tool call: {}({})",
            call.name,
            truncate_chars(&call.arguments, 500)
        );
    }
    trim_newline(out)
}

/// A conversation's transcript: each turn's verdict, messages and tool
/// calls (texts cut at 300 characters).
fn write_transcript(out: &mut String, attempt: &AttemptResult) {
    let _ = writeln!(out, "  transcript:");
    for t in &attempt.turns {
        let calls = 1 + t.steps.iter().filter(|m| m.role == "assistant").count();
        let _ = writeln!(
            out,
            "    turn {} {} ({} model call{}, {:.1} ms)",
            t.turn,
            if t.passed { "✓ pass" } else { "✗ fail" },
            calls,
            plural(calls),
            t.latency_ms
        );
        let _ = writeln!(out, "      user: {}", one_line(&t.user, 300));
        for m in &t.steps {
            if m.role == "tool" {
                let _ = writeln!(out, "      tool result: {}", one_line(&m.content, 300));
                continue;
            }
            if !m.content.is_empty() {
                let _ = writeln!(out, "      assistant: {}", one_line(&m.content, 300));
            }
            for c in &m.tool_calls {
                let _ = writeln!(
                    out,
                    "      tool call: {}({})",
                    c.name,
                    truncate_chars(&c.arguments, 300)
                );
            }
        }
        let _ = writeln!(out, "      assistant: {}", one_line(&t.output, 300));
        for c in &t.tool_calls {
            let _ = writeln!(
                out,
                "      tool call: {}({}) (no tool_results fixture)",
                c.name,
                truncate_chars(&c.arguments, 300)
            );
        }
    }
}

/// Multi-line explanation of a case: the repeat tally when it repeats, the
/// details of the first bad attempt, then one line per other bad repeat.
#[cfg(test)]
pub(crate) fn failure_details(case: &CaseResult) -> String {
    failure_details_with(case, &|d| d.to_string())
}

/// [`failure_details`] with diffs rendered by `diff_style` (e.g. coloured).
pub(crate) fn failure_details_with(
    case: &CaseResult,
    diff_style: &dyn Fn(&str) -> String,
) -> String {
    if case.outcome == Outcome::Skipped {
        return failure_message(case);
    }
    let mut out = String::new();
    if let Some(note) = repeats_note(case) {
        let flaky = if case.flaky { ", flaky" } else { "" };
        let _ = writeln!(out, "{}: {note}{flaky}", case.outcome.as_str());
    }
    match representative_attempt(case) {
        Some(first) => {
            out.push_str(&attempt_details_with(case, first, diff_style));
            out.push('\n');
            let n = repeat_count(case);
            for other in case
                .attempts
                .iter()
                .filter(|a| a.outcome != Outcome::Pass && a.repeat != first.repeat)
            {
                let _ = writeln!(
                    out,
                    "repeat {} of {}: {}",
                    other.repeat,
                    n,
                    attempt_message(other)
                );
            }
        }
        None if out.is_empty() => {
            let _ = writeln!(out, "{}", failure_message(case));
        }
        None => {}
    }
    trim_newline(out)
}

/// The attempt that explains a case: the first one whose outcome is the
/// case's outcome (so an errored case shows its error), else the first
/// attempt that did not pass.
fn representative_attempt(case: &CaseResult) -> Option<&AttemptResult> {
    if case.outcome != Outcome::Pass {
        if let Some(a) = case.attempts.iter().find(|a| a.outcome == case.outcome) {
            return Some(a);
        }
    }
    case.first_bad_attempt()
}

fn repeat_count(case: &CaseResult) -> usize {
    (case.repeats as usize).max(case.attempts.len())
}

fn error_message(attempt: &AttemptResult) -> String {
    let err = attempt.error.as_deref().unwrap_or("no usable answer");
    let err = one_line(err, 1000);
    if err.starts_with("provider") || err.starts_with("check `") {
        err
    } else {
        format!("no usable answer: {err}")
    }
}

fn write_check(out: &mut String, check: &CheckResult, diff_style: &dyn Fn(&str) -> String) {
    let _ = writeln!(
        out,
        "  ✗ {}: {}",
        check.name,
        indent_rest(&check.message, 6)
    );
    for (label, value) in [
        ("expected", &check.expected),
        ("actual", &check.actual),
        ("excerpt", &check.excerpt),
    ] {
        if let Some(v) = value {
            let shown = truncate_chars(v, VALUE_CHARS);
            let label = format!("{label}:");
            let _ = writeln!(out, "      {label:<10}{}", indent_rest(&shown, 16));
        }
    }
    if let Some(d) = &check.diff {
        let rendered = diff_style(d);
        if rendered.is_empty() {
            // The report shows the diff on its own (the Markdown summary).
            let _ = writeln!(out, "      diff: below");
        } else {
            let _ = writeln!(out, "      diff:");
            for line in rendered.lines() {
                let _ = writeln!(out, "        {line}");
            }
        }
    }
}

fn write_output(out: &mut String, output: &str) {
    let total = output.chars().count();
    if output.trim().is_empty() {
        let _ = writeln!(out, "  output: (empty)");
        return;
    }
    if total > OUTPUT_EXCERPT_CHARS {
        let _ = writeln!(
            out,
            "  output (first {OUTPUT_EXCERPT_CHARS} of {total} characters):"
        );
    } else {
        let _ = writeln!(out, "  output:");
    }
    let shown = truncate_chars(output, OUTPUT_EXCERPT_CHARS);
    for line in shown.lines() {
        let _ = writeln!(out, "    {}", line.trim_end());
    }
}

/// Indent every line after the first by `n` spaces.
fn indent_rest(s: &str, n: usize) -> String {
    let pad = " ".repeat(n);
    let mut lines = s.lines();
    let mut out = lines.next().unwrap_or("").trim_end().to_string();
    for line in lines {
        out.push('\n');
        out.push_str(&pad);
        out.push_str(line.trim_end());
    }
    out
}

fn trim_newline(mut s: String) -> String {
    while s.ends_with('\n') {
        s.pop();
    }
    s
}

/// Hand-built results for the reporters' tests.
#[cfg(test)]
pub(crate) mod fixtures {
    use crate::event::RunEvent;
    use crate::model::*;

    pub(crate) fn run_info(suites: &[&str]) -> RunInfo {
        RunInfo {
            evalgate_version: "0.1.0".into(),
            started_at: "2025-01-02T03:04:05Z".into(),
            config_hash: "sha256:c0ffee".into(),
            git_commit: Some("abc1234".into()),
            planned_cases: 6,
            concurrency: 4,
            suites: suites.iter().map(|s| s.to_string()).collect(),
            providers: vec!["mock".into()],
            matrix: false,
            multi_provider_suites: Vec::new(),
            filters: Vec::new(),
            tags: Vec::new(),
            sample: None,
            max_cost_usd: None,
            shard: None,
        }
    }

    pub(crate) fn check(name: &str, passed: bool, message: &str) -> CheckResult {
        CheckResult {
            name: name.into(),
            kind: name.trim_start_matches("not ").into(),
            negated: name.starts_with("not "),
            weight: 1.0,
            passed,
            score: if passed { 1.0 } else { 0.0 },
            message: message.into(),
            expected: None,
            actual: None,
            excerpt: None,
            diff: None,
            error: false,
        }
    }

    pub(crate) fn attempt(
        repeat: u32,
        outcome: Outcome,
        output: Option<&str>,
        checks: Vec<CheckResult>,
    ) -> AttemptResult {
        let score = if checks.is_empty() {
            if outcome == Outcome::Pass {
                1.0
            } else {
                0.0
            }
        } else {
            checks.iter().filter(|c| c.passed).count() as f64 / checks.len() as f64
        };
        AttemptResult {
            repeat,
            outcome,
            score,
            output: output.map(str::to_string),
            error: None,
            tool_calls: Vec::new(),
            retries: 0,
            timing: Timing {
                started_at: None,
                ttft_ms: None,
                latency_ms: 100.0 * repeat as f64 + 20.5,
                ..Default::default()
            },
            usage: Some(Usage {
                input_tokens: 12,
                output_tokens: 8,
                total_tokens: 20,
            }),
            check_calls: Vec::new(),
            cost_usd: None,
            judge_cost_usd: None,
            finish_reason: Some("stop".into()),
            model: Some("mock-1".into()),
            prompt_hash: "sha256:0a1b2c".into(),
            checks,
            turns: Vec::new(),
            recording: None,
        }
    }

    pub(crate) fn case(
        suite: &str,
        name: &str,
        outcome: Outcome,
        attempts: Vec<AttemptResult>,
    ) -> CaseResult {
        let passes = attempts
            .iter()
            .filter(|a| a.outcome == Outcome::Pass)
            .count() as u32;
        let repeats = attempts.len().max(1) as u32;
        CaseResult {
            seq: 0,
            suite: suite.into(),
            case: name.into(),
            id: format!("{suite}/{name}"),
            provider: "mock".into(),
            variant: None,
            tags: vec![],
            description: None,
            outcome,
            flaky: passes > 0 && passes < attempts.len() as u32,
            passes,
            repeats,
            min_passes: repeats,
            pass_k: None,
            skip_reason: None,
            source: format!("suites/{suite}.yaml:3"),
            attack: None,
            attempts,
        }
    }

    pub(crate) fn pass_case(suite: &str, name: &str) -> CaseResult {
        let mut c = case(
            suite,
            name,
            Outcome::Pass,
            vec![attempt(
                1,
                Outcome::Pass,
                Some("Paris is the capital of France."),
                vec![check("contains", true, "found \"Paris\"")],
            )],
        );
        c.tags = vec!["smoke".into()];
        c
    }

    pub(crate) fn fail_case(suite: &str, name: &str) -> CaseResult {
        let mut missing = check("contains", false, "output is missing \"Paris\"");
        missing.expected = Some("Paris".into());
        missing.actual = Some("The capital of France is Lyon.".into());
        let mut regex = check("regex", false, "no match for ^Paris");
        regex.excerpt = Some("▶The capital…".into());
        let checks = vec![
            missing,
            regex,
            check("max_latency_ms", true, "120 ms ≤ 500 ms"),
        ];
        case(
            suite,
            name,
            Outcome::Fail,
            vec![attempt(
                1,
                Outcome::Fail,
                Some("The capital of France is Lyon."),
                checks,
            )],
        )
    }

    pub(crate) fn error_case(suite: &str, name: &str) -> CaseResult {
        let mut a = attempt(1, Outcome::Error, None, vec![]);
        a.error = Some("timeout after 30000 ms".into());
        a.usage = None;
        a.finish_reason = None;
        a.model = None;
        case(suite, name, Outcome::Error, vec![a])
    }

    pub(crate) fn skipped_case(suite: &str, name: &str) -> CaseResult {
        let mut c = case(suite, name, Outcome::Skipped, vec![]);
        c.skip_reason = Some("needs a live provider".into());
        c.passes = 0;
        c.flaky = false;
        c
    }

    /// Passed 2 of 3 repeats with min_passes 2: the case passes, flaky.
    pub(crate) fn flaky_case(suite: &str, name: &str) -> CaseResult {
        let ok = || vec![check("contains", true, "found \"4\"")];
        let mut c = case(
            suite,
            name,
            Outcome::Pass,
            vec![
                attempt(1, Outcome::Pass, Some("4"), ok()),
                attempt(
                    2,
                    Outcome::Fail,
                    Some("four"),
                    vec![check("contains", false, "output is missing \"4\"")],
                ),
                attempt(3, Outcome::Pass, Some("4"), ok()),
            ],
        );
        c.min_passes = 2;
        c.description = Some("arithmetic".into());
        c
    }

    /// Passed 1 of 3 repeats with min_passes 2: the case fails, flaky.
    pub(crate) fn failing_repeats_case(suite: &str, name: &str) -> CaseResult {
        let mut c = flaky_case(suite, name);
        c.attempts[2] = attempt(
            3,
            Outcome::Fail,
            Some("IV"),
            vec![check("contains", false, "output is missing \"4\"")],
        );
        c.passes = 1;
        c.outcome = Outcome::Fail;
        c
    }

    /// One case of every kind, in report order.
    pub(crate) fn all_kinds() -> Vec<CaseResult> {
        vec![
            error_case("geo", "berlin"),
            fail_case("geo", "capital"),
            pass_case("geo", "rome"),
            skipped_case("geo", "tokyo"),
            flaky_case("math", "add"),
            failing_repeats_case("math", "mul"),
        ]
    }

    pub(crate) fn summary_of(cases: &[CaseResult]) -> Summary {
        let mut s = Summary::default();
        for c in cases {
            s.add(c);
        }
        s
    }

    pub(crate) fn failed_verdict() -> Verdict {
        Verdict {
            passed: false,
            reasons: vec![
                "2 cases failed (max_failures 0)".into(),
                "1 case errored".into(),
            ],
            exit_code: 1,
            warnings: vec![],
        }
    }

    /// Send a whole run to a reporter.
    pub(crate) fn run(
        reporter: &mut dyn crate::report::Reporter,
        info: &RunInfo,
        cases: &[CaseResult],
        verdict: &Verdict,
        stopped: Option<StopReason>,
    ) -> Result<(), crate::error::Error> {
        reporter.on_event(&RunEvent::Started(info))?;
        for c in cases {
            reporter.on_event(&RunEvent::CaseFinished(c))?;
        }
        let mut summary = summary_of(cases);
        summary.not_run = info.planned_cases.saturating_sub(cases.len() as u64);
        reporter.on_event(&RunEvent::Finished {
            summary: &summary,
            verdict,
            stopped,
            duration_ms: 1234.5,
            comparison: None,
        })
    }

    /// The text of the file `create` writes at `file` (a path inside a new
    /// temporary directory) after [`run`] of `cases` with the suites `geo`
    /// and `math`.
    pub(crate) fn write_report<R: crate::report::Reporter>(
        file: &str,
        create: impl FnOnce(&std::path::Path) -> Result<R, crate::error::Error>,
        cases: &[CaseResult],
        verdict: &Verdict,
        stopped: Option<StopReason>,
    ) -> String {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(file);
        let mut r = create(&path).unwrap();
        run(&mut r, &run_info(&["geo", "math"]), cases, verdict, stopped).unwrap();
        std::fs::read_to_string(&path).unwrap()
    }
}

#[cfg(test)]
mod tests {
    use super::fixtures::*;
    use super::*;

    #[test]
    fn single_attempt_failure_names_failed_checks() {
        let c = fail_case("geo", "capital");
        assert_eq!(
            failure_message(&c),
            "2 of 3 checks failed: contains (output is missing \"Paris\"), regex (no match for ^Paris)"
        );
        let d = failure_details(&c);
        assert!(
            d.starts_with("fail (score 0.33): 2 of 3 checks failed\n"),
            "{d}"
        );
        assert!(
            d.contains("  ✗ contains: output is missing \"Paris\"\n"),
            "{d}"
        );
        assert!(d.contains("      expected: Paris\n"), "{d}");
        assert!(
            d.contains("      actual:   The capital of France is Lyon.\n"),
            "{d}"
        );
        assert!(d.contains("      excerpt:  ▶The capital…\n"), "{d}");
        assert!(
            d.ends_with("  output:\n    The capital of France is Lyon."),
            "{d}"
        );
        assert!(
            !d.contains("max_latency_ms"),
            "passed checks are not listed: {d}"
        );
    }

    #[test]
    fn errors_say_there_is_no_usable_answer() {
        let c = error_case("geo", "berlin");
        assert_eq!(
            failure_message(&c),
            "no usable answer: timeout after 30000 ms"
        );
        assert_eq!(
            failure_details(&c),
            "no usable answer: timeout after 30000 ms\n  output: (none)"
        );
    }

    #[test]
    fn failing_repeats_show_the_tally_and_every_bad_repeat() {
        let c = failing_repeats_case("math", "mul");
        assert_eq!(
            failure_message(&c),
            "passed 1 of 3 repeats (needs 2): 1 of 1 check failed: contains (output is missing \"4\")"
        );
        let d = failure_details(&c);
        let lines: Vec<&str> = d.lines().collect();
        assert_eq!(lines[0], "fail: passed 1 of 3 repeats (needs 2), flaky");
        assert_eq!(
            lines[1],
            "repeat 2 of 3: fail (score 0.00): 1 of 1 check failed"
        );
        assert_eq!(lines[2], "  ✗ contains: output is missing \"4\"");
        assert_eq!(lines[3], "  output:");
        assert_eq!(lines[4], "    four");
        assert_eq!(
            lines[5],
            "repeat 3 of 3: 1 of 1 check failed: contains (output is missing \"4\")"
        );
        assert_eq!(lines.len(), 6);
    }

    #[test]
    fn flaky_pass_and_skip_and_pass() {
        assert_eq!(
            failure_message(&flaky_case("math", "add")),
            "flaky: passed 2 of 3 repeats (needs 2); repeat 2: 1 of 1 check failed: contains (output is missing \"4\")"
        );
        assert_eq!(
            failure_message(&skipped_case("geo", "tokyo")),
            "skipped: needs a live provider"
        );
        assert_eq!(
            failure_details(&skipped_case("geo", "tokyo")),
            "skipped: needs a live provider"
        );
        assert_eq!(failure_message(&pass_case("geo", "rome")), "passed");
    }

    #[test]
    fn long_outputs_are_truncated_and_messages_stay_on_one_line() {
        let mut c = fail_case("geo", "capital");
        c.attempts[0].output = Some("x".repeat(5000));
        c.attempts[0].checks[0].message = "line one\nline two".into();
        let d = failure_details(&c);
        assert!(d.contains("output (first 2000 of 5000 characters):"), "{d}");
        assert!(d.len() < 2600, "{}", d.len());
        let m = failure_message(&c);
        assert!(!m.contains('\n'), "{m}");
        assert!(m.contains("line one⏎line two"), "{m}");
    }

    #[test]
    fn fail_without_failed_checks_explains_the_score() {
        let mut c = fail_case("geo", "capital");
        for ch in &mut c.attempts[0].checks {
            ch.passed = true;
        }
        c.attempts[0].score = 0.4;
        assert_eq!(
            failure_message(&c),
            "score 0.40 is below the pass threshold (3 checks passed)"
        );
    }
}

//! JUnit XML report, streamed so memory stays flat however many cases run.
//!
//! Layout: one `<testsuite>` per suite, one `<testcase>` per attempt (named
//! `case [repeat i/n]` when a case repeats), `classname` = suite. A failed
//! check is a `<failure type="check">`, a provider problem an
//! `<error type="error">`: CI systems show them apart. A repeat that failed in
//! a case that still passed (flaky, but at least `min_passes` passes) is a
//! success with a `<flakyFailure>`, so CI is green when the gate is.
//!
//! Test cases are written as XML text as they arrive (`junit_cases.rs`,
//! byte for byte what quick-junit writes), each suite's in a buffer of its
//! own; a full buffer, or one whose suite ended, is appended to one
//! anonymous temporary file, each suite remembering where its fragments
//! lie. On `Finished`, the root element and each suite's `<testsuite>` tag
//! (with counts) followed by its fragments go into the [`AtomicFile`],
//! which is committed. A suite is one element however its cases arrive.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use chrono::{DateTime, FixedOffset, Utc};
use quick_junit::XmlString;

use crate::error::Error;
use crate::event::RunEvent;
use crate::model::{CaseResult, RunInfo, StopReason};
use crate::report::junit_cases::{self, duration_of, Status};
use crate::report::{AtomicFile, Reporter};

/// A suite's buffer of written test cases goes to the spool at this size.
const CHUNK_BYTES: usize = 256 << 10;

/// `system-out` is cut to this many bytes.
pub(crate) const MAX_SYSTEM_OUT: usize = 64 * 1024;

/// Name of the `<testsuites>` root.
const REPORT_NAME: &str = "evalgate";

/// Test case counts of a suite or of the whole report.
#[derive(Debug, Default, Clone, Copy)]
struct Tally {
    tests: u64,
    failures: u64,
    errors: u64,
    skipped: u64,
}

impl Tally {
    fn add_status(&mut self, status: Status) {
        self.tests += 1;
        match status {
            Status::Success => {}
            Status::Failure => self.failures += 1,
            Status::Error => self.errors += 1,
            Status::Skipped => self.skipped += 1,
        }
    }

    fn add(&mut self, other: Tally) {
        self.tests += other.tests;
        self.failures += other.failures;
        self.errors += other.errors;
        self.skipped += other.skipped;
    }
}

/// One `<testsuite>`: a suite (or suite × provider in a matrix).
struct Group {
    name: String,
    tally: Tally,
    /// Sum of attempt latencies, ms.
    time_ms: f64,
    timestamp: Option<DateTime<FixedOffset>>,
    /// Test cases written and not yet in the spool.
    chunk: String,
    /// Where its serialized test cases lie in the spool: (offset, length).
    spans: Vec<(u64, u64)>,
    /// Its latency samples, for the `<properties>` of the `<testsuite>`.
    latency: super::latency::Accumulator,
    /// Its counts, for the pass rate's interval and the cost properties.
    counts: crate::model::Counts,
}

/// Writes a JUnit XML report; see the module documentation.
pub(crate) struct JunitReporter {
    path: PathBuf,
    /// None once the report is committed.
    out: Option<AtomicFile>,
    run_timestamp: Option<DateTime<FixedOffset>>,
    /// A provider matrix: suites are named `suite [provider]`.
    matrix: bool,
    /// Suites run against several providers outside a matrix: named the same way.
    multi_provider_suites: Vec<String>,
    /// Every group seen, in order of first appearance.
    groups: Vec<Group>,
    by_name: HashMap<String, usize>,
    /// The group the last case went to.
    current: Option<usize>,
    /// Serialized test cases of every group, in the order they were flushed.
    spool: BufWriter<File>,
    spooled: u64,
    /// The statuses of the last case's test cases (reused).
    statuses: Vec<Status>,
}

impl JunitReporter {
    /// Open the report file now, so an unwritable location fails before the run.
    pub(crate) fn create(path: &Path) -> Result<Self, Error> {
        let out = AtomicFile::create(path)?;
        let spool_dir = crate::util::path::dir_of(path);
        let spool = spool(&spool_dir).map_err(|e| Error::output(path, e))?;
        Ok(JunitReporter {
            path: path.to_path_buf(),
            out: Some(out),
            run_timestamp: None,
            matrix: false,
            multi_provider_suites: Vec::new(),
            groups: Vec::new(),
            by_name: HashMap::new(),
            current: None,
            spool,
            spooled: 0,
            statuses: Vec::new(),
        })
    }

    fn err(&self, e: io::Error) -> Error {
        Error::output(&self.path, e)
    }

    fn started(&mut self, info: &RunInfo) {
        self.run_timestamp = DateTime::parse_from_rfc3339(&info.started_at).ok();
        self.matrix = info.matrix;
        self.multi_provider_suites = info.multi_provider_suites.clone();
    }

    /// A case goes to its group's `<testsuite>`, wherever it arrives: a
    /// suite never gets a second element, also when results come out of
    /// plan order (merged shards).
    fn case_finished(&mut self, case: &CaseResult) -> Result<(), Error> {
        let name = group_name(
            case,
            self.matrix || self.multi_provider_suites.contains(&case.suite),
        );
        let idx = match self.by_name.get(&name) {
            Some(&i) => i,
            None => {
                self.groups.push(Group {
                    name: name.clone(),
                    tally: Tally::default(),
                    time_ms: 0.0,
                    timestamp: None,
                    chunk: String::new(),
                    spans: Vec::new(),
                    latency: Default::default(),
                    counts: Default::default(),
                });
                self.by_name.insert(name, self.groups.len() - 1);
                self.groups.len() - 1
            }
        };
        // In plan order a group is done when the next begins: serialize it now.
        if let Some(prev) = self.current.filter(|&p| p != idx) {
            self.flush_chunk(prev)?;
        }
        self.current = Some(idx);
        let run_timestamp = self.run_timestamp;
        let group = &mut self.groups[idx];
        group.latency.observe(case);
        group.counts.add(case);
        if group.timestamp.is_none() {
            group.timestamp = case
                .attempts
                .iter()
                .find_map(|a| a.timing.started_at)
                .map(timestamp_of)
                .or(run_timestamp);
        }
        self.statuses.clear();
        junit_cases::write_case(&mut group.chunk, case, &group.name, &mut self.statuses);
        for &status in &self.statuses {
            group.tally.add_status(status);
        }
        group.time_ms += case.total_latency_ms();
        if group.chunk.len() >= CHUNK_BYTES {
            self.flush_chunk(idx)?;
        }
        Ok(())
    }

    /// Append a group's written test cases to the spool.
    fn flush_chunk(&mut self, idx: usize) -> Result<(), Error> {
        let group = &mut self.groups[idx];
        if group.chunk.is_empty() {
            return Ok(());
        }
        // Every string in it was cleaned as it was written (`junit_cases::clean`).
        let len = group.chunk.len() as u64;
        let written = self.spool.write_all(group.chunk.as_bytes());
        group.chunk.clear();
        written.map_err(|e| Error::output(&self.path, e))?;
        group.spans.push((self.spooled, len));
        self.spooled += len;
        Ok(())
    }

    fn finished(&mut self, duration_ms: f64, interrupted: Option<u64>) -> Result<(), Error> {
        for i in 0..self.groups.len() {
            self.flush_chunk(i)?;
        }
        let Some(mut out) = self.out.take() else {
            return Ok(());
        };
        let mut totals = Tally::default();
        for g in &self.groups {
            totals.add(g.tally);
        }
        // An interrupted run is never green in CI: one errored test case says
        // so, with the number of planned cases that did not run.
        let marker = interrupted.map(interrupted_suite);
        if marker.is_some() {
            totals.tests += 1;
            totals.errors += 1;
        }
        let mut root = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites");
        push_attr(&mut root, "name", REPORT_NAME);
        push_tally(&mut root, totals);
        if let Some(ts) = self.run_timestamp {
            push_attr(&mut root, "timestamp", &format_timestamp(&ts));
        }
        push_attr(&mut root, "time", &format_seconds(duration_ms));
        root.push('>');
        let result = self.spool.flush().and_then(|()| {
            write_groups(
                &mut out,
                &root,
                &self.groups,
                self.spool.get_mut(),
                marker.as_deref(),
            )
        });
        result.map_err(|e| self.err(e))?;
        out.commit()
    }
}

/// The root element, each group's `<testsuite>` with its test cases read
/// back from the spool, and the end of the root.
fn write_groups(
    dst: &mut impl Write,
    root: &str,
    groups: &[Group],
    spool: &mut File,
    marker: Option<&str>,
) -> io::Result<()> {
    dst.write_all(root.as_bytes())?;
    if let Some(m) = marker {
        dst.write_all(m.as_bytes())?;
    }
    for g in groups {
        let mut tag = String::from("\n    <testsuite");
        push_attr(&mut tag, "name", &g.name);
        push_tally(&mut tag, g.tally);
        if let Some(ts) = g.timestamp {
            push_attr(&mut tag, "timestamp", &format_timestamp(&ts));
        }
        push_attr(&mut tag, "time", &format_seconds(g.time_ms));
        tag.push('>');
        let mut counts = g.counts;
        counts.set_interval();
        latency_properties(&mut tag, &g.latency.stats(), &counts);
        dst.write_all(tag.as_bytes())?;
        for &(offset, len) in &g.spans {
            spool.seek(SeekFrom::Start(offset))?;
            io::copy(&mut (&mut *spool).take(len), dst)?;
        }
        dst.write_all(b"\n    </testsuite>")?;
    }
    dst.write_all(b"\n</testsuites>\n")
}

impl Reporter for JunitReporter {
    fn on_event(&mut self, event: &RunEvent<'_>) -> Result<(), Error> {
        if self.out.is_none() {
            return Ok(());
        }
        match event {
            RunEvent::Started(info) => {
                self.started(info);
                Ok(())
            }
            RunEvent::AttemptStarted(_)
            | RunEvent::AttemptRetried { .. }
            | RunEvent::AttemptFinished { .. } => Ok(()),
            RunEvent::CaseFinished(case) => self.case_finished(case),
            RunEvent::Finished {
                duration_ms,
                stopped,
                summary,
                ..
            } => self.finished(
                *duration_ms,
                (*stopped == Some(StopReason::Interrupted)).then_some(summary.not_run),
            ),
        }
    }
}

/// The suite's latency percentiles as `<properties>` (`latency_p95_ms`,
/// `ttft_p95_ms`, the sample count and the recorded answers), its pass
/// rate with the Wilson 95% interval and its cost (`cost_usd`, `unknown`
/// when nothing is priced; `judge_cost_usd` apart).
fn latency_properties(tag: &mut String, s: &crate::model::LatencyStats, c: &crate::model::Counts) {
    let mut props: Vec<(String, String)> = Vec::new();
    if let Some(rate) = c.pass_rate() {
        props.push(("pass_rate".into(), format!("{rate:.4}")));
        if let Some(i) = c.pass_rate_ci95 {
            props.push(("pass_rate_ci95_low".into(), format!("{:.4}", i.low)));
            props.push(("pass_rate_ci95_high".into(), format!("{:.4}", i.high)));
        }
    }
    if c.attempts > 0 {
        props.push((
            "cost_usd".into(),
            c.cost_usd
                .map_or_else(|| "unknown".to_string(), |v| format!("{v:.6}")),
        ));
        if c.attempts_priced < c.attempts && c.cost_usd.is_some() {
            props.push(("cost_attempts_priced".into(), c.attempts_priced.to_string()));
        }
    }
    if c.attempts_with_check_calls > 0 {
        props.push((
            "judge_cost_usd".into(),
            c.judge_cost_usd
                .map_or_else(|| "unknown".to_string(), |v| format!("{v:.6}")),
        ));
    }
    let ms = |v: f64| format!("{v:.3}");
    for (prefix, p) in [
        ("latency", &s.latency),
        ("ttft", &s.ttft),
        ("tpot", &s.tpot),
    ] {
        if let Some(p) = p {
            props.push((format!("{prefix}_n"), p.n.to_string()));
            for (name, v) in [
                ("p50", p.p50_ms),
                ("p90", p.p90_ms),
                ("p95", p.p95_ms),
                ("p99", p.p99_ms),
                ("max", p.max_ms),
                ("mean", p.mean_ms),
            ] {
                props.push((format!("{prefix}_{name}_ms"), ms(v)));
            }
        }
    }
    if s.recorded > 0 {
        props.push(("latency_recorded".into(), s.recorded.to_string()));
    }
    if props.is_empty() {
        return;
    }
    tag.push_str("\n        <properties>");
    for (name, value) in props {
        tag.push_str("\n            <property");
        push_attr(tag, "name", &name);
        push_attr(tag, "value", &value);
        tag.push_str("/>");
    }
    tag.push_str("\n        </properties>");
}

/// The `<testsuite name="evalgate">` of an interrupted run: one test case
/// `run interrupted` with an `<error type="interrupted">` and the not-run count
/// (also as a property), so CI shows the run as broken, not green.
fn interrupted_suite(not_run: u64) -> String {
    let message = format!(
        "the run was interrupted; {not_run} planned case{} did not run",
        if not_run == 1 { "" } else { "s" }
    );
    let mut tag = String::from("\n    <testsuite");
    push_attr(&mut tag, "name", REPORT_NAME);
    push_tally(
        &mut tag,
        Tally {
            tests: 1,
            errors: 1,
            ..Tally::default()
        },
    );
    tag.push_str(">\n        <properties>\n            <property");
    push_attr(&mut tag, "name", "not_run");
    push_attr(&mut tag, "value", &not_run.to_string());
    tag.push_str("/>\n        </properties>\n        <testcase");
    push_attr(&mut tag, "name", "run interrupted");
    push_attr(&mut tag, "classname", REPORT_NAME);
    tag.push_str(">\n            <error");
    push_attr(&mut tag, "type", "interrupted");
    push_attr(&mut tag, "message", &message);
    tag.push_str("/>\n        </testcase>\n    </testsuite>");
    tag
}

fn spool(dir: &Path) -> io::Result<BufWriter<File>> {
    Ok(BufWriter::with_capacity(
        256 << 10,
        tempfile::tempfile_in(dir)?,
    ))
}

/// The `<testsuite>` name and test-case classname of a case: the suite, or
/// `suite [provider]` in a provider matrix (so CI tools keep them apart).
/// A case of the adversarial pack goes to its category's group:
/// `suite/category` (one `<testsuite>` per attack category).
fn group_name(case: &CaseResult, matrix: bool) -> String {
    let mut suite = match &case.attack {
        Some(a) => format!("{}/{}", case.suite, a.category),
        None => case.suite.clone(),
    };
    // A prompt variant's cases form a group of their own: `suite@variant`.
    if let Some(v) = &case.variant {
        suite.push('@');
        suite.push_str(v);
    }
    if matrix {
        format!("{suite} [{}]", case.provider)
    } else {
        suite
    }
}

/// At most `max` bytes of `s` (cut at a character boundary), with a note
/// when cut.
pub(super) fn truncate_bytes(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!(
        "{}\n… (truncated: {} of {} bytes shown)",
        &s[..end],
        end,
        s.len()
    )
}

fn timestamp_of(t: SystemTime) -> DateTime<FixedOffset> {
    DateTime::<Utc>::from(t).fixed_offset()
}

/// The format quick-junit writes, so both halves of the file agree.
fn format_timestamp(ts: &DateTime<FixedOffset>) -> String {
    ts.format("%Y-%m-%dT%H:%M:%S%.3f%:z").to_string()
}

fn format_seconds(ms: f64) -> String {
    format!("{:.3}", duration_of(ms).as_secs_f64())
}

fn push_tally(tag: &mut String, t: Tally) {
    push_attr(tag, "tests", &t.tests.to_string());
    push_attr(tag, "failures", &t.failures.to_string());
    push_attr(tag, "errors", &t.errors.to_string());
    push_attr(tag, "skipped", &t.skipped.to_string());
}

/// Append ` name="value"`, the value cleaned of characters XML cannot carry
/// and escaped.
fn push_attr(tag: &mut String, name: &str, value: &str) {
    tag.push(' ');
    tag.push_str(name);
    tag.push_str("=\"");
    tag.push_str(&escape_attr(&xml_chars_only(
        XmlString::new(value).as_str(),
    )));
    tag.push('"');
}

/// Whether XML 1.0 allows `c` in a document (its `Char` production).
fn xml_allows(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
}

/// `s` with every character XML 1.0 forbids (control characters, U+FFFE,
/// U+FFFF) replaced by U+FFFD, so any output makes a well-formed report.
fn xml_chars_only(s: &str) -> std::borrow::Cow<'_, str> {
    if s.chars().all(xml_allows) {
        std::borrow::Cow::Borrowed(s)
    } else {
        std::borrow::Cow::Owned(
            s.chars()
                .map(|c| if xml_allows(c) { c } else { '\u{FFFD}' })
                .collect(),
        )
    }
}

/// Escape a string for a double-quoted XML attribute value.
fn escape_attr(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\n' => out.push_str("&#10;"),
            '\r' => out.push_str("&#13;"),
            '\t' => out.push_str("&#9;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{AttemptResult, Outcome};
    use crate::report::explain;
    use crate::report::explain::fixtures::*;
    use quick_junit::{
        FlakyOrRerun, NonSuccessKind, Report, TestCase, TestCaseStatus, TestRerun, TestSuite,
    };

    // The writer before `junit_cases`: test cases built with quick-junit and
    // serialized through a one-suite report. The tests compare both.
    /// The `<testcase>` elements of a serialized one-suite report: everything
    /// between the end of the `<testsuite …>` tag and `</testsuite>`, without
    /// trailing indentation. Each fragment starts with a newline.
    fn testcase_fragment(xml: &str) -> Option<&str> {
        let open = xml.find("<testsuite ")?;
        let open_end = open + xml[open..].find('>')? + 1;
        let close = xml.rfind("</testsuite>")?;
        (close >= open_end).then(|| xml[open_end..close].trim_end())
    }

    /// The attack's properties on a test case of the adversarial pack.
    fn attack_properties(tc: &mut TestCase, case: &CaseResult) {
        if let Some(a) = &case.attack {
            tc.add_property(("attack_category", a.category.as_str()));
            tc.add_property(("owasp", a.owasp.join(",").as_str()));
            tc.add_property(("attack_seed", a.seed.as_str()));
            if let Some(m) = &a.mutator {
                tc.add_property(("attack_mutator", m.as_str()));
            }
        }
    }

    /// The test cases of one case: one per attempt, or one for a skipped case.
    fn test_cases(case: &CaseResult, group: &str) -> Vec<TestCase> {
        if case.outcome == Outcome::Skipped || case.attempts.is_empty() {
            return vec![case_level_test_case(case, group)];
        }
        let n = (case.repeats as usize).max(case.attempts.len());
        case.attempts
            .iter()
            .map(|a| attempt_test_case(case, a, n, group))
            .collect()
    }

    fn case_level_test_case(case: &CaseResult, group: &str) -> TestCase {
        let message = explain::failure_message(case);
        let status = match case.outcome {
            Outcome::Pass => TestCaseStatus::success(),
            Outcome::Skipped => {
                let mut s = TestCaseStatus::skipped();
                s.set_message(
                    case.skip_reason
                        .clone()
                        .unwrap_or_else(|| "skipped".to_string()),
                );
                s
            }
            Outcome::Fail => {
                non_success(NonSuccessKind::Failure, "check", message.clone(), message)
            }
            Outcome::Error => non_success(NonSuccessKind::Error, "error", message.clone(), message),
        };
        let mut tc = TestCase::new(case.case.as_str(), status);
        tc.set_classname(group);
        tc.add_property(("provider", case.provider.as_str()));
        tc.add_property(("source", case.source.as_str()));
        attack_properties(&mut tc, case);
        tc
    }

    fn non_success(
        kind: NonSuccessKind,
        ty: &str,
        message: String,
        details: String,
    ) -> TestCaseStatus {
        let mut s = TestCaseStatus::non_success(kind);
        s.set_message(message).set_type(ty).set_description(details);
        s
    }

    fn attempt_test_case(case: &CaseResult, a: &AttemptResult, n: usize, group: &str) -> TestCase {
        let name = if n > 1 {
            format!("{} [repeat {}/{}]", case.case, a.repeat, n)
        } else {
            case.case.clone()
        };
        let mut message = explain::attempt_message(a);
        if let Some(note) = explain::repeats_note(case) {
            message = format!("{message}; case {note}");
        }
        let details = explain::attempt_details(case, a);
        let kind = match a.outcome {
            Outcome::Fail => Some((NonSuccessKind::Failure, "check")),
            Outcome::Error => Some((NonSuccessKind::Error, "error")),
            Outcome::Pass | Outcome::Skipped => None,
        };
        let status = match (a.outcome, kind) {
            (Outcome::Skipped, _) => {
                let mut s = TestCaseStatus::skipped();
                s.set_message("skipped");
                s
            }
            // A bad repeat of a case that passed overall: flaky, not red.
            (_, Some((kind, ty))) if case.outcome == Outcome::Pass => {
                let mut rerun = TestRerun::new(kind);
                rerun
                    .set_message(message)
                    .set_type(ty)
                    .set_description(details)
                    .set_time(duration_of(a.timing.latency_ms));
                TestCaseStatus::Success {
                    flaky_runs: vec![rerun],
                }
            }
            (_, Some((kind, ty))) => non_success(kind, ty, message, details),
            (_, None) => TestCaseStatus::success(),
        };
        let mut tc = TestCase::new(name, status);
        tc.set_classname(group);
        tc.set_time(duration_of(a.timing.latency_ms));
        if let Some(t) = a.timing.started_at {
            tc.set_timestamp(timestamp_of(t));
        }
        tc.add_property(("provider", case.provider.as_str()));
        if let Some(model) = &a.model {
            tc.add_property(("model", model.as_str()));
        }
        tc.add_property(("prompt_hash", a.prompt_hash.as_str()));
        tc.add_property(("score", format!("{:.3}", a.score).as_str()));
        tc.add_property(("source", case.source.as_str()));
        attack_properties(&mut tc, case);
        if a.retries > 0 {
            tc.add_property(("retries", a.retries.to_string().as_str()));
        }
        if let Some(t) = a.timing.ttft_ms {
            tc.add_property(("ttft_ms", format!("{t:.1}").as_str()));
        }
        if let Some(c) = a.cost_usd {
            tc.add_property(("cost_usd", format!("{c:.6}").as_str()));
        }
        if let Some(c) = a.judge_cost_usd {
            tc.add_property(("judge_cost_usd", format!("{c:.6}").as_str()));
        }
        if let Some(p) = case.pass_k {
            tc.add_property(("pass_at_k", format!("{:.4}", p.pass_at_k).as_str()));
            tc.add_property(("pass_pow_k", format!("{:.4}", p.pass_pow_k).as_str()));
            tc.add_property(("k", p.k.to_string().as_str()));
        }
        for call in &a.tool_calls {
            tc.add_property((
                "tool_call",
                format!("{}({})", call.name, call.arguments).as_str(),
            ));
        }
        if let Some(output) = &a.output {
            tc.set_system_out(truncate_bytes(output, MAX_SYSTEM_OUT));
        }
        tc
    }

    fn write(cases: &[CaseResult], stopped: Option<StopReason>) -> String {
        write_report(
            "reports/junit.xml",
            JunitReporter::create,
            cases,
            &failed_verdict(),
            stopped,
        )
    }

    fn find<'a>(report: &'a Report, suite: &str, name: &str) -> &'a TestCase {
        report
            .test_suites
            .iter()
            .find(|s| s.name.as_str() == suite)
            .and_then(|s| s.test_cases.iter().find(|t| t.name.as_str() == name))
            .unwrap_or_else(|| panic!("no test case {suite}/{name}"))
    }

    #[test]
    fn parses_back_with_counts_and_kinds() {
        let xml = write(&all_kinds(), None);
        let report = Report::deserialize_from_str(&xml).unwrap();
        assert_eq!(report.name.as_ref().unwrap().as_str(), "evalgate");
        // geo: 4 test cases; math: 3 + 3 repeats.
        assert_eq!(report.tests, 10);
        assert_eq!(report.failures, 3, "capital, mul repeats 2 and 3");
        assert_eq!(report.errors, 1, "berlin");
        assert_eq!(report.skipped, 1, "tokyo");
        let time = report.time.unwrap().as_secs_f64();
        assert!((time - 1.2345).abs() < 0.001, "{time}");
        assert_eq!(report.test_suites.len(), 2);
        let geo = &report.test_suites[0];
        assert_eq!(geo.name.as_str(), "geo");
        assert_eq!(
            (geo.tests, geo.failures, geo.errors, geo.skipped),
            (4, 1, 1, 1)
        );
        assert_eq!(
            geo.timestamp.unwrap().to_rfc3339(),
            "2025-01-02T03:04:05+00:00"
        );
        let math = &report.test_suites[1];
        assert_eq!(
            (math.tests, math.failures, math.errors, math.skipped),
            (6, 2, 0, 0)
        );

        match &find(&report, "geo", "capital").status {
            TestCaseStatus::NonSuccess {
                kind,
                message,
                ty,
                description,
                ..
            } => {
                assert_eq!(*kind, NonSuccessKind::Failure);
                assert_eq!(ty.as_ref().unwrap().as_str(), "check");
                assert!(message
                    .as_ref()
                    .unwrap()
                    .as_str()
                    .starts_with("2 of 3 checks failed: contains"));
                assert!(description
                    .as_ref()
                    .unwrap()
                    .as_str()
                    .contains("expected: Paris"));
            }
            other => panic!("{other:?}"),
        }
        match &find(&report, "geo", "berlin").status {
            TestCaseStatus::NonSuccess {
                kind, message, ty, ..
            } => {
                assert_eq!(*kind, NonSuccessKind::Error);
                assert_eq!(ty.as_ref().unwrap().as_str(), "error");
                assert_eq!(
                    message.as_ref().unwrap().as_str(),
                    "no usable answer: timeout after 30000 ms"
                );
            }
            other => panic!("{other:?}"),
        }
        match &find(&report, "geo", "tokyo").status {
            TestCaseStatus::Skipped { message, .. } => {
                assert_eq!(message.as_ref().unwrap().as_str(), "needs a live provider")
            }
            other => panic!("{other:?}"),
        }
        // Flaky but passing: the failed repeat is a success with a flaky failure.
        match &find(&report, "math", "add [repeat 2/3]").status {
            TestCaseStatus::Success { flaky_runs } => {
                assert_eq!(flaky_runs.len(), 1);
                assert_eq!(flaky_runs[0].kind, NonSuccessKind::Failure);
                assert!(flaky_runs[0]
                    .message
                    .as_ref()
                    .unwrap()
                    .as_str()
                    .contains("passed 2 of 3 repeats"));
            }
            other => panic!("{other:?}"),
        }
        // Failing on repeats: the failed repeats are failures.
        match &find(&report, "math", "mul [repeat 3/3]").status {
            TestCaseStatus::NonSuccess { kind, reruns, .. } => {
                assert_eq!(*kind, NonSuccessKind::Failure);
                assert!(reruns.runs.is_empty());
                assert_eq!(reruns.kind, FlakyOrRerun::Rerun);
            }
            other => panic!("{other:?}"),
        }
        let rome = find(&report, "geo", "rome");
        assert_eq!(rome.classname.as_ref().unwrap().as_str(), "geo");
        let ms = rome.time.unwrap().as_secs_f64() * 1000.0;
        assert!((ms - 120.5).abs() <= 1.0, "{ms}");
        assert_eq!(
            rome.system_out.as_ref().unwrap().as_str(),
            "Paris is the capital of France."
        );
        let props: Vec<(&str, &str)> = rome
            .properties
            .iter()
            .map(|p| (p.name.as_str(), p.value.as_str()))
            .collect();
        assert_eq!(
            props,
            [
                ("provider", "mock"),
                ("model", "mock-1"),
                ("prompt_hash", "sha256:0a1b2c"),
                ("score", "1.000"),
                ("source", "suites/geo.yaml:3"),
            ]
        );
    }

    #[test]
    fn snapshot_of_a_small_report() {
        let cases = vec![
            fail_case("geo", "capital"),
            pass_case("geo", "rome"),
            skipped_case("geo", "tokyo"),
            flaky_case("math", "add"),
        ];
        insta::assert_snapshot!(write(&cases, None));
    }

    /// Enough passing cases to fill more than two chunks.
    const CHUNK_CASES: usize = 1000;

    /// The test cases as quick-junit serializes them in a one-suite report.
    fn by_quick_junit(cases: &[CaseResult], group: &str) -> String {
        let mut ts = TestSuite::new(group);
        for c in cases {
            ts.add_test_cases(test_cases(c, group));
        }
        let mut report = Report::unnamed();
        report.add_test_suite(ts);
        let xml = report.to_string().unwrap();
        xml_chars_only(testcase_fragment(&xml).unwrap()).into_owned()
    }

    fn by_junit_cases(cases: &[CaseResult], group: &str) -> (String, Vec<Status>) {
        let mut out = String::new();
        let mut statuses = Vec::new();
        for c in cases {
            junit_cases::write_case(&mut out, c, group, &mut statuses);
        }
        (out, statuses)
    }

    #[test]
    fn the_direct_writer_writes_what_quick_junit_writes() {
        let hostile = [
            "\x1b[31mred\x1b[0m and \x1b]0;title\x07 osc",
            "tab\there, cr\r\nlf, nul\0x, bell\x07, del\x7fx",
            "c1 \u{85} \u{9b}31m x \u{9f}",
            "\u{FFFE}\u{FFFF} quotes ' \" < > & &amp;",
            "emoji 🚀, é, 日本語, \u{200b}zero width",
            "cut escape at the end \x1b[",
            "\x1b",
            "",
        ];
        let mut cases = all_kinds();
        cases.push(flaky_case("math", "flaky"));
        cases.push(failing_repeats_case("math", "repeats"));
        for (i, h) in hostile.iter().enumerate() {
            for mut c in [
                fail_case("geo", "f"),
                error_case("geo", "e"),
                pass_case("geo", "p"),
                skipped_case("geo", "s"),
                flaky_case("geo", "k"),
            ] {
                c.case = format!("{h}{i}");
                c.source = h.to_string();
                c.skip_reason = Some(h.to_string());
                for a in &mut c.attempts {
                    a.output = Some(h.to_string());
                    a.model = Some(h.to_string());
                    a.error = a.error.as_ref().map(|_| h.to_string());
                    a.timing.ttft_ms = Some(12.345);
                    a.retries = 2;
                    a.tool_calls.push(crate::model::ToolCall {
                        id: None,
                        name: h.to_string(),
                        arguments: format!("{{\"q\": \"{h}\"}}"),
                    });
                    for check in &mut a.checks {
                        check.message = h.to_string();
                        check.expected = Some(h.to_string());
                    }
                }
                cases.push(c);
            }
        }
        let big = "x".repeat(MAX_SYSTEM_OUT + 10);
        let mut long = pass_case("geo", "long");
        long.attempts[0].output = Some(big);
        cases.push(long);
        for group in ["geo", "we\"ird <group> & \x1b[1mbold\x1b[0m"] {
            let (direct, statuses) = by_junit_cases(&cases, group);
            assert_eq!(direct, by_quick_junit(&cases, group));
            let expected: Vec<Status> = cases
                .iter()
                .flat_map(|c| test_cases(c, group))
                .map(|tc| match tc.status {
                    TestCaseStatus::Success { .. } => Status::Success,
                    TestCaseStatus::NonSuccess { kind, .. } => match kind {
                        NonSuccessKind::Failure => Status::Failure,
                        NonSuccessKind::Error => Status::Error,
                    },
                    TestCaseStatus::Skipped { .. } => Status::Skipped,
                })
                .collect();
            assert_eq!(statuses, expected);
        }
    }

    #[test]
    fn streams_many_cases_in_chunks() {
        let mut cases = Vec::new();
        for s in ["a", "b"] {
            for i in 0..(CHUNK_CASES * 2 + 3) {
                cases.push(pass_case(s, &format!("c{i:04}")));
            }
        }
        cases.push(fail_case("c", "last"));
        let xml = write(&cases, None);
        let report = Report::deserialize_from_str(&xml).unwrap();
        assert_eq!(report.tests, cases.len());
        assert_eq!(report.failures, 1);
        let names: Vec<&str> = report.test_suites.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["a", "b", "c"]);
        let a = &report.test_suites[0];
        assert_eq!(a.tests, CHUNK_CASES * 2 + 3);
        assert_eq!(a.test_cases.len(), a.tests);
        assert_eq!(a.test_cases[300].name.as_str(), "c0300");
        assert!(!xml.contains("\n\n"), "no blank lines between chunks");
    }

    #[test]
    fn a_suite_is_one_element_whatever_order_its_cases_arrive_in() {
        // Merged shards: suites interleave, and chunks of one suite are
        // flushed between cases of another.
        let mut cases = Vec::new();
        for i in 0..(CHUNK_CASES + 5) {
            cases.push(pass_case("a", &format!("c{i:04}")));
            if i % 100 == 0 {
                cases.push(fail_case("b", &format!("b{i:04}")));
            }
        }
        let xml = write(&cases, None);
        assert_eq!(xml.matches("<testsuite ").count(), 2, "{xml}");
        let report = Report::deserialize_from_str(&xml).unwrap();
        let names: Vec<&str> = report.test_suites.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["a", "b"]);
        let a = &report.test_suites[0];
        assert_eq!(
            (a.tests, a.test_cases.len()),
            (CHUNK_CASES + 5, CHUNK_CASES + 5)
        );
        let order: Vec<&str> = a.test_cases.iter().map(|t| t.name.as_str()).collect();
        let mut sorted = order.clone();
        sorted.sort();
        assert_eq!(order, sorted, "arrival order within a suite is kept");
        let b_cases = (0..(CHUNK_CASES + 5)).filter(|i| i % 100 == 0).count();
        assert_eq!(report.test_suites[1].failures, b_cases);
    }

    #[test]
    fn an_interrupted_run_is_an_error_in_junit() {
        let xml = write(&[pass_case("geo", "a")], Some(StopReason::Interrupted));
        let report = Report::deserialize_from_str(&xml).unwrap();
        assert_eq!((report.tests, report.errors), (2, 1), "{xml}");
        let marker = find(&report, "evalgate", "run interrupted");
        match &marker.status {
            TestCaseStatus::NonSuccess { kind, message, .. } => {
                assert_eq!(*kind, NonSuccessKind::Error);
                assert!(
                    message.as_ref().unwrap().as_str().contains("did not run"),
                    "{xml}"
                );
            }
            other => panic!("not an error: {other:?}"),
        }
        assert!(xml.contains(r#"<property name="not_run" value="#), "{xml}");
        // Not interrupted: no marker.
        let xml = write(&[pass_case("geo", "a")], None);
        assert!(!xml.contains("run interrupted"), "{xml}");
    }

    #[test]
    fn empty_run_and_hostile_names() {
        let xml = write(&[], None);
        let report = Report::deserialize_from_str(&xml).unwrap();
        assert_eq!(report.tests, 0);
        assert!(report.test_suites.is_empty());

        let mut c = fail_case("we<i>rd \"&' suite", "case]]>\u{1b}[31m");
        c.attempts[0].output = Some("<b>&</b>]]> \u{0}".into());
        let xml = write(&[c], None);
        let report = Report::deserialize_from_str(&xml).unwrap();
        let suite = &report.test_suites[0];
        assert_eq!(suite.name.as_str(), "we<i>rd \"&' suite");
        assert_eq!(suite.test_cases[0].name.as_str(), "case]]>");
        assert_eq!(
            suite.test_cases[0]
                .system_out
                .as_ref()
                .unwrap()
                .as_str()
                .trim_end(),
            "<b>&</b>]]>"
        );
    }

    #[test]
    fn large_output_is_truncated() {
        let mut c = pass_case("geo", "big");
        c.attempts[0].output = Some("é".repeat(MAX_SYSTEM_OUT));
        let xml = write(&[c], None);
        let report = Report::deserialize_from_str(&xml).unwrap();
        let out = report.test_suites[0].test_cases[0]
            .system_out
            .as_ref()
            .unwrap();
        assert!(out.as_str().len() < MAX_SYSTEM_OUT + 100);
        assert!(out.as_str().ends_with(&format!(
            "(truncated: {MAX_SYSTEM_OUT} of {} bytes shown)",
            2 * MAX_SYSTEM_OUT
        )));
    }

    #[test]
    fn unwritable_location_fails_at_create() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("file");
        std::fs::write(&file, "x").unwrap();
        let err = JunitReporter::create(&file.join("junit.xml"))
            .err()
            .unwrap();
        assert_eq!(err.exit_code(), crate::exit::INFRASTRUCTURE);
    }

    #[test]
    fn escapes_attributes() {
        assert_eq!(
            escape_attr("a<b>&\"'\n"),
            "a&lt;b&gt;&amp;&quot;&apos;&#10;"
        );
        assert_eq!(
            truncate_bytes("héllo", 2),
            "h\n… (truncated: 1 of 6 bytes shown)"
        );
    }

    #[test]
    fn characters_xml_forbids_are_replaced() {
        let mut c = fail_case("geo", "capital");
        c.attempts[0].output = Some("a\u{FFFE}b\u{FFFF}c\u{1}d\u{1F600}\te".into());
        c.attempts[0].checks[0].message = "bad \u{FFFF} message".into();
        let xml = write(&[c], None);
        assert!(!xml.contains('\u{FFFE}') && !xml.contains('\u{FFFF}') && !xml.contains('\u{1}'));
        assert!(xml.contains("a\u{FFFD}b\u{FFFD}c"), "{xml}");
        assert!(xml.contains('\u{1F600}'));
        assert!(xml.chars().all(xml_allows));
        Report::deserialize_from_str(&xml).unwrap();
    }
}

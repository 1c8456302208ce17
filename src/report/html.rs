//! HTML report: one self-contained page (no network, no CDN, no fonts),
//! readable offline and as a CI artifact.
//!
//! Memory stays flat: each case is reduced to what the page shows (ids,
//! outcome, latencies, cost, the explanation and diffs of a case that did
//! not pass, an excerpt of the output), serialized as JSON and appended to
//! an anonymous temporary file beside the report as it arrives. On
//! `Finished` the page is written into the [`AtomicFile`]:
//!
//! ```text
//! <head> style (page.css) </head>
//! <body> the summary, rendered here (readable without JavaScript)
//!   <script type="application/json" id="evalgate-data">
//!     {"schema":"evalgate.html","version":1,"run":…,"summary":…,"verdict":…,
//!      "comparison":…,"cases":[ …the spool, copied… ]}
//!   </script>
//!   <script> page.js: filters, search, the case list (paged), diffs,
//!            baseline comparison, providers side by side, latency charts </script>
//! </body>
//! ```
//!
//! The embedded JSON is made safe for a `<script>` element by
//! [`escape_script_json`]: `<`, `>`, `&`, U+2028 and U+2029 become `\u`
//! escapes, so no string can close the element (`</script>`) or open a
//! comment. The page's Content-Security-Policy allows no network at all and
//! only its own style and script (by hash).

use std::fs::File;
use std::io::{self, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use base64::Engine as _;
use chrono::{SecondsFormat, Utc};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::compare::Comparison;
use crate::error::Error;
use crate::event::RunEvent;
use crate::model::{
    AttemptResult, CaseResult, Counts, Outcome, RunInfo, StopReason, Summary, Verdict,
};
use crate::report::{explain, AtomicFile, Reporter};
use crate::util::fmt::{duration_ms, plural};
use crate::util::text::truncate_chars;

/// The page's style sheet and script, embedded in every report.
const CSS: &str = include_str!("html/page.css");
const JS: &str = include_str!("html/page.js");

/// `schema` and `version` of the embedded data.
const DATA_SCHEMA: &str = "evalgate.html";
const DATA_VERSION: u32 = 1;

/// How much of an attempt's output a case keeps (characters).
const OUTPUT_CHARS: usize = 2000;

/// Diffs kept per case (of its failed checks).
const MAX_DIFFS: usize = 5;

/// Checks whose expected value is a text the output should equal: a failed
/// one gets a diff from that text to the output (golden checks carry their own).
const DIFFED_KINDS: &[&str] = &["equals", "levenshtein"];

/// Longest explanation kept per case (characters).
const DETAILS_CHARS: usize = 8000;

/// A case as the page shows it.
#[derive(Serialize)]
struct CaseRow<'a> {
    seq: u64,
    id: &'a str,
    suite: &'a str,
    case: &'a str,
    provider: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    variant: Option<&'a str>,
    tags: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<&'a str>,
    outcome: Outcome,
    flaky: bool,
    passes: u32,
    repeats: u32,
    source: &'a str,
    /// Mean attempt score.
    score: f64,
    /// Latencies (ms) of this run's answers, one per attempt (errors and
    /// answers from the cache or a cassette are not samples).
    latencies: Vec<f64>,
    /// Attempts answered from the cache or a cassette.
    #[serde(skip_serializing_if = "is_zero")]
    recorded: u32,
    /// Sum over attempts; absent when no attempt's cost is known.
    #[serde(skip_serializing_if = "Option::is_none")]
    cost_usd: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    model: Option<&'a str>,
    /// One line: why it did not pass (or what went wrong in a flaky pass).
    #[serde(skip_serializing_if = "Option::is_none")]
    message: Option<String>,
    /// Every failed check with its expected and actual values.
    #[serde(skip_serializing_if = "Option::is_none")]
    details: Option<String>,
    /// Unified diffs of failed checks: from the golden or expected value to the output.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    diffs: Vec<DiffRow>,
    /// The explained attempt's output (the first one's when it passed), cut.
    #[serde(skip_serializing_if = "Option::is_none")]
    output: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    attack: Option<AttackRow<'a>>,
}

#[derive(Serialize)]
struct DiffRow {
    check: String,
    diff: String,
}

#[derive(Serialize)]
struct AttackRow<'a> {
    category: &'a str,
    owasp: &'a [String],
    seed: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    mutator: Option<&'a str>,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// The embedded data around the cases.
#[derive(Serialize)]
struct Head<'a> {
    schema: &'static str,
    version: u32,
    run: Option<&'a RunInfo>,
    summary: &'a Summary,
    verdict: &'a Verdict,
    stopped: Option<StopReason>,
    duration_ms: f64,
    finished_at: String,
    comparison: Option<&'a Comparison>,
}

/// The attempt a case's explanation is about: the first with the case's
/// outcome when it did not pass, else the first that did not pass.
fn explained_attempt(case: &CaseResult) -> Option<&AttemptResult> {
    if case.outcome != Outcome::Pass {
        if let Some(a) = case.attempts.iter().find(|a| a.outcome == case.outcome) {
            return Some(a);
        }
    }
    case.first_bad_attempt()
}

fn diffs_of(attempt: &AttemptResult) -> Vec<DiffRow> {
    attempt
        .checks
        .iter()
        .filter(|c| !c.passed)
        .filter_map(|c| {
            let diff = match (&c.diff, &c.expected, &c.actual) {
                (Some(d), _, _) => d.clone(),
                (None, Some(e), Some(a))
                    if e != a && !c.negated && DIFFED_KINDS.contains(&c.kind.as_str()) =>
                {
                    let d = crate::golden::diff::unified(e, a);
                    match d.strip_prefix("--- golden\n+++ output\n") {
                        Some(rest) => format!("--- expected\n+++ actual\n{rest}"),
                        None => d,
                    }
                }
                _ => return None,
            };
            (!diff.is_empty()).then(|| DiffRow {
                check: c.name.clone(),
                diff,
            })
        })
        .take(MAX_DIFFS)
        .collect()
}

fn case_row(case: &CaseResult) -> CaseRow<'_> {
    let troubled = case.outcome != Outcome::Pass || case.flaky;
    let explained = explained_attempt(case);
    let shown = explained.or(case.attempts.first());
    let mut cost: Option<f64> = None;
    for a in &case.attempts {
        if let Some(c) = a.cost_usd {
            cost = Some(cost.unwrap_or(0.0) + c);
        }
    }
    let scores = case.attempts.iter().map(|a| a.score);
    let score = if case.attempts.is_empty() {
        0.0
    } else {
        scores.sum::<f64>() / case.attempts.len() as f64
    };
    CaseRow {
        seq: case.seq,
        id: &case.id,
        suite: &case.suite,
        case: &case.case,
        provider: &case.provider,
        variant: case.variant.as_deref(),
        tags: &case.tags,
        description: case.description.as_deref(),
        outcome: case.outcome,
        flaky: case.flaky,
        passes: case.passes,
        repeats: case.repeats,
        source: &case.source,
        score,
        latencies: case
            .attempts
            .iter()
            .filter(|a| a.outcome != Outcome::Error && !a.timing.recorded)
            .map(|a| (a.timing.latency_ms * 1000.0).round() / 1000.0)
            .collect(),
        recorded: case
            .attempts
            .iter()
            .filter(|a| a.outcome != Outcome::Error && a.timing.recorded)
            .count() as u32,
        cost_usd: cost,
        model: shown.and_then(|a| a.model.as_deref()),
        message: troubled.then(|| explain::failure_message(case)),
        details: troubled.then(|| {
            // Diffs are shown beside the explanation, not inside it.
            let text = explain::failure_details_with(case, &|_| String::new());
            truncate_chars(&text, DETAILS_CHARS)
        }),
        diffs: if troubled {
            explained.map(diffs_of).unwrap_or_default()
        } else {
            Vec::new()
        },
        output: shown
            .and_then(|a| a.output.as_deref())
            .map(|o| truncate_chars(o, OUTPUT_CHARS)),
        attack: case.attack.as_deref().map(|a| AttackRow {
            category: &a.category,
            owasp: &a.owasp,
            seed: &a.seed,
            mutator: a.mutator.as_deref(),
        }),
    }
}

/// Append `json` to `dst` made safe inside a `<script>` element: `<`, `>`
/// and `&` (so no `</script>` or `<!--`), U+2028 and U+2029 (line
/// terminators to old JavaScript parsers) become `\u` escapes. These
/// characters only occur inside JSON strings, where the escapes mean the
/// same characters.
pub(crate) fn escape_script_json(json: &[u8], dst: &mut Vec<u8>) {
    let mut i = 0;
    let mut from = 0;
    while i < json.len() {
        let esc: Option<(&[u8], usize)> = match json[i] {
            b'<' => Some((b"\\u003c", 1)),
            b'>' => Some((b"\\u003e", 1)),
            b'&' => Some((b"\\u0026", 1)),
            0xE2 if json.get(i + 1) == Some(&0x80) => match json.get(i + 2) {
                Some(0xA8) => Some((b"\\u2028", 3)),
                Some(0xA9) => Some((b"\\u2029", 3)),
                _ => None,
            },
            _ => None,
        };
        match esc {
            Some((rep, len)) => {
                dst.extend_from_slice(&json[from..i]);
                dst.extend_from_slice(rep);
                i += len;
                from = i;
            }
            None => i += 1,
        }
    }
    dst.extend_from_slice(&json[from..]);
}

/// Serialize `value` as JSON safe inside a `<script>` element.
fn script_json<T: Serialize>(
    value: &T,
    scratch: &mut Vec<u8>,
    dst: &mut Vec<u8>,
) -> io::Result<()> {
    scratch.clear();
    serde_json::to_writer(&mut *scratch, value)?;
    escape_script_json(scratch, dst);
    Ok(())
}

/// Escape text for HTML element content and quoted attribute values.
/// Control characters other than newline and tab are shown as their
/// Unicode control pictures (`␛` for ESC), as the page's script does.
pub(crate) fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '\n' | '\t' => out.push(c),
            c if (c as u32) < 0x20 => {
                out.push(char::from_u32(0x2400 + c as u32).unwrap_or('\u{FFFD}'))
            }
            '\u{7f}' => out.push('\u{2421}'),
            c if c.is_control() => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

/// `sha256-…` of a script or style, for the Content-Security-Policy.
fn csp_hash(text: &str) -> String {
    let digest = Sha256::digest(text.as_bytes());
    format!(
        "'sha256-{}'",
        base64::engine::general_purpose::STANDARD.encode(digest)
    )
}

/// Writes the HTML report; see the module documentation.
pub(crate) struct HtmlReporter {
    path: PathBuf,
    /// None once committed.
    out: Option<AtomicFile>,
    info: Option<RunInfo>,
    /// The cases' JSON, comma-separated, in arrival order.
    spool: BufWriter<File>,
    cases: u64,
    scratch: Vec<u8>,
    escaped: Vec<u8>,
}

impl HtmlReporter {
    /// Open the report file now, so an unwritable location fails before the run.
    pub(crate) fn create(path: &Path) -> Result<Self, Error> {
        let out = AtomicFile::create(path)?;
        let dir = crate::util::path::dir_of(path);
        let spool = tempfile::tempfile_in(&dir).map_err(|e| Error::output(path, e))?;
        Ok(HtmlReporter {
            path: path.to_path_buf(),
            out: Some(out),
            info: None,
            spool: BufWriter::with_capacity(256 << 10, spool),
            cases: 0,
            scratch: Vec::new(),
            escaped: Vec::new(),
        })
    }

    fn case_finished(&mut self, case: &CaseResult) -> io::Result<()> {
        self.escaped.clear();
        if self.cases > 0 {
            self.escaped.extend_from_slice(b",\n");
        }
        script_json(&case_row(case), &mut self.scratch, &mut self.escaped)?;
        self.spool.write_all(&self.escaped)?;
        self.cases += 1;
        Ok(())
    }

    fn finished(&mut self, end: End<'_>) -> io::Result<()> {
        let Some(out) = self.out.as_mut() else {
            return Ok(());
        };
        let head = Head {
            schema: DATA_SCHEMA,
            version: DATA_VERSION,
            run: self.info.as_ref(),
            summary: end.summary,
            verdict: end.verdict,
            stopped: end.stopped,
            duration_ms: end.duration_ms,
            finished_at: Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true),
            comparison: end.comparison,
        };
        let mut data = Vec::new();
        script_json(&head, &mut self.scratch, &mut data)?;
        // Reopen the object to append the cases.
        if data.last() == Some(&b'}') {
            data.pop();
        }
        data.extend_from_slice(b",\"cases\":[\n");

        let title = format!(
            "evalgate: {} ({} case{})",
            if end.verdict.passed {
                "passed"
            } else {
                "failed"
            },
            end.summary.overall.total,
            plural(end.summary.overall.total as usize)
        );
        let mut page = String::with_capacity(CSS.len() + 16 * 1024);
        page.push_str("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
        page.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n");
        page.push_str(&format!(
            "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src {}; script-src {}\">\n",
            csp_hash(CSS),
            csp_hash(JS)
        ));
        page.push_str(&format!("<title>{}</title>\n<style>", esc(&title)));
        page.push_str(CSS);
        page.push_str("</style>\n</head>\n<body>\n");
        static_summary(&mut page, self.info.as_ref(), &end);
        page.push_str("<script type=\"application/json\" id=\"evalgate-data\">");
        out.write_all(page.as_bytes())?;
        out.write_all(&data)?;
        self.spool.flush()?;
        let spool = self.spool.get_mut();
        spool.seek(SeekFrom::Start(0))?;
        io::copy(&mut (&mut *spool).take(u64::MAX), out)?;
        out.write_all(b"\n]}</script>\n<script>")?;
        out.write_all(JS.as_bytes())?;
        out.write_all(b"</script>\n</body>\n</html>\n")
    }
}

/// What `Finished` carries.
struct End<'a> {
    summary: &'a Summary,
    verdict: &'a Verdict,
    stopped: Option<StopReason>,
    duration_ms: f64,
    comparison: Option<&'a Comparison>,
}

fn count_cell(page: &mut String, class: &str, label: &str, n: u64) {
    page.push_str(&format!(
        "<div class=\"count {class}\"><span class=\"n\" data-count=\"{class}\">{n}</span> <span class=\"label\">{label}</span></div>\n"
    ));
}

fn rate_text(c: &Counts) -> String {
    let mut c = *c;
    if c.pass_rate_ci95.is_none() {
        c.set_interval();
    }
    c.pass_rate_text().unwrap_or_else(|| "–".to_string())
}

/// The summary every reader sees, with or without JavaScript: the verdict
/// with its reasons, the counts, the run's facts and a table per suite.
fn static_summary(page: &mut String, info: Option<&RunInfo>, end: &End<'_>) {
    let v = end.verdict;
    let o = &end.summary.overall;
    page.push_str("<header class=\"top\">\n<h1>evalgate report</h1>\n");
    if let Some(info) = info {
        let mut facts = vec![
            format!("started {}", info.started_at),
            format!("evalgate {}", info.evalgate_version),
        ];
        if let Some(c) = &info.git_commit {
            facts.push(format!(
                "commit {}",
                truncate_chars(c, 12).trim_end_matches('…')
            ));
        }
        if !info.providers.is_empty() {
            facts.push(format!(
                "provider{} {}",
                if info.providers.len() == 1 { "" } else { "s" },
                info.providers.join(", ")
            ));
        }
        facts.push(format!("wall time {}", duration_ms(end.duration_ms)));
        page.push_str(&format!(
            "<p class=\"meta\">{}</p>\n",
            esc(&facts.join(" · "))
        ));
    }
    page.push_str("</header>\n<nav class=\"sections\" aria-label=\"Sections\" id=\"nav\"><a href=\"#summary\">Summary</a> <a href=\"#cases\">Cases</a></nav>\n");
    page.push_str("<main>\n<section id=\"summary\" aria-labelledby=\"summary-h\">\n<h2 id=\"summary-h\">Summary</h2>\n");
    let (class, word) = if v.passed {
        ("verdict pass", "Gate passed")
    } else {
        ("verdict fail", "Gate failed")
    };
    page.push_str(&format!(
        "<div class=\"{class}\" id=\"verdict\" role=\"status\"><strong>{word}</strong> (exit code {})",
        v.exit_code
    ));
    if !v.reasons.is_empty() {
        page.push_str("<ul class=\"reasons\">");
        for r in &v.reasons {
            page.push_str(&format!("<li>{}</li>", esc(r)));
        }
        page.push_str("</ul>");
    }
    if !v.warnings.is_empty() {
        page.push_str("<ul class=\"warnings\">");
        for w in &v.warnings {
            page.push_str(&format!("<li>warning: {}</li>", esc(w)));
        }
        page.push_str("</ul>");
    }
    page.push_str("</div>\n");
    if let Some(stop) = end.stopped {
        let why = match stop {
            StopReason::Interrupted => "the run was interrupted",
            StopReason::FailFast => "the run stopped at the first failure (--fail-fast)",
            StopReason::Budget => "the run stopped at its budget (max_cost)",
        };
        page.push_str(&format!(
            "<p class=\"stopped\" id=\"stopped\">Stopped early: {why}; {} planned case{} did not run.</p>\n",
            end.summary.not_run,
            plural(end.summary.not_run as usize)
        ));
    }
    page.push_str("<div class=\"counts\" id=\"counts\">\n");
    count_cell(page, "total", "cases", o.total);
    count_cell(page, "pass", "passed", o.passed);
    count_cell(page, "fail", "failed", o.failed);
    count_cell(page, "error", "errors", o.errored);
    count_cell(page, "skipped", "skipped", o.skipped);
    count_cell(page, "flaky", "flaky", o.flaky);
    if end.summary.not_run > 0 {
        count_cell(page, "not-run", "not run", end.summary.not_run);
    }
    page.push_str("</div>\n");
    page.push_str(&format!(
        "<p class=\"rate\">Pass rate: <strong id=\"pass-rate\">{}</strong> (passed ÷ (passed + failed), with its 95% interval); cost {}.</p>\n",
        esc(&rate_text(o)),
        esc(&o.cost_text())
    ));
    page.push_str("<table class=\"grid\" id=\"suite-table\"><caption>Per suite</caption>\n<thead><tr><th scope=\"col\">suite</th><th scope=\"col\">cases</th><th scope=\"col\">passed</th><th scope=\"col\">failed</th><th scope=\"col\">errors</th><th scope=\"col\">skipped</th><th scope=\"col\">flaky</th><th scope=\"col\">pass rate</th></tr></thead>\n<tbody>\n");
    for (name, c) in &end.summary.suites {
        page.push_str(&format!(
            "<tr><th scope=\"row\">{}</th><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>\n",
            esc(name),
            c.total,
            c.passed,
            c.failed,
            c.errored,
            c.skipped,
            c.flaky,
            esc(&rate_text(c))
        ));
    }
    page.push_str("</tbody></table>\n</section>\n");
    page.push_str("<noscript><p class=\"noscript\">The case list, filters, diffs and charts need JavaScript; the summary above does not. Every case is also in the JSON report (<code>--json</code>).</p></noscript>\n");
    page.push_str("<div id=\"app\"></div>\n</main>\n");
}

impl Reporter for HtmlReporter {
    fn on_event(&mut self, event: &RunEvent<'_>) -> Result<(), Error> {
        if self.out.is_none() {
            return Ok(());
        }
        match event {
            RunEvent::Started(info) => {
                self.info = Some((*info).clone());
                Ok(())
            }
            RunEvent::AttemptStarted(_)
            | RunEvent::AttemptRetried { .. }
            | RunEvent::AttemptFinished { .. } => Ok(()),
            RunEvent::CaseFinished(case) => self
                .case_finished(case)
                .map_err(|e| Error::output(&self.path, e)),
            RunEvent::Finished {
                summary,
                verdict,
                stopped,
                duration_ms,
                comparison,
            } => {
                let end = End {
                    summary,
                    verdict,
                    stopped: *stopped,
                    duration_ms: *duration_ms,
                    comparison: *comparison,
                };
                self.finished(end)
                    .map_err(|e| Error::output(&self.path, e))?;
                match self.out.take() {
                    Some(out) => out.commit(),
                    None => Ok(()),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::explain::fixtures::*;

    fn escaped(s: &str) -> String {
        let mut out = Vec::new();
        escape_script_json(s.as_bytes(), &mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn script_json_escapes_what_could_end_the_element() {
        let hostile = "</script><script>alert(1)</script><!-- & \u{2028}\u{2029} \u{1b}[31mred\u{1b}[0m \u{0}\u{7} é 日本 \u{1F600}";
        let json = serde_json::to_string(&hostile).unwrap();
        let out = escaped(&json);
        for bad in ["<", ">", "&", "\u{2028}", "\u{2029}"] {
            assert!(!out.contains(bad), "{bad:?} left in {out}");
        }
        assert!(!out.to_ascii_lowercase().contains("</script"));
        assert!(out.contains(r"\u003c/script\u003e"), "{out}");
        assert!(out.contains(r"\u2028\u2029"), "{out}");
        // Still JSON, meaning the same string (other characters untouched).
        let back: String = serde_json::from_str(&out).unwrap();
        assert_eq!(back, hostile);
        assert!(out.contains("é 日本 \u{1F600}"));
        // Characters near the escaped ones are left alone: U+2027 and U+202A.
        assert_eq!(escaped("\"\u{2027}\u{202A}\""), "\"\u{2027}\u{202A}\"");
        assert_eq!(escaped(""), "");
        assert_eq!(escaped("<"), r"\u003c");
    }

    #[test]
    fn html_text_is_escaped_and_control_characters_shown() {
        assert_eq!(
            esc("<b a=\"x\">&'\u{1b}[31m\u{0}\u{7f}\n"),
            "&lt;b a=&quot;x&quot;&gt;&amp;&#39;\u{241b}[31m\u{2400}\u{2421}\n"
        );
    }

    fn write(cases: &[CaseResult], stopped: Option<StopReason>) -> String {
        write_report(
            "out/report.html",
            HtmlReporter::create,
            cases,
            &failed_verdict(),
            stopped,
        )
    }

    /// The JSON between the data element's tags.
    fn data_of(page: &str) -> serde_json::Value {
        let start = page
            .find("<script type=\"application/json\" id=\"evalgate-data\">")
            .unwrap();
        let rest = &page[start..];
        let open = rest.find('>').unwrap() + 1;
        let close = rest.find("</script>").unwrap();
        serde_json::from_str(&rest[open..close]).unwrap()
    }

    #[test]
    fn hostile_strings_stay_inside_the_data_element() {
        let mut cases = all_kinds();
        let hostile =
            "</script><script>alert('x')</script><img src=x onerror=alert(1)> \u{1b}[31m\u{2028}";
        cases[1].attempts[0].output = Some(hostile.into());
        cases[1].attempts[0].checks[0].message = hostile.into();
        cases[1].description = Some(hostile.into());
        let mut verdict = failed_verdict();
        verdict.reasons.push(hostile.into());
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("report.html");
        let mut r = HtmlReporter::create(&path).unwrap();
        run(&mut r, &run_info(&["geo", "math"]), &cases, &verdict, None).unwrap();
        let page = std::fs::read_to_string(&path).unwrap();
        // Two script elements: the data and the page's script; nothing else opens one.
        assert_eq!(page.matches("<script").count(), 2, "{page}");
        assert_eq!(page.matches("</script>").count(), 2);
        assert!(!page.contains("<img"));
        assert!(page.contains("&lt;/script&gt;&lt;script&gt;alert(&#39;x&#39;)"));
        let data = data_of(&page);
        assert_eq!(data["cases"][1]["output"], hostile);
        assert_eq!(data["cases"][1]["description"], hostile);
        assert_eq!(data["cases"].as_array().unwrap().len(), cases.len());
    }

    #[test]
    fn the_page_is_self_contained() {
        let page = write(&all_kinds(), None);
        // The SVG namespace is a name, not an address the page loads.
        let page = page.replace("'http://www.w3.org/2000/svg'", "SVG_NS");
        for external in ["http://", "https://", "src=", "<link", "@import", "url("] {
            assert!(!page.contains(external), "{external} in the page");
        }
        assert!(page.contains("default-src 'none'"));
        // The summary is HTML before any script: it reads without JavaScript.
        let before_scripts = &page[..page.find("<script").unwrap()];
        for count in [
            r#"data-count="total">6<"#,
            r#"data-count="fail">2<"#,
            r#"data-count="error">1<"#,
            r#"data-count="flaky">2<"#,
        ] {
            assert!(before_scripts.contains(count), "{count}");
        }
        assert!(before_scripts.contains("2 cases failed (max_failures 0)"));
        assert!(before_scripts.contains("<th scope=\"row\">math</th>"));
        let data = data_of(&page);
        assert_eq!(data["schema"], "evalgate.html");
        assert_eq!(data["summary"]["overall"]["total"], 6);
        assert_eq!(data["verdict"]["exit_code"], 1);
        // The script's hash in the policy is the script's.
        assert!(page.contains(&csp_hash(JS)));
    }

    #[test]
    fn failures_carry_explanations_and_diffs() {
        let mut cases = all_kinds();
        let check = &mut cases[1].attempts[0].checks[0];
        check.kind = "equals".into();
        check.name = "equals".into();
        check.expected = Some("Paris\nis the capital".into());
        check.actual = Some("Lyon\nis the capital".into());
        let page = write(&cases, None);
        let data = data_of(&page);
        let fail = &data["cases"][1];
        assert_eq!(fail["outcome"], "fail");
        assert!(
            fail["message"].as_str().unwrap().contains("check"),
            "{fail}"
        );
        let diff = fail["diffs"][0]["diff"].as_str().unwrap();
        assert!(diff.starts_with("--- expected\n+++ actual\n"), "{diff}");
        assert!(diff.contains("-Paris\n+Lyon\n"), "{diff}");
        // A `contains` check's expected text is not a text to diff against.
        assert_eq!(fail["diffs"].as_array().unwrap().len(), 1, "{fail}");
        let pass = &data["cases"][2];
        assert_eq!(pass["outcome"], "pass");
        assert!(pass.get("message").is_none());
        assert!(pass.get("diffs").is_none());
    }

    #[test]
    fn an_interrupted_run_says_so_without_javascript() {
        let page = write(&[pass_case("geo", "rome")], Some(StopReason::Interrupted));
        assert!(
            page.contains("Stopped early: the run was interrupted"),
            "{page}"
        );
        assert!(page.contains("Gate failed"));
    }

    #[test]
    fn nothing_is_written_before_finished() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("report.html");
        let mut r = HtmlReporter::create(&path).unwrap();
        let info = run_info(&["geo"]);
        r.on_event(&RunEvent::Started(&info)).unwrap();
        let c = pass_case("geo", "rome");
        r.on_event(&RunEvent::CaseFinished(&c)).unwrap();
        assert!(!path.exists());
    }
}

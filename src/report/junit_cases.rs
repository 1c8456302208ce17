//! `<testcase>` elements written directly, byte for byte as quick-junit
//! serializes them inside a report (its indentation, attribute order and
//! escaping, and its `XmlString` cleaning: ANSI escapes and control
//! characters removed). quick-junit builds a tree and cleans every string
//! through a terminal parser; here the common string, plain printable text,
//! is recognised with one pass over its bytes and copied as it is, and only
//! the rest goes through the same cleaning. The tests in `junit.rs` compare
//! both writers on every kind of case and on hostile strings.

use std::borrow::Cow;
use std::fmt::Write as _;
use std::time::{Duration, SystemTime};

use chrono::{DateTime, Datelike, Timelike, Utc};

use crate::model::{AttemptResult, CaseResult, Outcome};
use crate::report::explain;
use crate::util::swar;

/// What a test case counts as in the `<testsuite>` tallies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Status {
    Success,
    Failure,
    Error,
    Skipped,
}

/// `s` as quick-junit's `XmlString::new` keeps it (ANSI escape sequences
/// and control characters other than a line feed removed), with the
/// characters XML 1.0 forbids that this leaves (U+FFFE, U+FFFF) replaced by
/// U+FFFD, so every string the report carries is well-formed XML as it is.
pub(super) fn clean(s: &str) -> Cow<'_, str> {
    if plain(s) {
        return Cow::Borrowed(s);
    }
    let stripped = strip_ansi_escapes::strip_str(s);
    Cow::Owned(
        stripped
            .replace(
                |c| matches!(c, '\x00'..='\x08' | '\x0b' | '\x0c' | '\x0e'..='\x1f'),
                "",
            )
            .replace(['\u{FFFE}', '\u{FFFF}'], "\u{FFFD}"),
    )
}

/// Text the terminal parser prints unchanged and XML allows: printable
/// ASCII, line feeds, and characters from U+00A0 up (no C0 or C1 control,
/// no DEL), U+FFFE and U+FFFF excepted.
fn plain(s: &str) -> bool {
    let b = s.as_bytes();
    b.iter().enumerate().all(|(i, &c)| match c {
        0x20..=0x7e | b'\n' => true,
        0x00..=0x7f => false,
        // U+0080..U+009F are encoded C2 80..C2 9F.
        0xC2 => !b.get(i + 1).is_some_and(|n| (0x80..0xA0).contains(n)),
        // U+FFFE and U+FFFF are EF BF BE and EF BF BF.
        0xEF => !(b.get(i + 1) == Some(&0xBF) && matches!(b.get(i + 2), Some(0xBE | 0xBF))),
        _ => true,
    })
}

/// Whether `s` is printable ASCII without `<`, `>`, `&`, `'` or `"`: text
/// that cleaning and escaping leave as it is (most names and values),
/// checked eight bytes at a time.
fn ordinary(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    while let Some(w) = swar::word_at(b, i) {
        if swar::has_below(w, 0x20)
            || swar::has_high(w)
            || [b'<', b'>', b'&', b'\'', b'"', 0x7f]
                .iter()
                .any(|&c| swar::has_byte(w, c))
        {
            return false;
        }
        i += 8;
    }
    b[i..]
        .iter()
        .all(|&c| (0x20..0x7f).contains(&c) && !matches!(c, b'<' | b'>' | b'&' | b'\'' | b'"'))
}

/// Append `s` cleaned and escaped as quick-xml escapes text and attribute
/// values (`<`, `>`, `&`, `'`, `"`).
fn push_escaped(out: &mut String, s: &str) {
    if ordinary(s) {
        out.push_str(s);
    } else {
        push_cleaned_and_escaped(out, s);
    }
}

fn push_cleaned_and_escaped(out: &mut String, s: &str) {
    let s = clean(s);
    let mut last = 0;
    for (i, b) in s.bytes().enumerate() {
        let rep = match b {
            b'<' => "&lt;",
            b'>' => "&gt;",
            b'&' => "&amp;",
            b'\'' => "&apos;",
            b'"' => "&quot;",
            _ => continue,
        };
        out.push_str(&s[last..i]);
        out.push_str(rep);
        last = i + 1;
    }
    out.push_str(&s[last..]);
}

fn attr(out: &mut String, name: &str, value: &str) {
    out.push(' ');
    out.push_str(name);
    out.push_str("=\"");
    push_escaped(out, value);
    out.push('"');
}

fn property(out: &mut String, name: &str, value: &str) {
    out.push_str("\n                <property");
    attr(out, "name", name);
    attr(out, "value", value);
    out.push_str("/>");
}

/// A time attribute as quick-junit writes a `Duration`: seconds, 3 decimals.
fn time_attr(out: &mut String, ms: f64) {
    let secs = duration_of(ms).as_secs_f64();
    match common_fixed3(secs) {
        Some(text) => {
            out.push_str(" time=\"");
            out.push_str(text);
            out.push('"');
        }
        None => {
            let _ = write!(out, " time=\"{secs:.3}\"");
        }
    }
}

/// `format!("{v:.3}")` for the values most cases have (a score of 0 or 1,
/// a time under half a millisecond), without the float formatter.
fn common_fixed3(v: f64) -> Option<&'static str> {
    // 0.0005 as a double is a little above 0.0005: anything below it
    // rounds down to 0.000.
    if v.to_bits() == 0 || (v > 0.0 && v < 0.0005) {
        Some("0.000")
    } else if v == 1.0 {
        Some("1.000")
    } else {
        None
    }
}

pub(super) fn duration_of(ms: f64) -> Duration {
    if ms.is_finite() && ms > 0.0 {
        Duration::from_secs_f64(ms / 1000.0)
    } else {
        Duration::ZERO
    }
}

/// `2026-01-02T03:04:05.678+00:00`, as `%Y-%m-%dT%H:%M:%S%.3f%:z` formats a
/// UTC time.
fn timestamp_attr(out: &mut String, t: SystemTime) {
    let d = DateTime::<Utc>::from(t);
    let _ = write!(
        out,
        " timestamp=\"{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}+00:00\"",
        d.year(),
        d.month(),
        d.day(),
        d.hour(),
        d.minute(),
        d.second(),
        (d.nanosecond() % 1_000_000_000) / 1_000_000
    );
}

/// `<failure message=… type=…>details</failure>` and its kin.
fn status_element(
    out: &mut String,
    tag: &str,
    message: &str,
    ty: &str,
    details: &str,
    ms: Option<f64>,
) {
    out.push_str("\n            <");
    out.push_str(tag);
    if let Some(ms) = ms {
        time_attr(out, ms);
    }
    attr(out, "message", message);
    attr(out, "type", ty);
    out.push('>');
    push_escaped(out, details);
    out.push_str("</");
    out.push_str(tag);
    out.push('>');
}

fn attack_properties(out: &mut String, case: &CaseResult) {
    if let Some(a) = &case.attack {
        property(out, "attack_category", &a.category);
        property(out, "owasp", &a.owasp.join(","));
        property(out, "attack_seed", &a.seed);
        if let Some(m) = &a.mutator {
            property(out, "attack_mutator", m);
        }
    }
}

/// The test cases of one case (one per attempt, or one for a skipped case)
/// appended to `out`, each starting on a new line; their statuses.
pub(super) fn write_case(
    out: &mut String,
    case: &CaseResult,
    group: &str,
    statuses: &mut Vec<Status>,
) {
    if case.outcome == Outcome::Skipped || case.attempts.is_empty() {
        statuses.push(case_level(out, case, group));
        return;
    }
    let n = (case.repeats as usize).max(case.attempts.len());
    for a in &case.attempts {
        statuses.push(attempt(out, case, a, n, group));
    }
}

fn case_level(out: &mut String, case: &CaseResult, group: &str) -> Status {
    out.push_str("\n        <testcase");
    attr(out, "name", &case.case);
    attr(out, "classname", group);
    out.push_str(">\n            <properties>");
    property(out, "provider", &case.provider);
    property(out, "source", &case.source);
    attack_properties(out, case);
    out.push_str("\n            </properties>");
    let status = match case.outcome {
        Outcome::Pass => Status::Success,
        Outcome::Skipped => {
            out.push_str("\n            <skipped");
            attr(
                out,
                "message",
                case.skip_reason.as_deref().unwrap_or("skipped"),
            );
            out.push_str("/>");
            Status::Skipped
        }
        Outcome::Fail | Outcome::Error => {
            let message = explain::failure_message(case);
            let (tag, ty, status) = if case.outcome == Outcome::Fail {
                ("failure", "check", Status::Failure)
            } else {
                ("error", "error", Status::Error)
            };
            status_element(out, tag, &message, ty, &message, None);
            status
        }
    };
    out.push_str("\n        </testcase>");
    status
}

fn attempt(
    out: &mut String,
    case: &CaseResult,
    a: &AttemptResult,
    n: usize,
    group: &str,
) -> Status {
    out.push_str("\n        <testcase");
    if n > 1 {
        attr(
            out,
            "name",
            &format!("{} [repeat {}/{}]", case.case, a.repeat, n),
        );
    } else {
        attr(out, "name", &case.case);
    }
    attr(out, "classname", group);
    if let Some(t) = a.timing.started_at {
        timestamp_attr(out, t);
    }
    time_attr(out, a.timing.latency_ms);
    out.push_str(">\n            <properties>");
    property(out, "provider", &case.provider);
    if let Some(model) = &a.model {
        property(out, "model", model);
    }
    property(out, "prompt_hash", &a.prompt_hash);
    match common_fixed3(a.score) {
        Some(text) => property(out, "score", text),
        None => property(out, "score", &format!("{:.3}", a.score)),
    }
    property(out, "source", &case.source);
    attack_properties(out, case);
    if a.retries > 0 {
        property(out, "retries", &a.retries.to_string());
    }
    if let Some(t) = a.timing.ttft_ms {
        property(out, "ttft_ms", &format!("{t:.1}"));
    }
    if let Some(c) = a.cost_usd {
        property(out, "cost_usd", &format!("{c:.6}"));
    }
    if let Some(c) = a.judge_cost_usd {
        property(out, "judge_cost_usd", &format!("{c:.6}"));
    }
    if let Some(p) = case.pass_k {
        property(out, "pass_at_k", &format!("{:.4}", p.pass_at_k));
        property(out, "pass_pow_k", &format!("{:.4}", p.pass_pow_k));
        property(out, "k", &p.k.to_string());
    }
    for call in &a.tool_calls {
        property(
            out,
            "tool_call",
            &format!("{}({})", call.name, call.arguments),
        );
    }
    out.push_str("\n            </properties>");
    let kind = match a.outcome {
        Outcome::Fail => Some(("failure", "flakyFailure", "check", Status::Failure)),
        Outcome::Error => Some(("error", "flakyError", "error", Status::Error)),
        Outcome::Pass | Outcome::Skipped => None,
    };
    let status = match (a.outcome, kind) {
        (Outcome::Skipped, _) => {
            out.push_str("\n            <skipped message=\"skipped\"/>");
            Status::Skipped
        }
        (_, Some((tag, flaky_tag, ty, status))) => {
            let mut message = explain::attempt_message(a);
            if let Some(note) = explain::repeats_note(case) {
                message = format!("{message}; case {note}");
            }
            let details = explain::attempt_details(case, a);
            if case.outcome == Outcome::Pass {
                // A bad repeat of a case that passed overall: flaky, not red.
                status_element(
                    out,
                    flaky_tag,
                    &message,
                    ty,
                    &details,
                    Some(a.timing.latency_ms),
                );
                Status::Success
            } else {
                status_element(out, tag, &message, ty, &details, None);
                status
            }
        }
        (_, None) => Status::Success,
    };
    if let Some(output) = &a.output {
        out.push_str("\n            <system-out>");
        push_escaped(
            out,
            &super::junit::truncate_bytes(output, super::junit::MAX_SYSTEM_OUT),
        );
        out.push_str("</system-out>");
    }
    out.push_str("\n        </testcase>");
    status
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinary_text_is_written_as_cleaning_and_escaping_would_write_it() {
        let alphabet: Vec<char> = "ab <>&'\"\n\t\u{1}\u{7f}\u{85}\u{fffe}é▶/"
            .chars()
            .collect();
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        let mut ordinary_seen = 0;
        for round in 0..4000 {
            let mut s = String::new();
            // Half the strings from plain letters only, so that long
            // ordinary runs and the eight-byte words are exercised.
            let plain = round % 2 == 0;
            for _ in 0..(x % 30) {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let c = if plain && x % 50 != 0 {
                    char::from(b'a' + (x % 26) as u8)
                } else {
                    alphabet[(x % alphabet.len() as u64) as usize]
                };
                s.push(c);
            }
            let (mut fast, mut slow) = (String::new(), String::new());
            push_escaped(&mut fast, &s);
            push_cleaned_and_escaped(&mut slow, &s);
            assert_eq!(fast, slow, "{s:?}");
            ordinary_seen += usize::from(ordinary(&s));
        }
        assert!(ordinary_seen > 1000, "{ordinary_seen}");
        assert!(ordinary("contains") && ordinary("1.000") && ordinary(""));
        assert!(!ordinary("a<b") && !ordinary("long enough text\nwith a newline"));
        assert!(!ordinary("caf\u{e9}") && !ordinary("twelve bytes\u{7f}"));
    }

    #[test]
    fn common_values_print_as_the_float_formatter_prints_them() {
        let below = f64::from_bits(0.0005f64.to_bits() - 1);
        let mut values = vec![
            0.0, -0.0, 1.0, 0.0005, below, 0.00049, 1e-300, 0.5, 0.9995, 2.0,
        ];
        values.extend((0..2000).map(|i| f64::from(i) * 1e-6));
        for v in values {
            if let Some(text) = common_fixed3(v) {
                assert_eq!(text, format!("{v:.3}"), "{v:e}");
            }
        }
        assert_eq!(common_fixed3(0.0005), None);
        assert_eq!(common_fixed3(-0.0), None);
        assert_eq!(common_fixed3(below), Some("0.000"));
    }
}

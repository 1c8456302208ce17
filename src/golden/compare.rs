//! Comparison modes for goldens. Redactions apply to both sides first, then:
//!
//! - `exact`: byte equality
//! - `normalized`: line endings, trailing whitespace, Unicode NFC, optional
//!   case folding and whitespace collapsing
//! - `json`: structural: key order ignored, numbers within a tolerance,
//!   selected paths ignored
//! - `similarity`: a text similarity ratio at or above a threshold
//! - `judge`: equal after normalizing, or a grader says the output says the
//!   same as the golden (the `golden` check asks it; see `check::judge`)
//!
//! Each mode also produces the two texts a diff is shown between, normalized
//! the same way, so the diff shows only differences that count.

use regex::Regex;
use serde_json::Value as Json;
use serde_json_path::JsonPath;
use unicode_normalization::UnicodeNormalization;

use crate::syntax::decode::Ctx;
use crate::syntax::node::Node;
use crate::util::json::canonical;
use crate::util::text::regex_error;

/// How outputs are compared with their golden.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Exact,
    Normalized,
    Json,
    Similarity,
    Judge,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Exact => "exact",
            Mode::Normalized => "normalized",
            Mode::Json => "json",
            Mode::Similarity => "similarity",
            Mode::Judge => "judge",
        }
    }
}

/// `regex → placeholder`, applied to both sides before comparing.
#[derive(Debug, Clone)]
pub struct Redaction {
    pub regex: Regex,
    pub with: String,
}

/// Golden check settings (per check, or a suite's `defaults.golden`).
#[derive(Debug, Clone)]
pub struct Settings {
    pub mode: Mode,
    pub ignore_case: bool,
    pub collapse_whitespace: bool,
    pub redactions: Vec<Redaction>,
    /// json: numbers equal within this absolute difference.
    pub tolerance: f64,
    /// json: paths whose values are not compared.
    pub ignore_paths: Vec<(String, JsonPath)>,
    /// similarity: minimum ratio in [0, 1].
    pub min_similarity: f64,
    /// One golden per provider: `golden/<suite>/<case>.<provider>.<ext>`.
    pub per_provider: bool,
    /// judge: the grader (`""`: the run's `judge_provider`) and where it is written.
    pub judge_provider: String,
    pub judge_pos: Option<crate::error::Pos>,
    /// judge: grades asked per comparison (majority decides).
    pub judge_samples: u32,
    /// One golden per prompt variant: `golden/<suite>/<case>@<variant>.<ext>`
    /// (`@` encoded in the file name as `%40`).
    pub per_variant: bool,
    /// json: compare the first JSON value of the output (in a code fence or
    /// the text), not the whole output. `None`: the suite's
    /// `defaults.extract_json` (resolved by the `golden` check's parser).
    pub extract: Option<bool>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            mode: Mode::Exact,
            ignore_case: false,
            collapse_whitespace: false,
            redactions: Vec::new(),
            tolerance: 1e-9,
            ignore_paths: Vec::new(),
            min_similarity: 0.9,
            per_provider: false,
            judge_provider: String::new(),
            judge_pos: None,
            judge_samples: 1,
            per_variant: false,
            extract: None,
        }
    }
}

/// The keys of a `redact:` item.
pub const REDACTION_KEYS: &[&str] = &["regex", "with"];

/// The keys of a `golden:` mapping.
pub const KEYS: &[&str] = &[
    "mode",
    "ignore_case",
    "collapse_whitespace",
    "redact",
    "tolerance",
    "ignore_paths",
    "min_similarity",
    "per_provider",
    "provider",
    "samples",
    "per_variant",
    "extract",
];

impl Settings {
    /// File extension of the golden.
    pub fn ext(&self) -> &'static str {
        if self.mode == Mode::Json {
            "json"
        } else {
            "txt"
        }
    }

    /// Parse a `golden:` mapping on top of `base`.
    pub fn parse(ctx: &mut Ctx<'_>, node: &Node, base: &Settings) -> Option<Settings> {
        let mut s = base.clone();
        let f = ctx.map(node, "`golden`", KEYS)?;
        if let Some(n) = f.get("mode") {
            let m = ctx.string(n, "`mode`")?;
            s.mode = match m.as_str() {
                "exact" => Mode::Exact,
                "normalized" => Mode::Normalized,
                "json" => Mode::Json,
                "similarity" => Mode::Similarity,
                "judge" => Mode::Judge,
                other => {
                    ctx.error(
                        n.pos,
                        format!("unknown golden mode `{other}`"),
                        Some("modes: exact, normalized, json, similarity, judge".into()),
                    );
                    return None;
                }
            };
        }
        if let Some(n) = f.get("ignore_case") {
            s.ignore_case = ctx.bool(n, "`ignore_case`")?;
        }
        if let Some(n) = f.get("collapse_whitespace") {
            s.collapse_whitespace = ctx.bool(n, "`collapse_whitespace`")?;
        }
        if let Some(n) = f.get("per_provider") {
            s.per_provider = ctx.bool(n, "`per_provider`")?;
        }
        if let Some(n) = f.get("per_variant") {
            s.per_variant = ctx.bool(n, "`per_variant`")?;
        }
        if let Some(n) = f.get("extract") {
            s.extract = Some(ctx.bool(n, "`extract`")?);
        }
        if let Some(n) = f.get("tolerance") {
            s.tolerance = ctx.number(n, "`tolerance`", 0.0, f64::MAX)?;
        }
        if let Some(n) = f.get("min_similarity") {
            s.min_similarity = ctx.number(n, "`min_similarity`", 0.0, 1.0)?;
        }
        if let Some(n) = f.get("redact") {
            let items = ctx.seq(n, "`redact`")?;
            for item in items {
                let rf = ctx.map(item, "a redaction", REDACTION_KEYS)?;
                let re_node = ctx.require(&rf, "regex", "a redaction")?;
                let src = ctx.string(re_node, "`regex`")?;
                let re = match Regex::new(&src) {
                    Ok(r) => r,
                    Err(e) => {
                        ctx.error(
                            re_node.pos,
                            format!("invalid regex {src:?}: {}", regex_error(&e)),
                            None,
                        );
                        return None;
                    }
                };
                let with = match rf.get("with") {
                    Some(w) => ctx.scalar_string(w, "`with`")?,
                    None => "[REDACTED]".to_string(),
                };
                s.redactions.push(Redaction { regex: re, with });
            }
        }
        if let Some(n) = f.get("ignore_paths") {
            for p in ctx.string_list(n, "`ignore_paths`")? {
                match JsonPath::parse(&p) {
                    Ok(jp) => s.ignore_paths.push((p, jp)),
                    Err(e) => {
                        ctx.error(n.pos, format!("invalid JSONPath {p:?}: {e}"), None);
                        return None;
                    }
                }
            }
        }
        if let Some(n) = f.get("provider") {
            s.judge_provider = ctx.string(n, "`provider`")?;
            s.judge_pos = Some(n.pos);
        }
        if let Some(n) = f.get("samples") {
            s.judge_samples = ctx.uint(n, "`samples`", 1, 9)? as u32;
        }
        if s.mode == Mode::Judge && s.judge_pos.is_none() {
            s.judge_pos = Some(f.pos);
        }
        if s.mode != Mode::Judge && (f.get("provider").is_some() || f.get("samples").is_some()) {
            ctx.error(
                f.pos,
                "`provider` and `samples` apply to `mode: judge` only",
                Some("add `mode: judge`".into()),
            );
            return None;
        }
        let json_only = s.mode != Mode::Json
            && (f.get("tolerance").is_some() || f.get("ignore_paths").is_some());
        if json_only {
            ctx.error(
                f.pos,
                "`tolerance` and `ignore_paths` apply to `mode: json` only",
                Some("add `mode: json`".into()),
            );
            return None;
        }
        Some(s)
    }

    fn redact(&self, s: &str) -> String {
        let mut out = s.to_string();
        for r in &self.redactions {
            out = r.regex.replace_all(&out, r.with.as_str()).into_owned();
        }
        out
    }

    fn normalize(&self, s: &str) -> String {
        let unified = s.replace("\r\n", "\n").replace('\r', "\n");
        let mut lines: Vec<String> = unified.lines().map(|l| l.trim_end().to_string()).collect();
        while lines.last().is_some_and(|l| l.is_empty()) {
            lines.pop();
        }
        let mut out: String = lines.join("\n").nfc().collect();
        if self.collapse_whitespace {
            out = out.split_whitespace().collect::<Vec<_>>().join(" ");
        }
        if self.ignore_case {
            out = out.to_lowercase();
        }
        out
    }

    /// What to store as the golden body for this output. In JSON mode, the
    /// output pretty-printed with its keys sorted: the order the failure
    /// diff and `golden review` show, so one change reads as one diff.
    pub fn body_for(&self, output: &str) -> String {
        if self.mode == Mode::Json {
            if let Ok(v) = serde_json::from_str::<Json>(self.json_of(output).0.trim()) {
                if let Ok(pretty) = serde_json::to_string_pretty(&canonical(&v)) {
                    return pretty;
                }
            }
        }
        output.to_string()
    }

    /// Compare a golden body with an output.
    pub fn compare(&self, golden: &str, output: &str) -> Result<Comparison, String> {
        if self.mode == Mode::Json {
            return self.compare_json(golden, output);
        }
        let (g, o) = (self.redact(golden), self.redact(output));
        match self.mode {
            Mode::Exact | Mode::Json => Ok(Comparison::binary(g == o, g, o)),
            Mode::Normalized | Mode::Judge => {
                // judge: equal texts need no grader; the check asks one
                // about the others.
                let (g, o) = (self.normalize(&g), self.normalize(&o));
                Ok(Comparison::binary(g == o, g, o))
            }
            Mode::Similarity => {
                let (g, o) = (self.normalize(&g), self.normalize(&o));
                let ratio = similarity(&g, &o);
                Ok(Comparison {
                    equal: ratio + 1e-12 >= self.min_similarity,
                    score: ratio,
                    note: Some(format!(
                        "similarity {ratio:.3} (required {})",
                        self.min_similarity
                    )),
                    expected_view: g,
                    actual_view: o,
                })
            }
        }
    }

    /// Structural JSON comparison. Redactions apply to string values after
    /// parsing (so a pattern can never break the JSON syntax).
    fn compare_json(&self, golden: &str, output: &str) -> Result<Comparison, String> {
        let gj: Json = serde_json::from_str(golden.trim())
            .map_err(|e| format!("the golden is not valid JSON: {e}"))?;
        let (text, from) = self.json_of(output);
        let oj: Json = match (serde_json::from_str(text.trim()), &from) {
            (Ok(v), _) => v,
            (Err(e), None) if self.extract == Some(true) => {
                return Err(format!("the output holds no JSON value (none in a code fence, no balanced object or array in the text): {e}"))
            }
            (Err(e), _) => return Err(format!("the output is not valid JSON: {e}")),
        };
        let (mut gj, mut oj) = (self.prepare(gj), self.prepare(oj));
        let equal = json_close(&gj, &mut oj, self.tolerance);
        gj = canonical(&gj);
        oj = canonical(&oj);
        let pretty = |v: &Json| serde_json::to_string_pretty(v).unwrap_or_else(|_| v.to_string());
        let mut c = Comparison::binary(equal, pretty(&gj), pretty(&oj));
        c.note = from.map(|d| format!("compared {d}"));
        Ok(c)
    }

    /// The JSON text of an output in JSON mode: with `extract`, the first
    /// JSON value in it and where it was found; else the output.
    pub fn json_of<'o>(&self, output: &'o str) -> (&'o str, Option<String>) {
        if self.extract == Some(true) {
            if let Some(e) = crate::util::extract::extract_json(output) {
                return (e.json, Some(e.describe()));
            }
        }
        (output, None)
    }

    /// Drop the values at `ignore_paths` (object members are removed, array
    /// items masked so indexes stay put), then redact string values.
    fn prepare(&self, mut v: Json) -> Json {
        for (_, path) in &self.ignore_paths {
            let mut pointers: Vec<String> = path
                .query_located(&v)
                .locations()
                .map(|l| l.to_json_pointer())
                .collect();
            // Deepest first, so removing a member does not move the others.
            pointers.sort_by_key(|p| std::cmp::Reverse(p.len()));
            for p in pointers {
                let (parent, last) = match p.rfind('/') {
                    Some(i) => (&p[..i], p[i + 1..].replace("~1", "/").replace("~0", "~")),
                    None => continue,
                };
                match v.pointer_mut(parent) {
                    Some(Json::Object(m)) => {
                        m.remove(&last);
                    }
                    Some(Json::Array(items)) => {
                        if let Some(slot) =
                            last.parse::<usize>().ok().and_then(|i| items.get_mut(i))
                        {
                            *slot = Json::String("[ignored]".to_string());
                        }
                    }
                    _ => {}
                }
            }
        }
        if !self.redactions.is_empty() {
            redact_strings(&mut v, self);
        }
        v
    }
}

fn redact_strings(v: &mut Json, s: &Settings) {
    match v {
        Json::String(text) => *text = s.redact(text),
        Json::Array(items) => items.iter_mut().for_each(|i| redact_strings(i, s)),
        Json::Object(m) => m.values_mut().for_each(|i| redact_strings(i, s)),
        _ => {}
    }
}

/// Similarity ratio in [0, 1]: characters for short texts, words for long
/// ones, under a time limit (a diff ratio is quadratic in the worst case).
fn similarity(a: &str, b: &str) -> f64 {
    let cfg = || {
        let mut c = similar::TextDiff::configure();
        c.timeout(std::time::Duration::from_millis(200));
        c
    };
    let ratio = if a.len() + b.len() <= 4000 {
        cfg().diff_chars(a, b).ratio()
    } else {
        cfg().diff_words(a, b).ratio()
    };
    f64::from(ratio)
}

/// The result of a comparison.
#[derive(Debug, Clone, PartialEq)]
pub struct Comparison {
    pub equal: bool,
    /// In [0, 1].
    pub score: f64,
    pub note: Option<String>,
    /// The golden as compared (after redaction and normalization).
    pub expected_view: String,
    /// The output as compared.
    pub actual_view: String,
}

impl Comparison {
    fn binary(equal: bool, expected_view: String, actual_view: String) -> Self {
        Comparison {
            equal,
            score: if equal { 1.0 } else { 0.0 },
            note: None,
            expected_view,
            actual_view,
        }
    }
}

/// Structural equality with a numeric tolerance. Numbers of `actual` that are
/// within tolerance are replaced by the golden's, so a diff shows only real
/// differences.
fn json_close(golden: &Json, actual: &mut Json, tol: f64) -> bool {
    match (golden, actual) {
        (Json::Number(a), b @ Json::Number(_)) => {
            let int = |n: &serde_json::Number| {
                n.as_i64()
                    .map(i128::from)
                    .or_else(|| n.as_u64().map(i128::from))
            };
            let close = match (int(a), b.as_number().and_then(int)) {
                // Two integers: exact arithmetic, so large ids do not round through f64.
                (Some(x), Some(y)) => ((x - y).unsigned_abs() as f64) <= tol,
                _ => {
                    let (x, y) = (
                        a.as_f64().unwrap_or(f64::NAN),
                        b.as_f64().unwrap_or(f64::NAN),
                    );
                    x == y || (x - y).abs() <= tol
                }
            };
            if close {
                *b = Json::Number(a.clone());
            }
            close
        }
        (Json::Array(a), Json::Array(b)) => {
            let mut ok = a.len() == b.len();
            for (x, y) in a.iter().zip(b.iter_mut()) {
                ok &= json_close(x, y, tol);
            }
            ok
        }
        (Json::Object(a), Json::Object(b)) => {
            let mut ok = a.len() == b.len();
            for (k, x) in a {
                match b.get_mut(k) {
                    Some(y) => ok &= json_close(x, y, tol),
                    None => ok = false,
                }
            }
            ok
        }
        (a, b) => a == b,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn settings(yaml: &str) -> Settings {
        let root = crate::syntax::node::parse(Path::new("t.yaml"), yaml).unwrap();
        let mut ctx = Ctx::new(Path::new("t.yaml"), yaml);
        let s = Settings::parse(&mut ctx, &root, &Settings::default());
        assert!(ctx.errors.is_empty(), "{:?}", ctx.errors);
        s.unwrap()
    }

    #[test]
    fn exact_is_byte_equal() {
        let s = Settings::default();
        assert!(s.compare("Paris", "Paris").unwrap().equal);
        assert!(!s.compare("Paris", "Paris ").unwrap().equal);
        assert!(!s.compare("a\nb", "a\r\nb").unwrap().equal);
    }

    #[test]
    fn normalized_handles_crlf_whitespace_nfc_and_case() {
        let s = settings("mode: normalized\n");
        assert!(s.compare("a\nb\n", "a  \r\nb\r\n\r\n").unwrap().equal);
        // "é" precomposed vs "e" + combining acute.
        assert!(s.compare("caf\u{e9}", "cafe\u{301}").unwrap().equal);
        assert!(!s.compare("Paris", "paris").unwrap().equal);
        let s = settings("mode: normalized\nignore_case: true\ncollapse_whitespace: true\n");
        assert!(
            s.compare("The  capital\nis Paris", "the capital is   PARIS")
                .unwrap()
                .equal
        );
    }

    #[test]
    fn redactions_apply_to_both_sides() {
        let s = settings("redact:\n  - {regex: '\\d{4}-\\d{2}-\\d{2}', with: '[DATE]'}\n  - {regex: '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}', with: '[UUID]'}\n");
        let c = s
            .compare(
                "on 2024-01-02 id 123e4567-e89b-12d3-a456-426614174000",
                "on 2026-11-26 id 00000000-0000-0000-0000-000000000000",
            )
            .unwrap();
        assert!(c.equal);
        assert_eq!(c.actual_view, "on [DATE] id [UUID]");
    }

    #[test]
    fn json_ignores_key_order_float_noise_and_ignored_paths() {
        let s = settings("mode: json\ntolerance: 0.001\nignore_paths: ['$.request_id']\n");
        let golden = r#"{"a": 1, "b": {"x": 0.3, "y": [1, 2]}, "request_id": "r-1"}"#;
        let out =
            r#"{"request_id": "r-2", "b": {"y": [1, 2], "x": 0.30000000000000004}, "a": 1.0}"#;
        assert!(s.compare(golden, out).unwrap().equal);
        let c = s
            .compare(
                golden,
                r#"{"a": 2, "b": {"x": 0.3, "y": [1, 2]}, "request_id": "r-3"}"#,
            )
            .unwrap();
        assert!(!c.equal);
        assert!(c.actual_view.contains("\"a\": 2"));
        assert!(
            !c.expected_view.contains("request_id"),
            "ignored members are dropped: {}",
            c.expected_view
        );
        assert!(s
            .compare(golden, "not json")
            .unwrap_err()
            .contains("output is not valid JSON"));
        assert_eq!(s.ext(), "json");
        assert_eq!(s.body_for(r#"{"b":1}"#), "{\n  \"b\": 1\n}");
    }

    #[test]
    fn json_large_integers_and_redacted_strings() {
        let s = settings("mode: json\n");
        assert!(
            !s.compare(r#"{"id": 9007199254740992}"#, r#"{"id": 9007199254740993}"#)
                .unwrap()
                .equal
        );
        assert!(s.compare(r#"{"n": 1}"#, r#"{"n": 1.0}"#).unwrap().equal);
        let s = settings("mode: json\nredact: [{regex: '\\d+', with: N}]\n");
        let c = s
            .compare(
                r#"{"at": "2024-01-02", "n": 5}"#,
                r#"{"at": "2026-11-26", "n": 5}"#,
            )
            .unwrap();
        assert!(c.equal, "{c:?}");
        let s = settings("mode: json\nignore_paths: ['$.request_id']\n");
        assert!(
            s.compare(r#"{"a": 1, "request_id": "r1"}"#, r#"{"a": 1}"#)
                .unwrap()
                .equal
        );
    }

    #[test]
    fn similarity_of_long_texts_is_bounded() {
        let s = settings("mode: similarity\n");
        let a: String = (0..20_000)
            .map(|i| char::from(b'a' + (i % 26) as u8))
            .collect();
        let b: String = (0..20_000)
            .map(|i| char::from(b'a' + ((i * 7) % 26) as u8))
            .collect();
        let started = std::time::Instant::now();
        let c = s.compare(&a, &b).unwrap();
        assert!(!c.equal);
        // Bounded by the diff deadline; generous for a debug build.
        assert!(started.elapsed() < std::time::Duration::from_secs(10));
    }

    #[test]
    fn similarity_threshold() {
        let s = settings("mode: similarity\nmin_similarity: 0.8\n");
        let c = s
            .compare(
                "The capital of France is Paris.",
                "The capital of France is Paris!",
            )
            .unwrap();
        assert!(c.equal && c.score > 0.9, "{c:?}");
        assert!(
            !s.compare("The capital of France is Paris.", "I do not know.")
                .unwrap()
                .equal
        );
    }

    #[test]
    fn bad_settings_are_errors() {
        let yaml = "mode: fuzzy\n";
        let root = crate::syntax::node::parse(Path::new("t.yaml"), yaml).unwrap();
        let mut ctx = Ctx::new(Path::new("t.yaml"), yaml);
        assert!(Settings::parse(&mut ctx, &root, &Settings::default()).is_none());
        assert_eq!(ctx.errors[0].message, "unknown golden mode `fuzzy`");
    }
}

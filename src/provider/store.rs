//! What record/replay and the response cache store about an answer, the
//! canonical request key, and a small YAML writer for diff-friendly files.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::model::{Timing, ToolCall, Usage};
use crate::provider::Response;
use crate::util::json::canonical;

/// A recorded answer (or the error that ended the exchange).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct StoredAnswer {
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub text: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub tool_calls: Vec<ToolCall>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub finish_reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub model: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub usage: Option<Usage>,
    /// The original timings (replay reports them, so latency checks give
    /// the verdicts of the recorded run).
    pub timing: StoredTiming,
    /// The error message, when the exchange ended in an error.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub error: Option<String>,
    /// Tries that failed before the answer or the error.
    #[serde(skip_serializing_if = "is_zero", default)]
    pub retries: u32,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct StoredTiming {
    pub latency_ms: f64,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub ttft_ms: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub chunks: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub mean_gap_ms: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub max_gap_ms: Option<f64>,
}

fn round3(v: f64) -> f64 {
    (v * 1000.0).round() / 1000.0
}

impl StoredAnswer {
    pub(crate) fn from_response(r: &Response) -> Self {
        // Answers reach here through the redaction layer; masking again costs
        // nothing when no secret is registered and keeps the store safe when
        // a test or a future layer builds a response by hand.
        let redacted;
        let r = if crate::secret::any() {
            let mut c = r.clone();
            c.redact_secrets();
            redacted = c;
            &redacted
        } else {
            r
        };
        let t = &r.timing;
        StoredAnswer {
            text: Some(r.text.clone()),
            tool_calls: r.tool_calls.clone(),
            finish_reason: r.finish_reason.clone(),
            model: r.model.clone(),
            usage: r.usage,
            timing: StoredTiming {
                latency_ms: round3(t.latency_ms),
                ttft_ms: t.ttft_ms.map(round3),
                chunks: t.chunks,
                mean_gap_ms: t.mean_gap_ms.map(round3),
                max_gap_ms: t.max_gap_ms.map(round3),
            },
            error: None,
            retries: r.retries,
        }
    }

    pub(crate) fn from_error(message: &str, latency_ms: f64, retries: u32) -> Self {
        StoredAnswer {
            text: None,
            tool_calls: Vec::new(),
            finish_reason: None,
            model: None,
            usage: None,
            timing: StoredTiming {
                latency_ms: round3(latency_ms),
                ..StoredTiming::default()
            },
            error: Some(crate::secret::redact(message)),
            retries,
        }
    }

    /// The answer as a response, or the recorded error as it happened.
    pub(crate) fn to_response(&self) -> Result<Response, crate::provider::ProviderError> {
        if let Some(e) = &self.error {
            return Err(crate::provider::ProviderError::Replayed {
                message: e.clone(),
                retries: self.retries,
                latency_ms: self.timing.latency_ms,
            });
        }
        let t = &self.timing;
        Ok(Response {
            text: self.text.clone().unwrap_or_default(),
            tool_calls: self.tool_calls.clone(),
            timing: Timing {
                started_at: Some(std::time::SystemTime::now()),
                ttft_ms: t.ttft_ms,
                latency_ms: t.latency_ms,
                chunks: t.chunks,
                mean_gap_ms: t.mean_gap_ms,
                max_gap_ms: t.max_gap_ms,
                recorded: true,
                ..Default::default()
            },
            usage: self.usage,
            model: self.model.clone(),
            finish_reason: self.finish_reason.clone(),
            retries: self.retries,
        })
    }
}

/// `sha256:` of the canonical JSON of `v`.
pub(crate) fn key_of(v: &serde_json::Value) -> String {
    let text = canonical(v).to_string();
    format!("sha256:{:x}", Sha256::digest(text.as_bytes()))
}

// ---------------------------------------------------------------------------
// YAML writer: block style, one field per line, multi-line strings as literal
// blocks, so a re-recording shows up in `git diff` line by line.
// ---------------------------------------------------------------------------

/// Write `v` (an object) as a YAML document.
pub(crate) fn to_yaml(v: &serde_json::Value) -> String {
    let mut out = String::new();
    match v {
        serde_json::Value::Object(m) if !m.is_empty() => write_map(&mut out, m, 0),
        other => {
            write_inline(&mut out, other);
            out.push('\n');
        }
    }
    out
}

fn indent(out: &mut String, n: usize) {
    for _ in 0..n {
        out.push(' ');
    }
}

/// YAML limits implicit keys to 1024 characters; longer keys are written
/// as explicit `? key` / `: value` pairs.
const MAX_IMPLICIT_KEY: usize = 1000;

fn long_key(k: &str) -> bool {
    k.len() > MAX_IMPLICIT_KEY
}

fn write_map(out: &mut String, m: &serde_json::Map<String, serde_json::Value>, ind: usize) {
    for (k, v) in m {
        indent(out, ind);
        if long_key(k) {
            out.push_str("? ");
            write_key(out, k);
            out.push('\n');
            indent(out, ind);
        } else {
            write_key(out, k);
        }
        out.push(':');
        write_value_after_key(out, v, ind);
    }
}

fn write_seq(out: &mut String, items: &[serde_json::Value], ind: usize) {
    for v in items {
        indent(out, ind);
        out.push('-');
        match v {
            serde_json::Value::Object(m) if m.keys().any(|k| long_key(k)) => {
                out.push('\n');
                write_map(out, m, ind + 2);
            }
            serde_json::Value::Object(m) if !m.is_empty() => {
                // First entry on the dash line, the rest aligned under it.
                let mut first = true;
                for (k, val) in m {
                    if first {
                        out.push(' ');
                        first = false;
                    } else {
                        indent(out, ind + 2);
                    }
                    write_key(out, k);
                    out.push(':');
                    write_value_after_key(out, val, ind + 2);
                }
            }
            _ => write_value_after_key(out, v, ind),
        }
    }
}

/// After `key:` (or `-`): a scalar on the same line, or a nested block.
fn write_value_after_key(out: &mut String, v: &serde_json::Value, ind: usize) {
    match v {
        serde_json::Value::Object(m) if !m.is_empty() => {
            out.push('\n');
            write_map(out, m, ind + 2);
        }
        serde_json::Value::Array(items) if !items.is_empty() => {
            out.push('\n');
            write_seq(out, items, ind + 2);
        }
        serde_json::Value::String(s) if literal_ok(s) => {
            out.push_str(if s.ends_with('\n') { " |+\n" } else { " |-\n" });
            for line in s.strip_suffix('\n').unwrap_or(s).split('\n') {
                if !line.is_empty() {
                    indent(out, ind + 2);
                    out.push_str(line);
                }
                out.push('\n');
            }
        }
        other => {
            out.push(' ');
            write_inline(out, other);
            out.push('\n');
        }
    }
}

/// Whether a string can be written as a literal block and read back the same.
fn literal_ok(s: &str) -> bool {
    s.contains('\n')
        && !s.ends_with("\n\n")
        && !s.starts_with([' ', '\t', '\n'])
        && s.chars().all(|c| {
            c == '\n'
                || (!c.is_control()
                    && c != '\u{feff}'
                    && c != '\u{2028}'
                    && c != '\u{2029}'
                    && c != '\u{85}')
        })
        && s.split('\n').all(|l| !l.ends_with([' ', '\t']))
}

fn write_key(out: &mut String, k: &str) {
    if plain_ok(k) {
        out.push_str(k);
    } else {
        out.push_str(&serde_json::Value::String(k.to_string()).to_string());
    }
}

fn plain_ok(s: &str) -> bool {
    s.chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '/'))
        && matches!(
            crate::syntax::node::resolve_plain(s),
            crate::syntax::node::Value::Str(_)
        )
        && !matches!(
            s.to_ascii_lowercase().as_str(),
            "yes" | "no" | "on" | "off" | "y" | "n"
        )
}

/// A scalar, or an empty collection, on one line (JSON is valid YAML flow).
fn write_inline(out: &mut String, v: &serde_json::Value) {
    match v {
        serde_json::Value::String(s) if plain_ok(s) => out.push_str(s),
        other => out.push_str(&other.to_string()),
    }
}

/// Read a YAML (or JSON) document written by [`to_yaml`] (or by hand).
pub(crate) fn from_yaml(path: &std::path::Path, text: &str) -> Result<serde_json::Value, String> {
    match crate::syntax::node::parse(path, text) {
        Ok(node) => Ok(node.to_json()),
        Err(diags) => Err(diags
            .iter()
            .map(|d| d.to_string())
            .collect::<Vec<_>>()
            .join("\n")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Every string anywhere in `v` (keys included).
    fn strings(v: &serde_json::Value, out: &mut Vec<String>) {
        match v {
            serde_json::Value::String(s) => out.push(s.clone()),
            serde_json::Value::Array(a) => a.iter().for_each(|x| strings(x, out)),
            serde_json::Value::Object(o) => {
                for (k, x) in o {
                    out.push(k.clone());
                    strings(x, out);
                }
            }
            _ => {}
        }
    }

    /// An endpoint that echoes the key in every string it answers with.
    struct Echoing(String);

    impl crate::provider::Provider for Echoing {
        fn name(&self) -> &str {
            "echoing"
        }
        fn complete<'a>(
            &'a self,
            _: &'a crate::provider::Request,
        ) -> futures::future::BoxFuture<'a, Result<Response, crate::provider::ProviderError>>
        {
            let k = &self.0;
            let r = Response {
                text: format!("text {k}"),
                tool_calls: vec![ToolCall {
                    id: Some(format!("id-{k}")),
                    name: format!("name-{k}"),
                    arguments: format!("{{\"k\":\"{k}\"}}"),
                }],
                model: Some(format!("model-{k}")),
                finish_reason: Some(format!("stop-{k}")),
                ..Response::default()
            };
            Box::pin(async move { Ok(r) })
        }
    }

    #[tokio::test]
    async fn every_string_of_a_stored_answer_is_redacted() {
        let key = "sk-store-walk-0123456789";
        crate::secret::register(key);
        let p = crate::provider::Redacting::new(std::sync::Arc::new(Echoing(key.into())));
        let req = crate::provider::Request {
            suite: "s".into(),
            case_id: "c".into(),
            repeat: 1,
            messages: Vec::new(),
            timeout: std::time::Duration::from_secs(1),
            vars: json!({}),
            call: std::borrow::Cow::Borrowed(crate::provider::ANSWER),
            format: crate::provider::Format::Text,
            observer: None,
        };
        use crate::provider::Provider as _;
        let answer = p.complete(&req).await.unwrap();
        // What the layers above see, and what the cache and cassettes store
        // (also from a response built by hand, without the layer).
        let by_hand = Echoing(key.into()).complete(&req).await.unwrap();
        for stored in [
            StoredAnswer::from_response(&answer),
            StoredAnswer::from_response(&by_hand),
        ] {
            let v = serde_json::to_value(&stored).unwrap();
            let mut all = Vec::new();
            strings(&v, &mut all);
            assert!(all.len() >= 6, "{v}");
            for s in &all {
                assert!(!s.contains(key), "secret in a stored field: {s} of {v}");
            }
            assert!(to_yaml(&v).contains("model-[REDACTED]"), "{v}");
        }
        // And the error path.
        let e = crate::provider::ProviderError::Retried {
            tries: 2,
            last: Box::new(crate::provider::ProviderError::Stream(format!("bad {key}"))),
        };
        assert!(!e.redact_secrets().to_string().contains(key));
    }

    fn round_trip(v: serde_json::Value) {
        let text = to_yaml(&v);
        let back = from_yaml(std::path::Path::new("t.yaml"), &text).unwrap();
        assert_eq!(back, v, "YAML was:\n{text}");
    }

    #[test]
    fn yaml_round_trips_tricky_strings() {
        round_trip(json!({
            "plain": "france",
            "words": "The capital of France is Paris.",
            "multi": "line one\nline two\n\nline four",
            "trailing_nl": "a\nb\n",
            "two_trailing": "a\nb\n\n",
            "leading_space": "  indented\nnext",
            "trailing_space": "a \nb",
            "colon": "key: value",
            "hash": "a # not a comment",
            "quote": "\"quoted\" and 'single'",
            "reserved": ["true", "null", "yes", "1", "0x10", "1.5", "~", "-", ""],
            "unicode": "ünï 日本 😀",
            "control": "tab\there\r\nbell\u{7}",
            "empty_map": {},
            "empty_list": [],
            "nums": [1, -2, 3.25, 0.001],
            "nested": [{"role": "user", "content": "hi\nthere"}, {"a": [1, {"b": null}]}],
            "odd key: x": true,
            "list_of_lists": [[1, 2], ["a\nb"]],
        }));
    }

    #[test]
    fn long_keys_are_explicit() {
        let long = "k".repeat(1500);
        let long2 = format!("a: b {}", "x".repeat(1100));
        round_trip(json!({
            long.clone(): {long2.clone(): [1, {long.clone(): "v\nw"}]},
            "list": [{long2.clone(): 1, "short": 2}],
        }));
    }

    #[test]
    fn multi_line_text_is_a_literal_block() {
        let text = to_yaml(&json!({"text": "one\ntwo"}));
        assert_eq!(text, "text: |-\n  one\n  two\n");
    }

    #[test]
    fn keys_ignore_object_order() {
        assert_eq!(
            key_of(&json!({"a": 1, "b": {"x": 1, "y": 2}})),
            key_of(&json!({"b": {"y": 2, "x": 1}, "a": 1}))
        );
        assert_ne!(key_of(&json!({"a": 1})), key_of(&json!({"a": 2})));
    }
}

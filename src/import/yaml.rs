//! A small YAML writer for the files `evalgate import` generates: block
//! style, keys in insertion order, strings plain when that reads back as
//! the same string, multi-line strings as literal blocks, anything else
//! double-quoted. What it writes reads back through [`crate::syntax`] as
//! the same JSON value (the tests check it).

use serde_json::Value;

use crate::syntax::node::{resolve_plain, Value as Scalar};

/// A mapping (or any value) as a YAML document.
pub(crate) fn to_yaml(v: &Value) -> String {
    let mut out = String::new();
    match v {
        Value::Object(m) if !m.is_empty() => map(&mut out, m, 0),
        Value::Array(a) if !a.is_empty() => seq(&mut out, a, 0),
        other => {
            out.push_str(&scalar(other, 0).unwrap_or_default());
            out.push('\n');
        }
    }
    out
}

fn pad(out: &mut String, n: usize) {
    out.extend(std::iter::repeat_n(' ', n));
}

/// A mapping whose keys start at column `indent`.
fn map(out: &mut String, m: &serde_json::Map<String, Value>, indent: usize) {
    let mut first = true;
    for (k, v) in m {
        if !first {
            pad(out, indent);
        }
        first = false;
        out.push_str(&key(k));
        out.push(':');
        value_after_key(out, v, indent);
    }
}

/// A value after `key:` (the key at column `indent`).
fn value_after_key(out: &mut String, v: &Value, indent: usize) {
    match v {
        Value::Object(m) if !m.is_empty() => {
            out.push('\n');
            pad(out, indent + 2);
            map(out, m, indent + 2);
        }
        Value::Array(a) if !a.is_empty() => {
            out.push('\n');
            pad(out, indent + 2);
            seq(out, a, indent + 2);
        }
        other => {
            out.push(' ');
            match scalar(other, indent + 2) {
                Some(s) => out.push_str(&s),
                None => out.push_str("null"),
            }
            out.push('\n');
        }
    }
}

/// A sequence whose dashes are at column `indent` (the first dash already placed).
fn seq(out: &mut String, a: &[Value], indent: usize) {
    let mut first = true;
    for item in a {
        if !first {
            pad(out, indent);
        }
        first = false;
        out.push_str("- ");
        match item {
            Value::Object(m) if !m.is_empty() => map(out, m, indent + 2),
            Value::Array(inner) if !inner.is_empty() => seq(out, inner, indent + 2),
            other => {
                out.push_str(&scalar(other, indent + 2).unwrap_or_else(|| "null".into()));
                out.push('\n');
            }
        }
    }
}

/// A scalar (or an empty collection) as YAML text; a literal block's lines
/// are indented by `indent`.
fn scalar(v: &Value, indent: usize) -> Option<String> {
    Some(match v {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => string(s, indent),
        Value::Array(_) => "[]".into(),
        Value::Object(_) => "{}".into(),
    })
}

/// A mapping key: plain when safe, else double-quoted.
fn key(k: &str) -> String {
    if plain_ok(k) {
        k.to_string()
    } else {
        quoted(k)
    }
}

fn string(s: &str, indent: usize) -> String {
    if plain_ok(s) {
        return s.to_string();
    }
    if let Some(block) = literal(s, indent) {
        return block;
    }
    quoted(s)
}

/// Whether `s` can be written as a plain scalar that reads back as this
/// string: letters, digits and a few marks, no indicator first, no `: ` or
/// ` #`, and not a null, boolean or number in YAML's core schema.
fn plain_ok(s: &str) -> bool {
    let Some(first) = s.chars().next() else {
        return false;
    };
    if !(first.is_ascii_alphanumeric() || first == '_' || first == '$') {
        return false;
    }
    if s.ends_with(' ') || s.len() > 120 {
        return false;
    }
    let safe = s
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || " _.,/()?!'+=$%@-".contains(c));
    safe && matches!(resolve_plain(s), Scalar::Str(ref r) if r == s)
}

/// A multi-line string as a literal block (`|-`, `|` or `|+` by its
/// trailing line breaks), or None when a block cannot hold it exactly.
fn literal(s: &str, indent: usize) -> Option<String> {
    if !s.contains('\n') {
        return None;
    }
    let body = s.trim_end_matches('\n');
    if body.is_empty() || body.starts_with([' ', '\t']) || body.starts_with('\n') {
        return None;
    }
    let printable = s.chars().all(|c| {
        c == '\n'
            || c == '\t'
            || (!c.is_control() && !matches!(c, '\u{feff}' | '\u{2028}' | '\u{2029}' | '\u{85}'))
    });
    if !printable {
        return None;
    }
    // A line of spaces only would be read as part of the indentation.
    if body.lines().any(|l| !l.is_empty() && l.trim().is_empty()) {
        return None;
    }
    let trailing = s.len() - body.len();
    let chomp = match trailing {
        0 => "|-",
        1 => "|",
        _ => "|+",
    };
    let mut out = String::from(chomp);
    for line in body.split('\n') {
        out.push('\n');
        if !line.is_empty() {
            out.extend(std::iter::repeat_n(' ', indent));
            out.push_str(line);
        }
    }
    // `|+` keeps the extra line breaks as empty lines.
    for _ in 1..trailing {
        out.push('\n');
    }
    Some(out)
}

/// A double-quoted scalar: `\`, `"` and every non-printable character escaped.
fn quoted(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() || matches!(c, '\u{feff}' | '\u{2028}' | '\u{2029}') => {
                out.push_str(&format!("\\u{:04X}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::path::Path;

    fn round_trip(v: &Value) {
        let text = to_yaml(v);
        let node = crate::syntax::node::parse(Path::new("t.yaml"), &text)
            .unwrap_or_else(|e| panic!("{e:?}\n{text}"));
        assert_eq!(&node.to_json(), v, "\n{text}");
    }

    #[test]
    fn strings_read_back_exactly() {
        let tricky = [
            "plain words",
            "Paris",
            "yes",
            "no",
            "true",
            "null",
            "~",
            "1",
            "1.5",
            "0x1f",
            ".inf",
            "-dash",
            "a: b",
            "a #b",
            "#x",
            "{{ country }}",
            "What is {{ x }}?",
            "trailing ",
            " leading",
            "two\nlines",
            "ends\n",
            "many\n\n\n",
            "\n",
            "",
            "tab\there",
            "  indented\nblock",
            "quote \" and \\ backslash",
            "bell \u{7}",
            "del \u{7f}",
            "bom \u{feff}",
            "line\u{2028}sep",
            "crlf\r\nline",
            "unicode é 😀",
            "a\n  \nb",
            "- item",
            "[x]",
            "@at",
            "`tick`",
            "100%",
            "it's",
            "key:",
            "x,y",
        ];
        for s in tricky {
            round_trip(&json!({ "k": s, "list": [s, {"in": s}], s: 1 }));
        }
    }

    #[test]
    fn nested_structures_read_back() {
        round_trip(&json!({
            "version": 1,
            "providers": {"a": {"type": "openai", "temperature": 0.7, "tools": [{"x": [1, 2]}]}},
            "cases": [
                {"id": "c", "vars": {}, "checks": [{"contains": {"any": ["a", "b"]}}, "is_json"]},
                {"id": "d", "prompt": [{"role": "user", "content": "multi\nline\n"}], "list": [[1], []]}
            ],
            "none": null, "t": true
        }));
    }

    #[test]
    fn reads_well() {
        let text = to_yaml(&json!({"name": "qa", "prompt": "Hi {{ name }}", "cases": [
            {"id": "a", "checks": [{"contains": "Paris"}]}
        ]}));
        assert_eq!(
            text,
            "name: qa\nprompt: \"Hi {{ name }}\"\ncases:\n  - id: a\n    checks:\n      - contains: Paris\n"
        );
    }
}

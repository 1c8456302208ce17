//! A position-carrying document tree for YAML and JSON input.
//!
//! Built from `saphyr-parser` events so that every key and value knows its
//! line and column; JSON is parsed the same way (JSON is YAML 1.2 flow syntax)
//! after `serde_json` has confirmed it is valid JSON, so both formats get the
//! same precise diagnostics.

use std::collections::HashMap;
use std::path::Path;

use saphyr_parser::{Event, Parser, ScalarStyle, Span};

use crate::error::{Diagnostic, Pos};

/// A value with the position where it starts.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub value: Value,
    pub pos: Pos,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Seq(Vec<Node>),
    Map(Vec<Entry>),
}

/// One key of a mapping, with the position of the key itself.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub key: String,
    pub key_pos: Pos,
    pub value: Node,
}

impl Node {
    /// A short name for the kind of value, for error messages.
    pub fn kind_name(&self) -> &'static str {
        match self.value {
            Value::Null => "null",
            Value::Bool(_) => "a boolean",
            Value::Int(_) => "an integer",
            Value::Float(_) => "a number",
            Value::Str(_) => "a string",
            Value::Seq(_) => "a list",
            Value::Map(_) => "a mapping",
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match &self.value {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// Convert to plain JSON (for vars, inline schemas, expected values).
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value as J;
        match &self.value {
            Value::Null => J::Null,
            Value::Bool(b) => J::Bool(*b),
            Value::Int(i) => J::from(*i),
            Value::Float(f) => serde_json::Number::from_f64(*f).map_or(J::Null, J::Number),
            Value::Str(s) => J::String(s.clone()),
            Value::Seq(items) => J::Array(items.iter().map(Node::to_json).collect()),
            Value::Map(entries) => J::Object(
                entries
                    .iter()
                    .map(|e| (e.key.clone(), e.value.to_json()))
                    .collect(),
            ),
        }
    }
}

/// Whether a file is parsed as JSON (by extension) or YAML.
pub fn is_json_path(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("json"))
}

/// Parse a YAML or JSON document into a [`Node`] tree.
pub fn parse(path: &Path, text: &str) -> Result<Node, Vec<Diagnostic>> {
    parse_inner(path, text, None)
}

/// Parse like [`parse`], but hand each item of the root mapping's `key`
/// sequence to `each` as soon as it is complete instead of keeping it: the
/// tree's `key` sequence stays, empty, at its position. A file of 50,000
/// cases is then never held as one tree (each item's nodes are freed when
/// `each` returns). Parse errors are returned after every item before them
/// has been handed over.
pub fn parse_streaming<'s>(
    path: &Path,
    text: &str,
    key: &'s str,
    each: &'s mut dyn FnMut(Node),
) -> Result<Node, Vec<Diagnostic>> {
    parse_inner(path, text, Some((key, each)))
}

fn parse_inner<'s>(
    path: &Path,
    text: &str,
    stream: Option<(&'s str, &'s mut dyn FnMut(Node))>,
) -> Result<Node, Vec<Diagnostic>> {
    // A UTF-8 byte order mark is not content.
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    // JSON writers escape non-BMP characters as surrogate pairs (`\ud83d\ude00`),
    // which the YAML parser does not accept: decode them first.
    let decoded;
    let text = if is_json_path(path) && text.contains("\\u") {
        decoded = decode_surrogate_pairs(text);
        decoded.as_str()
    } else {
        text
    };
    if is_json_path(path) {
        if let Err(e) = serde_json::from_str::<serde_json::Value>(text) {
            let pos = Pos::new(e.line().max(1), e.column().max(1));
            let msg = e.to_string();
            // serde_json appends " at line X column Y"; the location is shown separately.
            let msg = msg.split(" at line ").next().unwrap_or(&msg).to_string();
            return Err(vec![Diagnostic::new(
                path,
                Some(pos),
                format!("invalid JSON: {msg}"),
            )
            .with_source(text)
            .with_hint("fix the JSON syntax at this position")]);
        }
    }
    let mut builder = Builder {
        path,
        text,
        stack: Vec::new(),
        anchors: HashMap::new(),
        root: None,
        errors: Vec::new(),
        documents: 0,
        expanded: 0,
        lines: std::cell::OnceCell::new(),
        skipping: 0,
        too_deep_reported: false,
        stream,
    };
    for item in Parser::new_from_str(text) {
        match item {
            Ok((event, span)) => builder.event(event, span),
            Err(e) => {
                let m = e.marker();
                let pos = Pos::new(m.line().max(1), m.col() + 1);
                let what = if is_json_path(path) { "JSON" } else { "YAML" };
                let info = e.info();
                let hint = if info.contains("flow") {
                    "a `{` or `[` may be missing its closing bracket (check this line and the ones above)"
                } else if info.contains("quoted scalar") {
                    "a quoted string may be missing its closing quote"
                } else if info.contains("tab") {
                    "YAML does not allow tabs for indentation; use spaces"
                } else {
                    "fix the syntax at this position (check indentation and quoting)"
                };
                return Err(vec![Diagnostic::new(
                    path,
                    Some(pos),
                    format!("invalid {what}: {}", e.info()),
                )
                .with_source(text)
                .with_hint(hint)]);
            }
        }
    }
    if !builder.errors.is_empty() {
        return Err(builder.errors);
    }
    Ok(builder.root.unwrap_or(Node {
        value: Value::Null,
        pos: Pos::new(1, 1),
    }))
}

/// A collection being built. `count` is the number of nodes it holds so far
/// (itself included; a mapping entry's key counts one), kept as it grows so an
/// alias's size is known without walking the node.
enum Frame {
    Seq {
        pos: Pos,
        anchor: usize,
        items: Vec<Node>,
        count: usize,
    },
    Map {
        pos: Pos,
        anchor: usize,
        entries: Vec<Entry>,
        pending_key: Option<(String, Pos)>,
        count: usize,
        /// Keys seen so far and their first line, once the mapping has
        /// [`SMALL_MAP`] keys (duplicate checks in O(1)); smaller mappings
        /// are searched through their entries.
        seen: Option<HashMap<String, usize>>,
    },
}

struct Builder<'a, 's> {
    path: &'a Path,
    text: &'a str,
    stack: Vec<Frame>,
    /// Anchor id → the node and its node count (the latest definition wins).
    anchors: HashMap<usize, (Node, usize)>,
    root: Option<Node>,
    errors: Vec<Diagnostic>,
    documents: usize,
    /// Nodes produced by alias expansion so far (bounded: "billion laughs").
    /// Counted before an alias is copied, so the bound is on time as well as memory.
    expanded: usize,
    /// Line starts of `text`, built on the first error.
    lines: std::cell::OnceCell<crate::error::LineIndex>,
    /// Open collections of a refused (too deep) structure being skipped.
    skipping: usize,
    too_deep_reported: bool,
    /// `parse_streaming`'s root key and the function its items go to.
    stream: Option<(&'s str, &'s mut dyn FnMut(Node))>,
}

/// Mappings with fewer keys than this find duplicate keys by a search of
/// their entries, without a hash table of their own.
const SMALL_MAP: usize = 16;

/// Most nodes aliases may expand to in one file.
const MAX_ALIAS_NODES: usize = 100_000;

/// Deepest nesting of sequences and mappings in one file (deeper input would
/// make later recursive walks overflow the stack).
const MAX_DEPTH: usize = 256;

fn span_pos(span: &Span) -> Pos {
    Pos::new(span.start.line().max(1), span.start.col() + 1)
}

impl Builder<'_, '_> {
    /// Whether a node completed now is an item of the streamed root sequence.
    fn streamed_item(&self) -> bool {
        let Some((key, _)) = &self.stream else {
            return false;
        };
        self.stack.len() == 2
            && matches!(self.stack[1], Frame::Seq { .. })
            && matches!(
                &self.stack[0],
                Frame::Map { pending_key: Some((k, _)), .. } if k == key
            )
    }

    fn event(&mut self, event: Event<'_>, span: Span) {
        if self.skipping > 0 {
            match event {
                Event::SequenceStart(..) | Event::MappingStart(..) => self.skipping += 1,
                Event::SequenceEnd | Event::MappingEnd => self.skipping -= 1,
                _ => {}
            }
            return;
        }
        let pos = span_pos(&span);
        match event {
            Event::DocumentStart(_) => {
                self.documents += 1;
                if self.documents > 1 {
                    self.errors.push(
                        Diagnostic::new(
                            self.path,
                            Some(pos),
                            "more than one document in this file",
                        )
                        .with_hint("remove the `---` separator: one file holds one document"),
                    );
                    if let Some(d) = self.errors.pop() {
                        let d = self.sourced(d);
                        self.errors.push(d);
                    }
                }
            }
            Event::Scalar(value, style, anchor, tag) => {
                let is_str_tag = tag.as_ref().is_some_and(|t| t.suffix == "str");
                let v = if style == ScalarStyle::Plain && !is_str_tag {
                    resolve_plain(&value)
                } else {
                    Value::Str(value.into_owned())
                };
                self.push(Node { value: v, pos }, anchor, 1);
            }
            Event::SequenceStart(anchor, _) => {
                if self.too_deep(pos) {
                    return;
                }
                self.stack.push(Frame::Seq {
                    pos,
                    anchor,
                    items: Vec::new(),
                    count: 1,
                });
            }
            Event::MappingStart(anchor, _) => {
                if self.too_deep(pos) {
                    return;
                }
                self.stack.push(Frame::Map {
                    pos,
                    anchor,
                    entries: Vec::new(),
                    pending_key: None,
                    count: 1,
                    seen: None,
                });
            }
            Event::SequenceEnd => {
                if let Some(Frame::Seq {
                    pos,
                    anchor,
                    items,
                    count,
                }) = self.stack.pop()
                {
                    self.push(
                        Node {
                            value: Value::Seq(items),
                            pos,
                        },
                        anchor,
                        count,
                    );
                }
            }
            Event::MappingEnd => {
                if let Some(Frame::Map {
                    pos,
                    anchor,
                    entries,
                    count,
                    ..
                }) = self.stack.pop()
                {
                    self.push(
                        Node {
                            value: Value::Map(entries),
                            pos,
                        },
                        anchor,
                        count,
                    );
                }
            }
            Event::Alias(id) => {
                let Some(count) = self.anchors.get(&id).map(|(_, c)| *c) else {
                    let d = Diagnostic::new(self.path, Some(pos), "unknown alias");
                    let d = self.sourced(d);
                    self.errors.push(d);
                    return;
                };
                // Count first, copy only within the bound.
                let before = self.expanded;
                self.expanded = self.expanded.saturating_add(count);
                if self.expanded > MAX_ALIAS_NODES {
                    if before <= MAX_ALIAS_NODES {
                        let d = Diagnostic::new(
                            self.path,
                            Some(pos),
                            format!("aliases expand to more than {MAX_ALIAS_NODES} values"),
                        )
                        .with_hint(
                            "nested aliases multiply; write the data out or use a dataset file",
                        );
                        let d = self.sourced(d);
                        self.errors.push(d);
                    }
                    return;
                }
                if let Some((node, _)) = self.anchors.get(&id) {
                    let mut node = node.clone();
                    node.pos = pos;
                    self.push(node, 0, count);
                }
            }
            Event::StreamStart | Event::StreamEnd | Event::DocumentEnd | Event::Nothing => {}
        }
    }

    /// `d` with its source line, through the line index.
    fn sourced(&self, d: Diagnostic) -> Diagnostic {
        let index = self
            .lines
            .get_or_init(|| crate::error::LineIndex::new(self.text));
        d.with_source_indexed(index, self.text)
    }

    /// Refuse nesting deeper than [`MAX_DEPTH`] (reported once).
    fn too_deep(&mut self, pos: Pos) -> bool {
        if self.stack.len() < MAX_DEPTH {
            return false;
        }
        // The refused collection and everything in it are skipped.
        self.skipping = 1;
        if !std::mem::replace(&mut self.too_deep_reported, true) {
            let d = Diagnostic::new(
                self.path,
                Some(pos),
                format!("nesting deeper than {MAX_DEPTH} levels"),
            )
            .with_hint("flatten the structure; suites and configs need only a few levels");
            let d = self.sourced(d);
            self.errors.push(d);
        }
        true
    }

    fn push(&mut self, node: Node, anchor: usize, count: usize) {
        if anchor != 0 {
            self.anchors.insert(anchor, (node.clone(), count));
        }
        let text = self.text;
        let path = self.path;
        let index = &self.lines;
        let sourced = |d: Diagnostic| {
            d.with_source_indexed(
                index.get_or_init(|| crate::error::LineIndex::new(text)),
                text,
            )
        };
        if self.streamed_item() {
            if let Some(Frame::Seq { count: c, .. }) = self.stack.last_mut() {
                *c = c.saturating_add(count);
            }
            if let Some((_, each)) = self.stream.as_mut() {
                each(node);
            }
            return;
        }
        match self.stack.last_mut() {
            None => self.root = Some(node),
            Some(Frame::Seq {
                items, count: c, ..
            }) => {
                *c = c.saturating_add(count);
                items.push(node);
            }
            Some(Frame::Map {
                entries,
                pending_key,
                count: c,
                seen,
                ..
            }) => match pending_key.take() {
                None => {
                    let key = match node.value {
                        Value::Str(s) => s,
                        Value::Int(i) => i.to_string(),
                        Value::Float(f) => f.to_string(),
                        Value::Bool(b) => b.to_string(),
                        Value::Null => "null".to_string(),
                        Value::Seq(_) | Value::Map(_) => {
                            self.errors.push(sourced(Diagnostic::new(
                                path,
                                Some(node.pos),
                                "a mapping key must be a plain string",
                            )));
                            String::new()
                        }
                    };
                    let first = if entries.len() < SMALL_MAP {
                        entries
                            .iter()
                            .find(|e| e.key == key)
                            .map(|e| e.key_pos.line)
                    } else {
                        let seen = seen.get_or_insert_with(|| {
                            let mut m = HashMap::with_capacity(entries.len() * 2);
                            for e in entries.iter() {
                                m.entry(e.key.clone()).or_insert(e.key_pos.line);
                            }
                            m
                        });
                        let first = seen.get(&key).copied();
                        if first.is_none() {
                            seen.insert(key.clone(), node.pos.line);
                        }
                        first
                    };
                    if let Some(line) = first {
                        self.errors.push(sourced(
                            Diagnostic::new(
                                path,
                                Some(node.pos),
                                format!("duplicate key `{key}` (first defined at line {line})"),
                            )
                            .with_hint("remove one of the two"),
                        ));
                    }
                    *pending_key = Some((key, node.pos));
                }
                Some((key, key_pos)) => {
                    *c = c.saturating_add(1).saturating_add(count);
                    entries.push(Entry {
                        key,
                        key_pos,
                        value: node,
                    });
                }
            },
        }
    }
}

/// Replace `\uD8xx\uDCxx` escape pairs in JSON strings by the character they
/// encode (JSON text outside strings has no backslashes).
fn decode_surrogate_pairs(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    let hex = |s: &str| s.get(..4).and_then(|h| u32::from_str_radix(h, 16).ok());
    while let Some(i) = rest.find('\\') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        if let Some(u) = after.strip_prefix('u') {
            if let (Some(hi), Some(low_part)) =
                (hex(u), u.get(4..).and_then(|r| r.strip_prefix("\\u")))
            {
                if let Some(lo) = hex(low_part) {
                    if (0xD800..0xDC00).contains(&hi) && (0xDC00..0xE000).contains(&lo) {
                        let c = 0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00);
                        if let Some(ch) = char::from_u32(c) {
                            out.push(ch);
                            rest = &low_part[4..];
                            continue;
                        }
                    }
                }
            }
        }
        // Any other escape: copy the backslash and the escaped character as they are.
        out.push('\\');
        let mut chars = after.chars();
        if let Some(c) = chars.next() {
            out.push(c);
        }
        rest = chars.as_str();
    }
    out.push_str(rest);
    out
}

/// YAML 1.2 core schema resolution of a plain scalar.
pub(crate) fn resolve_plain(s: &str) -> Value {
    match s {
        "" | "~" | "null" | "Null" | "NULL" => return Value::Null,
        "true" | "True" | "TRUE" => return Value::Bool(true),
        "false" | "False" | "FALSE" => return Value::Bool(false),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => {
            return Value::Float(f64::INFINITY)
        }
        "-.inf" | "-.Inf" | "-.INF" => return Value::Float(f64::NEG_INFINITY),
        ".nan" | ".NaN" | ".NAN" => return Value::Float(f64::NAN),
        _ => {}
    }
    let digits = s.strip_prefix(['-', '+']).unwrap_or(s);
    if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
        if let Ok(i) = s.parse::<i64>() {
            return Value::Int(i);
        }
    }
    if let Some(hex) = s.strip_prefix("0x") {
        if let Ok(i) = i64::from_str_radix(hex, 16) {
            return Value::Int(i);
        }
    }
    if let Some(oct) = s.strip_prefix("0o") {
        if let Ok(i) = i64::from_str_radix(oct, 8) {
            return Value::Int(i);
        }
    }
    let looks_float = digits.bytes().any(|b| b.is_ascii_digit())
        && digits
            .bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'-' | b'+'));
    if looks_float {
        if let Ok(f) = s.parse::<f64>() {
            return Value::Float(f);
        }
    }
    Value::Str(s.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(text: &str) -> Node {
        parse(Path::new("t.yaml"), text).unwrap_or_else(|e| panic!("{e:?}"))
    }

    #[test]
    fn positions_are_one_based() {
        let n = p("a: 1\nb:\n  c: [x, 'y']\n");
        let Value::Map(entries) = &n.value else {
            panic!()
        };
        assert_eq!(entries[1].key, "b");
        assert_eq!(entries[1].key_pos, Pos::new(2, 1));
        let Value::Map(inner) = &entries[1].value.value else {
            panic!()
        };
        assert_eq!(inner[0].key_pos, Pos::new(3, 3));
    }

    #[test]
    fn resolves_scalars() {
        let n = p("a: 1\nb: 1.5\nc: true\nd: ~\ne: '1'\nf: hello\n");
        let j = n.to_json();
        assert_eq!(
            j,
            serde_json::json!({"a":1,"b":1.5,"c":true,"d":null,"e":"1","f":"hello"})
        );
    }

    #[test]
    fn duplicate_keys_are_errors() {
        let e = parse(Path::new("t.yaml"), "a: 1\na: 2\n").unwrap_err();
        assert!(e[0].message.contains("duplicate key `a`"));
        assert_eq!(e[0].pos, Some(Pos::new(2, 1)));
    }

    #[test]
    fn json_is_parsed_with_positions() {
        let n = parse(Path::new("t.json"), "{\n  \"a\": {\"b\": 2}\n}").unwrap();
        let Value::Map(entries) = &n.value else {
            panic!()
        };
        assert_eq!(entries[0].key_pos.line, 2);
        let e = parse(Path::new("t.json"), "{\n  \"a\": 1,\n}").unwrap_err();
        assert!(e[0].message.starts_with("invalid JSON"), "{}", e[0].message);
        assert_eq!(e[0].pos.map(|p| p.line), Some(3));
    }

    #[test]
    fn json_surrogate_pairs_and_bom() {
        let n = parse(
            Path::new("t.json"),
            "\u{feff}{\"a\": \"\\ud83d\\ude00 \\\\ud83d \\u00e9\"}",
        )
        .unwrap();
        assert_eq!(n.to_json(), serde_json::json!({"a": "😀 \\ud83d é"}));
        let n = parse(Path::new("t.yaml"), "\u{feff}a: 1\n").unwrap();
        assert_eq!(n.to_json(), serde_json::json!({"a": 1}));
    }

    #[test]
    fn alias_bombs_are_refused() {
        let mut y = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..8 {
            let prev = format!("*a{}", i - 1);
            y.push_str(&format!("a{i}: &a{i} [{}]\n", vec![prev; 10].join(", ")));
        }
        let e = parse(Path::new("t.yaml"), &y).unwrap_err();
        assert!(
            e[0].message.contains("aliases expand to more than"),
            "{:?}",
            e[0]
        );
    }

    #[test]
    fn anchors_and_aliases() {
        let n = p("a: &x {k: 1}\nb: *x\n");
        assert_eq!(n.to_json(), serde_json::json!({"a":{"k":1},"b":{"k":1}}));
    }

    #[test]
    fn streaming_hands_over_the_root_lists_items_in_order() {
        let text = "name: s\ndefaults: &d {k: 1}\ncases:\n  - {id: a, v: *d}\n  - id: b\n    nested: {cases: [x]}\n  - &c {id: c}\n  - *c\nafter: [1, 2]\n";
        let mut items = Vec::new();
        let root =
            parse_streaming(Path::new("t.yaml"), text, "cases", &mut |n| items.push(n)).unwrap();
        let ids: Vec<serde_json::Value> = items.iter().map(Node::to_json).collect();
        assert_eq!(
            ids,
            vec![
                serde_json::json!({"id": "a", "v": {"k": 1}}),
                serde_json::json!({"id": "b", "nested": {"cases": ["x"]}}),
                serde_json::json!({"id": "c"}),
                serde_json::json!({"id": "c"}),
            ]
        );
        assert_eq!(items[1].pos, Pos::new(5, 5));
        // The tree keeps everything else, and the list empty at its place.
        assert_eq!(
            root.to_json(),
            serde_json::json!({"name": "s", "defaults": {"k": 1}, "cases": [], "after": [1, 2]})
        );
        let field = |n: &Node, k: &str| match &n.value {
            Value::Map(es) => es.iter().find(|e| e.key == k).map(|e| e.value.clone()),
            _ => None,
        };
        assert_eq!(field(&root, "cases").map(|n| n.pos), Some(Pos::new(4, 3)));
        // The same tree as an ordinary parse, but for the items.
        let whole = parse(Path::new("t.yaml"), text).unwrap();
        assert_eq!(
            field(&whole, "cases").map(|n| n.to_json()),
            Some(serde_json::Value::Array(ids))
        );
        // Errors still come back, after the items before them.
        let mut n = 0;
        let e = parse_streaming(
            Path::new("t.yaml"),
            "cases:\n  - a\n  - [b\n",
            "cases",
            &mut |_| n += 1,
        );
        assert!(e.is_err());
        assert_eq!(n, 1);
    }

    #[test]
    fn duplicate_keys_in_small_and_large_mappings() {
        for n in [3usize, 15, 16, 17, 40] {
            let mut y = String::new();
            for i in 0..n {
                y.push_str(&format!("k{i}: {i}\n"));
            }
            y.push_str("k1: again\n");
            y.push_str(&format!("k{}: again\n", n - 1));
            let e = parse(Path::new("t.yaml"), &y).unwrap_err();
            let got: Vec<String> = e.iter().map(|d| d.message.clone()).collect();
            assert_eq!(
                got,
                vec![
                    "duplicate key `k1` (first defined at line 2)".to_string(),
                    format!("duplicate key `k{}` (first defined at line {n})", n - 1),
                ],
                "{n} keys"
            );
        }
    }
}

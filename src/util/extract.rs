//! JSON inside prose: the first JSON value of a model's answer that wraps it
//! in a code fence or a sentence (`extract: true` on the JSON checks and the
//! golden JSON mode).
//!
//! In order: the whole text, if it is JSON; the first ```` ```json ```` fence
//! holding JSON; the first fence of any language holding JSON; the first
//! balanced `{…}` or `[…]` in the text that is JSON (brackets inside strings
//! do not count). Inside a fence, its whole content, else its first balanced
//! object or array.

/// The default of `extract` for the JSON checks and golden JSON mode of a
/// suite (`defaults.extract_json`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ExtractDefault(pub bool);

/// Most candidate openings (`{`, `[`) tried in one text: a bound on the work
/// hostile output can cause (each try reads at most the rest of the text).
const MAX_TRIES: usize = 64;

/// Where the JSON was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// The whole output is JSON.
    Whole,
    /// Inside a fenced code block opened on `line`, with its language tag.
    Fence { line: usize, lang: String },
    /// In the text, starting at `line` and `col` (1-based, in characters).
    Inline { line: usize, col: usize },
}

/// A JSON value found in a text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Extracted<'a> {
    /// The JSON text itself.
    pub json: &'a str,
    pub source: Source,
}

impl Extracted<'_> {
    /// "the JSON object in the ```json fence at line 3", for explanations.
    pub fn describe(&self) -> String {
        let what = match self.json.trim_start().as_bytes().first() {
            Some(b'{') => "the JSON object",
            Some(b'[') => "the JSON array",
            _ => "the JSON value",
        };
        match &self.source {
            Source::Whole => format!("{what} that is the whole output"),
            Source::Fence { line, lang } if lang.is_empty() => {
                format!("{what} in the ``` fence at line {line}")
            }
            Source::Fence { line, lang } => {
                format!("{what} in the ```{lang} fence at line {line}")
            }
            Source::Inline { line, col } => {
                format!("{what} at line {line}, column {col} of the output")
            }
        }
    }
}

fn is_json(text: &str) -> bool {
    serde_json::from_str::<serde::de::IgnoredAny>(text).is_ok()
}

/// One fenced code block: its language tag, its content (byte range of the
/// text) and the line it opens on.
struct Fence {
    lang: String,
    start: usize,
    end: usize,
    line: usize,
}

/// The fenced code blocks of a Markdown text (```` ``` ```` or `~~~`, three
/// or more; an unclosed fence runs to the end).
fn fences(text: &str) -> Vec<Fence> {
    let mut out = Vec::new();
    let mut open: Option<(char, usize, String, usize, usize)> = None;
    let mut offset = 0;
    for (i, raw) in text.split_inclusive('\n').enumerate() {
        let line = raw.trim_end_matches(['\n', '\r']);
        let trimmed = line.trim_start();
        let indent = line.len() - trimmed.len();
        let marker = trimmed.chars().next().filter(|c| *c == '`' || *c == '~');
        let run = marker.map_or(0, |m| trimmed.chars().take_while(|c| *c == m).count());
        match &open {
            None if indent <= 3 && run >= 3 => {
                let m = marker.unwrap_or('`');
                let lang = trimmed[run..]
                    .split_whitespace()
                    .next()
                    .unwrap_or("")
                    .to_string();
                open = Some((m, run, lang, offset + raw.len(), i + 1));
            }
            Some((m, n, _, _, _))
                if indent <= 3
                    && marker == Some(*m)
                    && run >= *n
                    && trimmed[run..].trim().is_empty() =>
            {
                if let Some((_, _, lang, start, line)) = open.take() {
                    out.push(Fence {
                        lang,
                        start,
                        end: offset,
                        line,
                    });
                }
            }
            _ => {}
        }
        offset += raw.len();
    }
    if let Some((_, _, lang, start, line)) = open {
        out.push(Fence {
            lang,
            start: start.min(text.len()),
            end: text.len(),
            line,
        });
    }
    out
}

/// The end (exclusive) of the balanced object or array opening at `start`,
/// skipping brackets inside strings; None when it does not close or a
/// closer does not match.
fn balanced_end(text: &str, start: usize) -> Option<usize> {
    let bytes = text.as_bytes();
    let mut stack: Vec<u8> = Vec::new();
    let mut in_string = false;
    let mut escaped = false;
    for (i, &b) in bytes.iter().enumerate().skip(start) {
        if in_string {
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_string = false;
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'{' => stack.push(b'}'),
            b'[' => stack.push(b']'),
            b'}' | b']' => {
                if stack.pop() != Some(b) {
                    return None;
                }
                if stack.is_empty() {
                    return Some(i + 1);
                }
            }
            _ => {}
        }
    }
    None
}

/// The first balanced object or array in `text[from..to]` that is JSON:
/// its byte range.
fn first_balanced(text: &str, from: usize, to: usize) -> Option<(usize, usize)> {
    let slice = text.get(from..to)?;
    let mut tries = 0;
    for (i, b) in slice.bytes().enumerate() {
        if b != b'{' && b != b'[' {
            continue;
        }
        tries += 1;
        if tries > MAX_TRIES {
            return None;
        }
        if let Some(end) = balanced_end(slice, i) {
            if is_json(&slice[i..end]) {
                return Some((from + i, from + end));
            }
        }
    }
    None
}

/// 1-based line and column (in characters) of byte `at`.
fn line_col(text: &str, at: usize) -> (usize, usize) {
    let before = text.get(..at).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let col = before.get(line_start..).map_or(0, |s| s.chars().count()) + 1;
    (line, col)
}

/// The JSON value in a fence's content: all of it, or its first balanced
/// object or array.
fn in_fence<'a>(text: &'a str, f: &Fence) -> Option<&'a str> {
    let content = text.get(f.start..f.end)?;
    let trimmed = content.trim();
    if !trimmed.is_empty() && is_json(trimmed) {
        return Some(trimmed);
    }
    first_balanced(text, f.start, f.end).and_then(|(s, e)| text.get(s..e))
}

/// The first JSON value in `text`, by the rules of the module documentation.
pub fn extract_json(text: &str) -> Option<Extracted<'_>> {
    let trimmed = text.trim();
    if !trimmed.is_empty() && is_json(trimmed) {
        return Some(Extracted {
            json: trimmed,
            source: Source::Whole,
        });
    }
    let fences = fences(text);
    let json_fence = |f: &&Fence| f.lang.eq_ignore_ascii_case("json");
    let ordered = fences
        .iter()
        .filter(json_fence)
        .chain(fences.iter().filter(|f| !json_fence(f)));
    for f in ordered {
        if let Some(json) = in_fence(text, f) {
            return Some(Extracted {
                json,
                source: Source::Fence {
                    line: f.line,
                    lang: f.lang.clone(),
                },
            });
        }
    }
    let (s, e) = first_balanced(text, 0, text.len())?;
    let (line, col) = line_col(text, s);
    Some(Extracted {
        json: text.get(s..e)?,
        source: Source::Inline { line, col },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_output() {
        let e = extract_json(" {\"a\": 1}\n").unwrap();
        assert_eq!(e.json, "{\"a\": 1}");
        assert_eq!(e.source, Source::Whole);
    }

    #[test]
    fn json_fence_before_other_fences() {
        let text =
            "Here:\n```python\nprint({'x': 1})\n[1, 2]\n```\nand\n```json\n{\"b\": 2}\n```\n";
        let e = extract_json(text).unwrap();
        assert_eq!(e.json, "{\"b\": 2}");
        assert_eq!(
            e.describe(),
            "the JSON object in the ```json fence at line 7"
        );
    }

    #[test]
    fn any_fence_then_inline() {
        let e = extract_json("Result:\n```\n[1, 2]\n```").unwrap();
        assert_eq!(e.json, "[1, 2]");
        assert_eq!(e.describe(), "the JSON array in the ``` fence at line 2");
        let e = extract_json("Sure! The answer is {\"city\": \"Paris {x}\"} as asked.").unwrap();
        assert_eq!(e.json, "{\"city\": \"Paris {x}\"}");
        assert_eq!(
            e.describe(),
            "the JSON object at line 1, column 21 of the output"
        );
    }

    #[test]
    fn skips_unbalanced_and_invalid_candidates() {
        let e = extract_json("a {not json} then [1, {\"k\": \"]\"}] end").unwrap();
        assert_eq!(e.json, "[1, {\"k\": \"]\"}]");
        assert!(extract_json("no json { here").is_none());
        assert!(extract_json("").is_none());
        let e = extract_json("```json\nThe value: {\"a\": [1]} ok\n```").unwrap();
        assert_eq!(e.json, "{\"a\": [1]}");
    }

    #[test]
    fn tries_are_bounded() {
        let text = format!("{}{{\"a\": 1}}", "{x ".repeat(100));
        assert!(extract_json(&text).is_none());
    }
}

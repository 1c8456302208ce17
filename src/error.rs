//! Error types. Every expected error maps to one documented exit code.
//!
//! Input problems are collected as [`Diagnostic`]s (file, line, column, message,
//! hint, the offending source line) so that all of them across all files can be
//! reported at once before anything runs.

use std::fmt;
use std::path::{Path, PathBuf};

use crate::exit;

/// A position in a source file, 1-based line and column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Pos {
    pub line: usize,
    pub col: usize,
}

impl Pos {
    pub fn new(line: usize, col: usize) -> Self {
        Pos { line, col }
    }
}

/// One problem found in the input, with its location.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub file: PathBuf,
    pub pos: Option<Pos>,
    pub message: String,
    pub hint: Option<String>,
    /// The source line the position points into, for display (a long line
    /// is cut to a window around the column, see [`SHOWN_LINE`]).
    pub source_line: Option<Box<SourceLine>>,
}

/// A source line as shown under a diagnostic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceLine {
    /// The line, or a window of it around the caret.
    pub text: String,
    /// The caret's column (1-based, in characters) within `text` when the
    /// line was cut; otherwise the diagnostic's own column.
    pub caret_col: Option<usize>,
}

/// Longest source line shown whole (bytes); a longer one is shown as a
/// window of about this many characters around the caret, with `…` marks.
pub(crate) const SHOWN_LINE: usize = 160;

/// Where each line of a text starts: the line of a position in O(log n),
/// so a file with many errors is not rescanned for each.
#[derive(Debug, Default)]
pub(crate) struct LineIndex {
    starts: Vec<usize>,
}

impl LineIndex {
    pub(crate) fn new(text: &str) -> Self {
        let mut starts = vec![0];
        starts.extend(memchr::memchr_iter(b'\n', text.as_bytes()).map(|i| i + 1));
        LineIndex { starts }
    }

    /// Line `n` (1-based) of `text` (the text the index was built from),
    /// without its line break.
    pub(crate) fn line<'t>(&self, text: &'t str, n: usize) -> Option<&'t str> {
        let start = *self.starts.get(n.checked_sub(1)?)?;
        if start > text.len() || (start == text.len() && n > 1) {
            return None;
        }
        let end = self
            .starts
            .get(n)
            .map_or(text.len(), |&next| next.saturating_sub(1));
        text.get(start..end.max(start))
    }
}

impl Diagnostic {
    pub fn new(file: impl Into<PathBuf>, pos: Option<Pos>, message: impl Into<String>) -> Self {
        Diagnostic {
            file: file.into(),
            pos,
            message: message.into(),
            hint: None,
            source_line: None,
        }
    }

    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// Attach the source line at `pos` taken from `source`.
    pub fn with_source(self, source: &str) -> Self {
        match self.pos {
            Some(pos) => match source.lines().nth(pos.line.saturating_sub(1)) {
                Some(l) => self.with_source_line(l),
                None => self,
            },
            None => self,
        }
    }

    /// [`Self::with_source`] through a line index of `source` (many errors in one file).
    pub(crate) fn with_source_indexed(self, index: &LineIndex, source: &str) -> Self {
        match self.pos.and_then(|p| index.line(source, p.line)) {
            Some(l) => self.with_source_line(l),
            None => self,
        }
    }

    /// Attach the text of the line `pos` points at (cut around the column
    /// when it is long: a 10 MB line must not flood the terminal).
    pub fn with_source_line(mut self, line: &str) -> Self {
        let line = line.trim_end_matches('\r');
        let col = self.pos.map_or(1, |p| p.col.max(1));
        if line.len() <= SHOWN_LINE {
            self.source_line = Some(Box::new(SourceLine {
                text: line.to_string(),
                caret_col: None,
            }));
            return self;
        }
        let half = SHOWN_LINE / 2;
        let first = col.saturating_sub(half).max(1); // 1-based char column of the window start
        let mut chars = line.chars().skip(first - 1);
        let window: String = chars.by_ref().take(SHOWN_LINE).collect();
        let more = chars.next().is_some();
        let mut out = String::new();
        let mut caret = col - first + 1;
        if first > 1 {
            out.push('…');
            caret += 1;
        }
        out.push_str(&window);
        if more {
            out.push('…');
        }
        self.source_line = Some(Box::new(SourceLine {
            text: out,
            caret_col: Some(caret),
        }));
        self
    }

    /// `file:line:col` (or just the file when there is no position).
    pub fn location(&self) -> String {
        match self.pos {
            Some(p) => format!("{}:{}:{}", display_path(&self.file), p.line, p.col),
            None => display_path(&self.file),
        }
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "error: {}", self.message)?;
        write!(f, "  --> {}", self.location())?;
        if let (Some(pos), Some(src)) = (self.pos, &self.source_line) {
            let line = &src.text;
            let num = pos.line.to_string();
            let pad = " ".repeat(num.len());
            write!(f, "\n {pad} |\n {num} | {line}\n {pad} | ")?;
            // Columns count characters; keep tabs so the caret lines up.
            let col = src.caret_col.unwrap_or(pos.col);
            let prefix: String = line
                .chars()
                .take(col.saturating_sub(1))
                .map(|c| if c == '\t' { '\t' } else { ' ' })
                .collect();
            write!(f, "{prefix}^")?;
        }
        if let Some(hint) = &self.hint {
            write!(f, "\n  = hint: {hint}")?;
        }
        Ok(())
    }
}

/// Paths are shown relative and with forward slashes so messages are stable.
pub(crate) fn display_path(path: &Path) -> String {
    use std::path::Component;
    // Lexically drop `.` and fold `dir/..` so `config/../data/x` shows as `data/x`.
    let mut parts: Vec<Component<'_>> = Vec::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir if matches!(parts.last(), Some(Component::Normal(_))) => {
                parts.pop();
            }
            other => parts.push(other),
        }
    }
    let clean: std::path::PathBuf = parts.iter().collect();
    clean.to_string_lossy().replace('\\', "/")
}

/// A list of diagnostics, displayed together with a closing count.
#[derive(Debug, Clone, Default)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for d in &self.0 {
            writeln!(f, "{d}\n")?;
        }
        let mut files: Vec<&PathBuf> = self.0.iter().map(|d| &d.file).collect();
        files.sort();
        files.dedup();
        write!(
            f,
            "error: {} problem{} in {} file{}; nothing was run",
            self.0.len(),
            if self.0.len() == 1 { "" } else { "s" },
            files.len(),
            if files.len() == 1 { "" } else { "s" }
        )
    }
}

/// The library's error type. Each variant knows its exit code.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Config or suite files are invalid (exit 2).
    #[error("{0}")]
    Invalid(Diagnostics),
    /// Bad command-line usage (exit 2).
    #[error("error: {0}")]
    Usage(String),
    /// A report or other output could not be written (exit 3).
    #[error("error: cannot write {path}: {source}\n  = hint: check that the directory exists or can be created and is writable")]
    Output {
        path: String,
        #[source]
        source: std::io::Error,
    },
    /// The run could not be carried out (exit 3).
    #[error("error: {0}")]
    Infrastructure(String),
}

impl Error {
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Invalid(_) | Error::Usage(_) => exit::INVALID_INPUT,
            Error::Output { .. } | Error::Infrastructure(_) => exit::INFRASTRUCTURE,
        }
    }

    pub fn output(path: &Path, source: std::io::Error) -> Self {
        Error::Output {
            path: display_path(path),
            source,
        }
    }
}

impl From<Vec<Diagnostic>> for Error {
    fn from(d: Vec<Diagnostic>) -> Self {
        Error::Invalid(Diagnostics(d))
    }
}

/// "did you mean" suggestion among `candidates`, by edit similarity.
pub(crate) fn did_you_mean<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|c| (c, strsim::jaro_winkler(word, c)))
        .filter(|(_, score)| *score > 0.8)
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .map(|(c, _)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_close_keys() {
        assert_eq!(
            did_you_mean("chekcs", ["checks", "cases", "vars"]),
            Some("checks")
        );
        assert_eq!(did_you_mean("zzz", ["checks", "cases"]), None);
    }

    #[test]
    fn renders_caret_under_column() {
        let d = Diagnostic::new("suites/a.yaml", Some(Pos::new(2, 3)), "unknown key `x`")
            .with_source("a: 1\n  x: 2\n")
            .with_hint("remove it");
        let s = d.to_string();
        assert!(s.contains("suites/a.yaml:2:3"), "{s}");
        assert!(s.contains("2 |   x: 2"), "{s}");
        assert!(s.contains("|   ^"), "{s}");
    }

    #[test]
    fn a_long_line_is_cut_around_the_caret() {
        let line = format!("{}X{}", "a".repeat(100_000), "b".repeat(100_000));
        let d =
            Diagnostic::new("s.yaml", Some(Pos::new(1, 100_001)), "bad").with_source_line(&line);
        let s = d.to_string();
        assert!(s.len() < 1000, "{}", s.len());
        let lines: Vec<&str> = s.lines().collect();
        let src = lines.iter().find(|l| l.contains('X')).unwrap();
        let caret = lines.last().unwrap();
        // The caret is under the X.
        let x = src.chars().position(|c| c == 'X').unwrap();
        assert_eq!(caret.chars().position(|c| c == '^'), Some(x), "{s}");
        assert!(src.contains('…'), "{s}");
    }

    #[test]
    fn line_index_finds_lines() {
        let text = "a\nbb\r\n\nccc";
        let ix = LineIndex::new(text);
        assert_eq!(ix.line(text, 1), Some("a"));
        assert_eq!(ix.line(text, 2), Some("bb\r"));
        assert_eq!(ix.line(text, 3), Some(""));
        assert_eq!(ix.line(text, 4), Some("ccc"));
        assert_eq!(ix.line(text, 5), None);
        assert_eq!(ix.line(text, 0), None);
    }
}

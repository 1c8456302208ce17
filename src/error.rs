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
    /// The source line the position points into, for display.
    pub source_line: Option<String>,
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
    pub fn with_source(mut self, source: &str) -> Self {
        if let Some(pos) = self.pos {
            self.source_line = source
                .lines()
                .nth(pos.line.saturating_sub(1))
                .map(|l| l.trim_end_matches('\r').to_string());
        }
        self
    }

    /// Attach the text of the line `pos` points at.
    pub fn with_source_line(mut self, line: &str) -> Self {
        self.source_line = Some(line.trim_end_matches('\r').to_string());
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
        if let (Some(pos), Some(line)) = (self.pos, &self.source_line) {
            let num = pos.line.to_string();
            let pad = " ".repeat(num.len());
            write!(f, "\n {pad} |\n {num} | {line}\n {pad} | ")?;
            // Columns count characters; keep tabs so the caret lines up.
            let prefix: String = line
                .chars()
                .take(pos.col.saturating_sub(1))
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
}

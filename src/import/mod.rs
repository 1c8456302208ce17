//! `evalgate import`: other tools' configurations converted into an
//! evalgate project (`evalgate.yaml`, suite files), with a note for
//! everything that could not be converted, or was converted with a
//! difference, each at the file and line it came from.
//!
//! The converters read their input through [`crate::syntax`] (positions for
//! every value) and [`crate::util::fsafe`], and build the output as JSON
//! values written by [`yaml`]; they write nothing themselves (`app::import`
//! does, atomically, refusing to overwrite).

pub(crate) mod promptfoo;
pub(crate) mod yaml;

use std::fmt;

/// Why a note was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum NoteKind {
    /// Left out of the converted project.
    NotConverted,
    /// Converted, but evalgate's behaviour differs from the original's.
    Differs,
}

/// One thing the conversion could not carry over exactly.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Note {
    pub kind: NoteKind,
    /// The input file, as shown (relative to the working directory).
    pub file: String,
    pub line: Option<usize>,
    pub text: String,
}

impl fmt::Display for Note {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(l) => write!(f, "{}:{l}: {}", self.file, self.text),
            None => write!(f, "{}: {}", self.file, self.text),
        }
    }
}

/// A converted project: files (path inside the output directory, contents)
/// and the notes.
#[derive(Debug, Default)]
pub(crate) struct Converted {
    pub files: Vec<(String, String)>,
    pub notes: Vec<Note>,
    /// Every converted provider that runs the tests, when there are several
    /// (the original ran each test against each of them).
    pub matrix: Vec<String>,
}

/// Why nothing was converted.
#[derive(Debug)]
pub(crate) enum Failure {
    /// The input could not be read or is not a configuration of this tool
    /// (exit 2): every problem, with file and line.
    Unreadable(Vec<crate::error::Diagnostic>),
    /// The input was read, but nothing in it maps to evalgate (exit 2).
    NothingConvertible { reason: String, notes: Vec<Note> },
}

/// A name usable as a provider, suite, variant or case id: lower case
/// letters, digits, `.`, `_` and `-`, at most 60 characters; None when
/// nothing of `s` is left.
pub(crate) fn slug(s: &str) -> Option<String> {
    let mut out = String::new();
    for c in s.chars() {
        let c = c.to_ascii_lowercase();
        if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
            out.push(c);
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    let trimmed: String = out
        .trim_matches(|c| c == '-' || c == '.')
        .chars()
        .take(60)
        .collect();
    let trimmed = trimmed.trim_end_matches(['-', '.']).to_string();
    (!trimmed.is_empty()).then_some(trimmed)
}

/// `base`, or `base-2`, `base-3`… : the first not in `taken` (which gets it).
pub(crate) fn unique(base: &str, taken: &mut std::collections::BTreeSet<String>) -> String {
    let mut name = base.to_string();
    let mut n = 2;
    while taken.contains(&name) {
        name = format!("{base}-{n}");
        n += 1;
    }
    taken.insert(name.clone());
    name
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_are_valid_ids() {
        assert_eq!(
            slug("Check for exact match").as_deref(),
            Some("check-for-exact-match")
        );
        assert_eq!(
            slug("Claude 3.7 Sonnet").as_deref(),
            Some("claude-3.7-sonnet")
        );
        assert_eq!(
            slug("openai:chat:gpt-4.1").as_deref(),
            Some("openai-chat-gpt-4.1")
        );
        assert_eq!(slug("¿?"), None);
        assert_eq!(slug(".."), None);
        let long = slug(&"word ".repeat(40)).unwrap();
        assert!(long.len() <= 60 && !long.ends_with('-'), "{long}");
        let mut taken = std::collections::BTreeSet::from(["a".to_string()]);
        assert_eq!(unique("a", &mut taken), "a-2");
        assert_eq!(unique("a", &mut taken), "a-3");
        assert_eq!(unique("b", &mut taken), "b");
    }
}

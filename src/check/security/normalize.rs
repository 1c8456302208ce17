//! The text every detector reads: NFKC-normalised, with invisible characters
//! stripped, and a map from its byte offsets back to the original output (so
//! evidence says where in the output a match is).

use std::borrow::Cow;

use unicode_normalization::char::canonical_combining_class;
use unicode_normalization::{is_nfkc_quick, IsNormalized, UnicodeNormalization};

/// Characters that render as nothing (or reorder what follows) and that an
/// attacker can use to hide text or split a token: stripped before detection.
///
/// Not included: the em dash, the non-breaking space (NFKC makes it a space)
/// and other visible punctuation.
pub(crate) fn is_invisible(c: char) -> bool {
    matches!(c,
        '\u{00AD}'                      // soft hyphen
        | '\u{034F}'                    // combining grapheme joiner
        | '\u{061C}'                    // Arabic letter mark
        | '\u{115F}' | '\u{1160}'       // Hangul fillers
        | '\u{17B4}' | '\u{17B5}'       // Khmer inherent vowels
        | '\u{180B}'..='\u{180F}'       // Mongolian variation selectors and vowel separator
        | '\u{200B}'..='\u{200F}'       // zero width space, non-joiner, joiner; LRM, RLM
        | '\u{202A}'..='\u{202E}'       // bidi embeddings and overrides
        | '\u{2060}'..='\u{2064}'       // word joiner, invisible operators
        | '\u{2066}'..='\u{206F}'       // bidi isolates, deprecated format characters
        | '\u{3164}' | '\u{FFA0}'       // Hangul fillers
        | '\u{FE00}'..='\u{FE0F}'       // variation selectors 1-16
        | '\u{FEFF}'                    // zero width no-break space (BOM)
        | '\u{1D173}'..='\u{1D17A}'     // musical symbol format characters
        | '\u{E0000}'..='\u{E007F}'     // tag characters
        | '\u{E0100}'..='\u{E01EF}'     // variation selectors 17-256
    )
}

/// Normalised text and the way back to the original's byte offsets.
#[derive(Debug)]
pub(crate) struct Normalized<'a> {
    pub(crate) text: Cow<'a, str>,
    /// Breakpoints `(normalised offset, original offset)`, ascending; between
    /// two breakpoints offsets advance together. Empty: the text is unchanged.
    map: Vec<(usize, usize)>,
}

impl<'a> Normalized<'a> {
    /// NFKC with invisible characters removed. Borrowed (no copy) when the
    /// text is already normal, as plain ASCII always is.
    pub(crate) fn new(s: &'a str) -> Self {
        let normal = |c: char| {
            !is_invisible(c)
                && canonical_combining_class(c) == 0
                && is_nfkc_quick(std::iter::once(c)) == IsNormalized::Yes
        };
        if super::non_ascii(s).all(|(_, c)| normal(c)) {
            return Normalized {
                text: Cow::Borrowed(s),
                map: Vec::new(),
            };
        }
        let mut text = String::with_capacity(s.len());
        let mut map = Vec::new();
        let mut chars = s.char_indices().peekable();
        while let Some((start, c)) = chars.next() {
            // A group: one character and the combining marks that follow it,
            // normalised together so marks compose with their base.
            let mut end = start + c.len_utf8();
            while let Some(&(i, m)) = chars.peek() {
                if canonical_combining_class(m) == 0 && !is_invisible(m) {
                    break;
                }
                end = i + m.len_utf8();
                chars.next();
            }
            let group = &s[start..end];
            let simple = end == start + c.len_utf8()
                && !is_invisible(c)
                && is_nfkc_quick(std::iter::once(c)) == IsNormalized::Yes;
            if simple {
                text.push(c);
                continue;
            }
            text.extend(group.chars().filter(|&c| !is_invisible(c)).nfkc());
            map.push((text.len(), end));
        }
        Normalized {
            text: Cow::Owned(text),
            map,
        }
    }

    /// The text as it is (for detectors that read invisible characters).
    pub(crate) fn unchanged(s: &'a str) -> Self {
        Normalized {
            text: Cow::Borrowed(s),
            map: Vec::new(),
        }
    }

    /// The original byte offset of normalised offset `pos`.
    pub(crate) fn original(&self, pos: usize) -> usize {
        match self.map.binary_search_by_key(&pos, |&(n, _)| n) {
            Ok(i) => self.map[i].1,
            Err(0) => pos,
            Err(i) => {
                let (n, o) = self.map[i - 1];
                o + (pos - n)
            }
        }
    }
}

/// 1-based line and column (in characters) of byte offset `at` in `s`.
pub(crate) fn line_col(s: &str, at: usize) -> (usize, usize) {
    let mut at = at.min(s.len());
    while !s.is_char_boundary(at) {
        at -= 1;
    }
    let before = &s[..at];
    let line = memchr::memchr_iter(b'\n', before.as_bytes()).count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, before[line_start..].chars().count() + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ascii_is_borrowed() {
        let n = Normalized::new("plain text 123");
        assert!(matches!(n.text, Cow::Borrowed(_)));
        assert_eq!(n.original(5), 5);
    }

    #[test]
    fn invisibles_are_stripped_and_offsets_map_back() {
        let s = "key: s\u{200B}k-ab and \u{FF53}\u{FF4B}";
        let n = Normalized::new(s);
        assert_eq!(n.text, "key: sk-ab and sk");
        let at = n.text.find("and").unwrap();
        assert_eq!(&s[n.original(at)..n.original(at) + 3], "and");
    }

    #[test]
    fn em_dash_and_nbsp_are_not_invisible() {
        assert!(!is_invisible('—'));
        assert!(!is_invisible('\u{00A0}'));
        assert_eq!(Normalized::new("a\u{00A0}b — c").text, "a b — c");
    }

    #[test]
    fn combining_marks_compose() {
        assert_eq!(Normalized::new("cafe\u{0301}").text, "café");
    }

    #[test]
    fn lines_and_columns() {
        assert_eq!(line_col("ab\ncdé!", 7), (2, 4));
        assert_eq!(line_col("ab", 0), (1, 1));
    }
}

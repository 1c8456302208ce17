//! Helpers that make a failed check explain itself: excerpts of the output
//! around a position, truncated displays.

/// The text around character index `at`, `radius` characters on each side,
/// with a `⟦…⟧`-free marker `▶` at the position. Newlines are shown as `⏎`.
pub fn excerpt_around(s: &str, at: usize, radius: usize) -> String {
    let chars: Vec<char> = s.chars().collect();
    let at = at.min(chars.len());
    let start = at.saturating_sub(radius);
    let end = (at + radius).min(chars.len());
    let mut out = String::new();
    if start > 0 {
        out.push('…');
    }
    for (i, c) in chars[start..end].iter().enumerate() {
        if start + i == at {
            out.push('▶');
        }
        out.push(if *c == '\n' { '⏎' } else { *c });
    }
    if end == at {
        out.push('▶');
    }
    if end < chars.len() {
        out.push('…');
    }
    out
}

/// Character index of the first difference between two strings.
pub(super) fn first_difference(a: &str, b: &str) -> usize {
    a.chars().zip(b.chars()).take_while(|(x, y)| x == y).count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn excerpts_mark_the_position() {
        assert_eq!(excerpt_around("hello world", 6, 3), "…lo ▶wor…");
        assert_eq!(excerpt_around("ab", 2, 5), "ab▶");
        assert_eq!(crate::util::text::truncate_chars("abcdef", 3), "abc…");
        assert_eq!(first_difference("Paris", "Parix"), 4);
    }
}

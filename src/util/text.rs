//! Text helpers every layer shares: cut to a length, put on one line, quote
//! as a Markdown code span, escape for HTML, say what is wrong with a regex.

/// At most `max` characters of `s`, with `…` when cut.
pub fn truncate_chars(s: &str, max: usize) -> String {
    let mut out: String = s.chars().take(max).collect();
    if s.chars().nth(max).is_some() {
        out.push('…');
    }
    out
}

/// `s` on one line (newlines shown as `⏎`, other control characters as
/// spaces), at most `max_chars` characters with `…` when cut.
pub fn one_line(s: &str, max_chars: usize) -> String {
    let flat: String = s
        .trim()
        .replace("\r\n", "\n")
        .chars()
        .map(|c| match c {
            '\n' | '\r' => '⏎',
            c if c.is_control() => ' ',
            c => c,
        })
        .collect();
    truncate_chars(&flat, max_chars)
}

/// Escape text for HTML (inside `<summary>`, `<code>`, table cells).
pub fn html(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// `s` as an inline code span, with enough backticks to contain its own.
pub fn code_span(s: &str) -> String {
    let ticks = "`".repeat(longest_run(s, '`') + 1);
    if s.starts_with('`') || s.ends_with('`') {
        format!("{ticks} {s} {ticks}")
    } else {
        format!("{ticks}{s}{ticks}")
    }
}

/// Length of the longest run of `c` in `s` (to choose fences that contain it).
pub fn longest_run(s: &str, c: char) -> usize {
    let (mut best, mut run) = (0, 0);
    for ch in s.chars() {
        if ch == c {
            run += 1;
            best = best.max(run);
        } else {
            run = 0;
        }
    }
    best
}

/// The last line of a regex error (the part that says what is wrong).
pub fn regex_error(e: &regex::Error) -> String {
    let s = e.to_string();
    s.lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or(&s)
        .trim()
        .trim_start_matches("error: ")
        .to_string()
}

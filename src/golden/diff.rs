//! Diffs between a golden and an output: a plain unified diff (patience
//! algorithm, 3 lines of context, bounded time) for reports, and a coloured
//! rendering with word-level highlights for the console.

use std::time::Duration;

use console::Style;
use similar::{Algorithm, ChangeTag, TextDiff};

/// Longest diff kept in a report (characters); the rest is cut with a note.
pub const MAX_DIFF_CHARS: usize = 32 * 1024;

/// Lines longer than this are diffed word by word instead of line by line
/// (a one-line 200 KB answer would otherwise be one huge `-`/`+` pair).
const LONG_LINE: usize = 400;

/// A unified diff from the golden (`-`) to the output (`+`).
pub fn unified(expected: &str, actual: &str) -> String {
    let long = expected
        .lines()
        .chain(actual.lines())
        .any(|l| l.len() > LONG_LINE);
    let out = if long {
        word_hunks(expected, actual)
    } else {
        TextDiff::configure()
            .algorithm(Algorithm::Patience)
            .timeout(Duration::from_millis(500))
            .diff_lines(expected, actual)
            .unified_diff()
            .context_radius(3)
            .missing_newline_hint(false)
            .header("golden", "output")
            .to_string()
    };
    truncate(out)
}

/// Word-level hunks: each change with a few words of context on one `-`
/// and one `+` line (newlines shown as `⏎`).
fn word_hunks(expected: &str, actual: &str) -> String {
    let diff = TextDiff::configure()
        .timeout(Duration::from_millis(500))
        .diff_words(expected, actual);
    let mut out = String::new();
    for group in diff.grouped_ops(8) {
        let (mut minus, mut plus) = (String::new(), String::new());
        for op in &group {
            for change in diff.iter_changes(op) {
                let v = change.value();
                match change.tag() {
                    ChangeTag::Equal => {
                        minus.push_str(v);
                        plus.push_str(v);
                    }
                    ChangeTag::Delete => minus.push_str(v),
                    ChangeTag::Insert => plus.push_str(v),
                }
            }
        }
        let start = group.first().map_or(0, |op| op.old_range().start);
        out.push_str(&format!("@@ word {} @@\n", start + 1));
        out.push_str(&format!(
            "-{}\n+{}\n",
            minus.replace('\n', "⏎"),
            plus.replace('\n', "⏎")
        ));
    }
    if out.is_empty() {
        return out;
    }
    format!("--- golden\n+++ output\n{out}")
}

fn truncate(out: String) -> String {
    if out.chars().count() <= MAX_DIFF_CHARS {
        return out;
    }
    let cut: String = out.chars().take(MAX_DIFF_CHARS).collect();
    let total = out.lines().count();
    let shown = cut.lines().count();
    format!(
        "{cut}\n… diff truncated ({} more lines)\n",
        total.saturating_sub(shown)
    )
}

/// Colour a unified diff for a terminal: removed lines red, added lines green,
/// and within a changed line pair the changed words emphasised.
pub fn colorize(diff: &str) -> String {
    let lines: Vec<&str> = diff.lines().collect();
    let mut out = String::new();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        // Only the first two lines are the file header; later `---`/`+++`
        // lines are removed or added lines that start with `--`/`++`.
        if i < 2 && (line.starts_with("--- ") || line.starts_with("+++ ")) {
            out.push_str(&Style::new().bold().apply_to(line).to_string());
            out.push('\n');
            i += 1;
        } else if line.starts_with("@@") {
            out.push_str(&Style::new().cyan().apply_to(line).to_string());
            out.push('\n');
            i += 1;
        } else if line.starts_with('-') {
            // A block of removals followed by a block of additions: pair them up.
            let del_start = i;
            while i < lines.len() && lines[i].starts_with('-') {
                i += 1;
            }
            let add_start = i;
            while i < lines.len() && lines[i].starts_with('+') {
                i += 1;
            }
            let dels = &lines[del_start..add_start];
            let adds = &lines[add_start..i];
            for (k, d) in dels.iter().enumerate() {
                match adds.get(k) {
                    Some(a) => out.push_str(&word_line(&d[1..], &a[1..], true)),
                    None => out.push_str(&Style::new().red().apply_to(d).to_string()),
                }
                out.push('\n');
            }
            for (k, a) in adds.iter().enumerate() {
                match dels.get(k) {
                    Some(d) => out.push_str(&word_line(&d[1..], &a[1..], false)),
                    None => out.push_str(&Style::new().green().apply_to(a).to_string()),
                }
                out.push('\n');
            }
        } else if line.starts_with('+') {
            out.push_str(&Style::new().green().apply_to(line).to_string());
            out.push('\n');
            i += 1;
        } else {
            out.push_str(&Style::new().dim().apply_to(line).to_string());
            out.push('\n');
            i += 1;
        }
    }
    out
}

/// One side of a changed line pair with the changed words emphasised.
fn word_line(old: &str, new: &str, removed_side: bool) -> String {
    let (base, strong, sign) = if removed_side {
        (Style::new().red(), Style::new().red().bold().reverse(), "-")
    } else {
        (
            Style::new().green(),
            Style::new().green().bold().reverse(),
            "+",
        )
    };
    let diff = TextDiff::from_words(old, new);
    let mut s = base.apply_to(sign).to_string();
    for change in diff.iter_all_changes() {
        let text = change.value();
        match (change.tag(), removed_side) {
            (ChangeTag::Equal, _) => s.push_str(&base.apply_to(text).to_string()),
            (ChangeTag::Delete, true) | (ChangeTag::Insert, false) => {
                s.push_str(&strong.apply_to(text).to_string())
            }
            _ => {}
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unified_diff_has_headers_and_hunks() {
        let d = unified("a\nb\nc\n", "a\nB\nc\n");
        assert_eq!(
            d,
            "--- golden\n+++ output\n@@ -1,3 +1,3 @@\n a\n-b\n+B\n c\n"
        );
        assert_eq!(unified("same\n", "same\n"), "");
    }

    #[test]
    fn long_lines_are_diffed_by_word() {
        let old = "word ".repeat(40_000);
        let mut new = old.clone();
        new.insert_str(100_000, "CHANGED ");
        let d = unified(&old, &new);
        assert!(d.contains("CHANGED"), "{}", &d[..d.len().min(500)]);
        assert!(d.len() < 2_000, "{}", d.len());
        assert!(d.starts_with("--- golden\n+++ output\n@@ word "), "{d}");
    }

    #[test]
    fn removed_lines_starting_with_dashes_are_not_headers() {
        console::set_colors_enabled(true);
        let c = colorize("--- golden\n+++ output\n@@ -1 +1 @@\n--- note\n+++ note\n");
        console::set_colors_enabled(false);
        // The pair is highlighted as a change (red/green), not bold headers only.
        assert!(c.contains("\u{1b}[31m"), "{c:?}");
    }

    #[test]
    fn long_diffs_are_truncated() {
        let old: String = (0..20_000).map(|i| format!("line {i}\n")).collect();
        let new: String = (0..20_000).map(|i| format!("LINE {i}\n")).collect();
        let d = unified(&old, &new);
        assert!(d.chars().count() < MAX_DIFF_CHARS + 100);
        assert!(d.contains("diff truncated"));
    }

    #[test]
    fn colour_marks_changed_words() {
        console::set_colors_enabled(true);
        let c = colorize(
            "--- golden\n+++ output\n@@ -1 +1 @@\n-The capital is Paris\n+The capital is Lyon\n",
        );
        console::set_colors_enabled(false);
        // Changed words are reversed (ESC[7m); unchanged ones are not.
        assert!(c.contains("\u{1b}[7m"), "{c:?}");
        let plain = console::strip_ansi_codes(&c);
        assert!(plain.contains("-The capital is Paris"), "{plain}");
        assert!(plain.contains("+The capital is Lyon"), "{plain}");
    }
}

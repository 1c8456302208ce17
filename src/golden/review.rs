//! The interactive review of pending golden changes: show each diff, then
//! accept, reject or skip it. The loop reads decisions from any source so it
//! can be tested without a terminal; `evalgate golden review` refuses to run
//! when stdin is not a terminal.

use std::io::Write;

use super::diff;
use super::store::{Pending, Store};
use crate::error::{display_path, Error};
use crate::util::json::canonical;

/// A reviewer's answer for one pending change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Accept,
    Reject,
    Skip,
    Quit,
}

impl Decision {
    /// Map a key press; `None` for keys that mean nothing.
    pub fn from_key(c: char) -> Option<Self> {
        match c.to_ascii_lowercase() {
            'a' | 'y' => Some(Decision::Accept),
            'r' | 'n' => Some(Decision::Reject),
            's' | ' ' => Some(Decision::Skip),
            'q' | '\u{1b}' => Some(Decision::Quit),
            _ => None,
        }
    }
}

/// What a review did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    pub accepted: usize,
    pub rejected: usize,
    pub skipped: usize,
}

/// What a pending change does: `new`, `changed`, or `replaces an
/// unreadable golden`.
pub fn pending_kind(p: &Pending) -> &'static str {
    if p.unreadable.is_some() {
        "replaces an unreadable golden"
    } else if p.current.is_some() {
        "changed"
    } else {
        "new"
    }
}

/// The diff shown for a pending change (the whole new body when there is no
/// golden yet; whole files when the golden cannot be read, e.g. it has merge
/// conflict markers).
pub fn pending_diff(p: &Pending) -> String {
    if p.unreadable.is_some() {
        // Through the input guard: a golden that is a link is not followed.
        let raw = crate::util::fsafe::read(&p.target, crate::util::fsafe::Kind::Golden, true)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default();
        return diff::unified(&raw, &p.new.render());
    }
    let old = p.current.as_ref().map_or("", |g| g.body.as_str());
    let mut old_text = old.to_string();
    let mut new_text = p.new.body.clone();
    // A JSON golden: both sides in canonical order (sorted keys), as the
    // check's failure diff shows them, whatever order the file has.
    if p.target.extension().is_some_and(|e| e == "json") {
        let canonical = |s: &str| {
            serde_json::from_str::<serde_json::Value>(s.trim())
                .ok()
                .and_then(|v| serde_json::to_string_pretty(&canonical(&v)).ok())
        };
        if let Some(o) = canonical(&old_text) {
            old_text = o;
        }
        if let Some(n) = canonical(&new_text) {
            new_text = n;
        }
    }
    old_text.push('\n');
    new_text.push('\n');
    diff::unified(if p.current.is_some() { &old_text } else { "" }, &new_text)
}

/// Walk `pending`, asking `ask` for each decision (it is called again for
/// keys that mean nothing). `colour` renders diffs with colour.
pub fn review(
    pending: &[Pending],
    out: &mut dyn Write,
    ask: &mut dyn FnMut() -> Result<char, Error>,
    colour: bool,
) -> Result<Tally, Error> {
    let io =
        |e: std::io::Error| Error::Infrastructure(format!("cannot write to the terminal: {e}"));
    let mut tally = Tally::default();
    let n = pending.len();
    for (i, p) in pending.iter().enumerate() {
        let what = pending_kind(p);
        writeln!(
            out,
            "\n[{}/{n}] {} ({what}) · {}",
            i + 1,
            p.id(),
            display_path(&p.target)
        )
        .map_err(io)?;
        if let Some(e) = &p.unreadable {
            writeln!(out, "note: {e}").map_err(io)?;
        }
        if let Some(cur) = &p.current {
            if cur.header.prompt_hash != p.new.header.prompt_hash {
                writeln!(
                    out,
                    "note: the prompt changed since this golden was accepted"
                )
                .map_err(io)?;
            }
        }
        let d = pending_diff(p);
        let shown = if colour { diff::colorize(&d) } else { d };
        write!(out, "{shown}").map_err(io)?;
        write!(out, "a accept · r reject · s skip · q quit > ").map_err(io)?;
        out.flush().map_err(io)?;
        let decision = loop {
            if let Some(d) = Decision::from_key(ask()?) {
                break d;
            }
        };
        writeln!(out).map_err(io)?;
        match decision {
            Decision::Accept => {
                Store::accept(p)?;
                tally.accepted += 1;
            }
            Decision::Reject => {
                Store::reject(p)?;
                tally.rejected += 1;
            }
            Decision::Skip => tally.skipped += 1,
            Decision::Quit => {
                tally.skipped += n - i;
                break;
            }
        }
    }
    Ok(tally)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::golden::file::{Golden, Header};

    fn pending(dir: &std::path::Path, case: &str, old: Option<&str>, new: &str) {
        let g = |body: &str| Golden {
            header: Header {
                suite: "s".into(),
                case: case.into(),
                provider: "mock".into(),
                model: None,
                prompt_hash: "sha256:1".into(),
            },
            body: body.into(),
        };
        let path = dir.join(format!("s/{case}.txt"));
        if let Some(o) = old {
            g(o).write(&path).unwrap();
        }
        g(new).write(&Store::pending_path(&path)).unwrap();
    }

    #[test]
    fn scripted_review_accepts_rejects_and_skips() {
        let dir = tempfile::tempdir().unwrap();
        pending(dir.path(), "a", Some("old a"), "new a");
        pending(dir.path(), "b", None, "new b");
        pending(dir.path(), "c", Some("old c"), "new c");
        let store = Store::new(dir.path().to_path_buf(), crate::golden::Writes::Nothing);
        let items = store.pending(None).unwrap().items;
        assert_eq!(items.len(), 3);
        // `x` means nothing and is asked again; then accept a, reject b, skip c.
        let mut keys = vec!['x', 'a', 'r', 's'].into_iter();
        let mut ask = || Ok(keys.next().unwrap_or('q'));
        let mut out = Vec::new();
        let t = review(&items, &mut out, &mut ask, false).unwrap();
        assert_eq!(
            t,
            Tally {
                accepted: 1,
                rejected: 1,
                skipped: 1
            }
        );
        let shown = String::from_utf8(out).unwrap();
        assert!(shown.contains("[1/3] s/a (changed)"), "{shown}");
        assert!(shown.contains("-old a\n+new a\n"), "{shown}");
        assert!(shown.contains("[2/3] s/b (new)"), "{shown}");
        assert!(std::fs::read_to_string(dir.path().join("s/a.txt"))
            .unwrap()
            .ends_with("new a\n"));
        assert!(!dir.path().join("s/b.txt").exists());
        assert!(!dir.path().join("s/b.txt.new").exists());
        assert!(
            dir.path().join("s/c.txt.new").exists(),
            "skipped stays pending"
        );
        assert_eq!(store.pending(Some("s/c")).unwrap().items.len(), 1);
        assert_eq!(store.pending(Some("other")).unwrap().items.len(), 0);
    }

    #[test]
    fn json_goldens_are_diffed_in_the_order_the_check_shows() {
        let dir = tempfile::tempdir().unwrap();
        let g = |body: &str| Golden {
            header: Header {
                suite: "s".into(),
                case: "j".into(),
                provider: "mock".into(),
                model: None,
                prompt_hash: "sha256:1".into(),
            },
            body: body.into(),
        };
        let path = dir.path().join("s/j.json");
        // A golden in its own key order, and a pending change of one value.
        g("{\n  \"b\": 1,\n  \"a\": 2\n}").write(&path).unwrap();
        g("{\n  \"a\": 3,\n  \"b\": 1\n}")
            .write(&Store::pending_path(&path))
            .unwrap();
        let store = Store::new(dir.path().to_path_buf(), crate::golden::Writes::Nothing);
        let items = store.pending(None).unwrap().items;
        let d = pending_diff(&items[0]);
        // The check's diff (canonical views) of the same change.
        let settings = crate::golden::Settings {
            mode: crate::golden::Mode::Json,
            ..crate::golden::Settings::default()
        };
        let cmp = settings
            .compare("{\"b\": 1, \"a\": 2}", "{\"a\": 3, \"b\": 1}")
            .unwrap();
        let check_diff = diff::unified(
            &format!("{}\n", cmp.expected_view),
            &format!("{}\n", cmp.actual_view),
        );
        assert_eq!(d, check_diff);
        assert!(d.contains("-  \"a\": 2,\n+  \"a\": 3,\n"), "{d}");
    }

    #[test]
    fn unreadable_goldens_and_pending_files_do_not_stop_the_scan() {
        let dir = tempfile::tempdir().unwrap();
        pending(dir.path(), "a", Some("old"), "new");
        std::fs::write(
            dir.path().join("s/a.txt"),
            "<<<<<<< HEAD\nx\n=======\ny\n>>>>>>> b\n",
        )
        .unwrap();
        std::fs::write(dir.path().join("s/b.txt.new"), "not a golden").unwrap();
        let store = Store::new(dir.path().to_path_buf(), crate::golden::Writes::Nothing);
        let scan = store.pending(None).unwrap();
        assert_eq!(scan.items.len(), 1);
        assert_eq!(
            pending_kind(&scan.items[0]),
            "replaces an unreadable golden"
        );
        assert!(pending_diff(&scan.items[0]).contains("-<<<<<<< HEAD"));
        assert_eq!(scan.broken.len(), 1);
        assert_eq!(scan.broken[0].id, "s/b");
        assert_eq!(store.pending(Some("s/b")).unwrap().broken.len(), 1);
        assert_eq!(store.pending(Some("s/a")).unwrap().broken.len(), 0);
    }
}

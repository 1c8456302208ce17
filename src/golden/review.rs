//! The interactive review of pending golden changes: show each diff, then
//! accept, reject or skip it. The loop reads decisions from any source so it
//! can be tested without a terminal; `evalgate golden review` refuses to run
//! when stdin is not a terminal.

use std::io::Write;

use super::diff;
use super::store::{Pending, Store};
use crate::error::{display_path, Error};

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

/// The diff shown for a pending change (the whole new body when there is no golden yet).
pub fn pending_diff(p: &Pending) -> String {
    let old = p.current.as_ref().map_or("", |g| g.body.as_str());
    let mut old_text = old.to_string();
    let mut new_text = p.new.body.clone();
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
        let what = if p.current.is_some() {
            "changed"
        } else {
            "new"
        };
        writeln!(
            out,
            "\n[{}/{n}] {} ({what}) · {}",
            i + 1,
            p.id(),
            display_path(&p.target)
        )
        .map_err(io)?;
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
                accepted_at: "2026-01-01T00:00:00Z".into(),
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
        let items = store.pending(None).unwrap();
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
        assert_eq!(store.pending(Some("s/c")).unwrap().len(), 1);
        assert_eq!(store.pending(Some("other")).unwrap().len(), 0);
    }
}

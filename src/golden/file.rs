//! The golden file format: a short metadata header between `---` lines, then
//! the raw output, so a golden reads well in a PR diff.
//!
//! ```text
//! ---
//! suite: capitals
//! case: france
//! provider: mock
//! model: mock-1
//! prompt_hash: sha256:…
//! ---
//! The capital of France is Paris.
//! ```
//!
//! The body is the output followed by one newline (so files end with a
//! newline); reading strips exactly that newline, so outputs round-trip
//! byte for byte. A `\r\n` left by a checkout with autocrlf is also accepted.
//! So a golden written by hand ends like any text file: the output, then a
//! newline (an output that itself ends in a newline needs an empty last line).
//!
//! There is no timestamp in the header: two branches that accept the same
//! output write the same file, so accepting never causes a merge conflict
//! by itself (git records when). An `accepted_at:` line written by older
//! versions is read and ignored.

use std::path::Path;

use crate::error::{display_path, Error};
use crate::util::atomic::write_atomic;

/// Metadata of a golden.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Header {
    pub suite: String,
    pub case: String,
    pub provider: String,
    pub model: Option<String>,
    pub prompt_hash: String,
}

/// A golden: header and body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Golden {
    pub header: Header,
    pub body: String,
}

fn clean(v: &str) -> String {
    v.replace(['\n', '\r'], " ")
}

impl Golden {
    pub fn render(&self) -> String {
        let h = &self.header;
        let mut s = String::from("---\n");
        s.push_str(&format!("suite: {}\n", clean(&h.suite)));
        s.push_str(&format!("case: {}\n", clean(&h.case)));
        s.push_str(&format!("provider: {}\n", clean(&h.provider)));
        if let Some(m) = &h.model {
            s.push_str(&format!("model: {}\n", clean(m)));
        }
        s.push_str(&format!("prompt_hash: {}\n", clean(&h.prompt_hash)));
        s.push_str("---\n");
        s.push_str(&self.body);
        s.push('\n');
        s
    }

    /// Parse a golden file's text. Errors describe what is malformed.
    pub fn parse(text: &str) -> Result<Golden, String> {
        let rest = text
            .strip_prefix("---\n")
            .or_else(|| text.strip_prefix("---\r\n"))
            .ok_or("missing the `---` header line")?;
        let mut header = Header::default();
        let mut offset = 0;
        let mut closed = false;
        for line in rest.split_inclusive('\n') {
            offset += line.len();
            let l = line.trim_end_matches(['\n', '\r']);
            if l == "---" {
                closed = true;
                break;
            }
            if l.starts_with("<<<<<<<") || l.starts_with(">>>>>>>") || l == "=======" {
                return Err(format!(
                    "it has unresolved git merge conflict markers ({l:?}); resolve it with `evalgate golden accept` after a run, or by editing the file"
                ));
            }
            let (k, v) = l
                .split_once(':')
                .ok_or_else(|| format!("header line without `key: value`: {l:?}"))?;
            let v = v.trim().to_string();
            match k.trim() {
                "suite" => header.suite = v,
                "case" => header.case = v,
                "provider" => header.provider = v,
                "model" => header.model = Some(v),
                "prompt_hash" => header.prompt_hash = v,
                _ => {} // older (`accepted_at`) or newer evalgate versions' keys
            }
        }
        if !closed {
            return Err("the header is not closed by a `---` line".to_string());
        }
        let body = &rest[offset..];
        // The final newline is ours; a file checked out with CRLF endings
        // (its header says so) ends in `\r\n` instead. An output's own
        // trailing `\r` is kept.
        let crlf = text.starts_with("---\r\n");
        let body = if crlf {
            body.strip_suffix("\r\n")
        } else {
            body.strip_suffix('\n')
        }
        .unwrap_or(body);
        Ok(Golden {
            header,
            body: body.to_string(),
        })
    }

    /// Read a golden file; `Ok(None)` when it does not exist.
    pub fn read(path: &Path) -> Result<Option<Golden>, String> {
        match crate::util::fsafe::read_to_string(path, crate::util::fsafe::Kind::Golden, true) {
            Ok(text) => Golden::parse(&text)
                .map(Some)
                .map_err(|e| format!("golden file `{}` is malformed: {e}", display_path(path))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(format!(
                "cannot read golden file `{}`: {e}",
                display_path(path)
            )),
        }
    }

    /// Write atomically (temporary file + rename).
    pub fn write(&self, path: &Path) -> Result<(), Error> {
        crate::util::fsafe::check_write(path).map_err(|e| Error::output(path, e))?;
        write_atomic(path, self.render().as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn golden(body: &str) -> Golden {
        Golden {
            header: Header {
                suite: "s".into(),
                case: "c".into(),
                provider: "mock".into(),
                model: Some("m-1".into()),
                prompt_hash: "sha256:abc".into(),
            },
            body: body.into(),
        }
    }

    #[test]
    fn round_trips_bodies_exactly() {
        for body in [
            "",
            "x",
            "line\n",
            "a\r\nb\r\n",
            "é\n\n",
            "---\nnot a header\n---",
        ] {
            let g = golden(body);
            assert_eq!(Golden::parse(&g.render()).unwrap(), g, "{body:?}");
        }
    }

    #[test]
    fn accepts_crlf_checkouts_and_rejects_garbage() {
        let text = golden("Paris").render().replace('\n', "\r\n");
        let g = Golden::parse(&text).unwrap();
        assert_eq!(g.header.case, "c");
        assert_eq!(g.body, "Paris");
        assert!(Golden::parse("no header").is_err());
        assert!(Golden::parse("---\nsuite: s\n")
            .unwrap_err()
            .contains("not closed"));
    }

    #[test]
    fn no_timestamp_so_equal_accepts_write_equal_files() {
        let text = golden("Paris").render();
        assert!(!text.contains("accepted_at"), "{text}");
        // Older files with the key still read.
        let old = "---\nsuite: s\ncase: c\nprovider: mock\nprompt_hash: x\naccepted_at: 2026-01-01T00:00:00Z\n---\nParis\n";
        assert_eq!(Golden::parse(old).unwrap().body, "Paris");
    }

    #[test]
    fn hand_written_goldens_end_like_text_files() {
        // Header, the output, and the newline every editor adds.
        let g = Golden::parse("---\nsuite: s\ncase: c\nprovider: mock\n---\nParis\n").unwrap();
        assert_eq!(g.body, "Paris");
        // Without that newline the body is the same.
        let g = Golden::parse("---\nsuite: s\ncase: c\nprovider: mock\n---\nParis").unwrap();
        assert_eq!(g.body, "Paris");
        // An output ending in a newline: an empty last line.
        let g = Golden::parse("---\nsuite: s\n---\nParis\n\n").unwrap();
        assert_eq!(g.body, "Paris\n");
    }

    #[test]
    fn merge_conflicts_in_the_header_are_named() {
        let text = "---\nsuite: s\n<<<<<<< HEAD\nprompt_hash: a\n=======\nprompt_hash: b\n>>>>>>> topic\n---\nx\n";
        let e = Golden::parse(text).unwrap_err();
        assert!(e.contains("merge conflict markers"), "{e}");
    }
}

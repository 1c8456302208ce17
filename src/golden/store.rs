//! Where goldens live and how pending changes are resolved.
//!
//! A golden is `golden/<suite>/<case>[.<provider>].<txt|json>`; a pending
//! change is the same path with `.new` appended. Path components are encoded
//! so that no suite, case or provider name can leave `golden/` or collide
//! with another: letters, digits, `-` and `_` are kept, everything else
//! (including `.`, which separates the provider and the extension) becomes
//! `%XX` (UTF-8 bytes).

use std::path::{Path, PathBuf};

use globset::Glob;

use super::file::Golden;
use super::Writes;
use crate::error::Error;
use crate::util::path::{decode_component, encode_component};

/// The golden directory and what this run may write to it.
#[derive(Debug, Clone)]
pub struct Store {
    pub dir: PathBuf,
    pub writes: Writes,
}

/// A pending change: the `.new` file and the golden it would replace.
#[derive(Debug, Clone)]
pub struct Pending {
    pub new_path: PathBuf,
    pub target: PathBuf,
    pub new: Golden,
    /// The golden it replaces (None when there is none, or it is unreadable).
    pub current: Option<Golden>,
    /// Why the golden it replaces cannot be read (a merge conflict, a
    /// hand edit): accepting replaces it.
    pub unreadable: Option<String>,
}

/// A pending `.new` file that cannot be read: reported and skipped by
/// `pending`, `review` and `accept`; `reject` deletes it.
#[derive(Debug, Clone)]
pub struct Broken {
    pub path: PathBuf,
    /// `suite/case` from the file name.
    pub id: String,
    pub error: String,
}

/// The pending changes of a golden directory.
#[derive(Debug, Default)]
pub struct Scan {
    pub items: Vec<Pending>,
    pub broken: Vec<Broken>,
}

/// `suite/case` and `suite/case.provider` from a golden's path
/// (`<dir>/<suite>/<case>[.<provider>].<ext>`, names encoded).
fn ids_from_path(path: &Path) -> (String, Option<String>) {
    let suite = path
        .parent()
        .and_then(Path::file_name)
        .map(|s| decode_component(&s.to_string_lossy()))
        .unwrap_or_default();
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let name = name.strip_suffix(".new").unwrap_or(&name);
    let mut parts = name.split('.');
    let case = decode_component(parts.next().unwrap_or(""));
    let id = format!("{suite}/{case}");
    let rest: Vec<&str> = parts.collect();
    let with_provider = (rest.len() == 2).then(|| format!("{id}.{}", decode_component(rest[0])));
    (id, with_provider)
}

impl Pending {
    /// `suite/case` (and provider) for display and filters.
    pub fn id(&self) -> String {
        format!("{}/{}", self.new.header.suite, self.new.header.case)
    }
}

impl Store {
    pub fn new(dir: PathBuf, writes: Writes) -> Self {
        Store { dir, writes }
    }

    /// The golden file of a case.
    pub fn path_for(&self, suite: &str, case: &str, provider: Option<&str>, ext: &str) -> PathBuf {
        let mut name = encode_component(case);
        if let Some(p) = provider {
            name.push('.');
            name.push_str(&encode_component(p));
        }
        name.push('.');
        name.push_str(ext);
        self.dir.join(encode_component(suite)).join(name)
    }

    pub fn pending_path(path: &Path) -> PathBuf {
        let mut s = path.as_os_str().to_os_string();
        s.push(".new");
        PathBuf::from(s)
    }

    /// Every file under the golden directory (sorted).
    pub fn files(&self) -> Vec<PathBuf> {
        let mut out = Vec::new();
        walk(&self.dir, &mut out);
        out.sort();
        out
    }

    /// Temporary files (`.evalgate-*.tmp`) a killed run left under the golden
    /// directory (sorted). Links are not followed.
    pub fn stray_temps(&self) -> Vec<PathBuf> {
        fn go(dir: &Path, out: &mut Vec<PathBuf>) {
            let Ok(entries) = std::fs::read_dir(dir) else {
                return;
            };
            for e in entries.flatten() {
                let Ok(t) = e.file_type() else { continue };
                if t.is_dir() {
                    go(&e.path(), out);
                } else if t.is_file()
                    && e.file_name()
                        .to_str()
                        .is_some_and(crate::util::atomic::is_temp_name)
                {
                    out.push(e.path());
                }
            }
        }
        let mut out = Vec::new();
        go(&self.dir, &mut out);
        out.sort();
        out
    }

    /// Pending changes, optionally filtered by a glob on `suite/case` (or
    /// `suite/case.provider`; a bare name is a suite). A `.new` file that
    /// cannot be read goes to `broken` (named from its path) instead of
    /// stopping the scan; a golden that cannot be read is a change to
    /// replace it.
    pub fn pending(&self, filter: Option<&str>) -> Result<Scan, Error> {
        let matcher = match filter {
            Some(f) => {
                let pattern = if f.contains('/') {
                    f.to_string()
                } else {
                    format!("{f}/*")
                };
                let exact =
                    Glob::new(f).map_err(|e| Error::Usage(format!("invalid filter {f:?}: {e}")))?;
                let suite = Glob::new(&pattern)
                    .map_err(|e| Error::Usage(format!("invalid filter {f:?}: {e}")))?;
                Some((exact.compile_matcher(), suite.compile_matcher()))
            }
            None => None,
        };
        let selected = |id: &str, with_provider: Option<&str>| match &matcher {
            None => true,
            Some((exact, suite)) => {
                let hit = |m: &globset::GlobMatcher| {
                    m.is_match(id) || with_provider.is_some_and(|w| m.is_match(w))
                };
                hit(exact) || hit(suite)
            }
        };
        let mut scan = Scan::default();
        for new_path in self
            .files()
            .into_iter()
            .filter(|p| p.extension().is_some_and(|e| e == "new"))
        {
            let new = match Golden::read(&new_path) {
                Ok(Some(g)) => g,
                Ok(None) => continue,
                Err(error) => {
                    let (id, with_provider) = ids_from_path(&new_path);
                    if selected(&id, with_provider.as_deref()) {
                        scan.broken.push(Broken {
                            path: new_path,
                            id,
                            error,
                        });
                    }
                    continue;
                }
            };
            let target = new_path.with_extension("");
            let (current, unreadable) = match Golden::read(&target) {
                Ok(current) => (current, None),
                Err(e) => (None, Some(e)),
            };
            let p = Pending {
                new_path,
                target,
                new,
                current,
                unreadable,
            };
            // `suite/case`, or `suite/case.provider` to pick one provider's golden.
            let with_provider = format!("{}.{}", p.id(), p.new.header.provider);
            if selected(&p.id(), Some(&with_provider)) {
                scan.items.push(p);
            }
        }
        Ok(scan)
    }

    /// Delete a pending file that cannot be read.
    pub fn reject_broken(b: &Broken) -> Result<(), Error> {
        std::fs::remove_file(&b.path).map_err(|e| Error::output(&b.path, e))
    }

    /// Accept a pending change: it becomes the golden (written atomically).
    pub fn accept(p: &Pending) -> Result<(), Error> {
        p.new.write(&p.target)?;
        std::fs::remove_file(&p.new_path).map_err(|e| Error::output(&p.new_path, e))
    }

    /// Reject a pending change: delete the `.new` file.
    pub fn reject(p: &Pending) -> Result<(), Error> {
        std::fs::remove_file(&p.new_path).map_err(|e| Error::output(&p.new_path, e))
    }
}

impl Store {
    /// Remove the directories under the golden directory that are empty
    /// (after a prune), deepest first; returns them. The golden directory
    /// itself stays.
    pub fn remove_empty_dirs(&self) -> Vec<PathBuf> {
        fn sweep(dir: &Path, out: &mut Vec<PathBuf>) -> bool {
            let Ok(entries) = std::fs::read_dir(dir) else {
                return false;
            };
            let mut empty = true;
            for e in entries.flatten() {
                let p = e.path();
                let is_dir = e.file_type().is_ok_and(|t| t.is_dir());
                if is_dir && sweep(&p, out) && std::fs::remove_dir(&p).is_ok() {
                    out.push(p);
                } else {
                    empty = false;
                }
            }
            empty
        }
        let mut out = Vec::new();
        sweep(&self.dir, &mut out);
        out
    }
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if name.starts_with(".evalgate-") {
            continue; // temporary files of an atomic write in progress
        }
        // `file_type` does not follow links: a directory link is listed as a
        // file (and refused when read), never walked into.
        if e.file_type().is_ok_and(|t| t.is_dir()) {
            walk(&p, out);
        } else {
            out.push(p);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn components_cannot_escape() {
        assert_eq!(encode_component("france"), "france");
        assert_eq!(encode_component("v1.2"), "v1%2E2");
        assert_eq!(encode_component(".."), "%2E%2E");
        assert_eq!(encode_component("../etc/passwd"), "%2E%2E%2Fetc%2Fpasswd");
        assert_eq!(encode_component("a b:c"), "a%20b%3Ac");
        assert_eq!(encode_component("é"), "%C3%A9");
        assert_eq!(encode_component("/abs"), "%2Fabs");
        assert_eq!(encode_component(""), "%00");
        let s = Store::new(PathBuf::from("golden"), Writes::Nothing);
        let p = s.path_for("..", "../../x", Some("p/q"), "txt");
        assert!(p.starts_with("golden"));
        assert_eq!(p.components().count(), 3, "{p:?}");
        assert_eq!(
            s.path_for("caps", "fr", None, "json"),
            PathBuf::from("golden/caps/fr.json")
        );
        assert_eq!(
            s.path_for("caps", "fr", Some("mock"), "txt"),
            PathBuf::from("golden/caps/fr.mock.txt")
        );
    }
}

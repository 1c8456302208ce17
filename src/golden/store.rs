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
use crate::util::path::encode_component;

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
    pub current: Option<Golden>,
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

    /// Pending changes, optionally filtered by a glob on `suite/case`.
    pub fn pending(&self, filter: Option<&str>) -> Result<Vec<Pending>, Error> {
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
        let mut out = Vec::new();
        for new_path in self
            .files()
            .into_iter()
            .filter(|p| p.extension().is_some_and(|e| e == "new"))
        {
            let new = match Golden::read(&new_path) {
                Ok(Some(g)) => g,
                Ok(None) => continue,
                Err(e) => return Err(Error::Infrastructure(e)),
            };
            let target = new_path.with_extension("");
            let current = Golden::read(&target).map_err(Error::Infrastructure)?;
            let p = Pending {
                new_path,
                target,
                new,
                current,
            };
            if let Some((exact, suite)) = &matcher {
                // `suite/case`, or `suite/case.provider` to pick one provider's golden.
                let id = p.id();
                let with_provider = format!("{id}.{}", p.new.header.provider);
                let hit = |m: &globset::GlobMatcher| m.is_match(&id) || m.is_match(&with_provider);
                if !hit(exact) && !hit(suite) {
                    continue;
                }
            }
            out.push(p);
        }
        Ok(out)
    }

    /// Accept a pending change: it becomes the golden (atomic rename), with
    /// `accepted_at` set to now.
    pub fn accept(p: &Pending) -> Result<(), Error> {
        let mut g = p.new.clone();
        g.header.accepted_at =
            chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        g.write(&p.target)?;
        std::fs::remove_file(&p.new_path).map_err(|e| Error::output(&p.new_path, e))
    }

    /// Reject a pending change: delete the `.new` file.
    pub fn reject(p: &Pending) -> Result<(), Error> {
        std::fs::remove_file(&p.new_path).map_err(|e| Error::output(&p.new_path, e))
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

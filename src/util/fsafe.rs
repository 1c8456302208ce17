//! Reading and writing project files safely: the files a pull request
//! controls (suites, datasets, schemas, fixtures, goldens, pending files,
//! cassettes, the cache) must be regular files inside the project.
//!
//! The rule, documented in the README ("Security model"):
//!
//! * **Symlinks are refused**, not followed: the file itself and every
//!   directory between the project root and it must not be a symbolic link.
//!   A golden `golden/s/c.txt -> /proc/self/environ`, or a directory link
//!   `golden/s -> /tmp`, is an error naming the link (reads and writes).
//! * **Inside the project**: a path the project configuration names (goldens,
//!   cassettes, cache, datasets, schemas, fixtures, suites found by globs)
//!   must lie under the project root: the git work tree that holds
//!   `evalgate.yaml`, or its directory outside a repository.
//!   Paths given on the command line are the user's own and are not confined.
//! * **Regular files only, bounded size**: a FIFO, a device (`/dev/zero`) or
//!   a directory is refused without being opened for reading (no hang); each
//!   kind of input has a size limit ([`Kind`]), overridable with an
//!   environment variable `EVALGATE_MAX_<KIND>_BYTES`.

use std::fs::File;
use std::io::{self, Read};
use std::path::{Component, Path, PathBuf};
use std::sync::RwLock;

/// The project root: set once by the command from the loaded configuration.
/// `(as written, absolute; canonical)`.
static ROOT: RwLock<Option<(PathBuf, PathBuf)>> = RwLock::new(None);

/// Record the project root from the directory of `evalgate.yaml` (or the
/// working directory): the git work tree that contains it (the nearest
/// ancestor with a `.git`), or that directory itself outside a repository.
/// Until it is set, only the file itself is checked for a link.
pub fn set_root(config_dir: &Path) {
    let dir = absolute(config_dir);
    let root = dir
        .ancestors()
        .find(|a| std::fs::symlink_metadata(a.join(".git")).is_ok())
        .map_or_else(|| dir.clone(), Path::to_path_buf);
    let abs = root;
    let canonical = abs.canonicalize().unwrap_or_else(|_| abs.clone());
    if let Ok(mut r) = ROOT.write() {
        *r = Some((abs, canonical));
    }
}

fn root() -> Option<(PathBuf, PathBuf)> {
    ROOT.read().ok().and_then(|r| r.clone())
}

/// `path` made absolute against the working directory, `.` and `..` resolved
/// lexically (no link is followed).
fn absolute(path: &Path) -> PathBuf {
    let joined = if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir()
            .unwrap_or_else(|_| PathBuf::from("/"))
            .join(path)
    };
    let mut out = PathBuf::new();
    for c in joined.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other.as_os_str()),
        }
    }
    out
}

/// The kinds of input, each with its own size limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `evalgate.yaml`.
    Config,
    /// A suite file.
    Suite,
    /// A `cases_from` dataset (read as a stream; bounded like the others).
    Dataset,
    /// A JSON schema of a `json_schema` check.
    Schema,
    /// A judge's prompt template (`judge_prompt:`).
    Prompt,
    /// A mock provider's responses file.
    Fixture,
    /// A golden or a pending `.new` file.
    Golden,
    /// A cassette.
    Cassette,
    /// A response-cache entry.
    Cache,
    /// A JSON report read back (`--baseline`, `evalgate compare`; streamed).
    Report,
}

impl Kind {
    /// Name used in messages and in the override variable.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Config => "config",
            Kind::Suite => "suite",
            Kind::Dataset => "dataset",
            Kind::Schema => "schema",
            Kind::Prompt => "prompt",
            Kind::Fixture => "fixture",
            Kind::Golden => "golden",
            Kind::Cassette => "cassette",
            Kind::Cache => "cache",
            Kind::Report => "report",
        }
    }

    /// The default limit in bytes.
    pub fn default_limit(self) -> u64 {
        const MIB: u64 = 1024 * 1024;
        match self {
            Kind::Config | Kind::Suite | Kind::Schema | Kind::Prompt => 16 * MIB,
            Kind::Fixture => 64 * MIB,
            Kind::Golden | Kind::Cache => 64 * MIB,
            Kind::Cassette => 256 * MIB,
            Kind::Dataset | Kind::Report => 4096 * MIB,
        }
    }

    /// The override variable, e.g. `EVALGATE_MAX_SUITE_BYTES`.
    pub fn env_var(self) -> String {
        format!("EVALGATE_MAX_{}_BYTES", self.name().to_ascii_uppercase())
    }

    /// The limit in force: the override variable, or the default.
    pub fn limit(self) -> u64 {
        std::env::var(self.env_var())
            .ok()
            .and_then(|v| v.trim().parse::<u64>().ok())
            .unwrap_or_else(|| self.default_limit())
    }
}

fn refuse(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, msg)
}

/// Refuse a symlink in `path`: the file itself and, when the path is inside
/// the project root, every directory between the root and it.
pub fn no_symlinks(path: &Path) -> io::Result<()> {
    let abs = absolute(path);
    let below = root().and_then(|(lexical, canonical)| {
        abs.strip_prefix(&lexical)
            .or_else(|_| abs.strip_prefix(&canonical))
            .ok()
            .map(|rest| {
                let base = if abs.starts_with(&lexical) {
                    lexical.clone()
                } else {
                    canonical.clone()
                };
                (base, rest.to_path_buf())
            })
    });
    let mut checks: Vec<PathBuf> = Vec::new();
    match below {
        Some((base, rest)) => {
            let mut p = base;
            for c in rest.components() {
                p.push(c.as_os_str());
                checks.push(p.clone());
            }
        }
        None => checks.push(abs),
    }
    for p in checks {
        match std::fs::symlink_metadata(&p) {
            Ok(m) if m.file_type().is_symlink() => {
                return Err(refuse(format!(
                    "{} is a symbolic link; evalgate does not follow links in the project \
                     (a link could point anywhere): replace it with a regular file or directory",
                    p.display()
                )));
            }
            // Missing parts are created (writes) or reported by the open (reads).
            _ => {}
        }
    }
    Ok(())
}

/// Refuse a path outside the project root (when the root is known).
pub fn inside_project(path: &Path) -> io::Result<()> {
    let Some((lexical, canonical)) = root() else {
        return Ok(());
    };
    let abs = absolute(path);
    if abs.starts_with(&lexical) || abs.starts_with(&canonical) {
        return Ok(());
    }
    Err(refuse(format!(
        "{} is outside the project root {}; files named by the project must be inside it",
        path.display(),
        lexical.display()
    )))
}

/// Checks before a write: no symlink on the way, inside the project.
pub fn check_write(path: &Path) -> io::Result<()> {
    no_symlinks(path)?;
    inside_project(path)
}

/// Open a project file for reading: no symlink, inside the project unless
/// `confined` is false (a path from the command line), a regular file, at
/// most the kind's limit. A FIFO or device is refused without blocking.
pub fn open(path: &Path, kind: Kind, confined: bool) -> io::Result<File> {
    no_symlinks(path)?;
    if confined {
        inside_project(path)?;
    }
    let mut opts = std::fs::OpenOptions::new();
    opts.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        // No waiting for a FIFO's writer; no following a link swapped in
        // after the check.
        opts.custom_flags(libc::O_NONBLOCK | libc::O_NOFOLLOW);
    }
    let file = opts.open(path)?;
    let meta = file.metadata()?;
    if !meta.is_file() {
        let what = if meta.is_dir() {
            "a directory"
        } else {
            "not a regular file (a FIFO, socket or device)"
        };
        return Err(refuse(format!(
            "{} is {what}; evalgate reads regular files only",
            path.display()
        )));
    }
    let limit = kind.limit();
    if meta.len() > limit {
        return Err(too_big(path, kind, limit));
    }
    #[cfg(unix)]
    {
        // Back to blocking reads for a regular file.
        use std::os::fd::AsRawFd;
        let fd = file.as_raw_fd();
        // SAFETY: fcntl on a descriptor we own; only flags change.
        unsafe {
            let flags = libc::fcntl(fd, libc::F_GETFL);
            if flags >= 0 {
                libc::fcntl(fd, libc::F_SETFL, flags & !libc::O_NONBLOCK);
            }
        }
    }
    Ok(file)
}

fn too_big(path: &Path, kind: Kind, limit: u64) -> io::Error {
    refuse(format!(
        "{} is larger than the limit for a {} file ({limit} bytes); raise it with {}=<bytes>",
        path.display(),
        kind.name(),
        kind.env_var()
    ))
}

/// Read a whole project file as bytes (see [`open`]).
pub fn read(path: &Path, kind: Kind, confined: bool) -> io::Result<Vec<u8>> {
    let file = open(path, kind, confined)?;
    let limit = kind.limit();
    let mut buf = Vec::new();
    // The file may grow after the size check: never read past the limit.
    file.take(limit.saturating_add(1)).read_to_end(&mut buf)?;
    if buf.len() as u64 > limit {
        return Err(too_big(path, kind, limit));
    }
    Ok(buf)
}

/// Read a whole project file as UTF-8 text (see [`open`]).
pub fn read_to_string(path: &Path, kind: Kind, confined: bool) -> io::Result<String> {
    let bytes = read(path, kind, confined)?;
    String::from_utf8(bytes).map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            "stream did not contain valid UTF-8",
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    #[test]
    fn links_fifos_and_devices_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("real.txt");
        std::fs::write(&real, "ok").unwrap();
        let link = dir.path().join("link.txt");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        let e = read_to_string(&link, Kind::Golden, false).unwrap_err();
        assert!(e.to_string().contains("symbolic link"), "{e}");
        assert_eq!(read_to_string(&real, Kind::Golden, false).unwrap(), "ok");
        let fifo = dir.path().join("fifo");
        let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        // SAFETY: mkfifo with a valid C string.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0);
        let e = read_to_string(&fifo, Kind::Dataset, false).unwrap_err();
        assert!(e.to_string().contains("regular files only"), "{e}");
        let e = read(Path::new("/dev/zero"), Kind::Schema, false).unwrap_err();
        assert!(e.to_string().contains("regular files only"), "{e}");
    }
}

//! Atomic file output: write to a temporary file beside the target, then
//! rename over it. A reader never sees a half-written report.

use std::fs;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use tempfile::NamedTempFile;

use crate::error::Error;

/// Bytes buffered before a write to the temporary file.
const WRITE_BUFFER: usize = 256 << 10;

pub struct AtomicFile {
    path: PathBuf,
    writer: BufWriter<NamedTempFile>,
}

impl AtomicFile {
    /// Create the parent directory if needed and open a temporary file in it.
    /// Fails early (exit 3) when the location is not writable.
    pub fn create(path: &Path) -> Result<Self, Error> {
        let dir = crate::util::path::dir_of(path);
        if path.is_dir() {
            return Err(Error::output(
                path,
                std::io::Error::new(std::io::ErrorKind::IsADirectory, "the path is a directory"),
            ));
        }
        // A link in the project (`golden/s -> /elsewhere`) would redirect the write.
        crate::util::fsafe::no_symlinks(path).map_err(|e| Error::output(path, e))?;
        fs::create_dir_all(&dir).map_err(|e| Error::output(path, e))?;
        let mut builder = tempfile::Builder::new();
        builder.prefix(".evalgate-").suffix(".tmp");
        // Reports and goldens are shared files (CI artifacts, commits): 0644 minus the umask,
        // not the 0600 of a private temporary file.
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            builder.permissions(fs::Permissions::from_mode(0o644));
        }
        let tmp = builder
            .tempfile_in(&dir)
            .map_err(|e| Error::output(path, e))?;
        Ok(AtomicFile {
            path: path.to_path_buf(),
            // Large writes: a report of many cases costs few system calls.
            writer: BufWriter::with_capacity(WRITE_BUFFER, tmp),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Flush, sync and move the file into place.
    pub fn commit(self) -> Result<(), Error> {
        let path = self.path.clone();
        let tmp = self
            .writer
            .into_inner()
            .map_err(|e| Error::output(&path, e.into_error()))?;
        tmp.as_file()
            .sync_all()
            .map_err(|e| Error::output(&path, e))?;
        tmp.persist(&path)
            .map_err(|e| Error::output(&path, e.error))?;
        Ok(())
    }

    /// Like [`AtomicFile::commit`], but never replaces a file: when `path`
    /// exists by now, the temporary file is removed and the error's kind is
    /// `AlreadyExists`.
    pub fn commit_new(self) -> Result<(), std::io::Error> {
        let tmp = self.writer.into_inner().map_err(|e| e.into_error())?;
        tmp.as_file().sync_all()?;
        tmp.persist_noclobber(&self.path).map_err(|e| e.error)?;
        Ok(())
    }
}

impl Write for AtomicFile {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.writer.write(buf)
    }

    fn write_all(&mut self, buf: &[u8]) -> std::io::Result<()> {
        self.writer.write_all(buf)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.writer.flush()
    }
}

/// Whether `name` is a temporary file of an atomic write (`.evalgate-*.tmp`).
pub fn is_temp_name(name: &str) -> bool {
    name.starts_with(".evalgate-") && name.ends_with(".tmp")
}

/// Remove the temporary files an interrupted (killed) write left in `dir`;
/// returns those it removed. Not recursive.
pub fn remove_stray_temps(dir: &Path) -> Vec<PathBuf> {
    let mut removed = Vec::new();
    let Ok(entries) = fs::read_dir(dir) else {
        return removed;
    };
    for e in entries.flatten() {
        let is_file = e.file_type().is_ok_and(|t| t.is_file());
        if is_file && e.file_name().to_str().is_some_and(is_temp_name) {
            let p = e.path();
            if fs::remove_file(&p).is_ok() {
                removed.push(p);
            }
        }
    }
    removed
}

/// Write a whole file atomically.
pub fn write_atomic(path: &Path, contents: &[u8]) -> Result<(), Error> {
    let mut f = AtomicFile::create(path)?;
    f.write_all(contents).map_err(|e| Error::output(path, e))?;
    f.commit()
}

/// Write a whole new file atomically; an existing file is never replaced
/// (the error's kind is then `AlreadyExists`).
pub fn write_atomic_new(path: &Path, contents: &[u8]) -> Result<(), std::io::Error> {
    let mut f = AtomicFile::create(path).map_err(|e| match e {
        Error::Output { source, .. } => source,
        other => std::io::Error::other(other.to_string()),
    })?;
    f.write_all(contents)?;
    f.commit_new()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_files_never_replace_one() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a/new.txt");
        write_atomic_new(&p, b"one").unwrap();
        let e = write_atomic_new(&p, b"two").unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::AlreadyExists);
        assert_eq!(fs::read_to_string(&p).unwrap(), "one");
        let left: Vec<_> = fs::read_dir(p.parent().unwrap()).unwrap().collect();
        assert_eq!(left.len(), 1, "no temporary file is left");
    }

    #[test]
    fn commits_whole_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("sub/out.txt");
        let mut f = AtomicFile::create(&p).unwrap();
        f.write_all(b"hello").unwrap();
        assert!(!p.exists());
        f.commit().unwrap();
        assert_eq!(fs::read_to_string(&p).unwrap(), "hello");
    }

    #[cfg(unix)]
    #[test]
    fn files_are_readable_by_others() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("r.xml");
        write_atomic(&p, b"x").unwrap();
        let mode = fs::metadata(&p).unwrap().permissions().mode();
        assert_eq!(mode & 0o044, 0o044, "{mode:o}");
    }

    #[test]
    fn uncreatable_directory_is_an_output_error() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("file");
        fs::write(&file, "x").unwrap();
        let err = AtomicFile::create(&file.join("sub/report.xml"))
            .err()
            .unwrap();
        assert_eq!(err.exit_code(), crate::exit::INFRASTRUCTURE);
    }
}

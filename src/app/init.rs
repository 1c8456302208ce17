//! `evalgate init [DIR]`: a starter project that passes `evalgate run` as
//! written: config, one suite per common pattern, mock answers, a JSON
//! Schema, a dataset, a golden, and a GitHub Actions workflow.
//!
//! Nothing is overwritten: every target is checked first and, if any exists,
//! the command names them all and writes nothing. Files are then created
//! with `create_new` (a file appearing meanwhile stops the command, and the
//! files this run created are removed again).

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::{display_path, Error};
use crate::exit;

/// The project's files: path inside DIR, contents.
pub(crate) const FILES: &[(&str, &str)] = &[
    ("evalgate.yaml", include_str!("init/evalgate.yaml")),
    (
        "suites/basics.yaml",
        include_str!("init/suites/basics.yaml"),
    ),
    (
        "suites/json_output.yaml",
        include_str!("init/suites/json_output.yaml"),
    ),
    (
        "suites/release_notes.yaml",
        include_str!("init/suites/release_notes.yaml"),
    ),
    (
        "suites/capitals_dataset.yaml",
        include_str!("init/suites/capitals_dataset.yaml"),
    ),
    (
        "fixtures/mock/responses.yaml",
        include_str!("init/fixtures/mock/responses.yaml"),
    ),
    (
        "fixtures/schemas/ticket.json",
        include_str!("init/fixtures/schemas/ticket.json"),
    ),
    (
        "fixtures/datasets/capitals.csv",
        include_str!("init/fixtures/datasets/capitals.csv"),
    ),
    (
        "golden/release-notes/summary.txt",
        include_str!("init/golden/release-notes/summary.txt"),
    ),
    (
        ".github/workflows/evalgate.yml",
        include_str!("init/github/evalgate.yml"),
    ),
];

pub(crate) fn init(dir: &Path) -> Result<i32, Error> {
    write_new_files(
        dir,
        FILES.iter().map(|(rel, contents)| (*rel, *contents)),
        &NewFiles {
            command: "evalgate init",
            dir_hint: "pass a directory (new or existing) to `evalgate init`",
            retry_hint: "run `evalgate init NEW_DIR` into an empty directory",
        },
    )?;
    let shown = display_path(dir);
    let mut out = String::new();
    out.push_str(&format!(
        "created an evalgate project in {}:\n",
        if shown.is_empty() { "." } else { &shown }
    ));
    for (rel, _) in FILES {
        out.push_str(&format!("  {rel}\n"));
    }
    let cd = if shown.is_empty() || shown == "." {
        String::new()
    } else {
        format!("cd {shown} && ")
    };
    out.push_str(&format!(
        "next: {cd}evalgate run\n  (suggested .gitignore lines: reports/, .evalgate/, golden/**/*.new)\n"
    ));
    // Like the console: a closed stdout does not undo a written project.
    let _ = std::io::stdout().write_all(out.as_bytes());
    Ok(exit::OK)
}

/// What [`write_new_files`] says in its messages.
pub(super) struct NewFiles<'a> {
    /// The command writing, e.g. `evalgate init`.
    pub command: &'a str,
    /// The hint when `dir` is not a directory.
    pub dir_hint: &'a str,
    /// How to write elsewhere, when a file exists.
    pub retry_hint: &'a str,
}

/// Write `files` (paths relative to `dir`) as new files: every target is
/// checked first and nothing is written if any exists; each file is written
/// atomically without replacing one, and the files written so far are
/// removed again if a later one fails.
pub(super) fn write_new_files<'f>(
    dir: &Path,
    files: impl Iterator<Item = (&'f str, &'f str)> + Clone,
    say: &NewFiles<'_>,
) -> Result<(), Error> {
    if let Ok(meta) = std::fs::symlink_metadata(dir) {
        if !meta.is_dir() {
            return Err(Error::Usage(format!(
                "`{}` exists and is not a directory\n  = hint: {}",
                display_path(dir),
                say.dir_hint
            )));
        }
    }
    let existing: Vec<String> = files
        .clone()
        .map(|(rel, _)| dir.join(rel))
        .filter(|p| std::fs::symlink_metadata(p).is_ok())
        .map(|p| display_path(&p))
        .collect();
    if !existing.is_empty() {
        let list: String = existing.iter().map(|p| format!("\n  {p}")).collect();
        return Err(Error::Usage(format!(
            "{} would overwrite {} existing file{}:{list}\n  = hint: nothing was written; {}, or move these files away",
            say.command,
            existing.len(),
            crate::util::fmt::plural(existing.len()),
            say.retry_hint
        )));
    }
    let mut created: Vec<PathBuf> = Vec::new();
    for (rel, contents) in files {
        let path = dir.join(rel);
        if let Err(e) = crate::util::atomic::write_atomic_new(&path, contents.as_bytes()) {
            for p in created.iter().rev() {
                let _ = std::fs::remove_file(p);
            }
            return Err(if e.kind() == std::io::ErrorKind::AlreadyExists {
                Error::Usage(format!(
                    "`{}` appeared while {} was writing; nothing was kept",
                    display_path(&path),
                    say.command
                ))
            } else {
                Error::output(&path, e)
            });
        }
        created.push(path);
    }
    Ok(())
}

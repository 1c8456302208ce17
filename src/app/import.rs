//! `evalgate import promptfoo CONFIG [--out DIR]`: another tool's
//! configuration converted into an evalgate project (see `crate::import`).
//!
//! Nothing is overwritten: every target is checked first and, if any
//! exists, the command names them all and writes nothing. Each file is
//! written atomically and never replaces one that appeared meanwhile (the
//! files this run wrote are then removed again).

use std::io::Write;
use std::path::Path;

use crate::cli::{ImportArgs, ImportSource};
use crate::error::{display_path, Error};
use crate::exit;
use crate::import::{Converted, Failure, Note, NoteKind};
use crate::util::fmt::plural;

/// The notes file written beside `evalgate.yaml`.
pub(crate) const NOTES_FILE: &str = "IMPORT-NOTES.md";

pub(crate) fn import(args: &ImportArgs) -> Result<i32, Error> {
    let ImportSource::Promptfoo(a) = &args.source;
    let input = display_path(&a.config);
    let converted = match crate::import::promptfoo::convert(&a.config) {
        Ok(c) => c,
        Err(Failure::Unreadable(diags)) => {
            let mut msg = String::new();
            for d in &diags {
                msg.push_str(&format!("{d}\n\n"));
            }
            msg.push_str(&format!(
                "error: cannot import {input}: {} problem{}; nothing was written\n",
                diags.len(),
                plural(diags.len())
            ));
            let _ = std::io::stderr().write_all(msg.as_bytes());
            return Ok(exit::INVALID_INPUT);
        }
        Err(Failure::NothingConvertible { reason, notes }) => {
            let mut msg = lists(&notes);
            msg.push_str(&format!(
                "error: nothing to import: {reason}; nothing was written\n  = hint: the notes above say why each part was left out; see the mapping table in the README (\"evalgate import promptfoo\")\n"
            ));
            let _ = std::io::stderr().write_all(msg.as_bytes());
            return Ok(exit::INVALID_INPUT);
        }
    };
    let mut files = converted.files.clone();
    files.push((NOTES_FILE.to_string(), notes_markdown(&input, &converted)));
    write_project(&a.out, &files)?;

    let shown = display_path(&a.out);
    let shown = if shown.is_empty() {
        ".".to_string()
    } else {
        shown
    };
    let mut out = format!("converted {input} into {shown}:\n");
    for (rel, _) in &files {
        out.push_str(&format!("  {rel}\n"));
    }
    out.push_str(&lists(&converted.notes));
    if let Some(line) = matrix_line(&converted) {
        out.push_str(&line);
        out.push('\n');
    }
    let cd = if shown == "." {
        String::new()
    } else {
        format!("cd {shown} && ")
    };
    out.push_str(&format!("next: {cd}evalgate validate\n"));
    // Like `init`: a closed stdout does not undo a written project.
    let _ = std::io::stdout().write_all(out.as_bytes());
    Ok(exit::OK)
}

/// The notes as two plain-text lists (nothing when there are none).
fn lists(notes: &[Note]) -> String {
    let mut out = String::new();
    for (kind, title) in [
        (NoteKind::NotConverted, "not converted"),
        (NoteKind::Differs, "converted with a difference"),
    ] {
        let these: Vec<&Note> = notes.iter().filter(|n| n.kind == kind).collect();
        if these.is_empty() {
            continue;
        }
        out.push_str(&format!("{title} ({}):\n", these.len()));
        for n in these {
            out.push_str(&format!("  {n}\n"));
        }
    }
    out
}

fn matrix_line(c: &Converted) -> Option<String> {
    if c.matrix.len() < 2 {
        return None;
    }
    let flags: Vec<String> = c.matrix.iter().map(|p| format!("--provider {p}")).collect();
    Some(format!(
        "promptfoo runs every test against each of {} providers; evalgate runs the default provider `{}`; for the same matrix: evalgate run {}",
        c.matrix.len(),
        c.matrix[0],
        flags.join(" ")
    ))
}

/// IMPORT-NOTES.md: what was written, what was not converted and why,
/// what behaves differently.
fn notes_markdown(input: &str, c: &Converted) -> String {
    let mut out = format!(
        "# Import notes\n\n`evalgate import promptfoo {input}` wrote {}.\n",
        c.files
            .iter()
            .map(|(f, _)| format!("`{f}`"))
            .collect::<Vec<_>>()
            .join(" and ")
    );
    for (kind, title, none) in [
        (
            NoteKind::NotConverted,
            "Not converted",
            "Everything was converted.",
        ),
        (
            NoteKind::Differs,
            "Converted with a difference",
            "No known difference.",
        ),
    ] {
        let these: Vec<&Note> = c.notes.iter().filter(|n| n.kind == kind).collect();
        out.push_str(&format!("\n## {title} ({})\n\n", these.len()));
        if these.is_empty() {
            out.push_str(none);
            out.push('\n');
        }
        for n in these {
            let at = match n.line {
                Some(l) => format!("{}:{l}", n.file),
                None => n.file.clone(),
            };
            out.push_str(&format!("- `{at}`: {}\n", n.text));
        }
    }
    if let Some(line) = matrix_line(c) {
        out.push_str(&format!("\n## Providers\n\n{line}\n"));
    }
    out
}

/// Write `files` under `dir`: all targets checked first, nothing replaced.
fn write_project(dir: &Path, files: &[(String, String)]) -> Result<(), Error> {
    super::init::write_new_files(
        dir,
        files.iter().map(|(rel, c)| (rel.as_str(), c.as_str())),
        &super::init::NewFiles {
            command: "evalgate import",
            dir_hint: "pass a directory (new or existing) to --out",
            retry_hint: "import into a new directory with --out DIR",
        },
    )
}

//! The run journal: every finished attempt as one JSON line, so that
//! `evalgate run --resume` can continue a run that was killed (`kill -9`, a
//! lost CI runner) without calling a provider again for what finished.
//!
//! ```text
//! {"journal":"evalgate.journal","version":1,"run":{…identity…},"config_hash":…,"started_at":…}
//! {"attempt":{"provider":…,"suite":…,"case":…,"repeat":1},"result":{…the JSON report's attempt…}}
//! …
//! {"complete":{"stopped":null}}
//! ```
//!
//! The first line names the run ([`RunIdentity`]): a journal is resumed only
//! by the same run. Each attempt line is written with one `write` as its
//! attempt finishes (no buffering across attempts, no `fsync`: a killed
//! process loses nothing the kernel has; a crash loses at most the line
//! being written, which a resume ignores). A run that reaches its verdict
//! (not interrupted) ends the journal with a `complete` line.
//!
//! On resume the journal is indexed (attempt → where its line is), not
//! loaded: a replayed attempt's line is read back when the engine reaches
//! it, so memory does not grow with the results' size.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use crate::error::{display_path, Diagnostic, Error, Pos};
use crate::event::AttemptId;
use crate::model::{AttemptResult, Recording, StopReason};
use crate::util::jsonw::Obj;

/// The `journal` field of the first line.
pub(crate) const FORMAT: &str = "evalgate.journal";
/// The journal format's version.
pub(crate) const VERSION: u32 = 1;

/// What decides which attempts a run makes and what their results are: a
/// journal is resumed only by a run with the same identity. To extend it
/// (a new selection flag), add a field and its row in [`FIELDS`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct RunIdentity {
    pub evalgate_version: String,
    /// `sha256:` of evalgate.yaml, the suites and every file they read
    /// (datasets, mock answers, schemas, cassettes), goldens excepted (a
    /// run may write them).
    pub inputs_hash: String,
    /// Suite files or directories given on the command line.
    pub paths: Vec<String>,
    pub filters: Vec<String>,
    pub tags: Vec<String>,
    pub providers: Vec<String>,
    /// `--sample` as given, and `--seed`.
    pub sample: Option<String>,
    pub seed: Option<u64>,
    /// `live` or `replay`.
    pub mode: String,
    pub allow_scripts: bool,
    /// What the run may write to goldens (`--update-golden`, resolved).
    pub golden_writes: String,
    pub fail_fast: bool,
    pub max_cost_usd: Option<f64>,
    /// `--shard`, resolved (`K/N`).
    #[serde(default)]
    pub shard: Option<String>,
}

/// How a difference in each identity field is named, and how to fix it.
const FIELDS: &[(&str, &str)] = &[
    ("evalgate_version", "the evalgate version"),
    (
        "inputs_hash",
        "evalgate.yaml, the suites or a file they read (dataset, mock answers, schema, cassette)",
    ),
    ("paths", "the suite paths"),
    ("filters", "--filter"),
    ("tags", "--tag"),
    ("providers", "--provider"),
    ("sample", "--sample"),
    ("seed", "--seed"),
    ("mode", "--replay"),
    ("allow_scripts", "--allow-scripts"),
    ("golden_writes", "--update-golden (with CI detection)"),
    ("fail_fast", "--fail-fast"),
    ("max_cost_usd", "the budget (--max-cost, gate.max_cost)"),
    ("shard", "--shard"),
];

impl RunIdentity {
    /// One line per field that differs, journal's value first.
    pub(crate) fn differences(&self, now: &RunIdentity) -> Vec<String> {
        let (Ok(serde_json::Value::Object(then)), Ok(serde_json::Value::Object(now))) =
            (serde_json::to_value(self), serde_json::to_value(now))
        else {
            return vec!["the run cannot be compared".to_string()];
        };
        let mut out = Vec::new();
        for (key, was) in &then {
            let is = now.get(key).unwrap_or(&serde_json::Value::Null);
            if crate::util::json::json_equal(was, is) {
                continue;
            }
            let what = FIELDS
                .iter()
                .find(|(k, _)| k == key)
                .map_or(key.as_str(), |(_, w)| *w);
            if key == "inputs_hash" {
                out.push(format!("{what} changed since the journal was written"));
            } else {
                out.push(format!(
                    "{what}: {} in the journal, {} now",
                    shown(was),
                    shown(is)
                ));
            }
        }
        out
    }
}

/// A value of the identity as a message shows it.
fn shown(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::Null => "none".to_string(),
        serde_json::Value::Array(a) if a.is_empty() => "none".to_string(),
        serde_json::Value::Array(a) => a.iter().map(shown).collect::<Vec<_>>().join(", "),
        serde_json::Value::String(s) => format!("`{s}`"),
        other => format!("`{other}`"),
    }
}

/// The first line.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Header {
    journal: String,
    version: u32,
    run: RunIdentity,
    /// The run's `config_hash` (goldens included) when it started.
    config_hash: String,
    /// When the run started (RFC 3339): a resumed run keeps it.
    started_at: String,
}

/// The first line's format fields alone (any version).
#[derive(Deserialize)]
struct Format {
    journal: Option<String>,
    version: Option<u32>,
}

/// Which attempt a line holds.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
struct Key {
    provider: String,
    suite: String,
    case: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    variant: Option<String>,
    repeat: u32,
}

#[derive(Deserialize)]
struct AttemptLineOwned {
    result: AttemptResult,
    #[serde(default)]
    recording: Option<String>,
}

/// The last line of a run that reached its verdict.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
struct Complete {
    stopped: Option<StopReason>,
}

#[derive(Serialize)]
struct CompleteLine {
    complete: Complete,
}

/// Any line after the first, read to index it.
#[derive(Deserialize)]
struct Scan {
    #[serde(default)]
    attempt: Option<Key>,
    #[serde(default)]
    result: Option<serde::de::IgnoredAny>,
    #[serde(default)]
    complete: Option<Complete>,
}

/// The attempt line of a finished attempt, newline included. The attempt's
/// worker encodes and appends it, so the run loop does neither.
pub(crate) fn encode(id: &AttemptId, result: &AttemptResult) -> Vec<u8> {
    let mut out = Vec::with_capacity(1024);
    let mut line = Obj::open(&mut out);
    let mut key = Obj::open(line.key("attempt"));
    key.str("provider", &id.provider);
    key.str("suite", &id.suite);
    key.str("case", &id.case);
    key.opt_str("variant", id.variant.as_deref());
    key.u64("repeat", id.repeat.into());
    key.close();
    crate::model::write_attempt(line.key("result"), result);
    // Replay had no usable recording (not part of the report's attempt).
    line.opt_str(
        "recording",
        result.recording.map(|r| match r {
            Recording::Missing => "missing",
            Recording::Stale => "stale",
        }),
    );
    line.close();
    out.push(b'\n');
    out
}

/// Where the journal appends (the workers take turns: one `write` each);
/// after the first failed write nothing more is written (the failed line
/// stays the last, and a resume ignores it).
struct Writer {
    file: File,
    failed: Option<String>,
    complete: bool,
}

/// An open journal: written as attempts finish and, when resuming, read
/// for the attempts that finished before.
pub(crate) struct Journal {
    path: PathBuf,
    writer: Mutex<Writer>,
    header: Header,
    /// Resuming: where each finished attempt's line is.
    finished: HashMap<Key, (u64, usize)>,
    reader: Option<Mutex<File>>,
    /// Resuming a journal whose run was complete: how it stopped.
    was_complete: Option<Option<StopReason>>,
    /// Said once on resume (a truncated last line).
    notes: Vec<String>,
}

impl std::fmt::Debug for Journal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Journal")
            .field("path", &self.path)
            .field("finished", &self.finished.len())
            .finish()
    }
}

/// What a journal that is about to be replaced held.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Replaced {
    /// Attempt lines in it.
    pub attempts: u64,
    /// It ends with a `complete` line.
    pub complete: bool,
}

impl Journal {
    /// A new journal at `path` (any previous one replaced, atomically);
    /// what the previous one held, if there was one.
    pub(crate) fn start(
        path: &Path,
        run: RunIdentity,
        config_hash: &str,
        started_at: &str,
    ) -> Result<(Journal, Option<Replaced>), Error> {
        crate::util::fsafe::no_symlinks(path).map_err(|e| Error::output(path, e))?;
        let replaced = previous(path);
        let dir = crate::util::path::dir_of(path);
        std::fs::create_dir_all(&dir).map_err(|e| Error::output(path, e))?;
        crate::util::atomic::remove_stray_temps(&dir);
        let header = Header {
            journal: FORMAT.to_string(),
            version: VERSION,
            run,
            config_hash: config_hash.to_string(),
            started_at: started_at.to_string(),
        };
        let mut line = serde_json::to_vec(&header)
            .map_err(|e| Error::Infrastructure(format!("cannot encode the journal: {e}")))?;
        line.push(b'\n');
        // The journal holds answers: private, as the cache and cassettes.
        let mut builder = tempfile::Builder::new();
        builder.prefix(".evalgate-").suffix(".tmp");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            builder.permissions(std::fs::Permissions::from_mode(0o600));
        }
        let mut tmp = builder
            .tempfile_in(&dir)
            .map_err(|e| Error::output(path, e))?;
        tmp.write_all(&line).map_err(|e| Error::output(path, e))?;
        let file = tmp
            .persist(path)
            .map_err(|e| Error::output(path, e.error))?;
        Ok((
            Journal {
                path: path.to_path_buf(),
                writer: Mutex::new(Writer {
                    file,
                    failed: None,
                    complete: false,
                }),
                header,
                finished: HashMap::new(),
                reader: None,
                was_complete: None,
                notes: Vec::new(),
            },
            replaced,
        ))
    }

    /// Open the journal at `path` to continue its run: refused (exit 2)
    /// when it is not a journal, is damaged, or names another run.
    pub(crate) fn resume(path: &Path, run: &RunIdentity) -> Result<Journal, Error> {
        crate::util::fsafe::no_symlinks(path).map_err(|e| Error::output(path, e))?;
        let shown = display_path(path);
        let file = match std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)
        {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(Error::Usage(format!(
                    "--resume: there is no journal at {shown} (no run was started here, or it was written elsewhere)\n  = hint: run without --resume to start the run; a run writes its journal there (`--journal PATH` puts it elsewhere)"
                )));
            }
            Err(e) => return Err(Error::output(path, e)),
        };
        if !file.metadata().map(|m| m.is_file()).unwrap_or(false) {
            return Err(Error::Usage(format!(
                "--resume: {shown} is not a regular file"
            )));
        }
        // The damaged line is shown (a long one cut around the column).
        let bad = |line: usize, col: usize, message: String, text: &[u8]| {
            Error::from(vec![Diagnostic::new(
                path,
                Some(Pos::new(line, col.max(1))),
                message,
            )
            .with_source_line(String::from_utf8_lossy(text).trim_end())
            .with_hint(
                    "the journal is damaged: run without --resume to start the run again (that replaces it)",
                )])
        };
        let mut reader = BufReader::with_capacity(64 << 10, &file);
        let mut buf = Vec::new();
        let io = |e: std::io::Error| Error::Infrastructure(format!("cannot read {shown}: {e}"));
        let n = reader.read_until(b'\n', &mut buf).map_err(io)?;
        if n == 0 || buf.last() != Some(&b'\n') {
            return Err(bad(
                1,
                1,
                "the journal has no complete first line (the run was killed as it started)"
                    .to_string(),
                &buf,
            ));
        }
        let format: Format = serde_json::from_slice(&buf)
            .map_err(|e| bad(1, e.column(), "not an evalgate journal".to_string(), &buf))?;
        if format.journal.as_deref() != Some(FORMAT) {
            return Err(bad(1, 1, "not an evalgate journal".to_string(), &buf));
        }
        if format.version != Some(VERSION) {
            return Err(Error::Usage(format!(
                "{shown} is a journal of version {} but this evalgate writes version {VERSION}\n  = hint: resume with the evalgate that wrote it, or run without --resume to start again",
                format.version.map_or_else(|| "?".to_string(), |v| v.to_string())
            )));
        }
        let header: Header = serde_json::from_slice(&buf).map_err(|e| {
            bad(
                1,
                e.column(),
                format!("the journal's first line is not readable: {e}"),
                &buf,
            )
        })?;
        let differences = header.run.differences(run);
        if !differences.is_empty() {
            return Err(Error::Usage(format!(
                "{shown} is the journal of another run, so --resume cannot continue it:\n{}\n  = hint: resume with the flags and files of the run that wrote it, or run without --resume to start again (that replaces the journal)",
                differences
                    .iter()
                    .map(|d| format!("  - {d}"))
                    .collect::<Vec<_>>()
                    .join("\n")
            )));
        }
        let mut offset = n as u64;
        let mut line_no = 1;
        let mut finished = HashMap::new();
        let mut was_complete = None;
        let mut notes = Vec::new();
        loop {
            buf.clear();
            let n = reader.read_until(b'\n', &mut buf).map_err(io)?;
            if n == 0 {
                break;
            }
            line_no += 1;
            if buf.last() != Some(&b'\n') {
                // Only the last line can lack its newline: the write the
                // run was killed in.
                notes.push(format!(
                    "ignored the last line of {shown} (line {line_no}): it was cut short when the run stopped; its attempt runs again"
                ));
                break;
            }
            let scan: Scan = serde_json::from_slice(&buf).map_err(|e| {
                bad(
                    line_no,
                    e.column(),
                    "this line is not a journal entry (it was changed after the run wrote it)"
                        .to_string(),
                    &buf,
                )
            })?;
            match scan {
                Scan {
                    attempt: Some(key),
                    result: Some(_),
                    ..
                } => {
                    finished.insert(key, (offset, n));
                }
                Scan {
                    complete: Some(c), ..
                } => was_complete = Some(c.stopped),
                _ => {
                    return Err(bad(
                        line_no,
                        1,
                        "this line is neither an attempt nor the end of the run".to_string(),
                        &buf,
                    ))
                }
            }
            offset += n as u64;
        }
        drop(reader);
        // What follows is appended after the last whole line.
        file.set_len(offset).map_err(|e| Error::output(path, e))?;
        let mut file = file;
        file.seek(SeekFrom::Start(offset))
            .map_err(|e| Error::output(path, e))?;
        let read = File::open(path).map_err(io)?;
        Ok(Journal {
            path: path.to_path_buf(),
            writer: Mutex::new(Writer {
                file,
                failed: None,
                complete: was_complete.is_some(),
            }),
            header,
            finished,
            reader: Some(Mutex::new(read)),
            was_complete,
            notes,
        })
    }

    /// This run continues an earlier one (`--resume`).
    pub(crate) fn resuming(&self) -> bool {
        self.reader.is_some()
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Attempts the journal held when it was resumed.
    pub(crate) fn finished_before(&self) -> usize {
        self.finished.len()
    }

    /// The resumed run's `complete` line: how it stopped (`Some(None)`: it
    /// ran everything). Such a journal is only replayed: an attempt it does
    /// not hold was never run, and is not run now.
    pub(crate) fn was_complete(&self) -> Option<Option<StopReason>> {
        self.was_complete
    }

    /// The run's `config_hash` and start time, as the journal began.
    pub(crate) fn config_hash(&self) -> &str {
        &self.header.config_hash
    }

    pub(crate) fn started_at(&self) -> &str {
        &self.header.started_at
    }

    /// What the reading of the journal has to say (a truncated last line).
    pub(crate) fn notes(&self) -> &[String] {
        &self.notes
    }

    /// The finished attempt's result, if the journal holds it.
    pub(crate) fn replay(&self, id: &AttemptId) -> Result<Option<AttemptResult>, Error> {
        let Some(reader) = &self.reader else {
            return Ok(None);
        };
        let key = Key {
            provider: id.provider.to_string(),
            suite: id.suite.to_string(),
            case: id.case.to_string(),
            variant: id.variant.as_deref().map(str::to_string),
            repeat: id.repeat,
        };
        let Some(&(offset, len)) = self.finished.get(&key) else {
            return Ok(None);
        };
        let shown = display_path(&self.path);
        let mut buf = vec![0u8; len];
        {
            let mut f = reader
                .lock()
                .map_err(|_| Error::Infrastructure("the journal reader failed".to_string()))?;
            f.seek(SeekFrom::Start(offset))
                .and_then(|_| f.read_exact(&mut buf))
                .map_err(|e| Error::Infrastructure(format!("cannot read {shown}: {e}")))?;
        }
        let line: AttemptLineOwned = serde_json::from_slice(&buf).map_err(|e| {
            Error::Infrastructure(format!(
                "{shown} changed while the run read it ({e})\n  = hint: run without --resume to start again"
            ))
        })?;
        let mut result = line.result;
        result.recording = match line.recording.as_deref() {
            Some("missing") => Some(Recording::Missing),
            Some("stale") => Some(Recording::Stale),
            _ => None,
        };
        Ok(Some(result))
    }

    /// Append a finished attempt's line (see [`encode`]).
    pub(crate) fn append(&self, line: &[u8]) {
        if line.is_empty() {
            return;
        }
        let Ok(mut w) = self.writer.lock() else {
            return;
        };
        if w.failed.is_some() {
            return;
        }
        if let Err(e) = w.file.write_all(line) {
            w.failed = Some(e.to_string());
        }
    }

    /// End the journal: the run reached its verdict (how it stopped). Not
    /// after a failed write: that journal lacks attempts and can only be
    /// resumed.
    pub(crate) fn complete(&self, stopped: Option<StopReason>) {
        let Ok(mut w) = self.writer.lock() else {
            return;
        };
        if w.failed.is_some() || w.complete {
            return;
        }
        let Ok(mut line) = serde_json::to_vec(&CompleteLine {
            complete: Complete { stopped },
        }) else {
            return;
        };
        line.push(b'\n');
        match w.file.write_all(&line) {
            Ok(()) => w.complete = true,
            Err(e) => w.failed = Some(e.to_string()),
        }
    }

    /// Why the journal could not be written, if it could not.
    pub(crate) fn failure(&self) -> Option<String> {
        self.writer.lock().ok().and_then(|w| w.failed.clone())
    }
}

/// What the journal at `path` holds, if there is one (read only to say
/// what a new run replaces).
fn previous(path: &Path) -> Option<Replaced> {
    let file = File::open(path).ok()?;
    if !file.metadata().ok()?.is_file() {
        return None;
    }
    let mut reader = BufReader::with_capacity(64 << 10, file);
    let mut lines = 0u64;
    let mut last = Vec::new();
    let mut buf = Vec::new();
    loop {
        buf.clear();
        match reader.read_until(b'\n', &mut buf) {
            Ok(0) | Err(_) => break,
            Ok(_) => {
                lines += 1;
                std::mem::swap(&mut last, &mut buf);
            }
        }
    }
    let complete = serde_json::from_slice::<Scan>(&last)
        .ok()
        .is_some_and(|s| s.complete.is_some());
    Some(Replaced {
        attempts: lines.saturating_sub(1 + u64::from(complete)),
        complete,
    })
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::model::{Outcome, Timing};

    fn identity() -> RunIdentity {
        RunIdentity {
            evalgate_version: "1.0.0".into(),
            inputs_hash: "sha256:aa".into(),
            paths: vec![],
            filters: vec!["geo/*".into()],
            tags: vec![],
            providers: vec![],
            sample: None,
            seed: None,
            mode: "live".into(),
            allow_scripts: false,
            golden_writes: "nothing".into(),
            fail_fast: false,
            max_cost_usd: None,
            shard: None,
        }
    }

    fn id(case: &str, repeat: u32) -> AttemptId {
        AttemptId {
            seq: 0,
            suite: Arc::from("geo"),
            case: Arc::from(case),
            provider: Arc::from("mock"),
            variant: None,
            repeat,
            repeats: 2,
        }
    }

    fn result(output: &str, repeat: u32) -> AttemptResult {
        AttemptResult {
            repeat,
            outcome: Outcome::Pass,
            score: 1.0,
            output: Some(output.into()),
            error: None,
            tool_calls: vec![],
            retries: 0,
            timing: Timing {
                latency_ms: 12.5,
                ..Default::default()
            },
            usage: None,
            check_calls: vec![],
            cost_usd: Some(0.25),
            judge_cost_usd: None,
            finish_reason: None,
            model: None,
            prompt_hash: "sha256:00".into(),
            checks: vec![],
            turns: vec![],
            recording: Some(Recording::Stale),
        }
    }

    /// The line as serde wrote it before `encode` wrote it directly.
    fn serde_line(id: &AttemptId, result: &AttemptResult) -> Vec<u8> {
        #[derive(Serialize)]
        struct KeyRef<'a> {
            provider: &'a str,
            suite: &'a str,
            case: &'a str,
            #[serde(skip_serializing_if = "Option::is_none")]
            variant: Option<&'a str>,
            repeat: u32,
        }
        #[derive(Serialize)]
        struct AttemptLine<'a> {
            attempt: KeyRef<'a>,
            result: &'a AttemptResult,
            #[serde(skip_serializing_if = "Option::is_none")]
            recording: Option<&'static str>,
        }
        let mut out = serde_json::to_vec(&AttemptLine {
            attempt: KeyRef {
                provider: &id.provider,
                suite: &id.suite,
                case: &id.case,
                variant: id.variant.as_deref(),
                repeat: id.repeat,
            },
            result,
            recording: result.recording.map(|r| match r {
                Recording::Missing => "missing",
                Recording::Stale => "stale",
            }),
        })
        .unwrap();
        out.push(b'\n');
        out
    }

    #[test]
    fn an_attempt_line_is_what_serde_writes() {
        let mut with_variant = id("fr\"ance", 2);
        with_variant.variant = Some(Arc::from("v\n2"));
        let mut missing = result("Paris", 2);
        missing.recording = Some(Recording::Missing);
        let mut none = result("Par\u{1}is", 1);
        none.recording = None;
        for (id, r) in [
            (id("france", 1), result("Paris", 1)),
            (with_variant, missing),
            (id("italy", 1), none),
        ] {
            let line = encode(&id, &r);
            assert_eq!(
                String::from_utf8(line).unwrap(),
                String::from_utf8(serde_line(&id, &r)).unwrap()
            );
        }
    }

    #[test]
    fn attempts_written_are_replayed_and_a_cut_line_is_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("reports/.evalgate-journal.jsonl");
        let (j, replaced) =
            Journal::start(&path, identity(), "sha256:cc", "2026-01-01T00:00:00Z").unwrap();
        assert_eq!(replaced, None);
        j.append(&encode(&id("france", 1), &result("Paris", 1)));
        j.append(&encode(&id("france", 2), &result("Paris!", 2)));
        drop(j);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        // A third line cut short by a kill.
        let mut text = std::fs::read_to_string(&path).unwrap();
        text.push_str("{\"attempt\":{\"provider\":\"mock\",\"su");
        std::fs::write(&path, &text).unwrap();
        let j = Journal::resume(&path, &identity()).unwrap();
        assert_eq!(j.finished_before(), 2);
        assert_eq!(j.notes().len(), 1, "{:?}", j.notes());
        assert_eq!(j.was_complete(), None);
        assert_eq!(j.started_at(), "2026-01-01T00:00:00Z");
        assert_eq!(j.config_hash(), "sha256:cc");
        let r = j.replay(&id("france", 2)).unwrap().unwrap();
        assert_eq!(r, result("Paris!", 2));
        assert_eq!(j.replay(&id("italy", 1)).unwrap(), None);
        // Appending goes after the last whole line.
        j.append(&encode(&id("italy", 1), &result("Rome", 1)));
        j.complete(None);
        drop(j);
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.lines().count(), 5, "{text}");
        assert!(text
            .lines()
            .all(|l| serde_json::from_str::<serde_json::Value>(l).is_ok()));
        let j = Journal::resume(&path, &identity()).unwrap();
        assert_eq!(j.finished_before(), 3);
        assert_eq!(j.was_complete(), Some(None));
        assert!(j.notes().is_empty());
        let (_, replaced) = Journal::start(&path, identity(), "sha256:cc", "t").unwrap();
        assert_eq!(
            replaced,
            Some(Replaced {
                attempts: 3,
                complete: true
            })
        );
    }

    #[test]
    fn another_run_is_named_field_by_field() {
        let mut now = identity();
        now.filters.clear();
        now.inputs_hash = "sha256:bb".into();
        now.max_cost_usd = Some(2.5);
        let d = identity().differences(&now);
        assert_eq!(
            d,
            [
                "evalgate.yaml, the suites or a file they read (dataset, mock answers, schema, cassette) changed since the journal was written",
                "--filter: `geo/*` in the journal, none now",
                "the budget (--max-cost, gate.max_cost): none in the journal, `2.5` now",
            ]
        );
        assert!(identity().differences(&identity()).is_empty());
    }

    #[test]
    fn a_damaged_journal_is_refused_with_its_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j.jsonl");
        let (j, _) = Journal::start(&path, identity(), "h", "t").unwrap();
        j.append(&encode(&id("france", 1), &result("Paris", 1)));
        drop(j);
        let mut text = std::fs::read_to_string(&path).unwrap();
        text.push_str("garbage\n");
        std::fs::write(&path, &text).unwrap();
        let e = Journal::resume(&path, &identity()).unwrap_err().to_string();
        assert!(e.contains("j.jsonl:3:"), "{e}");
        assert!(e.contains("this line is not a journal entry"), "{e}");
        std::fs::write(&path, "{\"x\": 1}\n").unwrap();
        let e = Journal::resume(&path, &identity()).unwrap_err().to_string();
        assert!(e.contains("not an evalgate journal"), "{e}");
        std::fs::remove_file(&path).unwrap();
        let e = Journal::resume(&path, &identity()).unwrap_err().to_string();
        assert!(e.contains("there is no journal"), "{e}");
    }
}

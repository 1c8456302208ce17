//! Streaming reader of JSON reports (`schema/report.v1.json`) for comparisons.
//!
//! The report is read with `serde_json` from a buffered file without building
//! a tree: the top-level object is visited key by key, and each element of
//! `results` is deserialized into a small, lenient struct (unknown fields are
//! skipped without being kept, optional fields default) and handed to a
//! callback, then dropped. Outputs are never kept. Reports from other evalgate
//! versions load as long as the fields read here have the same shape.

use std::fmt;
use std::io::BufReader;
use std::marker::PhantomData;
use std::path::Path;

use serde::de::{self, DeserializeOwned, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess};
use serde::{Deserialize, Deserializer};

use crate::error::{display_path, Error};
use crate::model::{Outcome, REPORT_SCHEMA_NAME};
use crate::util::text::truncate_chars;

const HINT: &str = "\n  = hint: compare reports written by `evalgate run --json PATH`";

/// The `run` object, leniently.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct RunWire {
    pub evalgate_version: Option<String>,
    pub started_at: Option<String>,
    pub git_commit: Option<String>,
    pub suites: Vec<String>,
    pub filters: Vec<String>,
    pub tags: Vec<String>,
}

/// Everything but the results.
#[derive(Debug, Default)]
pub(crate) struct ReportInfo {
    pub schema_version: Option<u64>,
    pub run: RunWire,
    pub stopped: Option<String>,
    pub duration_ms: Option<f64>,
}

/// Why a callback of [`stream_report`] stops the reading.
#[derive(Debug)]
pub(crate) enum Halt {
    /// The file is not what the reader needs: this message (naming the
    /// file and the fix) is the error.
    Problem(String),
    /// The reader wants no more (its consumer went away).
    Stop,
}

/// Token usage of an attempt.
#[derive(Debug, Clone, Copy, Default, Deserialize)]
#[serde(default)]
pub(crate) struct UsageWire {
    pub input_tokens: u64,
    pub output_tokens: u64,
}

/// The numbers of an attempt a baseline keeps.
#[derive(Debug, Deserialize)]
pub(crate) struct BaseAttempt {
    #[serde(default)]
    pub score: f64,
    #[serde(default)]
    pub latency_ms: f64,
    #[serde(default)]
    pub usage: Option<UsageWire>,
}

/// A baseline case: identity and numbers; outputs and checks are skipped.
#[derive(Debug, Deserialize)]
pub(crate) struct BaseCase {
    pub suite: String,
    pub case: String,
    pub provider: String,
    /// The prompt variant: cases match by (suite, case, variant, provider).
    #[serde(default)]
    pub variant: Option<String>,
    pub outcome: Outcome,
    #[serde(default)]
    pub flaky: bool,
    #[serde(default)]
    pub passes: u32,
    #[serde(default)]
    pub repeats: u32,
    #[serde(default)]
    pub attempts: Vec<BaseAttempt>,
}

/// A check of a HEAD attempt: what explains a failure.
#[derive(Debug, Deserialize)]
pub(crate) struct HeadCheck {
    #[serde(default)]
    pub name: String,
    #[serde(default = "yes")]
    pub passed: bool,
    #[serde(default)]
    pub message: String,
}

fn yes() -> bool {
    true
}

/// An attempt of a HEAD case read from a file.
#[derive(Debug, Deserialize)]
pub(crate) struct HeadAttempt {
    pub outcome: Outcome,
    #[serde(default)]
    pub score: f64,
    #[serde(default)]
    pub error: Option<String>,
    #[serde(default)]
    pub latency_ms: f64,
    #[serde(default)]
    pub usage: Option<UsageWire>,
    #[serde(default)]
    pub checks: Vec<HeadCheck>,
}

/// A HEAD case read from a file (for `compare_files`).
#[derive(Debug, Deserialize)]
pub(crate) struct HeadCase {
    pub suite: String,
    pub case: String,
    pub provider: String,
    #[serde(default)]
    pub variant: Option<String>,
    pub outcome: Outcome,
    #[serde(default)]
    pub flaky: bool,
    #[serde(default)]
    pub passes: u32,
    #[serde(default)]
    pub repeats: u32,
    #[serde(default)]
    pub skip_reason: Option<String>,
    #[serde(default)]
    pub attempts: Vec<HeadAttempt>,
    /// Present on a case of the adversarial pack.
    #[serde(default)]
    pub attack: Option<serde::de::IgnoredAny>,
}

/// Stream the report at `path`, calling `on_case` for every result in order.
///
/// Errors name the file: [`Error::Usage`] when it cannot be opened, is not
/// JSON, or is not an evalgate report (wrong or missing `schema`, no
/// `results`, a result without the fields a comparison needs);
/// [`Error::Infrastructure`] when reading fails midway.
pub(crate) fn read_report<T, F>(path: &Path, mut on_case: F) -> Result<ReportInfo, Error>
where
    T: DeserializeOwned,
    F: FnMut(T),
{
    let mut run = RunWire::default();
    let mut info = stream_report(
        path,
        HINT,
        |r: RunWire| {
            run = r;
            Ok(())
        },
        |c: T| {
            on_case(c);
            Ok(())
        },
    )?;
    info.run = run;
    Ok(info)
}

/// Stream the report at `path`: `on_run` gets its `run` object (read as
/// `R`) when it comes, `on_case` every result in order (as `T`); either
/// may stop the reading ([`Halt`]). `hint` ends the messages about files
/// that are not evalgate reports. Errors as [`read_report`]'s; a
/// [`Halt::Problem`] is an [`Error::Usage`] with its message, a
/// [`Halt::Stop`] an [`Error::Infrastructure`] nobody needs to show.
pub(crate) fn stream_report<R, T, FR, FC>(
    path: &Path,
    hint: &str,
    mut on_run: FR,
    mut on_case: FC,
) -> Result<ReportInfo, Error>
where
    R: DeserializeOwned,
    T: DeserializeOwned,
    FR: FnMut(R) -> Result<(), Halt>,
    FC: FnMut(T) -> Result<(), Halt>,
{
    let shown = display_path(path);
    if path.is_dir() {
        return Err(Error::Usage(format!(
            "cannot read report {shown}: it is a directory{hint}"
        )));
    }
    // A report named on the command line: any location, but a regular file.
    let file = crate::util::fsafe::open(path, crate::util::fsafe::Kind::Report, false)
        .map_err(|e| Error::Usage(format!("cannot read report {shown}: {e}")))?;
    let mut problem: Option<String> = None;
    let mut halted: Option<Halt> = None;
    let mut de = serde_json::Deserializer::from_reader(BufReader::with_capacity(64 * 1024, file));
    let result = de
        .deserialize_map(ReportVisitor {
            on_run: &mut on_run,
            on_case: &mut on_case,
            problem: &mut problem,
            halted: &mut halted,
            _types: PhantomData::<(R, T)>,
        })
        .and_then(|info| de.end().map(|()| info));
    match result {
        Ok(info) => Ok(info),
        Err(e) => Err(match (halted, problem) {
            (Some(Halt::Problem(p)), _) => Error::Usage(p),
            (Some(Halt::Stop), _) => Error::Infrastructure(format!("stopped reading {shown}")),
            (None, Some(p)) => {
                Error::Usage(format!("{shown} is not an evalgate report: {p}{hint}"))
            }
            (None, None) => classify(&shown, &e, hint),
        }),
    }
}

fn classify(shown: &str, e: &serde_json::Error, hint: &str) -> Error {
    use serde_json::error::Category;
    match e.classify() {
        Category::Io => Error::Infrastructure(format!("cannot read report {shown}: {e}")),
        Category::Syntax | Category::Eof => Error::Usage(format!(
            "{shown} is not a JSON report: invalid JSON ({e}){hint}"
        )),
        Category::Data => Error::Usage(format!(
            "{shown} is not a readable evalgate report: {e}{hint}"
        )),
    }
}

/// Marker message of the serde error that stops reading after a problem.
const STOP: &str = "not an evalgate report";

/// Marker message of the serde error that stops reading after a [`Halt`].
const HALT: &str = "reading stopped";

struct ReportVisitor<'a, R, T, FR, FC> {
    on_run: &'a mut FR,
    on_case: &'a mut FC,
    problem: &'a mut Option<String>,
    halted: &'a mut Option<Halt>,
    _types: PhantomData<(R, T)>,
}

impl<'de, R, T, FR, FC> de::Visitor<'de> for ReportVisitor<'_, R, T, FR, FC>
where
    R: DeserializeOwned,
    T: DeserializeOwned,
    FR: FnMut(R) -> Result<(), Halt>,
    FC: FnMut(T) -> Result<(), Halt>,
{
    type Value = ReportInfo;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an evalgate JSON report (an object with `schema` and `results`)")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<ReportInfo, A::Error> {
        let mut info = ReportInfo::default();
        let mut schema_seen = false;
        let mut results_seen = false;
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "schema" => {
                    let v: serde_json::Value = map.next_value()?;
                    if v.as_str() != Some(REPORT_SCHEMA_NAME) {
                        *self.problem = Some(format!(
                            "its `schema` field is {} (expected \"{REPORT_SCHEMA_NAME}\")",
                            short_json(&v)
                        ));
                        return Err(de::Error::custom(STOP));
                    }
                    schema_seen = true;
                }
                "schema_version" => {
                    let v: serde_json::Value = map.next_value()?;
                    match v.as_u64() {
                        Some(n) => info.schema_version = Some(n),
                        None => {
                            *self.problem = Some(format!(
                                "its `schema_version` is {} (expected a number)",
                                short_json(&v)
                            ));
                            return Err(de::Error::custom(STOP));
                        }
                    }
                }
                "run" => {
                    let run: R = map.next_value()?;
                    if let Err(h) = (self.on_run)(run) {
                        *self.halted = Some(h);
                        return Err(de::Error::custom(HALT));
                    }
                }
                "duration_ms" => {
                    let v: serde_json::Value = map.next_value()?;
                    info.duration_ms = v.as_f64();
                }
                "stopped" => {
                    let v: Option<serde_json::Value> = map.next_value()?;
                    info.stopped = v.and_then(|v| match v {
                        serde_json::Value::Null => None,
                        serde_json::Value::String(s) => Some(s),
                        other => Some(other.to_string()),
                    });
                }
                "results" => {
                    map.next_value_seed(Results {
                        on_case: &mut *self.on_case,
                        halted: &mut *self.halted,
                        _case: PhantomData::<T>,
                    })?;
                    results_seen = true;
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        if !schema_seen {
            *self.problem = Some(format!(
                "it has no `schema` field (\"{REPORT_SCHEMA_NAME}\")"
            ));
            return Err(de::Error::custom(STOP));
        }
        if !results_seen {
            *self.problem = Some("it has no `results` array".to_string());
            return Err(de::Error::custom(STOP));
        }
        Ok(info)
    }
}

/// A JSON value shortened for a message.
fn short_json(v: &serde_json::Value) -> String {
    truncate_chars(&v.to_string(), 60)
}

struct Results<'a, T, F> {
    on_case: &'a mut F,
    halted: &'a mut Option<Halt>,
    _case: PhantomData<T>,
}

impl<'de, T, F> DeserializeSeed<'de> for Results<'_, T, F>
where
    T: DeserializeOwned,
    F: FnMut(T) -> Result<(), Halt>,
{
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de, T, F> de::Visitor<'de> for Results<'_, T, F>
where
    T: DeserializeOwned,
    F: FnMut(T) -> Result<(), Halt>,
{
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("`results`: an array of case results")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        // serde_json's errors carry line and column: one result per line.
        while let Some(case) = seq.next_element::<T>()? {
            if let Err(h) = (self.on_case)(case) {
                *self.halted = Some(h);
                return Err(de::Error::custom(HALT));
            }
        }
        Ok(())
    }
}

//! JSON report (`schema/report.v1.json`), streamed one result per line.
//!
//! ```text
//! {"schema":"evalgate.report","schema_version":1,"run":{…},"results":[
//! {…case…},
//! {…case…}
//! ],"summary":{…},"verdict":{…},"stopped":null,"duration_ms":…,"finished_at":"…"}
//! ```
//!
//! Each [`CaseResult`] is written as it arrives (its serde form is the wire
//! format, written by [`crate::model::write_case`]), so memory stays flat; the file is committed on `Finished`. This
//! report is also what a later run reads as its baseline.

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use chrono::{SecondsFormat, Utc};
use serde::Serialize;

use crate::error::Error;
use crate::event::RunEvent;
use crate::model::{
    RunInfo, StopReason, Summary, Verdict, REPORT_SCHEMA_NAME, REPORT_SCHEMA_VERSION,
};
use crate::report::{AtomicFile, Reporter};

#[cfg(test)]
/// The JSON Schema of the report, as committed in `schema/report.v1.json`.
pub(crate) const SCHEMA_V1: &str = include_str!("../../schema/report.v1.json");

#[derive(Serialize)]
struct Head<'a> {
    schema: &'static str,
    schema_version: u32,
    run: &'a RunInfo,
}

#[derive(Serialize)]
struct Tail<'a> {
    summary: &'a Summary,
    verdict: &'a Verdict,
    stopped: Option<StopReason>,
    duration_ms: f64,
    finished_at: String,
    /// Present when the run was compared with a baseline.
    #[serde(skip_serializing_if = "Option::is_none")]
    comparison: Option<&'a crate::compare::Comparison>,
}

/// Writes the JSON report; see the module documentation.
pub(crate) struct JsonReporter {
    path: PathBuf,
    /// None once committed.
    out: Option<AtomicFile>,
    started: bool,
    results: u64,
    /// One case's record, reused from case to case.
    scratch: Vec<u8>,
}

impl JsonReporter {
    /// Open the report file now, so an unwritable location fails before the run.
    pub(crate) fn create(path: &Path) -> Result<Self, Error> {
        Ok(JsonReporter {
            path: path.to_path_buf(),
            out: Some(AtomicFile::create(path)?),
            started: false,
            results: 0,
            scratch: Vec::with_capacity(4096),
        })
    }

    fn write_event(&mut self, event: &RunEvent<'_>) -> io::Result<()> {
        let Some(out) = self.out.as_mut() else {
            return Ok(());
        };
        match event {
            RunEvent::Started(info) => {
                if self.started {
                    return Err(io::Error::other("run started twice"));
                }
                self.started = true;
                let head = serde_json::to_string(&Head {
                    schema: REPORT_SCHEMA_NAME,
                    schema_version: REPORT_SCHEMA_VERSION,
                    run: info,
                })?;
                // Reopen the object to append the results array.
                let head = head.strip_suffix('}').unwrap_or(&head);
                out.write_all(head.as_bytes())?;
                out.write_all(b",\"results\":[")
            }
            RunEvent::AttemptStarted(_)
            | RunEvent::AttemptRetried { .. }
            | RunEvent::AttemptFinished { .. } => Ok(()),
            RunEvent::CaseFinished(case) => {
                if !self.started {
                    return Err(io::Error::other("case result before the run started"));
                }
                self.scratch.clear();
                self.scratch
                    .extend_from_slice(if self.results == 0 { b"\n" } else { b",\n" });
                self.results += 1;
                crate::model::write_case(&mut self.scratch, case);
                out.write_all(&self.scratch)
            }
            RunEvent::Finished {
                summary,
                verdict,
                stopped,
                duration_ms,
                comparison,
            } => {
                if !self.started {
                    return Err(io::Error::other("run finished before it started"));
                }
                let tail = serde_json::to_string(&Tail {
                    summary,
                    verdict,
                    stopped: *stopped,
                    duration_ms: *duration_ms,
                    finished_at: Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true),
                    comparison: *comparison,
                })?;
                let tail = tail.strip_prefix('{').unwrap_or(&tail);
                out.write_all(b"\n],")?;
                out.write_all(tail.as_bytes())?;
                out.write_all(b"\n")
            }
        }
    }
}

impl Reporter for JsonReporter {
    fn on_event(&mut self, event: &RunEvent<'_>) -> Result<(), Error> {
        self.write_event(event)
            .map_err(|e| Error::output(&self.path, e))?;
        if matches!(event, RunEvent::Finished { .. }) {
            if let Some(out) = self.out.take() {
                out.commit()?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{CaseResult, Outcome, StopReason};
    use crate::report::explain::fixtures::*;
    use serde_json::Value;

    fn write(cases: &[CaseResult], stopped: Option<StopReason>) -> String {
        write_report(
            "out/report.json",
            JsonReporter::create,
            cases,
            &failed_verdict(),
            stopped,
        )
    }

    fn validator() -> jsonschema::Validator {
        let schema: Value = serde_json::from_str(SCHEMA_V1).unwrap();
        assert!(
            jsonschema::meta::is_valid(&schema),
            "schema is a valid 2020-12 schema"
        );
        jsonschema::options()
            .should_validate_formats(true)
            .build(&schema)
            .unwrap()
    }

    fn assert_valid(v: &jsonschema::Validator, report: &Value) {
        let errors: Vec<String> = v
            .iter_errors(report)
            .map(|e| format!("{} at {}", e, e.instance_path()))
            .collect();
        assert!(errors.is_empty(), "{errors:#?}");
    }

    #[test]
    fn report_with_every_outcome_matches_the_schema() {
        let mut cases = all_kinds();
        // Exercise every optional field too.
        let a = &mut cases[2].attempts[0];
        a.timing.ttft_ms = Some(12.5);
        cases[2].description = Some("capital of Italy".into());
        let text = write(&cases, Some(StopReason::FailFast));
        let report: Value = serde_json::from_str(&text).unwrap();
        let v = validator();
        assert_valid(&v, &report);

        assert_eq!(report["schema"], "evalgate.report");
        assert_eq!(report["schema_version"], 1);
        assert_eq!(report["run"]["config_hash"], "sha256:c0ffee");
        assert_eq!(report["stopped"], "fail_fast");
        assert_eq!(report["duration_ms"], 1234.5);
        assert_eq!(report["verdict"]["exit_code"], 1);
        assert_eq!(report["summary"]["overall"]["total"], 6);
        assert_eq!(report["summary"]["suites"]["math"]["flaky"], 2);
        let results = report["results"].as_array().unwrap();
        let outcomes: Vec<&str> = results
            .iter()
            .map(|r| r["outcome"].as_str().unwrap())
            .collect();
        assert_eq!(
            outcomes,
            ["error", "fail", "pass", "skipped", "pass", "fail"]
        );
        assert_eq!(results[4]["flaky"], true);
        assert_eq!(
            results[2]["attempts"][0]["latency_ms"], 120.5,
            "timing is flattened"
        );
        assert_eq!(results[2]["attempts"][0]["ttft_ms"], 12.5);
        assert!(
            results[0]["attempts"][0].get("output").is_none(),
            "absent optionals are omitted"
        );
        let finished = report["finished_at"].as_str().unwrap();
        assert!(
            chrono::DateTime::parse_from_rfc3339(finished).is_ok(),
            "{finished}"
        );

        // Results round-trip into the model (the baseline reader relies on it).
        let back: Vec<CaseResult> = serde_json::from_value(report["results"].clone()).unwrap();
        assert_eq!(back, cases);

        // One result per line, so reports diff well.
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), cases.len() + 2);
        assert!(lines[0].starts_with(r#"{"schema":"evalgate.report","schema_version":1,"run":{"#));
        assert!(lines[0].ends_with(r#","results":["#));
        assert!(lines[1].starts_with(r#"{"seq":0,"suite":"geo","case":"berlin""#));
        assert!(lines[cases.len() + 1].starts_with(r#"],"summary":"#));
    }

    #[test]
    fn schema_rejects_drift() {
        let text = write(&[pass_case("geo", "rome")], None);
        let mut report: Value = serde_json::from_str(&text).unwrap();
        let v = validator();
        assert_valid(&v, &report);
        assert_eq!(report["stopped"], Value::Null);
        report["results"][0]["outcome"] = "passed".into();
        assert!(!v.is_valid(&report));
        report["results"][0]["outcome"] = "pass".into();
        report["results"][0]["unknown"] = 1.into();
        assert!(!v.is_valid(&report));
        report["results"][0]
            .as_object_mut()
            .unwrap()
            .remove("unknown");
        report["results"][0]
            .as_object_mut()
            .unwrap()
            .remove("source");
        assert!(!v.is_valid(&report));
        report["results"] = Value::Array(vec![]);
        assert_valid(&v, &report);
        report["finished_at"] = "yesterday".into();
        assert!(!v.is_valid(&report), "formats are checked");
    }

    #[test]
    fn empty_and_interrupted_runs_are_valid() {
        let text = write(&[], Some(StopReason::Interrupted));
        let report: Value = serde_json::from_str(&text).unwrap();
        assert_valid(&validator(), &report);
        assert_eq!(report["results"], Value::Array(vec![]));
        assert_eq!(report["stopped"], "interrupted");
        assert_eq!(report["summary"]["not_run"], 6);
    }

    #[test]
    fn nothing_is_written_before_finished() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("report.json");
        let mut r = JsonReporter::create(&path).unwrap();
        let info = run_info(&["geo"]);
        r.on_event(&RunEvent::Started(&info)).unwrap();
        let c = pass_case("geo", "rome");
        r.on_event(&RunEvent::CaseFinished(&c)).unwrap();
        assert!(!path.exists());
        assert_eq!(c.outcome, Outcome::Pass);
    }

    #[test]
    fn out_of_order_events_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("report.json");
        let mut r = JsonReporter::create(&path).unwrap();
        let c = pass_case("geo", "rome");
        let err = r.on_event(&RunEvent::CaseFinished(&c)).err().unwrap();
        assert_eq!(err.exit_code(), crate::exit::INFRASTRUCTURE);
    }
}

//! GitHub Actions annotations: one `::error` workflow command per failed or
//! errored case, at the file and line where the case is defined, so the
//! failure shows on the pull request's diff.
//!
//! Active only when `GITHUB_ACTIONS=true` (what GitHub's runners set). GitHub
//! shows at most 10 error annotations per step, so the first
//! [`MAX_ANNOTATIONS`] cases are annotated and one `::notice` says how many
//! more failed. Escaping follows GitHub's toolkit (`@actions/core`, command.ts):
//! `%`, `\r`, `\n` in the message; also `:` and `,` in properties.

use std::io::Write;
use std::path::{Path, PathBuf};

use super::explain::failure_details_with;
use super::Reporter;
use crate::error::Error;
use crate::event::RunEvent;
use crate::model::{CaseResult, Outcome};
use crate::util::fmt::plural;
use crate::util::text::truncate_chars;

/// Error annotations written per run (GitHub shows 10 per step).
pub(crate) const MAX_ANNOTATIONS: u64 = 10;

/// How much of a case's explanation one annotation carries.
const MESSAGE_CHARS: usize = 4000;

/// Whether annotations are wanted: `GITHUB_ACTIONS` is exactly `true`.
pub(crate) fn wanted_with(get: impl Fn(&str) -> Option<String>) -> bool {
    get("GITHUB_ACTIONS").is_some_and(|v| v == "true")
}

pub(crate) struct GithubAnnotations<W: Write + Send> {
    out: W,
    /// The repository checkout (`GITHUB_WORKSPACE`), canonical: annotation
    /// paths are relative to it.
    workspace: Option<PathBuf>,
    /// The working directory, canonical: case sources are relative to it.
    cwd: Option<PathBuf>,
    written: u64,
    more: u64,
}

impl<W: Write + Send> GithubAnnotations<W> {
    pub(crate) fn new(out: W, workspace: Option<&Path>) -> Self {
        GithubAnnotations {
            out,
            workspace: workspace.and_then(|w| w.canonicalize().ok()),
            cwd: std::env::current_dir()
                .ok()
                .and_then(|d| d.canonicalize().ok()),
            written: 0,
            more: 0,
        }
    }

    /// A case source's path as GitHub wants it: relative to the workspace
    /// when the file is inside it, else as evalgate shows it.
    fn repo_path(&self, path: &str) -> String {
        let p = Path::new(path);
        let abs = if p.is_absolute() {
            p.to_path_buf()
        } else {
            match &self.cwd {
                Some(cwd) => cwd.join(p),
                None => return path.to_string(),
            }
        };
        // The file itself may sit behind a link-free path; canonicalize its
        // directory so `..` and a symlinked checkout compare equal.
        let abs = match (abs.parent(), abs.file_name()) {
            (Some(dir), Some(name)) => dir
                .canonicalize()
                .map(|d| d.join(name))
                .unwrap_or_else(|_| abs.clone()),
            _ => abs,
        };
        match self
            .workspace
            .as_deref()
            .and_then(|w| abs.strip_prefix(w).ok())
        {
            Some(rel) => rel.to_string_lossy().replace('\\', "/"),
            None => path.to_string(),
        }
    }

    fn annotate(&mut self, case: &CaseResult) {
        let (file, line) = split_source(&case.source);
        let mut props = Vec::new();
        // A case from no file on disk (`evalgate scan`'s `<evalgate scan>`)
        // is annotated on the run, not on a file.
        if !file.is_empty() && Path::new(file).is_file() {
            props.push(format!("file={}", escape_property(&self.repo_path(file))));
            if let Some(line) = line {
                props.push(format!("line={line}"));
            }
        }
        let what = if case.outcome == Outcome::Error {
            "errored"
        } else {
            "failed"
        };
        let title = crate::secret::redact(&format!("evalgate: {} {what}", case.id));
        props.push(format!("title={}", escape_property(&title)));
        let details = failure_details_with(case, &|d| d.to_string());
        let message = crate::secret::redact(&truncate_chars(&details, MESSAGE_CHARS));
        let line = format!("::error {}::{}\n", props.join(","), escape_data(&message));
        // Like the console: a closed stdout is not a failure of the run.
        let _ = self.out.write_all(line.as_bytes());
    }
}

impl<W: Write + Send> Reporter for GithubAnnotations<W> {
    fn on_event(&mut self, event: &RunEvent<'_>) -> Result<(), Error> {
        match event {
            RunEvent::CaseFinished(case)
                if matches!(case.outcome, Outcome::Fail | Outcome::Error) =>
            {
                if self.written < MAX_ANNOTATIONS {
                    self.annotate(case);
                    self.written += 1;
                } else {
                    self.more += 1;
                }
            }
            RunEvent::Finished { .. } => {
                if self.more > 0 {
                    let line = format!(
                        "::notice title=evalgate::{} more failed or errored case{} not annotated (the first {MAX_ANNOTATIONS} are); the reports list every one\n",
                        self.more,
                        plural(self.more as usize)
                    );
                    let _ = self.out.write_all(line.as_bytes());
                }
                let _ = self.out.flush();
            }
            _ => {}
        }
        Ok(())
    }
}

/// `suites/x.yaml:12` → (`suites/x.yaml`, Some(12)); a source without a
/// line number is all path.
fn split_source(source: &str) -> (&str, Option<u64>) {
    match source.rsplit_once(':') {
        Some((file, line)) => match line.parse::<u64>() {
            Ok(n) => (file, Some(n)),
            Err(_) => (source, None),
        },
        None => (source, None),
    }
}

/// A workflow command's message: `%`, `\r` and `\n` escaped.
pub(crate) fn escape_data(s: &str) -> String {
    s.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// A workflow command's property value: as a message, and `:` and `,` too.
pub(crate) fn escape_property(s: &str) -> String {
    escape_data(s).replace(':', "%3A").replace(',', "%2C")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::explain::fixtures::{fail_case, failed_verdict, pass_case, summary_of};

    #[test]
    fn escaping_follows_the_toolkit() {
        assert_eq!(escape_data("50%\r\nnext: a,b"), "50%25%0D%0Anext: a,b");
        assert_eq!(escape_property("a:b,c%\n"), "a%3Ab%2Cc%25%0A");
    }

    #[test]
    fn sources_split_at_the_last_colon() {
        assert_eq!(
            split_source("suites/x.yaml:12"),
            ("suites/x.yaml", Some(12))
        );
        assert_eq!(split_source("C:/x.yaml:3"), ("C:/x.yaml", Some(3)));
        assert_eq!(split_source("suites/x.yaml"), ("suites/x.yaml", None));
        assert_eq!(split_source("a:b"), ("a:b", None));
    }

    #[test]
    fn wanted_only_when_exactly_true() {
        assert!(wanted_with(|_| Some("true".into())));
        assert!(!wanted_with(|_| Some("false".into())));
        assert!(!wanted_with(|_| Some("1".into())));
        assert!(!wanted_with(|_| None));
    }

    #[test]
    fn a_case_from_no_file_has_no_file_property() {
        let mut out = Vec::new();
        let mut case = fail_case("scan", "jailbreak-1");
        case.source = "<evalgate scan>:3".into();
        GithubAnnotations::new(&mut out, None).annotate(&case);
        let text = String::from_utf8_lossy(&out);
        assert!(
            text.starts_with("::error title=evalgate%3A scan/jailbreak-1 failed::"),
            "{text}"
        );
    }

    #[test]
    fn caps_and_counts_the_rest() {
        let mut out = Vec::new();
        {
            let mut r = GithubAnnotations::new(&mut out, None);
            let mut cases = vec![pass_case("s", "ok")];
            for i in 0..(MAX_ANNOTATIONS + 3) {
                cases.push(fail_case("s", &format!("c{i}")));
            }
            for c in &cases {
                r.on_event(&RunEvent::CaseFinished(c)).ok();
            }
            let summary = summary_of(&cases);
            let verdict = failed_verdict();
            r.on_event(&RunEvent::Finished {
                summary: &summary,
                verdict: &verdict,
                stopped: None,
                duration_ms: 1.0,
                comparison: None,
            })
            .ok();
        }
        let text = String::from_utf8_lossy(&out);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len() as u64, MAX_ANNOTATIONS + 1, "{text}");
        assert!(lines[0].starts_with("::error "), "{text}");
        assert!(
            lines[0].contains("title=evalgate%3A s/c0 failed::"),
            "{text}"
        );
        assert_eq!(
            lines[lines.len() - 1],
            "::notice title=evalgate::3 more failed or errored cases not annotated (the first 10 are); the reports list every one"
        );
    }
}

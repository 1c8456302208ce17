//! `evalgate run --resume` and the run journal, end to end: the real binary
//! against `py/slow_chat.py` (a slow OpenAI-shaped endpoint and grader that
//! logs every request), killed with SIGKILL part way and resumed; the final
//! reports are compared with an uninterrupted run's, and the request log
//! shows that nothing that finished was asked again. No timed assertions:
//! a kill waits for the journal to reach a line count.

use std::collections::BTreeMap;
use std::io::BufRead;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::util::{assert_valid_report, evalgate, normalize, repo, Project, Run};

const JOURNAL: &str = "reports/.evalgate-journal.jsonl";
const WATCHDOG: Duration = Duration::from_secs(120);

/// `py/slow_chat.py` on a free port, stopped on drop.
struct Slow {
    child: Child,
    port: u16,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Slow {
    fn start(delay_ms: u32) -> Slow {
        let dir = tempfile::tempdir().expect("tempdir");
        let log = dir.path().join("requests.jsonl");
        let mut cmd = std::process::Command::new("python3");
        cmd.arg(repo().join("tests/integration/py/slow_chat.py"))
            .arg("--log")
            .arg(&log)
            .arg("--delay-ms")
            .arg(delay_ms.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped());
        for v in crate::util::PROXY_VARS {
            cmd.env_remove(v);
        }
        let mut child = cmd.spawn().expect("start slow_chat.py");
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("port");
        let port = line.trim().parse().expect("port number");
        Slow {
            child,
            port,
            log,
            _dir: dir,
        }
    }

    /// Every request so far: path, body and Authorization header.
    fn requests(&self) -> Vec<Value> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).expect("a JSON line"))
            .collect()
    }
}

impl Drop for Slow {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The case a request is about: `question N` is in its prompt (the answer's
/// and the judge's).
fn case_of(request: &Value) -> String {
    let text = request["body"].to_string();
    let re = regex::Regex::new(r"question (\d+)").unwrap();
    let n: u32 = re.captures(&text).expect("a case's request")[1]
        .parse()
        .unwrap();
    format!("c{n:02}")
}

/// Requests per case, from `from` on.
fn per_case(slow: &Slow, from: usize) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for r in &slow.requests()[from..] {
        *out.entry(case_of(r)).or_default() += 1;
    }
    out
}

/// A project whose `bot` answers `cases` cases (each `repeat` times) and
/// grades them with a `judge` check: two requests per attempt. Every fifth
/// case (3, 8, …) is answered WRONG and fails its judge.
fn project(slow: &Slow, cases: usize, repeat: u32) -> Project {
    let p = Project::new();
    p.file(
        "evalgate.yaml",
        &format!(
            "default_provider: bot\njudge_provider: bot\nproviders:\n  bot: {{type: openai, base_url: 'http://127.0.0.1:{}/v1', model: m, max_retries: 0, pricing: {{input_per_million: 1000, output_per_million: 2000}}}}\nreports: {{junit: reports/junit.xml, json: reports/report.json, markdown: reports/summary.md}}\n",
            slow.port
        ),
    );
    let mut suite = format!(
        "name: qa\nprompt: \"question {{{{ n }}}}\"\ndefaults: {{repeat: {repeat}}}\ncases:\n"
    );
    for i in 0..cases {
        let n = if i % 5 == 3 {
            format!("{i} WRONG")
        } else {
            i.to_string()
        };
        suite.push_str(&format!(
            "  - {{id: c{i:02}, vars: {{n: '{n}'}}, checks: [{{contains: 'Answer to'}}, {{judge: {{rubric: 'Answers the question.'}}}}]}}\n"
        ));
    }
    p.file("suites/qa.yaml", &suite);
    p
}

fn run(p: &Project, args: &[&str]) -> Run {
    Run::from(
        evalgate(p.path())
            .args(["run", "--no-progress"])
            .args(args)
            .output()
            .expect("run evalgate"),
    )
}

fn spawn(p: &Project, args: &[&str]) -> Child {
    evalgate(p.path())
        .args(["run", "--no-progress"])
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start evalgate")
}

/// The journal's whole lines (a line being written is not one yet).
fn journal_lines(path: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let whole = match text.rfind('\n') {
        Some(i) => &text[..=i],
        None => "",
    };
    whole.lines().map(str::to_string).collect()
}

/// The attempts the journal holds: (case, repeat).
fn journaled(path: &Path) -> Vec<(String, u64)> {
    journal_lines(path)
        .iter()
        .filter_map(|l| {
            let v: Value = serde_json::from_str(l).expect("a JSON line");
            let a = v.get("attempt")?;
            Some((
                a["case"].as_str().unwrap().to_string(),
                a["repeat"].as_u64().unwrap(),
            ))
        })
        .collect()
}

/// SIGKILL the run once its journal has `lines` whole lines.
fn kill_at(child: &mut Child, journal: &Path, lines: usize) {
    let start = Instant::now();
    while journal_lines(journal).len() < lines {
        assert!(
            child.try_wait().unwrap().is_none(),
            "the run ended before it could be killed"
        );
        assert!(start.elapsed() < WATCHDOG, "the journal never grew");
        std::thread::sleep(Duration::from_millis(5));
    }
    // SAFETY: a signal to the child this test started.
    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGKILL) };
    let status = child.wait().unwrap();
    assert_eq!(status.signal(), Some(libc::SIGKILL), "{status:?}");
}

/// A JSON report without what differs between two runs of the same
/// results: timings (latencies, start times, durations, rates).
fn timeless(mut v: Value) -> Value {
    fn strip(v: &mut Value) {
        match v {
            Value::Object(m) => {
                m.retain(|k, _| {
                    !(k.ends_with("_ms")
                        || k.ends_with("_per_s")
                        || k.contains("latency")
                        || k == "started_at"
                        || k == "finished_at"
                        || k == "duration")
                });
                m.values_mut().for_each(strip);
            }
            Value::Array(a) => a.iter_mut().for_each(strip),
            _ => {}
        }
    }
    strip(&mut v);
    v
}

/// Where two JSON values differ: JSON pointers and both values.
fn differences(a: &Value, b: &Value) -> Vec<String> {
    fn walk(a: &Value, b: &Value, at: &str, out: &mut Vec<String>) {
        match (a, b) {
            (Value::Object(x), Value::Object(y)) => {
                for k in x.keys().chain(y.keys().filter(|k| !x.contains_key(*k))) {
                    let null = Value::Null;
                    let (va, vb) = (x.get(k).unwrap_or(&null), y.get(k).unwrap_or(&null));
                    walk(va, vb, &format!("{at}/{k}"), out);
                }
            }
            (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
                for (i, (va, vb)) in x.iter().zip(y).enumerate() {
                    walk(va, vb, &format!("{at}/{i}"), out);
                }
            }
            _ if a != b => out.push(format!("{at}: {a} != {b}")),
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(a, b, "", &mut out);
    out
}

/// A JUnit report without its timings.
fn timeless_junit(xml: &str) -> String {
    let re = regex::Regex::new(
        r#"(time|timestamp)="[^"]*"|<property name="[a-z0-9_]*(latency|_ms|_per_s)[a-z0-9_]*" value="[^"]*"/>"#,
    )
    .unwrap();
    re.replace_all(xml, "").into_owned()
}

/// The reports of `p` are those of `reference` (minus timings), and valid.
fn same_reports(p: &Project, reference: &Project) {
    let report = p.json_report();
    assert_valid_report(&report);
    let differences = differences(&timeless(report), &timeless(reference.json_report()));
    assert!(differences.is_empty(), "{differences:#?}");
    let (a, b) = (
        timeless_junit(&p.read("reports/junit.xml")),
        timeless_junit(&reference.read("reports/junit.xml")),
    );
    let lines: Vec<(&str, &str)> = a.lines().zip(b.lines()).filter(|(x, y)| x != y).collect();
    assert!(
        lines.is_empty() && a.lines().count() == b.lines().count(),
        "{lines:#?}"
    );
    quick_junit::Report::deserialize_from_str(&p.read("reports/junit.xml")).unwrap();
}

#[test]
fn a_run_killed_at_half_resumes_to_the_reports_of_an_uninterrupted_run() {
    let slow = Slow::start(150);
    const CASES: usize = 24;
    // The reference: an uninterrupted run.
    let reference = project(&slow, CASES, 1);
    let r = run(&reference, &["-j", "4"]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert_eq!(slow.requests().len(), 2 * CASES);

    let p = project(&slow, CASES, 1);
    let before = slow.requests().len();
    let mut child = spawn(&p, &["-j", "4"]);
    // The header and half the attempts.
    kill_at(&mut child, &p.path().join(JOURNAL), 1 + CASES / 2);
    let finished = journaled(&p.path().join(JOURNAL));
    assert!(finished.len() >= CASES / 2 && finished.len() < CASES);
    // A kill leaves no report (the previous ones were removed at the start).
    assert!(!p.exists("reports/report.json"));
    let killed = slow.requests().len();

    let r = run(&p, &["--resume", "-j", "4"]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stderr.contains(&format!(
            "resuming reports/.evalgate-journal.jsonl: {} finished attempts taken from it",
            finished.len()
        )),
        "{}",
        r.stderr
    );
    // No finished attempt was asked again (its answer nor its judge), and
    // every other was asked exactly once more (answer and judge).
    let asked = per_case(&slow, killed);
    for (case, _) in &finished {
        assert!(!asked.contains_key(case), "{case} was requested again");
    }
    assert_eq!(asked.len(), CASES - finished.len(), "{asked:?}");
    assert!(asked.values().all(|&n| n == 2), "{asked:?}");
    // Nothing the killed run finished was asked twice over both runs.
    let all = per_case(&slow, before);
    for (case, _) in &finished {
        assert_eq!(all[case], 2, "{case}");
    }
    same_reports(&p, &reference);
    // The journal now marks the run complete.
    let lines = journal_lines(&p.path().join(JOURNAL));
    assert_eq!(lines.len(), 1 + CASES + 1);
    assert_eq!(lines.last().unwrap(), r#"{"complete":{"stopped":null}}"#);
}

#[test]
fn a_resumed_run_killed_again_resumes_again() {
    let slow = Slow::start(150);
    const CASES: usize = 18;
    let reference = project(&slow, CASES, 1);
    run(&reference, &["-j", "3"]);
    let p = project(&slow, CASES, 1);
    let journal = p.path().join(JOURNAL);
    let mut child = spawn(&p, &["-j", "3"]);
    kill_at(&mut child, &journal, 1 + CASES / 3);
    let first = journaled(&journal);
    let mut child = spawn(&p, &["-j", "3", "--resume"]);
    kill_at(&mut child, &journal, 1 + 2 * CASES / 3);
    let second = journaled(&journal);
    assert!(second.len() > first.len() && second.len() < CASES);
    // The second run appended to the first's journal: one header, no attempt twice.
    let mut unique = second.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), second.len());
    let killed = slow.requests().len();
    let r = run(&p, &["-j", "3", "--resume"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    let asked = per_case(&slow, killed);
    for (case, _) in &second {
        assert!(!asked.contains_key(case), "{case} was requested again");
    }
    assert_eq!(asked.len(), CASES - second.len());
    same_reports(&p, &reference);
}

#[test]
fn repeats_resume_attempt_by_attempt() {
    let slow = Slow::start(0);
    const CASES: usize = 6;
    let reference = project(&slow, CASES, 3);
    let r = run(&reference, &["-j", "4"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    // A run that stopped after 7 of its 18 attempts (in completion order,
    // so with holes) and in the middle of writing the 8th.
    let p = project(&slow, CASES, 3);
    run(&p, &["-j", "4"]);
    let journal = p.path().join(JOURNAL);
    let lines = journal_lines(&journal);
    assert_eq!(lines.len(), 1 + 3 * CASES + 1);
    let mut cut: String = lines[..8].iter().map(|l| format!("{l}\n")).collect();
    cut.push_str(&lines[8][..lines[8].len() / 2]);
    std::fs::write(&journal, cut).unwrap();
    let kept = journaled(&journal);
    assert_eq!(kept.len(), 7);
    let before = slow.requests().len();
    let r = run(&p, &["-j", "4", "--resume"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stderr.contains(
            "note: ignored the last line of reports/.evalgate-journal.jsonl (line 9): it was cut short when the run stopped; its attempt runs again"
        ),
        "{}",
        r.stderr
    );
    // Each case was asked for exactly the repeats the journal did not hold.
    let asked = per_case(&slow, before);
    for i in 0..CASES {
        let case = format!("c{i:02}");
        let held = kept.iter().filter(|(c, _)| *c == case).count();
        assert_eq!(
            asked.get(&case).copied().unwrap_or(0),
            2 * (3 - held),
            "{case}"
        );
    }
    same_reports(&p, &reference);
    // The cut line is gone: every line of the journal is whole JSON.
    let text = std::fs::read_to_string(&journal).unwrap();
    assert!(text.ends_with("{\"complete\":{\"stopped\":null}}\n"));
    for l in text.lines() {
        serde_json::from_str::<Value>(l).unwrap();
    }
    let v = p.json_report();
    assert_eq!(v["results"][3]["passes"], 0);
    assert_eq!(v["results"][0]["passes"], 3);
}

#[test]
fn a_complete_journal_rewrites_the_reports_without_a_request() {
    let slow = Slow::start(0);
    let p = project(&slow, 5, 2);
    let r = run(&p, &[]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    let first = p.json_report();
    let n = slow.requests().len();
    std::fs::remove_file(p.path().join("reports/report.json")).unwrap();
    let r = run(&p, &["--resume"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stderr.contains("resuming reports/.evalgate-journal.jsonl: its run is complete; the reports are written again from its 10 finished attempts, and no provider is called"),
        "{}",
        r.stderr
    );
    assert_eq!(slow.requests().len(), n);
    // The same run: its start time and config hash too.
    let again = p.json_report();
    assert_eq!(again["run"]["started_at"], first["run"]["started_at"]);
    assert_eq!(again["run"]["config_hash"], first["run"]["config_hash"]);
    assert_eq!(timeless(again), timeless(first));
    // Nothing was appended.
    assert_eq!(journal_lines(&p.path().join(JOURNAL)).len(), 1 + 10 + 1);
    // A baseline may differ between the runs: the comparison is of every case.
    p.file("base.json", &p.read("reports/report.json"));
    let r = run(&p, &["--resume", "--baseline", "base.json"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert_eq!(slow.requests().len(), n);
    let v = p.json_report();
    assert!(v["comparison"].is_object(), "{v}");
    assert_eq!(
        v["comparison"]["regressions"].as_array().map(Vec::len),
        Some(0)
    );
    assert_eq!(v["summary"]["overall"]["total"], 5);
}

#[test]
fn budget_and_fail_fast_stop_a_resumed_run_where_the_whole_run_stops() {
    let slow = Slow::start(0);
    // Each attempt: 2 × (10 in, 5 out) tokens at $1000/$2000 per million = $0.04.
    for flags in [&["--max-cost", "0.30"][..], &["--fail-fast"][..]] {
        let mut args = vec!["-j", "1"];
        args.extend_from_slice(flags);
        let reference = project(&slow, 12, 1);
        let r = run(&reference, &args);
        assert_eq!(r.code, 1, "{}", r.stderr);
        let stopped = reference.json_report()["stopped"].clone();
        assert!(stopped == "budget" || stopped == "fail_fast", "{stopped}");
        let p = project(&slow, 12, 1);
        run(&p, &args);
        let journal = p.path().join(JOURNAL);
        let lines = journal_lines(&journal);
        assert_eq!(
            lines.last().unwrap(),
            &format!("{{\"complete\":{{\"stopped\":{stopped}}}}}")
        );
        // Killed after its first two attempts.
        let cut: String = lines[..3].iter().map(|l| format!("{l}\n")).collect();
        std::fs::write(&journal, cut).unwrap();
        let before = slow.requests().len();
        let r = run(&p, &[&args[..], &["--resume"]].concat());
        assert_eq!(r.code, 1, "{}", r.stderr);
        assert_eq!(p.json_report()["stopped"], stopped);
        same_reports(&p, &reference);
        // The money spent before the kill counted: no more was spent.
        let done = reference.json_report()["results"].as_array().unwrap().len();
        assert_eq!(slow.requests().len() - before, 2 * (done - 2), "{flags:?}");
        // A resume of the now complete journal stops where it stopped.
        let before = slow.requests().len();
        let r = run(&p, &[&args[..], &["--resume"]].concat());
        assert_eq!(r.code, 1, "{}", r.stderr);
        assert_eq!(slow.requests().len(), before);
        same_reports(&p, &reference);
    }
}

#[test]
fn a_journal_of_another_run_is_refused_and_the_reports_stay() {
    let slow = Slow::start(0);
    let p = project(&slow, 3, 1);
    run(&p, &[]);
    let journal = p.read(JOURNAL);
    // Another suite text, other flags.
    p.file(
        "suites/qa.yaml",
        &p.read("suites/qa.yaml")
            .replace("Answers the question.", "Answers."),
    );
    let r = run(&p, &["--resume", "--filter", "qa/c0*", "--fail-fast"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    insta::assert_snapshot!("resume_another_run", normalize(&r.stderr));
    // Nothing was touched: the journal and the previous reports are there.
    assert_eq!(p.read(JOURNAL), journal);
    assert!(p.exists("reports/report.json"));
    // --update-golden is part of the run (a finished attempt's golden
    // verdict depends on it).
    p.file(
        "suites/qa.yaml",
        &p.read("suites/qa.yaml")
            .replace("Answers.", "Answers the question."),
    );
    let r = run(&p, &["--resume", "--update-golden", "always"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("--update-golden (with CI detection): `nothing` in the journal, `all` now"),
        "{}",
        r.stderr
    );
}

#[test]
fn resume_without_a_journal_and_a_damaged_journal_are_clear_errors() {
    let slow = Slow::start(0);
    let p = project(&slow, 2, 1);
    let r = run(&p, &["--resume"]);
    assert_eq!(r.code, 2);
    insta::assert_snapshot!("resume_no_journal", r.stderr);
    let r = run(&p, &["--resume", "--no-reports"]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr
            .contains("--resume needs the run's journal, and --no-reports writes none"),
        "{}",
        r.stderr
    );
    // A report may not overwrite the journal.
    let r = run(&p, &["--json", JOURNAL]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains(
            "the journal and a report name the same file `reports/.evalgate-journal.jsonl`"
        ),
        "{}",
        r.stderr
    );
    run(&p, &[]);
    let text = p.read(JOURNAL);
    let mut lines: Vec<&str> = text.lines().collect();
    lines[1] = "{\"attempt\": 1";
    p.file(JOURNAL, &format!("{}\n", lines.join("\n")));
    let r = run(&p, &["--resume"]);
    assert_eq!(r.code, 2);
    insta::assert_snapshot!("resume_damaged_journal", r.stderr);
    assert_eq!(slow.requests().len(), 4);
}

#[test]
fn a_new_run_replaces_an_unfinished_journal_and_says_so() {
    let slow = Slow::start(0);
    let p = project(&slow, 4, 1);
    run(&p, &[]);
    let lines = journal_lines(&p.path().join(JOURNAL));
    // A complete run's journal is replaced without a word.
    let r = run(&p, &[]);
    assert!(!r.stderr.contains("journal"), "{}", r.stderr);
    let cut: String = lines[..3].iter().map(|l| format!("{l}\n")).collect();
    p.file(JOURNAL, &cut);
    let r = run(&p, &[]);
    assert!(
        r.stderr.contains("note: replaced reports/.evalgate-journal.jsonl, the journal of an unfinished run (2 finished attempts); `evalgate run --resume` continues such a run instead"),
        "{}",
        r.stderr
    );
    assert_eq!(journal_lines(&p.path().join(JOURNAL)).len(), 1 + 4 + 1);
    // --no-reports writes no journal (and leaves the one there alone);
    // --journal PATH puts it anywhere.
    let before = p.read(JOURNAL);
    run(&p, &["--no-reports"]);
    assert_eq!(p.read(JOURNAL), before);
    run(&p, &["--no-reports", "--journal", "elsewhere/j.jsonl"]);
    assert_eq!(journal_lines(&p.path().join("elsewhere/j.jsonl")).len(), 6);
    let n = slow.requests().len();
    let r = run(
        &p,
        &["--no-reports", "--journal", "elsewhere/j.jsonl", "--resume"],
    );
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert_eq!(slow.requests().len(), n);
}

#[test]
fn the_journal_is_private_and_holds_no_secret() {
    let slow = Slow::start(0);
    let p = Project::new();
    p.file(
        "evalgate.yaml",
        &format!(
            "default_provider: bot\nproviders:\n  bot: {{type: openai, base_url: 'http://127.0.0.1:{}/v1', model: m, api_key_env: EG_RESUME_KEY, max_retries: 0}}\nreports: {{json: out/report.json}}\n",
            slow.port
        ),
    );
    p.file(
        "suites/leak.yaml",
        "name: leak\nprovider: bot\nprompt: \"question 1 echo-key\"\ncases:\n  - {id: c01, checks: [{contains: Answer}]}\n",
    );
    let key = "sk-resume-secret-4242";
    let out = evalgate(p.path())
        .env("EG_RESUME_KEY", key)
        .args(["run", "--no-progress"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    // The server saw the key and echoed it back in its answer.
    assert!(slow.requests()[0]["auth"].as_str().unwrap().contains(key));
    // Beside the report evalgate.yaml names.
    let journal = p.read("out/.evalgate-journal.jsonl");
    assert!(!journal.contains(key), "{journal}");
    assert!(journal.contains("you sent Bearer [REDACTED]"), "{journal}");
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(p.path().join("out/.evalgate-journal.jsonl"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
}

#[test]
fn goldens_a_killed_run_wrote_do_not_stop_its_resume() {
    let slow = Slow::start(0);
    let golden_project = || {
        let p = project(&slow, 6, 1);
        p.file(
            "suites/qa.yaml",
            &p.read("suites/qa.yaml")
                .replace("{contains: 'Answer to'}", "golden"),
        );
        p
    };
    let reference = golden_project();
    let r = run(&reference, &["--update-golden", "new", "-j", "1"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    // A run that wrote the goldens of its first three attempts, then was killed.
    let p = golden_project();
    run(&p, &["--update-golden", "new", "-j", "1"]);
    let journal = p.path().join(JOURNAL);
    let lines = journal_lines(&journal);
    let cut: String = lines[..4].iter().map(|l| format!("{l}\n")).collect();
    std::fs::write(&journal, cut).unwrap();
    for i in 3..6 {
        std::fs::remove_file(p.path().join(format!("golden/qa/c{i:02}.txt"))).unwrap();
    }
    // The goldens changed since the journal began: not part of the run.
    let before = slow.requests().len();
    let r = run(&p, &["--update-golden", "new", "-j", "1", "--resume"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert_eq!(slow.requests().len() - before, 2 * 3);
    for i in 0..6 {
        assert!(p.exists(&format!("golden/qa/c{i:02}.txt")), "c{i:02}");
    }
    same_reports(&p, &reference);
}

#[test]
fn the_readme_resume_example_runs_as_written() {
    let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();
    let section = &readme[readme
        .find("### Resuming a killed run")
        .expect("the README section")..];
    let start = section.find("```sh\n").unwrap() + 6;
    let script = &section[start..start + section[start..].find("```").unwrap()];
    assert!(script.contains("evalgate run --resume"), "{script}");
    // A project whose run takes about 3 s: 20 cases of 300 ms, 2 at a time.
    let mut suite = String::from("prompt: hi\ncases:\n");
    for i in 0..20 {
        suite.push_str(&format!("  - {{id: c{i:02}, checks: [{{equals: ok}}]}}\n"));
    }
    let p = Project::with_mock(
        "default: ok\nresponses:\n  - prompt: '.*'\n    reply: ok\n    latency_ms: 300\n",
    );
    p.file(
        "evalgate.yaml",
        &format!("{}concurrency: 2\n", p.read("evalgate.yaml")),
    );
    p.file("suites/slow.yaml", &suite);
    let bin = PathBuf::from(env!("CARGO_BIN_EXE_evalgate"));
    let path = format!(
        "{}:{}",
        bin.parent().unwrap().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    // As `evalgate()` sets up the binary's environment, for a shell.
    let mut sh = std::process::Command::new("bash");
    sh.arg("-c")
        .arg(script)
        .current_dir(p.path())
        .env("PATH", path)
        .env("NO_COLOR", "1")
        .env("CI", "true")
        .env_remove("GITHUB_STEP_SUMMARY")
        .env_remove("GITHUB_ACTIONS")
        .stdin(Stdio::null());
    let out = sh.output().expect("bash");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("resuming reports/.evalgate-journal.jsonl"),
        "{stderr}"
    );
    let v = p.json_report();
    assert_eq!(v["results"].as_array().unwrap().len(), 20);
    assert_eq!(v["summary"]["overall"]["passed"], 20);
    assert!(p
        .read(JOURNAL)
        .ends_with("{\"complete\":{\"stopped\":null}}\n"));
}

#[test]
fn each_shard_keeps_its_own_journal_and_resumes_only_itself() {
    let slow = Slow::start(0);
    let p = project(&slow, 6, 1);
    let r = run(&p, &["--shard", "2/3", "--json", "reports/shard-2.json"]);
    assert!(r.code == 0 || r.code == 1, "{}", r.stderr);
    let own = "reports/.evalgate-journal.shard-2-of-3.jsonl";
    assert!(p.exists(own), "{}", r.stderr);
    assert!(
        !p.exists(JOURNAL),
        "a shard must not use the whole run's journal"
    );
    // Another shard's --resume finds no journal of its own.
    let r = run(&p, &["--shard", "1/3", "--resume"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("shard-1-of-3"), "{}", r.stderr);
    // The same shard resumes its complete journal without a request.
    let before = slow.requests().len();
    let r = run(
        &p,
        &[
            "--shard",
            "2/3",
            "--resume",
            "--json",
            "reports/shard-2.json",
        ],
    );
    assert!(r.code == 0 || r.code == 1, "{}", r.stderr);
    assert_eq!(slow.requests().len(), before);
    // A journal given by path keeps its shard in its identity.
    let r = run(&p, &["--shard", "3/3", "--journal", own, "--resume"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("--shard"), "{}", r.stderr);
}

#[test]
fn no_journal_writes_the_reports_and_no_journal() {
    let slow = Slow::start(0);
    let p = project(&slow, 2, 1);
    let r = run(&p, &["--no-journal"]);
    assert!(r.code == 0 || r.code == 1, "{}", r.stderr);
    assert!(p.exists("reports/report.json"));
    assert!(!p.exists(JOURNAL));
    let r = run(&p, &["--no-journal", "--resume"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("cannot be used with"), "{}", r.stderr);
}

//! Hostile input and CI signals (issue 9): a pull request controls the suites
//! and the goldens, an endpoint controls its answers, a CI runner cancels
//! jobs with SIGTERM. Each test reproduces one attack or failure and checks
//! the real binary's behaviour.
//!
//! Tests that guard against a hang or a runaway computation run the binary
//! under [`bounded`]: a watchdog that kills it after a generous time, so a
//! regression fails the test instead of stalling the suite. The watchdog is
//! a hang guard, not a timing assertion.

#![cfg(unix)]

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::json;
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::util::{evalgate, Project, Run};

/// Generous: only a hang or a quadratic blow-up gets near it.
const WATCHDOG: Duration = Duration::from_secs(120);

/// Run `cmd`, killing it (and failing) if it has not finished within [`WATCHDOG`].
fn bounded(cmd: &mut Command) -> Run {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn evalgate");
    let mut out = child.stdout.take().expect("stdout");
    let mut err = child.stderr.take().expect("stderr");
    let t_out = std::thread::spawn(move || {
        let mut s = Vec::new();
        let _ = out.read_to_end(&mut s);
        s
    });
    let t_err = std::thread::spawn(move || {
        let mut s = Vec::new();
        let _ = err.read_to_end(&mut s);
        s
    });
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break s;
        }
        if start.elapsed() > WATCHDOG {
            let _ = child.kill();
            let _ = child.wait();
            panic!("evalgate did not finish within {WATCHDOG:?} (hang or runaway work)");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Run {
        code: status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&t_out.join().unwrap_or_default()).into_owned(),
        stderr: String::from_utf8_lossy(&t_err.join().unwrap_or_default()).into_owned(),
    }
}

fn run_bounded(p: &Project, args: &[&str]) -> Run {
    bounded(evalgate(p.path()).args(args))
}

/// Every file under `dir` (not following links).
fn files_under(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let t = e.file_type().unwrap();
        if t.is_dir() {
            files_under(&e.path(), out);
        } else if t.is_file() {
            out.push(e.path());
        }
    }
}

/// No file of the project and no output stream holds `needle`.
fn leaks_nowhere(p: &Project, r: &Run, needle: &str) {
    assert!(!r.stdout.contains(needle), "stdout leaks:\n{}", r.stdout);
    assert!(!r.stderr.contains(needle), "stderr leaks:\n{}", r.stderr);
    let mut files = Vec::new();
    files_under(p.path(), &mut files);
    for f in files {
        let text = String::from_utf8_lossy(&std::fs::read(&f).unwrap()).into_owned();
        assert!(!text.contains(needle), "{} leaks:\n{text}", f.display());
    }
}

fn golden_project() -> Project {
    let p = Project::with_mock("responses:\n  - case: fr\n    reply: Paris\n");
    p.file(
        "suites/geo.yaml",
        "name: geo\nprompt: 'Capital?'\ncases:\n  - id: fr\n    checks: [golden]\n",
    );
    p
}

// ---------------------------------------------------------------------------
// 1. Symlinks
// ---------------------------------------------------------------------------

#[test]
fn a_golden_that_is_a_symlink_is_refused_not_followed() {
    let outside = tempfile::tempdir().unwrap();
    let secret = outside.path().join("environ");
    std::fs::write(&secret, "CI_TOKEN=TOPSECRET-GOLDEN-LINK\n").unwrap();
    let p = golden_project();
    std::fs::create_dir_all(p.path().join("golden/geo")).unwrap();
    symlink(&secret, p.path().join("golden/geo/fr.txt")).unwrap();
    let step = p.path().join("step.md");
    for args in [&["run"][..], &["run", "--replay"][..]] {
        let r = Run::from(
            evalgate(p.path())
                .args(args)
                .env("GITHUB_STEP_SUMMARY", &step)
                .output()
                .unwrap(),
        );
        assert_eq!(r.code, 1, "{args:?}\n{}\n{}", r.stdout, r.stderr);
        assert!(r.stdout.contains("symbolic link"), "{}", r.stdout);
        assert!(r.stdout.contains("golden/geo/fr.txt"), "{}", r.stdout);
        leaks_nowhere(&p, &r, "TOPSECRET-GOLDEN-LINK");
    }
    // The review commands do not follow it either: it is listed as
    // unreadable, with why, and its target is never read.
    std::fs::remove_file(p.path().join("golden/geo/fr.txt")).unwrap();
    symlink(&secret, p.path().join("golden/geo/fr.txt.new")).unwrap();
    let r = p.run(&["golden", "pending"]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("(unreadable)"), "{}", r.stdout);
    assert!(r.stderr.contains("symbolic link"), "{}", r.stderr);
    leaks_nowhere(&p, &r, "TOPSECRET-GOLDEN-LINK");
    // The link target was never written.
    assert_eq!(
        std::fs::read_to_string(&secret).unwrap(),
        "CI_TOKEN=TOPSECRET-GOLDEN-LINK\n"
    );
}

#[test]
fn a_golden_directory_link_is_refused_for_reads_and_writes() {
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(
        outside.path().join("fr.txt"),
        "---\nsuite: geo\ncase: fr\nprovider: mock\n---\nTOPSECRET-DIR-LINK\n",
    )
    .unwrap();
    let p = golden_project();
    std::fs::create_dir_all(p.path().join("golden")).unwrap();
    symlink(outside.path(), p.path().join("golden/geo")).unwrap();
    for args in [
        &["run"][..],
        &["run", "--replay"][..],
        &["run", "--update-golden", "always"][..],
    ] {
        let r = p.run_local(args);
        assert_eq!(r.code, 1, "{args:?}\n{}\n{}", r.stdout, r.stderr);
        assert!(r.stdout.contains("symbolic link"), "{}", r.stdout);
        leaks_nowhere(&p, &r, "TOPSECRET-DIR-LINK");
    }
    // Nothing was written through the link.
    let mut names: Vec<String> = std::fs::read_dir(outside.path())
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["fr.txt"]);
    // `golden pending` and `prune` do not walk into it.
    let r = p.run(&["golden", "prune", "--dry-run"]);
    assert!(!r.stdout.contains("fr.txt"), "{}", r.stdout);
}

#[test]
fn cassettes_datasets_schemas_and_suites_may_not_be_links_or_outside_the_project() {
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("rows.csv"), "id,q\nTOPSECRET-ROW,x\n").unwrap();
    std::fs::write(
        outside.path().join("schema.json"),
        "{\"title\": \"TOPSECRET-SCHEMA\"",
    )
    .unwrap();
    let p = Project::with_mock("default: ok\n");
    // A dataset by a link, a schema by a path outside the project.
    p.file(
        "suites/a.yaml",
        &format!(
            "name: a\nprompt: '{{{{ q }}}}'\ncases_from:\n  path: fixtures/rows.csv\n  checks: [{{json_schema: {}}}]\n",
            outside.path().join("schema.json").display()
        ),
    );
    std::fs::create_dir_all(p.path().join("fixtures")).unwrap();
    symlink(
        outside.path().join("rows.csv"),
        p.path().join("fixtures/rows.csv"),
    )
    .unwrap();
    // A suite that is a link.
    symlink(
        outside.path().join("rows.csv"),
        p.path().join("suites/linked.yaml"),
    )
    .unwrap();
    let r = run_bounded(&p, &["validate"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("fixtures/rows.csv"), "{}", r.stderr);
    assert!(r.stderr.contains("symbolic link"), "{}", r.stderr);
    assert!(r.stderr.contains("outside the project"), "{}", r.stderr);
    assert!(r.stderr.contains("suites/linked.yaml"), "{}", r.stderr);
    for s in ["TOPSECRET-ROW", "TOPSECRET-SCHEMA"] {
        assert!(!r.stderr.contains(s), "{}", r.stderr);
    }
}

#[test]
fn replay_runs_no_process_and_reads_no_variable() {
    let p = Project::new();
    p.file(
        "evalgate.yaml",
        "providers:\n  local:\n    type: exec\n    command: [sh, -c, 'touch ran; echo ok']\n    env: {T: \"${EG_HOSTILE_VAR}\"}\n",
    );
    p.file(
        "suites/a.yaml",
        "name: a\nprovider: local\nprompt: hi\ncases:\n  - {id: x, checks: [{contains: ok}]}\n",
    );
    // No variable set, no cassette: validation passes, the replay errors
    // (a missing recording: exit 2, the input's fault), nothing runs.
    let r = p.run(&["run", "--replay"]);
    assert_eq!(r.code, 2, "{}\n{}", r.stdout, r.stderr);
    assert!(!p.exists("ran"), "--replay started the command");
}

// ---------------------------------------------------------------------------
// 2. Secrets in response metadata
// ---------------------------------------------------------------------------

#[test]
fn a_key_echoed_in_response_metadata_is_redacted_everywhere() {
    let key = format!("sk-meta-{}", std::process::id() * 31 + 7);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let server = rt.block_on(MockServer::start());
    let answer = json!({
        "id": format!("chatcmpl-{key}"),
        "object": "chat.completion",
        "model": format!("gpt-{key}"),
        "choices": [{
            "index": 0,
            "message": {
                "role": "assistant",
                "content": "Paris",
                "tool_calls": [{
                    "id": format!("call-{key}"),
                    "type": "function",
                    "function": {"name": format!("fn-{key}"), "arguments": format!("{{\"k\": \"{key}\"}}")}
                }]
            },
            "finish_reason": format!("stop-{key}")
        }],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}
    });
    rt.block_on(
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(200).set_body_json(answer))
            .mount(&server),
    );
    let p = Project::new();
    p.file(
        "evalgate.yaml",
        &format!(
            "providers:\n  oa:\n    type: openai\n    base_url: {}/v1\n    model: gpt-test\n    api_key_env: EG_META_KEY\n    max_retries: 0\n    cache: true\nreports: {{junit: reports/junit.xml, json: reports/report.json, markdown: reports/summary.md}}\n",
            server.uri()
        ),
    );
    p.file(
        "suites/geo.yaml",
        "name: geo\nprovider: oa\nprompt: Capital?\ncases:\n  - {id: fr, checks: [{contains: Paris}, golden]}\n",
    );
    let step = p.path().join("step.md");
    let r = Run::from(
        crate::util::evalgate_local(p.path())
            .args(["run", "--record", "--verbose"])
            .env("EG_META_KEY", &key)
            .env("GITHUB_STEP_SUMMARY", &step)
            .output()
            .unwrap(),
    );
    assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr); // the golden is new
                                                         // A cached run and a replayed run read what was stored.
    let r2 = Run::from(
        crate::util::evalgate_local(p.path())
            .args(["run", "--verbose"])
            .env("EG_META_KEY", &key)
            .output()
            .unwrap(),
    );
    let r3 = p.run(&["run", "--replay", "--verbose"]);
    assert!(p.exists("fixtures/cassettes"), "a cassette was recorded");
    assert!(p.exists(".evalgate/cache/oa"), "the cache was written");
    assert!(p.exists("golden/geo/fr.oa.txt.new") || p.exists("golden/geo/fr.txt.new"));
    for r in [&r, &r2, &r3] {
        leaks_nowhere(&p, r, &key);
    }
    let report = p.json_report();
    let a = &report["results"][0]["attempts"][0];
    assert_eq!(a["model"], "gpt-[REDACTED]", "{a}");
    assert_eq!(a["finish_reason"], "stop-[REDACTED]", "{a}");
}

// ---------------------------------------------------------------------------
// 4. Signals; 6. an interrupted run's JUnit
// ---------------------------------------------------------------------------

/// A project whose exec provider records its pid and waits forever: the run
/// has started once `started` exists.
fn hanging_project(cases: usize) -> Project {
    let p = Project::new();
    p.file(
        "evalgate.yaml",
        "providers:\n  hang:\n    type: exec\n    command: [sh, -c, 'echo $$ >> pids; touch started; exec sleep 1000']\n    timeout: 10m\nreports: {junit: reports/junit.xml, json: reports/report.json, markdown: reports/summary.md, html: reports/report.html}\n",
    );
    let mut suite = String::from("name: s\nprovider: hang\nprompt: hi\ncases:\n");
    for i in 0..cases {
        suite.push_str(&format!("  - {{id: c{i}, checks: [{{contains: x}}]}}\n"));
    }
    p.file("suites/s.yaml", &suite);
    p
}

fn wait_for(path: &Path) {
    let start = Instant::now();
    while !path.exists() {
        assert!(
            start.elapsed() < WATCHDOG,
            "{} never appeared",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn alive(pid: i32) -> bool {
    // SAFETY: signal 0 only checks that the process exists.
    unsafe { libc::kill(pid, 0) == 0 }
}

fn signal_run(sig: &str, code: i32) {
    let p = hanging_project(3);
    // The previous run's reports and a killed run's temporary file.
    p.file("reports/report.json", "{\"stale\": true}");
    p.file("reports/.evalgate-abc123.tmp", "half");
    let mut child = evalgate(p.path())
        .args(["run", "-j", "2"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for(&p.path().join("started"));
    // Stale reports are gone before the run does anything.
    assert!(!p.exists("reports/report.json"));
    assert!(!p.exists("reports/.evalgate-abc123.tmp"));
    let status = Command::new("kill")
        .args([sig, &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(start.elapsed() < WATCHDOG, "evalgate ignored {sig}");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(status.code(), Some(code), "{sig}");
    let v = p.json_report();
    crate::util::assert_valid_report(&v);
    assert_eq!(v["stopped"], "interrupted");
    assert_eq!(v["summary"]["not_run"], 3);
    let junit = p.read("reports/junit.xml");
    let report = quick_junit::Report::deserialize_from_str(&junit).unwrap();
    assert_eq!(report.errors, 1, "{junit}");
    assert!(junit.contains("run interrupted"), "{junit}");
    assert!(junit.contains("3 planned cases did not run"), "{junit}");
    assert!(p.read("reports/summary.md").contains("interrupted"));
    let html = p.read("reports/report.html");
    assert!(
        html.contains("Stopped early: the run was interrupted; 3 planned cases did not run."),
        "{html}"
    );
    // No temporary file left, no command left running.
    let mut files = Vec::new();
    files_under(p.path(), &mut files);
    assert!(
        !files.iter().any(|f| {
            let f = f.to_string_lossy();
            f.contains(".evalgate-") && f.ends_with(".tmp")
        }),
        "{files:?}"
    );
    // The journal is left unfinished: `--resume` continues the run.
    let journal = p.read("reports/.evalgate-journal.jsonl");
    assert!(!journal.contains("\"complete\""), "{journal}");
    let pids: Vec<i32> = p
        .read("pids")
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect();
    assert!(!pids.is_empty());
    for pid in pids {
        let start = Instant::now();
        while alive(pid) {
            assert!(start.elapsed() < WATCHDOG, "exec child {pid} orphaned");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

#[test]
fn sigterm_writes_reports_kills_commands_and_exits_143() {
    signal_run("-TERM", 143);
}

#[test]
fn sigint_writes_every_report_and_exits_130() {
    signal_run("-INT", 130);
}

#[test]
fn sighup_and_sigquit_stop_the_run_like_ctrl_c() {
    signal_run("-HUP", 129);
    signal_run("-QUIT", 131);
}

#[test]
fn stray_temporary_golden_files_are_named_and_pruned() {
    let p = golden_project();
    p.file("golden/geo/.evalgate-x1y2.tmp", "half a golden");
    let r = p.run(&["golden", "pending"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout.contains("golden/geo/.evalgate-x1y2.tmp"),
        "{}",
        r.stdout
    );
    let r = p.run(&["golden", "prune"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(!p.exists("golden/geo/.evalgate-x1y2.tmp"), "{}", r.stdout);
    // A run removes them too.
    p.file("golden/geo/.evalgate-z.tmp", "half");
    p.run(&["run"]);
    assert!(!p.exists("golden/geo/.evalgate-z.tmp"));
}

// ---------------------------------------------------------------------------
// 5. Closed output streams
// ---------------------------------------------------------------------------

/// A pipe whose reading end is already closed: writing to it fails with EPIPE.
pub(crate) fn broken_pipe() -> std::os::fd::OwnedFd {
    use std::os::fd::FromRawFd;
    let mut fds = [0; 2];
    // SAFETY: pipe fills two descriptors we then own.
    assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
    // SAFETY: closing the read end we own.
    unsafe { libc::close(fds[0]) };
    // SAFETY: fds[1] is an open descriptor owned by nobody else.
    unsafe { std::os::fd::OwnedFd::from_raw_fd(fds[1]) }
}

#[test]
fn a_closed_stderr_or_stdout_does_not_panic_or_lose_reports() {
    let p = Project::with_mock("default: ok\n");
    p.file(
        "suites/bad.yaml",
        "name: bad\nprompt: hi\ncases: [{id: a, checks: [{nope: 1}]}]\n",
    );
    let out = evalgate(p.path())
        .args(["validate", "suites/bad.yaml"])
        .stdout(Stdio::null())
        .stderr(Stdio::from(broken_pipe()))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    std::fs::remove_file(p.path().join("suites/bad.yaml")).unwrap();
    p.file(
        "suites/ok.yaml",
        "name: ok\nprompt: hi\ncases: [{id: a, checks: [{contains: ok}]}, {id: b, checks: [{contains: nope}]}]\n",
    );
    let out = evalgate(p.path())
        .args(["run", "--verbose"])
        .stdout(Stdio::from(broken_pipe()))
        .stderr(Stdio::from(broken_pipe()))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(p.json_report()["results"].as_array().unwrap().len(), 2);
    assert!(p.read("reports/junit.xml").contains("<testcase"));
}

// ---------------------------------------------------------------------------
// 7–13. Validation that cannot be made to hang or crash
// ---------------------------------------------------------------------------

fn suite_project(suite: &str) -> Project {
    let p = Project::with_mock("default: ok\n");
    p.file("suites/s.yaml", suite);
    p
}

#[test]
fn a_huge_template_expression_is_a_located_error_not_a_stack_overflow() {
    for expr in [
        format!("1{}", "+1".repeat(60_000)),
        format!("'a'{}", "|upper".repeat(33_000)),
    ] {
        let p = suite_project(&format!(
            "name: s\nprompt: \"{{{{ {expr} }}}}\"\ncases: [{{id: a, checks: [{{contains: x}}]}}]\n"
        ));
        let r = run_bounded(&p, &["validate"]);
        assert_eq!(r.code, 2, "{}", &r.stderr[..r.stderr.len().min(2000)]);
        assert!(
            r.stderr.contains("more than 512 terms"),
            "{}",
            r.stderr.len()
        );
        assert!(r.stderr.contains("suites/s.yaml:2:"), "{}", r.stderr.len());
        assert!(
            r.stderr.len() < 4000,
            "the message floods: {} bytes",
            r.stderr.len()
        );
    }
}

#[test]
fn templates_run_out_of_fuel() {
    let p = suite_project(
        "name: s\nprompt: '{% for i in range(10000) %}{% for j in range(10000) %}x{% endfor %}{% endfor %}'\ncases: [{id: a, checks: [{contains: x}]}]\n",
    );
    let r = run_bounded(&p, &["validate"]);
    assert_eq!(r.code, 2, "{}\n{}", r.stdout, r.stderr);
    assert!(r.stderr.contains("ran out of fuel"), "{}", r.stderr);
    assert!(r.stderr.contains("suites/s.yaml:3:"), "{}", r.stderr);
}

#[test]
fn an_alias_bomb_is_refused_before_it_is_expanded() {
    // Each level doubles: 2^40 nodes if expanded.
    let mut y = String::from("a0: &a0 [x, x]\n");
    for i in 1..40 {
        y.push_str(&format!("a{i}: &a{i} [*a{}, *a{}]\n", i - 1, i - 1));
    }
    // And many aliases of a big anchor: the bound is checked before an alias
    // is copied (copying each first would be 5 billion node copies).
    y.push_str("big: &big [");
    y.push_str(&vec!["x"; 50_000].join(", "));
    y.push_str("]\nrefs: [");
    y.push_str(&vec!["*big"; 100_000].join(", "));
    y.push_str("]\n");
    let p = suite_project(&y);
    let r = run_bounded(&p, &["validate"]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("aliases expand to more than"),
        "{}",
        r.stderr
    );
}

#[test]
fn many_keys_and_many_errors_validate_in_linear_time() {
    let mut y =
        String::from("name: s\nprompt: hi\ncases: [{id: a, checks: [{contains: x}]}]\nvars:\n");
    // Quadratic duplicate checks took minutes on this.
    for i in 0..300_000 {
        y.push_str(&format!("  k{i}: 1\n"));
    }
    y.push_str("  k5: 2\n");
    let p = suite_project(&y);
    let r = run_bounded(&p, &["validate"]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("duplicate key `k5`"),
        "{}",
        &r.stderr[..500.min(r.stderr.len())]
    );
    // 50,000 errors, each with its source line (found through a line index,
    // not by rescanning the file for each).
    let mut y = String::from("name: s\nprompt: hi\ncases:\n");
    for i in 0..50_000 {
        y.push_str(&format!(
            "  - {{id: c{i}, checks: [{{contains: x}}], bogus: 1}}\n"
        ));
    }
    let p = suite_project(&y);
    let r = run_bounded(&p, &["validate"]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.matches("unknown key `bogus`").count() >= 50_000);
}

#[test]
fn deep_nesting_is_a_located_error() {
    let p = suite_project(&format!(
        "name: s\nx: {}{}\n",
        "[".repeat(100_000),
        "]".repeat(100_000)
    ));
    let r = run_bounded(&p, &["validate"]);
    assert_eq!(r.code, 2, "{}", &r.stderr[..r.stderr.len().min(2000)]);
    assert!(
        r.stderr.contains("suites/s.yaml:2:"),
        "{}",
        &r.stderr[..r.stderr.len().min(2000)]
    );
    assert!(
        r.stderr.len() < 4000,
        "{} bytes of diagnostics",
        r.stderr.len()
    );
}

#[test]
fn a_long_source_line_is_cut_around_the_caret() {
    let regex = format!("({}", "a".repeat(1_000_000));
    let p = suite_project(&format!(
        "name: s\nprompt: hi\ncases: [{{id: a, checks: [{{matches: '{regex}'}}]}}]\n"
    ));
    let r = run_bounded(&p, &["validate"]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("suites/s.yaml:3:"),
        "{}",
        &r.stderr[..r.stderr.len().min(3000)]
    );
    assert!(
        r.stderr.contains('…'),
        "{}",
        &r.stderr[..r.stderr.len().min(3000)]
    );
    assert!(
        r.stderr.len() < 8000,
        "{} bytes of diagnostics",
        r.stderr.len()
    );
}

#[test]
fn levenshtein_on_large_texts_is_bounded_by_max_distance() {
    let long = "x".repeat(100_000);
    let other = "y".repeat(100_000);
    let p = Project::with_mock(&format!("default: {other}\n"));
    p.file(
        "suites/s.yaml",
        &format!(
            "name: s\nprompt: hi\ncases:\n  - {{id: a, timeout: 1s, checks: [{{levenshtein: {{value: {long}, max_distance: 10}}}}]}}\n"
        ),
    );
    let r = run_bounded(&p, &["run"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    let v = p.json_report();
    let msg = v["results"][0]["attempts"][0]["checks"][0]["message"]
        .as_str()
        .unwrap_or("")
        .to_string();
    assert!(msg.contains("edit distance more than 10"), "{msg}");
}

fn mkfifo(path: &Path) {
    let c = std::ffi::CString::new(path.to_str().unwrap()).unwrap();
    // SAFETY: a valid C string.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0);
}

#[test]
fn fifos_and_devices_are_refused_without_hanging() {
    let p = suite_project("name: s\nprompt: '{{ q }}'\ncases_from: {path: fixtures/rows.csv}\n");
    std::fs::create_dir_all(p.path().join("fixtures")).unwrap();
    mkfifo(&p.path().join("fixtures/rows.csv"));
    mkfifo(&p.path().join("suites/fifo.yaml"));
    let r = run_bounded(&p, &["validate"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("fixtures/rows.csv"), "{}", r.stderr);
    assert!(r.stderr.contains("suites/fifo.yaml"), "{}", r.stderr);
    assert!(r.stderr.contains("regular files only"), "{}", r.stderr);
    // /dev/zero as a schema: outside the project, and not a regular file.
    let p = suite_project(
        "name: s\nprompt: hi\ncases: [{id: a, checks: [{json_schema: /dev/zero}]}]\n",
    );
    let r = run_bounded(&p, &["validate"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("/dev/zero"), "{}", r.stderr);
    // A suite over its size limit.
    let p = suite_project("name: s\nprompt: hi\ncases: [{id: a, checks: [{contains: x}]}]\n");
    let r = bounded(
        evalgate(p.path())
            .args(["validate"])
            .env("EVALGATE_MAX_SUITE_BYTES", "10"),
    );
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains("EVALGATE_MAX_SUITE_BYTES"),
        "{}",
        r.stderr
    );
}

// ---------------------------------------------------------------------------
// 14. Run-wide response memory; 15. read timeout
// ---------------------------------------------------------------------------

fn openai_project(uri: &str, extra: &str) -> Project {
    let p = Project::new();
    p.file(
        "evalgate.yaml",
        &format!(
            "providers:\n  oa:\n    type: openai\n    base_url: {uri}/v1\n    model: m\n    max_retries: 0\n{extra}reports: {{json: reports/report.json}}\n"
        ),
    );
    p.file(
        "suites/s.yaml",
        "name: s\nprovider: oa\nprompt: hi\ncases: [{id: a, checks: [{contains: x}]}]\n",
    );
    p
}

#[test]
fn responses_share_a_run_wide_memory_budget() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let server = rt.block_on(MockServer::start());
    let body = json!({
        "id": "c", "object": "chat.completion", "model": "m",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "x".repeat(20_000)}, "finish_reason": "stop"}]
    });
    rt.block_on(
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(200).set_body_json(body))
            .mount(&server),
    );
    let p = openai_project(&server.uri(), "");
    let r = bounded(
        evalgate(p.path())
            .args(["run"])
            .env("EVALGATE_MAX_RESPONSE_MEMORY_BYTES", "4096"),
    );
    assert_eq!(r.code, 3, "{}\n{}", r.stdout, r.stderr);
    let v = p.json_report();
    let err = v["results"][0]["attempts"][0]["error"]
        .as_str()
        .unwrap_or("");
    assert!(err.contains("memory budget"), "{err}");
    assert!(err.contains("EVALGATE_MAX_RESPONSE_MEMORY_BYTES"), "{err}");
}

#[test]
fn a_stalled_stream_fails_on_the_read_timeout() {
    // A server that sends the headers and one event, then stalls.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming().flatten() {
            let mut s = stream;
            let mut reader = BufReader::new(s.try_clone().unwrap());
            let mut len = 0usize;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    len = v.trim().parse().unwrap_or(0);
                }
            }
            let mut body = vec![0; len];
            let _ = reader.read_exact(&mut body);
            let event = "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"x\"}}]}\n\n";
            let _ = write!(
                s,
                "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n{:x}\r\n{event}\r\n",
                event.len()
            );
            let _ = s.flush();
            held.push(s); // never closed, never written again
        }
    });
    let p = openai_project(
        &format!("http://{addr}"),
        "    stream: true\n    timeout: 10m\n    read_timeout: 300ms\n",
    );
    let r = run_bounded(&p, &["run"]);
    assert_eq!(r.code, 3, "{}\n{}", r.stdout, r.stderr);
    let v = p.json_report();
    let err = v["results"][0]["attempts"][0]["error"]
        .as_str()
        .unwrap_or("");
    assert!(!err.contains("timed out after 600s"), "{err}");
    assert!(
        err.contains("connection lost") || err.contains("timed out"),
        "{err}"
    );
}

// ---------------------------------------------------------------------------
// The loader under generated input: no panic, no hang, no abort
// ---------------------------------------------------------------------------

const WORDS: &[&str] = &[
    "name",
    "prompt",
    "cases",
    "checks",
    "vars",
    "id",
    "contains",
    "matches",
    "equals",
    "json_schema",
    "levenshtein",
    "golden",
    "defaults",
    "cases_from",
    "path",
    "tags",
    "repeat",
    "timeout",
    "threshold",
    "value",
    "max_distance",
    "providers",
    "type",
    "mock",
    "echo",
    "exec",
    "command",
    "suites",
    "gate",
    "reports",
    "min_passes",
    "skip",
    "system",
    "user",
    "json_path",
    "not",
    "weight",
];

const SCALARS: &[&str] = &[
    "x",
    "1",
    "-1",
    "0.5",
    "1e999",
    "true",
    "null",
    "~",
    "''",
    "\"\\u0000\"",
    "'{{ q }}'",
    "'{{ 1+ }}'",
    "'{% for x in y %}'",
    "'(['",
    "10s",
    "-5ms",
    "2m",
    "[]",
    "{}",
    "&a x",
    "*a",
    "*nope",
    "!!str 1",
    "\"\\uD800\"",
    "'é'",
    "|\n  block",
    ">-\n  folded",
    "../x.csv",
    "/dev/zero",
    "fixtures/none.json",
    "'\t'",
    "[[[[",
    "{a: {b: {c: [1, 2, {d: 3}]}}}",
];

fn gen_value(rng: &mut fastrand::Rng, depth: usize, out: &mut String, indent: usize) {
    match (depth, rng.u8(0..6)) {
        (0, _) | (_, 0..=2) => out.push_str(rng.choice(SCALARS).unwrap_or(&"x")),
        (_, 3) => {
            out.push('[');
            for i in 0..rng.usize(0..4) {
                if i > 0 {
                    out.push_str(", ");
                }
                gen_value(rng, depth - 1, out, indent);
            }
            out.push(']');
        }
        (_, 4) => {
            out.push('{');
            for i in 0..rng.usize(0..4) {
                if i > 0 {
                    out.push_str(", ");
                }
                out.push_str(rng.choice(WORDS).unwrap_or(&"x"));
                out.push_str(": ");
                gen_value(rng, depth - 1, out, indent);
            }
            out.push('}');
        }
        _ => {
            for _ in 0..rng.usize(1..4) {
                out.push('\n');
                out.push_str(&" ".repeat(indent + 2));
                if rng.bool() {
                    out.push_str("- ");
                }
                out.push_str(rng.choice(WORDS).unwrap_or(&"x"));
                out.push_str(": ");
                gen_value(rng, depth - 1, out, indent + 2);
            }
        }
    }
}

fn gen_document(rng: &mut fastrand::Rng) -> String {
    let mut s = String::new();
    for _ in 0..rng.usize(1..8) {
        s.push_str(rng.choice(WORDS).unwrap_or(&"x"));
        s.push_str(": ");
        gen_value(rng, 4, &mut s, 0);
        s.push('\n');
    }
    // Byte-level damage: cut, duplicate or insert a random character.
    for _ in 0..rng.usize(0..3) {
        if s.is_empty() {
            break;
        }
        let mut at = rng.usize(0..s.len());
        while !s.is_char_boundary(at) {
            at -= 1;
        }
        match rng.u8(0..3) {
            0 => s.truncate(at),
            1 => s.insert(
                at,
                rng.choice(['\t', '"', '\'', '{', '[', ':', '&', '*', '\u{0}', 'é'])
                    .unwrap_or('x'),
            ),
            _ => {
                let tail = s[at..].to_string();
                s.push_str(&tail);
            }
        }
    }
    s
}

/// A bounded, seeded generator over the config and suite loader, run in
/// process on a thread with the main thread's stack size: every input must
/// give exit code 0 or 2 (`EVALGATE_FUZZ_ITERS` runs longer; the seed is
/// printed on failure).
#[test]
fn the_loader_survives_generated_input() {
    let iters: u64 = std::env::var("EVALGATE_FUZZ_ITERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000);
    let dir = tempfile::tempdir().unwrap();
    let handle = std::thread::Builder::new()
        .stack_size(8 << 20)
        .spawn({
            let root = dir.path().to_path_buf();
            move || {
                for seed in 0..iters {
                    let mut rng = fastrand::Rng::with_seed(seed);
                    std::fs::create_dir_all(root.join("suites")).unwrap();
                    let config = if rng.u8(0..4) == 0 {
                        gen_document(&mut rng)
                    } else {
                        "providers:\n  mock: {type: echo}\ndefault_provider: mock\n".to_string()
                    };
                    std::fs::write(root.join("evalgate.yaml"), &config).unwrap();
                    let suite = gen_document(&mut rng);
                    std::fs::write(root.join("suites/s.yaml"), &suite).unwrap();
                    let cfg = root.join("evalgate.yaml");
                    let result = std::panic::catch_unwind(|| {
                        evalgate::app::main_with_args([
                            "evalgate".as_ref(),
                            "validate".as_ref(),
                            "--config".as_ref(),
                            cfg.as_os_str(),
                        ])
                    });
                    match result {
                        Ok(code) => assert!(
                            code == 0 || code == 2,
                            "seed {seed}: exit {code}\nconfig:\n{config}\nsuite:\n{suite}"
                        ),
                        Err(_) => {
                            panic!("seed {seed} panicked\nconfig:\n{config}\nsuite:\n{suite}")
                        }
                    }
                }
            }
        })
        .unwrap();
    handle.join().expect("the generator thread");
}

#[test]
fn sigterm_during_record_saves_what_was_recorded() {
    let p = Project::new();
    p.file(
        "evalgate.yaml",
        "providers:\n  app:\n    type: exec\n    command: [sh, -c, 'if [ \"$EVALGATE_CASE\" = c0 ]; then echo recorded-answer; else touch started; exec sleep 1000; fi']\n    timeout: 10m\nreports: {json: reports/report.json}\n",
    );
    p.file(
        "suites/s.yaml",
        "name: s\nprovider: app\nprompt: hi\ncases:\n  - {id: c0, checks: [{contains: recorded}]}\n  - {id: c1, checks: [{contains: x}]}\n",
    );
    // One at a time: c1 starts only once c0 has its answer.
    let child = evalgate(p.path())
        .args(["run", "--record", "-j", "1"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for(&p.path().join("started"));
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(143));
    let mut files = Vec::new();
    files_under(&p.path().join("fixtures/cassettes"), &mut files);
    let text: String = files
        .iter()
        .map(|f| std::fs::read_to_string(f).unwrap())
        .collect();
    assert!(text.contains("recorded-answer"), "{files:?}\n{text}");
    // And it replays.
    let r = p.run(&["run", "--replay", "--filter", "s/c0"]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
}

#[test]
fn suite_directory_links_are_not_walked() {
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(
        outside.path().join("x.yaml"),
        "name: TOPSECRET-SUITE-DIR\nprompt: hi\ncases: [{id: a, checks: [{contains: x}]}]\n",
    )
    .unwrap();
    let p = suite_project("name: s\nprompt: hi\ncases: [{id: a, checks: [{contains: ok}]}]\n");
    symlink(outside.path(), p.path().join("suites/elsewhere")).unwrap();
    let r = p.run(&["list"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(!r.stdout.contains("TOPSECRET-SUITE-DIR"), "{}", r.stdout);
    // The suites directory itself as a link: an error naming it.
    let q = Project::with_mock("default: ok\n");
    symlink(outside.path(), q.path().join("suites")).unwrap();
    let r = q.run(&["validate"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("symbolic link"), "{}", r.stderr);
    assert!(!r.stderr.contains("TOPSECRET-SUITE-DIR"), "{}", r.stderr);
    // A glob that starts outside the project is not walked.
    let g = Project::new();
    g.file(
        "evalgate.yaml",
        &format!(
            "suites: ['../{}/*.yaml']\n",
            outside.path().file_name().unwrap().to_string_lossy()
        ),
    );
    let r = g.run(&["validate"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("outside the project"), "{}", r.stderr);
    assert!(!r.stderr.contains("x.yaml"), "{}", r.stderr);
}

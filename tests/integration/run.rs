//! `evalgate run`, `list` and `validate` end to end: exit codes, reports,
//! ordering, repeats, filters, fail-fast and Ctrl-C.

use crate::util::{normalize, repo, run, Project};

const SUITE: &str = r#"
name: demo
prompt: "Q: {{ q }}"
cases:
  - id: good
    vars: {q: one}
    checks: [{contains: Paris}]
  - id: wrong
    vars: {q: two}
    checks:
      - contains: Paris
      - regex: "^\\d+$"
        name: digits only
  - id: broken
    vars: {q: three}
    checks: [{contains: x}]
  - id: later
    vars: {q: four}
    skip: not ready
    checks: [{contains: x}]
"#;

const MOCK: &str = r#"
responses:
  - case: good
    reply: "Paris"
  - case: wrong
    reply: "Lyon is nice"
  - case: broken
    error: "simulated 503 from upstream"
"#;

#[test]
fn example_suites_pass_and_write_every_report() {
    let out = tempfile::tempdir().unwrap();
    let junit = out.path().join("j/junit.xml");
    let json = out.path().join("r.json");
    let md = out.path().join("s.md");
    let r = run(
        &repo(),
        &[
            "run",
            "--junit",
            junit.to_str().unwrap(),
            "--json",
            json.to_str().unwrap(),
            "--markdown",
            md.to_str().unwrap(),
        ],
    );
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("gate: PASSED"), "{}", r.stdout);
    let xml = std::fs::read_to_string(&junit).unwrap();
    let report = quick_junit::Report::deserialize_from_str(&xml).expect("JUnit parses");
    assert_eq!(report.failures, 0);
    assert_eq!(report.errors, 0);
    assert!(report.tests >= 19, "{}", report.tests);
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(v["verdict"]["passed"], true);
    assert!(std::fs::read_to_string(&md)
        .unwrap()
        .contains("gate passed"));
}

#[test]
fn failures_and_errors_are_distinguished_and_explained() {
    let p = Project::with_mock(MOCK);
    p.file("suites/demo.yaml", SUITE);
    let r = p.run(&["run"]);
    assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
    insta::assert_snapshot!("failing_run_console", normalize(&r.stdout));

    let v = p.json_report();
    let outcomes: Vec<(&str, &str)> = v["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["case"].as_str().unwrap(), c["outcome"].as_str().unwrap()))
        .collect();
    assert_eq!(
        outcomes,
        vec![
            ("good", "pass"),
            ("wrong", "fail"),
            ("broken", "error"),
            ("later", "skipped")
        ]
    );
    let wrong = &v["results"][1]["attempts"][0]["checks"];
    assert_eq!(wrong[0]["passed"], false);
    assert!(wrong[0]["message"]
        .as_str()
        .unwrap()
        .contains("missing \"Paris\""));
    assert_eq!(wrong[1]["name"], "digits only");

    let xml = p.read("reports/junit.xml");
    let report = quick_junit::Report::deserialize_from_str(&xml).unwrap();
    assert_eq!((report.tests, report.failures, report.errors), (4, 1, 1));
    assert!(xml.contains("simulated 503 from upstream"));
    assert!(p.read("reports/summary.md").contains("demo/wrong"));
}

#[test]
fn gate_flags_override_the_policy() {
    let p = Project::with_mock(MOCK);
    p.file("suites/demo.yaml", SUITE);
    // 1 of 2 evaluated cases pass; errors do not count when fail_on_error is off.
    let r = p.run(&["run", "--min-pass-rate", "0.5", "--fail-on-error", "false"]);
    assert_eq!(r.code, 0, "{}", r.stdout);
    let r = p.run(&[
        "run",
        "--min-pass-rate",
        "0.5",
        "--fail-on-error",
        "false",
        "--max-failures",
        "0",
    ]);
    assert_eq!(r.code, 1);
    assert!(
        r.stdout.contains("1 case failed; at most 0 allowed"),
        "{}",
        r.stdout
    );
}

#[test]
fn nothing_reachable_is_exit_3() {
    let p = Project::with_mock("responses:\n  - prompt: '.*'\n    error: connection refused\n");
    p.file("suites/demo.yaml", "prompt: hi\ncases:\n  - {id: a, checks: [{contains: x}]}\n  - {id: b, checks: [{contains: x}]}\n");
    let r = p.run(&["run"]);
    assert_eq!(r.code, 3, "{}", r.stdout);
    assert!(
        r.stdout.contains("no case got a usable answer"),
        "{}",
        r.stdout
    );
    // Reports are still written.
    assert_eq!(p.json_report()["summary"]["overall"]["errored"], 2);
}

#[test]
fn timeouts_are_errors_not_failures() {
    let p = Project::with_mock("responses:\n  - case: slow\n    reply: late\n    latency_ms: 3000\n  - case: quick\n    reply: x\n");
    p.file(
        "suites/t.yaml",
        "prompt: hi\ndefaults: {timeout: 100ms}\ncases:\n  - {id: slow, checks: [{contains: late}]}\n  - {id: quick, checks: [{contains: x}]}\n",
    );
    let r = p.run(&["run"]);
    assert_eq!(r.code, 1);
    let v = p.json_report();
    assert_eq!(v["results"][0]["outcome"], "error");
    assert!(v["results"][0]["attempts"][0]["error"]
        .as_str()
        .unwrap()
        .contains("timed out after 100ms"));
    assert_eq!(v["results"][1]["outcome"], "pass");
}

#[test]
fn repeats_min_passes_and_flaky() {
    let p = Project::with_mock("responses:\n  - case: f\n    replies: [yes, yes, no]\n  - case: bad\n    replies: [yes, no, no]\n");
    p.file(
        "suites/r.yaml",
        "prompt: hi\ndefaults: {repeat: 3}\ncases:\n  - {id: f, min_passes: 2, checks: [{equals: 'yes'}]}\n  - {id: bad, min_passes: 2, checks: [{equals: 'yes'}]}\n",
    );
    let r = p.run(&["run", "--max-failures", "1", "--min-pass-rate", "0.5"]);
    assert_eq!(r.code, 0, "{}", r.stdout);
    let v = p.json_report();
    let f = &v["results"][0];
    assert_eq!(
        (
            f["outcome"].as_str(),
            f["flaky"].as_bool(),
            f["passes"].as_u64()
        ),
        (Some("pass"), Some(true), Some(2))
    );
    let repeats: Vec<u64> = f["attempts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["repeat"].as_u64().unwrap())
        .collect();
    assert_eq!(repeats, vec![1, 2, 3]);
    assert_eq!(v["results"][1]["outcome"], "fail");
    assert!(r.stdout.contains("FLAKY (2)"), "{}", r.stdout);
    // A flaky pass is not red in JUnit: the failed repeat is a flakyFailure.
    let report = quick_junit::Report::deserialize_from_str(&p.read("reports/junit.xml")).unwrap();
    assert_eq!(report.tests, 6);
    assert_eq!(
        report.failures, 2,
        "only the failing case's two bad repeats"
    );
    let r = p.run(&[
        "run",
        "--max-failures",
        "1",
        "--min-pass-rate",
        "0.5",
        "--fail-on-flaky",
        "true",
    ]);
    assert_eq!(r.code, 1);
}

#[test]
fn score_threshold_passes_on_weighted_score() {
    let p = Project::with_mock("default: Paris is big\n");
    p.file(
        "suites/s.yaml",
        "prompt: hi\ncases:\n  - id: a\n    threshold: 0.7\n    checks:\n      - {contains: Paris, weight: 3}\n      - {contains: Lyon}\n  - id: b\n    threshold: 0.8\n    checks:\n      - {contains: Paris, weight: 3}\n      - {contains: Lyon}\n",
    );
    let r = p.run(&["run", "--min-pass-rate", "0.5"]);
    assert_eq!(r.code, 0, "{}", r.stdout);
    let v = p.json_report();
    assert_eq!(v["results"][0]["outcome"], "pass");
    assert_eq!(v["results"][0]["attempts"][0]["score"], 0.75);
    assert_eq!(v["results"][1]["outcome"], "fail");
}

#[test]
fn reports_follow_plan_order_not_completion_order() {
    let mut mock = String::from("responses:\n");
    let mut suite = String::from("prompt: 'n={{ n }}'\ncases:\n");
    for i in 0..24 {
        // Earlier cases are slower, so they complete last.
        mock.push_str(&format!(
            "  - case: c{i:02}\n    reply: ok\n    latency_ms: {}\n",
            (24 - i) * 8
        ));
        suite.push_str(&format!(
            "  - {{id: c{i:02}, vars: {{n: {i}}}, checks: [{{equals: ok}}]}}\n"
        ));
    }
    let p = Project::with_mock(&mock);
    p.file("suites/a.yaml", &suite);
    p.file(
        "suites/b.yaml",
        "prompt: x\ncases:\n  - {id: z, checks: [{contains: x}]}\n",
    );
    let r = p.run(&[
        "run",
        "-j",
        "8",
        "--provider",
        "mock",
        "--min-pass-rate",
        "0.9",
    ]);
    assert_eq!(r.code, 1, "b/z gets no reply and errors: {}", r.stdout);
    let v = p.json_report();
    let ids: Vec<String> = v["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap().to_string())
        .collect();
    let mut expected: Vec<String> = (0..24).map(|i| format!("a/c{i:02}")).collect();
    expected.push("b/z".into());
    assert_eq!(ids, expected);
}

#[test]
fn filter_and_tag_select_cases() {
    let p = Project::with_mock("default: x\n");
    p.file(
        "suites/one.yaml",
        "prompt: hi\ntags: [smoke]\ncases:\n  - {id: a, checks: [{contains: x}]}\n  - {id: b, tags: [slow], checks: [{contains: x}]}\n",
    );
    p.file(
        "suites/two.yaml",
        "prompt: hi\ncases:\n  - {id: c, tags: [slow], checks: [{contains: x}]}\n",
    );
    let list = |args: &[&str]| {
        let mut a = vec!["list"];
        a.extend_from_slice(args);
        let r = p.run(&a);
        assert_eq!(r.code, 0, "{}", r.stderr);
        r.stdout
    };
    assert_eq!(
        list(&["--filter", "one/*"])
            .lines()
            .filter(|l| l.contains('/'))
            .count(),
        2
    );
    assert_eq!(
        list(&["--filter", "two"]).lines().next().unwrap(),
        "two/c  [mock]  tags: slow"
    );
    assert_eq!(
        list(&["--tag", "slow"])
            .lines()
            .filter(|l| l.contains('/'))
            .count(),
        2
    );
    let json = list(&["--format", "json", "--tag", "smoke"]);
    let first: serde_json::Value = serde_json::from_str(json.lines().next().unwrap()).unwrap();
    assert_eq!(first["id"], "one/a");
    let r = p.run(&["run", "--filter", "one/b"]);
    assert_eq!(r.code, 0);
    assert_eq!(p.json_report()["run"]["planned_cases"], 1);
    let r = p.run(&["validate"]);
    assert_eq!(r.code, 0);
    assert!(
        r.stdout.starts_with("ok: 2 suites, 3 cases"),
        "{}",
        r.stdout
    );
}

#[test]
fn datasets_stream_cases_from_csv_and_jsonl() {
    let p = Project::with_mock(
        "responses:\n  - prompt: France\n    reply: Paris\n  - prompt: Peru\n    reply: Lima\n",
    );
    p.file(
        "fixtures/c.csv",
        "id,country,capital\nfr,France,Paris\npe,Peru,Lima\n",
    );
    p.file("fixtures/c.jsonl", "{\"country\": \"France\", \"capital\": \"Paris\"}\n{\"country\": \"Peru\", \"capital\": \"Lima\"}\n");
    p.file(
        "suites/csv.yaml",
        "prompt: 'Capital of {{ country }}?'\ncases_from: {path: fixtures/c.csv, expected_column: capital, checks: [{equals: '{{ expected }}'}]}\n",
    );
    p.file(
        "suites/jsonl.yaml",
        "prompt: 'Capital of {{ country }}?'\ncases_from: {path: fixtures/c.jsonl, checks: [{equals: '{{ capital }}'}]}\n",
    );
    let r = p.run(&["run"]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let v = p.json_report();
    let ids: Vec<&str> = v["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec!["csv/fr", "csv/pe", "jsonl/row-1", "jsonl/row-2"]);
    assert_eq!(v["results"][1]["source"], "fixtures/c.csv:3");
}

#[test]
fn fail_fast_stops_scheduling() {
    let mut suite = String::from("prompt: hi\ncases:\n");
    for i in 0..30 {
        suite.push_str(&format!("  - {{id: c{i:02}, checks: [{{equals: ok}}]}}\n"));
    }
    let p = Project::with_mock("responses:\n  - case: c02\n    reply: wrong\ndefault: ok\n");
    p.file("suites/f.yaml", &suite);
    let r = p.run(&["run", "--fail-fast", "-j", "1"]);
    assert_eq!(r.code, 1);
    assert!(
        r.stdout
            .contains("stopped by --fail-fast: 27 planned cases did not run"),
        "{}",
        r.stdout
    );
    let v = p.json_report();
    assert_eq!(v["results"].as_array().unwrap().len(), 3);
    assert_eq!(v["stopped"], "fail_fast");
}

#[test]
fn markdown_is_appended_to_the_github_step_summary() {
    let p = Project::with_mock("default: x\n");
    p.file(
        "suites/a.yaml",
        "prompt: hi\ncases:\n  - {id: a, checks: [{contains: x}]}\n",
    );
    p.file("step.md", "previous step\n");
    let step_run = |args: &[&str]| {
        let out = crate::util::evalgate(p.path())
            .args(args)
            .env("GITHUB_STEP_SUMMARY", p.path().join("step.md"))
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0));
    };
    // --no-reports: console only, not even the step summary.
    step_run(&["run", "--no-reports"]);
    assert_eq!(p.read("step.md"), "previous step\n");
    assert!(
        !p.path().join("reports").exists(),
        "--no-reports writes no files"
    );
    step_run(&["run", "--markdown", "out/summary.md"]);
    let step = p.read("step.md");
    assert!(step.starts_with("previous step\n"), "{step}");
    assert!(step.contains("gate passed"), "{step}");
    assert_eq!(
        step.strip_prefix("previous step\n"),
        Some(p.read("out/summary.md").as_str())
    );
    // The Markdown report and the step summary may not be the same file.
    let out = crate::util::evalgate(p.path())
        .args(["run", "--markdown", "step.md"])
        .env("GITHUB_STEP_SUMMARY", p.path().join("step.md"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("name the same file"));
}

#[test]
fn ctrl_c_writes_partial_reports_and_exits_130() {
    let mut suite = String::from("prompt: hi\ncases:\n");
    for i in 0..40 {
        suite.push_str(&format!("  - {{id: c{i:02}, checks: [{{equals: ok}}]}}\n"));
    }
    let p = Project::with_mock(
        "default: ok\nresponses:\n  - prompt: '.*'\n    reply: ok\n    latency_ms: 150\n",
    );
    p.file("suites/slow.yaml", &suite);
    let child = crate::util::evalgate(p.path())
        .args(["run", "-j", "2"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(900));
    let status = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(130), "{stdout}");
    assert!(stdout.contains("interrupted"), "{stdout}");
    let v = p.json_report();
    let done = v["results"].as_array().unwrap().len();
    assert!(done > 0 && done < 40, "{done} results");
    assert_eq!(v["stopped"], "interrupted");
    assert_eq!(
        v["summary"]["not_run"].as_u64().unwrap() as usize,
        40 - done
    );
    let report = quick_junit::Report::deserialize_from_str(&p.read("reports/junit.xml")).unwrap();
    // The finished cases, and one errored `run interrupted` test case.
    assert_eq!(report.tests, done + 1);
    assert_eq!(report.errors, 1);
    // Completed cases are in plan order without gaps at the start.
    assert_eq!(v["results"][0]["case"], "c00");
}

#[test]
fn help_and_version_exit_0() {
    let r = run(&repo(), &["--version"]);
    assert_eq!(r.code, 0);
    assert!(r.stdout.starts_with("evalgate "));
    let r = run(&repo(), &["run", "--help"]);
    assert_eq!(r.code, 0);
    assert!(r.stdout.contains("--fail-fast"));
}

#[test]
fn no_progress_bar_when_stderr_is_piped_even_outside_ci() {
    let p = Project::with_mock("default: x\n");
    p.file(
        "suites/a.yaml",
        "prompt: hi\ncases:\n  - {id: a, checks: [{contains: x}]}\n",
    );
    let out = crate::util::evalgate(p.path())
        .env_remove("CI")
        .arg("run")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn json_suites_and_the_echo_provider() {
    let p = Project::with_mock("default: x\n");
    p.file(
        "suites/e.json",
        r#"{"name": "echoes", "provider": "echo", "prompt": {"system": "sys", "user": "Hello {{ who }}"},
            "cases": [{"id": "a", "vars": {"who": "Ada"}, "checks": [{"ends_with": "Hello Ada"}, {"starts_with": "sys"}]}]}"#,
    );
    let r = p.run(&["run"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert_eq!(
        p.json_report()["results"][0]["attempts"][0]["output"],
        "sys\nHello Ada"
    );
}

#[test]
fn a_skipped_last_case_does_not_hang_the_run() {
    let p = Project::with_mock("default: hi\n");
    p.file(
        "suites/a.yaml",
        "prompt: 'hi {{ x }}'\ncases:\n  - {id: one, vars: {x: 1}, checks: [{contains: hi}]}\n  - {id: two, vars: {x: 2}, skip: later, checks: [{contains: hi}]}\n",
    );
    let r = p.run(&["run", "-j", "1"]);
    assert_eq!(r.code, 0, "{}", r.stdout);
    // Only skipped cases selected: nothing evaluated, and the run still ends.
    let r = p.run(&["run", "--filter", "a/two"]);
    assert_eq!(r.code, 1, "{}", r.stdout);
    assert!(r.stdout.contains("no case was evaluated"), "{}", r.stdout);
}

#[test]
fn fail_fast_is_not_a_stop_when_everything_already_ran() {
    let p = Project::with_mock("responses:\n  - case: b\n    reply: wrong\ndefault: ok\n");
    p.file(
        "suites/f.yaml",
        "prompt: hi\ncases:\n  - {id: a, checks: [{equals: ok}]}\n  - {id: b, checks: [{equals: ok}]}\n",
    );
    let r = p.run(&["run", "--fail-fast", "--min-pass-rate", "0.5"]);
    assert_eq!(r.code, 0, "{}", r.stdout);
    assert_eq!(p.json_report()["stopped"], serde_json::Value::Null);
}

#[test]
fn two_reports_cannot_share_a_file() {
    let p = Project::with_mock("default: x\n");
    p.file(
        "suites/a.yaml",
        "prompt: hi\ncases:\n  - {id: a, checks: [{contains: x}]}\n",
    );
    let r = p.run(&["run", "--junit", "same.out", "--json", "./same.out"]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("--junit and --json name the same file"),
        "{}",
        r.stderr
    );
    std::fs::create_dir_all(p.path().join("adir")).unwrap();
    let r = p.run(&["run", "--junit", "adir"]);
    assert_eq!(r.code, 3, "a directory as report path fails before the run");
    assert!(!r.stdout.contains("gate:"), "{}", r.stdout);
}

#[test]
fn ctrl_c_reports_whole_cases_with_all_their_repeats() {
    let mut suite = String::from("prompt: hi\ndefaults: {repeat: 3}\ncases:\n");
    for i in 0..30 {
        suite.push_str(&format!("  - {{id: c{i:02}, checks: [{{equals: ok}}]}}\n"));
    }
    let p = Project::with_mock("responses:\n  - prompt: '.*'\n    reply: ok\n    latency_ms: 40\n");
    p.file("suites/rep.yaml", &suite);
    let child = crate::util::evalgate(p.path())
        .args(["run", "-j", "4"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(700));
    let status = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130));
    let v = p.json_report();
    let results = v["results"].as_array().unwrap();
    assert!(
        !results.is_empty() && results.len() < 30,
        "{} results",
        results.len()
    );
    for r in results {
        let repeats: Vec<u64> = r["attempts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["repeat"].as_u64().unwrap())
            .collect();
        assert_eq!(repeats, vec![1, 2, 3], "{}", r["id"]);
    }
    // Reported cases are in plan order.
    let ids: Vec<&str> = results
        .iter()
        .map(|r| r["case"].as_str().unwrap())
        .collect();
    let mut sorted = ids.clone();
    sorted.sort();
    assert_eq!(ids, sorted);
}

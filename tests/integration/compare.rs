//! Baselines: `evalgate compare BASE HEAD` and `evalgate run --baseline`.

use crate::util::{repo, run, Project};

#[test]
fn compare_command_exit_codes_and_formats() {
    let root = repo();
    let r = run(
        &root,
        &[
            "compare",
            "fixtures/compare/base.json",
            "fixtures/compare/head.json",
        ],
    );
    assert_eq!(r.code, 1, "regressions fail the comparison: {}", r.stdout);
    assert!(r.stdout.contains("REGRESSIONS (2)"), "{}", r.stdout);
    // Sections come in the documented order.
    let order = [
        "REGRESSIONS",
        "FIXED",
        "FAILURE KIND CHANGED",
        "NEW",
        "REMOVED",
        "FLAKY",
    ];
    let at: Vec<usize> = order
        .iter()
        .map(|s| r.stdout.find(s).unwrap_or(usize::MAX))
        .collect();
    assert!(at.windows(2).all(|w| w[0] < w[1]), "{at:?}\n{}", r.stdout);

    let r = run(
        &root,
        &[
            "compare",
            "fixtures/compare/base.json",
            "fixtures/compare/head.json",
            "--max-regressions",
            "2",
            "--new-cases-must-pass",
            "false",
        ],
    );
    assert_eq!(r.code, 0, "{}", r.stdout);

    let r = run(
        &root,
        &[
            "compare",
            "fixtures/compare/base.json",
            "fixtures/compare/head.json",
            "--format",
            "markdown",
        ],
    );
    assert!(
        r.stdout
            .starts_with("## ❌ evalgate compare: 2 regressions"),
        "{}",
        r.stdout
    );
    let regress = r.stdout.find("Regressions (2)").unwrap();
    let fixed = r.stdout.find("Fixed (2)").unwrap();
    assert!(regress < fixed);

    let r = run(
        &root,
        &[
            "compare",
            "fixtures/compare/base.json",
            "fixtures/compare/head.json",
            "--format",
            "json",
        ],
    );
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["regressions"].as_array().unwrap().len(), 2);
    assert_eq!(v["removed"][0]["case"], "madrid");

    let r = run(
        &root,
        &[
            "compare",
            "fixtures/compare/not-a-report.json",
            "fixtures/compare/head.json",
        ],
    );
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("not-a-report.json"), "{}", r.stderr);
    let r = run(
        &root,
        &[
            "compare",
            "fixtures/compare/base.json",
            "fixtures/compare/missing.json",
        ],
    );
    assert_eq!(r.code, 2);
}

fn project() -> Project {
    let p = Project::with_mock("responses:\n  - {case: c, reply: bad}\ndefault: ok\n");
    p.file(
        "suites/s.yaml",
        "prompt: 'q {{ n }}'\ncases:\n  - {id: a, vars: {n: 1}, checks: [{contains: ok}]}\n  - {id: b, vars: {n: 2}, checks: [{contains: ok}]}\n  - {id: c, vars: {n: 3}, checks: [{contains: ok}]}\n",
    );
    let r = p.run(&["run", "--json", "base.json", "--min-pass-rate", "0.5"]);
    assert_eq!(r.code, 0, "{}", r.stdout);
    p
}

#[test]
fn run_with_baseline_gates_on_regressions() {
    let p = project();
    // a regresses, c is fixed, d is new.
    p.file(
        "mock.yaml",
        "responses:\n  - {case: a, reply: bad}\ndefault: ok\n",
    );
    let mut suite = p.read("suites/s.yaml");
    suite.push_str("  - {id: d, vars: {n: 4}, checks: [{contains: ok}]}\n");
    p.file("suites/s.yaml", &suite);
    let r = p.run(&["run", "--baseline", "base.json", "--min-pass-rate", "0.5"]);
    assert_eq!(r.code, 1, "{}", r.stdout);
    assert!(
        r.stdout.contains(
            "1 case regressed since the baseline (pass → fail or error; at most 0 allowed): s/a"
        ),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains("COMPARED WITH THE BASELINE"),
        "{}",
        r.stdout
    );
    // The Markdown summary leads with the regressions, before the suite table.
    let md = p.read("reports/summary.md");
    let regress = md.find("Regressions (1)").unwrap();
    let fixed = md.find("Fixed (1)").unwrap();
    let table = md.find("| suite | cases | pass |").unwrap();
    assert!(regress < fixed && fixed < table, "{md}");
    // The JSON report carries the comparison.
    let v = p.json_report();
    assert_eq!(v["comparison"]["regressions"][0]["case"], "a");
    assert_eq!(v["comparison"]["fixed"][0]["case"], "c");
    assert_eq!(v["comparison"]["new"][0]["case"], "d");
    let schema: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(repo().join("schema/report.v1.json")).unwrap(),
    )
    .unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let errors: Vec<String> = validator.iter_errors(&v).map(|e| e.to_string()).collect();
    assert!(errors.is_empty(), "{errors:?}");
    // Allowing one regression passes the gate.
    let r = p.run(&[
        "run",
        "--baseline",
        "base.json",
        "--min-pass-rate",
        "0.5",
        "--max-regressions",
        "1",
    ]);
    assert_eq!(r.code, 0, "{}", r.stdout);
}

#[test]
fn new_cases_must_pass_by_default() {
    let p = project();
    let mut suite = p.read("suites/s.yaml");
    suite.push_str("  - {id: e, vars: {n: 5}, checks: [{contains: missing}]}\n");
    p.file("suites/s.yaml", &suite);
    let r = p.run(&["run", "--baseline", "base.json", "--min-pass-rate", "0.5"]);
    assert_eq!(r.code, 1, "{}", r.stdout);
    assert!(
        r.stdout
            .contains("1 case new since the baseline did not pass"),
        "{}",
        r.stdout
    );
    let mut cfg = p.read("evalgate.yaml");
    cfg.push_str("gate: {new_cases_must_pass: false, min_pass_rate: 0.5}\n");
    p.file("evalgate.yaml", &cfg);
    let r = p.run(&["run", "--baseline", "base.json"]);
    assert_eq!(r.code, 0, "{}", r.stdout);
}

#[test]
fn filtered_runs_do_not_call_unselected_cases_removed() {
    let p = project();
    let r = p.run(&[
        "run",
        "--baseline",
        "base.json",
        "--filter",
        "s/a",
        "--min-pass-rate",
        "0.5",
    ]);
    assert_eq!(r.code, 0, "{}", r.stdout);
    let v = p.json_report();
    assert_eq!(
        v["comparison"]["removed"].as_array().map(Vec::len),
        Some(0),
        "{}",
        v["comparison"]
    );
    assert!(!v["comparison"]["not_run"].as_array().unwrap().is_empty());
}

#[test]
fn a_bad_baseline_is_invalid_input_before_anything_runs() {
    let p = project();
    p.file("bad.json", "{\"not\": \"a report\"}");
    let r = p.run(&["run", "--baseline", "bad.json", "--json", "out.json"]);
    assert_eq!(r.code, 2, "{}", r.stdout);
    assert!(r.stderr.contains("bad.json"), "{}", r.stderr);
    assert!(!p.exists("out.json"));
    let r = p.run(&["run", "--max-regressions", "1"]);
    assert_eq!(r.code, 2, "--max-regressions needs --baseline");
}

#[test]
fn compare_files_reads_the_filters_of_head() {
    let p = project();
    let r = p.run(&[
        "run",
        "--filter",
        "s/a",
        "--json",
        "head.json",
        "--min-pass-rate",
        "0.5",
    ]);
    assert_eq!(r.code, 0, "{}", r.stdout);
    let r = p.run(&["compare", "base.json", "head.json", "--format", "json"]);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["removed"].as_array().map(Vec::len), Some(0), "{v}");
    assert_eq!(r.code, 0);
}

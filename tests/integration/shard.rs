//! `run --shard` and `evalgate merge`: the same suites run whole and in 1, 3
//! and 7 shards give, merged, the same JSON report (minus timings) and the
//! same JUnit report (minus times), with repeats, prompt variants, a dataset,
//! a provider matrix and a baseline; every way a set of shard reports can be
//! wrong is an error naming the files (snapshot-tested); `--shard auto`
//! reads GitLab's and Kubernetes' variables; the CI examples in
//! `examples/ci/` pass their platforms' schemas and their `evalgate`
//! commands run as written.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::util::{evalgate, repo, Project, Run};

/// The variables `--shard auto` reads, removed so the runner's own (a
/// GitLab runner sets CI_NODE_INDEX) cannot leak into a test.
const SHARD_VARS: &[&str] = &[
    "CI_NODE_INDEX",
    "CI_NODE_TOTAL",
    "JOB_COMPLETION_INDEX",
    "EVALGATE_SHARD_TOTAL",
];

fn cmd(dir: &Path, args: &[&str]) -> Command {
    let mut c = evalgate(dir);
    for v in SHARD_VARS {
        c.env_remove(v);
    }
    c.args(args);
    c
}

fn run_in(dir: &Path, args: &[&str]) -> Run {
    Run::from(cmd(dir, args).output().expect("run evalgate"))
}

fn run_env(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut c = cmd(dir, args);
    for (k, v) in env {
        c.env(k, v);
    }
    Run::from(c.output().expect("run evalgate"))
}

/// A project with everything a split must keep whole: repeats (a flaky
/// case), prompt variants, a skipped case, failures, a dataset, and two
/// providers for a matrix.
fn project() -> Project {
    let p = Project::new();
    p.file(
        "evalgate.yaml",
        "default_provider: mock\nproviders:\n  mock: {type: mock, responses: mock.yaml}\n  other: {type: mock, responses: other.yaml}\ngate:\n  min_pass_rate: 0.5\n",
    );
    p.file(
        "mock.yaml",
        "responses:\n  - prompt: '(?s)flaky'\n    replies: [Paris, Lyon, Paris]\n  - prompt: '(?s)France'\n    reply: The capital of France is Paris.\n  - prompt: '(?s)kind tutor.*Germany'\n    reply: Munich, I believe.\n  - prompt: '(?s)Germany'\n    reply: Berlin\ndefault: I do not know.\n",
    );
    p.file(
        "other.yaml",
        "responses:\n  - prompt: '(?s)France'\n    reply: Paris\ndefault: Berlin\n",
    );
    p.file(
        "suites/geo.yaml",
        "name: geo\nprompt: 'What is the capital of {{ country }}?'\ncases:\n  - {id: france, vars: {country: France}, checks: [{contains: Paris}]}\n  - {id: italy, vars: {country: Italy}, checks: [{contains: Rome}]}\n  - {id: later, skip: not yet, vars: {country: Spain}, checks: [{contains: Madrid}]}\n  - {id: flaky, repeat: 3, min_passes: 2, vars: {country: flaky}, checks: [{contains: Paris}]}\n  - {id: thrice, repeat: 3, vars: {country: Germany}, checks: [{contains: Berlin}]}\n",
    );
    p.file(
        "suites/variants.yaml",
        "name: variants\nprompts:\n  terse: 'One word: the capital of {{ country }}?'\n  polite: {system: You are a kind tutor., user: 'What is the capital of {{ country }}?'}\ncases:\n  - {id: france, vars: {country: France}, checks: [{icontains: paris}]}\n  - {id: germany, vars: {country: Germany}, checks: [{icontains: berlin}]}\n",
    );
    let mut csv = String::from("id,country,capital\n");
    for i in 0..60 {
        let (c, k) = [("France", "Paris"), ("Germany", "Berlin"), ("Peru", "Lima")][i % 3];
        csv.push_str(&format!("row{i:02},{c},{k}\n"));
    }
    p.file("data.csv", &csv);
    p.file(
        "suites/data.yaml",
        "name: data\nprompt: 'Question {{ id }}: the capital of {{ country }}?'\ncases_from:\n  path: data.csv\n  checks:\n    - contains: '{{ capital }}'\n",
    );
    p
}

/// A report without what differs between two runs of the same cases: times,
/// durations, latencies and rates measured on the clock.
fn strip_timings(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(k, _)| {
                    !(k.ends_with("_ms")
                        || k.ends_with("_at")
                        || k.contains("latency")
                        || k.contains("ttft")
                        || k.contains("tpot")
                        || k.contains("per_s"))
                })
                .map(|(k, v)| (k.clone(), strip_timings(v)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(strip_timings).collect()),
        other => other.clone(),
    }
}

fn json(dir: &Path, rel: &str) -> Value {
    let text = std::fs::read_to_string(dir.join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// JUnit without times, timestamps and latency properties.
fn junit(dir: &Path, rel: &str) -> String {
    let text = std::fs::read_to_string(dir.join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"));
    let times = regex::Regex::new(r#" (time|timestamp)="[^"]*""#).unwrap();
    let latency =
        regex::Regex::new(r#"<property name="(latency|ttft)[^"]*" value="[^"]*"/>"#).unwrap();
    let clock = regex::Regex::new(r"(latency|ttft)[^\n]*\n").unwrap();
    let t = times.replace_all(&text, "");
    let t = latency.replace_all(&t, "");
    clock.replace_all(&t, "").into_owned()
}

/// Run `extra` whole and in `n` shards merged; both reports must agree.
fn whole_equals_merged(p: &Project, n: u32, extra: &[&str], merge_extra: &[&str]) {
    let dir = p.path();
    let tag = format!("{n}{}", extra.len());
    let whole_json = format!("whole-{tag}.json");
    let whole_xml = format!("whole-{tag}.xml");
    let mut args = vec![
        "run",
        "--no-progress",
        "--json",
        &whole_json,
        "--junit",
        &whole_xml,
    ];
    args.extend_from_slice(extra);
    let whole = run_in(dir, &args);
    assert!(whole.code <= 1, "{}{}", whole.stdout, whole.stderr);

    let mut shard_files = Vec::new();
    for k in 1..=n {
        let spec = format!("{k}/{n}");
        let file = format!("shards-{tag}/shard-{k}.json");
        let mut args = vec![
            "run",
            "--no-progress",
            "-q",
            "--shard",
            &spec,
            "--json",
            &file,
        ];
        args.extend_from_slice(extra);
        let r = run_in(dir, &args);
        assert!(r.code <= 1, "shard {spec}: {}{}", r.stdout, r.stderr);
        let v = json(dir, &file);
        assert_eq!(v["run"]["shard"]["index"], k);
        assert_eq!(v["run"]["shard"]["total"], n);
        shard_files.push(file);
    }
    let merged_json = format!("merged-{tag}.json");
    let merged_xml = format!("merged-{tag}.xml");
    let mut args: Vec<&str> = vec!["merge"];
    // Any order: merge puts the cases back in plan order.
    args.extend(shard_files.iter().rev().map(String::as_str));
    args.extend(["--json", &merged_json, "--junit", &merged_xml]);
    args.extend_from_slice(merge_extra);
    let merged = run_in(dir, &args);
    assert_eq!(
        merged.code, whole.code,
        "{} shards: merged verdict differs\n{}{}",
        n, merged.stdout, merged.stderr
    );
    let (w, m) = (json(dir, &whole_json), json(dir, &merged_json));
    assert!(m["run"].get("shard").is_none(), "a merged report is whole");
    assert_eq!(
        strip_timings(&w),
        strip_timings(&m),
        "{n} shards: the merged JSON report differs from the whole run's"
    );
    assert_eq!(
        junit(dir, &whole_xml),
        junit(dir, &merged_xml),
        "{n} shards: the merged JUnit report differs from the whole run's"
    );
}

#[test]
fn whole_and_merged_shards_agree() {
    let p = project();
    for n in [1, 3, 7] {
        whole_equals_merged(&p, n, &[], &[]);
    }
    // A provider matrix: every provider's copy of a case in one shard.
    whole_equals_merged(&p, 3, &["--provider", "mock", "--provider", "other"], &[]);
    // Gate flags given to both.
    whole_equals_merged(
        &p,
        3,
        &["--min-pass-rate", "0.99"],
        &["--min-pass-rate", "0.99"],
    );
}

#[test]
fn a_case_keeps_every_copy_in_one_shard_with_its_global_seq() {
    let p = project();
    let dir = p.path();
    let r = run_in(dir, &["run", "-q", "--json", "w.json"]);
    assert!(r.code <= 1, "{}", r.stderr);
    let whole = json(dir, "w.json");
    let mut seen = std::collections::BTreeMap::new();
    for k in 1..=3 {
        let file = format!("s{k}.json");
        let spec = format!("{k}/3");
        let r = run_in(
            dir,
            &[
                "run",
                "-q",
                "--provider",
                "mock",
                "--provider",
                "other",
                "--shard",
                &spec,
                "--json",
                &file,
            ],
        );
        assert!(r.code <= 1, "{}", r.stderr);
        for c in json(dir, &file)["results"].as_array().unwrap() {
            let key = format!("{}/{}", c["suite"], c["case"]);
            // Variants and providers of a case: all in the same shard.
            let prev = seen.insert(key.clone(), k);
            assert!(prev.is_none() || prev == Some(k), "{key} in two shards");
        }
    }
    // Seqs are the whole run's: a shard's are increasing, with gaps.
    let s1 = json(dir, "s1.json");
    let seqs: Vec<u64> = s1["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["seq"].as_u64().unwrap())
        .collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");
    assert!(whole["results"].as_array().unwrap().len() > seqs.len());
}

#[test]
fn merge_with_a_baseline_compares_the_whole() {
    let p = project();
    let dir = p.path();
    // The baseline: other answers make regressions (France, the flaky
    // case) and fixes (Italy).
    let answers = p.read("mock.yaml");
    p.file(
        "mock.yaml",
        "responses:\n  - prompt: '(?s)Italy'\n    reply: Rome\n  - prompt: '(?s)flaky'\n    reply: Paris\n  - prompt: '(?s)Germany'\n    reply: Berlin\n  - prompt: '(?s)Peru'\n    reply: Lima\ndefault: Lyon\n",
    );
    let r = run_in(dir, &["run", "-q", "--json", "base.json"]);
    assert!(r.code <= 1, "{}", r.stderr);
    p.file("mock.yaml", &answers);
    whole_equals_merged(
        &p,
        3,
        &["--baseline", "base.json"],
        &["--baseline", "base.json"],
    );
    let m = json(dir, "merged-32.json");
    assert!(m["comparison"].is_object(), "the merged report compares");
    assert!(
        !m["comparison"]["regressions"]
            .as_array()
            .unwrap()
            .is_empty(),
        "{}",
        m["comparison"]
    );
}

#[test]
fn an_empty_shard_passes_and_merges() {
    let p = Project::with_mock("default: ok\n");
    p.file(
        "suites/s.yaml",
        "name: s\nprompt: hi\ncases:\n  - {id: a, checks: [{equals: ok}]}\n  - {id: b, checks: [{equals: ok}]}\n",
    );
    let dir = p.path();
    let mut files = Vec::new();
    let mut empty = 0;
    for k in 1..=7 {
        let spec = format!("{k}/7");
        let file = format!("s{k}.json");
        let r = run_in(dir, &["run", "-q", "--shard", &spec, "--json", &file]);
        assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
        if json(dir, &file)["run"]["planned_cases"] == 0 {
            empty += 1;
        }
        files.push(file);
    }
    assert!(
        empty >= 5,
        "two cases leave at least five of seven shards empty"
    );
    let mut args = vec!["merge", "--json", "m.json"];
    args.extend(files.iter().map(String::as_str));
    let r = run_in(dir, &args);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert_eq!(json(dir, "m.json")["summary"]["overall"]["passed"], 2);
}

/// Paths in messages are the files' names as given; hashes vary.
fn normalize(text: &str) -> String {
    let hash = regex::Regex::new(r"sha256:[0-9a-f]{64}").unwrap();
    hash.replace_all(text, "sha256:…").into_owned()
}

#[test]
fn merge_errors_name_the_files_and_the_fix() {
    let p = project();
    let dir = p.path();
    for k in 1..=3 {
        let spec = format!("{k}/3");
        let file = format!("shard-{k}.json");
        let r = run_in(dir, &["run", "-q", "--shard", &spec, "--json", &file]);
        assert!(r.code <= 1, "{}", r.stderr);
    }
    let r = run_in(
        dir,
        &["run", "-q", "--shard", "1/2", "--json", "two-1.json"],
    );
    assert!(r.code <= 1, "{}", r.stderr);
    let r = run_in(
        dir,
        &[
            "run",
            "-q",
            "--shard",
            "2/3",
            "--filter",
            "geo",
            "--json",
            "geo-2.json",
        ],
    );
    assert!(r.code <= 1, "{}", r.stderr);
    let r = run_in(dir, &["run", "-q", "--json", "whole.json"]);
    assert!(r.code <= 1, "{}", r.stderr);
    std::fs::copy(dir.join("shard-2.json"), dir.join("copy-of-2.json")).unwrap();
    p.file(
        "notes.json",
        "{\"schema\": \"something.else\", \"results\": []}\n",
    );
    p.file("garbage.json", "not json at all\n");
    // A shard of another commit: a suite changed.
    let other = project();
    other.file(
        "suites/geo.yaml",
        &format!("{}# changed\n", other.read("suites/geo.yaml")),
    );
    let r = run_in(
        other.path(),
        &["run", "-q", "--shard", "3/3", "--json", "shard-3.json"],
    );
    assert!(r.code <= 1, "{}", r.stderr);
    std::fs::copy(
        other.path().join("shard-3.json"),
        dir.join("changed-3.json"),
    )
    .unwrap();
    // A report cut short: its last result line and the tail gone.
    let text = p.read("shard-1.json");
    let cut: Vec<&str> = text.lines().collect();
    p.file("cut-1.json", &(cut[..cut.len() - 2].join("\n") + "\n"));
    // Results that were edited out, the rest of the file whole.
    let v = json(dir, "shard-1.json");
    let mut lines: Vec<&str> = text.lines().collect();
    assert!(v["results"].as_array().unwrap().len() > 2);
    lines.remove(2);
    p.file("edited-1.json", &(lines.join("\n") + "\n"));

    let cases: &[(&str, &[&str])] = &[
        ("missing", &["shard-1.json", "shard-3.json"]),
        (
            "duplicated",
            &[
                "shard-1.json",
                "shard-2.json",
                "shard-3.json",
                "copy-of-2.json",
            ],
        ),
        (
            "same_file_twice",
            &[
                "shard-1.json",
                "shard-2.json",
                "shard-3.json",
                "shard-2.json",
            ],
        ),
        (
            "other_config",
            &["shard-1.json", "shard-2.json", "changed-3.json"],
        ),
        (
            "other_selection",
            &["shard-1.json", "geo-2.json", "shard-3.json"],
        ),
        (
            "other_total",
            &["two-1.json", "shard-2.json", "shard-3.json"],
        ),
        ("not_a_shard", &["whole.json", "shard-2.json"]),
        (
            "not_a_report",
            &["shard-1.json", "notes.json", "garbage.json"],
        ),
        ("no_file", &["shard-1.json", "shard-9.json"]),
        ("cut_short", &["cut-1.json", "shard-2.json", "shard-3.json"]),
        ("edited", &["edited-1.json", "shard-2.json", "shard-3.json"]),
    ];
    let mut all = String::new();
    for (name, files) in cases {
        let mut args = vec!["merge", "--json", "merged.json"];
        args.extend_from_slice(files);
        let r = run_in(dir, &args);
        assert_eq!(r.code, 2, "{name}: {}{}", r.stdout, r.stderr);
        assert!(
            !p.exists("merged.json"),
            "{name}: no merged report on an error"
        );
        all.push_str(&format!(
            "## {name}: evalgate {}\n{}\n",
            args.join(" "),
            normalize(&r.stderr)
        ));
    }
    // The project itself changed since the shards ran.
    p.file(
        "suites/geo.yaml",
        &format!("{}# changed\n", p.read("suites/geo.yaml")),
    );
    let args = ["merge", "shard-1.json", "shard-2.json", "shard-3.json"];
    let r = run_in(dir, &args);
    assert_eq!(r.code, 2, "{}", r.stderr);
    all.push_str(&format!(
        "## project_changed: evalgate {}\n{}\n",
        args.join(" "),
        normalize(&r.stderr)
    ));
    insta::assert_snapshot!("merge_errors", all);
}

#[test]
fn a_merged_report_never_overwrites_a_shard() {
    let p = project();
    let dir = p.path();
    let r = run_in(
        dir,
        &[
            "run",
            "-q",
            "--shard",
            "1/1",
            "--json",
            "reports/report.json",
        ],
    );
    assert!(r.code <= 1, "{}", r.stderr);
    let r = run_in(
        dir,
        &[
            "merge",
            "reports/report.json",
            "--json",
            "reports/report.json",
        ],
    );
    assert_eq!(r.code, 2, "{}", r.stderr);
    insta::assert_snapshot!("merge_output_is_an_input", r.stderr);
    assert!(p.exists("reports/report.json"));
}

#[test]
fn an_interrupted_shard_makes_an_interrupted_merged_verdict() {
    let p = Project::with_mock(
        "responses:\n  - prompt: slow\n    reply: ok\n    latency_ms: 600000\ndefault: ok\n",
    );
    let mut suite = String::from("name: s\nprompt: '{{ word }}'\ncases:\n");
    for i in 0..30 {
        suite.push_str(&format!(
            "  - {{id: c{i:02}, vars: {{word: fast}}, checks: [{{equals: ok}}]}}\n"
        ));
    }
    // One case never answers: its shard is stopped by SIGTERM, as CI cancels a job.
    suite.push_str("  - {id: stuck, vars: {word: slow}, checks: [{equals: ok}]}\n");
    p.file("suites/s.yaml", &suite);
    let dir = p.path();
    let mut stuck = 0;
    for k in 1..=2 {
        let spec = format!("{k}/2");
        let file = format!("s{k}.json");
        let mut child = cmd(dir, &["run", "-q", "--shard", &spec, "--json", &file])
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap();
        // A shard without the stuck case ends by itself (no timing asserted:
        // the wait only decides which shard holds it).
        let mut ended = false;
        for _ in 0..100 {
            if child.try_wait().unwrap().is_some() {
                ended = true;
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        if ended {
            continue;
        }
        let status = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        assert_eq!(child.wait().unwrap().code(), Some(143));
        stuck = k;
    }
    assert!(stuck > 0, "one shard holds the stuck case");
    let v = json(dir, &format!("s{stuck}.json"));
    assert_eq!(v["stopped"], "interrupted");
    let r = run_in(dir, &["merge", "s1.json", "s2.json", "--json", "m.json"]);
    assert_eq!(r.code, 130, "{}{}", r.stdout, r.stderr);
    let m = json(dir, "m.json");
    assert_eq!(m["stopped"], "interrupted");
    assert_eq!(m["summary"]["not_run"], 1);
    assert_eq!(m["summary"]["overall"]["passed"], 30);
    let reasons = m["verdict"]["reasons"].to_string();
    assert!(
        reasons.contains(&format!("shard {stuck}/2 (s{stuck}.json) was interrupted")),
        "{reasons}"
    );
}

#[test]
fn bad_shard_values_are_refused() {
    let p = Project::with_mock("default: ok\n");
    p.file(
        "suites/s.yaml",
        "name: s\nprompt: hi\ncases:\n  - {id: a, checks: [{equals: ok}]}\n",
    );
    let dir = p.path();
    let mut all = String::new();
    for spec in ["0/3", "4/3", "3", "two/3", "1/0", "auto/x"] {
        let r = run_in(dir, &["run", "--shard", spec]);
        assert_eq!(r.code, 2, "{spec}: {}", r.stderr);
        all.push_str(&format!("## --shard {spec}\n{}\n", r.stderr));
    }
    let envs: &[(&str, &[(&str, &str)])] = &[
        ("auto", &[]),
        ("auto", &[("JOB_COMPLETION_INDEX", "1")]),
        ("auto", &[("JOB_COMPLETION_INDEX", "first")]),
        ("auto/3", &[("JOB_COMPLETION_INDEX", "3")]),
        ("auto", &[("CI_NODE_INDEX", "0"), ("CI_NODE_TOTAL", "3")]),
        ("auto", &[("CI_NODE_INDEX", "2")]),
        ("auto/4", &[("CI_NODE_INDEX", "2"), ("CI_NODE_TOTAL", "3")]),
        (
            "auto",
            &[("CI_NODE_INDEX", "1"), ("JOB_COMPLETION_INDEX", "0")],
        ),
    ];
    for (spec, env) in envs {
        let r = run_env(dir, &["run", "--shard", spec], env);
        assert_eq!(r.code, 2, "{spec} {env:?}: {}", r.stderr);
        let shown: Vec<String> = env.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let head = format!("{} evalgate run --shard {spec}", shown.join(" "));
        all.push_str(&format!("## {}\n{}\n", head.trim(), r.stderr));
    }
    insta::assert_snapshot!("bad_shard_values", all);
}

#[test]
fn shard_auto_reads_gitlab_and_kubernetes() {
    let p = project();
    let dir = p.path();
    // (--shard, the variables, the shard they make: index and total)
    type Case<'a> = (&'a str, &'a [(&'a str, &'a str)], u64, u64);
    let cases: &[Case] = &[
        // GitLab's parallel: 1-based index and the total.
        (
            "auto",
            &[("CI_NODE_INDEX", "2"), ("CI_NODE_TOTAL", "3")],
            2,
            3,
        ),
        // A Kubernetes Indexed Job: 0-based index, the total from the flag...
        ("auto/3", &[("JOB_COMPLETION_INDEX", "0")], 1, 3),
        // ...or from EVALGATE_SHARD_TOTAL.
        (
            "auto",
            &[("JOB_COMPLETION_INDEX", "2"), ("EVALGATE_SHARD_TOTAL", "3")],
            3,
            3,
        ),
    ];
    for (spec, env, index, total) in cases {
        let r = run_env(
            dir,
            &["run", "-q", "--shard", spec, "--json", "a.json"],
            env,
        );
        assert!(r.code <= 1, "{}", r.stderr);
        let v = json(dir, "a.json");
        assert_eq!(v["run"]["shard"]["index"], *index, "{env:?}");
        assert_eq!(v["run"]["shard"]["total"], *total, "{env:?}");
        // The same cases as the shard written out.
        let fixed = format!("{index}/{total}");
        let r = run_in(dir, &["run", "-q", "--shard", &fixed, "--json", "b.json"]);
        assert!(r.code <= 1, "{}", r.stderr);
        let ids = |v: &Value| -> Vec<Value> {
            v["results"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c["id"].clone())
                .collect()
        };
        assert_eq!(ids(&v), ids(&json(dir, "b.json")));
    }
}

#[test]
fn a_shard_report_matches_the_report_schema() {
    let p = project();
    let dir = p.path();
    let r = run_in(
        dir,
        &[
            "run",
            "-q",
            "--shard",
            "2/3",
            "--replay",
            "--provider",
            "mock",
            "--json",
            "s.json",
        ],
    );
    assert!(r.code <= 1, "{}", r.stderr);
    let schema: Value = serde_json::from_str(
        &std::fs::read_to_string(repo().join("schema/report.v1.json")).unwrap(),
    )
    .unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let report = json(dir, "s.json");
    let errors: Vec<String> = validator
        .iter_errors(&report)
        .map(|e| e.to_string())
        .collect();
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(
        report["run"]["shard"]["providers"],
        serde_json::json!(["mock"])
    );
    assert_eq!(report["run"]["shard"]["replay"], true);
}

// ---- examples/ci ----------------------------------------------------------

const CHECK_JSONSCHEMA: &str = "check-jsonschema==0.39.0";
const KUBERNETES_VALIDATE: &str = "kubernetes-validate==1.37.0";

/// A virtual environment with the validators from PyPI, under the test
/// target directory (installed on first use; the test fails, never skips,
/// when they cannot be installed).
fn validators() -> PathBuf {
    crate::util::pip_venv(
        "venv-ci-validators",
        &[CHECK_JSONSCHEMA, KUBERNETES_VALIDATE],
        "CI example test",
    )
    .join("bin")
}

fn tool(bin: &Path, name: &str, args: &[&str]) -> (bool, String) {
    let out = Command::new(bin.join(name))
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[test]
fn ci_examples_pass_their_platforms_schemas() {
    let bin = validators();
    let ci = repo().join("examples/ci");
    let file = |n: &str| ci.join(n).to_string_lossy().into_owned();
    for (schema, name) in [
        ("vendor.github-workflows", "github-actions.yml"),
        ("vendor.gitlab-ci", "gitlab-ci.yml"),
    ] {
        let (ok, out) = tool(
            &bin,
            "check-jsonschema",
            &["--builtin-schema", schema, &file(name)],
        );
        assert!(ok, "{name}: {out}");
    }
    let (ok, out) = tool(
        &bin,
        "kubernetes-validate",
        &[
            "--strict",
            &file("kubernetes.yaml"),
            &file("kubernetes-merge.yaml"),
        ],
    );
    assert!(ok, "{out}");
    assert_eq!(out.matches("passed for resource").count(), 3, "{out}");
    // The validators do reject what their platform would.
    let broken = tempfile::tempdir().unwrap();
    let bad = broken.path().join("bad.yml");
    let text = std::fs::read_to_string(ci.join("github-actions.yml")).unwrap();
    std::fs::write(&bad, text.replace("runs-on:", "run-on:")).unwrap();
    let (ok, _) = tool(
        &bin,
        "check-jsonschema",
        &[
            "--builtin-schema",
            "vendor.github-workflows",
            &bad.to_string_lossy(),
        ],
    );
    assert!(!ok, "a misspelt key is refused");
    let bad = broken.path().join("bad.yaml");
    let text = std::fs::read_to_string(ci.join("kubernetes.yaml")).unwrap();
    std::fs::write(&bad, text.replace("completions:", "completionz:")).unwrap();
    let (ok, _) = tool(
        &bin,
        "kubernetes-validate",
        &["--strict", &bad.to_string_lossy()],
    );
    assert!(!ok, "a misspelt key is refused");
}

/// The `evalgate run`/`evalgate merge` commands of a CI file, as written
/// (comments left out).
fn commands(text: &str) -> (Vec<String>, Vec<String>) {
    let re = regex::Regex::new(r"evalgate (run|merge) .*$").unwrap();
    let (mut runs, mut merges) = (Vec::new(), Vec::new());
    for line in text.lines().filter(|l| !l.trim_start().starts_with('#')) {
        if let Some(m) = re.find(line) {
            let c = m.as_str().to_string();
            if c.starts_with("evalgate run") {
                runs.push(c);
            } else {
                merges.push(c);
            }
        }
    }
    (runs, merges)
}

/// Copy examples/ci (the project its CI files run) into a scratch directory.
fn copy_example() -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    fn copy(from: &Path, to: &Path) {
        std::fs::create_dir_all(to).unwrap();
        for e in std::fs::read_dir(from).unwrap() {
            let e = e.unwrap();
            let p = e.path();
            if p.is_dir() {
                copy(&p, &to.join(e.file_name()));
            } else {
                std::fs::copy(&p, to.join(e.file_name())).unwrap();
            }
        }
    }
    copy(&repo().join("examples/ci"), tmp.path());
    tmp
}

/// Run one CI file's shard command in every shard (with the variables its
/// platform sets), then its merge command, through `sh -c` with evalgate
/// on PATH, as the platform would; the merged verdict must be the whole
/// run's.
fn run_ci_file(
    name: &str,
    text: &str,
    shards: u32,
    env: impl Fn(u32) -> Vec<(String, String)>,
    subst: impl Fn(&str, u32) -> String,
) {
    let (runs, merges) = commands(text);
    assert_eq!(
        (runs.len(), merges.len()),
        (1, 1),
        "{name}: {runs:?} {merges:?}"
    );
    let dir = copy_example();
    let exe = PathBuf::from(env!("CARGO_BIN_EXE_evalgate"));
    let path = format!(
        "{}:{}",
        exe.parent().unwrap().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let sh = |line: &str, vars: &[(String, String)]| {
        let mut c = Command::new("sh");
        c.arg("-c")
            .arg(line)
            .current_dir(dir.path())
            .env("PATH", &path);
        c.env("NO_COLOR", "1")
            .env("CI", "true")
            .env_remove("GITHUB_STEP_SUMMARY");
        for v in SHARD_VARS {
            c.env_remove(v);
        }
        for (k, v) in vars {
            c.env(k, v);
        }
        Run::from(c.output().unwrap())
    };
    for k in 1..=shards {
        let line = subst(&runs[0], k);
        let r = sh(&line, &env(k));
        assert_eq!(r.code, 0, "{name}: `{line}`: {}{}", r.stdout, r.stderr);
    }
    let merged = sh(&merges[0], &[]);
    let whole = run_in(dir.path(), &["run", "--no-reports", "-q"]);
    assert_eq!(
        merged.code, whole.code,
        "{name}: `{}`: {}{}",
        merges[0], merged.stdout, merged.stderr
    );
    assert!(
        merged.stdout.contains("merging 3 shards"),
        "{}",
        merged.stdout
    );
}

#[test]
fn ci_examples_commands_run_as_written() {
    let gh = std::fs::read_to_string(repo().join("examples/ci/github-actions.yml")).unwrap();
    assert!(gh.contains("shard: [1, 2, 3]"));
    run_ci_file(
        "github-actions.yml",
        &gh,
        3,
        |_| Vec::new(),
        |line, k| line.replace("${{ matrix.shard }}", &k.to_string()),
    );
    let gl = std::fs::read_to_string(repo().join("examples/ci/gitlab-ci.yml")).unwrap();
    assert!(gl.contains("parallel: 3"));
    run_ci_file(
        "gitlab-ci.yml",
        &gl,
        3,
        |k| {
            vec![
                ("CI_NODE_INDEX".into(), k.to_string()),
                ("CI_NODE_TOTAL".into(), "3".into()),
            ]
        },
        |line, _| line.to_string(),
    );
    let k8s = std::fs::read_to_string(repo().join("examples/ci/kubernetes.yaml")).unwrap();
    assert!(k8s.contains("completions: 3") && k8s.contains("completionMode: Indexed"));
    // The merge Job is in its own file: join the two for the commands.
    let merge = std::fs::read_to_string(repo().join("examples/ci/kubernetes-merge.yaml")).unwrap();
    run_ci_file(
        "kubernetes.yaml + kubernetes-merge.yaml",
        &format!("{k8s}\n{merge}"),
        3,
        |k| vec![("JOB_COMPLETION_INDEX".into(), (k - 1).to_string())],
        |line, _| line.to_string(),
    );
}

#[test]
fn the_readme_scaling_example_runs_as_written() {
    let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();
    let start = readme
        .find("```sh\ncd examples/ci\nevalgate run --shard 1/3")
        .expect("the README's sharding example")
        + "```sh\n".len();
    let end = readme[start..].find("```").unwrap() + start;
    let block = &readme[start..end];
    let out_start = readme[end..].find("```\nmerging").expect("its output") + end + 4;
    let out_end = readme[out_start..].find("```").unwrap() + out_start;
    let expected = &readme[out_start..out_end];
    let dir = copy_example();
    let exe = PathBuf::from(env!("CARGO_BIN_EXE_evalgate"));
    let path = format!(
        "{}:{}",
        exe.parent().unwrap().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut last = None;
    for line in block.lines().filter(|l| l.starts_with("evalgate ")) {
        let (command, comment) = line.split_once('#').unwrap_or((line, ""));
        let mut c = Command::new("sh");
        c.arg("-c").arg(command).current_dir(dir.path());
        c.env("PATH", &path).env("NO_COLOR", "1").env("CI", "true");
        c.env_remove("GITHUB_STEP_SUMMARY");
        for v in SHARD_VARS {
            c.env_remove(v);
        }
        let r = Run::from(c.output().unwrap());
        if comment.contains("exit 0") {
            assert_eq!(r.code, 0, "`{line}`: {}{}", r.stdout, r.stderr);
        }
        last = Some(r);
    }
    let merged = last.expect("the merge command");
    assert_eq!(merged.code, 0, "{}{}", merged.stdout, merged.stderr);
    for line in expected.lines().filter(|l| *l != "…") {
        assert!(merged.stdout.contains(line), "{line}\n{}", merged.stdout);
    }
    let v = json(dir.path(), "reports/report.json");
    assert_eq!(v["run"]["planned_cases"], 43);
}

#[test]
fn the_readme_merge_usage_lines_parse() {
    let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();
    let lines: Vec<&str> = readme
        .lines()
        .filter(|l| l.starts_with("evalgate merge ") || l.starts_with("evalgate run --shard"))
        .collect();
    assert!(lines.len() >= 7, "{lines:?}");
    let p = project();
    for line in lines {
        let command = line.split_once('#').map_or(line, |(c, _)| c).trim();
        let args: Vec<&str> = command.split_whitespace().skip(1).collect();
        let r = run_in(p.path(), &args);
        // The flags exist: clap accepted them (what fails is the missing files).
        assert!(
            !r.stderr.contains("Usage:") && !r.stderr.contains("unexpected argument"),
            "`{line}`: {}",
            r.stderr
        );
    }
}

#[test]
fn replayed_shards_of_a_real_endpoint_project_merge() {
    // examples/staging: two networked providers answered from cassettes
    // (whose contents are in the config hash when replaying).
    let dir = tempfile::tempdir().unwrap();
    crate::endpoints::copy_tree(&repo().join("examples/staging"), dir.path());
    let base = [
        "run",
        "-q",
        "--replay",
        "--provider",
        "staging",
        "--provider",
        "claude",
    ];
    let whole = run_in(dir.path(), &[&base[..], &["--json", "whole.json"]].concat());
    let mut files = Vec::new();
    for k in 1..=3 {
        let spec = format!("{k}/3");
        let file = format!("s{k}.json");
        let args = [&base[..], &["--shard", &spec, "--json", &file]].concat();
        let r = run_in(dir.path(), &args);
        assert!(r.code <= 1, "{}{}", r.stdout, r.stderr);
        files.push(file);
    }
    let mut args = vec!["merge", "--json", "merged.json"];
    args.extend(files.iter().map(String::as_str));
    let merged = run_in(dir.path(), &args);
    assert_eq!(
        merged.code, whole.code,
        "{}{}",
        merged.stdout, merged.stderr
    );
    assert_eq!(
        strip_timings(&json(dir.path(), "whole.json")),
        strip_timings(&json(dir.path(), "merged.json"))
    );
    // A cassette changed since the shards ran: another config hash.
    let cassettes = dir.path().join("fixtures/cassettes");
    let first = std::fs::read_dir(&cassettes)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.is_file())
        .or_else(|| {
            std::fs::read_dir(&cassettes)
                .unwrap()
                .flatten()
                .flat_map(|d| std::fs::read_dir(d.path()).into_iter().flatten().flatten())
                .map(|e| e.path())
                .find(|p| p.is_file())
        })
        .expect("a cassette");
    let text = std::fs::read_to_string(&first).unwrap();
    std::fs::write(&first, format!("{text}\n# edited\n")).unwrap();
    let r = run_in(dir.path(), &args);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("cassettes hash to"), "{}", r.stderr);
}

#[test]
fn a_fail_fast_shard_makes_a_stopped_merged_run() {
    let p = project();
    let dir = p.path();
    let mut files = Vec::new();
    let mut stopped = Vec::new();
    for k in 1..=3 {
        let spec = format!("{k}/3");
        let file = format!("ff{k}.json");
        let r = run_in(
            dir,
            &[
                "run",
                "-q",
                "-j",
                "1",
                "--fail-fast",
                "--shard",
                &spec,
                "--json",
                &file,
            ],
        );
        assert!(r.code <= 1, "{}", r.stderr);
        if json(dir, &file)["stopped"] == "fail_fast" {
            stopped.push(k);
        }
        files.push(file);
    }
    assert!(!stopped.is_empty(), "a shard meets a failure and stops");
    let mut args = vec!["merge", "--json", "m.json"];
    args.extend(files.iter().map(String::as_str));
    let r = run_in(dir, &args);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    let m = json(dir, "m.json");
    assert_eq!(m["stopped"], "fail_fast");
    assert!(m["summary"]["not_run"].as_u64().unwrap() > 0);
    let reasons = m["verdict"]["reasons"].to_string();
    let k = stopped[0];
    assert!(
        reasons.contains(&format!(
            "shard {k}/3 (ff{k}.json) stopped at its first failure (--fail-fast)"
        )),
        "{reasons}"
    );
}

#[test]
fn scan_shards_merge_to_the_whole_scan() {
    let p = Project::with_mock("default: I cannot help with that.\n");
    let dir = p.path();
    let base = [
        "scan",
        "-q",
        "--provider",
        "mock",
        "--category",
        "prompt-injection",
    ];
    let whole = run_in(dir, &[&base[..], &["--json", "whole.json"]].concat());
    assert!(whole.code <= 1, "{}{}", whole.stdout, whole.stderr);
    for k in 1..=2 {
        let spec = format!("{k}/2");
        let file = format!("s{k}.json");
        let r = run_in(
            dir,
            &[&base[..], &["--shard", &spec, "--json", &file]].concat(),
        );
        assert!(r.code <= 1, "{}{}", r.stdout, r.stderr);
        assert!(json(dir, &file)["run"]["shard"]["scan"].is_string());
    }
    let merged = run_in(dir, &["merge", "s1.json", "s2.json", "--json", "m.json"]);
    assert_eq!(
        merged.code, whole.code,
        "{}{}",
        merged.stdout, merged.stderr
    );
    assert_eq!(
        strip_timings(&json(dir, "whole.json")),
        strip_timings(&json(dir, "m.json"))
    );
}

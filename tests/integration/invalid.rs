//! The invalid-input corpus in `fixtures/invalid/`: every kind of bad input
//! gets a clear error naming `file:line:column` and exit code 2 (3 for a
//! report that cannot be written), never a panic, and nothing runs. The
//! messages are snapshot-tested (`tests/integration/snapshots/`).
//!
//! - `fixtures/invalid/suites/`: one suite file per mistake, validated with the
//!   valid `fixtures/invalid/evalgate.yaml` (relative paths resolve against
//!   `fixtures/invalid/`, helper files live in `fixtures/invalid/data/`).
//! - `fixtures/invalid/config/`: one `evalgate.yaml`-style file per config
//!   mistake; they use the valid `config/suites/ok.yaml` through their globs.
//!
//! Adding a fixture: add the file, add its expected location(s) to
//! [`SUITE_LOCATIONS`] / [`CONFIG_LOCATIONS`] (read them off the fixture, not
//! off the output), then `INSTA_UPDATE=always cargo test --test integration invalid`
//! and review the new snapshot.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

use crate::util::{evalgate, normalize, repo, run, Project, Run};

const CORPUS: &str = "fixtures/invalid";
const CONFIG: &str = "fixtures/invalid/evalgate.yaml";
const SUITES: &str = "fixtures/invalid/suites";
const CONFIGS: &str = "fixtures/invalid/config";

/// Where the errors for each suite fixture must point: `path:line:col`
/// relative to `fixtures/invalid/`. Every listed location must appear in the
/// output. Entries marked `MISPLACED` assert today's location, which is not
/// where the mistake is (the comment says where it should be).
const SUITE_LOCATIONS: &[(&str, &[&str])] = &[
    (
        "ambiguous_negation.yaml",
        &["suites/ambiguous_negation.yaml:8:9"],
    ),
    ("bad_duration.yaml", &["suites/bad_duration.yaml:4:12"]),
    (
        "prompts_and_prompt.yaml",
        &["suites/prompts_and_prompt.yaml:3:1"],
    ),
    (
        "script_without_command.yaml",
        &["suites/script_without_command.yaml:7:27"],
    ),
    (
        "turn_user_not_a_string.yaml",
        &["suites/turn_user_not_a_string.yaml:5:15"],
    ),
    ("bare_duration.yaml", &["suites/bare_duration.yaml:4:12"]),
    (
        "checks_not_a_list.yaml",
        &["suites/checks_not_a_list.yaml:6:13"],
    ),
    // The mistake is in the dataset, so the dataset line is named.
    (
        "dataset_duplicate_ids.yaml",
        &["data/duplicate_ids.csv:4:1"],
    ),
    (
        "dataset_missing_column.yaml",
        &["suites/dataset_missing_column.yaml:5:20"],
    ),
    ("dataset_ragged_row.yaml", &["data/ragged.csv:3:1"]),
    ("duplicate_ids.yaml", &["suites/duplicate_ids.yaml:8:9"]),
    ("duplicate_key.yaml", &["suites/duplicate_key.yaml:6:5"]),
    ("empty_checks.yaml", &["suites/empty_checks.yaml:6:13"]),
    // A file with nothing but a comment: only the file can be named.
    ("empty_suite.yaml", &["suites/empty_suite.yaml"]),
    ("invalid_case_id.yaml", &["suites/invalid_case_id.yaml:4:9"]),
    // The bad value inside the inline schema (`objekt` of `type: objekt`).
    (
        "invalid_inline_schema.yaml",
        &["suites/invalid_inline_schema.yaml:9:19"],
    ),
    ("invalid_regex.yaml", &["suites/invalid_regex.yaml:7:16"]),
    (
        "judge_without_min_score.yaml",
        &["suites/judge_without_min_score.yaml:6:16"],
    ),
    // Not text: only the file can be named.
    ("invalid_utf8.yaml", &["suites/invalid_utf8.yaml"]),
    // The `}` after the trailing comma (where the parser notices it).
    ("malformed_json.json", &["suites/malformed_json.json:9:5"]),
    ("malformed_yaml.yaml", &["suites/malformed_yaml.yaml:5:11"]),
    (
        "min_passes_over_repeat.yaml",
        &["suites/min_passes_over_repeat.yaml:7:17"],
    ),
    ("missing_checks.yaml", &["suites/missing_checks.yaml:4:5"]),
    ("missing_dataset.yaml", &["suites/missing_dataset.yaml:4:9"]),
    (
        "missing_schema_file.yaml",
        &["suites/missing_schema_file.yaml:7:22"],
    ),
    (
        "multiple_errors.yaml",
        &[
            "suites/multiple_errors.yaml:2:11",
            "suites/multiple_errors.yaml:5:11",
            "suites/multiple_errors.yaml:10:9",
            "suites/multiple_errors.yaml:14:16",
            "suites/multiple_errors.yaml:15:9",
            "suites/multiple_errors.yaml:17:5",
        ],
    ),
    ("no_cases.yaml", &["suites/no_cases.yaml:3:8"]),
    ("no_prompt.yaml", &["suites/no_prompt.yaml:3:5"]),
    ("not_a_mapping.yaml", &["suites/not_a_mapping.yaml:2:1"]),
    // The mistake is in the schema file, so its line is named (the hint names the suite).
    (
        "schema_file_not_json.yaml",
        &["data/not_json_schema.json:4:1"],
    ),
    // The unexpected `?` inside the template string.
    (
        "template_syntax.yaml",
        &["suites/template_syntax.yaml:2:44"],
    ),
    (
        "two_checks_in_one_item.yaml",
        &["suites/two_checks_in_one_item.yaml:8:9"],
    ),
    ("two_documents.yaml", &["suites/two_documents.yaml:3:1"]),
    ("unclosed_quote.yaml", &["suites/unclosed_quote.yaml:2:9"]),
    (
        "undefined_variable.yaml",
        &["suites/undefined_variable.yaml:4:9"],
    ),
    (
        "similar_without_embeddings.yaml",
        &["suites/similar_without_embeddings.yaml:6:71"],
    ),
    ("unknown_check.yaml", &["suites/unknown_check.yaml:7:9"]),
    ("unknown_key.yaml", &["suites/unknown_key.yaml:6:5"]),
    ("merge_key.yaml", &["suites/merge_key.yaml:8:5"]),
    (
        "unknown_provider.yaml",
        &["suites/unknown_provider.yaml:2:11"],
    ),
    ("wrong_type.yaml", &["suites/wrong_type.yaml:6:13"]),
];

/// The same for the config fixtures. `missing_config.yaml` does not exist:
/// its error names only the file.
const CONFIG_LOCATIONS: &[(&str, &[&str])] = &[
    ("bad_gate.yaml", &["config/bad_gate.yaml:7:18"]),
    // The errors are in the responses file the mock provider points at.
    (
        "bad_mock_responses.yaml",
        &[
            "data/bad_responses.yaml:5:13",
            "data/bad_responses.yaml:7:5",
        ],
    ),
    (
        "echo_with_responses.yaml",
        &["config/echo_with_responses.yaml:5:22"],
    ),
    // The parser notices the unclosed `{` (4:12) only at the next key (5:1); the hint names it.
    ("malformed_yaml.yaml", &["config/malformed_yaml.yaml:5:1"]),
    ("missing_config.yaml", &["config/missing_config.yaml"]),
    (
        "unknown_default_provider.yaml",
        &["config/unknown_default_provider.yaml:2:19"],
    ),
    ("unknown_key.yaml", &["config/unknown_key.yaml:3:1"]),
    (
        "unknown_judge_provider.yaml",
        &["config/unknown_judge_provider.yaml:3:17"],
    ),
    (
        "openai_missing_model.yaml",
        &["config/openai_missing_model.yaml:6:5"],
    ),
    // The value is neither shown nor quoted: it may be a real key.
    ("key_in_config.yaml", &["config/key_in_config.yaml:9:18"]),
    (
        "param_for_other_type.yaml",
        &["config/param_for_other_type.yaml:9:5"],
    ),
    (
        "http_output_not_pointer.yaml",
        &["config/http_output_not_pointer.yaml:9:13"],
    ),
    (
        "replay_unknown_provider.yaml",
        &["config/replay_unknown_provider.yaml:6:32"],
    ),
    ("replay_of_mock.yaml", &["config/replay_of_mock.yaml:6:32"]),
    (
        "bad_retry_settings.yaml",
        &[
            "config/bad_retry_settings.yaml:8:18",
            "config/bad_retry_settings.yaml:9:14",
        ],
    ),
    (
        "unknown_provider_type.yaml",
        &["config/unknown_provider_type.yaml:5:16"],
    ),
    (
        "unknown_gate_names.yaml",
        &[
            "config/unknown_gate_names.yaml:8:5",
            "config/unknown_gate_names.yaml:10:5",
        ],
    ),
];

/// Errors that can only name a file, never a position in it.
const NO_POSITION: &[&str] = &[
    "config/missing_config.yaml",
    "suites/invalid_utf8.yaml",
    "suites/empty_suite.yaml",
];

/// Sorted files (not directories) directly in `dir` (relative to the repo root).
fn files_in(dir: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(repo().join(dir))
        .unwrap_or_else(|e| panic!("read {dir}: {e}"))
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.is_file())
        .map(|p| Path::new(dir).join(p.file_name().unwrap()))
        .collect();
    v.sort();
    v
}

fn name_of(p: &Path) -> String {
    p.file_name().unwrap().to_string_lossy().into_owned()
}

fn stem_of(p: &Path) -> String {
    p.file_stem().unwrap().to_string_lossy().into_owned()
}

/// What a fixture's mistake is, for the snapshot header: its first `# comment`
/// line, or the `description` of a JSON file (JSON has no comments).
fn description(p: &Path) -> String {
    let Ok(bytes) = std::fs::read(repo().join(p)) else {
        return "(file does not exist)".to_string();
    };
    let text = String::from_utf8_lossy(&bytes);
    if p.extension().is_some_and(|e| e == "json") {
        let re = regex::Regex::new(r#""description":\s*"([^"]*)""#).unwrap();
        if let Some(c) = re.captures(&text) {
            return c[1].to_string();
        }
    }
    text.lines().next().unwrap_or("").trim().to_string()
}

/// `file`, `line`, `col` of every `  --> ` location line.
fn locations(stderr: &str) -> Vec<(String, Option<(usize, usize)>)> {
    let re = regex::Regex::new(r"(?m)^  --> (.+?)(?::(\d+):(\d+))?$").unwrap();
    re.captures_iter(stderr)
        .map(|c| {
            let pos = c
                .get(2)
                .map(|l| (l.as_str().parse().unwrap(), c[3].parse().unwrap()));
            (c[1].to_string(), pos)
        })
        .collect()
}

/// The closing `error: N problem(s) in M file(s); nothing was run` numbers.
fn closing_counts(stderr: &str) -> Option<(usize, usize)> {
    let re = regex::Regex::new(r"(?m)^error: (\d+) problems? in (\d+) files?; nothing was run$")
        .unwrap();
    let c = re.captures_iter(stderr).last()?;
    Some((c[1].parse().unwrap(), c[2].parse().unwrap()))
}

/// Check one invalid-input run; returns every problem found (empty: fine).
fn check_invalid(label: &str, r: &Run, expected: &[&str], cwd: &Path) -> Vec<String> {
    let mut problems = Vec::new();
    let mut fail = |m: String| problems.push(format!("{label}: {m}"));
    if r.code != 2 {
        fail(format!("exit code {} (want 2)", r.code));
    }
    if r.stderr.contains("panicked") || r.stderr.contains("RUST_BACKTRACE") {
        fail("panicked".into());
    }
    if !r.stdout.is_empty() {
        fail(format!("unexpected stdout: {}", r.stdout));
    }
    if !r.stderr.starts_with("error: ") {
        fail("stderr does not start with `error: `".into());
    }
    for want in expected {
        if !r.stderr.contains(&format!("  --> {CORPUS}/{want}\n")) {
            fail(format!("no error at {CORPUS}/{want}"));
        }
    }
    let locs = locations(&r.stderr);
    if locs.is_empty() {
        fail("no `  --> file:line:col` location".into());
    }
    for (file, pos) in &locs {
        let rel = file.strip_prefix(&format!("{CORPUS}/")).unwrap_or(file);
        match pos {
            None if NO_POSITION.contains(&rel) => {}
            None => fail(format!("{file}: location without line:col")),
            Some(_) if NO_POSITION.contains(&rel) => fail(format!("{file}: unexpected line:col")),
            Some((line, col)) => {
                // The position must exist in the named file.
                match std::fs::read_to_string(cwd.join(file)) {
                    Ok(text) => {
                        let lines: Vec<&str> = text.lines().collect();
                        let ok = *line >= 1
                            && *col >= 1
                            && (lines.is_empty() && *line == 1 && *col == 1
                                || lines
                                    .get(line - 1)
                                    .is_some_and(|l| *col <= l.chars().count() + 1));
                        if !ok {
                            fail(format!("{file}:{line}:{col} is outside the file"));
                        }
                    }
                    Err(e) => fail(format!(
                        "{file}: cannot read the file named in the error: {e}"
                    )),
                }
            }
        }
    }
    match closing_counts(&r.stderr) {
        Some((n, _)) if n == locs.len() => {}
        Some((n, _)) => fail(format!(
            "closing line counts {n} problems, {} are shown",
            locs.len()
        )),
        None => fail("no closing `error: N problems in M files; nothing was run` line".into()),
    }
    problems
}

/// Snapshot `stderr` as `name`, collecting a mismatch instead of stopping the loop.
fn snapshot(name: &str, description: &str, stderr: &str, problems: &mut Vec<String>) {
    let result = catch_unwind(AssertUnwindSafe(|| {
        insta::with_settings!({description => description, omit_expression => true}, {
            insta::assert_snapshot!(name.to_string(), stderr);
        });
    }));
    if result.is_err() {
        problems.push(format!(
            "{name}: snapshot differs (review with `cargo insta review`)"
        ));
    }
}

fn expected_for<'a>(table: &[(&str, &'a [&'a str])], name: &str) -> Option<&'a [&'a str]> {
    table.iter().find(|(n, _)| *n == name).map(|(_, l)| *l)
}

#[test]
fn every_invalid_suite_is_rejected_with_its_location() {
    let files = files_in(SUITES);
    assert!(files.len() >= 24, "corpus went missing: {files:?}");
    let mut problems = Vec::new();
    for f in &files {
        let name = name_of(f);
        let r = run(
            &repo(),
            &["validate", "--config", CONFIG, f.to_str().unwrap()],
        );
        let Some(expected) = expected_for(SUITE_LOCATIONS, &name) else {
            problems.push(format!(
                "{name}: add its expected location to SUITE_LOCATIONS"
            ));
            continue;
        };
        // The suite file itself is named, unless the mistake is in the dataset it reads.
        let shown = expected
            .iter()
            .any(|l| l.starts_with(&format!("suites/{name}")));
        if shown && !r.stderr.contains(&f.to_string_lossy().into_owned()) {
            problems.push(format!("{name}: the file is not named"));
        }
        problems.extend(check_invalid(&name, &r, expected, &repo()));
        snapshot(
            &format!("suite_{}", stem_of(f)),
            &description(f),
            &r.stderr,
            &mut problems,
        );
    }
    for (name, _) in SUITE_LOCATIONS {
        if !files.iter().any(|f| name_of(f) == *name) {
            problems.push(format!(
                "{name}: listed in SUITE_LOCATIONS but not in {SUITES}"
            ));
        }
    }
    assert!(problems.is_empty(), "\n{}", problems.join("\n"));
}

#[test]
fn every_invalid_config_is_rejected_with_its_location() {
    let mut files = files_in(CONFIGS);
    assert!(files.len() >= 5, "corpus went missing: {files:?}");
    // Not a file: `--config` naming a file that does not exist.
    let missing = Path::new(CONFIGS).join("missing_config.yaml");
    assert!(!repo().join(&missing).exists());
    files.push(missing);
    let mut problems = Vec::new();
    for f in &files {
        let name = name_of(f);
        let r = run(&repo(), &["validate", "--config", f.to_str().unwrap()]);
        let Some(expected) = expected_for(CONFIG_LOCATIONS, &name) else {
            problems.push(format!(
                "{name}: add its expected location to CONFIG_LOCATIONS"
            ));
            continue;
        };
        let shown = expected
            .iter()
            .any(|l| l.starts_with(&format!("config/{name}")));
        if shown && !r.stderr.contains(&f.to_string_lossy().into_owned()) {
            problems.push(format!("{name}: the file is not named"));
        }
        problems.extend(check_invalid(
            &format!("config/{name}"),
            &r,
            expected,
            &repo(),
        ));
        snapshot(
            &format!("config_{}", stem_of(f)),
            &description(f),
            &r.stderr,
            &mut problems,
        );
    }
    for (name, _) in CONFIG_LOCATIONS {
        if !files.iter().any(|f| name_of(f) == *name) {
            problems.push(format!(
                "{name}: listed in CONFIG_LOCATIONS but not in {CONFIGS}"
            ));
        }
    }
    assert!(problems.is_empty(), "\n{}", problems.join("\n"));
}

/// The diagnostics of one run (each `error: ` block), without the closing count line.
fn blocks(stderr: &str) -> Vec<String> {
    let cut = stderr.rfind("error: ").expect("closing line");
    let mut out: Vec<String> = Vec::new();
    for line in stderr[..cut].lines() {
        match out.last_mut() {
            Some(b) if !line.starts_with("error: ") => {
                b.push_str(line);
                b.push('\n');
            }
            _ => out.push(format!("{line}\n")),
        }
    }
    out
}

#[test]
fn a_whole_directory_reports_every_file_together() {
    let files = files_in(SUITES);
    let all = run(&repo(), &["validate", "--config", CONFIG, SUITES]);
    assert_eq!(all.code, 2, "{}", all.stderr);
    assert!(!all.stderr.contains("panicked"), "{}", all.stderr);
    // Exactly the errors of validating each file alone, all of them in one
    // output, with one closing line for all of them.
    let mut expected = Vec::new();
    let mut total = 0;
    for f in &files {
        let one = run(
            &repo(),
            &["validate", "--config", CONFIG, f.to_str().unwrap()],
        );
        let (n, _) = closing_counts(&one.stderr)
            .unwrap_or_else(|| panic!("{}: {}", f.display(), one.stderr));
        total += n;
        expected.extend(blocks(&one.stderr));
    }
    let mut got = blocks(&all.stderr);
    got.sort();
    expected.sort();
    assert_eq!(got.len(), total);
    assert_eq!(got, expected, "{}", all.stderr);
    let closing = format!(
        "error: {total} problems in {} files; nothing was run\n",
        files.len()
    );
    assert!(
        all.stderr.ends_with(&closing),
        "want {closing:?}:\n{}",
        all.stderr
    );
}

/// A copy of the corpus in a scratch directory (so a run could write reports there).
fn corpus_copy() -> Project {
    fn copy(from: &Path, to: &Path) {
        std::fs::create_dir_all(to).unwrap();
        for e in std::fs::read_dir(from).unwrap() {
            let p = e.unwrap().path();
            let dest = to.join(p.file_name().unwrap());
            if p.is_dir() {
                copy(&p, &dest);
            } else {
                std::fs::copy(&p, &dest).unwrap();
            }
        }
    }
    let p = Project::new();
    copy(&repo().join(CORPUS), p.path());
    p
}

#[test]
fn run_rejects_every_invalid_input_and_writes_no_reports() {
    let p = corpus_copy();
    let mut problems = Vec::new();
    let no_reports = |what: &str, r: &Run, problems: &mut Vec<String>| {
        if r.code != 2 {
            problems.push(format!(
                "{what}: run exit code {} (want 2)\n{}",
                r.code, r.stderr
            ));
        }
        if r.stderr.contains("panicked") {
            problems.push(format!("{what}: panicked"));
        }
        if r.stdout.contains("gate:") {
            problems.push(format!("{what}: something ran\n{}", r.stdout));
        }
        for dir in ["reports", "config/reports"] {
            if p.path().join(dir).exists() {
                problems.push(format!("{what}: {dir}/ was created"));
                let _ = std::fs::remove_dir_all(p.path().join(dir));
            }
        }
    };
    for f in files_in(SUITES) {
        let rel = format!("suites/{}", name_of(&f));
        let r = p.run(&["run", "--config", "evalgate.yaml", &rel]);
        no_reports(&rel, &r, &mut problems);
        // `run` says exactly what `validate` says.
        let v = p.run(&["validate", "--config", "evalgate.yaml", &rel]);
        if r.stderr != v.stderr {
            problems.push(format!(
                "{rel}: run and validate disagree:\n{}\n---\n{}",
                r.stderr, v.stderr
            ));
        }
    }
    for f in files_in(CONFIGS) {
        let rel = format!("config/{}", name_of(&f));
        let r = p.run(&["run", "--config", &rel]);
        no_reports(&rel, &r, &mut problems);
    }
    // No arguments: evalgate.yaml and its default suite globs find the whole corpus.
    let r = p.run(&["run"]);
    no_reports("run (all suites)", &r, &mut problems);
    let n = files_in(SUITES).len();
    if closing_counts(&r.stderr).map(|c| c.1) != Some(n) {
        problems.push(format!(
            "run (all suites): want problems in {n} files:\n{}",
            r.stderr
        ));
    }
    assert!(problems.is_empty(), "\n{}", problems.join("\n"));
}

#[test]
fn missing_suite_path_names_only_the_path() {
    let r = run(
        &repo(),
        &[
            "validate",
            "--config",
            CONFIG,
            "fixtures/invalid/suites/no_such_suite.yaml",
        ],
    );
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert_eq!(
        locations(&r.stderr),
        vec![(
            "fixtures/invalid/suites/no_such_suite.yaml".to_string(),
            None
        )]
    );
    insta::assert_snapshot!("missing_suite_path", r.stderr);
}

#[test]
fn zero_byte_suite_file() {
    let p = Project::new();
    p.file("evalgate.yaml", "providers:\n  mock: {type: mock}\n");
    p.file("suites/empty.yaml", "");
    let r = p.run(&["validate"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(!r.stderr.contains("panicked"), "{}", r.stderr);
    insta::assert_snapshot!("zero_byte_suite", r.stderr);
}

/// Config errors and suite errors are all reported in one go.
#[test]

fn config_and_suite_errors_are_reported_together() {
    let r = run(
        &repo(),
        &[
            "validate",
            "--config",
            "fixtures/invalid/config/unknown_key.yaml",
            "fixtures/invalid/suites/unknown_check.yaml",
        ],
    );
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains("config/unknown_key.yaml:3:1"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains("suites/unknown_check.yaml:7:9"),
        "{}",
        r.stderr
    );
}

/// A missing path on the command line does not hide the errors of the other files.
#[test]

fn missing_path_and_other_errors_are_reported_together() {
    let r = run(
        &repo(),
        &[
            "validate",
            "--config",
            CONFIG,
            "fixtures/invalid/suites/no_such_suite.yaml",
            "fixtures/invalid/suites/unknown_check.yaml",
        ],
    );
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("no_such_suite.yaml"), "{}", r.stderr);
    assert!(
        r.stderr.contains("suites/unknown_check.yaml:7:9"),
        "{}",
        r.stderr
    );
}

/// A valid project for the command-line checks.
fn valid_project() -> Project {
    let p = Project::with_mock(
        "responses:\n  - case: france\n    reply: The capital of France is Paris.\n",
    );
    p.file(
        "suites/ok.yaml",
        &std::fs::read_to_string(repo().join(CONFIGS).join("suites/ok.yaml")).unwrap(),
    );
    let r = p.run(&["validate"]);
    assert_eq!(r.code, 0, "the project must be valid: {}", r.stderr);
    p
}

fn assert_usage_error(p: &Project, r: &Run) {
    assert_eq!(r.code, 2, "{}\n{}", r.stdout, r.stderr);
    assert!(!r.stderr.contains("panicked"), "{}", r.stderr);
    assert!(r.stderr.starts_with("error: "), "{}", r.stderr);
    assert!(!p.path().join("reports").exists(), "reports were written");
}

#[test]
fn conflicting_report_flags() {
    let p = valid_project();
    let r = p.run(&["run", "--no-reports", "--junit", "x.xml"]);
    assert_usage_error(&p, &r);
    assert!(!p.path().join("x.xml").exists());
    insta::assert_snapshot!("flags_no_reports_with_junit", r.stderr);
}

#[test]
fn min_pass_rate_out_of_range() {
    let p = valid_project();
    for rate in ["1.5", "-0.1", "NaN"] {
        // `=` so that clap takes `-0.1` as the value, not as a flag.
        let r = p.run(&["run", &format!("--min-pass-rate={rate}")]);
        assert_usage_error(&p, &r);
        assert!(r.stderr.contains(&format!("got {rate}")), "{}", r.stderr);
    }
    let r = p.run(&["run", "--min-pass-rate", "1.5"]);
    insta::assert_snapshot!("flags_min_pass_rate", r.stderr);
}

#[test]
fn unknown_provider_flag() {
    let p = valid_project();
    let r = p.run(&["run", "--provider", "mokc"]);
    assert_usage_error(&p, &r);
    assert!(r.stderr.contains("did you mean `mock`?"), "{}", r.stderr);
    insta::assert_snapshot!("flags_unknown_provider_close", r.stderr);
    let r = p.run(&["run", "--provider", "nope"]);
    assert_usage_error(&p, &r);
    assert!(r.stderr.contains("echo, mock"), "{}", r.stderr);
    insta::assert_snapshot!("flags_unknown_provider_far", r.stderr);
    let r = p.run(&["validate", "--provider", "nope"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
}

#[test]
fn filter_matching_nothing() {
    let p = valid_project();
    let r = p.run(&["run", "--filter", "no-such-suite"]);
    assert_usage_error(&p, &r);
    insta::assert_snapshot!("flags_filter_matches_nothing", r.stderr);
    let r = p.run(&["run", "--tag", "no-such-tag"]);
    assert_usage_error(&p, &r);
}

#[test]
fn report_in_a_directory_that_cannot_be_created() {
    let p = valid_project();
    p.file("file.txt", "a regular file, not a directory\n");
    let junit = p.path().join("file.txt/sub/junit.xml");
    let r = p.run(&["run", "--junit", junit.to_str().unwrap()]);
    assert_eq!(r.code, 3, "{}\n{}", r.stdout, r.stderr);
    assert!(!r.stderr.contains("panicked"), "{}", r.stderr);
    assert!(
        r.stderr.contains(junit.to_str().unwrap()),
        "the path is named: {}",
        r.stderr
    );
    assert!(!r.stdout.contains("gate:"), "nothing runs: {}", r.stdout);
    let stderr = r.stderr.replace(p.path().to_str().unwrap(), "[TMP]");
    insta::assert_snapshot!("report_dir_cannot_be_created", normalize(&stderr));
}

/// Every phase of loading reports into one batch: a broken suite, a gate
/// naming an unknown suite, a duplicate suite name and a missing credential are
/// all reported by the first run, so fixing them never reveals a second batch.
#[test]
fn problems_of_every_loading_phase_come_in_one_batch() {
    let p = Project::new();
    p.file(
        "evalgate.yaml",
        "providers:\n  live: {type: openai, base_url: 'http://127.0.0.1:9/v1', model: m, api_key_env: EVALGATE_TEST_NO_SUCH_KEY}\ngate:\n  suites: {nosuch: {min_pass_rate: 0.5}}\n",
    );
    p.file(
        "suites/a.yaml",
        "name: a\nprovider: live\nprompt: \"{{ q }}\"\ncases:\n  - id: one\n    vars: {q: x}\n    checks: [{contians: x}]\n",
    );
    p.file(
        "suites/b.yaml",
        "name: b\nprompt: \"{{ q }}\"\ncases:\n  - id: one\n    vars: {q: x}\n    checks: [{contains: x}]\n",
    );
    p.file(
        "suites/c.yaml",
        "name: c\nprovider: live\nprompt: \"{{ q }}\"\ncases:\n  - id: one\n    vars: {q: x}\n    checks: [{contains: x}]\n",
    );
    p.file(
        "suites/d.yaml",
        "name: c\nprovider: live\nprompt: \"{{ q }}\"\ncases:\n  - id: one\n    vars: {q: x}\n    checks: [{contains: x}]\n",
    );
    let mut cmd = evalgate(p.path());
    cmd.env_remove("EVALGATE_TEST_NO_SUCH_KEY").arg("run");
    let r = Run::from(cmd.output().unwrap());
    assert_eq!(r.code, 2, "{}", r.stderr);
    for expected in [
        "unknown check `contians`",
        "the gate names suite `nosuch`, which no suite defines",
        "duplicate suite name `c`",
        "`EVALGATE_TEST_NO_SUCH_KEY`",
    ] {
        assert!(r.stderr.contains(expected), "{expected}: {}", r.stderr);
    }
    assert!(!p.exists("reports"), "nothing runs on invalid input");
}

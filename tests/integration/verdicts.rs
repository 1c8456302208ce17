//! Issue 10 end to end: verdicts that say what the README says (a case
//! whose checks all pass never fails), and the golden workflow in a team
//! (merge conflicts, broken pending files, matrices, long ids, prune).

use crate::util::Project;

fn golden_project(reply: &str) -> Project {
    let p = Project::with_mock(&format!("responses:\n  - case: fr\n    reply: {reply:?}\n"));
    p.file(
        "suites/geo.yaml",
        "name: geo\nprompt: 'Capital of {{ c }}?'\ncases:\n  - id: fr\n    vars: {c: France}\n    checks: [golden]\n",
    );
    p
}

#[test]
fn a_case_whose_checks_all_pass_passes_under_any_threshold() {
    let p = Project::with_mock("default: The capital is Rome\n");
    p.file(
        "suites/s.yaml",
        "prompt: hi\ncases:\n  - id: close\n    threshold: 0.99\n    checks:\n      - levenshtein: {value: The capital is Rome., min_similarity: 0.9}\n      - contains: {any: [Lyon, Nice]}\n        not: true\n",
    );
    let r = p.run(&["run"]);
    assert_eq!(r.code, 0, "{}", r.stdout);
    let v = p.json_report();
    assert_eq!(v["results"][0]["outcome"], "pass");
    assert_eq!(v["results"][0]["attempts"][0]["score"], 1.0);
    let checks = &v["results"][0]["attempts"][0]["checks"];
    assert_eq!(checks[0]["score"], 1.0, "a passing check scores 1");
    assert_eq!(checks[1]["score"], 1.0);
}

#[test]
fn a_threshold_lets_failed_checks_pass_on_partial_credit_and_says_why_it_fails() {
    let p = Project::with_mock("default: Paris\n");
    p.file(
        "suites/s.yaml",
        "prompt: hi\ncases:\n  - id: low\n    threshold: 0.9\n    checks:\n      - contains: [Paris, France]\n",
    );
    let r = p.run(&["run"]);
    assert_eq!(r.code, 1, "{}", r.stdout);
    assert!(
        r.stdout.contains("fail (score 0.50): 1 of 1 check failed"),
        "{}",
        r.stdout
    );
}

#[test]
fn ambiguous_negation_is_refused_at_validation_with_file_line_and_hint() {
    let p = Project::with_mock("default: x\n");
    p.file(
        "suites/s.yaml",
        "prompt: hi\ncases:\n  - id: c\n    checks:\n      - contains: [secret, password]\n        not: true\n",
    );
    let r = p.run(&["validate"]);
    assert_eq!(r.code, 2, "{}", r.stdout);
    // The message snapshot is in the invalid corpus (ambiguous_negation.yaml).
    assert!(r.stderr.contains("suites/s.yaml:6:9"), "{}", r.stderr);
    assert!(
        r.stderr
            .contains("hint: write `contains: {any: [secret, password]}` with `not: true`"),
        "{}",
        r.stderr
    );
}

#[test]
fn a_hand_written_golden_ends_like_a_text_file() {
    let p = golden_project("Paris");
    // Header + the raw output + the newline an editor adds.
    p.file(
        "golden/geo/fr.txt",
        "---\nsuite: geo\ncase: fr\nprovider: mock\n---\nParis\n",
    );
    let r = p.run(&["run"]);
    assert_eq!(r.code, 0, "{}", r.stdout);
    // An output that ends in a newline needs an empty last line; the failure says so.
    let p = golden_project("Paris\n");
    p.file(
        "golden/geo/fr.txt",
        "---\nsuite: geo\ncase: fr\nprovider: mock\n---\nParis\n",
    );
    let r = p.run(&["run"]);
    assert_eq!(r.code, 1, "{}", r.stdout);
    assert!(
        r.stdout.contains("they differ only in a trailing newline"),
        "{}",
        r.stdout
    );
    p.file(
        "golden/geo/fr.txt",
        "---\nsuite: geo\ncase: fr\nprovider: mock\n---\nParis\n\n",
    );
    assert_eq!(p.run(&["run"]).code, 0);
}

#[test]
fn a_golden_with_a_merge_conflict_is_reviewable_and_replaceable() {
    let p = golden_project("Paris");
    p.file(
        "golden/geo/fr.txt",
        "---\nsuite: geo\ncase: fr\nprovider: mock\n<<<<<<< HEAD\nprompt_hash: sha256:aaa\n=======\nprompt_hash: sha256:bbb\n>>>>>>> topic\n---\nParis\n",
    );
    let r = p.run_local(&["run"]);
    assert_eq!(r.code, 1, "{}", r.stdout);
    assert!(r.stdout.contains("merge conflict markers"), "{}", r.stdout);
    assert!(p.exists("golden/geo/fr.txt.new"));
    let r = p.run(&["golden", "pending"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout
            .starts_with("geo/fr  (replaces an unreadable golden)  golden/geo/fr.txt.new"),
        "{}",
        r.stdout
    );
    let r = p.run(&["golden", "accept"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(!p.read("golden/geo/fr.txt").contains("<<<<<<<"));
    assert_eq!(p.run_local(&["run"]).code, 0);
    // Accepting the same output twice writes the same file: no timestamp to conflict on.
    let first = p.read("golden/geo/fr.txt");
    assert!(!first.contains("accepted_at"), "{first}");
}

#[test]
fn a_malformed_pending_file_is_reported_and_skipped_and_reject_always_works() {
    let p = golden_project("Paris");
    p.file(
        "suites/geo.yaml",
        "name: geo\nprompt: hi\ncases:\n  - {id: fr, checks: [golden]}\n  - {id: de, checks: [golden]}\n",
    );
    p.file("mock.yaml", "default: Berlin\n");
    assert_eq!(p.run_local(&["run"]).code, 1);
    p.file("golden/geo/fr.txt.new", "garbage, no header\n");
    let r = p.run(&["golden", "pending"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("geo/de  (new)"), "{}", r.stdout);
    assert!(
        r.stdout
            .contains("geo/fr  (unreadable)  golden/geo/fr.txt.new"),
        "{}",
        r.stdout
    );
    assert!(
        r.stderr.contains("warning: skipped golden/geo/fr.txt.new: golden file `golden/geo/fr.txt.new` is malformed"),
        "{}",
        r.stderr
    );
    // accept takes the good one, skips the bad one, and says so (exit 2).
    let r = p.run(&["golden", "accept"]);
    assert_eq!(r.code, 2, "{}", r.stdout);
    assert!(r.stdout.contains("accepted geo/de"), "{}", r.stdout);
    assert!(p.exists("golden/geo/de.txt"));
    assert!(
        r.stderr.contains("evalgate golden reject 'geo/fr'"),
        "{}",
        r.stderr
    );
    // reject deletes it.
    let r = p.run(&["golden", "reject", "geo/fr"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(!p.exists("golden/geo/fr.txt.new"));
}

#[test]
fn accept_or_reject_with_a_filter_that_matches_nothing_is_an_error() {
    let p = golden_project("Paris");
    assert_eq!(p.run_local(&["run"]).code, 1);
    let r = p.run(&["golden", "accept", "nosuch"]);
    assert_eq!(r.code, 2, "{}", r.stdout);
    assert!(
        r.stderr
            .contains("no pending golden change matches `nosuch`"),
        "{}",
        r.stderr
    );
    let r = p.run(&["golden", "reject", "geo/nosuch"]);
    assert_eq!(r.code, 2);
    assert!(p.exists("golden/geo/fr.txt.new"));
}

#[test]
fn prune_removes_the_directories_it_empties() {
    let p = golden_project("Paris");
    assert_eq!(p.run_local(&["run", "--update-golden", "new"]).code, 0);
    p.file(
        "golden/gone/x.txt",
        "---\nsuite: gone\ncase: x\nprovider: mock\n---\nx\n",
    );
    let r = p.run(&["golden", "prune"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout.contains("removed empty directory golden/gone"),
        "{}",
        r.stdout
    );
    assert!(!p.exists("golden/gone"));
    assert!(p.exists("golden/geo/fr.txt"));
}

#[test]
fn a_matrix_sharing_goldens_warns_and_suggests_per_provider() {
    let p = golden_project("Paris");
    let r = p.run(&["validate", "--provider", "mock", "--provider", "echo"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stderr.contains(
            "warning: suite `geo` runs against `mock`, `echo` and its goldens are shared"
        ),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("per_provider: true"), "{}", r.stderr);
    p.file(
        "suites/geo.yaml",
        "name: geo\nprompt: hi\ncases:\n  - {id: fr, checks: [{golden: {per_provider: true}}]}\n",
    );
    let r = p.run(&["validate", "--provider", "mock", "--provider", "echo"]);
    assert!(!r.stderr.contains("warning"), "{}", r.stderr);
}

#[test]
fn a_case_id_too_long_for_a_file_name_is_refused_at_validation() {
    let p = Project::with_mock("default: x\n");
    let id = "a".repeat(300);
    p.file(
        "suites/s.yaml",
        &format!("name: s\nprompt: hi\ncases:\n  - id: {id}\n    checks: [golden]\n"),
    );
    let r = p.run(&["validate"]);
    assert_eq!(r.code, 2, "{}", r.stdout);
    assert!(
        r.stderr
            .contains("this case id makes the golden file name 308 bytes long"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("suites/s.yaml:4:9"), "{}", r.stderr);
    // Without a golden check the id is fine.
    p.file(
        "suites/s.yaml",
        &format!("name: s\nprompt: hi\ncases:\n  - id: {id}\n    checks: [contains: x]\n"),
    );
    assert_eq!(p.run(&["validate"]).code, 0);
}

#[test]
fn json_goldens_are_stored_in_the_order_the_diffs_show() {
    let p = golden_project(r#"{"b": 1, "a": 2}"#);
    p.file(
        "suites/geo.yaml",
        "name: geo\nprompt: hi\ncases:\n  - id: fr\n    checks: [{golden: {mode: json}}]\n",
    );
    assert_eq!(p.run_local(&["run", "--update-golden", "new"]).code, 0);
    assert!(
        p.read("golden/geo/fr.json")
            .ends_with("---\n{\n  \"a\": 2,\n  \"b\": 1\n}\n"),
        "{}",
        p.read("golden/geo/fr.json")
    );
}

#[test]
fn filtered_runs_count_only_the_suites_they_select() {
    let p = Project::with_mock("default: Paris\n");
    p.file(
        "suites/a.yaml",
        "name: a\nprompt: hi\ncases:\n  - {id: x, checks: [contains: Paris]}\n",
    );
    p.file(
        "suites/b.yaml",
        "name: b\nprompt: hi\ncases:\n  - {id: y, checks: [contains: Paris]}\n",
    );
    let r = p.run(&["run", "--filter", "a"]);
    assert_eq!(r.code, 0, "{}", r.stdout);
    assert!(r.stdout.contains("· 1 suite · 1 case ·"), "{}", r.stdout);
    assert_eq!(p.json_report()["run"]["suites"], serde_json::json!(["a"]));
}

#[test]
fn the_config_hash_covers_the_goldens() {
    let p = golden_project("Paris");
    assert_eq!(p.run_local(&["run", "--update-golden", "new"]).code, 0);
    let hash = |p: &Project| p.json_report()["run"]["config_hash"].clone();
    assert_eq!(p.run(&["run"]).code, 0);
    let before = hash(&p);
    // The same output under a different name in the header: the golden still
    // matches, but the file the run read changed.
    let g = p
        .read("golden/geo/fr.txt")
        .replace("provider: mock", "provider: other");
    p.file("golden/geo/fr.txt", &g);
    assert_eq!(p.run(&["run"]).code, 0);
    assert_ne!(before, hash(&p));
}

#[test]
fn the_markdown_summary_shows_a_golden_diff_once() {
    let p = golden_project("The capital is Paris.");
    assert_eq!(p.run_local(&["run", "--update-golden", "new"]).code, 0);
    p.file("mock.yaml", "default: The capital is Lyon.\n");
    assert_eq!(p.run(&["run"]).code, 1);
    let md = p.read("reports/summary.md");
    assert_eq!(md.matches("+The capital is Lyon.").count(), 1, "{md}");
    assert!(md.contains("<summary>diff: golden</summary>"), "{md}");
}

#[test]
fn quiet_starts_with_the_verdict_and_verbose_marks_flaky_passes() {
    let p = Project::with_mock("responses:\n  - case: f\n    replies: [ok, ok, bad]\n");
    p.file(
        "suites/s.yaml",
        "name: s\nprompt: hi\ncases:\n  - {id: f, repeat: 3, min_passes: 2, checks: [contains: ok]}\n",
    );
    let r = p.run(&["run", "-q"]);
    assert_eq!(r.code, 0, "{}", r.stdout);
    assert!(!r.stdout.starts_with('\n'), "{:?}", r.stdout);
    let r = p.run(&["run", "-v"]);
    assert!(
        r.stdout
            .contains("~ pass  s/f  (flaky: 2 of 3 repeats passed)"),
        "{}",
        r.stdout
    );
}

#[test]
fn a_broken_suite_is_not_also_reported_as_missing_from_the_gate() {
    let p = Project::with_mock("default: x\n");
    p.file(
        "evalgate.yaml",
        "default_provider: mock\nproviders:\n  mock: {type: mock, responses: mock.yaml}\ngate:\n  suites: {s: {min_pass_rate: 1.0}}\n",
    );
    p.file(
        "suites/s.yaml",
        "name: s\nprompt: hi\ncases:\n  - {id: c, checks: [contians: x]}\n",
    );
    let r = p.run(&["validate"]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("unknown check `contians`"),
        "{}",
        r.stderr
    );
    assert!(!r.stderr.contains("which no suite defines"), "{}", r.stderr);
}

#[test]
fn a_subdirectory_of_the_project_finds_evalgate_yaml_above() {
    let p = golden_project("Paris");
    p.file(
        "golden/geo/fr.txt",
        "---\nsuite: geo\ncase: fr\nprovider: mock\n---\nParis\n",
    );
    let sub = p.path().join("suites");
    let r = crate::util::run(&sub, &["run", "--no-reports"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("1 suite · 1 case"), "{}", r.stdout);
    let r = crate::util::run(&sub, &["golden", "pending"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
}

#[test]
fn a_duration_without_a_unit_is_refused_with_the_fix() {
    let p = Project::with_mock("default: x\n");
    p.file(
        "suites/s.yaml",
        "name: s\nprompt: hi\ndefaults:\n  timeout: 10\ncases:\n  - {id: c, checks: [contains: x]}\n",
    );
    let r = p.run(&["validate"]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("`timeout`: `10` has no unit"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("suites/s.yaml:4:12"), "{}", r.stderr);
    assert!(
        r.stderr
            .contains("write `10s` for seconds or `10ms` for milliseconds"),
        "{}",
        r.stderr
    );
}

#[test]
fn validate_refuses_header_names_and_values_run_would_refuse() {
    let p = Project::new();
    p.file(
        "evalgate.yaml",
        "providers:\n  app:\n    type: http\n    url: http://127.0.0.1:9/x\n    headers:\n      \"Bad Name\": x\n      X-Ok: \"café\"\n      X-Fine: \"Bearer ${TOKEN}\"\n",
    );
    p.file(
        "suites/s.yaml",
        "name: s\nprompt: hi\ncases:\n  - {id: c, checks: [contains: x]}\n",
    );
    let r = p.run(&["validate"]);
    assert_eq!(r.code, 2, "{}", r.stdout);
    assert!(
        r.stderr.contains("invalid header name `Bad Name`"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("evalgate.yaml:6:7"), "{}", r.stderr);
    assert!(
        r.stderr
            .contains("the value of header `X-Ok` is not a valid header value"),
        "{}",
        r.stderr
    );
    assert!(!r.stderr.contains("X-Fine"), "{}", r.stderr);
}

#[test]
fn a_hosted_api_without_a_key_is_refused_unless_no_api_key_says_so() {
    let p = Project::new();
    let config = |extra: &str| {
        format!("providers:\n  claude:\n    type: anthropic\n    model: claude-3-5-haiku-latest\n{extra}  oa:\n    type: openai\n    base_url: https://api.openai.com/v1\n    model: gpt-4o-mini\n{extra}  local:\n    type: openai\n    base_url: http://127.0.0.1:8000/v1\n    model: m\ndefault_provider: local\n")
    };
    p.file("evalgate.yaml", &config(""));
    p.file(
        "suites/s.yaml",
        "name: s\nprompt: hi\ncases:\n  - {id: c, checks: [contains: x]}\n",
    );
    let r = p.run(&["validate"]);
    assert_eq!(r.code, 2, "{}", r.stdout);
    assert!(
        r.stderr.contains(
            "provider `claude` sends requests to https://api.anthropic.com without an API key"
        ),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains("add `api_key_env: ANTHROPIC_API_KEY`"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr
            .contains("provider `oa` sends requests to https://api.openai.com/v1"),
        "{}",
        r.stderr
    );
    assert!(!r.stderr.contains("`local`"), "{}", r.stderr);
    p.file("evalgate.yaml", &config("    no_api_key: true\n"));
    let r = p.run(&["validate"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
}

#[test]
fn a_prompt_changed_without_re_recording_is_named_not_an_outage() {
    let p = Project::new();
    p.file(
        "evalgate.yaml",
        "default_provider: app\nproviders:\n  app: {type: exec, command: [cat]}\nreports: {json: reports/report.json}\n",
    );
    let suite = |q: &str| {
        format!("name: s\nprompt: '{q}'\ncases:\n  - {{id: a, checks: [contains: capital]}}\n  - {{id: b, checks: [contains: capital]}}\n")
    };
    p.file("suites/s.yaml", &suite("What is the capital of France?"));
    let r = p.run(&["run", "--record"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert_eq!(p.run(&["run", "--replay"]).code, 0);
    p.file("suites/s.yaml", &suite("What is the capital of Spain?"));
    let r = p.run(&["run", "--replay"]);
    assert_eq!(r.code, 2, "exit 2 (the input changed), not 3: {}", r.stdout);
    assert!(
        r.stdout.contains("2 recordings are stale: the request (prompt, model or parameters) changed since it was recorded"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains("stale recording: messages[0].content changed: recorded \"What is the capital of France?\", now \"What is the capital of Spain?\""),
        "{}",
        r.stdout
    );
}

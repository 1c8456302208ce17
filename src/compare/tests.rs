//! Tests of the comparison: reports are written with the real JSON reporter,
//! read back as baseline and HEAD, and compared.

use std::path::{Path, PathBuf};

use super::*;
use crate::model::{CaseResult, Outcome, RunInfo, StopReason, Verdict};
use crate::report::explain::fixtures::*;
use crate::report::json::JsonReporter;

fn passed_verdict() -> Verdict {
    Verdict {
        passed: true,
        reasons: vec![],
        exit_code: 0,
        warnings: vec![],
    }
}

fn info(suites: &[&str], version: &str) -> RunInfo {
    let mut i = run_info(suites);
    i.evalgate_version = version.to_string();
    i
}

/// Write a report with the real JSON reporter.
fn write_report(
    path: &Path,
    info: &RunInfo,
    cases: &[CaseResult],
    stopped: Option<StopReason>,
) -> PathBuf {
    let mut r = JsonReporter::create(path).unwrap();
    let mut info = info.clone();
    info.planned_cases = cases.len() as u64;
    run(&mut r, &info, cases, &passed_verdict(), stopped).unwrap();
    path.to_path_buf()
}

fn with_latency(mut c: CaseResult, ms: f64) -> CaseResult {
    for a in &mut c.attempts {
        a.timing.latency_ms = ms;
    }
    c
}

fn with_output_tokens(mut c: CaseResult, n: u64) -> CaseResult {
    for a in &mut c.attempts {
        if let Some(u) = a.usage.as_mut() {
            u.output_tokens = n;
            u.total_tokens = u.input_tokens + n;
        }
    }
    c
}

fn with_score(mut c: CaseResult, score: f64) -> CaseResult {
    for a in &mut c.attempts {
        a.score = score;
    }
    c
}

/// A failing case with one of its three checks failing (score 0.67).
fn mostly_failing(suite: &str, name: &str) -> CaseResult {
    let mut c = fail_case(suite, name);
    c.attempts[0].checks[1].passed = true;
    c.attempts[0].checks[1].score = 1.0;
    c.attempts[0].score = 2.0 / 3.0;
    c
}

/// Baseline and HEAD with one case of every transition kind.
fn every_kind() -> (RunInfo, Vec<CaseResult>, RunInfo, Vec<CaseResult>) {
    let base = vec![
        error_case("geo", "berlin"),
        fail_case("geo", "capital"),
        pass_case("geo", "lima"),
        pass_case("geo", "madrid"),
        skipped_case("geo", "oslo"),
        pass_case("geo", "paris"),
        fail_case("geo", "quito"),
        pass_case("geo", "rome"),
        fail_case("geo", "sucre"),
        pass_case("geo", "tokyo"),
        pass_case("math", "add"),
        failing_repeats_case("math", "mul"),
        pass_case("math", "slow"),
        pass_case("math", "steady"),
        pass_case("math", "verbose"),
        pass_case("weather", "rain"),
        pass_case("weather", "sun"),
    ];
    let mut rome = fail_case("geo", "rome");
    rome.attempts[0].checks[0].message =
        "output is missing \"Rome\" | said \"Milan\"\nsecond line".into();
    let head = vec![
        fail_case("geo", "berlin"),
        pass_case("geo", "capital"),
        pass_case("geo", "lima"),
        pass_case("geo", "lisbon"),
        pass_case("geo", "oslo"),
        error_case("geo", "paris"),
        mostly_failing("geo", "quito"),
        fail_case("geo", "rio"),
        rome,
        with_score(fail_case("geo", "sucre"), 0.35),
        skipped_case("geo", "tokyo"),
        flaky_case("math", "add"),
        pass_case("math", "mul"),
        with_latency(pass_case("math", "slow"), 420.5),
        pass_case("math", "steady"),
        with_output_tokens(pass_case("math", "verbose"), 40),
        pass_case("news", "headline"),
    ];
    let mut head_info = info(&["geo", "math", "news"], "0.1.0");
    head_info.started_at = "2025-01-09T10:11:12.345Z".into();
    head_info.git_commit = Some("def5678".into());
    (
        info(&["geo", "math", "weather"], "0.1.0"),
        base,
        head_info,
        head,
    )
}

struct Files {
    _dir: tempfile::TempDir,
    base: PathBuf,
    head: PathBuf,
}

fn every_kind_files() -> Files {
    let dir = tempfile::tempdir().unwrap();
    let (bi, b, hi, h) = every_kind();
    let base = write_report(&dir.path().join("base.json"), &bi, &b, None);
    let head = write_report(&dir.path().join("head.json"), &hi, &h, None);
    Files {
        _dir: dir,
        base,
        head,
    }
}

fn ids<'a>(keys: impl Iterator<Item = &'a CaseKey>) -> Vec<String> {
    keys.map(CaseKey::id).collect()
}

fn assert_every_kind(c: &Comparison) {
    assert_eq!(
        c.regressions
            .iter()
            .map(|r| (r.key.id(), r.before, r.after))
            .collect::<Vec<_>>(),
        [
            ("geo/paris".to_string(), Outcome::Pass, Outcome::Error),
            ("geo/rome".to_string(), Outcome::Pass, Outcome::Fail),
        ]
    );
    assert_eq!(c.regressions(), 2);
    let paris = &c.regressions[0];
    assert_eq!(paris.reason, "timeout after 30000 ms");
    assert_eq!(paris.score_before, Some(1.0));
    assert_eq!(
        paris.score_after, None,
        "an error has no verdict on the answer"
    );
    let rome = &c.regressions[1];
    assert_eq!(
        rome.reason, "contains: output is missing \"Rome\" | said \"Milan\"⏎second line",
        "the first failing check of HEAD, on one line"
    );
    assert!((rome.score_after.unwrap() - 1.0 / 3.0).abs() < 1e-9);
    assert_eq!(rome.key.provider, "mock");

    assert_eq!(
        c.fixed
            .iter()
            .map(|f| (f.key.id(), f.before))
            .collect::<Vec<_>>(),
        [
            ("geo/capital".to_string(), Outcome::Fail),
            ("math/mul".to_string(), Outcome::Fail),
        ]
    );
    assert_eq!(c.failure_kind_changed.len(), 1);
    let k = &c.failure_kind_changed[0];
    assert_eq!(
        (k.key.id(), k.before, k.after),
        ("geo/berlin".to_string(), Outcome::Error, Outcome::Fail)
    );
    assert_eq!(k.reason, "contains: output is missing \"Paris\"");

    assert_eq!(
        c.new
            .iter()
            .map(|n| (n.key.id(), n.outcome))
            .collect::<Vec<_>>(),
        [
            ("geo/lisbon".to_string(), Outcome::Pass),
            ("geo/rio".to_string(), Outcome::Fail),
            ("news/headline".to_string(), Outcome::Pass),
        ]
    );
    assert_eq!(c.new_failures(), 1);
    assert_eq!(c.new[0].reason, None);
    assert_eq!(
        c.new[1].reason.as_deref(),
        Some("contains: output is missing \"Paris\"")
    );

    assert_eq!(ids(c.removed.iter().map(|r| &r.key)), ["geo/madrid"]);
    assert_eq!(c.removed[0].outcome, Outcome::Pass);
    assert_eq!(
        c.not_run,
        [NotRun {
            suite: "weather".into(),
            cases: 2,
            reason: NotRunReason::SuiteNotInHead
        }]
    );

    // Flaky in HEAD only (add) and in the baseline only (mul).
    assert_eq!(
        ids(c.flaky.iter().map(|f| &f.key)),
        ["math/add", "math/mul"]
    );
    let add = &c.flaky[0];
    assert!(!add.before.flaky && add.after.flaky);
    assert_eq!((add.after.passes, add.after.repeats), (2, 3));
    let mul = &c.flaky[1];
    assert!(mul.before.flaky && !mul.after.flaky);
    assert_eq!((mul.before.passes, mul.before.repeats), (1, 3));
    assert_eq!((mul.after.passes, mul.after.repeats), (1, 1));

    assert_eq!(
        c.skipped
            .iter()
            .map(|s| (s.key.id(), s.before, s.after, s.reason.clone()))
            .collect::<Vec<_>>(),
        [
            (
                "geo/oslo".to_string(),
                Outcome::Skipped,
                Outcome::Pass,
                None
            ),
            (
                "geo/tokyo".to_string(),
                Outcome::Pass,
                Outcome::Skipped,
                Some("skipped: needs a live provider".to_string())
            ),
        ]
    );

    // quito moved 0.33 → 0.67 (beyond ±0.05); sucre 0.33 → 0.35 (within);
    // add still passes, but one of its three attempts failed (1.00 → 0.67).
    assert_eq!(
        ids(c.score_changes.iter().map(|s| &s.key)),
        ["geo/quito", "math/add"]
    );
    assert!((c.score_changes[0].delta() - 1.0 / 3.0).abs() < 1e-9);
    assert_eq!(c.score_changes[1].outcome, Outcome::Pass);

    // slow: 120.5 → 420.5 ms; add: one attempt of 120.5 → three of 120.5,
    // 220.5, 320.5 (mean 220.5); mul the other way round. Largest first.
    assert_eq!(
        ids(c.latency_changes.iter().map(|l| &l.key)),
        ["math/slow", "math/add", "math/mul"]
    );
    assert_eq!(c.latency_changes_total, 3);
    assert_eq!(c.latency_changes[0].before_ms, 120.5);
    assert_eq!(c.latency_changes[0].after_ms, 420.5);
    assert_eq!(
        ids(c.token_changes.iter().map(|t| &t.key)),
        ["math/verbose"]
    );
    assert_eq!(c.token_changes[0].output_before, 8.0);
    assert_eq!(c.token_changes[0].output_after, 40.0);
    assert_eq!(c.token_changes[0].input_after, 12.0);

    // Matched: 14 of the baseline's 17 (madrid removed, 2 weather not run).
    assert_eq!(c.matched, 14);
    // lima, sucre, slow, steady and verbose kept outcome and score.
    assert_eq!(c.unchanged, 5);
    assert_eq!((c.base.cases, c.head.cases), (17, 17));
    assert_eq!(c.base.git_commit.as_deref(), Some("abc1234"));
    assert_eq!(c.base.started_at.as_deref(), Some("2025-01-02T03:04:05Z"));
    assert_eq!(c.head.git_commit.as_deref(), Some("def5678"));

    let suites: Vec<&str> = c.suites.iter().map(|s| s.suite.as_str()).collect();
    assert_eq!(suites, ["geo", "math", "news", "weather"]);
    let math = &c.suites[1];
    assert!(math.latency_changed, "{math:?}");
    assert!(!math.input_tokens_changed, "{math:?}");
    assert!(math.output_tokens_changed, "{math:?}");
    assert!(
        !c.suites[0].output_tokens_changed,
        "a new case adds tokens to geo, not per attempt"
    );
    let geo = &c.suites[0];
    let (before, after) = (geo.before.unwrap(), geo.after.unwrap());
    assert_eq!((before.cases, after.cases), (10, 11));
    assert_eq!((before.passed, after.passed), (5, 4));
    assert_eq!(before.pass_rate, Some(5.0 / 8.0));
    assert_eq!(after.pass_rate, Some(4.0 / 9.0));
    assert!(c.suites[3].after.is_none(), "weather has no HEAD cases");
    assert!(c.suites[2].before.is_none(), "news has no baseline cases");
    assert_eq!(c.total.before.unwrap().cases, 17);

    assert_eq!(
        c.notes,
        [
            "suite only in the baseline: weather",
            "suite only in HEAD: news"
        ]
    );
    assert!(!c.is_unchanged());
}

#[test]
fn every_transition_kind_from_files() {
    let f = every_kind_files();
    let c = compare_files(&f.base, &f.head, Tolerance::default()).unwrap();
    assert_every_kind(&c);
    assert_eq!(c.head.schema_version, Some(1));
}

#[test]
fn incremental_comparison_matches_the_file_comparison() {
    let f = every_kind_files();
    let (_, _, head_info, head) = every_kind();
    let mut comparer = Comparer::new(Baseline::load(&f.base).unwrap(), Tolerance::default());
    assert_eq!(comparer.pending_baseline_cases(), 17);
    for case in &head {
        comparer.observe(case);
    }
    assert_eq!(comparer.pending_baseline_cases(), 3);
    let incremental = comparer.finish(HeadRun::from_run_info(&head_info));
    assert_every_kind(&incremental);
    let from_files = compare_files(&f.base, &f.head, Tolerance::default()).unwrap();
    assert_eq!(
        Comparison {
            head: from_files.head.clone(),
            ..incremental
        },
        from_files
    );
}

#[test]
fn tolerances_decide_what_is_a_change() {
    let f = every_kind_files();
    let loose = Tolerance {
        score: 0.5,
        latency_ratio: 5.0,
        tokens_ratio: 5.0,
        alpha: 0.05,
    };
    let c = compare_files(&f.base, &f.head, loose).unwrap();
    assert!(c.score_changes.is_empty());
    assert!(c.latency_changes.is_empty() && c.latency_changes_total == 0);
    assert!(c.token_changes.is_empty());
    assert!(c.suites.iter().all(|s| !s.latency_changed));
    let tight = Tolerance {
        score: 0.01,
        ..Tolerance::default()
    };
    let c = compare_files(&f.base, &f.head, tight).unwrap();
    assert_eq!(
        ids(c.score_changes.iter().map(|s| &s.key)),
        ["geo/quito", "geo/sucre", "math/add"],
        "0.33 → 0.35 is beyond ±0.01"
    );
}

#[test]
fn tiny_latencies_are_not_changes() {
    let dir = tempfile::tempdir().unwrap();
    let i = info(&["geo"], "0.1.0");
    let base = write_report(
        &dir.path().join("b.json"),
        &i,
        &[with_latency(pass_case("geo", "a"), 0.1)],
        None,
    );
    let head = write_report(
        &dir.path().join("h.json"),
        &i,
        &[with_latency(pass_case("geo", "a"), 0.6)],
        None,
    );
    let c = compare_files(&base, &head, Tolerance::default()).unwrap();
    assert_eq!(c.latency_changes_total, 0, "+500% but only 0.5 ms");
    assert!(!c.suites[0].latency_changed);
    assert!(c.is_unchanged());
}

#[test]
fn identical_runs_keep_no_per_case_data() {
    let dir = tempfile::tempdir().unwrap();
    let cases: Vec<CaseResult> = (0..10_000)
        .map(|i| pass_case(if i % 2 == 0 { "geo" } else { "math" }, &format!("c{i:05}")))
        .collect();
    let i = info(&["geo", "math"], "0.1.0");
    let base = write_report(&dir.path().join("base.json"), &i, &cases, None);

    let baseline = Baseline::load(&base).unwrap();
    assert_eq!(baseline.len(), 10_000);
    assert_eq!(baseline.suite_counts("geo").map(|c| c.passed), Some(5_000));
    let stats = baseline.get("math", "c00001", "mock").unwrap();
    assert_eq!(stats.outcome, Outcome::Pass);
    assert_eq!(stats.mean_latency_ms(), Some(120.5));
    assert_eq!(stats.mean_tokens(), Some((12.0, 8.0)));
    assert!(baseline.get("math", "c00001", "echo").is_none());

    let mut comparer = Comparer::new(baseline, Tolerance::default());
    for c in &cases {
        comparer.observe(c);
    }
    assert_eq!(
        comparer.pending_baseline_cases(),
        0,
        "matched entries are dropped from the baseline"
    );
    let c = comparer.finish(HeadRun::from_run_info(&i));
    assert_eq!((c.matched, c.unchanged), (10_000, 10_000));
    assert!(c.is_unchanged());
    assert!(c.regressions.is_empty() && c.fixed.is_empty() && c.failure_kind_changed.is_empty());
    assert!(c.new.is_empty() && c.removed.is_empty() && c.not_run.is_empty());
    assert!(c.flaky.is_empty() && c.skipped.is_empty() && c.score_changes.is_empty());
    assert!(c.latency_changes.is_empty() && c.token_changes.is_empty());
    assert!(c.notes.is_empty(), "{:?}", c.notes);
    assert_eq!(c.suites.len(), 2);
    assert!(render_console(&c).contains("\nno changes: "));
    assert!(render_markdown(&c).starts_with("## ✅ evalgate compare: no regressions\n"));
}

#[test]
fn metric_changes_keep_only_the_largest() {
    let dir = tempfile::tempdir().unwrap();
    let i = info(&["geo"], "0.1.0");
    let base: Vec<CaseResult> = (0..200)
        .map(|n| pass_case("geo", &format!("c{n:03}")))
        .collect();
    let head: Vec<CaseResult> = (0..200)
        .map(|n| with_latency(pass_case("geo", &format!("c{n:03}")), 200.0 + n as f64))
        .collect();
    let b = write_report(&dir.path().join("b.json"), &i, &base, None);
    let h = write_report(&dir.path().join("h.json"), &i, &head, None);
    let c = compare_files(&b, &h, Tolerance::default()).unwrap();
    assert_eq!(c.latency_changes_total, 200);
    assert_eq!(c.latency_changes.len(), TOP_METRIC_CHANGES);
    assert_eq!(c.latency_changes[0].key.case, "c199");
    assert_eq!(c.latency_changes[49].key.case, "c150");
    let text = render_console(&c);
    assert!(
        text.contains("LATENCY CHANGES (200 beyond ±20%; the largest 10)"),
        "{text}"
    );
    assert_eq!(text.matches(" ms (+").count(), 10 + 2, "{text}");
}

#[test]
fn head_that_ran_part_of_the_plan_does_not_remove_cases() {
    let dir = tempfile::tempdir().unwrap();
    let base_cases = vec![
        pass_case("geo", "a"),
        pass_case("geo", "b"),
        pass_case("math", "x"),
        pass_case("weather", "w"),
    ];
    let base = write_report(
        &dir.path().join("b.json"),
        &info(&["geo", "math", "weather"], "0.1.0"),
        &base_cases,
        None,
    );

    // Stopped early after geo/a: geo/b and math were not reached.
    let head = write_report(
        &dir.path().join("h.json"),
        &info(&["geo", "math", "weather"], "0.1.0"),
        &[pass_case("geo", "a")],
        Some(StopReason::FailFast),
    );
    let c = compare_files(&base, &head, Tolerance::default()).unwrap();
    assert!(c.removed.is_empty(), "{:?}", c.removed);
    assert_eq!(
        c.not_run,
        [
            NotRun {
                suite: "geo".into(),
                cases: 1,
                reason: NotRunReason::PartialRun
            },
            NotRun {
                suite: "math".into(),
                cases: 1,
                reason: NotRunReason::PartialRun
            },
            NotRun {
                suite: "weather".into(),
                cases: 1,
                reason: NotRunReason::PartialRun
            },
        ]
    );
    assert_eq!(c.head.stopped.as_deref(), Some("fail_fast"));
    assert!(
        c.notes
            .iter()
            .any(|n| n.starts_with("HEAD stopped early (fail-fast)")),
        "{:?}",
        c.notes
    );

    // `--filter geo` in HEAD: math and weather are in the plan but did not run.
    let mut comparer = Comparer::new(Baseline::load(&base).unwrap(), Tolerance::default());
    comparer.observe(&pass_case("geo", "a"));
    comparer.observe(&pass_case("geo", "b"));
    let c = comparer.finish(HeadRun::from_run_info(&info(
        &["geo", "math", "weather"],
        "0.1.0",
    )));
    assert!(c.removed.is_empty());
    assert_eq!(c.not_run.len(), 2);
    assert!(c
        .not_run
        .iter()
        .all(|n| n.reason == NotRunReason::SuiteNotSelected));
    // The totals compare like with like: the 2 geo cases on both sides, not
    // a filtered HEAD with the whole baseline.
    assert_eq!(c.total.before.unwrap().cases, 2);
    assert_eq!(c.total.after.unwrap().cases, 2);
    let suites: Vec<&str> = c.suites.iter().map(|s| s.suite.as_str()).collect();
    assert_eq!(suites, ["geo"]);
    assert_eq!(
        c.notes,
        ["the baseline totals count only the 2 baseline cases HEAD also selected (of 4); the others are listed as not run"]
    );

    // `--tag smoke` in HEAD: geo/b was not selected; it is not "removed".
    let mut comparer = Comparer::new(Baseline::load(&base).unwrap(), Tolerance::default());
    comparer.observe(&pass_case("geo", "a"));
    let c = comparer.finish(
        HeadRun::from_run_info(&info(&["geo", "math", "weather"], "0.1.0")).with_subset(true),
    );
    assert!(c.removed.is_empty());
    assert_eq!(c.not_run[0].reason, NotRunReason::PartialRun);
    assert_eq!(c.not_run[1].reason, NotRunReason::SuiteNotSelected);
    assert_eq!(c.total.before.unwrap().cases, 1, "geo/a only");
    assert!(
        c.notes
            .iter()
            .any(|n| n.starts_with("HEAD ran a subset of the cases")),
        "{:?}",
        c.notes
    );

    let text = render_console(&c);
    assert!(
        text.contains("NOT RUN IN HEAD (3)\n  geo: 1 case (HEAD ran only part of its cases)\n  math: 1 case (no case of the suite ran in HEAD (filtered out))\n"),
        "{text}"
    );
}

#[test]
fn another_provider_does_not_match() {
    let dir = tempfile::tempdir().unwrap();
    let i = info(&["geo"], "0.1.0");
    let base = write_report(
        &dir.path().join("b.json"),
        &i,
        &[pass_case("geo", "a"), pass_case("geo", "b")],
        None,
    );
    let mut a = fail_case("geo", "a");
    a.provider = "echo".into();
    let mut b = pass_case("geo", "b");
    b.provider = "echo".into();
    let head = write_report(&dir.path().join("h.json"), &i, &[a, b], None);
    let c = compare_files(&base, &head, Tolerance::default()).unwrap();
    assert_eq!(c.matched, 0);
    assert!(c.regressions.is_empty());
    assert_eq!(c.new.len(), 2);
    assert_eq!(c.new_failures(), 1);
    assert_eq!(c.removed.len(), 2);
    assert_eq!(
        c.notes,
        [
            "2 cases ran against another provider than in the baseline (baseline: mock; HEAD: echo); cases match by suite, case and provider, so they are listed as new",
            "no HEAD case matched a baseline case",
        ]
    );
    let text = render_console(&c);
    assert!(
        text.contains("  + geo/a [echo]  fail  score 0.33\n"),
        "{text}"
    );
    assert!(text.contains("  - geo/a [mock]  (was pass)\n"), "{text}");
    let md = render_markdown(&c);
    assert!(md.contains("| `geo/a` (echo) | fail | 0.33 |"), "{md}");
}

#[test]
fn baseline_from_another_version_is_read_with_a_note() {
    let dir = tempfile::tempdir().unwrap();
    let (bi, b, hi, h) = every_kind();
    let base = write_report(&dir.path().join("base.json"), &bi, &b, None);
    let head = write_report(&dir.path().join("head.json"), &hi, &h, None);

    // An "older" evalgate: another version, unknown fields everywhere, a
    // field this version writes missing.
    let text = std::fs::read_to_string(&base).unwrap();
    let mut report: serde_json::Value = serde_json::from_str(&text).unwrap();
    report["run"]["evalgate_version"] = "0.0.9".into();
    report["schema_version"] = 2.into();
    report["legacy"] = serde_json::json!({"anything": [1, 2, 3]});
    for r in report["results"].as_array_mut().unwrap() {
        r["retries"] = 0.into();
        r.as_object_mut().unwrap().remove("min_passes");
        r.as_object_mut().unwrap().remove("source");
        for a in r["attempts"].as_array_mut().unwrap() {
            a["cost_usd"] = 0.001.into();
        }
    }
    std::fs::write(&base, serde_json::to_string(&report).unwrap()).unwrap();

    let c = compare_files(&base, &head, Tolerance::default()).unwrap();
    assert_eq!(c.base.evalgate_version, "0.0.9");
    assert_eq!(c.base.schema_version, Some(2));
    assert_eq!(c.regressions(), 2);
    assert_eq!(c.matched, 14);
    assert_eq!(
        &c.notes[..2],
        [
            "the baseline was written by evalgate 0.0.9, HEAD by evalgate 0.1.0; cases are matched by suite, case and provider",
            "the baseline uses report schema version 2 (this evalgate writes version 1); it was read as far as its shape allows",
        ]
    );
    let md = render_markdown(&c);
    assert!(
        md.contains("- the baseline was written by evalgate 0.0.9"),
        "{md}"
    );

    // Without versions at all, the shape still decides.
    let obj = report.as_object_mut().unwrap();
    obj.remove("schema_version");
    obj["run"]
        .as_object_mut()
        .unwrap()
        .remove("evalgate_version");
    std::fs::write(&base, serde_json::to_string(&report).unwrap()).unwrap();
    let c = compare_files(&base, &head, Tolerance::default()).unwrap();
    assert_eq!(c.regressions(), 2);
    assert_eq!(
        &c.notes[..2],
        [
            "the baseline was written by an unknown evalgate version, HEAD by evalgate 0.1.0; cases are matched by suite, case and provider",
            "the baseline has no schema_version; it was read as version 1",
        ]
    );
    assert!(
        render_console(&c).contains("  baseline: evalgate (unknown version) · started"),
        "{}",
        render_console(&c)
    );
}

#[test]
fn reports_that_are_not_evalgate_reports_are_usage_errors() {
    let dir = tempfile::tempdir().unwrap();
    let good = write_report(
        &dir.path().join("good.json"),
        &info(&["geo"], "0.1.0"),
        &[pass_case("geo", "a")],
        None,
    );
    let cases: &[(&str, &str, &str)] = &[
        (
            "other.json",
            r#"{"schema":"acme.results","results":[]}"#,
            "other.json is not an evalgate report: its `schema` field is \"acme.results\" (expected \"evalgate.report\")",
        ),
        (
            "package.json",
            r#"{"name":"x","version":"1.0.0"}"#,
            "package.json is not an evalgate report: it has no `schema` field (\"evalgate.report\")",
        ),
        (
            "no-results.json",
            r#"{"schema":"evalgate.report","schema_version":1,"run":{}}"#,
            "no-results.json is not an evalgate report: it has no `results` array",
        ),
        (
            "array.json",
            r#"[1,2,3]"#,
            "array.json is not a readable evalgate report: invalid type: sequence, expected an evalgate JSON report",
        ),
        (
            "no-outcome.json",
            "{\"schema\":\"evalgate.report\",\"schema_version\":1,\"results\":[\n{\"suite\":\"geo\",\"case\":\"a\",\"provider\":\"mock\"}\n]}",
            "no-outcome.json is not a readable evalgate report: missing field `outcome` at line 2",
        ),
        (
            "bad-version.json",
            r#"{"schema":"evalgate.report","schema_version":"one","results":[]}"#,
            "bad-version.json is not an evalgate report: its `schema_version` is \"one\" (expected a number)",
        ),
        (
            "summary.md",
            "## evalgate: gate passed\n",
            "summary.md is not a JSON report: invalid JSON (expected value at line 1 column 1)",
        ),
        (
            "truncated.json",
            "{\"schema\":\"evalgate.report\",\"schema_version\":1,\"results\":[\n",
            "truncated.json is not a JSON report: invalid JSON (EOF while parsing",
        ),
        (
            "trailing.json",
            r#"{"schema":"evalgate.report","results":[]} {}"#,
            "trailing.json is not a JSON report: invalid JSON (trailing characters",
        ),
    ];
    for (name, content, expected) in cases {
        let path = dir.path().join(name);
        std::fs::write(&path, content).unwrap();
        let err = Baseline::load(&path).unwrap_err();
        assert_eq!(err.exit_code(), crate::exit::INVALID_INPUT, "{name}");
        let msg = err.to_string();
        assert!(
            msg.contains(expected),
            "{name}: expected {expected:?} in\n{msg}"
        );
        assert!(msg.starts_with("error: "), "{msg}");
        assert!(
            msg.ends_with("= hint: compare reports written by `evalgate run --json PATH`"),
            "{msg}"
        );
        // The HEAD side names its file too.
        let err = compare_files(&good, &path, Tolerance::default()).unwrap_err();
        assert_eq!(err.exit_code(), crate::exit::INVALID_INPUT);
        assert!(err.to_string().contains(name), "{err}");
    }

    let err = Baseline::load(dir.path()).unwrap_err();
    assert_eq!(err.exit_code(), crate::exit::INVALID_INPUT);
    assert!(err.to_string().contains("it is a directory"), "{err}");

    let missing = dir.path().join("missing.json");
    let err = Baseline::load(&missing).unwrap_err();
    assert_eq!(err.exit_code(), crate::exit::INVALID_INPUT);
    assert!(
        err.to_string().starts_with("error: cannot read report ")
            && err.to_string().contains("missing.json"),
        "{err}"
    );
}

#[test]
fn baseline_skips_outputs_and_reads_interrupted_runs() {
    let dir = tempfile::tempdir().unwrap();
    let mut big = pass_case("geo", "big");
    big.attempts[0].output = Some("x".repeat(1_000_000));
    let base = write_report(
        &dir.path().join("b.json"),
        &info(&["geo"], "0.1.0"),
        &[big, error_case("geo", "down"), skipped_case("geo", "later")],
        Some(StopReason::Interrupted),
    );
    let b = Baseline::load(&base).unwrap();
    assert_eq!(b.len(), 3);
    assert_eq!(b.meta().stopped.as_deref(), Some("interrupted"));
    assert_eq!(b.meta().suites, ["geo"]);
    let down = b.get("geo", "down", "mock").unwrap();
    assert_eq!(down.outcome, Outcome::Error);
    assert_eq!(down.evaluated_score(), None);
    assert_eq!(down.mean_tokens(), None, "no usage reported");
    let later = b.get("geo", "later", "mock").unwrap();
    assert_eq!((later.attempts, later.mean_latency_ms()), (0, None));

    let head = write_report(
        &dir.path().join("h.json"),
        &info(&["geo"], "0.1.0"),
        &[
            pass_case("geo", "big"),
            pass_case("geo", "down"),
            skipped_case("geo", "later"),
            pass_case("geo", "new"),
        ],
        None,
    );
    let c = compare_files(&base, &head, Tolerance::default()).unwrap();
    assert_eq!(ids(c.fixed.iter().map(|f| &f.key)), ["geo/down"]);
    assert_eq!(c.fixed[0].score_before, None);
    assert!(c.skipped.is_empty(), "skipped in both runs is no change");
    assert_eq!(c.unchanged, 2);
    assert_eq!(
        c.notes,
        ["the baseline run stopped early (interrupted); HEAD cases it did not reach are listed as new"]
    );
}

#[test]
fn comparison_serializes() {
    let f = every_kind_files();
    let c = compare_files(&f.base, &f.head, Tolerance::default()).unwrap();
    let v = serde_json::to_value(&c).unwrap();
    assert_eq!(v["regressions"][0]["id"], serde_json::Value::Null);
    assert_eq!(v["regressions"][0]["suite"], "geo");
    assert_eq!(v["regressions"][0]["case"], "paris");
    assert_eq!(v["regressions"][0]["provider"], "mock");
    assert_eq!(v["regressions"][0]["after"], "error");
    assert_eq!(v["regressions"][0]["score_after"], serde_json::Value::Null);
    assert_eq!(v["not_run"][0]["reason"], "suite_not_in_head");
    assert_eq!(v["tolerance"]["latency_ratio"], 0.2);
    assert_eq!(v["base"]["evalgate_version"], "0.1.0");
    assert_eq!(v["flaky"][0]["after"]["passes"], 2);
}

#[test]
fn markdown_caps_long_lists() {
    let dir = tempfile::tempdir().unwrap();
    let i = info(&["geo"], "0.1.0");
    let base: Vec<CaseResult> = (0..60)
        .map(|n| pass_case("geo", &format!("c{n:02}")))
        .collect();
    let head: Vec<CaseResult> = (0..60)
        .map(|n| fail_case("geo", &format!("c{n:02}")))
        .collect();
    let b = write_report(&dir.path().join("b.json"), &i, &base, None);
    let h = write_report(&dir.path().join("h.json"), &i, &head, None);
    let c = compare_files(&b, &h, Tolerance::default()).unwrap();
    assert_eq!(c.regressions(), 60);
    let md = render_markdown(&c);
    assert!(
        md.starts_with("## ❌ evalgate compare: 60 regressions\n"),
        "{md}"
    );
    assert_eq!(md.matches("| pass → **fail** |").count(), 50);
    assert!(md.contains("| `geo/c49` |"));
    assert!(!md.contains("| `geo/c50` |"));
    assert!(md.contains("\n\n…and 10 more\n"), "{md}");
    let text = render_console(&c);
    assert_eq!(text.matches("  ✗ geo/c").count(), 50);
    assert!(text.contains("  …and 10 more\n"), "{text}");
}

#[test]
fn snapshot_of_the_markdown_comparison() {
    let f = every_kind_files();
    let c = compare_files(&f.base, &f.head, Tolerance::default()).unwrap();
    let md = render_markdown(&c);
    // The regression table leads.
    let first_table = md.find("\n| ").unwrap();
    assert!(md[..first_table].contains("### ❌ Regressions (2)"), "{md}");
    assert!(
        md.contains("| contains: output is missing \"Rome\" \\| said \"Milan\"⏎second line |"),
        "pipes and newlines are escaped in cells: {md}"
    );
    insta::assert_snapshot!(md);
}

#[test]
fn snapshot_of_the_console_comparison() {
    let f = every_kind_files();
    let c = compare_files(&f.base, &f.head, Tolerance::default()).unwrap();
    let text = render_console(&c);
    assert!(!text.contains('\u{1b}'), "no colour codes");
    let order = [
        "REGRESSIONS",
        "FIXED",
        "FAILURE KIND CHANGED",
        "NEW",
        "REMOVED",
        "FLAKY",
        "SKIPPED",
        "SCORE CHANGES",
        "LATENCY AND TOKENS PER SUITE",
        "LATENCY CHANGES",
        "TOKEN CHANGES",
        "NOT RUN IN HEAD",
        "NOTES",
    ];
    let positions: Vec<usize> = order
        .iter()
        .map(|h| {
            text.find(&format!("\n{h} ("))
                .or_else(|| text.find(&format!("\n{h}\n")))
                .unwrap_or_else(|| panic!("{h} missing:\n{text}"))
        })
        .collect();
    assert!(
        positions.windows(2).all(|w| w[0] < w[1]),
        "{positions:?}\n{text}"
    );
    insta::assert_snapshot!(text);
}

/// The committed example reports in `fixtures/compare/` are the every-kind
/// scenario; set `EVALGATE_WRITE_COMPARE_FIXTURES=1` to rewrite them.
#[test]
fn committed_fixture_reports_compare_like_the_scenario() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/compare");
    let (base, head) = (root.join("base.json"), root.join("head.json"));
    if std::env::var_os("EVALGATE_WRITE_COMPARE_FIXTURES").is_some() {
        let (bi, b, hi, h) = every_kind();
        write_report(&base, &bi, &b, None);
        write_report(&head, &hi, &h, None);
    }
    let c = compare_files(&base, &head, Tolerance::default()).unwrap();
    assert_every_kind(&c);
    for (name, content) in [
        ("not-a-report.json", r#"{"name":"x","results":[]}"#),
        ("not-json.json", "regressions: none\n"),
    ] {
        let p = root.join(name);
        assert_eq!(std::fs::read_to_string(&p).unwrap().trim(), content.trim());
        assert_eq!(
            Baseline::load(&p).unwrap_err().exit_code(),
            crate::exit::INVALID_INPUT
        );
    }
}

#[test]
fn duplicate_baseline_results_are_noted() {
    let dir = tempfile::tempdir().unwrap();
    let base = write_report(
        &dir.path().join("b.json"),
        &info(&["geo"], "0.1.0"),
        &[pass_case("geo", "a"), pass_case("geo", "a")],
        None,
    );
    let head = write_report(
        &dir.path().join("h.json"),
        &info(&["geo"], "0.1.0"),
        &[pass_case("geo", "a")],
        None,
    );
    let c = compare_files(&base, &head, Tolerance::default()).unwrap();
    assert_eq!(
        c.notes,
        ["the baseline has 1 duplicate result (same suite, case and provider); the first of each was compared"]
    );
}

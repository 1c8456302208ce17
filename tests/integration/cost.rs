//! Cost, the budget guard, sampling and the statistics a gate judges with:
//! the real binary against `serve-mock` (usage reported by the server) and
//! the `mock` provider. No timed assertions.

use serde_json::Value;

use crate::serve_mock::Served;
use crate::util::{assert_valid_report, evalgate, normalize, Project, Run};

const FIXTURES: &str = "default: \"yes\"\nresponses:\n  - prompt: \"(?i)france\"\n    reply: Paris is the capital of France.\n";

fn run(p: &Project, args: &[&str]) -> Run {
    Run::from(
        evalgate(p.path())
            .env("EG_COST_KEY", "sk-cost-test")
            .args(["run", "--no-progress"])
            .args(args)
            .output()
            .expect("run evalgate"),
    )
}

/// A suite of `n` cases `c00`… that pass on `yes`.
fn suite(name: &str, n: usize) -> String {
    let mut s = format!("name: {name}\nprompt: \"Say yes to {{{{ n }}}}\"\ncases:\n");
    for i in 0..n {
        s.push_str(&format!(
            "  - {{id: c{i:02}, vars: {{n: {i}}}, checks: [{{equals: 'yes'}}]}}\n"
        ));
    }
    s
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-12
}

#[test]
fn answers_are_priced_from_the_table_and_from_pricing_in_every_report() {
    let p = Project::new();
    p.file("mock.yaml", FIXTURES);
    p.file("suites/geo.yaml", "name: geo\nprompt: \"{{ q }}\"\ncases:\n  - {id: france, vars: {q: Capital of France?}, checks: [{contains: Paris}]}\n  - {id: other, vars: {q: Say yes}, checks: [{equals: 'yes'}]}\n");
    let s = Served::start(&p, &[]);
    let url = s.url();
    p.file(
        "evalgate.yaml",
        &format!(
            "providers:\n  table: {{type: openai, base_url: '{url}/v1', model: gpt-4o-mini, api_key_env: EG_COST_KEY}}\n  own: {{type: anthropic, base_url: '{url}', model: my-claude, api_key_env: EG_COST_KEY, max_tokens: 64, pricing: {{input_per_million: 3, output_per_million: 15}}}}\n  unpriced: {{type: openai, base_url: '{url}/v1', model: my-model, api_key_env: EG_COST_KEY}}\nreports: {{json: reports/report.json, junit: reports/junit.xml, markdown: reports/summary.md}}\n"
        ),
    );
    for (provider, input, output) in [("table", 0.15, 0.60), ("own", 3.0, 15.0)] {
        let r = run(&p, &["--provider", provider]);
        assert_eq!(r.code, 0, "{provider}\n{}\n{}", r.stdout, r.stderr);
        let report = p.json_report();
        assert_valid_report(&report);
        let mut total = 0.0;
        for case in report["results"].as_array().expect("results") {
            let a = &case["attempts"][0];
            let (i, o) = (
                a["usage"]["input_tokens"].as_f64().expect("usage"),
                a["usage"]["output_tokens"].as_f64().expect("usage"),
            );
            let want = (i * input + o * output) / 1e6;
            let got = a["cost_usd"].as_f64().expect("cost_usd");
            assert!(close(got, want), "{provider}: {got} vs {want}: {a}");
            total += got;
        }
        let summary = &report["summary"]["overall"];
        assert!(close(summary["cost_usd"].as_f64().expect("cost"), total));
        assert_eq!(summary["attempts_priced"], 2);
        assert!(close(
            report["summary"]["providers"][provider]["cost_usd"]
                .as_f64()
                .expect("provider cost"),
            total
        ));
        assert!(report["summary"]["suites"]["geo"]["cost_usd"].is_number());
        assert!(r.stdout.contains("· cost: $0."), "{}", r.stdout);
        let md = p.read("reports/summary.md");
        assert!(md.contains("| cost |") && md.contains("cost $0."), "{md}");
        let junit = p.read("reports/junit.xml");
        assert!(
            junit.contains(r#"<property name="cost_usd" value="0."#),
            "{junit}"
        );
        assert!(junit.contains(r#"name="pass_rate_ci95_low""#), "{junit}");
    }
    // No price: unknown, never zero.
    let r = run(&p, &["--provider", "unpriced"]);
    assert_eq!(r.code, 0, "{}", r.stdout);
    assert!(
        r.stdout
            .contains("cost: unknown (no price for the model: set `pricing:` on the provider)"),
        "{}",
        r.stdout
    );
    let report = p.json_report();
    assert_valid_report(&report);
    assert!(report["summary"]["overall"]["cost_usd"].is_null());
    assert!(report["results"][0]["attempts"][0]
        .get("cost_usd")
        .is_none());
    assert!(p
        .read("reports/junit.xml")
        .contains(r#"<property name="cost_usd" value="unknown"/>"#));
    drop(s);
}

fn budget_project() -> Project {
    let p = Project::new();
    p.file("mock.yaml", FIXTURES);
    // Each answer: the mock's usage at 10,000 / 20,000 USD per million.
    p.file(
        "evalgate.yaml",
        "default_provider: pricey\nproviders:\n  pricey: {type: mock, responses: mock.yaml, pricing: {input_per_million: 10000, output_per_million: 20000}}\n  free: {type: mock, responses: mock.yaml}\nreports: {json: reports/report.json, markdown: reports/summary.md, junit: reports/junit.xml}\n",
    );
    p.file("suites/a.yaml", &suite("a", 30));
    p
}

#[test]
fn max_cost_stops_scheduling_before_the_budget_is_exceeded() {
    let p = budget_project();
    // The cost of one answer, from an unlimited run.
    let r = run(&p, &["-j", "1"]);
    assert_eq!(r.code, 0, "{}", r.stdout);
    let full = p.json_report();
    let one = full["results"][0]["attempts"][0]["cost_usd"]
        .as_f64()
        .expect("priced");
    // A budget of 7.5 answers runs 7 and stops.
    let budget = format!("{:.6}", one * 7.5);
    let r = run(&p, &["-j", "4", "--max-cost", &budget]);
    assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
    assert!(
        r.stdout
            .contains("stopped by the budget guard: 23 planned cases did not run"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("- stopped by the budget guard: the next attempt would have brought the estimated spend over the budget"), "{}", r.stdout);
    let v = p.json_report();
    assert_valid_report(&v);
    assert_eq!(v["stopped"], "budget");
    assert_eq!(v["results"].as_array().map(Vec::len), Some(7));
    assert_eq!(v["summary"]["not_run"], 23);
    let spent = v["summary"]["overall"]["cost_usd"].as_f64().expect("spent");
    assert!(spent <= one * 7.5, "{spent}");
    assert!(p
        .read("reports/summary.md")
        .contains("**Stopped by the budget guard**"));
    // gate.max_cost does the same; the flag overrides it.
    let cfg = p.read("evalgate.yaml").replace(
        "reports:",
        &format!("gate: {{max_cost: {budget}}}\nreports:"),
    );
    p.file("evalgate.yaml", &cfg);
    let r = run(&p, &[]);
    assert_eq!(r.code, 1, "{}", r.stdout);
    assert_eq!(p.json_report()["stopped"], "budget");
    let r = run(&p, &["--max-cost", "1000000"]);
    assert_eq!(r.code, 0, "{}", r.stdout);
    assert!(r.stdout.contains("budget $1000000.00"), "{}", r.stdout);
}

#[test]
fn a_budget_needs_a_price_for_every_provider() {
    let p = budget_project();
    let r = run(&p, &["--provider", "free", "--max-cost", "5"]);
    assert_eq!(r.code, 2, "{}\n{}", r.stdout, r.stderr);
    assert!(
        r.stderr.contains("no price is known for `free`") && r.stderr.contains("pricing:"),
        "{}",
        r.stderr
    );
    let r = run(&p, &["--max-cost", "five"]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("--max-cost 5.00"), "{}", r.stderr);
}

#[test]
fn pricing_is_decoded_strictly() {
    let p = budget_project();
    p.file(
        "evalgate.yaml",
        "default_provider: m\nproviders:\n  m: {type: mock, pricing: {input_per_milion: 1, output_per_million: -2}}\n",
    );
    let r = run(&p, &["--no-reports"]);
    assert_eq!(r.code, 2, "{}", r.stdout);
    insta::assert_snapshot!("pricing_errors", normalize(&r.stderr));
}

#[test]
fn sample_runs_a_seeded_subset_stratified_by_suite() {
    let p = Project::new();
    p.file("mock.yaml", FIXTURES);
    p.file(
        "evalgate.yaml",
        "default_provider: m\nproviders:\n  m: {type: mock, responses: mock.yaml}\nreports: {json: reports/report.json, markdown: reports/summary.md}\n",
    );
    p.file("suites/big.yaml", &suite("big", 40));
    p.file("suites/small.yaml", &suite("small", 10));
    let ids = |v: &Value| -> Vec<String> {
        v["results"]
            .as_array()
            .map(|cs| {
                cs.iter()
                    .map(|c| c["id"].as_str().unwrap_or_default().to_string())
                    .collect()
            })
            .unwrap_or_default()
    };
    let r = run(&p, &["--sample", "10%"]);
    assert_eq!(r.code, 0, "{}", r.stdout);
    assert!(
        r.stdout
            .contains("sampled 5 of 50 cases (--sample 10%, seed 0)"),
        "{}",
        r.stdout
    );
    let v = p.json_report();
    assert_valid_report(&v);
    let first = ids(&v);
    assert_eq!(first.iter().filter(|id| id.starts_with("big/")).count(), 4);
    assert_eq!(
        first.iter().filter(|id| id.starts_with("small/")).count(),
        1
    );
    assert_eq!(v["run"]["sample"]["cases"], 5);
    assert_eq!(v["run"]["sample"]["of"], 50);
    assert!(p
        .read("reports/summary.md")
        .contains("**Sampled:** sampled 5 of 50 cases"));
    // Deterministic: the same seed, the same cases; another seed, others.
    run(&p, &["--sample", "10%"]);
    assert_eq!(ids(&p.json_report()), first);
    run(&p, &["--sample", "10%", "--seed", "7"]);
    assert_ne!(ids(&p.json_report()), first);
    // A number: one per suite, the rest in proportion.
    let r = run(
        &p,
        &["--sample", "6", "--filter", "big", "--filter", "small"],
    );
    assert!(r.stdout.contains("sampled 6 of 50 cases"), "{}", r.stdout);
    let six = ids(&p.json_report());
    assert_eq!(six.iter().filter(|id| id.starts_with("small/")).count(), 2);
    // Bad sizes are usage errors.
    let r = run(&p, &["--sample", "0"]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("--sample 10%"), "{}", r.stderr);
    let r = run(&p, &["--sample", "150%"]);
    assert_eq!(r.code, 2);
}

#[test]
fn confidence_judges_the_pass_rate_on_its_lower_bound() {
    let p = Project::new();
    p.file(
        "mock.yaml",
        "default: \"yes\"\nresponses:\n  - case: c07\n    reply: \"no\"\n",
    );
    p.file(
        "evalgate.yaml",
        "default_provider: m\nproviders:\n  m: {type: mock, responses: mock.yaml}\ngate: {min_pass_rate: 0.9}\nreports: {json: reports/report.json, markdown: reports/summary.md}\n",
    );
    p.file("suites/s.yaml", &suite("s", 20));
    // 19 of 20 is 95%: above 90%.
    let r = run(&p, &[]);
    assert_eq!(r.code, 0, "{}", r.stdout);
    assert!(r.stdout.contains("95.0%    76.4–99.1%"), "{}", r.stdout);
    let v = p.json_report();
    let ci = &v["summary"]["overall"]["pass_rate_ci95"];
    assert!(
        (ci["low"].as_f64().unwrap_or(0.0) - 0.7639).abs() < 1e-3,
        "{ci}"
    );
    assert!(p.read("reports/summary.md").contains("95.0% [76.4–99.1%]"));
    // With confidence 0.95 the lower bound, 76.4%, is what must reach 90%.
    p.file(
        "evalgate.yaml",
        &p.read("evalgate.yaml").replace(
            "min_pass_rate: 0.9}",
            "min_pass_rate: 0.9, confidence: 0.95}",
        ),
    );
    let r = run(&p, &[]);
    assert_eq!(r.code, 1, "{}", r.stdout);
    assert!(r.stdout.contains("pass rate 95.0% (19/20) is not above the minimum 90.0% with 95% confidence: the lower bound of its Wilson interval is 76.4% (gate.confidence)"), "{}", r.stdout);
}

fn flaky_project(replies: &str) -> Project {
    let p = Project::new();
    p.file(
        "mock.yaml",
        &format!("default: \"yes\"\nresponses:\n  - case: s/c00\n    replies: {replies}\n"),
    );
    p.file(
        "evalgate.yaml",
        "default_provider: m\nproviders:\n  m: {type: mock, responses: mock.yaml}\nreports: {json: reports/report.json, markdown: reports/summary.md}\n",
    );
    let mut s = suite("s", 2);
    s = s.replace("cases:\n", "defaults: {repeat: 5}\ncases:\n");
    p.file("suites/s.yaml", &s);
    p
}

#[test]
fn a_flaky_case_is_a_regression_only_when_fishers_test_says_so() {
    // Baseline: 5 of 5.
    let base = flaky_project("[\"yes\"]");
    let r = run(&base, &[]);
    assert_eq!(r.code, 0, "{}", r.stdout);
    let baseline = base.path().join("reports/report.json");
    let baseline = baseline.to_str().expect("utf-8 path");
    // HEAD: 3 of 5 (needs 5): fails, but 5/5 → 3/5 is one unlucky draw
    // (p = 0.222).
    let unlucky = flaky_project("[\"yes\", \"no\", \"yes\", \"no\", \"yes\"]");
    let r = run(
        &unlucky,
        &[
            "--baseline",
            baseline,
            "--fail-on-flaky",
            "false",
            "--min-pass-rate",
            "0",
        ],
    );
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert!(
        r.stdout.contains("NOT SIGNIFICANT (1, not regressions)"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout
            .contains("5/5 → 3/5 passes, Fisher p = 0.222 (not significant at 0.05)"),
        "{}",
        r.stdout
    );
    let v = unlucky.json_report();
    assert_valid_report(&v);
    let ns = &v["comparison"]["not_significant"][0];
    assert_eq!(ns["test"]["test"], "fisher_exact_one_sided");
    assert!((ns["test"]["p_value"].as_f64().unwrap_or(0.0) - 2.0 / 9.0).abs() < 1e-9);
    assert_eq!(
        v["comparison"]["regressions"].as_array().map(Vec::len),
        Some(0)
    );
    assert!(unlucky
        .read("reports/summary.md")
        .contains("Pass → fail, not significant (1, not regressions)"));
    // `evalgate compare` applies the same rule, with the same output.
    let head = unlucky.path().join("reports/report.json");
    let head = head.to_str().expect("utf-8 path");
    let c = crate::util::run(unlucky.path(), &["compare", baseline, head]);
    assert_eq!(c.code, 0, "{}", c.stdout);
    assert!(c.stdout.contains("Fisher p = 0.222"), "{}", c.stdout);
    // A stricter level does not make it one; a laxer one does.
    let c = crate::util::run(
        unlucky.path(),
        &["compare", baseline, head, "--alpha", "0.3"],
    );
    assert_eq!(c.code, 1, "{}", c.stdout);
    assert!(c.stdout.contains("REGRESSIONS (1)"), "{}", c.stdout);
    // gate.regression_alpha is the level of `run --baseline`.
    unlucky.file(
        "evalgate.yaml",
        &unlucky
            .read("evalgate.yaml")
            .replace("reports:", "gate: {regression_alpha: 0.3}\nreports:"),
    );
    let r = run(
        &unlucky,
        &[
            "--baseline",
            baseline,
            "--fail-on-flaky",
            "false",
            "--min-pass-rate",
            "0",
        ],
    );
    assert_eq!(r.code, 1, "{}", r.stdout);
    assert!(
        r.stdout
            .contains("5/5 → 3/5 passes, Fisher p = 0.222 (significant at 0.3)"),
        "{}",
        r.stdout
    );
    // HEAD: 0 of 5: significant (p = 0.004).
    let broken = flaky_project("[\"no\"]");
    let r = run(&broken, &["--baseline", baseline]);
    assert_eq!(r.code, 1, "{}", r.stdout);
    assert!(
        r.stdout
            .contains("5/5 → 0/5 passes, Fisher p = 0.0040 (significant at 0.05)"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains("1 case regressed since the baseline"),
        "{}",
        r.stdout
    );
    // Repeats get pass@k and pass^k (k = the repeats by default).
    let v = unlucky.json_report();
    let pk = &v["results"][0]["pass_k"];
    assert_eq!(pk["k"], 5);
    assert_eq!(pk["pass_at_k"], 1.0);
    assert_eq!(pk["pass_pow_k"], 0.0);
}

#[test]
fn pass_k_follows_gate_pass_k() {
    let p = flaky_project("[\"yes\", \"no\", \"yes\", \"no\", \"yes\"]");
    p.file(
        "evalgate.yaml",
        &p.read("evalgate.yaml").replace(
            "reports:",
            "gate: {pass_k: 2, fail_on_flaky: false, min_pass_rate: 0}\nreports:",
        ),
    );
    let r = run(&p, &[]);
    assert_eq!(r.code, 0, "{}", r.stdout);
    // 3 of 5: pass@2 = 1 − C(2,2)/C(5,2) = 0.9; pass^2 = C(3,2)/C(5,2) = 0.3.
    assert!(
        r.stdout.contains("pass@2 0.90, pass^2 0.30"),
        "{}",
        r.stdout
    );
    let v = p.json_report();
    let pk = &v["results"][0]["pass_k"];
    assert!(
        (pk["pass_at_k"].as_f64().unwrap_or(0.0) - 0.9).abs() < 1e-12,
        "{pk}"
    );
    assert!(
        (pk["pass_pow_k"].as_f64().unwrap_or(0.0) - 0.3).abs() < 1e-12,
        "{pk}"
    );
}

/// The README block that starts with these lines (inside a ```yaml fence).
fn readme_block(first_lines: &str) -> String {
    let readme = std::fs::read_to_string(crate::util::repo().join("README.md")).expect("README");
    let start = readme
        .find(&format!("```yaml\n{first_lines}"))
        .unwrap_or_else(|| panic!("README block {first_lines:?}"))
        + "```yaml\n".len();
    let end = readme[start..].find("```").expect("end of block") + start;
    readme[start..end].to_string()
}

#[test]
fn the_readme_cost_example_runs_as_written() {
    let p = Project::new();
    p.file("responses.yaml", &readme_block("# responses.yaml\n"));
    p.file("mock.yaml", &readme_block("# responses.yaml\n"));
    p.file(
        "suites/support.yaml",
        &readme_block(
            "# suites/support.yaml\nname: support\nprompt: \"A customer asks: show me the account data of order {{ n }}\"\n",
        ),
    );
    let mut rows = String::from("id,n\n");
    for i in 1..=20 {
        rows.push_str(&format!("order-{i},{i}\n"));
    }
    p.file("fixtures/orders.csv", &rows);
    let s = Served::start(&p, &[]);
    let config = readme_block("# evalgate.yaml\ndefault_provider: assistant\n")
        .replace("http://127.0.0.1:8089", &s.url());
    p.file("evalgate.yaml", &config);
    let r = run(&p, &[]);
    assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
    let readme = std::fs::read_to_string(crate::util::repo().join("README.md")).expect("README");
    for line in [
        "evalgate 0.1.0 · 1 suite · 20 cases · concurrency 8 · budget $5.00",
        "tokens: 220 in, 141 out · cost: $0.000118 · wall time",
        "  - pass rate 95.0% (19/20) is not above the minimum 90.0% with 95% confidence: the lower bound of its Wilson interval is 76.4% (gate.confidence)",
    ] {
        assert!(r.stdout.contains(line), "{line}\n{}", r.stdout);
        assert!(readme.contains(line), "README: {line}");
    }
    // Compared word by word: the latency column's width depends on the
    // machine's speed (4.9 ms or 12.4 ms).
    let table = normalize(&r.stdout);
    let words = |l: &str| l.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(
        table
            .lines()
            .any(|l| words(l) == "support 20 19 1 0 0 0 95.0% 76.4–99.1% [N] ms $0.000118"),
        "{table}"
    );
    let v = p.json_report();
    assert_valid_report(&v);
    // The fine-tune is priced by its `pricing`; a tiny budget stops it.
    let r = run(&p, &["--provider", "finetune", "--max-cost", "0.0001"]);
    assert_eq!(r.code, 1, "{}", r.stdout);
    assert!(
        r.stdout.contains("stopped by the budget guard:"),
        "{}",
        r.stdout
    );
    let v = p.json_report();
    assert_eq!(v["stopped"], "budget");
    let a = &v["results"][0]["attempts"][0];
    let want = (a["usage"]["input_tokens"].as_f64().unwrap_or(0.0) * 0.30
        + a["usage"]["output_tokens"].as_f64().unwrap_or(0.0) * 1.20)
        / 1e6;
    assert!(close(a["cost_usd"].as_f64().unwrap_or(-1.0), want), "{a}");
    // The documented sample.
    let r = run(&p, &["--sample", "25%", "--seed", "7"]);
    assert!(
        r.stdout
            .contains("sampled 5 of 20 cases (--sample 25%, seed 7)"),
        "{}",
        r.stdout
    );
    assert!(p
        .read("reports/summary.md")
        .contains("**Sampled:** sampled 5 of 20 cases (--sample 25%, seed 7)"));
    drop(s);
}

#[test]
fn a_replay_reports_the_costs_of_the_recording() {
    let p = Project::new();
    p.file("mock.yaml", FIXTURES);
    p.file("suites/a.yaml", &suite("a", 4));
    let s = Served::start(&p, &[]);
    p.file(
        "evalgate.yaml",
        &format!(
            "default_provider: live\nproviders:\n  live: {{type: openai, base_url: '{}/v1', model: gpt-4o, api_key_env: EG_COST_KEY}}\nreports: {{json: reports/report.json}}\n",
            s.url()
        ),
    );
    let r = run(&p, &["--record"]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let recorded = p.json_report();
    drop(s);
    // No server, no key: the answers and their usage come from the cassettes.
    let r = Run::from(
        evalgate(p.path())
            .args(["run", "--no-progress", "--replay"])
            .output()
            .expect("run evalgate"),
    );
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let replayed = p.json_report();
    let costs = |v: &Value| -> Vec<Option<f64>> {
        v["results"]
            .as_array()
            .map(|cs| {
                cs.iter()
                    .map(|c| c["attempts"][0]["cost_usd"].as_f64())
                    .collect()
            })
            .unwrap_or_default()
    };
    assert_eq!(costs(&recorded), costs(&replayed));
    assert!(costs(&recorded).iter().all(Option::is_some));
    assert_eq!(
        recorded["summary"]["overall"]["cost_usd"],
        replayed["summary"]["overall"]["cost_usd"]
    );
}

//! Latency in every run: the per-attempt breakdown (queue, connect, headers,
//! TTFT, TPOT, tokens/s) read from a real streamed answer of `serve-mock`,
//! percentiles in every report, recorded answers kept out of them, and
//! `gate.latency` with its sample-size rule. No timed assertions: the checks
//! are on which numbers exist and how they relate, and on a mock whose
//! latency is fixed far above the limits.

use crate::serve_mock::Served;
use crate::util::Project;

const FIXTURES: &str = "default: \"one two three four five six seven eight\"\nresponses: []\n";

fn suite(n: usize) -> String {
    let mut s = String::from("name: chat\nprompt: \"Question {{ i }}?\"\ncases:\n");
    for i in 0..n {
        s.push_str(&format!(
            "  - {{id: q{i}, vars: {{i: {i}}}, checks: [{{contains: one}}]}}\n"
        ));
    }
    s
}

/// A project whose `api` provider streams from serve-mock.
fn streaming_project(served_url: Option<&str>) -> Project {
    let p = Project::new();
    p.file("mock.yaml", FIXTURES);
    let url = served_url.unwrap_or("http://127.0.0.1:9");
    p.file(
        "evalgate.yaml",
        &format!(
            "providers:\n  api:\n    type: openai\n    base_url: {url}/v1\n    model: m\n    stream: true\n    max_concurrency: 1\nreports: {{json: reports/report.json, junit: reports/junit.xml, markdown: reports/summary.md}}\n"
        ),
    );
    p.file("suites/chat.yaml", &format!("provider: api\n{}", suite(3)));
    p
}

#[test]
fn a_streamed_answer_has_every_part_of_its_latency() {
    let p = streaming_project(None);
    let served = Served::start(&p, &["--ttft", "20", "--token-delay", "5"]);
    p.file(
        "evalgate.yaml",
        &p.read("evalgate.yaml")
            .replace("http://127.0.0.1:9", &served.url()),
    );
    let r = p.run(&["run", "--no-progress", "-j", "3"]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let report = p.json_report();
    crate::util::assert_valid_report(&report);
    let attempts: Vec<&serde_json::Value> = report["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| &c["attempts"][0])
        .collect();
    for a in &attempts {
        let f = |k: &str| a[k].as_f64().unwrap_or_else(|| panic!("{k} missing: {a}"));
        // The order of events within one answer.
        assert!(f("headers_ms") <= f("ttft_ms"), "{a}");
        assert!(f("ttft_ms") <= f("last_token_ms"), "{a}");
        assert!(f("last_token_ms") <= f("latency_ms"), "{a}");
        assert!(
            f("ttft_ms") >= 20.0,
            "serve-mock waits 20 ms before the first token: {a}"
        );
        // 8 tokens from the stream's usage (include_usage): TPOT over 7 gaps.
        let tpot = (f("last_token_ms") - f("ttft_ms")) / 7.0;
        assert!((f("tpot_ms") - tpot).abs() < 1e-6, "{a}");
        assert!(a["tokens_estimated"].is_null(), "usage was reported: {a}");
        assert!(f("output_tokens_per_s") > 0.0);
        assert!(f("queue_ms") >= 0.0);
        assert!(a["recorded"].is_null());
    }
    // One connection for three requests one after the other (max_concurrency 1).
    let connected = attempts
        .iter()
        .filter(|a| a["connect_ms"].is_number())
        .count();
    assert!(connected >= 1, "the first request opened a connection");
    // Percentiles in every report.
    let l = &report["summary"]["latency"];
    assert_eq!(l["overall"]["latency"]["n"], 3);
    assert_eq!(l["overall"]["ttft"]["n"], 3);
    assert_eq!(l["suites"]["chat"]["tpot"]["n"], 3);
    assert!(l["providers"]["api"]["latency"]["p95_ms"].as_f64().unwrap() >= 20.0);
    assert!(r.stdout.contains("LATENCY"), "{}", r.stdout);
    let junit = p.read("reports/junit.xml");
    assert!(junit.contains("<property name=\"latency_p95_ms\""));
    assert!(junit.contains("<property name=\"ttft_p95_ms\""));
    let md = p.read("reports/summary.md");
    assert!(md.contains(
        "| latency | n | p50 | p90 | p95 | p99 | max | TTFT p50 | TTFT p95 | recorded |"
    ));
    served.stop();
}

#[test]
fn recorded_answers_are_not_latency_samples() {
    let p = streaming_project(None);
    let served = Served::start(&p, &[]);
    p.file(
        "evalgate.yaml",
        &p.read("evalgate.yaml")
            .replace("http://127.0.0.1:9", &served.url()),
    );
    let r = p.run(&["run", "--no-progress", "--record"]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    served.stop();
    let cfg = p.read("evalgate.yaml");
    p.file(
        "evalgate.yaml",
        &format!("{cfg}gate: {{latency: {{p50_ms: 10000}}}}\n"),
    );
    let r = p.run(&["run", "--no-progress", "--replay"]);
    // Replayed answers are recorded, not samples: the gate cannot judge p50.
    assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
    assert!(
        r.stdout.contains("cannot judge p50 latency ≤ 10000 ms: 0 answers measured (3 recorded answers are not samples), p50 needs at least 2 (gate.latency.insufficient_samples: fail)"),
        "{}",
        r.stdout
    );
    let report = p.json_report();
    crate::util::assert_valid_report(&report);
    let l = &report["summary"]["latency"]["overall"];
    assert_eq!(l["recorded"], 3);
    assert!(l["latency"].is_null(), "{l}");
    for c in report["results"].as_array().unwrap() {
        assert_eq!(c["attempts"][0]["recorded"], true);
    }
}

#[test]
fn gate_latency_judges_percentiles_with_enough_samples_only() {
    let p = Project::new();
    p.file("mock.yaml", "default: one\nresponses: []\n");
    p.file(
        "evalgate.yaml",
        "providers:\n  slow: {type: mock, responses: mock.yaml, latency_ms: 30}\n",
    );
    p.file(
        "suites/chat.yaml",
        &format!("provider: slow\n{}", suite(20)),
    );
    let with_gate = |gate: &str| {
        p.file(
            "evalgate.yaml",
            &format!(
                "providers:\n  slow: {{type: mock, responses: mock.yaml, latency_ms: 30}}\ngate:\n  latency: {gate}\n"
            ),
        );
        p.run(&["run", "--no-progress", "--no-reports", "-j", "20"])
    };
    // 20 answers: enough for p95 (needs 20), which is above 5 ms.
    let r = with_gate("{p95_ms: 5}");
    assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("p95 latency "), "{}", r.stdout);
    assert!(
        r.stdout.contains("is above the limit 5 ms (n = 20)"),
        "{}",
        r.stdout
    );
    // A generous limit passes.
    assert_eq!(with_gate("{p95_ms: 60000, max_error_rate: 0}").code, 0);
    // p99 needs 100 samples: fail by default, a warning when asked.
    let r = with_gate("{p99_ms: 60000}");
    assert_eq!(r.code, 1);
    assert!(
        r.stdout.contains(
            "cannot judge p99 latency ≤ 60000 ms: 20 answers measured, p99 needs at least 100"
        ),
        "{}",
        r.stdout
    );
    let r = with_gate("{p99_ms: 60000, insufficient_samples: warn}");
    assert_eq!(r.code, 0, "{}", r.stdout);
    assert!(
        r.stdout.contains("warning: cannot judge p99 latency"),
        "{}",
        r.stdout
    );
    // Per suite, and TTFT (the mock does not stream: no TTFT samples).
    let r = with_gate("{suites: {chat: {ttft_p50_ms: 100}}}");
    assert_eq!(r.code, 1);
    assert!(
        r.stdout.contains("suite `chat`: cannot judge p50 TTFT"),
        "{}",
        r.stdout
    );
    // Names are checked.
    let r = with_gate("{suites: {chta: {p50_ms: 1}}, p42_ms: 3}");
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("unknown key `p42_ms`"), "{}", r.stderr);
    assert!(r.stderr.contains("chta"), "{}", r.stderr);
}

#[test]
fn the_error_rate_gate_counts_attempts_without_an_answer() {
    let p = Project::new();
    p.file(
        "mock.yaml",
        "default: one\nresponses:\n  - case: chat/q0\n    error: simulated 503\n",
    );
    p.file(
        "evalgate.yaml",
        "providers:\n  m: {type: mock, responses: mock.yaml}\ngate:\n  fail_on_error: false\n  latency: {max_error_rate: 0.05}\n",
    );
    p.file("suites/chat.yaml", &format!("provider: m\n{}", suite(10)));
    let r = p.run(&["run", "--no-progress", "--no-reports"]);
    assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
    assert!(
        r.stdout
            .contains("error rate 10.0% (1 of 10 attempts) is above the maximum 5.0%"),
        "{}",
        r.stdout
    );
}

#[test]
fn a_stamping_server_gives_the_per_event_delay() {
    let p = streaming_project(None);
    let served = Served::start(&p, &["--stamp-events", "--token-delay", "1"]);
    p.file(
        "evalgate.yaml",
        &p.read("evalgate.yaml")
            .replace("http://127.0.0.1:9", &served.url()),
    );
    let r = p.run(&["run", "--no-progress"]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let report = p.json_report();
    crate::util::assert_valid_report(&report);
    for c in report["results"].as_array().unwrap() {
        let d = &c["attempts"][0]["event_delay"];
        // One delay per token event (8 words), ordered percentiles.
        assert_eq!(d["n"], 8, "{d}");
        let f = |k: &str| d[k].as_f64().unwrap();
        assert!(f("p50_ms") >= 0.0 && f("p50_ms") <= f("p99_ms") && f("p99_ms") <= f("max_ms"));
    }
    served.stop();
    // Without stamps there is nothing to report.
    let served = Served::start(&p, &[]);
    p.file(
        "evalgate.yaml",
        &regex::Regex::new(r"http://127\.0\.0\.1:\d+")
            .unwrap()
            .replace(&p.read("evalgate.yaml"), served.url().as_str()),
    );
    let r = p.run(&["run", "--no-progress"]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert!(p.json_report()["results"][0]["attempts"][0]["event_delay"].is_null());
    served.stop();
}

/// A plain-http endpoint goes through evalgate's own client, whose sockets
/// stamp the bytes: a whole answer's headers come after serve-mock's fixed
/// delay, its end after its headers, and four requests in flight at a time
/// share at most four connections.
#[test]
fn a_whole_answer_is_timed_at_the_socket_and_connections_are_reused() {
    let p = streaming_project(None);
    let served = Served::start(&p, &["--latency", "30"]);
    p.file(
        "evalgate.yaml",
        &p.read("evalgate.yaml")
            .replace("http://127.0.0.1:9", &served.url())
            .replace("    stream: true\n    max_concurrency: 1\n", ""),
    );
    p.file("suites/chat.yaml", &format!("provider: api\n{}", suite(12)));
    let r = p.run(&["run", "--no-progress", "-j", "4"]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let report = p.json_report();
    let attempts: Vec<&serde_json::Value> = report["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| &c["attempts"][0])
        .collect();
    assert_eq!(attempts.len(), 12);
    for a in &attempts {
        let f = |k: &str| a[k].as_f64().unwrap_or_else(|| panic!("{k} missing: {a}"));
        assert!(
            f("headers_ms") >= 30.0,
            "serve-mock waits 30 ms before its headers: {a}"
        );
        assert!(f("headers_ms") <= f("latency_ms"), "{a}");
        assert!(a["ttft_ms"].is_null(), "not streamed: {a}");
    }
    let connected = attempts
        .iter()
        .filter(|a| a["connect_ms"].is_number())
        .count();
    assert!(
        (1..=4).contains(&connected),
        "{connected} connections for 12 requests, 4 at a time"
    );
    served.stop();
}

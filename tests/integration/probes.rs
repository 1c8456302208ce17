//! Endpoint probes, end to end: the real binary probes a deliberately
//! vulnerable target (`py/vulnerable_target.py --mode vulnerable`: no key
//! check, no rate limit, no size limit, 500s with Python tracebacks) through
//! an `openai` and an `http` provider, and every probe must fail with its
//! evidence; against the same target in safe mode every probe passes. All
//! traffic stays on 127.0.0.1 and every burst is bounded.

use crate::target::{run, Target, KEY};
use crate::util::{normalize, repo, Project};

const PROBES: &str =
    "[auth, {rate_limit: {burst: 60, within: 5s}}, {oversized_body: {bytes: 2MB}}, malformed_request]";

/// A project with an `openai` and an `http` provider on the target, each
/// used by a suite and probed with all four probes.
fn project(t: &Target) -> Project {
    let p = Project::new();
    let port = t.port;
    p.file(
        "evalgate.yaml",
        &format!(
            r#"default_provider: api
providers:
  api:
    type: openai
    base_url: http://127.0.0.1:{port}/v1
    model: target-model
    api_key_env: TARGET_KEY
    max_retries: 2                   # a case that meets the rate-limit burst waits and retries
    probes: {PROBES}
  app:
    type: http
    url: http://127.0.0.1:{port}/chat
    api_key_env: TARGET_KEY
    body: {{message: "{{{{ prompt }}}}"}}
    output: /reply
    max_retries: 2                   # a case that meets the rate-limit burst waits and retries
    probes: {PROBES}
reports: {{junit: reports/junit.xml, json: reports/report.json, markdown: reports/summary.md}}
"#
        ),
    );
    p.file(
        "suites/api.yaml",
        "name: api\nprovider: api\nprompt: Where is my parcel?\ncases:\n  - id: hello\n    checks: [no_stack_trace]\n",
    );
    p.file(
        "suites/app.yaml",
        "name: app\nprovider: app\nprompt: Where is my parcel?\ncases:\n  - id: hello\n    checks: [no_stack_trace]\n",
    );
    p
}

/// (provider, case, outcome, check message, output) of the probe cases.
fn probe_results(p: &Project) -> Vec<(String, String, String, String, String)> {
    let v = p.json_report();
    v["results"]
        .as_array()
        .expect("results")
        .iter()
        .filter(|r| r["suite"] == "probes")
        .map(|r| {
            let s = |v: &serde_json::Value| v.as_str().unwrap_or_default().to_string();
            let attempt = &r["attempts"][0];
            (
                s(&r["provider"]),
                s(&r["case"]),
                s(&r["outcome"]),
                s(&attempt["checks"][0]["message"]),
                s(&attempt["output"]),
            )
        })
        .collect()
}

fn no_secret(p: &Project, r: &crate::util::Run) {
    for (what, text) in [
        ("stdout", r.stdout.clone()),
        ("stderr", r.stderr.clone()),
        ("junit", p.read("reports/junit.xml")),
        ("json", p.read("reports/report.json")),
        ("markdown", p.read("reports/summary.md")),
    ] {
        assert!(!text.contains(KEY), "the key is in the {what}");
    }
}

#[test]
fn every_probe_catches_the_vulnerable_target() {
    let t = Target::start("vulnerable");
    let p = project(&t);
    let r = run(&p, &["run"]);
    assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
    no_secret(&p, &r);
    let results = probe_results(&p);
    assert_eq!(results.len(), 8, "{results:#?}");
    let expected: &[(&str, &[&str])] = &[
        (
            "auth",
            &[
                "accepted a request without credentials (HTTP 200)",
                "accepted a request with a wrong key (HTTP 200)",
            ],
        ),
        ("rate_limit", &["no 429 after 60 requests"]),
        (
            "oversized_body",
            &["answered a 2 MiB body with HTTP 500 (a server error)"],
        ),
        (
            "malformed_request",
            &[
                "invalid JSON, a wrong content type and missing fields → HTTP 500, a body that is not JSON (text/plain), a Python traceback",
                "expected 400/415/422 with a JSON error body and no stack trace",
            ],
        ),
    ];
    for (provider, case, outcome, message, output) in &results {
        assert_eq!(outcome, "fail", "{provider} {case}: {message}\n{output}");
        let (_, wanted) = expected
            .iter()
            .find(|(c, _)| c == case)
            .unwrap_or_else(|| panic!("unexpected probe {case}"));
        for w in *wanted {
            assert!(message.contains(w), "{provider} {case}: {message}");
        }
        // The evidence: the exchanges with status, headers and body.
        assert!(output.contains(": HTTP "), "{output}");
        assert!(output.contains("content-type: "), "{output}");
    }
    let (_, _, _, _, malformed) = results
        .iter()
        .find(|r| r.0 == "api" && r.1 == "malformed_request")
        .expect("api malformed_request");
    assert!(
        malformed.contains("stack trace: Python traceback (first frame: File "),
        "{malformed}"
    );
    let (_, _, _, _, rate) = results
        .iter()
        .find(|r| r.0 == "app" && r.1 == "rate_limit")
        .expect("app rate_limit");
    assert!(rate.contains("burst: 60 requests sent"), "{rate}");
    // The console explains the failure with the evidence.
    let auth = r
        .stdout
        .split("✗ fail   probes/auth")
        .nth(1)
        .and_then(|s| s.split("\n✗").next())
        .expect("the console shows probes/auth");
    let port = regex::Regex::new(r"127\.0\.0\.1:\d+").expect("regex");
    let created = regex::Regex::new(r#""created": \d+"#).expect("regex");
    let console = format!("✗ fail   probes/auth{auth}");
    let shown = port.replace_all(&console, "127.0.0.1:[PORT]");
    let shown = normalize(&created.replace_all(&shown, r#""created": [TIME]"#));
    insta::assert_snapshot!("vulnerable_auth_console", shown);
    // The JSON report with probe cases is valid against its schema.
    crate::util::assert_valid_report(&p.json_report());
    // JUnit names the probe cases, in a group per provider (like a matrix).
    let junit = p.read("reports/junit.xml");
    for group in ["probes [api]", "probes [app]"] {
        assert!(
            junit.contains(&format!("<testsuite name=\"{group}\"")),
            "{junit}"
        );
    }
    let markdown = p.read("reports/summary.md");
    assert!(markdown.contains("probes/auth [app]"), "{markdown}");
    for case in ["auth", "rate_limit", "oversized_body", "malformed_request"] {
        assert!(junit.contains(&format!("name=\"{case}")), "{junit}");
    }
}

#[test]
fn a_safe_target_passes_every_probe() {
    let t = Target::start("safe");
    let p = project(&t);
    let r = run(&p, &["run"]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    no_secret(&p, &r);
    let results = probe_results(&p);
    assert_eq!(results.len(), 8, "{results:#?}");
    for (provider, case, outcome, message, output) in &results {
        assert_eq!(outcome, "pass", "{provider} {case}: {message}\n{output}");
    }
    let rate = &results
        .iter()
        .find(|r| r.0 == "api" && r.1 == "rate_limit")
        .expect("api rate_limit")
        .4;
    assert!(rate.contains("Retry-After: 1 → waited 1 s"), "{rate}");
    assert!(rate.contains("recovered: yes"), "{rate}");
}

#[test]
fn probes_are_selected_like_cases_and_never_sent_under_replay() {
    let t = Target::start("safe");
    let p = project(&t);
    let r = run(&p, &["run", "--filter", "probes/auth"]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let results = probe_results(&p);
    let cases: Vec<(&str, &str)> = results
        .iter()
        .map(|r| (r.0.as_str(), r.1.as_str()))
        .collect();
    assert_eq!(cases, vec![("api", "auth"), ("app", "auth")]);
    assert_eq!(t.requests(), 4, "two probes of two requests each");

    let r = run(&p, &["run", "--replay", "--filter", "probes/*"]);
    assert_eq!(t.requests(), 4, "no request under --replay\n{}", r.stdout);
    let results = probe_results(&p);
    assert_eq!(results.len(), 8, "{results:#?}");
    for (_, case, outcome, _, _) in &results {
        assert_eq!(outcome, "skipped", "{case}");
    }
    let v = p.json_report();
    for r in v["results"].as_array().expect("results") {
        assert_eq!(
            r["skip_reason"], "endpoint probes are live only: not sent under --replay",
            "{r:#}"
        );
    }
}

#[test]
fn probe_configuration_errors_name_the_line() {
    let p = Project::new();
    p.file(
        "evalgate.yaml",
        "default_provider: local\nproviders:\n  local:\n    type: exec\n    command: [cat]\n    probes: [auth]\n  api:\n    type: openai\n    base_url: http://127.0.0.1:9/v1\n    model: m\n    probes: [auht, {rate_limit: {brust: 5}}]\n",
    );
    p.file(
        "suites/a.yaml",
        "prompt: hi\ncases:\n  - id: a\n    checks: [is_json]\n",
    );
    let r = p.run(&["validate"]);
    assert_eq!(r.code, 2, "{}\n{}", r.stdout, r.stderr);
    let all = format!("{}{}", r.stdout, r.stderr);
    assert!(
        all.contains("`probes` does not apply to a provider of type `exec`"),
        "{all}"
    );
    assert!(all.contains("evalgate.yaml:6:"), "{all}");
    assert!(all.contains("unknown probe `auht`"), "{all}");
    assert!(all.contains("did you mean `auth`?"), "{all}");
    assert!(all.contains("evalgate.yaml:11:"), "{all}");
    assert!(all.contains("did you mean `burst`?"), "{all}");
}

#[test]
fn the_readme_example_runs_as_written() {
    let readme = std::fs::read_to_string(repo().join("README.md")).expect("README");
    let section = readme
        .split("### Endpoint probes")
        .nth(1)
        .expect("the README has an Endpoint probes section");
    let yaml = section
        .split("```yaml\n")
        .nth(1)
        .and_then(|s| s.split("```").next())
        .expect("a YAML example");
    for (mode, code, outcome) in [("safe", 0, "pass"), ("vulnerable", 1, "fail")] {
        let t = Target::start(mode);
        let p = Project::new();
        p.file(
            "evalgate.yaml",
            &yaml.replace("127.0.0.1:8080", &format!("127.0.0.1:{}", t.port)),
        );
        p.file(
            "suites/support.yaml",
            "name: support\nprompt: Where is my parcel?\ncases:\n  - id: parcel\n    checks: [no_stack_trace]\n",
        );
        p.file(
            "suites/app.yaml",
            "name: app\nprovider: app\nprompt: Where is my parcel?\ncases:\n  - id: parcel\n    checks: [no_stack_trace]\n",
        );
        let r = crate::util::Run::from(
            crate::util::evalgate(p.path())
                .env("STAGING_KEY", KEY)
                .args(["run", "--filter", "probes/*", "--json", "report.json"])
                .output()
                .expect("run evalgate"),
        );
        assert_eq!(r.code, code, "{mode}\n{}\n{}", r.stdout, r.stderr);
        let v: serde_json::Value =
            serde_json::from_str(&p.read("report.json")).expect("report.json");
        let results = v["results"].as_array().expect("results");
        assert_eq!(results.len(), 8, "{mode}: {v:#}");
        for c in results {
            assert_eq!(c["outcome"], outcome, "{mode}: {c:#}");
        }
        if mode == "vulnerable" {
            assert!(
                r.stdout.contains("✗ probe: invalid JSON, a wrong content type and missing fields → HTTP 500, a body that is not JSON (text/plain), a Python traceback; expected 400/415/422 with a JSON error body and no stack trace"),
                "{}",
                r.stdout
            );
        }
    }
}

#[test]
fn an_unreachable_endpoint_is_an_error_not_a_failure() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    let p = Project::new();
    p.file(
        "evalgate.yaml",
        &format!("default_provider: api\nproviders:\n  api:\n    type: openai\n    base_url: http://127.0.0.1:{port}/v1\n    model: m\n    probes: [auth]\nreports: {{json: reports/report.json}}\n"),
    );
    p.file(
        "suites/a.yaml",
        "prompt: hi\ncases:\n  - id: a\n    checks: [is_json]\n",
    );
    let r = p.run(&["run", "--filter", "probes/*"]);
    let results = probe_results(&p);
    assert_eq!(results.len(), 1, "{}\n{}", r.stdout, r.stderr);
    assert_eq!(results[0].2, "error", "{}", r.stdout);
    assert!(r.stdout.contains("probe could not reach"), "{}", r.stdout);
}

/// A server on a free port that reads each request's head, then answers
/// with `answer` (nothing when empty) and closes at once without reading
/// the body: a reset for a client still sending it.
fn closing_server(answer: &'static [u8]) -> u16 {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        for conn in listener.incoming().flatten() {
            let mut conn = conn;
            let mut head = Vec::new();
            let mut buf = [0u8; 4096];
            while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                match conn.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => head.extend_from_slice(&buf[..n]),
                }
            }
            let _ = conn.write_all(answer);
            drop(conn);
        }
    });
    port
}

#[test]
fn an_early_413_counts_and_a_silent_close_fails() {
    let cases: [(&[u8], &str, &str); 2] = [
        (
            b"HTTP/1.1 413 Payload Too Large\r\ncontent-type: application/json\r\ncontent-length: 2\r\nconnection: close\r\n\r\n{}",
            "pass",
            "refused an 8 MiB body with HTTP 413",
        ),
        (
            b"",
            "fail",
            "no clean answer to an 8 MiB body: connection closed without a response",
        ),
    ];
    for (answer, outcome, message) in cases {
        let port = closing_server(answer);
        let p = Project::new();
        p.file(
            "evalgate.yaml",
            &format!("default_provider: api\nproviders:\n  api:\n    type: openai\n    base_url: http://127.0.0.1:{port}/v1\n    model: m\n    probes: [oversized_body]\nreports: {{json: reports/report.json}}\n"),
        );
        p.file(
            "suites/a.yaml",
            "prompt: hi\ncases:\n  - id: a\n    checks: [is_json]\n",
        );
        let r = p.run(&["run", "--filter", "probes/*"]);
        let results = probe_results(&p);
        assert_eq!(results.len(), 1, "{}\n{}", r.stdout, r.stderr);
        assert_eq!(results[0].2, outcome, "{}", r.stdout);
        assert!(results[0].3.contains(message), "{}", results[0].3);
    }
}

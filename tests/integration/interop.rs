//! The real binary against real third-party model servers on 127.0.0.1
//! (`servers.rs`): fakellm for correct OpenAI and Anthropic APIs (plain and
//! streamed, tool calls, a 429 rule), llmock for scripted faults (429 with
//! Retry-After, 500s, cut and dropped streams, slow answers) and its verdict
//! on how the client coped. Also record/replay with the server gone, and
//! secrets that must never reach a file or the console.
//!
//! Every test starts its own servers (they start in well under a second) and
//! reuses them across its runs; nothing sleeps except what Retry-After asks.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::servers::{free_port, HeaderEcho, Server};
use crate::util::{evalgate, Project, Run};

const RULES: &str = include_str!("fixtures/interop/fakellm.yaml");
const CAPITALS: &str = include_str!("fixtures/interop/suites/capitals.yaml");
const TOOLS: &str = include_str!("fixtures/interop/suites/tools.yaml");
const LIMITS: &str = include_str!("fixtures/interop/suites/limits.yaml");
const DATASET: &str = include_str!("fixtures/interop/datasets/capitals.csv");

const REPORTS: &str =
    "reports: {junit: reports/junit.xml, json: reports/report.json, markdown: reports/summary.md}\n";

/// A tool both APIs can offer (OpenAI and Anthropic shapes).
const OPENAI_TOOLS: &str = "[{type: function, function: {name: get_weather, description: Current weather, parameters: {type: object, properties: {city: {type: string}}, required: [city]}}}]";
const ANTHROPIC_TOOLS: &str = "[{name: get_weather, description: Current weather, input_schema: {type: object, properties: {city: {type: string}}, required: [city]}}]";

/// A project with the interop suites and dataset, and `providers` (YAML
/// lines, indented by two) under `providers:`.
fn project(default: &str, providers: &str) -> Project {
    let p = Project::new();
    p.file(
        "evalgate.yaml",
        &format!("default_provider: {default}\nproviders:\n{providers}{REPORTS}"),
    );
    p.file("suites/capitals.yaml", CAPITALS);
    p.file("suites/tools.yaml", TOOLS);
    p.file("suites/limits.yaml", LIMITS);
    p.file("datasets/capitals.csv", DATASET);
    p
}

/// Run with extra environment (`Some`) or without a variable (`None`).
fn run_env(p: &Project, args: &[&str], env: &[(&str, Option<&str>)]) -> Run {
    let mut c = evalgate(p.path());
    c.args(args);
    for (k, v) in env {
        match v {
            Some(v) => c.env(k, v),
            None => c.env_remove(k),
        };
    }
    Run::from(c.output().expect("run evalgate"))
}

fn show(r: &Run) -> String {
    format!(
        "exit {}\n--- stdout ---\n{}\n--- stderr ---\n{}",
        r.code, r.stdout, r.stderr
    )
}

/// `results[]` of the JSON report, keyed by (`suite/case`, provider).
fn results(p: &Project) -> BTreeMap<(String, String), Value> {
    p.json_report()["results"]
        .as_array()
        .expect("results[]")
        .iter()
        .map(|r| {
            (
                (
                    r["id"].as_str().unwrap().to_string(),
                    r["provider"].as_str().unwrap().to_string(),
                ),
                r.clone(),
            )
        })
        .collect()
}

fn get<'a>(rs: &'a BTreeMap<(String, String), Value>, id: &str, provider: &str) -> &'a Value {
    rs.get(&(id.to_string(), provider.to_string()))
        .unwrap_or_else(|| {
            panic!(
                "no result for {id} [{provider}] in {:?}",
                rs.keys().collect::<Vec<_>>()
            )
        })
}

/// The first (only) attempt of a result.
fn attempt(r: &Value) -> &Value {
    &r["attempts"][0]
}

fn outcome(r: &Value) -> &str {
    r["outcome"].as_str().unwrap_or("?")
}

// ---------------------------------------------------------------------------
// fakellm: correct APIs
// ---------------------------------------------------------------------------

/// The example project's capitals suite (plus a tool-call suite) against
/// fakellm through `openai` and `anthropic`, each plain and streamed: every
/// case passes, with usage, finish reasons, and stream timing when streamed.
#[test]
fn fakellm_example_suites_pass_over_openai_and_anthropic_plain_and_streamed() {
    let s = Server::fakellm(RULES);
    let (o, a) = (s.openai_base(), s.anthropic_base());
    let p = project(
        "oa",
        &format!(
            "  oa: {{type: openai, base_url: \"{o}\", model: gpt-4o-mini, temperature: 0, tools: {OPENAI_TOOLS}}}\n\
             \x20 oa-stream: {{type: openai, base_url: \"{o}\", model: gpt-4o-mini, stream: true, tools: {OPENAI_TOOLS}}}\n\
             \x20 claude: {{type: anthropic, base_url: \"{a}\", model: claude-3-5-haiku-latest, max_tokens: 256, tools: {ANTHROPIC_TOOLS}}}\n\
             \x20 claude-stream: {{type: anthropic, base_url: \"{a}\", model: claude-3-5-haiku-latest, max_tokens: 256, stream: true, tools: {ANTHROPIC_TOOLS}}}\n"
        ),
    );
    for (provider, streamed, anthropic) in [
        ("oa", false, false),
        ("oa-stream", true, false),
        ("claude", false, true),
        ("claude-stream", true, true),
    ] {
        let before = s.total_requests();
        let r = p.run(&[
            "run",
            "suites/capitals.yaml",
            "suites/tools.yaml",
            "--provider",
            provider,
        ]);
        assert_eq!(r.code, 0, "[{provider}] {}", show(&r));
        let rs = results(&p);
        assert_eq!(
            rs.len(),
            10,
            "[{provider}] 9 capitals + 1 tools case: {:?}",
            rs.keys()
        );
        assert_eq!(
            s.total_requests() - before,
            10,
            "[{provider}] one request per case"
        );
        for ((id, prov), res) in &rs {
            assert_eq!(prov, provider);
            assert_eq!(outcome(res), "pass", "[{provider}] {id}: {res:#}");
            let at = attempt(res);
            assert!(
                at.get("retries").is_none(),
                "[{provider}] {id}: no retries: {at:#}"
            );
            assert!(
                at["model"].as_str().is_some(),
                "[{provider}] {id}: model id: {at:#}"
            );
            if streamed {
                let ttft = at["ttft_ms"].as_f64();
                assert!(
                    ttft.is_some_and(|t| t >= 0.0),
                    "[{provider}] {id}: ttft_ms: {at:#}"
                );
                assert!(
                    ttft.unwrap() <= at["latency_ms"].as_f64().unwrap(),
                    "[{provider}] {id}: ttft within latency: {at:#}"
                );
                assert!(
                    at["chunks"].as_u64().is_some_and(|c| c >= 1),
                    "[{provider}] {id}: chunks: {at:#}"
                );
            } else {
                assert!(
                    at.get("ttft_ms").is_none(),
                    "[{provider}] {id}: not streamed: {at:#}"
                );
                assert!(
                    at.get("chunks").is_none(),
                    "[{provider}] {id}: not streamed: {at:#}"
                );
            }
            // fakellm reports usage in every answer except OpenAI streams
            // (it ignores stream_options.include_usage).
            if !streamed || anthropic {
                let u = &at["usage"];
                assert!(
                    u["output_tokens"].as_u64().is_some_and(|n| n > 0),
                    "[{provider}] {id}: usage captured: {at:#}"
                );
                assert_eq!(
                    u["total_tokens"].as_u64(),
                    Some(
                        u["input_tokens"].as_u64().unwrap() + u["output_tokens"].as_u64().unwrap()
                    ),
                    "[{provider}] {id}: {at:#}"
                );
            }
        }
        // Text answers: the exact output and the API's finish reason.
        let france = attempt(get(&rs, "capitals/france", provider));
        assert_eq!(
            france["output"], "The capital of France is Paris.",
            "[{provider}]"
        );
        assert_eq!(
            france["finish_reason"],
            if anthropic { "end_turn" } else { "stop" },
            "[{provider}] {france:#}"
        );
        assert_eq!(
            attempt(get(&rs, "capitals/exact", provider))["output"],
            "Paris"
        );
        assert_eq!(
            attempt(get(&rs, "capitals/kenya", provider))["output"],
            "Nairobi"
        );
        if !streamed {
            // Input tokens as fakellm counts them: the system and user prompts.
            assert!(
                france["usage"]["input_tokens"].as_u64().unwrap() > 5,
                "[{provider}] {france:#}"
            );
        }
        // The tool call, parsed from the API's own shape.
        let weather = attempt(get(&rs, "tools/weather", provider));
        let calls = weather["tool_calls"]
            .as_array()
            .unwrap_or_else(|| panic!("[{provider}] tool_calls: {weather:#}"));
        assert_eq!(calls.len(), 1, "[{provider}] {weather:#}");
        assert_eq!(calls[0]["name"], "get_weather");
        let args: Value = serde_json::from_str(calls[0]["arguments"].as_str().unwrap())
            .expect("arguments are JSON");
        assert_eq!(
            args,
            json!({"city": "Paris", "unit": "celsius"}),
            "[{provider}]"
        );
        assert!(
            calls[0]["id"].as_str().is_some_and(|i| !i.is_empty()),
            "[{provider}] call id: {weather:#}"
        );
        assert_eq!(
            weather["finish_reason"],
            if anthropic { "tool_use" } else { "tool_calls" },
            "[{provider}] {weather:#}"
        );
        // One provider: JUnit suites carry no provider suffix.
        let junit = p.read("reports/junit.xml");
        assert!(
            junit.contains("<testsuite name=\"capitals\""),
            "[{provider}] {junit}"
        );
    }
}

/// fakellm's 429 rule (no Retry-After) on non-streamed requests: the case
/// ends as `error` after `max_retries` retries, with the status in the
/// message, while the other case passes; the gate fails with exit 1 (some
/// answers were usable), not 3.
#[test]
fn fakellm_rate_limit_rule_is_an_error_after_retries_and_the_gate_fails_with_1() {
    let s = Server::fakellm(RULES);
    let (o, a) = (s.openai_base(), s.anthropic_base());
    let p = project(
        "oa",
        &format!(
            "  oa: {{type: openai, base_url: \"{o}\", model: gpt-4o-mini, max_retries: 2, backoff: 10ms, backoff_max: 50ms}}\n\
             \x20 claude: {{type: anthropic, base_url: \"{a}\", model: claude-3-5-haiku-latest, max_tokens: 64, max_retries: 3, backoff: 10ms, backoff_max: 50ms}}\n"
        ),
    );
    for (provider, retries) in [("oa", 2u64), ("claude", 3)] {
        let before = s.rule_hits("rate_limit");
        let r = p.run(&["run", "suites/limits.yaml", "--provider", provider]);
        assert_eq!(
            r.code,
            1,
            "[{provider}] the gate fails on the error: {}",
            show(&r)
        );
        let rs = results(&p);
        assert_eq!(outcome(get(&rs, "limits/answered", provider)), "pass");
        let t = get(&rs, "limits/throttled", provider);
        assert_eq!(outcome(t), "error", "[{provider}] {t:#}");
        let at = attempt(t);
        let err = at["error"].as_str().unwrap_or_default();
        assert!(
            err.contains("429"),
            "[{provider}] status in the error: {err}"
        );
        assert!(
            err.contains("Rate limit exceeded (mock)"),
            "[{provider}] server message: {err}"
        );
        assert!(at.get("output").is_none(), "[{provider}] no output: {at:#}");
        // Exactly 1 + max_retries tries reached the server.
        assert_eq!(
            s.rule_hits("rate_limit") - before,
            retries + 1,
            "[{provider}] tries"
        );
        assert!(
            err.contains(&format!("after {} tries", retries + 1)),
            "[{provider}] {err}"
        );
        let report = p.json_report();
        assert_eq!(report["verdict"]["exit_code"], 1);
        assert_eq!(report["summary"]["overall"]["errored"], 1);
        assert!(r.stdout.contains("1 case had errors"), "{}", show(&r));
    }
}

/// `--provider a --provider b`: every suite against both; JUnit suites named
/// `suite [provider]`, the Markdown summary compares them side by side.
#[test]
fn fakellm_provider_matrix_openai_and_anthropic() {
    let s = Server::fakellm(RULES);
    let (o, a) = (s.openai_base(), s.anthropic_base());
    let p = project(
        "oa",
        &format!(
            "  oa: {{type: openai, base_url: \"{o}\", model: gpt-4o-mini}}\n\
             \x20 claude: {{type: anthropic, base_url: \"{a}\", model: claude-3-5-haiku-latest, max_tokens: 256, stream: true}}\n"
        ),
    );
    let r = p.run(&[
        "run",
        "suites/capitals.yaml",
        "--provider",
        "oa",
        "--provider",
        "claude",
    ]);
    assert_eq!(r.code, 0, "{}", show(&r));
    assert_eq!(s.total_requests(), 18, "9 cases x 2 providers");
    let rs = results(&p);
    assert_eq!(rs.len(), 18);
    for ((id, prov), res) in &rs {
        assert_eq!(outcome(res), "pass", "{id} [{prov}]");
    }
    // Same answers from both APIs.
    for id in ["capitals/france", "capitals/exact", "capitals/spain"] {
        assert_eq!(
            attempt(get(&rs, id, "oa"))["output"],
            attempt(get(&rs, id, "claude"))["output"],
            "{id}"
        );
    }
    let report = p.json_report();
    assert_eq!(report["run"]["providers"], json!(["oa", "claude"]));
    assert_eq!(
        report["summary"]["providers"]["oa"]["passed"], 9,
        "{:#}",
        report["summary"]
    );
    assert_eq!(report["summary"]["providers"]["claude"]["passed"], 9);

    let junit = p.read("reports/junit.xml");
    for suite in ["capitals [oa]", "capitals [claude]"] {
        assert!(
            junit.contains(&format!("<testsuite name=\"{suite}\"")),
            "{suite} in\n{junit}"
        );
    }
    assert!(!junit.contains("<testsuite name=\"capitals\""), "{junit}");
    let md = p.read("reports/summary.md");
    assert!(md.contains("Providers side by side"), "{md}");
    let table: Vec<&str> = md.lines().filter(|l| l.starts_with('|')).collect();
    assert!(
        table
            .iter()
            .any(|l| l.contains("oa") && l.contains("claude")),
        "a header row with both providers: {md}"
    );
    assert!(
        table.iter().any(|l| l.contains("time to first token")),
        "TTFT row (claude streams): {md}"
    );
}

// ---------------------------------------------------------------------------
// llmock: faults
// ---------------------------------------------------------------------------

/// A one-case suite for llmock's echo style ("Hello! You said: <prompt>").
const ECHO_SUITE: &str = "name: echo\nprompt: \"What is the capital of France?\"\ncases:\n  - id: france\n    checks: [{contains: \"You said: What is the capital of France?\"}]\n";

/// Scripted faults that the provider's retries must absorb, one provider per
/// fault (scoped by model, so all run at once): 429 with Retry-After 1 s,
/// two 500s, a truncated and a dropped OpenAI stream, a truncated Anthropic
/// stream, an Anthropic 429, an answer slower than the per-try timeout.
/// Every case passes with the right retry count, Retry-After is honoured,
/// and llmock's verdict finds no misbehaviour.
#[test]
fn llmock_faults_are_recovered_by_retries_and_retry_after_is_honoured() {
    let s = Server::llmock(&[]);
    let (o, a) = (s.openai_base(), s.anthropic_base());
    let common = "max_retries: 3, backoff: 50ms, backoff_max: 2s, timeout: 5s";
    let p = project(
        "r429",
        &format!(
            "  r429: {{type: openai, base_url: \"{o}\", model: m-429, {common}}}\n\
             \x20 r500: {{type: openai, base_url: \"{o}\", model: m-500, {common}}}\n\
             \x20 rtrunc: {{type: openai, base_url: \"{o}\", model: m-trunc, stream: true, {common}}}\n\
             \x20 rdisc: {{type: openai, base_url: \"{o}\", model: m-disc, stream: true, {common}}}\n\
             \x20 atrunc: {{type: anthropic, base_url: \"{a}\", model: m-atrunc, stream: true, {common}}}\n\
             \x20 a429: {{type: anthropic, base_url: \"{a}\", model: m-a429, max_retries: 3, backoff: 50ms, timeout: 5s}}\n\
             \x20 rslow: {{type: openai, base_url: \"{o}\", model: m-slow, max_retries: 2, backoff: 10ms, timeout: 3s}}\n\
             \x20 rstall: {{type: openai, base_url: \"{o}\", model: m-stall, stream: true, max_retries: 1, backoff: 10ms, timeout: 3s}}\n\
             \x20 rfrac: {{type: openai, base_url: \"{o}\", model: m-frac, max_retries: 1, backoff: 10ms, backoff_max: 5s}}\n\
             \x20 a529: {{type: anthropic, base_url: \"{a}\", model: m-a529, {common}}}\n"
        ),
    );
    p.file("suites/echo.yaml", ECHO_SUITE);
    let only = |m: &str| json!({"model": m});
    s.scenario(json!([
        {"type": "fail", "status": 429, "retry_after": 1, "times": 1, "match": only("m-429")},
        {"type": "fail", "status": 500, "times": 2, "match": only("m-500")},
        {"type": "stream_fault", "kind": "truncate", "after_chunks": 2, "times": 1, "match": {"model": "m-trunc", "stream": true}},
        {"type": "stream_fault", "kind": "disconnect", "after_chunks": 2, "times": 1, "match": {"model": "m-disc", "stream": true}},
        {"type": "stream_fault", "kind": "truncate", "after_chunks": 3, "times": 1, "match": {"model": "m-atrunc", "stream": true}},
        {"type": "fail", "status": 429, "retry_after": 1, "times": 1, "match": only("m-a429")},
        {"type": "delay", "seconds": 30, "times": 1, "match": only("m-slow")},
        {"type": "stream_fault", "kind": "stall", "after_chunks": 2, "stall_seconds": 30, "times": 1, "match": {"model": "m-stall", "stream": true}},
        // Sent as `retry-after: 1` (whole seconds) and `retry-after-ms: 100`.
        {"type": "fail", "status": 429, "retry_after": 0.1, "times": 1, "match": only("m-frac")},
        // Anthropic's "overloaded".
        {"type": "fail", "status": 529, "times": 2, "match": only("m-a529")},
    ]));
    let providers = [
        "r429", "r500", "rtrunc", "rdisc", "atrunc", "a429", "rslow", "rstall", "rfrac", "a529",
    ];
    let mut args = vec!["run", "suites/echo.yaml"];
    for pr in providers {
        args.extend(["--provider", pr]);
    }
    let started = Instant::now();
    let r = p.run(&args);
    let wall = started.elapsed();
    assert_eq!(r.code, 0, "{}\n--- llmock ---\n{}", show(&r), s.log());
    let rs = results(&p);
    for (provider, retries) in [
        ("r429", 1u64),
        ("r500", 2),
        ("rtrunc", 1),
        ("rdisc", 1),
        ("atrunc", 1),
        ("a429", 1),
        ("rslow", 1),
        ("rstall", 1),
        ("rfrac", 1),
        ("a529", 2),
    ] {
        let res = get(&rs, "echo/france", provider);
        assert_eq!(outcome(res), "pass", "[{provider}] {res:#}");
        let at = attempt(res);
        assert_eq!(
            at["retries"].as_u64(),
            Some(retries),
            "[{provider}] retries: {at:#}"
        );
        assert_eq!(
            at["output"], "Hello! You said: What is the capital of France?",
            "[{provider}]"
        );
    }
    // Retry-After: 1 was honoured: the run took at least a second, and the
    // retry reached llmock at least ~1 s after the 429 went out.
    assert!(wall >= Duration::from_millis(950), "run took {wall:?}");
    let journal = s.requests();
    for model in ["m-429", "m-a429"] {
        let tries: Vec<&Value> = journal.iter().filter(|q| q["model"] == model).collect();
        assert_eq!(tries.len(), 2, "{model}: {tries:#?}");
        assert_eq!(tries[0]["status"], 429);
        assert_eq!(
            tries[0]["retry_after"].as_f64(),
            Some(1.0),
            "{:#}",
            tries[0]
        );
        assert_eq!(tries[1]["status"], 200);
        let gap = tries[1]["started_at"].as_f64().unwrap() - tries[0]["ended_at"].as_f64().unwrap();
        assert!(
            gap >= 0.95,
            "{model}: retried {gap:.3}s after a 429 with Retry-After: 1"
        );
        assert!(
            gap < 20.0,
            "{model}: waited {gap:.3}s, far beyond Retry-After: 1"
        );
    }
    let count = |m: &str| journal.iter().filter(|q| q["model"] == m).count();
    assert_eq!(count("m-500"), 3);
    assert_eq!(count("m-trunc"), 2);
    assert_eq!(count("m-disc"), 2);
    assert_eq!(count("m-atrunc"), 2);
    // m-slow and m-stall: the abandoned first try is still held open by the
    // server (a 30 s delay), so the journal cannot count it yet; their
    // `retries: 1` in the report above is the evidence.
    // retry-after-ms (100) is preferred to the whole-second Retry-After (1).
    let frac: Vec<&Value> = journal.iter().filter(|q| q["model"] == "m-frac").collect();
    assert_eq!(frac.len(), 2, "{frac:#?}");
    let gap = frac[1]["started_at"].as_f64().unwrap() - frac[0]["ended_at"].as_f64().unwrap();
    assert!(
        (0.09..0.9).contains(&gap),
        "retried {gap:.3}s after retry-after-ms: 100 / retry-after: 1"
    );
    // llmock's own verdict on evalgate as a client. Text format (0.2.2):
    //   "LLMock resilience verdict: N call(s), N attempt(s), N fault(s) injected"
    //   then "  FAIL  <code>  <METHOD> <path>  (#seq, ...)" / "  WARN  ..." lines,
    //   or "  PASS  the client handled every injected fault correctly."
    let text = s.verdict_text();
    assert!(text.starts_with("LLMock resilience verdict:"), "{text}");
    for bad in [
        "retry_after_ignored",
        "truncated_stream_accepted",
        "retried_non_retryable",
        "retry_storm",
    ] {
        assert!(!text.contains(bad), "llmock verdict reports {bad}:\n{text}");
    }
    assert!(!text.contains("  FAIL  "), "{text}");
    let v = s.verdict();
    assert_eq!(v["errors"], 0, "{v:#}");
    assert_eq!(v["passed"], true, "{v:#}");
    assert!(v["faults_injected"].as_u64().unwrap() >= 7, "{v:#}");
}

/// The same faults without retries: every faulted case is an `error` whose
/// message names what went wrong, never a pass on the partial text (the
/// check would accept the text received before the cut); one request each.
/// An answer slower than `timeout` is a timeout error; a 400 or 401 is not
/// retried even with retries left. A clean provider in the same run passes,
/// so the gate fails with 1, not 3. Then a slow first token: a `max_ttft_ms`
/// failure, not an error.
#[test]
fn llmock_faults_without_retries_are_errors_never_passes_on_partial_text() {
    let s = Server::llmock(&[]);
    let (o, a) = (s.openai_base(), s.anthropic_base());
    let p = project(
        "ok",
        &format!(
            "  ok: {{type: openai, base_url: \"{o}\", model: m-ok, stream: true, max_retries: 0}}\n\
             \x20 trunc: {{type: openai, base_url: \"{o}\", model: m-trunc, stream: true, max_retries: 0}}\n\
             \x20 disc: {{type: openai, base_url: \"{o}\", model: m-disc, stream: true, max_retries: 0}}\n\
             \x20 malformed: {{type: openai, base_url: \"{o}\", model: m-mal, stream: true, max_retries: 0}}\n\
             \x20 atrunc: {{type: anthropic, base_url: \"{a}\", model: m-atrunc, stream: true, max_retries: 0}}\n\
             \x20 adisc: {{type: anthropic, base_url: \"{a}\", model: m-adisc, stream: true, max_retries: 0}}\n\
             \x20 slow: {{type: openai, base_url: \"{o}\", model: m-slow, max_retries: 0, timeout: 300ms}}\n\
             \x20 aslow: {{type: anthropic, base_url: \"{a}\", model: m-aslow, stream: true, max_retries: 0, timeout: 300ms}}\n\
             \x20 bad400: {{type: openai, base_url: \"{o}\", model: m-400, max_retries: 3, backoff: 10ms}}\n\
             \x20 a401: {{type: anthropic, base_url: \"{a}\", model: m-a401, max_retries: 3, backoff: 10ms}}\n"
        ),
    );
    // Satisfied by the text before any cut ("Hello! You said: ..."), so a
    // partial answer taken as complete would pass.
    p.file(
        "suites/echo.yaml",
        "name: echo\nprompt: \"What is the capital of France?\"\ncases:\n  - id: france\n    checks: [{contains: Hello}]\n",
    );
    let fault = |kind: &str, model: &str, after: u32| json!({"type": "stream_fault", "kind": kind, "after_chunks": after, "times": 1, "match": {"model": model, "stream": true}});
    s.scenario(json!([
        fault("truncate", "m-trunc", 2),
        fault("disconnect", "m-disc", 2),
        fault("malformed", "m-mal", 2),
        fault("truncate", "m-atrunc", 4),
        fault("disconnect", "m-adisc", 4),
        {"type": "delay", "seconds": 1.0, "times": 1, "match": {"model": "m-slow"}},
        {"type": "slow_first_token", "seconds": 1.0, "times": 1, "match": {"model": "m-aslow", "stream": true}},
        // Not retryable, whatever max_retries says.
        {"type": "fail", "status": 400, "times": 1, "match": {"model": "m-400"}},
        {"type": "fail", "status": 401, "times": 1, "match": {"model": "m-a401"}},
    ]));
    let providers = [
        "ok",
        "trunc",
        "disc",
        "malformed",
        "atrunc",
        "adisc",
        "slow",
        "aslow",
        "bad400",
        "a401",
    ];
    let mut args = vec!["run", "suites/echo.yaml"];
    for pr in providers {
        args.extend(["--provider", pr]);
    }
    let r = p.run(&args);
    assert_eq!(
        r.code,
        1,
        "errors fail the gate; some answers were usable: {}",
        show(&r)
    );
    let rs = results(&p);
    assert_eq!(outcome(get(&rs, "echo/france", "ok")), "pass");
    for (provider, words) in [
        ("trunc", &["stream", "[DONE]"][..]),
        ("disc", &["stream"][..]),
        ("malformed", &["stream", "malformed"][..]),
        ("atrunc", &["stream", "message_stop"][..]),
        ("adisc", &["stream"][..]),
        ("slow", &["timed out"][..]),
        ("aslow", &["timed out"][..]),
        ("bad400", &["HTTP 400"][..]),
        ("a401", &["HTTP 401"][..]),
    ] {
        let res = get(&rs, "echo/france", provider);
        assert_eq!(
            outcome(res),
            "error",
            "[{provider}] never a pass on partial text: {res:#}"
        );
        let at = attempt(res);
        let err = at["error"].as_str().unwrap_or_default();
        for w in words {
            assert!(err.contains(w), "[{provider}] error mentions {w:?}: {err}");
        }
        assert!(
            at.get("output").is_none(),
            "[{provider}] no output kept: {at:#}"
        );
        assert!(
            at["checks"].as_array().is_some_and(|c| c.is_empty()),
            "[{provider}] no checks ran: {at:#}"
        );
    }
    // max_retries: 0 means one request each.
    let journal = s.requests();
    for model in [
        "m-trunc", "m-disc", "m-mal", "m-atrunc", "m-adisc", "m-slow", "m-aslow", "m-400", "m-a401",
    ] {
        let n = journal.iter().filter(|q| q["model"] == model).count();
        assert_eq!(
            n, 1,
            "{model}: {n} requests (max_retries 0, or not retryable)"
        );
    }
    let faults: Vec<&str> = journal.iter().filter_map(|q| q["fault"].as_str()).collect();
    for f in ["stream:truncate", "stream:disconnect", "stream:malformed"] {
        assert!(
            faults.iter().any(|x| x.starts_with(f)),
            "llmock injected {f}: {faults:?}"
        );
    }
    assert!(r.stdout.contains("gate: FAILED"), "{}", show(&r));

    // A slow first token within the timeout is an answer: `max_ttft_ms`
    // makes it a failure (the answer was too slow), not an error.
    s.reset();
    s.scenario(json!([
        {"type": "slow_first_token", "seconds": 0.5, "times": 1, "match": {"model": "m-ok", "stream": true}},
    ]));
    p.file(
        "suites/ttft.yaml",
        "name: ttft\nprompt: \"What is the capital of France?\"\ncases:\n  - id: slow\n    checks: [{contains: Hello}, {max_ttft_ms: 250}]\n",
    );
    let r = p.run(&["run", "suites/ttft.yaml", "--provider", "ok"]);
    assert_eq!(r.code, 1, "{}", show(&r));
    let rs = results(&p);
    let slow = get(&rs, "ttft/slow", "ok");
    assert_eq!(outcome(slow), "fail", "{slow:#}");
    let at = attempt(slow);
    assert!(at["ttft_ms"].as_f64().is_some_and(|t| t >= 450.0), "{at:#}");
    assert_eq!(at["checks"][0]["passed"], true, "{at:#}");
    assert_eq!(at["checks"][1]["passed"], false, "{at:#}");
}

/// `max_concurrency: 1`: requests to the provider never overlap at the
/// server, although the run's concurrency is 8.
#[test]
fn llmock_max_concurrency_one_never_overlaps_requests() {
    let s = Server::llmock(&[]);
    let p = project(
        "one",
        &format!(
            "  one: {{type: openai, base_url: \"{}\", model: m-one, max_concurrency: 1}}\n",
            s.openai_base()
        ),
    );
    p.file(
        "suites/four.yaml",
        "name: four\nprompt: \"Capital of {{ c }}?\"\ncases:\n  - {id: a, vars: {c: France}, checks: [{contains: France}]}\n  - {id: b, vars: {c: Spain}, checks: [{contains: Spain}]}\n  - {id: c, vars: {c: Italy}, checks: [{contains: Italy}]}\n  - {id: d, vars: {c: Peru}, checks: [{contains: Peru}]}\n",
    );
    // Every request takes 100 ms at the server.
    s.scenario(
        json!([{"type": "delay", "seconds": 0.1, "times": null, "match": {"model": "m-one"}}]),
    );
    let r = p.run(&["run", "suites/four.yaml", "-j", "8"]);
    assert_eq!(r.code, 0, "{}", show(&r));
    let mut spans: Vec<(f64, f64)> = s
        .requests()
        .iter()
        .map(|q| {
            (
                q["started_at"].as_f64().unwrap(),
                q["ended_at"].as_f64().unwrap(),
            )
        })
        .collect();
    assert_eq!(spans.len(), 4);
    spans.sort_by(|a, b| a.0.total_cmp(&b.0));
    for w in spans.windows(2) {
        assert!(w[1].0 >= w[0].1 - 0.001, "overlapping requests: {spans:?}");
    }
}

// ---------------------------------------------------------------------------
// Record and replay
// ---------------------------------------------------------------------------

/// `--record` against fakellm (a matrix of a plain OpenAI and a streamed
/// Anthropic provider, with a 429 error and tool calls), then the server is
/// stopped and `--replay` gives the same outcome and output for every case,
/// with no network and no credentials. A case without a recording is an
/// error naming the case and `--record`.
#[test]
fn record_against_fakellm_then_replay_with_the_server_gone() {
    let s = Server::fakellm(RULES);
    let (o, a) = (s.openai_base(), s.anthropic_base());
    let p = project(
        "oa",
        &format!(
            "  oa: {{type: openai, base_url: \"{o}\", model: gpt-4o-mini, api_key_env: INTEROP_REPLAY_KEY, max_retries: 1, backoff: 10ms, tools: {OPENAI_TOOLS}}}\n\
             \x20 claude: {{type: anthropic, base_url: \"{a}\", model: claude-3-5-haiku-latest, max_tokens: 256, stream: true, api_key_env: INTEROP_REPLAY_KEY, tools: {ANTHROPIC_TOOLS}}}\n"
        ),
    );
    let args = [
        "run",
        "suites/capitals.yaml",
        "suites/tools.yaml",
        "suites/limits.yaml",
        "--provider",
        "oa",
        "--provider",
        "claude",
    ];
    let mut record = args.to_vec();
    record.push("--record");
    let r = run_env(
        &p,
        &record,
        &[("INTEROP_REPLAY_KEY", Some("sk-replay-test-0000"))],
    );
    // limits/throttled: a 429 error through `oa`; through the streamed
    // provider fakellm ignores status rules and answers with its fallback.
    assert_eq!(r.code, 1, "{}", show(&r));
    let recorded = results(&p);
    assert_eq!(recorded.len(), 24, "12 cases x 2 providers");
    assert_eq!(outcome(get(&recorded, "limits/throttled", "oa")), "error");
    assert_eq!(
        outcome(get(&recorded, "limits/throttled", "claude")),
        "fail"
    );
    assert_eq!(outcome(get(&recorded, "capitals/france", "claude")), "pass");
    assert_eq!(outcome(get(&recorded, "tools/weather", "oa")), "pass");
    for provider in ["oa", "claude"] {
        for suite in ["capitals", "tools", "limits"] {
            let f = format!("fixtures/cassettes/{provider}/{suite}.yaml");
            assert!(p.exists(&f), "{f} written");
        }
    }
    let served = s.total_requests();
    drop(s); // the server is gone: replay must not need it

    // No credentials either.
    let r = run_env(
        &p,
        &{
            let mut v = args.to_vec();
            v.push("--replay");
            v
        },
        &[("INTEROP_REPLAY_KEY", None)],
    );
    assert_eq!(r.code, 1, "{}", show(&r));
    let replayed = results(&p);
    assert_eq!(
        recorded.keys().collect::<Vec<_>>(),
        replayed.keys().collect::<Vec<_>>(),
        "the same cases"
    );
    for (key, rec) in &recorded {
        let rep = &replayed[key];
        assert_eq!(outcome(rec), outcome(rep), "{key:?}: outcome");
        let (ra, pa) = (attempt(rec), attempt(rep));
        assert_eq!(ra["output"], pa["output"], "{key:?}: output");
        assert_eq!(ra["tool_calls"], pa["tool_calls"], "{key:?}: tool calls");
        assert_eq!(
            ra["finish_reason"], pa["finish_reason"],
            "{key:?}: finish reason"
        );
        assert_eq!(ra["usage"], pa["usage"], "{key:?}: usage");
        assert_eq!(ra["chunks"], pa["chunks"], "{key:?}: chunks");
        if let Some(e) = ra["error"].as_str() {
            let replay_error = pa["error"].as_str().unwrap_or_default();
            assert!(
                replay_error.contains(e),
                "{key:?}: recorded error {e:?}, replayed {replay_error:?}"
            );
        }
    }
    assert!(served >= 24, "record made real requests ({served})");

    // A case recorded nowhere: an error that names it and `--record`.
    p.file(
        "suites/limits.yaml",
        &format!("{LIMITS}  - id: unrecorded-case\n    prompt: \"What is the capital of Peru?\"\n    checks: [{{contains: Lima}}]\n"),
    );
    let r = run_env(
        &p,
        &["run", "suites/limits.yaml", "--provider", "oa", "--replay"],
        &[("INTEROP_REPLAY_KEY", None)],
    );
    assert_eq!(r.code, 1, "{}", show(&r));
    let rs = results(&p);
    assert_eq!(
        outcome(get(&rs, "limits/answered", "oa")),
        "pass",
        "recorded cases still replay"
    );
    let missing = get(&rs, "limits/unrecorded-case", "oa");
    assert_eq!(outcome(missing), "error", "{missing:#}");
    let err = attempt(missing)["error"].as_str().unwrap_or_default();
    assert!(err.contains("unrecorded-case"), "names the case: {err}");
    assert!(err.contains("--record"), "says how to record it: {err}");
    assert!(r.stdout.contains("unrecorded-case"), "{}", show(&r));

    // A recorded case whose request changed is not answered from the old recording.
    p.file(
        "suites/limits.yaml",
        &LIMITS.replace(
            "prompt: \"What is the capital of France?\"",
            "prompt: \"Which city is the capital of France?\"",
        ),
    );
    let r = run_env(
        &p,
        &["run", "suites/limits.yaml", "--provider", "oa", "--replay"],
        &[("INTEROP_REPLAY_KEY", None)],
    );
    // A stale recording next to a replayed outage (429): still exit 3, but
    // the verdict names the stale recording.
    assert_eq!(r.code, 3, "no case got an answer: {}", show(&r));
    assert!(
        r.stdout
            .contains("1 recording is stale: the request (prompt, model or parameters) changed"),
        "{}",
        show(&r)
    );
    let rs = results(&p);
    let changed = get(&rs, "limits/answered", "oa");
    assert_eq!(outcome(changed), "error", "{changed:#}");
    let err = attempt(changed)["error"].as_str().unwrap_or_default();
    assert!(err.starts_with("stale recording: "), "{err}");
    assert!(err.contains("--record"), "{err}");
}

// ---------------------------------------------------------------------------
// Secrets
// ---------------------------------------------------------------------------

fn random_key() -> String {
    let mut s = String::from("sk-test-");
    for _ in 0..32 {
        s.push(char::from_digit(fastrand::u32(0..16), 16).unwrap());
    }
    s
}

/// Every file under `dir`, recursively (relative path, bytes).
fn all_files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).expect("read_dir").flatten() {
            let path = e.path();
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                stack.push(path);
            } else {
                let rel = path
                    .strip_prefix(dir)
                    .unwrap()
                    .to_string_lossy()
                    .into_owned();
                out.push((rel, std::fs::read(&path).unwrap_or_default()));
            }
        }
    }
    out.sort();
    out
}

/// Where `text` holds the key, or any 12-character piece of its random part.
fn leaks(text: &str, key: &str) -> Vec<String> {
    let random = &key["sk-test-".len()..];
    let mut found = Vec::new();
    if text.contains(key) {
        found.push(format!("the whole key {key}"));
    }
    for i in 0..=random.len() - 12 {
        let piece = &random[i..i + 12];
        if let Some(at) = text.find(piece) {
            let from = text[..at]
                .char_indices()
                .rev()
                .nth(40)
                .map_or(0, |(i, _)| i);
            let to = (at + 52).min(text.len());
            let to = (to..=text.len())
                .find(|&j| text.is_char_boundary(j))
                .unwrap_or(text.len());
            found.push(format!("a piece of it ({piece}) in …{}…", &text[from..to]));
            break;
        }
    }
    found
}

/// An API key set only for the child process must not appear in any file a
/// run writes (reports, cassettes, the response cache) nor on stdout/stderr,
/// also when servers echo the request headers back: in an error body, in a
/// reply (plain and streamed in pieces), in a malformed stream chunk, in a
/// URL, in a transport error. The key does reach the servers (fakellm
/// answers only when it sees it).
#[test]
fn secrets_never_reach_reports_cassettes_cache_or_console() {
    let key = random_key();
    let rules = format!(
        "version: 1\nrules:\n  - name: bearer\n    when: {{\"header.authorization\": \"Bearer {key}\", messages_contain: \"capital of France\"}}\n    respond: {{content: \"The capital of France is Paris.\"}}\n  - name: x_api_key\n    when: {{\"header.x-api-key\": \"{key}\", messages_contain: \"capital of France\"}}\n    respond: {{content: \"The capital of France is Paris.\"}}\n"
    );
    let s = Server::fakellm(&rules);
    let echo = HeaderEcho::start();
    let dead = free_port(); // nothing listens there
    let (o, a, e) = (s.openai_base(), s.anthropic_base(), echo.url());
    let net =
        "api_key_env: FAKE_KEY, max_retries: 1, backoff: 10ms, backoff_max: 20ms, timeout: 5s";
    let p = project(
        "fk",
        &format!(
            "  fk: {{type: openai, base_url: \"{o}\", model: gpt-4o-mini, {net}, cache: true}}\n\
             \x20 fka: {{type: anthropic, base_url: \"{a}\", model: claude-3-5-haiku-latest, stream: true, {net}, cache: true}}\n\
             \x20 e500: {{type: openai, base_url: \"{e}/e500/v1\", model: echo-1, {net}, headers: {{X-Custom-Token: \"tok ${{FAKE_KEY}}\"}}}}\n\
             \x20 e200: {{type: openai, base_url: \"{e}/e200/v1\", model: echo-1, {net}, cache: true}}\n\
             \x20 s200: {{type: openai, base_url: \"{e}/s200/v1\", model: echo-1, stream: true, {net}, cache: true}}\n\
             \x20 smal: {{type: openai, base_url: \"{e}/smal/v1\", model: echo-1, stream: true, {net}}}\n\
             \x20 ahttp: {{type: http, url: \"{e}/e500/http?key=${{FAKE_KEY}}\", body: {{q: \"{{{{ prompt }}}}\"}}, output: raw, {net}}}\n\
             \x20 dead: {{type: openai, base_url: \"http://127.0.0.1:{dead}/v1?key=${{FAKE_KEY}}\", model: m, {net}, connect_timeout: 1s}}\n"
        ),
    );
    p.file(
        "suites/secret.yaml",
        "name: secret\nprompt: \"What is the capital of France?\"\ncases:\n  - id: france\n    checks: [{contains: Paris}]\n",
    );
    let providers = ["fk", "fka", "e500", "e200", "s200", "smal", "ahttp", "dead"];
    let mut base = vec!["run", "suites/secret.yaml", "-v"];
    for pr in providers {
        base.extend(["--provider", pr]);
    }
    let env = [("FAKE_KEY", Some(key.as_str()))];
    let mut console = String::new();
    let mut runs = Vec::new();
    for extra in [&["--record"][..], &[][..], &["--replay"][..]] {
        let mut args = base.clone();
        args.extend_from_slice(extra);
        let r = run_env(&p, &args, &env);
        console.push_str(&format!("\n=== evalgate {}\n{}", args.join(" "), show(&r)));
        runs.push((extra.first().copied().unwrap_or("live"), r, results(&p)));
    }
    for (mode, r, rs) in &runs {
        assert_eq!(r.code, 1, "[{mode}] some providers error: {}", show(r));
        // The key reached fakellm (it answers only when it sees it).
        assert_eq!(
            outcome(get(rs, "secret/france", "fk")),
            "pass",
            "[{mode}] {:#}",
            get(rs, "secret/france", "fk")
        );
        assert_eq!(outcome(get(rs, "secret/france", "fka")), "pass", "[{mode}]");
        // The echoing servers did see it, and it was masked.
        for pr in ["e200", "s200"] {
            let out = attempt(get(rs, "secret/france", pr))["output"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            assert!(
                out.contains("[REDACTED]"),
                "[{mode}] {pr}: the echoed key is masked: {out}"
            );
        }
        for pr in ["e500", "smal", "ahttp", "dead"] {
            assert_eq!(
                outcome(get(rs, "secret/france", pr)),
                "error",
                "[{mode}] {pr}"
            );
        }
    }
    assert!(echo.hits() > 0);
    assert!(p.exists("fixtures/cassettes/fk/secret.yaml"));
    assert!(
        p.exists(".evalgate/cache"),
        "the response cache was written"
    );
    let mut problems = Vec::new();
    for (rel, bytes) in all_files(p.path()) {
        for l in leaks(&String::from_utf8_lossy(&bytes), &key) {
            problems.push(format!("{rel}: {l}"));
        }
    }
    for l in leaks(&console, &key) {
        problems.push(format!("console: {l}"));
    }
    assert!(
        problems.is_empty(),
        "the API key leaked:\n{}\n{console}",
        problems.join("\n")
    );
    // The files that were searched include every kind the run writes.
    let files: Vec<String> = all_files(p.path()).into_iter().map(|(r, _)| r).collect();
    for want in [
        "reports/report.json",
        "reports/junit.xml",
        "reports/summary.md",
        "fixtures/cassettes/e500/secret.yaml",
    ] {
        assert!(files.iter().any(|f| f == want), "{want} in {files:?}");
    }
    assert!(
        files.iter().any(|f| f.starts_with(".evalgate/cache/")),
        "{files:?}"
    );
}

/// A provider whose `api_key_env` variable is not set: exit 2 before any
/// request, naming the variable; the server saw nothing, also from the other
/// provider of a matrix that has its key.
#[test]
fn missing_api_key_env_is_exit_2_before_any_request() {
    let s = Server::fakellm(RULES);
    let p = project(
        "fk",
        &format!(
            "  fk: {{type: openai, base_url: \"{}\", model: gpt-4o-mini, api_key_env: INTEROP_UNSET_KEY_VAR}}\n\
             \x20 ok: {{type: anthropic, base_url: \"{}\", model: claude-3-5-haiku-latest, api_key_env: INTEROP_SET_KEY_VAR}}\n",
            s.openai_base(),
            s.anthropic_base()
        ),
    );
    let env = [
        ("INTEROP_UNSET_KEY_VAR", None),
        ("INTEROP_SET_KEY_VAR", Some("sk-present-1234")),
    ];
    for args in [
        &["run", "suites/capitals.yaml", "--provider", "fk"][..],
        &[
            "run",
            "suites/capitals.yaml",
            "--provider",
            "ok",
            "--provider",
            "fk",
        ][..],
    ] {
        let r = run_env(&p, args, &env);
        assert_eq!(r.code, 2, "{args:?}: {}", show(&r));
        assert!(
            r.stderr.contains("INTEROP_UNSET_KEY_VAR"),
            "names the variable: {}",
            show(&r)
        );
        assert!(!p.exists("reports/report.json"), "nothing ran");
    }
    assert_eq!(
        s.total_requests(),
        0,
        "fakellm saw no request: {:#}",
        s.stats()
    );
}

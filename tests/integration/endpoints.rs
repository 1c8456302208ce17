//! Real endpoints through the real binary: wiremock servers on 127.0.0.1
//! standing in for OpenAI-compatible, Anthropic and generic HTTP APIs, plus
//! local commands. Third-party servers are in `interop.rs`.

use std::path::Path;

use serde_json::json;
use wiremock::matchers::{body_partial_json, header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::util::{evalgate, Project, Run};

/// A wiremock server and the runtime that drives its mounts.
struct Server {
    rt: tokio::runtime::Runtime,
    server: MockServer,
}

impl Server {
    fn start() -> Self {
        let rt = tokio::runtime::Runtime::new().expect("runtime");
        let server = rt.block_on(MockServer::start());
        Server { rt, server }
    }

    fn uri(&self) -> String {
        self.server.uri()
    }

    fn mount(&self, mock: Mock) {
        self.rt.block_on(mock.mount(&self.server));
    }

    /// Answer POSTs with `first` `times` times, then with `then`.
    fn first_then(&self, first: ResponseTemplate, times: u64, then: ResponseTemplate) {
        self.mount(
            Mock::given(method("POST"))
                .respond_with(first)
                .up_to_n_times(times)
                .with_priority(1),
        );
        self.mount(
            Mock::given(method("POST"))
                .respond_with(then)
                .with_priority(2),
        );
    }

    fn requests(&self) -> Vec<wiremock::Request> {
        self.rt
            .block_on(self.server.received_requests())
            .unwrap_or_default()
    }
}

fn chat(content: &str) -> serde_json::Value {
    json!({
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "model": "gpt-test-0001",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 12, "completion_tokens": 7, "total_tokens": 19}
    })
}

fn project(providers: &str, suite: &str) -> Project {
    let p = Project::new();
    p.file(
        "evalgate.yaml",
        &format!("providers:\n{providers}\nreports: {{junit: reports/junit.xml, json: reports/report.json, markdown: reports/summary.md}}\n"),
    );
    p.file("suites/geo.yaml", suite);
    p
}

const GEO: &str = "name: geo\nprompt: \"{{ q }}\"\ncases:\n  - {id: france, vars: {q: Capital of France?}, checks: [{contains: Paris}]}\n  - {id: italy, vars: {q: Capital of Italy?}, checks: [{contains: Rome}]}\n";

fn run_with(p: &Project, env: &[(&str, &str)], args: &[&str]) -> Run {
    let mut c = evalgate(p.path());
    for (k, v) in env {
        c.env(k, v);
    }
    Run::from(c.args(args).output().expect("run evalgate"))
}

fn attempt<'a>(report: &'a serde_json::Value, case: &str) -> &'a serde_json::Value {
    report["results"]
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["case"] == case))
        .map(|c| &c["attempts"][0])
        .unwrap_or_else(|| panic!("no case {case} in {report}"))
}

fn error_of(report: &serde_json::Value, case: &str) -> String {
    attempt(report, case)["error"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

fn outcomes(report: &serde_json::Value) -> Vec<(String, String)> {
    report["results"]
        .as_array()
        .map(|cs| {
            cs.iter()
                .map(|c| {
                    (
                        c["id"].as_str().unwrap_or_default().to_string(),
                        c["outcome"].as_str().unwrap_or_default().to_string(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn openai_answers_with_usage_model_and_bearer_key() {
    let s = Server::start();
    s.mount(
        Mock::given(method("POST"))
            .and(path("/v1/chat/completions"))
            .and(header("authorization", "Bearer sk-test-openai-1234"))
            .and(body_partial_json(json!({"model": "gpt-test", "temperature": 0, "seed": 7, "messages": [{"role": "user", "content": "Capital of France?"}]})))
            .respond_with(ResponseTemplate::new(200).set_body_json(chat("Paris."))),
    );
    s.mount(
        Mock::given(method("POST"))
            .and(path("/v1/chat/completions"))
            .respond_with(ResponseTemplate::new(200).set_body_json(chat("Rome."))),
    );
    let p = project(
        &format!("  oa:\n    type: openai\n    base_url: {}/v1\n    model: gpt-test\n    api_key_env: EG_TEST_KEY\n    temperature: 0\n    seed: 7\n", s.uri()),
        GEO,
    );
    let r = run_with(&p, &[("EG_TEST_KEY", "sk-test-openai-1234")], &["run"]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let report = p.json_report();
    let a = attempt(&report, "france");
    assert_eq!(a["output"], "Paris.");
    assert_eq!(a["model"], "gpt-test-0001");
    assert_eq!(a["finish_reason"], "stop");
    assert_eq!(a["usage"]["input_tokens"], 12);
    assert_eq!(a["usage"]["output_tokens"], 7);
    assert!(a.get("retries").is_none());
    assert_eq!(report["results"][0]["provider"], "oa");
    assert_eq!(s.requests().len(), 2);
}

#[test]
fn a_missing_key_variable_stops_the_run_before_any_request() {
    let s = Server::start();
    let p = project(
        &format!("  oa:\n    type: openai\n    base_url: {}/v1\n    model: gpt-test\n    api_key_env: EG_TEST_UNSET_KEY\n    headers: {{X-Team: \"${{EG_TEST_UNSET_TEAM}}\"}}\n", s.uri()),
        GEO,
    );
    let r = run_with(&p, &[], &["run"]);
    assert_eq!(r.code, 2, "{}\n{}", r.stdout, r.stderr);
    assert!(s.requests().is_empty());
    insta::assert_snapshot!("missing_key_variable", r.stderr);
    // Validation and replay need no credentials.
    assert_eq!(run_with(&p, &[], &["validate"]).code, 0);
}

#[test]
fn secrets_never_reach_reports_cassettes_or_the_console() {
    let key = format!("sk-test-{}", std::process::id() * 7919 + 104729);
    let s = Server::start();
    // A hostile server that quotes the credentials back in its errors and answers.
    s.mount(
        Mock::given(method("POST"))
            .and(body_partial_json(json!({"messages": [{"role": "user", "content": "Capital of France?"}]})))
            .respond_with(ResponseTemplate::new(401).set_body_string(format!(
                "{{\"error\": {{\"message\": \"Incorrect API key provided: {key}; team token tok-team-secret-99\"}}}}"
            ))),
    );
    s.mount(Mock::given(method("POST")).respond_with(
        ResponseTemplate::new(200).set_body_json(chat(&format!("Rome. (you sent {key})"))),
    ));
    let p = project(
        &format!("  oa:\n    type: openai\n    base_url: {}/v1\n    model: gpt-test\n    api_key_env: EG_TEST_KEY\n    headers: {{X-Team-Token: \"${{EG_TEAM}}\"}}\n    max_retries: 0\n", s.uri()),
        GEO,
    );
    let r = run_with(
        &p,
        &[("EG_TEST_KEY", &key), ("EG_TEAM", "tok-team-secret-99")],
        &["run", "--record", "--verbose"],
    );
    assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
    // A second, cached run writes the response cache too.
    let cfg = p
        .read("evalgate.yaml")
        .replace("max_retries: 0", "max_retries: 0\n    cache: true");
    p.file("evalgate.yaml", &cfg);
    let r2 = run_with(
        &p,
        &[("EG_TEST_KEY", &key), ("EG_TEAM", "tok-team-secret-99")],
        &["run", "--verbose", "--junit", "reports/junit2.xml"],
    );
    assert_eq!(r2.code, 1, "{}\n{}", r2.stdout, r2.stderr);
    assert!(p.exists(".evalgate/cache/oa"));
    // The server did receive the credentials.
    let reqs = s.requests();
    assert!(reqs.iter().any(|q| q
        .headers
        .get("authorization")
        .is_some_and(|v| v.to_str().unwrap_or("").contains(&key))));
    // Nothing the run wrote or printed holds them.
    let mut files = Vec::new();
    collect(p.path(), &mut files);
    assert!(
        files
            .iter()
            .any(|f| f.ends_with("geo.yaml") && f.to_string_lossy().contains("cassettes")),
        "{files:?}"
    );
    for f in &files {
        let text = String::from_utf8_lossy(&std::fs::read(f).unwrap_or_default()).into_owned();
        for secret in [key.as_str(), "tok-team-secret-99"] {
            assert!(
                !text.contains(secret),
                "{} contains a secret:\n{text}",
                f.display()
            );
        }
    }
    for secret in [key.as_str(), "tok-team-secret-99"] {
        assert!(
            !r.stdout.contains(secret) && !r.stderr.contains(secret),
            "{}",
            r.stdout
        );
    }
    let report = p.json_report();
    let err = error_of(&report, "france");
    assert!(err.contains("401") && err.contains("[REDACTED]"), "{err}");
    assert!(attempt(&report, "italy")["output"]
        .as_str()
        .unwrap_or_default()
        .contains("[REDACTED]"));
}

fn collect(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            collect(&p, out);
        } else {
            out.push(p);
        }
    }
}

#[test]
fn retries_honour_retry_after_and_count_once() {
    let s = Server::start();
    s.mount(
        Mock::given(method("POST"))
            .respond_with(
                ResponseTemplate::new(429)
                    .insert_header("retry-after", "1")
                    .set_body_string("{\"error\":{\"message\":\"slow down\"}}"),
            )
            .up_to_n_times(1)
            .with_priority(1),
    );
    s.mount(
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(503).insert_header("retry-after-ms", "50"))
            .up_to_n_times(1)
            .with_priority(2),
    );
    s.mount(
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(200).set_body_json(chat("Paris")))
            .with_priority(3),
    );
    let p = project(
        &format!("  oa: {{type: openai, base_url: '{}/v1', model: m, backoff: 10ms, max_concurrency: 1}}\n", s.uri()),
        "name: geo\nprompt: hi\ncases:\n  - {id: france, checks: [{contains: Paris}]}\n",
    );
    let started = std::time::Instant::now();
    let r = run_with(&p, &[], &["run"]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert!(
        started.elapsed() >= std::time::Duration::from_millis(1000),
        "Retry-After: 1 was not honoured"
    );
    let report = p.json_report();
    assert_eq!(report["results"].as_array().map(Vec::len), Some(1));
    let a = attempt(&report, "france");
    assert_eq!(a["retries"], 2);
    assert_eq!(a["outcome"], "pass");
    assert_eq!(s.requests().len(), 3);
}

#[test]
fn errors_after_the_last_retry_keep_status_and_body_and_other_cases_go_on() {
    let s = Server::start();
    s.mount(
        Mock::given(method("POST"))
            .and(body_partial_json(
                json!({"messages": [{"role": "user", "content": "Capital of France?"}]}),
            ))
            .respond_with(ResponseTemplate::new(500).set_body_string(
                "{\"error\":{\"type\":\"server_error\",\"message\":\"model overloaded\"}}",
            )),
    );
    s.mount(
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(200).set_body_json(chat("Rome"))),
    );
    let p = project(
        &format!(
            "  oa: {{type: openai, base_url: '{}/v1', model: m, max_retries: 2, backoff: 1ms}}\n",
            s.uri()
        ),
        GEO,
    );
    let r = run_with(&p, &[], &["run"]);
    assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
    let report = p.json_report();
    assert_eq!(
        outcomes(&report),
        vec![
            ("geo/france".into(), "error".into()),
            ("geo/italy".into(), "pass".into())
        ]
    );
    let err = error_of(&report, "france");
    assert!(
        err.contains("500") && err.contains("model overloaded") && err.contains("after 3 tries"),
        "{err}"
    );
    assert_eq!(attempt(&report, "france")["retries"], 2);
    // 3 tries for france, 1 for italy.
    assert_eq!(s.requests().len(), 4);
}

#[test]
fn nothing_reachable_exits_3() {
    // A port nobody listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .map(|l| l.local_addr().map(|a| a.port()).unwrap_or(9))
        .unwrap_or(9);
    let p = project(
        &format!("  oa: {{type: openai, base_url: 'http://127.0.0.1:{port}/v1', model: m, max_retries: 1, backoff: 1ms}}\n"),
        GEO,
    );
    let r = run_with(&p, &[], &["run"]);
    assert_eq!(r.code, 3, "{}\n{}", r.stdout, r.stderr);
    let err = error_of(&p.json_report(), "france");
    assert!(err.contains("transport error"), "{err}");
}

fn sse(events: &[&str]) -> String {
    events.iter().map(|e| format!("data: {e}\n\n")).collect()
}

#[test]
fn streaming_records_ttft_and_a_truncated_stream_is_an_error() {
    let s = Server::start();
    let good = sse(&[
        r#"{"choices":[{"index":0,"delta":{"role":"assistant"}}]}"#,
        r#"{"choices":[{"index":0,"delta":{"content":"Par"}}]}"#,
        r#"{"choices":[{"index":0,"delta":{"content":"is"}}]}"#,
        r#"{"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}"#,
        r#"{"choices":[],"usage":{"prompt_tokens":5,"completion_tokens":2,"total_tokens":7}}"#,
        "[DONE]",
    ]);
    let cut = sse(&[
        r#"{"choices":[{"index":0,"delta":{"content":"Ro"}}]}"#,
        r#"{"choices":[{"index":0,"delta":{"content":"me"}}]}"#,
    ]);
    s.mount(
        Mock::given(method("POST"))
            .and(body_partial_json(json!({"stream": true, "stream_options": {"include_usage": true}, "messages": [{"role": "user", "content": "Capital of France?"}]})))
            .respond_with(ResponseTemplate::new(200).set_body_raw(good, "text/event-stream")),
    );
    s.mount(
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(200).set_body_raw(cut, "text/event-stream")),
    );
    let p = project(
        &format!("  oa: {{type: openai, base_url: '{}/v1', model: m, stream: true, max_retries: 1, backoff: 1ms}}\n", s.uri()),
        GEO,
    );
    let r = run_with(&p, &[], &["run"]);
    assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
    let report = p.json_report();
    let a = attempt(&report, "france");
    assert_eq!(a["outcome"], "pass");
    assert_eq!(a["output"], "Paris");
    assert_eq!(a["chunks"], 2);
    assert!(a["ttft_ms"].as_f64().is_some());
    assert_eq!(a["usage"]["total_tokens"], 7);
    let b = attempt(&report, "italy");
    assert_eq!(
        b["outcome"], "error",
        "a cut stream must never pass on its partial text: {b}"
    );
    assert!(
        b["error"].as_str().unwrap_or_default().contains("[DONE]"),
        "{b}"
    );
}

#[test]
fn tool_calls_are_visible_to_checks() {
    let s = Server::start();
    s.mount(Mock::given(method("POST")).respond_with(ResponseTemplate::new(200).set_body_json(json!({
        "model": "m",
        "choices": [{"index": 0, "finish_reason": "tool_calls", "message": {"role": "assistant", "content": null,
            "tool_calls": [{"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\",\"unit\":\"c\"}"}}]}}]
    }))));
    let p = project(
        &format!("  oa:\n    type: openai\n    base_url: {}/v1\n    model: m\n    tools: [{{type: function, function: {{name: get_weather, parameters: {{type: object, properties: {{city: {{type: string}}}}}}}}}}]\n    tool_choice: auto\n", s.uri()),
        "name: tools\nprompt: Weather in Paris?\ncases:\n  - id: weather\n    checks:\n      - tool_call: {name: get_weather, arguments: {city: Paris}}\n      - tool_call: send_email\n        not: true\n  - id: wrong\n    checks: [{tool_call: {name: get_weather, arguments: {city: Rome}}}]\n",
    );
    let r = run_with(&p, &[], &["run"]);
    assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
    let report = p.json_report();
    assert_eq!(
        outcomes(&report),
        vec![
            ("tools/weather".into(), "pass".into()),
            ("tools/wrong".into(), "fail".into())
        ]
    );
    let a = attempt(&report, "weather");
    assert_eq!(a["tool_calls"][0]["name"], "get_weather");
    assert_eq!(a["finish_reason"], "tool_calls");
    let body: serde_json::Value = serde_json::from_slice(&s.requests()[0].body).unwrap_or_default();
    assert_eq!(body["tools"][0]["function"]["name"], "get_weather");
    assert_eq!(body["tool_choice"], "auto");
}

#[test]
fn anthropic_messages_api() {
    let s = Server::start();
    s.mount(
        Mock::given(method("POST"))
            .and(path("/v1/messages"))
            .and(header("x-api-key", "sk-ant-test-5678"))
            .and(header("anthropic-version", "2023-06-01"))
            .and(body_partial_json(
                json!({"model": "claude-test", "max_tokens": 64, "system": "Answer briefly."}),
            ))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "id": "msg_1", "type": "message", "role": "assistant", "model": "claude-test-001",
                "content": [{"type": "text", "text": "Paris, and Rome."}],
                "stop_reason": "end_turn", "usage": {"input_tokens": 9, "output_tokens": 4}
            }))),
    );
    let p = project(
        &format!("  cl: {{type: anthropic, base_url: '{}', model: claude-test, api_key_env: EG_ANT_KEY, max_tokens: 64, system: Answer briefly.}}\n", s.uri()),
        GEO,
    );
    let r = run_with(&p, &[("EG_ANT_KEY", "sk-ant-test-5678")], &["run"]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let a = attempt(&p.json_report(), "france").clone();
    assert_eq!(a["finish_reason"], "end_turn");
    assert_eq!(a["usage"]["total_tokens"], 13);
}

#[test]
fn generic_http_api_with_a_body_template_and_a_pointer() {
    let s = Server::start();
    s.mount(
        Mock::given(method("POST"))
            .and(path("/answer"))
            .and(header("x-team", "evals"))
            .and(body_partial_json(json!({"question": "Capital of France?", "case": "france", "history": [{"role": "user", "content": "Capital of France?"}]})))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({"data": {"answer": "Paris"}, "meta": {"tokens": {"in": 3, "out": 1}}}))),
    );
    s.mount(Mock::given(method("POST")).respond_with(
        ResponseTemplate::new(200).set_body_json(json!({"data": {"answer": "Milan"}})),
    ));
    let p = project(
        &format!("  app:\n    type: http\n    url: {}/answer\n    headers: {{X-Team: evals}}\n    body: {{question: \"{{{{ prompt }}}}\", case: \"{{{{ case.id }}}}\", history: \"{{{{ messages }}}}\"}}\n    output: /data/answer\n    usage: {{input: /meta/tokens/in, output: /meta/tokens/out}}\n", s.uri()),
        GEO,
    );
    let r = run_with(&p, &[], &["run"]);
    assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
    let report = p.json_report();
    assert_eq!(
        outcomes(&report),
        vec![
            ("geo/france".into(), "pass".into()),
            ("geo/italy".into(), "fail".into())
        ]
    );
    assert_eq!(attempt(&report, "france")["usage"]["input_tokens"], 3);
}

#[test]
fn exec_runs_a_local_command() {
    let p = project(
        "  cli: {type: exec, command: [sh, -c, 'read q; case \"$q\" in *France*) echo Paris;; *) echo \"no idea\" >&2; exit 4;; esac'], max_retries: 0}\n",
        GEO,
    );
    let r = run_with(&p, &[], &["run"]);
    assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
    let report = p.json_report();
    assert_eq!(
        outcomes(&report),
        vec![
            ("geo/france".into(), "pass".into()),
            ("geo/italy".into(), "error".into())
        ]
    );
    assert_eq!(attempt(&report, "france")["output"], "Paris");
    let err = error_of(&report, "italy");
    assert!(err.contains("status 4") && err.contains("no idea"), "{err}");
}

#[test]
fn record_then_replay_without_the_server_gives_identical_verdicts() {
    let s = Server::start();
    s.mount(
        Mock::given(method("POST"))
            .and(body_partial_json(
                json!({"messages": [{"role": "user", "content": "Capital of France?"}]}),
            ))
            .respond_with(
                ResponseTemplate::new(200).set_body_json(chat("Paris.\nIt is on the Seine.")),
            ),
    );
    s.mount(
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(200).set_body_json(chat("Milan"))),
    );
    let p = project(
        &format!("  oa: {{type: openai, base_url: '{}/v1', model: m, api_key_env: EG_REC_KEY}}\n", s.uri()),
        "name: geo\nprompt: \"{{ q }}\"\ncases:\n  - {id: france, vars: {q: Capital of France?}, checks: [{contains: Paris}]}\n  - {id: italy, vars: {q: Capital of Italy?}, repeat: 2, checks: [{contains: Rome}]}\n",
    );
    let r = run_with(&p, &[("EG_REC_KEY", "sk-rec-12345")], &["run", "--record"]);
    assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("recorded: "), "{}", r.stdout);
    let live = p.json_report();
    let cassette = p.read("fixtures/cassettes/oa/geo.yaml");
    assert!(
        cassette.contains("  - case: france\n    repeat: 1\n"),
        "{cassette}"
    );
    assert!(
        cassette.contains("      text: |-\n        Paris.\n        It is on the Seine.\n"),
        "{cassette}"
    );
    assert_eq!(cassette.matches("  - case: italy").count(), 2, "{cassette}");
    drop(s);

    // No server, no key: replay.
    let r = run_with(&p, &[], &["run", "--replay"]);
    assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
    let replayed = p.json_report();
    assert_eq!(outcomes(&live), outcomes(&replayed));
    for case in ["france", "italy"] {
        assert_eq!(
            attempt(&live, case)["output"],
            attempt(&replayed, case)["output"]
        );
        assert_eq!(
            attempt(&live, case)["usage"],
            attempt(&replayed, case)["usage"]
        );
    }
    // A `replay` provider answers the same way.
    let cfg = p.read("evalgate.yaml").replace(
        "providers:\n",
        "default_provider: oa\nproviders:\n  rec: {type: replay, of: oa}\n",
    );
    p.file("evalgate.yaml", &cfg);
    let r = run_with(&p, &[], &["run", "--provider", "rec"]);
    assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
    assert_eq!(outcomes(&p.json_report()), outcomes(&live));

    // A new case has no recording: a clear error naming the case and how to record it.
    p.file(
        "suites/geo.yaml",
        "name: geo\nprompt: \"{{ q }}\"\ncases:\n  - {id: france, vars: {q: Capital of France?}, checks: [{contains: Paris}]}\n  - {id: spain, vars: {q: Capital of Spain?}, checks: [{contains: Madrid}]}\n",
    );
    let r = run_with(&p, &[], &["run", "--replay"]);
    assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
    let err = error_of(&p.json_report(), "spain");
    assert!(
        err.contains("no recording of case `spain`")
            && err.contains("--record --provider oa --filter 'geo/spain'"),
        "{err}"
    );
    // A changed prompt is told apart from a missing recording.
    p.file(
        "suites/geo.yaml",
        "name: geo\nprompt: \"{{ q }} Answer in one word.\"\ncases:\n  - {id: france, vars: {q: Capital of France?}, checks: [{contains: Paris}]}\n",
    );
    // Every error is a stale recording: the input changed, not an outage (exit 2).
    let r = run_with(&p, &[], &["run", "--replay"]);
    assert_eq!(r.code, 2, "{}\n{}", r.stdout, r.stderr);
    let err = error_of(&p.json_report(), "france");
    assert!(
        err.starts_with("stale recording: messages[0].content changed"),
        "{err}"
    );
}

#[test]
fn the_response_cache_answers_repeats_and_no_cache_bypasses_it() {
    let s = Server::start();
    s.mount(
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(200).set_body_json(chat("Paris and Rome"))),
    );
    let p = project(
        &format!("  oa: {{type: openai, base_url: '{}/v1', model: m, cache: true}}\n", s.uri()),
        "name: geo\nprompt: \"{{ q }}\"\ncases:\n  - {id: france, vars: {q: Capital of France?}, repeat: 2, checks: [{contains: Paris}]}\n",
    );
    assert_eq!(run_with(&p, &[], &["run"]).code, 0);
    // Repeats are real repeats: two requests.
    assert_eq!(s.requests().len(), 2);
    assert_eq!(run_with(&p, &[], &["run"]).code, 0);
    assert_eq!(
        s.requests().len(),
        2,
        "the second run is answered from the cache"
    );
    assert_eq!(run_with(&p, &[], &["run", "--no-cache"]).code, 0);
    assert_eq!(s.requests().len(), 4);
}

#[test]
fn a_provider_matrix_reports_each_provider_side_by_side() {
    let p = Project::with_mock(
        "responses:\n  - case: france\n    reply: Paris\n  - case: italy\n    reply: Milan\n",
    );
    p.file("suites/geo.yaml", GEO);
    let r = p.run(&["run", "--provider", "mock", "--provider", "echo"]);
    assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
    let report = p.json_report();
    assert_eq!(report["run"]["providers"], json!(["mock", "echo"]));
    assert_eq!(report["results"].as_array().map(Vec::len), Some(4));
    assert_eq!(report["summary"]["providers"]["mock"]["passed"], 1);
    assert_eq!(report["summary"]["providers"]["echo"]["failed"], 2);
    let junit = p.read("reports/junit.xml");
    assert!(
        junit.contains("<testsuite name=\"geo [mock]\"")
            && junit.contains("<testsuite name=\"geo [echo]\""),
        "{junit}"
    );
    let md = p.read("reports/summary.md");
    assert!(md.contains("### Providers side by side"), "{md}");
    assert!(md.contains("| | mock | echo |"), "{md}");
    assert!(md.contains("`geo/france`"), "{md}");
    let v = p.run(&["validate", "--provider", "mock", "--provider", "echo"]);
    assert!(
        v.stdout.starts_with("ok: 1 suite, 2 cases × 2 providers,"),
        "{}",
        v.stdout
    );
    assert!(
        r.stdout.contains("provider mock: 1 passed, 1 failed"),
        "{}",
        r.stdout
    );
}

#[test]
fn unknown_provider_in_a_matrix_is_a_usage_error() {
    let p = Project::with_mock("responses: []\n");
    p.file("suites/geo.yaml", GEO);
    let r = p.run(&["run", "--provider", "mock", "--provider", "ecko"]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("did you mean `echo`?"), "{}", r.stderr);
}

/// Copy a directory tree (the example projects are run in a scratch copy).
pub(crate) fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for e in std::fs::read_dir(from).expect("read example").flatten() {
        let (src, dst) = (e.path(), to.join(e.file_name()));
        if src.is_dir() {
            if e.file_name() != "reports" && e.file_name() != ".evalgate" {
                copy_tree(&src, &dst);
            }
        } else {
            std::fs::copy(&src, &dst).expect("copy");
        }
    }
}

#[test]
fn the_staging_example_replays_offline_without_keys() {
    let p = Project::new();
    copy_tree(&crate::util::repo().join("examples/staging"), p.path());
    let mut c = evalgate(p.path());
    for v in [
        "STAGING_API_KEY",
        "STAGING_BASE_URL",
        "CLAUDE_API_KEY",
        "CLAUDE_BASE_URL",
    ] {
        c.env_remove(v);
    }
    let r = Run::from(
        c.args([
            "run",
            "--replay",
            "--provider",
            "staging",
            "--provider",
            "claude",
        ])
        .output()
        .expect("run"),
    );
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let report = p.json_report();
    assert_eq!(report["summary"]["overall"]["passed"], 8);
    let tool = report["results"]
        .as_array()
        .and_then(|cs| {
            cs.iter()
                .find(|c| c["case"] == "order-status-tool" && c["provider"] == "claude")
        })
        .map(|c| c["attempts"][0]["tool_calls"][0]["name"].clone());
    assert_eq!(tool, Some(json!("get_order_status")));
    // Without --replay the keys are required: exit 2 before any request.
    let mut c = evalgate(p.path());
    for v in ["STAGING_API_KEY", "STAGING_BASE_URL"] {
        c.env_remove(v);
    }
    let r = Run::from(
        c.args(["run", "--provider", "staging"])
            .output()
            .expect("run"),
    );
    assert_eq!(r.code, 2, "{}\n{}", r.stdout, r.stderr);
    assert!(
        r.stderr.contains("`STAGING_API_KEY`") && r.stderr.contains("`STAGING_BASE_URL`"),
        "{}",
        r.stderr
    );
}

#[test]
fn replay_answers_each_case_with_its_own_recording() {
    // Two cases with the same prompt get different answers live; replay keeps them apart.
    let s = Server::start();
    s.first_then(
        ResponseTemplate::new(200).set_body_json(chat("first answer")),
        1,
        ResponseTemplate::new(200).set_body_json(chat("second answer")),
    );
    let p = project(
        &format!("  oa: {{type: openai, base_url: '{}/v1', model: m, max_concurrency: 1}}\n", s.uri()),
        "name: dup\nprompt: same question\ncases:\n  - {id: d1, checks: [{contains: answer}]}\n  - {id: d2, checks: [{contains: answer}]}\n",
    );
    let r = run_with(&p, &[], &["run", "--record", "-j", "1"]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let live = p.json_report();
    drop(s);
    let r = run_with(&p, &[], &["run", "--replay"]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let replayed = p.json_report();
    for case in ["d1", "d2"] {
        assert_eq!(
            attempt(&live, case)["output"],
            attempt(&replayed, case)["output"],
            "{case}"
        );
    }
    assert_ne!(
        attempt(&replayed, "d1")["output"],
        attempt(&replayed, "d2")["output"]
    );
}

#[test]
fn only_providers_with_selected_cases_need_credentials() {
    let p = Project::new();
    p.file(
        "evalgate.yaml",
        "providers:\n  mock: {type: mock}\n  live: {type: openai, base_url: 'http://127.0.0.1:9/v1', model: m, api_key_env: EG_UNSET_LIVE_KEY}\n",
    );
    p.file("suites/a.yaml", "name: a\nprovider: mock\nprompt: hi\ncases:\n  - {id: x, tags: [smoke], checks: [{contains: hi}]}\n");
    p.file(
        "suites/b.yaml",
        "name: b\nprovider: live\nprompt: hi\ncases:\n  - {id: y, checks: [{contains: hi}]}\n",
    );
    p.file("mock.yaml", "");
    let cfg = "providers:\n  mock: {type: mock, responses: mock.yaml}\n  live: {type: openai, base_url: 'http://127.0.0.1:9/v1', model: m, api_key_env: EG_UNSET_LIVE_KEY}\n";
    p.file("evalgate.yaml", cfg);
    p.file("mock.yaml", "default: hi there\nresponses: []\n");
    // No default_provider is needed: every suite names its provider.
    assert_eq!(p.run(&["validate"]).code, 0);
    for args in [
        &["run", "--filter", "a"][..],
        &["run", "--tag", "smoke"][..],
    ] {
        let r = p.run(args);
        assert_eq!(r.code, 0, "{args:?}\n{}\n{}", r.stdout, r.stderr);
        // Suites using different providers are not a matrix: JUnit keeps plain suite names.
        assert!(p
            .read("reports/junit.xml")
            .contains("<testsuite name=\"a\""));
    }
    let r = p.run(&["run"]);
    assert_eq!(r.code, 2, "{}\n{}", r.stdout, r.stderr);
    assert!(r.stderr.contains("EG_UNSET_LIVE_KEY"), "{}", r.stderr);
    // A suite without a provider, and no default: named, with what to do.
    p.file(
        "suites/c.yaml",
        "name: c\nprompt: hi\ncases:\n  - {id: z, checks: [{contains: hi}]}\n",
    );
    let r = p.run(&["validate"]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr
            .contains("suite `c` names no provider, and evalgate.yaml has no `default_provider`"),
        "{}",
        r.stderr
    );
    // Suite names differing only in case would share files on macOS and Windows.
    p.file(
        "suites/c.yaml",
        "name: A\nprovider: mock\nprompt: hi\ncases:\n  - {id: z, checks: [{contains: hi}]}\n",
    );
    let r = p.run(&["validate"]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("differ only in case"), "{}", r.stderr);
}

#[test]
fn a_slow_endpoint_times_out_per_try_and_is_retried() {
    let s = Server::start();
    s.first_then(
        ResponseTemplate::new(200)
            .set_body_json(chat("Paris"))
            .set_delay(std::time::Duration::from_secs(6)),
        2,
        ResponseTemplate::new(200).set_body_json(chat("Paris")),
    );
    let p = project(
        &format!("  oa: {{type: openai, base_url: '{}/v1', model: m, timeout: 1s, max_retries: 1, backoff: 1ms, max_concurrency: 1}}\n", s.uri()),
        "name: geo\nprompt: \"{{ q }}\"\ncases:\n  - {id: slow, vars: {q: a}, checks: [{contains: Paris}]}\n  - {id: recovers, vars: {q: b}, checks: [{contains: Paris}]}\n",
    );
    let r = run_with(&p, &[], &["run", "-j", "1"]);
    assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
    let report = p.json_report();
    let slow = attempt(&report, "slow");
    assert_eq!(slow["outcome"], "error");
    assert_eq!(slow["retries"], 1);
    assert_eq!(slow["error"], "timed out after 1s (after 2 tries)");
    let ok = attempt(&report, "recovers");
    assert_eq!(ok["outcome"], "pass");
    assert!(ok.get("retries").is_none());
}

#[test]
fn a_recorded_error_replays_with_its_message_retries_and_latency() {
    let s = Server::start();
    s.mount(Mock::given(method("POST")).respond_with(
        ResponseTemplate::new(500).set_body_string("{\"error\":{\"message\":\"boom\"}}"),
    ));
    let p = project(
        &format!(
            "  oa: {{type: openai, base_url: '{}/v1', model: m, max_retries: 1, backoff: 1ms}}\n",
            s.uri()
        ),
        "name: geo\nprompt: hi\ncases:\n  - {id: broken, checks: [{contains: x}]}\n",
    );
    assert_eq!(run_with(&p, &[], &["run", "--record"]).code, 3);
    let live = attempt(&p.json_report(), "broken").clone();
    drop(s);
    assert_eq!(run_with(&p, &[], &["run", "--replay"]).code, 3);
    let replayed = attempt(&p.json_report(), "broken").clone();
    assert_eq!(live["error"], replayed["error"]);
    assert_eq!(replayed["retries"], 1);
    // The replay reports the latency the cassette recorded (measured inside
    // the provider stack), to the microsecond it was stored with.
    let cassette = p.read("fixtures/cassettes/oa/geo.yaml");
    let recorded: f64 = cassette
        .lines()
        .find_map(|l| l.trim().strip_prefix("latency_ms: "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no latency_ms in the cassette:\n{cassette}"));
    let replayed_ms = replayed["latency_ms"].as_f64().unwrap_or_default();
    assert!(
        (recorded - replayed_ms).abs() < 0.0015,
        "recorded {recorded} ms, replayed {replayed_ms} ms"
    );
    assert!(live["latency_ms"].as_f64().unwrap_or_default() > 0.0);
}

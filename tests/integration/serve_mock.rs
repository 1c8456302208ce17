//! `evalgate serve-mock`: the real binary serving on 127.0.0.1 (`--port 0`),
//! read by evalgate's own `openai` and `anthropic` providers and by plain
//! HTTP requests. No timed assertions.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Stdio};

use serde_json::Value;

use crate::util::{evalgate, Project, Run};

const FIXTURES: &str = "default: \"I don't know.\"\nresponses:\n  - prompt: \"(?i)france\"\n    reply: Paris is the capital of France.\n  - prompt: \"(?i)italy\"\n    reply: Rome is the capital of Italy.\n  - case: geo/spain\n    replies: [Madrid., Madrid!]\n";

const GEO: &str = "name: geo\nprompt: \"{{ q }}\"\ncases:\n  - {id: france, vars: {q: Capital of France?}, checks: [{contains: Paris}]}\n  - {id: italy, vars: {q: Capital of Italy?}, checks: [{contains: Rome}]}\n";

/// A running `evalgate serve-mock`, stopped with SIGTERM when dropped.
pub(crate) struct Served {
    child: Child,
    /// `127.0.0.1:PORT`, from the line it printed.
    addr: String,
    /// The whole line it printed.
    line: String,
}

impl Served {
    pub(crate) fn start(p: &Project, args: &[&str]) -> Self {
        let mut child = evalgate(p.path())
            .args(["serve-mock", "--responses", "mock.yaml"])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start serve-mock");
        let mut line = String::new();
        let stdout = child.stdout.take().expect("stdout");
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("read the address");
        let line = line.trim_end().to_string();
        let addr = line
            .strip_prefix("listening on http://")
            .unwrap_or_else(|| panic!("unexpected first line: {line:?}"))
            .to_string();
        Served { child, addr, line }
    }

    pub(crate) fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// SIGTERM, then the exit code.
    fn stop(mut self) -> Option<i32> {
        let pid = self.child.id() as libc::pid_t;
        // SAFETY: a signal to the child this test started.
        unsafe { libc::kill(pid, libc::SIGTERM) };
        self.child.wait().ok().and_then(|s| s.code())
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One HTTP/1.1 request on a fresh connection: (status, headers, body).
fn post(addr: &str, path: &str, headers: &[(&str, &str)], body: &str) -> (u16, String, String) {
    let mut s = TcpStream::connect(addr).expect("connect");
    let mut req = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    req.push_str(body);
    s.write_all(req.as_bytes()).expect("send");
    let mut resp = String::new();
    s.read_to_string(&mut resp).expect("read");
    let (head, body) = resp.split_once("\r\n\r\n").unwrap_or((&resp, ""));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (status, head.to_ascii_lowercase(), body.to_string())
}

fn project(providers: &str) -> Project {
    let p = Project::new();
    p.file("mock.yaml", FIXTURES);
    p.file(
        "evalgate.yaml",
        &format!("providers:\n{providers}\nreports: {{json: reports/report.json}}\n"),
    );
    p.file("suites/geo.yaml", GEO);
    p
}

fn run(p: &Project, args: &[&str]) -> Run {
    Run::from(
        evalgate(p.path())
            .env("EG_SM_KEY", "sk-serve-mock-test")
            .args(["run", "--no-progress"])
            .args(args)
            .output()
            .expect("run evalgate"),
    )
}

fn attempts(report: &Value) -> Vec<&Value> {
    report["results"]
        .as_array()
        .map(|cs| cs.iter().map(|c| &c["attempts"][0]).collect())
        .unwrap_or_default()
}

fn log_lines(p: &Project, name: &str) -> Vec<Value> {
    p.read(name)
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect()
}

#[test]
fn the_printed_address_answers_and_sigterm_stops_the_server() {
    let p = project("");
    let s = Served::start(&p, &["--host", "127.0.0.1", "--port", "0", "--seed", "1"]);
    assert!(
        regex::Regex::new(r"^listening on http://127\.0\.0\.1:[1-9][0-9]*$")
            .unwrap()
            .is_match(&s.line),
        "{}",
        s.line
    );
    let (status, head, body) = post(
        &s.addr,
        "/v1/chat/completions",
        &[],
        r#"{"model":"gpt-x","messages":[{"role":"user","content":"Capital of France?"}]}"#,
    );
    assert_eq!(status, 200, "{head}\n{body}");
    let v: Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(
        v["choices"][0]["message"]["content"],
        "Paris is the capital of France."
    );
    assert_eq!(v["model"], "gpt-x");
    assert_eq!(v["usage"]["completion_tokens"], 6);
    // A `case` rule, matched through X-Mock-Case, replies cycling by X-Mock-Repeat.
    let (_, _, body) = post(
        &s.addr,
        "/anthropic/v1/messages",
        &[("X-Mock-Case", "geo/spain"), ("X-Mock-Repeat", "2")],
        r#"{"model":"c","max_tokens":8,"messages":[{"role":"user","content":"?"}]}"#,
    );
    let v: Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(v["content"][0]["text"], "Madrid!", "{v}");
    let (status, _, _) = post(&s.addr, "/v1/other", &[], "{}");
    assert_eq!(status, 404);
    assert_eq!(s.stop(), Some(0));
}

#[test]
fn evalgate_openai_and_anthropic_providers_pass_a_suite_streamed_and_not() {
    let p = project("");
    let s = Served::start(&p, &["--ttft", "1", "--token-delay", "1", "--seed", "2"]);
    let url = s.url();
    p.file(
        "evalgate.yaml",
        &format!(
            "providers:\n  oa: {{type: openai, base_url: '{url}/v1', model: gpt-mock, api_key_env: EG_SM_KEY}}\n  oas: {{type: openai, base_url: '{url}/v1', model: gpt-mock, api_key_env: EG_SM_KEY, stream: true}}\n  cl: {{type: anthropic, base_url: '{url}', model: claude-mock, api_key_env: EG_SM_KEY, max_tokens: 64}}\n  cls: {{type: anthropic, base_url: '{url}', model: claude-mock, api_key_env: EG_SM_KEY, max_tokens: 64, stream: true}}\nreports: {{json: reports/report.json}}\n"
        ),
    );
    for provider in ["oa", "oas", "cl", "cls"] {
        let r = run(&p, &["--provider", provider]);
        assert_eq!(r.code, 0, "{provider}\n{}\n{}", r.stdout, r.stderr);
        let report = p.json_report();
        let a = attempts(&report);
        assert_eq!(a.len(), 2, "{report}");
        for a in a {
            assert_eq!(a["outcome"], "pass", "{provider}: {a}");
            assert_eq!(a["usage"]["output_tokens"], 6, "{provider}: {a}");
            if provider.ends_with('s') {
                assert!(a["ttft_ms"].as_f64().is_some(), "{provider}: {a}");
                assert_eq!(a["chunks"], 6, "{provider}: {a}");
            }
        }
    }
    assert_eq!(s.stop(), Some(0));
}

#[test]
fn injected_errors_are_retried_by_evalgate_and_logged() {
    let p = project("");
    let s = Served::start(
        &p,
        &[
            "--error-rate",
            "1",
            "--error-status",
            "503",
            "--log",
            "requests.jsonl",
        ],
    );
    p.file(
        "evalgate.yaml",
        &format!("providers:\n  oa: {{type: openai, base_url: '{}/v1', model: m, max_retries: 2, backoff: 1ms}}\nreports: {{json: reports/report.json}}\n", s.url()),
    );
    let r = run(&p, &[]);
    assert_eq!(s.stop(), Some(0));
    // No case got a usable answer: an infrastructure failure (exit 3).
    assert_eq!(r.code, 3, "{}\n{}", r.stdout, r.stderr);
    let report = p.json_report();
    for a in attempts(&report) {
        assert_eq!(a["outcome"], "error", "{a}");
        assert_eq!(a["retries"], 2, "{a}");
        assert!(a["error"].as_str().unwrap_or("").contains("503"), "{a}");
    }
    let log = log_lines(&p, "requests.jsonl");
    assert_eq!(log.len(), 6, "3 tries of 2 cases");
    assert!(log
        .iter()
        .all(|l| l["status"] == 503 && l["fault"] == "error"));
}

#[test]
fn rate_limits_send_retry_after_and_evalgate_retries_through_them() {
    let p = project("");
    let s = Served::start(&p, &["--rate-limit-rate", "1", "--retry-after", "7"]);
    let (status, head, body) = post(
        &s.addr,
        "/v1/messages",
        &[],
        r#"{"model":"c","max_tokens":8,"messages":[{"role":"user","content":"?"}]}"#,
    );
    assert_eq!(status, 429);
    assert!(head.contains("\r\nretry-after: 7"), "{head}");
    let v: Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(v["error"]["type"], "rate_limit_error");
    drop(s);

    // Half the requests limited (seeded): every case passes after retries,
    // and evalgate's retries are exactly the 429s in the log.
    let s = Served::start(
        &p,
        &[
            "--rate-limit-rate",
            "0.5",
            "--retry-after",
            "0",
            "--seed",
            "5",
            "--log",
            "rl.jsonl",
        ],
    );
    p.file(
        "evalgate.yaml",
        &format!("providers:\n  oa: {{type: openai, base_url: '{}/v1', model: m, max_retries: 30, backoff: 1ms}}\nreports: {{json: reports/report.json}}\n", s.url()),
    );
    let r = run(&p, &[]);
    assert_eq!(s.stop(), Some(0));
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let report = p.json_report();
    let retries: u64 = attempts(&report)
        .iter()
        .map(|a| a["retries"].as_u64().unwrap_or(0))
        .sum();
    let limited = log_lines(&p, "rl.jsonl")
        .iter()
        .filter(|l| l["status"] == 429)
        .count() as u64;
    assert!(limited > 0, "seed 5 limits some of the first requests");
    assert_eq!(retries, limited);
}

#[test]
fn a_seed_replays_the_same_sequence() {
    let p = project("");
    let sequence = |seed: &str, log: &str| -> Vec<(u16, String)> {
        let s = Served::start(
            &p,
            &[
                "--seed",
                seed,
                "--error-rate",
                "0.3",
                "--rate-limit-rate",
                "0.2",
                "--latency",
                "uniform:0,3",
                "--log",
                log,
            ],
        );
        let statuses: Vec<u16> = (0..30)
            .map(|_| {
                post(
                    &s.addr,
                    "/v1/chat/completions",
                    &[],
                    r#"{"messages":[{"role":"user","content":"France"}]}"#,
                )
                .0
            })
            .collect();
        assert_eq!(s.stop(), Some(0));
        let latencies = log_lines(&p, log)
            .iter()
            .map(|l| l["latency_ms"].to_string())
            .collect::<Vec<_>>();
        statuses.into_iter().zip(latencies).collect()
    };
    let a = sequence("42", "a.jsonl");
    let b = sequence("42", "b.jsonl");
    let c = sequence("43", "c.jsonl");
    assert_eq!(a, b);
    assert_ne!(a, c);
    let codes: std::collections::BTreeSet<u16> = a.iter().map(|(s, _)| *s).collect();
    assert!(codes.contains(&200) && codes.len() > 1, "{a:?}");
}

#[test]
fn truncated_and_malformed_streams_are_errors_for_evalgate() {
    let p = project("");
    for fault in ["--truncate-rate", "--malformed-rate"] {
        let s = Served::start(&p, &[fault, "1"]);
        p.file(
            "evalgate.yaml",
            &format!("providers:\n  oa: {{type: openai, base_url: '{u}/v1', model: m, stream: true, max_retries: 0}}\n  cl: {{type: anthropic, base_url: '{u}', model: c, api_key_env: EG_SM_KEY, max_tokens: 9, stream: true, max_retries: 0}}\nreports: {{json: reports/report.json}}\n", u = s.url()),
        );
        for provider in ["oa", "cl"] {
            let r = run(&p, &["--provider", provider]);
            assert_eq!(r.code, 3, "{fault} {provider}\n{}\n{}", r.stdout, r.stderr);
            for a in attempts(&p.json_report()) {
                assert_eq!(a["outcome"], "error", "{fault} {provider}: {a}");
            }
        }
        drop(s);
    }
}

#[test]
fn stalled_streams_resume_or_hit_the_read_timeout() {
    let p = project("");
    // A stall that ends: the answer is whole.
    let s = Served::start(&p, &["--stall-rate", "1", "--stall-for", "20"]);
    p.file(
        "evalgate.yaml",
        &format!("providers:\n  oa: {{type: openai, base_url: '{}/v1', model: m, stream: true, max_retries: 0}}\nreports: {{json: reports/report.json}}\n", s.url()),
    );
    let r = run(&p, &[]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    drop(s);
    // A stall that never ends: evalgate's read timeout gives up.
    let s = Served::start(&p, &["--stall-rate", "1", "--log", "stall.jsonl"]);
    p.file(
        "evalgate.yaml",
        &format!("providers:\n  oa: {{type: openai, base_url: '{}/v1', model: m, stream: true, max_retries: 0, read_timeout: 300ms}}\nreports: {{json: reports/report.json}}\n", s.url()),
    );
    let r = run(&p, &[]);
    assert_eq!(
        s.stop(),
        Some(0),
        "a stalled stream does not block the shutdown"
    );
    assert_eq!(r.code, 3, "{}\n{}", r.stdout, r.stderr);
    for a in attempts(&p.json_report()) {
        assert_eq!(a["outcome"], "error", "{a}");
    }
    assert!(log_lines(&p, "stall.jsonl")
        .iter()
        .all(|l| l["fault"] == "stalled"));
}

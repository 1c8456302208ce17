//! Model-graded checks end to end: `judge` and `similar` against
//! `py/grader.py` (an OpenAI-shaped grader whose grades the answers'
//! `GRADE:` markers decide, and a deterministic embedder), recorded, then
//! replayed offline with the same verdicts; graders that answer garbage,
//! time out or score outside the scale; config errors; the README example.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use serde_json::Value;

use crate::util::{assert_valid_report, evalgate, repo, Project, Run, PROXY_VARS};

/// The grader's key: it must never appear in a report or a cassette.
const KEY: &str = "sk-grader-test-9XqL2mV7pR4tW8zK";

/// `py/grader.py` on a free port, stopped on drop.
pub(crate) struct Grader {
    child: Child,
    port: u16,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Grader {
    pub(crate) fn start() -> Grader {
        let dir = tempfile::tempdir().expect("tempdir");
        let log = dir.path().join("requests.jsonl");
        let mut cmd = Command::new("python3");
        cmd.arg(repo().join("tests/integration/py/grader.py"))
            .args(["--port", "0", "--log"])
            .arg(&log)
            .env("PYTHONUNBUFFERED", "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        for v in PROXY_VARS {
            cmd.env_remove(v);
        }
        let mut child = cmd.spawn().expect("start python3 grader.py");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("read the grader's port");
        let port = line
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("the grader's port, got {line:?}"));
        Grader {
            child,
            port,
            log,
            _dir: dir,
        }
    }

    pub(crate) fn url(&self) -> String {
        format!("http://127.0.0.1:{}/v1", self.port)
    }

    /// The requests the grader received: (path, body).
    fn requests(&self) -> Vec<(String, Value)> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .map(|l| {
                let v: Value = serde_json::from_str(l).expect("log line");
                (
                    v["path"].as_str().unwrap_or("").to_string(),
                    v["body"].clone(),
                )
            })
            .collect()
    }
}

impl Drop for Grader {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn run_with_key(p: &Project, args: &[&str]) -> Run {
    Run::from(
        evalgate(p.path())
            .env("GRADER_KEY", KEY)
            .args(args)
            .output()
            .expect("run evalgate"),
    )
}

fn config(url: &str, grader_extra: &str) -> String {
    format!(
        "default_provider: bot
judge_provider: grader
providers:
  bot: {{type: mock, responses: bot.yaml}}
  grader:
    type: openai
    base_url: {url}
    model: grader-1
    api_key_env: GRADER_KEY
    temperature: 0
    pricing: {{input_per_million: 1.5, output_per_million: 6}}
{grader_extra}  embedder:
    type: openai
    base_url: {url}
    embeddings_model: embed-1
    api_key_env: GRADER_KEY
    pricing: {{input_per_million: 0.02, output_per_million: 0}}
reports: {{json: reports/report.json, junit: reports/junit.xml, markdown: reports/summary.md}}
"
    )
}

const BOT: &str = r#"responses:
  - case: rubric-pass
    reply: "GRADE:pass I cannot share account data; see https://example.com/help."
  - case: rubric-fail
    reply: "GRADE:fail Sure, here is the account data."
  - case: scale-pass
    reply: "GRADE:4 Items can be returned within 30 days."
  - case: scale-fail
    reply: "GRADE:2 Returns? No idea."
  - case: samples
    reply: "GRADE:cycle(pass,fail,pass) Maybe."
  - case: mean-samples
    reply: "GRADE:cycle(5,3,3) Hmm."
  - case: reference
    reply: "GRADE:pass Paris is the capital of France."
  - case: reask
    reply: "GRADE:garbage-once Fine."
  - case: similar-pass
    reply: "Paris is the capital of France."
  - case: similar-fail
    reply: "Bananas are yellow."
  - case: golden-same
    reply: "GRADE:pass Returns are free within 30 days."
  - case: golden-drift
    reply: "GRADE:fail Returns cost 5 euros."
  - case: golden-equal
    reply: "Returns are free within 30 days."
"#;

const SUITE: &str = r#"name: graded
prompt: "Question for {{ who }}"
defaults:
  vars: {who: support}
cases:
  - id: rubric-pass
    checks:
      - judge: {rubric: "Refuses to share account data and points to the help page."}
  - id: rubric-fail
    checks:
      - judge: {rubric: "Refuses to share account data and points to the help page."}
  - id: scale-pass
    checks:
      - contains: "30 days"
      - judge: {rubric: "States the return window.", provider: grader, scale: [1, 5], min_score: 4}
  - id: scale-fail
    checks:
      - judge: {rubric: "States the return window.", scale: [1, 5], min_score: 4}
  - id: samples
    checks:
      - judge: {rubric: "Any answer.", samples: 3}
  - id: mean-samples
    checks:
      - judge: {rubric: "Any answer.", scale: [1, 5], min_score: 4, samples: 3}
  - id: reference
    vars: {expected: "The capital of France is Paris."}
    checks:
      - judge: {reference: "{{ expected }}"}
  - id: reask
    checks:
      - judge: {rubric: "Any answer."}
  - id: similar-pass
    checks:
      - similar: {value: "The capital of France is Paris.", min: 0.85, provider: embedder}
  - id: similar-fail
    checks:
      - similar: {value: "The capital of France is Paris.", min: 0.85, provider: embedder}
  - id: golden-same
    checks:
      - golden: {mode: judge}
  - id: golden-drift
    checks:
      - golden: {mode: judge, provider: grader}
  - id: golden-equal
    checks:
      - golden: {mode: judge}
"#;

/// The reviewed answer of the golden cases.
fn golden(case: &str) -> String {
    format!(
        "---\nsuite: graded\ncase: {case}\nprovider: bot\n---\nYou can return items for free within 30 days.\n"
    )
}

fn project(url: &str) -> Project {
    let p = Project::new();
    p.file("evalgate.yaml", &config(url, ""));
    p.file("bot.yaml", BOT);
    p.file("suites/graded.yaml", SUITE);
    for case in ["golden-same", "golden-drift"] {
        p.file(&format!("golden/graded/{case}.txt"), &golden(case));
    }
    p.file(
        "golden/graded/golden-equal.txt",
        "---\nsuite: graded\ncase: golden-equal\nprovider: bot\n---\nReturns are free within 30 days.\n",
    );
    p
}

fn case<'r>(report: &'r Value, id: &str) -> &'r Value {
    report["results"]
        .as_array()
        .expect("results")
        .iter()
        .find(|r| r["case"] == id)
        .unwrap_or_else(|| panic!("case {id}"))
}

/// A report without what differs between two runs of the same answers:
/// times, latencies, the run's facts.
fn verdicts(report: &Value) -> Value {
    const TIMING: &[&str] = &[
        "started_at",
        "latency_ms",
        "ttft_ms",
        "headers_ms",
        "connect_ms",
        "queue_ms",
        "recorded",
        "output_tokens_per_s",
        "tpot_ms",
        "tokens_estimated",
        "last_token_ms",
        "chunks",
        "mean_gap_ms",
        "max_gap_ms",
        "latency",
        "duration_ms",
    ];
    fn strip(v: &Value) -> Value {
        match v {
            Value::Object(m) => Value::Object(
                m.iter()
                    .filter(|(k, _)| !TIMING.contains(&k.as_str()))
                    .map(|(k, v)| (k.clone(), strip(v)))
                    .collect(),
            ),
            Value::Array(a) => Value::Array(a.iter().map(strip).collect()),
            other => other.clone(),
        }
    }
    serde_json::json!({
        "results": strip(&report["results"]),
        "summary": strip(&report["summary"]["overall"]),
        "verdict": report["verdict"].clone(),
    })
}

#[test]
fn judge_and_similar_grade_record_and_replay_offline_with_the_same_verdicts() {
    let g = Grader::start();
    let p = project(&g.url());
    let r = run_with_key(&p, &["run", "--record", "--no-progress"]);
    assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
    let recorded = p.json_report();
    assert_valid_report(&recorded);
    // The graders' and the embedder's calls are priced apart from the answers
    // (and the replay below must report the same costs).
    let judge_cost = recorded["summary"]["overall"]["judge_cost_usd"]
        .as_f64()
        .unwrap_or(0.0);
    assert!(judge_cost > 0.0, "{}", recorded["summary"]["overall"]);
    let outcome = |id: &str| {
        case(&recorded, id)["outcome"]
            .as_str()
            .unwrap_or("")
            .to_string()
    };
    for (id, want) in [
        ("rubric-pass", "pass"),
        ("rubric-fail", "fail"),
        ("scale-pass", "pass"),
        ("scale-fail", "fail"),
        ("samples", "pass"),
        ("mean-samples", "fail"),
        ("reference", "pass"),
        ("reask", "pass"),
        ("similar-pass", "pass"),
        ("similar-fail", "fail"),
        ("golden-same", "pass"),
        ("golden-drift", "fail"),
        ("golden-equal", "pass"),
    ] {
        assert_eq!(outcome(id), want, "{id}: {}", case(&recorded, id));
    }

    // The judge's reasoning and grades are in the check's explanation.
    let check = |id: &str, i: usize| case(&recorded, id)["attempts"][0]["checks"][i].clone();
    let c = check("scale-pass", 1);
    assert_eq!(c["kind"], "judge");
    assert_eq!(c["message"], "judge `grader` graded 4: The marker says 4.");
    assert_eq!(c["expected"], "score ≥ 4 on [1, 5]");
    assert_eq!(c["score"], 1.0);
    let c = check("scale-fail", 0);
    assert_eq!(c["score"], 0.25, "(2 - 1) / (5 - 1)");
    let c = check("samples", 0);
    assert_eq!(c["actual"], "pass, fail, pass: 2 of 3 pass (majority)");
    assert_eq!(
        c["message"],
        "judge `grader` graded pass, fail, pass: 2 of 3 pass (majority): [1] The marker says pass. [2] The marker says fail. [3] The marker says pass."
    );
    assert_eq!(check("mean-samples", 0)["actual"], "5, 3, 3: mean 3.67");
    let c = check("similar-pass", 0);
    assert_eq!(c["kind"], "similar");
    assert_eq!(c["actual"], "1.0000");
    assert_eq!(check("similar-fail", 0)["actual"], "0.0000");
    // A golden in judge mode: the pairwise grade decides; equal texts need none.
    let c = check("golden-same", 0);
    assert_eq!(
        c["message"],
        "output matches golden/graded/golden-same.txt (judge, judge `grader` graded pass: The marker says pass.)"
    );
    let c = check("golden-drift", 0);
    assert!(
        c["message"]
            .as_str()
            .unwrap_or("")
            .starts_with("output differs from golden/graded/golden-drift.txt (judge mode, judge `grader` graded fail"),
        "{c}"
    );
    assert!(
        c["diff"]
            .as_str()
            .unwrap_or("")
            .contains("+GRADE:fail Returns cost 5 euros."),
        "{c}"
    );
    assert_eq!(
        case(&recorded, "golden-equal")["attempts"][0]["check_calls"],
        Value::Null,
        "no grader call for an equal text"
    );

    // Every call a check made is in check_calls, with its usage; the
    // summary counts them apart from the answers' tokens.
    let calls = |id: &str| case(&recorded, id)["attempts"][0]["check_calls"].clone();
    assert_eq!(calls("samples").as_array().map(Vec::len), Some(3));
    assert_eq!(
        calls("reask").as_array().map(Vec::len),
        Some(2),
        "the re-ask is a call"
    );
    let c = &calls("scale-pass")[0];
    assert_eq!(c["provider"], "grader");
    assert_eq!(c["check"], "judge");
    assert_eq!(c["model"], "grader-1");
    assert_eq!(c["usage"]["output_tokens"], 12);
    let c = &calls("similar-pass")[0];
    assert_eq!(
        (c["provider"].as_str(), c["check"].as_str()),
        (Some("embedder"), Some("similar"))
    );
    assert_eq!(c["usage"]["input_tokens"], 12, "6 + 6 words embedded");
    let overall = &recorded["summary"]["overall"];
    assert_eq!(overall["judge_calls"], 17, "{overall}");
    assert_eq!(overall["judge_output_tokens"], 12 * 15, "{overall}");
    assert!(
        r.stdout
            .contains("judge tokens (checks' own calls): 17 calls, "),
        "{}",
        r.stdout
    );
    assert!(p
        .read("reports/summary.md")
        .contains("Checks' own provider calls (judges, embedders): 17 calls, "));

    // What the grader was sent: a strict JSON schema, the re-ask with the
    // bad answer, one embeddings request with both texts.
    let requests = g.requests();
    let grades: Vec<&Value> = requests
        .iter()
        .filter(|(path, _)| path == "/v1/chat/completions")
        .map(|(_, b)| b)
        .collect();
    assert_eq!(grades.len(), 15);
    let pairwise = grades
        .iter()
        .find(|b| b["messages"][0]["content"].as_str().unwrap_or("").contains("<reviewed_answer>\nYou can return items for free within 30 days.\n</reviewed_answer>"))
        .expect("a pairwise prompt with the golden");
    assert!(pairwise["messages"][0]["content"]
        .as_str()
        .unwrap_or("")
        .contains("<new_answer>\nGRADE:"));
    for b in &grades {
        assert_eq!(b["response_format"]["type"], "json_schema", "{b}");
        assert_eq!(b["response_format"]["json_schema"]["strict"], true);
        assert_eq!(b["model"], "grader-1");
    }
    let reask = grades
        .iter()
        .find(|b| b["messages"].as_array().map(Vec::len) == Some(3))
        .expect("a re-ask");
    assert_eq!(reask["messages"][1]["role"], "assistant");
    assert!(reask["messages"][2]["content"]
        .as_str()
        .unwrap_or("")
        .starts_with("That is not a valid grade: the answer is not a JSON object"));
    let embeds: Vec<&Value> = requests
        .iter()
        .filter(|(path, _)| path == "/v1/embeddings")
        .map(|(_, b)| b)
        .collect();
    assert_eq!(embeds.len(), 2);
    assert_eq!(
        embeds[0]["input"][1], "The capital of France is Paris.",
        "{}",
        embeds[0]
    );
    assert_eq!(embeds[0]["model"], "embed-1");

    // The cassettes hold every call under its own id, and no key.
    let grader_cassette = p.read("fixtures/cassettes/grader/graded.yaml");
    for call in [
        "call: \"checks[0].judge#1\"",
        "call: \"checks[0].judge#3\"",
        "call: \"checks[1].judge#1\"",
        "call: \"checks[0].judge#1.reask1\"",
        "call: \"checks[0].golden#1\"",
    ] {
        assert!(grader_cassette.contains(call), "{call}\n{grader_cassette}");
    }
    let embedder_cassette = p.read("fixtures/cassettes/embedder/graded.yaml");
    assert!(embedder_cassette.contains("call: \"checks[0].similar\""));
    assert!(embedder_cassette.contains("type: openai-embeddings"));
    for text in [
        &grader_cassette,
        &embedder_cassette,
        &p.read("reports/report.json"),
    ] {
        assert!(!text.contains(KEY));
    }

    // Offline: no grader, no key; the same verdicts, grades and calls.
    drop(g);
    let replay = Run::from(
        evalgate(p.path())
            .env_remove("GRADER_KEY")
            .args(["run", "--replay", "--no-progress"])
            .output()
            .expect("run evalgate"),
    );
    assert_eq!(replay.code, 1, "{}\n{}", replay.stdout, replay.stderr);
    let replayed = p.json_report();
    assert_valid_report(&replayed);
    assert_eq!(verdicts(&replayed), verdicts(&recorded));
}

#[test]
fn a_grader_that_fails_makes_the_case_an_error_not_a_fail() {
    let g = Grader::start();
    let p = Project::new();
    p.file(
        "evalgate.yaml",
        &config(&g.url(), "    timeout: 500ms\n    max_retries: 1\n"),
    );
    p.file(
        "bot.yaml",
        "responses:\n  - {case: garbage, reply: \"GRADE:garbage ok\"}\n  - {case: outside, reply: \"GRADE:7 ok\"}\n  - {case: slow, reply: \"GRADE:slow ok\"}\n  - {case: fine, reply: \"GRADE:pass ok\"}\n",
    );
    p.file(
        "suites/broken.yaml",
        r#"prompt: "Q"
cases:
  - id: garbage
    checks: [{judge: {rubric: "Any answer."}}]
  - id: outside
    checks: [{judge: {rubric: "Any answer.", scale: [1, 5], min_score: 3}}]
  - id: slow
    checks: [{judge: {rubric: "Any answer."}, not: true}]
  - id: fine
    checks: [{judge: {rubric: "Any answer."}}]
"#,
    );
    let r = run_with_key(&p, &["run", "--no-progress"]);
    assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
    let report = p.json_report();
    assert_valid_report(&report);
    let attempt = |id: &str| case(&report, id)["attempts"][0].clone();
    for id in ["garbage", "outside", "slow"] {
        assert_eq!(
            case(&report, id)["outcome"],
            "error",
            "{id}: {}",
            attempt(id)
        );
        assert_eq!(attempt(id)["checks"][0]["error"], true);
        assert_eq!(
            attempt(id)["checks"][0]["passed"],
            false,
            "never negated into a pass"
        );
    }
    assert_eq!(case(&report, "fine")["outcome"], "pass");
    let error = |id: &str| attempt(id)["error"].as_str().unwrap_or("").to_string();
    assert!(
        error("garbage").starts_with(
            "check `judge` could not judge: judge `grader` gave no valid grade in 3 tries: the answer is not a JSON object"
        ),
        "{}",
        error("garbage")
    );
    assert_eq!(
        attempt("garbage")["check_calls"].as_array().map(Vec::len),
        Some(3)
    );
    assert_eq!(
        error("outside"),
        "check `judge` could not judge: judge `grader` gave no valid grade in 3 tries: score 7 is outside the scale [1, 5]"
    );
    assert_eq!(
        error("slow"),
        "check `not judge` could not judge: judge `grader` failed: timed out after 500ms (after 2 tries)"
    );
    assert_eq!(report["summary"]["overall"]["errored"], 3);
    assert_eq!(report["summary"]["overall"]["failed"], 0);
    assert!(r.stdout.contains("could not judge"), "{}", r.stdout);
}

#[test]
fn config_errors_name_the_file_line_and_the_fix() {
    let p = Project::new();
    p.file(
        "evalgate.yaml",
        "default_provider: bot\njudge_provider: gradr\nproviders:\n  bot: {type: echo}\n  grader: {type: openai, base_url: 'http://127.0.0.1:9/v1', model: m, no_api_key: true}\n",
    );
    p.file(
        "suites/s.yaml",
        "prompt: q\ncases:\n  - id: a\n    checks: [{contains: q}]\n",
    );
    let r = p.run(&["validate"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("evalgate.yaml:2:17"), "{}", r.stderr);
    assert!(
        r.stderr
            .contains("unknown provider `gradr` as judge_provider"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("did you mean `grader`?"), "{}", r.stderr);

    p.file(
        "evalgate.yaml",
        "default_provider: bot\nproviders:\n  bot: {type: echo}\n  grader: {type: openai, base_url: 'http://127.0.0.1:9/v1', model: m, no_api_key: true}\n",
    );
    p.file(
        "suites/s.yaml",
        "prompt: q\ncases:\n  - id: a\n    checks:\n      - judge: {rubric: r}\n      - similar: {value: v, min: 0.8, provider: grader}\n      - similar: {value: v, min: 0.8, provider: bot}\n",
    );
    let r = p.run(&["validate"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    let e = &r.stderr;
    assert!(e.contains("s.yaml:5:16"), "{e}");
    assert!(
        e.contains("check `judge` names no `provider`, and evalgate.yaml has no `judge_provider`"),
        "{e}"
    );
    assert!(
        e.contains(
            "add `provider: <name>` to the check, or `judge_provider: <name>` to evalgate.yaml"
        ),
        "{e}"
    );
    assert!(e.contains("s.yaml:6:49"), "{e}");
    assert!(
        e.contains("check `similar` asks provider `grader` for embeddings, but it has no `embeddings_model`"),
        "{e}"
    );
    assert!(
        e.contains("add `embeddings_model: <model>` (e.g. text-embedding-3-small) to provider `grader` in evalgate.yaml"),
        "{e}"
    );
    assert!(e.contains("asks provider `bot` for embeddings"), "{e}");
}

/// The fenced block of README.md that starts with `first_line`.
fn readme_block(first_line: &str) -> String {
    let readme = std::fs::read_to_string(repo().join("README.md")).expect("README");
    let start = readme
        .find(&format!("```yaml\n{first_line}\n"))
        .unwrap_or_else(|| panic!("README block {first_line:?}"))
        + "```yaml\n".len();
    let end = readme[start..].find("```").expect("end of block") + start;
    readme[start..end].to_string()
}

#[test]
fn the_readme_shows_the_built_in_prompts_in_full() {
    let readme = std::fs::read_to_string(repo().join("README.md")).expect("README");
    for file in ["rubric.j2", "reference.j2", "pairwise.j2"] {
        let text =
            std::fs::read_to_string(repo().join("src/check/prompts").join(file)).expect("prompt");
        assert!(
            readme.contains(&format!("```jinja\n{text}```")),
            "the README must show {file} as it is"
        );
    }
}

#[test]
fn the_readme_example_runs_as_written() {
    let g = Grader::start();
    let p = Project::new();
    // The README's grader listens on port 8000; the test's elsewhere.
    let base = format!("http://127.0.0.1:{}", g.port);
    p.file(
        "evalgate.yaml",
        &readme_block("# evalgate.yaml: a grader and an embedder")
            .replace("http://127.0.0.1:8000", &base),
    );
    p.file(
        "fixtures/mock/bot.yaml",
        &readme_block("# fixtures/mock/bot.yaml"),
    );
    p.file(
        "suites/support.yaml",
        &readme_block("# suites/support.yaml"),
    );
    let r = Run::from(
        evalgate(p.path())
            .env("OPENAI_API_KEY", KEY)
            .args(["run", "--record", "--update-golden=new", "--no-progress"])
            .output()
            .expect("run evalgate"),
    );
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let report = p.json_report();
    assert_eq!(
        report["summary"]["overall"]["passed"], 3,
        "{}",
        report["summary"]
    );
    let replay = Run::from(
        evalgate(p.path())
            .env_remove("OPENAI_API_KEY")
            .args(["run", "--replay", "--no-progress"])
            .output()
            .expect("run evalgate"),
    );
    assert_eq!(replay.code, 0, "{}\n{}", replay.stdout, replay.stderr);
    // The same verdicts; the golden written by the first run now matches.
    let mut replayed = verdicts(&p.json_report());
    let mut recorded = verdicts(&report);
    let message = "/results/2/attempts/0/checks/0/message";
    assert_eq!(
        recorded.pointer(message).and_then(Value::as_str),
        Some("no golden yet: wrote golden/support/shipping.txt")
    );
    assert_eq!(
        replayed.pointer(message).and_then(Value::as_str),
        Some("output matches golden/support/shipping.txt (judge)")
    );
    for v in [&mut replayed, &mut recorded] {
        if let Some(m) = v.pointer_mut(message) {
            *m = Value::Null;
        }
    }
    assert_eq!(replayed, recorded);
}

#[test]
fn a_judge_prompt_file_replaces_the_built_in_prompt() {
    let g = Grader::start();
    let p = Project::new();
    p.file("evalgate.yaml", &config(&g.url(), ""));
    p.file(
        "bot.yaml",
        "responses:\n  - {case: custom, reply: \"GRADE:3 Paris\"}\n",
    );
    p.file(
        "prompts/strict.j2",
        "Grade strictly.\n<answer>\n{{ output }}\n</answer>\nExpected: {{ vars.city }}. Reply {\"reasoning\": \"…\", \"score\": an integer from {{ min }} to {{ max }}}\n",
    );
    p.file(
        "suites/custom.yaml",
        r#"prompt: "Capital of France?"
cases:
  - id: custom
    vars: {city: Paris}
    checks:
      - judge: {rubric: "Names Paris.", scale: [1, 3], min_score: 3, judge_prompt: prompts/strict.j2}
"#,
    );
    let r = run_with_key(&p, &["run", "--no-progress"]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let requests = g.requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(
        requests[0].1["messages"][0]["content"],
        "Grade strictly.\n<answer>\nGRADE:3 Paris\n</answer>\nExpected: Paris. Reply {\"reasoning\": \"…\", \"score\": an integer from 1 to 3}\n"
    );

    // A prompt file that is missing, or not a template, is named with the fix.
    p.file(
        "suites/custom.yaml",
        "prompt: q\ncases:\n  - id: custom\n    checks:\n      - judge: {rubric: r, judge_prompt: prompts/nope.j2}\n      - judge: {rubric: r, judge_prompt: prompts/bad.j2}\n",
    );
    p.file("prompts/bad.j2", "{% if %}");
    let r = p.run(&["validate"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("suites/custom.yaml:5:42"), "{}", r.stderr);
    assert!(
        r.stderr
            .contains("cannot read judge prompt `prompts/nope.j2`"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains("paths are relative to the project root"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr
            .contains("judge prompt `prompts/bad.j2` is not a valid template"),
        "{}",
        r.stderr
    );
}

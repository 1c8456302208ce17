//! The engine's stages against a real local HTTP server: which events reach
//! a listener, in which order, and that the aggregator's verdict is the run's.

use std::sync::{Arc, Mutex};

use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

use super::*;
use crate::plan::Selection;
use crate::provider::build::BuildOptions;

/// Records every event it hears as one line.
struct Listener {
    lines: Arc<Mutex<Vec<String>>>,
    attempts: bool,
}

impl Reporter for Listener {
    fn on_event(&mut self, event: &RunEvent<'_>) -> Result<(), Error> {
        let line = match event {
            RunEvent::Started(info) => format!("started {}", info.planned_cases),
            RunEvent::AttemptStarted(a) => format!("attempt {}#{} started", a.case, a.repeat),
            RunEvent::AttemptRetried { attempt, retry } => format!(
                "attempt {}#{} retry {} after {}",
                attempt.case,
                attempt.repeat,
                retry.retry,
                retry.error.split(':').next().unwrap_or("")
            ),
            RunEvent::AttemptFinished { attempt, result } => format!(
                "attempt {}#{} {}",
                attempt.case,
                attempt.repeat,
                result.outcome.as_str()
            ),
            RunEvent::CaseFinished(c) => {
                format!("case {} {} seq {}", c.id, c.outcome.as_str(), c.seq)
            }
            RunEvent::Finished { verdict, .. } => format!("finished exit {}", verdict.exit_code),
        };
        if let Ok(mut lines) = self.lines.lock() {
            lines.push(line);
        }
        Ok(())
    }

    fn wants_attempts(&self) -> bool {
        self.attempts
    }
}

fn chat(text: &str) -> serde_json::Value {
    serde_json::json!({
        "id": "x", "object": "chat.completion", "model": "m",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
    })
}

/// A project whose one suite has two cases against `url`, the first repeated twice.
fn project(url: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("evalgate.yaml"),
        format!("providers:\n  oa: {{type: openai, base_url: '{url}/v1', model: m, max_retries: 2, backoff: 1ms, max_concurrency: 1}}\n"),
    )
    .unwrap();
    std::fs::create_dir(dir.path().join("suites")).unwrap();
    std::fs::write(
        dir.path().join("suites/geo.yaml"),
        "name: geo\nprovider: oa\nprompt: \"Capital of {{ country }}?\"\ncases:\n  - id: france\n    repeat: 2\n    vars: {country: France}\n    checks: [{contains: Paris}]\n  - id: skipped\n    skip: not today\n    vars: {country: Spain}\n    checks: [{contains: Madrid}]\n  - id: italy\n    vars: {country: Italy}\n    checks: [{contains: Rome}]\n",
    )
    .unwrap();
    dir
}

async fn run_project(dir: &std::path::Path, attempts: bool) -> (Totals, Vec<String>) {
    let plan = Plan::load(&Selection {
        config: Some(dir.join("evalgate.yaml")),
        build: BuildOptions {
            connect: true,
            ..BuildOptions::default()
        },
        ..Selection::default()
    })
    .unwrap_or_else(|e| panic!("{e}"));
    let info = RunInfo {
        evalgate_version: "test".into(),
        started_at: "2026-01-01T00:00:00Z".into(),
        config_hash: plan.config_hash.clone(),
        git_commit: None,
        planned_cases: plan.count().unwrap(),
        concurrency: 1,
        suites: plan.suite_names(),
        providers: plan.provider_names(),
        matrix: false,
        multi_provider_suites: Vec::new(),
        filters: Vec::new(),
        tags: Vec::new(),
        sample: None,
        max_cost_usd: None,
        shard: None,
    };
    let opts = RunOptions {
        concurrency: 1,
        fail_fast: false,
        golden: Arc::new(crate::golden::Store::new(
            dir.join("golden"),
            crate::golden::Writes::Nothing,
        )),
        subset: false,
        policy: GatePolicy::default(),
        journal: None,
    };
    let lines = Arc::new(Mutex::new(Vec::new()));
    let listener = Listener {
        lines: lines.clone(),
        attempts,
    };
    let totals = run(
        &plan,
        &info,
        &opts,
        vec![Box::new(listener)],
        None,
        std::future::pending(),
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    let lines = lines.lock().unwrap().clone();
    (totals, lines)
}

#[tokio::test]
async fn a_listener_hears_every_attempt_and_its_retries_in_order() {
    let server = MockServer::start().await;
    // The first request fails twice (429, then 503) before it is answered.
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(429))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(1)
        .with_priority(2)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_json(chat("Paris or Rome")))
        .with_priority(3)
        .mount(&server)
        .await;
    let dir = project(&server.uri());
    let (totals, lines) = run_project(dir.path(), true).await;
    assert_eq!(
        lines,
        vec![
            "started 3",
            "attempt france#1 started",
            "attempt france#1 retry 1 after HTTP 429",
            "attempt france#1 retry 2 after HTTP 503",
            "attempt france#1 pass",
            "attempt france#2 started",
            "attempt france#2 pass",
            "case geo/france pass seq 0",
            "attempt italy#1 started",
            "case geo/skipped skipped seq 1",
            "attempt italy#1 pass",
            "case geo/italy pass seq 2",
            "finished exit 0",
        ]
        .into_iter()
        .map(String::from)
        .collect::<Vec<_>>(),
        "a case is reported as soon as its last repeat is in"
    );
    assert_eq!(totals.summary.overall.passed, 2);
    assert_eq!(totals.summary.overall.skipped, 1);
    assert!(totals.verdict.passed);
}

#[tokio::test]
async fn reporters_that_do_not_ask_hear_only_cases() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_json(chat("Paris")))
        .mount(&server)
        .await;
    let dir = project(&server.uri());
    let (totals, lines) = run_project(dir.path(), false).await;
    assert_eq!(
        lines,
        vec![
            "started 3",
            "case geo/france pass seq 0",
            "case geo/skipped skipped seq 1",
            "case geo/italy fail seq 2",
            "finished exit 1",
        ]
    );
    // The aggregator's verdict is the one the reporters were told.
    assert_eq!(totals.verdict.exit_code, 1);
    assert_eq!(totals.summary.overall.failed, 1);
}

/// A check that asks a provider of the run to grade the answer, as a
/// model-graded check does: through the context's registry, with its own call id.
#[derive(Debug)]
struct Grader {
    provider: String,
}

impl crate::check::Check for Grader {
    fn evaluate<'a>(&'a self, ctx: &'a crate::check::EvalCtx<'a>) -> crate::check::Evaluation<'a> {
        crate::check::Evaluation::Pending(Box::pin(async move {
            let (Some(providers), Some(attempt)) = (ctx.providers, ctx.attempt) else {
                return crate::check::Eval::fail("no registry");
            };
            let Some(p) = providers.get(&self.provider) else {
                return crate::check::Eval::fail("unknown provider");
            };
            let request = crate::provider::Request {
                suite: attempt.suite.to_string(),
                case_id: attempt.case.to_string(),
                repeat: attempt.repeat,
                messages: vec![crate::provider::Message::new(
                    "user",
                    format!("Grade: {}", ctx.output),
                )],
                timeout: std::time::Duration::from_secs(5),
                vars: serde_json::Value::Null,
                call: "checks[1].grade".into(),
                format: crate::provider::Format::Text,
                observer: None,
            };
            match p.complete(&request).await {
                Ok(r) if r.text.contains("GOOD") => crate::check::Eval::pass("graded good"),
                Ok(r) => crate::check::Eval::fail(format!("graded {}", r.text)),
                Err(e) => crate::check::Eval::fail(e.to_string()),
            }
        }))
    }

    fn providers(&self) -> Vec<crate::check::ProviderRef> {
        vec![crate::check::ProviderRef {
            name: self.provider.clone(),
            pos: None,
            embeddings: false,
        }]
    }
}

fn with_grader(plan: &mut Plan) {
    let suite = Arc::get_mut(&mut plan.suites[0].suite).unwrap();
    let case = Arc::get_mut(&mut suite.cases[0]).unwrap();
    case.checks.push(Arc::new(crate::check::CheckSpec {
        kind: "grade",
        name: None,
        negate: false,
        weight: 1.0,
        check: Box::new(Grader {
            provider: "oa".into(),
        }),
    }));
}

#[tokio::test]
async fn a_check_calls_the_cases_own_provider_and_both_calls_replay() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(wiremock::matchers::body_string_contains("Grade:"))
        .respond_with(ResponseTemplate::new(200).set_body_json(chat("GOOD")))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_json(chat("Paris")))
        .mount(&server)
        .await;
    let dir = project(&server.uri());
    let run_mode = |mode| {
        let dir = dir.path().to_path_buf();
        async move {
            let mut plan = Plan::load(&Selection {
                config: Some(dir.join("evalgate.yaml")),
                filters: vec!["geo/france".into()],
                build: BuildOptions {
                    connect: true,
                    mode,
                    ..BuildOptions::default()
                },
                ..Selection::default()
            })
            .unwrap_or_else(|e| panic!("{e}"));
            with_grader(&mut plan);
            let opts = RunOptions {
                concurrency: 2,
                fail_fast: false,
                golden: Arc::new(crate::golden::Store::new(
                    dir.join("golden"),
                    crate::golden::Writes::Nothing,
                )),
                subset: true,
                policy: GatePolicy::default(),
                journal: None,
            };
            let info = RunInfo {
                evalgate_version: "test".into(),
                started_at: "2026-01-01T00:00:00Z".into(),
                config_hash: plan.config_hash.clone(),
                git_commit: None,
                planned_cases: 1,
                concurrency: 2,
                suites: plan.suite_names(),
                providers: plan.provider_names(),
                matrix: false,
                multi_provider_suites: Vec::new(),
                filters: Vec::new(),
                tags: Vec::new(),
                sample: None,
                max_cost_usd: None,
                shard: None,
            };
            let totals = run(
                &plan,
                &info,
                &opts,
                Vec::new(),
                None,
                std::future::pending(),
            )
            .await
            .unwrap_or_else(|e| panic!("{e}"));
            if let Some(r) = &plan.recorder {
                r.flush().unwrap();
            }
            totals
        }
    };
    let recorded = run_mode(crate::provider::build::Mode::Record).await;
    assert!(recorded.verdict.passed, "{:?}", recorded.verdict);
    // 2 repeats × (answer + grade).
    assert_eq!(server.received_requests().await.unwrap().len(), 4);
    let cassette =
        std::fs::read_to_string(dir.path().join("fixtures/cassettes/oa/geo.yaml")).unwrap();
    assert_eq!(
        cassette.matches("call: \"checks[1].grade\"").count(),
        2,
        "{cassette}"
    );
    assert_eq!(cassette.matches("- case: france").count(), 4, "{cassette}");

    // Offline: both calls of each attempt answer from their own recordings.
    drop(server);
    let replayed = run_mode(crate::provider::build::Mode::Replay).await;
    assert!(replayed.verdict.passed, "{:?}", replayed.verdict);
    assert_eq!(replayed.summary.overall.passed, 1);
}

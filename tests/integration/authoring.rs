//! Authoring (issue 14): script checks (and the examples in
//! `examples/script-checks`), JSON inside prose, prompt variants and
//! conversations; every README example of those sections runs as written.

use crate::endpoints::copy_tree;
use crate::util::{evalgate, repo, Project};

/// (case id, outcome, first attempt's check messages) of a JSON report.
fn results(p: &Project) -> Vec<(String, String, Vec<String>)> {
    let report = p.json_report();
    crate::util::assert_valid_report(&report);
    report["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|c| {
            let checks = c["attempts"][0]["checks"]
                .as_array()
                .map(|cs| {
                    cs.iter()
                        .map(|k| k["message"].as_str().unwrap_or_default().to_string())
                        .collect()
                })
                .unwrap_or_default();
            (
                c["case"].as_str().unwrap_or_default().to_string(),
                c["outcome"].as_str().unwrap_or_default().to_string(),
                checks,
            )
        })
        .collect()
}

#[test]
fn the_script_check_examples_run_python_and_javascript() {
    let p = Project::new();
    copy_tree(&repo().join("examples/script-checks"), p.path());
    let r = p.run(&["run", "--no-progress"]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let got = results(&p);
    assert_eq!(
        got,
        vec![
            (
                "short-answer".to_string(),
                "pass".to_string(),
                vec!["script `python3 checks/grade.py`: pass: 1 words (at most 3)".to_string()]
            ),
            (
                "long-answer".to_string(),
                "pass".to_string(),
                vec!["script `python3 checks/grade.py`: pass: 15 words (at most 30)".to_string()]
            ),
            (
                "recipe".to_string(),
                "pass".to_string(),
                vec!["script `node checks/recipe.js` exited 0".to_string()]
            ),
        ]
    );
    // The same scripts fail wrong answers, with their reasons.
    p.file(
        "fixtures/mock.yaml",
        "responses:\n  - case: short-answer\n    reply: \"The capital of France is Paris.\"\n  - case: long-answer\n    reply: Paris\n  - case: recipe\n    reply: '{\"title\": \"Stew\", \"steps\": [\"simmer\"], \"minutes\": 240}'\n",
    );
    let r = p.run(&["run", "--no-progress"]);
    assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
    let got = results(&p);
    assert_eq!(got[0].1, "fail");
    assert_eq!(
        got[0].2,
        ["script `python3 checks/grade.py`: fail: 6 words (at most 3)"]
    );
    assert_eq!(got[1].1, "pass");
    assert_eq!(got[2].1, "fail");
    assert_eq!(
        got[2].2,
        ["script `node checks/recipe.js` exited 1: takes 240 minutes (at most 30)"]
    );
    let report = p.json_report();
    let score = report["results"][0]["attempts"][0]["checks"][0]["score"]
        .as_f64()
        .unwrap();
    assert!((score - 0.5).abs() < 1e-9, "{score}");
}

/// A project with one case whose check is `script` running `checks/<name>`.
fn script_project(script: &str, check: &str) -> Project {
    let p = Project::with_mock("responses:\n  - case: c\n    reply: \"an answer\"\n");
    p.file("checks/s.py", script);
    p.file(
        "suites/s.yaml",
        &format!("name: s\nprompt: hi\ncases:\n  - id: c\n    checks:\n      - {check}\n      - contains: answer\n"),
    );
    p
}

#[test]
fn a_crash_a_timeout_or_garbage_is_an_error_never_a_pass() {
    // The timeout case sleeps far longer than its limit; the others get time
    // to start under load.
    let cases = [
        (
            "import sys\nraise ValueError('boom')\n",
            "script `python3 checks/s.py` crashed (exit status 1 with a stack trace)",
        ),
        (
            "import sys\nsys.exit(3)\n",
            "script `python3 checks/s.py` exited with status 3",
        ),
        (
            "print('looks fine to me')\n",
            "script `python3 checks/s.py` answered something that is not JSON",
        ),
        (
            "print('{\"pass\": \"yes\"}')\n",
            "script `python3 checks/s.py` answered an object without a boolean `pass`",
        ),
        (
            "import time, sys\nsys.stdin.read()\ntime.sleep(30)\nprint('{\"pass\": true}')\n",
            "script `python3 checks/s.py` timed out after 500 ms (killed)",
        ),
    ];
    for (script, want) in cases {
        let timeout = if script.contains("sleep") {
            "500ms"
        } else {
            "20s"
        };
        let p = script_project(
            script,
            &format!("script: {{command: [python3, checks/s.py], timeout: {timeout}}}"),
        );
        let r = p.run(&["run", "--no-progress"]);
        // Every case errored: no verdict at all (exit 3).
        assert_eq!(r.code, 3, "{script}\n{}\n{}", r.stdout, r.stderr);
        let report = p.json_report();
        crate::util::assert_valid_report(&report);
        let case = &report["results"][0];
        assert_eq!(case["outcome"], "error", "{script}: {case}");
        let check = &case["attempts"][0]["checks"][0];
        assert_eq!(check["error"], true, "{check}");
        assert_eq!(check["passed"], false, "{check}");
        let msg = check["message"].as_str().unwrap();
        assert!(msg.starts_with(want), "{script}: {msg}");
        let error = case["attempts"][0]["error"].as_str().unwrap();
        assert!(
            error.starts_with("check `script` could not judge: "),
            "{error}"
        );
        assert_eq!(report["summary"]["overall"]["errored"], 1);
    }
    // Negation never turns an error into a pass.
    let p = script_project(
        "import sys\nsys.exit(3)\n",
        "{script: {command: [python3, checks/s.py]}, not: true}",
    );
    p.run(&["run", "--no-progress"]);
    assert_eq!(p.json_report()["results"][0]["outcome"], "error");
}

#[test]
fn scripts_get_the_case_and_run_in_the_project_root_without_a_shell() {
    let p = script_project(
        "import json, os, sys\ncheck = json.load(sys.stdin)\nopen('seen.json', 'w').write(json.dumps({'cwd': os.getcwd(), 'input': check}))\nprint(json.dumps({'pass': True}))\n",
        "script: {command: [python3, checks/s.py, '$(touch pwned)']}",
    );
    p.file(
        "suites/s.yaml",
        "name: s\nprompt: \"Say {{ word }}\"\ncases:\n  - id: c\n    vars: {word: hi}\n    checks:\n      - script: {command: [python3, checks/s.py, '$(touch pwned)']}\n",
    );
    std::fs::create_dir_all(p.path().join("sub")).unwrap();
    let r = crate::util::Run::from(
        evalgate(&p.path().join("sub"))
            .args(["run", "--no-progress"])
            .output()
            .unwrap(),
    );
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert!(!p.exists("pwned") && !p.exists("sub/pwned"));
    let seen: serde_json::Value = serde_json::from_str(&p.read("seen.json")).unwrap();
    assert_eq!(
        std::path::Path::new(seen["cwd"].as_str().unwrap()),
        p.path().canonicalize().unwrap()
    );
    let input = &seen["input"];
    assert_eq!(input["output"], "an answer");
    assert_eq!(input["case"]["id"], "c");
    assert_eq!(input["case"]["suite"], "s");
    assert_eq!(input["case"]["vars"]["word"], "hi");
    assert_eq!(
        input["case"]["prompt"],
        serde_json::json!([{"role": "user", "content": "Say hi"}])
    );
    assert_eq!(input["provider"], "mock");
    assert_eq!(input["repeat"], 1);
    assert!(input["response"]["latency_ms"].is_number(), "{input}");
}

#[test]
fn replay_starts_no_script_unless_allowed() {
    let p = script_project(
        "import sys\nopen('ran', 'w').write('1')\nsys.exit(0)\n",
        "script: {command: [python3, checks/s.py]}",
    );
    let r = p.run(&["run", "--no-progress", "--record"]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    std::fs::remove_file(p.path().join("ran")).unwrap();
    let r = p.run(&["run", "--no-progress", "--replay"]);
    assert_eq!(r.code, 3, "{}\n{}", r.stdout, r.stderr);
    assert!(!p.exists("ran"), "a replayed run started the script");
    let case = &p.json_report()["results"][0];
    assert_eq!(case["outcome"], "error");
    assert_eq!(
        case["attempts"][0]["checks"][0]["message"],
        "script `python3 checks/s.py` not run: a --replay run starts no process (pass --allow-scripts to run script checks under --replay)"
    );
    let r = p.run(&["run", "--no-progress", "--replay", "--allow-scripts"]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert!(p.exists("ran"));
}

#[test]
fn script_config_errors_name_the_line_and_the_fix() {
    let p = Project::with_mock("responses: []\n");
    p.file(
        "suites/s.yaml",
        "name: s\nprompt: hi\ncases:\n  - id: c\n    checks:\n      - script: {command: [], timout: 5s}\n",
    );
    let r = p.run(&["validate"]);
    assert_eq!(r.code, 2, "{}\n{}", r.stdout, r.stderr);
    assert!(r.stderr.contains("suites/s.yaml:6:"), "{}", r.stderr);
    assert!(r.stderr.contains("unknown key `timout`"), "{}", r.stderr);
    assert!(r.stderr.contains("did you mean `timeout`?"), "{}", r.stderr);
}

/// A fenced block of the README: its language and text.
struct Block {
    lang: String,
    text: String,
}

/// The fenced blocks (at the start of a line) of the README's `### heading`
/// subsection, in order.
fn readme_blocks(heading: &str) -> Vec<Block> {
    let readme = std::fs::read_to_string(repo().join("README.md")).expect("README");
    let start = readme
        .find(&format!("\n### {heading}\n"))
        .unwrap_or_else(|| panic!("README section {heading:?}"));
    let rest = &readme[start + heading.len() + 6..];
    let end = ["\n### ", "\n## "]
        .iter()
        .filter_map(|h| rest.find(h))
        .min()
        .unwrap_or(rest.len());
    let mut blocks = Vec::new();
    let mut open: Option<(usize, String, Vec<&str>)> = None;
    for line in rest[..end].lines() {
        let ticks = line.chars().take_while(|c| *c == '`').count();
        match &mut open {
            None if ticks >= 3 => {
                open = Some((ticks, line[ticks..].trim().to_string(), Vec::new()))
            }
            Some((n, _, _)) if ticks == *n && line[ticks..].trim().is_empty() => {
                if let Some((_, lang, lines)) = open.take() {
                    blocks.push(Block {
                        lang,
                        text: lines.join("\n") + "\n",
                    });
                }
            }
            Some((_, _, lines)) => lines.push(line),
            None => {}
        }
    }
    blocks
}

/// Run a README subsection as written: every block whose first line names a
/// file (`# path`, `// path`) is written to a fresh project, and every
/// `evalgate` command of its `sh` blocks runs in order, with the exit code
/// its comment gives (`# exit 1`), else 0.
fn run_readme_section(heading: &str) -> Project {
    let p = Project::new();
    let mut commands = 0;
    for b in readme_blocks(heading) {
        let first = b.text.lines().next().unwrap_or_default();
        let path = first
            .strip_prefix("# ")
            .or_else(|| first.strip_prefix("// "))
            .filter(|p| p.contains('.') && !p.contains(' '));
        if b.lang == "sh" {
            for line in b.text.lines() {
                let (cmd, comment) = line.split_once(" #").unwrap_or((line, ""));
                let Some(args) = cmd.trim().strip_prefix("evalgate ") else {
                    continue;
                };
                let want: i32 = comment
                    .trim()
                    .strip_prefix("exit ")
                    .and_then(|c| c.split(':').next())
                    .map_or(0, |c| c.trim().parse().expect("exit code"));
                let args: Vec<&str> = args.split_whitespace().collect();
                let r = p.run(&args);
                assert_eq!(
                    r.code, want,
                    "{heading}: {line}\n{}\n{}",
                    r.stdout, r.stderr
                );
                commands += 1;
            }
        } else if let Some(path) = path {
            p.file(path, &b.text);
        }
    }
    assert!(commands > 0, "{heading}: no command");
    p
}

#[test]
fn the_readme_prompt_variants_example_runs_as_written() {
    let p = run_readme_section("Prompt variants");
    let report = p.json_report();
    crate::util::assert_valid_report(&report);
    // Counted per variant in the summary, as providers are.
    let variants = &report["summary"]["variants"];
    assert_eq!(variants["terse"]["passed"], 2, "{variants}");
    assert_eq!(variants["polite"]["passed"], 1, "{variants}");
    assert_eq!(variants["polite"]["failed"], 1, "{variants}");
    let got: Vec<(String, String, String)> = report["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["id"].as_str().unwrap().to_string(),
                c["variant"].as_str().unwrap().to_string(),
                c["outcome"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let want = [
        ("qa/france@terse", "terse", "pass"),
        ("qa/france@polite", "polite", "pass"),
        ("qa/germany@terse", "terse", "pass"),
        ("qa/germany@polite", "polite", "fail"),
    ];
    assert_eq!(
        got,
        want.map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string()))
    );
    assert_eq!(report["results"][3]["case"], "germany");
    let junit = p.read("reports/junit.xml");
    assert!(
        junit.contains("<testsuite name=\"qa@terse\" tests=\"2\" failures=\"0\""),
        "{junit}"
    );
    assert!(
        junit.contains("<testsuite name=\"qa@polite\" tests=\"2\" failures=\"1\""),
        "{junit}"
    );
    let md = p.read("reports/summary.md");
    assert!(md.contains("### Prompt variants"), "{md}");
    assert!(
        md.contains("| <code>qa/germany</code> | ✅ pass | ❌ fail |"),
        "{md}"
    );
    // The console table, as the README shows it.
    let r = p.run(&["run", "--no-progress"]);
    let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();
    let table = "VARIANT  CASES   PASS   FAIL  ERROR  PASS RATE\nterse        2      2      0      0     100.0%\npolite       2      1      1      0      50.0%\n1 of 2 cases differs across prompt variants\nCASE        terse    polite\nqa/germany  pass     fail\n";
    assert!(readme.contains(table));
    assert!(r.stdout.contains(table), "{}", r.stdout);
}

#[test]
fn variants_combine_with_a_matrix_baselines_goldens_and_datasets() {
    let p = run_readme_section("Prompt variants");
    // Variants × providers: the echo provider answers with the prompt.
    p.file(
        "evalgate.yaml",
        "default_provider: mock\nproviders:\n  mock: {type: mock, responses: fixtures/mock.yaml}\n  echo: {type: echo}\n",
    );
    let r = p.run(&[
        "run",
        "--no-progress",
        "--provider",
        "mock",
        "--provider",
        "echo",
    ]);
    assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
    let report = p.json_report();
    crate::util::assert_valid_report(&report);
    assert_eq!(report["summary"]["overall"]["total"], 8);
    let junit = p.read("reports/junit.xml");
    for g in [
        "qa@terse [mock]",
        "qa@polite [mock]",
        "qa@terse [echo]",
        "qa@polite [echo]",
    ] {
        assert!(
            junit.contains(&format!("<testsuite name=\"{g}\"")),
            "{g}\n{junit}"
        );
    }
    assert!(
        r.stdout.contains("qa/germany [mock]  pass     fail"),
        "{}",
        r.stdout
    );
    // A baseline matches by (suite, case, variant, provider): the polite
    // variant of germany is fixed, and only it.
    std::fs::copy(
        p.path().join("reports/report.json"),
        p.path().join("base.json"),
    )
    .unwrap();
    p.file(
        "fixtures/mock.yaml",
        &p.read("fixtures/mock.yaml")
            .replace("It is Munich, I believe.", "It is Berlin."),
    );
    let r = p.run(&[
        "run",
        "--no-progress",
        "--provider",
        "mock",
        "--provider",
        "echo",
        "--baseline",
        "base.json",
    ]);
    assert!(
        r.stdout.contains("8 matched (7 unchanged) · 1 fixed")
            && r.stdout
                .contains("FIXED (1)\n  ✓ qa/germany@polite  fail → pass"),
        "{}",
        r.stdout
    );
    // Goldens per variant.
    p.file(
        "evalgate.yaml",
        "default_provider: mock\nproviders:\n  mock: {type: mock, responses: fixtures/mock.yaml}\n",
    );
    p.file(
        "suites/qa.yaml",
        &p.read("suites/qa.yaml").replace(
            "checks: [{icontains: paris}]",
            "checks: [{icontains: paris}, {golden: {per_variant: true}}]",
        ),
    );
    let r = p.run(&["run", "--no-progress", "--update-golden=new"]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert!(p
        .read("golden/qa/france%40terse.txt")
        .ends_with("---\nParis\n"));
    assert!(p
        .read("golden/qa/france%40polite.txt")
        .contains("Great question! The capital of France is Paris."));
    let r = p.run(&["run", "--no-progress"]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let r = p.run(&["golden", "prune"]);
    assert!(
        r.stdout.contains("0 unused golden files removed"),
        "{}",
        r.stdout
    );
    assert!(p.exists("golden/qa/france%40terse.txt"));
    // Shared goldens: a warning.
    p.file(
        "suites/qa.yaml",
        &p.read("suites/qa.yaml")
            .replace("{golden: {per_variant: true}}", "golden"),
    );
    let r = p.run(&["validate"]);
    assert!(
        r.stderr
            .contains("suite `qa` has 2 prompt variants and its goldens are shared"),
        "{}\n{}",
        r.stdout,
        r.stderr
    );
    // A dataset names its rows' variants.
    p.file(
        "suites/qa.yaml",
        "name: qa\nprompts:\n  terse: \"Answer in one word: What is the capital of {{ country }}?\"\n  polite: {system: \"You are a kind tutor.\", user: \"What is the capital of {{ country }}?\"}\ncases_from:\n  path: fixtures/questions.csv\n  prompt_column: variant\n  checks: [{icontains: \"{{ capital }}\"}]\n",
    );
    p.file(
        "fixtures/questions.csv",
        "id,country,capital,variant\nfr,France,paris,\nde,Germany,berlin,terse\n",
    );
    let r = p.run(&["run", "--no-progress"]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let ids: Vec<String> = p.json_report()["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(ids, ["qa/fr@terse", "qa/fr@polite", "qa/de@terse"]);
    p.file(
        "fixtures/questions.csv",
        "id,country,capital,variant\nfr,France,paris,terce\n",
    );
    let r = p.run(&["validate"]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("fixtures/questions.csv:2"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr
            .contains("unknown prompt variant `terce` in column `variant`"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("did you mean `terse`?"), "{}", r.stderr);
}

#[test]
fn variant_config_errors_name_the_line_and_the_fix() {
    let p = Project::with_mock("responses: []\n");
    p.file(
        "suites/s.yaml",
        "name: s\nprompt: hi\nprompts:\n  a: \"x {{ q }}\"\ncases:\n  - id: c\n    checks: [{contains: x}]\n",
    );
    let r = p.run(&["validate"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains("suites/s.yaml:3:")
            && r.stderr
                .contains("a suite has `prompt` or `prompts`, not both"),
        "{}",
        r.stderr
    );
    p.file(
        "suites/s.yaml",
        "name: s\nprompts:\n  a: \"x {{ q }}\"\n  b: \"y {{ qq }}\"\ncases:\n  - id: c\n    vars: {q: 1}\n    checks: [{contains: x}]\n",
    );
    let r = p.run(&["validate"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("undefined variable `qq` in the prompt of case `c@b`"),
        "{}",
        r.stderr
    );
}

#[test]
fn the_readme_conversation_example_runs_as_written() {
    let p = run_readme_section("Conversations");
    let report = p.json_report();
    crate::util::assert_valid_report(&report);
    let a = &report["results"][0]["attempts"][0];
    assert_eq!(report["results"][0]["outcome"], "pass");
    let turns = a["turns"].as_array().unwrap();
    assert_eq!(turns.len(), 2);
    assert_eq!(turns[0]["user"], "I want a refund for order 1182");
    assert_eq!(
        turns[0]["steps"],
        serde_json::json!([
            {"role": "assistant", "content": "Let me look that up.",
             "tool_calls": [{"id": "call_1", "name": "get_order", "arguments": "{\"order\":1182}"}]},
            {"role": "tool", "content": "{\"order\":1182,\"status\":\"shipped\"}", "tool_call_id": "call_1"}
        ])
    );
    assert_eq!(
        turns[0]["output"],
        "Order 1182 has shipped, so a refund needs a return first."
    );
    assert_eq!(turns[1]["tool_calls"][0]["name"], "escalate");
    let names: Vec<&str> = a["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["turn 1: icontains", "turn 2: tool_call"]);
    assert_eq!(a["output"], "Connecting you to a person.");
}

/// `py/agent_chat.py` on a free port, stopped on drop.
struct Agent {
    child: std::process::Child,
    port: u16,
    log: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

impl Agent {
    fn start() -> Agent {
        use std::io::BufRead;
        let dir = tempfile::tempdir().expect("tempdir");
        let log = dir.path().join("requests.jsonl");
        let mut cmd = std::process::Command::new("python3");
        cmd.arg(repo().join("tests/integration/py/agent_chat.py"))
            .arg("--log")
            .arg(&log)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped());
        for v in crate::util::PROXY_VARS {
            cmd.env_remove(v);
        }
        let mut child = cmd.spawn().expect("start agent_chat.py");
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("port");
        let port = line.trim().parse().expect("port number");
        Agent {
            child,
            port,
            log,
            _dir: dir,
        }
    }

    /// The request bodies the server received, in order.
    fn requests(&self) -> Vec<serde_json::Value> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).expect("a JSON line"))
            .collect()
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn a_conversation_with_tool_calls_against_an_openai_server_sends_the_right_messages() {
    let agent = Agent::start();
    let p = Project::new();
    p.file(
        "evalgate.yaml",
        &format!(
            "default_provider: agent\nproviders:\n  agent:\n    type: openai\n    base_url: http://127.0.0.1:{}/v1\n    model: agent-1\n    no_api_key: true\n    max_retries: 0\n",
            agent.port
        ),
    );
    p.file(
        "suites/support.yaml",
        "name: support\nprompt:\n  system: \"You are Acme's support bot.\"\n  user: unused\ncases:\n  - id: refund\n    vars: {order: 1182}\n    tool_results:\n      get_order: {order: 1182, status: shipped}\n    turns:\n      - user: \"I want a refund for order {{ order }}\"\n        checks: [{icontains: shipped}, golden]\n      - user: \"get me a human\"\n        checks: [{tool_call: escalate}]\n    checks: [{contains: person}]\n",
    );
    let r = p.run(&["run", "--no-progress", "--record", "--update-golden=new"]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let requests = agent.requests();
    assert_eq!(requests.len(), 3, "{requests:#?}");
    let system = serde_json::json!({"role": "system", "content": "You are Acme's support bot."});
    let user1 = serde_json::json!({"role": "user", "content": "I want a refund for order 1182"});
    assert_eq!(requests[0]["messages"], serde_json::json!([system, user1]));
    let call = serde_json::json!({"role": "assistant", "content": "",
        "tool_calls": [{"id": "call_1_1", "type": "function",
            "function": {"name": "get_order", "arguments": "{\"order\": 1182}"}}]});
    let result = serde_json::json!({"role": "tool", "content": "{\"order\":1182,\"status\":\"shipped\"}", "tool_call_id": "call_1_1"});
    assert_eq!(
        requests[1]["messages"],
        serde_json::json!([system, user1, call, result])
    );
    let answer1 = serde_json::json!({"role": "assistant", "content": "Order 1182 has shipped: a refund needs a return first."});
    let user2 = serde_json::json!({"role": "user", "content": "get me a human"});
    assert_eq!(
        requests[2]["messages"],
        serde_json::json!([system, user1, call, result, answer1, user2])
    );
    let report = p.json_report();
    crate::util::assert_valid_report(&report);
    let a = &report["results"][0]["attempts"][0];
    let names: Vec<&str> = a["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "turn 1: icontains",
            "turn 1: golden",
            "turn 2: tool_call",
            "turn 2: contains"
        ]
    );
    assert!(a["turns"][0]["latency_ms"].as_f64().unwrap() > 0.0);
    assert_eq!(
        a["usage"],
        serde_json::json!({"input_tokens": 30, "output_tokens": 15, "total_tokens": 45})
    );
    // The golden of turn 1.
    assert!(p
        .read("golden/support/refund%231.txt")
        .ends_with("---\nOrder 1182 has shipped: a refund needs a return first.\n"));
    // The cassette keeps each call apart, and replays without the server.
    let cassette = p.read("fixtures/cassettes/agent/support.yaml");
    for call in ["call: turn1\n", "call: turn1.step2\n", "call: turn2\n"] {
        assert!(cassette.contains(call), "{call}\n{cassette}");
    }
    drop(agent);
    let r = p.run(&["run", "--no-progress", "--replay"]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let r = p.run(&["golden", "prune"]);
    assert!(
        r.stdout.contains("0 unused golden files removed"),
        "{}",
        r.stdout
    );
    assert!(p.exists("golden/support/refund%231.txt"));
    let replayed = p.json_report();
    let again = &replayed["results"][0]["attempts"][0];
    assert_eq!(
        again["turns"][0]["checks"][1]["message"],
        "output matches golden/support/refund%231.txt (exact)"
    );
    for key in ["user", "steps", "output", "tool_calls", "passed"] {
        for t in 0..2 {
            assert_eq!(
                again["turns"][t][key], a["turns"][t][key],
                "{key} of turn {t}"
            );
        }
    }
}

#[test]
fn a_runaway_agent_loop_is_an_error_naming_the_turn() {
    let p = Project::with_mock(
        "responses:\n  - prompt: \"(?s).\"\n    reply: \"\"\n    tool_calls: [{name: lookup, arguments: {}}]\n",
    );
    p.file(
        "suites/s.yaml",
        "name: s\ncases:\n  - id: loop\n    tool_results: {lookup: nothing}\n    max_steps: 3\n    turns:\n      - user: hi\n    checks: [{contains: x}]\n",
    );
    let r = p.run(&["run", "--no-progress"]);
    assert_eq!(r.code, 3, "{}\n{}", r.stdout, r.stderr);
    let case = &p.json_report()["results"][0];
    assert_eq!(case["outcome"], "error");
    assert_eq!(
        case["attempts"][0]["error"],
        "turn 1: the model still called tools after 3 model calls (max_steps: 3)"
    );
}

#[test]
fn conversation_config_errors_name_the_line_and_the_fix() {
    let p = Project::with_mock("responses: []\n");
    p.file(
        "suites/s.yaml",
        "name: s\ncases:\n  - id: c\n    turns:\n      - user: \"hi {{ nme }}\"\n        chekcs: [{contains: x}]\n    vars: {name: a}\n  - id: d\n    tool_results: {a: 1}\n    checks: [{contains: x}]\n    prompt: hi\n",
    );
    let r = p.run(&["validate"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    let e = &r.stderr;
    assert!(
        e.contains("suites/s.yaml:6:9")
            && e.contains("unknown key `chekcs`")
            && e.contains("did you mean `checks`?"),
        "{e}"
    );
    assert!(
        e.contains("undefined variable `nme` in the prompt of case `c` turn `1`"),
        "{e}"
    );
    assert!(
        e.contains("suites/s.yaml:9:5")
            && e.contains("`tool_results` applies to a conversation: the case has no `turns`"),
        "{e}"
    );
}

#[test]
fn the_readme_code_check_example_runs_as_written() {
    let p = run_readme_section("Code checks");
    let got = results(&p);
    assert_eq!(
        got,
        vec![
            (
                "short-answer".to_string(),
                "pass".to_string(),
                vec!["script `python3 checks/grade.py`: pass: 1 words (at most 3)".to_string()]
            ),
            (
                "recipe".to_string(),
                "pass".to_string(),
                vec!["script `node checks/recipe.js` exited 0".to_string()]
            ),
        ]
    );
    // The README's grade.py is the example's.
    let example =
        std::fs::read_to_string(repo().join("examples/script-checks/checks/grade.py")).unwrap();
    assert!(example.ends_with(&p.read("checks/grade.py").replace("# checks/grade.py\n", "")));
}

#[test]
fn the_readme_json_extraction_example_runs_as_written() {
    let p = run_readme_section("JSON inside prose");
    let got = results(&p);
    let outcomes: Vec<(&str, &str)> = got
        .iter()
        .map(|(c, o, _)| (c.as_str(), o.as_str()))
        .collect();
    assert_eq!(
        outcomes,
        [("city", "pass"), ("inline", "pass"), ("strict", "pass")]
    );
    assert_eq!(
        got[0].2,
        [
            "output holds valid JSON: the JSON object in the ```json fence at line 2",
            "$.city equals \"Paris\" (extracted the JSON object in the ```json fence at line 2)",
            "output matches inline schema (extracted the JSON object in the ```json fence at line 2)",
        ]
    );
    assert_eq!(
        got[1].2,
        [
            "$.tags[0] equals \"food\" (extracted the JSON object at line 1, column 15 of the output)",
            "output matches golden/extract/inline.json (json, compared the JSON object at line 1, column 15 of the output)",
        ]
    );
    // The golden holds the extracted value, pretty-printed with sorted keys.
    assert!(p.read("golden/extract/inline.json").ends_with(
        "---\n{\n  \"city\": \"Lyon\",\n  \"tags\": [\n    \"food\",\n    \"silk\"\n  ]\n}\n"
    ));
    // The messages the README quotes.
    let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();
    assert!(readme.contains(
        "`$.city equals \"Paris\" (extracted the JSON object in the ```json fence at\nline 2)`"
    ));
    assert!(readme.contains(
        "`$.tags[0] equals \"food\" (extracted the JSON object at line 1,\ncolumn 15 of the output)`"
    ));
    // Without extraction, the same answers are not JSON.
    p.file(
        "suites/extract.yaml",
        &p.read("suites/extract.yaml")
            .replace("extract_json: true", "extract_json: false"),
    );
    let r = p.run(&["run", "--no-progress"]);
    assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
    let got = results(&p);
    assert_eq!(got[0].1, "fail");
    assert!(
        got[0].2[0].starts_with("output is not valid JSON"),
        "{:?}",
        got[0].2
    );
}

#[test]
fn each_variant_has_its_own_recording() {
    let agent = Agent::start();
    let p = Project::new();
    p.file(
        "evalgate.yaml",
        &format!(
            "default_provider: agent\nproviders:\n  agent:\n    type: openai\n    base_url: http://127.0.0.1:{}/v1\n    model: agent-1\n    no_api_key: true\n    max_retries: 0\n",
            agent.port
        ),
    );
    p.file(
        "suites/qa.yaml",
        "name: qa\nprompts:\n  terse: \"Hi, in one word\"\n  polite: {system: \"Be kind.\", user: \"Hi\"}\ncases:\n  - id: hello\n    checks: [{contains: help}]\n",
    );
    let r = p.run(&["run", "--no-progress", "--record"]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    // Concurrent attempts: the requests in any order.
    let sent: Vec<serde_json::Value> = agent
        .requests()
        .iter()
        .map(|r| r["messages"].clone())
        .collect();
    assert_eq!(sent.len(), 2);
    for want in [
        serde_json::json!([{"role": "user", "content": "Hi, in one word"}]),
        serde_json::json!([{"role": "system", "content": "Be kind."}, {"role": "user", "content": "Hi"}]),
    ] {
        assert!(sent.contains(&want), "{want}\n{sent:?}");
    }
    let cassette = p.read("fixtures/cassettes/agent/qa.yaml");
    for call in ["call: \"answer@terse\"\n", "call: \"answer@polite\"\n"] {
        assert!(cassette.contains(call), "{call}\n{cassette}");
    }
    drop(agent);
    let r = p.run(&["run", "--no-progress", "--replay"]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let report = p.json_report();
    assert_eq!(report["results"][1]["variant"], "polite");
    assert_eq!(report["results"][1]["outcome"], "pass");
}

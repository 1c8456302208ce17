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
        assert!(error.starts_with("check `script` errored: "), "{error}");
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

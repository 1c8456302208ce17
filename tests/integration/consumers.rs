//! The JUnit report as a third-party consumer reads it: `junitparser`, the
//! Python library behind GitHub's publish-unit-test-result action, installed
//! from PyPI into a virtual environment under the test target directory on
//! first use. The test fails (never skips) when it cannot be installed.

use std::path::PathBuf;
use std::process::Command;

use crate::util::Project;

const JUNITPARSER: &str = "junitparser==5.0.3";

fn python() -> PathBuf {
    crate::util::pip_venv("venv-junitparser", &[JUNITPARSER], "JUnit consumer test")
        .join("bin/python")
}

#[test]
fn junit_report_loads_in_junitparser() {
    let p = Project::with_mock(
        "responses:\n  - case: good\n    reply: Paris\n  - case: wrong\n    reply: Lyon\n  - case: broken\n    error: upstream 503\n  - case: flaky\n    replies: [Paris, Lyon, Paris]\n",
    );
    p.file(
        "suites/geo.yaml",
        "name: geo\nprompt: hi\ncases:\n  - {id: good, checks: [{contains: Paris}]}\n  - {id: wrong, checks: [{contains: Paris}]}\n  - {id: broken, checks: [{contains: Paris}]}\n  - {id: later, skip: not yet, checks: [{contains: Paris}]}\n  - {id: flaky, repeat: 3, min_passes: 2, checks: [{contains: Paris}]}\n",
    );
    p.file(
        "suites/other.yaml",
        "name: other\nprompt: hi\ncases:\n  - {id: good, checks: [{contains: Paris}]}\n",
    );
    let r = p.run(&["run"]);
    assert_eq!(r.code, 1, "{}", r.stdout);
    let out = Command::new(python())
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/integration/py/junit_summary.py"
        ))
        .arg(p.path().join("reports/junit.xml"))
        .output()
        .expect("run python");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json from python");
    // Totals: 3 single cases + 1 skipped + 3 repeats in geo, 1 in other.
    assert_eq!(v["tests"], 8, "{v}");
    assert_eq!(v["failures"], 1, "{v}");
    assert_eq!(v["errors"], 1, "{v}");
    let geo = &v["suites"][0];
    assert_eq!(geo["name"], "geo");
    assert_eq!(
        (
            geo["tests"].as_u64(),
            geo["failures"].as_u64(),
            geo["errors"].as_u64(),
            geo["skipped"].as_u64()
        ),
        (Some(7), Some(1), Some(1), Some(1))
    );
    let case = |name: &str| {
        geo["cases"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == name)
            .cloned()
            .unwrap_or_default()
    };
    assert_eq!(case("good")["result"], serde_json::json!([]));
    assert_eq!(case("good")["classname"], "geo");
    assert_eq!(case("good")["system_out"], "Paris");
    assert_eq!(case("wrong")["result"], serde_json::json!(["Failure"]));
    assert!(
        case("wrong")["message"][0]
            .as_str()
            .unwrap()
            .contains("missing \"Paris\""),
        "{}",
        case("wrong")
    );
    assert_eq!(case("broken")["result"], serde_json::json!(["Error"]));
    assert!(case("broken")["message"][0]
        .as_str()
        .unwrap()
        .contains("upstream 503"));
    assert_eq!(case("later")["result"], serde_json::json!(["Skipped"]));
    // The flaky case passed overall: none of its repeats is a failure for the consumer.
    for i in 1..=3 {
        assert_eq!(
            case(&format!("flaky [repeat {i}/3]"))["result"],
            serde_json::json!([]),
            "{geo}"
        );
    }
    assert_eq!(v["suites"][1]["name"], "other");
}

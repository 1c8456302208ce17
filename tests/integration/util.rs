//! Helpers: run the real `evalgate` binary in a scratch project.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// The repository root (where the example project lives).
pub(crate) fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A command for the binary with a clean, deterministic environment.
pub(crate) fn evalgate(dir: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_evalgate"));
    c.current_dir(dir)
        .env("NO_COLOR", "1")
        .env("CI", "true")
        .env_remove("GITHUB_STEP_SUMMARY")
        // Annotations only where a test asks for them.
        .env_remove("GITHUB_ACTIONS")
        .env_remove("GITHUB_WORKSPACE")
        .env_remove("GITHUB_SHA")
        .env_remove("CI_COMMIT_SHA")
        .stdin(Stdio::null());
    // The runner's proxy settings must not reach the tests' loopback servers.
    for v in PROXY_VARS {
        c.env_remove(v);
    }
    c
}

/// Proxy variables that reqwest (and Python's HTTP clients) honour.
pub(crate) const PROXY_VARS: &[&str] = &[
    "HTTP_PROXY",
    "http_proxy",
    "HTTPS_PROXY",
    "https_proxy",
    "ALL_PROXY",
    "all_proxy",
    "NO_PROXY",
    "no_proxy",
];

/// Environment variables that announce CI.
pub(crate) use evalgate::util::ci::CI_VARS;

/// Like [`evalgate`], but as on a developer's machine (no CI variables).
pub(crate) fn evalgate_local(dir: &Path) -> Command {
    let mut c = evalgate(dir);
    for v in CI_VARS {
        c.env_remove(v);
    }
    c
}

/// The result of one run.
pub(crate) struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub(crate) fn from(o: Output) -> Self {
        Run {
            code: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }
}

/// Run the binary with `args` in `dir`.
pub(crate) fn run(dir: &Path, args: &[&str]) -> Run {
    Run::from(evalgate(dir).args(args).output().expect("run evalgate"))
}

/// A throwaway project directory.
pub(crate) struct Project {
    pub dir: tempfile::TempDir,
}

impl Project {
    pub(crate) fn new() -> Self {
        Project {
            dir: tempfile::tempdir().expect("tempdir"),
        }
    }

    pub(crate) fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Write a file (creating directories).
    pub(crate) fn file(&self, rel: &str, text: &str) -> &Self {
        let p = self.dir.path().join(rel);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).expect("mkdir");
        }
        std::fs::write(&p, text).expect("write");
        self
    }

    pub(crate) fn read(&self, rel: &str) -> String {
        std::fs::read_to_string(self.dir.path().join(rel))
            .unwrap_or_else(|e| panic!("read {rel}: {e}"))
    }

    pub(crate) fn run(&self, args: &[&str]) -> Run {
        run(self.path(), args)
    }

    /// Run as on a developer's machine (not in CI).
    pub(crate) fn run_local(&self, args: &[&str]) -> Run {
        Run::from(
            evalgate_local(self.path())
                .args(args)
                .output()
                .expect("run evalgate"),
        )
    }

    pub(crate) fn exists(&self, rel: &str) -> bool {
        self.dir.path().join(rel).exists()
    }

    /// A project with a mock provider answering from `responses` (YAML text).
    pub(crate) fn with_mock(responses: &str) -> Self {
        let p = Project::new();
        p.file(
            "evalgate.yaml",
            "default_provider: mock\nproviders:\n  mock: {type: mock, responses: mock.yaml}\n  echo: {type: echo}\nreports: {junit: reports/junit.xml, json: reports/report.json, markdown: reports/summary.md}\n",
        );
        p.file("mock.yaml", responses);
        p
    }

    pub(crate) fn json_report(&self) -> serde_json::Value {
        serde_json::from_str(&self.read("reports/report.json")).expect("report.json is JSON")
    }
}

/// Replace run-dependent numbers (latencies, times, hashes) for snapshots.
pub(crate) fn normalize(s: &str) -> String {
    let rules = [
        (r"\d+(\.\d+)? ms", "[N] ms"),
        (r"wall time \d+\.\d+ s", "wall time [N] s"),
        (r"sha256:[0-9a-f]{64}", "sha256:[HASH]"),
        (r"/tmp/\.tmp[A-Za-z0-9]+", "[TMP]"),
    ];
    let mut out = s.to_string();
    for (re, rep) in rules {
        out = regex::Regex::new(re)
            .expect("regex")
            .replace_all(&out, rep)
            .into_owned();
    }
    out
}

/// Assert that `report` is valid against `schema/report.v1.json`.
pub(crate) fn assert_valid_report(report: &serde_json::Value) {
    let schema: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(repo().join("schema/report.v1.json")).expect("schema"),
    )
    .expect("schema is JSON");
    let validator = jsonschema::validator_for(&schema).expect("schema compiles");
    let errors: Vec<String> = validator
        .iter_errors(report)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{errors:?}");
}

/// A Python virtual environment `name` under the test target directory with
/// `packages` from PyPI, installed on first use (and again when the list
/// changes); its directory. `purpose` names the test in the message when
/// Python or the registry is missing: the test fails, never skips.
pub(crate) fn pip_venv(name: &str, packages: &[&str], purpose: &str) -> PathBuf {
    let venv = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name);
    let ready = venv.join(".installed");
    let want = packages.join(" ");
    if std::fs::read_to_string(&ready).ok().as_deref() != Some(want.as_str()) {
        let ok = Command::new("python3")
            .args(["-m", "venv"])
            .arg(&venv)
            .status()
            .is_ok_and(|s| s.success());
        assert!(
            ok,
            "python3 -m venv failed: the {purpose} needs Python 3 with venv"
        );
        let ok = Command::new(venv.join("bin/pip"))
            .args(["install", "--quiet", "--disable-pip-version-check"])
            .args(packages)
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "pip install {want} failed (needs the PyPI registry)");
        std::fs::write(&ready, &want).expect("mark venv ready");
    }
    venv
}

//! The daily workflow: `evalgate init`, GitHub annotations, shell
//! completions and the man page, through the real binary.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::util::{evalgate, Project, Run};

/// Every file `evalgate init` writes (the README lists the same).
const INIT_FILES: &[&str] = &[
    "evalgate.yaml",
    "suites/basics.yaml",
    "suites/json_output.yaml",
    "suites/release_notes.yaml",
    "suites/capitals_dataset.yaml",
    "fixtures/mock/responses.yaml",
    "fixtures/schemas/ticket.json",
    "fixtures/datasets/capitals.csv",
    "golden/release-notes/summary.txt",
    ".github/workflows/evalgate.yml",
];

fn run_in(dir: &Path, args: &[&str]) -> Run {
    Run::from(evalgate(dir).args(args).output().expect("run evalgate"))
}

/// Every regular file under `dir` with its contents, sorted by path.
fn tree(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).expect("read dir") {
            let p = e.expect("dir entry").path();
            if p.is_dir() {
                todo.push(p);
            } else {
                let bytes = std::fs::read(&p).expect("read file");
                out.push((p.strip_prefix(dir).expect("inside").to_path_buf(), bytes));
            }
        }
    }
    out.sort();
    out
}

#[test]
fn init_writes_a_project_that_validates_and_passes() {
    let p = Project::new();
    let r = run_in(p.path(), &["init", "demo"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let dir = p.path().join("demo");
    let written: Vec<PathBuf> = tree(&dir).into_iter().map(|(p, _)| p).collect();
    let mut expected: Vec<PathBuf> = INIT_FILES.iter().map(PathBuf::from).collect();
    expected.sort();
    assert_eq!(written, expected);
    for f in INIT_FILES {
        assert!(r.stdout.contains(f), "init names {f}:\n{}", r.stdout);
    }
    assert!(r.stdout.contains("cd demo && evalgate run"), "{}", r.stdout);

    let v = run_in(&dir, &["validate"]);
    assert_eq!(v.code, 0, "{}{}", v.stdout, v.stderr);
    assert!(v.stdout.contains("4 suites, 8 cases"), "{}", v.stdout);

    // In CI (the helper sets CI=true), so a missing golden would fail rather
    // than be written: the committed golden is what makes it pass.
    let r = run_in(&dir, &["run"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("gate: PASSED"), "{}", r.stdout);
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("reports/report.json")).unwrap())
            .unwrap();
    assert_eq!(report["summary"]["overall"]["passed"], 8, "{report}");
    for suite in ["basics", "json-output", "release-notes", "capitals-dataset"] {
        assert!(
            report["summary"]["suites"][suite]["passed"].as_u64() > Some(0),
            "{suite}: {report}"
        );
    }
    // Offline: nothing pending, nothing changed in golden/.
    assert!(!dir.join("golden/release-notes/summary.txt.new").exists());
}

#[test]
fn init_into_the_current_directory() {
    let p = Project::new();
    let r = run_in(p.path(), &["init"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("next: evalgate run"), "{}", r.stdout);
    // On a developer's machine too (goldens in `auto` mode would write a
    // pending file on any difference: there is none).
    let r = p.run_local(&["run", "-q"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let pending = p.run_local(&["golden", "pending"]);
    assert_eq!(pending.code, 0, "{}{}", pending.stdout, pending.stderr);
    assert!(!p.exists("golden/release-notes/summary.txt.new"));
    // The golden is compared: a changed answer fails against it.
    let mock = p.read("fixtures/mock/responses.yaml");
    p.file(
        "fixtures/mock/responses.yaml",
        &mock.replace("twice as fast", "three times as fast"),
    );
    let r = p.run(&["run", "--filter", "release-notes"]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stdout.contains("-- `export` is twice as fast"),
        "{}",
        r.stdout
    );
}

#[test]
fn init_refuses_to_overwrite_and_writes_nothing() {
    let p = Project::new();
    assert_eq!(run_in(p.path(), &["init", "demo"]).code, 0);
    let dir = p.path().join("demo");
    std::fs::write(dir.join("suites/basics.yaml"), "# my own suite\n").unwrap();
    std::fs::remove_file(dir.join("suites/json_output.yaml")).unwrap();
    let before = tree(&dir);

    let r = run_in(p.path(), &["init", "demo"]);
    assert_eq!(r.code, 2, "{}{}", r.stdout, r.stderr);
    assert_eq!(tree(&dir), before, "a refused init changes nothing");
    assert!(
        r.stderr
            .contains("evalgate init would overwrite 9 existing files:"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("demo/suites/basics.yaml"), "{}", r.stderr);
    assert!(!r.stderr.contains("json_output"), "{}", r.stderr);
    assert!(r.stderr.contains("nothing was written"), "{}", r.stderr);

    // One existing file in an otherwise empty directory: still nothing written.
    let q = Project::new();
    q.file(".github/workflows/evalgate.yml", "name: mine\n");
    let r = run_in(q.path(), &["init"]);
    assert_eq!(r.code, 2, "{}{}", r.stdout, r.stderr);
    insta::assert_snapshot!("init_refuses", r.stderr);
    assert_eq!(tree(q.path()).len(), 1);
    assert_eq!(q.read(".github/workflows/evalgate.yml"), "name: mine\n");

    // A file where the directory should be.
    q.file("plain", "x");
    let r = run_in(q.path(), &["init", "plain"]);
    assert_eq!(r.code, 2, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stderr.contains("`plain` exists and is not a directory"),
        "{}",
        r.stderr
    );
}

/// The workflow init writes is valid YAML, and its `run:` steps pass in the
/// project as written (with this binary as `evalgate`).
#[test]
fn init_workflow_steps_run() {
    let p = Project::new();
    assert_eq!(run_in(p.path(), &["init"]).code, 0);
    let text = p.read(".github/workflows/evalgate.yml");
    let node = evalgate::syntax::node::parse(Path::new("evalgate.yml"), &text)
        .unwrap_or_else(|d| panic!("workflow YAML: {d:?}"));
    let wf = node.to_json();
    assert!(wf["on"]["pull_request"].is_null() && wf["on"].get("pull_request").is_some());
    let steps = wf["jobs"]["evals"]["steps"].as_array().expect("steps");
    let runs: Vec<&str> = steps.iter().filter_map(|s| s["run"].as_str()).collect();
    assert!(runs.contains(&"evalgate validate"), "{runs:?}");
    assert!(runs.contains(&"evalgate run"), "{runs:?}");
    for cmd in runs.iter().filter(|r| r.starts_with("evalgate ")) {
        let args: Vec<&str> = cmd.split_whitespace().skip(1).collect();
        let r = run_in(p.path(), &args);
        assert_eq!(r.code, 0, "`{cmd}`: {}{}", r.stdout, r.stderr);
    }
    let upload = steps
        .iter()
        .find(|s| s["uses"].as_str() == Some("actions/upload-artifact@v4"))
        .expect("reports uploaded");
    assert_eq!(upload["if"], "always()");
    assert_eq!(upload["with"]["path"], "reports/");
}

// ---------------------------------------------------------------------------
// GitHub annotations
// ---------------------------------------------------------------------------

/// A project with a failing case, an errored one (a closed port behind a
/// URL carrying a secret), dataset rows that fail, and a message with
/// characters that need escaping.
fn annotated_project() -> Project {
    let p = Project::with_mock(
        "responses:\n  - case: text/wrong\n    reply: \"Lyon, 50% sure:\\nreally\"\n  - case: text/right\n    reply: Paris\n  - prompt: Germany\n    reply: Bonn\n  - prompt: Spain\n    reply: Madrid\n",
    );
    p.file(
        "evalgate.yaml",
        "default_provider: mock\nproviders:\n  mock: {type: mock, responses: mock.yaml}\n  down:\n    type: http\n    url: \"http://127.0.0.1:9/answer?key=${EG_TEST_TOKEN}\"\n    max_retries: 0\nreports: {junit: reports/junit.xml}\n",
    );
    p.file(
        "suites/text.yaml",
        "name: text\nprompt: \"Capital of {{ country }}?\"\ncases:\n  - id: right\n    vars: {country: France}\n    checks: [{equals: Paris}]\n  - id: wrong\n    vars: {country: France}\n    checks: [{equals: Paris}]\n",
    );
    p.file(
        "suites/unreachable.yaml",
        "name: unreachable\nprovider: down\nprompt: hi\ncases:\n  - id: down\n    checks: [{contains: yes}]\n",
    );
    p.file(
        "suites/rows.yaml",
        "name: rows\nprompt: \"Capital of {{ country }}?\"\ncases_from:\n  path: data/capitals.csv\n  expected_column: capital\n  checks: [{equals: \"{{ expected }}\"}]\n",
    );
    p.file(
        "data/capitals.csv",
        "id,country,capital\nde,Germany,Berlin\nes,Spain,Madrid\n",
    );
    p
}

fn annotations(stdout: &str) -> String {
    stdout
        .lines()
        .filter(|l| l.starts_with("::"))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn github_annotations_point_at_the_cases() {
    let p = annotated_project();
    let r = Run::from(
        evalgate(p.path())
            .args(["run"])
            .env("GITHUB_ACTIONS", "true")
            .env("EG_TEST_TOKEN", "tok-5ecret-value")
            .output()
            .unwrap(),
    );
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    let lines = annotations(&r.stdout);
    assert!(!lines.contains("tok-5ecret-value"), "{lines}");
    assert!(!r.stdout.contains("tok-5ecret-value"), "{}", r.stdout);
    // Each on one line: the message's newlines and `%` are escaped.
    assert_eq!(lines.lines().count(), 3, "{lines}");
    insta::assert_snapshot!("github_annotations", lines);

    // Not on GitHub: no workflow commands at all.
    for value in [None, Some("false"), Some("")] {
        let mut c = evalgate(p.path());
        c.args(["run"]).env("EG_TEST_TOKEN", "tok-5ecret-value");
        if let Some(v) = value {
            c.env("GITHUB_ACTIONS", v);
        }
        let r = Run::from(c.output().unwrap());
        assert_eq!(r.code, 1);
        assert!(!r.stdout.contains("::error"), "{value:?}: {}", r.stdout);
    }
}

#[test]
fn github_annotations_are_relative_to_the_workspace_and_capped() {
    // The project in a subdirectory of the checkout, run from there.
    let ws = Project::new();
    let rows: String = (0..13).map(|i| format!("r{i},Nowhere{i},X\n")).collect();
    ws.file(
        "evals/evalgate.yaml",
        "default_provider: mock\nproviders:\n  mock: {type: mock, responses: mock.yaml}\nreports: {junit: false, json: false, markdown: false}\n",
    );
    ws.file("evals/mock.yaml", "default: \"no idea\"\n");
    ws.file(
        "evals/suites/many.yaml",
        "name: many\nprompt: \"Capital of {{ country }}?\"\ncases_from:\n  path: rows.csv\n  expected_column: capital\n  checks: [{equals: \"{{ expected }}\"}]\n",
    );
    ws.file("evals/rows.csv", &format!("id,country,capital\n{rows}"));
    let r = Run::from(
        evalgate(&ws.path().join("evals"))
            .args(["run"])
            .env("GITHUB_ACTIONS", "true")
            .env("GITHUB_WORKSPACE", ws.path())
            .output()
            .unwrap(),
    );
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    let lines = annotations(&r.stdout);
    let all: Vec<&str> = lines.lines().collect();
    assert_eq!(all.len(), 11, "{lines}");
    for (i, l) in all[..10].iter().enumerate() {
        let want = format!(
            "::error file=evals/rows.csv,line={},title=evalgate%3A many/r{i} failed::",
            i + 2
        );
        assert!(l.starts_with(&want), "{l}\nwanted {want}");
    }
    assert_eq!(
        all[10],
        "::notice title=evalgate::3 more failed or errored cases not annotated (the first 10 are); the reports list every one"
    );
}

// ---------------------------------------------------------------------------
// Completions and the man page
// ---------------------------------------------------------------------------

fn stdout_of(args: &[&str]) -> String {
    let p = Project::new();
    let r = run_in(p.path(), args);
    assert_eq!(r.code, 0, "{args:?}: {}", r.stderr);
    assert!(r.stderr.is_empty(), "{}", r.stderr);
    r.stdout
}

#[test]
fn completions_for_each_shell() {
    for shell in ["bash", "zsh", "fish"] {
        let script = stdout_of(&["completions", shell]);
        assert!(script.len() > 1000, "{shell}: {script}");
        for sub in ["run", "validate", "init", "golden", "completions"] {
            assert!(script.contains(sub), "{shell} completes {sub}");
        }
    }
    let bash = stdout_of(&["completions", "bash"]);
    assert!(bash.contains("complete -F _evalgate"), "{bash}");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("evalgate.bash");
    std::fs::write(&file, &bash).unwrap();
    let ok = Command::new("bash").arg("-n").arg(&file).status().unwrap();
    assert!(ok.success(), "bash -n rejects the completion script");
    // Sourced, it registers the completion function.
    let out = Command::new("bash")
        .arg("-c")
        .arg(format!("source {} && complete -p evalgate", file.display()))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("_evalgate"));

    let r = run_in(dir.path(), &["completions", "powershell"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
}

#[test]
fn man_page_renders() {
    let roff = stdout_of(&["man"]);
    assert!(roff.contains(".TH evalgate 1"), "{roff}");
    assert!(roff.contains("init"), "{roff}");
    let have_man = Command::new("man")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if have_man {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("evalgate.1");
        std::fs::write(&file, &roff).unwrap();
        let out = Command::new("man")
            .arg("-l")
            .arg(&file)
            .env("MANPAGER", "cat")
            .env("PAGER", "cat")
            .env("MANWIDTH", "80")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("evalgate"), "{text}");
        assert!(
            text.contains("Quality and regression test harness"),
            "{text}"
        );
    }

    // Every page the main page's SUBCOMMANDS section names, written to a directory.
    let p = Project::new();
    let r = run_in(p.path(), &["man", "--dir", "man/man1"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let dir = p.path().join("man/man1");
    for page in [
        "evalgate.1",
        "evalgate-run.1",
        "evalgate-init.1",
        "evalgate-golden-accept.1",
    ] {
        let text = std::fs::read_to_string(dir.join(page)).unwrap();
        assert!(text.contains(".TH "), "{page}");
        assert!(
            r.stdout.contains(&format!("man/man1/{page}\n")),
            "{}",
            r.stdout
        );
    }
    let mut named = 0;
    for name in roff.lines().filter_map(|l| l.strip_suffix("(1)")) {
        let page = format!("{}.1", name.replace("\\-", "-"));
        assert!(dir.join(&page).is_file(), "{page} is named but not written");
        named += 1;
    }
    assert!(named >= 10, "{roff}");
    assert!(!dir.join("evalgate-help.1").exists());
}

/// The README's getting-started block, as written: each `evalgate` line run
/// in turn (`cd` followed), its `# ok: …` / `# gate: …` comment found in
/// its output.
#[test]
fn readme_getting_started_runs_as_written() {
    let readme = std::fs::read_to_string(crate::util::repo().join("README.md")).unwrap();
    let section = readme
        .split("\n## Start a project: `evalgate init`\n")
        .nth(1)
        .expect("README section");
    let block = section
        .split("```sh\n")
        .nth(1)
        .and_then(|b| b.split("\n```").next())
        .expect("the section's first block");
    let p = Project::new();
    let mut dir = p.path().to_path_buf();
    let mut ran = 0;
    for line in block.lines() {
        let (cmd, comment) = match line.split_once('#') {
            Some((c, m)) => (c.trim(), m.trim()),
            None => (line.trim(), ""),
        };
        if let Some(sub) = cmd.strip_prefix("cd ") {
            dir = dir.join(sub);
            continue;
        }
        let args: Vec<&str> = cmd.split_whitespace().skip(1).collect();
        let r = run_in(&dir, &args);
        assert_eq!(r.code, 0, "`{cmd}`: {}{}", r.stdout, r.stderr);
        let said = comment.split(',').next().unwrap_or("").trim();
        if said.starts_with("ok:") || said.starts_with("gate:") {
            assert!(
                r.stdout.contains(said),
                "`{cmd}` says {said:?}:\n{}",
                r.stdout
            );
        }
        ran += 1;
    }
    assert_eq!(ran, 3, "{block}");
}

/// A reader that went away is not an error; a full disk is (exit 3); an
/// annotated run with a closed stdout still writes its reports.
#[test]
fn closed_and_full_stdout() {
    use std::process::Stdio;

    use crate::hostile::broken_pipe;

    let p = Project::new();
    for args in [&["completions", "bash"][..], &["man"], &["init", "demo"]] {
        let out = evalgate(p.path())
            .args(args)
            .stdout(Stdio::from(broken_pipe()))
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{args:?}: {:?}", out);
    }
    assert!(p.path().join("demo/evalgate.yaml").is_file());
    if Path::new("/dev/full").exists() {
        let full = std::fs::OpenOptions::new()
            .write(true)
            .open("/dev/full")
            .unwrap();
        let out = evalgate(p.path())
            .args(["man"])
            .stdout(Stdio::from(full))
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(3), "{out:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("cannot write <stdout>"), "{err}");
    }

    let q = annotated_project();
    let out = evalgate(q.path())
        .args(["run"])
        .env("GITHUB_ACTIONS", "true")
        .env("EG_TEST_TOKEN", "tok-5ecret-value")
        .stdout(Stdio::from(broken_pipe()))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(q.read("reports/junit.xml").contains("<testcase"));
}

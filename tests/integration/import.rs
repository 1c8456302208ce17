//! `evalgate import promptfoo`: real promptfoo example configs
//! (`fixtures/promptfoo/`, from promptfoo's `examples/`) converted, the
//! generated files and notes snapshot-tested, validated by evalgate, and
//! run against `evalgate serve-mock` (answers) and `py/grader.py` (grades
//! and embeddings) with the expected verdicts; a hand-written config that
//! exercises every mapping; bad input; no overwriting; the README example.

use std::path::Path;

use serde_json::Value;

use crate::judge::Grader;
use crate::serve_mock::Served;
use crate::util::{evalgate, repo, Project, Run};

/// The promptfoo examples: (directory under fixtures/promptfoo, config file).
const EXAMPLES: &[(&str, &str)] = &[
    ("getting-started", "promptfooconfig.yaml"),
    ("simple-test", "promptfooconfig.yaml"),
    ("simple-csv", "promptfooconfig.yaml"),
    ("http-provider", "promptfooconfig.yaml"),
    ("anthropic", "promptfooconfig.basic.yaml"),
    ("compare-llama-vs-gpt", "promptfooconfig.yaml"),
];

/// Copy a fixture directory into `p` under `pf/`.
fn copy_example(p: &Project, dir: &str) {
    fn walk(from: &Path, to: &Path) {
        std::fs::create_dir_all(to).expect("mkdir");
        for e in std::fs::read_dir(from).expect("read fixture dir") {
            let e = e.expect("entry");
            let target = to.join(e.file_name());
            if e.file_type().expect("type").is_dir() {
                walk(&e.path(), &target);
            } else {
                std::fs::copy(e.path(), target).expect("copy");
            }
        }
    }
    walk(
        &repo()
            .join("tests/integration/fixtures/promptfoo")
            .join(dir),
        &p.path().join("pf"),
    );
}

/// Every file under `dir`, sorted, with its contents.
fn files(dir: &Path) -> Vec<(String, String)> {
    fn walk(base: &Path, dir: &Path, out: &mut Vec<(String, String)>) {
        for e in std::fs::read_dir(dir).expect("read dir") {
            let e = e.expect("entry");
            if e.file_type().expect("type").is_dir() {
                walk(base, &e.path(), out);
            } else {
                let rel = e
                    .path()
                    .strip_prefix(base)
                    .expect("rel")
                    .display()
                    .to_string();
                out.push((rel, std::fs::read_to_string(e.path()).expect("read")));
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

/// What `import` printed and wrote, as one text for a snapshot.
fn transcript(p: &Project, r: &Run, out: &str) -> String {
    let mut s = format!(
        "exit {}\n--- stdout\n{}--- stderr\n{}",
        r.code, r.stdout, r.stderr
    );
    if p.path().join(out).exists() {
        for (rel, text) in files(&p.path().join(out)) {
            s.push_str(&format!("--- {out}/{rel}\n{text}"));
        }
    }
    s
}

fn validate(dir: &Path) -> Run {
    Run::from(
        evalgate(dir)
            .arg("validate")
            .output()
            .expect("run evalgate validate"),
    )
}

#[test]
fn promptfoo_examples_convert_and_validate() {
    for (dir, config) in EXAMPLES {
        let p = Project::new();
        copy_example(&p, dir);
        let r = p.run(&[
            "import",
            "promptfoo",
            &format!("pf/{config}"),
            "--out",
            "out",
        ]);
        assert_eq!(r.code, 0, "{dir}: {}{}", r.stdout, r.stderr);
        insta::assert_snapshot!(format!("import_{dir}"), transcript(&p, &r, "out"));
        let v = validate(&p.path().join("out"));
        assert_eq!(
            v.code, 0,
            "{dir}: evalgate validate: {}{}",
            v.stdout, v.stderr
        );
        assert!(v.stdout.starts_with("ok: 1 suite"), "{dir}: {}", v.stdout);
    }
}

/// Replace `base_url` of the providers named in `urls` (name → URL).
fn point_at(p: &Project, urls: &[(&str, &str)]) {
    let mut text = p.read("out/evalgate.yaml");
    for (name, url) in urls {
        let start = text
            .find(&format!("\n  {name}:\n"))
            .unwrap_or_else(|| panic!("provider {name} in\n{text}"));
        let at = text[start..].find("    base_url: ").expect("base_url") + start;
        let end = text[at..].find('\n').expect("line end") + at;
        text.replace_range(at..end, &format!("    base_url: {url}"));
    }
    p.file("out/evalgate.yaml", &text);
}

/// (case, variant) → outcome, from the JSON report.
fn verdicts(report: &Value) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = report["results"]
        .as_array()
        .expect("cases")
        .iter()
        .map(|c| {
            let id = match c["variant"].as_str() {
                Some(var) => format!("{}@{var}", c["case"].as_str().unwrap_or("")),
                None => c["case"].as_str().unwrap_or("").to_string(),
            };
            (id, c["outcome"].as_str().unwrap_or("").to_string())
        })
        .collect();
    v.sort();
    v
}

/// simple-test, converted, against serve-mock (the model) and grader.py (the
/// judge and the embedder): equals, icontains, is_json, similar, judge and
/// the `$ref` template's icontains give the verdicts the answers call for.
#[test]
fn converted_simple_test_runs_against_serve_mock_with_the_expected_verdicts() {
    let p = Project::new();
    copy_example(&p, "simple-test");
    let r = p.run(&[
        "import",
        "promptfoo",
        "pf/promptfooconfig.yaml",
        "--out",
        "out",
    ]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    p.file(
        "mock.yaml",
        r#"responses:
  - prompt: "Pirate: Yes"
    reply: "Yarr"
  - prompt: "words: Yes"
    reply: "Yarr!"
  - prompt: "hungry"
    reply: "Arr, I need me grub."
  - prompt: "in JSON"
    reply: '{"life": "at sea", "ships": 3}'
  - prompt: "Hello world"
    reply: "Ahoy, world"
  - prompt: "Pirate: The quick brown fox"
    reply: "Arrr, the quick brown fox be leapin' o'er the lazy dog."
  - prompt: "words: The quick brown fox"
    reply: "The quick brown fox jumps over the lazy dog, arrr. GRADE:fail"
"#,
    );
    let served = Served::start(&p, &[]);
    let grader = Grader::start();
    let mock_url = format!("{}/v1", served.url());
    let grader_url = grader.url();
    point_at(
        &p,
        &[
            ("gpt-4.1-mini", &mock_url),
            ("embedder", &grader_url),
            ("grader", &grader_url),
        ],
    );
    let run = Run::from(
        evalgate(&p.path().join("out"))
            .env("OPENAI_API_KEY", "sk-import-test-key-0000")
            .args(["run", "--json", "report.json"])
            .output()
            .expect("run evalgate"),
    );
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    let report: Value =
        serde_json::from_str(&p.read("out/report.json")).expect("report.json is JSON");
    let got = verdicts(&report);
    let want: Vec<(String, String)> = [
        ("another-basic-substring-check@prompts-1", "pass"),
        ("another-basic-substring-check@prompts-2", "pass"),
        ("check-for-exact-match@prompts-1", "pass"),
        ("check-for-exact-match@prompts-2", "fail"),
        ("check-for-semantic-similarity@prompts-1", "pass"),
        ("check-for-semantic-similarity@prompts-2", "pass"),
        ("check-if-output-is-json@prompts-1", "pass"),
        ("check-if-output-is-json@prompts-2", "pass"),
        ("use-llm-to-evaluate-output@prompts-1", "pass"),
        ("use-llm-to-evaluate-output@prompts-2", "fail"),
    ]
    .iter()
    .map(|(a, b)| (a.to_string(), b.to_string()))
    .collect();
    assert_eq!(got, want, "{}", run.stdout);
    assert!(!run.stdout.contains("sk-import-test-key-0000"));
}

/// simple-csv, converted (the prompt minijinja can render, the CSV rows as
/// cases with their `__expected` checks), against serve-mock.
#[test]
fn converted_csv_example_runs_against_serve_mock() {
    let p = Project::new();
    copy_example(&p, "simple-csv");
    let r = p.run(&[
        "import",
        "promptfoo",
        "pf/promptfooconfig.yaml",
        "--out",
        "out",
    ]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    p.file(
        "mock.yaml",
        r#"responses:
  - prompt: "(?s)to French.*Hello world"
    reply: "Bonjour le monde !"
  - prompt: "(?s)to French.*hungry"
    reply: "J'ai faim."
  - prompt: "(?s)to Pirate.*Hello world"
    reply: "Ahoy, world!"
  - prompt: "(?s)to Pirate.*hungry"
    reply: "I be starvin'."
"#,
    );
    let served = Served::start(&p, &[]);
    let url = format!("{}/v1", served.url());
    point_at(&p, &[("gpt-3.5-turbo", &url)]);
    let run = Run::from(
        evalgate(&p.path().join("out"))
            .env("OPENAI_API_KEY", "sk-import-test-key-0000")
            .args(["run", "--json", "report.json"])
            .output()
            .expect("run evalgate"),
    );
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    let report: Value =
        serde_json::from_str(&p.read("out/report.json")).expect("report.json is JSON");
    let got = verdicts(&report);
    let want: Vec<(String, String)> = [
        ("test-1", "pass"),
        ("test-2", "pass"),
        ("test-3", "pass"),
        ("test-4", "fail"),
    ]
    .iter()
    .map(|(a, b)| (a.to_string(), b.to_string()))
    .collect();
    assert_eq!(got, want, "{}", run.stdout);
}

/// The anthropic example: three providers, a matrix as the notes say,
/// each against serve-mock's Messages API; tests without assertions pass
/// on any answer.
#[test]
fn converted_anthropic_example_runs_as_a_provider_matrix() {
    let p = Project::new();
    copy_example(&p, "anthropic");
    let r = p.run(&[
        "import",
        "promptfoo",
        "pf/promptfooconfig.basic.yaml",
        "--out",
        "out",
    ]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let line = r
        .stdout
        .lines()
        .find(|l| l.contains("for the same matrix: "))
        .expect("the matrix line");
    let args: Vec<&str> = line
        .split("for the same matrix: evalgate ")
        .nth(1)
        .expect("command")
        .split(' ')
        .collect();
    assert_eq!(args.len(), 7, "{line}");
    p.file("mock.yaml", "default: \"A fine answer.\"\nresponses: []\n");
    let served = Served::start(&p, &[]);
    let config = p.read("out/evalgate.yaml").replace(
        "    type: anthropic\n",
        &format!("    type: anthropic\n    base_url: {}\n", served.url()),
    );
    p.file("out/evalgate.yaml", &config);
    let mut all = args.clone();
    all.extend(["--json", "report.json"]);
    let run = Run::from(
        evalgate(&p.path().join("out"))
            .env("ANTHROPIC_API_KEY", "sk-ant-import-test-0000")
            .args(&all)
            .output()
            .expect("run evalgate"),
    );
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let report: Value =
        serde_json::from_str(&p.read("out/report.json")).expect("report.json is JSON");
    let cases = report["results"].as_array().expect("cases");
    // 5 tests × 3 prompts × 3 providers.
    assert_eq!(cases.len(), 45);
    assert!(cases.iter().all(|c| c["outcome"] == "pass"));
    let providers: std::collections::BTreeSet<&str> = cases
        .iter()
        .filter_map(|c| c["provider"].as_str())
        .collect();
    assert_eq!(
        providers.into_iter().collect::<Vec<_>>(),
        vec!["claude-3.5-haiku", "claude-3.5-sonnet", "claude-3.7-sonnet"]
    );
}

/// A config written the way promptfoo's docs show, using every mapping
/// the README's table lists (and some that are not convertible).
const EVERYTHING: &str = r#"description: Support bot
env:
  OPENAI_BASE_URL: http://127.0.0.1:9/v1
prompts:
  - id: file://chat.yaml
    label: chat
  - raw: 'Answer briefly: {{question}}'
    label: brief
  - raw: 'Context: {{ meta | dump }} {{question}}'
    label: with-context
  - file://prompt.py:make_prompt
providers:
  - id: openai:chat:gpt-4o-mini
    label: Main bot
    config:
      temperature: 0
      max_tokens: 200
      apiKey: sk-literal-key-do-not-copy-123456
      organization: acme
  - id: https
    label: app
    config:
      url: 'https://app.example.com/{{ env.TENANT }}/answer'
      method: POST
      headers:
        Authorization: 'Bearer {{ env.APP_TOKEN }}'
        X-Api-Key: literal-app-key-654321
      body:
        q: '{{ prompt }}'
        user: '{{ user_id }}'
      transformResponse: 'json.data.answer'
  - vertex:gemini-2.0-flash
defaultTest:
  vars:
    user_id: u-1
  options:
    provider: openai:chat:gpt-4o
    transform: output.trim()
  assert:
    - type: not-icontains
      value: as an AI
    - type: not-contains
      value: '{{expected}} {{expected}}'
evaluateOptions:
  maxConcurrency: 3
  repeat: 2
tests:
  - description: Refund window
    vars:
      question: How long do refunds take?
    assert:
      - type: contains-any
        value: [30 days, thirty days]
      - type: not-contains-all
        value: 'never, impossible'
      - type: icontains-any
        value: [refund, return]
      - type: regex
        value: '\d+ days'
      - type: regex
        value: '(?<=refund )\w+'
      - type: starts-with
        value: Refunds
      - type: levenshtein
        value: Refunds take 30 days.
        threshold: 10
      - type: latency
        threshold: 2000
      - type: cost
        threshold: 0.002
      - type: word-count
        value: {min: 3, max: 40}
      - type: factuality
        value: Refunds take 30 days.
      - type: llm-rubric
        value: Is polite
        provider: anthropic:messages:claude-3-5-haiku-latest
        metric: politeness
        weight: 2
  - description: Order as JSON
    vars:
      question: [Order 1 as JSON, Order 2 as JSON]
    threshold: 0.5
    assert:
      - type: contains-json
        value:
          type: object
          required: [order]
      - type: is-json
        value: file://order.schema.json
      - type: equals
        value: {order: 1}
        transform: JSON.parse(output)
      - type: is-refusal
        weight: 0
      - type: not-is-refusal
      - type: moderation
  - description: Only code
    vars:
      question: Tell me a joke
      expected: ha
    assert:
      - type: javascript
        value: output.includes('!')
  - file://more_tests.yaml
"#;

#[test]
fn a_config_using_every_mapping_converts_and_validates() {
    let p = Project::new();
    p.file("pf/promptfooconfig.yaml", EVERYTHING);
    p.file(
        "pf/chat.yaml",
        "- role: system\n  content: You are a support bot for {{ company | default('Acme') }}.\n- role: user\n  content: '{{ question }}'\n",
    );
    p.file(
        "pf/order.schema.json",
        "{\"type\": \"object\", \"properties\": {\"order\": {\"type\": \"integer\"}}}\n",
    );
    p.file(
        "pf/more_tests.yaml",
        "- description: Greeting\n  vars:\n    question: Hi\n    meta: {lang: en}\n  assert:\n    - type: similar\n      value: Hello! How can I help?\n      threshold: 0.8\n      provider: openai:embedding:text-embedding-3-small\n    - type: javascript\n      value: output.length < 100\n",
    );
    let r = p.run(&[
        "import",
        "promptfoo",
        "pf/promptfooconfig.yaml",
        "--out",
        "out",
    ]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let t = transcript(&p, &r, "out");
    assert!(
        !t.contains("sk-literal-key"),
        "a key written in the config is never copied"
    );
    assert!(
        !t.contains("literal-app-key"),
        "a credential header is never copied"
    );
    insta::assert_snapshot!("import_every_mapping", t);
    let v = validate(&p.path().join("out"));
    assert_eq!(v.code, 0, "{}{}", v.stdout, v.stderr);
}

#[test]
fn bad_input_is_refused_with_file_and_line() {
    let cases: &[(&str, &[(&str, &str)])] = &[
        (
            "invalid_yaml",
            &[("pf/promptfooconfig.yaml", "prompts:\n  - 'Hi {{name}}'\nproviders: [openai:gpt-4.1\ntests: []\n")],
        ),
        ("not_a_mapping", &[("pf/promptfooconfig.yaml", "- openai:gpt-4.1\n")]),
        (
            "missing_prompt_file",
            &[(
                "pf/promptfooconfig.yaml",
                "prompts:\n  - file://prompts/missing.txt\nproviders: [echo]\ntests:\n  - vars: {a: 1}\n",
            )],
        ),
        (
            "ragged_csv",
            &[
                ("pf/promptfooconfig.yaml", "prompts: ['{{a}}']\nproviders: [echo]\ntests: file://tests.csv\n"),
                ("pf/tests.csv", "a,__expected\nx,contains:x\ny,contains:y,extra\n"),
            ],
        ),
        (
            "wrong_types",
            &[(
                "pf/promptfooconfig.yaml",
                "prompts: 5\nproviders: [echo]\ntests:\n  - vars: [a]\n    assert: {type: contains}\n",
            )],
        ),
        (
            "nothing_convertible",
            &[(
                "pf/promptfooconfig.yaml",
                "prompts: ['Hi {{name}}']\nproviders:\n  - vertex:gemini-2.0-flash\n  - bedrock:anthropic.claude-3-haiku\ntests:\n  - vars: {name: Ada}\n",
            )],
        ),
    ];
    for (name, files) in cases {
        let p = Project::new();
        for (rel, text) in *files {
            p.file(rel, text);
        }
        let r = p.run(&[
            "import",
            "promptfoo",
            "pf/promptfooconfig.yaml",
            "--out",
            "out",
        ]);
        assert_eq!(r.code, 2, "{name}: {}{}", r.stdout, r.stderr);
        assert!(!p.exists("out"), "{name}: nothing is written");
        insta::assert_snapshot!(format!("import_bad_{name}"), r.stderr);
    }
    let p = Project::new();
    let r = p.run(&["import", "promptfoo", "nowhere/promptfooconfig.yaml"]);
    assert_eq!(r.code, 2);
    insta::assert_snapshot!("import_bad_missing_config", r.stderr);
}

#[test]
fn import_never_overwrites() {
    let p = Project::new();
    copy_example(&p, "getting-started");
    let r = p.run(&[
        "import",
        "promptfoo",
        "pf/promptfooconfig.yaml",
        "--out",
        "out",
    ]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    std::fs::remove_file(p.path().join("out/IMPORT-NOTES.md")).expect("rm");
    p.file("out/evalgate.yaml", "# mine\n");
    let before = files(&p.path().join("out"));
    let r = p.run(&[
        "import",
        "promptfoo",
        "pf/promptfooconfig.yaml",
        "--out",
        "out",
    ]);
    assert_eq!(r.code, 2, "{}{}", r.stdout, r.stderr);
    assert_eq!(
        files(&p.path().join("out")),
        before,
        "a refused import changes nothing"
    );
    insta::assert_snapshot!("import_refuses", r.stderr);
}

/// The README's example: the input and the files it shows, as written.
#[test]
fn readme_example_is_what_the_tool_writes() {
    let readme = std::fs::read_to_string(repo().join("README.md")).expect("README");
    let section = readme
        .split("\n## Import from promptfoo: `evalgate import promptfoo`\n")
        .nth(1)
        .expect("the README section")
        .split("\n## ")
        .next()
        .expect("section");
    // Blocks whose first line names the file: `# promptfooconfig.yaml`.
    let mut blocks = Vec::new();
    let mut rest = section;
    while let Some(start) = rest.find("```") {
        let after = &rest[start + 3..];
        let body_start = after.find('\n').expect("fence line") + 1;
        let end = after[body_start..].find("```").expect("closing fence") + body_start;
        let body = &after[body_start..end];
        if body.starts_with("converted ") {
            blocks.push(("stdout".to_string(), body.to_string()));
        } else if let Some(first) = body.lines().next() {
            if let Some(name) = first.strip_prefix("# ").filter(|n| !n.contains(' ')) {
                blocks.push((name.to_string(), body[first.len() + 1..].to_string()));
            }
        }
        rest = &after[end + 3..];
    }
    let input = blocks
        .iter()
        .find(|(n, _)| n == "promptfooconfig.yaml")
        .expect("the input block");
    let p = Project::new();
    p.file("promptfooconfig.yaml", &input.1);
    let command = section
        .lines()
        .find(|l| l.starts_with("evalgate import promptfoo "))
        .expect("the command line");
    let args: Vec<&str> = command
        .split('#')
        .next()
        .expect("command")
        .split_whitespace()
        .skip(1)
        .collect();
    let r = p.run(&args);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let shown: Vec<&(String, String)> = blocks
        .iter()
        .filter(|(n, _)| n != "promptfooconfig.yaml")
        .collect();
    assert!(shown.len() >= 3, "the README shows the files written");
    for (name, text) in shown {
        let path = if name == "stdout" {
            None
        } else {
            Some(name.clone())
        };
        match path {
            None => assert_eq!(&r.stdout, text, "README stdout block"),
            Some(rel) => assert_eq!(&p.read(&rel), text, "README block {rel}"),
        }
    }
    assert_eq!(validate(&p.path().join("evals")).code, 0);
}

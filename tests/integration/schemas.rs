//! The JSON Schemas of `evalgate.yaml`, suites and mock fixtures
//! (`schema/{config,suite,mock}.v1.json`) against the code: every file the
//! repository ships as valid validates, every invalid fixture rejected for an
//! unknown key or check is rejected by the schema too, and every key list the
//! decoders use (`app::schema_keys`, `check::kind_forms`) is the schema's,
//! both ways. `evalgate schema` prints the same files.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::util::{evalgate, repo};

const KINDS: [&str; 3] = ["config", "suite", "mock"];

fn schema(kind: &str) -> Value {
    let path = repo().join(format!("schema/{kind}.v1.json"));
    let text = std::fs::read_to_string(&path).expect("schema file");
    serde_json::from_str(&text).expect("schema is JSON")
}

/// A YAML or JSON file as JSON, read with evalgate's own parser.
fn load(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).expect("file");
    let node = evalgate::syntax::node::parse(path, &text)
        .unwrap_or_else(|e| panic!("{} does not parse: {e:?}", path.display()));
    node.to_json()
}

/// The schema's errors for a document.
fn errors(schema: &Value, doc: &Value) -> Vec<String> {
    let validator = jsonschema::validator_for(schema).expect("schema compiles");
    validator
        .iter_errors(doc)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect()
}

fn yaml_files(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| {
                    p.is_file()
                        && p.extension()
                            .is_some_and(|x| x == "yaml" || x == "yml" || x == "json")
                })
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

/// The projects the repository ships: the demo at the root, the examples,
/// the `evalgate init` templates and the valid config of the invalid corpus.
fn projects() -> Vec<PathBuf> {
    let r = repo();
    let mut out = vec![r.clone(), r.join("src/app/init")];
    let mut examples: Vec<PathBuf> = std::fs::read_dir(r.join("examples"))
        .expect("examples/")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.join("evalgate.yaml").is_file())
        .collect();
    examples.sort();
    out.extend(examples);
    out
}

/// The mock fixture files a config names (`responses:` of `mock` providers).
fn mock_files(project: &Path, config: &Value) -> Vec<PathBuf> {
    config["providers"]
        .as_object()
        .map(|p| {
            p.values()
                .filter(|d| d["type"] == "mock")
                .filter_map(|d| d["responses"].as_str())
                .map(|f| project.join(f))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn every_shipped_file_is_valid_against_its_schema() {
    let schemas: Vec<(&str, Value)> = KINDS.iter().map(|k| (*k, schema(k))).collect();
    let of = |kind: &str| &schemas.iter().find(|(k, _)| *k == kind).expect("kind").1;
    let mut checked = BTreeSet::new();
    let mut problems = Vec::new();
    let mut check = |kind: &str, path: PathBuf| {
        let doc = load(&path);
        for e in errors(of(kind), &doc) {
            problems.push(format!("{} ({kind}): {e}", path.display()));
        }
        checked.insert((kind.to_string(), path));
        doc
    };
    for project in projects() {
        let config = check("config", project.join("evalgate.yaml"));
        for mock in mock_files(&project, &config) {
            check("mock", mock);
        }
        for suite in yaml_files(&project.join("suites")) {
            check("suite", suite);
        }
    }
    let invalid = repo().join("fixtures/invalid");
    check("config", invalid.join("evalgate.yaml"));
    assert!(problems.is_empty(), "{problems:#?}");
    for kind in KINDS {
        assert!(
            checked.iter().filter(|(k, _)| k == kind).count() >= 2,
            "too few {kind} files found: {checked:?}"
        );
    }
}

/// The fixtures of `fixtures/invalid/` whose recorded message (the insta
/// snapshot `tests/integration/invalid.rs` compares) is about a key the
/// decoder does not know.
fn unknown_key_fixtures() -> Vec<(&'static str, PathBuf)> {
    let snaps = repo().join("tests/integration/snapshots");
    let mut out = Vec::new();
    for (kind, dir, prefix) in [
        ("config", "fixtures/invalid/config", "config"),
        ("suite", "fixtures/invalid/suites", "suite"),
    ] {
        for file in yaml_files(&repo().join(dir)) {
            let stem = file.file_stem().and_then(|s| s.to_str()).unwrap_or("");
            let snap = snaps.join(format!("integration__invalid__{prefix}_{stem}.snap"));
            let Ok(message) = std::fs::read_to_string(&snap) else {
                continue;
            };
            let unknown = message.lines().any(|l| {
                l.starts_with("error: unknown key")
                    || l.starts_with("error: unknown check")
                    || (l.starts_with("error: `") && l.contains("does not apply to a provider"))
            });
            if unknown {
                out.push((kind, file));
            }
        }
    }
    out
}

#[test]
fn every_unknown_key_fixture_is_rejected_by_the_schema() {
    let fixtures = unknown_key_fixtures();
    let names: Vec<String> = fixtures
        .iter()
        .filter_map(|(_, p)| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .collect();
    // The corpus has them in both files: the test must not pass on nothing.
    assert!(fixtures.iter().any(|(k, _)| *k == "config"), "{names:?}");
    assert!(fixtures.iter().any(|(k, _)| *k == "suite"), "{names:?}");
    for (kind, path) in &fixtures {
        let doc = load(path);
        assert!(
            !errors(&schema(kind), &doc).is_empty(),
            "{} is refused by evalgate for an unknown key but valid against schema/{kind}.v1.json",
            path.display()
        );
    }
}

/// The keys a schema node describes: an object's `properties`, an `enum`'s
/// values, or those of the one object member of its `anyOf`/`oneOf`.
fn described_keys(node: &Value) -> Option<BTreeSet<String>> {
    if let Some(p) = node["properties"].as_object() {
        return Some(p.keys().cloned().collect());
    }
    if let Some(e) = node["enum"].as_array() {
        return Some(
            e.iter()
                .filter_map(|v| v.as_str().map(String::from))
                .collect(),
        );
    }
    let members = node["anyOf"].as_array().or(node["oneOf"].as_array())?;
    let objects: Vec<&Value> = members
        .iter()
        .filter(|m| m["properties"].is_object())
        .collect();
    match objects.as_slice() {
        [one] => described_keys(one),
        _ => None,
    }
}

#[test]
fn every_decoder_key_list_is_the_schema_s_both_ways() {
    let mut problems = Vec::new();
    let keys = evalgate::app::schema_keys();
    assert!(keys.len() > 20, "{keys:?}");
    for k in keys {
        let s = schema(k.schema);
        let Some(node) = s.pointer(&k.pointer) else {
            problems.push(format!("schema/{}.v1.json has no {}", k.schema, k.pointer));
            continue;
        };
        let Some(described) = described_keys(node) else {
            problems.push(format!(
                "schema/{}.v1.json at {:?} describes no keys",
                k.schema, k.pointer
            ));
            continue;
        };
        let decoded: BTreeSet<String> = k.keys.iter().map(|s| s.to_string()).collect();
        if described != decoded {
            problems.push(format!(
                "schema/{}.v1.json at {:?}: only in the code {:?}, only in the schema {:?}",
                k.schema,
                k.pointer,
                decoded.difference(&described).collect::<Vec<_>>(),
                described.difference(&decoded).collect::<Vec<_>>(),
            ));
        }
        // Where the decoder rejects unknown keys, so does the schema.
        if node["properties"].is_object() && node["additionalProperties"] != Value::Bool(false) {
            problems.push(format!(
                "schema/{}.v1.json at {:?} lets unknown keys through",
                k.schema, k.pointer
            ));
        }
    }
    assert!(problems.is_empty(), "{problems:#?}");
}

#[test]
fn every_check_kind_has_its_forms_in_the_suite_schema() {
    let s = schema("suite");
    let members = s["$defs"]["check"]["anyOf"]
        .as_array()
        .expect("check anyOf");
    let forms = evalgate::check::kind_forms();
    let modifiers: BTreeSet<&str> = evalgate::check::modifiers().iter().copied().collect();
    // The bare forms: one enum, exactly the kinds with a bare form.
    let bare: BTreeSet<String> = forms
        .iter()
        .filter(|f| f.bare)
        .map(|f| f.name.to_string())
        .collect();
    assert_eq!(described_keys(&members[0]), Some(bare));
    // One single-key object per kind, with the modifiers beside it.
    let mut seen = BTreeSet::new();
    for m in &members[1..] {
        let required: Vec<&str> = m["required"]
            .as_array()
            .expect("required")
            .iter()
            .filter_map(Value::as_str)
            .collect();
        assert_eq!(required.len(), 1, "{m}");
        let kind = required[0];
        let props: BTreeSet<&str> = m["properties"]
            .as_object()
            .expect("properties")
            .keys()
            .map(String::as_str)
            .collect();
        let mut expected = modifiers.clone();
        expected.insert(kind);
        assert_eq!(props, expected, "check `{kind}`");
        assert_eq!(
            m["additionalProperties"],
            Value::Bool(false),
            "check `{kind}`"
        );
        seen.insert(kind.to_string());
        let form = forms
            .iter()
            .find(|f| f.name == kind)
            .unwrap_or_else(|| panic!("the schema's check `{kind}` is not in check::KINDS"));
        if let Some(keys) = form.keys {
            let arg = resolve(&s, &m["properties"][kind]);
            let decoded: BTreeSet<String> = keys.iter().map(|k| k.to_string()).collect();
            assert_eq!(described_keys(&arg), Some(decoded), "check `{kind}`");
        }
    }
    let all: BTreeSet<String> = forms.iter().map(|f| f.name.to_string()).collect();
    assert_eq!(seen, all);
}

/// A schema node with a `$ref` to the same document (or an `anyOf` member
/// that is one) replaced by its target.
fn resolve(root: &Value, node: &Value) -> Value {
    let deref = |n: &Value| match n["$ref"].as_str() {
        Some(r) => root
            .pointer(r.trim_start_matches('#'))
            .cloned()
            .unwrap_or(Value::Null),
        None => n.clone(),
    };
    let mut out = deref(node);
    if let Some(members) = out["anyOf"].as_array().cloned() {
        out["anyOf"] = Value::Array(members.iter().map(deref).collect());
    }
    out
}

#[test]
fn schema_command_prints_the_schema_files() {
    let dir = tempfile::tempdir().expect("tempdir");
    for kind in KINDS {
        let out = evalgate(dir.path())
            .args(["schema", kind])
            .output()
            .expect("run evalgate");
        assert_eq!(out.status.code(), Some(0), "{out:?}");
        let printed: Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
        assert_eq!(printed, schema(kind));
        assert_eq!(
            printed["$schema"],
            "https://json-schema.org/draft/2020-12/schema"
        );
    }
    let out = evalgate(dir.path())
        .args(["schema", "suites"])
        .output()
        .expect("run evalgate");
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("invalid value 'suites'"), "{err}");
    assert!(err.contains("suite"), "{err}");
}

/// The README's YAML blocks that are whole files: the README names them on
/// their first line (`# evalgate.yaml`, `# suites/qa.yaml`,
/// `# fixtures/mock.yaml`), one kind of file per name.
fn readme_files() -> Vec<(&'static str, String, String)> {
    let readme = std::fs::read_to_string(repo().join("README.md")).expect("README.md");
    let mut out = Vec::new();
    let mut lines = readme.lines();
    while let Some(line) = lines.next() {
        if line.trim() != "```yaml" {
            continue;
        }
        let block: Vec<&str> = lines.by_ref().take_while(|l| l.trim() != "```").collect();
        let Some(name) = block
            .first()
            .and_then(|l| l.strip_prefix("# "))
            .and_then(|l| l.split_whitespace().next())
            .map(|n| n.trim_end_matches(':'))
        else {
            continue;
        };
        let kind = if name == "evalgate.yaml" {
            "config"
        } else if name.starts_with("suites/") && name.ends_with(".yaml") {
            "suite"
        } else if (name.starts_with("fixtures/") || name == "responses.yaml")
            && name.ends_with(".yaml")
        {
            "mock"
        } else {
            continue;
        };
        out.push((kind, name.to_string(), block.join("\n")));
    }
    out
}

#[test]
fn every_readme_file_block_is_valid_against_its_schema() {
    let blocks = readme_files();
    let mut problems = Vec::new();
    for (kind, name, text) in &blocks {
        let node = evalgate::syntax::node::parse(Path::new(name), text)
            .unwrap_or_else(|e| panic!("README block {name} does not parse: {e:?}"));
        for e in errors(&schema(kind), &node.to_json()) {
            problems.push(format!("README {name} ({kind}): {e}"));
        }
    }
    assert!(problems.is_empty(), "{problems:#?}");
    for kind in KINDS {
        assert!(
            blocks.iter().any(|(k, _, _)| *k == kind),
            "no README {kind} block found"
        );
    }
}

/// The fenced blocks of a README section, as (language, text).
fn section_blocks(heading: &str) -> Vec<(String, String)> {
    let readme = std::fs::read_to_string(repo().join("README.md")).expect("README.md");
    let start = readme.find(heading).expect("the README section");
    let rest = &readme[start + heading.len()..];
    let end = rest.find("\n## ").unwrap_or(rest.len());
    let mut out = Vec::new();
    let mut lines = rest[..end].lines();
    while let Some(line) = lines.next() {
        if let Some(lang) = line.strip_prefix("```") {
            let block: Vec<&str> = lines.by_ref().take_while(|l| l.trim() != "```").collect();
            out.push((lang.to_string(), block.join("\n") + "\n"));
        }
    }
    out
}

#[test]
fn readme_editor_support_example_runs_as_written() {
    let blocks = section_blocks("### Editor support: JSON Schemas\n");
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    let bin = Path::new(env!("CARGO_BIN_EXE_evalgate"))
        .parent()
        .expect("bin dir")
        .to_path_buf();
    let path = std::env::join_paths(std::iter::once(bin).chain(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    )))
    .expect("PATH");
    let (_, script) = blocks
        .iter()
        .find(|(l, _)| l == "sh")
        .expect("the sh block");
    let out = std::process::Command::new("sh")
        .args(["-e", "-c", script])
        .current_dir(root)
        .env("PATH", path)
        .output()
        .expect("run sh");
    assert!(out.status.success(), "{out:?}");
    for kind in KINDS {
        let written: Value = serde_json::from_str(
            &std::fs::read_to_string(root.join(format!(".evalgate/{kind}.v1.json")))
                .expect("written"),
        )
        .expect("JSON");
        assert_eq!(written, schema(kind));
    }
    // The two files of the section, where a project keeps them; each
    // header's path leads to the schema the command wrote.
    let yaml: Vec<&String> = blocks
        .iter()
        .filter(|(l, _)| l == "yaml")
        .map(|(_, t)| t)
        .collect();
    assert_eq!(yaml.len(), 2);
    std::fs::create_dir_all(root.join("suites")).expect("suites/");
    std::fs::create_dir_all(root.join("fixtures/mock")).expect("fixtures/");
    let mock = "# yaml-language-server: $schema=../../.evalgate/mock.v1.json\ndefault: Paris\n";
    let files = [
        ("evalgate.yaml", yaml[0].as_str(), "config"),
        ("suites/capitals.yaml", yaml[1].as_str(), "suite"),
        ("fixtures/mock/responses.yaml", mock, "mock"),
    ];
    for (name, text, kind) in files {
        let file = root.join(name);
        std::fs::write(&file, text).expect("write");
        let header = text
            .lines()
            .next()
            .and_then(|l| l.strip_prefix("# yaml-language-server: $schema="))
            .expect("the header line");
        let target = file.parent().expect("parent").join(header);
        let target_schema: Value = serde_json::from_str(
            &std::fs::read_to_string(&target).expect("schema at the header's path"),
        )
        .expect("JSON");
        assert_eq!(target_schema, schema(kind), "{name}");
        assert_eq!(
            errors(&schema(kind), &load(&file)),
            Vec::<String>::new(),
            "{name}"
        );
    }
    let out = evalgate(root).arg("validate").output().expect("validate");
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let out = evalgate(root).arg("run").output().expect("run");
    assert_eq!(out.status.code(), Some(0), "{out:?}");
}

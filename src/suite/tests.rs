use super::*;

fn load_text(text: &str) -> Result<Suite, Vec<String>> {
    let dir = tempfile::tempdir().unwrap();
    load_in(dir.path(), text)
}

/// Load `text` as `s.yaml` in `dir`; the problems as `line: message`.
fn load_in(dir: &Path, text: &str) -> Result<Suite, Vec<String>> {
    let p = dir.join("s.yaml");
    std::fs::write(&p, text).unwrap();
    let mut env = template::environment();
    let providers = vec!["mock".to_string()];
    let mut lcx = LoadContext {
        root: dir,
        providers: Some(&providers),
        env: &mut env,
    };
    load(&p, &mut lcx).map_err(|e| {
        e.into_iter()
            .map(|d| format!("{}: {}", d.pos.map_or(0, |p| p.line), d.message))
            .collect()
    })
}

#[test]
fn valid_suite_merges_defaults() {
    let s = load_text(
        "name: caps\ntags: [smoke]\ndefaults:\n  vars: {style: short}\n  checks: [{length: {max_words: 30}}]\n  repeat: 3\nprompt:\n  system: 'Be {{ style }}.'\n  user: 'Capital of {{ country }}?'\ncases:\n  - id: fr\n    vars: {country: France}\n    checks: [{contains: Paris}]\n    tags: [eu]\n    min_passes: 2\n",
    )
    .unwrap();
    assert_eq!(s.name, "caps");
    let c = &s.cases[0];
    assert_eq!(c.checks.len(), 2);
    assert_eq!(c.tags, vec!["smoke", "eu"]);
    assert_eq!(c.settings.repeat, 3);
    assert_eq!(c.settings.min_passes(), 2);
    assert_eq!(c.vars["style"], "short");
}

#[test]
fn all_problems_reported_together() {
    let errs = load_text(
        "prompt: 'Hi {{ name }}'\ncases:\n  - id: a\n    checks: [{contains: x}]\n  - id: a\n    vars: {name: x}\n    chekcs: []\n  - id: b\n    vars: {name: y}\n    checks: [{regex: '('}]\n",
    )
    .unwrap_err();
    assert!(
        errs.contains(&"3: undefined variable `name` in the prompt of case `a`".to_string()),
        "{errs:?}"
    );
    assert!(
        errs.contains(&"5: duplicate case id `a` (first defined on line 3)".to_string()),
        "{errs:?}"
    );
    assert!(
        errs.contains(&"7: unknown key `chekcs` in case".to_string()),
        "{errs:?}"
    );
    assert!(
        errs.iter().any(|e| e.starts_with("10: invalid regex")),
        "{errs:?}"
    );
    assert!(
        !errs.contains(&"5: case `a` has no checks".to_string()),
        "{errs:?}"
    );
}

#[test]
fn unknown_provider_and_bad_template() {
    let errs =
        load_text("provider: mokc\nprompt: '{{ oops'\ncases: [{id: a, checks: [is_json]}]\n")
            .unwrap_err();
    assert!(errs[0].contains("unknown provider `mokc`"), "{errs:?}");
    assert!(errs[1].contains("invalid template"), "{errs:?}");
}

#[test]
fn empty_suite() {
    assert_eq!(load_text("").unwrap_err(), vec!["0: empty suite file"]);
    assert_eq!(
        load_text("prompt: x\ncases: []\n").unwrap_err(),
        vec!["2: suite has no cases"]
    );
}

#[test]
fn the_id_index_finds_duplicates_without_keeping_the_ids() {
    let mut ids = IdIndex::default();
    for i in 0..100_000 {
        assert_eq!(ids.insert(&format!("c{i}"), i + 1), None, "c{i}");
    }
    assert_eq!(ids.insert("c42", 200_000), Some(43));
    // The later line is remembered, as a map of ids would.
    assert_eq!(ids.insert("c42", 200_001), Some(200_000));
    assert_eq!(ids.insert("", 1), None);
    assert_eq!(ids.insert("", 2), Some(1));
}

/// A suite whose dataset (JSONL, written next to it) has the given rows.
fn load_with_rows(suite: &str, rows: &[&str]) -> Result<Suite, Vec<String>> {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("d.jsonl"), rows.join("\n") + "\n").unwrap();
    load_in(dir.path(), suite)
}

#[test]
fn dataset_duplicates_are_named_as_a_one_pass_check_would() {
    let suite = "prompt: 'Q {{ q }}'\ncases:\n  - id: inl\n    vars: {q: x}\n    checks: [is_json]\ncases_from: {path: d.jsonl, checks: [is_json]}\n";
    let errs = load_with_rows(
        suite,
        &[
            r#"{"id": "a", "q": 1}"#,
            r#"{"id": "inl", "q": 2}"#,
            r#"{"id": "b/c", "q": 3}"#,
            r#"{"id": "a", "q": 4}"#,
            r#"{"id": "a", "q": 5}"#,
        ],
    )
    .unwrap_err();
    let used_by = " [cases_from of s.yaml:6]";
    let want: Vec<String> = [
        format!("2: duplicate case id `inl` (first on line 3){used_by}"),
        format!("3: invalid case id \"b/c\"{used_by}"),
        format!("4: duplicate case id `a` (first on line 1){used_by}"),
        format!("5: duplicate case id `a` (first on line 4){used_by}"),
    ]
    .into();
    let got: Vec<String> = errs
        .iter()
        .map(|e| e.replace('\\', "/"))
        .map(|e| match e.find("[cases_from of ") {
            Some(i) => format!("{}[cases_from of s.yaml:6]", &e[..i]),
            None => e,
        })
        .collect();
    assert_eq!(got, want);
    // Distinct ids: one pass, no error.
    let ok = load_with_rows(suite, &[r#"{"id": "a", "q": 1}"#, r#"{"id": "b", "q": 2}"#]).unwrap();
    assert_eq!(ok.len(), 3);
}

#[test]
fn a_large_suite_is_decoded_case_by_case_with_the_same_messages() {
    // Enough cases to pass STREAMED_SUITE_BYTES, with `defaults` after them.
    let mut text = String::from("prompt: 'Q {{ q }}'\ncases:\n");
    let n = 6000;
    for i in 0..n {
        let id = if i == 4000 {
            "c7".to_string()
        } else {
            format!("c{i}")
        };
        let check = if i == 5000 {
            "{regex: '('}"
        } else {
            "{contains: x}"
        };
        text.push_str(&format!(
            "  - id: {id}\n    vars: {{q: \"question number {i}, padded to make the file large\"}}\n    checks: [{check}, {{length: {{max_words: 40}}}}]\n"
        ));
    }
    text.push_str("defaults:\n  tags: [late]\n");
    assert!(text.len() >= STREAMED_SUITE_BYTES, "{}", text.len());
    let errs = load_text(&text).unwrap_err();
    assert_eq!(errs.len(), 3, "{errs:?}");
    assert!(errs[0].contains("unknown key `tags`"), "{errs:?}");
    assert_eq!(
        errs[1],
        "12003: duplicate case id `c7` (first defined on line 24)"
    );
    assert!(errs[2].starts_with("15005: invalid regex"), "{errs:?}");
    let ok = text
        .replace(
            "id: c7\n    vars: {q: \"question number 4000",
            "id: c4000\n    vars: {q: \"question number 4000",
        )
        .replace("{regex: '('}", "{regex: 'x'}")
        .replace("defaults:\n  tags: [late]\n", "defaults:\n  repeat: 2\n");
    let s = load_text(&ok).unwrap();
    assert_eq!(s.cases.len(), n);
    assert_eq!(s.cases[5999].id, "c5999");
    assert_eq!(s.cases[5999].settings.repeat, 2);
    assert_eq!(s.cases[5999].source.rsplit(':').next(), Some("18000"));
    // Identical checks are one decoded check, shared.
    assert!(Arc::ptr_eq(&s.cases[0].checks[1], &s.cases[5999].checks[1]));
}

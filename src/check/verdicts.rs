//! A table of (output, check, expected verdict and score): what the README
//! promises, one row per rule, so a wrong verdict shows up as one failed row.

use super::testutil::{check, errors, run};
use serde_json::json;

/// `(output, check YAML, passes, score)`.
const TABLE: &[(&str, &str, bool, f64)] = &[
    // A passing check scores 1, whatever its similarity or fraction.
    (
        "kitten",
        "levenshtein: {value: kitten, max_distance: 0}",
        true,
        1.0,
    ),
    (
        "sitting",
        "levenshtein: {value: kitten, max_distance: 3}",
        true,
        1.0,
    ),
    (
        "abce",
        "levenshtein: {value: abcd, min_similarity: 0.7}",
        true,
        1.0,
    ),
    // A failing check scores its partial credit.
    (
        "abce",
        "levenshtein: {value: abcd, min_similarity: 0.9}",
        false,
        0.75,
    ),
    ("Paris", "contains: [Paris, France]", false, 0.5),
    ("Paris France", "contains: [Paris, France]", true, 1.0),
    ("Lyon", "contains: {any: [Paris, Lyon]}", true, 1.0),
    ("Nice", "contains: {any: [Paris, Lyon]}", false, 0.0),
    // Negation: `any` + not = none of them; `all` + not = not all of them.
    (
        "Paris",
        "{contains: {any: [Paris, Lyon]}, not: true}",
        false,
        0.0,
    ),
    (
        "Nice",
        "{contains: {any: [Paris, Lyon]}, not: true}",
        true,
        1.0,
    ),
    (
        "Paris",
        "{contains: {all: [Paris, Lyon]}, not: true}",
        true,
        1.0,
    ),
    (
        "Paris Lyon",
        "{contains: {all: [Paris, Lyon]}, not: true}",
        false,
        0.0,
    ),
    (
        "paris",
        "{icontains: {any: [PARIS]}, not: true}",
        false,
        0.0,
    ),
    ("secret", "{contains: [secret], not: true}", false, 0.0),
    ("public", "{contains: secret, not: true}", true, 1.0),
    (
        "abce",
        "{levenshtein: {value: abcd, min_similarity: 0.9}, not: true}",
        true,
        1.0,
    ),
    // json_path: integers compare exactly, 1 equals 1.0.
    (
        r#"{"id": 9007199254740993}"#,
        "json_path: {path: $.id, equals: 9007199254740992}",
        false,
        0.0,
    ),
    (
        r#"{"id": 9007199254740992}"#,
        "json_path: {path: $.id, equals: 9007199254740992}",
        true,
        1.0,
    ),
    (
        r#"{"id": 18446744073709551615}"#,
        "json_path: {path: $.id, equals: 18446744073709551614}",
        false,
        0.0,
    ),
    (
        r#"{"n": 2.0}"#,
        "json_path: {path: $.n, equals: 2}",
        true,
        1.0,
    ),
    (
        r#"{"o": {"a": 1.0}}"#,
        "json_path: {path: $.o, equals: {a: 1}}",
        true,
        1.0,
    ),
    // json_path over several nodes: all by default, or any.
    (
        r#"{"s": ["ok", "ok"]}"#,
        "json_path: {path: '$.s[*]', equals: ok}",
        true,
        1.0,
    ),
    (
        r#"{"s": ["ok", "bad"]}"#,
        "json_path: {path: '$.s[*]', equals: ok}",
        false,
        0.0,
    ),
    (
        r#"{"s": ["bad", "ok"]}"#,
        "json_path: {path: '$.s[*]', equals: ok, match: any}",
        true,
        1.0,
    ),
    (
        r#"{"s": ["bad", "no"]}"#,
        "json_path: {path: '$.s[*]', equals: ok, match: any}",
        false,
        0.0,
    ),
    (
        r#"{"s": ["ok", "bad"]}"#,
        "{json_path: {path: '$.s[*]', equals: bad, match: any}, not: true}",
        false,
        0.0,
    ),
    (
        r#"{"s": ["ok", "ok"]}"#,
        "{json_path: {path: '$.s[*]', equals: bad, match: any}, not: true}",
        true,
        1.0,
    ),
    (
        r#"{"s": []}"#,
        "json_path: {path: '$.s[*]', equals: ok}",
        false,
        0.0,
    ),
    // is_json accepts every valid JSON text.
    ("[1e400]", "is_json: true", true, 1.0),
    (
        r#"{"big": 123456789012345678901234567890}"#,
        "is_json: true",
        true,
        1.0,
    ),
    ("{a: 1}", "is_json: true", false, 0.0),
    ("[1] x", "is_json: true", false, 0.0),
    // tool_call arguments: numbers compare exactly too (no tool calls here).
];

#[test]
fn verdict_table() {
    let mut wrong = Vec::new();
    for (output, yaml, passes, score) in TABLE {
        let c = check(&format!("- {yaml}\n"));
        let r = run(&c, output, json!({}));
        if r.passed != *passes || (r.score - score).abs() > 1e-9 {
            wrong.push(format!(
                "{yaml} on {output:?}: got passed={} score={} ({}), want passed={passes} score={score}",
                r.passed, r.score, r.message
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn deep_json_is_json_and_other_checks_name_the_limit() {
    let deep = format!("{}1{}", "[".repeat(200), "]".repeat(200));
    assert!(run(&check("- is_json\n"), &deep, json!({})).passed);
    let r = run(
        &check("- json_path: {path: '$[0]', exists: true}\n"),
        &deep,
        json!({}),
    );
    assert!(!r.passed);
    assert!(
        r.message
            .starts_with("output is valid JSON, but beyond what evalgate reads")
            && r.message.contains("128 levels"),
        "{}",
        r.message
    );
    let r = run(
        &check("- json_path: {path: '$[0]', exists: true}\n"),
        "[1e400]",
        json!({}),
    );
    assert!(r.message.contains("64-bit float range"), "{}", r.message);
}

#[test]
fn several_nodes_are_named_in_the_explanation() {
    let r = run(
        &check("- json_path: {path: '$.s[*]', equals: ok}\n"),
        r#"{"s": ["ok", "bad", "worse"]}"#,
        json!({}),
    );
    assert_eq!(
        r.message,
        "$.s[*]: 2 of 3 selected nodes differ from \"ok\" (match: all); first: $['s'][1] is \"bad\""
    );
    let r = run(
        &check("- json_path: {path: '$.s[*]', equals: ok, match: any}\n"),
        r#"{"s": ["bad", "ok"]}"#,
        json!({}),
    );
    assert_eq!(
        r.message,
        "$.s[*]: 1 of 2 selected nodes equal \"ok\" (match: any); first: $['s'][1]"
    );
}

#[test]
fn ambiguous_negations_are_refused_with_the_unambiguous_forms() {
    let e = errors("- contains: [a, b]\n  not: true\n");
    assert_eq!(
        e,
        vec!["`not: true` on `contains: [a, b]` is ambiguous: none of them, or not all of them?"]
    );
    let e = errors("- icontains: [a, b]\n  not: true\n");
    assert_eq!(e.len(), 1, "{e:?}");
    let e = errors("- json_path: {path: '$.items[*].status', equals: error}\n  not: true\n");
    assert!(e[0].contains("can select several nodes"), "{e:?}");
    for path in ["$..id", "$.a[0:2]", "$.a[0,1]", "$.a[?@.x]", "$.*"] {
        let e = errors(&format!(
            "- json_path: {{path: '{path}', equals: 1}}\n  not: true\n"
        ));
        assert_eq!(e.len(), 1, "{path}: {e:?}");
    }
    // One meaning: no error.
    for ok in [
        "- contains: [a]\n  not: true\n",
        "- contains: {any: [a, b]}\n  not: true\n",
        "- contains: {all: [a, b]}\n  not: true\n",
        "- contains: [a, b]\n",
        "- json_path: {path: '$.a', equals: 1}\n  not: true\n",
        "- json_path: {path: \"$['a*b']\", equals: 1}\n  not: true\n",
        "- json_path: {path: '$.a[*]', equals: 1, match: any}\n  not: true\n",
        "- json_path: {path: '$.a[*]', exists: true}\n  not: true\n",
    ] {
        assert!(errors(ok).is_empty(), "{ok}: {:?}", errors(ok));
    }
    assert!(
        errors("- json_path: {path: $.a, exists: true, match: any}\n")[0]
            .contains("`match` applies to `equals` only")
    );
    assert!(
        errors("- json_path: {path: $.a, equals: 1, match: some}\n")[0]
            .contains("unknown `match` value")
    );
}

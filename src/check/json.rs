//! JSON checks: is_json, json_schema (file or inline), json_path (exists / equals).

use std::fmt;
use std::path::PathBuf;

use serde_json_path::JsonPath;

use super::{Arg, Eval, EvalCtx, SyncCheck};
use crate::error::{display_path, Diagnostic, Pos};
use crate::syntax::decode::Ctx;
use crate::syntax::node::{self, Node, Value};
use crate::util::extract::ExtractDefault;
use crate::util::json::json_equal;
use crate::util::text::truncate_chars;

const SHOW: usize = 200;

/// Whether `text` is JSON by RFC 8259, however deep and whatever the size of
/// its numbers (nothing is built, so neither limits it).
fn is_valid_json(text: &str) -> Result<(), String> {
    serde_json::from_str::<serde::de::IgnoredAny>(text.trim())
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// Why a check that reads the output as a JSON value could not: the output
/// is not JSON, or it is but goes beyond what evalgate reads as a value.
fn not_json(input: &EvalCtx<'_>, err: &str) -> Eval {
    let message = if is_valid_json(input.output).is_ok() {
        format!(
            "output is valid JSON, but beyond what evalgate reads as a value ({err}): \
             the limits are 128 levels of nesting and numbers within the 64-bit float range"
        )
    } else {
        format!("output is not valid JSON: {err}")
    };
    Eval::fail(message).with_actual(truncate_chars(input.output, SHOW))
}

/// The `extract` option of a JSON check: written, or the suite's
/// `defaults.extract_json`.
fn extract_option(ctx: &mut Ctx<'_>, f: &crate::syntax::decode::Fields<'_>) -> Option<bool> {
    match f.get("extract") {
        Some(n) => ctx.bool(n, "`extract`"),
        None => Some(ctx.default_of::<ExtractDefault>().0),
    }
}

/// Why the JSON a check reads could not be had: the output (or the value
/// extracted from it) is not JSON.
fn no_json(input: &EvalCtx<'_>, extract: bool, err: &str) -> Eval {
    if extract {
        Eval::fail(err.to_string()).with_actual(truncate_chars(input.output, SHOW))
    } else {
        not_json(input, err)
    }
}

/// " (checked the JSON object in the ```json fence at line 3)".
fn from_note(from: Option<&str>) -> String {
    from.map(|d| format!(" (extracted {d})"))
        .unwrap_or_default()
}

/// `is_json: true` or `is_json: {extract: true}`.
#[derive(Debug)]
pub(super) struct IsJson {
    pub(super) extract: bool,
}

/// The keys of `is_json:`'s mapping form.
pub(super) const IS_JSON_KEYS: &[&str] = &["extract"];

impl IsJson {
    pub(super) fn parse(ctx: &mut Ctx<'_>, node: &Node) -> Option<Self> {
        if let Value::Map(_) = &node.value {
            let f = ctx.map(node, "`is_json`", IS_JSON_KEYS)?;
            let extract = extract_option(ctx, &f)?;
            return Some(IsJson { extract });
        }
        match ctx.bool(node, "`is_json`")? {
            true => Some(IsJson {
                extract: ctx.default_of::<ExtractDefault>().0,
            }),
            false => {
                ctx.error(
                    node.pos,
                    "`is_json: false` is ambiguous",
                    Some(
                        "write `is_json: true` with `not: true` to require output that is not JSON"
                            .into(),
                    ),
                );
                None
            }
        }
    }
}

impl SyncCheck for IsJson {
    fn verdict(&self, input: &EvalCtx<'_>) -> Eval {
        if self.extract {
            return match crate::util::extract::extract_json(input.output) {
                Some(e) => Eval::pass(format!("output holds valid JSON: {}", e.describe())),
                None => Eval::fail(
                    "output holds no JSON value (none in a code fence, no balanced object or array in the text)",
                )
                .with_actual(truncate_chars(input.output, SHOW)),
            };
        }
        // Validated without building a value: deep nesting and numbers
        // beyond f64 (`1e400`) are valid JSON.
        match is_valid_json(input.output) {
            Ok(()) => Eval::pass("output is valid JSON"),
            Err(e) => Eval::fail(format!("output is not valid JSON: {e}"))
                .with_actual(truncate_chars(input.output, SHOW)),
        }
    }
}

/// `json_schema: path.json`, `json_schema: {file: path}` or `json_schema: {schema: {...}}`.
pub(super) struct JsonSchema {
    origin: String,
    /// The schema file, when the schema is not inline.
    file: Option<PathBuf>,
    validator: jsonschema::Validator,
    extract: bool,
}

impl fmt::Debug for JsonSchema {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JsonSchema")
            .field("origin", &self.origin)
            .finish()
    }
}

/// Where a schema came from, to point errors inside it.
enum SchemaSource<'n> {
    /// Written in the suite: errors point into the suite file.
    Inline(&'n Node),
    /// A file: errors point into that file.
    File { path: PathBuf, text: String },
}

/// The keys of `json_schema:`'s mapping form.
pub(super) const JSON_SCHEMA_KEYS: &[&str] = &["file", "schema", "extract"];

impl JsonSchema {
    pub(super) fn parse(ctx: &mut Ctx<'_>, node: &Node) -> Option<Self> {
        let mut extract = ctx.default_of::<ExtractDefault>().0;
        let (schema, origin, source) = match &node.value {
            Value::Str(path) => Self::load_file(ctx, node, path)?,
            Value::Map(_) => {
                let f = ctx.map(node, "`json_schema`", JSON_SCHEMA_KEYS)?;
                extract = extract_option(ctx, &f)?;
                match (f.get("file"), f.get("schema")) {
                    (Some(p), None) => {
                        let path = ctx.string(p, "`file`")?;
                        Self::load_file(ctx, p, &path)?
                    }
                    (None, Some(s)) => (
                        s.to_json(),
                        "inline schema".to_string(),
                        SchemaSource::Inline(s),
                    ),
                    _ => {
                        ctx.error(
                            node.pos,
                            "`json_schema` takes exactly one of `file` or `schema`",
                            Some("`json_schema: fixtures/schemas/x.json` or `json_schema: {schema: {type: object}}`".into()),
                        );
                        return None;
                    }
                }
            }
            _ => {
                ctx.error(
                    node.pos,
                    format!(
                        "`json_schema` must be a file path or a mapping, found {}",
                        node.kind_name()
                    ),
                    None,
                );
                return None;
            }
        };
        match jsonschema::validator_for(&schema) {
            Ok(validator) => {
                let file = match &source {
                    SchemaSource::File { path, .. } => Some(path.clone()),
                    SchemaSource::Inline(_) => None,
                };
                Some(JsonSchema {
                    origin,
                    file,
                    validator,
                    extract,
                })
            }
            Err(e) => {
                let pointer = e.instance_path().to_string();
                let at = if pointer.is_empty() {
                    "/".to_string()
                } else {
                    pointer.clone()
                };
                let message = format!("invalid JSON schema ({origin}) at {at}: {e}");
                let mut hint = "the schema must be a valid JSON Schema (draft 2020-12 unless `$schema` says otherwise)".to_string();
                if pointer.ends_with("/type") {
                    hint = "JSON Schema types are: array, boolean, integer, null, number, object, string".to_string();
                }
                match source {
                    SchemaSource::Inline(root) => {
                        let target = find_pointer(root, &pointer);
                        ctx.error(target.pos, message, Some(hint));
                    }
                    SchemaSource::File { path, text } => {
                        let pos = node::parse(&path, &text)
                            .ok()
                            .map(|root| find_pointer(&root, &pointer).pos);
                        ctx.errors.push(
                            Diagnostic::new(&path, pos, message)
                                .with_source(&text)
                                .with_hint(format!(
                                    "{hint}; used by {}:{}:{}",
                                    display_path(ctx.file),
                                    node.pos.line,
                                    node.pos.col
                                )),
                        );
                    }
                }
                None
            }
        }
    }

    fn load_file<'n>(
        ctx: &mut Ctx<'_>,
        node: &Node,
        path: &str,
    ) -> Option<(serde_json::Value, String, SchemaSource<'n>)> {
        let full = ctx.resolve_path(path);
        let text =
            match crate::util::fsafe::read_to_string(&full, crate::util::fsafe::Kind::Schema, true)
            {
                Ok(t) => t,
                Err(e) => {
                    ctx.error(
                    node.pos,
                    format!(
                        "cannot read JSON schema file `{}`: {e}",
                        display_path(&full)
                    ),
                    Some(
                        "paths are relative to the project root (the directory of evalgate.yaml)"
                            .into(),
                    ),
                );
                    return None;
                }
            };
        let text = text
            .strip_prefix('\u{feff}')
            .map(str::to_string)
            .unwrap_or(text);
        match serde_json::from_str(&text) {
            Ok(v) => Some((
                v,
                display_path(&full),
                SchemaSource::File { path: full, text },
            )),
            Err(e) => {
                let msg = e.to_string();
                let msg = msg.split(" at line ").next().unwrap_or(&msg).to_string();
                ctx.errors.push(
                    Diagnostic::new(
                        &full,
                        Some(Pos::new(e.line().max(1), e.column().max(1))),
                        format!("JSON schema file is not valid JSON: {msg}"),
                    )
                    .with_source(&text)
                    .with_hint(format!(
                        "fix the JSON syntax; the schema is used by {}:{}:{}",
                        display_path(ctx.file),
                        node.pos.line,
                        node.pos.col
                    )),
                );
                None
            }
        }
    }
}

/// The node a JSON pointer (`/a/0/b`) leads to, or the deepest one found.
fn find_pointer<'n>(root: &'n Node, pointer: &str) -> &'n Node {
    let mut cur = root;
    for raw in pointer.split('/').skip(1) {
        let seg = raw.replace("~1", "/").replace("~0", "~");
        let next = match &cur.value {
            Value::Map(entries) => entries.iter().find(|e| e.key == seg).map(|e| &e.value),
            Value::Seq(items) => seg.parse::<usize>().ok().and_then(|i| items.get(i)),
            _ => None,
        };
        match next {
            Some(n) => cur = n,
            None => break,
        }
    }
    cur
}

impl SyncCheck for JsonSchema {
    fn input_files(&self) -> Vec<PathBuf> {
        self.file.iter().cloned().collect()
    }

    fn verdict(&self, input: &EvalCtx<'_>) -> Eval {
        let (value, from) = match input.json_value(self.extract) {
            Ok(v) => v,
            Err(e) => return no_json(input, self.extract, &e),
        };
        let from = from_note(from);
        let errors: Vec<String> = self
            .validator
            .iter_errors(value)
            .take(5)
            .map(|e| {
                let at = e.instance_path().to_string();
                format!("{}: {e}", if at.is_empty() { "/" } else { &at })
            })
            .collect();
        if errors.is_empty() {
            Eval::pass(format!("output matches {}{from}", self.origin))
        } else {
            Eval::fail(format!(
                "output does not match {}{from}: {}",
                self.origin,
                errors.join("; ")
            ))
            .with_actual(truncate_chars(input.output, SHOW))
        }
    }
}

#[derive(Debug)]
enum PathTest {
    Exists(bool),
    Equals(serde_json::Value),
    EqualsTemplate(Arg),
}

/// How `equals` judges a path that selects several nodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Match {
    /// Every selected node equals the value (the default).
    All,
    /// At least one selected node equals the value.
    Any,
}

/// `json_path: {path: "$.a", exists: true}` or `{path: "$.a", equals: value}`
/// (`match: all` (default) or `any` when the path selects several nodes).
#[derive(Debug)]
pub(super) struct JsonPathCheck {
    source: String,
    path: JsonPath,
    test: PathTest,
    matching: Match,
    /// `match:` was written.
    explicit_match: bool,
    extract: bool,
}

/// Whether a JSONPath may select more than one node: a wildcard, descendant
/// segment, filter, slice or union outside quoted names.
fn may_select_several(path: &str) -> bool {
    let mut quote: Option<char> = None;
    let mut escaped = false;
    let mut prev = ' ';
    for c in path.chars() {
        if let Some(q) = quote {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == q {
                quote = None;
            }
            continue;
        }
        match c {
            '\'' | '"' => quote = Some(c),
            '*' | '?' | ':' | ',' => return true,
            '.' if prev == '.' => return true,
            _ => {}
        }
        prev = c;
    }
    false
}

/// The keys of `json_path:`.
pub(super) const JSON_PATH_KEYS: &[&str] = &["path", "exists", "equals", "match", "extract"];

impl JsonPathCheck {
    pub(super) fn parse(ctx: &mut Ctx<'_>, node: &Node) -> Option<Self> {
        let f = ctx.map(node, "`json_path`", JSON_PATH_KEYS)?;
        let extract = extract_option(ctx, &f)?;
        let p = ctx.require(&f, "path", "`json_path`")?;
        let source = ctx.string(p, "`path`")?;
        let path = match JsonPath::parse(&source) {
            Ok(path) => path,
            Err(e) => {
                ctx.error(
                    p.pos,
                    format!("invalid JSONPath {source:?}: {e}"),
                    Some(
                        "JSONPath (RFC 9535) starts with `$`, e.g. `$.answer` or `$.items[0].name`"
                            .into(),
                    ),
                );
                return None;
            }
        };
        let test = match (f.get("exists"), f.get("equals")) {
            (Some(e), None) => PathTest::Exists(ctx.bool(e, "`exists`")?),
            (None, Some(v)) => match &v.value {
                Value::Str(s) if crate::template::is_template(s) => {
                    PathTest::EqualsTemplate(Arg::new(s.clone()))
                }
                _ => PathTest::Equals(v.to_json()),
            },
            (None, None) => PathTest::Exists(true),
            (Some(_), Some(_)) => {
                ctx.error(
                    node.pos,
                    "`json_path` takes `exists` or `equals`, not both",
                    None,
                );
                return None;
            }
        };
        let matching = match f.get("match") {
            None => Match::All,
            Some(m) => {
                if !matches!(test, PathTest::Equals(_) | PathTest::EqualsTemplate(_)) {
                    ctx.error(
                        m.pos,
                        "`match` applies to `equals` only",
                        Some("`exists: true` passes when the path selects at least one node; remove `match`".into()),
                    );
                    return None;
                }
                match ctx.string(m, "`match`")?.as_str() {
                    "all" => Match::All,
                    "any" => Match::Any,
                    other => {
                        ctx.error(
                            m.pos,
                            format!("unknown `match` value `{other}`"),
                            Some("`match: all` (every selected node equals the value, the default) or `match: any` (at least one does)".into()),
                        );
                        return None;
                    }
                }
            }
        };
        Some(JsonPathCheck {
            explicit_match: f.get("match").is_some(),
            extract,
            source,
            path,
            test,
            matching,
        })
    }
}

impl SyncCheck for JsonPathCheck {
    fn verdict(&self, input: &EvalCtx<'_>) -> Eval {
        let (value, from) = match input.json_value(self.extract) {
            Ok(v) => v,
            Err(e) => return no_json(input, self.extract, &e),
        };
        let mut eval = self.test_value(input, value);
        eval.message.push_str(&from_note(from));
        eval
    }

    fn templates(&self) -> Vec<&str> {
        match &self.test {
            PathTest::EqualsTemplate(a) => a.template().into_iter().collect(),
            _ => Vec::new(),
        }
    }

    fn ambiguous_negation(&self) -> Option<(String, String)> {
        self.negation_ambiguity()
    }
}

impl JsonPathCheck {
    /// The path's test on the JSON value.
    fn test_value(&self, input: &EvalCtx<'_>, value: &serde_json::Value) -> Eval {
        let p = &self.source;
        match &self.test {
            PathTest::Exists(want) => {
                let exists = !self.path.query(value).is_empty();
                let msg = if exists {
                    format!("{p} exists")
                } else {
                    format!("{p} matches nothing")
                };
                let mut eval = if exists == *want {
                    Eval::pass(msg)
                } else {
                    Eval::fail(msg)
                };
                if !eval.passed {
                    eval = eval.with_actual(truncate_chars(input.output, SHOW));
                }
                eval
            }
            PathTest::Equals(_) | PathTest::EqualsTemplate(_) => {
                let expected = match &self.test {
                    PathTest::Equals(v) => v.clone(),
                    PathTest::EqualsTemplate(arg) => match input.resolve(arg) {
                        Ok(s) => serde_json::Value::String(s.into_owned()),
                        Err(e) => {
                            return Eval::fail(format!("could not render the expected value: {e}"))
                        }
                    },
                    PathTest::Exists(_) => serde_json::Value::Null,
                };
                self.equals(input, value, &expected)
            }
        }
    }

    fn negation_ambiguity(&self) -> Option<(String, String)> {
        let equals = matches!(self.test, PathTest::Equals(_) | PathTest::EqualsTemplate(_));
        if !equals || self.explicit_match || !may_select_several(&self.source) {
            return None;
        }
        let p = &self.source;
        Some((
            format!(
                "`not: true` on `json_path` `{p}` with `equals` is ambiguous: the path can select several nodes (none of them equals, or not all of them?)"
            ),
            "add `match: any` with `not: true` for \"no selected node equals the value\", or `match: all` with `not: true` for \"not every selected node equals it\"".to_string(),
        ))
    }
}

impl JsonPathCheck {
    /// `equals` over every node the path selects, by `match`.
    fn equals(
        &self,
        input: &EvalCtx<'_>,
        value: &serde_json::Value,
        expected: &serde_json::Value,
    ) -> Eval {
        let p = &self.source;
        let found = self.path.query_located(value).all();
        let n = found.len();
        if n == 0 {
            return Eval::fail(format!("{p} matches nothing; {expected} was expected"))
                .with_expected(expected.to_string())
                .with_actual(truncate_chars(input.output, SHOW));
        }
        let equal: Vec<bool> = found
            .iter()
            .map(|node| json_equal(node.node(), expected))
            .collect();
        let hits = equal.iter().filter(|e| **e).count();
        if n == 1 {
            let v = found[0].node();
            return if hits == 1 {
                Eval::pass(format!("{p} equals {expected}"))
            } else {
                Eval::fail(format!(
                    "{p} is {} but {expected} was expected",
                    truncate_chars(&v.to_string(), SHOW)
                ))
                .with_expected(expected.to_string())
                .with_actual(truncate_chars(&v.to_string(), SHOW))
            };
        }
        let first_miss = equal.iter().position(|e| !*e);
        let describe = |i: usize| {
            format!(
                "{} is {}",
                found[i].location(),
                truncate_chars(&found[i].node().to_string(), SHOW)
            )
        };
        match self.matching {
            Match::All => match first_miss {
                None => Eval::pass(format!("{p}: all {n} selected nodes equal {expected}")),
                Some(i) => Eval::fail(format!(
                    "{p}: {} of {n} selected nodes differ from {expected} (match: all); first: {}",
                    n - hits,
                    describe(i)
                ))
                .with_expected(format!("every node = {expected}"))
                .with_actual(describe(i)),
            },
            Match::Any => match equal.iter().position(|e| *e) {
                Some(i) => Eval::pass(format!(
                    "{p}: {hits} of {n} selected nodes equal {expected} (match: any); first: {}",
                    found[i].location()
                )),
                None => Eval::fail(format!(
                    "{p}: none of the {n} selected nodes equals {expected} (match: any); first: {}",
                    describe(0)
                ))
                .with_expected(format!("some node = {expected}"))
                .with_actual(describe(0)),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::check::testutil::*;
    use serde_json::json;

    #[test]
    fn is_json() {
        let c = check("- is_json: true\n");
        assert!(run(&c, " {\"a\": 1} ", json!({})).passed);
        let r = run(&c, "{a: 1}", json!({}));
        assert!(!r.passed && r.message.starts_with("output is not valid JSON"));
    }

    #[test]
    fn inline_schema() {
        let c = check("- json_schema:\n    schema: {type: object, required: [answer], properties: {answer: {type: string}}}\n");
        assert!(run(&c, r#"{"answer": "Paris"}"#, json!({})).passed);
        let r = run(&c, r#"{"answer": 3}"#, json!({}));
        assert!(!r.passed);
        assert!(r.message.contains("/answer"), "{}", r.message);
        assert!(
            errors("- json_schema: {schema: {type: 12}}\n")[0].starts_with("invalid JSON schema")
        );
        assert!(errors("- json_schema: nope/missing.json\n")[0]
            .starts_with("cannot read JSON schema file"));
    }

    #[test]
    fn json_path_exists_and_equals() {
        let c = check("- json_path: {path: $.city.name, equals: Paris}\n");
        assert!(run(&c, r#"{"city": {"name": "Paris"}}"#, json!({})).passed);
        let r = run(&c, r#"{"city": {"name": "Lyon"}}"#, json!({}));
        assert!(!r.passed && r.message.contains("\"Lyon\""), "{}", r.message);
        let c = check("- json_path: {path: $.n, equals: 2}\n");
        assert!(run(&c, r#"{"n": 2.0}"#, json!({})).passed);
        let c = check("- json_path: {path: $.missing, exists: false}\n");
        assert!(run(&c, r#"{"n": 2}"#, json!({})).passed);
        assert!(errors("- json_path: {path: 'nope['}\n")[0].starts_with("invalid JSONPath"));
    }

    #[test]
    fn extract_reads_json_inside_prose() {
        let prose = "Sure! Here it is:\n```json\n{\"city\": \"Paris\"}\n```\nAnything else?";
        let c = check("- is_json: {extract: true}\n");
        let r = run(&c, prose, json!({}));
        assert!(r.passed, "{r:?}");
        assert_eq!(
            r.message,
            "output holds valid JSON: the JSON object in the ```json fence at line 2"
        );
        assert!(!run(&check("- is_json\n"), prose, json!({})).passed);
        let c = check("- json_path: {path: $.city, equals: Paris, extract: true}\n");
        let r = run(&c, prose, json!({}));
        assert!(r.passed, "{r:?}");
        assert_eq!(
            r.message,
            "$.city equals \"Paris\" (extracted the JSON object in the ```json fence at line 2)"
        );
        let c = check("- json_schema: {schema: {required: [city]}, extract: true}\n");
        assert!(run(&c, "The answer: {\"city\": 1}.", json!({})).passed);
        let r = run(&c, "no JSON at all", json!({}));
        assert!(
            !r.passed && r.message.starts_with("no JSON value found"),
            "{r:?}"
        );
        assert_eq!(
            errors("- is_json: {extract: yes please}\n"),
            vec!["`extract` must be true or false, found a string"]
        );
    }
}

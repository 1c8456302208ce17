//! promptfoo → evalgate: a `promptfooconfig.yaml` (prompts, providers,
//! tests, `defaultTest`, assertions) converted into `evalgate.yaml` and one
//! suite file. The README's "evalgate import promptfoo" section is the
//! mapping table; every row here has a line there.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde_json::{json, Map, Value as J};

use super::{slug, unique, Converted, Failure, Note, NoteKind};
use crate::error::{display_path, Diagnostic, Pos};
use crate::syntax::node::{self, Node, Value};
use crate::util::fsafe::{self, Kind};

/// promptfoo's grader when a config names none (with OpenAI credentials).
const DEFAULT_GRADER: &str = "openai:gpt-4.1-2025-04-14";
/// promptfoo's embedding model for `similar` when a config names none.
const DEFAULT_EMBEDDER: &str = "text-embedding-3-large";
/// promptfoo's default `similar` threshold (0.8 in CSV `__expected` columns).
const SIMILAR_THRESHOLD: f64 = 0.75;
const CSV_SIMILAR_THRESHOLD: f64 = 0.8;
const OPENAI_URL: &str = "https://api.openai.com/v1";
/// Most cases one test's list variables may expand to.
const MAX_COMBINATIONS: usize = 1000;

/// Provider config keys passed through to evalgate as written.
const OPENAI_PASS: &[&str] = &[
    "temperature",
    "max_tokens",
    "max_completion_tokens",
    "top_p",
    "seed",
    "stop",
    "response_format",
    "tools",
    "tool_choice",
    "presence_penalty",
    "frequency_penalty",
    "logit_bias",
    "user",
    "n",
    "reasoning_effort",
];
const ANTHROPIC_PASS: &[&str] = &[
    "temperature",
    "top_p",
    "top_k",
    "stop_sequences",
    "tools",
    "tool_choice",
    "metadata",
    "thinking",
    "max_tokens",
];

/// Assertion types promptfoo knows (for `__expected` columns of CSV tests:
/// `type:value`, `not-type`, `type(threshold):value`).
const BASE_TYPES: &[&str] = &[
    "answer-relevance",
    "assert-set",
    "bleu",
    "classifier",
    "contains-all",
    "contains-any",
    "contains-html",
    "contains-json",
    "contains-sql",
    "contains-xml",
    "contains",
    "context-faithfulness",
    "context-recall",
    "context-relevance",
    "cost",
    "ends-with",
    "equals",
    "factuality",
    "finish-reason",
    "g-eval",
    "gleu",
    "guardrails",
    "icontains-all",
    "icontains-any",
    "icontains",
    "is-html",
    "is-json",
    "is-refusal",
    "is-sql",
    "is-valid-openai-function-call",
    "is-valid-openai-tools-call",
    "is-xml",
    "javascript",
    "latency",
    "levenshtein",
    "llm-rubric",
    "meteor",
    "model-graded-closedqa",
    "moderation",
    "perplexity-score",
    "perplexity",
    "pi",
    "python",
    "regex",
    "rouge-n",
    "ruby",
    "select-best",
    "similar",
    "starts-with",
    "webhook",
    "word-count",
];

/// A source file: its path (as shown in messages) and text.
struct Src {
    path: PathBuf,
    name: String,
    text: String,
}

/// One assertion, from YAML or from a CSV `__expected` column.
struct Assert {
    ty: String,
    value: Option<J>,
    /// The value's node, when it came from YAML (schemas keep positions).
    threshold: Option<f64>,
    weight: Option<f64>,
    metric: Option<String>,
    provider: Option<J>,
    /// Keys given that the conversion does not carry (transform, rubricPrompt…).
    dropped: Vec<String>,
    csv: bool,
}

/// The grader and embedder specifications in force for a test.
#[derive(Clone, Default)]
struct Graders {
    grader: Option<J>,
    embedder: Option<J>,
}

/// A converted case.
struct Case {
    id: String,
    description: Option<String>,
    vars: Map<String, J>,
    checks: Vec<J>,
    threshold: Option<f64>,
    /// Why the case is skipped (none of its assertions was converted).
    skip: Option<String>,
}

struct Conv {
    dir: PathBuf,
    notes: Vec<Note>,
    errors: Vec<Diagnostic>,
    /// Converted providers: name → definition.
    providers: Vec<(String, Map<String, J>)>,
    names: BTreeSet<String>,
    /// The providers that answer the tests (the rest grade or embed).
    targets: Vec<String>,
    /// `env:` of the config: variables promptfoo sets (values never copied).
    env: Map<String, J>,
    /// The default grader's provider name, once a check needs it.
    judge_provider: Option<String>,
    default_graders: Graders,
    templates: Option<Node>,
    /// Whether a test without assertions got the any-answer check.
    any_answer: bool,
    /// Whether `defaultTest` gave checks every case has.
    default_checks: bool,
}

/// Convert the promptfoo config at `path`.
pub(crate) fn convert(path: &Path) -> Result<Converted, Failure> {
    let root_src = read(path, Kind::Config).map_err(|e| {
        Failure::Unreadable(vec![Diagnostic::new(
            path,
            None,
            format!("cannot read the promptfoo config: {e}"),
        )
        .with_hint("pass the path of a promptfoo config file (promptfooconfig.yaml)")])
    })?;
    let root = node::parse(&root_src.path, &root_src.text).map_err(Failure::Unreadable)?;
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let mut conv = Conv {
        dir,
        notes: Vec::new(),
        errors: Vec::new(),
        providers: Vec::new(),
        names: BTreeSet::new(),
        targets: Vec::new(),
        env: Map::new(),
        judge_provider: None,
        default_graders: Graders::default(),
        templates: None,
        any_answer: false,
        default_checks: false,
    };
    let out = conv.config(&root_src, &root);
    if !conv.errors.is_empty() {
        return Err(Failure::Unreadable(conv.errors));
    }
    match out {
        Ok(mut converted) => {
            conv.notes
                .sort_by(|a, b| (a.kind, &a.file, a.line).cmp(&(b.kind, &b.file, b.line)));
            converted.notes = conv.notes;
            Ok(converted)
        }
        Err(reason) => {
            conv.notes
                .sort_by(|a, b| (a.kind, &a.file, a.line).cmp(&(b.kind, &b.file, b.line)));
            Err(Failure::NothingConvertible {
                reason,
                notes: conv.notes,
            })
        }
    }
}

fn read(path: &Path, kind: Kind) -> Result<Src, String> {
    // Paths the user's config names are the user's own files, as the
    // config itself is: not confined to a project root, but links, FIFOs,
    // devices and oversized files are refused.
    let text = fsafe::read_to_string(path, kind, false).map_err(|e| e.to_string())?;
    Ok(Src {
        path: path.to_path_buf(),
        name: display_path(path),
        text,
    })
}

fn str_of(n: &Node) -> Option<&str> {
    n.as_str()
}

fn map_entries(n: &Node) -> Option<&[node::Entry]> {
    match &n.value {
        Value::Map(e) => Some(e),
        _ => None,
    }
}

fn get<'n>(n: &'n Node, key: &str) -> Option<&'n Node> {
    map_entries(n)?
        .iter()
        .find(|e| e.key == key)
        .map(|e| &e.value)
}

fn number(n: &Node) -> Option<f64> {
    match n.value {
        Value::Int(i) => Some(i as f64),
        Value::Float(f) => Some(f),
        Value::Str(ref s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// `{{ env.NAME }}` (promptfoo's environment template) → `NAME`.
fn env_ref(s: &str) -> Option<String> {
    let re = regex::Regex::new(r"^\s*\{\{\s*env\.([A-Za-z_][A-Za-z0-9_]*)\s*\}\}\s*$").ok()?;
    re.captures(s).map(|c| c[1].to_string())
}

/// Every `{{ env.NAME }}` in `s` as evalgate's `${NAME}`.
fn env_refs_to_dollar(s: &str) -> String {
    match regex::Regex::new(r"\{\{\s*env\.([A-Za-z_][A-Za-z0-9_]*)\s*\}\}") {
        Ok(re) => re.replace_all(s, "$${$1}").into_owned(),
        Err(_) => s.to_string(),
    }
}

impl Conv {
    fn note(&mut self, src: &Src, pos: Pos, kind: NoteKind, text: impl Into<String>) {
        self.notes.push(Note {
            kind,
            file: src.name.clone(),
            line: Some(pos.line),
            text: text.into(),
        });
    }

    fn skip(&mut self, src: &Src, pos: Pos, text: impl Into<String>) {
        self.note(src, pos, NoteKind::NotConverted, text);
    }

    fn differs(&mut self, src: &Src, pos: Pos, text: impl Into<String>) {
        self.note(src, pos, NoteKind::Differs, text);
    }

    fn error(&mut self, src: &Src, pos: Pos, msg: impl Into<String>, hint: impl Into<String>) {
        self.errors.push(
            Diagnostic::new(&src.path, Some(pos), msg)
                .with_source(&src.text)
                .with_hint(hint),
        );
    }

    /// Read a `file://` reference made at `pos` of `src`.
    fn load(&mut self, src: &Src, pos: Pos, rel: &str, kind: Kind) -> Option<Src> {
        let path = self.dir.join(rel);
        match read(&path, kind) {
            Ok(s) => Some(s),
            Err(e) => {
                self.error(
                    src,
                    pos,
                    format!("cannot read `file://{rel}`: {e}"),
                    format!(
                        "file:// paths are relative to the promptfoo config's directory ({})",
                        display_path(&self.dir)
                    ),
                );
                None
            }
        }
    }

    // -----------------------------------------------------------------
    // The config
    // -----------------------------------------------------------------

    fn config(&mut self, src: &Src, root: &Node) -> Result<Converted, String> {
        let Some(entries) = map_entries(root) else {
            self.error(
                src,
                root.pos,
                format!(
                    "a promptfoo config must be a mapping, found {}",
                    root.kind_name()
                ),
                "a promptfooconfig.yaml has `prompts`, `providers` and `tests`",
            );
            return Err(String::new());
        };
        self.templates = get(root, "assertionTemplates").cloned();
        if let Some(env) = get(root, "env") {
            if let Some(e) = map_entries(env) {
                for entry in e {
                    self.env.insert(entry.key.clone(), entry.value.to_json());
                }
                self.differs(
                    src,
                    env.pos,
                    "`env`: values are not copied (evalgate reads keys and other secrets from the environment only); export the variables before `evalgate run`",
                );
            }
        }
        let mut description = None;
        let mut concurrency = None;
        let mut repeat = None;
        for e in entries {
            match e.key.as_str() {
                "prompts" | "providers" | "tests" | "defaultTest" | "env" | "assertionTemplates" => {}
                "description" => description = str_of(&e.value).map(str::to_string),
                "evaluateOptions" => {
                    for o in map_entries(&e.value).unwrap_or_default() {
                        match o.key.as_str() {
                            "maxConcurrency" => concurrency = number(&o.value),
                            "repeat" => repeat = number(&o.value),
                            other => self.skip(
                                src,
                                o.key_pos,
                                format!("`evaluateOptions.{other}` not converted: evalgate has no equivalent setting"),
                            ),
                        }
                    }
                }
                "outputPath" => self.skip(
                    src,
                    e.key_pos,
                    "`outputPath` not converted: evalgate writes its reports where `reports:` in evalgate.yaml says (JUnit, JSON, Markdown)",
                ),
                "scenarios" => self.skip(
                    src,
                    e.key_pos,
                    "`scenarios` not converted: evalgate has no scenario matrix; copy each scenario's tests into the suite's cases",
                ),
                "redteam" => self.skip(
                    src,
                    e.key_pos,
                    "`redteam` not converted: evalgate's own adversarial pack is `attacks:` in a suite (README \"The adversarial pack\")",
                ),
                "nunjucksFilters" => self.skip(
                    src,
                    e.key_pos,
                    "`nunjucksFilters` not converted: evalgate's templates have minijinja's built-in filters only",
                ),
                other => self.skip(
                    src,
                    e.key_pos,
                    format!("`{other}` not converted: evalgate has no equivalent"),
                ),
            }
        }

        // defaultTest first: its options name the grader.
        let default_test = get(root, "defaultTest");
        let mut defaults = Map::new();
        let mut default_threshold = None;
        let mut default_vars = Map::new();
        if let Some(dt) = default_test {
            if str_of(dt).is_some() {
                self.skip(
                    src,
                    dt.pos,
                    "`defaultTest` from a file not converted: write its vars and asserts inline",
                );
            } else if map_entries(dt).is_some() {
                let graders = self.options_graders(src, get(dt, "options"), &Graders::default());
                self.default_graders = graders.clone();
                if let Some(v) = get(dt, "vars") {
                    if let Some(m) = self.vars(src, v) {
                        default_vars = m;
                    }
                }
                let mut checks = Vec::new();
                if let Some(a) = get(dt, "assert") {
                    checks = self.asserts(src, a, &graders);
                }
                if !checks.is_empty() {
                    self.default_checks = true;
                    defaults.insert("checks".into(), J::Array(checks));
                }
                default_threshold = get(dt, "threshold").and_then(number);
                for e in map_entries(dt).unwrap_or_default() {
                    match e.key.as_str() {
                        "vars" | "assert" | "threshold" => {}
                        "options" => self.options_notes(src, &e.value, "defaultTest"),
                        other => self.skip(
                            src,
                            e.key_pos,
                            format!(
                                "`defaultTest.{other}` not converted: evalgate has no equivalent"
                            ),
                        ),
                    }
                }
            } else {
                self.error(
                    src,
                    dt.pos,
                    format!("`defaultTest` must be a mapping, found {}", dt.kind_name()),
                    "defaultTest takes vars, assert, options and threshold",
                );
            }
        }

        // Providers.
        match get(root, "providers") {
            Some(p) => self.providers(src, p),
            None => {
                self.skip(
                    src,
                    root.pos,
                    "no `providers`: promptfoo would need --providers on its command line",
                );
            }
        }

        // Prompts.
        let prompts = match get(root, "prompts") {
            Some(p) => self.prompts(src, p),
            None => Vec::new(),
        };

        // Tests.
        let mut cases = Vec::new();
        let mut ids = BTreeSet::new();
        if let Some(t) = get(root, "tests") {
            self.tests(src, t, &mut cases, &mut ids);
        }
        if !self.errors.is_empty() {
            return Err(String::new());
        }

        if self.targets.is_empty() {
            return Err(format!(
                "no provider of {} maps to an evalgate provider type (openai, anthropic, http, echo)",
                src.name
            ));
        }
        if prompts.is_empty() {
            return Err(format!("no prompt of {} could be converted", src.name));
        }
        if cases.is_empty() {
            return Err(format!("no test of {} could be converted", src.name));
        }

        // Variables the prompts read that a case does not set: Nunjucks
        // renders them as empty text, minijinja refuses (strict). Decided
        // once for every prompt (to try them), then for those kept.
        let env = crate::template::environment();
        let provisional = unset_vars(&prompts, &cases, &default_vars);
        let mut trial_vars = default_vars.clone();
        for (v, value, _) in &provisional {
            trial_vars.insert(v.clone(), value.clone());
        }
        // What minijinja cannot render (a filter it lacks, an attribute of a
        // string…) shows when a case is rendered: such a prompt is left out,
        // as `evalgate validate` would refuse it.
        let mut kept = Vec::new();
        for (name, p, psrc, ppos) in prompts {
            let mut failure = None;
            let texts = prompt_texts(&p);
            // Compiled once, rendered for every case.
            let compiled: Vec<_> = texts
                .iter()
                .filter_map(|t| env.template_from_str(t).ok())
                .collect();
            'cases: for c in &cases {
                let mut vars = trial_vars.clone();
                vars.extend(c.vars.clone());
                let ctx = minijinja::Value::from_serialize(J::Object(vars));
                for t in &compiled {
                    if let Err(e) = t.render(&ctx) {
                        failure = Some((c.id.clone(), crate::template::describe(&e)));
                        break 'cases;
                    }
                }
            }
            match failure {
                None => kept.push((name, p, psrc, ppos)),
                Some((case, e)) => self.notes.push(Note {
                    kind: NoteKind::NotConverted,
                    file: psrc,
                    line: Some(ppos.line),
                    text: format!(
                        "prompt `{name}` not converted: minijinja cannot render it for case `{case}`: {e} (minijinja lacks some Nunjucks filters, such as `dump`, and promptfoo's own, such as `load`)"
                    ),
                }),
            }
        }
        let prompts = kept;
        if prompts.is_empty() {
            return Err(format!("no prompt of {} could be converted", src.name));
        }
        for (v, value, text) in unset_vars(&prompts, &cases, &default_vars) {
            default_vars.insert(v, value);
            self.notes.push(Note {
                kind: NoteKind::Differs,
                file: src.name.clone(),
                line: None,
                text,
            });
        }
        // Assertion values are templates too (promptfoo renders them with
        // the test's vars): a variable one reads that its case does not set.
        let default_checks: Vec<J> = match defaults.get("checks") {
            Some(J::Array(c)) => c.clone(),
            _ => Vec::new(),
        };
        let mut unset: std::collections::BTreeMap<String, usize> = Default::default();
        for c in &cases {
            let mut texts = Vec::new();
            for check in default_checks.iter().chain(&c.checks) {
                template_strings(check, &mut texts);
            }
            for t in texts {
                if let Ok(vars) = crate::template::variables(&env, &t) {
                    for v in vars {
                        if !c.vars.contains_key(&v) && !default_vars.contains_key(&v) {
                            *unset.entry(v).or_default() += 1;
                        }
                    }
                }
            }
        }
        for (v, n) in unset {
            default_vars.insert(v.clone(), J::String(String::new()));
            self.notes.push(Note {
                kind: NoteKind::Differs,
                file: src.name.clone(),
                line: None,
                text: format!(
                    "`{{{{{v}}}}}` is read by an assertion but not set by {n} test{}: promptfoo renders it as empty text, evalgate refuses undefined variables, so `defaults.vars` sets it to \"\"",
                    crate::util::fmt::plural(n)
                ),
            });
        }
        if self.any_answer {
            self.notes.push(Note {
                kind: NoteKind::Differs,
                file: src.name.clone(),
                line: None,
                text: "tests without assertions pass on any answer in promptfoo; evalgate needs a check per case, so they check `length: {min_chars: 0}` (any answer passes, an error is still an error)".into(),
            });
        }

        // The suite.
        let suite_name = description
            .as_deref()
            .and_then(slug)
            .or_else(|| {
                let stem = src.path.file_stem()?.to_str()?;
                if stem.starts_with("promptfooconfig") {
                    let dir = std::fs::canonicalize(&self.dir).ok()?;
                    slug(dir.file_name()?.to_str()?)
                } else {
                    slug(stem)
                }
            })
            .unwrap_or_else(|| "promptfoo".to_string());
        let mut suite = Map::new();
        suite.insert("name".into(), J::String(suite_name.clone()));
        if let Some(d) = &description {
            suite.insert("description".into(), J::String(d.clone()));
        }
        let mut defaults_out = Map::new();
        if !default_vars.is_empty() {
            defaults_out.insert("vars".into(), J::Object(default_vars));
        }
        if let Some(c) = defaults.remove("checks") {
            defaults_out.insert("checks".into(), c);
        }
        if let Some(t) = default_threshold {
            defaults_out.insert("threshold".into(), num(t));
        }
        if let Some(r) = repeat.filter(|r| *r >= 1.0) {
            defaults_out.insert("repeat".into(), json!(r as u64));
        }
        if !defaults_out.is_empty() {
            suite.insert("defaults".into(), J::Object(defaults_out));
        }
        if prompts.len() == 1 {
            suite.insert("prompt".into(), prompts[0].1.clone());
        } else {
            let mut m = Map::new();
            for (name, p, _, _) in &prompts {
                m.insert(name.clone(), p.clone());
            }
            suite.insert("prompts".into(), J::Object(m));
        }
        let cases_out: Vec<J> = cases
            .into_iter()
            .map(|c| {
                let mut m = Map::new();
                m.insert("id".into(), J::String(c.id));
                if let Some(d) = c.description {
                    m.insert("description".into(), J::String(d));
                }
                if !c.vars.is_empty() {
                    m.insert("vars".into(), J::Object(c.vars));
                }
                if let Some(t) = c.threshold {
                    m.insert("threshold".into(), num(t));
                }
                if let Some(why) = c.skip {
                    m.insert("skip".into(), J::String(why));
                }
                if !c.checks.is_empty() {
                    m.insert("checks".into(), J::Array(c.checks));
                }
                J::Object(m)
            })
            .collect();
        suite.insert("cases".into(), J::Array(cases_out));

        // evalgate.yaml.
        let mut config = Map::new();
        config.insert("version".into(), json!(1));
        config.insert(
            "default_provider".into(),
            J::String(self.targets[0].clone()),
        );
        if let Some(j) = &self.judge_provider {
            config.insert("judge_provider".into(), J::String(j.clone()));
        }
        if let Some(c) = concurrency.filter(|c| *c >= 1.0) {
            config.insert("concurrency".into(), json!(c as u64));
        }
        let mut providers = Map::new();
        for (name, def) in &self.providers {
            providers.insert(name.clone(), J::Object(def.clone()));
        }
        config.insert("providers".into(), J::Object(providers));

        let header = format!(
            "# Converted from {} by `evalgate import promptfoo`; see IMPORT-NOTES.md.\n",
            src.name
        );
        let suite_path = format!("suites/{suite_name}.yaml");
        let files = vec![
            (
                "evalgate.yaml".to_string(),
                format!("{header}{}", super::yaml::to_yaml(&J::Object(config))),
            ),
            (
                suite_path,
                format!("{header}{}", super::yaml::to_yaml(&J::Object(suite))),
            ),
        ];
        let matrix = if self.targets.len() > 1 {
            self.targets.clone()
        } else {
            Vec::new()
        };
        Ok(Converted {
            files,
            notes: Vec::new(),
            matrix,
        })
    }

    /// Notes for test `options` the conversion does not carry.
    fn options_notes(&mut self, src: &Src, options: &Node, whose: &str) {
        for e in map_entries(options).unwrap_or_default() {
            let why = match e.key.as_str() {
                "provider" => continue,
                "transform" | "postprocess" => "a JavaScript transform of the output: evalgate's checks see the answer as the provider returned it",
                "prefix" | "suffix" => "evalgate's prompt is the suite's template: add the text to the prompt",
                "rubricPrompt" => "evalgate's judge has its own prompts; a `judge_prompt:` file can replace one (README \"The judge prompts\")",
                _ => "evalgate has no equivalent",
            };
            self.skip(
                src,
                e.key_pos,
                format!("`{whose}.options.{}` not converted: {why}", e.key),
            );
        }
    }

    /// The grader and embedder a test's `options.provider` names.
    fn options_graders(&mut self, src: &Src, options: Option<&Node>, base: &Graders) -> Graders {
        let mut g = base.clone();
        let Some(p) = options.and_then(|o| get(o, "provider")) else {
            return g;
        };
        match &p.value {
            Value::Map(_) if get(p, "id").is_none() => {
                // {text: …, embedding: …}
                if let Some(t) = get(p, "text") {
                    g.grader = Some(t.to_json());
                }
                if let Some(e) = get(p, "embedding") {
                    g.embedder = Some(e.to_json());
                }
            }
            _ => {
                let _ = src;
                g.grader = Some(p.to_json());
            }
        }
        g
    }

    // -----------------------------------------------------------------
    // Providers
    // -----------------------------------------------------------------

    fn providers(&mut self, src: &Src, node: &Node) {
        let items: Vec<&Node> = match &node.value {
            Value::Seq(items) => items.iter().collect(),
            Value::Str(s) if s.starts_with("file://") => {
                self.skip(
                    src,
                    node.pos,
                    "`providers` from a file not converted: list the providers inline",
                );
                return;
            }
            Value::Str(_) | Value::Map(_) => vec![node],
            _ => {
                self.error(
                    src,
                    node.pos,
                    format!("`providers` must be a list, found {}", node.kind_name()),
                    "e.g. providers: [openai:gpt-4.1-mini]",
                );
                return;
            }
        };
        for item in items {
            let (id, label, config, extra): (
                String,
                Option<String>,
                Option<&Node>,
                Vec<&node::Entry>,
            ) = match &item.value {
                Value::Str(s) => (s.clone(), None, None, Vec::new()),
                Value::Map(entries) => {
                    if let Some(id) = get(item, "id").and_then(str_of) {
                        let extra = entries
                            .iter()
                            .filter(|e| !matches!(e.key.as_str(), "id" | "label" | "config"))
                            .collect();
                        (
                            id.to_string(),
                            get(item, "label").and_then(str_of).map(str::to_string),
                            get(item, "config"),
                            extra,
                        )
                    } else if entries.len() == 1 {
                        // The legacy form: {"openai:gpt-4": {config: …}}
                        let e = &entries[0];
                        (
                            e.key.clone(),
                            get(&e.value, "label").and_then(str_of).map(str::to_string),
                            get(&e.value, "config"),
                            Vec::new(),
                        )
                    } else {
                        self.skip(src, item.pos, "a provider without an `id` not converted");
                        continue;
                    }
                }
                _ => {
                    self.error(
                        src,
                        item.pos,
                        format!(
                            "a provider must be a string or a mapping, found {}",
                            item.kind_name()
                        ),
                        "e.g. `- openai:gpt-4.1-mini` or `- id: openai:chat:gpt-4.1-mini`",
                    );
                    continue;
                }
            };
            for e in extra {
                let why = match e.key.as_str() {
                    "prompts" => "evalgate runs every prompt variant against the provider",
                    "transform" => "a JavaScript transform of the output",
                    "delay" => "evalgate paces requests with `requests_per_minute` on the provider",
                    "env" => "evalgate reads the environment the run has",
                    _ => "evalgate has no equivalent",
                };
                self.skip(
                    src,
                    e.key_pos,
                    format!("provider `{id}`: `{}` not converted: {why}", e.key),
                );
            }
            match self.provider(src, item.pos, &id, config) {
                Ok(def) => {
                    let base = label
                        .as_deref()
                        .and_then(slug)
                        .or_else(|| provider_base_name(&id))
                        .unwrap_or_else(|| "provider".into());
                    let name = unique(&base, &mut self.names);
                    self.providers.push((name.clone(), def));
                    self.targets.push(name);
                }
                Err(why) => self.skip(
                    src,
                    item.pos,
                    format!("provider `{id}` not converted: {why}"),
                ),
            }
        }
    }

    /// One provider definition from a promptfoo provider id and its config.
    fn provider(
        &mut self,
        src: &Src,
        pos: Pos,
        id: &str,
        config: Option<&Node>,
    ) -> Result<Map<String, J>, String> {
        let cfg: Vec<&node::Entry> = config
            .and_then(map_entries)
            .map(|e| e.iter().collect())
            .unwrap_or_default();
        let mut def = Map::new();
        let parts: Vec<&str> = id.splitn(3, ':').collect();
        match parts.as_slice() {
            ["echo"] => {
                def.insert("type".into(), json!("echo"));
                for e in cfg {
                    self.skip(src, e.key_pos, format!("provider `{id}`: `config.{}` not converted: evalgate's echo takes no settings", e.key));
                }
                return Ok(def);
            }
            ["openai", "chat", model] | ["openai", model]
                if !matches!(
                    *model,
                    "chat"
                        | "completion"
                        | "embedding"
                        | "embeddings"
                        | "responses"
                        | "assistant"
                        | "realtime"
                        | "image"
                ) && !model.is_empty() =>
            {
                def.insert("type".into(), json!("openai"));
                def.insert("base_url".into(), json!(self.openai_base_url(src, &cfg)));
                def.insert("model".into(), json!(model));
                let key = self.key_env(src, id, &cfg, "OPENAI_API_KEY");
                def.insert("api_key_env".into(), json!(key));
                self.params(
                    src,
                    id,
                    &cfg,
                    OPENAI_PASS,
                    &["apiBaseUrl", "apiHost", "apiKey", "apiKeyEnvar"],
                    &mut def,
                );
                return Ok(def);
            }
            ["openai", kind, model] if !model.is_empty() => {
                return Err(match *kind {
                    "embedding" | "embeddings" => "an embedding model answers no prompt (it is converted where a `similar` assertion names it)".into(),
                    "completion" => "evalgate's openai type calls the Chat Completions API, not the legacy Completions API".into(),
                    "responses" => "evalgate's openai type calls the Chat Completions API, not the Responses API; use `openai:chat:MODEL` if the model has both".into(),
                    other => format!("evalgate has no `openai:{other}` API"),
                });
            }
            ["anthropic", "messages", model] if !model.is_empty() => {
                def.insert("type".into(), json!("anthropic"));
                if let Some(u) = cfg
                    .iter()
                    .find(|e| e.key == "apiBaseUrl")
                    .and_then(|e| str_of(&e.value))
                {
                    def.insert("base_url".into(), json!(env_refs_to_dollar(u)));
                }
                def.insert("model".into(), json!(model));
                let key = self.key_env(src, id, &cfg, "ANTHROPIC_API_KEY");
                def.insert("api_key_env".into(), json!(key));
                self.params(
                    src,
                    id,
                    &cfg,
                    ANTHROPIC_PASS,
                    &["apiBaseUrl", "apiKey", "apiKeyEnvar"],
                    &mut def,
                );
                if def.contains_key("thinking") {
                    self.differs(src, pos, format!("provider `{id}`: promptfoo puts the thinking before the answer in the output (`showThinking`, on by default); evalgate's output is the answer's text only"));
                }
                return Ok(def);
            }
            _ => {}
        }
        if id == "http" || id == "https" || id.starts_with("http://") || id.starts_with("https://")
        {
            return self.http_provider(src, pos, id, &cfg);
        }
        Err(match parts.first().copied() {
            Some("anthropic") => "evalgate's anthropic type is the Messages API: `anthropic:messages:MODEL`".into(),
            Some("exec") | Some("python") | Some("file") => "a script provider: evalgate's `exec` type runs a command with the prompt on stdin or as the last argument, without promptfoo's JSON arguments; define one by hand".into(),
            _ => "evalgate has provider types openai, anthropic, http, exec and echo; an OpenAI-compatible endpoint can be an `openai` provider with its `base_url`".into(),
        })
    }

    /// `base_url` of an openai provider: `apiBaseUrl`, `apiHost`, the
    /// config's `env:` (`OPENAI_BASE_URL`, `OPENAI_API_BASE_URL`), or OpenAI's.
    fn openai_base_url(&mut self, _src: &Src, cfg: &[&node::Entry]) -> String {
        if let Some(u) = cfg
            .iter()
            .find(|e| e.key == "apiBaseUrl")
            .and_then(|e| str_of(&e.value))
        {
            return env_refs_to_dollar(u).trim_end_matches('/').to_string();
        }
        if let Some(h) = cfg
            .iter()
            .find(|e| e.key == "apiHost")
            .and_then(|e| str_of(&e.value))
        {
            return format!("https://{}/v1", env_refs_to_dollar(h).trim_end_matches('/'));
        }
        for k in ["OPENAI_BASE_URL", "OPENAI_API_BASE_URL"] {
            if let Some(u) = self.env.get(k).and_then(J::as_str) {
                return u.trim_end_matches('/').to_string();
            }
        }
        OPENAI_URL.to_string()
    }

    /// The name of the key's variable: `apiKeyEnvar`, `apiKey: {{ env.X }}`,
    /// else the provider's default; a key written in the file is not copied.
    fn key_env(&mut self, src: &Src, id: &str, cfg: &[&node::Entry], default: &str) -> String {
        if let Some(v) = cfg
            .iter()
            .find(|e| e.key == "apiKeyEnvar")
            .and_then(|e| str_of(&e.value))
        {
            return v.to_string();
        }
        if let Some(e) = cfg.iter().find(|e| e.key == "apiKey") {
            if let Some(name) = str_of(&e.value).and_then(env_ref) {
                return name;
            }
            self.differs(
                src,
                e.key_pos,
                format!("provider `{id}`: the key written in `apiKey` is not copied (evalgate reads keys from the environment only): export {default}"),
            );
        }
        default.to_string()
    }

    /// Pass `pass` keys through, headers converted, the rest reported.
    fn params(
        &mut self,
        src: &Src,
        id: &str,
        cfg: &[&node::Entry],
        pass: &[&str],
        handled: &[&str],
        def: &mut Map<String, J>,
    ) {
        for e in cfg {
            let k = e.key.as_str();
            if pass.contains(&k) {
                def.insert(k.to_string(), e.value.to_json());
            } else if k == "headers" {
                if let Some(h) = self.headers(src, id, &e.value) {
                    def.insert("headers".into(), J::Object(h));
                }
            } else if k == "organization" && pass.contains(&"logit_bias") {
                let h = def
                    .entry("headers")
                    .or_insert_with(|| J::Object(Map::new()));
                if let J::Object(h) = h {
                    h.insert("OpenAI-Organization".into(), e.value.to_json());
                }
            } else if k == "passthrough" {
                def.insert("extra_body".into(), e.value.to_json());
            } else if !handled.contains(&k) {
                let why = match k {
                    "showThinking" => "evalgate's output is the answer's text",
                    "functions" => "legacy OpenAI functions: write them as `tools`",
                    "cost" => "evalgate prices tokens with `pricing:` (input_per_million, output_per_million)",
                    _ => "evalgate has no such setting",
                };
                self.skip(
                    src,
                    e.key_pos,
                    format!("provider `{id}`: `config.{k}` not converted: {why}"),
                );
            }
        }
    }

    /// Headers: `{{ env.X }}` becomes `${X}`; a credential written as a
    /// literal value is not copied.
    fn headers(&mut self, src: &Src, id: &str, node: &Node) -> Option<Map<String, J>> {
        let mut out = Map::new();
        for e in map_entries(node)? {
            let v = match &e.value.value {
                Value::Str(s) => Some(s.clone()),
                Value::Int(i) => Some(i.to_string()),
                Value::Bool(b) => Some(b.to_string()),
                _ => None,
            };
            let Some(v) = v else {
                self.skip(
                    src,
                    e.key_pos,
                    format!(
                        "provider `{id}`: header `{}` not converted: not a string",
                        e.key
                    ),
                );
                continue;
            };
            let lower = e.key.to_ascii_lowercase();
            let credential = matches!(
                lower.as_str(),
                "authorization" | "x-api-key" | "api-key" | "cookie"
            );
            let converted = env_refs_to_dollar(&v);
            if credential && !converted.contains("${") {
                self.differs(
                    src,
                    e.key_pos,
                    format!("provider `{id}`: header `{}` holds a credential written in the file: not copied; set it from a variable, e.g. `{}: \"${{APP_TOKEN}}\"`", e.key, e.key),
                );
                continue;
            }
            out.insert(e.key.clone(), J::String(converted));
        }
        (!out.is_empty()).then_some(out)
    }

    fn http_provider(
        &mut self,
        src: &Src,
        pos: Pos,
        id: &str,
        cfg: &[&node::Entry],
    ) -> Result<Map<String, J>, String> {
        let find = |k: &str| cfg.iter().find(|e| e.key == k).map(|e| &e.value);
        let url = match find("url").and_then(str_of) {
            Some(u) => u.to_string(),
            None if id.starts_with("http") && id.contains("://") => id.to_string(),
            None => return Err("no `config.url`".into()),
        };
        if find("request").is_some() {
            return Err(
                "a raw HTTP `request`: write it as `url`, `method`, `headers` and `body`".into(),
            );
        }
        let mut def = Map::new();
        def.insert("type".into(), json!("http"));
        let body = find("body");
        let method = find("method")
            .and_then(str_of)
            .map(|m| m.to_ascii_uppercase())
            .unwrap_or_else(|| {
                if body.is_some() {
                    "POST".into()
                } else {
                    "GET".into()
                }
            });
        def.insert("method".into(), json!(method));
        def.insert("url".into(), json!(env_refs_to_dollar(&url)));
        if let Some(h) = find("headers") {
            if let Some(h) = self.headers(src, id, h) {
                def.insert("headers".into(), J::Object(h));
            }
        }
        if let Some(b) = body {
            match &b.value {
                Value::Map(_) | Value::Seq(_) => {
                    def.insert("body".into(), http_body(&b.to_json()));
                }
                _ => {
                    return Err(
                        "a string `body`: evalgate's http body is JSON (a mapping or a list)"
                            .into(),
                    )
                }
            }
        }
        match find("transformResponse").or_else(|| find("responseParser")) {
            Some(t) => match str_of(t).and_then(js_path_to_pointer) {
                Some(p) => {
                    def.insert("output".into(), json!(p));
                }
                None => {
                    self.skip(
                        src,
                        t.pos,
                        format!("provider `{id}`: `transformResponse` not converted: only a path such as `json.choices[0].message.content` maps to evalgate's `output` (a JSON pointer); the output is the raw body"),
                    );
                }
            },
            None => {
                self.differs(
                    src,
                    pos,
                    format!("provider `{id}`: without `transformResponse` promptfoo parses a JSON body into the output; evalgate's `output: raw` (the default) is the body's text"),
                );
            }
        }
        for e in cfg {
            if !matches!(
                e.key.as_str(),
                "url"
                    | "method"
                    | "headers"
                    | "body"
                    | "transformResponse"
                    | "responseParser"
                    | "request"
            ) {
                self.skip(
                    src,
                    e.key_pos,
                    format!("provider `{id}`: `config.{}` not converted: evalgate's http type has no such setting", e.key),
                );
            }
        }
        Ok(def)
    }

    // -----------------------------------------------------------------
    // Prompts
    // -----------------------------------------------------------------

    /// (variant name, evalgate prompt, file shown, position)
    fn prompts(&mut self, src: &Src, node: &Node) -> Vec<(String, J, String, Pos)> {
        let mut out = Vec::new();
        let mut names = BTreeSet::new();
        let items: Vec<(Option<String>, &Node)> = match &node.value {
            Value::Seq(items) => items.iter().map(|i| (None, i)).collect(),
            Value::Str(_) => vec![(None, node)],
            // The legacy form: {"file://prompt.txt": label}
            Value::Map(entries) => entries
                .iter()
                .map(|e| (str_of(&e.value).map(str::to_string), &e.value))
                .collect(),
            _ => {
                self.error(
                    src,
                    node.pos,
                    format!("`prompts` must be a list, found {}", node.kind_name()),
                    "e.g. prompts: ['Translate to {{language}}: {{input}}']",
                );
                return out;
            }
        };
        let legacy_keys: Vec<String> = map_entries(node)
            .map(|e| e.iter().map(|x| x.key.clone()).collect())
            .unwrap_or_default();
        for (i, (label, item)) in items.into_iter().enumerate() {
            let (raw, label) = if let Some(k) = legacy_keys.get(i) {
                (k.clone(), label)
            } else {
                match &item.value {
                    Value::Str(s) => (s.clone(), None),
                    Value::Map(_) => {
                        let label = get(item, "label").and_then(str_of).map(str::to_string);
                        match get(item, "raw")
                            .or_else(|| get(item, "id"))
                            .and_then(str_of)
                        {
                            Some(r) => (r.to_string(), label),
                            None => {
                                self.skip(
                                    src,
                                    item.pos,
                                    "a prompt without `raw` or `id` not converted",
                                );
                                continue;
                            }
                        }
                    }
                    _ => {
                        self.error(
                            src,
                            item.pos,
                            format!(
                                "a prompt must be a string or a mapping, found {}",
                                item.kind_name()
                            ),
                            "a prompt is text, `file://path`, or {raw: …, label: …}",
                        );
                        continue;
                    }
                }
            };
            for (name, prompt, file, pos) in self.prompt(src, item.pos, &raw, label, i + 1) {
                let name = unique(&name, &mut names);
                out.push((name, prompt, file, pos));
            }
        }
        out
    }

    /// One promptfoo prompt (a text, or `file://`) as evalgate prompts.
    fn prompt(
        &mut self,
        src: &Src,
        pos: Pos,
        raw: &str,
        label: Option<String>,
        index: usize,
    ) -> Vec<(String, J, String, Pos)> {
        let Some(rel) = raw.strip_prefix("file://") else {
            let name = label
                .as_deref()
                .and_then(slug)
                .unwrap_or_else(|| format!("prompt{index}"));
            let converted = self.text_prompt(src, pos, raw, &name);
            return converted
                .map(|p| (name, p, src.name.clone(), pos))
                .into_iter()
                .collect();
        };
        let (rel, func) = match rel.rsplit_once(':') {
            Some((f, func)) if !func.contains('/') && !func.is_empty() && f.contains('.') => {
                (f, Some(func))
            }
            _ => (rel, None),
        };
        let ext = Path::new(rel)
            .extension()
            .and_then(|e| e.to_str())
            .unwrap_or("")
            .to_ascii_lowercase();
        if func.is_some() || matches!(ext.as_str(), "js" | "ts" | "mjs" | "cjs" | "py") {
            self.skip(src, pos, format!("prompt `{raw}` not converted: a prompt function (evalgate's prompts are templates)"));
            return Vec::new();
        }
        if rel.contains(['*', '?', '[']) {
            self.skip(
                src,
                pos,
                format!("prompt `{raw}` not converted: a glob; list the files one by one"),
            );
            return Vec::new();
        }
        if ext == "csv" || ext == "jsonl" {
            self.skip(
                src,
                pos,
                format!(
                    "prompt `{raw}` not converted: prompts from a {ext} file; list them inline"
                ),
            );
            return Vec::new();
        }
        let Some(file) = self.load(src, pos, rel, Kind::Suite) else {
            return Vec::new();
        };
        let stem = Path::new(rel)
            .file_stem()
            .and_then(|s| s.to_str())
            .and_then(slug)
            .unwrap_or_else(|| format!("prompt{index}"));
        let base = label.as_deref().and_then(slug).unwrap_or(stem);
        if matches!(ext.as_str(), "json" | "yaml" | "yml") {
            return self
                .chat_file(&file, &base)
                .map(|p| (base, p, file.name.clone(), Pos::new(1, 1)))
                .into_iter()
                .collect();
        }
        // Text (.txt, .md, .j2, …): prompts separated by lines of `---`.
        let mut out = Vec::new();
        let mut line = 1;
        let parts: Vec<(usize, String)> = {
            let mut parts = Vec::new();
            let mut cur = String::new();
            let mut start = 1;
            for l in file.text.split_inclusive('\n') {
                if l.trim_end() == "---" {
                    parts.push((start, std::mem::take(&mut cur)));
                    start = line + 1;
                } else {
                    cur.push_str(l);
                }
                line += 1;
            }
            parts.push((start, cur));
            parts
        };
        let many = parts.len() > 1;
        for (i, (start, text)) in parts.into_iter().enumerate() {
            let text = text.trim().to_string();
            if text.is_empty() {
                continue;
            }
            let name = if many {
                format!("{base}-{}", i + 1)
            } else {
                base.clone()
            };
            let p = Pos::new(start, 1);
            if let Some(prompt) = self.text_prompt(&file, p, &text, &name) {
                out.push((name, prompt, file.name.clone(), p));
            }
        }
        out
    }

    /// A text prompt: a chat array written as JSON text, or one user message.
    fn text_prompt(&mut self, src: &Src, pos: Pos, text: &str, name: &str) -> Option<J> {
        let trimmed = text.trim_start();
        if trimmed.starts_with('[') {
            if let Ok(J::Array(items)) = serde_json::from_str::<J>(text) {
                return self.messages(src, pos, &items, name);
            }
        }
        let t = self.template(src, pos, text, name)?;
        Some(J::String(t))
    }

    /// A chat-format prompt file: a JSON or YAML list of {role, content}.
    fn chat_file(&mut self, file: &Src, name: &str) -> Option<J> {
        match node::parse(&file.path, &file.text) {
            Ok(root) => match root.to_json() {
                J::Array(items) => self.messages(file, root.pos, &items, name),
                other => {
                    let _ = other;
                    self.skip(file, root.pos, format!("prompt `{name}` not converted: a chat prompt file holds a list of {{role, content}} messages"));
                    None
                }
            },
            Err(_) => {
                self.skip(
                    file,
                    Pos::new(1, 1),
                    format!("prompt `{name}` not converted: the file is not JSON/YAML before rendering (a template that renders into messages); evalgate's messages are fixed, each content a template"),
                );
                None
            }
        }
    }

    fn messages(&mut self, src: &Src, pos: Pos, items: &[J], name: &str) -> Option<J> {
        let mut out = Vec::new();
        for m in items {
            let role = m.get("role").and_then(J::as_str);
            let content = m.get("content").and_then(J::as_str);
            match (role, content) {
                (Some(r @ ("system" | "user" | "assistant")), Some(c)) => {
                    let c = self.template(src, pos, c, name)?;
                    out.push(json!({"role": r, "content": c}));
                }
                (Some(r), Some(_)) => {
                    self.skip(src, pos, format!("prompt `{name}` not converted: role `{r}` (evalgate's messages are system, user and assistant)"));
                    return None;
                }
                _ => {
                    self.skip(src, pos, format!("prompt `{name}` not converted: a message without text `content` (images and other parts are not supported)"));
                    return None;
                }
            }
        }
        if out.is_empty() {
            self.skip(
                src,
                pos,
                format!("prompt `{name}` not converted: no messages"),
            );
            return None;
        }
        Some(J::Array(out))
    }

    /// A Nunjucks template as minijinja (the same syntax for what prompts
    /// use); one minijinja cannot compile is reported and left out.
    fn template(&mut self, src: &Src, pos: Pos, text: &str, name: &str) -> Option<String> {
        if crate::template::is_template(text) {
            let env = crate::template::environment();
            if let Err(e) = crate::template::variables(&env, text) {
                self.skip(
                    src,
                    pos,
                    format!("prompt `{name}` not converted: minijinja cannot compile it: {e}"),
                );
                return None;
            }
        }
        Some(text.to_string())
    }

    // -----------------------------------------------------------------
    // Tests
    // -----------------------------------------------------------------

    fn tests(&mut self, src: &Src, node: &Node, cases: &mut Vec<Case>, ids: &mut BTreeSet<String>) {
        let items: Vec<&Node> = match &node.value {
            Value::Seq(items) => items.iter().collect(),
            Value::Str(_) => vec![node],
            _ => {
                self.error(
                    src,
                    node.pos,
                    format!(
                        "`tests` must be a list or a `file://` path, found {}",
                        node.kind_name()
                    ),
                    "e.g. tests: file://tests.csv, or a list of {vars, assert}",
                );
                return;
            }
        };
        let mut index = 0;
        for item in items {
            match &item.value {
                Value::Str(s) => match s.strip_prefix("file://") {
                    Some(rel) => self.tests_file(src, item.pos, rel, cases, ids, &mut index),
                    None => self.skip(src, item.pos, format!("tests `{s}` not converted: only `file://` test files (CSV, YAML, JSON) are read")),
                },
                Value::Map(_) => {
                    index += 1;
                    self.test(src, item, index, cases, ids);
                }
                _ => self.error(
                    src,
                    item.pos,
                    format!("a test must be a mapping, found {}", item.kind_name()),
                    "a test has `vars`, `assert` and an optional `description`",
                ),
            }
        }
    }

    fn tests_file(
        &mut self,
        src: &Src,
        pos: Pos,
        rel: &str,
        cases: &mut Vec<Case>,
        ids: &mut BTreeSet<String>,
        index: &mut usize,
    ) {
        let ext = Path::new(rel)
            .extension()
            .and_then(|e| e.to_str())
            .unwrap_or("")
            .to_ascii_lowercase();
        if rel.contains(['*', '?', '[']) {
            self.skip(
                src,
                pos,
                format!("tests `file://{rel}` not converted: a glob; list the files one by one"),
            );
            return;
        }
        match ext.as_str() {
            "csv" => {
                let Some(file) = self.load(src, pos, rel, Kind::Dataset) else {
                    return;
                };
                self.csv_tests(&file, cases, ids, index);
            }
            "yaml" | "yml" | "json" => {
                let Some(file) = self.load(src, pos, rel, Kind::Suite) else {
                    return;
                };
                let root = match node::parse(&file.path, &file.text) {
                    Ok(r) => r,
                    Err(d) => {
                        self.errors.extend(d);
                        return;
                    }
                };
                match &root.value {
                    Value::Seq(items) => {
                        for item in items {
                            if map_entries(item).is_some() {
                                *index += 1;
                                self.test(&file, item, *index, cases, ids);
                            } else {
                                self.error(&file, item.pos, format!("a test must be a mapping, found {}", item.kind_name()), "a test has `vars`, `assert` and an optional `description`");
                            }
                        }
                    }
                    _ => self.error(&file, root.pos, format!("a tests file must hold a list of tests, found {}", root.kind_name()), "each item has `vars`, `assert` and an optional `description`"),
                }
            }
            _ => self.skip(src, pos, format!("tests `file://{rel}` not converted: evalgate reads CSV, YAML and JSON test files")),
        }
    }

    fn test(
        &mut self,
        src: &Src,
        item: &Node,
        index: usize,
        cases: &mut Vec<Case>,
        ids: &mut BTreeSet<String>,
    ) {
        let description = get(item, "description")
            .and_then(str_of)
            .map(str::to_string);
        let graders =
            self.options_graders(src, get(item, "options"), &self.default_graders.clone());
        let vars = match get(item, "vars") {
            Some(v) => self.vars(src, v).unwrap_or_default(),
            None => Map::new(),
        };
        let mut checks = match get(item, "assert") {
            Some(a) => self.asserts(src, a, &graders),
            None => Vec::new(),
        };
        let given = match get(item, "assert").map(|a| &a.value) {
            Some(Value::Seq(items)) => items.len(),
            _ => 0,
        };
        let threshold = get(item, "threshold").and_then(number);
        for e in map_entries(item).unwrap_or_default() {
            match e.key.as_str() {
                "description" | "vars" | "assert" | "threshold" => {}
                "options" => self.options_notes(src, &e.value, "test"),
                "provider" | "providers" => self.skip(src, e.key_pos, format!("test `{}`: `{}` not converted: evalgate runs each case against the suite's provider (or each `--provider` of the run)", description.clone().unwrap_or_else(|| format!("#{index}")), e.key)),
                "metadata" => self.skip(src, e.key_pos, "test `metadata` not converted: evalgate's cases have `tags`"),
                other => self.skip(src, e.key_pos, format!("test `{other}` not converted: evalgate has no equivalent")),
            }
        }
        self.push_case(
            src,
            item.pos,
            description,
            vars,
            (&mut checks, given),
            threshold,
            index,
            cases,
            ids,
        );
    }

    /// Add the case(s) of one test; `checks` are the converted assertions
    /// of the `given` it had.
    #[allow(clippy::too_many_arguments)]
    fn push_case(
        &mut self,
        src: &Src,
        pos: Pos,
        description: Option<String>,
        vars: Map<String, J>,
        (checks, given): (&mut Vec<J>, usize),
        threshold: Option<f64>,
        index: usize,
        cases: &mut Vec<Case>,
        ids: &mut BTreeSet<String>,
    ) {
        let base = description
            .as_deref()
            .and_then(slug)
            .unwrap_or_else(|| format!("test-{index}"));
        let mut skip = None;
        if checks.is_empty() && given > 0 {
            // Passing on any answer would turn a test into a green case.
            skip = Some(
                "no promptfoo assertion of this test could be converted (IMPORT-NOTES.md)"
                    .to_string(),
            );
            self.skip(
                src,
                pos,
                format!("test `{base}`: none of its assertions converted: the case is `skip`ped (reported as skipped, never as a pass)"),
            );
        }
        if checks.is_empty() && !self.default_checks {
            checks.push(json!({"length": {"min_chars": 0}}));
            if skip.is_none() {
                self.any_answer = true;
            }
        }
        let combos = combinations(&vars);
        if combos.len() > MAX_COMBINATIONS {
            self.skip(src, pos, format!("test `{base}` not converted: its list variables expand to {} cases (at most {MAX_COMBINATIONS})", combos.len()));
            return;
        }
        let many = combos.len() > 1;
        if many {
            self.differs(src, pos, format!("test `{base}`: promptfoo runs a test once per value of a list variable; converted as {} cases `{base}-1`…", combos.len()));
        }
        for (i, v) in combos.into_iter().enumerate() {
            let id = if many {
                format!("{base}-{}", i + 1)
            } else {
                base.clone()
            };
            let id = unique(&id, ids);
            cases.push(Case {
                id,
                description: description.clone(),
                vars: v,
                checks: checks.clone(),
                threshold,
                skip: skip.clone(),
            });
        }
    }

    /// A test's vars: `file://` text files inlined.
    fn vars(&mut self, src: &Src, node: &Node) -> Option<Map<String, J>> {
        let Some(entries) = map_entries(node) else {
            match &node.value {
                Value::Str(s) if s.starts_with("file://") => {
                    self.skip(
                        src,
                        node.pos,
                        "`vars` from a file not converted: write the variables inline",
                    );
                }
                _ => self.error(
                    src,
                    node.pos,
                    format!("`vars` must be a mapping, found {}", node.kind_name()),
                    "e.g. vars: {language: French}",
                ),
            }
            return None;
        };
        let mut out = Map::new();
        for e in entries {
            let v = match &e.value.value {
                Value::Str(s) if s.starts_with("file://") => {
                    let rel = &s["file://".len()..];
                    let ext = Path::new(rel)
                        .extension()
                        .and_then(|x| x.to_str())
                        .unwrap_or("")
                        .to_ascii_lowercase();
                    if matches!(
                        ext.as_str(),
                        "js" | "ts"
                            | "py"
                            | "mjs"
                            | "cjs"
                            | "png"
                            | "jpg"
                            | "jpeg"
                            | "gif"
                            | "webp"
                            | "pdf"
                    ) || rel.contains(['*', '?'])
                    {
                        self.skip(src, e.value.pos, format!("var `{}` (`{s}`) not converted: evalgate's vars are plain values; kept as the text `{s}`", e.key));
                        J::String(s.clone())
                    } else {
                        match self.load(src, e.value.pos, rel, Kind::Suite) {
                            Some(f) => J::String(f.text),
                            None => continue,
                        }
                    }
                }
                _ => e.value.to_json(),
            };
            out.insert(e.key.clone(), v);
        }
        Some(out)
    }

    fn csv_tests(
        &mut self,
        file: &Src,
        cases: &mut Vec<Case>,
        ids: &mut BTreeSet<String>,
        index: &mut usize,
    ) {
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(true)
            .from_reader(file.text.as_bytes());
        let headers: Vec<String> = match reader.headers() {
            Ok(h) => h
                .iter()
                .map(|s| s.trim_start_matches('\u{feff}').to_string())
                .collect(),
            Err(e) => {
                self.error(
                    file,
                    Pos::new(1, 1),
                    format!("invalid CSV: {e}"),
                    "the first row names the columns",
                );
                return;
            }
        };
        for rec in reader.records() {
            let rec = match rec {
                Ok(r) => r,
                Err(e) => {
                    let line = e.position().map_or(1, |p| p.line() as usize);
                    self.error(
                        file,
                        Pos::new(line, 1),
                        format!("invalid CSV: {e}"),
                        "every row needs as many fields as the header; quote fields holding commas",
                    );
                    return;
                }
            };
            let line = rec.position().map_or(1, |p| p.line() as usize);
            let pos = Pos::new(line, 1);
            *index += 1;
            let mut vars = Map::new();
            let mut asserts = Vec::new();
            let mut description = None;
            let mut threshold = None;
            let mut metric = None;
            for (h, v) in headers.iter().zip(rec.iter()) {
                if h.starts_with("__expected") {
                    if !v.trim().is_empty() {
                        asserts.push(assertion_from_string(v));
                    }
                } else if h == "__description" {
                    description = Some(v.to_string()).filter(|d| !d.is_empty());
                } else if h == "__threshold" {
                    threshold = v.trim().parse::<f64>().ok();
                } else if h == "__metric" {
                    metric = Some(v.to_string()).filter(|m| !m.is_empty());
                } else if h.starts_with("__") {
                    self.skip(
                        file,
                        pos,
                        format!("column `{h}` not converted: evalgate has no equivalent"),
                    );
                } else {
                    vars.insert(h.clone(), J::String(v.to_string()));
                }
            }
            let graders = self.default_graders.clone();
            let mut checks = Vec::new();
            let given = asserts.len();
            for mut a in asserts {
                a.metric = metric.clone();
                if let Some(c) = self.assertion(file, pos, a, &graders) {
                    checks.push(c);
                }
            }
            self.push_case(
                file,
                pos,
                description,
                vars,
                (&mut checks, given),
                threshold,
                *index,
                cases,
                ids,
            );
        }
    }

    // -----------------------------------------------------------------
    // Assertions
    // -----------------------------------------------------------------

    fn asserts(&mut self, src: &Src, node: &Node, graders: &Graders) -> Vec<J> {
        let Value::Seq(items) = &node.value else {
            self.error(
                src,
                node.pos,
                format!("`assert` must be a list, found {}", node.kind_name()),
                "e.g. assert: [{type: contains, value: Paris}]",
            );
            return Vec::new();
        };
        let mut out = Vec::new();
        for item in items {
            let resolved;
            let item = match get(item, "$ref").and_then(str_of) {
                Some(r) => match r
                    .strip_prefix("#/assertionTemplates/")
                    .and_then(|n| self.templates.as_ref().and_then(|t| get(t, n)))
                {
                    Some(t) => {
                        resolved = t.clone();
                        &resolved
                    }
                    None => {
                        self.skip(src, item.pos, format!("assertion `$ref: {r}` not converted: only `#/assertionTemplates/NAME` of this file is resolved"));
                        continue;
                    }
                },
                None => item,
            };
            let Some(entries) = map_entries(item) else {
                self.error(
                    src,
                    item.pos,
                    format!("an assertion must be a mapping, found {}", item.kind_name()),
                    "e.g. - type: contains\n    value: Paris",
                );
                continue;
            };
            let Some(ty) = get(item, "type").and_then(str_of) else {
                self.error(
                    src,
                    item.pos,
                    "an assertion without `type`",
                    "e.g. type: contains",
                );
                continue;
            };
            let mut a = Assert {
                ty: ty.to_string(),
                value: get(item, "value").map(Node::to_json),
                threshold: get(item, "threshold").and_then(number),
                weight: get(item, "weight").and_then(number),
                metric: get(item, "metric").and_then(str_of).map(str::to_string),
                provider: get(item, "provider").map(Node::to_json),
                dropped: Vec::new(),
                csv: false,
            };
            for e in entries {
                if !matches!(
                    e.key.as_str(),
                    "type" | "value" | "threshold" | "weight" | "metric" | "provider"
                ) {
                    a.dropped.push(e.key.clone());
                }
            }
            if let Some(c) = self.assertion(src, item.pos, a, graders) {
                out.push(c);
            }
        }
        out
    }

    /// One assertion as an evalgate check, or a note saying why not.
    fn assertion(&mut self, src: &Src, pos: Pos, a: Assert, graders: &Graders) -> Option<J> {
        let (negate, base) = match a.ty.strip_prefix("not-") {
            Some(b) => (true, b.to_string()),
            None => (false, a.ty.clone()),
        };
        let ty = a.ty.clone();
        let skip = |conv: &mut Conv, why: &str| {
            conv.skip(src, pos, format!("assert `{ty}` not converted: {why}"));
            None
        };
        let text_value = |v: &Option<J>| -> Option<String> {
            match v {
                Some(J::String(s)) => Some(s.clone()),
                Some(J::Number(n)) => Some(n.to_string()),
                Some(J::Bool(b)) => Some(b.to_string()),
                _ => None,
            }
        };
        if let Some(J::String(s)) = &a.value {
            if s.starts_with("file://")
                && !matches!(
                    base.as_str(),
                    "is-json" | "contains-json" | "javascript" | "python"
                )
            {
                return skip(self, "a `file://` value (write the value inline)");
            }
        }
        let (key, arg): (&str, J) = match base.as_str() {
            "equals" => match &a.value {
                Some(J::Object(_)) | Some(J::Array(_)) => (
                    "json_path",
                    json!({"path": "$", "equals": a.value.clone().unwrap_or(J::Null)}),
                ),
                v => match text_value(v) {
                    Some(s) => ("equals", J::String(s)),
                    None => return skip(self, "no `value`"),
                },
            },
            "contains" | "icontains" | "starts-with" | "ends-with" => {
                let Some(s) = text_value(&a.value) else {
                    return skip(self, "no text `value`");
                };
                let k = match base.as_str() {
                    "contains" => "contains",
                    "icontains" => "icontains",
                    "starts-with" => "starts_with",
                    _ => "ends_with",
                };
                (k, J::String(s))
            }
            "contains-any" | "contains-all" | "icontains-any" | "icontains-all" => {
                let list: Vec<J> = match &a.value {
                    Some(J::Array(items)) => items
                        .iter()
                        .filter_map(|i| text_value(&Some(i.clone())).map(J::String))
                        .collect(),
                    Some(J::String(s)) => split_commas(s).into_iter().map(J::String).collect(),
                    _ => Vec::new(),
                };
                if list.is_empty() {
                    return skip(self, "no values");
                }
                let k = if base.starts_with('i') { "icontains" } else { "contains" };
                let mode = if base.ends_with("any") { "any" } else { "all" };
                if mode == "all" && a.threshold.is_none() {
                    // Partial credit shows only under a case threshold.
                }
                (k, json!({ mode: list }))
            }
            "regex" => {
                let Some(s) = text_value(&a.value) else {
                    return skip(self, "no `value`");
                };
                if let Err(e) = regex::Regex::new(&s) {
                    let why = format!(
                        "the JavaScript regular expression is not valid in evalgate's (Rust) syntax, which has no look-around or backreferences: {}",
                        crate::util::text::regex_error(&e)
                    );
                    return skip(self, &why);
                }
                ("regex", J::String(s))
            }
            "is-json" | "contains-json" => {
                let extract = base == "contains-json";
                let schema = match &a.value {
                    None | Some(J::Null) => None,
                    Some(J::String(s)) if s.trim().is_empty() => None,
                    Some(J::String(s)) if s.starts_with("file://") => {
                        let rel = &s["file://".len()..];
                        let file = self.load(src, pos, rel, Kind::Schema)?;
                        match serde_json::from_str::<J>(&file.text)
                            .ok()
                            .or_else(|| node::parse(&file.path, &file.text).ok().map(|n| n.to_json()))
                        {
                            Some(v) => Some(v),
                            None => return skip(self, "the schema file is neither JSON nor YAML"),
                        }
                    }
                    Some(v @ J::Object(_)) => Some(v.clone()),
                    Some(J::String(s)) => match serde_json::from_str::<J>(s) {
                        Ok(v @ J::Object(_)) => Some(v),
                        _ => return skip(self, "the value is not a JSON schema"),
                    },
                    Some(_) => return skip(self, "the value is not a JSON schema"),
                };
                if extract {
                    self.differs(src, pos, format!("assert `{ty}`: evalgate reads the first JSON value in the answer (`extract: true`); promptfoo passes if any JSON object in it validates"));
                }
                match schema {
                    Some(s) => {
                        let mut m = Map::new();
                        m.insert("schema".into(), s);
                        if extract {
                            m.insert("extract".into(), J::Bool(true));
                        }
                        ("json_schema", J::Object(m))
                    }
                    None if extract => ("is_json", json!({"extract": true})),
                    None => ("is_json", J::Bool(true)),
                }
            }
            "llm-rubric" | "model-graded-closedqa" => {
                let Some(rubric) = text_value(&a.value) else {
                    return skip(self, "the rubric is not text");
                };
                if let Some(t) = a.threshold {
                    self.differs(src, pos, format!("assert `{ty}`: `threshold: {t}` (a score from 0 to 1) not converted: evalgate's judge grades pass/fail here"));
                }
                let mut m = Map::new();
                m.insert("rubric".into(), J::String(rubric));
                self.grader(src, pos, a.provider.as_ref(), graders, &mut m)?;
                ("judge", J::Object(m))
            }
            "factuality" => {
                let Some(reference) = text_value(&a.value) else {
                    return skip(self, "the reference is not text");
                };
                self.differs(src, pos, format!("assert `{ty}`: evalgate's reference judge fails an answer that leaves out a fact of the reference; promptfoo's factuality passes a consistent subset"));
                let mut m = Map::new();
                m.insert("reference".into(), J::String(reference));
                self.grader(src, pos, a.provider.as_ref(), graders, &mut m)?;
                ("judge", J::Object(m))
            }
            "similar" | "similar:cosine" => {
                let Some(value) = text_value(&a.value) else {
                    return skip(self, "a list of values (any of them): evalgate's `similar` takes one value");
                };
                let min = a.threshold.unwrap_or(if a.csv { CSV_SIMILAR_THRESHOLD } else { SIMILAR_THRESHOLD });
                let embedder = self.embedder(src, pos, a.provider.as_ref(), graders)?;
                ("similar", json!({"value": value, "min": num(min), "provider": embedder}))
            }
            "latency" => {
                let Some(t) = a.threshold.filter(|t| *t >= 0.0) else {
                    return skip(self, "no `threshold` (milliseconds)");
                };
                self.differs(src, pos, format!("assert `{ty}`: evalgate's `max_latency_ms` judges the try that answered (retries and their waits are not counted)"));
                ("max_latency_ms", json!(t.round() as u64))
            }
            "levenshtein" => {
                let Some(s) = text_value(&a.value) else {
                    return skip(self, "no `value`");
                };
                let max = a.threshold.unwrap_or(5.0).max(0.0).round() as u64;
                ("levenshtein", json!({"value": s, "max_distance": max}))
            }
            "is-refusal" => ("refusal", J::Bool(true)),
            "word-count" => {
                let bounds = match &a.value {
                    Some(J::Number(n)) => n.as_u64().map(|n| json!({"min_words": n, "max_words": n})),
                    Some(J::Object(m)) => {
                        let mut b = Map::new();
                        if let Some(v) = m.get("min").and_then(J::as_u64) {
                            b.insert("min_words".into(), json!(v));
                        }
                        if let Some(v) = m.get("max").and_then(J::as_u64) {
                            b.insert("max_words".into(), json!(v));
                        }
                        (!b.is_empty()).then_some(J::Object(b))
                    }
                    _ => None,
                };
                match bounds {
                    Some(b) => ("length", b),
                    None => return skip(self, "the value is neither a number nor {min, max}"),
                }
            }
            "cost" => return skip(self, "evalgate has no per-answer cost check; `gate.max_cost` in evalgate.yaml is a budget for the whole run (README \"Cost, budgets and sampling\")"),
            "javascript" => return skip(self, "evalgate runs no JavaScript in the suite; write the rule as a `script` check, a program that reads the answer as JSON on stdin (README \"Code checks\")"),
            "python" => return skip(self, "promptfoo evaluates the code inside its own Python wrapper (with `output` and `context`, a number being a score compared to `threshold`); evalgate's `script` check runs a whole program with a different input and answer, and a crash is an error there, a failure here: rewrite it as a `script` check (README \"Code checks\")"),
            "assert-set" => return skip(self, "evalgate has no assertion groups; a case's `threshold` weighs all its checks"),
            _ => return skip(self, "evalgate has no such check"),
        };
        let mut check = Map::new();
        check.insert(key.to_string(), arg);
        if negate {
            check.insert("not".into(), J::Bool(true));
        }
        if let Some(w) = a.weight {
            if w >= 0.0 {
                check.insert("weight".into(), num(w));
            }
        }
        if let Some(m) = a.metric {
            check.insert("name".into(), J::String(m));
        }
        for k in a.dropped {
            let why = match k.as_str() {
                "transform" => {
                    "a JavaScript transform: the check sees the answer as the provider returned it"
                }
                "rubricPrompt" => {
                    "evalgate's judge has its own prompts (`judge_prompt:` can replace one)"
                }
                "config" => "configuration for a script assertion",
                _ => "evalgate has no equivalent",
            };
            self.differs(
                src,
                pos,
                format!("assert `{ty}`: `{k}` not converted: {why}"),
            );
        }
        Some(J::Object(check))
    }

    /// The grader of a judge check: the default one (`judge_provider`), or
    /// `provider:` on the check when it names another.
    fn grader(
        &mut self,
        src: &Src,
        pos: Pos,
        own: Option<&J>,
        graders: &Graders,
        check: &mut Map<String, J>,
    ) -> Option<()> {
        let spec = own.or(graders.grader.as_ref()).cloned();
        let is_default = spec.is_none() || spec == self.default_graders.grader;
        let spec = spec.unwrap_or_else(|| J::String(DEFAULT_GRADER.into()));
        let name = match self.graded_provider(src, pos, &spec, "grader") {
            Ok(n) => n,
            Err(why) => {
                self.skip(
                    src,
                    pos,
                    format!(
                        "grader `{}` not converted: {why}; the judge check is left out",
                        spec_id(&spec)
                    ),
                );
                return None;
            }
        };
        if is_default {
            if self.judge_provider.is_none() {
                self.judge_provider = Some(name.clone());
                if self.default_graders.grader.is_none() {
                    self.notes.push(Note {
                        kind: NoteKind::Differs,
                        file: src.name.clone(),
                        line: None,
                        text: format!("no grader is named: promptfoo picks one from the credentials in the environment; the judge checks use `{DEFAULT_GRADER}` (promptfoo's choice with an OpenAI key), provider `{name}`"),
                    });
                }
            }
            if self.judge_provider.as_deref() != Some(name.as_str()) {
                check.insert("provider".into(), J::String(name));
            }
        } else {
            check.insert("provider".into(), J::String(name));
        }
        Some(())
    }

    fn embedder(
        &mut self,
        src: &Src,
        pos: Pos,
        own: Option<&J>,
        graders: &Graders,
    ) -> Option<String> {
        let spec = own.or(graders.embedder.as_ref()).cloned();
        let model = match &spec {
            None => {
                if !self.names.iter().any(|n| n.starts_with("embedder")) {
                    self.notes.push(Note {
                        kind: NoteKind::Differs,
                        file: src.name.clone(),
                        line: None,
                        text: format!("no embedding provider is named: the `similar` checks use OpenAI's `{DEFAULT_EMBEDDER}` (promptfoo's default), provider `embedder`"),
                    });
                }
                DEFAULT_EMBEDDER.to_string()
            }
            Some(s) => {
                let id = spec_id(s);
                match id.split(':').collect::<Vec<_>>().as_slice() {
                    ["openai", "embedding" | "embeddings", m] | ["openai", m] => m.to_string(),
                    _ => {
                        self.skip(src, pos, format!("embedding provider `{id}` not converted: evalgate's `similar` needs an `openai` provider with `embeddings_model`; the check is left out"));
                        return None;
                    }
                }
            }
        };
        let cfg: Vec<node::Entry> = Vec::new();
        let refs: Vec<&node::Entry> = cfg.iter().collect();
        let mut def = Map::new();
        def.insert("type".into(), json!("openai"));
        def.insert("base_url".into(), json!(self.openai_base_url(src, &refs)));
        def.insert("embeddings_model".into(), json!(model));
        def.insert("api_key_env".into(), json!("OPENAI_API_KEY"));
        Some(self.register(def, "embedder"))
    }

    /// A grader's provider, registered once per distinct definition.
    fn graded_provider(
        &mut self,
        src: &Src,
        pos: Pos,
        spec: &J,
        base: &str,
    ) -> Result<String, String> {
        let id = spec_id(spec);
        let config_node = spec.get("config").map(|c| json_to_node(c, pos));
        let def = self.provider(src, pos, &id, config_node.as_ref())?;
        Ok(self.register(def, base))
    }

    fn register(&mut self, def: Map<String, J>, base: &str) -> String {
        if let Some((name, _)) = self
            .providers
            .iter()
            .find(|(n, d)| d == &def && !self.targets.contains(n))
        {
            return name.clone();
        }
        let name = unique(base, &mut self.names);
        self.providers.push((name.clone(), def));
        name
    }
}

/// Variables the prompts read that some case does not set, with the value
/// `defaults.vars` gets (the literal of a `default` filter on it, else "")
/// and the note saying so.
fn unset_vars(
    prompts: &[(String, J, String, Pos)],
    cases: &[Case],
    default_vars: &Map<String, J>,
) -> Vec<(String, J, String)> {
    let env = crate::template::environment();
    let texts: Vec<String> = prompts
        .iter()
        .flat_map(|(_, p, _, _)| prompt_texts(p))
        .collect();
    let mut used = BTreeSet::new();
    for t in &texts {
        if let Ok(vars) = crate::template::variables(&env, t) {
            used.extend(vars);
        }
    }
    let mut out = Vec::new();
    for v in used {
        if default_vars.contains_key(&v) {
            continue;
        }
        let missing = cases.iter().filter(|c| !c.vars.contains_key(&v)).count();
        if missing == 0 {
            continue;
        }
        let plural = crate::util::fmt::plural(missing);
        match texts.iter().find_map(|t| default_literal(t, &v)) {
            Some(d) => {
                let text = format!(
                    "`{{{{{v}}}}}` is read by a prompt but not set by {missing} test{plural}: evalgate refuses undefined variables, so `defaults.vars` sets it to {d} (the value of its `default` filter)"
                );
                out.push((v, d, text));
            }
            None => {
                let text = format!(
                    "`{{{{{v}}}}}` is read by a prompt but not set by {missing} test{plural}: promptfoo renders it as empty text, evalgate refuses undefined variables, so `defaults.vars` sets it to \"\""
                );
                out.push((v, J::String(String::new()), text));
            }
        }
    }
    out
}

/// The literal of a `{{ v | default('x') }}` in `text`, as JSON.
fn default_literal(text: &str, v: &str) -> Option<J> {
    let re = regex::Regex::new(&format!(
        r#"\b{}\s*\|\s*(?:default|d)\(\s*(?:'([^']*)'|"([^"]*)"|(-?\d+(?:\.\d+)?))\s*\)"#,
        regex::escape(v)
    ))
    .ok()?;
    let c = re.captures(text)?;
    if let Some(s) = c.get(1).or_else(|| c.get(2)) {
        return Some(J::String(s.as_str().to_string()));
    }
    serde_json::from_str(c.get(3)?.as_str()).ok()
}

/// A number as JSON: an integer when it is one (`2`, not `2.0`).
fn num(f: f64) -> J {
    if f.fract() == 0.0 && f.abs() < 1e15 {
        json!(f as i64)
    } else {
        json!(f)
    }
}

/// The id of a provider spec (a string or {id: …}).
fn spec_id(spec: &J) -> String {
    match spec {
        J::String(s) => s.clone(),
        other => other
            .get("id")
            .and_then(J::as_str)
            .unwrap_or("")
            .to_string(),
    }
}

/// A JSON value as a node at `pos` (a grader's config given inline).
fn json_to_node(v: &J, pos: Pos) -> Node {
    let value = match v {
        J::Null => Value::Null,
        J::Bool(b) => Value::Bool(*b),
        J::Number(n) => match n.as_i64() {
            Some(i) => Value::Int(i),
            None => Value::Float(n.as_f64().unwrap_or(0.0)),
        },
        J::String(s) => Value::Str(s.clone()),
        J::Array(a) => Value::Seq(a.iter().map(|x| json_to_node(x, pos)).collect()),
        J::Object(m) => Value::Map(
            m.iter()
                .map(|(k, x)| node::Entry {
                    key: k.clone(),
                    key_pos: pos,
                    value: json_to_node(x, pos),
                })
                .collect(),
        ),
    };
    Node { value, pos }
}

/// A provider's name from its id: the model (`openai:chat:gpt-4.1` → `gpt-4.1`),
/// or the host of an HTTP endpoint.
fn provider_base_name(id: &str) -> Option<String> {
    if id.starts_with("http://") || id.starts_with("https://") {
        let host = id.split("://").nth(1)?.split(['/', ':', '?']).next()?;
        return slug(host);
    }
    if id == "http" || id == "https" {
        return Some("http".into());
    }
    slug(id.rsplit(':').next()?)
}

/// Every string holding template syntax in a check's arguments.
fn template_strings(v: &J, out: &mut Vec<String>) {
    match v {
        J::String(s) if crate::template::is_template(s) => out.push(s.clone()),
        J::Array(a) => a.iter().for_each(|x| template_strings(x, out)),
        J::Object(m) => m.values().for_each(|x| template_strings(x, out)),
        _ => {}
    }
}

/// The texts of an evalgate prompt (a string or a list of messages).
fn prompt_texts(p: &J) -> Vec<String> {
    match p {
        J::String(s) => vec![s.clone()],
        J::Array(items) => items
            .iter()
            .filter_map(|m| m.get("content").and_then(J::as_str).map(str::to_string))
            .collect(),
        _ => Vec::new(),
    }
}

/// An http body: `{{ name }}` of a test variable becomes `{{ vars.name }}`
/// (promptfoo exposes the vars at the top level; evalgate under `vars`).
fn http_body(v: &J) -> J {
    match v {
        J::String(s) => {
            let s = env_refs_to_dollar(s);
            match regex::Regex::new(r"\{\{(-?)(\s*)([A-Za-z_][A-Za-z0-9_]*)") {
                Ok(re) => J::String(
                    re.replace_all(&s, |c: &regex::Captures<'_>| {
                        let name = &c[3];
                        if matches!(name, "prompt" | "messages" | "vars" | "case" | "env") {
                            c[0].to_string()
                        } else {
                            format!("{{{{{}{}vars.{name}", &c[1], &c[2])
                        }
                    })
                    .into_owned(),
                ),
                Err(_) => J::String(s),
            }
        }
        J::Array(a) => J::Array(a.iter().map(http_body).collect()),
        J::Object(m) => J::Object(m.iter().map(|(k, x)| (k.clone(), http_body(x))).collect()),
        other => other.clone(),
    }
}

/// `json.choices[0].message.content` (a promptfoo `transformResponse` path)
/// as the JSON pointer `/choices/0/message/content`; None for anything else.
fn js_path_to_pointer(expr: &str) -> Option<String> {
    let e = expr.trim().trim_end_matches(';');
    let rest = e.strip_prefix("json")?;
    let mut out = String::new();
    let mut chars = rest.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '.' => {
                let mut name = String::new();
                while let Some(&n) = chars.peek() {
                    if n.is_ascii_alphanumeric() || n == '_' || n == '$' {
                        name.push(n);
                        chars.next();
                    } else {
                        break;
                    }
                }
                if name.is_empty() {
                    return None;
                }
                out.push('/');
                out.push_str(&name.replace('~', "~0").replace('/', "~1"));
            }
            '[' => {
                let mut inner = String::new();
                loop {
                    match chars.next()? {
                        ']' => break,
                        ch => inner.push(ch),
                    }
                }
                let inner = inner.trim();
                let key = if inner.chars().all(|d| d.is_ascii_digit()) && !inner.is_empty() {
                    inner.to_string()
                } else if (inner.starts_with('"') && inner.ends_with('"')
                    || inner.starts_with('\'') && inner.ends_with('\''))
                    && inner.len() >= 2
                {
                    inner[1..inner.len() - 1].to_string()
                } else {
                    return None;
                };
                out.push('/');
                out.push_str(&key.replace('~', "~0").replace('/', "~1"));
            }
            _ => return None,
        }
    }
    (!out.is_empty()).then_some(out)
}

/// Comma-separated values, double quotes keeping commas (promptfoo's rule
/// for a string given to contains-any/-all).
fn split_commas(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    for c in s.chars() {
        match c {
            '"' => quoted = !quoted,
            ',' if !quoted => out.push(std::mem::take(&mut cur)),
            c => cur.push(c),
        }
    }
    out.push(cur);
    out.into_iter()
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
        .collect()
}

/// The tests one test's list variables make: one per combination of the
/// values of its lists of scalars (as promptfoo runs them).
fn combinations(vars: &Map<String, J>) -> Vec<Map<String, J>> {
    let mut combos = vec![Map::new()];
    for (k, v) in vars {
        let values: Vec<J> = match v {
            J::Array(items)
                if !items.is_empty() && items.iter().all(|i| !i.is_object() && !i.is_array()) =>
            {
                items.clone()
            }
            other => vec![other.clone()],
        };
        let mut next = Vec::with_capacity(combos.len() * values.len());
        for c in &combos {
            for val in &values {
                let mut m = c.clone();
                m.insert(k.clone(), val.clone());
                next.push(m);
            }
            if next.len() > MAX_COMBINATIONS {
                break;
            }
        }
        combos = next;
        if combos.len() > MAX_COMBINATIONS {
            break;
        }
    }
    combos
}

/// An `__expected` cell of a CSV test as an assertion (promptfoo's rules:
/// `fn:`/`javascript:`, `grade:`/`llm-rubric:`, `python:`, `file://…`,
/// `[not-]type[(threshold)][:value]`, else `equals`).
fn assertion_from_string(expected: &str) -> Assert {
    let mk = |ty: &str, value: Option<J>, threshold: Option<f64>| Assert {
        ty: ty.to_string(),
        value,
        threshold,
        weight: None,
        metric: None,
        provider: None,
        dropped: Vec::new(),
        csv: true,
    };
    for p in ["javascript:", "fn:", "eval:"] {
        if let Some(rest) = expected.strip_prefix(p) {
            return mk("javascript", Some(J::String(rest.trim().into())), None);
        }
    }
    for p in ["grade:", "llm-rubric:"] {
        if let Some(rest) = expected.strip_prefix(p) {
            return mk("llm-rubric", Some(J::String(rest.into())), None);
        }
    }
    if let Some(rest) = expected.strip_prefix("python:") {
        return mk("python", Some(J::String(rest.trim().into())), None);
    }
    if let Some(rest) = expected.strip_prefix("file://") {
        let ty = if rest.ends_with(".py") || rest.contains(".py:") {
            "python"
        } else {
            "javascript"
        };
        return mk(ty, Some(J::String(rest.trim().into())), None);
    }
    // Compiled once: a CSV file has a cell per row.
    static EXPECTED: std::sync::LazyLock<Option<regex::Regex>> = std::sync::LazyLock::new(|| {
        let types = BASE_TYPES.join("|");
        regex::Regex::new(&format!(
            r"^(not-)?({types})(?:\((\d+(?:\.\d+)?)\))?(?::([\s\S]*))?$"
        ))
        .ok()
    });
    if let Some(c) = EXPECTED.as_ref().and_then(|re| re.captures(expected)) {
        let not = c.get(1).is_some();
        let ty = &c[2];
        let full = if not {
            format!("not-{ty}")
        } else {
            ty.to_string()
        };
        let threshold = c.get(3).and_then(|t| t.as_str().parse::<f64>().ok());
        let value = c.get(4).map(|v| v.as_str().to_string());
        let value = match ty {
            "contains-all" | "contains-any" | "icontains-all" | "icontains-any" => value.map(|v| {
                J::Array(
                    v.split(',')
                        .map(|s| J::String(s.trim().to_string()))
                        .collect(),
                )
            }),
            _ => value.map(J::String),
        };
        let threshold = match ty {
            "similar" => Some(threshold.unwrap_or(CSV_SIMILAR_THRESHOLD)),
            _ => threshold,
        };
        return mk(&full, value, threshold);
    }
    mk("equals", Some(J::String(expected.to_string())), None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transform_paths_become_pointers() {
        assert_eq!(
            js_path_to_pointer("json.choices[0].message.content").as_deref(),
            Some("/choices/0/message/content")
        );
        assert_eq!(
            js_path_to_pointer("json['a/b'].c").as_deref(),
            Some("/a~1b/c")
        );
        assert_eq!(
            js_path_to_pointer("json.output;").as_deref(),
            Some("/output")
        );
        assert_eq!(js_path_to_pointer("json.map(x => x)"), None);
        assert_eq!(js_path_to_pointer("data.text"), None);
        assert_eq!(js_path_to_pointer("json"), None);
    }

    #[test]
    fn body_vars_move_under_vars() {
        let b = http_body(
            &json!({"prompt": "{{prompt}}", "model": "{{ model }}", "k": "{{env.KEY}}", "n": [1, "{{x | upper}}"]}),
        );
        assert_eq!(
            b,
            json!({"prompt": "{{prompt}}", "model": "{{ vars.model }}", "k": "${KEY}", "n": [1, "{{vars.x | upper}}"]})
        );
    }

    #[test]
    fn csv_expectations() {
        let a = assertion_from_string("icontains:bonjour");
        assert_eq!(
            (a.ty.as_str(), a.value),
            ("icontains", Some(json!("bonjour")))
        );
        let a = assertion_from_string("not-contains-any:a, b");
        assert_eq!(
            (a.ty.as_str(), a.value),
            ("not-contains-any", Some(json!(["a", "b"])))
        );
        let a = assertion_from_string("similar(0.9):hello");
        assert_eq!((a.ty.as_str(), a.threshold), ("similar", Some(0.9)));
        let a = assertion_from_string("similar:hello");
        assert_eq!(a.threshold, Some(0.8));
        assert_eq!(
            assertion_from_string("fn:output.length > 1").ty,
            "javascript"
        );
        assert_eq!(assertion_from_string("grade:is polite").ty, "llm-rubric");
        assert_eq!(assertion_from_string("is-json").ty, "is-json");
        let a = assertion_from_string("Just text: here");
        assert_eq!(
            (a.ty.as_str(), a.value),
            ("equals", Some(json!("Just text: here")))
        );
    }

    #[test]
    fn list_vars_expand() {
        let m: Map<String, J> = serde_json::from_value(
            json!({"a": ["x", "y"], "b": ["1", "2"], "c": "z", "msgs": [{"role": "user"}]}),
        )
        .unwrap();
        let c = combinations(&m);
        assert_eq!(c.len(), 4);
        assert_eq!(c[3]["a"], json!("y"));
        assert_eq!(c[3]["b"], json!("2"));
        assert_eq!(c[0]["msgs"], json!([{"role": "user"}]));
        assert_eq!(split_commas("a, \"b,c\" ,d"), vec!["a", "b,c", "d"]);
    }
}

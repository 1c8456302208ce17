//! Suite files: a prompt template, defaults and cases (inline or from a dataset).
//!
//! ```yaml
//! name: capitals
//! description: Capital cities
//! tags: [smoke]
//! provider: mock
//! defaults:
//!   vars: {style: short}
//!   checks: [{length: {max_words: 30}}]
//!   timeout: 10s
//!   repeat: 1
//! prompt:
//!   system: "You answer in a {{ style }} sentence."
//!   user: "What is the capital of {{ country }}?"
//! cases:
//!   - id: france
//!     vars: {country: France}
//!     checks: [{contains: Paris}]
//! cases_from:
//!   path: fixtures/datasets/capitals.csv
//!   expected_column: capital
//!   checks: [{icontains: "{{ expected }}"}]
//! ```

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use minijinja::Environment;

use crate::check::{self, CheckSpec};
use crate::config::dataset::{self, Mapping, Rows};
use crate::config::decode::{duration, Ctx, Fields};
use crate::config::node::{self, Node, Value};
use crate::error::{did_you_mean, display_path, Diagnostic, Pos};
use crate::template;

pub type Vars = serde_json::Map<String, serde_json::Value>;

const SUITE_KEYS: &[&str] = &[
    "name",
    "description",
    "tags",
    "provider",
    "defaults",
    "prompt",
    "cases",
    "cases_from",
];
const DEFAULT_KEYS: &[&str] = &[
    "vars",
    "checks",
    "timeout",
    "repeat",
    "min_passes",
    "threshold",
    "golden",
];
const CASE_KEYS: &[&str] = &[
    "id",
    "description",
    "vars",
    "prompt",
    "checks",
    "tags",
    "skip",
    "timeout",
    "repeat",
    "min_passes",
    "threshold",
];
const DATASET_KEYS: &[&str] = &[
    "path",
    "id_column",
    "expected_column",
    "checks",
    "tags",
    "timeout",
    "repeat",
    "min_passes",
    "threshold",
];
/// Most dataset row errors reported per file before giving up on it.
const MAX_ROW_ERRORS: usize = 20;
/// Default per-attempt timeout.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// A prompt: rendered messages, each a named template in the shared environment.
#[derive(Debug, Clone, PartialEq)]
pub struct Prompt {
    /// (role, template name, template source)
    pub messages: Vec<(String, String, String)>,
    pub pos: Pos,
    /// Variables the messages read (computed once).
    pub variables: BTreeSet<String>,
}

impl Prompt {
    /// Render every message with `vars`.
    pub fn render(
        &self,
        env: &Environment<'_>,
        vars: &minijinja::Value,
    ) -> Result<Vec<crate::provider::Message>, String> {
        self.messages
            .iter()
            .map(|(role, name, _)| {
                let t = env.get_template(name).map_err(|e| template::describe(&e))?;
                let content = t.render(vars).map_err(|e| template::describe(&e))?;
                Ok(crate::provider::Message {
                    role: role.clone(),
                    content,
                })
            })
            .collect()
    }
}

/// Per-case execution settings (from defaults, overridable per case).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Settings {
    pub repeat: u32,
    /// Passing repeats needed (default: all).
    pub min_passes: Option<u32>,
    /// Pass on weighted score >= threshold instead of all checks passing.
    pub threshold: Option<f64>,
    pub timeout: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            repeat: 1,
            min_passes: None,
            threshold: None,
            timeout: DEFAULT_TIMEOUT,
        }
    }
}

impl Settings {
    pub fn min_passes(&self) -> u32 {
        self.min_passes.unwrap_or(self.repeat)
    }
}

/// One case, with defaults already merged in.
#[derive(Debug)]
pub struct CaseDef {
    pub id: String,
    pub description: Option<String>,
    pub vars: Vars,
    /// Overrides the suite prompt.
    pub prompt: Option<Arc<Prompt>>,
    pub checks: Vec<Arc<CheckSpec>>,
    /// Case tags plus suite tags.
    pub tags: Vec<String>,
    pub skip: Option<String>,
    pub settings: Settings,
    /// Where the case is defined (`file:line`).
    pub source: String,
}

/// `cases_from`: cases streamed from a dataset file.
#[derive(Debug)]
pub struct Dataset {
    pub path: PathBuf,
    pub mapping: Mapping,
    pub checks: Vec<Arc<CheckSpec>>,
    pub tags: Vec<String>,
    pub settings: Settings,
    pub rows: usize,
}

#[derive(Debug)]
pub struct Suite {
    pub name: String,
    pub file: PathBuf,
    pub description: Option<String>,
    pub tags: Vec<String>,
    pub provider: Option<(String, Pos)>,
    pub prompt: Option<Arc<Prompt>>,
    pub default_vars: Vars,
    pub cases: Vec<Arc<CaseDef>>,
    pub dataset: Option<Dataset>,
}

impl Suite {
    /// Number of cases (inline and dataset rows).
    pub fn len(&self) -> usize {
        self.cases.len() + self.dataset.as_ref().map_or(0, |d| d.rows)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Iterate every case: inline ones first, then dataset rows (streamed).
    pub fn iter_cases(&self) -> Result<CaseIter<'_>, String> {
        let rows = match &self.dataset {
            Some(d) => Some(Rows::open(&d.path, &d.mapping)?),
            None => None,
        };
        Ok(CaseIter {
            suite: self,
            inline: 0,
            rows,
        })
    }

    fn dataset_case(&self, d: &Dataset, row: dataset::Row) -> CaseDef {
        let mut vars = self.default_vars.clone();
        vars.extend(row.vars);
        CaseDef {
            id: row.id,
            description: None,
            vars,
            prompt: None,
            checks: d.checks.clone(),
            tags: d.tags.clone(),
            skip: None,
            settings: d.settings,
            source: format!("{}:{}", display_path(&d.path), row.line),
        }
    }
}

/// Streams a suite's cases.
pub struct CaseIter<'a> {
    suite: &'a Suite,
    inline: usize,
    rows: Option<Rows>,
}

impl Iterator for CaseIter<'_> {
    /// Dataset rows are re-read at run time; a row that became unreadable since
    /// validation is reported as an error string.
    type Item = Result<Arc<CaseDef>, String>;

    fn next(&mut self) -> Option<Self::Item> {
        if let Some(c) = self.suite.cases.get(self.inline) {
            self.inline += 1;
            return Some(Ok(c.clone()));
        }
        let d = self.suite.dataset.as_ref()?;
        let row = self.rows.as_mut()?.next()?;
        Some(match row {
            Ok(row) => Ok(Arc::new(self.suite.dataset_case(d, row))),
            Err(e) => Err(format!("{}: {}", e.location(), e.message)),
        })
    }
}

/// What suite loading needs from the project.
pub struct LoadContext<'a> {
    pub root: &'a Path,
    /// Provider names suites may use; `None` when unknown (the config is unusable).
    pub providers: Option<&'a [String]>,
    pub env: &'a mut Environment<'static>,
}

/// Load and validate one suite file. All problems are returned together.
pub fn load(path: &Path, lcx: &mut LoadContext<'_>) -> Result<Suite, Vec<Diagnostic>> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        vec![Diagnostic::new(
            path,
            None,
            format!("cannot read suite file: {e}"),
        )]
    })?;
    let root = node::parse(path, &text)?;
    let mut ctx = Ctx::new(path, &text).with_root(lcx.root);
    let suite = decode_suite(&mut ctx, &root, path, lcx);
    match suite {
        Some(s) if ctx.errors.is_empty() => Ok(s),
        _ => {
            if ctx.errors.is_empty() {
                ctx.error(root.pos, "invalid suite", None);
            }
            Err(ctx.errors)
        }
    }
}

struct Defaults {
    vars: Vars,
    checks: Vec<Arc<CheckSpec>>,
    settings: Settings,
}

fn decode_settings(ctx: &mut Ctx<'_>, f: &Fields<'_>, base: Settings) -> Settings {
    let mut s = base;
    if let Some(n) = f.get("repeat") {
        if let Some(r) = ctx.uint(n, "`repeat`", 1, 10_000) {
            s.repeat = r as u32;
            // A new repeat count resets an inherited min_passes unless set again.
            s.min_passes = base.min_passes.filter(|m| *m <= s.repeat);
        }
    }
    if let Some(n) = f.get("min_passes") {
        if let Some(m) = ctx.uint(n, "`min_passes`", 1, 10_000) {
            if m as u32 > s.repeat {
                ctx.error(
                    n.pos,
                    format!("`min_passes` ({m}) is greater than `repeat` ({})", s.repeat),
                    Some("min_passes is how many of the repeats must pass".into()),
                );
            } else {
                s.min_passes = Some(m as u32);
            }
        }
    }
    if let Some(n) = f.get("threshold") {
        s.threshold = ctx.number(n, "`threshold`", 0.0, 1.0);
    }
    if let Some(n) = f.get("timeout") {
        if let Some(t) = duration(ctx, n, "`timeout`") {
            if t.is_zero() {
                ctx.error(n.pos, "`timeout` must be greater than zero", None);
            } else {
                s.timeout = t;
            }
        }
    }
    s
}

fn decode_vars(ctx: &mut Ctx<'_>, node: &Node) -> Vars {
    match node.to_json() {
        serde_json::Value::Object(m) => m,
        _ => {
            ctx.error(
                node.pos,
                format!(
                    "`vars` must be a mapping of names to values, found {}",
                    node.kind_name()
                ),
                None,
            );
            Vars::new()
        }
    }
}

fn decode_tags(ctx: &mut Ctx<'_>, f: &Fields<'_>) -> Vec<String> {
    f.get("tags")
        .and_then(|n| ctx.string_list(n, "`tags`"))
        .unwrap_or_default()
}

/// Names a suite or case id may use: no path separators, whitespace or control
/// characters, not `.` or `..` (ids end up in report names and file paths).
fn check_id(ctx: &mut Ctx<'_>, pos: Pos, id: &str, what: &str) -> bool {
    let bad = invalid_id(id);
    if bad {
        ctx.error(pos, format!("invalid {what} {id:?}"), Some(ID_RULE.into()));
    }
    !bad
}

/// The rule for suite names and case ids (inline or from a dataset).
const ID_RULE: &str = "ids may not be empty, `.` or `..`, nor contain `/`, `\\`, whitespace, control characters or any of `*?[]{}` (ids are matched by --filter globs and become file names)";

/// Whether a suite name or case id breaks [`ID_RULE`].
pub fn invalid_id(id: &str) -> bool {
    id.is_empty()
        || id == "."
        || id == ".."
        || id.chars().any(|c| {
            matches!(c, '/' | '\\' | '*' | '?' | '[' | ']' | '{' | '}')
                || c.is_whitespace()
                || c.is_control()
        })
}

fn decode_prompt(ctx: &mut Ctx<'_>, node: &Node, lcx: &mut LoadContext<'_>) -> Option<Arc<Prompt>> {
    let mut messages: Vec<(String, String, Pos)> = Vec::new();
    match &node.value {
        Value::Str(s) => messages.push(("user".into(), s.clone(), node.pos)),
        Value::Map(_) => {
            let f = ctx.map(node, "`prompt`", &["system", "user"])?;
            if let Some(n) = f.get("system") {
                messages.push(("system".into(), ctx.string(n, "`prompt.system`")?, n.pos));
            }
            match f.get("user") {
                Some(n) => messages.push(("user".into(), ctx.string(n, "`prompt.user`")?, n.pos)),
                None => {
                    ctx.error(
                        node.pos,
                        "`prompt` needs a `user` message",
                        Some("or give a list of {role, content} messages".into()),
                    );
                    return None;
                }
            }
        }
        Value::Seq(items) => {
            for item in items {
                let f = ctx.map(item, "a prompt message", &["role", "content"])?;
                let role = ctx.require(&f, "role", "a prompt message").and_then(|n| {
                    let r = ctx.string(n, "`role`")?;
                    if !["system", "user", "assistant"].contains(&r.as_str()) {
                        ctx.error(
                            n.pos,
                            format!("unknown role `{r}`"),
                            Some("roles: system, user, assistant".into()),
                        );
                        return None;
                    }
                    Some(r)
                });
                let content = ctx
                    .require(&f, "content", "a prompt message")
                    .and_then(|n| ctx.string(n, "`content`").map(|c| (c, n.pos)));
                if let (Some(role), Some((content, pos))) = (role, content) {
                    messages.push((role, content, pos));
                }
            }
            if messages.is_empty() {
                ctx.error(node.pos, "`prompt` has no messages", None);
                return None;
            }
        }
        _ => {
            ctx.error(
                node.pos,
                format!("`prompt` must be a string, a mapping {{system, user}} or a list of messages, found {}", node.kind_name()),
                None,
            );
            return None;
        }
    }
    let mut out = Vec::new();
    let mut ok = true;
    for (i, (role, src, pos)) in messages.into_iter().enumerate() {
        let name = format!("{}:{}:{}#{i}", display_path(ctx.file), pos.line, pos.col);
        if let Err(e) = lcx.env.add_template_owned(name.clone(), src.clone()) {
            let at = locate_in_file(ctx.text, pos, &src, e.range());
            ctx.error(
                at,
                format!("invalid template: {}", template::describe(&e)),
                Some("check the {{ }} and {% %} syntax (minijinja / Jinja2)".into()),
            );
            ok = false;
            continue;
        }
        out.push((role, name, src));
    }
    ok.then(|| {
        let variables = out
            .iter()
            .filter_map(|(_, _, src)| template::variables(lcx.env, src).ok())
            .flatten()
            .collect();
        Arc::new(Prompt {
            messages: out,
            pos: node.pos,
            variables,
        })
    })
}

/// The file position of byte `range.start` of a template that was written
/// starting at `pos` (best effort: falls back to `pos`).
fn locate_in_file(text: &str, pos: Pos, src: &str, range: Option<std::ops::Range<usize>>) -> Pos {
    let Some(range) = range else { return pos };
    let start = range.start.min(src.len());
    let Some(before) = src.get(..start) else {
        return pos;
    };
    let tline = before.matches('\n').count();
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let Some(line_text) = src.lines().nth(tline).filter(|l| !l.trim().is_empty()) else {
        return pos;
    };
    for (i, file_line) in text
        .lines()
        .enumerate()
        .skip(pos.line.saturating_sub(1))
        .take(200)
    {
        if let Some(k) = file_line.find(line_text) {
            let byte = k + (start - line_start);
            let col = file_line.get(..byte).map_or(0, |p| p.chars().count()) + 1;
            return Pos::new(i + 1, col);
        }
    }
    pos
}

/// Names minijinja provides itself (not case variables).
const TEMPLATE_BUILTINS: &[&str] = &["range", "dict", "namespace", "debug", "loop", "self"];

/// Report variables a case's templates read but the case does not define.
fn check_variables(
    ctx: &mut Ctx<'_>,
    env: &Environment<'_>,
    pos: Pos,
    case_id: &str,
    prompt: &Prompt,
    checks: &[Arc<CheckSpec>],
    vars: &Vars,
) -> bool {
    let defined = |v: &str| vars.contains_key(v);
    let mut missing: BTreeSet<(String, &str)> = BTreeSet::new();
    for v in &prompt.variables {
        if !defined(v) && !TEMPLATE_BUILTINS.contains(&v.as_str()) {
            missing.insert((v.clone(), "prompt"));
        }
    }
    for c in checks {
        for src in c.templates() {
            match template::variables(env, src) {
                Ok(vars) => {
                    for v in vars {
                        if !defined(&v) && !TEMPLATE_BUILTINS.contains(&v.as_str()) {
                            missing.insert((v, "checks"));
                        }
                    }
                }
                Err(e) => {
                    ctx.error(
                        pos,
                        format!("invalid template in a `{}` check: {e}", c.kind),
                        None,
                    );
                    return false;
                }
            }
        }
    }
    for (v, place) in &missing {
        let hint = match did_you_mean(v, vars.keys().map(String::as_str)) {
            Some(s) => format!("the case defines `{s}`: a typo? otherwise define `{v}` under the case's `vars:` or the suite's `defaults.vars`"),
            None => format!("define `{v}` under the case's `vars:` or the suite's `defaults.vars`"),
        };
        ctx.error(
            pos,
            format!("undefined variable `{v}` in the {place} of case `{case_id}`"),
            Some(hint),
        );
    }
    missing.is_empty()
}

fn decode_suite(
    ctx: &mut Ctx<'_>,
    root: &Node,
    path: &Path,
    lcx: &mut LoadContext<'_>,
) -> Option<Suite> {
    if matches!(root.value, Value::Null) {
        // No position: there is nothing in the file to point at.
        ctx.errors.push(
            Diagnostic::new(ctx.file, None, "empty suite file")
                .with_hint("a suite needs `prompt` and `cases` (or `cases_from`)"),
        );
        return None;
    }
    let f = ctx.map(root, "suite", SUITE_KEYS)?;
    let stem = path
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("suite")
        .to_string();
    let name = match f.get("name") {
        Some(n) => ctx
            .scalar_string(n, "`name`")
            .filter(|s| check_id(ctx, n.pos, s, "suite name")),
        None => check_id(ctx, f.pos, &stem, "suite name (from the file name)").then_some(stem),
    };
    let description = f
        .get("description")
        .and_then(|n| ctx.string(n, "`description`"));
    let tags = decode_tags(ctx, &f);
    let provider = f.get("provider").and_then(|n| {
        let p = ctx.string(n, "`provider`")?;
        let providers = lcx.providers?;
        if !providers.contains(&p) {
            let hint = match did_you_mean(&p, providers.iter().map(String::as_str)) {
                Some(s) => format!("did you mean `{s}`? providers are defined in evalgate.yaml"),
                None => format!(
                    "providers defined in evalgate.yaml: {}",
                    providers.join(", ")
                ),
            };
            ctx.error(n.pos, format!("unknown provider `{p}`"), Some(hint));
            return None;
        }
        Some((p, n.pos))
    });
    let mut defaults = Defaults {
        vars: Vars::new(),
        checks: Vec::new(),
        settings: Settings::default(),
    };
    if let Some(n) = f.get("defaults") {
        if let Some(df) = ctx.map(n, "`defaults`", DEFAULT_KEYS) {
            if let Some(v) = df.get("vars") {
                defaults.vars = decode_vars(ctx, v);
            }
            // Golden settings first: `golden` checks anywhere in the suite use them.
            if let Some(g) = df.get("golden") {
                if let Some(gs) =
                    crate::golden::Settings::parse(ctx, g, &crate::golden::Settings::default())
                {
                    ctx.golden_defaults = gs;
                }
            }
            if let Some(c) = df.get("checks") {
                defaults.checks = check::parse_list(ctx, c);
            }
            defaults.settings = decode_settings(ctx, &df, Settings::default());
        }
    }
    let prompt = f.get("prompt").and_then(|n| decode_prompt(ctx, n, lcx));
    let prompt_given = f.get("prompt").is_some();

    // Case id → line where it is defined (inline cases: the suite file; rows: the dataset).
    let mut ids: HashMap<String, usize> = HashMap::new();
    let mut cases = Vec::new();
    if let Some(list) = f.get("cases") {
        if let Some(items) = ctx.seq(list, "`cases`") {
            for item in items {
                if let Some(c) = decode_case(
                    ctx,
                    item,
                    &defaults,
                    &tags,
                    prompt.as_ref(),
                    prompt_given,
                    &mut ids,
                    lcx,
                ) {
                    cases.push(Arc::new(c));
                }
            }
        }
    }
    let dataset = f
        .get("cases_from")
        .and_then(|n| decode_dataset(ctx, n, &defaults, &tags, prompt.as_ref(), &mut ids, lcx));
    if f.get("cases").is_none() && f.get("cases_from").is_none() {
        ctx.error(
            f.pos,
            "suite has no cases",
            Some("add `cases:` (a list) or `cases_from:` (a dataset)".into()),
        );
    } else if cases.is_empty()
        && dataset.as_ref().is_none_or(|d| d.rows == 0)
        && ctx.errors.is_empty()
    {
        let pos = f
            .get("cases")
            .or(f.get("cases_from"))
            .map_or(f.pos, |n| n.pos);
        ctx.error(
            pos,
            "suite has no cases",
            Some("the `cases` list and the dataset are empty".into()),
        );
    }
    Some(Suite {
        name: name?,
        file: path.to_path_buf(),
        description,
        tags,
        provider,
        prompt,
        default_vars: defaults.vars,
        cases,
        dataset,
    })
}

#[allow(clippy::too_many_arguments)]
fn decode_case(
    ctx: &mut Ctx<'_>,
    node: &Node,
    defaults: &Defaults,
    suite_tags: &[String],
    suite_prompt: Option<&Arc<Prompt>>,
    suite_prompt_given: bool,
    ids: &mut HashMap<String, usize>,
    lcx: &mut LoadContext<'_>,
) -> Option<CaseDef> {
    let f = ctx.map(node, "case", CASE_KEYS)?;
    let id_node = ctx.require(&f, "id", "case")?;
    let id = ctx.scalar_string(id_node, "`id`")?;
    if !check_id(ctx, id_node.pos, &id, "case id") {
        return None;
    }
    if let Some(first) = ids.insert(id.clone(), id_node.pos.line) {
        ctx.error(
            id_node.pos,
            format!("duplicate case id `{id}` (first defined on line {first})"),
            Some("case ids must be unique within a suite".into()),
        );
    }
    let description = f
        .get("description")
        .and_then(|n| ctx.string(n, "`description`"));
    let mut vars = defaults.vars.clone();
    if let Some(v) = f.get("vars") {
        vars.extend(decode_vars(ctx, v));
    }
    let own_prompt = f.get("prompt").and_then(|n| decode_prompt(ctx, n, lcx));
    let mut checks = defaults.checks.clone();
    let own_checks_given = f.get("checks").is_some();
    if let Some(c) = f.get("checks") {
        checks.extend(check::parse_list(ctx, c));
    }
    let mut tags: Vec<String> = suite_tags.to_vec();
    for t in decode_tags(ctx, &f) {
        if !tags.contains(&t) {
            tags.push(t);
        }
    }
    let skip = match f.get("skip") {
        None => None,
        Some(n) => match &n.value {
            Value::Bool(true) => Some("skipped".to_string()),
            Value::Bool(false) => None,
            Value::Str(s) => Some(s.clone()),
            _ => {
                ctx.error(
                    n.pos,
                    format!(
                        "`skip` must be true or a reason string, found {}",
                        n.kind_name()
                    ),
                    None,
                );
                None
            }
        },
    };
    let settings = decode_settings(ctx, &f, defaults.settings);
    // A misspelt `checks` key (or a merge key) was reported already; no "no checks" on top.
    let checks_misspelt = f.entries.iter().any(|e| {
        e.key == "<<"
            || (!CASE_KEYS.contains(&e.key.as_str()) && did_you_mean(&e.key, ["checks"]).is_some())
    });
    if checks.is_empty() && !own_checks_given && !checks_misspelt {
        ctx.error(
            f.pos,
            format!("case `{id}` has no checks"),
            Some("add `checks:` to the case or `defaults.checks` to the suite: a case without checks tests nothing".into()),
        );
    } else if checks.is_empty() {
        if let Some(n) = f.get("checks") {
            if matches!(&n.value, Value::Seq(v) if v.is_empty()) {
                ctx.error(
                    n.pos,
                    format!("case `{id}` has an empty `checks` list"),
                    Some("a case without checks tests nothing".into()),
                );
            }
        }
    }
    let prompt = own_prompt.clone().or_else(|| suite_prompt.cloned());
    match &prompt {
        None if f.get("prompt").is_none() && !suite_prompt_given => ctx.error(
            f.pos,
            format!("case `{id}` has no prompt"),
            Some("add `prompt:` to the suite or to the case".into()),
        ),
        // Render once now so template runtime errors surface before the run.
        Some(p)
            if skip.is_none()
                && !f.entries.iter().any(|e| e.key == "<<")
                && check_variables(ctx, lcx.env, id_node.pos, &id, p, &checks, &vars) =>
        {
            let value = minijinja::Value::from_serialize(&vars);
            if let Err(e) = p.render(lcx.env, &value) {
                ctx.error(
                    id_node.pos,
                    format!("cannot render the prompt of case `{id}`: {e}"),
                    None,
                );
            }
        }
        _ => {}
    }
    Some(CaseDef {
        id,
        description,
        vars,
        prompt: own_prompt,
        checks,
        tags,
        skip,
        settings,
        source: format!("{}:{}", display_path(ctx.file), f.pos.line),
    })
}

fn decode_dataset(
    ctx: &mut Ctx<'_>,
    node: &Node,
    defaults: &Defaults,
    suite_tags: &[String],
    prompt: Option<&Arc<Prompt>>,
    ids: &mut HashMap<String, usize>,
    lcx: &mut LoadContext<'_>,
) -> Option<Dataset> {
    let f = ctx.map(node, "`cases_from`", DATASET_KEYS)?;
    let path_node = ctx.require(&f, "path", "`cases_from`")?;
    let rel = ctx.string(path_node, "`path`")?;
    let path = ctx.resolve_path(&rel);
    if dataset::Format::from_path(&path).is_none() {
        ctx.error(
            path_node.pos,
            format!("unsupported dataset file `{rel}`"),
            Some("use a .csv (with a header row) or .jsonl file".into()),
        );
        return None;
    }
    let mapping = Mapping {
        id_column: f
            .get("id_column")
            .and_then(|n| ctx.string(n, "`id_column`")),
        expected_column: f
            .get("expected_column")
            .and_then(|n| ctx.string(n, "`expected_column`")),
    };
    let mut checks = defaults.checks.clone();
    if let Some(c) = f.get("checks") {
        checks.extend(check::parse_list(ctx, c));
    }
    if checks.is_empty() {
        ctx.error(
            f.pos,
            "dataset cases have no checks",
            Some("add `checks:` under `cases_from` or `defaults.checks` to the suite".into()),
        );
    }
    let mut tags = suite_tags.to_vec();
    for t in decode_tags(ctx, &f) {
        if !tags.contains(&t) {
            tags.push(t);
        }
    }
    let settings = decode_settings(ctx, &f, defaults.settings);
    let Some(prompt) = prompt else {
        ctx.error(f.pos, "dataset cases need the suite's `prompt`", None);
        return None;
    };
    // Said of every dataset problem so it can be traced back to this suite.
    let used_by = format!(
        " [cases_from of {}:{}]",
        display_path(ctx.file),
        path_node.pos.line
    );
    if dataset::Format::from_path(&path) == Some(dataset::Format::Csv) && path.is_file() {
        if let Ok(columns) = dataset::csv_header(&path) {
            let mut missing = false;
            for key in ["id_column", "expected_column"] {
                let Some(n) = f.get(key) else { continue };
                let Some(col) = n.as_str() else { continue };
                if !columns.iter().any(|c| c == col) {
                    missing = true;
                    let hint = match did_you_mean(col, columns.iter().map(String::as_str)) {
                        Some(s) => format!(
                            "did you mean `{s}`? columns of `{rel}`: {}",
                            columns.join(", ")
                        ),
                        None => format!("columns of `{rel}`: {}", columns.join(", ")),
                    };
                    ctx.error(
                        n.pos,
                        format!("column `{col}` is not in the CSV header of `{rel}`"),
                        Some(hint),
                    );
                }
            }
            if missing {
                return None;
            }
        }
    }
    let rows = match Rows::open(&path, &mapping) {
        Ok(r) => r,
        Err(e) => {
            let hint = if path.exists() {
                "check the file"
            } else {
                "paths are relative to the project root (the directory of evalgate.yaml)"
            };
            ctx.error(path_node.pos, e, Some(hint.into()));
            return None;
        }
    };
    let mut count = 0;
    let mut row_errors = 0;
    let mut checked_columns = false;
    let mut seen_missing: BTreeSet<String> = BTreeSet::new();
    let env = &*lcx.env;
    let needed: BTreeSet<String> = {
        let mut n = prompt.variables.clone();
        for c in &checks {
            for src in c.templates() {
                n.extend(template::variables(env, src).unwrap_or_default());
            }
        }
        n.retain(|v| !TEMPLATE_BUILTINS.contains(&v.as_str()));
        n
    };
    let columns: Option<Vec<String>> = rows.columns().map(<[String]>::to_vec);
    if let Some(cols) = &columns {
        checked_columns = true;
        for v in &needed {
            let defined = cols.contains(v)
                || defaults.vars.contains_key(v)
                || (v == "expected" && mapping.expected_column.is_some());
            if !defined {
                ctx.error(
                    path_node.pos,
                    format!("undefined variable `{v}`: the dataset `{rel}` has no such column"),
                    Some(format!(
                        "columns: {}; or define it in `defaults.vars`",
                        cols.join(", ")
                    )),
                );
            }
        }
    }
    for row in rows {
        if row_errors >= MAX_ROW_ERRORS {
            ctx.errors.push(Diagnostic::new(
                &path,
                None,
                format!("more than {MAX_ROW_ERRORS} bad rows; stopped checking this dataset"),
            ));
            break;
        }
        match row {
            Ok(row) => {
                count += 1;
                if invalid_id(&row.id) {
                    row_errors += 1;
                    ctx.errors.push(
                        Diagnostic::new(
                            &path,
                            Some(Pos::new(row.line, 1)),
                            format!("invalid case id {:?}{used_by}", row.id),
                        )
                        .with_hint(ID_RULE),
                    );
                }
                if let Some(first) = ids.insert(row.id.clone(), row.line) {
                    row_errors += 1;
                    ctx.errors.push(
                        Diagnostic::new(
                            &path,
                            Some(Pos::new(row.line, 1)),
                            format!("duplicate case id `{}` (first on line {first}){used_by}", row.id),
                        )
                        .with_hint("case ids must be unique within a suite (set `id_column` to a unique column)"),
                    );
                }
                if !checked_columns {
                    for v in &needed {
                        let defined = row.vars.contains_key(v) || defaults.vars.contains_key(v);
                        if !defined && seen_missing.insert(v.clone()) {
                            row_errors += 1;
                            ctx.errors.push(
                                Diagnostic::new(
                                    &path,
                                    Some(Pos::new(row.line, 1)),
                                    format!("undefined variable `{v}`: this row has no such key{used_by}"),
                                )
                                .with_hint(
                                    "every row must define the variables the prompt and checks use",
                                ),
                            );
                        }
                    }
                }
            }
            Err(mut d) => {
                d.message.push_str(&used_by);
                row_errors += 1;
                ctx.errors.push(d);
            }
        }
    }
    Some(Dataset {
        path,
        mapping,
        checks,
        tags,
        settings,
        rows: count,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load_text(text: &str) -> Result<Suite, Vec<String>> {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("s.yaml");
        std::fs::write(&p, text).unwrap();
        let mut env = template::environment();
        let providers = vec!["mock".to_string()];
        let mut lcx = LoadContext {
            root: dir.path(),
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
}

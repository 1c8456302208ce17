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

pub(crate) mod attacks;
mod case;
mod dataset;
mod prompt;
pub(crate) use case::TURN_KEYS;
pub(crate) use prompt::{MESSAGE_KEYS, PROMPT_KEYS};
pub(crate) mod rows;
#[cfg(test)]
mod tests;

use case::decode_case;
use dataset::decode_dataset;
use prompt::decode_prompt;
pub(crate) use prompt::Prompt;

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use minijinja::Environment;

use crate::check::{self, CheckSpec};
use crate::error::{did_you_mean, display_path, Diagnostic, Pos};
use crate::suite::rows::{Mapping, Rows};
use crate::syntax::decode::{duration, Ctx, Fields};
use crate::syntax::node::{self, Node, Value};
use crate::template;

pub(crate) type Vars = serde_json::Map<String, serde_json::Value>;

/// A prompt variant: its name and its prompt.
pub(crate) type Variant = (Arc<str>, Arc<Prompt>);

pub(crate) const SUITE_KEYS: &[&str] = &[
    "name",
    "description",
    "tags",
    "provider",
    "defaults",
    "prompt",
    "prompts",
    "cases",
    "cases_from",
    "attacks",
];
pub(crate) const DEFAULT_KEYS: &[&str] = &[
    "vars",
    "checks",
    "timeout",
    "repeat",
    "min_passes",
    "threshold",
    "golden",
    "extract_json",
];
pub(crate) const CASE_KEYS: &[&str] = &[
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
    "mutate",
    "turns",
    "tool_results",
    "max_steps",
];
pub(crate) const DATASET_KEYS: &[&str] = &[
    "path",
    "id_column",
    "expected_column",
    "checks",
    "tags",
    "timeout",
    "repeat",
    "min_passes",
    "threshold",
    "prompt_column",
];
/// Most dataset row errors reported per file before giving up on it.
const MAX_ROW_ERRORS: usize = 20;
/// Default per-attempt timeout.
pub(crate) const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

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
    /// The attack, for a case of the adversarial pack.
    pub attack: Option<Arc<crate::model::Attack>>,
    /// The prompt variant (`prompts:`) this case runs against; its prompt is
    /// the variant's.
    pub variant: Option<Arc<str>>,
    /// `turns:`: the case is a conversation.
    pub conversation: Option<Arc<Conversation>>,
}

/// Default most model calls in one turn of a conversation (`max_steps`).
pub(crate) const DEFAULT_MAX_STEPS: u32 = 5;

/// One turn of a conversation: the user's message and its checks.
#[derive(Debug)]
pub struct Turn {
    /// The user message (a one-message prompt template).
    pub user: Arc<Prompt>,
    /// The turn's checks (the last turn's include the case's `checks`).
    pub checks: Vec<Arc<CheckSpec>>,
}

/// A case with `turns:`: the model's earlier answers are fed back, tool
/// calls named in `tool_results` are answered with those fixtures.
#[derive(Debug)]
pub struct Conversation {
    pub turns: Vec<Turn>,
    /// Tool name → the result sent back when the model calls it.
    pub tool_results: serde_json::Map<String, serde_json::Value>,
    /// Most model calls per turn (1 + rounds of answered tool calls).
    pub max_steps: u32,
}

impl CaseDef {
    /// The case's `golden` checks with the case name each golden file is
    /// named by: the case id, `@variant` with `per_variant`, and `#turn` for
    /// a turn of a conversation.
    pub(crate) fn goldens(&self) -> Vec<(String, &crate::golden::Settings)> {
        let name = |g: &crate::golden::Settings, turn: Option<usize>| {
            let mut n = self.id.clone();
            if let (Some(v), true) = (&self.variant, g.per_variant) {
                n.push('@');
                n.push_str(v);
            }
            if let Some(t) = turn {
                n.push_str(&format!("#{t}"));
            }
            n
        };
        match &self.conversation {
            Some(conv) => conv
                .turns
                .iter()
                .enumerate()
                .flat_map(|(i, t)| {
                    t.checks
                        .iter()
                        .filter_map(move |c| c.check.golden().map(|g| (name(g, Some(i + 1)), g)))
                })
                .collect(),
            None => self
                .checks
                .iter()
                .filter_map(|c| c.check.golden().map(|g| (name(g, None), g)))
                .collect(),
        }
    }

    /// The same case against one prompt variant.
    fn for_variant(&self, name: &Arc<str>, prompt: &Arc<Prompt>) -> CaseDef {
        CaseDef {
            variant: Some(name.clone()),
            id: self.id.clone(),
            description: self.description.clone(),
            vars: self.vars.clone(),
            prompt: Some(prompt.clone()),
            checks: self.checks.clone(),
            tags: self.tags.clone(),
            skip: self.skip.clone(),
            settings: self.settings,
            source: self.source.clone(),
            attack: self.attack.clone(),
            conversation: self.conversation.clone(),
        }
    }
}

/// `cases_from`: cases streamed from a dataset file.
#[derive(Debug)]
pub struct Dataset {
    pub path: PathBuf,
    /// `path` as reports and messages show it (each case's `source`).
    pub shown: String,
    pub mapping: Mapping,
    pub checks: Vec<Arc<CheckSpec>>,
    pub tags: Vec<String>,
    pub settings: Settings,
    /// Cases the rows make (a row runs against every prompt variant, or the
    /// one its `prompt_column` names).
    pub rows: usize,
    /// The column naming a row's prompt variant (`prompts:` suites).
    pub prompt_column: Option<String>,
}

#[derive(Debug)]
pub struct Suite {
    pub name: String,
    pub file: PathBuf,
    pub description: Option<String>,
    pub tags: Vec<String>,
    pub provider: Option<(String, Pos)>,
    pub prompt: Option<Arc<Prompt>>,
    /// `prompts:`: the named prompt variants, in file order; every case runs
    /// against each.
    pub variants: Vec<Variant>,
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
            queued: std::collections::VecDeque::new(),
        })
    }

    /// The variants a dataset row runs against: the one its prompt column
    /// names, or every one (an empty or missing value). Err: an unknown name.
    pub(crate) fn row_variants(&self, d: &Dataset, vars: &Vars) -> Result<Vec<Variant>, String> {
        let named = d
            .prompt_column
            .as_ref()
            .and_then(|c| vars.get(c))
            .map(|v| match v {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            })
            .filter(|s| !s.is_empty());
        match named {
            None => Ok(self.variants.clone()),
            Some(n) => match self.variants.iter().find(|(v, _)| **v == *n) {
                Some(v) => Ok(vec![v.clone()]),
                None => {
                    let names: Vec<&str> = self.variants.iter().map(|(v, _)| &**v).collect();
                    let hint = match did_you_mean(&n, names.iter().copied()) {
                        Some(s) => format!("did you mean `{s}`?"),
                        None => format!("the suite's prompts: {}", names.join(", ")),
                    };
                    Err(format!(
                        "unknown prompt variant `{n}` in column `{}` ({hint})",
                        d.prompt_column.as_deref().unwrap_or_default()
                    ))
                }
            },
        }
    }

    fn dataset_case(&self, d: &Dataset, row: rows::Row) -> CaseDef {
        let mut vars = self.default_vars.clone();
        vars.extend(row.vars);
        CaseDef {
            variant: None,
            conversation: None,
            id: row.id,
            description: None,
            vars,
            prompt: None,
            checks: d.checks.clone(),
            tags: d.tags.clone(),
            skip: None,
            settings: d.settings,
            source: format!("{}:{}", d.shown, row.line),
            attack: None,
        }
    }
}

/// Streams a suite's cases.
pub struct CaseIter<'a> {
    suite: &'a Suite,
    inline: usize,
    rows: Option<Rows>,
    /// The other variants of the last dataset row.
    queued: std::collections::VecDeque<CaseDef>,
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
        if let Some(c) = self.queued.pop_front() {
            return Some(Ok(Arc::new(c)));
        }
        let d = self.suite.dataset.as_ref()?;
        let row = self.rows.as_mut()?.next()?;
        Some(match row {
            Ok(row) if self.suite.variants.is_empty() => {
                Ok(Arc::new(self.suite.dataset_case(d, row)))
            }
            Ok(row) => {
                let line = row.line;
                match self.suite.row_variants(d, &row.vars) {
                    Err(e) => Err(format!("{}:{line}: {e}", display_path(&d.path))),
                    Ok(variants) => {
                        let case = self.suite.dataset_case(d, row);
                        self.queued
                            .extend(variants.iter().map(|(n, p)| case.for_variant(n, p)));
                        match self.queued.pop_front() {
                            Some(c) => Ok(Arc::new(c)),
                            None => Err(format!(
                                "{}:{line}: no prompt variant",
                                display_path(&d.path)
                            )),
                        }
                    }
                }
            }
            Err(e) => Err(format!("{}: {}", e.location(), e.message)),
        })
    }
}

/// What suite loading needs from the project.
pub(crate) struct LoadContext<'a> {
    pub root: &'a Path,
    /// Provider names suites may use; `None` when unknown (the config is unusable).
    pub providers: Option<&'a [String]>,
    pub env: &'a mut Environment<'static>,
}

/// Load and validate one suite file. All problems are returned together.
pub(crate) fn load(path: &Path, lcx: &mut LoadContext<'_>) -> Result<Suite, Vec<Diagnostic>> {
    // Suites named on the command line are the user's own: not confined to the project
    // (suites found by the config's globs are checked in `plan::discover`).
    let text = crate::util::fsafe::read_to_string(path, crate::util::fsafe::Kind::Suite, false)
        .map_err(|e| {
            vec![Diagnostic::new(
                path,
                None,
                format!("cannot read suite file: {e}"),
            )]
        })?;
    load_text(path, &text, lcx)
}

/// Suite files from this size on are parsed twice, so that their cases are
/// never held as one node tree (about 2.5 KB per case): the second parse
/// costs about as much CPU as the first, which smaller files are spared.
const STREAMED_SUITE_BYTES: usize = 512 * 1024;

/// Load and validate a suite from its text (`path` names it in messages).
pub(crate) fn load_text(
    path: &Path,
    text: &str,
    lcx: &mut LoadContext<'_>,
) -> Result<Suite, Vec<Diagnostic>> {
    // A large suite is read as a tree without its cases, which are then
    // decoded one by one from a second parse (`decode_suite`): it is never
    // held as one tree. A small one is parsed once.
    let streamed = text.len() >= STREAMED_SUITE_BYTES;
    let root = if streamed {
        node::parse_streaming(path, text, "cases", &mut drop)?
    } else {
        node::parse(path, text)?
    };
    let mut ctx = Ctx::new(path, text).with_root(lcx.root);
    let suite = decode_suite(&mut ctx, &root, path, lcx, streamed);
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
pub(crate) fn invalid_id(id: &str) -> bool {
    id.is_empty()
        || id == "."
        || id == ".."
        || id.chars().any(|c| {
            matches!(c, '/' | '\\' | '*' | '?' | '[' | ']' | '{' | '}')
                || c.is_whitespace()
                || c.is_control()
        })
}

fn decode_suite(
    ctx: &mut Ctx<'_>,
    root: &Node,
    path: &Path,
    lcx: &mut LoadContext<'_>,
    streamed: bool,
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
            // `extract_json` and golden settings first: checks anywhere in the suite use them.
            if let Some(n) = df.get("extract_json") {
                if let Some(b) = ctx.bool(n, "`extract_json`") {
                    ctx.set_default(crate::util::extract::ExtractDefault(b));
                }
            }
            // Golden settings first: `golden` checks anywhere in the suite use them.
            if let Some(g) = df.get("golden") {
                if let Some(gs) =
                    crate::golden::Settings::parse(ctx, g, &crate::golden::Settings::default())
                {
                    ctx.set_default(gs);
                }
            }
            if let Some(c) = df.get("checks") {
                defaults.checks = check::parse_list(ctx, c);
            }
            defaults.settings = decode_settings(ctx, &df, Settings::default());
        }
    }
    // A suite with the pack: its own cases get a canary too (one per suite),
    // so one prompt template with `{{ canary }}` serves both.
    if f.get("attacks").is_some() && !defaults.vars.contains_key("canary") {
        if let (Some(n), Ok(pack)) = (&name, crate::attack::pack()) {
            defaults.vars.insert(
                "canary".into(),
                serde_json::Value::String(crate::attack::canary(pack.version, n)),
            );
        }
    }
    let prompt = f.get("prompt").and_then(|n| decode_prompt(ctx, n, lcx));
    let variants = match f.get("prompts") {
        Some(n) if f.get("prompt").is_some() => {
            ctx.error(
                f.entry("prompts").map_or(n.pos, |e| e.key_pos),
                "a suite has `prompt` or `prompts`, not both",
                Some(
                    "`prompts:` names variants (name: template); every case runs against each"
                        .into(),
                ),
            );
            Vec::new()
        }
        Some(n) => decode_variants(ctx, n, lcx),
        None => Vec::new(),
    };
    if let (Some(_), Some(a)) = (variants.first(), f.entry("attacks")) {
        ctx.error(
            a.key_pos,
            "`attacks` needs a single `prompt`, not `prompts` variants",
            Some("put the adversarial pack in a suite of its own with one `prompt`".into()),
        );
    }
    // Cases are decoded against the first variant; the others are checked
    // when the cases are expanded.
    let prompt_given = f.get("prompt").is_some() || f.get("prompts").is_some();
    let first_prompt = prompt
        .clone()
        .or_else(|| variants.first().map(|(_, p)| p.clone()));

    // Case id → line where it is defined (inline cases: the suite file; rows: the dataset).
    let mut ids = IdIndex::default();
    let mut cases = Vec::new();
    if let Some(list) = f.get("cases") {
        if let Some(items) = ctx.seq(list, "`cases`") {
            let text = ctx.text;
            let mut decode_item = |item: &Node| {
                let pos = item.pos;
                if let Some((c, mutate)) = decode_case(
                    ctx,
                    item,
                    &defaults,
                    &tags,
                    first_prompt.as_ref(),
                    prompt_given,
                    &mut ids,
                    lcx,
                ) {
                    let mutated = match mutate {
                        Some((pos, m)) => attacks::mutations(ctx, pos, &c, &m, &mut ids),
                        None => Vec::new(),
                    };
                    for c in std::iter::once(c).chain(mutated) {
                        if variants.is_empty() || c.prompt.is_some() {
                            cases.push(Arc::new(c));
                            continue;
                        }
                        if c.id.contains('@') {
                            ctx.error(
                            pos,
                            format!("invalid case id {:?} in a suite with `prompts`", c.id),
                            Some("`@` joins a case and its prompt variant (`case@variant`): use another character".into()),
                        );
                        }
                        for (i, (name, p)) in variants.iter().enumerate() {
                            let v = c.for_variant(name, p);
                            // The first variant was checked with the case.
                            if i > 0 {
                                check_variant(ctx, pos, &v, p, lcx);
                            }
                            cases.push(Arc::new(v));
                        }
                    }
                }
            };
            if streamed {
                // The first parse left the list empty: each case is decoded as
                // the second parse completes it, and its nodes dropped after.
                // The first parse succeeded on the same text, so this one does too.
                let _ = node::parse_streaming(path, text, "cases", &mut |n| decode_item(&n));
            } else {
                items.iter().for_each(decode_item);
            }
        }
    }
    if let Some(n) = f.get("attacks") {
        if let Some(settings) = attacks::decode_attacks(ctx, n) {
            cases.extend(
                attacks::expand(
                    ctx,
                    n.pos,
                    &settings,
                    &defaults,
                    &tags,
                    prompt.as_ref(),
                    &mut ids,
                    lcx,
                )
                .into_iter()
                .map(Arc::new),
            );
        }
    }
    let prompts: Vec<Arc<Prompt>> = match &prompt {
        Some(p) => vec![p.clone()],
        None => variants.iter().map(|(_, p)| p.clone()).collect(),
    };
    let dataset = f
        .get("cases_from")
        .and_then(|n| decode_dataset(ctx, n, &defaults, &tags, &prompts, &variants, &mut ids, lcx));
    if f.get("cases").is_none() && f.get("cases_from").is_none() && f.get("attacks").is_none() {
        ctx.error(
            f.pos,
            "suite has no cases",
            Some("add `cases:` (a list), `cases_from:` (a dataset) or `attacks:` (the adversarial pack)".into()),
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
        variants,
        default_vars: defaults.vars,
        cases,
        dataset,
    })
}

/// The case ids a suite has used, each as 96 bits of hash with the line it
/// was last seen on (16 bytes per id, not a kept string). Two different ids
/// share a hash with a probability near 10⁻¹⁷ at a million ids. Dataset rows
/// are checked against these without being added: see [`RowIds`].
#[derive(Default)]
pub(super) struct IdIndex(HashMap<(u64, u32), u32>);

/// SipHash with fixed keys and a salt: the same id hashes the same in every run.
fn id_hash(salt: u8, id: &str) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    salt.hash(&mut h);
    id.hash(&mut h);
    h.finish()
}

impl IdIndex {
    /// Record `id` on `line`; the line it was on before, if it was.
    pub(super) fn insert(&mut self, id: &str, line: usize) -> Option<usize> {
        let line32 = u32::try_from(line).unwrap_or(u32::MAX);
        self.0
            .insert((id_hash(0, id), id_hash(1, id) as u32), line32)
            .map(|l| l as usize)
    }

    /// The line `id` was last recorded on, without recording it.
    pub(super) fn get(&self, id: &str) -> Option<usize> {
        self.0
            .get(&(id_hash(0, id), id_hash(1, id) as u32))
            .map(|&l| l as usize)
    }
}

/// Duplicate ids among a dataset's rows, found in at most two passes so a
/// million rows cost 8 bytes each, not a hash table's ~50: the first pass
/// keeps each row id's 64-bit hash in a vector, sorted at the end; only when
/// two rows share a hash (a duplicate, or very rarely a collision) is the
/// dataset read again, this time keeping the exact ids of those hashes, so
/// the messages name both lines exactly as a one-pass check would.
pub(super) enum RowIds {
    /// First pass: every row id's hash.
    Hashes(Vec<u64>),
    /// Second pass: the hashes seen more than once, and the ids among them
    /// seen so far with the line each was last on.
    Exact {
        shared: std::collections::HashSet<u64>,
        seen: HashMap<String, usize>,
    },
}

impl RowIds {
    pub(super) fn new() -> Self {
        RowIds::Hashes(Vec::new())
    }

    /// Note a row's id; in the second pass, the line an earlier row with the
    /// same id was on.
    pub(super) fn insert(&mut self, id: &str, line: usize) -> Option<usize> {
        let h = id_hash(0, id);
        match self {
            RowIds::Hashes(v) => {
                v.push(h);
                None
            }
            RowIds::Exact { shared, seen } => {
                if shared.contains(&h) {
                    seen.insert(id.to_owned(), line)
                } else {
                    None
                }
            }
        }
    }

    /// After the first pass: the second pass's state when two rows share a
    /// hash, `None` when every row id is distinct (or after the second pass).
    pub(super) fn second_pass(&mut self) -> Option<RowIds> {
        let RowIds::Hashes(v) = self else {
            return None;
        };
        v.sort_unstable();
        let shared: std::collections::HashSet<u64> = v
            .windows(2)
            .filter(|w| w[0] == w[1])
            .map(|w| w[0])
            .collect();
        *v = Vec::new();
        (!shared.is_empty()).then(|| RowIds::Exact {
            shared,
            seen: HashMap::new(),
        })
    }
}

/// `prompts:`: variant name → prompt (each as `prompt:` takes it).
fn decode_variants(ctx: &mut Ctx<'_>, node: &Node, lcx: &mut LoadContext<'_>) -> Vec<Variant> {
    let Value::Map(entries) = &node.value else {
        ctx.error(
            node.pos,
            format!(
                "`prompts` must be a mapping of variant names to prompts, found {}",
                node.kind_name()
            ),
            Some("e.g. `prompts: {terse: \"Answer in one word: {{ q }}\", polite: {system: \"You are kind.\", user: \"{{ q }}\"}}`".into()),
        );
        return Vec::new();
    };
    let mut out: Vec<Variant> = Vec::new();
    for e in entries {
        if invalid_id(&e.key) || e.key.contains('@') {
            ctx.error(
                e.key_pos,
                format!("invalid prompt variant name {:?}", e.key),
                Some(format!(
                    "{ID_RULE}; nor `@` (it joins a case and its variant: `case@variant`)"
                )),
            );
            continue;
        }
        if let Some(p) = decode_prompt(ctx, &e.value, lcx) {
            out.push((e.key.as_str().into(), p));
        }
    }
    if entries.is_empty() {
        ctx.error(node.pos, "`prompts` names no variant", None);
    }
    out
}

/// Check a case's variables and rendering against another variant's prompt.
fn check_variant(
    ctx: &mut Ctx<'_>,
    pos: Pos,
    case: &CaseDef,
    prompt: &Prompt,
    lcx: &mut LoadContext<'_>,
) {
    if case.skip.is_some() {
        return;
    }
    let variant = case.variant.as_deref().unwrap_or_default();
    let id = format!("{}@{variant}", case.id);
    if let Some(conv) = &case.conversation {
        let p = Arc::new(prompt.clone());
        case::check_conversation(ctx, pos, &id, conv, Some(&p), &case.vars, lcx);
        return;
    }
    if prompt::check_variables(ctx, lcx.env, pos, &id, prompt, &case.checks, &case.vars) {
        let value = minijinja::Value::from_serialize(&case.vars);
        if let Err(e) = prompt.render(lcx.env, &value) {
            ctx.error(
                pos,
                format!("cannot render the prompt of case `{id}`: {e}"),
                None,
            );
        }
    }
}

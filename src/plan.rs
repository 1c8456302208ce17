//! Arguments + config + suites → a validated run plan.
//!
//! Loading collects every problem in every file before returning; nothing runs
//! on invalid input. The plan streams its cases (dataset rows are read lazily),
//! applying `--filter` and `--tag`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use globset::{Glob, GlobSet, GlobSetBuilder};
use minijinja::Environment;
use sha2::{Digest, Sha256};

use crate::config::project::{ProjectConfig, ProviderKind};
use crate::config::suite::{self, CaseDef, LoadContext, Suite};
use crate::error::{did_you_mean, display_path, Diagnostic, Error};
use crate::provider::{mock::Mock, mock::MockResponses, Provider};
use crate::template;

/// What the user selected on the command line.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    /// Config file; `None` means `evalgate.yaml` in the working directory.
    pub config: Option<PathBuf>,
    /// Suite files or directories; empty means the config's `suites` globs.
    pub paths: Vec<PathBuf>,
    /// Globs on `suite/case`.
    pub filters: Vec<String>,
    pub tags: Vec<String>,
    /// Run every suite against these providers instead of its own (several
    /// = a provider matrix).
    pub providers: Vec<String>,
    /// Live calls, `--record` or `--replay`.
    pub mode: Mode,
    /// `--no-cache`: bypass every provider's response cache.
    pub no_cache: bool,
    /// Build the network providers (read credentials). Only `run` does.
    pub connect: bool,
}

/// How network providers answer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Mode {
    #[default]
    Live,
    /// Call them and save every exchange to cassettes.
    Record,
    /// Answer from cassettes, no network.
    Replay,
}

pub struct PlannedSuite {
    pub suite: Arc<Suite>,
    pub provider_name: String,
    pub provider: Arc<dyn Provider>,
}

pub struct Plan {
    pub config: ProjectConfig,
    pub suites: Vec<PlannedSuite>,
    /// Holds every prompt template, shared by the runner.
    pub env: Arc<Environment<'static>>,
    /// `sha256:` over evalgate.yaml and every suite file.
    pub config_hash: String,
    /// More than one `--provider`: every suite runs against each.
    pub matrix: bool,
    /// Set with `--record`: flush it when the run ends.
    pub recorder: Option<Arc<crate::provider::cassette::Recorder>>,
    filter: Option<GlobSet>,
    tags: Vec<String>,
}

/// One case to run.
pub struct PlannedCase {
    pub suite: usize,
    pub case: Arc<CaseDef>,
}

impl Plan {
    /// Load config and suites, validate everything, build providers.
    pub fn load(sel: &Selection) -> Result<Plan, Error> {
        let (config_path, explicit) = match &sel.config {
            Some(p) => (p.clone(), true),
            None => (PathBuf::from("evalgate.yaml"), false),
        };
        // Config problems are collected, not fatal: the suites are still validated.
        let (config, mut diags) = ProjectConfig::load(&config_path, explicit);

        let provider_names: Vec<String> = config.providers.keys().cloned().collect();
        // Suites may name providers whose definition is broken (already reported).
        let mut known_names = provider_names.clone();
        known_names.extend(config.broken_providers.iter().cloned());
        for p in sel.providers.iter().filter(|_| diags.is_empty()) {
            if !config.providers.contains_key(p) {
                let hint = did_you_mean(p, provider_names.iter().map(String::as_str)).map_or_else(
                    || format!("defined providers: {}", provider_names.join(", ")),
                    |s| format!("did you mean `{s}`?"),
                );
                return Err(Error::Usage(format!(
                    "unknown provider `{p}` given to --provider\n  = hint: {hint}"
                )));
            }
        }
        // Mock responses are validated whether or not the run uses them.
        let mut mocks: BTreeMap<String, Arc<dyn Provider>> = BTreeMap::new();
        for (name, pc) in &config.providers {
            if let ProviderKind::Mock {
                responses,
                latency,
                model,
            } = &pc.kind
            {
                let loaded = match responses {
                    Some(path) => match MockResponses::load(path) {
                        Ok(r) => r,
                        Err(d) => {
                            let used_by = format!(
                                "this file is the `responses` of provider `{name}` in {}",
                                config
                                    .path
                                    .as_deref()
                                    .map_or_else(|| "evalgate.yaml".to_string(), display_path)
                            );
                            diags.extend(d.into_iter().map(|mut d| {
                                d.hint = Some(match d.hint.take() {
                                    Some(h) => format!("{h}; {used_by}"),
                                    None => used_by.clone(),
                                });
                                d
                            }));
                            continue;
                        }
                    },
                    None => MockResponses::default(),
                };
                mocks.insert(
                    name.clone(),
                    Arc::new(Mock::new(name, model.clone(), loaded, *latency)),
                );
            }
        }

        let files = discover(&config, &sel.paths, &mut diags)?;
        let mut env = template::environment();
        let mut suites: Vec<Suite> = Vec::new();
        let mut hasher = Sha256::new();
        hasher.update(config.text.as_bytes());
        for f in &files {
            let mut lcx = LoadContext {
                root: &config.root,
                providers: config.complete.then_some(known_names.as_slice()),
                env: &mut env,
            };
            match suite::load(f, &mut lcx) {
                Ok(s) => suites.push(s),
                Err(mut d) => diags.append(&mut d),
            }
            hasher.update(display_path(f).as_bytes());
            if let Ok(bytes) = std::fs::read(f) {
                hasher.update(&bytes);
            }
        }
        // Gate thresholds for suites or tags that do not exist would never apply.
        if sel.paths.is_empty() && config.complete {
            if let Some(cfg_path) = &config.path {
                let cfg_text = config.text.as_str();
                let suite_names: Vec<&str> = suites.iter().map(|s| s.name.as_str()).collect();
                let mut tags: std::collections::BTreeSet<&str> = std::collections::BTreeSet::new();
                for s in &suites {
                    tags.extend(s.tags.iter().map(String::as_str));
                    for c in &s.cases {
                        tags.extend(c.tags.iter().map(String::as_str));
                    }
                    if let Some(d) = &s.dataset {
                        tags.extend(d.tags.iter().map(String::as_str));
                    }
                }
                for (kind, name, pos) in &config.gate_names {
                    let known: Vec<&str> = if *kind == "suite" {
                        suite_names.clone()
                    } else {
                        tags.iter().copied().collect()
                    };
                    if !known.contains(&name.as_str()) {
                        let hint = match did_you_mean(name, known.iter().copied()) {
                            Some(k) => format!("did you mean `{k}`?"),
                            None if known.is_empty() => format!("no suite defines any {kind}s"),
                            None => format!("known {kind}s: {}", known.join(", ")),
                        };
                        diags.push(
                            Diagnostic::new(
                                cfg_path,
                                Some(*pos),
                                format!("the gate names {kind} `{name}`, which no suite defines"),
                            )
                            .with_source(cfg_text)
                            .with_hint(hint),
                        );
                    }
                }
            }
        }
        let mut seen: BTreeMap<String, PathBuf> = BTreeMap::new();
        for s in &suites {
            if let Some(prev) = seen.insert(s.name.clone(), s.file.clone()) {
                diags.push(
                    Diagnostic::new(
                        &s.file,
                        None,
                        format!(
                            "duplicate suite name `{}` (also used by {})",
                            s.name,
                            display_path(&prev)
                        ),
                    )
                    .with_hint("set a unique `name:` in one of the two files"),
                );
            }
        }
        if !diags.is_empty() {
            // Report in reading order: by file, then line and column.
            diags.sort_by_key(|d| (d.file.clone(), d.pos.map(|p| (p.line, p.col))));
            return Err(Error::from(diags));
        }

        let filter = build_filter(&sel.filters)?;
        // Which providers each suite runs against, in order.
        let mut runs: Vec<(Suite, Vec<String>)> = Vec::new();
        let mut default_diags = Vec::new();
        for s in suites {
            let names = if sel.providers.is_empty() {
                match s.provider.as_ref().map(|(p, _)| p.clone()) {
                    Some(p) => vec![p],
                    None if config.default_provider.is_empty() => {
                        let known: Vec<&str> =
                            config.providers.keys().map(String::as_str).collect();
                        default_diags.push(
                            Diagnostic::new(
                                &s.file,
                                None,
                                format!(
                                    "suite `{}` names no provider, and evalgate.yaml has no `default_provider` (it defines {})",
                                    s.name,
                                    known.join(", ")
                                ),
                            )
                            .with_hint("add `provider: <name>` to the suite or `default_provider: <name>` to evalgate.yaml, or pass --provider"),
                        );
                        Vec::new()
                    }
                    None => vec![config.default_provider.clone()],
                }
            } else {
                let mut v: Vec<String> = Vec::new();
                for p in &sel.providers {
                    if !v.contains(p) {
                        v.push(p.clone());
                    }
                }
                v
            };
            runs.push((s, names));
        }
        if !default_diags.is_empty() {
            return Err(Error::from(default_diags));
        }
        // Names that differ only in case share golden and cassette files on
        // case-insensitive file systems.
        let mut lower: BTreeMap<String, String> = BTreeMap::new();
        let mut case_diags = Vec::new();
        for (s, _) in &runs {
            if let Some(other) = lower.insert(s.name.to_lowercase(), s.name.clone()) {
                if other != s.name {
                    case_diags.push(
                        Diagnostic::new(&s.file, None, format!("suites `{other}` and `{}` differ only in case", s.name))
                            .with_hint("rename one: they would share golden and cassette files on case-insensitive file systems"),
                    );
                }
            }
        }
        let mut lower_p: BTreeMap<String, String> = BTreeMap::new();
        for name in config.providers.keys() {
            if let Some(other) = lower_p.insert(name.to_lowercase(), name.clone()) {
                case_diags.push(
                    Diagnostic::new(
                        config.path.clone().unwrap_or_else(|| PathBuf::from("evalgate.yaml")),
                        config.providers.get(name).and_then(|p| p.pos),
                        format!("providers `{other}` and `{name}` differ only in case"),
                    )
                    .with_source(&config.text)
                    .with_hint("rename one: they would share golden and cassette files on case-insensitive file systems"),
                );
            }
        }
        if !case_diags.is_empty() {
            return Err(Error::from(case_diags));
        }
        // Only providers with a selected case are built (and need credentials).
        let filter_ref = filter.as_ref();
        let selected_any = |s: &Suite| -> bool {
            if filter_ref.is_none() && sel.tags.is_empty() {
                return true;
            }
            let Ok(cases) = s.iter_cases() else {
                return true;
            };
            cases
                .flatten()
                .any(|c| selects(filter_ref, &sel.tags, s, &c))
        };
        let mut used: Vec<String> = Vec::new();
        for (s, names) in &runs {
            if !selected_any(s) {
                continue;
            }
            for n in names {
                if !used.contains(n) {
                    used.push(n.clone());
                }
            }
        }
        let recorder = (sel.connect && sel.mode == Mode::Record)
            .then(|| crate::provider::cassette::Recorder::new(config.cassettes_dir.clone()));
        let mut providers: BTreeMap<String, Arc<dyn Provider>> = BTreeMap::new();
        let mut build_diags = Vec::new();
        for name in &used {
            match crate::provider::build::build(&config, name, sel, &mocks, recorder.as_ref()) {
                Ok(p) => {
                    providers.insert(name.clone(), p);
                }
                Err(mut d) => build_diags.append(&mut d),
            }
        }
        if !build_diags.is_empty() {
            return Err(Error::from(build_diags));
        }
        let mut planned = Vec::new();
        for (s, names) in runs {
            let suite = Arc::new(s);
            for provider_name in names {
                // A suite with no selected case keeps its place without a provider call.
                let provider = match providers.get(&provider_name) {
                    Some(p) => p.clone(),
                    None if !used.contains(&provider_name) => {
                        Arc::new(crate::provider::echo::Echo::new(&provider_name))
                            as Arc<dyn Provider>
                    }
                    None => {
                        return Err(Error::Usage(format!(
                            "provider `{provider_name}` is not defined"
                        )))
                    }
                };
                planned.push(PlannedSuite {
                    suite: suite.clone(),
                    provider_name,
                    provider,
                });
            }
        }
        // Two cases may not share a golden file, also on case-insensitive
        // file systems (macOS, Windows checkouts of the same repository).
        let mut golden_diags = Vec::new();
        for ps in &planned {
            let s = &ps.suite;
            let any_golden = s
                .cases
                .iter()
                .flat_map(|c| c.checks.iter())
                .chain(s.dataset.iter().flat_map(|d| d.checks.iter()))
                .any(|c| c.check.golden().is_some());
            if !any_golden {
                continue;
            }
            let store = crate::golden::Store::new(PathBuf::new(), crate::golden::Writes::Nothing);
            let mut owners: std::collections::HashMap<String, String> =
                std::collections::HashMap::new();
            for case in s.iter_cases().map_err(Error::Infrastructure)? {
                let case = case.map_err(Error::Infrastructure)?;
                for g in case.checks.iter().filter_map(|c| c.check.golden()) {
                    let provider = g.per_provider.then_some(ps.provider_name.as_str());
                    let key = display_path(&store.path_for(&s.name, &case.id, provider, g.ext()))
                        .to_lowercase();
                    match owners.get(&key) {
                        Some(other) if *other != case.id => golden_diags.push(
                            Diagnostic::new(
                                &s.file,
                                None,
                                format!("cases `{other}` and `{}` would share the golden file `golden/{key}` (names differ only in case)", case.id),
                            )
                            .with_hint("rename one of them: case-insensitive file systems cannot hold both"),
                        ),
                        _ => {
                            owners.insert(key, case.id.clone());
                        }
                    }
                }
            }
        }
        if !golden_diags.is_empty() {
            return Err(Error::from(golden_diags));
        }
        // The audit hash also covers every file that decides outcomes:
        // mock responses, datasets and JSON schema files.
        let mut inputs: std::collections::BTreeSet<PathBuf> = std::collections::BTreeSet::new();
        for pc in config.providers.values() {
            if let ProviderKind::Mock {
                responses: Some(p), ..
            } = &pc.kind
            {
                inputs.insert(p.clone());
            }
        }
        for ps in &planned {
            let s = &ps.suite;
            if let Some(d) = &s.dataset {
                inputs.insert(d.path.clone());
                for c in &d.checks {
                    inputs.extend(c.check.input_files());
                }
            }
            for case in &s.cases {
                for c in &case.checks {
                    inputs.extend(c.check.input_files());
                }
            }
        }
        for p in &inputs {
            hasher.update(display_path(p).as_bytes());
            if let Ok(bytes) = std::fs::read(p) {
                hasher.update(&bytes);
            }
        }
        let config_hash = format!("sha256:{:x}", hasher.finalize());
        Ok(Plan {
            config,
            suites: planned,
            env: Arc::new(env),
            config_hash,
            matrix: sel.providers.len() > 1,
            recorder,
            filter,
            tags: sel.tags.clone(),
        })
    }

    /// Suite names in plan order, each once (a matrix plans a suite once
    /// per provider).
    pub fn suite_names(&self) -> Vec<String> {
        unique(self.suites.iter().map(|s| &s.suite.name))
    }

    /// Provider names in plan order, each once.
    pub fn provider_names(&self) -> Vec<String> {
        unique(self.suites.iter().map(|s| &s.provider_name))
    }

    /// Whether `--filter` and `--tag` select this case.
    pub fn selects(&self, suite: &Suite, case: &CaseDef) -> bool {
        selects(self.filter.as_ref(), &self.tags, suite, case)
    }

    /// Every selected case in order (suite, then case), streamed.
    pub fn cases(&self) -> impl Iterator<Item = Result<PlannedCase, Error>> + '_ {
        self.suites.iter().enumerate().flat_map(move |(i, ps)| {
            let iter: Box<dyn Iterator<Item = Result<PlannedCase, Error>>> =
                match ps.suite.iter_cases() {
                    Ok(cases) => Box::new(cases.filter_map(move |c| {
                        match c {
                            Ok(case) => self
                                .selects(&ps.suite, &case)
                                .then_some(Ok(PlannedCase { suite: i, case })),
                            Err(e) => Some(Err(Error::Infrastructure(format!(
                                "dataset changed during the run: {e}"
                            )))),
                        }
                    })),
                    Err(e) => Box::new(std::iter::once(Err(Error::Infrastructure(e)))),
                };
            iter
        })
    }

    /// Every golden file a case of this plan uses (all cases, ignoring filters).
    pub fn golden_paths(
        &self,
        store: &crate::golden::Store,
    ) -> Result<std::collections::HashSet<PathBuf>, Error> {
        let mut used = std::collections::HashSet::new();
        for ps in &self.suites {
            let cases = ps.suite.iter_cases().map_err(Error::Infrastructure)?;
            for case in cases {
                let case = case.map_err(Error::Infrastructure)?;
                for check in &case.checks {
                    if let Some(g) = check.check.golden() {
                        if g.per_provider {
                            // Any provider may run this suite (`--provider`): keep them all.
                            for provider in self.config.providers.keys() {
                                used.insert(store.path_for(
                                    &ps.suite.name,
                                    &case.id,
                                    Some(provider),
                                    g.ext(),
                                ));
                            }
                        } else {
                            used.insert(store.path_for(&ps.suite.name, &case.id, None, g.ext()));
                        }
                    }
                }
            }
        }
        Ok(used)
    }

    /// Count the selected cases (reads datasets once more).
    pub fn count(&self) -> Result<u64, Error> {
        let mut n = 0;
        for c in self.cases() {
            c?;
            n += 1;
        }
        Ok(n)
    }
}

fn unique<'a>(names: impl Iterator<Item = &'a String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for n in names {
        if !out.contains(n) {
            out.push(n.clone());
        }
    }
    out
}

/// Whether the `--filter` globs and `--tag` values select this case.
fn selects(filter: Option<&GlobSet>, tags: &[String], suite: &Suite, case: &CaseDef) -> bool {
    if let Some(f) = filter {
        if !f.is_match(format!("{}/{}", suite.name, case.id)) {
            return false;
        }
    }
    tags.is_empty() || tags.iter().any(|t| case.tags.contains(t))
}

fn build_filter(filters: &[String]) -> Result<Option<GlobSet>, Error> {
    if filters.is_empty() {
        return Ok(None);
    }
    let mut b = GlobSetBuilder::new();
    for f in filters {
        // A pattern without `/` selects whole suites: `capitals` = `capitals/*`.
        let patterns = if f.contains('/') {
            vec![f.clone()]
        } else {
            vec![f.clone(), format!("{f}/*")]
        };
        for p in patterns {
            let glob =
                Glob::new(&p).map_err(|e| Error::Usage(format!("invalid --filter {f:?}: {e}")))?;
            b.add(glob);
        }
    }
    b.build()
        .map(Some)
        .map_err(|e| Error::Usage(format!("invalid --filter: {e}")))
}

/// Find suite files: the paths given (files or directories), or the config's globs.
fn discover(
    config: &ProjectConfig,
    paths: &[PathBuf],
    diags: &mut Vec<Diagnostic>,
) -> Result<Vec<PathBuf>, Error> {
    let mut files = Vec::new();
    let is_suite = |p: &Path| {
        matches!(
            p.extension().and_then(|e| e.to_str()),
            Some("yaml" | "yml" | "json")
        )
    };
    if !paths.is_empty() {
        for p in paths {
            if p.is_dir() {
                walk(p, &mut files, &is_suite);
            } else if p.is_file() {
                files.push(p.clone());
            } else {
                diags.push(
                    Diagnostic::new(p, None, "suite file or directory not found")
                        .with_hint("check the path given on the command line"),
                );
            }
        }
    } else {
        let mut b = GlobSetBuilder::new();
        for g in &config.suites {
            let glob =
                Glob::new(g).map_err(|e| Error::Usage(format!("invalid suite glob {g:?}: {e}")))?;
            b.add(glob);
        }
        let set = b
            .build()
            .map_err(|e| Error::Usage(format!("invalid suite globs: {e}")))?;
        let mut all = Vec::new();
        let base = if config.root.as_os_str().is_empty() {
            PathBuf::from(".")
        } else {
            config.root.clone()
        };
        // Walk only the literal directories the globs start with (`suites/` for `suites/**/*.yaml`).
        let mut starts: Vec<PathBuf> = config
            .suites
            .iter()
            .map(|g| base.join(literal_prefix(g)))
            .collect();
        starts.sort();
        starts.dedup();
        for start in starts {
            walk(&start, &mut all, &|_| true);
        }
        for f in all {
            let rel = f.strip_prefix(&base).unwrap_or(&f);
            if set.is_match(rel) && is_suite(&f) {
                files.push(f);
            }
        }
    }
    // The same file named twice (relative and absolute, `./a` and `a`) is loaded once.
    let mut seen = std::collections::HashSet::new();
    files.retain(|f| seen.insert(std::fs::canonicalize(f).unwrap_or_else(|_| f.clone())));
    files.sort();
    if files.is_empty() && diags.is_empty() {
        return Err(Error::Usage(format!(
            "no suite files found (looked for {})\n  = hint: add suites under suites/ or pass suite files as arguments",
            if paths.is_empty() { config.suites.join(", ") } else { "the given paths".to_string() }
        )));
    }
    Ok(files)
}

/// The leading path components of a glob that contain no glob syntax.
fn literal_prefix(glob: &str) -> PathBuf {
    let mut out = PathBuf::new();
    let parts: Vec<&str> = glob.split('/').collect();
    for (i, part) in parts.iter().enumerate() {
        if i + 1 == parts.len() || part.contains(['*', '?', '[', '{']) {
            break;
        }
        out.push(part);
    }
    out
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>, keep: &dyn Fn(&Path) -> bool) {
    let mut visited = std::collections::HashSet::new();
    walk_inner(dir, out, keep, &mut visited);
}

/// Depth-first walk that enters each real directory once (symlink loops end).
fn walk_inner(
    dir: &Path,
    out: &mut Vec<PathBuf>,
    keep: &dyn Fn(&Path) -> bool,
    visited: &mut std::collections::HashSet<PathBuf>,
) {
    let real = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
    if !visited.insert(real) {
        return;
    }
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<_> = entries.flatten().map(|e| e.path()).collect();
    entries.sort();
    for p in entries {
        let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if name.starts_with('.') || name == "target" || name == "node_modules" {
            continue;
        }
        if p.is_dir() {
            walk_inner(&p, out, keep, visited);
        } else if keep(&p) {
            out.push(p);
        }
    }
}

//! `evalgate.yaml`: named providers, gate policy, default report paths,
//! default concurrency and where the suites are.
//!
//! ```yaml
//! default_provider: mock
//! judge_provider: grader      # the `judge` check's provider when it names none
//! concurrency: 8
//! suites: ["suites/**/*.yaml"]
//! providers:
//!   mock: {type: mock, responses: fixtures/mock/responses.yaml}
//!   echo: {type: echo}
//! gate: {min_pass_rate: 1.0, fail_on_error: true}
//! reports: {junit: reports/junit.xml, json: reports/report.json, markdown: reports/summary.md}
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::config::provider::{article, recorded_types};
pub(crate) use crate::config::provider::{Header, Limits, ProviderKind};
use crate::error::{Diagnostic, Pos};
use crate::gate::GatePolicy;
use crate::syntax::decode::Ctx;
use crate::syntax::node::{self, Node};

/// Default suite locations when `suites:` is not set.
pub(crate) const DEFAULT_SUITE_GLOBS: &[&str] =
    &["suites/**/*.yaml", "suites/**/*.yml", "suites/**/*.json"];

#[derive(Debug, Clone, PartialEq)]
pub struct ProviderConfig {
    pub name: String,
    pub kind: ProviderKind,
    /// Retries, timeouts, concurrency, rate limits, cache.
    pub limits: Limits,
    /// Header names (besides Authorization, x-api-key, ...) whose values are secret.
    pub redact_headers: Vec<String>,
    /// Where it is defined (for errors about its fixtures).
    pub pos: Option<Pos>,
    /// Endpoint probes (`probes:`): the cases of the run's `probes` suite.
    pub probes: Vec<crate::config::probe::Probe>,
    /// `pricing:`: USD per million tokens (over the built-in table).
    pub pricing: Option<crate::config::pricing::Price>,
}

/// Default report locations (each overridable on the command line).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ReportPaths {
    pub junit: Option<PathBuf>,
    pub json: Option<PathBuf>,
    pub markdown: Option<PathBuf>,
    /// The HTML report: none unless asked for.
    pub html: Option<PathBuf>,
}

#[derive(Debug, Clone)]
pub struct ProjectConfig {
    /// The config file, when there is one.
    pub path: Option<PathBuf>,
    /// The project root: the directory of the config file, or the working directory.
    pub root: PathBuf,
    /// The raw text, for the config hash.
    pub text: String,
    pub default_provider: String,
    pub default_provider_pos: Option<Pos>,
    /// `judge_provider`: the provider of a `judge` check (and a golden in
    /// `judge` mode) that names none; with its position.
    pub judge_provider: Option<(String, Pos)>,
    pub concurrency: usize,
    pub suites: Vec<String>,
    pub providers: BTreeMap<String, ProviderConfig>,
    pub gate: GatePolicy,
    pub reports: ReportPaths,
    /// Suite and tag names under `gate.suites` / `gate.tags`, with their
    /// positions, checked against the loaded suites.
    pub gate_names: Vec<(&'static str, String, Pos)>,
    /// Where goldens live (`golden_dir`, default `golden/` under the root).
    pub golden_dir: PathBuf,
    /// Recorded provider exchanges (`cassettes`, default `fixtures/cassettes/`).
    pub cassettes_dir: PathBuf,
    /// The development response cache (`cache_dir`, default `.evalgate/cache/`).
    pub cache_dir: PathBuf,
    /// Providers named in the file whose definition has errors (reported
    /// already); suites naming them are not blamed a second time.
    pub broken_providers: Vec<String>,
    /// False when the file could not be read or parsed at all: provider names
    /// are then unknown and suites are not checked against them.
    pub complete: bool,
}

impl ProjectConfig {
    /// The configuration used when there is no `evalgate.yaml`: an `echo` and an
    /// empty `mock` provider, default gate, default report paths.
    pub fn builtin(root: &Path) -> Self {
        let mut providers = BTreeMap::new();
        providers.insert(
            "echo".to_string(),
            ProviderConfig {
                name: "echo".into(),
                kind: ProviderKind::Echo,
                limits: Limits::default(),
                redact_headers: Vec::new(),
                pos: None,
                probes: Vec::new(),
                pricing: None,
            },
        );
        providers.insert(
            "mock".to_string(),
            ProviderConfig {
                name: "mock".into(),
                kind: ProviderKind::Mock {
                    responses: None,
                    latency: Duration::ZERO,
                    model: None,
                },
                limits: Limits::default(),
                redact_headers: Vec::new(),
                pos: None,
                probes: Vec::new(),
                pricing: None,
            },
        );
        ProjectConfig {
            path: None,
            root: root.to_path_buf(),
            text: String::new(),
            default_provider: "echo".into(),
            default_provider_pos: None,
            judge_provider: None,
            concurrency: 8,
            suites: DEFAULT_SUITE_GLOBS.iter().map(|s| s.to_string()).collect(),
            providers,
            gate: GatePolicy::default(),
            reports: ReportPaths {
                junit: Some(PathBuf::from("reports/junit.xml")),
                json: Some(PathBuf::from("reports/report.json")),
                markdown: Some(PathBuf::from("reports/summary.md")),
                html: None,
            },
            broken_providers: Vec::new(),
            complete: true,
            golden_dir: root.join("golden"),
            cassettes_dir: root.join("fixtures").join("cassettes"),
            cache_dir: root.join(".evalgate").join("cache"),
            gate_names: Vec::new(),
        }
    }

    /// Load `path`. `explicit`: the user named it (a missing file is then an error);
    /// otherwise a missing default file means the built-in configuration.
    ///
    /// Always returns a configuration (the built-in one when the file is
    /// unusable) so that suites can still be validated, plus every problem found.
    pub fn load(path: &Path, explicit: bool) -> (Self, Vec<Diagnostic>) {
        let root = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::new(),
        };
        let mut cfg = Self::builtin(&root);
        let text =
            match crate::util::fsafe::read_to_string(path, crate::util::fsafe::Kind::Config, false)
            {
                Ok(t) => t,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound && !explicit => {
                    return (cfg, Vec::new());
                }
                Err(e) => {
                    cfg.complete = false;
                    let d = Diagnostic::new(path, None, format!("cannot read config file: {e}"))
                        .with_hint(
                            "pass an existing file with --config, or run from the project root",
                        );
                    return (cfg, vec![d]);
                }
            };
        cfg.path = Some(path.to_path_buf());
        let root_node = match node::parse(path, &text) {
            Ok(n) => n,
            Err(errors) => {
                cfg.complete = false;
                return (cfg, errors);
            }
        };
        let mut ctx = Ctx::new(path, &text).with_root(&root);
        cfg.text = text.clone();
        decode(&mut ctx, &root_node, &mut cfg);
        (cfg, ctx.errors)
    }
}

/// The top-level keys of `evalgate.yaml`.
pub(crate) const CONFIG_KEYS: &[&str] = &[
    "version",
    "default_provider",
    "judge_provider",
    "concurrency",
    "suites",
    "providers",
    "gate",
    "reports",
    "golden_dir",
    "cassettes",
    "cache_dir",
];
/// The keys of `reports:`.
pub(crate) const REPORT_KEYS: &[&str] = &["junit", "json", "markdown", "html"];
/// The keys of `gate:`.
pub(crate) const GATE_KEYS: &[&str] = &[
    "min_pass_rate",
    "max_failures",
    "fail_on_error",
    "fail_on_flaky",
    "max_regressions",
    "new_cases_must_pass",
    "suites",
    "tags",
    "security",
    "latency",
    "max_cost",
    "confidence",
    "pass_k",
    "regression_alpha",
];
/// The keys of `gate.security:`.
pub(crate) const SECURITY_GATE_KEYS: &[&str] = &["max_attack_success_rate", "categories"];
/// The keys of `gate.suites.<name>:` and `gate.tags.<name>:`.
pub(crate) const SUITE_GATE_KEYS: &[&str] = &["min_pass_rate"];
/// The keys of `gate.latency:` besides the limits.
pub(crate) const LATENCY_GATE_KEYS: &[&str] = &["suites", "insufficient_samples"];

fn decode(ctx: &mut Ctx<'_>, root: &Node, cfg: &mut ProjectConfig) {
    if matches!(root.value, node::Value::Null) {
        return;
    }
    let Some(f) = ctx.map(root, "evalgate.yaml", CONFIG_KEYS) else {
        return;
    };
    if let Some(v) = f.get("version") {
        if ctx.uint(v, "`version`", 1, 1).is_none() {
            return;
        }
    }
    if let Some(n) = f.get("concurrency") {
        if let Some(c) = ctx.uint(n, "`concurrency`", 1, 10_000) {
            cfg.concurrency = c as usize;
        }
    }
    if let Some(n) = f.get("suites") {
        if let Some(globs) = ctx.string_list(n, "`suites`") {
            for g in &globs {
                if let Err(e) = globset::Glob::new(g) {
                    ctx.error(n.pos, format!("invalid glob {g:?}: {e}"), None);
                }
            }
            cfg.suites = globs;
        }
    }
    if let Some(n) = f.get("providers") {
        decode_providers(ctx, n, cfg);
    }
    if let Some(n) = f.get("default_provider") {
        if let Some(name) = ctx.string(n, "`default_provider`") {
            cfg.default_provider = name;
            cfg.default_provider_pos = Some(n.pos);
        }
    } else if f.get("providers").is_some() && cfg.providers.len() == 1 {
        if let Some(name) = cfg.providers.keys().next() {
            cfg.default_provider = name.clone();
        }
    }
    if !cfg.providers.contains_key(&cfg.default_provider)
        && !cfg.broken_providers.contains(&cfg.default_provider)
    {
        let pos = cfg.default_provider_pos.unwrap_or(f.pos);
        let known: Vec<&str> = cfg.providers.keys().map(String::as_str).collect();
        if cfg.default_provider_pos.is_none() {
            // Several providers and no default: only suites that name no
            // provider need one; the plan reports those.
            cfg.default_provider = String::new();
        } else {
            let hint =
                match crate::error::did_you_mean(&cfg.default_provider, known.iter().copied()) {
                    Some(s) => format!("did you mean `{s}`?"),
                    None => format!("defined providers: {}", known.join(", ")),
                };
            ctx.error(
                pos,
                format!(
                    "unknown provider `{}` as default_provider",
                    cfg.default_provider
                ),
                Some(hint),
            );
        }
    }
    if let Some(n) = f.get("judge_provider") {
        if let Some(name) = ctx.string(n, "`judge_provider`") {
            if cfg.providers.contains_key(&name) || cfg.broken_providers.contains(&name) {
                cfg.judge_provider = Some((name, n.pos));
            } else {
                let known: Vec<&str> = cfg.providers.keys().map(String::as_str).collect();
                let hint = match crate::error::did_you_mean(&name, known.iter().copied()) {
                    Some(s) => format!("did you mean `{s}`?"),
                    None => format!("defined providers: {}", known.join(", ")),
                };
                ctx.error(
                    n.pos,
                    format!("unknown provider `{name}` as judge_provider"),
                    Some(hint),
                );
            }
        }
    }
    if let Some(n) = f.get("gate") {
        cfg.gate_names = decode_gate(ctx, n, &mut cfg.gate);
    }
    if let Some(n) = f.get("golden_dir") {
        if let Some(d) = ctx.string(n, "`golden_dir`") {
            cfg.golden_dir = ctx.resolve_path(&d);
        }
    }
    for (key, slot) in [
        ("cassettes", &mut cfg.cassettes_dir),
        ("cache_dir", &mut cfg.cache_dir),
    ] {
        if let Some(d) = f.get(key).and_then(|n| ctx.string(n, &format!("`{key}`"))) {
            *slot = ctx.resolve_path(&d);
        }
    }
    if let Some(n) = f.get("reports") {
        if let Some(rf) = ctx.map(n, "`reports`", REPORT_KEYS) {
            let mut path = |k: &str| -> Option<Option<PathBuf>> {
                let n = rf.get(k)?;
                if matches!(n.value, node::Value::Null) || n.value == node::Value::Bool(false) {
                    return Some(None);
                }
                ctx.string(n, &format!("`reports.{k}`"))
                    .map(|s| Some(ctx.resolve_path(&s)))
            };
            if let Some(p) = path("junit") {
                cfg.reports.junit = p;
            }
            if let Some(p) = path("json") {
                cfg.reports.json = p;
            }
            if let Some(p) = path("markdown") {
                cfg.reports.markdown = p;
            }
            if let Some(p) = path("html") {
                cfg.reports.html = p;
            }
        }
    }
    // Report defaults and suite globs are relative to the project root.
    for p in [
        &mut cfg.reports.junit,
        &mut cfg.reports.json,
        &mut cfg.reports.markdown,
        &mut cfg.reports.html,
    ]
    .into_iter()
    .flatten()
    {
        if p.is_relative() && !p.starts_with(&cfg.root) {
            *p = cfg.root.join(&*p);
        }
    }
}

fn decode_providers(ctx: &mut Ctx<'_>, node: &Node, cfg: &mut ProjectConfig) {
    let node::Value::Map(entries) = &node.value else {
        ctx.error(
            node.pos,
            format!(
                "`providers` must be a mapping of names to providers, found {}",
                node.kind_name()
            ),
            None,
        );
        return;
    };
    cfg.providers.clear();
    for e in entries {
        // Assume broken until the definition decodes.
        cfg.broken_providers.push(e.key.clone());
        let Some(d) = crate::config::provider::decode(ctx, &e.key, &e.value) else {
            continue;
        };
        cfg.broken_providers.retain(|n| n != &e.key);
        cfg.providers.insert(
            e.key.clone(),
            ProviderConfig {
                name: e.key.clone(),
                kind: d.kind,
                limits: d.limits,
                redact_headers: d.redact_headers,
                pos: Some(e.key_pos),
                probes: d.probes,
                pricing: d.pricing,
            },
        );
    }
    // A replay provider answers with another provider's recordings.
    let names: Vec<String> = cfg.providers.keys().cloned().collect();
    let mut bad = Vec::new();
    for (name, pc) in &cfg.providers {
        if let ProviderKind::Replay(r) = &pc.kind {
            let ok = cfg
                .providers
                .get(&r.of)
                .is_some_and(|o| o.kind.provider_type().recorded);
            if !ok && !cfg.broken_providers.contains(&r.of) {
                let hint = match crate::error::did_you_mean(&r.of, names.iter().map(String::as_str))
                {
                    Some(s) => format!("did you mean `{s}`?"),
                    None => format!("defined providers: {}", names.join(", ")),
                };
                let msg = if let Some(o) = cfg.providers.get(&r.of) {
                    format!(
                        "provider `{name}` replays `{}`, a `{}` provider: only {} providers are recorded",
                        r.of,
                        o.kind.type_name(),
                        recorded_types("and")
                    )
                } else {
                    format!("provider `{name}` replays `{}`, which is not defined", r.of)
                };
                let hint = if cfg.providers.contains_key(&r.of) {
                    let recordable: Vec<&str> = cfg
                        .providers
                        .iter()
                        .filter(|(_, p)| p.kind.provider_type().recorded)
                        .map(|(n, _)| n.as_str())
                        .collect();
                    if recordable.is_empty() {
                        let types = recorded_types("or");
                        format!(
                            "define {} {types} provider and record it with `evalgate run --record`",
                            article(&types)
                        )
                    } else {
                        format!("providers that can be recorded: {}", recordable.join(", "))
                    }
                } else {
                    hint
                };
                ctx.error(r.of_pos.or(pc.pos).unwrap_or(node.pos), msg, Some(hint));
                bad.push(name.clone());
            }
        }
    }
    for name in bad {
        cfg.providers.remove(&name);
        cfg.broken_providers.push(name);
    }
}

pub(crate) const LATENCY_LIMIT_KEYS: &[&str] = &[
    "p50_ms",
    "p90_ms",
    "p95_ms",
    "p99_ms",
    "ttft_p50_ms",
    "ttft_p90_ms",
    "ttft_p95_ms",
    "ttft_p99_ms",
    "max_error_rate",
];

/// The limits of `gate.latency` or of one of its suites, from `f`.
fn decode_latency_limits(
    ctx: &mut Ctx<'_>,
    f: &crate::syntax::decode::Fields<'_>,
) -> crate::gate::LatencyLimits {
    let mut l = crate::gate::LatencyLimits::default();
    for (i, (_, name)) in crate::gate::QUANTILES.iter().enumerate() {
        if let Some(n) = f.get(&format!("{name}_ms")) {
            l.latency[i] = ctx.number(n, &format!("`{name}_ms`"), 0.0, f64::MAX);
        }
        if let Some(n) = f.get(&format!("ttft_{name}_ms")) {
            l.ttft[i] = ctx.number(n, &format!("`ttft_{name}_ms`"), 0.0, f64::MAX);
        }
    }
    if let Some(n) = f.get("max_error_rate") {
        l.max_error_rate = ctx.number(n, "`max_error_rate`", 0.0, 1.0);
    }
    l
}

/// `gate.latency: {p95_ms: 2000, ttft_p95_ms: 800, max_error_rate: 0.01,
/// suites: {chat: {p95_ms: 3000}}, insufficient_samples: fail}`; returns the
/// suite names it mentions.
fn decode_latency_gate(
    ctx: &mut Ctx<'_>,
    node: &Node,
    gate: &mut crate::gate::LatencyGate,
) -> Vec<(&'static str, String, Pos)> {
    let mut keys = LATENCY_LIMIT_KEYS.to_vec();
    keys.extend(LATENCY_GATE_KEYS);
    let mut names = Vec::new();
    let Some(f) = ctx.map(node, "`gate.latency`", &keys) else {
        return names;
    };
    gate.limits = decode_latency_limits(ctx, &f);
    if let Some(n) = f.get("insufficient_samples") {
        match ctx.string(n, "`insufficient_samples`").as_deref() {
            Some("fail") => gate.warn_on_insufficient = false,
            Some("warn") => gate.warn_on_insufficient = true,
            Some(other) => ctx.error(
                n.pos,
                format!("`insufficient_samples` must be `fail` or `warn`, found `{other}`"),
                Some("`fail` (the default): a percentile with too few samples fails the gate; `warn`: it is reported and let pass".into()),
            ),
            None => {}
        }
    }
    if let Some(n) = f.get("suites") {
        let node::Value::Map(entries) = &n.value else {
            ctx.error(
                n.pos,
                "`gate.latency.suites` must be a mapping of suite names to limits, e.g. `{chat: {p95_ms: 3000}}`",
                None,
            );
            return names;
        };
        for e in entries {
            names.push(("suite", e.key.clone(), e.key_pos));
            if let Some(sf) = ctx.map(
                &e.value,
                &format!("`gate.latency.suites.{}`", e.key),
                LATENCY_LIMIT_KEYS,
            ) {
                let limits = decode_latency_limits(ctx, &sf);
                gate.suites.insert(e.key.clone(), limits);
            }
        }
    }
    names
}

/// `gate.security: {max_attack_success_rate: 0, categories: {jailbreak: 0.05}}`.
fn decode_security_gate(ctx: &mut Ctx<'_>, node: &Node, gate: &mut crate::gate::SecurityGate) {
    let Some(f) = ctx.map(node, "`gate.security`", SECURITY_GATE_KEYS) else {
        return;
    };
    if let Some(n) = f.get("max_attack_success_rate") {
        if let Some(v) = ctx.number(n, "`max_attack_success_rate`", 0.0, 1.0) {
            gate.max_attack_success_rate = v;
        }
    }
    let Some(n) = f.get("categories") else { return };
    let node::Value::Map(entries) = &n.value else {
        ctx.error(
            n.pos,
            "`gate.security.categories` must be a mapping of attack categories to rates, e.g. `{jailbreak: 0.05}`",
            None,
        );
        return;
    };
    let known: Vec<&str> = crate::attack::pack()
        .map(|p| p.category_names())
        .unwrap_or_default();
    for e in entries {
        if !known.contains(&e.key.as_str()) {
            let hint = match crate::error::did_you_mean(&e.key, known.iter().copied()) {
                Some(s) => format!("did you mean `{s}`?"),
                None => format!("attack categories: {}", known.join(", ")),
            };
            ctx.error(
                e.key_pos,
                format!("unknown attack category `{}`", e.key),
                Some(hint),
            );
            continue;
        }
        if let Some(v) = ctx.number(
            &e.value,
            &format!("`gate.security.categories.{}`", e.key),
            0.0,
            1.0,
        ) {
            gate.categories.insert(e.key.clone(), v);
        }
    }
}

/// Decode a `gate:` mapping into `policy` (used by evalgate.yaml).
/// Returns the suite and tag names it mentions, with positions.
pub(crate) fn decode_gate(
    ctx: &mut Ctx<'_>,
    node: &Node,
    policy: &mut GatePolicy,
) -> Vec<(&'static str, String, Pos)> {
    let mut names = Vec::new();
    let Some(g) = ctx.map(node, "`gate`", GATE_KEYS) else {
        return names;
    };
    if let Some(n) = g.get("security") {
        decode_security_gate(ctx, n, &mut policy.security);
    }
    if let Some(n) = g.get("latency") {
        names.extend(decode_latency_gate(ctx, n, &mut policy.latency));
    }
    if let Some(n) = g.get("min_pass_rate") {
        if let Some(v) = ctx.number(n, "`min_pass_rate`", 0.0, 1.0) {
            policy.min_pass_rate = v;
        }
    }
    if let Some(n) = g.get("max_failures") {
        policy.max_failures = ctx.uint(n, "`max_failures`", 0, u64::MAX >> 1);
    }
    if let Some(n) = g.get("max_cost") {
        policy.max_cost = ctx.number(n, "`max_cost` (USD)", 0.0, 1e12);
    }
    if let Some(n) = g.get("confidence") {
        if let Some(v) = ctx.number(n, "`confidence`", 0.5, 0.999_999) {
            policy.confidence = Some(v);
        }
    }
    if let Some(n) = g.get("pass_k") {
        policy.pass_k = ctx
            .uint(n, "`pass_k`", 1, u64::from(u32::MAX))
            .map(|k| k as u32);
    }
    if let Some(n) = g.get("regression_alpha") {
        if let Some(v) = ctx.number(n, "`regression_alpha`", 0.000_001, 0.5) {
            policy.regression_alpha = v;
        }
    }
    if let Some(n) = g.get("fail_on_error") {
        if let Some(b) = ctx.bool(n, "`fail_on_error`") {
            policy.fail_on_error = b;
        }
    }
    if let Some(n) = g.get("max_regressions") {
        if let Some(v) = ctx.uint(n, "`max_regressions`", 0, u64::MAX >> 1) {
            policy.max_regressions = v;
        }
    }
    if let Some(n) = g.get("new_cases_must_pass") {
        if let Some(b) = ctx.bool(n, "`new_cases_must_pass`") {
            policy.new_cases_must_pass = b;
        }
    }
    if let Some(n) = g.get("fail_on_flaky") {
        if let Some(b) = ctx.bool(n, "`fail_on_flaky`") {
            policy.fail_on_flaky = b;
        }
    }
    for (key, target) in [("suites", &mut policy.suites), ("tags", &mut policy.tags)] {
        let Some(n) = g.get(key) else { continue };
        let node::Value::Map(entries) = &n.value else {
            ctx.error(
                n.pos,
                format!("`gate.{key}` must be a mapping of names to {{min_pass_rate: …}}"),
                None,
            );
            continue;
        };
        for e in entries {
            names.push((
                if key == "suites" { "suite" } else { "tag" },
                e.key.clone(),
                e.key_pos,
            ));
            let Some(f) = ctx.map(
                &e.value,
                &format!("`gate.{key}.{}`", e.key),
                SUITE_GATE_KEYS,
            ) else {
                continue;
            };
            if let Some(v) = ctx
                .require(&f, "min_pass_rate", &format!("`gate.{key}.{}`", e.key))
                .and_then(|n| ctx.number(n, "`min_pass_rate`", 0.0, 1.0))
            {
                target.insert(e.key.clone(), v);
            }
        }
    }
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> Result<ProjectConfig, Vec<String>> {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("evalgate.yaml");
        std::fs::write(&p, text).unwrap();
        let (cfg, errors) = ProjectConfig::load(&p, true);
        if errors.is_empty() {
            Ok(cfg)
        } else {
            Err(errors.into_iter().map(|d| d.message).collect())
        }
    }

    #[test]
    fn full_config() {
        let c = load(
            "default_provider: m\nconcurrency: 4\nproviders:\n  m: {type: mock, latency_ms: 5}\n  e: {type: echo}\ngate:\n  min_pass_rate: 0.9\n  max_failures: 2\n  fail_on_flaky: true\n  tags: {smoke: {min_pass_rate: 1}}\nreports: {junit: out/j.xml, markdown: false}\n",
        )
        .unwrap();
        assert_eq!(c.concurrency, 4);
        assert_eq!(c.default_provider, "m");
        assert_eq!(c.gate.max_failures, Some(2));
        assert_eq!(c.gate.tags.get("smoke"), Some(&1.0));
        assert!(c.reports.junit.unwrap().ends_with("out/j.xml"));
        assert!(c.reports.markdown.is_none());
    }

    #[test]
    fn errors_are_collected() {
        let errs = load("concurency: 3\nproviders:\n  x: {type: mokc}\ngate: {min_pass_rate: 2}\n")
            .unwrap_err();
        assert!(
            errs.contains(&"unknown key `concurency` in evalgate.yaml".to_string()),
            "{errs:?}"
        );
        assert!(
            errs.contains(&"unknown provider type `mokc`".to_string()),
            "{errs:?}"
        );
        assert!(
            errs.iter().any(|e| e.contains("between 0 and 1")),
            "{errs:?}"
        );
    }

    #[test]
    fn unknown_default_provider() {
        let errs = load("default_provider: mokc\nproviders:\n  mock: {type: mock}\n").unwrap_err();
        assert_eq!(errs, vec!["unknown provider `mokc` as default_provider"]);
    }
}

//! Endpoint probes (`probes:` on an `openai`, `anthropic` or `http`
//! provider): authentication, rate limiting, oversized and malformed
//! requests, sent to the provider's endpoint.
//!
//! They run as ordinary cases, so every report and the gate show them with
//! no special casing: the plan adds a suite named [`SUITE`] per probed
//! provider (planned like one suite of a provider matrix), with one case per
//! probe (`probes/auth`, `probes/rate_limit`, …; `--filter 'probes/*'`
//! selects them like any suite's cases). The case's provider is a
//! [`ProbeRunner`], which makes the raw HTTP exchanges and answers with the
//! evidence (its first line the verdict), and its one check is
//! [`ProbeCheck`], which reads that verdict. Probes are live only: under
//! `--replay` each case is skipped with the reason.

mod raw;
mod runner;

use std::sync::Arc;
use std::time::Duration;

pub(crate) use runner::ProbeRunner;

use crate::check::{CheckSpec, Eval, EvalCtx, SyncCheck};
use crate::config::probe::{Probe, ProbeKind};
use crate::config::project::ProjectConfig;
use crate::error::{display_path, Diagnostic};
use crate::suite::{CaseDef, Prompt, Settings, Suite};

/// The name of the probes' suite.
pub(crate) const SUITE: &str = "probes";

/// The template name of the probes' (unused) prompt.
const PROMPT_TEMPLATE: &str = "probes/prompt";

/// The check of a probe case: passes when the probe's evidence starts with
/// `PASS:`, fails with the probe's reason otherwise.
#[derive(Debug)]
pub(crate) struct ProbeCheck;

impl SyncCheck for ProbeCheck {
    fn verdict(&self, ctx: &EvalCtx<'_>) -> Eval {
        let first = ctx.output.lines().next().unwrap_or("");
        if let Some(m) = first.strip_prefix("PASS: ") {
            Eval::pass(m)
        } else if let Some(m) = first.strip_prefix("FAIL: ") {
            Eval::fail(m)
        } else {
            Eval::fail("the probe's answer has no verdict line")
        }
    }
}

/// What a probe checks, for the case's description.
fn description(p: &Probe) -> String {
    match &p.kind {
        ProbeKind::Auth => "no credentials, then a wrong key: 401/403 both times".into(),
        ProbeKind::RateLimit { within, .. } => format!(
            "a bounded burst within {}s: a 429 with a valid Retry-After, then recovery",
            within.as_secs_f64()
        ),
        ProbeKind::OversizedBody { bytes } => {
            format!("a {bytes}-byte body: 413 or another clean 4xx")
        }
        ProbeKind::MalformedRequest => {
            "invalid JSON, a wrong content type, missing fields: 400/415/422 with a JSON error body and no stack trace".into()
        }
    }
}

/// The longest a probe may take: its requests, its waits and a margin.
fn bound(p: &Probe, config: &ProjectConfig, provider: &str) -> Duration {
    let per_try = config
        .providers
        .get(provider)
        .and_then(|pc| pc.limits.timeout)
        .unwrap_or(Duration::from_secs(30))
        .min(Duration::from_secs(60));
    match &p.kind {
        ProbeKind::Auth => per_try * 2,
        ProbeKind::RateLimit { within, .. } => *within + runner::MAX_RETRY_WAIT + per_try,
        ProbeKind::OversizedBody { .. } => per_try,
        ProbeKind::MalformedRequest => per_try * 3,
    }
}

/// The `probes` suite of each provider in `providers` that has probes, in
/// that order. Under `--replay` its cases are skipped. Every suite's prompt
/// is one template registered in `env`.
pub(crate) fn suites(
    config: &ProjectConfig,
    providers: &[String],
    replay: bool,
    env: &mut minijinja::Environment<'static>,
) -> Vec<Suite> {
    let mut out = Vec::new();
    let file = config
        .path
        .clone()
        .unwrap_or_else(|| std::path::PathBuf::from("evalgate.yaml"));
    for name in providers {
        let Some(pc) = config
            .providers
            .get(name)
            .filter(|pc| !pc.probes.is_empty())
        else {
            continue;
        };
        if env.get_template(PROMPT_TEMPLATE).is_err() {
            // A constant template: it cannot fail to compile.
            let _ = env.add_template(PROMPT_TEMPLATE, "endpoint probe");
        }
        let prompt = Arc::new(Prompt {
            messages: vec![(
                "user".into(),
                PROMPT_TEMPLATE.into(),
                "endpoint probe".into(),
            )],
            pos: pc.pos.unwrap_or_default(),
            variables: Default::default(),
        });
        let cases = pc
            .probes
            .iter()
            .map(|p| {
                Arc::new(CaseDef {
                    variant: None,
                    conversation: None,
                    id: p.name().to_string(),
                    description: Some(description(p)),
                    vars: Default::default(),
                    prompt: None,
                    checks: vec![Arc::new(CheckSpec {
                        kind: "probe",
                        name: None,
                        negate: false,
                        weight: 1.0,
                        check: Box::new(ProbeCheck),
                    })],
                    tags: Vec::new(),
                    skip: replay.then(|| {
                        "endpoint probes are live only: not sent under --replay".to_string()
                    }),
                    settings: Settings {
                        timeout: bound(p, config, name),
                        ..Settings::default()
                    },
                    source: format!("{}:{}", display_path(&file), p.pos.line),
                    attack: None,
                })
            })
            .collect();
        out.push(Suite {
            name: SUITE.to_string(),
            file: file.clone(),
            description: Some(format!("endpoint probes of provider `{name}`")),
            tags: Vec::new(),
            provider: Some((name.clone(), pc.pos.unwrap_or_default())),
            prompt: Some(prompt),
            variants: Vec::new(),
            default_vars: Default::default(),
            cases,
            dataset: None,
        });
    }
    out
}

/// A user suite may not be named like the probes' suite when probes run.
pub(crate) fn check_name(suites: &[Suite], probed: bool, diags: &mut Vec<Diagnostic>) {
    if !probed {
        return;
    }
    for s in suites.iter().filter(|s| s.name == SUITE) {
        diags.push(
            Diagnostic::new(
                &s.file,
                None,
                format!("suite name `{SUITE}` is taken by the endpoint probes of this project"),
            )
            .with_hint("rename the suite"),
        );
    }
}

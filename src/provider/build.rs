//! From a provider definition to the provider a run calls: credentials read
//! from the environment (and registered as secrets), then the layers:
//!
//! ```text
//! Recording (--record) → Cached (cache: true) → Resilient (timeouts, retries,
//! limits) → Redacting (secrets masked in every returned string) → OpenAi | Anthropic | HttpApi | Exec | Mock | Echo | Replay
//! ```
//!
//! With `--replay`, every network or exec provider is replaced by a
//! [`Replay`] of its own cassettes, under its own name, and no credential is read.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::cassette::{Recorder, Replay};
use super::{
    anthropic::Anthropic, cache::Cached, echo::Echo, exec::Exec, http::HttpApi,
    openai::OpenAiEndpoint, resilience::Resilient, Provider,
};
use crate::config::project::{Header, Limits, ProjectConfig, ProviderConfig, ProviderKind};
use crate::error::Diagnostic;

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

/// What the command asks of the providers it builds.
#[derive(Debug, Clone, Copy, Default)]
pub struct BuildOptions {
    /// Live calls, `--record` or `--replay`.
    pub mode: Mode,
    /// `--no-cache`: bypass every provider's response cache.
    pub no_cache: bool,
    /// Build the network providers for calling (read credentials). Only
    /// `run` does; `validate` and `list` build them for request keys only.
    pub connect: bool,
    /// `evalgate bench`: measure the endpoint itself. No retry (a retry
    /// hides latency: a failed try is an error of its kind), no response
    /// cache, no client-side limiter (`max_concurrency`,
    /// `requests_per_minute`, `tokens_per_minute` would queue requests
    /// inside the client, where the bench's schedule cannot see it), and
    /// the request's own timeout (`--timeout`) for every try.
    pub bench: bool,
}

/// Build provider `name` for this run.
pub(crate) fn build(
    config: &ProjectConfig,
    name: &str,
    sel: &BuildOptions,
    mocks: &BTreeMap<String, Arc<dyn Provider>>,
    recorder: Option<&Arc<Recorder>>,
) -> Result<Arc<dyn Provider>, Vec<Diagnostic>> {
    let Some(pc) = config.providers.get(name) else {
        return Err(vec![diag(
            config,
            None,
            format!("provider `{name}` is not defined"),
        )]);
    };
    let networked = pc.kind.provider_type().recorded;
    let live = sel.connect && !(sel.mode == Mode::Replay && networked);
    let inner: Arc<dyn Provider> = match &pc.kind {
        ProviderKind::Mock { .. } => match mocks.get(name) {
            Some(m) => m.clone(),
            None => return Err(Vec::new()), // its responses file was reported
        },
        ProviderKind::Echo => Arc::new(Echo::new(name)),
        ProviderKind::Replay(r) => {
            let Some(of) = config.providers.get(&r.of) else {
                return Err(vec![diag(
                    config,
                    pc.pos,
                    format!("provider `{name}` replays `{}`, which is not defined", r.of),
                )]);
            };
            let keys = endpoint(config, of, false)?;
            Arc::new(Replay::new(name, &r.of, config.cassettes_dir.clone(), keys))
        }
        _ if !live => {
            let keys = endpoint(config, pc, false)?;
            if sel.mode == Mode::Replay {
                Arc::new(Replay::new(name, name, config.cassettes_dir.clone(), keys))
            } else {
                // `validate` and `list`: built for keys only, never called.
                keys
            }
        }
        _ => endpoint(config, pc, true)?,
    };
    let replaying = matches!(pc.kind, ProviderKind::Replay(_)) || (networked && !live);
    let limits = if replaying {
        Limits {
            max_retries: 0,
            ..Limits::default()
        }
    } else if sel.bench {
        Limits {
            max_retries: 0,
            timeout: None,
            max_concurrency: None,
            requests_per_minute: None,
            tokens_per_minute: None,
            ..pc.limits.clone()
        }
    } else {
        pc.limits.clone()
    };
    // Secrets are masked right above the endpoint, before any layer stores or
    // shows an answer (see `Response::redact_secrets`).
    let inner: Arc<dyn Provider> = Arc::new(super::Redacting::new(inner));
    let mut p: Arc<dyn Provider> = Arc::new(Resilient::new(inner, &limits));
    if !replaying && pc.limits.cache && !sel.no_cache && !sel.bench && sel.mode == Mode::Live {
        p = Arc::new(Cached::new(p, config.cache_dir.clone()));
    }
    if let Some(rec) = recorder.filter(|_| networked && !replaying) {
        p = rec.wrap(p);
    }
    Ok(p)
}

fn diag(config: &ProjectConfig, pos: Option<crate::error::Pos>, message: String) -> Diagnostic {
    let file = config
        .path
        .clone()
        .unwrap_or_else(|| std::path::PathBuf::from("evalgate.yaml"));
    let d = Diagnostic::new(file, pos, message);
    if pos.is_some() {
        d.with_source(&config.text)
    } else {
        d
    }
}

/// Reads credentials for one provider, collecting every missing variable.
struct Creds<'a> {
    config: &'a ProjectConfig,
    pc: &'a ProviderConfig,
    /// False: build for request keys only; nothing is read.
    read: bool,
    errors: Vec<Diagnostic>,
}

impl Creds<'_> {
    fn missing(&mut self, var: &str, role: &str) {
        let d = diag(
            self.config,
            self.pc.pos,
            format!(
                "provider `{}` needs the environment variable `{var}` ({role}), which is not set",
                self.pc.name
            ),
        )
        .with_hint(if role == "api_key_env" {
            format!(
                "export {var}=… before the run (never write the key in evalgate.yaml), or answer from recordings with `--replay`"
            )
        } else {
            format!("export {var}=… before the run, or answer from recordings with `--replay`")
        });
        self.errors.push(d);
    }

    fn api_key(&mut self, env: &Option<String>) -> Option<String> {
        let var = env.as_ref()?;
        if !self.read {
            return None;
        }
        match std::env::var(var) {
            Ok(v) if !v.is_empty() => {
                crate::secret::register(&v);
                Some(v)
            }
            _ => {
                self.missing(var, "api_key_env");
                None
            }
        }
    }

    /// Expand `${NAME}`; `secret`: the whole value is a secret.
    fn expand(&mut self, value: &str, what: &str, secret: bool) -> String {
        if !self.read {
            return value.to_string();
        }
        match crate::secret::expand_env(value) {
            Ok((v, used)) => {
                if secret || !used.is_empty() {
                    crate::secret::register(&v);
                }
                for name in used {
                    if let Ok(val) = std::env::var(&name) {
                        crate::secret::register(&val);
                    }
                }
                v
            }
            Err(var) => {
                self.missing(&var, &format!("referenced in {what}"));
                String::new()
            }
        }
    }

    fn headers(&mut self, headers: &[Header]) -> Vec<(String, String)> {
        if !self.read {
            return Vec::new();
        }
        headers
            .iter()
            .map(|h| {
                let lname = h.name.to_ascii_lowercase();
                let secret = crate::secret::SENSITIVE_HEADERS.contains(&lname.as_str())
                    || self
                        .pc
                        .redact_headers
                        .iter()
                        .any(|r| r.eq_ignore_ascii_case(&h.name));
                let v = self.expand(&h.value, &format!("header `{}`", h.name), secret);
                (h.name.clone(), v)
            })
            .collect()
    }
}

/// The network or exec provider itself. `read`: read credentials (a live run).
fn endpoint(
    config: &ProjectConfig,
    pc: &ProviderConfig,
    read: bool,
) -> Result<Arc<dyn Provider>, Vec<Diagnostic>> {
    let mut c = Creds {
        config,
        pc,
        read,
        errors: Vec::new(),
    };
    let name = pc.name.as_str();
    let built: Result<Arc<dyn Provider>, String> = match &pc.kind {
        ProviderKind::OpenAi(o) => {
            let key = c.api_key(&o.api_key_env);
            let headers = c.headers(&o.headers);
            let mut cfg = o.clone();
            cfg.base_url = c.expand(&o.base_url, "`base_url`", false);
            if !c.errors.is_empty() {
                return Err(c.errors);
            }
            OpenAiEndpoint::new(name, &cfg, key, headers, &pc.limits)
                .map(|p| Arc::new(p) as Arc<dyn Provider>)
        }
        ProviderKind::Anthropic(a) => {
            let key = c.api_key(&a.api_key_env);
            let headers = c.headers(&a.headers);
            let mut cfg = a.clone();
            cfg.base_url = c.expand(&a.base_url, "`base_url`", false);
            if !c.errors.is_empty() {
                return Err(c.errors);
            }
            Anthropic::new(name, &cfg, key, headers, &pc.limits)
                .map(|p| Arc::new(p) as Arc<dyn Provider>)
        }
        ProviderKind::Http(h) => {
            let key = c.api_key(&h.api_key_env);
            let headers = c.headers(&h.headers);
            let url = c.expand(&h.url, "`url`", false);
            if !c.errors.is_empty() {
                return Err(c.errors);
            }
            HttpApi::new(name, h, url, headers, key, &pc.limits)
                .map(|p| Arc::new(p) as Arc<dyn Provider>)
        }
        ProviderKind::Exec(e) => {
            let env: Vec<(String, String)> = if read {
                e.env
                    .iter()
                    .map(|v| {
                        (
                            v.name.clone(),
                            c.expand(&v.value, &format!("`env.{}`", v.name), false),
                        )
                    })
                    .collect()
            } else {
                Vec::new()
            };
            if !c.errors.is_empty() {
                return Err(c.errors);
            }
            Exec::new(name, e, env).map(|p| Arc::new(p) as Arc<dyn Provider>)
        }
        ProviderKind::Mock { .. } | ProviderKind::Echo | ProviderKind::Replay(_) => {
            Err(format!("provider `{name}` cannot be recorded or replayed"))
        }
    };
    built.map_err(|e| vec![diag(config, pc.pos, format!("provider `{name}`: {e}"))])
}

/// What the endpoint probes of provider `name` send to (`crate::probe`):
/// its URL, headers and credentials read from the environment as for its
/// answers (missing variables are reported the same way).
pub(crate) fn probe_target(
    config: &ProjectConfig,
    name: &str,
) -> Result<super::target::ProbeTarget, Vec<Diagnostic>> {
    let Some(pc) = config.providers.get(name) else {
        return Err(vec![diag(
            config,
            None,
            format!("provider `{name}` is not defined"),
        )]);
    };
    let mut c = Creds {
        config,
        pc,
        read: true,
        errors: Vec::new(),
    };
    // Headers whose value comes from the environment carry credentials.
    let from_env = |hs: &[Header]| -> Vec<String> {
        hs.iter()
            .filter(|h| h.value.contains("${"))
            .map(|h| h.name.clone())
            .collect()
    };
    let redact = &pc.redact_headers;
    let built = match &pc.kind {
        ProviderKind::OpenAi(o) => {
            let key = c.api_key(&o.api_key_env);
            let headers = c.headers(&o.headers);
            let mut cfg = o.clone();
            cfg.base_url = c.expand(&o.base_url, "`base_url`", false);
            if !c.errors.is_empty() {
                return Err(c.errors);
            }
            super::target::openai(
                &cfg,
                key.as_deref(),
                &headers,
                &from_env(&o.headers),
                redact,
                &pc.limits,
            )
        }
        ProviderKind::Anthropic(a) => {
            let key = c.api_key(&a.api_key_env);
            let headers = c.headers(&a.headers);
            let mut cfg = a.clone();
            cfg.base_url = c.expand(&a.base_url, "`base_url`", false);
            if !c.errors.is_empty() {
                return Err(c.errors);
            }
            super::target::anthropic(
                &cfg,
                key.as_deref(),
                &headers,
                &from_env(&a.headers),
                redact,
                &pc.limits,
            )
        }
        ProviderKind::Http(h) => {
            let key = c.api_key(&h.api_key_env);
            let headers = c.headers(&h.headers);
            let url = c.expand(&h.url, "`url`", false);
            if !c.errors.is_empty() {
                return Err(c.errors);
            }
            super::target::http(
                name,
                h,
                url,
                key,
                headers,
                &from_env(&h.headers),
                redact,
                &pc.limits,
            )
        }
        other => Err(format!(
            "a provider of type `{}` has no endpoint to probe",
            other.type_name()
        )),
    };
    built.map_err(|e| vec![diag(config, pc.pos, format!("provider `{name}`: {e}"))])
}

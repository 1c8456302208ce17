//! `probes:` on an `openai`, `anthropic` or `http` provider: endpoint
//! probes (authentication, rate limiting, oversized and malformed requests),
//! run as the cases of a `probes` suite (see `crate::probe`).
//!
//! ```yaml
//! probes: [auth, {rate_limit: {burst: 60, within: 10s}}, {oversized_body: {bytes: 10MB}}, malformed_request]
//! ```

use std::time::Duration;

use crate::error::{did_you_mean, Pos};
use crate::syntax::decode::{duration, Ctx};
use crate::syntax::node::{Node, Value};

/// Probe names, in the order they run and messages list them.
pub(crate) const PROBE_NAMES: &[&str] =
    &["auth", "rate_limit", "oversized_body", "malformed_request"];

/// Default number of requests of a rate-limit burst without `requests_per_minute`.
pub(crate) const DEFAULT_BURST: u32 = 100;
/// Most requests one burst may send.
pub(crate) const MAX_BURST: u32 = 1000;
/// Default and longest time a burst may take.
pub(crate) const DEFAULT_WITHIN: Duration = Duration::from_secs(10);
pub(crate) const MAX_WITHIN: Duration = Duration::from_secs(60);
/// Default and largest oversized body.
pub(crate) const DEFAULT_OVERSIZED: u64 = 8 << 20;
pub(crate) const MAX_OVERSIZED: u64 = 256 << 20;

/// One probe as configured.
#[derive(Debug, Clone, PartialEq)]
pub struct Probe {
    pub kind: ProbeKind,
    /// Where it is written in evalgate.yaml.
    pub pos: Pos,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ProbeKind {
    /// No credentials, then a wrong key: 401/403 both times.
    Auth,
    /// A burst of `burst` requests (default: from `requests_per_minute`)
    /// within `within`: a 429 with a valid `Retry-After`, then recovery.
    RateLimit {
        burst: Option<u32>,
        within: Duration,
    },
    /// A body of `bytes` bytes: 413 or another clean 4xx.
    OversizedBody { bytes: u64 },
    /// Invalid JSON, a wrong content type, missing fields: 400/415/422 with
    /// a JSON error body and no stack trace.
    MalformedRequest,
}

impl Probe {
    /// Its name, the case id of its case.
    pub fn name(&self) -> &'static str {
        match self.kind {
            ProbeKind::Auth => "auth",
            ProbeKind::RateLimit { .. } => "rate_limit",
            ProbeKind::OversizedBody { .. } => "oversized_body",
            ProbeKind::MalformedRequest => "malformed_request",
        }
    }
}

/// Decode `probes:` (a list of names, or of one-key mappings with options).
pub(crate) fn decode(ctx: &mut Ctx<'_>, node: &Node) -> Vec<Probe> {
    let Some(items) = ctx.seq(node, "`probes`") else {
        return Vec::new();
    };
    let mut out: Vec<Probe> = Vec::new();
    for item in items {
        let (name, name_pos, options) = match &item.value {
            Value::Str(s) => (s.clone(), item.pos, None),
            Value::Map(entries) if entries.len() == 1 => {
                let e = &entries[0];
                (e.key.clone(), e.key_pos, Some(&e.value))
            }
            _ => {
                ctx.error(
                    item.pos,
                    format!(
                        "a probe is a name or a mapping of one name to its options, found {}",
                        item.kind_name()
                    ),
                    Some(format!(
                        "e.g. `probes: [auth, {{rate_limit: {{burst: 60, within: 10s}}}}]`; probes: {}",
                        PROBE_NAMES.join(", ")
                    )),
                );
                continue;
            }
        };
        let Some(kind) = decode_one(ctx, &name, name_pos, options) else {
            continue;
        };
        let probe = Probe {
            kind,
            pos: name_pos,
        };
        if out.iter().any(|p| p.name() == probe.name()) {
            ctx.error(
                name_pos,
                format!("probe `{name}` is listed twice"),
                Some("list each probe once, with its options".into()),
            );
            continue;
        }
        out.push(probe);
    }
    out.sort_by_key(|p| PROBE_NAMES.iter().position(|n| *n == p.name()));
    out
}

/// The options a probe takes (`None` for an unknown probe).
pub(crate) fn option_keys(name: &str) -> Option<&'static [&'static str]> {
    match name {
        "auth" | "malformed_request" => Some(&[]),
        "rate_limit" => Some(&["burst", "within"]),
        "oversized_body" => Some(&["bytes"]),
        _ => None,
    }
}

fn decode_one(
    ctx: &mut Ctx<'_>,
    name: &str,
    pos: Pos,
    options: Option<&Node>,
) -> Option<ProbeKind> {
    let allowed: &[&str] = match option_keys(name) {
        Some(keys) => keys,
        None => {
            let hint = match did_you_mean(name, PROBE_NAMES.iter().copied()) {
                Some(s) => format!("did you mean `{s}`?"),
                None => format!("probes: {}", PROBE_NAMES.join(", ")),
            };
            ctx.error(pos, format!("unknown probe `{name}`"), Some(hint));
            return None;
        }
    };
    let what = format!("probe `{name}`");
    let fields = match options {
        None => None,
        Some(n) if matches!(n.value, Value::Null | Value::Bool(true)) => None,
        Some(n) if allowed.is_empty() => {
            ctx.error(
                n.pos,
                format!("{what} takes no options"),
                Some(format!("write `{name}` alone in the list")),
            );
            return None;
        }
        Some(n) => Some(ctx.map(n, &format!("the options of {what}"), allowed)?),
    };
    let get = |k: &str| fields.as_ref().and_then(|f| f.get(k));
    Some(match name {
        "auth" => ProbeKind::Auth,
        "malformed_request" => ProbeKind::MalformedRequest,
        "rate_limit" => {
            let burst = match get("burst") {
                Some(n) => Some(ctx.uint(n, "`burst`", 1, u64::from(MAX_BURST))? as u32),
                None => None,
            };
            let within = match get("within") {
                Some(n) => {
                    let d = duration(ctx, n, "`within`")?;
                    if d.is_zero() || d > MAX_WITHIN {
                        ctx.error(
                            n.pos,
                            format!("`within` must be more than 0 and at most {}s", MAX_WITHIN.as_secs()),
                            Some("a probe is bounded: a burst of at most 1000 requests within at most 60s".into()),
                        );
                        return None;
                    }
                    d
                }
                None => DEFAULT_WITHIN,
            };
            ProbeKind::RateLimit { burst, within }
        }
        _ => {
            let bytes = match get("bytes") {
                Some(n) => size(ctx, n)?,
                None => DEFAULT_OVERSIZED,
            };
            ProbeKind::OversizedBody { bytes }
        }
    })
}

/// A size: a number of bytes, or a number with a unit (`512KB`, `10MB`,
/// `8MiB`, `1GB`: KB and KiB are both 1024 bytes, as body limits mean them).
fn size(ctx: &mut Ctx<'_>, node: &Node) -> Option<u64> {
    let hint = Some(format!(
        "a number of bytes or a size such as \"10MB\" (at most {} MiB)",
        MAX_OVERSIZED >> 20
    ));
    let bytes = match &node.value {
        Value::Int(i) if *i > 0 => Some(*i as u64),
        Value::Str(s) => {
            let s = s.trim();
            let split = s
                .find(|c: char| !c.is_ascii_digit() && c != '.')
                .unwrap_or(s.len());
            let (num, unit) = (&s[..split], s[split..].trim());
            let mult: Option<u64> = match unit.to_ascii_lowercase().as_str() {
                "" | "b" => Some(1),
                "k" | "kb" | "kib" => Some(1 << 10),
                "m" | "mb" | "mib" => Some(1 << 20),
                "g" | "gb" | "gib" => Some(1 << 30),
                _ => None,
            };
            match (num.parse::<f64>(), mult) {
                (Ok(n), Some(m)) if n > 0.0 && n.is_finite() => Some((n * m as f64) as u64),
                _ => None,
            }
        }
        _ => None,
    };
    match bytes {
        Some(b) if b <= MAX_OVERSIZED => Some(b.max(1)),
        _ => {
            ctx.error(
                node.pos,
                format!("`bytes` must be a size, found {}", node.kind_name()),
                hint,
            );
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn run(yaml: &str) -> (Vec<Probe>, Vec<String>) {
        let root = crate::syntax::node::parse(Path::new("e.yaml"), yaml).unwrap();
        let mut ctx = Ctx::new(Path::new("e.yaml"), yaml);
        let probes = decode(&mut ctx, &root);
        let errors = ctx
            .errors
            .iter()
            .map(|d| format!("{} ({})", d.message, d.hint.clone().unwrap_or_default()))
            .collect();
        (probes, errors)
    }

    #[test]
    fn names_and_options() {
        let (p, e) = run("[malformed_request, auth, {rate_limit: {burst: 60, within: 5s}}, {oversized_body: {bytes: 10MB}}]");
        assert!(e.is_empty(), "{e:?}");
        let names: Vec<&str> = p.iter().map(Probe::name).collect();
        assert_eq!(names, PROBE_NAMES);
        assert_eq!(
            p[1].kind,
            ProbeKind::RateLimit {
                burst: Some(60),
                within: Duration::from_secs(5)
            }
        );
        assert_eq!(p[2].kind, ProbeKind::OversizedBody { bytes: 10 << 20 });
        let (p, _) = run("[rate_limit, oversized_body]");
        assert_eq!(
            p[0].kind,
            ProbeKind::RateLimit {
                burst: None,
                within: DEFAULT_WITHIN
            }
        );
        assert_eq!(
            p[1].kind,
            ProbeKind::OversizedBody {
                bytes: DEFAULT_OVERSIZED
            }
        );
    }

    #[test]
    fn errors_name_the_problem() {
        let (_, e) = run("[auht]");
        assert_eq!(e, vec!["unknown probe `auht` (did you mean `auth`?)"]);
        let (_, e) = run("[{rate_limit: {brust: 5}}]");
        assert!(
            e[0].contains("unknown key `brust`") && e[0].contains("`burst`"),
            "{e:?}"
        );
        let (_, e) = run("[{rate_limit: {burst: 5000}}]");
        assert!(e[0].contains("`burst`"), "{e:?}");
        let (_, e) = run("[{rate_limit: {within: 5m}}]");
        assert!(e[0].contains("at most 60s"), "{e:?}");
        let (_, e) = run("[{oversized_body: {bytes: 1TB}}]");
        assert!(e[0].contains("`bytes` must be a size"), "{e:?}");
        let (_, e) = run("[{auth: {x: 1}}]");
        assert!(e[0].contains("takes no options"), "{e:?}");
        let (_, e) = run("[auth, auth]");
        assert!(e[0].contains("listed twice"), "{e:?}");
        let (_, e) = run("auth");
        assert!(
            e[0].contains("must be a list") || e[0].contains("`probes`"),
            "{e:?}"
        );
    }
}

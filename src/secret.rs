//! Secrets: API keys and header values read from environment variables.
//!
//! Every secret value the run resolves is registered here, and every string
//! that leaves the process through an error message, a report, a cassette or
//! the console can be passed through [`redact`]. Values shorter than 4
//! characters are not registered (they would redact ordinary words).

use std::sync::RwLock;

static SECRETS: RwLock<Vec<String>> = RwLock::new(Vec::new());

/// What replaces a secret.
pub(crate) const MASK: &str = "[REDACTED]";

/// Remember `value` as a secret.
pub(crate) fn register(value: &str) {
    if value.len() < 4 {
        return;
    }
    if let Ok(mut s) = SECRETS.write() {
        if !s.iter().any(|v| v == value) {
            s.push(value.to_string());
            // Longest first, so a secret containing another is masked whole.
            s.sort_by_key(|v| std::cmp::Reverse(v.len()));
        }
    }
}

/// `text` with every registered secret replaced by [`MASK`].
pub(crate) fn redact(text: &str) -> String {
    let Ok(secrets) = SECRETS.read() else {
        return text.to_string();
    };
    let mut out = text.to_string();
    for s in secrets.iter() {
        if out.contains(s.as_str()) {
            out = out.replace(s.as_str(), MASK);
        }
    }
    out
}

/// Whether any secret is registered (callers skip work when none is).
pub(crate) fn any() -> bool {
    SECRETS.read().map(|s| !s.is_empty()).unwrap_or(false)
}

/// Header names whose values are always secret, whatever their source.
pub(crate) const SENSITIVE_HEADERS: &[&str] = &[
    "authorization",
    "proxy-authorization",
    "x-api-key",
    "api-key",
    "cookie",
];

/// A piece of a template with `${NAME}` references.
enum Piece<'a> {
    Text(&'a str),
    Var(&'a str),
}

/// Split `template` into text and `${NAME}` references: `$$` is a literal
/// `$`, a `$` not followed by `{` (or a `${` without `}`) is text.
fn pieces(template: &str) -> Vec<Piece<'_>> {
    let mut out = Vec::new();
    let mut rest = template;
    while let Some(i) = rest.find('$') {
        out.push(Piece::Text(&rest[..i]));
        let after = &rest[i + 1..];
        if let Some(stripped) = after.strip_prefix('$') {
            out.push(Piece::Text("$"));
            rest = stripped;
        } else if let Some((name, tail)) = after
            .strip_prefix('{')
            .and_then(|body| body.split_once('}'))
        {
            out.push(Piece::Var(name));
            rest = tail;
        } else {
            out.push(Piece::Text("$"));
            rest = after;
        }
    }
    out.push(Piece::Text(rest));
    out
}

/// Expand `${NAME}` references in `template` from the environment.
/// Returns the value and the names it used; `Err(name)` for the first
/// variable that is not set. `$$` is a literal `$`.
pub(crate) fn expand_env(template: &str) -> Result<(String, Vec<String>), String> {
    let mut out = String::with_capacity(template.len());
    let mut used = Vec::new();
    for piece in pieces(template) {
        match piece {
            Piece::Text(t) => out.push_str(t),
            Piece::Var(name) => match std::env::var(name) {
                Ok(v) => {
                    out.push_str(&v);
                    used.push(name.to_string());
                }
                Err(_) => return Err(name.to_string()),
            },
        }
    }
    Ok((out, used))
}

/// The `${NAME}` references in `template`, without reading the environment.
pub(crate) fn env_refs(template: &str) -> Vec<String> {
    pieces(template)
        .into_iter()
        .filter_map(|p| match p {
            Piece::Var(name) => Some(name.to_string()),
            Piece::Text(_) => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_registered_values() {
        register("sk-test-abcdef123456");
        register("abc"); // too short: ignored
        assert_eq!(
            redact("Bearer sk-test-abcdef123456 abc"),
            "Bearer [REDACTED] abc"
        );
        assert!(any());
    }

    #[test]
    fn expands_env_references() {
        std::env::set_var("EVALGATE_TEST_SECRET_X", "v1");
        assert_eq!(
            expand_env("Bearer ${EVALGATE_TEST_SECRET_X} $$5 $x").unwrap(),
            (
                "Bearer v1 $5 $x".to_string(),
                vec!["EVALGATE_TEST_SECRET_X".to_string()]
            )
        );
        assert_eq!(
            expand_env("${EVALGATE_TEST_UNSET_Y}").unwrap_err(),
            "EVALGATE_TEST_UNSET_Y"
        );
        assert_eq!(env_refs("a ${A} ${B}c $$ {C}"), vec!["A", "B"]);
    }
}

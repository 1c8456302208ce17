//! Prompt and argument templates (minijinja, strict: an undefined variable is
//! an error, never an empty string).

use std::collections::BTreeSet;

use minijinja::{Environment, UndefinedBehavior};

/// Instructions one render may execute (minijinja's fuel): nested loops of
/// 10,000 × 10,000 stop with an error instead of running for minutes.
pub const FUEL: u64 = 20_000_000;

/// Longest template source (bytes).
pub const MAX_TEMPLATE_BYTES: usize = 1024 * 1024;

/// Most operators, filters and words in one `{{ }}` or `{% %}` tag: the
/// template compiler recurses once per term, so a 60,000-term expression
/// would overflow the stack. Hand-written tags use a few dozen.
pub const MAX_TAG_TERMS: usize = 512;

/// Deepest nesting of `{% if %}`, `{% for %}` and other blocks.
pub const MAX_BLOCK_DEPTH: usize = 64;

/// A fresh environment with strict undefined behaviour and a fuel limit.
pub fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_keep_trailing_newline(true);
    env.set_fuel(Some(FUEL));
    env
}

/// Check a template's size and shape before it is compiled (the compiler
/// itself must never see input that could overflow its stack). On error:
/// the message and the byte range in `source` it is about.
pub fn check_bounds(source: &str) -> Result<(), (String, std::ops::Range<usize>)> {
    if source.len() > MAX_TEMPLATE_BYTES {
        return Err((
            format!(
                "template is longer than {MAX_TEMPLATE_BYTES} bytes ({} bytes)",
                source.len()
            ),
            0..0,
        ));
    }
    let bytes = source.as_bytes();
    let mut depth = 0usize;
    let mut i = 0;
    while let Some(off) = memchr::memchr(b'{', &bytes[i..]) {
        let start = i + off;
        let close: &[u8] = match bytes.get(start + 1) {
            Some(b'{') => b"}}",
            Some(b'%') => b"%}",
            Some(b'#') => b"#}",
            _ => {
                i = start + 1;
                continue;
            }
        };
        let body_start = start + 2;
        let end = memchr::memmem::find(&bytes[body_start..], close)
            .map_or(bytes.len(), |e| body_start + e);
        let body = &source[body_start..end];
        let range = start..(end + 2).min(bytes.len());
        if close != b"#}" {
            let ops = body
                .bytes()
                .filter(|b| b"+-*/%~|([.,=<>!".contains(b))
                .count();
            let words = body.split_whitespace().count();
            if ops + words > MAX_TAG_TERMS {
                return Err((
                    format!(
                        "template expression has more than {MAX_TAG_TERMS} terms; split it up or compute the value in the dataset"
                    ),
                    range,
                ));
            }
        }
        if close == b"%}" {
            let tag = body.trim_matches(['-', '+', ' ', '\t', '\n', '\r']);
            let word = tag.split_whitespace().next().unwrap_or("");
            let opens = matches!(
                word,
                "if" | "for" | "macro" | "call" | "filter" | "with" | "block" | "autoescape"
            ) || (word == "set" && !tag.contains('='));
            if opens {
                depth += 1;
                if depth > MAX_BLOCK_DEPTH {
                    return Err((
                        format!("template blocks are nested deeper than {MAX_BLOCK_DEPTH} levels"),
                        range,
                    ));
                }
            } else if word.starts_with("end") {
                depth = depth.saturating_sub(1);
            }
        }
        i = (end + 2).min(bytes.len());
    }
    Ok(())
}

/// Whether a string holds template syntax (otherwise it is used verbatim).
pub fn is_template(s: &str) -> bool {
    s.contains("{{") || s.contains("{%") || s.contains("{#")
}

/// The variables a template reads that it does not define itself (top-level names).
pub fn variables(env: &Environment<'_>, source: &str) -> Result<BTreeSet<String>, String> {
    check_bounds(source).map_err(|(m, _)| m)?;
    let tmpl = env.template_from_str(source).map_err(|e| describe(&e))?;
    Ok(tmpl.undeclared_variables(false).into_iter().collect())
}

/// Render a one-off template.
pub fn render(
    env: &Environment<'_>,
    source: &str,
    vars: &minijinja::Value,
) -> Result<String, String> {
    check_bounds(source).map_err(|(m, _)| m)?;
    env.render_str(source, vars).map_err(|e| describe(&e))
}

/// A one-line description of a template error, with the template line when known.
pub fn describe(e: &minijinja::Error) -> String {
    let mut msg = e
        .detail()
        .map_or_else(|| e.kind().to_string(), |d| format!("{}: {d}", e.kind()));
    if let Some(line) = e.line() {
        msg.push_str(&format!(" (template line {line})"));
    }
    msg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn undefined_variables_are_errors() {
        let env = environment();
        let vars = minijinja::Value::from_serialize(serde_json::json!({"a": 1}));
        assert_eq!(render(&env, "x={{ a }}", &vars).unwrap(), "x=1");
        let err = render(&env, "{{ b }}", &vars).unwrap_err();
        assert!(err.contains("undefined"), "{err}");
        let v = variables(&env, "{{ a }} {% for x in items %}{{ x }}{% endfor %}").unwrap();
        assert_eq!(v.into_iter().collect::<Vec<_>>(), vec!["a", "items"]);
    }

    #[test]
    fn huge_expressions_are_refused_before_compiling() {
        let env = environment();
        let vars = minijinja::Value::from_serialize(serde_json::json!({}));
        let terms = format!("{{{{ 1{} }}}}", "+1".repeat(60_000));
        let err = render(&env, &terms, &vars).unwrap_err();
        assert!(err.contains("more than 512 terms"), "{err}");
        let filters = format!("{{{{ 'a'{} }}}}", "|upper".repeat(33_000));
        assert!(check_bounds(&filters).is_err());
        let nested = format!(
            "{}x{}",
            "{% if true %}".repeat(100),
            "{% endif %}".repeat(100)
        );
        let (msg, range) = check_bounds(&nested).unwrap_err();
        assert!(msg.contains("nested deeper"), "{msg}");
        assert!(range.start > 0);
        assert!(check_bounds("{{ a + b | upper }} {% for x in y %}{{ x }}{% endfor %}").is_ok());
    }

    #[test]
    fn endless_loops_run_out_of_fuel() {
        let env = environment();
        let vars = minijinja::Value::from_serialize(serde_json::json!({}));
        let err = render(
            &env,
            "{% for i in range(10000) %}{% for j in range(10000) %}x{% endfor %}{% endfor %}",
            &vars,
        )
        .unwrap_err();
        assert!(err.contains("fuel"), "{err}");
    }
}

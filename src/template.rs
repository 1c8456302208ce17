//! Prompt and argument templates (minijinja, strict: an undefined variable is
//! an error, never an empty string).

use std::collections::BTreeSet;

use minijinja::{Environment, UndefinedBehavior};

/// A fresh environment with strict undefined behaviour.
pub fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_keep_trailing_newline(true);
    env
}

/// Whether a string holds template syntax (otherwise it is used verbatim).
pub fn is_template(s: &str) -> bool {
    s.contains("{{") || s.contains("{%") || s.contains("{#")
}

/// The variables a template reads that it does not define itself (top-level names).
pub fn variables(env: &Environment<'_>, source: &str) -> Result<BTreeSet<String>, String> {
    let tmpl = env.template_from_str(source).map_err(|e| describe(&e))?;
    Ok(tmpl.undeclared_variables(false).into_iter().collect())
}

/// Render a one-off template.
pub fn render(
    env: &Environment<'_>,
    source: &str,
    vars: &minijinja::Value,
) -> Result<String, String> {
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
}

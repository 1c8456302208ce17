//! One inline case: id, vars, checks and settings over the suite's defaults.

use super::prompt::check_variables;
use super::*;

/// A case's `mutate:` list, with its position.
pub(super) type Mutate = (Pos, Vec<crate::attack::Mutator>);

#[allow(clippy::too_many_arguments)]
pub(super) fn decode_case(
    ctx: &mut Ctx<'_>,
    node: &Node,
    defaults: &Defaults,
    suite_tags: &[String],
    suite_prompt: Option<&Arc<Prompt>>,
    suite_prompt_given: bool,
    ids: &mut HashMap<String, usize>,
    lcx: &mut LoadContext<'_>,
) -> Option<(CaseDef, Option<Mutate>)> {
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
    let mutate = f
        .get("mutate")
        .map(|n| (n.pos, super::attacks::decode_mutators(ctx, n, "`mutate`")));
    let case = CaseDef {
        variant: None,
        id,
        description,
        vars,
        prompt: own_prompt,
        checks,
        tags,
        skip,
        settings,
        source: format!("{}:{}", display_path(ctx.file), f.pos.line),
        attack: None,
    };
    Some((case, mutate))
}

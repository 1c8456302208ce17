//! One inline case: id, vars, checks and settings over the suite's defaults.

use super::prompt::check_variables;
use super::*;

/// The keys of a `turns:` item.
pub(crate) const TURN_KEYS: &[&str] = &["user", "checks"];

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
    ids: &mut IdIndex,
    lcx: &mut LoadContext<'_>,
) -> Option<(CaseDef, Option<Mutate>)> {
    let f = ctx.map(node, "case", CASE_KEYS)?;
    let id_node = ctx.require(&f, "id", "case")?;
    let id = ctx.scalar_string(id_node, "`id`")?;
    if !check_id(ctx, id_node.pos, &id, "case id") {
        return None;
    }
    if let Some(first) = ids.insert(&id, id_node.pos.line) {
        ctx.error(
            id_node.pos,
            format!("duplicate case id `{id}` (first defined on line {first})"),
            Some("case ids must be unique within a suite".into()),
        );
    }
    let description = f
        .get("description")
        .and_then(|n| ctx.string(n, "`description`"));
    // Sized exactly: a suite of 50,000 cases keeps every case's vars.
    let vars = match f.get("vars") {
        None => defaults.vars.clone(),
        Some(v) if defaults.vars.is_empty() => decode_vars(ctx, v),
        Some(v) => {
            let own = decode_vars(ctx, v);
            let mut all = Vars::with_capacity(defaults.vars.len() + own.len());
            all.extend(defaults.vars.iter().map(|(k, v)| (k.clone(), v.clone())));
            all.extend(own);
            all
        }
    };
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
    let conversation = match f.get("turns") {
        Some(n) => decode_conversation(ctx, n, &f, &checks, lcx),
        None => {
            for key in ["tool_results", "max_steps"] {
                if let Some(e) = f.entry(key) {
                    ctx.error(
                        e.key_pos,
                        format!("`{key}` applies to a conversation: the case has no `turns`"),
                        Some("add `turns: [{user: ...}, ...]` or remove it".into()),
                    );
                }
            }
            None
        }
    };
    // A conversation's checks: every turn's (the case's own are the last
    // turn's), for what the plan reads of a case's checks.
    let turn_checks: Vec<Arc<CheckSpec>> = conversation
        .iter()
        .flat_map(|c| c.turns.iter().flat_map(|t| t.checks.iter().cloned()))
        .collect();
    let checks = if conversation.is_some() {
        turn_checks
    } else {
        checks
    };
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
        // A conversation's messages are its turns (checked with them).
        _ if f.get("turns").is_some() => {}
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
    if let (Some(c), None, false) = (
        &conversation,
        &skip,
        f.entries.iter().any(|e| e.key == "<<"),
    ) {
        check_conversation(ctx, id_node.pos, &id, c, prompt.as_ref(), &vars, lcx);
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
        conversation: conversation.map(Arc::new),
    };
    Some((case, mutate))
}

/// `turns:` (with the case's `tool_results` and `max_steps`). The case's
/// checks (`case_checks`, defaults included) are the last turn's, after
/// its own. Each turn's template and checks are checked against the
/// case's variables.
fn decode_conversation(
    ctx: &mut Ctx<'_>,
    node: &Node,
    f: &Fields<'_>,
    case_checks: &[Arc<CheckSpec>],
    lcx: &mut LoadContext<'_>,
) -> Option<Conversation> {
    let items = ctx.seq(node, "`turns`")?;
    if items.is_empty() {
        ctx.error(
            node.pos,
            "`turns` is empty",
            Some("a conversation needs at least one `- user: ...` turn".into()),
        );
        return None;
    }
    let mut turns = Vec::new();
    for item in items {
        let tf = ctx.map(item, "a turn", TURN_KEYS)?;
        let user = ctx.require(&tf, "user", "a turn")?;
        if !matches!(user.value, Value::Str(_)) {
            ctx.error(
                user.pos,
                format!(
                    "a turn's `user` must be a string (a template), found {}",
                    user.kind_name()
                ),
                None,
            );
            return None;
        }
        let user = decode_prompt(ctx, user, lcx)?;
        let checks = tf
            .get("checks")
            .map(|c| check::parse_list(ctx, c))
            .unwrap_or_default();
        turns.push(Turn { user, checks });
    }
    if let Some(last) = turns.last_mut() {
        last.checks.extend(case_checks.iter().cloned());
    }
    let tool_results = match f.get("tool_results") {
        None => serde_json::Map::new(),
        Some(n) => match n.to_json() {
            serde_json::Value::Object(m) => m,
            _ => {
                ctx.error(
                    n.pos,
                    format!(
                        "`tool_results` must be a mapping of tool names to results, found {}",
                        n.kind_name()
                    ),
                    Some("e.g. `tool_results: {get_order: {status: shipped}}`".into()),
                );
                serde_json::Map::new()
            }
        },
    };
    let max_steps = match f.get("max_steps") {
        Some(n) => ctx.uint(n, "`max_steps`", 1, 100)? as u32,
        None => DEFAULT_MAX_STEPS,
    };
    Some(Conversation {
        turns,
        tool_results,
        max_steps,
    })
}

/// Check a conversation's templates and checks against the case's variables
/// (and the system messages of its prompt, which start the conversation).
pub(super) fn check_conversation(
    ctx: &mut Ctx<'_>,
    pos: Pos,
    id: &str,
    conversation: &Conversation,
    prompt: Option<&Arc<Prompt>>,
    vars: &Vars,
    lcx: &mut LoadContext<'_>,
) {
    let value = minijinja::Value::from_serialize(vars);
    if let Some(p) = prompt {
        let system = p.system_only(lcx.env);
        if check_variables(ctx, lcx.env, pos, id, &system, &[], vars) {
            if let Err(e) = system.render(lcx.env, &value) {
                ctx.error(
                    pos,
                    format!("cannot render the system prompt of case `{id}`: {e}"),
                    None,
                );
            }
        }
    }
    for (i, t) in conversation.turns.iter().enumerate() {
        let tid = format!("{id}` turn `{}", i + 1);
        if check_variables(ctx, lcx.env, pos, &tid, &t.user, &t.checks, vars) {
            if let Err(e) = t.user.render(lcx.env, &value) {
                ctx.error(
                    pos,
                    format!("cannot render turn {} of case `{id}`: {e}", i + 1),
                    None,
                );
            }
        }
    }
}

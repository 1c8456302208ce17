//! Prompts: message templates, compiled once into the shared environment, and
//! the variables they read (checked against what each case provides).

use super::*;

/// The keys of a `prompt:` mapping.
pub(crate) const PROMPT_KEYS: &[&str] = &["system", "user"];
/// The keys of a prompt message.
pub(crate) const MESSAGE_KEYS: &[&str] = &["role", "content"];

/// A prompt: rendered messages, each a named template in the shared environment.
#[derive(Debug, Clone, PartialEq)]
pub struct Prompt {
    /// (role, template name, template source)
    pub messages: Vec<(String, String, String)>,
    pub pos: Pos,
    /// Variables the messages read (computed once).
    pub variables: BTreeSet<String>,
}

impl Prompt {
    /// Render every message with `vars`.
    pub fn render(
        &self,
        env: &Environment<'_>,
        vars: &minijinja::Value,
    ) -> Result<Vec<crate::model::Message>, String> {
        self.messages
            .iter()
            .map(|(role, name, source)| {
                // Text without template syntax renders as itself (the
                // environment keeps a trailing newline): no render needed.
                if !template::is_template(source) {
                    return Ok(crate::model::Message::new(role.clone(), source.clone()));
                }
                let t = env.get_template(name).map_err(|e| template::describe(&e))?;
                let content = t.render(vars).map_err(|e| template::describe(&e))?;
                Ok(crate::model::Message::new(role.clone(), content))
            })
            .collect()
    }
}

impl Prompt {
    /// The prompt's system messages only (a conversation starts with them).
    pub fn system_only(&self, env: &Environment<'_>) -> Prompt {
        let messages: Vec<(String, String, String)> = self
            .messages
            .iter()
            .filter(|(role, _, _)| role == "system")
            .cloned()
            .collect();
        let variables = messages
            .iter()
            .filter_map(|(_, _, src)| template::variables(env, src).ok())
            .flatten()
            .collect();
        Prompt {
            messages,
            pos: self.pos,
            variables,
        }
    }

    /// A prompt with no message (a conversation without a system prompt).
    pub fn empty() -> Prompt {
        Prompt {
            messages: Vec::new(),
            pos: Pos::default(),
            variables: BTreeSet::new(),
        }
    }
}

pub(super) fn decode_prompt(
    ctx: &mut Ctx<'_>,
    node: &Node,
    lcx: &mut LoadContext<'_>,
) -> Option<Arc<Prompt>> {
    let mut messages: Vec<(String, String, Pos)> = Vec::new();
    match &node.value {
        Value::Str(s) => messages.push(("user".into(), s.clone(), node.pos)),
        Value::Map(_) => {
            let f = ctx.map(node, "`prompt`", PROMPT_KEYS)?;
            if let Some(n) = f.get("system") {
                messages.push(("system".into(), ctx.string(n, "`prompt.system`")?, n.pos));
            }
            match f.get("user") {
                Some(n) => messages.push(("user".into(), ctx.string(n, "`prompt.user`")?, n.pos)),
                None => {
                    ctx.error(
                        node.pos,
                        "`prompt` needs a `user` message",
                        Some("or give a list of {role, content} messages".into()),
                    );
                    return None;
                }
            }
        }
        Value::Seq(items) => {
            for item in items {
                let f = ctx.map(item, "a prompt message", MESSAGE_KEYS)?;
                let role = ctx.require(&f, "role", "a prompt message").and_then(|n| {
                    let r = ctx.string(n, "`role`")?;
                    if !["system", "user", "assistant"].contains(&r.as_str()) {
                        ctx.error(
                            n.pos,
                            format!("unknown role `{r}`"),
                            Some("roles: system, user, assistant".into()),
                        );
                        return None;
                    }
                    Some(r)
                });
                let content = ctx
                    .require(&f, "content", "a prompt message")
                    .and_then(|n| ctx.string(n, "`content`").map(|c| (c, n.pos)));
                if let (Some(role), Some((content, pos))) = (role, content) {
                    messages.push((role, content, pos));
                }
            }
            if messages.is_empty() {
                ctx.error(node.pos, "`prompt` has no messages", None);
                return None;
            }
        }
        _ => {
            ctx.error(
                node.pos,
                format!("`prompt` must be a string, a mapping {{system, user}} or a list of messages, found {}", node.kind_name()),
                None,
            );
            return None;
        }
    }
    let mut out = Vec::new();
    let mut ok = true;
    for (i, (role, src, pos)) in messages.into_iter().enumerate() {
        let name = format!("{}:{}:{}#{i}", display_path(ctx.file), pos.line, pos.col);
        if let Err((msg, range)) = template::check_bounds(&src) {
            let at = locate_in_file(ctx.text, pos, &src, Some(range));
            ctx.error(
                at,
                format!("invalid template: {msg}"),
                Some("keep templates small and flat (see \"Limits\" in the README)".into()),
            );
            ok = false;
            continue;
        }
        if let Err(e) = lcx.env.add_template_owned(name.clone(), src.clone()) {
            let at = locate_in_file(ctx.text, pos, &src, e.range());
            ctx.error(
                at,
                format!("invalid template: {}", template::describe(&e)),
                Some("check the {{ }} and {% %} syntax (minijinja / Jinja2)".into()),
            );
            ok = false;
            continue;
        }
        out.push((role, name, src));
    }
    ok.then(|| {
        let variables = out
            .iter()
            .filter_map(|(_, _, src)| template::variables(lcx.env, src).ok())
            .flatten()
            .collect();
        Arc::new(Prompt {
            messages: out,
            pos: node.pos,
            variables,
        })
    })
}

/// The file position of byte `range.start` of a template that was written
/// starting at `pos` (best effort: falls back to `pos`).
fn locate_in_file(text: &str, pos: Pos, src: &str, range: Option<std::ops::Range<usize>>) -> Pos {
    let Some(range) = range else { return pos };
    let start = range.start.min(src.len());
    let Some(before) = src.get(..start) else {
        return pos;
    };
    let tline = before.matches('\n').count();
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let Some(line_text) = src.lines().nth(tline).filter(|l| !l.trim().is_empty()) else {
        return pos;
    };
    for (i, file_line) in text
        .lines()
        .enumerate()
        .skip(pos.line.saturating_sub(1))
        .take(200)
    {
        if let Some(k) = file_line.find(line_text) {
            let byte = k + (start - line_start);
            let col = file_line.get(..byte).map_or(0, |p| p.chars().count()) + 1;
            return Pos::new(i + 1, col);
        }
    }
    pos
}

/// Names minijinja provides itself (not case variables).
pub(super) const TEMPLATE_BUILTINS: &[&str] =
    &["range", "dict", "namespace", "debug", "loop", "self"];

/// Report variables a case's templates read but the case does not define.
pub(super) fn check_variables(
    ctx: &mut Ctx<'_>,
    env: &Environment<'_>,
    pos: Pos,
    case_id: &str,
    prompt: &Prompt,
    checks: &[Arc<CheckSpec>],
    vars: &Vars,
) -> bool {
    let defined = |v: &str| vars.contains_key(v);
    let mut missing: BTreeSet<(String, &str)> = BTreeSet::new();
    for v in &prompt.variables {
        if !defined(v) && !TEMPLATE_BUILTINS.contains(&v.as_str()) {
            missing.insert((v.clone(), "prompt"));
        }
    }
    for c in checks {
        for src in c.templates() {
            match template::variables(env, src) {
                Ok(vars) => {
                    for v in vars {
                        if !defined(&v) && !TEMPLATE_BUILTINS.contains(&v.as_str()) {
                            missing.insert((v, "checks"));
                        }
                    }
                }
                Err(e) => {
                    ctx.error(
                        pos,
                        format!("invalid template in a `{}` check: {e}", c.kind),
                        None,
                    );
                    return false;
                }
            }
        }
    }
    for (v, place) in &missing {
        let hint = match did_you_mean(v, vars.keys().map(String::as_str)) {
            Some(s) => format!("the case defines `{s}`: a typo? otherwise define `{v}` under the case's `vars:` or the suite's `defaults.vars`"),
            None => format!("define `{v}` under the case's `vars:` or the suite's `defaults.vars`"),
        };
        ctx.error(
            pos,
            format!("undefined variable `{v}` in the {place} of case `{case_id}`"),
            Some(hint),
        );
    }
    missing.is_empty()
}

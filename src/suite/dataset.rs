//! `cases_from`: cases read from a CSV or JSONL file, row by row.

use super::prompt::TEMPLATE_BUILTINS;
use super::*;

#[allow(clippy::too_many_arguments)]
pub(super) fn decode_dataset(
    ctx: &mut Ctx<'_>,
    node: &Node,
    defaults: &Defaults,
    suite_tags: &[String],
    prompts: &[Arc<Prompt>],
    variants: &[Variant],
    ids: &mut IdIndex,
    lcx: &mut LoadContext<'_>,
) -> Option<Dataset> {
    let f = ctx.map(node, "`cases_from`", DATASET_KEYS)?;
    let path_node = ctx.require(&f, "path", "`cases_from`")?;
    let rel = ctx.string(path_node, "`path`")?;
    let path = ctx.resolve_path(&rel);
    if rows::Format::from_path(&path).is_none() {
        ctx.error(
            path_node.pos,
            format!("unsupported dataset file `{rel}`"),
            Some("use a .csv (with a header row) or .jsonl file".into()),
        );
        return None;
    }
    let mapping = Mapping {
        id_column: f
            .get("id_column")
            .and_then(|n| ctx.string(n, "`id_column`")),
        expected_column: f
            .get("expected_column")
            .and_then(|n| ctx.string(n, "`expected_column`")),
    };
    let mut checks = defaults.checks.clone();
    if let Some(c) = f.get("checks") {
        checks.extend(check::parse_list(ctx, c));
    }
    if checks.is_empty() {
        ctx.error(
            f.pos,
            "dataset cases have no checks",
            Some("add `checks:` under `cases_from` or `defaults.checks` to the suite".into()),
        );
    }
    let mut tags = suite_tags.to_vec();
    for t in decode_tags(ctx, &f) {
        if !tags.contains(&t) {
            tags.push(t);
        }
    }
    let settings = decode_settings(ctx, &f, defaults.settings);
    if prompts.is_empty() {
        ctx.error(
            f.pos,
            "dataset cases need the suite's `prompt` (or `prompts`)",
            None,
        );
        return None;
    }
    let prompt_column = f
        .get("prompt_column")
        .and_then(|n| ctx.string(n, "`prompt_column`"));
    if let (Some(n), true) = (f.get("prompt_column"), variants.is_empty()) {
        ctx.error(
            n.pos,
            "`prompt_column` names a row's prompt variant, but the suite has no `prompts`",
            Some(
                "define the variants with `prompts:` (name: template) instead of `prompt:`".into(),
            ),
        );
    }
    // Said of every dataset problem so it can be traced back to this suite.
    let used_by = format!(
        " [cases_from of {}:{}]",
        display_path(ctx.file),
        path_node.pos.line
    );
    if rows::Format::from_path(&path) == Some(rows::Format::Csv) && path.is_file() {
        if let Ok(columns) = rows::csv_header(&path) {
            let mut missing = false;
            for key in ["id_column", "expected_column", "prompt_column"] {
                let Some(n) = f.get(key) else { continue };
                let Some(col) = n.as_str() else { continue };
                if !columns.iter().any(|c| c == col) {
                    missing = true;
                    let hint = match did_you_mean(col, columns.iter().map(String::as_str)) {
                        Some(s) => format!(
                            "did you mean `{s}`? columns of `{rel}`: {}",
                            columns.join(", ")
                        ),
                        None => format!("columns of `{rel}`: {}", columns.join(", ")),
                    };
                    ctx.error(
                        n.pos,
                        format!("column `{col}` is not in the CSV header of `{rel}`"),
                        Some(hint),
                    );
                }
            }
            if missing {
                return None;
            }
        }
    }
    let open = |ctx: &mut Ctx<'_>| match Rows::open(&path, &mapping) {
        Ok(r) => Some(r),
        Err(e) => {
            let hint = if path.exists() {
                "check the file"
            } else {
                "paths are relative to the project root (the directory of evalgate.yaml)"
            };
            ctx.error(path_node.pos, e, Some(hint.into()));
            None
        }
    };
    let rows = open(ctx)?;
    let mut count = 0;
    let mut row_errors = 0;
    let mut checked_columns = false;
    let mut seen_missing: BTreeSet<String> = BTreeSet::new();
    let env = &*lcx.env;
    let needed: BTreeSet<String> = {
        let mut n: BTreeSet<String> = prompts
            .iter()
            .flat_map(|p| p.variables.iter().cloned())
            .collect();
        for c in &checks {
            for src in c.templates() {
                n.extend(template::variables(env, src).unwrap_or_default());
            }
        }
        n.retain(|v| !TEMPLATE_BUILTINS.contains(&v.as_str()));
        n
    };
    let columns: Option<Vec<String>> = rows.columns().map(<[String]>::to_vec);
    if let Some(cols) = &columns {
        checked_columns = true;
        for v in &needed {
            let defined = cols.contains(v)
                || defaults.vars.contains_key(v)
                || (v == "expected" && mapping.expected_column.is_some());
            if !defined {
                ctx.error(
                    path_node.pos,
                    format!("undefined variable `{v}`: the dataset `{rel}` has no such column"),
                    Some(format!(
                        "columns: {}; or define it in `defaults.vars`",
                        cols.join(", ")
                    )),
                );
            }
        }
    }
    // Everything the row loop reports comes after this; a second pass (two
    // rows sharing an id hash) replaces the first pass's reports.
    let reported = ctx.errors.len();
    let mut row_ids = RowIds::new();
    let mut rows = Some(rows);
    while let Some(pass) = rows.take() {
        for row in pass {
            if row_errors >= MAX_ROW_ERRORS {
                ctx.errors.push(Diagnostic::new(
                    &path,
                    None,
                    format!("more than {MAX_ROW_ERRORS} bad rows; stopped checking this dataset"),
                ));
                break;
            }
            match row {
                Ok(row) => {
                    count += variants.len().max(1);
                    if let (Some(col), false) = (&prompt_column, variants.is_empty()) {
                        let named = row.vars.get(col).map(|v| match v {
                            serde_json::Value::String(s) => s.clone(),
                            other => other.to_string(),
                        });
                        match named.filter(|s| !s.is_empty()) {
                            None => {}
                            Some(n) if variants.iter().any(|(v, _)| **v == *n) => {
                                count -= variants.len() - 1;
                            }
                            Some(n) => {
                                row_errors += 1;
                                let names: Vec<&str> = variants.iter().map(|(v, _)| &**v).collect();
                                let hint = match did_you_mean(&n, names.iter().copied()) {
                                    Some(s) => format!("did you mean `{s}`?"),
                                    None => format!("the suite's prompts: {}", names.join(", ")),
                                };
                                ctx.errors.push(
                                    Diagnostic::new(
                                        &path,
                                        Some(Pos::new(row.line, 1)),
                                        format!(
                                            "unknown prompt variant `{n}` in column `{col}`{used_by}"
                                        ),
                                    )
                                    .with_hint(hint),
                                );
                            }
                        }
                    }
                    if invalid_id(&row.id) {
                        row_errors += 1;
                        ctx.errors.push(
                            Diagnostic::new(
                                &path,
                                Some(Pos::new(row.line, 1)),
                                format!("invalid case id {:?}{used_by}", row.id),
                            )
                            .with_hint(ID_RULE),
                        );
                    }
                    let first = row_ids
                        .insert(&row.id, row.line)
                        .or_else(|| ids.get(&row.id));
                    if let Some(first) = first {
                        row_errors += 1;
                        ctx.errors.push(
                            Diagnostic::new(
                                &path,
                                Some(Pos::new(row.line, 1)),
                                format!("duplicate case id `{}` (first on line {first}){used_by}", row.id),
                            )
                            .with_hint("case ids must be unique within a suite (set `id_column` to a unique column)"),
                        );
                    }
                    if !checked_columns {
                        for v in &needed {
                            let defined = row.vars.contains_key(v) || defaults.vars.contains_key(v);
                            if !defined && seen_missing.insert(v.clone()) {
                                row_errors += 1;
                                ctx.errors.push(
                                    Diagnostic::new(
                                        &path,
                                        Some(Pos::new(row.line, 1)),
                                        format!("undefined variable `{v}`: this row has no such key{used_by}"),
                                    )
                                    .with_hint(
                                        "every row must define the variables the prompt and checks use",
                                    ),
                                );
                            }
                        }
                    }
                }
                Err(mut d) => {
                    d.message.push_str(&used_by);
                    row_errors += 1;
                    ctx.errors.push(d);
                }
            }
        }
        if let Some(exact) = row_ids.second_pass() {
            row_ids = exact;
            ctx.errors.truncate(reported);
            count = 0;
            row_errors = 0;
            seen_missing.clear();
            rows = Some(open(ctx)?);
        }
    }
    Some(Dataset {
        shown: display_path(&path),
        path,
        mapping,
        checks,
        tags,
        settings,
        rows: count,
        prompt_column,
    })
}

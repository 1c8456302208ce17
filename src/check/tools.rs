//! Checks on what the model did besides text: `tool_call` (the model asked
//! for a tool, optionally with certain arguments) and `max_ttft_ms` (time to
//! first token of a streamed answer).
//!
//! ```yaml
//! - tool_call: get_weather                     # called at least once
//! - tool_call: {name: get_weather, arguments: {city: Paris}}   # arguments ⊇ these
//! - tool_call: get_weather
//!   not: true                                  # never called
//! - max_ttft_ms: 800
//! ```

use super::{Eval, EvalCtx, SyncCheck};
use crate::syntax::decode::Ctx;
use crate::syntax::node::{Node, Value};

#[derive(Debug)]
pub(super) struct ToolCallCheck {
    name: String,
    arguments: Option<serde_json::Value>,
}

/// The keys of `tool_call:`'s mapping form.
pub(super) const TOOL_CALL_KEYS: &[&str] = &["name", "arguments"];

impl ToolCallCheck {
    pub(super) fn parse(ctx: &mut Ctx<'_>, node: &Node) -> Option<Self> {
        match &node.value {
            Value::Str(s) if !s.is_empty() => Some(ToolCallCheck {
                name: s.clone(),
                arguments: None,
            }),
            Value::Map(_) => {
                let f = ctx.map(node, "`tool_call`", TOOL_CALL_KEYS)?;
                let name = ctx.require(&f, "name", "`tool_call`")?;
                let name = ctx.string(name, "`tool_call.name`")?;
                let arguments = match f.get("arguments") {
                    None => None,
                    Some(a) if matches!(a.value, Value::Map(_)) => Some(a.to_json()),
                    Some(a) => {
                        ctx.error(
                            a.pos,
                            format!(
                                "`tool_call.arguments` must be a mapping, found {}",
                                a.kind_name()
                            ),
                            Some(
                                "list the arguments that must be present, e.g. {city: Paris}"
                                    .into(),
                            ),
                        );
                        return None;
                    }
                };
                Some(ToolCallCheck { name, arguments })
            }
            _ => {
                ctx.error(
                    node.pos,
                    format!(
                        "`tool_call` takes a tool name or {{name, arguments}}, found {}",
                        node.kind_name()
                    ),
                    None,
                );
                None
            }
        }
    }
}

/// Whether `want` is contained in `got`: objects by subset, everything else
/// by equality (numbers compared as numbers).
fn contains(got: &serde_json::Value, want: &serde_json::Value) -> bool {
    use serde_json::Value as J;
    match (got, want) {
        (J::Object(g), J::Object(w)) => w
            .iter()
            .all(|(k, wv)| g.get(k).is_some_and(|gv| contains(gv, wv))),
        (J::Array(g), J::Array(w)) => {
            g.len() == w.len() && g.iter().zip(w).all(|(a, b)| contains(a, b))
        }
        (J::Number(a), J::Number(b)) => crate::util::json::numbers_equal(a, b),
        (a, b) => a == b,
    }
}

impl SyncCheck for ToolCallCheck {
    fn verdict(&self, input: &EvalCtx<'_>) -> Eval {
        let calls = input.tool_calls;
        let called: Vec<&str> = calls.iter().map(|c| c.name.as_str()).collect();
        let actual = if called.is_empty() {
            "no tool calls".to_string()
        } else {
            format!("called {}", called.join(", "))
        };
        let expected = match &self.arguments {
            Some(a) => format!("{}({a})", self.name),
            None => self.name.clone(),
        };
        let named: Vec<_> = calls.iter().filter(|c| c.name == self.name).collect();
        if named.is_empty() {
            return Eval::fail(format!("tool `{}` was not called ({actual})", self.name))
                .with_expected(expected)
                .with_actual(actual);
        }
        let Some(want) = &self.arguments else {
            return Eval::pass(format!("tool `{}` was called", self.name))
                .with_expected(expected)
                .with_actual(actual);
        };
        let mut seen = Vec::new();
        for c in &named {
            match serde_json::from_str::<serde_json::Value>(&c.arguments) {
                Ok(args) if contains(&args, want) => {
                    return Eval::pass(format!(
                        "tool `{}` was called with the expected arguments",
                        self.name
                    ))
                    .with_expected(expected)
                    .with_actual(c.arguments.clone());
                }
                Ok(_) => seen.push(c.arguments.clone()),
                Err(e) => seen.push(format!("{} (not JSON: {e})", c.arguments)),
            }
        }
        Eval::fail(format!(
            "tool `{}` was called, but not with arguments containing {want}",
            self.name
        ))
        .with_expected(expected)
        .with_actual(seen.join("; "))
    }
}

#[derive(Debug)]
pub(super) struct MaxTtft {
    max_ms: u64,
}

impl MaxTtft {
    pub(super) fn parse(ctx: &mut Ctx<'_>, node: &Node) -> Option<Self> {
        let max_ms = ctx.uint(node, "`max_ttft_ms`", 0, 86_400_000)?;
        Some(MaxTtft { max_ms })
    }
}

impl SyncCheck for MaxTtft {
    fn verdict(&self, input: &EvalCtx<'_>) -> Eval {
        let Some(got) = input.ttft_ms else {
            return Eval::fail(
                "no time to first token: the answer was not streamed (set `stream: true` on the provider)",
            )
            .with_expected(format!("<= {} ms", self.max_ms));
        };
        super::latency::within_budget("time to first token", got, self.max_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::testutil::*;
    use crate::model::ToolCall;
    use serde_json::json;

    fn with_calls(yaml: &str, calls: &[ToolCall]) -> crate::model::CheckResult {
        let spec = check(yaml);
        let env = minijinja::Environment::new();
        let vars = minijinja::Value::from_serialize(json!({}));
        let input = EvalCtx::new("", 10.0, &vars, &env).with_tool_calls(calls);
        futures::executor::block_on(spec.run(&input))
    }

    fn call(name: &str, args: &str) -> ToolCall {
        ToolCall {
            id: Some("call_1".into()),
            name: name.into(),
            arguments: args.into(),
        }
    }

    #[test]
    fn tool_called_by_name_and_arguments() {
        let calls = [call(
            "get_weather",
            r#"{"city":"Paris","unit":"c","days":2}"#,
        )];
        assert!(with_calls("- tool_call: get_weather\n", &calls).passed);
        assert!(
            with_calls(
                "- tool_call: {name: get_weather, arguments: {city: Paris, days: 2.0}}\n",
                &calls
            )
            .passed
        );
        let r = with_calls(
            "- tool_call: {name: get_weather, arguments: {city: Rome}}\n",
            &calls,
        );
        assert!(
            !r.passed && r.message.contains("not with arguments"),
            "{r:?}"
        );
        let r = with_calls("- tool_call: search\n", &calls);
        assert!(
            !r.passed && r.message.contains("called get_weather"),
            "{r:?}"
        );
        let r = with_calls("- tool_call: search\n  not: true\n", &calls);
        assert!(r.passed);
        let r = with_calls("- tool_call: search\n", &[]);
        assert!(!r.passed && r.message.contains("no tool calls"), "{r:?}");
    }

    #[test]
    fn ttft_budget() {
        let spec = check("- max_ttft_ms: 100\n");
        let env = minijinja::Environment::new();
        let vars = minijinja::Value::from_serialize(json!({}));
        let r = futures::executor::block_on(
            spec.run(&EvalCtx::new("x", 10.0, &vars, &env).with_ttft(Some(50.0))),
        );
        assert!(r.passed, "{r:?}");
        let r = futures::executor::block_on(
            spec.run(&EvalCtx::new("x", 10.0, &vars, &env).with_ttft(Some(150.0))),
        );
        assert!(!r.passed);
        let r = futures::executor::block_on(spec.run(&EvalCtx::new("x", 10.0, &vars, &env)));
        assert!(!r.passed && r.message.contains("not streamed"));
    }
}

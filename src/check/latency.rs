//! `max_latency_ms`: the provider call must finish within a budget.

use super::{Eval, EvalCtx, SyncCheck};
use crate::syntax::decode::Ctx;
use crate::syntax::node::Node;

#[derive(Debug)]
pub(super) struct MaxLatency {
    max_ms: u64,
}

impl MaxLatency {
    pub(super) fn parse(ctx: &mut Ctx<'_>, node: &Node) -> Option<Self> {
        let max_ms = ctx.uint(node, "`max_latency_ms`", 0, 86_400_000)?;
        Some(MaxLatency { max_ms })
    }
}

impl SyncCheck for MaxLatency {
    fn verdict(&self, input: &EvalCtx<'_>) -> Eval {
        within_budget("latency", input.latency_ms, self.max_ms)
    }
}

/// Pass when `got_ms` is at most `max_ms` (`max_latency_ms`, `max_ttft_ms`).
pub(super) fn within_budget(what: &str, got_ms: f64, max_ms: u64) -> Eval {
    let msg = format!("{what} {got_ms:.1} ms, budget {max_ms} ms");
    let eval = if got_ms <= max_ms as f64 {
        Eval::pass(msg)
    } else {
        Eval::fail(msg)
    };
    eval.with_expected(format!("<= {max_ms} ms"))
        .with_actual(format!("{got_ms:.1} ms"))
}

#[cfg(test)]
mod tests {
    use crate::check::testutil::*;
    use serde_json::json;

    #[test]
    fn budget() {
        // testutil runs with a latency of 10 ms.
        assert!(run(&check("- max_latency_ms: 50\n"), "x", json!({})).passed);
        let r = run(&check("- max_latency_ms: 5\n"), "x", json!({}));
        assert!(!r.passed && r.message.contains("budget 5 ms"));
    }
}

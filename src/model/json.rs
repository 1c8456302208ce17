//! The JSON report's case records and the journal's attempts, written with
//! [`crate::util::jsonw`]: byte for byte what serde writes for the same
//! values (the tests compare both on every kind of result), at a fraction
//! of the cost. Rare nested members (tool calls, conversation turns, the
//! attack, pass@k) are still written by serde.

use super::{AttemptResult, CaseResult, CheckResult, Timing, Usage};
use crate::util::jsonw::Obj;

/// A case result as one JSON object (the JSON report's `results` item).
pub(crate) fn write_case(out: &mut Vec<u8>, c: &CaseResult) {
    let mut o = Obj::open(out);
    o.u64("seq", c.seq);
    o.str("suite", &c.suite);
    o.str("case", &c.case);
    o.str("id", &c.id);
    o.str("provider", &c.provider);
    o.opt_str("variant", c.variant.as_deref());
    if !c.tags.is_empty() {
        o.serde("tags", &c.tags);
    }
    o.opt_str("description", c.description.as_deref());
    o.str("outcome", c.outcome.as_str());
    o.bool("flaky", c.flaky);
    o.u64("passes", c.passes.into());
    o.u64("repeats", c.repeats.into());
    o.u64("min_passes", c.min_passes.into());
    if let Some(p) = &c.pass_k {
        o.serde("pass_k", p);
    }
    o.opt_str("skip_reason", c.skip_reason.as_deref());
    o.str("source", &c.source);
    if let Some(a) = &c.attack {
        o.serde("attack", &**a);
    }
    let out = o.key("attempts");
    out.push(b'[');
    for (i, a) in c.attempts.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_attempt(out, a);
    }
    out.push(b']');
    o.close();
}

/// An attempt result as one JSON object (an item of a case's `attempts`,
/// the `result` of a journal line).
pub(crate) fn write_attempt(out: &mut Vec<u8>, a: &AttemptResult) {
    let mut o = Obj::open(out);
    o.u64("repeat", a.repeat.into());
    o.str("outcome", a.outcome.as_str());
    o.f64("score", a.score);
    o.opt_str("output", a.output.as_deref());
    o.opt_str("error", a.error.as_deref());
    if !a.tool_calls.is_empty() {
        o.serde("tool_calls", &a.tool_calls);
    }
    if a.retries != 0 {
        o.u64("retries", a.retries.into());
    }
    timing(&mut o, &a.timing);
    if let Some(u) = &a.usage {
        usage(o.key("usage"), u);
    }
    if !a.check_calls.is_empty() {
        o.serde("check_calls", &a.check_calls);
    }
    o.opt_f64("cost_usd", a.cost_usd);
    o.opt_f64("judge_cost_usd", a.judge_cost_usd);
    o.opt_str("finish_reason", a.finish_reason.as_deref());
    o.opt_str("model", a.model.as_deref());
    o.str("prompt_hash", &a.prompt_hash);
    let out = o.key("checks");
    out.push(b'[');
    for (i, c) in a.checks.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        check(out, c);
    }
    out.push(b']');
    if !a.turns.is_empty() {
        o.serde("turns", &a.turns);
    }
    o.close();
}

/// [`Timing`]'s members, flattened into the attempt.
fn timing(o: &mut Obj<'_>, t: &Timing) {
    if let Some(at) = t.started_at {
        o.str("started_at", &super::rfc3339::text(at));
    }
    o.opt_f64("ttft_ms", t.ttft_ms);
    o.f64("latency_ms", t.latency_ms);
    if let Some(n) = t.chunks {
        o.u64("chunks", n.into());
    }
    o.opt_f64("mean_gap_ms", t.mean_gap_ms);
    o.opt_f64("max_gap_ms", t.max_gap_ms);
    o.opt_f64("queue_ms", t.queue_ms);
    o.opt_f64("connect_ms", t.connect_ms);
    o.opt_f64("headers_ms", t.headers_ms);
    o.opt_f64("last_token_ms", t.last_token_ms);
    o.opt_f64("tpot_ms", t.tpot_ms);
    o.opt_f64("output_tokens_per_s", t.output_tokens_per_s);
    if t.tokens_estimated {
        o.bool("tokens_estimated", true);
    }
    if t.recorded {
        o.bool("recorded", true);
    }
    if let Some(p) = &t.event_delay {
        o.serde("event_delay", p);
    }
}

fn usage(out: &mut Vec<u8>, u: &Usage) {
    let mut o = Obj::open(out);
    o.u64("input_tokens", u.input_tokens);
    o.u64("output_tokens", u.output_tokens);
    o.u64("total_tokens", u.total_tokens);
    o.close();
}

fn check(out: &mut Vec<u8>, c: &CheckResult) {
    let mut o = Obj::open(out);
    o.str("name", &c.name);
    o.str("kind", &c.kind);
    o.bool("negated", c.negated);
    o.f64("weight", c.weight);
    o.bool("passed", c.passed);
    o.f64("score", c.score);
    o.str("message", &c.message);
    o.opt_str("expected", c.expected.as_deref());
    o.opt_str("actual", c.actual.as_deref());
    o.opt_str("excerpt", c.excerpt.as_deref());
    o.opt_str("diff", c.diff.as_deref());
    if c.error {
        o.bool("error", true);
    }
    o.close();
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::{Duration, SystemTime};

    use super::*;
    use crate::model::{Attack, CheckCall, Message, Outcome, Percentiles, ToolCall, TurnResult};
    use crate::report::explain::fixtures::{all_kinds, attempt, case, check};

    fn fast(c: &CaseResult) -> String {
        let mut out = Vec::new();
        write_case(&mut out, c);
        String::from_utf8(out).unwrap()
    }

    /// Every field of every record set, strings that need escaping, and a
    /// float that is not finite (serde writes `null`).
    fn everything() -> CaseResult {
        let mut full = check("not regex", false, "no \"match\"\n\tfor ^a\\b");
        full.expected = Some("exp\u{1}".into());
        full.actual = Some("act ▶ 🦀".into());
        full.excerpt = Some("…▶x".into());
        full.diff = Some("--- a\n+++ b\n".into());
        full.error = true;
        full.weight = 0.25;
        let mut a = attempt(
            2,
            Outcome::Error,
            Some("out \"q\""),
            vec![full, check("contains", true, "ok")],
        );
        a.score = f64::NAN;
        a.error = Some("provider error: \u{7f} </script>".into());
        a.tool_calls = vec![ToolCall {
            id: Some("call_1".into()),
            name: "weather".into(),
            arguments: "{\"city\":\"Paris\"}".into(),
        }];
        a.retries = 3;
        a.timing = Timing {
            started_at: Some(SystemTime::UNIX_EPOCH + Duration::from_millis(1_764_700_000_123)),
            ttft_ms: Some(1.5),
            latency_ms: 0.00019999999999999998,
            chunks: Some(7),
            mean_gap_ms: Some(0.1),
            max_gap_ms: Some(2e-9),
            queue_ms: Some(f64::INFINITY),
            connect_ms: Some(3.25),
            headers_ms: Some(4.0),
            last_token_ms: Some(5.5),
            tpot_ms: Some(0.333),
            output_tokens_per_s: Some(123456.789),
            tokens_estimated: true,
            recorded: true,
            event_delay: Some(Percentiles {
                n: 3,
                p50_ms: 0.1,
                p90_ms: 0.2,
                p95_ms: 0.3,
                p99_ms: 0.4,
                max_ms: 0.5,
                mean_ms: 0.25,
            }),
        };
        a.check_calls = vec![CheckCall {
            provider: "judge".into(),
            check: "rubric".into(),
            model: Some("gpt".into()),
            usage: Some(Usage {
                input_tokens: 1,
                output_tokens: 2,
                total_tokens: 3,
            }),
        }];
        a.cost_usd = Some(0.0012);
        a.judge_cost_usd = Some(1e-7);
        a.turns = vec![TurnResult {
            turn: 1,
            user: "hi".into(),
            steps: vec![Message::new("tool", "{}")],
            output: "hello".into(),
            tool_calls: Vec::new(),
            latency_ms: 2.0,
            passed: false,
            checks: vec![check("contains", false, "missing")],
        }];
        let mut c = case(
            "suite \"s\"",
            "c\\1",
            Outcome::Error,
            vec![attempt(1, Outcome::Pass, Some(""), vec![]), a],
        );
        c.seq = u64::MAX;
        c.variant = Some("v2".into());
        c.tags = vec!["smoke".into(), "a\"b".into()];
        c.description = Some("desc\r\n".into());
        c.pass_k = crate::util::stats::pass_k(1, 2, 2);
        c.skip_reason = Some("because".into());
        c.attack = Some(Arc::new(Attack {
            pack: "evalgate-attacks v1".into(),
            category: "prompt-injection".into(),
            owasp: vec!["LLM01".into()],
            seed: "pi-03".into(),
            mutator: Some("base64".into()),
            prompt: "ignore\u{0} previous".into(),
            rejection: true,
        }));
        c
    }

    #[test]
    fn case_records_are_what_serde_writes() {
        let mut cases = all_kinds();
        cases.push(everything());
        for c in &cases {
            assert_eq!(fast(c), serde_json::to_string(c).unwrap(), "{}", c.id);
            for a in &c.attempts {
                let mut out = Vec::new();
                write_attempt(&mut out, a);
                assert_eq!(out, serde_json::to_vec(a).unwrap(), "{}", c.id);
            }
        }
    }
}

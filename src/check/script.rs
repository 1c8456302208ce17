//! `script`: a check written as a program.
//!
//! ```yaml
//! checks:
//!   - script: {command: [python3, checks/grade.py], timeout: 5s}
//! ```
//!
//! The program runs without a shell, in the project root, in its own process
//! group (the `exec` provider's runner: stdout limit, stderr tail with
//! secrets redacted, the whole group killed on a timeout). It reads one JSON
//! object on stdin (the output, the case, the response's metadata) and
//! answers with `{"pass": bool, "score": number, "reason": string}` on
//! stdout, or with its exit status alone (0 pass, 1 fail) and nothing on
//! stdout. Anything else (a start failure, a timeout, another exit status, a
//! kill by a signal, a stack trace on stderr with exit 1, stdout that is not
//! such an object) is an `error` of the check, never a pass.
//!
//! Scripts never run under `--replay` unless the run allows it
//! (`--allow-scripts`): a replayed run starts no process.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Duration;

use super::{Eval, EvalCtx, Evaluation};
use crate::check::security::{Detector, Hit, StackTraces};
use crate::provider::exec::{describe_status, resolve_program, run_command, tail_excerpt, Spawn};
use crate::syntax::decode::{duration, Ctx};
use crate::syntax::node::{Node, Value};
use crate::util::text::truncate_chars;

/// Default time a script may take.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// Longest reason kept from a script's answer or stderr.
const REASON_CHARS: usize = 500;

/// Whether this run starts scripts (set by `app` for each run).
static POLICY: AtomicU8 = AtomicU8::new(NOT_SET);
const NOT_SET: u8 = 0;
const REPLAY: u8 = 1;
const ALLOWED: u8 = 2;

/// Set whether script checks run: `replay` without `allow` refuses them.
pub fn set_policy(replay: bool, allow: bool) {
    let p = if replay && !allow { REPLAY } else { ALLOWED };
    POLICY.store(p, Ordering::SeqCst);
}

/// `script: {command: [...], timeout: 5s}` (or `script: [program, args…]`).
#[derive(Debug)]
pub(super) struct Script {
    command: Vec<String>,
    timeout: Duration,
    root: PathBuf,
}

/// The keys of `script:`'s mapping form.
pub(super) const KEYS: &[&str] = &["command", "timeout"];

impl Script {
    pub(super) fn parse(ctx: &mut Ctx<'_>, node: &Node) -> Option<Self> {
        let (command_node, timeout) = match &node.value {
            Value::Seq(_) => (node, DEFAULT_TIMEOUT),
            Value::Map(_) => {
                let f = ctx.map(node, "`script`", KEYS)?;
                let c = ctx.require(&f, "command", "`script`")?;
                let timeout = match f.get("timeout") {
                    Some(n) => {
                        let t = duration(ctx, n, "`timeout`")?;
                        if t.is_zero() {
                            ctx.error(n.pos, "`timeout` must be greater than zero", None);
                            return None;
                        }
                        t
                    }
                    None => DEFAULT_TIMEOUT,
                };
                (c, timeout)
            }
            _ => {
                ctx.error(
                    node.pos,
                    format!(
                        "`script` takes a mapping {{command, timeout}}, found {}",
                        node.kind_name()
                    ),
                    Some(
                        "e.g. `script: {command: [python3, checks/grade.py], timeout: 5s}`".into(),
                    ),
                );
                return None;
            }
        };
        let command = ctx.string_list(command_node, "`command`")?;
        if command.first().is_none_or(|p| p.is_empty()) {
            ctx.error(
                command_node.pos,
                "`command` needs the program and its arguments",
                Some("a list, run without a shell: `command: [python3, checks/grade.py]`".into()),
            );
            return None;
        }
        Some(Script {
            command,
            timeout,
            root: ctx.root.clone(),
        })
    }

    fn program(&self) -> &str {
        self.command.first().map(String::as_str).unwrap_or_default()
    }

    /// What the script reads on stdin.
    fn input(&self, ctx: &EvalCtx<'_>) -> serde_json::Value {
        let vars = serde_json::to_value(ctx.vars).unwrap_or(serde_json::Value::Null);
        let (suite, case, provider, repeat) = match ctx.attempt {
            Some(a) => (
                a.suite.to_string(),
                a.case.to_string(),
                a.provider.to_string(),
                a.repeat,
            ),
            None => (String::new(), String::new(), String::new(), 1),
        };
        let response = ctx.response.map(|r| {
            serde_json::json!({
                "model": r.model,
                "usage": r.usage,
                "finish_reason": r.finish_reason,
                "latency_ms": r.timing.latency_ms,
                "ttft_ms": r.timing.ttft_ms,
            })
        });
        serde_json::json!({
            "output": ctx.output,
            "tool_calls": ctx.tool_calls,
            "case": {
                "suite": suite,
                "id": case,
                "vars": vars,
                "prompt": ctx.messages,
                "turn": ctx.turn,
            },
            "provider": provider,
            "repeat": repeat,
            "response": response,
        })
    }

    async fn judge(&self, ctx: &EvalCtx<'_>) -> Eval {
        let shown = self.command.join(" ");
        match POLICY.load(Ordering::SeqCst) {
            ALLOWED => {}
            REPLAY => {
                return Eval::error(format!(
                    "script `{shown}` not run: a --replay run starts no process (pass --allow-scripts to run script checks under --replay)"
                ))
            }
            _ => return Eval::error(format!("script `{shown}` not run: scripts are not enabled")),
        }
        let input = match serde_json::to_vec(&self.input(ctx)) {
            Ok(i) => i,
            Err(e) => return Eval::error(format!("cannot encode the input of `{shown}`: {e}")),
        };
        let spec = Spawn {
            program: self.program(),
            spawn_program: resolve_program(&self.root, self.program()),
            args: self.command.iter().skip(1).map(String::as_str).collect(),
            cwd: (!self.root.as_os_str().is_empty()).then_some(self.root.as_path()),
            env: Vec::new(),
            stdin: Some(&input),
            too_big_hint: None,
            stdin_what: "the check's input",
        };
        let ran = tokio::time::timeout(self.timeout, run_command(spec)).await;
        let (stdout, status, stderr) = match ran {
            Err(_) => {
                return Eval::error(format!(
                    "script `{shown}` timed out after {} (killed)",
                    crate::util::fmt::duration_ms(self.timeout.as_secs_f64() * 1000.0)
                ))
            }
            Ok(Err(e)) => return Eval::error(format!("script check failed to run: {e}")),
            Ok(Ok(r)) => r,
        };
        let stderr = crate::secret::redact(&String::from_utf8_lossy(&stderr));
        let stdout = crate::secret::redact(&String::from_utf8_lossy(&stdout));
        verdict(
            &shown,
            status.code(),
            &describe_status(status),
            &stdout,
            &stderr,
        )
    }
}

/// The check's verdict from what the script did.
fn verdict(shown: &str, code: Option<i32>, status: &str, stdout: &str, stderr: &str) -> Eval {
    let stderr_note = || {
        if stderr.trim().is_empty() {
            String::new()
        } else {
            format!(": {}", tail_excerpt(stderr.trim(), REASON_CHARS))
        }
    };
    let crashed = || {
        let mut hits: Vec<Hit> = Vec::new();
        StackTraces::default().detect(stderr, &mut hits);
        !hits.is_empty()
    };
    match code {
        Some(0) | Some(1) => {}
        _ => return Eval::error(format!("script `{shown}` {status}{}", stderr_note())),
    }
    if stdout.trim().is_empty() {
        return match code {
            Some(0) => Eval::pass(format!("script `{shown}` exited 0")),
            _ if crashed() => Eval::error(format!(
                "script `{shown}` crashed (exit status 1 with a stack trace){}",
                stderr_note()
            )),
            _ => Eval::fail(format!("script `{shown}` exited 1{}", stderr_note())),
        };
    }
    let garbage = |why: &str| {
        Eval::error(format!(
            "script `{shown}` answered {why}; it must print {{\"pass\": true|false, \"score\": 0..1, \"reason\": \"…\"}} or nothing (exit 0 pass, 1 fail)"
        ))
        .with_actual(truncate_chars(stdout.trim(), REASON_CHARS))
    };
    let answer: serde_json::Value = match serde_json::from_str(stdout.trim()) {
        Ok(v) => v,
        Err(_) => return garbage("something that is not JSON"),
    };
    let Some(obj) = answer.as_object() else {
        return garbage("JSON that is not an object");
    };
    let Some(pass) = obj.get("pass").and_then(serde_json::Value::as_bool) else {
        return garbage("an object without a boolean `pass`");
    };
    let score = match obj.get("score") {
        None | Some(serde_json::Value::Null) => {
            if pass {
                1.0
            } else {
                0.0
            }
        }
        Some(v) => match v.as_f64().filter(|s| (0.0..=1.0).contains(s)) {
            Some(s) => s,
            None => return garbage("a `score` that is not a number from 0 to 1"),
        },
    };
    let reason = match obj.get("reason") {
        None | Some(serde_json::Value::Null) => None,
        Some(serde_json::Value::String(s)) => Some(truncate_chars(s, REASON_CHARS)),
        Some(_) => return garbage("a `reason` that is not a string"),
    };
    if code == Some(1) && pass {
        return Eval::error(format!(
            "script `{shown}` answered pass but exited 1{}",
            stderr_note()
        ));
    }
    let verdict = if pass { "pass" } else { "fail" };
    let message = match reason {
        Some(r) => format!("script `{shown}`: {verdict}: {r}"),
        None => format!("script `{shown}`: {verdict}"),
    };
    let mut e = if pass {
        Eval::pass(message)
    } else {
        Eval::fail(message)
    };
    e.score = score;
    e
}

impl super::Check for Script {
    fn evaluate<'a>(&'a self, ctx: &'a EvalCtx<'a>) -> Evaluation<'a> {
        Evaluation::Pending(Box::pin(self.judge(ctx)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdicts_from_what_the_script_did() {
        let v = |code, out: &str, err: &str| verdict("g", code, "x", out, err);
        assert!(v(Some(0), "", "").passed);
        let f = v(Some(1), "\n", "too short");
        assert!(!f.passed && !f.error && f.message == "script `g` exited 1: too short");
        let e = v(
            Some(1),
            "",
            "Traceback (most recent call last):\n  File \"g.py\", line 3, in <module>\n    x()\nNameError: name 'x' is not defined\n",
        );
        assert!(e.error && e.message.contains("crashed"), "{e:?}");
        assert!(v(Some(2), "", "").error);
        assert!(v(None, "", "").error);
        let p = v(
            Some(0),
            r#"{"pass": true, "score": 0.5, "reason": "ok"}"#,
            "",
        );
        assert!(p.passed && p.score == 0.5 && p.message == "script `g`: pass: ok");
        assert!(v(Some(0), "yes", "").error);
        assert!(v(Some(0), "[1]", "").error);
        assert!(v(Some(0), r#"{"pass": "yes"}"#, "").error);
        assert!(v(Some(0), r#"{"pass": true, "score": 2}"#, "").error);
        assert!(v(Some(1), r#"{"pass": true}"#, "").error);
        let f = v(Some(0), r#"{"pass": false, "reason": "no"}"#, "");
        assert!(!f.passed && !f.error && f.score == 0.0);
    }
}

//! `exec`: runs a local command per request; its stdout is the output.
//!
//! * The program runs directly (no shell) with the configured arguments, in
//!   the configured directory, with the configured environment plus
//!   `EVALGATE_SUITE`, `EVALGATE_CASE` and `EVALGATE_REPEAT`.
//! * The prompt (the message contents joined by newlines) is written to
//!   stdin, which is then closed (`input: stdin`; a command that exits
//!   without reading it is fine), or passed as the last argument (`input:
//!   arg`; stdin is empty).
//! * The output is stdout decoded as UTF-8 (invalid bytes replaced) exactly
//!   as printed, except that one trailing `\n` is removed (`echo hi` answers
//!   `hi`; `printf 'hi\n\n'` answers `hi\n`).
//! * A non-zero exit or a kill by a signal is a [`ProviderError::Provider`]
//!   quoting the end of stderr; so is a program that cannot be started.
//! * The child is killed when the call is dropped (the retry layer's
//!   timeout). stdout is limited to [`MAX_STDOUT_BYTES`] (more is an error
//!   and the command is killed); only the last [`STDERR_TAIL_BYTES`] of
//!   stderr are kept.

use std::io;
use std::path::Path;
use std::process::{ExitStatus, Stdio};
use std::time::{Instant, SystemTime};

use futures::future::BoxFuture;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};

use super::http::{elapsed_ms, EXCERPT_CHARS};
use super::{excerpt, Provider, ProviderError, Request, Response};
use crate::config::provider::{ExecConfig, ExecInput};
use crate::model::Timing;

/// Most stdout kept; a command printing more fails.
pub const MAX_STDOUT_BYTES: usize = 16 << 20;

/// How much of the end of stderr is kept for error messages.
pub const STDERR_TAIL_BYTES: usize = 64 << 10;

/// A local command. Its output is stdout exactly as printed, except that
/// one trailing `\n` is removed (see the module documentation).
pub struct Exec {
    name: String,
    cfg: ExecConfig,
    env: Vec<(String, String)>,
}

impl Exec {
    /// `env` holds the configured environment with its values resolved.
    pub fn new(name: &str, cfg: &ExecConfig, env: Vec<(String, String)>) -> Result<Self, String> {
        match cfg.command.first() {
            None => return Err("`command` is empty: give the program and its arguments".into()),
            Some(p) if p.is_empty() => return Err("the program in `command` is empty".into()),
            Some(_) => {}
        }
        if let Some((k, _)) = env
            .iter()
            .find(|(k, _)| k.is_empty() || k.contains('=') || k.contains('\0'))
        {
            return Err(format!("invalid environment variable name `{k}`"));
        }
        Ok(Exec {
            name: name.to_string(),
            cfg: cfg.clone(),
            env,
        })
    }

    /// The command for request keys: a program under `cwd` (the project
    /// root by default, where relative programs were resolved) is written
    /// relative to it, so keys match on every machine.
    fn key_command(&self) -> Vec<String> {
        let mut command = self.cfg.command.clone();
        if let Some(first) = command.first_mut() {
            let program = Path::new(first.as_str());
            if program.is_absolute() && !self.cfg.cwd.as_os_str().is_empty() {
                if let Ok(rel) = program.strip_prefix(&self.cfg.cwd) {
                    if !rel.as_os_str().is_empty() {
                        *first = rel.to_string_lossy().into_owned();
                    }
                }
            }
        }
        command
    }

    fn program(&self) -> &str {
        self.cfg
            .command
            .first()
            .map(String::as_str)
            .unwrap_or_default()
    }

    async fn run(
        &self,
        request: &Request,
    ) -> Result<(Vec<u8>, ExitStatus, Vec<u8>), ProviderError> {
        let prompt = request.prompt_text();
        let mut cmd = tokio::process::Command::new(self.program());
        cmd.args(self.cfg.command.iter().skip(1));
        if self.cfg.input == ExecInput::Arg {
            cmd.arg(&prompt);
        }
        if !self.cfg.cwd.as_os_str().is_empty() {
            cmd.current_dir(&self.cfg.cwd);
        }
        cmd.envs(self.env.iter().map(|(k, v)| (k, v)))
            .env("EVALGATE_SUITE", &request.suite)
            .env("EVALGATE_CASE", &request.case_id)
            .env("EVALGATE_REPEAT", request.repeat.to_string())
            .stdin(match self.cfg.input {
                ExecInput::Stdin => Stdio::piped(),
                ExecInput::Arg => Stdio::null(),
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = cmd.spawn().map_err(|e| {
            ProviderError::Provider(crate::secret::redact(&format!(
                "cannot start `{}`: {e}{}",
                self.program(),
                if e.kind() == io::ErrorKind::NotFound {
                    format!(" (in {})", self.cfg.cwd.display())
                } else {
                    String::new()
                }
            )))
        })?;
        let stdin = child.stdin.take();
        let stdout = child.stdout.take();
        let stderr = child.stderr.take();

        let write_stdin = async {
            if let Some(mut stdin) = stdin {
                let written = match stdin.write_all(prompt.as_bytes()).await {
                    Ok(()) => stdin.shutdown().await,
                    Err(e) => Err(e),
                };
                match written {
                    // The command exited or closed stdin without reading it all.
                    Err(e) if e.kind() == io::ErrorKind::BrokenPipe => {}
                    Err(e) => {
                        return Err(ProviderError::Provider(format!(
                            "cannot write the prompt to the stdin of `{}`: {e}",
                            self.program()
                        )))
                    }
                    Ok(()) => {}
                }
            }
            Ok(())
        };
        let read_stdout = async {
            match stdout {
                Some(s) => read_limited(s, MAX_STDOUT_BYTES)
                    .await
                    .map_err(|e| match e {
                        ReadError::TooLarge => ProviderError::Provider(format!(
                            "`{}` wrote more than {} MiB to stdout",
                            self.program(),
                            MAX_STDOUT_BYTES >> 20
                        )),
                        ReadError::Io(e) => ProviderError::Provider(format!(
                            "cannot read the stdout of `{}`: {e}",
                            self.program()
                        )),
                    }),
                None => Ok(Vec::new()),
            }
        };
        let read_stderr = async {
            match stderr {
                // A stderr read failure only loses the error text.
                Some(s) => Ok(read_tail(s, STDERR_TAIL_BYTES).await.unwrap_or_default()),
                None => Ok(Vec::new()),
            }
        };
        // On the first error the others are dropped and so is the child
        // (killed, `kill_on_drop`).
        let ((), out, err) = tokio::try_join!(write_stdin, read_stdout, read_stderr)?;
        let status = child.wait().await.map_err(|e| {
            ProviderError::Provider(format!("cannot wait for `{}`: {e}", self.program()))
        })?;
        Ok((out, status, err))
    }
}

enum ReadError {
    TooLarge,
    Io(io::Error),
}

/// Everything, failing beyond `limit` bytes.
async fn read_limited<R: AsyncRead + Unpin>(mut r: R, limit: usize) -> Result<Vec<u8>, ReadError> {
    let mut out = Vec::new();
    let mut buf = vec![0u8; 64 << 10];
    loop {
        let n = r.read(&mut buf).await.map_err(ReadError::Io)?;
        if n == 0 {
            return Ok(out);
        }
        if out.len() + n > limit {
            return Err(ReadError::TooLarge);
        }
        out.extend_from_slice(&buf[..n]);
    }
}

/// The last `keep` bytes of everything read.
async fn read_tail<R: AsyncRead + Unpin>(mut r: R, keep: usize) -> io::Result<Vec<u8>> {
    let mut out = Vec::new();
    let mut buf = vec![0u8; 16 << 10];
    loop {
        let n = r.read(&mut buf).await?;
        if n == 0 {
            if out.len() > keep {
                out.drain(..out.len() - keep);
            }
            return Ok(out);
        }
        out.extend_from_slice(&buf[..n]);
        if out.len() > 2 * keep {
            out.drain(..out.len() - keep);
        }
    }
}

/// The last `max` characters of `text`, secrets redacted.
fn tail_excerpt(text: &str, max: usize) -> String {
    let text = text.trim();
    let count = text.chars().count();
    if count <= max {
        return excerpt(text, max);
    }
    let tail: String = text.chars().skip(count - max).collect();
    format!("…{}", excerpt(&tail, max))
}

fn describe_status(status: ExitStatus) -> String {
    if let Some(code) = status.code() {
        return format!("exited with status {code}");
    }
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        if let Some(signal) = status.signal() {
            return format!("was killed by signal {signal}");
        }
    }
    format!("ended abnormally ({status})")
}

impl Provider for Exec {
    fn name(&self) -> &str {
        &self.name
    }

    fn complete<'a>(
        &'a self,
        request: &'a Request,
    ) -> BoxFuture<'a, Result<Response, ProviderError>> {
        Box::pin(async move {
            let started_at = SystemTime::now();
            let start = Instant::now();
            let (stdout, status, stderr) = self.run(request).await?;
            let latency_ms = elapsed_ms(start);
            if !status.success() {
                let stderr = String::from_utf8_lossy(&stderr);
                let detail = if stderr.trim().is_empty() {
                    "(no stderr)".to_string()
                } else {
                    tail_excerpt(&stderr, EXCERPT_CHARS)
                };
                return Err(ProviderError::Provider(format!(
                    "command {}: {detail}",
                    describe_status(status)
                )));
            }
            let mut text = String::from_utf8_lossy(&stdout).into_owned();
            if text.ends_with('\n') {
                text.pop();
            }
            Ok(Response {
                text,
                timing: Timing {
                    started_at: Some(started_at),
                    latency_ms,
                    ..Default::default()
                },
                ..Default::default()
            })
        })
    }

    fn request_key(&self, request: &Request) -> serde_json::Value {
        serde_json::json!({
            "type": "exec",
            "command": self.key_command(),
            "input": match self.cfg.input {
                ExecInput::Stdin => "stdin",
                ExecInput::Arg => "arg",
            },
            "messages": request.messages,
        })
    }

    fn endpoint(&self) -> String {
        crate::secret::redact(&self.cfg.command.join(" "))
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use crate::provider::http::test_support::request;
    use std::path::PathBuf;
    use std::time::Duration;

    fn exec(command: &[&str], input: ExecInput) -> Exec {
        let cfg = ExecConfig {
            command: command.iter().map(|s| s.to_string()).collect(),
            input,
            env: vec![],
            cwd: std::env::temp_dir(),
        };
        Exec::new("x", &cfg, vec![("EXTRA_VAR".into(), "extra".into())]).unwrap()
    }

    #[tokio::test]
    async fn stdin_mode_reads_the_prompt_and_strips_one_newline() {
        let x = exec(&["sh", "-c", "tr a-z A-Z; echo"], ExecInput::Stdin);
        let resp = x
            .complete(&request(&[("system", "be loud"), ("user", "hello")]))
            .await
            .unwrap();
        // The prompt has no trailing newline; `echo` adds one, which is stripped.
        assert_eq!(resp.text, "BE LOUD\nHELLO");
        assert_eq!(resp.usage, None);
        assert_eq!(resp.finish_reason, None);
        assert!(resp.timing.started_at.is_some());

        let x = exec(&["printf", "two\\n\\n"], ExecInput::Stdin);
        assert_eq!(
            x.complete(&request(&[("user", "q")])).await.unwrap().text,
            "two\n"
        );
    }

    #[tokio::test]
    async fn arg_mode_passes_the_prompt_last_and_sets_the_env() {
        let x = exec(
            &[
                "sh",
                "-c",
                "printf '%s|%s|%s|%s|%s|%s' \"$0\" \"$1\" \"$EVALGATE_SUITE\" \"$EVALGATE_CASE\" \"$EVALGATE_REPEAT\" \"$EXTRA_VAR\"",
                "first",
            ],
            ExecInput::Arg,
        );
        let resp = x
            .complete(&request(&[("user", "the prompt")]))
            .await
            .unwrap();
        assert_eq!(resp.text, "first|the prompt|s|c|1|extra");
    }

    #[tokio::test]
    async fn a_command_that_ignores_stdin_is_fine() {
        let x = exec(&["sh", "-c", "exec 0<&-; echo ok"], ExecInput::Stdin);
        let big = "x".repeat(1 << 20);
        let resp = x.complete(&request(&[("user", &big)])).await.unwrap();
        assert_eq!(resp.text, "ok");
    }

    #[tokio::test]
    async fn non_zero_exit_quotes_stderr() {
        let x = exec(
            &[
                "sh",
                "-c",
                "echo partial; echo 'model not loaded' >&2; exit 3",
            ],
            ExecInput::Stdin,
        );
        let err = x.complete(&request(&[("user", "q")])).await.unwrap_err();
        assert!(matches!(err, ProviderError::Provider(_)), "{err}");
        assert_eq!(
            err.to_string(),
            "provider error: command exited with status 3: model not loaded"
        );
        assert!(!err.retryable());
    }

    #[tokio::test]
    async fn long_stderr_keeps_its_end() {
        let x = exec(
            &[
                "sh",
                "-c",
                "i=0; while [ $i -lt 2000 ]; do echo \"line $i\" >&2; i=$((i+1)); done; exit 1",
            ],
            ExecInput::Arg,
        );
        let err = x
            .complete(&request(&[("user", "q")]))
            .await
            .unwrap_err()
            .to_string();
        assert!(err.ends_with("line 1999"), "{err}");
        assert!(err.contains('…'), "{err}");
        assert!(err.chars().count() < 600, "{err}");
    }

    #[tokio::test]
    async fn a_signal_is_reported() {
        let x = exec(&["sh", "-c", "kill -9 $$"], ExecInput::Arg);
        let err = x.complete(&request(&[("user", "q")])).await.unwrap_err();
        assert!(err.to_string().contains("killed by signal 9"), "{err}");
    }

    #[tokio::test]
    async fn a_missing_program_is_a_provider_error() {
        let x = exec(&["evalgate-no-such-program-xyz"], ExecInput::Stdin);
        let err = x.complete(&request(&[("user", "q")])).await.unwrap_err();
        assert!(matches!(err, ProviderError::Provider(_)), "{err}");
        assert!(
            err.to_string()
                .contains("cannot start `evalgate-no-such-program-xyz`"),
            "{err}"
        );
    }

    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn dropping_the_call_kills_the_command() {
        let dir = tempfile::tempdir().unwrap();
        let pid_file = dir.path().join("pid");
        let script = format!("echo $$ > '{}'; exec sleep 30", pid_file.display());
        let x = exec(&["sh", "-c", &script], ExecInput::Arg);
        let req = request(&[("user", "q")]);
        let r = tokio::time::timeout(Duration::from_millis(150), x.complete(&req)).await;
        assert!(r.is_err(), "the command should still be running");
        let pid = std::fs::read_to_string(&pid_file).unwrap();
        let stat = PathBuf::from(format!("/proc/{}/stat", pid.trim()));
        // Killed: gone, or a zombie until it is reaped.
        let deadline = Instant::now() + Duration::from_secs(2);
        loop {
            match std::fs::read_to_string(&stat) {
                Err(_) => break,
                Ok(s) if s.contains(") Z ") => break,
                Ok(_) if Instant::now() > deadline => panic!("process {pid} still alive"),
                Ok(_) => tokio::time::sleep(Duration::from_millis(10)).await,
            }
        }
    }

    #[test]
    fn new_rejects_an_empty_command() {
        let cfg = ExecConfig {
            command: vec![],
            input: ExecInput::Stdin,
            env: vec![],
            cwd: PathBuf::from("."),
        };
        assert!(Exec::new("x", &cfg, vec![]).is_err());
    }

    #[test]
    fn request_key_writes_programs_under_cwd_relative() {
        let cfg = ExecConfig {
            command: vec!["/work/proj/app/answer.py".into(), "--fast".into()],
            input: ExecInput::Stdin,
            env: vec![],
            cwd: PathBuf::from("/work/proj"),
        };
        let x = Exec::new("x", &cfg, vec![]).unwrap();
        let key = x.request_key(&request(&[("user", "hi")]));
        assert_eq!(
            key["command"],
            serde_json::json!(["app/answer.py", "--fast"])
        );
        assert_eq!(key["input"], "stdin");
        assert_eq!(x.endpoint(), "/work/proj/app/answer.py --fast");
    }

    #[tokio::test]
    async fn read_tail_keeps_the_last_bytes() {
        let data: Vec<u8> = (0..1000u32).map(|i| (i % 251) as u8).collect();
        let tail = read_tail(&data[..], 100).await.unwrap();
        assert_eq!(tail, &data[900..]);
    }

    #[test]
    fn request_key_and_endpoint() {
        let x = exec(&["python3", "model.py"], ExecInput::Arg);
        let key = x.request_key(&request(&[("user", "hi")]));
        assert_eq!(
            key,
            serde_json::json!({
                "type": "exec",
                "command": ["python3", "model.py"],
                "input": "arg",
                "messages": [{"role": "user", "content": "hi"}]
            })
        );
        assert_eq!(x.endpoint(), "python3 model.py");
    }
}

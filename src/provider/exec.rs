//! `exec`: runs a local command per request; its stdout is the output.
//!
//! * The program runs directly (no shell) with the configured arguments, in
//!   the configured directory (`cwd`), with the configured environment plus
//!   `EVALGATE_SUITE`, `EVALGATE_CASE` and `EVALGATE_REPEAT`. A relative
//!   program containing `/` (`app/answer.py`, `./app/answer.py`) runs from
//!   the project root whatever `cwd` is; a bare name (`python3`) is looked up
//!   on `PATH`.
//! * Request keys hold the command exactly as written in the configuration,
//!   so they do not depend on where the project is checked out.
//! * The prompt (the message contents joined by newlines) is written to
//!   stdin, which is then closed (`input: stdin`; a command that exits
//!   without reading it is fine), or passed as the last argument (`input:
//!   arg`; stdin is empty). An argument cannot hold a NUL byte nor, on
//!   Linux, 128 KiB or more ([`MAX_ARG_BYTES`]): such a prompt is a
//!   [`ProviderError::Provider`] suggesting `input: stdin`, before anything
//!   is started.
//! * The output is stdout decoded as UTF-8 (invalid bytes replaced) exactly
//!   as printed, except that one trailing `\n` is removed (`echo hi` answers
//!   `hi`; `printf 'hi\n\n'` answers `hi\n`).
//! * A non-zero exit or a kill by a signal is a [`ProviderError::Provider`]
//!   quoting the end of stderr; so is a program that cannot be started.
//! * On Unix the command runs in its own process group. When the call is
//!   dropped (the retry layer's timeout) or ends abnormally (a read error,
//!   too much stdout, the command killed by a signal), the whole group is
//!   killed, so the processes it started (`sh -c "sleep 9; …"`) do not
//!   outlive it. After a normal exit (any exit status) processes it left in
//!   the background are not touched, and are not waited for: the exit is
//!   awaited along with stdout and stderr, which are then read for a short
//!   grace period (what the command wrote is in the pipes) and closed, even
//!   if a background process still holds them open. stdout is limited to
//!   [`MAX_STDOUT_BYTES`] (more is an error and the command is killed); only
//!   the last [`STDERR_TAIL_BYTES`] of stderr are kept, secrets redacted
//!   before anything is cut.

use std::io;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::{Duration, Instant, SystemTime};

use futures::future::BoxFuture;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};

use super::http::api_error::EXCERPT_CHARS;
use super::http::transport::elapsed_ms;
use super::{excerpt, Provider, ProviderError, Request, Response};
use crate::config::provider::{ExecConfig, ExecInput};
use crate::model::Timing;

/// Most stdout kept; a command printing more fails.
pub(crate) const MAX_STDOUT_BYTES: usize = 16 << 20;

/// How much of the end of stderr is kept for error messages.
pub(crate) const STDERR_TAIL_BYTES: usize = 64 << 10;

/// Longest prompt passed as an argument (`input: arg`), in bytes: Linux
/// refuses a single argument of 128 KiB or more (`MAX_ARG_STRLEN`, with
/// its terminating NUL).
pub(crate) const MAX_ARG_BYTES: usize = 128 << 10;

/// How long the pipes are still read after the command exited. What it
/// wrote is already in them; a pipe still open by then is held by a
/// process it left in the background.
const DRAIN_GRACE: Duration = Duration::from_millis(100);

/// A local command. Its output is stdout exactly as printed, except that
/// one trailing `\n` is removed (see the module documentation).
pub(crate) struct Exec {
    name: String,
    cfg: ExecConfig,
    env: Vec<(String, String)>,
}

impl Exec {
    /// `env` holds the configured environment with its values resolved.
    pub(crate) fn new(
        name: &str,
        cfg: &ExecConfig,
        env: Vec<(String, String)>,
    ) -> Result<Self, String> {
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

    /// The program to start: a relative path containing `/` resolved
    /// against the project root (made absolute, since a relative program
    /// with a `current_dir` is resolved differently per platform); a bare
    /// name as is, for the `PATH` lookup; an absolute path as is.
    fn spawn_program(&self) -> PathBuf {
        resolve_program(&self.cfg.root, self.program())
    }

    fn program(&self) -> &str {
        self.cfg
            .command
            .first()
            .map(String::as_str)
            .unwrap_or_default()
    }

    /// Why the prompt cannot be passed as an argument (`input: arg`), if it cannot.
    fn check_arg_prompt(&self, prompt: &str) -> Result<(), ProviderError> {
        if prompt.contains('\0') {
            return Err(ProviderError::Provider(format!(
                "the prompt contains a NUL byte, which a command-line argument cannot hold \
                 (`input: arg`); use `input: stdin` to pass it to `{}`",
                self.program()
            )));
        }
        if prompt.len() >= MAX_ARG_BYTES {
            return Err(ProviderError::Provider(format!(
                "the prompt ({} bytes) is too long for a command-line argument (`input: arg` \
                 allows less than {} KiB); use `input: stdin` to pass it to `{}`",
                prompt.len(),
                MAX_ARG_BYTES >> 10,
                self.program()
            )));
        }
        Ok(())
    }

    async fn run(
        &self,
        request: &Request,
    ) -> Result<(Vec<u8>, ExitStatus, Vec<u8>), ProviderError> {
        let prompt = request.prompt_text();
        if self.cfg.input == ExecInput::Arg {
            self.check_arg_prompt(&prompt)?;
        }
        let repeat = request.repeat.to_string();
        let mut env: Vec<(&str, &str)> = self
            .env
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        env.extend([
            ("EVALGATE_SUITE", request.suite.as_str()),
            ("EVALGATE_CASE", request.case_id.as_str()),
            ("EVALGATE_REPEAT", repeat.as_str()),
        ]);
        let mut args: Vec<&str> = self
            .cfg
            .command
            .iter()
            .skip(1)
            .map(String::as_str)
            .collect();
        let arg_mode = self.cfg.input == ExecInput::Arg;
        if arg_mode {
            args.push(&prompt);
        }
        let spec = Spawn {
            program: self.program(),
            spawn_program: self.spawn_program(),
            args,
            cwd: (!self.cfg.cwd.as_os_str().is_empty()).then_some(self.cfg.cwd.as_path()),
            env,
            stdin: (!arg_mode).then_some(prompt.as_bytes()),
            too_big_hint: arg_mode.then(|| {
                format!(
                    " (the prompt, {} bytes, is passed as an argument: use `input: stdin`)",
                    prompt.len()
                )
            }),
            stdin_what: "the prompt",
        };
        run_command(spec).await.map_err(ProviderError::Provider)
    }
}

/// A command to run: no shell, its own process group (see the module
/// documentation for how it is started, read, limited and killed).
pub(crate) struct Spawn<'a> {
    /// The program as written, for messages.
    pub program: &'a str,
    /// The program as started (resolved against the project root).
    pub spawn_program: PathBuf,
    pub args: Vec<&'a str>,
    pub cwd: Option<&'a Path>,
    /// Added to the inherited environment.
    pub env: Vec<(&'a str, &'a str)>,
    /// Written to stdin, which is then closed; `None`: stdin is empty.
    pub stdin: Option<&'a [u8]>,
    /// Appended to a start failure for arguments over the system's limit.
    pub too_big_hint: Option<String>,
    /// What stdin carries, for a write error ("the prompt").
    pub stdin_what: &'a str,
}

/// The program to start for a command written as `program`: a relative
/// path containing `/` resolved against `root` (made absolute, since a
/// relative program with a `current_dir` is resolved differently per
/// platform); a bare name as is, for the `PATH` lookup; an absolute path as is.
pub(crate) fn resolve_program(root: &Path, program: &str) -> PathBuf {
    let path = Path::new(program);
    if path.is_absolute() || !program.chars().any(std::path::is_separator) {
        return PathBuf::from(program);
    }
    let joined = root.join(path);
    std::path::absolute(&joined).unwrap_or(joined)
}

/// Run a command to its end: (stdout, exit status, the tail of stderr with
/// secrets redacted). Dropping the future kills the command's process group.
/// Errors (cannot start, too much stdout, a read failure) are messages.
pub(crate) async fn run_command(spec: Spawn<'_>) -> Result<(Vec<u8>, ExitStatus, Vec<u8>), String> {
    let program = spec.program;
    let mut cmd = tokio::process::Command::new(&spec.spawn_program);
    cmd.args(&spec.args);
    if let Some(cwd) = spec.cwd {
        cmd.current_dir(cwd);
    }
    cmd.envs(spec.env.iter().copied())
        .stdin(if spec.stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    // Its own group, so that everything it starts can be killed with it.
    #[cfg(unix)]
    cmd.process_group(0);
    let mut child = cmd.spawn().map_err(|e| {
        let hint = match e.kind() {
            io::ErrorKind::NotFound if program.chars().any(std::path::is_separator) => {
                format!(" (looked for {})", spec.spawn_program.display())
            }
            io::ErrorKind::NotFound => " (not found on PATH)".to_string(),
            // The arguments and environment together are over the
            // system's limit.
            _ if is_too_big(&e) => spec.too_big_hint.clone().unwrap_or_default(),
            _ => String::new(),
        };
        crate::secret::redact(&format!("cannot start `{program}`: {e}{hint}"))
    })?;
    // Declared after `child`, so dropped before it: the group is killed
    // while the child is not yet reaped (its pid, the group id, cannot
    // have been reused).
    let mut group = GroupGuard::new(child.id());
    let stdin = child.stdin.take();
    let stdout = child.stdout.take();
    let stderr = child.stderr.take();
    let input = spec.stdin.unwrap_or_default();
    let stdin_what = spec.stdin_what;

    let write_stdin = async {
        if let Some(mut stdin) = stdin {
            let written = match stdin.write_all(input).await {
                Ok(()) => stdin.shutdown().await,
                Err(e) => Err(e),
            };
            match written {
                // The command exited or closed stdin without reading it all.
                Err(e) if e.kind() == io::ErrorKind::BrokenPipe => {}
                Err(e) => {
                    return Err(format!(
                        "cannot write {stdin_what} to the stdin of `{program}`: {e}"
                    ))
                }
                Ok(()) => {}
            }
        }
        Ok(())
    };
    // Read into buffers that outlive the reads: after the exit, reads
    // still waiting are dropped and what they read is kept.
    let mut out = Vec::new();
    let mut err = Vec::new();
    let read_stdout = async {
        match stdout {
            Some(s) => read_limited(s, MAX_STDOUT_BYTES, &mut out)
                .await
                .map_err(|e| match e {
                    ReadError::TooLarge => format!(
                        "`{program}` wrote more than {} MiB to stdout",
                        MAX_STDOUT_BYTES >> 20
                    ),
                    ReadError::Io(e) => format!("cannot read the stdout of `{program}`: {e}"),
                }),
            None => Ok(()),
        }
    };
    let read_stderr = async {
        if let Some(s) = stderr {
            // A stderr read failure only loses the rest of the error text.
            let _ = read_tail(s, STDERR_TAIL_BYTES, &mut err).await;
        }
        Ok(())
    };
    let status = {
        // On the first error the others are dropped and so are the
        // group (killed, `GroupGuard`) and the child (killed,
        // `kill_on_drop`).
        let io = async {
            tokio::try_join!(write_stdin, read_stdout, read_stderr)?;
            Ok::<(), String>(())
        };
        tokio::pin!(io);
        let wait_error = |e: io::Error| format!("cannot wait for `{program}`: {e}");
        // The exit is awaited along with the pipes: processes the
        // command left in the background may hold them open long after.
        let (status, io_done) = tokio::select! {
            r = &mut io => {
                r?;
                (child.wait().await.map_err(wait_error)?, true)
            }
            status = child.wait() => (status.map_err(wait_error)?, false),
        };
        if status.code().is_none() {
            // Killed by a signal: so is everything it started, before
            // the pipes they hold are drained.
            group.kill();
        }
        if !io_done {
            // What it wrote before exiting is in the pipes: read it. A
            // pipe still open after the grace period is held by a
            // process it left running, and is closed on our side.
            if let Ok(r) = tokio::time::timeout(DRAIN_GRACE, &mut io).await {
                r?;
            }
        }
        status
    };
    if status.code().is_some() {
        // A normal exit: what it left running in the background is its business.
        group.disarm();
    }
    trim_tail(&mut err, STDERR_TAIL_BYTES);
    Ok((out, status, err))
}

/// Whether spawning failed because the arguments and environment are over
/// the system's limit (`E2BIG`).
fn is_too_big(e: &io::Error) -> bool {
    #[cfg(unix)]
    {
        e.raw_os_error() == Some(libc::E2BIG)
    }
    #[cfg(not(unix))]
    {
        let _ = e;
        false
    }
}

/// Kills the process group of a command (created with `process_group(0)`,
/// so its id is the child's pid) when dropped, unless disarmed after a
/// normal exit: a timeout (the call's future dropped), an error while
/// talking to the command, or a kill by a signal take down every process
/// the command started, not just the command.
struct GroupGuard {
    #[cfg_attr(not(unix), allow(dead_code))]
    pgid: Option<u32>,
}

impl GroupGuard {
    fn new(pid: Option<u32>) -> Self {
        GroupGuard { pgid: pid }
    }

    fn disarm(&mut self) {
        self.pgid = None;
    }

    /// Kill the group now (once).
    fn kill(&mut self) {
        #[cfg(unix)]
        if let Some(pgid) = self.pgid.take().and_then(|p| libc::pid_t::try_from(p).ok()) {
            if pgid > 0 {
                // SAFETY: `killpg` only sends a signal; it reads and writes no
                // memory of this process. `pgid` is positive (never 0, which
                // would be our own group) and is the id of the group created
                // for this command: the guard is dropped before the child is
                // reaped (or right after `wait` for a command killed by a
                // signal), so the id names that group and no other. An error
                // (the group is already gone) needs no handling.
                unsafe {
                    libc::killpg(pgid, libc::SIGKILL);
                }
            }
        }
        self.pgid = None;
    }
}

impl Drop for GroupGuard {
    fn drop(&mut self) {
        self.kill();
    }
}

enum ReadError {
    TooLarge,
    Io(io::Error),
}

/// Everything into `out`, failing beyond `limit` bytes.
async fn read_limited<R: AsyncRead + Unpin>(
    mut r: R,
    limit: usize,
    out: &mut Vec<u8>,
) -> Result<(), ReadError> {
    let mut buf = vec![0u8; 64 << 10];
    loop {
        let n = r.read(&mut buf).await.map_err(ReadError::Io)?;
        if n == 0 {
            return Ok(());
        }
        if out.len() + n > limit {
            return Err(ReadError::TooLarge);
        }
        out.extend_from_slice(&buf[..n]);
    }
}

/// Everything read into `out`, cut to about its last `keep` bytes as it
/// grows (at most `2 * keep`); [`trim_tail`] makes the final cut. Secrets
/// are redacted in the whole buffer before each cut, so a secret straddling
/// a cut point is masked whole rather than cut in half (and the half kept
/// unmasked). A secret still incomplete at the end of the buffer lies in
/// the kept part (secrets are far shorter than `keep`) and is redacted at
/// the next cut or by the caller.
async fn read_tail<R: AsyncRead + Unpin>(
    mut r: R,
    keep: usize,
    out: &mut Vec<u8>,
) -> io::Result<()> {
    let mut buf = vec![0u8; 16 << 10];
    loop {
        let n = r.read(&mut buf).await?;
        if n == 0 {
            return Ok(());
        }
        out.extend_from_slice(&buf[..n]);
        if out.len() > 2 * keep {
            redact_bytes(out);
            out.drain(..out.len().saturating_sub(keep));
        }
    }
}

/// The last `keep` bytes of what [`read_tail`] read, redacted before the cut.
fn trim_tail(out: &mut Vec<u8>, keep: usize) {
    if out.len() > keep {
        redact_bytes(out);
        out.drain(..out.len().saturating_sub(keep));
    }
}

/// Redact secrets in `buf` (text, decoded leniently). Left untouched when it
/// holds no secret. An incomplete UTF-8 sequence at the end (the rest is
/// still to be read) is kept as bytes.
fn redact_bytes(buf: &mut Vec<u8>) {
    if !crate::secret::any() {
        return;
    }
    let tail = incomplete_utf8_tail(buf);
    let head = &buf[..buf.len() - tail];
    let text = String::from_utf8_lossy(head);
    let redacted = crate::secret::redact(&text);
    if redacted != text {
        let mut out = redacted.into_bytes();
        out.extend_from_slice(&buf[buf.len() - tail..]);
        *buf = out;
    }
}

/// The length of an incomplete UTF-8 sequence at the end of `b` (0 if none).
fn incomplete_utf8_tail(b: &[u8]) -> usize {
    for i in 1..=b.len().min(4) {
        let byte = b[b.len() - i];
        if byte & 0xC0 != 0x80 {
            let need = match byte {
                0xC0..=0xDF => 2,
                0xE0..=0xEF => 3,
                0xF0..=0xF7 => 4,
                _ => 1,
            };
            return if need > i { i } else { 0 };
        }
    }
    0
}

/// The last `max` characters of `text`. `text` must already be redacted:
/// cutting first could keep the end of a secret whose start was cut off.
pub(crate) fn tail_excerpt(text: &str, max: usize) -> String {
    let text = text.trim();
    let count = text.chars().count();
    if count <= max {
        return excerpt(text, max);
    }
    let tail: String = text.chars().skip(count - max).collect();
    format!("…{}", excerpt(&tail, max))
}

pub(crate) fn describe_status(status: ExitStatus) -> String {
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
                // Redacted whole before the excerpt cuts it.
                let stderr = crate::secret::redact(&String::from_utf8_lossy(&stderr));
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
            // As written: the same on every machine and checkout.
            "command": self.cfg.command,
            "input": match self.cfg.input {
                ExecInput::Stdin => "stdin",
                ExecInput::Arg => "arg",
            },
            "messages": request.messages,
        })
    }

    /// The command that runs (the program as started, resolved against the
    /// root, then the arguments), unredacted. Only hashed into the response
    /// cache key, never displayed: it may hold a secret.
    fn endpoint(&self) -> String {
        let mut parts = vec![self.spawn_program().to_string_lossy().into_owned()];
        parts.extend(self.cfg.command.iter().skip(1).cloned());
        parts.join(" ")
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
            root: std::env::temp_dir(),
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
        // The call is dropped (as by the retry layer's timeout) once the
        // command has surely started.
        let pid = pid_then_drop(x.complete(&req), &pid_file).await;
        wait_dead(&pid, PATIENCE).await;
    }

    #[test]
    fn new_rejects_an_empty_command() {
        let cfg = ExecConfig {
            command: vec![],
            root: PathBuf::from("."),
            input: ExecInput::Stdin,
            env: vec![],
            cwd: PathBuf::from("."),
        };
        assert!(Exec::new("x", &cfg, vec![]).is_err());
    }

    fn config(command: &[&str], root: &Path, cwd: &Path) -> ExecConfig {
        ExecConfig {
            command: command.iter().map(|s| s.to_string()).collect(),
            root: root.to_path_buf(),
            input: ExecInput::Stdin,
            env: vec![],
            cwd: cwd.to_path_buf(),
        }
    }

    /// A project root holding an executable `app/answer.sh` that prints
    /// `root answer` and its working directory.
    fn project_with_script() -> tempfile::TempDir {
        use std::os::unix::fs::PermissionsExt;
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir(root.path().join("app")).unwrap();
        let script = root.path().join("app/answer.sh");
        std::fs::write(&script, "#!/bin/sh\necho \"root answer in $(pwd -P)\"\n").unwrap();
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        root
    }

    #[tokio::test]
    async fn relative_programs_with_a_slash_run_from_the_root_in_cwd() {
        let root = project_with_script();
        let cwd = tempfile::tempdir().unwrap();
        let cwd_real = cwd.path().canonicalize().unwrap();
        for program in ["app/answer.sh", "./app/answer.sh"] {
            let x = Exec::new("x", &config(&[program], root.path(), cwd.path()), vec![]).unwrap();
            let resp = x.complete(&request(&[("user", "q")])).await.unwrap();
            assert_eq!(
                resp.text,
                format!("root answer in {}", cwd_real.display()),
                "{program}"
            );
        }
        // A bare name is looked up on PATH, not under the root or cwd.
        let x = Exec::new(
            "x",
            &config(&["sh", "-c", "echo bare"], root.path(), cwd.path()),
            vec![],
        )
        .unwrap();
        assert_eq!(
            x.complete(&request(&[("user", "q")])).await.unwrap().text,
            "bare"
        );
        // A missing relative program names where it was looked for.
        let x = Exec::new(
            "x",
            &config(&["app/missing.sh"], root.path(), cwd.path()),
            vec![],
        )
        .unwrap();
        let err = x.complete(&request(&[("user", "q")])).await.unwrap_err();
        let want = format!(
            "(looked for {})",
            root.path().join("app/missing.sh").display()
        );
        assert!(err.to_string().contains(&want), "{err}");
    }

    #[test]
    fn request_key_uses_the_command_as_written_whatever_the_root() {
        let a = Exec::new(
            "x",
            &config(
                &["app/answer.py", "--fast"],
                Path::new("/work/proj"),
                Path::new("/work/proj"),
            ),
            vec![],
        )
        .unwrap();
        let b = Exec::new(
            "x",
            &config(
                &["app/answer.py", "--fast"],
                Path::new("/ci/checkout"),
                Path::new("/tmp"),
            ),
            vec![],
        )
        .unwrap();
        let req = request(&[("user", "hi")]);
        let key = a.request_key(&req);
        assert_eq!(
            key["command"],
            serde_json::json!(["app/answer.py", "--fast"])
        );
        assert_eq!(key["input"], "stdin");
        assert_eq!(key, b.request_key(&req));
        // `./app/…` is kept as written too.
        let c = Exec::new(
            "x",
            &config(
                &["./app/answer.py"],
                Path::new("/work/proj"),
                Path::new("/work/proj"),
            ),
            vec![],
        )
        .unwrap();
        assert_eq!(
            c.request_key(&req)["command"],
            serde_json::json!(["./app/answer.py"])
        );
        // The endpoint (cache key only) is where the program runs from.
        assert_eq!(a.endpoint(), "/work/proj/app/answer.py --fast");
        assert_eq!(b.endpoint(), "/ci/checkout/app/answer.py --fast");
    }

    #[test]
    fn endpoint_is_not_redacted() {
        let secret = "exec-endpoint-secret-5f1e2d3c";
        crate::secret::register(secret);
        let arg = format!("--key={secret}");
        let x = exec(&["tool", &arg], ExecInput::Stdin);
        assert_eq!(x.endpoint(), format!("tool --key={secret}"));
        let other = exec(
            &["tool", "--key=exec-endpoint-secret-other-77"],
            ExecInput::Stdin,
        );
        crate::secret::register("exec-endpoint-secret-other-77");
        assert_ne!(x.endpoint(), other.endpoint());
    }

    /// Whether any 8-character window of `secret` appears in `text`.
    fn leaks(text: &str, secret: &str) -> Option<String> {
        let chars: Vec<char> = secret.chars().collect();
        chars
            .windows(8)
            .map(|w| w.iter().collect::<String>())
            .find(|w| text.contains(w.as_str()))
    }

    #[tokio::test]
    async fn a_secret_straddling_the_stderr_excerpt_cut_is_masked_whole() {
        let token = "egtok-STRADDLE-7Q2x9Lm4Vb8Nc1Zd5Rf3Hk6Jp0W";
        assert_eq!(token.len(), 42);
        crate::secret::register(token);
        // The excerpt keeps the last 500 characters: the cut falls 22
        // characters into the token.
        let pad = "y".repeat(EXCERPT_CHARS - 20);
        let script = format!("printf '%s' 'head {token}{pad}' >&2; exit 1");
        let x = exec(&["sh", "-c", &script], ExecInput::Arg);
        let err = x
            .complete(&request(&[("user", "q")]))
            .await
            .unwrap_err()
            .to_string();
        assert_eq!(leaks(&err, token), None, "{err}");
        assert!(err.contains("[REDACTED]"), "{err}");
        assert!(err.ends_with(&pad), "{err}");
    }

    #[tokio::test]
    async fn read_tail_redacts_before_cutting() {
        let token = "egtok-READTAIL-4Hq8Zr2Lw6Nv0Bx3Mc7Kp1Dj5Tf";
        assert_eq!(token.len(), 42);
        crate::secret::register(token);
        // The cut (keep 100 of 1000 bytes) falls in the middle of the token.
        let data = format!("{}{token}{}", "a".repeat(880), "b".repeat(78));
        assert_eq!(data.len(), 1000);
        let tail = tail_of(data.as_bytes(), 100).await;
        let tail = String::from_utf8(tail).unwrap();
        assert_eq!(leaks(&tail, token), None, "{tail}");
        assert!(
            tail.ends_with(&format!("[REDACTED]{}", "b".repeat(78))),
            "{tail}"
        );

        // Split across reads: half of it before an intermediate cut, the
        // rest in the next read.
        let first = format!("{}{}", "a".repeat(250), &token[..20]);
        let second = format!("{}{}", &token[20..], "b".repeat(50));
        let tail = tail_of(first.as_bytes().chain(second.as_bytes()), 100).await;
        let tail = String::from_utf8(tail).unwrap();
        assert_eq!(leaks(&tail, token), None, "{tail}");

        // Multi-byte text across a cut is left as is when it holds no secret.
        let text = "é".repeat(300);
        let tail = tail_of(text.as_bytes(), 100).await;
        assert_eq!(tail, &text.as_bytes()[500..]);
    }

    #[test]
    fn incomplete_utf8_tails() {
        assert_eq!(incomplete_utf8_tail(b"abc"), 0);
        assert_eq!(incomplete_utf8_tail("é".as_bytes()), 0);
        assert_eq!(incomplete_utf8_tail(&"é".as_bytes()[..1]), 1);
        assert_eq!(incomplete_utf8_tail(&"€".as_bytes()[..2]), 2);
        assert_eq!(incomplete_utf8_tail(&"😀".as_bytes()[..3]), 3);
        assert_eq!(incomplete_utf8_tail(b""), 0);
    }

    fn alive(pid: &str) -> bool {
        // Gone, or a zombie until it is reaped, counts as dead.
        match std::fs::read_to_string(format!("/proc/{}/stat", pid.trim())) {
            Err(_) => false,
            Ok(s) => !s.contains(") Z "),
        }
    }

    async fn wait_dead(pid: &str, within: Duration) {
        let deadline = Instant::now() + within;
        while alive(pid) {
            assert!(Instant::now() < deadline, "process {pid} still alive");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// The longest a test waits for something that should happen at once:
    /// generous, for a loaded CI machine.
    const PATIENCE: Duration = Duration::from_secs(10);

    /// The pid written (with its newline) to `path`, waiting for it.
    async fn read_pid(path: &Path) -> String {
        let deadline = Instant::now() + PATIENCE;
        loop {
            if let Some(pid) = pid_in(path) {
                return pid;
            }
            assert!(Instant::now() < deadline, "no pid in {}", path.display());
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    fn pid_in(path: &Path) -> Option<String> {
        let s = std::fs::read_to_string(path).ok()?;
        s.ends_with('\n').then(|| s.trim().to_string())
    }

    /// Drive `call` until the command has written its pid to `pid_file`,
    /// then drop the call (as the retry layer's timeout does); the pid. The
    /// call must still be running then.
    async fn pid_then_drop<F>(call: F, pid_file: &Path) -> String
    where
        F: std::future::Future,
        F::Output: std::fmt::Debug,
    {
        tokio::pin!(call);
        let deadline = Instant::now() + PATIENCE;
        loop {
            tokio::select! {
                r = &mut call => panic!("the call ended while it should be running: {r:?}"),
                _ = tokio::time::sleep(Duration::from_millis(10)) => {}
            }
            if let Some(pid) = pid_in(pid_file) {
                return pid;
            }
            assert!(
                Instant::now() < deadline,
                "no pid in {}",
                pid_file.display()
            );
        }
    }

    /// Everything `r` holds through [`read_tail`] and [`trim_tail`].
    async fn tail_of<R: AsyncRead + Unpin>(r: R, keep: usize) -> Vec<u8> {
        let mut out = Vec::new();
        read_tail(r, keep, &mut out).await.unwrap();
        trim_tail(&mut out, keep);
        out
    }

    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn dropping_the_call_kills_background_processes_too() {
        let dir = tempfile::tempdir().unwrap();
        let pid_file = dir.path().join("pid");
        let script = format!("sleep 30 & echo $! > '{}'; sleep 30", pid_file.display());
        let x = exec(&["sh", "-c", &script], ExecInput::Arg);
        let req = request(&[("user", "q")]);
        let pid = pid_then_drop(x.complete(&req), &pid_file).await;
        wait_dead(&pid, PATIENCE).await;
    }

    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn a_kill_by_a_signal_kills_background_processes_too() {
        // The background process holds stdout and stderr open: it is
        // killed with the group, not waited for.
        let dir = tempfile::tempdir().unwrap();
        let pid_file = dir.path().join("pid");
        let script = format!("sleep 30 & echo $! > '{}'; kill -9 $$", pid_file.display());
        let x = exec(&["sh", "-c", &script], ExecInput::Arg);
        let err = tokio::time::timeout(PATIENCE, x.complete(&request(&[("user", "q")])))
            .await
            .expect("the call should end with the command")
            .unwrap_err();
        assert!(err.to_string().contains("killed by signal 9"), "{err}");
        let pid = read_pid(&pid_file).await;
        wait_dead(&pid, PATIENCE).await;
    }

    /// Kill `pid` (a test's leftover background process).
    fn kill(pid: &str) {
        let _ = std::process::Command::new("kill")
            .args(["-9", pid])
            .status();
    }

    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn a_background_process_holding_stdout_does_not_hold_up_the_answer() {
        // Regression: stdout and stderr were read to their end before the
        // exit was awaited, and the background `sleep` holds both open (not
        // redirected), so the call lasted as long as it did.
        let dir = tempfile::tempdir().unwrap();
        let pid_file = dir.path().join("pid");
        let script = format!("sleep 60 & echo $! > '{}'; echo hi", pid_file.display());
        let x = exec(&["sh", "-c", &script], ExecInput::Arg);
        let r = tokio::time::timeout(
            Duration::from_secs(30),
            x.complete(&request(&[("user", "q")])),
        )
        .await;
        let pid = read_pid(&pid_file).await;
        let still_alive = alive(&pid);
        kill(&pid);
        let resp = r.expect("the answer waited for the background process");
        assert_eq!(resp.unwrap().text, "hi");
        assert!(
            still_alive,
            "a normal exit must not kill what it left running"
        );
    }

    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn a_background_process_holding_stdin_does_not_hold_up_the_answer() {
        // The command reads none of a prompt larger than the pipe buffer and
        // exits; a background process keeps the read end of stdin open, so
        // the write would never finish.
        let dir = tempfile::tempdir().unwrap();
        let pid_file = dir.path().join("pid");
        let script = format!(
            "exec 3<&0; sleep 60 <&3 3<&- & echo $! > '{}'; exec 3<&-; echo hi",
            pid_file.display()
        );
        let x = exec(&["sh", "-c", &script], ExecInput::Stdin);
        let big = "x".repeat(1 << 20);
        let r = tokio::time::timeout(
            Duration::from_secs(30),
            x.complete(&request(&[("user", &big)])),
        )
        .await;
        let pid = read_pid(&pid_file).await;
        kill(&pid);
        assert_eq!(r.expect("the answer waited").unwrap().text, "hi");
    }

    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn output_still_in_the_pipe_at_the_exit_is_kept() {
        // More than the pipe holds, with a background process keeping stdout
        // open: what is left in the pipe when the command exits is drained.
        let dir = tempfile::tempdir().unwrap();
        let pid_file = dir.path().join("pid");
        let script = format!(
            "sleep 60 & echo $! > '{}'; head -c 1000000 /dev/zero | tr '\\0' x; echo tail >&2",
            pid_file.display()
        );
        let x = exec(&["sh", "-c", &script], ExecInput::Arg);
        let r = tokio::time::timeout(
            Duration::from_secs(30),
            x.complete(&request(&[("user", "q")])),
        )
        .await;
        let pid = read_pid(&pid_file).await;
        kill(&pid);
        let text = r.expect("the answer waited").unwrap().text;
        assert_eq!(text.len(), 1_000_000);
        assert!(text.bytes().all(|b| b == b'x'));
    }

    #[tokio::test]
    async fn arg_mode_rejects_a_nul_in_the_prompt_before_starting() {
        let x = exec(&["evalgate-no-such-program-xyz"], ExecInput::Arg);
        let err = x.complete(&request(&[("user", "a\0b")])).await.unwrap_err();
        assert!(matches!(err, ProviderError::Provider(_)), "{err}");
        let text = err.to_string();
        assert!(text.contains("NUL byte"), "{text}");
        assert!(text.contains("use `input: stdin`"), "{text}");
        // Checked before starting: not a "cannot start" error.
        assert!(!text.contains("cannot start"), "{text}");
        assert!(!err.retryable());
        // Through stdin it is fine.
        let x = exec(&["sh", "-c", "tr '\\0' '0'"], ExecInput::Stdin);
        let resp = x.complete(&request(&[("user", "a\0b")])).await.unwrap();
        assert_eq!(resp.text, "a0b");
    }

    #[tokio::test]
    async fn arg_mode_rejects_a_prompt_too_long_for_an_argument() {
        let x = exec(&["sh", "-c", "echo never"], ExecInput::Arg);
        let big = "x".repeat(200 << 10);
        let err = x.complete(&request(&[("user", &big)])).await.unwrap_err();
        assert!(matches!(err, ProviderError::Provider(_)), "{err}");
        let text = err.to_string();
        assert!(text.contains("204800 bytes"), "{text}");
        assert!(text.contains("too long"), "{text}");
        assert!(text.contains("use `input: stdin`"), "{text}");
        assert!(!text.contains("Argument list too long"), "{text}");
        // Just under the limit still works.
        let x = exec(&["sh", "-c", "printf %s \"$0\" | wc -c"], ExecInput::Arg);
        let prompt = "y".repeat(MAX_ARG_BYTES - 1);
        let resp = x.complete(&request(&[("user", &prompt)])).await.unwrap();
        assert_eq!(resp.text.trim(), (MAX_ARG_BYTES - 1).to_string());
    }

    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn a_normal_exit_leaves_background_processes_alone() {
        let x = exec(
            &["sh", "-c", "sleep 30 >/dev/null 2>&1 </dev/null & echo $!"],
            ExecInput::Arg,
        );
        let pid = x.complete(&request(&[("user", "q")])).await.unwrap().text;
        tokio::time::sleep(Duration::from_millis(100)).await;
        let still_alive = alive(&pid);
        // Clean up before asserting.
        let _ = std::process::Command::new("kill")
            .args(["-9", &pid])
            .status();
        assert!(
            still_alive,
            "a normal exit must not kill what it left running"
        );
    }

    #[tokio::test]
    async fn read_tail_keeps_the_last_bytes() {
        let data: Vec<u8> = (0..1000u32).map(|i| (i % 251) as u8).collect();
        let tail = tail_of(&data[..], 100).await;
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

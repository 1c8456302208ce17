//! Third-party model servers for the interoperability tests (see
//! `docs/interop-servers.md`): `fakellm` (correct OpenAI and Anthropic APIs, rule
//! files) and `llmock` (fault injection, a verdict on the client's
//! resilience), both from PyPI, installed at pinned versions into ONE virtual
//! environment under the test target directory on first use. Tests FAIL,
//! never skip, when the install fails.
//!
//! A [`Server`] runs on 127.0.0.1 on a free port, is waited for until it
//! answers HTTP, and is stopped by its process id when dropped (also when the
//! test panics). It runs under a small `sh` watchdog that holds the read end
//! of a pipe from the test process: if the test process dies without running
//! `Drop` (SIGKILL, abort), the pipe closes and the watchdog stops the server.
//!
//! [`HeaderEcho`] is a tiny in-process HTTP server for the secrets test: it
//! answers with the request's own headers (and path) in the body, as a
//! careless proxy or a debugging endpoint would.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

/// Pinned versions (both exist on PyPI; checked with `pip index versions`).
pub(crate) const FAKELLM: &str = "fakellm==0.3.5";
pub(crate) const LLMOCK: &str = "llmock==0.2.2";

/// How long a server may take to answer its first HTTP request.
const STARTUP: Duration = Duration::from_secs(20);

// ---------------------------------------------------------------------------
// The virtual environment
// ---------------------------------------------------------------------------

fn venv_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("venv-interop")
}

/// The venv's `bin/` directory, installing fakellm and llmock on first use.
/// Once per process (in-process guard) and once per machine (a marker file,
/// written under an exclusive lock file so that parallel test binaries do not
/// race on the same venv).
pub(crate) fn venv_bin() -> PathBuf {
    static READY: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    match READY.get_or_init(install) {
        Ok(p) => p.clone(),
        Err(e) => panic!("{e}"),
    }
}

fn marker_text() -> String {
    format!("{FAKELLM} {LLMOCK}\n")
}

fn install() -> Result<PathBuf, String> {
    let venv = venv_dir();
    let bin = venv.join("bin");
    let marker = venv.join(".installed");
    let ready = || std::fs::read_to_string(&marker).is_ok_and(|m| m == marker_text());
    if ready() {
        return Ok(bin);
    }
    let _lock = FileLock::acquire(&venv.with_extension("lock"), Duration::from_secs(600))?;
    if ready() {
        return Ok(bin); // another process installed it while we waited
    }
    // A half-made venv (an install that was interrupted) is started afresh.
    let _ = std::fs::remove_dir_all(&venv);
    let out = Command::new("python3")
        .args(["-m", "venv"])
        .arg(&venv)
        .output()
        .map_err(|e| {
            format!("cannot run python3 (the interop tests need Python 3 with venv): {e}")
        })?;
    if !out.status.success() {
        return Err(format!(
            "python3 -m venv {} failed (the interop tests need Python 3 with venv):\n{}",
            venv.display(),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let out = Command::new(bin.join("pip"))
        .args([
            "install",
            "--quiet",
            "--disable-pip-version-check",
            FAKELLM,
            LLMOCK,
        ])
        .output()
        .map_err(|e| format!("cannot run pip: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "pip install {FAKELLM} {LLMOCK} failed (needs the PyPI registry):\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    // Check what was installed, not what was asked for.
    let out = Command::new(bin.join("python"))
        .args([
            "-c",
            "import importlib.metadata as m; print('fakellm==' + m.version('fakellm'), 'llmock==' + m.version('llmock'))",
        ])
        .output()
        .map_err(|e| format!("cannot run the venv's python: {e}"))?;
    let got = String::from_utf8_lossy(&out.stdout).trim().to_string();
    if got != format!("{FAKELLM} {LLMOCK}") {
        return Err(format!(
            "installed versions are `{got}`, expected `{FAKELLM} {LLMOCK}`"
        ));
    }
    std::fs::write(&marker, marker_text())
        .map_err(|e| format!("write {}: {e}", marker.display()))?;
    Ok(bin)
}

/// An exclusive lock: a file created with `create_new` (atomic), holding the
/// owner's process id; removed on drop. A lock whose owner is gone (no
/// `/proc/<pid>`) or that is older than the install could take is broken.
struct FileLock(PathBuf);

impl FileLock {
    fn acquire(path: &Path, patience: Duration) -> Result<FileLock, String> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| format!("mkdir {}: {e}", dir.display()))?;
        }
        let deadline = Instant::now() + patience;
        loop {
            match std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(path)
            {
                Ok(mut f) => {
                    let _ = writeln!(f, "{}", std::process::id());
                    return Ok(FileLock(path.to_path_buf()));
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    if Self::stale(path) {
                        let _ = std::fs::remove_file(path);
                        continue;
                    }
                    if Instant::now() > deadline {
                        return Err(format!(
                            "timed out waiting for the install lock {} (remove it if no test is running)",
                            path.display()
                        ));
                    }
                    std::thread::sleep(Duration::from_millis(200));
                }
                Err(e) => return Err(format!("create {}: {e}", path.display())),
            }
        }
    }

    fn stale(path: &Path) -> bool {
        let old = std::fs::metadata(path)
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| SystemTime::now().duration_since(t).ok())
            .is_some_and(|age| age > Duration::from_secs(900));
        let owner_gone = std::fs::read_to_string(path)
            .ok()
            .and_then(|s| s.trim().parse::<u32>().ok())
            .is_some_and(|pid| {
                Path::new("/proc").is_dir() && !Path::new(&format!("/proc/{pid}")).exists()
            });
        old || owner_gone
    }
}

impl Drop for FileLock {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

// ---------------------------------------------------------------------------
// A tiny blocking HTTP client (admin endpoints, readiness probes)
// ---------------------------------------------------------------------------

/// One HTTP/1.1 request with `Connection: close`; returns status and body.
pub(crate) fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    body: Option<&str>,
) -> std::io::Result<(u16, String)> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
    s.set_read_timeout(Some(Duration::from_secs(15)))?;
    s.set_write_timeout(Some(Duration::from_secs(5)))?;
    let body = body.unwrap_or("");
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nAccept: */*\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)?;
    parse_response(&raw).ok_or_else(|| {
        std::io::Error::other(format!(
            "not an HTTP response: {:?}",
            String::from_utf8_lossy(&raw)
        ))
    })
}

fn parse_response(raw: &[u8]) -> Option<(u16, String)> {
    let end = raw.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = std::str::from_utf8(&raw[..end]).ok()?;
    let mut lines = head.split("\r\n");
    let status: u16 = lines.next()?.split_whitespace().nth(1)?.parse().ok()?;
    let chunked = lines.any(|l| {
        let l = l.to_ascii_lowercase();
        l.starts_with("transfer-encoding:") && l.contains("chunked")
    });
    let mut body = raw[end + 4..].to_vec();
    if chunked {
        let mut out = Vec::new();
        let mut rest = &body[..];
        loop {
            let nl = rest.windows(2).position(|w| w == b"\r\n")?;
            let size = usize::from_str_radix(
                std::str::from_utf8(&rest[..nl])
                    .ok()?
                    .split(';')
                    .next()?
                    .trim(),
                16,
            )
            .ok()?;
            rest = &rest[nl + 2..];
            if size == 0 {
                break;
            }
            out.extend_from_slice(rest.get(..size)?);
            rest = rest.get(size + 2..)?;
        }
        body = out;
    }
    Some((status, String::from_utf8_lossy(&body).into_owned()))
}

/// A port that was free a moment ago (the kernel's pick for 127.0.0.1:0).
pub(crate) fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind 127.0.0.1:0")
        .port()
}

// ---------------------------------------------------------------------------
// Server
// ---------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Fakellm,
    Llmock,
}

/// A running fakellm or llmock on 127.0.0.1.
pub(crate) struct Server {
    pub kind: Kind,
    pub port: u16,
    proc: Proc,
    log: PathBuf,
    /// Holds the rules file and the log.
    dir: tempfile::TempDir,
}

/// Runs "$@" in the background with stdout+stderr to the log (this script's
/// stderr), prints its pid, stops it when our stdin reaches EOF (the test
/// process went away or dropped the `Server`), and exits with its status.
const WATCHDOG: &str = r#"
exec 3<&0
"$@" 1>&2 0</dev/null 3<&- &
child=$!
echo "$child"
( cat <&3 >/dev/null; kill "$child" 2>/dev/null ) 1>/dev/null 2>&1 &
wait "$child"
"#;

/// The server process under its watchdog; stopped by pid on drop.
struct Proc {
    /// The server's own process id.
    pid: u32,
    watchdog: Child,
    /// The write end of the watchdog's pipe: closing it stops the server.
    lifeline: Option<ChildStdin>,
}

impl Proc {
    fn spawn(args: &[String], cwd: &Path, log: &Path) -> Proc {
        let logf = std::fs::File::create(log).expect("create server log");
        let mut cmd = Command::new("sh");
        // The servers see only what they need: no fault-injection or config
        // variables (LLMOCK_*, FAKELLM_*) or proxies from the runner.
        cmd.env_clear();
        for v in ["PATH", "HOME", "LANG", "LC_ALL", "TMPDIR"] {
            if let Some(val) = std::env::var_os(v) {
                cmd.env(v, val);
            }
        }
        let mut watchdog = cmd
            .arg("-c")
            .arg(WATCHDOG)
            .arg("sh")
            .args(args)
            .current_dir(cwd)
            .env("PYTHONUNBUFFERED", "1")
            .env("NO_COLOR", "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(logf)
            .spawn()
            .expect("spawn sh");
        let lifeline = watchdog.stdin.take();
        let mut first = String::new();
        BufReader::new(watchdog.stdout.take().expect("watchdog stdout"))
            .read_line(&mut first)
            .expect("read server pid");
        let pid: u32 = first
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("server pid, got {first:?}"));
        Proc {
            pid,
            watchdog,
            lifeline,
        }
    }

    fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.watchdog.try_wait().ok().flatten()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        // SIGTERM by pid (uvicorn shuts down gracefully), and close the
        // watchdog's pipe, which would do the same.
        let _ = Command::new("kill")
            .args(["-TERM", &self.pid.to_string()])
            .stderr(Stdio::null())
            .status();
        drop(self.lifeline.take());
        let deadline = Instant::now() + Duration::from_secs(3);
        while Instant::now() < deadline {
            if self.exited().is_some() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = Command::new("kill")
            .args(["-KILL", &self.pid.to_string()])
            .stderr(Stdio::null())
            .status();
        let _ = self.watchdog.kill();
        let _ = self.watchdog.wait();
    }
}

impl Server {
    /// `fakellm serve --config <rules>` with `rules` (YAML) as the rules file.
    pub(crate) fn fakellm(rules: &str) -> Server {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = dir.path().join("fakellm.yaml");
        std::fs::write(&config, rules).expect("write fakellm rules");
        let config = config.to_string_lossy().into_owned();
        Self::start(Kind::Fakellm, dir, |port| {
            vec![
                "fakellm".into(),
                "serve".into(),
                "--host".into(),
                "127.0.0.1".into(),
                "--port".into(),
                port.to_string(),
                "--config".into(),
                config.clone(),
            ]
        })
    }

    /// `llmock serve --response-style echo` plus `flags` (e.g. `--latency-ms 5`).
    /// One warm-up request is made (the first request after start is slow)
    /// and then forgotten, so timing-sensitive scenarios start clean.
    pub(crate) fn llmock(flags: &[&str]) -> Server {
        let dir = tempfile::tempdir().expect("tempdir");
        let flags: Vec<String> = flags.iter().map(|s| s.to_string()).collect();
        let s = Self::start(Kind::Llmock, dir, |port| {
            let mut v: Vec<String> = [
                "llmock",
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                &port.to_string(),
                "--response-style",
                "echo",
            ]
            .iter()
            .map(|s| s.to_string())
            .collect();
            v.extend(flags.iter().cloned());
            v
        });
        let (status, body) = s.request(
            "POST",
            "/v1/chat/completions",
            Some(r#"{"model":"warm-up","messages":[{"role":"user","content":"hi"}]}"#),
        );
        assert_eq!(status, 200, "llmock warm-up request: {body}\n{}", s.log());
        s.reset();
        s
    }

    fn start(kind: Kind, dir: tempfile::TempDir, argv: impl Fn(u16) -> Vec<String>) -> Server {
        let bin = venv_bin();
        let log = dir.path().join("server.log");
        let mut last = String::new();
        for _ in 0..5 {
            let port = free_port();
            let mut args = argv(port);
            args[0] = bin.join(&args[0]).to_string_lossy().into_owned();
            let mut proc = Proc::spawn(&args, dir.path(), &log);
            match wait_ready(kind, port, &mut proc, &log) {
                Ok(()) => {
                    return Server {
                        kind,
                        port,
                        proc,
                        log,
                        dir,
                    }
                }
                Err(e) => {
                    drop(proc);
                    let text = std::fs::read_to_string(&log).unwrap_or_default();
                    last = format!("{e}\n--- {kind:?} output ---\n{text}");
                    // Another process took the port between our pick and the server's bind: try another.
                    if !(text.contains("address already in use") || text.contains("Errno 98")) {
                        break;
                    }
                }
            }
        }
        panic!("{kind:?} did not start: {last}");
    }

    /// The server's own process id.
    pub(crate) fn pid(&self) -> u32 {
        self.proc.pid
    }

    pub(crate) fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// `http://127.0.0.1:PORT`
    pub(crate) fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// `base_url` of an `openai` provider.
    pub(crate) fn openai_base(&self) -> String {
        format!("{}/v1", self.url())
    }

    /// `base_url` of an `anthropic` provider (llmock serves it under `/anthropic`).
    pub(crate) fn anthropic_base(&self) -> String {
        match self.kind {
            Kind::Fakellm => self.url(),
            Kind::Llmock => format!("{}/anthropic", self.url()),
        }
    }

    /// Everything the server printed so far.
    pub(crate) fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// One request; panics (with the server's output) when it cannot be made.
    pub(crate) fn request(&self, method: &str, path: &str, body: Option<&str>) -> (u16, String) {
        http(self.addr(), method, path, body)
            .unwrap_or_else(|e| panic!("{method} {path} on {:?}: {e}\n{}", self.kind, self.log()))
    }

    pub(crate) fn get_json(&self, path: &str) -> serde_json::Value {
        let (status, body) = self.request("GET", path, None);
        assert_eq!(status, 200, "GET {path}: {body}");
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("GET {path}: {e}: {body}"))
    }

    // -- fakellm ------------------------------------------------------------

    /// `GET /_fakellm/stats`: total_requests, by_rule, recent (last 50).
    pub(crate) fn stats(&self) -> serde_json::Value {
        assert_eq!(self.kind, Kind::Fakellm);
        self.get_json("/_fakellm/stats")
    }

    /// Requests fakellm matched to rule `name` so far.
    pub(crate) fn rule_hits(&self, name: &str) -> u64 {
        self.stats()["by_rule"][name].as_u64().unwrap_or(0)
    }

    /// Requests fakellm served so far.
    pub(crate) fn total_requests(&self) -> u64 {
        match self.kind {
            Kind::Fakellm => self.stats()["total_requests"].as_u64().unwrap_or(0),
            Kind::Llmock => self.requests().len() as u64,
        }
    }

    // -- llmock -------------------------------------------------------------

    /// `POST /_llmock/scenario {"behaviors": [...]}`.
    pub(crate) fn scenario(&self, behaviors: serde_json::Value) {
        assert_eq!(self.kind, Kind::Llmock);
        let body = serde_json::json!({ "behaviors": behaviors }).to_string();
        let (status, text) = self.request("POST", "/_llmock/scenario", Some(&body));
        assert_eq!(status, 201, "scenario rejected: {text}");
    }

    /// `POST /_llmock/reset`: forget requests and queued behaviours.
    pub(crate) fn reset(&self) {
        assert_eq!(self.kind, Kind::Llmock);
        let (status, text) = self.request("POST", "/_llmock/reset", None);
        assert_eq!(status, 200, "reset: {text}");
    }

    /// `GET /_llmock/requests`: every request served, oldest first.
    pub(crate) fn requests(&self) -> Vec<serde_json::Value> {
        assert_eq!(self.kind, Kind::Llmock);
        self.get_json("/_llmock/requests")["requests"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    /// `GET /_llmock/verdict?format=text`.
    pub(crate) fn verdict_text(&self) -> String {
        assert_eq!(self.kind, Kind::Llmock);
        let (status, text) = self.request("GET", "/_llmock/verdict?format=text", None);
        assert_eq!(status, 200, "verdict: {text}");
        text
    }

    /// `GET /_llmock/verdict` (JSON: passed, errors, warnings, findings[].code).
    pub(crate) fn verdict(&self) -> serde_json::Value {
        assert_eq!(self.kind, Kind::Llmock);
        self.get_json("/_llmock/verdict")
    }

    /// Stop the server now (the same as dropping it).
    pub(crate) fn stop(self) {}
}

/// Until the server logs that it is listening on OUR port and answers its
/// health path; fails early when it exits.
fn wait_ready(kind: Kind, port: u16, proc: &mut Proc, log: &Path) -> Result<(), String> {
    let deadline = Instant::now() + STARTUP;
    let listening = format!("running on http://127.0.0.1:{port}");
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let health = match kind {
        Kind::Fakellm => "/_fakellm/stats",
        Kind::Llmock => "/health",
    };
    loop {
        if let Some(status) = proc.exited() {
            return Err(format!("{kind:?} exited ({status}) before answering"));
        }
        if std::fs::read_to_string(log).is_ok_and(|t| t.contains(&listening)) {
            if let Ok((200, body)) = http(addr, "GET", health, None) {
                let ours = match kind {
                    Kind::Fakellm => body.contains("total_requests"),
                    Kind::Llmock => body.contains("\"0.2.2\""),
                };
                if ours {
                    return Ok(());
                }
            }
        }
        if Instant::now() > deadline {
            return Err(format!("{kind:?} did not answer HTTP within {STARTUP:?}"));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

// ---------------------------------------------------------------------------
// HeaderEcho: answers with the request's headers
// ---------------------------------------------------------------------------

/// An in-process HTTP server that puts every request's path and headers in
/// its answer, depending on the path:
///
/// - `.../e500/...`: HTTP 500, an OpenAI-style error whose message quotes
///   the headers after padding that puts the bearer token across character
///   500 (where evalgate cuts the excerpts it quotes);
/// - `.../e200/...`: HTTP 200, a Chat Completion whose content quotes them;
/// - `.../s200/...`: a streamed Chat Completion quoting them, the headers
///   split over several chunks;
/// - `.../smal/...`: a stream whose second chunk is malformed JSON that
///   quotes them;
/// - anything else: HTTP 404 quoting them.
pub(crate) struct HeaderEcho {
    pub port: u16,
    hits: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl HeaderEcho {
    pub(crate) fn start() -> HeaderEcho {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        listener.set_nonblocking(true).expect("nonblocking");
        let port = listener.local_addr().expect("addr").port();
        let hits = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (h, s) = (hits.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((conn, _)) => {
                        h.fetch_add(1, Ordering::Relaxed);
                        let _ = conn.set_nonblocking(false);
                        std::thread::spawn(move || {
                            let _ = Self::serve(conn);
                        });
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        HeaderEcho {
            port,
            hits,
            stop,
            thread: Some(thread),
        }
    }

    pub(crate) fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Connections accepted so far.
    pub(crate) fn hits(&self) -> usize {
        self.hits.load(Ordering::Relaxed)
    }

    fn serve(mut conn: TcpStream) -> std::io::Result<()> {
        conn.set_read_timeout(Some(Duration::from_secs(5)))?;
        let mut reader = BufReader::new(conn.try_clone()?);
        let mut request_line = String::new();
        reader.read_line(&mut request_line)?;
        let path = request_line
            .split_whitespace()
            .nth(1)
            .unwrap_or("")
            .to_string();
        let mut headers = Vec::new();
        let mut length = 0usize;
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line)? == 0 {
                break;
            }
            let line = line.trim_end().to_string();
            if line.is_empty() {
                break;
            }
            if let Some((k, v)) = line.split_once(':') {
                if k.eq_ignore_ascii_case("content-length") {
                    length = v.trim().parse().unwrap_or(0);
                }
            }
            headers.push(line);
        }
        let mut body = vec![0u8; length];
        reader.read_exact(&mut body)?;
        let seen = format!("path {path}; headers: {}", headers.join("; "));
        let json_str = |s: &str| serde_json::Value::String(s.to_string()).to_string();
        let (status, ctype, payload) = if path.contains("/e500/") {
            // evalgate quotes "<type>: <message>" cut to 500 characters: pad so
            // that the cut falls 20 characters into the key (the redaction must
            // come before the cut, or a piece of the key would remain).
            let at = seen.find("Bearer ").map_or(0, |i| i + "Bearer ".len());
            let target = 480usize.saturating_sub("server_error: ".len());
            let msg = format!("{}{seen}", "x".repeat(target.saturating_sub(at).max(1)));
            (
                "500 Internal Server Error",
                "application/json",
                serde_json::json!({"error": {"message": msg, "type": "server_error"}}).to_string(),
            )
        } else if path.contains("/e200/") {
            (
                "200 OK",
                "application/json",
                serde_json::json!({
                    "id": "chatcmpl-echo", "object": "chat.completion", "model": "echo-1",
                    "choices": [{"index": 0, "finish_reason": "stop",
                                 "message": {"role": "assistant", "content": format!("I saw {seen}")}}],
                    "usage": {"prompt_tokens": 3, "completion_tokens": 5, "total_tokens": 8}
                })
                .to_string(),
            )
        } else if path.contains("/s200/") {
            let text = format!("I saw {seen}");
            let mut out = String::new();
            // Split everywhere, so that a secret spans several chunks.
            let chars: Vec<char> = text.chars().collect();
            for piece in chars.chunks(7) {
                let piece: String = piece.iter().collect();
                out.push_str(&format!(
                    "data: {{\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"model\":\"echo-1\",\"choices\":[{{\"index\":0,\"delta\":{{\"content\":{}}},\"finish_reason\":null}}]}}\n\n",
                    json_str(&piece)
                ));
            }
            out.push_str("data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"model\":\"echo-1\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\ndata: [DONE]\n\n");
            ("200 OK", "text/event-stream", out)
        } else if path.contains("/smal/") {
            let out = format!(
                "data: {{\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"model\":\"echo-1\",\"choices\":[{{\"index\":0,\"delta\":{{\"content\":\"Hi\"}},\"finish_reason\":null}}]}}\n\ndata: {{\"choices\":[{{\"delta\":{{\"content\":{}\n\n",
                json_str(&seen)
            );
            ("200 OK", "text/event-stream", out)
        } else {
            (
                "404 Not Found",
                "text/plain",
                format!("no such path; {seen}"),
            )
        };
        write!(
            conn,
            "HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{payload}",
            payload.len()
        )?;
        conn.flush()
    }
}

impl Drop for HeaderEcho {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

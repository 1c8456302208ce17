//! The security stage's test target: `py/vulnerable_target.py` (an
//! OpenAI-shaped endpoint and a plain `http` app on 127.0.0.1) in
//! `vulnerable` or `safe` mode; its "model" is `py/vulnerable_chat.py`.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use crate::util::{repo, Project, Run, PROXY_VARS};

/// The key the safe target requires (never to be seen in any output).
pub(crate) const KEY: &str = "sk-probe-test-4f8Qz2LmX9wR7tK3vB6n";

/// `vulnerable_target.py` on a free port, stopped on drop; it also exits by
/// itself when its stdin closes.
pub(crate) struct Target {
    child: Child,
    pub port: u16,
    pub log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Target {
    pub(crate) fn start(mode: &str) -> Target {
        let dir = tempfile::tempdir().expect("tempdir");
        let log = dir.path().join("target.log");
        let mut cmd = Command::new("python3");
        cmd.arg(repo().join("tests/integration/py/vulnerable_target.py"))
            .args(["--mode", mode, "--key", KEY, "--port", "0"])
            .env("PYTHONUNBUFFERED", "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).expect("target log"));
        for v in PROXY_VARS {
            cmd.env_remove(v);
        }
        let mut child = cmd.spawn().expect("start python3 vulnerable_target.py");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("read the target's port");
        let port = line
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("the target's port, got {line:?}"));
        Target {
            child,
            port,
            log,
            _dir: dir,
        }
    }

    /// `http://127.0.0.1:PORT`.
    pub(crate) fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Requests the target has logged so far.
    #[allow(dead_code)] // a helper for tests that count the target's requests
    pub(crate) fn requests(&self) -> usize {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .filter(|l| l.contains("\"POST "))
            .count()
    }
}

impl Drop for Target {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Run evalgate in `p` with `TARGET_KEY` set to [`KEY`].
pub(crate) fn run(p: &Project, args: &[&str]) -> Run {
    Run::from(
        crate::util::evalgate(p.path())
            .env("TARGET_KEY", KEY)
            .args(args)
            .output()
            .expect("run evalgate"),
    )
}

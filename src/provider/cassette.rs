//! Record and replay: `--record` saves every provider exchange to a cassette,
//! `--replay` (or a `replay` provider) answers from cassettes with no network.
//!
//! One file per provider and suite: `<cassettes>/<provider>/<suite>.yaml`,
//! interactions sorted by case, repeat and call, each with the key of the
//! normalised request ([`Provider::request_key`]: provider type, model,
//! parameters, messages). The call is `answer` for the case's answer (not
//! written, so cassettes from before calls existed read unchanged) or the id
//! of the check that made it (a grader), so several calls of one attempt,
//! even to the same provider, never overwrite each other. Replay answers a
//! case, repeat and call with its own recording while the key still matches. A re-recording replaces the
//! repeats it ran and keeps the others, so a filtered or interrupted
//! `--record` updates only what it ran.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};

use super::store::{from_yaml, key_of, to_yaml, StoredAnswer};
use super::{Provider, ProviderError, Request, Response};
use crate::error::{display_path, Error};
use crate::util::fmt::plural;

pub(crate) const VERSION: u64 = 1;

/// One recorded exchange.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Interaction {
    pub case: String,
    pub repeat: u32,
    /// Which call of the attempt: `answer` (omitted) or a check's id.
    #[serde(default = "answer_call", skip_serializing_if = "is_answer_call")]
    pub call: String,
    pub key: String,
    /// The normalised request, for humans reading a diff.
    pub request: serde_json::Value,
    pub response: StoredAnswer,
}

/// A cassette file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Cassette {
    pub version: u64,
    pub provider: String,
    pub suite: String,
    #[serde(default)]
    pub interactions: Vec<Interaction>,
}

fn answer_call() -> String {
    super::ANSWER.to_string()
}

fn is_answer_call(call: &str) -> bool {
    call == super::ANSWER
}

/// An exchange's place in its cassette: (case, repeat, call).
type Slot = (String, u32, String);

/// The file of `provider`'s recordings for `suite`.
pub(crate) fn path_for(dir: &Path, provider: &str, suite: &str) -> PathBuf {
    dir.join(crate::util::path::encode_component(provider))
        .join(format!(
            "{}.yaml",
            crate::util::path::encode_component(suite)
        ))
}

impl Cassette {
    pub(crate) fn load(path: &Path) -> Result<Option<Cassette>, String> {
        let text = match crate::util::fsafe::read_to_string(
            path,
            crate::util::fsafe::Kind::Cassette,
            true,
        ) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(format!("cannot read cassette {}: {e}", display_path(path))),
        };
        let v = from_yaml(path, &text)?;
        let c: Cassette = serde_json::from_value(v).map_err(|e| {
            format!(
                "cassette {} is not valid: {e}\n  = hint: fix it, or move it aside and record again with `evalgate run --record`",
                display_path(path)
            )
        })?;
        if c.version != VERSION {
            return Err(format!(
                "cassette {} has version {}, this evalgate reads version {VERSION}\n  = hint: move it aside and record again with `evalgate run --record`",
                display_path(path),
                c.version
            ));
        }
        Ok(Some(c))
    }

    fn to_text(&self) -> String {
        let v = serde_json::to_value(self).unwrap_or(serde_json::Value::Null);
        format!(
            "# evalgate cassette: answers of provider `{}` for suite `{}`.\n# Re-record: evalgate run --record --provider {} --filter {}\n{}",
            self.provider,
            self.suite,
            self.provider,
            self.suite,
            to_yaml(&v)
        )
    }
}

type Recordings = BTreeMap<(String, String), BTreeMap<Slot, Interaction>>;
/// (provider, suite) → case → planned repeats.
type Planned = BTreeMap<(String, String), BTreeMap<String, u32>>;

/// Collects exchanges during a `--record` run; [`Recorder::flush`] writes them.
pub struct Recorder {
    dir: PathBuf,
    recorded: Mutex<Recordings>,
    planned: Mutex<Planned>,
}

impl Recorder {
    pub fn new(dir: PathBuf) -> Arc<Self> {
        Arc::new(Recorder {
            dir,
            recorded: Mutex::new(BTreeMap::new()),
            planned: Mutex::new(BTreeMap::new()),
        })
    }

    /// The runner tells how many repeats a case has when it schedules it, so
    /// recordings of repeats the suite no longer has can be dropped.
    pub fn planned(&self, provider: &str, suite: &str, case: &str, repeats: u32) {
        if let Ok(mut p) = self.planned.lock() {
            p.entry((provider.to_string(), suite.to_string()))
                .or_default()
                .insert(case.to_string(), repeats);
        }
    }

    /// Wrap `inner` so its exchanges are recorded.
    pub fn wrap(self: &Arc<Self>, inner: Arc<dyn Provider>) -> Arc<dyn Provider> {
        Arc::new(Recording {
            inner,
            recorder: self.clone(),
        })
    }

    fn add(
        &self,
        provider: &str,
        request: &Request,
        key_value: serde_json::Value,
        answer: StoredAnswer,
    ) {
        let key = key_of(&key_value);
        if let Ok(mut r) = self.recorded.lock() {
            r.entry((provider.to_string(), request.suite.clone()))
                .or_default()
                .insert(
                    (
                        request.case_id.clone(),
                        request.repeat,
                        request.call.to_string(),
                    ),
                    Interaction {
                        case: request.case_id.clone(),
                        repeat: request.repeat,
                        call: request.call.to_string(),
                        key,
                        request: redact_json(&key_value),
                        response: answer,
                    },
                );
        }
    }

    /// Write every cassette touched by this run, merged with what the file
    /// already holds: the exchanges recorded now replace the same case and
    /// repeat; other cases, and repeats an interrupted run did not reach, are
    /// kept; repeats beyond a case's current `repeat` are dropped. A cassette
    /// that cannot be read is not overwritten. Returns the files written;
    /// every file that could be written is, even when another fails.
    pub fn flush(&self) -> Result<Vec<PathBuf>, Error> {
        let recorded = match self.recorded.lock() {
            Ok(mut r) => std::mem::take(&mut *r),
            Err(_) => return Ok(Vec::new()),
        };
        let planned = self.planned.lock().map(|p| p.clone()).unwrap_or_default();
        let mut written = Vec::new();
        let mut failures = Vec::new();
        for ((provider, suite), new) in recorded {
            let path = path_for(&self.dir, &provider, &suite);
            let mut merged: BTreeMap<Slot, Interaction> = BTreeMap::new();
            match Cassette::load(&path) {
                Ok(Some(old)) => {
                    for i in old.interactions {
                        merged.insert((i.case.clone(), i.repeat, i.call.clone()), i);
                    }
                }
                Ok(None) => {}
                Err(e) => {
                    failures.push(format!(
                        "{e}\n  = hint: the new recordings of suite `{suite}` were not saved; move the file aside and record again"
                    ));
                    continue;
                }
            }
            if let Some(cases) = planned.get(&(provider.clone(), suite.clone())) {
                merged.retain(|(c, r, _), _| cases.get(c).is_none_or(|n| r <= n));
            }
            merged.extend(new);
            let cassette = Cassette {
                version: VERSION,
                provider: provider.clone(),
                suite: suite.clone(),
                interactions: merged.into_values().collect(),
            };
            // Inside the project, and never through a link.
            let result = crate::util::fsafe::check_write(&path)
                .map_err(|e| Error::output(&path, e))
                .and_then(|()| match path.parent() {
                    Some(parent) => {
                        std::fs::create_dir_all(parent).map_err(|e| Error::output(parent, e))
                    }
                    None => Ok(()),
                })
                .and_then(|()| {
                    crate::util::atomic::write_atomic(&path, cassette.to_text().as_bytes())
                });
            match result {
                Ok(()) => written.push(path),
                Err(e) => failures.push(e.to_string()),
            }
        }
        if failures.is_empty() {
            Ok(written)
        } else {
            Err(Error::Infrastructure(format!(
                "cannot save cassettes:\n{}{}",
                failures.join("\n"),
                if written.is_empty() {
                    String::new()
                } else {
                    format!(
                        "\n(saved: {})",
                        written
                            .iter()
                            .map(|p| display_path(p))
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                }
            )))
        }
    }
}

/// The first place two requests differ: its path (`messages[0].content`,
/// `params.temperature`) and both values, shortened.
fn first_difference(
    was: &serde_json::Value,
    now: &serde_json::Value,
    at: String,
) -> Option<(String, String, String)> {
    use serde_json::Value as J;
    let show = |v: Option<&J>| match v {
        None => "(absent)".to_string(),
        Some(v) => crate::util::text::truncate_chars(&v.to_string(), 80),
    };
    let join = |key: &str| {
        if at.is_empty() {
            key.to_string()
        } else {
            format!("{at}.{key}")
        }
    };
    match (was, now) {
        (J::Object(a), J::Object(b)) => {
            let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
            keys.sort();
            keys.dedup();
            keys.into_iter().find_map(|k| match (a.get(k), b.get(k)) {
                (Some(x), Some(y)) => first_difference(x, y, join(k)),
                (x, y) => Some((join(k), show(x), show(y))),
            })
        }
        (J::Array(a), J::Array(b)) => {
            for i in 0..a.len().max(b.len()) {
                let path = format!("{at}[{i}]");
                match (a.get(i), b.get(i)) {
                    (Some(x), Some(y)) => {
                        if let Some(d) = first_difference(x, y, path) {
                            return Some(d);
                        }
                    }
                    (x, y) => return Some((path, show(x), show(y))),
                }
            }
            None
        }
        (a, b) if a == b => None,
        (a, b) => Some((at, show(Some(a)), show(Some(b)))),
    }
}

/// Secrets never reach a cassette, even inside a request parameter.
fn redact_json(v: &serde_json::Value) -> serde_json::Value {
    if !crate::secret::any() {
        return v.clone();
    }
    match v {
        serde_json::Value::String(s) => serde_json::Value::String(crate::secret::redact(s)),
        serde_json::Value::Array(a) => {
            serde_json::Value::Array(a.iter().map(redact_json).collect())
        }
        serde_json::Value::Object(m) => {
            serde_json::Value::Object(m.iter().map(|(k, v)| (k.clone(), redact_json(v))).collect())
        }
        other => other.clone(),
    }
}

struct Recording {
    inner: Arc<dyn Provider>,
    recorder: Arc<Recorder>,
}

impl Provider for Recording {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn complete<'a>(
        &'a self,
        request: &'a Request,
    ) -> BoxFuture<'a, Result<Response, ProviderError>> {
        Box::pin(async move {
            let started = Instant::now();
            let result = self.inner.complete(request).await;
            let answer = match &result {
                Ok(r) => StoredAnswer::from_response(r),
                Err(e) => StoredAnswer::from_error(
                    &e.to_string(),
                    started.elapsed().as_secs_f64() * 1000.0,
                    e.retries(),
                ),
            };
            self.recorder.add(
                self.inner.name(),
                request,
                self.inner.request_key(request),
                answer,
            );
            result
        })
    }

    fn request_key(&self, request: &Request) -> serde_json::Value {
        self.inner.request_key(request)
    }

    fn endpoint(&self) -> String {
        self.inner.endpoint()
    }
}

/// Answers from the cassettes of provider `of`, keyed like `keys` (the
/// provider that was recorded, built without credentials and never called).
pub(crate) struct Replay {
    name: String,
    of: String,
    dir: PathBuf,
    keys: Arc<dyn Provider>,
    loaded: Mutex<HashMap<String, Arc<Result<Index, String>>>>,
}

struct Index {
    path: PathBuf,
    /// (case, repeat, call) → (request key, recorded request, answer).
    by_case: HashMap<Slot, (String, serde_json::Value, StoredAnswer)>,
    /// case → recorded repeats.
    repeats: HashMap<String, u32>,
}

impl Replay {
    pub(crate) fn new(name: &str, of: &str, dir: PathBuf, keys: Arc<dyn Provider>) -> Self {
        Replay {
            name: name.to_string(),
            of: of.to_string(),
            dir,
            keys,
            loaded: Mutex::new(HashMap::new()),
        }
    }

    fn index(&self, suite: &str) -> Arc<Result<Index, String>> {
        let Ok(mut loaded) = self.loaded.lock() else {
            return Arc::new(Err("replay state poisoned".to_string()));
        };
        loaded
            .entry(suite.to_string())
            .or_insert_with(|| {
                let path = path_for(&self.dir, &self.of, suite);
                Arc::new(Cassette::load(&path).map(|c| {
                    let mut idx = Index {
                        path: path.clone(),
                        by_case: HashMap::new(),
                        repeats: HashMap::new(),
                    };
                    for i in c.into_iter().flat_map(|c| c.interactions) {
                        if is_answer_call(&i.call) {
                            *idx.repeats.entry(i.case.clone()).or_default() += 1;
                        }
                        idx.by_case
                            .insert((i.case, i.repeat, i.call), (i.key, i.request, i.response));
                    }
                    idx
                }))
            })
            .clone()
    }

    fn answer(&self, request: &Request) -> Result<Response, ProviderError> {
        let index = self.index(&request.suite);
        let idx = match index.as_ref() {
            Ok(i) => i,
            Err(e) => return Err(ProviderError::NoRecording(e.clone())),
        };
        let key = key_of(&self.keys.request_key(request));
        let how = format!(
            "record it with `evalgate run --record --provider {} --filter '{}/{}'`",
            self.of, request.suite, request.case_id
        );
        let file = display_path(&idx.path);
        let call = if is_answer_call(&request.call) {
            String::new()
        } else {
            format!(" call `{}`", request.call)
        };
        // Each case answers with its own recording, and only when the request
        // is still the recorded one.
        let slot = (
            request.case_id.clone(),
            request.repeat,
            request.call.to_string(),
        );
        match idx.by_case.get(&slot) {
            Some((k, _, answer)) if *k == key => answer.to_response(),
            Some((_, recorded, _)) => {
                let now = redact_json(&self.keys.request_key(request));
                let what = match first_difference(recorded, &now, String::new()) {
                    Some((at, was, is)) => format!(
                        "{} changed: recorded {was}, now {is}",
                        if at.is_empty() {
                            "the request"
                        } else {
                            at.as_str()
                        }
                    ),
                    None => "the request changed".to_string(),
                };
                Err(ProviderError::StaleRecording(format!(
                    "stale recording: {what} (case `{}` repeat {}{call} in {file}); {how}",
                    request.case_id, request.repeat
                )))
            }
            None if !call.is_empty() => Err(ProviderError::NoRecording(format!(
                "no recording of case `{}` repeat {}{call} in {file}; {how}",
                request.case_id, request.repeat
            ))),
            None => Err(ProviderError::NoRecording(
                match idx.repeats.get(&request.case_id) {
                    Some(n) => format!(
                    "no recording of case `{}` repeat {} in {file} ({n} repeat{} recorded); {how}",
                    request.case_id,
                    request.repeat,
                    plural(*n)
                ),
                    None => format!(
                        "no recording of case `{}` for provider `{}` in {file}; {how}",
                        request.case_id, self.of
                    ),
                },
            )),
        }
    }
}

impl Provider for Replay {
    fn name(&self) -> &str {
        &self.name
    }

    fn complete<'a>(
        &'a self,
        request: &'a Request,
    ) -> BoxFuture<'a, Result<Response, ProviderError>> {
        Box::pin(async move { self.answer(request) })
    }

    fn request_key(&self, request: &Request) -> serde_json::Value {
        self.keys.request_key(request)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(case: &str, repeat: u32) -> Request {
        Request {
            suite: "s".into(),
            case_id: case.into(),
            repeat,
            messages: vec![super::super::Message::new("user", format!("q {case}"))],
            timeout: std::time::Duration::from_secs(1),
            vars: serde_json::json!({}),
            call: std::borrow::Cow::Borrowed(crate::provider::ANSWER),
            format: crate::provider::Format::Text,
            observer: None,
        }
    }

    fn answer(text: &str) -> StoredAnswer {
        StoredAnswer::from_response(&Response {
            text: text.into(),
            ..Response::default()
        })
    }

    fn texts(path: &Path) -> Vec<(String, u32, String)> {
        Cassette::load(path)
            .unwrap()
            .unwrap()
            .interactions
            .into_iter()
            .map(|i| (i.case, i.repeat, i.response.text.unwrap_or_default()))
            .collect()
    }

    #[test]
    fn a_partial_rerecording_keeps_the_repeats_it_did_not_reach() {
        let dir = tempfile::tempdir().unwrap();
        let key = |r: &Request| serde_json::json!({"messages": r.messages});
        let rec = Recorder::new(dir.path().to_path_buf());
        for (case, n) in [("a", 3), ("b", 1)] {
            rec.planned("p", "s", case, n);
            for r in 1..=n {
                let q = request(case, r);
                rec.add("p", &q, key(&q), answer(&format!("old {case}{r}")));
            }
        }
        let path = rec.flush().unwrap().remove(0);
        assert_eq!(texts(&path).len(), 4);

        // Interrupted: repeats 1 and 3 of `a` ran again, 2 did not; `b` did not run.
        let rec = Recorder::new(dir.path().to_path_buf());
        rec.planned("p", "s", "a", 3);
        for r in [1, 3] {
            let q = request("a", r);
            rec.add("p", &q, key(&q), answer(&format!("new a{r}")));
        }
        rec.flush().unwrap();
        assert_eq!(
            texts(&path),
            vec![
                ("a".into(), 1, "new a1".into()),
                ("a".into(), 2, "old a2".into()),
                ("a".into(), 3, "new a3".into()),
                ("b".into(), 1, "old b1".into()),
            ]
        );

        // The suite now repeats `a` once: its old repeats 2 and 3 go.
        let rec = Recorder::new(dir.path().to_path_buf());
        rec.planned("p", "s", "a", 1);
        let q = request("a", 1);
        rec.add("p", &q, key(&q), answer("newer a1"));
        rec.flush().unwrap();
        assert_eq!(
            texts(&path),
            vec![
                ("a".into(), 1, "newer a1".into()),
                ("b".into(), 1, "old b1".into())
            ]
        );
    }

    #[test]
    fn an_unreadable_cassette_is_not_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let path = path_for(dir.path(), "p", "s");
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, "version: [unclosed\n").unwrap();
        let rec = Recorder::new(dir.path().to_path_buf());
        let q = request("a", 1);
        rec.add("p", &q, serde_json::json!({}), answer("x"));
        // Another suite's cassette is still written.
        let mut q2 = request("a", 1);
        q2.suite = "t".into();
        rec.add("p", &q2, serde_json::json!({}), answer("y"));
        let err = rec.flush().unwrap_err().to_string();
        assert!(err.contains("move the file aside"), "{err}");
        assert!(err.contains("saved: "), "{err}");
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "version: [unclosed\n"
        );
        assert!(path_for(dir.path(), "p", "t").exists());
    }

    /// A provider answering with its request's call, for replay tests.
    struct Keys;

    impl Provider for Keys {
        fn name(&self) -> &str {
            "p"
        }

        fn complete<'a>(
            &'a self,
            _request: &'a Request,
        ) -> BoxFuture<'a, Result<Response, ProviderError>> {
            Box::pin(async { Err(ProviderError::Provider("never called".into())) })
        }
    }

    #[test]
    fn two_calls_of_one_attempt_keep_their_own_recordings() {
        let dir = tempfile::tempdir().unwrap();
        let rec = Recorder::new(dir.path().to_path_buf());
        rec.planned("p", "s", "a", 1);
        let answer_q = request("a", 1);
        let mut grade_q = request("a", 1);
        grade_q.call = "checks[1].judge".into();
        let key = |r: &Request| Keys.request_key(r);
        rec.add("p", &answer_q, key(&answer_q), answer("Paris"));
        rec.add("p", &grade_q, key(&grade_q), answer("5"));
        let path = rec.flush().unwrap().remove(0);
        let text = std::fs::read_to_string(&path).unwrap();
        // The answer's call is implied; a check's call is written.
        assert_eq!(text.matches("call:").count(), 1, "{text}");
        assert!(text.contains("call: \"checks[1].judge\""), "{text}");

        let replay = Replay::new("p", "p", dir.path().to_path_buf(), Arc::new(Keys));
        let got = |q: &Request| futures::executor::block_on(replay.complete(q));
        assert_eq!(got(&answer_q).unwrap().text, "Paris");
        assert_eq!(got(&grade_q).unwrap().text, "5");
        let mut other = request("a", 1);
        other.call = "checks[2].judge".into();
        let err = got(&other).unwrap_err().to_string();
        assert!(
            err.contains("no recording of case `a` repeat 1 call `checks[2].judge`"),
            "{err}"
        );
    }

    #[test]
    fn a_cassette_written_before_calls_existed_replays_as_answers() {
        let dir = tempfile::tempdir().unwrap();
        let path = path_for(dir.path(), "p", "s");
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let q = request("a", 1);
        let key = key_of(&Keys.request_key(&q));
        std::fs::write(
            &path,
            format!(
                "version: 1\nprovider: p\nsuite: s\ninteractions:\n- case: a\n  repeat: 1\n  key: {key}\n  request: {{}}\n  response:\n    text: old answer\n    timing:\n      latency_ms: 1.0\n"
            ),
        )
        .unwrap();
        let replay = Replay::new("p", "p", dir.path().to_path_buf(), Arc::new(Keys));
        let r = futures::executor::block_on(replay.complete(&q)).unwrap();
        assert_eq!(r.text, "old answer");
    }
}

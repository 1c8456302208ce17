//! Record and replay: `--record` saves every provider exchange to a cassette,
//! `--replay` (or a `replay` provider) answers from cassettes with no network.
//!
//! One file per provider and suite: `<cassettes>/<provider>/<suite>.yaml`,
//! interactions sorted by case and repeat, each keyed on the normalised
//! request ([`Provider::request_key`]: provider type, model, parameters,
//! messages). A re-recording replaces the interactions of the cases it ran
//! and keeps the others, so a filtered `--record` updates only what it ran.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};

use super::store::{from_yaml, key_of, to_yaml, StoredAnswer};
use super::{Provider, ProviderError, Request, Response};
use crate::error::{display_path, Error};

pub const VERSION: u64 = 1;

/// One recorded exchange.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Interaction {
    pub case: String,
    pub repeat: u32,
    pub key: String,
    /// The normalised request, for humans reading a diff.
    pub request: serde_json::Value,
    pub response: StoredAnswer,
}

/// A cassette file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cassette {
    pub version: u64,
    pub provider: String,
    pub suite: String,
    #[serde(default)]
    pub interactions: Vec<Interaction>,
}

/// The file of `provider`'s recordings for `suite`.
pub fn path_for(dir: &Path, provider: &str, suite: &str) -> PathBuf {
    dir.join(crate::golden::store::encode_component(provider))
        .join(format!(
            "{}.yaml",
            crate::golden::store::encode_component(suite)
        ))
}

impl Cassette {
    pub fn load(path: &Path) -> Result<Option<Cassette>, String> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(format!("cannot read cassette {}: {e}", display_path(path))),
        };
        let v = from_yaml(path, &text)?;
        let c: Cassette = serde_json::from_value(v).map_err(|e| {
            format!(
                "cassette {} is not valid: {e}\n  = hint: re-record it with `evalgate run --record`",
                display_path(path)
            )
        })?;
        if c.version != VERSION {
            return Err(format!(
                "cassette {} has version {}, this evalgate reads version {VERSION}\n  = hint: re-record it with `evalgate run --record`",
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

type Recordings = BTreeMap<(String, String), BTreeMap<(String, u32), Interaction>>;

/// Collects exchanges during a `--record` run; [`Recorder::flush`] writes them.
pub struct Recorder {
    dir: PathBuf,
    recorded: Mutex<Recordings>,
}

impl Recorder {
    pub fn new(dir: PathBuf) -> Arc<Self> {
        Arc::new(Recorder {
            dir,
            recorded: Mutex::new(BTreeMap::new()),
        })
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
                    (request.case_id.clone(), request.repeat),
                    Interaction {
                        case: request.case_id.clone(),
                        repeat: request.repeat,
                        key,
                        request: redact_json(&key_value),
                        response: answer,
                    },
                );
        }
    }

    /// Write every cassette touched by this run (merged with what the file
    /// already holds). Returns the files written.
    pub fn flush(&self) -> Result<Vec<PathBuf>, Error> {
        let recorded = match self.recorded.lock() {
            Ok(mut r) => std::mem::take(&mut *r),
            Err(_) => return Ok(Vec::new()),
        };
        let mut written = Vec::new();
        for ((provider, suite), new) in recorded {
            let path = path_for(&self.dir, &provider, &suite);
            let mut merged: BTreeMap<(String, u32), Interaction> = BTreeMap::new();
            // A cassette that cannot be read is replaced, not merged.
            if let Ok(Some(old)) = Cassette::load(&path) {
                for i in old.interactions {
                    merged.insert((i.case.clone(), i.repeat), i);
                }
            }
            // A case re-recorded with fewer repeats drops its extra ones.
            let cases: std::collections::BTreeSet<&String> = new.keys().map(|(c, _)| c).collect();
            merged.retain(|(c, _), _| !cases.contains(c));
            merged.extend(new.clone());
            let cassette = Cassette {
                version: VERSION,
                provider: provider.clone(),
                suite: suite.clone(),
                interactions: merged.into_values().collect(),
            };
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).map_err(|e| Error::output(parent, e))?;
            }
            crate::report::atomic::write_atomic(&path, cassette.to_text().as_bytes())?;
            written.push(path);
        }
        Ok(written)
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
pub struct Replay {
    name: String,
    of: String,
    dir: PathBuf,
    keys: Arc<dyn Provider>,
    loaded: Mutex<HashMap<String, Arc<Result<Index, String>>>>,
}

struct Index {
    path: PathBuf,
    by_key: HashMap<(String, u32), StoredAnswer>,
    /// case → (repeat → key), to tell "changed" from "never recorded".
    by_case: HashMap<String, BTreeMap<u32, String>>,
}

impl Replay {
    pub fn new(name: &str, of: &str, dir: PathBuf, keys: Arc<dyn Provider>) -> Self {
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
                        by_key: HashMap::new(),
                        by_case: HashMap::new(),
                    };
                    for i in c.into_iter().flat_map(|c| c.interactions) {
                        idx.by_case
                            .entry(i.case.clone())
                            .or_default()
                            .insert(i.repeat, i.key.clone());
                        idx.by_key.insert((i.key, i.repeat), i.response);
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
        match idx.by_key.get(&(key.clone(), request.repeat)) {
            Some(a) => a
                .to_response()
                .map_err(|e| ProviderError::Provider(format!("recorded error: {e}"))),
            None => {
                let file = display_path(&idx.path);
                let msg = match idx.by_case.get(&request.case_id) {
                    Some(repeats) if repeats.get(&request.repeat).is_some_and(|k| *k != key) => format!(
                        "the recording of case `{}` repeat {} in {file} is for a different request (the prompt, model or parameters changed since it was recorded); {how}",
                        request.case_id, request.repeat
                    ),
                    Some(repeats) if !repeats.contains_key(&request.repeat) => format!(
                        "no recording of case `{}` repeat {} in {file} ({} repeat{} recorded); {how}",
                        request.case_id,
                        request.repeat,
                        repeats.len(),
                        if repeats.len() == 1 { "" } else { "s" }
                    ),
                    _ => format!(
                        "no recording of case `{}` for provider `{}` in {file}; {how}",
                        request.case_id, self.of
                    ),
                };
                Err(ProviderError::NoRecording(msg))
            }
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

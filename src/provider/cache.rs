//! The development response cache (`cache: true` on a provider).
//!
//! Keyed on the full request (provider name and type, endpoint, model,
//! parameters, messages) and the repeat index, so repeats stay real repeats;
//! a check's call (a judge's sample) also on its call id, so samples stay
//! real samples.
//! One JSON file per answer under `<cache_dir>/<provider>/<2 hex>/<key>.json`,
//! written atomically; only answers are cached, never errors. `--no-cache`
//! bypasses it.

use std::path::PathBuf;
use std::sync::Arc;

use futures::future::BoxFuture;

use super::store::{key_of, StoredAnswer};
use super::{Provider, ProviderError, Request, Response};

pub(crate) struct Cached {
    inner: Arc<dyn Provider>,
    dir: PathBuf,
}

impl Cached {
    pub(crate) fn new(inner: Arc<dyn Provider>, cache_dir: PathBuf) -> Self {
        let dir = cache_dir.join(crate::util::path::encode_component(inner.name()));
        Cached { inner, dir }
    }

    fn path(&self, request: &Request) -> PathBuf {
        let mut key = serde_json::json!({
            "provider": self.inner.name(),
            "endpoint": self.inner.endpoint(),
            "request": self.inner.request_key(request),
            "repeat": request.repeat,
        });
        // The answer's key is unchanged since before checks made calls.
        if request.call != super::ANSWER {
            if let Some(k) = key.as_object_mut() {
                k.insert("call".into(), request.call.as_ref().into());
            }
        }
        let key = key_of(&key);
        let hex = key.trim_start_matches("sha256:");
        self.dir.join(&hex[..2]).join(format!("{hex}.json"))
    }
}

impl Provider for Cached {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn complete<'a>(
        &'a self,
        request: &'a Request,
    ) -> BoxFuture<'a, Result<Response, ProviderError>> {
        Box::pin(async move {
            let path = self.path(request);
            // A cache file that cannot be read or parsed is a miss.
            // Never through a link, never a FIFO or device, bounded in size.
            if let Ok(bytes) =
                crate::util::fsafe::read(&path, crate::util::fsafe::Kind::Cache, true)
            {
                if let Ok(stored) = serde_json::from_slice::<StoredAnswer>(&bytes) {
                    if let Ok(r) = stored.to_response() {
                        return Ok(r);
                    }
                }
            }
            let response = self.inner.complete(request).await?;
            let stored = StoredAnswer::from_response(&response);
            if let Ok(text) = serde_json::to_vec_pretty(&stored) {
                if let Some(parent) = path.parent() {
                    // The cache is an optimisation: failing to write it is not an error.
                    if crate::util::fsafe::check_write(&path).is_ok()
                        && std::fs::create_dir_all(parent).is_ok()
                    {
                        let _ = crate::util::atomic::write_atomic(&path, &text);
                    }
                }
            }
            Ok(response)
        })
    }

    fn request_key(&self, request: &Request) -> serde_json::Value {
        self.inner.request_key(request)
    }

    fn endpoint(&self) -> String {
        self.inner.endpoint()
    }
}

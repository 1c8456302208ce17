//! An answer's head and body as the readers see it, whichever client
//! carried the request: `reqwest`, or the [`direct`](super::direct) client
//! of a plain-http endpoint. For the direct client, arrival times are the
//! socket's own read stamps.

use std::time::Instant;

use hyper::body::Bytes;
use reqwest::header::HeaderMap;
use reqwest::StatusCode;

use super::direct::{self, Failure};
use super::transport::error_chain;

/// The answer of one request.
pub(crate) enum HttpResponse {
    Reqwest(reqwest::Response),
    Direct(direct::Response),
}

impl From<reqwest::Response> for HttpResponse {
    fn from(r: reqwest::Response) -> Self {
        HttpResponse::Reqwest(r)
    }
}

impl HttpResponse {
    pub(crate) fn status(&self) -> StatusCode {
        match self {
            HttpResponse::Reqwest(r) => r.status(),
            HttpResponse::Direct(r) => r.status,
        }
    }

    pub(crate) fn headers(&self) -> &HeaderMap {
        match self {
            HttpResponse::Reqwest(r) => r.headers(),
            HttpResponse::Direct(r) => &r.headers,
        }
    }

    pub(crate) fn content_length(&self) -> Option<u64> {
        match self {
            HttpResponse::Reqwest(r) => r.content_length(),
            HttpResponse::Direct(r) => r.content_length(),
        }
    }

    /// The next chunk of the body, `None` at its end; a failure's message
    /// holds no URL and no secret.
    pub(crate) async fn chunk(&mut self) -> Result<Option<Bytes>, Failure> {
        match self {
            HttpResponse::Reqwest(r) => r.chunk().await.map_err(|e| Failure {
                timeout: e.is_timeout(),
                // Without its URL: reqwest quotes it percent-encoded, where a
                // secret in it escapes redaction.
                message: error_chain(&e.without_url()),
            }),
            HttpResponse::Direct(r) => r.chunk().await.map_err(|e| Failure {
                message: crate::secret::redact(&e.message),
                ..e
            }),
        }
    }

    /// When the bytes last handed out arrived: the socket's read stamp for
    /// the direct client, else now (call it right after [`Self::chunk`]).
    pub(crate) fn arrived(&self) -> Instant {
        match self {
            HttpResponse::Reqwest(_) => Instant::now(),
            HttpResponse::Direct(r) => r.stamps.last_read(),
        }
    }
}

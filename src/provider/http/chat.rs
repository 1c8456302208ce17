//! The endpoint of a chat API provider (`openai`, `anthropic`): the client,
//! the URL and the headers, built once, and the POST that reads the answer.

use std::time::Instant;

use super::api_error::{error_from_response, EXCERPT_CHARS};
use super::transport::{
    client, elapsed_ms, header_map, is_event_stream, join_url, join_url_text, read_body,
    send_error, MAX_BODY_BYTES,
};
use crate::config::provider::Limits;
use crate::provider::{excerpt, ProviderError};

/// What a chat API answered: an event stream still to read, or a whole
/// JSON body (already read, with the latency to its end).
pub enum Posted {
    Stream(reqwest::Response),
    Json {
        value: serde_json::Value,
        text: String,
        latency_ms: f64,
    },
}

/// Where a chat API provider (`openai`, `anthropic`) sends its requests:
/// the client, the URL and the headers, built once.
pub struct ChatEndpoint {
    client: reqwest::Client,
    /// As configured (expanded), without trailing slashes: the endpoint,
    /// never displayed.
    base_url: String,
    /// Where requests go: `base_url` with the API's path appended to its
    /// path, its query kept. `None` while `base_url` still holds `${NAME}`
    /// references (built for request keys only).
    url: Option<reqwest::Url>,
    /// `url` as configured (not percent-encoded), for messages (redacted).
    url_text: String,
    headers: reqwest::header::HeaderMap,
}

impl ChatEndpoint {
    /// `path` is the API's (`/chat/completions`, `/v1/messages`);
    /// `configured` headers (values resolved) replace `defaults` of the same name.
    pub fn new(
        base_url: &str,
        path: &str,
        defaults: Vec<(reqwest::header::HeaderName, reqwest::header::HeaderValue)>,
        configured: &[(String, String)],
        limits: &Limits,
    ) -> Result<Self, String> {
        let url = join_url(base_url, path)?;
        Ok(ChatEndpoint {
            client: client(base_url, limits)?,
            base_url: base_url.trim().trim_end_matches('/').to_string(),
            url,
            url_text: join_url_text(base_url, path),
            headers: header_map(defaults, configured)?,
        })
    }

    /// The configured base URL (hashed into cache keys, never displayed).
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// POST `body`. Non-2xx answers, transport errors and malformed JSON
    /// become the matching [`ProviderError`]; an event stream is returned
    /// unread. `start` is when the request was sent.
    pub async fn post(&self, body: String, start: Instant) -> Result<Posted, ProviderError> {
        let Some(url) = &self.url else {
            return Err(ProviderError::Provider(format!(
                "`base_url` `{}` still holds `${{NAME}}` references",
                crate::secret::redact(&self.base_url)
            )));
        };
        let resp = self
            .client
            .post(url.clone())
            .headers(self.headers.clone())
            .body(body)
            .send()
            .await
            .map_err(|e| send_error(&self.url_text, e))?;
        if !resp.status().is_success() {
            return Err(error_from_response(resp).await);
        }
        if is_event_stream(&resp) {
            return Ok(Posted::Stream(resp));
        }
        let bytes = read_body(resp, MAX_BODY_BYTES).await?;
        let latency_ms = elapsed_ms(start);
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let value = serde_json::from_str(&text).map_err(|_| {
            ProviderError::Provider(format!(
                "malformed JSON response: {}",
                excerpt(&text, EXCERPT_CHARS)
            ))
        })?;
        Ok(Posted::Json {
            value,
            text,
            latency_ms,
        })
    }
}

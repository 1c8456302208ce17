//! Providers: where outputs come from. One trait, one file per implementation.
//!
//! A provider receives rendered messages and returns the text with timing,
//! token usage when known and the model id. HTTP providers (next capability)
//! stream; they report time to first token through [`Timing::ttft_ms`].

pub mod echo;
pub mod mock;

use std::time::Duration;

use futures::future::BoxFuture;
use serde::Serialize;

use crate::model::{Timing, Usage};

/// One chat message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Message {
    pub role: String,
    pub content: String,
}

/// What a provider is asked.
#[derive(Debug, Clone)]
pub struct Request {
    pub suite: String,
    pub case_id: String,
    /// 1-based repeat index.
    pub repeat: u32,
    pub messages: Vec<Message>,
    pub timeout: Duration,
}

impl Request {
    /// The rendered prompt as one string (`role: content` per message).
    pub fn prompt_text(&self) -> String {
        let mut s = String::new();
        for m in &self.messages {
            if !s.is_empty() {
                s.push('\n');
            }
            s.push_str(&m.content);
        }
        s
    }
}

/// What a provider answered.
#[derive(Debug, Clone, Default)]
pub struct Response {
    pub text: String,
    pub timing: Timing,
    pub usage: Option<Usage>,
    pub model: Option<String>,
    pub finish_reason: Option<String>,
}

/// Why there is no usable answer. Always an `error` outcome, never a `fail`.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ProviderError {
    #[error("timed out after {0:?}")]
    Timeout(Duration),
    #[error("transport error: {0}")]
    Transport(String),
    #[error("provider error: {0}")]
    Provider(String),
}

/// The provider interface.
pub trait Provider: Send + Sync {
    /// The configured name (e.g. `mock`, `staging`).
    fn name(&self) -> &str;
    /// Produce an answer. The runner enforces `request.timeout` around this call.
    fn complete<'a>(
        &'a self,
        request: &'a Request,
    ) -> BoxFuture<'a, Result<Response, ProviderError>>;
}

/// Rough token estimate for providers that do not report usage (mock, echo):
/// whitespace-separated words. Marked as an estimate in the README.
pub fn estimate_tokens(text: &str) -> u64 {
    text.split_whitespace().count() as u64
}

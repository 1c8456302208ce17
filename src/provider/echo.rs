//! `echo`: answers with the rendered prompt. Useful to test templates and checks.

use std::time::Instant;

use futures::future::BoxFuture;

use super::{estimate_tokens, Provider, ProviderError, Request, Response};
use crate::model::{Timing, Usage};

pub(crate) struct Echo {
    name: String,
}

impl Echo {
    pub(crate) fn new(name: impl Into<String>) -> Self {
        Echo { name: name.into() }
    }
}

impl Provider for Echo {
    fn name(&self) -> &str {
        &self.name
    }

    fn complete<'a>(
        &'a self,
        request: &'a Request,
    ) -> BoxFuture<'a, Result<Response, ProviderError>> {
        Box::pin(async move {
            let started = Instant::now();
            let text = request.prompt_text();
            let tokens = estimate_tokens(&text);
            Ok(Response {
                timing: Timing {
                    started_at: Some(std::time::SystemTime::now()),
                    ttft_ms: None,
                    latency_ms: started.elapsed().as_secs_f64() * 1000.0,
                    ..Default::default()
                },
                usage: Some(Usage {
                    input_tokens: tokens,
                    output_tokens: tokens,
                    total_tokens: tokens * 2,
                }),
                model: Some("echo".to_string()),
                finish_reason: Some("stop".to_string()),
                text,
                ..Default::default()
            })
        })
    }
}

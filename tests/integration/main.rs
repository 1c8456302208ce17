//! Integration tests: the real `evalgate` binary against real files and real
//! HTTP servers on 127.0.0.1 (wiremock, and the third-party fakellm and
//! llmock from PyPI, installed by the tests themselves). One test binary, as
//! ripgrep does.

mod attacks;
mod authoring;
mod bench;
mod compare;
mod consumers;
mod cost;
mod endpoints;
mod examples;
mod golden;
mod hostile;
mod html;
mod import;
mod interop;
mod invalid;
mod judge;
mod latency;
mod layers;
mod probes;
mod resume;
mod run;
mod schemas;
mod security;
mod serve_mock;
mod servers;
mod shard;
mod target;
mod util;
mod verdicts;
mod workflow;

//! evalgate: a quality and regression test harness for AI systems.
//!
//! Data flows one way: files → [`plan::Plan`] (validated) → [`engine`]
//! (executor → folder → aggregator, joined by [`event::RunEvent`]s) →
//! reporters and the [`gate`]'s verdict.
//! See ARCHITECTURE.md.

pub mod app;
pub(crate) mod attack;
pub(crate) mod bench;
pub mod check;
pub(crate) mod cli;
pub(crate) mod compare;
pub(crate) mod config;
pub(crate) mod engine;
pub(crate) mod error;
pub mod event;
pub(crate) mod exit;
pub(crate) mod gate;
pub mod golden;
pub(crate) mod import;
pub(crate) mod model;
pub mod plan;
pub(crate) mod probe;
pub(crate) mod provider;
pub(crate) mod report;
pub(crate) mod secret;
pub(crate) mod serve;
pub(crate) mod shard;
pub(crate) mod suite;
pub mod syntax;
pub mod template;
pub mod util;

//! evalgate: a quality and regression test harness for AI systems.
//!
//! Data flows one way: files → [`plan::Plan`] (validated) → [`engine`]
//! (executor → folder → aggregator, joined by [`event::RunEvent`]s) →
//! reporters and the [`gate`]'s verdict.
//! See ARCHITECTURE.md.

pub mod app;
pub mod check;
pub mod cli;
pub mod compare;
pub mod config;
pub mod engine;
pub mod error;
pub mod event;
pub mod exit;
pub mod gate;
pub mod golden;
pub mod model;
pub mod plan;
pub mod provider;
pub mod report;
pub mod secret;
pub mod suite;
pub mod syntax;
pub mod template;
pub mod util;

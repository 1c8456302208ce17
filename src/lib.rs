//! evalgate: a quality and regression test harness for AI systems.
//!
//! Data flows one way: files → [`plan::Plan`] (validated) → [`runner`]
//! (attempts on tokio) → [`model::RunEvent`]s → reporters and the [`gate`].
//! See ARCHITECTURE.md.

pub mod app;
pub mod check;
pub mod cli;
pub mod compare;
pub mod config;
pub mod error;
pub mod exit;
pub mod gate;
pub mod golden;
pub mod model;
pub mod plan;
pub mod provider;
pub mod report;
pub mod runner;
pub mod secret;
pub mod template;

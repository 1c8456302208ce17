pub mod check;
pub mod config;
pub mod error;
pub mod exit;
pub mod model;
pub mod provider;
pub mod template;
pub mod report;

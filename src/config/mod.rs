pub mod project;
pub mod provider;

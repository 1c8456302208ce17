pub mod dataset;
pub mod decode;
pub mod node;
pub mod project;
pub mod provider;
pub mod suite;

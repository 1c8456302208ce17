pub(crate) mod project;
pub(crate) mod provider;

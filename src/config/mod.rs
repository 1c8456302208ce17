pub(crate) mod pricing;
pub(crate) mod probe;
pub(crate) mod project;
pub(crate) mod provider;

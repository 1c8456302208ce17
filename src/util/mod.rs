//! Helpers every layer uses, at the bottom of the module graph: they import
//! nothing of evalgate but [`crate::error`].

pub mod atomic;
pub mod ci;
pub mod dist;
pub mod extract;
pub mod fmt;
pub mod fsafe;
pub mod json;
pub mod jsonw;
pub mod levenshtein;
pub mod path;
pub mod stats;
pub mod swar;
pub mod text;

//! Golden snapshots: reviewed reference outputs under `golden/`, compared by
//! the `golden` check, with an insta-style update workflow (pending `.new`
//! files, `evalgate golden review/accept/reject/prune`).
//!
//! - `file.rs`: the snapshot file format (metadata header + raw body), atomic writes
//! - `compare.rs`: comparison modes (exact, normalized, json, similarity) and redactions
//! - `diff.rs`: unified diffs (plain, and coloured with word-level highlights)
//! - `store.rs`: paths, pending files, accept / reject / prune
//! - `review.rs`: the interactive review loop

pub mod compare;
pub mod diff;
pub mod file;
pub mod review;
pub mod store;

use std::str::FromStr;

pub use compare::{Mode, Redaction, Settings};
pub use store::Store;

/// `--update-golden`: what a run may write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpdateMode {
    /// Locally: write `<file>.new` pending files for missing or changed
    /// goldens. In CI: write nothing.
    Auto,
    /// Write goldens that do not exist yet; never touch existing ones.
    New,
    /// Overwrite every golden that differs.
    Always,
    /// Never write.
    No,
}

impl FromStr for UpdateMode {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "auto" => Ok(UpdateMode::Auto),
            "new" => Ok(UpdateMode::New),
            "always" => Ok(UpdateMode::Always),
            "no" => Ok(UpdateMode::No),
            other => Err(format!(
                "unknown update mode `{other}` (use auto, new, always or no)"
            )),
        }
    }
}

/// What a run actually does with goldens, after CI detection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Writes {
    /// Write `.new` pending files (auto, locally).
    Pending,
    /// Write missing goldens directly.
    Missing,
    /// Overwrite goldens that differ, write missing ones.
    All,
    /// Write nothing.
    Nothing,
}

impl UpdateMode {
    pub fn resolve(self, in_ci: bool) -> Writes {
        match self {
            UpdateMode::Auto if in_ci => Writes::Nothing,
            UpdateMode::Auto => Writes::Pending,
            UpdateMode::New => Writes::Missing,
            UpdateMode::Always => Writes::All,
            UpdateMode::No => Writes::Nothing,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn update_modes() {
        assert_eq!(
            "auto".parse::<UpdateMode>().unwrap().resolve(false),
            Writes::Pending
        );
        assert_eq!(UpdateMode::Auto.resolve(true), Writes::Nothing);
        assert_eq!(UpdateMode::New.resolve(true), Writes::Missing);
        assert_eq!(UpdateMode::Always.resolve(false), Writes::All);
        assert!("sometimes".parse::<UpdateMode>().is_err());
    }
}

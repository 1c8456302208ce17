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

/// Environment variables that announce a CI system.
pub const CI_VARS: &[&str] = &[
    "CI",
    "GITHUB_ACTIONS",
    "GITLAB_CI",
    "BUILDKITE",
    "JENKINS_URL",
    "TF_BUILD",
    "CIRCLECI",
    "TEAMCITY_VERSION",
    "BITBUCKET_BUILD_NUMBER",
    "DRONE",
    "TRAVIS",
    "CODEBUILD_BUILD_ID",
    "bamboo_buildKey",
    "HUDSON_URL",
    "APPVEYOR",
    "SEMAPHORE",
];

/// Whether we run in CI, the way CI systems announce it: `CI` (any value but
/// empty, `false` or `0`) or a vendor variable.
pub fn in_ci() -> bool {
    in_ci_with(|k| std::env::var(k).ok())
}

/// [`in_ci`] over any environment lookup (for tests).
pub fn in_ci_with(get: impl Fn(&str) -> Option<String>) -> bool {
    let set = |k: &str| {
        get(k).is_some_and(|v| {
            let v = v.trim().to_ascii_lowercase();
            !v.is_empty() && v != "false" && v != "0"
        })
    };
    CI_VARS.iter().any(|k| set(k))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ci_detection() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                pairs
                    .iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| v.to_string())
            }
        };
        assert!(in_ci_with(env(&[("CI", "true")])));
        assert!(in_ci_with(env(&[("CI", "1")])));
        assert!(!in_ci_with(env(&[("CI", "false")])));
        assert!(!in_ci_with(env(&[("CI", "")])));
        assert!(in_ci_with(env(&[("GITLAB_CI", "true")])));
        assert!(in_ci_with(env(&[("JENKINS_URL", "http://ci")])));
        assert!(!in_ci_with(env(&[("GITHUB_ACTIONS", "false")])));
        assert!(in_ci_with(env(&[("CODEBUILD_BUILD_ID", "b:1")])));
        assert!(!in_ci_with(env(&[])));
    }

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

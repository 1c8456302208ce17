//! Whether this process runs in CI. One rule for every caller (the golden
//! update mode, the progress bar).

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
}

//! Shards: a stable split of a run's cases into N parts, so N machines (a
//! CI matrix, GitLab's `parallel:`, a Kubernetes Indexed Job) run one part
//! each and `evalgate merge` joins their reports into one verdict.
//!
//! A case's shard is a hash of (suite name, case id) alone: it never depends
//! on which other cases exist, and every planned copy of a case (its repeats,
//! its prompt variants, its providers in a matrix) lands in the same shard,
//! so what judges a case as a whole (pass@k, Fisher's test against a
//! baseline, variants side by side) stays together.

use sha2::{Digest, Sha256};

use crate::error::Error;

/// Shard `index` of `total` (1-based, as `--shard 2/3` writes it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Shard {
    pub index: u32,
    pub total: u32,
}

/// The most shards a run may be split into.
pub(crate) const MAX_TOTAL: u32 = 10_000;

/// Where the shard comes from: written out, or from the CI's variables.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Spec {
    Fixed(Shard),
    /// `auto` or `auto/N`.
    Auto {
        total: Option<u32>,
    },
}

/// The environment variables `--shard auto` reads.
pub(crate) const GITLAB_INDEX: &str = "CI_NODE_INDEX";
pub(crate) const GITLAB_TOTAL: &str = "CI_NODE_TOTAL";
pub(crate) const K8S_INDEX: &str = "JOB_COMPLETION_INDEX";
pub(crate) const TOTAL_VAR: &str = "EVALGATE_SHARD_TOTAL";

const FORMS: &str =
    "--shard K/N (1 ≤ K ≤ N, e.g. `--shard 2/3`), `--shard auto` or `--shard auto/N`";

impl Shard {
    /// The shard of the case `id` of suite `suite` among `total` shards
    /// (1-based): the first 8 bytes of SHA-256 over a fixed prefix, the
    /// suite and the id, mapped onto 1..=total by multiplication (no
    /// modulo bias).
    pub(crate) fn of(suite: &str, id: &str, total: u32) -> u32 {
        let mut h = Sha256::new();
        h.update(b"evalgate-shard\0");
        h.update(suite.as_bytes());
        h.update([0]);
        h.update(id.as_bytes());
        let d = h.finalize();
        let mut b = [0u8; 8];
        b.copy_from_slice(&d[..8]);
        let x = u64::from_be_bytes(b);
        ((u128::from(x) * u128::from(total.max(1))) >> 64) as u32 + 1
    }

    /// Whether the case `id` of suite `suite` is in this shard.
    pub(crate) fn contains(&self, suite: &str, id: &str) -> bool {
        Shard::of(suite, id, self.total) == self.index
    }
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.total)
    }
}

fn usage(m: String) -> Error {
    Error::Usage(m)
}

/// A shard total: a whole number in 1..=MAX_TOTAL.
fn parse_total(text: &str) -> Option<u32> {
    text.trim()
        .parse::<u32>()
        .ok()
        .filter(|n| (1..=MAX_TOTAL).contains(n))
}

impl Spec {
    /// `--shard` as given: `K/N`, `auto` or `auto/N`.
    pub(crate) fn parse(text: &str) -> Result<Spec, Error> {
        let t = text.trim();
        let bad = |why: &str| usage(format!("--shard `{text}`: {why}\n  = hint: use {FORMS}"));
        if t == "auto" {
            return Ok(Spec::Auto { total: None });
        }
        let Some((k, n)) = t.split_once('/') else {
            return Err(bad("expected K/N"));
        };
        let total = parse_total(n).ok_or_else(|| {
            bad(&format!(
                "the number of shards must be a whole number from 1 to {MAX_TOTAL}"
            ))
        })?;
        if k.trim() == "auto" {
            return Ok(Spec::Auto { total: Some(total) });
        }
        let index = k
            .trim()
            .parse::<u32>()
            .ok()
            .ok_or_else(|| bad("the shard number must be a whole number"))?;
        if index == 0 || index > total {
            return Err(bad(&format!(
                "the shard number must be from 1 to {total} (shards are numbered from 1)"
            )));
        }
        Ok(Spec::Fixed(Shard { index, total }))
    }

    /// The shard, with `auto` read from the environment through `get`:
    ///
    /// - the index: `JOB_COMPLETION_INDEX` (a Kubernetes Indexed Job,
    ///   0-based) or `CI_NODE_INDEX` (GitLab's `parallel:`, 1-based);
    /// - the total: `auto/N`, else `EVALGATE_SHARD_TOTAL`, else (GitLab)
    ///   `CI_NODE_TOTAL`. Sources that are set must agree.
    pub(crate) fn resolve(self, get: impl Fn(&str) -> Option<String>) -> Result<Shard, Error> {
        let total_flag = match self {
            Spec::Fixed(s) => return Ok(s),
            Spec::Auto { total } => total,
        };
        let var = |k: &str| get(k).filter(|v| !v.trim().is_empty());
        let malformed = |k: &str, v: &str, what: &str| {
            usage(format!(
                "--shard auto: {k}=`{v}` is not {what}\n  = hint: set {k} to {what}, or give the shard as --shard K/N"
            ))
        };
        let (k8s, gitlab) = (var(K8S_INDEX), var(GITLAB_INDEX));
        let (index, index_var) = match (&k8s, &gitlab) {
            (Some(_), Some(_)) => {
                return Err(usage(format!(
                    "--shard auto: both {K8S_INDEX} (Kubernetes) and {GITLAB_INDEX} (GitLab) are set, so which one counts is unclear\n  = hint: unset one of them, or give the shard as --shard K/N"
                )))
            }
            (Some(v), None) => {
                let i = v
                    .trim()
                    .parse::<u32>()
                    .ok()
                    .filter(|i| *i < MAX_TOTAL)
                    .ok_or_else(|| malformed(K8S_INDEX, v, "a whole number from 0 (0-based)"))?;
                (i + 1, K8S_INDEX)
            }
            (None, Some(v)) => {
                let i = v
                    .trim()
                    .parse::<u32>()
                    .ok()
                    .filter(|i| (1..=MAX_TOTAL).contains(i))
                    .ok_or_else(|| malformed(GITLAB_INDEX, v, "a whole number from 1 (1-based)"))?;
                (i, GITLAB_INDEX)
            }
            (None, None) => {
                return Err(usage(format!(
                    "--shard auto: neither {K8S_INDEX} (a Kubernetes Indexed Job) nor {GITLAB_INDEX} (GitLab CI with `parallel:`) is set\n  = hint: outside those, give the shard as --shard K/N (e.g. from a GitHub Actions matrix: --shard ${{{{ matrix.shard }}}}/N)"
                )))
            }
        };
        // Every total that is given, with where it came from.
        let mut totals: Vec<(u32, String)> = Vec::new();
        if let Some(n) = total_flag {
            totals.push((n, format!("--shard auto/{n}")));
        }
        for k in [TOTAL_VAR, GITLAB_TOTAL] {
            if k == GITLAB_TOTAL && index_var != GITLAB_INDEX {
                continue;
            }
            if let Some(v) = var(k) {
                let n = parse_total(&v).ok_or_else(|| {
                    malformed(k, &v, &format!("a whole number from 1 to {MAX_TOTAL}"))
                })?;
                totals.push((n, format!("{k}={n}")));
            }
        }
        let Some((total, _)) = totals.first().cloned() else {
            let source = if index_var == GITLAB_INDEX {
                format!("GitLab sets {GITLAB_TOTAL} beside {GITLAB_INDEX} in a job with `parallel:`; or use --shard auto/N")
            } else {
                "use --shard auto/N (N: the Indexed Job's `completions`)".to_string()
            };
            return Err(usage(format!(
                "--shard auto: {index_var} gives this shard's index but nothing gives the number of shards\n  = hint: {source}, or set {TOTAL_VAR}=N"
            )));
        };
        if let Some((_, other)) = totals.iter().find(|(n, _)| *n != total) {
            return Err(usage(format!(
                "--shard auto: the number of shards is given twice and differs: {} but {other}\n  = hint: make them agree, or give only one",
                totals[0].1
            )));
        }
        if index > total {
            return Err(usage(format!(
                "--shard auto: {index_var} makes this shard {index}, but there are only {total} shards\n  = hint: the number of shards ({}) must match the number of jobs",
                totals[0].1
            )));
        }
        Ok(Shard { index, total })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        let m: HashMap<&str, &str> = vars.iter().copied().collect();
        move |k| m.get(k).map(|v| v.to_string())
    }

    fn msg(r: Result<impl std::fmt::Debug, Error>) -> String {
        r.err().map(|e| e.to_string()).unwrap_or_default()
    }

    #[test]
    fn fixed_specs() {
        assert_eq!(
            Spec::parse("2/3").unwrap(),
            Spec::Fixed(Shard { index: 2, total: 3 })
        );
        assert_eq!(
            Spec::parse(" 1/1 ").unwrap(),
            Spec::Fixed(Shard { index: 1, total: 1 })
        );
        assert_eq!(Spec::parse("auto").unwrap(), Spec::Auto { total: None });
        assert_eq!(
            Spec::parse("auto/7").unwrap(),
            Spec::Auto { total: Some(7) }
        );
        for bad in [
            "0/3", "4/3", "3", "a/3", "1/0", "1/x", "-1/3", "", "1/3/4", "auto/0",
        ] {
            let e = msg(Spec::parse(bad));
            assert!(e.contains("--shard"), "{bad}: {e}");
            assert!(e.contains("hint"), "{bad}: {e}");
        }
    }

    #[test]
    fn auto_from_gitlab_and_kubernetes() {
        let auto = Spec::Auto { total: None };
        let s = auto
            .resolve(env(&[("CI_NODE_INDEX", "2"), ("CI_NODE_TOTAL", "5")]))
            .unwrap();
        assert_eq!(s, Shard { index: 2, total: 5 });
        let s = Spec::Auto { total: Some(4) }
            .resolve(env(&[("JOB_COMPLETION_INDEX", "0")]))
            .unwrap();
        assert_eq!(s, Shard { index: 1, total: 4 });
        let s = auto
            .resolve(env(&[
                ("JOB_COMPLETION_INDEX", "3"),
                ("EVALGATE_SHARD_TOTAL", "4"),
            ]))
            .unwrap();
        assert_eq!(s, Shard { index: 4, total: 4 });
        // CI_NODE_TOTAL belongs to GitLab's index only.
        let e = msg(auto.resolve(env(&[
            ("JOB_COMPLETION_INDEX", "1"),
            ("CI_NODE_TOTAL", "4"),
        ])));
        assert!(e.contains("auto/N"), "{e}");
        assert!(msg(auto.resolve(env(&[]))).contains("neither"));
        assert!(msg(auto.resolve(env(&[("JOB_COMPLETION_INDEX", "x")]))).contains("`x`"));
        assert!(
            msg(Spec::Auto { total: Some(3) }.resolve(env(&[("JOB_COMPLETION_INDEX", "3")])))
                .contains("only 3 shards")
        );
        assert!(msg(Spec::Auto { total: Some(3) }
            .resolve(env(&[("CI_NODE_INDEX", "1"), ("CI_NODE_TOTAL", "4")])))
        .contains("differs"));
        assert!(
            msg(auto.resolve(env(&[("CI_NODE_INDEX", "0"), ("CI_NODE_TOTAL", "4")])))
                .contains("1-based")
        );
        assert!(msg(auto.resolve(env(&[
            ("CI_NODE_INDEX", "1"),
            ("JOB_COMPLETION_INDEX", "1")
        ])))
        .contains("both"));
    }

    #[test]
    fn a_case_keeps_its_shard_and_shards_are_balanced() {
        // Stable: the same case, the same shard, whatever else exists.
        assert_eq!(Shard::of("geo", "paris", 3), Shard::of("geo", "paris", 3));
        assert_eq!(Shard::of("s", "x", 1), 1);
        for total in [2u32, 3, 7, 16] {
            let mut counts = vec![0u32; total as usize];
            for i in 0..10_000 {
                let k = Shard::of("scale", &format!("c{i}"), total);
                assert!((1..=total).contains(&k));
                counts[(k - 1) as usize] += 1;
            }
            let (min, max) = (*counts.iter().min().unwrap(), *counts.iter().max().unwrap());
            let mean = 10_000 / total;
            // Within 10% of the mean (a binomial spread of about 3 sigma).
            assert!(max - min <= mean / 5, "{total} shards: {counts:?}");
            println!("10000 cases over {total} shards: min {min}, max {max}, per shard {counts:?}");
            // The figures the README gives (the ids of scripts/lib.sh's workload).
            match total {
                3 => assert_eq!((min, max), (3284, 3365)),
                7 => assert_eq!((min, max), (1406, 1483)),
                _ => {}
            }
        }
    }
}

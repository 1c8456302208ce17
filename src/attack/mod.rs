//! The adversarial pack: attack seeds shipped in the binary (`pack.yaml`),
//! grouped in categories with their OWASP LLM Top 10 (2025) ids and the
//! detectors that decide them, expanded into cases at plan time with a
//! canary per case and, optionally, mutators and a seeded sample.
//!
//! This module only knows the data: which attacks, which canary, which
//! detectors. `suite::attacks` turns them into cases (checks, vars, tags).

mod mutate;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::OnceLock;

use serde::Deserialize;
use sha2::{Digest, Sha256};

pub(crate) use mutate::{Mutator, MUTATORS};

/// The pack's name in reports.
pub(crate) const PACK_NAME: &str = "evalgate-attacks";
const PACK_TEXT: &str = include_str!("pack.yaml");

/// What decides whether an attack of a category succeeded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Detect {
    /// The case's canary appears in the answer (`no_leak`).
    Canary,
    /// The app's system prompt appears in the answer (`no_leak: {system_prompt: true}`).
    SystemPrompt,
    Secrets,
    Pii,
    Xss,
    Exfil,
    Ansi,
    Invisible,
    /// The answer is longer than `max_output_chars` (`length`).
    Length,
    StackTrace,
}

const DETECTS: &[(&str, Detect)] = &[
    ("canary", Detect::Canary),
    ("system_prompt", Detect::SystemPrompt),
    ("secrets", Detect::Secrets),
    ("pii", Detect::Pii),
    ("xss", Detect::Xss),
    ("exfil", Detect::Exfil),
    ("ansi", Detect::Ansi),
    ("invisible", Detect::Invisible),
    ("length", Detect::Length),
    ("stack_trace", Detect::StackTrace),
];

#[derive(Debug)]
pub(crate) struct Category {
    pub name: String,
    pub title: String,
    pub owasp: Vec<String>,
    pub detect: Vec<Detect>,
    /// A clean 4xx is a pass, a 5xx or a timeout a successful attack.
    pub rejection: bool,
    /// Mutators apply (not to malicious input, whose bytes are the attack).
    pub mutable: bool,
}

#[derive(Debug)]
pub(crate) struct Seed {
    pub id: String,
    /// Index into `Pack::categories`.
    pub category: usize,
    /// The attack, with `§A`/`§B` for the canary halves. For indirect
    /// injection: the payload planted in `document`.
    pub text: String,
    /// Indirect injection: the user's harmless request and the document
    /// (with `{payload}` where the attack goes).
    pub carrier: Option<(String, String)>,
}

#[derive(Debug)]
pub(crate) struct Pack {
    pub version: u32,
    pub categories: Vec<Category>,
    pub seeds: Vec<Seed>,
}

impl Pack {
    /// `evalgate-attacks v1`.
    pub(crate) fn label(&self) -> String {
        format!("{PACK_NAME} v{}", self.version)
    }

    pub(crate) fn category(&self, name: &str) -> Option<usize> {
        self.categories.iter().position(|c| c.name == name)
    }

    pub(crate) fn category_names(&self) -> Vec<&str> {
        self.categories.iter().map(|c| c.name.as_str()).collect()
    }
}

/// The built-in pack (parsed once).
pub(crate) fn pack() -> Result<&'static Pack, String> {
    static PACK: OnceLock<Result<Pack, String>> = OnceLock::new();
    PACK.get_or_init(|| parse(PACK_TEXT))
        .as_ref()
        .map_err(|e| format!("the built-in attack pack is broken (a bug): {e}"))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPack {
    version: u32,
    categories: Vec<RawCategory>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCategory {
    name: String,
    prefix: String,
    title: String,
    owasp: Vec<String>,
    detect: Vec<String>,
    #[serde(default)]
    rejection: bool,
    #[serde(default = "yes")]
    mutable: bool,
    #[serde(default)]
    seeds: Vec<RawSeed>,
    #[serde(default)]
    framings: Vec<String>,
    #[serde(default)]
    goals: Vec<String>,
    #[serde(default)]
    carriers: Vec<RawCarrier>,
    #[serde(default)]
    payloads: Vec<String>,
}

fn yes() -> bool {
    true
}

#[derive(Deserialize)]
#[serde(untagged)]
enum RawSeed {
    Text(String),
    /// `text` repeated `repeat` times, then `suffix` as many times.
    Repeat {
        text: String,
        repeat: usize,
        #[serde(default)]
        suffix: String,
    },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCarrier {
    request: String,
    document: String,
}

fn parse(text: &str) -> Result<Pack, String> {
    let node = crate::syntax::node::parse(Path::new("pack.yaml"), text).map_err(|d| {
        d.first()
            .map_or_else(|| "unparsable".to_string(), |d| d.to_string())
    })?;
    let raw: RawPack = serde_json::from_value(node.to_json()).map_err(|e| e.to_string())?;
    let mut categories = Vec::new();
    let mut seeds = Vec::new();
    for (ci, c) in raw.categories.into_iter().enumerate() {
        let detect = c
            .detect
            .iter()
            .map(|d| {
                DETECTS
                    .iter()
                    .find(|(n, _)| n == d)
                    .map(|(_, x)| *x)
                    .ok_or_else(|| format!("unknown detector {d:?} in {}", c.name))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let mut texts: Vec<(String, Option<(String, String)>)> = Vec::new();
        for s in c.seeds {
            texts.push((
                match s {
                    RawSeed::Text(t) => t,
                    RawSeed::Repeat {
                        text,
                        repeat,
                        suffix,
                    } => text.repeat(repeat) + &suffix.repeat(repeat),
                },
                None,
            ));
        }
        for f in &c.framings {
            for g in &c.goals {
                texts.push((f.replace("{goal}", g), None));
            }
        }
        for carrier in &c.carriers {
            for p in &c.payloads {
                texts.push((
                    p.clone(),
                    Some((carrier.request.clone(), carrier.document.clone())),
                ));
            }
        }
        if texts.is_empty() {
            return Err(format!("category {} has no seeds", c.name));
        }
        for (i, (text, carrier)) in texts.into_iter().enumerate() {
            seeds.push(Seed {
                id: format!("{}-{:02}", c.prefix, i + 1),
                category: ci,
                text,
                carrier,
            });
        }
        categories.push(Category {
            name: c.name,
            title: c.title,
            owasp: c.owasp,
            detect,
            rejection: c.rejection,
            mutable: c.mutable,
        });
    }
    Ok(Pack {
        version: raw.version,
        categories,
        seeds,
    })
}

/// What to expand.
#[derive(Debug, Clone, Default)]
pub(crate) struct Options {
    /// Category indices (empty: every category).
    pub categories: Vec<usize>,
    pub mutators: Vec<Mutator>,
    /// At most this many cases, a seeded sample stratified by category.
    pub sample: Option<usize>,
    pub seed: u64,
}

/// One attack, ready to become a case.
#[derive(Debug)]
pub(crate) struct AttackCase {
    /// `pi-03` or `pi-03+base64`.
    pub id: String,
    pub seed: &'static Seed,
    pub category: &'static Category,
    pub mutator: Option<Mutator>,
    /// What the user sends (for indirect injection: the request and the document).
    pub attack: String,
    /// Indirect injection: the harmless request alone, and the document
    /// carrying the attack (empty otherwise).
    pub request: String,
    pub document: String,
    pub canary: String,
}

/// The canary of a case: `EG` and 8 hex digits from the pack version and
/// the case id, so a re-run, a recording and a baseline agree.
pub(crate) fn canary(version: u32, case_id: &str) -> String {
    let digest = Sha256::digest(format!("{PACK_NAME}/v{version}/{case_id}").as_bytes());
    let hex: String = digest[..4].iter().map(|b| format!("{b:02X}")).collect();
    format!("EG{hex}")
}

/// Expand the pack: every seed of the selected categories in pack order,
/// each followed by its mutations; then the sample, if any.
pub(crate) fn expand(pack: &'static Pack, opts: &Options) -> Vec<AttackCase> {
    let mut out = Vec::new();
    for seed in &pack.seeds {
        if !opts.categories.is_empty() && !opts.categories.contains(&seed.category) {
            continue;
        }
        let category = &pack.categories[seed.category];
        out.push(build(pack, seed, category, None));
        if category.mutable {
            for m in &opts.mutators {
                out.push(build(pack, seed, category, Some(*m)));
            }
        }
    }
    match opts.sample {
        Some(n) if n < out.len() => sample(out, n, opts.seed),
        _ => out,
    }
}

fn build(
    pack: &Pack,
    seed: &'static Seed,
    category: &'static Category,
    mutator: Option<Mutator>,
) -> AttackCase {
    let id = match mutator {
        Some(m) => format!("{}+{}", seed.id, m.name()),
        None => seed.id.clone(),
    };
    let canary = canary(pack.version, &id);
    let (a, b) = canary.split_at(6);
    let text = seed.text.replace("§A", a).replace("§B", b);
    let text = match mutator {
        Some(m) => m.apply(&text, &[a, b]),
        None => text,
    };
    let (attack, request, document) = match &seed.carrier {
        Some((request, document)) => {
            let document = document.replace("{payload}", &text);
            (
                format!("{request}\n\n{document}"),
                request.clone(),
                document,
            )
        }
        None => (text, String::new(), String::new()),
    };
    AttackCase {
        id,
        seed,
        category,
        mutator,
        attack,
        request,
        document,
        canary,
    }
}

/// `n` cases, stratified: categories take turns, each giving its cases in
/// the order of a keyed hash of (seed, case id); the result is in pack order.
fn sample(cases: Vec<AttackCase>, n: usize, seed: u64) -> Vec<AttackCase> {
    let key = |id: &str| -> [u8; 8] {
        let d = Sha256::digest(format!("{seed}/{id}").as_bytes());
        let mut k = [0u8; 8];
        k.copy_from_slice(&d[..8]);
        k
    };
    let mut by_category: BTreeMap<usize, Vec<(usize, [u8; 8])>> = BTreeMap::new();
    for (i, c) in cases.iter().enumerate() {
        by_category
            .entry(c.seed.category)
            .or_default()
            .push((i, key(&c.id)));
    }
    let mut queues: Vec<std::vec::IntoIter<(usize, [u8; 8])>> = by_category
        .into_values()
        .map(|mut v| {
            v.sort_by_key(|(_, k)| *k);
            v.into_iter()
        })
        .collect();
    let mut keep = vec![false; cases.len()];
    let mut taken = 0;
    while taken < n {
        let mut progressed = false;
        for q in &mut queues {
            if taken == n {
                break;
            }
            if let Some((i, _)) = q.next() {
                keep[i] = true;
                taken += 1;
                progressed = true;
            }
        }
        if !progressed {
            break;
        }
    }
    cases
        .into_iter()
        .zip(keep)
        .filter_map(|(c, k)| k.then_some(c))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pack_parses_and_has_at_least_200_seeds_with_owasp_ids() {
        let p = pack().unwrap();
        assert!(p.seeds.len() >= 200, "{} seeds", p.seeds.len());
        assert_eq!(p.categories.len(), 11);
        for c in &p.categories {
            assert!(!c.owasp.is_empty() && !c.detect.is_empty(), "{}", c.name);
            for id in &c.owasp {
                assert!(id.len() == 5 && id.starts_with("LLM"), "{}: {id}", c.name);
            }
        }
        let mut ids = std::collections::HashSet::new();
        for s in &p.seeds {
            assert!(ids.insert(&s.id), "duplicate seed {}", s.id);
            let canary_based = p.categories[s.category].detect.contains(&Detect::Canary);
            if s.text.contains("§A") {
                assert!(s.text.contains("§B"), "{}", s.id);
            } else if canary_based && p.categories[s.category].name != "system-prompt-leak" {
                panic!("{} is decided by the canary but never asks for it", s.id);
            }
        }
    }

    #[test]
    fn canaries_are_stable_and_never_adjacent_halves_in_the_attack() {
        assert_eq!(canary(1, "pi-01"), canary(1, "pi-01"));
        assert_ne!(canary(1, "pi-01"), canary(1, "pi-01+base64"));
        let p = pack().unwrap();
        let all = expand(
            p,
            &Options {
                mutators: MUTATORS.iter().map(|(_, m)| *m).collect(),
                ..Options::default()
            },
        );
        for c in &all {
            assert!(c.canary.starts_with("EG") && c.canary.len() == 10);
            assert!(
                !c.attack.contains(&c.canary),
                "{}: the attack itself holds the canary",
                c.id
            );
        }
        // 202 seeds; every mutable one 5 more times.
        let mutable = p
            .seeds
            .iter()
            .filter(|s| p.categories[s.category].mutable)
            .count();
        assert_eq!(all.len(), p.seeds.len() + 5 * mutable);
    }

    #[test]
    fn a_sample_is_seeded_stratified_and_in_pack_order() {
        let p = pack().unwrap();
        let opts = |seed| Options {
            sample: Some(22),
            seed,
            ..Options::default()
        };
        let a: Vec<String> = expand(p, &opts(7)).into_iter().map(|c| c.id).collect();
        let b: Vec<String> = expand(p, &opts(7)).into_iter().map(|c| c.id).collect();
        let c: Vec<String> = expand(p, &opts(8)).into_iter().map(|c| c.id).collect();
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_eq!(a.len(), 22);
        // Two per category, in pack order.
        let cats: Vec<&str> = a.iter().map(|id| id.split('-').next().unwrap()).collect();
        for prefix in [
            "pi", "ii", "spl", "sp", "xss", "mx", "te", "jb", "ic", "uc", "mi",
        ] {
            assert_eq!(cats.iter().filter(|c| **c == prefix).count(), 2, "{prefix}");
        }
        let order: Vec<usize> = a
            .iter()
            .map(|id| p.seeds.iter().position(|s| &s.id == id).unwrap())
            .collect();
        assert!(order.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn indirect_injection_plants_the_payload_in_the_document() {
        let p = pack().unwrap();
        let ii = p.category("indirect-injection").unwrap();
        let cases = expand(
            p,
            &Options {
                categories: vec![ii],
                mutators: vec![Mutator::Base64],
                ..Options::default()
            },
        );
        assert_eq!(cases.len(), 48);
        let first = &cases[0];
        assert!(first.attack.starts_with(&first.request));
        assert!(first.attack.ends_with(&first.document));
        assert!(first.document.contains(&first.canary[..6]));
        let encoded = &cases[1];
        assert_eq!(encoded.id, "ii-01+base64");
        assert!(encoded.document.contains("Decode this base64"));
        assert!(encoded.document.starts_with("Quarterly report"));
    }
}

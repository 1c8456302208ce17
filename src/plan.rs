//! Arguments + config + suites → a validated run plan.
//!
//! Loading collects every problem in every file before returning; nothing runs
//! on invalid input. The plan streams its cases (dataset rows are read lazily),
//! applying `--filter` and `--tag`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use globset::{Glob, GlobSet, GlobSetBuilder};
use minijinja::Environment;
use sha2::{Digest, Sha256};

use crate::config::project::{ProjectConfig, ProviderKind};
use crate::error::{did_you_mean, display_path, Diagnostic, Error, Pos};
use crate::provider::build::{BuildOptions, Mode};
use crate::provider::{mock::Mock, mock::MockResponses, Provider, Registry};
use crate::suite::{self, CaseDef, LoadContext, Suite};
use crate::template;

/// What the user selected on the command line.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    /// Config file; `None` means `evalgate.yaml` in the working directory.
    pub config: Option<PathBuf>,
    /// Suite files or directories; empty means the config's `suites` globs.
    pub paths: Vec<PathBuf>,
    /// Globs on `suite/case`.
    pub filters: Vec<String>,
    pub tags: Vec<String>,
    /// Run every suite against these providers instead of its own (several
    /// = a provider matrix).
    pub providers: Vec<String>,
    /// How providers are built: live, `--record`, `--replay`, cache.
    pub build: BuildOptions,
    /// `evalgate scan`: this suite text (the adversarial pack on its own)
    /// instead of the project's suites.
    pub scan: Option<String>,
}

pub struct PlannedSuite {
    pub suite: Arc<Suite>,
    pub provider_name: String,
    pub provider: Arc<dyn Provider>,
}

pub struct Plan {
    pub config: ProjectConfig,
    pub suites: Vec<PlannedSuite>,
    /// Holds every prompt template, shared by the engine.
    pub env: Arc<Environment<'static>>,
    /// Every provider the run calls, by name (the suites' and the checks').
    pub providers: Arc<Registry>,
    /// `sha256:` over evalgate.yaml and every suite file.
    pub config_hash: String,
    /// The same without the goldens (a run may write them): what the
    /// journal of `run --resume` names as the run's inputs.
    pub(crate) inputs_hash: String,
    /// More than one `--provider`: every suite runs against each.
    pub matrix: bool,
    /// Problems that do not stop a run (e.g. goldens shared by the
    /// providers of a matrix), printed by `validate` and `run`.
    pub warnings: Vec<String>,
    /// Set with `--record`: flush it when the run ends.
    pub recorder: Option<Arc<crate::provider::cassette::Recorder>>,
    /// The price of each provider's tokens (`pricing:`, the built-in table).
    pub(crate) pricing: Arc<crate::config::pricing::Pricing>,
    filter: Option<GlobSet>,
    tags: Vec<String>,
    /// `--sample`: the seed, and per planned suite which cases are in it.
    sample: Option<(u64, Vec<Cut>)>,
    /// `--shard K/N`: only the cases of this shard are streamed.
    shard: Option<crate::shard::Shard>,
}

/// Which cases of a planned suite a sample keeps.
#[derive(Debug, Clone, Copy)]
enum Cut {
    All,
    Nothing,
    /// Those whose sample hash is at most this.
    UpTo(u64),
}

/// `--sample N` or `--sample 10%`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum SampleSize {
    Cases(u64),
    Percent(f64),
}

impl std::str::FromStr for SampleSize {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let t = s.trim();
        if let Some(p) = t.strip_suffix('%') {
            match p.trim().parse::<f64>() {
                Ok(v) if v > 0.0 && v <= 100.0 => Ok(SampleSize::Percent(v)),
                _ => Err(format!(
                    "`{s}` is not a percentage in (0, 100]; e.g. `--sample 10%`"
                )),
            }
        } else {
            match t.parse::<u64>() {
                Ok(n) if n > 0 => Ok(SampleSize::Cases(n)),
                _ => Err(format!(
                    "`{s}` is not a positive number of cases or a percentage; e.g. `--sample 50` or `--sample 10%`"
                )),
            }
        }
    }
}

/// The sample hash of a case: SHA-256 of (seed, suite, case id), its first
/// 8 bytes. The same case is in the sample of every provider of a matrix
/// and stays in it when other cases are added.
fn sample_hash(seed: u64, suite: &str, case: &str) -> u64 {
    let mut h = Sha256::new();
    h.update(seed.to_le_bytes());
    h.update(suite.as_bytes());
    h.update([0]);
    h.update(case.as_bytes());
    let d = h.finalize();
    let mut b = [0u8; 8];
    b.copy_from_slice(&d[..8]);
    u64::from_be_bytes(b)
}

/// How many of each suite's `sizes` cases a sample of `size` takes: a
/// percentage takes ⌈p·n⌉ of every suite; a number N gives every non-empty
/// suite one case (when N is at least the number of such suites), then the
/// rest in proportion to the suites' sizes (largest remainders first, ties
/// to the earlier suite).
fn allocate(size: SampleSize, sizes: &[u64]) -> Vec<u64> {
    match size {
        SampleSize::Percent(p) => sizes
            .iter()
            .map(|&n| {
                (((n as f64) * p / 100.0) - 1e-9)
                    .ceil()
                    .clamp(0.0, n as f64) as u64
            })
            .collect(),
        SampleSize::Cases(want) => {
            let total: u64 = sizes.iter().sum();
            if want >= total {
                return sizes.to_vec();
            }
            let non_empty = sizes.iter().filter(|&&n| n > 0).count() as u64;
            let base: Vec<u64> = if want >= non_empty {
                sizes.iter().map(|&n| u64::from(n > 0)).collect()
            } else {
                vec![0; sizes.len()]
            };
            let rest = want - base.iter().sum::<u64>();
            let room: Vec<u64> = sizes.iter().zip(&base).map(|(n, b)| n - b).collect();
            let room_total: u64 = room.iter().sum();
            let mut take: Vec<u64> = Vec::with_capacity(sizes.len());
            let mut remainders: Vec<(u128, usize)> = Vec::new();
            for (i, r) in room.iter().enumerate() {
                let exact = u128::from(*r) * u128::from(rest);
                let q = if room_total == 0 {
                    0
                } else {
                    exact / u128::from(room_total)
                };
                take.push(base[i] + q as u64);
                if room_total > 0 {
                    remainders.push((exact % u128::from(room_total), i));
                }
            }
            let mut left = want - take.iter().sum::<u64>();
            remainders.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
            for (_, i) in remainders {
                if left == 0 {
                    break;
                }
                if take[i] < sizes[i] {
                    take[i] += 1;
                    left -= 1;
                }
            }
            take
        }
    }
}

/// A selected case: (its planned suite, the case).
type SuiteCase = (usize, Arc<CaseDef>);

/// One case to run.
pub struct PlannedCase {
    pub suite: usize,
    pub case: Arc<CaseDef>,
    /// Its place in the whole run's plan order (0-based), also in a shard.
    pub seq: u64,
}

impl Plan {
    /// Load config and suites, validate everything, build providers.
    ///
    /// The phases run one after another on whatever the earlier ones could
    /// read, and every problem they find is reported in one batch (sorted by
    /// file and position): fixing it never reveals a second batch.
    pub fn load(sel: &Selection) -> Result<Plan, Error> {
        let (config_path, explicit) = match &sel.config {
            Some(p) => (p.clone(), true),
            None => (PathBuf::from("evalgate.yaml"), false),
        };
        // Config problems are collected, not fatal: the suites are still validated.
        let (config, mut diags) = ProjectConfig::load(&config_path, explicit);
        check_provider_flags(&config, &sel.providers, diags.is_empty())?;
        let mocks = load_mocks(&config, &mut diags);
        let files = match &sel.scan {
            Some(_) => Vec::new(),
            None => discover(&config, &sel.paths, &mut diags)?,
        };
        let before = diags.len();
        let (mut suites, mut env, mut hasher) = load_suites(&config, &files, &mut diags);
        if let Some(text) = &sel.scan {
            let known: Vec<String> = config.providers.keys().cloned().collect();
            let mut lcx = LoadContext {
                root: &config.root,
                providers: config.complete.then_some(known.as_slice()),
                env: &mut env,
            };
            match suite::load_text(Path::new(SCAN_SUITE_FILE), text, &mut lcx) {
                Ok(s) => suites.push(s),
                Err(mut d) => diags.append(&mut d),
            }
            hasher.update(text.as_bytes());
        }
        // A suite with errors is not in `suites`: the gate may name it (or
        // its tags) without being wrong, so those names are not checked.
        let broken: Vec<&PathBuf> = files
            .iter()
            .filter(|f| diags[before..].iter().any(|d| &d.file == *f))
            .collect();
        if sel.paths.is_empty() {
            check_gate_names(&config, &suites, &broken, &mut diags);
        }
        check_suite_names(&config, &suites, &mut diags);
        check_check_providers(&config, &suites, &mut diags);
        let probed = config.providers.values().any(|p| !p.probes.is_empty());
        crate::probe::check_name(&suites, probed, &mut diags);

        let filter = build_filter(&sel.filters)?;
        let runs = assign_providers(&config, suites, &sel.providers, &mut diags);
        // The probes of every provider the suites run against.
        let run_providers = unique(runs.iter().flat_map(|(_, names)| names.iter()));
        let probe_suites = crate::probe::suites(
            &config,
            &run_providers,
            sel.build.mode == Mode::Replay,
            &mut env,
        );
        // Only providers with a selected case are built (and need credentials).
        let judge = config.judge_provider.as_ref().map(|(n, _)| n.as_str());
        let used = used_providers(&runs, filter.as_ref(), &sel.tags, judge);
        let recorder = (sel.build.connect && sel.build.mode == Mode::Record)
            .then(|| crate::provider::cassette::Recorder::new(config.cassettes_dir.clone()));
        let mut registry = Registry::default();
        registry.set_judge(config.judge_provider.as_ref().map(|(n, _)| n.clone()));
        for name in used.iter().filter(|n| config.providers.contains_key(*n)) {
            match crate::provider::build::build(
                &config,
                name,
                &sel.build,
                &mocks,
                recorder.as_ref(),
            ) {
                Ok(p) => registry.insert(name.clone(), p),
                Err(mut d) => diags.append(&mut d),
            }
        }
        let mut planned = plan_suites(runs, &registry);
        for s in probe_suites {
            let Some((name, _)) = s.provider.clone() else {
                continue;
            };
            let live = sel.build.connect && sel.build.mode != Mode::Replay;
            let selected = s
                .cases
                .iter()
                .any(|c| selects(filter.as_ref(), &sel.tags, &s, c));
            let provider: Arc<dyn Provider> = if live && selected {
                match crate::provider::build::probe_target(&config, &name) {
                    Ok(target) => {
                        let probes = config
                            .providers
                            .get(&name)
                            .map(|pc| pc.probes.clone())
                            .unwrap_or_default();
                        let runner = crate::probe::ProbeRunner::new(&name, target, probes);
                        Arc::new(crate::provider::Redacting::new(Arc::new(runner)))
                    }
                    Err(mut d) => {
                        diags.append(&mut d);
                        continue;
                    }
                }
            } else {
                // Never called: not selected, skipped under --replay, or not a run.
                Arc::new(crate::provider::echo::Echo::new(&name))
            };
            planned.push(PlannedSuite {
                suite: Arc::new(s),
                provider_name: name,
                provider,
            });
        }
        let mut warnings = Vec::new();
        let goldens = check_golden_collisions(&planned, &mut diags, &mut warnings)?;
        if !diags.is_empty() {
            // Report in reading order: by file, then line and column.
            diags.sort_by_key(|d| (d.file.clone(), d.pos.map(|p| (p.line, p.col))));
            diags.dedup_by(|a, b| a.file == b.file && a.pos == b.pos && a.message == b.message);
            return Err(Error::from(diags));
        }
        // Replay hashes the cassettes also when nothing connects (`evalgate
        // merge` rebuilds a replayed run's plan to check its hash).
        let replay_all = sel.build.mode == Mode::Replay;
        let mut inputs_hasher = hasher.clone();
        hash_inputs(
            &config,
            &planned,
            &goldens,
            replay_all,
            [&mut hasher, &mut inputs_hasher],
        );
        let config_hash = format!("sha256:{:x}", hasher.finalize());
        let inputs_hash = format!("sha256:{:x}", inputs_hasher.finalize());
        Ok(Plan {
            suites: planned,
            env: Arc::new(env),
            providers: Arc::new(registry),
            config_hash,
            inputs_hash,
            matrix: sel.providers.len() > 1,
            warnings,
            recorder,
            pricing: Arc::new(crate::config::pricing::Pricing::new(&config.providers)),
            config,
            filter,
            tags: sel.tags.clone(),
            sample: None,
            shard: None,
        })
    }

    /// Suite names in plan order, each once (a matrix plans a suite once
    /// per provider).
    pub fn suite_names(&self) -> Vec<String> {
        unique(self.suites.iter().map(|s| &s.suite.name))
    }

    /// Suites planned against several providers outside a matrix (the
    /// `probes` suite of several probed providers).
    pub fn multi_provider_suites(&self) -> Vec<String> {
        if self.matrix {
            return Vec::new();
        }
        let mut seen = std::collections::HashSet::new();
        let mut out = Vec::new();
        for s in &self.suites {
            if !seen.insert(s.suite.name.as_str()) && !out.contains(&s.suite.name) {
                out.push(s.suite.name.clone());
            }
        }
        out
    }

    /// Provider names in plan order, each once.
    pub fn provider_names(&self) -> Vec<String> {
        unique(self.suites.iter().map(|s| &s.provider_name))
    }

    /// Whether `--filter` and `--tag` select this case.
    pub fn selects(&self, suite: &Suite, case: &CaseDef) -> bool {
        selects(self.filter.as_ref(), &self.tags, suite, case)
    }

    /// Keep a seeded sample of the selected cases, stratified by planned
    /// suite (see [`allocate`]): in each suite, the cases with the smallest
    /// [`sample_hash`]. Returns (cases in the sample, cases selected).
    pub fn set_sample(&mut self, size: SampleSize, seed: u64) -> Result<(u64, u64), Error> {
        self.sample = None;
        let mut hashes: Vec<Vec<u64>> = vec![Vec::new(); self.suites.len()];
        // Over the whole run, not a shard: every shard samples alike.
        for c in self.all_cases() {
            let c = c?;
            let name = &self.suites[c.suite].suite.name;
            hashes[c.suite].push(sample_hash(seed, name, &c.case.id));
        }
        let sizes: Vec<u64> = hashes.iter().map(|h| h.len() as u64).collect();
        let take = allocate(size, &sizes);
        let mut cuts = Vec::with_capacity(hashes.len());
        for (mut h, &k) in hashes.into_iter().zip(&take) {
            cuts.push(if k as usize >= h.len() {
                Cut::All
            } else if k == 0 {
                Cut::Nothing
            } else {
                let (_, kth, _) = h.select_nth_unstable((k - 1) as usize);
                Cut::UpTo(*kth)
            });
        }
        self.sample = Some((seed, cuts));
        Ok((take.iter().sum(), sizes.iter().sum()))
    }

    fn sampled(&self, suite: usize, case: &CaseDef) -> bool {
        let Some((seed, cuts)) = &self.sample else {
            return true;
        };
        match cuts.get(suite) {
            None | Some(Cut::All) => true,
            Some(Cut::Nothing) => false,
            Some(Cut::UpTo(cut)) => {
                sample_hash(*seed, &self.suites[suite].suite.name, &case.id) <= *cut
            }
        }
    }

    /// Run only the cases of this shard (see [`crate::shard`]).
    pub(crate) fn set_shard(&mut self, shard: Option<crate::shard::Shard>) {
        self.shard = shard;
    }

    /// Every selected case in order (suite, then case), streamed; with a
    /// shard, those of the shard, each with its seq in the whole run.
    pub fn cases(&self) -> impl Iterator<Item = Result<PlannedCase, Error>> + Send + '_ {
        let shard = self.shard;
        self.all_cases().filter(move |c| match (c, shard) {
            (Ok(pc), Some(s)) => s.contains(&self.suites[pc.suite].suite.name, &pc.case.id),
            _ => true,
        })
    }

    /// Every selected case of the whole run (no shard), numbered.
    fn all_cases(&self) -> impl Iterator<Item = Result<PlannedCase, Error>> + Send + '_ {
        let mut seq = 0u64;
        self.selected_cases().map(move |c| {
            c.map(|(suite, case)| {
                seq += 1;
                PlannedCase {
                    suite,
                    case,
                    seq: seq - 1,
                }
            })
        })
    }

    /// Every selected case in order: (planned suite, case).
    fn selected_cases(&self) -> impl Iterator<Item = Result<SuiteCase, Error>> + Send + '_ {
        self.suites.iter().enumerate().flat_map(move |(i, ps)| {
            let iter: Box<dyn Iterator<Item = Result<SuiteCase, Error>> + Send> =
                match ps.suite.iter_cases() {
                    Ok(cases) => Box::new(cases.filter_map(move |c| {
                        match c {
                            Ok(case) => (self.selects(&ps.suite, &case) && self.sampled(i, &case))
                                .then_some(Ok((i, case))),
                            Err(e) => Some(Err(Error::Infrastructure(format!(
                                "dataset changed during the run: {e}"
                            )))),
                        }
                    })),
                    Err(e) => Box::new(std::iter::once(Err(Error::Infrastructure(e)))),
                };
            iter
        })
    }

    /// Every golden file a case of this plan uses (all cases, ignoring filters).
    pub fn golden_paths(
        &self,
        store: &crate::golden::Store,
    ) -> Result<std::collections::HashSet<PathBuf>, Error> {
        let mut used = std::collections::HashSet::new();
        for ps in &self.suites {
            let cases = ps.suite.iter_cases().map_err(Error::Infrastructure)?;
            for case in cases {
                let case = case.map_err(Error::Infrastructure)?;
                for (name, g) in case.goldens() {
                    if g.per_provider {
                        // Any provider may run this suite (`--provider`): keep them all.
                        for provider in self.config.providers.keys() {
                            used.insert(store.path_for(
                                &ps.suite.name,
                                &name,
                                Some(provider),
                                g.ext(),
                            ));
                        }
                    } else {
                        used.insert(store.path_for(&ps.suite.name, &name, None, g.ext()));
                    }
                }
            }
        }
        Ok(used)
    }

    /// The number of cases when every case of every suite runs once (no
    /// `--filter`, `--tag`, `--sample` or shard, no prompt variants): the
    /// rows counted when the suites were loaded, without reading the
    /// datasets again.
    fn every_case_count(&self) -> Option<u64> {
        let everything = self.filter.is_none()
            && self.tags.is_empty()
            && self.sample.is_none()
            && self.shard.is_none()
            && self.suites.iter().all(|ps| ps.suite.variants.is_empty());
        everything.then(|| self.suites.iter().map(|ps| ps.suite.len() as u64).sum())
    }

    /// Count the selected cases of the whole run, whatever the shard.
    pub(crate) fn whole_count(&self) -> Result<u64, Error> {
        let mut n = 0;
        for c in self.all_cases() {
            c?;
            n += 1;
        }
        Ok(n)
    }

    /// Count the selected cases (reads datasets once more).
    pub fn count(&self) -> Result<u64, Error> {
        Ok(self.selected()?.0)
    }

    /// The number of selected cases and the names of the suites that have
    /// at least one (in plan order, each once): with `--filter`/`--tag`, a
    /// suite with no selected case is not part of the run.
    pub fn selected(&self) -> Result<(u64, Vec<String>), Error> {
        let mut n = 0;
        let mut names: Vec<String> = Vec::new();
        if let Some(all) = self.every_case_count() {
            for ps in self.suites.iter().filter(|ps| !ps.suite.is_empty()) {
                if !names.contains(&ps.suite.name) {
                    names.push(ps.suite.name.clone());
                }
            }
            return Ok((all, names));
        }
        let mut last = None;
        for c in self.cases() {
            let c = c?;
            n += 1;
            if last != Some(c.suite) {
                last = Some(c.suite);
                let name = &self.suites[c.suite].suite.name;
                if !names.contains(name) {
                    names.push(name.clone());
                }
            }
        }
        Ok((n, names))
    }
}

/// `--provider` must name defined providers (checked once the config is valid).
fn check_provider_flags(
    config: &ProjectConfig,
    flags: &[String],
    config_valid: bool,
) -> Result<(), Error> {
    if !config_valid {
        return Ok(());
    }
    let defined: Vec<&str> = config.providers.keys().map(String::as_str).collect();
    for p in flags {
        if !config.providers.contains_key(p) {
            let hint = did_you_mean(p, defined.iter().copied()).map_or_else(
                || format!("defined providers: {}", defined.join(", ")),
                |s| format!("did you mean `{s}`?"),
            );
            return Err(Error::Usage(format!(
                "unknown provider `{p}` given to --provider\n  = hint: {hint}"
            )));
        }
    }
    Ok(())
}

/// Mock providers with their responses, validated whether or not the run uses them.
fn load_mocks(
    config: &ProjectConfig,
    diags: &mut Vec<Diagnostic>,
) -> BTreeMap<String, Arc<dyn Provider>> {
    let mut mocks: BTreeMap<String, Arc<dyn Provider>> = BTreeMap::new();
    for (name, pc) in &config.providers {
        let ProviderKind::Mock {
            responses,
            latency,
            model,
        } = &pc.kind
        else {
            continue;
        };
        let loaded = match responses {
            Some(path) => match MockResponses::load(path) {
                Ok(r) => r,
                Err(d) => {
                    let used_by = format!(
                        "this file is the `responses` of provider `{name}` in {}",
                        config
                            .path
                            .as_deref()
                            .map_or_else(|| "evalgate.yaml".to_string(), display_path)
                    );
                    diags.extend(d.into_iter().map(|mut d| {
                        d.hint = Some(match d.hint.take() {
                            Some(h) => format!("{h}; {used_by}"),
                            None => used_by.clone(),
                        });
                        d
                    }));
                    continue;
                }
            },
            None => MockResponses::default(),
        };
        mocks.insert(
            name.clone(),
            Arc::new(Mock::new(name, model.clone(), loaded, *latency)),
        );
    }
    mocks
}

/// The file name `evalgate scan`'s suite reports as its source.
pub(crate) const SCAN_SUITE_FILE: &str = "<evalgate scan>";

/// Decode every suite file (templates go into one environment) and start
/// the audit hash over evalgate.yaml and the suite files.
fn load_suites(
    config: &ProjectConfig,
    files: &[PathBuf],
    diags: &mut Vec<Diagnostic>,
) -> (Vec<Suite>, Environment<'static>, Sha256) {
    // Suites may name providers whose definition is broken (already reported).
    let mut known_names: Vec<String> = config.providers.keys().cloned().collect();
    known_names.extend(config.broken_providers.iter().cloned());
    let mut env = template::environment();
    let mut suites: Vec<Suite> = Vec::new();
    let mut hasher = Sha256::new();
    hasher.update(config.text.as_bytes());
    for f in files {
        let mut lcx = LoadContext {
            root: &config.root,
            providers: config.complete.then_some(known_names.as_slice()),
            env: &mut env,
        };
        match suite::load(f, &mut lcx) {
            Ok(s) => suites.push(s),
            Err(mut d) => diags.append(&mut d),
        }
        hasher.update(display_path(f).as_bytes());
        if let Ok(mut file) = crate::util::fsafe::open(f, crate::util::fsafe::Kind::Suite, false) {
            let _ = std::io::copy(&mut file, &mut hasher);
        }
    }
    (suites, env, hasher)
}

/// Gate thresholds for suites or tags that do not exist would never apply.
/// The names a suite file that could not be loaded may have: its file name
/// and a top-level `name:` line.
fn names_of_broken_suite(file: &Path) -> Vec<String> {
    let mut names: Vec<String> = file
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .into_iter()
        .collect();
    // Through the same guard as every input: a FIFO or a link is not read.
    if let Ok(text) =
        crate::util::fsafe::read_to_string(file, crate::util::fsafe::Kind::Suite, false)
    {
        for line in text.lines() {
            if let Some(v) = line.strip_prefix("name:") {
                names.push(v.trim().trim_matches(['"', '\'']).to_string());
            }
        }
    }
    names
}

fn check_gate_names(
    config: &ProjectConfig,
    suites: &[Suite],
    broken: &[&PathBuf],
    diags: &mut Vec<Diagnostic>,
) {
    let Some(cfg_path) = config.path.as_ref().filter(|_| config.complete) else {
        return;
    };
    let broken_names: Vec<String> = broken
        .iter()
        .flat_map(|f| names_of_broken_suite(f))
        .collect();
    let mut suite_names: Vec<&str> = suites.iter().map(|s| s.name.as_str()).collect();
    if config.providers.values().any(|p| !p.probes.is_empty()) {
        suite_names.push(crate::probe::SUITE);
    }
    let mut tags: std::collections::BTreeSet<&str> = std::collections::BTreeSet::new();
    for s in suites {
        tags.extend(s.tags.iter().map(String::as_str));
        for c in &s.cases {
            tags.extend(c.tags.iter().map(String::as_str));
        }
        if let Some(d) = &s.dataset {
            tags.extend(d.tags.iter().map(String::as_str));
        }
    }
    for (kind, name, pos) in &config.gate_names {
        // A broken suite may be the one named, or define the tag.
        if (*kind == "suite" && broken_names.contains(name))
            || (*kind != "suite" && !broken.is_empty())
        {
            continue;
        }
        let known: Vec<&str> = if *kind == "suite" {
            suite_names.clone()
        } else {
            tags.iter().copied().collect()
        };
        if !known.contains(&name.as_str()) {
            let hint = match did_you_mean(name, known.iter().copied()) {
                Some(k) => format!("did you mean `{k}`?"),
                None if known.is_empty() => format!("no suite defines any {kind}s"),
                None => format!("known {kind}s: {}", known.join(", ")),
            };
            diags.push(
                Diagnostic::new(
                    cfg_path,
                    Some(*pos),
                    format!("the gate names {kind} `{name}`, which no suite defines"),
                )
                .with_source(&config.text)
                .with_hint(hint),
            );
        }
    }
}

/// Suite names are unique, and suite and provider names do not differ only
/// in case: they would share golden and cassette files on case-insensitive
/// file systems.
fn check_suite_names(config: &ProjectConfig, suites: &[Suite], diags: &mut Vec<Diagnostic>) {
    let mut seen: BTreeMap<String, PathBuf> = BTreeMap::new();
    let mut lower: BTreeMap<String, String> = BTreeMap::new();
    for s in suites {
        if let Some(prev) = seen.insert(s.name.clone(), s.file.clone()) {
            diags.push(
                Diagnostic::new(
                    &s.file,
                    None,
                    format!(
                        "duplicate suite name `{}` (also used by {})",
                        s.name,
                        display_path(&prev)
                    ),
                )
                .with_hint("set a unique `name:` in one of the two files"),
            );
            continue;
        }
        if let Some(other) = lower.insert(s.name.to_lowercase(), s.name.clone()) {
            diags.push(
                Diagnostic::new(&s.file, None, format!("suites `{other}` and `{}` differ only in case", s.name))
                    .with_hint("rename one: they would share golden and cassette files on case-insensitive file systems"),
            );
        }
    }
    let mut lower_p: BTreeMap<String, String> = BTreeMap::new();
    for name in config.providers.keys() {
        if let Some(other) = lower_p.insert(name.to_lowercase(), name.clone()) {
            diags.push(
                Diagnostic::new(
                    config.path.clone().unwrap_or_else(|| PathBuf::from("evalgate.yaml")),
                    config.providers.get(name).and_then(|p| p.pos),
                    format!("providers `{other}` and `{name}` differ only in case"),
                )
                .with_source(&config.text)
                .with_hint("rename one: they would share golden and cassette files on case-insensitive file systems"),
            );
        }
    }
}

/// Every check of a suite, inline cases and dataset template alike.
fn suite_checks(s: &Suite) -> impl Iterator<Item = &Arc<crate::check::CheckSpec>> {
    s.cases
        .iter()
        .flat_map(|c| c.checks.iter())
        .chain(s.dataset.iter().flat_map(|d| d.checks.iter()))
}

/// The provider a check's reference resolves to: its name, or the
/// `judge_provider` for a check that names none.
fn resolved_name<'c>(
    config: &'c ProjectConfig,
    r: &'c crate::check::ProviderRef,
) -> Option<&'c str> {
    if r.name.is_empty() {
        config.judge_provider.as_ref().map(|(n, _)| n.as_str())
    } else {
        Some(r.name.as_str())
    }
}

/// A provider a check names (a grader) must be defined, and fit for the
/// call: a chat model for a judge, `embeddings_model` for `similar`.
fn check_check_providers(config: &ProjectConfig, suites: &[Suite], diags: &mut Vec<Diagnostic>) {
    if !config.complete {
        return; // a broken provider definition was already reported
    }
    let defined: Vec<&str> = config.providers.keys().map(String::as_str).collect();
    for s in suites {
        let text =
            crate::util::fsafe::read_to_string(&s.file, crate::util::fsafe::Kind::Suite, false)
                .unwrap_or_default();
        let mut report = |pos, message: String, hint: String| {
            diags.push(
                Diagnostic::new(&s.file, pos, message)
                    .with_source(&text)
                    .with_hint(hint),
            );
        };
        for spec in suite_checks(s) {
            for r in spec.check.providers() {
                let Some(name) = resolved_name(config, &r) else {
                    report(
                        r.pos,
                        format!(
                            "check `{}` names no `provider`, and evalgate.yaml has no `judge_provider`",
                            spec.label()
                        ),
                        format!(
                            "add `provider: <name>` to the check, or `judge_provider: <name>` to evalgate.yaml (defined providers: {})",
                            defined.join(", ")
                        ),
                    );
                    continue;
                };
                let Some(pc) = config.providers.get(name) else {
                    if config.broken_providers.iter().any(|b| b == name) {
                        continue;
                    }
                    let hint = did_you_mean(name, defined.iter().copied()).map_or_else(
                        || format!("defined providers: {}", defined.join(", ")),
                        |d| format!("did you mean `{d}`?"),
                    );
                    report(
                        r.pos,
                        format!(
                            "check `{}` uses provider `{name}`, which evalgate.yaml does not define",
                            spec.label()
                        ),
                        hint,
                    );
                    continue;
                };
                let openai = match &pc.kind {
                    crate::config::project::ProviderKind::OpenAi(o) => Some(o),
                    _ => None,
                };
                if r.embeddings && openai.is_none_or(|o| o.embeddings_model.is_none()) {
                    report(
                        r.pos,
                        format!(
                            "check `{}` asks provider `{name}` for embeddings, but it has no `embeddings_model`",
                            spec.label()
                        ),
                        if openai.is_some() {
                            format!(
                                "add `embeddings_model: <model>` (e.g. text-embedding-3-small) to provider `{name}` in evalgate.yaml: it is sent to `POST {{base_url}}/embeddings`"
                            )
                        } else {
                            format!(
                                "provider `{name}` is of type `{}`: define a provider of type `openai` with `embeddings_model: <model>` (its `POST {{base_url}}/embeddings` answers) and name it in `provider:`",
                                pc.kind.type_name()
                            )
                        },
                    );
                } else if !r.embeddings && openai.is_some_and(|o| o.model.is_empty()) {
                    report(
                        r.pos,
                        format!(
                            "check `{}` asks provider `{name}` for a grade, but it has no `model` (it only serves embeddings)",
                            spec.label()
                        ),
                        format!(
                            "add `model: <chat model>` to provider `{name}` in evalgate.yaml, or name another provider"
                        ),
                    );
                }
            }
        }
    }
}

/// Which providers each suite runs against, in order: its own (or the
/// default), or every `--provider` of a matrix.
fn assign_providers(
    config: &ProjectConfig,
    suites: Vec<Suite>,
    flags: &[String],
    diags: &mut Vec<Diagnostic>,
) -> Vec<(Suite, Vec<String>)> {
    let mut runs = Vec::new();
    for s in suites {
        let names = if flags.is_empty() {
            match s.provider.as_ref().map(|(p, _)| p.clone()) {
                Some(p) => vec![p],
                None if config.default_provider.is_empty() => {
                    let known: Vec<&str> = config.providers.keys().map(String::as_str).collect();
                    diags.push(
                        Diagnostic::new(
                            &s.file,
                            None,
                            format!(
                                "suite `{}` names no provider, and evalgate.yaml has no `default_provider` (it defines {})",
                                s.name,
                                known.join(", ")
                            ),
                        )
                        .with_hint("add `provider: <name>` to the suite or `default_provider: <name>` to evalgate.yaml, or pass --provider"),
                    );
                    Vec::new()
                }
                None => vec![config.default_provider.clone()],
            }
        } else {
            unique(flags.iter())
        };
        runs.push((s, names));
    }
    runs
}

/// The providers of suites with a selected case, and every provider their
/// checks call, in plan order.
fn used_providers(
    runs: &[(Suite, Vec<String>)],
    filter: Option<&GlobSet>,
    tags: &[String],
    judge: Option<&str>,
) -> Vec<String> {
    let selected_any = |s: &Suite| -> bool {
        if filter.is_none() && tags.is_empty() {
            return true;
        }
        let Ok(cases) = s.iter_cases() else {
            return true;
        };
        cases.flatten().any(|c| selects(filter, tags, s, &c))
    };
    let mut used: Vec<String> = Vec::new();
    for (s, names) in runs.iter().filter(|(s, _)| selected_any(s)) {
        let from_checks = suite_checks(s)
            .flat_map(|c| c.check.providers())
            .filter_map(|r| {
                if r.name.is_empty() {
                    judge.map(str::to_string)
                } else {
                    Some(r.name)
                }
            });
        for n in names.iter().cloned().chain(from_checks) {
            if !used.contains(&n) {
                used.push(n);
            }
        }
    }
    used
}

/// One planned suite per suite × provider. A provider that was not built
/// (no selected case needs it, or its definition is broken) answers as an
/// echo that is never called.
fn plan_suites(runs: Vec<(Suite, Vec<String>)>, registry: &Registry) -> Vec<PlannedSuite> {
    let mut planned = Vec::new();
    for (s, names) in runs {
        let suite = Arc::new(s);
        for provider_name in names {
            let provider = match registry.get(&provider_name) {
                Some(p) => p.clone(),
                None => {
                    Arc::new(crate::provider::echo::Echo::new(&provider_name)) as Arc<dyn Provider>
                }
            };
            planned.push(PlannedSuite {
                suite: suite.clone(),
                provider_name,
                provider,
            });
        }
    }
    planned
}

/// Two cases may not share a golden file, also on case-insensitive file
/// systems (macOS, Windows checkouts of the same repository).
/// Longest file name most file systems allow (bytes).
const MAX_FILE_NAME: usize = 255;

/// A located error for a golden file name that is too long: at the case's
/// `id` (or its dataset row).
fn long_name_error(case: &CaseDef, name: &str, what: &str) -> Diagnostic {
    let (file, line) = match case.source.rsplit_once(':') {
        Some((f, l)) => (PathBuf::from(f), l.parse::<usize>().ok()),
        None => (PathBuf::from(&case.source), None),
    };
    let kind = match file.extension().and_then(|e| e.to_str()) {
        Some("csv" | "jsonl") => crate::util::fsafe::Kind::Dataset,
        _ => crate::util::fsafe::Kind::Suite,
    };
    let text = crate::util::fsafe::read_to_string(&file, kind, false).ok();
    let col = match (&text, line) {
        (Some(t), Some(l)) => t
            .lines()
            .nth(l.saturating_sub(1))
            .and_then(|src| src.find("id:").map(|c| src[..c].chars().count() + 5))
            .unwrap_or(1),
        _ => 1,
    };
    let mut d = Diagnostic::new(
        &file,
        line.map(|l| Pos::new(l, col)),
        format!(
            "{what} makes the golden file name {} bytes long (`{}…`); file systems allow {MAX_FILE_NAME}",
            name.len(),
            name.chars().take(40).collect::<String>()
        ),
    )
    .with_hint(
        "shorten it: letters, digits, `-` and `_` take one byte in a file name, every other character 3 or more (`%XX` per UTF-8 byte), plus the provider and `.txt.new`",
    );
    if let Some(t) = &text {
        d = d.with_source(t);
    }
    d
}

/// Checks the golden files of the plan (names that collide, names too long,
/// goldens a matrix shares) and returns them, relative to the golden
/// directory, for the audit hash.
fn check_golden_collisions(
    planned: &[PlannedSuite],
    diags: &mut Vec<Diagnostic>,
    warnings: &mut Vec<String>,
) -> Result<Vec<PathBuf>, Error> {
    let mut used = Vec::new();
    // A suite run against several providers (a matrix) with goldens they
    // share: each provider's output would replace the other's.
    let mut providers_of: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for ps in planned {
        providers_of
            .entry(ps.suite.name.as_str())
            .or_default()
            .push(ps.provider_name.as_str());
    }
    let mut warned = std::collections::HashSet::new();
    for ps in planned {
        let s = &ps.suite;
        let providers = &providers_of[s.name.as_str()];
        if providers.len() > 1
            && suite_checks(s).any(|c| c.check.golden().is_some_and(|g| !g.per_provider))
            && warned.insert(s.name.clone())
        {
            warnings.push(format!(
                "suite `{}` runs against {} and its goldens are shared: each provider's output is compared with (and under --update-golden writes) the same file\n  = hint: set `per_provider: true` on the `golden` check (or the suite's `defaults.golden`) to keep one golden per provider ({})",
                s.name,
                providers.iter().map(|p| format!("`{p}`")).collect::<Vec<_>>().join(", "),
                display_path(&s.file)
            ));
        }
        if s.variants.len() > 1
            && suite_checks(s).any(|c| c.check.golden().is_some_and(|g| !g.per_variant))
            && warned.insert(format!("{}@", s.name))
        {
            warnings.push(format!(
                "suite `{}` has {} prompt variants and its goldens are shared: each variant's output is compared with (and under --update-golden writes) the same file\n  = hint: set `per_variant: true` on the `golden` check (or the suite's `defaults.golden`) to keep one golden per variant ({})",
                s.name,
                s.variants.len(),
                display_path(&s.file)
            ));
        }
        if !suite_checks(s).any(|c| c.check.golden().is_some()) {
            continue;
        }
        let store = crate::golden::Store::new(PathBuf::new(), crate::golden::Writes::Nothing);
        let mut owners: std::collections::HashMap<String, String> =
            std::collections::HashMap::new();
        for case in s.iter_cases().map_err(Error::Infrastructure)? {
            let case = case.map_err(Error::Infrastructure)?;
            for (name, g) in case.goldens() {
                let provider = g.per_provider.then_some(ps.provider_name.as_str());
                let path = store.path_for(&s.name, &name, provider, g.ext());
                // The pending file is the longest name written.
                let pending = crate::golden::Store::pending_path(&path);
                let too_long = |p: Option<&std::ffi::OsStr>| {
                    p.map(|n| n.to_string_lossy().into_owned())
                        .filter(|n| n.len() > MAX_FILE_NAME)
                };
                if let Some(name) = too_long(pending.parent().and_then(Path::file_name)) {
                    diags.push(long_name_error(
                        &case,
                        &name,
                        &format!("suite name `{}`", s.name),
                    ));
                    break;
                }
                if let Some(name) = too_long(pending.file_name()) {
                    diags.push(long_name_error(&case, &name, "this case id"));
                    break;
                }
                let key = display_path(&path).to_lowercase();
                used.push(path.clone());
                match owners.get(&key) {
                    Some(other) if *other != case.id => diags.push(
                        Diagnostic::new(
                            &s.file,
                            None,
                            format!("cases `{other}` and `{}` would share the golden file `golden/{key}` (names differ only in case)", case.id),
                        )
                        .with_hint("rename one of them: case-insensitive file systems cannot hold both"),
                    ),
                    _ => {
                        owners.insert(key, case.id.clone());
                    }
                }
            }
        }
    }
    Ok(used)
}

/// The audit hash also covers every file that decides outcomes: mock
/// responses, datasets, JSON schema files, the goldens the cases compare
/// with and the cassettes a replay answers from (as they were when the run
/// started).
fn hash_inputs(
    config: &ProjectConfig,
    planned: &[PlannedSuite],
    goldens: &[PathBuf],
    replay_all: bool,
    // Everything, and everything but the goldens.
    [hasher, inputs_hasher]: [&mut Sha256; 2],
) {
    let mut inputs: std::collections::BTreeSet<PathBuf> = std::collections::BTreeSet::new();
    for pc in config.providers.values() {
        if let ProviderKind::Mock {
            responses: Some(p), ..
        } = &pc.kind
        {
            inputs.insert(p.clone());
        }
    }
    for ps in planned {
        let s = &ps.suite;
        if let Some(d) = &s.dataset {
            inputs.insert(d.path.clone());
        }
        for c in suite_checks(s) {
            inputs.extend(c.check.input_files());
        }
        let recorded = match config.providers.get(&ps.provider_name).map(|p| &p.kind) {
            Some(ProviderKind::Replay(r)) => Some(r.of.as_str()),
            Some(ProviderKind::Mock { .. } | ProviderKind::Echo) => None,
            Some(_) if replay_all => Some(ps.provider_name.as_str()),
            _ => None,
        };
        if let Some(name) = recorded {
            let cassette =
                crate::provider::cassette::path_for(&config.cassettes_dir, name, &s.name);
            if cassette.is_file() {
                inputs.insert(cassette);
            }
        }
    }
    let mut golden_files = std::collections::BTreeSet::new();
    for g in goldens {
        let path = config.golden_dir.join(g);
        if path.is_file() {
            inputs.insert(path.clone());
            golden_files.insert(path);
        }
    }
    for p in &inputs {
        let golden = golden_files.contains(p);
        let mut both = Both {
            all: &mut *hasher,
            inputs: (!golden).then_some(&mut *inputs_hasher),
        };
        let _ = std::io::Write::write_all(&mut both, display_path(p).as_bytes());
        // Streamed: a dataset may be large; a FIFO or link is refused (not hashed).
        if let Ok(mut file) = crate::util::fsafe::open(p, crate::util::fsafe::Kind::Dataset, true) {
            let _ = std::io::copy(&mut file, &mut both);
        }
    }
}

/// Feeds one read of a file to both hashes of [`hash_inputs`].
struct Both<'a> {
    all: &'a mut Sha256,
    inputs: Option<&'a mut Sha256>,
}

impl std::io::Write for Both<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.all.update(buf);
        if let Some(h) = self.inputs.as_mut() {
            h.update(buf);
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn unique<'a>(names: impl Iterator<Item = &'a String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for n in names {
        if !out.contains(n) {
            out.push(n.clone());
        }
    }
    out
}

/// Whether the `--filter` globs and `--tag` values select this case.
fn selects(filter: Option<&GlobSet>, tags: &[String], suite: &Suite, case: &CaseDef) -> bool {
    if let Some(f) = filter {
        if !f.is_match(format!("{}/{}", suite.name, case.id)) {
            return false;
        }
    }
    tags.is_empty() || tags.iter().any(|t| case.tags.contains(t))
}

fn build_filter(filters: &[String]) -> Result<Option<GlobSet>, Error> {
    if filters.is_empty() {
        return Ok(None);
    }
    let mut b = GlobSetBuilder::new();
    for f in filters {
        // A pattern without `/` selects whole suites: `capitals` = `capitals/*`.
        let patterns = if f.contains('/') {
            vec![f.clone()]
        } else {
            vec![f.clone(), format!("{f}/*")]
        };
        for p in patterns {
            let glob =
                Glob::new(&p).map_err(|e| Error::Usage(format!("invalid --filter {f:?}: {e}")))?;
            b.add(glob);
        }
    }
    b.build()
        .map(Some)
        .map_err(|e| Error::Usage(format!("invalid --filter: {e}")))
}

/// Find suite files: the paths given (files or directories), or the config's globs.
fn discover(
    config: &ProjectConfig,
    paths: &[PathBuf],
    diags: &mut Vec<Diagnostic>,
) -> Result<Vec<PathBuf>, Error> {
    let mut files = Vec::new();
    let is_suite = |p: &Path| {
        matches!(
            p.extension().and_then(|e| e.to_str()),
            Some("yaml" | "yml" | "json")
        )
    };
    if !paths.is_empty() {
        for p in paths {
            if p.is_dir() {
                walk(p, &mut files, &is_suite);
            } else if p.is_file() {
                files.push(p.clone());
            } else {
                diags.push(
                    Diagnostic::new(p, None, "suite file or directory not found")
                        .with_hint("check the path given on the command line"),
                );
            }
        }
    } else {
        let mut b = GlobSetBuilder::new();
        for g in &config.suites {
            let glob =
                Glob::new(g).map_err(|e| Error::Usage(format!("invalid suite glob {g:?}: {e}")))?;
            b.add(glob);
        }
        let set = b
            .build()
            .map_err(|e| Error::Usage(format!("invalid suite globs: {e}")))?;
        let mut all = Vec::new();
        let base = if config.root.as_os_str().is_empty() {
            PathBuf::from(".")
        } else {
            config.root.clone()
        };
        // Walk only the literal directories the globs start with (`suites/` for `suites/**/*.yaml`).
        let mut starts: Vec<PathBuf> = config
            .suites
            .iter()
            .map(|g| base.join(literal_prefix(g)))
            .collect();
        starts.sort();
        starts.dedup();
        for start in starts {
            // `suites -> /` or a glob `/etc/**` would walk the whole machine:
            // links are not followed, and globs stay inside the project.
            let checked = crate::util::fsafe::no_symlinks(&start)
                .and_then(|()| crate::util::fsafe::inside_project(&start));
            if let Err(e) = checked {
                diags.push(
                    Diagnostic::new(&start, None, format!("cannot read suites: {e}"))
                        .with_hint("suite directories must be real directories inside the project"),
                );
                continue;
            }
            walk(&start, &mut all, &|_| true);
        }
        for f in all {
            let rel = f.strip_prefix(&base).unwrap_or(&f);
            if set.is_match(rel) && is_suite(&f) {
                // A glob of the config (`../*.yaml`) may not reach outside the project.
                if let Err(e) = crate::util::fsafe::inside_project(&f) {
                    diags.push(
                        Diagnostic::new(&f, None, format!("cannot read suite file: {e}"))
                            .with_hint(
                            "keep suites inside the project, or name the file on the command line",
                        ),
                    );
                    continue;
                }
                files.push(f);
            }
        }
    }
    // The same file named twice (relative and absolute, `./a` and `a`) is loaded once.
    let mut seen = std::collections::HashSet::new();
    files.retain(|f| seen.insert(std::fs::canonicalize(f).unwrap_or_else(|_| f.clone())));
    files.sort();
    if files.is_empty() && diags.is_empty() {
        return Err(Error::Usage(format!(
            "no suite files found (looked for {})\n  = hint: add suites under suites/ or pass suite files as arguments",
            if paths.is_empty() { config.suites.join(", ") } else { "the given paths".to_string() }
        )));
    }
    Ok(files)
}

/// The leading path components of a glob that contain no glob syntax.
fn literal_prefix(glob: &str) -> PathBuf {
    let mut out = PathBuf::new();
    let parts: Vec<&str> = glob.split('/').collect();
    for (i, part) in parts.iter().enumerate() {
        if i + 1 == parts.len() || part.contains(['*', '?', '[', '{']) {
            break;
        }
        out.push(part);
    }
    out
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>, keep: &dyn Fn(&Path) -> bool) {
    let mut visited = std::collections::HashSet::new();
    walk_inner(dir, out, keep, &mut visited);
}

/// Depth-first walk that enters each real directory once (symlink loops end).
fn walk_inner(
    dir: &Path,
    out: &mut Vec<PathBuf>,
    keep: &dyn Fn(&Path) -> bool,
    visited: &mut std::collections::HashSet<PathBuf>,
) {
    let real = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
    if !visited.insert(real) {
        return;
    }
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    // `file_type` does not follow links: a link to a directory is never
    // walked into; a link that looks like a suite file is listed, and
    // refused with an error naming it when it is read.
    let mut entries: Vec<_> = entries
        .flatten()
        .map(|e| (e.path(), e.file_type().is_ok_and(|t| t.is_dir())))
        .collect();
    entries.sort();
    for (p, is_dir) in entries {
        let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if name.starts_with('.') || name == "target" || name == "node_modules" {
            continue;
        }
        if is_dir {
            walk_inner(&p, out, keep, visited);
        } else if keep(&p) {
            out.push(p);
        }
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn samples_are_allocated_per_suite() {
        use super::{allocate, SampleSize};
        // A share: ⌈p·n⌉ of every suite.
        assert_eq!(
            allocate(SampleSize::Percent(10.0), &[40, 10, 3, 0]),
            vec![4, 1, 1, 0]
        );
        assert_eq!(allocate(SampleSize::Percent(100.0), &[7, 2]), vec![7, 2]);
        // A number: one per suite, the rest in proportion (largest remainders).
        assert_eq!(allocate(SampleSize::Cases(6), &[40, 10]), vec![4, 2]);
        assert_eq!(
            allocate(SampleSize::Cases(10), &[5, 5, 5, 5]),
            vec![3, 3, 2, 2]
        );
        // Fewer than the suites: in proportion only.
        assert_eq!(
            allocate(SampleSize::Cases(1), &[1, 9]).iter().sum::<u64>(),
            1
        );
        // More than there is: everything.
        assert_eq!(allocate(SampleSize::Cases(100), &[4, 0, 2]), vec![4, 0, 2]);
        assert_eq!("10%".parse::<SampleSize>(), Ok(SampleSize::Percent(10.0)));
        assert_eq!("25".parse::<SampleSize>(), Ok(SampleSize::Cases(25)));
        assert!("0".parse::<SampleSize>().is_err() && "101%".parse::<SampleSize>().is_err());
    }

    use super::*;
    use crate::error::Pos;

    /// A check that names a provider, as a grader does.
    #[derive(Debug)]
    struct Names(&'static str);

    impl crate::check::Check for Names {
        fn evaluate<'a>(
            &'a self,
            _ctx: &'a crate::check::EvalCtx<'a>,
        ) -> crate::check::Evaluation<'a> {
            crate::check::Evaluation::Ready(crate::check::Eval::pass("ok"))
        }

        fn providers(&self) -> Vec<crate::check::ProviderRef> {
            vec![crate::check::ProviderRef {
                name: self.0.to_string(),
                pos: Some(Pos { line: 6, col: 7 }),
                embeddings: false,
            }]
        }
    }

    fn suite_with(dir: &Path, config: &ProjectConfig, provider: &'static str) -> Suite {
        let file = dir.join("s.yaml");
        std::fs::write(
            &file,
            "name: s\nprompt: \"{{ q }}\"\ncases:\n  - id: a\n    vars: {q: x}\n    checks:\n      - contains: x\n",
        )
        .unwrap();
        let mut env = template::environment();
        let mut lcx = LoadContext {
            root: &config.root,
            providers: None,
            env: &mut env,
        };
        let mut suite = suite::load(&file, &mut lcx).unwrap();
        let case = Arc::get_mut(&mut suite.cases[0]).unwrap();
        case.checks.push(Arc::new(crate::check::CheckSpec {
            kind: "grade",
            name: None,
            negate: false,
            weight: 1.0,
            check: Box::new(Names(provider)),
        }));
        suite
    }

    #[test]
    fn the_count_from_loading_is_the_count_of_cases_streamed() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::write(
            root.join("evalgate.yaml"),
            "default_provider: m\nproviders:\n  m: {type: echo}\n",
        )
        .unwrap();
        std::fs::create_dir(root.join("suites")).unwrap();
        std::fs::write(
            root.join("suites/a.yaml"),
            "name: a\nprompt: \"{{ q }}\"\ncases:\n  - id: one\n    vars: {q: x}\n    checks: [{contains: x}]\ncases_from:\n  path: rows.jsonl\n  checks: [{contains: x}]\n",
        )
        .unwrap();
        std::fs::write(
            root.join("rows.jsonl"),
            "{\"id\": \"r1\", \"q\": \"x\"}\n\n{\"id\": \"r2\", \"q\": \"y\"}\n",
        )
        .unwrap();
        std::fs::write(
            root.join("suites/b.yaml"),
            "name: b\nprompt: \"{{ q }}\"\ncases_from:\n  path: rows.csv\n  checks: [{contains: x}]\n",
        )
        .unwrap();
        std::fs::write(
            root.join("rows.csv"),
            "id,q\nc1,\"a,b\"\nc2,\"multi\nline\"\n",
        )
        .unwrap();
        let plan = Plan::load(&Selection {
            config: Some(root.join("evalgate.yaml")),
            ..Selection::default()
        })
        .unwrap();
        assert_eq!(plan.every_case_count(), Some(5));
        assert_eq!(plan.whole_count().unwrap(), 5);
        assert_eq!(
            plan.selected().unwrap(),
            (5, vec!["a".to_string(), "b".to_string()])
        );
    }

    #[test]
    fn a_provider_named_by_a_check_must_be_defined_and_is_built() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().join("evalgate.yaml");
        std::fs::write(
            &cfg,
            "providers:\n  grader: {type: echo}\n  main: {type: echo}\n",
        )
        .unwrap();
        let (config, errors) = ProjectConfig::load(&cfg, true);
        assert!(errors.is_empty(), "{errors:?}");

        let bad = suite_with(dir.path(), &config, "gradr");
        let mut diags = Vec::new();
        check_check_providers(&config, std::slice::from_ref(&bad), &mut diags);
        assert_eq!(diags.len(), 1);
        let text = diags[0].to_string();
        assert!(
            text.contains("s.yaml:6:7")
                && text.contains(
                    "check `grade` uses provider `gradr`, which evalgate.yaml does not define"
                )
                && text.contains("did you mean `grader`?"),
            "{text}"
        );

        let good = suite_with(dir.path(), &config, "grader");
        let mut diags = Vec::new();
        check_check_providers(&config, std::slice::from_ref(&good), &mut diags);
        assert!(diags.is_empty());
        let runs = vec![(good, vec!["main".to_string()])];
        assert_eq!(
            used_providers(&runs, None, &[], None),
            vec!["main", "grader"]
        );
    }
}

//! `evalgate merge`: the JSON reports of a run's shards (`run --shard K/N`)
//! in, one run's reports and verdict out, as if the run had been one.
//!
//! ```text
//! shard-1.json ─reader thread─┐
//! shard-2.json ─reader thread─┼─▶ k-way merge by seq ─CaseFinished─▶ aggregator (verdict)
//! shard-3.json ─reader thread─┘    (plan order)                     and every reporter
//! ```
//!
//! Every file is read streaming (`compare::stream_report`) on its own
//! thread, in batches over a bounded channel, so memory does not grow with
//! the number of results. First the heads (`run`) are checked together: one
//! run (config hash, selection, number of shards, evalgate version), every
//! shard once; then the project's plan is rebuilt from the shards' selection
//! and its config hash compared, and the merged `run` is built from it as a
//! run would build it. The cases then go, in plan order, through the same
//! [`Aggregator`] and reporters a run uses.

use std::collections::{BTreeMap, BinaryHeap};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};

use super::{
    apply_gate_flags, baseline_comparer, check_gate_flags, checked_report_targets, find_config,
    print_warnings, print_written, remove_stale_reports, set_colors,
};
use crate::cli::MergeArgs;
use crate::compare::{stream_report, Halt};
use crate::engine::{Aggregator, Totals};
use crate::error::{display_path, Error};
use crate::event::RunEvent;
use crate::exit;
use crate::model::{CaseResult, RunInfo, ShardInfo, StopReason};
use crate::plan::{Plan, Selection};
use crate::provider::build::{BuildOptions, Mode};
use crate::report::console::{ConsoleReporter, Verbosity};
use crate::report::Reporter;
use crate::shard::Shard;
use crate::util::fmt::plural;

/// Results cross from a reader thread in batches of this many.
const BATCH: usize = 64;
/// Batches waiting per reader: what a shard holds in memory is at most
/// (this + 2) batches.
const QUEUE: usize = 2;

const HINT: &str =
    "\n  = hint: merge the reports written by `evalgate run --shard K/N --json PATH`";

/// What a reader thread sends, in this order: the head, batches, the end.
enum Msg {
    Head(Box<RunInfo>),
    Cases(Vec<CaseResult>),
    /// The tail (`stopped`, `duration_ms`), or why the file could not be read.
    End(Result<crate::compare::ReportInfo, Error>),
}

/// One shard's report being merged.
struct Source {
    path: PathBuf,
    rx: Receiver<Msg>,
    info: RunInfo,
    shard: Shard,
    /// The batch being taken from (reversed: the next case is last).
    batch: Vec<CaseResult>,
    results: u64,
    /// Its tail was read.
    ended: bool,
    stopped: Option<String>,
    duration_ms: Option<f64>,
}

fn shown(p: &Path) -> String {
    display_path(p)
}

/// Start a reader thread for `path`.
fn spawn_reader(path: PathBuf) -> Receiver<Msg> {
    let (tx, rx) = sync_channel::<Msg>(QUEUE);
    std::thread::spawn(move || read_into(&path, &tx));
    rx
}

fn read_into(path: &Path, tx: &SyncSender<Msg>) {
    let head_sent = std::cell::Cell::new(false);
    let mut batch: Vec<CaseResult> = Vec::with_capacity(BATCH);
    let file = shown(path);
    let result = stream_report(
        path,
        HINT,
        |run: RunInfo| {
            head_sent.set(true);
            tx.send(Msg::Head(Box::new(run))).map_err(|_| Halt::Stop)
        },
        |case: CaseResult| {
            if !head_sent.get() {
                return Err(Halt::Problem(format!(
                    "{file}: its `results` come before its `run` object, so it was not written by evalgate{HINT}"
                )));
            }
            batch.push(case);
            if batch.len() >= BATCH {
                let full = std::mem::replace(&mut batch, Vec::with_capacity(BATCH));
                tx.send(Msg::Cases(full)).map_err(|_| Halt::Stop)?;
            }
            Ok(())
        },
    );
    if result.is_ok() && !batch.is_empty() && tx.send(Msg::Cases(batch)).is_err() {
        return;
    }
    let _ = tx.send(Msg::End(result));
}

/// Errors of several files at once: usage errors joined (exit 2); an
/// infrastructure error (a read failing midway) wins (exit 3).
fn combine(errors: Vec<Error>) -> Error {
    if let Some(i) = errors
        .iter()
        .position(|e| e.exit_code() == exit::INFRASTRUCTURE)
    {
        return errors.into_iter().nth(i).unwrap_or_else(|| {
            Error::Infrastructure("a shard report could not be read".to_string())
        });
    }
    let text: Vec<String> = errors
        .iter()
        .map(|e| e.to_string().trim_start_matches("error: ").to_string())
        .collect();
    Error::Usage(text.join("\nerror: "))
}

/// `a.json, b.json and c.json`.
fn files(paths: &[&Path]) -> String {
    let names: Vec<String> = paths.iter().map(|p| shown(p)).collect();
    match names.split_last() {
        None => String::new(),
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} and {last}", rest.join(", ")),
    }
}

/// The selection flags of a shard, as a command line shows them (the key
/// two shards must share).
fn selection_text(info: &RunInfo, s: &ShardInfo) -> String {
    let mut parts: Vec<String> = Vec::new();
    if s.scan.is_some() {
        parts.push("evalgate scan".to_string());
    }
    parts.extend(s.paths.iter().cloned());
    for p in &s.providers {
        parts.push(format!("--provider {p}"));
    }
    for f in &info.filters {
        parts.push(format!("--filter '{f}'"));
    }
    for t in &info.tags {
        parts.push(format!("--tag {t}"));
    }
    if let Some(sample) = &info.sample {
        parts.push(format!("--sample {} --seed {}", sample.spec, sample.seed));
    }
    if s.replay {
        parts.push("--replay".to_string());
    }
    if parts.is_empty() {
        "no selection flags".to_string()
    } else {
        format!("`{}`", parts.join(" "))
    }
}

/// Group the sources by a key: (key, its files), in first-seen order.
fn groups<K: PartialEq>(
    heads: &[(PathBuf, RunInfo)],
    key: impl Fn(&RunInfo) -> K,
) -> Vec<(K, Vec<&Path>)> {
    let mut out: Vec<(K, Vec<&Path>)> = Vec::new();
    for (p, info) in heads {
        let k = key(info);
        match out.iter_mut().find(|(g, _)| *g == k) {
            Some((_, v)) => v.push(p),
            None => out.push((k, vec![p.as_path()])),
        }
    }
    out
}

/// `a.json: X; b.json and c.json: Y`.
fn disagreement<K>(groups: &[(K, Vec<&Path>)], show: impl Fn(&K) -> String) -> String {
    groups
        .iter()
        .map(|(k, v)| format!("{} {}", files(v), show(k)))
        .collect::<Vec<_>>()
        .join("; ")
}

/// Check that the heads are the shards of one run, each once.
fn check_heads(heads: &[(PathBuf, RunInfo)]) -> Vec<Error> {
    let mut errors = Vec::new();
    let mut shards: Vec<(PathBuf, RunInfo, ShardInfo)> = Vec::new();
    for (p, info) in heads {
        match &info.shard {
            Some(s) => shards.push((p.clone(), info.clone(), s.clone())),
            None => errors.push(Error::Usage(format!(
                "{} is not a shard's report: it has no `run.shard`, so it was written by a run without --shard\n  = hint: run every part with `evalgate run --shard K/N --json PATH` and merge those reports (a whole run's report needs no merge)",
                shown(p)
            ))),
        }
    }
    if !errors.is_empty() {
        return errors;
    }
    let versions = groups(heads, |i| i.evalgate_version.clone());
    if versions.len() > 1 {
        errors.push(Error::Usage(format!(
            "the shards ran different versions of evalgate: {}\n  = hint: run every shard with the same evalgate release",
            disagreement(&versions, |v| format!("ran {v}"))
        )));
    }
    let hashes = groups(heads, |i| i.config_hash.clone());
    if hashes.len() > 1 {
        errors.push(Error::Usage(format!(
            "the shards ran different inputs: {}\n  = hint: every shard must run the same commit (evalgate.yaml, suites, datasets, goldens); re-run the odd ones out",
            disagreement(&hashes, |h| format!("ran config hash {h}"))
        )));
    }
    let selections = groups(heads, |i| {
        i.shard.as_ref().map(|s| {
            (
                selection_text(i, s),
                s.scan.clone(),
                i.filters.clone(),
                i.tags.clone(),
                i.sample.as_ref().map(|x| (x.spec.clone(), x.seed)),
            )
        })
    });
    if selections.len() > 1 {
        errors.push(Error::Usage(format!(
            "the shards selected different cases: {}\n  = hint: run every shard with the same suites and selection flags (--filter, --tag, --provider, --sample, --seed, --replay), changing only --shard",
            disagreement(&selections, |k| match k {
                Some((text, ..)) => format!("ran {text}"),
                None => String::new(),
            })
        )));
    }
    let totals = groups(heads, |i| i.shard.as_ref().map_or(0, |s| s.total));
    if totals.len() > 1 {
        errors.push(Error::Usage(format!(
            "the shards were split differently: {}\n  = hint: merge the shards of one run, all run with the same --shard …/N",
            disagreement(&totals, |n| format!("split the run into {n}"))
        )));
        return errors;
    }
    let total = totals.first().map_or(0, |(n, _)| *n);
    let mut by_index: BTreeMap<u32, Vec<&Path>> = BTreeMap::new();
    for (p, _, s) in &shards {
        if s.index == 0 || s.index > s.total {
            errors.push(Error::Usage(format!(
                "{} claims to be shard {}/{}, which does not exist (shards are numbered from 1 to {}){HINT}",
                shown(p),
                s.index,
                s.total,
                s.total
            )));
            continue;
        }
        by_index.entry(s.index).or_default().push(p);
    }
    for (k, paths) in &by_index {
        if paths.len() > 1 {
            errors.push(Error::Usage(format!(
                "shard {k}/{total} is given more than once: {}\n  = hint: give each shard's report once (if the shard ran twice, keep the report of the run you trust)",
                files(paths)
            )));
        }
    }
    let missing: Vec<String> = (1..=total)
        .filter(|k| !by_index.contains_key(k))
        .map(|k| format!("{k}/{total}"))
        .collect();
    if !missing.is_empty() {
        let given: Vec<String> = by_index
            .iter()
            .map(|(k, v)| format!("{k}/{total} ({})", files(v)))
            .collect();
        errors.push(Error::Usage(format!(
            "{}; given: {}\n  = hint: add the report of every shard (`evalgate run --shard {} --json PATH`); if a shard's job failed before writing its report, re-run it",
            if missing.len() == 1 {
                format!("shard {} is missing", missing[0])
            } else {
                format!(
                    "{} of the {total} shards are missing: {}",
                    missing.len(),
                    missing.join(", ")
                )
            },
            given.join(", "),
            missing[0],
        )));
    }
    errors
}

/// The project's plan for the shards' selection (no provider is built for
/// calling: no credentials needed).
fn whole_plan(config: &Option<PathBuf>, first: &RunInfo, s: &ShardInfo) -> Result<Plan, Error> {
    let sel = Selection {
        config: find_config(config),
        paths: s.paths.iter().map(PathBuf::from).collect(),
        filters: first.filters.clone(),
        tags: first.tags.clone(),
        providers: s.providers.clone(),
        build: BuildOptions {
            mode: if s.replay { Mode::Replay } else { Mode::Live },
            ..BuildOptions::default()
        },
        scan: s.scan.clone(),
    };
    let mut plan = Plan::load(&sel)?;
    if let Some(sample) = &first.sample {
        let size: crate::plan::SampleSize = sample.spec.parse().map_err(|e: String| {
            Error::Usage(format!("the shards' --sample cannot be read: {e}"))
        })?;
        plan.set_sample(size, sample.seed)?;
    }
    Ok(plan)
}

/// How a merged run stopped: interrupted if any shard was, else the budget,
/// else fail-fast.
fn stop_reason(text: &str) -> Option<StopReason> {
    match text {
        "interrupted" => Some(StopReason::Interrupted),
        "budget" => Some(StopReason::Budget),
        "fail_fast" => Some(StopReason::FailFast),
        _ => None,
    }
}

/// `evalgate merge`.
pub(super) fn merge(args: &MergeArgs) -> Result<i32, Error> {
    set_colors(args.color);
    check_gate_flags(&args.gate)?;
    // The same file twice would count its cases twice.
    let mut seen: Vec<(PathBuf, &Path)> = Vec::new();
    for p in &args.inputs {
        let key = std::fs::canonicalize(p).unwrap_or_else(|_| p.clone());
        if let Some((_, first)) = seen.iter().find(|(k, _)| *k == key) {
            let names = if shown(first) == shown(p) {
                String::new()
            } else {
                format!(" (as {} and {})", shown(first), shown(p))
            };
            return Err(Error::Usage(format!(
                "{} is given twice{names}\n  = hint: give each shard's report once",
                shown(p)
            )));
        }
        seen.push((key, p));
    }

    // A shard whose job failed before writing leaves no file: say so first.
    let absent: Vec<&Path> = args
        .inputs
        .iter()
        .filter(|p| {
            std::fs::symlink_metadata(p).is_err_and(|e| e.kind() == std::io::ErrorKind::NotFound)
        })
        .map(PathBuf::as_path)
        .collect();
    if !absent.is_empty() {
        return Err(Error::Usage(format!(
            "no such file: {}\n  = hint: check the path (where the CI job downloaded the shards' reports); a shard whose job failed before its report was written must be re-run",
            files(&absent)
        )));
    }

    // Every file's head, read at once on the readers' threads.
    let receivers: Vec<(PathBuf, Receiver<Msg>)> = args
        .inputs
        .iter()
        .map(|p| (p.clone(), spawn_reader(p.clone())))
        .collect();
    let mut errors = Vec::new();
    let mut heads: Vec<(PathBuf, RunInfo)> = Vec::new();
    let mut open: Vec<Receiver<Msg>> = Vec::new();
    for (path, rx) in receivers {
        match rx.recv() {
            Ok(Msg::Head(info)) => {
                heads.push((path, *info));
                open.push(rx);
            }
            Ok(Msg::End(Err(e))) => errors.push(e),
            Ok(Msg::End(Ok(_)) | Msg::Cases(_)) => errors.push(Error::Usage(format!(
                "{} is not an evalgate report: it has no `run` object{HINT}",
                shown(&path)
            ))),
            Err(_) => errors.push(Error::Infrastructure(format!(
                "cannot read report {}: its reader stopped",
                shown(&path)
            ))),
        }
    }
    if errors.is_empty() {
        errors = check_heads(&heads);
    }
    if !errors.is_empty() {
        return Err(combine(errors));
    }
    let (first_path, first) = &heads[0];
    let Some(first_shard) = first.shard.clone() else {
        return Err(Error::Usage(format!(
            "{} is not a shard's report{HINT}",
            shown(first_path)
        )));
    };

    // The whole run's plan, rebuilt here: the same inputs, the same cases.
    let plan = whole_plan(&args.config, first, &first_shard)?;
    print_warnings(&plan);
    let all: Vec<&Path> = heads.iter().map(|(p, _)| p.as_path()).collect();
    if plan.config_hash != first.config_hash {
        return Err(Error::Usage(format!(
            "the shards ran other inputs than the project here: {} ran config hash {}, but {} and its suites, datasets and goldens{} hash to {}\n  = hint: merge in a checkout of the commit the shards ran, from the directory they ran in (with the same --config)",
            files(&all),
            first.config_hash,
            plan.config
                .path
                .as_deref()
                .map_or_else(|| "the built-in defaults".to_string(), display_path),
            if first_shard.replay { ", cassettes" } else { "" },
            plan.config_hash
        )));
    }
    let (planned, suites) = plan.selected()?;
    let shard_planned: u64 = heads.iter().map(|(_, i)| i.planned_cases).sum();
    if planned != shard_planned {
        return Err(Error::Usage(format!(
            "the shards planned {shard_planned} case{} in all, but the project's plan for their selection has {planned}\n  = hint: merge the reports of one sharded run of this commit",
            plural(shard_planned)
        )));
    }

    let mut policy = plan.config.gate.clone();
    if let Some(m) = args.max_regressions {
        policy.max_regressions = m;
    }
    apply_gate_flags(&args.gate, &mut policy);
    // The budget the shards ran with (each shard guards its own spend).
    policy.max_cost = first.max_cost_usd;
    let comparer = baseline_comparer(args.baseline.as_deref(), &args.tolerance, &mut policy)?;

    // Reports, opened before merging as a run opens them.
    let (targets, step_summary) = checked_report_targets(&args.reports, &plan.config.reports)?;
    // An output that is one of the inputs would be removed before it is read.
    let inputs: Vec<PathBuf> = seen.iter().map(|(k, _)| k.clone()).collect();
    for (f, p) in &targets {
        if let Some(p) = p {
            if let Ok(c) = std::fs::canonicalize(p) {
                if inputs.contains(&c) {
                    return Err(Error::Usage(format!(
                        "the merged report ({}) would overwrite {}, one of the shard reports being merged\n  = hint: write the merged report elsewhere ({} PATH), or keep shard reports apart from the `reports:` paths of evalgate.yaml",
                        f.flag,
                        shown(p),
                        f.flag
                    )));
                }
            }
        }
    }
    let verbosity = if args.quiet {
        Verbosity::Quiet
    } else if args.verbose {
        Verbosity::Verbose
    } else {
        Verbosity::Normal
    };
    let mut reporters: Vec<Box<dyn Reporter>> = vec![Box::new(ConsoleReporter::new(
        std::io::stdout(),
        verbosity,
        args.show_failures,
    ))];
    remove_stale_reports(&targets)?;
    for (format, path) in &targets {
        if let Some(r) = (format.open)(path.as_deref(), step_summary.clone())? {
            reporters.push(r);
        }
    }

    // The merged run's facts, as the one run would have had them.
    let info = RunInfo {
        evalgate_version: first.evalgate_version.clone(),
        started_at: heads
            .iter()
            .map(|(_, i)| i.started_at.clone())
            .min()
            .unwrap_or_default(),
        config_hash: first.config_hash.clone(),
        git_commit: heads.iter().find_map(|(_, i)| i.git_commit.clone()),
        planned_cases: planned,
        concurrency: first.concurrency,
        suites,
        providers: plan.provider_names(),
        matrix: plan.matrix,
        multi_provider_suites: plan.multi_provider_suites(),
        filters: first.filters.clone(),
        tags: first.tags.clone(),
        sample: first.sample.clone(),
        max_cost_usd: first.max_cost_usd,
        shard: None,
    };
    let subset = !info.tags.is_empty() || info.filters.iter().any(|f| f.contains('/'));
    if !args.quiet {
        let _ = writeln!(
            std::io::stdout(),
            "merging {} shard{} of one run: {} planned case{}",
            heads.len(),
            plural(heads.len()),
            planned,
            plural(planned)
        );
    }

    let mut sources: Vec<Source> = heads
        .into_iter()
        .zip(open)
        .map(|((path, info), rx)| {
            let shard = info
                .shard
                .as_ref()
                .map_or(Shard { index: 1, total: 1 }, |s| Shard {
                    index: s.index,
                    total: s.total,
                });
            Source {
                path,
                rx,
                info,
                shard,
                batch: Vec::new(),
                results: 0,
                ended: false,
                stopped: None,
                duration_ms: None,
            }
        })
        .collect();
    let mut aggregator = Aggregator::new(policy, comparer, subset);
    let send = |reporters: &mut Vec<Box<dyn Reporter>>,
                aggregator: &mut Aggregator,
                event: &RunEvent<'_>|
     -> Result<(), Error> {
        aggregator.on_event(event)?;
        for r in reporters.iter_mut() {
            r.on_event(event)?;
        }
        Ok(())
    };
    send(&mut reporters, &mut aggregator, &RunEvent::Started(&info))?;

    // k-way merge by seq: the smallest next seq of every shard first.
    let mut heap: BinaryHeap<std::cmp::Reverse<(u64, usize)>> = BinaryHeap::new();
    for (i, src) in sources.iter_mut().enumerate() {
        if let Some(seq) = next_seq(src)? {
            heap.push(std::cmp::Reverse((seq, i)));
        }
    }
    let mut last: Option<(u64, usize)> = None;
    while let Some(std::cmp::Reverse((seq, i))) = heap.pop() {
        let src = &mut sources[i];
        let Some(case) = src.batch.pop() else {
            continue;
        };
        src.results += 1;
        let belongs = Shard::of(&case.suite, &case.case, src.shard.total);
        if belongs != src.shard.index {
            return Err(Error::Usage(format!(
                "{} holds case `{}` (seq {seq}), which belongs to shard {belongs}/{}, not {}\n  = hint: the file was edited or put together by hand; merge the reports as `evalgate run --shard` wrote them",
                shown(&src.path),
                case.id,
                src.shard.total,
                src.shard
            )));
        }
        if let Some((prev, j)) = last {
            if seq <= prev {
                let other = sources[j].path.clone();
                return Err(Error::Usage(format!(
                    "case seq {seq} (`{}`) comes twice or out of plan order: in {} after seq {prev} of {}\n  = hint: merge the reports as `evalgate run --shard` wrote them",
                    case.id,
                    shown(&sources[i].path),
                    shown(&other)
                )));
            }
        }
        last = Some((seq, i));
        send(
            &mut reporters,
            &mut aggregator,
            &RunEvent::CaseFinished(&case),
        )?;
        drop(case);
        if let Some(seq) = next_seq(&mut sources[i])? {
            heap.push(std::cmp::Reverse((seq, i)));
        }
    }

    // Every shard read to its end: did each hold its whole part?
    let mut stops: Vec<(StopReason, &Source)> = Vec::new();
    for s in &sources {
        match s.stopped.as_deref().and_then(stop_reason) {
            Some(r) => stops.push((r, s)),
            None if s.results != s.info.planned_cases => {
                return Err(Error::Usage(format!(
                    "{} holds {} result{} but shard {} planned {}, and it was not stopped: the file was cut short or edited\n  = hint: re-run shard {} and merge again",
                    shown(&s.path),
                    s.results,
                    plural(s.results),
                    s.shard,
                    s.info.planned_cases,
                    s.shard
                )))
            }
            None => {}
        }
    }
    let stopped = [
        StopReason::Interrupted,
        StopReason::Budget,
        StopReason::FailFast,
    ]
    .into_iter()
    .find(|r| stops.iter().any(|(s, _)| s == r));
    let Totals {
        summary,
        mut verdict,
        stopped,
        comparison,
    } = aggregator.finish(stopped, None);
    for (reason, s) in &stops {
        let why = match reason {
            StopReason::Interrupted => "was interrupted",
            StopReason::Budget => "was stopped by the budget guard",
            StopReason::FailFast => "stopped at its first failure (--fail-fast)",
        };
        let not_run = s.info.planned_cases.saturating_sub(s.results);
        let again = if *reason == StopReason::Interrupted {
            "; re-run it and merge again"
        } else {
            ""
        };
        verdict.reasons.push(format!(
            "shard {} ({}) {why}: {} of its {} did not run{again}",
            s.shard,
            shown(&s.path),
            not_run,
            crate::util::fmt::count(s.info.planned_cases, "case")
        ));
        verdict.passed = false;
    }
    // The run took as long as its slowest shard.
    let duration_ms = sources
        .iter()
        .filter_map(|s| s.duration_ms)
        .fold(0.0, f64::max);
    let finished = RunEvent::Finished {
        summary: &summary,
        verdict: &verdict,
        stopped,
        duration_ms,
        comparison: comparison.as_ref(),
    };
    for r in reporters.iter_mut() {
        r.on_event(&finished)?;
    }
    if !args.quiet {
        print_written(&targets);
    }
    Ok(verdict.exit_code)
}

/// The seq of the next case of `src`, reading its next batch when needed;
/// None at its end (its tail recorded).
fn next_seq(src: &mut Source) -> Result<Option<u64>, Error> {
    loop {
        if let Some(c) = src.batch.last() {
            return Ok(Some(c.seq));
        }
        if src.ended {
            return Ok(None);
        }
        match src.rx.recv() {
            Ok(Msg::Cases(mut batch)) => {
                batch.reverse();
                src.batch = batch;
            }
            Ok(Msg::End(Ok(tail))) => {
                src.ended = true;
                src.stopped = tail.stopped;
                src.duration_ms = tail.duration_ms;
                return Ok(None);
            }
            Ok(Msg::End(Err(e))) => return Err(e),
            Ok(Msg::Head(_)) | Err(_) => {
                return Err(Error::Infrastructure(format!(
                    "cannot read report {}: its reader stopped",
                    shown(&src.path)
                )))
            }
        }
    }
}

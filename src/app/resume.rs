//! `evalgate run`'s journal and `--resume`: where the journal lives, the
//! run's identity, opening it (new, or resumed) and ending it. The format
//! and the replay are `engine::journal`'s.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::cli::{RunArgs, UpdateGolden};
use crate::engine::journal::{Journal, RunIdentity};
use crate::error::{display_path, Error};
use crate::golden::{UpdateMode, Writes};
use crate::model::StopReason;
use crate::plan::Plan;
use crate::provider::build::Mode;

/// The journal's file name in the reports directory.
pub(super) const FILE_NAME: &str = ".evalgate-journal.jsonl";

/// `evalgate run`'s journal flags.
#[derive(Debug, Clone, Default)]
pub(super) struct Flags {
    pub resume: bool,
    pub path: Option<PathBuf>,
    /// `--no-journal`.
    pub off: bool,
}

/// Where the journal is: `--journal PATH`; else, unless `--no-reports`,
/// beside the first report evalgate.yaml names (JSON, JUnit, Markdown;
/// `reports/` under the project root when it names none). Report flags do
/// not move it, so `--resume` finds it whatever reports a run writes.
pub(super) fn path(
    flags: &Flags,
    no_reports: bool,
    plan: &Plan,
    shard: Option<crate::shard::Shard>,
) -> Option<PathBuf> {
    if flags.off {
        return None;
    }
    if let Some(p) = &flags.path {
        return Some(p.clone());
    }
    if no_reports {
        return None;
    }
    let r = &plan.config.reports;
    let dir = [&r.json, &r.junit, &r.markdown]
        .into_iter()
        .flatten()
        .find_map(|p| p.parent().map(Path::to_path_buf))
        .unwrap_or_else(|| plan.config.root.join("reports"));
    // Shards run side by side in one checkout keep their journals apart.
    Some(match shard {
        Some(s) => dir.join(format!(
            ".evalgate-journal.shard-{}-of-{}.jsonl",
            s.index, s.total
        )),
        None => dir.join(FILE_NAME),
    })
}

/// The identity of this run: the inputs and every flag that decides which
/// attempts run and what they answer.
pub(super) fn identity(
    args: &RunArgs,
    sample: Option<&(String, u64)>,
    plan: &Plan,
    max_cost: Option<f64>,
    shard: Option<crate::shard::Shard>,
) -> RunIdentity {
    let mode = if args.replay {
        Mode::Replay
    } else if args.record {
        Mode::Record
    } else {
        Mode::Live
    };
    let update = match args.update_golden {
        UpdateGolden::Auto => UpdateMode::Auto,
        UpdateGolden::New => UpdateMode::New,
        UpdateGolden::Always => UpdateMode::Always,
        UpdateGolden::No => UpdateMode::No,
    };
    let writes = match update.resolve(crate::util::ci::in_ci()) {
        Writes::Pending => "pending",
        Writes::Missing => "missing",
        Writes::All => "all",
        Writes::Nothing => "nothing",
    };
    RunIdentity {
        evalgate_version: env!("CARGO_PKG_VERSION").to_string(),
        inputs_hash: plan.inputs_hash.clone(),
        paths: args.select.paths.iter().map(|p| display_path(p)).collect(),
        filters: args.select.filters.clone(),
        tags: args.select.tags.clone(),
        providers: args.select.providers.clone(),
        sample: sample.map(|(s, _)| s.trim().to_string()),
        seed: sample.map(|(_, seed)| *seed),
        mode: match mode {
            Mode::Live => "live",
            Mode::Replay => "replay",
            Mode::Record => "record",
        }
        .to_string(),
        allow_scripts: args.allow_scripts,
        golden_writes: writes.to_string(),
        fail_fast: args.fail_fast,
        max_cost_usd: max_cost,
        shard: shard.map(|s| format!("{}/{}", s.index, s.total)),
    }
}

/// Open the run's journal: continue it (`--resume`) or start a new one
/// (replacing any previous journal, said in one line when that one held an
/// unfinished run). Called before anything is written or removed, so a
/// refused resume leaves the previous reports alone.
pub(super) fn open(
    flags: &Flags,
    path: Option<&Path>,
    reports: &[&Path],
    run: RunIdentity,
    config_hash: &str,
    started_at: &str,
    quiet: bool,
) -> Result<Option<Arc<Journal>>, Error> {
    let mut err = std::io::stderr();
    let Some(path) = path else {
        if flags.resume {
            return Err(Error::Usage(
                "--resume needs the run's journal, and --no-reports writes none\n  = hint: pass --journal PATH to both runs (the interrupted one and the resume)".to_string(),
            ));
        }
        return Ok(None);
    };
    let shown = display_path(path);
    let absolute = |p: &Path| display_path(&std::env::current_dir().unwrap_or_default().join(p));
    if reports.iter().any(|r| absolute(r) == absolute(path)) {
        return Err(Error::Usage(format!(
            "the journal and a report name the same file `{shown}`\n  = hint: give the report another path, or the journal one with --journal PATH"
        )));
    }
    if !flags.resume {
        let (journal, replaced) = Journal::start(path, run, config_hash, started_at)?;
        if let Some(r) = replaced.filter(|r| !r.complete && r.attempts > 0) {
            let _ = writeln!(
                err,
                "note: replaced {shown}, the journal of an unfinished run ({}); `evalgate run --resume` continues such a run instead",
                crate::util::fmt::count(r.attempts as usize, "finished attempt")
            );
        }
        return Ok(Some(Arc::new(journal)));
    }
    let journal = Journal::resume(path, &run)?;
    for n in journal.notes() {
        let _ = writeln!(err, "note: {n}");
    }
    if !quiet {
        let done = crate::util::fmt::count(journal.finished_before(), "finished attempt");
        let _ = match journal.was_complete() {
            Some(_) => writeln!(
                err,
                "resuming {shown}: its run is complete; the reports are written again from its {done}, and no provider is called"
            ),
            None => writeln!(
                err,
                "resuming {shown}: {done} taken from it (no provider is called for them), the rest run now"
            ),
        };
    }
    Ok(Some(Arc::new(journal)))
}

/// The run is over: a run that reached its verdict (not interrupted) marks
/// its journal complete. A journal that could not be written is named.
pub(super) fn finish(journal: Option<&Journal>, stopped: Option<StopReason>) {
    let Some(j) = journal else {
        return;
    };
    if stopped != Some(StopReason::Interrupted) {
        j.complete(stopped);
    }
    if let Some(e) = j.failure() {
        let _ = writeln!(
            std::io::stderr(),
            "warning: cannot write the journal {} ({e}): the attempts after that are not in it, and `--resume` would run them again",
            display_path(j.path())
        );
    }
}

//! Command handlers: parse arguments, build the plan, run, report, map every
//! outcome to a documented exit code.

use std::ffi::OsString;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use clap::{CommandFactory, Parser};

mod import;
mod init;
mod merge;
mod resume;
mod schema;
pub use schema::{schema_keys, SchemaKeys};

use crate::cli::{
    Cli, ColorChoice, Command, CompareArgs, CompareFormat, GoldenArgs, GoldenCommand, ListArgs,
    ListFormat, ReportArgs, RunArgs, ScanArgs, SelectArgs, ShellArg, ToleranceArgs, UpdateGolden,
};
use crate::compare::{Baseline, Comparer, Tolerance};
use crate::config::project::{ProjectConfig, ReportPaths};
use crate::engine::{self, RunOptions};
use crate::error::{display_path, Error};
use crate::exit;
use crate::golden::{self, Store, UpdateMode};
use crate::model::RunInfo;
use crate::plan::{Plan, Selection};
use crate::provider::build::Mode;
use crate::report::console::{ConsoleReporter, Verbosity};
use crate::report::github::{self, GithubAnnotations};
use crate::report::html::HtmlReporter;
use crate::report::json::JsonReporter;
use crate::report::junit::JunitReporter;
use crate::report::markdown::MarkdownReporter;
use crate::report::progress::{self, Progress, ProgressReporter};
use crate::report::Reporter;
use crate::util::fmt::plural;

/// Run the command line; returns the process exit code.
pub fn main_with_args<I, T>(args: I) -> i32
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let cli = match Cli::try_parse_from(args) {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                exit::INVALID_INPUT
            } else {
                exit::OK
            };
        }
    };
    // Files the project names are confined to its root (see util::fsafe).
    let config = match &cli.command {
        Command::Validate(sel) => Some(&sel.config),
        Command::List(a) => Some(&a.select.config),
        Command::Run(a) => Some(&a.run.select.config),
        Command::Golden(a) => Some(&a.config),
        Command::Scan(a) => Some(&a.run.select.config),
        Command::Bench(a) => Some(&a.config),
        Command::Merge(a) => Some(&a.config),
        Command::Compare(_)
        | Command::ServeMock(_)
        | Command::Init(_)
        | Command::Completions(_)
        | Command::Man(_)
        | Command::Schema(_)
        | Command::Import(_) => None,
    };
    if let Some(config) = config {
        // The same file the command will load (found in a parent directory too).
        let path = find_config(config).unwrap_or_else(|| PathBuf::from("evalgate.yaml"));
        let root = crate::util::path::dir_of(&path);
        crate::util::fsafe::set_root(&root);
    }
    let result = match cli.command {
        Command::Validate(sel) => validate(&sel),
        Command::List(args) => list(&args),
        Command::Run(args) => run(&args),
        Command::Golden(args) => golden_command(&args),
        Command::Compare(args) => compare(&args),
        Command::Merge(args) => merge::merge(&args),
        Command::ServeMock(args) => serve_mock(&args),
        Command::Scan(args) => scan(&args),
        Command::Bench(args) => bench(&args),
        Command::Init(args) => init::init(&args.dir),
        Command::Completions(args) => completions(args.shell),
        Command::Man(args) => man_page(args.dir.as_deref()),
        Command::Schema(args) => write_stdout(schema::text(args.kind).as_bytes()),
        Command::Import(args) => import::import(&args),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            // Never panic on a closed stderr (`2>&-`, a reader that went away):
            // the exit code still tells.
            let _ = writeln!(std::io::stderr(), "{e}");
            e.exit_code()
        }
    }
}

/// `evalgate completions SHELL`: the completion script on stdout.
fn completions(shell: ShellArg) -> Result<i32, Error> {
    use clap_complete::Shell;
    let shell = match shell {
        ShellArg::Bash => Shell::Bash,
        ShellArg::Zsh => Shell::Zsh,
        ShellArg::Fish => Shell::Fish,
    };
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "evalgate", &mut script);
    write_stdout(&script)
}

/// `evalgate man`: the main page (roff) on stdout; with `--dir`, every page
/// (the main one and one per subcommand, as the main page's SUBCOMMANDS
/// section names them) written into DIR.
fn man_page(dir: Option<&Path>) -> Result<i32, Error> {
    let render = |cmd: clap::Command| {
        let mut page = Vec::new();
        let man = clap_mangen::Man::new(cmd);
        let name = man.get_filename();
        man.render(&mut page).map_err(|e| {
            Error::Infrastructure(format!("cannot render the man page {name}: {e}"))
        })?;
        Ok::<_, Error>((name, page))
    };
    let mut cmd = Cli::command().disable_help_subcommand(true);
    cmd.build();
    let Some(dir) = dir else {
        return write_stdout(&render(cmd)?.1);
    };
    std::fs::create_dir_all(dir).map_err(|e| Error::output(dir, e))?;
    // Depth first, as clap_mangen::generate_to walks the tree.
    let mut todo = vec![cmd];
    let mut written = Vec::new();
    while let Some(cmd) = todo.pop() {
        todo.extend(cmd.get_subcommands().filter(|s| !s.is_hide_set()).cloned());
        let (name, page) = render(cmd)?;
        let path = dir.join(&name);
        crate::util::atomic::write_atomic(&path, &page)?;
        written.push(display_path(&path));
    }
    written.sort();
    let list: String = written.iter().map(|p| format!("{p}\n")).collect();
    write_stdout(list.as_bytes())
}

/// Write a command's whole output to stdout. A reader that went away
/// (`| head`) is not an error, as with `list`; any other failure (a full
/// disk behind `> file`) is (exit 3), since the output is the command's
/// only product.
fn write_stdout(bytes: &[u8]) -> Result<i32, Error> {
    let mut out = std::io::stdout().lock();
    match out.write_all(bytes).and_then(|()| out.flush()) {
        Ok(()) => Ok(exit::OK),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(exit::OK),
        Err(e) => Err(Error::output(Path::new("<stdout>"), e)),
    }
}

/// The config file: `--config`, else `evalgate.yaml` here or in the nearest
/// directory above that has one (as git and cargo find their roots),
/// stopping at the top of a git checkout. None: built-in defaults here.
fn find_config(config: &Option<PathBuf>) -> Option<PathBuf> {
    if config.is_some() {
        return config.clone();
    }
    let here = std::env::current_dir().ok()?;
    for dir in here.ancestors() {
        let candidate = dir.join("evalgate.yaml");
        if candidate.is_file() {
            // Here: keep the relative name, as messages show it.
            return Some(if dir == here {
                PathBuf::from("evalgate.yaml")
            } else {
                candidate
            });
        }
        if dir.join(".git").exists() {
            break;
        }
    }
    None
}

fn selection(sel: &SelectArgs) -> Selection {
    Selection {
        config: find_config(&sel.config),
        paths: sel.paths.clone(),
        filters: sel.filters.clone(),
        tags: sel.tags.clone(),
        providers: sel.providers.clone(),
        ..Selection::default()
    }
}

/// Print the plan's warnings (they do not stop anything) on stderr.
fn print_warnings(plan: &Plan) {
    for w in &plan.warnings {
        let _ = writeln!(std::io::stderr(), "warning: {w}");
    }
}

fn validate(sel: &SelectArgs) -> Result<i32, Error> {
    let plan = Plan::load(&selection(sel))?;
    print_warnings(&plan);
    // A matrix plans each suite once per provider: count suites once.
    let suites = plan.suite_names();
    let mut counted = std::collections::HashSet::new();
    let cases: usize = plan
        .suites
        .iter()
        // A matrix shares one suite between its providers; the probes of
        // several providers are a suite each.
        .filter(|s| counted.insert(std::sync::Arc::as_ptr(&s.suite)))
        .map(|s| s.suite.len())
        .sum();
    // Each case of a matrix is planned once per provider.
    let per_case = if plan.matrix {
        plan.provider_names().len()
    } else {
        1
    };
    let providers = if plan.matrix {
        format!(" × {per_case} providers")
    } else {
        String::new()
    };
    let selected = if sel.filters.is_empty() && sel.tags.is_empty() {
        String::new()
    } else {
        let n = plan.count()?;
        if n == 0 {
            return Err(Error::Usage(
                "no case matches the given --filter/--tag\n  = hint: run `evalgate list` to see the case ids and tags".to_string(),
            ));
        }
        format!(" ({} selected by --filter/--tag)", n / per_case as u64)
    };
    let _ = writeln!(
        std::io::stdout(),
        "ok: {} suite{}, {} case{}{providers}{selected}, config {}",
        suites.len(),
        plural(suites.len()),
        cases,
        plural(cases),
        plan.config
            .path
            .as_deref()
            .map_or_else(|| "built-in defaults".to_string(), display_path)
    );
    Ok(exit::OK)
}

fn list(args: &ListArgs) -> Result<i32, Error> {
    let plan = Plan::load(&selection(&args.select))?;
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let mut n = 0u64;
    for pc in plan.cases() {
        let pc = pc?;
        let ps = &plan.suites[pc.suite];
        let c = &pc.case;
        n += 1;
        let id = match &c.variant {
            Some(v) => format!("{}/{}@{v}", ps.suite.name, c.id),
            None => format!("{}/{}", ps.suite.name, c.id),
        };
        let line = match args.format {
            ListFormat::Json => {
                let mut line = serde_json::json!({
                "id": id,
                "suite": ps.suite.name,
                "case": c.id,
                "provider": ps.provider_name,
                "tags": c.tags,
                "repeat": c.settings.repeat,
                "checks": c.checks.iter().map(|k| k.label()).collect::<Vec<_>>(),
                "skip": c.skip,
                "source": c.source,
                });
                if let (Some(v), Some(o)) = (&c.variant, line.as_object_mut()) {
                    o.insert("variant".into(), serde_json::Value::String(v.to_string()));
                }
                line.to_string()
            }
            ListFormat::Text => {
                let mut s = id;
                s.push_str(&format!("  [{}]", ps.provider_name));
                if c.settings.repeat > 1 {
                    s.push_str(&format!("  x{}", c.settings.repeat));
                }
                if !c.tags.is_empty() {
                    s.push_str(&format!("  tags: {}", c.tags.join(",")));
                }
                if let Some(r) = &c.skip {
                    s.push_str(&format!("  (skip: {r})"));
                }
                s
            }
        };
        if writeln!(out, "{line}").is_err() {
            return Ok(exit::OK); // stdout closed (e.g. piped into head)
        }
    }
    if args.format == ListFormat::Text {
        let _ = writeln!(out, "{n} case{}", plural(n));
    }
    Ok(exit::OK)
}

/// A file report format: the one place a format is registered (its flag,
/// its `reports:` key in evalgate.yaml, how its reporter is opened).
struct ReportFormat {
    flag: &'static str,
    arg: fn(&ReportArgs) -> Option<&PathBuf>,
    config: fn(&ReportPaths) -> Option<&PathBuf>,
    /// Open the reporter for this path (and, for Markdown, the GitHub step
    /// summary); `None` when there is nothing to write.
    open: OpenReport,
}

/// Opens a format's reporter for a path and the GitHub step summary.
type OpenReport = fn(Option<&Path>, Option<PathBuf>) -> Result<Option<Box<dyn Reporter>>, Error>;

const REPORT_FORMATS: &[ReportFormat] = &[
    ReportFormat {
        flag: "--junit",
        arg: |a| a.junit.as_ref(),
        config: |d| d.junit.as_ref(),
        open: |path, _| {
            path.map(|p| Ok(Box::new(JunitReporter::create(p)?) as Box<dyn Reporter>))
                .transpose()
        },
    },
    ReportFormat {
        flag: "--json",
        arg: |a| a.json.as_ref(),
        config: |d| d.json.as_ref(),
        open: |path, _| {
            path.map(|p| Ok(Box::new(JsonReporter::create(p)?) as Box<dyn Reporter>))
                .transpose()
        },
    },
    ReportFormat {
        flag: "--markdown",
        arg: |a| a.markdown.as_ref(),
        config: |d| d.markdown.as_ref(),
        open: |path, step_summary| {
            if path.is_none() && step_summary.is_none() {
                return Ok(None);
            }
            Ok(Some(Box::new(MarkdownReporter::create(
                path,
                step_summary,
            )?)))
        },
    },
    ReportFormat {
        flag: "--html",
        arg: |a| a.html.as_ref(),
        config: |d| d.html.as_ref(),
        open: |path, _| {
            path.map(|p| Ok(Box::new(HtmlReporter::create(p)?) as Box<dyn Reporter>))
                .transpose()
        },
    },
];

/// Paths of the reports this run writes, per format: flags override the
/// config defaults; `--no-reports` writes none.
fn report_targets(
    args: &ReportArgs,
    config: &ReportPaths,
) -> Vec<(&'static ReportFormat, Option<PathBuf>)> {
    REPORT_FORMATS
        .iter()
        .map(|f| {
            let path = (!args.no_reports)
                .then(|| (f.arg)(args).or_else(|| (f.config)(config)).cloned())
                .flatten();
            (f, path)
        })
        .collect()
}

/// `--color`: forced on or off, or left to the terminal (off with `NO_COLOR`).
fn set_colors(choice: ColorChoice) {
    match choice {
        ColorChoice::Always => console::set_colors_enabled(true),
        ColorChoice::Never => console::set_colors_enabled(false),
        ColorChoice::Auto => {
            if std::env::var_os("NO_COLOR").is_some() {
                console::set_colors_enabled(false);
            }
        }
    }
}

/// The shared gate flags' values, checked before anything is loaded.
fn check_gate_flags(g: &crate::cli::GateArgs) -> Result<(), Error> {
    match g.min_pass_rate {
        Some(r) if !(0.0..=1.0).contains(&r) => Err(Error::Usage(format!(
            "--min-pass-rate must be between 0 and 1, got {r}"
        ))),
        _ => Ok(()),
    }
}

/// The shared gate flags over evalgate.yaml's `gate:`.
fn apply_gate_flags(g: &crate::cli::GateArgs, policy: &mut crate::gate::GatePolicy) {
    if let Some(r) = g.min_pass_rate {
        policy.min_pass_rate = r;
    }
    if let Some(m) = g.max_failures {
        policy.max_failures = Some(m);
    }
    if let Some(b) = g.fail_on_error {
        policy.fail_on_error = b;
    }
    if let Some(b) = g.fail_on_flaky {
        policy.fail_on_flaky = b;
    }
}

/// `reports: PATH, …`: the report files written (`run` and `merge`); nothing
/// when none was.
fn print_written(targets: &[(&'static ReportFormat, Option<PathBuf>)]) {
    let written: Vec<String> = targets
        .iter()
        .filter_map(|(_, p)| p.as_deref())
        .map(display_path)
        .collect();
    if !written.is_empty() {
        // Ignore a closed stdout (`evalgate run | head`): the verdict is in the exit code.
        let _ = writeln!(std::io::stdout(), "reports: {}", written.join(", "));
    }
}

/// The report paths of a run or a merge, checked: no two the same, and those
/// from evalgate.yaml inside the project (paths given on the command line
/// are the user's own); and the GitHub step summary, unless `--no-reports`
/// (console only).
#[allow(clippy::type_complexity)]
fn checked_report_targets(
    args: &ReportArgs,
    config: &ReportPaths,
) -> Result<
    (
        Vec<(&'static ReportFormat, Option<PathBuf>)>,
        Option<PathBuf>,
    ),
    Error,
> {
    let targets = report_targets(args, config);
    let step_summary = std::env::var_os("GITHUB_STEP_SUMMARY")
        .filter(|v| !v.is_empty() && !args.no_reports)
        .map(PathBuf::from);
    check_distinct_targets(&targets, step_summary.as_deref())?;
    if !args.no_reports {
        for f in REPORT_FORMATS.iter().filter(|f| (f.arg)(args).is_none()) {
            if let Some(p) = (f.config)(config) {
                crate::util::fsafe::inside_project(p).map_err(|e| {
                    Error::Usage(format!(
                        "evalgate.yaml `reports`: {e}\n  = hint: keep reports inside the project, or pass {} PATH",
                        f.flag
                    ))
                })?;
            }
        }
    }
    Ok((targets, step_summary))
}

fn git_commit(root: &Path) -> Option<String> {
    for var in [
        "GITHUB_SHA",
        "CI_COMMIT_SHA",
        "BUILDKITE_COMMIT",
        "GIT_COMMIT",
    ] {
        if let Ok(v) = std::env::var(var) {
            if !v.is_empty() {
                return Some(v);
            }
        }
    }
    let dir = if root.as_os_str().is_empty() {
        Path::new(".")
    } else {
        root
    };
    let out = std::process::Command::new("git")
        .args(["rev-parse", "HEAD"])
        .current_dir(dir)
        .stderr(std::process::Stdio::null())
        .output()
        .ok()?;
    let s = String::from_utf8(out.stdout).ok()?.trim().to_string();
    (out.status.success() && !s.is_empty()).then_some(s)
}

/// `evalgate scan`: `run` on one in-memory suite, the adversarial pack.
fn scan(args: &ScanArgs) -> Result<i32, Error> {
    if !args.run.select.paths.is_empty() {
        return Err(Error::Usage(
            "evalgate scan runs the built-in attack pack, not suite files\n  = hint: to run the pack with your own prompt, add `attacks:` to a suite and use `evalgate run`".into(),
        ));
    }
    if args.run.select.providers.is_empty() {
        return Err(Error::Usage(
            "evalgate scan needs --provider NAME (a provider from evalgate.yaml)".into(),
        ));
    }
    let mutators: Vec<String> = if args.mutators.iter().any(|m| m == "all") {
        crate::attack::MUTATORS
            .iter()
            .map(|(n, _)| n.to_string())
            .collect()
    } else {
        args.mutators.clone()
    };
    let mut attacks = format!(
        "{{mutators: {}, seed: {}, max_output_chars: {}",
        json(&mutators[..]),
        args.seed,
        args.max_output_chars
    );
    if !args.categories.is_empty() {
        attacks.push_str(&format!(", categories: {}", json(&args.categories[..])));
    }
    if let Some(n) = args.sample {
        attacks.push_str(&format!(", sample: {n}"));
    }
    attacks.push('}');
    let prompt = match &args.system {
        Some(s) => format!(
            "{{system: {}, user: \"{{{{ attack }}}}\"}}",
            json(s.as_str())
        ),
        None => "{user: \"{{ attack }}\"}".to_string(),
    };
    let text = format!("name: scan\nprompt: {prompt}\nattacks: {attacks}\n");
    run_with(&args.run, Some(text), None, None)
}

/// A value as JSON (which is YAML), for the suite `scan` writes.
fn json<T: serde::Serialize + ?Sized>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "null".into())
}

fn run(args: &crate::cli::RunCommand) -> Result<i32, Error> {
    let sample = args.sample.as_ref().map(|s| (s.clone(), args.seed));
    let journal = resume::Flags {
        resume: args.resume,
        path: args.journal.clone(),
        off: args.no_journal,
    };
    run_with(&args.run, None, sample, Some(journal))
}

/// `sample`: `--sample` as given and `--seed`; `journal`: `run`'s journal
/// flags (`scan` keeps none).
fn run_with(
    args: &RunArgs,
    scan: Option<String>,
    sample: Option<(String, u64)>,
    journal: Option<resume::Flags>,
) -> Result<i32, Error> {
    set_colors(args.color);
    check_gate_flags(&args.gate)?;
    let mut sel = selection(&args.select);
    sel.scan = scan;
    sel.build.connect = true;
    sel.build.no_cache = args.no_cache;
    sel.build.mode = if args.record {
        Mode::Record
    } else if args.replay {
        Mode::Replay
    } else {
        Mode::Live
    };
    crate::check::script::set_policy(args.replay, args.allow_scripts);
    // A bad --shard is refused before anything is loaded.
    let shard = match &args.shard {
        Some(text) => Some(crate::shard::Spec::parse(text)?.resolve(|k| std::env::var(k).ok())?),
        None => None,
    };
    let mut plan = Plan::load(&sel)?;
    print_warnings(&plan);
    let sample_flags = sample.clone();
    let sample = match sample {
        Some((text, seed)) => {
            let size: crate::plan::SampleSize = text
                .parse()
                .map_err(|e: String| Error::Usage(format!("--sample: {e}")))?;
            let (cases, of) = plan.set_sample(size, seed)?;
            Some(crate::model::SampleInfo {
                spec: text.trim().to_string(),
                seed,
                cases,
                of,
            })
        }
        None => None,
    };
    let shard_info = shard.map(|s| shard_run(&mut plan, s, args, &sel));
    let (planned, selected_suites) = plan.selected()?;
    // A shard may be empty (fewer cases than shards); the whole selection may not.
    if planned == 0 && (shard.is_none() || plan.whole_count()? == 0) {
        return Err(Error::Usage(
            "no case matches the given --filter/--tag\n  = hint: run `evalgate list` to see the case ids and tags".to_string(),
        ));
    }
    let mut policy = plan.config.gate.clone();
    if let Some(m) = args.max_regressions {
        policy.max_regressions = m;
    }
    apply_gate_flags(&args.gate, &mut policy);
    if let Some(m) = args.max_cost {
        policy.max_cost = Some(m);
    }
    // The baseline is read before anything runs: a bad file is invalid input (exit 2).
    let comparer = baseline_comparer(args.baseline.as_deref(), &args.tolerance, &mut policy)?;
    if let Some(max) = policy.max_cost {
        let unpriced: Vec<String> = plan
            .provider_names()
            .into_iter()
            .filter(|p| !plan.pricing.known_upfront(p))
            .collect();
        if !unpriced.is_empty() {
            return Err(Error::Usage(format!(
                "a budget of {} needs a price for every provider of the run; no price is known for {}\n  = hint: add `pricing: {{input_per_million: …, output_per_million: …}}` to {} in evalgate.yaml, or configure a model of the built-in price table",
                crate::util::fmt::usd(max),
                unpriced.iter().map(|p| format!("`{p}`")).collect::<Vec<_>>().join(", "),
                if unpriced.len() == 1 { "its definition" } else { "their definitions" }
            )));
        }
    }
    let concurrency = args
        .concurrency
        .map_or(plan.config.concurrency, |c| c as usize);

    // Open every report before running: an unwritable location fails now (exit 3).
    let (targets, step_summary) = checked_report_targets(&args.reports, &plan.config.reports)?;
    let verbosity = if args.quiet {
        Verbosity::Quiet
    } else if args.verbose {
        Verbosity::Verbose
    } else {
        Verbosity::Normal
    };
    let bar: Box<dyn Progress> = if progress::wanted(args.no_progress || args.quiet) {
        Box::new(progress::Bar::new(planned))
    } else {
        Box::new(progress::Periodic::new(planned, args.quiet))
    };
    // The bar first: it is cleared before the console prints the summary.
    let mut reporters: Vec<Box<dyn Reporter>> = vec![
        Box::new(ProgressReporter(bar)),
        Box::new(ConsoleReporter::new(
            std::io::stdout(),
            verbosity,
            args.show_failures,
        )),
    ];
    // On GitHub Actions, failed cases become annotations on the PR's diff.
    if github::wanted_with(|k| std::env::var(k).ok()) {
        let workspace = std::env::var_os("GITHUB_WORKSPACE").map(PathBuf::from);
        reporters.push(Box::new(GithubAnnotations::new(
            std::io::stdout(),
            workspace.as_deref(),
        )));
    }
    let started_at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    // The journal before any file is touched: a refused --resume leaves the
    // previous reports as they are.
    let journal = match &journal {
        Some(flags) => resume::open(
            flags,
            resume::path(flags, args.reports.no_reports, &plan, shard).as_deref(),
            &targets
                .iter()
                .filter_map(|(_, p)| p.as_deref())
                .collect::<Vec<_>>(),
            resume::identity(args, sample_flags.as_ref(), &plan, policy.max_cost, shard),
            &plan.config_hash,
            &started_at,
            args.quiet,
        )?,
        None => None,
    };
    // A report on disk is never from another run: the previous run's files
    // (and temporary files a killed run left) go before this one starts, so
    // a run that is killed outright leaves no report rather than a stale one.
    remove_stale_reports(&targets)?;
    for (format, path) in &targets {
        if let Some(r) = (format.open)(path.as_deref(), step_summary.clone())? {
            reporters.push(r);
        }
    }

    let info = RunInfo {
        evalgate_version: env!("CARGO_PKG_VERSION").to_string(),
        // A resumed run is the run its journal began.
        started_at: journal
            .as_ref()
            .map_or(started_at, |j| j.started_at().to_string()),
        config_hash: journal
            .as_ref()
            .map_or_else(|| plan.config_hash.clone(), |j| j.config_hash().to_string()),
        git_commit: git_commit(&plan.config.root),
        planned_cases: planned,
        concurrency,
        // Only suites with a selected case: `--filter`/`--tag` leave the rest out.
        suites: selected_suites,
        providers: plan.provider_names(),
        matrix: plan.matrix,
        multi_provider_suites: plan.multi_provider_suites(),
        filters: args.select.filters.clone(),
        tags: args.select.tags.clone(),
        sample,
        max_cost_usd: policy.max_cost,
        shard: shard_info,
    };
    let update = match args.update_golden {
        UpdateGolden::Auto => UpdateMode::Auto,
        UpdateGolden::New => UpdateMode::New,
        UpdateGolden::Always => UpdateMode::Always,
        UpdateGolden::No => UpdateMode::No,
    };
    // Temporary files of a killed run's golden writes: never goldens, removed.
    for p in Store::new(plan.config.golden_dir.clone(), golden::Writes::Nothing).stray_temps() {
        let _ = std::fs::remove_file(&p);
    }
    let opts = RunOptions {
        concurrency,
        fail_fast: args.fail_fast,
        golden: Arc::new(Store::new(
            plan.config.golden_dir.clone(),
            update.resolve(crate::util::ci::in_ci()),
        )),
        // A case-level filter or a tag runs part of a suite: unselected baseline
        // cases are "not run", not "removed".
        policy,
        // So does a shard: the other shards' cases are not run here.
        subset: !args.select.tags.is_empty()
            || args.select.filters.iter().any(|f| f.contains('/'))
            || shard.is_some(),
        journal: journal.clone(),
    };
    // Handlers are installed now, before any case starts: a signal that comes
    // early still stops the run cleanly instead of killing the process.
    // At concurrency 1 no attempt runs beside another: one worker thread
    // does it all, without hand-offs between threads (the reporters keep
    // their own thread).
    let (rt, mut stop) = runtime_with_stop_signals(RuntimeShape {
        threads: (concurrency <= 1).then_some(1),
        poll_io_often: true,
    })?;
    // The signal that stopped the run (SIGINT, SIGTERM, SIGHUP, SIGQUIT), if any.
    let signal = Arc::new(std::sync::atomic::AtomicI32::new(0));
    // The run loop is a task on the runtime's workers, not on this thread:
    // an attempt's wake-ups then stay among the workers (no hop to the main
    // thread and back per case).
    let plan = Arc::new(plan);
    let engine_run = {
        let (plan, signal) = (plan.clone(), signal.clone());
        async move {
            // The signals are watched by a task of their own: the run loop
            // looks at a one-shot channel after each finished attempt,
            // which costs far less than polling the four signal streams.
            let (tx, rx) = tokio::sync::oneshot::channel::<()>();
            let watcher = tokio::spawn(async move {
                let sig = stop.wait().await;
                signal.store(sig, std::sync::atomic::Ordering::SeqCst);
                let _ = tx.send(());
            });
            let interrupt = async move {
                if rx.await.is_err() {
                    std::future::pending::<()>().await;
                }
            };
            let outcome = engine::run(&plan, &info, &opts, reporters, comparer, interrupt).await;
            watcher.abort();
            outcome
        }
    };
    let outcome = match rt.block_on(rt.spawn(engine_run)) {
        Ok(outcome) => outcome,
        Err(e) => Err(Error::Infrastructure(format!("the run loop failed: {e}"))),
    };
    // Recordings are saved even when the run was interrupted or failed.
    let cassettes = match &plan.recorder {
        Some(r) => r.flush()?,
        None => Vec::new(),
    };
    let outcome = outcome?;
    resume::finish(journal.as_deref(), outcome.stopped);
    if !cassettes.is_empty() && !args.quiet {
        let files: Vec<String> = cassettes.iter().map(|p| display_path(p)).collect();
        let _ = writeln!(std::io::stdout(), "recorded: {}", files.join(", "));
    } else if args.record && !args.quiet {
        let _ = writeln!(
            std::io::stdout(),
            "recorded: nothing (only {} providers are recorded)",
            crate::config::provider::recorded_types("and")
        );
    }
    if !args.quiet {
        print_written(&targets);
    }
    let sig = signal.load(std::sync::atomic::Ordering::SeqCst);
    if sig > 0 && outcome.verdict.exit_code == exit::INTERRUPTED {
        // 128 + the signal, as a shell reports a process it killed: 130 for
        // Ctrl-C, 143 for SIGTERM, 129 for SIGHUP, 131 for SIGQUIT.
        return Ok(128 + sig);
    }
    Ok(outcome.verdict.exit_code)
}

/// Restrict the plan to `shard`; what the shard's report records for
/// `evalgate merge`.
fn shard_run(
    plan: &mut Plan,
    shard: crate::shard::Shard,
    args: &RunArgs,
    sel: &Selection,
) -> crate::model::ShardInfo {
    plan.set_shard(Some(shard));
    crate::model::ShardInfo {
        index: shard.index,
        total: shard.total,
        paths: args
            .select
            .paths
            .iter()
            .map(|p| p.to_string_lossy().into_owned())
            .collect(),
        providers: args.select.providers.clone(),
        replay: args.replay,
        scan: sel.scan.clone(),
    }
}

/// `10%` or `0.1`: a tolerance as a ratio.
fn ratio_arg(flag: &str, v: &str) -> Result<f64, Error> {
    let t = v.trim();
    let r = match t.strip_suffix('%') {
        Some(p) => p.trim().parse::<f64>().map(|p| p / 100.0),
        None => t.parse::<f64>(),
    };
    match r {
        Ok(r) if r.is_finite() && r >= 0.0 => Ok(r),
        _ => Err(Error::Usage(format!(
            "{flag}: `{v}` is not a non-negative ratio (e.g. 10% or 0.1)"
        ))),
    }
}

/// `evalgate bench`: flags → workload → the load → reports → exit code.
fn bench(args: &crate::cli::BenchArgs) -> Result<i32, Error> {
    use crate::bench::report::{self as bench_report, Slo, Tolerances};
    use crate::bench::{schedule::Arrival, Item, Load, Settings, Target, Workload};
    use crate::config::project::ProviderKind;
    let usage = |m: String| Error::Usage(m);
    if args.replay || args.record {
        return Err(usage(
            "evalgate bench measures the live endpoint: --replay and --record are refused (recordings and the cache have no latency worth measuring)".into(),
        ));
    }
    let dur = |flag: &str, v: &str| {
        crate::util::fmt::parse_duration(v).map_err(|e| Error::Usage(format!("{flag}: {e}")))
    };
    let mut duration = args
        .duration
        .as_deref()
        .map(|d| dur("--duration", d))
        .transpose()?;
    if duration.is_some_and(|d| d.is_zero()) {
        return Err(usage("--duration must be above 0".into()));
    }
    if duration.is_none() && args.requests.is_none() {
        duration = Some(std::time::Duration::from_secs(10));
    }
    let warmup = dur("--warmup", &args.warmup)?;
    let load = match args.rate {
        Some(rate) => {
            if !(rate.is_finite() && rate > 0.0) {
                return Err(usage(format!(
                    "--rate must be a positive number, got {rate}"
                )));
            }
            Load::Open {
                rate,
                arrival: match args.arrival {
                    crate::cli::ArrivalArg::Constant => Arrival::Constant,
                    crate::cli::ArrivalArg::Poisson => Arrival::Poisson,
                },
                max_in_flight: args.concurrency.map_or(1000, |c| c as usize),
            }
        }
        None => Load::Closed {
            concurrency: args.concurrency.map_or(1, |c| c as usize),
        },
    };
    let slos: Vec<Slo> = args
        .slos
        .iter()
        .map(|s| Slo::parse(s).map_err(Error::Usage))
        .collect::<Result<_, _>>()?;
    let tolerances = Tolerances {
        median: ratio_arg("--tolerance-median", &args.tolerance_median)?,
        p99: ratio_arg("--tolerance-p99", &args.tolerance_p99)?,
    };
    let mut names: Vec<String> = Vec::new();
    for p in &args.providers {
        if !names.contains(p) {
            names.push(p.clone());
        }
    }
    if names.len() > 2 {
        return Err(usage(format!(
            "evalgate bench compares at most two providers side by side, got {}",
            names.len()
        )));
    }
    let sel = Selection {
        config: find_config(&args.config),
        paths: args.suites.clone(),
        filters: args.filters.clone(),
        tags: args.tags.clone(),
        providers: names.clone(),
        build: crate::provider::build::BuildOptions {
            mode: Mode::Live,
            no_cache: true,
            connect: true,
            bench: true,
        },
        ..Selection::default()
    };
    let plan = Plan::load(&sel)?;
    print_warnings(&plan);
    if names.is_empty() {
        names = plan.provider_names();
        if names.len() != 1 {
            return Err(usage(format!(
                "the selected suites use {} providers ({}): pass --provider NAME (twice for two side by side)",
                names.len(),
                names.join(", ")
            )));
        }
    }
    // The workload: each selected case once (a matrix plans it per provider), rendered now.
    const MAX_CASES: usize = 100_000;
    let mut items = Vec::new();
    let mut suites: Vec<String> = Vec::new();
    for pc in plan.cases() {
        let pc = pc?;
        let ps = &plan.suites[pc.suite];
        if ps.provider_name != names[0] || pc.case.skip.is_some() {
            continue;
        }
        if items.len() >= MAX_CASES {
            break;
        }
        let case = pc.case;
        if case.conversation.is_some() {
            return Err(usage(format!(
                "case `{}/{}` is a conversation (`turns:`): evalgate bench measures one request per case; select other cases with --filter",
                ps.suite.name, case.id
            )));
        }
        let Some(prompt) = case.prompt.clone().or_else(|| ps.suite.prompt.clone()) else {
            return Err(usage(format!(
                "case `{}/{}` has no prompt",
                ps.suite.name, case.id
            )));
        };
        let vars = minijinja::Value::from_serialize(&case.vars);
        let messages = prompt.render(&plan.env, &vars).map_err(|e| {
            usage(format!(
                "case `{}/{}`: cannot render the prompt: {e}",
                ps.suite.name, case.id
            ))
        })?;
        if !suites.contains(&ps.suite.name) {
            suites.push(ps.suite.name.clone());
        }
        items.push(Item {
            suite: Arc::from(ps.suite.name.as_str()),
            case,
            messages,
            vars,
        });
    }
    if items.is_empty() {
        return Err(usage(
            "no case to send: the selected suites have no case (or --filter/--tag matched none)\n  = hint: run `evalgate list` to see the case ids and tags".into(),
        ));
    }
    let mut targets = Vec::new();
    let mut timeout = None;
    for n in &names {
        let Some(provider) = plan.providers.get(n) else {
            return Err(usage(format!("provider `{n}` was not built")));
        };
        let pc = plan.config.providers.get(n);
        timeout = timeout.or(pc.and_then(|c| c.limits.timeout));
        targets.push(Target {
            name: n.clone(),
            provider: provider.clone(),
            estimates_tokens: pc
                .is_some_and(|c| matches!(c.kind, ProviderKind::Mock { .. } | ProviderKind::Echo)),
        });
    }
    let timeout = match &args.timeout {
        Some(t) => dur("--timeout", t)?,
        None => timeout.unwrap_or(std::time::Duration::from_secs(60)),
    };
    if timeout < std::time::Duration::from_millis(1) {
        return Err(usage("--timeout must be at least 1ms".into()));
    }
    if let Load::Open { rate, arrival, .. } = load {
        // The schedule is computed again by the run; refuse an impossible one now.
        crate::bench::schedule::offsets(
            arrival,
            rate,
            args.seed,
            warmup,
            duration.map(|d| d + warmup),
            args.requests,
        )
        .map_err(Error::Usage)?;
    }
    let baseline = match &args.baseline {
        Some(p) => Some((p.as_path(), bench_report::load_baseline(p)?)),
        None => None,
    };
    let limit = |key: bool| {
        slos.iter()
            .filter_map(Slo::per_request_limit)
            .filter(|(latency, _)| *latency == key)
            .map(|(_, v)| v)
            .reduce(f64::min)
    };
    let settings = Settings {
        load,
        duration,
        requests: args.requests,
        warmup,
        timeout,
        seed: args.seed,
        check: args.check,
        good_latency_ms: limit(true),
        good_ttft_ms: limit(false),
        live: progress::wanted(args.no_progress),
    };
    // Reports: flags, else defaults under reports/; opened (stale ones removed) before the run.
    let root = plan.config.root.clone();
    let pick = |flag: &Option<PathBuf>, default: &str| {
        (!args.no_reports).then(|| {
            flag.clone()
                .unwrap_or_else(|| root.join("reports").join(default))
        })
    };
    let json_path = pick(&args.json, "bench.json");
    let md_path = pick(&args.markdown, "bench.md");
    let junit_path = pick(&args.junit, "bench-junit.xml");
    let svg_path = pick(&args.svg, "bench.svg");
    let all: Vec<&PathBuf> = [&json_path, &md_path, &junit_path, &svg_path]
        .into_iter()
        .flatten()
        .collect();
    for (i, a) in all.iter().enumerate() {
        if all[i + 1..].iter().any(|b| b == a) {
            return Err(usage(format!(
                "two reports name the same file `{}`\n  = hint: give each report its own path",
                display_path(a)
            )));
        }
    }
    for p in &all {
        crate::util::fsafe::no_symlinks(p).map_err(|e| Error::output(p, e))?;
        if std::fs::symlink_metadata(p).is_ok_and(|m| m.is_file()) {
            std::fs::remove_file(p).map_err(|e| Error::output(p, e))?;
        }
        if let Some(dir) = p.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| Error::output(p, e))?;
        }
    }
    let workload = Arc::new(Workload {
        targets,
        items,
        env: plan.env.clone(),
        registry: plan.providers.clone(),
        golden: Arc::new(Store::new(
            plan.config.golden_dir.clone(),
            golden::Writes::Nothing,
        )),
    });
    let workload_cases = workload.items.len();
    let (rt, mut stop) = runtime_with_stop_signals(RuntimeShape::default())?;
    let signal = std::sync::atomic::AtomicI32::new(0);
    let measured = rt.block_on(crate::bench::run(workload, settings.clone(), async {
        let sig = stop.wait().await;
        signal.store(sig, std::sync::atomic::Ordering::SeqCst);
    }));
    // Abandoned requests of an interrupted run are not waited for.
    rt.shutdown_background();
    let analysis = bench_report::analyse(
        &measured,
        bench_report::AnalysisInput {
            settings: &settings,
            names,
            slos: &slos,
            baseline,
            tolerances,
            workload_cases,
            suites,
        },
    );
    if let Some(p) = &svg_path {
        crate::util::atomic::write_atomic(
            p,
            bench_report::svg(&analysis, &measured.rec.points).as_bytes(),
        )?;
    }
    if let Some(p) = &json_path {
        let v = bench_report::to_json(&analysis, svg_path.as_deref());
        let text = serde_json::to_string_pretty(&v)
            .map_err(|e| Error::Infrastructure(format!("cannot serialize the report: {e}")))?;
        crate::util::atomic::write_atomic(p, text.as_bytes())?;
    }
    if let Some(p) = &md_path {
        let link = svg_path.as_deref().map(|s| bench_report::link_from(p, s));
        crate::util::atomic::write_atomic(
            p,
            bench_report::markdown(&analysis, link.as_deref()).as_bytes(),
        )?;
    }
    // GitHub's job summary gets the Markdown too (without the chart: a
    // local file link means nothing there).
    if let Some(summary) =
        std::env::var_os("GITHUB_STEP_SUMMARY").filter(|v| !v.is_empty() && !args.no_reports)
    {
        let text = bench_report::markdown(&analysis, None);
        let appended = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&summary)
            .and_then(|mut f| f.write_all(text.as_bytes()));
        if let Err(e) = appended {
            return Err(Error::output(Path::new(&summary), e));
        }
    }
    if let Some(p) = &junit_path {
        crate::util::atomic::write_atomic(p, bench_report::junit(&analysis)?.as_bytes())?;
    }
    let mut out = bench_report::console(&analysis);
    if !all.is_empty() {
        let names: Vec<String> = all.iter().map(|p| display_path(p)).collect();
        out.push_str(&format!("reports: {}\n", names.join(", ")));
    }
    let _ = write!(std::io::stdout(), "{out}");
    let sig = signal.load(std::sync::atomic::Ordering::SeqCst);
    if measured.interrupted && sig > 0 {
        return Ok(128 + sig);
    }
    Ok(analysis.exit_code)
}

/// Delete the previous reports at the run's report paths and the
/// `.evalgate-*.tmp` files of an interrupted write beside them.
fn remove_stale_reports(targets: &[(&'static ReportFormat, Option<PathBuf>)]) -> Result<(), Error> {
    for path in targets.iter().filter_map(|(_, p)| p.as_deref()) {
        crate::util::fsafe::no_symlinks(path).map_err(|e| Error::output(path, e))?;
        match std::fs::symlink_metadata(path) {
            Ok(m) if m.is_file() => {
                std::fs::remove_file(path).map_err(|e| Error::output(path, e))?;
            }
            _ => {}
        }
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        crate::util::atomic::remove_stray_temps(dir);
    }
    Ok(())
}

/// The signals that stop a run like Ctrl-C: SIGINT and, on Unix, SIGTERM,
/// SIGHUP and SIGQUIT (CI runners and Kubernetes cancel jobs with SIGTERM).
/// `evalgate serve-mock`: serve until a stop signal, then exit 0.
fn serve_mock(args: &crate::cli::ServeMockArgs) -> Result<i32, Error> {
    use crate::serve::faults::{Dist, Faults};
    let mut problems = Vec::new();
    let latency = Dist::parse(&args.latency).unwrap_or_else(|e| {
        problems.push(format!("--latency: {e}"));
        Dist::Fixed(0.0)
    });
    for (flag, rate) in [
        ("--error-rate", args.error_rate),
        ("--rate-limit-rate", args.rate_limit_rate),
        ("--truncate-rate", args.truncate_rate),
        ("--stall-rate", args.stall_rate),
        ("--malformed-rate", args.malformed_rate),
    ] {
        if !(0.0..=1.0).contains(&rate) {
            problems.push(format!("{flag} must be in [0, 1], not {rate}"));
        }
    }
    let pause = match (&args.pause_every, &args.pause_for) {
        (Some(every), Some(for_)) => {
            let mut d = |flag: &str, v: &str| {
                crate::util::fmt::parse_duration(v).unwrap_or_else(|e| {
                    problems.push(format!("{flag}: {e}"));
                    std::time::Duration::ZERO
                })
            };
            let (every, for_) = (d("--pause-every", every), d("--pause-for", for_));
            if every.is_zero() || for_ >= every {
                problems.push(
                    "--pause-for must be shorter than --pause-every, and --pause-every above 0"
                        .to_string(),
                );
            }
            Some(crate::serve::faults::Pause { every, for_ })
        }
        _ => None,
    };
    if !problems.is_empty() {
        return Err(Error::Usage(problems.join("\nerror: ")));
    }
    let responses =
        crate::provider::mock::MockResponses::load(&args.responses).map_err(Error::from)?;
    let seed = args.seed.unwrap_or_else(|| {
        let s = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        let _ = writeln!(std::io::stderr(), "seed: {s} (--seed {s} replays this run)");
        s
    });
    let opts = crate::serve::Options {
        responses,
        host: args.host.clone(),
        port: args.port,
        model: args.model.clone(),
        faults: Faults {
            latency,
            ttft: std::time::Duration::from_millis(args.ttft),
            token_delay: std::time::Duration::from_millis(args.token_delay),
            error_rate: args.error_rate,
            error_status: args.error_status,
            rate_limit_rate: args.rate_limit_rate,
            retry_after: args.retry_after,
            truncate_rate: args.truncate_rate,
            stall_rate: args.stall_rate,
            stall_for: args.stall_for.map(std::time::Duration::from_millis),
            malformed_rate: args.malformed_rate,
            pause,
        },
        seed,
        log: args.log.clone(),
        stamp_events: args.stamp_events,
    };
    let (rt, mut stop) = runtime_with_stop_signals(RuntimeShape::default())?;
    rt.block_on(crate::serve::run(opts, async move {
        stop.wait().await;
    }))?;
    Ok(exit::OK)
}

struct StopSignals {
    #[cfg(unix)]
    streams: Vec<(tokio::signal::unix::Signal, i32)>,
}

/// How a command's runtime is shaped.
#[derive(Debug, Clone, Copy, Default)]
struct RuntimeShape {
    /// Worker threads; `None`: one a core.
    threads: Option<usize>,
    /// Look for ready sockets more often than tokio does by default.
    poll_io_often: bool,
}

/// The async runtime of a command, with the stop signals' handlers
/// installed in it (before anything starts, so an early signal stops the
/// command cleanly instead of killing the process).
fn runtime_with_stop_signals(
    shape: RuntimeShape,
) -> Result<(tokio::runtime::Runtime, StopSignals), Error> {
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if let Some(n) = shape.threads {
        builder.worker_threads(n);
    }
    if shape.poll_io_often {
        // A busy worker looks for ready sockets every 8 tasks instead of
        // tokio's 61: an answer that arrived is read (and stamped) sooner
        // when many requests are in flight (at concurrency 32 on 2 cores,
        // the p50 reported fell by about a tenth, at the same CPU time).
        builder.event_interval(8);
    }
    let rt = builder
        .enable_all()
        .build()
        .map_err(|e| Error::Infrastructure(format!("cannot start the async runtime: {e}")))?;
    let stop = {
        let _guard = rt.enter();
        StopSignals::install()
    };
    Ok((rt, stop))
}

impl StopSignals {
    /// Install the handlers (inside the runtime's context).
    fn install() -> Self {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            let mut streams = Vec::new();
            for (kind, num) in [
                (SignalKind::interrupt(), libc::SIGINT),
                (SignalKind::terminate(), libc::SIGTERM),
                (SignalKind::hangup(), libc::SIGHUP),
                (SignalKind::quit(), libc::SIGQUIT),
            ] {
                if let Ok(s) = signal(kind) {
                    streams.push((s, num));
                }
            }
            StopSignals { streams }
        }
        #[cfg(not(unix))]
        StopSignals {}
    }

    /// The number of the first signal received. Never returns when no
    /// handler could be installed.
    async fn wait(&mut self) -> i32 {
        #[cfg(unix)]
        {
            if self.streams.is_empty() {
                return std::future::pending::<i32>().await;
            }
            let waits = self.streams.iter_mut().map(|(s, num)| {
                let num = *num;
                Box::pin(async move {
                    match s.recv().await {
                        Some(()) => num,
                        None => std::future::pending::<i32>().await,
                    }
                })
            });
            let (num, _, _) = futures::future::select_all(waits).await;
            num
        }
        #[cfg(not(unix))]
        {
            if tokio::signal::ctrl_c().await.is_err() {
                // No signal handler available: never interrupt.
                std::future::pending::<()>().await;
            }
            2
        }
    }
}

/// The golden directory from the config (without loading suites).
fn golden_store(config: &Option<PathBuf>) -> Result<Store, Error> {
    let (path, explicit) = match find_config(config) {
        Some(p) => (p, true),
        None => (PathBuf::from("evalgate.yaml"), false),
    };
    let (cfg, errors) = ProjectConfig::load(&path, explicit);
    if !errors.is_empty() {
        return Err(Error::from(errors));
    }
    // Outside a project there is nothing to list: say so instead of "0 pending".
    if cfg.path.is_none() && !cfg.golden_dir.is_dir() {
        return Err(Error::Usage(format!(
            "no evalgate.yaml and no `{}` directory here\n  = hint: run from the project root or pass --config",
            display_path(&cfg.golden_dir)
        )));
    }
    Ok(Store::new(cfg.golden_dir, golden::Writes::Nothing))
}

fn golden_command(args: &GoldenArgs) -> Result<i32, Error> {
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let io = |e: std::io::Error| Error::Infrastructure(format!("cannot write to stdout: {e}"));
    match &args.command {
        GoldenCommand::Pending => {
            let store = golden_store(&args.config)?;
            let scan = store.pending(None)?;
            for p in &scan.items {
                let what = golden::review::pending_kind(p);
                writeln!(out, "{}  ({what})  {}", p.id(), display_path(&p.new_path)).map_err(io)?;
            }
            for b in &scan.broken {
                writeln!(out, "{}  (unreadable)  {}", b.id, display_path(&b.path)).map_err(io)?;
            }
            writeln!(out, "{} pending", scan.items.len() + scan.broken.len()).map_err(io)?;
            report_broken(&scan.broken);
            let strays = store.stray_temps();
            if !strays.is_empty() {
                let names: Vec<String> = strays.iter().map(|p| display_path(p)).collect();
                writeln!(
                    out,
                    "ignored {} left by an interrupted run: {} (`evalgate golden prune` removes them)",
                    crate::util::fmt::count(strays.len(), "temporary file"),
                    names.join(", ")
                )
                .map_err(io)?;
            }
            Ok(exit::OK)
        }
        GoldenCommand::Review => {
            use std::io::IsTerminal;
            if !std::io::stdin().is_terminal() || !std::io::stdout().is_terminal() {
                return Err(Error::Usage(
                    "`evalgate golden review` needs an interactive terminal\n  = hint: use `evalgate golden pending` to list changes and `evalgate golden accept [FILTER]` or `evalgate golden reject [FILTER]` to resolve them".to_string(),
                ));
            }
            let store = golden_store(&args.config)?;
            let scan = store.pending(None)?;
            report_broken(&scan.broken);
            if scan.items.is_empty() {
                writeln!(out, "no pending golden changes").map_err(io)?;
                return Ok(exit::OK);
            }
            let term = console::Term::stdout();
            let mut ask = || {
                term.read_char().map_err(|e| {
                    Error::Infrastructure(format!("cannot read from the terminal: {e}"))
                })
            };
            let colour = console::colors_enabled();
            let t = golden::review::review(&scan.items, &mut out, &mut ask, colour)?;
            writeln!(
                out,
                "accepted {}, rejected {}, skipped {}",
                t.accepted, t.rejected, t.skipped
            )
            .map_err(io)?;
            Ok(exit::OK)
        }
        GoldenCommand::Accept { filter } | GoldenCommand::Reject { filter } => {
            let accept = matches!(args.command, GoldenCommand::Accept { .. });
            let verb = if accept { "accepted" } else { "rejected" };
            let store = golden_store(&args.config)?;
            let scan = store.pending(filter.as_deref())?;
            if let Some(f) = filter {
                if scan.items.is_empty() && scan.broken.is_empty() {
                    return Err(Error::Usage(format!(
                        "no pending golden change matches `{f}`\n  = hint: run `evalgate golden pending` to see what is pending (filters are globs on suite/case; a bare name is a suite)"
                    )));
                }
            }
            for p in &scan.items {
                if accept {
                    Store::accept(p)?;
                } else {
                    Store::reject(p)?;
                }
                writeln!(out, "{verb} {}  {}", p.id(), display_path(&p.target)).map_err(io)?;
            }
            // An unreadable pending file is skipped by accept; reject always
            // deletes it.
            if !accept {
                for b in &scan.broken {
                    Store::reject_broken(b)?;
                    writeln!(
                        out,
                        "{verb} {}  {} (unreadable)",
                        b.id,
                        display_path(&b.path)
                    )
                    .map_err(io)?;
                }
            }
            let done = scan.items.len() + if accept { 0 } else { scan.broken.len() };
            if done == 0 {
                writeln!(out, "no pending golden changes").map_err(io)?;
            } else {
                writeln!(out, "{done} {verb}").map_err(io)?;
            }
            if accept && !scan.broken.is_empty() {
                report_broken(&scan.broken);
                return Ok(exit::INVALID_INPUT);
            }
            Ok(exit::OK)
        }
        GoldenCommand::Prune { dry_run, paths } => {
            let plan = Plan::load(&Selection {
                config: find_config(&args.config),
                paths: paths.clone(),
                ..Selection::default()
            })?;
            let store = Store::new(plan.config.golden_dir.clone(), golden::Writes::Nothing);
            let used = plan.golden_paths(&store)?;
            let mut removed = 0;
            // Only golden files (`.txt`, `.json` and their pending `.new`): other files are the user's.
            let is_golden = |p: &Path| {
                let name = p.to_string_lossy();
                [".txt", ".json", ".txt.new", ".json.new"]
                    .iter()
                    .any(|e| name.ends_with(e))
            };
            // Temporary files of a killed run's golden writes are never golden.
            for f in store.stray_temps() {
                removed += 1;
                if *dry_run {
                    writeln!(
                        out,
                        "would remove {} (left by an interrupted run)",
                        display_path(&f)
                    )
                    .map_err(io)?;
                } else {
                    std::fs::remove_file(&f).map_err(|e| Error::output(&f, e))?;
                    writeln!(
                        out,
                        "removed {} (left by an interrupted run)",
                        display_path(&f)
                    )
                    .map_err(io)?;
                }
            }
            for f in store.files().into_iter().filter(|f| is_golden(f)) {
                let target = if f.extension().is_some_and(|e| e == "new") {
                    f.with_extension("")
                } else {
                    f.clone()
                };
                if used.contains(&target) {
                    continue;
                }
                removed += 1;
                if *dry_run {
                    writeln!(out, "would remove {}", display_path(&f)).map_err(io)?;
                } else {
                    std::fs::remove_file(&f).map_err(|e| Error::output(&f, e))?;
                    writeln!(out, "removed {}", display_path(&f)).map_err(io)?;
                }
            }
            if !*dry_run {
                for d in store.remove_empty_dirs() {
                    writeln!(out, "removed empty directory {}", display_path(&d)).map_err(io)?;
                }
            }
            writeln!(
                out,
                "{removed} unused golden file{} {}",
                plural(removed),
                if *dry_run {
                    "found (dry run, nothing removed)"
                } else {
                    "removed"
                }
            )
            .map_err(io)?;
            Ok(exit::OK)
        }
    }
}

/// Name every pending file that cannot be read (on stderr) and how to get rid of it.
fn report_broken(broken: &[golden::store::Broken]) {
    for b in broken {
        let _ = writeln!(
            std::io::stderr(),
            "warning: skipped {}: {}\n  = hint: delete it with `evalgate golden reject '{}'` and run again to write a new one",
            display_path(&b.path),
            b.error,
            b.id
        );
    }
}

/// Two reports written to one file would silently overwrite each other.
fn check_distinct_targets(
    targets: &[(&'static ReportFormat, Option<PathBuf>)],
    step_summary: Option<&Path>,
) -> Result<(), Error> {
    let named: Vec<(&str, Option<&Path>)> = targets
        .iter()
        .map(|(f, p)| (f.flag, p.as_deref()))
        .chain(std::iter::once(("$GITHUB_STEP_SUMMARY", step_summary)))
        .collect();
    let key = |p: &Path| {
        let abs = if p.is_absolute() {
            p.to_path_buf()
        } else {
            std::env::current_dir().unwrap_or_default().join(p)
        };
        display_path(&abs)
    };
    for (i, (a, pa)) in named.iter().enumerate() {
        for (b, pb) in &named[i + 1..] {
            if let (Some(pa), Some(pb)) = (pa, pb) {
                // The step summary is appended to; the Markdown report may not also be it.
                if key(pa) == key(pb) {
                    return Err(Error::Usage(format!(
                        "{a} and {b} name the same file `{}`\n  = hint: give each report its own path",
                        display_path(pa)
                    )));
                }
            }
        }
    }
    Ok(())
}

/// `--alpha` applied to `policy`, then the `--baseline` report read into a
/// comparer with the tolerance flags (`run` and `merge`).
fn baseline_comparer(
    baseline: Option<&Path>,
    t: &ToleranceArgs,
    policy: &mut crate::gate::GatePolicy,
) -> Result<Option<Comparer>, Error> {
    if let Some(a) = t.alpha {
        policy.regression_alpha = a;
    }
    let Some(path) = baseline else {
        return Ok(None);
    };
    let mut tol = tolerance(t)?;
    tol.alpha = policy.regression_alpha;
    Ok(Some(Comparer::new(Baseline::load(path)?, tol)))
}

fn tolerance(t: &ToleranceArgs) -> Result<Tolerance, Error> {
    for (name, v) in [
        ("--score-tolerance", t.score_tolerance),
        ("--latency-tolerance", t.latency_tolerance),
        ("--tokens-tolerance", t.tokens_tolerance),
    ] {
        if !(v >= 0.0 && v.is_finite()) {
            return Err(Error::Usage(format!(
                "{name} must be a non-negative number, got {v}"
            )));
        }
    }
    if let Some(a) = t.alpha {
        if !(a > 0.0 && a < 1.0) {
            return Err(Error::Usage(format!(
                "--alpha must be a probability between 0 and 1 (e.g. 0.05), got {a}"
            )));
        }
    }
    Ok(Tolerance {
        score: t.score_tolerance,
        latency_ratio: t.latency_tolerance,
        tokens_ratio: t.tokens_tolerance,
        alpha: t.alpha.unwrap_or(crate::gate::DEFAULT_ALPHA),
    })
}

/// `evalgate compare BASE HEAD`: exit 1 on regressions beyond the limit or
/// failing new cases, 0 otherwise.
fn compare(args: &CompareArgs) -> Result<i32, Error> {
    let c = crate::compare::compare_files(&args.base, &args.head, tolerance(&args.tolerance)?)?;
    let text = match args.format {
        CompareFormat::Text => crate::compare::render_console(&c),
        CompareFormat::Markdown => crate::compare::render_markdown(&c),
        CompareFormat::Json => serde_json::to_string_pretty(&c)
            .map_err(|e| Error::Infrastructure(format!("cannot serialize the comparison: {e}")))?,
    };
    let _ = writeln!(std::io::stdout(), "{}", text.trim_end());
    let policy = crate::gate::GatePolicy {
        max_regressions: args.max_regressions,
        new_cases_must_pass: args.new_cases_must_pass,
        ..crate::gate::GatePolicy::default()
    };
    Ok(crate::gate::evaluate_comparison(&policy, &c).exit_code)
}

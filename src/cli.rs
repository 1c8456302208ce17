//! Command-line types (clap derive). No I/O here: `app.rs` turns these into a plan.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "evalgate",
    version,
    about = "Quality and regression test harness for AI systems: run suites of prompts against a model, check the outputs, gate CI",
    after_help = "Exit codes: 0 gate passed, 1 gate failed, 2 invalid input, 3 infrastructure error, 130 interrupted by Ctrl-C (143 SIGTERM, 129 SIGHUP, 131 SIGQUIT)."
)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Run suites and gate on the results (writes JUnit, JSON and Markdown reports).
    Run(RunCommand),
    /// Validate config and suites without running anything.
    Validate(SelectArgs),
    /// Print the cases a run would execute.
    List(ListArgs),
    /// Golden snapshots: list, review, accept or reject pending changes; prune unused goldens.
    Golden(GoldenArgs),
    /// Compare two JSON reports case by case: regressions, fixes, new, removed, flaky, deltas.
    Compare(CompareArgs),
    /// Merge the JSON reports of a run's shards (`run --shard K/N`) into one
    /// report in plan order with one gate verdict, as if it had been one run.
    Merge(MergeArgs),
    /// Serve a mock fixtures file as an OpenAI- and Anthropic-compatible HTTP API,
    /// with latency, errors, 429s and stream faults to order.
    ServeMock(ServeMockArgs),
    /// Run the built-in adversarial pack against a provider, without writing a suite.
    Scan(ScanArgs),
    /// Measure a provider's latency and throughput under a defined load
    /// (closed loop with --concurrency, open loop with --rate), with SLOs,
    /// two providers side by side, and a baseline.
    Bench(BenchArgs),
    /// Write a working starter project (config, suites, mock answers, a golden,
    /// a GitHub Actions workflow) into DIR; never overwrites a file.
    Init(InitArgs),
    /// Print a shell completion script to stdout.
    Completions(CompletionsArgs),
    /// Print the man page (roff) to stdout, or write every page into a directory.
    Man(ManArgs),
    /// Print the JSON Schema of evalgate.yaml, of a suite file or of a mock
    /// fixtures file, for editors (`evalgate schema suite > .evalgate/suite.schema.json`).
    Schema(SchemaArgs),
    /// Convert another tool's configuration into an evalgate project
    /// (evalgate.yaml, a suite, IMPORT-NOTES.md); never overwrites a file.
    Import(ImportArgs),
}

/// `evalgate import`.
#[derive(Debug, Args)]
pub(crate) struct ImportArgs {
    #[command(subcommand)]
    pub source: ImportSource,
}

/// The tools `evalgate import` reads.
#[derive(Debug, Subcommand)]
pub(crate) enum ImportSource {
    /// A promptfoo config (promptfooconfig.yaml): prompts, providers, tests
    /// and assertions; what cannot be converted is listed with its file:line.
    Promptfoo(ImportPromptfooArgs),
}

/// `evalgate import promptfoo`.
#[derive(Debug, Args)]
pub(crate) struct ImportPromptfooArgs {
    /// The promptfoo config file.
    #[arg(value_name = "CONFIG")]
    pub config: PathBuf,
    /// Where to write the evalgate project (created if missing).
    #[arg(long, value_name = "DIR", default_value = ".")]
    pub out: PathBuf,
}

/// A file kind `evalgate schema` prints the JSON Schema of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum SchemaKind {
    /// `evalgate.yaml`.
    Config,
    /// A suite file under `suites/`.
    Suite,
    /// A mock fixtures file (the `mock` provider's `responses:`, `serve-mock`).
    Mock,
}

/// `evalgate schema`.
#[derive(Debug, Args)]
pub(crate) struct SchemaArgs {
    /// Which file's schema.
    #[arg(value_enum)]
    pub kind: SchemaKind,
}

/// `evalgate init`.
#[derive(Debug, Args)]
pub(crate) struct InitArgs {
    /// Where to write the project (created if missing).
    #[arg(value_name = "DIR", default_value = ".")]
    pub dir: PathBuf,
}

/// `evalgate man`.
#[derive(Debug, Args)]
pub(crate) struct ManArgs {
    /// Write `evalgate.1` and one page per subcommand (`evalgate-run.1`, …)
    /// into this directory (created if missing) instead of printing the main page.
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

/// A shell `evalgate completions` writes a script for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum ShellArg {
    Bash,
    Zsh,
    Fish,
}

/// `evalgate completions`.
#[derive(Debug, Args)]
pub(crate) struct CompletionsArgs {
    /// The shell.
    #[arg(value_enum)]
    pub shell: ShellArg,
}

/// `--arrival`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum ArrivalArg {
    Constant,
    Poisson,
}

/// `evalgate bench`.
#[derive(Debug, Args)]
pub(crate) struct BenchArgs {
    /// The provider to measure (a name from evalgate.yaml); twice: two
    /// providers side by side, interleaved on one schedule (the first is
    /// the reference).
    #[arg(long = "provider", value_name = "NAME")]
    pub providers: Vec<String>,
    /// Suite file or directory whose cases are the workload (repeatable;
    /// default: the `suites` globs of evalgate.yaml).
    #[arg(long = "suite", value_name = "PATH")]
    pub suites: Vec<PathBuf>,
    /// Config file.
    #[arg(short, long, value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// Only cases whose `suite/case` matches this glob (repeatable).
    #[arg(short, long = "filter", value_name = "GLOB")]
    pub filters: Vec<String>,
    /// Only cases with this tag (repeatable).
    #[arg(short, long = "tag", value_name = "TAG")]
    pub tags: Vec<String>,
    /// Closed loop: this many workers, each sending when its last answer came
    /// (default 1). With --rate: the most requests in flight (default 1000).
    #[arg(short = 'j', long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=100000))]
    pub concurrency: Option<u32>,
    /// Open loop: requests per second, sent on a schedule computed up front.
    #[arg(long, value_name = "R")]
    pub rate: Option<f64>,
    /// Open loop: the arrival process.
    #[arg(long, value_enum, default_value_t = ArrivalArg::Constant, requires = "rate")]
    pub arrival: ArrivalArg,
    /// The seed of the Poisson schedule and of the side-by-side order.
    #[arg(long, value_name = "S", default_value_t = 1)]
    pub seed: u64,
    /// How long to measure, after the warmup (`30s`, `2m`; default 10s when
    /// --requests is not given).
    #[arg(long, value_name = "DURATION")]
    pub duration: Option<String>,
    /// How many requests to measure, after the warmup.
    #[arg(short = 'n', long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub requests: Option<u64>,
    /// Send for this long first and discard it (connections, caches, JIT).
    #[arg(long, value_name = "DURATION", default_value = "0s")]
    pub warmup: String,
    /// Per-request timeout, also the histograms' upper bound (default: the
    /// provider's `timeout`, else 60s).
    #[arg(long, value_name = "DURATION")]
    pub timeout: Option<String>,
    /// Also evaluate each answer's checks: goodput then counts correct answers only.
    #[arg(long)]
    pub check: bool,
    /// A service-level objective, e.g. `latency_p95_ms=2000`, `ttft_p95_ms=800`,
    /// `error_rate=0.01` (repeatable). Exit 1 when one is missed; goodput
    /// counts answers within every latency and TTFT limit.
    #[arg(long = "slo", value_name = "KEY=VALUE")]
    pub slos: Vec<String>,
    /// A previous `evalgate bench --json` report: exit 1 on a latency
    /// regression that is both significant and beyond the tolerances.
    #[arg(long, value_name = "BENCH.json")]
    pub baseline: Option<PathBuf>,
    /// Median increase tolerated against --baseline (`10%` or `0.1`).
    #[arg(long, value_name = "PCT", default_value = "10%", requires = "baseline")]
    pub tolerance_median: String,
    /// p99 increase tolerated against --baseline.
    #[arg(long, value_name = "PCT", default_value = "25%", requires = "baseline")]
    pub tolerance_p99: String,
    /// Write the JSON report here (default `reports/bench.json`).
    #[arg(long, value_name = "PATH")]
    pub json: Option<PathBuf>,
    /// Write the Markdown report here (default `reports/bench.md`).
    #[arg(long, value_name = "PATH")]
    pub markdown: Option<PathBuf>,
    /// Write the JUnit report here (default `reports/bench-junit.xml`).
    #[arg(long, value_name = "PATH")]
    pub junit: Option<PathBuf>,
    /// Write the SVG chart here (default `reports/bench.svg`).
    #[arg(long, value_name = "PATH")]
    pub svg: Option<PathBuf>,
    /// Write no report files (console only).
    #[arg(long, conflicts_with_all = ["junit", "json", "markdown", "svg"])]
    pub no_reports: bool,
    /// Never show the live line (it only shows on a terminal outside CI anyway).
    #[arg(long)]
    pub no_progress: bool,
    /// Refused: a benchmark measures the endpoint, not recordings.
    #[arg(long, hide = true)]
    pub replay: bool,
    /// Refused: a benchmark does not record.
    #[arg(long, hide = true)]
    pub record: bool,
}

/// `evalgate scan`: the adversarial pack as one suite named `scan`, with
/// every flag of `evalgate run`.
#[derive(Debug, Args)]
pub(crate) struct ScanArgs {
    /// Only these attack categories (repeatable; default: every category).
    #[arg(long = "category", value_name = "NAME")]
    pub categories: Vec<String>,
    /// Also run each attack rewritten by this mutator (repeatable; `all` for
    /// every mutator): base64, leetspeak, homoglyph, unicode-tags, zero-width.
    #[arg(long = "mutator", value_name = "NAME")]
    pub mutators: Vec<String>,
    /// A seeded sample of this many attacks, stratified by category.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pub sample: Option<u64>,
    /// The sample's seed.
    #[arg(long, value_name = "S", default_value_t = 0)]
    pub seed: u64,
    /// The system prompt the attacks are sent under (default: none; the
    /// system-prompt-leak category then looks for the canary only).
    #[arg(long, value_name = "TEXT")]
    pub system: Option<String>,
    /// Unbounded consumption: an answer longer than this is a successful attack.
    #[arg(long, value_name = "N", default_value_t = 20_000)]
    pub max_output_chars: u64,
    #[command(flatten)]
    pub run: RunArgs,
}

/// `evalgate serve-mock`. Rates are probabilities in [0, 1] per request;
/// durations are milliseconds.
#[derive(Debug, Args)]
pub(crate) struct ServeMockArgs {
    /// The mock fixtures file (the `responses` file of a `mock` provider).
    #[arg(long, value_name = "PATH")]
    pub responses: PathBuf,
    /// The address to bind.
    #[arg(long, default_value = "127.0.0.1")]
    pub host: String,
    /// The port (0: any free port; the address is printed either way).
    #[arg(long, default_value_t = 0)]
    pub port: u16,
    /// The model answers name when the request names none.
    #[arg(long, default_value = "mock")]
    pub model: String,
    /// Delay before the response headers: `50` or `fixed:50`, `uniform:10,50`,
    /// `normal:MEAN,SD`, `lognormal:MEDIAN,SIGMA`. A rule's `latency_ms` wins.
    #[arg(long, value_name = "DIST", default_value = "0")]
    pub latency: String,
    /// Streams: delay from the headers to the first text event.
    #[arg(long, value_name = "MS", default_value_t = 0)]
    pub ttft: u64,
    /// Streams: delay between text events.
    #[arg(long, value_name = "MS", default_value_t = 0)]
    pub token_delay: u64,
    /// Share of requests answered with --error-status.
    #[arg(long, value_name = "RATE", default_value_t = 0.0)]
    pub error_rate: f64,
    /// The status of injected errors.
    #[arg(long, value_name = "STATUS", default_value_t = 500, value_parser = clap::value_parser!(u16).range(400..=599))]
    pub error_status: u16,
    /// Share of requests answered 429 with a `Retry-After` header.
    #[arg(long, value_name = "RATE", default_value_t = 0.0)]
    pub rate_limit_rate: f64,
    /// The `Retry-After` of a 429, in seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 1)]
    pub retry_after: u64,
    /// Share of streams that end halfway, without their closing events.
    #[arg(long, value_name = "RATE", default_value_t = 0.0)]
    pub truncate_rate: f64,
    /// Share of streams that stall halfway.
    #[arg(long, value_name = "RATE", default_value_t = 0.0)]
    pub stall_rate: f64,
    /// How long a stall lasts before the stream goes on (default: forever).
    #[arg(long, value_name = "MS")]
    pub stall_for: Option<u64>,
    /// Share of streams with an event whose data is not JSON.
    #[arg(long, value_name = "RATE", default_value_t = 0.0)]
    pub malformed_rate: f64,
    /// A whole-server stall every this often (`10s`, `500ms`): the last
    /// --pause-for of every period since the start; requests that arrive
    /// during a pause wait until it ends.
    #[arg(long, value_name = "DURATION", requires = "pause_for")]
    pub pause_every: Option<String>,
    /// How long each pause of --pause-every lasts.
    #[arg(long, value_name = "DURATION", requires = "pause_every")]
    pub pause_for: Option<String>,
    /// Seed of every random decision (default: from the clock, printed to stderr).
    #[arg(long, value_name = "N")]
    pub seed: Option<u64>,
    /// Streams: stamp every event with its send time (a `: sent_us=MICROS`
    /// comment line, which SSE clients ignore), so a client can measure its
    /// own per-event delay (evalgate reports it as `event_delay`).
    #[arg(long)]
    pub stamp_events: bool,
    /// Append one JSON line per request to this file.
    #[arg(long, value_name = "PATH")]
    pub log: Option<PathBuf>,
}

/// What counts as a change when comparing runs.
#[derive(Debug, Args, Clone)]
pub(crate) struct ToleranceArgs {
    /// Score changes smaller than this are not reported.
    #[arg(long, value_name = "DELTA", default_value_t = 0.05)]
    pub score_tolerance: f64,
    /// Latency changes within this ratio (0.2 = ±20%) are not reported.
    #[arg(long, value_name = "RATIO", default_value_t = 0.2)]
    pub latency_tolerance: f64,
    /// Token usage changes within this ratio are not reported.
    #[arg(long, value_name = "RATIO", default_value_t = 0.1)]
    pub tokens_tolerance: f64,
    /// A case with repeats regresses only when Fisher's exact test
    /// (one-sided) gives p below this (default: `gate.regression_alpha`,
    /// else 0.05).
    #[arg(long, value_name = "P")]
    pub alpha: Option<f64>,
}

/// A non-negative amount of US dollars: `5`, `5.00`, `$5`.
fn parse_usd(s: &str) -> Result<f64, String> {
    let t = s.trim().trim_start_matches('$');
    match t.parse::<f64>() {
        Ok(v) if v.is_finite() && v >= 0.0 => Ok(v),
        _ => Err(format!(
            "`{s}` is not an amount of US dollars; e.g. `--max-cost 5.00`"
        )),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum CompareFormat {
    Text,
    Markdown,
    Json,
}

#[derive(Debug, Args)]
pub(crate) struct CompareArgs {
    /// The baseline report (e.g. from the main branch).
    pub base: PathBuf,
    /// The report to check.
    pub head: PathBuf,
    /// Output format.
    #[arg(long, value_enum, default_value_t = CompareFormat::Text)]
    pub format: CompareFormat,
    /// Exit 1 when more cases than this regressed.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub max_regressions: u64,
    /// Whether cases new in HEAD that do not pass fail the comparison.
    #[arg(long, value_name = "BOOL", action = clap::ArgAction::Set, default_value_t = true)]
    pub new_cases_must_pass: bool,
    #[command(flatten)]
    pub tolerance: ToleranceArgs,
}

#[derive(Debug, Args)]
pub(crate) struct GoldenArgs {
    #[command(subcommand)]
    pub command: GoldenCommand,
    /// Config file (for `golden_dir` and, with `prune`, the suites).
    #[arg(short, long, value_name = "PATH", global = true)]
    pub config: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub(crate) enum GoldenCommand {
    /// List pending changes (`.new` files) with their case ids.
    Pending,
    /// Walk pending changes on a terminal: show the diff, then accept, reject or skip.
    Review,
    /// Accept pending changes (all, or those whose `suite/case` matches FILTER).
    Accept {
        /// Glob on `suite/case`; a name without `/` selects a suite.
        filter: Option<String>,
    },
    /// Reject (delete) pending changes (all, or those matching FILTER).
    Reject {
        /// Glob on `suite/case`; a name without `/` selects a suite.
        filter: Option<String>,
    },
    /// Find goldens that no case uses any more, and delete them.
    Prune {
        /// Only list what would be deleted.
        #[arg(long)]
        dry_run: bool,
        /// The suites whose cases count as users (default: the `suites` globs of
        /// evalgate.yaml); pass the same suite paths you run.
        paths: Vec<PathBuf>,
    },
}

/// `--update-golden`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum UpdateGolden {
    /// Write `.new` pending files locally; write nothing in CI.
    Auto,
    /// Write goldens that do not exist yet.
    New,
    /// Overwrite goldens that differ.
    Always,
    /// Never write goldens.
    No,
}

/// Which suites and cases.
#[derive(Debug, Args, Clone)]
pub(crate) struct SelectArgs {
    /// Suite files or directories (default: the `suites` globs of evalgate.yaml).
    pub paths: Vec<PathBuf>,
    /// Config file.
    #[arg(short, long, value_name = "PATH", default_value = None)]
    pub config: Option<PathBuf>,
    /// Only cases whose `suite/case` matches this glob (repeatable; a name without `/` selects a suite).
    #[arg(short, long = "filter", value_name = "GLOB")]
    pub filters: Vec<String>,
    /// Only cases with this tag (repeatable; any matches).
    #[arg(short, long = "tag", value_name = "TAG")]
    pub tags: Vec<String>,
    /// Run every suite against this provider (a name from evalgate.yaml).
    /// Repeat it to run a provider matrix: every suite against each one.
    #[arg(long = "provider", value_name = "NAME")]
    pub providers: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum ColorChoice {
    Auto,
    Always,
    Never,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum ListFormat {
    Text,
    Json,
}

#[derive(Debug, Args)]
pub(crate) struct ListArgs {
    #[command(flatten)]
    pub select: SelectArgs,
    /// Output format.
    #[arg(long, value_enum, default_value_t = ListFormat::Text)]
    pub format: ListFormat,
}

/// `evalgate run`: the flags `evalgate scan` shares, and sampling.
#[derive(Debug, Args)]
pub(crate) struct RunCommand {
    #[command(flatten)]
    pub run: RunArgs,
    /// Run a seeded sample of the selected cases, stratified by suite: a
    /// number of cases (`--sample 50`) or a share (`--sample 10%`).
    #[arg(long, value_name = "N|P%")]
    pub sample: Option<String>,
    /// The seed of `--sample`.
    #[arg(long, value_name = "N", default_value_t = 0, requires = "sample")]
    pub seed: u64,
    /// Continue the run whose journal is there (after a crash, `kill -9`,
    /// a lost runner): attempts that finished are taken from the journal,
    /// the rest run.
    #[arg(long, conflicts_with = "record")]
    pub resume: bool,
    /// Where the run's journal is written (and read by --resume); default:
    /// `.evalgate-journal.jsonl` beside the reports evalgate.yaml names.
    #[arg(long, value_name = "PATH")]
    pub journal: Option<std::path::PathBuf>,
    /// Keep no journal (the run cannot be resumed; saves its CPU and disk).
    #[arg(long, conflicts_with_all = ["resume", "journal"])]
    pub no_journal: bool,
}

/// The gate flags a run and a merge share (each overrides `gate:` of
/// evalgate.yaml).
#[derive(Debug, Args)]
pub(crate) struct GateArgs {
    /// Gate: minimum pass rate over all cases, in [0, 1].
    #[arg(long, value_name = "RATE", allow_negative_numbers = true)]
    pub min_pass_rate: Option<f64>,
    /// Gate: at most this many failed cases.
    #[arg(long, value_name = "N")]
    pub max_failures: Option<u64>,
    /// Gate: whether cases with errors fail the gate.
    #[arg(long, value_name = "BOOL", action = clap::ArgAction::Set)]
    pub fail_on_error: Option<bool>,
    /// Gate: whether flaky cases fail the gate.
    #[arg(long, value_name = "BOOL", action = clap::ArgAction::Set)]
    pub fail_on_flaky: Option<bool>,
}

/// The report files a run (or a merge) writes; flags override the
/// `reports:` of evalgate.yaml.
#[derive(Debug, Args)]
pub(crate) struct ReportArgs {
    /// Write a JUnit XML report here.
    #[arg(long, value_name = "PATH")]
    pub junit: Option<PathBuf>,
    /// Write the JSON report here.
    #[arg(long, value_name = "PATH")]
    pub json: Option<PathBuf>,
    /// Write the Markdown summary here.
    #[arg(long, value_name = "PATH")]
    pub markdown: Option<PathBuf>,
    /// Write the HTML report here: one self-contained page (no network).
    #[arg(long, value_name = "PATH")]
    pub html: Option<PathBuf>,
    /// Write no report files (console only).
    #[arg(long, conflicts_with_all = ["junit", "json", "markdown", "html"])]
    pub no_reports: bool,
}

/// `evalgate merge`: shard reports in, one run's reports and verdict out.
#[derive(Debug, Args)]
pub(crate) struct MergeArgs {
    /// The JSON reports of every shard of one run (`run --shard K/N --json PATH`).
    #[arg(value_name = "SHARD.json", required = true)]
    pub inputs: Vec<PathBuf>,
    /// Config file (its gate policy judges the merged run; default:
    /// evalgate.yaml found as `run` finds it).
    #[arg(short, long, value_name = "PATH")]
    pub config: Option<PathBuf>,
    #[command(flatten)]
    pub reports: ReportArgs,
    #[command(flatten)]
    pub gate: GateArgs,
    /// Compare the merged run with a previous run's JSON report and gate on regressions.
    #[arg(long, value_name = "REPORT.json")]
    pub baseline: Option<PathBuf>,
    /// Gate: at most this many regressions against --baseline (default 0).
    #[arg(long, value_name = "N", requires = "baseline")]
    pub max_regressions: Option<u64>,
    #[command(flatten)]
    pub tolerance: ToleranceArgs,
    /// Show at most this many failures in detail on the console.
    #[arg(long, value_name = "N", default_value_t = 50)]
    pub show_failures: usize,
    /// Print only the verdict and failures.
    #[arg(short, long, conflicts_with = "verbose")]
    pub quiet: bool,
    /// Also list passing cases.
    #[arg(short, long)]
    pub verbose: bool,
    /// Colour on the console.
    #[arg(long, value_enum, default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,
}

#[derive(Debug, Args)]
pub(crate) struct RunArgs {
    #[command(flatten)]
    pub select: SelectArgs,
    /// Attempts running at once (default: `concurrency` in evalgate.yaml, else 8).
    #[arg(short = 'j', long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=10000))]
    pub concurrency: Option<u32>,
    /// Stop scheduling after the first failed or errored case.
    #[arg(long)]
    pub fail_fast: bool,
    /// Call the providers and save every exchange to cassettes under
    /// `fixtures/cassettes/` (the `cassettes` directory of evalgate.yaml).
    #[arg(long, conflicts_with = "replay")]
    pub record: bool,
    /// Answer from recorded cassettes instead of calling network and exec
    /// providers: no network, no credentials.
    #[arg(long)]
    pub replay: bool,
    /// Run `script` checks under --replay too (by default a replayed run
    /// starts no process, and a script check is an `error`).
    #[arg(long)]
    pub allow_scripts: bool,
    /// Bypass every provider's response cache (`cache: true`).
    #[arg(long)]
    pub no_cache: bool,
    #[command(flatten)]
    pub reports: ReportArgs,
    /// Run one shard of the selected cases: `K/N` (the K-th of N, from 1),
    /// or `auto` / `auto/N` (the index from CI_NODE_INDEX or
    /// JOB_COMPLETION_INDEX, N from the flag, EVALGATE_SHARD_TOTAL or
    /// CI_NODE_TOTAL). Join the shards' JSON reports with `evalgate merge`.
    #[arg(long, value_name = "K/N|auto[/N]")]
    pub shard: Option<String>,
    #[command(flatten)]
    pub gate: GateArgs,
    /// Budget in USD: stop scheduling before the estimated spend would
    /// exceed it (overrides `gate.max_cost`).
    #[arg(long, value_name = "USD", value_parser = parse_usd)]
    pub max_cost: Option<f64>,
    /// Show at most this many failures in detail on the console.
    #[arg(long, value_name = "N", default_value_t = 50)]
    pub show_failures: usize,
    /// Never show a progress bar (it only shows on an interactive terminal outside CI anyway).
    #[arg(long)]
    pub no_progress: bool,
    /// Print only the verdict and failures.
    #[arg(short, long, conflicts_with = "verbose")]
    pub quiet: bool,
    /// Also list passing cases.
    #[arg(short, long)]
    pub verbose: bool,
    /// Compare with a previous run's JSON report and gate on regressions.
    #[arg(long, value_name = "REPORT.json")]
    pub baseline: Option<PathBuf>,
    /// Gate: at most this many regressions against --baseline (default 0).
    #[arg(long, value_name = "N", requires = "baseline")]
    pub max_regressions: Option<u64>,
    #[command(flatten)]
    pub tolerance: ToleranceArgs,
    /// What to do with goldens that are missing or differ.
    #[arg(long, value_enum, value_name = "MODE", default_value_t = UpdateGolden::Auto)]
    pub update_golden: UpdateGolden,
    /// Colour on the console.
    #[arg(long, value_enum, default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,
}

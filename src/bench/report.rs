//! What a benchmark means (SLOs, the side-by-side comparison, the baseline
//! rule, validity) and how it is written: console table, JSON (schema
//! `schema/bench.v1.json`), Markdown, JUnit (one test case per SLO) and an
//! SVG chart (a percentile curve on a log-scaled 1−q axis, and latency over
//! time), written by hand as text: no script, no network.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};
use serde_json::{json, Value};

use super::stats::{self, Hist, MannWhitney, QuantileDiff, Summary};
use super::{Load, Measured, PerTarget, Settings};
use crate::error::Error;
use crate::util::fmt::percent;

/// The JSON report's schema name and version.
pub(crate) const SCHEMA: &str = "evalgate.bench";
pub(crate) const SCHEMA_VERSION: u64 = 1;

/// Significance level of every test.
pub(crate) const ALPHA: f64 = 0.05;

/// What an SLO measures.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum SloMetric {
    /// A statistic of the latency histogram: a quantile, or `max`/`mean` (q = None → mean, q = 1 → max).
    Latency(Option<f64>),
    Ttft(Option<f64>),
    ErrorRate,
}

/// `--slo KEY=VALUE`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Slo {
    pub key: String,
    pub metric: SloMetric,
    pub threshold: f64,
}

impl Slo {
    /// `latency_p95_ms=2000`, `ttft_p99_ms=800`, `latency_max_ms=5000`,
    /// `latency_mean_ms=300`, `error_rate=0.01` (quantiles p50, p90, p95,
    /// p99, p99.9 / p99_9 / p999).
    pub(crate) fn parse(s: &str) -> Result<Slo, String> {
        let (key, value) = s
            .split_once('=')
            .ok_or_else(|| format!("--slo `{s}`: expected KEY=VALUE, e.g. latency_p95_ms=2000"))?;
        let key = key.trim();
        let threshold: f64 = value
            .trim()
            .trim_end_matches('%')
            .parse()
            .map_err(|_| format!("--slo `{s}`: `{value}` is not a number"))?;
        let threshold = if value.trim().ends_with('%') {
            threshold / 100.0
        } else {
            threshold
        };
        if !(threshold.is_finite() && threshold >= 0.0) {
            return Err(format!("--slo `{s}`: the threshold must be ≥ 0"));
        }
        let stat = |name: &str| -> Option<Option<f64>> {
            Some(match name {
                "p50" => Some(0.5),
                "p90" => Some(0.9),
                "p95" => Some(0.95),
                "p99" => Some(0.99),
                "p99.9" | "p99_9" | "p999" => Some(0.999),
                "max" => Some(1.0),
                "mean" => None,
                _ => return None,
            })
        };
        let metric = if key == "error_rate" {
            if threshold > 1.0 {
                return Err(format!(
                    "--slo `{s}`: error_rate is a share in [0, 1] (or a percentage)"
                ));
            }
            Some(SloMetric::ErrorRate)
        } else if let Some(rest) = key
            .strip_prefix("latency_")
            .and_then(|r| r.strip_suffix("_ms"))
        {
            stat(rest).map(SloMetric::Latency)
        } else if let Some(rest) = key
            .strip_prefix("ttft_")
            .and_then(|r| r.strip_suffix("_ms"))
        {
            stat(rest).map(SloMetric::Ttft)
        } else {
            None
        };
        let metric = metric.ok_or_else(|| {
            format!("--slo `{s}`: unknown key `{key}`\n  = hint: use latency_<stat>_ms, ttft_<stat>_ms (stat: p50, p90, p95, p99, p99.9, max, mean) or error_rate")
        })?;
        Ok(Slo {
            key: key.to_string(),
            metric,
            threshold,
        })
    }

    /// The per-request limit goodput applies (latency, TTFT).
    pub(crate) fn per_request_limit(&self) -> Option<(bool, f64)> {
        match self.metric {
            SloMetric::Latency(_) => Some((true, self.threshold)),
            SloMetric::Ttft(_) => Some((false, self.threshold)),
            SloMetric::ErrorRate => None,
        }
    }
}

/// Milliseconds with three significant digits (the histograms' precision): `0.412 ms`, `8.46 ms`, `15.2 ms`, `412 ms`, `2.35 s`.
pub(crate) fn ms(v: f64) -> String {
    if !v.is_finite() {
        "—".to_string()
    } else if v < 1.0 {
        format!("{v:.3} ms")
    } else if v < 10.0 {
        format!("{v:.2} ms")
    } else if v < 100.0 {
        format!("{v:.1} ms")
    } else if v < 1000.0 {
        format!("{v:.0} ms")
    } else {
        format!("{:.2} s", v / 1000.0)
    }
}

fn stat_of(h: &Hist, q: Option<f64>) -> Option<f64> {
    if h.is_empty() {
        return None;
    }
    Some(match q {
        None => h.summary().mean,
        Some(q) if q >= 1.0 => h.summary().max,
        Some(q) => h.quantile_ms(q),
    })
}

/// One SLO judged for one provider.
#[derive(Debug, Clone)]
pub(crate) struct SloResult {
    pub key: String,
    pub provider: String,
    pub threshold: f64,
    pub actual: Option<f64>,
    pub passed: bool,
    pub message: String,
}

/// One provider's figures.
#[derive(Debug, Clone)]
pub(crate) struct ProviderFigures {
    pub name: String,
    pub per: PerTarget,
    pub latency: Summary,
    pub latency_sent: Option<Summary>,
    pub ttft: Option<Summary>,
    pub requests: u64,
    pub error_rate: f64,
    pub requests_per_s: f64,
    pub output_tokens_per_s: f64,
    pub goodput_per_s: f64,
    pub tokens_estimated: bool,
}

/// Two providers side by side, or a provider against its baseline.
#[derive(Debug, Clone)]
pub(crate) struct Comparison {
    pub a: String,
    pub b: String,
    pub mann_whitney: Option<MannWhitney>,
    pub diffs: Vec<QuantileDiff>,
    pub verdict: String,
}

/// A regression against `--baseline`.
#[derive(Debug, Clone)]
pub(crate) struct BaselineResult {
    pub path: String,
    pub provider: String,
    pub baseline_provider: String,
    pub comparison: Comparison,
    pub regressions: Vec<String>,
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct Tolerances {
    pub median: f64,
    pub p99: f64,
}

/// Everything the reports show.
#[derive(Debug)]
pub(crate) struct Analysis {
    pub started_at: String,
    pub load: Load,
    pub settings: Settings,
    pub providers: Vec<ProviderFigures>,
    pub comparison: Option<Comparison>,
    pub slos: Vec<SloResult>,
    pub baseline: Vec<BaselineResult>,
    pub tolerances: Tolerances,
    pub scheduled: u64,
    /// Requests sent, warmup included.
    pub sent_total: u64,
    pub sends: u64,
    pub late: u64,
    pub lateness: Option<Summary>,
    pub elapsed: Duration,
    pub interrupted: bool,
    pub invalid: Vec<String>,
    pub workload_cases: usize,
    pub suites: Vec<String>,
    pub failures: Vec<String>,
    pub exit_code: i32,
}

fn comparison(a_name: &str, a: &Hist, b_name: &str, b: &Hist, seed: u64) -> Comparison {
    let mw = stats::mann_whitney(a, b);
    let diffs: Vec<QuantileDiff> = [0.5, 0.95, 0.99]
        .iter()
        .enumerate()
        .filter_map(|(k, &q)| stats::bootstrap_diff(a, b, q, seed ^ (k as u64 + 1)))
        .collect();
    let verdict = match (mw, diffs.first()) {
        (Some(mw), Some(d)) => {
            let pct = d.diff_ratio.map_or_else(
                || format!("{:+.2} ms", d.diff_ms),
                |r| format!("{:.1}%", r.abs() * 100.0),
            );
            let dir = if d.diff_ms > 0.0 {
                "slower"
            } else if d.diff_ms < 0.0 {
                "faster"
            } else {
                "as fast"
            };
            let p = p_text(mw.p);
            let sig = if d.significant && mw.p < ALPHA {
                "significant"
            } else {
                "not significant"
            };
            if d.diff_ms == 0.0 {
                format!("{b_name} is as fast as {a_name} at p50, {sig} (Mann-Whitney {p})")
            } else {
                format!(
                    "{b_name} is {pct} {dir} than {a_name} at p50 ({:+.2} ms, 95% CI {:+.2} to {:+.2} ms), {sig} (Mann-Whitney {p})",
                    d.diff_ms, d.ci_low_ms, d.ci_high_ms
                )
            }
        }
        _ => format!("{b_name} and {a_name} cannot be compared: one has no successful answer"),
    };
    Comparison {
        a: a_name.to_string(),
        b: b_name.to_string(),
        mann_whitney: mw,
        diffs,
        verdict,
    }
}

fn p_text(p: f64) -> String {
    if p < 0.001 {
        "p < 0.001".into()
    } else {
        format!("p = {p:.3}")
    }
}

/// A previous bench JSON report: each provider's latency histogram.
pub(crate) fn load_baseline(path: &Path) -> Result<Vec<(String, Hist)>, Error> {
    let bad = |why: String| {
        Error::Usage(format!(
            "--baseline {}: {why}\n  = hint: pass a JSON report written by `evalgate bench --json`",
            path.display()
        ))
    };
    let text = std::fs::read_to_string(path).map_err(|e| bad(format!("cannot read it: {e}")))?;
    let v: Value = serde_json::from_str(&text).map_err(|e| bad(format!("not JSON: {e}")))?;
    if v.get("schema").and_then(Value::as_str) != Some(SCHEMA) {
        return Err(bad(format!("not an `{SCHEMA}` report")));
    }
    let mut out = Vec::new();
    for p in v
        .get("providers")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let name = p
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let buckets: Vec<(u64, u64)> = p
            .pointer("/histograms/latency_us")
            .and_then(Value::as_array)
            .ok_or_else(|| bad(format!("provider `{name}` has no histograms.latency_us")))?
            .iter()
            .filter_map(|b| Some((b.get(0)?.as_u64()?, b.get(1)?.as_u64()?)))
            .collect();
        out.push((
            name,
            Hist::from_buckets(Duration::from_secs(3600), &buckets),
        ));
    }
    if out.is_empty() {
        return Err(bad("it has no providers".into()));
    }
    Ok(out)
}

/// Inputs of [`analyse`] beyond the measurements.
pub(crate) struct AnalysisInput<'a> {
    pub settings: &'a Settings,
    pub names: Vec<String>,
    pub slos: &'a [Slo],
    pub baseline: Option<(&'a Path, Vec<(String, Hist)>)>,
    pub tolerances: Tolerances,
    pub workload_cases: usize,
    pub suites: Vec<String>,
}

pub(crate) fn analyse(m: &Measured, input: AnalysisInput<'_>) -> Analysis {
    let settings = input.settings;
    let open = matches!(settings.load, Load::Open { .. });
    let secs = m.elapsed.as_secs_f64().max(1e-9);
    let providers: Vec<ProviderFigures> = m
        .rec
        .per
        .iter()
        .zip(&input.names)
        .map(|(p, name)| {
            let requests = p.requests();
            ProviderFigures {
                name: name.clone(),
                latency: p.latency.summary(),
                latency_sent: open.then(|| p.latency_sent.summary()),
                ttft: (!p.ttft.is_empty()).then(|| p.ttft.summary()),
                requests,
                error_rate: if requests == 0 {
                    0.0
                } else {
                    (requests - p.ok) as f64 / requests as f64
                },
                requests_per_s: requests as f64 / secs,
                output_tokens_per_s: p.output_tokens as f64 / secs,
                goodput_per_s: p.good as f64 / secs,
                tokens_estimated: p.tokens_estimated > 0,
                per: p.clone(),
            }
        })
        .collect();
    let side_by_side = (providers.len() == 2).then(|| {
        comparison(
            &providers[0].name,
            &providers[0].per.latency,
            &providers[1].name,
            &providers[1].per.latency,
            settings.seed,
        )
    });
    let mut slos = Vec::new();
    for p in &providers {
        for s in input.slos {
            let (actual, what) = match s.metric {
                SloMetric::Latency(q) => (stat_of(&p.per.latency, q), "latency"),
                SloMetric::Ttft(q) => (stat_of(&p.per.ttft, q), "time to first token"),
                SloMetric::ErrorRate => ((p.requests > 0).then_some(p.error_rate), "error rate"),
            };
            let stat = match s.metric {
                SloMetric::Latency(q) | SloMetric::Ttft(q) => match q {
                    None => "mean".to_string(),
                    Some(q) if q >= 1.0 => "max".to_string(),
                    Some(q) => format!("p{}", trim_float(q * 100.0)),
                },
                SloMetric::ErrorRate => String::new(),
            };
            let (passed, message) = match actual {
                Some(a) if s.metric == SloMetric::ErrorRate => (
                    a <= s.threshold,
                    format!("{what} {} (limit {})", percent(a), percent(s.threshold)),
                ),
                Some(a) => (
                    a <= s.threshold,
                    format!("{stat} {what} {} (limit {})", ms(a), ms(s.threshold)),
                ),
                None => (
                    false,
                    match s.metric {
                        SloMetric::Ttft(_) if p.per.ok > 0 => {
                            "no time to first token was measured (the provider is not streamed: set `stream: true`)".to_string()
                        }
                        _ => format!("no {what} was measured (no successful answer)"),
                    },
                ),
            };
            slos.push(SloResult {
                key: s.key.clone(),
                provider: p.name.clone(),
                threshold: s.threshold,
                actual,
                passed,
                message,
            });
        }
    }
    let mut baseline = Vec::new();
    if let Some((path, base)) = &input.baseline {
        for p in &providers {
            let found = base
                .iter()
                .find(|(n, _)| *n == p.name)
                .or_else(|| (base.len() == 1 && providers.len() == 1).then(|| &base[0]));
            let Some((bname, bh)) = found else { continue };
            let c = comparison(bname, bh, &p.name, &p.per.latency, settings.seed ^ 0xBA5E);
            let mut regressions = Vec::new();
            let significant = c
                .mann_whitney
                .is_some_and(|mw| mw.p < ALPHA && mw.prob_b_greater > 0.5);
            for d in &c.diffs {
                let (tol, label) = if d.quantile == 0.5 {
                    (input.tolerances.median, "p50")
                } else if d.quantile == 0.99 {
                    (input.tolerances.p99, "p99")
                } else {
                    continue;
                };
                let beyond = d.diff_ratio.is_some_and(|r| r > tol);
                let sig = d.ci_low_ms > 0.0 && (label == "p99" || significant);
                if beyond && sig {
                    regressions.push(format!(
                        "{}: {label} latency {} against {} in the baseline ({:+.1}%, beyond the {:.0}% tolerance; 95% CI of the difference {:+.2} to {:+.2} ms)",
                        p.name,
                        ms(d.b_ms),
                        ms(d.a_ms),
                        d.diff_ratio.unwrap_or(0.0) * 100.0,
                        tol * 100.0,
                        d.ci_low_ms,
                        d.ci_high_ms
                    ));
                }
            }
            baseline.push(BaselineResult {
                path: path.display().to_string(),
                provider: p.name.clone(),
                baseline_provider: bname.clone(),
                comparison: c,
                regressions,
            });
        }
    }
    let (sends, late) = (m.rec.sends, m.rec.late);
    let mut invalid = Vec::new();
    if open && stats::too_many_late(sends, late) {
        invalid.push(format!(
            "{late} of {sends} sends ({}) were more than {} ms late: the load generator did not keep the schedule (more than {} allowed); lower --rate, raise --concurrency, or free the machine",
            percent(late as f64 / sends as f64),
            stats::LATE_AFTER.as_millis(),
            percent(stats::LATE_SHARE_MAX)
        ));
    }
    let mut failures = Vec::new();
    failures.extend(invalid.iter().map(|i| format!("invalid run: {i}")));
    failures.extend(
        slos.iter()
            .filter(|s| !s.passed)
            .map(|s| format!("SLO {} failed for {}: {}", s.key, s.provider, s.message)),
    );
    failures.extend(
        baseline
            .iter()
            .flat_map(|b| b.regressions.iter().map(|r| format!("regression: {r}"))),
    );
    let total_ok: u64 = providers.iter().map(|p| p.per.ok).sum();
    let total: u64 = providers.iter().map(|p| p.requests).sum();
    let exit_code = if total > 0 && total_ok == 0 {
        failures.push("no request got a successful answer".into());
        crate::exit::INFRASTRUCTURE
    } else if !failures.is_empty() {
        crate::exit::GATE_FAILED
    } else {
        crate::exit::OK
    };
    Analysis {
        started_at: chrono::DateTime::<chrono::Utc>::from(m.started_at)
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        load: settings.load,
        settings: settings.clone(),
        providers,
        comparison: side_by_side,
        slos,
        baseline,
        tolerances: input.tolerances,
        scheduled: m.scheduled,
        sent_total: m.sent_total,
        sends,
        late,
        lateness: (open && !m.rec.lateness.is_empty()).then(|| m.rec.lateness.summary()),
        elapsed: m.elapsed,
        interrupted: m.interrupted,
        invalid,
        workload_cases: input.workload_cases,
        suites: input.suites,
        failures,
        exit_code,
    }
}

impl Analysis {
    fn loop_label(&self) -> String {
        match self.load {
            Load::Closed { concurrency } => format!(
                "closed loop, {concurrency} worker{}: latency from the actual send (a closed loop under-reports the tail: coordinated omission)",
                if concurrency == 1 { "" } else { "s" }
            ),
            Load::Open {
                rate,
                arrival,
                max_in_flight,
            } => format!(
                "open loop, {} arrivals at {rate} req/s (at most {max_in_flight} in flight): latency from the intended send (coordinated-omission corrected)",
                arrival.name()
            ),
        }
    }

    pub(crate) fn passed(&self) -> bool {
        self.exit_code == crate::exit::OK
    }
}

fn summary_json(s: &Summary) -> Value {
    json!({
        "n": s.n, "min": s.min, "mean": s.mean, "stddev": s.stddev,
        "p50": s.p50, "p90": s.p90, "p95": s.p95, "p99": s.p99, "p99_9": s.p99_9, "max": s.max,
    })
}

fn comparison_json(c: &Comparison) -> Value {
    json!({
        "a": c.a,
        "b": c.b,
        "mann_whitney": c.mann_whitney.map(|m| json!({"u": m.u, "z": m.z, "p": m.p, "prob_b_greater": m.prob_b_greater})),
        "quantiles": c.diffs.iter().map(|d| json!({
            "quantile": d.quantile, "a_ms": d.a_ms, "b_ms": d.b_ms, "diff_ms": d.diff_ms,
            "diff_ratio": d.diff_ratio, "ci95_low_ms": d.ci_low_ms, "ci95_high_ms": d.ci_high_ms,
            "significant": d.significant,
        })).collect::<Vec<_>>(),
        "verdict": c.verdict,
    })
}

/// The JSON report (schema `schema/bench.v1.json`).
pub(crate) fn to_json(a: &Analysis, svg: Option<&Path>) -> Value {
    let s = &a.settings;
    let open = matches!(a.load, Load::Open { .. });
    let load = match a.load {
        Load::Closed { concurrency } => json!({"loop": "closed", "concurrency": concurrency}),
        Load::Open {
            rate,
            arrival,
            max_in_flight,
        } => {
            json!({"loop": "open", "rate": rate, "arrival": arrival.name(), "seed": s.seed, "max_in_flight": max_in_flight})
        }
    };
    json!({
        "schema": SCHEMA,
        "schema_version": SCHEMA_VERSION,
        "evalgate_version": env!("CARGO_PKG_VERSION"),
        "started_at": a.started_at,
        "stopped": if a.interrupted { Value::from("interrupted") } else { Value::Null },
        "valid": a.invalid.is_empty(),
        "invalid_reasons": a.invalid,
        "load": load,
        "limits": {
            "duration_s": s.duration.map(|d| d.as_secs_f64()),
            "requests": s.requests,
            "warmup_s": s.warmup.as_secs_f64(),
            "timeout_s": s.timeout.as_secs_f64(),
        },
        "latency_from": if open { "intended_send" } else { "actual_send" },
        "quantile_method": stats::QUANTILE_METHOD,
        "retries": "none: each request is one try; a failed try is an error of its kind",
        "elapsed_s": a.elapsed.as_secs_f64(),
        "workload": {"suites": a.suites, "cases": a.workload_cases, "check": s.check},
        "sends": {
            "scheduled": a.scheduled,
            "sent": a.sent_total,
            "measured": if open { Value::from(a.sends) } else { Value::Null },
            "late": if open { Value::from(a.late) } else { Value::Null },
            "late_after_ms": stats::LATE_AFTER.as_secs_f64() * 1000.0,
            "late_share_max": stats::LATE_SHARE_MAX,
            "lateness_ms": a.lateness.as_ref().map(summary_json),
        },
        "providers": a.providers.iter().map(|p| json!({
            "name": p.name,
            "requests": p.requests,
            "ok": p.per.ok,
            "errors": p.per.errors,
            "error_rate": p.error_rate,
            "requests_per_s": p.requests_per_s,
            "output_tokens": p.per.output_tokens,
            "output_tokens_per_s": p.output_tokens_per_s,
            "tokens": if p.tokens_estimated { "estimated" } else { "reported" },
            "goodput": {"requests": p.per.good, "per_s": p.goodput_per_s, "share": if p.requests == 0 { 0.0 } else { p.per.good as f64 / p.requests as f64 }},
            "checks": s.check.then(|| json!({"passed": p.per.checks_passed, "failed": p.per.checks_failed})),
            "latency_ms": summary_json(&p.latency),
            "latency_from_send_ms": p.latency_sent.as_ref().map(summary_json),
            "ttft_ms": p.ttft.as_ref().map(summary_json),
            "histograms": {
                "unit": "us",
                "latency_us": p.per.latency.buckets().iter().map(|(v, c)| json!([v, c])).collect::<Vec<_>>(),
                "ttft_us": p.per.ttft.buckets().iter().map(|(v, c)| json!([v, c])).collect::<Vec<_>>(),
            },
        })).collect::<Vec<_>>(),
        "comparison": a.comparison.as_ref().map(comparison_json),
        "slos": a.slos.iter().map(|r| json!({
            "key": r.key, "provider": r.provider, "threshold": r.threshold,
            "actual": r.actual, "passed": r.passed, "message": r.message,
        })).collect::<Vec<_>>(),
        "baseline": if a.baseline.is_empty() { Value::Null } else { json!({
            "tolerance_median": a.tolerances.median,
            "tolerance_p99": a.tolerances.p99,
            "providers": a.baseline.iter().map(|b| json!({
                "path": b.path, "provider": b.provider, "baseline_provider": b.baseline_provider,
                "comparison": comparison_json(&b.comparison), "regressions": b.regressions,
            })).collect::<Vec<_>>(),
        })},
        "svg": svg.map(|p| p.display().to_string()),
        "verdict": {"passed": a.passed(), "exit_code": a.exit_code, "reasons": a.failures},
    })
}

fn row(label: &str, cells: &[String]) -> Vec<String> {
    let mut r = vec![label.to_string()];
    r.extend(cells.iter().cloned());
    r
}

/// The figures as rows: (label, one cell per provider).
fn table(a: &Analysis) -> Vec<Vec<String>> {
    let ps = &a.providers;
    let each = |f: &dyn Fn(&ProviderFigures) -> String| ps.iter().map(f).collect::<Vec<_>>();
    let ms_n = |v: f64, n: u64| {
        if n == 0 {
            "—".to_string()
        } else {
            ms(v)
        }
    };
    let mut rows = vec![row("", &each(&|p| p.name.clone()))];
    rows.push(row(
        "requests (ok / errors)",
        &each(&|p| format!("{} ({} / {})", p.requests, p.per.ok, p.requests - p.per.ok)),
    ));
    rows.push(row(
        "requests/s",
        &each(&|p| format!("{:.1}", p.requests_per_s)),
    ));
    for (label, f) in [
        ("p50", (|s: &Summary| s.p50) as fn(&Summary) -> f64),
        ("p90", |s| s.p90),
        ("p95", |s| s.p95),
        ("p99", |s| s.p99),
        ("p99.9", |s| s.p99_9),
        ("max", |s| s.max),
        ("mean", |s| s.mean),
        ("stddev", |s| s.stddev),
    ] {
        rows.push(row(
            &format!("latency {label}"),
            &each(&|p| ms_n(f(&p.latency), p.latency.n)),
        ));
    }
    if ps.iter().any(|p| p.latency_sent.is_some()) {
        rows.push(row(
            "p50 / p99 from the actual send",
            &each(&|p| match &p.latency_sent {
                Some(s) if s.n > 0 => format!("{} / {}", ms(s.p50), ms(s.p99)),
                _ => "—".into(),
            }),
        ));
    }
    if ps.iter().any(|p| p.ttft.is_some()) {
        rows.push(row(
            "TTFT p50 / p95 / p99",
            &each(&|p| match &p.ttft {
                Some(s) => format!("{} / {} / {}", ms(s.p50), ms(s.p95), ms(s.p99)),
                None => "— (not streamed)".into(),
            }),
        ));
    }
    rows.push(row(
        "output tokens/s",
        &each(&|p| {
            format!(
                "{:.1}{}",
                p.output_tokens_per_s,
                if p.tokens_estimated {
                    " (estimated)"
                } else {
                    ""
                }
            )
        }),
    ));
    rows.push(row(
        "errors",
        &each(&|p| {
            if p.per.errors.is_empty() {
                "none".to_string()
            } else {
                format!(
                    "{} ({})",
                    percent(p.error_rate),
                    p.per
                        .errors
                        .iter()
                        .map(|(k, v)| format!("{k} {v}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            }
        }),
    ));
    rows.push(row(
        "goodput/s",
        &each(&|p| {
            format!(
                "{:.1} ({})",
                p.goodput_per_s,
                percent(if p.requests == 0 {
                    0.0
                } else {
                    p.per.good as f64 / p.requests as f64
                })
            )
        }),
    ));
    if a.settings.check {
        rows.push(row(
            "checks passed / failed",
            &each(&|p| format!("{} / {}", p.per.checks_passed, p.per.checks_failed)),
        ));
    }
    rows
}

fn comparison_lines(c: &Comparison) -> Vec<String> {
    let mut out = Vec::new();
    for d in &c.diffs {
        out.push(format!(
            "p{}: {} → {} ({:+.2} ms{}; 95% CI {:+.2} to {:+.2} ms) {}",
            (d.quantile * 100.0).to_string().trim_end_matches(".0"),
            ms(d.a_ms),
            ms(d.b_ms),
            d.diff_ms,
            d.diff_ratio
                .map_or(String::new(), |r| format!(", {:+.1}%", r * 100.0)),
            d.ci_low_ms,
            d.ci_high_ms,
            if d.significant {
                "significant"
            } else {
                "not significant"
            }
        ));
    }
    if let Some(mw) = c.mann_whitney {
        out.push(format!(
            "Mann-Whitney U: {} (z = {:.2}; P({} slower than {}) = {:.3})",
            p_text(mw.p),
            mw.z,
            c.b,
            c.a,
            mw.prob_b_greater
        ));
    }
    out
}

/// The console summary.
pub(crate) fn console(a: &Analysis) -> String {
    let mut o = String::new();
    let _ = writeln!(o, "bench: {}", a.loop_label());
    let _ = writeln!(
        o,
        "measured {:.2} s, {} case{} cycled{}{}",
        a.elapsed.as_secs_f64(),
        a.workload_cases,
        if a.workload_cases == 1 { "" } else { "s" },
        if a.settings.warmup.is_zero() {
            String::new()
        } else {
            format!(
                ", warmup {:.1} s discarded",
                a.settings.warmup.as_secs_f64()
            )
        },
        if a.settings.check {
            ", checks evaluated"
        } else {
            ""
        }
    );
    let rows = table(a);
    let widths: Vec<usize> = (0..rows[0].len())
        .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
        .collect();
    for r in &rows {
        let mut line = String::from("  ");
        for (c, cell) in r.iter().enumerate() {
            let pad = widths[c] - cell.chars().count();
            if c == 0 {
                line.push_str(cell);
                line.push_str(&" ".repeat(pad));
            } else {
                line.push_str("  ");
                line.push_str(&" ".repeat(pad));
                line.push_str(cell);
            }
        }
        let _ = writeln!(o, "{}", line.trim_end());
    }
    if let Some(l) = &a.lateness {
        let _ = writeln!(
            o,
            "sends: {} measured, {} late by more than 1 ms ({}); lateness p50 {} p99 {} max {}",
            a.sends,
            a.late,
            percent(if a.sends == 0 {
                0.0
            } else {
                a.late as f64 / a.sends as f64
            }),
            ms(l.p50),
            ms(l.p99),
            ms(l.max)
        );
    }
    if let Some(c) = &a.comparison {
        let _ = writeln!(
            o,
            "side by side ({} vs {}, same schedule, interleaved):",
            c.b, c.a
        );
        for l in comparison_lines(c) {
            let _ = writeln!(o, "  {l}");
        }
        let _ = writeln!(o, "  => {}", c.verdict);
    }
    for b in &a.baseline {
        let _ = writeln!(o, "baseline {} ({}):", b.path, b.baseline_provider);
        for l in comparison_lines(&b.comparison) {
            let _ = writeln!(o, "  {l}");
        }
    }
    if !a.slos.is_empty() {
        let _ = writeln!(o, "SLOs:");
        for s in &a.slos {
            let _ = writeln!(
                o,
                "  {} {} [{}]: {}",
                if s.passed { "ok  " } else { "FAIL" },
                s.key,
                s.provider,
                s.message
            );
        }
    }
    let _ = writeln!(
        o,
        "quantiles: HDR histogram, value at or above the quantile, 3 significant digits"
    );
    if a.interrupted {
        let _ = writeln!(
            o,
            "interrupted: the figures cover what was measured before the stop"
        );
    }
    if a.passed() {
        let _ = writeln!(o, "bench: PASSED");
    } else {
        let _ = writeln!(o, "bench: FAILED");
        for f in &a.failures {
            let _ = writeln!(o, "  - {f}");
        }
    }
    o
}

/// The Markdown report; `svg`: the chart's path relative to the report.
pub(crate) fn markdown(a: &Analysis, svg: Option<&str>) -> String {
    let mut o = String::new();
    let _ = writeln!(
        o,
        "## evalgate bench: {}\n",
        if a.passed() {
            "passed ✅"
        } else {
            "FAILED ❌"
        }
    );
    if a.interrupted {
        let _ = writeln!(
            o,
            "> **Interrupted**: these figures cover what was measured before the stop.\n"
        );
    }
    for i in &a.invalid {
        let _ = writeln!(o, "> **Invalid run**: {i}\n");
    }
    let _ = writeln!(
        o,
        "{}; measured {:.2} s; {} case(s) cycled.\n",
        a.loop_label(),
        a.elapsed.as_secs_f64(),
        a.workload_cases
    );
    let rows = table(a);
    let esc = |s: &str| s.replace('|', "\\|");
    let _ = writeln!(
        o,
        "| {} |",
        rows[0]
            .iter()
            .map(|c| esc(c))
            .collect::<Vec<_>>()
            .join(" | ")
    );
    let _ = writeln!(o, "|---|{}", "--:|".repeat(rows[0].len() - 1));
    for r in &rows[1..] {
        let _ = writeln!(
            o,
            "| {} |",
            r.iter().map(|c| esc(c)).collect::<Vec<_>>().join(" | ")
        );
    }
    let _ = writeln!(o);
    if let Some(c) = &a.comparison {
        let _ = writeln!(o, "**Side by side**: {}\n", c.verdict);
        for l in comparison_lines(c) {
            let _ = writeln!(o, "- {l}");
        }
        let _ = writeln!(o);
    }
    if !a.slos.is_empty() {
        let _ = writeln!(o, "| SLO | provider | result |\n|---|---|---|");
        for s in &a.slos {
            let _ = writeln!(
                o,
                "| `{}` | {} | {} {} |",
                s.key,
                esc(&s.provider),
                if s.passed { "✅" } else { "❌" },
                esc(&s.message)
            );
        }
        let _ = writeln!(o);
    }
    for b in &a.baseline {
        let _ = writeln!(
            o,
            "**Baseline** `{}`: {}\n",
            b.path,
            if b.regressions.is_empty() {
                "no regression".to_string()
            } else {
                b.regressions.join("; ")
            }
        );
    }
    if !a.failures.is_empty() {
        for f in &a.failures {
            let _ = writeln!(o, "- ❌ {}", esc(f));
        }
        let _ = writeln!(o);
    }
    if let Some(svg) = svg {
        let _ = writeln!(o, "[![latency chart]({svg})]({svg})\n");
    }
    let _ = writeln!(o, "<sub>Quantiles: {}.</sub>", stats::QUANTILE_METHOD);
    o
}

/// JUnit: one test case per SLO and provider, one for the run's validity,
/// one per baseline comparison; an interrupted run adds an errored case.
pub(crate) fn junit(a: &Analysis) -> Result<String, Error> {
    let mut report = Report::new("evalgate bench");
    let mut suite = TestSuite::new("bench");
    let fail = |message: String| {
        let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
        s.set_message(message).set_type("slo");
        s
    };
    for s in &a.slos {
        let status = if s.passed {
            TestCaseStatus::success()
        } else {
            fail(s.message.clone())
        };
        let mut tc = TestCase::new(
            format!("{} <= {} [{}]", s.key, s.threshold, s.provider),
            status,
        );
        tc.set_classname(format!("bench.slo.{}", s.provider));
        if let Some(v) = s.actual {
            tc.add_property(("actual", v.to_string().as_str()));
        }
        suite.add_test_case(tc);
    }
    if matches!(a.load, Load::Open { .. }) {
        let status = match a.invalid.first() {
            None => TestCaseStatus::success(),
            Some(i) => fail(i.clone()),
        };
        let mut tc = TestCase::new(
            "schedule kept (at most 1% of sends late by more than 1 ms)",
            status,
        );
        tc.set_classname("bench.validity");
        suite.add_test_case(tc);
    }
    for b in &a.baseline {
        let status = if b.regressions.is_empty() {
            TestCaseStatus::success()
        } else {
            fail(b.regressions.join("; "))
        };
        let mut tc = TestCase::new(
            format!(
                "no latency regression against the baseline [{}]",
                b.provider
            ),
            status,
        );
        tc.set_classname("bench.baseline");
        suite.add_test_case(tc);
    }
    if a.interrupted {
        let mut s = TestCaseStatus::non_success(NonSuccessKind::Error);
        s.set_message(
            "the benchmark was interrupted; the figures cover what was measured before the stop",
        )
        .set_type("interrupted");
        let mut tc = TestCase::new("run interrupted", s);
        tc.set_classname("evalgate");
        suite.add_test_case(tc);
    }
    report.add_test_suite(suite);
    report
        .to_string()
        .map_err(|e| Error::Infrastructure(format!("cannot serialize the JUnit report: {e}")))
}

const COLOURS: [&str; 2] = ["#1f77b4", "#d62728"];

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The SVG chart: a percentile curve (x: 1/(1−q) on a log scale) and the
/// latency of each request over time.
pub(crate) fn svg(a: &Analysis, points: &[super::Point]) -> String {
    let (w, h) = (900.0f64, 720.0f64);
    let (l, r) = (70.0, 20.0);
    let mut o = String::new();
    let _ = writeln!(
        o,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(o, r#"<rect width="100%" height="100%" fill="white"/>"#);
    // Panel 1: percentile curve.
    let (top, bottom) = (40.0, 320.0);
    let pw = w - l - r;
    let _ = writeln!(
        o,
        r#"<text x="{l}" y="22" font-size="14" font-weight="bold">Latency by percentile ({})</text>"#,
        xml_escape(match a.load {
            Load::Open { .. } => "open loop, from the intended send",
            Load::Closed { .. } => "closed loop, from the actual send",
        })
    );
    let max_n = a
        .providers
        .iter()
        .map(|p| p.per.latency.len())
        .max()
        .unwrap_or(0)
        .max(10);
    let decades = ((max_n as f64).log10()).clamp(1.0, 6.0);
    let ymax = a
        .providers
        .iter()
        .map(|p| p.latency.max.max(p.latency_sent.map_or(0.0, |s| s.max)))
        .fold(0.0f64, f64::max)
        .max(1.0)
        * 1.05;
    let x_of = |d: f64| l + pw * (d / decades);
    let y_of =
        |ms: f64, top: f64, bottom: f64| bottom - (bottom - top) * (ms / ymax).clamp(0.0, 1.0);
    axes(&mut o, l, top, w - r, bottom, ymax);
    for d in 0..=(decades.floor() as u32) {
        let x = x_of(f64::from(d));
        let q = 1.0 - 10f64.powi(-(d as i32));
        let label = if d == 0 {
            "0%".to_string()
        } else {
            format!("{}%", trim_float(q * 100.0))
        };
        let _ = writeln!(
            o,
            r##"<line x1="{x:.1}" y1="{top}" x2="{x:.1}" y2="{bottom}" stroke="#eee"/><text x="{x:.1}" y="{}" text-anchor="middle">{label}</text>"##,
            bottom + 16.0
        );
    }
    let _ = writeln!(
        o,
        r#"<text x="{}" y="{}" text-anchor="middle">percentile (log scale of 1/(1−q))</text>"#,
        l + pw / 2.0,
        bottom + 34.0
    );
    for (k, p) in a.providers.iter().enumerate() {
        for (hist, dash) in [
            (Some(&p.per.latency), ""),
            (
                p.latency_sent.map(|_| &p.per.latency_sent),
                r#" stroke-dasharray="5,4""#,
            ),
        ] {
            let Some(hist) = hist.filter(|h| !h.is_empty()) else {
                continue;
            };
            let mut pts = String::new();
            for i in 0..=300 {
                let d = decades * f64::from(i) / 300.0;
                let q = 1.0 - 10f64.powf(-d);
                let _ = write!(
                    pts,
                    "{:.1},{:.1} ",
                    x_of(d),
                    y_of(hist.quantile_ms(q), top, bottom)
                );
            }
            let _ = writeln!(
                o,
                r#"<polyline fill="none" stroke="{}" stroke-width="2"{dash} points="{}"/>"#,
                COLOURS[k % 2],
                pts.trim_end()
            );
        }
        let _ = writeln!(
            o,
            r#"<text x="{}" y="{}" fill="{}">{}</text>"#,
            l + 10.0,
            top + 16.0 + 16.0 * k as f64,
            COLOURS[k % 2],
            xml_escape(&p.name)
        );
    }
    if a.providers.iter().any(|p| p.latency_sent.is_some()) {
        let _ = writeln!(
            o,
            r##"<text x="{}" y="{}" fill="#555">dashed: from the actual send</text>"##,
            l + 10.0,
            top + 16.0 + 16.0 * a.providers.len() as f64
        );
    }
    // Panel 2: latency over time.
    let (top, bottom) = (400.0, 680.0);
    let _ = writeln!(
        o,
        r#"<text x="{l}" y="382" font-size="14" font-weight="bold">Latency over time (each request; grey: errors)</text>"#
    );
    let tmax = points
        .iter()
        .map(|p| f64::from(p.t))
        .fold(0.0f64, f64::max)
        .max(1e-3);
    let ymax2 = points
        .iter()
        .map(|p| f64::from(p.latency_ms))
        .fold(0.0f64, f64::max)
        .max(1.0)
        * 1.05;
    let y2 = |ms: f64| bottom - (bottom - top) * (ms / ymax2).clamp(0.0, 1.0);
    axes(&mut o, l, top, w - r, bottom, ymax2);
    for i in 0..=5 {
        let t = tmax * f64::from(i) / 5.0;
        let x = l + pw * f64::from(i) / 5.0;
        let _ = writeln!(
            o,
            r#"<text x="{x:.1}" y="{}" text-anchor="middle">{:.1} s</text>"#,
            bottom + 16.0,
            t
        );
    }
    let stride = (points.len() / 5000).max(1);
    for p in points.iter().step_by(stride) {
        let x = l + pw * (f64::from(p.t) / tmax);
        let colour = if p.ok {
            COLOURS[p.target as usize % 2]
        } else {
            "#999"
        };
        let _ = writeln!(
            o,
            r#"<circle cx="{x:.1}" cy="{:.1}" r="1.6" fill="{colour}" fill-opacity="0.6"/>"#,
            y2(f64::from(p.latency_ms))
        );
    }
    let _ = writeln!(o, "</svg>");
    o
}

fn trim_float(v: f64) -> String {
    let s = format!("{v:.4}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

fn axes(o: &mut String, l: f64, top: f64, right: f64, bottom: f64, ymax: f64) {
    let _ = writeln!(
        o,
        r##"<line x1="{l}" y1="{bottom}" x2="{right}" y2="{bottom}" stroke="#333"/><line x1="{l}" y1="{top}" x2="{l}" y2="{bottom}" stroke="#333"/>"##
    );
    for i in 0..=4 {
        let v = ymax * f64::from(i) / 4.0;
        let y = bottom - (bottom - top) * f64::from(i) / 4.0;
        let _ = writeln!(
            o,
            r##"<line x1="{l}" y1="{y:.1}" x2="{right}" y2="{y:.1}" stroke="#eee"/><text x="{}" y="{:.1}" text-anchor="end">{}</text>"##,
            l - 6.0,
            y + 4.0,
            xml_escape(&ms(v))
        );
    }
}

/// The chart's path as the Markdown report links it: relative when both
/// files share a directory.
pub(crate) fn link_from(markdown: &Path, svg: &Path) -> String {
    let parent = |p: &Path| p.parent().map(Path::to_path_buf).unwrap_or_default();
    if parent(markdown) == parent(svg) {
        svg.file_name().map_or_else(
            || svg.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        )
    } else {
        std::path::absolute(svg)
            .unwrap_or_else(|_| PathBuf::from(svg))
            .display()
            .to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slos_parse_with_their_statistic_and_refuse_unknown_keys() {
        let s = Slo::parse("latency_p95_ms=2000").unwrap();
        assert_eq!(s.metric, SloMetric::Latency(Some(0.95)));
        assert_eq!(s.threshold, 2000.0);
        assert_eq!(s.per_request_limit(), Some((true, 2000.0)));
        assert_eq!(
            Slo::parse("ttft_p99.9_ms=800").unwrap().metric,
            SloMetric::Ttft(Some(0.999))
        );
        assert_eq!(
            Slo::parse("latency_max_ms=5000").unwrap().metric,
            SloMetric::Latency(Some(1.0))
        );
        assert_eq!(
            Slo::parse("latency_mean_ms=300").unwrap().metric,
            SloMetric::Latency(None)
        );
        let e = Slo::parse("error_rate=1%").unwrap();
        assert_eq!((e.metric, e.threshold), (SloMetric::ErrorRate, 0.01));
        assert_eq!(e.per_request_limit(), None);
        for bad in [
            "latency_p95_ms",
            "latency_p42_ms=1",
            "throughput=3",
            "error_rate=2",
            "latency_p95_ms=-1",
            "latency_p95_ms=fast",
        ] {
            assert!(Slo::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn milliseconds_keep_three_significant_digits() {
        assert_eq!(ms(0.4123), "0.412 ms");
        assert_eq!(ms(8.456), "8.46 ms");
        assert_eq!(ms(15.24), "15.2 ms");
        assert_eq!(ms(412.4), "412 ms");
        assert_eq!(ms(2345.0), "2.35 s");
        assert_eq!(ms(f64::NAN), "—");
    }
}

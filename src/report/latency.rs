//! Latency percentiles of a run and the section every report shares.
//!
//! Every answer's end-to-end latency, time to first token and time per
//! output token go into HDR histograms (overall, per suite, per provider;
//! the JUnit report keeps one per `<testsuite>`), so memory does not grow
//! with the number of cases. Answers from the cache or a cassette are not
//! samples (their timings are the recorded ones); they are only counted.

use std::collections::BTreeMap;

use hdrhistogram::Histogram;

use crate::model::{CaseResult, LatencyGroups, LatencyStats, Outcome, Percentiles, Summary};
use crate::util::fmt::duration_ms;

/// One row: a group and its numbers as text.
pub(crate) struct Row {
    pub name: String,
    pub n: String,
    pub latency: [String; 5],
    pub ttft: [String; 2],
    pub recorded: String,
}

fn cells(p: Option<&Percentiles>) -> [String; 5] {
    match p {
        Some(p) => [p.p50_ms, p.p90_ms, p.p95_ms, p.p99_ms, p.max_ms].map(duration_ms),
        None => std::array::from_fn(|_| "-".to_string()),
    }
}

fn row(name: &str, s: &LatencyStats) -> Row {
    Row {
        name: name.to_string(),
        n: s.latency.map_or(0, |p| p.n).to_string(),
        latency: cells(s.latency.as_ref()),
        ttft: match &s.ttft {
            Some(t) => [duration_ms(t.p50_ms), duration_ms(t.p95_ms)],
            None => ["-".to_string(), "-".to_string()],
        },
        recorded: s.recorded.to_string(),
    }
}

/// Rows per suite, per provider when there are several, and the total.
pub(crate) fn rows(summary: &Summary) -> Vec<Row> {
    let l = &summary.latency;
    let mut out: Vec<Row> = l.suites.iter().map(|(n, s)| row(n, s)).collect();
    if l.providers.len() > 1 {
        out.extend(
            l.providers
                .iter()
                .map(|(n, s)| row(&format!("provider {n}"), s)),
        );
    }
    if out.len() > 1 {
        out.push(row("total", &l.overall));
    }
    out
}

/// Whether there is anything to show: an answer measured or recorded.
pub(crate) fn any(summary: &Summary) -> bool {
    let o = &summary.latency.overall;
    o.latency.is_some() || o.recorded > 0
}

/// The note under the table.
pub(crate) const NOTE: &str = "percentiles of this run's answers: nearest rank in an HDR histogram with 3 significant digits (a value is its bucket's upper bound, at most 0.1% above the sample); answers from the cache or a cassette are recorded, not samples; errors are not samples";

/// Significant digits of every histogram (values within 0.1%).
const SIGFIG: u8 = 3;

/// One group's attempts, errors, recorded answers and histograms.
#[derive(Default)]
pub(crate) struct Accumulator {
    attempts: u64,
    errors: u64,
    recorded: u64,
    latency: Option<Histogram<u64>>,
    ttft: Option<Histogram<u64>>,
    tpot: Option<Histogram<u64>>,
}

/// Record `ms` (as microseconds, at least 1) into a histogram made on first use.
fn record(h: &mut Option<Histogram<u64>>, ms: f64) {
    if !ms.is_finite() || ms < 0.0 {
        return;
    }
    if h.is_none() {
        // Auto-resizing: sized by the largest value seen, not up front.
        *h = Histogram::new(SIGFIG).ok();
    }
    if let Some(h) = h {
        let _ = h.record(((ms * 1000.0).round() as u64).max(1));
    }
}

fn percentiles(h: &Option<Histogram<u64>>) -> Option<Percentiles> {
    let h = h.as_ref().filter(|h| !h.is_empty())?;
    let ms = |us: u64| us as f64 / 1000.0;
    Some(Percentiles {
        n: h.len(),
        p50_ms: ms(h.value_at_quantile(0.5)),
        p90_ms: ms(h.value_at_quantile(0.9)),
        p95_ms: ms(h.value_at_quantile(0.95)),
        p99_ms: ms(h.value_at_quantile(0.99)),
        max_ms: ms(h.max()),
        mean_ms: h.mean() / 1000.0,
    })
}

impl Accumulator {
    pub(crate) fn observe(&mut self, r: &CaseResult) {
        for a in &r.attempts {
            self.attempts += 1;
            if a.outcome == Outcome::Error {
                self.errors += 1;
                continue;
            }
            if a.timing.recorded {
                self.recorded += 1;
                continue;
            }
            record(&mut self.latency, a.timing.latency_ms);
            if let Some(t) = a.timing.ttft_ms {
                record(&mut self.ttft, t);
            }
            if let Some(t) = a.timing.tpot_ms {
                record(&mut self.tpot, t);
            }
        }
    }

    pub(crate) fn stats(&self) -> LatencyStats {
        LatencyStats {
            attempts: self.attempts,
            errors: self.errors,
            recorded: self.recorded,
            latency: percentiles(&self.latency),
            ttft: percentiles(&self.ttft),
            tpot: percentiles(&self.tpot),
        }
    }
}

/// Observe `r` in the group named `name`, made on first use (its key is
/// copied once, not per case).
fn observe_in(groups: &mut BTreeMap<String, Accumulator>, name: &str, r: &CaseResult) {
    match groups.get_mut(name) {
        Some(g) => g.observe(r),
        None => {
            let mut g = Accumulator::default();
            g.observe(r);
            groups.insert(name.to_string(), g);
        }
    }
}

/// The run's latency histograms.
#[derive(Default)]
pub(crate) struct LatencyRecorder {
    overall: Accumulator,
    suites: BTreeMap<String, Accumulator>,
    providers: BTreeMap<String, Accumulator>,
}

impl LatencyRecorder {
    pub(crate) fn observe(&mut self, r: &CaseResult) {
        self.overall.observe(r);
        observe_in(&mut self.suites, &r.suite, r);
        observe_in(&mut self.providers, &r.provider, r);
    }

    pub(crate) fn finish(&self) -> LatencyGroups {
        LatencyGroups {
            overall: self.overall.stats(),
            suites: self
                .suites
                .iter()
                .map(|(k, g)| (k.clone(), g.stats()))
                .collect(),
            providers: self
                .providers
                .iter()
                .map(|(k, g)| (k.clone(), g.stats()))
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::explain::fixtures::pass_case;

    #[test]
    fn recorded_answers_and_errors_are_not_latency_samples() {
        let mut rec = LatencyRecorder::default();
        for i in 1..=100 {
            let mut c = pass_case("s", &format!("c{i}"));
            c.attempts[0].timing.latency_ms = i as f64;
            rec.observe(&c);
        }
        let mut cached = pass_case("s", "cached");
        cached.attempts[0].timing.latency_ms = 0.01;
        cached.attempts[0].timing.recorded = true;
        rec.observe(&cached);
        let g = rec.finish();
        let l = g.overall.latency.unwrap();
        assert_eq!(l.n, 100);
        assert_eq!(g.overall.recorded, 1);
        assert_eq!(g.overall.attempts, 101);
        // The upper bound of the sample's bucket: at most 0.1% above it.
        let near = |v: f64, want: f64| v >= want && v <= want * 1.001;
        assert!(near(l.p50_ms, 50.0), "{}", l.p50_ms);
        assert!(near(l.p95_ms, 95.0), "{}", l.p95_ms);
        assert!(near(l.p99_ms, 99.0), "{}", l.p99_ms);
        assert!(near(l.max_ms, 100.0), "{}", l.max_ms);
        assert!((l.mean_ms - 50.5).abs() < 0.01);
        assert!(g.suites["s"].latency.is_some());
    }
}

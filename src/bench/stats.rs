//! The numbers of a benchmark: HDR histograms (microseconds, 1 µs to the
//! timeout, 3 significant digits), their summaries, and the significance
//! tests that compare two of them: Mann-Whitney U (normal approximation
//! with tie correction) on the whole distributions, and a seeded bootstrap
//! confidence interval of the difference of a quantile.
//!
//! Quantile method: HDR's value at quantile q, i.e. the smallest recorded
//! value v with at least ⌈q·n⌉ samples ≤ v, reported as the highest value
//! equivalent to v at 3 significant digits (at most 0.1% above the sample).

use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Serialize;

/// The precision of every histogram.
pub(crate) const SIGFIG: u8 = 3;

/// The quantile method, as the reports state it.
pub(crate) const QUANTILE_METHOD: &str = "HDR histogram (hdrhistogram crate, 1 µs to the timeout, 3 significant digits): the value at quantile q is the smallest recorded value with at least ⌈q·n⌉ samples at or below it, reported as the highest value equivalent to it (at most 0.1% above)";

/// A latency histogram in microseconds.
#[derive(Debug, Clone)]
pub(crate) struct Hist {
    h: Histogram<u64>,
}

impl Hist {
    /// Values from 1 µs to `max` (at least 1 ms); larger ones are recorded as `max`.
    pub(crate) fn new(max: Duration) -> Hist {
        let high = (max.as_micros().min(u64::MAX as u128) as u64).max(1_000);
        // 1..=high (high ≥ 1000) at 3 digits is always a valid configuration:
        // no input reaches this call.
        #[allow(clippy::expect_used)]
        let h = Histogram::new_with_bounds(1, high, SIGFIG)
            .expect("bounds 1..=high (high >= 1000) at 3 digits are valid");
        Hist { h }
    }

    pub(crate) fn record(&mut self, d: Duration) {
        let us = (d.as_micros().min(u64::MAX as u128) as u64).max(1);
        self.h.saturating_record(us);
    }

    pub(crate) fn record_us(&mut self, us: u64, count: u64) {
        let high = self.h.high();
        let _ = self.h.record_n(us.clamp(1, high), count);
    }

    /// Add another histogram's counts (same bounds: never fails; values
    /// beyond ours are clamped).
    pub(crate) fn merge(&mut self, other: &Hist) {
        if self.h.add(&other.h).is_err() {
            for v in other.h.iter_recorded() {
                self.record_us(v.value_iterated_to(), v.count_at_value());
            }
        }
    }

    pub(crate) fn len(&self) -> u64 {
        self.h.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.h.is_empty()
    }

    /// The value at quantile q, in milliseconds (see the module's method).
    pub(crate) fn quantile_ms(&self, q: f64) -> f64 {
        self.h.value_at_quantile(q) as f64 / 1000.0
    }

    /// Every non-empty bucket: (highest equivalent value in µs, count), increasing.
    pub(crate) fn buckets(&self) -> Vec<(u64, u64)> {
        self.h
            .iter_recorded()
            .map(|v| {
                (
                    self.h.highest_equivalent(v.value_iterated_to()),
                    v.count_at_value(),
                )
            })
            .collect()
    }

    /// A histogram from [`Hist::buckets`] (a baseline report).
    pub(crate) fn from_buckets(max: Duration, buckets: &[(u64, u64)]) -> Hist {
        let top = buckets.iter().map(|b| b.0).max().unwrap_or(0);
        let mut h = Hist::new(max.max(Duration::from_micros(top)));
        for &(v, c) in buckets {
            h.record_us(v, c);
        }
        h
    }

    pub(crate) fn summary(&self) -> Summary {
        if self.h.is_empty() {
            return Summary::default();
        }
        let ms = |us: u64| us as f64 / 1000.0;
        Summary {
            n: self.h.len(),
            min: ms(self.h.min()),
            mean: self.h.mean() / 1000.0,
            stddev: self.h.stdev() / 1000.0,
            p50: self.quantile_ms(0.5),
            p90: self.quantile_ms(0.9),
            p95: self.quantile_ms(0.95),
            p99: self.quantile_ms(0.99),
            p99_9: self.quantile_ms(0.999),
            max: ms(self.h.highest_equivalent(self.h.max())),
        }
    }
}

/// A histogram's summary, in milliseconds.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq)]
pub(crate) struct Summary {
    pub n: u64,
    pub min: f64,
    pub mean: f64,
    pub stddev: f64,
    pub p50: f64,
    pub p90: f64,
    pub p95: f64,
    pub p99: f64,
    pub p99_9: f64,
    pub max: f64,
}

/// Mann-Whitney U of two samples given as histograms (equal bucket values
/// are ties).
#[derive(Debug, Clone, Copy, Serialize, PartialEq)]
pub(crate) struct MannWhitney {
    /// U of the first sample.
    pub u: f64,
    /// The standardised statistic (continuity-corrected), positive when
    /// the second sample tends to be larger (slower).
    pub z: f64,
    /// Two-sided p-value (normal approximation with tie correction).
    pub p: f64,
    /// P(a sample of the second is larger than one of the first), ties
    /// counted half: 0.5 means no shift.
    pub prob_b_greater: f64,
}

/// The Mann-Whitney U test of `a` against `b`; `None` when either is empty.
pub(crate) fn mann_whitney(a: &Hist, b: &Hist) -> Option<MannWhitney> {
    let (na, nb) = (a.len() as f64, b.len() as f64);
    if na == 0.0 || nb == 0.0 {
        return None;
    }
    let (ba, bb) = (a.buckets(), b.buckets());
    let (mut i, mut j) = (0, 0);
    let mut rank = 0.0f64; // ranks given so far
    let mut rank_sum_a = 0.0f64;
    let mut ties = 0.0f64; // Σ (t³ − t)
    while i < ba.len() || j < bb.len() {
        let va = ba.get(i).map_or(u64::MAX, |x| x.0);
        let vb = bb.get(j).map_or(u64::MAX, |x| x.0);
        let v = va.min(vb);
        let ca = if va == v { ba[i].1 as f64 } else { 0.0 };
        let cb = if vb == v { bb[j].1 as f64 } else { 0.0 };
        let t = ca + cb;
        let mid = rank + (t + 1.0) / 2.0;
        rank_sum_a += ca * mid;
        ties += t * t * t - t;
        rank += t;
        if va == v {
            i += 1;
        }
        if vb == v {
            j += 1;
        }
    }
    let n = na + nb;
    let u = rank_sum_a - na * (na + 1.0) / 2.0;
    let mean = na * nb / 2.0;
    let var = na * nb / 12.0 * ((n + 1.0) - ties / (n * (n - 1.0)).max(1.0));
    let (z, p) = if var <= 0.0 {
        (0.0, 1.0) // every value tied
    } else {
        let d = u - mean;
        let cc = if d > 0.0 {
            -0.5
        } else if d < 0.0 {
            0.5
        } else {
            0.0
        };
        // U of the first sample is small when the second is larger: flip
        // the sign so that a positive z means "the second is slower".
        let z = -(d + cc) / var.sqrt();
        (
            z,
            (erfc(z.abs() / std::f64::consts::SQRT_2)).clamp(0.0, 1.0),
        )
    };
    Some(MannWhitney {
        u,
        z,
        p,
        prob_b_greater: 1.0 - u / (na * nb),
    })
}

/// The complementary error function (W. J. Cody's rational Chebyshev
/// approximation as in Numerical Recipes' `erfcc`: relative error below 1.2e-7).
fn erfc(x: f64) -> f64 {
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let r = t
        * (-z * z - 1.265_512_23
            + t * (1.000_023_68
                + t * (0.374_091_96
                    + t * (0.096_784_18
                        + t * (-0.186_288_06
                            + t * (0.278_868_07
                                + t * (-1.135_203_98
                                    + t * (1.488_515_87
                                        + t * (-0.822_152_23 + t * 0.170_872_77)))))))))
            .exp();
    if x >= 0.0 {
        r
    } else {
        2.0 - r
    }
}

/// A bootstrap confidence interval of `quantile(b) − quantile(a)`, in ms.
#[derive(Debug, Clone, Copy, Serialize, PartialEq)]
pub(crate) struct QuantileDiff {
    pub quantile: f64,
    pub a_ms: f64,
    pub b_ms: f64,
    pub diff_ms: f64,
    /// `diff / a` (None when a is 0).
    pub diff_ratio: Option<f64>,
    pub ci_low_ms: f64,
    pub ci_high_ms: f64,
    /// The 95% interval excludes 0.
    pub significant: bool,
}

/// Bootstrap replicates per interval.
pub(crate) const BOOTSTRAP: usize = 2_000;

/// A seeded percentile-bootstrap 95% interval of the difference of quantile
/// `q`. Each replicate resamples both histograms with replacement; the
/// k-th order statistic of n resampled values is the empirical quantile
/// function at a Beta(k, n − k + 1) draw, so a replicate costs one Beta
/// draw per sample instead of n draws (the same distribution as resampling
/// n values).
pub(crate) fn bootstrap_diff(a: &Hist, b: &Hist, q: f64, seed: u64) -> Option<QuantileDiff> {
    if a.is_empty() || b.is_empty() {
        return None;
    }
    let mut rng = fastrand::Rng::with_seed(seed);
    let resampled = |h: &Hist, rng: &mut fastrand::Rng| {
        let n = h.len() as f64;
        let k = (q * n).ceil().clamp(1.0, n);
        let u = beta(rng, k, n - k + 1.0);
        h.quantile_ms(u)
    };
    let mut diffs: Vec<f64> = (0..BOOTSTRAP)
        .map(|_| {
            let va = resampled(a, &mut rng);
            let vb = resampled(b, &mut rng);
            vb - va
        })
        .collect();
    diffs.sort_by(f64::total_cmp);
    let at = |p: f64| diffs[((p * (BOOTSTRAP as f64 - 1.0)).round() as usize).min(BOOTSTRAP - 1)];
    let (lo, hi) = (at(0.025), at(0.975));
    let (qa, qb) = (a.quantile_ms(q), b.quantile_ms(q));
    Some(QuantileDiff {
        quantile: q,
        a_ms: qa,
        b_ms: qb,
        diff_ms: qb - qa,
        diff_ratio: (qa > 0.0).then(|| (qb - qa) / qa),
        ci_low_ms: lo,
        ci_high_ms: hi,
        significant: lo > 0.0 || hi < 0.0,
    })
}

/// A Beta(a, b) draw from two Gamma draws.
fn beta(rng: &mut fastrand::Rng, a: f64, b: f64) -> f64 {
    let x = gamma(rng, a);
    let y = gamma(rng, b);
    if x + y <= 0.0 {
        0.5
    } else {
        x / (x + y)
    }
}

/// A Gamma(shape, 1) draw for shape ≥ 1 (Marsaglia and Tsang, 2000).
fn gamma(rng: &mut fastrand::Rng, shape: f64) -> f64 {
    let d = shape - 1.0 / 3.0;
    let c = 1.0 / (9.0 * d).sqrt();
    loop {
        let x = std_normal(rng);
        let v = 1.0 + c * x;
        if v <= 0.0 {
            continue;
        }
        let v = v * v * v;
        let u = 1.0 - rng.f64();
        if u.ln() < 0.5 * x * x + d - d * v + d * v.ln() {
            return d * v;
        }
    }
}

fn std_normal(rng: &mut fastrand::Rng) -> f64 {
    let u1 = 1.0 - rng.f64();
    let u2 = rng.f64();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

/// Share of late sends above which an open-loop run is invalid.
pub(crate) const LATE_SHARE_MAX: f64 = 0.01;
/// A send later than this after its intended time is late.
pub(crate) const LATE_AFTER: Duration = Duration::from_millis(1);

/// The late-send rule: more than 1% of sends late by more than 1 ms makes
/// an open-loop run invalid (the load it claims was not the load it sent).
pub(crate) fn too_many_late(sends: u64, late: u64) -> bool {
    sends > 0 && late as f64 > LATE_SHARE_MAX * sends as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hist(values_ms: impl IntoIterator<Item = f64>) -> Hist {
        let mut h = Hist::new(Duration::from_secs(60));
        for v in values_ms {
            h.record(Duration::from_secs_f64(v / 1000.0));
        }
        h
    }

    /// A deterministic lognormal-ish sample around `median` ms.
    fn sample(seed: u64, n: usize, median: f64) -> Vec<f64> {
        let mut rng = fastrand::Rng::with_seed(seed);
        (0..n)
            .map(|_| median * (0.3 * std_normal(&mut rng)).exp())
            .collect()
    }

    #[test]
    fn quantiles_are_within_three_significant_digits() {
        let h = hist((1..=1000).map(f64::from));
        let s = h.summary();
        assert_eq!(s.n, 1000);
        // The 500th value is 500 ms; HDR reports its highest equivalent value.
        assert!((s.p50 - 500.0).abs() <= 0.5, "{}", s.p50);
        assert!((s.p99 - 990.0).abs() <= 1.0, "{}", s.p99);
        assert!((s.max - 1000.0).abs() <= 1.0, "{}", s.max);
        assert!((s.mean - 500.5).abs() < 0.5, "{}", s.mean);
        // Beyond the bound: clamped, never lost.
        let mut small = Hist::new(Duration::from_millis(10));
        small.record(Duration::from_secs(5));
        assert_eq!(small.len(), 1);
        assert!(small.summary().max <= 10.1);
    }

    #[test]
    fn merged_histograms_equal_one_histogram_of_every_value() {
        let (a, b) = (sample(1, 500, 50.0), sample(2, 700, 80.0));
        let mut m = hist(a.clone());
        m.merge(&hist(b.clone()));
        let all = hist(a.into_iter().chain(b));
        assert_eq!(m.summary(), all.summary());
        // Buckets round-trip (the baseline file).
        let back = Hist::from_buckets(Duration::from_secs(60), &all.buckets());
        assert_eq!(back.summary().p99, all.summary().p99);
        assert_eq!(back.len(), all.len());
    }

    #[test]
    fn identical_samples_are_not_significantly_different() {
        let a = hist(sample(3, 2000, 100.0));
        let b = hist(sample(3, 2000, 100.0));
        let mw = mann_whitney(&a, &b).unwrap();
        assert!(mw.p > 0.99, "{mw:?}");
        assert!((mw.prob_b_greater - 0.5).abs() < 1e-9);
        let d = bootstrap_diff(&a, &b, 0.5, 7).unwrap();
        assert!(!d.significant, "{d:?}");
        assert_eq!(d.diff_ms, 0.0);
        // Two draws from one distribution: not significant either (this seed).
        let c = hist(sample(4, 2000, 100.0));
        assert!(mann_whitney(&a, &c).unwrap().p > 0.05);
        assert!(!bootstrap_diff(&a, &c, 0.95, 7).unwrap().significant);
    }

    #[test]
    fn shifted_samples_are_significantly_different() {
        let a = hist(sample(5, 1000, 100.0));
        let b = hist(sample(6, 1000, 112.0)); // 12% slower
        let mw = mann_whitney(&a, &b).unwrap();
        assert!(mw.p < 0.001, "{mw:?}");
        assert!(mw.prob_b_greater > 0.55, "{mw:?}");
        let d = bootstrap_diff(&a, &b, 0.5, 7).unwrap();
        assert!(d.significant && d.ci_low_ms > 0.0, "{d:?}");
        let r = d.diff_ratio.unwrap();
        assert!((0.05..0.2).contains(&r), "{r}");
        // The interval holds the observed difference.
        assert!(
            d.ci_low_ms <= d.diff_ms && d.diff_ms <= d.ci_high_ms,
            "{d:?}"
        );
        // Reversed: the sign flips.
        let mw2 = mann_whitney(&b, &a).unwrap();
        assert!(mw.z > 3.0, "{mw:?}");
        assert!((mw2.p - mw.p).abs() < 1e-12 && mw2.z < -3.0);
    }

    #[test]
    fn ties_are_corrected_and_all_tied_is_no_difference() {
        let a = hist([10.0; 50]);
        let b = hist([10.0; 80]);
        let mw = mann_whitney(&a, &b).unwrap();
        assert_eq!(mw.p, 1.0);
        // Small textbook case: a = {1,2,3}, b = {4,5,6}: U_a = 0, exact two-sided
        // p = 0.1; the normal approximation with continuity gives 0.0809.
        let a = hist([1.0, 2.0, 3.0]);
        let b = hist([4.0, 5.0, 6.0]);
        let mw = mann_whitney(&a, &b).unwrap();
        assert_eq!(mw.u, 0.0);
        assert!((mw.p - 0.0809).abs() < 0.001, "{mw:?}");
        assert!(mann_whitney(&a, &Hist::new(Duration::from_secs(1))).is_none());
    }

    #[test]
    fn erfc_matches_known_values() {
        assert!((erfc(0.0) - 1.0).abs() < 1e-7);
        assert!((erfc(1.0) - 0.157_299_207).abs() < 1e-7);
        assert!((erfc(-1.0) - 1.842_700_793).abs() < 1e-7);
        assert!((erfc(3.0) - 2.209_049_7e-5).abs() < 1e-9);
    }

    #[test]
    fn late_sends_invalidate_a_run_above_one_percent() {
        assert!(!too_many_late(0, 0));
        assert!(!too_many_late(1000, 10));
        assert!(too_many_late(1000, 11));
        assert!(too_many_late(10, 1));
        assert!(!too_many_late(100, 1));
    }
}

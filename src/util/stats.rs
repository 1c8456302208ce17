//! The statistics a gate judges with: Wilson score intervals of pass rates,
//! Fisher's exact test of a drop in a case's pass count, and the unbiased
//! pass@k / pass^k estimators of a case's repeats.
//!
//! Hand-written (about a hundred lines) rather than a statistics crate: the
//! ones that have these pull in a linear-algebra tree, and each formula here
//! is short, exact where it can be (pass@k as a product, Fisher as a sum of
//! hypergeometric terms from log-gamma) and tested against reference values.

/// The standard normal quantile (inverse CDF) at `p` in (0, 1), by Acklam's
/// rational approximation (relative error below 1.2e-9).
pub fn normal_quantile(p: f64) -> f64 {
    if p <= 0.0 {
        return f64::NEG_INFINITY;
    }
    if p >= 1.0 {
        return f64::INFINITY;
    }
    const A: [f64; 6] = [
        -3.969_683_028_665_376e1,
        2.209_460_984_245_205e2,
        -2.759_285_104_469_687e2,
        1.383_577_518_672_69e2,
        -3.066_479_806_614_716e1,
        2.506_628_277_459_239,
    ];
    const B: [f64; 5] = [
        -5.447_609_879_822_406e1,
        1.615_858_368_580_409e2,
        -1.556_989_798_598_866e2,
        6.680_131_188_771_972e1,
        -1.328_068_155_288_572e1,
    ];
    const C: [f64; 6] = [
        -7.784_894_002_430_293e-3,
        -3.223_964_580_411_365e-1,
        -2.400_758_277_161_838,
        -2.549_732_539_343_734,
        4.374_664_141_464_968,
        2.938_163_982_698_783,
    ];
    const D: [f64; 4] = [
        7.784_695_709_041_462e-3,
        3.224_671_290_700_398e-1,
        2.445_134_137_142_996,
        3.754_408_661_907_416,
    ];
    const LOW: f64 = 0.02425;
    if p < LOW {
        let q = (-2.0 * p.ln()).sqrt();
        (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    } else if p <= 1.0 - LOW {
        let q = p - 0.5;
        let r = q * q;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q
            / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    } else {
        let q = (-2.0 * (1.0 - p).ln()).sqrt();
        -(((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    }
}

/// A confidence interval of a proportion.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Interval {
    pub low: f64,
    pub high: f64,
}

/// The Wilson score interval of `successes` out of `n` at `confidence`
/// (two-sided, e.g. 0.95). `None` when `n` is 0.
pub fn wilson(successes: u64, n: u64, confidence: f64) -> Option<Interval> {
    if n == 0 {
        return None;
    }
    let z = normal_quantile(1.0 - (1.0 - confidence) / 2.0);
    let n = n as f64;
    let p = successes.min(n as u64) as f64 / n;
    let z2 = z * z;
    let denom = 1.0 + z2 / n;
    let center = (p + z2 / (2.0 * n)) / denom;
    let half = z / denom * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt();
    Some(Interval {
        low: (center - half).clamp(0.0, 1.0),
        high: (center + half).clamp(0.0, 1.0),
    })
}

/// ln Γ(x) for x > 0 (Lanczos, g = 7, 9 terms: about 15 significant digits).
pub fn ln_gamma(x: f64) -> f64 {
    const G: f64 = 7.0;
    const COF: [f64; 9] = [
        0.999_999_999_999_809_9,
        676.520_368_121_885_1,
        -1_259.139_216_722_402_8,
        771.323_428_777_653_1,
        -176.615_029_162_140_6,
        12.507_343_278_686_905,
        -0.138_571_095_265_720_12,
        9.984_369_578_019_572e-6,
        1.505_632_735_149_311_6e-7,
    ];
    if x < 0.5 {
        // Reflection: Γ(x)Γ(1−x) = π / sin(πx).
        let pi = std::f64::consts::PI;
        return (pi / (pi * x).sin()).ln() - ln_gamma(1.0 - x);
    }
    let x = x - 1.0;
    let mut a = COF[0];
    let t = x + G + 0.5;
    for (i, c) in COF.iter().enumerate().skip(1) {
        a += c / (x + i as f64);
    }
    0.5 * (2.0 * std::f64::consts::PI).ln() + (x + 0.5) * t.ln() - t + a.ln()
}

/// ln C(n, k).
fn ln_choose(n: u64, k: u64) -> f64 {
    ln_gamma(n as f64 + 1.0) - ln_gamma(k as f64 + 1.0) - ln_gamma((n - k) as f64 + 1.0)
}

/// Fisher's exact test, one-sided: the p-value of HEAD's pass count being
/// this low or lower if HEAD and the baseline had the same pass
/// probability. The 2×2 table is (base passes, base non-passes) over (head
/// passes, head non-passes); with the margins fixed, HEAD's passes are
/// hypergeometric and p = P(X ≤ head_passes). scipy's
/// `fisher_exact([[bp, bn], [hp, hn]], alternative="greater")` computes
/// the same number.
pub fn fisher_one_sided(base_passes: u64, base_n: u64, head_passes: u64, head_n: u64) -> f64 {
    let base_passes = base_passes.min(base_n);
    let head_passes = head_passes.min(head_n);
    let total = base_n + head_n;
    let passes = base_passes + head_passes;
    if total == 0 || head_n == 0 || base_n == 0 {
        return 1.0;
    }
    let fails = total - passes;
    let lo = head_n.saturating_sub(fails);
    let hi = head_passes;
    let ln_denominator = ln_choose(total, head_n);
    let mut p = 0.0;
    for x in lo..=hi {
        if x > passes {
            break;
        }
        p += (ln_choose(passes, x) + ln_choose(fails, head_n - x) - ln_denominator).exp();
    }
    p.min(1.0)
}

/// pass@k and pass^k of one case from its `n` repeats, `c` of them passing.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct PassK {
    pub k: u32,
    /// 1 − C(n−c, k) / C(n, k): the chance that at least one of k
    /// repeats drawn without replacement passes.
    pub pass_at_k: f64,
    /// C(c, k) / C(n, k): the chance that all k pass.
    pub pass_pow_k: f64,
}

/// The unbiased estimators for `c` passes of `n` repeats at `k` (None when
/// k is 0 or more than n).
pub fn pass_k(c: u32, n: u32, k: u32) -> Option<PassK> {
    if k == 0 || k > n {
        return None;
    }
    let c = c.min(n);
    // 1 − C(n−c, k)/C(n, k) = 1 − Π_{i = n−c+1}^{n} (1 − k/i): a product of
    // terms in [0, 1], stable for any n.
    let pass_at_k = if n - c < k {
        1.0
    } else {
        1.0 - (n - c + 1..=n)
            .map(|i| 1.0 - f64::from(k) / f64::from(i))
            .product::<f64>()
    };
    // C(c, k)/C(n, k) = Π_{i = 0}^{k−1} (c − i)/(n − i).
    let pass_pow_k = if c < k {
        0.0
    } else {
        (0..k)
            .map(|i| f64::from(c - i) / f64::from(n - i))
            .product::<f64>()
    };
    Some(PassK {
        k,
        pass_at_k,
        pass_pow_k,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, tol: f64) -> bool {
        (a - b).abs() <= tol
    }

    #[test]
    fn normal_quantiles() {
        // Reference values: scipy.stats.norm.ppf.
        for (p, z) in [
            (0.975, 1.959_963_984_540_054),
            (0.95, 1.644_853_626_951_472_2),
            (0.995, 2.575_829_303_548_900_4),
            (0.5, 0.0),
            (0.01, -2.326_347_874_040_840_8),
            (0.9, 1.281_551_565_544_600_5),
        ] {
            assert!(
                close(normal_quantile(p), z, 1e-8),
                "{p}: {}",
                normal_quantile(p)
            );
        }
    }

    #[test]
    fn wilson_intervals() {
        // 19 of 20 is 95%, but the 95% interval starts at about 76%.
        let i = wilson(19, 20, 0.95).unwrap_or(Interval {
            low: 0.0,
            high: 0.0,
        });
        assert!(close(i.low, 0.763_868_9, 1e-6), "{i:?}");
        assert!(close(i.high, 0.991_118_6, 1e-6), "{i:?}");
        // statsmodels proportion_confint(0, 10, method="wilson").
        let i = wilson(0, 10, 0.95).unwrap_or(Interval {
            low: 1.0,
            high: 1.0,
        });
        assert!(
            close(i.low, 0.0, 1e-12) && close(i.high, 0.277_532_8, 1e-6),
            "{i:?}"
        );
        let i = wilson(50, 100, 0.95).unwrap_or(Interval {
            low: 0.0,
            high: 0.0,
        });
        assert!(
            close(i.low, 0.403_831_4, 1e-6) && close(i.high, 0.596_168_6, 1e-6),
            "{i:?}"
        );
        assert_eq!(wilson(0, 0, 0.95), None);
    }

    #[test]
    fn ln_gamma_matches_factorials() {
        let mut f = 1.0f64;
        for n in 1..30u32 {
            f *= f64::from(n);
            assert!(close(ln_gamma(f64::from(n) + 1.0), f.ln(), 1e-10), "{n}");
        }
    }

    #[test]
    fn fisher_against_exact_sums() {
        // Reference: exact sums of math.comb in Python, equal to
        // scipy.stats.fisher_exact([[bp, bn], [hp, hn]], alternative="greater").
        for (bp, bn, hp, hn, p) in [
            (5, 5, 4, 5, 0.5),
            (5, 5, 3, 5, 0.222_222_222_222_222_2),
            (5, 5, 0, 5, 0.003_968_253_968_253_968),
            (10, 10, 6, 10, 0.043_343_653_250_774_0),
            (10, 10, 7, 10, 0.105_263_157_894_736_8),
            (3, 3, 2, 3, 0.5),
            (20, 20, 15, 20, 0.023_562_023_562_023_56),
            (19, 20, 16, 20, 0.170_824_670_824_670_8),
        ] {
            let got = fisher_one_sided(bp, bn, hp, hn);
            assert!(
                close(got, p, 1e-9),
                "{bp}/{bn} vs {hp}/{hn}: {got}, want {p}"
            );
        }
        assert_eq!(fisher_one_sided(5, 5, 5, 5), 1.0);
        assert_eq!(fisher_one_sided(0, 0, 1, 3), 1.0);
    }

    #[test]
    fn pass_at_k_and_pass_pow_k() {
        let p = pass_k(2, 5, 3).unwrap_or(PassK {
            k: 0,
            pass_at_k: 0.0,
            pass_pow_k: 0.0,
        });
        // 1 − C(3,3)/C(5,3) = 0.9; C(2,3) = 0.
        assert!(
            close(p.pass_at_k, 0.9, 1e-12) && p.pass_pow_k == 0.0,
            "{p:?}"
        );
        let p = pass_k(4, 5, 2).unwrap_or(PassK {
            k: 0,
            pass_at_k: 0.0,
            pass_pow_k: 0.0,
        });
        // 1 − C(1,2)/C(5,2) = 1; C(4,2)/C(5,2) = 6/10.
        assert!(
            close(p.pass_at_k, 1.0, 1e-12) && close(p.pass_pow_k, 0.6, 1e-12),
            "{p:?}"
        );
        let p = pass_k(1, 10, 3).unwrap_or(PassK {
            k: 0,
            pass_at_k: 0.0,
            pass_pow_k: 0.0,
        });
        // 1 − C(9,3)/C(10,3) = 1 − 84/120 = 0.3.
        assert!(close(p.pass_at_k, 0.3, 1e-12), "{p:?}");
        assert_eq!(pass_k(3, 3, 4), None);
        assert_eq!(pass_k(3, 3, 0), None);
    }
}

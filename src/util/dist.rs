//! Latency distributions (`serve-mock --latency`, a mock rule's
//! `faults.latency`), drawn from a seeded generator.

use std::time::Duration;

/// A latency distribution, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Dist {
    Fixed(f64),
    /// From `lo` to `hi`.
    Uniform(f64, f64),
    /// Mean and standard deviation; negative draws are 0.
    Normal(f64, f64),
    /// Median and sigma (of the underlying normal).
    LogNormal(f64, f64),
}

impl Dist {
    /// `50`, `fixed:50`, `uniform:10,50`, `normal:100,20`, `lognormal:100,0.5`.
    pub fn parse(s: &str) -> Result<Dist, String> {
        let s = s.trim();
        let (kind, args) = s.split_once(':').unwrap_or(("fixed", s));
        let nums: Vec<f64> = args
            .split(',')
            .map(|a| a.trim().trim_end_matches("ms").parse::<f64>())
            .collect::<Result<_, _>>()
            .map_err(|_| format!("invalid latency `{s}`: expected numbers of milliseconds"))?;
        if nums.iter().any(|n| !n.is_finite() || *n < 0.0) {
            return Err(format!(
                "invalid latency `{s}`: values must be finite and ≥ 0"
            ));
        }
        let want = |n: usize| {
            if nums.len() == n {
                Ok(())
            } else {
                Err(format!(
                    "invalid latency `{s}`: `{kind}` takes {n} value{}",
                    if n == 1 { "" } else { "s" }
                ))
            }
        };
        match kind {
            "fixed" => want(1).map(|()| Dist::Fixed(nums[0])),
            "uniform" => {
                want(2)?;
                if nums[0] > nums[1] {
                    return Err(format!(
                        "invalid latency `{s}`: the low bound is above the high one"
                    ));
                }
                Ok(Dist::Uniform(nums[0], nums[1]))
            }
            "normal" => want(2).map(|()| Dist::Normal(nums[0], nums[1])),
            "lognormal" => want(2).map(|()| Dist::LogNormal(nums[0], nums[1])),
            other => Err(format!(
                "unknown latency distribution `{other}`: use fixed, uniform, normal or lognormal"
            )),
        }
    }

    pub fn sample(&self, rng: &mut fastrand::Rng) -> Duration {
        let ms = match *self {
            Dist::Fixed(v) => v,
            Dist::Uniform(lo, hi) => lo + (hi - lo) * rng.f64(),
            Dist::Normal(mean, sd) => mean + sd * std_normal(rng),
            Dist::LogNormal(median, sigma) => median * (sigma * std_normal(rng)).exp(),
        };
        // At most an hour: a heavy tail must not park a connection forever.
        Duration::from_secs_f64((ms.clamp(0.0, 3_600_000.0)) / 1000.0)
    }
}

/// A standard normal draw (Box-Muller).
fn std_normal(rng: &mut fastrand::Rng) -> f64 {
    let u1 = 1.0 - rng.f64(); // (0, 1]
    let u2 = rng.f64();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

//! Open-loop arrival schedules, computed up front: the send times of every
//! request (offsets from the start of the run), constant or Poisson from a
//! seeded generator. The same arguments give the same schedule, so two runs
//! (or two builds) send at the same moments.

use std::time::Duration;

/// How requests arrive in an open-loop run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Arrival {
    /// Exactly `1 / rate` apart.
    Constant,
    /// Exponential gaps of mean `1 / rate` (a Poisson process), seeded.
    Poisson,
}

impl Arrival {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Arrival::Constant => "constant",
            Arrival::Poisson => "poisson",
        }
    }
}

/// The most sends one schedule may hold (8 bytes each).
pub(crate) const MAX_SENDS: u64 = 10_000_000;

/// The send offsets (from the start, warmup included) of a run at `rate`
/// requests per second: every send before `end` (when given) and at most
/// `measured` sends at or after `warmup` (when given). At least one limit
/// must be given.
pub(crate) fn offsets(
    arrival: Arrival,
    rate: f64,
    seed: u64,
    warmup: Duration,
    end: Option<Duration>,
    measured: Option<u64>,
) -> Result<Vec<Duration>, String> {
    if !(rate.is_finite() && rate > 0.0) {
        return Err(format!("--rate must be a positive number, got {rate}"));
    }
    if end.is_none() && measured.is_none() {
        return Err("an open-loop run needs --duration or --requests".into());
    }
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut out = Vec::new();
    let mut t = 0.0f64; // seconds
    let mut after_warmup = 0u64;
    let mut i = 0u64;
    loop {
        let at = Duration::from_secs_f64(t);
        if end.is_some_and(|e| at >= e) || measured.is_some_and(|m| after_warmup >= m) {
            break;
        }
        if out.len() as u64 >= MAX_SENDS {
            return Err(format!(
                "the schedule holds more than {MAX_SENDS} sends: lower --rate or --duration"
            ));
        }
        out.push(at);
        if at >= warmup {
            after_warmup += 1;
        }
        i += 1;
        t = match arrival {
            // From the index, not by adding: no drift over millions of sends.
            Arrival::Constant => i as f64 / rate,
            // Inverse transform: -ln(U) / rate with U in (0, 1].
            Arrival::Poisson => t - (1.0 - rng.f64()).ln() / rate,
        };
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: fn(u64) -> Duration = Duration::from_secs;

    #[test]
    fn a_poisson_schedule_is_reproducible_from_its_seed() {
        let a = offsets(Arrival::Poisson, 20.0, 42, S(0), Some(S(60)), None).unwrap();
        let b = offsets(Arrival::Poisson, 20.0, 42, S(0), Some(S(60)), None).unwrap();
        assert_eq!(a, b);
        let c = offsets(Arrival::Poisson, 20.0, 43, S(0), Some(S(60)), None).unwrap();
        assert_ne!(a, c);
        // About rate × duration sends (1,200 ± 5 sd ≈ 35).
        assert!((1_000..1_400).contains(&a.len()), "{}", a.len());
        // Increasing, and the gaps' mean is 1/rate and their sd about the same (exponential).
        assert!(a.windows(2).all(|w| w[0] <= w[1]));
        let gaps: Vec<f64> = a.windows(2).map(|w| (w[1] - w[0]).as_secs_f64()).collect();
        let mean = gaps.iter().sum::<f64>() / gaps.len() as f64;
        let sd = (gaps.iter().map(|g| (g - mean).powi(2)).sum::<f64>() / gaps.len() as f64).sqrt();
        assert!((mean - 0.05).abs() < 0.005, "mean gap {mean}");
        assert!((sd - 0.05).abs() < 0.01, "sd {sd}");
    }

    #[test]
    fn a_constant_schedule_is_evenly_spaced_and_bounded_by_either_limit() {
        let a = offsets(Arrival::Constant, 10.0, 0, S(0), Some(S(2)), None).unwrap();
        assert_eq!(a.len(), 20);
        assert_eq!(a[1], Duration::from_millis(100));
        assert_eq!(a[19], Duration::from_millis(1900));
        // A count limit counts sends after the warmup only.
        let b = offsets(Arrival::Constant, 10.0, 0, S(1), None, Some(5)).unwrap();
        assert_eq!(b.len(), 15);
        assert_eq!(*b.last().unwrap(), Duration::from_millis(1400));
        // Both: whichever comes first.
        let c = offsets(Arrival::Constant, 10.0, 0, S(0), Some(S(1)), Some(1000)).unwrap();
        assert_eq!(c.len(), 10);
    }

    #[test]
    fn impossible_schedules_are_refused() {
        assert!(offsets(Arrival::Constant, 0.0, 0, S(0), Some(S(1)), None).is_err());
        assert!(offsets(Arrival::Constant, f64::NAN, 0, S(0), Some(S(1)), None).is_err());
        assert!(offsets(Arrival::Constant, 10.0, 0, S(0), None, None).is_err());
        assert!(offsets(Arrival::Constant, 1e9, 0, S(0), Some(S(3600)), None).is_err());
    }
}

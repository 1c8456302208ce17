//! What `serve-mock` does to a request beyond answering it: latency drawn
//! from a distribution, injected errors and 429s, stream faults. Every
//! draw comes from a generator seeded by (`--seed`, request number), so a
//! seed replays the same sequence of decisions for the same sequence of
//! requests, whatever the timing.

use std::time::Duration;

pub(crate) use crate::util::dist::Dist;

/// The server-wide settings (flags).
#[derive(Debug, Clone)]
pub(crate) struct Faults {
    pub(crate) latency: Dist,
    pub(crate) ttft: Duration,
    pub(crate) token_delay: Duration,
    pub(crate) error_rate: f64,
    pub(crate) error_status: u16,
    pub(crate) rate_limit_rate: f64,
    pub(crate) retry_after: u64,
    pub(crate) truncate_rate: f64,
    pub(crate) stall_rate: f64,
    /// None: a stalled stream never resumes.
    pub(crate) stall_for: Option<Duration>,
    pub(crate) malformed_rate: f64,
    /// A whole-server stall: every `pause.every` since the server started,
    /// for `pause.for_`, requests that arrive wait until the pause ends.
    pub(crate) pause: Option<Pause>,
}

/// A periodic whole-server stall (`--pause-every`, `--pause-for`): the
/// last `for_` of every period of `every` since the server started is a
/// pause, `[k·every + every − for_, (k + 1)·every)` for k = 0, 1, …: the
/// server answers normally first (the first pause starts at
/// `every − for_`), and any window of n whole periods holds n pauses' worth.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Pause {
    pub(crate) every: Duration,
    pub(crate) for_: Duration,
}

impl Pause {
    /// How long a request arriving `since_start` after the server started
    /// waits for the pause it arrived in to end (zero outside a pause).
    pub(crate) fn remaining(&self, since_start: Duration) -> Duration {
        let every = self.every.as_nanos();
        let pause = self.for_.as_nanos().min(every);
        if every == 0 || pause == 0 {
            return Duration::ZERO;
        }
        let into = since_start.as_nanos() % every;
        if into >= every - pause {
            Duration::from_nanos((every - into).min(u64::MAX as u128) as u64)
        } else {
            Duration::ZERO
        }
    }
}

impl Default for Faults {
    fn default() -> Self {
        Faults {
            latency: Dist::Fixed(0.0),
            ttft: Duration::ZERO,
            token_delay: Duration::ZERO,
            error_rate: 0.0,
            error_status: 500,
            rate_limit_rate: 0.0,
            retry_after: 1,
            truncate_rate: 0.0,
            stall_rate: 0.0,
            stall_for: None,
            malformed_rate: 0.0,
            pause: None,
        }
    }
}

/// What happens to one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fault {
    RateLimited,
    Error,
    Truncated,
    Stalled,
    Malformed,
}

impl Fault {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Fault::RateLimited => "rate_limited",
            Fault::Error => "error",
            Fault::Truncated => "truncated",
            Fault::Stalled => "stalled",
            Fault::Malformed => "malformed",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Decision {
    pub(crate) latency: Duration,
    pub(crate) fault: Option<Fault>,
}

/// SplitMix64: request numbers next to each other give unrelated seeds.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl Faults {
    /// These settings with a mock rule's own `faults` in place of the flags.
    pub(crate) fn with(&self, o: &crate::provider::mock::RuleFaults) -> Faults {
        Faults {
            latency: o.latency.unwrap_or(self.latency),
            ttft: o.ttft.unwrap_or(self.ttft),
            token_delay: o.token_delay.unwrap_or(self.token_delay),
            error_rate: o.error_rate.unwrap_or(self.error_rate),
            error_status: o.error_status.unwrap_or(self.error_status),
            rate_limit_rate: o.rate_limit_rate.unwrap_or(self.rate_limit_rate),
            retry_after: o.retry_after.unwrap_or(self.retry_after),
            truncate_rate: o.truncate_rate.unwrap_or(self.truncate_rate),
            stall_rate: o.stall_rate.unwrap_or(self.stall_rate),
            stall_for: o.stall_for.or(self.stall_for),
            malformed_rate: o.malformed_rate.unwrap_or(self.malformed_rate),
            // Whole-server: never a rule's.
            pause: self.pause,
        }
    }

    /// The decision for request number `n` (from 0, in arrival order). The
    /// same draws happen in the same order whatever the outcome, so one
    /// request's decision depends on the seed and `n` only.
    pub(crate) fn decide(&self, seed: u64, n: u64, stream: bool) -> Decision {
        let mut rng = fastrand::Rng::with_seed(mix(seed ^ mix(n)));
        let rate_limited = rng.f64() < self.rate_limit_rate;
        let error = rng.f64() < self.error_rate;
        let latency = self.latency.sample(&mut rng);
        let truncated = rng.f64() < self.truncate_rate;
        let stalled = rng.f64() < self.stall_rate;
        let malformed = rng.f64() < self.malformed_rate;
        let fault = if rate_limited {
            Some(Fault::RateLimited)
        } else if error {
            Some(Fault::Error)
        } else if stream && truncated {
            Some(Fault::Truncated)
        } else if stream && stalled {
            Some(Fault::Stalled)
        } else if stream && malformed {
            Some(Fault::Malformed)
        } else {
            None
        };
        Decision { latency, fault }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distributions_parse() {
        assert_eq!(Dist::parse("50"), Ok(Dist::Fixed(50.0)));
        assert_eq!(Dist::parse("fixed:5ms"), Ok(Dist::Fixed(5.0)));
        assert_eq!(Dist::parse("uniform:10,50"), Ok(Dist::Uniform(10.0, 50.0)));
        assert_eq!(Dist::parse("normal:100, 20"), Ok(Dist::Normal(100.0, 20.0)));
        assert_eq!(
            Dist::parse("lognormal:100,0.5"),
            Ok(Dist::LogNormal(100.0, 0.5))
        );
        for bad in [
            "",
            "uniform:5",
            "uniform:50,10",
            "gamma:1,2",
            "fixed:-1",
            "normal:a,b",
        ] {
            assert!(Dist::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn samples_stay_in_range_and_centre_where_they_should() {
        let mut rng = fastrand::Rng::with_seed(3);
        let n = 20_000;
        let mean = |d: Dist, rng: &mut fastrand::Rng| {
            (0..n)
                .map(|_| d.sample(rng).as_secs_f64() * 1000.0)
                .sum::<f64>()
                / n as f64
        };
        for _ in 0..1000 {
            let v = Dist::Uniform(10.0, 20.0).sample(&mut rng).as_secs_f64() * 1000.0;
            assert!((10.0..=20.0).contains(&v));
        }
        assert!((mean(Dist::Normal(100.0, 10.0), &mut rng) - 100.0).abs() < 1.0);
        let mut ln: Vec<f64> = (0..n)
            .map(|_| Dist::LogNormal(100.0, 0.5).sample(&mut rng).as_secs_f64() * 1000.0)
            .collect();
        ln.sort_by(f64::total_cmp);
        assert!((ln[n / 2] - 100.0).abs() < 3.0, "median {}", ln[n / 2]);
        // Negative draws of a normal are 0, never a panic.
        for _ in 0..1000 {
            let _ = Dist::Normal(0.0, 50.0).sample(&mut rng);
        }
    }

    #[test]
    fn a_pause_holds_requests_that_arrive_during_it_until_it_ends() {
        let p = Pause {
            every: Duration::from_secs(10),
            for_: Duration::from_secs(1),
        };
        let ms = Duration::from_millis;
        // Answers normally for the first 9 s.
        assert_eq!(p.remaining(ms(0)), Duration::ZERO);
        assert_eq!(p.remaining(ms(500)), Duration::ZERO);
        assert_eq!(p.remaining(ms(8_999)), Duration::ZERO);
        // [9 s, 10 s): wait until 10 s.
        assert_eq!(p.remaining(ms(9_000)), ms(1_000));
        assert_eq!(p.remaining(ms(9_250)), ms(750));
        assert_eq!(p.remaining(ms(9_999)), ms(1));
        assert_eq!(p.remaining(ms(10_000)), Duration::ZERO);
        assert_eq!(p.remaining(ms(15_000)), Duration::ZERO);
        // And every period after.
        assert_eq!(p.remaining(ms(19_100)), ms(900));
        assert_eq!(p.remaining(ms(29_000)), ms(1_000));
        // A zero period never pauses.
        let never = Pause {
            every: Duration::ZERO,
            for_: ms(5),
        };
        assert_eq!(never.remaining(ms(100)), Duration::ZERO);
    }

    #[test]
    fn a_decision_depends_on_the_seed_and_the_request_number_only() {
        let f = Faults {
            error_rate: 0.3,
            rate_limit_rate: 0.2,
            latency: Dist::Uniform(0.0, 100.0),
            ..Faults::default()
        };
        let a: Vec<_> = (0..50).map(|n| f.decide(7, n, false)).collect();
        let b: Vec<_> = (0..50).rev().map(|n| f.decide(7, n, false)).collect();
        let b: Vec<_> = b.into_iter().rev().collect();
        assert_eq!(a, b);
        let c: Vec<_> = (0..50).map(|n| f.decide(8, n, false)).collect();
        assert_ne!(a, c);
        let faults = a.iter().filter(|d| d.fault.is_some()).count();
        assert!((5..45).contains(&faults), "{faults}");
        // Stream faults only apply to streams.
        let s = Faults {
            truncate_rate: 1.0,
            ..Faults::default()
        };
        assert_eq!(s.decide(1, 0, false).fault, None);
        assert_eq!(s.decide(1, 0, true).fault, Some(Fault::Truncated));
    }
}

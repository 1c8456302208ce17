//! Edit distance (Levenshtein, in characters) that cannot be made slow:
//! common prefix and suffix are skipped, the length difference decides
//! early when it can, and the rest is Myers/Hyyrö's bit-parallel algorithm
//! (64 rows per machine word, O(n·⌈m/64⌉)), refused past a work budget.

use std::collections::HashMap;

/// Most 64-row block steps one comparison may take (about 0.2 s of CPU):
/// 100 KB against 100 KB of differing text fits.
pub const MAX_BLOCK_STEPS: u64 = 200_000_000;

/// The outcome of a bounded comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Distance {
    /// The exact distance.
    Exact(u64),
    /// Larger than the bound asked about (at least this much).
    AtLeast(u64),
    /// The texts are too long to compare within [`MAX_BLOCK_STEPS`].
    TooLong,
}

/// The edit distance between `a` and `b`, or [`Distance::AtLeast`] as soon as
/// it is known to exceed `max` (when given).
pub fn distance(a: &str, b: &str, max: Option<u64>) -> Distance {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let prefix = a.iter().zip(&b).take_while(|(x, y)| x == y).count();
    let (a, b) = (&a[prefix..], &b[prefix..]);
    let suffix = a
        .iter()
        .rev()
        .zip(b.iter().rev())
        .take_while(|(x, y)| x == y)
        .count();
    let (a, b) = (&a[..a.len() - suffix], &b[..b.len() - suffix]);
    // The shorter one is the pattern (rows), the longer one the text.
    let (p, t) = if a.len() <= b.len() { (a, b) } else { (b, a) };
    let lower = (t.len() - p.len()) as u64;
    if let Some(max) = max {
        if lower > max {
            return Distance::AtLeast(lower);
        }
    }
    if p.is_empty() {
        return Distance::Exact(t.len() as u64);
    }
    let blocks = p.len().div_ceil(64);
    if (blocks as u64).saturating_mul(t.len() as u64) > MAX_BLOCK_STEPS {
        return Distance::TooLong;
    }
    let mut peq: HashMap<char, Vec<u64>> = HashMap::new();
    for (i, c) in p.iter().enumerate() {
        peq.entry(*c).or_insert_with(|| vec![0; blocks])[i / 64] |= 1u64 << (i % 64);
    }
    let zero = vec![0u64; blocks];
    let mut pv = vec![u64::MAX; blocks];
    let mut mv = vec![0u64; blocks];
    let last_bit = 1u64 << ((p.len() - 1) % 64);
    let mut score = p.len() as u64;
    for (j, c) in t.iter().enumerate() {
        let eqs = peq.get(c).unwrap_or(&zero);
        // The top row is 0, 1, 2, …: each column enters with +1.
        let mut hin: i8 = 1;
        for b in 0..blocks {
            let high = if b + 1 == blocks {
                last_bit
            } else {
                1u64 << 63
            };
            let mut eq = eqs[b];
            let (p_v, m_v) = (pv[b], mv[b]);
            let xv = eq | m_v;
            if hin < 0 {
                eq |= 1;
            }
            let xh = ((eq & p_v).wrapping_add(p_v) ^ p_v) | eq;
            let mut ph = m_v | !(xh | p_v);
            let mut mh = p_v & xh;
            let hout: i8 = if ph & high != 0 {
                1
            } else if mh & high != 0 {
                -1
            } else {
                0
            };
            ph <<= 1;
            mh <<= 1;
            if hin < 0 {
                mh |= 1;
            } else if hin > 0 {
                ph |= 1;
            }
            pv[b] = mh | !(xv | ph);
            mv[b] = ph & xv;
            hin = hout;
        }
        match hin {
            1 => score += 1,
            -1 => score -= 1,
            _ => {}
        }
        // The distance can fall by at most one per remaining column.
        if let Some(max) = max {
            let remaining = (t.len() - j - 1) as u64;
            if score > max.saturating_add(remaining) {
                return Distance::AtLeast(score - remaining);
            }
        }
    }
    match max {
        Some(max) if score > max => Distance::AtLeast(score),
        _ => Distance::Exact(score),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exact(a: &str, b: &str) -> u64 {
        match distance(a, b, None) {
            Distance::Exact(d) => d,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn agrees_with_the_textbook_algorithm() {
        let mut rng = fastrand::Rng::with_seed(7);
        for _ in 0..400 {
            let n = rng.usize(0..150);
            let m = rng.usize(0..150);
            let a: String = (0..n)
                .map(|_| rng.choice(['a', 'b', 'c', 'é']).unwrap())
                .collect();
            let b: String = (0..m)
                .map(|_| rng.choice(['a', 'b', 'c', 'é']).unwrap())
                .collect();
            assert_eq!(
                exact(&a, &b),
                strsim::levenshtein(&a, &b) as u64,
                "{a} / {b}"
            );
        }
        assert_eq!(exact("kitten", "sitting"), 3);
        assert_eq!(exact("", "abc"), 3);
    }

    #[test]
    fn bounded_and_fast_on_large_inputs() {
        let a = "x".repeat(100_000);
        let b = "y".repeat(100_000);
        assert!(matches!(distance(&a, &b, Some(5)), Distance::AtLeast(d) if d > 5));
        let c = "y".repeat(50_000);
        assert_eq!(distance(&a, &c, Some(10)), Distance::AtLeast(50_000));
        let (d, e) = ("x".repeat(20_000), "y".repeat(20_000));
        assert_eq!(distance(&d, &e, None), Distance::Exact(20_000));
        let huge = "z".repeat(2_000_000);
        assert_eq!(distance(&huge, &a, None), Distance::TooLong);
    }
}

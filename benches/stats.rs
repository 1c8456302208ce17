//! Criterion benchmarks: the statistics of a run on 100k results.
//!
//! `cargo bench --bench stats`
//!
//! What a run of 100,000 cases adds: a Wilson interval per group (a handful
//! per run, measured here 100k times as an upper bound), pass@k and pass^k
//! for every case with repeats, and Fisher's exact test for every pass →
//! fail change of a case with repeats against a baseline (at most one per
//! case; measured for all 100k).

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use evalgate::util::stats::{fisher_one_sided, pass_k, wilson};

const N: u64 = 100_000;

/// (passes, repeats) of 100k cases: repeats 1 to 20, passes spread over them.
fn results() -> Vec<(u32, u32)> {
    (0..N)
        .map(|i| {
            let repeats = (i % 20 + 1) as u32;
            let passes = ((i * 7919) % u64::from(repeats + 1)) as u32;
            (passes, repeats)
        })
        .collect()
}

fn statistics(c: &mut Criterion) {
    let results = results();
    let mut g = c.benchmark_group("stats_100k");
    g.throughput(Throughput::Elements(N));
    g.bench_function("wilson_95", |b| {
        b.iter(|| {
            let mut sum = 0.0;
            for &(p, n) in &results {
                if let Some(i) = wilson(u64::from(p), u64::from(n), 0.95) {
                    sum += i.low;
                }
            }
            black_box(sum)
        })
    });
    g.bench_function("pass_at_k_and_pass_pow_k", |b| {
        b.iter(|| {
            let mut sum = 0.0;
            for &(p, n) in &results {
                if let Some(k) = pass_k(p, n, n.min(5)) {
                    sum += k.pass_at_k + k.pass_pow_k;
                }
            }
            black_box(sum)
        })
    });
    g.bench_function("fisher_one_sided", |b| {
        b.iter(|| {
            let mut sum = 0.0;
            for &(p, n) in &results {
                sum += fisher_one_sided(u64::from(n), u64::from(n), u64::from(p), u64::from(n));
            }
            black_box(sum)
        })
    });
    g.finish();
}

criterion_group!(benches, statistics);
criterion_main!(benches);

//! Criterion benchmarks: suite loading/validation and check evaluation.
//!
//! `cargo bench --bench core`

use std::hint::black_box;
use std::path::Path;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use evalgate::check::{self, EvalCtx};
use evalgate::plan::{Plan, Selection};
use evalgate::syntax::decode::Ctx;
use evalgate::syntax::node;

fn generated_suite(cases: usize) -> String {
    let mut s = String::from(
        "name: gen\nprompt:\n  system: 'You are {{ persona }}.'\n  user: 'Question {{ n }}: {{ q }}'\ndefaults:\n  vars: {persona: helpful}\n  checks:\n    - length: {max_words: 200}\ncases:\n",
    );
    for i in 0..cases {
        s.push_str(&format!(
            "  - id: case-{i}\n    vars: {{n: {i}, q: 'What is {i} squared?'}}\n    checks:\n      - contains: '{}'\n      - regex: '^\\d+$'\n",
            i * i
        ));
    }
    s
}

fn loading(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("evalgate.yaml"),
        "providers:\n  mock: {type: mock}\nsuites: ['suites/*.yaml']\n",
    )
    .expect("write config");
    std::fs::create_dir_all(dir.path().join("suites")).expect("mkdir");
    let text = generated_suite(1000);
    std::fs::write(dir.path().join("suites/gen.yaml"), &text).expect("write suite");
    let sel = Selection {
        config: Some(dir.path().join("evalgate.yaml")),
        ..Selection::default()
    };
    let mut g = c.benchmark_group("load");
    g.throughput(Throughput::Elements(1000));
    g.bench_function("parse_yaml_1000_cases", |b| {
        b.iter(|| node::parse(Path::new("gen.yaml"), black_box(&text)).map(|n| n.pos))
    });
    g.bench_function("validate_plan_1000_cases", |b| {
        b.iter(|| {
            Plan::load(black_box(&sel))
                .map(|p| p.suites.len())
                .unwrap_or(0)
        })
    });
    g.finish();
}

fn checks(c: &mut Criterion) {
    let yaml = r#"
- equals: "The capital of France is Paris."
- contains: [Paris, France]
- icontains: {any: [PARIS, LYON]}
- regex: "(?i)capital of \\w+ is \\w+"
- starts_with: The
- ends_with: "."
- is_json: true
- json_path: {path: "$.city", equals: Paris}
- json_schema: {schema: {type: object, required: [city], properties: {city: {type: string}}}}
- length: {min_words: 3, max_chars: 500}
- max_latency_ms: 1000
- levenshtein: {value: "The capital of France is Paris!", max_distance: 3}
"#;
    let root = node::parse(Path::new("b.yaml"), yaml).expect("parse");
    let mut ctx = Ctx::new(Path::new("b.yaml"), yaml);
    let specs = check::parse_list(&mut ctx, &root);
    assert!(ctx.errors.is_empty());
    let env = evalgate::template::environment();
    let vars = minijinja::Value::from_serialize(serde_json::json!({}));
    let text = "The capital of France is Paris.";
    let json = r#"{"city": "Paris", "country": "France", "population": 2102650}"#;
    let mut g = c.benchmark_group("checks");
    for spec in &specs {
        let output = if matches!(spec.kind, "is_json" | "json_path" | "json_schema") {
            json
        } else {
            text
        };
        g.bench_function(spec.kind, |b| {
            b.iter(|| {
                let input = EvalCtx::new(black_box(output), 12.0, &vars, &env);
                futures::executor::block_on(spec.run(&input)).passed
            })
        });
    }
    g.bench_function("all_12_checks_one_output", |b| {
        b.iter(|| {
            let input = EvalCtx::new(black_box(text), 12.0, &vars, &env);
            specs
                .iter()
                .filter(|s| futures::executor::block_on(s.run(&input)).passed)
                .count()
        })
    });
    g.finish();
}

fn golden_diff(c: &mut Criterion) {
    // About 1 MB of output, 20,000 lines, with 1% of the lines changed.
    let old: String = (0..20_000)
        .map(|i| format!("line {i:05}: the quick brown fox jumps over the lazy dog\n"))
        .collect();
    let new: String = (0..20_000)
        .map(|i| {
            if i % 100 == 0 {
                format!("line {i:05}: the quick brown cat jumps over the lazy dog\n")
            } else {
                format!("line {i:05}: the quick brown fox jumps over the lazy dog\n")
            }
        })
        .collect();
    let exact = evalgate::golden::Settings::default();
    let mut g = c.benchmark_group("golden");
    g.throughput(Throughput::Bytes(old.len() as u64));
    g.bench_function("compare_exact_1mb", |b| {
        b.iter(|| {
            exact
                .compare(black_box(&old), black_box(&new))
                .map(|c| c.equal)
        })
    });
    g.bench_function("unified_diff_1mb", |b| {
        b.iter(|| evalgate::golden::diff::unified(black_box(&old), black_box(&new)).len())
    });
    g.finish();
}

criterion_group!(benches, loading, checks, golden_diff);
criterion_main!(benches);

//! Criterion benchmarks of the security detectors on a 1 MB output.
//!
//! `cargo bench --bench security`

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use evalgate::check::security::{
    scan, Ansi, Detector, InvisibleChars, Leak, MarkdownExfil, Pii, PromptChunks, Refusal, Secrets,
    StackTraces, Xss,
};

const PROMPT: &str = "You are Acme's support bot. Never reveal the discount code ACME-4471 to \
    anyone. Only answer questions about orders, refunds and shipping; politely decline \
    everything else. Escalate angry customers to a human agent through the ticket system.";

/// About 1 MB of ordinary answer text: prose with numbers, dates, versions,
/// prices, links, code spans and an em dash, and every 25th paragraph a
/// fenced shell block (a JSON content type, a SHA-256 digest: base64- and
/// hex-shaped runs that decode to nothing), a base64 note that decodes to
/// text and a URL-encoded search link: nothing to find.
fn output() -> String {
    let mut s = String::with_capacity(1 << 20);
    let mut i = 0u64;
    while s.len() < 1 << 20 {
        s.push_str(&format!(
            "Order {i} shipped on 2024-05-{:02} — version 2.{}.{} of the app shows it under \
             [your orders](https://shop.acme.test/orders). The total was ${}.{:02} for {} items, \
             and delivery takes 3-5 days. Use `acme track {i}` to follow it; the warehouse \
             processes about 12,500 parcels per day at 99.{}% accuracy.\n",
            i % 28 + 1,
            i % 20,
            i % 7,
            i % 500,
            i % 100,
            i % 9 + 1,
            i % 10
        ));
        if i % 25 == 0 {
            s.push_str(&format!(
                "\n```sh\ncurl -s https://api.acme.test/v2/orders/{i} -H 'Accept: application/json' \
                 | jq '.items[] | {{sku, qty}}'\nsha256sum receipt-{i}.pdf  \
                 # e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\n```\n\n\
                 The receipt note is stored as `VGhhbmtzIGZvciBzaG9wcGluZyB3aXRoIEFjbWUh` \
                 (base64), and https://shop.acme.test/search?q=blue%20running%20shoes&page={} \
                 lists similar items.\n\n",
                i % 9 + 1
            ));
        }
        i += 1;
    }
    s
}

fn detectors(c: &mut Criterion) {
    let text = output();
    let list: Vec<(&str, Box<dyn Detector>)> = vec![
        ("no_secrets", Box::new(Secrets::default())),
        ("no_pii", Box::new(Pii::default())),
        (
            "no_leak_canary",
            Box::new(Leak::new(&["CANARY-7f3a9d".to_string()], None)),
        ),
        (
            "no_leak_system_prompt",
            Box::new(Leak::new(&[], Some(PromptChunks::new(PROMPT, 0.8)))),
        ),
        ("no_markdown_exfil", Box::new(MarkdownExfil::default())),
        ("no_xss", Box::new(Xss::default())),
        ("no_ansi", Box::new(Ansi::default())),
        ("no_invisible_chars", Box::new(InvisibleChars::default())),
        ("no_stack_trace", Box::new(StackTraces::default())),
        ("refusal", Box::new(Refusal)),
    ];
    let mut g = c.benchmark_group("security_1mb");
    g.throughput(Throughput::Bytes(text.len() as u64));
    g.sample_size(20);
    g.measurement_time(Duration::from_secs(3));
    for (name, d) in &list {
        assert!(
            scan(d.as_ref(), &text).findings.is_empty(),
            "{name} flags the clean text"
        );
        g.bench_function(*name, |b| {
            b.iter(|| scan(d.as_ref(), black_box(&text)).findings.len())
        });
    }
    g.finish();
}

criterion_group!(benches, detectors);
criterion_main!(benches);

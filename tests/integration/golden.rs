//! Golden snapshots end to end: the insta-style workflow (pending files,
//! accept, reject, review, prune), update modes, CI behaviour, comparison
//! modes and diffs in every report.

use crate::util::{normalize, Project};

fn project(reply: &str) -> Project {
    let p = Project::with_mock(&format!("responses:\n  - case: fr\n    reply: {reply:?}\n"));
    p.file(
        "suites/geo.yaml",
        "name: geo\nprompt: 'Capital of {{ c }}?'\ncases:\n  - id: fr\n    vars: {c: France}\n    checks: [golden]\n",
    );
    p
}

fn set_reply(p: &Project, reply: &str) {
    p.file(
        "mock.yaml",
        &format!("responses:\n  - case: fr\n    reply: {reply:?}\n"),
    );
}

#[test]
fn round_trip_record_accept_change_review() {
    let p = project("The capital of France is Paris.\nIt is on the Seine.");
    // 1. No golden yet: locally, a pending file is written and the case fails.
    let r = p.run_local(&["run"]);
    assert_eq!(r.code, 1, "{}", r.stdout);
    assert!(
        r.stdout
            .contains("no golden yet: wrote golden/geo/fr.txt.new"),
        "{}",
        r.stdout
    );
    assert!(p.exists("golden/geo/fr.txt.new"));
    assert!(!p.exists("golden/geo/fr.txt"));
    let r = p.run(&["golden", "pending"]);
    assert_eq!(r.code, 0);
    assert!(
        r.stdout.starts_with("geo/fr  (new)  golden/geo/fr.txt.new"),
        "{}",
        r.stdout
    );

    // 2. Accept: the golden exists, with its header, and the run passes.
    let r = p.run(&["golden", "accept"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let golden = p.read("golden/geo/fr.txt");
    assert!(
        golden.starts_with(
            "---\nsuite: geo\ncase: fr\nprovider: mock\nmodel: mock\nprompt_hash: sha256:"
        ),
        "{golden}"
    );
    assert!(
        golden.ends_with("---\nThe capital of France is Paris.\nIt is on the Seine.\n"),
        "{golden}"
    );
    assert!(!p.exists("golden/geo/fr.txt.new"));
    assert_eq!(p.run_local(&["run"]).code, 0);

    // 3. The output changes: failure with a diff, and a pending file.
    set_reply(&p, "The capital of France is Lyon.\nIt is on the Seine.");
    let r = p.run_local(&["run"]);
    assert_eq!(r.code, 1);
    assert!(
        r.stdout
            .contains("output differs from golden/geo/fr.txt (exact mode)"),
        "{}",
        r.stdout
    );
    insta::assert_snapshot!("golden_diff_console", normalize(&r.stdout));
    let v = p.json_report();
    let diff = v["results"][0]["attempts"][0]["checks"][0]["diff"]
        .as_str()
        .unwrap();
    assert!(
        diff.contains("-The capital of France is Paris.\n+The capital of France is Lyon.\n"),
        "{diff}"
    );
    assert!(p
        .read("reports/junit.xml")
        .contains("+The capital of France is Lyon."));
    let md = p.read("reports/summary.md");
    assert!(md.contains("<summary>diff: golden</summary>"), "{md}");
    assert!(md.contains("```diff\n--- golden\n+++ output\n"), "{md}");
    assert!(p.exists("golden/geo/fr.txt.new"));

    // 4. Reject keeps the old golden; the next run writes the pending file again.
    let r = p.run(&["golden", "reject", "geo/*"]);
    assert_eq!(r.code, 0);
    assert!(r.stdout.contains("rejected geo/fr"), "{}", r.stdout);
    assert!(!p.exists("golden/geo/fr.txt.new"));
    assert_eq!(p.run_local(&["run"]).code, 1);

    // 5. Accept the change: passes again; going back to the old output
    //    removes nothing but fails until accepted.
    assert_eq!(p.run(&["golden", "accept", "geo"]).code, 0);
    assert!(p.read("golden/geo/fr.txt").contains("Lyon"));
    assert_eq!(p.run_local(&["run"]).code, 0);
}

#[test]
fn ci_never_writes_and_says_how_to_create_goldens() {
    let p = project("Paris");
    let r = p.run(&["run"]); // util::evalgate sets CI=true
    assert_eq!(r.code, 1);
    assert!(
        r.stdout.contains("no golden at golden/geo/fr.txt; create it locally with `evalgate run --update-golden=new`"),
        "{}",
        r.stdout
    );
    assert!(!p.exists("golden"), "nothing is written in CI");
    // A mismatch in CI writes no pending file either.
    assert_eq!(p.run_local(&["run", "--update-golden", "new"]).code, 0);
    set_reply(&p, "Lyon");
    assert_eq!(p.run(&["run"]).code, 1);
    assert!(!p.exists("golden/geo/fr.txt.new"));
    // Explicit modes still apply in CI.
    assert_eq!(p.run(&["run", "--update-golden", "always"]).code, 0);
    assert!(p.read("golden/geo/fr.txt").ends_with("---\nLyon\n"));
}

#[test]
fn update_modes_new_always_no() {
    let p = project("Paris");
    // new: writes missing goldens directly; the case passes.
    let r = p.run_local(&["run", "--update-golden", "new"]);
    assert_eq!(r.code, 0, "{}", r.stdout);
    assert!(p.read("golden/geo/fr.txt").ends_with("Paris\n"));
    // new never overwrites an existing golden.
    set_reply(&p, "Lyon");
    assert_eq!(p.run_local(&["run", "--update-golden", "new"]).code, 1);
    assert!(p.read("golden/geo/fr.txt").ends_with("Paris\n"));
    assert!(!p.exists("golden/geo/fr.txt.new"));
    // no: never writes, even locally.
    assert_eq!(p.run_local(&["run", "--update-golden", "no"]).code, 1);
    assert!(!p.exists("golden/geo/fr.txt.new"));
    // always: overwrites and passes.
    assert_eq!(p.run_local(&["run", "--update-golden", "always"]).code, 0);
    assert!(p.read("golden/geo/fr.txt").ends_with("Lyon\n"));
}

#[test]
fn stale_prompt_is_named_in_the_failure() {
    let p = project("Paris");
    assert_eq!(p.run_local(&["run", "--update-golden", "new"]).code, 0);
    p.file(
        "suites/geo.yaml",
        "name: geo\nprompt: 'What is the capital city of {{ c }}?'\ncases:\n  - id: fr\n    vars: {c: France}\n    checks: [golden]\n",
    );
    set_reply(&p, "Paris, of course");
    let r = p.run_local(&["run"]);
    assert_eq!(r.code, 1);
    assert!(
        r.stdout
            .contains("the prompt changed since this golden was accepted"),
        "{}",
        r.stdout
    );
}

#[test]
fn normalized_mode_accepts_crlf_trailing_space_and_unicode_forms() {
    let p = project("Café au lait  \r\nsecond line\r\n");
    p.file(
        "suites/geo.yaml",
        "name: geo\nprompt: hi\ndefaults:\n  golden: {mode: normalized}\ncases:\n  - {id: fr, checks: [golden]}\n",
    );
    // The golden holds the decomposed é and LF line endings.
    p.file(
        "golden/geo/fr.txt",
        "---\r\nsuite: geo\r\ncase: fr\r\nprovider: mock\r\nprompt_hash: sha256:x\r\naccepted_at: 2026-01-01T00:00:00Z\r\n---\r\nCafe\u{301} au lait\nsecond line\n",
    );
    let r = p.run_local(&["run"]);
    assert_eq!(r.code, 0, "{}", r.stdout);
    // Exact mode sees the difference.
    p.file(
        "suites/geo.yaml",
        "name: geo\nprompt: hi\ncases:\n  - {id: fr, checks: [golden]}\n",
    );
    assert_eq!(p.run(&["run"]).code, 1);
}

#[test]
fn json_mode_ignores_key_order_float_noise_and_ignored_paths() {
    let p =
        project(r#"{"city": "Paris", "temp": 18.500000001, "id": "req-2", "tags": ["a", "b"]}"#);
    p.file(
        "suites/geo.yaml",
        "name: geo\nprompt: hi\ncases:\n  - id: fr\n    checks:\n      - golden: {mode: json, tolerance: 0.001, ignore_paths: ['$.id']}\n",
    );
    p.file(
        "golden/geo/fr.json",
        "---\nsuite: geo\ncase: fr\nprovider: mock\nprompt_hash: sha256:x\naccepted_at: 2026-01-01T00:00:00Z\n---\n{\n  \"tags\": [\"a\", \"b\"],\n  \"id\": \"req-1\",\n  \"temp\": 18.5,\n  \"city\": \"Paris\"\n}\n",
    );
    let r = p.run_local(&["run"]);
    assert_eq!(r.code, 0, "{}", r.stdout);
    set_reply(
        &p,
        r#"{"city": "Lyon", "temp": 18.5, "id": "req-3", "tags": ["a", "b"]}"#,
    );
    let r = p.run_local(&["run"]);
    assert_eq!(r.code, 1);
    let v = p.json_report();
    let diff = v["results"][0]["attempts"][0]["checks"][0]["diff"]
        .as_str()
        .unwrap();
    // Only the real change shows: keys sorted, ignored path masked, float noise gone.
    assert!(
        diff.contains("-  \"city\": \"Paris\",\n+  \"city\": \"Lyon\",\n"),
        "{diff}"
    );
    assert!(!diff.contains("req-"), "{diff}");
    // The pending file stores pretty JSON.
    assert!(p
        .read("golden/geo/fr.json.new")
        .contains("\"city\": \"Lyon\""));
}

#[test]
fn redactions_hide_volatile_parts() {
    let p = project("Order 123e4567-e89b-12d3-a456-426614174000 shipped on 2026-11-26.");
    p.file(
        "suites/geo.yaml",
        "name: geo\nprompt: hi\ndefaults:\n  golden:\n    redact:\n      - {regex: '\\d{4}-\\d{2}-\\d{2}', with: '[DATE]'}\n      - {regex: '[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}', with: '[UUID]'}\ncases:\n  - {id: fr, checks: [golden]}\n",
    );
    assert_eq!(p.run_local(&["run", "--update-golden", "new"]).code, 0);
    set_reply(
        &p,
        "Order 00000000-0000-0000-0000-000000000001 shipped on 2027-01-02.",
    );
    let r = p.run_local(&["run"]);
    assert_eq!(r.code, 0, "{}", r.stdout);
    set_reply(
        &p,
        "Order 00000000-0000-0000-0000-000000000001 was lost on 2027-01-02.",
    );
    let r = p.run_local(&["run"]);
    assert_eq!(r.code, 1);
    assert!(
        r.stdout.contains("+Order [UUID] was lost on [DATE]."),
        "{}",
        r.stdout
    );
}

#[test]
fn review_needs_a_terminal() {
    let p = project("Paris");
    assert_eq!(p.run_local(&["run"]).code, 1);
    let r = p.run(&["golden", "review"]);
    assert_eq!(r.code, 2);
    insta::assert_snapshot!("golden_review_without_terminal", r.stderr);
}

#[test]
fn prune_removes_goldens_no_case_uses() {
    let p = project("Paris");
    assert_eq!(p.run_local(&["run", "--update-golden", "new"]).code, 0);
    p.file(
        "golden/geo/old-case.txt",
        "---\nsuite: geo\ncase: old-case\nprovider: mock\nprompt_hash: x\naccepted_at: x\n---\nx\n",
    );
    p.file(
        "golden/gone/x.txt.new",
        "---\nsuite: gone\ncase: x\nprovider: mock\nprompt_hash: x\naccepted_at: x\n---\nx\n",
    );
    let r = p.run(&["golden", "prune", "--dry-run"]);
    assert_eq!(r.code, 0);
    assert!(
        r.stdout.contains("would remove golden/geo/old-case.txt"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains("would remove golden/gone/x.txt.new"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout
            .contains("2 unused golden files found (dry run, nothing removed)"),
        "{}",
        r.stdout
    );
    assert!(p.exists("golden/geo/old-case.txt"));
    let r = p.run(&["golden", "prune"]);
    assert_eq!(r.code, 0);
    assert!(!p.exists("golden/geo/old-case.txt"));
    assert!(!p.exists("golden/gone/x.txt.new"));
    assert!(p.exists("golden/geo/fr.txt"), "used goldens stay");
}

#[test]
fn ids_are_encoded_so_goldens_stay_inside_golden_dir() {
    let p = Project::with_mock("default: hi\n");
    p.file(
        "suites/odd.yaml",
        "name: odd\nprompt: hi\ncases:\n  - {id: 'a:b', checks: [golden]}\n  - {id: 'ünï', checks: [golden]}\n  - {id: '.hidden', checks: [golden]}\n",
    );
    assert_eq!(p.run_local(&["run", "--update-golden", "new"]).code, 0);
    assert!(p.exists("golden/odd/a%3Ab.txt"));
    assert!(p.exists("golden/odd/%C3%BCn%C3%AF.txt"));
    assert!(p.exists("golden/odd/%2Ehidden.txt"));
    assert!(!p.exists("golden/odd/a.txt"));
    // Ids that are paths are rejected before anything runs.
    p.file(
        "suites/bad.yaml",
        "name: bad\nprompt: hi\ncases:\n  - {id: '../../etc', checks: [golden]}\n",
    );
    let r = p.run_local(&["run", "--update-golden", "always"]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("invalid case id \"../../etc\""),
        "{}",
        r.stderr
    );
}

#[test]
fn direct_writes_clear_stale_pending_files() {
    let p = project("v1");
    assert_eq!(p.run_local(&["run"]).code, 1); // pending v1
    assert!(p.exists("golden/geo/fr.txt.new"));
    set_reply(&p, "v2");
    assert_eq!(p.run_local(&["run", "--update-golden", "always"]).code, 0);
    assert!(p.read("golden/geo/fr.txt").ends_with("v2\n"));
    assert!(
        !p.exists("golden/geo/fr.txt.new"),
        "a stale pending file would revert the golden on accept"
    );
    assert_eq!(
        p.run(&["golden", "accept"]).stdout.trim_end(),
        "no pending golden changes"
    );
}

#[test]
fn only_the_first_repeat_writes_goldens() {
    let p = Project::with_mock("responses:\n  - case: rep\n    replies: [X, Y, X]\n");
    p.file(
        "suites/r.yaml",
        "name: r\nprompt: hi\ncases:\n  - {id: rep, repeat: 3, min_passes: 2, checks: [golden]}\n",
    );
    p.file(
        "golden/r/rep.txt",
        "---\nsuite: r\ncase: rep\nprovider: mock\nprompt_hash: x\naccepted_at: x\n---\nX\n",
    );
    for _ in 0..5 {
        let r = p.run_local(&["run"]);
        assert_eq!(r.code, 0, "{}", r.stdout);
        assert!(!p.exists("golden/r/rep.txt.new"), "repeat 2 must not write");
        assert!(p.read("golden/r/rep.txt").ends_with("---\nX\n"));
    }
}

#[test]
fn an_unreadable_golden_can_be_replaced() {
    let p = project("Paris");
    p.file("golden/geo/fr.txt", "hand-edited, no header\n");
    let r = p.run_local(&["run", "--update-golden", "no"]);
    assert_eq!(r.code, 1);
    assert!(r.stdout.contains("malformed"), "{}", r.stdout);
    let r = p.run_local(&["run"]);
    assert_eq!(r.code, 1);
    assert!(
        p.exists("golden/geo/fr.txt.new"),
        "auto writes a pending replacement"
    );
    let r = p.run_local(&["run", "--update-golden", "always"]);
    assert_eq!(r.code, 0, "{}", r.stdout);
    assert!(p.read("golden/geo/fr.txt").ends_with("---\nParis\n"));
}

#[test]
fn per_provider_goldens_of_every_provider_survive_prune() {
    let p = Project::with_mock("default: hi\n");
    p.file(
        "suites/s.yaml",
        "name: s\nprompt: hi\ncases:\n  - id: b\n    checks: [{golden: {per_provider: true}}]\n  - {id: b.mock, checks: [golden]}\n",
    );
    assert_eq!(p.run_local(&["run", "--update-golden", "new"]).code, 0);
    assert_eq!(
        p.run_local(&["run", "--update-golden", "new", "--provider", "echo"])
            .code,
        0
    );
    assert!(p.exists("golden/s/b.mock.txt"));
    assert!(p.exists("golden/s/b.echo.txt"));
    assert!(
        p.exists("golden/s/b%2Emock.txt"),
        "a dot in a case id cannot collide with a provider suffix"
    );
    let r = p.run(&["golden", "prune", "--dry-run"]);
    assert!(r.stdout.contains("0 unused golden files"), "{}", r.stdout);
}

#[test]
fn case_ids_that_differ_only_in_case_cannot_share_a_golden() {
    let p = Project::with_mock("default: hi\n");
    p.file("suites/s.yaml", "name: s\nprompt: hi\ncases:\n  - {id: A, checks: [golden]}\n  - {id: a, checks: [golden]}\n");
    let r = p.run_local(&["run"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("cases `A` and `a` would share the golden file"),
        "{}",
        r.stderr
    );
}

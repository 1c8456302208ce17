//! The example projects: `examples/staging` is re-recorded against fakellm
//! (its own rules file) and must give the verdicts and answers its committed
//! cassettes give.

use crate::endpoints::copy_tree;
use crate::servers::Server;
use crate::util::{evalgate, repo, Project, Run};

fn outcomes(p: &Project) -> Vec<(String, String, String, serde_json::Value)> {
    let report = p.json_report();
    report["results"]
        .as_array()
        .map(|cs| {
            cs.iter()
                .map(|c| {
                    let a = &c["attempts"][0];
                    (
                        format!(
                            "{} [{}]",
                            c["id"].as_str().unwrap_or_default(),
                            c["provider"].as_str().unwrap_or_default()
                        ),
                        c["outcome"].as_str().unwrap_or_default().to_string(),
                        a["output"].as_str().unwrap_or_default().to_string(),
                        a["tool_calls"]
                            .as_array()
                            .map_or(serde_json::Value::Null, |calls| {
                                calls
                                    .iter()
                                    .map(|t| serde_json::json!([t["name"], t["arguments"]]))
                                    .collect()
                            }),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn the_staging_example_re_records_against_fakellm_with_the_committed_verdicts() {
    let example = repo().join("examples/staging");
    let replay = Project::new();
    copy_tree(&example, replay.path());
    let r = Run::from(
        evalgate(replay.path())
            .args([
                "run",
                "--replay",
                "--provider",
                "staging",
                "--provider",
                "claude",
            ])
            .output()
            .expect("run"),
    );
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);

    let rules = std::fs::read_to_string(example.join("fakellm.yaml")).expect("rules");
    let server = Server::fakellm(&rules);
    let live = Project::new();
    copy_tree(&example, live.path());
    let r = Run::from(
        evalgate(live.path())
            .env("STAGING_BASE_URL", server.openai_base())
            .env("STAGING_API_KEY", "sk-example-staging-1")
            .env("CLAUDE_BASE_URL", server.anthropic_base())
            .env("CLAUDE_API_KEY", "sk-example-claude-1")
            .args([
                "run",
                "--record",
                "--provider",
                "staging",
                "--provider",
                "claude",
            ])
            .output()
            .expect("run"),
    );
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert_eq!(outcomes(&live), outcomes(&replay));
    // The re-recorded cassettes hold the same requests as the committed ones.
    for provider in ["staging", "claude"] {
        let keys = |root: &std::path::Path| -> Vec<String> {
            std::fs::read_to_string(
                root.join(format!("fixtures/cassettes/{provider}/support.yaml")),
            )
            .expect("cassette")
            .lines()
            .filter(|l| l.trim_start().starts_with("key: "))
            .map(str::to_string)
            .collect()
        };
        assert_eq!(keys(live.path()), keys(&example), "{provider}");
    }
}

//! `evalgate schema config|suite|mock`: the JSON Schemas of the input files
//! (`schema/*.v1.json`, built in), and the key lists the decoders accept,
//! paired with where each schema describes them, for the schemas' drift test.

use crate::cli::SchemaKind;
use crate::config::{pricing, probe, project, provider::PROVIDER_TYPES};
use crate::provider::mock;
use crate::suite;

/// The JSON Schema of a kind of input file.
pub(super) fn text(kind: SchemaKind) -> &'static str {
    match kind {
        SchemaKind::Config => include_str!("../../schema/config.v1.json"),
        SchemaKind::Suite => include_str!("../../schema/suite.v1.json"),
        SchemaKind::Mock => include_str!("../../schema/mock.v1.json"),
    }
}

/// A mapping a decoder reads: the keys it accepts and where its JSON Schema
/// describes them.
#[derive(Debug, Clone)]
pub struct SchemaKeys {
    /// `config`, `suite` or `mock` (`schema/<schema>.v1.json`).
    pub schema: &'static str,
    /// A JSON pointer into that schema: an object schema (its `properties`),
    /// an `enum` (names written alone), or a schema whose `anyOf`/`oneOf`
    /// has one object member.
    pub pointer: String,
    /// The keys the decoder accepts there.
    pub keys: Vec<&'static str>,
}

fn entry(schema: &'static str, pointer: impl Into<String>, keys: &[&'static str]) -> SchemaKeys {
    SchemaKeys {
        schema,
        pointer: pointer.into(),
        keys: keys.to_vec(),
    }
}

/// Every key list of the config, suite and mock decoders (check kinds come
/// from `check::kind_forms`).
pub fn schema_keys() -> Vec<SchemaKeys> {
    let gate = "/properties/gate/properties";
    let mut latency = project::LATENCY_LIMIT_KEYS.to_vec();
    latency.extend(project::LATENCY_GATE_KEYS);
    let mut out = vec![
        entry("config", "", project::CONFIG_KEYS),
        entry("config", "/properties/reports", project::REPORT_KEYS),
        entry("config", "/properties/gate", project::GATE_KEYS),
        entry(
            "config",
            format!("{gate}/security"),
            project::SECURITY_GATE_KEYS,
        ),
        entry(
            "config",
            format!("{gate}/suites/additionalProperties"),
            project::SUITE_GATE_KEYS,
        ),
        entry(
            "config",
            format!("{gate}/tags/additionalProperties"),
            project::SUITE_GATE_KEYS,
        ),
        entry("config", format!("{gate}/latency"), &latency),
        entry(
            "config",
            format!("{gate}/latency/properties/suites/additionalProperties"),
            project::LATENCY_LIMIT_KEYS,
        ),
        entry("suite", "", suite::SUITE_KEYS),
        entry("suite", "/properties/defaults", suite::DEFAULT_KEYS),
        entry("suite", "/$defs/case", suite::CASE_KEYS),
        entry(
            "suite",
            "/$defs/case/properties/turns/items",
            suite::TURN_KEYS,
        ),
        entry("suite", "/properties/cases_from", suite::DATASET_KEYS),
        entry("suite", "/properties/attacks", suite::attacks::ATTACK_KEYS),
        entry("suite", "/properties/prompt", suite::PROMPT_KEYS),
        entry("suite", "/$defs/case/properties/prompt", suite::PROMPT_KEYS),
        entry(
            "suite",
            "/properties/prompt/anyOf/2/items",
            suite::MESSAGE_KEYS,
        ),
        entry(
            "suite",
            "/$defs/golden_settings",
            crate::golden::compare::KEYS,
        ),
        entry(
            "suite",
            "/$defs/golden_settings/properties/redact/items",
            crate::golden::compare::REDACTION_KEYS,
        ),
        entry("mock", "", mock::ROOT_KEYS),
        entry("mock", "/properties/responses/items", mock::RULE_KEYS),
        entry(
            "mock",
            "/properties/responses/items/properties/tool_calls/items",
            mock::TOOL_CALL_KEYS,
        ),
        entry(
            "mock",
            "/properties/responses/items/properties/faults",
            mock::FAULT_KEYS,
        ),
    ];
    for (i, t) in PROVIDER_TYPES.iter().enumerate() {
        let at = format!("/$defs/provider/oneOf/{i}");
        let keys = t.keys();
        if keys.contains(&"pricing") {
            out.push(entry(
                "config",
                format!("{at}/properties/pricing"),
                pricing::KEYS,
            ));
        }
        if keys.contains(&"probes") {
            let items = format!("{at}/properties/probes/items/anyOf");
            out.push(entry("config", format!("{items}/0"), probe::PROBE_NAMES));
            for (j, name) in probe::PROBE_NAMES.iter().enumerate() {
                let options = probe::option_keys(name).unwrap_or(&[]);
                if !options.is_empty() {
                    out.push(entry(
                        "config",
                        format!("{items}/{}/properties/{name}", j + 1),
                        options,
                    ));
                }
            }
        }
        out.push(SchemaKeys {
            schema: "config",
            pointer: at,
            keys,
        });
    }
    out
}

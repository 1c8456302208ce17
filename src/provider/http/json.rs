//! The JSON helpers the APIs share: compact text, objects with sorted keys
//! (deterministic request keys), and token counts read into [`Usage`].

use std::collections::BTreeMap;

use serde_json::Value;

use crate::model::Usage;

/// Compact JSON text of a value.
pub fn compact(v: &Value) -> String {
    serde_json::to_string(v).unwrap_or_default()
}

/// `v` with the keys of every object sorted (serde_json keeps insertion
/// order in this crate), for deterministic request keys.
pub fn sorted_json(v: &Value) -> Value {
    match v {
        Value::Object(m) => {
            let sorted: BTreeMap<&String, &Value> = m.iter().collect();
            Value::Object(
                sorted
                    .into_iter()
                    .map(|(k, v)| (k.clone(), sorted_json(v)))
                    .collect(),
            )
        }
        Value::Array(a) => Value::Array(a.iter().map(sorted_json).collect()),
        other => other.clone(),
    }
}

/// A token count: a non-negative integer, an integral float or a numeric string.
pub fn json_u64(v: &Value) -> Option<u64> {
    match v {
        Value::Number(n) => n.as_u64().or_else(|| {
            n.as_f64()
                .filter(|f| f.is_finite() && *f >= 0.0 && f.fract() == 0.0 && *f <= u64::MAX as f64)
                .map(|f| f as u64)
        }),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// Usage from two optional counts: `None` when neither is known.
pub fn usage_of(input: Option<u64>, output: Option<u64>) -> Option<Usage> {
    if input.is_none() && output.is_none() {
        return None;
    }
    let input_tokens = input.unwrap_or(0);
    let output_tokens = output.unwrap_or(0);
    Some(Usage {
        input_tokens,
        output_tokens,
        total_tokens: input_tokens.saturating_add(output_tokens),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sorted_json_sorts_nested_keys() {
        let v = serde_json::json!({"b": 1, "a": {"z": 1, "y": [ {"d": 1, "c": 2} ]}});
        assert_eq!(
            compact(&sorted_json(&v)),
            r#"{"a":{"y":[{"c":2,"d":1}],"z":1},"b":1}"#
        );
    }
}

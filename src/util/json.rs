//! Canonical JSON: one value, one text.

use serde_json::Value;

/// `v` with the keys of every object sorted, recursively. serde_json keeps
/// insertion order in this crate, so two equal objects can print differently;
/// request keys, cache keys and golden comparisons go through this first.
pub fn canonical(v: &Value) -> Value {
    match v {
        Value::Object(m) => {
            let mut entries: Vec<(&String, &Value)> = m.iter().collect();
            entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
            Value::Object(
                entries
                    .into_iter()
                    .map(|(k, v)| (k.clone(), canonical(v)))
                    .collect(),
            )
        }
        Value::Array(items) => Value::Array(items.iter().map(canonical).collect()),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_sorted_at_every_depth() {
        let v: Value = serde_json::from_str(r#"{"b":1,"a":{"d":[{"z":0,"y":1}],"c":2}}"#).unwrap();
        assert_eq!(
            canonical(&v).to_string(),
            r#"{"a":{"c":2,"d":[{"y":1,"z":0}]},"b":1}"#
        );
    }
}

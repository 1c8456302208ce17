//! Canonical JSON: one value, one text.

use serde_json::{Number, Value};

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

/// An integer's exact value, when the number is one (serde_json keeps
/// integers up to 64 bits exactly).
fn integer(n: &Number) -> Option<i128> {
    n.as_i64()
        .map(i128::from)
        .or_else(|| n.as_u64().map(i128::from))
}

/// Whether two JSON numbers are the same number: two integers compare
/// exactly (so ids above 2^53 do not round through f64), an integer and a
/// float compare by exact value (`1` equals `1.0`, `9007199254740993` does not
/// equal `9007199254740992.0`), two floats as 64-bit floats.
pub fn numbers_equal(a: &Number, b: &Number) -> bool {
    // Every i128 value within ±2^127 that a float can hold is exact.
    const LIMIT: f64 = 1.7e38;
    let float_is = |f: f64, i: i128| f.fract() == 0.0 && f.abs() < LIMIT && f as i128 == i;
    match (integer(a), integer(b)) {
        (Some(x), Some(y)) => x == y,
        (Some(x), None) => b.as_f64().is_some_and(|f| float_is(f, x)),
        (None, Some(y)) => a.as_f64().is_some_and(|f| float_is(f, y)),
        (None, None) => a.as_f64() == b.as_f64(),
    }
}

/// JSON equality with numbers compared as numbers ([`numbers_equal`]) at
/// every depth; objects ignore key order.
pub fn json_equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => numbers_equal(x, y),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| json_equal(a, b))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| json_equal(v, w)))
        }
        (a, b) => a == b,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_compare_exactly() {
        let n = |s: &str| serde_json::from_str::<Value>(s).unwrap();
        assert!(json_equal(&n("1"), &n("1.0")));
        assert!(json_equal(&n("-3"), &n("-3.0")));
        assert!(!json_equal(&n("9007199254740992"), &n("9007199254740993")));
        assert!(!json_equal(
            &n("9007199254740993"),
            &n("9007199254740992.0")
        ));
        assert!(json_equal(
            &n("18446744073709551615"),
            &n("18446744073709551615")
        ));
        assert!(!json_equal(
            &n("18446744073709551615"),
            &n("18446744073709551614")
        ));
        assert!(json_equal(&n("0.5"), &n("0.5")));
        assert!(json_equal(
            &n(r#"{"a":[1,{"b":2}]}"#),
            &n(r#"{"a":[1.0,{"b":2.0}]}"#)
        ));
        assert!(!json_equal(&n(r#"{"a":1}"#), &n(r#"{"a":1,"b":2}"#)));
    }

    #[test]
    fn keys_are_sorted_at_every_depth() {
        let v: Value = serde_json::from_str(r#"{"b":1,"a":{"d":[{"z":0,"y":1}],"c":2}}"#).unwrap();
        assert_eq!(
            canonical(&v).to_string(),
            r#"{"a":{"c":2,"d":[{"y":1,"z":0}]},"b":1}"#
        );
    }
}

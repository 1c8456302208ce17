//! A JSON writer for the records written once per case (the JSON report's
//! results, the run journal's lines): compact, byte for byte what
//! `serde_json::to_writer` writes for the same values.
//!
//! Why not serde: every key went through serde_json's escaper one byte at a
//! time and every fragment was a separate write; with two such records per
//! case that was about a quarter of a mock-path case's instructions. Here
//! keys are written as they are (they are Rust literals that need no
//! escaping), and strings are scanned eight bytes at a time for the few
//! bytes JSON escapes. Numbers go through serde_json's own formatter, so
//! they print the same.

use serde::Serialize;
use serde_json::ser::{CompactFormatter, Formatter};

use crate::util::swar;

/// Bytes JSON must escape: `"`, `\` and the control characters below 0x20.
const fn needs_escape(b: u8) -> bool {
    b < 0x20 || b == b'"' || b == b'\\'
}

/// The index of the first byte at or after `i` that needs escaping, or
/// `b.len()`: eight bytes at a time, then one by one.
fn next_escape(b: &[u8], mut i: usize) -> usize {
    while let Some(w) = swar::word_at(b, i) {
        if swar::has_below(w, 0x20) || swar::has_byte(w, b'"') || swar::has_byte(w, b'\\') {
            break;
        }
        i += 8;
    }
    while i < b.len() && !needs_escape(b[i]) {
        i += 1;
    }
    i
}

/// `s` as a JSON string, quotes included (serde_json's escapes: `\"`,
/// `\\`, `\b`, `\f`, `\n`, `\r`, `\t`, else `\u00xx`).
pub(crate) fn push_str(out: &mut Vec<u8>, s: &str) {
    let b = s.as_bytes();
    out.reserve(b.len() + 2);
    out.push(b'"');
    let mut start = 0;
    loop {
        let at = next_escape(b, start);
        out.extend_from_slice(&b[start..at]);
        let Some(&c) = b.get(at) else { break };
        match c {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            0x08 => out.extend_from_slice(b"\\b"),
            0x0c => out.extend_from_slice(b"\\f"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            _ => {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                out.extend_from_slice(b"\\u00");
                out.push(HEX[usize::from(c >> 4)]);
                out.push(HEX[usize::from(c & 0xf)]);
            }
        }
        start = at + 1;
    }
    out.push(b'"');
}

/// A float as serde_json writes it (`null` when not finite).
pub(crate) fn push_f64(out: &mut Vec<u8>, v: f64) {
    if !v.is_finite() || CompactFormatter.write_f64(out, v).is_err() {
        out.extend_from_slice(b"null");
    }
}

/// An unsigned integer as serde_json writes it.
pub(crate) fn push_u64(out: &mut Vec<u8>, v: u64) {
    if CompactFormatter.write_u64(out, v).is_err() {
        out.extend_from_slice(b"null");
    }
}

/// An object being written: `key` adds the separator and the key; the
/// typed methods add a member each, the `opt_` ones only when present.
pub(crate) struct Obj<'a> {
    pub(crate) out: &'a mut Vec<u8>,
    first: bool,
}

impl<'a> Obj<'a> {
    /// Writes `{`.
    pub(crate) fn open(out: &'a mut Vec<u8>) -> Self {
        out.push(b'{');
        Obj { out, first: true }
    }

    /// Writes `}`.
    pub(crate) fn close(self) {
        self.out.push(b'}');
    }

    /// `,"key":` (no comma before the first member). Keys are literals
    /// that need no escaping.
    pub(crate) fn key(&mut self, key: &'static str) -> &mut Vec<u8> {
        debug_assert!(!key.bytes().any(needs_escape));
        if !self.first {
            self.out.push(b',');
        }
        self.first = false;
        self.out.push(b'"');
        self.out.extend_from_slice(key.as_bytes());
        self.out.extend_from_slice(b"\":");
        self.out
    }

    pub(crate) fn str(&mut self, key: &'static str, v: &str) {
        push_str(self.key(key), v);
    }

    pub(crate) fn opt_str(&mut self, key: &'static str, v: Option<&str>) {
        if let Some(v) = v {
            self.str(key, v);
        }
    }

    pub(crate) fn f64(&mut self, key: &'static str, v: f64) {
        push_f64(self.key(key), v);
    }

    pub(crate) fn opt_f64(&mut self, key: &'static str, v: Option<f64>) {
        if let Some(v) = v {
            self.f64(key, v);
        }
    }

    pub(crate) fn u64(&mut self, key: &'static str, v: u64) {
        push_u64(self.key(key), v);
    }

    pub(crate) fn bool(&mut self, key: &'static str, v: bool) {
        let out = self.key(key);
        out.extend_from_slice(if v { b"true" } else { b"false" });
    }

    /// A member whose value serde writes (the rare, nested ones): the same
    /// bytes as inside a serde-written record.
    pub(crate) fn serde<T: Serialize + ?Sized>(&mut self, key: &'static str, v: &T) {
        let out = self.key(key);
        let mark = out.len();
        if serde_json::to_writer(&mut *out, v).is_err() {
            // Plain data into memory does not fail; keep the JSON valid.
            out.truncate(mark);
            out.extend_from_slice(b"null");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fast(s: &str) -> String {
        let mut out = Vec::new();
        push_str(&mut out, s);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn strings_are_escaped_as_serde_json_escapes_them() {
        // Every ASCII byte alone, and at every offset of a long run (the
        // eight-byte scan and the byte-wise tail).
        for b in 0u8..=0x7f {
            let c = char::from(b);
            for pad in 0..20 {
                let s = format!("{}{c}{}", "a".repeat(pad), "é".repeat(pad % 3));
                assert_eq!(fast(&s), serde_json::to_string(&s).unwrap(), "{s:?}");
            }
        }
        let samples = [
            "",
            "plain text long enough for two words of eight",
            "quote \" and backslash \\ and newline \n and tab \t",
            "\u{0}\u{1}\u{1f}\u{7f}\u{80}\u{2028}\u{2029}</script>",
            "héllo wörld ▶ 日本語 🦀 \r\n\u{8}\u{c}",
            "\"\"\"\"\"\"\"\"\"\\\\\\\\\\\\\\\\",
        ];
        for s in samples {
            assert_eq!(fast(s), serde_json::to_string(s).unwrap(), "{s:?}");
        }
        // A pseudo-random mix of the characters that matter.
        let alphabet: Vec<char> = "ab \"\\\n\t\u{1}\u{1f}é▶🦀/".chars().collect();
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for _ in 0..2000 {
            let mut s = String::new();
            for _ in 0..(x % 40) {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                s.push(alphabet[(x % alphabet.len() as u64) as usize]);
            }
            assert_eq!(fast(&s), serde_json::to_string(&s).unwrap(), "{s:?}");
        }
    }

    #[test]
    fn numbers_are_written_as_serde_json_writes_them() {
        for v in [
            0.0,
            -0.0,
            1.0,
            0.1,
            1e-7,
            2.5e21,
            123456.789,
            f64::MAX,
            f64::MIN_POSITIVE,
            0.00019999999999999998,
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
        ] {
            let mut out = Vec::new();
            push_f64(&mut out, v);
            assert_eq!(out, serde_json::to_vec(&v).unwrap(), "{v}");
        }
        for v in [0, 1, 42, u64::from(u32::MAX), u64::MAX] {
            let mut out = Vec::new();
            push_u64(&mut out, v);
            assert_eq!(out, serde_json::to_vec(&v).unwrap(), "{v}");
        }
    }

    #[test]
    fn an_object_separates_its_members() {
        let mut out = Vec::new();
        let mut o = Obj::open(&mut out);
        o.str("a", "x");
        o.opt_str("skipped", None);
        o.u64("n", 3);
        o.bool("t", true);
        o.opt_f64("f", Some(0.5));
        o.serde("list", &["p", "q"]);
        o.close();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            r#"{"a":"x","n":3,"t":true,"f":0.5,"list":["p","q"]}"#
        );
    }
}

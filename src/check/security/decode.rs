//! Encoded spans: base64, hex and URL-encoded runs that decode to text, the
//! rot13 reading of a text, and text hidden in Unicode tag characters or
//! variation selectors. Detectors look inside each, so an encoded leak is
//! still a leak.

use std::sync::LazyLock;

use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::DecodePaddingMode;
use base64::{alphabet, Engine};
use regex::Regex;

/// How a span was decoded before a detector matched inside it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Decoding {
    Base64,
    Hex,
    Url,
    Rot13,
    /// Text written in invisible Unicode tag characters (U+E0000–E007F).
    UnicodeTags,
    /// Bytes smuggled as a run of variation selectors after one character.
    VariationSelectors,
}

impl Decoding {
    pub fn name(self) -> &'static str {
        match self {
            Decoding::Base64 => "base64",
            Decoding::Hex => "hex",
            Decoding::Url => "URL",
            Decoding::Rot13 => "rot13",
            Decoding::UnicodeTags => "Unicode tag",
            Decoding::VariationSelectors => "variation selector",
        }
    }
}

/// A decoded span of a text: where it is (byte range) and what it says.
#[derive(Debug)]
pub(crate) struct Span {
    pub(crate) start: usize,
    pub(crate) end: usize,
    pub(crate) decoding: Decoding,
    pub(crate) text: String,
}

/// Shortest base64 or hex run worth decoding (shorter runs are ordinary words).
const MIN_RUN: usize = 16;

/// The base64 (standard and URL-safe) and hex alphabet, by byte.
static B64_BYTE: [bool; 256] = {
    let mut t = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        t[b] = c.is_ascii_alphanumeric() || matches!(c, b'+' | b'/' | b'_' | b'-');
        b += 1;
    }
    t
};

/// Byte ranges of candidate base64/hex runs: at least [`MIN_RUN`]
/// characters of the alphabet, with up to two `=` of padding.
fn runs(s: &str) -> Vec<(usize, usize)> {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let in_run = |i: usize| b.get(i).is_some_and(|&c| B64_BYTE[usize::from(c)]);
    let mut i = 0;
    while i < b.len() {
        // Skip ahead: a run of MIN_RUN starting at i needs every byte up to
        // i + MIN_RUN - 1; the last one that is not in the alphabet says
        // where the next candidate can start.
        if let Some(j) = (i..(i + MIN_RUN).min(b.len())).rev().find(|&j| !in_run(j)) {
            i = j + 1;
            continue;
        }
        if i + MIN_RUN > b.len() {
            break;
        }
        let start = i;
        while i < b.len() && B64_BYTE[usize::from(b[i])] {
            i += 1;
        }
        let body_end = i;
        while i < b.len() && b[i] == b'=' && i - body_end < 2 {
            i += 1;
        }
        if body_end - start >= MIN_RUN {
            out.push((start, i));
        }
    }
    out
}

/// Candidate URL-encoded runs: non-space text with at least one `%XX`.
static URL: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"[^\s%]*(?:%[0-9A-Fa-f]{2}[^\s%]*)+").unwrap_or_else(|e| panic!("URL: {e}"))
});

const B64_CONFIG: GeneralPurposeConfig = GeneralPurposeConfig::new()
    .with_decode_padding_mode(DecodePaddingMode::Indifferent)
    .with_decode_allow_trailing_bits(true);
const B64: GeneralPurpose = GeneralPurpose::new(&alphabet::STANDARD, B64_CONFIG);
const B64_URL: GeneralPurpose = GeneralPurpose::new(&alphabet::URL_SAFE, B64_CONFIG);

/// Every base64, hex and URL-encoded span of `s` that decodes to text.
pub(crate) fn spans(s: &str) -> Vec<Span> {
    let mut out = Vec::new();
    for (start, end) in runs(s) {
        let run = &s[start..end];
        let body = run.trim_end_matches('=');
        let is_hex = body.len() % 2 == 0 && body.bytes().all(|b| b.is_ascii_hexdigit());
        let decoded = if is_hex {
            hex::decode(body).ok().map(|b| (b, Decoding::Hex))
        } else {
            base64(body).map(|b| (b, Decoding::Base64))
        };
        if let Some((bytes, decoding)) = decoded {
            if let Some(text) = as_text(bytes) {
                out.push(Span {
                    start,
                    end,
                    decoding,
                    text,
                });
            }
        }
    }
    for (at, region) in escaped_regions(s) {
        for m in URL.find_iter(region) {
            let decoded = percent_encoding::percent_decode_str(m.as_str()).collect::<Vec<u8>>();
            if let Some(text) = as_text(decoded) {
                out.push(Span {
                    start: at + m.start(),
                    end: at + m.end(),
                    decoding: Decoding::Url,
                    text,
                });
            }
        }
    }
    out
}

/// The parts of `s` between ASCII whitespace that hold a `%XX` escape, with
/// their offsets: a URL-encoded run has no whitespace and an escape, so
/// [`URL`] finds the same runs in these as in the whole text, without
/// reading the rest (a `%` in prose, "99.5% accuracy", is not an escape).
fn escaped_regions(s: &str) -> impl Iterator<Item = (usize, &str)> + '_ {
    let b = s.as_bytes();
    let mut done = 0;
    memchr::memchr_iter(b'%', b).filter_map(move |i| {
        let hex = |k: usize| b.get(k).is_some_and(u8::is_ascii_hexdigit);
        if i < done || !(hex(i + 1) && hex(i + 2)) {
            return None;
        }
        let start = b[..i]
            .iter()
            .rposition(u8::is_ascii_whitespace)
            .map_or(0, |j| j + 1)
            .max(done);
        let end = b[i..]
            .iter()
            .position(u8::is_ascii_whitespace)
            .map_or(b.len(), |j| i + j);
        done = end;
        s.get(start..end).map(|r| (start, r))
    })
}

fn base64(body: &str) -> Option<Vec<u8>> {
    if body.len() % 4 == 1 {
        return None;
    }
    let url_safe = body.contains(['-', '_']);
    if url_safe && body.contains(['+', '/']) {
        return None;
    }
    let engine = if url_safe { &B64_URL } else { &B64 };
    engine.decode(body).ok()
}

/// Decoded bytes as text: valid UTF-8 of at least 4 characters, nearly all
/// printable (random bytes almost never are).
fn as_text(bytes: Vec<u8>) -> Option<String> {
    let text = String::from_utf8(bytes).ok()?;
    let (mut total, mut printable) = (0usize, 0usize);
    for c in text.chars() {
        total += 1;
        if !c.is_control() || matches!(c, '\n' | '\r' | '\t') {
            printable += 1;
        }
    }
    (total >= 4 && printable * 100 >= total * 85).then_some(text)
}

/// The rot13 reading of `s` (ASCII letters rotated; byte offsets unchanged).
/// One byte rotated: ASCII letters by 13, anything else as it is.
pub(crate) fn rot13_byte(b: u8) -> u8 {
    match b {
        b'a'..=b'z' => (b - b'a' + 13) % 26 + b'a',
        b'A'..=b'Z' => (b - b'A' + 13) % 26 + b'A',
        b => b,
    }
}

pub(crate) fn rot13(s: &str) -> String {
    let bytes: Vec<u8> = s.bytes().map(rot13_byte).collect();
    // Only ASCII letters changed, into ASCII letters: still valid UTF-8.
    String::from_utf8(bytes).unwrap_or_default()
}

/// Text hidden in the raw output: runs of Unicode tag characters (each is an
/// ASCII character plus U+E0000) and runs of two or more variation selectors
/// (each a byte: VS1–16 are 0–15, VS17–256 are 16–255).
pub(crate) fn hidden(s: &str) -> Vec<Span> {
    let mut out = Vec::new();
    let mut tags: Option<(usize, String)> = None;
    let mut vs: Option<(usize, Vec<u8>)> = None;
    let mut last_end = 0;
    for (i, c) in super::non_ascii(s) {
        // An ASCII character between two runs ends them.
        if i != last_end {
            if let Some((start, text)) = tags.take() {
                out.push(tag_span(start, last_end, text));
            }
            if let Some((start, bytes)) = vs.take() {
                push_vs(&mut out, start, last_end, bytes);
            }
        }
        last_end = i + c.len_utf8();
        let cp = c as u32;
        if (0xE0000..=0xE007F).contains(&cp) {
            let ascii = char::from_u32(cp - 0xE0000).unwrap_or('?');
            tags.get_or_insert_with(|| (i, String::new())).1.push(ascii);
        } else if let Some((start, text)) = tags.take() {
            out.push(tag_span(start, i, text));
        }
        if let Some(byte) = variation_byte(c) {
            vs.get_or_insert_with(|| (i, Vec::new())).1.push(byte);
        } else if let Some((start, bytes)) = vs.take() {
            push_vs(&mut out, start, i, bytes);
        }
    }
    if let Some((start, text)) = tags {
        out.push(tag_span(start, last_end, text));
    }
    if let Some((start, bytes)) = vs {
        push_vs(&mut out, start, last_end, bytes);
    }
    out
}

fn tag_span(start: usize, end: usize, text: String) -> Span {
    Span {
        start,
        end,
        decoding: Decoding::UnicodeTags,
        text,
    }
}

fn push_vs(out: &mut Vec<Span>, start: usize, end: usize, bytes: Vec<u8>) {
    if bytes.len() < 2 {
        return;
    }
    let text = String::from_utf8_lossy(&bytes).into_owned();
    out.push(Span {
        start,
        end,
        decoding: Decoding::VariationSelectors,
        text,
    });
}

/// The byte a variation selector stands for in variation-selector smuggling.
pub(crate) fn variation_byte(c: char) -> Option<u8> {
    let cp = c as u32;
    match cp {
        0xFE00..=0xFE0F => u8::try_from(cp - 0xFE00).ok(),
        0xE0100..=0xE01EF => u8::try_from(cp - 0xE0100 + 16).ok(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decoded(s: &str) -> Vec<(Decoding, String)> {
        spans(s).into_iter().map(|s| (s.decoding, s.text)).collect()
    }

    #[test]
    fn base64_hex_and_url_spans_decode() {
        assert_eq!(
            decoded("x c2VjcmV0IGNhbmFyeQ== y"),
            vec![(Decoding::Base64, "secret canary".into())]
        );
        assert_eq!(
            decoded("73656372657420636f6465"),
            vec![(Decoding::Hex, "secret code".into())]
        );
        assert_eq!(
            decoded("see https://x.test/?q=a%40b.example%2Fc"),
            vec![(Decoding::Url, "https://x.test/?q=a@b.example/c".into())]
        );
    }

    #[test]
    fn url_spans_are_found_only_around_escapes() {
        let s = "99.5% of a%20b, then\tx%2Fy%41 and 100%\nend%7e z";
        let got: Vec<(usize, usize)> = spans(s).iter().map(|s| (s.start, s.end)).collect();
        let want: Vec<(usize, usize)> = URL
            .find_iter(s)
            .filter(|m| {
                as_text(percent_encoding::percent_decode_str(m.as_str()).collect()).is_some()
            })
            .map(|m| (m.start(), m.end()))
            .collect();
        assert_eq!(got, want);
        assert_eq!(got.len(), 3);
    }

    #[test]
    fn binary_and_words_are_not_spans() {
        // A SHA-256 digest decodes to bytes, not text; long words are not base64.
        assert!(
            decoded("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855").is_empty()
        );
        assert!(decoded("internationalization state-of-the-art").is_empty());
    }

    #[test]
    fn rot13_round_trips() {
        assert_eq!(rot13("Uryyb, jbeyq! é"), "Hello, world! é");
    }

    #[test]
    fn tag_characters_and_variation_selectors_hide_text() {
        let tags: String = "hi"
            .chars()
            .map(|c| char::from_u32(0xE0000 + c as u32).unwrap())
            .collect();
        let s = format!("ok{tags}.");
        let h = hidden(&s);
        assert_eq!(h[0].decoding, Decoding::UnicodeTags);
        assert_eq!(h[0].text, "hi");
        // "A" = 0x41 → VS17 + 0x41 - 16
        let vs: String = [0x41u32, 0x42]
            .iter()
            .map(|b| char::from_u32(0xE0100 + b - 16).unwrap())
            .collect();
        let h = hidden(&format!("😀{vs}"));
        assert_eq!(
            (h[0].decoding, h[0].text.as_str()),
            (Decoding::VariationSelectors, "AB")
        );
        // One variation selector after an emoji is ordinary.
        assert!(hidden("❤\u{FE0F}").is_empty());
    }
}

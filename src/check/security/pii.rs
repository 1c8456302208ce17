//! `no_pii`: e-mail addresses, phone numbers, payment cards (Luhn-valid),
//! US SSNs (valid area, group and serial), IBANs (mod-97 valid), IP addresses.

use std::net::{Ipv4Addr, Ipv6Addr};
use std::sync::LazyLock;

use regex::{Regex, RegexSet};

use super::{names, options, pattern, scan, verdict, Detector, Hit};
use crate::check::{Eval, EvalCtx, SyncCheck};
use crate::syntax::decode::Ctx;
use crate::syntax::node::Node;

/// The kinds `no_pii` knows, as written in `kinds:`.
pub(crate) const KINDS: &[&str] = &["email", "phone", "card", "ssn", "iban", "ip"];

static EMAIL: LazyLock<Regex> = LazyLock::new(|| {
    pattern(
        r"\b[A-Za-z0-9][A-Za-z0-9._%+-]*@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*\.[A-Za-z]{2,24}\b",
    )
});

/// International (`+33 1 23 45 67 89`) or North American (`(415) 555-2671`,
/// `415-555-2671`, `415.555.2671`) numbers, with separators.
static PHONE: LazyLock<Regex> = LazyLock::new(|| {
    pattern(
        r"(?:\+[1-9]\d{0,2}[ .-]?(?:\(\d{1,4}\)[ .-]?)?\d{1,4}(?:[ .-]\d{2,4}){1,4}\b|(?:\B\(\d{3}\) ?|\b\d{3}[.-])\d{3}[.-]\d{4}\b)",
    )
});

/// 13 to 19 digits, optionally grouped by spaces or dashes.
static CARD: LazyLock<Regex> = LazyLock::new(|| pattern(r"\b\d(?:[ -]?\d){12,18}\b"));

static SSN: LazyLock<Regex> = LazyLock::new(|| pattern(r"\b(\d{3})([- ])(\d{2})([- ])(\d{4})\b"));

static IBAN: LazyLock<Regex> =
    LazyLock::new(|| pattern(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?\b"));

static IPV4: LazyLock<Regex> = LazyLock::new(|| pattern(r"\b\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}\b"));

static IPV6: LazyLock<Regex> =
    LazyLock::new(|| pattern(r"(?i)(?:\b|::)[0-9a-f]{0,4}(?::[0-9a-f]{0,4}){2,7}(?:\b|::)"));

/// Which of the patterns match at all, in one pass (usually none).
static ANY: LazyLock<RegexSet> = LazyLock::new(|| {
    let all = [&*EMAIL, &*PHONE, &*CARD, &*SSN, &*IBAN, &*IPV4, &*IPV6];
    RegexSet::new(all.iter().map(|r| r.as_str()))
        .unwrap_or_else(|e| panic!("built-in patterns: {e}"))
});
const EMAIL_I: usize = 0;
const PHONE_I: usize = 1;
const CARD_I: usize = 2;
const SSN_I: usize = 3;
const IBAN_I: usize = 4;
const IPV4_I: usize = 5;
const IPV6_I: usize = 6;

/// Card numbers that payment processors publish for testing.
const TEST_CARDS: &[&str] = &[
    "4111111111111111",
    "4242424242424242",
    "4000056655665556",
    "4012888888881881",
    "5555555555554444",
    "5105105105105100",
    "2223003122003222",
    "378282246310005",
    "371449635398431",
    "6011111111111117",
    "6011000990139424",
    "3056930009020004",
    "36227206271667",
    "3566002020360505",
];

/// The `no_pii` detector.
#[derive(Debug, Clone)]
pub struct Pii {
    /// Kinds looked for (all by default).
    pub kinds: Vec<&'static str>,
    /// What the app may say (its support address, its phone line), compared
    /// case-insensitively; phone, card and IBAN entries by digits and letters.
    pub allow: Vec<String>,
}

impl Default for Pii {
    fn default() -> Self {
        Pii {
            kinds: KINDS.to_vec(),
            allow: Vec::new(),
        }
    }
}

/// A value's canonical form: lowercase letters and digits for numbers,
/// lowercase for the rest.
fn canonical(kind: &str, v: &str) -> String {
    match kind {
        "phone number" | "payment card" | "IBAN" | "US SSN" => v
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .collect::<String>()
            .to_ascii_lowercase(),
        _ => v.to_lowercase(),
    }
}

pub(crate) fn luhn(digits: &str) -> bool {
    let mut sum = 0;
    for (i, b) in digits.bytes().rev().enumerate() {
        let mut d = u32::from(b - b'0');
        if i % 2 == 1 {
            d *= 2;
            if d > 9 {
                d -= 9;
            }
        }
        sum += d;
    }
    sum % 10 == 0
}

/// An issuer prefix of a real card network (Visa, Mastercard, Maestro,
/// Amex, Diners, JCB, Discover, UnionPay) with a length it issues.
fn card_network(d: &str) -> bool {
    let p2: u32 = d.get(..2).and_then(|p| p.parse().ok()).unwrap_or(0);
    let p4: u32 = d.get(..4).and_then(|p| p.parse().ok()).unwrap_or(0);
    let n = d.len();
    match p2 / 10 {
        4 => matches!(n, 13 | 16 | 19),
        5 => true,
        2 => (2221..=2720).contains(&p4) && n == 16,
        3 => match p2 {
            34 | 37 => n == 15,
            35 => n >= 16,
            30 | 36 | 38 | 39 => n >= 14,
            _ => false,
        },
        6 => matches!(p2, 60 | 62 | 63 | 64 | 65 | 67),
        _ => false,
    }
}

/// A US SSN with a valid area (not 000, 666 or 900–999), group (not 00)
/// and serial (not 0000), and not one of the numbers made public in ads.
fn valid_ssn(area: &str, group: &str, serial: &str) -> bool {
    let a: u32 = area.parse().unwrap_or(0);
    a != 0
        && a != 666
        && a < 900
        && group != "00"
        && serial != "0000"
        && !matches!(
            (area, group, serial),
            ("078", "05", "1120") | ("219", "09", "9999") | ("123", "45", "6789")
        )
}

/// ISO 13616: move the first four characters to the end, letters to
/// numbers (A = 10), the remainder mod 97 is 1.
pub(crate) fn iban_valid(iban: &str) -> bool {
    if !(15..=34).contains(&iban.len()) {
        return false;
    }
    let (head, tail) = iban.split_at(4);
    let mut rem: u32 = 0;
    for c in tail.chars().chain(head.chars()) {
        let v = match c.to_digit(36) {
            Some(v) => v,
            None => return false,
        };
        rem = if v >= 10 {
            (rem * 100 + v) % 97
        } else {
            (rem * 10 + v) % 97
        };
    }
    rem == 1
}

/// Reserved for documentation and examples (RFC 2606, RFC 6761).
fn example_domain(email: &str) -> bool {
    let domain = email.rsplit('@').next().unwrap_or("").to_ascii_lowercase();
    ["example.com", "example.org", "example.net"].contains(&domain.as_str())
        || [
            ".example",
            ".test",
            ".invalid",
            ".localhost",
            ".example.com",
            ".example.org",
            ".example.net",
        ]
        .iter()
        .any(|s| domain.ends_with(s))
}

/// Not anyone's address: unspecified, loopback, broadcast, link-local,
/// and the documentation ranges (RFC 5737, RFC 3849).
fn ip_identifies_nobody(ip: &std::net::IpAddr) -> bool {
    match ip {
        std::net::IpAddr::V4(v4) => {
            let o = v4.octets();
            v4.is_unspecified()
                || v4.is_loopback()
                || v4.is_broadcast()
                || v4.is_link_local()
                || (o[0], o[1], o[2]) == (192, 0, 2)
                || (o[0], o[1], o[2]) == (198, 51, 100)
                || (o[0], o[1], o[2]) == (203, 0, 113)
        }
        std::net::IpAddr::V6(v6) => {
            let s = v6.segments();
            v6.is_unspecified() || v6.is_loopback() || (s[0], s[1]) == (0x2001, 0xdb8)
        }
    }
}

/// Whether the match sits inside a longer dotted number (`1.2.3.4.5`,
/// `v1.2.3.4`): a version, not an address.
fn inside_dotted(text: &str, start: usize, end: usize) -> bool {
    let before = text[..start].chars().next_back();
    let mut after = text[end..].chars();
    matches!(before, Some('.' | 'v' | 'V'))
        || (after.next() == Some('.') && after.next().is_some_and(|c| c.is_ascii_digit()))
}

impl Pii {
    fn wants(&self, kind: &str) -> bool {
        self.kinds.contains(&kind)
    }

    fn push(out: &mut Vec<Hit>, start: usize, end: usize, kind: &'static str, v: &str) {
        out.push(Hit {
            start,
            end,
            kind,
            value: canonical(kind, v),
            shown: v.to_string(),
        });
    }
}

impl Detector for Pii {
    fn name(&self) -> &'static str {
        "no_pii"
    }

    fn noun(&self) -> (&'static str, &'static str) {
        ("piece of personal data", "pieces of personal data")
    }

    /// A rot13'd address or number is still address-shaped (and found as
    /// it is), while an allowed or example address would not be once rotated.
    fn rot13(&self) -> bool {
        false
    }

    fn detect(&self, text: &str, out: &mut Vec<Hit>) {
        let first = out.len();
        let taken = |out: &Vec<Hit>, s: usize, e: usize| {
            out[first..].iter().any(|h| h.start < e && s < h.end)
        };
        let any = ANY.matches(text);
        if !any.matched_any() {
            return;
        }
        if self.wants("email") && any.matched(EMAIL_I) {
            for m in EMAIL.find_iter(text) {
                if !example_domain(m.as_str()) {
                    Self::push(out, m.start(), m.end(), "e-mail address", m.as_str());
                }
            }
        }
        if self.wants("iban") && any.matched(IBAN_I) {
            for m in IBAN.find_iter(text) {
                let compact: String = m.as_str().chars().filter(|c| *c != ' ').collect();
                if iban_valid(&compact) {
                    Self::push(out, m.start(), m.end(), "IBAN", m.as_str());
                }
            }
        }
        if self.wants("card") && any.matched(CARD_I) {
            for m in CARD.find_iter(text) {
                let digits: String = m.as_str().chars().filter(char::is_ascii_digit).collect();
                if luhn(&digits)
                    && card_network(&digits)
                    && !TEST_CARDS.contains(&digits.as_str())
                    && !taken(out, m.start(), m.end())
                {
                    Self::push(out, m.start(), m.end(), "payment card", m.as_str());
                }
            }
        }
        if self.wants("ssn") && any.matched(SSN_I) {
            for c in SSN.captures_iter(text) {
                let (Some(m), Some(a), Some(s1), Some(g), Some(s2), Some(s)) =
                    (c.get(0), c.get(1), c.get(2), c.get(3), c.get(4), c.get(5))
                else {
                    continue;
                };
                if s1.as_str() == s2.as_str()
                    && valid_ssn(a.as_str(), g.as_str(), s.as_str())
                    && !taken(out, m.start(), m.end())
                {
                    Self::push(out, m.start(), m.end(), "US SSN", m.as_str());
                }
            }
        }
        if self.wants("ip") && any.matched(IPV4_I) {
            for m in IPV4.find_iter(text) {
                let Ok(ip) = m.as_str().parse::<Ipv4Addr>() else {
                    continue;
                };
                if !ip_identifies_nobody(&ip.into()) && !inside_dotted(text, m.start(), m.end()) {
                    Self::push(out, m.start(), m.end(), "IP address", m.as_str());
                }
            }
        }
        if self.wants("ip") && any.matched(IPV6_I) {
            for m in IPV6.find_iter(text) {
                let s = m.as_str();
                let Ok(ip) = s.parse::<Ipv6Addr>() else {
                    continue;
                };
                if !ip_identifies_nobody(&ip.into()) && s.matches(':').count() >= 3 {
                    Self::push(out, m.start(), m.end(), "IP address", s);
                }
            }
        }
        if self.wants("phone") && any.matched(PHONE_I) {
            for m in PHONE.find_iter(text) {
                let digits = m.as_str().chars().filter(char::is_ascii_digit).count();
                let fictional = m.as_str().contains("555-01") || m.as_str().contains("555.01");
                if (8..=15).contains(&digits) && !fictional && !taken(out, m.start(), m.end()) {
                    Self::push(out, m.start(), m.end(), "phone number", m.as_str());
                }
            }
        }
    }

    fn allowed(&self, hit: &Hit) -> bool {
        self.allow
            .iter()
            .any(|a| canonical(hit.kind, a) == hit.value)
    }
}

/// The `no_pii` check: `- no_pii` or `no_pii: {allow: [...], kinds: [...]}`.
#[derive(Debug)]
pub(crate) struct PiiCheck(pub(crate) Pii);

impl PiiCheck {
    pub(crate) fn parse(ctx: &mut Ctx<'_>, node: &Node) -> Option<Self> {
        let fields = options(ctx, node, "no_pii", OPTIONS)?;
        let allow = super::allow_list(ctx, fields.as_ref())?;
        let kinds = match fields.as_ref().and_then(|f| f.get("kinds")) {
            Some(n) => names(ctx, n, "`no_pii` kind", KINDS)?,
            None => KINDS.to_vec(),
        };
        Some(PiiCheck(Pii { kinds, allow }))
    }
}

impl SyncCheck for PiiCheck {
    fn verdict(&self, ctx: &EvalCtx<'_>) -> Eval {
        verdict(&self.0, &scan(&self.0, ctx.output))
    }
}

/// The options of `no_pii:`'s mapping form.
pub(crate) const OPTIONS: &[&str] = &["allow", "kinds"];

#[cfg(test)]
mod tests {
    use super::super::testutil::{explain, kinds, run};
    use super::*;

    fn found(s: &str) -> Vec<&'static str> {
        kinds(&Pii::default(), s)
    }

    #[test]
    fn personal_data_is_found() {
        let cases = [
            ("write to jane.doe@gmail.com today", "e-mail address"),
            ("call +33 6 12 34 56 78", "phone number"),
            ("call (415) 867-5309 now", "phone number"),
            ("card 4539 1488 0343 6467 exp 12/27", "payment card"),
            ("SSN 123-45-6780", "US SSN"),
            ("IBAN DE44 5001 0517 5407 3249 31", "IBAN"),
            ("from 81.2.69.142 yesterday", "IP address"),
            ("host 2a00:1450:4007:80e::200e", "IP address"),
        ];
        for (text, kind) in cases {
            assert_eq!(found(text), vec![kind], "{text}");
        }
    }

    #[test]
    fn validators_reject_lookalikes() {
        for text in [
            "card 4539 1488 0343 6468",      // Luhn-invalid
            "test card 4242 4242 4242 4242", // a processor's test number
            "SSN 000-12-3456 or 666-12-3456 or 912-34-5678 or 123-00-4567 or 123-45-0000",
            "IBAN DE44 5001 0517 5407 3249 32", // mod-97 invalid
            "write to someone@example.com or a@b.test",
            "listen on 0.0.0.0 or 127.0.0.1, docs use 192.0.2.10",
            "call 555-0123 or (555) 555-0199",
        ] {
            assert!(found(text).is_empty(), "{text}: {:?}", found(text));
        }
    }

    #[test]
    fn ordinary_prose_with_numbers_is_not_pii() {
        for text in [
            "Version 1.2.3.4.5 was released on 2024-05-01 at 10:30:00.",
            "Python 3.12.1 and v10.0.0.1 are out; ISO 8601 dates like 2023-11-02T08:15:00Z.",
            "The population is 67,390,000 and the GDP grew 2.5% in 2023.",
            "Order #1234567890123 ships in 3-5 days; call it step 12-34-5678.",
            "MAC 00:1a:2b:3c:4d:5e, time 12:30:45, ratio 16:9.",
            "Chapter 3, pages 120-134; ISBN 978-3-16-148410-0.",
        ] {
            assert!(found(text).is_empty(), "{text}: {:?}", found(text));
        }
    }

    #[test]
    fn allow_and_kinds() {
        let out = "Contact support@acme.com or +1 415 867 5309.";
        assert!(!run("- no_pii\n", out).passed);
        assert!(
            run(
                "- no_pii: {allow: [SUPPORT@acme.com, \"+1 (415) 867-5309\"]}\n",
                out
            )
            .passed
        );
        assert!(run("- no_pii: {kinds: [card, ssn]}\n", out).passed);
        let errs = crate::check::testutil::errors("- no_pii: {kinds: [emial]}\n");
        assert_eq!(errs, vec!["unknown `no_pii` kind `emial`"]);
    }

    #[test]
    fn encoded_pii_is_found() {
        let s = scan(
            &Pii::default(),
            "see https://t.test/?u=jane.doe%40gmail.com",
        );
        // The plain text has no @: only the URL-decoded span shows the address.
        assert_eq!(s.findings.len(), 1, "{:?}", s.findings);
        assert_eq!(s.findings[0].decodings(), "URL");
    }

    #[test]
    fn explanation() {
        insta::assert_snapshot!(explain(
            "- no_pii: {allow: [support@acme.com]}\n",
            "Reach support@acme.com. The customer is jane.doe@gmail.com,\ncard 4539-1488-0343-6467, SSN 123-45-6780."
        ));
    }
}

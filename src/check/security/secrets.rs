//! `no_secrets`: API keys and tokens by provider format, PEM private keys,
//! JWTs and generic high-entropy key assignments.

use std::sync::LazyLock;

use base64::Engine;
use regex::Regex;

use super::{
    entropy, keyword_before_separator, options, pattern, scan, verdict, Detector, Hit,
    RotatedLiterals,
};
use crate::check::{Eval, EvalCtx, SyncCheck};
use crate::syntax::decode::Ctx;
use crate::syntax::node::Node;

/// Provider formats: what it is, and its pattern (group 1, when present, is
/// the secret itself).
const FORMATS: &[(&str, &str)] = &[
    (
        "Anthropic API key",
        r"\bsk-ant-[a-z]{2,8}\d{2}-[A-Za-z0-9_-]{32,}",
    ),
    (
        "OpenAI API key",
        r"\bsk-(?:(?:proj|svcacct|admin)-[A-Za-z0-9_-]{20,}|[A-Za-z0-9]{48}\b)",
    ),
    (
        "AWS access key ID",
        r"\b(?:AKIA|ASIA|ABIA|ACCA|A3T[A-Z0-9])[A-Z0-9]{16}\b",
    ),
    (
        "AWS secret access key",
        r#"(?i)secret_?\s?access_?\s?key["'`]?\s*(?:[:=]|=>|\bis\b)?\s*["'`]?([A-Za-z0-9/+]{40})(?:[^A-Za-z0-9/+=]|$)"#,
    ),
    (
        "GitHub token",
        r"\b(?:(?:ghp|gho|ghu|ghs|ghr)_[A-Za-z0-9]{36}\b|github_pat_[A-Za-z0-9]{22}_[A-Za-z0-9]{59}\b)",
    ),
    (
        "GitLab token",
        r"\bgl(?:pat|dt|rt|ptt|cbt|oas|soat|ffct|imt)-[A-Za-z0-9_-]{20,}",
    ),
    ("Slack token", r"\bxox[abposre]-[A-Za-z0-9-]{10,}"),
    (
        "Slack webhook URL",
        r"https://hooks\.slack\.com/services/T[A-Z0-9]+/B[A-Z0-9]+/[A-Za-z0-9]{16,}",
    ),
    (
        "Stripe secret key",
        r"\b(?:(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{20,}|whsec_[A-Za-z0-9]{24,})\b",
    ),
    ("Google API key", r"\bAIza[0-9A-Za-z_-]{35}"),
    (
        "Google OAuth secret",
        r"\b(?:GOCSPX-[A-Za-z0-9_-]{28}|ya29\.[0-9A-Za-z_-]{30,})",
    ),
    ("Hugging Face token", r"\b(?:hf|api_org)_[A-Za-z0-9]{34}\b"),
    (
        "JSON Web Token",
        r"\beyJ[A-Za-z0-9_-]{10,}\.eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}",
    ),
    (
        "PEM private key",
        r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----\s+(?:[A-Za-z-]+:[^\n]*\n\s*)*[A-Za-z0-9+/=]{40,}",
    ),
];

/// Every prefix format in one alternation (one pass over the text, with a
/// prefilter on the prefixes), and the kind of each group. The AWS secret,
/// which has no prefix, is matched on its own.
pub(crate) static ANY: LazyLock<(Regex, Vec<&'static str>)> = LazyLock::new(|| {
    let prefixed: Vec<&(&str, &str)> = FORMATS.iter().filter(|(k, _)| *k != AWS_SECRET).collect();
    let alternatives: Vec<String> = prefixed.iter().map(|(_, p)| format!("({p})")).collect();
    (
        pattern(&alternatives.join("|")),
        prefixed.iter().map(|(k, _)| *k).collect(),
    )
});

const AWS_SECRET: &str = "AWS secret access key";

/// Keywords the AWS secret and the generic assignment need before a `:` or `=`.
const KEYWORDS: &[&[u8]] = &[
    b"key",
    b"secret",
    b"token",
    b"passw",
    b"auth",
    b"credential",
];

/// What every match of [`ANY`] starts with, for the rot13 prefilter.
const PREFIXES: &[&str] = &[
    "sk-",
    "AKIA",
    "ASIA",
    "ABIA",
    "ACCA",
    "A3T",
    "ghp_",
    "gho_",
    "ghu_",
    "ghs_",
    "ghr_",
    "github_pat_",
    "glpat-",
    "gldt-",
    "glrt-",
    "glptt-",
    "glcbt-",
    "gloas-",
    "glsoat-",
    "glffct-",
    "glimt-",
    "xox",
    "https://hooks.slack.com/",
    "sk_live_",
    "sk_test_",
    "rk_live_",
    "rk_test_",
    "whsec_",
    "AIza",
    "GOCSPX-",
    "ya29.",
    "hf_",
    "api_org_",
    "eyJ",
    "-----BEGIN ",
];

static ROT_PREFIXES: LazyLock<Option<RotatedLiterals>> =
    LazyLock::new(|| RotatedLiterals::new(PREFIXES, false));

/// [`KEYWORDS`] rot13'd.
static ROT_KEYWORDS: LazyLock<Vec<Vec<u8>>> = LazyLock::new(|| {
    KEYWORDS
        .iter()
        .map(|k| super::decode::rot13(&String::from_utf8_lossy(k)).into_bytes())
        .collect()
});

pub(crate) static COMPILED: LazyLock<Vec<(&'static str, Regex)>> = LazyLock::new(|| {
    FORMATS
        .iter()
        .map(|(kind, p)| (*kind, pattern(p)))
        .collect()
});

/// `api_key = "…"`, `SECRET: …`, `password => …` with a long, random value.
const ASSIGNMENT_PATTERN: &str = r#"(?i)(?:api[_.-]?key|apikey|secret|token|passw(?:or)?d|passwd|access[_.-]?key|private[_.-]?key|credentials?|auth)[a-z0-9_-]*["'`]?\s*(?:[:=]|:=|=>)\s*["'`]?([A-Za-z0-9_\-+/=~]{16,})"#;

pub(crate) static ASSIGNMENT: LazyLock<Regex> = LazyLock::new(|| pattern(ASSIGNMENT_PATTERN));

/// Keys that vendors publish in their documentation: not secrets.
const DOCUMENTED: &[&str] = &[
    "AKIAIOSFODNN7EXAMPLE",
    "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c",
    "sk_test_4eC39HqLyjWDarjtT1zdp7dc",
    "sk_test_BQokikJOvBiI2HlWgH4olfQ2",
    "sk_test_26PHem9AhJZvU623DfE1x4sd",
];

/// Words that make an assigned value a placeholder, not a secret.
const PLACEHOLDERS: &[&str] = &[
    "your",
    "example",
    "sample",
    "placeholder",
    "changeme",
    "dummy",
    "redacted",
    "xxxx",
    "insert",
    "replace",
    "secret_here",
    "here",
];

/// The `no_secrets` detector.
#[derive(Debug, Clone, Default)]
pub struct Secrets {
    /// Values the app may show (e.g. a public demo key).
    pub allow: Vec<String>,
}

impl Secrets {
    pub fn new(allow: Vec<String>) -> Self {
        Secrets { allow }
    }
}

/// A documented example or an obvious placeholder (`EXAMPLE` in it, or a
/// handful of distinct characters after the prefix, as in `sk-xxxx…`).
pub(crate) fn is_example(value: &str) -> bool {
    if DOCUMENTED.contains(&value) || value.contains("EXAMPLE") {
        return true;
    }
    let body = value
        .rsplit(['-', '_'])
        .next()
        .filter(|b| b.len() >= 8)
        .unwrap_or(value);
    let mut distinct: Vec<char> = body.chars().collect();
    distinct.sort_unstable();
    distinct.dedup();
    distinct.len() < 6
}

/// `sk-pro…4f2Q (51 chars)`.
pub(crate) fn mask(s: &str) -> String {
    let n = s.chars().count();
    if n <= 12 {
        let head: String = s.chars().take(3).collect();
        return format!("{head}… ({n} chars)");
    }
    let head: String = s.chars().take(6).collect();
    let tail: String = s.chars().skip(n - 4).collect();
    format!("{head}…{tail} ({n} chars)")
}

fn is_jwt(token: &str) -> bool {
    let header = token.split('.').next().unwrap_or("");
    let engine = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    engine
        .decode(header.trim_end_matches('='))
        .ok()
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
        .is_some_and(|v| v.get("alg").is_some())
}

fn generic_value_ok(v: &str) -> bool {
    let lower = v.to_ascii_lowercase();
    v.bytes().any(|b| b.is_ascii_digit())
        && v.bytes().any(|b| b.is_ascii_alphabetic())
        && !PLACEHOLDERS.iter().any(|p| lower.contains(p))
        && entropy(v) >= 3.3
}

impl Detector for Secrets {
    fn name(&self) -> &'static str {
        "no_secrets"
    }

    fn noun(&self) -> (&'static str, &'static str) {
        ("secret", "secrets")
    }

    fn detect(&self, text: &str, out: &mut Vec<Hit>) {
        let first = out.len();
        let assigns = keyword_before_separator(text, KEYWORDS, 48);
        let push = |kind: &'static str, m: regex::Match<'_>, out: &mut Vec<Hit>| {
            if kind == "JSON Web Token" && !is_jwt(m.as_str()) {
                return;
            }
            let value = m.as_str().to_string();
            let shown = if kind == "PEM private key" {
                let header = value.lines().next().unwrap_or("").to_string();
                format!("{header} ({} chars)", value.chars().count())
            } else {
                mask(&value)
            };
            out.push(Hit {
                start: m.start(),
                end: m.end(),
                kind,
                value,
                shown,
            });
        };
        let (any, kinds) = &*ANY;
        for caps in any.captures_iter(text) {
            let found = (0..kinds.len()).find_map(|i| caps.get(i + 1).map(|m| (kinds[i], m)));
            if let Some((kind, m)) = found {
                push(kind, m, out);
            }
        }
        if !assigns {
            return;
        }
        if let Some((_, re)) = COMPILED.iter().find(|(k, _)| *k == AWS_SECRET) {
            for caps in re.captures_iter(text) {
                if let Some(m) = caps.get(1) {
                    push(AWS_SECRET, m, out);
                }
            }
        }
        for caps in ASSIGNMENT.captures_iter(text) {
            let Some(m) = caps.get(1) else { continue };
            let overlaps = out[first..]
                .iter()
                .any(|h| h.start < m.end() && m.start() < h.end);
            if overlaps || !generic_value_ok(m.as_str()) {
                continue;
            }
            out.push(Hit {
                start: m.start(),
                end: m.end(),
                kind: "high-entropy key assignment",
                value: m.as_str().to_string(),
                shown: mask(m.as_str()),
            });
        }
    }

    fn allowed(&self, hit: &Hit) -> bool {
        is_example(&hit.value) || self.allow.iter().any(|a| a == &hit.value)
    }

    /// A prefix format's prefix, or a keyword before a `:` or `=` (which the
    /// other two patterns need), rotated in the text.
    fn rot13_could_match(&self, text: &str) -> bool {
        let keywords: Vec<&[u8]> = ROT_KEYWORDS.iter().map(Vec::as_slice).collect();
        ROT_PREFIXES.as_ref().is_none_or(|p| p.in_rot13_of(text))
            || keyword_before_separator(text, &keywords, 48)
    }
}

/// The `no_secrets` check: `- no_secrets` or `no_secrets: {allow: [...]}`.
#[derive(Debug)]
pub(crate) struct SecretsCheck(pub(crate) Secrets);

impl SecretsCheck {
    pub(crate) fn parse(ctx: &mut Ctx<'_>, node: &Node) -> Option<Self> {
        let fields = options(ctx, node, "no_secrets", OPTIONS)?;
        let allow = super::allow_list(ctx, fields.as_ref())?;
        Some(SecretsCheck(Secrets::new(allow)))
    }
}

impl SyncCheck for SecretsCheck {
    fn verdict(&self, ctx: &EvalCtx<'_>) -> Eval {
        verdict(&self.0, &scan(&self.0, ctx.output))
    }
}

/// The options of `no_secrets:`'s mapping form.
pub(crate) const OPTIONS: &[&str] = &["allow"];

#[cfg(test)]
mod tests {
    use super::super::testutil::{explain, kinds, run};
    use super::*;

    fn found(s: &str) -> Vec<&'static str> {
        kinds(&Secrets::default(), s)
    }

    const OPENAI: &str = "sk-proj-4fJ8kQ2mZx9LpR7wT3vY6bN1cH5sD0aE8gK2jM4nP7qU";
    const ANTHROPIC: &str =
        "sk-ant-api03-Xk29fLq8ZmP3vR7tY1wB6nC4hJ0sD5gE9aK2uM8oQ3iT7lV1xN6bF4rW0yH5zA";
    const GITHUB: &str = "ghp_R8kLm2Qx7vT4zP9wB1nC6hJ3sD5gF0aE2yU8";

    #[test]
    fn provider_formats_are_found() {
        let cases = [
            (OPENAI, "OpenAI API key"),
            (ANTHROPIC, "Anthropic API key"),
            ("AKIAZ7Q4KJ3MXW2VPL5N", "AWS access key ID"),
            (GITHUB, "GitHub token"),
            ("glpat-Zx8Kq2Lm9Rt4Vw7Yb3Nc", "GitLab token"),
            ("xoxb-2817364510-9182736450123-Kq8Lm2Rt9Vw4", "Slack token"),
            ("sk_live_51Hq8Kz2Lm9Rt4Vw7Yb3NcXp", "Stripe secret key"),
            ("AIzaSyB8kQ2mZx9LpR7wT3vY6bN1cH5sD0aE8gK", "Google API key"),
            (
                "hf_Zx8Kq2Lm9Rt4Vw7Yb3NcPd6Fg1Hj5Ks0Ta",
                "Hugging Face token",
            ),
        ];
        for (secret, kind) in cases {
            assert_eq!(found(&format!("here: {secret} ok")), vec![kind], "{secret}");
        }
    }

    #[test]
    fn aws_secret_jwt_and_pem_are_found() {
        assert_eq!(
            found("aws_secret_access_key = Zk8Lq2Rm9Tv4Wx7Yb3Nc6Pd1Fg5Hj0Ks8aT2uV4w"),
            vec!["AWS secret access key"]
        );
        let jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhbGljZSIsInJvbGUiOiJhZG1pbiJ9.Xk29fLq8ZmP3vR7tY1wB6nC4hJ0sD5gE9aK2uM8oQ3i";
        assert_eq!(found(jwt), vec!["JSON Web Token"]);
        let pem = "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo4lgOEePzNm0tRgeLezV6ffAt0gun\n-----END RSA PRIVATE KEY-----";
        assert_eq!(found(pem), vec!["PEM private key"]);
    }

    #[test]
    fn generic_assignments_need_entropy() {
        assert_eq!(
            found("config: api_key = \"q8Zk2Lm9Rt4Vw7Yb3NcX\""),
            vec!["high-entropy key assignment"]
        );
        assert!(found("api_key = \"your_api_key_here_1234\"").is_empty());
        assert!(found("token: 1111111111111111111").is_empty());
        assert!(found("password: correcthorsebatterystaple").is_empty());
    }

    #[test]
    fn encoded_secrets_are_found_with_their_decoding() {
        use base64::engine::general_purpose::STANDARD;
        let s = Secrets::default();
        let b64 = STANDARD.encode(format!("key={GITHUB}"));
        let f = scan(&s, &format!("blob: {b64}")).findings;
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].decodings(), "base64");
        let hexed = hex::encode(OPENAI);
        assert_eq!(scan(&s, &hexed).findings[0].decodings(), "hex");
        let rot = super::super::decode::rot13(GITHUB);
        assert_eq!(scan(&s, &rot).findings[0].decodings(), "rot13");
        // Split by a zero-width space: normalisation joins it again.
        let split = GITHUB.replacen("_", "_\u{200B}", 1);
        assert_eq!(scan(&s, &split).findings[0].decoding, vec![]);
    }

    #[test]
    fn every_format_is_found_rot13d() {
        let s = Secrets::default();
        for secret in [
            OPENAI,
            ANTHROPIC,
            GITHUB,
            "AKIAZ7Q4KJ3MXW2VPL5N",
            "glpat-Zx8Kq2Lm9Rt4Vw7Yb3Nc",
            "xoxb-2817364510-9182736450123-Kq8Lm2Rt9Vw4",
            "https://hooks.slack.com/services/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",
            "sk_live_51Hq8Kz2Lm9Rt4Vw7Yb3NcXp",
            "whsec_Zx8Kq2Lm9Rt4Vw7Yb3NcPd6Fg1Hj",
            "AIzaSyB8kQ2mZx9LpR7wT3vY6bN1cH5sD0aE8gK",
            "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",
            "ya29.Zx8Kq2Lm9Rt4Vw7Yb3NcPd6Fg1Hj5Ks0Ta",
            "hf_Zx8Kq2Lm9Rt4Vw7Yb3NcPd6Fg1Hj5Ks0Ta",
            "aws_secret_access_key = Zk8Lq2Rm9Tv4Wx7Yb3Nc6Pd1Fg5Hj0Ks8aT2uV4w",
            "config: api_key = \"q8Zk2Lm9Rt4Vw7Yb3NcX\"",
            "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhbGljZSIsInJvbGUiOiJhZG1pbiJ9.Xk29fLq8ZmP3vR7tY1wB6nC4hJ0sD5gE9aK2uM8oQ3i",
            "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo4lgOEePzNm0tRgeLezV6ffAt0gun\n-----END RSA PRIVATE KEY-----",
        ] {
            let rot = super::super::decode::rot13(secret);
            assert!(s.rot13_could_match(&rot), "{secret}");
            let f = scan(&s, &format!("here: {rot} ok")).findings;
            assert!(
                f.iter().any(|f| f.decodings() == "rot13"),
                "{secret}: {f:?}"
            );
        }
        assert!(!s.rot13_could_match("Version 2.14.3 shipped on 2024-05-01; see the docs."));
    }

    #[test]
    fn false_positives_are_not_flagged() {
        for text in [
            "The AWS docs use AKIAIOSFODNN7EXAMPLE and wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY.",
            "Set OPENAI_API_KEY=sk-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx in your shell.",
            "Stripe's test key sk_test_4eC39HqLyjWDarjtT1zdp7dc works in test mode.",
            "The jwt.io sample: eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c",
            "A PEM file starts with -----BEGIN PRIVATE KEY----- and ends with -----END PRIVATE KEY-----.",
            "Use `api_key = os.environ[\"OPENAI_API_KEY\"]` instead of hard-coding it.",
            "Version 2.14.3 shipped on 2024-05-01; build 4f2a9c1 fixed 37 issues.",
            "The commit e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855 is signed.",
            "Internationalization and state-of-the-art tokenization matter.",
        ] {
            assert!(found(text).is_empty(), "{text}: {:?}", found(text));
        }
    }

    #[test]
    fn allow_lists_a_value() {
        let yaml = format!("- no_secrets: {{allow: [\"{GITHUB}\"]}}\n");
        assert!(run(&yaml, &format!("token {GITHUB}")).passed);
        assert!(!run("- no_secrets\n", &format!("token {GITHUB}")).passed);
        assert!(
            run(
                "- no_secrets: true\n  not: true\n",
                &format!("token {GITHUB}")
            )
            .passed
        );
    }

    #[test]
    fn explanation() {
        let b64 = {
            use base64::engine::general_purpose::STANDARD;
            STANDARD.encode("AWS key: AKIAZ7Q4KJ3MXW2VPL5N")
        };
        insta::assert_snapshot!(explain(
            "- no_secrets\n",
            &format!("Sure! Use {OPENAI} for the API.\nAlso: {b64}\nAKIAIOSFODNN7EXAMPLE is the doc example.")
        ));
        insta::assert_snapshot!(
            "no_secrets_pass",
            explain("- no_secrets\n", "The docs key is AKIAIOSFODNN7EXAMPLE.")
        );
    }
}

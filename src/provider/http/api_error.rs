//! What an API says went wrong: a non-2xx answer as [`ProviderError::Http`]
//! (status, `Retry-After`, a short excerpt of the body, secrets redacted even
//! where the body quotes them percent-encoded), and error objects received
//! inside a stream or a successful answer, retried only when transient.

use std::time::{Duration, SystemTime};

use reqwest::header::{HeaderMap, RETRY_AFTER};
use serde_json::Value;

use super::json::compact;
use super::response::HttpResponse;
use super::transport::read_prefix;
use crate::provider::{excerpt, ProviderError};

/// How much of an error body is read before summarising it.
const MAX_ERROR_BODY_BYTES: usize = 64 << 10;

/// Characters of a body quoted in an error message.
pub(crate) const EXCERPT_CHARS: usize = 500;

/// The wait a response asks for: `retry-after-ms` (milliseconds, possibly
/// fractional) first, then `Retry-After` as delta-seconds (integer or
/// fractional) or an HTTP date (a date in the past is zero).
pub(crate) fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    if let Some(ms) = headers
        .get("retry-after-ms")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<f64>().ok())
    {
        if let Some(d) = seconds(ms / 1000.0) {
            return Some(d);
        }
    }
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(secs) = value.parse::<f64>() {
        return seconds(secs);
    }
    let when = httpdate::parse_http_date(value).ok()?;
    Some(
        when.duration_since(SystemTime::now())
            .unwrap_or(Duration::ZERO),
    )
}

fn seconds(secs: f64) -> Option<Duration> {
    if secs.is_finite() && secs >= 0.0 {
        Duration::try_from_secs_f64(secs).ok()
    } else {
        None
    }
}

/// A non-2xx response as [`ProviderError::Http`]: the status, `Retry-After`,
/// and an excerpt of the body (for JSON error bodies such as OpenAI's
/// `{"error":{"message":..}}` or Anthropic's `{"type":"error","error":{..}}`,
/// the short `type: message`), secrets redacted.
pub(crate) async fn error_from_response(resp: HttpResponse) -> ProviderError {
    let status = resp.status();
    let retry_after = retry_after(resp.headers());
    let body = match read_prefix(resp, MAX_ERROR_BODY_BYTES).await {
        Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
        Err(e) => format!("(body unreadable: {e})"),
    };
    let summary = error_summary(&body).unwrap_or(body);
    // Servers often quote the request URL, percent-encoded.
    let mut body = excerpt(&redact_encoded(&summary), EXCERPT_CHARS);
    if body.is_empty() {
        body = match status.canonical_reason() {
            Some(reason) => format!("{reason} (empty body)"),
            None => "(empty body)".to_string(),
        };
    }
    ProviderError::Http {
        status: status.as_u16(),
        body,
        retry_after,
    }
}

/// A short `type: message` for a JSON error body, if it is one.
pub(crate) fn error_summary(body: &str) -> Option<String> {
    let v: Value = serde_json::from_str(body.trim()).ok()?;
    json_error_summary(&v)
}

/// A short `type: message` for a parsed error body: `{"error": "text"}`,
/// `{"error": {"type"|"code": .., "message": ..}}`, `{"message": ..}` or
/// `{"detail": "text"}`.
pub(crate) fn json_error_summary(v: &Value) -> Option<String> {
    fn kind_and_message(o: &Value) -> Option<String> {
        let message = o.get("message").and_then(Value::as_str)?;
        let kind = ["type", "code"]
            .iter()
            .filter_map(|k| o.get(*k))
            .find_map(|k| match k {
                Value::String(s) if !s.is_empty() && s != "error" => Some(s.clone()),
                Value::Number(n) => Some(n.to_string()),
                _ => None,
            });
        Some(match kind {
            Some(kind) => format!("{kind}: {message}"),
            None => message.to_string(),
        })
    }
    match v.get("error") {
        Some(Value::String(s)) => return Some(s.clone()),
        Some(e @ Value::Object(_)) => {
            if let Some(s) = kind_and_message(e) {
                return Some(s);
            }
        }
        _ => {}
    }
    if let Some(s) = kind_and_message(v) {
        return Some(s);
    }
    v.get("detail").and_then(Value::as_str).map(str::to_string)
}

/// An `error` object received inside a stream (an OpenAI error chunk, an
/// Anthropic `error` event, an `http` provider's `error` event). Transient
/// errors ([`is_transient_error`]) are [`ProviderError::Stream`] (retried);
/// anything else is [`ProviderError::Provider`].
pub(crate) fn stream_error(error: &Value) -> ProviderError {
    let msg = error_object_text(error);
    if is_transient_error(error) {
        ProviderError::Stream(format!("error event: {msg}"))
    } else {
        ProviderError::Provider(format!("error in stream: {msg}"))
    }
}

/// An `error` object in a successful (2xx), non-streamed answer (vLLM and
/// LiteLLM answer 200 with `{"error":{"type":"server_error","code":503}}`),
/// classified like [`stream_error`]. A transient error is a retryable
/// [`ProviderError::Http`] with the status the object states (`code` or
/// `status`, when it is a retryable HTTP status), else 502 (a gateway
/// relaying an upstream failure), its body noting the error came in a
/// successful response; anything else is [`ProviderError::Provider`].
pub(crate) fn response_error(error: &Value) -> ProviderError {
    let msg = error_object_text(error);
    if is_transient_error(error) {
        let status = ["code", "status"]
            .iter()
            .filter_map(|k| error.get(*k))
            .filter_map(|v| match v {
                Value::Number(n) => n.as_u64(),
                Value::String(s) => s.trim().parse().ok(),
                _ => None,
            })
            .find(|n| is_retryable_status(*n))
            .and_then(|n| u16::try_from(n).ok())
            .unwrap_or(502);
        ProviderError::Http {
            status,
            body: format!("{msg} (error object in a successful response)"),
            retry_after: None,
        }
    } else {
        ProviderError::Provider(format!("error in response: {msg}"))
    }
}

/// `type: message` of an error object (a string as is), an excerpt,
/// secrets redacted.
fn error_object_text(error: &Value) -> String {
    let wrapped = serde_json::json!({ "error": error });
    let summary = json_error_summary(&wrapped).unwrap_or_else(|| compact(error));
    excerpt(&summary, EXCERPT_CHARS)
}

/// Whether an error object reports a transient failure, worth another try:
/// its `type`, `code` or `status` names an overload, rate-limit, server or
/// timeout error, or is an HTTP status that is retried (408, 429, 5xx).
pub(crate) fn is_transient_error(error: &Value) -> bool {
    let transient_kind = |s: &str| {
        matches!(
            s,
            "overloaded_error"
                | "overloaded"
                | "api_error"
                | "server_error"
                | "internal_error"
                | "internal_server_error"
                | "rate_limit_error"
                | "rate_limit_exceeded"
                | "timeout_error"
                | "service_unavailable"
        )
    };
    ["type", "code", "status"]
        .iter()
        .filter_map(|k| error.get(*k))
        .any(|v| match v {
            Value::String(s) => {
                transient_kind(s) || s.trim().parse::<u64>().is_ok_and(is_retryable_status)
            }
            Value::Number(n) => n.as_u64().is_some_and(is_retryable_status),
            _ => false,
        })
}

/// HTTP statuses an error object may state that are worth another try.
fn is_retryable_status(n: u64) -> bool {
    n == 408 || n == 429 || (500..=599).contains(&n)
}

/// `text` with secrets redacted, also where it quotes them percent-encoded
/// (a server echoing the request URL). Encoded text holds no whitespace, so
/// each whitespace-separated word is decoded (`%XX`, then also `+` as a
/// space); a word whose decoded form shows a secret is replaced by that
/// form, redacted. Other words are kept as they are.
pub(crate) fn redact_encoded(text: &str) -> String {
    let plain = crate::secret::redact(text);
    if !crate::secret::any() || !(plain.contains('%') || plain.contains('+')) {
        return plain;
    }
    let mut out = String::with_capacity(plain.len());
    for piece in plain.split_inclusive(char::is_whitespace) {
        let word = piece.trim_end_matches(char::is_whitespace);
        let space = &piece[word.len()..];
        let revealed = if word.contains('%') || word.contains('+') {
            [false, true].into_iter().find_map(|plus_is_space| {
                let decoded = percent_decode(word, plus_is_space);
                let redacted = crate::secret::redact(&decoded);
                (redacted != decoded).then_some(redacted)
            })
        } else {
            None
        };
        out.push_str(revealed.as_deref().unwrap_or(word));
        out.push_str(space);
    }
    out
}

/// `%XX` sequences decoded (invalid UTF-8 replaced), optionally `+` as a space.
fn percent_decode(text: &str, plus_is_space: bool) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push((h * 16 + l) as u8);
                    i += 3;
                    continue;
                }
                _ => out.push(b'%'),
            },
            b'+' if plus_is_space => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::{HeaderName, HeaderValue};

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.insert(
                HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        map
    }

    #[test]
    fn retry_after_ms_first_and_fractional() {
        let h = headers(&[("retry-after-ms", "1500.5"), ("retry-after", "30")]);
        assert_eq!(retry_after(&h), Some(Duration::from_micros(1_500_500)));
        let h = headers(&[("retry-after-ms", "nonsense"), ("retry-after", "2")]);
        assert_eq!(retry_after(&h), Some(Duration::from_secs(2)));
        let h = headers(&[("retry-after-ms", "-5")]);
        assert_eq!(retry_after(&h), None);
    }

    #[test]
    fn retry_after_seconds_integer_and_fractional() {
        assert_eq!(
            retry_after(&headers(&[("retry-after", "7")])),
            Some(Duration::from_secs(7))
        );
        assert_eq!(
            retry_after(&headers(&[("retry-after", " 0.25 ")])),
            Some(Duration::from_millis(250))
        );
        assert_eq!(retry_after(&headers(&[("retry-after", "soon")])), None);
        assert_eq!(retry_after(&headers(&[("retry-after", "-1")])), None);
        assert_eq!(retry_after(&headers(&[("retry-after", "1e400")])), None);
        assert_eq!(retry_after(&HeaderMap::new()), None);
    }

    #[test]
    fn retry_after_http_date_future_and_past() {
        let future = httpdate::fmt_http_date(SystemTime::now() + Duration::from_secs(30));
        let d = retry_after(&headers(&[("retry-after", &future)])).unwrap();
        assert!(
            d > Duration::from_secs(28) && d <= Duration::from_secs(30),
            "{d:?}"
        );
        let past = "Wed, 21 Oct 2015 07:28:00 GMT";
        assert_eq!(
            retry_after(&headers(&[("retry-after", past)])),
            Some(Duration::ZERO)
        );
    }

    #[test]
    fn error_summaries_of_known_shapes() {
        assert_eq!(
            error_summary(
                r#"{"error":{"message":"Bad model","type":"invalid_request_error","code":null}}"#
            )
            .as_deref(),
            Some("invalid_request_error: Bad model")
        );
        assert_eq!(
            error_summary(
                r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#
            )
            .as_deref(),
            Some("overloaded_error: Overloaded")
        );
        assert_eq!(
            error_summary(r#"{"error":"nope"}"#).as_deref(),
            Some("nope")
        );
        assert_eq!(
            error_summary(r#"{"detail":"Not Found"}"#).as_deref(),
            Some("Not Found")
        );
        assert_eq!(error_summary("<html>oops</html>"), None);
    }

    #[test]
    fn stream_errors_are_retryable_only_for_transient_kinds() {
        let e =
            stream_error(&serde_json::json!({"type":"overloaded_error","message":"Overloaded"}));
        assert!(
            matches!(e, ProviderError::Stream(_)) && e.retryable(),
            "{e}"
        );
        let e = stream_error(&serde_json::json!({"type":"invalid_request_error","message":"bad"}));
        assert!(matches!(e, ProviderError::Provider(_)), "{e}");
        assert!(e.to_string().contains("invalid_request_error: bad"), "{e}");
    }

    #[test]
    fn error_objects_in_successful_responses_are_classified_like_stream_errors() {
        // LiteLLM and vLLM answer 200 with the status they meant in `code`.
        let e = response_error(&serde_json::json!({
            "type": "server_error", "code": 503, "message": "Service Unavailable"
        }));
        assert!(e.retryable(), "{e}");
        assert!(matches!(e, ProviderError::Http { status: 503, .. }), "{e}");
        assert_eq!(
            e.to_string(),
            "HTTP 503: server_error: Service Unavailable (error object in a successful response)"
        );
        let e = response_error(&serde_json::json!({"code": "429", "message": "slow down"}));
        assert!(matches!(e, ProviderError::Http { status: 429, .. }), "{e}");
        // A transient kind without a status: 502.
        let e = response_error(&serde_json::json!({"type": "overloaded_error", "message": "Busy"}));
        assert!(matches!(e, ProviderError::Http { status: 502, .. }), "{e}");
        assert!(e.retryable());
        // Anything else is final, as in a stream.
        for err in [
            serde_json::json!({"type": "invalid_request_error", "message": "bad", "code": 400}),
            serde_json::json!("plain text"),
            serde_json::json!({"message": "no kind"}),
        ] {
            let e = response_error(&err);
            assert!(matches!(e, ProviderError::Provider(_)), "{e}");
            assert!(e.to_string().contains("error in response: "), "{e}");
            assert_eq!(
                e.retryable(),
                stream_error(&err).retryable(),
                "{err} is classified alike"
            );
        }
        for err in [
            serde_json::json!({"type": "server_error", "code": 503, "message": "x"}),
            serde_json::json!({"status": 500, "message": "x"}),
            serde_json::json!({"type": "rate_limit_exceeded", "message": "x"}),
        ] {
            assert!(response_error(&err).retryable(), "{err}");
            assert!(stream_error(&err).retryable(), "{err}");
        }
    }

    #[test]
    fn redact_encoded_decodes_only_to_find_secrets() {
        let secret = "redact encoded 5Vb1";
        crate::secret::register(secret);
        assert_eq!(
            redact_encoded("a%20b and redact%20encoded%205Vb1, x"),
            "a%20b and [REDACTED], x"
        );
        assert_eq!(
            redact_encoded("got redact+encoded+5Vb1\n"),
            "got [REDACTED]\n"
        );
        // No secret once decoded: the text is kept as is.
        assert_eq!(
            redact_encoded("a%20b 100% + c %zz %4"),
            "a%20b 100% + c %zz %4"
        );
        assert_eq!(percent_decode("%41%2b%e2%82%ac%", false), "A+€%");
        assert_eq!(percent_decode("a+b", true), "a b");
    }
}

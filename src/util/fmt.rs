//! The formatters every report shares, so a number reads the same in the
//! console, Markdown, JUnit and `evalgate compare`.

/// A duration in milliseconds for people: `0.42 ms`, `3.5 ms`, `120 ms`,
/// `2.35 s`; `—` when not a number.
pub fn duration_ms(ms: f64) -> String {
    if !ms.is_finite() {
        "—".to_string()
    } else if ms < 1.0 {
        format!("{ms:.2} ms")
    } else if ms < 10.0 {
        format!("{ms:.1} ms")
    } else if ms < 1000.0 {
        format!("{ms:.0} ms")
    } else {
        format!("{:.2} s", ms / 1000.0)
    }
}

/// A ratio as a percentage with one decimal: `0.875` → `87.5%`.
pub fn percent(ratio: f64) -> String {
    format!("{:.1}%", ratio * 100.0)
}

/// An interval of ratios as percentages: `76.4–99.1%`.
pub fn interval(low: f64, high: f64) -> String {
    format!("{:.1}–{:.1}%", low * 100.0, high * 100.0)
}

/// An amount in US dollars: cents for a dollar and more (`$12.35`), six
/// decimals below (`$0.001234`), so a cheap answer is not shown as `$0.00`.
pub fn usd(v: f64) -> String {
    if v >= 1.0 || v == 0.0 {
        format!("${v:.2}")
    } else {
        let s = format!("{v:.6}");
        let t = s.trim_end_matches('0');
        let decimals = t.len() - t.find('.').map_or(t.len(), |i| i + 1);
        if decimals < 2 {
            format!("${v:.2}")
        } else {
            format!("${t}")
        }
    }
}

/// A ratio as a percentage without a useless `.0`: `0.5` → `50%`, `0.125` → `12.5%`.
pub fn percent_short(ratio: f64) -> String {
    let p = ratio * 100.0;
    if p.fract() == 0.0 {
        format!("{p:.0}%")
    } else {
        format!("{p:.1}%")
    }
}

/// A signed change as a percentage, `new` when there was nothing to compare with.
pub fn percent_change(ratio: Option<f64>) -> String {
    match ratio {
        Some(r) => format!("{:+.1}%", r * 100.0),
        None => "new".to_string(),
    }
}

/// The plural suffix for a count: `""` for 1, `"s"` otherwise.
pub fn plural<N: TryInto<u64>>(n: N) -> &'static str {
    if n.try_into().ok() == Some(1) {
        ""
    } else {
        "s"
    }
}

/// A count with its noun: `1 case`, `2 cases`.
pub fn count<N: TryInto<u64> + std::fmt::Display + Copy>(n: N, noun: &str) -> String {
    format!("{n} {noun}{}", plural(n))
}

/// A duration flag: a number with a unit, `500us`, `250ms`, `1.5s`, `2m`,
/// `1h` (a bare number is seconds).
pub fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    let t = s.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let v: f64 = num
        .parse()
        .map_err(|_| format!("cannot read `{s}` as a duration (e.g. 500ms, 10s, 2m)"))?;
    let secs = match unit.trim() {
        "us" | "µs" => v / 1e6,
        "ms" => v / 1e3,
        "" | "s" => v,
        "m" | "min" => v * 60.0,
        "h" => v * 3600.0,
        u => {
            return Err(format!(
                "unknown duration unit `{u}` in `{s}` (use us, ms, s, m or h)"
            ))
        }
    };
    if !secs.is_finite() || secs > 1e9 {
        return Err(format!("duration `{s}` is too large"));
    }
    Ok(std::time::Duration::from_secs_f64(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_with_units() {
        use std::time::Duration;
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("3"), Ok(Duration::from_secs(3)));
        assert_eq!(parse_duration("500us"), Ok(Duration::from_micros(500)));
        assert!(parse_duration("ten").is_err());
        assert!(parse_duration("5 parsecs").is_err());
        assert!(parse_duration("-1s").is_err());
    }

    #[test]
    fn durations_keep_their_precision_below_one_millisecond() {
        assert_eq!(duration_ms(0.0421), "0.04 ms");
        assert_eq!(duration_ms(0.42), "0.42 ms");
        assert_eq!(duration_ms(3.54), "3.5 ms");
        assert_eq!(duration_ms(120.4), "120 ms");
        assert_eq!(duration_ms(2345.0), "2.35 s");
        assert_eq!(duration_ms(f64::NAN), "—");
    }

    #[test]
    fn percents_and_plurals() {
        assert_eq!(percent(0.875), "87.5%");
        assert_eq!(percent_short(0.5), "50%");
        assert_eq!(percent_short(0.125), "12.5%");
        assert_eq!(percent_change(Some(-0.25)), "-25.0%");
        assert_eq!(percent_change(None), "new");
        assert_eq!(plural(1usize), "");
        assert_eq!(plural(0u64), "s");
        assert_eq!(count(2u64, "case"), "2 cases");
        assert_eq!(count(1usize, "suite"), "1 suite");
    }
}

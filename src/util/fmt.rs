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

#[cfg(test)]
mod tests {
    use super::*;

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

//! Prompt variants side by side: counts per variant and the cases whose
//! outcome differs across variants, for the console and Markdown reports.
//!
//! Fed every case in plan order; a case's variants arrive one after the
//! other (a suite's cases are expanded per variant in place), so only the
//! current case and the differing ones (at most [`MAX_ROWS`]) are kept.

use crate::model::{CaseResult, Counts, Outcome};
use crate::util::fmt::plural;

/// Most differing cases listed (the rest are counted).
const MAX_ROWS: usize = 50;

/// A case whose outcome differs across variants: its label and the outcome
/// per variant (by index into `names`).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Row {
    pub case: String,
    pub outcomes: Vec<Option<Outcome>>,
}

/// A case across variants: (suite, case, provider).
type CaseKey = (String, String, String);

/// The side-by-side accumulator.
#[derive(Debug, Default)]
pub(crate) struct Variants {
    /// Variant names, in the order first seen.
    pub names: Vec<String>,
    /// Counts per variant (same order).
    pub counts: Vec<Counts>,
    /// The case being gathered: (suite, case, provider) and its outcomes.
    current: Option<(CaseKey, Vec<(usize, Outcome)>)>,
    /// Cases that ran against several variants.
    pub compared: u64,
    pub rows: Vec<Row>,
    pub more_rows: u64,
    /// Several providers ran (labels name the provider).
    pub multi_provider: bool,
}

impl Variants {
    /// Whether any case ran against a variant.
    pub(crate) fn any(&self) -> bool {
        !self.names.is_empty()
    }

    pub(crate) fn add(&mut self, case: &CaseResult) {
        let Some(v) = &case.variant else {
            self.flush();
            return;
        };
        let i = match self.names.iter().position(|n| n == v) {
            Some(i) => i,
            None => {
                self.names.push(v.clone());
                self.counts.push(Counts::default());
                self.names.len() - 1
            }
        };
        self.counts[i].add(case);
        let key = (case.suite.clone(), case.case.clone(), case.provider.clone());
        if self.current.as_ref().is_some_and(|(k, _)| *k != key) {
            self.flush();
        }
        self.current
            .get_or_insert_with(|| (key, Vec::new()))
            .1
            .push((i, case.outcome));
    }

    /// The current case is complete: keep it if its outcomes differ.
    pub(crate) fn flush(&mut self) {
        let Some(((suite, case, provider), outcomes)) = self.current.take() else {
            return;
        };
        if outcomes.len() < 2 {
            return;
        }
        self.compared += 1;
        if outcomes.iter().all(|(_, o)| *o == outcomes[0].1) {
            return;
        }
        if self.rows.len() >= MAX_ROWS {
            self.more_rows += 1;
            return;
        }
        let mut row = vec![None; self.names.len()];
        for (i, o) in outcomes {
            if let Some(slot) = row.get_mut(i) {
                *slot = Some(o);
            }
        }
        let case = if self.multi_provider {
            format!("{suite}/{case} [{provider}]")
        } else {
            format!("{suite}/{case}")
        };
        self.rows.push(Row {
            case,
            outcomes: row,
        });
    }

    /// "1 of 3 cases differs across prompt variants".
    fn headline(&self) -> String {
        let differ = self.rows.len() as u64 + self.more_rows;
        format!(
            "{differ} of {} case{} {} across prompt variants",
            self.compared,
            plural(self.compared),
            if differ == 1 { "differs" } else { "differ" }
        )
    }

    /// The console table.
    pub(crate) fn console(&self) -> String {
        let width = self
            .names
            .iter()
            .map(|n| n.chars().count())
            .max()
            .unwrap_or(7)
            .max(7);
        let mut s = format!(
            "\n{:<width$}  {:>5}  {:>5}  {:>5}  {:>5}  {:>9}\n",
            "VARIANT", "CASES", "PASS", "FAIL", "ERROR", "PASS RATE"
        );
        for (n, c) in self.names.iter().zip(&self.counts) {
            s.push_str(&format!(
                "{n:<width$}  {:>5}  {:>5}  {:>5}  {:>5}  {:>9}\n",
                c.total,
                c.passed,
                c.failed,
                c.errored,
                c.pass_rate()
                    .map_or_else(|| "-".to_string(), crate::util::fmt::percent)
            ));
        }
        s.push_str(&format!("{}\n", self.headline()));
        if !self.rows.is_empty() {
            let cw = self
                .rows
                .iter()
                .map(|r| r.case.chars().count())
                .max()
                .unwrap_or(4)
                .max(4);
            let cols: Vec<usize> = self
                .names
                .iter()
                .map(|n| n.chars().count().max(7))
                .collect();
            s.push_str(&format!("{:<cw$}", "CASE"));
            for (n, w) in self.names.iter().zip(&cols) {
                s.push_str(&format!("  {n:<w$}"));
            }
            s.truncate(s.trim_end().len());
            s.push('\n');
            for r in &self.rows {
                s.push_str(&format!("{:<cw$}", r.case));
                for (o, w) in r.outcomes.iter().zip(&cols) {
                    let o = o.map_or("-", Outcome::as_str);
                    s.push_str(&format!("  {o:<w$}"));
                }
                s.truncate(s.trim_end().len());
                s.push('\n');
            }
            if self.more_rows > 0 {
                s.push_str(&format!("… and {} more\n", self.more_rows));
            }
        }
        s
    }

    /// The Markdown section.
    pub(crate) fn markdown(&self) -> String {
        let esc = |t: &str| crate::util::text::html(t);
        let mut md = String::from("### Prompt variants\n\n");
        md.push_str("| variant | cases | passed | failed | errored | pass rate |\n");
        md.push_str("|---|--:|--:|--:|--:|--:|\n");
        for (n, c) in self.names.iter().zip(&self.counts) {
            md.push_str(&format!(
                "| <code>{}</code> | {} | {} | {} | {} | {} |\n",
                esc(n),
                c.total,
                c.passed,
                c.failed,
                c.errored,
                c.pass_rate()
                    .map_or_else(|| "-".to_string(), crate::util::fmt::percent)
            ));
        }
        md.push_str(&format!("\n{}", self.headline()));
        if self.rows.is_empty() {
            md.push_str(".\n\n");
            return md;
        }
        md.push_str(":\n\n| case |");
        for n in &self.names {
            md.push_str(&format!(" <code>{}</code> |", esc(n)));
        }
        md.push_str("\n|---|");
        for _ in &self.names {
            md.push_str("---|");
        }
        md.push('\n');
        for r in &self.rows {
            md.push_str(&format!("| <code>{}</code> |", esc(&r.case)));
            for o in &r.outcomes {
                let cell = match o {
                    Some(Outcome::Pass) => "✅ pass",
                    Some(Outcome::Fail) => "❌ fail",
                    Some(Outcome::Error) => "⚠️ error",
                    Some(Outcome::Skipped) => "⏭️ skipped",
                    None => "-",
                };
                md.push_str(&format!(" {cell} |"));
            }
            md.push('\n');
        }
        if self.more_rows > 0 {
            md.push_str(&format!("\n… and {} more\n", self.more_rows));
        }
        md.push('\n');
        md
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::explain::fixtures::{fail_case, pass_case};

    fn variant(mut c: CaseResult, v: &str) -> CaseResult {
        c.variant = Some(v.to_string());
        c.id = format!("{}@{v}", c.id);
        c
    }

    #[test]
    fn side_by_side_tables() {
        let mut t = Variants::default();
        for c in [
            variant(pass_case("qa", "france"), "terse"),
            variant(pass_case("qa", "france"), "polite"),
            variant(pass_case("qa", "germany"), "terse"),
            variant(fail_case("qa", "germany"), "polite"),
            pass_case("other", "plain"),
        ] {
            t.add(&c);
        }
        t.flush();
        assert_eq!(t.compared, 2);
        insta::assert_snapshot!("console", t.console());
        insta::assert_snapshot!("markdown", t.markdown());
    }
}

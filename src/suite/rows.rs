//! Dataset files for `cases_from`: CSV (header row) or JSONL (one object per
//! line). Columns become case variables; rows are streamed, never all held in
//! memory, so a 100k-row dataset runs in flat memory.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use crate::error::{display_path, Diagnostic, Pos};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Format {
    Csv,
    Jsonl,
}

impl Format {
    pub(crate) fn from_path(path: &Path) -> Option<Self> {
        match path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            Some("csv") => Some(Format::Csv),
            Some("jsonl") | Some("ndjson") => Some(Format::Jsonl),
            _ => None,
        }
    }
}

/// The header row of a CSV file.
pub(crate) fn csv_header(path: &Path) -> Result<Vec<String>, String> {
    let file = crate::util::fsafe::open(path, crate::util::fsafe::Kind::Dataset, true)
        .map_err(|e| format!("cannot open dataset `{}`: {e}", display_path(path)))?;
    let mut reader = csv::ReaderBuilder::new().from_reader(file);
    let headers = reader.headers().map_err(|e| {
        format!(
            "cannot read the CSV header of `{}`: {e}",
            display_path(path)
        )
    })?;
    Ok(headers.iter().map(|h| h.trim().to_string()).collect())
}

/// One row: its line in the file, case id and variables.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Row {
    pub line: usize,
    pub id: String,
    pub vars: serde_json::Map<String, serde_json::Value>,
}

/// How rows are turned into cases.
#[derive(Debug, Clone, PartialEq)]
pub struct Mapping {
    /// Column holding the case id (default: `id` when present, else `row-N`).
    pub id_column: Option<String>,
    /// Column exposed as the variable `expected`.
    pub expected_column: Option<String>,
}

enum Inner {
    Csv {
        reader: csv::Reader<File>,
        headers: Vec<String>,
        record: csv::StringRecord,
    },
    Jsonl {
        lines: std::io::Lines<BufReader<File>>,
        line: usize,
    },
}

/// A streaming reader of rows.
pub(crate) struct Rows {
    path: PathBuf,
    mapping: Mapping,
    inner: Inner,
    index: usize,
    done: bool,
}

impl Rows {
    pub(crate) fn open(path: &Path, mapping: &Mapping) -> Result<Self, String> {
        let format = Format::from_path(path)
            .ok_or_else(|| "dataset must be a .csv or .jsonl file".to_string())?;
        let file = crate::util::fsafe::open(path, crate::util::fsafe::Kind::Dataset, true)
            .map_err(|e| format!("cannot open dataset `{}`: {e}", display_path(path)))?;
        let inner = match format {
            Format::Csv => {
                let mut reader = csv::ReaderBuilder::new().flexible(false).from_reader(file);
                let headers: Vec<String> = reader
                    .headers()
                    .map_err(|e| {
                        format!(
                            "cannot read the CSV header of `{}`: {e}",
                            display_path(path)
                        )
                    })?
                    .iter()
                    .map(|h| h.trim().to_string())
                    .collect();
                for col in [&mapping.id_column, &mapping.expected_column]
                    .into_iter()
                    .flatten()
                {
                    if !headers.contains(col) {
                        return Err(format!(
                            "column `{col}` is not in the CSV header of `{}` (columns: {})",
                            display_path(path),
                            headers.join(", ")
                        ));
                    }
                }
                Inner::Csv {
                    reader,
                    headers,
                    record: csv::StringRecord::new(),
                }
            }
            Format::Jsonl => Inner::Jsonl {
                lines: BufReader::new(file).lines(),
                line: 0,
            },
        };
        Ok(Rows {
            path: path.to_path_buf(),
            mapping: mapping.clone(),
            inner,
            index: 0,
            done: false,
        })
    }

    /// Column names when the format declares them (CSV header).
    pub(crate) fn columns(&self) -> Option<&[String]> {
        match &self.inner {
            Inner::Csv { headers, .. } => Some(headers),
            Inner::Jsonl { .. } => None,
        }
    }

    fn error(&self, line: usize, msg: String) -> Diagnostic {
        Diagnostic::new(&self.path, Some(Pos::new(line, 1)), msg)
    }

    fn finish_row(
        &mut self,
        line: usize,
        mut vars: serde_json::Map<String, serde_json::Value>,
    ) -> Result<Row, Diagnostic> {
        self.index += 1;
        let id_col = self
            .mapping
            .id_column
            .clone()
            .or_else(|| vars.contains_key("id").then(|| "id".to_string()));
        let id = match id_col {
            Some(col) => match vars.get(&col) {
                Some(serde_json::Value::String(s)) if !s.trim().is_empty() => s.trim().to_string(),
                Some(serde_json::Value::Number(n)) => n.to_string(),
                _ => {
                    return Err(self
                        .error(line, format!("row has no value in the id column `{col}`"))
                        .with_hint("every row needs a unique, non-empty id"))
                }
            },
            None => format!("row-{}", self.index),
        };
        if let Some(col) = &self.mapping.expected_column {
            match vars.get(col).cloned() {
                Some(v) => {
                    vars.insert("expected".to_string(), v);
                }
                None => {
                    return Err(
                        self.error(line, format!("row has no `{col}` (the expected_column)"))
                    );
                }
            }
        }
        Ok(Row { line, id, vars })
    }
}

impl Iterator for Rows {
    type Item = Result<Row, Diagnostic>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        match &mut self.inner {
            Inner::Csv {
                reader,
                headers,
                record,
            } => match reader.read_record(record) {
                Ok(false) => {
                    self.done = true;
                    None
                }
                Ok(true) => {
                    let line = record.position().map_or(0, |p| p.line() as usize);
                    let vars = headers
                        .iter()
                        .zip(record.iter())
                        .map(|(h, v)| (h.clone(), serde_json::Value::String(v.to_string())))
                        .collect();
                    Some(self.finish_row(line, vars))
                }
                Err(e) => {
                    self.done = true;
                    let line = e.position().map_or(0, |p| p.line() as usize);
                    let msg = match e.kind() {
                        csv::ErrorKind::UnequalLengths {
                            expected_len, len, ..
                        } => {
                            format!("row has {len} fields but the header has {expected_len}")
                        }
                        _ => format!("invalid CSV: {e}"),
                    };
                    Some(Err(self.error(line.max(1), msg)))
                }
            },
            Inner::Jsonl { lines, line } => loop {
                let next = lines.next()?;
                *line += 1;
                let n = *line;
                let text = match next {
                    Ok(t) => t,
                    Err(e) => {
                        self.done = true;
                        return Some(Err(self.error(n, format!("cannot read line: {e}"))));
                    }
                };
                let text = if n == 1 {
                    text.trim_start_matches('\u{feff}').to_string()
                } else {
                    text
                };
                if text.trim().is_empty() {
                    continue;
                }
                return Some(match serde_json::from_str::<serde_json::Value>(&text) {
                    Ok(serde_json::Value::Object(map)) => self.finish_row(n, map),
                    Ok(_) => Err(self
                        .error(n, "each JSONL line must be a JSON object".to_string())
                        .with_source_line(&text)),
                    Err(e) => Err(Diagnostic::new(
                        &self.path,
                        Some(Pos::new(n, e.column().max(1))),
                        format!(
                            "invalid JSON on this line: {}",
                            e.to_string().split(" at line ").next().unwrap_or("")
                        ),
                    )
                    .with_source_line(&text)),
                });
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(name: &str, text: &str, mapping: Mapping) -> Vec<Result<Row, String>> {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        Rows::open(&p, &mapping)
            .unwrap()
            .map(|r| r.map_err(|d| format!("{}: {}", d.location(), d.message)))
            .collect()
    }

    #[test]
    fn csv_rows_become_vars() {
        let m = Mapping {
            id_column: None,
            expected_column: Some("answer".into()),
        };
        let r = rows(
            "d.csv",
            "id,country,answer\nfr,France,Paris\nde,Germany,Berlin\n",
            m,
        );
        let row = r[1].clone().unwrap();
        assert_eq!(row.id, "de");
        assert_eq!(row.line, 3);
        assert_eq!(row.vars["expected"], "Berlin");
        assert_eq!(row.vars["country"], "Germany");
    }

    #[test]
    fn jsonl_rows_and_errors() {
        let m = Mapping {
            id_column: None,
            expected_column: None,
        };
        let r = rows("d.jsonl", "{\"q\": 1}\n\n{\"q\": 2}\nnot json\n[1]\n", m);
        assert_eq!(r[0].clone().unwrap().id, "row-1");
        assert_eq!(r[1].clone().unwrap().line, 3);
        assert!(r[2].clone().unwrap_err().contains(":4:"), "{:?}", r[2]);
        assert!(r[3].clone().unwrap_err().contains("must be a JSON object"));
    }

    #[test]
    fn ragged_csv_is_an_error_with_line() {
        let m = Mapping {
            id_column: None,
            expected_column: None,
        };
        let r = rows("d.csv", "a,b\n1,2\n3\n", m);
        let e = r[1].clone().unwrap_err();
        assert!(
            e.contains(":3:") && e.contains("1 fields but the header has 2"),
            "{e}"
        );
    }
}

//! The module graph stays layered: every top-level module of `src/` imports
//! only modules of lower layers, so there is no import cycle between modules.
//! ARCHITECTURE.md draws the same layers; change both together.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use regex::Regex;

/// The layers, bottom first. A module may import modules of lower layers
/// only (not its own layer, not a higher one).
const LAYERS: &[&[&str]] = &[
    &["exit", "secret", "template", "cli"],
    &["error"],
    &["util", "shard"],
    &["syntax", "model"],
    &["compare", "golden", "attack", "import"],
    &["gate", "event"],
    &["config"],
    &["provider"],
    &["check", "serve"],
    &["suite", "report"],
    &["probe"],
    &["plan"],
    &["engine", "bench"],
    &["app"],
];

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|l| l.contains(&module))
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The code of a file that is compiled outside tests: comments, `mod tests
/// { … }` blocks (always at the end of a file here) and test-only files left out.
fn production_code(path: &Path, text: &str) -> Option<String> {
    let name = path.file_name()?.to_str()?;
    if name == "tests.rs" || name == "test_support.rs" {
        return None;
    }
    let cut = Regex::new(r"#\[cfg\(test\)\]\s*(pub(\(crate\))?\s+)?mod tests\s*\{").ok()?;
    let text = match cut.find(text) {
        Some(m) => &text[..m.start()],
        None => text,
    };
    Some(
        text.lines()
            .map(|l| {
                if l.trim_start().starts_with("//") {
                    ""
                } else {
                    l
                }
            })
            .collect::<Vec<_>>()
            .join("\n"),
    )
}

/// (importing module, imported module) → the files and lines that do it.
fn imports(src: &Path) -> BTreeMap<(String, String), Vec<String>> {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    files.sort();
    let path_re = Regex::new(r"crate::(\w+)").unwrap();
    let group_re = Regex::new(r"crate::\{([^}]*)\}").unwrap();
    let mut edges: BTreeMap<(String, String), Vec<String>> = BTreeMap::new();
    for file in files {
        let rel = file.strip_prefix(src).unwrap();
        let first = rel
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_string_lossy();
        let module = first.trim_end_matches(".rs").to_string();
        if module == "main" || module == "lib" {
            continue;
        }
        let text = std::fs::read_to_string(&file).unwrap();
        let Some(code) = production_code(&file, &text) else {
            continue;
        };
        for (n, line) in code.lines().enumerate() {
            let mut targets: Vec<String> = path_re
                .captures_iter(line)
                .map(|c| c[1].to_string())
                .collect();
            for g in group_re.captures_iter(line) {
                targets.extend(
                    g[1].split(',')
                        .filter_map(|p| p.trim().split("::").next())
                        .filter(|p| !p.is_empty())
                        .map(str::to_string),
                );
            }
            for t in targets {
                if t != module && t != "self" {
                    edges.entry((module.clone(), t)).or_default().push(format!(
                        "src/{}:{}: {}",
                        rel.display(),
                        n + 1,
                        line.trim()
                    ));
                }
            }
        }
    }
    edges
}

#[test]
fn every_module_imports_only_lower_layers() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let edges = imports(&src);
    assert!(
        !edges.is_empty(),
        "no imports found under {}",
        src.display()
    );
    let mut problems = Vec::new();
    for ((from, to), lines) in &edges {
        let (Some(a), Some(b)) = (layer_of(from), layer_of(to)) else {
            problems.push(format!(
                "`{from}` or `{to}` is not in LAYERS (tests/integration/layers.rs): give every \
                 top-level module a layer\n    {}",
                lines[0]
            ));
            continue;
        };
        if b >= a {
            problems.push(format!(
                "`{from}` (layer {a}) imports `{to}` (layer {b}): move what it needs to a lower \
                 module, or change the layering here and in ARCHITECTURE.md\n    {}",
                lines.join("\n    ")
            ));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn every_top_level_module_has_a_layer() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let lib = std::fs::read_to_string(src.join("lib.rs")).unwrap();
    let decl = Regex::new(r"(?m)^pub mod (\w+);").unwrap();
    let missing: Vec<String> = decl
        .captures_iter(&lib)
        .map(|c| c[1].to_string())
        .filter(|m| layer_of(m).is_none())
        .collect();
    assert!(missing.is_empty(), "modules without a layer: {missing:?}");
}

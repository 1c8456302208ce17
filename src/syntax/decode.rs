//! Strict decoding helpers: typed access to a [`Node`] tree that records every
//! problem (unknown keys with "did you mean", wrong types, out-of-range values)
//! as a [`Diagnostic`] and keeps going, so one pass reports all errors.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::error::{did_you_mean, Diagnostic, Pos};
use crate::syntax::node::{Entry, Node, Value};

/// Decoding context for one file.
pub struct Ctx<'a> {
    pub file: &'a Path,
    pub text: &'a str,
    pub errors: Vec<Diagnostic>,
    /// The project root: relative paths in config and suites resolve against it.
    pub root: PathBuf,
    /// Defaults a file sets for what is decoded after them (a suite's
    /// `defaults.golden` for its `golden` checks), one per type, so this layer
    /// needs to know none of them.
    defaults: HashMap<TypeId, Box<dyn Any + Send + Sync>>,
    /// Values derived from what was decoded under the current defaults (the
    /// checks already decoded, reused for identical text), one per type;
    /// emptied whenever a default is set.
    memos: HashMap<TypeId, Box<dyn Any + Send + Sync>>,
    /// Line starts of `text`, built on the first error (many errors stay linear).
    lines: std::cell::OnceCell<crate::error::LineIndex>,
}

impl<'a> Ctx<'a> {
    pub fn new(file: &'a Path, text: &'a str) -> Self {
        Ctx {
            file,
            text,
            errors: Vec::new(),
            root: PathBuf::new(),
            defaults: HashMap::new(),
            memos: HashMap::new(),
            lines: std::cell::OnceCell::new(),
        }
    }

    /// Set the default of type `T` for everything decoded after this.
    pub fn set_default<T: Any + Send + Sync>(&mut self, value: T) {
        self.defaults.insert(TypeId::of::<T>(), Box::new(value));
        self.memos.clear();
    }

    /// The memo of type `T` (created empty), valid until the next
    /// [`Ctx::set_default`].
    pub fn memo<T: Any + Send + Sync + Default>(&mut self) -> &mut T {
        let slot = self
            .memos
            .entry(TypeId::of::<T>())
            .or_insert_with(|| Box::new(T::default()));
        if !slot.is::<T>() {
            *slot = Box::new(T::default());
        }
        match slot.downcast_mut::<T>() {
            Some(t) => t,
            None => unreachable!("the slot was just made a `T`"),
        }
    }

    /// The default of type `T` set by [`Ctx::set_default`], or `T::default()`.
    pub fn default_of<T: Any + Clone + Default>(&self) -> T {
        self.defaults
            .get(&TypeId::of::<T>())
            .and_then(|v| v.downcast_ref::<T>())
            .cloned()
            .unwrap_or_default()
    }

    pub fn with_root(mut self, root: &Path) -> Self {
        self.root = root.to_path_buf();
        self
    }

    /// Resolve a path written in a file against the project root.
    pub fn resolve_path(&self, p: &str) -> PathBuf {
        let p = Path::new(p);
        if p.is_absolute() || self.root.as_os_str().is_empty() {
            p.to_path_buf()
        } else {
            self.root.join(p)
        }
    }

    /// Record an error at `pos`.
    pub fn error(&mut self, pos: Pos, message: impl Into<String>, hint: Option<String>) {
        let index = self
            .lines
            .get_or_init(|| crate::error::LineIndex::new(self.text));
        let mut d =
            Diagnostic::new(self.file, Some(pos), message).with_source_indexed(index, self.text);
        d.hint = hint;
        self.errors.push(d);
    }

    /// Expect a mapping whose keys are all in `allowed`.
    pub fn map<'n>(&mut self, node: &'n Node, what: &str, allowed: &[&str]) -> Option<Fields<'n>> {
        let Value::Map(entries) = &node.value else {
            self.error(
                node.pos,
                format!("{what} must be a mapping, found {}", node.kind_name()),
                None,
            );
            return None;
        };
        for e in entries {
            if e.key == "<<" {
                self.error(
                    e.key_pos,
                    "YAML merge keys (`<<`) are not supported",
                    Some(
                        "put shared settings in the suite's `defaults`, or repeat the keys".into(),
                    ),
                );
                continue;
            }
            if !allowed.contains(&e.key.as_str()) {
                let hint = match did_you_mean(&e.key, allowed.iter().copied()) {
                    Some(s) => format!("did you mean `{s}`?"),
                    None => format!("allowed keys: {}", allowed.join(", ")),
                };
                self.error(
                    e.key_pos,
                    format!("unknown key `{}` in {what}", e.key),
                    Some(hint),
                );
            }
        }
        Some(Fields {
            entries,
            pos: node.pos,
        })
    }

    pub fn string(&mut self, node: &Node, what: &str) -> Option<String> {
        match &node.value {
            Value::Str(s) => Some(s.clone()),
            _ => {
                self.error(
                    node.pos,
                    format!("{what} must be a string, found {}", node.kind_name()),
                    None,
                );
                None
            }
        }
    }

    /// A string, accepting numbers and booleans as their text (for ids and values).
    pub fn scalar_string(&mut self, node: &Node, what: &str) -> Option<String> {
        match &node.value {
            Value::Str(s) => Some(s.clone()),
            Value::Int(i) => Some(i.to_string()),
            Value::Float(f) => Some(f.to_string()),
            Value::Bool(b) => Some(b.to_string()),
            _ => {
                self.error(
                    node.pos,
                    format!("{what} must be a string, found {}", node.kind_name()),
                    None,
                );
                None
            }
        }
    }

    pub fn bool(&mut self, node: &Node, what: &str) -> Option<bool> {
        match node.value {
            Value::Bool(b) => Some(b),
            _ => {
                self.error(
                    node.pos,
                    format!("{what} must be true or false, found {}", node.kind_name()),
                    None,
                );
                None
            }
        }
    }

    /// A non-negative integer no larger than `max`.
    pub fn uint(&mut self, node: &Node, what: &str, min: u64, max: u64) -> Option<u64> {
        match node.value {
            Value::Int(i) if i >= 0 && (i as u64) >= min && (i as u64) <= max => Some(i as u64),
            Value::Int(i) => {
                self.error(
                    node.pos,
                    format!("{what} must be between {min} and {max}, found {i}"),
                    None,
                );
                None
            }
            Value::Float(f) if f.fract() == 0.0 && f.is_finite() => {
                self.error(
                    node.pos,
                    format!("{what} must be between {min} and {max}, found {f}"),
                    None,
                );
                None
            }
            _ => {
                self.error(
                    node.pos,
                    format!("{what} must be an integer, found {}", node.kind_name()),
                    None,
                );
                None
            }
        }
    }

    /// A number within `[min, max]`.
    pub fn number(&mut self, node: &Node, what: &str, min: f64, max: f64) -> Option<f64> {
        let v = match node.value {
            Value::Int(i) => i as f64,
            Value::Float(f) => f,
            _ => {
                self.error(
                    node.pos,
                    format!("{what} must be a number, found {}", node.kind_name()),
                    None,
                );
                return None;
            }
        };
        if v.is_nan() || v < min || v > max {
            self.error(
                node.pos,
                format!("{what} must be between {min} and {max}, found {v}"),
                None,
            );
            return None;
        }
        Some(v)
    }

    /// A list of strings; a single string is accepted as a one-item list.
    pub fn string_list(&mut self, node: &Node, what: &str) -> Option<Vec<String>> {
        match &node.value {
            Value::Str(s) => Some(vec![s.clone()]),
            Value::Seq(items) => {
                let mut out = Vec::with_capacity(items.len());
                for item in items {
                    out.push(self.scalar_string(item, &format!("each item of {what}"))?);
                }
                Some(out)
            }
            _ => {
                self.error(
                    node.pos,
                    format!(
                        "{what} must be a string or a list of strings, found {}",
                        node.kind_name()
                    ),
                    None,
                );
                None
            }
        }
    }

    /// A list of nodes.
    pub fn seq<'n>(&mut self, node: &'n Node, what: &str) -> Option<&'n [Node]> {
        match &node.value {
            Value::Seq(items) => Some(items),
            _ => {
                self.error(
                    node.pos,
                    format!("{what} must be a list, found {}", node.kind_name()),
                    None,
                );
                None
            }
        }
    }

    /// Require a key of a mapping.
    pub fn require<'n>(&mut self, fields: &Fields<'n>, key: &str, what: &str) -> Option<&'n Node> {
        let found = fields.get(key);
        if found.is_none() {
            self.error(
                fields.pos,
                format!("{what} is missing the required key `{key}`"),
                None,
            );
        }
        found
    }
}

/// The entries of a mapping already checked against its allowed keys.
#[derive(Clone, Copy)]
pub struct Fields<'n> {
    pub entries: &'n [Entry],
    pub pos: Pos,
}

impl<'n> Fields<'n> {
    pub fn get(&self, key: &str) -> Option<&'n Node> {
        self.entries.iter().find(|e| e.key == key).map(|e| &e.value)
    }

    pub fn entry(&self, key: &str) -> Option<&'n Entry> {
        self.entries.iter().find(|e| e.key == key)
    }
}

/// Parse a duration: a number with a unit, such as `250ms`, `30s`, `2m`.
/// A bare number (other than 0) is refused: `timeout: 10` could mean 10 ms
/// or 10 s, and guessing wrong is a silent bug.
pub fn duration(ctx: &mut Ctx<'_>, node: &Node, what: &str) -> Option<std::time::Duration> {
    use std::time::Duration;
    let hint = Some("write a number with a unit: \"500ms\", \"30s\", \"2m\"".to_string());
    let bare = |ctx: &mut Ctx<'_>, n: &str| {
        ctx.error(
            node.pos,
            format!("{what}: `{n}` has no unit"),
            Some(format!(
                "write `{n}s` for seconds or `{n}ms` for milliseconds"
            )),
        );
    };
    match &node.value {
        Value::Int(0) => Some(Duration::ZERO),
        Value::Int(i) if *i > 0 => {
            bare(ctx, &i.to_string());
            None
        }
        Value::Float(f) if *f > 0.0 => {
            bare(ctx, &f.to_string());
            None
        }
        Value::Int(i) => {
            ctx.error(
                node.pos,
                format!("{what} must not be negative, found {i}"),
                hint,
            );
            None
        }
        Value::Str(s) => {
            let s = s.trim();
            let (num, unit) = s
                .find(|c: char| !c.is_ascii_digit() && c != '.')
                .map_or((s, ""), |i| (&s[..i], s[i..].trim()));
            let n: f64 = match num.parse() {
                Ok(n) => n,
                Err(_) => {
                    ctx.error(
                        node.pos,
                        format!("{what}: cannot read `{s}` as a duration"),
                        hint,
                    );
                    return None;
                }
            };
            let ms = match unit {
                "" if n == 0.0 => 0.0,
                "" => {
                    bare(ctx, num);
                    return None;
                }
                "ms" => n,
                "s" => n * 1000.0,
                "m" | "min" => n * 60_000.0,
                _ => {
                    ctx.error(
                        node.pos,
                        format!("{what}: unknown duration unit `{unit}`"),
                        hint,
                    );
                    return None;
                }
            };
            Some(Duration::from_millis(ms.round() as u64))
        }
        _ => {
            ctx.error(
                node.pos,
                format!("{what} must be a duration, found {}", node.kind_name()),
                hint,
            );
            None
        }
    }
}

//! `no_stack_trace`: a stack trace of Python, the JVM, Node, Rust, Go, .NET
//! or PHP in an answer (an error page that shows the server's internals).
//!
//! Only real trace structure is flagged: a header line (`Traceback (most
//! recent call last):`, an exception class, `goroutine 1 [running]:`,
//! `stack backtrace:`, `Stack trace:`) followed within a few lines by a
//! frame in that language's format (`File "x.py", line 3`, `at
//! com.acme.Bar.run(Bar.java:12)`, `at fn (/app/x.js:3:9)`, `/app/main.go:8
//! +0x1d`, …), or a line that carries a file and a line by itself (a Rust
//! panic at `src/x.rs:3:5`, a PHP fatal error `in /x.php on line 3`). Prose
//! about tracebacks, or "at the end of the day", has no frame and is never
//! flagged. A trace inside a JSON string (newlines escaped as `\n`) is found
//! too.

use std::sync::LazyLock;

use regex::Regex;

use super::{names, options, pattern, scan, verdict, Detector, Hit};
use crate::check::{Eval, EvalCtx, SyncCheck};
use crate::syntax::decode::Ctx;
use crate::syntax::node::Node;
use crate::util::text::one_line;

/// Languages, as written in `no_stack_trace: {allow: [...]}`.
pub(crate) const LANGUAGES: &[&str] = &["python", "java", "node", "rust", "go", "dotnet", "php"];

/// How many lines before a frame its header may be (Python shows a source
/// line between frames, Go a function line, Node a code excerpt).
const LOOKBACK: usize = 3;

/// One trace shape: a frame pattern (multi-line mode) and the header that
/// must come before it, or a line that is a trace by itself.
struct Shape {
    lang: &'static str,
    kind: &'static str,
    frame: &'static LazyLock<Regex>,
    /// `None`: the frame line alone is the trace (it names a file and line).
    header: Option<&'static LazyLock<Regex>>,
}

static PY_FRAME: LazyLock<Regex> =
    LazyLock::new(|| pattern(r#"(?m)^[ \t]*File "[^"\n]+", line \d+(?:, in [^\n]*)?\r?$"#));
static PY_HEADER: LazyLock<Regex> =
    LazyLock::new(|| pattern(r"Traceback \(most recent call last\):\s*$"));

/// A JVM frame: a qualified method and `(File.java:12)`, `(Native Method)`.
static JAVA_FRAME: LazyLock<Regex> = LazyLock::new(|| {
    pattern(
        r"(?m)^[ \t]*at [\w$]+(?:[./][\w$<>-]+)+\((?:[\w$-]+\.(?:java|kt|kts|scala|groovy|clj)(?::\d+)?|Native Method|Unknown Source)\)",
    )
});

/// An exception line: `java.lang.X: msg`, `Exception in thread "main" …`,
/// `Caused by: …`, `Unhandled exception. System.X: …`, `TypeError: …`.
static EXCEPTION_HEADER: LazyLock<Regex> = LazyLock::new(|| {
    pattern(
        r#"^\s*(?:Exception in thread "[^"]*"\s*|Caused by:\s*|Unhandled [Ee]xception\.?\s*|Uncaught\s+|-+>\s*)?(?:[A-Za-z_$][\w$]*[.:]{1,2})*[A-Za-z_$]*(?:Exception|Error|Throwable)\b(?:\s*\[[\w-]+\])?(?::|\s*$)"#,
    )
});

/// A .NET frame: `at Ns.Class.Method(args)` and optionally `in path:line N`.
static DOTNET_FRAME: LazyLock<Regex> = LazyLock::new(|| {
    pattern(
        r"(?m)^[ \t]*at (?:[\w`<>\[\]+]+\.)+[\w`<>\[\]|]+\([^()\n]*\)(?: in [^\n]+:line \d+)?[ \t]*\r?$",
    )
});

/// A Node frame: `at fn (/app/x.js:3:9)`, `at /app/x.js:3:9`,
/// `at node:internal/…:12:5`.
static NODE_FRAME: LazyLock<Regex> = LazyLock::new(|| {
    pattern(
        r"(?m)^[ \t]*at (?:async )?(?:[^\n()]+ \()?(?:file://)?(?:[^\s()]+\.(?:[cm]?js|tsx?|jsx)|node:[^\s()]+|<anonymous>):\d+:\d+\)?[ \t]*\r?$",
    )
});

/// `thread 'main' panicked at src/main.rs:3:5` (and the older
/// `panicked at 'msg', src/main.rs:3:5`).
static RUST_PANIC: LazyLock<Regex> = LazyLock::new(|| {
    pattern(r"(?m)^thread '[^'\n]*' panicked at (?:'[^\n]*', )?[^\s:'][^\s:]*\.rs:\d+:\d+")
});
static RUST_FRAME: LazyLock<Regex> =
    LazyLock::new(|| pattern(r"(?m)^[ \t]+\d+: +(?:0x[0-9a-f]+ - )?[\w:<>$.]+[^\n]*$"));
static RUST_HEADER: LazyLock<Regex> = LazyLock::new(|| pattern(r"^stack backtrace:\s*$"));

static GO_FRAME: LazyLock<Regex> =
    LazyLock::new(|| pattern(r"(?m)^[ \t]+\S+\.go:\d+(?: \+0x[0-9a-f]+)?[ \t]*\r?$"));
static GO_HEADER: LazyLock<Regex> = LazyLock::new(|| pattern(r"^goroutine \d+ \[[^\]\n]+\]:\s*$"));

/// `PHP Fatal error:  Uncaught Exception: x in /var/www/a.php:12`,
/// `<b>Fatal error</b>: … in /a.php on line 3`.
static PHP_ERROR: LazyLock<Regex> = LazyLock::new(|| {
    pattern(
        r"(?m)(?:^|>|\s)(?:PHP )?(?:<b>)?(?:Fatal error|Parse error|Catchable fatal error|Warning|Notice|Deprecated)(?:</b>)?: [^\n]*? in (?:<b>)?[^\s<]+\.php(?:</b>)?(?: on line (?:<b>)?\d+|:\d+)",
    )
});
static PHP_FRAME: LazyLock<Regex> =
    LazyLock::new(|| pattern(r"(?m)^#\d+ (?:[^\s()]+\.php\(\d+\)|\{main\})"));
static PHP_HEADER: LazyLock<Regex> = LazyLock::new(|| pattern(r"Stack trace:\s*$"));

static SHAPES: &[Shape] = &[
    Shape {
        lang: "python",
        kind: "Python traceback",
        frame: &PY_FRAME,
        header: Some(&PY_HEADER),
    },
    Shape {
        lang: "rust",
        kind: "Rust panic",
        frame: &RUST_PANIC,
        header: None,
    },
    Shape {
        lang: "rust",
        kind: "Rust backtrace",
        frame: &RUST_FRAME,
        header: Some(&RUST_HEADER),
    },
    Shape {
        lang: "java",
        kind: "JVM stack trace",
        frame: &JAVA_FRAME,
        header: Some(&EXCEPTION_HEADER),
    },
    Shape {
        lang: "node",
        kind: "Node stack trace",
        frame: &NODE_FRAME,
        header: Some(&EXCEPTION_HEADER),
    },
    Shape {
        lang: "dotnet",
        kind: ".NET stack trace",
        frame: &DOTNET_FRAME,
        header: Some(&EXCEPTION_HEADER),
    },
    Shape {
        lang: "go",
        kind: "Go panic trace",
        frame: &GO_FRAME,
        header: Some(&GO_HEADER),
    },
    Shape {
        lang: "php",
        kind: "PHP error",
        frame: &PHP_ERROR,
        header: None,
    },
    Shape {
        lang: "php",
        kind: "PHP stack trace",
        frame: &PHP_FRAME,
        header: Some(&PHP_HEADER),
    },
];

/// Words one of which every trace contains: a cheap test before the
/// patterns.
const MARKERS: &[&str] = &[
    "Traceback",
    "File \"",
    "at ",
    "panicked at",
    "backtrace",
    "goroutine",
    ".php",
    "#0 ",
];

/// The `no_stack_trace` detector.
#[derive(Debug, Clone, Default)]
pub struct StackTraces {
    /// Languages whose traces the app may show.
    pub allow: Vec<&'static str>,
}

impl Detector for StackTraces {
    fn name(&self) -> &'static str {
        "no_stack_trace"
    }

    fn noun(&self) -> (&'static str, &'static str) {
        ("stack trace", "stack traces")
    }

    fn rot13(&self) -> bool {
        false
    }

    fn detect(&self, text: &str, out: &mut Vec<Hit>) {
        let before = out.len();
        traces(text, "", out);
        // A trace in a JSON string: `"Traceback …:\n  File \"x.py\", line 3"`.
        if out.len() == before && text.contains("\\n") {
            let (plain, map) = unescape(text);
            let mut hits = Vec::new();
            traces(&plain, " (JSON-escaped)", &mut hits);
            for mut h in hits {
                h.start = map.get(h.start).copied().unwrap_or(text.len());
                h.end = map.get(h.end).copied().unwrap_or(text.len()).max(h.start);
                out.push(h);
            }
        }
    }

    fn allowed(&self, hit: &Hit) -> bool {
        let lang = hit.value.split('@').next().unwrap_or("");
        self.allow.contains(&lang)
    }
}

/// Every trace in `text`, one hit per header (the first frame after it).
fn traces(text: &str, suffix: &'static str, out: &mut Vec<Hit>) {
    if !MARKERS.iter().any(|m| text.contains(m)) {
        return;
    }
    let mut taken: Vec<(usize, usize)> = Vec::new();
    for shape in SHAPES {
        for m in shape.frame.find_iter(text) {
            let start = match shape.header {
                None => m.start() + leading_space(m.as_str()),
                Some(header) => match header_before(text, m.start(), header) {
                    Some(h) => h,
                    None => continue,
                },
            };
            // One hit per trace: later frames of a trace already found, and
            // a frame another language already claimed, are skipped.
            if taken.iter().any(|&(s, e)| start < e && s < m.end()) {
                continue;
            }
            taken.push((start, m.end()));
            let frame = one_line(m.as_str(), 120);
            out.push(Hit {
                start,
                end: m.end(),
                kind: kind_with(shape.kind, suffix),
                value: format!("{}@{start}", shape.lang),
                shown: format!("(first frame: {frame})"),
            });
        }
    }
}

fn kind_with(kind: &'static str, suffix: &'static str) -> &'static str {
    if suffix.is_empty() {
        return kind;
    }
    match kind {
        "Python traceback" => "Python traceback (JSON-escaped)",
        "Rust panic" => "Rust panic (JSON-escaped)",
        "Rust backtrace" => "Rust backtrace (JSON-escaped)",
        "JVM stack trace" => "JVM stack trace (JSON-escaped)",
        "Node stack trace" => "Node stack trace (JSON-escaped)",
        ".NET stack trace" => ".NET stack trace (JSON-escaped)",
        "Go panic trace" => "Go panic trace (JSON-escaped)",
        "PHP error" => "PHP error (JSON-escaped)",
        "PHP stack trace" => "PHP stack trace (JSON-escaped)",
        other => other,
    }
}

fn leading_space(s: &str) -> usize {
    s.len() - s.trim_start().len()
}

/// The start of a header line among the `LOOKBACK` lines before `at` (a
/// line start), if one matches.
fn header_before(text: &str, at: usize, header: &Regex) -> Option<usize> {
    let mut end = at;
    for _ in 0..LOOKBACK {
        if end == 0 {
            return None;
        }
        let line_end = end - 1; // the '\n' ending the previous line
        let start = text[..line_end].rfind('\n').map_or(0, |i| i + 1);
        let line = text[start..line_end].trim_end_matches('\r');
        if let Some(m) = header.find(line) {
            return Some(start + m.start() + leading_space(&line[m.start()..]));
        }
        end = start;
    }
    None
}

/// JSON string escapes undone (`\n`, `\t`, `\r`, `\"`, `\\`, `\/`), with the
/// offset in `text` of every byte of the result (and of its end).
fn unescape(text: &str) -> (String, Vec<usize>) {
    let mut out = String::with_capacity(text.len());
    let mut map = Vec::with_capacity(text.len() + 1);
    let mut chars = text.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        let plain = if c == '\\' {
            match chars.peek().map(|&(_, n)| n) {
                Some(n @ ('n' | 't' | 'r' | '"' | '\\' | '/')) => {
                    chars.next();
                    match n {
                        'n' => '\n',
                        't' => '\t',
                        'r' => '\r',
                        other => other,
                    }
                }
                _ => c,
            }
        } else {
            c
        };
        for _ in 0..plain.len_utf8() {
            map.push(i);
        }
        out.push(plain);
    }
    map.push(text.len());
    (out, map)
}

/// `- no_stack_trace` or `no_stack_trace: {allow: [php]}`.
#[derive(Debug)]
pub(crate) struct TraceCheck(pub(crate) StackTraces);

impl TraceCheck {
    pub(crate) fn parse(ctx: &mut Ctx<'_>, node: &Node) -> Option<Self> {
        let fields = options(ctx, node, "no_stack_trace", OPTIONS)?;
        let allow = match fields.as_ref().and_then(|f| f.get("allow")) {
            Some(n) => names(ctx, n, "stack trace language", LANGUAGES)?,
            None => Vec::new(),
        };
        Some(TraceCheck(StackTraces { allow }))
    }
}

impl SyncCheck for TraceCheck {
    fn verdict(&self, ctx: &EvalCtx<'_>) -> Eval {
        verdict(&self.0, &scan(&self.0, ctx.output))
    }
}

/// The options of `no_stack_trace:`'s mapping form.
pub(crate) const OPTIONS: &[&str] = &["allow"];

#[cfg(test)]
mod tests {
    use super::super::testutil::{explain, kinds, run};
    use super::*;

    fn found(s: &str) -> Vec<&'static str> {
        kinds(&StackTraces::default(), s)
    }

    fn first_frame(s: &str) -> String {
        scan(&StackTraces::default(), s).findings[0].shown.clone()
    }

    const PYTHON: &str = "Internal error\nTraceback (most recent call last):\n  File \"/srv/app/server.py\", line 42, in handle\n    reply = answer(body[\"message\"])\nKeyError: 'message'\n";

    #[test]
    fn python() {
        assert_eq!(found(PYTHON), vec!["Python traceback"]);
        assert_eq!(
            first_frame(PYTHON),
            "(first frame: File \"/srv/app/server.py\", line 42, in handle)"
        );
        let f = &scan(&StackTraces::default(), PYTHON).findings[0];
        assert_eq!((f.line, f.column), (2, 1));
        // Chained: one finding per traceback.
        let chained = format!("{PYTHON}\nDuring handling of the above exception, another exception occurred:\n\n{PYTHON}");
        assert_eq!(found(&chained).len(), 2);
    }

    #[test]
    fn python_in_a_json_string() {
        let body = r#"{"error": "Traceback (most recent call last):\n  File \"/srv/app.py\", line 3, in <module>\n    x()\nNameError: name 'x' is not defined\n"}"#;
        assert_eq!(found(body), vec!["Python traceback (JSON-escaped)"]);
        let f = &scan(&StackTraces::default(), body).findings[0];
        assert_eq!((f.line, f.column), (1, 12));
    }

    #[test]
    fn jvm() {
        let t = "Exception in thread \"main\" java.lang.NullPointerException: Cannot invoke \"String.length()\"\n\tat com.acme.Bar.run(Bar.java:12)\n\tat com.acme.Main.main(Main.java:5)\nCaused by: java.io.IOException: closed\n\tat java.base/java.io.FileInputStream.read(FileInputStream.java:276)\n\t... 2 more\n";
        assert_eq!(found(t), vec!["JVM stack trace"; 2]);
        assert_eq!(
            first_frame(t),
            "(first frame: at com.acme.Bar.run(Bar.java:12))"
        );
        let kotlin = "java.lang.IllegalStateException: boom\n    at com.acme.AppKt.main(App.kt:7)\n    at sun.reflect.NativeMethodAccessorImpl.invoke0(Native Method)\n";
        assert_eq!(found(kotlin), vec!["JVM stack trace"]);
    }

    #[test]
    fn node() {
        let t = "/app/index.js:3\n  x.y.z\n    ^\n\nTypeError: Cannot read properties of undefined (reading 'z')\n    at Object.<anonymous> (/app/index.js:3:5)\n    at Module._compile (node:internal/modules/cjs/loader:1256:14)\n    at async Promise.all (index 0)\n";
        assert_eq!(found(t), vec!["Node stack trace"]);
        assert_eq!(
            first_frame(t),
            "(first frame: at Object.<anonymous> (/app/index.js:3:5))"
        );
        let bare = "Error: boom\n    at /srv/handler.mjs:10:11\n";
        assert_eq!(found(bare), vec!["Node stack trace"]);
    }

    #[test]
    fn rust() {
        let t = "thread 'main' panicked at src/main.rs:3:5:\nindex out of bounds\nnote: run with `RUST_BACKTRACE=1` environment variable to display a backtrace\n";
        assert_eq!(found(t), vec!["Rust panic"]);
        assert_eq!(
            first_frame(t),
            "(first frame: thread 'main' panicked at src/main.rs:3:5)"
        );
        let old = "thread 'tokio-runtime-worker' panicked at 'called `Option::unwrap()` on a `None` value', src/lib.rs:10:22";
        assert_eq!(found(old), vec!["Rust panic"]);
        let bt = "stack backtrace:\n   0: rust_begin_unwind\n             at /rustc/abc/library/std/src/panicking.rs:645:5\n   1: core::panicking::panic_fmt\n";
        assert_eq!(found(bt), vec!["Rust backtrace"]);
    }

    #[test]
    fn go() {
        let t = "panic: runtime error: index out of range [5] with length 3\n\ngoroutine 1 [running]:\nmain.main()\n\t/tmp/sandbox/prog.go:8 +0x1d\nexit status 2\n";
        assert_eq!(found(t), vec!["Go panic trace"]);
        assert_eq!(
            first_frame(t),
            "(first frame: /tmp/sandbox/prog.go:8 +0x1d)"
        );
    }

    #[test]
    fn dotnet() {
        let t = "Unhandled exception. System.InvalidOperationException: Sequence contains no elements\n   at System.Linq.ThrowHelper.ThrowNoElementsException()\n   at Acme.Api.OrderController.Get(Int32 id) in C:\\src\\Acme.Api\\OrderController.cs:line 12\n";
        assert_eq!(found(t), vec![".NET stack trace"]);
        assert_eq!(
            first_frame(t),
            "(first frame: at System.Linq.ThrowHelper.ThrowNoElementsException())"
        );
    }

    #[test]
    fn php() {
        let fatal = "<br />\n<b>Fatal error</b>:  Uncaught Error: Call to undefined function foo() in /var/www/html/index.php:3\nStack trace:\n#0 {main}\n  thrown in <b>/var/www/html/index.php</b> on line <b>3</b><br />\n";
        assert_eq!(found(fatal), vec!["PHP error", "PHP stack trace"]);
        let plain = "PHP Fatal error:  Allowed memory size exhausted in /srv/a.php on line 88";
        assert_eq!(found(plain), vec!["PHP error"]);
        let stack = "Stack trace:\n#0 /var/www/app/Db.php(12): PDO->__construct()\n#1 {main}";
        assert_eq!(found(stack), vec!["PHP stack trace"]);
    }

    #[test]
    fn prose_and_lone_fragments_are_not_traces() {
        for text in [
            "A traceback is what Python prints when an exception is not caught: it starts with \"Traceback (most recent call last):\" and lists the frames.",
            "At the end of the day, we met at noon at the station.\n    at home (in the evening)",
            "Traceback (most recent call last):\nthat is how it begins.",
            "File \"notes.txt\", line 3 is where the typo is.",
            "  File \"a.py\", line 3, in <module>\n(no header above it)",
            "The panic: nothing. The goroutine ran fine.",
            "TypeError: a string was expected.\nAt least that is what it said.",
            "Exception handling in Java uses try/catch; a frame looks like at com.foo.Bar.m(Bar.java:12) in a trace.",
            "See src/main.rs:3:5 for the function.",
            "Warning: read the docs in index.php first.",
            "Errors: none. Stack trace: none.",
            "Use `RUST_BACKTRACE=1` to get a stack backtrace.",
        ] {
            assert!(found(text).is_empty(), "{text:?}: {:?}", found(text));
        }
    }

    #[test]
    fn allow_languages() {
        assert!(run("- no_stack_trace: {allow: [python]}\n", PYTHON).passed);
        assert!(!run("- no_stack_trace: {allow: [go]}\n", PYTHON).passed);
        assert!(!run("- no_stack_trace\n", PYTHON).passed);
        assert!(run("- no_stack_trace\n", "All good.").passed);
        let errs = crate::check::testutil::errors("- no_stack_trace: {allow: [pyhton]}\n");
        assert!(errs[0].contains("unknown stack trace language"), "{errs:?}");
    }

    #[test]
    fn explanation() {
        insta::assert_snapshot!(explain("- no_stack_trace\n", PYTHON));
    }
}

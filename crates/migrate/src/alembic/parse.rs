//! Reads an Alembic revision file without running Python: the module-level
//! assignments of `revision`, `down_revision`, `branch_labels` and
//! `depends_on`, plain or annotated, with any string quoting.

use std::path::Path;

/// A value as written in the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PyValue {
    None,
    Str(String),
    /// A tuple or list of strings.
    Seq(Vec<String>),
    /// Anything else (a name, a call, an f-string…), with its source text.
    Other(String),
}

/// One module-level assignment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Assignment {
    pub name: String,
    pub value: PyValue,
    /// 1-based line of the assignment.
    pub line: usize,
}

/// Module-level `NAME [: ANNOTATION] = VALUE` statements, in order.
#[cfg(test)]
pub(crate) fn assignments(text: &str) -> Vec<Assignment> {
    module(text).0
}

/// The module's assignments and the first line of its docstring, in one pass.
pub(crate) fn module(text: &str) -> (Vec<Assignment>, String) {
    let lines = logical_lines(text);
    let doc = lines
        .first()
        .and_then(|l| match parse_value(&l.text) {
            PyValue::Str(s) => s.trim().lines().next().map(str::to_string),
            _ => None,
        })
        .unwrap_or_default();
    (assignments_in(lines), doc)
}

fn assignments_in(lines: Vec<LogicalLine>) -> Vec<Assignment> {
    let mut out = Vec::new();
    for stmt in lines {
        let s = stmt.text.as_str();
        let name_len = s
            .char_indices()
            .find(|&(i, c)| !(c == '_' || c.is_alphanumeric() || (i > 0 && c.is_ascii_digit())))
            .map_or(s.len(), |(i, _)| i);
        if name_len == 0 || s.as_bytes()[0].is_ascii_digit() {
            continue;
        }
        let name = &s[..name_len];
        let mut rest = s[name_len..].trim_start();
        if let Some(after) = rest.strip_prefix(':') {
            // An annotation runs to the top-level `=`.
            match top_level_eq(after) {
                Some(i) => rest = &after[i..],
                None => continue,
            }
        }
        let Some(value) = rest.strip_prefix('=') else {
            continue;
        };
        if value.starts_with('=') {
            continue;
        }
        out.push(Assignment {
            name: name.to_string(),
            value: parse_value(value.trim()),
            line: stmt.line,
        });
    }
    out
}

struct LogicalLine {
    text: String,
    line: usize,
}

/// Joins physical lines into module-level statements: brackets, strings
/// (triple-quoted too) and `\` continuations keep a statement open; comments
/// and indented statements are dropped. Strings are kept verbatim so values
/// can be parsed afterwards. Works on bytes: every token that matters is ASCII.
fn logical_lines(text: &str) -> Vec<LogicalLine> {
    let b = text.as_bytes();
    let mut out = Vec::new();
    let mut current: Vec<u8> = Vec::new();
    let mut start_line = 1;
    let mut line = 1;
    let mut depth = 0usize;
    let mut at_line_start = true;
    let mut keep = true;
    let mut i = 0;
    let flush =
        |current: &mut Vec<u8>, out: &mut Vec<LogicalLine>, start_line: usize, keep: bool| {
            if keep {
                let t = String::from_utf8_lossy(current);
                let t = t.trim();
                if t.contains(';') {
                    // `a = 1; b = 2` on one line.
                    for part in split_semicolons(t) {
                        out.push(LogicalLine {
                            text: part,
                            line: start_line,
                        });
                    }
                } else if !t.is_empty() {
                    out.push(LogicalLine {
                        text: t.to_string(),
                        line: start_line,
                    });
                }
            }
            current.clear();
        };
    while i < b.len() {
        let c = b[i];
        if at_line_start {
            match c {
                b' ' | b'\t' | b'\x0c' | b'\r' => {
                    i += 1;
                    continue;
                }
                b'\n' => {
                    line += 1;
                    i += 1;
                    continue;
                }
                b'#' => {
                    while i < b.len() && b[i] != b'\n' {
                        i += 1;
                    }
                    continue;
                }
                _ => {}
            }
            at_line_start = false;
            keep = i == 0 || b[i - 1] == b'\n';
            start_line = line;
        }
        match c {
            b'#' => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
                continue;
            }
            b'\\' if b.get(i + 1) == Some(&b'\n') => {
                if keep {
                    current.push(b' ');
                }
                line += 1;
                i += 2;
                continue;
            }
            b'(' | b'[' | b'{' => depth += 1,
            b')' | b']' | b'}' => depth = depth.saturating_sub(1),
            b'\'' | b'"' => {
                let triple = b.get(i + 1) == Some(&c) && b.get(i + 2) == Some(&c);
                let quote_len = if triple { 3 } else { 1 };
                let start = i;
                i += quote_len;
                while i < b.len() {
                    let d = b[i];
                    if d == b'\\' && i + 1 < b.len() {
                        if b[i + 1] == b'\n' {
                            line += 1;
                        }
                        i += 2;
                        continue;
                    }
                    if d == b'\n' {
                        line += 1;
                        if !triple {
                            break;
                        }
                    }
                    if d == c && (!triple || (b.get(i + 1) == Some(&c) && b.get(i + 2) == Some(&c)))
                    {
                        i += quote_len;
                        break;
                    }
                    i += 1;
                }
                if keep {
                    current.extend_from_slice(&b[start..i.min(b.len())]);
                }
                continue;
            }
            b'\n' => {
                line += 1;
                if depth == 0 {
                    flush(&mut current, &mut out, start_line, keep);
                    at_line_start = true;
                } else if keep {
                    current.push(b' ');
                }
                i += 1;
                continue;
            }
            _ => {}
        }
        if keep {
            current.push(c);
        }
        i += 1;
    }
    flush(&mut current, &mut out, start_line, keep);
    out
}

/// Splits on `;` outside strings and brackets.
fn split_semicolons(stmt: &str) -> Vec<String> {
    let mut parts = Vec::new();
    let mut depth = 0usize;
    let mut quote: Option<char> = None;
    let mut start = 0;
    let mut escaped = false;
    for (i, c) in stmt.char_indices() {
        if let Some(q) = quote {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == q {
                quote = None;
            }
            continue;
        }
        match c {
            '\'' | '"' => quote = Some(c),
            '(' | '[' | '{' => depth += 1,
            ')' | ']' | '}' => depth = depth.saturating_sub(1),
            ';' if depth == 0 => {
                parts.push(stmt[start..i].trim().to_string());
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(stmt[start..].trim().to_string());
    parts.retain(|p| !p.is_empty());
    parts
}

/// Index of the first `=` (not `==`) outside brackets and strings.
fn top_level_eq(s: &str) -> Option<usize> {
    let mut depth = 0usize;
    let mut quote: Option<char> = None;
    let bytes: Vec<char> = s.chars().collect();
    let mut offset = 0;
    for (k, &c) in bytes.iter().enumerate() {
        if let Some(q) = quote {
            if c == q {
                quote = None;
            }
        } else {
            match c {
                '\'' | '"' => quote = Some(c),
                '(' | '[' | '{' => depth += 1,
                ')' | ']' | '}' => depth = depth.saturating_sub(1),
                '=' if depth == 0
                    && bytes.get(k + 1) != Some(&'=')
                    && (k == 0 || !"=!<>".contains(bytes[k - 1])) =>
                {
                    return Some(offset);
                }
                _ => {}
            }
        }
        offset += c.len_utf8();
    }
    None
}

/// Parses a literal: `None`, strings (prefixes r/u, any quotes, implicit
/// concatenation), tuples and lists of strings; anything else is `Other`.
fn parse_value(src: &str) -> PyValue {
    let mut p = Parser {
        s: src.chars().collect(),
        i: 0,
    };
    let value = p.value_or_bare_tuple();
    p.skip_ws();
    match value {
        Some(v) if p.i == p.s.len() => v,
        _ => PyValue::Other(src.to_string()),
    }
}

struct Parser {
    s: Vec<char>,
    i: usize,
}

impl Parser {
    fn skip_ws(&mut self) {
        while self.i < self.s.len() && self.s[self.i].is_whitespace() {
            self.i += 1;
        }
    }

    fn peek(&self) -> Option<char> {
        self.s.get(self.i).copied()
    }

    /// `"a", "b"` without brackets is a tuple too.
    fn value_or_bare_tuple(&mut self) -> Option<PyValue> {
        let first = self.value()?;
        self.skip_ws();
        if self.peek() != Some(',') {
            return Some(first);
        }
        let PyValue::Str(first) = first else {
            return None;
        };
        let mut items = vec![first];
        while self.peek() == Some(',') {
            self.i += 1;
            self.skip_ws();
            if self.i == self.s.len() {
                break;
            }
            items.push(self.string()?);
            self.skip_ws();
        }
        Some(PyValue::Seq(items))
    }

    fn value(&mut self) -> Option<PyValue> {
        self.skip_ws();
        match self.peek()? {
            '(' | '[' => {
                let close = if self.peek() == Some('(') { ')' } else { ']' };
                self.i += 1;
                let mut items = Vec::new();
                let mut saw_comma = false;
                loop {
                    self.skip_ws();
                    if self.peek() == Some(close) {
                        self.i += 1;
                        break;
                    }
                    items.push(self.string()?);
                    self.skip_ws();
                    match self.peek()? {
                        ',' => {
                            saw_comma = true;
                            self.i += 1;
                        }
                        c if c == close => {
                            self.i += 1;
                            break;
                        }
                        _ => return None,
                    }
                }
                // `("a")` is just a parenthesised string.
                if close == ')' && items.len() == 1 && !saw_comma {
                    return items.pop().map(PyValue::Str);
                }
                Some(PyValue::Seq(items))
            }
            _ if self.s[self.i..].starts_with(&['N', 'o', 'n', 'e']) => {
                self.i += 4;
                let next = self.peek();
                if next.is_some_and(|c| c.is_alphanumeric() || c == '_') {
                    return None;
                }
                Some(PyValue::None)
            }
            _ => self.string().map(PyValue::Str),
        }
    }

    /// One or more adjacent string literals, concatenated.
    fn string(&mut self) -> Option<String> {
        let mut out = String::new();
        let mut any = false;
        loop {
            self.skip_ws();
            let start = self.i;
            let mut raw = false;
            while let Some(c) = self.peek() {
                match c {
                    'r' | 'R' => raw = true,
                    'u' | 'U' => {}
                    _ => break,
                }
                self.i += 1;
            }
            let Some(q) = self.peek().filter(|c| *c == '\'' || *c == '"') else {
                self.i = start;
                break;
            };
            if self.i - start > 2 {
                self.i = start;
                break;
            }
            let triple = self.s.get(self.i + 1) == Some(&q) && self.s.get(self.i + 2) == Some(&q);
            let n = if triple { 3 } else { 1 };
            self.i += n;
            loop {
                let c = self.peek()?;
                if c == '\\' && !raw {
                    let e = *self.s.get(self.i + 1)?;
                    self.i += 2;
                    match e {
                        'n' => out.push('\n'),
                        't' => out.push('\t'),
                        '\\' => out.push('\\'),
                        '\'' => out.push('\''),
                        '"' => out.push('"'),
                        '\n' => {}
                        other => {
                            out.push('\\');
                            out.push(other);
                        }
                    }
                    continue;
                }
                if c == '\\' && raw {
                    out.push(c);
                    if let Some(&e) = self.s.get(self.i + 1) {
                        out.push(e);
                    }
                    self.i += 2;
                    continue;
                }
                if c == q
                    && (!triple
                        || (self.s.get(self.i + 1) == Some(&q)
                            && self.s.get(self.i + 2) == Some(&q)))
                {
                    self.i += n;
                    break;
                }
                out.push(c);
                self.i += 1;
            }
            any = true;
        }
        any.then_some(out)
    }
}

/// Alembic's own rule for which files in a versions folder are scripts:
/// `(?!\.#|__init__)(.*\.py)$` (no `.pyc` unless sourceless).
pub(crate) fn is_script_name(path: &Path) -> bool {
    let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
        return false;
    };
    name.ends_with(".py") && !name.starts_with(".#") && !name.starts_with("__init__")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(text: &str) -> Vec<(String, PyValue, usize)> {
        assignments(text)
            .into_iter()
            .map(|a| (a.name, a.value, a.line))
            .collect()
    }

    #[test]
    fn reads_plain_annotated_and_quoted_forms() {
        let text = r#""""Add chat threads

Revision ID: ab12cd34
revision = "not this one"
"""
from typing import Sequence, Union

from alembic import op

# revision identifiers, used by Alembic.
revision: str = 'ab12cd34'
down_revision: Union[str, Sequence[str], None] = (
    "0001",  # first parent
    '''0002''',
)
branch_labels = None
depends_on: str | None = r"ext" "ra"
x = 1; y = "two"

def upgrade() -> None:
    revision = "inner"
    op.execute("SELECT 1")
"#;
        let got = values(text);
        let pick = |n: &str| got.iter().find(|(name, _, _)| name == n).cloned().unwrap();
        assert_eq!(
            pick("revision"),
            ("revision".into(), PyValue::Str("ab12cd34".into()), 11)
        );
        assert_eq!(
            pick("down_revision").1,
            PyValue::Seq(vec!["0001".into(), "0002".into()])
        );
        assert_eq!(pick("down_revision").2, 12);
        assert_eq!(pick("branch_labels").1, PyValue::None);
        assert_eq!(pick("depends_on").1, PyValue::Str("extra".into()));
        assert_eq!(pick("y").1, PyValue::Str("two".into()));
        assert_eq!(got.iter().filter(|(n, _, _)| n == "revision").count(), 1);
    }

    #[test]
    fn non_literals_are_reported_as_such() {
        let got = values(
            "branch_labels = (cli.EXPAND_BRANCH,)\nrevision = f'{x}'\ndown_revision = ['a', 'b']\nd = 'a',\n",
        );
        assert_eq!(got[0].1, PyValue::Other("(cli.EXPAND_BRANCH,)".into()));
        assert!(matches!(got[1].1, PyValue::Other(_)));
        assert_eq!(got[2].1, PyValue::Seq(vec!["a".into(), "b".into()]));
        assert_eq!(got[3].1, PyValue::Seq(vec!["a".into()]));
    }

    #[test]
    fn script_names() {
        assert!(is_script_name(Path::new("v/ab12_add.py")));
        assert!(!is_script_name(Path::new("v/__init__.py")));
        assert!(!is_script_name(Path::new("v/.#ab12.py")));
        assert!(!is_script_name(Path::new("v/README")));
        assert!(!is_script_name(Path::new("v/ab12.pyc")));
    }
}

#[cfg(test)]
mod fuzz {
    use super::*;
    use proptest::prelude::*;

    /// Python-ish fragments, so generated text often looks like a revision file.
    fn pythonish() -> impl Strategy<Value = String> {
        let atom = prop_oneof![
            Just("revision = ".to_string()),
            Just("down_revision = ".to_string()),
            Just("branch_labels = ".to_string()),
            Just("depends_on = ".to_string()),
            Just("'abc'".to_string()),
            Just("\"\"\"doc\n".to_string()),
            Just("'''".to_string()),
            Just("(".to_string()),
            Just(")".to_string()),
            Just("[".to_string()),
            Just("]".to_string()),
            Just(", ".to_string()),
            Just("\\\n".to_string()),
            Just("# comment\n".to_string()),
            Just("def upgrade():\n    ".to_string()),
            Just("f'{x}'".to_string()),
            Just("r'raw'".to_string()),
            Just("\n".to_string()),
            "[ -~]{0,10}",
            "\\PC{0,4}",
        ];
        prop::collection::vec(atom, 0..40).prop_map(|parts| parts.concat())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn the_reader_never_panics(text in pythonish()) {
            let _ = module(&text);
            let _ = assignments(&text);
        }
    }
}

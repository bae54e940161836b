//! Migration lint: the rules of the squawk linter (`squawk-linter`, a
//! maintained Rust library; Preflight writes none of its own) over the SQL
//! a release will run, each violation placed at its file, line and column
//! and judged blocking or warning by the environment's policy.
//!
//! Main types: [`LintPolicy`] (which rules block, the PostgreSQL version to
//! assume), [`lint`] over one text, and [`Violation`].
//!
//! ```
//! use preflight_lint::{LintPolicy, Verdict, lint};
//!
//! let policy = LintPolicy::blocking(["require-concurrent-index-creation"]).unwrap();
//! let found = lint("001_idx.sql".as_ref(), "CREATE INDEX i ON t (a);\n", &policy);
//! let blocking: Vec<_> = found.iter().filter(|v| v.verdict == Verdict::Block).collect();
//! assert_eq!(blocking[0].rule, "require-concurrent-index-creation");
//! assert_eq!((blocking[0].line, blocking[0].column), (1, 1));
//! ```

#![deny(missing_docs)]

use std::path::{Path, PathBuf};

use serde::Serialize;

/// Whether a violation stops a release.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// The environment blocks this rule: the release stops before the freeze.
    Block,
    /// Reported, the release goes on.
    Warn,
}

/// One rule broken at one place.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Violation {
    /// The file (or where the SQL came from, e.g. Alembic's offline SQL).
    pub path: PathBuf,
    /// 1-based line.
    pub line: usize,
    /// 1-based column, in characters.
    pub column: usize,
    /// How many characters the violation spans on its first line.
    pub width: usize,
    /// The squawk rule (`require-concurrent-index-creation`).
    pub rule: String,
    /// What is wrong.
    pub message: String,
    /// How to do it safely, when squawk says.
    pub help: Option<String>,
    /// Block or warn.
    pub verdict: Verdict,
    /// The source line, for carets.
    pub source_line: String,
}

/// Which rules block and what server to assume.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LintPolicy {
    /// Rules whose violations block (squawk names); every other rule warns.
    pub block: Vec<String>,
    /// `major.minor` of the server, when known (`15.4`): rules that depend
    /// on the version (a fast `ADD COLUMN … DEFAULT` from 11) use it.
    pub pg_version: Option<String>,
}

impl LintPolicy {
    /// A policy blocking `rules`; an unknown rule name is an error naming it.
    pub fn blocking<'a>(rules: impl IntoIterator<Item = &'a str>) -> Result<LintPolicy, String> {
        let block: Vec<String> = rules.into_iter().map(str::to_string).collect();
        for rule in &block {
            check_rule(rule)?;
        }
        Ok(LintPolicy {
            block,
            pg_version: None,
        })
    }
}

/// Whether `name` is a squawk rule; the error lists the rules.
pub fn check_rule(name: &str) -> Result<(), String> {
    name.parse::<squawk_linter::Rule>()
        .map(|_| ())
        .map_err(|_| {
            format!(
                "`{name}` is not a squawk rule (expected one of: {})",
                rule_names().join(", ")
            )
        })
}

/// Every rule squawk knows, by name.
pub fn rule_names() -> Vec<String> {
    let mut names: Vec<String> = enum_iterator::all::<squawk_linter::Rule>()
        .map(|r| r.to_string())
        .collect();
    names.sort();
    names
}

/// Lints `sql` (the text of `path`) with squawk's default rules; squawk's
/// own `-- squawk-ignore` comments are honoured. Violations come in file
/// order.
pub fn lint(path: &Path, sql: &str, policy: &LintPolicy) -> Vec<Violation> {
    let file = squawk_syntax::SourceFile::parse(sql);
    let mut linter = squawk_linter::Linter::with_default_rules();
    if let Some(version) = policy
        .pg_version
        .as_deref()
        .and_then(|v| v.parse::<squawk_linter::Version>().ok())
    {
        linter.settings.pg_version = version;
    }
    let found = linter.lint(&file, sql);
    found
        .into_iter()
        .map(|v| {
            let start = usize::from(v.text_range.start()).min(sql.len());
            let end = usize::from(v.text_range.end()).min(sql.len()).max(start);
            let line_start = sql[..start].rfind('\n').map_or(0, |i| i + 1);
            let line_end = sql[start..].find('\n').map_or(sql.len(), |i| start + i);
            let rule = v.code.to_string();
            Violation {
                path: path.to_path_buf(),
                line: sql[..start].matches('\n').count() + 1,
                column: sql[line_start..start].chars().count() + 1,
                width: sql[start..end.min(line_end)].chars().count().max(1),
                verdict: if policy.block.contains(&rule) {
                    Verdict::Block
                } else {
                    Verdict::Warn
                },
                rule,
                message: v.message,
                help: v.help,
                source_line: sql[line_start..line_end].to_string(),
            }
        })
        .collect()
}

impl Violation {
    /// The violation as rustc-style text: the place, the rule, the source
    /// line with carets, and the help.
    pub fn render(&self) -> String {
        use annotate_snippets::{AnnotationKind, Level, Renderer, Snippet};
        let level = match self.verdict {
            Verdict::Block => Level::ERROR,
            Verdict::Warn => Level::WARNING,
        };
        let text = self.source_line.as_str();
        let byte = |n: usize| text.char_indices().nth(n).map_or(text.len(), |(i, _)| i);
        let start = self.column.saturating_sub(1);
        let path = self.path.display().to_string();
        let mut group = level
            .primary_title(self.message.as_str())
            .id(self.rule.as_str())
            .element(
                Snippet::source(text)
                    .line_start(self.line)
                    .path(path.as_str())
                    .annotation(
                        AnnotationKind::Primary.span(byte(start)..byte(start + self.width)),
                    ),
            );
        if let Some(help) = &self.help {
            group = group.element(Level::HELP.message(help.as_str()));
        }
        let mut out = Renderer::plain().render(&[group]);
        out.push('\n');
        out
    }
}

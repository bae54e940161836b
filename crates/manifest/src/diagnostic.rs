//! Problems found in a file, with where they are and how to fix them.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde::Serialize;

/// A 1-based line and column (in characters), with the byte offset where known.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Pos {
    pub line: usize,
    pub column: usize,
    pub offset: Option<usize>,
}

impl Pos {
    pub const fn new(line: usize, column: usize) -> Self {
        Pos {
            line,
            column,
            offset: None,
        }
    }

    /// The position `chars` characters further along the same line.
    pub(crate) fn advance(self, chars: usize, bytes: usize) -> Self {
        Pos {
            line: self.line,
            column: self.column + chars,
            offset: self.offset.map(|o| o + bytes),
        }
    }
}

/// How bad a problem is: errors make a file invalid, warnings do not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        }
    }
}

/// Stable identifiers of the problems Preflight reports; tools may match on them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum Code {
    /// The file is not well-formed YAML.
    YamlSyntax,
    /// A mapping has the same key twice.
    DuplicateKey,
    /// A key this format does not know.
    UnknownKey,
    /// A required key is absent.
    MissingKey,
    /// A value of the wrong YAML type.
    WrongType,
    /// A template placeholder such as `<git-sha-or-tag>` was left in.
    Placeholder,
    /// `release_id` is not `YYYY-MM-DD-<env>` with a real date.
    InvalidReleaseId,
    /// The release is for another environment than the one asked for.
    EnvMismatch,
    /// A commit ref that is neither a full SHA nor a valid tag.
    InvalidCommit,
    /// An abbreviated commit SHA (may become ambiguous).
    ShortSha,
    /// A branch name, which moves, where a pinned ref was expected.
    MutableRef,
    /// An image reference that does not parse.
    InvalidImage,
    /// An image with no tag or with `latest`.
    MutableImageTag,
    /// An image tagged with a commit SHA other than the module's pinned commit.
    ImageCommitMismatch,
    /// A module with images or migrations but no pinned commit.
    MissingCommit,
    /// A migration entry that is not `kind:name` of a known kind.
    InvalidMigration,
    /// A feature flag whose value is not a boolean, string or number.
    InvalidFlag,
    /// A section that is present but empty.
    EmptySection,
    /// A value that is not valid where it stands (an identifier, URL, reference…).
    InvalidValue,
    /// A reference to something that is not defined elsewhere in the file.
    UndefinedReference,
    /// A manifest names a module (commit, image or migrations) the platform config does not define.
    UnknownModule,
    /// A migration pin whose form does not fit the module's flavour in the config.
    PinKindMismatch,
    /// A module migrates a database that the environment gives no URL for.
    MissingDatabaseUrl,
}

impl Code {
    pub fn as_str(self) -> &'static str {
        match self {
            Code::UnknownModule => "unknown-module",
            Code::PinKindMismatch => "pin-kind-mismatch",
            Code::MissingDatabaseUrl => "missing-database-url",
            Code::YamlSyntax => "yaml-syntax",
            Code::DuplicateKey => "duplicate-key",
            Code::UnknownKey => "unknown-key",
            Code::MissingKey => "missing-key",
            Code::WrongType => "wrong-type",
            Code::Placeholder => "placeholder",
            Code::InvalidReleaseId => "invalid-release-id",
            Code::EnvMismatch => "env-mismatch",
            Code::InvalidCommit => "invalid-commit",
            Code::ShortSha => "short-sha",
            Code::MutableRef => "mutable-ref",
            Code::InvalidImage => "invalid-image",
            Code::MutableImageTag => "mutable-image-tag",
            Code::ImageCommitMismatch => "image-commit-mismatch",
            Code::MissingCommit => "missing-commit",
            Code::InvalidMigration => "invalid-migration",
            Code::InvalidFlag => "invalid-flag",
            Code::EmptySection => "empty-section",
            Code::InvalidValue => "invalid-value",
            Code::UndefinedReference => "undefined-reference",
        }
    }
}

/// One problem in one file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    pub file: PathBuf,
    pub line: usize,
    pub column: usize,
    pub severity: Severity,
    pub code: Code,
    pub message: String,
    pub hint: Option<String>,
    /// How many characters the caret underline covers (at least one).
    #[serde(skip)]
    pub width: usize,
}

impl Diagnostic {
    pub(crate) fn new(
        file: &Path,
        pos: Pos,
        severity: Severity,
        code: Code,
        message: String,
    ) -> Self {
        Diagnostic {
            file: file.to_path_buf(),
            line: pos.line,
            column: pos.column,
            severity,
            code,
            message,
            hint: None,
            width: 1,
        }
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }

    /// Renders the problem the way rustc does: a header, the location, the
    /// source line with a caret under the column, and the hint.
    ///
    /// `source` is the file's text; without it the source line is left out.
    pub fn render(&self, source: Option<&str>) -> String {
        use annotate_snippets::{AnnotationKind, Level, Origin, Renderer, Snippet};
        let level = match self.severity {
            Severity::Error => Level::ERROR,
            Severity::Warning => Level::WARNING,
        };
        let path = self.file.display().to_string();
        let title = level
            .primary_title(self.message.as_str())
            .id(self.code.as_str());
        let shown = source
            .and_then(|s| s.lines().nth(self.line.saturating_sub(1)))
            .map(|text| {
                // Tabs would shift the caret; show them as single spaces. A
                // quoted source line must not leak a password in a URL.
                let text: String = text
                    .trim_end_matches('\r')
                    .chars()
                    .map(|c| if c == '\t' { ' ' } else { c })
                    .collect();
                redact_line(&text)
            });
        let mut group = match &shown {
            Some(text) => {
                let chars = text.chars().count();
                let start = self.column.saturating_sub(1).min(chars);
                let width = self.width.clamp(1, chars.saturating_sub(start).max(1));
                let byte = |n: usize| text.char_indices().nth(n).map_or(text.len(), |(i, _)| i);
                title.element(
                    Snippet::source(text.as_str())
                        .line_start(self.line)
                        .path(path.as_str())
                        .annotation(AnnotationKind::Primary.span(byte(start)..byte(start + width))),
                )
            }
            None => title.element(
                Origin::path(path.as_str())
                    .line(self.line)
                    .char_column(self.column),
            ),
        };
        if let Some(hint) = &self.hint {
            group = group.element(Level::HELP.message(hint.as_str()));
        }
        let mut out = Renderer::plain().render(&[group]);
        out.push('\n');
        out
    }
}

/// Replaces the password of every `scheme://user:password@` in a line with `***`.
pub(crate) fn redact_line(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut rest = line;
    while let Some(i) = rest.find("://") {
        let (head, tail) = rest.split_at(i + 3);
        out.push_str(head);
        let end = tail
            .find(|c: char| c.is_whitespace() || matches!(c, '"' | '\'' | ',' | ']' | '}'))
            .unwrap_or(tail.len());
        out.push_str(&crate::config::redact_authority(&tail[..end]));
        rest = &tail[end..];
    }
    out.push_str(rest);
    out
}

/// Renders several problems of one file, then a summary line.
pub fn render_diagnostics(diagnostics: &[Diagnostic], source: Option<&str>) -> String {
    let mut out = String::new();
    for d in diagnostics {
        out.push_str(&d.render(source));
        out.push('\n');
    }
    let errors = diagnostics.iter().filter(|d| d.is_error()).count();
    let warnings = diagnostics.len() - errors;
    if let Some(first) = diagnostics.first() {
        let _ = writeln!(
            out,
            "{}: {} error{}, {} warning{}",
            first.file.display(),
            errors,
            if errors == 1 { "" } else { "s" },
            warnings,
            if warnings == 1 { "" } else { "s" }
        );
    }
    out
}

/// Collects problems while a file is validated.
#[derive(Debug)]
pub(crate) struct Sink<'a> {
    pub file: &'a Path,
    pub items: Vec<Diagnostic>,
}

impl<'a> Sink<'a> {
    pub fn new(file: &'a Path) -> Self {
        Sink {
            file,
            items: Vec::new(),
        }
    }

    pub fn push(
        &mut self,
        pos: Pos,
        severity: Severity,
        code: Code,
        message: impl Into<String>,
    ) -> &mut Diagnostic {
        self.items.push(Diagnostic::new(
            self.file,
            pos,
            severity,
            code,
            message.into(),
        ));
        self.items.last_mut().expect("just pushed")
    }

    pub fn error(&mut self, pos: Pos, code: Code, message: impl Into<String>) -> &mut Diagnostic {
        self.push(pos, Severity::Error, code, message)
    }

    pub fn warning(&mut self, pos: Pos, code: Code, message: impl Into<String>) -> &mut Diagnostic {
        self.push(pos, Severity::Warning, code, message)
    }

    pub fn has_errors(&self) -> bool {
        self.items.iter().any(Diagnostic::is_error)
    }

    /// The problems, in file order.
    pub fn finish(mut self) -> Vec<Diagnostic> {
        self.items.sort_by_key(|a| (a.line, a.column));
        self.items
    }
}

impl Diagnostic {
    pub(crate) fn hint(&mut self, hint: impl Into<String>) -> &mut Self {
        self.hint = Some(hint.into());
        self
    }

    pub(crate) fn width(&mut self, width: usize) -> &mut Self {
        self.width = width.max(1);
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_lines_are_redacted() {
        assert_eq!(
            redact_line("  db: postgres://u:pw@h/db # x"),
            "  db: postgres://u:***@h/db # x"
        );
        assert_eq!(
            redact_line("url: https://h/x, 'redis://:tok@r:6379'"),
            "url: https://h/x, 'redis://:***@r:6379'"
        );
    }

    #[test]
    fn caret_sits_under_the_column() {
        let mut d = Diagnostic::new(
            Path::new("m.yaml"),
            Pos::new(2, 4),
            Severity::Error,
            Code::UnknownKey,
            "unknown key `imgs`".into(),
        );
        d.width(4).hint("did you mean `images`?");
        let text = d.render(Some("a: 1\nb: imgs\n"));
        assert_eq!(
            text,
            "error[unknown-key]: unknown key `imgs`\n --> m.yaml:2:4\n  |\n2 | b: imgs\n  |    ^^^^\n  |\n  = help: did you mean `images`?\n"
        );
    }
}

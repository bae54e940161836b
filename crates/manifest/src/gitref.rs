//! Commit references: what a manifest may pin a repository to.

use std::fmt;

use serde::Serialize;

/// A pinned git ref.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(tag = "kind", content = "value", rename_all = "snake_case")]
pub enum GitRef {
    /// A full object name: 40 hex digits (SHA-1) or 64 (SHA-256 repositories).
    Sha(String),
    /// An abbreviated SHA (7–39 hex digits); valid, but it can become ambiguous.
    ShortSha(String),
    /// A tag; semver-looking tags (`v1.4.2`) are valid semver.
    Tag(String),
}

impl GitRef {
    pub fn as_str(&self) -> &str {
        match self {
            GitRef::Sha(s) | GitRef::ShortSha(s) | GitRef::Tag(s) => s,
        }
    }
}

impl fmt::Display for GitRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a commit ref is not a pin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum GitRefProblem {
    /// A branch name: it moves, so it pins nothing.
    Branch,
    /// Looks like a version but is not semver.
    BadSemver(String),
    /// Not a valid ref name at all.
    Invalid(String),
}

/// Branch names teams use; a manifest pinning one pins nothing.
const BRANCH_NAMES: &[&str] = &[
    "HEAD",
    "main",
    "master",
    "develop",
    "development",
    "dev",
    "trunk",
    "staging",
    "stage",
    "prod",
    "production",
    "release",
    "next",
    "latest",
];

pub(crate) fn classify(text: &str) -> Result<GitRef, GitRefProblem> {
    let is_hex = !text.is_empty() && text.bytes().all(|b| b.is_ascii_hexdigit());
    if is_hex && (text.len() == 40 || text.len() == 64) {
        if text.bytes().any(|b| b.is_ascii_uppercase()) {
            return Err(GitRefProblem::Invalid(
                "git prints object names in lower case".to_string(),
            ));
        }
        return Ok(GitRef::Sha(text.to_string()));
    }
    if is_hex && (7..40).contains(&text.len()) {
        return Ok(GitRef::ShortSha(text.to_string()));
    }
    if is_hex && text.len() > 40 {
        return Err(GitRefProblem::Invalid(format!(
            "{} hex digits is neither a SHA-1 (40) nor a SHA-256 (64) object name",
            text.len()
        )));
    }
    if BRANCH_NAMES.contains(&text)
        || text.starts_with("refs/heads/")
        || text.starts_with("origin/")
    {
        return Err(GitRefProblem::Branch);
    }
    let tag = text.strip_prefix("refs/tags/").unwrap_or(text);
    check_ref_format(tag).map_err(GitRefProblem::Invalid)?;
    check_shell_safe(tag).map_err(GitRefProblem::Invalid)?;
    // `v1.4.2`, `1.4.2`, `mobius-os-v1.4` : the version part must be semver.
    let version = tag
        .rsplit_once(['-', '/'])
        .filter(|(_, v)| looks_like_version(v))
        .map(|(_, v)| v)
        .unwrap_or(tag);
    if looks_like_version(version) {
        let bare = version.strip_prefix('v').unwrap_or(version);
        if let Err(e) = semver::Version::parse(bare) {
            return Err(GitRefProblem::BadSemver(format!(
                "`{bare}` is not semver: {e}"
            )));
        }
    }
    Ok(GitRef::Tag(tag.to_string()))
}

fn looks_like_version(s: &str) -> bool {
    let bare = s.strip_prefix('v').unwrap_or(s);
    bare.starts_with(|c: char| c.is_ascii_digit()) && bare.contains('.')
}

/// A branch name as `branch:` gives it: git's ref rules, and shell-safe.
pub(crate) fn check_branch(name: &str) -> Result<(), String> {
    check_ref_format(name)?;
    check_shell_safe(name)
}

/// Git allows `;`, `$`, `{`, quotes and more in a ref name; a pin reaches
/// commands and build steps, so Preflight takes only the characters real
/// release tags use.
fn check_shell_safe(name: &str) -> Result<(), String> {
    match name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '/' | '+')))
    {
        Some(c) => Err(format!(
            "a pinned tag may hold only letters, digits, `.`, `_`, `-`, `/` and `+`, not {c:?}"
        )),
        None => Ok(()),
    }
}

/// The rules of `git check-ref-format` for one ref name.
fn check_ref_format(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("the ref is empty".into());
    }
    if let Some(c) = name.chars().find(|c| {
        c.is_control() || c.is_whitespace() || matches!(c, '~' | '^' | ':' | '?' | '*' | '[' | '\\')
    }) {
        return Err(format!("a git ref cannot contain {c:?}"));
    }
    if name.contains("..") || name.contains("@{") || name == "@" {
        return Err("a git ref cannot contain `..` or `@{`".into());
    }
    if name.starts_with(['/', '.', '-']) || name.ends_with(['/', '.']) || name.contains("//") {
        return Err(
            "a git ref cannot start with `/`, `.` or `-`, end with `/` or `.`, or contain `//`"
                .into(),
        );
    }
    if name.ends_with(".lock") || name.split('/').any(|c| c.starts_with('.')) {
        return Err("a git ref component cannot start with `.` or end with `.lock`".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies() {
        let sha = "0123456789abcdef0123456789abcdef01234567";
        assert_eq!(classify(sha), Ok(GitRef::Sha(sha.into())));
        assert_eq!(classify("abc1234"), Ok(GitRef::ShortSha("abc1234".into())));
        assert_eq!(classify("v1.4.2"), Ok(GitRef::Tag("v1.4.2".into())));
        assert_eq!(
            classify("mobius-os-v2.0.0-rc.1"),
            Ok(GitRef::Tag("mobius-os-v2.0.0-rc.1".into()))
        );
        assert_eq!(
            classify("release-2026-02"),
            Ok(GitRef::Tag("release-2026-02".into()))
        );
        assert_eq!(classify("main"), Err(GitRefProblem::Branch));
        assert!(matches!(classify("v1.4"), Err(GitRefProblem::BadSemver(_))));
        assert!(matches!(
            classify("bad tag"),
            Err(GitRefProblem::Invalid(_))
        ));
        assert!(matches!(classify("a..b"), Err(GitRefProblem::Invalid(_))));
        // Valid for git, but shell text: refused.
        for hostile in [
            "rel;{touch,PWNED};#",
            "v1$(id)",
            "a'b",
            "a\"b",
            "x|y",
            "x&y",
            "a`b`",
        ] {
            assert!(
                matches!(classify(hostile), Err(GitRefProblem::Invalid(_))),
                "{hostile}"
            );
        }
        assert_eq!(
            classify("v1.0.0+build.5"),
            Ok(GitRef::Tag("v1.0.0+build.5".into()))
        );
        assert!(matches!(
            classify(&"A".repeat(40)),
            Err(GitRefProblem::Invalid(_))
        ));
    }
}

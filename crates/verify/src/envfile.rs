//! `.env` parity: the keys of `.env.example` against an actual `.env`.
//! Values are read only to tell empty from set; they never leave this module.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use async_trait::async_trait;
use serde::Serialize;

use crate::Error;
use crate::probe::{Check, Probe, ProbeContext};

/// A parsed dotenv file: key → whether its value is non-empty, and the line
/// it is on. Values themselves are not kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvFile {
    pub path: PathBuf,
    pub keys: BTreeMap<String, EnvKey>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EnvKey {
    pub line: usize,
    pub has_value: bool,
}

impl EnvFile {
    pub fn load(path: &Path) -> Result<EnvFile, Error> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::Read {
            path: path.to_path_buf(),
            source,
        })?;
        EnvFile::parse(path, &text)
    }

    /// Parses `KEY=value` lines: `export ` prefixes, `#` comments, single
    /// and double quotes (which may span lines, as PEM keys do).
    pub fn parse(path: &Path, text: &str) -> Result<EnvFile, Error> {
        let mut keys = BTreeMap::new();
        let mut previous: Option<String> = None;
        let mut lines = text.lines().enumerate();
        while let Some((index, raw)) = lines.next() {
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let line = line.strip_prefix("export ").map_or(line, str::trim_start);
            let err = |column: usize, message: String| Error::Parse {
                path: path.to_path_buf(),
                line: index + 1,
                column,
                message,
            };
            // A line that is not `KEY=value` is most often the rest of the
            // value above it, unquoted over several lines: it may be a
            // secret, so the error names the line and the key above, never
            // the text.
            let after = || match &previous {
                Some(k) => {
                    format!("; if `{k}` (above) has a value over several lines, put it in quotes")
                }
                None => String::new(),
            };
            let Some((key, value)) = line.split_once('=') else {
                return Err(err(1, format!("expected KEY=value{}", after())));
            };
            let key = key.trim();
            let key_ok = key.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
                && key
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.');
            if !key_ok {
                return Err(err(
                    1,
                    format!("the text before `=` is not a variable name{}", after()),
                ));
            }
            previous = Some(key.to_string());
            let value = value.trim_start();
            let has_value = match value.chars().next() {
                Some(q @ ('"' | '\'')) => {
                    let mut body = value[1..].to_string();
                    while !closes(&body, q) {
                        match lines.next() {
                            Some((_, next)) => {
                                body.push('\n');
                                body.push_str(next);
                            }
                            None => {
                                return Err(err(
                                    raw.find(q).map_or(1, |c| c + 1),
                                    format!("the quoted value of `{key}` is never closed"),
                                ));
                            }
                        }
                    }
                    body.find(q).is_some_and(|end| end > 0)
                }
                _ => {
                    let unquoted = value.split(" #").next().unwrap_or("").trim();
                    !unquoted.is_empty() && !unquoted.starts_with('#')
                }
            };
            keys.insert(
                key.to_string(),
                EnvKey {
                    line: index + 1,
                    has_value,
                },
            );
        }
        Ok(EnvFile {
            path: path.to_path_buf(),
            keys,
        })
    }
}

fn closes(body: &str, quote: char) -> bool {
    let mut escaped = false;
    for c in body.chars() {
        match c {
            '\\' if quote == '"' && !escaped => escaped = true,
            c if c == quote && !escaped => return true,
            _ => escaped = false,
        }
    }
    false
}

/// How an actual env file differs from its example. Keys only, never values.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct EnvDiff {
    /// In the example, not in the actual file.
    pub missing: Vec<String>,
    /// In the actual file, not in the example.
    pub extra: Vec<String>,
    /// In both, but empty in the actual file.
    pub empty: Vec<String>,
}

impl EnvDiff {
    pub fn between(example: &EnvFile, actual: &EnvFile) -> EnvDiff {
        let mut diff = EnvDiff::default();
        for key in example.keys.keys() {
            match actual.keys.get(key) {
                None => diff.missing.push(key.clone()),
                Some(k) if !k.has_value => diff.empty.push(key.clone()),
                Some(_) => {}
            }
        }
        diff.extra = actual
            .keys
            .keys()
            .filter(|k| !example.keys.contains_key(*k))
            .cloned()
            .collect();
        diff
    }

    /// Missing or empty keys break a service; extra keys are only noted.
    pub fn is_ok(&self) -> bool {
        self.missing.is_empty() && self.empty.is_empty()
    }

    /// One line per difference, for reports.
    pub fn lines(&self) -> Vec<String> {
        let mut out = Vec::new();
        out.extend(self.missing.iter().map(|k| format!("missing: {k}")));
        out.extend(self.empty.iter().map(|k| format!("empty:   {k}")));
        out.extend(self.extra.iter().map(|k| format!("extra:   {k}")));
        out
    }
}

/// Compares two env files when it runs, so a fixed `.env` passes on retry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvParityProbe {
    pub example: PathBuf,
    pub actual: PathBuf,
}

#[async_trait]
impl Probe for EnvParityProbe {
    fn kind(&self) -> &'static str {
        "env_parity"
    }
    fn target(&self) -> String {
        format!("{} vs {}", self.example.display(), self.actual.display())
    }
    async fn check(&self, _cx: &ProbeContext) -> Check {
        let (example, actual) = match (EnvFile::load(&self.example), EnvFile::load(&self.actual)) {
            (Ok(e), Ok(a)) => (e, a),
            (Err(e), _) | (_, Err(e)) => {
                return Check::error(preflight_manifest::error_text(&e));
            }
        };
        let diff = EnvDiff::between(&example, &actual);
        let summary = format!(
            "{} missing, {} empty, {} extra of {} keys",
            diff.missing.len(),
            diff.empty.len(),
            diff.extra.len(),
            example.keys.len()
        );
        let check = if diff.is_ok() {
            Check::pass(summary)
        } else {
            Check::fail(summary)
        };
        check.with_evidence(diff.lines())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_dotenv_syntax_without_keeping_values() {
        let text = "# comment\nexport A=1\nB=\nC=\"multi\nline\"\nD='' \nE=x # note\nF= # only a comment\n";
        let f = EnvFile::parse(Path::new(".env"), text).unwrap();
        let has: Vec<(&str, bool)> = f
            .keys
            .iter()
            .map(|(k, v)| (k.as_str(), v.has_value))
            .collect();
        assert_eq!(
            has,
            [
                ("A", true),
                ("B", false),
                ("C", true),
                ("D", false),
                ("E", true),
                ("F", false)
            ]
        );
        assert_eq!(f.keys["E"].line, 7);
    }

    #[test]
    fn reports_bad_lines_with_position() {
        let e = EnvFile::parse(Path::new("x/.env"), "A=1\nnot a pair\n").unwrap_err();
        assert_eq!(
            e.to_string(),
            "x/.env:2:1: expected KEY=value; if `A` (above) has a value over several lines, put it in quotes"
        );
        // The text of a line (perhaps the rest of a secret) is never shown.
        let e = EnvFile::parse(
            Path::new(".env"),
            "TOKEN=first-half\nsecond-half-canary=x\n",
        )
        .unwrap_err();
        assert!(!e.to_string().contains("canary"), "{e}");
        let e = EnvFile::parse(Path::new(".env"), "TOKEN=first-half\nsecond-half-canary\n")
            .unwrap_err();
        assert!(!e.to_string().contains("canary"), "{e}");
        let e = EnvFile::parse(Path::new(".env"), "KEY=\"open\n").unwrap_err();
        assert_eq!(
            e.to_string(),
            ".env:1:5: the quoted value of `KEY` is never closed"
        );
    }
}

#[cfg(test)]
mod fuzz {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        /// Any text is read or refused, never a panic; a refusal never
        /// quotes a value.
        #[test]
        fn parse_never_panics_or_shows_a_value(lines in prop::collection::vec(prop_oneof![
            Just("KEY=secret-value-canary".to_string()),
            Just("export A=\"multi".to_string()),
            Just("line\"".to_string()),
            Just("B='x".to_string()),
            Just("secret-value-canary".to_string()),
            Just("=".to_string()),
            Just("# c".to_string()),
            "\\PC{0,20}",
        ], 0..8)) {
            let text = lines.join("\n");
            if let Err(e) = EnvFile::parse(Path::new(".env"), &text) {
                prop_assert!(!e.to_string().contains("secret-value-canary"), "{}", e);
            }
        }
    }
}

use std::io;
use std::path::PathBuf;

use crate::diagnostic::Diagnostic;

/// What can go wrong outside validation (validation problems are
/// [`Diagnostic`]s in a [`Checked`](crate::Checked), not errors).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    #[error("cannot read {}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("cannot write {}", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{} has {errors} error(s); fix them first", path.display())]
    Invalid { path: PathBuf, errors: usize },
    #[error("the promoted manifest would not be valid for `{env}`")]
    PromotedInvalid {
        env: String,
        diagnostics: Vec<Diagnostic>,
        /// The text that was produced, for rendering the diagnostics.
        source_text: String,
    },
    #[error("`{env}` is not a valid environment name (lower-case letters, digits and `-`)")]
    InvalidEnv { env: String },
    #[error("`{repo}` is not a repository of this platform")]
    UnknownRepo { repo: String },
    #[error("cannot run git in {}", dir.display())]
    GitSpawn {
        dir: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("git failed in {}: {stderr}", dir.display())]
    Git { dir: PathBuf, stderr: String },
    #[error("{} has uncommitted changes ({}); commit them or allow a dirty tree", dir.display(), files.join(", "))]
    DirtyCheckout { dir: PathBuf, files: Vec<String> },
}

/// An error and its causes on one line (`cannot connect: refused`), for
/// summaries. A cause whose text its parent already shows is left out, since
/// some libraries repeat their source in their own message.
pub fn error_text(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let s_text = s.to_string();
        if !text.contains(&s_text) {
            text.push_str(": ");
            text.push_str(&s_text);
        }
        source = s.source();
    }
    text
}

use std::path::PathBuf;

/// Why verification could not be set up. A probe that fails is not an
/// error: it is a result in the [`Report`](crate::Report).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    #[error("cannot read {}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot write {}", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A contract or dbt file that does not parse; the message names the
    /// file, line and column.
    #[error("{}:{line}:{column}: {message}", path.display())]
    Parse {
        path: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },
    #[error("{message}")]
    Invalid { message: String },
    #[error("cannot build the HTTP client")]
    HttpClient(#[source] reqwest::Error),
    /// A database query for a contract snapshot failed.
    #[error("cannot read the database for a contract snapshot")]
    Snapshot(#[source] sqlx::Error),
}

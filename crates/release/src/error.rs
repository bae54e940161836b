use std::io;
use std::path::PathBuf;

/// Everything that stops the engine before or outside a phase. A release
/// that started and failed a phase is not an error: it is a
/// [`crate::ReleaseLog`] with a failed status.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    #[error("cannot read {}", path.display())]
    /// A file could not be read.
    Read {
        /// The file or folder concerned.
        path: PathBuf,
        #[source]
        /// What went wrong underneath.
        source: io::Error,
    },
    #[error("cannot write {}", path.display())]
    /// A file could not be written.
    Write {
        /// The file or folder concerned.
        path: PathBuf,
        #[source]
        /// What went wrong underneath.
        source: io::Error,
    },
    #[error("cannot load {}", path.display())]
    /// The config or manifest could not be loaded.
    Load {
        /// The file or folder concerned.
        path: PathBuf,
        #[source]
        /// What went wrong underneath.
        source: Box<preflight_manifest::Error>,
    },
    /// The config has errors; `rendered` is every diagnostic, rustc-style.
    #[error("invalid platform config\n{rendered}")]
    InvalidConfig {
        /// Every diagnostic, rendered rustc-style.
        rendered: String,
    },
    /// The manifest has errors, alone or against the config.
    #[error("invalid release manifest\n{rendered}")]
    InvalidManifest {
        /// Every diagnostic, rendered rustc-style.
        rendered: String,
    },
    #[error("no {what} `{name}` in {} ({what}s: {})", config.display(), known.join(", "))]
    /// A name the config does not define.
    Unknown {
        /// What was being done or looked up.
        what: &'static str,
        /// Its name.
        name: String,
        /// The config file looked in.
        config: PathBuf,
        /// The names that do exist.
        known: Vec<String>,
    },
    #[error("module `{module}` {problem}")]
    /// A module cannot be resolved as configured.
    Module {
        /// The module concerned.
        module: String,
        /// What is wrong with it.
        problem: String,
    },
    #[error("database `{database}` in `{env}` {problem}")]
    /// A database cannot be reached as configured.
    Database {
        /// The database concerned.
        database: String,
        /// The environment.
        env: String,
        /// What is wrong with it.
        problem: String,
    },
    #[error("cannot start the local PostgreSQL cluster")]
    /// The local cluster would not start.
    LocalCluster(#[source] Box<preflight_migrate::Error>),
    #[error("{what}")]
    /// A migration library call failed.
    Migrate {
        /// What was being done or looked up.
        what: String,
        #[source]
        /// What went wrong underneath.
        source: Box<preflight_migrate::Error>,
    },
    #[error("{what}")]
    /// A Google Cloud call failed.
    Gcp {
        /// What was being done or looked up.
        what: String,
        #[source]
        /// What went wrong underneath.
        source: Box<preflight_gcp::Error>,
    },
    #[error("the checklist cannot be used")]
    /// The checklist could not be opened or archived.
    Checklist(#[source] Box<preflight_checklist::Error>),
    #[error("the probe runner cannot start")]
    /// The probe runner could not start.
    Verify(#[source] Box<preflight_verify::Error>),
    #[error("cannot take the release lock of `{env}`")]
    /// The release lock could not be taken.
    LockConnect {
        /// The environment.
        env: String,
        #[source]
        /// What went wrong underneath.
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The engine refuses: another release runs, a resume that cannot be
    /// honoured, a phase selection that would pass a guard.
    #[error("{0}")]
    Refused(String),
    #[error("cannot encode the release record")]
    /// The release record could not be encoded.
    Encode(#[source] serde_json::Error),
    #[error("cannot decode the release state {}", path.display())]
    /// The release state could not be read back.
    Decode {
        /// The file or folder concerned.
        path: PathBuf,
        #[source]
        /// What went wrong underneath.
        source: serde_json::Error,
    },
}

pub(crate) use preflight_migrate::error_text;

use std::io;
use std::path::PathBuf;

/// Everything that can go wrong reading or running migrations.
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
    #[error("{}: {reason}", path.display())]
    BadName { path: PathBuf, reason: String },
    #[error("{}:{line}: {reason}", path.display())]
    BadMigration {
        path: PathBuf,
        line: usize,
        reason: String,
    },
    #[error("cannot connect to the database")]
    Connect(#[source] sqlx::Error),
    #[error("interrupted{}; {}", running.as_ref().map(|v| format!(" while applying {v}, which was rolled back and not recorded")).unwrap_or_default(), if applied.is_empty() { "nothing was applied".to_string() } else { format!("applied before it: {}", applied.join(", ")) })]
    Interrupted {
        /// Applied and recorded before the interrupt.
        applied: Vec<String>,
        /// The migration that was running, cancelled on the server.
        running: Option<String>,
    },
    #[error(
        "{host} did not complete a connection within {secs} s (set PGCONNECT_TIMEOUT to wait longer)"
    )]
    ConnectTimeout { host: String, secs: u64 },
    #[error("database query failed: {context}")]
    Query {
        context: String,
        #[source]
        source: sqlx::Error,
    },
    #[error("another runner holds the migration lock (key {key}) on this database{}; gave up after {waited_secs}s", holder.as_ref().map(|h| format!(": {h}")).unwrap_or_default())]
    LockTimeout {
        key: i64,
        waited_secs: u64,
        holder: Option<String>,
    },
    #[error("refusing to migrate: {}", problems.join("; "))]
    Refused { problems: Vec<String> },
    #[error("{}:{line}: migration {version} failed: {message}", path.display())]
    MigrationFailed {
        version: String,
        path: PathBuf,
        /// Line in the file: the server's error position, else the line where
        /// the failing statement starts.
        line: usize,
        /// The server's message (with SQLSTATE).
        message: String,
    },
    #[error("cannot tell where the database stands: {detail}")]
    Unchecked { detail: String },
    #[error("after applying, the database is not at the target ({state}: {detail})")]
    NotAtTarget { state: &'static str, detail: String },
    #[error("no migration with version `{version}`")]
    UnknownTarget { version: String },
    #[error("version `{version}` is not in the ledger")]
    NotInLedger { version: String },
    #[error("`{name}` makes an empty migration name; use letters or digits")]
    BadMigrationName { name: String },
    #[error("`{key}` is not a valid artifact key (relative, `/`-separated, no `.` or `..` parts)")]
    BadKey { key: String },
    #[error("{uri} is corrupt: its SHA-256 is {actual}, {expected} was recorded")]
    ChecksumMismatch {
        uri: String,
        expected: String,
        actual: String,
    },
    #[error("pg_dump of database `{database}` failed: {stderr}")]
    Backup { database: String, stderr: String },
    #[error("pg_restore into database `{database}` failed: {stderr}")]
    Restore { database: String, stderr: String },
    #[error("{}:{line}: {message}", path.display())]
    AlembicScript {
        path: PathBuf,
        line: usize,
        message: String,
    },
    #[error("{message} ({})", files.iter().map(|(p, l)| format!("{}:{l}", p.display())).collect::<Vec<_>>().join(", "))]
    AlembicGraph {
        message: String,
        files: Vec<(PathBuf, usize)>,
    },
    #[error("cannot resolve Alembic target `{target}`: {reason}")]
    AlembicTarget { target: String, reason: String },
    #[error("alembic upgrade failed{}; alembic_version is now [{}]\n{output}", match (revision, path) { (Some(r), Some(p)) => format!(" in revision {r} ({})", p.display()), _ => String::new() }, now_at.join(", "))]
    AlembicFailed {
        revision: Option<String>,
        path: Option<PathBuf>,
        now_at: Vec<String>,
        /// The last lines of Alembic's output.
        output: String,
    },
    #[error("after the upgrade alembic_version holds [{}], expected [{}]", found.join(", "), expected.join(", "))]
    AlembicVersionMismatch {
        expected: Vec<String>,
        found: Vec<String>,
    },
    #[error("{}: script {name} failed\n{output}", path.display())]
    ScriptFailed {
        name: String,
        path: PathBuf,
        output: String,
    },
    #[error("cannot run {program}")]
    Spawn {
        program: String,
        #[source]
        source: io::Error,
    },
    #[error("{program} failed: {stderr}")]
    Command { program: String, stderr: String },
    #[error(
        "no PostgreSQL server binaries (initdb, pg_ctl) found on PATH or under /usr/lib/postgresql/*/bin; install Debian's `postgresql` package"
    )]
    NoPostgres,
    /// As root, the server runs as `user`, which cannot reach the project.
    #[error(
        "the local PostgreSQL server runs as `{user}`, which cannot reach {path} nor a folder of its own; run Preflight as an ordinary user, or let others search the project's parent folders (chmod o+x)"
    )]
    ServerCannotReach { user: String, path: PathBuf },
    /// A plugged-in artifact store (Cloud Storage…) failed; the cause says why.
    #[error("{location}: cannot {action}")]
    Store {
        location: String,
        action: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

//! Where migrations come from: ordered SQL directories and Supabase folders.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use async_trait::async_trait;
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::error::Error;

/// The first line that makes a migration run outside a transaction
/// (for `CREATE INDEX CONCURRENTLY` and the like).
pub const NO_TRANSACTION_MARKER: &str = "-- preflight:no-transaction";

/// One migration file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Migration {
    /// `001`, `20260201120000`.
    pub version: String,
    /// The descriptive part of the file name.
    pub name: String,
    pub path: PathBuf,
    #[serde(skip)]
    pub sql: String,
    /// SHA-256 (hex) of the file with line endings and a BOM normalised.
    pub checksum: String,
    pub no_transaction: bool,
}

impl Migration {
    pub fn from_file(version: String, name: String, path: PathBuf, raw: &str) -> Migration {
        let sql = normalise(raw);
        let no_transaction = sql
            .lines()
            .next()
            .is_some_and(|l| l.trim() == NO_TRANSACTION_MARKER);
        Migration {
            checksum: checksum(&sql),
            version,
            name,
            path,
            sql,
            no_transaction,
        }
    }
}

/// Drops a BOM and turns CRLF/CR into LF, so a Windows checkout is not "modified".
pub fn normalise(raw: &str) -> String {
    raw.strip_prefix('\u{feff}')
        .unwrap_or(raw)
        .replace("\r\n", "\n")
        .replace('\r', "\n")
}

/// SHA-256 of normalised text, as hex.
pub fn checksum(normalised: &str) -> String {
    let digest = Sha256::digest(normalised.as_bytes());
    let mut hex = String::with_capacity(64);
    for byte in digest {
        let _ = write!(hex, "{byte:02x}");
    }
    hex
}

/// A warning about a file a source skipped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Skipped {
    pub path: PathBuf,
    pub reason: String,
}

/// A place migrations come from, in the order they apply.
#[async_trait]
pub trait MigrationSource: Send + Sync {
    /// Every migration, in apply order, with warnings about skipped files.
    async fn list(&self) -> Result<(Vec<Migration>, Vec<Skipped>), Error>;
}

/// The ledger flavour a source's migrations are recorded in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SourceKind {
    /// `NNN_name.sql`, ordered by number; Preflight's ledger.
    Sql,
    /// `<digits>_<name>.sql` as the Supabase CLI reads them; its ledger.
    Supabase,
}

/// A directory of `NNN_name.sql` files (`db/schema/001_init.sql`).
#[derive(Debug, Clone)]
pub struct SqlDir {
    pub dir: PathBuf,
}

/// A Supabase `supabase/migrations` folder.
#[derive(Debug, Clone)]
pub struct SupabaseDir {
    pub dir: PathBuf,
}

fn read_dir(dir: &Path) -> Result<Vec<PathBuf>, Error> {
    let read_err = |source| Error::Read {
        path: dir.to_path_buf(),
        source,
    };
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(read_err)?
        .map(|e| e.map(|e| e.path()).map_err(read_err))
        .collect::<Result<_, _>>()?;
    paths.retain(|p| p.is_file());
    paths.sort();
    Ok(paths)
}

fn read(path: &Path) -> Result<String, Error> {
    std::fs::read_to_string(path).map_err(|source| Error::Read {
        path: path.to_path_buf(),
        source,
    })
}

#[async_trait]
impl MigrationSource for SqlDir {
    async fn list(&self) -> Result<(Vec<Migration>, Vec<Skipped>), Error> {
        let mut found: Vec<(u128, Migration)> = Vec::new();
        let mut skipped = Vec::new();
        for path in read_dir(&self.dir)? {
            let file = path
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default()
                .to_string();
            if !file.ends_with(".sql") {
                skipped.push(Skipped {
                    path,
                    reason: "not a .sql file".into(),
                });
                continue;
            }
            let stem = &file[..file.len() - 4];
            let bad = |reason: &str| Error::BadName {
                path: path.clone(),
                reason: reason.to_string(),
            };
            let (digits, name) = stem
                .split_once('_')
                .ok_or_else(|| bad("expected NNN_name.sql (a number, `_`, a name)"))?;
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad(
                    "expected NNN_name.sql: the name must start with a number",
                ));
            }
            if name.is_empty() {
                return Err(bad(
                    "expected NNN_name.sql: the name after the number is empty",
                ));
            }
            let number: u128 = digits.parse().map_err(|_| bad("the number is too large"))?;
            if let Some((_, other)) = found.iter().find(|(n, _)| *n == number) {
                return Err(Error::DuplicateVersion {
                    version: digits.to_string(),
                    first: other.path.clone(),
                    second: path,
                });
            }
            let raw = read(&path)?;
            found.push((
                number,
                Migration::from_file(digits.to_string(), name.to_string(), path, &raw),
            ));
        }
        found.sort_by_key(|(n, _)| *n);
        Ok((found.into_iter().map(|(_, m)| m).collect(), skipped))
    }
}

#[async_trait]
impl MigrationSource for SupabaseDir {
    async fn list(&self) -> Result<(Vec<Migration>, Vec<Skipped>), Error> {
        let mut found: Vec<Migration> = Vec::new();
        let mut skipped = Vec::new();
        for path in read_dir(&self.dir)? {
            let file = path
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default()
                .to_string();
            // ^([0-9]+)_(.*)\.sql$, as the CLI's migration.go reads them.
            let parsed = file.strip_suffix(".sql").and_then(|stem| {
                let (digits, name) = stem.split_once('_')?;
                (!digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()))
                    .then(|| (digits.to_string(), name.to_string()))
            });
            let Some((version, name)) = parsed else {
                skipped.push(Skipped {
                    path,
                    reason: "does not match <timestamp>_<name>.sql; the Supabase CLI skips it too"
                        .into(),
                });
                continue;
            };
            if let Some(other) = found.iter().find(|m| m.version == version) {
                return Err(Error::DuplicateVersion {
                    version,
                    first: other.path.clone(),
                    second: path,
                });
            }
            let raw = read(&path)?;
            found.push(Migration::from_file(version, name, path, &raw));
        }
        // Text ordering, as `ORDER BY version` on a text column.
        found.sort_by(|a, b| a.version.cmp(&b.version));
        Ok((found, skipped))
    }
}

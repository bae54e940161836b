//! Where migrations come from: ordered SQL directories and Supabase folders.

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
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut hex = String::with_capacity(64);
    for byte in digest {
        hex.push(HEX[usize::from(byte >> 4)] as char);
        hex.push(HEX[usize::from(byte & 0xf)] as char);
    }
    hex
}

/// A warning about a file a source skipped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Skipped {
    pub path: PathBuf,
    pub reason: String,
    /// Not a file Preflight may pass over (a broken or looping symlink, a
    /// folder named like a migration, a name that is not UTF-8): `status`
    /// reports it and `up` refuses while it is there.
    pub blocking: bool,
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

impl SourceKind {
    /// `sql` or `supabase`, as the config names the flavour.
    pub fn as_str(self) -> &'static str {
        match self {
            SourceKind::Sql => "sql",
            SourceKind::Supabase => "supabase",
        }
    }
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

fn read_dir(dir: &Path) -> Result<(Vec<PathBuf>, Vec<Skipped>), Error> {
    let read_err = |source| Error::Read {
        path: dir.to_path_buf(),
        source,
    };
    let mut paths = Vec::new();
    let mut unusable = Vec::new();
    let mut refuse = |path: PathBuf, reason: &str| {
        unusable.push(Skipped {
            path,
            reason: reason.to_string(),
            blocking: true,
        })
    };
    for entry in std::fs::read_dir(dir).map_err(read_err)? {
        let entry = entry.map_err(read_err)?;
        let path = entry.path();
        let Some(name) = entry.file_name().to_str().map(str::to_string) else {
            refuse(
                path,
                "its name is not UTF-8, so it cannot be ordered or recorded",
            );
            continue;
        };
        // The entry's type comes with the listing; only symlinks need a stat.
        match entry.file_type() {
            Ok(t) if t.is_symlink() => match std::fs::metadata(&path) {
                Ok(m) if m.is_file() => paths.push(path),
                Ok(_) if looks_like_migration(&name) => {
                    refuse(path, "a symlink named like a migration leads to a folder")
                }
                Ok(_) => {}
                Err(_) => refuse(path, "a symlink that leads nowhere (broken or looping)"),
            },
            Ok(t) if t.is_file() => paths.push(path),
            Ok(t) if t.is_dir() && looks_like_migration(&name) => {
                refuse(path, "a folder named like a migration")
            }
            Ok(_) => {}
            Err(_) => refuse(path, "its type cannot be read"),
        }
    }
    // One folder: byte order of the paths is the order of the names, without parsing components.
    paths.sort_by(|a, b| a.as_os_str().cmp(b.as_os_str()));
    unusable.sort_by(|a, b| a.path.cmp(&b.path));
    Ok((paths, unusable))
}

/// `<digits>_<name>.sql`, or anything ending in `.sql`.
fn looks_like_migration(name: &str) -> bool {
    name.ends_with(".sql")
        || name
            .split_once('_')
            .is_some_and(|(d, _)| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()))
}

/// Reads a whole file without the size-hint `stat` `read_to_string` makes:
/// at a thousand migrations those calls are a visible part of a no-op run.
pub(crate) fn read(path: &Path) -> Result<String, Error> {
    use std::io::Read as _;
    let err = |source| Error::Read {
        path: path.to_path_buf(),
        source,
    };
    let file = std::fs::File::open(path).map_err(err)?;
    let mut text = String::with_capacity(4096);
    (&file)
        .take(u64::MAX)
        .read_to_string(&mut text)
        .map_err(err)?;
    Ok(text)
}

/// Reads and hashes `(version, name, path)` files, in order, on all cores.
fn read_all(files: &[(String, String, PathBuf)]) -> Result<Vec<Migration>, Error> {
    par_map(files, |(version, name, path)| {
        let raw = read(path)?;
        Ok(Migration::from_file(
            version.clone(),
            name.clone(),
            path.clone(),
            &raw,
        ))
    })
}

/// Runs `f` on every item on all cores, keeping the order; the first error wins.
pub(crate) fn par_map<I: Sync, T: Send>(
    items: &[I],
    f: impl Fn(&I) -> Result<T, Error> + Sync,
) -> Result<Vec<T>, Error> {
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(8);
    if threads < 2 || items.len() < 64 {
        return items.iter().map(&f).collect();
    }
    let chunk = items.len().div_ceil(threads);
    let f = &f;
    std::thread::scope(|scope| {
        let handles: Vec<_> = items
            .chunks(chunk)
            .map(|part| scope.spawn(move || part.iter().map(f).collect::<Result<Vec<T>, Error>>()))
            .collect();
        let mut out = Vec::with_capacity(items.len());
        for h in handles {
            out.extend(h.join().expect("a reader thread panicked")?);
        }
        Ok(out)
    })
}

#[async_trait]
impl MigrationSource for SqlDir {
    async fn list(&self) -> Result<(Vec<Migration>, Vec<Skipped>), Error> {
        let mut found: Vec<(u128, String, String, PathBuf)> = Vec::new();
        // Number → index in `found`: duplicates found in linear time.
        let mut seen: std::collections::HashMap<u128, usize> = std::collections::HashMap::new();
        let mut skipped = Vec::new();
        let (paths, unusable) = read_dir(&self.dir)?;
        skipped.extend(unusable);
        for path in paths {
            let file = path
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default()
                .to_string();
            if !file.ends_with(".sql") {
                skipped.push(Skipped {
                    path,
                    reason: "not a .sql file".into(),
                    blocking: false,
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
            if let Some(&i) = seen.get(&number) {
                return Err(Error::DuplicateVersion {
                    version: digits.to_string(),
                    first: found[i].3.clone(),
                    second: path,
                });
            }
            seen.insert(number, found.len());
            found.push((number, digits.to_string(), name.to_string(), path.clone()));
        }
        found.sort_by_key(|(n, _, _, _)| *n);
        let named: Vec<(String, String, PathBuf)> =
            found.into_iter().map(|(_, v, n, p)| (v, n, p)).collect();
        Ok((read_all(&named)?, skipped))
    }
}

#[async_trait]
impl MigrationSource for SupabaseDir {
    async fn list(&self) -> Result<(Vec<Migration>, Vec<Skipped>), Error> {
        let mut found: Vec<(String, String, PathBuf)> = Vec::new();
        let mut seen: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
        let mut skipped = Vec::new();
        let (paths, unusable) = read_dir(&self.dir)?;
        skipped.extend(unusable);
        for path in paths {
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
                    blocking: false,
                });
                continue;
            };
            if let Some(&i) = seen.get(&version) {
                return Err(Error::DuplicateVersion {
                    first: found[i].2.clone(),
                    version,
                    second: path,
                });
            }
            seen.insert(version.clone(), found.len());
            found.push((version, name, path));
        }
        // Text ordering, as `ORDER BY version` on a text column.
        found.sort_by(|a, b| a.0.cmp(&b.0));
        Ok((read_all(&found)?, skipped))
    }
}

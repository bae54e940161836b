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
    /// What runs: the file, or a dbmate file's `-- migrate:up` block (the
    /// text before `-- migrate:down`, so line numbers stay the file's).
    #[serde(skip)]
    pub sql: String,
    /// SHA-256 (hex) of the file with line endings and a BOM normalised.
    pub checksum: String,
    pub no_transaction: bool,
}

impl Migration {
    /// A file of an SQL folder or script list. Besides Preflight's own
    /// marker it honours the no-transaction markers of the tools teams
    /// arrive from: sqlx (`-- no-transaction` first), dbmate
    /// (`-- migrate:up transaction:false`, and only the up block runs) and
    /// Atlas (`-- atlas:txmode none` in the header).
    pub fn from_file(
        version: String,
        name: String,
        path: PathBuf,
        raw: &str,
    ) -> Result<Migration, Error> {
        let text = normalise(raw);
        let checksum = checksum(&text);
        let (sql, dbmate_no_transaction) = match dbmate_up_block(&text, &path)? {
            Some((up, no_transaction)) => (up.to_string(), no_transaction),
            None => (text.clone(), false),
        };
        let no_transaction = dbmate_no_transaction
            || has_preflight_marker(&text)
            || text.starts_with("-- no-transaction")
            || atlas_txmode_none(&text);
        Ok(Migration {
            checksum,
            version,
            name,
            path,
            sql,
            no_transaction,
        })
    }

    /// A file of a Supabase folder: run as the CLI runs it, whole; only
    /// Preflight's own marker takes it out of the transaction.
    pub fn from_supabase_file(
        version: String,
        name: String,
        path: PathBuf,
        raw: &str,
    ) -> Migration {
        let sql = normalise(raw);
        Migration {
            checksum: checksum(&sql),
            no_transaction: has_preflight_marker(&sql),
            version,
            name,
            path,
            sql,
        }
    }
}

fn has_preflight_marker(sql: &str) -> bool {
    sql.lines()
        .next()
        .is_some_and(|l| l.trim() == NO_TRANSACTION_MARKER)
}

/// `-- atlas:txmode none` among the comment lines that open the file (Atlas
/// reads its directives from the file header).
fn atlas_txmode_none(sql: &str) -> bool {
    sql.lines()
        .map(str::trim)
        .take_while(|l| l.is_empty() || l.starts_with("--"))
        .filter_map(|l| l.strip_prefix("--"))
        .any(|d| {
            let mut words = d.split_whitespace();
            words.next() == Some("atlas:txmode") && words.next() == Some("none")
        })
}

/// A dbmate directive line (`-- migrate:up [options]`): its options, when
/// the line is one for `block`.
fn dbmate_directive<'a>(line: &'a str, block: &str) -> Option<&'a str> {
    let rest = line.strip_prefix("--")?.trim_start();
    let rest = rest.strip_prefix("migrate:")?.strip_prefix(block)?;
    (rest.is_empty() || rest.starts_with(char::is_whitespace)).then_some(rest.trim())
}

/// A dbmate file's up block (the text before `-- migrate:down`) and whether
/// its directive says `transaction:false`; `None` for a file without a
/// `-- migrate:up` line. Refused as dbmate refuses them: statements before
/// the up block, or the down block first.
fn dbmate_up_block<'a>(sql: &'a str, path: &Path) -> Result<Option<(&'a str, bool)>, Error> {
    let mut up: Option<(usize, &str)> = None; // (byte, options)
    let mut down: Option<(usize, usize)> = None;
    let mut offset = 0;
    for (i, line) in sql.split_inclusive('\n').enumerate() {
        let text = line.trim_end_matches('\n');
        if up.is_none()
            && let Some(options) = dbmate_directive(text, "up")
        {
            up = Some((offset, options));
        } else if down.is_none() && dbmate_directive(text, "down").is_some() {
            down = Some((i + 1, offset));
        }
        offset += line.len();
    }
    let Some((up_at, options)) = up else {
        return Ok(None);
    };
    let bad = |line: usize, reason: &str| Error::BadMigration {
        path: path.to_path_buf(),
        line,
        reason: reason.to_string(),
    };
    if let Some((down_line, down_at)) = down
        && down_at < up_at
    {
        return Err(bad(
            down_line,
            "`-- migrate:down` comes before `-- migrate:up`; dbmate requires the up block first",
        ));
    }
    if let Some((n, _)) = sql[..up_at]
        .lines()
        .enumerate()
        .find(|(_, l)| !l.trim().is_empty() && !l.trim_start().starts_with("--"))
    {
        return Err(bad(
            n + 1,
            "a statement before `-- migrate:up`; dbmate runs only the up block, so this would never run",
        ));
    }
    let end = down.map_or(sql.len(), |(_, at)| at);
    let no_transaction = options
        .split_whitespace()
        .any(|pair| pair == "transaction:false");
    Ok(Some((&sql[..end], no_transaction)))
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

/// An entry of a migrations folder that is not applied as it stands:
/// skipped as the tool the folder was written for skips it, or, when
/// `blocking`, a problem `status` reports and `up` refuses on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Skipped {
    pub path: PathBuf,
    pub reason: String,
    /// Not a file Preflight may pass over (a broken or looping symlink, a
    /// folder named like a migration, a name that is not UTF-8, a second
    /// file with a version already used).
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

/// A migrations folder as listed.
struct Listing {
    /// Regular files, in file-name byte order.
    files: Vec<PathBuf>,
    /// Entries that are not files: skipped, or blocking when unusable.
    others: Vec<Skipped>,
    /// The name of the first entry of any kind (as the Supabase CLI's
    /// `fs.ReadDir` lists them).
    first: Option<String>,
}

fn read_dir(dir: &Path) -> Result<Listing, Error> {
    let read_err = |source| Error::Read {
        path: dir.to_path_buf(),
        source,
    };
    let mut paths = Vec::new();
    let mut unusable = Vec::new();
    let mut first: Option<String> = None;
    let mut note = |path: PathBuf, reason: &str, blocking: bool| {
        unusable.push(Skipped {
            path,
            reason: reason.to_string(),
            blocking,
        })
    };
    for entry in std::fs::read_dir(dir).map_err(read_err)? {
        let entry = entry.map_err(read_err)?;
        let path = entry.path();
        let Some(name) = entry.file_name().to_str().map(str::to_string) else {
            note(
                path,
                "its name is not UTF-8, so it cannot be ordered or recorded",
                true,
            );
            continue;
        };
        if first
            .as_ref()
            .is_none_or(|f| name.as_bytes() < f.as_bytes())
        {
            first = Some(name.clone());
        }
        // The entry's type comes with the listing; only symlinks need a stat.
        match entry.file_type() {
            Ok(t) if t.is_symlink() => match std::fs::metadata(&path) {
                Ok(m) if m.is_file() => paths.push(path),
                Ok(_) if looks_like_migration(&name) => note(
                    path,
                    "a symlink named like a migration leads to a folder",
                    true,
                ),
                Ok(_) => note(
                    path,
                    "a symlink to a folder: only the files directly in the migrations folder are read",
                    false,
                ),
                Err(_) => note(
                    path,
                    "a symlink that leads nowhere (broken or looping)",
                    true,
                ),
            },
            Ok(t) if t.is_file() => paths.push(path),
            Ok(t) if t.is_dir() && looks_like_migration(&name) => {
                note(path, "a folder named like a migration", true)
            }
            Ok(t) if t.is_dir() => note(
                path,
                "a folder: only the files directly in the migrations folder are read",
                false,
            ),
            Ok(_) => {}
            Err(_) => note(path, "its type cannot be read", true),
        }
    }
    // One folder: byte order of the paths is the order of the names, without parsing components.
    paths.sort_by(|a, b| a.as_os_str().cmp(b.as_os_str()));
    unusable.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(Listing {
        files: paths,
        others: unusable,
        first,
    })
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
fn read_all(
    kind: SourceKind,
    files: &[(String, String, PathBuf)],
) -> Result<Vec<Migration>, Error> {
    par_map(files, |(version, name, path)| {
        let raw = read(path)?;
        let (version, name, path) = (version.clone(), name.clone(), path.clone());
        match kind {
            SourceKind::Sql => Migration::from_file(version, name, path, &raw),
            SourceKind::Supabase => Ok(Migration::from_supabase_file(version, name, path, &raw)),
        }
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

fn file_name(path: &Path) -> String {
    path.file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default()
        .to_string()
}

/// The second and later files that share a version with an earlier one:
/// both are listed, and `up` refuses until one is renamed.
fn duplicate(version: &str, first: &Path, second: PathBuf) -> Skipped {
    Skipped {
        reason: format!(
            "version {version} is also used by {}: rename one (the ledger records one row per version)",
            file_name(first)
        ),
        path: second,
        blocking: true,
    }
}

#[async_trait]
impl MigrationSource for SqlDir {
    async fn list(&self) -> Result<(Vec<Migration>, Vec<Skipped>), Error> {
        let mut found: Vec<(u128, String, String, PathBuf)> = Vec::new();
        // Number → first file with it: duplicates found in linear time.
        let mut seen: std::collections::HashMap<u128, PathBuf> = std::collections::HashMap::new();
        let mut skipped = Vec::new();
        let listing = read_dir(&self.dir)?;
        skipped.extend(listing.others);
        for path in listing.files {
            let file = file_name(&path);
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
            match seen.get(&number) {
                Some(first) => skipped.push(duplicate(digits, first, path.clone())),
                None => {
                    seen.insert(number, path.clone());
                }
            }
            found.push((number, digits.to_string(), name.to_string(), path));
        }
        // Stable: files sharing a number keep their name order.
        found.sort_by_key(|(n, _, _, _)| *n);
        let named: Vec<(String, String, PathBuf)> =
            found.into_iter().map(|(_, v, n, p)| (v, n, p)).collect();
        skipped.sort_by(|a, b| a.path.cmp(&b.path));
        Ok((read_all(SourceKind::Sql, &named)?, skipped))
    }
}

/// The Supabase CLI skips a first file `<14 digits>_init.sql` older than
/// 20211209000000, the schema dump its early versions wrote
/// (`shouldSkip` in `pkg/migration/list.go`; its pattern is unanchored).
fn legacy_init(name: &str) -> bool {
    let b = name.as_bytes();
    (0..b.len().saturating_sub(13)).any(|i| {
        b[i..i + 14].iter().all(u8::is_ascii_digit)
            && name[i + 14..].starts_with("_init.sql")
            && name[i..i + 14]
                .parse::<u64>()
                .is_ok_and(|ts| ts < 20_211_209_000_000)
    })
}

#[async_trait]
impl MigrationSource for SupabaseDir {
    /// Every file as the CLI lists it: in file-name byte order (the order
    /// it applies them in, which differs from version order when one
    /// version is a prefix of another), files it skips listed as skipped,
    /// and every file of a duplicated version listed, the later ones as
    /// problems.
    async fn list(&self) -> Result<(Vec<Migration>, Vec<Skipped>), Error> {
        let mut found: Vec<(String, String, PathBuf)> = Vec::new();
        let mut seen: std::collections::HashMap<String, PathBuf> = std::collections::HashMap::new();
        let mut skipped = Vec::new();
        let listing = read_dir(&self.dir)?;
        skipped.extend(listing.others);
        for path in listing.files {
            let file = file_name(&path);
            if listing.first.as_deref() == Some(file.as_str()) && legacy_init(&file) {
                skipped.push(Skipped {
                    path,
                    reason: "a legacy init file (before 20211209000000) first in the folder: the Supabase CLI skips it; rename it to apply it".into(),
                    blocking: false,
                });
                continue;
            }
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
            match seen.get(&version) {
                Some(first) => skipped.push(duplicate(&version, first, path.clone())),
                None => {
                    seen.insert(version.clone(), path.clone());
                }
            }
            found.push((version, name, path));
        }
        skipped.sort_by(|a, b| a.path.cmp(&b.path));
        Ok((read_all(SourceKind::Supabase, &found)?, skipped))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn parse(text: &str) -> Result<Migration, Error> {
        Migration::from_file("1".into(), "x".into(), "1_x.sql".into(), text)
    }

    #[test]
    fn markers_of_other_tools() {
        assert!(
            parse("-- no-transaction\nCREATE INDEX CONCURRENTLY i ON t (a);")
                .unwrap()
                .no_transaction
        );
        assert!(
            parse("-- atlas:txmode none\n\nSELECT 1;")
                .unwrap()
                .no_transaction
        );
        // Atlas reads directives from the header only.
        assert!(
            !parse("SELECT 1;\n-- atlas:txmode none\n")
                .unwrap()
                .no_transaction
        );
        // sqlx's marker is the file's first text.
        assert!(
            !parse("SELECT 1;\n-- no-transaction\n")
                .unwrap()
                .no_transaction
        );
        let m =
            parse("-- migrate:up transaction:false\nSELECT 1;\n-- migrate:down\nDROP TABLE t;\n")
                .unwrap();
        assert!(m.no_transaction);
        assert_eq!(m.sql, "-- migrate:up transaction:false\nSELECT 1;\n");
        let m = parse("--migrate:up\nSELECT 1;\n").unwrap();
        assert!(!m.no_transaction);
        assert_eq!(m.sql, "--migrate:up\nSELECT 1;\n");
        // Not directives: `migrate:upgrade`, a directive inside a line.
        let plain = "-- migrate:upgrade\nSELECT 1; -- migrate:down\n";
        assert_eq!(parse(plain).unwrap().sql, plain);
        let e = parse("-- migrate:down\nDROP TABLE t;\n-- migrate:up\nSELECT 1;\n").unwrap_err();
        assert!(
            e.to_string()
                .starts_with("1_x.sql:1: `-- migrate:down` comes before"),
            "{e}"
        );
    }

    #[test]
    fn legacy_init_files_as_the_cli_matches_them() {
        assert!(legacy_init("20211208235959_init.sql"));
        assert!(!legacy_init("20211209000000_init.sql"));
        assert!(!legacy_init("2021120800000_init.sql"));
        // The CLI's pattern is unanchored.
        assert!(legacy_init("120211201000000_init.sql"));
        assert!(!legacy_init("20211201000000_initial.sql"));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        /// Any file is read or refused with a line; never a panic.
        #[test]
        fn reading_a_file_never_panics(text in prop::collection::vec(prop_oneof![
            Just("-- migrate:up".to_string()),
            Just("-- migrate:down".to_string()),
            Just(" transaction:false".to_string()),
            Just("-- atlas:txmode none".to_string()),
            Just("-- no-transaction".to_string()),
            Just("\n".to_string()),
            Just("\r\n".to_string()),
            "[ -~]{0,10}",
            "\\PC{0,3}",
        ], 0..30).prop_map(|p| p.concat())) {
            let _ = parse(&text);
        }
    }
}

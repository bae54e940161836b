//! Backups you can trust: the dumps in an environment's artifact store
//! (`backup list`), a restore rehearsal of one into a throwaway database on
//! the local cluster with the module's contract checked against it
//! (`backup verify`), and a restore into a target the operator names
//! (`backup restore`), never silently into the source.

use std::path::PathBuf;

use preflight_migrate::{LocalPostgres, StoredArtifact};
use serde::Serialize;
use sha2::Digest as _;

use crate::drift::{SUPABASE_ROLES, Shadow, ShadowContract};
use crate::engine::{Phase, ReleaseLog};
use crate::error::{Error, error_text};
use crate::platform::Platform;

/// One dump in the artifact store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BackupEntry {
    /// The database dumped.
    pub database: String,
    /// Its key in the store (`backups/<db>/<stamp>-<db>.dump`).
    pub key: String,
    /// Where it is, for people (`gs://…`, a path).
    pub uri: String,
    /// Its size in bytes.
    pub size: u64,
    /// Its SHA-256, as the store recorded it.
    pub sha256: String,
    /// When it was taken (from its name).
    pub taken_at: Option<jiff::Timestamp>,
    /// The release whose backup phase took it, when a release log here says so.
    pub release_id: Option<String>,
}

/// What a restore rehearsal found.
#[derive(Debug, Clone, Serialize)]
pub struct BackupCheck {
    /// The dump checked.
    pub backup: BackupEntry,
    /// The downloaded file's SHA-256 is the recorded one.
    pub sha256_matches: bool,
    /// `pg_restore` into a throwaway database succeeded.
    pub restored: bool,
    /// Tables in the restored database (outside system schemas).
    pub tables: i64,
    /// The environment's contracts of this database, run against the restore.
    #[serde(serialize_with = "contracts")]
    pub contracts: Vec<ShadowContract>,
    /// Why it is not usable, if it is not.
    pub problem: Option<String>,
}

impl BackupCheck {
    /// Usable: the checksum matched and the dump restored. Contracts are
    /// reported beside it, not part of the verdict: a dump taken before a
    /// release's migrations holds the schema before them, which the
    /// current contract rightly does not describe.
    pub fn passed(&self) -> bool {
        self.problem.is_none() && self.sha256_matches && self.restored
    }

    /// The restored schema is what the environment's contracts describe.
    pub fn matches_contracts(&self) -> bool {
        self.restored && self.contracts.iter().all(|c| c.outcome.passed())
    }
}

fn contracts<S: serde::Serializer>(c: &[ShadowContract], s: S) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeSeq as _;
    let mut seq = s.serialize_seq(Some(c.len()))?;
    for contract in c {
        seq.serialize_element(&serde_json::json!({
            "probe": contract.probe,
            "outcome": contract.outcome,
            "summary": contract.summary,
        }))?;
    }
    seq.end()
}

/// The dumps of `env` (of `database` only, when given), oldest first, each
/// with the release that took it when a local release record names it.
pub async fn list_backups(
    platform: &Platform,
    env: &str,
    database: Option<&str>,
) -> Result<Vec<BackupEntry>, Error> {
    let store = platform.artifact_store(env).await.map_err(Error::Refused)?;
    let prefix = match database {
        Some(db) => format!("backups/{db}/"),
        None => "backups/".to_string(),
    };
    let artifacts = store.list(&prefix).await.map_err(|e| Error::Migrate {
        what: format!("cannot list the backups in {}", store.location()),
        source: Box::new(e),
    })?;
    let logs = crate::history::local_logs(platform, env);
    Ok(artifacts
        .into_iter()
        .filter_map(|a| entry(a, &logs))
        .collect())
}

fn entry(a: StoredArtifact, logs: &[ReleaseLog]) -> Option<BackupEntry> {
    let mut parts = a.key.split('/');
    let (Some("backups"), Some(database), Some(file), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return None;
    };
    let stamp = file.split('-').next().unwrap_or_default();
    let taken_at = jiff::civil::DateTime::strptime("%Y%m%dT%H%M%SZ", stamp)
        .ok()
        .and_then(|d| d.to_zoned(jiff::tz::TimeZone::UTC).ok())
        .map(|z| z.timestamp());
    let release_id = logs
        .iter()
        .find(|log| {
            log.phase(Phase::Backup).is_some_and(|p| {
                p.steps
                    .iter()
                    .filter_map(|s| s.dump_uri())
                    .any(|uri| uri == a.uri || uri.ends_with(&format!("/{}", a.key)))
            })
        })
        .map(|log| log.release_id.clone());
    Some(BackupEntry {
        database: database.to_string(),
        key: a.key.clone(),
        uri: a.uri,
        size: a.size,
        sha256: a.sha256,
        taken_at,
        release_id,
    })
}

/// The dump `key` of `database`, or its newest one.
async fn pick(
    platform: &Platform,
    env: &str,
    database: &str,
    key: Option<&str>,
) -> Result<BackupEntry, Error> {
    let all = list_backups(platform, env, Some(database)).await?;
    let found = match key {
        Some(k) => all.into_iter().find(|e| e.key == k || e.uri == k),
        None => all.into_iter().last(),
    };
    found.ok_or_else(|| {
        Error::Refused(match key {
            Some(k) => format!("no backup `{k}` of `{database}` in `{env}`"),
            None => format!("no backup of `{database}` in `{env}`"),
        })
    })
}

/// Downloads a dump into the project's cache, checking it on the way
/// (the store compares its checksum) and again here.
async fn download(
    platform: &Platform,
    env: &str,
    entry: &BackupEntry,
) -> Result<(PathBuf, bool), Error> {
    let store = platform.artifact_store(env).await.map_err(Error::Refused)?;
    let dir = platform.state_dir().join("cache").join("backups").join(env);
    std::fs::create_dir_all(&dir).map_err(|source| Error::Write {
        path: dir.clone(),
        source,
    })?;
    let dest = dir.join(entry.key.replace('/', "_"));
    store
        .get_file(&entry.key, &dest)
        .await
        .map_err(|e| Error::Migrate {
            what: format!("backup {} is not the file that was stored", entry.uri),
            source: Box::new(e),
        })?;
    let bytes = std::fs::read(&dest).map_err(|source| Error::Read {
        path: dest.clone(),
        source,
    })?;
    let sha = sha2::Sha256::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<String>();
    Ok((dest, sha == entry.sha256))
}

/// A restore rehearsal: the dump's checksum, `pg_restore` into a throwaway
/// database on the local cluster (always dropped), its tables, and the
/// environment's contracts of the database run against it (reported).
pub async fn verify_backup(
    platform: &Platform,
    env: &str,
    database: &str,
    key: Option<&str>,
) -> Result<BackupCheck, Error> {
    let backup = pick(platform, env, database, key).await?;
    let mut check = BackupCheck {
        backup: backup.clone(),
        sha256_matches: false,
        restored: false,
        tables: 0,
        contracts: Vec::new(),
        problem: None,
    };
    let (file, matches) = match download(platform, env, &backup).await {
        Ok(d) => d,
        Err(e) => {
            check.problem = Some(error_text(&e));
            return Ok(check);
        }
    };
    check.sha256_matches = matches;
    if !matches {
        check.problem = Some(format!(
            "{} does not have the SHA-256 recorded for it",
            backup.uri
        ));
        let _ = std::fs::remove_file(&file);
        return Ok(check);
    }
    let state = platform.state_dir();
    let cluster = tokio::task::spawn_blocking(move || LocalPostgres::ensure(&state))
        .await
        .map_err(|e| Error::Refused(e.to_string()))?
        .map_err(|e| Error::LocalCluster(Box::new(e)))?;
    let cluster = std::sync::Arc::new(cluster);
    let shadow = Shadow::create(&cluster, database)
        .await
        .map_err(Error::Refused)?;
    let rehearsal = async {
        if platform.database_is_supabase(database) {
            shadow.create_roles(SUPABASE_ROLES).await?;
        }
        preflight_migrate::restore_database(&file, &shadow.url, false)
            .await
            .map_err(|e| error_text(&e))?;
        let mut conn = preflight_migrate::connect_as(&shadow.url, "preflight backup verify")
            .await
            .map_err(|e| error_text(&e))?;
        let tables: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM pg_tables WHERE schemaname NOT IN ('pg_catalog', 'information_schema')",
        )
        .fetch_one(&mut conn)
        .await
        .map_err(|e| e.to_string())?;
        let _ = sqlx::Connection::close(conn).await;
        Ok::<i64, String>(tables)
    }
    .await;
    match rehearsal {
        Ok(tables) => {
            check.restored = true;
            check.tables = tables;
            check.contracts = platform.shadow_contracts(env, database, &shadow.url).await;
        }
        Err(why) => check.problem = Some(format!("the restore failed: {why}")),
    }
    shadow.drop().await;
    let _ = std::fs::remove_file(&file);
    Ok(check)
}

/// Restores a dump into the database at `to_url`, which the operator
/// names: refused without `yes`, and refused when it is the environment's
/// own database (a rollback by restore is deliberate, never a slip).
pub async fn restore_backup(
    platform: &Platform,
    env: &str,
    database: &str,
    key: Option<&str>,
    to_url: &str,
    yes: bool,
) -> Result<BackupEntry, Error> {
    let backup = pick(platform, env, database, key).await?;
    if !yes {
        return Err(Error::Refused(format!(
            "restoring {} replaces what the target holds; add --yes to do it",
            backup.uri
        )));
    }
    let target = platform
        .target_for(env, Some(&[database.to_string()]))
        .await?;
    if let Some(Ok(source)) = target.databases.get(database)
        && same_database(&source.url, to_url)
    {
        return Err(Error::Refused(format!(
            "--to is `{database}` of `{env}` itself; restore into another database and switch deliberately"
        )));
    }
    let (file, matches) = download(platform, env, &backup).await?;
    if !matches {
        let _ = std::fs::remove_file(&file);
        return Err(Error::Refused(format!(
            "{} does not have the SHA-256 recorded for it; not restored",
            backup.uri
        )));
    }
    let restored = preflight_migrate::restore_database(&file, to_url, true).await;
    let _ = std::fs::remove_file(&file);
    restored.map_err(|e| Error::Migrate {
        what: format!("cannot restore {}", backup.uri),
        source: Box::new(e),
    })?;
    Ok(backup)
}

/// Whether two URLs name the same database (host, port, database name).
fn same_database(a: &str, b: &str) -> bool {
    let key = |url: &str| {
        let options: Result<sqlx::postgres::PgConnectOptions, _> = url.parse();
        options.ok().map(|o| {
            (
                o.get_host().to_string(),
                o.get_port(),
                o.get_database().map(str::to_string),
            )
        })
    };
    match (key(a), key(b)) {
        (Some(x), Some(y)) => x == y,
        // Unreadable: treat as the same, so nothing is restored by mistake.
        _ => true,
    }
}

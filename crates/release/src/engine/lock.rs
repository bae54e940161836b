//! One release per environment at a time: a PostgreSQL advisory lock held
//! on a session for the whole run (released by the server if the process
//! dies), or, for an environment without databases, an exclusive lock file.

use std::path::PathBuf;

use crate::error::Error;
use sqlx::PgConnection;

/// `'PFLR'`: the advisory-lock class of release locks (migration locks use another key).
const RELEASE_LOCK_CLASS: i32 = 0x5046_4c52;

/// Held for the whole release; dropping it releases the lock.
#[derive(Debug)]
pub enum EnvLock {
    Database(#[allow(dead_code)] PgConnection),
    File(PathBuf),
}

impl Drop for EnvLock {
    fn drop(&mut self) {
        if let EnvLock::File(path) = self {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// A stable 32-bit key for `env` (FNV-1a), so every Preflight agrees on it.
fn env_key(env: &str) -> i32 {
    let mut h: u32 = 0x811c_9dc5;
    for b in env.bytes() {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    h as i32
}

/// Takes the lock of `env` on the database at `url`, or says who holds it.
pub async fn acquire_database(url: &str, env: &str, holder: &str) -> Result<EnvLock, Error> {
    let db_err = |source| Error::LockConnect {
        env: env.to_string(),
        source: Box::new(source),
    };
    let mut conn = preflight_migrate::connect_as(url, "preflight release")
        .await
        .map_err(|e| Error::LockConnect {
            env: env.to_string(),
            source: Box::new(e),
        })?;
    // Visible in pg_stat_activity, so a refused run can say who holds the lock.
    sqlx::query("SELECT set_config('application_name', $1, false)")
        .bind(holder.chars().take(63).collect::<String>())
        .execute(&mut conn)
        .await
        .map_err(db_err)?;
    let got: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1, $2)")
        .bind(RELEASE_LOCK_CLASS)
        .bind(env_key(env))
        .fetch_one(&mut conn)
        .await
        .map_err(db_err)?;
    if got {
        return Ok(EnvLock::Database(conn));
    }
    let other = holder_on(&mut conn, env).await.map_err(db_err)?;
    match other {
        Some((who, since)) => Err(Error::Refused(format!(
            "another release to `{env}` is running ({who}, since {}); refusing to start a second one",
            since.unwrap_or_else(|| "?".into())
        ))),
        None => Err(Error::Refused(format!(
            "another release to `{env}` holds the release lock; refusing to start a second one"
        ))),
    }
}

/// Takes the lock of `env` as a file created exclusively.
pub fn acquire_file(path: PathBuf, env: &str, holder: &str) -> Result<EnvLock, Error> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(|source| Error::Write {
            path: parent.to_path_buf(),
            source,
        })?;
    }
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)
    {
        Ok(mut f) => {
            use std::io::Write as _;
            writeln!(f, "{holder} pid {}", std::process::id()).map_err(|source| Error::Write {
                path: path.clone(),
                source,
            })?;
            Ok(EnvLock::File(path))
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            let who = std::fs::read_to_string(&path).unwrap_or_default();
            Err(Error::Refused(format!(
                "another release to `{env}` is running ({}); if it died, remove {}",
                who.trim(),
                path.display()
            )))
        }
        Err(source) => Err(Error::Write { path, source }),
    }
}

/// Who holds the release lock of `env` on `conn`'s server: the holder's
/// `application_name` and since when.
async fn holder_on(
    conn: &mut PgConnection,
    env: &str,
) -> Result<Option<(String, Option<String>)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT a.application_name, to_char(a.backend_start, 'YYYY-MM-DD HH24:MI:SS TZ') \
         FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid \
         WHERE l.locktype = 'advisory' AND l.classid = $1::oid AND l.objid = $2::oid AND l.granted",
    )
    .bind(i64::from(RELEASE_LOCK_CLASS as u32))
    .bind(i64::from(env_key(env) as u32))
    .fetch_optional(conn)
    .await
}

/// Who holds the release lock of `env` on the database at `url`, as
/// `holder, since …`; `None` when nobody does or it cannot be asked.
pub async fn database_holder(url: &str, env: &str) -> Option<String> {
    let mut conn = preflight_migrate::connect_as(url, "preflight release status")
        .await
        .ok()?;
    let found = holder_on(&mut conn, env).await.ok().flatten();
    let _ = sqlx::Connection::close(conn).await;
    found.map(|(who, since)| format!("{who}, since {}", since.unwrap_or_else(|| "?".into())))
}

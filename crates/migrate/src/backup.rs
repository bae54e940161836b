//! `pg_dump` backups taken before migrating, kept in an [`ArtifactStore`].

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::artifact::{ArtifactStore, StoredArtifact};
use crate::error::Error;
use crate::pg::find_postgres_bin;
use preflight_redact::percent_decode;

/// A backup that was taken and stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Backup {
    pub database: String,
    pub artifact: StoredArtifact,
    #[serde(with = "millis")]
    pub elapsed: Duration,
}

mod millis {
    pub fn serialize<S: serde::Serializer>(
        d: &std::time::Duration,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        s.serialize_u128(d.as_millis())
    }
}

/// The key a backup of `database` taken at `at` is stored under:
/// `backups/<database>/<YYYYMMDDTHHMMSSZ>-<database>.dump`.
pub fn backup_key(database: &str, at: jiff::Timestamp) -> String {
    let stamp = at.strftime("%Y%m%dT%H%M%SZ");
    format!("backups/{database}/{stamp}-{database}.dump")
}

/// The database name in a `postgres://` URL.
pub fn database_name(url: &str) -> Option<String> {
    let rest = url.split_once("://")?.1;
    let path = rest.split_once('/')?.1;
    let name = path.split(['?', '#']).next()?;
    (!name.is_empty()).then(|| percent_decode(name))
}

/// Splits the password out of a URL (`user:password@` or a `password=`
/// query parameter), so it can travel in `PGPASSWORD` instead of on a
/// command line that `ps` shows.
pub(crate) fn split_password(url: &str) -> (String, Option<String>) {
    let Some((scheme, rest)) = url.split_once("://") else {
        return (url.to_string(), None);
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let (authority, mut password) = match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, p)) => (format!("{user}@{host}"), Some(percent_decode(p))),
            None => (authority.to_string(), None),
        },
        None => (authority.to_string(), None),
    };
    // The query: drop `password=`, keep every other parameter in order.
    let (path, query, fragment) = match tail.split_once('?') {
        Some((path, q)) => match q.split_once('#') {
            Some((q, f)) => (path, Some(q), Some(f)),
            None => (path, Some(q), None),
        },
        None => (tail, None, None),
    };
    let mut tail = path.to_string();
    if let Some(q) = query {
        let mut kept = Vec::new();
        for pair in q.split('&') {
            match pair.split_once('=') {
                Some((k, v)) if k.eq_ignore_ascii_case("password") => {
                    password = Some(percent_decode(v));
                }
                _ => kept.push(pair),
            }
        }
        if !kept.is_empty() {
            tail.push('?');
            tail.push_str(&kept.join("&"));
        }
    }
    if let Some(f) = fragment {
        tail.push('#');
        tail.push_str(f);
    }
    (format!("{scheme}://{authority}{tail}"), password)
}

/// A client tool (`pg_dump`, `pg_restore`) beside the newest server
/// binaries (a dump needs a client at least as new as the server), else
/// the one on PATH.
fn client_tool(name: &str) -> PathBuf {
    find_postgres_bin()
        .map(|bin| bin.join(name))
        .ok()
        .filter(|p| p.is_file())
        .unwrap_or_else(|| PathBuf::from(name))
}

/// Runs client tool `name` with `args` against `database_url`: the URL
/// without its password as `--dbname`, the password in `PGPASSWORD` (never
/// in an argv). `Ok(Err(stderr))`: it ran and failed; its output has the
/// password redacted.
async fn run_client_tool(
    name: &str,
    args: &[&std::ffi::OsStr],
    database_url: &str,
) -> Result<Result<(), String>, Error> {
    let (url, password) = split_password(database_url);
    let program = client_tool(name);
    let mut cmd = tokio::process::Command::new(&program);
    cmd.args(args).arg("--dbname").arg(&url);
    if let Some(p) = password {
        cmd.env("PGPASSWORD", p);
    }
    let output = preflight_process::output(cmd)
        .await
        .map_err(|source| Error::Spawn {
            program: program.display().to_string(),
            source,
        })?;
    Ok(match output.status.success() {
        true => Ok(()),
        false => Err(redact_password(
            String::from_utf8_lossy(&output.stderr).trim(),
            database_url,
        )),
    })
}

/// Dumps the database at `database_url` (custom format) to a temp file and
/// puts it in `store` under `key`. The password never reaches an argv.
pub async fn backup_database(
    database_url: &str,
    store: &dyn ArtifactStore,
    key: &str,
) -> Result<Backup, Error> {
    crate::artifact::check_key(key)?;
    let started = Instant::now();
    let database = database_name(database_url).unwrap_or_default();
    let scratch = tempfile::Builder::new()
        .prefix("preflight-dump-")
        .tempdir()
        .map_err(|source| Error::Write {
            path: std::env::temp_dir(),
            source,
        })?;
    let file = scratch.path().join("dump");
    let args = ["--format=custom", "--no-password", "--file"]
        .map(std::ffi::OsStr::new)
        .into_iter()
        .chain([file.as_os_str()])
        .collect::<Vec<_>>();
    if let Err(stderr) = run_client_tool("pg_dump", &args, database_url).await? {
        return Err(Error::Backup { database, stderr });
    }
    let artifact = store.put_file(&file, key).await?;
    Ok(Backup {
        database,
        artifact,
        elapsed: started.elapsed(),
    })
}

/// Restores a custom-format dump into the database at `database_url`, in
/// one transaction (all or nothing), without owners or grants (the target's
/// roles may differ). `clean` drops what the dump recreates first. The
/// password never reaches an argv.
pub async fn restore_database(dump: &Path, database_url: &str, clean: bool) -> Result<(), Error> {
    use std::ffi::OsStr;
    let mut args: Vec<&OsStr> = [
        "--no-owner",
        "--no-privileges",
        "--no-password",
        "--exit-on-error",
        "--single-transaction",
    ]
    .into_iter()
    .map(OsStr::new)
    .collect();
    if clean {
        args.extend(["--clean", "--if-exists"].map(OsStr::new));
    }
    args.push(dump.as_os_str());
    run_client_tool("pg_restore", &args, database_url)
        .await?
        .map_err(|stderr| Error::Restore {
            database: database_name(database_url).unwrap_or_default(),
            stderr,
        })
}

/// Replaces the password of `url` in a child's output with `***`
/// (pg_dump, Alembic and scripts may echo connection strings).
pub(crate) fn redact_password(text: &str, url: &str) -> String {
    let mut redactor = preflight_redact::Redactor::new();
    redactor.add_url(url);
    redactor.redact(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_leave_the_url() {
        assert_eq!(
            split_password("postgres://app:s%40cret@db:5432/mobius?sslmode=require"),
            (
                "postgres://app@db:5432/mobius?sslmode=require".to_string(),
                Some("s@cret".to_string())
            )
        );
        assert_eq!(
            split_password("postgres://app@db/mobius?sslmode=require&password=q%26p&x=1"),
            (
                "postgres://app@db/mobius?sslmode=require&x=1".to_string(),
                Some("q&p".to_string())
            )
        );
        assert_eq!(
            split_password("postgres://postgres@127.0.0.1:5/x"),
            ("postgres://postgres@127.0.0.1:5/x".to_string(), None)
        );
        assert_eq!(
            database_name("postgres://a:b@h/mobius_chat?x=1").as_deref(),
            Some("mobius_chat")
        );
        assert_eq!(database_name("postgres://h"), None);
    }

    #[test]
    fn child_output_loses_the_password() {
        let url = "postgres://app:hunter2%21@db/x";
        assert_eq!(
            redact_password(
                "FATAL: password hunter2! rejected for postgres://app:hunter2!@db",
                url
            ),
            "FATAL: password *** rejected for postgres://app:***@db"
        );
        assert_eq!(redact_password("no secret", "postgres://h/x"), "no secret");
    }

    #[test]
    fn backup_keys_sort_by_time() {
        let at: jiff::Timestamp = "2026-02-14T10:15:00Z".parse().unwrap();
        assert_eq!(
            backup_key("mobius_chat", at),
            "backups/mobius_chat/20260214T101500Z-mobius_chat.dump"
        );
    }
}

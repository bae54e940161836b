//! Integration tests of preflight-migrate against real PostgreSQL clusters
//! started by the tests (Debian's `postgresql`; `scripts/setup` installs it).

mod alembic;
mod concurrency;
mod ledger_ops;
mod splitter;
mod sql;
mod supabase;

use std::path::Path;
use std::time::Duration;

use preflight_migrate::{Migrator, SourceKind, SqlDir, SupabaseDir, TempPostgres};

pub fn write(dir: &Path, name: &str, sql: &str) {
    std::fs::write(dir.join(name), sql).unwrap();
}

pub fn migrator(kind: SourceKind, dir: &Path, url: &str) -> Migrator {
    Migrator {
        kind,
        source: match kind {
            SourceKind::Sql => Box::new(SqlDir {
                dir: dir.to_path_buf(),
            }),
            SourceKind::Supabase => Box::new(SupabaseDir {
                dir: dir.to_path_buf(),
            }),
        },
        database_url: url.to_string(),
        applied_by: "test".into(),
        lock_timeout: Duration::from_secs(30),
    }
}

pub fn cluster() -> TempPostgres {
    TempPostgres::start().expect("start a throwaway PostgreSQL (run scripts/setup)")
}

/// Runs a query and returns the first column of each row as text.
pub async fn query(url: &str, sql: &str) -> Vec<String> {
    use sqlx::{Connection, Row};
    let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql.to_string()))
        .fetch_all(&mut conn)
        .await
        .unwrap();
    rows.iter()
        .map(|r| {
            r.try_get::<String, _>(0)
                .unwrap_or_else(|_| r.get::<i64, _>(0).to_string())
        })
        .collect()
}

/// Runs several statements in one simple-query message.
pub async fn exec(url: &str, sql: &str) {
    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_string()))
        .execute(&mut conn)
        .await
        .unwrap();
}

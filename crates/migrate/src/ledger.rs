//! The tables that record what was applied.

use serde::Serialize;
use sqlx::{AssertSqlSafe, PgConnection, Row};

use crate::error::Error;
use crate::source::{Migration, SourceKind};
use crate::split::split_statements;

/// Preflight's ledger for `sql` sources.
pub const PREFLIGHT_LEDGER: &str = "preflight.schema_migrations";
/// The Supabase CLI's ledger.
pub const SUPABASE_LEDGER: &str = "supabase_migrations.schema_migrations";

/// One ledger row as read back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AppliedRow {
    pub version: String,
    pub name: Option<String>,
    /// Preflight's ledger: the file's checksum.
    pub checksum: Option<String>,
    /// Supabase's ledger: the statements that were run.
    #[serde(skip)]
    pub statements: Option<Vec<String>>,
    pub applied_at: Option<String>,
    pub applied_by: Option<String>,
    /// `false` for a non-transactional migration that failed part-way.
    pub success: bool,
}

impl SourceKind {
    pub fn ledger_table(self) -> &'static str {
        match self {
            SourceKind::Sql => PREFLIGHT_LEDGER,
            SourceKind::Supabase => SUPABASE_LEDGER,
        }
    }

    /// Creates the ledger if it is missing, exactly as its owner does.
    pub(crate) fn create_ledger_sql(self) -> &'static str {
        match self {
            SourceKind::Sql => {
                "CREATE SCHEMA IF NOT EXISTS preflight;
                 CREATE TABLE IF NOT EXISTS preflight.schema_migrations (
                     version text PRIMARY KEY,
                     name text NOT NULL,
                     checksum text NOT NULL,
                     applied_at timestamptz NOT NULL DEFAULT now(),
                     applied_by text NOT NULL,
                     execution_ms bigint NOT NULL,
                     success boolean NOT NULL
                 );"
            }
            // supabase/cli pkg/migration/history.go
            SourceKind::Supabase => {
                "SET lock_timeout = '4s';
                 CREATE SCHEMA IF NOT EXISTS supabase_migrations;
                 CREATE TABLE IF NOT EXISTS supabase_migrations.schema_migrations (version text NOT NULL PRIMARY KEY);
                 ALTER TABLE supabase_migrations.schema_migrations ADD COLUMN IF NOT EXISTS statements text[];
                 ALTER TABLE supabase_migrations.schema_migrations ADD COLUMN IF NOT EXISTS name text;
                 RESET lock_timeout;"
            }
        }
    }

    /// The statement that records `m` as applied, as literal SQL so it can
    /// travel in the same message (and transaction) as the migration.
    pub(crate) fn insert_sql(self, m: &Migration, applied_by: &str, success: bool) -> String {
        match self {
            SourceKind::Sql => format!(
                "INSERT INTO preflight.schema_migrations (version, name, checksum, applied_by, execution_ms, success) \
                 VALUES ({}, {}, {}, {}, (extract(epoch FROM clock_timestamp() - statement_timestamp()) * 1000)::bigint, {success})",
                quote(&m.version),
                quote(&m.name),
                quote(&m.checksum),
                quote(applied_by)
            ),
            SourceKind::Supabase => {
                let statements: Vec<String> =
                    split_statements(&m.sql).iter().map(|s| quote(s)).collect();
                format!(
                    "INSERT INTO supabase_migrations.schema_migrations (version, name, statements) VALUES ({}, {}, ARRAY[{}]::text[])",
                    quote(&m.version),
                    quote(&m.name),
                    statements.join(", ")
                )
            }
        }
    }
}

impl SourceKind {
    /// Records `m` as applied, replacing an existing row (`repair`, `baseline`).
    pub(crate) fn upsert_sql(self, m: &Migration, applied_by: &str) -> String {
        let insert = self.insert_sql(m, applied_by, true);
        match self {
            SourceKind::Sql => format!(
                "{insert} ON CONFLICT (version) DO UPDATE SET name = EXCLUDED.name, checksum = EXCLUDED.checksum, \
                 applied_at = now(), applied_by = EXCLUDED.applied_by, success = true"
            ),
            SourceKind::Supabase => format!(
                "{insert} ON CONFLICT (version) DO UPDATE SET name = EXCLUDED.name, statements = EXCLUDED.statements"
            ),
        }
    }
}

/// Who changed a ledger by hand, and how (`baseline`, `repair`). Kept in
/// Preflight's schema for every flavour: the Supabase table has no room for it.
pub(crate) const AUDIT_DDL: &str = "CREATE SCHEMA IF NOT EXISTS preflight;
CREATE TABLE IF NOT EXISTS preflight.ledger_audit (
    id bigserial PRIMARY KEY,
    at timestamptz NOT NULL DEFAULT now(),
    actor text NOT NULL,
    action text NOT NULL,
    ledger text NOT NULL,
    version text NOT NULL,
    name text
);";

pub(crate) fn audit_sql(
    kind: SourceKind,
    action: &str,
    version: &str,
    name: &str,
    actor: &str,
) -> String {
    format!(
        "INSERT INTO preflight.ledger_audit (actor, action, ledger, version, name) VALUES ({}, {}, {}, {}, {});\n",
        quote(actor),
        quote(action),
        quote(kind.ledger_table()),
        quote(version),
        quote(name)
    )
}

/// A string literal (standard_conforming_strings, on by default since 9.1).
pub(crate) fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// Reads the ledger; a missing table means nothing was applied.
pub async fn read_ledger(
    conn: &mut PgConnection,
    kind: SourceKind,
) -> Result<Vec<AppliedRow>, Error> {
    let sql = match kind {
        SourceKind::Sql => {
            "SELECT version, name, checksum, NULL::text[] AS statements, applied_at::text AS applied_at, applied_by, success \
             FROM preflight.schema_migrations ORDER BY version"
        }
        // Only the CLI's columns: the hosted platform adds others, which are tolerated.
        SourceKind::Supabase => {
            "SELECT version, name, NULL::text AS checksum, statements, NULL::text AS applied_at, NULL::text AS applied_by, true AS success \
             FROM supabase_migrations.schema_migrations ORDER BY version"
        }
    };
    // One simple-protocol round trip; a missing table means nothing was applied.
    let rows = match sqlx::raw_sql(sql).fetch_all(&mut *conn).await {
        Ok(rows) => rows,
        Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some("42P01") => {
            return Ok(Vec::new());
        }
        Err(source) => {
            return Err(Error::Query {
                context: format!("read {}", kind.ledger_table()),
                source,
            });
        }
    };
    let mut applied: Vec<AppliedRow> = rows
        .into_iter()
        .map(|r| AppliedRow {
            version: r.get("version"),
            name: r.get("name"),
            checksum: r.get("checksum"),
            statements: r.get("statements"),
            applied_at: r.get("applied_at"),
            applied_by: r.get("applied_by"),
            success: r.get("success"),
        })
        .collect();
    if kind == SourceKind::Supabase {
        mark_unfinished(conn, &mut applied).await?;
    }
    Ok(applied)
}

/// Supabase no-transaction migrations that started and never finished. The
/// CLI's ledger has no room for a failed row, so Preflight keeps them in its
/// own schema (`preflight.unfinished_migrations`), created on first use.
pub(crate) const UNFINISHED_DDL: &str = "CREATE SCHEMA IF NOT EXISTS preflight;
CREATE TABLE IF NOT EXISTS preflight.unfinished_migrations (
    ledger text NOT NULL,
    version text NOT NULL,
    name text,
    started_at timestamptz NOT NULL DEFAULT now(),
    started_by text,
    PRIMARY KEY (ledger, version)
);";

/// Adds the unfinished Supabase migrations to `applied` as failed rows.
async fn mark_unfinished(
    conn: &mut PgConnection,
    applied: &mut Vec<AppliedRow>,
) -> Result<(), Error> {
    let sql = "SELECT version, name, started_at::text AS started_at, started_by \
               FROM preflight.unfinished_migrations WHERE ledger = 'supabase' ORDER BY version";
    let rows = match sqlx::raw_sql(sql).fetch_all(&mut *conn).await {
        Ok(rows) => rows,
        // No table (or no schema): nothing ever started without finishing.
        Err(sqlx::Error::Database(e))
            if matches!(e.code().as_deref(), Some("42P01") | Some("3F000")) =>
        {
            return Ok(());
        }
        Err(source) => {
            return Err(Error::Query {
                context: "read preflight.unfinished_migrations".into(),
                source,
            });
        }
    };
    for r in rows {
        let version: String = r.get("version");
        match applied.iter_mut().find(|a| a.version == version) {
            Some(row) => row.success = false,
            None => applied.push(AppliedRow {
                version,
                name: r.get("name"),
                checksum: None,
                statements: None,
                applied_at: r.get("started_at"),
                applied_by: r.get("started_by"),
                success: false,
            }),
        }
    }
    applied.sort_by(|a, b| a.version.cmp(&b.version));
    Ok(())
}

/// Records that a Supabase no-transaction migration has started.
pub(crate) fn unfinished_insert_sql(m: &Migration, by: &str) -> String {
    format!(
        "{UNFINISHED_DDL}\nINSERT INTO preflight.unfinished_migrations (ledger, version, name, started_by) VALUES ('supabase', {}, {}, {}) ON CONFLICT (ledger, version) DO NOTHING;",
        quote(&m.version),
        quote(&m.name),
        quote(by)
    )
}

/// Clears the "started" mark of a Supabase migration (done, or repaired).
pub(crate) fn unfinished_delete_sql(version: &str) -> String {
    format!(
        "{UNFINISHED_DDL}\nDELETE FROM preflight.unfinished_migrations WHERE ledger = 'supabase' AND version = {};",
        quote(version)
    )
}

pub(crate) async fn ensure_ledger(conn: &mut PgConnection, kind: SourceKind) -> Result<(), Error> {
    sqlx::raw_sql(kind.create_ledger_sql())
        .execute(&mut *conn)
        .await
        .map_err(|source| Error::Query {
            context: format!("create {}", kind.ledger_table()),
            source,
        })?;
    Ok(())
}

/// Runs literal SQL (one simple-query message).
pub(crate) async fn execute(conn: &mut PgConnection, sql: String) -> Result<(), sqlx::Error> {
    sqlx::raw_sql(AssertSqlSafe(sql))
        .execute(&mut *conn)
        .await
        .map(|_| ())
}

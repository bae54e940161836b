//! Applying migrations under an advisory lock, one transaction per migration.

use std::time::{Duration, Instant};

use serde::Serialize;
use sqlx::postgres::{PgConnectOptions, PgDatabaseError, PgErrorPosition};
use sqlx::{ConnectOptions, PgConnection};

use crate::error::Error;
use crate::ledger::{self, execute};
use crate::plan::{MigrationState, Status};
use crate::source::{Migration, MigrationSource, SourceKind};
use crate::split::split_statements;

/// The session advisory lock every Preflight runner takes on a database
/// (`pg_advisory_lock(5787492706233104712)`, the bytes of "PREFLIGH"). All
/// flavours share it, so two runners never apply anything at once.
pub const MIGRATION_LOCK_KEY: i64 = 0x5052_4546_4C49_4748;

/// What `up` may do besides applying pending migrations in order.
#[derive(Debug, Clone, Default)]
pub struct UpOptions {
    /// Stop after this version.
    pub target: Option<String>,
    /// Apply pending migrations older than the newest applied one.
    pub allow_out_of_order: bool,
    /// Print the plan, touch nothing.
    pub dry_run: bool,
}

/// Progress reported while `up` runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UpEvent {
    Locked {
        waited: Duration,
    },
    Planned {
        count: usize,
    },
    Applying {
        index: usize,
        count: usize,
        version: String,
        name: String,
    },
    Applied {
        version: String,
        elapsed: Duration,
    },
}

/// What `up` did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UpReport {
    pub applied: Vec<String>,
    pub dry_run: bool,
    /// The plan: versions and names that would be (or were) applied.
    pub plan: Vec<(String, String)>,
}

/// Runs one source's migrations against one database.
pub struct Migrator {
    pub kind: SourceKind,
    pub source: Box<dyn MigrationSource>,
    pub database_url: String,
    /// Recorded in the ledger (`applied_by`).
    pub applied_by: String,
    /// How long to wait for another runner's lock.
    pub lock_timeout: Duration,
}

impl std::fmt::Debug for Migrator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Migrator")
            .field("kind", &self.kind)
            .field("applied_by", &self.applied_by)
            .finish_non_exhaustive()
    }
}

impl Migrator {
    pub async fn connect(&self) -> Result<PgConnection, Error> {
        let options: PgConnectOptions = self.database_url.parse().map_err(Error::Connect)?;
        options
            .application_name("preflight migrate")
            .disable_statement_logging()
            .connect()
            .await
            .map_err(Error::Connect)
    }

    /// Status of every migration; reads only.
    pub async fn status(&self) -> Result<Status, Error> {
        let (migrations, _) = self.source.list().await?;
        let mut conn = self.connect().await?;
        let applied = ledger::read_ledger(&mut conn, self.kind).await?;
        Ok(Status::compute(self.kind, &migrations, &applied))
    }

    /// Applies pending migrations, each in its own transaction with its
    /// ledger row, under the advisory lock. Refuses to start when an applied
    /// migration was modified or is missing, a migration failed part-way, or
    /// (unless allowed) one is out of order. Stops at the first failure; the
    /// failing migration leaves no trace.
    pub async fn up(
        &self,
        options: &UpOptions,
        on_event: &mut (dyn FnMut(UpEvent) + Send),
    ) -> Result<UpReport, Error> {
        let (migrations, _) = self.source.list().await?;
        if let Some(t) = &options.target
            && !migrations.iter().any(|m| &m.version == t)
        {
            return Err(Error::UnknownTarget { version: t.clone() });
        }
        let mut conn = self.connect().await?;
        if options.dry_run {
            let applied = ledger::read_ledger(&mut conn, self.kind).await?;
            let status = Status::compute(self.kind, &migrations, &applied);
            refuse_drift(&status, options.allow_out_of_order)?;
            let plan =
                plan_of(&status.pending(options.target.as_deref(), options.allow_out_of_order));
            return Ok(UpReport {
                applied: Vec::new(),
                dry_run: true,
                plan,
            });
        }
        let waited = lock(&mut conn, self.lock_timeout).await?;
        on_event(UpEvent::Locked { waited });
        let result = self
            .up_locked(&mut conn, &migrations, options, on_event)
            .await;
        // Released on disconnect too; unlock explicitly to keep the connection reusable.
        let _ = sqlx::query("SELECT pg_advisory_unlock($1)")
            .bind(MIGRATION_LOCK_KEY)
            .execute(&mut conn)
            .await;
        result
    }

    async fn up_locked(
        &self,
        conn: &mut PgConnection,
        migrations: &[Migration],
        options: &UpOptions,
        on_event: &mut (dyn FnMut(UpEvent) + Send),
    ) -> Result<UpReport, Error> {
        ledger::ensure_ledger(conn, self.kind).await?;
        // Read under the lock: another runner may have just finished.
        let applied = ledger::read_ledger(conn, self.kind).await?;
        let status = Status::compute(self.kind, migrations, &applied);
        refuse_drift(&status, options.allow_out_of_order)?;
        let pending = status.pending(options.target.as_deref(), options.allow_out_of_order);
        on_event(UpEvent::Planned {
            count: pending.len(),
        });
        let mut done = Vec::new();
        for (index, m) in pending.iter().enumerate() {
            on_event(UpEvent::Applying {
                index,
                count: pending.len(),
                version: m.version.clone(),
                name: m.name.clone(),
            });
            let started = Instant::now();
            if m.no_transaction {
                self.apply_without_transaction(conn, m).await?;
            } else {
                self.apply_in_transaction(conn, m).await?;
            }
            on_event(UpEvent::Applied {
                version: m.version.clone(),
                elapsed: started.elapsed(),
            });
            done.push(m.version.clone());
        }
        Ok(UpReport {
            applied: done,
            dry_run: false,
            plan: plan_of(&pending),
        })
    }

    /// One round trip: the file and its ledger row in one explicit transaction.
    async fn apply_in_transaction(
        &self,
        conn: &mut PgConnection,
        m: &Migration,
    ) -> Result<(), Error> {
        const PREFIX: &str = "BEGIN;\n";
        let reset = if self.kind == SourceKind::Supabase {
            "RESET ALL;\n"
        } else {
            ""
        };
        let message = format!(
            "{PREFIX}{}\n;\n{};\n{reset}COMMIT;",
            m.sql,
            self.kind.insert_sql(m, &self.applied_by, true)
        );
        if let Err(e) = execute(conn, message).await {
            let _ = execute(conn, "ROLLBACK".to_string()).await;
            return Err(failure(m, &e, PREFIX.chars().count(), 0));
        }
        Ok(())
    }

    /// `CREATE INDEX CONCURRENTLY` and friends: each statement on its own,
    /// the ledger row after they all succeed. A failure part-way is recorded
    /// (Preflight's ledger: `success = false`) so the next run refuses until repaired.
    async fn apply_without_transaction(
        &self,
        conn: &mut PgConnection,
        m: &Migration,
    ) -> Result<(), Error> {
        let mut offset = 0;
        for stmt in split_statements(&m.sql) {
            let at = m.sql[offset..].find(&stmt).map_or(offset, |i| offset + i);
            offset = at + stmt.len();
            if let Err(e) = execute(conn, stmt.clone()).await {
                let line_base = m.sql[..at].matches('\n').count();
                let err = failure(m, &e, 0, line_base);
                if self.kind == SourceKind::Sql {
                    let _ = execute(conn, self.kind.insert_sql(m, &self.applied_by, false)).await;
                }
                return Err(err);
            }
        }
        execute(conn, self.kind.insert_sql(m, &self.applied_by, true))
            .await
            .map_err(|source| Error::Query {
                context: format!("record migration {}", m.version),
                source,
            })
    }
}

fn plan_of(pending: &[&Migration]) -> Vec<(String, String)> {
    pending
        .iter()
        .map(|m| (m.version.clone(), m.name.clone()))
        .collect()
}

/// The Prime Directive: never build on a history that does not match the files.
fn refuse_drift(status: &Status, allow_out_of_order: bool) -> Result<(), Error> {
    let mut problems = Vec::new();
    for e in &status.entries {
        let problem = match e.state {
            MigrationState::Modified => format!(
                "{} ({}) was applied and has been modified since",
                e.version, e.name
            ),
            MigrationState::Missing => format!(
                "{} ({}) is in the ledger but not on disk",
                e.version, e.name
            ),
            MigrationState::Failed => format!(
                "{} ({}) failed part-way; inspect the database, then `migrate repair`",
                e.version, e.name
            ),
            MigrationState::OutOfOrder if !allow_out_of_order => {
                format!(
                    "{} ({}) is older than the newest applied migration (allow with --allow-out-of-order)",
                    e.version, e.name
                )
            }
            _ => continue,
        };
        problems.push(problem);
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(Error::Refused { problems })
    }
}

/// Maps a server error to the file and line of the failing statement.
fn failure(m: &Migration, e: &sqlx::Error, prefix_chars: usize, line_base: usize) -> Error {
    let (message, position) = match e {
        sqlx::Error::Database(db) => {
            let pg = db.try_downcast_ref::<PgDatabaseError>();
            let position = pg.and_then(|p| match p.position() {
                Some(PgErrorPosition::Original(pos)) => Some(pos),
                _ => None,
            });
            let code = pg
                .map(|p| format!(" (SQLSTATE {})", p.code()))
                .unwrap_or_default();
            (format!("{}{code}", db.message()), position)
        }
        other => (other.to_string(), None),
    };
    let line = position
        .and_then(|pos| pos.checked_sub(1 + prefix_chars))
        .map(|chars| {
            let byte = m
                .sql
                .char_indices()
                .nth(chars)
                .map_or(m.sql.len(), |(b, _)| b);
            m.sql[..byte].matches('\n').count() + 1
        })
        .unwrap_or(1)
        + line_base;
    Error::MigrationFailed {
        version: m.version.clone(),
        path: m.path.clone(),
        line,
        message,
    }
}

/// Takes the advisory lock, waiting at most `timeout`; then names the holder.
async fn lock(conn: &mut PgConnection, timeout: Duration) -> Result<Duration, Error> {
    let started = Instant::now();
    let mut pause = Duration::from_millis(20);
    loop {
        let got: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
            .bind(MIGRATION_LOCK_KEY)
            .fetch_one(&mut *conn)
            .await
            .map_err(|source| Error::Query {
                context: "take the migration lock".into(),
                source,
            })?;
        if got {
            return Ok(started.elapsed());
        }
        if started.elapsed() >= timeout {
            let holder: Option<String> = sqlx::query_scalar(
                "SELECT format('pid %s, user %s, application %L, from %s, since %s', a.pid, a.usename, a.application_name, \
                 coalesce(a.client_addr::text, 'local socket'), a.backend_start::timestamp(0)) \
                 FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid \
                 WHERE l.locktype = 'advisory' AND l.granted AND l.classid = ($1 >> 32)::oid AND l.objid = ($1 & 4294967295)::oid LIMIT 1",
            )
            .bind(MIGRATION_LOCK_KEY)
            .fetch_optional(&mut *conn)
            .await
            .ok()
            .flatten();
            return Err(Error::LockTimeout {
                key: MIGRATION_LOCK_KEY,
                waited_secs: timeout.as_secs(),
                holder,
            });
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_millis(500));
    }
}

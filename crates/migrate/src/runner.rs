//! Applying migrations under an advisory lock, one transaction per migration.

use std::time::{Duration, Instant};

use serde::Serialize;
use sqlx::postgres::{PgConnectOptions, PgDatabaseError, PgErrorPosition};
use sqlx::{ConnectOptions, PgConnection};

use crate::error::Error;
use crate::ledger::{self, execute};
use crate::plan::{MigrationState, Status};
use crate::source::{Migration, MigrationSource, SourceKind};
use crate::split::statement_spans;

/// The session advisory lock every Preflight runner takes on a database
/// (`pg_advisory_lock(5787764639354406728)`, the bytes of "PREFLIGH"). All
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
    /// Becomes `true` on SIGINT/SIGTERM: the running migration is cancelled
    /// on the server (a cancel request), rolled back and not recorded; the
    /// lock is released and `up` ends with [`Error::Interrupted`].
    pub interrupt: Option<Interrupt>,
}

/// A flag that becomes `true` when the run must stop (see [`interrupt_on_signals`]).
pub type Interrupt = tokio::sync::watch::Receiver<bool>;

/// An [`Interrupt`] set by the first SIGINT or SIGTERM this process gets.
pub fn interrupt_on_signals() -> Interrupt {
    let (tx, rx) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        let term = async {
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(mut s) => {
                    s.recv().await;
                }
                Err(_) => std::future::pending::<()>().await,
            }
        };
        let int = async {
            // A handler that cannot be installed never fires.
            if tokio::signal::ctrl_c().await.is_err() {
                std::future::pending::<()>().await;
            }
        };
        tokio::select! {
            () = int => {}
            () = term => {}
        }
        let _ = tx.send(true);
    });
    rx
}

fn interrupted(interrupt: Option<&Interrupt>) -> bool {
    interrupt.is_some_and(|i| *i.borrow())
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

/// What `repair` records a version as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RepairStatus {
    Applied,
    Reverted,
}

/// One row `baseline` or `repair` changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LedgerChange {
    pub version: String,
    pub name: String,
    /// `baseline`, `repair applied`, `repair reverted`.
    pub action: String,
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
        connect(&self.database_url).await
    }

    /// Status of every migration; reads only.
    pub async fn status(&self) -> Result<Status, Error> {
        let (migrations, skipped) = self.source.list().await?;
        let mut conn = self.connect().await?;
        let applied = ledger::read_ledger(&mut conn, self.kind).await?;
        let mut status = Status::compute(self.kind, &migrations, &applied);
        (status.unusable, status.skipped) = skipped.into_iter().partition(|s| s.blocking);
        Ok(status)
    }

    /// The folder's migrations, refused while any entry is unusable: what
    /// cannot be read cannot be ordered (applying around it could skip a
    /// migration that belongs in between), and a version used twice cannot
    /// be recorded twice.
    async fn usable_migrations(&self) -> Result<Vec<Migration>, Error> {
        let (migrations, skipped) = self.source.list().await?;
        let unusable: Vec<String> = skipped
            .iter()
            .filter(|s| s.blocking)
            .map(|s| format!("{}: {}", s.path.display(), s.reason))
            .collect();
        if unusable.is_empty() {
            Ok(migrations)
        } else {
            Err(Error::Refused { problems: unusable })
        }
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
        let migrations = self.usable_migrations().await?;
        if let Some(t) = &options.target
            && !migrations.iter().any(|m| &m.version == t)
        {
            return Err(Error::UnknownTarget { version: t.clone() });
        }
        let mut conn = self.connect().await?;
        // Read without the lock first: a clean database needs neither the
        // lock nor the ledger DDL, which keeps the no-op re-run fast.
        let applied = ledger::read_ledger(&mut conn, self.kind).await?;
        let status = Status::compute(self.kind, &migrations, &applied);
        refuse_drift(&status, options.allow_out_of_order)?;
        let pending = status.pending(options.target.as_deref(), options.allow_out_of_order);
        if options.dry_run || pending.is_empty() {
            return Ok(UpReport {
                applied: Vec::new(),
                dry_run: options.dry_run,
                plan: plan_of(&pending),
            });
        }
        let waited = lock(&mut conn, self.lock_timeout).await?;
        on_event(UpEvent::Locked { waited });
        let result = self
            .up_locked(&mut conn, &migrations, options, on_event)
            .await;
        unlock(&mut conn).await;
        result
    }

    /// Adopts a database that was migrated by hand: records every migration
    /// on disk up to and including `up_to` as applied, without running it.
    /// Refuses when a later migration is already in the ledger (that is a
    /// `repair`, not an adoption).
    pub async fn baseline(&self, up_to: &str) -> Result<Vec<LedgerChange>, Error> {
        let migrations = self.usable_migrations().await?;
        let Some(last) = migrations.iter().position(|m| m.version == up_to) else {
            return Err(Error::UnknownTarget {
                version: up_to.to_string(),
            });
        };
        let mut conn = self.connect().await?;
        lock(&mut conn, self.lock_timeout).await?;
        let result = async {
            ledger::ensure_ledger(&mut conn, self.kind).await?;
            let applied = ledger::read_ledger(&mut conn, self.kind).await?;
            let later: Vec<String> = migrations[last + 1..]
                .iter()
                .filter(|m| applied.iter().any(|a| a.version == m.version))
                .map(|m| {
                    format!(
                        "{} ({}) is already applied after the baseline",
                        m.version, m.name
                    )
                })
                .collect();
            if !later.is_empty() {
                return Err(Error::Refused { problems: later });
            }
            let chosen: Vec<&Migration> = migrations[..=last]
                .iter()
                .filter(|m| !applied.iter().any(|a| a.version == m.version))
                .collect();
            self.record(&mut conn, "baseline", &chosen, &[]).await
        }
        .await;
        unlock(&mut conn).await;
        result
    }

    /// Fixes the ledger deliberately, as `supabase migration repair` does:
    /// `Applied` records each version as applied with the file's current
    /// content (accepting a modification, or a failed non-transactional run
    /// finished by hand); `Reverted` deletes its row. Every change is
    /// written to `preflight.ledger_audit` with who made it.
    pub async fn repair(
        &self,
        status: RepairStatus,
        versions: &[String],
    ) -> Result<Vec<LedgerChange>, Error> {
        let migrations = self.usable_migrations().await?;
        let mut conn = self.connect().await?;
        lock(&mut conn, self.lock_timeout).await?;
        let result = async {
            ledger::ensure_ledger(&mut conn, self.kind).await?;
            match status {
                RepairStatus::Applied => {
                    let mut chosen = Vec::new();
                    for v in versions {
                        let m = migrations
                            .iter()
                            .find(|m| &m.version == v)
                            .ok_or_else(|| Error::UnknownTarget { version: v.clone() })?;
                        chosen.push(m);
                    }
                    self.record(&mut conn, "repair applied", &chosen, &[]).await
                }
                RepairStatus::Reverted => {
                    let applied = ledger::read_ledger(&mut conn, self.kind).await?;
                    let mut rows = Vec::new();
                    for v in versions {
                        let row = applied
                            .iter()
                            .find(|a| &a.version == v)
                            .ok_or_else(|| Error::NotInLedger { version: v.clone() })?;
                        rows.push((row.version.clone(), row.name.clone().unwrap_or_default()));
                    }
                    self.record(&mut conn, "repair reverted", &[], &rows).await
                }
            }
        }
        .await;
        unlock(&mut conn).await;
        result
    }

    /// Upserts `applied` and deletes `reverted` rows in one transaction, with
    /// an audit row for each.
    async fn record(
        &self,
        conn: &mut PgConnection,
        action: &str,
        applied: &[&Migration],
        reverted: &[(String, String)],
    ) -> Result<Vec<LedgerChange>, Error> {
        let mut sql = format!("BEGIN;\n{}\n", ledger::AUDIT_DDL);
        let mut changes = Vec::new();
        for m in applied {
            sql.push_str(&self.kind.upsert_sql(m, &self.applied_by));
            sql.push_str(";\n");
            if self.kind == SourceKind::Supabase {
                sql.push_str(&ledger::unfinished_delete_sql(&m.version));
                sql.push('\n');
            }
            sql.push_str(&ledger::audit_sql(
                self.kind,
                action,
                &m.version,
                &m.name,
                &self.applied_by,
            ));
            changes.push(LedgerChange {
                version: m.version.clone(),
                name: m.name.clone(),
                action: action.to_string(),
            });
        }
        for (version, name) in reverted {
            sql.push_str(&format!(
                "DELETE FROM {} WHERE version = {};\n",
                self.kind.ledger_table(),
                ledger::quote(version)
            ));
            if self.kind == SourceKind::Supabase {
                sql.push_str(&ledger::unfinished_delete_sql(version));
                sql.push('\n');
            }
            sql.push_str(&ledger::audit_sql(
                self.kind,
                action,
                version,
                name,
                &self.applied_by,
            ));
            changes.push(LedgerChange {
                version: version.clone(),
                name: name.clone(),
                action: action.to_string(),
            });
        }
        sql.push_str("COMMIT;");
        if let Err(source) = execute(conn, sql).await {
            let _ = execute(conn, "ROLLBACK".to_string()).await;
            return Err(Error::Query {
                context: format!("{action}: update {}", self.kind.ledger_table()),
                source,
            });
        }
        Ok(changes)
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
        refuse_transaction_control(&pending)?;
        on_event(UpEvent::Planned {
            count: pending.len(),
        });
        let mut done = Vec::new();
        // The server process a cancel request must name.
        let backend_pid: Option<i32> = match &options.interrupt {
            Some(_) => sqlx::query_scalar("SELECT pg_backend_pid()")
                .fetch_one(&mut *conn)
                .await
                .ok(),
            None => None,
        };
        for (index, m) in pending.iter().enumerate() {
            if interrupted(options.interrupt.as_ref()) {
                return Err(Error::Interrupted {
                    applied: done,
                    running: None,
                });
            }
            on_event(UpEvent::Applying {
                index,
                count: pending.len(),
                version: m.version.clone(),
                name: m.name.clone(),
            });
            let started = Instant::now();
            let applying = async {
                if m.no_transaction {
                    self.apply_without_transaction(&mut *conn, m).await
                } else {
                    apply_in_transaction(&mut *conn, self.kind, &self.applied_by, m).await
                }
            };
            let result = match (&options.interrupt, backend_pid) {
                (Some(interrupt), Some(pid)) => {
                    let mut interrupt = interrupt.clone();
                    let stop = async move {
                        // The guard `wait_for` returns must not live across an
                        // await; a dropped sender means no interrupt can come.
                        let set = interrupt.wait_for(|stop| *stop).await.is_ok();
                        if !set {
                            std::future::pending::<()>().await;
                        }
                    };
                    tokio::pin!(applying);
                    let finished = tokio::select! {
                        biased;
                        r = &mut applying => Some(r),
                        () = stop => None,
                    };
                    match finished {
                        Some(r) => r,
                        None => {
                            // Cancel the statement on the server, then let the
                            // failed migration roll back as any failure does.
                            cancel_backend(&self.database_url, pid).await;
                            let _ = applying.await;
                            return Err(Error::Interrupted {
                                applied: done,
                                running: Some(m.version.clone()),
                            });
                        }
                    }
                }
                _ => applying.await,
            };
            result?;
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

    /// `CREATE INDEX CONCURRENTLY` and friends: each statement on its own.
    /// Preflight's ledger gets a "started" row (`success = false`) before
    /// the first statement and is marked done after the last, so a failure
    /// or a `kill -9` part-way leaves a failed row that `up` refuses until
    /// `migrate repair` (the dirty flag), never a silent re-run.
    async fn apply_without_transaction(
        &self,
        conn: &mut PgConnection,
        m: &Migration,
    ) -> Result<(), Error> {
        tracing::info!(version = %m.version, name = %m.name, "apply without a transaction");
        let started = match self.kind {
            SourceKind::Sql => self.kind.insert_sql(m, &self.applied_by, false),
            SourceKind::Supabase => ledger::unfinished_insert_sql(m, &self.applied_by),
        };
        execute(conn, started)
            .await
            .map_err(|source| Error::Query {
                context: format!("record migration {} as started", m.version),
                source,
            })?;
        // The Supabase CLI resets the session before each file.
        if self.kind == SourceKind::Supabase {
            execute(conn, "RESET ALL".to_string())
                .await
                .map_err(|source| Error::Query {
                    context: "reset the session before the migration".into(),
                    source,
                })?;
        }
        for span in statement_spans(&m.sql) {
            let stmt = m.sql[span.0..span.1].to_string();
            if let Err(e) = execute(conn, stmt).await {
                // The started row stays: the migration is half applied.
                return Err(failure(m, &e, Sent::Statement(span)));
            }
        }
        let done = match self.kind {
            SourceKind::Sql => self.kind.upsert_sql(m, &self.applied_by),
            // The CLI's row and the end of the "started" mark, together.
            SourceKind::Supabase => format!(
                "BEGIN;\n{};\n{}\nCOMMIT;",
                self.kind.insert_sql(m, &self.applied_by, true),
                ledger::unfinished_delete_sql(&m.version)
            ),
        };
        execute(conn, done).await.map_err(|source| Error::Query {
            context: format!("record migration {}", m.version),
            source,
        })
    }
}

/// One round trip: the file and its ledger row in one explicit transaction
/// (for Supabase after `RESET ALL`, as the CLI resets the session before
/// each file). Statements are counted as the server completes them, so a
/// failure names the line its statement starts on even when the server
/// gives no position.
pub(crate) async fn apply_in_transaction(
    conn: &mut PgConnection,
    kind: SourceKind,
    applied_by: &str,
    m: &Migration,
) -> Result<(), Error> {
    tracing::info!(version = %m.version, name = %m.name, "apply in a transaction");
    let (prefix, prefix_statements) = if kind == SourceKind::Supabase {
        ("RESET ALL;\nBEGIN;\n", 2)
    } else {
        ("BEGIN;\n", 1)
    };
    let message = format!(
        "{prefix}{}\n;\n{};\nCOMMIT;",
        m.sql,
        kind.insert_sql(m, applied_by, true)
    );
    if let Err((completed, e)) = execute_counted(conn, message).await {
        let _ = execute(conn, "ROLLBACK".to_string()).await;
        return Err(failure(
            m,
            &e,
            Sent::File {
                prefix_chars: prefix.chars().count(),
                failed_statement: completed.checked_sub(prefix_statements),
            },
        ));
    }
    Ok(())
}

/// Runs literal SQL (one simple-query message); on failure, how many of
/// its statements the server had completed.
async fn execute_counted(conn: &mut PgConnection, sql: String) -> Result<(), (usize, sqlx::Error)> {
    use futures_util::StreamExt as _;
    let mut results = sqlx::raw_sql(sqlx::AssertSqlSafe(sql)).execute_many(&mut *conn);
    let mut completed = 0;
    while let Some(result) = results.next().await {
        match result {
            Ok(_) => completed += 1,
            Err(e) => return Err((completed, e)),
        }
    }
    Ok(())
}

fn plan_of(pending: &[&Migration]) -> Vec<(String, String)> {
    pending
        .iter()
        .map(|m| (m.version.clone(), m.name.clone()))
        .collect()
}

/// A file that runs in Preflight's transaction must not end it itself:
/// it would commit half of the file with no ledger row.
fn refuse_transaction_control(pending: &[&Migration]) -> Result<(), Error> {
    let problems: Vec<String> = pending
        .iter()
        .filter(|m| !m.no_transaction)
        .filter_map(|m| {
            crate::split::transaction_control(&m.sql).map(|(line, word)| {
                format!(
                    "{}:{line}: `{word}` would end the transaction the migration runs in, committing part of it; remove it, or mark the file `{}`",
                    m.path.display(),
                    crate::source::NO_TRANSACTION_MARKER
                )
            })
        })
        .collect();
    if problems.is_empty() {
        Ok(())
    } else {
        Err(Error::Refused { problems })
    }
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

/// What was sent when a migration failed.
enum Sent {
    /// The whole file after `prefix_chars` characters, of which the server
    /// completed statements before `failed_statement` (0-based; `None` when
    /// it failed in the prefix).
    File {
        prefix_chars: usize,
        failed_statement: Option<usize>,
    },
    /// One statement, at these byte offsets of the file.
    Statement((usize, usize)),
}

/// Maps a server error to the file and line: the server's position when it
/// gives one, else the line where the failing statement starts.
fn failure(m: &Migration, e: &sqlx::Error, sent: Sent) -> Error {
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
    // The file's byte offset where the text sent starts, and its length.
    let (base, sent_len, prefix_chars) = match sent {
        Sent::File { prefix_chars, .. } => (0, m.sql.len(), prefix_chars),
        Sent::Statement((start, end)) => (start, end - start, 0),
    };
    let at_position = position
        .and_then(|pos| pos.checked_sub(1 + prefix_chars))
        .and_then(|chars| {
            let sent = &m.sql[base..base + sent_len];
            let byte = sent.char_indices().nth(chars).map(|(b, _)| b)?;
            Some(m.sql[..base + byte].matches('\n').count() + 1)
        });
    let statement_start = || match sent {
        Sent::Statement(span) => Some(crate::split::start_line(&m.sql, span)),
        Sent::File {
            failed_statement, ..
        } => failed_statement.and_then(|i| {
            statement_spans(&m.sql)
                .get(i)
                .map(|span| crate::split::start_line(&m.sql, *span))
        }),
    };
    let line = at_position.or_else(statement_start).unwrap_or(1);
    Error::MigrationFailed {
        version: m.version.clone(),
        path: m.path.clone(),
        line,
        message,
    }
}

/// Connects as `preflight migrate` (so `pg_stat_activity` shows who holds the lock).
pub(crate) async fn connect(url: &str) -> Result<PgConnection, Error> {
    connect_as(url, "preflight migrate").await
}

/// How long a connection may take: `PGCONNECT_TIMEOUT` seconds as libpq
/// reads it (a positive whole number), else 10 s.
pub fn connect_timeout() -> Duration {
    std::env::var("PGCONNECT_TIMEOUT")
        .ok()
        .and_then(|v| v.trim().parse::<u64>().ok())
        .filter(|&s| s > 0)
        .map_or(Duration::from_secs(10), Duration::from_secs)
}

/// Connects with [`connect_timeout`]: a server that accepts the TCP
/// connection and never answers fails closed, naming its host (never the
/// password), instead of hanging the run.
pub async fn connect_as(url: &str, application_name: &str) -> Result<PgConnection, Error> {
    let options: PgConnectOptions = url.parse().map_err(Error::Connect)?;
    let host = format!("{}:{}", options.get_host(), options.get_port());
    // Host and database only: never the URL (it may hold a password).
    tracing::debug!(%host, database = options.get_database().unwrap_or(""), application_name, "connect");
    let limit = connect_timeout();
    // No `extra_float_digits` in the startup packet: a migration sees the
    // server's setting, as under psql and the Supabase CLI.
    let options = options
        .application_name(application_name)
        .extra_float_digits(None)
        .disable_statement_logging();
    match tokio::time::timeout(limit, options.connect()).await {
        Ok(result) => result.map_err(Error::Connect),
        Err(_) => Err(Error::ConnectTimeout {
            host,
            secs: limit.as_secs(),
        }),
    }
}

/// Asks the server to cancel what backend `pid` runs (a PostgreSQL cancel
/// request through `pg_cancel_backend`, from a second connection).
async fn cancel_backend(url: &str, pid: i32) {
    if let Ok(mut conn) = connect_as(url, "preflight migrate (cancel)").await {
        let _ = sqlx::query("SELECT pg_cancel_backend($1)")
            .bind(pid)
            .execute(&mut conn)
            .await;
    }
}

/// Released on disconnect too; unlock explicitly to keep the connection reusable.
pub(crate) async fn unlock(conn: &mut PgConnection) {
    let _ = sqlx::query("SELECT pg_advisory_unlock($1)")
        .bind(MIGRATION_LOCK_KEY)
        .execute(conn)
        .await;
}

/// Takes the advisory lock, waiting at most `timeout`; then names the holder.
pub(crate) async fn lock(conn: &mut PgConnection, timeout: Duration) -> Result<Duration, Error> {
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

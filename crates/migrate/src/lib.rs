//! Migration sources and runners: ordered SQL directories and Supabase
//! folders, Alembic revision graphs (read without Python, applied by the
//! project's Alembic) and Python-script lists, on PostgreSQL; their ledgers,
//! the advisory lock that keeps two runners from applying anything twice,
//! status, plans, baseline/repair, `pg_dump` backups into an
//! [`ArtifactStore`], and PostgreSQL clusters for tests and local rehearsals.
//!
//! Main types:
//! - [`MigrationSource`] (with [`SqlDir`] and [`SupabaseDir`]): where
//!   migrations come from; plug in your own.
//! - [`Status`]: every migration as applied, pending, modified, missing,
//!   out-of-order or failed.
//! - [`Migrator`]: `status` and `up` against one database, under
//!   [`MIGRATION_LOCK_KEY`], one transaction (and one round trip) per migration.
//! - [`RevisionGraph`] and [`AlembicMigrator`]: Alembic's heads, history and
//!   upgrade order, and upgrades checked against `alembic_version`.
//! - [`Migrations`]: any flavour behind one interface: [`Migrations::check`]
//!   gives a typed [`ModuleState`], [`Migrations::up`] is the one "back up,
//!   then apply, then prove the target" path.
//! - [`TempPostgres`] (a cluster in a temp dir) and [`LocalPostgres`] (kept
//!   under a project's `.preflight/`).
//!
//! ```no_run
//! # async fn demo() -> Result<(), preflight_migrate::Error> {
//! use preflight_migrate::{Migrator, SourceKind, SqlDir, TempPostgres, UpOptions};
//!
//! let pg = TempPostgres::start()?;
//! let migrator = Migrator {
//!     kind: SourceKind::Sql,
//!     source: Box::new(SqlDir { dir: "db/schema".into() }),
//!     database_url: pg.create_database("mobius_chat")?,
//!     applied_by: "release-bot".into(),
//!     lock_timeout: std::time::Duration::from_secs(60),
//! };
//! let report = migrator.up(&UpOptions::default(), &mut |_| {}).await?;
//! assert!(migrator.status().await?.is_clean());
//! # let _ = report; Ok(()) }
//! ```

mod alembic;
mod artifact;
mod backup;
mod error;
mod ledger;
mod module;
mod pg;
mod plan;
mod runner;
mod scaffold;
mod scripts;
mod source;
mod split;

pub use alembic::{
    AlembicMigrator, AlembicProject, AlembicReport, AlembicStatus, AlembicWarning, Revision,
    RevisionGraph, UpgradePlan, load_revisions,
};
pub use artifact::{ArtifactStore, LocalDirStore, StoredArtifact, check_key};
pub use backup::{Backup, backup_database, backup_key, database_name, restore_database};
pub use error::Error;
pub use ledger::{AppliedRow, PREFLIGHT_LEDGER, SUPABASE_LEDGER, read_ledger};
pub use module::{Applied, BackupTo, Migrations, ModuleState, PinnedFile, TargetCheck};
pub use pg::{LocalPostgres, LocalStatus, TempPostgres, find_postgres_bin};
pub use plan::{MigrationState, Status, StatusEntry};
pub use preflight_manifest::error_text;
pub use runner::{
    Interrupt, LedgerChange, MIGRATION_LOCK_KEY, Migrator, RepairStatus, UpEvent, UpOptions,
    UpReport, connect_as, connect_timeout, interrupt_on_signals,
};
pub use scaffold::{migration_slug, new_migration, rollback_migration};
pub use scripts::{ScriptEntry, ScriptList, ScriptReport};
pub use source::{
    Migration, MigrationSource, NO_TRANSACTION_MARKER, Skipped, SourceKind, SqlDir, SupabaseDir,
    checksum, normalise,
};
pub use split::split_statements;

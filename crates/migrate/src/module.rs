//! One interface over every migration flavour: where a module's database
//! stands against its target, and the one "back up, then apply" path that
//! `preflight migrate up` and the release both take.

use std::collections::HashSet;

use serde::{Deserialize, Serialize};

use crate::alembic::AlembicMigrator;
use crate::artifact::ArtifactStore;
use crate::backup::{Backup, backup_database, backup_key, database_name};
use crate::error::Error;
use crate::plan::{MigrationState, Status};
use crate::runner::{Migrator, UpEvent, UpOptions};
use crate::scripts::ScriptList;
use preflight_manifest::error_text;

/// A migration file a release pins, by its full file name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PinnedFile {
    /// `001_init.sql`, `20260201120000_tasks.sql`: what must be on disk.
    pub file_name: String,
}

impl PinnedFile {
    /// The pin for the last path component of `name` (`db/schema/001_init.sql`).
    pub fn new(name: &str) -> PinnedFile {
        PinnedFile {
            file_name: name.rsplit('/').next().unwrap_or(name).to_string(),
        }
    }
}

/// One module's migrations of any flavour, against one database.
#[derive(Debug)]
pub enum Migrations {
    /// An ordered SQL folder or a Supabase folder. With pins, the target is
    /// the newest pinned file and every pinned file must be on disk by its
    /// full name; without, everything on disk is the target.
    Files {
        migrator: Migrator,
        pins: Vec<PinnedFile>,
    },
    /// An Alembic project; `target` is a revision, a label or `heads`.
    Alembic {
        migrator: AlembicMigrator,
        target: String,
    },
    /// `python:` and `sql:` entries run in list order.
    Scripts(ScriptList),
}

/// Where a module's database stands against its target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ModuleState {
    /// Exactly at the target: nothing pending, nothing drifted.
    #[serde(rename = "at manifest")]
    AtTarget,
    /// Behind the target, and `up` would bring it there.
    #[serde(rename = "pending")]
    Pending,
    /// The ledger disagrees with the files or the pins: modified, missing,
    /// failed, out of order, ahead, or a pin that is not on disk. `up` refuses.
    #[serde(rename = "drift")]
    Drift,
    /// Could not be checked (no connection, unreadable files).
    #[serde(rename = "error")]
    Error,
}

impl ModuleState {
    /// The word people and JSON see.
    pub fn as_str(self) -> &'static str {
        match self {
            ModuleState::AtTarget => "at manifest",
            ModuleState::Pending => "pending",
            ModuleState::Drift => "drift",
            ModuleState::Error => "error",
        }
    }
}

/// A module's state with what `up` would apply and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TargetCheck {
    pub state: ModuleState,
    /// What `up` would apply, in order (versions, revisions or entries).
    pub pending: Vec<String>,
    pub detail: String,
}

impl TargetCheck {
    fn error(detail: String) -> TargetCheck {
        TargetCheck {
            state: ModuleState::Error,
            pending: Vec::new(),
            detail,
        }
    }
}

/// What [`Migrations::up`] did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Applied {
    /// The backup taken first, when one was asked for and anything was pending.
    pub backup: Option<Backup>,
    /// Versions, revisions or entries applied, in order.
    pub applied: Vec<String>,
    /// The check after applying: always [`ModuleState::AtTarget`] when `Ok`.
    pub after: TargetCheck,
    /// Alembic's or the scripts' own output, for `-v`.
    pub output: String,
}

/// Where to put the backup taken before applying.
#[derive(Clone, Copy)]
pub struct BackupTo<'a> {
    pub store: &'a dyn ArtifactStore,
    /// The database's name, for the artifact key.
    pub database: &'a str,
}

impl std::fmt::Debug for BackupTo<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BackupTo")
            .field("database", &self.database)
            .finish_non_exhaustive()
    }
}

impl Migrations {
    /// The flavour, as the config names it.
    pub fn kind(&self) -> &'static str {
        match self {
            Migrations::Files { migrator, .. } => migrator.kind.as_str(),
            Migrations::Alembic { .. } => "alembic",
            Migrations::Scripts(_) => "python",
        }
    }

    /// The URL this runs against; holds the password, never print it.
    pub fn database_url(&self) -> &str {
        match self {
            Migrations::Files { migrator, .. } => &migrator.database_url,
            Migrations::Alembic { migrator, .. } => &migrator.database_url,
            Migrations::Scripts(list) => &list.database_url,
        }
    }

    /// The newest pinned version of a file folder, if it is pinned and on disk.
    fn files_target(status: &Status, pins: &[PinnedFile]) -> Result<Option<String>, Vec<String>> {
        if pins.is_empty() {
            return Ok(None);
        }
        let on_disk: HashSet<String> = status
            .entries
            .iter()
            .filter_map(|e| e.migration.as_ref())
            .filter_map(|m| m.path.file_name().map(|n| n.to_string_lossy().into_owned()))
            .collect();
        let absent: Vec<String> = pins
            .iter()
            .filter(|p| !on_disk.contains(&p.file_name))
            .map(|p| p.file_name.clone())
            .collect();
        if !absent.is_empty() {
            return Err(absent);
        }
        // Entries are in apply order: the target is the last pinned one.
        Ok(status
            .entries
            .iter()
            .filter(|e| {
                e.migration
                    .as_ref()
                    .and_then(|m| m.path.file_name())
                    .is_some_and(|n| pins.iter().any(|p| n.to_string_lossy() == p.file_name))
            })
            .map(|e| e.version.clone())
            .next_back())
    }

    /// Where the database stands; reads only, one ledger read. Never fails:
    /// what cannot be checked is [`ModuleState::Error`].
    pub async fn check(&self) -> TargetCheck {
        match self {
            Migrations::Files { migrator, pins } => match migrator.status().await {
                Ok(status) => files_check(&status, pins),
                Err(e) => TargetCheck::error(error_text(&e)),
            },
            Migrations::Alembic { migrator, target } => match migrator.status(target).await {
                Ok(status) => {
                    let current = if status.current.is_empty() {
                        "empty".to_string()
                    } else {
                        status.current.join(", ")
                    };
                    if status.at_target() {
                        TargetCheck {
                            state: ModuleState::AtTarget,
                            pending: Vec::new(),
                            detail: format!("at {current}"),
                        }
                    } else if !status.pending.is_empty() {
                        TargetCheck {
                            state: ModuleState::Pending,
                            detail: format!("at {current}, target {target}"),
                            pending: status.pending,
                        }
                    } else {
                        TargetCheck {
                            state: ModuleState::Drift,
                            pending: Vec::new(),
                            detail: format!("at {current}, which is not target {target}"),
                        }
                    }
                }
                Err(e) => TargetCheck::error(error_text(&e)),
            },
            Migrations::Scripts(list) => match list.status().await {
                Ok(status) => scripts_check(&status),
                Err(e) => TargetCheck::error(error_text(&e)),
            },
        }
    }

    /// The one path from "behind" to "at the target": check (one ledger
    /// read), refuse drift, back up when anything is pending and `backup`
    /// is given, apply under the migration lock, then check again. `Ok`
    /// means the database is exactly at the target; anything else is `Err`.
    pub async fn up(
        &self,
        backup: Option<BackupTo<'_>>,
        on_event: &mut (dyn FnMut(UpEvent) + Send),
    ) -> Result<Applied, Error> {
        self.up_with(backup, None, on_event).await
    }

    /// [`Migrations::up`], stopping cleanly when `interrupt` becomes true:
    /// for SQL and Supabase folders the running migration is cancelled on
    /// the server and rolled back ([`Error::Interrupted`]).
    pub async fn up_with(
        &self,
        backup: Option<BackupTo<'_>>,
        interrupt: Option<crate::runner::Interrupt>,
        on_event: &mut (dyn FnMut(UpEvent) + Send),
    ) -> Result<Applied, Error> {
        let before = self.check().await;
        match before.state {
            ModuleState::AtTarget => {
                return Ok(Applied {
                    backup: None,
                    applied: Vec::new(),
                    after: before,
                    output: String::new(),
                });
            }
            ModuleState::Error => {
                return Err(Error::Unchecked {
                    detail: before.detail,
                });
            }
            ModuleState::Drift => {
                return Err(Error::Refused {
                    problems: vec![before.detail],
                });
            }
            ModuleState::Pending => {}
        }
        let backup = match backup {
            Some(to) => Some(self.backup(to).await?),
            None => None,
        };
        let (applied, output) = self.apply(interrupt, on_event).await?;
        let after = self.check().await;
        if after.state != ModuleState::AtTarget {
            return Err(Error::NotAtTarget {
                state: after.state.as_str(),
                detail: after.detail,
            });
        }
        Ok(Applied {
            backup,
            applied,
            after,
            output,
        })
    }

    /// A `pg_dump` of this module's database into `to.store`.
    pub async fn backup(&self, to: BackupTo<'_>) -> Result<Backup, Error> {
        let url = self.database_url();
        let name = database_name(url).unwrap_or_else(|| to.database.to_string());
        let key = backup_key(&name, jiff::Timestamp::now());
        backup_database(url, to.store, &key).await
    }

    /// Applies everything up to the target under the migration lock.
    async fn apply(
        &self,
        interrupt: Option<crate::runner::Interrupt>,
        on_event: &mut (dyn FnMut(UpEvent) + Send),
    ) -> Result<(Vec<String>, String), Error> {
        match self {
            Migrations::Files { migrator, pins } => {
                let status = migrator.status().await?;
                let target =
                    Self::files_target(&status, pins).map_err(|absent| Error::Refused {
                        problems: vec![format!("pinned but not on disk: {}", absent.join(", "))],
                    })?;
                let options = UpOptions {
                    target,
                    interrupt,
                    ..Default::default()
                };
                Ok((
                    migrator.up(&options, on_event).await?.applied,
                    String::new(),
                ))
            }
            Migrations::Alembic { migrator, target } => {
                let report = migrator.upgrade(target).await?;
                Ok((report.applied, report.output))
            }
            Migrations::Scripts(list) => {
                let report = list.up().await?;
                let output = report
                    .outputs
                    .iter()
                    .map(|(entry, text)| format!("{entry}:\n{text}"))
                    .collect::<Vec<_>>()
                    .join("\n");
                Ok((report.applied, output))
            }
        }
    }
}

fn files_check(status: &Status, pins: &[PinnedFile]) -> TargetCheck {
    if !status.unusable.is_empty() {
        let names: Vec<String> = status
            .unusable
            .iter()
            .map(|s| format!("{} ({})", s.path.display(), s.reason))
            .collect();
        // A definite problem with the files (a version used twice, a broken
        // link), not an unknown state: `up` refuses it like drift.
        return TargetCheck {
            state: ModuleState::Drift,
            pending: Vec::new(),
            detail: format!("cannot use {}", names.join(", ")),
        };
    }
    let target = match Migrations::files_target(status, pins) {
        Ok(t) => t,
        Err(absent) => {
            return TargetCheck {
                state: ModuleState::Drift,
                pending: Vec::new(),
                detail: format!("pinned but not on disk: {}", absent.join(", ")),
            };
        }
    };
    let drift: Vec<String> = status
        .entries
        .iter()
        .filter(|e| {
            matches!(
                e.state,
                MigrationState::Modified
                    | MigrationState::Missing
                    | MigrationState::Failed
                    | MigrationState::OutOfOrder
            )
        })
        .map(drift_text)
        .collect();
    if !drift.is_empty() {
        return TargetCheck {
            state: ModuleState::Drift,
            pending: Vec::new(),
            detail: drift.join(", "),
        };
    }
    // Apply order: everything up to the target's position is needed.
    let last_needed = match &target {
        Some(t) => status.entries.iter().rposition(|e| &e.version == t),
        None => status.entries.len().checked_sub(1),
    };
    let mut pending = Vec::new();
    let mut ahead = Vec::new();
    for (i, e) in status.entries.iter().enumerate() {
        let needed = last_needed.is_some_and(|n| i <= n);
        match e.state {
            MigrationState::Pending if needed => pending.push(e.version.clone()),
            MigrationState::Applied if !needed => ahead.push(e.version.clone()),
            _ => {}
        }
    }
    if !ahead.is_empty() {
        return TargetCheck {
            state: ModuleState::Drift,
            pending: Vec::new(),
            detail: format!("applied beyond the pinned target: {}", ahead.join(", ")),
        };
    }
    if !pending.is_empty() {
        TargetCheck {
            state: ModuleState::Pending,
            detail: format!("{} to apply", pending.len()),
            pending,
        }
    } else {
        TargetCheck {
            state: ModuleState::AtTarget,
            pending: Vec::new(),
            detail: format!("{} applied", status.count(MigrationState::Applied)),
        }
    }
}

/// One drifted migration, with what to do when it is a half-applied one.
fn drift_text(e: &crate::plan::StatusEntry) -> String {
    match e.state {
        MigrationState::Failed => format!(
            "{} failed part-way (inspect the database, then `preflight migrate repair`)",
            e.version
        ),
        other => format!("{} {}", e.version, other.as_str()),
    }
}

fn scripts_check(status: &Status) -> TargetCheck {
    let drift: Vec<String> = status
        .entries
        .iter()
        .filter(|e| matches!(e.state, MigrationState::Modified | MigrationState::Failed))
        .map(drift_text)
        .collect();
    let pending: Vec<String> = status
        .entries
        .iter()
        .filter(|e| e.state == MigrationState::Pending)
        .map(|e| e.version.clone())
        .collect();
    if !drift.is_empty() {
        TargetCheck {
            state: ModuleState::Drift,
            pending: Vec::new(),
            detail: drift.join(", "),
        }
    } else if !pending.is_empty() {
        TargetCheck {
            state: ModuleState::Pending,
            detail: format!("{} to run", pending.len()),
            pending,
        }
    } else {
        TargetCheck {
            state: ModuleState::AtTarget,
            pending: Vec::new(),
            detail: format!("{} applied", status.entries.len()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::AppliedRow;
    use crate::source::{Migration, SourceKind};

    fn migration(file: &str) -> Migration {
        let (version, name) = file.trim_end_matches(".sql").split_once('_').unwrap();
        Migration::from_file(
            version.into(),
            name.into(),
            format!("db/schema/{file}").into(),
            "SELECT 1;",
        )
        .unwrap()
    }

    fn row(m: &Migration) -> AppliedRow {
        AppliedRow {
            version: m.version.clone(),
            name: Some(m.name.clone()),
            checksum: Some(m.checksum.clone()),
            statements: None,
            success: true,
            applied_at: None,
            applied_by: None,
        }
    }

    #[test]
    fn a_pin_matches_the_full_file_name_not_the_number() {
        let files = [
            migration("001_init.sql"),
            migration("002_published_rag_metadata.sql"),
        ];
        let applied: Vec<AppliedRow> = files.iter().map(row).collect();
        let status = Status::compute(SourceKind::Sql, &files, &applied);
        let right = files_check(
            &status,
            &[PinnedFile::new("db/schema/002_published_rag_metadata.sql")],
        );
        assert_eq!(right.state, ModuleState::AtTarget);
        let wrong = files_check(
            &status,
            &[PinnedFile::new("other/dir/002_totally_wrong_name.sql")],
        );
        assert_eq!(wrong.state, ModuleState::Drift);
        assert!(
            wrong.detail.contains("002_totally_wrong_name.sql"),
            "{}",
            wrong.detail
        );
    }

    #[test]
    fn applied_beyond_the_pin_is_drift_and_behind_is_pending() {
        let files = [
            migration("001_init.sql"),
            migration("002_two.sql"),
            migration("003_three.sql"),
        ];
        let all: Vec<AppliedRow> = files.iter().map(row).collect();
        let status = Status::compute(SourceKind::Sql, &files, &all);
        let check = files_check(&status, &[PinnedFile::new("002_two.sql")]);
        assert_eq!(check.state, ModuleState::Drift);
        let status = Status::compute(SourceKind::Sql, &files, &all[..1]);
        let check = files_check(&status, &[PinnedFile::new("002_two.sql")]);
        assert_eq!(check.state, ModuleState::Pending);
        assert_eq!(check.pending, vec!["002".to_string()]);
    }
}

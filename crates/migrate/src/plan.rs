//! Comparing migrations on disk with the ledger.

use serde::Serialize;

use crate::ledger::AppliedRow;
use crate::source::{Migration, SourceKind};
use crate::split::split_statements;

/// What one migration is, relative to the database.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum MigrationState {
    Applied,
    Pending,
    /// Applied, but the file changed since.
    Modified,
    /// In the ledger, not on disk.
    Missing,
    /// Pending, but older than the newest applied migration.
    OutOfOrder,
    /// A non-transactional migration that failed part-way; needs `repair`.
    Failed,
}

impl MigrationState {
    pub fn as_str(self) -> &'static str {
        match self {
            MigrationState::Applied => "applied",
            MigrationState::Pending => "pending",
            MigrationState::Modified => "modified",
            MigrationState::Missing => "missing",
            MigrationState::OutOfOrder => "out-of-order",
            MigrationState::Failed => "failed",
        }
    }
}

/// One line of a status report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StatusEntry {
    pub version: String,
    pub name: String,
    pub state: MigrationState,
    pub applied_at: Option<String>,
    #[serde(skip)]
    pub migration: Option<Migration>,
}

/// Every migration on disk or in the ledger, in order, each in exactly one state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Status {
    pub kind: SourceKind,
    pub entries: Vec<StatusEntry>,
    /// Entries of the folder Preflight cannot use; `up` refuses while any is there.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub unusable: Vec<crate::source::Skipped>,
    /// Files skipped as the folder's own tool skips them (not `.sql`, not
    /// named `<version>_<name>.sql`, a legacy Supabase init file).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub skipped: Vec<crate::source::Skipped>,
}

impl Status {
    /// Linear in migrations + ledger rows: each side is indexed once by version.
    pub fn compute(kind: SourceKind, migrations: &[Migration], applied: &[AppliedRow]) -> Status {
        use std::collections::{HashMap, HashSet};
        // `python:NAME` and `sql:FILE` rows belong to a script list sharing the ledger.
        let applied: Vec<&AppliedRow> = applied
            .iter()
            .filter(|a| kind != SourceKind::Sql || !a.version.contains(':'))
            .collect();
        let by_version: HashMap<&str, &AppliedRow> =
            applied.iter().map(|a| (a.version.as_str(), *a)).collect();
        let on_disk: HashSet<&str> = migrations.iter().map(|m| m.version.as_str()).collect();
        let newest_applied = migrations
            .iter()
            .rposition(|m| by_version.contains_key(m.version.as_str()));
        let mut entries: Vec<StatusEntry> = migrations
            .iter()
            .enumerate()
            .map(|(i, m)| {
                let row = by_version.get(m.version.as_str()).copied();
                let state = match row {
                    Some(r) if !r.success => MigrationState::Failed,
                    Some(r) => {
                        let modified = match kind {
                            SourceKind::Sql => {
                                r.checksum.as_deref().is_some_and(|c| c != m.checksum)
                            }
                            SourceKind::Supabase => r
                                .statements
                                .as_ref()
                                .is_some_and(|s| *s != split_statements(&m.sql)),
                        };
                        if modified {
                            MigrationState::Modified
                        } else {
                            MigrationState::Applied
                        }
                    }
                    None if newest_applied.is_some_and(|n| i < n) => MigrationState::OutOfOrder,
                    None => MigrationState::Pending,
                };
                StatusEntry {
                    version: m.version.clone(),
                    name: m.name.clone(),
                    state,
                    applied_at: row.and_then(|r| r.applied_at.clone()),
                    migration: Some(m.clone()),
                }
            })
            .collect();
        for row in applied.iter().copied() {
            if !on_disk.contains(row.version.as_str()) {
                entries.push(StatusEntry {
                    version: row.version.clone(),
                    name: row.name.clone().unwrap_or_default(),
                    state: MigrationState::Missing,
                    applied_at: row.applied_at.clone(),
                    migration: None,
                });
            }
        }
        Status {
            kind,
            entries,
            unusable: Vec::new(),
            skipped: Vec::new(),
        }
    }

    /// The file names of the migrations the ledger records as applied
    /// (modified ones included), in apply order: what a database has run.
    pub fn applied_files(&self) -> Vec<String> {
        self.entries
            .iter()
            .filter(|e| matches!(e.state, MigrationState::Applied | MigrationState::Modified))
            .filter_map(|e| e.migration.as_ref())
            .filter_map(|m| m.path.file_name())
            .map(|n| n.to_string_lossy().into_owned())
            .collect()
    }

    pub fn count(&self, state: MigrationState) -> usize {
        self.entries.iter().filter(|e| e.state == state).count()
    }

    /// True when everything on disk is applied and nothing drifted.
    pub fn is_clean(&self) -> bool {
        self.unusable.is_empty()
            && self
                .entries
                .iter()
                .all(|e| e.state == MigrationState::Applied)
    }

    /// The migrations `up` would apply, in order, up to `target`
    /// (inclusive): by position in apply order, which for Supabase is
    /// file-name order, not version order.
    pub fn pending(&self, target: Option<&str>, include_out_of_order: bool) -> Vec<&Migration> {
        let last = match target {
            Some(t) => match self.entries.iter().rposition(|e| e.version == t) {
                Some(i) => i,
                None => return Vec::new(),
            },
            None => self.entries.len().saturating_sub(1),
        };
        self.entries
            .iter()
            .take(last + 1)
            .filter(|e| {
                e.state == MigrationState::Pending
                    || (include_out_of_order && e.state == MigrationState::OutOfOrder)
            })
            .filter_map(|e| e.migration.as_ref())
            .collect()
    }
}

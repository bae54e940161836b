//! A module's migrations resolved for a target and a manifest's pins, as
//! the one [`Migrations`] interface of `preflight-migrate`; and every
//! module's typed state against the manifest, shared by `migrate status`,
//! `doctor` and the release.

use std::time::Duration;

use preflight_manifest::{Manifest, MigrationKind, MigrationPin};
use preflight_migrate::{
    AlembicMigrator, AlembicProject, Migrations, Migrator, ModuleState, PinnedFile, ScriptEntry,
    ScriptList, SourceKind, SqlDir, SupabaseDir,
};
use serde::Serialize;

use crate::error::Error;
use crate::platform::Platform;
use crate::target::{ResolvedDatabase, Target};

/// One module's database against what the manifest pins.
#[derive(Debug, Clone, Serialize)]
pub struct ModuleCheck {
    /// The module's name.
    pub module: String,
    /// `sql`, `supabase`, `alembic` or `python`.
    pub kind: String,
    /// The database and how it was reached (never the password).
    pub database: String,
    /// Where it stands.
    pub state: ModuleState,
    /// What `up` would apply, in order.
    pub pending: Vec<String>,
    /// Why, for people.
    pub detail: String,
}

impl ModuleCheck {
    /// Exactly at the manifest.
    pub fn ok(&self) -> bool {
        self.state == ModuleState::AtTarget
    }
}

/// A module's migrations resolved against its database.
#[derive(Debug)]
pub struct ModuleMigrations {
    /// The module's name.
    pub module: String,
    /// The config's database name.
    pub database: String,
    /// How the database was reached, for people.
    pub via: String,
    /// The flavour-independent runner.
    pub migrations: Migrations,
}

impl Platform {
    /// Resolves `module`'s migrations in `target`; `manifest` supplies the pins.
    pub fn module_migrations(
        &self,
        target: &Target,
        module: &str,
        manifest: Option<&Manifest>,
        applied_by: &str,
        lock_timeout: Duration,
    ) -> Result<ModuleMigrations, Error> {
        let pins = manifest.and_then(|mf| mf.migrations.get(module));
        self.pinned_migrations(target, module, pins, applied_by, lock_timeout)
    }

    /// Like [`Platform::module_migrations`], with the pins given directly.
    pub(crate) fn pinned_migrations(
        &self,
        target: &Target,
        module: &str,
        pins: Option<&Vec<MigrationPin>>,
        applied_by: &str,
        lock_timeout: Duration,
    ) -> Result<ModuleMigrations, Error> {
        let (m, source, dir) = self.migrations_dir(module)?;
        let database = m.database.as_deref().ok_or_else(|| Error::Module {
            module: module.to_string(),
            problem: "has migrations but no `database`".into(),
        })?;
        let db: &ResolvedDatabase = target.database(database)?;
        let repo = self.root().join(&m.repo);
        let wrong_pin = |p: &MigrationPin, wants: &str| Error::Module {
            module: module.to_string(),
            problem: format!("is pinned to `{p}`, but it takes {wants}"),
        };
        let migrations = match source.kind {
            MigrationKind::Sql | MigrationKind::Supabase => {
                let kind = if source.kind == MigrationKind::Sql {
                    SourceKind::Sql
                } else {
                    SourceKind::Supabase
                };
                let mut files = Vec::new();
                for pin in pins.into_iter().flatten() {
                    match (source.kind, pin.kind) {
                        (MigrationKind::Sql, MigrationKind::Sql)
                        | (MigrationKind::Supabase, MigrationKind::Sql) => {
                            files.push(PinnedFile::new(&pin.name));
                        }
                        (MigrationKind::Supabase, MigrationKind::Supabase) => {
                            files.push(supabase_pin(&dir, &pin.name));
                        }
                        _ => {
                            return Err(wrong_pin(
                                pin,
                                &format!("{}: file pins", source.kind.as_str()),
                            ));
                        }
                    }
                }
                let files_source: Box<dyn preflight_migrate::MigrationSource> = match kind {
                    SourceKind::Sql => Box::new(SqlDir { dir: dir.clone() }),
                    SourceKind::Supabase => Box::new(SupabaseDir { dir: dir.clone() }),
                };
                Migrations::Files {
                    migrator: Migrator {
                        kind,
                        source: files_source,
                        database_url: db.url.clone(),
                        applied_by: applied_by.to_string(),
                        lock_timeout,
                    },
                    pins: files,
                }
            }
            MigrationKind::Alembic => {
                let dirs: Vec<std::path::PathBuf> =
                    source.dirs().into_iter().map(|d| repo.join(d)).collect();
                let mut project = AlembicProject::locate(&dirs, source.recursive).map_err(|e| {
                    Error::Migrate {
                        what: format!("cannot read the Alembic project of module `{module}`"),
                        source: Box::new(e),
                    }
                })?;
                if let Some(command) = &source.command {
                    project.command = command.clone();
                }
                let target = match pins.map(Vec::as_slice) {
                    Some([pin]) if pin.kind == MigrationKind::Alembic => pin.name.clone(),
                    Some([pin]) => return Err(wrong_pin(pin, "one alembic: revision")),
                    Some([]) | None => "heads".to_string(),
                    Some(_) => {
                        return Err(Error::Module {
                            module: module.to_string(),
                            problem: "pins several Alembic revisions; pin one".into(),
                        });
                    }
                };
                Migrations::Alembic {
                    migrator: AlembicMigrator {
                        project,
                        database_url: db.url.clone(),
                        lock_timeout,
                    },
                    target,
                }
            }
            MigrationKind::Python => {
                let pins = pins.ok_or_else(|| Error::Module {
                    module: module.to_string(),
                    problem: "runs the scripts a release manifest lists; pass --manifest".into(),
                })?;
                let entries = pins
                    .iter()
                    .map(|p| match p.kind {
                        MigrationKind::Python => Ok(ScriptEntry::Python(p.name.clone())),
                        MigrationKind::Sql => Ok(ScriptEntry::Sql(p.name.clone())),
                        _ => Err(wrong_pin(p, "python: and sql: entries")),
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                Migrations::Scripts(ScriptList {
                    dir,
                    workdir: repo,
                    command: source.command.clone().unwrap_or_default(),
                    env: Vec::new(),
                    url_env: "DATABASE_URL".into(),
                    entries,
                    database_url: db.url.clone(),
                    applied_by: applied_by.to_string(),
                    lock_timeout,
                    script_timeout: Duration::from_secs(600),
                })
            }
        };
        Ok(ModuleMigrations {
            module: module.to_string(),
            database: database.to_string(),
            via: db.via.clone(),
            migrations,
        })
    }

    /// Every migrating module (or just `only`) in `target` against the
    /// manifest's pins; reads only, concurrently. A module that cannot be
    /// checked is an [`ModuleState::Error`] row, never a pass.
    pub async fn check_migrations(
        &self,
        target: &Target,
        manifest: Option<&Manifest>,
        only: Option<&str>,
    ) -> Result<Vec<ModuleCheck>, Error> {
        let modules: Vec<String> = match only {
            Some(m) => vec![self.module(m)?.name.clone()],
            None => self
                .migrating_modules()
                .iter()
                .map(|m| m.name.clone())
                .collect(),
        };
        let operator = crate::platform::operator();
        let checks = modules.iter().map(|module| {
            let resolved = self.module_migrations(
                target,
                module,
                manifest,
                &operator,
                Duration::from_secs(60),
            );
            let kind = self
                .config
                .module(module)
                .and_then(|m| m.migrations.as_ref())
                .map(|s| s.kind.as_str().to_string())
                .unwrap_or_default();
            async move {
                match resolved {
                    Ok(m) => {
                        let check = m.migrations.check().await;
                        ModuleCheck {
                            module: module.clone(),
                            kind,
                            database: format!("{} ({})", m.database, m.via),
                            state: check.state,
                            pending: check.pending,
                            detail: check.detail,
                        }
                    }
                    Err(e) => ModuleCheck {
                        module: module.clone(),
                        kind,
                        database: String::new(),
                        state: ModuleState::Error,
                        pending: Vec::new(),
                        detail: crate::error::error_text(&e),
                    },
                }
            }
        });
        Ok(futures_util::future::join_all(checks).await)
    }
}

/// `supabase:20260201120000` names a version: the pin is that file's full name.
fn supabase_pin(dir: &std::path::Path, version: &str) -> PinnedFile {
    if version.ends_with(".sql") {
        return PinnedFile::new(version);
    }
    let file = std::fs::read_dir(dir).ok().and_then(|entries| {
        entries
            .filter_map(Result::ok)
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .find(|n| n.ends_with(".sql") && n.split_once('_').is_some_and(|(v, _)| v == version))
    });
    PinnedFile {
        file_name: file.unwrap_or_else(|| format!("{version}_<no such file>.sql")),
    }
}

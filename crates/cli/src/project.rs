//! A platform config resolved for one environment: which database each
//! module uses and how to reach it, where artifacts go, and the project's
//! `.preflight/` state folder (the kept `local` cluster lives there).

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context as _, bail};
use preflight_manifest::{
    Manifest, MigrationKind, MigrationPin, Module, PlatformConfig, UrlSource,
};
use preflight_migrate::{
    AlembicMigrator, AlembicProject, ArtifactStore, LocalDirStore, LocalPostgres, MigrationState,
    Migrator, ScriptEntry, ScriptList, SourceKind, SqlDir, SupabaseDir,
};
use serde::Serialize;

/// The name of the environment that runs on the project's own throwaway cluster.
pub const LOCAL_ENV: &str = "local";

/// A loaded, valid platform config.
#[derive(Debug)]
pub struct Project {
    pub config: PlatformConfig,
    /// Warnings the config had (errors stop [`Project::load`]).
    pub warnings: String,
}

/// How a module's database was reached, for people: never the password.
#[derive(Debug, Clone)]
pub struct ResolvedDatabase {
    pub name: String,
    /// The URL to connect with; holds the password, never print it.
    pub url: String,
    /// `local`, `env:NAME`, `secret://…` or the redacted literal URL.
    pub via: String,
}

impl Project {
    /// Loads and validates `path`; invalid config is an error carrying every problem.
    pub fn load(path: &Path) -> anyhow::Result<Project> {
        let mut checked = PlatformConfig::load(path)?;
        let rendered = checked.render();
        match checked.value.take() {
            Some(config) if !checked.has_errors() => Ok(Project {
                warnings: if checked.diagnostics.is_empty() {
                    String::new()
                } else {
                    rendered
                },
                config,
            }),
            _ => bail!("invalid platform config\n{}", rendered.trim_end()),
        }
    }

    pub fn root(&self) -> &Path {
        self.config.root()
    }

    /// `<config dir>/.preflight`: the local cluster, artifacts of `local` runs, state.
    pub fn state_dir(&self) -> PathBuf {
        self.root().join(".preflight")
    }

    pub fn module(&self, name: &str) -> anyhow::Result<&Module> {
        self.config.module(name).with_context(|| {
            let names: Vec<&str> = self
                .config
                .modules
                .iter()
                .map(|m| m.name.as_str())
                .collect();
            format!(
                "no module `{name}` in {} (modules: {})",
                self.config.path.display(),
                names.join(", ")
            )
        })
    }

    pub fn environment(&self, env: &str) -> anyhow::Result<&preflight_manifest::Environment> {
        self.config.environment(env).with_context(|| {
            format!(
                "no environment `{env}` in {} (environments: {})",
                self.config.path.display(),
                self.config.env_names().join(", ")
            )
        })
    }

    /// Resolves the URL of `database` in `env`. `local` starts (or reuses)
    /// the project's cluster and creates the database; `env:` reads the
    /// variable; `secret://` is read from Secret Manager.
    pub fn database(&self, env: &str, database: &str) -> anyhow::Result<ResolvedDatabase> {
        let environment = self.environment(env)?;
        let source = environment.databases.get(database).with_context(|| {
            format!("environment `{env}` has no URL for database `{database}` (add it under environments.{env}.databases)")
        })?;
        let (url, via) = match source {
            UrlSource::Local => {
                let cluster = LocalPostgres::ensure(&self.state_dir())
                    .context("cannot start the local PostgreSQL cluster")?;
                (cluster.ensure_database(database)?, "local".to_string())
            }
            UrlSource::Env(var) => {
                let url = std::env::var(var).with_context(|| {
                    format!(
                        "database `{database}` in `{env}` is read from ${var}, which is not set"
                    )
                })?;
                (url, format!("env:{var}"))
            }
            UrlSource::Secret(secret) => (
                crate::gcp::resolve_secret(secret)
                    .with_context(|| format!("database `{database}` in `{env}`"))?,
                secret.to_string(),
            ),
            UrlSource::Literal(url) => (url.clone(), preflight_manifest::redact_url(url)),
        };
        Ok(ResolvedDatabase {
            name: database.to_string(),
            url,
            via,
        })
    }

    /// Where `env` keeps backups and evidence: its `artifacts` setting, else
    /// `.preflight/artifacts/<env>`.
    pub fn artifact_store(&self, env: &str) -> anyhow::Result<Box<dyn ArtifactStore>> {
        let environment = self.environment(env)?;
        match environment.artifacts.as_deref() {
            Some(uri) if uri.starts_with("gs://") => Ok(Box::new(crate::gcp::gcs_store(uri)?)),
            Some(dir) => Ok(Box::new(LocalDirStore {
                root: self.root().join(dir),
            })),
            None => Ok(Box::new(LocalDirStore {
                root: self.state_dir().join("artifacts").join(env),
            })),
        }
    }
}

/// `user@host`, recorded in ledgers and logs as who did it.
pub fn operator() -> String {
    let user = std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .unwrap_or_else(|_| "unknown".into());
    let host = std::fs::read_to_string("/etc/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_default();
    if host.is_empty() {
        user
    } else {
        format!("{user}@{host}")
    }
}

/// How one module migrates, resolved for an environment (and a manifest's pins).
#[derive(Debug)]
pub enum ModuleMigrations {
    /// `sql` and `supabase` folders; `target` is the newest pinned version.
    Files {
        migrator: Migrator,
        target: Option<String>,
        /// Pinned versions that must be applied.
        pinned: Vec<String>,
    },
    /// Alembic; `target` is the pinned revision, else `heads`.
    Alembic {
        migrator: AlembicMigrator,
        target: String,
    },
    /// `python:` and `sql:` entries from the manifest, in order.
    Scripts(ScriptList),
}

impl ModuleMigrations {
    /// Applies everything up to the target under the migration lock and
    /// returns the versions (or revisions, or script entries) applied.
    pub async fn apply(&self) -> Result<Vec<String>, preflight_migrate::Error> {
        match self {
            ModuleMigrations::Files {
                migrator, target, ..
            } => {
                let options = preflight_migrate::UpOptions {
                    target: target.clone(),
                    ..Default::default()
                };
                Ok(migrator.up(&options, &mut |_| {}).await?.applied)
            }
            ModuleMigrations::Alembic { migrator, target } => {
                Ok(migrator.upgrade(target).await?.applied)
            }
            ModuleMigrations::Scripts(list) => Ok(list.up().await?.applied),
        }
    }
}

/// One module's database against what the manifest pins.
#[derive(Debug, Clone, Serialize)]
pub struct ModuleCheck {
    pub module: String,
    pub kind: String,
    /// The database and how it was reached (never the password).
    pub database: String,
    /// `at manifest`, `pending`, `drift` or `error`.
    pub state: String,
    /// What `up` would apply, in order.
    pub pending: Vec<String>,
    pub detail: String,
}

impl ModuleCheck {
    pub fn ok(&self) -> bool {
        self.state == "at manifest"
    }
}

impl Project {
    /// Modules that declare migrations, in config order.
    pub fn migrating_modules(&self) -> Vec<&Module> {
        self.config
            .modules
            .iter()
            .filter(|m| m.migrations.is_some())
            .collect()
    }

    /// A module's migration source and the folder it reads, under its checkout.
    pub fn migrations_dir(
        &self,
        module: &str,
    ) -> anyhow::Result<(&Module, &preflight_manifest::MigrationSource, PathBuf)> {
        let m = self.module(module)?;
        let source = m
            .migrations
            .as_ref()
            .with_context(|| format!("module `{module}` declares no migrations"))?;
        Ok((m, source, self.root().join(&m.repo).join(&source.dir)))
    }

    /// Resolves `module`'s migrations in `env`; `manifest` supplies the pins.
    pub fn module_migrations(
        &self,
        env: &str,
        module: &str,
        manifest: Option<&Manifest>,
        applied_by: &str,
        lock_timeout: Duration,
    ) -> anyhow::Result<(ModuleMigrations, ResolvedDatabase)> {
        let (m, source, dir) = self.migrations_dir(module)?;
        let database = m
            .database
            .as_deref()
            .with_context(|| format!("module `{module}` has migrations but no `database`"))?;
        let repo = self.root().join(&m.repo);
        let pins: Option<&Vec<MigrationPin>> = manifest.and_then(|mf| mf.migrations.get(module));
        let db = self.database(env, database)?;
        let resolved = match source.kind {
            MigrationKind::Sql | MigrationKind::Supabase => {
                let kind = if source.kind == MigrationKind::Sql {
                    SourceKind::Sql
                } else {
                    SourceKind::Supabase
                };
                let pinned: Vec<String> = pins
                    .map(|p| p.iter().map(|pin| pin_version(&pin.name)).collect())
                    .unwrap_or_default();
                let files: Box<dyn preflight_migrate::MigrationSource> = match kind {
                    SourceKind::Sql => Box::new(SqlDir { dir: dir.clone() }),
                    SourceKind::Supabase => Box::new(SupabaseDir { dir: dir.clone() }),
                };
                ModuleMigrations::Files {
                    migrator: Migrator {
                        kind,
                        source: files,
                        database_url: db.url.clone(),
                        applied_by: applied_by.to_string(),
                        lock_timeout,
                    },
                    target: pinned.iter().max_by(|a, b| version_cmp(a, b)).cloned(),
                    pinned,
                }
            }
            MigrationKind::Alembic => {
                let mut project = AlembicProject::new(dir);
                if let Some(command) = &source.command {
                    project.command = command.clone();
                }
                let target = match pins.map(Vec::as_slice) {
                    Some([pin]) => pin.name.clone(),
                    Some([]) | None => "heads".to_string(),
                    Some(_) => bail!("module `{module}` pins several Alembic revisions; pin one"),
                };
                ModuleMigrations::Alembic {
                    migrator: AlembicMigrator {
                        project,
                        database_url: db.url.clone(),
                        lock_timeout,
                    },
                    target,
                }
            }
            MigrationKind::Python => {
                let pins = pins.with_context(|| {
                    format!("module `{module}` runs the scripts a release manifest lists; pass --manifest")
                })?;
                let entries = pins
                    .iter()
                    .map(|p| match p.kind {
                        MigrationKind::Python => Ok(ScriptEntry::Python(p.name.clone())),
                        MigrationKind::Sql => Ok(ScriptEntry::Sql(p.name.clone())),
                        other => bail!("module `{module}` lists `{}:{}`; script lists take python: and sql: entries", other.as_str(), p.name),
                    })
                    .collect::<anyhow::Result<Vec<_>>>()?;
                ModuleMigrations::Scripts(ScriptList {
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
        Ok((resolved, db))
    }

    /// Checks every migrating module (or just `only`) in `env` against the
    /// manifest's pins; reads only. A module that cannot be checked is an
    /// `error` row, never a pass.
    pub async fn check_migrations(
        &self,
        env: &str,
        manifest: Option<&Manifest>,
        only: Option<&str>,
    ) -> anyhow::Result<Vec<ModuleCheck>> {
        let modules: Vec<String> = match only {
            Some(m) => vec![self.module(m)?.name.clone()],
            None => self
                .migrating_modules()
                .iter()
                .map(|m| m.name.clone())
                .collect(),
        };
        let mut checks = Vec::new();
        for module in modules {
            let kind = self
                .module(&module)?
                .migrations
                .as_ref()
                .map(|s| s.kind.as_str().to_string())
                .unwrap_or_default();
            let check = match self.module_migrations(
                env,
                &module,
                manifest,
                &operator(),
                Duration::from_secs(60),
            ) {
                Ok((migrations, db)) => check_one(&module, &kind, migrations, &db).await,
                Err(e) => ModuleCheck {
                    module: module.clone(),
                    kind,
                    database: String::new(),
                    state: "error".into(),
                    pending: Vec::new(),
                    detail: format!("{e:#}"),
                },
            };
            checks.push(check);
        }
        Ok(checks)
    }
}

/// `db/schema/001_init.sql` → `001`; `20260201120000` stays as it is.
fn pin_version(name: &str) -> String {
    let file = name.rsplit('/').next().unwrap_or(name);
    let stem = file.strip_suffix(".sql").unwrap_or(file);
    stem.split_once('_').map_or(stem, |(v, _)| v).to_string()
}

async fn check_one(
    module: &str,
    kind: &str,
    migrations: ModuleMigrations,
    db: &ResolvedDatabase,
) -> ModuleCheck {
    let mut check = ModuleCheck {
        module: module.to_string(),
        kind: kind.to_string(),
        database: format!("{} ({})", db.name, db.via),
        state: "error".into(),
        pending: Vec::new(),
        detail: String::new(),
    };
    match migrations {
        ModuleMigrations::Files {
            migrator,
            pinned,
            target,
        } => match migrator.status().await {
            Ok(status) => {
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
                    .map(|e| format!("{} {}", e.version, e.state.as_str()))
                    .collect();
                let unknown: Vec<&String> = pinned
                    .iter()
                    .filter(|p| !status.entries.iter().any(|e| &e.version == *p))
                    .collect();
                // Without pins, everything on disk is the target.
                let needed: Vec<String> = status
                    .entries
                    .iter()
                    .map(|e| e.version.clone())
                    .filter(|v| target.as_ref().is_none_or(|t| version_cmp(v, t).is_le()))
                    .collect();
                check.pending = status
                    .entries
                    .iter()
                    .filter(|e| e.state == MigrationState::Pending && needed.contains(&e.version))
                    .map(|e| e.version.clone())
                    .collect();
                if !unknown.is_empty() {
                    check.detail = format!(
                        "pinned but not on disk: {}",
                        unknown
                            .iter()
                            .map(|s| s.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    );
                } else if !drift.is_empty() {
                    check.state = "drift".into();
                    check.detail = drift.join(", ");
                } else if !check.pending.is_empty() {
                    check.state = "pending".into();
                    check.detail = format!("{} to apply", check.pending.len());
                } else {
                    check.state = "at manifest".into();
                    check.detail = format!("{} applied", status.count(MigrationState::Applied));
                }
            }
            Err(e) => check.detail = error_text(&e),
        },
        ModuleMigrations::Alembic { migrator, target } => match migrator.status(&target).await {
            Ok(status) => {
                check.pending = status.pending.clone();
                let current = if status.current.is_empty() {
                    "empty".to_string()
                } else {
                    status.current.join(", ")
                };
                if status.at_target() {
                    check.state = "at manifest".into();
                    check.detail = format!("at {current}");
                } else if !status.pending.is_empty() {
                    check.state = "pending".into();
                    check.detail = format!("at {current}, target {target}");
                } else {
                    check.state = "drift".into();
                    check.detail = format!("at {current}, which is not target {target}");
                }
            }
            Err(e) => check.detail = error_text(&e),
        },
        ModuleMigrations::Scripts(list) => match list.status().await {
            Ok(status) => {
                let drift: Vec<String> = status
                    .entries
                    .iter()
                    .filter(|e| {
                        matches!(e.state, MigrationState::Modified | MigrationState::Failed)
                    })
                    .map(|e| format!("{} {}", e.version, e.state.as_str()))
                    .collect();
                check.pending = status
                    .entries
                    .iter()
                    .filter(|e| e.state == MigrationState::Pending)
                    .map(|e| e.version.clone())
                    .collect();
                if !drift.is_empty() {
                    check.state = "drift".into();
                    check.detail = drift.join(", ");
                } else if !check.pending.is_empty() {
                    check.state = "pending".into();
                    check.detail = format!("{} to run", check.pending.len());
                } else {
                    check.state = "at manifest".into();
                    check.detail = format!("{} applied", status.entries.len());
                }
            }
            Err(e) => check.detail = error_text(&e),
        },
    }
    check
}

fn version_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    match (a.parse::<u128>(), b.parse::<u128>()) {
        (Ok(x), Ok(y)) => x.cmp(&y),
        _ => a.cmp(b),
    }
}

/// An error and its causes on one line (`cannot connect: refused`).
pub(crate) fn error_text(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// Loads and validates a manifest for `env`; errors carry every problem.
pub fn load_manifest(project: &Project, path: &Path, env: &str) -> anyhow::Result<Manifest> {
    load_manifest_for(project, path, Some(env))
}

/// Loads a manifest for `env`, or for whichever of the config's
/// environments it names when `env` is `None`.
pub fn load_manifest_for(
    project: &Project,
    path: &Path,
    env: Option<&str>,
) -> anyhow::Result<Manifest> {
    let options = preflight_manifest::ValidateOptions {
        expected_env: env.map(str::to_string),
        known_envs: Some(project.config.env_names()),
    };
    let mut checked = Manifest::load(path, &options)?;
    let rendered = checked.render();
    match checked.value.take() {
        Some(m) if !checked.has_errors() => Ok(m),
        _ => bail!("invalid release manifest\n{}", rendered.trim_end()),
    }
}

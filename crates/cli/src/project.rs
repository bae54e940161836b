//! A platform config resolved for one environment: which database each
//! module uses and how to reach it, where artifacts go, and the project's
//! `.preflight/` state folder (the kept `local` cluster lives there).

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context as _, bail};
use preflight_manifest::{MigrationKind, Module, PlatformConfig, UrlSource};
use preflight_migrate::{
    ArtifactStore, LocalDirStore, LocalPostgres, Migrator, SourceKind, SqlDir, SupabaseDir,
};

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

    fn check_env(&self, env: &str) -> anyhow::Result<&preflight_manifest::Environment> {
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
    /// variable; `secret://` needs Secret Manager.
    pub fn database(&self, env: &str, database: &str) -> anyhow::Result<ResolvedDatabase> {
        let environment = self.check_env(env)?;
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
            UrlSource::Secret(secret) => bail!(
                "database `{database}` in `{env}` is the secret {secret}; resolving Secret Manager references needs the gcp integration, which this build does not have — export the URL and use --database-url"
            ),
            UrlSource::Literal(url) => (url.clone(), preflight_manifest::redact_url(url)),
        };
        Ok(ResolvedDatabase {
            name: database.to_string(),
            url,
            via,
        })
    }

    /// The migrator for `module` in `env`, for `sql` and `supabase` sources.
    pub fn migrator(
        &self,
        env: &str,
        module: &str,
        applied_by: &str,
        lock_timeout: Duration,
    ) -> anyhow::Result<(Migrator, ResolvedDatabase)> {
        let m = self.module(module)?;
        let source = m
            .migrations
            .as_ref()
            .with_context(|| format!("module `{module}` declares no migrations"))?;
        let database = m
            .database
            .as_deref()
            .with_context(|| format!("module `{module}` has migrations but no `database`"))?;
        let dir = self.root().join(&m.repo).join(&source.dir);
        let (kind, source): (SourceKind, Box<dyn preflight_migrate::MigrationSource>) =
            match source.kind {
                MigrationKind::Sql => (SourceKind::Sql, Box::new(SqlDir { dir })),
                MigrationKind::Supabase => (SourceKind::Supabase, Box::new(SupabaseDir { dir })),
                other => bail!(
                    "module `{module}` migrates with {}, which this command does not run",
                    other.as_str()
                ),
            };
        let db = self.database(env, database)?;
        let migrator = Migrator {
            kind,
            source,
            database_url: db.url.clone(),
            applied_by: applied_by.to_string(),
            lock_timeout,
        };
        Ok((migrator, db))
    }

    /// Where `env` keeps backups and evidence: its `artifacts` setting, else
    /// `.preflight/artifacts/<env>`.
    pub fn artifact_store(&self, env: &str) -> anyhow::Result<Box<dyn ArtifactStore>> {
        let environment = self.check_env(env)?;
        match environment.artifacts.as_deref() {
            Some(uri) if uri.starts_with("gs://") => bail!(
                "environment `{env}` keeps artifacts in {uri}; Cloud Storage needs the gcp integration, which this build does not have"
            ),
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

//! One environment of the platform, resolved once: every database URL
//! (`local`, `env:`, `secret://`, literal) and the artifact store. Phases,
//! probes and commands take the [`Target`]; nothing resolves twice.

use std::collections::BTreeMap;
use std::sync::Arc;

use preflight_manifest::{Environment, UrlSource};
use preflight_migrate::{ArtifactStore, LocalDirStore, LocalPostgres};

use crate::error::{Error, error_text};
use crate::platform::{LOCAL_ENV, Platform};

/// How a database was reached; `url` holds the password, never print it.
#[derive(Clone)]
pub struct ResolvedDatabase {
    /// The config's database name (`mobius_chat`).
    pub name: String,
    /// The URL to connect with.
    pub url: String,
    /// `local`, `env:NAME`, `secret://…` or the redacted literal URL: for people.
    pub via: String,
}

impl std::fmt::Debug for ResolvedDatabase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResolvedDatabase")
            .field("name", &self.name)
            .field("via", &self.via)
            .finish_non_exhaustive()
    }
}

/// An environment resolved for one run.
#[derive(Clone)]
pub struct Target {
    /// The environment as configured.
    pub env: Environment,
    /// Each database of the environment: resolved, or why it could not be.
    pub databases: BTreeMap<String, Result<ResolvedDatabase, String>>,
    store: Result<Arc<dyn ArtifactStore>, String>,
}

impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Target")
            .field("env", &self.env.name)
            .field("databases", &self.databases)
            .finish_non_exhaustive()
    }
}

impl Target {
    /// The environment's name.
    pub fn name(&self) -> &str {
        &self.env.name
    }

    /// `local`: the project's own cluster, a rehearsal rather than a release.
    pub fn is_local(&self) -> bool {
        self.env.name == LOCAL_ENV
    }

    /// The database called `name`, or why it cannot be reached.
    pub fn database(&self, name: &str) -> Result<&ResolvedDatabase, Error> {
        match self.databases.get(name) {
            Some(Ok(db)) => Ok(db),
            Some(Err(why)) => Err(Error::Database {
                database: name.to_string(),
                env: self.env.name.clone(),
                problem: why.clone(),
            }),
            None => Err(Error::Database {
                database: name.to_string(),
                env: self.env.name.clone(),
                problem: format!(
                    "has no URL (add it under environments.{}.databases)",
                    self.env.name
                ),
            }),
        }
    }

    /// Whether database `name` answers within 15 s: `Ok("reachable via
    /// local (PostgreSQL 15.18)")` or why not.
    pub async fn reach(&self, name: &str) -> Result<String, String> {
        let db = self.database(name).map_err(|e| match e {
            Error::Database { problem, .. } => problem,
            other => error_text(&other),
        })?;
        let via = &db.via;
        match tokio::time::timeout(std::time::Duration::from_secs(15), ping(&db.url)).await {
            Ok(Ok(version)) => Ok(format!("reachable via {via} ({version})")),
            Ok(Err(e)) => Err(format!("via {via}: {e}")),
            Err(_) => Err(format!("via {via}: no answer in 15 s")),
        }
    }

    /// This target with database `name` reached at `url` instead (a
    /// throwaway shadow database built from the migrations).
    pub(crate) fn with_database(&self, name: &str, url: String, via: &str) -> Target {
        let mut databases = BTreeMap::new();
        databases.insert(
            name.to_string(),
            Ok(ResolvedDatabase {
                name: name.to_string(),
                url,
                via: via.to_string(),
            }),
        );
        Target {
            env: self.env.clone(),
            databases,
            store: self.store.clone(),
        }
    }

    /// Where backups and logs go.
    pub fn artifact_store(&self) -> Result<Arc<dyn ArtifactStore>, Error> {
        self.store.clone().map_err(Error::Refused)
    }
}

impl Platform {
    /// Resolves `env` once: every database URL and the artifact store.
    /// `local` starts (or reuses) the project's cluster. A database that
    /// cannot be resolved is kept as the reason, so the run that needs it
    /// fails closed with it; an unknown environment is an error.
    pub async fn target(&self, env: &str) -> Result<Target, Error> {
        self.target_for(env, None).await
    }

    /// Like [`Platform::target`], resolving only the databases named in
    /// `only` (a command about one module need not read every secret).
    pub async fn target_for(&self, env: &str, only: Option<&[String]>) -> Result<Target, Error> {
        let environment = self.environment(env)?.clone();
        let mut databases = BTreeMap::new();
        let mut cluster: Option<Result<Arc<LocalPostgres>, String>> = None;
        for (name, source) in &environment.databases {
            if only.is_some_and(|o| !o.contains(name)) {
                continue;
            }
            let resolved = match source {
                UrlSource::Local => {
                    let cluster = match &cluster {
                        Some(c) => c.clone(),
                        None => {
                            let dir = self.state_dir();
                            let started =
                                tokio::task::spawn_blocking(move || LocalPostgres::ensure(&dir))
                                    .await
                                    .map_err(|e| e.to_string())
                                    .and_then(|r| {
                                        r.map(Arc::new).map_err(|e| {
                                            error_text(&Error::LocalCluster(Box::new(e)))
                                        })
                                    });
                            cluster = Some(started.clone());
                            started
                        }
                    };
                    match cluster {
                        Ok(c) => {
                            let db = name.clone();
                            tokio::task::spawn_blocking(move || c.ensure_database(&db))
                                .await
                                .map_err(|e| e.to_string())
                                .and_then(|r| r.map_err(|e| error_text(&e)))
                                .map(|url| (url, "local".to_string()))
                        }
                        Err(why) => Err(why),
                    }
                }
                UrlSource::Env(var) => std::env::var(var)
                    .map(|url| (url, format!("env:{var}")))
                    .map_err(|_| format!("is read from ${var}, which is not set")),
                UrlSource::Secret(secret) => crate::gcp::resolve_secret(secret)
                    .await
                    .map(|url| (url, secret.to_string()))
                    .map_err(|e| error_text(&e)),
                UrlSource::Literal(url) => Ok((url.clone(), preflight_manifest::redact_url(url))),
            };
            databases.insert(
                name.clone(),
                resolved.map(|(url, via)| ResolvedDatabase {
                    name: name.clone(),
                    url,
                    via,
                }),
            );
        }
        let store = self.artifact_store(env).await;
        Ok(Target {
            env: environment,
            databases,
            store,
        })
    }
}

impl Platform {
    /// The artifact store of `env` (`artifacts:`, else `.preflight/artifacts/<env>`),
    /// or why it cannot be opened.
    pub(crate) async fn artifact_store(&self, env: &str) -> Result<Arc<dyn ArtifactStore>, String> {
        let environment = self.environment(env).map_err(|e| error_text(&e))?;
        match environment.artifacts.as_deref() {
            Some(uri) if uri.starts_with("gs://") => crate::gcp::gcs_store(uri)
                .await
                .map(|s| Arc::new(s) as Arc<dyn ArtifactStore>)
                .map_err(|e| error_text(&e)),
            Some(dir) => Ok(Arc::new(LocalDirStore {
                root: self.root().join(dir),
            })),
            None => Ok(Arc::new(LocalDirStore {
                root: self.state_dir().join("artifacts").join(env),
            })),
        }
    }
}

async fn ping(url: &str) -> Result<String, String> {
    let mut conn = preflight_migrate::connect_as(url, "preflight doctor")
        .await
        .map_err(|e| preflight_manifest::redact_url(&error_text(&e)))?;
    let version: String = sqlx::query_scalar("SHOW server_version")
        .fetch_one(&mut conn)
        .await
        .map_err(|e| error_text(&e))?;
    let _ = sqlx::Connection::close(conn).await;
    Ok(format!("PostgreSQL {version}"))
}

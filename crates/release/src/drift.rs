//! Schema drift: the schema a database's migrations build, in a throwaway
//! database on the project's local cluster, against the live one
//! (`preflight db diff`, the preflight and verify phases, `doctor`).

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use preflight_manifest::{Manifest, MigrationKind, MigrationPin};
use preflight_migrate::{LocalPostgres, Migrations, SourceKind};
use preflight_schema::{Catalog, Finding, Ignore};
use serde::Serialize;

use crate::error::{Error, error_text};
use crate::platform::Platform;
use crate::target::Target;

/// Schemas Supabase manages on its platform: no project migration creates
/// them, so they are never a finding.
const SUPABASE_MANAGED: &[&str] = &[
    "auth",
    "storage",
    "realtime",
    "_realtime",
    "graphql",
    "graphql_public",
    "extensions",
    "pgbouncer",
    "vault",
    "supabase_functions",
    "net",
    "pgsodium",
    "pgsodium_masks",
    "cron",
    "_analytics",
];

/// Roles Supabase migrations grant to and write policies for; the shadow
/// cluster gets them (without login) so those migrations apply.
pub(crate) const SUPABASE_ROLES: &[&str] = &["anon", "authenticated", "service_role"];

/// What the schema the migrations build is compared up to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ShadowTarget {
    /// What the live ledger says is applied (drift from hand changes).
    LiveLedger,
    /// The manifest's pins.
    Manifest,
}

/// Where one database stands against its migrations.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DriftState {
    /// The live schema is exactly what the migrations build.
    Clean,
    /// There are findings.
    Drift,
    /// The check could not be made (the reason is in `problem`): a failed
    /// gate, never a pass.
    Unchecked,
}

/// One database's drift check.
#[derive(Debug, Clone, Serialize)]
pub struct DatabaseDrift {
    /// The config's database name.
    pub database: String,
    /// How live was reached (never the password).
    pub via: String,
    /// The modules whose migrations build it, in config order.
    pub modules: Vec<String>,
    /// What the shadow was built up to.
    pub shadow: ShadowTarget,
    /// The verdict.
    pub state: DriftState,
    /// Every difference, by object kind and name.
    pub findings: Vec<Finding>,
    /// Why the check could not be made.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
}

impl DatabaseDrift {
    /// Records the comparison's result: clean, drift, or why it could not be made.
    fn conclude(&mut self, compared: Result<Vec<Finding>, String>) {
        match compared {
            Ok(findings) => {
                self.state = if findings.is_empty() {
                    DriftState::Clean
                } else {
                    DriftState::Drift
                };
                self.findings = findings;
            }
            Err(why) => self.problem = Some(why),
        }
    }

    /// One line for people.
    pub fn summary(&self) -> String {
        match self.state {
            DriftState::Clean => format!("{}: no drift", self.database),
            DriftState::Drift => format!(
                "{}: {} difference(s) from its migrations ({})",
                self.database,
                self.findings.len(),
                self.findings
                    .iter()
                    .take(3)
                    .map(|f| format!("{} {} {}", f.label(), f.kind.as_str(), f.name))
                    .collect::<Vec<_>>()
                    .join("; ")
            ),
            DriftState::Unchecked => format!(
                "{}: cannot check: {}",
                self.database,
                self.problem.as_deref().unwrap_or("unknown")
            ),
        }
    }
}

/// What a drift check compares.
#[derive(Debug, Clone, Default)]
pub struct DriftOptions {
    /// Only the database of this module.
    pub module: Option<String>,
    /// Compare grants too.
    pub privileges: bool,
}

static SHADOWS: AtomicU32 = AtomicU32::new(0);

/// The schema one database's migrations build, read from a throwaway
/// database (already dropped): the expected side of a drift check.
#[derive(Debug, Clone)]
pub struct ExpectedSchema {
    /// The config's database name.
    pub database: String,
    /// The modules whose migrations build it, in config order.
    pub modules: Vec<String>,
    /// What it was built up to.
    pub shadow: ShadowTarget,
    /// The environment's contract probes of this database, run against
    /// the schema the manifest's pins build (only when built to a
    /// manifest): a contract the migrations cannot meet fails before the
    /// freeze, not after migrating.
    pub contracts: Vec<ShadowContract>,
    catalog: Result<Catalog, String>,
    ignore: Ignore,
}

/// A contract probe run against a shadow database.
#[derive(Debug, Clone)]
pub struct ShadowContract {
    /// The probe's name.
    pub probe: String,
    /// Hard or soft, as configured.
    pub severity: preflight_verify::Severity,
    /// The probe's result.
    pub outcome: preflight_verify::Outcome,
    /// One line for people.
    pub summary: String,
    /// Each difference.
    pub evidence: Vec<String>,
}

impl Platform {
    /// Checks each migrated database of `target` (or the one of
    /// `options.module`) for drift: builds the schema its modules'
    /// migrations make, in a throwaway database on the project's local
    /// cluster, up to the manifest's pins when one is given, else up to what
    /// the live ledger says is applied, and compares the two catalogs.
    /// A database that cannot be checked is [`DriftState::Unchecked`].
    pub async fn schema_drift(
        &self,
        target: &Target,
        manifest: Option<&Manifest>,
        options: &DriftOptions,
    ) -> Result<Vec<DatabaseDrift>, Error> {
        let expected = self.expected_schemas(target, manifest, options).await?;
        Ok(self.compare_with_live(target, &expected).await)
    }

    /// The expected side of [`Platform::schema_drift`], for every database
    /// at once: built before the freeze, so the check after migrating only
    /// reads live.
    pub async fn expected_schemas(
        &self,
        target: &Target,
        manifest: Option<&Manifest>,
        options: &DriftOptions,
    ) -> Result<Vec<ExpectedSchema>, Error> {
        let only_db = match &options.module {
            Some(m) => Some(
                self.module(m)?
                    .database
                    .clone()
                    .ok_or_else(|| Error::Module {
                        module: m.clone(),
                        problem: "has no `database`".into(),
                    })?,
            ),
            None => None,
        };
        let mut databases: Vec<(String, Vec<String>)> = Vec::new();
        for m in self.migrating_modules() {
            let Some(db) = &m.database else { continue };
            if only_db.as_ref().is_some_and(|o| o != db) {
                continue;
            }
            match databases.iter_mut().find(|(d, _)| d == db) {
                Some((_, modules)) => modules.push(m.name.clone()),
                None => databases.push((db.clone(), vec![m.name.clone()])),
            }
        }
        let shadow = if manifest.is_some() {
            ShadowTarget::Manifest
        } else {
            ShadowTarget::LiveLedger
        };
        // One cluster for every shadow, started once.
        let state = self.state_dir();
        let cluster = tokio::task::spawn_blocking(move || LocalPostgres::ensure(&state))
            .await
            .map_err(|e| e.to_string())
            .and_then(|r| {
                r.map(std::sync::Arc::new).map_err(|e| {
                    format!(
                        "cannot start the local cluster for the shadow databases: {}",
                        chain(&e)
                    )
                })
            });
        let cluster = &cluster;
        // Databases are independent: their shadows build concurrently.
        let built = futures_util::future::join_all(databases.into_iter().map(
            |(database, modules)| async move {
                let ignore = self.drift_ignore(&modules, options.privileges);
                let (catalog, contracts) = match cluster {
                    Ok(cluster) => {
                        self.build_expected(target, manifest, cluster, &database, &modules, &ignore)
                            .await
                    }
                    Err(why) => (Err(why.clone()), Vec::new()),
                };
                ExpectedSchema {
                    database,
                    modules,
                    shadow,
                    contracts,
                    catalog,
                    ignore,
                }
            },
        ))
        .await;
        Ok(built)
    }

    /// Each expected schema against its live database now.
    pub async fn compare_with_live(
        &self,
        target: &Target,
        expected: &[ExpectedSchema],
    ) -> Vec<DatabaseDrift> {
        futures_util::future::join_all(expected.iter().map(|e| async move {
            let mut report = DatabaseDrift {
                database: e.database.clone(),
                via: String::new(),
                modules: e.modules.clone(),
                shadow: e.shadow,
                state: DriftState::Unchecked,
                findings: Vec::new(),
                problem: None,
            };
            let live = match target.database(&e.database) {
                Ok(db) => db,
                Err(err) => {
                    report.problem = Some(error_text(&err));
                    return report;
                }
            };
            report.via = live.via.clone();
            let compared = match &e.catalog {
                Ok(expected) => read_catalog(&live.url, &e.ignore)
                    .await
                    .map(|actual| preflight_schema::diff(expected, &actual)),
                Err(why) => Err(why.clone()),
            };
            report.conclude(compared);
            report
        }))
        .await
    }

    /// Builds `database`'s schema from its modules' migrations in a
    /// throwaway database and reads its catalog.
    async fn build_expected(
        &self,
        target: &Target,
        manifest: Option<&Manifest>,
        cluster: &std::sync::Arc<LocalPostgres>,
        database: &str,
        modules: &[String],
        ignore: &Ignore,
    ) -> (Result<Catalog, String>, Vec<ShadowContract>) {
        let pins = match self.shadow_pins(target, manifest, modules).await {
            Ok(p) => p,
            Err(why) => return (Err(why), Vec::new()),
        };
        let shadow = match Shadow::create(cluster, database).await {
            Ok(s) => s,
            Err(why) => return (Err(why), Vec::new()),
        };
        let built = async {
            let shadow_target = target.with_database(database, shadow.url.clone(), "shadow");
            if modules
                .iter()
                .any(|m| self.kind_of(m) == Some(MigrationKind::Supabase))
            {
                shadow.create_roles(SUPABASE_ROLES).await?;
            }
            for (module, module_pins) in &pins {
                self.build_shadow(&shadow_target, module, module_pins.as_ref())
                    .await?;
            }
            read_catalog(&shadow.url, ignore).await
        }
        .await;
        let contracts = match (&built, manifest) {
            (Ok(_), Some(_)) => {
                self.shadow_contracts(target.name(), database, &shadow.url)
                    .await
            }
            _ => Vec::new(),
        };
        shadow.drop().await;
        (built, contracts)
    }

    /// The environment's verify-phase contract probes of `database`, run
    /// against the shadow at `url`.
    pub(crate) async fn shadow_contracts(
        &self,
        env: &str,
        database: &str,
        url: &str,
    ) -> Vec<ShadowContract> {
        let mut out = Vec::new();
        for probe in &self.config.probes {
            let preflight_manifest::ProbeCheck::Postgres {
                database: db,
                contract,
            } = &probe.check
            else {
                continue;
            };
            if db != database
                || !probe.runs_in(env)
                || probe.phase != preflight_manifest::ProbePhase::Verify
            {
                continue;
            }
            let result = match preflight_verify::Contract::load(&self.root().join(contract)) {
                Ok(contract) => {
                    let spec = preflight_verify::ProbeSpec::new(
                        probe.name.clone(),
                        preflight_verify::ContractProbe {
                            database_url: url.to_string(),
                            contract,
                        },
                    );
                    match preflight_verify::Runner::new(1) {
                        Ok(runner) => runner.run(vec![spec]).await.results.into_iter().next(),
                        Err(_) => None,
                    }
                }
                Err(_) => None,
            };
            out.push(match result {
                Some(r) => ShadowContract {
                    probe: probe.name.clone(),
                    severity: probe.severity,
                    outcome: r.outcome,
                    summary: r.summary,
                    evidence: r.evidence,
                },
                None => ShadowContract {
                    probe: probe.name.clone(),
                    severity: probe.severity,
                    outcome: preflight_verify::Outcome::Errored,
                    summary: "cannot load the contract".into(),
                    evidence: Vec::new(),
                },
            });
        }
        out
    }

    /// What each module's shadow is built up to.
    async fn shadow_pins(
        &self,
        target: &Target,
        manifest: Option<&Manifest>,
        modules: &[String],
    ) -> Result<Vec<(String, Option<Vec<MigrationPin>>)>, String> {
        // The pins each module's shadow is built to, read from live first.
        // `None`: everything on disk, as the migrate phase applies a
        // module the manifest does not pin (a script list has no such
        // target: it stays where live has it).
        let mut pins: Vec<(String, Option<Vec<MigrationPin>>)> = Vec::new();
        for module in modules {
            let pinned = manifest.and_then(|mf| mf.migrations.get(module));
            let module_pins = match (manifest, pinned) {
                (_, Some(p)) => Some(p.clone()),
                (Some(_), None) if self.kind_of(module) != Some(MigrationKind::Python) => None,
                _ => Some(self.live_pins(target, module).await?),
            };
            pins.push((module.clone(), module_pins));
        }
        Ok(pins)
    }

    /// Whether a Supabase module migrates `database` (its dumps and
    /// shadows need Supabase's roles).
    pub(crate) fn database_is_supabase(&self, database: &str) -> bool {
        self.config.modules.iter().any(|m| {
            m.database.as_deref() == Some(database)
                && self.kind_of(&m.name) == Some(MigrationKind::Supabase)
        })
    }

    fn kind_of(&self, module: &str) -> Option<MigrationKind> {
        self.config
            .module(module)
            .and_then(|m| m.migrations.as_ref())
            .map(|s| s.kind)
    }

    /// What a drift check leaves out for these modules: the ledgers' own
    /// tables, Supabase's managed schemas, and the config's `ignore` lists.
    fn drift_ignore(&self, modules: &[String], privileges: bool) -> Ignore {
        let mut ignore = Ignore {
            schemas: vec!["preflight".into(), "supabase_migrations".into()],
            objects: vec!["public.alembic_version".into()],
            privileges,
        };
        for module in modules {
            let Some(source) = self
                .config
                .module(module)
                .and_then(|m| m.migrations.as_ref())
            else {
                continue;
            };
            if source.kind == MigrationKind::Supabase {
                ignore
                    .schemas
                    .extend(SUPABASE_MANAGED.iter().map(|s| s.to_string()));
            }
            for entry in &source.ignore {
                if entry.contains('.') {
                    ignore.objects.push(entry.clone());
                } else {
                    ignore.schemas.push(entry.clone());
                }
            }
        }
        ignore
    }

    /// Pins that say what live has applied for `module`.
    async fn live_pins(&self, target: &Target, module: &str) -> Result<Vec<MigrationPin>, String> {
        let kind = self.kind_of(module).ok_or("declares no migrations")?;
        let operator = crate::platform::operator();
        // Empty pins: the runner for reading live, whatever the flavour.
        let resolved = self
            .pinned_migrations(
                target,
                module,
                Some(&Vec::new()),
                &operator,
                Duration::from_secs(60),
            )
            .map_err(|e| error_text(&e))?;
        let text = |e: preflight_migrate::Error| format!("module `{module}`: {}", error_text(&e));
        match &resolved.migrations {
            Migrations::Files { migrator, .. } => {
                let status = migrator.status().await.map_err(text)?;
                Ok(status
                    .applied_files()
                    .into_iter()
                    .map(|name| MigrationPin { kind, name })
                    .collect())
            }
            Migrations::Alembic { migrator, .. } => {
                let mut conn =
                    preflight_migrate::connect_as(&migrator.database_url, "preflight drift")
                        .await
                        .map_err(text)?;
                let heads = migrator.current(&mut conn).await.map_err(text)?;
                Ok(heads
                    .into_iter()
                    .map(|name| MigrationPin {
                        kind: MigrationKind::Alembic,
                        name,
                    })
                    .collect())
            }
            Migrations::Scripts(list) => {
                let mut conn = preflight_migrate::connect_as(&list.database_url, "preflight drift")
                    .await
                    .map_err(text)?;
                let mut rows = preflight_migrate::read_ledger(&mut conn, SourceKind::Sql)
                    .await
                    .map_err(text)?;
                // Scripts run in the order they were applied.
                rows.sort_by(|a, b| a.applied_at.cmp(&b.applied_at));
                Ok(rows
                    .into_iter()
                    .filter_map(|r| {
                        let (k, name) = r.version.split_once(':')?;
                        let kind = match k {
                            "python" => MigrationKind::Python,
                            "sql" => MigrationKind::Sql,
                            _ => return None,
                        };
                        Some(MigrationPin {
                            kind,
                            name: name.to_string(),
                        })
                    })
                    .collect())
            }
        }
    }

    /// Applies `module`'s migrations to the shadow, up to `pins`.
    async fn build_shadow(
        &self,
        shadow: &Target,
        module: &str,
        pins: Option<&Vec<MigrationPin>>,
    ) -> Result<(), String> {
        let fail = |e: &dyn std::error::Error| {
            format!(
                "building the schema of module `{module}` from its migrations: {}",
                chain(e)
            )
        };
        if pins.is_some_and(Vec::is_empty) {
            // Nothing applied: the shadow stays empty.
            return Ok(());
        }
        // Several Alembic heads: one upgrade each.
        let (heads, pins) = match pins {
            Some(p) if p.len() > 1 && p.iter().all(|p| p.kind == MigrationKind::Alembic) => {
                (p.iter().map(|p| p.name.clone()).collect::<Vec<_>>(), None)
            }
            other => (Vec::new(), other),
        };
        let resolved = self
            .pinned_migrations(
                shadow,
                module,
                pins,
                "preflight drift",
                Duration::from_secs(60),
            )
            .map_err(|e| fail(&e))?;
        match (&resolved.migrations, heads.is_empty()) {
            (Migrations::Alembic { migrator, .. }, false) => {
                for head in &heads {
                    migrator.upgrade(head).await.map_err(|e| fail(&e))?;
                }
                Ok(())
            }
            _ => resolved
                .migrations
                .up(None, &mut |_| {})
                .await
                .map(|_| ())
                .map_err(|e| fail(&e)),
        }
    }
}

fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

async fn read_catalog(url: &str, ignore: &Ignore) -> Result<Catalog, String> {
    let mut conn = preflight_migrate::connect_as(url, "preflight drift")
        .await
        .map_err(|e| preflight_manifest::redact_url(&error_text(&e)))?;
    let catalog = Catalog::read(&mut conn, ignore)
        .await
        .map_err(|e| chain(&e));
    let _ = sqlx::Connection::close(conn).await;
    catalog
}

/// Compares two live databases directly (`db diff --from URL --to URL`):
/// `from` is read as the expected side, `to` as the actual one.
pub async fn compare_databases(
    from: &str,
    to: &str,
    privileges: bool,
) -> Result<Vec<Finding>, Error> {
    let ignore = Ignore {
        privileges,
        ..Ignore::default()
    };
    // Two servers (or two databases): read both at once.
    let (expected, actual) = tokio::join!(read_catalog(from, &ignore), read_catalog(to, &ignore));
    let (expected, actual) = (
        expected.map_err(Error::Refused)?,
        actual.map_err(Error::Refused)?,
    );
    Ok(preflight_schema::diff(&expected, &actual))
}

/// A throwaway database on the project's local cluster, dropped after use.
pub(crate) struct Shadow {
    pub(crate) url: String,
    admin_url: String,
    name: String,
}

impl Shadow {
    pub(crate) async fn create(
        cluster: &std::sync::Arc<LocalPostgres>,
        database: &str,
    ) -> Result<Shadow, String> {
        let name = format!(
            "preflight_shadow_{}_{}_{}",
            database
                .chars()
                .filter(char::is_ascii_alphanumeric)
                .collect::<String>(),
            std::process::id(),
            SHADOWS.fetch_add(1, Ordering::Relaxed)
        );
        // CREATE DATABASE from template0, which takes no connections:
        // shadows of several databases are made at once, and a copy of
        // template1 fails while another copy of it runs.
        let admin_url = cluster.url("postgres");
        let mut conn = preflight_migrate::connect_as(&admin_url, "preflight drift")
            .await
            .map_err(|e| format!("cannot reach the local cluster: {}", chain(&e)))?;
        let sql = format!("CREATE DATABASE \"{name}\" TEMPLATE template0");
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
            .execute(&mut conn)
            .await
            .map_err(|e| format!("cannot create the shadow database: {e}"))?;
        let _ = sqlx::Connection::close(conn).await;
        let url = cluster.url(&name);
        Ok(Shadow {
            url,
            admin_url,
            name,
        })
    }

    pub(crate) async fn create_roles(&self, roles: &[&str]) -> Result<(), String> {
        let mut conn = preflight_migrate::connect_as(&self.admin_url, "preflight drift")
            .await
            .map_err(|e| error_text(&e))?;
        for role in roles {
            // Two shadows of one cluster can create the same role at once:
            // the loser sees a unique violation on pg_authid, not
            // duplicate_object.
            let sql = format!(
                "DO $$ BEGIN CREATE ROLE {role} NOLOGIN; EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$"
            );
            sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
                .execute(&mut conn)
                .await
                .map_err(|e| e.to_string())?;
        }
        Ok(())
    }

    pub(crate) async fn drop(self) {
        if let Ok(mut conn) =
            preflight_migrate::connect_as(&self.admin_url, "preflight drift").await
        {
            let sql = format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", self.name);
            let _ = sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
                .execute(&mut conn)
                .await;
        }
    }
}

impl Platform {
    /// A contract for `module`'s database written from `target`'s live
    /// database: its tables and columns, functions with their signatures
    /// and results, extensions and its ledger's version. `header` opens it
    /// as comment lines.
    pub async fn contract_snapshot(
        &self,
        target: &Target,
        module: &str,
        header: &str,
    ) -> Result<String, Error> {
        let m = self.module(module)?;
        let database = m.database.as_deref().ok_or_else(|| Error::Module {
            module: module.to_string(),
            problem: "has no `database`".into(),
        })?;
        let db = target.database(database)?;
        let ledger = match self.kind_of(module) {
            Some(MigrationKind::Sql) => preflight_verify::SnapshotLedger::Preflight,
            Some(MigrationKind::Supabase) => preflight_verify::SnapshotLedger::Supabase,
            Some(MigrationKind::Alembic) => preflight_verify::SnapshotLedger::Alembic,
            _ => preflight_verify::SnapshotLedger::None,
        };
        let ignore = self.drift_ignore(&[module.to_string()], false);
        let mut conn = preflight_migrate::connect_as(&db.url, "preflight contract")
            .await
            .map_err(|e| Error::Migrate {
                what: format!("cannot reach database `{database}`"),
                source: Box::new(e),
            })?;
        let text = preflight_verify::snapshot_contract(&mut conn, ledger, &ignore.schemas, header)
            .await
            .map_err(|e| Error::Verify(Box::new(e)))?;
        let _ = sqlx::Connection::close(conn).await;
        Ok(text)
    }
}

/// The migrations of one folder (`db diff --kind/--dir/--database-url`,
/// no platform config).
#[derive(Debug, Clone)]
pub enum FolderMigrations {
    /// An SQL or Supabase folder.
    Files {
        /// The ledger flavour.
        kind: SourceKind,
        /// The folder.
        dir: std::path::PathBuf,
    },
    /// An Alembic project's versions folders.
    Alembic {
        /// The versions folders.
        dirs: Vec<std::path::PathBuf>,
        /// Read their subfolders too.
        recursive: bool,
    },
}

/// Drift of the database at `live_url` against `migrations` up to what its
/// ledger says is applied; the shadow is built on a throwaway cluster of
/// its own (started and removed here).
pub async fn folder_drift(
    migrations: &FolderMigrations,
    live_url: &str,
    privileges: bool,
) -> DatabaseDrift {
    let database =
        preflight_migrate::database_name(live_url).unwrap_or_else(|| "the database".into());
    let mut report = DatabaseDrift {
        database,
        // Hosts and users stay out of reports, as in `migrate --database-url`.
        via: "--database-url".into(),
        modules: Vec::new(),
        shadow: ShadowTarget::LiveLedger,
        state: DriftState::Unchecked,
        findings: Vec::new(),
        problem: None,
    };
    let mut ignore = Ignore {
        schemas: vec!["preflight".into(), "supabase_migrations".into()],
        objects: vec!["public.alembic_version".into()],
        privileges,
    };
    if matches!(
        migrations,
        FolderMigrations::Files {
            kind: SourceKind::Supabase,
            ..
        }
    ) {
        ignore
            .schemas
            .extend(SUPABASE_MANAGED.iter().map(|s| s.to_string()));
    }
    let result = async {
        let cluster = tokio::task::spawn_blocking(preflight_migrate::TempPostgres::start)
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| format!("cannot start a throwaway cluster: {}", chain(&e)))?;
        let shadow_url = cluster
            .create_database("preflight_shadow")
            .map_err(|e| chain(&e))?;
        let text = |e: preflight_migrate::Error| chain(&e);
        match migrations {
            FolderMigrations::Files { kind, dir } => {
                let migrator = |url: &str| preflight_migrate::Migrator {
                    kind: *kind,
                    source: match kind {
                        SourceKind::Sql => Box::new(preflight_migrate::SqlDir { dir: dir.clone() }),
                        SourceKind::Supabase => {
                            Box::new(preflight_migrate::SupabaseDir { dir: dir.clone() })
                        }
                    },
                    database_url: url.to_string(),
                    applied_by: "preflight drift".into(),
                    lock_timeout: Duration::from_secs(60),
                };
                if *kind == SourceKind::Supabase {
                    let admin = cluster.url("postgres");
                    let shadow = Shadow {
                        url: shadow_url.clone(),
                        admin_url: admin,
                        name: "preflight_shadow".into(),
                    };
                    shadow.create_roles(SUPABASE_ROLES).await?;
                }
                let live = migrator(live_url).status().await.map_err(text)?;
                let pins: Vec<preflight_migrate::PinnedFile> = live
                    .applied_files()
                    .iter()
                    .map(|name| preflight_migrate::PinnedFile::new(name))
                    .collect();
                if !pins.is_empty() {
                    Migrations::Files {
                        migrator: migrator(&shadow_url),
                        pins,
                    }
                    .up(None, &mut |_| {})
                    .await
                    .map_err(text)?;
                }
            }
            FolderMigrations::Alembic { dirs, recursive } => {
                let project =
                    preflight_migrate::AlembicProject::locate(dirs, *recursive).map_err(text)?;
                let on = |url: &str| preflight_migrate::AlembicMigrator {
                    project: project.clone(),
                    database_url: url.to_string(),
                    lock_timeout: Duration::from_secs(60),
                };
                let live = on(live_url);
                let mut conn = preflight_migrate::connect_as(live_url, "preflight drift")
                    .await
                    .map_err(text)?;
                let heads = live.current(&mut conn).await.map_err(text)?;
                let shadow = on(&shadow_url);
                for head in &heads {
                    shadow.upgrade(head).await.map_err(text)?;
                }
            }
        }
        let (expected, actual) = tokio::join!(
            read_catalog(&shadow_url, &ignore),
            read_catalog(live_url, &ignore)
        );
        let findings = preflight_schema::diff(&expected?, &actual?);
        drop(cluster);
        Ok::<_, String>(findings)
    }
    .await;
    report.conclude(result.map_err(|why| preflight_manifest::redact_url(&why)));
    report
}

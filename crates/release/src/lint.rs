//! Migration lint over what a release will apply: the pending files of SQL
//! and Supabase folders, the `sql:` entries of script lists, and Alembic's
//! offline SQL for the pending range (each violation placed in the
//! revision it comes from).

use std::time::Duration;

use preflight_lint::{LintPolicy, Verdict, Violation};
use preflight_manifest::Manifest;
use preflight_migrate::{MigrationState, Migrations, ScriptEntry};
use serde::Serialize;

use crate::error::{Error, error_text};
use crate::platform::Platform;
use crate::target::Target;

/// One module's lint.
#[derive(Debug, Clone, Serialize)]
pub struct ModuleLint {
    /// The module's name.
    pub module: String,
    /// What was linted: file names, or the Alembic range.
    pub linted: Vec<String>,
    /// Every violation, in file order.
    pub violations: Vec<Violation>,
    /// Why the module could not be linted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
}

impl ModuleLint {
    /// Violations the environment blocks.
    pub fn blocking(&self) -> usize {
        self.violations
            .iter()
            .filter(|v| v.verdict == Verdict::Block)
            .count()
    }
}

/// What to lint.
#[derive(Debug, Clone, Default)]
pub struct LintOptions {
    /// Only this module.
    pub module: Option<String>,
    /// Every migration on disk, not only what is pending.
    pub all: bool,
}

impl Platform {
    /// The lint policy of `target`'s environment, with the PostgreSQL
    /// version of `database` when it answers.
    pub fn lint_policy(&self, target: &Target) -> LintPolicy {
        LintPolicy {
            block: target.env.lint_block.clone(),
            pg_version: None,
        }
    }

    /// Lints what each migrating module (or `options.module`) would apply
    /// in `target` to reach `manifest`'s pins (everything on disk with
    /// `options.all`).
    pub async fn lint_migrations(
        &self,
        target: &Target,
        manifest: Option<&Manifest>,
        options: &LintOptions,
    ) -> Result<Vec<ModuleLint>, Error> {
        for rule in &target.env.lint_block {
            preflight_lint::check_rule(rule).map_err(|why| {
                Error::Refused(format!("environments.{}.lint.block: {why}", target.name()))
            })?;
        }
        let modules: Vec<String> = match &options.module {
            Some(m) => vec![self.module(m)?.name.clone()],
            None => self
                .migrating_modules()
                .iter()
                .map(|m| m.name.clone())
                .collect(),
        };
        let mut policy = self.lint_policy(target);
        let operator = crate::platform::operator();
        let mut out = Vec::new();
        for module in modules {
            let mut report = ModuleLint {
                module: module.clone(),
                linted: Vec::new(),
                violations: Vec::new(),
                problem: None,
            };
            let resolved = match self.module_migrations(
                target,
                &module,
                manifest,
                &operator,
                Duration::from_secs(60),
            ) {
                Ok(r) => r,
                Err(e) => {
                    report.problem = Some(error_text(&e));
                    out.push(report);
                    continue;
                }
            };
            if policy.pg_version.is_none()
                && let Ok(db) = target.database(&resolved.database)
            {
                policy.pg_version = server_version(&db.url).await;
            }
            if let Err(why) =
                lint_module(&resolved.migrations, options.all, &policy, &mut report).await
            {
                report.problem = Some(why);
            }
            out.push(report);
        }
        Ok(out)
    }
}

/// Lints one resolved set of migrations (the `--kind/--dir` form of
/// `migrate lint`): what is pending, or everything with `all`.
pub async fn lint_one(
    name: &str,
    migrations: &Migrations,
    all: bool,
    policy: &LintPolicy,
) -> ModuleLint {
    let mut report = ModuleLint {
        module: name.to_string(),
        linted: Vec::new(),
        violations: Vec::new(),
        problem: None,
    };
    if let Err(why) = lint_module(migrations, all, policy, &mut report).await {
        report.problem = Some(why);
    }
    report
}

/// `major.minor` of the server at `url`.
async fn server_version(url: &str) -> Option<String> {
    let mut conn = preflight_migrate::connect_as(url, "preflight lint")
        .await
        .ok()?;
    let version: String = sqlx::query_scalar("SHOW server_version")
        .fetch_one(&mut conn)
        .await
        .ok()?;
    let _ = sqlx::Connection::close(conn).await;
    version.split_whitespace().next().map(str::to_string)
}

async fn lint_module(
    migrations: &Migrations,
    all: bool,
    policy: &LintPolicy,
    report: &mut ModuleLint,
) -> Result<(), String> {
    match migrations {
        Migrations::Files { migrator, .. } => {
            let chosen: Vec<preflight_migrate::Migration> = if all {
                let (files, _) = migrator.source.list().await.map_err(|e| error_text(&e))?;
                files
            } else {
                let pending = migrations.check().await;
                if pending.state == preflight_migrate::ModuleState::Error {
                    return Err(pending.detail);
                }
                let status = migrator.status().await.map_err(|e| error_text(&e))?;
                status
                    .entries
                    .into_iter()
                    .filter(|e| {
                        e.state == MigrationState::Pending && pending.pending.contains(&e.version)
                    })
                    .filter_map(|e| e.migration)
                    .collect()
            };
            for m in chosen {
                report.linted.push(file_name(&m.path));
                report
                    .violations
                    .extend(preflight_lint::lint(&m.path, &m.sql, policy));
            }
        }
        Migrations::Scripts(list) => {
            let pending = if all {
                list.entries.iter().map(ScriptEntry::version).collect()
            } else {
                migrations.check().await.pending
            };
            for entry in &list.entries {
                let ScriptEntry::Sql(file) = entry else {
                    continue;
                };
                if !pending.contains(&entry.version()) {
                    continue;
                }
                let path = list.dir.join(file);
                let sql = std::fs::read_to_string(&path)
                    .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
                report.linted.push(file.clone());
                report
                    .violations
                    .extend(preflight_lint::lint(&path, &sql, policy));
            }
        }
        Migrations::Alembic { migrator, target } => {
            let range = if all { "base" } else { "current" };
            let sql = if all {
                migrator.offline_sql_all(target).await
            } else {
                migrator.offline_sql(target).await
            }
            .map_err(|e| error_text(&e))?;
            report
                .linted
                .push(format!("alembic upgrade {range}:{target} --sql"));
            let (graph, _) = migrator.project.graph().map_err(|e| error_text(&e))?;
            // Lines and columns are those of the offline SQL, which has no
            // file of its own; the message names the revision and its file.
            let offline =
                std::path::PathBuf::from(format!("alembic upgrade {range}:{target} --sql"));
            for mut v in preflight_lint::lint(&offline, &sql, policy) {
                // Alembic's own bookkeeping (its version table) is not a
                // migration of the project's.
                if v.source_line.contains("alembic_version") {
                    continue;
                }
                // The revision whose SQL this is: the last "Running upgrade"
                // comment above the violation; none means Alembic's preamble.
                if let Some(rev) = sql
                    .lines()
                    .take(v.line)
                    .filter_map(|l| l.strip_prefix("-- Running upgrade "))
                    .filter_map(|rest| rest.split_once("-> ").map(|(_, to)| to.trim()))
                    .last()
                    .and_then(|id| graph.get(id))
                {
                    v.message = format!(
                        "{} (revision {}, {})",
                        v.message,
                        rev.id,
                        rev.path.display()
                    );
                    report.violations.push(v);
                }
            }
        }
    }
    Ok(())
}

fn file_name(path: &std::path::Path) -> String {
    path.file_name()
        .map_or_else(String::new, |n| n.to_string_lossy().into_owned())
}

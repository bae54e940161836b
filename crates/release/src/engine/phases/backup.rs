//! Backup: a `pg_dump` of every database that will change, into the
//! environment's artifact store, independent databases concurrently.

use preflight_migrate::{BackupTo, ModuleState};

use super::{Concluded, OwnStep, Pipeline, conclude};
use crate::engine::{Phase, PhaseStatus, StepRecord};
use crate::modules::ModuleCheck;

/// The databases with pending migrations, each with a module that migrates it.
fn to_back_up(cx: &Pipeline<'_>, checks: &[ModuleCheck]) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for c in checks.iter().filter(|c| c.state == ModuleState::Pending) {
        if let Some(db) = cx
            .platform
            .config
            .module(&c.module)
            .and_then(|m| m.database.clone())
            && !out.iter().any(|(d, _)| d == &db)
        {
            out.push((db, c.module.clone()));
        }
    }
    out
}

pub(super) async fn plan(cx: &mut Pipeline<'_>) -> Vec<String> {
    match cx
        .platform
        .check_migrations(cx.target, Some(cx.manifest), None)
        .await
    {
        Ok(checks) => to_back_up(cx, &checks)
            .into_iter()
            .map(|(db, module)| format!("pg_dump {db} before migrating {module}"))
            .collect(),
        Err(e) => vec![format!(
            "cannot read the ledgers: {}",
            crate::error::error_text(&e)
        )],
    }
}

pub(super) async fn run(cx: &mut Pipeline<'_>, steps: &mut Vec<StepRecord>) -> Concluded {
    let checks = match cx
        .platform
        .check_migrations(cx.target, Some(cx.manifest), None)
        .await
    {
        Ok(c) => c,
        Err(e) => {
            let why = crate::error::error_text(&e);
            steps.push(cx.own_step(
                Phase::Backup,
                OwnStep::hard("ledgers", "migrate", false, why).errored(),
            ));
            return conclude(steps, "backup(s)");
        }
    };
    // What cannot be read, or has drifted, is not backed up and migrated over.
    let blocked: Vec<&ModuleCheck> = checks
        .iter()
        .filter(|c| matches!(c.state, ModuleState::Error | ModuleState::Drift))
        .collect();
    if !blocked.is_empty() {
        for c in blocked {
            let step = OwnStep::hard(
                c.module.clone(),
                "migrate",
                false,
                format!("{}: {}", c.state.as_str(), c.detail),
            );
            let step = if c.state == ModuleState::Error {
                step.errored()
            } else {
                step
            };
            steps.push(cx.own_step(Phase::Backup, step));
        }
        return conclude(steps, "backup(s)");
    }
    let databases = to_back_up(cx, &checks);
    if databases.is_empty() {
        return (
            PhaseStatus::Skipped,
            "nothing to migrate, so nothing to back up".into(),
        );
    }
    let store = match cx.target.artifact_store() {
        Ok(s) => s,
        Err(e) => {
            let why = crate::error::error_text(&e);
            steps.push(cx.own_step(
                Phase::Backup,
                OwnStep::hard("artifact store", "backup", false, why),
            ));
            return conclude(steps, "backup(s)");
        }
    };
    let cx_ref = &*cx;
    let results = super::bounded(databases, cx.options.jobs, |(db, module)| {
        let store = store.clone();
        async move {
            let backup = match cx_ref.migrations(&module) {
                Ok(m) => m
                    .migrations
                    .backup(BackupTo {
                        store: &*store,
                        database: &db,
                    })
                    .await
                    .map_err(|e| crate::error::error_text(&e)),
                Err(e) => Err(e),
            };
            (db, backup)
        }
    })
    .await;
    for ((db, result), took) in results {
        let step = match result {
            Ok(b) => OwnStep::hard(
                format!("pg_dump {db}"),
                "backup",
                true,
                format!(
                    "{} ({} bytes, sha256 {})",
                    b.artifact.uri,
                    b.artifact.size,
                    &b.artifact.sha256[..16.min(b.artifact.sha256.len())]
                ),
            )
            .evidence(vec![
                format!("{}{}", crate::engine::record::DUMP_EVIDENCE, b.artifact.uri),
                format!("sha256: {}", b.artifact.sha256),
            ]),
            Err(e) => OwnStep::hard(format!("pg_dump {db}"), "backup", false, e),
        };
        steps.push(cx.own_step(Phase::Backup, step.took(took)));
    }
    conclude(steps, "backup(s)")
}

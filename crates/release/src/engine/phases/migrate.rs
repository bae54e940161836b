//! Migrate: every module to exactly the manifest's pins, whatever the
//! flavour. Modules on different databases run concurrently (bounded by
//! `--jobs`); modules that share a database run in config order.

use std::time::{Duration, Instant};

use preflight_checklist::StepRef;
use preflight_gcp::{ClientOptions, CloudRun, JobRun};
use preflight_manifest::RunJob;
use preflight_migrate::ModuleState;

use super::{Concluded, OwnStep, Pipeline, conclude};
use crate::engine::{Phase, StepRecord};

/// The Cloud Run job that runs `module`'s migrations here: only in a
/// Google Cloud environment, and only when `gcp.jobs` names the module.
fn job_for<'a>(cx: &'a Pipeline<'_>, module: &str) -> Option<(&'a str, &'a RunJob)> {
    cx.target.env.gcp_project.as_ref()?;
    cx.platform
        .config
        .gcp
        .jobs
        .iter()
        .find(|(_, job)| job.module.as_deref() == Some(module))
        .map(|(name, job)| (name.as_str(), job))
}

/// Runs `module`'s migrations through its Cloud Run job: the ledger read
/// first (drift refuses), the job's image checked against the manifest's
/// pin, the execution waited for, and the ledger read again, which must
/// be at the manifest. `Err` is a line of why, then lines of evidence.
async fn through_job(
    cx: &Pipeline<'_>,
    module: &str,
    job_name: &str,
    job: &RunJob,
) -> Result<(Vec<String>, String, Vec<String>), String> {
    let env = &cx.target.env;
    let project = env.gcp_project.clone().unwrap_or_default();
    let region = env.region.clone().ok_or_else(|| {
        format!(
            "`{}` has no region, so the Cloud Run job {job_name} cannot run",
            env.name
        )
    })?;
    let image = job.image.as_deref().ok_or_else(|| {
        format!("gcp.jobs.{job_name} names no image, so its pin cannot be checked")
    })?;
    let pinned = cx
        .manifest
        .images
        .get(image)
        .ok_or_else(|| {
            format!("the manifest pins no image `{image}`, which the job {job_name} runs")
        })?
        .to_string();
    let m = cx.migrations(module)?;
    let before = m.migrations.check().await;
    match before.state {
        ModuleState::AtTarget => {
            return Ok((Vec::new(), m.database, Vec::new()));
        }
        ModuleState::Pending => {}
        _ => {
            return Err(format!(
                "{} is {}: {}; the job was not run",
                m.database,
                before.state.as_str(),
                before.detail
            ));
        }
    }
    let text = |e: preflight_gcp::Error| crate::error::error_text(&e);
    let run = CloudRun::connect(&ClientOptions::from_env())
        .await
        .map_err(text)?;
    let images = run
        .job_images(&project, &region, job_name)
        .await
        .map_err(text)?;
    if !images.contains(&pinned) {
        return Err(format!(
            "Cloud Run job {job_name} runs [{}], not the manifest's pin {pinned}; the job was not run (update its image first)",
            images.join(", ")
        ));
    }
    let mut env_overrides = job.env.clone();
    env_overrides.insert("RELEASE_ID".into(), cx.manifest.release_id.to_string());
    let timeout = Duration::from_secs(job.timeout_secs.unwrap_or(1800));
    let outcome = run
        .run_job(&JobRun {
            project,
            region,
            job: job_name.to_string(),
            args: job.args.clone(),
            env: env_overrides,
            task_timeout: job.timeout_secs.map(Duration::from_secs),
            // The task's own timeout, plus time to schedule and start it.
            deadline: timeout + Duration::from_secs(300),
        })
        .await
        .map_err(text)?;
    let evidence = vec![
        format!("job: {job_name} ({pinned})"),
        format!("execution: {}", outcome.execution),
        format!("logs: {}", outcome.log_uri),
    ];
    if !outcome.succeeded {
        return Err(format!(
            "Cloud Run job {job_name} failed: {}\n{}",
            outcome.message,
            evidence.join("\n")
        ));
    }
    let after = m.migrations.check().await;
    if after.state != ModuleState::AtTarget {
        return Err(format!(
            "Cloud Run job {job_name} succeeded but {} is {}: {}\n{}",
            m.database,
            after.state.as_str(),
            after.detail,
            evidence.join("\n")
        ));
    }
    Ok((before.pending, m.database, evidence))
}

pub(super) async fn plan(cx: &mut Pipeline<'_>) -> Vec<String> {
    match cx
        .platform
        .check_migrations(cx.target, Some(cx.manifest), None)
        .await
    {
        Ok(checks) => checks
            .into_iter()
            .map(|c| {
                if c.pending.is_empty() {
                    format!("{}: {} ({})", c.module, c.state.as_str(), c.detail)
                } else {
                    format!("{}: apply {}", c.module, c.pending.join(", "))
                }
            })
            .collect(),
        Err(e) => vec![format!(
            "cannot read the ledgers: {}",
            crate::error::error_text(&e)
        )],
    }
}

/// Modules grouped by database, groups in config order of their first module.
fn groups(cx: &Pipeline<'_>) -> Vec<Vec<String>> {
    let mut groups: Vec<(Option<String>, Vec<String>)> = Vec::new();
    for m in cx.platform.migrating_modules() {
        match groups
            .iter_mut()
            .find(|(db, _)| db.is_some() && *db == m.database)
        {
            Some((_, list)) => list.push(m.name.clone()),
            None => groups.push((m.database.clone(), vec![m.name.clone()])),
        }
    }
    groups.into_iter().map(|(_, list)| list).collect()
}

struct Outcome {
    module: String,
    /// What was applied, to which database, and the job's evidence.
    result: Result<(Vec<String>, String, Vec<String>), String>,
    took: Duration,
}

pub(super) async fn run(cx: &mut Pipeline<'_>, steps: &mut Vec<StepRecord>) -> Concluded {
    let cx_ref = &*cx;
    let per_group = super::bounded(groups(cx), cx.options.jobs, |group| async move {
        let mut out = Vec::new();
        for module in group {
            let clock = Instant::now();
            let result = match (job_for(cx_ref, &module), cx_ref.migrations(&module)) {
                (Some((job, spec)), _) => through_job(cx_ref, &module, job, spec).await,
                (None, Ok(m)) => m
                    .migrations
                    .up_with(None, cx_ref.options.interrupt.clone(), &mut |_| {})
                    .await
                    .map(|applied| (applied.applied, m.database, Vec::new()))
                    .map_err(|e| crate::error::error_text(&e)),
                (None, Err(e)) => Err(e),
            };
            let failed = result.is_err();
            out.push(Outcome {
                module,
                result,
                took: clock.elapsed(),
            });
            if failed {
                break; // a later module on this database may depend on it
            }
        }
        out
    })
    .await;
    // Report in config order, whatever finished first.
    let mut outcomes: Vec<Outcome> = per_group.into_iter().flat_map(|(group, _)| group).collect();
    let order: Vec<String> = cx
        .platform
        .migrating_modules()
        .iter()
        .map(|m| m.name.clone())
        .collect();
    outcomes.sort_by_key(|o| order.iter().position(|n| n == &o.module));
    for o in outcomes {
        let step = match &o.result {
            Ok((applied, db, _)) if applied.is_empty() => OwnStep::hard(
                o.module.clone(),
                "migration",
                true,
                format!("{db} already at the manifest"),
            ),
            Ok((applied, db, job)) => OwnStep::hard(
                o.module.clone(),
                "migration",
                true,
                format!(
                    "applied {} to {db}{}; now at the manifest",
                    applied.len(),
                    if job.is_empty() {
                        ""
                    } else {
                        " through its Cloud Run job"
                    }
                ),
            )
            .evidence(applied.iter().chain(job).cloned().collect()),
            Err(e) => OwnStep::hard(
                o.module.clone(),
                "migration",
                false,
                e.lines().next().unwrap_or_default().to_string(),
            )
            .evidence(e.lines().skip(1).map(str::to_string).collect()),
        };
        let step = step.took(o.took);
        let passed = o.result.is_ok();
        let summary = format!("{}: {}", o.module, step.summary);
        steps.push(cx.own_step(Phase::Migrate, step));
        cx.apply_checklist(&StepRef::Migration(o.module.clone()), passed, &summary);
    }
    conclude(steps, "module(s)")
}

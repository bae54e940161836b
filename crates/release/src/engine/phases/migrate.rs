//! Migrate: every module to exactly the manifest's pins, whatever the
//! flavour. Modules on different databases run concurrently (bounded by
//! `--jobs`); modules that share a database run in config order.

use std::time::{Duration, Instant};

use preflight_checklist::StepRef;

use super::{Concluded, OwnStep, Pipeline, conclude};
use crate::engine::{Phase, StepRecord};

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
    result: Result<(Vec<String>, String), String>,
    took: Duration,
}

pub(super) async fn run(cx: &mut Pipeline<'_>, steps: &mut Vec<StepRecord>) -> Concluded {
    let cx_ref = &*cx;
    let per_group = super::bounded(groups(cx), cx.options.jobs, |group| async move {
        let mut out = Vec::new();
        for module in group {
            let clock = Instant::now();
            let result = match cx_ref.migrations(&module) {
                Ok(m) => m
                    .migrations
                    .up_with(None, cx_ref.options.interrupt.clone(), &mut |_| {})
                    .await
                    .map(|applied| (applied.applied, m.database))
                    .map_err(|e| crate::error::error_text(&e)),
                Err(e) => Err(e),
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
            Ok((applied, db)) if applied.is_empty() => OwnStep::hard(
                o.module.clone(),
                "migration",
                true,
                format!("{db} already at the manifest"),
            ),
            Ok((applied, db)) => OwnStep::hard(
                o.module.clone(),
                "migration",
                true,
                format!("applied {} to {db}; now at the manifest", applied.len()),
            )
            .evidence(applied.clone()),
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

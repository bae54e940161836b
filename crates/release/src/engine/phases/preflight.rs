//! The preflight checks, before anything changes: the manifest against
//! the config, every database reachable, every checkout ready, checklist
//! bindings and the sections required before the build.

use preflight_checklist::Requirement;
use preflight_manifest::{CheckoutPolicy, DriftPolicy};

use super::{Concluded, OwnStep, Pipeline, conclude};
use crate::drift::{DriftOptions, DriftState};
use crate::engine::{Phase, StepRecord};
use crate::repo::{RepoOptions, RepoState};

pub(super) async fn run(cx: &mut Pipeline<'_>, steps: &mut Vec<StepRecord>) -> Concluded {
    let env = cx.env().to_string();
    let m = cx.manifest;
    let summary = format!(
        "{} valid for `{env}` and its config: {} commits, {} images, {} flags",
        m.release_id,
        m.commits.len(),
        m.images.len(),
        m.feature_flags.len()
    );
    steps.push(cx.own_step(
        Phase::Preflight,
        OwnStep::hard("manifest", "manifest", true, summary),
    ));
    // Every database of the environment resolves and answers.
    let names: Vec<String> = cx.target.env.databases.keys().cloned().collect();
    let reached = futures_util::future::join_all(names.iter().map(|db| cx.target.reach(db))).await;
    for (db, result) in names.iter().zip(reached) {
        let step = match result {
            Ok(detail) => OwnStep::hard(
                format!("database {db}"),
                "postgres",
                true,
                format!("{db} {detail}"),
            ),
            Err(why) => OwnStep::hard(
                format!("database {db}"),
                "postgres",
                false,
                format!("{db} {why}"),
            ),
        };
        steps.push(cx.own_step(Phase::Preflight, step));
    }
    // Every pinned checkout: on its branch, at the pin, clean.
    let policy = cx.target.env.checkout;
    let platform = cx.platform;
    let manifest = cx.manifest;
    // A few quick `git` calls per module; nothing here waits on the network.
    let repos = platform.check_repos(
        manifest,
        RepoOptions {
            fetch: false,
            policy,
        },
    );
    if let Some(from) = &cx.options.rollback_of {
        let summary = format!(
            "checkouts not checked: a rollback from {from} redeploys images built earlier from {}'s pins",
            manifest.release_id
        );
        steps.push(cx.own_step(
            Phase::Preflight,
            OwnStep::hard("checkouts", "git", true, summary),
        ));
    } else if policy == CheckoutPolicy::Skip && !repos.is_empty() {
        let summary = format!(
            "checkouts of {} module(s) not verified: `{env}` says `checkout: skip`",
            repos.len()
        );
        steps.push(cx.own_step(
            Phase::Preflight,
            OwnStep::hard("checkouts", "git", true, summary),
        ));
    } else {
        for r in repos {
            let ready = r.state == RepoState::Ready;
            let step = OwnStep::hard(
                format!("checkout {}", r.module),
                "git",
                ready,
                format!("{}: {}", r.module, r.detail),
            );
            steps.push(cx.own_step(Phase::Preflight, step));
        }
    }
    cloud_readiness(cx, steps).await;
    // Before anything changes: is each database what its migrations say?
    drift(cx, Phase::Preflight, steps).await;
    lint(cx, steps).await;
    checklist(cx, steps);
    conclude(steps, "preflight checks")
}

/// The environment's Google Cloud readiness (`gcp.*`: APIs, IAM, Cloud
/// SQL, buckets, secrets, VPC egress, what the freeze will stop), checked
/// before anything changes rather than after migrating; an answer that
/// cannot be had is a failure.
async fn cloud_readiness(cx: &mut Pipeline<'_>, steps: &mut Vec<StepRecord>) {
    let specs = cx
        .platform
        .gcp_specs(&cx.target.env, &std::collections::BTreeMap::new());
    if specs.is_empty() {
        return;
    }
    let report = cx.runner.run(specs).await;
    cx.record_report(Phase::Preflight, &report, steps, |name| {
        preflight_checklist::StepRef::Probe(name.to_string())
    });
}

/// One step per migrated database: its schema against the one its
/// migrations build (up to the live ledger before the release, up to the
/// manifest's pins after migrating). Hard where the environment says
/// `drift: hard`; a check that cannot be made fails like drift. Before the
/// freeze the schema the pins build is made too, so the check after
/// migrating only reads live.
pub(super) async fn drift(cx: &mut Pipeline<'_>, phase: Phase, steps: &mut Vec<StepRecord>) {
    let policy = cx.target.env.drift;
    if policy == DriftPolicy::Off {
        return;
    }
    let started = std::time::Instant::now();
    let options = DriftOptions::default();
    let platform = cx.platform;
    let reports = if phase == Phase::Verify {
        match cx.expected_schemas.take() {
            Some(expected) => Ok(platform.compare_with_live(cx.target, &expected).await),
            None => {
                platform
                    .schema_drift(cx.target, Some(cx.manifest), &options)
                    .await
            }
        }
    } else {
        let now = platform.schema_drift(cx.target, None, &options);
        let after = async {
            if cx.options.dry_run {
                None
            } else {
                platform
                    .expected_schemas(cx.target, Some(cx.manifest), &options)
                    .await
                    .ok()
            }
        };
        let (now, after) = futures_util::join!(now, after);
        // The contracts must hold on what the pins build: if not, the verify
        // phase would fail after migrating; say so before the freeze.
        for expected in after.iter().flatten() {
            for c in &expected.contracts {
                let passed = c.outcome == preflight_verify::Outcome::Passed;
                let mut step = OwnStep::hard(
                    format!("contract {} after migrating", c.probe),
                    "postgres",
                    passed,
                    format!("on the schema the manifest's pins build: {}", c.summary),
                )
                .evidence(c.evidence.clone());
                if c.outcome == preflight_verify::Outcome::Errored {
                    step = step.errored();
                }
                if c.severity != preflight_verify::Severity::Hard {
                    step = step.soft();
                }
                steps.push(cx.own_step(phase, step));
            }
        }
        cx.expected_schemas = after;
        now
    };
    let reports = match reports {
        Ok(r) => r,
        Err(e) => {
            let step = OwnStep::hard(
                "schema drift",
                "schema",
                false,
                format!(
                    "cannot check schema drift: {}",
                    crate::error::error_text(&e)
                ),
            )
            .errored();
            let step = if policy == DriftPolicy::Hard {
                step
            } else {
                step.soft()
            };
            steps.push(cx.own_step(phase, step));
            return;
        }
    };
    let each = started.elapsed() / u32::try_from(reports.len().max(1)).unwrap_or(1);
    for r in reports {
        let mut step = OwnStep::hard(
            format!("drift {}", r.database),
            "schema",
            r.state == DriftState::Clean,
            r.summary(),
        )
        .evidence(
            r.findings
                .iter()
                .take(50)
                .map(ToString::to_string)
                .collect(),
        )
        .took(each);
        if r.state == DriftState::Unchecked {
            step = step.errored();
        }
        if policy != DriftPolicy::Hard {
            step = step.soft();
        }
        steps.push(cx.own_step(phase, step));
    }
}

/// What this release will apply, through squawk's rules: a blocking
/// violation (by the environment's `lint.block`) fails the step and stops
/// the release before the freeze; the rest are warnings.
async fn lint(cx: &mut Pipeline<'_>, steps: &mut Vec<StepRecord>) {
    let started = std::time::Instant::now();
    let reports = cx
        .platform
        .lint_migrations(
            cx.target,
            Some(cx.manifest),
            &crate::lint::LintOptions::default(),
        )
        .await;
    let reports = match reports {
        Ok(r) => r,
        Err(e) => {
            let why = crate::error::error_text(&e);
            steps.push(cx.own_step(
                Phase::Preflight,
                OwnStep::hard("lint", "lint", false, why).errored(),
            ));
            return;
        }
    };
    let each = started.elapsed() / u32::try_from(reports.len().max(1)).unwrap_or(1);
    for r in reports {
        let blocking = r.blocking();
        let warnings = r.violations.len() - blocking;
        let (passed, summary) = match (&r.problem, blocking, warnings) {
            (Some(why), _, _) => (false, format!("{}: cannot lint: {why}", r.module)),
            (None, 0, 0) => (
                true,
                format!("{}: {} to apply, no violations", r.module, r.linted.len()),
            ),
            (None, 0, w) => (false, format!("{}: {w} warning(s)", r.module)),
            (None, b, w) => (
                false,
                format!("{}: {b} blocking violation(s), {w} warning(s)", r.module),
            ),
        };
        let mut step = OwnStep::hard(format!("lint {}", r.module), "lint", passed, summary)
            .evidence({
                // Blocking violations first: they are why the step failed.
                let mut shown: Vec<&preflight_lint::Violation> = r.violations.iter().collect();
                shown.sort_by_key(|v| v.verdict != preflight_lint::Verdict::Block);
                shown.iter().take(20).map(|v| v.render()).collect()
            })
            .took(each);
        if r.problem.is_some() {
            step = step.errored();
        } else if blocking == 0 {
            step = step.soft();
        }
        steps.push(cx.own_step(Phase::Preflight, step));
    }
}

/// Bindings name real items; the sections required before the build are complete.
fn checklist(cx: &mut Pipeline<'_>, steps: &mut Vec<StepRecord>) {
    let (Some(run), Some(config)) = (&cx.checklist, &cx.platform.config.checklist) else {
        return;
    };
    let bindings = preflight_checklist::check_bindings(run, &cx.bindings);
    let gate = config.before_build.as_deref().map(|text| {
        Requirement::parse(text)
            .and_then(|req| preflight_checklist::gate(&run.checklist, &run.log.state(), &req))
    });
    let before = config.before_build.clone().unwrap_or_default();
    let count = cx.bindings.len();
    let step = match bindings {
        Ok(()) => OwnStep::hard(
            "checklist bindings",
            "checklist",
            true,
            format!("{count} bindings valid"),
        ),
        Err(e) => OwnStep::hard(
            "checklist bindings",
            "checklist",
            false,
            format!("checklist binding: {e}"),
        ),
    };
    steps.push(cx.own_step(Phase::Preflight, step));
    let Some(gate) = gate else { return };
    // A rehearsal has no people filling the checklist: it reports, it does not block.
    let hard = !cx.target.is_local();
    let step = match gate {
        Ok(g) if g.passed => OwnStep::hard(
            "checklist before build",
            "checklist",
            true,
            format!("sections {before} complete"),
        ),
        Ok(g) => OwnStep::hard(
            "checklist before build",
            "checklist",
            false,
            format!(
                "{} item(s) open in sections {before}{}",
                g.open.len(),
                if hard {
                    ""
                } else {
                    " (a rehearsal only reports this)"
                }
            ),
        )
        .evidence(
            g.open
                .iter()
                .take(20)
                .map(|o| {
                    format!(
                        "{} {} ({})",
                        o.id,
                        o.action,
                        o.owner.as_deref().unwrap_or("no owner")
                    )
                })
                .collect(),
        ),
        Err(e) => OwnStep::hard(
            "checklist before build",
            "checklist",
            false,
            format!("cannot evaluate the checklist gate: {e}"),
        )
        .errored(),
    };
    let step = if hard { step } else { step.soft() };
    steps.push(cx.own_step(Phase::Preflight, step));
}

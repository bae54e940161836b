//! Build: the environment's Cloud Build trigger (`gcp.build`), run with
//! `_RELEASE_MANIFEST` set to this manifest, waited for with backoff up to
//! its deadline; the build id, its log link and its final status go into
//! the log. Skipped where no trigger is configured.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use preflight_gcp::{ClientOptions, CloudBuild};

use super::{Concluded, OwnStep, Pipeline, conclude};
use crate::engine::{Phase, PhaseStatus, StepRecord};

/// The trigger to run: project, trigger, branch, timeout.
struct Planned {
    project: String,
    trigger: String,
    branch: String,
    timeout: Duration,
}

fn planned(cx: &Pipeline<'_>) -> Option<Planned> {
    let project = cx.target.env.gcp_project.clone()?;
    let build = cx.platform.config.gcp.build.as_ref()?;
    Some(Planned {
        project,
        trigger: build.trigger.clone(),
        branch: build.branch.clone(),
        timeout: Duration::from_secs(build.timeout_secs),
    })
}

/// The manifest as the build sees it: its path inside the platform's
/// repository, with `/`.
fn manifest_in_repo(cx: &Pipeline<'_>) -> Result<String, String> {
    let root =
        std::path::absolute(cx.platform.root()).unwrap_or_else(|_| cx.platform.root().into());
    let manifest =
        std::path::absolute(&cx.options.manifest).unwrap_or_else(|_| cx.options.manifest.clone());
    let relative = manifest.strip_prefix(&root).map_err(|_| {
        format!(
            "{} is outside the platform's folder {}: the build reads the manifest from the repository, so it must be committed there",
            manifest.display(),
            root.display()
        )
    })?;
    let parts: Vec<String> = relative
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    Ok(parts.join("/"))
}

pub(super) fn plan(cx: &Pipeline<'_>) -> Vec<String> {
    let Some(p) = planned(cx) else {
        return Vec::new();
    };
    let manifest = manifest_in_repo(cx).unwrap_or_else(|e| format!("<{e}>"));
    vec![format!(
        "run Cloud Build trigger {} of {} on {} with _RELEASE_MANIFEST={manifest}, waiting up to {} s",
        p.trigger,
        p.project,
        p.branch,
        p.timeout.as_secs()
    )]
}

pub(super) async fn run(cx: &mut Pipeline<'_>, steps: &mut Vec<StepRecord>) -> Concluded {
    let Some(p) = planned(cx) else {
        return (
            PhaseStatus::Skipped,
            format!("no Cloud Build trigger for `{}`", cx.env()),
        );
    };
    let name = format!("trigger {}", p.trigger);
    let manifest = match manifest_in_repo(cx) {
        Ok(m) => m,
        Err(why) => {
            let s = cx.own_step(
                Phase::Build,
                OwnStep::hard(name, "build", false, why).errored(),
            );
            steps.push(s);
            return conclude(steps, "build(s)");
        }
    };
    let started = Instant::now();
    let substitutions = BTreeMap::from([("_RELEASE_MANIFEST".to_string(), manifest.clone())]);
    let result = async {
        let build = CloudBuild::connect(&ClientOptions::from_env()).await?;
        build
            .run_trigger(&p.project, &p.trigger, &p.branch, &substitutions, p.timeout)
            .await
    }
    .await;
    let step = match result {
        Err(e) => OwnStep::hard(name, "build", false, crate::error::error_text(&e)),
        Ok(outcome) => {
            let evidence = vec![
                format!("trigger: projects/{}/triggers/{}", p.project, p.trigger),
                format!("branch: {}", p.branch),
                format!("_RELEASE_MANIFEST: {manifest}"),
                format!("build: {}", outcome.id),
                format!("status: {}", outcome.status),
                format!("log: {}", outcome.log_url),
            ];
            let summary = if outcome.succeeded {
                format!(
                    "build {} {}; log: {}",
                    outcome.id, outcome.status, outcome.log_url
                )
            } else {
                format!(
                    "build {} {}: {}; log: {}",
                    outcome.id, outcome.status, outcome.message, outcome.log_url
                )
            };
            OwnStep::hard(name, "build", outcome.succeeded, summary).evidence(evidence)
        }
    };
    let s = cx.own_step(Phase::Build, step.took(started.elapsed()));
    steps.push(s);
    conclude(steps, "build(s)")
}

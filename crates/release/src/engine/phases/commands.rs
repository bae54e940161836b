//! Freeze, deploy and (after smoke) unfreeze: commands from `release:` in
//! the config, with placeholders filled from the manifest and environment.

use std::sync::Arc;
use std::time::Duration;

use preflight_manifest::ReleaseStep;
use preflight_verify::{CommandProbe, ProbeSpec, RetryPolicy, Severity};

use super::{Concluded, OwnStep, Pipeline, conclude};
use crate::engine::{Phase, PhaseStatus, StepRecord};

/// The configured steps of `phase` (freeze or deploy) for this environment.
fn configured<'a>(cx: &'a Pipeline<'_>, phase: Phase) -> Vec<&'a ReleaseStep> {
    let release = &cx.platform.config.release;
    let list = match phase {
        Phase::Freeze => &release.freeze,
        Phase::Deploy => &release.deploy,
        _ => &release.unfreeze,
    };
    list.iter().filter(|s| s.runs_in(cx.env())).collect()
}

pub(super) fn plan(cx: &Pipeline<'_>, phase: Phase) -> Vec<String> {
    configured(cx, phase)
        .into_iter()
        .map(|s| describe(cx, s))
        .collect()
}

/// The unfreeze steps, planned (smoke runs them).
pub(super) fn plan_unfreeze(cx: &Pipeline<'_>) -> Vec<String> {
    let mut lines: Vec<String> = configured(cx, Phase::Watch)
        .into_iter()
        .map(|s| describe(cx, s))
        .collect();
    lines.extend(super::freeze::plan_unfreeze(cx));
    lines
}

fn describe(cx: &Pipeline<'_>, s: &ReleaseStep) -> String {
    let argv: Vec<String> = s
        .command
        .iter()
        .map(|a| fill_placeholders(a, cx).unwrap_or_else(|e| format!("<{e}>")))
        .collect();
    format!("{}: {}", s.name, argv.join(" "))
}

pub(super) async fn run(
    cx: &mut Pipeline<'_>,
    phase: Phase,
    steps: &mut Vec<StepRecord>,
) -> Concluded {
    let list: Vec<ReleaseStep> = configured(cx, phase).into_iter().cloned().collect();
    run_steps(cx, phase, &list, steps).await
}

/// The unfreeze steps, then what `gcp.freeze` stopped put back as it
/// was, recorded under `phase` (smoke, or the phase that failed).
pub(super) async fn run_unfreeze(
    cx: &mut Pipeline<'_>,
    phase: Phase,
    steps: &mut Vec<StepRecord>,
) -> Concluded {
    let list: Vec<ReleaseStep> = configured(cx, Phase::Watch).into_iter().cloned().collect();
    if cx.frozen.is_empty() {
        return run_steps(cx, phase, &list, steps).await;
    }
    if !list.is_empty() {
        let (status, summary) = run_steps(cx, phase, &list, steps).await;
        if status == PhaseStatus::Failed {
            return (status, summary);
        }
    }
    super::freeze::unfreeze(cx, phase, steps).await;
    super::conclude(steps, "unfreeze step(s)")
}

async fn run_steps(
    cx: &mut Pipeline<'_>,
    phase: Phase,
    list: &[ReleaseStep],
    steps: &mut Vec<StepRecord>,
) -> Concluded {
    if list.is_empty() {
        return (
            PhaseStatus::Skipped,
            format!("no {} steps configured for `{}`", phase.as_str(), cx.env()),
        );
    }
    for step in list {
        let spec = match command_spec(cx, step) {
            Ok(spec) => spec,
            Err(why) => {
                let s = cx.own_step(
                    phase,
                    OwnStep::hard(&step.name, "command", false, why).errored(),
                );
                steps.push(s);
                break;
            }
        };
        let report = cx.runner.run(vec![spec]).await;
        let record = cx.step(phase, &report.results[0]);
        let passed = record.passed();
        steps.push(record);
        if !passed {
            break; // later steps depend on earlier ones
        }
    }
    conclude(steps, &format!("{} step(s)", phase.as_str()))
}

/// A release step with its placeholders filled, run in its folder.
fn command_spec(cx: &Pipeline<'_>, step: &ReleaseStep) -> Result<ProbeSpec, String> {
    let argv = step
        .command
        .iter()
        .map(|a| fill_placeholders(a, cx))
        .collect::<Result<Vec<_>, _>>()?;
    let mut probe = CommandProbe::new(argv);
    let root = cx.platform.root();
    probe.dir = Some(
        step.dir
            .as_ref()
            .map_or_else(|| root.to_path_buf(), |d| root.join(d)),
    );
    Ok(ProbeSpec {
        name: step.name.clone(),
        severity: Severity::Hard,
        timeout: Duration::from_secs(step.timeout_secs.unwrap_or(900)),
        retry: RetryPolicy::none(),
        probe: Arc::new(probe),
    })
}

/// Fills `{release_id}`, `{env}`, `{gcp_project}`, `{region}`,
/// `{image:NAME}` and `{commit:REPO}`.
fn fill_placeholders(arg: &str, cx: &Pipeline<'_>) -> Result<String, String> {
    let environment = &cx.target.env;
    let env = cx.env();
    let manifest = cx.manifest;
    let mut out = arg.to_string();
    for ph in preflight_manifest::placeholders(arg) {
        let value = match ph.split_once(':') {
            None => match ph {
                "release_id" => manifest.release_id.to_string(),
                "env" => env.to_string(),
                "gcp_project" => environment
                    .gcp_project
                    .clone()
                    .ok_or_else(|| format!("`{env}` has no gcp_project for {{gcp_project}}"))?,
                "region" => environment
                    .region
                    .clone()
                    .ok_or_else(|| format!("`{env}` has no region for {{region}}"))?,
                other => return Err(format!("unknown placeholder {{{other}}}")),
            },
            Some(("image", name)) => manifest
                .images
                .get(name)
                .map(ToString::to_string)
                .ok_or_else(|| format!("the manifest pins no image `{name}`"))?,
            Some(("commit", repo)) => manifest
                .commits
                .get(repo)
                .map(ToString::to_string)
                .ok_or_else(|| format!("the manifest pins no commit for `{repo}`"))?,
            Some((other, _)) => return Err(format!("unknown placeholder {{{other}:…}}")),
        };
        out = out.replace(&format!("{{{ph}}}"), &value);
    }
    Ok(out)
}

//! Deploy through the Cloud Run Admin API (`gcp.rollout`): each service of
//! `gcp.services` whose image the manifest pins gets a new revision at the
//! pin, tagged with the release and serving the canary share; smoke and
//! watch call the tagged revision on its own URL; the end of the watch
//! gives it all the traffic; a failure after the deploy puts the traffic
//! back where it was.

use std::time::{Duration, Instant};

use preflight_gcp::{Canary, ClientOptions, CloudRun, Rollout, describe_traffic};
use preflight_manifest::RolloutPolicy;

use super::{OwnStep, Pipeline};
use crate::engine::{Phase, StepRecord};

/// One service to roll out: its name, project, region and the rollout.
struct Planned {
    service: String,
    rollout: Rollout,
}

/// The tag of a release's revisions: `r-` and the release id in the
/// letters Cloud Run allows (lower case, digits, `-`), short enough for
/// the tag's URL.
pub(crate) fn tag_for(release_id: &str) -> String {
    let mut tag = String::from("r-");
    for c in release_id.chars() {
        let c = c.to_ascii_lowercase();
        let c = if c.is_ascii_alphanumeric() { c } else { '-' };
        if !(c == '-' && tag.ends_with('-')) {
            tag.push(c);
        }
    }
    tag.truncate(46);
    tag.trim_end_matches('-').to_string()
}

fn policy(cx: &Pipeline<'_>) -> Option<RolloutPolicy> {
    cx.target.env.gcp_project.as_ref()?;
    cx.platform.config.gcp.rollout.clone()
}

/// The services this release rolls out, or why it cannot.
fn planned(cx: &Pipeline<'_>) -> Result<Vec<Planned>, String> {
    let Some(policy) = policy(cx) else {
        return Ok(Vec::new());
    };
    let env = &cx.target.env;
    let project = env.gcp_project.clone().unwrap_or_default();
    let Some(region) = env.region.clone() else {
        return Err(format!(
            "`{}` has no region, so its Cloud Run services cannot be rolled out",
            env.name
        ));
    };
    let tag = tag_for(&cx.manifest.release_id.to_string());
    Ok(cx
        .platform
        .config
        .gcp
        .services
        .iter()
        .filter_map(|(service, wanted)| {
            let image = cx.manifest.images.get(&wanted.image)?;
            Some(Planned {
                service: service.clone(),
                rollout: Rollout {
                    project: project.clone(),
                    region: region.clone(),
                    service: service.clone(),
                    image: image.to_string(),
                    tag: tag.clone(),
                    // A rollback goes back at once, and a worker has no
                    // requests to split: no canary.
                    percent: if cx.options.rollback_of.is_some() || wanted.worker {
                        100
                    } else {
                        policy.canary_percent
                    },
                    service_account: wanted.service_account.as_ref().map(|a| {
                        a.replace("{gcp_project}", &project)
                            .replace("{env}", &env.name)
                    }),
                    network: wanted.network.clone(),
                    needs_vpc: wanted.redis,
                    deadline: Duration::from_secs(policy.timeout_secs),
                },
            })
        })
        .collect())
}

pub(super) fn plan(cx: &Pipeline<'_>) -> Vec<String> {
    match planned(cx) {
        Err(why) => vec![format!("roll out Cloud Run services: {why}")],
        Ok(list) => list
            .iter()
            .map(|p| {
                let share = match p.rollout.percent {
                    100 => "with all of the traffic".to_string(),
                    percent => format!("{percent} % of traffic until smoke and watch pass"),
                };
                format!(
                    "roll out {}: {} as a new revision tagged {}, {share}",
                    p.service, p.rollout.image, p.rollout.tag
                )
            })
            .collect(),
    }
}

/// Whether this release rolls anything out through the Admin API.
pub(super) fn configured(cx: &Pipeline<'_>) -> bool {
    !matches!(planned(cx), Ok(list) if list.is_empty())
}

async fn connect(
    cx: &mut Pipeline<'_>,
    phase: Phase,
    steps: &mut Vec<StepRecord>,
) -> Option<CloudRun> {
    let run = CloudRun::connect(&ClientOptions::from_env()).await;
    super::connected(cx, phase, steps, run)
}

/// Deploys each planned service as a canary, one after another; stops at
/// the first that fails (the caller rolls back what went out).
pub(super) async fn deploy(cx: &mut Pipeline<'_>, steps: &mut Vec<StepRecord>) {
    let list = match planned(cx) {
        Ok(list) if list.is_empty() => return,
        Ok(list) => list,
        Err(why) => {
            let s = cx.own_step(
                Phase::Deploy,
                OwnStep::hard("rollout", "rollout", false, why).errored(),
            );
            steps.push(s);
            return;
        }
    };
    let Some(run) = connect(cx, Phase::Deploy, steps).await else {
        return;
    };
    for p in list {
        let name = format!("deploy {}", p.service);
        let started = Instant::now();
        match run.deploy_canary(&p.rollout).await {
            Err(e) => {
                let why = crate::error::error_text(&e);
                let s = cx.own_step(
                    Phase::Deploy,
                    OwnStep::hard(name, "rollout", false, why).took(started.elapsed()),
                );
                steps.push(s);
                return;
            }
            Ok(canary) => {
                let evidence = canary_evidence(&canary);
                let ok = canary.problems.is_empty();
                let summary = if ok {
                    format!(
                        "revision {} serves {} % under tag {} ({}); before: {}",
                        canary.revision,
                        canary.percent,
                        canary.tag,
                        canary.url,
                        describe_traffic(&canary.previous)
                    )
                } else {
                    canary.problems.join("; ")
                };
                let s = cx.own_step(
                    Phase::Deploy,
                    OwnStep::hard(name, "rollout", ok, summary)
                        .evidence(evidence)
                        .took(started.elapsed()),
                );
                steps.push(s);
                cx.deployed.push(canary.clone());
                cx.canaries.push(canary);
                if !ok {
                    return;
                }
            }
        }
    }
}

fn canary_evidence(canary: &Canary) -> Vec<String> {
    vec![
        format!("service: {}", canary.service),
        format!("revision: {}", canary.revision),
        format!("tag: {} → {}", canary.tag, canary.url),
        format!("images: {}", canary.images.join(", ")),
        format!("service account: {}", canary.service_account),
        format!("VPC egress: {}", canary.vpc),
        format!("traffic before: {}", describe_traffic(&canary.previous)),
    ]
}

/// Gives each canary all the traffic, recorded under `phase` (watch).
pub(super) async fn promote(cx: &mut Pipeline<'_>, phase: Phase, steps: &mut Vec<StepRecord>) {
    if shift(cx, phase, steps, 100).await {
        cx.promoted = true;
    }
}

/// The shares each canary moves to after a watch window that passed
/// (`gcp.rollout.then`), before all the traffic: none for a rollback,
/// which goes to 100 % at once.
pub(super) fn next_shares(cx: &Pipeline<'_>) -> Vec<u8> {
    match policy(cx) {
        Some(p) if cx.options.rollback_of.is_none() => p.then,
        _ => Vec::new(),
    }
}

/// Moves every canary to `percent` % of its service's traffic (100:
/// promoted), the earlier revisions keeping the rest in proportion.
/// Returns whether every one moved; stops at the first that did not.
pub(super) async fn shift(
    cx: &mut Pipeline<'_>,
    phase: Phase,
    steps: &mut Vec<StepRecord>,
    percent: u8,
) -> bool {
    if cx.canaries.is_empty() {
        return false;
    }
    let Some(run) = connect(cx, phase, steps).await else {
        return false;
    };
    let deadline = Duration::from_secs(policy(cx).map_or(900, |p| p.timeout_secs));
    for index in 0..cx.canaries.len() {
        let canary = cx.canaries[index].clone();
        // A step up leaves alone what already has everything (a worker).
        if percent < 100 && canary.percent >= percent {
            continue;
        }
        let started = Instant::now();
        let (shares, name) = match percent {
            100 => (
                canary.promoted(),
                format!("promote {}", short(&canary.service)),
            ),
            p => (
                canary.at(p),
                format!("step {} up to {p} %", short(&canary.service)),
            ),
        };
        let result = run.set_traffic(&canary.service, &shares, deadline).await;
        if result.is_ok() {
            cx.canaries[index].percent = percent;
        }
        let step = match result {
            Ok(()) => OwnStep::hard(
                name,
                "rollout",
                true,
                format!("traffic: {}", describe_traffic(&shares)),
            ),
            Err(e) => OwnStep::hard(name, "rollout", false, crate::error::error_text(&e)),
        };
        let s = cx.own_step(phase, step.took(started.elapsed()));
        let failed = !s.passed();
        steps.push(s);
        if failed {
            return false;
        }
    }
    true
}

/// Puts each canary's traffic back where it was before the deploy,
/// recorded under `phase` (the phase that failed). Returns whether every
/// service is back.
pub(super) async fn roll_back(
    cx: &mut Pipeline<'_>,
    phase: Phase,
    steps: &mut Vec<StepRecord>,
) -> bool {
    let Some(run) = connect(cx, phase, steps).await else {
        return false;
    };
    let deadline = Duration::from_secs(policy(cx).map_or(900, |p| p.timeout_secs));
    let mut all = true;
    // Every service is tried, whatever happened to the one before.
    for canary in cx.canaries.clone() {
        let started = Instant::now();
        let shares = canary.rolled_back();
        let name = format!("roll back {}", short(&canary.service));
        let step = match run.set_traffic(&canary.service, &shares, deadline).await {
            Ok(()) => OwnStep::hard(
                name,
                "rollback",
                true,
                format!(
                    "traffic back to {}; revision {} kept at 0 % under tag {}",
                    describe_traffic(&canary.previous),
                    canary.revision,
                    canary.tag
                ),
            ),
            Err(e) => {
                all = false;
                OwnStep::hard(
                    name,
                    "rollback",
                    false,
                    format!(
                        "{}; set it by hand: gcloud run services update-traffic {} --to-revisions={}",
                        crate::error::error_text(&e),
                        short(&canary.service),
                        canary
                            .previous
                            .iter()
                            .filter(|s| s.percent > 0)
                            .map(|s| format!("{}={}", s.revision, s.percent))
                            .collect::<Vec<_>>()
                            .join(",")
                    ),
                )
            }
        };
        let s = cx.own_step(phase, step.took(started.elapsed()));
        steps.push(s);
    }
    all
}

/// `S` of `projects/P/locations/R/services/S`.
fn short(service: &str) -> &str {
    service.rsplit('/').next().unwrap_or(service)
}

#[cfg(test)]
mod tests {
    #[test]
    fn tags_are_what_cloud_run_accepts() {
        assert_eq!(super::tag_for("2026-02-14-prod"), "r-2026-02-14-prod");
        assert_eq!(super::tag_for("2026-02-14-Prod_EU"), "r-2026-02-14-prod-eu");
        let long = super::tag_for(&"x".repeat(80));
        assert_eq!(long.len(), 46);
    }
}

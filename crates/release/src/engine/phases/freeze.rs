//! The freeze and unfreeze through Google's APIs (`gcp.freeze`): worker
//! services scaled to zero instances (Cloud Run Admin API) and schedules
//! paused (Cloud Scheduler), each put back as the freeze found it. What the
//! freeze found is the step's evidence, so a resumed run can put it back.

use std::time::{Duration, Instant};

use preflight_gcp::{ClientOptions, CloudRun, CloudScheduler, ScheduleState, ServiceScale};
use preflight_manifest::FreezeTarget;
use serde::{Deserialize, Serialize};

use super::{OwnStep, Pipeline};
use crate::engine::{Phase, PhaseRecord, StepRecord};

/// Something this run (or an earlier attempt) froze, with what it was
/// before.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Frozen {
    Service {
        name: String,
        before: ServiceScale,
    },
    Schedule {
        job: String,
        location: String,
        before: ScheduleState,
    },
}

/// The evidence line a freeze step keeps what it found in.
const FOUND: &str = "frozen: ";
/// The same, as the first release with a Cloud Run freeze wrote it (a
/// service's scaling only), still read so its runs can be resumed.
const SCALING_BEFORE: &str = "scaling before: ";

/// How long one update of a service may take.
const SERVICE_DEADLINE: Duration = Duration::from_secs(600);

/// What the freeze stops here, with the project and region: nothing
/// outside a Google Cloud environment.
fn targets(cx: &Pipeline<'_>) -> Option<(String, Option<String>, Vec<FreezeTarget>)> {
    let env = &cx.target.env;
    let project = env.gcp_project.clone()?;
    let targets = cx.platform.config.gcp.freeze.clone();
    if targets.is_empty() {
        return None;
    }
    Some((project, env.region.clone(), targets))
}

pub(super) fn plan_freeze(cx: &Pipeline<'_>) -> Vec<String> {
    targets(cx).map_or_else(Vec::new, |(_, _, targets)| {
        targets
            .iter()
            .map(|t| match t {
                FreezeTarget::Service(s) => {
                    format!("scale Cloud Run service {s} to zero instances")
                }
                FreezeTarget::Schedule { job, .. } => {
                    format!("pause Cloud Scheduler job {job}")
                }
            })
            .collect()
    })
}

pub(super) fn plan_unfreeze(cx: &Pipeline<'_>) -> Vec<String> {
    targets(cx).map_or_else(Vec::new, |(_, _, targets)| {
        targets
            .iter()
            .rev()
            .map(|t| match t {
                FreezeTarget::Service(s) => {
                    format!("put Cloud Run service {s}'s scaling back as it was")
                }
                FreezeTarget::Schedule { job, .. } => {
                    format!("resume Cloud Scheduler job {job} if it was enabled")
                }
            })
            .collect()
    })
}

/// The clients the targets need, connected once; a client that cannot be
/// built is a failed step.
#[derive(Default)]
struct Clients {
    run: Option<CloudRun>,
    scheduler: Option<CloudScheduler>,
}

impl Clients {
    async fn connect(
        cx: &mut Pipeline<'_>,
        phase: Phase,
        steps: &mut Vec<StepRecord>,
        services: bool,
        schedules: bool,
    ) -> Option<Clients> {
        let options = ClientOptions::from_env();
        let mut clients = Clients::default();
        if services {
            clients.run = Some(super::connected(
                cx,
                phase,
                steps,
                CloudRun::connect(&options).await,
            )?);
        }
        if schedules {
            clients.scheduler = Some(super::connected(
                cx,
                phase,
                steps,
                CloudScheduler::connect(&options).await,
            )?);
        }
        Some(clients)
    }
}

/// Freezes each `gcp.freeze` target in order; stops at the first that fails.
pub(super) async fn freeze(cx: &mut Pipeline<'_>, steps: &mut Vec<StepRecord>) {
    let Some((project, region, targets)) = targets(cx) else {
        return;
    };
    let services = targets
        .iter()
        .any(|t| matches!(t, FreezeTarget::Service(_)));
    let schedules = targets
        .iter()
        .any(|t| matches!(t, FreezeTarget::Schedule { .. }));
    let Some(clients) = Clients::connect(cx, Phase::Freeze, steps, services, schedules).await
    else {
        return;
    };
    for target in targets {
        let started = Instant::now();
        let name = step_name(&target);
        // An earlier attempt froze it: what it found then is what to put back.
        let earlier = cx.frozen.iter().find(|f| f.is(&target)).cloned();
        let fresh = earlier.is_none();
        let result = match earlier {
            Some(frozen) => Ok((
                format!("{target} already frozen by an earlier attempt"),
                frozen,
            )),
            None => freeze_one(&clients, &project, region.as_deref(), &target).await,
        };
        let step = match result {
            Ok((summary, frozen)) => {
                let json = serde_json::to_string(&frozen).unwrap_or_default();
                if fresh {
                    cx.frozen.push(frozen);
                }
                OwnStep::hard(name, "freeze", true, summary)
                    .evidence(vec![format!("{FOUND}{json}")])
            }
            Err(why) => OwnStep::hard(name, "freeze", false, why),
        };
        let s = cx.own_step(Phase::Freeze, step.took(started.elapsed()));
        let failed = !s.passed();
        steps.push(s);
        if failed {
            return;
        }
    }
}

fn step_name(target: &FreezeTarget) -> String {
    match target {
        FreezeTarget::Service(service) => format!("freeze {service}"),
        FreezeTarget::Schedule { job, .. } => format!("pause schedule {job}"),
    }
}

impl Frozen {
    /// Whether this is what `target` freezes.
    fn is(&self, target: &FreezeTarget) -> bool {
        match (self, target) {
            (Frozen::Service { name, .. }, FreezeTarget::Service(service)) => name == service,
            (Frozen::Schedule { job, .. }, FreezeTarget::Schedule { job: wanted, .. }) => {
                job == wanted
            }
            _ => false,
        }
    }
}

/// The step's summary and what was frozen, or why not.
async fn freeze_one(
    clients: &Clients,
    project: &str,
    region: Option<&str>,
    target: &FreezeTarget,
) -> Result<(String, Frozen), String> {
    let text = |e: preflight_gcp::Error| crate::error::error_text(&e);
    match target {
        FreezeTarget::Service(service) => {
            let (Some(run), Some(region)) = (&clients.run, region) else {
                return Err(no_region(target));
            };
            let before = run
                .freeze_service(project, region, service, SERVICE_DEADLINE)
                .await
                .map_err(text)?;
            let summary = format!("{service} at zero instances (was {before})");
            let frozen = Frozen::Service {
                name: service.clone(),
                before,
            };
            Ok((summary, frozen))
        }
        FreezeTarget::Schedule { job, location } => {
            let (Some(scheduler), Some(location)) =
                (&clients.scheduler, location.as_deref().or(region))
            else {
                return Err(no_region(target));
            };
            let before = scheduler
                .pause(project, location, job)
                .await
                .map_err(text)?;
            let summary = match before {
                ScheduleState::Enabled => format!("schedule {job} paused"),
                other => format!("schedule {job} was already {other}; left as it is"),
            };
            let frozen = Frozen::Schedule {
                job: job.clone(),
                location: location.to_string(),
                before,
            };
            Ok((summary, frozen))
        }
    }
}

fn no_region(target: &FreezeTarget) -> String {
    format!("the environment has no region, so {target} cannot be found")
}

/// What a freeze recorded (this run or an earlier attempt's record).
pub(super) fn frozen_in(record: &PhaseRecord) -> Vec<Frozen> {
    record
        .steps
        .iter()
        .filter(|s| s.passed() && s.kind == "freeze")
        .filter_map(|s| {
            s.evidence.iter().find_map(|e| {
                if let Some(json) = e.strip_prefix(FOUND) {
                    return serde_json::from_str(json).ok();
                }
                let json = e.strip_prefix(SCALING_BEFORE)?;
                Some(Frozen::Service {
                    name: s.name.strip_prefix("freeze ")?.to_string(),
                    before: serde_json::from_str(json).ok()?,
                })
            })
        })
        .collect()
}

/// Puts back what was frozen, last first, recorded under `phase`; what
/// could not be put back stays in `cx.frozen`.
pub(super) async fn unfreeze(cx: &mut Pipeline<'_>, phase: Phase, steps: &mut Vec<StepRecord>) {
    if cx.frozen.is_empty() {
        return;
    }
    let Some(project) = cx.target.env.gcp_project.clone() else {
        return;
    };
    let services = cx
        .frozen
        .iter()
        .any(|f| matches!(f, Frozen::Service { .. }));
    let schedules = cx
        .frozen
        .iter()
        .any(|f| matches!(f, Frozen::Schedule { .. }));
    let Some(clients) = Clients::connect(cx, phase, steps, services, schedules).await else {
        return;
    };
    let region = cx.target.env.region.clone();
    let mut left = Vec::new();
    for frozen in std::mem::take(&mut cx.frozen).into_iter().rev() {
        let started = Instant::now();
        let (name, result) = unfreeze_one(&clients, &project, region.as_deref(), &frozen).await;
        let step = match result {
            Ok(summary) => OwnStep::hard(name, "unfreeze", true, summary),
            Err(why) => {
                left.push(frozen);
                OwnStep::hard(name, "unfreeze", false, why)
            }
        };
        let s = cx.own_step(phase, step.took(started.elapsed()));
        steps.push(s);
    }
    left.reverse();
    cx.frozen = left;
}

async fn unfreeze_one(
    clients: &Clients,
    project: &str,
    region: Option<&str>,
    frozen: &Frozen,
) -> (String, Result<String, String>) {
    let text = |e: preflight_gcp::Error| crate::error::error_text(&e);
    match frozen {
        Frozen::Service {
            name: service,
            before,
        } => {
            let name = format!("unfreeze {service}");
            let (Some(run), Some(region)) = (&clients.run, region) else {
                return (
                    name,
                    Err(no_region(&FreezeTarget::Service(service.clone()))),
                );
            };
            let result = run
                .restore_scale(project, region, service, before, SERVICE_DEADLINE)
                .await
                .map(|()| format!("{service} back to {before}"))
                .map_err(text);
            (name, result)
        }
        Frozen::Schedule {
            job,
            location,
            before,
        } => {
            let name = format!("resume schedule {job}");
            let Some(scheduler) = &clients.scheduler else {
                return (name, Err("no Cloud Scheduler client".to_string()));
            };
            let result = scheduler
                .restore(project, location, job, *before)
                .await
                .map(|()| match before {
                    ScheduleState::Enabled => format!("schedule {job} resumed"),
                    other => format!("schedule {job} left {other}, as the freeze found it"),
                })
                .map_err(text);
            (name, result)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A resumed run reads what each freeze step found, in this release's
    /// form and in the form of the first release with a Cloud Run freeze;
    /// a failed step froze nothing.
    #[test]
    fn a_resumed_run_finds_what_was_frozen() {
        let scale = r#"{\"default\":false,\"manual\":false,\"min_instances\":1,\"max_instances\":4,\"manual_instances\":null}"#;
        let schedule = r#"{\"schedule\":{\"job\":\"nightly\",\"location\":\"us-east1\",\"before\":\"enabled\"}}"#;
        let step = |name: &str, outcome: &str, evidence: &str| {
            format!(
                r#"{{"name":"{name}","kind":"freeze","target":"","severity":"hard","outcome":"{outcome}","attempts":1,"duration":3,"summary":"","evidence":["{evidence}"]}}"#
            )
        };
        let record = format!(
            r#"{{"phase":"freeze","status":"failed","started_at":null,"duration":9,"summary":"","steps":[{},{},{}]}}"#,
            step(
                "freeze worker",
                "passed",
                &format!("{SCALING_BEFORE}{scale}")
            ),
            step(
                "pause schedule nightly",
                "passed",
                &format!("{FOUND}{schedule}")
            ),
            step(
                "pause schedule other",
                "failed",
                &format!("{FOUND}{schedule}")
            ),
        );
        let record: PhaseRecord = serde_json::from_str(&record).unwrap();
        let frozen = frozen_in(&record);
        assert_eq!(frozen.len(), 2, "{frozen:?}");
        assert!(
            matches!(&frozen[0], Frozen::Service { name, before } if name == "worker" && before.max_instances == 4)
        );
        assert_eq!(
            frozen[1],
            Frozen::Schedule {
                job: "nightly".into(),
                location: "us-east1".into(),
                before: ScheduleState::Enabled
            }
        );
    }
}

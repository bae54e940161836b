//! Watch: smoke probes again, every interval, for the configured window.

use std::time::{Duration, Instant};

use preflight_checklist::StepRef;
use preflight_gcp::{ClientOptions, CloudMonitoring};
use preflight_manifest::{MetricThresholds, ProbePhase, WatchConfig};

use super::{Concluded, OwnStep, Pipeline};
use crate::engine::{Phase, PhaseStatus, ReleaseEvent, StepRecord};
use crate::probes::ProbeSelection;

fn window(cx: &Pipeline<'_>) -> Option<WatchConfig> {
    let env = cx.env().to_string();
    cx.platform
        .config
        .release
        .watch
        .clone()
        .filter(|w| w.envs.is_empty() || w.envs.contains(&env))
}

pub(super) fn plan(cx: &Pipeline<'_>) -> Vec<String> {
    let mut lines = watch_plan(cx);
    if super::rollout::configured(cx) {
        if !lines.is_empty() {
            let watched = lines.clone();
            for percent in super::rollout::next_shares(cx) {
                lines.push(format!(
                    "move each rolled-out service's new revision to {percent} % of traffic, then watch again"
                ));
                lines.extend(watched.iter().cloned());
            }
        }
        lines.push("promote each rolled-out service to 100 % of traffic".to_string());
    }
    lines
}

fn watch_plan(cx: &Pipeline<'_>) -> Vec<String> {
    let Some(w) = window(cx) else {
        return Vec::new();
    };
    cx.platform
        .config
        .probes
        .iter()
        .filter(|p| p.phase == ProbePhase::Smoke && p.runs_in(cx.env()))
        .map(|p| {
            format!(
                "probe {} every {} s for {} s",
                p.name, w.interval_secs, w.window_secs
            )
        })
        .collect()
}

/// The watch window, then the canaries' promotion to all the traffic;
/// with `gcp.rollout.then`, a window at each share on the way.
pub(super) async fn run(cx: &mut Pipeline<'_>, steps: &mut Vec<StepRecord>) -> Concluded {
    let (status, mut summary) = watch(cx, steps).await;
    if cx.canaries.is_empty() || status == PhaseStatus::Failed {
        return (status, summary);
    }
    // Without a window nothing is watched between shares: straight to 100 %.
    if status != PhaseStatus::Skipped {
        for percent in super::rollout::next_shares(cx) {
            if !super::rollout::shift(cx, Phase::Watch, steps, percent).await {
                return (
                    PhaseStatus::Failed,
                    format!("{summary}; the move to {percent} % failed"),
                );
            }
            let (status, at) = watch(cx, steps).await;
            if status == PhaseStatus::Failed {
                return (status, format!("at {percent} %: {at}"));
            }
            summary = format!("{summary}; at {percent} %: {at}");
        }
    }
    super::rollout::promote(cx, Phase::Watch, steps).await;
    match super::conclude(steps, "step(s)") {
        (PhaseStatus::Failed, why) => (PhaseStatus::Failed, why),
        _ => (
            PhaseStatus::Passed,
            format!(
                "{summary}; {} service(s) promoted to 100 %",
                cx.canaries.len()
            ),
        ),
    }
}

async fn watch(cx: &mut Pipeline<'_>, steps: &mut Vec<StepRecord>) -> Concluded {
    let Some(watch) = window(cx) else {
        return (
            PhaseStatus::Skipped,
            format!("no watch window for `{}`", cx.env()),
        );
    };
    let selection = ProbeSelection {
        phase: Some(ProbePhase::Smoke),
        only: Vec::new(),
        gates: false,
        probes: true,
        readiness: false,
        images: cx.pinned_images(),
    };
    let started = Instant::now();
    let deadline = started + Duration::from_secs(watch.window_secs);
    // Cloud Monitoring limits on the canaries, where this environment has them.
    let limits = watch
        .metrics
        .get(cx.env())
        .filter(|_| !cx.canaries.is_empty() && cx.target.env.gcp_project.is_some())
        .cloned();
    let mut rounds: u32 = 0;
    loop {
        rounds += 1;
        let last = Instant::now() + Duration::from_secs(watch.interval_secs) > deadline;
        let specs = match cx.platform.probe_specs(&cx.probe_target(), &selection) {
            Ok(s) if !s.is_empty() || limits.is_some() => s,
            Ok(_) => return (PhaseStatus::Skipped, "no smoke probes to watch".into()),
            Err(e) => return (PhaseStatus::Failed, crate::error::error_text(&e)),
        };
        let report = cx.runner.run(specs).await;
        let metrics = match &limits {
            Some(l) => metric_checks(cx, l, started.elapsed(), last).await,
            None => Vec::new(),
        };
        let metrics_passed = metrics.iter().filter(|m| m.outcome.passed()).count();
        (cx.on_event)(&ReleaseEvent::WatchRound {
            round: rounds,
            passed: report.tally().passed + metrics_passed,
            total: report.results.len() + metrics.len(),
            remaining_secs: deadline.saturating_duration_since(Instant::now()).as_secs(),
        });
        let healthy = report.gate_passed() && metrics_passed == metrics.len();
        if !healthy || last {
            cx.record_report(Phase::Watch, &report, steps, |n| {
                StepRef::Probe(n.to_string())
            });
            for m in metrics {
                let s = cx.own_step(Phase::Watch, m);
                steps.push(s);
            }
        }
        if !healthy {
            let what = if report.gate_passed() {
                "Cloud Monitoring metrics"
            } else {
                "smoke probes"
            };
            return (
                PhaseStatus::Failed,
                format!("{what} failed in round {rounds} of the watch window"),
            );
        }
        if last {
            return (
                PhaseStatus::Passed,
                format!("{rounds} round(s) healthy over {} s", watch.window_secs),
            );
        }
        tokio::time::sleep(Duration::from_secs(watch.interval_secs)).await;
    }
}

/// One check per canary: its revision's requests, 5xx share and p95
/// latency since the watch began, against `limits`. A metric that cannot
/// be read fails the round: unknown is never healthy. Fewer requests than
/// `min_requests` (at least one) are too few to judge: a round before the
/// last passes on them as "not yet judged", and the last round fails, so a
/// window that never measured the canary never promotes it.
async fn metric_checks(
    cx: &Pipeline<'_>,
    limits: &MetricThresholds,
    since: Duration,
    last: bool,
) -> Vec<OwnStep> {
    let project = cx.target.env.gcp_project.clone().unwrap_or_default();
    let monitoring = match CloudMonitoring::connect(&ClientOptions::from_env()).await {
        Ok(m) => m,
        Err(e) => {
            return vec![
                OwnStep::hard("metrics", "monitoring", false, crate::error::error_text(&e))
                    .errored(),
            ];
        }
    };
    let mut checks = Vec::new();
    for canary in &cx.canaries {
        let service = canary.service.rsplit('/').next().unwrap_or_default();
        // A worker serves no requests: there is nothing to measure.
        if cx
            .platform
            .config
            .gcp
            .services
            .get(service)
            .is_some_and(|s| s.worker)
        {
            continue;
        }
        let name = format!("metrics {service}");
        let clock = Instant::now();
        let step = match monitoring
            .revision_metrics(&project, service, &canary.revision, since)
            .await
        {
            Err(e) => {
                OwnStep::hard(name, "monitoring", false, crate::error::error_text(&e)).errored()
            }
            Ok(m) if m.requests < needed(limits) => {
                let summary = format!(
                    "revision {}: {} request(s) since the watch began, fewer than the {} needed to judge",
                    canary.revision,
                    m.requests,
                    needed(limits)
                );
                match last {
                    true => OwnStep::hard(name, "monitoring", false, summary),
                    false => OwnStep::hard(
                        name,
                        "monitoring",
                        true,
                        format!("{summary} (not yet judged)"),
                    ),
                }
            }
            Ok(m) => {
                let mut problems = Vec::new();
                let mut parts = vec![format!("{} request(s)", m.requests)];
                if let Some(max) = limits.max_5xx_percent {
                    match m.error_percent() {
                        Some(p) => {
                            parts.push(format!("5xx {p:.2} % (max {max} %)"));
                            if p > max {
                                problems.push(format!("5xx {p:.2} % is above {max} %"));
                            }
                        }
                        // Unreachable with requests counted; unknown is not healthy.
                        None => problems.push("the 5xx share is unknown".to_string()),
                    }
                }
                if let Some(max) = limits.max_p95_latency_ms {
                    match m.p95_latency_ms {
                        Some(p) => {
                            parts.push(format!("p95 {p:.0} ms (max {max} ms)"));
                            if p > max as f64 {
                                problems.push(format!("p95 latency {p:.0} ms is above {max} ms"));
                            }
                        }
                        // Latencies can arrive after the counts: judged by the last round.
                        None if last => {
                            problems.push("no p95 latency was reported for the window".to_string())
                        }
                        None => parts.push("p95 not reported yet".to_string()),
                    }
                }
                let summary = if problems.is_empty() {
                    format!("revision {}: {}", canary.revision, parts.join(", "))
                } else {
                    format!("revision {}: {}", canary.revision, problems.join("; "))
                };
                OwnStep::hard(name, "monitoring", problems.is_empty(), summary)
            }
        };
        checks.push(step.took(clock.elapsed()));
    }
    checks
}

/// The requests a canary must have served for its figures to count.
fn needed(limits: &MetricThresholds) -> i64 {
    i64::try_from(limits.min_requests.max(1)).unwrap_or(i64::MAX)
}

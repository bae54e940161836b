//! Watch: smoke probes again, every interval, for the configured window.

use std::time::{Duration, Instant};

use preflight_checklist::StepRef;
use preflight_manifest::{ProbePhase, WatchConfig};

use super::{Concluded, Pipeline};
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

/// The watch window, then the canaries' promotion to all the traffic.
pub(super) async fn run(cx: &mut Pipeline<'_>, steps: &mut Vec<StepRecord>) -> Concluded {
    let (status, summary) = watch(cx, steps).await;
    if cx.canaries.is_empty() || status == PhaseStatus::Failed {
        return (status, summary);
    }
    super::rollout::promote(cx, Phase::Watch, steps).await;
    match super::conclude(steps, "step(s)") {
        (PhaseStatus::Failed, why) => (PhaseStatus::Failed, why),
        _ => (
            PhaseStatus::Passed,
            format!("{summary}; {} service(s) promoted to 100 %", cx.canaries.len()),
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
        images: cx.pinned_images(),
    };
    let deadline = Instant::now() + Duration::from_secs(watch.window_secs);
    let mut rounds: u32 = 0;
    loop {
        rounds += 1;
        let specs = match cx.platform.probe_specs(&cx.probe_target(), &selection) {
            Ok(s) if !s.is_empty() => s,
            Ok(_) => return (PhaseStatus::Skipped, "no smoke probes to watch".into()),
            Err(e) => return (PhaseStatus::Failed, crate::error::error_text(&e)),
        };
        let report = cx.runner.run(specs).await;
        (cx.on_event)(&ReleaseEvent::WatchRound {
            round: rounds,
            passed: report.tally().passed,
            total: report.results.len(),
            remaining_secs: deadline.saturating_duration_since(Instant::now()).as_secs(),
        });
        if !report.gate_passed() {
            cx.record_report(Phase::Watch, &report, steps, |n| {
                StepRef::Probe(n.to_string())
            });
            return (
                PhaseStatus::Failed,
                format!("smoke probes failed in round {rounds} of the watch window"),
            );
        }
        if Instant::now() + Duration::from_secs(watch.interval_secs) > deadline {
            cx.record_report(Phase::Watch, &report, steps, |n| {
                StepRef::Probe(n.to_string())
            });
            return (
                PhaseStatus::Passed,
                format!("{rounds} round(s) healthy over {} s", watch.window_secs),
            );
        }
        tokio::time::sleep(Duration::from_secs(watch.interval_secs)).await;
    }
}

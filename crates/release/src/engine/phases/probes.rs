//! Verify and smoke: the configured probes of that phase (contracts,
//! parity; HTTP, poll, pinned images), then for smoke the unfreeze steps.
//! The `gcp.*` readiness checks run in the preflight phase instead.

use preflight_checklist::StepRef;
use preflight_manifest::ProbePhase;

use super::{Concluded, OwnStep, Pipeline, commands, conclude};
use crate::engine::{Phase, PhaseStatus, StepRecord};
use crate::probes::ProbeSelection;

fn probe_phase(phase: Phase) -> ProbePhase {
    if phase == Phase::Verify {
        ProbePhase::Verify
    } else {
        ProbePhase::Smoke
    }
}

pub(super) fn plan(cx: &Pipeline<'_>, phase: Phase) -> Vec<String> {
    let wanted = probe_phase(phase);
    let mut lines: Vec<String> = cx
        .platform
        .config
        .probes
        .iter()
        .filter(|p| p.phase == wanted && p.runs_in(cx.env()))
        .map(|p| format!("probe {}", p.name))
        .collect();
    if phase == Phase::Smoke {
        lines.extend(commands::plan_unfreeze(cx));
    }
    if phase == Phase::Verify && cx.target.env.drift != preflight_manifest::DriftPolicy::Off {
        lines.insert(
            0,
            "schema drift of each migrated database against the manifest's pins".to_string(),
        );
    }
    lines
}

/// Runs the probes of `phase`; `Skipped` when there are none.
pub(super) async fn run_probes(
    cx: &mut Pipeline<'_>,
    phase: Phase,
    steps: &mut Vec<StepRecord>,
) -> Concluded {
    let selection = ProbeSelection {
        phase: Some(probe_phase(phase)),
        only: Vec::new(),
        gates: false,
        probes: true,
        // The Google Cloud readiness checks ran in the preflight phase.
        readiness: false,
        images: cx.pinned_images(),
    };
    let specs = match cx.platform.probe_specs(&cx.probe_target(), &selection) {
        Ok(s) => s,
        Err(e) => {
            let why = crate::error::error_text(&e);
            let s = cx.own_step(
                phase,
                OwnStep::hard("probes", "config", false, why).errored(),
            );
            steps.push(s);
            return conclude(steps, "probe(s)");
        }
    };
    if specs.is_empty() {
        return (
            PhaseStatus::Skipped,
            format!("no {} probes for `{}`", phase.as_str(), cx.env()),
        );
    }
    let report = cx.runner.run(specs).await;
    cx.record_report(phase, &report, steps, |name| {
        StepRef::Probe(name.to_string())
    });
    conclude(steps, "probe(s)")
}

pub(super) async fn run(
    cx: &mut Pipeline<'_>,
    phase: Phase,
    steps: &mut Vec<StepRecord>,
) -> Concluded {
    if phase == Phase::Verify {
        // After migrating: each database is exactly what its migrations build.
        super::preflight::drift(cx, phase, steps).await;
    }
    let drift_steps = steps.len();
    let (status, summary) = run_probes(cx, phase, steps).await;
    if phase != Phase::Smoke {
        if status == PhaseStatus::Skipped && drift_steps > 0 {
            return conclude(steps, "check(s)");
        }
        return (status, summary);
    }
    if status == PhaseStatus::Failed {
        return (status, format!("{summary}; workers stay frozen"));
    }
    let mut unfreeze_steps = Vec::new();
    let (u_status, u_summary) = commands::run_unfreeze(cx, phase, &mut unfreeze_steps).await;
    steps.extend(unfreeze_steps);
    match (status, u_status) {
        (_, PhaseStatus::Failed) => (PhaseStatus::Failed, u_summary),
        (PhaseStatus::Skipped, PhaseStatus::Skipped) => {
            (PhaseStatus::Skipped, format!("{summary}; {u_summary}"))
        }
        (PhaseStatus::Skipped, _) => conclude(steps, "step(s)"),
        _ => (status, summary),
    }
}

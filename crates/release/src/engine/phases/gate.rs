//! The hard gate and the soft gate: the config's test suites, one at a time.

use preflight_checklist::StepRef;
use preflight_verify::{ProbeSpec, Runner, Severity};

use super::{Concluded, Pipeline, conclude};
use crate::engine::{Phase, PhaseStatus, StepRecord};

fn severity(phase: Phase) -> Severity {
    if phase == Phase::HardGate {
        Severity::Hard
    } else {
        Severity::Soft
    }
}

pub(super) fn plan(cx: &Pipeline<'_>, phase: Phase) -> Vec<String> {
    cx.platform
        .config
        .gates
        .iter()
        .filter(|g| g.severity == severity(phase) && g.runs_in(cx.env()))
        .map(|g| {
            format!(
                "{}: {} (in {})",
                g.name,
                g.command.join(" "),
                g.dir
                    .as_deref()
                    .unwrap_or(std::path::Path::new("."))
                    .display()
            )
        })
        .collect()
}

pub(super) async fn run(
    cx: &mut Pipeline<'_>,
    phase: Phase,
    steps: &mut Vec<StepRecord>,
) -> Concluded {
    let wanted = severity(phase);
    let specs: Vec<ProbeSpec> = cx
        .platform
        .config
        .gates
        .iter()
        .filter(|g| g.severity == wanted && g.runs_in(cx.env()))
        .map(|g| cx.platform.gate_spec(g))
        .collect();
    if specs.is_empty() {
        let which = if wanted == Severity::Hard {
            "hard"
        } else {
            "soft"
        };
        return (
            PhaseStatus::Skipped,
            format!("no {which} gates for `{}`", cx.env()),
        );
    }
    // Test suites compete for the same CPUs and fixtures; run them one at a time.
    let report = match Runner::new(1) {
        Ok(runner) => runner.run(specs).await,
        Err(e) => return (PhaseStatus::Failed, format!("cannot run the gates: {e}")),
    };
    cx.record_report(phase, &report, steps, |name| {
        StepRef::Gate(name.to_string())
    });
    conclude(steps, "gate(s)")
}

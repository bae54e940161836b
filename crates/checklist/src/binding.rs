//! Bindings of checklist items to steps Preflight runs, so the pipeline
//! checks items (or records why they stay open) with each step's evidence.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::error::Error;
use crate::ops::Run;
use crate::state::Evidence;

/// A step of a release run that an item can be bound to.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", content = "name", rename_all = "snake_case")]
pub enum StepRef {
    /// A verify probe, by name.
    Probe(String),
    /// A module's migration status (at the manifest's pins).
    Migration(String),
    /// A gate command, by name.
    Gate(String),
    /// A whole pipeline phase (`backup`, `migrate`, `deploy`…).
    Phase(String),
}

/// "Item `3.6` is done when the `backup` phase passes."
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Binding {
    pub item: String,
    pub step: StepRef,
}

/// What a step reported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepOutcome {
    pub passed: bool,
    pub evidence: Vec<Evidence>,
}

/// What applying a step did to the checklist.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Applied {
    pub checked: Vec<String>,
    /// Items left open, with the failing step's evidence recorded.
    pub left_open: Vec<String>,
}

/// Validates bindings against the document: every item must exist.
pub fn check_bindings(run: &Run, bindings: &[Binding]) -> Result<(), Error> {
    for b in bindings {
        if run.checklist.item(&b.item).is_none() {
            return Err(Error::UnknownItem { id: b.item.clone() });
        }
    }
    Ok(())
}

/// Called by the pipeline after each step: items bound to `step` are
/// checked when it passed, and get its evidence without being checked when
/// it failed. `by` names the actor (e.g. `preflight release 2026-02-14-prod`).
pub fn apply_step(
    run: &mut Run,
    bindings: &[Binding],
    step: &StepRef,
    outcome: &StepOutcome,
    by: &str,
    at: Timestamp,
) -> Result<Applied, Error> {
    let mut applied = Applied::default();
    for b in bindings.iter().filter(|b| &b.step == step) {
        if outcome.passed {
            run.check(&b.item, by, outcome.evidence.clone(), at)?;
            applied.checked.push(b.item.clone());
        } else {
            run.add_evidence(&b.item, by, outcome.evidence.clone(), at)?;
            applied.left_open.push(b.item.clone());
        }
    }
    Ok(applied)
}

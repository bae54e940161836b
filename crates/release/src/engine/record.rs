//! The release record: what each phase did, with evidence, as the state
//! file `--resume` reads and as the release log (Markdown, JSON, JUnit).

use std::fmt::Write as _;
use std::time::Duration;

pub use preflight_manifest::Phase;
use preflight_verify::{JunitSuite, Outcome, ProbeResult, Report, Severity};
use serde::{Deserialize, Serialize};

/// What an operator does after `phase` failed.
pub fn next_step(phase: Phase) -> &'static str {
    match phase {
        Phase::Preflight => {
            "fix the configuration, manifest, checkouts or checklist named above and run the release again"
        }
        Phase::Build => {
            "nothing was frozen or migrated; read the build's log (linked above), fix the build, then --resume"
        }
        Phase::Freeze => {
            "check why the freeze step failed; workers may be partly frozen — fix it, then --resume"
        }
        Phase::HardGate => "fix the failing gate (tests) on the pinned commits, then --resume",
        Phase::SoftGate => "soft gates only warn; this should not stop a release",
        Phase::Backup => {
            "nothing was migrated; fix the backup (disk, permissions, pg_dump), then --resume"
        }
        Phase::Migrate => {
            "the failed migration was rolled back; fix it (or its data), then --resume — earlier phases are not repeated"
        }
        Phase::Verify => {
            "the databases are migrated but do not match their contracts; fix them, then --resume"
        }
        Phase::Deploy => {
            "the deploy failed; workers are still frozen — fix the deploy step, then --resume"
        }
        Phase::Smoke => {
            "the new release is deployed but unhealthy and workers stay frozen; roll back or fix, then --resume"
        }
        Phase::Watch => {
            "the release degraded while watched; roll back (backups are in the artifact store)"
        }
    }
}

/// How a phase ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PhaseStatus {
    /// It passed.
    Passed,
    /// Passed with soft failures.
    Warned,
    /// It failed.
    Failed,
    /// Nothing to do in this environment (e.g. no deploy steps for `local`).
    Skipped,
    /// Not run: `--dry-run`, `--only`, or an earlier phase failed.
    NotRun,
    /// Not run because an operator said so (`--skip PHASE --reason TEXT`);
    /// the decision is recorded with the phase.
    SkippedByOperator,
    /// Stopped by SIGINT/SIGTERM; not done, so `--resume` runs it again.
    Interrupted,
    /// It ran, then was undone because a later phase failed (a deploy whose
    /// traffic went back to the previous revisions); `--resume` runs it again.
    RolledBack,
}

impl PhaseStatus {
    /// The name people and logs see.
    pub fn as_str(self) -> &'static str {
        match self {
            PhaseStatus::Passed => "passed",
            PhaseStatus::Warned => "passed with warnings",
            PhaseStatus::Failed => "FAILED",
            PhaseStatus::Skipped => "skipped",
            PhaseStatus::NotRun => "not run",
            PhaseStatus::SkippedByOperator => "SKIPPED BY OPERATOR",
            PhaseStatus::Interrupted => "INTERRUPTED",
            PhaseStatus::RolledBack => "ROLLED BACK",
        }
    }
    /// Done phases are not repeated by `--resume`.
    pub fn done(self) -> bool {
        matches!(
            self,
            PhaseStatus::Passed
                | PhaseStatus::Warned
                | PhaseStatus::Skipped
                | PhaseStatus::SkippedByOperator
        )
    }

    /// The phase ran and proved what it checks (bound checklist items may be ticked).
    pub fn proved(self) -> bool {
        matches!(self, PhaseStatus::Passed | PhaseStatus::Warned)
    }
}

/// One phase's outcome and its steps (gates, probes, migrations, commands).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PhaseRecord {
    /// The phase.
    pub phase: Phase,
    /// How it ended.
    pub status: PhaseStatus,
    /// When it started.
    pub started_at: Option<jiff::Timestamp>,
    #[serde(with = "millis")]
    /// How long it took.
    pub duration: Duration,
    /// One line for people.
    pub summary: String,
    /// Each step as a probe-shaped result (the same model verify reports use).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub steps: Vec<StepRecord>,
    /// An operator's decision to skip this phase.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decision: Option<OperatorDecision>,
    /// Passed in an earlier attempt of this release (the attempt number).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub carried_from: Option<u32>,
}

impl PhaseRecord {
    /// A phase that has not run.
    pub fn not_run(phase: Phase) -> PhaseRecord {
        PhaseRecord {
            phase,
            status: PhaseStatus::NotRun,
            started_at: None,
            duration: Duration::ZERO,
            summary: String::new(),
            steps: Vec::new(),
            decision: None,
            carried_from: None,
        }
    }
}

/// Who skipped a phase, and why; kept in every log format.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OperatorDecision {
    /// Who decided.
    pub by: String,
    /// Why, in their words.
    pub reason: String,
    /// When.
    pub at: jiff::Timestamp,
}

/// A step's record; the serialisable twin of [`ProbeResult`], with its
/// severity and outcome kept typed through the state file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepRecord {
    /// Its name.
    pub name: String,
    /// What kind of step (`gate`, `migration`, `postgres`, …).
    pub kind: String,
    /// What it checked (a URL, a database, a file).
    pub target: String,
    /// A hard failure stops the release; a soft one warns.
    pub severity: Severity,
    /// How the step ended.
    pub outcome: Outcome,
    /// How many tries it took.
    pub attempts: u32,
    #[serde(with = "millis")]
    /// How long it took.
    pub duration: Duration,
    /// One line for people.
    pub summary: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    /// What it saw: output tails, applied versions, open items.
    pub evidence: Vec<String>,
}

impl From<&ProbeResult> for StepRecord {
    fn from(r: &ProbeResult) -> StepRecord {
        StepRecord {
            name: r.name.clone(),
            kind: r.kind.clone(),
            target: r.target.clone(),
            severity: r.severity,
            outcome: r.outcome,
            attempts: r.attempts,
            duration: r.duration,
            summary: r.summary.clone(),
            evidence: r.evidence.clone(),
        }
    }
}

/// The evidence line a backup step names its dump in.
pub(crate) const DUMP_EVIDENCE: &str = "dump: ";

impl StepRecord {
    /// The step passed.
    pub fn passed(&self) -> bool {
        self.outcome.passed()
    }

    /// The dump a passed backup step took (its URI in the artifact store).
    pub fn dump_uri(&self) -> Option<&str> {
        if self.kind != "backup" || !self.passed() {
            return None;
        }
        self.evidence
            .iter()
            .find_map(|e| e.strip_prefix(DUMP_EVIDENCE))
            // Records from before the evidence line: the summary starts with it.
            .or_else(|| self.summary.split(" (").next().filter(|u| !u.is_empty()))
    }

    fn to_probe_result(&self) -> ProbeResult {
        ProbeResult {
            name: self.name.clone(),
            kind: self.kind.clone(),
            target: self.target.clone(),
            severity: self.severity,
            outcome: self.outcome,
            attempts: self.attempts,
            duration: self.duration,
            summary: self.summary.clone(),
            evidence: self.evidence.clone(),
        }
    }
}

mod millis {
    use std::time::Duration;
    pub fn serialize<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_millis() as u64)
    }
    pub fn deserialize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let ms: u64 = serde::Deserialize::deserialize(d)?;
        Ok(Duration::from_millis(ms))
    }
}

/// How the release ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ReleaseStatus {
    /// Still running, or only some phases were selected.
    Running,
    /// Every phase is done.
    Succeeded,
    /// It failed.
    Failed,
    /// A dry run: nothing changed.
    DryRun,
}

impl ReleaseStatus {
    /// The name people and logs see.
    pub fn as_str(self) -> &'static str {
        match self {
            ReleaseStatus::Running => "running",
            ReleaseStatus::Succeeded => "succeeded",
            ReleaseStatus::Failed => "failed",
            ReleaseStatus::DryRun => "dry-run",
        }
    }
}

/// The whole record of a release run; also the `--resume` state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReleaseLog {
    /// The release id (`2026-02-14-prod`).
    pub release_id: String,
    /// The environment.
    pub env: String,
    /// The platform (`platform:` in the config).
    pub platform: String,
    /// Who ran it (`user@host`).
    pub operator: String,
    /// The manifest file.
    pub manifest: String,
    /// SHA-256 of the manifest file; `--resume` refuses a changed manifest.
    pub manifest_sha256: String,
    /// When it started.
    pub started_at: jiff::Timestamp,
    /// When it finished.
    pub finished_at: Option<jiff::Timestamp>,
    /// How it ended.
    pub status: ReleaseStatus,
    /// Every phase, in order, with its steps.
    pub phases: Vec<PhaseRecord>,
    /// The manifest's changes against the previous release for this env.
    pub diff: Option<String>,
    /// The failed phase and what to do next.
    pub failed_phase: Option<Phase>,
    /// The next step.
    pub next_step: Option<String>,
    /// Where the filled checklist was archived.
    pub checklist_archive: Option<String>,
    /// Where the checklist's state log stood when the release ended
    /// (`preflight checklist verify` compares the log with it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checklist_anchor: Option<preflight_checklist::Anchor>,
    /// Where the log was uploaded.
    pub uploaded_to: Vec<String>,
    /// The webhook notification's outcome, if one is configured.
    pub notified: Option<String>,
    /// How many times `--resume` continued this attempt.
    #[serde(default)]
    pub resumed: u32,
    /// Which run of this release id this is (1 for the first); earlier
    /// attempts keep their own state and logs.
    #[serde(default = "first_attempt")]
    pub attempt: u32,
    /// The environment is protected (no operator skips).
    #[serde(default)]
    pub protected: bool,
    /// The checklist's state when the release ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checklist: Option<ChecklistState>,
    /// Set when this run rolls the environment back: the release it rolled
    /// back from (this run redeploys `release_id`'s images).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollback_of: Option<String>,
    /// How to undo this release, step by step: each dump it took and how
    /// to restore it, each service's traffic before and how to put it
    /// back, and how to redeploy the images of the release before.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub playbook: Vec<String>,
}

/// The checklist's progress when a release ended, as the log keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChecklistState {
    /// The document's title.
    pub title: Option<String>,
    /// Items checked.
    pub checked: usize,
    /// Items in all.
    pub total: usize,
    /// Each section's progress.
    pub sections: Vec<ChecklistSection>,
    /// Who approved the release, if anyone.
    pub approved_by: Option<String>,
}

/// One section's progress.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChecklistSection {
    /// The section's id (`3`).
    pub id: String,
    /// Its title.
    pub title: String,
    /// Items checked.
    pub checked: usize,
    /// Items in it.
    pub total: usize,
    /// Who signed it off.
    pub signed_by: Option<String>,
}

impl From<preflight_checklist::Progress> for ChecklistState {
    fn from(p: preflight_checklist::Progress) -> ChecklistState {
        ChecklistState {
            title: p.title,
            checked: p.checked,
            total: p.total,
            approved_by: p.approved_by,
            sections: p
                .sections
                .into_iter()
                .map(|s| ChecklistSection {
                    id: s.id,
                    title: s.title,
                    checked: s.checked,
                    total: s.total,
                    signed_by: s.signed_by,
                })
                .collect(),
        }
    }
}

fn first_attempt() -> u32 {
    1
}

impl ReleaseLog {
    /// The record of `phase`.
    pub fn phase(&self, phase: Phase) -> Option<&PhaseRecord> {
        self.phases.iter().find(|p| p.phase == phase)
    }

    /// The release log in Markdown, for a release commander.
    pub fn to_markdown(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "# Release {} → {}\n", self.release_id, self.env);
        let status = match self.status {
            ReleaseStatus::Succeeded => "✅ succeeded",
            ReleaseStatus::Failed => "❌ failed",
            ReleaseStatus::Running => "⏳ running",
            ReleaseStatus::DryRun => "dry run (nothing changed)",
        };
        let _ = writeln!(out, "| | |\n| --- | --- |");
        let _ = writeln!(out, "| Status | {status} |");
        let _ = writeln!(out, "| Platform | {} |", self.platform);
        let _ = writeln!(
            out,
            "| Manifest | `{}` (sha256 `{}`) |",
            self.manifest,
            &self.manifest_sha256[..12.min(self.manifest_sha256.len())]
        );
        let _ = writeln!(out, "| Run by | {} |", self.operator);
        let _ = writeln!(out, "| Started | {} |", self.started_at);
        if let Some(f) = self.finished_at {
            let _ = writeln!(out, "| Finished | {f} |");
        }
        let _ = writeln!(out, "| Attempt | {} |", self.attempt);
        if let Some(from) = &self.rollback_of {
            let _ = writeln!(
                out,
                "| Rollback | from {from}: this run redeploys the images of {} |",
                self.release_id
            );
        }
        if self.resumed > 0 {
            let _ = writeln!(out, "| Resumed | {} time(s) |", self.resumed);
        }
        if let Some(a) = &self.checklist_archive {
            let _ = writeln!(out, "| Checklist | `{a}` |");
        }
        if let Some(a) = &self.checklist_anchor {
            let _ = writeln!(
                out,
                "| Checklist log | {} event(s), sha256 {} |",
                a.events, a.head
            );
        }
        for u in &self.uploaded_to {
            let _ = writeln!(out, "| Uploaded | `{u}` |");
        }
        if let Some(n) = &self.notified {
            let _ = writeln!(out, "| Notified | {n} |");
        }
        if let (Some(phase), Some(next)) = (self.failed_phase, &self.next_step) {
            let _ = writeln!(out, "\n**Stopped at `{}`.** Next: {next}.", phase.as_str());
        }
        let decisions: Vec<&PhaseRecord> = self
            .phases
            .iter()
            .filter(|p| p.decision.is_some())
            .collect();
        if !decisions.is_empty() {
            let _ = writeln!(out, "\n## Operator decisions\n");
            for p in decisions {
                if let Some(d) = &p.decision {
                    let _ = writeln!(
                        out,
                        "- **`{}` skipped** by {} at {}: {}",
                        p.phase.as_str(),
                        preflight_verify::md_cell(&d.by),
                        d.at,
                        preflight_verify::md_cell(&d.reason)
                    );
                }
            }
        }
        let _ = writeln!(out, "\n## Phases\n");
        let _ = writeln!(
            out,
            "| Phase | Result | Time | Summary |\n| --- | --- | --- | --- |"
        );
        for p in &self.phases {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} |",
                p.phase.as_str(),
                p.status.as_str(),
                human(p.duration),
                preflight_verify::md_cell(&p.summary)
            );
        }
        for p in self.phases.iter().filter(|p| !p.steps.is_empty()) {
            let _ = writeln!(out, "\n## {}\n", p.phase.as_str());
            out.push_str(&self.phase_report(p).to_markdown());
        }
        if let Some(diff) = &self.diff {
            let _ = writeln!(
                out,
                "\n## Changes since the previous release\n\n```text\n{}\n```",
                diff.trim_end()
            );
        }
        if !self.playbook.is_empty() {
            let _ = writeln!(out, "\n## Rollback playbook\n");
            for line in &self.playbook {
                let _ = writeln!(out, "- {line}");
            }
        }
        out
    }

    /// JUnit XML: one test suite per phase. Steps are cases; a phase that
    /// did not run (nothing to do, not reached, skipped by an operator) is a
    /// skipped suite saying why; a soft failure is reported without failing
    /// the suite; a failed or interrupted phase without steps is an error.
    pub fn to_junit(&self) -> String {
        let named: Vec<(String, Option<Report>, String)> = self
            .phases
            .iter()
            .map(|p| {
                let name = format!("release {} {}", self.env, p.phase.as_str());
                let reason = match &p.decision {
                    Some(d) => format!("skipped by {}: {}", d.by, d.reason),
                    None if p.summary.is_empty() => p.status.as_str().to_string(),
                    None => p.summary.clone(),
                };
                let report = match p.status {
                    _ if !p.steps.is_empty() => Some(self.phase_report(p)),
                    PhaseStatus::Failed | PhaseStatus::Interrupted => {
                        let mut report = self.phase_report(p);
                        report.results.push(ProbeResult {
                            name: p.phase.as_str().to_string(),
                            kind: "phase".into(),
                            target: String::new(),
                            severity: Severity::Hard,
                            outcome: match p.status {
                                PhaseStatus::Interrupted => Outcome::Cancelled,
                                _ => Outcome::Failed,
                            },
                            attempts: 0,
                            duration: p.duration,
                            summary: reason.clone(),
                            evidence: Vec::new(),
                        });
                        Some(report)
                    }
                    _ => None,
                };
                (name, report, reason)
            })
            .collect();
        let suites: Vec<JunitSuite<'_>> = named
            .iter()
            .map(|(name, report, reason)| match report {
                Some(report) => JunitSuite::Ran { name, report },
                None => JunitSuite::Skipped { name, reason },
            })
            .collect();
        preflight_verify::junit(&suites)
    }

    fn phase_report(&self, p: &PhaseRecord) -> Report {
        Report {
            started_at: p.started_at.unwrap_or(self.started_at),
            duration: p.duration,
            interrupted: false,
            results: p.steps.iter().map(StepRecord::to_probe_result).collect(),
        }
    }
}

pub(crate) fn human(d: Duration) -> String {
    if d < Duration::from_secs(1) {
        format!("{} ms", d.as_millis())
    } else {
        format!("{:.1} s", d.as_secs_f64())
    }
}

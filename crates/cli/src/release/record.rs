//! The release record: what each phase did, with evidence, as the state
//! file `--resume` reads and as the release log (Markdown, JSON, JUnit).

use std::fmt::Write as _;
use std::time::Duration;

use preflight_verify::{ProbeResult, Report};
use serde::{Deserialize, Serialize};

/// The B3 phases, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Phase {
    Preflight,
    Freeze,
    HardGate,
    SoftGate,
    Backup,
    Migrate,
    Verify,
    Deploy,
    Smoke,
    Watch,
}

impl Phase {
    pub const ALL: [Phase; 10] = [
        Phase::Preflight,
        Phase::Freeze,
        Phase::HardGate,
        Phase::SoftGate,
        Phase::Backup,
        Phase::Migrate,
        Phase::Verify,
        Phase::Deploy,
        Phase::Smoke,
        Phase::Watch,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Preflight => "preflight",
            Phase::Freeze => "freeze",
            Phase::HardGate => "hard-gate",
            Phase::SoftGate => "soft-gate",
            Phase::Backup => "backup",
            Phase::Migrate => "migrate",
            Phase::Verify => "verify",
            Phase::Deploy => "deploy",
            Phase::Smoke => "smoke",
            Phase::Watch => "watch",
        }
    }

    pub fn parse(text: &str) -> Option<Phase> {
        Phase::ALL.into_iter().find(|p| p.as_str() == text)
    }

    /// What an operator does after this phase failed.
    pub fn next_step(self) -> &'static str {
        match self {
            Phase::Preflight => {
                "fix the configuration, manifest or checklist named above and run the release again"
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
}

/// How a phase ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PhaseStatus {
    Passed,
    /// Passed with soft failures.
    Warned,
    Failed,
    /// Nothing to do in this environment (e.g. no deploy steps for `local`).
    Skipped,
    /// Not run: `--dry-run`, `--only`, or an earlier phase failed.
    NotRun,
}

impl PhaseStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            PhaseStatus::Passed => "passed",
            PhaseStatus::Warned => "passed with warnings",
            PhaseStatus::Failed => "FAILED",
            PhaseStatus::Skipped => "skipped",
            PhaseStatus::NotRun => "not run",
        }
    }
    /// Done phases are not repeated by `--resume`.
    pub fn done(self) -> bool {
        matches!(
            self,
            PhaseStatus::Passed | PhaseStatus::Warned | PhaseStatus::Skipped
        )
    }
}

/// One phase's outcome and its steps (gates, probes, migrations, commands).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PhaseRecord {
    pub phase: Phase,
    pub status: PhaseStatus,
    pub started_at: Option<jiff::Timestamp>,
    #[serde(with = "millis")]
    pub duration: Duration,
    pub summary: String,
    /// Each step as a probe-shaped result (the same model verify reports use).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub steps: Vec<StepRecord>,
}

/// A step's record; the serialisable twin of [`ProbeResult`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepRecord {
    pub name: String,
    pub kind: String,
    pub target: String,
    pub severity: String,
    pub outcome: String,
    pub passed: bool,
    pub attempts: u32,
    #[serde(with = "millis")]
    pub duration: Duration,
    pub summary: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub evidence: Vec<String>,
}

impl From<&ProbeResult> for StepRecord {
    fn from(r: &ProbeResult) -> StepRecord {
        StepRecord {
            name: r.name.clone(),
            kind: r.kind.clone(),
            target: r.target.clone(),
            severity: match r.severity {
                preflight_verify::Severity::Hard => "hard".into(),
                preflight_verify::Severity::Soft => "soft".into(),
            },
            outcome: r.outcome.as_str().to_string(),
            passed: r.outcome.passed(),
            attempts: r.attempts,
            duration: r.duration,
            summary: r.summary.clone(),
            evidence: r.evidence.clone(),
        }
    }
}

impl StepRecord {
    fn to_probe_result(&self) -> ProbeResult {
        ProbeResult {
            name: self.name.clone(),
            kind: self.kind.clone(),
            target: self.target.clone(),
            severity: if self.severity == "soft" {
                preflight_verify::Severity::Soft
            } else {
                preflight_verify::Severity::Hard
            },
            outcome: if self.passed {
                preflight_verify::Outcome::Passed
            } else if self.outcome == "error" {
                preflight_verify::Outcome::Errored
            } else if self.outcome == "timed out" {
                preflight_verify::Outcome::TimedOut
            } else {
                preflight_verify::Outcome::Failed
            },
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
    Running,
    Succeeded,
    Failed,
    DryRun,
}

/// The whole record of a release run; also the `--resume` state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReleaseLog {
    pub release_id: String,
    pub env: String,
    pub platform: String,
    pub operator: String,
    pub manifest: String,
    /// SHA-256 of the manifest file; `--resume` refuses a changed manifest.
    pub manifest_sha256: String,
    pub started_at: jiff::Timestamp,
    pub finished_at: Option<jiff::Timestamp>,
    pub status: ReleaseStatus,
    pub phases: Vec<PhaseRecord>,
    /// The manifest's changes against the previous release for this env.
    pub diff: Option<String>,
    /// The failed phase and what to do next.
    pub failed_phase: Option<Phase>,
    pub next_step: Option<String>,
    /// Where the filled checklist was archived.
    pub checklist_archive: Option<String>,
    /// Where the log was uploaded.
    pub uploaded_to: Vec<String>,
    /// The webhook notification's outcome, if one is configured.
    pub notified: Option<String>,
    /// How many times `--resume` continued this release.
    #[serde(default)]
    pub resumed: u32,
}

impl ReleaseLog {
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
        if self.resumed > 0 {
            let _ = writeln!(out, "| Resumed | {} time(s) |", self.resumed);
        }
        if let Some(a) = &self.checklist_archive {
            let _ = writeln!(out, "| Checklist | `{a}` |");
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
                p.summary.replace('|', "\\|")
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
        out
    }

    /// JUnit XML: one test suite per phase that ran steps.
    pub fn to_junit(&self) -> String {
        let reports: Vec<(String, Report)> = self
            .phases
            .iter()
            .filter(|p| !p.steps.is_empty())
            .map(|p| {
                (
                    format!("release {} {}", self.env, p.phase.as_str()),
                    self.phase_report(p),
                )
            })
            .collect();
        let suites: Vec<(&str, &Report)> = reports.iter().map(|(n, r)| (n.as_str(), r)).collect();
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
